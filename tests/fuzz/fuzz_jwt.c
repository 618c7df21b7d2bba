/*
 * fuzz_jwt: access-token verification (auth_access_verify) with a fixed
 * secret.  The first byte picks how the rest is used:
 *   0: the raw token text;
 *   1: "header JSON\npayload JSON", encoded and signed with our secret,
 *      so that the claim checks behind the signature get fuzzed too;
 *   2: the same signed with another secret (must always be refused);
 *   3: "sub\ndid\nfamily": a token we issue must verify, claims intact.
 *
 * Invariants: the answer is one of the three states; claims are filled
 * exactly when it is OK or EXPIRED, with the login family being the
 * jti's first 32 characters; OK means alg HS256, our issuer, exp in the
 * future; EXPIRED means exp is not; a foreign signature never passes.
 */
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "fuzz.h"

#define SECRET	"fuzz-secret-0123456789abcdef-0123456789"
#define OTHER	"other-secret-0123456789abcdef-0123456789"
#define NOW_S	INT64_C(1700000000)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[256];

	(void)argc;
	(void)argv;
	setenv("TANDEM_JWT_SECRET", SECRET, 1);
	setenv("TANDEM_DATA_DIR", "/nonexistent", 1);
	if (config_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "config_load: %s\n", err);
		abort();
	}
	return 0;
}

/* Append base64url (no padding) of n bytes of p to b. */
static void
b64url(struct buf *b, const void *p, size_t n)
{
	unsigned char	*enc;
	int		 len, i;

	enc = malloc(4 * ((n + 2) / 3) + 1);
	FUZZ_CHECK(enc != NULL, "out of memory");
	len = EVP_EncodeBlock(enc, p, (int)n);
	for (i = 0; i < len && enc[i] != '='; i++)
		enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
	buf_add(b, enc, (size_t)i);
	free(enc);
}

/* "b64(h).b64(p).b64(HMAC-SHA256(key, ...))" into b. */
static void
sign(struct buf *b, const uint8_t *h, size_t hn, const uint8_t *p, size_t pn,
    const char *key)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;

	b64url(b, h, hn);
	buf_adds(b, ".");
	b64url(b, p, pn);
	FUZZ_CHECK(HMAC(EVP_sha256(), key, (int)strlen(key),
	    (const unsigned char *)b->data, b->len, mac, &maclen) != NULL,
	    "HMAC failed");
	buf_adds(b, ".");
	b64url(b, mac, maclen);
}

/* Check the claims against the verdict, and the signed JSON for mode 1. */
static void
check(enum auth_tok t, struct access_claims *c, const uint8_t *h, size_t hn,
    const uint8_t *p, size_t pn)
{
	json_t	*hj, *pj;

	FUZZ_CHECK(t == AUTH_TOK_OK || t == AUTH_TOK_INVALID ||
	    t == AUTH_TOK_EXPIRED, "verdict %d", (int)t);
	if (t == AUTH_TOK_INVALID) {
		FUZZ_CHECK(c->sub == NULL && c->did == NULL && c->jti == NULL,
		    "claims left on an invalid token");
		return;
	}
	FUZZ_CHECK(c->sub != NULL && c->did != NULL && c->jti != NULL,
	    "claims missing");
	FUZZ_CHECK(strlen(c->family) == AUTH_FAMILY_LEN &&
	    strncmp(c->family, c->jti, AUTH_FAMILY_LEN) == 0 &&
	    c->jti[AUTH_FAMILY_LEN] == '.', "family %s of jti %s", c->family,
	    c->jti);
	FUZZ_CHECK(t == AUTH_TOK_OK ? c->exp > NOW_S : c->exp <= NOW_S,
	    "verdict %d with exp %lld", (int)t, (long long)c->exp);
	if (h == NULL)
		return;
	/*
	 * libjwt reads each decoded part as a C string: whatever follows a
	 * NUL is ignored (harmless: the signature covers the bytes).
	 */
	hj = json_loadb((const char *)h, strnlen((const char *)h, hn),
	    JSON_DECODE_ANY, NULL);
	pj = json_loadb((const char *)p, strnlen((const char *)p, pn),
	    JSON_DECODE_ANY, NULL);
	FUZZ_CHECK(hj != NULL && pj != NULL, "accepted unparsable parts");
	FUZZ_CHECK(json_is_string(json_object_get(hj, "alg")) &&
	    strcmp(json_string_value(json_object_get(hj, "alg")), "HS256") ==
	    0, "accepted a token whose alg is not HS256");
	FUZZ_CHECK(json_is_string(json_object_get(pj, "iss")) &&
	    strcmp(json_string_value(json_object_get(pj, "iss")),
	    cfg.jwt_issuer) == 0, "accepted a foreign issuer");
	json_decref(hj);
	json_decref(pj);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct access_claims c;
	struct buf	 tok;
	enum auth_tok	 t;
	const uint8_t	*nl, *p;
	char		*s = NULL, *sub = NULL, *did = NULL, *issued = NULL;
	char		 fam[AUTH_FAMILY_LEN + 1];
	size_t		 hn, i;
	int		 mode;

	if (size < 1 || size > 8192)
		return 0;
	mode = data[0] % 4;
	data++;
	size--;
	buf_init(&tok, 0);
	switch (mode) {
	case 0:
		buf_add(&tok, data, size);
		if (memchr(data, '\0', size) != NULL)
			break;
		t = auth_access_verify(buf_str(&tok), NOW_S, &c);
		check(t, &c, NULL, 0, NULL, 0);
		auth_claims_free(&c);
		break;
	case 1:
	case 2:
		nl = memchr(data, '\n', size);
		hn = nl ? (size_t)(nl - data) : size;
		p = nl ? nl + 1 : data + size;
		sign(&tok, data, hn, p, size - hn - (nl ? 1 : 0),
		    mode == 1 ? SECRET : OTHER);
		t = auth_access_verify(buf_str(&tok), NOW_S, &c);
		if (mode == 2)
			FUZZ_CHECK(t == AUTH_TOK_INVALID,
			    "a foreign signature passed: %s", buf_str(&tok));
		check(t, &c, data, hn, p, size - hn - (nl ? 1 : 0));
		auth_claims_free(&c);
		break;
	case 3:
		if (memchr(data, '\0', size) != NULL)
			break;
		s = strndup((const char *)data, size);
		FUZZ_CHECK(s != NULL, "out of memory");
		sub = s;
		if ((did = strchr(sub, '\n')) == NULL)
			break;
		*did++ = '\0';
		for (i = 0; i < AUTH_FAMILY_LEN; i++)
			fam[i] = "0123456789abcdef"[(unsigned char)sub[i %
			    (strlen(sub) + 1)] & 15];
		fam[AUTH_FAMILY_LEN] = '\0';
		if ((issued = auth_access_token(sub, did, fam, NOW_S)) ==
		    NULL)
			break;	/* libjwt refuses some strings: fine */
		t = auth_access_verify(issued, NOW_S, &c);
		FUZZ_CHECK(t == AUTH_TOK_OK, "our own token refused: %s",
		    issued);
		FUZZ_CHECK(strcmp(c.sub, sub) == 0 && strcmp(c.did, did) == 0 &&
		    strcmp(c.family, fam) == 0, "claims changed in transit");
		auth_claims_free(&c);
		t = auth_access_verify(issued, NOW_S + cfg.access_ttl_s, &c);
		FUZZ_CHECK(t == AUTH_TOK_EXPIRED, "not expired at exp");
		auth_claims_free(&c);
		break;
	}
	free(issued);
	free(s);
	buf_release(&tok);
	return 0;
}
