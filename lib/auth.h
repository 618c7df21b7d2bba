/*
 * auth: passwords (argon2id), access tokens (HS256 JWTs with libjwt),
 * refresh tokens and service keys (256-bit random, stored only as
 * SHA-256 hashes).  No secret, password, token or key is ever logged.
 */
#ifndef TANDEM_AUTH_H
#define TANDEM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_FAMILY_LEN		32	/* hex chars of a login family id */
#define AUTH_REFRESH_LEN	43	/* base64url of 32 bytes */
#define AUTH_SERVICE_KEY_LEN	46	/* "tk_" + base64url of 32 bytes */

enum auth_tok { AUTH_TOK_OK, AUTH_TOK_INVALID, AUTH_TOK_EXPIRED };

struct access_claims {
	char	*sub;		/* the user's public id */
	char	*did;		/* the device id */
	char	*jti;
	char	 family[AUTH_FAMILY_LEN + 1];	/* from the jti */
	int64_t	 iat, exp;
};

int	 auth_init(void);
int	 auth_password_hash(const char *pw, char **encoded);
int	 auth_password_verify(const char *encoded, const char *pw);
int	 auth_password_burn(const char *pw);
char	*auth_access_token(const char *sub, const char *did,
	    const char *family, int64_t now_s);
enum auth_tok auth_access_verify(const char *token, int64_t now_s,
	    struct access_claims *);
void	 auth_claims_free(struct access_claims *);
int	 auth_refresh_token(char out[AUTH_REFRESH_LEN + 1]);
int	 auth_service_key(char out[AUTH_SERVICE_KEY_LEN + 1]);
void	 auth_token_hash(const char *token, unsigned char out[32]);

#endif
