/*
 * fuzz_json_body: the request-body parser every JSON endpoint goes through
 * (json_parse_body), the field getters handlers validate bodies with, and
 * the RFC 8785 canonical form (jcs_dump, jcs_sha256) that message hashes
 * and record checksums are taken over, on whatever parses.
 *
 * Invariants (a violation aborts, which libFuzzer reports as a crash):
 * - a parse either yields a value and no error, or an error text and no
 *   value; a parsed body had no NUL byte and nests at most JSON_MAX_DEPTH;
 * - each getter either returns -1 with a 400 VALIDATION_FAILED problem
 *   naming the field, or 0 with a value inside the bounds it was given;
 * - the canonical form exists for every parsed value, parses back, and is
 *   a fixed point (canonicalising it again gives the same bytes);
 * - jcs_sha256 is "sha256:" and 64 lowercase hex digits;
 * - the stored round trip keeps a value: its numbers normalised as
 *   handlers do (json_numbers_normal), its canonical text read back as a
 *   stored record is (json_load_stored) canonicalises to the same bytes,
 *   and the answer form (jcs_dump_answer) parses back to it too.
 */
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "jcs.h"
#include "json.h"
#include "problem.h"
#include "request.h"

static const char *const strategies[] = {
	"manual", "server_wins", "client_wins", "lww", "merge", NULL
};

/* After a getter: -1 must come with a 400 naming path, 0 with none. */
static void
check_getter(int rc, struct resp *resp, const char *path)
{
	json_t	*f;

	FUZZ_CHECK(rc == 0 || rc == -1, "getter returned %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(resp->status == 0, "status %d on success",
		    resp->status);
		return;
	}
	FUZZ_CHECK(resp->status == 400, "status %d", resp->status);
	FUZZ_CHECK(resp->body != NULL, "no problem document");
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(resp->body,
	    "code")), "VALIDATION_FAILED") == 0, "wrong code");
	f = json_object_get(resp->body, "field");
	FUZZ_CHECK(json_is_string(f) && strcmp(json_string_value(f), path) ==
	    0, "field is not %s", path);
	resp_free(resp);
	resp_init(resp);
}

/*
 * Every getter over one member name of obj.  Handlers name fields by
 * paths the program chooses ("changes[0].id"), never by the client's
 * member names, so the path here is fixed: P.
 */
#define P	"changes[0].data"

static void
getters(json_t *obj, const char *key)
{
	struct resp	 resp;
	const char	*s;
	int64_t		 i;
	int		 b, e, rc;

	resp_init(&resp);
	rc = field_str(&resp, obj, key, P, F_REQUIRED, 1, 64, &s);
	check_getter(rc, &resp, P);
	if (rc == 0)
		FUZZ_CHECK(s != NULL && strlen(s) >= 1 && strlen(s) <= 64,
		    "field_str out of bounds");
	rc = field_str(&resp, obj, key, P, F_NULLABLE, 0, SIZE_MAX, &s);
	check_getter(rc, &resp, P);
	if (rc == 0 && s != NULL)
		FUZZ_CHECK(strlen(s) == json_string_length(json_object_get(obj,
		    key)), "a string with a NUL got through");
	rc = field_id(&resp, obj, key, P, 0, &s);
	check_getter(rc, &resp, P);
	if (rc == 0 && s != NULL)
		FUZZ_CHECK(valid_id(s), "field_id let '%s' through", s);
	rc = field_int(&resp, obj, key, P, F_NULLABLE, -100,
	    INT64_C(1) << 40, 7, &i);
	check_getter(rc, &resp, P);
	if (rc == 0)
		FUZZ_CHECK(i >= -100 && i <= INT64_C(1) << 40,
		    "field_int %lld", (long long)i);
	rc = field_int(&resp, obj, key, P, F_REQUIRED, INT64_MIN, INT64_MAX,
	    0, &i);
	check_getter(rc, &resp, P);
	rc = field_bool(&resp, obj, key, P, 0, 2, &b);
	check_getter(rc, &resp, P);
	if (rc == 0)
		FUZZ_CHECK(b == 0 || b == 1 || b == 2, "field_bool %d", b);
	rc = field_enum(&resp, obj, key, P, F_NULLABLE, strategies, -1, &e);
	check_getter(rc, &resp, P);
	if (rc == 0)
		FUZZ_CHECK(e >= -1 && e < 5, "field_enum %d", e);
	resp_free(&resp);
}

static void
canonical(json_t *v)
{
	char		*c1, *c2, h[JCS_SHA256_LEN];
	json_t		*back;
	json_error_t	 jerr;
	size_t		 i;

	c1 = jcs_dump(v);
	FUZZ_CHECK(c1 != NULL, "no canonical form for a parsed value");
	for (i = 0; c1[i] != '\0'; i++)
		FUZZ_CHECK((unsigned char)c1[i] >= 0x20,
		    "raw control byte in the canonical form");
	/*
	 * Integers past 2^53 come out as the nearest double, which jansson
	 * may refuse as an integer: read numbers back as reals.
	 */
	back = json_loads(c1, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
	    &jerr);
	FUZZ_CHECK(back != NULL, "canonical form does not parse: %s: %s",
	    jerr.text, c1);
	c2 = jcs_dump(back);
	FUZZ_CHECK(c2 != NULL && strcmp(c1, c2) == 0,
	    "not a fixed point:\n%s\n%s", c1, c2 ? c2 : "(null)");
	FUZZ_CHECK(jcs_sha256(v, h) == 0, "jcs_sha256 failed");
	FUZZ_CHECK(strlen(h) == 71 && strncmp(h, "sha256:", 7) == 0 &&
	    strspn(h + 7, "0123456789abcdef") == 64, "bad hash %s", h);
	json_decref(back);
	free(c1);
	free(c2);
}

/* As a record goes: normalised, stored as canonical text, read back. */
static void
stored(json_t *v)
{
	json_t		*n, *back, *ans;
	char		*c1, *c2, *a, *c3;
	json_error_t	 jerr;

	n = json_deep_copy(v);
	if (n == NULL)
		return;
	json_numbers_normal(n);
	c1 = jcs_dump(n);
	FUZZ_CHECK(c1 != NULL, "no canonical form after normalising");
	back = json_load_stored(c1, strlen(c1));
	FUZZ_CHECK(back != NULL, "stored text does not read back: %s", c1);
	c2 = jcs_dump(back);
	FUZZ_CHECK(c2 != NULL && strcmp(c1, c2) == 0,
	    "the stored round trip changed it:\n%s\n%s", c1, c2 ? c2 : "");
	a = jcs_dump_answer(back);
	FUZZ_CHECK(a != NULL, "no answer form");
	ans = json_loads(a, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
	FUZZ_CHECK(ans != NULL, "the answer form does not parse: %s", a);
	json_numbers_normal(ans);
	c3 = jcs_dump(ans);
	FUZZ_CHECK(c3 != NULL && strcmp(c1, c3) == 0,
	    "the answer form is another value:\n%s\n%s", c1, c3 ? c3 : "");
	json_decref(ans);
	json_decref(back);
	json_decref(n);
	free(a);
	free(c1);
	free(c2);
	free(c3);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"id", "email", "password", "changes", "base_version", "body",
		"strategy", "deleted", "ttl_ms", "", NULL
	};
	struct req	 req;
	struct resp	 resp;
	json_t		*v = NULL, *m;
	const char	*key;
	char		 err[256];
	enum json_parse_rc rc;
	size_t		 i;

	err[0] = '\0';
	rc = json_parse_body((const char *)data, size, &v, err, sizeof(err));
	if (rc != JSON_PARSE_OK) {
		FUZZ_CHECK(v == NULL && err[0] != '\0',
		    "failed parse with a value or without a reason");
		/* the dispatcher's answer to it must be a problem document */
		resp_init(&resp);
		problem_field(&resp, 400, "VALIDATION_FAILED", "body", "%s", err);
		FUZZ_CHECK(resp.body != NULL && resp.status == 400,
		    "no problem document for: %s", err);
		resp_free(&resp);
		return 0;
	}
	FUZZ_CHECK(v != NULL, "parse OK without a value");
	FUZZ_CHECK(memchr(data, '\0', size) == NULL, "NUL byte accepted");
	FUZZ_CHECK(json_depth_ok((const char *)data, size, JSON_MAX_DEPTH),
	    "too deep accepted");

	/* body_object as handlers call it */
	req_init(&req);
	resp_init(&resp);
	req.json = v;
	if (body_object(&req, &resp) == 0)
		FUZZ_CHECK(json_is_object(v), "body_object took a non-object");
	else
		FUZZ_CHECK(!json_is_object(v) && resp.status == 400,
		    "body_object refused an object");
	req.json = NULL;
	req_free(&req);
	resp_free(&resp);

	for (i = 0; keys[i] != NULL; i++)
		getters(v, keys[i]);
	json_object_foreach(v, key, m)
		getters(v, key);
	/* one level down too: device.id, changes[0].id */
	json_object_foreach(v, key, m) {
		if (json_is_array(m))
			m = json_array_get(m, 0);
		if (json_is_object(m)) {
			const char *k2;
			json_t *m2;
			json_object_foreach(m, k2, m2)
				getters(m, k2);
		}
	}

	canonical(v);
	stored(v);
	json_decref(v);
	return 0;
}
