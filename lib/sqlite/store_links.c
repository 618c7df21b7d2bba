/*
 * SQLite store: links, a device joining by code, and the wrong codes
 * counted against a user (migrations/sqlite/0006_links.sql).  SQL only;
 * the operations are in handlers/links.c, the decisions in
 * lib/links_rules.c.  A link has no user until it is approved, so its
 * queries are by id or code; the wrong codes are the user's.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"
#include "store_fns.h"

#define LINK_COLS	"id, code, secret_hash, device_id, platform, name, " \
	"status, user_id, created_at, expires_at, decided_at"

static enum link_status
status_of(const char *s)
{
	int	 i;

	for (i = 0; s != NULL && i < LINK__MAX; i++)
		if (strcmp(s, link_status_names[i]) == 0)
			return (enum link_status)i;
	return LINK__MAX;
}

/* One row of LINK_COLS into l; DB_ERROR for a row it cannot read. */
static int
link_read(sqlite3_stmt *st, struct link_row *l)
{
	const void	*h = sqlite3_column_blob(st, 2);

	sq_col_copy(l->id, sizeof(l->id), st, 0);
	sq_col_copy(l->code, sizeof(l->code), st, 1);
	if (h == NULL || sqlite3_column_bytes(st, 2) != 32)
		return DB_ERROR;
	memcpy(l->secret_hash, h, 32);
	sq_col_copy(l->device_id, sizeof(l->device_id), st, 3);
	sq_col_copy(l->platform, sizeof(l->platform), st, 4);
	sq_col_copy(l->name, sizeof(l->name), st, 5);
	l->status = status_of((const char *)sqlite3_column_text(st, 6));
	l->user_id = sq_col_time(st, 7);
	l->created_at = sqlite3_column_int64(st, 8);
	l->expires_at = sqlite3_column_int64(st, 9);
	l->decided_at = sq_col_time(st, 10);
	return l->status == LINK__MAX ? DB_ERROR : DB_OK;
}

static int
link_one(struct db *db, sqlite3_stmt *st, struct link_row *l)
{
	int	 rc;

	if ((rc = sq_one(db, st)) == DB_OK)
		rc = link_read(st, l);
	sqlite3_reset(st);
	return rc;
}

/* A new link; DB_CONSTRAINT when its id or code is taken. */
int
sq_link_insert(struct db *db, const struct link_row *l)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO links (" LINK_COLS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, l->id);
	sq_bind_text(st, 2, l->code);
	sqlite3_bind_blob(st, 3, l->secret_hash, 32, SQLITE_TRANSIENT);
	sq_bind_text(st, 4, l->device_id);
	sq_bind_text(st, 5, l->platform);
	sq_bind_text(st, 6, l->name);
	sq_bind_text(st, 7, link_status_names[l->status]);
	sq_bind_time(st, 8, l->user_id);
	sqlite3_bind_int64(st, 9, l->created_at);
	sqlite3_bind_int64(st, 10, l->expires_at);
	sq_bind_time(st, 11, l->decided_at);
	return sq_exec(db, st);
}

/* The link of an id, in any state. */
int
sq_link_get(struct db *db, const char *id, struct link_row *l)
{
	sqlite3_stmt	*st;

	memset(l, 0, sizeof(*l));
	st = sq_prepare(db, "SELECT " LINK_COLS " FROM links WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, id);
	return link_one(db, st, l);
}

/* The link of a (canonical) code, in any state. */
int
sq_link_get_by_code(struct db *db, const char *code, struct link_row *l)
{
	sqlite3_stmt	*st;

	memset(l, 0, sizeof(*l));
	st = sq_prepare(db, "SELECT " LINK_COLS " FROM links WHERE code = ?1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, code);
	return link_one(db, st, l);
}

/*
 * Move a link from status `from` to `to`, decided now, bound to user_id
 * when it is not 0: DB_NOTFOUND when it is not in `from` (any more).
 */
int
sq_link_status_set(struct db *db, const char *id, enum link_status from,
    enum link_status to, int64_t user_id, int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE links SET status = ?3, "
	    "user_id = coalesce(?4, user_id), decided_at = ?5 "
	    "WHERE id = ?1 AND status = ?2");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, id);
	sq_bind_text(st, 2, link_status_names[from]);
	sq_bind_text(st, 3, link_status_names[to]);
	sq_bind_time(st, 4, user_id);
	sqlite3_bind_int64(st, 5, now);
	return sq_exec_one(db, st);
}

/* Delete the links that expired before expired_before. */
int
sq_links_prune(struct db *db, int64_t expired_before)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "DELETE FROM links WHERE expires_at < ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, expired_before);
	return sq_exec(db, st);
}

/*
 * Whether the sweeper has anything to delete: a link that expired
 * before expired_before, or a wrong code older than misses_before (two
 * indexed looks).  *due is 1 or 0.
 */
int
sq_links_due(struct db *db, int64_t expired_before, int64_t misses_before,
    int *due)
{
	sqlite3_stmt	*st;
	int64_t		 n;
	int		 rc;

	*due = 0;
	st = sq_prepare(db, "SELECT EXISTS (SELECT 1 FROM links WHERE "
	    "expires_at < ?1) OR EXISTS (SELECT 1 FROM link_misses WHERE "
	    "at < ?2)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, expired_before);
	sqlite3_bind_int64(st, 2, misses_before);
	if ((rc = sq_int(db, st, &n)) == DB_OK)
		*due = n != 0;
	return rc;
}

/* One wrong code given by user at `at`. */
int
sq_link_miss_insert(struct db *db, int64_t user_id, int64_t at)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO link_misses (user_id, at) "
	    "VALUES (?1, ?2)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, at);
	return sq_exec(db, st);
}

/*
 * The times of the user's wrong codes since `since`, newest first, at
 * most max of them, into at[0..*n).
 */
int
sq_link_misses_recent(struct db *db, int64_t user_id, int64_t since,
    int64_t *at, size_t max, size_t *n)
{
	sqlite3_stmt	*st;
	int		 rc, row;

	*n = 0;
	st = sq_prepare(db, "SELECT at FROM link_misses WHERE user_id = ?1 "
	    "AND at >= ?2 ORDER BY at DESC LIMIT ?3");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row && *n < max)
		at[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc;
}

/* Forget the wrong codes older than before. */
int
sq_link_misses_prune(struct db *db, int64_t before)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "DELETE FROM link_misses WHERE at < ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, before);
	return sq_exec(db, st);
}
