#include <stdio.h>
#include <string.h>

#include "json.h"

/*
 * Check that no container in the raw text nests deeper than max, without
 * parsing it: brackets inside strings are skipped.  jansson's own limit is
 * compiled in (2048), so the contract's 64 is enforced here, before any
 * allocation.  Returns 1 when within the limit.
 */
int
json_depth_ok(const char *p, size_t len, int max)
{
	size_t	 i;
	int	 depth = 0, in_str = 0;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '[' || c == '{') {
			if (++depth > max)
				return 0;
		} else if (c == ']' || c == '}')
			depth--;
	}
	return 1;
}

/*
 * Parse a request body.  Rejects duplicate keys, NUL bytes (raw or
 * \u0000: jansson refuses both without JSON_ALLOW_NUL), invalid UTF-8 and
 * nesting deeper than JSON_MAX_DEPTH.  On JSON_PARSE_OK *out is a new
 * reference the caller json_decref's; otherwise err holds a short reason.
 */
enum json_parse_rc
json_parse_body(const char *p, size_t len, json_t **out, char *err,
    size_t errsz)
{
	json_error_t	 jerr;

	*out = NULL;
	if (!json_depth_ok(p, len, JSON_MAX_DEPTH)) {
		snprintf(err, errsz, "JSON nested deeper than %d",
		    JSON_MAX_DEPTH);
		return JSON_PARSE_DEPTH;
	}
	if (memchr(p, '\0', len) != NULL) {
		snprintf(err, errsz, "NUL byte in body");
		return JSON_PARSE_SYNTAX;
	}
	*out = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &jerr);
	if (*out == NULL) {
		snprintf(err, errsz, "malformed JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return JSON_PARSE_SYNTAX;
	}
	return JSON_PARSE_OK;
}

/* Client-chosen ids: 1..128 bytes of [A-Za-z0-9._:-]. */
int
valid_id(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= 128;
}

/* Collection names: 1..64 bytes of [a-z0-9_-]. */
int
valid_collection(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= 64;
}

/* A string of min..max bytes (jansson already checked its UTF-8). */
int
valid_utf8_len(const char *s, size_t min, size_t max)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	return n >= min && n <= max;
}
