#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "http.h"
#include "stats.h"

const double stats_bucket_le[STATS_NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 10, 60
};

/* Per-second slots of the last minute, and of latency for percentiles. */
#define WINDOW_S	60
#define LAT_BUCKETS	64	/* log2-spaced microsecond buckets */

struct second {
	_Atomic int64_t	 sec;
	_Atomic uint64_t requests;
	_Atomic uint64_t errors;
	_Atomic uint64_t lat[LAT_BUCKETS];
};

struct stats_shm {
	int64_t		 started_ms;
	_Atomic uint64_t requests_total;
	_Atomic uint64_t by_status[600];
	_Atomic uint64_t hist[STATS_NBUCKETS + 1];
	_Atomic uint64_t sum_us;
	_Atomic int64_t	 longpoll_waiting;
	struct second	 win[WINDOW_S];
	struct {
		_Atomic int64_t	 pid;
		_Atomic int64_t	 started_ms;
		_Atomic uint64_t requests;
	} workers[STATS_MAX_WORKERS];
};

static struct stats_shm *shm;
static int my_slot = -1;

int
stats_init(void)
{
	void	*p;

	if (shm != NULL)
		return 0;
	p = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	shm = p;
	shm->started_ms = now_ms();
	return 0;
}

/* This process is worker number slot (0-based). */
void
stats_worker_start(int slot, pid_t pid)
{
	if (shm == NULL || slot < 0 || slot >= STATS_MAX_WORKERS)
		return;
	my_slot = slot;
	atomic_store(&shm->workers[slot].pid, pid);
	atomic_store(&shm->workers[slot].started_ms, now_ms());
	atomic_store(&shm->workers[slot].requests, 0);
}

static int
lat_bucket(int64_t us)
{
	int	 b = 0;

	while (us > 1 && b < LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

/* The per-second slot for now, cleared when it last held an older second. */
static struct second *
second_now(void)
{
	int64_t		 sec = now_ms() / 1000, old;
	struct second	*s = &shm->win[sec % WINDOW_S];
	int		 i;

	old = atomic_load(&s->sec);
	if (old != sec && atomic_compare_exchange_strong(&s->sec, &old, sec)) {
		atomic_store(&s->requests, 0);
		atomic_store(&s->errors, 0);
		for (i = 0; i < LAT_BUCKETS; i++)
			atomic_store(&s->lat[i], 0);
	}
	return s;
}

void
stats_request(int status, int64_t dur_us)
{
	struct second	*s;
	double		 secs = (double)dur_us / 1e6;
	int		 i;

	if (shm == NULL)
		return;
	atomic_fetch_add(&shm->requests_total, 1);
	if (status >= 100 && status < 600)
		atomic_fetch_add(&shm->by_status[status], 1);
	for (i = 0; i < STATS_NBUCKETS && secs > stats_bucket_le[i]; i++)
		;
	atomic_fetch_add(&shm->hist[i], 1);
	atomic_fetch_add(&shm->sum_us, (uint64_t)(dur_us > 0 ? dur_us : 0));
	if (my_slot >= 0)
		atomic_fetch_add(&shm->workers[my_slot].requests, 1);
	s = second_now();
	atomic_fetch_add(&s->requests, 1);
	if (status >= 500)
		atomic_fetch_add(&s->errors, 1);
	atomic_fetch_add(&s->lat[lat_bucket(dur_us)], 1);
}

void
stats_longpoll(int delta)
{
	if (shm != NULL)
		atomic_fetch_add(&shm->longpoll_waiting, delta);
}

static double
percentile(const uint64_t *lat, uint64_t total, double q)
{
	uint64_t	 want, acc = 0;
	int		 b;

	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total + 0.5);
	if (want == 0)
		want = 1;
	for (b = 0; b < LAT_BUCKETS; b++) {
		acc += lat[b];
		if (acc >= want)
			/* the bucket's upper bound, 2^(b+1) us, in ms */
			return (double)((int64_t)1 << (b + 1)) / 1000.0;
	}
	return 0;
}

void
stats_read(struct stats_snapshot *out)
{
	uint64_t	 lat[LAT_BUCKETS];
	int64_t		 sec = now_ms() / 1000;
	int		 i, j;

	memset(out, 0, sizeof(*out));
	memset(lat, 0, sizeof(lat));
	if (shm == NULL)
		return;
	out->started_ms = shm->started_ms;
	out->requests_total = atomic_load(&shm->requests_total);
	for (i = 0; i < 600; i++) {
		out->by_status[i] = atomic_load(&shm->by_status[i]);
		out->by_class[i / 100] += out->by_status[i];
	}
	for (i = 0; i <= STATS_NBUCKETS; i++)
		out->hist[i] = atomic_load(&shm->hist[i]);
	out->sum_s = (double)atomic_load(&shm->sum_us) / 1e6;
	out->longpoll_waiting = atomic_load(&shm->longpoll_waiting);
	for (i = 0; i < WINDOW_S; i++) {
		struct second *s = &shm->win[i];
		int64_t t = atomic_load(&s->sec);
		if (t <= sec - WINDOW_S || t > sec)
			continue;
		out->requests_last_min += atomic_load(&s->requests);
		out->errors_last_min += atomic_load(&s->errors);
		for (j = 0; j < LAT_BUCKETS; j++)
			lat[j] += atomic_load(&s->lat[j]);
	}
	out->p50_ms = percentile(lat, out->requests_last_min, 0.50);
	out->p95_ms = percentile(lat, out->requests_last_min, 0.95);
	out->p99_ms = percentile(lat, out->requests_last_min, 0.99);
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		int64_t pid = atomic_load(&shm->workers[i].pid);
		if (pid == 0)
			continue;
		out->workers[out->nworkers].pid = pid;
		out->workers[out->nworkers].started_ms =
		    atomic_load(&shm->workers[i].started_ms);
		out->workers[out->nworkers].requests =
		    atomic_load(&shm->workers[i].requests);
		out->nworkers++;
	}
}
