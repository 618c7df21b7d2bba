/* Unit tests of lib/auth: argon2id hashes, access tokens, refresh tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "buf.h"
#include "config.h"

#define SECRET	"0123456789abcdef0123456789abcdef-unit"
#define FAMILY	"0123456789abcdef0123456789abcdef"

static int
setup(void **state)
{
	char	 err[256];

	(void)state;
	setenv("TANDEM_JWT_SECRET", SECRET, 1);
	if (config_load(err, sizeof(err)) == -1)
		return -1;
	return auth_init();
}

static int
teardown(void **state)
{
	(void)state;
	config_free();
	return 0;
}

static void
test_password(void **state)
{
	char	*h1 = NULL, *h2 = NULL;

	(void)state;
	assert_int_equal(auth_password_hash("correct horse", &h1), 0);
	assert_int_equal(auth_password_hash("correct horse", &h2), 0);
	assert_non_null(strstr(h1, "$argon2id$v=19$m=19456,t=2,p=1$"));
	assert_string_not_equal(h1, h2);	/* unique salts */
	assert_int_equal(auth_password_verify(h1, "correct horse"), 1);
	assert_int_equal(auth_password_verify(h1, "correct horsf"), 0);
	assert_int_equal(auth_password_verify("not a hash", "x"), -1);
	assert_int_equal(auth_password_burn("anything"), 0);
	free(h1);
	free(h2);
}

static char *
b64url(const unsigned char *p, size_t n)
{
	unsigned char	*out = malloc(4 * n / 3 + 8);
	int		 len = EVP_EncodeBlock(out, p, (int)n), i, j;

	for (i = 0, j = 0; i < len; i++) {
		if (out[i] == '=')
			continue;
		out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	out[j] = '\0';
	return (char *)out;
}

/* Sign header.payload with HMAC-SHA256 under key, by hand. */
static char *
forge(const char *header, const char *payload, const char *key)
{
	char		*h = b64url((const unsigned char *)header, strlen(header));
	char		*p = b64url((const unsigned char *)payload,
			    strlen(payload));
	unsigned char	 mac[32];
	unsigned int	 maclen = 0;
	struct buf	 b;
	char		*sig;

	buf_init(&b, 0);
	buf_addf(&b, "%s.%s", h, p);
	HMAC(EVP_sha256(), key, (int)strlen(key),
	    (const unsigned char *)buf_str(&b), b.len, mac, &maclen);
	sig = b64url(mac, maclen);
	buf_addf(&b, ".%s", sig);
	free(h);
	free(p);
	free(sig);
	return buf_detach(&b);
}

static void
test_access_roundtrip(void **state)
{
	struct access_claims c;
	char	*tok = auth_access_token("u_1", "dev-1", FAMILY, 1000);

	(void)state;
	assert_non_null(tok);
	assert_int_equal(auth_access_verify(tok, 1000, &c), AUTH_TOK_OK);
	assert_string_equal(c.sub, "u_1");
	assert_string_equal(c.did, "dev-1");
	assert_string_equal(c.family, FAMILY);
	assert_int_equal(c.exp - c.iat, 3600);
	auth_claims_free(&c);
	assert_int_equal(auth_access_verify(tok, 1000 + 3600, &c),
	    AUTH_TOK_EXPIRED);
	auth_claims_free(&c);
	tok[strlen(tok) - 2] ^= 1;
	assert_int_equal(auth_access_verify(tok, 1000, &c), AUTH_TOK_INVALID);
	free(tok);
}

static void
test_access_forgeries(void **state)
{
	struct access_claims c;
	const char	*claims = "{\"iss\":\"tandem\",\"sub\":\"u\",\"did\":"
	    "\"d\",\"iat\":1,\"exp\":99999999999,\"jti\":\"" FAMILY ".x\"}";
	char		*t;

	(void)state;
	t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, SECRET);
	assert_int_equal(auth_access_verify(t, 10, &c), AUTH_TOK_OK);
	auth_claims_free(&c);
	free(t);
	t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, "other");
	assert_int_equal(auth_access_verify(t, 10, &c), AUTH_TOK_INVALID);
	free(t);
	t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, SECRET);
	*(strrchr(t, '.') + 1) = '\0';
	assert_int_equal(auth_access_verify(t, 10, &c), AUTH_TOK_INVALID);
	free(t);
	t = forge("{\"alg\":\"HS256\"}", "{\"iss\":\"tandem\",\"sub\":\"u\","
	    "\"iat\":1,\"exp\":99999999999,\"jti\":\"" FAMILY ".x\"}", SECRET);
	assert_int_equal(auth_access_verify(t, 10, &c), AUTH_TOK_INVALID);
	free(t);
	t = forge("{\"alg\":\"HS256\"}", "{\"iss\":\"evil\",\"sub\":\"u\","
	    "\"did\":\"d\",\"iat\":1,\"exp\":99999999999,\"jti\":\"" FAMILY
	    ".x\"}", SECRET);
	assert_int_equal(auth_access_verify(t, 10, &c), AUTH_TOK_INVALID);
	free(t);
	t = forge("{\"alg\":\"HS256\"}", "{\"iss\":\"tandem\",\"sub\":\"u\","
	    "\"did\":\"d\",\"iat\":1,\"exp\":99999999999,\"jti\":\"short.x\"}",
	    SECRET);
	assert_int_equal(auth_access_verify(t, 10, &c), AUTH_TOK_INVALID);
	free(t);
	assert_int_equal(auth_access_verify("", 10, &c), AUTH_TOK_INVALID);
	assert_int_equal(auth_access_verify("a.b", 10, &c), AUTH_TOK_INVALID);
	assert_int_equal(auth_access_verify("a.b.c", 10, &c),
	    AUTH_TOK_INVALID);
	assert_int_equal(auth_access_verify("a b.c.d", 10, &c),
	    AUTH_TOK_INVALID);
}

/*
 * Any HS256 header is accepted, however it is written (member order, no
 * typ, a kid), and an expired token under it is EXPIRED, not INVALID;
 * every other alg spelling, a bad typ, crit, duplicates or a header that
 * is not JSON are refused.
 */
static void
test_access_headers(void **state)
{
	static const char *const good[] = {
		"{\"alg\":\"HS256\"}",
		"{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
		"{\"alg\":\"HS256\",\"typ\":\"jwt\",\"kid\":\"k1\"}",
		"{ \"alg\" : \"HS256\" }",
	};
	static const char *const bad[] = {
		"{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS256 \"}",
		"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
		"{\"alg\":\"none\"}",
		"{\"typ\":\"JWT\"}",
		"{\"alg\":[\"HS256\"]}",
		"{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}",
		"{\"alg\":\"HS256\",\"typ\":1}",
		"{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
		"{\"alg\":\"none\",\"alg\":\"HS256\"}",
		"[\"HS256\"]",
		"alg=HS256",
		"",
	};
	struct access_claims c;
	const char	*claims = "{\"iss\":\"tandem\",\"sub\":\"u\",\"did\":"
	    "\"d\",\"iat\":1,\"exp\":1000,\"jti\":\"" FAMILY ".x\"}";
	size_t		 i;
	char		*t;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = forge(good[i], claims, SECRET);
		if (auth_access_verify(t, 10, &c) != AUTH_TOK_OK)
			fail_msg("refused: %s", good[i]);
		auth_claims_free(&c);
		if (auth_access_verify(t, 1000, &c) != AUTH_TOK_EXPIRED)
			fail_msg("not expired: %s", good[i]);
		auth_claims_free(&c);
		free(t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = forge(bad[i], claims, SECRET);
		if (auth_access_verify(t, 10, &c) != AUTH_TOK_INVALID)
			fail_msg("accepted: %s", bad[i]);
		free(t);
	}
}

static void
test_refresh_tokens(void **state)
{
	char		 a[AUTH_REFRESH_LEN + 1], b[AUTH_REFRESH_LEN + 1];
	unsigned char	 ha[32], hb[32];

	(void)state;
	assert_int_equal(auth_refresh_token(a), 0);
	assert_int_equal(auth_refresh_token(b), 0);
	assert_int_equal(strlen(a), AUTH_REFRESH_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789-_"), AUTH_REFRESH_LEN);
	auth_token_hash(a, ha);
	auth_token_hash(b, hb);
	assert_memory_not_equal(ha, hb, 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_access_roundtrip),
		cmocka_unit_test(test_access_forgeries),
		cmocka_unit_test(test_access_headers),
		cmocka_unit_test(test_refresh_tokens),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
