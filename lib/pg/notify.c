/*
 * The doorbell between hosts (DESIGN.md, "Many hosts").  A writer's
 * commit rings its own host's doorbell (lib/db.c); then pg_notify tells
 * the other hosts with a notify-only statement after the commit (the
 * process's notifier thread's, or the writer's own: TANDEM_DB_NOTIFY),
 * never inside the write transaction (a commit that notified holds a global
 * lock through its WAL flush).  Each host runs one listener: a thread of
 * its sweeper process (one per host, restarted by the master, and
 * sharing the doorbell's memory, which the master mapped before it
 * forked) holding one LISTEN connection; it rings the local doorbell for
 * the user ids it hears.  On every (re)connect it rings every bucket
 * once, for whatever it may have missed; dropped, it reconnects with a
 * backoff.  The rows are the truth and a notification only a hint: a
 * waiting poll also looks again at its deadline, so a crash between a
 * commit and its notification strands nobody.
 *
 * Payload: "<host token>:<id>,<id>,..." or "<host token>:*" (every
 * user), each under 8000 bytes (longer lists go in several); a host
 * skips its own notifications, which its doorbell has rung already.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "doorbell.h"
#include "log.h"
#include "pg.h"

#define CHANNEL		"tandem"
#define PAYLOAD_MAX	7900	/* PostgreSQL's limit is 8000 bytes */
#define LISTEN_IDLE_MS	5000	/* a ping when nothing was heard */
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000

/* Where a payload goes: a connection of the pool, or the notifier's. */
typedef void (*send_fn)(void *, const char *payload);

/* Send one payload on db's connection, outside any transaction. */
static void
send_on_db(void *arg, const char *payload)
{
	struct pgq	 q;

	pgq_init(&q, arg, "SELECT pg_notify('" CHANNEL "', $1)");
	pgq_text(&q, payload);
	(void)pgq_exec(&q);
	pgq_clear(&q);
}

/* The payloads naming these n users (or all), each under 8000 bytes. */
static void
payloads(const int64_t *users, size_t n, int all, send_fn send, void *arg)
{
	struct buf	 b;
	size_t		 head, i;

	buf_init(&b, PAYLOAD_MAX + 64);
	if (buf_addf(&b, "%s:", pg_host_token()) == -1)
		goto out;
	head = b.len;
	if (all) {
		if (buf_adds(&b, "*") == 0)
			send(arg, buf_str(&b));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (buf_addf(&b, "%s%lld", b.len > head ? "," : "",
		    (long long)users[i]) == -1)
			goto out;
		if (b.len > PAYLOAD_MAX - 24 || i == n - 1) {
			send(arg, buf_str(&b));
			b.len = head;
			b.data[head] = '\0';
		}
	}
out:
	buf_release(&b);
}

/*
 * TANDEM_DB_NOTIFY=1: one notifier thread per process, with a
 * connection of its own.  Writers hand it their users after their
 * commit and go on at once; it sends what gathered while its previous
 * NOTIFY was on the wire as one NOTIFY (no added wait when idle, fewer
 * statements under load).  Past QUEUE_MAX users it sends "every user".
 */
#define QUEUE_MAX	4096

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int64_t		 ids[QUEUE_MAX];
	size_t		 n;
	int		 all;
} queue = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0,
    0 };
static pthread_once_t notifier_once = PTHREAD_ONCE_INIT;
static int notifier_ok;

static void
send_on_conn(void *arg, const char *payload)
{
	PGconn		**c = arg;
	PGresult	*r;
	int		 tries, ok = 0;

	/* a connection that died since its last NOTIFY: once more anew */
	for (tries = 0; tries < 2 && !ok; tries++) {
		if (*c == NULL && (*c = pg_connect_raw(1)) == NULL)
			return;	/* the rows are the truth: waiters look again */
		r = PQexecParams(*c, "SELECT pg_notify('" CHANNEL "', $1)", 1,
		    NULL, &payload, NULL, NULL, 0);
		ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		if (PQstatus(*c) != CONNECTION_OK) {
			PQfinish(*c);
			*c = NULL;
		}
	}
}

static void *
notifier_main(void *arg)
{
	static int64_t	 batch[QUEUE_MAX];
	PGconn		*c = NULL;
	size_t		 n;
	int		 all;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&queue.mu);
		while (queue.n == 0 && !queue.all)
			pthread_cond_wait(&queue.cv, &queue.mu);
		n = queue.n;
		all = queue.all;
		memcpy(batch, queue.ids, n * sizeof(batch[0]));
		queue.n = 0;
		queue.all = 0;
		pthread_mutex_unlock(&queue.mu);
		payloads(batch, n, all, send_on_conn, &c);
	}
	return NULL;
}

static void
notifier_start(void)
{
	pthread_attr_t	 attr;
	pthread_t	 t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	notifier_ok = pthread_create(&t, &attr, notifier_main, NULL) == 0;
	pthread_attr_destroy(&attr);
	if (!notifier_ok)
		log_msg(LOG_WARN, "no notifier thread; writers notify "
		    "themselves");
}

/* Hand the users to the notifier thread.  Returns 0, or -1 without one. */
static int
notifier_add(const int64_t *users, int n, int all)
{
	size_t		 i, j;

	pthread_once(&notifier_once, notifier_start);
	if (!notifier_ok)
		return -1;
	pthread_mutex_lock(&queue.mu);
	if (all || queue.n + (size_t)n > QUEUE_MAX)
		queue.all = 1;
	else
		for (i = 0; i < (size_t)n; i++) {
			for (j = 0; j < queue.n; j++)
				if (queue.ids[j] == users[i])
					break;
			if (j == queue.n)
				queue.ids[queue.n++] = users[i];
		}
	pthread_cond_signal(&queue.cv);
	pthread_mutex_unlock(&queue.mu);
	return 0;
}

/*
 * After a commit: tell the other hosts to ring the doorbells of these n
 * users (or of all): through the notifier thread (TANDEM_DB_NOTIFY=1),
 * or with a notify-only statement on the writer's own connection (0).
 * Best effort: a failure costs the other hosts' waiters a wait until
 * their deadline, never an event.
 */
void
pg_notify(struct db *db, const int64_t *users, int n, int all)
{
	if (cfg.db_notify == 1 && notifier_add(users, n, all) == 0)
		return;
	payloads(users, (size_t)n, all, send_on_db, db);
}

/* Ring the local doorbells a payload names, unless it is our own. */
static void
heard(const char *payload)
{
	const char	*tok = pg_host_token(), *p;
	size_t		 tl = strlen(tok);
	char		*end;
	long long	 id;

	if (strncmp(payload, tok, tl) == 0 && payload[tl] == ':')
		return;		/* ours: rung at our commit */
	if ((p = strchr(payload, ':')) == NULL)
		return;
	p++;
	if (*p == '*') {
		doorbell_ring_all();
		return;
	}
	while (*p != '\0') {
		errno = 0;
		id = strtoll(p, &end, 10);
		if (end == p || errno != 0)
			return;
		doorbell_ring((int64_t)id);
		p = *end == ',' ? end + 1 : end;
	}
}

/* Wait on one LISTEN connection until it fails. */
static void
listen_loop(PGconn *c)
{
	struct pollfd	 pfd;
	PGnotify	*nt;
	PGresult	*r;
	int		 n;

	for (;;) {
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, LISTEN_IDLE_MS);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return;
		if (n == 0) {
			/* quiet for a while: is the server still there? */
			r = PQexec(c, "SELECT 1");
			n = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
			PQclear(r);
			if (!n)
				return;
		} else if (PQconsumeInput(c) == 0)
			return;
		while ((nt = PQnotifies(c)) != NULL) {
			heard(nt->extra);
			PQfreemem(nt);
		}
		if (PQstatus(c) != CONNECTION_OK)
			return;
	}
}

/* The listener thread: connect, LISTEN, ring all, hear; again. */
static void *
listen_main(void *arg)
{
	PGconn		*c;
	PGresult	*r;
	int		 backoff = BACKOFF_MIN_MS, quiet = 0, ok;

	(void)arg;
	for (;;) {
		if ((c = pg_connect_raw(quiet)) != NULL) {
			r = PQexec(c, "LISTEN " CHANNEL);
			ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
			if (ok) {
				log_msg(LOG_INFO, "listening for other hosts' "
				    "commits");
				backoff = BACKOFF_MIN_MS;
				quiet = 0;
				/* what was committed while nobody listened */
				doorbell_ring_all();
				listen_loop(c);
				log_msg(LOG_WARN, "lost the LISTEN connection; "
				    "reconnecting");
			}
			PQfinish(c);
		}
		quiet = 1;
		usleep((useconds_t)backoff * 1000);
		if ((backoff *= 2) > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
	}
	return NULL;
}

/*
 * Start this host's listener thread in the calling process (the
 * sweeper's).  Returns 0 or -1.
 */
int
pg_listen_start(void)
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	int		 rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	rc = pthread_create(&t, &attr, listen_main, NULL) == 0 ? 0 : -1;
	pthread_attr_destroy(&attr);
	if (rc == -1)
		log_msg(LOG_ERROR, "cannot start the listener thread");
	return rc;
}
