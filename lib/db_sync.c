#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "config.h"
#include "db.h"
#include "db_sessions.h"
#include "db_sync.h"
#include "log.h"

/* The columns of a record in pull shape, in record_json()'s order. */
#define RECORD_COLS "collection, record_id, version, data, deleted, " \
	"modified_at, device_id, checksum"

/* The columns of a conflict, in conflict_json()'s order. */
#define CONFLICT_COLS "id, collection, record_id, device_id, status, " \
	"created_at, base_version, client_data, client_deleted, " \
	"client_modified_at, server_version, server_data, server_deleted, " \
	"server_modified_at, resolved_at, resolution"

/* A step's result (SQLITE_ROW / SQLITE_DONE / -db_rc) as a db_rc. */
static int
step_rc(int rc)
{
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return DB_OK;
	return -rc;
}

/*
 * A read transaction: one snapshot for several statements.  Reads take
 * no lock a writer waits for (WAL), and ending one is cheap.
 */
static int
read_begin(struct db *db)
{
	int	 rc;

	if ((rc = db_exec(db, db_prepare(db, "BEGIN DEFERRED"))) == DB_OK)
		db->in_tx = 1;
	return rc;
}

static void
read_end(struct db *db)
{
	if (db_exec(db, db_prepare(db, "COMMIT")) != DB_OK)
		db_rollback(db);
	db->in_tx = 0;
}

static void
bind_key(sqlite3_stmt *st, int64_t user_id, const char *collection,
    const char *id)
{
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, collection);
	db_bind_text(st, 3, id);
}

/* A nullable integer column as JSON. */
static json_t *
col_int_or_null(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_integer((json_int_t)sqlite3_column_int64(st, i));
}

/* The current row of a RECORD_COLS select, in pull shape (or NULL). */
static json_t *
record_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:I, s:o, s:b, s:I, s:o, s:s}",
	    "collection", (const char *)sqlite3_column_text(st, 0),
	    "id", (const char *)sqlite3_column_text(st, 1),
	    "version", (json_int_t)sqlite3_column_int64(st, 2),
	    "data", db_col_json_or_null(st, 3),
	    "deleted", sqlite3_column_int(st, 4) != 0,
	    "modified_at", (json_int_t)sqlite3_column_int64(st, 5),
	    "device_id", db_col_str_or_null(st, 6),
	    "checksum", (const char *)sqlite3_column_text(st, 7));
}

/* The current row of a CONFLICT_COLS select as the API's conflict. */
static json_t *
conflict_json(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:I, "
	    "s:{s:o, s:b, s:I}, s:{s:I, s:o, s:b, s:o}, s:o, s:o}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "collection", (const char *)sqlite3_column_text(st, 1),
	    "record_id", (const char *)sqlite3_column_text(st, 2),
	    "device_id", db_col_str_or_null(st, 3),
	    "status", (const char *)sqlite3_column_text(st, 4),
	    "created_at", (json_int_t)sqlite3_column_int64(st, 5),
	    "base_version", (json_int_t)sqlite3_column_int64(st, 6),
	    "client",
	    "data", db_col_json_or_null(st, 7),
	    "deleted", sqlite3_column_int(st, 8) != 0,
	    "modified_at", (json_int_t)sqlite3_column_int64(st, 9),
	    "server",
	    "version", (json_int_t)sqlite3_column_int64(st, 10),
	    "data", db_col_json_or_null(st, 11),
	    "deleted", sqlite3_column_int(st, 12) != 0,
	    "modified_at", col_int_or_null(st, 13),
	    "resolved_at", col_int_or_null(st, 14),
	    "resolution", db_col_str_or_null(st, 15));
}

/*
 * Run st (bound) and collect each row through fn into a new array in
 * *out.  Returns a db_rc; *out is NULL on error.
 */
static int
rows_json(struct db *db, sqlite3_stmt *st, json_t *(*fn)(sqlite3_stmt *),
    json_t **out)
{
	json_t	*arr, *v;
	int	 rc;

	*out = NULL;
	if ((arr = json_array()) == NULL) {
		sqlite3_reset(st);
		return DB_ERROR;
	}
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		if ((v = fn(st)) == NULL ||
		    json_array_append_new(arr, v) == -1) {
			rc = -DB_ERROR;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return step_rc(rc) == DB_OK ? DB_ERROR : step_rc(rc);
	}
	*out = arr;
	return DB_OK;
}

/*
 * What push decisions need of a stored record.  An absent record is
 * DB_OK with exists 0 and version 0.
 */
int
db_record_state(struct db *db, int64_t user_id, const char *collection,
    const char *id, struct db_record_state *s)
{
	sqlite3_stmt	*st;
	const char	*sum;
	int		 rc;

	memset(s, 0, sizeof(*s));
	st = db_prepare(db, "SELECT version, deleted, modified_at, checksum "
	    "FROM records WHERE user_id = ?1 AND collection = ?2 AND "
	    "record_id = ?3");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, collection, id);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW) {
		s->exists = 1;
		s->version = sqlite3_column_int64(st, 0);
		s->deleted = sqlite3_column_int(st, 1) != 0;
		s->modified_at = sqlite3_column_int64(st, 2);
		sum = (const char *)sqlite3_column_text(st, 3);
		if (sum != NULL && strlen(sum) < sizeof(s->checksum))
			memcpy(s->checksum, sum, strlen(sum) + 1);
	}
	sqlite3_reset(st);
	return step_rc(rc);
}

/* A record (tombstones included) in pull shape; DB_NOTFOUND if none. */
int
db_record_get(struct db *db, int64_t user_id, const char *collection,
    const char *id, json_t **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	*out = NULL;
	st = db_prepare(db, "SELECT " RECORD_COLS " FROM records "
	    "WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, collection, id);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*out = record_json(st);
		rc = *out != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/* A live record's data; DB_NOTFOUND when absent or deleted. */
int
db_record_data(struct db *db, int64_t user_id, const char *collection,
    const char *id, json_t **data)
{
	sqlite3_stmt	*st;
	int		 rc;

	*data = NULL;
	st = db_prepare(db, "SELECT data FROM records WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 AND deleted = 0");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, collection, id);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*data = db_col_json(st, 0);
		rc = *data != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * The data of a kept previous revision (the base of a merge).
 * DB_NOTFOUND when that version is no longer kept or was a tombstone.
 */
int
db_revision_data(struct db *db, int64_t user_id, const char *collection,
    const char *id, int64_t version, json_t **data)
{
	sqlite3_stmt	*st;
	int		 rc;

	*data = NULL;
	st = db_prepare(db, "SELECT data FROM revisions WHERE user_id = ?1 "
	    "AND collection = ?2 AND record_id = ?3 AND version = ?4 AND "
	    "deleted = 0");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, collection, id);
	sqlite3_bind_int64(st, 4, version);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*data = db_col_json(st, 0);
		rc = *data != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * The collections' counters a transaction changes, applied once per
 * collection just before COMMIT (db_defer) instead of once per record: a
 * push of 100 records into one collection is one upsert, not 100.
 */
struct count_delta {
	int64_t		 user_id;
	char		*name;
	int64_t		 records;
	int64_t		 tombstones;
	int64_t		 last_version;
};

struct count_deltas {
	struct count_delta *v;
	size_t		 len;
	size_t		 cap;
};

static void
count_deltas_free(void *arg)
{
	struct count_deltas *d = arg;
	size_t		 i;

	if (d == NULL)
		return;
	for (i = 0; i < d->len; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

static int
count_deltas_flush(struct db *db, void *arg)
{
	struct count_deltas *d = arg;
	sqlite3_stmt	*st;
	size_t		 i;
	int		 rc;

	for (i = 0; i < d->len; i++) {
		st = db_prepare(db, "INSERT INTO collections (user_id, name, "
		    "records, tombstones, last_version) "
		    "VALUES (?1, ?2, ?3, ?4, ?5) "
		    "ON CONFLICT (user_id, name) DO UPDATE SET "
		    "records = records + excluded.records, "
		    "tombstones = tombstones + excluded.tombstones, "
		    "last_version = MAX(last_version, excluded.last_version)");
		if (st == NULL)
			return DB_ERROR;
		sqlite3_bind_int64(st, 1, d->v[i].user_id);
		db_bind_text(st, 2, d->v[i].name);
		sqlite3_bind_int64(st, 3, d->v[i].records);
		sqlite3_bind_int64(st, 4, d->v[i].tombstones);
		sqlite3_bind_int64(st, 5, d->v[i].last_version);
		if ((rc = db_exec(db, st)) != DB_OK)
			return rc;
	}
	return DB_OK;
}

/*
 * Count a write in collection `name` of user: records and tombstones
 * deltas and its version as the collection's last_version, applied at
 * commit.  Returns a db_rc.
 */
static int
collection_count(struct db *db, int64_t user_id, const char *name,
    int records, int tombstones, int64_t version)
{
	struct count_deltas *d = db_deferred(db, count_deltas_flush);
	struct count_delta *e, *v;
	size_t		 i, cap;

	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return DB_ERROR;
		db_defer(db, count_deltas_flush, count_deltas_free, d);
	}
	for (i = 0; i < d->len; i++)
		if (d->v[i].user_id == user_id &&
		    strcmp(d->v[i].name, name) == 0)
			break;
	if (i == d->len) {
		if (d->len == d->cap) {
			cap = d->cap ? d->cap * 2 : 4;
			if ((v = reallocarray(d->v, cap, sizeof(*v))) == NULL)
				return DB_ERROR;
			d->v = v;
			d->cap = cap;
		}
		e = &d->v[d->len];
		memset(e, 0, sizeof(*e));
		if ((e->name = strdup(name)) == NULL)
			return DB_ERROR;
		e->user_id = user_id;
		d->len++;
	}
	e = &d->v[i];
	e->records += records;
	e->tombstones += tombstones;
	if (version > e->last_version)
		e->last_version = version;
	return DB_OK;
}

/*
 * Write a record as a new version (inside the caller's transaction):
 * take the next server clock value, move the stored state (old, as
 * db_record_state read it in this transaction) into the revision
 * history, keep the newest TANDEM_HISTORY_KEEP revisions of the record,
 * store the new state and count it in its collection.  The version goes
 * to *version.
 */
int
db_record_put(struct db *db, int64_t user_id, const struct db_record_write *w,
    const struct db_record_state *old, int64_t *version)
{
	sqlite3_stmt	*st;
	int		 rc, was_live, was_dead, dead = w->data == NULL;

	if ((rc = db_clock_next(db, version)) != DB_OK)
		return rc;
	was_live = old->exists && !old->deleted;
	was_dead = old->exists && old->deleted;
	if ((rc = collection_count(db, user_id, w->collection,
	    !dead - was_live, dead - was_dead, *version)) != DB_OK)
		return rc;
	if (old->exists) {
		st = db_prepare(db, "INSERT INTO revisions (user_id, "
		    "collection, record_id, version, data, deleted, "
		    "modified_at, device_id) SELECT user_id, collection, "
		    "record_id, version, data, deleted, modified_at, device_id "
		    "FROM records WHERE user_id = ?1 AND collection = ?2 AND "
		    "record_id = ?3");
		if (st == NULL)
			return DB_ERROR;
		bind_key(st, user_id, w->collection, w->id);
		if ((rc = db_exec(db, st)) != DB_OK)
			return rc;
		st = db_prepare(db, "DELETE FROM revisions WHERE user_id = ?1 "
		    "AND collection = ?2 AND record_id = ?3 AND version <= "
		    "(SELECT version FROM revisions WHERE user_id = ?1 AND "
		    "collection = ?2 AND record_id = ?3 ORDER BY version DESC "
		    "LIMIT 1 OFFSET ?4)");
		if (st == NULL)
			return DB_ERROR;
		bind_key(st, user_id, w->collection, w->id);
		sqlite3_bind_int64(st, 4, cfg.history_keep);
		if ((rc = db_exec(db, st)) != DB_OK)
			return rc;
		st = db_prepare(db, "UPDATE records SET version = ?4, "
		    "data = ?5, deleted = ?6, modified_at = ?7, "
		    "device_id = ?8, checksum = ?9 WHERE user_id = ?1 AND "
		    "collection = ?2 AND record_id = ?3");
	} else
		st = db_prepare(db, "INSERT INTO records (user_id, collection, "
		    "record_id, version, data, deleted, modified_at, "
		    "device_id, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		    "?8, ?9)");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, w->collection, w->id);
	sqlite3_bind_int64(st, 4, *version);
	db_bind_text(st, 5, w->data);
	sqlite3_bind_int(st, 6, w->data == NULL);
	sqlite3_bind_int64(st, 7, w->modified_at);
	db_bind_text(st, 8, w->device_id);
	db_bind_text(st, 9, w->checksum);
	return db_exec(db, st);
}

/* Append s as a JSON string (ids and checksums: escaping is rare). */
static int
text_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char		 esc[6] = { '\\', 'u', '0', '0', 0, 0 };
	size_t		 n;
	int		 rc;

	if (s == NULL)
		return buf_adds(b, "null");
	rc = buf_add(b, "\"", 1);
	while (rc == 0 && *p != '\0') {
		for (n = 0; p[n] >= 0x20 && p[n] != '"' && p[n] != '\\'; n++)
			;
		if (n > 0) {
			rc = buf_add(b, p, n);
			p += n;
		} else if (*p == '"' || *p == '\\') {
			esc[1] = (char)*p++;
			rc = buf_add(b, esc, 2);
			esc[1] = 'u';
		} else {
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p++ & 15];
			rc = buf_add(b, esc, sizeof(esc));
		}
	}
	return rc == 0 ? buf_add(b, "\"", 1) : -1;
}

/*
 * Append the current row of a RECORD_COLS select in pull shape as JSON
 * text.  The data is stored as canonical JSON text and goes out as it
 * is, never parsed and printed again.  Returns 0 or -1.
 */
static int
record_text(struct buf *b, sqlite3_stmt *st)
{
	const char	*data = (const char *)sqlite3_column_text(st, 3);
	const char	*dev = (const char *)sqlite3_column_text(st, 6);

	if (buf_adds(b, "{\"collection\":") == -1 ||
	    text_str(b, (const char *)sqlite3_column_text(st, 0)) == -1 ||
	    buf_adds(b, ",\"id\":") == -1 ||
	    text_str(b, (const char *)sqlite3_column_text(st, 1)) == -1 ||
	    buf_addf(b, ",\"version\":%lld,\"data\":",
	    (long long)sqlite3_column_int64(st, 2)) == -1 ||
	    buf_adds(b, data != NULL ? data : "null") == -1 ||
	    buf_addf(b, ",\"deleted\":%s,\"modified_at\":%lld,"
	    "\"device_id\":", sqlite3_column_int(st, 4) ? "true" : "false",
	    (long long)sqlite3_column_int64(st, 5)) == -1 ||
	    (dev != NULL ? text_str(b, dev) : buf_adds(b, "null")) == -1 ||
	    buf_adds(b, ",\"checksum\":") == -1 ||
	    text_str(b, (const char *)sqlite3_column_text(st, 7)) == -1 ||
	    buf_adds(b, "}") == -1)
		return -1;
	return 0;
}

/*
 * The page's rows after since, as JSON text into pull->changes: at most
 * limit rows, and no more once DB_PULL_PAGE_BYTES are filled.
 */
static int
pull_page(struct db *db, int64_t user_id, int64_t since,
    const char *collections_json, int64_t limit, struct db_pull *pull)
{
	sqlite3_stmt	*st;
	int64_t		 n = 0;
	int		 rc;

	if (collections_json == NULL)
		st = db_prepare(db, "SELECT " RECORD_COLS " FROM records "
		    "WHERE user_id = ?1 AND version > ?2 ORDER BY version "
		    "LIMIT ?3");
	else
		st = db_prepare(db, "SELECT " RECORD_COLS " FROM records "
		    "WHERE user_id = ?1 AND version > ?2 AND collection IN "
		    "(SELECT value FROM json_each(?4)) ORDER BY version "
		    "LIMIT ?3");
	if (st == NULL || buf_adds(&pull->changes, "[") == -1)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, limit + 1);
	if (collections_json != NULL)
		db_bind_text(st, 4, collections_json);
	while ((rc = db_step(db, st)) == SQLITE_ROW) {
		if (n == limit || pull->changes.len >= DB_PULL_PAGE_BYTES) {
			pull->more = 1;
			rc = SQLITE_DONE;
			break;
		}
		if ((n > 0 && buf_add(&pull->changes, ",", 1) == -1) ||
		    record_text(&pull->changes, st) == -1) {
			rc = -DB_ERROR;
			break;
		}
		pull->cursor = sqlite3_column_int64(st, 2);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return step_rc(rc) == DB_OK ? DB_ERROR : step_rc(rc);
	return buf_adds(&pull->changes, "]") == 0 ? DB_OK : DB_ERROR;
}

/* A pull writes last_pull_at at most this often per device. */
#define PULL_MARK_MS	1000

/*
 * The user's purge floor and, when it is due, the device's last pull
 * time to write (*mark set); one indexed read.
 */
static int
pull_floor(struct db *db, int64_t user_id, const char *device_id,
    int64_t now, struct db_pull *pull, int *mark)
{
	sqlite3_stmt	*st;
	int		 rc;

	*mark = 0;
	st = db_prepare(db, "SELECT u.purge_floor, d.id IS NOT NULL, "
	    "d.last_pull_at FROM users u LEFT JOIN devices d ON "
	    "d.user_id = u.id AND d.id = ?2 WHERE u.id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW) {
		pull->floor = sqlite3_column_int64(st, 0);
		*mark = sqlite3_column_int(st, 1) &&
		    (sqlite3_column_type(st, 2) == SQLITE_NULL ||
		    sqlite3_column_int64(st, 2) + PULL_MARK_MS <= now);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? DB_NOTFOUND : step_rc(rc);
}

/*
 * Note the pull in devices.last_pull_at.  Pulls are reads, the cheapest
 * requests there are, so this write is taken at most once a PULL_MARK_MS
 * per device; it is best effort (a busy database does not fail a pull).
 */
static void
pull_mark(struct db *db, int64_t user_id, const char *device_id, int64_t now)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "UPDATE devices SET last_pull_at = ?3 WHERE "
	    "user_id = ?1 AND id = ?2 AND (last_pull_at IS NULL OR "
	    "last_pull_at < ?3)");
	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	(void)db_exec(db, st);
}

/*
 * One page of changes after since for device_id, in version order, one
 * row per record in its latest state.  collections_json is a JSON array
 * of names to keep, or NULL for all.  The purge floor and the page are
 * read in one read transaction, one snapshot: since > 0 below the floor
 * is pull->expired (410), and a last page (no more) whose cursor would
 * fall below the floor ends at the floor instead, since nothing between
 * them exists, and a cursor below it would only ever earn 410s.
 */
int
db_records_pull(struct db *db, int64_t user_id, const char *device_id,
    int64_t since, const char *collections_json, int64_t limit, int64_t now,
    struct db_pull *pull)
{
	int	 rc, mark = 0;

	memset(pull, 0, sizeof(*pull));
	buf_init(&pull->changes, 0);
	pull->cursor = since;
	if ((rc = read_begin(db)) != DB_OK)
		return rc;
	if ((rc = pull_floor(db, user_id, device_id, now, pull, &mark)) !=
	    DB_OK)
		goto out;
	if (since > 0 && since < pull->floor) {
		pull->expired = 1;
		goto out;
	}
	if ((rc = pull_page(db, user_id, since, collections_json, limit,
	    pull)) != DB_OK)
		goto out;
	if (!pull->more && pull->cursor > 0 && pull->cursor < pull->floor)
		pull->cursor = pull->floor;
out:
	read_end(db);
	if (rc != DB_OK)
		buf_release(&pull->changes);
	else if (mark && !pull->expired)
		pull_mark(db, user_id, device_id, now);
	return rc;
}

/* Free a pull page's text. */
void
db_pull_release(struct db_pull *pull)
{
	buf_release(&pull->changes);
}

/*
 * The user's newest version: of any record, or the purge floor when that
 * is newer (so that it is always a valid `since`); 0 when there is none.
 */
int
db_sync_cursor(struct db *db, int64_t user_id, int64_t *cursor)
{
	sqlite3_stmt	*st;
	int		 rc;

	*cursor = 0;
	st = db_prepare(db, "SELECT MAX(COALESCE((SELECT MAX(version) FROM "
	    "records WHERE user_id = ?1), 0), purge_floor) FROM users "
	    "WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW)
		*cursor = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? DB_NOTFOUND : step_rc(rc);
}

static json_t *
collection_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:I, s:I, s:I}",
	    "name", (const char *)sqlite3_column_text(st, 0),
	    "records", (json_int_t)sqlite3_column_int64(st, 1),
	    "tombstones", (json_int_t)sqlite3_column_int64(st, 2),
	    "last_version", (json_int_t)sqlite3_column_int64(st, 3));
}

/*
 * The user's collections: {name, records (live), tombstones,
 * last_version (the newest write)}, by name, from the counts every write
 * keeps.  A collection is listed while it holds any record or tombstone.
 */
int
db_collections_list(struct db *db, int64_t user_id, json_t **out)
{
	sqlite3_stmt	*st;

	*out = NULL;
	st = db_prepare(db, "SELECT name, records, tombstones, last_version "
	    "FROM collections WHERE user_id = ?1 AND records + tombstones > 0 "
	    "ORDER BY name");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	return rows_json(db, st, collection_json, out);
}

static json_t *
sync_device_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:o, s:o}",
	    "id", (const char *)sqlite3_column_text(st, 0),
	    "last_push_at", col_int_or_null(st, 1),
	    "last_pull_at", col_int_or_null(st, 2));
}

/* The user's active devices with their last push and pull times. */
int
db_sync_devices(struct db *db, int64_t user_id, json_t **out)
{
	sqlite3_stmt	*st;

	*out = NULL;
	st = db_prepare(db, "SELECT id, last_push_at, last_pull_at FROM "
	    "devices WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	return rows_json(db, st, sync_device_json, out);
}

/* Note a push by the device (inside the push's transaction). */
int
db_device_push_mark(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "UPDATE devices SET last_push_at = ?3 WHERE "
	    "user_id = ?1 AND id = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, device_id);
	sqlite3_bind_int64(st, 3, now);
	return db_exec(db, st);
}

/*
 * Store a conflict: the client's side as given, the server's as the
 * record stands now (version 0, deleted, no data when there is none).
 * The same change from the same device against the same server version
 * (a retried push) finds the open conflict it stored before instead of
 * storing another.  The conflict id goes to *id; *created tells whether
 * it is new.
 */
int
db_conflict_add(struct db *db, int64_t user_id,
    const struct db_conflict_new *c, int64_t *id, int *created)
{
	sqlite3_stmt	*st;
	int		 rc;

	*created = 0;
	st = db_prepare(db, "SELECT id FROM conflicts WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 AND status = 'open' AND "
	    "device_id IS ?4 AND base_version = ?5 AND client_data IS ?6 AND "
	    "client_deleted = ?7 AND server_version = COALESCE((SELECT "
	    "version FROM records WHERE user_id = ?1 AND collection = ?2 AND "
	    "record_id = ?3), 0) ORDER BY id LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, c->collection, c->id);
	db_bind_text(st, 4, c->device_id);
	sqlite3_bind_int64(st, 5, c->base_version);
	db_bind_text(st, 6, c->data);
	sqlite3_bind_int(st, 7, c->data == NULL);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return DB_OK;
	if (rc != SQLITE_DONE)
		return step_rc(rc);

	st = db_prepare(db, "INSERT INTO conflicts (user_id, collection, "
	    "record_id, device_id, created_at, base_version, client_data, "
	    "client_deleted, client_modified_at, server_version, server_data, "
	    "server_deleted, server_modified_at) SELECT ?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, COALESCE(r.version, 0), r.data, "
	    "COALESCE(r.deleted, 1), r.modified_at FROM (SELECT 1) "
	    "LEFT JOIN records r ON r.user_id = ?1 AND r.collection = ?2 AND "
	    "r.record_id = ?3 RETURNING id");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, user_id, c->collection, c->id);
	db_bind_text(st, 4, c->device_id);
	sqlite3_bind_int64(st, 5, c->created_at);
	sqlite3_bind_int64(st, 6, c->base_version);
	db_bind_text(st, 7, c->data);
	sqlite3_bind_int(st, 8, c->data == NULL);
	sqlite3_bind_int64(st, 9, c->modified_at);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*created = 1;
		rc = DB_OK;
	} else
		rc = rc == SQLITE_DONE ? DB_ERROR : -rc;
	sqlite3_reset(st);
	return rc;
}

/* Load what resolve needs of a conflict; DB_NOTFOUND if not the user's. */
int
db_conflict_load(struct db *db, int64_t user_id, int64_t id,
    struct db_conflict *c)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(c, 0, sizeof(*c));
	st = db_prepare(db, "SELECT collection, record_id, status, "
	    "server_version, server_data, server_deleted, client_data, "
	    "client_deleted FROM conflicts WHERE id = ?2 AND user_id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, id);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		c->id = id;
		c->collection = db_col_dup(st, 0);
		c->record_id = db_col_dup(st, 1);
		c->resolved = strcmp((const char *)sqlite3_column_text(st, 2),
		    "open") != 0;
		c->server_version = sqlite3_column_int64(st, 3);
		c->server_data = db_col_dup(st, 4);
		c->server_deleted = sqlite3_column_int(st, 5) != 0;
		c->client_data = db_col_dup(st, 6);
		c->client_deleted = sqlite3_column_int(st, 7) != 0;
		rc = c->collection != NULL && c->record_id != NULL &&
		    (c->server_data != NULL || c->server_deleted) &&
		    (c->client_data != NULL || c->client_deleted) ?
		    DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	if (rc != DB_OK)
		db_conflict_release(c);
	return rc;
}

/* Free what db_conflict_load allocated (not the struct). */
void
db_conflict_release(struct db_conflict *c)
{
	free(c->collection);
	free(c->record_id);
	free(c->server_data);
	free(c->client_data);
	memset(c, 0, sizeof(*c));
}

/* A conflict as the API shows it; DB_NOTFOUND if not the user's. */
int
db_conflict_get(struct db *db, int64_t user_id, int64_t id, json_t **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	*out = NULL;
	st = db_prepare(db, "SELECT " CONFLICT_COLS " FROM conflicts "
	    "WHERE id = ?2 AND user_id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, id);
	if ((rc = db_step_row(db, st)) == DB_OK) {
		*out = conflict_json(st);
		rc = *out != NULL ? DB_OK : DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/* The user's conflicts by id, filtered by status and collection (or NULL). */
int
db_conflicts_list(struct db *db, int64_t user_id,
    enum db_conflict_filter filter, const char *collection, json_t **out)
{
	static const char *const status[DB_CONFLICTS__MAX] = {
		"open", "resolved", NULL
	};
	sqlite3_stmt	*st;

	*out = NULL;
	st = db_prepare(db, "SELECT " CONFLICT_COLS " FROM conflicts "
	    "WHERE user_id = ?1 AND (?2 IS NULL OR status = ?2) AND "
	    "(?3 IS NULL OR collection = ?3) ORDER BY id");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, filter < DB_CONFLICTS__MAX ? status[filter] :
	    NULL);
	db_bind_text(st, 3, collection);
	return rows_json(db, st, conflict_json, out);
}

int
db_conflicts_open_count(struct db *db, int64_t user_id, int64_t *n)
{
	sqlite3_stmt	*st;
	int		 rc;

	*n = 0;
	st = db_prepare(db, "SELECT COUNT(*) FROM conflicts WHERE "
	    "user_id = ?1 AND status = 'open'");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	rc = db_step(db, st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return step_rc(rc);
}

/*
 * Mark an open conflict resolved (inside the caller's transaction).
 * DB_NOTFOUND when it is not open any more.
 */
int
db_conflict_mark_resolved(struct db *db, int64_t user_id, int64_t id,
    const char *resolution, const char *device_id, int64_t now,
    int64_t version)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "UPDATE conflicts SET status = 'resolved', "
	    "resolved_at = ?3, resolution = ?4, resolved_by = ?5, "
	    "resolved_version = ?6 WHERE id = ?2 AND user_id = ?1 AND "
	    "status = 'open'");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, now);
	db_bind_text(st, 4, resolution);
	db_bind_text(st, 5, device_id);
	sqlite3_bind_int64(st, 6, version);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	return sqlite3_changes(db->conn) == 1 ? DB_OK : DB_NOTFOUND;
}

static json_t *
export_device_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}",
	    "id", (const char *)sqlite3_column_text(st, 0),
	    "platform", (const char *)sqlite3_column_text(st, 1),
	    "name", (const char *)sqlite3_column_text(st, 2),
	    "created_at", (json_int_t)sqlite3_column_int64(st, 3),
	    "last_seen_at", col_int_or_null(st, 4),
	    "revoked_at", col_int_or_null(st, 5),
	    "last_push_at", col_int_or_null(st, 6),
	    "last_pull_at", col_int_or_null(st, 7));
}

static json_t *
export_user_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:I}",
	    "id", (const char *)sqlite3_column_text(st, 0),
	    "email", (const char *)sqlite3_column_text(st, 1),
	    "created_at", (json_int_t)sqlite3_column_int64(st, 2));
}

/*
 * Fill doc with the user's data, every part read in the same snapshot:
 * user, devices (revoked ones included; push tokens left out), records
 * (tombstones included, in version order), conflicts and sessions (with
 * their messages, from db_sessions_export).
 */
static int
export_fill(struct db *db, int64_t user_id, json_t *doc)
{
	sqlite3_stmt	*st;
	json_t		*v = NULL, *sessions;
	int		 rc;

	st = db_prepare(db, "SELECT public_id, email, created_at FROM users "
	    "WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = rows_json(db, st, export_user_json, &v)) != DB_OK)
		return rc;
	if (json_array_size(v) != 1) {
		json_decref(v);
		return DB_NOTFOUND;
	}
	json_object_set(doc, "user", json_array_get(v, 0));
	json_decref(v);

	st = db_prepare(db, "SELECT id, platform, name, created_at, "
	    "last_seen_at, revoked_at, last_push_at, last_pull_at FROM devices "
	    "WHERE user_id = ?1 ORDER BY created_at, id");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = rows_json(db, st, export_device_json, &v)) != DB_OK)
		return rc;
	json_object_set_new(doc, "devices", v);

	st = db_prepare(db, "SELECT " RECORD_COLS " FROM records WHERE "
	    "user_id = ?1 ORDER BY version");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = rows_json(db, st, record_json, &v)) != DB_OK)
		return rc;
	json_object_set_new(doc, "records", v);

	if ((rc = db_conflicts_list(db, user_id, DB_CONFLICTS_ALL, NULL,
	    &v)) != DB_OK)
		return rc;
	json_object_set_new(doc, "conflicts", v);

	if ((sessions = db_sessions_export(db, user_id)) == NULL)
		return DB_ERROR;
	json_object_set_new(doc, "sessions", sessions);
	return DB_OK;
}

/*
 * The export document without exported_at: {user, devices, records,
 * conflicts, sessions}, read inside one read transaction so that it is
 * one consistent snapshot.
 */
int
db_sync_export(struct db *db, int64_t user_id, json_t **out)
{
	json_t	*doc;
	int	 rc;

	*out = NULL;
	if ((doc = json_object()) == NULL)
		return DB_ERROR;
	if ((rc = read_begin(db)) != DB_OK) {
		json_decref(doc);
		return rc;
	}
	rc = export_fill(db, user_id, doc);
	read_end(db);
	if (rc != DB_OK) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return DB_OK;
}

/* Tombstones purged per sweep pass at most (one transaction). */
#define SWEEP_BATCH	1000

struct tombstone {
	int64_t		 user_id;
	char		*collection;
	char		*record_id;
	int64_t		 version;
};

static void
tombstones_free(struct tombstone *t, size_t n)
{
	size_t	 i;

	if (t == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(t[i].collection);
		free(t[i].record_id);
	}
	free(t);
}

/* Purge one tombstone and its history; raise its user's purge floor. */
static int
tombstone_purge(struct db *db, const struct tombstone *t)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = db_prepare(db, "DELETE FROM revisions WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, t->user_id, t->collection, t->record_id);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	st = db_prepare(db, "DELETE FROM records WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 AND version = ?4 AND "
	    "deleted = 1");
	if (st == NULL)
		return DB_ERROR;
	bind_key(st, t->user_id, t->collection, t->record_id);
	sqlite3_bind_int64(st, 4, t->version);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	if (sqlite3_changes(db->conn) == 0)
		return DB_OK;	/* re-created meanwhile: not purged */
	st = db_prepare(db, "UPDATE collections SET tombstones = "
	    "tombstones - 1 WHERE user_id = ?1 AND name = ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, t->user_id);
	db_bind_text(st, 2, t->collection);
	if ((rc = db_exec(db, st)) != DB_OK)
		return rc;
	st = db_prepare(db, "UPDATE users SET purge_floor = ?2 WHERE "
	    "id = ?1 AND purge_floor < ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, t->user_id);
	sqlite3_bind_int64(st, 2, t->version);
	return db_exec(db, st);
}

/*
 * Sweeper: purge tombstones older than TANDEM_TOMBSTONE_DAYS (their
 * version is the server clock of the delete, in microseconds), with the
 * revision history of their records, and raise each user's purge floor
 * to the newest version purged, all in one transaction per pass of at
 * most SWEEP_BATCH tombstones (the oldest first).  A pull whose `since`
 * is below the floor may have missed a purged delete: 410 CURSOR_EXPIRED.
 */
int
db_sync_sweep(struct db *db, int64_t now)
{
	sqlite3_stmt	*st;
	struct tombstone *t = NULL;
	size_t		 n = 0, i;
	int64_t		 cutoff;
	int		 rc, pass;

	cutoff = (now - cfg.tombstone_days * 86400000) * 1000;
	/* the common case, nothing to purge, without taking the write lock */
	st = db_prepare(db, "SELECT 1 FROM records WHERE deleted = 1 AND "
	    "version < ?1 LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, cutoff);
	rc = db_step(db, st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return step_rc(rc);
	for (pass = 0; pass < 10; pass++) {
		if ((rc = db_begin(db)) != DB_OK)
			return rc;
		if ((t = calloc(SWEEP_BATCH, sizeof(*t))) == NULL) {
			rc = DB_ERROR;
			goto fail;
		}
		st = db_prepare(db, "SELECT user_id, collection, record_id, "
		    "version FROM records WHERE deleted = 1 AND version < ?1 "
		    "ORDER BY version LIMIT ?2");
		if (st == NULL) {
			rc = DB_ERROR;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, SWEEP_BATCH);
		n = 0;
		while ((rc = db_step(db, st)) == SQLITE_ROW) {
			t[n].user_id = sqlite3_column_int64(st, 0);
			t[n].collection = db_col_dup(st, 1);
			t[n].record_id = db_col_dup(st, 2);
			t[n].version = sqlite3_column_int64(st, 3);
			n++;
			if (t[n - 1].collection == NULL ||
			    t[n - 1].record_id == NULL) {
				rc = -DB_ERROR;
				break;
			}
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			rc = step_rc(rc) == DB_OK ? DB_ERROR : step_rc(rc);
			goto fail;
		}
		for (i = 0; i < n; i++)
			if ((rc = tombstone_purge(db, &t[i])) != DB_OK)
				goto fail;
		if ((rc = db_commit(db)) != DB_OK)
			goto fail_committed;
		if (n > 0)
			log_json(LOG_INFO, "tombstones purged", json_pack(
			    "{s:I}", "count", (json_int_t)n));
		tombstones_free(t, n);
		t = NULL;
		if (n < SWEEP_BATCH)
			break;
	}
	return DB_OK;
fail:
	db_rollback(db);
fail_committed:
	tombstones_free(t, SWEEP_BATCH);
	return rc;
}
