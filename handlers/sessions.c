/*
 * Sessions, the primary device and the session lock (API.md "Sessions,
 * messages, primary device").  Each handler validates its input, calls
 * one lib/db_sessions operation (a whole transaction) and maps the
 * outcome to a status.  Another user's session answers exactly as a
 * missing one: 404.
 */
#include <string.h>

#include <openssl/rand.h>

#include "db.h"
#include "db_sessions.h"
#include "handlers.h"
#include "problem.h"

#define TITLE_MAX	256	/* bytes */
#define REASON_MAX	1024	/* bytes */
#define SID_RANDOM	12	/* random bytes in a server-made session id */

static const char *const state_names[] = {
	"active", "killed", "all", NULL
};

static const char *const action_names[] = {
	"claim", "renew", "release", "transfer", NULL
};

/*
 * A server-made session id: "s_" and 24 lowercase hex digits from
 * OpenSSL's generator.  Returns 0, or -1 when it has no entropy.
 */
static int
session_id_new(char out[3 + 2 * SID_RANDOM])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 rnd[SID_RANDOM];
	size_t		 i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	out[0] = 's';
	out[1] = '_';
	for (i = 0; i < sizeof(rnd); i++) {
		out[2 + 2 * i] = hex[rnd[i] >> 4];
		out[3 + 2 * i] = hex[rnd[i] & 15];
	}
	out[2 + 2 * SID_RANDOM] = '\0';
	return 0;
}

/*
 * The answer for a db_sessions outcome other than success.  extra (taken)
 * becomes the problem's member named member, when both are given.
 */
static int
sess_problem(struct resp *resp, int rc, const char *sid, const char *member,
    json_t *extra)
{
	switch (rc) {
	case SESS_NOTFOUND:
		problem(resp, 404, "NOT_FOUND", "session %s not found", sid);
		break;
	case SESS_NO_DEVICE:
		problem_field(resp, 404, "NOT_FOUND", "to_device",
		    "to_device is not an active device of this user");
		break;
	case SESS_KILLED:
		problem(resp, 410, "SESSION_KILLED", "session %s was killed",
		    sid);
		break;
	case SESS_PRIMARY_HELD:
		problem(resp, 409, "PRIMARY_HELD", "another device holds the "
		    "primary role of session %s", sid);
		break;
	case SESS_NOT_HOLDER:
		problem(resp, 409, "NOT_HOLDER", "this device does not hold "
		    "the %s of session %s", member != NULL &&
		    strcmp(member, "lock") == 0 ? "lock" : "primary role", sid);
		break;
	case SESS_LOCKED:
		problem(resp, 423, "LOCKED", "session %s is locked by another "
		    "device", sid);
		break;
	default:
		problem_db(resp, DB_ERROR);
		json_decref(extra);
		return resp->status;
	}
	if (member != NULL && extra != NULL)
		problem_set(resp, member, extra);
	else
		json_decref(extra);
	return resp->status;
}

/* {name: v} with status; v is taken.  A NULL v (out of memory) is a 503. */
static int
reply(struct resp *resp, int status, const char *name, json_t *v)
{
	if (v == NULL)
		return problem_db(resp, DB_ERROR);
	return resp_json(resp, status, json_pack("{s:o}", name, v));
}

/*
 * POST /api/v1/sessions {id?, title?}
 *	201 {session}		created; session.created is emitted
 *	200 {session}		a session with this id exists (killed or not)
 *	400 VALIDATION_FAILED	body not an object, id not an id, title not
 *				a string of 0..256 bytes (field named)
 *	503 SERVICE_UNAVAILABLE
 * Without an id the server makes one ("s_" + 24 hex digits).
 */
int
handle_sessions_create(struct req *req, struct resp *resp)
{
	const char	*sid = NULL, *title = NULL;
	char		 gen[3 + 2 * SID_RANDOM];
	json_t		*out = NULL;
	int		 rc;

	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_id(resp, req->json, "id", "id", F_NULLABLE, &sid) == -1 ||
	    field_str(resp, req->json, "title", "title", F_NULLABLE, 0,
	    TITLE_MAX, &title) == -1)
		return resp->status;
	if (sid == NULL) {
		if (session_id_new(gen) == -1)
			return problem_db(resp, DB_ERROR);
		sid = gen;
	}
	rc = db_session_create(req_db(req), req->user_id, req->device_id, sid,
	    title, &out);
	if (rc == SESS_CREATED)
		return reply(resp, 201, "session", out);
	if (rc == SESS_OK)
		return reply(resp, 200, "session", out);
	return sess_problem(resp, rc, sid, NULL, out);
}

/*
 * GET /api/v1/sessions?state=active|killed|all (default active)
 *	200 {sessions:[...]}	in creation order
 *	400 VALIDATION_FAILED	another state (field "state")
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_list(struct req *req, struct resp *resp)
{
	const char	*s = req_query(req, "state");
	json_t		*list;
	int		 i, state = -1;

	if (s == NULL)
		state = SESS_STATE_ACTIVE;
	for (i = 0; s != NULL && state_names[i] != NULL; i++)
		if (strcmp(s, state_names[i]) == 0)
			state = i;
	if (state == -1)
		return problem_field(resp, 400, "VALIDATION_FAILED", "state",
		    "state must be active, killed or all");
	list = db_session_list(req_db(req), req->user_id,
	    (enum sess_state)state);
	return reply(resp, 200, "sessions", list);
}

/*
 * GET /api/v1/sessions/{sid}
 *	200 {session}
 *	400 VALIDATION_FAILED	sid not an id (the dispatcher)
 *	404 NOT_FOUND		no such session of this user
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_get(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid");
	json_t		*out = NULL;
	int		 rc;

	rc = db_session_get(req_db(req), req->user_id, sid, &out);
	if (rc == SESS_OK)
		return reply(resp, 200, "session", out);
	return sess_problem(resp, rc, sid, NULL, out);
}

/*
 * POST /api/v1/sessions/{sid}/kill {reason?}   (the body is optional)
 *	200 {session}		killed now, or already (idempotent); the
 *				primary role and the lock are released, and
 *				session.killed is emitted once
 *	400 VALIDATION_FAILED	body not an object, reason not a string of
 *				at most 1024 bytes
 *	404 NOT_FOUND
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_kill(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid"), *reason = NULL;
	json_t		*out = NULL;
	int		 rc;

	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_str(resp, req->json, "reason", "reason", F_NULLABLE, 0,
	    REASON_MAX, &reason) == -1)
		return resp->status;
	rc = db_session_kill(req_db(req), req->user_id, req->device_id, sid,
	    reason, &out);
	if (rc == SESS_OK)
		return reply(resp, 200, "session", out);
	return sess_problem(resp, rc, sid, NULL, out);
}

/*
 * GET /api/v1/sessions/{sid}/primary
 *	200 {primary:{device_id, epoch, lease_expires_at}|null}
 *	404 NOT_FOUND
 *	503 SERVICE_UNAVAILABLE
 * A killed session has no primary: null.
 */
int
handle_sessions_primary_get(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid");
	json_t		*out = NULL;
	int		 rc;

	rc = db_primary_get(req_db(req), req->user_id, sid, &out);
	if (rc == SESS_OK)
		return reply(resp, 200, "primary", out);
	return sess_problem(resp, rc, sid, NULL, out);
}

/*
 * POST /api/v1/sessions/{sid}/primary {action, to_device?}
 *	200 {primary:{...}|null}	claim, renew, release, transfer done
 *	400 VALIDATION_FAILED	action missing or unknown (field "action"),
 *				to_device missing or not an id for transfer
 *	404 NOT_FOUND		no such session; to_device not an active
 *				device of the user (field "to_device")
 *	409 PRIMARY_HELD {primary}	claim while another device holds it
 *	409 NOT_HOLDER {primary}	renew / release by a non-holder
 *	410 SESSION_KILLED
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_primary_post(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid"), *to = NULL;
	json_t		*out = NULL;
	int		 rc, act;

	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_enum(resp, req->json, "action", "action", F_REQUIRED,
	    action_names, 0, &act) == -1)
		return resp->status;
	if (act == PRIMARY_TRANSFER && field_id(resp, req->json, "to_device",
	    "to_device", F_REQUIRED, &to) == -1)
		return resp->status;
	rc = db_primary_act(req_db(req), req->user_id, req->device_id, sid,
	    (enum primary_action)act, to, &out);
	if (rc == SESS_OK)
		return reply(resp, 200, "primary", out);
	return sess_problem(resp, rc, sid, "primary", out);
}

/*
 * POST /api/v1/sessions/{sid}/lock {ttl_ms}   (100..60000)
 *	200 {lock:{device_id, token, expires_at}}	taken (token + 1,
 *				lock.changed) or extended by its holder
 *				(same token)
 *	400 VALIDATION_FAILED	ttl_ms missing, not an integer, out of range
 *	404 NOT_FOUND
 *	410 SESSION_KILLED
 *	423 LOCKED {lock}	another device holds it
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_lock_post(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid");
	json_t		*out = NULL;
	int64_t		 ttl;
	int		 rc;

	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_int(resp, req->json, "ttl_ms", "ttl_ms", F_REQUIRED, 100,
	    60000, 0, &ttl) == -1)
		return resp->status;
	rc = db_lock_take(req_db(req), req->user_id, req->device_id, sid, ttl,
	    &out);
	if (rc == SESS_OK)
		return reply(resp, 200, "lock", out);
	return sess_problem(resp, rc, sid, "lock", out);
}

/*
 * DELETE /api/v1/sessions/{sid}/lock
 *	204			released by its holder (lock.changed)
 *	404 NOT_FOUND
 *	409 NOT_HOLDER {lock}	held by another device, or by nobody
 *				(expired included)
 *	410 SESSION_KILLED
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_lock_delete(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid");
	json_t		*out = NULL;
	int		 rc;

	rc = db_lock_drop(req_db(req), req->user_id, req->device_id, sid,
	    &out);
	if (rc == SESS_OK) {
		json_decref(out);
		resp->status = 204;
		return 204;
	}
	return sess_problem(resp, rc, sid, "lock", out);
}
