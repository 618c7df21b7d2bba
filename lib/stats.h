/*
 * stats: counters every worker process adds to, in shared memory mapped by
 * the master before forking: requests and errors per minute, a latency
 * histogram, waiting long polls, and a row per worker process.  Read by
 * /api/v1/admin/stats and /metrics.
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
	int64_t		 pid;
	int64_t		 started_ms;
	uint64_t	 requests;
};

struct stats_snapshot {
	int64_t		 started_ms;
	uint64_t	 requests_total;
	uint64_t	 by_class[6];		/* 1xx..5xx by status / 100 */
	uint64_t	 by_status[600];
	uint64_t	 hist[STATS_NBUCKETS + 1];	/* last is +Inf */
	double		 sum_s;
	int64_t		 longpoll_waiting;
	uint64_t	 requests_last_min;
	uint64_t	 errors_last_min;
	double		 p50_ms, p95_ms, p99_ms;
	int		 nworkers;
	struct stats_worker workers[STATS_MAX_WORKERS];
};

int	 stats_init(void);
void	 stats_worker_start(int slot, pid_t pid);
void	 stats_request(int status, int64_t dur_us);
void	 stats_longpoll(int delta);
void	 stats_read(struct stats_snapshot *);

#endif
