#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "clock.h"
#include "http.h"
#include "keyhash.h"
#include "log.h"
#include "ratelimit.h"

/*
 * Buckets live in sets of RL_WAYS; a device's key may sit in either of
 * two sets (two choices from its keyed hash), which keeps every set far
 * from full.  A bucket is only ever given up when it has refilled to its
 * burst by now: a full bucket and a fresh one are the same state, so
 * forgetting it loses nothing.  A device is never refilled because other
 * devices were busy.
 */
#define RL_SETS		8192		/* a power of two */
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
	if (keyhash_init() == -1)
		return -1;
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

static void
lock_set(struct rl_set *s)
{
	if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&s->lock);
}

/* The bucket's tokens as of now (refilled, at most burst). */
static double
tokens_now(const struct rl_slot *slot, int64_t now, double rate,
    double burst)
{
	double	 t = slot->tokens + (double)(now - slot->last_us) / 1e6 * rate;

	return t > burst ? burst : t;
}

/*
 * The slot of key in sets a and b (both locked): its own, else a free
 * one or one whose bucket is full by now (forgetting it loses nothing),
 * taken for key and full.  NULL when every slot of both sets holds a
 * bucket that is still refilling.
 */
static struct rl_slot *
slot_of(struct rl_set *a, struct rl_set *b, uint64_t key, int64_t now,
    double rate, double burst)
{
	struct rl_set	*s[2] = { a, b };
	struct rl_slot	*free_slot = NULL, *full = NULL, *e;
	int		 i, k;

	for (k = 0; k < 2; k++)
		for (i = 0; i < RL_WAYS; i++) {
			e = &s[k]->slot[i];
			if (e->key == key)
				return e;
			if (e->key == 0) {
				if (free_slot == NULL)
					free_slot = e;
			} else if (full == NULL &&
			    tokens_now(e, now, rate, burst) >= burst)
				full = e;
		}
	if ((e = free_slot != NULL ? free_slot : full) == NULL)
		return NULL;
	e->key = key;
	e->tokens = burst;
	e->last_us = now;
	return e;
}

/*
 * Take one token from the bucket of key (rate tokens a second, at most
 * burst).  Returns 0 when allowed, -1 when the bucket is empty, with the
 * seconds until the next token in *retry_after_s.  In the one case the
 * table has no room (every slot the key may use holds a bucket still
 * refilling: an overloaded host) the request is refused for a second
 * rather than given a fresh bucket.
 */
static int
bucket_take(uint64_t key, double rate, double burst, double *retry_after_s)
{
	static _Atomic int64_t warned_us;
	struct rl_set	*a, *b, *first, *second;
	struct rl_slot	*slot;
	int64_t		 now = mono_us();
	int		 rc = 0;

	*retry_after_s = 0;
	a = &sets[key & (RL_SETS - 1)];
	b = &sets[(key >> 32) & (RL_SETS - 1)];
	/* two locks, always in address order */
	first = a < b ? a : b;
	second = a < b ? b : a;
	lock_set(first);
	if (second != first)
		lock_set(second);
	slot = slot_of(a, b, key, now, rate, burst);
	if (slot == NULL) {
		*retry_after_s = 1;
		rc = -1;
	} else {
		slot->tokens = tokens_now(slot, now, rate, burst);
		slot->last_us = now;
		if (slot->tokens >= 1.0)
			slot->tokens -= 1.0;
		else {
			/* at least 10 ms, so a rounded-up Retry-After is
			 * never 0 */
			*retry_after_s = (1.0 - slot->tokens) / rate;
			if (*retry_after_s < 0.01)
				*retry_after_s = 0.01;
			rc = -1;
		}
	}
	if (second != first)
		pthread_mutex_unlock(&second->lock);
	pthread_mutex_unlock(&first->lock);
	if (slot == NULL && now - warned_us > 10000000) {
		warned_us = now;
		log_msg(LOG_WARN, "rate limiter: no room for a bucket; "
		    "refused for a second");
	}
	return rc;
}

/* Take one token from the device's bucket (bucket_take). */
int
ratelimit_take(int64_t user_id, const char *device_id, double *retry_after_s)
{
	*retry_after_s = 0;
	if (sets == NULL || cfg.rate_per_s <= 0)
		return 0;
	return bucket_take(keyhash_device(user_id, device_id),
	    (double)cfg.rate_per_s, (double)cfg.rate_burst, retry_after_s);
}

/*
 * Take one token from service key name's bucket (bucket_take).  Its
 * bucket sits in the devices' table under user id -1, which no user
 * has, so a key never shares a device's bucket.
 */
int
ratelimit_take_service(const char *name, double *retry_after_s)
{
	*retry_after_s = 0;
	if (sets == NULL || cfg.service_rate_per_s <= 0)
		return 0;
	return bucket_take(keyhash_device(-1, name),
	    (double)cfg.service_rate_per_s, (double)cfg.service_rate_burst,
	    retry_after_s);
}
