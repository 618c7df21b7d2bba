/*
 * The event stream (API.md "The event stream"): GET /events with
 * Accept: text/event-stream answers Server-Sent Events, the same events
 * as the long poll, for as long as TANDEM_STREAM_MAX_S.
 *
 * The accepting thread checks the request as a poll's (the token, the
 * cursor from after or Last-Event-ID, its floor, the device's caps),
 * sends the head, the retry: block and every event already past the
 * cursor, then parks the stream (lib/park) and goes back to accepting.
 * From then on the park thread writes it: a ring of the user's doorbell
 * reads the user's new events once for all its polls and streams
 * (events.c, wait_wake) and each stream takes its blocks; its deadline
 * brings the : ping after 15 quiet seconds and the end.  libfcgi writes
 * only with blocking writes, and one slow client must never stall the
 * park thread, so after the head the stream frames its own FastCGI
 * records (http_fcgi_*) and sends them with non-blocking sends, keeping
 * what the connection has not taken (at most STREAM_OUT_MAX; a client
 * that falls that far behind is cut off, and resumes from its
 * Last-Event-ID).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "events_rules.h"
#include "events_wait.h"
#include "jcs.h"
#include "log.h"
#include "problem.h"
#include "rand.h"
#include "stats.h"
#include "waits.h"

#define STREAM_PING_US	(15 * INT64_C(1000000))
/* Bytes a stream may have framed and not yet sent. */
#define STREAM_OUT_MAX	(1024 * 1024)
/* How long its last bytes may take to leave once it ends. */
#define STREAM_DRAIN_US	(2 * INT64_C(1000000))
/* retry: drawn from RETRY_MIN_MS .. RETRY_MIN_MS + RETRY_SPAN_MS - 1 */
#define RETRY_MIN_MS	2000
#define RETRY_SPAN_MS	3001

/* Whether req asks for the stream (Accept names text/event-stream). */
int
wants_stream(const struct req *req)
{
	const char	*a = req_header(req, "HTTP_ACCEPT");

	return a != NULL && strcasestr(a, "text/event-stream") != NULL;
}

/* The block of one event object: id, event, data on one line. */
static int
block_event(struct buf *b, json_t *ev)
{
	json_t	*seq = json_object_get(ev, "seq");
	json_t	*type = json_object_get(ev, "type");
	char	*data;
	int	 rc;

	if (!json_is_integer(seq) || !json_is_string(type) ||
	    (data = jcs_dump_answer(ev)) == NULL)
		return -1;
	rc = buf_addf(b, "id: %lld\nevent: %s\ndata: %s\n\n",
	    (long long)json_integer_value(seq), json_string_value(type), data);
	free(data);
	return rc;
}

/* The block that ends a stream on a problem: event: error. */
static int
block_error(struct buf *b, struct resp *resp, const char *request_id)
{
	char	*data;
	int	 rc;

	if (resp->body == NULL)
		return -1;
	json_object_set_new(resp->body, "request_id", json_string(request_id));
	if ((data = jcs_dump_answer(resp->body)) == NULL)
		return -1;
	rc = buf_addf(b, "event: error\ndata: %s\n\n", data);
	free(data);
	return rc;
}

/* ---- the opening, on the accepting thread ---------------------------- */

struct opening {
	struct event_query *q;
	struct page	*page;
	int		 retry_ms;
	int		 ended;		/* it ended on a problem already */
};

/*
 * resp->stream of the head: retry:, then every event past the cursor,
 * a page at a time, moving q->after.  Returns 0, or -1 (cut short).
 */
static int
stream_open(struct req *req, void *arg)
{
	struct opening	*o = arg;
	struct page	*p = o->page;
	struct resp	 prob;
	struct buf	 b;
	size_t		 i;
	int		 rc = 0;

	buf_init(&b, 0);
	if (buf_addf(&b, "retry: %d\n\n", o->retry_ms) == -1)
		return -1;
	for (;;) {
		for (i = 0; i < json_array_size(p->events); i++)
			if (block_event(&b, json_array_get(p->events, i)) == -1)
				rc = -1;
		o->q->after = p->cursor;
		if (rc == -1 || FCGX_PutStr(b.data, (int)b.len,
		    req->fcgi->out) != (int)b.len) {
			rc = -1;
			break;
		}
		buf_reset(&b);
		if (!p->more)
			break;
		json_decref(p->events);
		p->events = NULL;
		if (page_read(req_db(req), o->q, p) != DB_OK) {
			rc = -1;
			break;
		}
		if (!p->device_active || o->q->after < p->floor) {
			resp_init(&prob);
			if (!p->device_active)
				revoked_answer(&prob);
			else
				expired_answer(&prob, p->floor);
			if (block_error(&b, &prob, req->request_id) == 0)
				FCGX_PutStr(b.data, (int)b.len, req->fcgi->out);
			resp_free(&prob);
			o->ended = 1;
			break;
		}
	}
	req_db_release(req);
	buf_release(&b);
	return rc;
}

/* The stream no longer waits: its caps and the waiting count. */
static void
stream_leave(int64_t user_id, const char *device_id)
{
	stats_longpoll(-1);
	waits_leave(user_id, device_id);
}

/* Last-Event-ID as a cursor into *after.  Returns 0, or -1 (bad). */
static int
last_event_id(const char *s, int64_t *after)
{
	char		*end;
	long long	 v;

	if (*s < '0' || *s > '9' || strlen(s) > 19)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v >= INT64_MAX)
		return -1;
	*after = v;
	return 0;
}

/*
 * GET /api/v1/events with Accept: text/event-stream, q parsed as a
 * poll's (events.c); q->after < 0 when the query has no after.
 * 200 text/event-stream, open for TANDEM_STREAM_MAX_S; before it starts
 * the poll's problems: 400 VALIDATION_FAILED (a bad Last-Event-ID too),
 * 401 DEVICE_REVOKED, 410 CURSOR_EXPIRED, 429 RATE_LIMITED, 503.
 */
int
events_stream(struct req *req, struct resp *resp, struct event_query *q)
{
	struct opening	 o;
	struct event_head h;
	struct page	 page;
	struct wait	*w;
	const char	*lei;
	uint32_t	 seen, r;
	int64_t		 now;
	int		 rc;

	if (q->after < 0 && (lei = req_header(req, "HTTP_LAST_EVENT_ID")) !=
	    NULL && *lei != '\0' && last_event_id(lei, &q->after) == -1)
		return problem_field(resp, 400, "VALIDATION_FAILED",
		    "Last-Event-ID", "Last-Event-ID must be the seq of an "
		    "event (0 or more)");
	if (q->after < 0) {
		/* neither: the events from now on */
		rc = db_events_head(req_db(req), req->user_id, &h);
		if (rc != DB_OK) {
			req_db_release(req);
			return answer_db(resp, rc == DB_NOTFOUND ? DB_ERROR :
			    rc);
		}
		q->after = h.head;
	}
	seen = doorbell_read(req->user_id);
	rc = page_read(req_db(req), q, &page);
	req_db_release(req);
	if (rc != DB_OK) {
		json_decref(page.events);
		return answer_db(resp, rc == DB_NOTFOUND ? DB_ERROR : rc);
	}
	if (!page.device_active || q->after < page.floor) {
		json_decref(page.events);
		return !page.device_active ? revoked_answer(resp) :
		    expired_answer(resp, page.floor);
	}
	if (wait_refused(req, resp) != 0) {
		json_decref(page.events);
		return resp->status;
	}
	stats_longpoll(1);
	req->waited = 1;

	if (rand_bytes(&r, sizeof(r)) == -1)
		r = 0;
	o.q = q;
	o.page = &page;
	o.retry_ms = RETRY_MIN_MS + (int)(r % RETRY_SPAN_MS);
	o.ended = 0;
	resp->status = 200;
	resp->content_type = "text/event-stream";
	/* nginx passes it on as it comes */
	resp_header(resp, "X-Accel-Buffering", "no");
	resp->stream = stream_open;
	resp->stream_arg = &o;
	rc = dispatch_send(req, resp);
	resp->stream = NULL;
	resp->stream_arg = NULL;	/* ours, on the stack (resp_free frees it) */
	json_decref(page.events);
	if (rc == -1 || o.ended || (w = wait_new(req, q, WAIT_STREAM)) ==
	    NULL) {
		/* gone, or ended already: the dispatcher finishes it */
		stream_leave(req->user_id, req->device_id);
		return resp->status;
	}
	now = mono_us();
	w->request_id = req->fcgi->requestId;
	w->last_write_us = now;
	w->end_us = req->start_us + cfg.stream_max_s * INT64_C(1000000);
	w->pe.seen = seen;
	w->pe.deadline_us = w->end_us < now + STREAM_PING_US ? w->end_us :
	    now + STREAM_PING_US;
	buf_init(&w->out, STREAM_OUT_MAX);
	if (dispatch_hold(req, resp, &w->held) == -1) {
		wait_free(w);
		stream_leave(req->user_id, req->device_id);
		return resp->status;
	}
	if (park_add(&w->pe) == -1) {
		/* the worker stops: the stream ends here */
		resp->parked = 0;
		held_free(&w->held);
		wait_free(w);
		stream_leave(req->user_id, req->device_id);
	}
	return resp->status;
}

/* ---- in park, on the park thread ------------------------------------- */

/* The stream is over: counted, logged, its connection closed. */
static void
stream_close(struct wait *w, int lingering)
{
	int	 fd = w->pe.fd;

	stream_leave(w->q.user_id, w->device_id);
	dispatch_done(&w->held, 200);
	if (lingering)
		park_linger(fd);
	else
		close(fd);
	w->pe.want_out = 0;
	w->pe.done = 1;
}

/*
 * Send what the connection takes now.  Asks to hear when it takes more
 * while bytes remain; closes the stream once its end is sent, or when
 * the connection failed.
 */
static void
stream_flush(struct wait *w)
{
	ssize_t	 n;

	while (w->out_off < w->out.len) {
		n = send(w->pe.fd, w->out.data + w->out_off,
		    w->out.len - w->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			w->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		stream_close(w, 0);	/* nginx is gone */
		return;
	}
	if (w->out_off < w->out.len) {
		w->pe.want_out = 1;
		return;
	}
	buf_reset(&w->out);
	w->out_off = 0;
	w->pe.want_out = 0;
	if (w->ending)
		stream_close(w, 1);
}

/*
 * Frame text as the stream's next bytes.  A client that has not taken
 * STREAM_OUT_MAX is cut off (it resumes from its Last-Event-ID).
 * Returns 0, or -1 when the stream was closed.
 */
static int
stream_queue(struct wait *w, const struct buf *text)
{
	if (text->len == 0)
		return 0;
	if (w->out_off > 0 && w->out_off == w->out.len) {
		buf_reset(&w->out);
		w->out_off = 0;
	}
	if (http_fcgi_stdout(&w->out, w->request_id, text->data,
	    text->len) == -1) {
		log_msg(LOG_WARN, "event stream of device %s: %zu bytes not "
		    "taken; closed", w->device_id, w->out.len - w->out_off);
		stream_close(w, 0);
		return -1;
	}
	w->last_write_us = mono_us();
	return 0;
}

/* Frame the end of the answer; the stream closes once it is sent. */
static void
stream_end(struct wait *w)
{
	if (w->ending)
		return;
	if (http_fcgi_end(&w->out, w->request_id) == -1) {
		stream_close(w, 0);
		return;
	}
	w->ending = 1;
	w->pe.deadline_us = mono_us() + STREAM_DRAIN_US;
	stream_flush(w);
}

/* End the stream on a problem, after its event: error block. */
static void
stream_fail(struct wait *w, struct resp *prob)
{
	struct buf	 b;

	buf_init(&b, 0);
	if (block_error(&b, prob, w->held.request_id) == 0 &&
	    stream_queue(w, &b) == -1) {
		buf_release(&b);
		return;
	}
	buf_release(&b);
	stream_end(w);
}

/* Its next deadline: a ping, its end, or at once when behind. */
static void
stream_deadline(struct wait *w)
{
	int64_t	 next;

	if (w->pe.done || w->ending)
		return;
	next = w->behind ? mono_us() : w->last_write_us + STREAM_PING_US;
	w->pe.deadline_us = next < w->end_us ? next : w->end_us;
}

/*
 * The user's events read for a wake (r, up to head): the stream's blocks
 * of those past its cursor that its filters keep.  When the read held
 * only part of them (r->more), the stream reads on at its deadline, at
 * once.
 */
void
stream_take(struct wait *w, const struct wake_read *r, int64_t head,
    int64_t floor)
{
	struct resp	 prob;
	struct buf	 b;
	int64_t		 last = w->q.after;
	size_t		 i;
	int		 rc = 0;

	if (w->pe.done || w->ending)
		return;
	if (w->revoked || w->q.after < floor) {
		resp_init(&prob);
		if (w->revoked)
			revoked_answer(&prob);
		else
			expired_answer(&prob, floor);
		stream_fail(w, &prob);
		resp_free(&prob);
		return;
	}
	buf_init(&b, 0);
	for (i = 0; i < r->n && rc == 0; i++) {
		if (r->v[i].seq <= w->q.after)
			continue;
		if (!wait_skips(w, &r->v[i]))
			rc = block_event(&b, r->v[i].json);
		if (rc == 0)
			last = r->v[i].seq;
	}
	/* out of memory midway: the rest comes at the next look */
	w->behind = r->more || rc == -1;
	w->q.after = w->behind || head < last ? last : head;
	if (stream_queue(w, &b) == 0) {
		stream_flush(w);
		stream_deadline(w);
	}
	buf_release(&b);
}

/* Its deadline: read on when behind, a ping, or its end. */
void
stream_expire(struct wait *w)
{
	struct event_head h;
	struct wake_read r;
	struct park_entry *one = &w->pe;
	struct buf	 b;
	struct db	*db;
	int64_t		 now = mono_us();
	int		 rc;

	if (w->ending) {
		/* its end did not leave in time */
		stream_close(w, 0);
		return;
	}
	if (now >= w->end_us) {
		stream_end(w);
		return;
	}
	if (w->behind) {
		db = db_acquire();
		rc = wake_read(db, w->q.user_id, w->q.after, &r, &h);
		if (rc == DB_OK)
			wake_mark_revoked(db, &r, &one, 1);
		db_release(db);
		if (rc == DB_OK)
			stream_take(w, &r, h.head,
			    events_floor(h.head, h.floor, h.min_kept));
		else
			w->pe.deadline_us = now + 1000000;
		wake_read_release(&r);
		return;
	}
	if (now - w->last_write_us >= STREAM_PING_US - 1000) {
		buf_init(&b, 0);
		rc = buf_adds(&b, ": ping\n\n") == 0 ? stream_queue(w, &b) : 0;
		buf_release(&b);
		if (rc == -1)
			return;
		stream_flush(w);
	}
	stream_deadline(w);
}

/* Its connection takes more. */
void
stream_writable(struct wait *w)
{
	stream_flush(w);
}

/* nginx closed the connection (the client left): it holds nothing more. */
void
stream_gone(struct wait *w)
{
	stream_close(w, 0);
}

/* The worker stops: its end, as far as the connection takes it now. */
void
stream_stop(struct wait *w)
{
	if (!w->ending &&
	    http_fcgi_end(&w->out, w->request_id) == 0)
		w->ending = 1;
	if (w->out_off < w->out.len)
		(void)send(w->pe.fd, w->out.data + w->out_off,
		    w->out.len - w->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
	stream_close(w, 1);
}
