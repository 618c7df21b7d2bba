#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"

struct doorbell_shm {
	_Atomic uint32_t bucket[DOORBELL_BUCKETS];
};

static struct doorbell_shm *shm;
/* Per process: set on SIGTERM so this worker's polls answer at once. */
static _Atomic int local_stopping;

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

static _Atomic uint32_t *
bucket_of(int64_t user_id)
{
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull;

	return &shm->bucket[(h >> 32) % DOORBELL_BUCKETS];
}

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

void
doorbell_ring(int64_t user_id)
{
	_Atomic uint32_t *b;

	if (shm == NULL)
		return;
	b = bucket_of(user_id);
	atomic_fetch_add(b, 1);
	wake(b);
}

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
}

/*
 * Sleep while user's counter still reads `seen`, at most timeout_ms.
 * Returns 1 when the counter moved (or may have: a signal), 0 on timeout.
 * Costs no CPU while asleep.
 */
int
doorbell_wait(int64_t user_id, uint32_t seen, int64_t timeout_ms)
{
	struct timespec	 ts;
	_Atomic uint32_t *b;
	long		 rc;

	if (shm == NULL || doorbell_stopping())
		return 1;
	if (timeout_ms < 0)
		timeout_ms = 0;
	b = bucket_of(user_id);
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (timeout_ms % 1000) * 1000000;
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
