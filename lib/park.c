#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "doorbell.h"
#include "log.h"
#include "park.h"

#define PARK_STACK	(256 * 1024)
#define BELL_STACK	(64 * 1024)
#define EPOLL_BATCH	64
/* The bell thread looks at stopping at least this often. */
#define BELL_SLICE_MS	200
/* How long a closing connection may wait for nginx's close (libfcgi's). */
#define LINGER_US	(2 * 1000000)

static const struct park_ops *ops;	/* the default: park_start()'s */
static pthread_t park_tid, bell_tid;
static int running;
static int epfd = -1, evfd = -1;
static _Atomic int stopping;
static _Atomic size_t count;

/* Entries handed over by other threads, for the park thread to take. */
static pthread_mutex_t in_mu = PTHREAD_MUTEX_INITIALIZER;
static struct park_entry *in_head;

/* The park thread's own: entries by bucket, buckets that hold any. */
static struct park_entry *bucket_head[DOORBELL_BUCKETS];
static size_t bucket_n[DOORBELL_BUCKETS];
static size_t active[DOORBELL_BUCKETS];	/* buckets with entries */
static size_t active_i[DOORBELL_BUCKETS];	/* a bucket's place there */
static size_t nactive;
static unsigned char scan[DOORBELL_BUCKETS];	/* look at it next pass */

/* Entries by deadline: a binary min-heap. */
static struct park_entry **heap;
static size_t heap_n, heap_cap;

/*
 * Connections answered on the park thread, closing: written and shut
 * for writing, waiting for nginx to close its end (what libfcgi's
 * FCGX_Finish_r waits for in a blocking read; here epoll does), oldest
 * first.  In the epoll set as their address with the low bit set.
 */
struct closing {
	int		 fd;
	int64_t		 deadline_us;
	struct closing	*prev, *next;
};
static struct closing *linger_head, *linger_tail;

/* Candidates of a wake, gathered per pass. */
static struct park_entry **cand;
static size_t cand_cap;

/* The callbacks that finish e. */
static const struct park_ops *
ops_of(const struct park_entry *e)
{
	return e->ops != NULL ? e->ops : ops;
}

static void
signal_park(void)
{
	uint64_t one = 1;

	if (write(evfd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_msg(LOG_WARN, "park: cannot signal: %s", strerror(errno));
}

static void
heap_swap(size_t a, size_t b)
{
	struct park_entry *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_i = a;
	heap[b]->heap_i = b;
}

static void
heap_up(size_t i)
{
	while (i > 0 && heap[(i - 1) / 2]->deadline_us > heap[i]->deadline_us) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	size_t	 l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < heap_n && heap[l]->deadline_us < heap[m]->deadline_us)
			m = l;
		if (r < heap_n && heap[r]->deadline_us < heap[m]->deadline_us)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static int
heap_push(struct park_entry *e)
{
	struct park_entry **v;
	size_t		 cap;

	if (heap_n == heap_cap) {
		cap = heap_cap ? heap_cap * 2 : 1024;
		if ((v = realloc(heap, cap * sizeof(*v))) == NULL)
			return -1;
		heap = v;
		heap_cap = cap;
	}
	e->heap_i = heap_n;
	heap[heap_n++] = e;
	heap_up(e->heap_i);
	return 0;
}

static void
heap_remove(struct park_entry *e)
{
	size_t	 i = e->heap_i;

	heap_n--;
	if (i == heap_n)
		return;
	heap[i] = heap[heap_n];
	heap[i]->heap_i = i;
	heap_up(i);
	heap_down(heap[i]->heap_i);
}

/* The deadline of e changed: put it back in its place. */
static void
heap_fix(struct park_entry *e)
{
	heap_up(e->heap_i);
	heap_down(e->heap_i);
}

static void
watch(struct park_entry *e)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLRDHUP | EPOLLHUP | EPOLLERR |
	    (e->want_out ? EPOLLOUT : 0);
	ev.data.ptr = e;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, e->fd, &ev) == -1 &&
	    errno != EEXIST)
		log_msg(LOG_WARN, "park: cannot watch a connection: %s",
		    strerror(errno));
}

/* Stop watching e's fd: always before its owner may close it. */
static void
unwatch(struct park_entry *e)
{
	struct epoll_event ev;

	epoll_ctl(epfd, EPOLL_CTL_DEL, e->fd, &ev);
}

/* Take e in: its bucket, the heap, the watch.  Returns 0 or -1. */
static int
insert(struct park_entry *e)
{
	size_t	 b = doorbell_bucket(e->user_id);

	if (heap_push(e) == -1)
		return -1;
	e->bucket = b;
	e->done = 0;
	e->prev = NULL;
	e->next = bucket_head[b];
	if (e->next != NULL)
		e->next->prev = e;
	bucket_head[b] = e;
	if (bucket_n[b]++ == 0) {
		active_i[b] = nactive;
		active[nactive++] = b;
	}
	watch(e);
	/* a ring between the owner's look and now: look at once */
	if (doorbell_bucket_read(b) != e->seen)
		scan[b] = 1;
	return 0;
}

/* Take e out of every structure (not out of the watch: see unwatch). */
static void
detach(struct park_entry *e)
{
	size_t	 b = e->bucket, last;

	heap_remove(e);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		bucket_head[b] = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	if (--bucket_n[b] == 0) {
		last = active[--nactive];
		active[active_i[b]] = last;
		active_i[last] = active_i[b];
	}
	atomic_fetch_sub(&count, 1);
}

/* Move what other threads handed over into the park thread's own. */
static void
take_incoming(void)
{
	struct park_entry *e, *next;

	pthread_mutex_lock(&in_mu);
	e = in_head;
	in_head = NULL;
	pthread_mutex_unlock(&in_mu);
	for (; e != NULL; e = next) {
		next = e->incoming;
		e->queued = 0;
		if (insert(e) == -1) {
			/* out of memory: it cannot wait; answer it now */
			atomic_fetch_sub(&count, 1);
			ops_of(e)->stop(e);
		}
	}
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct park_entry *x = *(struct park_entry *const *)a;
	const struct park_entry *y = *(struct park_entry *const *)b;

	uintptr_t	 ox = (uintptr_t)ops_of(x), oy = (uintptr_t)ops_of(y);

	if (x->user_id != y->user_id)
		return (x->user_id > y->user_id) - (x->user_id < y->user_id);
	return (ox > oy) - (ox < oy);
}

/*
 * Every entry whose bucket rang since it looked: gathered, sorted by
 * user (and owner), and woken a user at a time, each owner given its
 * own entries.  With all, every active bucket is
 * looked at (the bell rang); else only those marked in scan[].
 */
static void
wake_rung(int all)
{
	struct park_entry *e, **v;
	size_t		 i, j, k, n = 0, b;
	uint32_t	 c;

	for (i = 0; i < nactive; i++) {
		b = active[i];
		if (!all && !scan[b])
			continue;
		scan[b] = 0;
		c = doorbell_bucket_read(b);
		for (e = bucket_head[b]; e != NULL; e = e->next) {
			if (e->seen == c)
				continue;
			if (n == cand_cap) {
				k = cand_cap ? cand_cap * 2 : 1024;
				if ((v = realloc(cand, k * sizeof(*v))) == NULL)
					break;
				cand = v;
				cand_cap = k;
			}
			e->seen = c;	/* moved before the owner looks */
			cand[n++] = e;
		}
	}
	if (n == 0)
		return;
	qsort(cand, n, sizeof(*cand), cand_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && cand[j]->user_id == cand[i]->user_id &&
		    ops_of(cand[j]) == ops_of(cand[i]); j++)
			;
		for (k = i; k < j; k++)
			unwatch(cand[k]);
		ops_of(cand[i])->wake(cand[i]->user_id, cand + i, j - i);
		for (k = i; k < j; k++) {
			if (cand[k]->done) {
				detach(cand[k]);
				ops_of(cand[k])->release(cand[k]);
			} else {
				heap_fix(cand[k]);
				watch(cand[k]);
			}
		}
	}
}

/* Entries whose deadline passed: expired, or kept with a new one. */
static void
expire_due(void)
{
	struct park_entry *e;
	int64_t		 now = mono_us();

	while (heap_n > 0 && heap[0]->deadline_us <= now) {
		e = heap[0];
		unwatch(e);
		e->done = 0;
		ops_of(e)->expire(e);
		if (e->done) {
			detach(e);
			ops_of(e)->release(e);
			continue;
		}
		if (e->deadline_us <= now) {
			log_msg(LOG_WARN, "park: an entry kept its past "
			    "deadline; answered");
			detach(e);
			ops_of(e)->stop(e);
			continue;
		}
		heap_fix(e);
		watch(e);
	}
}

/* The worker stops: every entry, parked or handed over, answers now. */
static void
stop_all(void)
{
	struct park_entry *e;

	take_incoming();
	while (heap_n > 0) {
		e = heap[0];
		unwatch(e);
		detach(e);
		ops_of(e)->stop(e);
	}
}

/* Read what nginx still sends; 1 when it closed (or failed), else 0. */
static int
drain(int fd)
{
	char	 trash[1024];
	ssize_t	 n;

	for (;;) {
		n = read(fd, trash, sizeof(trash));
		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) ?
		    0 : 1;
	}
}

static void
linger_end(struct closing *l)
{
	struct epoll_event ev;

	epoll_ctl(epfd, EPOLL_CTL_DEL, l->fd, &ev);
	close(l->fd);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		linger_head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	else
		linger_tail = l->prev;
	free(l);
}

/*
 * Close fd, whose answer is written, without waiting: shut it for
 * writing and let epoll tell when nginx has read the answer and closed
 * its end.  Closing at once could make nginx's read of the answer fail
 * (a socket closed with unread data resets its peer).  On the park
 * thread only (park_self()); the fd is park's from here.
 */
void
park_linger(int fd)
{
	struct epoll_event ev;
	struct closing	*l;
	int		 fl;

	if (shutdown(fd, SHUT_WR) == -1 ||
	    (fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 || drain(fd) ||
	    (l = malloc(sizeof(*l))) == NULL) {
		close(fd);
		return;
	}
	l->fd = fd;
	l->deadline_us = mono_us() + LINGER_US;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.u64 = (uint64_t)(uintptr_t)l | 1;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		close(fd);
		free(l);
		return;
	}
	l->next = NULL;
	l->prev = linger_tail;
	if (linger_tail != NULL)
		linger_tail->next = l;
	else
		linger_head = l;
	linger_tail = l;
}

/* Lingering connections whose nginx did not close in time: closed. */
static void
linger_expire(int64_t now)
{
	while (linger_head != NULL && linger_head->deadline_us <= now)
		linger_end(linger_head);
}

/* 1 on the park thread of this process. */
int
park_self(void)
{
	return running && pthread_equal(pthread_self(), park_tid);
}

/* Milliseconds until the first deadline, entry or linger; -1: none. */
static int
next_wait_ms(void)
{
	int64_t	 first = INT64_MAX, ms;

	if (heap_n > 0)
		first = heap[0]->deadline_us;
	if (linger_head != NULL && linger_head->deadline_us < first)
		first = linger_head->deadline_us;
	if (first == INT64_MAX)
		return -1;
	ms = (first - mono_us() + 999) / 1000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void *
park_main(void *arg)
{
	struct epoll_event ev[EPOLL_BATCH];
	struct park_entry *e;
	uint64_t	 junk;
	int		 i, n, rang;

	(void)arg;
	for (;;) {
		n = epoll_wait(epfd, ev, EPOLL_BATCH, next_wait_ms());
		if (n == -1 && errno != EINTR) {
			log_msg(LOG_ERROR, "park: epoll: %s", strerror(errno));
			sleep(1);
			continue;
		}
		rang = 0;
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr == NULL) {
				while (read(evfd, &junk, sizeof(junk)) > 0)
					;
				rang = 1;
				continue;
			}
			if (ev[i].data.u64 & 1) {
				struct closing *l = (struct closing *)(uintptr_t)
				    (ev[i].data.u64 & ~(uint64_t)1);

				if (drain(l->fd))
					linger_end(l);
				continue;
			}
			e = ev[i].data.ptr;
			unwatch(e);
			if ((ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ||
			    ops_of(e)->writable == NULL) {
				detach(e);
				ops_of(e)->gone(e);
				continue;
			}
			e->done = 0;
			ops_of(e)->writable(e);
			if (e->done) {
				detach(e);
				ops_of(e)->release(e);
			} else {
				heap_fix(e);
				watch(e);
			}
		}
		if (atomic_load(&stopping)) {
			stop_all();
			break;
		}
		take_incoming();
		wake_rung(rang);
		expire_due();
		linger_expire(mono_us());
	}
	/* the answers are written; what nginx has not read yet it still can */
	while (linger_head != NULL)
		linger_end(linger_head);
	return NULL;
}

/* The bell: the doorbell's any-ring futex, relayed to the park thread. */
static void *
bell_main(void *arg)
{
	uint32_t	 seen;

	(void)arg;
	while (!atomic_load(&stopping)) {
		seen = doorbell_any_read();
		if (doorbell_any_wait(seen, BELL_SLICE_MS) &&
		    doorbell_any_read() != seen)
			signal_park();
	}
	return NULL;
}

static int
thread_start(pthread_t *tid, void *(*fn)(void *), size_t stack)
{
	pthread_attr_t	 attr;
	sigset_t	 all, old;
	int		 rc;

	/* no signal is meant for these threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack);
	rc = pthread_create(tid, &attr, fn, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

/*
 * Start this process's park and bell threads with the owner's
 * callbacks.  Returns 0, or -1 (requests then wait holding their
 * thread, as park_add() refuses them).
 */
int
park_start(const struct park_ops *o)
{
	struct epoll_event ev;

	if (running)
		return 0;
	ops = o;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) == -1)
		goto fail;
	if (thread_start(&park_tid, park_main, PARK_STACK) == -1)
		goto fail;
	if (thread_start(&bell_tid, bell_main, BELL_STACK) == -1) {
		atomic_store(&stopping, 1);
		signal_park();
		pthread_join(park_tid, NULL);
		goto fail;
	}
	running = 1;
	return 0;
fail:
	log_msg(LOG_ERROR, "park: cannot start: %s", strerror(errno));
	if (epfd != -1)
		close(epfd);
	if (evfd != -1)
		close(evfd);
	epfd = evfd = -1;
	return -1;
}

/*
 * Hand e to the park thread (from any thread).  Returns 0: e belongs to
 * park until a callback gives it back; -1 when park is not running or
 * the worker stops (the caller answers e itself).
 */
int
park_add(struct park_entry *e)
{
	if (!running || atomic_load(&stopping))
		return -1;
	atomic_fetch_add(&count, 1);
	pthread_mutex_lock(&in_mu);
	e->incoming = in_head;
	e->queued = 1;
	in_head = e;
	pthread_mutex_unlock(&in_mu);
	signal_park();
	return 0;
}

/*
 * The worker stops: every parked entry answers now (ops->stop) and the
 * threads end.  Entries handed over later are refused.
 */
void
park_stop(void)
{
	if (!running)
		return;
	atomic_store(&stopping, 1);
	signal_park();
	pthread_join(park_tid, NULL);
	pthread_join(bell_tid, NULL);
	running = 0;
}

/* Entries parked or handed over now. */
size_t
park_count(void)
{
	return atomic_load(&count);
}
