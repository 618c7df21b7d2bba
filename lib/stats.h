/*
 * stats: counters every worker process adds to, in shared memory mapped by
 * the master before forking: requests by status, a latency histogram,
 * requests and errors of the last minute with latency percentiles, long
 * polls waiting now, and a row per worker process.  Read by
 * /api/v1/admin/stats and /metrics.
 *
 * A long poll that waited for events is counted as a request (by status,
 * per minute, per worker) but kept out of the latency histogram and the
 * percentiles: its duration is the client's timeout, not the server's
 * speed.  It is counted in longpolls_total instead.
 */
#ifndef TANDEM_STATS_H
#define TANDEM_STATS_H

#include <stdint.h>
#include <sys/types.h>

#define STATS_MAX_WORKERS	64
/* Upper bounds of the latency histogram buckets, in seconds. */
#define STATS_NBUCKETS		14

extern const double stats_bucket_le[STATS_NBUCKETS];

struct stats_worker {
	int		 slot;
	int64_t		 pid;
	int64_t		 started_ms;	/* wall clock */
	int64_t		 uptime_s;
	uint64_t	 requests;
};

struct stats_snapshot {
	int64_t		 started_ms;	/* wall clock, when the master started */
	int64_t		 uptime_s;
	uint64_t	 requests_total;
	uint64_t	 by_class[6];		/* 1xx..5xx by status / 100 */
	uint64_t	 by_status[600];
	uint64_t	 hist[STATS_NBUCKETS + 1];	/* per bucket; last is +Inf */
	uint64_t	 hist_count;		/* requests in the histogram */
	double		 sum_s;			/* their durations' sum */
	uint64_t	 longpolls_total;	/* polls that waited */
	int64_t		 longpoll_waiting;
	uint64_t	 requests_last_min;
	uint64_t	 errors_last_min;	/* 5xx answers */
	double		 p50_ms, p95_ms, p99_ms;
	int		 nworkers;
	struct stats_worker workers[STATS_MAX_WORKERS];
};

int	 stats_init(void);
void	 stats_worker_start(int slot, pid_t pid);
void	 stats_request(int status, int64_t dur_us, int waited);
void	 stats_longpoll(int delta);
void	 stats_read(struct stats_snapshot *);

#endif
