/*
 * request: what a handler reads a request and sets an answer with.  The
 * query parameters and body members it takes are checked here, and a bad
 * one fills the answer with 400 VALIDATION_FAILED naming it (lib/problem);
 * lib/http below knows FastCGI, requests and answers, and no problem.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "problem.h"
#include "request.h"

/*
 * An integer query parameter in min..max (never clamped: out of range is a
 * 400 naming it).  Returns 0, or -1 with resp filled.
 */
int
req_query_int(struct req *req, struct resp *resp, const char *name,
    int64_t def, int64_t min, int64_t max, int64_t *out)
{
	const char	*s = req_query(req, name);
	char		*end;
	long long	 v;

	if (s == NULL) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		problem_field(resp, 400, "VALIDATION_FAILED", name,
		    "%s must be an integer in %lld..%lld", name,
		    (long long)min, (long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A 0|1 (or true|false) query parameter.  Returns 0 or -1 with resp filled. */
int
req_query_bool(struct req *req, struct resp *resp, const char *name, int def,
    int *out)
{
	const char	*s = req_query(req, name);

	if (s == NULL)
		*out = def;
	else if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
		*out = 1;
	else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
		*out = 0;
	else {
		problem_field(resp, 400, "VALIDATION_FAILED", name,
		    "%s must be 0 or 1", name);
		return -1;
	}
	return 0;
}

/* Set a JSON response; takes ownership of body.  Returns status. */
int
resp_json(struct resp *resp, int status, json_t *body)
{
	json_decref(resp->body);
	resp->body = body;
	resp->status = status;
	resp->content_type = "application/json";
	if (body == NULL)
		return problem(resp, 500, "INTERNAL_ERROR", "out of memory");
	return status;
}

/* The body must be a JSON object.  Returns 0 or -1 with resp filled. */
int
body_object(struct req *req, struct resp *resp)
{
	if (req->json == NULL) {
		problem_field(resp, 400, "VALIDATION_FAILED", "body",
		    "a JSON object body is required");
		return -1;
	}
	if (!json_is_object(req->json)) {
		problem_field(resp, 400, "VALIDATION_FAILED", "body",
		    "the body must be a JSON object");
		return -1;
	}
	return 0;
}

/*
 * Look up key in obj.  Returns 1 when present (and not an allowed null),
 * 0 when absent, -1 after a "required" problem.
 */
static int
field_get(struct resp *resp, json_t *obj, const char *key, const char *path,
    int flags, json_t **v)
{
	*v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (*v != NULL && json_is_null(*v) && (flags & F_NULLABLE))
		*v = NULL;
	if (*v != NULL)
		return 1;
	if (flags & F_REQUIRED) {
		problem_field(resp, 400, "VALIDATION_FAILED", path,
		    "%s is required", path);
		return -1;
	}
	return 0;
}

int
field_str(struct resp *resp, json_t *obj, const char *key, const char *path,
    int flags, size_t min, size_t max, const char **out)
{
	json_t	*v;
	int	 rc;

	*out = NULL;
	if ((rc = field_get(resp, obj, key, path, flags, &v)) <= 0)
		return rc;
	if (!json_is_string(v)) {
		problem_field(resp, 400, "VALIDATION_FAILED", path,
		    "%s must be a string", path);
		return -1;
	}
	if (json_string_length(v) < min || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		problem_field(resp, 400, "VALIDATION_FAILED", path,
		    "%s must be %zu..%zu bytes", path, min, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int
field_id(struct resp *resp, json_t *obj, const char *key, const char *path,
    int flags, const char **out)
{
	if (field_str(resp, obj, key, path, flags, 0, SIZE_MAX, out) == -1)
		return -1;
	if (*out != NULL && !valid_id(*out)) {
		*out = NULL;
		problem_field(resp, 400, "VALIDATION_FAILED", path,
		    "%s must be 1..128 bytes of [A-Za-z0-9._:-]", path);
		return -1;
	}
	return 0;
}

int
field_int(struct resp *resp, json_t *obj, const char *key, const char *path,
    int flags, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	json_t	*v;
	int	 rc;

	*out = def;
	if ((rc = field_get(resp, obj, key, path, flags, &v)) <= 0)
		return rc;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		problem_field(resp, 400, "VALIDATION_FAILED", path,
		    "%s must be an integer in %lld..%lld", path,
		    (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

int
field_bool(struct resp *resp, json_t *obj, const char *key, const char *path,
    int flags, int def, int *out)
{
	json_t	*v;
	int	 rc;

	*out = def;
	if ((rc = field_get(resp, obj, key, path, flags, &v)) <= 0)
		return rc;
	if (!json_is_boolean(v)) {
		problem_field(resp, 400, "VALIDATION_FAILED", path,
		    "%s must be true or false", path);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* A string member that must be one of names (NULL-terminated). */
int
field_enum(struct resp *resp, json_t *obj, const char *key, const char *path,
    int flags, const char *const *names, int def, int *out)
{
	const char	*s;
	int		 i;

	*out = def;
	if (field_str(resp, obj, key, path, flags, 0, 256, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0) {
			*out = i;
			return 0;
		}
	problem_field(resp, 400, "VALIDATION_FAILED", path,
	    "%s has an unknown value", path);
	return -1;
}
