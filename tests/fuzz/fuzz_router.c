/*
 * fuzz_router: the path router (route_match over the real `routes` table)
 * and the query-string parser (req_parse_query, req_query_int,
 * req_query_bool) over arbitrary "path?query" inputs.
 *
 * Invariants: a match captures one non-empty, slash-free parameter per
 * ":name" segment and putting the captures back into the pattern gives
 * the path again; a miss leaves no capture behind; a parsed query has at
 * most REQ_MAX_QUERY distinct keys, each found again by req_query; the
 * integer and boolean readers return values inside their bounds or a 400
 * naming the parameter.
 */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "handlers.h"
#include "http.h"

static int
segments(const char *pattern)
{
	int	 n = 0;

	for (; *pattern != '\0'; pattern++)
		n += *pattern == ':';
	return n;
}

/* Put req's captures back into pattern. */
static void
rebuild(const char *pattern, const struct req *req, struct buf *b)
{
	const char	*p = pattern, *e;
	int		 i = 0;

	while (*p != '\0') {
		if (*p == ':') {
			FUZZ_CHECK(i < req->nparams, "too few captures");
			buf_adds(b, req->params[i++]);
			e = strchr(p, '/');
			p = e ? e : p + strlen(p);
			continue;
		}
		buf_add(b, p, 1);
		p++;
	}
}

static void
check_route(const struct route *r, const char *path)
{
	struct req	 req;
	struct buf	 b;
	int		 i;

	req_init(&req);
	if (!route_match(r->pattern, path, &req)) {
		FUZZ_CHECK(req.nparams == 0, "captures left after a miss");
		for (i = 0; i < REQ_MAX_PARAMS; i++)
			FUZZ_CHECK(req.params[i] == NULL, "capture %d left", i);
		req_free(&req);
		return;
	}
	FUZZ_CHECK(req.nparams == segments(r->pattern), "%d captures for %s",
	    req.nparams, r->pattern);
	for (i = 0; i < req.nparams; i++)
		FUZZ_CHECK(req.params[i][0] != '\0' &&
		    strchr(req.params[i], '/') == NULL, "capture '%s'",
		    req.params[i]);
	buf_init(&b, 0);
	rebuild(r->pattern, &req, &b);
	FUZZ_CHECK(strcmp(buf_str(&b), path) == 0, "%s matched %s",
	    path, r->pattern);
	buf_release(&b);
	req_free(&req);
}

static void
check_query(const char *query)
{
	static const char *const names[] = { "limit", "since", "after",
	    "timeout", "exclude_self", "state", "" };
	struct req	 req;
	struct resp	 resp;
	int64_t		 v;
	int		 i, j, rc, b;

	req_init(&req);
	resp_init(&resp);
	req.query = strdup(query);
	FUZZ_CHECK(req.query != NULL, "out of memory");
	if (req_parse_query(&req) == 0) {
		FUZZ_CHECK(req.nquery >= 0 && req.nquery <= REQ_MAX_QUERY,
		    "nquery %d", req.nquery);
		for (i = 0; i < req.nquery; i++) {
			FUZZ_CHECK(req.qkeys[i] != NULL && req.qvals[i] != NULL,
			    "pair %d missing", i);
			for (j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(req.qkeys[i], req.qkeys[j]) !=
				    0, "key %s twice", req.qkeys[i]);
			FUZZ_CHECK(req_query(&req, req.qkeys[i]) ==
			    req.qvals[i], "key %s not found", req.qkeys[i]);
		}
		for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
			rc = req_query_int(&req, &resp, names[i], 5, -3, 1000,
			    &v);
			FUZZ_CHECK((rc == 0 && v >= -3 && v <= 1000 &&
			    resp.status == 0) || (rc == -1 &&
			    resp.status == 400), "query int %s", names[i]);
			resp_free(&resp);
			resp_init(&resp);
			rc = req_query_bool(&req, &resp, names[i], 0, &b);
			FUZZ_CHECK((rc == 0 && (b == 0 || b == 1)) ||
			    (rc == -1 && resp.status == 400), "query bool");
			resp_free(&resp);
			resp_init(&resp);
		}
	}
	/*
	 * After a refused query, req_query() must not be called: the
	 * dispatcher answers 400 first.  (req_parse_query() reports success
	 * on a second call after a failure, leaving a NULL key behind.)
	 */
	resp_free(&resp);
	req_free(&req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct route *r;
	char		*s, *q;

	if (size > 65536)
		return 0;
	s = strndup((const char *)data, size);	/* stops at a NUL */
	FUZZ_CHECK(s != NULL, "out of memory");
	q = strchr(s, '?');
	if (q != NULL)
		*q++ = '\0';
	for (r = routes; r->pattern != NULL; r++)
		check_route(r, s);
	check_query(q ? q : "");
	free(s);
	return 0;
}
