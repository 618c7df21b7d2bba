#include <stdio.h>
#include <string.h>

#include "cors.h"

#define BLANKS	" \t"

static int
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
host_valid(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return 0;
		for (i = 1; i < n - 1; i++)
			if (strchr("0123456789abcdef:.", s[i]) == NULL ||
			    s[i] == '\0')
				return 0;
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return 0;
	return s[0] != '.' && s[n - 1] != '.';
}

static int
port_valid(const char *s, size_t n)
{
	size_t	 i;
	long	 v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535;
}

int
cors_origin_valid(const char *s, size_t n)
{
	const char	*sep, *end = s + n, *host, *colon;
	size_t		 i;

	sep = memchr(s, ':', n);
	if (sep == NULL || sep == s || end - sep < 4 ||
	    strncmp(sep, "://", 3) != 0)
		return 0;
	if (s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; s + i < sep; i++)
		if (!is_lower_alnum(s[i]) && strchr("+.-", s[i]) == NULL)
			return 0;
	host = sep + 3;
	/* the port's colon: after a bracketed address, or the last one */
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (rb == NULL)
			return 0;
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return 0;
	} else
		colon = memchr(host, ':', (size_t)(end - host));
	if (colon == NULL)
		return host_valid(host, (size_t)(end - host));
	return host_valid(host, (size_t)(colon - host)) &&
	    port_valid(colon + 1, (size_t)(end - colon - 1));
}

/*
 * The next entry of a comma-separated list, without its blanks: sets *e
 * and *elen, returns the rest after its comma, or NULL after the last.
 */
static const char *
list_next(const char *p, const char **e, size_t *elen)
{
	const char	*comma = strchr(p, ','), *stop;

	stop = comma != NULL ? comma : p + strlen(p);
	p += strspn(p, BLANKS);
	while (stop > p && strchr(BLANKS, stop[-1]) != NULL)
		stop--;
	*e = p;
	*elen = stop > p ? (size_t)(stop - p) : 0;
	return comma != NULL ? comma + 1 : NULL;
}

int
cors_list_check(const char *list, char *err, size_t errsz)
{
	const char	*p = list, *e;
	size_t		 n;

	while (p != NULL) {
		p = list_next(p, &e, &n);
		if (n == 0) {
			snprintf(err, errsz, "an empty origin in the list");
			return -1;
		}
		if (!cors_origin_valid(e, n)) {
			snprintf(err, errsz, "'%.*s' is not an origin "
			    "(scheme://host[:port], lower case, no path)",
			    (int)(n > 200 ? 200 : n), e);
			return -1;
		}
	}
	return 0;
}

int
cors_origin_allowed(const char *list, const char *origin)
{
	const char	*p = list, *e;
	size_t		 n, olen;

	if (list == NULL || origin == NULL)
		return 0;
	olen = strlen(origin);
	while (p != NULL) {
		p = list_next(p, &e, &n);
		if (n == olen && n > 0 && memcmp(e, origin, n) == 0)
			return 1;
	}
	return 0;
}
