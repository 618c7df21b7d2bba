/*
 * PostgreSQL store: the per-user events log (migrations/postgres/
 * 0001_core.sql): users.event_seq is the newest seq, users.event_floor
 * the newest seq pruned.  SQL only: the operations are in
 * handlers/events.c, the cursor and floor rules in lib/events_rules.c.
 *
 * A seq is taken by an UPDATE of the user's row, which the write
 * transaction holds locked until it commits: seqs are unique and
 * committed in order, so a poll's cursor never steps over an event that
 * commits later.
 */
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "store_fns.h"

/*
 * Append one event for user with the user's next seq (into *seq): the
 * seq taken and the row inserted in one statement.
 */
int
pg_event_insert(struct db *db, int64_t user_id, const struct event_new *e,
    int64_t *seq)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "WITH s AS (UPDATE users SET event_seq = "
	    "event_seq + 1 WHERE id = $1 RETURNING event_seq) "
	    "INSERT INTO events (user_id, seq, type, at, device_id, "
	    "session_id, data, service) SELECT $1, s.event_seq, $2, $3, $4, "
	    "$5, $6, $7 FROM s RETURNING seq");
	pgq_int(&q, user_id);
	pgq_text(&q, e->type);
	pgq_int(&q, e->at);
	pgq_text(&q, e->device_id);
	pgq_text(&q, e->session_id);
	pgq_text(&q, e->data != NULL ? e->data : "null");
	pgq_text(&q, e->service);
	if ((rc = pgq_one(&q)) == DB_OK && seq != NULL)
		*seq = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc;
}

/*
 * Columns c..c+6 of row i: seq, type, at, device_id, data, service,
 * session_id.
 */
static void
event_read(const struct pgq *q, int i, int c, struct event_row *e, int dup)
{
	const char	*data = pgq_getstr(q, i, c + 4);

	memset(e, 0, sizeof(*e));
	e->seq = pgq_getint(q, i, c);
	pgq_copy(e->type, sizeof(e->type), q, i, c + 1);
	e->at = pgq_getint(q, i, c + 2);
	pgq_copy(e->device_id, sizeof(e->device_id), q, i, c + 3);
	e->data_len = data != NULL ? pgq_getlen(q, i, c + 4) : 0;
	e->data = data == NULL ? NULL : dup ? strdup(data) : (char *)data;
	pgq_copy(e->service, sizeof(e->service), q, i, c + 5);
	pgq_copy(e->session_id, sizeof(e->session_id), q, i, c + 6);
}

/* One event of the user by seq; DB_NOTFOUND when never written or pruned. */
int
pg_event_get(struct db *db, int64_t user_id, int64_t seq, struct event_row *e)
{
	struct pgq	 q;
	int		 rc;

	memset(e, 0, sizeof(*e));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT seq, type, at, device_id, data, service, "
	    "session_id FROM events WHERE user_id = $1 AND seq = $2");
	pgq_int(&q, user_id);
	pgq_int(&q, seq);
	if ((rc = pgq_one(&q)) == DB_OK) {
		event_read(&q, 0, 0, e, 1);
		if (e->data == NULL)
			rc = DB_ERROR;
	}
	pgq_clear(&q);
	return rc;
}

/* The user's head, stored floor and oldest seq kept (device not read). */
int
pg_events_head(struct db *db, int64_t user_id, struct event_head *h)
{
	struct pgq	 q;
	int		 rc;

	memset(h, 0, sizeof(*h));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT event_seq, event_floor, "
	    "(SELECT min(seq) FROM events WHERE user_id = $1) "
	    "FROM users WHERE id = $1");
	pgq_int(&q, user_id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		h->head = pgq_getint(&q, 0, 0);
		h->floor = pgq_getint(&q, 0, 1);
		h->min_kept = pgq_gettime(&q, 0, 2);
	}
	pgq_clear(&q);
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
pg_events_page(struct db *db, const struct event_query *eq,
    struct event_head *h, event_cb cb, void *arg)
{
	struct event_row e;
	struct pgq	 q;
	int		 rc, i;

	memset(h, 0, sizeof(*h));
	if ((rc = pg_user_lock(db, eq->user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT u.event_seq, u.event_floor, "
	    "($6::text IS NULL OR (d.revoked_at IS NULL AND "
	    "d.family IS NOT DISTINCT FROM $7)), "
	    "(SELECT min(seq) FROM events WHERE user_id = u.id), "
	    "e.seq, e.type, e.at, e.device_id, e.data, e.service, e.session_id "
	    "FROM users u "
	    "LEFT JOIN devices d ON d.user_id = u.id AND d.id = $6 "
	    "LEFT JOIN events e ON e.user_id = u.id AND e.seq > $2 "
	    "AND ($3::text IS NULL OR e.device_id IS NULL OR "
	    "e.device_id <> $3) AND ($4::text IS NULL OR e.session_id = $4) "
	    "WHERE u.id = $1 ORDER BY e.seq LIMIT $5");
	pgq_int(&q, eq->user_id);
	pgq_int(&q, eq->after);
	pgq_text(&q, eq->exclude_device);
	pgq_text(&q, eq->session_id);
	pgq_int(&q, eq->limit + 1);
	pgq_text(&q, eq->device_id);
	pgq_text(&q, eq->family);
	rc = pgq_exec(&q);
	if (rc == DB_OK && q.rows == 0)
		rc = DB_NOTFOUND;
	if (rc == DB_OK) {
		h->head = pgq_getint(&q, 0, 0);
		h->floor = pgq_getint(&q, 0, 1);
		h->device_active = pgq_getbool(&q, 0, 2);
		h->min_kept = pgq_gettime(&q, 0, 3);
	}
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		if (pgq_isnull(&q, i, 4))
			break;		/* the user, and no event */
		event_read(&q, i, 4, &e, 0);
		rc = cb(arg, &e);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

/*
 * Prune, inside the caller's transaction, the events older than
 * before_at (ms), about `batch` of them at most, raising each user's
 * event_floor to the newest seq deleted (the users' rows locked in
 * ascending id order).  *done is set when nothing older is left after
 * this batch.
 */
int
pg_events_prune(struct db *db, int64_t before_at, int64_t batch, int *done)
{
	struct pgq	 q;
	int64_t		 upto = before_at;
	int		 rc;

	*done = 1;
	pgq_init(&q, db, "SELECT at FROM events WHERE at < $1 "
	    "ORDER BY at LIMIT 1 OFFSET $2");
	pgq_int(&q, before_at);
	pgq_int(&q, batch - 1);
	rc = pgq_one(&q);
	if (rc == DB_OK && pgq_getint(&q, 0, 0) + 1 < before_at) {
		upto = pgq_getint(&q, 0, 0) + 1;
		*done = 0;
	}
	pgq_clear(&q);
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return rc;
	pgq_init(&q, db, "WITH m AS (SELECT user_id, MAX(seq) AS seq FROM "
	    "events WHERE at < $1 GROUP BY user_id), l AS (SELECT u.id FROM "
	    "users u JOIN m ON m.user_id = u.id ORDER BY u.id FOR UPDATE OF u) "
	    "UPDATE users u SET event_floor = GREATEST(u.event_floor, m.seq) "
	    "FROM m, l WHERE u.id = m.user_id AND l.id = u.id");
	pgq_int(&q, upto);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	if (rc != DB_OK)
		return rc;
	pgq_init(&q, db, "DELETE FROM events WHERE at < $1");
	pgq_int(&q, upto);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/* The time of the oldest event kept (0: none), for a sweep's first look. */
int
pg_events_oldest(struct db *db, int64_t *at)
{
	struct pgq	 q;
	int		 rc;

	*at = 0;
	pgq_init(&q, db, "SELECT min(at) FROM events");
	if ((rc = pgq_one(&q)) == DB_OK)
		*at = pgq_gettime(&q, 0, 0);
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_OK : rc;
}
