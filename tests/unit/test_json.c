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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_collections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
