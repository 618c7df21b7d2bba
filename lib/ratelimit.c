#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "http.h"
#include "ratelimit.h"

#define RL_SETS		2048
#define RL_WAYS		8

struct rl_slot {
	uint64_t	 key;		/* 0 = free */
	double		 tokens;
	int64_t		 last_us;	/* monotonic */
};

struct rl_set {
	pthread_mutex_t	 lock;
	struct rl_slot	 slot[RL_WAYS];
};

static struct rl_set *sets;

/* Map the buckets; once in the master, before forking. */
int
ratelimit_init(void)
{
	pthread_mutexattr_t attr;
	void		*p;
	size_t		 i;

	if (sets != NULL)
		return 0;
	p = mmap(NULL, sizeof(struct rl_set) * RL_SETS, PROT_READ |
	    PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	sets = p;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	for (i = 0; i < RL_SETS; i++)
		pthread_mutex_init(&sets[i].lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return 0;
}

static uint64_t
key_of(int64_t user_id, const char *device_id)
{
	/* FNV-1a over the user id and the device id */
	uint64_t	 h = 1469598103934665603ull;
	size_t		 i;

	for (i = 0; i < sizeof(user_id); i++) {
		h ^= (uint64_t)((user_id >> (8 * i)) & 0xff);
		h *= 1099511628211ull;
	}
	for (; device_id != NULL && *device_id != '\0'; device_id++) {
		h ^= (unsigned char)*device_id;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

static void
lock_set(struct rl_set *s)
{
	if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&s->lock);
}

/*
 * Take one token from the device's bucket.  Returns 0 when allowed, -1
 * when the bucket is empty, with the seconds until the next token in
 * *retry_after_s.  A bucket evicted by a hash neighbour starts full again,
 * which errs on the side of serving.
 */
int
ratelimit_take(int64_t user_id, const char *device_id, double *retry_after_s)
{
	uint64_t	 key = key_of(user_id, device_id);
	struct rl_set	*s;
	struct rl_slot	*slot = NULL, *oldest;
	int64_t		 now = mono_us();
	double		 rate = (double)cfg.rate_per_s;
	double		 burst = (double)cfg.rate_burst;
	int		 i, rc = 0;

	*retry_after_s = 0;
	if (sets == NULL || cfg.rate_per_s <= 0)
		return 0;
	s = &sets[key % RL_SETS];
	lock_set(s);
	oldest = &s->slot[0];
	for (i = 0; i < RL_WAYS; i++) {
		if (s->slot[i].key == key) {
			slot = &s->slot[i];
			break;
		}
		if (s->slot[i].last_us < oldest->last_us)
			oldest = &s->slot[i];
	}
	if (slot == NULL) {
		slot = oldest;
		slot->key = key;
		slot->tokens = burst;
		slot->last_us = now;
	}
	slot->tokens += (double)(now - slot->last_us) / 1e6 * rate;
	if (slot->tokens > burst)
		slot->tokens = burst;
	slot->last_us = now;
	if (slot->tokens >= 1.0)
		slot->tokens -= 1.0;
	else {
		/* at least 10 ms, so a rounded-up Retry-After is never 0 */
		*retry_after_s = (1.0 - slot->tokens) / rate;
		if (*retry_after_s < 0.01)
			*retry_after_s = 0.01;
		rc = -1;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
