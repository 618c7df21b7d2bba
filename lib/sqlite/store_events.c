/*
 * SQLite store: the per-user events log (migrations/sqlite/0001_core.sql):
 * users.event_seq is the newest seq, users.event_floor the newest seq
 * pruned.  SQL only: the operations are in handlers/events.c, the cursor
 * and floor rules in lib/events_rules.c.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"
#include "store_fns.h"

/* Append one event for user with the user's next seq (into *seq). */
int
sq_event_insert(struct db *db, int64_t user_id, const struct event_new *e,
    int64_t *seq)
{
	sqlite3_stmt	*st;
	int64_t		 n;
	int		 rc;

	st = sq_prepare(db, "UPDATE users SET event_seq = event_seq + 1 "
	    "WHERE id = ?1 RETURNING event_seq");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	rc = sq_one(db, st);
	n = rc == DB_OK ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != DB_OK)
		return rc;
	st = sq_prepare(db, "INSERT INTO events (user_id, seq, type, at, "
	    "device_id, session_id, data, service) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, n);
	sq_bind_text(st, 3, e->type);
	sqlite3_bind_int64(st, 4, e->at);
	sq_bind_text(st, 5, e->device_id);
	sq_bind_text(st, 6, e->session_id);
	sq_bind_text(st, 7, e->data != NULL ? e->data : "null");
	sq_bind_text(st, 8, e->service);
	if ((rc = sq_exec(db, st)) == DB_OK && seq != NULL)
		*seq = n;
	return rc;
}

/* Columns c..c+6 of st: seq, type, at, device_id, data, service,
 * session_id. */
static void
event_read(sqlite3_stmt *st, int c, struct event_row *e, int dup)
{
	const char	*data = (const char *)sqlite3_column_text(st, c + 4);

	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(st, c);
	sq_col_copy(e->type, sizeof(e->type), st, c + 1);
	e->at = sqlite3_column_int64(st, c + 2);
	sq_col_copy(e->device_id, sizeof(e->device_id), st, c + 3);
	e->data_len = data != NULL ? (size_t)sqlite3_column_bytes(st, c + 4) :
	    0;
	e->data = data == NULL ? NULL : dup ? strdup(data) : (char *)data;
	sq_col_copy(e->service, sizeof(e->service), st, c + 5);
	sq_col_copy(e->session_id, sizeof(e->session_id), st, c + 6);
}

/* One event of the user by seq; DB_NOTFOUND when never written or pruned. */
int
sq_event_get(struct db *db, int64_t user_id, int64_t seq, struct event_row *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(e, 0, sizeof(*e));
	st = sq_prepare(db, "SELECT seq, type, at, device_id, data, service, "
	    "session_id FROM events WHERE user_id = ?1 AND seq = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, seq);
	if ((rc = sq_one(db, st)) == DB_OK) {
		event_read(st, 0, e, 1);
		if (e->data == NULL)
			rc = DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/* The user's head, stored floor and oldest seq kept (device not read). */
int
sq_events_head(struct db *db, int64_t user_id, struct event_head *h)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(h, 0, sizeof(*h));
	st = sq_prepare(db, "SELECT event_seq, event_floor, "
	    "(SELECT min(seq) FROM events WHERE user_id = ?1) "
	    "FROM users WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		h->head = sqlite3_column_int64(st, 0);
		h->floor = sqlite3_column_int64(st, 1);
		h->min_kept = sq_col_time(st, 2);
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * One page of events: the head, floor and the polling device's liveness
 * of the same snapshot (one statement) into *h, then cb for each event
 * after q->after (q->exclude_device's own and other sessions' left out),
 * at most q->limit + 1 of them so that the caller learns whether there
 * are more.  DB_NOTFOUND when the user does not exist.
 */
int
sq_events_page(struct db *db, const struct event_query *q,
    struct event_head *h, event_cb cb, void *arg)
{
	struct event_row e;
	sqlite3_stmt	*st;
	int		 rc, row, rows = 0;

	memset(h, 0, sizeof(*h));
	st = sq_prepare(db, "SELECT u.event_seq, u.event_floor, "
	    "(?6 IS NULL OR (d.revoked_at IS NULL AND d.family IS ?7)), "
	    "(SELECT min(seq) FROM events WHERE user_id = u.id), "
	    "e.seq, e.type, e.at, e.device_id, e.data, e.service, "
	    "e.session_id FROM users u "
	    "LEFT JOIN devices d ON d.user_id = u.id AND d.id = ?6 "
	    "LEFT JOIN events e ON e.user_id = u.id AND e.seq > ?2 "
	    "AND (?3 IS NULL OR e.device_id IS NULL OR e.device_id <> ?3) "
	    "AND (?4 IS NULL OR e.session_id = ?4) "
	    "WHERE u.id = ?1 ORDER BY e.seq LIMIT ?5");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, q->user_id);
	sqlite3_bind_int64(st, 2, q->after);
	sq_bind_text(st, 3, q->exclude_device);
	sq_bind_text(st, 4, q->session_id);
	sqlite3_bind_int64(st, 5, q->limit + 1);
	sq_bind_text(st, 6, q->device_id);
	sq_bind_text(st, 7, q->family);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		if (rows++ == 0) {
			h->head = sqlite3_column_int64(st, 0);
			h->floor = sqlite3_column_int64(st, 1);
			h->device_active = sqlite3_column_int(st, 2);
			h->min_kept = sq_col_time(st, 3);
		}
		if (sqlite3_column_type(st, 4) == SQLITE_NULL)
			break;		/* the user, and no event */
		event_read(st, 4, &e, 0);
		if ((rc = cb(arg, &e)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	if (rc == DB_OK && rows == 0)
		return DB_NOTFOUND;
	return sq_iter_rc(rc);
}

/*
 * Prune, inside the caller's transaction, the events older than
 * before_at (ms), about `batch` of them at most, raising each user's
 * event_floor to the newest seq deleted.  *done is set when nothing
 * older is left after this batch.
 */
int
sq_events_prune(struct db *db, int64_t before_at, int64_t batch, int *done)
{
	sqlite3_stmt	*st, *up;
	int64_t		 upto = before_at;
	int		 rc, row;

	*done = 1;
	st = sq_prepare(db, "SELECT at FROM events WHERE at < ?1 "
	    "ORDER BY at LIMIT 1 OFFSET ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, before_at);
	sqlite3_bind_int64(st, 2, batch - 1);
	rc = sq_one(db, st);
	if (rc == DB_OK && sqlite3_column_int64(st, 0) + 1 < before_at) {
		upto = sqlite3_column_int64(st, 0) + 1;
		*done = 0;
	}
	sqlite3_reset(st);
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return rc;
	st = sq_prepare(db, "SELECT user_id, MAX(seq) FROM events "
	    "WHERE at < ?1 GROUP BY user_id");
	up = sq_prepare(db, "UPDATE users SET event_floor = "
	    "MAX(event_floor, ?2) WHERE id = ?1");
	if (st == NULL || up == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, upto);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
		sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 1));
		if ((rc = sq_exec(db, up)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	if (rc != DB_OK)
		return rc;
	st = sq_prepare(db, "DELETE FROM events WHERE at < ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, upto);
	return sq_exec(db, st);
}

/* The time of the oldest event kept (0: none), for a sweep's first look. */
int
sq_events_oldest(struct db *db, int64_t *at)
{
	sqlite3_stmt	*st;
	int		 rc;

	*at = 0;
	if ((st = sq_prepare(db, "SELECT min(at) FROM events")) == NULL)
		return DB_ERROR;
	if ((rc = sq_one(db, st)) == DB_OK)
		*at = sq_col_time(st, 0);
	sqlite3_reset(st);
	return rc == DB_NOTFOUND ? DB_OK : rc;
}
