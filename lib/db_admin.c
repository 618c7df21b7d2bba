#include <string.h>

#include "db.h"
#include "db_admin.h"

/* Step st once and read its first n integer columns.  Returns a db_rc. */
static int
row_ints(struct db *db, sqlite3_stmt *st, int64_t *out, int n)
{
	int	 rc, i;

	if (st == NULL)
		return DB_ERROR;
	if ((rc = db_step(db, st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? DB_ERROR : -rc;
	}
	for (i = 0; i < n; i++)
		out[i] = sqlite3_column_int64(st, i);
	sqlite3_reset(st);
	return DB_OK;
}

/*
 * Which of the tables of later migrations exist: the counts of a table a
 * database does not have are 0 and its DB_ADMIN_NO_* bit is set.
 */
static int
tables_missing(struct db *db, int *missing)
{
	static const struct {
		const char	*name;
		int		 bit;
	} tables[] = {
		{ "sessions", DB_ADMIN_NO_SESSIONS },
		{ "messages", DB_ADMIN_NO_MESSAGES },
		{ "records", DB_ADMIN_NO_RECORDS },
		{ "conflicts", DB_ADMIN_NO_CONFLICTS },
	};
	sqlite3_stmt	*st;
	const char	*name;
	size_t		 i;
	int		 rc;

	*missing = DB_ADMIN_NO_SESSIONS | DB_ADMIN_NO_MESSAGES |
	    DB_ADMIN_NO_RECORDS | DB_ADMIN_NO_CONFLICTS;
	st = db_prepare(db, "SELECT name FROM sqlite_master WHERE type = "
	    "'table' AND name IN ('sessions', 'messages', 'records', "
	    "'conflicts')");
	if (st == NULL)
		return DB_ERROR;
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		for (i = 0; name != NULL && i < sizeof(tables) /
		    sizeof(tables[0]); i++)
			if (strcmp(name, tables[i].name) == 0)
				*missing &= ~tables[i].bit;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? DB_OK : -rc;
}

/*
 * Count users, devices, sessions, messages, records and open conflicts
 * across all users, in one read transaction so the numbers agree with
 * each other.  A device is online when it is not revoked and was seen
 * within presence_ttl_ms of now_ms.  Returns a db_rc; c is zeroed first.
 */
int
db_admin_counts(struct db *db, int64_t now_ms, int64_t presence_ttl_ms,
    struct db_admin_counts *c)
{
	sqlite3_stmt	*st;
	int64_t		 v[2];
	int		 rc;

	memset(c, 0, sizeof(*c));
	if ((rc = db_exec(db, db_prepare(db, "BEGIN"))) != DB_OK)
		return rc;
	if ((rc = tables_missing(db, &c->missing)) != DB_OK)
		goto out;

	if ((rc = row_ints(db, db_prepare(db, "SELECT count(*) FROM users"),
	    v, 1)) != DB_OK)
		goto out;
	c->users = v[0];

	st = db_prepare(db, "SELECT count(*), coalesce(sum(last_seen_at >= "
	    "?1), 0) FROM devices WHERE revoked_at IS NULL");
	if (st != NULL)
		sqlite3_bind_int64(st, 1, now_ms - presence_ttl_ms);
	if ((rc = row_ints(db, st, v, 2)) != DB_OK)
		goto out;
	c->devices_total = v[0];
	c->devices_online = v[1];

	if (!(c->missing & DB_ADMIN_NO_SESSIONS)) {
		if ((rc = row_ints(db, db_prepare(db, "SELECT "
		    "coalesce(sum(killed_at IS NULL), 0), "
		    "coalesce(sum(killed_at IS NOT NULL), 0) FROM sessions"),
		    v, 2)) != DB_OK)
			goto out;
		c->sessions_active = v[0];
		c->sessions_killed = v[1];
	}
	if (!(c->missing & DB_ADMIN_NO_MESSAGES)) {
		if ((rc = row_ints(db, db_prepare(db, "SELECT count(*) FROM "
		    "messages"), v, 1)) != DB_OK)
			goto out;
		c->messages = v[0];
	}
	if (!(c->missing & DB_ADMIN_NO_RECORDS)) {
		/* the per-collection counters sync keeps: O(collections) */
		if ((rc = row_ints(db, db_prepare(db, "SELECT "
		    "coalesce(sum(records), 0), coalesce(sum(tombstones), 0) "
		    "FROM collections"), v, 2)) != DB_OK)
			goto out;
		c->records = v[0];
		c->tombstones = v[1];
	}
	if (!(c->missing & DB_ADMIN_NO_CONFLICTS)) {
		if ((rc = row_ints(db, db_prepare(db, "SELECT count(*) FROM "
		    "conflicts WHERE status = 'open'"), v, 1)) != DB_OK)
			goto out;
		c->conflicts_open = v[0];
	}
	if ((c->db_bytes = db_file_bytes(db)) < 0) {
		rc = DB_ERROR;
		goto out;
	}
	rc = db_exec(db, db_prepare(db, "COMMIT"));
out:
	if (rc != DB_OK)
		db_rollback(db);
	return rc;
}
