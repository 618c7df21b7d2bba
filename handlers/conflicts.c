/*
 * Conflicts (API.md "Sync"): the conflicts stored by pushes (strategy
 * manual, or a merge that could not be done), listed, read and resolved.
 * A resolution is one operation: written as a new version of the record,
 * so every device converges on it by pulling.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "json.h"
#include "problem.h"
#include "sync_rules.h"

#define LIST_DEF	100
#define LIST_MAX	1000

enum resolution {
	RESOLVE_SERVER,
	RESOLVE_CLIENT,
	RESOLVE_MERGED,
	RESOLVE__MAX
};

static const char *const resolution_names[RESOLVE__MAX + 1] = {
	"server", "client", "merged", NULL
};

static const char *const filter_names[CONFLICTS__MAX + 1] = {
	"open", "resolved", "all", NULL
};

/* The outcome of resolving a conflict. */
enum resolve_outcome {
	RESOLVE_OK,
	RESOLVE_NOTFOUND,
	RESOLVE_ALREADY,
	RESOLVE_STALE,
	RESOLVE_OUT__MAX
};

static const struct outcome resolve_outcomes[RESOLVE_OUT__MAX] = {
	[RESOLVE_NOTFOUND] = { 404, "NOT_FOUND", "no such conflict", NULL,
	    NULL, NULL },
	[RESOLVE_ALREADY] = { 409, "ALREADY_RESOLVED", "conflict %s is "
	    "resolved already", NULL, NULL, NULL },
	[RESOLVE_STALE] = { 409, "CONFLICT_STALE", "the record of conflict %s "
	    "changed since the conflict was stored", NULL, NULL, NULL },
};

/* Stored text read back as a value, or null for NULL. */
static json_t *
stored_or_null(const char *text)
{
	return text != NULL ? json_load_stored(text, strlen(text)) :
	    json_null();
}

/* The contract's conflict object.  A new reference or NULL. */
json_t *
conflict_json(const struct conflict_row *c)
{
	json_t	*cd = stored_or_null(c->client_data);
	json_t	*sd = stored_or_null(c->server_data);

	if (cd == NULL || sd == NULL) {
		json_decref(cd);
		json_decref(sd);
		return NULL;
	}
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:I, "
	    "s:{s:o, s:b, s:I}, s:{s:I, s:o, s:b, s:o}, s:o, s:o}",
	    "id", (json_int_t)c->id,
	    "collection", c->collection,
	    "record_id", c->record_id,
	    "device_id", c->device_id[0] != '\0' ? json_string(c->device_id) :
	    json_null(),
	    "status", c->resolved ? "resolved" : "open",
	    "created_at", (json_int_t)c->created_at,
	    "base_version", (json_int_t)c->base_version,
	    "client",
	    "data", cd,
	    "deleted", c->client_deleted,
	    "modified_at", (json_int_t)c->client_modified_at,
	    "server",
	    "version", (json_int_t)c->server_version,
	    "data", sd,
	    "deleted", c->server_deleted,
	    "modified_at", c->server_modified_at != 0 ?
	    json_integer(c->server_modified_at) : json_null(),
	    "resolved_at", c->resolved_at != 0 ?
	    json_integer(c->resolved_at) : json_null(),
	    "resolution", c->resolution[0] != '\0' ?
	    json_string(c->resolution) : json_null());
}

/* The conflict id of the path (the dispatcher checked it is digits). */
static int64_t
conflict_id(const struct req *req)
{
	const char	*s = req_param(req, "cid");

	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

struct list_op {
	json_t		*arr;
	int64_t		 limit;
	int64_t		 last;
	int		 more;
};

static int
list_one(void *arg, const struct conflict_row *c)
{
	struct list_op	*l = arg;
	json_t		*v;

	if ((int64_t)json_array_size(l->arr) == l->limit) {
		l->more = 1;
		return DB_ROLLBACK;	/* enough */
	}
	if ((v = conflict_json(c)) == NULL ||
	    json_array_append_new(l->arr, v) == -1)
		return DB_ERROR;
	l->last = c->id;
	return DB_OK;
}

/*
 * GET /conflicts?status=open|resolved|all&collection=c&limit=N&after=ID
 *	200 {conflicts:[...], next_after, more} (by id, default status
 *	    open, at most limit: default 100, 1..1000; next_after is the
 *	    last id returned, after itself on an empty page)
 *	400 VALIDATION_FAILED (status, collection, limit, after: not a
 *	    conflict of the user)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_conflicts_list(struct req *req, struct resp *resp)
{
	struct conflict_row c;
	struct list_op	 l;
	struct db	*db;
	const char	*coll = req_query(req, "collection");
	int64_t		 after;
	int		 filter, rc;

	memset(&l, 0, sizeof(l));
	if (query_enum(req, resp, "status", filter_names, CONFLICTS_OPEN,
	    &filter) == -1 ||
	    req_query_int(req, resp, "limit", LIST_DEF, 1, LIST_MAX,
	    &l.limit) == -1 ||
	    req_query_int(req, resp, "after", 0, 1, INT64_MAX, &after) == -1)
		return resp->status;
	if (coll != NULL && !valid_collection(coll))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    "collection", "collection names are 1..64 bytes of "
		    "[a-z0-9_-]");
	db = req_db(req);
	if (after != 0) {
		rc = db_conflict_get(db, req->user_id, after, &c);
		if (rc == DB_NOTFOUND)
			return problem_field(resp, 400, "VALIDATION_FAILED",
			    "after", "after names no conflict of this user");
		if (rc != DB_OK)
			return answer_db(resp, rc);
		conflict_row_release(&c);
	}
	if ((l.arr = json_array()) == NULL)
		return answer_db(resp, DB_ERROR);
	l.last = after;
	if ((rc = db_conflicts_list(db, req->user_id,
	    (enum conflict_filter)filter, coll, after, l.limit + 1, list_one,
	    &l)) != DB_OK) {
		json_decref(l.arr);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o, s:o, s:b}", "conflicts",
	    l.arr, "next_after", l.last != 0 ? json_integer(l.last) :
	    json_null(), "more", l.more));
}

/*
 * GET /conflicts/{id}
 *	200 {conflict}
 *	404 NOT_FOUND (no such conflict, or another user's)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_conflicts_get(struct req *req, struct resp *resp)
{
	struct conflict_row c;
	json_t		*v;
	int		 rc;

	rc = db_conflict_get(req_db(req), req->user_id, conflict_id(req), &c);
	if (rc == DB_NOTFOUND)
		return problem_outcome(resp, &resolve_outcomes[RESOLVE_NOTFOUND],
		    NULL);
	if (rc != DB_OK)
		return answer_db(resp, rc);
	v = conflict_json(&c);
	conflict_row_release(&c);
	if (v == NULL)
		return answer_db(resp, DB_ERROR);
	return resp_json(resp, 200, json_pack("{s:o}", "conflict", v));
}

/*
 * The body of a resolve: resolution, and data (an object) with "merged"
 * only; data is checked like a pushed record's (size, secret guard).
 * *canon gets its canonical text as it is to be stored, *redacted the
 * paths the guard redacted (or NULL).  Returns 0, or -1 with resp
 * filled.
 */
static int
resolve_parse(struct req *req, struct resp *resp, int *resolution,
    char **canon, json_t **redacted)
{
	json_t	*data;
	char	 sum[JCS_SHA256_LEN];

	*canon = NULL;
	*redacted = NULL;
	if (body_object(req, resp) == -1 ||
	    field_enum(resp, req->json, "resolution", "resolution",
	    F_REQUIRED, resolution_names, 0, resolution) == -1)
		return -1;
	data = json_member_normal(req->json, "data");
	if (data != NULL && json_is_null(data))
		data = NULL;
	if (*resolution != RESOLVE_MERGED) {
		if (data == NULL)
			return 0;
		problem_field(resp, 400, "VALIDATION_FAILED", "data",
		    "data is only taken with resolution \"merged\"");
		return -1;
	}
	if (data == NULL || !json_is_object(data)) {
		problem_field(resp, 400, "VALIDATION_FAILED", "data",
		    data == NULL ? "resolution \"merged\" requires data" :
		    "data must be a JSON object");
		return -1;
	}
	return sync_record_check(resp, data, NULL, canon, sum, redacted);
}

struct resolve_op {
	int64_t		 user_id;
	const char	*device_id;
	int64_t		 cid;
	int		 resolution;
	const char	*merged;
	enum resolve_outcome out;
	json_t		*answer;	/* {conflict, record}, or the stale server */
	json_t		*redacted;	/* paths the guard redacted, or NULL */
};

/*
 * Check the conflict is open and current, write the chosen side as a
 * new version, mark it resolved, append the events, read back the
 * answer.
 */
static int
resolve_tx(struct db *db, void *arg)
{
	struct resolve_op *r = arg;
	struct conflict_row c;
	struct record_state s;
	struct record_write w;
	struct record_row rec;
	json_t		*cj, *rj;
	char		 sum[JCS_SHA256_LEN];
	int64_t		 now = now_ms();
	int		 rc;

	json_decref(r->answer);
	r->answer = NULL;
	if ((rc = db_conflict_get(db, r->user_id, r->cid, &c)) != DB_OK) {
		r->out = RESOLVE_NOTFOUND;
		return rc == DB_NOTFOUND ? DB_OK : rc;
	}
	if (c.resolved) {
		r->out = RESOLVE_ALREADY;
		goto out;
	}
	if ((rc = db_record_state(db, r->user_id, c.collection, c.record_id,
	    &s)) != DB_OK)
		goto out;
	if (s.version != c.server_version) {
		r->out = RESOLVE_STALE;
		rc = db_record_get(db, r->user_id, c.collection, c.record_id,
		    &rec);
		if (rc == DB_NOTFOUND) {
			r->answer = json_null();
			rc = DB_OK;
		} else if (rc == DB_OK) {
			r->answer = record_json(&rec);
			record_row_release(&rec);
		}
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.collection = c.collection;
	w.id = c.record_id;
	w.data = r->resolution == RESOLVE_MERGED ? r->merged :
	    r->resolution == RESOLVE_CLIENT ? c.client_data : c.server_data;
	if (w.data != NULL)
		sync_checksum(w.data, strlen(w.data), sum);
	else
		sync_checksum("null", 4, sum);
	w.checksum = sum;
	w.modified_at = now;
	w.device_id = r->device_id;
	w.history_keep = cfg.history_keep;
	if ((rc = db_clock_next(db, r->user_id, &w.version)) != DB_OK ||
	    (rc = db_record_put(db, r->user_id, &w, &s)) != DB_OK)
		goto out;
	if ((rc = db_conflict_resolve(db, r->user_id, r->cid,
	    resolution_names[r->resolution], r->device_id, now,
	    w.version)) != DB_OK) {
		rc = rc == DB_NOTFOUND ? DB_ERROR : rc;
		goto out;
	}
	if ((rc = event_append(db, r->user_id, r->device_id,
	    "conflict.resolved", NULL, json_pack("{s:I, s:s, s:s}",
	    "conflict_id", (json_int_t)r->cid, "collection", c.collection,
	    "record_id", c.record_id), NULL)) != DB_OK ||
	    (rc = event_append(db, r->user_id, r->device_id, "record.changed",
	    NULL, json_pack("{s:[s], s:i, s:I}", "collections", c.collection,
	    "count", 1, "version", (json_int_t)w.version), NULL)) != DB_OK ||
	    (rc = db_device_push_mark(db, r->user_id, r->device_id, now)) !=
	    DB_OK)
		goto out;
	conflict_row_release(&c);
	if ((rc = db_conflict_get(db, r->user_id, r->cid, &c)) != DB_OK)
		goto out;
	if ((rc = db_record_get(db, r->user_id, c.collection, c.record_id,
	    &rec)) != DB_OK)
		goto out;
	cj = conflict_json(&c);
	rj = record_json(&rec);
	record_row_release(&rec);
	if (cj == NULL || rj == NULL ||
	    (r->answer = json_pack("{s:o, s:o}", "conflict", cj, "record",
	    rj)) == NULL) {
		json_decref(cj);
		json_decref(rj);
		rc = DB_ERROR;
		goto out;
	}
	r->out = RESOLVE_OK;
out:
	conflict_row_release(&c);
	return rc;
}

/*
 * POST /conflicts/{id}/resolve {resolution: server|client|merged, data?}
 *	200 {conflict, record, redacted?} (the chosen side written as a new
 *	    version: "server" rewrites the server's data, "client" writes
 *	    the client's data or tombstone, "merged" writes data, with
 *	    TANDEM_SECRET_GUARD=redact redacted: redacted lists the paths)
 *	400 VALIDATION_FAILED (body, resolution, data: required object with
 *	    "merged", not allowed otherwise)
 *	404 NOT_FOUND (no such conflict, or another user's)
 *	409 ALREADY_RESOLVED; then CONFLICT_STALE {server} when the record
 *	    moved on since the conflict was stored
 *	413 PAYLOAD_TOO_LARGE (data)
 *	422 SECRET_REJECTED {kind} (data.<path>)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_conflicts_resolve(struct req *req, struct resp *resp)
{
	struct resolve_op r;
	char		*merged = NULL, id[24];
	int		 rc;

	memset(&r, 0, sizeof(r));
	if (resolve_parse(req, resp, &r.resolution, &merged,
	    &r.redacted) == -1)
		goto out;
	r.user_id = req->user_id;
	r.device_id = req->device_id;
	r.cid = conflict_id(req);
	r.merged = merged;
	if ((rc = db_tx(req_db(req), resolve_tx, &r)) != DB_OK) {
		answer_db(resp, rc);
		goto out;
	}
	if (r.out == RESOLVE_OK) {
		if (r.redacted != NULL)
			json_object_set(r.answer, "redacted", r.redacted);
		resp_json(resp, 200, r.answer);
		r.answer = NULL;
		goto out;
	}
	snprintf(id, sizeof(id), "%lld", (long long)r.cid);
	problem_outcome(resp, &resolve_outcomes[r.out], id);
	if (r.out == RESOLVE_STALE) {
		problem_set(resp, "server", r.answer);
		r.answer = NULL;
	}
out:
	json_decref(r.answer);
	json_decref(r.redacted);
	free(merged);
	return resp->status;
}
