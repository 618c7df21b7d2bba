/* Unit tests of lib/cors: the shape of an origin and the allow list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cors.h"

static int
valid(const char *s)
{
	return cors_origin_valid(s, strlen(s));
}

static void
test_origin_shapes(void **state)
{
	(void)state;
	assert_true(valid("https://app.example.com"));
	assert_true(valid("http://127.0.0.1:8080"));
	assert_true(valid("http://localhost:1"));
	assert_true(valid("https://[::1]:8443"));
	assert_true(valid("https://[::1]"));
	assert_true(valid("capacitor://localhost"));
	assert_true(valid("chrome-extension://abcdef"));
	assert_false(valid(""));
	assert_false(valid("*"));
	assert_false(valid("null"));
	assert_false(valid("example.com"));
	assert_false(valid("https://"));
	assert_false(valid("https://app.example.com/"));
	assert_false(valid("https://app.example.com/x"));
	assert_false(valid("https://App.example.com"));
	assert_false(valid("HTTPS://app.example.com"));
	assert_false(valid("https://app.example.com:"));
	assert_false(valid("https://app.example.com:0"));
	assert_false(valid("https://app.example.com:080"));
	assert_false(valid("https://app.example.com:65536"));
	assert_false(valid("https://app.example.com:12a"));
	assert_false(valid("https://user@app.example.com"));
	assert_false(valid("https://a b"));
	assert_false(valid("https://[::1"));
	assert_false(valid("https://[::1]x"));
	assert_false(valid("https://.example.com"));
	assert_false(valid("1http://a"));
	assert_false(valid("https://a\"b"));
}

static void
test_list_check(void **state)
{
	char	 err[256];

	(void)state;
	assert_int_equal(cors_list_check("https://a.example", err,
	    sizeof(err)), 0);
	assert_int_equal(cors_list_check("https://a.example, http://b:81 ,"
	    "http://127.0.0.1:9", err, sizeof(err)), 0);
	assert_int_equal(cors_list_check("https://a.example,", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(cors_list_check("https://a.example,https://b/",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'https://b/'"));
	assert_int_equal(cors_list_check(" ", err, sizeof(err)), -1);
}

static void
test_allowed(void **state)
{
	const char *list = "https://a.example, http://127.0.0.1:9000";

	(void)state;
	assert_true(cors_origin_allowed(list, "https://a.example"));
	assert_true(cors_origin_allowed(list, "http://127.0.0.1:9000"));
	assert_false(cors_origin_allowed(list, "http://127.0.0.1:900"));
	assert_false(cors_origin_allowed(list, "http://127.0.0.1:90000"));
	assert_false(cors_origin_allowed(list, "https://a.example.evil"));
	assert_false(cors_origin_allowed(list, "https://A.example"));
	assert_false(cors_origin_allowed(list, ""));
	assert_false(cors_origin_allowed(list, "null"));
	assert_false(cors_origin_allowed(list, NULL));
	assert_false(cors_origin_allowed(NULL, "https://a.example"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_shapes),
		cmocka_unit_test(test_list_check),
		cmocka_unit_test(test_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
