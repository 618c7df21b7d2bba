/*
 * rand: every random byte the server uses (request ids, session ids,
 * users' public ids, login families, refresh tokens, salts, secrets),
 * from OpenSSL's generator, in one place.
 */
#ifndef TANDEM_RAND_H
#define TANDEM_RAND_H

#include <stddef.h>

int	 rand_bytes(void *out, size_t n);
int	 rand_hex(char *out, size_t nbytes);
int	 rand_id(char *out, size_t outsz, const char *prefix, size_t nbytes);

#endif
