/* Unit tests of lib/json: body parsing limits and the id shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

static enum json_parse_rc
parse(const char *s, json_t **out)
{
	char	 err[256];

	return json_parse_body(s, strlen(s), out, err, sizeof(err));
}

static void
test_parse_ok(void **state)
{
	json_t	*v;

	(void)state;
	assert_int_equal(parse("{\"a\":[1,2,{\"b\":null}]}", &v),
	    JSON_PARSE_OK);
	assert_true(json_is_object(v));
	json_decref(v);
	assert_int_equal(parse("42", &v), JSON_PARSE_OK);
	json_decref(v);
}

static void
test_parse_rejects(void **state)
{
	json_t		*v;
	const char	 nul[] = "{\"a\":\"x\0y\"}";
	char		 err[256];

	(void)state;
	assert_int_equal(parse("{\"a\":", &v), JSON_PARSE_SYNTAX);
	assert_null(v);
	assert_int_equal(parse("{\"a\":1,\"a\":2}", &v), JSON_PARSE_SYNTAX);
	assert_int_equal(parse("{\"a\":\"\\u0000\"}", &v), JSON_PARSE_SYNTAX);
	assert_int_equal(json_parse_body(nul, sizeof(nul) - 1, &v, err,
	    sizeof(err)), JSON_PARSE_SYNTAX);
	assert_int_equal(parse("\"\xff\xfe\"", &v), JSON_PARSE_SYNTAX);
	assert_int_equal(parse("{'a':1}", &v), JSON_PARSE_SYNTAX);
	assert_int_equal(parse("", &v), JSON_PARSE_SYNTAX);
}

static void
test_depth(void **state)
{
	char	 buf[300];
	json_t	*v;
	int	 i;

	(void)state;
	for (i = 0; i < 64; i++)
		buf[i] = '[';
	for (i = 0; i < 64; i++)
		buf[64 + i] = ']';
	buf[128] = '\0';
	assert_int_equal(parse(buf, &v), JSON_PARSE_OK);
	json_decref(v);
	for (i = 0; i < 65; i++)
		buf[i] = '[';
	for (i = 0; i < 65; i++)
		buf[65 + i] = ']';
	buf[130] = '\0';
	assert_int_equal(parse(buf, &v), JSON_PARSE_DEPTH);
	/* brackets inside strings do not count */
	assert_true(json_depth_ok("[\"[[[[[[[[[[\"]", 14, 2));
	assert_true(json_depth_ok("[\"\\\"[[[[\"]", 10, 1));
	assert_false(json_depth_ok("[[[", 3, 2));
}

static void
test_ids(void **state)
{
	char	 s[200];

	(void)state;
	assert_true(valid_id("a"));
	assert_true(valid_id("Abc-1_2.3:4"));
	assert_false(valid_id(""));
	assert_false(valid_id(NULL));
	assert_false(valid_id("a b"));
	assert_false(valid_id("a/b"));
	assert_false(valid_id("../etc"));
	assert_false(valid_id("é"));
	assert_false(valid_id("x'; DROP TABLE users;--"));
	memset(s, 'x', 128);
	s[128] = '\0';
	assert_true(valid_id(s));
	s[128] = 'x';
	s[129] = '\0';
	assert_false(valid_id(s));
}

static void
test_collections(void **state)
{
	char	 s[80];

	(void)state;
	assert_true(valid_collection("notes"));
	assert_true(valid_collection("a_b-9"));
	assert_false(valid_collection("Notes"));
	assert_false(valid_collection("a.b"));
	assert_false(valid_collection(""));
	memset(s, 'c', 64);
	s[64] = '\0';
	assert_true(valid_collection(s));
	s[64] = 'c';
	s[65] = '\0';
	assert_false(valid_collection(s));
}

/* Stored canonical text reads back with every I-JSON number intact. */
static void
test_load_stored(void **state)
{
	json_t		*v;
	const char	*s = "{\"f\":15000000000000000000,\"i\":5,"
	    "\"r\":1.5,\"n\":-9300000000000000000}";

	(void)state;
	v = json_load_stored(s, strlen(s));
	assert_non_null(v);
	assert_true(json_is_real(json_object_get(v, "f")));
	assert_true(json_real_value(json_object_get(v, "f")) == 1.5e19);
	assert_true(json_is_integer(json_object_get(v, "i")));
	assert_int_equal(json_integer_value(json_object_get(v, "i")), 5);
	assert_true(json_is_real(json_object_get(v, "r")));
	assert_true(json_real_value(json_object_get(v, "n")) == -9.3e18);
	json_decref(v);
	/* a bare number, and the largest double */
	v = json_load_stored("1e308", 5);
	assert_true(json_is_real(v));
	json_decref(v);
	v = json_load_stored("42", 2);
	assert_true(json_is_integer(v));
	json_decref(v);
	assert_null(json_load_stored("{", 1));
}

/* One normal form: integral within 2^53 is an integer, else a real. */
static void
test_numbers_normal(void **state)
{
	json_t	*a, *b, *o;

	(void)state;
	a = json_pack("{s:f, s:[f, I], s:{s:I}}", "x", 5.0, "y", 0.5,
	    (json_int_t)9007199254740995LL, "z", "w",
	    (json_int_t)-9007199254740992LL);
	json_numbers_normal(a);
	assert_true(json_is_integer(json_object_get(a, "x")));
	assert_true(json_is_real(json_array_get(json_object_get(a, "y"), 0)));
	/* past 2^53: the nearest double (2^53 + 1 rounds to 2^53 itself) */
	assert_true(json_is_real(json_array_get(json_object_get(a, "y"), 1)));
	assert_true(json_real_value(json_array_get(json_object_get(a, "y"),
	    1)) == 9007199254740996.0);
	assert_true(json_is_integer(json_object_get(json_object_get(a, "z"),
	    "w")));
	b = json_pack("{s:I, s:[f, f], s:{s:f}}", "x", (json_int_t)5, "y",
	    0.5, 9007199254740996.0, "z", "w", -9007199254740992.0);
	json_numbers_normal(b);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	/* a bare member number is replaced through its parent */
	o = json_pack("{s:f}", "body", 7.0);
	assert_true(json_is_integer(json_member_normal(o, "body")));
	assert_null(json_member_normal(o, "absent"));
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_load_stored),
		cmocka_unit_test(test_numbers_normal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
