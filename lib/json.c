#include <math.h>
#include <stdint.h>
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

/* Integers up to 2^53 in magnitude are exact as IEEE doubles. */
#define EXACT_INT	((json_int_t)1 << 53)

/*
 * The normal form of number v, or NULL when v is already in it (or is no
 * number): see json_numbers_normal.  Returns a new reference.
 */
static json_t *
number_normal(const json_t *v)
{
	json_int_t	 n;
	double		 d;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n >= -EXACT_INT && n <= EXACT_INT)
			return NULL;
		/* the double it denotes, which may round to 2^53 itself */
		d = (double)n;
		return fabs(d) <= (double)EXACT_INT ?
		    json_integer((json_int_t)d) : json_real(d);
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (d == trunc(d) && fabs(d) <= (double)EXACT_INT)
			return json_integer((json_int_t)d);
	}
	return NULL;
}

/*
 * Bring every number inside container v into the one form the server
 * holds numbers in: an I-JSON double (RFC 7493), as a jansson integer
 * when it is integral and within +-2^53, else as a real.  An integer
 * literal past 2^53 becomes the double it denotes and a real such as 5.0
 * the integer 5, so that two texts with the same canonical (RFC 8785)
 * form make equal values (json_equal, the three-way merge).  In place; a
 * bare number is left as it is (its parent replaces it).
 */
void
json_numbers_normal(json_t *v)
{
	const char	*key;
	json_t		*item, *n;
	size_t		 i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item) {
			if ((n = number_normal(item)) != NULL)
				json_object_set_new(v, key, n);
			else
				json_numbers_normal(item);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if ((n = number_normal(item)) != NULL)
				json_array_set_new(v, i, n);
			else
				json_numbers_normal(item);
		}
	}
}

/*
 * Parse JSON text the server stored itself (canonical data, event data)
 * back into a value, keeping every I-JSON number: canonical text writes
 * 1.5e19 as 15000000000000000000, an integer jansson would refuse, so
 * every number is read as a double and then brought to the normal form.
 * Returns a new reference, or NULL when the text does not parse.
 */
json_t *
json_load_stored(const char *s, size_t len)
{
	json_t	*v, *n;

	v = json_loadb(s, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
	    NULL);
	if (v == NULL)
		return NULL;
	if ((n = number_normal(v)) != NULL) {
		json_decref(v);
		return n;
	}
	json_numbers_normal(v);
	return v;
}

/*
 * Normalise the numbers of member key of object obj (json_numbers_normal),
 * a bare number included, and return the member (borrowed), or NULL when
 * obj has no such member.
 */
json_t *
json_member_normal(json_t *obj, const char *key)
{
	json_t	*v = json_object_get(obj, key), *n;

	if (v == NULL)
		return NULL;
	if ((n = number_normal(v)) != NULL) {
		json_object_set_new(obj, key, n);
		return json_object_get(obj, key);
	}
	json_numbers_normal(v);
	return v;
}

/*
 * Make s valid UTF-8 in place: a byte that does not start or continue a
 * well-formed sequence (a parser's message may quote half a character,
 * vsnprintf may cut one, a path may hold any byte) becomes '?'.  jansson
 * refuses invalid strings.
 */
void
utf8_scrub(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 n, i;
	uint32_t	 cp;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
		    (*p & 0xf8) == 0xf0 ? 4 : 0;
		cp = n == 2 ? (*p & 0x1fu) : n == 3 ? (*p & 0x0fu) : (*p & 0x07u);
		for (i = 1; n > 0 && i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				n = 0;
			else
				cp = (cp << 6) | (p[i] & 0x3fu);
		}
		/* overlong forms, surrogates and past U+10FFFF are invalid */
		if (n == 0 || (n == 2 && cp < 0x80) ||
		    (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
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
