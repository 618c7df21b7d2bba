/*
 * Unit tests for lib/jcs: RFC 8785 canonical JSON and its SHA-256.
 * The number table and the sorting example are RFC 8785's own (appendix B
 * and section 3.2.3); expected strings were checked against ECMAScript's
 * String(number) and JSON.stringify.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jcs.h"

/* Parse text (any JSON value, \u0000 allowed); fails the test on error. */
static json_t *
load(const char *text)
{
	json_error_t	 err;
	json_t		*v;

	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", text, err.text);
	return v;
}

/* Assert that v canonicalises to want; takes ownership of v. */
static void
check_value(json_t *v, const char *want)
{
	char	*got;

	assert_non_null(v);
	got = jcs_dump(v);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	json_decref(v);
}

/* Assert that JSON text canonicalises to want. */
static void
check(const char *text, const char *want)
{
	check_value(load(text), want);
}

/* Assert that the double with IEEE 754 bits canonicalises to want. */
static void
check_bits(uint64_t bits, const char *want)
{
	double	 d;

	memcpy(&d, &bits, sizeof(d));
	check_value(json_real(d), want);
}

static void
test_literals(void **state)
{
	(void)state;
	check("true", "true");
	check("false", "false");
	check("null", "null");
	check("{}", "{}");
	check("[]", "[]");
	check("\"\"", "\"\"");
	check(" [ 1 , [ ] , { } ] ", "[1,[],{}]");
}

/* RFC 8785 appendix B, less NaN and Infinity, which JSON cannot hold. */
static void
test_numbers_rfc_table(void **state)
{
	static const struct {
		uint64_t	 bits;
		const char	*want;
	} t[] = {
		{ 0x0000000000000000ULL, "0" },
		{ 0x8000000000000000ULL, "0" },
		{ 0x0000000000000001ULL, "5e-324" },
		{ 0x8000000000000001ULL, "-5e-324" },
		{ 0x7fefffffffffffffULL, "1.7976931348623157e+308" },
		{ 0xffefffffffffffffULL, "-1.7976931348623157e+308" },
		{ 0x4340000000000000ULL, "9007199254740992" },
		{ 0xc340000000000000ULL, "-9007199254740992" },
		{ 0x4430000000000000ULL, "295147905179352830000" },
		{ 0x44b52d02c7e14af5ULL, "9.999999999999997e+22" },
		{ 0x44b52d02c7e14af6ULL, "1e+23" },
		{ 0x44b52d02c7e14af7ULL, "1.0000000000000001e+23" },
		{ 0x444b1ae4d6e2ef4eULL, "999999999999999700000" },
		{ 0x444b1ae4d6e2ef4fULL, "999999999999999900000" },
		{ 0x444b1ae4d6e2ef50ULL, "1e+21" },
		{ 0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7" },
		{ 0x3eb0c6f7a0b5ed8dULL, "0.000001" },
		{ 0x41b3de4355555553ULL, "333333333.3333332" },
		{ 0x41b3de4355555554ULL, "333333333.33333325" },
		{ 0x41b3de4355555555ULL, "333333333.3333333" },
		{ 0x41b3de4355555556ULL, "333333333.3333334" },
		{ 0x41b3de4355555557ULL, "333333333.33333343" },
		{ 0xbecbf647612f3696ULL, "-0.0000033333333333333333" },
		{ 0x43143ff3c1cb0959ULL, "1424953923781206.2" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check_bits(t[i].bits, t[i].want);
}

static void
test_numbers_reals(void **state)
{
	(void)state;
	check_value(json_real(0.0), "0");
	check_value(json_real(-0.0), "0");
	check_value(json_real(1.0), "1");
	check_value(json_real(-1.0), "-1");
	check_value(json_real(1.5), "1.5");
	check_value(json_real(0.1), "0.1");
	check_value(json_real(0.1 + 0.2), "0.30000000000000004");
	check_value(json_real(1e21), "1e+21");
	check_value(json_real(1e20), "100000000000000000000");
	check_value(json_real(123456789012345680000.0),
	    "123456789012345680000");
	check_value(json_real(1e-7), "1e-7");
	check_value(json_real(-1e-7), "-1e-7");
	check_value(json_real(1.5e-7), "1.5e-7");
	check_value(json_real(1e-6), "0.000001");
	check_value(json_real(1e30), "1e+30");
	check_value(json_real(1.25e30), "1.25e+30");
	check_value(json_real(4.35), "4.35");
	check_value(json_real(1e23), "1e+23");
	/* Lopsided rounding interval at a power of two (2^-1017). */
	check_bits(0x0060000000000000ULL, "7.120236347223045e-307");
	/* Parsed text keeps the same rules. */
	check("[1.0, -0.0, 4.50, 2e-3, 1E30, 0.000000000000000000000000001]",
	    "[1,0,4.5,0.002,1e+30,1e-27]");
}

static void
test_numbers_integers(void **state)
{
	(void)state;
	check_value(json_integer(0), "0");
	check_value(json_integer(123), "123");
	check_value(json_integer(-42), "-42");
	/* Up to 2^53 in magnitude integers print as themselves... */
	check_value(json_integer(9007199254740992LL), "9007199254740992");
	check_value(json_integer(-9007199254740992LL), "-9007199254740992");
	check_value(json_integer(9007199254740991LL), "9007199254740991");
	/* ...beyond, as the double a JCS implementation would see. */
	check_value(json_integer(9007199254740993LL), "9007199254740992");
	check_value(json_integer(INT64_MAX), "9223372036854776000");
	check_value(json_integer(INT64_MIN), "-9223372036854776000");
	check("1000000000000000000", "1000000000000000000");
	check("1234567890123456789", "1234567890123456800");
}

/* RFC 8785 section 3.2.2's example, end to end. */
static void
test_rfc_example(void **state)
{
	(void)state;
	check("{\n"
	    "  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, "
	    "0.000000000000000000000000001],\n"
	    "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c"
	    "\\\\\\\"\\/\",\n"
	    "  \"literals\": [null, true, false]\n"
	    "}",
	    "{\"literals\":[null,true,false],"
	    "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
	    "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

/* RFC 8785 section 3.2.3: members sorted by UTF-16 code units. */
static void
test_sort_rfc_example(void **state)
{
	(void)state;
	check("{\n"
	    "  \"\\u20ac\": \"Euro Sign\",\n"
	    "  \"\\r\": \"Carriage Return\",\n"
	    "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
	    "  \"1\": \"One\",\n"
	    "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
	    "  \"\\u0080\": \"Control\",\n"
	    "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
	    "}",
	    "{\"\\r\":\"Carriage Return\","
	    "\"1\":\"One\","
	    "\"\xc2\x80\":\"Control\","
	    "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
	    "\"\xe2\x82\xac\":\"Euro Sign\","
	    "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
	    "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

/*
 * Where UTF-16 and byte (code point) order differ: U+10000 and above sort
 * before U+E000..U+FFFF; below U+D800 they agree.  Also prefixes first.
 */
static void
test_sort_utf16(void **state)
{
	(void)state;
	check("{\"\\uffff\":1,\"\\ud800\\udc00\":2,\"\\ue000\":3,"
	    "\"\\ud7ff\":4,\"\\udbff\\udfff\":5}",
	    "{\"\xed\x9f\xbf\":4,\"\xf0\x90\x80\x80\":2,"
	    "\"\xf4\x8f\xbf\xbf\":5,\"\xee\x80\x80\":3,\"\xef\xbf\xbf\":1}");
	check("{\"ab\":1,\"a\":2,\"\":3,\"b\":4,\"B\":5,\"aa\":6}",
	    "{\"\":3,\"B\":5,\"a\":2,\"aa\":6,\"ab\":1,\"b\":4}");
	check("{\"a\\ud83d\\ude00\":1,\"a\\uffff\":2,\"a\\ud83d\\ude01\":3}",
	    "{\"a\xf0\x9f\x98\x80\":1,\"a\xf0\x9f\x98\x81\":3,"
	    "\"a\xef\xbf\xbf\":2}");
}

static void
test_escapes(void **state)
{
	(void)state;
	check("\"\\\"\\\\\\b\\f\\n\\r\\t\"", "\"\\\"\\\\\\b\\f\\n\\r\\t\"");
	check("\"\\u0000\\u0001\\u0007\\u000b\\u000e\\u001f\"",
	    "\"\\u0000\\u0001\\u0007\\u000b\\u000e\\u001f\"");
	check("\"\\u001A\\u001b\"", "\"\\u001a\\u001b\"");
	/* No other escapes: solidus, DEL, non-ASCII and emoji stay raw. */
	check("\"\\/ \\u007f \\u00e9 \\u2028 \\ud83d\\ude00\"",
	    "\"/ \x7f \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80\"");
	/* Member names follow the same rules. */
	check("{\"\\n\\u0001\\\"\":\"\\t\"}", "{\"\\n\\u0001\\\"\":\"\\t\"}");
}

static void
test_nested(void **state)
{
	(void)state;
	check("{ \"z\": { \"y\": [ { \"b\": 2, \"a\": 1 }, [ [ ] ] ], "
	    "\"x\": null }, \"a\": [ 3, { \"d\": { \"c\": true } } ] }",
	    "{\"a\":[3,{\"d\":{\"c\":true}}],"
	    "\"z\":{\"x\":null,\"y\":[{\"a\":1,\"b\":2},[[]]]}}");
}

/* Output larger than the buffer's first allocation. */
static void
test_large(void **state)
{
	json_t	*arr;
	char	*got;
	size_t	 i;

	(void)state;
	arr = json_array();
	assert_non_null(arr);
	for (i = 0; i < 10000; i++)
		assert_int_equal(json_array_append_new(arr,
		    json_string("abcdefgh")), 0);
	got = jcs_dump(arr);
	assert_non_null(got);
	/* 10000 * len("\"abcdefgh\"") + 9999 commas + brackets */
	assert_int_equal(strlen(got), 10000 * 10 + 9999 + 2);
	assert_memory_equal(got, "[\"abcdefgh\",\"abcdefgh\",", 23);
	free(got);
	json_decref(arr);
}

static void
test_sha256_known(void **state)
{
	json_t	*v;
	char	*s;
	char	 out[JCS_SHA256_LEN];

	(void)state;
	v = load("{\"b\":1,\"a\":[true,null]}");
	s = jcs_dump(v);
	assert_non_null(s);
	assert_string_equal(s, "{\"a\":[true,null],\"b\":1}");
	free(s);
	assert_int_equal(jcs_sha256(v, out), 0);
	/* printf '%s' '{"a":[true,null],"b":1}' | sha256sum */
	assert_string_equal(out, "sha256:"
	    "51705a2c9eb3e7e410a58f696a770c3ac3885a0cf43eb7fc88f5e47c11d4d30d");
	assert_int_equal(strlen(out), JCS_SHA256_LEN - 1);
	json_decref(v);

	/* The checksum of a tombstone: canonical "null". */
	v = json_null();
	assert_int_equal(jcs_sha256(v, out), 0);
	/* printf '%s' 'null' | sha256sum */
	assert_string_equal(out, "sha256:"
	    "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b");
	json_decref(v);
}

static void
test_sha256_key_order(void **state)
{
	json_t	*a, *b, *c;
	char	 ha[JCS_SHA256_LEN], hb[JCS_SHA256_LEN], hc[JCS_SHA256_LEN];

	(void)state;
	a = load("{\"title\":\"x\",\"n\":1.0,\"tags\":[\"p\",\"q\"],"
	    "\"meta\":{\"k\":2,\"j\":{\"z\":0,\"y\":1}}}");
	b = load("{\"meta\":{\"j\":{\"y\":1,\"z\":0},\"k\":2},"
	    "\"tags\":[\"p\",\"q\"],\"n\":1,\"title\":\"x\"}");
	c = load("{\"meta\":{\"j\":{\"y\":1,\"z\":0},\"k\":2},"
	    "\"tags\":[\"q\",\"p\"],\"n\":1,\"title\":\"x\"}");
	assert_int_equal(jcs_sha256(a, ha), 0);
	assert_int_equal(jcs_sha256(b, hb), 0);
	assert_int_equal(jcs_sha256(c, hc), 0);
	assert_string_equal(ha, hb);
	/* Array order is significant. */
	assert_string_not_equal(ha, hc);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void
test_null_input(void **state)
{
	char	 out[JCS_SHA256_LEN];

	(void)state;
	assert_null(jcs_dump(NULL));
	memset(out, 'x', sizeof(out));
	assert_int_equal(jcs_sha256(NULL, out), -1);
	assert_string_equal(out, "");
}

/* Answers: canonical numbers and strings, members in their order. */
static void
test_answer_and_copy(void **state)
{
	json_t	*v, *c;
	char	*s;

	(void)state;
	v = json_pack("{s:f, s:f, s:{s:i, s:i}}", "z", 1.5e19, "a", 0.1,
	    "m", "y", 1, "b", 2);
	s = jcs_dump_answer(v);
	assert_string_equal(s, "{\"z\":15000000000000000000,\"a\":0.1,"
	    "\"m\":{\"y\":1,\"b\":2}}");
	free(s);
	c = jcs_canonical_copy(v);
	assert_true(json_equal(c, v));
	s = jcs_dump_answer(c);
	assert_string_equal(s, "{\"a\":0.1,\"m\":{\"b\":2,\"y\":1},"
	    "\"z\":15000000000000000000}");
	free(s);
	json_decref(c);
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_numbers_rfc_table),
		cmocka_unit_test(test_numbers_reals),
		cmocka_unit_test(test_numbers_integers),
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_sort_rfc_example),
		cmocka_unit_test(test_sort_utf16),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_sha256_known),
		cmocka_unit_test(test_sha256_key_order),
		cmocka_unit_test(test_null_input),
		cmocka_unit_test(test_answer_and_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
