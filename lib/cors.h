/*
 * cors: the rules of cross-origin calls (API.md, "Cross-origin
 * browsers"), as pure decisions over strings.  The list is
 * TANDEM_CORS_ORIGINS: exact origins separated by commas (blanks around
 * each are ignored).  The dispatcher (handlers/routes.c) asks whether a
 * request's Origin is in the list; lib/config checks the list's shape at
 * start.  Nothing here allocates.
 */
#ifndef TANDEM_CORS_H
#define TANDEM_CORS_H

#include <stddef.h>

/* The methods and headers a preflight may ask for, and how long it lasts. */
#define CORS_ALLOW_HEADERS	"Authorization, Content-Type, Last-Event-ID, " \
				"X-Request-Id"
#define CORS_EXPOSE_HEADERS	"X-Request-Id, Retry-After"
#define CORS_MAX_AGE_S		600

/*
 * 1 when s[0..n) is an origin as a browser serialises it:
 * scheme "://" host [":" port], lower case, no path, no trailing slash.
 * The scheme is [a-z][a-z0-9+.-]*, the host a name of [a-z0-9.-] or a
 * bracketed IPv6 address, the port 1..65535 without a leading zero.
 */
int	 cors_origin_valid(const char *s, size_t n);

/*
 * Check every entry of list.  Returns 0, or -1 with the culprit named in
 * err (an empty entry, or one that is not an origin).
 */
int	 cors_list_check(const char *list, char *err, size_t errsz);

/* 1 when origin is exactly one of list's entries; NULLs are never allowed. */
int	 cors_origin_allowed(const char *list, const char *origin);

#endif
