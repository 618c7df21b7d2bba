/*
 * jcs: RFC 8785 JSON Canonicalization Scheme over jansson values.
 *
 * Canonical JSON has no insignificant white space, object members sorted
 * by their names' UTF-16 code units, strings as raw UTF-8 with only the
 * mandatory escapes and numbers in ECMAScript Number.prototype.toString
 * form.  Every hash and checksum the API exposes is taken over this form.
 */
#ifndef TANDEM_JCS_H
#define TANDEM_JCS_H

#include <jansson.h>

/* "sha256:" + 64 hex digits + NUL */
#define JCS_SHA256_LEN	72

/*
 * Serialise v canonically.  Returns a malloc'd NUL-terminated string the
 * caller frees with free(), or NULL on allocation failure (or when v is
 * NULL or holds a number JSON cannot express).
 */
char	*jcs_dump(const json_t *v);
char	*jcs_dump_answer(const json_t *v);
json_t	*jcs_canonical_copy(const json_t *v);

/*
 * Write "sha256:" followed by the 64 lowercase hex digits of SHA-256 over
 * jcs_dump(v) into out, NUL-terminated.  Returns 0, or -1 on failure
 * (out then holds an empty string).
 */
int	 jcs_sha256(const json_t *v, char out[JCS_SHA256_LEN]);

#endif
