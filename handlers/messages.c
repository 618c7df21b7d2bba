/*
 * Messages of a session (API.md "Sessions, messages, primary device").
 * The server takes the hash itself, over the body's canonical (RFC 8785)
 * form; the size limit applies to that form too.  Storing is one
 * operation in one transaction: the retry, kill, primary, duplicate and
 * quota checks and the insert cannot be split by a concurrent request.
 *
 * Message ids are the server's integer row ids (unique across the
 * server); seq counts per session from 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "problem.h"
#include "sessions_rules.h"
#include "sync_rules.h"

#define LIST_DEF	100
#define LIST_MAX	500

/* The contract's message with body (taken); NULL when out of memory. */
static json_t *
message_json_with(const struct message_row *m, json_t *body)
{
	if (body == NULL)
		return NULL;
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:I}",
	    "id", (json_int_t)m->id, "seq", (json_int_t)m->seq,
	    "session_id", m->session_id, "device_id", m->device_id,
	    "client_msg_id", m->client_msg_id, "hash", m->hash,
	    "body", body, "created_at", (json_int_t)m->created_at);
}

/*
 * The contract's message, the one place it is built: its body is the
 * stored canonical text read back (json_load_stored keeps every number).
 */
json_t *
message_json(const struct message_row *m)
{
	return message_json_with(m, m->body != NULL ?
	    json_load_stored(m->body, strlen(m->body)) : NULL);
}

/* A message as the handler validated it, and what storing it answers. */
struct add_op {
	int64_t		 user_id;
	const char	*device_id;
	const char	*sid;
	const char	*client_msg_id;
	const char	*canon;		/* the canonical body */
	const json_t	*value;		/* the body as validated */
	const char	*hash;		/* "sha256:" + hex of canon */
	int		 is_auto;
	enum session_outcome out;
	struct message_row m;		/* the original or the new message */
	struct message_ref orig;	/* a duplicate's original */
	json_t		*primary;	/* NOT_PRIMARY: the primary or null */
};

/*
 * In this order: no session: SESSION_NOTFOUND; this device sent
 * client_msg_id before: SESSION_RETRY with the original (even when
 * killed); killed: SESSION_KILLED; auto from a device that is not the
 * current primary: SESSION_NOT_PRIMARY; the same hash in this session
 * within TANDEM_DEDUP_WINDOW_MS: SESSION_DUPLICATE; past the quota:
 * SESSION_QUOTA_*; else the message is stored with the next seq and
 * message.created is emitted (SESSION_CREATED).
 */
static int
add_tx(struct db *db, void *arg)
{
	struct add_op	*a = arg;
	struct session_row s;
	int64_t		 now = now_ms(), since, bytes, records;
	size_t		 len = strlen(a->canon);
	enum quota_kind	 q;
	int		 rc;

	a->out = SESSION_ERROR;
	message_row_release(&a->m);
	json_decref(a->primary);
	a->primary = NULL;
	if ((rc = db_session_get(db, a->user_id, a->sid, 1, &s)) != DB_OK) {
		if (rc == DB_NOTFOUND)
			a->out = SESSION_NOTFOUND;
		return rc == DB_NOTFOUND ? DB_OK : rc;
	}
	rc = db_message_get_by_cmid(db, a->user_id, a->sid, a->device_id,
	    a->client_msg_id, &a->m);
	if (rc == DB_OK) {
		a->out = SESSION_RETRY;
		return DB_OK;
	}
	if (rc != DB_NOTFOUND)
		return rc;
	if ((a->out = message_admit(&s, a->is_auto, a->device_id, now)) !=
	    SESSION_OK) {
		if (a->out == SESSION_NOT_PRIMARY)
			a->primary = primary_json(&s);
		return DB_OK;
	}
	if ((since = dedup_since(now, cfg.dedup_window_ms)) >= 0) {
		rc = db_message_find_hash(db, a->user_id, a->sid, a->hash,
		    since, &a->orig);
		if (rc == DB_OK) {
			a->out = SESSION_DUPLICATE;
			return DB_OK;
		}
		if (rc != DB_NOTFOUND)
			return rc;
	}
	if ((rc = db_usage_get(db, a->user_id, &bytes, &records)) != DB_OK)
		return rc;
	q = quota_check(bytes, records, (int64_t)len, 0, cfg.quota_bytes,
	    cfg.quota_records);
	if (q != QUOTA_OK) {
		a->out = q == QUOTA_BYTES ? SESSION_QUOTA_BYTES :
		    SESSION_QUOTA_RECORDS;
		return DB_OK;
	}
	memset(&a->m, 0, sizeof(a->m));
	a->m.user_id = a->user_id;
	a->m.seq = s.message_count + 1;
	a->m.created_at = session_time(&s, now);
	snprintf(a->m.session_id, sizeof(a->m.session_id), "%s", a->sid);
	snprintf(a->m.device_id, sizeof(a->m.device_id), "%s", a->device_id);
	snprintf(a->m.client_msg_id, sizeof(a->m.client_msg_id), "%s",
	    a->client_msg_id);
	snprintf(a->m.hash, sizeof(a->m.hash), "%s", a->hash);
	a->m.body = (char *)a->canon;	/* borrowed: not released */
	rc = db_message_insert(db, &a->m, &a->m.id);
	a->m.body = NULL;
	if (rc != DB_OK ||
	    (rc = db_session_messages_set(db, a->user_id, a->sid, a->m.seq,
	    a->m.created_at)) != DB_OK ||
	    (rc = db_participant_touch(db, a->user_id, a->sid, a->device_id,
	    now)) != DB_OK ||
	    (rc = db_usage_add(db, a->user_id, (int64_t)len, 0)) != DB_OK ||
	    (rc = event_append(db, a->user_id, a->device_id,
	    "message.created", a->sid, json_pack("{s:s, s:I, s:I}",
	    "session_id", a->sid, "id", (json_int_t)a->m.id,
	    "seq", (json_int_t)a->m.seq), NULL)) != DB_OK)
		return rc;
	a->out = SESSION_CREATED;
	return DB_OK;
}

/* The answer of an add_op that ran. */
static int
add_answer(struct resp *resp, struct add_op *a)
{
	json_t	*m;

	switch (a->out) {
	case SESSION_CREATED:
		/* the validated body, in the canonical form it is stored in */
		if ((m = message_json_with(&a->m,
		    jcs_canonical_copy(a->value))) == NULL)
			return answer_db(resp, DB_ERROR);
		return resp_json(resp, 201, json_pack("{s:o}", "message", m));
	case SESSION_RETRY:
		if ((m = message_json(&a->m)) == NULL)
			return answer_db(resp, DB_ERROR);
		return resp_json(resp, 200, json_pack("{s:o, s:s}", "message",
		    m, "duplicate", "retry"));
	case SESSION_NOT_PRIMARY:
		session_answer(resp, a->out, a->sid, "primary", a->primary);
		a->primary = NULL;
		return resp->status;
	case SESSION_DUPLICATE:
		return session_answer(resp, a->out, a->sid, "original",
		    json_pack("{s:I, s:s, s:I}", "id", (json_int_t)a->orig.id,
		    "device_id", a->orig.device_id, "created_at",
		    (json_int_t)a->orig.created_at));
	default:
		return session_answer(resp, a->out, a->sid, NULL, NULL);
	}
}

/*
 * POST /api/v1/sessions/{sid}/messages {client_msg_id, body, hash?, auto?}
 *	201 {message}			stored; message.created is emitted
 *	200 {message, duplicate:"retry"}	this device sent this
 *					client_msg_id before: the original
 *					(also after a kill)
 *	400 VALIDATION_FAILED		client_msg_id missing or not an id,
 *					body missing, hash not a string,
 *					auto not a boolean (field named)
 *	403 QUOTA_EXCEEDED {quota}	past TANDEM_QUOTA_BYTES
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
	struct add_op	 a;
	const char	*hash = NULL;
	char		 ours[JCS_SHA256_LEN];
	char		*canon = NULL;
	json_t		*body;
	int		 rc;

	memset(&a, 0, sizeof(a));
	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_id(resp, req->json, "client_msg_id", "client_msg_id",
	    F_REQUIRED, &a.client_msg_id) == -1)
		return resp->status;
	if ((body = json_member_normal(req->json, "body")) == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "body",
		    "body is required (any JSON value)");
	if (field_str(resp, req->json, "hash", "hash", F_NULLABLE, 0,
	    SIZE_MAX, &hash) == -1 ||
	    field_bool(resp, req->json, "auto", "auto", F_NULLABLE, 0,
	    &a.is_auto) == -1)
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
	if (sync_checksum(canon, strlen(canon), ours) == -1) {
		answer_db(resp, DB_ERROR);
		goto out;
	}
	if (hash != NULL && strcasecmp(hash, ours) != 0) {
		problem(resp, 422, "HASH_MISMATCH", "hash is not the sha256 of "
		    "the canonical body");
		problem_set(resp, "expected", json_string(ours));
		goto out;
	}
	a.user_id = req->user_id;
	a.device_id = req->device_id;
	a.sid = req_param(req, "sid");
	a.canon = canon;
	a.value = body;
	a.hash = ours;
	if ((rc = db_tx(req_db(req), add_tx, &a)) != DB_OK)
		answer_db(resp, rc);
	else
		add_answer(resp, &a);
out:
	message_row_release(&a.m);
	json_decref(a.primary);
	free(canon);
	return resp->status;
}

struct list_op {
	json_t		*arr;
	int64_t		 limit;
	int64_t		 next;
	int		 more;
};

static int
list_one(void *arg, const struct message_row *m)
{
	struct list_op	*l = arg;
	json_t		*v;

	if ((int64_t)json_array_size(l->arr) == l->limit) {
		l->more = 1;
		return DB_ROLLBACK;	/* enough */
	}
	if ((v = message_json(m)) == NULL ||
	    json_array_append_new(l->arr, v) == -1)
		return DB_ERROR;
	l->next = m->seq;
	return DB_OK;
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
 * A killed session still lists its history.
 */
int
handle_messages_list(struct req *req, struct resp *resp)
{
	struct session_row s;
	struct list_op	 l;
	struct db	*db;
	const char	*sid = req_param(req, "sid");
	int64_t		 after;
	int		 rc;

	memset(&l, 0, sizeof(l));
	if (req_query_int(req, resp, "after", 0, 0, INT64_MAX - 1,
	    &after) == -1 ||
	    req_query_int(req, resp, "limit", LIST_DEF, 1, LIST_MAX,
	    &l.limit) == -1)
		return resp->status;
	db = req_db(req);
	if ((rc = db_session_get(db, req->user_id, sid, 0, &s)) != DB_OK)
		return session_answer(resp, rc == DB_NOTFOUND ?
		    SESSION_NOTFOUND : SESSION_ERROR, sid, NULL, NULL);
	if ((l.arr = json_array()) == NULL)
		return answer_db(resp, DB_ERROR);
	l.next = after;
	if ((rc = db_messages_list(db, req->user_id, sid, after, l.limit + 1,
	    list_one, &l)) != DB_OK) {
		json_decref(l.arr);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o, s:I, s:b}", "messages",
	    l.arr, "next_after", (json_int_t)l.next, "more", l.more));
}
