/* Unit tests of lib/problem and the response/field helpers of lib/http. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "db.h"
#include "http.h"
#include "handlers.h"
#include "problem.h"

static void
test_problem_document(void **state)
{
	struct resp	 r;

	(void)state;
	resp_init(&r);
	assert_int_equal(problem(&r, 410, "SESSION_KILLED",
	    "session %s was killed", "s1"), 410);
	assert_int_equal(r.status, 410);
	assert_string_equal(r.content_type, "application/problem+json");
	assert_string_equal(json_string_value(json_object_get(r.body, "type")),
	    "/errors/SESSION_KILLED");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "title")), "Session killed");
	assert_int_equal(json_integer_value(json_object_get(r.body,
	    "status")), 410);
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "detail")), "session s1 was killed");
	assert_string_equal(json_string_value(json_object_get(r.body, "code")),
	    "SESSION_KILLED");
	problem_set(&r, "original", json_pack("{s:i}", "id", 3));
	assert_non_null(json_object_get(r.body, "original"));
	resp_free(&r);
}

static void
test_problem_field_and_db(void **state)
{
	struct resp	 r;

	(void)state;
	resp_init(&r);
	problem_field(&r, 400, "VALIDATION_FAILED", "changes[0].id", "bad");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "field")), "changes[0].id");
	/* a second problem replaces the first */
	answer_db(&r, DB_BUSY);
	assert_int_equal(r.status, 503);
	assert_null(json_object_get(r.body, "field"));
	assert_non_null(strstr(buf_str(&r.headers), "Retry-After: 1"));
	answer_db(&r, DB_NOTFOUND);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	resp_init(&r);
	answer_db(&r, DB_TIMEOUT);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(json_string_value(json_object_get(r.body,
	    "detail")), "nothing was written"));
	resp_free(&r);
	assert_string_equal(problem_title("NO_SUCH_CODE"), "Error");
	assert_string_equal(http_reason(423), "Locked");
}

/* An outcome table's row: status, code, detail with the id, members. */
static void
test_outcome(void **state)
{
	static const struct outcome with_id = { 410, "SESSION_KILLED",
	    "session %s was killed", NULL, NULL, NULL };
	static const struct outcome plain = { 403, "QUOTA_EXCEEDED",
	    "the quota is used up (100%s)", "changes", "quota", "bytes" };
	static const struct outcome no_fmt = { 404, "NOT_FOUND",
	    "no such conflict", "after", NULL, NULL };
	struct resp	 r;

	(void)state;
	resp_init(&r);
	problem_outcome(&r, &with_id, "s1");
	assert_int_equal(r.status, 410);
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "detail")), "session s1 was killed");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "title")), "Session killed");
	problem_outcome(&r, &plain, "x");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "quota")), "bytes");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "field")), "changes");
	/* no %s: the id is not used, and the detail is no format */
	problem_outcome(&r, &no_fmt, "%n%n");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "detail")), "no such conflict");
	resp_free(&r);
}

static void
test_fields(void **state)
{
	struct resp	 r;
	json_t		*o;
	const char	*s;
	int64_t		 n;
	int		 b, e;
	static const char *const names[] = { "claim", "renew", NULL };

	(void)state;
	resp_init(&r);
	o = json_pack("{s:s, s:i, s:b, s:n, s:s, s:s}", "s", "hey", "i", 7,
	    "b", 1, "nul", "id", "bad id", "act", "renew");
	assert_int_equal(field_str(&r, o, "s", "s", F_REQUIRED, 1, 3, &s), 0);
	assert_string_equal(s, "hey");
	assert_int_equal(field_str(&r, o, "s", "s", 0, 4, 9, &s), -1);
	assert_int_equal(r.status, 400);
	assert_int_equal(field_str(&r, o, "i", "x.i", 0, 0, 9, &s), -1);
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "field")), "x.i");
	assert_int_equal(field_str(&r, o, "missing", "m", 0, 0, 9, &s), 0);
	assert_null(s);
	assert_int_equal(field_str(&r, o, "missing", "m", F_REQUIRED, 0, 9,
	    &s), -1);
	assert_int_equal(field_str(&r, o, "nul", "nul", F_NULLABLE, 0, 9,
	    &s), 0);
	assert_null(s);
	assert_int_equal(field_str(&r, o, "nul", "nul", 0, 0, 9, &s), -1);
	assert_int_equal(field_int(&r, o, "i", "i", 0, 0, 10, 0, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(field_int(&r, o, "i", "i", 0, 8, 10, 0, &n), -1);
	assert_int_equal(field_int(&r, o, "s", "s", 0, 0, 10, 0, &n), -1);
	assert_int_equal(field_int(&r, o, "zz", "zz", 0, 0, 10, 5, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(field_bool(&r, o, "b", "b", 0, 0, &b), 0);
	assert_true(b);
	assert_int_equal(field_bool(&r, o, "i", "i", 0, 0, &b), -1);
	assert_int_equal(field_id(&r, o, "id", "id", 0, &s), -1);
	assert_int_equal(field_id(&r, o, "s", "s", 0, &s), 0);
	assert_int_equal(field_enum(&r, o, "act", "action", 0, names, -1, &e),
	    0);
	assert_int_equal(e, 1);
	assert_int_equal(field_enum(&r, o, "s", "action", 0, names, -1, &e),
	    -1);
	json_decref(o);
	resp_free(&r);
}

static void
test_query(void **state)
{
	struct req	 q;
	struct resp	 r;
	int64_t		 n;
	int		 b;

	(void)state;
	req_init(&q);
	resp_init(&r);
	q.query = strdup("since=12&collections=a%2Cb&x=a+b&empty=&flag=1");
	assert_int_equal(req_parse_query(&q), 0);
	assert_string_equal(req_query(&q, "collections"), "a,b");
	assert_string_equal(req_query(&q, "x"), "a b");
	assert_string_equal(req_query(&q, "empty"), "");
	assert_null(req_query(&q, "nope"));
	assert_int_equal(req_query_int(&q, &r, "since", 0, 0, 100, &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(req_query_int(&q, &r, "since", 0, 0, 10, &n), -1);
	assert_int_equal(r.status, 400);
	assert_int_equal(req_query_int(&q, &r, "empty", 0, 0, 10, &n), -1);
	assert_int_equal(req_query_int(&q, &r, "absent", 9, 0, 10, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal(req_query_bool(&q, &r, "flag", 0, &b), 0);
	assert_true(b);
	assert_int_equal(req_query_bool(&q, &r, "x", 0, &b), -1);
	req_free(&q);

	req_init(&q);
	q.query = strdup("a=1&a=2");
	assert_int_equal(req_parse_query(&q), -1);
	req_free(&q);
	req_init(&q);
	q.query = strdup("a=%zz");
	assert_int_equal(req_parse_query(&q), -1);
	req_free(&q);
	req_init(&q);
	q.query = strdup("a=%00");
	assert_int_equal(req_parse_query(&q), -1);
	req_free(&q);
	req_init(&q);
	q.query = strdup("a=%4");
	assert_int_equal(req_parse_query(&q), -1);
	req_free(&q);
	resp_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_problem_document),
		cmocka_unit_test(test_problem_field_and_db),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
