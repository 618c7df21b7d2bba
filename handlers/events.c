/*
 * Events (API.md "Events and long polling"): every operation appends its
 * events with event_append() inside its own transaction, and the commit
 * rings the user's doorbell; GET /events is the long poll (or, asked for
 * text/event-stream, the stream: events_stream.c), POST /events an
 * application event.
 *
 * A poll that finds nothing after its cursor is parked (lib/park): its
 * accepting thread hands it over and goes back to accepting, and it
 * holds neither a thread nor a database connection while it waits.  The
 * doorbell counter is read before the database is, so an event committed
 * between the look and the park still wakes it.  A ring of its user's
 * bucket reads the user's new events once for every parked poll and
 * stream of that user (wait_wake); each takes its page (events_wait.c).
 * nginx closing the connection (the client left) frees a parked poll at
 * once; SIGTERM answers every one with what it has.  Where park cannot
 * take a poll (the worker stops), it waits on its thread as before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "events_rules.h"
#include "events_wait.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "log.h"
#include "park.h"
#include "problem.h"
#include "stats.h"
#include "waits.h"

/* The longest sleep between two looks at the client's connection. */
#define POLL_SLICE_MS	1000
#define POLL_LIMIT_DEF	100
#define POLL_TIMEOUT_DEF 25
/* Rows pruned per write transaction, and batches per sweep. */
#define SWEEP_BATCH	5000
#define SWEEP_BATCHES	20

/*
 * Append one event for user (inside the caller's transaction) and ring
 * the user's doorbell once it commits.  device_id is the device whose
 * request caused it, NULL when the server did.  Takes data (any value;
 * NULL stands for null).  The new per-user seq goes to *seq when seq is
 * not NULL.  Returns a db_rc.
 */
int
event_append(struct db *db, int64_t user_id, const char *device_id,
    const char *type, const char *session_id, json_t *data, int64_t *seq)
{
	return event_append_by(db, user_id, device_id, NULL, type,
	    session_id, data, seq);
}

/*
 * event_append() of an event a service key caused (service: its name,
 * device_id NULL), or a device (service NULL).
 */
int
event_append_by(struct db *db, int64_t user_id, const char *device_id,
    const char *service, const char *type, const char *session_id,
    json_t *data, int64_t *seq)
{
	struct event_new e;
	char		*text;
	int		 rc;

	text = jcs_dump_answer(data != NULL ? data : json_null());
	json_decref(data);
	if (text == NULL)
		return DB_ERROR;
	e.device_id = device_id;
	e.service = service;
	e.type = type;
	e.session_id = session_id;
	e.data = text;
	e.at = now_ms();
	rc = db_event_insert(db, user_id, &e, seq);
	free(text);
	if (rc == DB_OK)
		db_ring_user(db, user_id);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}







/* 200 {events, cursor, more}; takes ownership of events. */
static int
poll_answer(struct resp *resp, json_t *events, int64_t cursor, int more)
{
	if (events == NULL)
		events = json_array();
	return resp_json(resp, 200, json_pack("{s:o, s:I, s:b}",
	    "events", events, "cursor", (json_int_t)cursor, "more", more));
}

/*
 * Sleep until the doorbell of user moves away from seen, the deadline
 * (mono_us) passes, the worker stops or the client goes away.  Returns 1
 * when it rang for a reason to look again, 0 when the poll should answer
 * as it stands.  A watched connection (doorbell_watch) rings the bell
 * itself when the client leaves; otherwise the sleep is cut in slices.
 */
static int
poll_sleep(struct req *req, uint32_t seen, int64_t deadline, int watched)
{
	int64_t	 left_ms;

	for (;;) {
		if (doorbell_stopping() || req_client_gone(req))
			return 0;
		left_ms = (deadline - mono_us() + 999) / 1000;
		if (left_ms <= 0)
			return 0;
		if (!watched && left_ms > POLL_SLICE_MS)
			left_ms = POLL_SLICE_MS;
		if (doorbell_wait(req->user_id, seen, left_ms) == 1)
			return !doorbell_stopping() && !req_client_gone(req);
	}
}







/* Answer parked poll w with resp (taken), and let park free it. */
static void
wait_answer(struct wait *w, struct resp *resp)
{
	stats_longpoll(-1);
	waits_leave(w->q.user_id, w->device_id);
	dispatch_answer(&w->held, resp);
	w->pe.done = 1;
}

/* Answer w with its events so far (none): the timeout, the stop. */
static void
wait_answer_empty(struct wait *w)
{
	struct resp	 resp;

	resp_init(&resp);
	poll_answer(&resp, json_array(), w->q.after, 0);
	wait_answer(w, &resp);
}


/*
 * The page of poll w out of the events read for its user (r, after
 * r_after, up to head): its own filters, its limit.  Answers it when it
 * has events (or must be refused); else moves its cursor past what its
 * filters skipped and leaves it parked.
 */
static void
wait_page(struct wait *w, const struct wake_read *r, int64_t head,
    int64_t floor)
{
	struct resp	 resp;
	json_t		*events;
	int64_t		 cursor = w->q.after, last = w->q.after;
	size_t		 i;
	int		 more = 0;

	if (w->q.after < floor) {
		resp_init(&resp);
		expired_answer(&resp, floor);
		wait_answer(w, &resp);
		return;
	}
	if ((events = json_array()) == NULL)
		return;		/* out of memory: it stays, looks again */
	for (i = 0; i < r->n; i++) {
		if (r->v[i].seq <= w->q.after)
			continue;
		if (wait_skips(w, &r->v[i])) {
			last = r->v[i].seq;
			continue;
		}
		if ((int64_t)json_array_size(events) == w->q.limit) {
			more = 1;
			break;
		}
		json_array_append(events, r->v[i].json);
		last = r->v[i].seq;
	}
	if (more || r->more)
		cursor = last;
	else
		cursor = head > last ? head : last;
	if (json_array_size(events) == 0) {
		/* only skipped events: the cursor moves, the poll waits */
		json_decref(events);
		w->q.after = cursor;
		return;
	}
	resp_init(&resp);
	poll_answer(&resp, events, cursor, more || r->more);
	wait_answer(w, &resp);
}


/*
 * park: the user's doorbell rang.  The user's new events are read once,
 * after the oldest cursor among its polls; each poll takes its page of
 * them (park_ops.wake).
 */
static void
wait_wake(int64_t user_id, struct park_entry **v, size_t n)
{
	struct event_head h;
	struct wake_read r;
	struct db	*db;
	struct wait	*w;
	int64_t		 floor, after = INT64_MAX;
	size_t		 i;
	int		 rc;

	for (i = 0; i < n; i++) {
		w = (struct wait *)v[i];
		if (w->q.after < after)
			after = w->q.after;
	}
	db = db_acquire();
	rc = wake_read(db, user_id, after, &r, &h);
	if (rc == DB_OK)
		wake_mark_revoked(db, &r, v, n);
	db_release(db);
	if (rc != DB_OK) {
		/* the store failed: they look again at their deadline */
		wake_read_release(&r);
		return;
	}
	floor = events_floor(h.head, h.floor, h.min_kept);
	for (i = 0; i < n; i++) {
		w = (struct wait *)v[i];
		if (w->kind == WAIT_STREAM) {
			stream_take(w, &r, h.head, floor);
			continue;
		}
		if (w->revoked) {
			struct resp resp;

			resp_init(&resp);
			revoked_answer(&resp);
			wait_answer(w, &resp);
			continue;
		}
		wait_page(w, &r, h.head, floor);
	}
	wake_read_release(&r);
}

/* park: the timeout passed (park_ops.expire). */
static void
wait_expire(struct park_entry *e)
{
	struct wait	*w = (struct wait *)e;

	if (w->kind == WAIT_STREAM)
		stream_expire(w);
	else
		wait_answer_empty(w);
}

/* park: the client went away; its answer goes nowhere (park_ops.gone). */
static void
wait_gone(struct park_entry *e)
{
	struct wait	*w = (struct wait *)e;

	if (w->kind == WAIT_STREAM)
		stream_gone(w);
	else
		wait_answer_empty(w);
	wait_free(w);
}

/* park: the worker stops: answer with what it has (park_ops.stop). */
static void
wait_stop(struct park_entry *e)
{
	struct wait	*w = (struct wait *)e;

	if (w->kind == WAIT_STREAM)
		stream_stop(w);
	else
		wait_answer_empty(w);
	wait_free(w);
}

/* park: a stream's connection takes more (park_ops.writable). */
static void
wait_writable(struct park_entry *e)
{
	struct wait	*w = (struct wait *)e;

	if (w->kind == WAIT_STREAM)
		stream_writable(w);
}

static void
wait_release(struct park_entry *e)
{
	wait_free((struct wait *)e);
}


static const struct park_ops wait_ops = {
	wait_wake, wait_expire, wait_gone, wait_stop, wait_release,
	wait_writable
};

/* Each worker: polls wait without threads from now on. */
void
events_worker_start(void)
{
	if (park_start(&wait_ops) == -1)
		log_msg(LOG_WARN, "polls will wait holding their thread");
}



/*
 * Hand poll req (query q, which found nothing after q->after; seen is
 * the user's doorbell counter read before that look) over to park,
 * until deadline (mono_us).  Returns 0 (handed over: the dispatcher
 * sends nothing), or -1 (the caller waits holding its thread).
 */
static int
wait_park(struct req *req, struct resp *resp, const struct event_query *q,
    uint32_t seen, int64_t deadline)
{
	struct wait	*w;

	if ((w = wait_new(req, q, WAIT_POLL)) == NULL)
		return -1;
	w->pe.seen = seen;
	w->pe.deadline_us = deadline;
	if (dispatch_hold(req, resp, &w->held) == -1) {
		wait_free(w);
		return -1;
	}
	if (park_add(&w->pe) == -1) {
		/* not handed over after all: take the request back */
		resp->parked = 0;
		held_free(&w->held);
		wait_free(w);
		return -1;
	}
	return 0;
}

/*
 * GET /api/v1/events?after=SEQ&timeout=S&exclude_self=0|1&limit=N
 *     [&session_id=SID]
 * 200 {events:[{seq, type, at, device_id, data}], cursor, more}: at once
 *     when events after SEQ exist (or without after: no events and the
 *     current cursor), else when one arrives, the timeout passes, the
 *     worker stops or the client goes away (then events is empty).
 * 400 VALIDATION_FAILED (field: a query parameter out of range)
 * 401 DEVICE_REVOKED (the device was revoked or logged out meanwhile: a
 *     waiting poll wakes on device.revoked and learns it at once)
 * 410 CURSOR_EXPIRED (after is below the newest pruned seq)
 * 429 RATE_LIMITED (the device or the user has its cap of polls waiting)
 * 503 SERVICE_UNAVAILABLE (the database)
 *
 * exclude_self=1 skips the calling device's own events and session_id
 * keeps only that session's; skipped events move the cursor, and a poll
 * that only saw skipped events goes on waiting for the rest of its
 * timeout.  An after beyond the newest seq is accepted: the poll waits
 * for events past it.
 */
int
handle_events_poll(struct req *req, struct resp *resp)
{
	struct event_query q;
	struct event_head h;
	struct page	 page;
	int64_t		 timeout, deadline;
	char		 family[AUTH_FAMILY_LEN + 1];
	int		 exclude_self, rc, waiting = 0, watched, armed = 0;
	int		 fd = req->fcgi != NULL ? req->fcgi->ipcFd : -1;
	int		 tdef = POLL_TIMEOUT_DEF;
	uint32_t	 seen;

	memset(&q, 0, sizeof(q));
	memset(&page, 0, sizeof(page));
	q.user_id = req->user_id;
	if (tdef > cfg.max_poll_timeout_s)
		tdef = (int)cfg.max_poll_timeout_s;
	if (req_query_int(req, resp, "after", -1, 0, INT64_MAX - 1,
	    &q.after) == -1 ||
	    req_query_int(req, resp, "timeout", tdef, 0,
	    cfg.max_poll_timeout_s, &timeout) == -1 ||
	    req_query_int(req, resp, "limit", POLL_LIMIT_DEF, 1,
	    POLL_LIMIT_MAX, &q.limit) == -1 ||
	    req_query_bool(req, resp, "exclude_self", 0, &exclude_self) == -1)
		return resp->status;
	q.session_id = req_query(req, "session_id");
	if (q.session_id != NULL && !valid_id(q.session_id))
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    "session_id", "session_id must be 1..128 bytes of "
		    "[A-Za-z0-9._:-]");
	if (exclude_self)
		q.exclude_device = req->device_id;
	/* The token's login family leads its jti, as auth_access_verify()
	 * reads it: each look also checks that the login is still alive. */
	if (req->jti != NULL && req->device_id != NULL &&
	    strlen(req->jti) >= AUTH_FAMILY_LEN) {
		memcpy(family, req->jti, AUTH_FAMILY_LEN);
		family[AUTH_FAMILY_LEN] = '\0';
		q.device_id = req->device_id;
		q.family = family;
	}
	if (wants_stream(req))
		return events_stream(req, resp, &q);

	if (q.after < 0) {
		rc = db_events_head(req_db(req), req->user_id, &h);
		req_db_release(req);
		if (rc != DB_OK)
			return answer_db(resp, rc == DB_NOTFOUND ? DB_ERROR :
			    rc);
		return poll_answer(resp, json_array(), h.head, 0);
	}

	deadline = mono_us() + timeout * 1000000;
	for (;;) {
		seen = doorbell_read(req->user_id);
		rc = page_read(req_db(req), &q, &page);
		req_db_release(req);
		if (rc != DB_OK) {
			json_decref(page.events);
			answer_db(resp, rc == DB_NOTFOUND ? DB_ERROR : rc);
			goto out;
		}
		if (!page.device_active) {
			json_decref(page.events);
			revoked_answer(resp);
			goto out;
		}
		if (q.after < page.floor) {
			json_decref(page.events);
			expired_answer(resp, page.floor);
			goto out;
		}
		q.after = page.cursor;
		/* events, or a poll that does not wait (timeout 0): answer */
		if (json_array_size(page.events) > 0 || timeout == 0)
			break;
		if (!waiting) {
			if (wait_refused(req, resp) != 0) {
				json_decref(page.events);
				goto out;
			}
			stats_longpoll(1);
			waiting = 1;
			req->waited = 1;
			/* wait without this thread, when the worker can */
			if (wait_park(req, resp, &q, seen, deadline) == 0) {
				json_decref(page.events);
				return resp->status;
			}
		}
		/* (re-)armed before each sleep: the watch fires once */
		watched = fd >= 0 && doorbell_watch(fd, req->user_id) == 0;
		armed |= watched;
		if (!poll_sleep(req, seen, deadline, watched))
			break;
		json_decref(page.events);
		page.events = NULL;
	}
	poll_answer(resp, page.events, page.cursor, page.more);
out:
	if (armed)
		doorbell_unwatch(fd);
	if (waiting) {
		stats_longpoll(-1);
		waits_leave(req->user_id, req->device_id);
	}
	return resp->status;
}

struct post_op {
	int64_t		 user_id;
	const char	*device_id;	/* NULL: a service key */
	const char	*service;
	const char	*type;
	const char	*sid;
	json_t		*data;
	json_t		*event;		/* the answer */
};

static int
post_tx(struct db *db, void *arg)
{
	struct post_op	*p = arg;
	struct event_row e;
	int64_t		 seq;
	int		 rc;

	json_decref(p->event);
	p->event = NULL;
	if ((rc = event_append_by(db, p->user_id, p->device_id, p->service,
	    p->type, p->sid, json_incref(p->data), &seq)) != DB_OK)
		return rc;
	if ((rc = db_event_get(db, p->user_id, seq, &e)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	p->event = event_json(&e);
	event_row_release(&e);
	return p->event != NULL ? DB_OK : DB_ERROR;
}

/*
 * POST /api/v1/events {type, data, session_id?}
 * POST /api/v1/service/users/{uid}/events (a key with scope events: the
 *     event is the key's, device_id null and service its name)
 * 201 {event:{seq, type, at, device_id, data, service?}}
 * 400 VALIDATION_FAILED (field: type not "app." + 1..60 of [a-z0-9._-],
 *     a system type included; data missing; session_id not an id)
 * 413 PAYLOAD_TOO_LARGE (field data: canonical size over
 *     TANDEM_MAX_EVENT_BYTES)
 * 503 SERVICE_UNAVAILABLE (the database)
 *
 * session_id tags the event (GET /events?session_id= filters on it); it
 * is not required to name an existing session.
 */
int
handle_events_post(struct req *req, struct resp *resp)
{
	struct post_op	 p;
	char		*canon;
	size_t		 size;
	int		 rc;

	memset(&p, 0, sizeof(p));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "type", "type", F_REQUIRED, 1, 256,
	    &p.type) == -1)
		return resp->status;
	if (!app_type_valid(p.type))
		return problem_field(resp, 400, "VALIDATION_FAILED", "type",
		    "type must be \"app.\" followed by 1..60 bytes of "
		    "[a-z0-9._-]");
	if ((p.data = json_member_normal(req->json, "data")) == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "data",
		    "data is required");
	if (field_id(resp, req->json, "session_id", "session_id", F_NULLABLE,
	    &p.sid) == -1)
		return resp->status;
	if ((canon = jcs_dump(p.data)) == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "data",
		    "data cannot be represented as canonical JSON");
	size = strlen(canon);
	free(canon);
	if (size > (size_t)cfg.max_event_bytes)
		return problem_field(resp, 413, "PAYLOAD_TOO_LARGE", "data",
		    "data is %zu bytes; at most %lld", size,
		    (long long)cfg.max_event_bytes);
	p.user_id = req->user_id;
	p.device_id = req->device_id;
	p.service = req->service;
	if ((rc = db_tx(req_db(req), post_tx, &p)) != DB_OK) {
		json_decref(p.event);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 201, json_pack("{s:o}", "event", p.event));
}

struct prune_op {
	int64_t		 before;
	int		 done;
};

static int
prune_tx(struct db *db, void *arg)
{
	struct prune_op	*p = arg;

	return db_events_prune(db, p->before, SWEEP_BATCH, &p->done);
}

/*
 * The sweeper: prune events older than TANDEM_EVENT_DAYS, in batches of
 * one transaction each, raising each user's event_floor to the newest
 * seq pruned, so the floor is always the newest seq pruned and every
 * event above it is still kept.  Costs one indexed read when there is
 * nothing to prune.  Returns a db_rc.
 */
int
events_sweep(struct db *db, int64_t now)
{
	struct prune_op	 p;
	int64_t		 oldest;
	int		 i, rc;

	p.before = now - cfg.event_days * 86400000;
	p.done = 0;
	if ((rc = db_events_oldest(db, &oldest)) != DB_OK || oldest == 0 ||
	    oldest >= p.before)
		return rc;
	for (i = 0; i < SWEEP_BATCHES && !p.done; i++)
		if ((rc = db_tx(db, prune_tx, &p)) != DB_OK)
			return rc;
	return DB_OK;
}
