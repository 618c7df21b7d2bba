#include <sqlite3.h>

#include "config.h"
#include "db.h"
#include "db_events.h"
#include "http.h"
#include "log.h"

/* Rows pruned per write transaction, so the sweeper never holds the
 * write lock for long after a backlog (a server that was down a week). */
#define SWEEP_BATCH	5000
/* Batches per sweep: the rest waits for the next run. */
#define SWEEP_BATCHES	20

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

/*
 * The event of the current row of st, whose columns are seq, type, at,
 * device_id, data.  Returns a new reference, or NULL when out of memory.
 * Data that no longer parses (it cannot: it was stored from JSON) reads
 * as null rather than losing the event.
 */
static json_t *
event_of_row(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:s, s:I, s:o, s:o}",
	    "seq", (json_int_t)sqlite3_column_int64(st, 0),
	    "type", (const char *)sqlite3_column_text(st, 1),
	    "at", (json_int_t)sqlite3_column_int64(st, 2),
	    "device_id", db_col_str_or_null(st, 3),
	    "data", db_col_json_or_null(st, 4));
}

/*
 * The user's floor: the newest seq that is no longer kept.  Events are
 * only ever deleted by the sweeper, which raises users.event_floor in the
 * same transaction, so the floor is normally just that column.  It is
 * also checked against what is really kept (column col of st: the
 * smallest seq kept, NULL when none is): a cursor below a missing event
 * must get 410, never a page that silently skips it.  A floor that had to
 * be raised that way is logged, since it means the bookkeeping failed.
 */
static int64_t
events_floor(int64_t user_id, int64_t head, int64_t stored,
    sqlite3_stmt *st, int col)
{
	int64_t	 kept = sqlite3_column_type(st, col) == SQLITE_NULL ? head :
		    sqlite3_column_int64(st, col) - 1;

	if (kept <= stored)
		return stored;
	log_json(LOG_WARN, "event floor behind the events kept",
	    json_pack("{s:I, s:I, s:I}", "user", (json_int_t)user_id,
	    "floor", (json_int_t)stored, "kept_from", (json_int_t)kept + 1));
	return kept;
}

/*
 * One event of user by seq, as served by /events, into *event (a new
 * reference).  Returns DB_OK, DB_NOTFOUND (never written, or pruned) or
 * an error.
 */
int
db_event_get(struct db *db, int64_t user_id, int64_t seq, json_t **event)
{
	sqlite3_stmt	*st;
	int		 rc;

	*event = NULL;
	st = db_prepare(db, "SELECT seq, type, at, device_id, data "
	    "FROM events WHERE user_id = ?1 AND seq = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, seq);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*event = event_of_row(st);
		rc = *event != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * The user's newest event seq (the cursor of "now") and the newest seq
 * pruned.  Returns DB_OK, DB_NOTFOUND (no such user) or an error.
 */
int
db_events_head(struct db *db, int64_t user_id, int64_t *head, int64_t *floor)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT event_seq, event_floor, "
	    "(SELECT min(seq) FROM events WHERE user_id = ?1) "
	    "FROM users WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*head = sqlite3_column_int64(st, 0);
		*floor = events_floor(user_id, *head,
		    sqlite3_column_int64(st, 1), st, 2);
		rc = DB_OK;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * Fill page with the events of q.  One statement, so one snapshot: the
 * head and floor are those of the same moment as the events, and the
 * cursor can never step over an event committed meanwhile.  Skipped
 * events (q->exclude_device, q->session_id) move the cursor but do not
 * count towards q->limit.  The device's liveness comes from the same
 * snapshot.  Returns a db_rc (DB_NOTFOUND: no such user);
 * on error page->events is NULL.
 */
int
db_events_list(struct db *db, const struct event_query *q,
    struct event_page *page)
{
	sqlite3_stmt	*st;
	json_t		*ev;
	int64_t		 n = 0, last = 0, rows = 0;
	int		 rc = DB_ERROR;

	page->more = 0;
	page->device_active = 0;
	page->cursor = q->after;
	if ((page->events = json_array()) == NULL)
		return DB_ERROR;
	st = db_prepare(db, "SELECT u.event_seq, u.event_floor, "
	    "(?6 IS NULL OR (d.revoked_at IS NULL AND d.family IS ?7)), "
	    "(SELECT min(seq) FROM events WHERE user_id = u.id), "
	    "e.seq, e.type, e.at, e.device_id, e.data FROM users u "
	    "LEFT JOIN devices d ON d.user_id = u.id AND d.id = ?6 "
	    "LEFT JOIN events e ON e.user_id = u.id AND e.seq > ?2 "
	    "AND (?3 IS NULL OR e.device_id IS NULL OR e.device_id <> ?3) "
	    "AND (?4 IS NULL OR e.session_id = ?4) "
	    "WHERE u.id = ?1 ORDER BY e.seq LIMIT ?5");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, q->user_id);
	sqlite3_bind_int64(st, 2, q->after);
	db_bind_text(st, 3, q->exclude_device);
	db_bind_text(st, 4, q->session_id);
	sqlite3_bind_int64(st, 5, q->limit + 1);
	db_bind_text(st, 6, q->device_id);
	db_bind_text(st, 7, q->family);
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		if (rows++ == 0) {
			page->head = sqlite3_column_int64(st, 0);
			page->floor = events_floor(q->user_id, page->head,
			    sqlite3_column_int64(st, 1), st, 3);
			page->device_active = sqlite3_column_int(st, 2);
		}
		if (sqlite3_column_type(st, 4) == SQLITE_NULL)
			break;		/* the user, and no event */
		if (n == q->limit) {
			page->more = 1;
			break;
		}
		last = sqlite3_column_int64(st, 4);
		ev = json_pack("{s:I, s:s, s:I, s:o, s:o}",
		    "seq", (json_int_t)last,
		    "type", (const char *)sqlite3_column_text(st, 5),
		    "at", (json_int_t)sqlite3_column_int64(st, 6),
		    "device_id", db_col_str_or_null(st, 7),
		    "data", db_col_json_or_null(st, 8));
		if (ev == NULL ||
		    json_array_append_new(page->events, ev) == -1) {
			rc = DB_ERROR;
			goto out;
		}
		n++;
	}
	if (rc == SQLITE_DONE && rows == 0) {
		rc = DB_NOTFOUND;	/* not even the user's row */
		goto out;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = -rc;
		goto out;
	}
	/*
	 * Past every event looked at; an after beyond the newest event (a
	 * cursor kept across a restore) comes back as the newest, so the
	 * events written next are not below the caller's cursor.
	 */
	if (page->more)
		page->cursor = last;
	else
		page->cursor = page->head;
	rc = DB_OK;
out:
	if (st != NULL)
		sqlite3_reset(st);
	if (rc != DB_OK) {
		json_decref(page->events);
		page->events = NULL;
	}
	return rc;
}

/*
 * Prune, in one write transaction, the events older than `before` (ms)
 * up to about SWEEP_BATCH of them, raising each user's event_floor to the
 * newest seq deleted.  *done is set when nothing older is left.  Returns
 * a db_rc.
 */
static int
events_prune_batch(struct db *db, int64_t before, int *done)
{
	sqlite3_stmt	*st, *up;
	int64_t		 upto = before;
	int		 rc;

	*done = 1;
	st = db_prepare(db, "SELECT 1 FROM events WHERE at < ?1 LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, before);
	rc = db_step(db, st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return DB_OK;
	if (rc != SQLITE_ROW)
		return -rc;
	/* This batch's bound: the at of the SWEEP_BATCH-th oldest row. */
	st = db_prepare(db, "SELECT at FROM events WHERE at < ?1 "
	    "ORDER BY at LIMIT 1 OFFSET ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, SWEEP_BATCH - 1);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) + 1 < before) {
		upto = sqlite3_column_int64(st, 0) + 1;
		*done = 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -rc;

	if ((rc = db_begin(db)) != DB_OK)
		return rc;
	st = db_prepare(db, "SELECT user_id, MAX(seq) FROM events "
	    "WHERE at < ?1 GROUP BY user_id");
	up = db_prepare(db, "UPDATE users SET event_floor = "
	    "MAX(event_floor, ?2) WHERE id = ?1");
	if (st == NULL || up == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, upto);
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
		sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 1));
		if ((rc = db_exec(db, up)) != DB_OK)
			goto out;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = -rc;
		goto out;
	}
	st = db_prepare(db, "DELETE FROM events WHERE at < ?1");
	if (st == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, upto);
	if ((rc = db_exec(db, st)) != DB_OK)
		goto out;
	rc = db_commit(db);
	return rc;
out:
	db_rollback(db);
	return rc;
}

/*
 * Sweeper: prune events older than TANDEM_EVENT_DAYS, in batches.  A
 * deleted event's seq raises its user's event_floor, so the floor is
 * always the newest seq pruned and every event above it is still kept.
 * Costs one indexed read when there is nothing to prune.  Returns a db_rc.
 */
int
db_events_sweep(struct db *db, int64_t now)
{
	int64_t	 before = now - cfg.event_days * 86400000;
	int	 i, done = 0, rc = DB_OK;

	for (i = 0; i < SWEEP_BATCHES && !done; i++)
		if ((rc = events_prune_batch(db, before, &done)) != DB_OK)
			break;
	return rc;
}
