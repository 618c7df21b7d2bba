#include <argon2.h>
#include <jansson.h>
#include <errno.h>
#include <jwt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "auth.h"
#include "rand.h"
#include "buf.h"
#include "config.h"
#include "http.h"

#define SALT_LEN	16
#define HASH_LEN	32

/* Bounds the argon2 work running at once in this process (memory). */
static sem_t argon2_slots;
static int argon2_ready;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char *dummy_hash;
/* See header_alg_ok. */
static char our_header[128];
static size_t our_header_len;

static pthread_once_t header_once = PTHREAD_ONCE_INIT;

static void header_init(void);

int
auth_init(void)
{
	if (sem_init(&argon2_slots, 0, (unsigned)cfg.argon2_concurrency) == -1)
		return -1;
	argon2_ready = 1;
	pthread_once(&header_once, header_init);
	return our_header_len > 0 ? 0 : -1;
}

/* Wait for an argon2 slot, at most 10 s.  Returns 0 or -1 (busy). */
static int
slot_take(void)
{
	struct timespec	 ts;

	if (!argon2_ready)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	while (sem_timedwait(&argon2_slots, &ts) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

static void
slot_give(void)
{
	if (argon2_ready)
		sem_post(&argon2_slots);
}

/*
 * Hash pw as an argon2id encoded string ($argon2id$v=19$m=...), with a
 * fresh random salt.  *encoded is the caller's to free.  Returns 0, or -1
 * (also when the server is too busy hashing: the caller answers 503).
 */
int
auth_password_hash(const char *pw, char **encoded)
{
	unsigned char	 salt[SALT_LEN];
	size_t		 len;
	char		*out;
	int		 rc;

	*encoded = NULL;
	if (rand_bytes(salt, sizeof(salt)) == -1)
		return -1;
	len = argon2_encodedlen((uint32_t)cfg.argon2_t,
	    (uint32_t)cfg.argon2_m_kib, (uint32_t)cfg.argon2_p, SALT_LEN,
	    HASH_LEN, Argon2_id);
	if ((out = malloc(len)) == NULL)
		return -1;
	if (slot_take() == -1) {
		free(out);
		return -1;
	}
	rc = argon2id_hash_encoded((uint32_t)cfg.argon2_t,
	    (uint32_t)cfg.argon2_m_kib, (uint32_t)cfg.argon2_p, pw,
	    strlen(pw), salt, SALT_LEN, HASH_LEN, out, len);
	slot_give();
	if (rc != ARGON2_OK) {
		free(out);
		return -1;
	}
	*encoded = out;
	return 0;
}

/*
 * Check pw against an encoded argon2id hash (argon2 compares in constant
 * time).  Returns 1 on a match, 0 on a mismatch, -1 when busy or broken.
 */
int
auth_password_verify(const char *encoded, const char *pw)
{
	int	 rc;

	if (slot_take() == -1)
		return -1;
	rc = argon2id_verify(encoded, pw, strlen(pw));
	slot_give();
	if (rc == ARGON2_OK)
		return 1;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 0;
	return -1;
}

static void
dummy_make(void)
{
	char	 pw[33];

	if (rand_hex(pw, 16) == 0)
		auth_password_hash(pw, &dummy_hash);
}

/*
 * Do the work of a verification against a hash nobody has, so a login
 * for an unknown email costs what a wrong password costs.  Returns 0, or
 * -1 when busy.
 */
int
auth_password_burn(const char *pw)
{
	pthread_once(&dummy_once, dummy_make);
	if (dummy_hash == NULL)
		return -1;
	return auth_password_verify(dummy_hash, pw) == -1 ? -1 : 0;
}

/* A refresh token: 32 random bytes, base64url without padding. */
int
auth_refresh_token(char out[AUTH_REFRESH_LEN + 1])
{
	unsigned char	 b[32], enc[48];
	int		 n, i;

	if (rand_bytes(b, sizeof(b)) == -1)
		return -1;
	n = EVP_EncodeBlock(enc, b, sizeof(b));	/* 44 chars, one '=' */
	if (n != 44)
		return -1;
	for (i = 0; i < AUTH_REFRESH_LEN; i++)
		out[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' :
		    (char)enc[i];
	out[AUTH_REFRESH_LEN] = '\0';
	return 0;
}

/*
 * A service key: "tk_" and 32 random bytes in base64url without padding
 * (43 characters), as a refresh token is made.  Returns 0 or -1.
 */
int
auth_service_key(char out[AUTH_SERVICE_KEY_LEN + 1])
{
	memcpy(out, "tk_", 3);
	if (auth_refresh_token(out + 3) == -1) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* The SHA-256 of a token or key: the only form the store keeps. */
void
auth_token_hash(const char *token, unsigned char out[32])
{
	SHA256((const unsigned char *)token, strlen(token), out);
}

/*
 * Make an access token for user sub on device did, in login family
 * `family`, issued at now_s.  Returns the JWT (free() it) or NULL.
 */
char *
auth_access_token(const char *sub, const char *did, const char *family,
    int64_t now_s)
{
	jwt_t	*jwt = NULL;
	char	*tok = NULL, rnd[17];
	struct buf jti;

	buf_init(&jti, 256);
	if (rand_hex(rnd, 8) == -1 ||
	    buf_addf(&jti, "%s.%s", family, rnd) == -1)
		goto out;
	if (jwt_new(&jwt) != 0 ||
	    jwt_add_grant(jwt, "iss", cfg.jwt_issuer) != 0 ||
	    jwt_add_grant(jwt, "sub", sub) != 0 ||
	    jwt_add_grant(jwt, "did", did) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)(now_s + cfg.access_ttl_s)) !=
	    0 ||
	    jwt_add_grant(jwt, "jti", buf_str(&jti)) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256,
	    (const unsigned char *)cfg.jwt_secret,
	    (int)cfg.jwt_secret_len) != 0)
		goto out;
	tok = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	buf_release(&jti);
	return tok;
}

/*
 * The header segment of every token we issue ({"alg":"HS256","typ":"JWT"}
 * as libjwt writes it), taken from a token made at start-up: the common
 * case is then a memcmp.
 */
static void
header_init(void)
{
	char	*t = auth_access_token("u", "d", "00000000000000000000000000000000",
		    0);
	size_t	 n;

	if (t != NULL && (n = strcspn(t, ".")) < sizeof(our_header)) {
		memcpy(our_header, t, n);
		our_header_len = n;
	}
	free(t);
}

/* The longest header segment looked at: alg, typ, kid and some. */
#define HEADER_MAX	512

/*
 * Decode the base64url segment s[0..n) (no padding) into out (at least
 * n bytes), with OpenSSL's decoder.  Returns the length or -1.
 */
static int
b64url_decode(const char *s, size_t n, unsigned char *out)
{
	unsigned char	 in[HEADER_MAX + 4];
	size_t		 i, pad = (4 - n % 4) % 4;
	int		 len;

	if (n == 0 || n > HEADER_MAX || pad == 3)
		return -1;
	for (i = 0; i < n; i++)
		in[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (i = 0; i < pad; i++)
		in[n + i] = '=';
	if ((len = EVP_DecodeBlock(out, in, (int)(n + pad))) < 0)
		return -1;
	return len - (int)pad;	/* EVP_DecodeBlock counts the padding */
}

/*
 * Whether the token's header asks for exactly HS256.  libjwt compares the
 * alg name without regard to case and knows none of the header's other
 * members, so the header is checked here: a JSON object (no duplicate
 * members) whose "alg" is the string "HS256", whose "typ", if any, is
 * "JWT" in any case, and with no "crit" (RFC 7515: an extension we do not
 * understand must be refused).  Members such as "kid" are ignored.
 */
static int
header_alg_ok(const char *token)
{
	unsigned char	 raw[HEADER_MAX];
	json_t		*h = NULL, *typ;
	const char	*alg;
	size_t		 n = strcspn(token, ".");
	int		 len, ok = 0;

	pthread_once(&header_once, header_init);
	if (our_header_len > 0 && n == our_header_len &&
	    memcmp(token, our_header, n) == 0)
		return 1;
	if ((len = b64url_decode(token, n, raw)) <= 0 ||
	    memchr(raw, '\0', (size_t)len) != NULL)
		return 0;
	h = json_loadb((const char *)raw, (size_t)len, JSON_REJECT_DUPLICATES,
	    NULL);
	if (!json_is_object(h) ||
	    (alg = json_string_value(json_object_get(h, "alg"))) == NULL ||
	    strcmp(alg, "HS256") != 0 || json_object_get(h, "crit") != NULL)
		goto out;
	typ = json_object_get(h, "typ");
	if (typ != NULL && (!json_is_string(typ) ||
	    strcasecmp(json_string_value(typ), "JWT") != 0))
		goto out;
	ok = 1;
out:
	json_decref(h);
	return ok;
}

/*
 * Tokens verified before, per process: a keep-alive client presents the
 * same token on every request, and the HMAC with libjwt's decoding is
 * the larger part of the token check.  Only tokens that passed every
 * check are kept, under their full text; revocation is still checked in
 * the database on every request, and expiry on every hit.
 */
#define TOKEN_CACHE	8192

struct token_slot {
	char		*token;
	struct access_claims c;
};

static struct token_slot token_cache[TOKEN_CACHE];
static pthread_mutex_t token_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t
token_slot_of(const char *t)
{
	uint64_t h = 1469598103934665603ull;

	for (; *t != '\0'; t++) {
		h ^= (unsigned char)*t;
		h *= 1099511628211ull;
	}
	return (size_t)(h % TOKEN_CACHE);
}

static int
claims_copy(struct access_claims *to, const struct access_claims *from)
{
	*to = *from;
	to->sub = strdup(from->sub);
	to->did = strdup(from->did);
	to->jti = strdup(from->jti);
	if (to->sub == NULL || to->did == NULL || to->jti == NULL) {
		auth_claims_free(to);
		return -1;
	}
	return 0;
}

/* A copy of the claims of a token verified before, or -1. */
static int
token_cache_get(const char *token, struct access_claims *c)
{
	struct token_slot *s = &token_cache[token_slot_of(token)];
	int	 rc = -1;

	pthread_mutex_lock(&token_cache_mu);
	if (s->token != NULL && strcmp(s->token, token) == 0)
		rc = claims_copy(c, &s->c);
	pthread_mutex_unlock(&token_cache_mu);
	return rc;
}

static void
token_cache_put(const char *token, const struct access_claims *c)
{
	struct token_slot *s = &token_cache[token_slot_of(token)];
	struct access_claims copy;
	char	*t = strdup(token);

	if (t == NULL || claims_copy(&copy, c) == -1) {
		free(t);
		return;
	}
	pthread_mutex_lock(&token_cache_mu);
	free(s->token);
	auth_claims_free(&s->c);
	s->token = t;
	s->c = copy;
	pthread_mutex_unlock(&token_cache_mu);
}

/*
 * Verify an access token: three base64url parts, alg HS256 exactly (none
 * and every other alg refused), the signature under our secret, our
 * issuer, the claims present; then expiry.  Fills c (auth_claims_free it)
 * on AUTH_TOK_OK and AUTH_TOK_EXPIRED.
 */
enum auth_tok
auth_access_verify(const char *token, int64_t now_s, struct access_claims *c)
{
	jwt_t		*jwt = NULL;
	const char	*iss, *sub, *did, *jti, *dot;
	enum auth_tok	 rc = AUTH_TOK_INVALID;
	size_t		 n, dots = 0;

	memset(c, 0, sizeof(*c));
	n = strlen(token);
	if (n == 0 || n > 4096)
		goto out;
	for (dot = token; *dot != '\0'; dot++) {
		if (*dot == '.')
			dots++;
		else if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
		    "stuvwxyz0123456789-_", *dot) == NULL)
			goto out;
	}
	if (dots != 2 || token[n - 1] == '.' || !header_alg_ok(token))
		goto out;
	if (token_cache_get(token, c) == 0) {
		rc = c->exp <= now_s ? AUTH_TOK_EXPIRED : AUTH_TOK_OK;
		goto out;
	}
	if (jwt_decode(&jwt, token, (const unsigned char *)cfg.jwt_secret,
	    (int)cfg.jwt_secret_len) != 0 || jwt == NULL)
		goto out;
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
		goto out;
	iss = jwt_get_grant(jwt, "iss");
	sub = jwt_get_grant(jwt, "sub");
	did = jwt_get_grant(jwt, "did");
	jti = jwt_get_grant(jwt, "jti");
	errno = 0;
	c->iat = jwt_get_grant_int(jwt, "iat");
	c->exp = jwt_get_grant_int(jwt, "exp");
	if (errno != 0 || iss == NULL || strcmp(iss, cfg.jwt_issuer) != 0 ||
	    sub == NULL || did == NULL || jti == NULL)
		goto out;
	if ((dot = strchr(jti, '.')) == NULL ||
	    (size_t)(dot - jti) != AUTH_FAMILY_LEN)
		goto out;
	memcpy(c->family, jti, AUTH_FAMILY_LEN);
	c->family[AUTH_FAMILY_LEN] = '\0';
	c->sub = strdup(sub);
	c->did = strdup(did);
	c->jti = strdup(jti);
	if (c->sub == NULL || c->did == NULL || c->jti == NULL)
		goto out;
	rc = c->exp <= now_s ? AUTH_TOK_EXPIRED : AUTH_TOK_OK;
	token_cache_put(token, c);
out:
	jwt_free(jwt);
	if (rc == AUTH_TOK_INVALID)
		auth_claims_free(c);
	return rc;
}

void
auth_claims_free(struct access_claims *c)
{
	free(c->sub);
	free(c->did);
	free(c->jti);
	memset(c, 0, sizeof(*c));
}
