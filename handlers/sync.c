/*
 * Sync (API.md "Sync"): push and pull of JSON records with delta
 * timestamps, the collections, one record, the sync stats and the
 * export.  The decisions are lib/sync_rules.c's and lib/merge.c's, the
 * SQL the store's; this file validates, runs each push as one operation
 * in one transaction and shapes the answers.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "log.h"
#include "merge.h"
#include "problem.h"
#include "secret.h"
#include "sync_rules.h"

#define PULL_DEF	500
#define PULL_MAX	1000
/*
 * A pull page stops growing past this many bytes (at least one record
 * always fits): more is then true, and the next page goes on from there.
 */
#define PULL_PAGE_BYTES	(4 * 1024 * 1024)
/* A pull writes last_pull_at at most this often per device. */
#define PULL_MARK_MS	1000
#define SWEEP_BATCH	1000	/* tombstones purged per transaction */
#define SWEEP_PASSES	10

/* A merge computed before the write transaction (push_premerge). */
struct premerge {
	int		 done;
	int64_t		 version;	/* the stored version it merged */
	enum sync_status status;	/* SYNC_MERGED or SYNC_CONFLICT */
	char		*canon;		/* merged data; NULL: nothing to write */
	char		 sum[JCS_SHA256_LEN];
};

/* One change of a push, validated. */
struct change {
	const char	*collection;
	const char	*id;
	int64_t		 base_version;
	json_t		*data;		/* borrowed from req->json; NULL: delete */
	int		 deleted;
	int64_t		 modified_at;	/* -1 when absent */
	const char	*checksum;	/* as sent, or NULL */
	char		*canon;		/* jcs_dump(data); NULL for a delete */
	char		 sum[JCS_SHA256_LEN];	/* of data, or of null */
	json_t		*redacted;	/* paths the guard redacted, or NULL */
	struct premerge	 pre;
};

/* The outcome of a push beyond its per-change results. */
enum push_outcome {
	PUSH_OK,
	PUSH_QUOTA_BYTES,
	PUSH_QUOTA_RECORDS,
	PUSH__MAX
};

static const struct outcome push_outcomes[PUSH__MAX] = {
	[PUSH_QUOTA_BYTES] = { 403, "QUOTA_EXCEEDED", "the push would take "
	    "the account past its storage quota (TANDEM_QUOTA_BYTES); "
	    "nothing was written", NULL, "quota", "bytes" },
	[PUSH_QUOTA_RECORDS] = { 403, "QUOTA_EXCEEDED", "the push would take "
	    "the account past its record quota (TANDEM_QUOTA_RECORDS); "
	    "nothing was written", NULL, "quota", "records" },
};

/* A push: one operation over the whole batch. */
struct push {
	int64_t		 user_id;
	const char	*device_id;	/* NULL: a service key pushes */
	const char	*service;	/* its name, or NULL */
	enum sync_strategy strategy;
	struct change	*cs;
	size_t		 n;
	int64_t		 now;
	/* what the operation answers, set afresh by each run */
	enum push_outcome out;
	json_t		*results;
	json_t		*written;	/* names of the collections written */
	int64_t		 count;		/* changes written */
	int64_t		 newest;	/* newest version written */
	int64_t		 add_bytes;	/* usage the batch adds */
	int64_t		 add_records;
	int64_t		 cursor;
};

/* What sync_decide needs of a stored record. */
static void
change_stored(const struct record_state *s, struct sync_stored *ss)
{
	ss->exists = s->exists;
	ss->deleted = s->deleted;
	ss->version = s->version;
	ss->modified_at = s->modified_at;
	ss->checksum = s->checksum;
}

/* What sync_decide needs of change c (modified_at: now when absent). */
static void
change_decided(const struct change *c, int64_t now, struct sync_change *sc)
{
	sc->deleted = c->deleted;
	sc->base_version = c->base_version;
	sc->modified_at = c->modified_at >= 0 ? c->modified_at : now;
	sc->checksum = c->sum;
}

/* The checksum of a tombstone: of the canonical text "null". */
const char *
sync_null_sum(void)
{
	static char	 sum[JCS_SHA256_LEN];

	if (sum[0] == '\0')
		sync_checksum("null", 4, sum);
	return sum;
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
 * Append a record in pull shape as JSON text: {collection, id, version,
 * data|null, deleted, modified_at, device_id, checksum}, and service
 * when a service key wrote it.  The data is stored as canonical JSON
 * text and goes out as it is, never parsed and printed again.  Returns
 * 0 or -1.
 */
int
record_text(struct buf *b, const struct record_row *r)
{
	if (buf_adds(b, "{\"collection\":") == -1 ||
	    text_str(b, r->collection) == -1 ||
	    buf_adds(b, ",\"id\":") == -1 || text_str(b, r->id) == -1 ||
	    buf_adds(b, ",\"version\":") == -1 ||
	    buf_addi(b, (long long)r->version) == -1 ||
	    buf_adds(b, ",\"data\":") == -1 ||
	    (r->data != NULL ? buf_add(b, r->data, r->data_len) :
	    buf_adds(b, "null")) == -1 ||
	    buf_adds(b, r->deleted ? ",\"deleted\":true,\"modified_at\":" :
	    ",\"deleted\":false,\"modified_at\":") == -1 ||
	    buf_addi(b, (long long)r->modified_at) == -1 ||
	    buf_adds(b, ",\"device_id\":") == -1 ||
	    (r->device_id[0] != '\0' ? text_str(b, r->device_id) :
	    buf_adds(b, "null")) == -1 ||
	    buf_adds(b, ",\"checksum\":") == -1 ||
	    text_str(b, r->checksum) == -1 ||
	    (r->service[0] != '\0' && (buf_adds(b, ",\"service\":") == -1 ||
	    text_str(b, r->service) == -1)) || buf_adds(b, "}") == -1)
		return -1;
	return 0;
}

/* A record in pull shape as a value (its stored data read back). */
json_t *
record_json(const struct record_row *r)
{
	json_t	*data = json_null(), *o;

	if (r->data != NULL &&
	    (data = json_load_stored(r->data, r->data_len)) == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:I, s:o, s:b, s:I, s:o, s:s}",
	    "collection", r->collection, "id", r->id,
	    "version", (json_int_t)r->version, "data", data,
	    "deleted", r->deleted, "modified_at", (json_int_t)r->modified_at,
	    "device_id", r->device_id[0] != '\0' ?
	    json_string(r->device_id) : json_null(),
	    "checksum", r->checksum);
	if (o != NULL && r->service[0] != '\0' &&
	    json_object_set_new(o, "service", json_string(r->service)) == -1) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* "changes[i].member" (or "changes[i]" when member is NULL) in b. */
static const char *
change_path(struct buf *b, size_t i, const char *member)
{
	buf_reset(b);
	if (member != NULL)
		buf_addf(b, "changes[%zu].%s", i, member);
	else
		buf_addf(b, "changes[%zu]", i);
	return buf_str(b);
}

/*
 * Check the shape of change i: collection, id, base_version, exactly one
 * of data (an object) or deleted:true, modified_at?, checksum?.  Unknown
 * members are ignored.  Returns 0, or -1 with a 400 in resp.
 */
static int
change_parse(struct resp *resp, json_t *v, size_t i, struct change *c,
    struct buf *path)
{
	json_t	*data;
	int	 deleted;

	if (!json_is_object(v)) {
		problem_field(resp, 400, "VALIDATION_FAILED",
		    change_path(path, i, NULL), "a change must be an object");
		return -1;
	}
	if (field_str(resp, v, "collection", change_path(path, i,
	    "collection"), F_REQUIRED, 1, 64, &c->collection) == -1)
		return -1;
	if (!valid_collection(c->collection)) {
		problem_field(resp, 400, "VALIDATION_FAILED", buf_str(path),
		    "collection names are 1..64 bytes of [a-z0-9_-]");
		return -1;
	}
	if (field_id(resp, v, "id", change_path(path, i, "id"), F_REQUIRED,
	    &c->id) == -1 ||
	    field_int(resp, v, "base_version", change_path(path, i,
	    "base_version"), F_REQUIRED, 0, INT64_MAX, 0,
	    &c->base_version) == -1 ||
	    field_int(resp, v, "modified_at", change_path(path, i,
	    "modified_at"), F_NULLABLE, 0, INT64_MAX, -1,
	    &c->modified_at) == -1 ||
	    field_str(resp, v, "checksum", change_path(path, i, "checksum"),
	    F_NULLABLE, 1, 128, &c->checksum) == -1 ||
	    field_bool(resp, v, "deleted", change_path(path, i, "deleted"),
	    0, 0, &deleted) == -1)
		return -1;
	data = json_member_normal(v, "data");
	if (deleted) {
		if (data != NULL && !json_is_null(data)) {
			problem_field(resp, 400, "VALIDATION_FAILED",
			    change_path(path, i, "data"),
			    "a deletion carries no data");
			return -1;
		}
		c->deleted = 1;
		c->data = NULL;
		return 0;
	}
	if (data == NULL || !json_is_object(data)) {
		problem_field(resp, 400, "VALIDATION_FAILED",
		    change_path(path, i, "data"), data == NULL ?
		    "data (an object) or deleted:true is required" :
		    "data must be a JSON object");
		return -1;
	}
	c->deleted = 0;
	c->data = data;
	return 0;
}

/*
 * The secret guard over one record's data, as TANDEM_SECRET_GUARD says:
 * push, resolve and import all come here.  where is the record's place
 * in the request ("changes[0]", "records[3]"), or NULL when its data is
 * at the top ("data").  Off: nothing.  Refuse: a secret in any string of
 * data (member names included) is 422 SECRET_REJECTED with field its
 * path ("changes[0].data.ssh.key") and kind what was found.  Redact:
 * every match is replaced by "[REDACTED:kind]" in data itself, and
 * *redacted gets the paths of the strings changed, inside the record
 * ("data.ssh.key"); the caller serialises data afterwards (its checksum
 * and size are of what is stored).  Returns 0 (*redacted NULL when
 * nothing was redacted; else the caller owns it), or -1 with resp
 * filled (422, or 503 when out of memory).
 */
int
secret_guard_record(struct resp *resp, json_t *data, const char *where,
    json_t **redacted)
{
	struct buf	 path, field;
	json_t		*paths = NULL;
	size_t		 kind = 0;
	int		 rc = -1, found;

	*redacted = NULL;
	if (cfg.secret_guard == SECRET_GUARD_OFF)
		return 0;
	assert(cfg.secrets != NULL);
	buf_init(&path, 0);
	buf_init(&field, 0);
	if (buf_adds(&path, "data") == -1)
		goto oom;
	if (cfg.secret_guard == SECRET_GUARD_REFUSE)
		found = secret_scan(cfg.secrets, data, &path, &kind);
	else if ((paths = json_array()) == NULL)
		goto oom;
	else
		found = secret_redact(cfg.secrets, data, &path, paths, &kind);
	if (found == -1)
		goto oom;
	if (found == 1) {
		if ((where != NULL && buf_addf(&field, "%s.", where) == -1) ||
		    buf_adds(&field, buf_str(&path)) == -1)
			goto oom;
		if (paths == NULL)
			problem_field(resp, 422, "SECRET_REJECTED",
			    buf_str(&field), "%s holds a secret (%s); private "
			    "keys and live credentials are never synced",
			    buf_str(&field), secret_set_kind(cfg.secrets, kind));
		else
			problem_field(resp, 422, "SECRET_REJECTED",
			    buf_str(&field), "the member name %s holds a secret "
			    "(%s) and cannot be redacted: two members would get "
			    "one name", buf_str(&field),
			    secret_set_kind(cfg.secrets, kind));
		problem_set(resp, "kind",
		    json_string(secret_set_kind(cfg.secrets, kind)));
		goto out;
	}
	if (paths != NULL && json_array_size(paths) > 0) {
		*redacted = paths;
		paths = NULL;
	}
	rc = 0;
	goto out;
oom:
	problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory; retry");
out:
	json_decref(paths);
	buf_release(&path);
	buf_release(&field);
	return rc;
}

/*
 * The canonical text of the data of the record at where ("changes[0]",
 * or NULL at the top of the body) into *canon (the old text freed):
 * 413 naming "changes[0].data" (or "data") past the record limit.
 */
static int
data_canon(struct resp *resp, json_t *data, const char *where, char **canon,
    size_t *len)
{
	struct buf	 field;

	free(*canon);
	if ((*canon = jcs_dump(data)) == NULL) {
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory; retry");
		return -1;
	}
	*len = strlen(*canon);
	if ((int64_t)*len <= cfg.max_record_bytes)
		return 0;
	buf_init(&field, 0);
	buf_addf(&field, "%s%sdata", where != NULL ? where : "",
	    where != NULL ? "." : "");
	problem_field(resp, 413, "PAYLOAD_TOO_LARGE", buf_str(&field),
	    "the record is %zu bytes; the limit is %lld", *len,
	    (long long)cfg.max_record_bytes);
	buf_release(&field);
	return -1;
}

/*
 * The checks of a record's data that need its canonical form, in this
 * order: the size (413), the client's checksum against the data as sent
 * (-2: the caller answers CHECKSUM_MISMATCH naming its field), the secret
 * guard (422 SECRET_REJECTED; or the data redacted in place, *redacted
 * getting the paths, and the size checked again).  where is the record's
 * place in the request ("changes[0]"), or NULL when its data is at the
 * top ("data").  *canon and sum get the canonical text and checksum of
 * what is to be stored.  Returns 0, or -1 with resp filled (free *canon
 * either way).
 */
static int
data_check(struct resp *resp, json_t *data, const char *checksum,
    const char *where, char **canon, char sum[JCS_SHA256_LEN],
    json_t **redacted)
{
	size_t	 len;

	*redacted = NULL;
	if (data_canon(resp, data, where, canon, &len) == -1)
		return -1;
	if (sync_checksum(*canon, len, sum) == -1)
		goto hash;
	if (checksum != NULL && strcmp(checksum, sum) != 0)
		return -2;
	if (secret_guard_record(resp, data, where, redacted) == -1)
		return -1;
	if (*redacted == NULL)
		return 0;
	if (data_canon(resp, data, where, canon, &len) == -1) {
		json_decref(*redacted);
		*redacted = NULL;
		return -1;
	}
	if (sync_checksum(*canon, len, sum) == 0)
		return 0;
	json_decref(*redacted);
	*redacted = NULL;
hash:
	problem(resp, 503, "SERVICE_UNAVAILABLE", "cannot hash; retry");
	return -1;
}

/*
 * data_check for the data of a resolution or of an imported record,
 * which carry no checksum: where is the record's place ("records[3]"),
 * or NULL when its data is at the top of the body ("data").  *canon gets
 * the canonical text of what is to be stored (free it) and sum its
 * checksum; *redacted, when redacted is not NULL, the paths the guard
 * redacted or NULL (the caller owns them).  Returns 0, or -1 with resp
 * filled.
 */
int
sync_record_check(struct resp *resp, json_t *data, const char *where,
    char **canon, char sum[JCS_SHA256_LEN], json_t **redacted)
{
	json_t	*paths = NULL;

	*canon = NULL;
	if (redacted != NULL)
		*redacted = NULL;
	if (data_check(resp, data, NULL, where, canon, sum, &paths) != 0) {
		free(*canon);
		*canon = NULL;
		return -1;
	}
	if (redacted != NULL)
		*redacted = paths;
	else
		json_decref(paths);
	return 0;
}

/* The checks of change i that need its canonical form (data_check). */
static int
change_check(struct resp *resp, size_t i, struct change *c, struct buf *path)
{
	if (c->deleted) {
		memcpy(c->sum, sync_null_sum(), JCS_SHA256_LEN);
		if (c->checksum == NULL || strcmp(c->checksum, c->sum) == 0)
			return 0;
	} else {
		switch (data_check(resp, c->data, c->checksum,
		    change_path(path, i, NULL), &c->canon, c->sum,
		    &c->redacted)) {
		case 0:
			return 0;
		case -2:
			break;
		default:
			return -1;
		}
	}
	problem_field(resp, 422, "CHECKSUM_MISMATCH",
	    change_path(path, i, "checksum"),
	    "the checksum does not match the data (expected %s)", c->sum);
	return -1;
}

/* The stored record in pull shape, or null when there is none. */
static int
server_record(struct db *db, int64_t user_id, const struct change *c,
    json_t **out)
{
	struct record_row r;
	int		 rc;

	*out = NULL;
	rc = db_record_get(db, user_id, c->collection, c->id, &r);
	if (rc == DB_NOTFOUND) {
		*out = json_null();
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	*out = record_json(&r);
	record_row_release(&r);
	return *out != NULL ? DB_OK : DB_ERROR;
}

/* Write data (canonical text or NULL for a tombstone) for change c. */
static int
push_write(struct db *db, struct push *p, const struct change *c,
    const char *data, const char *sum, int64_t modified_at,
    const struct record_state *old, int64_t *version)
{
	struct record_write w;
	size_t		 i;
	int		 rc, have = 0;

	if ((rc = db_clock_next(db, p->user_id, version)) != DB_OK)
		return rc;
	w.collection = c->collection;
	w.id = c->id;
	w.version = *version;
	w.data = data;
	w.checksum = sum;
	w.modified_at = modified_at;
	w.device_id = p->device_id;
	w.service = p->service;
	w.history_keep = cfg.history_keep;
	if ((rc = db_record_put(db, p->user_id, &w, old)) != DB_OK)
		return rc;
	p->add_bytes += (data != NULL ? (int64_t)strlen(data) :
	    TOMBSTONE_BYTES) - (old->exists ? old->bytes : 0);
	p->add_records += !old->exists;
	p->count++;
	p->newest = *version;
	for (i = 0; i < json_array_size(p->written); i++)
		if (strcmp(json_string_value(json_array_get(p->written, i)),
		    c->collection) == 0)
			have = 1;
	if (!have && json_array_append_new(p->written,
	    json_string(c->collection)) == -1)
		return DB_ERROR;
	return DB_OK;
}

/*
 * Store a conflict for c and announce it; its id goes to *id.  A retried
 * push gets the conflict it stored the first time, announced once.
 */
static int
push_conflict(struct db *db, struct push *p, const struct change *c,
    int64_t modified_at, int64_t *id)
{
	struct conflict_new n;
	int		 rc;

	n.collection = c->collection;
	n.id = c->id;
	n.device_id = p->device_id;
	n.base_version = c->base_version;
	n.data = c->canon;
	n.modified_at = modified_at;
	n.created_at = p->now;
	rc = db_conflict_find_open(db, p->user_id, &n, id);
	if (rc != DB_NOTFOUND)
		return rc;
	if ((rc = db_conflict_insert(db, p->user_id, &n, id)) != DB_OK)
		return rc;
	return event_append_by(db, p->user_id, p->device_id, p->service,
	    "conflict.created", NULL, json_pack("{s:I, s:s, s:s}",
	    "conflict_id", (json_int_t)*id, "collection", c->collection,
	    "record_id", c->id), NULL);
}

/*
 * The result rc of a store read that filled *text (free it), as a value
 * in *v: DB_OK with the value, or rc (DB_NOTFOUND: *v NULL).
 */
static int
stored_value(int rc, char **text, json_t **v)
{
	*v = NULL;
	if (rc == DB_OK) {
		*v = json_load_stored(*text, strlen(*text));
		rc = *v != NULL ? DB_OK : DB_ERROR;
	}
	free(*text);
	*text = NULL;
	return rc;
}

/*
 * The three-way merge of change c against the stored record (the base
 * revision, the stored data and the client's), cut short at the
 * monotonic deadline_us.  out->status is SYNC_MERGED with out->canon and
 * out->sum the merged data (or out->canon NULL when the merge equals what
 * is stored), or SYNC_CONFLICT when the change must be stored as a
 * conflict instead: base no longer kept, a field changed differently on
 * both sides, a merge larger than a record may be, or more work than
 * TANDEM_MAX_WRITE_MS allows.  Returns a db_rc.
 */
static int
merge_compute(struct db *db, int64_t user_id, const struct change *c,
    const char *stored_sum, int64_t deadline_us, struct premerge *out)
{
	struct merge_budget budget = { 0, 0, deadline_us };
	json_t		*base = NULL, *server = NULL, *merged = NULL;
	char		*text = NULL;
	enum merge_rc	 mrc;
	int		 rc;

	out->status = SYNC_CONFLICT;
	free(out->canon);
	out->canon = NULL;
	rc = db_revision_data(db, user_id, c->collection, c->id,
	    c->base_version, &text);
	if ((rc = stored_value(rc, &text, &base)) == DB_NOTFOUND) {
		rc = DB_OK;
		goto out;
	}
	if (rc != DB_OK)
		goto out;
	rc = db_record_data(db, user_id, c->collection, c->id, &text);
	if ((rc = stored_value(rc, &text, &server)) != DB_OK)
		goto out;
	mrc = merge3(base, server, c->data, &budget, &merged);
	if (mrc == MERGE_ERROR) {
		rc = DB_ERROR;
		goto out;
	}
	if (mrc != MERGE_OK)
		goto out;	/* a conflict, or over budget: stored as one */
	if ((out->canon = jcs_dump(merged)) == NULL ||
	    sync_checksum(out->canon, strlen(out->canon), out->sum) == -1) {
		rc = DB_ERROR;
		goto out;
	}
	if ((int64_t)strlen(out->canon) > cfg.max_record_bytes) {
		free(out->canon);
		out->canon = NULL;
		goto out;
	}
	out->status = SYNC_MERGED;
	if (strcmp(out->sum, stored_sum) == 0) {
		free(out->canon);	/* the client's edits are in already */
		out->canon = NULL;
	}
out:
	json_decref(base);
	json_decref(server);
	json_decref(merged);
	return rc;
}

struct premerge_op {
	int64_t		 user_id;
	struct change	*cs;
	size_t		 n;
	int64_t		 now;
};

/*
 * The merges of a push, computed in one snapshot before its write
 * transaction starts so that their cost (O(n log n) in the arrays'
 * sizes, and bounded by TANDEM_MAX_WRITE_MS) holds nobody else up.  Each
 * is computed against the version it read; the transaction uses it only
 * when the record is still at that version.
 */
static int
premerge_read(struct db *db, void *arg)
{
	struct premerge_op *o = arg;
	struct record_state s;
	struct sync_stored ss;
	struct sync_change sc;
	int64_t		 deadline = mono_us() + cfg.max_write_ms * 1000;
	size_t		 i;
	int		 rc;

	for (i = 0; i < o->n; i++) {
		if ((rc = db_record_state(db, o->user_id, o->cs[i].collection,
		    o->cs[i].id, &s)) != DB_OK)
			return rc;
		change_stored(&s, &ss);
		change_decided(&o->cs[i], o->now, &sc);
		if (sync_decide(&ss, &sc, SYNC_MERGE, o->now) !=
		    SYNC_ACT_MERGE)
			continue;
		if ((rc = merge_compute(db, o->user_id, &o->cs[i], s.checksum,
		    deadline, &o->cs[i].pre)) != DB_OK)
			return rc;
		o->cs[i].pre.done = 1;
		o->cs[i].pre.version = s.version;
	}
	return DB_OK;
}

/*
 * The merge strategy inside the transaction: the merge computed before
 * it when the record is still at that version, else computed now within
 * what is left of TANDEM_MAX_WRITE_MS.  Sets *status to SYNC_MERGED
 * (written, or nothing to write) or SYNC_CONFLICT (the caller stores a
 * conflict).
 */
static int
push_merge(struct db *db, struct push *p, struct change *c,
    const struct record_state *s, int64_t modified_at,
    enum sync_status *status, int64_t *version)
{
	int	 rc;

	*status = SYNC_CONFLICT;
	*version = s->version;
	if (!c->pre.done || c->pre.version != s->version) {
		if ((rc = merge_compute(db, p->user_id, c, s->checksum,
		    db->tx.deadline_us, &c->pre)) != DB_OK)
			return rc;
		c->pre.done = 1;
		c->pre.version = s->version;
	}
	*status = c->pre.status;
	if (c->pre.status != SYNC_MERGED || c->pre.canon == NULL)
		return DB_OK;
	return push_write(db, p, c, c->pre.canon, c->pre.sum,
	    modified_at > s->modified_at ? modified_at : s->modified_at, s,
	    version);
}

/* Apply change c inside the push's transaction; append its result. */
static int
push_one(struct db *db, struct push *p, struct change *c)
{
	struct record_state s;
	struct sync_stored ss;
	struct sync_change sc;
	enum sync_status status;
	json_t		*res = NULL, *server = NULL;
	int64_t		 version, cid = 0;
	int		 rc;

	if ((rc = db_record_state(db, p->user_id, c->collection, c->id,
	    &s)) != DB_OK)
		return rc;
	change_stored(&s, &ss);
	change_decided(c, p->now, &sc);
	version = s.version;
	switch (sync_decide(&ss, &sc, p->strategy, p->now)) {
	case SYNC_ACT_UNCHANGED:
		status = SYNC_UNCHANGED;
		break;
	case SYNC_ACT_APPLY:
		status = SYNC_APPLIED;
		rc = push_write(db, p, c, c->canon, c->sum, sc.modified_at, &s,
		    &version);
		break;
	case SYNC_ACT_REJECT:
		status = SYNC_REJECTED;
		break;
	case SYNC_ACT_MERGE:
		rc = push_merge(db, p, c, &s, sc.modified_at, &status,
		    &version);
		if (rc == DB_OK && status == SYNC_CONFLICT)
			rc = push_conflict(db, p, c, sc.modified_at, &cid);
		break;
	case SYNC_ACT_CONFLICT:
	default:
		status = SYNC_CONFLICT;
		rc = push_conflict(db, p, c, sc.modified_at, &cid);
		break;
	}
	if (rc != DB_OK)
		return rc;
	if (status != SYNC_APPLIED &&
	    (rc = server_record(db, p->user_id, c, &server)) != DB_OK)
		return rc;
	res = json_pack("{s:s, s:s, s:s, s:I}", "collection", c->collection,
	    "id", c->id, "status", sync_status_names[status],
	    "version", (json_int_t)version);
	if (res == NULL) {
		json_decref(server);
		return DB_ERROR;
	}
	if (cid != 0)
		json_object_set_new(res, "conflict_id", json_integer(cid));
	if (c->redacted != NULL)
		json_object_set(res, "redacted", c->redacted);
	if (server != NULL)
		json_object_set_new(res, "server", server);
	return json_array_append_new(p->results, res) == 0 ? DB_OK : DB_ERROR;
}

/*
 * The push as one operation: every change in order, the quota over the
 * whole batch (past it, nothing is written), one record.changed event
 * for what was written, the device's push time (a service key has none)
 * and the user's cursor.
 */
static int
push_tx(struct db *db, void *arg)
{
	struct push	*p = arg;
	int64_t		 bytes, records;
	enum quota_kind	 q;
	size_t		 i;
	int		 rc;

	p->out = PUSH_OK;
	p->count = p->newest = p->add_bytes = p->add_records = 0;
	json_decref(p->results);
	json_decref(p->written);
	if ((p->results = json_array()) == NULL ||
	    (p->written = json_array()) == NULL)
		return DB_ERROR;
	if ((rc = db_usage_get(db, p->user_id, &bytes, &records)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	for (i = 0; i < p->n; i++) {
		if (db_tx_expired(db))
			return DB_TIMEOUT;
		if ((rc = push_one(db, p, &p->cs[i])) != DB_OK)
			return rc;
	}
	q = quota_check(bytes, records, p->add_bytes, p->add_records,
	    cfg.quota_bytes, cfg.quota_records);
	if (q != QUOTA_OK) {
		p->out = q == QUOTA_BYTES ? PUSH_QUOTA_BYTES :
		    PUSH_QUOTA_RECORDS;
		return DB_ROLLBACK;
	}
	if (p->count > 0 && (rc = event_append_by(db, p->user_id,
	    p->device_id, p->service, "record.changed", NULL,
	    json_pack("{s:O, s:I, s:I}", "collections", p->written, "count",
	    (json_int_t)p->count, "version", (json_int_t)p->newest), NULL)) !=
	    DB_OK)
		return rc;
	if (p->device_id != NULL && (rc = db_device_push_mark(db, p->user_id,
	    p->device_id, p->now)) != DB_OK)
		return rc;
	if ((rc = db_sync_cursor(db, p->user_id, &p->cursor)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	return DB_OK;
}

/*
 * POST /sync/push {changes:[...], strategy?}
 * POST /service/users/{uid}/sync/push (a key with scope records: what it
 *	writes, conflicts included, has device_id null, and its records,
 *	revisions and events service: its name)
 *	200 {results:[{collection, id, status, version, conflict_id?,
 *	    server?}], cursor}
 *	400 VALIDATION_FAILED (body, strategy, changes, changes[i].*:
 *	    the whole batch is refused)
 *	403 QUOTA_EXCEEDED {quota} (the batch would pass a quota)
 *	413 PAYLOAD_TOO_LARGE (changes[i].data over TANDEM_MAX_RECORD_BYTES)
 *	422 CHECKSUM_MISMATCH (changes[i].checksum), SECRET_REJECTED
 *	    (changes[i].data.<path>)
 *	503 SERVICE_UNAVAILABLE (the database; or the write would hold it
 *	    past TANDEM_MAX_WRITE_MS: nothing written)
 */
int
handle_sync_push(struct req *req, struct resp *resp)
{
	struct premerge_op pm;
	struct push	 p;
	struct buf	 path;
	json_t		*changes;
	size_t		 i;
	int		 strategy, rc;

	memset(&p, 0, sizeof(p));
	buf_init(&path, 0);
	if (body_object(req, resp) == -1)
		goto out;
	if (field_enum(resp, req->json, "strategy", "strategy", F_NULLABLE,
	    sync_strategy_names, SYNC_MANUAL, &strategy) == -1)
		goto out;
	changes = json_object_get(req->json, "changes");
	if (changes == NULL || !json_is_array(changes) ||
	    (int64_t)json_array_size(changes) > cfg.max_batch) {
		problem_field(resp, 400, "VALIDATION_FAILED", "changes",
		    changes == NULL ? "changes is required" :
		    !json_is_array(changes) ? "changes must be an array" :
		    "at most %lld changes per push",
		    (long long)cfg.max_batch);
		goto out;
	}
	p.n = json_array_size(changes);
	if (p.n > 0 && (p.cs = calloc(p.n, sizeof(*p.cs))) == NULL) {
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory");
		goto out;
	}
	for (i = 0; i < p.n; i++)
		if (change_parse(resp, json_array_get(changes, i), i, &p.cs[i],
		    &path) == -1)
			goto out;
	for (i = 0; i < p.n; i++)
		if (change_check(resp, i, &p.cs[i], &path) == -1)
			goto out;
	p.user_id = req->user_id;
	p.device_id = req->device_id;
	p.service = req->service;
	p.strategy = (enum sync_strategy)strategy;
	p.now = now_ms();
	if (p.strategy == SYNC_MERGE) {
		pm.user_id = p.user_id;
		pm.cs = p.cs;
		pm.n = p.n;
		pm.now = p.now;
		if ((rc = db_read(req_db(req), premerge_read, &pm)) != DB_OK) {
			answer_db(resp, rc);
			goto out;
		}
	}
	rc = db_tx(req_db(req), push_tx, &p);
	if (rc == DB_ROLLBACK && p.out != PUSH_OK)
		problem_outcome(resp, &push_outcomes[p.out], NULL);
	else if (rc != DB_OK)
		answer_db(resp, rc);
	else
		resp_json(resp, 200, json_pack("{s:O, s:I}", "results",
		    p.results, "cursor", (json_int_t)p.cursor));
out:
	for (i = 0; p.cs != NULL && i < p.n; i++) {
		free(p.cs[i].canon);
		free(p.cs[i].pre.canon);
		json_decref(p.cs[i].redacted);
	}
	free(p.cs);
	json_decref(p.results);
	json_decref(p.written);
	buf_release(&path);
	return resp->status;
}

/* The names of the collections query parameter ("a,b"). */
struct names {
	char	 v[16][DB_COLL_CAP];
	const char *p[16];
	size_t	 n;
};

/*
 * The collections query parameter: every name valid, at most 16.
 * Returns 0 (n is 0 when it is absent), or -1 with a 400 naming
 * "collections".
 */
static int
collections_param(struct req *req, struct resp *resp, struct names *out)
{
	const char	*s = req_query(req, "collections"), *p, *comma;
	size_t		 len;

	out->n = 0;
	if (s == NULL)
		return 0;
	for (p = s;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= DB_COLL_CAP ||
		    out->n == sizeof(out->v) / sizeof(out->v[0]))
			goto bad;
		memcpy(out->v[out->n], p, len);
		out->v[out->n][len] = '\0';
		if (!valid_collection(out->v[out->n]))
			goto bad;
		out->p[out->n] = out->v[out->n];
		out->n++;
		if (comma == NULL)
			return 0;
	}
bad:
	return problem_field(resp, 400, "VALIDATION_FAILED", "collections",
	    "collections is a comma-separated list of at most 16 collection "
	    "names (1..64 bytes of [a-z0-9_-])") ? -1 : -1;
}

/* One pull page, read in one snapshot. */
struct pull {
	int64_t		 user_id;
	const char	*device_id;	/* NULL: a service key pulls */
	int64_t		 since;
	struct names	 colls;
	int64_t		 limit;
	int64_t		 now;
	struct buf	 text;		/* the changes array's text */
	int64_t		 n;
	int64_t		 cursor;
	int		 more;
	int64_t		 floor;
	int		 expired;
	int		 mark;		/* write the device's pull time */
};

static int
pull_one(void *arg, const struct record_row *r)
{
	struct pull	*p = arg;

	if (p->n == p->limit || p->text.len >= PULL_PAGE_BYTES) {
		p->more = 1;
		return DB_ROLLBACK;	/* the page is full */
	}
	if ((p->n > 0 && buf_add(&p->text, ",", 1) == -1) ||
	    record_text(&p->text, r) == -1)
		return DB_ERROR;
	p->cursor = r->version;
	p->n++;
	return DB_OK;
}

/*
 * The purge floor and the page, in one snapshot: a since below the floor
 * is expired (410), and the last page's cursor never falls below it.
 */
static int
pull_read(struct db *db, void *arg)
{
	struct pull_state st;
	struct pull	*p = arg;
	int		 rc;

	p->cursor = p->since;
	p->n = p->more = p->expired = 0;
	buf_reset(&p->text);
	if ((rc = db_pull_state(db, p->user_id, p->device_id, &st)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	p->floor = st.purge_floor;
	p->mark = p->device_id != NULL && st.device_known &&
	    (st.last_pull_at == 0 ||
	    st.last_pull_at + PULL_MARK_MS <= p->now);
	if ((p->expired = pull_expired(p->since, p->floor)))
		return DB_OK;
	if (buf_adds(&p->text, "[") == -1)
		return DB_ERROR;
	if ((rc = db_records_pull(db, p->user_id, p->since, p->colls.p,
	    p->colls.n, p->limit + 1, pull_one, p)) != DB_OK)
		return rc;
	if (buf_adds(&p->text, "]") == -1)
		return DB_ERROR;
	p->cursor = pull_cursor(p->cursor, p->more, p->floor);
	return DB_OK;
}

static int
pull_mark_tx(struct db *db, void *arg)
{
	struct pull	*p = arg;

	return db_device_pull_mark(db, p->user_id, p->device_id, p->now);
}

/*
 * GET /sync/pull?since=V&collections=a,b&limit=N
 * GET /service/users/{uid}/sync/pull?... (a key with scope records)
 *	200 {changes:[...], cursor, more}
 *	400 VALIDATION_FAILED (since, limit, collections)
 *	410 CURSOR_EXPIRED (since below the user's purge floor)
 *	503 SERVICE_UNAVAILABLE
 * The device's last pull time is written at most once a second, best
 * effort (a busy database does not fail a pull); a service key has no
 * device to mark.
 */
int
handle_sync_pull(struct req *req, struct resp *resp)
{
	struct pull	 p;
	int		 rc;

	memset(&p, 0, sizeof(p));
	buf_init(&p.text, 0);
	if (req_query_int(req, resp, "since", 0, 0, INT64_MAX, &p.since) ==
	    -1 || req_query_int(req, resp, "limit", PULL_DEF, 1, PULL_MAX,
	    &p.limit) == -1 ||
	    collections_param(req, resp, &p.colls) == -1)
		goto out;
	p.user_id = req->user_id;
	p.device_id = req->device_id;
	p.now = now_ms();
	if ((rc = db_read(req_db(req), pull_read, &p)) != DB_OK) {
		answer_db(resp, rc);
		goto out;
	}
	if (p.expired) {
		problem_field(resp, 410, "CURSOR_EXPIRED", "since",
		    "deletions after %lld were purged; pull from 0 again",
		    (long long)p.since);
		problem_set(resp, "purge_floor", json_integer(p.floor));
		goto out;
	}
	if (p.mark)
		(void)db_tx(req_db(req), pull_mark_tx, &p);
	/*
	 * The page is JSON text already (records' data go out as stored,
	 * never parsed and printed again): wrap it and send it raw.
	 */
	if (buf_adds(&resp->raw, "{\"changes\":") == -1 ||
	    buf_add(&resp->raw, p.text.data, p.text.len) == -1 ||
	    buf_addf(&resp->raw, ",\"cursor\":%lld,\"more\":%s}",
	    (long long)p.cursor, p.more ? "true" : "false") == -1) {
		buf_reset(&resp->raw);
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory");
		goto out;
	}
	resp->status = 200;
	resp->content_type = "application/json";
out:
	buf_release(&p.text);
	return resp->status;
}

static int
collection_add(void *arg, const struct collection_row *c)
{
	return json_array_append_new(arg, json_pack("{s:s, s:I, s:I, s:I}",
	    "name", c->name, "records", (json_int_t)c->records,
	    "tombstones", (json_int_t)c->tombstones,
	    "last_version", (json_int_t)c->last_version)) == 0 ? DB_OK :
	    DB_ERROR;
}

static int
sync_device_add(void *arg, const struct device_row *d)
{
	return json_array_append_new(arg, json_pack("{s:s, s:o, s:o}",
	    "id", d->id, "last_push_at", d->last_push_at != 0 ?
	    json_integer(d->last_push_at) : json_null(),
	    "last_pull_at", d->last_pull_at != 0 ?
	    json_integer(d->last_pull_at) : json_null())) == 0 ? DB_OK :
	    DB_ERROR;
}

/* The stats of a user, read in one snapshot. */
struct stats_op {
	int64_t		 user_id;
	json_t		*colls;
	json_t		*devs;
	int64_t		 open;
	int64_t		 bytes;
	int64_t		 records;
};

static int
stats_read(struct db *db, void *arg)
{
	struct stats_op	*s = arg;
	int		 rc;

	json_array_clear(s->colls);
	json_array_clear(s->devs);
	if ((rc = db_collections_list(db, s->user_id, collection_add,
	    s->colls)) != DB_OK ||
	    (rc = db_conflicts_open_count(db, s->user_id, &s->open)) !=
	    DB_OK ||
	    (rc = db_devices_list(db, s->user_id, 0, sync_device_add,
	    s->devs)) != DB_OK)
		return rc;
	return db_usage_get(db, s->user_id, &s->bytes, &s->records);
}

/*
 * GET /sync/stats
 *	200 {collections:[{name, records, tombstones, last_version}],
 *	    conflicts_open, devices:[{id, last_push_at, last_pull_at}],
 *	    usage:{bytes, records}}
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sync_stats(struct req *req, struct resp *resp)
{
	struct stats_op	 s;
	int		 rc;

	memset(&s, 0, sizeof(s));
	s.user_id = req->user_id;
	s.colls = json_array();
	s.devs = json_array();
	if (s.colls == NULL || s.devs == NULL)
		rc = DB_ERROR;
	else
		rc = db_read(req_db(req), stats_read, &s);
	if (rc != DB_OK) {
		json_decref(s.colls);
		json_decref(s.devs);
		return answer_db(resp, rc == DB_NOTFOUND ? DB_ERROR : rc);
	}
	return resp_json(resp, 200, json_pack("{s:o, s:I, s:o, s:{s:I, s:I}}",
	    "collections", s.colls, "conflicts_open", (json_int_t)s.open,
	    "devices", s.devs, "usage", "bytes", (json_int_t)s.bytes,
	    "records", (json_int_t)s.records));
}

/*
 * GET /collections
 *	200 {collections:[{name, records, tombstones, last_version}]}
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_collections_list(struct req *req, struct resp *resp)
{
	json_t	*colls;
	int	 rc;

	if ((colls = json_array()) == NULL)
		return answer_db(resp, DB_ERROR);
	if ((rc = db_collections_list(req_db(req), req->user_id,
	    collection_add, colls)) != DB_OK) {
		json_decref(colls);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o}", "collections", colls));
}

/*
 * GET /collections/{c}/records/{id}
 *	200 {record} (a tombstone too: deleted:true, data:null)
 *	400 VALIDATION_FAILED (collection, id: by the dispatcher)
 *	404 NOT_FOUND (never written, purged, or another user's)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_records_get(struct req *req, struct resp *resp)
{
	struct record_row r;
	const char	*c = req_param(req, "c"), *id = req_param(req, "rid");
	json_t		*rec;
	int		 rc;

	rc = db_record_get(req_db(req), req->user_id, c, id, &r);
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no record %s/%s", c,
		    id);
	if (rc != DB_OK)
		return answer_db(resp, rc);
	rec = record_json(&r);
	record_row_release(&r);
	if (rec == NULL)
		return answer_db(resp, DB_ERROR);
	return resp_json(resp, 200, json_pack("{s:o}", "record", rec));
}

/* A revision as history answers it. */
static json_t *
revision_json(int64_t version, const char *data, size_t len, int deleted,
    int64_t modified_at, const char *device_id, const char *service)
{
	json_t	*d = json_null(), *o;

	if (data != NULL && (d = json_load_stored(data, len)) == NULL)
		return NULL;
	o = json_pack("{s:I, s:o, s:b, s:I, s:o}", "version",
	    (json_int_t)version, "data", d, "deleted", deleted, "modified_at",
	    (json_int_t)modified_at, "device_id", device_id[0] != '\0' ?
	    json_string(device_id) : json_null());
	if (o != NULL && service[0] != '\0')
		json_object_set_new(o, "service", json_string(service));
	return o;
}

struct history_op {
	int64_t		 user_id;
	const char	*collection;
	const char	*id;
	int64_t		 limit;
	json_t		*revisions;
};

static int
history_one(void *arg, const struct revision_row *r)
{
	struct history_op *h = arg;
	json_t		*v;

	v = revision_json(r->version, r->data, r->data != NULL ?
	    strlen(r->data) : 0, r->deleted, r->modified_at, r->device_id,
	    r->service);
	return v != NULL && json_array_append_new(h->revisions, v) == 0 ?
	    DB_OK : DB_ERROR;
}

/* The record and its previous revisions, in one snapshot. */
static int
history_read(struct db *db, void *arg)
{
	struct history_op *h = arg;
	struct record_row r;
	json_t		*v;
	int		 rc;

	json_array_clear(h->revisions);
	if ((rc = db_record_get(db, h->user_id, h->collection, h->id, &r)) !=
	    DB_OK)
		return rc;
	v = revision_json(r.version, r.data, r.data_len, r.deleted,
	    r.modified_at, r.device_id, r.service);
	record_row_release(&r);
	if (v == NULL || json_array_append_new(h->revisions, v) == -1)
		return DB_ERROR;
	if (h->limit <= 1)
		return DB_OK;
	return db_revisions_list(db, h->user_id, h->collection, h->id,
	    h->limit - 1, history_one, h);
}

/*
 * GET /collections/{c}/records/{id}/history?limit=N (1..100, default 10)
 *	200 {revisions:[{version, data, deleted, modified_at, device_id}]},
 *	    newest first: the current revision, then the previous ones kept
 *	    (TANDEM_HISTORY_KEEP); data null for a deletion; service too
 *	    when a service key wrote it
 *	400 VALIDATION_FAILED (limit; collection, id: by the dispatcher)
 *	404 NOT_FOUND (never written, purged, or another user's)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_records_history(struct req *req, struct resp *resp)
{
	struct history_op h;
	int		 rc;

	memset(&h, 0, sizeof(h));
	if (req_query_int(req, resp, "limit", 10, 1, 100, &h.limit) == -1)
		return resp->status;
	h.user_id = req->user_id;
	h.collection = req_param(req, "c");
	h.id = req_param(req, "rid");
	if ((h.revisions = json_array()) == NULL)
		return answer_db(resp, DB_ERROR);
	rc = db_read(req_db(req), history_read, &h);
	if (rc != DB_OK) {
		json_decref(h.revisions);
		if (rc == DB_NOTFOUND)
			return problem(resp, 404, "NOT_FOUND", "no record %s/%s",
			    h.collection, h.id);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o}", "revisions",
	    h.revisions));
}

/* One pass of the tombstone purge. */
struct purge_pass {
	struct db	*db;
	int64_t		 before;
	int64_t		 n;
};

static int
purge_one(void *arg, const struct tombstone_key *t)
{
	struct purge_pass *p = arg;
	int		 rc;

	p->n++;
	if (p->db == NULL)
		return DB_OK;		/* only counting */
	rc = db_tombstone_purge(p->db, t);
	return rc == DB_NOTFOUND ? DB_OK : rc;	/* re-created meanwhile */
}

static int
purge_tx(struct db *db, void *arg)
{
	struct purge_pass *p = arg;

	p->n = 0;
	p->db = db;
	return db_tombstones_old(db, p->before, SWEEP_BATCH, purge_one, p);
}

/*
 * The sweeper: purge tombstones older than TANDEM_TOMBSTONE_DAYS (their
 * version is the server clock of the delete, in microseconds) with the
 * revision history of their records, raising each user's purge floor to
 * the newest version purged; one transaction per pass of at most
 * SWEEP_BATCH, the oldest first.  The common case, nothing to purge,
 * costs one indexed read and no write lock.  Returns a db_rc.
 */
int
sync_sweep(struct db *db, int64_t now)
{
	struct purge_pass p;
	int		 i, rc;

	p.before = (now - cfg.tombstone_days * 86400000) * 1000;
	p.n = 0;
	p.db = NULL;
	if ((rc = db_tombstones_old(db, p.before, 1, purge_one, &p)) != DB_OK ||
	    p.n == 0)
		return rc;
	for (i = 0; i < SWEEP_PASSES; i++) {
		if ((rc = db_tx(db, purge_tx, &p)) != DB_OK)
			return rc;
		if (p.n > 0)
			log_json(LOG_INFO, "tombstones purged", json_pack(
			    "{s:I}", "count", (json_int_t)p.n));
		if (p.n < SWEEP_BATCH)
			break;
	}
	return DB_OK;
}
