/*
 * Sessions, the primary device and the session lock (API.md "Sessions,
 * messages, primary device").  Each write is one operation in one
 * transaction: it reads the session row (locked for the transaction),
 * lets lib/sessions_rules.c decide, writes the decided change with a
 * conditional update and appends its events, so two devices can never
 * hold the role or the lock at once.  Another user's session answers
 * exactly as a missing one: 404.
 */
#include <string.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "rand.h"
#include "sessions_rules.h"

#define TITLE_MAX	256	/* bytes */
#define REASON_MAX	1024	/* bytes */
#define SID_RANDOM	12	/* random bytes in a server-made session id */
#define LIST_DEF	100
#define LIST_MAX	1000
#define SWEEP_BATCH	128	/* sessions looked at per sweep query */
#define SWEEP_ROUNDS	8	/* sweep queries per sweeper run */

/* The answer of every sessions and messages outcome but success. */
static const struct outcome session_outcomes[SESSION__MAX] = {
	[SESSION_NOTFOUND] = { 404, "NOT_FOUND", "session %s not found",
	    NULL, NULL, NULL },
	[SESSION_NO_DEVICE] = { 404, "NOT_FOUND", "to_device is not an "
	    "active device of this user", "to_device", NULL, NULL },
	[SESSION_BAD_AFTER] = { 400, "VALIDATION_FAILED", "after names no "
	    "session of this user", "after", NULL, NULL },
	[SESSION_KILLED] = { 410, "SESSION_KILLED", "session %s was killed",
	    NULL, NULL, NULL },
	[SESSION_NOT_PRIMARY] = { 409, "NOT_PRIMARY", "auto messages come "
	    "from the primary device of session %s only", NULL, NULL, NULL },
	[SESSION_DUPLICATE] = { 409, "DUPLICATE_MESSAGE", "the same message "
	    "was sent to session %s within the dedup window", NULL, NULL,
	    NULL },
	[SESSION_PRIMARY_HELD] = { 409, "PRIMARY_HELD", "another device "
	    "holds the primary role of session %s", NULL, NULL, NULL },
	[SESSION_NOT_HOLDER] = { 409, "NOT_HOLDER", "this device does not "
	    "hold it in session %s", NULL, NULL, NULL },
	[SESSION_LOCKED] = { 423, "LOCKED", "session %s is locked by another "
	    "device", NULL, NULL, NULL },
	[SESSION_QUOTA_BYTES] = { 403, "QUOTA_EXCEEDED", "the account's "
	    "storage quota (TANDEM_QUOTA_BYTES) is used up", NULL, "quota",
	    "bytes" },
	[SESSION_QUOTA_RECORDS] = { 403, "QUOTA_EXCEEDED", "the account's "
	    "record quota is used up", NULL, "quota", "records" },
	[SESSION_ERROR] = { 503, "SERVICE_UNAVAILABLE", "the database is "
	    "unavailable; retry later", NULL, NULL, NULL },
};

/*
 * The answer for an outcome other than success; extra (taken) becomes
 * the problem's member named member, when both are given.
 */
int
session_answer(struct resp *resp, int outcome, const char *sid,
    const char *member, json_t *extra)
{
	const struct outcome *o;

	if (outcome < 0 || outcome >= SESSION__MAX ||
	    session_outcomes[outcome].status == 0)
		outcome = SESSION_ERROR;
	o = &session_outcomes[outcome];
	problem_outcome(resp, o, sid);
	if (member != NULL && extra != NULL)
		problem_set(resp, member, extra);
	else
		json_decref(extra);
	return resp->status;
}

/* The outcome of a store result that is not a decision. */
static enum session_outcome
store_outcome(int rc)
{
	return rc == DB_NOTFOUND ? SESSION_NOTFOUND : SESSION_ERROR;
}

static json_t *
time_or_null(int64_t t)
{
	return t != 0 ? json_integer((json_int_t)t) : json_null();
}

/*
 * {device_id, epoch, lease_expires_at}, or null when nobody holds the
 * role.  A lease that lapsed shows until the sweeper fails it over (within
 * one TANDEM_SWEEP_MS); its lease_expires_at is then in the past.
 */
json_t *
primary_json(const struct session_row *s)
{
	if (s->primary_device[0] == '\0')
		return json_null();
	return json_pack("{s:s, s:I, s:I}", "device_id", s->primary_device,
	    "epoch", (json_int_t)s->primary_epoch,
	    "lease_expires_at", (json_int_t)s->primary_expires_at);
}

/* {device_id, token, expires_at}, or null when unlocked or expired. */
static json_t *
lock_json(const struct session_row *s, int64_t now)
{
	if (!lock_valid(s, now))
		return json_null();
	return json_pack("{s:s, s:I, s:I}", "device_id", s->lock_device,
	    "token", (json_int_t)s->lock_token,
	    "expires_at", (json_int_t)s->lock_expires_at);
}

/* The contract's session object.  Returns a new reference or NULL. */
json_t *
session_json(const struct session_row *s, int64_t now)
{
	return json_pack("{s:s, s:o, s:I, s:o, s:o, s:o, s:I, s:o}",
	    "id", s->id,
	    "title", s->has_title ? json_string(s->title) : json_null(),
	    "created_at", (json_int_t)s->created_at,
	    "killed_at", time_or_null(s->killed_at),
	    "primary", primary_json(s),
	    "lock", lock_json(s, now),
	    "message_count", (json_int_t)s->message_count,
	    "last_message_at", time_or_null(s->last_message_at));
}

/* {name: v} with status; v is taken.  A NULL v (out of memory) is 503. */
static int
reply(struct resp *resp, int status, const char *name, json_t *v)
{
	if (v == NULL)
		return answer_db(resp, DB_ERROR);
	return resp_json(resp, status, json_pack("{s:o}", name, v));
}

static int
event_primary(struct db *db, int64_t user_id, const char *cause,
    const char *sid, const struct primary_change *c)
{
	return event_append(db, user_id, cause, "primary.changed", sid,
	    json_pack("{s:s, s:o, s:I}", "session_id", sid, "device_id",
	    c->device != NULL ? json_string(c->device) : json_null(),
	    "epoch", (json_int_t)c->epoch), NULL);
}

static int
event_lock(struct db *db, int64_t user_id, const char *cause,
    const char *sid, const struct lock_change *c)
{
	return event_append(db, user_id, cause, "lock.changed", sid,
	    json_pack("{s:s, s:o, s:I}", "session_id", sid, "device_id",
	    c->device != NULL ? json_string(c->device) : json_null(),
	    "token", (json_int_t)c->token), NULL);
}

/* What one session operation works on and answers with. */
struct sess_op {
	int64_t		 user_id;
	const char	*device_id;
	const char	*sid;
	struct session_row s;	/* the row as the operation left it */
	int64_t		 now;	/* taken once the write lock is held */
	enum session_outcome out;
};

/*
 * Open an operation on session op->sid: the row, locked for the
 * transaction, and the time it happens (taken once the write lock is
 * held, so times follow commit order).  Returns a db_rc; DB_NOTFOUND
 * sets op->out.
 */
static int
op_load(struct db *db, struct sess_op *op)
{
	int	 rc;

	op->now = now_ms();
	rc = db_session_get(db, op->user_id, op->sid, 1, &op->s);
	op->out = rc == DB_OK ? SESSION_OK : store_outcome(rc);
	return rc;
}

/*
 * Apply a primary change to the row as read (after it was written); the
 * change may point into the row itself (a renewal names its holder).
 */
static void
primary_applied(struct session_row *s, const struct primary_change *c)
{
	char	 dev[DB_ID_CAP];

	snprintf(dev, sizeof(dev), "%s", c->device != NULL ? c->device : "");
	memcpy(s->primary_device, dev, sizeof(dev));
	s->primary_epoch = c->epoch;
	s->primary_expires_at = c->device != NULL ? c->expires_at : 0;
}

static void
lock_applied(struct session_row *s, const struct lock_change *c)
{
	char	 dev[DB_ID_CAP];

	snprintf(dev, sizeof(dev), "%s", c->device != NULL ? c->device : "");
	memcpy(s->lock_device, dev, sizeof(dev));
	s->lock_token = c->token;
	s->lock_expires_at = c->device != NULL ? c->expires_at : 0;
}

struct create_op {
	struct sess_op	 op;
	const char	*title;
};

static int
create_tx(struct db *db, void *arg)
{
	struct create_op *c = arg;
	int		 rc;

	if ((rc = op_load(db, &c->op)) != DB_NOTFOUND)
		return rc;		/* it exists: SESSION_OK with the row */
	if ((rc = db_session_insert(db, c->op.user_id, c->op.sid, c->title,
	    c->op.now)) != DB_OK ||
	    (rc = event_append(db, c->op.user_id, c->op.device_id,
	    "session.created", c->op.sid, json_pack("{s:s}", "session_id",
	    c->op.sid), NULL)) != DB_OK)
		return rc;
	memset(&c->op.s, 0, sizeof(c->op.s));
	snprintf(c->op.s.id, sizeof(c->op.s.id), "%s", c->op.sid);
	c->op.s.has_title = c->title != NULL;
	snprintf(c->op.s.title, sizeof(c->op.s.title), "%s",
	    c->title != NULL ? c->title : "");
	c->op.s.created_at = c->op.now;
	c->op.out = SESSION_CREATED;
	return DB_OK;
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
	struct create_op c;
	const char	*sid = NULL;
	char		 gen[3 + 2 * SID_RANDOM];
	int		 rc;

	memset(&c, 0, sizeof(c));
	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_id(resp, req->json, "id", "id", F_NULLABLE, &sid) == -1 ||
	    field_str(resp, req->json, "title", "title", F_NULLABLE, 0,
	    TITLE_MAX, &c.title) == -1)
		return resp->status;
	if (sid == NULL) {
		if (rand_id(gen, sizeof(gen), "s_", SID_RANDOM) == -1)
			return answer_db(resp, DB_ERROR);
		sid = gen;
	}
	c.op.user_id = req->user_id;
	c.op.device_id = req->device_id;
	c.op.sid = sid;
	if ((rc = db_tx(req_db(req), create_tx, &c)) != DB_OK)
		return answer_db(resp, rc);
	return reply(resp, c.op.out == SESSION_CREATED ? 201 : 200,
	    "session", session_json(&c.op.s, c.op.now));
}

struct list_op {
	struct resp	*resp;
	json_t		*arr;
	int64_t		 now;
	int64_t		 limit;
	int64_t		 n;
	char		 last[DB_ID_CAP];
	int		 more;
};

static int
list_one(void *arg, const struct session_row *s)
{
	struct list_op	*l = arg;

	if (l->n == l->limit) {
		l->more = 1;
		return DB_ROLLBACK;	/* enough */
	}
	snprintf(l->last, sizeof(l->last), "%s", s->id);
	l->n++;
	return json_array_append_new(l->arr, session_json(s, l->now)) == 0 ?
	    DB_OK : DB_ERROR;
}

/*
 * GET /api/v1/sessions?state=active|killed|all&limit=N&after=ID
 *	200 {sessions:[...], next_after, more}	in creation order, at most
 *				limit (default 100, 1..1000), after the
 *				session `after`; next_after is the last id
 *				returned (after itself on an empty page)
 *	400 VALIDATION_FAILED	another state, a limit out of range, an
 *				after that is no session of the user (field)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sessions_list(struct req *req, struct resp *resp)
{
	struct session_row s;
	struct list_op	 l;
	struct db	*db;
	const char	*after = req_query(req, "after");
	int		 state, rc;

	memset(&l, 0, sizeof(l));
	if (query_enum(req, resp, "state", session_filter_names,
	    SESSIONS_ACTIVE, &state) == -1 ||
	    req_query_int(req, resp, "limit", LIST_DEF, 1, LIST_MAX,
	    &l.limit) == -1)
		return resp->status;
	if (after != NULL && !valid_id(after))
		return session_answer(resp, SESSION_BAD_AFTER, after, NULL,
		    NULL);
	db = req_db(req);
	if (after != NULL) {
		rc = db_session_get(db, req->user_id, after, 0, &s);
		if (rc == DB_NOTFOUND)
			return session_answer(resp, SESSION_BAD_AFTER, after,
			    NULL, NULL);
		if (rc != DB_OK)
			return answer_db(resp, rc);
	}
	if ((l.arr = json_array()) == NULL)
		return answer_db(resp, DB_ERROR);
	l.now = now_ms();
	snprintf(l.last, sizeof(l.last), "%s", after != NULL ? after : "");
	rc = db_sessions_list(db, req->user_id, (enum session_filter)state,
	    after, l.limit + 1, list_one, &l);
	if (rc != DB_OK) {
		json_decref(l.arr);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o, s:o, s:b}",
	    "sessions", l.arr, "next_after", l.last[0] != '\0' ?
	    json_string(l.last) : json_null(), "more", l.more));
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
	struct session_row s;
	const char	*sid = req_param(req, "sid");
	int		 rc;

	rc = db_session_get(req_db(req), req->user_id, sid, 0, &s);
	if (rc != DB_OK)
		return session_answer(resp, store_outcome(rc), sid, NULL,
		    NULL);
	return reply(resp, 200, "session", session_json(&s, now_ms()));
}

struct kill_op {
	struct sess_op	 op;
	const char	*reason;
};

static int
kill_tx(struct db *db, void *arg)
{
	struct kill_op	*k = arg;
	struct session_row *s = &k->op.s;
	struct primary_change pc;
	struct lock_change lc;
	int64_t		 at;
	int		 rc;

	if ((rc = op_load(db, &k->op)) != DB_OK || s->killed_at != 0)
		return rc == DB_NOTFOUND ? DB_OK : rc;
	at = session_time(s, k->op.now);
	if ((rc = db_session_kill(db, k->op.user_id, s->id, at, k->reason)) !=
	    DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	if (s->primary_device[0] != '\0') {
		failover_change(s, NULL, k->op.now, 0, &pc);
		if ((rc = event_primary(db, k->op.user_id, k->op.device_id,
		    s->id, &pc)) != DB_OK)
			return rc;
		primary_applied(s, &pc);
	}
	if (s->lock_device[0] != '\0') {
		lock_expire_change(s, &lc);
		if ((rc = event_lock(db, k->op.user_id, k->op.device_id, s->id,
		    &lc)) != DB_OK)
			return rc;
		lock_applied(s, &lc);
	}
	s->killed_at = at;
	return event_append(db, k->op.user_id, k->op.device_id,
	    "session.killed", s->id, json_pack("{s:s}", "session_id", s->id),
	    NULL);
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
	struct kill_op	 k;
	int		 rc;

	memset(&k, 0, sizeof(k));
	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_str(resp, req->json, "reason", "reason", F_NULLABLE, 0,
	    REASON_MAX, &k.reason) == -1)
		return resp->status;
	k.op.user_id = req->user_id;
	k.op.device_id = req->device_id;
	k.op.sid = req_param(req, "sid");
	if ((rc = db_tx(req_db(req), kill_tx, &k)) != DB_OK)
		return answer_db(resp, rc);
	if (k.op.out != SESSION_OK)
		return session_answer(resp, k.op.out, k.op.sid, NULL, NULL);
	return reply(resp, 200, "session", session_json(&k.op.s, k.op.now));
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
	struct session_row s;
	const char	*sid = req_param(req, "sid");
	int		 rc;

	rc = db_session_get(req_db(req), req->user_id, sid, 0, &s);
	if (rc != DB_OK)
		return session_answer(resp, store_outcome(rc), sid, NULL,
		    NULL);
	return reply(resp, 200, "primary", primary_json(&s));
}

struct primary_op {
	struct sess_op	 op;
	enum primary_action act;
	const char	*to_device;
};

static int
primary_tx(struct db *db, void *arg)
{
	struct primary_op *p = arg;
	struct session_row *s = &p->op.s;
	struct primary_change c;
	struct session_effect e;
	struct device_row d;
	const char	*to = NULL;
	int		 rc;

	if ((rc = op_load(db, &p->op)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_OK : rc;
	if (p->act == PRIMARY_TRANSFER && s->killed_at == 0) {
		rc = db_device_get(db, p->op.user_id, p->to_device, &d);
		if (rc == DB_OK && d.revoked_at == 0)
			to = p->to_device;
		if (rc == DB_OK)
			device_row_release(&d);
		if (rc != DB_OK && rc != DB_NOTFOUND)
			return rc;
	}
	p->op.out = primary_decide(s, p->act, p->op.device_id, to, p->op.now,
	    cfg.primary_ttl_ms, &c, &e);
	if (p->op.out != SESSION_OK)
		return DB_OK;
	if (e.write && (rc = db_session_primary_set(db, p->op.user_id, s->id,
	    &c)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	if (e.participates && (rc = db_participant_touch(db, p->op.user_id,
	    s->id, p->op.device_id, p->op.now)) != DB_OK)
		return rc;
	if (e.event && (rc = event_primary(db, p->op.user_id,
	    p->op.device_id, s->id, &c)) != DB_OK)
		return rc;
	primary_applied(s, &c);
	return DB_OK;
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
	struct primary_op p;
	int		 act, rc;

	memset(&p, 0, sizeof(p));
	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_enum(resp, req->json, "action", "action", F_REQUIRED,
	    primary_action_names, 0, &act) == -1)
		return resp->status;
	if (act == PRIMARY_TRANSFER && field_id(resp, req->json, "to_device",
	    "to_device", F_REQUIRED, &p.to_device) == -1)
		return resp->status;
	p.act = (enum primary_action)act;
	p.op.user_id = req->user_id;
	p.op.device_id = req->device_id;
	p.op.sid = req_param(req, "sid");
	if ((rc = db_tx(req_db(req), primary_tx, &p)) != DB_OK)
		return answer_db(resp, rc);
	if (p.op.out == SESSION_OK)
		return reply(resp, 200, "primary", primary_json(&p.op.s));
	return session_answer(resp, p.op.out, p.op.sid,
	    p.op.out == SESSION_PRIMARY_HELD || p.op.out == SESSION_NOT_HOLDER ?
	    "primary" : NULL, p.op.out == SESSION_PRIMARY_HELD ||
	    p.op.out == SESSION_NOT_HOLDER ? primary_json(&p.op.s) : NULL);
}

struct lock_op {
	struct sess_op	 op;
	int64_t		 ttl_ms;	/* 0: drop the lock */
};

static int
lock_tx(struct db *db, void *arg)
{
	struct lock_op	*l = arg;
	struct session_row *s = &l->op.s;
	struct lock_change c;
	struct session_effect e;
	int		 rc;

	if ((rc = op_load(db, &l->op)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_OK : rc;
	memset(&e, 0, sizeof(e));
	if (l->ttl_ms > 0)
		l->op.out = lock_decide(s, l->op.device_id, l->ttl_ms,
		    l->op.now, &c, &e);
	else {
		l->op.out = unlock_decide(s, l->op.device_id, l->op.now, &c);
		e.write = e.event = l->op.out == SESSION_OK;
	}
	if (l->op.out != SESSION_OK)
		return DB_OK;
	if (e.write && (rc = db_session_lock_set(db, l->op.user_id, s->id,
	    &c)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	if (e.event && (rc = event_lock(db, l->op.user_id, l->op.device_id,
	    s->id, &c)) != DB_OK)
		return rc;
	lock_applied(s, &c);
	return DB_OK;
}

/* Run a lock operation; on success *s is the row after it. */
static int
lock_run(struct req *req, struct resp *resp, struct lock_op *l)
{
	int	 rc;

	l->op.user_id = req->user_id;
	l->op.device_id = req->device_id;
	l->op.sid = req_param(req, "sid");
	if ((rc = db_tx(req_db(req), lock_tx, l)) != DB_OK)
		return answer_db(resp, rc);
	if (l->op.out == SESSION_OK)
		return 0;
	return session_answer(resp, l->op.out, l->op.sid,
	    l->op.out == SESSION_LOCKED || l->op.out == SESSION_NOT_HOLDER ?
	    "lock" : NULL, l->op.out == SESSION_LOCKED ||
	    l->op.out == SESSION_NOT_HOLDER ? lock_json(&l->op.s, l->op.now) :
	    NULL);
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
	struct lock_op	 l;

	memset(&l, 0, sizeof(l));
	if (req->json != NULL && body_object(req, resp) == -1)
		return resp->status;
	if (field_int(resp, req->json, "ttl_ms", "ttl_ms", F_REQUIRED, 100,
	    60000, 0, &l.ttl_ms) == -1)
		return resp->status;
	if (lock_run(req, resp, &l) != 0)
		return resp->status;
	return reply(resp, 200, "lock", lock_json(&l.op.s, l.op.now));
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
	struct lock_op	 l;

	memset(&l, 0, sizeof(l));
	if (lock_run(req, resp, &l) != 0)
		return resp->status;
	resp->status = 204;
	return 204;
}

/*
 * The role of session s (read in this transaction) leaves its holder:
 * to the failover target (the online device, other than the holder, that
 * took part most recently) or to nobody; primary.changed is caused by
 * `cause` (NULL: the server).  Returns a db_rc.
 */
static int
failover(struct db *db, const char *cause, struct session_row *s,
    int64_t now)
{
	struct primary_change c;
	char		 target[DB_ID_CAP];
	int		 rc;

	rc = db_failover_target(db, s->user_id, s->id, s->primary_device,
	    now - cfg.presence_ttl_ms, target);
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return rc;
	failover_change(s, rc == DB_OK ? target : NULL, now,
	    cfg.primary_ttl_ms, &c);
	if ((rc = db_session_primary_set(db, s->user_id, s->id, &c)) != DB_OK)
		return rc;
	if ((rc = event_primary(db, s->user_id, cause, s->id, &c)) != DB_OK)
		return rc;
	primary_applied(s, &c);
	return DB_OK;
}

/* The lock of session s leaves its holder, with lock.changed. */
static int
lock_free(struct db *db, const char *cause, struct session_row *s)
{
	struct lock_change c;
	int		 rc;

	lock_expire_change(s, &c);
	if ((rc = db_session_lock_set(db, s->user_id, s->id, &c)) != DB_OK)
		return rc;
	if ((rc = event_lock(db, s->user_id, cause, s->id, &c)) != DB_OK)
		return rc;
	lock_applied(s, &c);
	return DB_OK;
}

struct release_op {
	struct db	*db;
	const char	*device_id;
	const char	*cause;
	int64_t		 now;
};

static int
release_one(void *arg, const struct session_row *row)
{
	struct release_op *r = arg;
	struct session_row s = *row;
	int		 rc = DB_OK;

	if (strcmp(s.primary_device, r->device_id) == 0)
		rc = failover(r->db, r->cause, &s, r->now);
	if (rc == DB_OK && strcmp(s.lock_device, r->device_id) == 0)
		rc = lock_free(r->db, r->cause, &s);
	return rc;
}

/*
 * Inside the transaction that revokes a device (logout, DELETE
 * /devices/{id}, refresh-token reuse): the device loses every primary
 * role at once (failover to the next online participant, else nobody)
 * and every lock it holds, with the events caused by `cause`, the device
 * whose request revoked it.  Returns a db_rc.
 */
int
sessions_release_device(struct db *db, int64_t user_id,
    const char *device_id, const char *cause)
{
	struct release_op r = { db, device_id, cause, now_ms() };

	return db_sessions_held_by(db, user_id, device_id, release_one, &r);
}

/* One session of the sweeper, in its own transaction. */
struct sweep_op {
	int64_t		 user_id;
	const char	*sid;
	int64_t		 now;
	int		 lock;	/* the lock, else the primary role */
};

static int
sweep_tx(struct db *db, void *arg)
{
	struct sweep_op	*w = arg;
	struct session_row s;
	int		 rc;

	if ((rc = db_session_get(db, w->user_id, w->sid, 1, &s)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_OK : rc;
	/* re-checked as of the same now: a renewal since is left alone */
	if (w->lock)
		return lock_expired(&s, w->now) ? lock_free(db, NULL, &s) :
		    DB_OK;
	return primary_lapsed(&s, w->now) ? failover(db, NULL, &s, w->now) :
	    DB_OK;
}

struct sweep_batch {
	struct db	*db;
	int64_t		 now;
	int		 lock;
	int64_t		 n;
};

static int
sweep_one(void *arg, int64_t user_id, const char *sid)
{
	struct sweep_batch *b = arg;
	struct sweep_op	 w = { user_id, sid, b->now, b->lock };

	b->n++;
	return db_tx(b->db, sweep_tx, &w);
}

/*
 * The sweeper: primary leases that lapsed fail over (to the online
 * device that took part most recently, else nobody) and expired locks
 * are freed with lock.changed, each session in its own transaction.
 * Returns a db_rc.
 */
int
sessions_sweep(struct db *db, int64_t now)
{
	struct sweep_batch b;
	int		 i, rc;

	for (b.lock = 0; b.lock < 2; b.lock++)
		for (i = 0; i < SWEEP_ROUNDS; i++) {
			b.db = db;
			b.now = now;
			b.n = 0;
			rc = b.lock ? db_sessions_locks_expired(db, now,
			    SWEEP_BATCH, sweep_one, &b) :
			    db_sessions_lapsed(db, now, SWEEP_BATCH, sweep_one,
			    &b);
			if (rc != DB_OK)
				return rc;
			if (b.n < SWEEP_BATCH)
				break;
		}
	return DB_OK;
}
