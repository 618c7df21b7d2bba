/*
 * PostgreSQL store: users, devices and refresh tokens (migrations/
 * postgres/0001_core.sql).  SQL only; the operations are in
 * handlers/auth.c and handlers/devices.c, the decisions in
 * lib/auth_rules.c.  Inside a write transaction each function first
 * locks the user's row (pg_user_lock, engine.c), so the device limit
 * at login and a device's online flag are decided with no other writer
 * of the user in between.
 */
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "store_fns.h"

#define USER_COLS	"id, public_id, email, password_hash, created_at"
#define DEVICE_COLS	"id, platform, name, push_token, created_at, " \
	"last_seen_at, revoked_at, family, last_push_at, last_pull_at"

static int
user_read(struct pgq *q, struct user_row *u)
{
	int	 rc;

	memset(u, 0, sizeof(*u));
	if ((rc = pgq_one(q)) == DB_OK) {
		u->id = pgq_getint(q, 0, 0);
		pgq_copy(u->public_id, sizeof(u->public_id), q, 0, 1);
		u->email = pgq_dup(q, 0, 2);
		u->password_hash = pgq_dup(q, 0, 3);
		u->created_at = pgq_getint(q, 0, 4);
		if (u->email == NULL || u->password_hash == NULL) {
			user_row_release(u);
			rc = DB_ERROR;
		}
	}
	pgq_clear(q);
	return rc;
}

/* A user; DB_CONSTRAINT when the email is taken. */
int
pg_user_insert(struct db *db, const char *public_id, const char *email,
    const char *password_hash, int64_t now, int64_t *id)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "INSERT INTO users (public_id, email, "
	    "password_hash, created_at, clock_us) VALUES ($1, $2, $3, $4, 0) "
	    "RETURNING id");
	pgq_text(&q, public_id);
	pgq_text(&q, email);
	pgq_text(&q, password_hash);
	pgq_int(&q, now);
	if ((rc = pgq_one(&q)) == DB_OK)
		*id = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}

/* The user of a (normalised) email. */
int
pg_user_get_by_email(struct db *db, const char *email, struct user_row *u)
{
	struct pgq	 q;

	pgq_init(&q, db, "SELECT " USER_COLS " FROM users WHERE email = $1");
	pgq_text(&q, email);
	return user_read(&q, u);
}

int
pg_user_get_by_id(struct db *db, int64_t id, struct user_row *u)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " USER_COLS " FROM users WHERE id = $1");
	pgq_int(&q, id);
	return user_read(&q, u);
}

/* The user of a public id (the id a service key names a user by). */
int
pg_user_get_by_public_id(struct db *db, const char *public_id,
    struct user_row *u)
{
	struct pgq	 q;

	pgq_init(&q, db, "SELECT " USER_COLS " FROM users "
	    "WHERE public_id = $1");
	pgq_text(&q, public_id);
	return user_read(&q, u);
}

/* The token check's one indexed lookup: the device of user_pub. */
int
pg_device_check(struct db *db, const char *user_pub, const char *device_id,
    struct device_auth *a)
{
	struct pgq	 q;
	int		 rc;

	memset(a, 0, sizeof(*a));
	pgq_init(&q, db, "SELECT u.id, d.revoked_at IS NOT NULL, d.family, "
	    "d.last_seen_at FROM users u JOIN devices d ON d.user_id = u.id "
	    "AND d.id = $2 WHERE u.public_id = $1");
	pgq_text(&q, user_pub);
	pgq_text(&q, device_id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		a->user_id = pgq_getint(&q, 0, 0);
		a->revoked = pgq_getbool(&q, 0, 1);
		pgq_copy(a->family, sizeof(a->family), &q, 0, 2);
		a->last_seen_at = pgq_gettime(&q, 0, 3);
	}
	pgq_clear(&q);
	return rc;
}

static void
device_read(const struct pgq *q, int i, struct device_row *d, int dup)
{
	const char	*push = pgq_getstr(q, i, 3);

	memset(d, 0, sizeof(*d));
	pgq_copy(d->id, sizeof(d->id), q, i, 0);
	pgq_copy(d->platform, sizeof(d->platform), q, i, 1);
	pgq_copy(d->name, sizeof(d->name), q, i, 2);
	d->push_token = push == NULL ? NULL : dup ? strdup(push) :
	    (char *)push;
	d->created_at = pgq_getint(q, i, 4);
	d->last_seen_at = pgq_gettime(q, i, 5);
	d->revoked_at = pgq_gettime(q, i, 6);
	pgq_copy(d->family, sizeof(d->family), q, i, 7);
	d->last_push_at = pgq_gettime(q, i, 8);
	d->last_pull_at = pgq_gettime(q, i, 9);
}

/* A device of the user in any state (revoked ones included). */
int
pg_device_get(struct db *db, int64_t user_id, const char *device_id,
    struct device_row *d)
{
	struct pgq	 q;
	int		 rc;

	memset(d, 0, sizeof(*d));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " DEVICE_COLS " FROM devices "
	    "WHERE user_id = $1 AND id = $2");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		device_read(&q, 0, d, 1);
		if (!pgq_isnull(&q, 0, 3) && d->push_token == NULL)
			rc = DB_ERROR;
	}
	pgq_clear(&q);
	return rc;
}

/* The user's devices, oldest first: active ones, or all with `all`. */
int
pg_devices_list(struct db *db, int64_t user_id, int all, device_cb cb,
    void *arg)
{
	struct device_row d;
	struct pgq	 q;
	int		 rc, i;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " DEVICE_COLS " FROM devices "
	    "WHERE user_id = $1 AND ($2 OR revoked_at IS NULL) "
	    "ORDER BY created_at, id");
	pgq_int(&q, user_id);
	pgq_bool(&q, all);
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		device_read(&q, i, &d, 0);
		rc = cb(arg, &d);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

int
pg_devices_active_count(struct db *db, int64_t user_id, const char *except,
    int64_t *n)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT count(*) FROM devices WHERE user_id = $1 "
	    "AND revoked_at IS NULL AND id IS DISTINCT FROM $2");
	pgq_int(&q, user_id);
	pgq_text(&q, except);
	return pgq_count(&q, n);
}

int
pg_devices_online_count(struct db *db, int64_t user_id, int64_t since,
    int64_t *n)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT count(*) FROM devices WHERE user_id = $1 "
	    "AND revoked_at IS NULL AND last_seen_at >= $2");
	pgq_int(&q, user_id);
	pgq_int(&q, since);
	return pgq_count(&q, n);
}

/* A new device, seen now and online, in login family d->family. */
int
pg_device_insert(struct db *db, int64_t user_id, const struct device_row *d)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO devices (user_id, id, platform, name, "
	    "push_token, created_at, last_seen_at, online, family) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $6, true, $7)");
	pgq_int(&q, user_id);
	pgq_text(&q, d->id);
	pgq_text(&q, d->platform);
	pgq_text(&q, d->name);
	pgq_text(&q, d->push_token);
	pgq_int(&q, d->created_at);
	pgq_text(&q, d->family);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * A device logs in: its platform and name as given, its push token when
 * one is given, seen now (d->last_seen_at), active in family d->family.
 */
int
pg_device_login(struct db *db, int64_t user_id, const struct device_row *d)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE devices SET platform = $3, name = $4, "
	    "push_token = coalesce($5, push_token), last_seen_at = $6, "
	    "online = true, revoked_at = NULL, family = $7 "
	    "WHERE user_id = $1 AND id = $2");
	pgq_int(&q, user_id);
	pgq_text(&q, d->id);
	pgq_text(&q, d->platform);
	pgq_text(&q, d->name);
	pgq_text(&q, d->push_token);
	pgq_int(&q, d->last_seen_at);
	pgq_text(&q, d->family);
	return pgq_exec_one(&q);
}

/* PATCH: name when not NULL, push_token when set_push (NULL clears). */
int
pg_device_update(struct db *db, int64_t user_id, const char *device_id,
    const char *name, int set_push, const char *push_token)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE devices SET name = coalesce($3, name), "
	    "push_token = CASE WHEN $4 THEN $5 ELSE push_token END "
	    "WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	pgq_text(&q, name);
	pgq_bool(&q, set_push);
	pgq_text(&q, push_token);
	return pgq_exec_one(&q);
}

/* Revoke an active device: its family goes, so its tokens die. */
int
pg_device_revoke(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE devices SET revoked_at = $3, "
	    "family = NULL, online = false WHERE user_id = $1 AND id = $2 AND "
	    "revoked_at IS NULL");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	pgq_int(&q, now);
	return pgq_exec_one(&q);
}

/*
 * The device was seen now: last_seen_at and online; *was_offline tells
 * whether it had been announced offline (read under the user's lock).
 * DB_NOTFOUND when not active.
 */
int
pg_device_seen(struct db *db, int64_t user_id, const char *device_id,
    int64_t now, int *was_offline)
{
	struct pgq	 q;
	int		 rc;

	*was_offline = 0;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE devices d SET last_seen_at = $3, "
	    "online = true FROM (SELECT online FROM devices WHERE "
	    "user_id = $1 AND id = $2 AND revoked_at IS NULL) o "
	    "WHERE d.user_id = $1 AND d.id = $2 RETURNING o.online");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	pgq_int(&q, now);
	if ((rc = pgq_one(&q)) == DB_OK)
		*was_offline = !pgq_getbool(&q, 0, 0);
	pgq_clear(&q);
	return rc;
}

int
pg_device_push_mark(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE devices SET last_push_at = $3 WHERE "
	    "user_id = $1 AND id = $2");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	pgq_int(&q, now);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * The pull time: one conditional statement, deciding nothing another
 * writer reads, so it takes no user lock (a pull never waits behind the
 * user's push for it).
 */
int
pg_device_pull_mark(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "UPDATE devices SET last_pull_at = $3 WHERE "
	    "user_id = $1 AND id = $2 AND (last_pull_at IS NULL OR "
	    "last_pull_at < $3)");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	pgq_int(&q, now);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/* A (user, device) pair gathered before the caller acts on it. */
struct pair {
	int64_t	 user_id;
	char	 id[DB_ID_CAP];
};

/*
 * Mark offline the active devices announced online and unseen since
 * seen_before, and call cb for each.  The candidates are read first;
 * then each user is locked, in ascending id order (the one rule for a
 * transaction of many users), before its devices are re-checked and
 * marked, so that a device seen meanwhile stays online.
 */
int
pg_devices_offline(struct db *db, int64_t seen_before, key_cb cb, void *arg)
{
	struct pair	*v = NULL, *grown;
	struct pgq	 q;
	size_t		 n = 0, cap = 0, i;
	int		 rc, r;

	pgq_init(&q, db, "SELECT user_id, id FROM devices WHERE online "
	    "AND revoked_at IS NULL AND last_seen_at < $1 "
	    "ORDER BY user_id, id LIMIT 1000");
	pgq_int(&q, seen_before);
	rc = pgq_exec(&q);
	for (r = 0; rc == DB_OK && r < q.rows; r++) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = DB_ERROR;
				break;
			}
			v = grown;
		}
		v[n].user_id = pgq_getint(&q, r, 0);
		pgq_copy(v[n].id, sizeof(v[n].id), &q, r, 1);
		n++;
	}
	pgq_clear(&q);
	for (i = 0; rc == DB_OK && i < n; i++) {
		if ((rc = pg_user_lock(db, v[i].user_id)) != DB_OK)
			break;
		pgq_init(&q, db, "UPDATE devices SET online = false WHERE "
		    "user_id = $1 AND id = $2 AND online AND revoked_at IS "
		    "NULL AND last_seen_at < $3");
		pgq_int(&q, v[i].user_id);
		pgq_text(&q, v[i].id);
		pgq_int(&q, seen_before);
		rc = pgq_exec_one(&q);
		if (rc == DB_NOTFOUND) {
			rc = DB_OK;	/* seen meanwhile */
			continue;
		}
		if (rc == DB_OK)
			rc = cb(arg, v[i].user_id, v[i].id);
	}
	free(v);
	return pg_iter_rc(rc);
}

int
pg_refresh_insert(struct db *db, const unsigned char hash[32],
    int64_t user_id, const char *device_id, const char *family, int64_t now,
    int64_t expires_at)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO refresh_tokens (token_hash, user_id, "
	    "device_id, family, created_at, expires_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6)");
	pgq_blob(&q, hash, 32);
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	pgq_text(&q, family);
	pgq_int(&q, now);
	pgq_int(&q, expires_at);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * A refresh token with its device's state; DB_NOTFOUND when unknown.
 * Inside a write transaction the token's row is locked: of two refreshes
 * of one token at once, the second waits and then finds it spent.
 */
int
pg_refresh_get(struct db *db, const unsigned char hash[32],
    struct refresh_row *r)
{
	struct pgq	 q;
	int		 rc;

	memset(r, 0, sizeof(*r));
	if (db->tx.active == DB_TX_WRITE)
		pgq_init(&q, db, "SELECT t.user_id, t.device_id, t.family, "
		    "t.expires_at, t.spent_at IS NOT NULL, "
		    "d.revoked_at IS NULL AND d.family IS NOT DISTINCT FROM "
		    "t.family FROM refresh_tokens t JOIN devices d ON "
		    "d.user_id = t.user_id AND d.id = t.device_id "
		    "WHERE t.token_hash = $1 FOR UPDATE OF t");
	else
		pgq_init(&q, db, "SELECT t.user_id, t.device_id, t.family, "
		    "t.expires_at, t.spent_at IS NOT NULL, "
		    "d.revoked_at IS NULL AND d.family IS NOT DISTINCT FROM "
		    "t.family FROM refresh_tokens t JOIN devices d ON "
		    "d.user_id = t.user_id AND d.id = t.device_id "
		    "WHERE t.token_hash = $1");
	pgq_blob(&q, hash, 32);
	if ((rc = pgq_one(&q)) == DB_OK) {
		r->user_id = pgq_getint(&q, 0, 0);
		pgq_copy(r->device_id, sizeof(r->device_id), &q, 0, 1);
		pgq_copy(r->family, sizeof(r->family), &q, 0, 2);
		r->expires_at = pgq_getint(&q, 0, 3);
		r->spent = pgq_getbool(&q, 0, 4);
		r->current = pgq_getbool(&q, 0, 5);
	}
	pgq_clear(&q);
	return rc;
}

/* Spend a refresh token (once: DB_NOTFOUND when spent already). */
int
pg_refresh_spend(struct db *db, const unsigned char hash[32], int64_t now)
{
	struct pgq	 q;

	pgq_init(&q, db, "UPDATE refresh_tokens SET spent_at = $2 "
	    "WHERE token_hash = $1 AND spent_at IS NULL");
	pgq_blob(&q, hash, 32);
	pgq_int(&q, now);
	return pgq_exec_one(&q);
}

/* Forget the refresh tokens that expired before expired_before. */
int
pg_refresh_forget(struct db *db, int64_t expired_before)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "DELETE FROM refresh_tokens WHERE expires_at < $1");
	pgq_int(&q, expired_before);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}
