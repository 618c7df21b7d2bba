/*
 * PostgreSQL store: sessions, the primary device and the lock (columns
 * of the session row), participants and messages (migrations/postgres/
 * 0002_sessions.sql).  SQL only: the decisions are lib/sessions_rules.c's
 * and the operations handlers/sessions.c's and handlers/messages.c's.
 *
 * Inside a write transaction the user's row is locked first
 * (pg_user_lock), and session_get(for_update) locks the session row
 * too: a message's seq and dedup window, a claim, a lock and a kill
 * decide on a row nobody else moves until the commit.  The changes of
 * the primary role and the lock are conditional UPDATEs naming the
 * state the caller read, as on SQLite.
 */
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "store_fns.h"

#define SESS_COLS "user_id, id, title, created_at, killed_at, kill_reason, " \
	"primary_device, primary_epoch, primary_expires_at, lock_device, " \
	"lock_token, lock_expires_at, message_count, last_message_at"
#define MSG_COLS "id, seq, user_id, session_id, device_id, client_msg_id, " \
	"hash, body, created_at"

static void
session_read(const struct pgq *q, int i, struct session_row *s)
{
	memset(s, 0, sizeof(*s));
	s->user_id = pgq_getint(q, i, 0);
	pgq_copy(s->id, sizeof(s->id), q, i, 1);
	s->has_title = !pgq_isnull(q, i, 2);
	pgq_copy(s->title, sizeof(s->title), q, i, 2);
	s->created_at = pgq_getint(q, i, 3);
	s->killed_at = pgq_gettime(q, i, 4);
	s->has_kill_reason = !pgq_isnull(q, i, 5);
	pgq_copy(s->kill_reason, sizeof(s->kill_reason), q, i, 5);
	pgq_copy(s->primary_device, sizeof(s->primary_device), q, i, 6);
	s->primary_epoch = pgq_getint(q, i, 7);
	s->primary_expires_at = pgq_gettime(q, i, 8);
	pgq_copy(s->lock_device, sizeof(s->lock_device), q, i, 9);
	s->lock_token = pgq_getint(q, i, 10);
	s->lock_expires_at = pgq_gettime(q, i, 11);
	s->message_count = pgq_getint(q, i, 12);
	s->last_message_at = pgq_gettime(q, i, 13);
}

/* Session sid of the user; for_update locks its row (in a write tx). */
int
pg_session_get(struct db *db, int64_t user_id, const char *sid,
    int for_update, struct session_row *s)
{
	struct pgq	 q;
	int		 rc;

	memset(s, 0, sizeof(*s));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	if (for_update && db->tx.active == DB_TX_WRITE)
		pgq_init(&q, db, "SELECT " SESS_COLS " FROM sessions "
		    "WHERE user_id = $1 AND id = $2 FOR UPDATE");
	else
		pgq_init(&q, db, "SELECT " SESS_COLS " FROM sessions "
		    "WHERE user_id = $1 AND id = $2");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	if ((rc = pgq_one(&q)) == DB_OK)
		session_read(&q, 0, s);
	pgq_clear(&q);
	return rc;
}

int
pg_session_insert(struct db *db, int64_t user_id, const char *sid,
    const char *title, int64_t now)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO sessions (user_id, id, title, "
	    "created_at) VALUES ($1, $2, $3, $4)");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, title);
	pgq_int(&q, now);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * The user's sessions in creation order (created_at, id), filtered,
 * after session `after` (NULL: from the first), at most limit (0: all).
 * The rows are read whole before cb runs: cb may query (an export reads
 * each session's messages).
 */
int
pg_sessions_list(struct db *db, int64_t user_id, enum session_filter f,
    const char *after, int64_t limit, session_cb cb, void *arg)
{
	struct session_row s;
	struct pgq	 q;
	int		 rc, i;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " SESS_COLS " FROM sessions s WHERE "
	    "user_id = $1 AND ($2 = 2 OR ($2 = 0 AND killed_at IS NULL) OR "
	    "($2 = 1 AND killed_at IS NOT NULL)) AND ($3::text IS NULL OR "
	    "(created_at, id) > (SELECT created_at, id FROM sessions "
	    "WHERE user_id = $1 AND id = $3)) ORDER BY created_at, id "
	    "LIMIT $4");
	pgq_int(&q, user_id);
	pgq_int(&q, (int64_t)f);
	pgq_text(&q, after);
	pgq_time(&q, limit > 0 ? limit : 0);	/* NULL: no limit */
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		session_read(&q, i, &s);
		rc = cb(arg, &s);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

/* Kill a live session at `at`, releasing its primary role and lock. */
int
pg_session_kill(struct db *db, int64_t user_id, const char *sid, int64_t at,
    const char *reason)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE sessions SET killed_at = $3, "
	    "kill_reason = $4, primary_device = NULL, primary_expires_at = "
	    "NULL, lock_device = NULL, lock_expires_at = NULL "
	    "WHERE user_id = $1 AND id = $2 AND killed_at IS NULL");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_int(&q, at);
	pgq_text(&q, reason);
	return pgq_exec_one(&q);
}

/* The primary role from (old_device, old_epoch) to the change's. */
int
pg_session_primary_set(struct db *db, int64_t user_id, const char *sid,
    const struct primary_change *c)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE sessions SET primary_device = $3, "
	    "primary_epoch = $4, primary_expires_at = $5 "
	    "WHERE user_id = $1 AND id = $2 AND primary_device IS NOT "
	    "DISTINCT FROM $6 AND primary_epoch = $7 AND killed_at IS NULL");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, c->device);
	pgq_int(&q, c->epoch);
	pgq_time(&q, c->device != NULL ? c->expires_at : 0);
	pgq_text(&q, c->old_device);
	pgq_int(&q, c->old_epoch);
	return pgq_exec_one(&q);
}

/* The lock from (old_device, old_token) to the change's. */
int
pg_session_lock_set(struct db *db, int64_t user_id, const char *sid,
    const struct lock_change *c)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE sessions SET lock_device = $3, "
	    "lock_token = $4, lock_expires_at = $5 "
	    "WHERE user_id = $1 AND id = $2 AND lock_device IS NOT DISTINCT "
	    "FROM $6 AND lock_token = $7 AND killed_at IS NULL");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, c->device);
	pgq_int(&q, c->token);
	pgq_time(&q, c->device != NULL ? c->expires_at : 0);
	pgq_text(&q, c->old_device);
	pgq_int(&q, c->old_token);
	return pgq_exec_one(&q);
}

int
pg_session_messages_set(struct db *db, int64_t user_id, const char *sid,
    int64_t count, int64_t last_at)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE sessions SET message_count = $3, "
	    "last_message_at = $4 WHERE user_id = $1 AND id = $2");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_int(&q, count);
	pgq_int(&q, last_at);
	return pgq_exec_one(&q);
}

/* The user's sessions whose primary role or lock device_id holds. */
int
pg_sessions_held_by(struct db *db, int64_t user_id, const char *device_id,
    session_cb cb, void *arg)
{
	struct session_row s;
	struct pgq	 q;
	int		 rc, i;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " SESS_COLS " FROM sessions WHERE "
	    "user_id = $1 AND (primary_device = $2 OR lock_device = $2)");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		session_read(&q, i, &s);
		rc = cb(arg, &s);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

/* Run a (user_id, id) query bound to (now, limit), then cb for each. */
static int
keys_run(struct pgq *q, int64_t now, int64_t limit, key_cb cb, void *arg)
{
	struct {
		int64_t	 user_id;
		char	 id[DB_ID_CAP];
	}		*v = NULL;
	int		 rc, i, n = 0;

	pgq_int(q, now);
	pgq_int(q, limit);
	rc = pgq_exec(q);
	if (rc == DB_OK && q->rows > 0 &&
	    (v = calloc((size_t)q->rows, sizeof(*v))) == NULL)
		rc = DB_ERROR;
	for (i = 0; rc == DB_OK && i < q->rows; i++, n++) {
		v[i].user_id = pgq_getint(q, i, 0);
		pgq_copy(v[i].id, sizeof(v[i].id), q, i, 1);
	}
	pgq_clear(q);
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = cb(arg, v[i].user_id, v[i].id);
	free(v);
	return pg_iter_rc(rc);
}

/* Sessions (user, id) whose primary lease lapsed by now, at most limit. */
int
pg_sessions_lapsed(struct db *db, int64_t now, int64_t limit, key_cb cb,
    void *arg)
{
	struct pgq	 q;

	pgq_init(&q, db, "SELECT user_id, id FROM sessions WHERE "
	    "primary_device IS NOT NULL AND primary_expires_at <= $1 "
	    "LIMIT $2");
	return keys_run(&q, now, limit, cb, arg);
}

/* Sessions (user, id) whose lock expired by now, at most limit. */
int
pg_sessions_locks_expired(struct db *db, int64_t now, int64_t limit,
    key_cb cb, void *arg)
{
	struct pgq	 q;

	pgq_init(&q, db, "SELECT user_id, id FROM sessions WHERE "
	    "lock_device IS NOT NULL AND lock_expires_at <= $1 LIMIT $2");
	return keys_run(&q, now, limit, cb, arg);
}

/*
 * device_id took part in session sid now (sent a message, claimed or
 * renewed): act_seq orders the takes within one millisecond.
 */
int
pg_participant_touch(struct db *db, int64_t user_id, const char *sid,
    const char *device_id, int64_t now)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO session_participants (user_id, "
	    "session_id, device_id, last_active_at, act_seq) VALUES ($1, $2, "
	    "$3, $4, (SELECT COALESCE(MAX(act_seq), 0) + 1 FROM "
	    "session_participants WHERE user_id = $1 AND session_id = $2)) "
	    "ON CONFLICT (user_id, session_id, device_id) DO UPDATE SET "
	    "last_active_at = excluded.last_active_at, "
	    "act_seq = excluded.act_seq");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, device_id);
	pgq_int(&q, now);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * The active device other than `except`, seen since seen_since, that
 * took part in session sid most recently; DB_NOTFOUND when none.
 */
int
pg_failover_target(struct db *db, int64_t user_id, const char *sid,
    const char *except, int64_t seen_since, char out[DB_ID_CAP])
{
	struct pgq	 q;
	int		 rc;

	out[0] = '\0';
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT p.device_id FROM session_participants p "
	    "JOIN devices d ON d.user_id = p.user_id AND d.id = p.device_id "
	    "WHERE p.user_id = $1 AND p.session_id = $2 AND "
	    "p.device_id IS DISTINCT FROM $3 AND d.revoked_at IS NULL AND "
	    "d.last_seen_at >= $4 "
	    "ORDER BY p.last_active_at DESC, p.act_seq DESC LIMIT 1");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, except);
	pgq_int(&q, seen_since);
	if ((rc = pgq_one(&q)) == DB_OK)
		pgq_copy(out, DB_ID_CAP, &q, 0, 0);
	pgq_clear(&q);
	return rc;
}

static void
message_read(const struct pgq *q, int i, struct message_row *m, int dup)
{
	const char	*body = pgq_getstr(q, i, 7);

	memset(m, 0, sizeof(*m));
	m->id = pgq_getint(q, i, 0);
	m->seq = pgq_getint(q, i, 1);
	m->user_id = pgq_getint(q, i, 2);
	pgq_copy(m->session_id, sizeof(m->session_id), q, i, 3);
	pgq_copy(m->device_id, sizeof(m->device_id), q, i, 4);
	pgq_copy(m->client_msg_id, sizeof(m->client_msg_id), q, i, 5);
	pgq_copy(m->hash, sizeof(m->hash), q, i, 6);
	m->body = body == NULL ? NULL : dup ? strdup(body) : (char *)body;
	m->created_at = pgq_getint(q, i, 8);
}

/* The message this device sent with client_msg_id, if any. */
int
pg_message_get_by_cmid(struct db *db, int64_t user_id, const char *sid,
    const char *device_id, const char *cmid, struct message_row *m)
{
	struct pgq	 q;
	int		 rc;

	memset(m, 0, sizeof(*m));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = $1 AND session_id = $2 AND device_id = $3 AND "
	    "client_msg_id = $4");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, device_id);
	pgq_text(&q, cmid);
	if ((rc = pgq_one(&q)) == DB_OK) {
		message_read(&q, 0, m, 1);
		if (m->body == NULL)
			rc = DB_ERROR;
	}
	pgq_clear(&q);
	return rc;
}

/* The first message with this hash in the session since `since`. */
int
pg_message_find_hash(struct db *db, int64_t user_id, const char *sid,
    const char *hash, int64_t since, struct message_ref *r)
{
	struct pgq	 q;
	int		 rc;

	memset(r, 0, sizeof(*r));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT id, device_id, created_at FROM messages "
	    "WHERE user_id = $1 AND session_id = $2 AND hash = $3 AND "
	    "created_at >= $4 ORDER BY created_at, id LIMIT 1");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_text(&q, hash);
	pgq_int(&q, since);
	if ((rc = pgq_one(&q)) == DB_OK) {
		r->id = pgq_getint(&q, 0, 0);
		pgq_copy(r->device_id, sizeof(r->device_id), &q, 0, 1);
		r->created_at = pgq_getint(&q, 0, 2);
	}
	pgq_clear(&q);
	return rc;
}

/* Store message m (its id is the server's: *id). */
int
pg_message_insert(struct db *db, const struct message_row *m, int64_t *id)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, m->user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO messages (user_id, session_id, seq, "
	    "device_id, client_msg_id, hash, body, created_at) VALUES ($1, "
	    "$2, $3, $4, $5, $6, $7, $8) RETURNING id");
	pgq_int(&q, m->user_id);
	pgq_text(&q, m->session_id);
	pgq_int(&q, m->seq);
	pgq_text(&q, m->device_id);
	pgq_text(&q, m->client_msg_id);
	pgq_text(&q, m->hash);
	pgq_text(&q, m->body);
	pgq_int(&q, m->created_at);
	if ((rc = pgq_one(&q)) == DB_OK)
		*id = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}

struct msg_each {
	message_cb	 cb;
	void		*arg;
};

static int
message_each(struct pgq *q, void *arg)
{
	struct msg_each	*e = arg;
	struct message_row m;

	message_read(q, 0, &m, 0);
	return e->cb(e->arg, &m);
}

/*
 * The session's messages after seq `after`, in seq order (limit 0: all),
 * streamed row by row (an export of a long session is never held whole).
 */
int
pg_messages_list(struct db *db, int64_t user_id, const char *sid,
    int64_t after, int64_t limit, message_cb cb, void *arg)
{
	struct msg_each	 e = { cb, arg };
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = $1 AND session_id = $2 AND seq > $3 ORDER BY seq "
	    "LIMIT $4");
	pgq_int(&q, user_id);
	pgq_text(&q, sid);
	pgq_int(&q, after);
	pgq_time(&q, limit > 0 ? limit : 0);
	return pgq_each(&q, message_each, &e);
}
