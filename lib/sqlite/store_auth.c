/*
 * SQLite store: users, devices and refresh tokens (migrations/sqlite/
 * 0001_core.sql).  SQL only; the operations are in handlers/auth.c and
 * handlers/devices.c, the decisions in lib/auth_rules.c.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"
#include "store_fns.h"

#define USER_COLS	"id, public_id, email, password_hash, created_at"
#define DEVICE_COLS	"id, platform, name, push_token, created_at, " \
	"last_seen_at, revoked_at, family, last_push_at, last_pull_at"

static int
user_read(struct db *db, sqlite3_stmt *st, struct user_row *u)
{
	int	 rc;

	memset(u, 0, sizeof(*u));
	if ((rc = sq_one(db, st)) == DB_OK) {
		u->id = sqlite3_column_int64(st, 0);
		sq_col_copy(u->public_id, sizeof(u->public_id), st, 1);
		u->email = sq_col_dup(st, 2);
		u->password_hash = sq_col_dup(st, 3);
		u->created_at = sqlite3_column_int64(st, 4);
		if (u->email == NULL || u->password_hash == NULL) {
			user_row_release(u);
			rc = DB_ERROR;
		}
	}
	if (st != NULL)
		sqlite3_reset(st);
	return rc;
}

/* A user; DB_CONSTRAINT when the email is taken. */
int
sq_user_insert(struct db *db, const char *public_id, const char *email,
    const char *password_hash, int64_t now, int64_t *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = sq_prepare(db, "INSERT INTO users (public_id, email, "
	    "password_hash, created_at, clock_us) VALUES (?1, ?2, ?3, ?4, 0)");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, public_id);
	sq_bind_text(st, 2, email);
	sq_bind_text(st, 3, password_hash);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = sq_exec(db, st)) == DB_OK)
		*id = sq_last_id(db);
	return rc;
}

/* The user of a (normalised) email. */
int
sq_user_get_by_email(struct db *db, const char *email, struct user_row *u)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT " USER_COLS " FROM users WHERE email = ?1");
	if (st != NULL)
		sq_bind_text(st, 1, email);
	return user_read(db, st, u);
}

int
sq_user_get_by_id(struct db *db, int64_t id, struct user_row *u)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT " USER_COLS " FROM users WHERE id = ?1");
	if (st != NULL)
		sqlite3_bind_int64(st, 1, id);
	return user_read(db, st, u);
}

/* The user of a public id (the id a service key names a user by). */
int
sq_user_get_by_public_id(struct db *db, const char *public_id,
    struct user_row *u)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT " USER_COLS " FROM users "
	    "WHERE public_id = ?1");
	if (st != NULL)
		sq_bind_text(st, 1, public_id);
	return user_read(db, st, u);
}

/* The token check's one indexed lookup: the device of user_pub. */
int
sq_device_check(struct db *db, const char *user_pub, const char *device_id,
    struct device_auth *a)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(a, 0, sizeof(*a));
	st = sq_prepare(db, "SELECT u.id, d.revoked_at IS NOT NULL, d.family, "
	    "d.last_seen_at FROM users u JOIN devices d ON d.user_id = u.id "
	    "AND d.id = ?2 WHERE u.public_id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_text(st, 1, user_pub);
	sq_bind_text(st, 2, device_id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		a->user_id = sqlite3_column_int64(st, 0);
		a->revoked = sqlite3_column_int(st, 1);
		sq_col_copy(a->family, sizeof(a->family), st, 2);
		a->last_seen_at = sq_col_time(st, 3);
	}
	sqlite3_reset(st);
	return rc;
}

static void
device_read(sqlite3_stmt *st, struct device_row *d, int dup)
{
	const char	*push = (const char *)sqlite3_column_text(st, 3);

	sq_col_copy(d->id, sizeof(d->id), st, 0);
	sq_col_copy(d->platform, sizeof(d->platform), st, 1);
	sq_col_copy(d->name, sizeof(d->name), st, 2);
	d->push_token = push == NULL ? NULL : dup ? strdup(push) :
	    (char *)push;
	d->created_at = sqlite3_column_int64(st, 4);
	d->last_seen_at = sq_col_time(st, 5);
	d->revoked_at = sq_col_time(st, 6);
	sq_col_copy(d->family, sizeof(d->family), st, 7);
	d->last_push_at = sq_col_time(st, 8);
	d->last_pull_at = sq_col_time(st, 9);
}

/* A device of the user in any state (revoked ones included). */
int
sq_device_get(struct db *db, int64_t user_id, const char *device_id,
    struct device_row *d)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(d, 0, sizeof(*d));
	st = sq_prepare(db, "SELECT " DEVICE_COLS " FROM devices "
	    "WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		device_read(st, d, 1);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
		    d->push_token == NULL)
			rc = DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/* The user's devices, oldest first: active ones, or all with `all`. */
int
sq_devices_list(struct db *db, int64_t user_id, int all, device_cb cb,
    void *arg)
{
	struct device_row d;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT " DEVICE_COLS " FROM devices "
	    "WHERE user_id = ?1 AND (?2 OR revoked_at IS NULL) "
	    "ORDER BY created_at, id");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int(st, 2, all);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		device_read(st, &d, 0);
		if ((rc = cb(arg, &d)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}

int
sq_devices_active_count(struct db *db, int64_t user_id, const char *except,
    int64_t *n)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT count(*) FROM devices WHERE user_id = ?1 "
	    "AND revoked_at IS NULL AND id IS NOT ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, except);
	return sq_int(db, st, n);
}

int
sq_devices_online_count(struct db *db, int64_t user_id, int64_t since,
    int64_t *n)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT count(*) FROM devices WHERE user_id = ?1 "
	    "AND revoked_at IS NULL AND last_seen_at >= ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, since);
	return sq_int(db, st, n);
}

/* A new device, seen now and online, in login family d->family. */
int
sq_device_insert(struct db *db, int64_t user_id, const struct device_row *d)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO devices (user_id, id, platform, name, "
	    "push_token, created_at, last_seen_at, online, family) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, d->id);
	sq_bind_text(st, 3, d->platform);
	sq_bind_text(st, 4, d->name);
	sq_bind_text(st, 5, d->push_token);
	sqlite3_bind_int64(st, 6, d->created_at);
	sq_bind_text(st, 7, d->family);
	return sq_exec(db, st);
}

/*
 * A device logs in: its platform and name as given, its push token when
 * one is given, seen now (d->last_seen_at), active in family d->family.
 */
int
sq_device_login(struct db *db, int64_t user_id, const struct device_row *d)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE devices SET platform = ?3, name = ?4, "
	    "push_token = coalesce(?5, push_token), last_seen_at = ?6, "
	    "online = 1, revoked_at = NULL, family = ?7 "
	    "WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, d->id);
	sq_bind_text(st, 3, d->platform);
	sq_bind_text(st, 4, d->name);
	sq_bind_text(st, 5, d->push_token);
	sqlite3_bind_int64(st, 6, d->last_seen_at);
	sq_bind_text(st, 7, d->family);
	return sq_exec_one(db, st);
}

/* PATCH: name when not NULL, push_token when set_push (NULL clears). */
int
sq_device_update(struct db *db, int64_t user_id, const char *device_id,
    const char *name, int set_push, const char *push_token)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE devices SET name = coalesce(?3, name), "
	    "push_token = CASE WHEN ?4 THEN ?5 ELSE push_token END "
	    "WHERE user_id = ?1 AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	sq_bind_text(st, 3, name);
	sqlite3_bind_int(st, 4, set_push);
	sq_bind_text(st, 5, push_token);
	return sq_exec_one(db, st);
}

/* Revoke an active device: its family goes, so its tokens die. */
int
sq_device_revoke(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE devices SET revoked_at = ?3, "
	    "family = NULL, online = 0 WHERE user_id = ?1 AND id = ?2 AND "
	    "revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	return sq_exec_one(db, st);
}

/*
 * The device was seen now: last_seen_at and online; *was_offline tells
 * whether it had been announced offline.  DB_NOTFOUND when not active.
 */
int
sq_device_seen(struct db *db, int64_t user_id, const char *device_id,
    int64_t now, int *was_offline)
{
	sqlite3_stmt	*st;
	int		 rc;

	*was_offline = 0;
	st = sq_prepare(db, "SELECT online FROM devices WHERE user_id = ?1 "
	    "AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	if ((rc = sq_one(db, st)) == DB_OK)
		*was_offline = sqlite3_column_int(st, 0) == 0;
	sqlite3_reset(st);
	if (rc != DB_OK)
		return rc;
	st = sq_prepare(db, "UPDATE devices SET last_seen_at = ?3, "
	    "online = 1 WHERE user_id = ?1 AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	return sq_exec(db, st);
}

int
sq_device_push_mark(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE devices SET last_push_at = ?3 WHERE "
	    "user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	return sq_exec(db, st);
}

int
sq_device_pull_mark(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE devices SET last_pull_at = ?3 WHERE "
	    "user_id = ?1 AND id = ?2 AND (last_pull_at IS NULL OR "
	    "last_pull_at < ?3)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	return sq_exec(db, st);
}

/* A (user, device) pair gathered before the caller acts on it. */
struct pair {
	int64_t	 user_id;
	char	 id[DB_ID_CAP];
};

/*
 * Mark offline the active devices announced online and unseen since
 * seen_before, and call cb for each (after the update has finished, so
 * the callback may write).
 */
int
sq_devices_offline(struct db *db, int64_t seen_before, key_cb cb, void *arg)
{
	struct pair	*v = NULL, *grown;
	sqlite3_stmt	*st;
	size_t		 n = 0, cap = 0, i;
	int		 rc, row;

	st = sq_prepare(db, "UPDATE devices SET online = 0 WHERE online = 1 "
	    "AND revoked_at IS NULL AND last_seen_at < ?1 "
	    "RETURNING user_id, id");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, seen_before);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = DB_ERROR;
				break;
			}
			v = grown;
		}
		v[n].user_id = sqlite3_column_int64(st, 0);
		sq_col_copy(v[n].id, sizeof(v[n].id), st, 1);
		n++;
	}
	sqlite3_reset(st);
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = cb(arg, v[i].user_id, v[i].id);
	free(v);
	return sq_iter_rc(rc);
}

int
sq_refresh_insert(struct db *db, const unsigned char hash[32],
    int64_t user_id, const char *device_id, const char *family, int64_t now,
    int64_t expires_at)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "INSERT INTO refresh_tokens (token_hash, user_id, "
	    "device_id, family, created_at, expires_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, user_id);
	sq_bind_text(st, 3, device_id);
	sq_bind_text(st, 4, family);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, expires_at);
	return sq_exec(db, st);
}

/* A refresh token with its device's state; DB_NOTFOUND when unknown. */
int
sq_refresh_get(struct db *db, const unsigned char hash[32],
    struct refresh_row *r)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(r, 0, sizeof(*r));
	st = sq_prepare(db, "SELECT t.user_id, t.device_id, t.family, "
	    "t.expires_at, t.spent_at IS NOT NULL, d.revoked_at IS NULL AND "
	    "d.family IS t.family FROM refresh_tokens t JOIN devices d ON "
	    "d.user_id = t.user_id AND d.id = t.device_id "
	    "WHERE t.token_hash = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	if ((rc = sq_one(db, st)) == DB_OK) {
		r->user_id = sqlite3_column_int64(st, 0);
		sq_col_copy(r->device_id, sizeof(r->device_id), st, 1);
		sq_col_copy(r->family, sizeof(r->family), st, 2);
		r->expires_at = sqlite3_column_int64(st, 3);
		r->spent = sqlite3_column_int(st, 4);
		r->current = sqlite3_column_int(st, 5);
	}
	sqlite3_reset(st);
	return rc;
}

/* Spend a refresh token (once: DB_NOTFOUND when spent already). */
int
sq_refresh_spend(struct db *db, const unsigned char hash[32], int64_t now)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE refresh_tokens SET spent_at = ?2 "
	    "WHERE token_hash = ?1 AND spent_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	return sq_exec_one(db, st);
}

/* Forget the refresh tokens that expired before expired_before. */
int
sq_refresh_forget(struct db *db, int64_t expired_before)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "DELETE FROM refresh_tokens WHERE expires_at < ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, expired_before);
	return sq_exec(db, st);
}
