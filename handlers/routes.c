/*
 * The route table and the dispatcher: the front-line work done once for
 * every request, in the contract's order: cross-origin headers and the
 * preflight of an allowed Origin, route (404/405), size (413), token or
 * service key (401, then a key's scope: 403), rate limit (429), then the
 * query and the path (400; a service route's {uid}: 404), the body
 * (415/400), then the handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include "clock.h"
#include "config.h"
#include "cors.h"
#include "handlers.h"
#include "jcs.h"
#include "json.h"
#include "log.h"
#include "park.h"
#include "problem.h"
#include "rand.h"
#include "ratelimit.h"
#include "stats.h"

const struct route routes[] = {
	{ HTTP_GET,    "/api/v1/health",			handle_health, 0 },
	{ HTTP_GET,    "/api/v1/info",				handle_info, 0 },
	{ HTTP_POST,   "/api/v1/auth/register",		handle_auth_register, 0 },
	{ HTTP_POST,   "/api/v1/auth/login",		handle_auth_login, 0 },
	{ HTTP_POST,   "/api/v1/auth/refresh",		handle_auth_refresh, 0 },
	{ HTTP_POST,   "/api/v1/auth/logout",		handle_auth_logout, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/auth/link",		handle_auth_link, 0 },
	{ HTTP_POST,   "/api/v1/auth/link/:lid/token",	handle_auth_link_token, 0 },
	{ HTTP_POST,   "/api/v1/links/approve",		handle_links_approve, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/links/deny",		handle_links_deny, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/devices",			handle_devices_list, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/devices/heartbeat",	handle_devices_heartbeat, ROUTE_AUTH },
	{ HTTP_PATCH,  "/api/v1/devices/:did",		handle_devices_patch, ROUTE_AUTH },
	{ HTTP_DELETE, "/api/v1/devices/:did",		handle_devices_delete, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/sessions",			handle_sessions_create, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/sessions",			handle_sessions_list, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/sessions/:sid",		handle_sessions_get, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/sessions/:sid/messages",	handle_messages_post, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/sessions/:sid/messages",	handle_messages_list, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/sessions/:sid/kill",	handle_sessions_kill, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/sessions/:sid/primary",	handle_sessions_primary_get, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/sessions/:sid/primary",	handle_sessions_primary_post, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/sessions/:sid/lock",	handle_sessions_lock_post, ROUTE_AUTH },
	{ HTTP_DELETE, "/api/v1/sessions/:sid/lock",	handle_sessions_lock_delete, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/sync/push",		handle_sync_push, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/sync/pull",		handle_sync_pull, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/sync/stats",		handle_sync_stats, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/collections",		handle_collections_list, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/collections/:c/records/:rid", handle_records_get, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/collections/:c/records/:rid/history", handle_records_history, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/import", handle_import, ROUTE_AUTH | ROUTE_BIG_BODY },
	{ HTTP_GET,    "/api/v1/conflicts",		handle_conflicts_list, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/conflicts/:cid",		handle_conflicts_get, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/conflicts/:cid/resolve",	handle_conflicts_resolve, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/export",			handle_export, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/events",			handle_events_poll, ROUTE_AUTH },
	{ HTTP_POST,   "/api/v1/events",			handle_events_post, ROUTE_AUTH },
	{ HTTP_GET,    "/api/v1/service/users",		handle_service_users_get, ROUTE_SERVICE },
	{ HTTP_POST,   "/api/v1/service/users/:uid/events", handle_events_post, ROUTE_SERVICE | ROUTE_SCOPE(SCOPE_EVENTS) },
	{ HTTP_POST,   "/api/v1/service/users/:uid/sync/push", handle_sync_push, ROUTE_SERVICE | ROUTE_SCOPE(SCOPE_RECORDS) },
	{ HTTP_GET,    "/api/v1/service/users/:uid/sync/pull", handle_sync_pull, ROUTE_SERVICE | ROUTE_SCOPE(SCOPE_RECORDS) },
	{ HTTP_GET,    "/api/v1/admin/stats",		handle_admin_stats, ROUTE_ADMIN },
	{ HTTP_GET,    "/metrics",				handle_metrics, ROUTE_ADMIN },
	{ HTTP__MAX, NULL, NULL, 0 }
};

/*
 * Match path against pattern segment by segment; ":name" segments capture
 * (percent-decoded) into req->params.  Returns 1 on a match.  On a
 * mismatch req's captures are undone.
 */
int
route_match(const char *pattern, const char *path, struct req *req)
{
	const char	*p = pattern, *s = path;
	int		 n0 = req->nparams;

	while (*p != '\0' && *s != '\0') {
		if (*p == ':') {
			const char *pe = strchr(p, '/'), *se = strchr(s, '/');
			size_t	 plen, slen;

			if (pe == NULL)
				pe = p + strlen(p);
			if (se == NULL)
				se = s + strlen(s);
			plen = (size_t)(pe - p - 1);
			slen = (size_t)(se - s);
			if (slen == 0 || req->nparams == REQ_MAX_PARAMS)
				goto miss;
			req->param_names[req->nparams] = NULL;
			req->params[req->nparams] = strndup(s, slen);
			if (req->params[req->nparams] == NULL)
				goto miss;
			/* the name is the pattern text after ':' */
			req->param_names[req->nparams] = p + 1;
			req->nparams++;
			(void)plen;
			p = pe;
			s = se;
			continue;
		}
		if (*p != *s)
			goto miss;
		p++;
		s++;
	}
	if (*p == '\0' && *s == '\0')
		return 1;
miss:
	while (req->nparams > n0) {
		req->nparams--;
		free(req->params[req->nparams]);
		req->params[req->nparams] = NULL;
	}
	return 0;
}

/*
 * Parameter names are stored as pointers into the pattern ("sid/messages");
 * cut them at the next '/' so req_param() can compare whole names.
 */
static void
params_fix_names(struct req *req)
{
	static const char *const names[] = { "did", "sid", "c", "rid", "cid",
	    "lid", "uid", NULL };
	int	 i, j;

	for (i = 0; i < req->nparams; i++)
		for (j = 0; names[j] != NULL; j++) {
			size_t n = strlen(names[j]);
			if (strncmp(req->param_names[i], names[j], n) == 0 &&
			    (req->param_names[i][n] == '/' ||
			    req->param_names[i][n] == '\0')) {
				req->param_names[i] = names[j];
				break;
			}
		}
}

/*
 * Path parameters must have the contract's shapes: client ids and
 * collection names are 400 VALIDATION_FAILED otherwise; conflict ids are
 * numbers, and anything else cannot exist (404); a link id of another
 * shape is no link (404 LINK_NOT_FOUND, as an unknown one); a user's id
 * is looked up as it is (service_user: 404 unless it exists).
 */
static int
params_check(struct req *req, struct resp *resp)
{
	int	 i;
	const char *n, *v;

	for (i = 0; i < req->nparams; i++) {
		n = req->param_names[i];
		v = req->params[i];
		if (strcmp(n, "c") == 0) {
			if (!valid_collection(v))
				return problem_field(resp, 400,
				    "VALIDATION_FAILED", "collection",
				    "collection names are 1..64 bytes of "
				    "[a-z0-9_-]");
		} else if (strcmp(n, "cid") == 0) {
			if (strspn(v, "0123456789") != strlen(v) ||
			    strlen(v) > 18)
				return problem(resp, 404, "NOT_FOUND",
				    "no such conflict");
		} else if (strcmp(n, "lid") == 0) {
			if (!valid_id(v))
				return problem(resp, 404, "LINK_NOT_FOUND",
				    "no such link");
		} else if (strcmp(n, "uid") == 0) {
			continue;
		} else if (!valid_id(v))
			return problem_field(resp, 400, "VALIDATION_FAILED",
			    strcmp(n, "did") == 0 ? "device_id" :
			    strcmp(n, "sid") == 0 ? "session_id" : "id",
			    "ids are 1..128 bytes of [A-Za-z0-9._:-]");
	}
	return 0;
}

static char *
param_dup(FCGX_Request *r, const char *name)
{
	const char	*v = FCGX_GetParam(name, r->envp);

	return v ? strdup(v) : NULL;
}

/* The client's request id when it has the contract's shape, else ours. */
static void
request_id_set(struct req *req, const char *given)
{
	size_t	 n;

	if (given != NULL && (n = strlen(given)) >= 1 && n <= 64 &&
	    strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n) {
		memcpy(req->request_id, given, n + 1);
		return;
	}
	if (rand_hex(req->request_id, 12) == -1)
		snprintf(req->request_id, sizeof(req->request_id), "%s",
		    "000000000000000000000000");
}

static enum http_method
method_of(const char *s)
{
	int	 i;

	for (i = 0; s != NULL && i < HTTP__MAX; i++)
		if (strcmp(http_method_names[i], s) == 0)
			return (enum http_method)i;
	return HTTP__MAX;
}

/*
 * Add to list (", "-separated) the method of every route whose pattern
 * matches req's path.  Returns how many; req keeps no captures.
 */
static int
route_methods(struct req *req, struct buf *list)
{
	const struct route *r;
	int		 n = 0;

	for (r = routes; r->pattern != NULL; r++) {
		if (!route_match(r->pattern, req->path, req))
			continue;
		buf_addf(list, "%s%s", n > 0 ? ", " : "",
		    http_method_names[r->method]);
		n++;
		while (req->nparams > 0) {
			req->nparams--;
			free(req->params[req->nparams]);
			req->params[req->nparams] = NULL;
		}
	}
	return n;
}

/*
 * Find the route for req.  Returns it, with req's path parameters
 * captured, or NULL after filling resp with 404 or 405 (with Allow
 * listing every method the path has).
 */
static const struct route *
route_find(struct req *req, struct resp *resp)
{
	const struct route *r;
	struct buf	 allow;
	enum http_method m = req->method == HTTP_HEAD ? HTTP_GET : req->method;

	for (r = routes; r->pattern != NULL; r++)
		if (r->method == m && route_match(r->pattern, req->path, req)) {
			params_fix_names(req);
			return r;
		}
	buf_init(&allow, 256);
	if (route_methods(req, &allow) > 0) {
		resp_header(resp, "Allow", "%s", buf_str(&allow));
		problem(resp, 405, "METHOD_NOT_ALLOWED",
		    "%s is not allowed here; allowed: %s",
		    req->method < HTTP__MAX ?
		    http_method_names[req->method] : "this method",
		    buf_str(&allow));
	} else
		problem(resp, 404, "NOT_FOUND", "no such resource");
	buf_release(&allow);
	return NULL;
}

/*
 * Cross-origin browsers (API.md): when the request's Origin is one of
 * TANDEM_CORS_ORIGINS, give every answer the CORS headers, and answer
 * its OPTIONS preflight here, before the token check and the rate
 * limit: 204 with the path's methods, or the 404 of an unknown path.
 * Any other Origin gets nothing, and its OPTIONS goes on to the 405 of
 * an unknown method.  Returns 1 when resp holds the preflight's answer.
 */
static int
cors_step(FCGX_Request *r, struct req *req, struct resp *resp)
{
	const char	*origin = FCGX_GetParam("HTTP_ORIGIN", r->envp);
	struct buf	 methods;
	int		 n;

	if (!cors_origin_allowed(cfg.cors_origins, origin))
		return 0;
	resp_header(resp, "Access-Control-Allow-Origin", "%s", origin);
	resp_header(resp, "Vary", "Origin");
	resp_header(resp, "Access-Control-Expose-Headers", "%s",
	    CORS_EXPOSE_HEADERS);
	if (req->method != HTTP_OPTIONS)
		return 0;
	buf_init(&methods, 256);
	n = route_methods(req, &methods);
	if (n > 0) {
		resp_header(resp, "Access-Control-Allow-Methods", "%s",
		    buf_str(&methods));
		resp_header(resp, "Access-Control-Allow-Headers", "%s",
		    CORS_ALLOW_HEADERS);
		resp_header(resp, "Access-Control-Max-Age", "%d",
		    CORS_MAX_AGE_S);
		resp->status = 204;
	} else
		problem(resp, 404, "NOT_FOUND", "no such resource");
	buf_release(&methods);
	return 1;
}

/*
 * JSON bodies only.  No Content-Type (or curl's form default) is taken as
 * JSON for convenience; a body that does not parse is a 400 anyway.
 */
static int
content_type_ok(const char *ct)
{
	size_t	 n;

	if (ct == NULL || *ct == '\0')
		return 1;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", n) == 0)
		return 1;
	if (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0)
		return 1;
	if (n == 33 &&
	    strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0)
		return 1;
	return 0;
}

/* Read the body; 413 past the limit.  Returns 0 or a status. */
static int
body_read(FCGX_Request *r, struct req *req, struct resp *resp,
    int64_t max)
{
	const char	*cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	char		*end;
	long long	 len = 0;
	char		 chunk[16384];
	int		 n;

	if (cl != NULL && *cl != '\0') {
		len = strtoll(cl, &end, 10);
		if (*end != '\0' || len < 0)
			return problem(resp, 400, "VALIDATION_FAILED",
			    "bad Content-Length");
	}
	if (len > max)
		return problem(resp, 413, "PAYLOAD_TOO_LARGE",
		    "the body is larger than %lld bytes", (long long)max);
	req->body.max = (size_t)max;
	while ((n = FCGX_GetStr(chunk, sizeof(chunk), r->in)) > 0)
		if (buf_add(&req->body, chunk, (size_t)n) == -1)
			return problem(resp, 413, "PAYLOAD_TOO_LARGE",
			    "the body is larger than %lld bytes",
			    (long long)max);
	return 0;
}

static int
body_parse(struct req *req, struct resp *resp)
{
	char	 err[256];

	if (req->body.len == 0)
		return 0;
	if (!content_type_ok(req->content_type))
		return problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE",
		    "send application/json");
	switch (json_parse_body(req->body.data, req->body.len, &req->json,
	    err, sizeof(err))) {
	case JSON_PARSE_OK:
		return 0;
	case JSON_PARSE_DEPTH:
	case JSON_PARSE_SYNTAX:
	default:
		return problem_field(resp, 400, "VALIDATION_FAILED", "body",
		    "%s", err);
	}
}

/*
 * Serve one accepted request from start to finish.  Returns 1 when a
 * handler handed it over (dispatch_hold): the caller must not finish
 * the FastCGI request and needs a new one for its next accept; else 0.
 */
int
dispatch(FCGX_Request *r)
{
	struct req	 req;
	struct resp	 resp;
	const struct route *route;
	const char	*admin;
	double		 retry;

	req_init(&req);
	resp_init(&resp);
	req.start_us = mono_us();
	req.fcgi = r;
	req.method = method_of(FCGX_GetParam("REQUEST_METHOD", r->envp));
	req.path = param_dup(r, "DOCUMENT_URI");
	if (req.path == NULL)
		req.path = param_dup(r, "SCRIPT_NAME");
	req.query = param_dup(r, "QUERY_STRING");
	req.remote_addr = param_dup(r, "REMOTE_ADDR");
	req.remote_user = param_dup(r, "REMOTE_USER");
	req.content_type = param_dup(r, "CONTENT_TYPE");
	req.authorization = param_dup(r, "HTTP_AUTHORIZATION");
	request_id_set(&req, FCGX_GetParam("HTTP_X_REQUEST_ID", r->envp));
	if (req.path == NULL) {
		problem(&resp, 404, "NOT_FOUND", "no such resource");
		goto send;
	}
	if (cors_step(r, &req, &resp))
		goto send;
	if ((route = route_find(&req, &resp)) == NULL)
		goto send;
	if (route->flags & ROUTE_ADMIN) {
		admin = FCGX_GetParam("TANDEM_ADMIN", r->envp);
		if (admin == NULL || strcmp(admin, "1") != 0) {
			problem(&resp, 404, "NOT_FOUND", "no such resource");
			goto send;
		}
	}
	/* a big body is read only for a valid token (after the rate limit) */
	if (!(route->flags & ROUTE_BIG_BODY) &&
	    body_read(r, &req, &resp, cfg.max_body_bytes) != 0)
		goto send;
	if ((route->flags & ROUTE_AUTH) && auth_request(&req, &resp) != 0)
		goto send;
	if ((route->flags & ROUTE_SERVICE) &&
	    service_request(&req, &resp, ROUTE_SCOPES(route->flags)) != 0)
		goto send;
	if (((route->flags & ROUTE_AUTH) && cfg.rate_per_s > 0 &&
	    ratelimit_take(req.user_id, req.device_id, &retry) == -1) ||
	    ((route->flags & ROUTE_SERVICE) && cfg.service_rate_per_s > 0 &&
	    ratelimit_take_service(req.service, &retry) == -1)) {
		resp_header(&resp, "Retry-After", "%d", (int)(retry + 0.999));
		problem(&resp, 429, "RATE_LIMITED",
		    "more than %lld requests per second from this %s",
		    (long long)(route->flags & ROUTE_SERVICE ?
		    cfg.service_rate_per_s : cfg.rate_per_s),
		    route->flags & ROUTE_SERVICE ? "service key" : "device");
		problem_set(&resp, "retry_after_s",
		    json_integer((json_int_t)(retry + 0.999)));
		goto send;
	}
	if ((route->flags & ROUTE_BIG_BODY) &&
	    body_read(r, &req, &resp, cfg.max_import_bytes) != 0)
		goto send;
	if (req_parse_query(&req) == -1) {
		problem_field(&resp, 400, "VALIDATION_FAILED", "query",
		    "malformed query string");
		goto send;
	}
	if (params_check(&req, &resp) != 0 ||
	    ((route->flags & ROUTE_SERVICE) && service_user(&req, &resp) != 0) ||
	    body_parse(&req, &resp) != 0)
		goto send;
	route->handler(&req, &resp);
send:
	/* a streamed answer reads the store while it is written */
	if (resp.stream == NULL)
		req_db_release(&req);
	if (resp.parked) {
		resp_free(&resp);
		req_free(&req);
		return 1;
	}
	if (resp.sent)
		reply_account(&req, &resp);	/* the handler sent it */
	else
		reply_send(r, &req, &resp);
	req_db_release(&req);
	resp_free(&resp);
	req_free(&req);
	return 0;
}
