#include <string.h>

#include <openssl/rand.h>

#include "rand.h"

/* n random bytes into out.  Returns 0, or -1 without entropy. */
int
rand_bytes(void *out, size_t n)
{
	return n <= 0x7fffffff && RAND_bytes(out, (int)n) == 1 ? 0 : -1;
}

/*
 * nbytes random bytes as 2 * nbytes lowercase hex digits and a NUL into
 * out (which holds 2 * nbytes + 1).  Returns 0, or -1 when the generator
 * has no entropy (out is then "").
 */
int
rand_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 rnd[64];
	size_t		 i;

	out[0] = '\0';
	if (nbytes > sizeof(rnd) || rand_bytes(rnd, nbytes) == -1)
		return -1;
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

/*
 * An id: prefix followed by the hex of nbytes random bytes ("s_" and 12
 * bytes: "s_" + 24 digits).  Returns 0, or -1 when out is too small or
 * the generator fails.
 */
int
rand_id(char *out, size_t outsz, const char *prefix, size_t nbytes)
{
	size_t	 n = strlen(prefix);

	if (outsz < n + 2 * nbytes + 1) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	memcpy(out, prefix, n);
	return rand_hex(out + n, nbytes);
}
