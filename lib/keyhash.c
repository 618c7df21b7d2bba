#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "keyhash.h"
#include "rand.h"

static EVP_MAC_CTX *base;	/* keyed once; duplicated per hash */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * Draw the key and set up SipHash.  Call once in the master before
 * forking (a tool or a test may call it again: it is idempotent).
 * Returns 0 or -1.
 */
int
keyhash_init(void)
{
	unsigned char	 key[16];
	size_t		 size = 8;
	OSSL_PARAM	 params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_END
	};
	EVP_MAC		*mac = NULL;
	EVP_MAC_CTX	*ctx = NULL;
	int		 rc = -1;

	pthread_mutex_lock(&init_mu);
	if (base != NULL) {
		rc = 0;
		goto out;
	}
	if (rand_bytes(key, sizeof(key)) == -1 ||
	    (mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(ctx, key, sizeof(key), params) != 1)
		goto out;
	base = ctx;
	ctx = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&init_mu);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	memset(key, 0, sizeof(key));
	return rc;
}

/* The keyed hash of len bytes at data; never 0 (0 marks a free slot). */
uint64_t
keyhash(const void *data, size_t len)
{
	EVP_MAC_CTX	*ctx;
	unsigned char	 out[8];
	size_t		 n = 0;
	uint64_t	 h = 0;

	if (base == NULL && keyhash_init() == -1)
		return 1;
	if ((ctx = EVP_MAC_CTX_dup(base)) != NULL &&
	    EVP_MAC_update(ctx, data, len) == 1 &&
	    EVP_MAC_final(ctx, out, &n, sizeof(out)) == 1 && n == 8)
		memcpy(&h, out, sizeof(h));
	EVP_MAC_CTX_free(ctx);
	return h != 0 ? h : 1;
}

/* The key of one device: its user's id and its own id. */
uint64_t
keyhash_device(int64_t user_id, const char *device_id)
{
	unsigned char	 b[8 + 129];
	size_t		 n = device_id != NULL ? strlen(device_id) : 0;

	if (n > sizeof(b) - 8)
		n = sizeof(b) - 8;
	memcpy(b, &user_id, 8);
	if (n > 0)
		memcpy(b + 8, device_id, n);
	return keyhash(b, 8 + n);
}
