/*
 * Unit tests for lib/merge: three-way merge of record data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "merge.h"

/* Parse text (any JSON value); fails the test on error. */
static json_t *
load(const char *text)
{
	json_error_t	 err;
	json_t		*v;

	v = json_loads(text, JSON_DECODE_ANY, &err);
	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", text, err.text);
	return v;
}

/*
 * Merge the three JSON texts and check the outcome: want_rc and, for
 * MERGE_OK, the merged object want (compared with json_equal).  Also
 * checks that no input was modified and that *out is NULL on failure.
 */
static void
check(const char *base, const char *server, const char *client,
    enum merge_rc want_rc, const char *want)
{
	json_t		*b, *s, *c, *b0, *s0, *c0, *out, *w;
	char		*got;
	enum merge_rc	 rc;

	b = load(base);
	s = load(server);
	c = load(client);
	b0 = json_deep_copy(b);
	s0 = json_deep_copy(s);
	c0 = json_deep_copy(c);
	assert_non_null(b0);
	assert_non_null(s0);
	assert_non_null(c0);

	out = json_true();	/* must be overwritten */
	rc = merge3(b, s, c, NULL, &out);
	if (rc != want_rc) {
		got = out == NULL ? NULL :
		    json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("merge3 returned %d, want %d (out %s)", rc, want_rc,
		    got == NULL ? "NULL" : got);
	}
	if (want_rc == MERGE_OK) {
		w = load(want);
		assert_non_null(out);
		if (!json_equal(out, w)) {
			got = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
			fail_msg("merged %s, want %s", got, want);
		}
		json_decref(w);
	} else
		assert_null(out);

	assert_true(json_equal(b, b0));
	assert_true(json_equal(s, s0));
	assert_true(json_equal(c, c0));
	json_decref(out);
	json_decref(b);
	json_decref(s);
	json_decref(c);
	json_decref(b0);
	json_decref(s0);
	json_decref(c0);
}

static void
test_unchanged(void **state)
{
	(void)state;
	check("{}", "{}", "{}", MERGE_OK, "{}");
	check("{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}",
	    "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}",
	    "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}",
	    MERGE_OK, "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}");
}

static void
test_one_side_only(void **state)
{
	(void)state;
	/* Only the client changed: its data wins, whatever it changed. */
	check("{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}",
	    "{\"a\":5,\"c\":[1]}", MERGE_OK, "{\"a\":5,\"c\":[1]}");
	/* Only the server changed. */
	check("{\"a\":1,\"b\":2}", "{\"a\":\"x\",\"b\":2,\"n\":{}}",
	    "{\"a\":1,\"b\":2}", MERGE_OK, "{\"a\":\"x\",\"b\":2,\"n\":{}}");
}

static void
test_disjoint_edits(void **state)
{
	(void)state;
	check("{\"title\":\"t\",\"body\":\"b\",\"n\":1}",
	    "{\"title\":\"T2\",\"body\":\"b\",\"n\":1}",
	    "{\"title\":\"t\",\"body\":\"B2\",\"n\":1}",
	    MERGE_OK, "{\"title\":\"T2\",\"body\":\"B2\",\"n\":1}");
	/* Keys added on each side. */
	check("{\"a\":1}", "{\"a\":1,\"s\":true}", "{\"a\":1,\"c\":null}",
	    MERGE_OK, "{\"a\":1,\"s\":true,\"c\":null}");
	/* A null value is a value, not an absent key. */
	check("{\"a\":null,\"b\":1}", "{\"a\":null,\"b\":2}",
	    "{\"a\":3,\"b\":1}", MERGE_OK, "{\"a\":3,\"b\":2}");
}

static void
test_same_edit(void **state)
{
	(void)state;
	check("{\"a\":1,\"b\":2}", "{\"a\":7,\"b\":2}", "{\"a\":7,\"b\":2}",
	    MERGE_OK, "{\"a\":7,\"b\":2}");
	/* The same key added with the same value on both sides. */
	check("{}", "{\"k\":{\"x\":[1]}}", "{\"k\":{\"x\":[1]}}",
	    MERGE_OK, "{\"k\":{\"x\":[1]}}");
	/* The same key removed on both sides. */
	check("{\"a\":1,\"b\":2}", "{\"b\":2}", "{\"b\":2}",
	    MERGE_OK, "{\"b\":2}");
}

static void
test_nested_objects(void **state)
{
	(void)state;
	check("{\"p\":{\"x\":1,\"y\":1},\"q\":0}",
	    "{\"p\":{\"x\":2,\"y\":1},\"q\":0}",
	    "{\"p\":{\"x\":1,\"y\":3},\"q\":0}",
	    MERGE_OK, "{\"p\":{\"x\":2,\"y\":3},\"q\":0}");
	/* Three levels deep, with additions and a removal. */
	check("{\"a\":{\"b\":{\"c\":1,\"d\":1,\"e\":1}}}",
	    "{\"a\":{\"b\":{\"c\":2,\"d\":1,\"e\":1,\"s\":1}}}",
	    "{\"a\":{\"b\":{\"c\":1,\"d\":1},\"n\":true}}",
	    MERGE_OK, "{\"a\":{\"b\":{\"c\":2,\"d\":1,\"s\":1},\"n\":true}}");
	/* A conflict deep inside fails the whole merge. */
	check("{\"a\":{\"b\":{\"c\":1}},\"z\":1}",
	    "{\"a\":{\"b\":{\"c\":2}},\"z\":1}",
	    "{\"a\":{\"b\":{\"c\":3}},\"z\":2}", MERGE_CONFLICT, NULL);
}

static void
test_arrays(void **state)
{
	(void)state;
	/* Both appended: server's array, then the client's new items. */
	check("{\"t\":[\"a\",\"b\"]}", "{\"t\":[\"a\",\"b\",\"c\"]}",
	    "{\"t\":[\"a\",\"b\",\"d\",\"c\",\"e\"]}",
	    MERGE_OK, "{\"t\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}");
	/* The client's removals do not carry over; the server's do. */
	check("{\"t\":[1,2,3]}", "{\"t\":[1,3,4]}", "{\"t\":[1,5]}",
	    MERGE_OK, "{\"t\":[1,3,4,5]}");
	/* Elements compared by value, objects included. */
	check("{\"t\":[{\"id\":1}]}", "{\"t\":[{\"id\":1},{\"id\":2}]}",
	    "{\"t\":[{\"id\":1},{\"id\":3},{\"id\":2}]}",
	    MERGE_OK, "{\"t\":[{\"id\":1},{\"id\":2},{\"id\":3}]}");
	/* The key absent from base, added as arrays on both sides. */
	check("{}", "{\"t\":[1,2]}", "{\"t\":[2,3]}",
	    MERGE_OK, "{\"t\":[1,2,3]}");
	/* Arrays inside nested objects, beside other edits. */
	check("{\"o\":{\"t\":[],\"x\":0}}", "{\"o\":{\"t\":[\"s\"],\"x\":0}}",
	    "{\"o\":{\"t\":[\"c\"],\"x\":1}}",
	    MERGE_OK, "{\"o\":{\"t\":[\"s\",\"c\"],\"x\":1}}");
	/* An array changed on one side only is taken as is. */
	check("{\"t\":[1,2]}", "{\"t\":[2]}", "{\"t\":[1,2]}",
	    MERGE_OK, "{\"t\":[2]}");
	/* Base not an array: a type change on both sides. */
	check("{\"t\":\"x\"}", "{\"t\":[1]}", "{\"t\":[2]}",
	    MERGE_CONFLICT, NULL);
}

static void
test_one_side_deletion(void **state)
{
	(void)state;
	/* Server removed a key, client edited another. */
	check("{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"a\":5,\"b\":2}",
	    MERGE_OK, "{\"a\":5}");
	/* Client removed a key, server edited another. */
	check("{\"a\":1,\"b\":2}", "{\"a\":9,\"b\":2}", "{\"a\":1}",
	    MERGE_OK, "{\"a\":9}");
	/* Removal inside a nested object. */
	check("{\"o\":{\"x\":1,\"y\":1}}", "{\"o\":{\"x\":2,\"y\":1}}",
	    "{\"o\":{\"x\":1}}", MERGE_OK, "{\"o\":{\"x\":2}}");
}

static void
test_delete_vs_edit(void **state)
{
	(void)state;
	check("{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"a\":1,\"b\":3}",
	    MERGE_CONFLICT, NULL);
	check("{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":3}", "{\"a\":1}",
	    MERGE_CONFLICT, NULL);
	/* A removed object against edits inside it. */
	check("{\"o\":{\"x\":1}}", "{}", "{\"o\":{\"x\":2}}",
	    MERGE_CONFLICT, NULL);
	/* A removed array against an append. */
	check("{\"t\":[1]}", "{\"t\":[1,2]}", "{}", MERGE_CONFLICT, NULL);
}

static void
test_type_change(void **state)
{
	(void)state;
	check("{\"a\":1}", "{\"a\":\"1\"}", "{\"a\":[1]}",
	    MERGE_CONFLICT, NULL);
	/* An object on one side, a scalar on the other. */
	check("{\"o\":{\"x\":1}}", "{\"o\":{\"x\":2}}", "{\"o\":null}",
	    MERGE_CONFLICT, NULL);
	/* Objects on both sides but not in base: no recursion. */
	check("{\"o\":1}", "{\"o\":{\"x\":1}}", "{\"o\":{\"y\":1}}",
	    MERGE_CONFLICT, NULL);
	/* An array against an object. */
	check("{\"t\":[]}", "{\"t\":[1]}", "{\"t\":{\"k\":1}}",
	    MERGE_CONFLICT, NULL);
}

static void
test_scalar_conflict(void **state)
{
	(void)state;
	check("{\"a\":1,\"b\":1}", "{\"a\":2,\"b\":1}", "{\"a\":3,\"b\":1}",
	    MERGE_CONFLICT, NULL);
	check("{\"s\":\"x\"}", "{\"s\":\"y\"}", "{\"s\":\"z\"}",
	    MERGE_CONFLICT, NULL);
	check("{\"f\":true}", "{\"f\":false}", "{\"f\":null}",
	    MERGE_CONFLICT, NULL);
	/* The same new key with different values on each side. */
	check("{}", "{\"k\":1}", "{\"k\":2}", MERGE_CONFLICT, NULL);
}

static void
test_non_objects(void **state)
{
	json_t	*o, *a, *out;

	(void)state;
	check("[]", "{}", "{}", MERGE_CONFLICT, NULL);
	check("{}", "[1]", "{}", MERGE_CONFLICT, NULL);
	check("{}", "{}", "null", MERGE_CONFLICT, NULL);
	check("\"x\"", "\"x\"", "\"x\"", MERGE_CONFLICT, NULL);
	check("1", "2", "3", MERGE_CONFLICT, NULL);

	o = json_object();
	a = json_array();
	assert_non_null(o);
	assert_non_null(a);
	out = a;
	assert_int_equal(merge3(NULL, o, o, NULL, &out), MERGE_CONFLICT);
	assert_null(out);
	out = a;
	assert_int_equal(merge3(o, o, NULL, NULL, &out), MERGE_CONFLICT);
	assert_null(out);
	assert_int_equal(merge3(o, o, o, NULL, NULL), MERGE_ERROR);
	json_decref(o);
	json_decref(a);
}

/*
 * The result shares nothing with the inputs: changing it deeply leaves
 * them as they were, and the inputs may be released before it.
 */
static void
test_result_independent(void **state)
{
	json_t	*b, *s, *c, *s0, *c0, *out = NULL;

	(void)state;
	b = load("{\"o\":{\"x\":1},\"t\":[1],\"k\":{\"d\":{\"e\":1}}}");
	s = load("{\"o\":{\"x\":2},\"t\":[1,{\"s\":1}],\"k\":{\"d\":{\"e\":1}}}");
	c = load("{\"o\":{\"x\":1},\"t\":[1,[\"c\"]],\"k\":{\"d\":{\"e\":2}}}");
	s0 = json_deep_copy(s);
	c0 = json_deep_copy(c);
	assert_int_equal(merge3(b, s, c, NULL, &out), MERGE_OK);
	assert_non_null(out);

	assert_int_equal(json_object_set_new(json_object_get(out, "o"), "x",
	    json_integer(99)), 0);
	assert_int_equal(json_object_set_new(json_array_get(
	    json_object_get(out, "t"), 1), "s", json_integer(99)), 0);
	assert_int_equal(json_array_append_new(json_array_get(
	    json_object_get(out, "t"), 2), json_integer(99)), 0);
	assert_int_equal(json_object_set_new(json_object_get(
	    json_object_get(out, "k"), "d"), "e", json_integer(99)), 0);
	assert_true(json_equal(s, s0));
	assert_true(json_equal(c, c0));
	assert_int_equal(json_object_get(out, "o")->refcount, 1);

	json_decref(b);
	json_decref(s);
	json_decref(c);
	assert_int_equal(json_array_size(json_object_get(out, "t")), 3);
	json_decref(out);
	json_decref(s0);
	json_decref(c0);
}

/* {"a":[v, v+1, ..., v+n-1]} */
static json_t *
ramp(int v, size_t n)
{
	json_t	*o = json_object(), *a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v + (json_int_t)i));
	json_object_set_new(o, "a", a);
	return o;
}

/*
 * Arrays both sides changed cost O(n log n), not O(n * m): 100,000
 * elements a side stay within a budget of a few dozen steps per element,
 * and the merge keeps exactly the client's new elements.
 */
static void
test_array_cost(void **state)
{
	struct merge_budget budget = { 0, 0, 0 };
	const size_t	 n = 100000;
	json_t		*b, *s, *c, *out = NULL;

	(void)state;
	b = ramp(0, n);
	s = ramp(1, n);		/* server: 1..n */
	c = ramp(2, n);		/* client: 2..n+1, so only n+1 is new */
	assert_int_equal(merge3(b, s, c, &budget, &out), MERGE_OK);
	assert_int_equal(json_array_size(json_object_get(out, "a")), n + 1);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(out,
	    "a"), n)), (json_int_t)n + 1);
	/* 3 arrays, a sort of 2n: about (3 + 2 log2 2n) n steps */
	assert_true(budget.steps < 40 * 3 * n);
	json_decref(out);
	json_decref(b);
	json_decref(s);
	json_decref(c);
}

/* A spent budget stops the merge: MERGE_BUDGET, no result. */
static void
test_budget(void **state)
{
	struct merge_budget budget = { 0, 1000, 0 };
	json_t		*b, *s, *c, *out = NULL;

	(void)state;
	b = ramp(0, 5000);
	s = ramp(1, 5000);
	c = ramp(2, 5000);
	assert_int_equal(merge3(b, s, c, &budget, &out), MERGE_BUDGET);
	assert_null(out);
	/* a deadline in the past stops it too */
	budget.steps = 0;
	budget.max_steps = 0;
	budget.deadline_us = 1;
	assert_int_equal(merge3(b, s, c, &budget, &out), MERGE_BUDGET);
	assert_null(out);
	json_decref(b);
	json_decref(s);
	json_decref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged),
		cmocka_unit_test(test_one_side_only),
		cmocka_unit_test(test_disjoint_edits),
		cmocka_unit_test(test_same_edit),
		cmocka_unit_test(test_nested_objects),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_one_side_deletion),
		cmocka_unit_test(test_delete_vs_edit),
		cmocka_unit_test(test_type_change),
		cmocka_unit_test(test_scalar_conflict),
		cmocka_unit_test(test_non_objects),
		cmocka_unit_test(test_result_independent),
		cmocka_unit_test(test_array_cost),
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
