/*
 * conflicts.c: the conflicts stored by pushes (strategy manual, or a
 * merge that could not be done), listed, read and resolved.  A
 * resolution is written as a new version of the record, so every device
 * converges on it by pulling.
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
#include "problem.h"
#include "sync_rules.h"

enum resolution {
	RESOLVE_SERVER,
	RESOLVE_CLIENT,
	RESOLVE_MERGED,
	RESOLVE__MAX
};

static const char *const resolution_names[RESOLVE__MAX + 1] = {
	"server", "client", "merged", NULL
};

static const char *const filter_names[DB_CONFLICTS__MAX + 1] = {
	"open", "resolved", "all", NULL
};

/* The conflict id of the path (the dispatcher checked it is digits). */
static int64_t
conflict_id(const struct req *req)
{
	const char	*s = req_param(req, "cid");

	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

/* A database failure inside a request whose user must exist: 503. */
static int
db_fail(struct resp *resp, int rc)
{
	return problem_db(resp, rc == DB_NOTFOUND ? DB_ERROR : rc);
}

/*
 * GET /conflicts?status=open|resolved|all&collection=c
 *	200 {conflicts:[...]} (by id; default status open)
 *	400 VALIDATION_FAILED (status, collection)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_conflicts_list(struct req *req, struct resp *resp)
{
	const char	*status = req_query(req, "status");
	const char	*coll = req_query(req, "collection");
	json_t		*list = NULL;
	int		 filter = DB_CONFLICTS_OPEN, rc;

	if (status != NULL) {
		for (filter = 0; filter_names[filter] != NULL; filter++)
			if (strcmp(filter_names[filter], status) == 0)
				break;
		if (filter_names[filter] == NULL)
			return problem_field(resp, 400, "VALIDATION_FAILED",
			    "status", "status is open, resolved or all");
	}
	if (coll != NULL && !valid_collection(coll))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    "collection", "collection names are 1..64 bytes of "
		    "[a-z0-9_-]");
	if ((rc = db_conflicts_list(req_db(req), req->user_id,
	    (enum db_conflict_filter)filter, coll, &list)) != DB_OK)
		return db_fail(resp, rc);
	return resp_json(resp, 200, json_pack("{s:o}", "conflicts", list));
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
	json_t	*c = NULL;
	int	 rc;

	rc = db_conflict_get(req_db(req), req->user_id, conflict_id(req), &c);
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no such conflict");
	if (rc != DB_OK)
		return db_fail(resp, rc);
	return resp_json(resp, 200, json_pack("{s:o}", "conflict", c));
}

/*
 * The body of a resolve: resolution, and data (an object) with "merged"
 * only; data is checked like a pushed record's (size, secret guard).
 * *canon gets its canonical text.  Returns 0, or -1 with resp filled.
 */
static int
resolve_parse(struct req *req, struct resp *resp, int *resolution,
    char **canon)
{
	struct buf	 path;
	json_t		*data;
	int		 rc = -1, found;

	*canon = NULL;
	buf_init(&path, 0);
	if (body_object(req, resp) == -1 ||
	    field_enum(resp, req->json, "resolution", "resolution",
	    F_REQUIRED, resolution_names, 0, resolution) == -1)
		goto out;
	data = json_member_normal(req->json, "data");
	if (data != NULL && json_is_null(data))
		data = NULL;
	if (*resolution != RESOLVE_MERGED) {
		if (data != NULL) {
			problem_field(resp, 400, "VALIDATION_FAILED", "data",
			    "data is only taken with resolution \"merged\"");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (data == NULL || !json_is_object(data)) {
		problem_field(resp, 400, "VALIDATION_FAILED", "data",
		    data == NULL ? "resolution \"merged\" requires data" :
		    "data must be a JSON object");
		goto out;
	}
	if ((*canon = jcs_dump(data)) == NULL) {
		problem(resp, 503, "SERVICE_UNAVAILABLE", "out of memory");
		goto out;
	}
	if ((int64_t)strlen(*canon) > cfg.max_record_bytes) {
		problem_field(resp, 413, "PAYLOAD_TOO_LARGE", "data",
		    "the record is %zu bytes; the limit is %lld",
		    strlen(*canon), (long long)cfg.max_record_bytes);
		goto out;
	}
	if (cfg.secret_guard) {
		buf_adds(&path, "data");
		if ((found = sync_secret_find(data, &path)) != 0) {
			if (found == 1)
				problem_field(resp, 422, "SECRET_REJECTED",
				    buf_str(&path),
				    "private keys are never synced");
			else
				problem(resp, 503, "SERVICE_UNAVAILABLE",
				    "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc == -1) {
		free(*canon);
		*canon = NULL;
	}
	buf_release(&path);
	return rc;
}

/*
 * Inside the transaction: check the conflict is open and current, write
 * the chosen side as a new version, mark it resolved, append the events
 * and read back {conflict, record}.  Returns a db_rc, or -1 when resp
 * already holds the answer (404, 409).
 */
static int
resolve_tx(struct req *req, struct resp *resp, struct db *db, int64_t cid,
    int resolution, const char *merged, json_t **out)
{
	struct db_conflict	 c;
	struct db_record_state	 s;
	struct db_record_write	 w;
	json_t			*server = NULL, *conflict = NULL, *rec = NULL;
	char			 sum[JCS_SHA256_LEN];
	int64_t			 version, now = now_ms();
	int			 rc;

	if ((rc = db_conflict_load(db, req->user_id, cid, &c)) != DB_OK) {
		if (rc == DB_NOTFOUND) {
			problem(resp, 404, "NOT_FOUND", "no such conflict");
			rc = -1;
		}
		return rc;
	}
	if (c.resolved) {
		problem(resp, 409, "ALREADY_RESOLVED",
		    "conflict %lld is resolved already", (long long)cid);
		rc = -1;
		goto out;
	}
	if ((rc = db_record_state(db, req->user_id, c.collection, c.record_id,
	    &s)) != DB_OK)
		goto out;
	if (s.version != c.server_version) {
		rc = db_record_get(db, req->user_id, c.collection, c.record_id,
		    &server);
		if (rc == DB_NOTFOUND)
			server = json_null();
		else if (rc != DB_OK)
			goto out;
		problem(resp, 409, "CONFLICT_STALE", "%s/%s changed since the "
		    "conflict was stored: version %lld, not %lld",
		    c.collection, c.record_id, (long long)s.version,
		    (long long)c.server_version);
		problem_set(resp, "server", server);
		server = NULL;
		rc = -1;
		goto out;
	}
	w.collection = c.collection;
	w.id = c.record_id;
	w.data = resolution == RESOLVE_MERGED ? merged :
	    resolution == RESOLVE_CLIENT ? c.client_data : c.server_data;
	if (w.data != NULL)
		sync_checksum(w.data, strlen(w.data), sum);
	else
		sync_checksum("null", 4, sum);
	w.checksum = sum;
	w.modified_at = now;
	w.device_id = req->device_id;
	if ((rc = db_record_put(db, req->user_id, &w, &s, &version)) !=
	    DB_OK ||
	    (rc = db_conflict_mark_resolved(db, req->user_id, cid,
	    resolution_names[resolution], req->device_id, now, version)) !=
	    DB_OK)
		goto out;
	if ((rc = db_event_add(db, req->user_id, req->device_id,
	    "conflict.resolved", NULL, json_pack("{s:I, s:s, s:s}",
	    "conflict_id", (json_int_t)cid, "collection", c.collection,
	    "record_id", c.record_id), NULL)) != DB_OK ||
	    (rc = db_event_add(db, req->user_id, req->device_id,
	    "record.changed", NULL, json_pack("{s:[s], s:i, s:I}",
	    "collections", c.collection, "count", 1,
	    "version", (json_int_t)version), NULL)) != DB_OK ||
	    (rc = db_device_push_mark(db, req->user_id, req->device_id,
	    now)) != DB_OK)
		goto out;
	if ((rc = db_conflict_get(db, req->user_id, cid, &conflict)) !=
	    DB_OK ||
	    (rc = db_record_get(db, req->user_id, c.collection, c.record_id,
	    &rec)) != DB_OK)
		goto out;
	if ((*out = json_pack("{s:o, s:o}", "conflict", conflict, "record",
	    rec)) == NULL)
		rc = DB_ERROR;
	conflict = rec = NULL;
out:
	json_decref(server);
	json_decref(conflict);
	json_decref(rec);
	db_conflict_release(&c);
	return rc;
}

/*
 * POST /conflicts/{id}/resolve {resolution: server|client|merged, data?}
 *	200 {conflict, record} (the chosen side written as a new version:
 *	    "server" rewrites the server's data, "client" writes the
 *	    client's data or tombstone, "merged" writes data)
 *	400 VALIDATION_FAILED (body, resolution, data: required object with
 *	    "merged", not allowed otherwise)
 *	404 NOT_FOUND (no such conflict, or another user's)
 *	409 ALREADY_RESOLVED; then CONFLICT_STALE {server} when the record
 *	    moved on since the conflict was stored
 *	413 PAYLOAD_TOO_LARGE (data)
 *	422 SECRET_REJECTED (data.<path>)
 *	503 SERVICE_UNAVAILABLE
 */
int
handle_conflicts_resolve(struct req *req, struct resp *resp)
{
	struct db	*db;
	json_t		*out = NULL;
	char		*merged = NULL;
	int		 resolution, rc;

	if (resolve_parse(req, resp, &resolution, &merged) == -1)
		goto done;
	db = req_db(req);
	if ((rc = db_begin(db)) != DB_OK) {
		db_fail(resp, rc);
		goto done;
	}
	rc = resolve_tx(req, resp, db, conflict_id(req), resolution, merged,
	    &out);
	if (rc == DB_OK)
		rc = db_commit(db);
	else
		db_rollback(db);
	if (rc == DB_OK) {
		resp_json(resp, 200, out);
		out = NULL;
	} else if (rc != -1)
		db_fail(resp, rc);
done:
	json_decref(out);
	free(merged);
	return resp->status;
}
