/*
 * Messages of a session (API.md "Sessions, messages, primary device").
 * The server takes the hash itself, over the body's canonical (RFC 8785)
 * form; the size limit applies to that form too.  Storing is one
 * transaction in lib/db_sessions.c: retry, kill, primary and duplicate
 * checks and the insert cannot be split by a concurrent request.
 *
 * Message ids are the server's integer row ids (unique across the
 * server); seq counts per session from 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "db.h"
#include "db_sessions.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "problem.h"

/*
 * POST /api/v1/sessions/{sid}/messages {client_msg_id, body, hash?, auto?}
 *	201 {message}			stored; message.created is emitted
 *	200 {message, duplicate:"retry"}	this device sent this
 *					client_msg_id before: the original
 *					(also after a kill)
 *	400 VALIDATION_FAILED		client_msg_id missing or not an id,
 *					body missing, hash not a string,
 *					auto not a boolean (field named)
 *	404 NOT_FOUND			no such session of this user
 *	409 NOT_PRIMARY {primary}	auto from a device that is not the
 *					current primary
 *	409 DUPLICATE_MESSAGE {original:{id, device_id, created_at}}
 *					same body in this session within
 *					TANDEM_DEDUP_WINDOW_MS
 *	410 SESSION_KILLED
 *	413 PAYLOAD_TOO_LARGE		canonical body over
 *					TANDEM_MAX_MESSAGE_BYTES (field body)
 *	422 HASH_MISMATCH		the client's hash is not the body's
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_messages_post(struct req *req, struct resp *resp)
{
	struct message_in m;
	const char	*sid = req_param(req, "sid"), *hash = NULL;
	char		 ours[JCS_SHA256_LEN];
	char		*canon = NULL;
	json_t		*body, *out = NULL;
	int		 rc;

	memset(&m, 0, sizeof(m));
	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_id(resp, req->json, "client_msg_id", "client_msg_id",
	    F_REQUIRED, &m.client_msg_id) == -1)
		return resp->status;
	if ((body = json_member_normal(req->json, "body")) == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "body",
		    "body is required (any JSON value)");
	if (field_str(resp, req->json, "hash", "hash", F_NULLABLE, 0,
	    SIZE_MAX, &hash) == -1 ||
	    field_bool(resp, req->json, "auto", "auto", F_NULLABLE, 0,
	    &m.is_auto) == -1)
		return resp->status;
	if ((canon = jcs_dump(body)) == NULL) {
		problem_field(resp, 400, "VALIDATION_FAILED", "body",
		    "body has no canonical JSON form");
		goto out;
	}
	if ((int64_t)strlen(canon) > cfg.max_message_bytes) {
		problem_field(resp, 413, "PAYLOAD_TOO_LARGE", "body",
		    "body is larger than %lld bytes in canonical form",
		    (long long)cfg.max_message_bytes);
		goto out;
	}
	if (jcs_sha256(body, ours) == -1) {
		problem_db(resp, DB_ERROR);
		goto out;
	}
	if (hash != NULL && strcasecmp(hash, ours) != 0) {
		problem(resp, 422, "HASH_MISMATCH", "hash is not the sha256 of "
		    "the canonical body");
		problem_set(resp, "expected", json_string(ours));
		goto out;
	}
	m.body = canon;
	m.value = body;
	m.hash = ours;
	rc = db_message_add(req_db(req), req->user_id, req->device_id, sid,
	    &m, &out);
	switch (rc) {
	case SESS_CREATED:
		if (out == NULL)
			problem_db(resp, DB_ERROR);
		else
			resp_json(resp, 201, json_pack("{s:o}", "message",
			    out));
		out = NULL;
		break;
	case SESS_RETRY:
		resp_json(resp, 200, json_pack("{s:o, s:s}", "message", out,
		    "duplicate", "retry"));
		out = NULL;
		break;
	case SESS_NOTFOUND:
		problem(resp, 404, "NOT_FOUND", "session %s not found", sid);
		break;
	case SESS_KILLED:
		problem(resp, 410, "SESSION_KILLED", "session %s was killed",
		    sid);
		break;
	case SESS_NOT_PRIMARY:
		problem(resp, 409, "NOT_PRIMARY", "auto messages come from "
		    "the primary device of session %s only", sid);
		problem_set(resp, "primary", out);
		out = NULL;
		break;
	case SESS_DUPLICATE:
		problem(resp, 409, "DUPLICATE_MESSAGE", "the same message was "
		    "sent to session %s within %lld ms", sid,
		    (long long)cfg.dedup_window_ms);
		problem_set(resp, "original", out);
		out = NULL;
		break;
	default:
		problem_db(resp, DB_ERROR);
		break;
	}
out:
	json_decref(out);
	free(canon);
	return resp->status;
}

/*
 * GET /api/v1/sessions/{sid}/messages?after=SEQ&limit=N
 *	200 {messages:[...], next_after, more}	seq > after, in seq order,
 *				at most limit (default 100); next_after is
 *				the last seq returned (after when none)
 *	400 VALIDATION_FAILED	after < 0 or not an integer, limit outside
 *				1..500 (field named)
 *	404 NOT_FOUND
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_messages_list(struct req *req, struct resp *resp)
{
	const char	*sid = req_param(req, "sid");
	json_t		*out = NULL;
	int64_t		 after, limit;
	int		 rc;

	if (req_query_int(req, resp, "after", 0, 0, INT64_MAX - 1,
	    &after) == -1 ||
	    req_query_int(req, resp, "limit", 100, 1, 500, &limit) == -1)
		return resp->status;
	rc = db_message_list(req_db(req), req->user_id, sid, after, limit,
	    &out);
	if (rc == SESS_OK)
		return resp_json(resp, 200, out);
	json_decref(out);
	if (rc == SESS_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "session %s not found",
		    sid);
	return problem_db(resp, DB_ERROR);
}
