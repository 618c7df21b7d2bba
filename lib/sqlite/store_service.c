/*
 * SQLite store: service keys (migrations/sqlite/0007_service_keys.sql).
 * SQL only; the key check is handlers/service.c's, the command line
 * handlers/keys.c's, the rules (names, scopes, the key's shape)
 * lib/service_rules.c's.  A key is only ever seen here as its SHA-256.
 */
#include <string.h>

#include "sqlite.h"
#include "store_fns.h"

#define KEY_COLS	"name, scopes, created_at, last_used_at"

static void
key_read(sqlite3_stmt *st, struct service_key_row *k)
{
	memset(k, 0, sizeof(*k));
	sq_col_copy(k->name, sizeof(k->name), st, 0);
	sq_col_copy(k->scopes, sizeof(k->scopes), st, 1);
	k->created_at = sqlite3_column_int64(st, 2);
	k->last_used_at = sq_col_time(st, 3);
}

/* A key; DB_CONSTRAINT when its name (or its hash) exists already. */
int
sq_service_key_insert(struct db *db, const char *name,
    const unsigned char hash[32], const char *scopes, int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO service_keys (name, key_hash, "
	    "scopes, created_at) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, name);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_TRANSIENT);
	sq_bind_text(st, 3, scopes);
	sqlite3_bind_int64(st, 4, now);
	return sq_exec(db, st);
}

/* The key whose SHA-256 is hash; DB_NOTFOUND when none (or revoked). */
int
sq_service_key_get_by_hash(struct db *db, const unsigned char hash[32],
    struct service_key_row *k)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(k, 0, sizeof(*k));
	st = sq_prepare(db, "SELECT " KEY_COLS " FROM service_keys "
	    "WHERE key_hash = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	if ((rc = sq_one(db, st)) == DB_OK)
		key_read(st, k);
	sqlite3_reset(st);
	return rc;
}

/* Every key, by name. */
int
sq_service_keys_list(struct db *db, service_key_cb cb, void *arg)
{
	struct service_key_row k;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT " KEY_COLS " FROM service_keys "
	    "ORDER BY name");
	if (st == NULL)
		return DB_ERROR;
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		key_read(st, &k);
		if ((rc = cb(arg, &k)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}

/* Revoke: the row goes.  DB_NOTFOUND for an unknown name. */
int
sq_service_key_delete(struct db *db, const char *name)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "DELETE FROM service_keys WHERE name = ?1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, name);
	return sq_exec_one(db, st);
}

/*
 * last_used_at = now, when it was never written or is before (or at)
 * `before`: of many requests at once, one writes.  DB_NOTFOUND when none
 * did.
 */
int
sq_service_key_touch(struct db *db, const char *name, int64_t now,
    int64_t before)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE service_keys SET last_used_at = ?2 "
	    "WHERE name = ?1 AND (last_used_at IS NULL OR "
	    "last_used_at <= ?3)");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, before);
	return sq_exec_one(db, st);
}
