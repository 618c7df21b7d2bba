/*
 * Unit tests of lib/ratelimit: the per-device token bucket, and the one
 * per service key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "ratelimit.h"

static int
setup(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.rate_per_s = 5;
	cfg.rate_burst = 10;
	return ratelimit_init();
}

static void
test_burst_then_limited(void **state)
{
	double	 retry;
	int	 i;

	(void)state;
	for (i = 0; i < 10; i++)
		assert_int_equal(ratelimit_take(1, "phone", &retry), 0);
	assert_int_equal(ratelimit_take(1, "phone", &retry), -1);
	assert_true(retry > 0 && retry <= 0.2 + 1e-6);
	/* another device of the same user, and the same id of another user */
	assert_int_equal(ratelimit_take(1, "laptop", &retry), 0);
	assert_int_equal(ratelimit_take(2, "phone", &retry), 0);
	/* 5 per second: one token back after 0.2 s */
	usleep(250000);
	assert_int_equal(ratelimit_take(1, "phone", &retry), 0);
	assert_int_equal(ratelimit_take(1, "phone", &retry), -1);
}

static void
test_zero_rate_is_off(void **state)
{
	double	 retry;
	int	 i;

	(void)state;
	cfg.rate_per_s = 0;
	for (i = 0; i < 1000; i++)
		assert_int_equal(ratelimit_take(3, "bot", &retry), 0);
	assert_true(retry == 0);
	cfg.rate_per_s = 5;
}

/* Every worker process draws from the same bucket. */
static void
test_shared_across_fork(void **state)
{
	double	 retry;
	pid_t	 pid;
	int	 st, i;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (i = 0; i < 10; i++)
			if (ratelimit_take(4, "tablet", &retry) != 0)
				_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(ratelimit_take(4, "tablet", &retry), -1);
}

/*
 * The bucket is exact: many devices that drained their buckets never
 * refill one another's by pushing them out of the table (the old table's
 * 8 ways a set let a ninth device reset its neighbours).  20,000 busy
 * devices, then each one's next request is still refused, while a
 * device never seen before is served.
 */
static void
test_busy_devices_never_reset(void **state)
{
	char	 dev[32];
	double	 retry;
	int	 i, j, served = 0;

	(void)state;
	cfg.rate_per_s = 1;	/* nothing refills during the test */
	for (i = 0; i < 20000; i++) {
		snprintf(dev, sizeof(dev), "busy-%d", i);
		for (j = 0; j < 10; j++)
			assert_int_equal(ratelimit_take(9, dev, &retry), 0);
	}
	for (i = 0; i < 20000; i++) {
		snprintf(dev, sizeof(dev), "busy-%d", i);
		served += ratelimit_take(9, dev, &retry) == 0;
	}
	assert_int_equal(served, 0);
	assert_int_equal(ratelimit_take(9, "a-new-device", &retry), 0);
	cfg.rate_per_s = 5;
}

/*
 * A service key's bucket has the service rate and burst, is its own
 * (not another key's, not a device's of the same name), and 0 turns it
 * off.
 */
static void
test_service_keys(void **state)
{
	double	 retry;
	int	 i;

	(void)state;
	cfg.service_rate_per_s = 4;
	cfg.service_rate_burst = 6;
	for (i = 0; i < 6; i++)
		assert_int_equal(ratelimit_take_service("backend", &retry), 0);
	assert_int_equal(ratelimit_take_service("backend", &retry), -1);
	assert_true(retry > 0 && retry <= 0.25 + 1e-6);
	/* another key, and a device named like the key, are not slowed */
	assert_int_equal(ratelimit_take_service("other", &retry), 0);
	assert_int_equal(ratelimit_take(1, "backend", &retry), 0);
	/* a device's limit leaves the keys alone */
	for (i = 0; i < 10; i++)
		(void)ratelimit_take(5, "drained", &retry);
	assert_int_equal(ratelimit_take(5, "drained", &retry), -1);
	assert_int_equal(ratelimit_take_service("drained", &retry), 0);
	/* 4 per second: one token back after 0.25 s */
	usleep(300000);
	assert_int_equal(ratelimit_take_service("backend", &retry), 0);
	assert_int_equal(ratelimit_take_service("backend", &retry), -1);
	cfg.service_rate_per_s = 0;
	for (i = 0; i < 100; i++)
		assert_int_equal(ratelimit_take_service("backend", &retry), 0);
	assert_true(retry == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_limited),
		cmocka_unit_test(test_zero_rate_is_off),
		cmocka_unit_test(test_shared_across_fork),
		cmocka_unit_test(test_busy_devices_never_reset),
		cmocka_unit_test(test_service_keys),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
