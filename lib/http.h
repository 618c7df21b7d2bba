/*
 * http: the request and response every handler sees, and nothing else.
 * The dispatcher (handlers/routes.c) fills struct req from FastCGI,
 * checks route, size, token and body, then calls the handler, which
 * fills struct resp and returns its status.  Everything hanging off both
 * is freed by the dispatcher (req_free / resp_free) after the response
 * is sent; the dispatcher gives back the store connection (req->db)
 * first.
 */
#ifndef TANDEM_HTTP_H
#define TANDEM_HTTP_H

#include <fcgiapp.h>
#include <jansson.h>
#include <stdint.h>

#include "buf.h"

enum http_method {
	HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_HEAD,
	HTTP_OPTIONS, HTTP__MAX
};

extern const char *const http_method_names[HTTP__MAX];

#define REQ_MAX_PARAMS	4
#define REQ_MAX_QUERY	16

struct db;

struct req {
	FCGX_Request	*fcgi;
	enum http_method method;
	char		*path;		/* without the query */
	char		*query;		/* raw query string, "" if none */
	char		*remote_addr;
	char		*remote_user;	/* set by nginx basic auth */
	char		*content_type;
	char		*authorization;
	char		 request_id[65];
	struct buf	 body;
	json_t		*json;		/* the parsed body, or NULL */
	const char	*param_names[REQ_MAX_PARAMS];
	char		*params[REQ_MAX_PARAMS];	/* decoded path parts */
	int		 nparams;
	char		*qkeys[REQ_MAX_QUERY];
	char		*qvals[REQ_MAX_QUERY];
	int		 nquery;
	int		 query_bad;	/* the query did not parse */
	/* Set by the token check of ROUTE_AUTH routes. */
	int64_t		 user_id;	/* users.id */
	char		*user_pub;	/* the user's public id (JWT sub) */
	char		*device_id;	/* JWT did */
	char		*jti;
	/* Set by the key check of ROUTE_SERVICE routes: the key's name and
	 * scopes; user_id and user_pub are then the {uid} of the path, and
	 * device_id is NULL (a service is no device). */
	char		*service;
	unsigned	 scopes;
	int64_t		 start_us;
	int		 waited;	/* a long poll that waited */
	struct db	*db;		/* borrowed by req_db(), or NULL */
};

struct resp {
	int		 status;
	json_t		*body;		/* JSON body, or NULL */
	const char	*content_type;	/* static string */
	struct buf	 raw;		/* non-JSON body when body is NULL */
	/* A streamed body (GET /export): stream(req, arg) writes it to
	 * req->fcgi->out after the headers; -1 aborts the answer. */
	int		(*stream)(struct req *, void *arg);
	void		*stream_arg;
	/* The handler handed the request over (dispatch_hold): the
	 * dispatcher sends nothing and leaves the FastCGI request alone. */
	int		 parked;
	/* The handler sent it already (dispatch_send). */
	int		 sent;
	struct buf	 headers;	/* extra "Name: value\r\n" lines */
};

void	 req_init(struct req *);
void	 req_free(struct req *);
void	 resp_init(struct resp *);
void	 resp_free(struct resp *);

const char *req_param(const struct req *, const char *name);
const char *req_header(const struct req *, const char *cgi_name);
const char *req_query(struct req *, const char *name);
int	 req_parse_query(struct req *);
int	 req_client_gone(const struct req *);
int	 http_finish_open(FCGX_Request *);
int	 http_fcgi_stdout(struct buf *, int request_id, const void *,
	    size_t);
int	 http_fcgi_end(struct buf *, int request_id);

int	 resp_header(struct resp *, const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
