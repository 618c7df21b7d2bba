/* Unit tests of lib/buf: growth, limits, formatting, ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void
test_add_and_grow(void **state)
{
	struct buf	 b;
	int		 i;

	(void)state;
	buf_init(&b, 0);
	assert_string_equal(buf_str(&b), "");
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(b.len, 3000);
	assert_int_equal(strlen(buf_str(&b)), 3000);
	buf_release(&b);
}

static void
test_limit(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "12345678"), 0);
	assert_int_equal(buf_adds(&b, "9"), -1);
	assert_string_equal(buf_str(&b), "12345678");
	assert_int_equal(buf_addf(&b, "%d", 1), -1);
	buf_release(&b);
}

static void
test_addf_detach_reset(void **state)
{
	struct buf	 b;
	char		*s;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_addf(&b, "%s=%d", "x", 42), 0);
	assert_string_equal(buf_str(&b), "x=42");
	buf_reset(&b);
	assert_string_equal(buf_str(&b), "");
	buf_addf(&b, "%05d", 7);
	s = buf_detach(&b);
	assert_string_equal(s, "00007");
	assert_null(b.data);
	free(s);
	s = buf_detach(&b);	/* empty: still a string */
	assert_string_equal(s, "");
	free(s);
}

/* buf_addi prints as %lld does, at both ends of the range too. */
static void
test_addi(void **state)
{
	static const long long v[] = { 0, 1, -1, 9, 10, 1234567890123LL,
	    -42, 9223372036854775807LL, -9223372036854775807LL - 1 };
	struct buf	 b;
	char		 want[32];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(buf_adds(&b, "x="), 0);
		assert_int_equal(buf_addi(&b, v[i]), 0);
		snprintf(want, sizeof(want), "x=%lld", v[i]);
		assert_string_equal(buf_str(&b), want);
		buf_release(&b);
	}
	buf_init(&b, 3);
	assert_int_equal(buf_addi(&b, 1234), -1);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_grow),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_addf_detach_reset),
		cmocka_unit_test(test_addi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
