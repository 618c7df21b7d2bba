/*
 * Auth: register, login, refresh, logout, and the token check every
 * ROUTE_AUTH request passes (auth_request).
 */
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "db_auth.h"
#include "email.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "problem.h"

static int
unauthorized(struct resp *resp, const char *code, const char *detail)
{
	resp_header(resp, "WWW-Authenticate", "Bearer realm=\"tandem\"%s",
	    strcmp(code, "INVALID_TOKEN") == 0 && detail[0] == 'a' ? "" :
	    ", error=\"invalid_token\"");
	return problem(resp, 401, code, "%s", detail);
}

/*
 * The token check of ROUTE_AUTH routes: a Bearer JWT, HS256, signed with
 * our secret, unexpired, of a device that is still active in the token's
 * login family (one indexed lookup).  Fills req->user_id, user_pub and
 * device_id; marks the device seen at most every TANDEM_SEEN_WRITE_MS.
 * Returns 0, or 401 with resp filled (INVALID_TOKEN, TOKEN_EXPIRED,
 * DEVICE_REVOKED), or 503.
 */
int
auth_request(struct req *req, struct resp *resp)
{
	struct access_claims c;
	enum auth_tok	 t;
	enum device_state st = DEVICE_UNKNOWN;
	const char	*h = req->authorization, *tok;
	int64_t		 now = now_ms(), seen = 0, uid = 0;
	int		 rc;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return unauthorized(resp, "INVALID_TOKEN",
		    "an access token is required (Authorization: Bearer)");
	for (tok = h + 7; *tok == ' '; tok++)
		;
	t = auth_access_verify(tok, now / 1000, &c);
	if (t == AUTH_TOK_INVALID)
		return unauthorized(resp, "INVALID_TOKEN",
		    "the access token is invalid");
	if (t == AUTH_TOK_EXPIRED) {
		auth_claims_free(&c);
		return unauthorized(resp, "TOKEN_EXPIRED",
		    "the access token has expired; refresh it");
	}
	rc = db_device_check(req_db(req), c.sub, c.did, c.family, &uid, &seen,
	    &st);
	if (rc != DB_OK) {
		auth_claims_free(&c);
		return problem_db(resp, rc);
	}
	if (st != DEVICE_ACTIVE) {
		auth_claims_free(&c);
		if (st == DEVICE_UNKNOWN)
			return unauthorized(resp, "INVALID_TOKEN",
			    "the access token is invalid");
		return unauthorized(resp, "DEVICE_REVOKED",
		    "this device was revoked or logged out; log in again");
	}
	req->user_id = uid;
	req->user_pub = c.sub;
	req->device_id = c.did;
	req->jti = c.jti;
	c.sub = c.did = c.jti = NULL;
	auth_claims_free(&c);
	if (now - seen >= cfg.seen_write_ms &&
	    db_device_seen(req_db(req), uid, req->device_id, now) != DB_OK)
		log_msg(LOG_WARN, "could not record a device as seen");
	return 0;
}

/* 503 for a moment's shortage (argon2 slots, memory): retry in a second. */
static int
unavailable(struct resp *resp, const char *detail)
{
	resp_header(resp, "Retry-After", "1");
	return problem(resp, 503, "SERVICE_UNAVAILABLE", "%s", detail);
}

/*
 * POST /api/v1/auth/register {email, password}
 * The email is stored normalised (email_normalize: NFKC, full case
 * folding), so a look-alike of an account's email is that account.
 * 201 {user} (its email the normalised form); 400 VALIDATION_FAILED;
 * 409 EMAIL_TAKEN; 503.
 */
int
handle_auth_register(struct req *req, struct resp *resp)
{
	const char	*raw, *pw;
	char		*email = NULL, *hash = NULL, pub[2 + 24 + 1];
	struct db_user	 u;
	enum email_err	 why;
	int64_t		 now = now_ms();
	int		 rc;

	memset(&u, 0, sizeof(u));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "email", "email", F_REQUIRED, 0,
	    EMAIL_INPUT_MAX, &raw) == -1 ||
	    field_str(resp, req->json, "password", "password", F_REQUIRED, 0,
	    SIZE_MAX, &pw) == -1)
		return resp->status;
	email = email_normalize(raw, &why);
	if (email == NULL && why == EMAIL_NOMEM)
		return unavailable(resp, "out of memory; retry");
	if (email == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "email",
		    "%s", email_err_text[why]);
	if (strlen(pw) < 8 || strlen(pw) > 1024) {
		problem_field(resp, 400, "VALIDATION_FAILED", "password",
		    "password must be 8..1024 bytes");
		goto out;
	}
	if (auth_password_hash(pw, &hash) == -1) {
		unavailable(resp, "too many password operations at once; "
		    "retry");
		goto out;
	}
	pub[0] = 'u';
	pub[1] = '_';
	rc = auth_random_hex(pub + 2, 12) == -1 ? DB_ERROR :
	    db_user_insert(req_db(req), pub, email, hash, now, &u.id);
	if (rc == DB_CONSTRAINT) {
		problem_field(resp, 409, "EMAIL_TAKEN", "email",
		    "an account with this email exists");
		goto out;
	}
	if (rc != DB_OK) {
		problem_db(resp, rc);
		goto out;
	}
	u.public_id = pub;
	u.email = email;
	u.created_at = now;
	resp_json(resp, 201, json_pack("{s:o}", "user", db_user_json(&u)));
out:
	free(email);
	free(hash);
	return resp->status;
}

/*
 * The answer of login and refresh: a new access token and a new refresh
 * token (stored as its hash) in login family `family`, inside the
 * caller's transaction.  Returns a db_rc; on DB_OK resp is filled.
 */
static int
issue_tokens(struct req *req, struct resp *resp, const struct db_user *u,
    const char *device_id, const char *family)
{
	char		 refresh[AUTH_REFRESH_LEN + 1], *access = NULL;
	unsigned char	 h[32];
	json_t		*dev = NULL;
	int64_t		 now = now_ms();
	int		 rc;

	if (auth_refresh_token(refresh) == -1 ||
	    (access = auth_access_token(u->public_id, device_id, family,
	    now / 1000)) == NULL)
		return DB_ERROR;
	auth_token_hash(refresh, h);
	rc = db_refresh_insert(req->db, h, u->id, device_id, family, now,
	    now + cfg.refresh_ttl_s * 1000);
	if (rc == DB_OK)
		rc = db_device_get(req->db, u->id, device_id, device_id, &dev);
	if (rc == DB_OK)
		resp_json(resp, 200, json_pack("{s:s, s:s, s:I, s:s, s:I, "
		    "s:o, s:o}", "access_token", access, "token_type", "Bearer",
		    "expires_in", (json_int_t)cfg.access_ttl_s,
		    "refresh_token", refresh,
		    "refresh_expires_in", (json_int_t)cfg.refresh_ttl_s,
		    "user", db_user_json(u), "device", dev));
	free(access);
	return rc;
}

/*
 * POST /api/v1/auth/login {email, password, device:{id, platform, name,
 * push_token?}}
 * The email is normalised as at register before the lookup; one that
 * cannot be (a zero-width space, a bad shape) is an unknown email.
 * 200 tokens; 400 VALIDATION_FAILED; 401 INVALID_CREDENTIALS (the same
 * body and the same argon2 work whether the email is unknown, cannot be
 * normalised or the password wrong); 403 DEVICE_LIMIT_EXCEEDED; 503.
 */
int
handle_auth_login(struct req *req, struct resp *resp)
{
	const char	*raw, *pw;
	json_t		*dj;
	struct db_device_new d;
	struct db_user	 u;
	enum email_err	 why;
	char		 fam[AUTH_FAMILY_LEN + 1], *family = NULL, *email = NULL;
	int		 rc = DB_OK, ok;

	memset(&u, 0, sizeof(u));
	memset(&d, 0, sizeof(d));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "email", "email", F_REQUIRED, 0,
	    EMAIL_INPUT_MAX, &raw) == -1 ||
	    field_str(resp, req->json, "password", "password", F_REQUIRED, 0,
	    1024, &pw) == -1)
		return resp->status;
	dj = json_object_get(req->json, "device");
	if (dj == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "device",
		    "device is required");
	if (!json_is_object(dj))
		return problem_field(resp, 400, "VALIDATION_FAILED", "device",
		    "device must be an object");
	if (field_id(resp, dj, "id", "device.id", F_REQUIRED, &d.id) == -1 ||
	    field_str(resp, dj, "platform", "device.platform", F_REQUIRED, 1,
	    64, &d.platform) == -1 ||
	    field_str(resp, dj, "name", "device.name", F_REQUIRED, 1, 64,
	    &d.name) == -1 ||
	    field_str(resp, dj, "push_token", "device.push_token", F_NULLABLE,
	    1, 4096, &d.push_token) == -1)
		return resp->status;

	/*
	 * An email that cannot be normalised takes the unknown email's path:
	 * the same argon2 work on a dummy hash and the same 401.
	 */
	email = email_normalize(raw, &why);
	if (email == NULL && why == EMAIL_NOMEM)
		return unavailable(resp, "out of memory; retry");
	rc = email == NULL ? DB_NOTFOUND :
	    db_user_get_by_email(req_db(req), email, &u);
	free(email);
	email = NULL;
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return problem_db(resp, rc);
	/* Release the connection during the argon2 work. */
	req_db_release(req);
	ok = rc == DB_OK ? auth_password_verify(u.password_hash, pw) :
	    (auth_password_burn(pw) == -1 ? -1 : 0);
	if (ok == -1) {
		unavailable(resp, "too many password operations at once; "
		    "retry");
		goto out;
	}
	if (ok == 0) {
		problem(resp, 401, "INVALID_CREDENTIALS",
		    "wrong email or password");
		goto out;
	}
	if (auth_random_hex(fam, AUTH_FAMILY_LEN / 2) == -1 ||
	    (rc = db_begin(req_db(req))) != DB_OK) {
		problem_db(resp, rc == DB_OK ? DB_ERROR : rc);
		goto out;
	}
	rc = db_device_login(req->db, u.id, &d, fam, cfg.max_devices,
	    now_ms(), &family);
	if (rc == DB_CONSTRAINT) {
		db_rollback(req->db);
		problem(resp, 403, "DEVICE_LIMIT_EXCEEDED",
		    "this account has %lld active devices; revoke one first",
		    (long long)cfg.max_devices);
		problem_set(resp, "max_devices", json_integer(cfg.max_devices));
		goto out;
	}
	if (rc == DB_OK)
		rc = issue_tokens(req, resp, &u, d.id, family);
	if (rc == DB_OK)
		rc = db_commit(req->db);
	else
		db_rollback(req->db);
	if (rc != DB_OK)
		problem_db(resp, rc);
	else
		log_json(LOG_INFO, "login", json_pack("{s:s, s:s}",
		    "user", u.public_id, "device", d.id));
out:
	free(family);
	db_user_release(&u);
	return resp->status;
}

/*
 * POST /api/v1/auth/refresh {refresh_token}
 * 200 a new pair (the old refresh token is spent); 400; 401
 * INVALID_TOKEN (unknown), TOKEN_EXPIRED, DEVICE_REVOKED, TOKEN_REUSED
 * (a spent token again: the whole login is revoked); 503.
 */
int
handle_auth_refresh(struct req *req, struct resp *resp)
{
	const char	*tok;
	unsigned char	 h[32];
	enum refresh_state st;
	struct db_user	 u;
	int64_t		 uid = 0;
	char		*dev = NULL, *family = NULL;
	int		 rc;

	memset(&u, 0, sizeof(u));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "refresh_token", "refresh_token",
	    F_REQUIRED, 1, 256, &tok) == -1)
		return resp->status;
	auth_token_hash(tok, h);
	if ((rc = db_begin(req_db(req))) != DB_OK)
		return problem_db(resp, rc);
	rc = db_refresh_use(req->db, h, now_ms(), &st, &uid, &dev, &family);
	if (rc != DB_OK)
		goto fail;
	switch (st) {
	case REFRESH_OK:
		if ((rc = db_user_get_by_id(req->db, uid, &u)) != DB_OK ||
		    (rc = issue_tokens(req, resp, &u, dev, family)) != DB_OK)
			goto fail;
		break;
	case REFRESH_REUSED:
		log_json(LOG_WARN, "refresh token reused; login revoked",
		    json_pack("{s:s}", "device", dev));
		unauthorized(resp, "TOKEN_REUSED", "this refresh token was "
		    "already used; the login is revoked: log in again");
		break;
	case REFRESH_REVOKED:
		unauthorized(resp, "DEVICE_REVOKED",
		    "this device was revoked or logged out; log in again");
		break;
	case REFRESH_EXPIRED:
		unauthorized(resp, "TOKEN_EXPIRED",
		    "the refresh token has expired; log in again");
		break;
	case REFRESH_UNKNOWN:
	default:
		unauthorized(resp, "INVALID_TOKEN",
		    "the refresh token is invalid");
		break;
	}
	/* A reuse's revocation must stick even though the answer is 401. */
	if ((rc = db_commit(req->db)) != DB_OK)
		goto fail;
	goto out;
fail:
	db_rollback(req->db);
	problem_db(resp, rc);
out:
	free(dev);
	free(family);
	db_user_release(&u);
	return resp->status;
}

/*
 * POST /api/v1/auth/logout
 * 204: the device is revoked (tokens dead at once, roles released,
 * device.revoked emitted); 503.
 */
int
handle_auth_logout(struct req *req, struct resp *resp)
{
	int	 rc;

	if ((rc = db_begin(req_db(req))) != DB_OK)
		return problem_db(resp, rc);
	rc = db_device_revoke(req->db, req->user_id, req->device_id,
	    req->device_id);
	if (rc == DB_OK)
		rc = db_commit(req->db);
	else
		db_rollback(req->db);
	if (rc != DB_OK)
		return problem_db(resp, rc);
	resp->status = 204;
	return 204;
}
