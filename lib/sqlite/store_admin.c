/*
 * SQLite store: the server-wide counts of the admin status page and
 * /metrics: the only queries not scoped to one user (they count, and
 * return no user's data).  The caller reads them inside one db_read()
 * snapshot so that they agree with each other.
 */
#include <string.h>

#include "sqlite.h"
#include "store_fns.h"

/* Two integers of a one-row statement. */
static int
ints2(struct db *db, sqlite3_stmt *st, int64_t *a, int64_t *b)
{
	int	 rc;

	if ((rc = sq_one(db, st)) == DB_OK) {
		*a = sqlite3_column_int64(st, 0);
		if (b != NULL)
			*b = sqlite3_column_int64(st, 1);
	}
	if (st != NULL)
		sqlite3_reset(st);
	return rc;
}

int
sq_admin_counts(struct db *db, int64_t online_since, struct admin_counts *c)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(c, 0, sizeof(*c));
	if ((rc = ints2(db, sq_prepare(db, "SELECT count(*) FROM users"),
	    &c->users, NULL)) != DB_OK)
		return rc;
	st = sq_prepare(db, "SELECT count(*), coalesce(sum(last_seen_at >= "
	    "?1), 0) FROM devices WHERE revoked_at IS NULL");
	if (st != NULL)
		sqlite3_bind_int64(st, 1, online_since);
	if ((rc = ints2(db, st, &c->devices_total, &c->devices_online)) !=
	    DB_OK)
		return rc;
	if ((rc = ints2(db, sq_prepare(db, "SELECT "
	    "coalesce(sum(killed_at IS NULL), 0), "
	    "coalesce(sum(killed_at IS NOT NULL), 0) FROM sessions"),
	    &c->sessions_active, &c->sessions_killed)) != DB_OK)
		return rc;
	if ((rc = ints2(db, sq_prepare(db, "SELECT count(*) FROM messages"),
	    &c->messages, NULL)) != DB_OK)
		return rc;
	/* the per-collection counters sync keeps: O(collections) */
	if ((rc = ints2(db, sq_prepare(db, "SELECT coalesce(sum(records), 0), "
	    "coalesce(sum(tombstones), 0) FROM collections"), &c->records,
	    &c->tombstones)) != DB_OK)
		return rc;
	if ((rc = ints2(db, sq_prepare(db, "SELECT count(*) FROM conflicts "
	    "WHERE status = 'open'"), &c->conflicts_open, NULL)) != DB_OK)
		return rc;
	return ints2(db, sq_prepare(db, "SELECT page_count * page_size FROM "
	    "pragma_page_count(), pragma_page_size()"), &c->db_bytes, NULL);
}
