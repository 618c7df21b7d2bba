/*
 * Unit tests of sync on a temporary database: record writes with their
 * bounded revision history, the per-collection counters and the usage
 * (applied at the operation's end, rolled back with it), pulls (the
 * store's order, limit and filter; the operation's pages, cursor and
 * byte budget), conflicts (a retry finds its own; paging), and the
 * tombstone sweep with the purge floor it raises.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clock.h"
#include "jcs.h"
#include "sync_rules.h"
#include "unit_db.h"

#define KEEP	3	/* TANDEM_HISTORY_KEEP */

static char dir[] = "/tmp/tandem-unit-db-sync.XXXXXX";
static struct db *db;
static int64_t next_user = 1;
static struct resp last;

static int
setup(void **state)
{
	(void)state;
	setenv("TANDEM_HISTORY_KEEP", "3", 1);
	setenv("TANDEM_TOMBSTONE_DAYS", "1", 1);
	if (unit_setup(dir) == -1)
		return -1;
	db = unit_db_fresh(dir, "t.db");
	resp_init(&last);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	resp_free(&last);
	db_close(db);
	return unit_teardown(dir);
}

/* A new user with one device "dev"; returns its id. */
static int64_t
user_new(void)
{
	int64_t	 id = next_user++;

	unit_user(db, id);
	unit_device(db, id, "dev", now_ms());
	return id;
}

/* One record write as an operation makes it. */
struct put {
	int64_t		 user_id;
	const char	*coll;
	const char	*id;
	const char	*data;		/* NULL: a tombstone */
	const char	*device;	/* NULL: a service */
	int		 result;	/* what the operation ends with */
	int64_t		 version;
	int64_t		 usage_inside;	/* usage_bytes seen before the end */
};

static int
put_tx(struct db *d, void *arg)
{
	struct put		*p = arg;
	struct record_state	 s;
	struct record_write	 w;
	char			 sum[JCS_SHA256_LEN];
	const char		*text = p->data != NULL ? p->data : "null";
	int			 rc;

	if ((rc = db_record_state(d, p->user_id, p->coll, p->id, &s)) !=
	    DB_OK ||
	    (rc = db_clock_next(d, p->user_id, &p->version)) != DB_OK)
		return rc;
	assert_int_equal(sync_checksum(text, strlen(text), sum), 0);
	memset(&w, 0, sizeof(w));
	w.collection = p->coll;
	w.id = p->id;
	w.version = p->version;
	w.data = p->data;
	w.checksum = sum;
	w.modified_at = 1;
	w.device_id = p->device;
	w.history_keep = KEEP;
	if ((rc = db_record_put(d, p->user_id, &w, &s)) != DB_OK)
		return rc;
	p->usage_inside = unit_int(d, "SELECT usage_bytes FROM users WHERE "
	    "id = %lld", (long long)p->user_id);
	return p->result;
}

/* Write data (NULL: a tombstone) as a new version; returns it. */
static int64_t
put(int64_t user_id, const char *coll, const char *id, const char *data)
{
	struct put	 p = { user_id, coll, id, data, "dev", DB_OK, 0, 0 };

	assert_int_equal(db_tx(db, put_tx, &p), DB_OK);
	return p.version;
}

static int64_t
usage_bytes(int64_t u)
{
	int64_t	 bytes, records;

	assert_int_equal(db_usage_get(db, u, &bytes, &records), DB_OK);
	return bytes;
}

static int64_t
usage_records(int64_t u)
{
	int64_t	 bytes, records;

	assert_int_equal(db_usage_get(db, u, &bytes, &records), DB_OK);
	return records;
}

static int
collection_add(void *arg, const struct collection_row *c)
{
	char	*s = arg;
	size_t	 n = strlen(s);

	snprintf(s + n, 512 - n, "%s%s:%lld/%lld@%lld", n ? " " : "",
	    c->name, (long long)c->records, (long long)c->tombstones,
	    (long long)c->last_version);
	return DB_OK;
}

/* "name:records/tombstones@last_version ..." of the user (static). */
static const char *
collections(int64_t user_id)
{
	static char	 s[512];

	s[0] = '\0';
	assert_int_equal(db_collections_list(db, user_id, collection_add, s),
	    DB_OK);
	return s;
}

/* GET /sync/pull?query as user's "dev"; the answer parsed (decref it). */
static json_t *
pull(int64_t user_id, const char *query, int want)
{
	struct unit_req	 u = { user_id, "dev", NULL, NULL, query, NULL };
	json_error_t	 err;
	json_t		*v;

	resp_free(&last);
	assert_int_equal(unit_call(handle_sync_pull, &u, &last), want);
	if (want != 200)
		return NULL;
	v = json_loadb(last.raw.data, last.raw.len, 0, &err);
	if (v == NULL)
		fail_msg("pull: %s", err.text);
	return v;
}

static size_t
changes(json_t *page)
{
	return json_array_size(json_object_get(page, "changes"));
}

static int64_t
cursor_of(json_t *page)
{
	return json_integer_value(json_object_get(page, "cursor"));
}

static int
more_of(json_t *page)
{
	return json_is_true(json_object_get(page, "more"));
}

static void
test_history_is_bounded(void **state)
{
	struct record_state	 s;
	int64_t			 u, v[10];
	char			*data, text[32];
	int			 i, rc;

	(void)state;
	u = user_new();
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "{\"n\":%d}", i);
		v[i] = put(u, "c", "r", text);
		if (i > 0)
			assert_true(v[i] > v[i - 1]);
	}
	/* the newest KEEP previous revisions are kept, nothing older */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = %lld", (long long)u), KEEP);
	for (i = 0; i < 10; i++) {
		rc = db_revision_data(db, u, "c", "r", v[i], &data);
		if (i >= 6 && i <= 8) {
			assert_int_equal(rc, DB_OK);
			snprintf(text, sizeof(text), "{\"n\":%d}", i);
			assert_string_equal(data, text);
			free(data);
		} else
			assert_int_equal(rc, DB_NOTFOUND);
	}
	assert_int_equal(db_record_state(db, u, "c", "r", &s), DB_OK);
	assert_true(s.exists);
	assert_false(s.deleted);
	assert_int_equal(s.version, v[9]);
	assert_int_equal(s.bytes, 7);
	assert_int_equal(db_record_data(db, u, "c", "r", &data), DB_OK);
	assert_string_equal(data, "{\"n\":9}");
	free(data);
	/* other users see nothing of it */
	assert_int_equal(db_record_state(db, u + 1000, "c", "r", &s), DB_OK);
	assert_false(s.exists);
	assert_int_equal(s.version, 0);
	assert_int_equal(db_record_data(db, u + 1000, "c", "r", &data),
	    DB_NOTFOUND);
	/* a tombstone: no data, but a state and a kept revision */
	put(u, "c", "r", NULL);
	assert_int_equal(db_record_state(db, u, "c", "r", &s), DB_OK);
	assert_true(s.exists);
	assert_true(s.deleted);
	assert_int_equal(s.bytes, 4);
	assert_int_equal(db_record_data(db, u, "c", "r", &data), DB_NOTFOUND);
	assert_int_equal(db_revision_data(db, u, "c", "r", v[9], &data),
	    DB_OK);
	free(data);
}

static void
test_collection_counts(void **state)
{
	int64_t	 u, va, vb;
	char	 want[256];

	(void)state;
	u = user_new();
	assert_string_equal(collections(u), "");
	put(u, "a", "1", "{}");
	put(u, "a", "2", "{}");
	put(u, "a", "1", NULL);		/* live -> tombstone */
	put(u, "a", "3", NULL);		/* absent -> tombstone */
	put(u, "a", "3", "{\"x\":1}");	/* tombstone -> live */
	va = put(u, "a", "2", "{\"y\":1}");	/* live -> live */
	vb = put(u, "b", "1", "{}");
	snprintf(want, sizeof(want), "a:2/1@%lld b:1/0@%lld", (long long)va,
	    (long long)vb);
	assert_string_equal(collections(u), want);
	/* the counters agree with the records */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld AND collection = 'a' AND deleted = 0",
	    (long long)u), 2);
	/* usage: the bytes of what is stored (4 a tombstone), every record */
	assert_int_equal(usage_bytes(u), 4 + 7 + 7 + 2);
	assert_int_equal(usage_records(u), 4);
}

/*
 * The counters and the usage move once, when the operation ends, and
 * not at all when it is rolled back.
 */
static void
test_counts_deferred(void **state)
{
	struct put	 p;
	int64_t		 u;

	(void)state;
	u = user_new();
	put(u, "c", "1", "{}");
	assert_int_equal(usage_bytes(u), 2);
	memset(&p, 0, sizeof(p));
	p.user_id = u;
	p.coll = "c";
	p.id = "2";
	p.data = "{\"abc\":1}";
	p.device = "dev";
	p.result = DB_OK;
	assert_int_equal(db_tx(db, put_tx, &p), DB_OK);
	/* inside the operation: not yet */
	assert_int_equal(p.usage_inside, 2);
	assert_int_equal(usage_bytes(u), 2 + 9);
	assert_int_equal(usage_records(u), 2);
	/* rolled back (a quota, an error): no record, no counts */
	p.id = "3";
	p.result = DB_ROLLBACK;
	assert_int_equal(db_tx(db, put_tx, &p), DB_ROLLBACK);
	p.result = DB_ERROR;
	assert_int_equal(db_tx(db, put_tx, &p), DB_ERROR);
	assert_int_equal(usage_bytes(u), 2 + 9);
	assert_int_equal(usage_records(u), 2);
	assert_int_equal(strncmp(collections(u), "c:2/0@", 6), 0);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld", (long long)u), 2);
	/* a write that shrinks a record lowers the usage */
	put(u, "c", "2", "{}");
	assert_int_equal(usage_bytes(u), 2 + 2);
	assert_int_equal(usage_records(u), 2);
}

struct seen {
	char	 ids[512];
	int64_t	 last;
	int	 ordered;
};

static int
seen_add(void *arg, const struct record_row *r)
{
	struct seen	*s = arg;
	size_t		 n = strlen(s->ids);

	if (r->version <= s->last)
		s->ordered = 0;
	s->last = r->version;
	snprintf(s->ids + n, sizeof(s->ids) - n, "%s%s/%s", n ? "," : "",
	    r->collection, r->id);
	return DB_OK;
}

static const char *
pulled(int64_t u, int64_t since, const char *const *colls, size_t ncolls,
    int64_t limit)
{
	static struct seen s;

	memset(&s, 0, sizeof(s));
	s.ordered = 1;
	assert_int_equal(db_records_pull(db, u, since, colls, ncolls, limit,
	    seen_add, &s), DB_OK);
	assert_true(s.ordered);
	return s.ids;
}

/* The store's pull: version order, after since, at most limit, filtered. */
static void
test_records_pull(void **state)
{
	static const char *const odd[] = { "odd" };
	static const char *const both[] = { "odd", "even" };
	static const char *const none[] = { "nothing" };
	int64_t	 u, other, v1, v3;

	(void)state;
	u = user_new();
	other = user_new();
	put(u, "even", "a", "{}");
	v1 = put(u, "odd", "b", "{}");
	put(other, "odd", "x", "{}");
	put(u, "even", "c", "{}");
	v3 = put(u, "odd", "d", NULL);
	/* written again: it moves to the end, in its latest state */
	put(u, "even", "a", "{\"n\":1}");
	assert_string_equal(pulled(u, 0, NULL, 0, 100),
	    "odd/b,even/c,odd/d,even/a");
	assert_string_equal(pulled(u, 0, NULL, 0, 2), "odd/b,even/c");
	assert_string_equal(pulled(u, v1, NULL, 0, 100),
	    "even/c,odd/d,even/a");
	assert_string_equal(pulled(u, v3, NULL, 0, 100), "even/a");
	assert_string_equal(pulled(u, 0, odd, 1, 100), "odd/b,odd/d");
	assert_string_equal(pulled(u, v1, odd, 1, 100), "odd/d");
	assert_string_equal(pulled(u, 0, both, 2, 3), "odd/b,even/c,odd/d");
	assert_string_equal(pulled(u, 0, none, 1, 100), "");
	assert_string_equal(pulled(other, 0, NULL, 0, 100), "odd/x");
}

/* The operation's pages: limit, more, and the cursor of each. */
static void
test_pull_pages(void **state)
{
	json_t	*p;
	int64_t	 u, v[5];
	char	 q[128];
	int	 i;

	(void)state;
	u = user_new();
	for (i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "r%d", i);
		v[i] = put(u, i % 2 ? "odd" : "even", id, "{}");
	}
	p = pull(u, "since=0&limit=2", 200);
	assert_int_equal(changes(p), 2);
	assert_true(more_of(p));
	assert_int_equal(cursor_of(p), v[1]);
	json_decref(p);
	snprintf(q, sizeof(q), "since=%lld&limit=2", (long long)v[3]);
	p = pull(u, q, 200);
	assert_int_equal(changes(p), 1);
	assert_false(more_of(p));
	assert_int_equal(cursor_of(p), v[4]);
	json_decref(p);
	snprintf(q, sizeof(q), "since=%lld&limit=2", (long long)v[4]);
	p = pull(u, q, 200);
	assert_int_equal(changes(p), 0);
	assert_false(more_of(p));
	assert_int_equal(cursor_of(p), v[4]);
	json_decref(p);
	p = pull(u, "since=0&collections=odd&limit=10", 200);
	assert_int_equal(changes(p), 2);
	assert_int_equal(cursor_of(p), v[3]);
	json_decref(p);
	/* exactly limit left: the page is full but there is no more */
	p = pull(u, "since=0&limit=5", 200);
	assert_int_equal(changes(p), 5);
	assert_false(more_of(p));
	json_decref(p);
	/* the device's pull is marked */
	assert_true(unit_int(db, "SELECT last_pull_at FROM devices WHERE "
	    "user_id = %lld", (long long)u) > 0);
}

/* Pages stop at the byte budget (4 MiB); odd strings are escaped. */
static void
test_pull_text(void **state)
{
	json_t	*p, *r;
	char	*big, q[64];
	int64_t	 u, total = 0, since = 0;
	size_t	 n, pages = 0;
	int	 i, more;

	(void)state;
	u = user_new();
	/* 40 records of 256 KiB: 10 MiB, more than two pages' budget */
	big = malloc(262144 + 16);
	assert_non_null(big);
	memcpy(big, "{\"s\":\"", 6);
	memset(big + 6, 'x', 262144 - 8);
	memcpy(big + 262144 - 2, "\"}", 3);
	for (i = 0; i < 40; i++) {
		char id[16];
		snprintf(id, sizeof(id), "big%d", i);
		put(u, "big", id, big);
	}
	free(big);
	do {
		snprintf(q, sizeof(q), "since=%lld&limit=1000",
		    (long long)since);
		p = pull(u, q, 200);
		assert_true(last.raw.len <= 4 * 1024 * 1024 + 262144 + 1024);
		since = cursor_of(p);
		more = more_of(p);
		n = changes(p);
		assert_true(n >= 1);
		total += (int64_t)n;
		pages++;
		json_decref(p);
	} while (more);
	assert_int_equal(total, 40);
	assert_true(pages >= 3);

	unit_execf(db, "INSERT INTO records (user_id, collection, record_id, "
	    "version, data, deleted, modified_at, device_id, checksum) VALUES "
	    "(%lld, 'odd', 'a\"b\\c' || char(10) || char(1), 1, '{}', 0, 0, "
	    "NULL, 'x')", (long long)u);
	p = pull(u, "since=0&collections=odd", 200);
	r = json_array_get(json_object_get(p, "changes"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "id")),
	    "a\"b\\c\n\x01");
	assert_true(json_is_null(json_object_get(r, "device_id")));
	json_decref(p);
}

/* One conflict store call in its own operation. */
struct conf {
	int64_t			 user_id;
	const struct conflict_new *n;
	int			 insert;	/* else find */
	int64_t			 id;
};

static int
conf_tx(struct db *d, void *arg)
{
	struct conf	*c = arg;

	if (c->insert)
		return db_conflict_insert(d, c->user_id, c->n, &c->id);
	return db_conflict_find_open(d, c->user_id, c->n, &c->id);
}

/* find, and insert when not found (a push's push_conflict); the id. */
static int64_t
conflict_add(int64_t u, const struct conflict_new *n, int *created)
{
	struct conf	 c = { u, n, 0, 0 };
	int		 rc = db_tx(db, conf_tx, &c);

	*created = rc == DB_NOTFOUND;
	if (rc == DB_NOTFOUND) {
		c.insert = 1;
		rc = db_tx(db, conf_tx, &c);
	}
	assert_int_equal(rc, DB_OK);
	return c.id;
}

struct resolve {
	int64_t	 user_id;
	int64_t	 id;
	int64_t	 version;
};

static int
resolve_tx(struct db *d, void *arg)
{
	struct resolve	*r = arg;

	return db_conflict_resolve(d, r->user_id, r->id, "server", "dev", 9,
	    r->version);
}

static int
conflict_count(void *arg, const struct conflict_row *c)
{
	(void)c;
	(*(int64_t *)arg)++;
	return DB_OK;
}

static int64_t
conflicts(int64_t u, enum conflict_filter f, const char *coll)
{
	int64_t	 n = 0;

	assert_int_equal(db_conflicts_list(db, u, f, coll, 0, 0,
	    conflict_count, &n), DB_OK);
	return n;
}

static void
test_conflicts(void **state)
{
	struct conflict_new	 n;
	struct conflict_row	 c;
	struct resolve		 r;
	int64_t			 u, id, id2, nopen, v;
	int			 created;

	(void)state;
	u = user_new();
	memset(&n, 0, sizeof(n));
	n.collection = "c";
	n.id = "missing";
	n.device_id = "dev";
	n.base_version = 7;
	n.data = "{\"a\":1}";
	n.modified_at = 5;
	n.created_at = 6;
	id = conflict_add(u, &n, &created);
	assert_true(created);
	/* the same change again (a retry) is the same conflict */
	id2 = conflict_add(u, &n, &created);
	assert_false(created);
	assert_int_equal(id2, id);
	/* another base, another device, other data: another conflict */
	n.base_version = 8;
	id2 = conflict_add(u, &n, &created);
	assert_true(created);
	assert_true(id2 != id);
	n.base_version = 7;
	n.device_id = "other";
	(void)conflict_add(u, &n, &created);
	assert_true(created);
	n.device_id = "dev";
	n.data = "{\"a\":2}";
	(void)conflict_add(u, &n, &created);
	assert_true(created);
	n.data = "{\"a\":1}";
	/* no record: the server side is version 0, deleted, no data */
	assert_int_equal(db_conflict_get(db, u, id, &c), DB_OK);
	assert_int_equal(c.server_version, 0);
	assert_true(c.server_deleted);
	assert_null(c.server_data);
	assert_int_equal(c.server_modified_at, 0);
	assert_string_equal(c.client_data, "{\"a\":1}");
	assert_false(c.client_deleted);
	assert_false(c.resolved);
	assert_int_equal(c.base_version, 7);
	conflict_row_release(&c);
	assert_int_equal(db_conflict_get(db, u + 1000, id, &c), DB_NOTFOUND);
	/* the record appears: the same change against another server
	 * version is a new conflict */
	v = put(u, "c", "missing", "{\"s\":1}");
	id2 = conflict_add(u, &n, &created);
	assert_true(created);
	assert_true(id2 != id);
	assert_int_equal(db_conflict_get(db, u, id2, &c), DB_OK);
	assert_int_equal(c.server_version, v);
	assert_string_equal(c.server_data, "{\"s\":1}");
	conflict_row_release(&c);
	(void)conflict_add(u, &n, &created);
	assert_false(created);
	/* a delete against a live record */
	v = put(u, "c", "live", "{\"s\":2}");
	n.id = "live";
	n.data = NULL;
	id = conflict_add(u, &n, &created);
	assert_true(created);
	assert_int_equal(db_conflict_get(db, u, id, &c), DB_OK);
	assert_int_equal(c.server_version, v);
	assert_true(c.client_deleted);
	assert_null(c.client_data);
	conflict_row_release(&c);
	(void)conflict_add(u, &n, &created);
	assert_false(created);
	assert_int_equal(db_conflicts_open_count(db, u, &nopen), DB_OK);
	assert_int_equal(nopen, 6);
	/* resolved once; then it is no open conflict to find */
	r.user_id = u;
	r.id = id;
	r.version = v;
	assert_int_equal(db_tx(db, resolve_tx, &r), DB_OK);
	assert_int_equal(db_tx(db, resolve_tx, &r), DB_NOTFOUND);
	r.user_id = u + 1000;
	assert_int_equal(db_tx(db, resolve_tx, &r), DB_NOTFOUND);
	assert_int_equal(db_conflict_get(db, u, id, &c), DB_OK);
	assert_true(c.resolved);
	assert_string_equal(c.resolution, "server");
	assert_int_equal(c.resolved_at, 9);
	conflict_row_release(&c);
	(void)conflict_add(u, &n, &created);
	assert_true(created);
	assert_int_equal(db_conflicts_open_count(db, u, &nopen), DB_OK);
	assert_int_equal(nopen, 6);
	assert_int_equal(conflicts(u, CONFLICTS_RESOLVED, NULL), 1);
	assert_int_equal(conflicts(u, CONFLICTS_OPEN, NULL), 6);
	assert_int_equal(conflicts(u, CONFLICTS_ALL, NULL), 7);
	assert_int_equal(conflicts(u, CONFLICTS_ALL, "other"), 0);
	assert_int_equal(conflicts(u, CONFLICTS_ALL, "c"), 7);
	assert_int_equal(conflicts(u + 1000, CONFLICTS_ALL, NULL), 0);
}

struct page {
	int64_t	 ids[16];
	int	 n;
};

static int
page_add(void *arg, const struct conflict_row *c)
{
	struct page	*p = arg;

	if (p->n < 16)
		p->ids[p->n] = c->id;
	p->n++;
	return DB_OK;
}

/* Conflicts page by id: after, limit, status and collection. */
static void
test_conflicts_paging(void **state)
{
	struct conflict_new	 n;
	struct resolve		 r;
	struct page		 p;
	int64_t			 u, ids[6];
	int			 i, created;

	(void)state;
	u = user_new();
	memset(&n, 0, sizeof(n));
	n.device_id = "dev";
	n.data = "{}";
	for (i = 0; i < 6; i++) {
		n.collection = i % 2 ? "b" : "a";
		n.id = "r";
		n.base_version = i + 1;
		ids[i] = conflict_add(u, &n, &created);
		assert_true(created);
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
	}
	r.user_id = u;
	r.id = ids[2];
	r.version = 0;
	assert_int_equal(db_tx(db, resolve_tx, &r), DB_OK);
	memset(&p, 0, sizeof(p));
	assert_int_equal(db_conflicts_list(db, u, CONFLICTS_ALL, NULL, 0, 2,
	    page_add, &p), DB_OK);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.ids[0], ids[0]);
	assert_int_equal(p.ids[1], ids[1]);
	memset(&p, 0, sizeof(p));
	assert_int_equal(db_conflicts_list(db, u, CONFLICTS_ALL, NULL, ids[1],
	    2, page_add, &p), DB_OK);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.ids[0], ids[2]);
	assert_int_equal(p.ids[1], ids[3]);
	/* open ones after the first: the resolved one is left out */
	memset(&p, 0, sizeof(p));
	assert_int_equal(db_conflicts_list(db, u, CONFLICTS_OPEN, NULL, ids[0],
	    0, page_add, &p), DB_OK);
	assert_int_equal(p.n, 4);
	assert_int_equal(p.ids[0], ids[1]);
	assert_int_equal(p.ids[1], ids[3]);
	/* one collection's, paged */
	memset(&p, 0, sizeof(p));
	assert_int_equal(db_conflicts_list(db, u, CONFLICTS_ALL, "b", ids[1],
	    1, page_add, &p), DB_OK);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.ids[0], ids[3]);
	memset(&p, 0, sizeof(p));
	assert_int_equal(db_conflicts_list(db, u, CONFLICTS_ALL, NULL, ids[5],
	    0, page_add, &p), DB_OK);
	assert_int_equal(p.n, 0);
}

/* Give a record another version (as if written at another time). */
static void
age(int64_t user_id, const char *id, int64_t version)
{
	unit_execf(db, "UPDATE records SET version = %lld WHERE "
	    "user_id = %lld AND record_id = '%s'", (long long)version,
	    (long long)user_id, id);
}

static int
purge_tx(struct db *d, void *arg)
{
	return db_tombstone_purge(d, arg);
}

/* The first tombstone of one user, and whether all came oldest first. */
struct first_key {
	int64_t			 user_id;
	struct tombstone_key	 k;
	int64_t			 last;
	int			 ordered;
};

static int
key_add(void *arg, const struct tombstone_key *t)
{
	struct first_key *f = arg;

	if (t->version <= f->last)
		f->ordered = 0;
	f->last = t->version;
	if (t->user_id == f->user_id && f->k.user_id == 0)
		f->k = *t;
	return DB_OK;
}

/*
 * One tombstone purged: its record and history go, its collection and
 * the usage lose it, the purge floor rises to its version.  A record
 * written again since the sweeper looked is left alone.
 */
static void
test_tombstone_purge(void **state)
{
	struct first_key f;
	struct tombstone_key k;
	int64_t		 u, v, bytes;

	(void)state;
	u = user_new();
	put(u, "p", "a", "{\"n\":1}");
	v = put(u, "p", "a", NULL);
	put(u, "p", "b", NULL);
	bytes = usage_bytes(u);
	memset(&f, 0, sizeof(f));
	f.user_id = u;
	f.ordered = 1;
	/* oldest first, across users; this user's oldest is "a" at v */
	assert_int_equal(db_tombstones_old(db, v + 1, 1000, key_add, &f),
	    DB_OK);
	assert_true(f.ordered);
	k = f.k;
	assert_int_equal(k.user_id, u);
	assert_string_equal(k.record_id, "a");
	assert_int_equal(k.version, v);
	assert_int_equal(db_tx(db, purge_tx, &k), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld AND record_id = 'a'", (long long)u), 0);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = %lld AND record_id = 'a'", (long long)u), 0);
	assert_int_equal(unit_int(db, "SELECT purge_floor FROM users WHERE "
	    "id = %lld", (long long)u), v);
	assert_int_equal(usage_bytes(u), bytes - 4);
	assert_int_equal(usage_records(u), 1);
	assert_int_equal(strncmp(collections(u), "p:0/1@", 6), 0);
	/* gone already, or re-created meanwhile: nothing purged */
	assert_int_equal(db_tx(db, purge_tx, &k), DB_NOTFOUND);
	memset(&k, 0, sizeof(k));
	k.user_id = u;
	snprintf(k.collection, sizeof(k.collection), "p");
	snprintf(k.record_id, sizeof(k.record_id), "b");
	k.version = put(u, "p", "b", NULL) - 1;	/* an older tombstone */
	assert_int_equal(db_tx(db, purge_tx, &k), DB_NOTFOUND);
	put(u, "p", "b", "{}");
	k.version = unit_int(db, "SELECT version FROM records WHERE "
	    "user_id = %lld AND record_id = 'b'", (long long)u);
	assert_int_equal(db_tx(db, purge_tx, &k), DB_NOTFOUND);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld AND record_id = 'b'", (long long)u), 1);
	assert_int_equal(unit_int(db, "SELECT purge_floor FROM users WHERE "
	    "id = %lld", (long long)u), v);
}

static void
test_sweep(void **state)
{
	json_t	*p;
	int64_t	 u, other, now = now_ms(), old, older, cur, bytes;
	char	 q[64];

	(void)state;
	u = user_new();
	other = user_new();
	put(u, "t", "keep", "{}");
	put(u, "t", "old1", "{\"v\":1}");
	put(u, "t", "old1", NULL);
	put(u, "t", "old2", NULL);
	put(u, "t", "fresh", NULL);
	put(other, "t", "x", NULL);
	/* two tombstones of u written 2 and 3 days ago */
	older = (now - 3 * 86400000LL) * 1000;
	old = (now - 2 * 86400000LL) * 1000;
	age(u, "old1", older);
	age(u, "old2", old);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = %lld AND record_id = 'old1'", (long long)u), 1);
	bytes = usage_bytes(u);
	assert_int_equal(usage_records(u), 4);
	assert_int_equal(sync_sweep(db, now), DB_OK);
	/* purged: the old tombstones and their history; kept: the rest */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld", (long long)u), 2);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = %lld AND record_id = 'old1'", (long long)u), 0);
	assert_int_equal(unit_int(db, "SELECT purge_floor FROM users WHERE "
	    "id = %lld", (long long)u), old);
	assert_int_equal(unit_int(db, "SELECT purge_floor FROM users WHERE "
	    "id = %lld", (long long)other), 0);
	assert_non_null(strstr(collections(u), "t:1/1@"));
	/* the usage loses what the tombstones counted */
	assert_int_equal(usage_bytes(u), bytes - 2 * 4);
	assert_int_equal(usage_records(u), 2);
	/* a cursor below the floor expires; 0 and the floor itself work */
	snprintf(q, sizeof(q), "since=%lld", (long long)older);
	assert_null(pull(u, q, 410));
	assert_string_equal(unit_code(&last), "CURSOR_EXPIRED");
	assert_int_equal(json_integer_value(json_object_get(last.body,
	    "purge_floor")), old);
	snprintf(q, sizeof(q), "since=%lld", (long long)old);
	p = pull(u, q, 200);
	json_decref(p);
	p = pull(u, "since=0", 200);
	assert_int_equal(changes(p), 2);
	json_decref(p);
	assert_int_equal(db_sync_cursor(db, u, &cur), DB_OK);
	assert_true(cur >= old);
	/* a second sweep has nothing to do */
	assert_int_equal(sync_sweep(db, now), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld", (long long)u), 2);
	/* the cursor of a user with only purged history is the floor */
	unit_execf(db, "DELETE FROM records WHERE user_id = %lld",
	    (long long)u);
	assert_int_equal(db_sync_cursor(db, u, &cur), DB_OK);
	assert_int_equal(cur, old);
}

static void
test_sweep_many(void **state)
{
	int64_t	 u, now = now_ms(), base;

	(void)state;
	u = user_new();
	base = (now - 5 * 86400000LL) * 1000;
	/* 2,500 old tombstones: more than one pass of the sweep */
	unit_execf(db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT "
	    "i + 1 FROM n WHERE i < 2499) INSERT INTO records (user_id, "
	    "collection, record_id, version, data, deleted, modified_at, "
	    "device_id, checksum) SELECT %lld, 'm', 't' || i, %lld + i, NULL, "
	    "1, 0, 'd', 'x' FROM n", (long long)u, (long long)base);
	assert_int_equal(sync_sweep(db, now), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM records WHERE "
	    "user_id = %lld", (long long)u), 0);
	assert_int_equal(unit_int(db, "SELECT purge_floor FROM users WHERE "
	    "id = %lld", (long long)u), base + 2499);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_is_bounded),
		cmocka_unit_test(test_collection_counts),
		cmocka_unit_test(test_counts_deferred),
		cmocka_unit_test(test_records_pull),
		cmocka_unit_test(test_pull_pages),
		cmocka_unit_test(test_pull_text),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_conflicts_paging),
		cmocka_unit_test(test_tombstone_purge),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_sweep_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
