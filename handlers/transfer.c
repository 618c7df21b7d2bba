/*
 * Moving an account's data out and in (API.md "Sync"): GET /export
 * streams every record, session, message, device and conflict of the
 * user from one snapshot; POST /import takes such a document into the
 * caller's account.
 *
 * The export is written as it is read: records go out as their stored
 * canonical text, one row at a time, so it costs the memory of a row.
 *
 * An import's whole document is checked before the store is touched: its shape
 * (a document that is not an export writes nothing), every record's size
 * and secrets (the same checks as a push, redaction included:
 * sync_record_check), every message's size and hash.  The canonical
 * texts and checksums are made then too, outside the write, so the
 * transaction only looks up and writes.  Its body may be TANDEM_MAX_IMPORT_BYTES (the dispatcher reads
 * it only after the token check: ROUTE_BIG_BODY), and parsing it costs
 * several times its size, so each worker runs one import at a time.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "sync_rules.h"

/*
 * The export, streamed: every part written as it is read, in one
 * snapshot, so that a user's export never holds all their records (or
 * messages) as values at once, only one row at a time.
 */
struct export_op {
	struct req	*req;
	struct db	*db;
	FCGX_Stream	*out;
	struct buf	 b;		/* the row being written */
	int64_t		 now;
	int		 first;
	int		 failed;	/* a write to the client failed */
};

/* Write b (and empty it).  Returns a db_rc: DB_ERROR when the client left. */
static int
export_flush(struct export_op *e)
{
	if (e->b.len > 0 && FCGX_PutStr(e->b.data, (int)e->b.len, e->out) !=
	    (int)e->b.len) {
		e->failed = 1;
		return DB_ERROR;
	}
	buf_reset(&e->b);
	return DB_OK;
}

/* Write one array element: its separator and the value (taken). */
static int
export_value(struct export_op *e, json_t *v)
{
	char	*s;
	int	 rc;

	if (v == NULL || (s = jcs_dump_answer(v)) == NULL) {
		json_decref(v);
		return DB_ERROR;
	}
	json_decref(v);
	rc = buf_adds(&e->b, e->first ? "" : ",") == 0 &&
	    buf_adds(&e->b, s) == 0 ? export_flush(e) : DB_ERROR;
	free(s);
	e->first = 0;
	return rc;
}

/* Start member name's array ("devices":[ ...). */
static int
export_open(struct export_op *e, const char *name)
{
	e->first = 1;
	if (buf_addf(&e->b, ",\"%s\":[", name) == -1)
		return DB_ERROR;
	return export_flush(e);
}

static int
export_close(struct export_op *e)
{
	return buf_adds(&e->b, "]") == 0 ? export_flush(e) : DB_ERROR;
}

static int
export_device(void *arg, const struct device_row *d)
{
	return export_value(arg, json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, "
	    "s:o, s:o}", "id", d->id, "platform", d->platform, "name",
	    d->name, "created_at", (json_int_t)d->created_at,
	    "last_seen_at", d->last_seen_at ? json_integer(d->last_seen_at) :
	    json_null(), "revoked_at", d->revoked_at ?
	    json_integer(d->revoked_at) : json_null(), "last_push_at",
	    d->last_push_at ? json_integer(d->last_push_at) : json_null(),
	    "last_pull_at", d->last_pull_at ? json_integer(d->last_pull_at) :
	    json_null()));
}

/* A record goes out as pull shape, its stored text as it is. */
static int
export_record(void *arg, const struct record_row *r)
{
	struct export_op *e = arg;

	if (buf_adds(&e->b, e->first ? "" : ",") == -1 ||
	    record_text(&e->b, r) == -1)
		return DB_ERROR;
	e->first = 0;
	return export_flush(e);
}

static int
export_conflict(void *arg, const struct conflict_row *c)
{
	return export_value(arg, conflict_json(c));
}

static int
export_message(void *arg, const struct message_row *m)
{
	return export_value(arg, message_json(m));
}

/* A session, then its messages in seq order, one at a time. */
static int
export_session(void *arg, const struct session_row *s)
{
	struct export_op *e = arg;
	json_t		*o;
	char		*text;
	size_t		 n;
	int		 rc;

	if ((o = session_json(s, e->now)) == NULL ||
	    json_object_set_new(o, "kill_reason", s->has_kill_reason ?
	    json_string(s->kill_reason) : json_null()) == -1 ||
	    (text = jcs_dump_answer(o)) == NULL) {
		json_decref(o);
		return DB_ERROR;
	}
	json_decref(o);
	/* the object without its closing brace, then "messages":[...]} */
	n = strlen(text);
	rc = buf_adds(&e->b, e->first ? "" : ",") == 0 &&
	    buf_add(&e->b, text, n - 1) == 0 &&
	    buf_adds(&e->b, ",\"messages\":[") == 0 ? export_flush(e) :
	    DB_ERROR;
	free(text);
	if (rc != DB_OK)
		return rc;
	e->first = 1;
	if ((rc = db_messages_list(e->db, e->req->user_id, s->id, 0,
	    0, export_message, e)) != DB_OK)
		return rc;
	e->first = 0;
	return buf_adds(&e->b, "]}") == 0 ? export_flush(e) : DB_ERROR;
}

/* The whole document, inside one snapshot. */
static int
export_read(struct db *db, void *arg)
{
	struct export_op *e = arg;
	struct user_row	 u;
	int64_t		 uid = e->req->user_id;
	int		 rc;

	e->db = db;
	if ((rc = db_user_get_by_id(db, uid, &u)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	e->first = 1;
	buf_adds(&e->b, "{\"user\":");
	rc = export_value(e, user_json(&u));
	user_row_release(&u);
	if (rc != DB_OK ||
	    (rc = export_open(e, "devices")) != DB_OK ||
	    (rc = db_devices_list(db, uid, 1, export_device, e)) != DB_OK ||
	    (rc = export_close(e)) != DB_OK ||
	    (rc = export_open(e, "records")) != DB_OK ||
	    (rc = db_records_each(db, uid, export_record, e)) != DB_OK ||
	    (rc = export_close(e)) != DB_OK ||
	    (rc = export_open(e, "conflicts")) != DB_OK ||
	    (rc = db_conflicts_list(db, uid, CONFLICTS_ALL, NULL, 0, 0,
	    export_conflict, e)) != DB_OK ||
	    (rc = export_close(e)) != DB_OK ||
	    (rc = export_open(e, "sessions")) != DB_OK ||
	    (rc = db_sessions_list(db, uid, SESSIONS_ALL, NULL, 0,
	    export_session, e)) != DB_OK ||
	    (rc = export_close(e)) != DB_OK)
		return rc;
	if (buf_addf(&e->b, ",\"exported_at\":%lld}\n", (long long)now_ms()) ==
	    -1)
		return DB_ERROR;
	return export_flush(e);
}

/* Write the export after the headers; -1 cuts the answer short. */
static int
export_stream(struct req *req, void *arg)
{
	struct export_op *e = arg;
	int		 rc;

	e->req = req;
	e->out = req->fcgi->out;
	buf_init(&e->b, 0);
	e->now = now_ms();
	rc = db_read(req_db(req), export_read, e);
	buf_release(&e->b);
	if (rc != DB_OK && !e->failed)
		log_json(LOG_ERROR, "export cut short", json_pack("{s:s}",
		    "error", db_rc_names[rc]));
	return rc == DB_OK ? 0 : -1;
}

/*
 * GET /export
 *	200 {user, devices, records, conflicts, sessions, exported_at},
 *	    streamed: records go out as their stored canonical text, one row
 *	    at a time, so the export of any account costs the server the
 *	    memory of a row.  A failure once the answer has started cuts the
 *	    connection (the client sees a transfer cut short, never a
 *	    complete-looking document).
 */
int
handle_export(struct req *req, struct resp *resp)
{
	(void)req;
	resp->status = 200;
	resp->content_type = "application/json";
	resp->stream = export_stream;
	resp->stream_arg = calloc(1, sizeof(struct export_op));
	if (resp->stream_arg == NULL)
		return answer_db(resp, DB_ERROR);
	return 200;
}

/* ---- import ---------------------------------------------------------- */

#define TITLE_MAX	256	/* as POST /sessions */
#define REASON_MAX	1024	/* as POST /sessions/{sid}/kill */
#define IMPORT_RETRY_S	2

struct imp_record {
	const char	*collection;
	const char	*id;
	char		*canon;		/* NULL: a tombstone */
	char		 sum[JCS_SHA256_LEN];
	int64_t		 modified_at;
};

struct imp_message {
	const char	*cmid;
	const char	*device_id;	/* "" when the export had null */
	char		*canon;
	char		 hash[JCS_SHA256_LEN];
	int64_t		 created_at;
};

struct imp_session {
	const char	*id;
	const char	*title;		/* NULL: none */
	int64_t		 created_at;
	int64_t		 killed_at;	/* 0: alive */
	const char	*kill_reason;	/* NULL: none */
	struct imp_message *msgs;
	size_t		 nmsgs;
};

struct import {
	int64_t		 user_id;
	const char	*device_id;
	int64_t		 now;
	struct imp_record *recs;
	size_t		 nrecs;
	struct imp_session *sess;
	size_t		 nsess;
	/* the operation's outcome */
	int64_t		 n_records, n_sessions, n_messages;
	int64_t		 skip_records, skip_sessions;
	int		 quota;		/* 0, or the quota_kind passed */
};

/* One import at a time in this worker. */
static _Atomic int running;

static void
import_free(struct import *im)
{
	size_t	 i, j;

	for (i = 0; i < im->nrecs; i++)
		free(im->recs[i].canon);
	free(im->recs);
	for (i = 0; i < im->nsess; i++) {
		for (j = 0; j < im->sess[i].nmsgs; j++)
			free(im->sess[i].msgs[j].canon);
		free(im->sess[i].msgs);
	}
	free(im->sess);
}

/* "records[i]" and friends, in b.  Returns b's text. */
static const char *
at(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *
at(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;

	buf_reset(b);
	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
	return buf_str(b);
}

/*
 * The parsers below return 0, or non-zero (-1, or the status of the
 * problem they filled resp with).
 */

/* The array member key of the document, or 400 naming it. */
static json_t *
doc_array(struct resp *resp, json_t *doc, const char *key)
{
	json_t	*v = json_object_get(doc, key);

	if (v == NULL || !json_is_array(v)) {
		problem_field(resp, 400, "VALIDATION_FAILED", key, "%s %s; this "
		    "is not an export (GET /export)", key, v == NULL ?
		    "is missing" : "must be an array");
		return NULL;
	}
	return v;
}

/* An integer time member (≥ 0), def when absent or null. */
static int
time_member(struct resp *resp, json_t *o, const char *key, const char *path,
    int64_t def, int64_t *out)
{
	return field_int(resp, o, key, path, F_NULLABLE, 0, INT64_MAX / 2, def,
	    out);
}

static int
record_parse(struct resp *resp, struct import *im, json_t *v, size_t i,
    struct buf *path)
{
	struct imp_record *r = &im->recs[i];
	json_t		*data;
	int		 deleted;

	if (!json_is_object(v))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    at(path, "records[%zu]", i), "a record is an object");
	if (field_str(resp, v, "collection", at(path, "records[%zu].collection",
	    i), F_REQUIRED, 1, 64, &r->collection) == -1)
		return -1;
	if (!valid_collection(r->collection))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    buf_str(path), "collection names are 1..64 bytes of "
		    "[a-z0-9_-]");
	if (field_id(resp, v, "id", at(path, "records[%zu].id", i),
	    F_REQUIRED, &r->id) == -1 ||
	    field_bool(resp, v, "deleted", at(path, "records[%zu].deleted", i),
	    F_REQUIRED, 0, &deleted) == -1 ||
	    time_member(resp, v, "modified_at", at(path,
	    "records[%zu].modified_at", i), im->now, &r->modified_at) == -1)
		return -1;
	data = json_member_normal(v, "data");
	if (deleted) {
		if (data != NULL && !json_is_null(data))
			return problem_field(resp, 400, "VALIDATION_FAILED",
			    at(path, "records[%zu].data", i), "a deleted "
			    "record's data is null");
		memcpy(r->sum, sync_null_sum(), JCS_SHA256_LEN);
		return 0;
	}
	if (data == NULL || !json_is_object(data))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    at(path, "records[%zu].data", i), "a record's data is an "
		    "object (null when deleted)");
	at(path, "records[%zu]", i);
	return sync_record_check(resp, data, buf_str(path), &r->canon, r->sum,
	    NULL);
}

static int
message_parse(struct resp *resp, struct imp_session *s, json_t *v,
    size_t j, size_t k, struct buf *path)
{
	struct imp_message *m = &s->msgs[k];
	const char	*hash, *dev;
	json_t		*body;
	size_t		 x;

	if (!json_is_object(v))
		return problem_field(resp, 400, "VALIDATION_FAILED", at(path,
		    "sessions[%zu].messages[%zu]", j, k), "a message is an "
		    "object");
	if (field_id(resp, v, "client_msg_id", at(path,
	    "sessions[%zu].messages[%zu].client_msg_id", j, k), F_REQUIRED,
	    &m->cmid) == -1 ||
	    field_id(resp, v, "device_id", at(path,
	    "sessions[%zu].messages[%zu].device_id", j, k), F_NULLABLE,
	    &dev) == -1 ||
	    field_str(resp, v, "hash", at(path,
	    "sessions[%zu].messages[%zu].hash", j, k), F_REQUIRED, 1, 128,
	    &hash) == -1 ||
	    time_member(resp, v, "created_at", at(path,
	    "sessions[%zu].messages[%zu].created_at", j, k), 0,
	    &m->created_at) == -1)
		return -1;
	m->device_id = dev != NULL ? dev : "";
	if ((body = json_member_normal(v, "body")) == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", at(path,
		    "sessions[%zu].messages[%zu].body", j, k), "body is "
		    "required");
	at(path, "sessions[%zu].messages[%zu].body", j, k);
	if ((m->canon = jcs_dump(body)) == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    buf_str(path), "body has no canonical JSON form");
	if ((int64_t)strlen(m->canon) > cfg.max_message_bytes)
		return problem_field(resp, 413, "PAYLOAD_TOO_LARGE",
		    buf_str(path), "body is larger than %lld bytes in "
		    "canonical form", (long long)cfg.max_message_bytes);
	if (sync_checksum(m->canon, strlen(m->canon), m->hash) == -1)
		return answer_db(resp, DB_ERROR);
	if (strcasecmp(hash, m->hash) != 0)
		return problem_field(resp, 400, "VALIDATION_FAILED", at(path,
		    "sessions[%zu].messages[%zu].hash", j, k), "hash is not "
		    "the sha256 of the canonical body (expected %s)", m->hash);
	/* one message per device and client_msg_id in a session */
	for (x = 0; x < k; x++)
		if (strcmp(s->msgs[x].cmid, m->cmid) == 0 &&
		    strcmp(s->msgs[x].device_id, m->device_id) == 0)
			return problem_field(resp, 400, "VALIDATION_FAILED",
			    at(path, "sessions[%zu].messages[%zu]."
			    "client_msg_id", j, k), "messages[%zu] has this "
			    "device's client_msg_id already", x);
	return 0;
}

static int
session_parse(struct resp *resp, struct import *im, json_t *v, size_t j,
    struct buf *path)
{
	struct imp_session *s = &im->sess[j];
	json_t		*msgs;
	size_t		 k;

	if (!json_is_object(v))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    at(path, "sessions[%zu]", j), "a session is an object");
	if (field_id(resp, v, "id", at(path, "sessions[%zu].id", j),
	    F_REQUIRED, &s->id) == -1 ||
	    field_str(resp, v, "title", at(path, "sessions[%zu].title", j),
	    F_NULLABLE, 0, TITLE_MAX, &s->title) == -1 ||
	    time_member(resp, v, "created_at", at(path,
	    "sessions[%zu].created_at", j), im->now, &s->created_at) == -1 ||
	    time_member(resp, v, "killed_at", at(path,
	    "sessions[%zu].killed_at", j), 0, &s->killed_at) == -1 ||
	    field_str(resp, v, "kill_reason", at(path,
	    "sessions[%zu].kill_reason", j), F_NULLABLE, 0, REASON_MAX,
	    &s->kill_reason) == -1)
		return -1;
	msgs = json_object_get(v, "messages");
	if (msgs == NULL || !json_is_array(msgs))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    at(path, "sessions[%zu].messages", j), "a session's "
		    "messages are an array");
	s->nmsgs = json_array_size(msgs);
	if (s->nmsgs > 0 && (s->msgs = calloc(s->nmsgs, sizeof(*s->msgs))) ==
	    NULL)
		return answer_db(resp, DB_ERROR);
	for (k = 0; k < s->nmsgs; k++)
		if (message_parse(resp, s, json_array_get(msgs, k), j, k,
		    path) != 0)
			return -1;
	return 0;
}

/* The whole document into im.  Returns 0, or -1 with resp filled. */
static int
import_parse(struct resp *resp, struct import *im, json_t *doc)
{
	struct buf	 path;
	json_t		*recs, *sess;
	size_t		 i;
	int		 rc = -1;

	if ((recs = doc_array(resp, doc, "records")) == NULL ||
	    (sess = doc_array(resp, doc, "sessions")) == NULL)
		return -1;
	buf_init(&path, 0);
	im->nrecs = json_array_size(recs);
	im->nsess = json_array_size(sess);
	if ((im->nrecs > 0 && (im->recs = calloc(im->nrecs,
	    sizeof(*im->recs))) == NULL) ||
	    (im->nsess > 0 && (im->sess = calloc(im->nsess,
	    sizeof(*im->sess))) == NULL)) {
		answer_db(resp, DB_ERROR);
		goto out;
	}
	for (i = 0; i < im->nrecs; i++)
		if (record_parse(resp, im, json_array_get(recs, i), i,
		    &path) != 0)
			goto out;
	for (i = 0; i < im->nsess; i++)
		if (session_parse(resp, im, json_array_get(sess, i), i,
		    &path) != 0)
			goto out;
	rc = 0;
out:
	buf_release(&path);
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct strings of array v, sorted: O(n log n). */
static json_t *
distinct_strings(json_t *v)
{
	const char	**names;
	json_t		*out;
	size_t		 i, n = json_array_size(v);

	if ((out = json_array()) == NULL || n == 0)
		return out;
	if ((names = calloc(n, sizeof(*names))) == NULL) {
		json_decref(out);
		return NULL;
	}
	for (i = 0; i < n; i++)
		names[i] = json_string_value(json_array_get(v, i));
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++)
		if ((i == 0 || strcmp(names[i], names[i - 1]) != 0) &&
		    json_array_append_new(out, json_string(names[i])) == -1) {
			json_decref(out);
			out = NULL;
			break;
		}
	free(names);
	return out;
}

/* The records: those the account does not have, as new versions. */
static int
import_records(struct db *db, struct import *im, json_t *written,
    int64_t *add_bytes, int64_t *add_records, int64_t *newest)
{
	struct record_state old;
	struct record_write w;
	struct imp_record *r;
	size_t		 i;
	int		 rc;

	for (i = 0; i < im->nrecs; i++) {
		if (db_tx_expired(db))
			return DB_TIMEOUT;
		r = &im->recs[i];
		rc = db_record_state(db, im->user_id, r->collection, r->id,
		    &old);
		if (rc != DB_OK)
			return rc;
		if (old.exists) {	/* a tombstone counts as had */
			im->skip_records++;
			continue;
		}
		memset(&w, 0, sizeof(w));
		if ((rc = db_clock_next(db, im->user_id, &w.version)) != DB_OK)
			return rc;
		w.collection = r->collection;
		w.id = r->id;
		w.data = r->canon;
		w.checksum = r->sum;
		w.modified_at = r->modified_at;
		w.device_id = im->device_id;
		w.service = NULL;
		w.history_keep = cfg.history_keep;
		if ((rc = db_record_put(db, im->user_id, &w, &old)) != DB_OK)
			return rc;
		*add_bytes += r->canon != NULL ? (int64_t)strlen(r->canon) :
		    TOMBSTONE_BYTES;
		*add_records += 1;
		*newest = w.version;
		im->n_records++;
		if (json_array_append_new(written, json_string(r->collection)))
			return DB_ERROR;
	}
	return DB_OK;
}

/* The sessions whose ids are free, with their messages. */
static int
import_sessions(struct db *db, struct import *im)
{
	struct session_row row;
	struct message_row m;
	struct imp_session *s;
	size_t		 i, k;
	int64_t		 id, last = 0;
	int		 rc;

	for (i = 0; i < im->nsess; i++) {
		if (db_tx_expired(db))
			return DB_TIMEOUT;
		s = &im->sess[i];
		rc = db_session_get(db, im->user_id, s->id, 0, &row);
		if (rc == DB_OK) {
			im->skip_sessions++;
			continue;
		}
		if (rc != DB_NOTFOUND)
			return rc;
		if ((rc = db_session_insert(db, im->user_id, s->id, s->title,
		    s->created_at)) != DB_OK ||
		    (s->killed_at > 0 && (rc = db_session_kill(db,
		    im->user_id, s->id, s->killed_at, s->kill_reason)) !=
		    DB_OK))
			return rc;
		for (k = 0; k < s->nmsgs; k++) {
			memset(&m, 0, sizeof(m));
			m.seq = (int64_t)k + 1;
			m.user_id = im->user_id;
			snprintf(m.session_id, sizeof(m.session_id), "%s",
			    s->id);
			snprintf(m.device_id, sizeof(m.device_id), "%s",
			    s->msgs[k].device_id);
			snprintf(m.client_msg_id, sizeof(m.client_msg_id), "%s",
			    s->msgs[k].cmid);
			memcpy(m.hash, s->msgs[k].hash, sizeof(s->msgs[k].hash));
			m.body = s->msgs[k].canon;
			m.created_at = s->msgs[k].created_at;
			if ((rc = db_message_insert(db, &m, &id)) != DB_OK)
				return rc;
			last = m.created_at;
		}
		if (s->nmsgs > 0 && (rc = db_session_messages_set(db,
		    im->user_id, s->id, (int64_t)s->nmsgs, last)) != DB_OK)
			return rc;
		im->n_sessions++;
		im->n_messages += (int64_t)s->nmsgs;
		if ((rc = event_append(db, im->user_id, im->device_id,
		    "session.created", s->id, json_pack("{s:s}", "session_id",
		    s->id), NULL)) != DB_OK)
			return rc;
	}
	return DB_OK;
}

static int
import_tx(struct db *db, void *arg)
{
	struct import	*im = arg;
	int64_t		 bytes, records, add_bytes = 0, add_records = 0;
	int64_t		 newest = 0;
	json_t		*written, *colls;
	enum quota_kind	 q;
	int		 rc;

	im->n_records = im->n_sessions = im->n_messages = 0;
	im->skip_records = im->skip_sessions = 0;
	im->quota = 0;
	if ((rc = db_usage_get(db, im->user_id, &bytes, &records)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	if ((written = json_array()) == NULL)
		return DB_ERROR;
	rc = import_records(db, im, written, &add_bytes, &add_records,
	    &newest);
	if (rc == DB_OK) {
		q = quota_check(bytes, records, add_bytes, add_records,
		    cfg.quota_bytes, cfg.quota_records);
		if (q != QUOTA_OK) {
			im->quota = (int)q;
			rc = DB_ROLLBACK;
		}
	}
	if (rc == DB_OK && im->n_records > 0) {
		/* one record.changed: its collections once each, by name */
		colls = distinct_strings(written);
		rc = colls == NULL ? DB_ERROR : event_append(db, im->user_id,
		    im->device_id, "record.changed", NULL, json_pack("{s:o, "
		    "s:I, s:I}", "collections", colls, "count",
		    (json_int_t)im->n_records, "version", (json_int_t)newest),
		    NULL);
	}
	json_decref(written);
	if (rc == DB_OK)
		rc = import_sessions(db, im);
	return rc;
}

/*
 * POST /api/v1/import (the body: an export, ≤ TANDEM_MAX_IMPORT_BYTES)
 *	200 {imported:{records, sessions, messages}, skipped:{records,
 *	    sessions}}
 *	400 VALIDATION_FAILED (field: the member that makes it no export)
 *	403 QUOTA_EXCEEDED {quota}
 *	413 PAYLOAD_TOO_LARGE (the body; a record's data or a message's
 *	    body over its own limit, with field)
 *	422 SECRET_REJECTED (records[i].data.<path>, kind)
 *	429 RATE_LIMITED (this worker runs an import already)
 *	503 SERVICE_UNAVAILABLE (the database; an import that would hold
 *	    the write lock past TANDEM_MAX_WRITE_MS: nothing written)
 */
int
handle_import(struct req *req, struct resp *resp)
{
	struct import	 im;
	int		 rc, idle = 0;

	memset(&im, 0, sizeof(im));
	if (body_object(req, resp) == -1)
		return resp->status;
	if (!atomic_compare_exchange_strong(&running, &idle, 1)) {
		resp_header(resp, "Retry-After", "%d", IMPORT_RETRY_S);
		problem(resp, 429, "RATE_LIMITED", "an import is running on "
		    "this worker; retry shortly");
		problem_set(resp, "retry_after_s", json_integer(IMPORT_RETRY_S));
		return resp->status;
	}
	im.user_id = req->user_id;
	im.device_id = req->device_id;
	im.now = now_ms();
	if (import_parse(resp, &im, req->json) != 0)
		goto out;
	rc = db_tx(req_db(req), import_tx, &im);
	if (rc == DB_ROLLBACK && im.quota != 0) {
		problem(resp, 403, "QUOTA_EXCEEDED", "the import would take the "
		    "account past its %s quota (TANDEM_QUOTA_%s); nothing was "
		    "written", im.quota == QUOTA_BYTES ? "storage" : "record",
		    im.quota == QUOTA_BYTES ? "BYTES" : "RECORDS");
		problem_set(resp, "quota", json_string(im.quota == QUOTA_BYTES ?
		    "bytes" : "records"));
		goto out;
	}
	if (rc != DB_OK) {
		answer_db(resp, rc);
		goto out;
	}
	log_json(LOG_INFO, "import", json_pack("{s:s?, s:I, s:I, s:I, s:I, "
	    "s:I}", "device", req->device_id, "records",
	    (json_int_t)im.n_records, "sessions", (json_int_t)im.n_sessions,
	    "messages", (json_int_t)im.n_messages, "skipped_records",
	    (json_int_t)im.skip_records, "skipped_sessions",
	    (json_int_t)im.skip_sessions));
	resp_json(resp, 200, json_pack("{s:{s:I, s:I, s:I}, s:{s:I, s:I}}",
	    "imported", "records", (json_int_t)im.n_records, "sessions",
	    (json_int_t)im.n_sessions, "messages", (json_int_t)im.n_messages,
	    "skipped", "records", (json_int_t)im.skip_records, "sessions",
	    (json_int_t)im.skip_sessions));
out:
	import_free(&im);
	atomic_store(&running, 0);
	return resp->status;
}
