/*
 * What the long poll (events.c) and the event stream (events_stream.c)
 * share: the event object, a page of events read in one snapshot, the
 * answers both give before they wait, their caps, and a wait's life in
 * park (made, filtered, woken on one read of its user's events, freed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "events_rules.h"
#include "events_wait.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "waits.h"

/* Retry-After of a poll refused because its device waits too much. */
#define WAIT_RETRY_S	2

/*
 * The event object that /events answers: {seq, type, at, device_id,
 * data}, and service (the key's name) when a service key caused it, its
 * data read back keeping every number.  NULL when out of memory; data
 * that no longer parses reads as null rather than losing the event.
 */
json_t *
event_json(const struct event_row *e)
{
	json_t	*data = NULL, *o;

	if (e->data != NULL)
		data = json_load_stored(e->data, e->data_len);
	o = json_pack("{s:I, s:s, s:I, s:o, s:o}",
	    "seq", (json_int_t)e->seq, "type", e->type,
	    "at", (json_int_t)e->at,
	    "device_id", e->device_id[0] != '\0' ?
	    json_string(e->device_id) : json_null(),
	    "data", data != NULL ? data : json_null());
	if (o != NULL && e->service[0] != '\0' &&
	    json_object_set_new(o, "service", json_string(e->service)) == -1) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int
page_one(void *arg, const struct event_row *e)
{
	struct page	*p = arg;
	json_t		*v;

	if ((int64_t)json_array_size(p->events) == p->limit) {
		p->more = 1;
		return DB_ROLLBACK;	/* enough */
	}
	if ((v = event_json(e)) == NULL ||
	    json_array_append_new(p->events, v) == -1)
		return DB_ERROR;
	p->last = e->seq;
	return DB_OK;
}

/*
 * Read the page of q into p: one statement, so one snapshot: the head,
 * the floor and the device's liveness are those of the same moment as
 * the events, and the cursor can never step over an event committed
 * meanwhile.  Returns a db_rc; p->events is the caller's.
 */
int
page_read(struct db *db, const struct event_query *q, struct page *p)
{
	struct event_head h;
	int		 rc;

	memset(p, 0, sizeof(*p));
	p->limit = q->limit;
	if ((p->events = json_array()) == NULL)
		return DB_ERROR;
	if ((rc = db_events_page(db, q, &h, page_one, p)) != DB_OK)
		return rc;
	p->device_active = h.device_active;
	p->floor = events_floor(h.head, h.floor, h.min_kept);
	if (p->floor > h.floor)
		log_json(LOG_WARN, "event floor behind the events kept",
		    json_pack("{s:I, s:I, s:I}", "user",
		    (json_int_t)q->user_id, "floor", (json_int_t)h.floor,
		    "kept_from", (json_int_t)p->floor + 1));
	p->cursor = events_cursor(h.head, p->more, p->last);
	return DB_OK;
}

/* 401 DEVICE_REVOKED: a poll of a device revoked or logged out. */
int
revoked_answer(struct resp *resp)
{
	resp_header(resp, "WWW-Authenticate", "Bearer realm=\"tandem\", "
	    "error=\"invalid_token\"");
	return problem(resp, 401, "DEVICE_REVOKED", "this device was revoked "
	    "or logged out; log in again");
}

/* 410 CURSOR_EXPIRED: a cursor below the newest event pruned. */
int
expired_answer(struct resp *resp, int64_t floor)
{
	return problem(resp, 410, "CURSOR_EXPIRED", "events up to %lld were "
	    "pruned; poll without after to start again", (long long)floor);
}

/*
 * A poll that must wait counts against its device's and its user's caps
 * (TANDEM_MAX_WAITS_PER_DEVICE, TANDEM_MAX_WAITS_PER_USER).  Returns 0
 * when it may wait (counted), or the 429 it answers instead.
 */
int
wait_refused(struct req *req, struct resp *resp)
{
	enum waits_rc	 rc = waits_enter(req->user_id, req->device_id);

	if (rc == WAITS_OK)
		return 0;
	resp_header(resp, "Retry-After", "%d", WAIT_RETRY_S);
	if (rc == WAITS_TABLE_FULL)
		problem(resp, 429, "RATE_LIMITED", "this server has too many "
		    "polls waiting; retry later");
	else
		problem(resp, 429, "RATE_LIMITED", "this %s has %lld polls "
		    "waiting already", rc == WAITS_DEVICE_FULL ? "device" :
		    "account", (long long)(rc == WAITS_DEVICE_FULL ?
		    cfg.max_waits_per_device : cfg.max_waits_per_user));
	problem_set(resp, "retry_after_s", json_integer(WAIT_RETRY_S));
	return resp->status;
}

static int
wake_one(void *arg, const struct event_row *e)
{
	struct wake_read *w = arg;
	struct woke	*v, *o;
	json_t		*d;
	size_t		 cap;

	if ((int64_t)w->n == w->limit) {
		w->more = 1;
		return DB_ROLLBACK;
	}
	if (w->n == w->cap) {
		cap = w->cap ? w->cap * 2 : 16;
		if ((v = realloc(w->v, cap * sizeof(*v))) == NULL)
			return DB_ERROR;
		w->v = v;
		w->cap = cap;
	}
	o = &w->v[w->n];
	memset(o, 0, sizeof(*o));
	o->seq = e->seq;
	snprintf(o->type, sizeof(o->type), "%s", e->type);
	snprintf(o->device_id, sizeof(o->device_id), "%s", e->device_id);
	snprintf(o->session_id, sizeof(o->session_id), "%s", e->session_id);
	if ((o->json = event_json(e)) == NULL)
		return DB_ERROR;
	if (strcmp(e->type, "device.revoked") == 0 &&
	    (d = json_object_get(json_object_get(o->json, "data"),
	    "device_id")) != NULL && json_is_string(d))
		snprintf(o->revoked, sizeof(o->revoked), "%s",
		    json_string_value(d));
	w->n++;
	return DB_OK;
}

void
wake_read_release(struct wake_read *w)
{
	size_t	 i;

	for (i = 0; i < w->n; i++)
		json_decref(w->v[i].json);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

/* Whether w's filters skip e (exclude_self, session_id). */
int
wait_skips(const struct wait *w, const struct woke *e)
{
	if (w->exclude_self && e->device_id[0] != '\0' &&
	    strcmp(e->device_id, w->device_id) == 0)
		return 1;
	return w->session_id[0] != '\0' &&
	    strcmp(e->session_id, w->session_id) != 0;
}

/*
 * Read user's events after after, up to WAKE_READ_MAX of them, into r
 * (wake_read_release it), with the head, floor and liveness of the same
 * snapshot in *h.  Returns a db_rc.
 */
int
wake_read(struct db *db, int64_t user_id, int64_t after,
    struct wake_read *r, struct event_head *h)
{
	struct event_query q;

	memset(&q, 0, sizeof(q));
	memset(r, 0, sizeof(*r));
	q.user_id = user_id;
	q.after = after;
	q.limit = r->limit = WAKE_READ_MAX;
	return db_events_page(db, &q, h, wake_one, r);
}

/*
 * Whether w's device is still active in w's login: read when a wake saw
 * its device revoked.  Returns 1, 0, or -1 (the store failed).
 */
static int
wait_device_active(struct db *db, const struct wait *w)
{
	struct device_row d;
	int		 rc, active;

	rc = db_device_get(db, w->q.user_id, w->device_id, &d);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != DB_OK)
		return -1;
	active = d.revoked_at == 0 && strcmp(d.family, w->family) == 0;
	device_row_release(&d);
	return active;
}

/*
 * The waits of v[0..n) whose device a device.revoked event of r names,
 * and which the store confirms is no longer active in their login, are
 * marked revoked.
 */
void
wake_mark_revoked(struct db *db, const struct wake_read *r,
    struct park_entry **v, size_t n)
{
	struct wait	*w;
	size_t		 i, j;

	for (i = 0; i < r->n; i++) {
		if (r->v[i].revoked[0] == '\0')
			continue;
		for (j = 0; j < n; j++) {
			w = (struct wait *)v[j];
			if (!w->revoked &&
			    strcmp(w->device_id, r->v[i].revoked) == 0 &&
			    wait_device_active(db, w) == 0)
				w->revoked = 1;
		}
	}
}

/*
 * A wait of kind for req with query q: its own copies of what q points
 * at (they die with req), its connection and user.  NULL when out of
 * memory.
 */
struct wait *
wait_new(struct req *req, const struct event_query *q, enum wait_kind kind)
{
	struct wait	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->kind = kind;
	w->q = *q;
	snprintf(w->device_id, sizeof(w->device_id), "%s", req->device_id);
	snprintf(w->family, sizeof(w->family), "%s",
	    q->family != NULL ? q->family : "");
	snprintf(w->session_id, sizeof(w->session_id), "%s",
	    q->session_id != NULL ? q->session_id : "");
	w->exclude_self = q->exclude_device != NULL;
	w->q.exclude_device = w->exclude_self ? w->device_id : NULL;
	w->q.session_id = w->session_id[0] != '\0' ? w->session_id : NULL;
	w->q.device_id = w->device_id;
	w->q.family = w->family;
	w->pe.fd = req->fcgi->ipcFd;
	w->pe.user_id = req->user_id;
	buf_init(&w->out, 0);
	return w;
}

void
wait_free(struct wait *w)
{
	buf_release(&w->out);
	free(w);
}
