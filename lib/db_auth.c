#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "db_auth.h"
#include "db_events.h"
#include "db_sessions.h"
#include "email.h"
#include "http.h"
#include "log.h"

void
db_user_release(struct db_user *u)
{
	free(u->public_id);
	free(u->email);
	free(u->password_hash);
	memset(u, 0, sizeof(*u));
}

/* Insert a user.  Returns DB_OK, DB_CONSTRAINT (email taken) or an error. */
int
db_user_insert(struct db *db, const char *public_id, const char *email,
    const char *password_hash, int64_t now, int64_t *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "INSERT INTO users (public_id, email, "
	    "password_hash, created_at) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return DB_ERROR;
	db_bind_text(st, 1, public_id);
	db_bind_text(st, 2, email);
	db_bind_text(st, 3, password_hash);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = db_exec(db, st)) == DB_OK)
		*id = sqlite3_last_insert_rowid(db->conn);
	return rc;
}

static int
user_get(struct db *db, sqlite3_stmt *st, struct db_user *u)
{
	int	 rc;

	memset(u, 0, sizeof(*u));
	if ((rc = db_step(db, st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? DB_NOTFOUND : -rc;
	}
	u->id = sqlite3_column_int64(st, 0);
	u->public_id = db_col_dup(st, 1);
	u->email = db_col_dup(st, 2);
	u->password_hash = db_col_dup(st, 3);
	u->created_at = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	if (u->public_id == NULL || u->email == NULL ||
	    u->password_hash == NULL) {
		db_user_release(u);
		return DB_ERROR;
	}
	return DB_OK;
}

/*
 * Fill u (db_user_release it) for email, which must be normalised
 * (email_normalize): stored emails are.
 */
int
db_user_get_by_email(struct db *db, const char *email, struct db_user *u)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "SELECT id, public_id, email, password_hash, "
	    "created_at FROM users WHERE email = ?1");
	if (st == NULL)
		return DB_ERROR;
	db_bind_text(st, 1, email);
	return user_get(db, st, u);
}

int
db_user_get_by_id(struct db *db, int64_t id, struct db_user *u)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "SELECT id, public_id, email, password_hash, "
	    "created_at FROM users WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, id);
	return user_get(db, st, u);
}

/* One account as the email step sees it. */
struct email_row {
	int64_t	 id;
	size_t	 age;		/* rank by (created_at, id): 0 is the oldest */
	char	*public_id;
	char	*raw;
	char	*norm;		/* NULL: cannot be normalised */
};

/* Accounts alike first, then the oldest first; unnormalisable ones last. */
static int
email_row_cmp(const void *a, const void *b)
{
	const struct email_row *x = a, *y = b;
	int	 c;

	if (x->norm == NULL || y->norm == NULL)
		c = (x->norm == NULL) - (y->norm == NULL);
	else
		c = strcmp(x->norm, y->norm);
	if (c == 0)
		c = (x->age > y->age) - (x->age < y->age);
	return c;
}

/* Every account, oldest first, with its email normalised where it can be. */
static int
email_rows_load(struct db *db, struct email_row **rows, size_t *n)
{
	sqlite3_stmt	*st;
	struct email_row *r = NULL, *grown;
	enum email_err	 why;
	size_t		 cap = 0, k = 0;
	int		 rc = DB_ERROR;

	st = db_prepare(db, "SELECT id, public_id, email FROM users "
	    "ORDER BY created_at, id");
	if (st == NULL)
		goto out;
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(r, cap * sizeof(*r));
			if (grown == NULL) {
				rc = -DB_ERROR;
				break;
			}
			r = grown;
		}
		memset(&r[k], 0, sizeof(r[k]));
		r[k].id = sqlite3_column_int64(st, 0);
		r[k].age = k;
		r[k].public_id = db_col_dup(st, 1);
		r[k].raw = db_col_dup(st, 2);
		k++;
		if (r[k - 1].public_id == NULL || r[k - 1].raw == NULL) {
			rc = -DB_ERROR;
			break;
		}
		r[k - 1].norm = email_normalize(r[k - 1].raw, &why);
		if (r[k - 1].norm == NULL && why == EMAIL_NOMEM) {
			rc = -DB_ERROR;
			break;
		}
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? DB_OK : -rc;
out:
	*rows = r;
	*n = k;
	return rc;
}

static void
email_rows_free(struct email_row *r, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(r[i].public_id);
		free(r[i].raw);
		free(r[i].norm);
	}
	free(r);
}

static int
email_set(struct db *db, int64_t id, const char *email)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "UPDATE users SET email = ?2 WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, email);
	return db_exec(db, st);
}

/*
 * Move a newer account's email out of the way of the oldest's normalised
 * one: it equals it but for ASCII case, and users.email is UNIQUE COLLATE
 * NOCASE.  It keeps its email, marked: "<email> (conflict <public id>)",
 * which no normalised email can equal (it holds spaces).
 */
static int
email_set_aside(struct db *db, int64_t id)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "UPDATE users SET email = email || ' (conflict ' "
	    "|| public_id || ')' WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, id);
	return db_exec(db, st);
}

/*
 * One group of accounts whose emails normalise alike, oldest first: the
 * oldest gets the normalised email, the others keep theirs (one that
 * equals it but for ASCII case set aside first) and a warning names them.
 * Returns a db_rc.
 */
static int
email_group_apply(struct db *db, struct email_row *g, size_t n,
    size_t *changed)
{
	json_t	*others = NULL;
	size_t	 i;
	int	 rc = DB_OK;

	for (i = 1; i < n && rc == DB_OK; i++)
		if (sqlite3_stricmp(g[i].raw, g[0].norm) == 0)
			rc = email_set_aside(db, g[i].id);
	if (rc == DB_OK && strcmp(g[0].raw, g[0].norm) != 0) {
		rc = email_set(db, g[0].id, g[0].norm);
		if (rc == DB_OK)
			(*changed)++;
	}
	if (rc != DB_OK) {
		log_json(LOG_ERROR, "email normalisation failed", json_pack(
		    "{s:s}", "user", g[0].public_id));
		goto out;
	}
	if (n == 1)
		goto out;
	if ((others = json_array()) == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	for (i = 1; i < n; i++)
		json_array_append_new(others, json_string(g[i].public_id));
	log_json(LOG_WARN, "emails normalise alike: the oldest account keeps "
	    "the email, the others are left as they were",
	    json_pack("{s:s, s:o}", "user", g[0].public_id, "others", others));
	others = NULL;
out:
	json_decref(others);
	return rc;
}

/*
 * The C step of migrations/0004_email_normalize.sql, inside its
 * transaction: every stored email once in its normalised form (emails
 * were stored raw before 1.1).  Accounts whose emails normalise alike
 * were look-alike second accounts: the oldest (created_at, then id) gets
 * the normalised email; the others keep theirs and cannot log in with it
 * (it normalises to the oldest's) until an operator resolves them; a
 * warning names them all.  An email that cannot be normalised (a
 * zero-width space) is kept as it is, with a warning.  Nothing is
 * deleted.  Returns 0 or -1.
 */
int
db_users_email_normalize(struct db *db)
{
	struct email_row *r = NULL;
	size_t		 n = 0, i, j, changed = 0, alike = 0, kept = 0;
	int		 rc;

	rc = email_rows_load(db, &r, &n);
	if (rc != DB_OK)
		goto out;
	if (n > 1)	/* qsort's array must not be NULL, even empty */
		qsort(r, n, sizeof(*r), email_row_cmp);
	for (i = 0; i < n && rc == DB_OK; i = j) {
		if (r[i].norm == NULL) {
			log_json(LOG_WARN, "email cannot be normalised; left "
			    "as it was", json_pack("{s:s}", "user",
			    r[i].public_id));
			kept++;
			j = i + 1;
			continue;
		}
		for (j = i + 1; j < n && r[j].norm != NULL &&
		    strcmp(r[j].norm, r[i].norm) == 0; j++)
			;
		alike += j - i > 1 ? j - i - 1 : 0;
		rc = email_group_apply(db, r + i, j - i, &changed);
	}
	if (rc == DB_OK)
		log_json(LOG_INFO, "emails normalised", json_pack("{s:I, s:I, "
		    "s:I, s:I}", "users", (json_int_t)n, "changed",
		    (json_int_t)changed, "alike", (json_int_t)alike,
		    "unnormalisable", (json_int_t)kept));
out:
	email_rows_free(r, n);
	return rc == DB_OK ? 0 : -1;
}

/* {id, email, created_at}: never the hash. */
json_t *
db_user_json(const struct db_user *u)
{
	return json_pack("{s:s, s:s, s:I}", "id", u->public_id,
	    "email", u->email, "created_at", (json_int_t)u->created_at);
}

/*
 * The token check's one indexed lookup: is device_id of user user_pub
 * active, in login family `family`?  Fills *user_id and *last_seen_at.
 */
int
db_device_check(struct db *db, const char *user_pub, const char *device_id,
    const char *family, int64_t *user_id, int64_t *last_seen_at,
    enum device_state *state)
{
	sqlite3_stmt	*st;
	const char	*fam;
	int		 rc;

	*state = DEVICE_UNKNOWN;
	st = db_prepare(db, "SELECT u.id, d.revoked_at, d.family, "
	    "d.last_seen_at FROM users u JOIN devices d ON d.user_id = u.id "
	    "AND d.id = ?2 WHERE u.public_id = ?1");
	if (st == NULL)
		return DB_ERROR;
	db_bind_text(st, 1, user_pub);
	db_bind_text(st, 2, device_id);
	if ((rc = db_step(db, st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? DB_OK : -rc;
	}
	*user_id = sqlite3_column_int64(st, 0);
	*last_seen_at = sqlite3_column_int64(st, 3);
	fam = (const char *)sqlite3_column_text(st, 2);
	if (sqlite3_column_type(st, 1) == SQLITE_NULL && fam != NULL &&
	    strcmp(fam, family) == 0)
		*state = DEVICE_ACTIVE;
	else
		*state = DEVICE_REVOKED;
	sqlite3_reset(st);
	return DB_OK;
}

/*
 * Record that the device was seen now (its own transaction).  A device
 * that the sweeper had announced offline is announced online again.
 */
int
db_device_seen(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc, was_offline = 0;

	if ((rc = db_begin(db)) != DB_OK)
		return rc;
	st = db_prepare(db, "SELECT online FROM devices WHERE user_id = ?1 "
	    "AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW)
		was_offline = sqlite3_column_int(st, 0) == 0;
	sqlite3_reset(st);
	if (rc < 0) {
		rc = -rc;
		goto out;
	}
	st = db_prepare(db, "UPDATE devices SET last_seen_at = ?3, "
	    "online = 1 WHERE user_id = ?1 AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	if ((rc = db_exec(db, st)) != DB_OK)
		goto out;
	rc = DB_OK;
	if (was_offline)
		rc = db_event_add(db, user_id, device_id, "device.online",
		    NULL, json_pack("{s:s}", "device_id", device_id), NULL);
out:
	if (rc == DB_OK)
		return db_commit(db);
	db_rollback(db);
	return rc;
}

static int
active_count(struct db *db, int64_t user_id, const char *except,
    int64_t *n)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT count(*) FROM devices WHERE user_id = ?1 "
	    "AND revoked_at IS NULL AND id <> ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, except);
	rc = db_step(db, st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? DB_OK : -rc;
}

/*
 * Log device d of user in (inside the caller's transaction): register it
 * when new, re-activate it in a new login family when it was revoked or
 * logged out, else keep its family.  Returns DB_OK with *family_out (free
 * it), DB_CONSTRAINT when the user's active devices are at max_devices,
 * or an error.
 */
int
db_device_login(struct db *db, int64_t user_id,
    const struct db_device_new *d, const char *new_family,
    int64_t max_devices, int64_t now, char **family_out)
{
	sqlite3_stmt	*st;
	int		 rc, exists = 0, revoked = 0, changed = 0;
	int64_t		 n;
	char		*family = NULL;

	*family_out = NULL;
	st = db_prepare(db, "SELECT revoked_at, family, platform = ?3 AND "
	    "name = ?4 FROM devices WHERE user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, d->id);
	db_bind_text(st, 3, d->platform);
	db_bind_text(st, 4, d->name);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW) {
		exists = 1;
		revoked = sqlite3_column_type(st, 0) != SQLITE_NULL ||
		    sqlite3_column_type(st, 1) == SQLITE_NULL;
		family = revoked ? NULL : db_col_dup(st, 1);
		changed = sqlite3_column_int(st, 2) == 0;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return -rc;
	if (!exists || revoked) {
		if ((rc = active_count(db, user_id, d->id, &n)) != DB_OK)
			return rc;
		if (n >= max_devices)
			return DB_CONSTRAINT;
	}
	if (!exists) {
		st = db_prepare(db, "INSERT INTO devices (user_id, id, "
		    "platform, name, push_token, created_at, last_seen_at, "
		    "online, family) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7)");
		if (st == NULL)
			return DB_ERROR;
		db_bind_text(st, 5, d->push_token);
	} else if (revoked) {
		st = db_prepare(db, "UPDATE devices SET platform = ?3, "
		    "name = ?4, push_token = coalesce(?5, push_token), "
		    "last_seen_at = ?6, online = 1, revoked_at = NULL, "
		    "family = ?7 WHERE user_id = ?1 AND id = ?2");
		if (st == NULL)
			return DB_ERROR;
		db_bind_text(st, 5, d->push_token);
	} else {
		st = db_prepare(db, "UPDATE devices SET platform = ?3, "
		    "name = ?4, push_token = coalesce(?5, push_token), "
		    "last_seen_at = ?6, online = 1 "
		    "WHERE user_id = ?1 AND id = ?2 AND ?7 IS NOT NULL");
		if (st == NULL) {
			free(family);
			return DB_ERROR;
		}
		db_bind_text(st, 5, d->push_token);
	}
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, d->id);
	db_bind_text(st, 3, d->platform);
	db_bind_text(st, 4, d->name);
	sqlite3_bind_int64(st, 6, now);
	db_bind_text(st, 7, family ? family : new_family);
	if ((rc = db_exec(db, st)) != DB_OK) {
		free(family);
		return rc;
	}
	if (!exists || revoked)
		rc = db_event_add(db, user_id, d->id, "device.registered", NULL,
		    json_pack("{s:s, s:s, s:s}", "device_id", d->id,
		    "platform", d->platform, "name", d->name), NULL);
	else if (changed)
		rc = db_event_add(db, user_id, d->id, "device.updated", NULL,
		    json_pack("{s:s}", "device_id", d->id), NULL);
	if (rc != DB_OK) {
		free(family);
		return rc;
	}
	*family_out = family ? family : strdup(new_family);
	return *family_out ? DB_OK : DB_ERROR;
}

/*
 * Revoke a device (inside the caller's transaction): its tokens die at
 * once (no family), it leaves the list and the limit, it loses its
 * primary roles and locks, and device.revoked is emitted.  Returns
 * DB_NOTFOUND when it is not an active device of the user.
 */
int
db_device_revoke(struct db *db, int64_t user_id, const char *device_id,
    const char *by_device)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE devices SET revoked_at = ?3, "
	    "family = NULL, online = 0 WHERE user_id = ?1 AND id = ?2 AND "
	    "revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now_ms());
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	if (sqlite3_changes(db->conn) == 0)
		return DB_NOTFOUND;
	if ((rc = db_sessions_release_device(db, user_id, device_id,
	    by_device)) != DB_OK)
		return rc;
	return db_event_add(db, user_id, by_device, "device.revoked", NULL,
	    json_pack("{s:s}", "device_id", device_id), NULL);
}

static json_t *
device_json(sqlite3_stmt *st, const char *current, int64_t now)
{
	int64_t	 seen = sqlite3_column_int64(st, 4);
	int	 never = sqlite3_column_type(st, 4) == SQLITE_NULL;
	const char *id = (const char *)sqlite3_column_text(st, 0);

	return json_pack("{s:s, s:s, s:s, s:I, s:o, s:b, s:b, s:b, s:o}",
	    "id", id,
	    "platform", (const char *)sqlite3_column_text(st, 1),
	    "name", (const char *)sqlite3_column_text(st, 2),
	    "created_at", (json_int_t)sqlite3_column_int64(st, 3),
	    "last_seen_at", never ? json_null() : json_integer(seen),
	    "online", !never && seen >= now - cfg.presence_ttl_ms,
	    "stale", never || seen < now - cfg.stale_after_ms,
	    "current", current != NULL && strcmp(id, current) == 0,
	    "push_token", db_col_str_or_null(st, 5));
}

/* One active device as JSON (*out, a new reference), or DB_NOTFOUND. */
int
db_device_get(struct db *db, int64_t user_id, const char *device_id,
    const char *current, json_t **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	*out = NULL;
	st = db_prepare(db, "SELECT id, platform, name, created_at, "
	    "last_seen_at, push_token FROM devices WHERE user_id = ?1 "
	    "AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW)
		*out = device_json(st, current, now_ms());
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return DB_NOTFOUND;
	if (rc < 0)
		return -rc;
	return *out ? DB_OK : DB_ERROR;
}

/* The user's active devices, oldest first, as a JSON array in *out. */
int
db_device_list(struct db *db, int64_t user_id, const char *current,
    json_t **out)
{
	sqlite3_stmt	*st;
	int		 rc;
	int64_t		 now = now_ms();

	if ((*out = json_array()) == NULL)
		return DB_ERROR;
	st = db_prepare(db, "SELECT id, platform, name, created_at, "
	    "last_seen_at, push_token FROM devices WHERE user_id = ?1 "
	    "AND revoked_at IS NULL ORDER BY created_at, id");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	while ((rc = db_step(db, st)) == SQLITE_ROW)
		json_array_append_new(*out, device_json(st, current, now));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? DB_OK : -rc;
}

/*
 * PATCH a device (inside the caller's transaction): name when not NULL,
 * push_token when set_push (NULL clears).  Emits device.updated.
 */
int
db_device_update(struct db *db, int64_t user_id, const char *device_id,
    const char *name, int set_push, const char *push_token)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE devices SET name = coalesce(?3, name), "
	    "push_token = CASE WHEN ?4 THEN ?5 ELSE push_token END "
	    "WHERE user_id = ?1 AND id = ?2 AND revoked_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	db_bind_text(st, 3, name);
	sqlite3_bind_int(st, 4, set_push);
	db_bind_text(st, 5, push_token);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	if (sqlite3_changes(db->conn) == 0)
		return DB_NOTFOUND;
	return db_event_add(db, user_id, device_id, "device.updated", NULL,
	    json_pack("{s:s}", "device_id", device_id), NULL);
}

int
db_devices_online_count(struct db *db, int64_t user_id, int64_t now,
    int64_t *n)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "SELECT count(*) FROM devices WHERE user_id = ?1 "
	    "AND revoked_at IS NULL AND last_seen_at >= ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, now - cfg.presence_ttl_ms);
	rc = db_step(db, st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? DB_OK : -rc;
}

/*
 * Sweeper: announce device.offline for devices unseen for the presence
 * TTL, and forget refresh tokens a lifetime past their expiry.  One
 * transaction.
 */
int
db_devices_sweep(struct db *db, int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = db_begin(db)) != DB_OK)
		return rc;
	st = db_prepare(db, "UPDATE devices SET online = 0 WHERE online = 1 "
	    "AND revoked_at IS NULL AND last_seen_at < ?1 "
	    "RETURNING user_id, id");
	if (st == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, now - cfg.presence_ttl_ms);
	{
		/* collect first: the statement must finish before inserts */
		json_t *gone = json_array();
		size_t i;
		json_t *v;

		while ((rc = db_step(db, st)) == SQLITE_ROW)
			json_array_append_new(gone, json_pack("[I, s]",
			    (json_int_t)sqlite3_column_int64(st, 0),
			    (const char *)sqlite3_column_text(st, 1)));
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			json_decref(gone);
			rc = rc < 0 ? -rc : DB_ERROR;
			goto out;
		}
		rc = DB_OK;
		json_array_foreach(gone, i, v) {
			rc = db_event_add(db,
			    json_integer_value(json_array_get(v, 0)), NULL,
			    "device.offline", NULL, json_pack("{s:O}",
			    "device_id", json_array_get(v, 1)), NULL);
			if (rc != DB_OK)
				break;
		}
		json_decref(gone);
		if (rc != DB_OK)
			goto out;
	}
	/*
	 * An expired or spent token is kept for another lifetime, so that
	 * presenting it still answers TOKEN_EXPIRED or TOKEN_REUSED rather
	 * than INVALID_TOKEN; only then is it forgotten.
	 */
	st = db_prepare(db, "DELETE FROM refresh_tokens WHERE expires_at < ?1");
	if (st == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	sqlite3_bind_int64(st, 1, now - cfg.refresh_ttl_s * 1000);
	rc = db_exec(db, st);
out:
	if (rc == DB_OK)
		return db_commit(db);
	db_rollback(db);
	return rc;
}

int
db_refresh_insert(struct db *db, const unsigned char hash[32],
    int64_t user_id, const char *device_id, const char *family, int64_t now,
    int64_t expires_at)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "INSERT INTO refresh_tokens (token_hash, user_id, "
	    "device_id, family, created_at, expires_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, user_id);
	db_bind_text(st, 3, device_id);
	db_bind_text(st, 4, family);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, expires_at);
	return db_exec(db, st);
}

/*
 * Spend a refresh token (inside the caller's transaction).  A token spent
 * before is reuse: the whole login is revoked (the device, when this
 * family is still its current one).  *device_id and *family are the
 * caller's to free.
 */
int
db_refresh_use(struct db *db, const unsigned char hash[32], int64_t now,
    enum refresh_state *state, int64_t *user_id, char **device_id,
    char **family)
{
	sqlite3_stmt	*st;
	int		 rc, spent, current;
	int64_t		 expires;

	*device_id = *family = NULL;
	*state = REFRESH_UNKNOWN;
	st = db_prepare(db, "SELECT t.user_id, t.device_id, t.family, "
	    "t.expires_at, t.spent_at IS NOT NULL, d.revoked_at IS NULL AND "
	    "d.family IS t.family FROM refresh_tokens t JOIN devices d ON "
	    "d.user_id = t.user_id AND d.id = t.device_id "
	    "WHERE t.token_hash = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	rc = db_step(db, st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? DB_OK : -rc;
	}
	*user_id = sqlite3_column_int64(st, 0);
	*device_id = db_col_dup(st, 1);
	*family = db_col_dup(st, 2);
	expires = sqlite3_column_int64(st, 3);
	spent = sqlite3_column_int(st, 4);
	current = sqlite3_column_int(st, 5);
	sqlite3_reset(st);
	if (*device_id == NULL || *family == NULL)
		return DB_ERROR;
	if (spent) {
		*state = REFRESH_REUSED;
		/* caused by a request presenting the device's token */
		if (current)
			return db_device_revoke(db, *user_id, *device_id,
			    *device_id);
		return DB_OK;
	}
	if (!current) {
		*state = REFRESH_REVOKED;
		return DB_OK;
	}
	if (expires <= now) {
		*state = REFRESH_EXPIRED;
		return DB_OK;
	}
	st = db_prepare(db, "UPDATE refresh_tokens SET spent_at = ?2 "
	    "WHERE token_hash = ?1 AND spent_at IS NULL");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	*state = REFRESH_OK;
	return DB_OK;
}
