/*
 * lpgen: a long-poll load generator for tandem and for nchan, in C, so
 * that 10,000 waiting HTTPS long polls fit on the 2-core bench machine
 * beside the server they measure (bench/README.md, "lpgen").
 *
 *   lpgen setup --base URL --users U --devices D --tokens FILE
 *       registers U users and logs in D devices each; writes one line
 *       "USER DEVICE ACCESS_TOKEN" per device to FILE.
 *   lpgen run --target tandem|nchan --base URL [--tokens FILE]
 *       --users U --devices D [--write push|event] [--pushes 100]
 *       [--rounds 5] [--idle-s 5] [--rate 1000] [--settle-s 60]
 *       [--server PID[:COMM]] [--front PID[:COMM]] [--out FILE]
 *       holds U x D polls (one TLS connection each, HTTP/1.1 keep-alive,
 *       one poll in flight per connection), then measures resident memory
 *       and idle CPU of the server's processes while they wait, send ->
 *       wake latency of targeted writes, fan-out rounds (every user
 *       writes at once) and delivery (lost, doubled, out of order).
 *       Results go to stdout and, as KEY=VALUE lines, to --out.
 *
 * One thread, one epoll loop (edge-triggered), non-blocking sockets and
 * OpenSSL.  The measuring code is written as sequential phases, each of
 * which turns the loop until its condition holds or its deadline passes,
 * so that nothing can hang: a phase that does not complete says how far
 * it got.  New connections are opened through a pacer (a rate and a
 * bound on handshakes in flight) so the server's accept queue is never
 * flooded; a poll that fails (refused, reset, a 5xx) is counted by kind
 * and tried again a second later through the same pacer.
 *
 * tandem: device d of user u polls GET /api/v1/events?after=CURSOR&
 * timeout=55&limit=1000&exclude_self=0; the writes that wake a user are
 * made by its device 0 on a connection of their own, a POST
 * /api/v1/sync/push of one new record (--write push; the record.changed
 * event's data.version is the push result's version) or a POST
 * /api/v1/events app event (--write event; the event's seq).  nchan
 * (bench/nchan-nginx.conf.in): one channel per user, GET /sub/CH with the
 * previous answer's Last-Modified and Etag, POST /pub/CH of {"seq":N}.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"

#define MAX_EVENTS	1024
#define RESP_MAX	(4u * 1024 * 1024)
#define RETRY_US	1000000		/* a failed poll tries again after */
#define CTRL_TIMEOUT_US	3000000		/* /metrics or /nchan_status */
#define PASSWORD	"lpgen-bench-password"
#define MAX_PIDS	256

enum target { T_TANDEM, T_NCHAN };
enum wmode { W_PUSH, W_EVENT };
enum role { R_POLL, R_WRITER, R_CTRL, R_SETUP };
enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN };

/* What went wrong with a poll, counted by kind. */
enum err { E_CONNECT, E_TLS, E_CLOSED, E_PARSE, E_HTTP, E__MAX };
static const char *const err_names[E__MAX] = {
	"connect", "tls", "closed", "parse", "http"
};

struct conn {
	int		 fd;
	SSL		*ssl;
	enum cstate	 state;
	enum role	 role;
	int		 idx;		/* device, user or setup slot */
	int		 busy;		/* a request is out, no answer yet */
	int		 hs_counted;	/* counted in handshakes in flight */
	struct buf	 out;		/* request bytes not yet written */
	size_t		 out_off;
	struct buf	 in;		/* response bytes so far */
	struct buf	 body;		/* the decoded body of the answer */
	int64_t		 t_sent;	/* µs, the request was written */
	int		 status;
	int		 close_after;	/* Connection: close */
	char		 etag[128];
	char		 lastmod[64];
	int64_t		 not_before;	/* in a queue: not before this */
	struct conn	*qnext;
	int		 queued;
};

/* A queue of connections waiting for a time (constant delays, so FIFO
 * order is time order). */
struct queue {
	struct conn	*head, *tail;
	int		 len;
};

struct rx {
	int64_t		 seq;
	int64_t		 key;		/* version (push) or seq */
	int64_t		 t;
};

struct write {
	int64_t		 key;
	int64_t		 t_send, t_resp, t_last;
	int		 phase;		/* 0 targeted, r > 0 fan-out round r */
	int		 acked;
	int		 failed;
	int		 got;		/* devices that received it */
};

struct device {
	int		 user;
	char		*token;
	int64_t		 cursor;	/* tandem: after=; nchan: unused */
	int64_t		 last_seq;
	int64_t		 start_seq;	/* the cursor the device began at */
	int		 gated;		/* answered in a gated round */
	int		 retry;		/* an error: the next poll is late */
	struct rx	*rx;
	size_t		 nrx, caprx;
	struct conn	 conn;
};

struct user {
	char		*token;		/* device 0's, for the writer */
	int64_t		 nseq;		/* nchan: the last seq published */
	struct write	*w;
	size_t		 nw, capw;
	struct write	*pending;	/* the write in flight */
	struct conn	 conn;
};

struct dstats {
	double		*v;
	size_t		 n, cap;
};

struct procset {
	pid_t		 root;
	char		 comm[32];
	pid_t		 pids[MAX_PIDS];
	int		 n;
};

struct opts {
	enum target	 target;
	enum wmode	 wmode;
	const char	*base;
	const char	*tokens;
	const char	*out;
	const char	*chan;
	const char	*tag;
	const char	*label;
	int		 users, devices, pushes, rounds, conns, inflight;
	double		 idle_s, settle_s, rate, wake_s, round_s;
	int		 gate;
	struct procset	 server, front;
};

struct lp {
	struct opts	 o;
	int		 epfd;
	SSL_CTX		*ctx;
	struct sockaddr_in addr;
	char		 host[128];
	struct device	*dev;
	struct user	*usr;
	int		 ndev;
	struct conn	 ctrl;
	struct queue	 connect_q;	/* paced (re)connects */
	struct queue	 delay_q;	/* polls to send again later */
	int		 hs_inflight;
	double		 pace_tokens;
	int64_t		 pace_t;
	int		 gate;		/* fan-out round: no re-poll */
	int		 phase;
	int64_t		 wseq;		/* record ids for pushes */
	/* counters */
	long		 errs[E__MAX];
	long		 http_errs[600];
	long		 write_errs;
	long		 polls_answered;
	long		 reconnects;
	struct dstats	 lat;		/* targeted send -> wake, ms */
	struct dstats	 wlat;		/* write answer, ms */
	int		 ctrl_done;
	/* setup */
	int		 setup_phase;
	int		 setup_next;
	int		 setup_done;
	int		 setup_failed;
};

static volatile sig_atomic_t interrupted;

/* ---- small helpers ------------------------------------------------ */

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_int_opt(const char *name, const char *s, int min, int max, int *out)
{
	long	 v;

	if (parse_long(s, min, max, &v) == -1) {
		fprintf(stderr, "lpgen: --%s: %s is not in %d..%d\n", name, s,
		    min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int
parse_double_opt(const char *name, const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "lpgen: --%s: %s is not a number\n", name, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int
dstats_add(struct dstats *d, double x)
{
	double	*p;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		if ((p = realloc(d->v, d->cap * sizeof(*p))) == NULL)
			return -1;
		d->v = p;
	}
	d->v[d->n++] = x;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank, as bench/longpoll.py); NAN when empty. */
static double
pct(double *v, size_t n, double q)
{
	size_t	 i;

	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)lround(q * (double)(n - 1));
	return v[i < n ? i : n - 1];
}

/* ---- /proc: the server's processes -------------------------------- */

/* "PID" or "PID:COMM" into ps.  Returns 0 or -1. */
static int
procset_parse(struct procset *ps, const char *arg, const char *def_comm)
{
	char	 num[32];
	const char *colon = strchr(arg, ':');
	size_t	 n = colon ? (size_t)(colon - arg) : strlen(arg);
	long	 v;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, arg, n);
	num[n] = '\0';
	if (parse_long(num, 1, INT32_MAX, &v) == -1)
		return -1;
	ps->root = (pid_t)v;
	snprintf(ps->comm, sizeof(ps->comm), "%s", colon ? colon + 1 : def_comm);
	return 0;
}

/* Reads /proc/PID/stat: comm, ppid, utime + stime (ticks).  0 or -1. */
static int
proc_stat(pid_t pid, char *comm, size_t commsz, pid_t *ppid, long *ticks)
{
	char	 path[64], line[1024], *lp, *rp, *f[16];
	FILE	*fp;
	size_t	 n = 0;
	char	*save = NULL, *tok;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if ((lp = strchr(line, '(')) == NULL || (rp = strrchr(line, ')')) == NULL)
		return -1;
	if (comm != NULL) {
		size_t len = (size_t)(rp - lp - 1);

		if (len >= commsz)
			len = commsz - 1;
		memcpy(comm, lp + 1, len);
		comm[len] = '\0';
	}
	for (tok = strtok_r(rp + 2, " ", &save); tok != NULL && n < 16;
	    tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	if (n < 13)
		return -1;
	if (ppid != NULL)
		*ppid = (pid_t)strtol(f[1], NULL, 10);
	if (ticks != NULL)
		*ticks = strtol(f[11], NULL, 10) + strtol(f[12], NULL, 10);
	return 0;
}

/* Finds the processes named ps->comm at or under ps->root. */
static void
procset_scan(struct procset *ps)
{
	DIR	*d;
	struct dirent *e;
	pid_t	 all[8192], par[8192];
	char	 comms[8192][16];
	int	 n = 0, i, j, changed;
	int	 in[8192];

	ps->n = 0;
	if (ps->root <= 0 || (d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < 8192) {
		long	 v;

		if (parse_long(e->d_name, 1, INT32_MAX, &v) == -1)
			continue;
		if (proc_stat((pid_t)v, comms[n], sizeof(comms[n]), &par[n],
		    NULL) == -1)
			continue;
		all[n] = (pid_t)v;
		in[n] = all[n] == ps->root;
		n++;
	}
	closedir(d);
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (j = 0; j < n; j++)
				if (in[j] && par[i] == all[j]) {
					in[i] = changed = 1;
					break;
				}
		}
	} while (changed);
	for (i = 0; i < n && ps->n < MAX_PIDS; i++)
		if (in[i] && strcmp(comms[i], ps->comm) == 0)
			ps->pids[ps->n++] = all[i];
}

/* A "Name: value kB" line of /proc/PID/status, or 0. */
static long
proc_status_field(pid_t pid, const char *name)
{
	char	 path[64], line[256];
	FILE	*fp;
	size_t	 len = strlen(name);
	long	 v = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(fp);
	return v;
}

static long
procset_sum(struct procset *ps, const char *field)
{
	long	 sum = 0;
	int	 i;

	procset_scan(ps);
	for (i = 0; i < ps->n; i++)
		sum += proc_status_field(ps->pids[i], field);
	return sum;
}

/* "fds,fds,..." of each process (/proc/PID/fd), into b. */
static void
procset_fds(struct procset *ps, struct buf *b)
{
	char	 path[64];
	DIR	*d;
	struct dirent *e;
	int	 i;
	long	 n;

	for (i = 0; i < ps->n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)ps->pids[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		for (n = 0; (e = readdir(d)) != NULL; )
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		buf_addf(b, "%s%ld", b->len ? "," : "", n);
	}
}

static long
procset_ticks(struct procset *ps)
{
	long	 sum = 0, t;
	int	 i;

	for (i = 0; i < ps->n; i++)
		if (proc_stat(ps->pids[i], NULL, 0, NULL, &t) == 0)
			sum += t;
	return sum;
}

/*
 * Thread stacks of the processes: the anonymous rw-p mapping size that
 * occurs most often (each thread's stack is one), how many there are and
 * their average resident KiB (/proc/PID/smaps).
 */
static void
procset_stacks(struct procset *ps, long *count, double *avg_kib)
{
	long	 sizes[64], cnt[64], rss[64];
	int	 ns = 0, i, k, best = -1;
	char	 path[64], line[512];

	*count = 0;
	*avg_kib = 0;
	for (i = 0; i < ps->n; i++) {
		FILE	*fp;
		int	 cur = -1;

		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)ps->pids[i]);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL) {
			unsigned long a, b;
			char	 perms[8];
			int	 fields;
			char	 tail[256];

			if (strncmp(line, "Rss:", 4) == 0) {
				if (cur >= 0)
					rss[cur] += strtol(line + 4, NULL, 10);
				continue;
			}
			tail[0] = '\0';
			fields = sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s",
			    &a, &b, perms, tail);
			if (fields < 3)
				continue;	/* not a mapping's first line */
			cur = -1;
			if (fields == 4 || strcmp(perms, "rw-p") != 0)
				continue;	/* a file, or not a stack */
			for (k = 0; k < ns; k++)
				if (sizes[k] == (long)(b - a))
					break;
			if (k == ns) {
				if (ns == 64)
					continue;
				sizes[ns] = (long)(b - a);
				cnt[ns] = rss[ns] = 0;
				ns++;
			}
			cnt[k]++;
			cur = k;
		}
		fclose(fp);
	}
	for (k = 0; k < ns; k++)
		if (best < 0 || cnt[k] > cnt[best])
			best = k;
	if (best >= 0 && cnt[best] >= 16) {
		*count = cnt[best];
		*avg_kib = (double)rss[best] / (double)cnt[best];
	}
}

/* ---- queues ------------------------------------------------------- */

static void
queue_push(struct queue *q, struct conn *c, int64_t not_before)
{
	if (c->queued)
		return;
	c->queued = 1;
	c->not_before = not_before;
	c->qnext = NULL;
	if (q->tail != NULL)
		q->tail->qnext = c;
	else
		q->head = c;
	q->tail = c;
	q->len++;
}

static struct conn *
queue_pop_due(struct queue *q, int64_t now)
{
	struct conn *c = q->head;

	if (c == NULL || c->not_before > now)
		return NULL;
	q->head = c->qnext;
	if (q->head == NULL)
		q->tail = NULL;
	c->qnext = NULL;
	c->queued = 0;
	q->len--;
	return c;
}

/* ---- connections -------------------------------------------------- */

static void conn_event(struct lp *, struct conn *, uint32_t);
static void on_ready(struct lp *, struct conn *);
static void on_response(struct lp *, struct conn *);
static void on_failure(struct lp *, struct conn *, enum err);

static void
conn_init(struct conn *c, enum role role, int idx)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->role = role;
	c->idx = idx;
	buf_init(&c->out, 64 * 1024);
	buf_init(&c->in, RESP_MAX);
	buf_init(&c->body, RESP_MAX);
}

static void
conn_close(struct lp *lp, struct conn *c)
{
	if (c->hs_counted) {
		lp->hs_inflight--;
		c->hs_counted = 0;
	}
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->state = C_IDLE;
	c->busy = 0;
	c->out_off = 0;
	buf_reset(&c->out);
	buf_reset(&c->in);
}

/* Starts a non-blocking connect.  Returns 0 or -1 (counted). */
static int
conn_open(struct lp *lp, struct conn *c)
{
	struct epoll_event ev;
	int	 one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&lp->addr, sizeof(lp->addr))
	    == -1 && errno != EINPROGRESS)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		goto fail;
	c->state = C_CONNECTING;
	c->hs_counted = 1;
	lp->hs_inflight++;
	return 0;
fail:
	on_failure(lp, c, E_CONNECT);
	return -1;
}

/* Writes what is pending.  Returns 0, or -1 after closing the conn. */
static int
conn_flush(struct lp *lp, struct conn *c)
{
	int	 n, e;

	while (c->out_off < c->out.len) {
		ERR_clear_error();
		n = SSL_write(c->ssl, c->out.data + c->out_off,
		    (int)(c->out.len - c->out_off));
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return 0;
		on_failure(lp, c, E_CLOSED);
		return -1;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

/* Queues a request and sends it when the connection is open (opening
 * one at once when there is none: writers and control). */
static void
conn_request(struct lp *lp, struct conn *c, const char *method,
    const char *path, const char *token, const char *extra, const char *body)
{
	size_t	 blen = body ? strlen(body) : 0;

	buf_reset(&c->out);
	c->out_off = 0;
	buf_addf(&c->out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path,
	    lp->host);
	if (token != NULL)
		buf_addf(&c->out, "Authorization: Bearer %s\r\n", token);
	if (extra != NULL)
		buf_adds(&c->out, extra);
	if (body != NULL)
		buf_addf(&c->out, "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n%s", blen, body);
	else
		buf_adds(&c->out, "\r\n");
	buf_reset(&c->in);
	c->busy = 1;
	c->t_sent = now_us();
	if (c->state == C_OPEN)
		conn_flush(lp, c);
	else if (c->state == C_IDLE && !c->queued)
		conn_open(lp, c);
}

static int
hdr_is(const char *line, size_t len, const char *name, const char **val)
{
	size_t	 n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return 0;
	*val = line + n + 1;
	while (**val == ' ' || **val == '\t')
		(*val)++;
	return 1;
}

static void
hdr_copy(char *dst, size_t dstsz, const char *v, const char *end)
{
	size_t	 n = (size_t)(end - v);

	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/*
 * Parses the response in c->in.  Returns 1 when it is complete (status,
 * headers and c->body set), 0 when more is needed, -1 when it is not
 * HTTP/1.1 as nginx speaks it.
 */
static int
http_parse(struct conn *c)
{
	const char *p = c->in.data, *end, *line, *eol, *v, *hend;
	long	 clen = -1;
	int	 chunked = 0;
	size_t	 hlen;

	if (c->in.len < 12)
		return 0;
	if ((hend = strstr(p, "\r\n\r\n")) == NULL)
		return c->in.len > 65536 ? -1 : 0;
	hlen = (size_t)(hend - p) + 4;
	if (strncmp(p, "HTTP/1.", 7) != 0)
		return -1;
	c->status = (int)strtol(p + 9, NULL, 10);
	c->close_after = 0;
	c->etag[0] = c->lastmod[0] = '\0';
	for (line = strstr(p, "\r\n") + 2; line < hend; line = eol + 2) {
		eol = strstr(line, "\r\n");
		if (hdr_is(line, (size_t)(eol - line), "Content-Length", &v))
			clen = strtol(v, NULL, 10);
		else if (hdr_is(line, (size_t)(eol - line), "Transfer-Encoding",
		    &v) && strncasecmp(v, "chunked", 7) == 0)
			chunked = 1;
		else if (hdr_is(line, (size_t)(eol - line), "Connection", &v) &&
		    strncasecmp(v, "close", 5) == 0)
			c->close_after = 1;
		else if (hdr_is(line, (size_t)(eol - line), "Etag", &v))
			hdr_copy(c->etag, sizeof(c->etag), v, eol);
		else if (hdr_is(line, (size_t)(eol - line), "Last-Modified", &v))
			hdr_copy(c->lastmod, sizeof(c->lastmod), v, eol);
	}
	buf_reset(&c->body);
	end = c->in.data + c->in.len;
	if (chunked) {
		const char *q = p + hlen;

		for (;;) {
			char	*e;
			long	 size;

			if ((eol = strstr(q, "\r\n")) == NULL)
				return 0;
			size = strtol(q, &e, 16);
			if (e == q || size < 0)
				return -1;
			q = eol + 2;
			if (size == 0) {
				if (end - q < 2)
					return 0;
				return strncmp(q, "\r\n", 2) == 0 ? 1 : -1;
			}
			if (end - q < size + 2)
				return 0;
			buf_add(&c->body, q, (size_t)size);
			q += size + 2;
		}
	}
	if (clen < 0)
		clen = 0;	/* nginx always sends a length or chunks */
	if (c->in.len < hlen + (size_t)clen)
		return 0;
	if (buf_add(&c->body, p + hlen, (size_t)clen) == -1)
		return -1;
	return 1;
}

/* An idle connection the server closed: polls and setup slots open a
 * new one through the pacer; writers and control open one when they next
 * send. */
static void
conn_reopen(struct lp *lp, struct conn *c)
{
	if (c->role == R_POLL || c->role == R_SETUP)
		queue_push(&lp->connect_q, c, 0);
}

static void
conn_read(struct lp *lp, struct conn *c)
{
	char	 tmp[16384];
	int	 n, e, r;

	for (;;) {
		ERR_clear_error();
		n = SSL_read(c->ssl, tmp, sizeof(tmp));
		if (n > 0) {
			if (!c->busy) {
				/* nothing asked: not HTTP as we speak it */
				on_failure(lp, c, E_PARSE);
				return;
			}
			if (buf_add(&c->in, tmp, (size_t)n) == -1) {
				on_failure(lp, c, E_PARSE);
				return;
			}
			r = http_parse(c);
			if (r < 0) {
				on_failure(lp, c, E_PARSE);
				return;
			}
			if (r == 1) {
				c->busy = 0;
				buf_reset(&c->in);
				if (c->close_after) {
					/* the next request opens a new one */
					conn_close(lp, c);
					lp->reconnects++;
					on_response(lp, c);
					if (c->state == C_IDLE && !c->busy)
						conn_reopen(lp, c);
					return;
				}
				on_response(lp, c);
				if (c->state != C_OPEN)
					return;
			}
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return;
		/* closed by the server */
		if (c->busy)
			on_failure(lp, c, E_CLOSED);
		else {
			conn_close(lp, c);
			lp->reconnects++;
			conn_reopen(lp, c);
		}
		return;
	}
}

static void
conn_event(struct lp *lp, struct conn *c, uint32_t events)
{
	int	 r, e, err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0) {
			on_failure(lp, c, E_CONNECT);
			return;
		}
		if ((c->ssl = SSL_new(lp->ctx)) == NULL ||
		    SSL_set_fd(c->ssl, c->fd) != 1) {
			on_failure(lp, c, E_TLS);
			return;
		}
		SSL_set_connect_state(c->ssl);
		c->state = C_HANDSHAKE;
	}
	if (c->state == C_HANDSHAKE) {
		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			on_failure(lp, c, E_TLS);
			return;
		}
		c->state = C_OPEN;
		lp->hs_inflight--;
		c->hs_counted = 0;
		on_ready(lp, c);
		if (c->state != C_OPEN)
			return;
	}
	if (c->state != C_OPEN)
		return;
	if (c->out_off < c->out.len && conn_flush(lp, c) == -1)
		return;
	conn_read(lp, c);
}

/* ---- the loop ----------------------------------------------------- */

static void poll_send(struct lp *, struct device *);

/* Opens paced connections and re-sends delayed polls that are due. */
static void
timers_run(struct lp *lp)
{
	int64_t	 t = now_us();
	struct conn *c;

	lp->pace_tokens += (double)(t - lp->pace_t) * lp->o.rate / 1e6;
	if (lp->pace_tokens > lp->o.rate / 20 + 1)
		lp->pace_tokens = lp->o.rate / 20 + 1;
	lp->pace_t = t;
	while (lp->pace_tokens >= 1 && lp->hs_inflight < lp->o.inflight &&
	    (c = queue_pop_due(&lp->connect_q, t)) != NULL) {
		lp->pace_tokens -= 1;
		if (c->state != C_IDLE)
			continue;
		conn_open(lp, c);
	}
	while ((c = queue_pop_due(&lp->delay_q, t)) != NULL) {
		struct device *d = &lp->dev[c->idx];

		d->retry = 0;
		if (c->state == C_OPEN && !c->busy)
			poll_send(lp, d);
		else if (c->state == C_IDLE)
			queue_push(&lp->connect_q, c, 0);
	}
}

static void
loop_once(struct lp *lp, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int	 n, i;

	if ((lp->connect_q.len > 0 || lp->delay_q.len > 0) && timeout_ms > 2)
		timeout_ms = 2;
	n = epoll_wait(lp->epfd, evs, MAX_EVENTS, timeout_ms);
	for (i = 0; i < n; i++)
		conn_event(lp, evs[i].data.ptr, evs[i].events);
	timers_run(lp);
}

/* Turns the loop until done(lp, arg) or the deadline (µs).  Returns 1
 * when done, 0 at the deadline or on SIGINT. */
static int
loop_until(struct lp *lp, int (*done)(struct lp *, void *), void *arg,
    int64_t deadline)
{
	for (;;) {
		if (done != NULL && done(lp, arg))
			return 1;
		if (interrupted || now_us() >= deadline)
			return 0;
		loop_once(lp, 5);
	}
}

static void
loop_for(struct lp *lp, double seconds)
{
	loop_until(lp, NULL, NULL, now_us() + (int64_t)(seconds * 1e6));
}

/* ---- polls -------------------------------------------------------- */

static void
poll_send(struct lp *lp, struct device *d)
{
	char	 path[256], extra[256];

	if (lp->o.target == T_TANDEM) {
		snprintf(path, sizeof(path), "/api/v1/events?after=%" PRId64
		    "&timeout=55&limit=1000&exclude_self=0", d->cursor);
		conn_request(lp, &d->conn, "GET", path, d->token, NULL, NULL);
		return;
	}
	snprintf(path, sizeof(path), "/sub/%su%d", lp->o.chan, d->user);
	extra[0] = '\0';
	if (d->conn.lastmod[0] != '\0')
		snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n"
		    "If-None-Match: %s\r\n", d->conn.lastmod, d->conn.etag);
	conn_request(lp, &d->conn, "GET", path, NULL,
	    extra[0] ? extra : NULL, NULL);
}

/* A device has (seq, key): order, doubles, and the write it answers. */
static void
poll_received(struct lp *lp, struct device *d, int64_t seq, int64_t key,
    int64_t t)
{
	struct user *u = &lp->usr[d->user];
	struct rx *p;
	size_t	 i;
	int	 dup = 0;

	for (i = 0; i < d->nrx && seq <= d->last_seq; i++)
		if (d->rx[i].seq == seq)
			dup = 1;
	if (d->nrx == d->caprx) {
		d->caprx = d->caprx ? d->caprx * 2 : 8;
		if ((p = realloc(d->rx, d->caprx * sizeof(*p))) == NULL)
			return;
		d->rx = p;
	}
	d->rx[d->nrx].seq = seq;
	d->rx[d->nrx].key = key;
	d->rx[d->nrx].t = t;
	d->nrx++;
	if (seq > d->last_seq)
		d->last_seq = seq;
	if (dup)
		return;
	for (i = 0; i < u->nw; i++) {
		struct write *w = &u->w[i];

		if (!w->acked || w->key != key || key < 0)
			continue;
		w->got++;
		if (t > w->t_last)
			w->t_last = t;
		if (w->phase == 0)
			dstats_add(&lp->lat, (double)(t - w->t_send) / 1000.0);
	}
}

static void
poll_answer_tandem(struct lp *lp, struct device *d, struct conn *c, int64_t t)
{
	json_t	*doc, *events, *e, *data;
	json_error_t jerr;
	size_t	 i;
	json_int_t cursor;

	if ((doc = json_loadb(c->body.data, c->body.len, 0, &jerr)) == NULL ||
	    (events = json_object_get(doc, "events")) == NULL ||
	    json_unpack(doc, "{s:I}", "cursor", &cursor) != 0) {
		json_decref(doc);
		lp->errs[E_PARSE]++;
		return;
	}
	json_array_foreach(events, i, e) {
		json_int_t seq = json_integer_value(json_object_get(e, "seq"));
		const char *type = json_string_value(json_object_get(e, "type"));
		int64_t	 key = -1;

		data = json_object_get(e, "data");
		if (type != NULL && lp->o.wmode == W_PUSH &&
		    strcmp(type, "record.changed") == 0)
			key = json_integer_value(json_object_get(data, "version"));
		else if (type != NULL && lp->o.wmode == W_EVENT &&
		    strcmp(type, "app.lp") == 0)
			key = seq;
		poll_received(lp, d, seq, key, t);
	}
	if (cursor > d->cursor)
		d->cursor = cursor;
	json_decref(doc);
}

static void
poll_answer_nchan(struct lp *lp, struct device *d, struct conn *c, int64_t t)
{
	json_t	*doc;
	json_error_t jerr;
	json_int_t seq;

	if ((doc = json_loadb(c->body.data, c->body.len, 0, &jerr)) == NULL ||
	    json_unpack(doc, "{s:I}", "seq", &seq) != 0) {
		json_decref(doc);
		lp->errs[E_PARSE]++;
		return;
	}
	json_decref(doc);
	poll_received(lp, d, seq, seq, t);
}

static void
poll_response(struct lp *lp, struct conn *c)
{
	struct device *d = &lp->dev[c->idx];
	int64_t	 t = now_us();

	lp->polls_answered++;
	if (c->status == 200) {
		if (lp->o.target == T_TANDEM)
			poll_answer_tandem(lp, d, c, t);
		else
			poll_answer_nchan(lp, d, c, t);
	} else if (!(lp->o.target == T_NCHAN &&
	    (c->status == 304 || c->status == 408))) {
		lp->errs[E_HTTP]++;
		if (c->status >= 100 && c->status < 600)
			lp->http_errs[c->status]++;
		d->retry = 1;
		queue_push(&lp->delay_q, c, t + RETRY_US);
		return;
	}
	if (lp->gate) {
		d->gated = 1;
		return;
	}
	poll_send(lp, d);
}

/* ---- writes ------------------------------------------------------- */

/* Sends one write for user ui in phase ph.  Returns 0 or -1. */
static int
write_send(struct lp *lp, int ui, int ph)
{
	struct user *u = &lp->usr[ui];
	struct write *w;
	char	 path[128], body[512];

	if (u->pending != NULL)
		return -1;
	if (u->nw == u->capw) {
		u->capw = u->capw ? u->capw * 2 : 8;
		if ((w = realloc(u->w, u->capw * sizeof(*w))) == NULL)
			return -1;
		u->w = w;
	}
	w = &u->w[u->nw++];
	memset(w, 0, sizeof(*w));
	w->key = -1;
	w->phase = ph;
	u->pending = w;
	lp->wseq++;
	if (lp->o.target == T_NCHAN) {
		w->key = ++u->nseq;
		snprintf(path, sizeof(path), "/pub/%su%d", lp->o.chan, ui);
		snprintf(body, sizeof(body), "{\"seq\":%" PRId64 "}", w->key);
		conn_request(lp, &u->conn, "POST", path, NULL, NULL, body);
	} else if (lp->o.wmode == W_PUSH) {
		snprintf(body, sizeof(body), "{\"changes\":[{\"collection\":"
		    "\"lp\",\"id\":\"w%" PRId64 "\",\"base_version\":0,"
		    "\"data\":{\"n\":%" PRId64 ",\"phase\":%d}}]}", lp->wseq,
		    lp->wseq, ph);
		conn_request(lp, &u->conn, "POST", "/api/v1/sync/push",
		    u->token, NULL, body);
	} else {
		snprintf(body, sizeof(body), "{\"type\":\"app.lp\",\"data\":"
		    "{\"n\":%" PRId64 ",\"phase\":%d}}", lp->wseq, ph);
		conn_request(lp, &u->conn, "POST", "/api/v1/events", u->token,
		    NULL, body);
	}
	w->t_send = u->conn.t_sent;
	return 0;
}

/* The key a write's answer names: the version of a push's one result,
 * the seq of an app event; -1 when the answer is not a success. */
static int64_t
write_key(struct lp *lp, struct conn *c)
{
	json_t	*doc;
	json_error_t jerr;
	json_int_t v = -1;
	const char *status = NULL;

	if ((doc = json_loadb(c->body.data, c->body.len, 0, &jerr)) == NULL)
		return -1;
	if (lp->o.wmode == W_PUSH) {
		if (json_unpack(doc, "{s:[{s:s, s:I}]}", "results", "status",
		    &status, "version", &v) != 0 || strcmp(status, "applied") != 0)
			v = -1;
	} else if (json_unpack(doc, "{s:{s:I}}", "event", "seq", &v) != 0)
		v = -1;
	json_decref(doc);
	return v;
}

static void
write_response(struct lp *lp, struct conn *c)
{
	struct user *u = &lp->usr[c->idx];
	struct write *w = u->pending;
	int64_t	 t = now_us();
	int	 ok;
	size_t	 di, i;

	u->pending = NULL;
	if (w == NULL)
		return;
	w->t_resp = t;
	if (lp->o.target == T_NCHAN)
		ok = c->status == 201 || c->status == 202;
	else {
		ok = c->status == (lp->o.wmode == W_PUSH ? 200 : 201);
		if (ok && (w->key = write_key(lp, c)) < 0)
			ok = 0;
	}
	if (!ok) {
		w->failed = 1;
		if (lp->write_errs++ < 3)
			fprintf(stderr, "lpgen: write for user %d: %d %.200s\n",
			    c->idx, c->status, buf_str(&c->body));
		return;
	}
	if (w->phase == 0)	/* a write alone; a round's queue up */
		dstats_add(&lp->wlat, (double)(t - w->t_send) / 1000.0);
	w->acked = 1;
	/* polls answer on the commit, often before the write's own answer */
	for (di = (size_t)c->idx * (size_t)lp->o.devices;
	    di < (size_t)(c->idx + 1) * (size_t)lp->o.devices; di++) {
		struct device *d = &lp->dev[di];

		for (i = 0; i < d->nrx; i++)
			if (d->rx[i].key == w->key) {
				w->got++;
				if (d->rx[i].t > w->t_last)
					w->t_last = d->rx[i].t;
				if (w->phase == 0)
					dstats_add(&lp->lat, (double)(d->rx[i].t -
					    w->t_send) / 1000.0);
				break;
			}
	}
}

/* ---- callbacks ---------------------------------------------------- */

static void setup_next(struct lp *, struct conn *);
static void setup_response(struct lp *, struct conn *);

static void
on_ready(struct lp *lp, struct conn *c)
{
	if (c->busy) {			/* a request waited for the connection */
		conn_flush(lp, c);
		return;
	}
	if (c->role == R_POLL) {
		struct device *d = &lp->dev[c->idx];

		if (!d->gated && !d->retry)
			poll_send(lp, d);
	} else if (c->role == R_SETUP)
		setup_next(lp, c);
}

static void
on_response(struct lp *lp, struct conn *c)
{
	switch (c->role) {
	case R_POLL:
		poll_response(lp, c);
		break;
	case R_WRITER:
		write_response(lp, c);
		break;
	case R_CTRL:
		lp->ctrl_done = 1;
		break;
	case R_SETUP:
		setup_response(lp, c);
		break;
	}
}

static void
on_failure(struct lp *lp, struct conn *c, enum err kind)
{
	int	 was_busy = c->busy;

	conn_close(lp, c);
	switch (c->role) {
	case R_POLL:
		lp->errs[kind]++;
		lp->dev[c->idx].retry = 0;
		queue_push(&lp->connect_q, c, now_us() + RETRY_US);
		break;
	case R_WRITER:
		if (was_busy && lp->usr[c->idx].pending != NULL) {
			lp->usr[c->idx].pending->failed = 1;
			lp->usr[c->idx].pending = NULL;
			if (lp->write_errs++ < 3)
				fprintf(stderr, "lpgen: write for user %d: %s\n",
				    c->idx, err_names[kind]);
		}
		break;
	case R_CTRL:
		lp->ctrl_done = -1;
		break;
	case R_SETUP:
		lp->setup_failed++;
		fprintf(stderr, "lpgen: setup connection: %s\n",
		    err_names[kind]);
		queue_push(&lp->connect_q, c, now_us() + RETRY_US);
		break;
	}
}

/* ---- control: how many polls the server counts waiting ------------ */

static int
ctrl_is_done(struct lp *lp, void *arg)
{
	(void)arg;
	return lp->ctrl_done != 0;
}

/* tandem_longpoll_waiting (/metrics) or nchan's subscribers; -1 when the
 * server did not answer within CTRL_TIMEOUT_US. */
static long
server_waiting(struct lp *lp)
{
	const char *path = lp->o.target == T_TANDEM ? "/metrics" :
	    "/nchan_status";
	const char *name = lp->o.target == T_TANDEM ?
	    "tandem_longpoll_waiting " : "subscribers:";
	const char *p;

	lp->ctrl_done = 0;
	conn_request(lp, &lp->ctrl, "GET", path, NULL, NULL, NULL);
	if (!loop_until(lp, ctrl_is_done, NULL, now_us() + CTRL_TIMEOUT_US) ||
	    lp->ctrl_done < 0 || lp->ctrl.status != 200) {
		conn_close(lp, &lp->ctrl);
		return -1;
	}
	for (p = buf_str(&lp->ctrl.body); p != NULL && *p != '\0';
	    p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, strlen(name)) == 0)
			return (long)strtod(p + strlen(name), NULL);
	return -1;
}

static int
client_waiting(struct lp *lp)
{
	int	 i, n = 0;

	for (i = 0; i < lp->ndev; i++)
		if (lp->dev[i].conn.busy && lp->dev[i].conn.state == C_OPEN &&
		    lp->dev[i].conn.out_off == 0 && lp->dev[i].conn.out.len == 0)
			n++;
	return n;
}

/*
 * Waits until the server counts every poll waiting, or until the count
 * has not grown for stall_s (or timeout_s in all).  Returns the last
 * server count (-1: unknown).
 */
static long
settle(struct lp *lp, double timeout_s, double stall_s)
{
	int64_t	 end = now_us() + (int64_t)(timeout_s * 1e6), grew = now_us();
	long	 n = -1, best = -1;

	while (!interrupted && now_us() < end) {
		n = server_waiting(lp);
		if (n >= lp->ndev && lp->connect_q.len == 0)
			return n;
		if (n > best) {
			best = n;
			grew = now_us();
		} else if (now_us() - grew > (int64_t)(stall_s * 1e6) &&
		    lp->connect_q.len == 0)
			break;
		loop_for(lp, 0.2);
	}
	return n;
}

/* ---- setup: register and log in ----------------------------------- */

/* Jobs of the current setup phase: registrations (phase 0), then one
 * login per device (phase 1). */
static int
setup_total(struct lp *lp)
{
	return lp->setup_phase == 0 ? lp->o.users : lp->ndev;
}

static void
setup_send(struct lp *lp, struct conn *c, int job)
{
	char	 body[512];
	int	 u, d;

	c->idx = job;
	if (lp->setup_phase == 0) {
		snprintf(body, sizeof(body), "{\"email\":\"lp%d-%s@bench.test\","
		    "\"password\":\"%s\"}", job, lp->o.tag, PASSWORD);
		conn_request(lp, c, "POST", "/api/v1/auth/register", NULL, NULL,
		    body);
		return;
	}
	u = job / lp->o.devices;
	d = job % lp->o.devices;
	snprintf(body, sizeof(body), "{\"email\":\"lp%d-%s@bench.test\","
	    "\"password\":\"%s\",\"device\":{\"id\":\"dev%d\",\"platform\":"
	    "\"bench\",\"name\":\"dev%d\"}}", u, lp->o.tag, PASSWORD, d, d);
	conn_request(lp, c, "POST", "/api/v1/auth/login", NULL, NULL, body);
}

static void
setup_next(struct lp *lp, struct conn *c)
{
	if (lp->setup_next < setup_total(lp) && lp->setup_failed == 0)
		setup_send(lp, c, lp->setup_next++);
}

static void
setup_response(struct lp *lp, struct conn *c)
{
	json_t	*doc;
	json_error_t jerr;
	const char *tok = NULL;

	if (c->status == 429 || c->status == 503) {
		/* the auth limit of a stack not made for benchmarks */
		fprintf(stderr, "lpgen: setup: %d, again in a second\n",
		    c->status);
		sleep(1);
		setup_send(lp, c, c->idx);
		return;
	}
	if (lp->setup_phase == 0) {
		/* 201, or 409 when a previous run made the user */
		if (c->status != 201 && c->status != 409) {
			fprintf(stderr, "lpgen: register lp%d: %d %.200s\n",
			    c->idx, c->status, buf_str(&c->body));
			lp->setup_failed++;
		}
	} else {
		doc = json_loadb(c->body.data, c->body.len, 0, &jerr);
		if (c->status != 200 || doc == NULL || json_unpack(doc,
		    "{s:s}", "access_token", &tok) != 0) {
			fprintf(stderr, "lpgen: login of device %d: %d %.200s\n",
			    c->idx, c->status, buf_str(&c->body));
			lp->setup_failed++;
		} else {
			free(lp->dev[c->idx].token);
			lp->dev[c->idx].token = strdup(tok);
		}
		json_decref(doc);
	}
	lp->setup_done++;
	setup_next(lp, c);
}

static int
setup_is_done(struct lp *lp, void *arg)
{
	(void)arg;
	return lp->setup_done >= setup_total(lp) || lp->setup_failed > 0;
}

/*
 * Registers the users, then logs in their devices, lp->o.conns requests
 * at a time, and writes the tokens file.  Returns 0 or 1.
 */
static int
cmd_setup(struct lp *lp)
{
	struct conn *slots;
	FILE	*fp;
	int	 i, nslots = lp->o.conns, rc = 1;
	int64_t	 t0 = now_us();

	if ((slots = calloc((size_t)nslots, sizeof(*slots))) == NULL)
		return 1;
	for (i = 0; i < nslots; i++) {
		conn_init(&slots[i], R_SETUP, -1);
		queue_push(&lp->connect_q, &slots[i], 0);
	}
	for (lp->setup_phase = 0; lp->setup_phase < 2; lp->setup_phase++) {
		lp->setup_done = lp->setup_next = 0;
		if (lp->setup_phase > 0)
			for (i = 0; i < nslots; i++)
				if (slots[i].state == C_OPEN && !slots[i].busy)
					setup_next(lp, &slots[i]);
		if (!loop_until(lp, setup_is_done, NULL, INT64_MAX) ||
		    lp->setup_failed > 0)
			goto out;
		fprintf(stderr, "lpgen: %d %s in %.1f s\n", setup_total(lp),
		    lp->setup_phase == 0 ? "users registered" :
		    "devices logged in", (double)(now_us() - t0) / 1e6);
	}
	if ((fp = fopen(lp->o.tokens, "w")) == NULL) {
		perror(lp->o.tokens);
		goto out;
	}
	for (i = 0; i < lp->ndev; i++)
		fprintf(fp, "%d %d %s\n", lp->dev[i].user, i % lp->o.devices,
		    lp->dev[i].token);
	if (fclose(fp) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "lpgen: setup failed (%d errors)\n",
		    lp->setup_failed);
	for (i = 0; i < nslots; i++) {
		conn_close(lp, &slots[i]);
		buf_release(&slots[i].out);
		buf_release(&slots[i].in);
		buf_release(&slots[i].body);
	}
	free(slots);
	return rc;
}

/* ---- run: the measurement ----------------------------------------- */

struct round_wait {
	int		 phase;
	int		 ui;		/* one user, or -1: all */
};

static int
round_is_done(struct lp *lp, void *arg)
{
	struct round_wait *rw = arg;
	int	 u, lo = rw->ui < 0 ? 0 : rw->ui;
	int	 hi = rw->ui < 0 ? lp->o.users : rw->ui + 1;
	size_t	 i;

	for (u = lo; u < hi; u++) {
		struct user *us = &lp->usr[u];
		int	 found = 0;

		for (i = 0; i < us->nw; i++) {
			struct write *w = &us->w[i];

			if (w->phase != rw->phase)
				continue;
			found = 1;
			if (w->failed)
				continue;
			if (!w->acked || w->got < lp->o.devices)
				return 0;
		}
		if (!found)
			return 0;
	}
	return 1;
}

static int
writers_ready(struct lp *lp, void *arg)
{
	int	 u;

	(void)arg;
	for (u = 0; u < lp->o.users; u++)
		if (lp->usr[u].conn.state != C_OPEN || lp->usr[u].conn.busy)
			return 0;
	return 1;
}

/* Every writer connected and idle (nginx closes idle ones after 65 s). */
static int
writers_warm(struct lp *lp)
{
	int	 u;

	for (u = 0; u < lp->o.users; u++)
		if (lp->usr[u].conn.state == C_IDLE && !lp->usr[u].conn.queued)
			queue_push(&lp->connect_q, &lp->usr[u].conn, 0);
	return loop_until(lp, writers_ready, NULL, now_us() + 60000000);
}

static int
read_tokens(struct lp *lp)
{
	FILE	*fp;
	char	 line[4096];
	int	 have = 0;

	if ((fp = fopen(lp->o.tokens, "r")) == NULL) {
		perror(lp->o.tokens);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char	*save = NULL, *a, *b, *t;
		long	 u, d;

		a = strtok_r(line, " \n", &save);
		b = strtok_r(NULL, " \n", &save);
		t = strtok_r(NULL, " \n", &save);
		if (a == NULL || b == NULL || t == NULL ||
		    parse_long(a, 0, INT32_MAX, &u) == -1 ||
		    parse_long(b, 0, INT32_MAX, &d) == -1)
			continue;
		if (u >= lp->o.users || d >= lp->o.devices)
			continue;
		if (lp->dev[u * lp->o.devices + d].token == NULL)
			have++;
		free(lp->dev[u * lp->o.devices + d].token);
		lp->dev[u * lp->o.devices + d].token = strdup(t);
	}
	fclose(fp);
	if (have < lp->ndev) {
		fprintf(stderr, "lpgen: %s has %d of the %d tokens needed\n",
		    lp->o.tokens, have, lp->ndev);
		return -1;
	}
	return 0;
}

/* tandem: each user's events cursor, by its writer (GET /events without
 * after answers at once with it).  Returns 0 or -1. */
static int
read_cursors(struct lp *lp)
{
	int	 u, d, bad = 0;

	for (u = 0; u < lp->o.users; u++)
		conn_request(lp, &lp->usr[u].conn, "GET", "/api/v1/events",
		    lp->usr[u].token, NULL, NULL);
	for (u = 0; u < lp->o.users; u++) {
		struct conn *c = &lp->usr[u].conn;
		json_t	*doc;
		json_error_t jerr;
		json_int_t cur = 0;

		int64_t	 end = now_us() + 30000000;

		while (c->busy && !interrupted && now_us() < end)
			loop_once(lp, 5);
		doc = json_loadb(c->body.data, c->body.len, 0, &jerr);
		if (c->status != 200 || doc == NULL ||
		    json_unpack(doc, "{s:I}", "cursor", &cur) != 0) {
			if (bad++ < 3)
				fprintf(stderr, "lpgen: cursor of user %d: %d "
				    "%.200s\n", u, c->status, buf_str(&c->body));
		}
		json_decref(doc);
		for (d = 0; d < lp->o.devices; d++) {
			lp->dev[u * lp->o.devices + d].cursor = cur;
			lp->dev[u * lp->o.devices + d].last_seq = cur;
			lp->dev[u * lp->o.devices + d].start_seq = cur;
		}
	}
	return bad ? -1 : 0;
}

struct gencpu {
	int64_t		 t;
	double		 cpu_s;
};

static void
gencpu_mark(struct gencpu *g)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	g->t = now_us();
	g->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The generator's CPU between two marks, in % of one core. */
static double
gencpu_pct(const struct gencpu *a, const struct gencpu *b)
{
	double	 wall = (double)(b->t - a->t) / 1e6;

	return wall > 0 ? 100.0 * (b->cpu_s - a->cpu_s) / wall : 0;
}

struct result {
	long		 rss_before, rss_wait, thr_before, thr_wait;
	long		 front_before, front_wait;
	long		 nstacks;
	double		 stack_kib;
	struct buf	 fds_server, fds_front;	/* per process, polls waiting */
	long		 server_n, client_n, server_n_end;
	double		 idle_ms_s;
	long		 idle_answers;
	double		 settle_s;
	int		 incomplete;
	double		 fan[64];
	double		 fanw[64];	/* the round's last write answered */
	int		 nfan, fan_incomplete;
	long		 fan_answered_min;
	double		 cpu_connect, cpu_idle, cpu_wake, cpu_fan, cpu_fan_max;
	long		 lost, doubled, disorder, gaps, writes_acked;
	int		 pushes_run, rounds_run;
};

static void
check_delivery(struct lp *lp, struct result *r)
{
	int	 di;
	size_t	 i, j;

	for (di = 0; di < lp->ndev; di++) {
		struct device *d = &lp->dev[di];
		struct user *u = &lp->usr[d->user];

		/* order, doubles and gaps, from the starting cursor */
		for (i = 0; i < d->nrx; i++) {
			int64_t	 prev = d->start_seq, s = d->rx[i].seq;
			int	 seen = 0;

			for (j = 0; j < i; j++) {
				if (d->rx[j].seq == s)
					seen = 1;
				if (d->rx[j].seq > prev)
					prev = d->rx[j].seq;
			}
			if (seen)
				r->doubled++;
			else if (s < prev)
				r->disorder++;
			else if (s > prev + 1)
				r->gaps += s - prev - 1;
		}
		for (i = 0; i < u->nw; i++) {
			int	 c = 0;

			if (!u->w[i].acked)
				continue;
			for (j = 0; j < d->nrx; j++)
				if (d->rx[j].key == u->w[i].key)
					c++;
			if (c == 0)
				r->lost++;
		}
	}
	for (di = 0; di < lp->o.users; di++)
		for (i = 0; i < lp->usr[di].nw; i++)
			r->writes_acked += lp->usr[di].w[i].acked;
}

static void
report(struct lp *lp, struct result *r)
{
	FILE	*fp = NULL;
	double	 p50 = pct(lp->lat.v, lp->lat.n, 0.5);
	double	 p99 = pct(lp->lat.v, lp->lat.n, 0.99);
	double	 w50 = pct(lp->wlat.v, lp->wlat.n, 0.5);
	double	 fan_med = pct(r->fan, (size_t)r->nfan, 0.5);
	double	 fanw_med = pct(r->fanw, (size_t)r->nfan, 0.5);
	int	 ok, i, established = r->server_n >= lp->ndev;
	/* per waiting poll: only meaningful when they all wait */
	double	 kib = established ? (double)(r->rss_wait - r->rss_before) /
	    lp->ndev : NAN;
	double	 kib_stack = kib + (r->nstacks >= lp->ndev ? r->stack_kib : 0);
	struct buf fans, errs;
	const char *name = lp->o.target == T_TANDEM ? "tandem" : "nchan";

	buf_init(&fans, 0);
	buf_init(&errs, 0);
	for (i = 0; i < r->nfan; i++)
		buf_addf(&fans, "%s%.1f", i ? "/" : "", r->fan[i]);
	for (i = 0; i < E__MAX; i++)
		if (lp->errs[i] > 0 && i != E_HTTP)
			buf_addf(&errs, "%s%s:%ld", errs.len ? "," : "",
			    err_names[i], lp->errs[i]);
	for (i = 100; i < 600; i++)
		if (lp->http_errs[i] > 0)
			buf_addf(&errs, "%shttp_%d:%ld", errs.len ? "," : "", i,
			    lp->http_errs[i]);
	ok = established && !r->incomplete && !r->fan_incomplete &&
	    r->lost == 0 && r->doubled == 0 && r->disorder == 0 &&
	    lp->write_errs == 0;
	printf("\n[%s%s%s] %d users x %d devices = %d polls\n", name,
	    lp->o.label ? " " : "", lp->o.label ? lp->o.label : "",
	    lp->o.users, lp->o.devices, lp->ndev);
	if (r->server_n < 0)
		printf("  established: the server did not answer its count; "
		    "client %ld waiting (%.1f s)  -- NOT ALL ESTABLISHED\n",
		    r->client_n, r->settle_s);
	else
		printf("  established: server counts %ld waiting, client %ld "
		    "(%.1f s)%s\n", r->server_n, r->client_n, r->settle_s,
		    established ? "" : "  -- NOT ALL ESTABLISHED");
	printf("  errors by kind: %s\n", errs.len ? buf_str(&errs) : "none");
	printf("  send -> wake p50 / p99: %.2f / %.2f ms (%zu samples, %d "
	    "pushes incomplete); a targeted write answered p50 %.2f ms\n", p50, p99,
	    lp->lat.n, r->incomplete, w50);
	printf("  fan-out (last of %d): median %.1f ms, rounds %s%s; the "
	    "round's last write answered: median %.1f ms\n", lp->ndev, fan_med,
	    buf_str(&fans), r->fan_incomplete ? "  -- SOME ROUNDS INCOMPLETE" :
	    "", fanw_med);
	if (r->fan_incomplete)
		printf("  fan-out: %d of %d rounds incomplete; the worst had %ld "
		    "of %d polls answered\n", r->fan_incomplete,
		    r->nfan + r->fan_incomplete, r->fan_answered_min, lp->ndev);
	printf("  lost / doubled / out of order: %ld / %ld / %ld (seq gaps "
	    "%ld; %ld writes acknowledged, %ld failed)\n", r->lost, r->doubled,
	    r->disorder, r->gaps, r->writes_acked, lp->write_errs);
	printf("  server RSS before / waiting: %ld / %ld KiB = %.1f KiB per "
	    "poll; threads %ld / %ld; stacks %ld x %.1f KiB\n", r->rss_before,
	    r->rss_wait, kib, r->thr_before, r->thr_wait, r->nstacks,
	    r->stack_kib);
	if (lp->o.front.root > 0)
		printf("  front nginx RSS before / waiting: %ld / %ld KiB = %.1f "
		    "KiB per poll\n", r->front_before, r->front_wait,
		    (double)(r->front_wait - r->front_before) / lp->ndev);
	printf("  open fds per process, polls waiting: server %s%s%s\n",
	    buf_str(&r->fds_server), r->fds_front.len ? "; front nginx " : "",
	    buf_str(&r->fds_front));
	printf("  server idle CPU with the polls waiting: %.1f ms/s (%ld "
	    "answers meanwhile)\n", r->idle_ms_s, r->idle_answers);
	printf("  generator CPU (%% of a core): connect %.0f, idle %.1f, "
	    "targeted %.0f, fan-out %.0f (busiest round %.0f)\n",
	    r->cpu_connect, r->cpu_idle, r->cpu_wake, r->cpu_fan,
	    r->cpu_fan_max);
	printf("  verdict: %s\n", ok ? "ok" : "FAILED");
	if (lp->o.out != NULL && (fp = fopen(lp->o.out, "w")) != NULL) {
		fprintf(fp, "target=%s\nlabel=%s\nusers=%d\ndevices=%d\npolls=%d\n"
		    "server_waiting=%ld\nclient_waiting=%ld\nsettle_s=%.1f\n"
		    "established=%d\nerrors=%s\nwake_p50_ms=%.2f\n"
		    "wake_p99_ms=%.2f\nwake_samples=%zu\nwake_incomplete=%d\n"
		    "write_p50_ms=%.2f\nfan_median_ms=%.1f\nfan_write_median_ms=%.1f\n"
		    "fan_rounds=%s\n"
		    "fan_incomplete=%d\nfan_answered_min=%ld\nlost=%ld\n"
		    "doubled=%ld\ndisorder=%ld\ngaps=%ld\nwrites_acked=%ld\n"
		    "write_errors=%ld\nrss_before_kib=%ld\nrss_wait_kib=%ld\n"
		    "kib_per_poll=%.1f\nkib_per_poll_with_stack=%.1f\n"
		    "threads_before=%ld\nthreads_wait=%ld\nstacks=%ld\n"
		    "stack_kib=%.1f\nfront_before_kib=%ld\nfront_wait_kib=%ld\n"
		    "idle_cpu_ms_s=%.1f\ngen_cpu_connect=%.0f\n"
		    "gen_cpu_idle=%.1f\ngen_cpu_wake=%.0f\ngen_cpu_fan=%.0f\n"
		    "gen_cpu_fan_max=%.0f\npushes_run=%d\nrounds_run=%d\n"
		    "fds_server=%s\nfds_front=%s\nok=%d\n", name,
		    lp->o.label ? lp->o.label : "", lp->o.users, lp->o.devices,
		    lp->ndev, r->server_n, r->client_n, r->settle_s,
		    established, errs.len ? buf_str(&errs) : "none", p50, p99,
		    lp->lat.n, r->incomplete, w50, fan_med, fanw_med, buf_str(&fans),
		    r->fan_incomplete, r->fan_answered_min, r->lost, r->doubled,
		    r->disorder, r->gaps, r->writes_acked, lp->write_errs,
		    r->rss_before, r->rss_wait, kib, kib_stack, r->thr_before,
		    r->thr_wait, r->nstacks, r->stack_kib, r->front_before,
		    r->front_wait, r->idle_ms_s, r->cpu_connect, r->cpu_idle,
		    r->cpu_wake, r->cpu_fan, r->cpu_fan_max, r->pushes_run,
		    r->rounds_run, buf_str(&r->fds_server),
		    buf_str(&r->fds_front), ok);
		fclose(fp);
	}
	buf_release(&fans);
	buf_release(&errs);
}

/* Whether every write of the phase (one user's, or all: ui < 0) was
 * acknowledged and reached all of its user's devices. */
static int
phase_complete(struct lp *lp, int phase, int ui)
{
	int	 u, found;
	size_t	 i;

	for (u = ui < 0 ? 0 : ui; u < (ui < 0 ? lp->o.users : ui + 1); u++) {
		found = 0;
		for (i = 0; i < lp->usr[u].nw; i++) {
			struct write *w = &lp->usr[u].w[i];

			if (w->phase != phase)
				continue;
			found = 1;
			if (!w->acked || w->got < lp->o.devices)
				return 0;
		}
		if (!found)
			return 0;
	}
	return 1;
}

/* How many polls of a round's writes have answered (for a round that
 * did not complete). */
static long
round_answered(struct lp *lp, int phase)
{
	long	 n = 0;
	int	 u;
	size_t	 i;

	for (u = 0; u < lp->o.users; u++)
		for (i = 0; i < lp->usr[u].nw; i++)
			if (lp->usr[u].w[i].phase == phase)
				n += lp->usr[u].w[i].got;
	return n;
}

static int
cmd_run(struct lp *lp)
{
	struct result r;
	struct gencpu g0, g1, g2, g3, ga, gb;
	int	 i, k, rnd, established;
	long	 t0, t1;
	int64_t	 w0, w1, start;
	double	 wake_s = lp->o.wake_s, round_s = lp->o.round_s;
	int	 pushes = lp->o.pushes, rounds = lp->o.rounds;

	memset(&r, 0, sizeof(r));
	buf_init(&r.fds_server, 0);
	buf_init(&r.fds_front, 0);
	r.fan_answered_min = -1;
	for (i = 0; i < lp->o.users; i++) {
		conn_init(&lp->usr[i].conn, R_WRITER, i);
		lp->usr[i].token = lp->dev[i * lp->o.devices].token;
	}
	conn_init(&lp->ctrl, R_CTRL, -1);

	/* the writers first (they also read the cursors), then the polls */
	if (!writers_warm(lp)) {
		fprintf(stderr, "lpgen: the writers did not connect\n");
		return 1;
	}
	if (lp->o.target == T_TANDEM && read_cursors(lp) == -1)
		return 1;
	procset_scan(&lp->o.server);
	if (lp->o.server.n == 0)
		fprintf(stderr, "lpgen: no server processes found (--server)\n");
	loop_for(lp, 1.0);
	r.rss_before = procset_sum(&lp->o.server, "VmRSS");
	r.thr_before = procset_sum(&lp->o.server, "Threads");
	if (lp->o.front.root > 0)
		r.front_before = procset_sum(&lp->o.front, "VmRSS");

	fprintf(stderr, "lpgen: opening %d polls at %.0f/s...\n", lp->ndev,
	    lp->o.rate);
	gencpu_mark(&g0);
	start = now_us();
	for (i = 0; i < lp->ndev; i++)
		queue_push(&lp->connect_q, &lp->dev[i].conn, 0);
	r.server_n = settle(lp, lp->o.settle_s + lp->ndev / lp->o.rate, 10.0);
	r.settle_s = (double)(now_us() - start) / 1e6;
	r.client_n = client_waiting(lp);
	gencpu_mark(&g1);
	r.cpu_connect = gencpu_pct(&g0, &g1);
	established = r.server_n >= lp->ndev;
	fprintf(stderr, "lpgen: server counts %ld waiting, client %ld, after "
	    "%.1f s\n", r.server_n, r.client_n, r.settle_s);
	if (!established) {
		/* go on, bounded, to show what works and what does not */
		pushes = pushes < 20 ? pushes : 20;
		rounds = 1;
		wake_s = 2;
		fprintf(stderr, "lpgen: NOT all polls established: %d pushes, "
		    "1 round, to see what still works\n", pushes);
	}

	loop_for(lp, 1.0);
	r.rss_wait = procset_sum(&lp->o.server, "VmRSS");
	r.thr_wait = procset_sum(&lp->o.server, "Threads");
	procset_stacks(&lp->o.server, &r.nstacks, &r.stack_kib);
	procset_fds(&lp->o.server, &r.fds_server);
	if (lp->o.front.root > 0) {
		r.front_wait = procset_sum(&lp->o.front, "VmRSS");
		procset_fds(&lp->o.front, &r.fds_front);
	}

	/* idle CPU of the server while the polls wait */
	t0 = procset_ticks(&lp->o.server);
	k = (int)lp->polls_answered;
	gencpu_mark(&ga);
	w0 = now_us();
	loop_for(lp, lp->o.idle_s);
	w1 = now_us();
	gencpu_mark(&gb);
	t1 = procset_ticks(&lp->o.server);
	r.idle_ms_s = (double)(t1 - t0) * 1000.0 / sysconf(_SC_CLK_TCK) /
	    ((double)(w1 - w0) / 1e6);
	r.idle_answers = lp->polls_answered - k;
	r.cpu_idle = gencpu_pct(&ga, &gb);

	r.pushes_run = pushes;
	r.rounds_run = rounds;
	/* targeted wakes: one user's write at a time */
	fprintf(stderr, "lpgen: %d targeted writes...\n", pushes);
	writers_warm(lp);
	gencpu_mark(&g2);
	for (k = 0; k < pushes && !interrupted; k++) {
		struct round_wait rw = { 0, (int)(((long)k * 37) % lp->o.users) };

		if (write_send(lp, rw.ui, 0) == -1) {
			r.incomplete++;
			continue;
		}
		loop_until(lp, round_is_done, &rw, now_us() +
		    (int64_t)(wake_s * 1e6));
		if (!phase_complete(lp, 0, rw.ui))
			r.incomplete++;
		loop_for(lp, 0.02);
	}
	gencpu_mark(&g3);
	r.cpu_wake = gencpu_pct(&g2, &g3);

	/* fan-out rounds: every user writes at once */
	for (rnd = 1; rnd <= rounds && !interrupted; rnd++) {
		struct round_wait rw = { rnd, -1 };
		struct gencpu gr0, gr1;
		int64_t	 f0, last, lastw;
		long	 answered;
		int	 u, done;
		size_t	 j;
		double	 cpu;

		if (settle(lp, 30.0, 5.0) < lp->ndev && established)
			fprintf(stderr, "lpgen: not every poll waits again "
			    "before round %d\n", rnd);
		writers_warm(lp);
		loop_for(lp, 0.2);
		fprintf(stderr, "lpgen: fan-out round %d: %d users write at "
		    "once...\n", rnd, lp->o.users);
		lp->gate = lp->o.gate;
		gencpu_mark(&gr0);
		f0 = now_us();
		for (u = 0; u < lp->o.users; u++)
			write_send(lp, u, rnd);
		loop_until(lp, round_is_done, &rw, f0 + (int64_t)(round_s * 1e6));
		done = phase_complete(lp, rnd, -1);
		gencpu_mark(&gr1);
		cpu = gencpu_pct(&gr0, &gr1);
		if (cpu > r.cpu_fan_max)
			r.cpu_fan_max = cpu;
		r.cpu_fan += cpu / rounds;
		last = lastw = f0;
		for (u = 0; u < lp->o.users; u++)
			for (j = 0; j < lp->usr[u].nw; j++) {
				if (lp->usr[u].w[j].phase != rnd)
					continue;
				if (lp->usr[u].w[j].t_last > last)
					last = lp->usr[u].w[j].t_last;
				if (lp->usr[u].w[j].t_resp > lastw)
					lastw = lp->usr[u].w[j].t_resp;
			}
		answered = round_answered(lp, rnd);
		if (r.fan_answered_min < 0 || answered < r.fan_answered_min)
			r.fan_answered_min = answered;
		if (!done) {
			r.fan_incomplete++;
			fprintf(stderr, "lpgen: round %d: %ld of %d polls "
			    "answered within %.0f s (%ld writes failed so far)\n",
			    rnd, answered, lp->ndev, round_s, lp->write_errs);
		} else if (r.nfan < 64) {
			r.fanw[r.nfan] = (double)(lastw - f0) / 1000.0;
			r.fan[r.nfan++] = (double)(last - f0) / 1000.0;
		}
		/* let the answered polls poll again */
		lp->gate = 0;
		for (i = 0; i < lp->ndev; i++)
			if (lp->dev[i].gated) {
				lp->dev[i].gated = 0;
				if (lp->dev[i].conn.state == C_OPEN &&
				    !lp->dev[i].conn.busy)
					poll_send(lp, &lp->dev[i]);
			}
	}
	r.server_n_end = settle(lp, 10.0, 3.0);
	loop_for(lp, 0.5);
	check_delivery(lp, &r);
	report(lp, &r);
	buf_release(&r.fds_server);
	buf_release(&r.fds_front);
	return r.lost || r.doubled || r.disorder || lp->write_errs ||
	    !established || r.incomplete || r.fan_incomplete ? 2 : 0;
}

/* ---- main --------------------------------------------------------- */

static int
parse_base(struct lp *lp, const char *base)
{
	const char *p, *colon;
	char	 host[64];
	long	 port = 443;
	size_t	 n;

	if (strncmp(base, "https://", 8) != 0)
		return -1;
	p = base + 8;
	n = strcspn(p, ":/");
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	colon = p + n;
	if (*colon == ':') {
		char	 num[16];
		size_t	 m = strcspn(colon + 1, "/");

		if (m == 0 || m >= sizeof(num))
			return -1;
		memcpy(num, colon + 1, m);
		num[m] = '\0';
		if (parse_long(num, 1, 65535, &port) == -1)
			return -1;
	}
	memset(&lp->addr, 0, sizeof(lp->addr));
	lp->addr.sin_family = AF_INET;
	lp->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" :
	    host, &lp->addr.sin_addr) != 1)
		return -1;
	snprintf(lp->host, sizeof(lp->host), "%s:%ld", host, port);
	return 0;
}

/* RLIMIT_NOFILE up to what need connections take.  Returns 0 or -1. */
static int
raise_nofile(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if ((long)rl.rlim_cur >= need)
		return 0;
	rl.rlim_cur = (rlim_t)need;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) {
		rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return 0;
		fprintf(stderr, "lpgen: %ld file descriptors needed, the hard "
		    "limit is %ld\n", need, (long)rl.rlim_max);
		return -1;
	}
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: lpgen setup --base URL --users U --devices D --tokens FILE\n"
	    "            [--conns 8] [--tag T] [--rate R]\n"
	    "       lpgen run --target tandem|nchan --base URL [--tokens FILE]\n"
	    "            --users U --devices D [--write push|event]\n"
	    "            [--pushes 100] [--rounds 5] [--idle-s 5] [--rate 1000]\n"
	    "            [--inflight 128] [--settle-s 30] [--wake-s 5]\n"
	    "            [--round-s 20] [--no-gate] [--chan PREFIX]\n"
	    "            [--server PID[:COMM]] [--front PID[:COMM]]\n"
	    "            [--label TEXT] [--out FILE]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "target", required_argument, NULL, 't' },
		{ "tokens", required_argument, NULL, 'k' },
		{ "users", required_argument, NULL, 'u' },
		{ "devices", required_argument, NULL, 'd' },
		{ "write", required_argument, NULL, 'w' },
		{ "pushes", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "idle-s", required_argument, NULL, 'i' },
		{ "rate", required_argument, NULL, 'R' },
		{ "inflight", required_argument, NULL, 'I' },
		{ "settle-s", required_argument, NULL, 's' },
		{ "wake-s", required_argument, NULL, 'W' },
		{ "round-s", required_argument, NULL, 'F' },
		{ "no-gate", no_argument, NULL, 'G' },
		{ "chan", required_argument, NULL, 'c' },
		{ "server", required_argument, NULL, 'S' },
		{ "front", required_argument, NULL, 'f' },
		{ "conns", required_argument, NULL, 'C' },
		{ "tag", required_argument, NULL, 'T' },
		{ "label", required_argument, NULL, 'L' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct lp *lp;
	const char *cmd;
	int	 ch, i, rc = 1, setup;
	long	 need;

	if (argc < 2) {
		usage();
		return 1;
	}
	cmd = argv[1];
	setup = strcmp(cmd, "setup") == 0;
	if (!setup && strcmp(cmd, "run") != 0) {
		usage();
		return 1;
	}
	if ((lp = calloc(1, sizeof(*lp))) == NULL)
		return 1;
	lp->epfd = -1;
	lp->o.target = T_TANDEM;
	lp->o.wmode = W_PUSH;
	lp->o.users = 100;
	lp->o.devices = 10;
	lp->o.pushes = 100;
	lp->o.rounds = 5;
	lp->o.conns = 8;
	lp->o.inflight = 128;
	lp->o.idle_s = 5;
	lp->o.settle_s = 30;
	lp->o.rate = 1000;
	lp->o.wake_s = 5;
	lp->o.round_s = 20;
	lp->o.gate = 1;
	lp->o.chan = "";
	lp->o.tag = "lpgen";
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b': lp->o.base = optarg; break;
		case 't':
			if (strcmp(optarg, "tandem") == 0)
				lp->o.target = T_TANDEM;
			else if (strcmp(optarg, "nchan") == 0)
				lp->o.target = T_NCHAN;
			else
				goto bad;
			break;
		case 'k': lp->o.tokens = optarg; break;
		case 'u':
			if (parse_int_opt("users", optarg, 1, 1000000,
			    &lp->o.users) == -1)
				goto bad;
			break;
		case 'd':
			if (parse_int_opt("devices", optarg, 1, 1000,
			    &lp->o.devices) == -1)
				goto bad;
			break;
		case 'w':
			if (strcmp(optarg, "push") == 0)
				lp->o.wmode = W_PUSH;
			else if (strcmp(optarg, "event") == 0)
				lp->o.wmode = W_EVENT;
			else
				goto bad;
			break;
		case 'p':
			if (parse_int_opt("pushes", optarg, 0, 100000,
			    &lp->o.pushes) == -1)
				goto bad;
			break;
		case 'r':
			if (parse_int_opt("rounds", optarg, 0, 64,
			    &lp->o.rounds) == -1)
				goto bad;
			break;
		case 'C':
			if (parse_int_opt("conns", optarg, 1, 256,
			    &lp->o.conns) == -1)
				goto bad;
			break;
		case 'I':
			if (parse_int_opt("inflight", optarg, 1, 100000,
			    &lp->o.inflight) == -1)
				goto bad;
			break;
		case 'i':
			if (parse_double_opt("idle-s", optarg, &lp->o.idle_s) == -1)
				goto bad;
			break;
		case 'R':
			if (parse_double_opt("rate", optarg, &lp->o.rate) == -1 ||
			    lp->o.rate < 1)
				goto bad;
			break;
		case 's':
			if (parse_double_opt("settle-s", optarg,
			    &lp->o.settle_s) == -1)
				goto bad;
			break;
		case 'W':
			if (parse_double_opt("wake-s", optarg, &lp->o.wake_s) == -1)
				goto bad;
			break;
		case 'F':
			if (parse_double_opt("round-s", optarg,
			    &lp->o.round_s) == -1)
				goto bad;
			break;
		case 'G': lp->o.gate = 0; break;
		case 'c': lp->o.chan = optarg; break;
		case 'S':
			if (procset_parse(&lp->o.server, optarg, "tandemd") == -1)
				goto bad;
			break;
		case 'f':
			if (procset_parse(&lp->o.front, optarg, "nginx") == -1)
				goto bad;
			break;
		case 'T': lp->o.tag = optarg; break;
		case 'L': lp->o.label = optarg; break;
		case 'o': lp->o.out = optarg; break;
		default:
			goto bad;
		}
	}
	if (lp->o.base == NULL || parse_base(lp, lp->o.base) == -1) {
		fprintf(stderr, "lpgen: --base https://HOST:PORT is needed\n");
		goto bad;
	}
	if ((setup || lp->o.target == T_TANDEM) && lp->o.tokens == NULL) {
		fprintf(stderr, "lpgen: --tokens FILE is needed\n");
		goto bad;
	}
	if (lp->o.target == T_NCHAN && strspn(lp->o.chan,
	    "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(lp->o.chan)) {
		fprintf(stderr, "lpgen: --chan is [a-z0-9]*\n");
		goto bad;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	lp->ndev = lp->o.users * lp->o.devices;
	need = (long)lp->ndev + lp->o.users + 64 + lp->o.conns;
	if (raise_nofile(need) == -1)
		goto out;
	if ((lp->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		goto out;
	if ((lp->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto out;
	SSL_CTX_set_verify(lp->ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(lp->ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_protos(lp->ctx, (const unsigned char *)"\x08http/1.1",
	    9);
	lp->pace_t = now_us();
	if ((lp->dev = calloc((size_t)lp->ndev, sizeof(*lp->dev))) == NULL ||
	    (lp->usr = calloc((size_t)lp->o.users, sizeof(*lp->usr))) == NULL)
		goto out;
	for (i = 0; i < lp->ndev; i++) {
		lp->dev[i].user = i / lp->o.devices;
		conn_init(&lp->dev[i].conn, R_POLL, i);
	}
	if (setup)
		rc = cmd_setup(lp);
	else if (lp->o.target == T_TANDEM && read_tokens(lp) == -1)
		rc = 1;
	else
		rc = cmd_run(lp);
out:
	if (lp->dev != NULL)
		for (i = 0; i < lp->ndev; i++) {
			conn_close(lp, &lp->dev[i].conn);
			free(lp->dev[i].token);
			free(lp->dev[i].rx);
		}
	if (lp->usr != NULL)
		for (i = 0; i < lp->o.users; i++) {
			conn_close(lp, &lp->usr[i].conn);
			free(lp->usr[i].w);
		}
	free(lp->dev);
	free(lp->usr);
	if (lp->ctx != NULL)
		SSL_CTX_free(lp->ctx);
	if (lp->epfd >= 0)
		close(lp->epfd);
	free(lp);
	return rc;
bad:
	usage();
	rc = 1;
	goto out;
}
