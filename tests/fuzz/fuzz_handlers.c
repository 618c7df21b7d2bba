/*
 * fuzz_handlers: request-body validation of every JSON endpoint.  The
 * input picks a POST or PATCH route of the real `routes` table (first
 * byte), the path parameters (the first line, space-separated, filling
 * the route's ":name" segments in order; defaults name existing rows) and
 * the body (the rest).  The harness does what the dispatcher does before
 * a handler runs (route match, the shape checks of path parameters, JSON
 * parsing, the token's identity, or a service key's: no device) and
 * then calls the handler against a real SQLite database in a temporary
 * directory, migrated as tandemd does, holding two users with a
 * session, records and a conflict.
 *
 * Invariants: the answer is never a 5xx (bad input is a 4xx); an error is
 * a problem document whose status and code match; the handler's return
 * value is the status it set; no transaction is left open; an error
 * answer wrote nothing (PRAGMA data_version, read on a connection of the
 * harness's own, is unchanged), except a refresh token's reuse, which
 * revokes the login and answers 401.
 *
 * argon2 (tens of milliseconds a hash) is replaced at link time
 * (-Wl,--wrap, see fuzz.mk) by a cheap stand-in so the fuzzer gets past
 * register and login at speed; everything else is the real code.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "fuzz.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"

#define SECRET		"fuzz-secret-0123456789abcdef-0123456789"
#define RESET_EVERY	20000	/* runs between fresh databases */
#define MAX_ROUTES	64

int	 __wrap_auth_password_hash(const char *, char **);
int	 __wrap_auth_password_verify(const char *, const char *);
int	 __wrap_auth_password_burn(const char *);

int
__wrap_auth_password_hash(const char *pw, char **encoded)
{
	size_t	 n = strlen(pw);

	if ((*encoded = malloc(n + 7)) == NULL)
		return -1;
	memcpy(*encoded, "$fuzz$", 6);
	memcpy(*encoded + 6, pw, n + 1);
	return 0;
}

int
__wrap_auth_password_verify(const char *encoded, const char *pw)
{
	if (strncmp(encoded, "$fuzz$", 6) != 0)
		return -1;
	return strcmp(encoded + 6, pw) == 0;
}

int
__wrap_auth_password_burn(const char *pw)
{
	(void)pw;
	return 0;
}

struct ident {
	int64_t	 user_id;
	char	*user_pub;
	char	*device_id;
};

static const struct route *targets[MAX_ROUTES];
static int ntargets;
static char dir[256], db_path[300];
static struct ident alice, bob;
static unsigned long runs;
static sqlite3 *watch;	/* the harness's own connection: data_version */
static int trace;	/* FUZZ_TRACE=1: print every request and answer */

/* The dispatcher's shape checks of path parameters (routes.c). */
static int
params_ok(const struct req *req)
{
	int	 i;
	const char *n, *v;

	for (i = 0; i < req->nparams; i++) {
		n = req->param_names[i];
		v = req->params[i];
		if (strncmp(n, "c/", 2) == 0 || strcmp(n, "c") == 0) {
			if (!valid_collection(v))
				return 0;
		} else if (strncmp(n, "cid", 3) == 0) {
			if (strspn(v, "0123456789") != strlen(v) ||
			    strlen(v) > 18)
				return 0;
		} else if (strcmp(n, "uid") == 0) {
			continue;	/* looked up: service_user() */
		} else if (!valid_id(v))
			return 0;
	}
	return 1;
}

/* PRAGMA data_version: changes when another connection commits. */
static int64_t
data_version(void)
{
	sqlite3_stmt	*st = NULL;
	int64_t		 v = -1;

	if (sqlite3_prepare_v2(watch, "PRAGMA data_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	FUZZ_CHECK(v >= 0, "PRAGMA data_version failed");
	return v;
}

/* A problem document must match the status it is sent with. */
static void
check_answer(const struct route *r, int rc, const struct resp *resp,
    const char *body, size_t blen)
{
	json_t	*st, *code, *type;

	FUZZ_CHECK(rc == resp->status, "%s returned %d but set %d",
	    r->pattern, rc, resp->status);
	FUZZ_CHECK(resp->status >= 200 && resp->status < 500,
	    "%s %s answered %d: %s\nbody: %.*s", http_method_names[r->method],
	    r->pattern, resp->status, resp->body ? json_dumps(resp->body,
	    JSON_COMPACT) : "-", (int)blen, body);
	if (resp->status < 400)
		return;
	FUZZ_CHECK(resp->body != NULL && resp->content_type != NULL &&
	    strcmp(resp->content_type, "application/problem+json") == 0,
	    "%d without a problem document", resp->status);
	st = json_object_get(resp->body, "status");
	code = json_object_get(resp->body, "code");
	type = json_object_get(resp->body, "type");
	FUZZ_CHECK(json_integer_value(st) == resp->status &&
	    json_is_string(code) && json_is_string(type) &&
	    strncmp(json_string_value(type), "/errors/", 8) == 0 &&
	    strcmp(json_string_value(type) + 8, json_string_value(code)) == 0,
	    "malformed problem document");
}

/*
 * Run one request through route r as `who` (NULL: no token).  Returns
 * the status, or 0 when the dispatcher would have refused it before the
 * handler (bad path parameter, unparsable body).  *out, when given, gets
 * a reference to the answer's body.
 */
static int
run(const struct route *r, const char *path, const char *body, size_t blen,
    const struct ident *who, json_t **out)
{
	struct req	 req;
	struct resp	 resp;
	char		 err[256];
	int		 rc = 0;
	int64_t		 dv;

	req_init(&req);
	resp_init(&resp);
	req.method = r->method;
	req.path = strdup(path);
	req.query = strdup("");
	FUZZ_CHECK(req.path != NULL && req.query != NULL, "out of memory");
	if (!route_match(r->pattern, req.path, &req))
		goto out;
	/* the dispatcher names parameters by what follows ':' */
	for (rc = 0; rc < req.nparams; rc++) {
		static const char *const names[] = { "did", "sid", "cid",
		    "rid", "c", "uid", NULL };
		int i;
		for (i = 0; names[i] != NULL; i++)
			if (strncmp(req.param_names[rc], names[i],
			    strlen(names[i])) == 0 &&
			    (req.param_names[rc][strlen(names[i])] == '/' ||
			    req.param_names[rc][strlen(names[i])] == '\0')) {
				req.param_names[rc] = names[i];
				break;
			}
	}
	rc = 0;
	if (!params_ok(&req))
		goto out;
	if (blen > 0 && json_parse_body(body, blen, &req.json, err,
	    sizeof(err)) != JSON_PARSE_OK)
		goto out;
	if (who != NULL && (r->flags & ROUTE_SERVICE)) {
		/* as the key check and service_user() leave it: the user of
		 * {uid} (who's), no device, the key's name */
		req.user_id = who->user_id;
		req.user_pub = strdup(who->user_pub);
		req.service = strdup("fuzz-backend");
		req.scopes = SCOPES_ALL;
		FUZZ_CHECK(req.user_pub != NULL && req.service != NULL,
		    "out of memory");
	} else if (who != NULL) {
		req.user_id = who->user_id;
		req.user_pub = strdup(who->user_pub);
		req.device_id = strdup(who->device_id);
		FUZZ_CHECK(req.user_pub != NULL && req.device_id != NULL,
		    "out of memory");
	}
	dv = data_version();
	rc = r->handler(&req, &resp);
	if (trace) {
		char *d = resp.body ? json_dumps(resp.body, JSON_COMPACT) :
		    NULL;
		fprintf(stderr, "fuzz: %s %s -> %d %s\n",
		    http_method_names[r->method], path, rc, d ? d : "");
		free(d);
	}
	check_answer(r, rc, &resp, body, blen);
	FUZZ_CHECK(req.db == NULL || !req.db->tx.active,
	    "%s left a transaction open", r->pattern);
	FUZZ_CHECK(rc < 400 || r->handler == handle_auth_refresh ||
	    data_version() == dv, "%s answered %d but wrote; body: %.*s",
	    r->pattern, rc, (int)blen, body);
	if (out != NULL)
		*out = json_incref(resp.body);
out:
	resp_free(&resp);
	req_db_release(&req);
	req_free(&req);
	return rc;
}

static const struct route *
route_of(enum http_method m, const char *pattern)
{
	const struct route *r;

	for (r = routes; r->pattern != NULL; r++)
		if (r->method == m && strcmp(r->pattern, pattern) == 0)
			return r;
	fprintf(stderr, "no route %s\n", pattern);
	abort();
}

static int
post(const char *pattern, const char *path, const char *body,
    const struct ident *who, json_t **out)
{
	return run(route_of(HTTP_POST, pattern), path, body, strlen(body), who,
	    out);
}

/* Log in (re-activating a revoked device) and take the token's identity. */
static void
login(struct ident *id, const char *email, const char *device)
{
	struct req	 req;
	struct resp	 resp;
	struct buf	 b;
	json_t		*ans = NULL;
	const char	*tok;

	buf_init(&b, 0);
	buf_addf(&b, "{\"email\":\"%s\",\"password\":\"password-%s\","
	    "\"device\":{\"id\":\"%s\",\"platform\":\"fuzz\",\"name\":\"%s\"}}",
	    email, email, device, device);
	FUZZ_CHECK(post("/api/v1/auth/login", "/api/v1/auth/login",
	    buf_str(&b), NULL, &ans) == 200, "login %s", email);
	tok = json_string_value(json_object_get(ans, "access_token"));
	FUZZ_CHECK(tok != NULL, "no access token");
	req_init(&req);
	resp_init(&resp);
	buf_reset(&b);
	buf_addf(&b, "Bearer %s", tok);
	req.authorization = buf_detach(&b);
	FUZZ_CHECK(auth_request(&req, &resp) == 0, "token check failed");
	free(id->user_pub);
	free(id->device_id);
	id->user_id = req.user_id;
	id->user_pub = req.user_pub;
	id->device_id = req.device_id;
	req.user_pub = req.device_id = NULL;
	req_db_release(&req);
	req_free(&req);
	resp_free(&resp);
	json_decref(ans);
	buf_release(&b);
}

static void
user(struct ident *id, const char *email, const char *device)
{
	struct buf	 b;

	buf_init(&b, 0);
	buf_addf(&b, "{\"email\":\"%s\",\"password\":\"password-%s\"}", email,
	    email);
	FUZZ_CHECK(post("/api/v1/auth/register", "/api/v1/auth/register",
	    buf_str(&b), NULL, NULL) == 201, "register %s", email);
	buf_release(&b);
	login(id, email, device);
}

/* A fresh database: migrated, two users, a session, records, a conflict. */
static void
setup(void)
{
	static const char *const sfx[] = { "", "-wal", "-shm", NULL };
	struct buf	 f;
	int		 i;

	db_pool_close();
	sqlite3_close(watch);
	for (i = 0; sfx[i] != NULL; i++) {
		buf_init(&f, 0);
		buf_addf(&f, "%s%s", db_path, sfx[i]);
		unlink(buf_str(&f));
		buf_release(&f);
	}
	free(cfg.db_path);
	cfg.db_path = strdup(db_path);
	FUZZ_CHECK(db_migrate() == 0, "migrate %s", db_path);
	FUZZ_CHECK(db_pool_open(2) == 0, "pool %s", db_path);
	FUZZ_CHECK(sqlite3_open_v2(db_path, &watch, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK, "open %s", db_path);
	user(&alice, "alice@example.com", "dev-a");
	user(&bob, "bob@example.com", "dev-b");
	login(&alice, "alice@example.com", "dev-a2");
	login(&alice, "alice@example.com", "dev-a");
	post("/api/v1/sessions", "/api/v1/sessions",
	    "{\"id\":\"s1\",\"title\":\"one\"}", &alice, NULL);
	post("/api/v1/sessions", "/api/v1/sessions",
	    "{\"id\":\"sb\",\"title\":\"bob's\"}", &bob, NULL);
	post("/api/v1/sessions/:sid/messages", "/api/v1/sessions/s1/messages",
	    "{\"client_msg_id\":\"m1\",\"body\":{\"text\":\"hi\"}}", &alice,
	    NULL);
	post("/api/v1/sync/push", "/api/v1/sync/push",
	    "{\"changes\":[{\"collection\":\"notes\",\"id\":\"r1\","
	    "\"base_version\":0,\"data\":{\"t\":\"x\",\"n\":{\"a\":1}}}]}",
	    &alice, NULL);
	post("/api/v1/sync/push", "/api/v1/sync/push",
	    "{\"changes\":[{\"collection\":\"notes\",\"id\":\"r1\","
	    "\"base_version\":1,\"data\":{\"t\":\"y\"}}]}", &alice, NULL);
	post("/api/v1/sync/push", "/api/v1/sync/push",
	    "{\"changes\":[{\"collection\":\"notes\",\"id\":\"rb\","
	    "\"base_version\":0,\"data\":{\"t\":\"b\"}}]}", &bob, NULL);
}

/* Remove the temporary database at exit (run.sh removes it after a crash). */
static void
cleanup(void)
{
	static const char *const sfx[] = { "", "-wal", "-shm", NULL };
	struct buf	 f;
	int		 i;

	db_pool_close();
	sqlite3_close(watch);
	watch = NULL;
	for (i = 0; sfx[i] != NULL; i++) {
		buf_init(&f, 0);
		buf_addf(&f, "%s%s", db_path, sfx[i]);
		unlink(buf_str(&f));
		buf_release(&f);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct route *r;
	char		 err[256];
	const char	*base;

	(void)argc;
	(void)argv;
	if ((base = getenv("FUZZ_TMPDIR")) == NULL)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/tandem-fuzz.XXXXXX", base);
	FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(db_path, sizeof(db_path), "%s/tandem.db", dir);
	setenv("TANDEM_DATA_DIR", dir, 1);
	setenv("TANDEM_JWT_SECRET", SECRET, 1);
	if (getenv("TANDEM_LOG_LEVEL") == NULL)
		setenv("TANDEM_LOG_LEVEL", "error", 1);
	if (config_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "config_load: %s\n", err);
		abort();
	}
	log_set_level(cfg.log_level);
	trace = getenv("FUZZ_TRACE") != NULL;
	FUZZ_CHECK(doorbell_init() == 0, "doorbell");
	for (r = routes; r->pattern != NULL; r++)
		if ((r->method == HTTP_POST || r->method == HTTP_PATCH) &&
		    ntargets < MAX_ROUTES)
			targets[ntargets++] = r;
	setup();
	atexit(cleanup);
	return 0;
}

/* Fill route r's ":name" segments with the space-separated values. */
static void
make_path(const struct route *r, char *vals, struct buf *path)
{
	static const struct { const char *name, *def; } defs[] = {
		{ "sid", "s1" }, { "did", "dev-a2" }, { "cid", "1" },
		{ "rid", "r1" }, { "c", "notes" }, { "uid", "u_alice" },
		{ NULL, NULL }
	};
	const char	*p = r->pattern, *e, *v;
	char		*save = vals;
	int		 i;

	while (*p != '\0') {
		if (*p != ':') {
			buf_add(path, p, 1);
			p++;
			continue;
		}
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		v = NULL;
		if (save != NULL && *save != '\0') {
			v = save;
			save = strchr(save, ' ');
			if (save != NULL)
				*save++ = '\0';
		}
		for (i = 0; v == NULL && defs[i].name != NULL; i++)
			if ((size_t)(e - p - 1) == strlen(defs[i].name) &&
			    strncmp(p + 1, defs[i].name, (size_t)(e - p - 1)) ==
			    0)
				v = defs[i].def;
		buf_adds(path, v ? v : "x");
		p = e;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct route *r;
	const uint8_t	*nl;
	struct buf	 path;
	char		*vals;
	size_t		 vlen;

	if (size < 1 || size > 1048576)
		return 0;
	if (++runs % RESET_EVERY == 0)
		setup();
	r = targets[data[0] % ntargets];
	data++;
	size--;
	nl = memchr(data, '\n', size);
	vlen = nl ? (size_t)(nl - data) : size;
	if (memchr(data, '\0', vlen) != NULL)
		return 0;
	vals = strndup((const char *)data, vlen);
	FUZZ_CHECK(vals != NULL, "out of memory");
	buf_init(&path, 0);
	make_path(r, vals, &path);
	run(r, buf_str(&path), nl ? (const char *)nl + 1 : "",
	    nl ? size - vlen - 1 : 0, &alice, NULL);
	/* keep alice's device active for the next input */
	if (r->handler == handle_auth_logout)
		login(&alice, "alice@example.com", "dev-a");
	buf_release(&path);
	free(vals);
	return 0;
}
