#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fastcgi.h>

#include "http.h"
#include "json.h"

const char *const http_method_names[HTTP__MAX] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"
};

void
req_init(struct req *req)
{
	memset(req, 0, sizeof(*req));
	buf_init(&req->body, 0);
	req->nquery = -1;
}

void
req_free(struct req *req)
{
	int	 i;

	free(req->path);
	free(req->query);
	free(req->remote_addr);
	free(req->remote_user);
	free(req->content_type);
	free(req->authorization);
	buf_release(&req->body);
	json_decref(req->json);
	for (i = 0; i < req->nparams; i++)
		free(req->params[i]);
	for (i = 0; i < req->nquery; i++) {
		free(req->qkeys[i]);
		free(req->qvals[i]);
	}
	free(req->user_pub);
	free(req->device_id);
	free(req->jti);
	free(req->service);
	memset(req, 0, sizeof(*req));
}

void
resp_init(struct resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->raw, 0);
	buf_init(&resp->headers, 16384);
}

void
resp_free(struct resp *resp)
{
	json_decref(resp->body);
	free(resp->stream_arg);
	buf_release(&resp->raw);
	buf_release(&resp->headers);
	memset(resp, 0, sizeof(*resp));
}

/* A path parameter by its name in the route pattern, or NULL. */
const char *
req_param(const struct req *req, const char *name)
{
	int	 i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->param_names[i], name) == 0)
			return req->params[i];
	return NULL;
}

/* A request header as nginx passes it (HTTP_ACCEPT, ...), or NULL. */
const char *
req_header(const struct req *req, const char *cgi_name)
{
	if (req->fcgi == NULL)
		return NULL;
	return FCGX_GetParam(cgi_name, req->fcgi->envp);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode n bytes of s ('+' is a space in a query).  Returns a new
 * string (free it) or NULL for a malformed escape or a decoded NUL.
 */
static char *
url_decode(const char *s, size_t n, int plus)
{
	char	*out, *o;
	size_t	 i;

	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;
			if (i + 2 >= n)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus && s[i] == '+')
			*o++ = ' ';
		else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/*
 * Split the query string into decoded pairs, once.  Returns 0, or -1 for a
 * malformed or oversized query (more than REQ_MAX_QUERY pairs, a repeated
 * key, a bad escape).
 */
int
req_parse_query(struct req *req)
{
	const char	*p, *amp, *eq;
	int		 i;

	if (req->query_bad)
		return -1;
	if (req->nquery >= 0)
		return 0;
	req->nquery = 0;
	for (p = req->query ? req->query : ""; *p != '\0'; p = amp + 1) {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		if (amp == p) {
			if (*amp == '\0')
				break;
			continue;
		}
		if (req->nquery == REQ_MAX_QUERY)
			goto bad;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		req->qkeys[req->nquery] = url_decode(p, (size_t)(eq - p), 1);
		req->qvals[req->nquery] = eq == amp ? strdup("") :
		    url_decode(eq + 1, (size_t)(amp - eq - 1), 1);
		req->nquery++;
		if (req->qkeys[req->nquery - 1] == NULL ||
		    req->qvals[req->nquery - 1] == NULL)
			goto bad;
		for (i = 0; i < req->nquery - 1; i++)
			if (strcmp(req->qkeys[i],
			    req->qkeys[req->nquery - 1]) == 0)
				goto bad;
		if (*amp == '\0')
			break;
	}
	return 0;
bad:
	/* a failed parse is sticky and leaves no half-made pair behind */
	for (i = 0; i < req->nquery; i++) {
		free(req->qkeys[i]);
		free(req->qvals[i]);
		req->qkeys[i] = req->qvals[i] = NULL;
	}
	req->nquery = 0;
	req->query_bad = 1;
	return -1;
}

/* A decoded query parameter, or NULL when absent. */
const char *
req_query(struct req *req, const char *name)
{
	int	 i;

	if (req_parse_query(req) == -1)
		return NULL;
	for (i = 0; i < req->nquery; i++)
		if (strcmp(req->qkeys[i], name) == 0)
			return req->qvals[i];
	return NULL;
}



/*
 * Whether nginx has closed the FastCGI connection (the client went away or
 * nginx gave up).  Used by long polls while they wait.
 */
int
req_client_gone(const struct req *req)
{
	struct pollfd	 pfd;

	if (req->fcgi == NULL || req->fcgi->ipcFd < 0)
		return 0;
	pfd.fd = req->fcgi->ipcFd;
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/*
 * End r's answer (its streams flushed, the FastCGI end of request
 * written) and free what libfcgi holds for it, but leave its connection
 * open: returns the fd, which the caller closes (park_linger()), or -1.
 * FCGX_Finish_r() would close it by waiting for nginx's close in a
 * blocking read.
 */
int
http_finish_open(FCGX_Request *r)
{
	int	 fd;

	if (r->in != NULL) {
		FCGX_FClose(r->err);
		FCGX_FClose(r->out);
	}
	FCGX_Free(r, 0);
	fd = r->ipcFd;
	r->ipcFd = -1;
	return fd;
}

/*
 * FastCGI records for an answer that outlives libfcgi's streams (an
 * event stream written without blocking, lib/park): libfcgi writes
 * only with blocking writes, so once the head is flushed through it, the
 * rest of the answer is framed here, with fastcgi.h's record layout,
 * into b for the caller to send as the connection takes it.
 */
static int
fcgi_record(struct buf *b, int type, int request_id, const void *data,
    size_t len)
{
	FCGI_Header	 h;

	memset(&h, 0, sizeof(h));
	h.version = FCGI_VERSION_1;
	h.type = (unsigned char)type;
	h.requestIdB1 = (unsigned char)((request_id >> 8) & 0xff);
	h.requestIdB0 = (unsigned char)(request_id & 0xff);
	h.contentLengthB1 = (unsigned char)((len >> 8) & 0xff);
	h.contentLengthB0 = (unsigned char)(len & 0xff);
	if (buf_add(b, &h, sizeof(h)) == -1)
		return -1;
	return len == 0 ? 0 : buf_add(b, data, len);
}

/* Bytes of the answer's body (stdout) as records.  Returns 0 or -1. */
int
http_fcgi_stdout(struct buf *b, int request_id, const void *data,
    size_t len)
{
	const char	*p = data;
	size_t		 n;

	while (len > 0) {
		n = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : len;
		if (fcgi_record(b, FCGI_STDOUT, request_id, p, n) == -1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* The answer's end: stdout closed, the request complete.  0 or -1. */
int
http_fcgi_end(struct buf *b, int request_id)
{
	FCGI_EndRequestBody e;

	memset(&e, 0, sizeof(e));
	e.protocolStatus = FCGI_REQUEST_COMPLETE;
	if (fcgi_record(b, FCGI_STDOUT, request_id, NULL, 0) == -1)
		return -1;
	return fcgi_record(b, FCGI_END_REQUEST, request_id, &e, sizeof(e));
}


int
resp_header(struct resp *resp, const char *name, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	if (buf_addf(&resp->headers, "%s: ", name) == -1)
		return -1;
	va_start(ap, fmt);
	rc = buf_vaddf(&resp->headers, fmt, ap);
	va_end(ap);
	if (rc == -1 || buf_adds(&resp->headers, "\r\n") == -1)
		return -1;
	return 0;
}







