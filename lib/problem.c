#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "json.h"
#include "problem.h"

static const struct {
	const char *code;
	const char *title;
} titles[] = {
	{ "NOT_FOUND",			"Not found" },
	{ "METHOD_NOT_ALLOWED",		"Method not allowed" },
	{ "PAYLOAD_TOO_LARGE",		"Payload too large" },
	{ "UNSUPPORTED_MEDIA_TYPE",	"Unsupported media type" },
	{ "VALIDATION_FAILED",		"Validation failed" },
	{ "INVALID_TOKEN",		"Invalid token" },
	{ "TOKEN_EXPIRED",		"Token expired" },
	{ "TOKEN_REUSED",		"Refresh token reused" },
	{ "DEVICE_REVOKED",		"Device revoked" },
	{ "INVALID_CREDENTIALS",	"Invalid credentials" },
	{ "EMAIL_TAKEN",		"Email taken" },
	{ "DEVICE_LIMIT_EXCEEDED",	"Device limit exceeded" },
	{ "LINK_NOT_FOUND",		"Link not found" },
	{ "LINK_DENIED",		"Link denied" },
	{ "LINK_EXPIRED",		"Link expired" },
	{ "HASH_MISMATCH",		"Hash mismatch" },
	{ "DUPLICATE_MESSAGE",		"Duplicate message" },
	{ "SESSION_KILLED",		"Session killed" },
	{ "NOT_PRIMARY",		"Not primary" },
	{ "PRIMARY_HELD",		"Primary held" },
	{ "NOT_HOLDER",			"Not holder" },
	{ "LOCKED",			"Locked" },
	{ "CURSOR_EXPIRED",		"Cursor expired" },
	{ "CHECKSUM_MISMATCH",		"Checksum mismatch" },
	{ "SECRET_REJECTED",		"Secret rejected" },
	{ "ALREADY_RESOLVED",		"Already resolved" },
	{ "CONFLICT_STALE",		"Conflict stale" },
	{ "RATE_LIMITED",		"Rate limited" },
	{ "FORBIDDEN",			"Forbidden" },
	{ "SCOPE_MISSING",		"Scope missing" },
	{ "QUOTA_EXCEEDED",		"Quota exceeded" },
	{ "URI_TOO_LONG",		"URI too long" },
	{ "HEADERS_TOO_LARGE",		"Headers too large" },
	{ "SERVICE_UNAVAILABLE",	"Service unavailable" },
	{ "BAD_GATEWAY",		"Bad gateway" },
	{ "GATEWAY_TIMEOUT",		"Gateway timeout" },
	{ "INTERNAL_ERROR",		"Internal error" },
	{ NULL, NULL }
};

const char *
problem_title(const char *code)
{
	size_t	 i;

	for (i = 0; titles[i].code != NULL; i++)
		if (strcmp(titles[i].code, code) == 0)
			return titles[i].title;
	return "Error";
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 423: return "Locked";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Unknown";
	}
}

static int
problem_v(struct resp *resp, int status, const char *code, const char *field,
    const char *fmt, va_list ap)
{
	char	 detail[512];
	struct buf type;

	vsnprintf(detail, sizeof(detail), fmt, ap);
	utf8_scrub(detail);
	buf_init(&type, 256);
	buf_addf(&type, "/errors/%s", code);
	json_decref(resp->body);
	resp->body = json_pack("{s:s, s:s, s:i, s:s, s:s}",
	    "type", buf_str(&type), "title", problem_title(code),
	    "status", status, "detail", detail, "code", code);
	buf_release(&type);
	if (resp->body == NULL)
		resp->body = json_pack("{s:s, s:s, s:i, s:s}", "type",
		    "/errors/INTERNAL_ERROR", "title", problem_title(code),
		    "status", status, "code", code);
	if (field != NULL && resp->body != NULL)
		json_object_set_new(resp->body, "field", json_string(field));
	resp->status = status;
	resp->content_type = "application/problem+json";
	return status;
}

/* Make resp a problem document; returns status for `return problem(...)`. */
int
problem(struct resp *resp, int status, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = problem_v(resp, status, code, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* As problem(), with the "field" member naming the culprit. */
int
problem_field(struct resp *resp, int status, const char *code,
    const char *field, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = problem_v(resp, status, code, field, fmt, ap);
	va_end(ap);
	return rc;
}

/* Add a member to the problem document; takes ownership of value. */
void
problem_set(struct resp *resp, const char *key, json_t *value)
{
	if (resp->body != NULL && value != NULL)
		json_object_set_new(resp->body, key, value);
	else
		json_decref(value);
}

/*
 * Answer with an outcome table's row o (see problem.h), its detail given
 * the resource's id.  A 503 asks to retry in a second.  Returns the
 * status.
 */
int
problem_outcome(struct resp *resp, const struct outcome *o, const char *id)
{
	if (o->status == 503 || o->status == 429)
		resp_header(resp, "Retry-After", "1");
	if (strstr(o->detail, "%s") == NULL)
		id = NULL;
	if (o->field != NULL && id != NULL)
		problem_field(resp, o->status, o->code, o->field, o->detail,
		    id);
	else if (o->field != NULL)
		problem_field(resp, o->status, o->code, o->field, "%s",
		    o->detail);
	else if (id != NULL)
		problem(resp, o->status, o->code, o->detail, id);
	else
		problem(resp, o->status, o->code, "%s", o->detail);
	if (o->extra_name != NULL)
		problem_set(resp, o->extra_name, json_string(o->extra_value));
	return resp->status;
}
