/*
 * PostgreSQL store: records (latest state and tombstones), their bounded
 * revision history, per-collection counts, usage, conflicts and the
 * tombstone purge (migrations/postgres/0003_sync.sql).  SQL only: the
 * decisions are lib/sync_rules.c's, the operations handlers/sync.c's and
 * handlers/conflicts.c's.
 *
 * Inside a write transaction every function first locks the user's row
 * (pg_user_lock), which is also the user's clock: a push reads the base
 * versions, the usage and the open conflicts it decides on with no
 * other writer of the user in between, and its versions are unique and
 * in commit order.  Pages are streamed row by row (pgq_each), so neither
 * a pull nor an export holds its whole result.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pg.h"
#include "store_fns.h"

#define RECORD_COLS "collection, record_id, version, data, deleted, " \
	"modified_at, device_id, checksum, service"

#define CONFLICT_COLS "id, collection, record_id, device_id, status, " \
	"created_at, base_version, client_data, client_deleted, " \
	"client_modified_at, server_version, server_data, server_deleted, " \
	"server_modified_at, resolved_at, resolution"

/* A tombstone's data counts as its canonical text, "null". */
#define TOMBSTONE_BYTES	4

static void
record_read(const struct pgq *q, int i, struct record_row *r, int dup)
{
	const char	*data = pgq_getstr(q, i, 3);

	memset(r, 0, sizeof(*r));
	pgq_copy(r->collection, sizeof(r->collection), q, i, 0);
	pgq_copy(r->id, sizeof(r->id), q, i, 1);
	r->version = pgq_getint(q, i, 2);
	r->data_len = data != NULL ? pgq_getlen(q, i, 3) : 0;
	r->data = data == NULL ? NULL : dup ? strdup(data) : (char *)data;
	r->deleted = pgq_getbool(q, i, 4);
	r->modified_at = pgq_getint(q, i, 5);
	pgq_copy(r->device_id, sizeof(r->device_id), q, i, 6);
	pgq_copy(r->checksum, sizeof(r->checksum), q, i, 7);
	pgq_copy(r->service, sizeof(r->service), q, i, 8);
}

/* What push decisions need of a stored record (exists 0 when absent). */
int
pg_record_state(struct db *db, int64_t user_id, const char *collection,
    const char *id, struct record_state *s)
{
	struct pgq	 q;
	int		 rc;

	memset(s, 0, sizeof(*s));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT version, deleted, modified_at, checksum, "
	    "coalesce(octet_length(data), 4) FROM records "
	    "WHERE user_id = $1 AND collection = $2 AND record_id = $3");
	pgq_int(&q, user_id);
	pgq_text(&q, collection);
	pgq_text(&q, id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		s->exists = 1;
		s->version = pgq_getint(&q, 0, 0);
		s->deleted = pgq_getbool(&q, 0, 1);
		s->modified_at = pgq_getint(&q, 0, 2);
		pgq_copy(s->checksum, sizeof(s->checksum), &q, 0, 3);
		s->bytes = pgq_getint(&q, 0, 4);
	}
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_OK : rc;
}

/* A record (tombstones included); DB_NOTFOUND when never written. */
int
pg_record_get(struct db *db, int64_t user_id, const char *collection,
    const char *id, struct record_row *r)
{
	struct pgq	 q;
	int		 rc;

	memset(r, 0, sizeof(*r));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " RECORD_COLS " FROM records "
	    "WHERE user_id = $1 AND collection = $2 AND record_id = $3");
	pgq_int(&q, user_id);
	pgq_text(&q, collection);
	pgq_text(&q, id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		record_read(&q, 0, r, 1);
		if (!r->deleted && r->data == NULL)
			rc = DB_ERROR;
	}
	pgq_clear(&q);
	return rc;
}

/* The text of column 0 of q's one row into *data (free it); cleared. */
static int
text_of(struct pgq *q, char **data)
{
	int	 rc;

	*data = NULL;
	if ((rc = pgq_one(q)) == DB_OK && (*data = pgq_dup(q, 0, 0)) == NULL)
		rc = DB_ERROR;
	pgq_clear(q);
	return rc;
}

/* A live record's data text; DB_NOTFOUND when absent or deleted. */
int
pg_record_data(struct db *db, int64_t user_id, const char *collection,
    const char *id, char **data)
{
	struct pgq	 q;
	int		 rc;

	*data = NULL;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT data FROM records WHERE user_id = $1 AND "
	    "collection = $2 AND record_id = $3 AND NOT deleted");
	pgq_int(&q, user_id);
	pgq_text(&q, collection);
	pgq_text(&q, id);
	return text_of(&q, data);
}

/*
 * The data of a kept previous revision (the base of a merge);
 * DB_NOTFOUND when that version is no longer kept or was a tombstone.
 */
int
pg_revision_data(struct db *db, int64_t user_id, const char *collection,
    const char *id, int64_t version, char **data)
{
	struct pgq	 q;
	int		 rc;

	*data = NULL;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT data FROM revisions WHERE user_id = $1 "
	    "AND collection = $2 AND record_id = $3 AND version = $4 AND "
	    "NOT deleted");
	pgq_int(&q, user_id);
	pgq_text(&q, collection);
	pgq_text(&q, id);
	pgq_int(&q, version);
	return text_of(&q, data);
}

/*
 * The counters an operation changes (collections' records, tombstones
 * and newest version; users' usage), applied once per collection and
 * user when the operation ends (db_defer) instead of once per record.
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
	struct pgq	 q;
	size_t		 i;
	int		 rc;

	for (i = 0; i < d->len; i++) {
		e = &d->v[i];
		if (e->name[0] == '\0') {
			pg_user_usage_forget(db, e->user_id);
			pgq_init(&q, db, "UPDATE users SET usage_bytes = "
			    "usage_bytes + $2, usage_records = usage_records + "
			    "$3 WHERE id = $1");
			pgq_int(&q, e->user_id);
			pgq_int(&q, e->bytes);
			pgq_int(&q, e->records);
		} else {
			pgq_init(&q, db, "INSERT INTO collections (user_id, "
			    "name, records, tombstones, last_version) "
			    "VALUES ($1, $2, $3, $4, $5) "
			    "ON CONFLICT (user_id, name) DO UPDATE SET "
			    "records = collections.records + excluded.records, "
			    "tombstones = collections.tombstones + "
			    "excluded.tombstones, last_version = "
			    "GREATEST(collections.last_version, "
			    "excluded.last_version)");
			pgq_int(&q, e->user_id);
			pgq_text(&q, e->name);
			pgq_int(&q, e->records);
			pgq_int(&q, e->tombstones);
			pgq_int(&q, e->last_version);
		}
		rc = pgq_exec(&q);
		pgq_clear(&q);
		if (rc != DB_OK)
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

/* Bind $1 user, $2 collection, $3 record id. */
static void
bind_key(struct pgq *q, int64_t user_id, const char *c, const char *id)
{
	pgq_int(q, user_id);
	pgq_text(q, c);
	pgq_text(q, id);
}

/*
 * Write a record as its new version w->version (inside the caller's
 * transaction): move the stored state (old, as record_state read it in
 * this transaction) into the revision history, keep the newest
 * w->history_keep revisions, store the new state, and count it.
 */
int
pg_record_put(struct db *db, int64_t user_id, const struct record_write *w,
    const struct record_state *old)
{
	struct pgq	 q;
	int64_t		 bytes = w->data != NULL ? (int64_t)strlen(w->data) :
			    TOMBSTONE_BYTES;
	int		 rc, was_live, was_dead, dead = w->data == NULL;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	was_live = old->exists && !old->deleted;
	was_dead = old->exists && old->deleted;
	if ((rc = count(db, user_id, w->collection, !dead - was_live,
	    dead - was_dead, w->version, bytes - (old->exists ? old->bytes :
	    0), !old->exists)) != DB_OK)
		return rc;
	if (old->exists) {
		pgq_init(&q, db, "INSERT INTO revisions (user_id, "
		    "collection, record_id, version, data, deleted, "
		    "modified_at, device_id, service) SELECT user_id, "
		    "collection, record_id, version, data, deleted, "
		    "modified_at, device_id, service FROM records "
		    "WHERE user_id = $1 AND collection = $2 AND "
		    "record_id = $3");
		bind_key(&q, user_id, w->collection, w->id);
		rc = pgq_exec(&q);
		pgq_clear(&q);
		if (rc != DB_OK)
			return rc;
		pgq_init(&q, db, "DELETE FROM revisions WHERE user_id = $1 "
		    "AND collection = $2 AND record_id = $3 AND version <= "
		    "(SELECT version FROM revisions WHERE user_id = $1 AND "
		    "collection = $2 AND record_id = $3 ORDER BY version DESC "
		    "LIMIT 1 OFFSET $4)");
		bind_key(&q, user_id, w->collection, w->id);
		pgq_int(&q, w->history_keep);
		rc = pgq_exec(&q);
		pgq_clear(&q);
		if (rc != DB_OK)
			return rc;
		pgq_init(&q, db, "UPDATE records SET version = $4, "
		    "data = $5, deleted = $6, modified_at = $7, "
		    "device_id = $8, checksum = $9, service = $10 "
		    "WHERE user_id = $1 AND collection = $2 AND "
		    "record_id = $3");
	} else
		pgq_init(&q, db, "INSERT INTO records (user_id, collection, "
		    "record_id, version, data, deleted, modified_at, "
		    "device_id, checksum, service) VALUES ($1, $2, $3, $4, $5, "
		    "$6, $7, $8, $9, $10)");
	bind_key(&q, user_id, w->collection, w->id);
	pgq_int(&q, w->version);
	pgq_text(&q, w->data);
	pgq_bool(&q, dead);
	pgq_int(&q, w->modified_at);
	pgq_text(&q, w->device_id);
	pgq_text(&q, w->checksum);
	pgq_text(&q, w->service);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

struct rec_each {
	record_cb	 cb;
	void		*arg;
};

static int
record_each(struct pgq *q, void *arg)
{
	struct rec_each	*e = arg;
	struct record_row r;

	record_read(q, 0, &r, 0);
	return e->cb(e->arg, &r);
}

/*
 * The records written after `since`, in version order, each in its
 * latest state, at most limit, in the given collections (none: all).
 */
int
pg_records_pull(struct db *db, int64_t user_id, int64_t since,
    const char *const *collections, size_t ncollections, int64_t limit,
    record_cb cb, void *arg)
{
	struct rec_each	 e = { cb, arg };
	struct pgq	 q;
	json_t		*names;
	char		*text = NULL;
	size_t		 i;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	if (ncollections == 0)
		pgq_init(&q, db, "SELECT " RECORD_COLS " FROM records "
		    "WHERE user_id = $1 AND version > $2 ORDER BY version "
		    "LIMIT $3");
	else {
		/* the names as a JSON array, bound as one value */
		if ((names = json_array()) == NULL)
			return DB_ERROR;
		for (i = 0; i < ncollections; i++)
			json_array_append_new(names,
			    json_string(collections[i]));
		text = json_dumps(names, JSON_COMPACT);
		json_decref(names);
		if (text == NULL)
			return DB_ERROR;
		pgq_init(&q, db, "SELECT " RECORD_COLS " FROM records "
		    "WHERE user_id = $1 AND version > $2 AND collection IN "
		    "(SELECT jsonb_array_elements_text($4::text::jsonb)) "
		    "ORDER BY version LIMIT $3");
	}
	pgq_int(&q, user_id);
	pgq_int(&q, since);
	pgq_int(&q, limit);
	if (text != NULL)
		pgq_text(&q, text);
	rc = pgq_each(&q, record_each, &e);
	free(text);
	return rc;
}

/* Every record of the user, tombstones included, in version order. */
int
pg_records_each(struct db *db, int64_t user_id, record_cb cb, void *arg)
{
	struct rec_each	 e = { cb, arg };
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " RECORD_COLS " FROM records WHERE "
	    "user_id = $1 ORDER BY version");
	pgq_int(&q, user_id);
	return pgq_each(&q, record_each, &e);
}

/* The record's kept previous revisions, newest first, at most limit. */
int
pg_revisions_list(struct db *db, int64_t user_id, const char *collection,
    const char *id, int64_t limit, revision_cb cb, void *arg)
{
	struct revision_row r;
	struct pgq	 q;
	int		 rc, i;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT version, data, deleted, modified_at, "
	    "device_id, service FROM revisions WHERE user_id = $1 AND "
	    "collection = $2 AND record_id = $3 ORDER BY version DESC "
	    "LIMIT $4");
	bind_key(&q, user_id, collection, id);
	pgq_int(&q, limit);
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		memset(&r, 0, sizeof(r));
		r.version = pgq_getint(&q, i, 0);
		r.data = (char *)pgq_getstr(&q, i, 1);
		r.deleted = pgq_getbool(&q, i, 2);
		r.modified_at = pgq_getint(&q, i, 3);
		pgq_copy(r.device_id, sizeof(r.device_id), &q, i, 4);
		pgq_copy(r.service, sizeof(r.service), &q, i, 5);
		rc = cb(arg, &r);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

/* The user's purge floor and the device's last pull; DB_NOTFOUND: user. */
int
pg_pull_state(struct db *db, int64_t user_id, const char *device_id,
    struct pull_state *p)
{
	struct pgq	 q;
	int		 rc;

	memset(p, 0, sizeof(*p));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT u.purge_floor, d.id IS NOT NULL, "
	    "d.last_pull_at FROM users u LEFT JOIN devices d ON "
	    "d.user_id = u.id AND d.id = $2 WHERE u.id = $1");
	pgq_int(&q, user_id);
	pgq_text(&q, device_id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		p->purge_floor = pgq_getint(&q, 0, 0);
		p->device_known = pgq_getbool(&q, 0, 1);
		p->last_pull_at = pgq_gettime(&q, 0, 2);
	}
	pgq_clear(&q);
	return rc;
}

/*
 * The user's newest version: of any record, or the purge floor when that
 * is newer (so that it is always a valid `since`); 0 when there is none.
 */
int
pg_sync_cursor(struct db *db, int64_t user_id, int64_t *cursor)
{
	struct pgq	 q;
	int		 rc;

	*cursor = 0;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT GREATEST(COALESCE((SELECT MAX(version) FROM "
	    "records WHERE user_id = $1), 0), purge_floor) FROM users "
	    "WHERE id = $1");
	pgq_int(&q, user_id);
	if ((rc = pgq_one(&q)) == DB_OK)
		*cursor = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc;
}

/* The user's collections holding anything, by name, from the counters. */
int
pg_collections_list(struct db *db, int64_t user_id, collection_cb cb,
    void *arg)
{
	struct collection_row c;
	struct pgq	 q;
	int		 rc, i;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT name, records, tombstones, last_version "
	    "FROM collections WHERE user_id = $1 AND records + tombstones > 0 "
	    "ORDER BY name COLLATE \"C\"");
	pgq_int(&q, user_id);
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		pgq_copy(c.name, sizeof(c.name), &q, i, 0);
		c.records = pgq_getint(&q, i, 1);
		c.tombstones = pgq_getint(&q, i, 2);
		c.last_version = pgq_getint(&q, i, 3);
		rc = cb(arg, &c);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

/* The user's usage: bytes of data and bodies, records with tombstones. */
int
pg_usage_get(struct db *db, int64_t user_id, int64_t *bytes,
    int64_t *records)
{
	struct pgq	 q;
	int		 rc;

	*bytes = *records = 0;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	if (pg_user_usage(db, user_id, bytes, records))
		return DB_OK;		/* read by the lock */
	pgq_init(&q, db, "SELECT usage_bytes, usage_records FROM users "
	    "WHERE id = $1");
	pgq_int(&q, user_id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		*bytes = pgq_getint(&q, 0, 0);
		*records = pgq_getint(&q, 0, 1);
	}
	pgq_clear(&q);
	return rc;
}

/* Add to the user's usage (message bodies; records count themselves). */
int
pg_usage_add(struct db *db, int64_t user_id, int64_t bytes, int64_t records)
{
	struct count_delta *u;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
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
pg_tombstones_old(struct db *db, int64_t before_version, int64_t limit,
    tombstone_cb cb, void *arg)
{
	struct tombstone_key *v = NULL;
	struct pgq	 q;
	int		 rc, i, n = 0;

	if (limit <= 0)
		return DB_ERROR;
	pgq_init(&q, db, "SELECT user_id, collection, record_id, version "
	    "FROM records WHERE deleted AND version < $1 "
	    "ORDER BY user_id, version LIMIT $2");
	pgq_int(&q, before_version);
	pgq_int(&q, limit);
	rc = pgq_exec(&q);
	if (rc == DB_OK && q.rows > 0 &&
	    (v = calloc((size_t)q.rows, sizeof(*v))) == NULL)
		rc = DB_ERROR;
	for (i = 0; rc == DB_OK && i < q.rows; i++, n++) {
		v[i].user_id = pgq_getint(&q, i, 0);
		pgq_copy(v[i].collection, sizeof(v[i].collection), &q, i, 1);
		pgq_copy(v[i].record_id, sizeof(v[i].record_id), &q, i, 2);
		v[i].version = pgq_getint(&q, i, 3);
	}
	pgq_clear(&q);
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = cb(arg, &v[i]);
	free(v);
	return pg_iter_rc(rc);
}

/*
 * Purge one tombstone and its history, raising its user's purge floor to
 * its version.  DB_NOTFOUND when it was re-created meanwhile.
 */
int
pg_tombstone_purge(struct db *db, const struct tombstone_key *t)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, t->user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "DELETE FROM records WHERE user_id = $1 AND "
	    "collection = $2 AND record_id = $3 AND version = $4 AND "
	    "deleted");
	bind_key(&q, t->user_id, t->collection, t->record_id);
	pgq_int(&q, t->version);
	if ((rc = pgq_exec_one(&q)) != DB_OK)
		return rc;
	pgq_init(&q, db, "DELETE FROM revisions WHERE user_id = $1 AND "
	    "collection = $2 AND record_id = $3");
	bind_key(&q, t->user_id, t->collection, t->record_id);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	if (rc != DB_OK)
		return rc;
	if ((rc = count(db, t->user_id, t->collection, 0, -1, 0,
	    -TOMBSTONE_BYTES, -1)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE users SET purge_floor = $2 WHERE "
	    "id = $1 AND purge_floor < $2");
	pgq_int(&q, t->user_id);
	pgq_int(&q, t->version);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * The open conflict that the same change from the same device against
 * the record as it stands stored before (a retried push); DB_NOTFOUND
 * when none.
 */
int
pg_conflict_find_open(struct db *db, int64_t user_id,
    const struct conflict_new *c, int64_t *id)
{
	struct pgq	 q;
	int		 rc;

	*id = 0;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT id FROM conflicts WHERE user_id = $1 AND "
	    "collection = $2 AND record_id = $3 AND status = 'open' AND "
	    "device_id IS NOT DISTINCT FROM $4 AND base_version = $5 AND "
	    "client_data IS NOT DISTINCT FROM $6 AND client_deleted = $7 AND "
	    "server_version = COALESCE((SELECT version FROM records WHERE "
	    "user_id = $1 AND collection = $2 AND record_id = $3), 0) "
	    "ORDER BY id LIMIT 1");
	bind_key(&q, user_id, c->collection, c->id);
	pgq_text(&q, c->device_id);
	pgq_int(&q, c->base_version);
	pgq_text(&q, c->data);
	pgq_bool(&q, c->data == NULL);
	if ((rc = pgq_one(&q)) == DB_OK)
		*id = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc;
}

/*
 * Store a conflict: the client's side as given, the server's as the
 * record stands now (version 0, deleted and no data when there is none).
 */
int
pg_conflict_insert(struct db *db, int64_t user_id,
    const struct conflict_new *c, int64_t *id)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO conflicts (user_id, collection, "
	    "record_id, device_id, created_at, base_version, client_data, "
	    "client_deleted, client_modified_at, server_version, server_data, "
	    "server_deleted, server_modified_at) SELECT $1, $2, $3, $4, $5, "
	    "$6, $7, $8, $9, COALESCE(r.version, 0), r.data, "
	    "COALESCE(r.deleted, true), r.modified_at FROM (SELECT 1) AS one "
	    "LEFT JOIN records r ON r.user_id = $1 AND r.collection = $2 AND "
	    "r.record_id = $3 RETURNING id");
	bind_key(&q, user_id, c->collection, c->id);
	pgq_text(&q, c->device_id);
	pgq_int(&q, c->created_at);
	pgq_int(&q, c->base_version);
	pgq_text(&q, c->data);
	pgq_bool(&q, c->data == NULL);
	pgq_int(&q, c->modified_at);
	if ((rc = pgq_one(&q)) == DB_OK)
		*id = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}

static void
conflict_read(const struct pgq *q, int i, struct conflict_row *c, int dup)
{
	const char	*cd = pgq_getstr(q, i, 7);
	const char	*sd = pgq_getstr(q, i, 11);
	const char	*status = pgq_getstr(q, i, 4);

	memset(c, 0, sizeof(*c));
	c->id = pgq_getint(q, i, 0);
	pgq_copy(c->collection, sizeof(c->collection), q, i, 1);
	pgq_copy(c->record_id, sizeof(c->record_id), q, i, 2);
	pgq_copy(c->device_id, sizeof(c->device_id), q, i, 3);
	c->resolved = status == NULL || strcmp(status, "open") != 0;
	c->created_at = pgq_getint(q, i, 5);
	c->base_version = pgq_getint(q, i, 6);
	c->client_data = cd == NULL ? NULL : dup ? strdup(cd) : (char *)cd;
	c->client_deleted = pgq_getbool(q, i, 8);
	c->client_modified_at = pgq_getint(q, i, 9);
	c->server_version = pgq_getint(q, i, 10);
	c->server_data = sd == NULL ? NULL : dup ? strdup(sd) : (char *)sd;
	c->server_deleted = pgq_getbool(q, i, 12);
	c->server_modified_at = pgq_gettime(q, i, 13);
	c->resolved_at = pgq_gettime(q, i, 14);
	pgq_copy(c->resolution, sizeof(c->resolution), q, i, 15);
}

/* A conflict of the user; DB_NOTFOUND when not the user's. */
int
pg_conflict_get(struct db *db, int64_t user_id, int64_t id,
    struct conflict_row *c)
{
	struct pgq	 q;
	int		 rc;

	memset(c, 0, sizeof(*c));
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " CONFLICT_COLS " FROM conflicts "
	    "WHERE id = $2 AND user_id = $1");
	pgq_int(&q, user_id);
	pgq_int(&q, id);
	if ((rc = pgq_one(&q)) == DB_OK) {
		conflict_read(&q, 0, c, 1);
		if ((c->client_data == NULL && !c->client_deleted) ||
		    (c->server_data == NULL && !c->server_deleted)) {
			conflict_row_release(c);
			rc = DB_ERROR;
		}
	}
	pgq_clear(&q);
	return rc;
}

struct conf_each {
	conflict_cb	 cb;
	void		*arg;
};

static int
conflict_each(struct pgq *q, void *arg)
{
	struct conf_each *e = arg;
	struct conflict_row c;

	conflict_read(q, 0, &c, 0);
	return e->cb(e->arg, &c);
}

/*
 * The user's conflicts by id, filtered by status and collection (NULL:
 * any), after id `after`, at most limit (0: all), streamed.
 */
int
pg_conflicts_list(struct db *db, int64_t user_id, enum conflict_filter f,
    const char *collection, int64_t after, int64_t limit, conflict_cb cb,
    void *arg)
{
	static const char *const status[CONFLICTS__MAX] = {
		"open", "resolved", NULL
	};
	struct conf_each e = { cb, arg };
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT " CONFLICT_COLS " FROM conflicts "
	    "WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) AND "
	    "($3::text IS NULL OR collection = $3) AND id > $4 ORDER BY id "
	    "LIMIT $5");
	pgq_int(&q, user_id);
	pgq_text(&q, f < CONFLICTS__MAX ? status[f] : NULL);
	pgq_text(&q, collection);
	pgq_int(&q, after);
	pgq_time(&q, limit > 0 ? limit : 0);
	return pgq_each(&q, conflict_each, &e);
}

int
pg_conflicts_open_count(struct db *db, int64_t user_id, int64_t *n)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT COUNT(*) FROM conflicts WHERE "
	    "user_id = $1 AND status = 'open'");
	pgq_int(&q, user_id);
	return pgq_count(&q, n);
}

/* Mark an open conflict resolved; DB_NOTFOUND when it is not open. */
int
pg_conflict_resolve(struct db *db, int64_t user_id, int64_t id,
    const char *resolution, const char *device_id, int64_t now,
    int64_t version)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "UPDATE conflicts SET status = 'resolved', "
	    "resolved_at = $3, resolution = $4, resolved_by = $5, "
	    "resolved_version = $6 WHERE id = $2 AND user_id = $1 AND "
	    "status = 'open'");
	pgq_int(&q, user_id);
	pgq_int(&q, id);
	pgq_int(&q, now);
	pgq_text(&q, resolution);
	pgq_text(&q, device_id);
	pgq_int(&q, version);
	return pgq_exec_one(&q);
}
