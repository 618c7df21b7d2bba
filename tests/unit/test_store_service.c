/*
 * Unit tests of the service keys' store on a temporary database: a key
 * is found by its hash only, names and hashes are unique, the schema
 * refuses a bad name or scopes, revocation deletes, the last use is
 * written once per period; a user by public id; and the key check of
 * handlers/service.c (service_request, service_user) against it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth.h"
#include "service_rules.h"
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-dbservice.XXXXXX";
static struct db *db;

static int
setup(void **state)
{
	(void)state;
	return unit_setup(dir);
}

static int
teardown(void **state)
{
	(void)state;
	db_close(db);
	return unit_teardown(dir);
}

static void
fresh(const char *name)
{
	db_close(db);
	db = unit_db_fresh(dir, name);
}

/* What a transaction of these tests does. */
struct key_op {
	enum { K_INSERT, K_DELETE, K_TOUCH } what;
	const char	*name;
	unsigned char	 hash[32];
	const char	*scopes;
	int64_t		 now;
	int64_t		 before;
};

static int
key_tx(struct db *d, void *arg)
{
	struct key_op	*k = arg;

	switch (k->what) {
	case K_INSERT:
		return db_service_key_insert(d, k->name, k->hash, k->scopes,
		    k->now);
	case K_DELETE:
		return db_service_key_delete(d, k->name);
	default:
		return db_service_key_touch(d, k->name, k->now, k->before);
	}
}

static int
key_insert(const char *name, int b, const char *scopes, int64_t now)
{
	struct key_op	 k = { K_INSERT, name, { 0 }, scopes, now, 0 };

	memset(k.hash, b, 32);
	return db_tx(db, key_tx, &k);
}

static int
key_do(int what, const char *name, int64_t now, int64_t before)
{
	struct key_op	 k = { what, name, { 0 }, NULL, now, before };

	return db_tx(db, key_tx, &k);
}

static int
key_get(int b, struct service_key_row *r)
{
	unsigned char	 h[32];

	memset(h, b, 32);
	return db_service_key_get_by_hash(db, h, r);
}

struct names {
	char	 v[8][DB_COLL_CAP];
	int	 n;
	int	 stop_after;	/* 0: never */
};

static int
list_one(void *arg, const struct service_key_row *k)
{
	struct names	*l = arg;

	snprintf(l->v[l->n++], DB_COLL_CAP, "%s", k->name);
	return l->stop_after != 0 && l->n == l->stop_after ? DB_ROLLBACK :
	    DB_OK;
}

static void
test_keys(void **state)
{
	struct service_key_row r;
	struct names	 l;

	(void)state;
	fresh("keys.db");
	assert_int_equal(key_insert("backend", 1, "events", 1000), DB_OK);
	assert_int_equal(key_insert("billing", 2, "events,records", 2000),
	    DB_OK);
	/* a name or a hash is one key's */
	assert_int_equal(key_insert("backend", 3, "records", 3000),
	    DB_CONSTRAINT);
	assert_int_equal(key_insert("third", 1, "records", 3000),
	    DB_CONSTRAINT);
	/* found by the hash, with its name, scopes, times */
	assert_int_equal(key_get(2, &r), DB_OK);
	assert_string_equal(r.name, "billing");
	assert_string_equal(r.scopes, "events,records");
	assert_int_equal(r.created_at, 2000);
	assert_int_equal(r.last_used_at, 0);
	assert_int_equal(key_get(9, &r), DB_NOTFOUND);
	/* the hash is the key's only trace */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM service_keys "
	    "WHERE length(key_hash) = 32"), 2);
	/* by name, and an iteration stops when asked */
	memset(&l, 0, sizeof(l));
	assert_int_equal(db_service_keys_list(db, list_one, &l), DB_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0], "backend");
	assert_string_equal(l.v[1], "billing");
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	assert_int_equal(db_service_keys_list(db, list_one, &l), DB_OK);
	assert_int_equal(l.n, 1);
	/* revoked: deleted, then not found; an unknown name is NOTFOUND */
	assert_int_equal(key_do(K_DELETE, "backend", 0, 0), DB_OK);
	assert_int_equal(key_get(1, &r), DB_NOTFOUND);
	assert_int_equal(key_do(K_DELETE, "backend", 0, 0), DB_NOTFOUND);
	assert_int_equal(key_do(K_DELETE, "nobody", 0, 0), DB_NOTFOUND);
	/* the name is free again, for a new key */
	assert_int_equal(key_insert("backend", 4, "records", 5000), DB_OK);
	assert_int_equal(key_get(1, &r), DB_NOTFOUND);
	assert_int_equal(key_get(4, &r), DB_OK);
	assert_string_equal(r.name, "backend");
}

/* The schema holds what the rules say, whoever writes. */
static void
test_schema_checks(void **state)
{
	char	 n[80];

	(void)state;
	fresh("checks.db");
	assert_int_equal(key_insert("Bad", 1, "events", 1), DB_CONSTRAINT);
	assert_int_equal(key_insert("a b", 1, "events", 1), DB_CONSTRAINT);
	assert_int_equal(key_insert("", 1, "events", 1), DB_CONSTRAINT);
	memset(n, 'a', 65);
	n[65] = '\0';
	assert_int_equal(key_insert(n, 1, "events", 1), DB_CONSTRAINT);
	n[64] = '\0';
	assert_int_equal(key_insert(n, 1, "events", 1), DB_OK);
	assert_int_equal(key_insert("x", 2, "records,events", 1),
	    DB_CONSTRAINT);
	assert_int_equal(key_insert("x", 2, "admin", 1), DB_CONSTRAINT);
	assert_int_equal(key_insert("x", 2, "", 1), DB_CONSTRAINT);
	assert_int_equal(key_insert("a-b_9", 2, "records", 1), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM service_keys"),
	    2);
}

/* last_used_at: written when never written or due, else not. */
static void
test_touch(void **state)
{
	struct service_key_row r;

	(void)state;
	fresh("touch.db");
	assert_int_equal(key_insert("k", 1, "events", 1), DB_OK);
	assert_int_equal(key_do(K_TOUCH, "k", 10000, 10000 -
	    SERVICE_TOUCH_MS), DB_OK);
	assert_int_equal(key_get(1, &r), DB_OK);
	assert_int_equal(r.last_used_at, 10000);
	/* a second later: not due, nothing written */
	assert_int_equal(key_do(K_TOUCH, "k", 11000, 11000 -
	    SERVICE_TOUCH_MS), DB_NOTFOUND);
	assert_int_equal(key_get(1, &r), DB_OK);
	assert_int_equal(r.last_used_at, 10000);
	/* a period later: written */
	assert_int_equal(key_do(K_TOUCH, "k", 15000, 15000 -
	    SERVICE_TOUCH_MS), DB_OK);
	assert_int_equal(key_get(1, &r), DB_OK);
	assert_int_equal(r.last_used_at, 15000);
	assert_int_equal(key_do(K_TOUCH, "gone", 99999, 0), DB_NOTFOUND);
}

static void
test_user_by_public_id(void **state)
{
	struct user_row	 u;

	(void)state;
	fresh("users.db");
	unit_user(db, 7);
	assert_int_equal(db_user_get_by_public_id(db, "u7", &u), DB_OK);
	assert_int_equal(u.id, 7);
	assert_string_equal(u.email, "u7@example.org");
	user_row_release(&u);
	assert_int_equal(db_user_get_by_public_id(db, "u8", &u),
	    DB_NOTFOUND);
	assert_int_equal(db_user_get_by_public_id(db, "U7", &u),
	    DB_NOTFOUND);
}

/*
 * service_request with the header `auth` for a route needing `need`:
 * its status (0: through) and, through, the key's name and scopes.
 */
static int
check_key(const char *auth, unsigned need, struct resp *resp, char *name,
    unsigned *scopes)
{
	struct req	 req;
	int		 rc;

	req_init(&req);
	resp_init(resp);
	req.authorization = auth != NULL ? strdup(auth) : NULL;
	rc = service_request(&req, resp, need);
	if (name != NULL)
		snprintf(name, DB_COLL_CAP, "%s", req.service != NULL ?
		    req.service : "");
	if (scopes != NULL)
		*scopes = req.scopes;
	req_db_release(&req);
	req_free(&req);
	return rc;
}

static void
test_service_request(void **state)
{
	char		 key[AUTH_SERVICE_KEY_LEN + 1], hdr[80], name[DB_COLL_CAP];
	struct key_op	 k = { K_INSERT, "ops", { 0 }, "events", 1000, 0 };
	struct resp	 resp;
	unsigned	 scopes;

	(void)state;
	fresh("request.db");
	assert_int_equal(auth_service_key(key), 0);
	auth_token_hash(key, k.hash);
	assert_int_equal(db_tx(db, key_tx, &k), DB_OK);
	snprintf(hdr, sizeof(hdr), "Bearer %s", key);

	/* through, for a route of its scope or of any */
	assert_int_equal(check_key(hdr, SCOPE_BIT(SCOPE_EVENTS), &resp, name,
	    &scopes), 0);
	assert_string_equal(name, "ops");
	assert_int_equal(scopes, SCOPE_BIT(SCOPE_EVENTS));
	resp_free(&resp);
	assert_int_equal(check_key(hdr, 0, &resp, NULL, NULL), 0);
	resp_free(&resp);
	/* its first use was written */
	assert_true(unit_int(db, "SELECT last_used_at FROM service_keys") >
	    1000);
	/* another scope: 403 naming it */
	assert_int_equal(check_key(hdr, SCOPE_BIT(SCOPE_RECORDS), &resp,
	    NULL, NULL), 403);
	assert_string_equal(unit_code(&resp), "SCOPE_MISSING");
	assert_string_equal(json_string_value(json_object_get(resp.body,
	    "scope")), "records");
	resp_free(&resp);
	/* no header, another scheme, a token, a key cut short, unknown */
	assert_int_equal(check_key(NULL, 0, &resp, NULL, NULL), 401);
	assert_string_equal(unit_code(&resp), "INVALID_TOKEN");
	resp_free(&resp);
	snprintf(hdr, sizeof(hdr), "Basic %s", key);
	assert_int_equal(check_key(hdr, 0, &resp, NULL, NULL), 401);
	resp_free(&resp);
	assert_int_equal(check_key("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", 0,
	    &resp, NULL, NULL), 401);
	resp_free(&resp);
	snprintf(hdr, sizeof(hdr), "Bearer %.45s", key);
	assert_int_equal(check_key(hdr, 0, &resp, NULL, NULL), 401);
	resp_free(&resp);
	key[10] = key[10] == 'A' ? 'B' : 'A';
	snprintf(hdr, sizeof(hdr), "Bearer %s", key);
	assert_int_equal(check_key(hdr, 0, &resp, NULL, NULL), 401);
	assert_string_equal(unit_code(&resp), "INVALID_TOKEN");
	resp_free(&resp);
	/* revoked: refused at once */
	key[10] = key[10] == 'A' ? 'B' : 'A';
	snprintf(hdr, sizeof(hdr), "Bearer %s", key);
	assert_int_equal(key_do(K_DELETE, "ops", 0, 0), DB_OK);
	assert_int_equal(check_key(hdr, 0, &resp, NULL, NULL), 401);
	resp_free(&resp);
}

static void
test_service_user(void **state)
{
	struct req	 req;
	struct resp	 resp;

	(void)state;
	fresh("uid.db");
	unit_user(db, 3);
	req_init(&req);
	resp_init(&resp);
	/* no {uid}: no user, nothing to do */
	assert_int_equal(service_user(&req, &resp), 0);
	req.param_names[0] = "uid";
	req.params[0] = strdup("u3");
	req.nparams = 1;
	assert_int_equal(service_user(&req, &resp), 0);
	assert_int_equal(req.user_id, 3);
	assert_string_equal(req.user_pub, "u3");
	assert_null(req.device_id);
	req_db_release(&req);
	req_free(&req);
	req_init(&req);
	req.param_names[0] = "uid";
	req.params[0] = strdup("a b");
	req.nparams = 1;
	assert_int_equal(service_user(&req, &resp), 404);
	assert_string_equal(unit_code(&resp), "NOT_FOUND");
	req_db_release(&req);
	req_free(&req);
	resp_free(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_schema_checks),
		cmocka_unit_test(test_touch),
		cmocka_unit_test(test_user_by_public_id),
		cmocka_unit_test(test_service_request),
		cmocka_unit_test(test_service_user),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
