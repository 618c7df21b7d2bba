/*
 * jcs: RFC 8785 JSON Canonicalization Scheme over jansson values.
 *
 * jansson's JSON_COMPACT | JSON_SORT_KEYS is close but not canonical: it
 * sorts keys by bytes, writes \u escapes in upper case and prints reals
 * with "%.17g" (0.1 as 0.10000000000000001).  This module writes the exact
 * form RFC 8785 defines, so that a hash taken here matches the one any JCS
 * library computes on a client.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jcs.h"

/* A private growable buffer: this module stays free of other lib/ code. */
struct jbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	int	 keep_order;	/* members as the object holds them */
};

/* One object member, gathered for sorting. */
struct member {
	const char	*key;
	size_t		 key_len;
	const json_t	*value;
};

static int	put_value(struct jbuf *, const json_t *);

/*
 * Make room for n more bytes plus a NUL.  Returns 0, or -1 on overflow
 * or allocation failure (the buffer is left as it was).
 */
static int
jbuf_grow(struct jbuf *b, size_t n)
{
	size_t	 cap;
	char	*p;

	if (n > SIZE_MAX - b->len - 1)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap == 0 ? 256 : b->cap;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			cap = b->len + n + 1;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Append n bytes of p, keeping the contents NUL-terminated. */
static int
jbuf_add(struct jbuf *b, const char *p, size_t n)
{
	if (jbuf_grow(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int
jbuf_addc(struct jbuf *b, char c)
{
	return jbuf_add(b, &c, 1);
}

static int
jbuf_adds(struct jbuf *b, const char *s)
{
	return jbuf_add(b, s, strlen(s));
}

/*
 * Write a JSON string: raw UTF-8 with only the escapes RFC 8785 requires
 * (quote, backslash, the short forms of \b \f \n \r \t and \u00xx for the
 * other control characters).  Returns 0 or -1.
 */
static int
put_string(struct jbuf *b, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, run;
	char			 esc[7];
	unsigned char		 c;

	if (jbuf_addc(b, '"') == -1)
		return -1;
	run = 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (jbuf_add(b, s + run, i - run) == -1)
			return -1;
		run = i + 1;
		esc[0] = '\\';
		esc[2] = '\0';
		switch (c) {
		case '"':  esc[1] = '"';  break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b';  break;
		case '\f': esc[1] = 'f';  break;
		case '\n': esc[1] = 'n';  break;
		case '\r': esc[1] = 'r';  break;
		case '\t': esc[1] = 't';  break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			esc[6] = '\0';
			break;
		}
		if (jbuf_adds(b, esc) == -1)
			return -1;
	}
	if (jbuf_add(b, s + run, len - run) == -1)
		return -1;
	return jbuf_addc(b, '"');
}

/*
 * Read a "%.*e" rendering "d.ddde[+-]XX" of p digits as m * 10^q.
 * Returns 0, or -1 when s is not of that shape.
 */
static int
parse_sci(const char *s, uint64_t *m, int *q)
{
	size_t	 i, k = 0;
	long	 e;

	*m = 0;
	for (i = 0; s[i] != '\0' && s[i] != 'e'; i++) {
		if (s[i] < '0' || s[i] > '9')
			continue;
		if (k++ == 19)
			return -1;
		*m = *m * 10 + (uint64_t)(s[i] - '0');
	}
	if (s[i] != 'e' || k == 0)
		return -1;
	e = strtol(s + i + 1, NULL, 10);
	if (e < -400 || e > 400)
		return -1;
	*q = (int)e - (int)(k - 1);
	return 0;
}

/* Does m * 10^q read back (by strtod) as exactly x? */
static int
round_trips(uint64_t m, int q, double x)
{
	char	 tmp[48];

	snprintf(tmp, sizeof(tmp), "%" PRIu64 "e%d", m, q);
	return strtod(tmp, NULL) == x;
}

/*
 * Find the shortest decimal m * 10^q that reads back as x > 0, the one
 * closest to x among those of that length (ECMAScript's Number::toString
 * steps 5..6).  The correctly rounded p-digit value is the closest; when
 * it misses x's rounding interval a p-digit neighbour can still hit it,
 * since the interval is lopsided at powers of two.  Writes the digits of
 * m without trailing zeros to digits (NUL-terminated), their count to *k
 * and the decimal point's position to *n.  Returns 0 or -1.
 */
static int
shortest_digits(double x, char digits[24], size_t *k, int *n)
{
	char		 tmp[40];
	uint64_t	 m = 0;
	int		 p, q = 0, len, found = 0;

	for (p = 1; p <= 17 && !found; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, x);
		if (parse_sci(tmp, &m, &q) == -1)
			return -1;
		if (strtod(tmp, NULL) == x)
			found = 1;
		else if (round_trips(m + 1, q, x)) {
			m++;
			found = 1;
		} else if (m > 1 && round_trips(m - 1, q, x)) {
			m--;
			found = 1;
		}
	}
	if (!found || m == 0)
		return -1;
	while (m % 10 == 0) {
		m /= 10;
		q++;
	}
	len = snprintf(digits, 24, "%" PRIu64, m);
	if (len <= 0 || len >= 24)
		return -1;
	*k = (size_t)len;
	*n = len + q;
	return 0;
}

/*
 * Write a finite double as ECMAScript's Number.prototype.toString does:
 * the fewest significant digits that read back as the same double, in
 * plain decimal notation when 1e-7 <= |x| < 1e21, else as d.ddde+N.
 * Returns 0, or -1 for NaN and infinities (JSON has no such numbers).
 *
 * snprintf and strtod follow LC_NUMERIC; the server runs in the "C"
 * locale, where the radix character is '.'.
 */
static int
put_double(struct jbuf *b, double x)
{
	char	 digits[24], num[48];
	size_t	 k, i, o;
	int	 n;

	if (!isfinite(x))
		return -1;
	if (x == 0.0)
		return jbuf_addc(b, '0');	/* -0 too */
	o = 0;
	if (x < 0) {
		num[o++] = '-';
		x = -x;
	}
	if (shortest_digits(x, digits, &k, &n) == -1)
		return -1;

	if ((int)k <= n && n <= 21) {
		memcpy(num + o, digits, k);
		o += k;
		for (i = k; i < (size_t)n; i++)
			num[o++] = '0';
	} else if (0 < n && n <= 21) {
		memcpy(num + o, digits, (size_t)n);
		o += (size_t)n;
		num[o++] = '.';
		memcpy(num + o, digits + n, k - (size_t)n);
		o += k - (size_t)n;
	} else if (-6 < n && n <= 0) {
		num[o++] = '0';
		num[o++] = '.';
		for (i = 0; i < (size_t)-n; i++)
			num[o++] = '0';
		memcpy(num + o, digits, k);
		o += k;
	} else {
		num[o++] = digits[0];
		if (k > 1) {
			num[o++] = '.';
			memcpy(num + o, digits + 1, k - 1);
			o += k - 1;
		}
		o += (size_t)snprintf(num + o, sizeof(num) - o, "e%c%d",
		    n - 1 < 0 ? '-' : '+', n - 1 < 0 ? 1 - n : n - 1);
	}
	return jbuf_add(b, num, o);
}

/*
 * Write a jansson integer.  Up to 2^53 in magnitude it is exact as an
 * IEEE double and prints as itself; beyond that a JCS implementation
 * sees the nearest double, so print that.
 */
static int
put_integer(struct jbuf *b, json_int_t v)
{
	const json_int_t	 lim = (json_int_t)1 << 53;
	char			 num[32];
	int			 n;

	if (v < -lim || v > lim)
		return put_double(b, (double)v);
	n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, v);
	if (n < 0 || (size_t)n >= sizeof(num))
		return -1;
	return jbuf_add(b, num, (size_t)n);
}

/*
 * Decode the UTF-8 sequence at s[*i] (jansson strings are valid UTF-8),
 * advance *i past it and return its code point.  A malformed byte is
 * taken as a code point of its own so that the comparison still ends.
 */
static uint32_t
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	uint32_t	 cp;
	size_t		 n, j;

	cp = s[*i];
	if (cp < 0x80)
		n = 0;
	else if ((cp & 0xe0) == 0xc0) {
		n = 1;
		cp &= 0x1f;
	} else if ((cp & 0xf0) == 0xe0) {
		n = 2;
		cp &= 0x0f;
	} else if ((cp & 0xf8) == 0xf0) {
		n = 3;
		cp &= 0x07;
	} else {
		(*i)++;
		return cp;
	}
	if (n > len - *i - 1) {
		(*i)++;
		return s[*i - 1];
	}
	for (j = 1; j <= n; j++) {
		if ((s[*i + j] & 0xc0) != 0x80) {
			(*i)++;
			return s[*i - 1];
		}
		cp = (cp << 6) | (s[*i + j] & 0x3f);
	}
	*i += n + 1;
	return cp;
}

/* The first UTF-16 code unit of cp: itself, or its high surrogate. */
static uint32_t
utf16_lead(uint32_t cp)
{
	if (cp < 0x10000)
		return cp;
	return 0xd800 + ((cp - 0x10000) >> 10);
}

/*
 * Compare two UTF-8 strings by their UTF-16 code units, as RFC 8785
 * sorts member names.  This is code point order except that characters
 * above U+FFFF (surrogate pairs, D800..DFFF) sort before U+E000..U+FFFF.
 */
static int
utf16_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const unsigned char	*ua = (const unsigned char *)a;
	const unsigned char	*ub = (const unsigned char *)b;
	size_t			 i = 0, j = 0;
	uint32_t		 ca, cb, la, lb;

	while (i < alen && j < blen) {
		ca = utf8_next(ua, alen, &i);
		cb = utf8_next(ub, blen, &j);
		if (ca == cb)
			continue;
		la = utf16_lead(ca);
		lb = utf16_lead(cb);
		if (la != lb)
			return la < lb ? -1 : 1;
		/* Same high surrogate: low surrogates follow code points. */
		return ca < cb ? -1 : 1;
	}
	if (i < alen)
		return 1;
	if (j < blen)
		return -1;
	return 0;
}

static int
member_cmp(const void *pa, const void *pb)
{
	const struct member	*a = pa, *b = pb;

	return utf16_cmp(a->key, a->key_len, b->key, b->key_len);
}

/*
 * Write an object with its members sorted.  The member array is freed
 * here; the keys and values stay owned by obj.  Returns 0 or -1.
 */
static int
put_object(struct jbuf *b, const json_t *obj)
{
	struct member	*m = NULL;
	size_t		 n, i;
	void		*it;
	int		 rc = -1;

	n = json_object_size(obj);
	if (n > 0) {
		m = calloc(n, sizeof(*m));
		if (m == NULL)
			goto out;
	}
	/* jansson's iterator API takes a non-const object; it only reads. */
	i = 0;
	for (it = json_object_iter((json_t *)obj); it != NULL && i < n;
	    it = json_object_iter_next((json_t *)obj, it)) {
		m[i].key = json_object_iter_key(it);
		m[i].key_len = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
		i++;
	}
	n = i;
	if (n > 1 && !b->keep_order)
		qsort(m, n, sizeof(*m), member_cmp);

	if (jbuf_addc(b, '{') == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (i > 0 && jbuf_addc(b, ',') == -1)
			goto out;
		if (put_string(b, m[i].key, m[i].key_len) == -1)
			goto out;
		if (jbuf_addc(b, ':') == -1)
			goto out;
		if (put_value(b, m[i].value) == -1)
			goto out;
	}
	if (jbuf_addc(b, '}') == -1)
		goto out;
	rc = 0;
out:
	free(m);
	return rc;
}

/*
 * A deep copy of v whose objects hold their members in canonical order,
 * so that it prints (json_dumps, jcs_dump_answer) as the text jcs_dump
 * makes: how a value the server stored canonically reads back.  Returns
 * a new reference or NULL when out of memory.
 */
json_t *
jcs_canonical_copy(const json_t *v)
{
	struct member	*m = NULL;
	json_t		*res = NULL, *c;
	size_t		 n, i;
	void		*it;

	if (json_is_array(v)) {
		if ((res = json_array()) == NULL)
			return NULL;
		for (i = 0; i < json_array_size(v); i++)
			if ((c = jcs_canonical_copy(json_array_get(v, i))) ==
			    NULL || json_array_append_new(res, c) == -1)
				goto fail;
		return res;
	}
	if (!json_is_object(v))
		return json_deep_copy(v);
	n = json_object_size(v);
	if ((res = json_object()) == NULL ||
	    (n > 0 && (m = calloc(n, sizeof(*m))) == NULL))
		goto fail;
	i = 0;
	for (it = json_object_iter((json_t *)v); it != NULL && i < n;
	    it = json_object_iter_next((json_t *)v, it)) {
		m[i].key = json_object_iter_key(it);
		m[i].key_len = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
		i++;
	}
	n = i;
	if (n > 1)
		qsort(m, n, sizeof(*m), member_cmp);
	for (i = 0; i < n; i++)
		if ((c = jcs_canonical_copy(m[i].value)) == NULL ||
		    json_object_setn_new(res, m[i].key, m[i].key_len, c) == -1)
			goto fail;
	free(m);
	return res;
fail:
	free(m);
	json_decref(res);
	return NULL;
}

static int
put_array(struct jbuf *b, const json_t *arr)
{
	size_t	 i, n;

	n = json_array_size(arr);
	if (jbuf_addc(b, '[') == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (i > 0 && jbuf_addc(b, ',') == -1)
			return -1;
		if (put_value(b, json_array_get(arr, i)) == -1)
			return -1;
	}
	return jbuf_addc(b, ']');
}

/* Write any JSON value canonically.  Returns 0 or -1. */
static int
put_value(struct jbuf *b, const json_t *v)
{
	if (v == NULL)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(b, v);
	case JSON_ARRAY:
		return put_array(b, v);
	case JSON_STRING:
		return put_string(b, json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
		return put_integer(b, json_integer_value(v));
	case JSON_REAL:
		return put_double(b, json_real_value(v));
	case JSON_TRUE:
		return jbuf_adds(b, "true");
	case JSON_FALSE:
		return jbuf_adds(b, "false");
	case JSON_NULL:
		return jbuf_adds(b, "null");
	}
	return -1;
}

static char *
dump(const json_t *v, int keep_order)
{
	struct jbuf	 b = { NULL, 0, 0, keep_order };
	char		*res = NULL;

	if (put_value(&b, v) == -1)
		goto out;
	res = b.data;
	b.data = NULL;
out:
	free(b.data);
	return res;
}

/*
 * Serialise v canonically.  Returns a malloc'd string the caller frees
 * with free(), or NULL on failure.
 */
char *
jcs_dump(const json_t *v)
{
	return dump(v, 0);
}

/*
 * As jcs_dump, but object members in the order the objects hold them:
 * the form of the server's answers, whose numbers and strings are
 * canonical while their members read in the order the contract lists
 * them.
 */
char *
jcs_dump_answer(const json_t *v)
{
	return dump(v, 1);
}

/*
 * Write "sha256:<hex>" of v's canonical form into out.  Returns 0 or -1;
 * on -1 out is the empty string.
 */
int
jcs_sha256(const json_t *v, char out[JCS_SHA256_LEN])
{
	static const char	 hex[] = "0123456789abcdef";
	static const char	 prefix[] = "sha256:";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 md_len = 0;
	char			*s = NULL;
	size_t			 i, o;
	int			 rc = -1;

	out[0] = '\0';
	s = jcs_dump(v);
	if (s == NULL)
		goto out;
	if (EVP_Digest(s, strlen(s), md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != 32)
		goto out;
	memcpy(out, prefix, sizeof(prefix) - 1);
	o = sizeof(prefix) - 1;
	for (i = 0; i < md_len; i++) {
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 0xf];
	}
	out[o] = '\0';
	rc = 0;
out:
	free(s);
	return rc;
}
