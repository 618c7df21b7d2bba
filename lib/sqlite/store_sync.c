/*
 * SQLite store: records (latest state and tombstones), their bounded
 * revision history, per-collection counts, usage, conflicts and the
 * tombstone purge (migrations/sqlite/0003_sync.sql, 0005).  SQL only:
 * the decisions are lib/sync_rules.c's, the operations handlers/sync.c's
 * and handlers/conflicts.c's.
 *
 * Stored data is canonical JSON text (RFC 8785), so a record's checksum
 * is the SHA-256 of exactly what is stored and a pull sends it as it is.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sqlite.h"
#include "store_fns.h"

/* The columns of a record, in record_read()'s order. */
#define RECORD_COLS "collection, record_id, version, data, deleted, " \
	"modified_at, device_id, checksum, service"

#define CONFLICT_COLS "id, collection, record_id, device_id, status, " \
	"created_at, base_version, client_data, client_deleted, " \
	"client_modified_at, server_version, server_data, server_deleted, " \
	"server_modified_at, resolved_at, resolution"

/* A tombstone's data counts as its canonical text, "null". */
#define TOMBSTONE_BYTES	4

static void
record_read(sqlite3_stmt *st, struct record_row *r, int dup)
{
	const char	*data = (const char *)sqlite3_column_text(st, 3);

	memset(r, 0, sizeof(*r));
	sq_col_copy(r->collection, sizeof(r->collection), st, 0);
	sq_col_copy(r->id, sizeof(r->id), st, 1);
	r->version = sqlite3_column_int64(st, 2);
	r->data_len = data != NULL ? (size_t)sqlite3_column_bytes(st, 3) : 0;
	r->data = data == NULL ? NULL : dup ? strdup(data) : (char *)data;
	r->deleted = sqlite3_column_int(st, 4) != 0;
	r->modified_at = sqlite3_column_int64(st, 5);
	sq_col_copy(r->device_id, sizeof(r->device_id), st, 6);
	sq_col_copy(r->checksum, sizeof(r->checksum), st, 7);
	sq_col_copy(r->service, sizeof(r->service), st, 8);
}

/* What push decisions need of a stored record (exists 0 when absent). */
int
sq_record_state(struct db *db, int64_t user_id, const char *collection,
    const char *id, struct record_state *s)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(s, 0, sizeof(*s));
	st = sq_prepare(db, "SELECT version, deleted, modified_at, checksum, "
	    "coalesce(length(CAST(data AS BLOB)), 4) FROM records "
	    "WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, collection, id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		s->exists = 1;
		s->version = sqlite3_column_int64(st, 0);
		s->deleted = sqlite3_column_int(st, 1) != 0;
		s->modified_at = sqlite3_column_int64(st, 2);
		sq_col_copy(s->checksum, sizeof(s->checksum), st, 3);
		s->bytes = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	return rc == DB_NOTFOUND ? DB_OK : rc;
}

/* A record (tombstones included); DB_NOTFOUND when never written. */
int
sq_record_get(struct db *db, int64_t user_id, const char *collection,
    const char *id, struct record_row *r)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(r, 0, sizeof(*r));
	st = sq_prepare(db, "SELECT " RECORD_COLS " FROM records "
	    "WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, collection, id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		record_read(st, r, 1);
		if (!r->deleted && r->data == NULL)
			rc = DB_ERROR;
	}
	sqlite3_reset(st);
	return rc;
}

/* The text of column 0 of a one-row statement into *data (free it). */
static int
text_of(struct db *db, sqlite3_stmt *st, char **data)
{
	int	 rc;

	*data = NULL;
	if ((rc = sq_one(db, st)) == DB_OK &&
	    (*data = sq_col_dup(st, 0)) == NULL)
		rc = DB_ERROR;
	if (st != NULL)
		sqlite3_reset(st);
	return rc;
}

/* A live record's data text; DB_NOTFOUND when absent or deleted. */
int
sq_record_data(struct db *db, int64_t user_id, const char *collection,
    const char *id, char **data)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT data FROM records WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 AND deleted = 0");
	if (st != NULL)
		sq_bind_key(st, user_id, collection, id);
	return text_of(db, st, data);
}

/*
 * The data of a kept previous revision (the base of a merge);
 * DB_NOTFOUND when that version is no longer kept or was a tombstone.
 */
int
sq_revision_data(struct db *db, int64_t user_id, const char *collection,
    const char *id, int64_t version, char **data)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT data FROM revisions WHERE user_id = ?1 "
	    "AND collection = ?2 AND record_id = ?3 AND version = ?4 AND "
	    "deleted = 0");
	if (st != NULL) {
		sq_bind_key(st, user_id, collection, id);
		sqlite3_bind_int64(st, 4, version);
	}
	return text_of(db, st, data);
}

/*
 * The counters an operation changes (collections' records, tombstones
 * and newest version; users' usage), applied once per collection and
 * user when the operation ends (db_defer) instead of once per record: a
 * push of 100 records into one collection is one upsert, not 100.
 */
struct count_delta {
	int64_t		 user_id;
	char		 name[DB_COLL_CAP];	/* "": the user's usage */
	int64_t		 records;
	int64_t		 tombstones;
	int64_t		 last_version;
	int64_t		 bytes;
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

	if (d == NULL)
		return;
	free(d->v);
	free(d);
}

static int
count_deltas_flush(struct db *db, void *arg)
{
	struct count_deltas *d = arg;
	struct count_delta *e;
	sqlite3_stmt	*st;
	size_t		 i;
	int		 rc;

	for (i = 0; i < d->len; i++) {
		e = &d->v[i];
		if (e->name[0] == '\0') {
			st = sq_prepare(db, "UPDATE users SET usage_bytes = "
			    "usage_bytes + ?2, usage_records = usage_records + "
			    "?3 WHERE id = ?1");
			if (st == NULL)
				return DB_ERROR;
			sqlite3_bind_int64(st, 1, e->user_id);
			sqlite3_bind_int64(st, 2, e->bytes);
			sqlite3_bind_int64(st, 3, e->records);
		} else {
			st = sq_prepare(db, "INSERT INTO collections (user_id, "
			    "name, records, tombstones, last_version) "
			    "VALUES (?1, ?2, ?3, ?4, ?5) "
			    "ON CONFLICT (user_id, name) DO UPDATE SET "
			    "records = records + excluded.records, "
			    "tombstones = tombstones + excluded.tombstones, "
			    "last_version = MAX(last_version, "
			    "excluded.last_version)");
			if (st == NULL)
				return DB_ERROR;
			sqlite3_bind_int64(st, 1, e->user_id);
			sq_bind_text(st, 2, e->name);
			sqlite3_bind_int64(st, 3, e->records);
			sqlite3_bind_int64(st, 4, e->tombstones);
			sqlite3_bind_int64(st, 5, e->last_version);
		}
		if ((rc = sq_exec(db, st)) != DB_OK)
			return rc;
	}
	return DB_OK;
}

/* The deferred entry of (user, name) ("" for usage), made when absent. */
static struct count_delta *
count_entry(struct db *db, int64_t user_id, const char *name)
{
	struct count_deltas *d = db_deferred(db, count_deltas_flush);
	struct count_delta *v;
	size_t		 i, cap;

	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return NULL;
		db_defer(db, count_deltas_flush, count_deltas_free, d);
	}
	for (i = 0; i < d->len; i++)
		if (d->v[i].user_id == user_id &&
		    strcmp(d->v[i].name, name) == 0)
			return &d->v[i];
	if (d->len == d->cap) {
		cap = d->cap ? d->cap * 2 : 4;
		if ((v = reallocarray(d->v, cap, sizeof(*v))) == NULL)
			return NULL;
		d->v = v;
		d->cap = cap;
	}
	v = &d->v[d->len++];
	memset(v, 0, sizeof(*v));
	v->user_id = user_id;
	snprintf(v->name, sizeof(v->name), "%s", name);
	return v;
}

/* Count a record write or purge in its collection and the user's usage. */
static int
count(struct db *db, int64_t user_id, const char *collection,
    int64_t records, int64_t tombstones, int64_t version, int64_t bytes,
    int64_t usage_records)
{
	struct count_delta *c, *u;

	if ((c = count_entry(db, user_id, collection)) == NULL ||
	    (u = count_entry(db, user_id, "")) == NULL)
		return DB_ERROR;
	c->records += records;
	c->tombstones += tombstones;
	if (version > c->last_version)
		c->last_version = version;
	u->bytes += bytes;
	u->records += usage_records;
	return DB_OK;
}

/*
 * Write a record as its new version w->version (inside the caller's
 * transaction): move the stored state (old, as record_state read it in
 * this transaction) into the revision history, keep the newest
 * w->history_keep revisions, store the new state, and count it in its
 * collection and the user's usage.
 */
int
sq_record_put(struct db *db, int64_t user_id, const struct record_write *w,
    const struct record_state *old)
{
	sqlite3_stmt	*st;
	int64_t		 bytes = w->data != NULL ? (int64_t)strlen(w->data) :
			    TOMBSTONE_BYTES;
	int		 rc, was_live, was_dead, dead = w->data == NULL;

	was_live = old->exists && !old->deleted;
	was_dead = old->exists && old->deleted;
	if ((rc = count(db, user_id, w->collection, !dead - was_live,
	    dead - was_dead, w->version, bytes - (old->exists ? old->bytes :
	    0), !old->exists)) != DB_OK)
		return rc;
	if (old->exists) {
		st = sq_prepare(db, "INSERT INTO revisions (user_id, "
		    "collection, record_id, version, data, deleted, "
		    "modified_at, device_id, service) SELECT user_id, "
		    "collection, record_id, version, data, deleted, "
		    "modified_at, device_id, service FROM records "
		    "WHERE user_id = ?1 AND collection = ?2 AND "
		    "record_id = ?3");
		if (st == NULL)
			return DB_ERROR;
		sq_bind_key(st, user_id, w->collection, w->id);
		if ((rc = sq_exec(db, st)) != DB_OK)
			return rc;
		st = sq_prepare(db, "DELETE FROM revisions WHERE user_id = ?1 "
		    "AND collection = ?2 AND record_id = ?3 AND version <= "
		    "(SELECT version FROM revisions WHERE user_id = ?1 AND "
		    "collection = ?2 AND record_id = ?3 ORDER BY version DESC "
		    "LIMIT 1 OFFSET ?4)");
		if (st == NULL)
			return DB_ERROR;
		sq_bind_key(st, user_id, w->collection, w->id);
		sqlite3_bind_int64(st, 4, w->history_keep);
		if ((rc = sq_exec(db, st)) != DB_OK)
			return rc;
		st = sq_prepare(db, "UPDATE records SET version = ?4, "
		    "data = ?5, deleted = ?6, modified_at = ?7, "
		    "device_id = ?8, checksum = ?9, service = ?10 "
		    "WHERE user_id = ?1 AND collection = ?2 AND "
		    "record_id = ?3");
	} else
		st = sq_prepare(db, "INSERT INTO records (user_id, collection, "
		    "record_id, version, data, deleted, modified_at, "
		    "device_id, checksum, service) VALUES (?1, ?2, ?3, ?4, ?5, "
		    "?6, ?7, ?8, ?9, ?10)");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, w->collection, w->id);
	sqlite3_bind_int64(st, 4, w->version);
	sq_bind_text(st, 5, w->data);
	sqlite3_bind_int(st, 6, dead);
	sqlite3_bind_int64(st, 7, w->modified_at);
	sq_bind_text(st, 8, w->device_id);
	sq_bind_text(st, 9, w->checksum);
	sq_bind_text(st, 10, w->service);
	return sq_exec(db, st);
}

/* Call cb for each row of st (RECORD_COLS), borrowing the text. */
static int
records_run(struct db *db, sqlite3_stmt *st, record_cb cb, void *arg)
{
	struct record_row r;
	int		 rc, row;

	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		record_read(st, &r, 0);
		if ((rc = cb(arg, &r)) != DB_OK)
			break;
	}
	if (st != NULL)
		sqlite3_reset(st);
	return sq_iter_rc(rc);
}

/*
 * The records written after `since`, in version order, each in its
 * latest state, at most limit, in the given collections (none: all).
 */
int
sq_records_pull(struct db *db, int64_t user_id, int64_t since,
    const char *const *collections, size_t ncollections, int64_t limit,
    record_cb cb, void *arg)
{
	sqlite3_stmt	*st;
	json_t		*names = NULL;
	char		*text = NULL;
	size_t		 i;
	int		 rc;

	if (ncollections == 0)
		st = sq_prepare(db, "SELECT " RECORD_COLS " FROM records "
		    "WHERE user_id = ?1 AND version > ?2 ORDER BY version "
		    "LIMIT ?3");
	else {
		/* the names as a JSON array, for json_each */
		if ((names = json_array()) == NULL)
			return DB_ERROR;
		for (i = 0; i < ncollections; i++)
			json_array_append_new(names,
			    json_string(collections[i]));
		text = json_dumps(names, JSON_COMPACT);
		json_decref(names);
		if (text == NULL)
			return DB_ERROR;
		st = sq_prepare(db, "SELECT " RECORD_COLS " FROM records "
		    "WHERE user_id = ?1 AND version > ?2 AND collection IN "
		    "(SELECT value FROM json_each(?4)) ORDER BY version "
		    "LIMIT ?3");
	}
	if (st == NULL) {
		free(text);
		return DB_ERROR;
	}
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, limit);
	if (text != NULL)
		sq_bind_text(st, 4, text);
	rc = records_run(db, st, cb, arg);
	free(text);
	return rc;
}

/* Every record of the user, tombstones included, in version order. */
int
sq_records_each(struct db *db, int64_t user_id, record_cb cb, void *arg)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT " RECORD_COLS " FROM records WHERE "
	    "user_id = ?1 ORDER BY version");
	if (st != NULL)
		sqlite3_bind_int64(st, 1, user_id);
	return records_run(db, st, cb, arg);
}

/* The record's kept previous revisions, newest first, at most limit. */
int
sq_revisions_list(struct db *db, int64_t user_id, const char *collection,
    const char *id, int64_t limit, revision_cb cb, void *arg)
{
	struct revision_row r;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT version, data, deleted, modified_at, "
	    "device_id, service FROM revisions WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 ORDER BY version DESC "
	    "LIMIT ?4");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, collection, id);
	sqlite3_bind_int64(st, 4, limit);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		memset(&r, 0, sizeof(r));
		r.version = sqlite3_column_int64(st, 0);
		r.data = (char *)sqlite3_column_text(st, 1);
		r.deleted = sqlite3_column_int(st, 2) != 0;
		r.modified_at = sqlite3_column_int64(st, 3);
		sq_col_copy(r.device_id, sizeof(r.device_id), st, 4);
		sq_col_copy(r.service, sizeof(r.service), st, 5);
		if ((rc = cb(arg, &r)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}

/* The user's purge floor and the device's last pull; DB_NOTFOUND: user. */
int
sq_pull_state(struct db *db, int64_t user_id, const char *device_id,
    struct pull_state *p)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(p, 0, sizeof(*p));
	st = sq_prepare(db, "SELECT u.purge_floor, d.id IS NOT NULL, "
	    "d.last_pull_at FROM users u LEFT JOIN devices d ON "
	    "d.user_id = u.id AND d.id = ?2 WHERE u.id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, device_id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		p->purge_floor = sqlite3_column_int64(st, 0);
		p->device_known = sqlite3_column_int(st, 1);
		p->last_pull_at = sq_col_time(st, 2);
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * The user's newest version: of any record, or the purge floor when that
 * is newer (so that it is always a valid `since`); 0 when there is none.
 */
int
sq_sync_cursor(struct db *db, int64_t user_id, int64_t *cursor)
{
	sqlite3_stmt	*st;
	int		 rc;

	*cursor = 0;
	st = sq_prepare(db, "SELECT MAX(COALESCE((SELECT MAX(version) FROM "
	    "records WHERE user_id = ?1), 0), purge_floor) FROM users "
	    "WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = sq_one(db, st)) == DB_OK)
		*cursor = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc;
}

/* The user's collections holding anything, by name, from the counters. */
int
sq_collections_list(struct db *db, int64_t user_id, collection_cb cb,
    void *arg)
{
	struct collection_row c;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT name, records, tombstones, last_version "
	    "FROM collections WHERE user_id = ?1 AND records + tombstones > 0 "
	    "ORDER BY name");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		sq_col_copy(c.name, sizeof(c.name), st, 0);
		c.records = sqlite3_column_int64(st, 1);
		c.tombstones = sqlite3_column_int64(st, 2);
		c.last_version = sqlite3_column_int64(st, 3);
		if ((rc = cb(arg, &c)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}

/* The user's usage: bytes of data and bodies, records with tombstones. */
int
sq_usage_get(struct db *db, int64_t user_id, int64_t *bytes,
    int64_t *records)
{
	sqlite3_stmt	*st;
	int		 rc;

	*bytes = *records = 0;
	st = sq_prepare(db, "SELECT usage_bytes, usage_records FROM users "
	    "WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		*bytes = sqlite3_column_int64(st, 0);
		*records = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc;
}

/* Add to the user's usage (message bodies; records count themselves). */
int
sq_usage_add(struct db *db, int64_t user_id, int64_t bytes, int64_t records)
{
	struct count_delta *u;

	if ((u = count_entry(db, user_id, "")) == NULL)
		return DB_ERROR;
	u->bytes += bytes;
	u->records += records;
	return DB_OK;
}

/*
 * Tombstones whose version is older than before_version, oldest first,
 * at most limit, across users (the sweeper's purge).
 */
int
sq_tombstones_old(struct db *db, int64_t before_version, int64_t limit,
    tombstone_cb cb, void *arg)
{
	struct tombstone_key *v = NULL;
	sqlite3_stmt	*st;
	size_t		 n = 0, i;
	int		 rc, row;

	if (limit <= 0 || (v = calloc((size_t)limit, sizeof(*v))) == NULL)
		return DB_ERROR;
	st = sq_prepare(db, "SELECT user_id, collection, record_id, version "
	    "FROM records WHERE deleted = 1 AND version < ?1 "
	    "ORDER BY version LIMIT ?2");
	if (st == NULL) {
		free(v);
		return DB_ERROR;
	}
	sqlite3_bind_int64(st, 1, before_version);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row &&
	    n < (size_t)limit) {
		v[n].user_id = sqlite3_column_int64(st, 0);
		sq_col_copy(v[n].collection, sizeof(v[n].collection), st, 1);
		sq_col_copy(v[n].record_id, sizeof(v[n].record_id), st, 2);
		v[n].version = sqlite3_column_int64(st, 3);
		n++;
	}
	sqlite3_reset(st);
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = cb(arg, &v[i]);
	free(v);
	return sq_iter_rc(rc);
}

/*
 * Purge one tombstone and its history, raising its user's purge floor to
 * its version.  DB_NOTFOUND when it was re-created meanwhile.
 */
int
sq_tombstone_purge(struct db *db, const struct tombstone_key *t)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = sq_prepare(db, "DELETE FROM records WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 AND version = ?4 AND "
	    "deleted = 1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, t->user_id, t->collection, t->record_id);
	sqlite3_bind_int64(st, 4, t->version);
	if ((rc = sq_exec_one(db, st)) != DB_OK)
		return rc;
	st = sq_prepare(db, "DELETE FROM revisions WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, t->user_id, t->collection, t->record_id);
	if ((rc = sq_exec(db, st)) != DB_OK)
		return rc;
	if ((rc = count(db, t->user_id, t->collection, 0, -1, 0,
	    -TOMBSTONE_BYTES, -1)) != DB_OK)
		return rc;
	st = sq_prepare(db, "UPDATE users SET purge_floor = ?2 WHERE "
	    "id = ?1 AND purge_floor < ?2");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, t->user_id);
	sqlite3_bind_int64(st, 2, t->version);
	return sq_exec(db, st);
}

/*
 * The open conflict that the same change from the same device against
 * the record as it stands stored before (a retried push); DB_NOTFOUND
 * when none.
 */
int
sq_conflict_find_open(struct db *db, int64_t user_id,
    const struct conflict_new *c, int64_t *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	*id = 0;
	st = sq_prepare(db, "SELECT id FROM conflicts WHERE user_id = ?1 AND "
	    "collection = ?2 AND record_id = ?3 AND status = 'open' AND "
	    "device_id IS ?4 AND base_version = ?5 AND client_data IS ?6 AND "
	    "client_deleted = ?7 AND server_version = COALESCE((SELECT "
	    "version FROM records WHERE user_id = ?1 AND collection = ?2 AND "
	    "record_id = ?3), 0) ORDER BY id LIMIT 1");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, c->collection, c->id);
	sq_bind_text(st, 4, c->device_id);
	sqlite3_bind_int64(st, 5, c->base_version);
	sq_bind_text(st, 6, c->data);
	sqlite3_bind_int(st, 7, c->data == NULL);
	if ((rc = sq_one(db, st)) == DB_OK)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc;
}

/*
 * Store a conflict: the client's side as given, the server's as the
 * record stands now (version 0, deleted and no data when there is none).
 */
int
sq_conflict_insert(struct db *db, int64_t user_id,
    const struct conflict_new *c, int64_t *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = sq_prepare(db, "INSERT INTO conflicts (user_id, collection, "
	    "record_id, device_id, created_at, base_version, client_data, "
	    "client_deleted, client_modified_at, server_version, server_data, "
	    "server_deleted, server_modified_at) SELECT ?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, COALESCE(r.version, 0), r.data, "
	    "COALESCE(r.deleted, 1), r.modified_at FROM (SELECT 1) "
	    "LEFT JOIN records r ON r.user_id = ?1 AND r.collection = ?2 AND "
	    "r.record_id = ?3 RETURNING id");
	if (st == NULL)
		return DB_ERROR;
	sq_bind_key(st, user_id, c->collection, c->id);
	sq_bind_text(st, 4, c->device_id);
	sqlite3_bind_int64(st, 5, c->created_at);
	sqlite3_bind_int64(st, 6, c->base_version);
	sq_bind_text(st, 7, c->data);
	sqlite3_bind_int(st, 8, c->data == NULL);
	sqlite3_bind_int64(st, 9, c->modified_at);
	if ((rc = sq_one(db, st)) == DB_OK)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}

static void
conflict_read(sqlite3_stmt *st, struct conflict_row *c, int dup)
{
	const char	*cd = (const char *)sqlite3_column_text(st, 7);
	const char	*sd = (const char *)sqlite3_column_text(st, 11);

	memset(c, 0, sizeof(*c));
	c->id = sqlite3_column_int64(st, 0);
	sq_col_copy(c->collection, sizeof(c->collection), st, 1);
	sq_col_copy(c->record_id, sizeof(c->record_id), st, 2);
	sq_col_copy(c->device_id, sizeof(c->device_id), st, 3);
	c->resolved = strcmp((const char *)sqlite3_column_text(st, 4),
	    "open") != 0;
	c->created_at = sqlite3_column_int64(st, 5);
	c->base_version = sqlite3_column_int64(st, 6);
	c->client_data = cd == NULL ? NULL : dup ? strdup(cd) : (char *)cd;
	c->client_deleted = sqlite3_column_int(st, 8) != 0;
	c->client_modified_at = sqlite3_column_int64(st, 9);
	c->server_version = sqlite3_column_int64(st, 10);
	c->server_data = sd == NULL ? NULL : dup ? strdup(sd) : (char *)sd;
	c->server_deleted = sqlite3_column_int(st, 12) != 0;
	c->server_modified_at = sq_col_time(st, 13);
	c->resolved_at = sq_col_time(st, 14);
	sq_col_copy(c->resolution, sizeof(c->resolution), st, 15);
}

/* A conflict of the user; DB_NOTFOUND when not the user's. */
int
sq_conflict_get(struct db *db, int64_t user_id, int64_t id,
    struct conflict_row *c)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(c, 0, sizeof(*c));
	st = sq_prepare(db, "SELECT " CONFLICT_COLS " FROM conflicts "
	    "WHERE id = ?2 AND user_id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, id);
	if ((rc = sq_one(db, st)) == DB_OK) {
		conflict_read(st, c, 1);
		if ((c->client_data == NULL && !c->client_deleted) ||
		    (c->server_data == NULL && !c->server_deleted)) {
			conflict_row_release(c);
			rc = DB_ERROR;
		}
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * The user's conflicts by id, filtered by status and collection (NULL:
 * any), after id `after`, at most limit (0: all).
 */
int
sq_conflicts_list(struct db *db, int64_t user_id, enum conflict_filter f,
    const char *collection, int64_t after, int64_t limit, conflict_cb cb,
    void *arg)
{
	static const char *const status[CONFLICTS__MAX] = {
		"open", "resolved", NULL
	};
	struct conflict_row c;
	sqlite3_stmt	*st;
	int		 rc, row;

	st = sq_prepare(db, "SELECT " CONFLICT_COLS " FROM conflicts "
	    "WHERE user_id = ?1 AND (?2 IS NULL OR status = ?2) AND "
	    "(?3 IS NULL OR collection = ?3) AND id > ?4 ORDER BY id "
	    "LIMIT ?5");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, f < CONFLICTS__MAX ? status[f] : NULL);
	sq_bind_text(st, 3, collection);
	sqlite3_bind_int64(st, 4, after);
	sqlite3_bind_int64(st, 5, limit > 0 ? limit : -1);
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		conflict_read(st, &c, 0);
		if ((rc = cb(arg, &c)) != DB_OK)
			break;
	}
	sqlite3_reset(st);
	return sq_iter_rc(rc);
}

int
sq_conflicts_open_count(struct db *db, int64_t user_id, int64_t *n)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "SELECT COUNT(*) FROM conflicts WHERE "
	    "user_id = ?1 AND status = 'open'");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	return sq_int(db, st, n);
}

/* Mark an open conflict resolved; DB_NOTFOUND when it is not open. */
int
sq_conflict_resolve(struct db *db, int64_t user_id, int64_t id,
    const char *resolution, const char *device_id, int64_t now,
    int64_t version)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE conflicts SET status = 'resolved', "
	    "resolved_at = ?3, resolution = ?4, resolved_by = ?5, "
	    "resolved_version = ?6 WHERE id = ?2 AND user_id = ?1 AND "
	    "status = 'open'");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, now);
	sq_bind_text(st, 4, resolution);
	sq_bind_text(st, 5, device_id);
	sqlite3_bind_int64(st, 6, version);
	return sq_exec_one(db, st);
}
