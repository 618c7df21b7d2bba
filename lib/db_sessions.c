/*
 * db_sessions: the SQL of sessions, messages, the primary device and the
 * session lock (tables in migrations/0002_sessions.sql).
 *
 * The primary role and the lock are columns of the session row.  Every
 * change to them reads the row and writes it back with an UPDATE whose
 * WHERE names the state it read (holder, epoch, token), inside one BEGIN
 * IMMEDIATE transaction: SQLite serialises writers, so two devices can
 * never hold the role (or the lock) at once, and a message racing a kill
 * is either stored before the kill or refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "config.h"
#include "db.h"
#include "db_events.h"
#include "db_sessions.h"
#include "http.h"
#include "jcs.h"

#define ID_CAP		129	/* ids are 1..128 bytes */
#define SWEEP_BATCH	128	/* sessions looked at per sweep query */
#define SWEEP_ROUNDS	8	/* sweep queries per sweeper run */

/* A session row as read inside a transaction. */
struct sess_row {
	char	 id[ID_CAP];
	json_t	*title;			/* string or null; owned */
	int64_t	 created_at;
	int64_t	 killed_at;		/* 0: alive */
	char	 primary_device[ID_CAP];	/* "": nobody holds the role */
	int64_t	 primary_epoch;
	int64_t	 primary_expires_at;
	char	 lock_device[ID_CAP];	/* "": not locked */
	int64_t	 lock_token;
	int64_t	 lock_expires_at;
	int64_t	 message_count;
	int64_t	 last_message_at;	/* 0: no message yet */
};

/* (user, session, device, number) keys gathered before they are changed. */
struct key {
	int64_t	 user_id;
	char	 sid[ID_CAP];
	char	 dev[ID_CAP];
	int64_t	 n;		/* an epoch or a lock token */
};

struct keys {
	struct key	*v;
	size_t		 len;
	size_t		 cap;
};

#define SESS_COLS "id, title, created_at, killed_at, primary_device, " \
	"primary_epoch, primary_expires_at, lock_device, lock_token, " \
	"lock_expires_at, message_count, last_message_at"
#define MSG_COLS "id, seq, session_id, device_id, client_msg_id, hash, " \
	"body, created_at"

static void
col_copy(char *dst, size_t n, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, n, "%s", s != NULL ? (const char *)s : "");
}

static void
row_init(struct sess_row *s)
{
	memset(s, 0, sizeof(*s));
}

static void
row_release(struct sess_row *s)
{
	json_decref(s->title);
	s->title = NULL;
}

/* Fill s from a statement positioned on a row of SESS_COLS. */
static void
row_read(sqlite3_stmt *st, struct sess_row *s)
{
	col_copy(s->id, sizeof(s->id), st, 0);
	json_decref(s->title);
	s->title = db_col_str_or_null(st, 1);
	s->created_at = sqlite3_column_int64(st, 2);
	s->killed_at = sqlite3_column_int64(st, 3);
	col_copy(s->primary_device, sizeof(s->primary_device), st, 4);
	s->primary_epoch = sqlite3_column_int64(st, 5);
	s->primary_expires_at = sqlite3_column_int64(st, 6);
	col_copy(s->lock_device, sizeof(s->lock_device), st, 7);
	s->lock_token = sqlite3_column_int64(st, 8);
	s->lock_expires_at = sqlite3_column_int64(st, 9);
	s->message_count = sqlite3_column_int64(st, 10);
	s->last_message_at = sqlite3_column_int64(st, 11);
}

/* Read session sid of user into s.  Returns DB_OK, DB_NOTFOUND or an error. */
static int
row_load(struct db *db, int64_t user_id, const char *sid, struct sess_row *s)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT " SESS_COLS " FROM sessions "
	    "WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		row_read(st, s);
		rc = DB_OK;
	}
	sqlite3_reset(st);
	return rc;
}

static int
primary_valid(const struct sess_row *s, int64_t now)
{
	return s->primary_device[0] != '\0' && s->primary_expires_at > now;
}

static int
lock_valid(const struct sess_row *s, int64_t now)
{
	return s->lock_device[0] != '\0' && s->lock_expires_at > now;
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
static json_t *
primary_json(const struct sess_row *s)
{
	if (s->primary_device[0] == '\0')
		return json_null();
	return json_pack("{s:s, s:I, s:I}", "device_id", s->primary_device,
	    "epoch", (json_int_t)s->primary_epoch,
	    "lease_expires_at", (json_int_t)s->primary_expires_at);
}

/* {device_id, token, expires_at}, or null when unlocked or expired. */
static json_t *
lock_json(const struct sess_row *s, int64_t now)
{
	if (!lock_valid(s, now))
		return json_null();
	return json_pack("{s:s, s:I, s:I}", "device_id", s->lock_device,
	    "token", (json_int_t)s->lock_token,
	    "expires_at", (json_int_t)s->lock_expires_at);
}

/* The contract's session object.  Returns a new reference or NULL. */
static json_t *
session_json(const struct sess_row *s, int64_t now)
{
	return json_pack("{s:s, s:O, s:I, s:o, s:o, s:o, s:I, s:o}",
	    "id", s->id,
	    "title", s->title != NULL ? s->title : json_null(),
	    "created_at", (json_int_t)s->created_at,
	    "killed_at", time_or_null(s->killed_at),
	    "primary", primary_json(s),
	    "lock", lock_json(s, now),
	    "message_count", (json_int_t)s->message_count,
	    "last_message_at", time_or_null(s->last_message_at));
}

/* A message from a statement positioned on a row of MSG_COLS. */
static json_t *
message_json(sqlite3_stmt *st)
{
	json_t	*body = db_col_json(st, 6);

	if (body == NULL)
		return NULL;
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:I}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "seq", (json_int_t)sqlite3_column_int64(st, 1),
	    "session_id", (const char *)sqlite3_column_text(st, 2),
	    "device_id", (const char *)sqlite3_column_text(st, 3),
	    "client_msg_id", (const char *)sqlite3_column_text(st, 4),
	    "hash", (const char *)sqlite3_column_text(st, 5),
	    "body", body,
	    "created_at", (json_int_t)sqlite3_column_int64(st, 7));
}

/*
 * Open the write transaction of an operation on session sid and read its
 * row.  Returns SESS_OK with *now set (the time the operation happens:
 * taken once the write lock is held, so times follow commit order),
 * SESS_NOTFOUND or SESS_ERROR.  tx_close() ends it either way.
 */
static int
tx_open(struct db *db, int64_t user_id, const char *sid, struct sess_row *s,
    int64_t *now)
{
	int	 rc;

	if (db_begin(db) != DB_OK)
		return SESS_ERROR;
	*now = now_ms();
	rc = row_load(db, user_id, sid, s);
	if (rc == DB_NOTFOUND)
		return SESS_NOTFOUND;
	return rc == DB_OK ? SESS_OK : SESS_ERROR;
}

/* Roll back whatever was not committed. */
static void
tx_close(struct db *db)
{
	if (db->in_tx)
		db_rollback(db);
}

/*
 * Run an UPDATE that must change exactly one row.  A conditional update
 * that changes nothing means the row moved on under us, which BEGIN
 * IMMEDIATE rules out: it is reported as DB_ERROR rather than ignored.
 */
static int
exec_one(struct db *db, sqlite3_stmt *st)
{
	int	 rc;

	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	return sqlite3_changes(db->conn) == 1 ? DB_OK : DB_ERROR;
}

static int
event_primary(struct db *db, int64_t user_id, const char *cause,
    const char *sid, const char *holder, int64_t epoch)
{
	json_t	*d;

	d = json_pack("{s:s, s:o, s:I}", "session_id", sid,
	    "device_id", holder != NULL ? json_string(holder) : json_null(),
	    "epoch", (json_int_t)epoch);
	if (d == NULL)
		return DB_ERROR;
	return db_event_add(db, user_id, cause, "primary.changed", sid, d,
	    NULL);
}

static int
event_lock(struct db *db, int64_t user_id, const char *cause,
    const char *sid, const char *holder, int64_t token)
{
	json_t	*d;

	d = json_pack("{s:s, s:o, s:I}", "session_id", sid,
	    "device_id", holder != NULL ? json_string(holder) : json_null(),
	    "token", (json_int_t)token);
	if (d == NULL)
		return DB_ERROR;
	return db_event_add(db, user_id, cause, "lock.changed", sid, d, NULL);
}

static int
event_session(struct db *db, int64_t user_id, const char *cause,
    const char *type, const char *sid)
{
	json_t	*d;

	if ((d = json_pack("{s:s}", "session_id", sid)) == NULL)
		return DB_ERROR;
	return db_event_add(db, user_id, cause, type, sid, d, NULL);
}

/*
 * Note that device took part in the session now (sent a message, claimed
 * or renewed): failover prefers the device that did so most recently.
 */
static int
participant_touch(struct db *db, int64_t user_id, const char *sid,
    const char *device_id, int64_t now)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "INSERT INTO session_participants (user_id, "
	    "session_id, device_id, last_active_at, act_seq) VALUES (?1, ?2, "
	    "?3, ?4, (SELECT COALESCE(MAX(act_seq), 0) + 1 FROM "
	    "session_participants WHERE user_id = ?1 AND session_id = ?2)) "
	    "ON CONFLICT (user_id, session_id, device_id) DO UPDATE SET "
	    "last_active_at = excluded.last_active_at, "
	    "act_seq = excluded.act_seq");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, device_id);
	sqlite3_bind_int64(st, 4, now);
	return db_exec(db, st);
}

/*
 * The failover target of session sid: the online device (active, seen
 * within TANDEM_PRESENCE_TTL_MS) other than `except` that took part most
 * recently.  Returns DB_OK with out filled, DB_NOTFOUND, or an error.
 */
static int
failover_target(struct db *db, int64_t user_id, const char *sid,
    const char *except, int64_t now, char *out, size_t outsz)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT p.device_id FROM session_participants p "
	    "JOIN devices d ON d.user_id = p.user_id AND d.id = p.device_id "
	    "WHERE p.user_id = ?1 AND p.session_id = ?2 AND "
	    "p.device_id <> ?3 AND d.revoked_at IS NULL AND "
	    "d.last_seen_at >= ?4 "
	    "ORDER BY p.last_active_at DESC, p.act_seq DESC LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, except);
	sqlite3_bind_int64(st, 4, now - cfg.presence_ttl_ms);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		col_copy(out, outsz, st, 0);
		rc = DB_OK;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * Inside a transaction: take the role of session sid from `from` (held at
 * `epoch`) and hand it to the failover target, or leave it empty; emit
 * primary.changed caused by `cause` (NULL: the server, as when a lease
 * lapsed; the revoking device when a revocation moves it).  With
 * lapsed_only, only a lease
 * that lapsed by now moves.  A row that no longer matches (renewed,
 * released, moved on) is left alone: DB_OK.  Returns a db_rc.
 */
static int
primary_failover(struct db *db, int64_t user_id, const char *cause,
    const char *sid, const char *from, int64_t epoch, int64_t now,
    int lapsed_only)
{
	sqlite3_stmt	*st;
	char		 target[ID_CAP];
	int		 rc, have;

	rc = failover_target(db, user_id, sid, from, now, target,
	    sizeof(target));
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return rc;
	have = rc == DB_OK;
	st = db_prepare(db, "UPDATE sessions SET primary_device = ?3, "
	    "primary_epoch = primary_epoch + (?3 IS NOT NULL), "
	    "primary_expires_at = CASE WHEN ?3 IS NULL THEN NULL ELSE ?4 END "
	    "WHERE user_id = ?1 AND id = ?2 AND primary_device = ?5 AND "
	    "primary_epoch = ?6 AND (?7 = 0 OR primary_expires_at <= ?8)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, have ? target : NULL);
	sqlite3_bind_int64(st, 4, now + cfg.primary_ttl_ms);
	db_bind_text(st, 5, from);
	sqlite3_bind_int64(st, 6, epoch);
	sqlite3_bind_int(st, 7, lapsed_only);
	sqlite3_bind_int64(st, 8, now);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	if (sqlite3_changes(db->conn) == 0)
		return DB_OK;
	return event_primary(db, user_id, cause, sid, have ? target : NULL,
	    have ? epoch + 1 : epoch);
}

/* holder takes the role with the next epoch; cause emitted the event. */
static int
primary_take(struct db *db, int64_t user_id, const char *cause,
    struct sess_row *s, const char *holder, int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE sessions SET primary_device = ?3, "
	    "primary_epoch = primary_epoch + 1, primary_expires_at = ?4 "
	    "WHERE user_id = ?1 AND id = ?2 AND primary_epoch = ?5 AND "
	    "killed_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, s->id);
	db_bind_text(st, 3, holder);
	sqlite3_bind_int64(st, 4, now + cfg.primary_ttl_ms);
	sqlite3_bind_int64(st, 5, s->primary_epoch);
	if ((rc = exec_one(db, st)) != DB_OK)
		return rc;
	s->primary_epoch++;
	snprintf(s->primary_device, sizeof(s->primary_device), "%s", holder);
	s->primary_expires_at = now + cfg.primary_ttl_ms;
	return event_primary(db, user_id, cause, s->id, holder,
	    s->primary_epoch);
}

/* The current holder's lease runs TANDEM_PRIMARY_TTL_MS from now. */
static int
primary_renew(struct db *db, int64_t user_id, struct sess_row *s,
    int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE sessions SET primary_expires_at = ?4 "
	    "WHERE user_id = ?1 AND id = ?2 AND primary_device = ?3 AND "
	    "primary_epoch = ?5");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, s->id);
	db_bind_text(st, 3, s->primary_device);
	sqlite3_bind_int64(st, 4, now + cfg.primary_ttl_ms);
	sqlite3_bind_int64(st, 5, s->primary_epoch);
	if ((rc = exec_one(db, st)) != DB_OK)
		return rc;
	s->primary_expires_at = now + cfg.primary_ttl_ms;
	return DB_OK;
}

/* Nobody holds the role; the epoch stays for the next holder. */
static int
primary_release(struct db *db, int64_t user_id, const char *cause,
    struct sess_row *s)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE sessions SET primary_device = NULL, "
	    "primary_expires_at = NULL WHERE user_id = ?1 AND id = ?2 AND "
	    "primary_device = ?3 AND primary_epoch = ?4");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, s->id);
	db_bind_text(st, 3, s->primary_device);
	sqlite3_bind_int64(st, 4, s->primary_epoch);
	if ((rc = exec_one(db, st)) != DB_OK)
		return rc;
	s->primary_device[0] = '\0';
	s->primary_expires_at = 0;
	return event_primary(db, user_id, cause, s->id, NULL,
	    s->primary_epoch);
}

/* Is device_id an active (not revoked) device of the user?  db_rc. */
static int
device_active(struct db *db, int64_t user_id, const char *device_id)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT 1 FROM devices WHERE user_id = ?1 AND "
	    "id = ?2 AND revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	rc = db_step(db, st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return DB_OK;
	return rc == SQLITE_DONE ? DB_NOTFOUND : -rc;
}

/*
 * POST /sessions: create session sid, or find it (even killed).  *out is
 * the session.  Returns SESS_CREATED, SESS_OK (it existed) or SESS_ERROR.
 */
int
db_session_create(struct db *db, int64_t user_id, const char *device_id,
    const char *sid, const char *title, json_t **out)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	int64_t		 now;
	int		 rc;

	*out = NULL;
	row_init(&s);
	rc = tx_open(db, user_id, sid, &s, &now);
	if (rc == SESS_OK) {
		*out = session_json(&s, now);
		goto out;
	}
	if (rc != SESS_NOTFOUND)
		goto out;
	rc = SESS_ERROR;
	st = db_prepare(db, "INSERT INTO sessions (user_id, id, title, "
	    "created_at) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, title);
	sqlite3_bind_int64(st, 4, now);
	if (db_exec(db, st) != DB_OK ||
	    event_session(db, user_id, device_id, "session.created", sid) !=
	    DB_OK || db_commit(db) != DB_OK)
		goto out;
	snprintf(s.id, sizeof(s.id), "%s", sid);
	s.title = title != NULL ? json_string(title) : json_null();
	s.created_at = now;
	*out = session_json(&s, now);
	rc = SESS_CREATED;
out:
	tx_close(db);
	row_release(&s);
	return rc;
}

/* GET /sessions/{sid}.  Returns SESS_OK, SESS_NOTFOUND or SESS_ERROR. */
int
db_session_get(struct db *db, int64_t user_id, const char *sid, json_t **out)
{
	struct sess_row	 s;
	int		 rc;

	*out = NULL;
	row_init(&s);
	rc = row_load(db, user_id, sid, &s);
	if (rc == DB_OK)
		*out = session_json(&s, now_ms());
	row_release(&s);
	if (rc == DB_NOTFOUND)
		return SESS_NOTFOUND;
	return rc == DB_OK ? SESS_OK : SESS_ERROR;
}

/*
 * GET /sessions?state=: the user's sessions in creation order.  Returns
 * a new array, or NULL on a database error.
 */
json_t *
db_session_list(struct db *db, int64_t user_id, enum sess_state state)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	json_t		*arr = NULL, *o;
	int64_t		 now = now_ms();
	int		 rc;

	row_init(&s);
	st = db_prepare(db, "SELECT " SESS_COLS " FROM sessions WHERE "
	    "user_id = ?1 AND (?2 = 2 OR (?2 = 0 AND killed_at IS NULL) OR "
	    "(?2 = 1 AND killed_at IS NOT NULL)) ORDER BY created_at, id");
	if (st == NULL || (arr = json_array()) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int(st, 2, (int)state);
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		row_read(st, &s);
		if ((o = session_json(&s, now)) == NULL ||
		    json_array_append_new(arr, o) == -1)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	row_release(&s);
	return arr;
fail:
	if (st != NULL)
		sqlite3_reset(st);
	row_release(&s);
	json_decref(arr);
	return NULL;
}

/*
 * POST /sessions/{sid}/kill: mark it killed (once), release its primary
 * role and lock, emit their events and session.killed.  killed_at is
 * never before the last message, so no message is younger than the kill.
 * *out is the session.  Returns SESS_OK, SESS_NOTFOUND or SESS_ERROR.
 */
int
db_session_kill(struct db *db, int64_t user_id, const char *device_id,
    const char *sid, const char *reason, json_t **out)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	int64_t		 now, at;
	int		 rc;

	*out = NULL;
	row_init(&s);
	if ((rc = tx_open(db, user_id, sid, &s, &now)) != SESS_OK)
		goto out;
	if (s.killed_at != 0) {
		*out = session_json(&s, now);
		goto out;
	}
	rc = SESS_ERROR;
	at = now > s.last_message_at ? now : s.last_message_at;
	st = db_prepare(db, "UPDATE sessions SET killed_at = ?3, "
	    "kill_reason = ?4, primary_device = NULL, primary_expires_at = "
	    "NULL, lock_device = NULL, lock_expires_at = NULL "
	    "WHERE user_id = ?1 AND id = ?2 AND killed_at IS NULL");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, at);
	db_bind_text(st, 4, reason);
	if (exec_one(db, st) != DB_OK)
		goto out;
	if (s.primary_device[0] != '\0' && event_primary(db, user_id,
	    device_id, sid, NULL, s.primary_epoch) != DB_OK)
		goto out;
	if (s.lock_device[0] != '\0' && event_lock(db, user_id, device_id,
	    sid, NULL, s.lock_token) != DB_OK)
		goto out;
	if (event_session(db, user_id, device_id, "session.killed", sid) !=
	    DB_OK || db_commit(db) != DB_OK)
		goto out;
	s.killed_at = at;
	s.primary_device[0] = '\0';
	s.primary_expires_at = 0;
	s.lock_device[0] = '\0';
	s.lock_expires_at = 0;
	*out = session_json(&s, now);
	rc = SESS_OK;
out:
	tx_close(db);
	row_release(&s);
	return rc;
}

/* GET /sessions/{sid}/primary: *out is the primary object or null. */
int
db_primary_get(struct db *db, int64_t user_id, const char *sid, json_t **out)
{
	struct sess_row	 s;
	int		 rc;

	*out = NULL;
	row_init(&s);
	rc = row_load(db, user_id, sid, &s);
	if (rc == DB_OK)
		*out = primary_json(&s);
	row_release(&s);
	if (rc == DB_NOTFOUND)
		return SESS_NOTFOUND;
	return rc == DB_OK ? SESS_OK : SESS_ERROR;
}

/*
 * POST /sessions/{sid}/primary {action}.  The holder is the device stored
 * with a lease that has not lapsed.
 *	claim		free or lapsed: take it (epoch + 1); the holder renews;
 *			else SESS_PRIMARY_HELD
 *	renew		the holder's lease runs from now; else SESS_NOT_HOLDER
 *	release		the holder lets go (epoch kept); else SESS_NOT_HOLDER
 *	transfer	to_device (an active device of the user, else
 *			SESS_NO_DEVICE) takes it (epoch + 1); naming the
 *			current holder just renews its lease
 * claim and renew count as taking part.  Killed: SESS_KILLED.  *out is
 * the primary object (or null) on SESS_OK and on the 409s.
 */
int
db_primary_act(struct db *db, int64_t user_id, const char *device_id,
    const char *sid, enum primary_action act, const char *to_device,
    json_t **out)
{
	struct sess_row	 s;
	int64_t		 now;
	int		 rc, r = DB_ERROR, valid, mine;

	*out = NULL;
	row_init(&s);
	if ((rc = tx_open(db, user_id, sid, &s, &now)) != SESS_OK)
		goto out;
	if (s.killed_at != 0) {
		rc = SESS_KILLED;
		goto out;
	}
	valid = primary_valid(&s, now);
	mine = valid && strcmp(s.primary_device, device_id) == 0;
	switch (act) {
	case PRIMARY_CLAIM:
		if (valid && !mine) {
			rc = SESS_PRIMARY_HELD;
			*out = primary_json(&s);
			goto out;
		}
		r = mine ? primary_renew(db, user_id, &s, now) :
		    primary_take(db, user_id, device_id, &s, device_id, now);
		if (r == DB_OK)
			r = participant_touch(db, user_id, sid, device_id, now);
		break;
	case PRIMARY_RENEW:
	case PRIMARY_RELEASE:
		if (!mine) {
			rc = SESS_NOT_HOLDER;
			*out = primary_json(&s);
			goto out;
		}
		if (act == PRIMARY_RELEASE)
			r = primary_release(db, user_id, device_id, &s);
		else if ((r = primary_renew(db, user_id, &s, now)) == DB_OK)
			r = participant_touch(db, user_id, sid, device_id, now);
		break;
	case PRIMARY_TRANSFER:
		if (to_device == NULL)
			break;
		r = device_active(db, user_id, to_device);
		if (r == DB_NOTFOUND) {
			rc = SESS_NO_DEVICE;
			goto out;
		}
		if (r != DB_OK)
			break;
		if (valid && strcmp(s.primary_device, to_device) == 0)
			r = primary_renew(db, user_id, &s, now);
		else
			r = primary_take(db, user_id, device_id, &s,
			    to_device, now);
		break;
	default:
		break;
	}
	rc = SESS_ERROR;
	if (r != DB_OK || db_commit(db) != DB_OK)
		goto out;
	*out = primary_json(&s);
	rc = SESS_OK;
out:
	tx_close(db);
	row_release(&s);
	return rc;
}

/*
 * POST /sessions/{sid}/lock {ttl_ms}: a free (or expired) lock is taken
 * with the next fencing token; the holder locking again extends it and
 * keeps its token; anyone else gets SESS_LOCKED.  *out is the lock.
 */
int
db_lock_take(struct db *db, int64_t user_id, const char *device_id,
    const char *sid, int64_t ttl_ms, json_t **out)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	int64_t		 now;
	int		 rc, held;

	*out = NULL;
	row_init(&s);
	if ((rc = tx_open(db, user_id, sid, &s, &now)) != SESS_OK)
		goto out;
	if (s.killed_at != 0) {
		rc = SESS_KILLED;
		goto out;
	}
	held = lock_valid(&s, now);
	if (held && strcmp(s.lock_device, device_id) != 0) {
		rc = SESS_LOCKED;
		*out = lock_json(&s, now);
		goto out;
	}
	rc = SESS_ERROR;
	if (held)
		st = db_prepare(db, "UPDATE sessions SET lock_expires_at = ?5 "
		    "WHERE user_id = ?1 AND id = ?2 AND lock_device = ?3 AND "
		    "lock_token = ?4");
	else
		st = db_prepare(db, "UPDATE sessions SET lock_device = ?3, "
		    "lock_token = lock_token + 1, lock_expires_at = ?5 "
		    "WHERE user_id = ?1 AND id = ?2 AND lock_token = ?4 AND "
		    "killed_at IS NULL");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, device_id);
	sqlite3_bind_int64(st, 4, s.lock_token);
	sqlite3_bind_int64(st, 5, now + ttl_ms);
	if (exec_one(db, st) != DB_OK)
		goto out;
	if (!held) {
		s.lock_token++;
		snprintf(s.lock_device, sizeof(s.lock_device), "%s",
		    device_id);
		if (event_lock(db, user_id, device_id, sid, device_id,
		    s.lock_token) != DB_OK)
			goto out;
	}
	if (db_commit(db) != DB_OK)
		goto out;
	s.lock_expires_at = now + ttl_ms;
	*out = lock_json(&s, now);
	rc = SESS_OK;
out:
	tx_close(db);
	row_release(&s);
	return rc;
}

/*
 * DELETE /sessions/{sid}/lock: the holder releases it (the token stays
 * for the next holder).  Anyone else, or nobody holding it (expired
 * included): SESS_NOT_HOLDER with *out the lock or null.
 */
int
db_lock_drop(struct db *db, int64_t user_id, const char *device_id,
    const char *sid, json_t **out)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	int64_t		 now;
	int		 rc;

	*out = NULL;
	row_init(&s);
	if ((rc = tx_open(db, user_id, sid, &s, &now)) != SESS_OK)
		goto out;
	if (s.killed_at != 0) {
		rc = SESS_KILLED;
		goto out;
	}
	if (!lock_valid(&s, now) || strcmp(s.lock_device, device_id) != 0) {
		rc = SESS_NOT_HOLDER;
		*out = lock_json(&s, now);
		goto out;
	}
	rc = SESS_ERROR;
	st = db_prepare(db, "UPDATE sessions SET lock_device = NULL, "
	    "lock_expires_at = NULL WHERE user_id = ?1 AND id = ?2 AND "
	    "lock_device = ?3 AND lock_token = ?4");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, device_id);
	sqlite3_bind_int64(st, 4, s.lock_token);
	if (exec_one(db, st) != DB_OK ||
	    event_lock(db, user_id, device_id, sid, NULL, s.lock_token) !=
	    DB_OK || db_commit(db) != DB_OK)
		goto out;
	rc = SESS_OK;
out:
	tx_close(db);
	row_release(&s);
	return rc;
}

/* This device's message with client_msg_id, if any.  db_rc. */
static int
message_get_by_cmid(struct db *db, int64_t user_id, const char *sid,
    const char *device_id, const char *cmid, json_t **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = ?1 AND session_id = ?2 AND device_id = ?3 AND "
	    "client_msg_id = ?4");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, device_id);
	db_bind_text(st, 4, cmid);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*out = message_json(st);
		rc = *out != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * The first message with this hash in the session created at or after
 * `since`, as {id, device_id, created_at}.  db_rc.
 */
static int
message_find_hash(struct db *db, int64_t user_id, const char *sid,
    const char *hash, int64_t since, json_t **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT id, device_id, created_at FROM messages "
	    "WHERE user_id = ?1 AND session_id = ?2 AND hash = ?3 AND "
	    "created_at >= ?4 ORDER BY created_at, id LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	db_bind_text(st, 3, hash);
	sqlite3_bind_int64(st, 4, since);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*out = json_pack("{s:I, s:s, s:I}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0),
		    "device_id", (const char *)sqlite3_column_text(st, 1),
		    "created_at", (json_int_t)sqlite3_column_int64(st, 2));
		rc = *out != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * POST /sessions/{sid}/messages.  In one transaction, in this order:
 * no session: SESS_NOTFOUND; this device sent client_msg_id before:
 * SESS_RETRY with the original (even when killed); killed: SESS_KILLED;
 * auto from a device that is not the current primary: SESS_NOT_PRIMARY
 * (*out the primary or null); the same hash in this session within
 * TANDEM_DEDUP_WINDOW_MS: SESS_DUPLICATE (*out the original); else the
 * message is stored with the next seq (SESS_CREATED, *out the message)
 * and message.created is emitted.
 */
int
db_message_add(struct db *db, int64_t user_id, const char *device_id,
    const char *sid, const struct message_in *m, json_t **out)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	json_t		*ev;
	int64_t		 now, at, seq, id;
	int		 rc, r;

	*out = NULL;
	row_init(&s);
	if ((rc = tx_open(db, user_id, sid, &s, &now)) != SESS_OK)
		goto out;
	rc = SESS_ERROR;
	r = message_get_by_cmid(db, user_id, sid, device_id,
	    m->client_msg_id, out);
	if (r == DB_OK)
		rc = SESS_RETRY;
	if (r != DB_NOTFOUND)
		goto out;
	if (s.killed_at != 0) {
		rc = SESS_KILLED;
		goto out;
	}
	if (m->is_auto && !(primary_valid(&s, now) &&
	    strcmp(s.primary_device, device_id) == 0)) {
		rc = SESS_NOT_PRIMARY;
		*out = primary_json(&s);
		goto out;
	}
	if (cfg.dedup_window_ms > 0) {
		r = message_find_hash(db, user_id, sid, m->hash,
		    now - cfg.dedup_window_ms, out);
		if (r == DB_OK)
			rc = SESS_DUPLICATE;
		if (r != DB_NOTFOUND)
			goto out;
	}
	/* Times never go back within a session, whatever the clock does. */
	at = now > s.last_message_at ? now : s.last_message_at;
	seq = s.message_count + 1;
	st = db_prepare(db, "INSERT INTO messages (user_id, session_id, seq, "
	    "device_id, client_msg_id, hash, body, created_at) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, seq);
	db_bind_text(st, 4, device_id);
	db_bind_text(st, 5, m->client_msg_id);
	db_bind_text(st, 6, m->hash);
	db_bind_text(st, 7, m->body);
	sqlite3_bind_int64(st, 8, at);
	if (db_exec(db, st) != DB_OK)
		goto out;
	id = sqlite3_last_insert_rowid(db->conn);
	st = db_prepare(db, "UPDATE sessions SET message_count = ?3, "
	    "last_message_at = ?4 WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_int64(st, 4, at);
	if (exec_one(db, st) != DB_OK ||
	    participant_touch(db, user_id, sid, device_id, now) != DB_OK)
		goto out;
	ev = json_pack("{s:s, s:I, s:I}", "session_id", sid,
	    "id", (json_int_t)id, "seq", (json_int_t)seq);
	if (ev == NULL || db_event_add(db, user_id, device_id,
	    "message.created", sid, ev, NULL) != DB_OK ||
	    db_commit(db) != DB_OK)
		goto out;
	*out = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:I}",
	    "id", (json_int_t)id, "seq", (json_int_t)seq,
	    "session_id", sid, "device_id", device_id,
	    "client_msg_id", m->client_msg_id, "hash", m->hash,
	    "body", jcs_canonical_copy(m->value),
	    "created_at", (json_int_t)at);
	rc = SESS_CREATED;
out:
	if (rc != SESS_RETRY && rc != SESS_DUPLICATE &&
	    rc != SESS_NOT_PRIMARY && rc != SESS_CREATED) {
		json_decref(*out);
		*out = NULL;
	}
	tx_close(db);
	row_release(&s);
	return rc;
}

/*
 * GET /sessions/{sid}/messages?after=&limit=: *out is {messages,
 * next_after, more}, in seq order; next_after is the seq of the last
 * message returned (after itself when none).  A killed session still
 * lists its history.  Returns SESS_OK, SESS_NOTFOUND or SESS_ERROR.
 */
int
db_message_list(struct db *db, int64_t user_id, const char *sid,
    int64_t after, int64_t limit, json_t **out)
{
	struct sess_row	 s;
	sqlite3_stmt	*st = NULL;
	json_t		*arr = NULL, *m;
	int64_t		 next = after;
	int		 rc, r, more = 0;

	*out = NULL;
	row_init(&s);
	r = row_load(db, user_id, sid, &s);
	row_release(&s);
	if (r == DB_NOTFOUND)
		return SESS_NOTFOUND;
	rc = SESS_ERROR;
	if (r != DB_OK)
		goto out;
	st = db_prepare(db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = ?1 AND session_id = ?2 AND seq > ?3 ORDER BY seq "
	    "LIMIT ?4");
	if (st == NULL || (arr = json_array()) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_int64(st, 4, limit + 1);
	while ((r = db_step(db, st)) == SQLITE_ROW) {
		if ((int64_t)json_array_size(arr) == limit) {
			more = 1;
			break;
		}
		next = sqlite3_column_int64(st, 1);
		if ((m = message_json(st)) == NULL ||
		    json_array_append_new(arr, m) == -1)
			goto out;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		goto out;
	*out = json_pack("{s:O, s:I, s:b}", "messages", arr,
	    "next_after", (json_int_t)next, "more", more);
	if (*out != NULL)
		rc = SESS_OK;
out:
	if (st != NULL)
		sqlite3_reset(st);
	json_decref(arr);
	return rc;
}

static void
keys_release(struct keys *k)
{
	free(k->v);
	k->v = NULL;
	k->len = k->cap = 0;
}

/*
 * Step st to its end (at most max rows), appending its rows (user_id, id,
 * device, number) to k.  Resets st.  Returns a db_rc.
 */
static int
keys_collect(struct db *db, sqlite3_stmt *st, struct keys *k, size_t max)
{
	struct key	*v;
	int		 rc = SQLITE_DONE;

	while (k->len < max && (rc = db_step(db, st)) == SQLITE_ROW) {
		if (k->len == k->cap) {
			size_t n = k->cap ? k->cap * 2 : 16;
			if ((v = realloc(k->v, n * sizeof(*v))) == NULL) {
				sqlite3_reset(st);
				return DB_ERROR;
			}
			k->v = v;
			k->cap = n;
		}
		v = &k->v[k->len++];
		v->user_id = sqlite3_column_int64(st, 0);
		col_copy(v->sid, sizeof(v->sid), st, 1);
		col_copy(v->dev, sizeof(v->dev), st, 2);
		v->n = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (k->len < max && rc != SQLITE_DONE)
		return -rc;
	return DB_OK;
}

/*
 * Free the lock of session k->sid held by k->dev at token k->n, emitting
 * lock.changed caused by `cause` (NULL: the server).  db_rc.
 */
static int
lock_clear(struct db *db, const char *cause, const struct key *k,
    int64_t now, int expired_only)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE sessions SET lock_device = NULL, "
	    "lock_expires_at = NULL WHERE user_id = ?1 AND id = ?2 AND "
	    "lock_device = ?3 AND lock_token = ?4 AND "
	    "(?5 = 0 OR lock_expires_at <= ?6)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, k->user_id);
	db_bind_text(st, 2, k->sid);
	db_bind_text(st, 3, k->dev);
	sqlite3_bind_int64(st, 4, k->n);
	sqlite3_bind_int(st, 5, expired_only);
	sqlite3_bind_int64(st, 6, now);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	if (sqlite3_changes(db->conn) == 0)
		return DB_OK;
	return event_lock(db, k->user_id, cause, k->sid, NULL, k->n);
}

/*
 * Called inside the transaction that revokes a device (logout, DELETE
 * /devices/{id}, refresh-token reuse): the device loses every primary
 * role at once (failover to the next online participant, else empty) and
 * every lock it holds, with primary.changed / lock.changed events caused
 * by `cause`, the device whose request revoked it (NULL: none).  Returns
 * a db_rc.
 */
int
db_sessions_release_device(struct db *db, int64_t user_id,
    const char *device_id, const char *cause)
{
	struct keys	 k = { NULL, 0, 0 };
	sqlite3_stmt	*st;
	int64_t		 now = now_ms();
	size_t		 i;
	int		 rc = DB_ERROR;

	st = db_prepare(db, "SELECT user_id, id, primary_device, "
	    "primary_epoch FROM sessions WHERE user_id = ?1 AND "
	    "primary_device = ?2");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	if ((rc = keys_collect(db, st, &k, SIZE_MAX)) != DB_OK)
		goto out;
	for (i = 0; i < k.len; i++)
		if ((rc = primary_failover(db, user_id, cause, k.v[i].sid,
		    k.v[i].dev, k.v[i].n, now, 0)) != DB_OK)
			goto out;
	k.len = 0;
	rc = DB_ERROR;
	st = db_prepare(db, "SELECT user_id, id, lock_device, lock_token "
	    "FROM sessions WHERE user_id = ?1 AND lock_device = ?2");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	if ((rc = keys_collect(db, st, &k, SIZE_MAX)) != DB_OK)
		goto out;
	for (i = 0; i < k.len; i++)
		if ((rc = lock_clear(db, cause, &k.v[i], now, 0)) != DB_OK)
			goto out;
	rc = DB_OK;
out:
	keys_release(&k);
	return rc;
}

/*
 * One sweep step: gather up to SWEEP_BATCH rows of the query sql (bound
 * to now), then handle each in its own transaction with `one`, which
 * re-checks the row as of the same now: a lease renewed in between runs
 * past it and is left alone.  Sets *full when the batch was full.
 * Returns a db_rc.
 */
static int
sweep_batch(struct db *db, const char *sql, int64_t now,
    int (*one)(struct db *, const struct key *, int64_t), int *full)
{
	struct keys	 k = { NULL, 0, 0 };
	sqlite3_stmt	*st;
	size_t		 i;
	int		 rc = DB_ERROR;

	*full = 0;
	if ((st = db_prepare(db, sql)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, SWEEP_BATCH);
	if ((rc = keys_collect(db, st, &k, SWEEP_BATCH)) != DB_OK)
		goto out;
	*full = k.len == SWEEP_BATCH;
	for (i = 0; i < k.len; i++) {
		if ((rc = db_begin(db)) != DB_OK)
			goto out;
		if ((rc = one(db, &k.v[i], now)) != DB_OK) {
			db_rollback(db);
			goto out;
		}
		if ((rc = db_commit(db)) != DB_OK)
			goto out;
	}
	rc = DB_OK;
out:
	keys_release(&k);
	return rc;
}

static int
sweep_primary_one(struct db *db, const struct key *k, int64_t now)
{
	return primary_failover(db, k->user_id, NULL, k->sid, k->dev, k->n,
	    now, 1);
}

static int
sweep_lock_one(struct db *db, const struct key *k, int64_t now)
{
	return lock_clear(db, NULL, k, now, 1);
}

/*
 * Sweeper: primary leases that lapsed fail over (to the online device
 * that took part most recently, else nobody) and expired locks are freed
 * with lock.changed, each session in its own transaction.  Returns a
 * db_rc.
 */
int
db_sessions_sweep(struct db *db, int64_t now)
{
	static const char lapsed_sql[] = "SELECT user_id, id, primary_device, "
	    "primary_epoch FROM sessions WHERE primary_device IS NOT NULL "
	    "AND primary_expires_at <= ?1 LIMIT ?2";
	static const char expired_sql[] = "SELECT user_id, id, lock_device, "
	    "lock_token FROM sessions WHERE lock_device IS NOT NULL AND "
	    "lock_expires_at <= ?1 LIMIT ?2";
	int	 rc, full = 1, i;

	for (i = 0; full && i < SWEEP_ROUNDS; i++)
		if ((rc = sweep_batch(db, lapsed_sql, now, sweep_primary_one,
		    &full)) != DB_OK)
			return rc;
	full = 1;
	for (i = 0; full && i < SWEEP_ROUNDS; i++)
		if ((rc = sweep_batch(db, expired_sql, now, sweep_lock_one,
		    &full)) != DB_OK)
			return rc;
	return DB_OK;
}

/* Every message of a session, in seq order.  A new array or NULL. */
static json_t *
export_messages(struct db *db, int64_t user_id, const char *sid)
{
	sqlite3_stmt	*st;
	json_t		*arr, *m;
	int		 rc;

	st = db_prepare(db, "SELECT " MSG_COLS " FROM messages WHERE "
	    "user_id = ?1 AND session_id = ?2 ORDER BY seq");
	if (st == NULL || (arr = json_array()) == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, sid);
	while ((rc = db_step(db, st)) == SQLITE_ROW)
		if ((m = message_json(st)) == NULL ||
		    json_array_append_new(arr, m) == -1)
			break;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/*
 * Every session of the user with its messages, for GET /export:
 * [{...session, kill_reason, messages:[...]}] in creation order.  Returns
 * a new reference or NULL on error.
 */
json_t *
db_sessions_export(struct db *db, int64_t user_id)
{
	struct sess_row	 s;
	sqlite3_stmt	*st;
	json_t		*arr = NULL, *o, *msgs;
	int64_t		 now = now_ms();
	int		 rc;

	row_init(&s);
	st = db_prepare(db, "SELECT " SESS_COLS ", kill_reason FROM sessions "
	    "WHERE user_id = ?1 ORDER BY created_at, id");
	if (st == NULL || (arr = json_array()) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, user_id);
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		row_read(st, &s);
		if ((o = session_json(&s, now)) == NULL ||
		    json_array_append_new(arr, o) == -1 ||
		    json_object_set_new(o, "kill_reason",
		    db_col_str_or_null(st, 12)) == -1)
			goto fail;
		if ((msgs = export_messages(db, user_id, s.id)) == NULL ||
		    json_object_set_new(o, "messages", msgs) == -1)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	row_release(&s);
	return arr;
fail:
	if (st != NULL)
		sqlite3_reset(st);
	row_release(&s);
	json_decref(arr);
	return NULL;
}
