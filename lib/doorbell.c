#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"

struct doorbell_shm {
	_Atomic uint32_t bucket[DOORBELL_BUCKETS];
	/* Moves with every ring: what a process's bell thread waits on
	 * (lib/park), to learn that some bucket rang. */
	_Atomic uint32_t any;
};

static struct doorbell_shm *shm;
/* Per process: set on SIGTERM so this worker's polls answer at once. */
static _Atomic int local_stopping;

/* Per process: the connection watcher (see doorbell_watch). */
#define WATCH_STACK	(64 * 1024)
#define WATCH_BATCH	64
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static int watch_fd = -1;

/* Map the counters; call once in the master, before forking. */
int
doorbell_init(void)
{
	void	*p;

	if (shm != NULL)
		return 0;
	p = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	shm = p;
	return 0;
}

/* Fibonacci hashing spreads consecutive user ids over the buckets. */
size_t
doorbell_bucket(int64_t user_id)
{
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull;

	return (size_t)((h >> 32) % DOORBELL_BUCKETS);
}

static _Atomic uint32_t *
bucket_of(int64_t user_id)
{
	return &shm->bucket[doorbell_bucket(user_id)];
}

/* Bucket b's counter now. */
uint32_t
doorbell_bucket_read(size_t b)
{
	return shm != NULL ? atomic_load(&shm->bucket[b]) : 0;
}

/* The user's bucket counter, to hand to doorbell_wait() later. */
uint32_t
doorbell_read(int64_t user_id)
{
	if (shm == NULL)
		return 0;
	return atomic_load(bucket_of(user_id));
}

static void
wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL,
	    0);
}

/* Wake every poll waiting on user's bucket, in every process. */
void
doorbell_ring(int64_t user_id)
{
	_Atomic uint32_t *b;

	if (shm == NULL)
		return;
	b = bucket_of(user_id);
	atomic_fetch_add(b, 1);
	wake(b);
	atomic_fetch_add(&shm->any, 1);
	wake(&shm->any);
}

/* Ring every bucket (a transaction touching many users, a shutdown). */
void
doorbell_ring_all(void)
{
	size_t	 i;

	if (shm == NULL)
		return;
	for (i = 0; i < DOORBELL_BUCKETS; i++) {
		atomic_fetch_add(&shm->bucket[i], 1);
		wake(&shm->bucket[i]);
	}
	atomic_fetch_add(&shm->any, 1);
	wake(&shm->any);
}

/* The any-ring counter, to hand to doorbell_any_wait() later. */
uint32_t
doorbell_any_read(void)
{
	return shm != NULL ? atomic_load(&shm->any) : 0;
}

/*
 * Sleep until some bucket rings after the any-ring counter read `seen`,
 * at most timeout_ms (-1: no limit).  Returns 1 when it moved (or may
 * have), 0 on timeout.
 */
int
doorbell_any_wait(uint32_t seen, int64_t timeout_ms)
{
	struct timespec	 ts;
	long		 rc;

	if (shm == NULL)
		return 0;
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (timeout_ms % 1000) * 1000000;
	rc = syscall(SYS_futex, (uint32_t *)&shm->any, FUTEX_WAIT, seen,
	    timeout_ms >= 0 ? &ts : NULL, NULL, 0);
	if (rc == -1 && errno == ETIMEDOUT)
		return 0;
	return 1;
}

/*
 * Sleep while user's counter still reads `seen`, at most timeout_ms.
 * Returns 1 when the counter moved (or may have: a signal, a stopping
 * worker), 0 on timeout.  Costs no CPU while asleep.  The kernel compares
 * the counter with `seen` under its futex lock before sleeping, so a ring
 * after doorbell_read() is never lost, whatever the process.  Without
 * doorbell_init() (a tool, a test) it sleeps the timeout and returns 1:
 * the caller looks again, but never spins.
 */
int
doorbell_wait(int64_t user_id, uint32_t seen, int64_t timeout_ms)
{
	struct timespec	 ts;
	_Atomic uint32_t *b;
	long		 rc;

	if (doorbell_stopping())
		return 1;
	if (timeout_ms < 0)
		timeout_ms = 0;
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (timeout_ms % 1000) * 1000000;
	if (shm == NULL) {
		nanosleep(&ts, NULL);
		return 1;
	}
	b = bucket_of(user_id);
	rc = syscall(SYS_futex, (uint32_t *)b, FUTEX_WAIT, seen, &ts, NULL,
	    0);
	if (rc == -1 && errno == ETIMEDOUT)
		return 0;
	return 1;
}

/* This worker is stopping: wake its waiters so they answer now. */
void
doorbell_shutdown(void)
{
	atomic_store(&local_stopping, 1);
	doorbell_ring_all();
}

int
doorbell_stopping(void)
{
	return atomic_load(&local_stopping);
}

/*
 * The watcher thread: one per process, asleep in epoll_wait until the
 * peer of a watched connection hangs up, then rings the bucket of the
 * user stored with it.  Only the user id travels in the event, so an
 * event read just before its poll unwatched and returned costs at most a
 * spurious ring, never a dangling pointer.
 */
static void *
watch_main(void *arg)
{
	struct epoll_event ev[WATCH_BATCH];
	int		 i, n;

	(void)arg;
	for (;;) {
		n = epoll_wait(watch_fd, ev, WATCH_BATCH, -1);
		if (n == -1 && errno != EINTR)
			break;
		for (i = 0; i < n; i++)
			doorbell_ring((int64_t)ev[i].data.u64);
	}
	return NULL;
}

static void
watch_start(void)
{
	pthread_attr_t	 attr;
	pthread_t	 tid;
	sigset_t	 all, old;
	int		 fd;

	if ((fd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return;
	watch_fd = fd;
	/* no signal is meant for this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WATCH_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, watch_main, NULL) != 0) {
		close(fd);
		watch_fd = -1;
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Watch fd, the connection of a waiting long poll, so that the poll need
 * not wake in slices to see whether its client went away: when the peer
 * hangs up (nginx closes the FastCGI connection because the client left),
 * user_id's bucket rings and the poll, awake, finds its connection gone.
 * Fires once; calling it again re-arms it.  Returns 0, or -1 when this
 * process cannot watch (the caller must then wake in slices).
 */
int
doorbell_watch(int fd, int64_t user_id)
{
	struct epoll_event ev;

	pthread_once(&watch_once, watch_start);
	if (watch_fd == -1 || shm == NULL)
		return -1;
	ev.events = EPOLLRDHUP | EPOLLONESHOT;
	ev.data.u64 = (uint64_t)user_id;
	if (epoll_ctl(watch_fd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	if (errno == EEXIST && epoll_ctl(watch_fd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	return -1;
}

/* Stop watching fd; call before the connection is closed. */
void
doorbell_unwatch(int fd)
{
	struct epoll_event ev;

	if (watch_fd != -1)
		epoll_ctl(watch_fd, EPOLL_CTL_DEL, fd, &ev);
}
