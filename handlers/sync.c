/*
 * sync.c: push and pull of JSON records with delta timestamps, the
 * collections, one record, the sync stats and the export.  The decisions
 * are lib/sync_rules.c's, the SQL lib/db_sync.c's, the three-way merge
 * lib/merge.c's; this file validates, runs the batch in one transaction
 * and shapes the answers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "db_events.h"
#include "db_sync.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "merge.h"
#include "problem.h"
#include "sync_rules.h"

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
	struct premerge	 pre;
};

/* A push in progress: one transaction over the whole batch. */
struct push {
	struct req	*req;
	struct db	*db;
	enum sync_strategy strategy;
	int64_t		 now;
	json_t		*written;	/* names of the collections written */
	int64_t		 count;		/* changes written */
	int64_t		 newest;	/* newest version written */
	int64_t		 deadline;	/* mono_us: TANDEM_MAX_WRITE_MS */
};

/* What sync_decide needs of a stored record. */
static void
change_stored(const struct db_record_state *s, struct sync_stored *ss)
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
static const char *
null_sum(void)
{
	static char	 sum[JCS_SHA256_LEN];

	if (sum[0] == '\0')
		sync_checksum("null", 4, sum);
	return sum;
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
 * The checks that need the canonical form, once the whole batch has the
 * right shape: the record size (413), the client's checksum (422
 * CHECKSUM_MISMATCH) and the secret guard (422 SECRET_REJECTED).
 * Returns 0, or -1 with resp filled.
 */
static int
change_check(struct resp *resp, size_t i, struct change *c, struct buf *path)
{
	size_t	 len;
	int	 rc;

	if (c->deleted)
		memcpy(c->sum, null_sum(), JCS_SHA256_LEN);
	else {
		if ((c->canon = jcs_dump(c->data)) == NULL) {
			problem(resp, 503, "SERVICE_UNAVAILABLE",
			    "out of memory; retry");
			return -1;
		}
		len = strlen(c->canon);
		if ((int64_t)len > cfg.max_record_bytes) {
			problem_field(resp, 413, "PAYLOAD_TOO_LARGE",
			    change_path(path, i, "data"),
			    "the record is %zu bytes; the limit is %lld", len,
			    (long long)cfg.max_record_bytes);
			return -1;
		}
		if (sync_checksum(c->canon, len, c->sum) == -1) {
			problem(resp, 503, "SERVICE_UNAVAILABLE",
			    "cannot hash; retry");
			return -1;
		}
	}
	if (c->checksum != NULL && strcmp(c->checksum, c->sum) != 0) {
		problem_field(resp, 422, "CHECKSUM_MISMATCH",
		    change_path(path, i, "checksum"),
		    "the checksum does not match the data (expected %s)",
		    c->sum);
		return -1;
	}
	if (cfg.secret_guard && !c->deleted) {
		change_path(path, i, "data");
		if ((rc = sync_secret_find(c->data, path)) == 1) {
			problem_field(resp, 422, "SECRET_REJECTED",
			    buf_str(path), "private keys are never synced");
			return -1;
		}
		if (rc == -1) {
			problem(resp, 503, "SERVICE_UNAVAILABLE",
			    "out of memory; retry");
			return -1;
		}
	}
	return 0;
}

/* The stored record in pull shape, or null when there is none. */
static int
server_record(struct push *p, const struct change *c, json_t **out)
{
	int	 rc;

	rc = db_record_get(p->db, p->req->user_id, c->collection, c->id, out);
	if (rc == DB_NOTFOUND) {
		*out = json_null();
		rc = DB_OK;
	}
	return rc;
}

/* Write data (canonical text or NULL for a tombstone) for change c. */
static int
push_write(struct push *p, const struct change *c, const char *data,
    const char *sum, int64_t modified_at, const struct db_record_state *old,
    int64_t *version)
{
	struct db_record_write w;
	size_t		 i;
	int		 rc, have = 0;

	w.collection = c->collection;
	w.id = c->id;
	w.data = data;
	w.checksum = sum;
	w.modified_at = modified_at;
	w.device_id = p->req->device_id;
	if ((rc = db_record_put(p->db, p->req->user_id, &w, old,
	    version)) != DB_OK)
		return rc;
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
push_conflict(struct push *p, const struct change *c, int64_t modified_at,
    int64_t *id)
{
	struct db_conflict_new n;
	int		 rc, created;

	n.collection = c->collection;
	n.id = c->id;
	n.device_id = p->req->device_id;
	n.base_version = c->base_version;
	n.data = c->canon;
	n.modified_at = modified_at;
	n.created_at = p->now;
	if ((rc = db_conflict_add(p->db, p->req->user_id, &n, id,
	    &created)) != DB_OK || !created)
		return rc;
	return db_event_add(p->db, p->req->user_id, p->req->device_id,
	    "conflict.created", NULL, json_pack("{s:I, s:s, s:s}",
	    "conflict_id", (json_int_t)*id, "collection", c->collection,
	    "record_id", c->id), NULL);
}

/*
 * The three-way merge of change c against the stored record at version
 * `version` (the base revision, the stored data and the client's), cut
 * short at the monotonic deadline_us.  out->status is SYNC_MERGED with
 * out->canon and out->sum the merged data (or out->canon NULL when the
 * merge equals what is stored), or SYNC_CONFLICT when the change must be
 * stored as a conflict instead: base no longer kept, a field changed
 * differently on both sides, a merge larger than a record may be, or
 * more work than TANDEM_MAX_WRITE_MS allows.  Returns a db_rc.
 */
static int
merge_compute(struct db *db, int64_t user_id, const struct change *c,
    const char *stored_sum, int64_t deadline_us, struct premerge *out)
{
	struct merge_budget budget = { 0, 0, deadline_us };
	json_t		*base = NULL, *server = NULL, *merged = NULL;
	enum merge_rc	 mrc;
	int		 rc;

	out->status = SYNC_CONFLICT;
	free(out->canon);
	out->canon = NULL;
	rc = db_revision_data(db, user_id, c->collection, c->id,
	    c->base_version, &base);
	if (rc == DB_NOTFOUND) {
		rc = DB_OK;
		goto out;
	}
	if (rc != DB_OK || (rc = db_record_data(db, user_id, c->collection,
	    c->id, &server)) != DB_OK)
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

/*
 * The merges of a push, computed before its write transaction starts so
 * that their cost (O(n log n) in the arrays' sizes, and bounded by
 * TANDEM_MAX_WRITE_MS) holds nobody else up.  Each is computed against
 * the version it read; the transaction uses it only when the record is
 * still at that version.  Returns a db_rc.
 */
static int
push_premerge(struct db *db, int64_t user_id, struct change *cs, size_t n,
    int64_t now)
{
	struct db_record_state s;
	struct sync_stored ss;
	struct sync_change sc;
	int64_t		 deadline = mono_us() + cfg.max_write_ms * 1000;
	size_t		 i;
	int		 rc;

	for (i = 0; i < n; i++) {
		if ((rc = db_record_state(db, user_id, cs[i].collection,
		    cs[i].id, &s)) != DB_OK)
			return rc;
		change_stored(&s, &ss);
		change_decided(&cs[i], now, &sc);
		if (sync_decide(&ss, &sc, SYNC_MERGE, now) != SYNC_ACT_MERGE)
			continue;
		if ((rc = merge_compute(db, user_id, &cs[i], s.checksum,
		    deadline, &cs[i].pre)) != DB_OK)
			return rc;
		cs[i].pre.done = 1;
		cs[i].pre.version = s.version;
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
push_merge(struct push *p, struct change *c,
    const struct db_record_state *s, int64_t modified_at,
    enum sync_status *status, int64_t *version)
{
	int	 rc;

	*status = SYNC_CONFLICT;
	*version = s->version;
	if (!c->pre.done || c->pre.version != s->version) {
		if ((rc = merge_compute(p->db, p->req->user_id, c,
		    s->checksum, p->deadline, &c->pre)) != DB_OK)
			return rc;
	}
	*status = c->pre.status;
	if (c->pre.status != SYNC_MERGED || c->pre.canon == NULL)
		return DB_OK;
	return push_write(p, c, c->pre.canon, c->pre.sum,
	    modified_at > s->modified_at ? modified_at : s->modified_at, s,
	    version);
}

/* Apply change c inside the push's transaction; append its result. */
static int
push_one(struct push *p, struct change *c, json_t *results)
{
	struct db_record_state s;
	struct sync_stored ss;
	struct sync_change sc;
	enum sync_status status;
	json_t		*res = NULL, *server = NULL;
	int64_t		 version, modified_at, cid = 0;
	int		 rc;

	if ((rc = db_record_state(p->db, p->req->user_id, c->collection,
	    c->id, &s)) != DB_OK)
		return rc;
	change_stored(&s, &ss);
	change_decided(c, p->now, &sc);
	modified_at = sc.modified_at;
	version = s.version;
	switch (sync_decide(&ss, &sc, p->strategy, p->now)) {
	case SYNC_ACT_UNCHANGED:
		status = SYNC_UNCHANGED;
		break;
	case SYNC_ACT_APPLY:
		status = SYNC_APPLIED;
		rc = push_write(p, c, c->canon, c->sum, modified_at, &s,
		    &version);
		break;
	case SYNC_ACT_REJECT:
		status = SYNC_REJECTED;
		break;
	case SYNC_ACT_MERGE:
		rc = push_merge(p, c, &s, modified_at, &status, &version);
		if (rc == DB_OK && status == SYNC_CONFLICT)
			rc = push_conflict(p, c, modified_at, &cid);
		break;
	case SYNC_ACT_CONFLICT:
	default:
		status = SYNC_CONFLICT;
		rc = push_conflict(p, c, modified_at, &cid);
		break;
	}
	if (rc != DB_OK)
		return rc;
	if (status != SYNC_APPLIED && (rc = server_record(p, c, &server)) !=
	    DB_OK)
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
	if (server != NULL)
		json_object_set_new(res, "server", server);
	return json_array_append_new(results, res) == 0 ? DB_OK : DB_ERROR;
}

/* A database failure inside a request whose user must exist: 503. */
static int
db_fail(struct resp *resp, int rc)
{
	return problem_db(resp, rc == DB_NOTFOUND ? DB_ERROR : rc);
}

/*
 * POST /sync/push {changes:[...], strategy?}
 *	200 {results:[{collection, id, status, version, conflict_id?,
 *	    server?}], cursor}
 *	400 VALIDATION_FAILED (body, strategy, changes, changes[i].*:
 *	    the whole batch is refused)
 *	413 PAYLOAD_TOO_LARGE (changes[i].data over TANDEM_MAX_RECORD_BYTES)
 *	422 CHECKSUM_MISMATCH (changes[i].checksum), SECRET_REJECTED
 *	    (changes[i].data.<path>)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sync_push(struct req *req, struct resp *resp)
{
	struct push	 p;
	struct change	*cs = NULL;
	struct buf	 path;
	json_t		*changes, *results = NULL;
	size_t		 n = 0, i;
	int64_t		 cursor;
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
	n = json_array_size(changes);
	if (n > 0 && (cs = calloc(n, sizeof(*cs))) == NULL) {
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (change_parse(resp, json_array_get(changes, i), i, &cs[i],
		    &path) == -1)
			goto out;
	for (i = 0; i < n; i++)
		if (change_check(resp, i, &cs[i], &path) == -1)
			goto out;

	p.req = req;
	p.db = req_db(req);
	p.strategy = (enum sync_strategy)strategy;
	p.now = now_ms();
	if (p.strategy == SYNC_MERGE &&
	    (rc = push_premerge(p.db, req->user_id, cs, n, p.now)) != DB_OK) {
		db_fail(resp, rc);
		goto out;
	}
	if ((p.written = json_array()) == NULL ||
	    (results = json_array()) == NULL) {
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory");
		goto out;
	}
	if ((rc = db_begin(p.db)) != DB_OK) {
		db_fail(resp, rc);
		goto out;
	}
	p.deadline = mono_us() + cfg.max_write_ms * 1000;
	for (i = 0; i < n; i++) {
		if (mono_us() > p.deadline) {
			rc = DB_TIMEOUT;
			goto fail;
		}
		if ((rc = push_one(&p, &cs[i], results)) != DB_OK)
			goto fail;
	}
	if (p.count > 0 && (rc = db_event_add(p.db, req->user_id,
	    req->device_id, "record.changed", NULL, json_pack("{s:O, s:I, "
	    "s:I}", "collections", p.written, "count", (json_int_t)p.count,
	    "version", (json_int_t)p.newest), NULL)) != DB_OK)
		goto fail;
	if ((rc = db_device_push_mark(p.db, req->user_id, req->device_id,
	    p.now)) != DB_OK ||
	    (rc = db_sync_cursor(p.db, req->user_id, &cursor)) != DB_OK ||
	    (rc = db_commit(p.db)) != DB_OK)
		goto fail;
	resp_json(resp, 200, json_pack("{s:O, s:I}", "results",
	    results, "cursor", (json_int_t)cursor));
	goto out;
fail:
	db_rollback(p.db);
	db_fail(resp, rc);
out:
	for (i = 0; cs != NULL && i < n; i++) {
		free(cs[i].canon);
		free(cs[i].pre.canon);
	}
	free(cs);
	json_decref(results);
	json_decref(p.written);
	buf_release(&path);
	return resp->status;
}

/*
 * The collections query parameter ("a,b"): every name valid.  Returns
 * 0 with *out a JSON array text (free it) or NULL when absent, or -1
 * with a 400 naming "collections".
 */
static int
collections_param(struct req *req, struct resp *resp, char **out)
{
	const char	*s = req_query(req, "collections"), *p, *comma;
	json_t		*arr = NULL;
	char		 name[65];
	size_t		 len;
	int		 rc = -1;

	*out = NULL;
	if (s == NULL)
		return 0;
	if ((arr = json_array()) == NULL)
		goto bad;
	for (p = s;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(name))
			goto bad;
		memcpy(name, p, len);
		name[len] = '\0';
		if (!valid_collection(name) ||
		    json_array_append_new(arr, json_string(name)) == -1)
			goto bad;
		if (comma == NULL)
			break;
	}
	if ((*out = json_dumps(arr, JSON_COMPACT)) == NULL)
		goto bad;
	rc = 0;
	goto out;
bad:
	problem_field(resp, 400, "VALIDATION_FAILED", "collections",
	    "collections is a comma-separated list of collection names "
	    "(1..64 bytes of [a-z0-9_-])");
out:
	json_decref(arr);
	return rc;
}

/*
 * GET /sync/pull?since=V&collections=a,b&limit=N
 *	200 {changes:[...], cursor, more}
 *	400 VALIDATION_FAILED (since, limit, collections)
 *	410 CURSOR_EXPIRED (since below the user's purge floor)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sync_pull(struct req *req, struct resp *resp)
{
	struct db_pull	 pull;
	char		*colls = NULL;
	int64_t		 since, limit;
	int		 rc;

	memset(&pull, 0, sizeof(pull));
	buf_init(&pull.changes, 0);
	if (req_query_int(req, resp, "since", 0, 0, INT64_MAX, &since) == -1 ||
	    req_query_int(req, resp, "limit", 500, 1, 1000, &limit) == -1 ||
	    collections_param(req, resp, &colls) == -1)
		goto out;
	if ((rc = db_records_pull(req_db(req), req->user_id, req->device_id,
	    since, colls, limit, now_ms(), &pull)) != DB_OK) {
		db_fail(resp, rc);
		goto out;
	}
	if (pull.expired) {
		problem_field(resp, 410, "CURSOR_EXPIRED", "since",
		    "deletions after %lld were purged; pull from 0 again",
		    (long long)since);
		problem_set(resp, "purge_floor", json_integer(pull.floor));
		goto out;
	}
	/*
	 * The page is JSON text already (records' data go out as stored,
	 * never parsed and printed again): wrap it and send it raw.
	 */
	if (buf_adds(&resp->raw, "{\"changes\":") == -1 ||
	    buf_add(&resp->raw, pull.changes.data, pull.changes.len) == -1 ||
	    buf_addf(&resp->raw, ",\"cursor\":%lld,\"more\":%s}",
	    (long long)pull.cursor, pull.more ? "true" : "false") == -1) {
		buf_reset(&resp->raw);
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory");
		goto out;
	}
	resp->status = 200;
	resp->content_type = "application/json";
out:
	db_pull_release(&pull);
	free(colls);
	return resp->status;
}

/*
 * GET /sync/stats
 *	200 {collections:[{name, records, tombstones, last_version}],
 *	    conflicts_open, devices:[{id, last_push_at, last_pull_at}]}
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_sync_stats(struct req *req, struct resp *resp)
{
	struct db	*db = req_db(req);
	json_t		*colls = NULL, *devs = NULL;
	int64_t		 open;
	int		 rc;

	if ((rc = db_collections_list(db, req->user_id, &colls)) != DB_OK ||
	    (rc = db_conflicts_open_count(db, req->user_id, &open)) !=
	    DB_OK ||
	    (rc = db_sync_devices(db, req->user_id, &devs)) != DB_OK) {
		db_fail(resp, rc);
		goto out;
	}
	resp_json(resp, 200, json_pack("{s:o, s:I, s:o}", "collections",
	    colls, "conflicts_open", (json_int_t)open, "devices", devs));
	colls = devs = NULL;
out:
	json_decref(colls);
	json_decref(devs);
	return resp->status;
}

/*
 * GET /collections
 *	200 {collections:[{name, records, tombstones, last_version}]}
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_collections_list(struct req *req, struct resp *resp)
{
	json_t	*colls = NULL;
	int	 rc;

	if ((rc = db_collections_list(req_db(req), req->user_id, &colls)) !=
	    DB_OK)
		return db_fail(resp, rc);
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
	const char	*c = req_param(req, "c"), *id = req_param(req, "rid");
	json_t		*rec = NULL;
	int		 rc;

	rc = db_record_get(req_db(req), req->user_id, c, id, &rec);
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no record %s/%s", c,
		    id);
	if (rc != DB_OK)
		return db_fail(resp, rc);
	return resp_json(resp, 200, json_pack("{s:o}", "record", rec));
}

/*
 * GET /export
 *	200 {user, devices, records, conflicts, sessions, exported_at}
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_export(struct req *req, struct resp *resp)
{
	json_t	*doc = NULL;
	int	 rc;

	if ((rc = db_sync_export(req_db(req), req->user_id, &doc)) != DB_OK)
		return db_fail(resp, rc);
	json_object_set_new(doc, "exported_at", json_integer(now_ms()));
	return resp_json(resp, 200, doc);
}
