#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "http.h"
#include "clock.h"
#include "stats.h"

const double stats_bucket_le[STATS_NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 10, 60
};

/*
 * The last minute is kept as one slot per second of the monotonic clock.
 * Each slot holds its own latency histogram for the percentiles: below
 * 4 us one bucket per microsecond, above it four buckets per power of two
 * (at most 25 % wide), so a percentile is off by at most a few per cent
 * after interpolating inside its bucket.
 */
#define WINDOW_S	60
#define LAT_BUCKETS	160	/* up to 2^40 us, about 12 days */

struct second {
	_Atomic int64_t	 sec;
	_Atomic uint64_t requests;
	_Atomic uint64_t errors;
	_Atomic uint64_t lat[LAT_BUCKETS];
};

struct stats_shm {
	int64_t		 started_ms;
	int64_t		 started_mono_us;
	_Atomic uint64_t requests_total;
	_Atomic uint64_t by_status[600];
	_Atomic uint64_t hist[STATS_NBUCKETS + 1];
	_Atomic uint64_t sum_us;
	_Atomic uint64_t longpolls_total;
	struct second	 win[WINDOW_S];
	struct {
		_Atomic int64_t	 pid;
		_Atomic int64_t	 started_ms;
		_Atomic int64_t	 started_mono_us;
		_Atomic uint64_t requests;
		/* polls waiting in this worker: a worker that dies takes
		 * its count with it when its slot restarts */
		_Atomic int64_t	 waiting;
	} workers[STATS_MAX_WORKERS];
};

static struct stats_shm *shm;
static int my_slot = -1;

/*
 * Map the counters; once, in the master before forking, so that every
 * worker shares them.  Returns 0 or -1.
 */
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
	shm->started_mono_us = mono_us();
	return 0;
}

/* This process is worker number slot (0-based); its row starts afresh. */
void
stats_worker_start(int slot, pid_t pid)
{
	if (shm == NULL || slot < 0 || slot >= STATS_MAX_WORKERS)
		return;
	my_slot = slot;
	atomic_store(&shm->workers[slot].requests, 0);
	atomic_store(&shm->workers[slot].waiting, 0);
	atomic_store(&shm->workers[slot].started_ms, now_ms());
	atomic_store(&shm->workers[slot].started_mono_us, mono_us());
	atomic_store(&shm->workers[slot].pid, pid);
}

static int
lat_bucket(int64_t us)
{
	int	 e, sub, b;

	if (us < 4)
		return us < 0 ? 0 : (int)us;
	e = 63 - __builtin_clzll((unsigned long long)us);
	sub = (int)((us >> (e - 2)) & 3);
	b = 4 + (e - 2) * 4 + sub;
	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* The bounds of bucket b in microseconds: [*lo, *hi). */
static void
lat_bounds(int b, double *lo, double *hi)
{
	int	 e, sub;

	if (b < 4) {
		*lo = b;
		*hi = b + 1;
		return;
	}
	e = (b - 4) / 4 + 2;
	sub = (b - 4) % 4;
	*lo = (double)((int64_t)(4 + sub) << (e - 2));
	*hi = (double)((int64_t)(5 + sub) << (e - 2));
}

/*
 * The slot for the current second, cleared when it last held an older
 * second.  A request landing between the claim and the clearing may be
 * lost from the per-minute figures; the totals never lose one.
 */
static struct second *
second_now(void)
{
	int64_t		 sec = mono_us() / 1000000, old;
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

/* Count one answered request; called by the dispatcher for every one. */
void
stats_request(int status, int64_t dur_us, int waited)
{
	struct second	*s;
	double		 secs;
	int		 i, was_poll = waited;

	if (shm == NULL)
		return;
	if (dur_us < 0)
		dur_us = 0;
	atomic_fetch_add(&shm->requests_total, 1);
	if (status >= 100 && status < 600)
		atomic_fetch_add(&shm->by_status[status], 1);
	if (my_slot >= 0)
		atomic_fetch_add(&shm->workers[my_slot].requests, 1);
	if (was_poll)
		atomic_fetch_add(&shm->longpolls_total, 1);
	else {
		secs = (double)dur_us / 1e6;
		for (i = 0; i < STATS_NBUCKETS && secs > stats_bucket_le[i];
		    i++)
			;
		atomic_fetch_add(&shm->hist[i], 1);
		atomic_fetch_add(&shm->sum_us, (uint64_t)dur_us);
	}
	s = second_now();
	atomic_fetch_add(&s->requests, 1);
	if (status >= 500)
		atomic_fetch_add(&s->errors, 1);
	if (!was_poll)
		atomic_fetch_add(&s->lat[lat_bucket(dur_us)], 1);
}

/*
 * A long poll starts (+1) or stops (-1) waiting.
 */
void
stats_longpoll(int delta)
{
	if (shm != NULL && my_slot >= 0)
		atomic_fetch_add(&shm->workers[my_slot].waiting, delta);
}

/*
 * The q-quantile (0..1) of total samples in lat, in milliseconds,
 * interpolated linearly inside the bucket it falls in; 0 without samples.
 */
static double
percentile(const uint64_t *lat, uint64_t total, double q)
{
	double		 rank, lo, hi;
	uint64_t	 acc = 0;
	int		 b;

	if (total == 0)
		return 0;
	rank = q * (double)total;
	if (rank < 1)
		rank = 1;
	for (b = 0; b < LAT_BUCKETS; b++) {
		if (lat[b] == 0)
			continue;
		if ((double)(acc + lat[b]) >= rank) {
			lat_bounds(b, &lo, &hi);
			return (lo + (hi - lo) * (rank - (double)acc) /
			    (double)lat[b]) / 1000.0;
		}
		acc += lat[b];
	}
	/* counts moved while we read: the highest bucket seen */
	for (b = LAT_BUCKETS - 1; b > 0 && lat[b] == 0; b--)
		;
	lat_bounds(b, &lo, &hi);
	return hi / 1000.0;
}

/* Copy the counters into out (all zero before stats_init). */
void
stats_read(struct stats_snapshot *out)
{
	uint64_t	 lat[LAT_BUCKETS], lat_n = 0;
	int64_t		 sec, mono = mono_us();
	int		 i, j;

	memset(out, 0, sizeof(*out));
	memset(lat, 0, sizeof(lat));
	if (shm == NULL)
		return;
	sec = mono / 1000000;
	out->started_ms = shm->started_ms;
	out->uptime_s = (mono - shm->started_mono_us) / 1000000;
	out->requests_total = atomic_load(&shm->requests_total);
	for (i = 0; i < 600; i++) {
		out->by_status[i] = atomic_load(&shm->by_status[i]);
		out->by_class[i / 100] += out->by_status[i];
	}
	for (i = 0; i <= STATS_NBUCKETS; i++) {
		out->hist[i] = atomic_load(&shm->hist[i]);
		out->hist_count += out->hist[i];
	}
	out->sum_s = (double)atomic_load(&shm->sum_us) / 1e6;
	out->longpolls_total = atomic_load(&shm->longpolls_total);
	out->longpoll_waiting = 0;
	for (i = 0; i < STATS_MAX_WORKERS; i++)
		out->longpoll_waiting += atomic_load(&shm->workers[i].waiting);
	if (out->longpoll_waiting < 0)
		out->longpoll_waiting = 0;
	for (i = 0; i < WINDOW_S; i++) {
		struct second *s = &shm->win[i];
		int64_t t = atomic_load(&s->sec);

		if (t <= sec - WINDOW_S || t > sec)
			continue;
		out->requests_last_min += atomic_load(&s->requests);
		out->errors_last_min += atomic_load(&s->errors);
		for (j = 0; j < LAT_BUCKETS; j++) {
			uint64_t n = atomic_load(&s->lat[j]);
			lat[j] += n;
			lat_n += n;
		}
	}
	out->p50_ms = percentile(lat, lat_n, 0.50);
	out->p95_ms = percentile(lat, lat_n, 0.95);
	out->p99_ms = percentile(lat, lat_n, 0.99);
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		struct stats_worker *w = &out->workers[out->nworkers];
		int64_t pid = atomic_load(&shm->workers[i].pid);

		if (pid == 0)
			continue;
		w->slot = i;
		w->pid = pid;
		w->started_ms = atomic_load(&shm->workers[i].started_ms);
		w->uptime_s = (mono - atomic_load(
		    &shm->workers[i].started_mono_us)) / 1000000;
		if (w->uptime_s < 0)
			w->uptime_s = 0;
		w->requests = atomic_load(&shm->workers[i].requests);
		out->nworkers++;
	}
}
