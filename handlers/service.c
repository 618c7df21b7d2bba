/*
 * Service keys (API.md "Service keys"): the key check every
 * ROUTE_SERVICE request passes (service_request), the user a route's
 * {uid} names (service_user), and GET /service/users.  The other service
 * routes are the device routes' own operations (handle_events_post,
 * handle_sync_push, handle_sync_pull), run with no device and the key's
 * name as the writer.  Keys are made and revoked by `tandemd key`
 * (handlers/keys.c); the rules are lib/service_rules.c's.
 *
 * A key is looked up by its SHA-256 on every request: one indexed read,
 * as a device's token costs, and no cache, so a key revoked with
 * `tandemd key revoke` fails from the next request on, on every host.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "clock.h"
#include "db.h"
#include "email.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "service_rules.h"

/* The answer of every outcome but success. */
static const struct outcome service_outcomes[SERVICE__MAX] = {
	[SERVICE_NO_KEY] = { 401, "INVALID_TOKEN", "a service key is "
	    "required (Authorization: Bearer tk_...)", NULL, NULL, NULL },
	[SERVICE_NOT_A_KEY] = { 401, "INVALID_TOKEN", "this route takes a "
	    "service key (tk_...), not a device's token", NULL, NULL, NULL },
	[SERVICE_UNKNOWN_KEY] = { 401, "INVALID_TOKEN", "the service key is "
	    "unknown or was revoked", NULL, NULL, NULL },
	[SERVICE_SCOPE_EVENTS] = { 403, "SCOPE_MISSING", "the service key %s "
	    "lacks the scope events", NULL, "scope", "events" },
	[SERVICE_SCOPE_RECORDS] = { 403, "SCOPE_MISSING", "the service key %s "
	    "lacks the scope records", NULL, "scope", "records" },
	[SERVICE_NO_USER] = { 404, "NOT_FOUND", "no such user", NULL, NULL,
	    NULL },
	[SERVICE_NO_EMAIL] = { 404, "NOT_FOUND", "no account has this email",
	    NULL, NULL, NULL },
	[SERVICE_ERROR] = { 503, "SERVICE_UNAVAILABLE", "the database is "
	    "unavailable; retry later", NULL, NULL, NULL },
};

/*
 * Answer outcome (id: what a detail's %s names, or NULL); a 401 carries
 * the challenge every 401 does.  Returns the status.
 */
static int
service_answer(struct resp *resp, enum service_outcome outcome,
    const char *id)
{
	if (outcome <= SERVICE_OK || outcome >= SERVICE__MAX)
		outcome = SERVICE_ERROR;
	if (outcome == SERVICE_NO_KEY)
		resp_header(resp, "WWW-Authenticate", "Bearer realm=\"tandem\"");
	else if (service_outcomes[outcome].status == 401)
		resp_header(resp, "WWW-Authenticate", "Bearer realm=\"tandem\", "
		    "error=\"invalid_token\"");
	return problem_outcome(resp, &service_outcomes[outcome], id);
}

/* A db_rc other than DB_OK as the outcome it is. */
static enum service_outcome
db_outcome(int rc, enum service_outcome notfound)
{
	return rc == DB_NOTFOUND ? notfound : SERVICE_ERROR;
}

struct touch_op {
	const char	*name;
	int64_t		 now;
};

static int
touch_tx(struct db *db, void *arg)
{
	struct touch_op	*t = arg;
	int		 rc;

	rc = db_service_key_touch(db, t->name, t->now,
	    t->now - SERVICE_TOUCH_MS);
	return rc == DB_NOTFOUND ? DB_OK : rc;	/* another request did */
}

/*
 * The key check of ROUTE_SERVICE routes: "Authorization: Bearer tk_..."
 * of a key that exists, holding the scope the route needs (need: a set
 * of SCOPE_BIT()s, 0 for any).  Fills req->service and req->scopes;
 * writes the key's last use at most every SERVICE_TOUCH_MS.  Returns 0,
 * or 401 INVALID_TOKEN (no key, a device's token, an unknown or revoked
 * key), 403 SCOPE_MISSING {scope}, or 503, with resp filled.  The key
 * itself is never logged.
 */
int
service_request(struct req *req, struct resp *resp, unsigned need)
{
	struct service_key_row k;
	unsigned char	 hash[32];
	const char	*h = req->authorization, *tok;
	struct touch_op	 t;
	enum service_outcome out;
	unsigned	 have;
	int		 rc;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return service_answer(resp, SERVICE_NO_KEY, NULL);
	for (tok = h + 7; *tok == ' '; tok++)
		;
	if (!service_key_shaped(tok))
		return service_answer(resp, SERVICE_NOT_A_KEY, NULL);
	auth_token_hash(tok, hash);
	rc = db_service_key_get_by_hash(req_db(req), hash, &k);
	memset(hash, 0, sizeof(hash));
	if (rc != DB_OK)
		return service_answer(resp, db_outcome(rc,
		    SERVICE_UNKNOWN_KEY), NULL);
	if (service_scopes_parse(k.scopes, &have) == -1) {
		log_json(LOG_ERROR, "a service key's scopes do not parse",
		    json_pack("{s:s}", "key", k.name));
		return service_answer(resp, SERVICE_ERROR, NULL);
	}
	if ((req->service = strdup(k.name)) == NULL)
		return service_answer(resp, SERVICE_ERROR, NULL);
	req->scopes = have;
	t.name = k.name;
	t.now = now_ms();
	if (service_touch_due(k.last_used_at, t.now) &&
	    db_tx(req_db(req), touch_tx, &t) != DB_OK)
		log_msg(LOG_WARN, "could not record a service key's use");
	if ((out = service_scope_outcome(have, need)) != SERVICE_OK)
		return service_answer(resp, out, k.name);
	return 0;
}

/*
 * The user whose public id the route's {uid} is, for a request the key
 * check let through: fills req->user_id and req->user_pub.  A route
 * without {uid} has no user.  Returns 0, or 404 NOT_FOUND (no such user;
 * an id of any shape is simply not found), or 503.
 */
int
service_user(struct req *req, struct resp *resp)
{
	struct user_row	 u;
	const char	*uid = req_param(req, "uid");
	int		 rc;

	if (uid == NULL)
		return 0;
	rc = valid_id(uid) ? db_user_get_by_public_id(req_db(req), uid, &u) :
	    DB_NOTFOUND;
	if (rc != DB_OK)
		return service_answer(resp, db_outcome(rc, SERVICE_NO_USER),
		    NULL);
	req->user_id = u.id;
	req->user_pub = strdup(u.public_id);
	user_row_release(&u);
	return req->user_pub != NULL ? 0 :
	    service_answer(resp, SERVICE_ERROR, NULL);
}

/*
 * GET /api/v1/service/users?email=E (a key of any scope)
 * The email is compared as it is stored: normalised (email_normalize).
 * 200 {user:{id, email, created_at}}
 * 400 VALIDATION_FAILED (field email: missing, or not an email)
 * 404 NOT_FOUND (no account has this email)
 * 503 SERVICE_UNAVAILABLE
 */
int
handle_service_users_get(struct req *req, struct resp *resp)
{
	struct user_row	 u;
	const char	*raw = req_query(req, "email");
	char		*email;
	enum email_err	 why;
	int		 rc;

	if (raw == NULL || *raw == '\0')
		return problem_field(resp, 400, "VALIDATION_FAILED", "email",
		    "email is required");
	if (strlen(raw) > EMAIL_INPUT_MAX)
		return problem_field(resp, 400, "VALIDATION_FAILED", "email",
		    "email is at most %d bytes", EMAIL_INPUT_MAX);
	if ((email = email_normalize(raw, &why)) == NULL) {
		if (why == EMAIL_NOMEM)
			return service_answer(resp, SERVICE_ERROR, NULL);
		return problem_field(resp, 400, "VALIDATION_FAILED", "email",
		    "%s", email_err_text[why]);
	}
	rc = db_user_get_by_email(req_db(req), email, &u);
	free(email);
	if (rc != DB_OK)
		return service_answer(resp, db_outcome(rc, SERVICE_NO_EMAIL),
		    NULL);
	resp_json(resp, 200, json_pack("{s:o}", "user", user_json(&u)));
	user_row_release(&u);
	return resp->status;
}
