/*
 * What every handler answers with, and the dispatcher too: the request's
 * store connection, the answer of a store failure, an enumerated query
 * parameter, sending an answer (status line, headers, body) with its
 * count and log line, and the hand-over of a request that waits without
 * its thread (dispatch_hold, then dispatch_answer or, for an answer its
 * owner wrote itself, dispatch_done).  handlers/routes.c has the route
 * table and the dispatcher.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include "clock.h"
#include "config.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "log.h"
#include "park.h"
#include "problem.h"
#include "stats.h"

/*
 * The request's store connection, borrowed from the worker's pool on
 * first use and given back by req_db_release() (the dispatcher does so
 * after the handler, or a long poll before it waits).
 */
struct db *
req_db(struct req *req)
{
	if (req->db == NULL)
		req->db = db_acquire();
	return req->db;
}

void
req_db_release(struct req *req)
{
	if (req->db != NULL) {
		db_release(req->db);
		req->db = NULL;
	}
}

/*
 * The answer for a store result that is no outcome of an area's rules:
 * DB_NOTFOUND is 404; DB_TIMEOUT 503 (the write would hold the database
 * past TANDEM_MAX_WRITE_MS, nothing written); anything else 503.  Both
 * 503s ask to retry in a second.  Returns the status.
 */
int
answer_db(struct resp *resp, int rc)
{
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no such resource");
	resp_header(resp, "Retry-After", "1");
	return problem(resp, 503, "SERVICE_UNAVAILABLE", "%s",
	    rc == DB_BUSY ? "the database is busy; retry" :
	    rc == DB_TIMEOUT ? "the write would take longer than the server "
	    "allows one to hold the database; nothing was written" :
	    "the database is unavailable; retry later");
}

/*
 * An enumerated query parameter: one of names (NULL-terminated), def
 * when absent.  Returns 0, or -1 with a 400 naming it.
 */
int
query_enum(struct req *req, struct resp *resp, const char *name,
    const char *const *names, int def, int *out)
{
	const char	*s = req_query(req, name);
	struct buf	 list;
	int		 i;

	*out = def;
	if (s == NULL)
		return 0;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	buf_init(&list, 256);
	for (i = 0; names[i] != NULL; i++)
		buf_addf(&list, "%s%s", i > 0 ? ", " : "", names[i]);
	problem_field(resp, 400, "VALIDATION_FAILED", name, "%s is one of %s",
	    name, buf_str(&list));
	buf_release(&list);
	return -1;
}

static void
send_response(FCGX_Request *r, struct req *req, struct resp *resp)
{
	char	*body = NULL;
	size_t	 len = 0;

	if (resp->status == 0)
		problem(resp, 500, "INTERNAL_ERROR", "no response");
	if (resp->body != NULL) {
		if (resp->status >= 400)
			json_object_set_new(resp->body, "request_id",
			    json_string(req->request_id));
		/* canonical: numbers in their shortest round-trip form */
		body = jcs_dump_answer(resp->body);
		len = body ? strlen(body) : 0;
	} else if (resp->raw.len > 0) {
		len = resp->raw.len;
	}
	FCGX_FPrintF(r->out, "Status: %d %s\r\n", resp->status,
	    http_reason(resp->status));
	if (resp->status != 204 && (resp->body != NULL || resp->raw.len > 0 ||
	    resp->stream != NULL))
		FCGX_FPrintF(r->out, "Content-Type: %s\r\n",
		    resp->content_type ? resp->content_type :
		    "application/json");
	FCGX_FPrintF(r->out, "X-Request-Id: %s\r\nCache-Control: no-store\r\n"
	    "%s\r\n", req->request_id, buf_str(&resp->headers));
	if (resp->stream != NULL) {
		/* a failure mid-answer cuts the connection, so the client
		 * sees a transfer cut short, never a complete-looking body */
		if (req->method != HTTP_HEAD &&
		    resp->stream(req, resp->stream_arg) == -1) {
			FCGX_FFlush(r->out);
			shutdown(r->ipcFd, SHUT_RDWR);
		}
	} else if (req->method != HTTP_HEAD && resp->status != 204) {
		if (body != NULL) {
			FCGX_PutStr(body, (int)len, r->out);
			FCGX_PutS("\n", r->out);
		} else if (resp->raw.len > 0)
			FCGX_PutStr(resp->raw.data, (int)resp->raw.len,
			    r->out);
	}
	free(body);
}

static void
log_request(struct req *req, struct resp *resp, int64_t dur_us)
{
	enum log_level lvl = resp->status >= 500 ? LOG_ERROR : LOG_INFO;
	json_t	*f;
	char	*path;

	if (!log_enabled(lvl))
		return;
	/* a path may hold any byte nginx decoded: log it as valid UTF-8 */
	if ((path = strdup(req->path ? req->path : "")) != NULL)
		utf8_scrub(path);
	f = json_pack("{s:s, s:s, s:i, s:f, s:s, s:s?, s:s?}",
	    "method", req->method < HTTP__MAX ?
	    http_method_names[req->method] : "?",
	    "path", path ? path : "?",
	    "status", resp->status,
	    "ms", (double)dur_us / 1000.0,
	    "request_id", req->request_id,
	    "device", req->device_id,
	    "service", req->service);
	if (f != NULL && resp->status >= 400 && resp->body != NULL)
		json_object_set(f, "code", json_object_get(resp->body, "code"));
	log_json(lvl, "request", f);
	free(path);
}

/* Count an answer sent and log it. */
void
reply_account(struct req *req, struct resp *resp)
{
	int64_t	 dur = mono_us() - req->start_us;

	stats_request(resp->status, dur, req->waited);
	log_request(req, resp, dur);
}

/* Send the answer, count it, log it. */
void
reply_send(FCGX_Request *r, struct req *req, struct resp *resp)
{
	send_response(r, req, resp);
	reply_account(req, resp);
}

/*
 * Send resp now, from its handler, and keep the request open: the
 * answer goes on after it (an event stream's head, then its blocks).
 * Flushed.  The dispatcher then only counts and logs it, or, once the
 * handler hands it over (dispatch_hold), dispatch_done() does.  Returns
 * 0, or -1 when the connection failed.
 */
int
dispatch_send(struct req *req, struct resp *resp)
{
	send_response(req->fcgi, req, resp);
	resp->sent = 1;
	if (FCGX_FFlush(req->fcgi->out) == -1 ||
	    FCGX_GetError(req->fcgi->out) != 0)
		return -1;
	return 0;
}

/*
 * Hand req over to wait without its thread: keep its FastCGI request
 * and what its answer and log line need in *h, and tell the dispatcher
 * (resp->parked) to send nothing and leave the request alone.  The
 * caller owns *h until dispatch_answer().  Returns 0 or -1 (out of
 * memory: nothing is handed over).
 */
int
dispatch_hold(struct req *req, struct resp *resp, struct held *h)
{
	memset(h, 0, sizeof(*h));
	h->fcgi = req->fcgi;
	h->method = req->method;
	h->start_us = req->start_us;
	memcpy(h->request_id, req->request_id, sizeof(h->request_id));
	if ((h->path = strdup(req->path != NULL ? req->path : "")) == NULL ||
	    (req->device_id != NULL &&
	    (h->device_id = strdup(req->device_id)) == NULL) ||
	    (h->headers = strdup(buf_str(&resp->headers))) == NULL) {
		free(h->path);
		free(h->device_id);
		memset(h, 0, sizeof(*h));
		return -1;
	}
	resp->parked = 1;
	return 0;
}

/* What dispatch_hold() kept, given back unused. */
void
held_free(struct held *h)
{
	free(h->path);
	free(h->device_id);
	free(h->headers);
	memset(h, 0, sizeof(*h));
}

/*
 * Answer a request handed over by dispatch_hold() with resp (which it
 * frees), on whichever thread: send, count (as a poll that waited), log,
 * finish the FastCGI request and free it and *h.
 */
void
dispatch_answer(struct held *h, struct resp *resp)
{
	struct req	 req;
	struct buf	 headers;

	req_init(&req);
	req.fcgi = h->fcgi;
	req.method = h->method;
	req.path = h->path;
	req.device_id = h->device_id;
	req.start_us = h->start_us;
	req.waited = 1;
	memcpy(req.request_id, h->request_id, sizeof(req.request_id));
	/* the headers made before it waited (CORS) come first */
	buf_init(&headers, 16384);
	if (h->headers != NULL && *h->headers != '\0' &&
	    buf_adds(&headers, h->headers) == 0 &&
	    buf_add(&headers, resp->headers.data, resp->headers.len) == 0) {
		buf_release(&resp->headers);
		resp->headers = headers;
	} else
		buf_release(&headers);
	reply_send(h->fcgi, &req, resp);
	resp_free(resp);
	req_free(&req);		/* frees path and device_id */
	if (park_self()) {	/* the park thread does not wait for nginx */
		int fd = http_finish_open(h->fcgi);

		if (fd >= 0)
			park_linger(fd);
	} else
		FCGX_Finish_r(h->fcgi);
	free(h->fcgi);
	free(h->headers);
	memset(h, 0, sizeof(*h));
}

/*
 * End a request handed over whose answer its owner sent itself
 * (dispatch_send, then records of its own: an event stream): count and
 * log it as status, and free libfcgi's part of it and *h.  Its
 * connection is the caller's to close.
 */
void
dispatch_done(struct held *h, int status)
{
	struct req	 req;
	struct resp	 resp;

	req_init(&req);
	resp_init(&resp);
	req.method = h->method;
	req.path = h->path;
	req.device_id = h->device_id;
	req.start_us = h->start_us;
	req.waited = 1;
	memcpy(req.request_id, h->request_id, sizeof(req.request_id));
	resp.status = status;
	reply_account(&req, &resp);
	resp_free(&resp);
	req_free(&req);		/* frees path and device_id */
	FCGX_Free(h->fcgi, 0);
	free(h->fcgi);
	free(h->headers);
	memset(h, 0, sizeof(*h));
}

