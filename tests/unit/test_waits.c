/*
 * Unit tests of lib/waits: the per-device and per-user caps on waiting
 * polls, counts shared by worker slots, and a dead worker's share
 * forgotten when its slot restarts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "config.h"
#include "keyhash.h"
#include "waits.h"

static int
setup(void **state)
{
	(void)state;
	cfg.max_waits_per_device = 3;
	cfg.max_waits_per_user = 5;
	assert_int_equal(keyhash_init(), 0);
	assert_int_equal(waits_init(2), 0);
	return 0;
}

static void
test_device_cap(void **state)
{
	int	 i;

	(void)state;
	waits_worker_start(0);
	for (i = 0; i < 3; i++)
		assert_int_equal(waits_enter(1, "phone"), WAITS_OK);
	assert_int_equal(waits_enter(1, "phone"), WAITS_DEVICE_FULL);
	assert_int_equal(waits_count_device(1, "phone"), 3);
	/* the same id under another user is another device */
	assert_int_equal(waits_enter(2, "phone"), WAITS_OK);
	waits_leave(1, "phone");
	assert_int_equal(waits_enter(1, "phone"), WAITS_OK);
	for (i = 0; i < 3; i++)
		waits_leave(1, "phone");
	waits_leave(2, "phone");
	assert_int_equal(waits_count_device(1, "phone"), 0);
	/* leaving more than entered never goes negative */
	waits_leave(1, "phone");
	assert_int_equal(waits_count_device(1, "phone"), 0);
}

static void
test_user_cap(void **state)
{
	char	 dev[16];
	int	 i;

	(void)state;
	waits_worker_start(0);
	for (i = 0; i < 5; i++) {
		snprintf(dev, sizeof(dev), "d%d", i);
		assert_int_equal(waits_enter(7, dev), WAITS_OK);
	}
	assert_int_equal(waits_enter(7, "d9"), WAITS_USER_FULL);
	/* a refused poll leaves nothing behind */
	assert_int_equal(waits_count_device(7, "d9"), 0);
	for (i = 0; i < 5; i++) {
		snprintf(dev, sizeof(dev), "d%d", i);
		waits_leave(7, dev);
	}
	assert_int_equal(waits_enter(7, "d9"), WAITS_OK);
	waits_leave(7, "d9");
}

/* Two slots share a device's count; a restarted slot's share is gone. */
static void
test_slots(void **state)
{
	(void)state;
	waits_worker_start(0);
	assert_int_equal(waits_enter(3, "tv"), WAITS_OK);
	assert_int_equal(waits_enter(3, "tv"), WAITS_OK);
	waits_worker_start(1);
	assert_int_equal(waits_enter(3, "tv"), WAITS_OK);
	assert_int_equal(waits_enter(3, "tv"), WAITS_DEVICE_FULL);
	/* slot 0 "dies": its worker restarts and forgets its two */
	waits_worker_start(0);
	assert_int_equal(waits_count_device(3, "tv"), 1);
	waits_worker_start(1);
	waits_leave(3, "tv");
	assert_int_equal(waits_count_device(3, "tv"), 0);
}

/* Many devices: entries come and go without lengthening lookups. */
static void
test_many(void **state)
{
	char	 dev[24];
	int	 i, round;

	(void)state;
	cfg.max_waits_per_user = 0;
	waits_worker_start(0);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 20000; i++) {
			snprintf(dev, sizeof(dev), "dev-%d", i);
			assert_int_equal(waits_enter(100 + i % 1000, dev),
			    WAITS_OK);
		}
		for (i = 0; i < 20000; i++) {
			snprintf(dev, sizeof(dev), "dev-%d", i);
			waits_leave(100 + i % 1000, dev);
		}
	}
	assert_int_equal(waits_count_device(100, "dev-0"), 0);
	cfg.max_waits_per_user = 5;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_cap),
		cmocka_unit_test(test_user_cap),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
