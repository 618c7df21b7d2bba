/*
 * SQLite store: sessions, the primary device and the lock (columns of
 * the session row), participants and messages (migrations/sqlite/
 * 0002_sessions.sql).  SQL only: the decisions are lib/sessions_rules.c's
 * and the operations handlers/sessions.c's and handlers/messages.c's.
 *
 * The primary role and the lock change by conditional UPDATEs naming
 * the state the caller read (holder, epoch, token): inside the write
 * transaction nothing else moves them, and a change whose condition no
 * longer holds reports DB_NOTFOUND rather than writing.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"
#include "store_fns.h"

#define SESS_COLS "user_id, id, title, created_at, killed_at, kill_reason, " \
	"primary_device, primary_epoch, primary_expires_at, lock_device, " \
	"lock_token, lock_expires_at, message_count, last_message_at"
#define MSG_COLS "id, seq, user_id, session_id, device_id, client_msg_id, " \
	"hash, body, created_at"

static void
session_read(sqlite3_stmt *st, struct session_row *s)
{
	memset(s, 0, sizeof(*s));
	s->user_id = sqlite3_column_int64(st, 0);
	sq_col_copy(s->id, sizeof(s->id), st, 1);
	s->has_title = sqlite3_column_type(st, 2) != SQLITE_NULL;
	sq_col_copy(s->title, sizeof(s->title), st, 2);
	s->created_at = sqlite3_column_int64(st, 3);
	s->killed_at = sq_col_time(st, 4);
	s->has_kill_reason = sqlite3_column_type(st, 5) != SQLITE_NULL;
	sq_col_copy(s->kill_reason, sizeof(s->kill_reason), st, 5);
	sq_col_copy(s->primary_device, sizeof(s->primary_device), st, 6);
	s->primary_epoch = sqlite3_column_int64(st, 7);
	s->primary_expires_at = sq_col_time(st, 8);
	sq_col_copy(s->lock_device, sizeof(s->lock_device), st, 9);
	s->lock_token = sqlite3_column_int64(st, 10);
	s->lock_expires_at = sq_col_time(st, 11);
	s->message_count = sqlite3_column_int64(st, 12);
	s->last_message_at = sq_col_time(st, 13);
}

/*
 * Session sid of the user.  for_update asks engines with row locks to
 * lock it for the transaction; SQLite's write transaction is exclusive.
 */
int
sq_session_get(struct db *db, int64_t user_id, const char *sid,
    int for_update, struct session_row *s)
{
	sqlite3_stmt	*st;
	int		 rc;

	(void)for_update;
	memset(s, 0, sizeof(*s));
	st = sq_prepare(db, "SELECT " SESS_COLS " FROM sessions "
	    "WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	if ((rc = sq_one(db, st)) == DB_OK)
		session_read(st, s);
	sqlite3_reset(st);
	return rc;
}

int
sq_session_insert(struct db *db, int64_t user_id, const char *sid,
    const char *title, int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO sessions (user_id, id, title, "
	    "created_at) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	sq_bind_text(st, 3, title);
	sqlite3_bind_int64(st, 4, now);
	return sq_exec(db, st);
}

/*
 * The user's sessions in creation order (created_at, id), filtered,
 * after session `after` (NULL: from the first), at most limit (0: all).
 */
int
sq_sessions_list(struct db *db, int64_t user_id, enum session_filter f,
    const char *after, int64_t limit, session_cb cb, void *arg)
{
	struct session_row s;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT " SESS_COLS " FROM sessions s WHERE "
	    "user_id = ?1 AND (?2 = 2 OR (?2 = 0 AND killed_at IS NULL) OR "
	    "(?2 = 1 AND killed_at IS NOT NULL)) AND (?3 IS NULL OR "
	    "(created_at, id) > (SELECT created_at, id FROM sessions "
	    "WHERE user_id = ?1 AND id = ?3)) ORDER BY created_at, id "
	    "LIMIT ?4");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int(st, 2, (int)f);
	sq_bind_text(st, 3, after);
	sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		session_read(st, &s);
		if ((rc = cb(arg, &s)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}

/* Kill a live session at `at`, releasing its primary role and lock. */
int
sq_session_kill(struct db *db, int64_t user_id, const char *sid, int64_t at,
    const char *reason)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE sessions SET killed_at = ?3, "
	    "kill_reason = ?4, primary_device = NULL, primary_expires_at = "
	    "NULL, lock_device = NULL, lock_expires_at = NULL "
	    "WHERE user_id = ?1 AND id = ?2 AND killed_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, at);
	sq_bind_text(st, 4, reason);
	return sq_exec_one(db, st);
}

/* The primary role from (old_device, old_epoch) to the change's. */
int
sq_session_primary_set(struct db *db, int64_t user_id, const char *sid,
    const struct primary_change *c)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE sessions SET primary_device = ?3, "
	    "primary_epoch = ?4, primary_expires_at = ?5 "
	    "WHERE user_id = ?1 AND id = ?2 AND primary_device IS ?6 AND "
	    "primary_epoch = ?7 AND killed_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	sq_bind_text(st, 3, c->device);
	sqlite3_bind_int64(st, 4, c->epoch);
	sq_bind_time(st, 5, c->device != NULL ? c->expires_at : 0);
	sq_bind_text(st, 6, c->old_device);
	sqlite3_bind_int64(st, 7, c->old_epoch);
	return sq_exec_one(db, st);
}

/*
 * The lock from (old_device, old_token) to the change's.  The old values
 * are the row as the caller read it: an expired lock still names its
 * holder there, as a lapsed primary lease does.
 */
int
sq_session_lock_set(struct db *db, int64_t user_id, const char *sid,
    const struct lock_change *c)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE sessions SET lock_device = ?3, "
	    "lock_token = ?4, lock_expires_at = ?5 "
	    "WHERE user_id = ?1 AND id = ?2 AND lock_device IS ?6 AND "
	    "lock_token = ?7 AND killed_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	sq_bind_text(st, 3, c->device);
	sqlite3_bind_int64(st, 4, c->token);
	sq_bind_time(st, 5, c->device != NULL ? c->expires_at : 0);
	sq_bind_text(st, 6, c->old_device);
	sqlite3_bind_int64(st, 7, c->old_token);
	return sq_exec_one(db, st);
}

int
sq_session_messages_set(struct db *db, int64_t user_id, const char *sid,
    int64_t count, int64_t last_at)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE sessions SET message_count = ?3, "
	    "last_message_at = ?4 WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, count);
	sqlite3_bind_int64(st, 4, last_at);
	return sq_exec_one(db, st);
}

/*
 * Run st (selecting SESS_COLS) to its end, gathering the rows first and
 * calling cb after, so that cb may write to the same table.
 */
static int
sessions_gather(struct db *db, sqlite3_stmt *st, session_cb cb, void *arg)
{
	struct session_row *v = NULL, *grown;
	size_t		 n = 0, cap = 0, i;
	int		 rc, row;

	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((grown = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = DB_ERROR;
				break;
			}
			v = grown;
		}
		session_read(st, &v[n++]);
	}
	sqlite3_reset(st);
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = cb(arg, &v[i]);
	free(v);
	return sq_iter_rc(rc);
}

/* The user's sessions whose primary role or lock device_id holds. */
int
sq_sessions_held_by(struct db *db, int64_t user_id, const char *device_id,
    session_cb cb, void *arg)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT " SESS_COLS " FROM sessions WHERE "
	    "user_id = ?1 AND (primary_device = ?2 OR lock_device = ?2)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	return sessions_gather(db, st, cb, arg);
}

/* Run a (user_id, id) query bound to (now, limit), then cb for each. */
static int
keys_gather(struct db *db, sqlite3_stmt *st, int64_t now, int64_t limit,
    key_cb cb, void *arg)
{
	struct {
		int64_t	 user_id;
		char	 id[DB_ID_CAP];
	}		*v = NULL;
	void		*grown;
	size_t		 n = 0, cap = 0, i;
	int		 rc, row;

	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = DB_ERROR;
				break;
			}
			v = grown;
		}
		v[n].user_id = sqlite3_column_int64(st, 0);
		sq_col_copy(v[n].id, sizeof(v[n].id), st, 1);
		n++;
	}
	sqlite3_reset(st);
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = cb(arg, v[i].user_id, v[i].id);
	free(v);
	return sq_iter_rc(rc);
}

/* Sessions (user, id) whose primary lease lapsed by now, at most limit. */
int
sq_sessions_lapsed(struct db *db, int64_t now, int64_t limit, key_cb cb,
    void *arg)
{
	return keys_gather(db, sq_prepare(db, "SELECT user_id, id FROM "
	    "sessions WHERE primary_device IS NOT NULL AND "
	    "primary_expires_at <= ?1 LIMIT ?2"), now, limit, cb, arg);
}

/* Sessions (user, id) whose lock expired by now, at most limit. */
int
sq_sessions_locks_expired(struct db *db, int64_t now, int64_t limit,
    key_cb cb, void *arg)
{
	return keys_gather(db, sq_prepare(db, "SELECT user_id, id FROM "
	    "sessions WHERE lock_device IS NOT NULL AND lock_expires_at <= ?1 "
	    "LIMIT ?2"), now, limit, cb, arg);
}

/*
 * device_id took part in session sid now (sent a message, claimed or
 * renewed): act_seq orders the takes within one millisecond.
 */
int
sq_participant_touch(struct db *db, int64_t user_id, const char *sid,
    const char *device_id, int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO session_participants (user_id, "
	    "session_id, device_id, last_active_at, act_seq) VALUES (?1, ?2, "
	    "?3, ?4, (SELECT COALESCE(MAX(act_seq), 0) + 1 FROM "
	    "session_participants WHERE user_id = ?1 AND session_id = ?2)) "
	    "ON CONFLICT (user_id, session_id, device_id) DO UPDATE SET "
	    "last_active_at = excluded.last_active_at, "
	    "act_seq = excluded.act_seq");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, sid, device_id);
	sqlite3_bind_int64(st, 4, now);
	return sq_exec(db, st);
}

/*
 * The active device other than `except`, seen since seen_since, that
 * took part in session sid most recently; DB_NOTFOUND when none.
 */
int
sq_failover_target(struct db *db, int64_t user_id, const char *sid,
    const char *except, int64_t seen_since, char out[DB_ID_CAP])
{
	sqlite3_stmt	*st;
	int		 rc;

	out[0] = '\0';
	st = sq_prepare(db, "SELECT p.device_id FROM session_participants p "
	    "JOIN devices d ON d.user_id = p.user_id AND d.id = p.device_id "
	    "WHERE p.user_id = ?1 AND p.session_id = ?2 AND "
	    "p.device_id IS NOT ?3 AND d.revoked_at IS NULL AND "
	    "d.last_seen_at >= ?4 "
	    "ORDER BY p.last_active_at DESC, p.act_seq DESC LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, sid, except);
	sqlite3_bind_int64(st, 4, seen_since);
	if ((rc = sq_one(db, st)) == DB_OK)
		sq_col_copy(out, DB_ID_CAP, st, 0);
	sqlite3_reset(st);
	return rc;
}

static void
message_read(sqlite3_stmt *st, struct message_row *m, int dup)
{
	const char	*body = (const char *)sqlite3_column_text(st, 7);

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(st, 0);
	m->seq = sqlite3_column_int64(st, 1);
	m->user_id = sqlite3_column_int64(st, 2);
	sq_col_copy(m->session_id, sizeof(m->session_id), st, 3);
	sq_col_copy(m->device_id, sizeof(m->device_id), st, 4);
	sq_col_copy(m->client_msg_id, sizeof(m->client_msg_id), st, 5);
	sq_col_copy(m->hash, sizeof(m->hash), st, 6);
	m->body = body == NULL ? NULL : dup ? strdup(body) : (char *)body;
	m->created_at = sqlite3_column_int64(st, 8);
}

/* The message this device sent with client_msg_id, if any. */
int
sq_message_get_by_cmid(struct db *db, int64_t user_id, const char *sid,
    const char *device_id, const char *cmid, struct message_row *m)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(m, 0, sizeof(*m));
	st = sq_prepare(db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = ?1 AND session_id = ?2 AND device_id = ?3 AND "
	    "client_msg_id = ?4");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, sid, device_id);
	sq_bind_text(st, 4, cmid);
	if ((rc = sq_one(db, st)) == DB_OK) {
		message_read(st, m, 1);
		if (m->body == NULL)
			rc = DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/* The first message with this hash in the session since `since`. */
int
sq_message_find_hash(struct db *db, int64_t user_id, const char *sid,
    const char *hash, int64_t since, struct message_ref *r)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(r, 0, sizeof(*r));
	st = sq_prepare(db, "SELECT id, device_id, created_at FROM messages "
	    "WHERE user_id = ?1 AND session_id = ?2 AND hash = ?3 AND "
	    "created_at >= ?4 ORDER BY created_at, id LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, sid, hash);
	sqlite3_bind_int64(st, 4, since);
	if ((rc = sq_one(db, st)) == DB_OK) {
		r->id = sqlite3_column_int64(st, 0);
		sq_col_copy(r->device_id, sizeof(r->device_id), st, 1);
		r->created_at = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc;
}

/* Store message m (its id is the server's: *id). */
int
sq_message_insert(struct db *db, const struct message_row *m, int64_t *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = sq_prepare(db, "INSERT INTO messages (user_id, session_id, seq, "
	    "device_id, client_msg_id, hash, body, created_at) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, m->user_id);
	sq_bind_text(st, 2, m->session_id);
	sqlite3_bind_int64(st, 3, m->seq);
	sq_bind_text(st, 4, m->device_id);
	sq_bind_text(st, 5, m->client_msg_id);
	sq_bind_text(st, 6, m->hash);
	sq_bind_text(st, 7, m->body);
	sqlite3_bind_int64(st, 8, m->created_at);
	if ((rc = sq_exec(db, st)) == DB_OK)
		*id = sq_last_id(db);
	return rc;
}

/* The session's messages after seq `after`, in seq order (limit 0: all). */
int
sq_messages_list(struct db *db, int64_t user_id, const char *sid,
    int64_t after, int64_t limit, message_cb cb, void *arg)
{
	struct message_row m;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = ?1 AND session_id = ?2 AND seq > ?3 ORDER BY seq "
	    "LIMIT ?4");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		message_read(st, &m, 0);
		if ((rc = cb(arg, &m)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}
