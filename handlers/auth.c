/*
 * Auth (API.md "Auth"): register, login, refresh, logout, and the token
 * check every ROUTE_AUTH request passes (auth_request).  Passwords and
 * tokens are lib/auth.c's, the decisions lib/auth_rules.c's; each login
 * and refresh is one operation in one transaction.
 */
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "auth_rules.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "email.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "rand.h"
#include "service_rules.h"

static int
unauthorized(struct resp *resp, const char *code, const char *detail)
{
	resp_header(resp, "WWW-Authenticate", "Bearer realm=\"tandem\"%s",
	    strcmp(code, "INVALID_TOKEN") == 0 && detail[0] == 'a' ? "" :
	    ", error=\"invalid_token\"");
	return problem(resp, 401, code, "%s", detail);
}

/* 503 for a moment's shortage (argon2 slots, memory): retry in a second. */
static int
unavailable(struct resp *resp, const char *detail)
{
	resp_header(resp, "Retry-After", "1");
	return problem(resp, 503, "SERVICE_UNAVAILABLE", "%s", detail);
}

/* {id, email, created_at}: never the hash. */
json_t *
user_json(const struct user_row *u)
{
	return json_pack("{s:s, s:s, s:I}", "id", u->public_id,
	    "email", u->email, "created_at", (json_int_t)u->created_at);
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
	struct device_auth a;
	enum auth_tok	 t;
	enum device_state st;
	const char	*h = req->authorization, *tok;
	int64_t		 now = now_ms();
	int		 rc;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return unauthorized(resp, "INVALID_TOKEN",
		    "an access token is required (Authorization: Bearer)");
	for (tok = h + 7; *tok == ' '; tok++)
		;
	/* a service key never stands for a device */
	if (strncmp(tok, SERVICE_KEY_PREFIX, 3) == 0)
		return unauthorized(resp, "INVALID_TOKEN", "service keys are "
		    "good on /api/v1/service/ only");
	t = auth_access_verify(tok, now / 1000, &c);
	if (t == AUTH_TOK_INVALID)
		return unauthorized(resp, "INVALID_TOKEN",
		    "the access token is invalid");
	if (t == AUTH_TOK_EXPIRED) {
		auth_claims_free(&c);
		return unauthorized(resp, "TOKEN_EXPIRED",
		    "the access token has expired; refresh it");
	}
	rc = db_device_check(req_db(req), c.sub, c.did, &a);
	if (rc != DB_OK && rc != DB_NOTFOUND) {
		auth_claims_free(&c);
		return answer_db(resp, rc);
	}
	st = device_state_of(rc == DB_OK, &a, c.family);
	if (st != DEVICE_ACTIVE) {
		auth_claims_free(&c);
		if (st == DEVICE_UNKNOWN)
			return unauthorized(resp, "INVALID_TOKEN",
			    "the access token is invalid");
		return unauthorized(resp, "DEVICE_REVOKED",
		    "this device was revoked or logged out; log in again");
	}
	req->user_id = a.user_id;
	req->user_pub = c.sub;
	req->device_id = c.did;
	req->jti = c.jti;
	c.sub = c.did = c.jti = NULL;
	auth_claims_free(&c);
	if (now - a.last_seen_at >= cfg.seen_write_ms &&
	    device_seen_op(req_db(req), a.user_id, req->device_id, now) !=
	    DB_OK)
		log_msg(LOG_WARN, "could not record a device as seen");
	return 0;
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
	struct user_row	 u;
	const char	*raw, *pw;
	char		*email = NULL, *hash = NULL;
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
	rc = rand_id(u.public_id, sizeof(u.public_id), "u_", 12) == -1 ?
	    DB_ERROR : db_user_insert(req_db(req), u.public_id, email, hash,
	    now, &u.id);
	if (rc == DB_CONSTRAINT) {
		problem_field(resp, 409, "EMAIL_TAKEN", "email",
		    "an account with this email exists");
		goto out;
	}
	if (rc != DB_OK) {
		answer_db(resp, rc);
		goto out;
	}
	u.email = email;
	u.created_at = now;
	resp_json(resp, 201, json_pack("{s:o}", "user", user_json(&u)));
out:
	free(email);
	free(hash);
	return resp->status;
}

/* What a login, a refresh or a link hands out (struct tokens). */
void
tokens_release(struct tokens *t)
{
	free(t->access);
	json_decref(t->device);
	memset(t, 0, sizeof(*t));
}

/*
 * A new access token and a new refresh token (stored as its hash) in
 * login family `family` of device_id, inside the caller's transaction,
 * and the device as the answer shows it.  Returns a db_rc.
 */
static int
tokens_issue(struct db *db, const struct user_row *u, const char *device_id,
    const char *family, struct tokens *t)
{
	struct device_row d;
	unsigned char	 h[32];
	int64_t		 now = now_ms();
	int		 rc;

	tokens_release(t);
	if (auth_refresh_token(t->refresh) == -1 ||
	    (t->access = auth_access_token(u->public_id, device_id, family,
	    now / 1000)) == NULL)
		return DB_ERROR;
	auth_token_hash(t->refresh, h);
	if ((rc = db_refresh_insert(db, h, u->id, device_id, family, now,
	    now + cfg.refresh_ttl_s * 1000)) != DB_OK ||
	    (rc = db_device_get(db, u->id, device_id, &d)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	t->device = device_json(&d, device_id, now);
	device_row_release(&d);
	return t->device != NULL ? DB_OK : DB_ERROR;
}

/* 200: login's answer (refresh's and a link's too). */
int
tokens_answer(struct resp *resp, const struct user_row *u, struct tokens *t)
{
	resp_json(resp, 200, json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:O}",
	    "access_token", t->access, "token_type", "Bearer",
	    "expires_in", (json_int_t)cfg.access_ttl_s,
	    "refresh_token", t->refresh,
	    "refresh_expires_in", (json_int_t)cfg.refresh_ttl_s,
	    "user", user_json(u), "device", t->device));
	return resp->status;
}

/* 403 DEVICE_LIMIT_EXCEEDED with max_devices (login's and a link's). */
int
device_limit_answer(struct resp *resp)
{
	problem(resp, 403, "DEVICE_LIMIT_EXCEEDED",
	    "this account has %lld active devices; revoke one first",
	    (long long)cfg.max_devices);
	problem_set(resp, "max_devices", json_integer(cfg.max_devices));
	return resp->status;
}

/*
 * What logging device_id of user uid in would do (login_decide), inside
 * the caller's transaction: *action, and the device as stored in *old
 * when *exists (device_row_release it).  Returns a db_rc.
 */
static int
login_plan(struct db *db, int64_t uid, const char *device_id,
    struct device_row *old, int *exists, enum login_action *action)
{
	int64_t		 others = 0;
	int		 rc;

	*exists = 0;
	if ((rc = db_device_get(db, uid, device_id, old)) != DB_OK &&
	    rc != DB_NOTFOUND)
		return rc;
	*exists = rc == DB_OK;
	if (!*exists || old->revoked_at != 0 || old->family[0] == '\0')
		rc = db_devices_active_count(db, uid, device_id, &others);
	if (rc != DB_OK && rc != DB_NOTFOUND) {
		if (*exists)
			device_row_release(old);
		*exists = 0;
		return rc;
	}
	*action = login_decide(*exists, old, others, cfg.max_devices);
	return DB_OK;
}

/*
 * Whether logging device_id of user uid in now would pass the device
 * limit (*limited 0) or not (1), as login decides it: a device the user
 * has active already takes no new place.  Inside the caller's
 * transaction; writes nothing.  Returns a db_rc.
 */
int
login_device_limited(struct db *db, int64_t uid, const char *device_id,
    int *limited)
{
	struct device_row old;
	enum login_action action = LOGIN_LIMIT;
	int		 rc, exists;

	*limited = 0;
	if ((rc = login_plan(db, uid, device_id, &old, &exists, &action)) !=
	    DB_OK)
		return rc;
	if (exists)
		device_row_release(&old);
	*limited = action == LOGIN_LIMIT;
	return DB_OK;
}

/*
 * Log device in->id of user u in, inside the caller's transaction, as
 * POST /auth/login does: register it when new, re-activate it in a new
 * login family when it was revoked or logged out, else keep its family;
 * emit device.registered (or device.updated when a kept device changed
 * its name or platform); issue the tokens into *t.  *action tells which;
 * LOGIN_LIMIT writes and issues nothing.  in->family and its times are
 * set here; in->push_token is borrowed.  Returns a db_rc.
 */
int
login_device(struct db *db, const struct user_row *u, struct device_row *in,
    enum login_action *action, struct tokens *t)
{
	struct device_row old;
	int64_t		 uid = u->id;
	int		 rc, exists, changed = 0;

	if ((rc = login_plan(db, uid, in->id, &old, &exists, action)) != DB_OK)
		return rc;
	if (*action == LOGIN_KEEP) {
		changed = login_changes_device(&old, in->platform, in->name);
		snprintf(in->family, sizeof(in->family), "%s", old.family);
	} else if (rand_hex(in->family, (sizeof(in->family) - 1) / 2) == -1) {
		if (exists)
			device_row_release(&old);
		return DB_ERROR;
	}
	if (exists)
		device_row_release(&old);
	in->created_at = in->last_seen_at = now_ms();
	switch (*action) {
	case LOGIN_LIMIT:
		return DB_OK;
	case LOGIN_REGISTER:
		rc = db_device_insert(db, uid, in);
		break;
	default:
		rc = db_device_login(db, uid, in);
		break;
	}
	if (rc != DB_OK)
		return rc;
	if (*action != LOGIN_KEEP)
		rc = event_append(db, uid, in->id, "device.registered", NULL,
		    json_pack("{s:s, s:s, s:s}", "device_id", in->id,
		    "platform", in->platform, "name", in->name), NULL);
	else if (changed)
		rc = event_append(db, uid, in->id, "device.updated", NULL,
		    json_pack("{s:s}", "device_id", in->id), NULL);
	if (rc != DB_OK)
		return rc;
	return tokens_issue(db, u, in->id, in->family, t);
}

struct login_op {
	const struct user_row *user;
	struct device_row in;		/* as the client names it */
	enum login_action action;
	struct tokens	 t;
};

static int
login_tx(struct db *db, void *arg)
{
	struct login_op	*l = arg;

	return login_device(db, l->user, &l->in, &l->action, &l->t);
}

/*
 * The device member of a login or a link body: {id, platform, name}, an
 * id and two 1..64-byte strings (fields device, device.id,
 * device.platform, device.name).  Returns 0 with the object in *dj, or
 * -1 after a 400.
 */
int
device_body(struct req *req, struct resp *resp, json_t **dj,
    const char **id, const char **platform, const char **name)
{
	*dj = json_object_get(req->json, "device");
	if (*dj == NULL) {
		problem_field(resp, 400, "VALIDATION_FAILED", "device",
		    "device is required");
		return -1;
	}
	if (!json_is_object(*dj)) {
		problem_field(resp, 400, "VALIDATION_FAILED", "device",
		    "device must be an object");
		return -1;
	}
	if (field_id(resp, *dj, "id", "device.id", F_REQUIRED, id) == -1 ||
	    field_str(resp, *dj, "platform", "device.platform", F_REQUIRED, 1,
	    64, platform) == -1 ||
	    field_str(resp, *dj, "name", "device.name", F_REQUIRED, 1, 64,
	    name) == -1)
		return -1;
	return 0;
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
	struct login_op	 l;
	struct user_row	 u;
	const char	*raw, *pw, *id, *platform, *name, *push;
	json_t		*dj;
	enum email_err	 why;
	char		*email;
	int		 rc, ok;

	memset(&l, 0, sizeof(l));
	memset(&u, 0, sizeof(u));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "email", "email", F_REQUIRED, 0,
	    EMAIL_INPUT_MAX, &raw) == -1 ||
	    field_str(resp, req->json, "password", "password", F_REQUIRED, 0,
	    1024, &pw) == -1)
		return resp->status;
	if (device_body(req, resp, &dj, &id, &platform, &name) == -1 ||
	    field_str(resp, dj, "push_token", "device.push_token", F_NULLABLE,
	    1, 4096, &push) == -1)
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
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return answer_db(resp, rc);
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
	l.user = &u;
	snprintf(l.in.id, sizeof(l.in.id), "%s", id);
	snprintf(l.in.platform, sizeof(l.in.platform), "%s", platform);
	snprintf(l.in.name, sizeof(l.in.name), "%s", name);
	l.in.push_token = (char *)push;		/* borrowed */
	if ((rc = db_tx(req_db(req), login_tx, &l)) != DB_OK) {
		answer_db(resp, rc);
		goto out;
	}
	if (l.action == LOGIN_LIMIT) {
		device_limit_answer(resp);
		goto out;
	}
	tokens_answer(resp, &u, &l.t);
	log_json(LOG_INFO, "login", json_pack("{s:s, s:s}", "user",
	    u.public_id, "device", l.in.id));
out:
	tokens_release(&l.t);
	user_row_release(&u);
	return resp->status;
}

struct refresh_op {
	unsigned char	 hash[32];
	enum refresh_state state;
	struct refresh_row r;
	struct user_row	 u;
	struct tokens	 t;
};

/*
 * Spend a refresh token: rotate it (REFRESH_OK), or, for a token spent
 * before, revoke the login it belonged to (the device, when this family
 * is still its current one): that revocation commits even though the
 * answer is 401.
 */
static int
refresh_tx(struct db *db, void *arg)
{
	struct refresh_op *o = arg;
	int64_t		 now = now_ms();
	int		 rc;

	user_row_release(&o->u);
	rc = db_refresh_get(db, o->hash, &o->r);
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return rc;
	o->state = refresh_classify(rc == DB_OK, &o->r, now);
	switch (o->state) {
	case REFRESH_REUSED:
		/* caused by a request presenting the device's token */
		if (!o->r.current)
			return DB_OK;
		rc = device_revoke_op(db, o->r.user_id, o->r.device_id,
		    o->r.device_id);
		return rc == DB_NOTFOUND ? DB_OK : rc;
	case REFRESH_OK:
		if ((rc = db_refresh_spend(db, o->hash, now)) != DB_OK ||
		    (rc = db_user_get_by_id(db, o->r.user_id, &o->u)) != DB_OK)
			return rc == DB_NOTFOUND ? DB_ERROR : rc;
		return tokens_issue(db, &o->u, o->r.device_id, o->r.family,
		    &o->t);
	default:
		return DB_OK;
	}
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
	struct refresh_op o;
	const char	*tok;
	int		 rc;

	memset(&o, 0, sizeof(o));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "refresh_token", "refresh_token",
	    F_REQUIRED, 1, 256, &tok) == -1)
		return resp->status;
	auth_token_hash(tok, o.hash);
	if ((rc = db_tx(req_db(req), refresh_tx, &o)) != DB_OK) {
		answer_db(resp, rc);
		goto out;
	}
	switch (o.state) {
	case REFRESH_OK:
		tokens_answer(resp, &o.u, &o.t);
		break;
	case REFRESH_REUSED:
		log_json(LOG_WARN, "refresh token reused; login revoked",
		    json_pack("{s:s}", "device", o.r.device_id));
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
out:
	tokens_release(&o.t);
	user_row_release(&o.u);
	return resp->status;
}

struct logout_op {
	int64_t		 user_id;
	const char	*device_id;
};

static int
logout_tx(struct db *db, void *arg)
{
	struct logout_op *o = arg;

	return device_revoke_op(db, o->user_id, o->device_id, o->device_id);
}

/*
 * POST /api/v1/auth/logout
 * 204: the device is revoked (tokens dead at once, roles released,
 * device.revoked emitted); 503.
 */
int
handle_auth_logout(struct req *req, struct resp *resp)
{
	struct logout_op o = { req->user_id, req->device_id };
	int		 rc;

	if ((rc = db_tx(req_db(req), logout_tx, &o)) != DB_OK)
		return answer_db(resp, rc);
	resp->status = 204;
	return 204;
}
