/*
 * secret: the secret guard's kinds (API.md "Sync", "Secret guard") and
 * the search for them in strings and in JSON values.  A set holds the
 * built-in kinds, in the contract's order, then those of a patterns file
 * (TANDEM_SECRET_PATTERNS), each a POSIX extended regular expression
 * compiled once, at start, and matched with regexec(REG_STARTEND): a
 * string is its bytes and its length, NUL bytes included.
 *
 * In a string the leftmost match wins; on a tie (the same start) the
 * kind first in the set.  The search is pure: it never sees a request
 * and decides nothing about one; handlers/sync.c applies the configured
 * mode (TANDEM_SECRET_GUARD) with it.
 */
#ifndef TANDEM_SECRET_H
#define TANDEM_SECRET_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

#define SECRET_BUILTINS		7	/* private_key .. google_api_key */
#define SECRET_FILE_MAX		64	/* kinds a patterns file may add */
#define SECRET_KINDS_MAX	(SECRET_BUILTINS + SECRET_FILE_MAX)
#define SECRET_NAME_MAX		32	/* a kind's name: [a-z0-9_]{1,32} */

/* TANDEM_SECRET_GUARD: what a record holding a secret gets. */
enum secret_guard {
	SECRET_GUARD_OFF,	/* 0, off: stored as sent */
	SECRET_GUARD_REFUSE,	/* 1, refuse: 422 SECRET_REJECTED */
	SECRET_GUARD_REDACT,	/* redact: stored with [REDACTED:kind] */
	SECRET_GUARD__MAX
};

/* Indexed by enum secret_guard: "off", "refuse", "redact" (/info). */
extern const char *const secret_guard_names[SECRET_GUARD__MAX];

int	 secret_guard_parse(const char *s);

struct secret_set;

/* One match: bytes [so, eo) of the string, of kind (an index in the set). */
struct secret_match {
	size_t		 so;
	size_t		 eo;
	size_t		 kind;
};

struct secret_set *secret_set_new(const char *file, char *err, size_t errsz);
void	 secret_set_free(struct secret_set *);
size_t	 secret_set_count(const struct secret_set *);
const char *secret_set_kind(const struct secret_set *, size_t kind);

int	 secret_find(const struct secret_set *, const char *s, size_t len,
	    size_t from, struct secret_match *);
int	 secret_redact_str(const struct secret_set *, const char *s,
	    size_t len, char **out, size_t *out_len);

int	 secret_scan(const struct secret_set *, const json_t *v,
	    struct buf *path, size_t *kind);
int	 secret_redact(const struct secret_set *, json_t *v, struct buf *path,
	    json_t *paths, size_t *kind);

#endif
