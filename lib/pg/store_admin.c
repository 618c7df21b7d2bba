/*
 * PostgreSQL store: the server-wide counts of the admin status page and
 * /metrics: the only queries not scoped to one user (they count, and
 * return no user's data).  The caller reads them inside one db_read()
 * snapshot so that they agree with each other.  db_bytes is the size of
 * the whole database (pg_database_size).
 */
#include <string.h>

#include "pg.h"
#include "store_fns.h"

/* Two integers of a one-row query (b may be NULL); cleared. */
static int
ints2(struct pgq *q, int64_t *a, int64_t *b)
{
	int	 rc;

	if ((rc = pgq_one(q)) == DB_OK) {
		*a = pgq_getint(q, 0, 0);
		if (b != NULL)
			*b = pgq_getint(q, 0, 1);
	}
	pgq_clear(q);
	return rc;
}

int
pg_admin_counts(struct db *db, int64_t online_since, struct admin_counts *c)
{
	struct pgq	 q;
	int		 rc;

	memset(c, 0, sizeof(*c));
	pgq_init(&q, db, "SELECT count(*) FROM users");
	if ((rc = ints2(&q, &c->users, NULL)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT count(*), count(*) FILTER (WHERE "
	    "last_seen_at >= $1) FROM devices WHERE revoked_at IS NULL");
	pgq_int(&q, online_since);
	if ((rc = ints2(&q, &c->devices_total, &c->devices_online)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT count(*) FILTER (WHERE killed_at IS NULL), "
	    "count(*) FILTER (WHERE killed_at IS NOT NULL) FROM sessions");
	if ((rc = ints2(&q, &c->sessions_active, &c->sessions_killed)) !=
	    DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT count(*) FROM messages");
	if ((rc = ints2(&q, &c->messages, NULL)) != DB_OK)
		return rc;
	/* the per-collection counters sync keeps: O(collections) */
	pgq_init(&q, db, "SELECT coalesce(sum(records), 0), "
	    "coalesce(sum(tombstones), 0) FROM collections");
	if ((rc = ints2(&q, &c->records, &c->tombstones)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT count(*) FROM conflicts WHERE "
	    "status = 'open'");
	if ((rc = ints2(&q, &c->conflicts_open, NULL)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT pg_database_size(current_database())");
	return ints2(&q, &c->db_bytes, NULL);
}
