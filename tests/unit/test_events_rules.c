/*
 * Unit tests of lib/events_rules, without a database: application event
 * types, the floor below which a cursor has missed events, and where a
 * page's cursor ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "events_rules.h"

static void
test_app_type_valid(void **state)
{
	char	 t[80];

	(void)state;
	assert_false(app_type_valid(NULL));
	assert_false(app_type_valid(""));
	assert_false(app_type_valid("app"));
	/* the prefix alone names nothing */
	assert_false(app_type_valid("app."));
	assert_true(app_type_valid("app.x"));
	assert_true(app_type_valid("app.note.saved"));
	assert_true(app_type_valid("app.a-b_c.9"));
	assert_true(app_type_valid("app.."));
	/* 60 bytes after the prefix, not 61 */
	memcpy(t, "app.", 4);
	memset(t + 4, 'a', 60);
	t[64] = '\0';
	assert_true(app_type_valid(t));
	t[64] = 'a';
	t[65] = '\0';
	assert_false(app_type_valid(t));
	/* lower case only, no space, ASCII only */
	assert_false(app_type_valid("app.Saved"));
	assert_false(app_type_valid("APP.saved"));
	assert_false(app_type_valid("app.a b"));
	assert_false(app_type_valid("app.caf\xc3\xa9"));
	assert_false(app_type_valid("app.a/b"));
	assert_false(app_type_valid("xapp.a"));
	assert_false(app_type_valid(" app.a"));
	/* the server's own types are not the application's */
	assert_false(app_type_valid("message.created"));
	assert_false(app_type_valid("primary.changed"));
	assert_false(app_type_valid("device.offline"));
	assert_false(app_type_valid("record.changed"));
}

static void
test_events_floor(void **state)
{
	(void)state;
	/* nothing ever written, nothing pruned */
	assert_int_equal(events_floor(0, 0, 0), 0);
	/* everything kept */
	assert_int_equal(events_floor(5, 0, 1), 0);
	/* the stored floor agrees with what is kept */
	assert_int_equal(events_floor(9, 4, 5), 4);
	/* an event missing above the stored floor: derived from the oldest
	 * kept, so a cursor below it is refused */
	assert_int_equal(events_floor(9, 0, 3), 2);
	assert_int_equal(events_floor(9, 4, 7), 6);
	/* nothing kept at all: the floor is the head */
	assert_int_equal(events_floor(9, 0, 0), 9);
	assert_int_equal(events_floor(9, 9, 0), 9);
	/* the stored floor counts when it is the higher one */
	assert_int_equal(events_floor(9, 6, 4), 6);
	assert_int_equal(events_floor(3, 5, 0), 5);
}

static void
test_events_cursor(void **state)
{
	(void)state;
	/* a full page: past its last event */
	assert_int_equal(events_cursor(50, 1, 10), 10);
	/* the last page: at the head, past skipped events too */
	assert_int_equal(events_cursor(50, 0, 10), 50);
	assert_int_equal(events_cursor(50, 0, 0), 50);
	assert_int_equal(events_cursor(0, 0, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_app_type_valid),
		cmocka_unit_test(test_events_floor),
		cmocka_unit_test(test_events_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
