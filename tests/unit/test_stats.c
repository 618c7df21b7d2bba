/* Unit tests of lib/stats: shared counters, histogram, percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "stats.h"

static void
test_counts_and_percentiles(void **state)
{
	struct stats_snapshot *s;
	uint64_t	 cum = 0;
	int		 i;

	(void)state;
	assert_int_equal(stats_init(), 0);
	stats_worker_start(0, getpid());
	for (i = 0; i < 90; i++)
		stats_request(200, 1000, 0);		/* 1 ms */
	for (i = 0; i < 9; i++)
		stats_request(404, 10000, 0);		/* 10 ms */
	stats_request(503, 100000, 0);			/* 100 ms */

	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	stats_read(s);
	assert_int_equal(s->requests_total, 100);
	assert_int_equal(s->requests_last_min, 100);
	assert_int_equal(s->errors_last_min, 1);
	assert_int_equal(s->by_status[200], 90);
	assert_int_equal(s->by_status[404], 9);
	assert_int_equal(s->by_class[5], 1);
	assert_int_equal(s->hist_count, 100);
	/* 1 ms lands in le=0.001 (index 1), 10 ms in le=0.01 (4) */
	assert_int_equal(s->hist[1], 90);
	assert_int_equal(s->hist[4], 9);
	assert_int_equal(s->hist[7], 1);		/* le=0.1 */
	for (i = 0; i <= STATS_NBUCKETS; i++)
		cum += s->hist[i];
	assert_int_equal(cum, 100);
	assert_true(s->sum_s > 0.279 && s->sum_s < 0.281);
	/* buckets are at most 25 % wide */
	assert_true(s->p50_ms >= 0.9 && s->p50_ms <= 1.25);
	assert_true(s->p95_ms >= 9.0 && s->p95_ms <= 12.5);
	assert_true(s->p99_ms >= 9.0 && s->p99_ms <= 12.5);
	assert_int_equal(s->nworkers, 1);
	assert_int_equal(s->workers[0].pid, getpid());
	assert_int_equal(s->workers[0].requests, 100);
	assert_true(s->uptime_s >= 0 && s->uptime_s < 5);
	free(s);
}

static void
test_longpoll_kept_out_of_latency(void **state)
{
	struct stats_snapshot *a, *b;

	(void)state;
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	stats_read(a);
	stats_longpoll(1);
	stats_read(b);
	assert_int_equal(b->longpoll_waiting, a->longpoll_waiting + 1);
	stats_longpoll(-1);
	stats_request(200, 25000000, 1);	/* waited 25 s */
	stats_request(200, 2000, 0);		/* the next one counts again */
	stats_read(b);
	assert_int_equal(b->longpoll_waiting, a->longpoll_waiting);
	assert_int_equal(b->longpolls_total, a->longpolls_total + 1);
	assert_int_equal(b->requests_total, a->requests_total + 2);
	assert_int_equal(b->requests_last_min, a->requests_last_min + 2);
	assert_int_equal(b->hist_count, a->hist_count + 1);
	assert_int_equal(b->hist[STATS_NBUCKETS], a->hist[STATS_NBUCKETS]);
	assert_true(b->p99_ms < 1000);
	free(a);
	free(b);
}

/* A forked process adds to the same counters (MAP_SHARED). */
static void
test_shared_across_fork(void **state)
{
	struct stats_snapshot *a, *b;
	pid_t		 pid;
	int		 st, i;

	(void)state;
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	stats_read(a);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		stats_worker_start(1, getpid());
		for (i = 0; i < 7; i++)
			stats_request(201, 500, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	stats_read(b);
	assert_int_equal(b->requests_total, a->requests_total + 7);
	assert_int_equal(b->by_status[201], a->by_status[201] + 7);
	assert_int_equal(b->nworkers, 2);
	assert_int_equal(b->workers[1].pid, pid);
	assert_int_equal(b->workers[1].requests, 7);
	free(a);
	free(b);
}

/* A worker that dies with polls waiting takes its count with it. */
static void
test_waiting_forgotten_on_restart(void **state)
{
	struct stats_snapshot *a;

	(void)state;
	a = calloc(1, sizeof(*a));
	assert_non_null(a);
	stats_worker_start(2, getpid());
	stats_longpoll(1);
	stats_longpoll(1);
	stats_read(a);
	assert_int_equal(a->longpoll_waiting, 2);
	/* the worker is killed; its slot restarts */
	stats_worker_start(2, getpid());
	stats_read(a);
	assert_int_equal(a->longpoll_waiting, 0);
	free(a);
	stats_worker_start(0, getpid());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_percentiles),
		cmocka_unit_test(test_longpoll_kept_out_of_latency),
		cmocka_unit_test(test_shared_across_fork),
		cmocka_unit_test(test_waiting_forgotten_on_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
