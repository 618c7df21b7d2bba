/*
 * Unit tests of lib/db_sync: record writes with their bounded revision
 * history and per-collection counts, pull pages, conflicts, and the
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

#include "config.h"
#include "db.h"
#include "db_sync.h"
#include "http.h"
#include "sync_rules.h"

static char dir[] = "/tmp/tandem-unit-db-sync.XXXXXX";
static char path[256];
static int64_t next_user = 1;

static int
setup(void **state)
{
	char	 err[256];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	setenv("TANDEM_DATA_DIR", dir, 1);
	setenv("TANDEM_HISTORY_KEEP", "3", 1);
	setenv("TANDEM_TOMBSTONE_DAYS", "1", 1);
	if (config_load(err, sizeof(err)) == -1)
		return -1;
	return db_migrate(path);
}

static int
teardown(void **state)
{
	char	 cmd[300];

	(void)state;
	config_free();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A new user row; returns its id. */
static int64_t
user_new(struct db *db)
{
	static const char sql[] = "INSERT INTO users (public_id, email, "
	    "password_hash, created_at) VALUES (?1, ?1, 'x', 0) RETURNING id";
	sqlite3_stmt	*st;
	char		 name[64];
	int64_t		 id;

	snprintf(name, sizeof(name), "u%lld@example.com",
	    (long long)next_user++);
	st = db_prepare(db, sql);
	assert_non_null(st);
	db_bind_text(st, 1, name);
	assert_int_equal(db_step(db, st), SQLITE_ROW);
	id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/* One integer from a query with one bound user id. */
static int64_t
count(struct db *db, const char *sql, int64_t user_id)
{
	sqlite3_stmt	*st;
	int64_t		 n;

	st = db_prepare(db, sql);
	assert_non_null(st);
	sqlite3_bind_int64(st, 1, user_id);
	assert_int_equal(db_step(db, st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/* Write data (NULL: a tombstone) as a new version; returns it. */
static int64_t
put(struct db *db, int64_t user_id, const char *coll, const char *id,
    const char *data)
{
	struct db_record_state	 s;
	struct db_record_write	 w;
	char			 sum[JCS_SHA256_LEN];
	int64_t			 v;

	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_record_state(db, user_id, coll, id, &s), DB_OK);
	sync_checksum(data ? data : "null", strlen(data ? data : "null"), sum);
	w.collection = coll;
	w.id = id;
	w.data = data;
	w.checksum = sum;
	w.modified_at = 1;
	w.device_id = "dev";
	assert_int_equal(db_record_put(db, user_id, &w, &s, &v), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	return v;
}

/* The user's collections list as compact JSON (free it). */
static char *
collections(struct db *db, int64_t user_id)
{
	json_t	*v;
	char	*s;

	assert_int_equal(db_collections_list(db, user_id, &v), DB_OK);
	s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	return s;
}

/* The number of records in a pull page (its text must parse); frees it. */
static size_t
page_size(struct db_pull *pull)
{
	json_t	*v;
	size_t	 n;

	assert_non_null(pull->changes.data);
	v = json_loads(pull->changes.data, 0, NULL);
	assert_non_null(v);
	assert_true(json_is_array(v));
	n = json_array_size(v);
	json_decref(v);
	db_pull_release(pull);
	return n;
}

static void
test_history_is_bounded(void **state)
{
	struct db		*db = db_open(path);
	struct db_record_state	 s;
	int64_t			 u, v[10];
	json_t			*data;
	char			 text[32];
	int			 i;

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "{\"n\":%d}", i);
		v[i] = put(db, u, "c", "r", text);
		if (i > 0)
			assert_true(v[i] > v[i - 1]);
	}
	/* the newest 3 previous revisions are kept, nothing older */
	assert_int_equal(count(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = ?1", u), 3);
	for (i = 0; i < 10; i++) {
		int rc = db_revision_data(db, u, "c", "r", v[i], &data);
		if (i >= 6 && i <= 8) {
			assert_int_equal(rc, DB_OK);
			snprintf(text, sizeof(text), "{\"n\":%d}", i);
			assert_int_equal(json_integer_value(json_object_get(
			    data, "n")), i);
			json_decref(data);
		} else
			assert_int_equal(rc, DB_NOTFOUND);
	}
	assert_int_equal(db_record_state(db, u, "c", "r", &s), DB_OK);
	assert_true(s.exists);
	assert_false(s.deleted);
	assert_int_equal(s.version, v[9]);
	assert_int_equal(db_record_data(db, u, "c", "r", &data), DB_OK);
	assert_int_equal(json_integer_value(json_object_get(data, "n")), 9);
	json_decref(data);
	/* other users see nothing of it */
	assert_int_equal(db_record_state(db, u + 1000, "c", "r", &s), DB_OK);
	assert_false(s.exists);
	assert_int_equal(s.version, 0);
	db_close(db);
}

static void
test_collection_counts(void **state)
{
	struct db	*db = db_open(path);
	int64_t		 u, v;
	char		*s, want[256];

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	s = collections(db, u);
	assert_string_equal(s, "[]");
	free(s);
	put(db, u, "a", "1", "{}");
	put(db, u, "a", "2", "{}");
	put(db, u, "a", "1", NULL);		/* live -> tombstone */
	put(db, u, "a", "3", NULL);		/* absent -> tombstone */
	put(db, u, "a", "3", "{\"x\":1}");	/* tombstone -> live */
	put(db, u, "a", "2", "{\"y\":1}");	/* live -> live */
	v = put(db, u, "b", "1", "{}");
	s = collections(db, u);
	assert_int_equal(count(db, "SELECT last_version FROM collections "
	    "WHERE user_id = ?1 AND name = 'a'", u) < v, 1);
	snprintf(want, sizeof(want), "[{\"name\":\"a\",\"records\":2,"
	    "\"tombstones\":1,\"last_version\":%lld},{\"name\":\"b\","
	    "\"records\":1,\"tombstones\":0,\"last_version\":%lld}]",
	    (long long)count(db, "SELECT MAX(version) FROM records WHERE "
	    "user_id = ?1 AND collection = 'a'", u), (long long)v);
	assert_string_equal(s, want);
	free(s);
	db_close(db);
}

static void
test_pull_pages(void **state)
{
	struct db	*db = db_open(path);
	struct db_pull	 pull;
	int64_t		 u, v[5];
	int		 i;

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	for (i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "r%d", i);
		v[i] = put(db, u, i % 2 ? "odd" : "even", id, "{}");
	}
	assert_int_equal(db_records_pull(db, u, "dev", 0, NULL, 2, 0, &pull),
	    DB_OK);
	assert_int_equal(page_size(&pull), 2);
	assert_true(pull.more);
	assert_int_equal(pull.cursor, v[1]);
	assert_int_equal(db_records_pull(db, u, "dev", v[3], NULL, 2, 0,
	    &pull), DB_OK);
	assert_int_equal(page_size(&pull), 1);
	assert_false(pull.more);
	assert_int_equal(pull.cursor, v[4]);
	assert_int_equal(db_records_pull(db, u, "dev", v[4], NULL, 2, 0,
	    &pull), DB_OK);
	assert_int_equal(page_size(&pull), 0);
	assert_int_equal(pull.cursor, v[4]);
	assert_int_equal(db_records_pull(db, u, "dev", 0, "[\"odd\"]", 10, 0,
	    &pull), DB_OK);
	assert_int_equal(page_size(&pull), 2);
	assert_int_equal(pull.cursor, v[3]);
	db_close(db);
}

/* Pages stop at DB_PULL_PAGE_BYTES; odd strings are escaped. */
static void
test_pull_text(void **state)
{
	struct db	*db = db_open(path);
	struct db_pull	 pull;
	sqlite3_stmt	*st;
	json_t		*v;
	char		*big;
	int64_t		 u, total = 0, since = 0;
	size_t		 n, pages = 0;
	int		 i;

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	/* 40 records of 256 KiB: 10 MiB, more than two pages' budget */
	big = malloc(262144 + 16);
	assert_non_null(big);
	memcpy(big, "{\"s\":\"", 6);
	memset(big + 6, 'x', 262144 - 8);
	memcpy(big + 262144 - 2, "\"}", 3);
	for (i = 0; i < 40; i++) {
		char id[16];
		snprintf(id, sizeof(id), "big%d", i);
		put(db, u, "big", id, big);
	}
	free(big);
	do {
		assert_int_equal(db_records_pull(db, u, "dev", since, NULL,
		    1000, 0, &pull), DB_OK);
		assert_true(pull.changes.len <= DB_PULL_PAGE_BYTES + 262144 +
		    1024);
		since = pull.cursor;
		i = pull.more;
		n = page_size(&pull);
		assert_true(n >= 1);
		total += (int64_t)n;
		pages++;
	} while (i);
	assert_int_equal(total, 40);
	assert_true(pages >= 3);

	st = db_prepare(db, "INSERT INTO records (user_id, collection, "
	    "record_id, version, data, deleted, modified_at, device_id, "
	    "checksum) VALUES (?1, 'odd', 'a\"b\\c\n\x01', 1, '{}', 0, 0, NULL, "
	    "'x')");
	assert_non_null(st);
	sqlite3_bind_int64(st, 1, u);
	assert_int_equal(db_exec(db, st), DB_OK);
	assert_int_equal(db_records_pull(db, u, "dev", 0, "[\"odd\"]", 10, 0,
	    &pull), DB_OK);
	v = json_loads(pull.changes.data, 0, NULL);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v,
	    0), "id")), "a\"b\\c\n\x01");
	assert_true(json_is_null(json_object_get(json_array_get(v, 0),
	    "device_id")));
	json_decref(v);
	db_pull_release(&pull);
	db_close(db);
}

static void
test_conflicts(void **state)
{
	struct db		*db = db_open(path);
	struct db_conflict_new	 n;
	struct db_conflict	 c;
	int64_t			 u, id, id2, nopen, v;
	int			 created;
	json_t			*j;

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	n.collection = "c";
	n.id = "missing";
	n.device_id = "dev";
	n.base_version = 7;
	n.data = "{\"a\":1}";
	n.modified_at = 5;
	n.created_at = 6;
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_conflict_add(db, u, &n, &id, &created), DB_OK);
	assert_true(created);
	/* the same change again (a retry) is the same conflict */
	assert_int_equal(db_conflict_add(db, u, &n, &id2, &created), DB_OK);
	assert_false(created);
	assert_int_equal(id2, id);
	n.base_version = 8;
	assert_int_equal(db_conflict_add(db, u, &n, &id2, &created), DB_OK);
	assert_true(created);
	assert_true(id2 != id);
	n.base_version = 7;
	assert_int_equal(db_commit(db), DB_OK);
	/* no record: the server side is version 0, deleted, no data */
	assert_int_equal(db_conflict_load(db, u, id, &c), DB_OK);
	assert_int_equal(c.server_version, 0);
	assert_true(c.server_deleted);
	assert_null(c.server_data);
	assert_string_equal(c.client_data, "{\"a\":1}");
	assert_false(c.resolved);
	db_conflict_release(&c);
	assert_int_equal(db_conflict_load(db, u + 1000, id, &c), DB_NOTFOUND);
	v = put(db, u, "c", "live", "{\"s\":2}");
	n.id = "live";
	n.data = NULL;
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_conflict_add(db, u, &n, &id, &created), DB_OK);
	assert_true(created);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(db_conflict_get(db, u, id, &j), DB_OK);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
	    "server"), "version")), v);
	assert_true(json_is_true(json_object_get(json_object_get(j, "client"),
	    "deleted")));
	json_decref(j);
	assert_int_equal(db_conflicts_open_count(db, u, &nopen), DB_OK);
	assert_int_equal(nopen, 3);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_conflict_mark_resolved(db, u, id, "server", "dev",
	    9, v), DB_OK);
	assert_int_equal(db_conflict_mark_resolved(db, u, id, "server", "dev",
	    9, v), DB_NOTFOUND);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(db_conflicts_open_count(db, u, &nopen), DB_OK);
	assert_int_equal(nopen, 2);
	assert_int_equal(db_conflicts_list(db, u, DB_CONFLICTS_RESOLVED, NULL,
	    &j), DB_OK);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	assert_int_equal(db_conflicts_list(db, u, DB_CONFLICTS_ALL, "other",
	    &j), DB_OK);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	db_close(db);
}

/* Give a record another version (as if written at another time). */
static void
age(struct db *db, int64_t user_id, const char *id, int64_t version)
{
	sqlite3_stmt	*st;

	st = db_prepare(db, "UPDATE records SET version = ?3 WHERE "
	    "user_id = ?1 AND record_id = ?2");
	sqlite3_bind_int64(st, 1, user_id);
	db_bind_text(st, 2, id);
	sqlite3_bind_int64(st, 3, version);
	assert_int_equal(db_exec(db, st), DB_OK);
}

static void
test_sweep(void **state)
{
	struct db	*db = db_open(path);
	struct db_pull	 pull;
	int64_t		 u, other, now = now_ms(), old, older, cur;
	char		*s;

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	other = user_new(db);
	put(db, u, "t", "keep", "{}");
	put(db, u, "t", "old1", "{\"v\":1}");
	put(db, u, "t", "old1", NULL);
	put(db, u, "t", "old2", NULL);
	put(db, u, "t", "fresh", NULL);
	put(db, other, "t", "x", NULL);
	/* two tombstones of u written 2 and 3 days ago */
	older = (now - 3 * 86400000LL) * 1000;
	old = (now - 2 * 86400000LL) * 1000;
	age(db, u, "old1", older);
	age(db, u, "old2", old);
	assert_int_equal(count(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = ?1 AND record_id = 'old1'", u), 1);
	assert_int_equal(db_sync_sweep(db, now), DB_OK);
	/* purged: the old tombstones and their history; kept: the rest */
	assert_int_equal(count(db, "SELECT count(*) FROM records WHERE "
	    "user_id = ?1", u), 2);
	assert_int_equal(count(db, "SELECT count(*) FROM revisions WHERE "
	    "user_id = ?1 AND record_id = 'old1'", u), 0);
	assert_int_equal(count(db, "SELECT purge_floor FROM users WHERE "
	    "id = ?1", u), old);
	assert_int_equal(count(db, "SELECT purge_floor FROM users WHERE "
	    "id = ?1", other), 0);
	s = collections(db, u);
	assert_non_null(strstr(s, "\"records\":1,\"tombstones\":1"));
	free(s);
	/* a cursor below the floor expires; 0 and the floor itself work */
	assert_int_equal(db_records_pull(db, u, "dev", older, NULL, 10, now,
	    &pull), DB_OK);
	assert_true(pull.expired);
	assert_int_equal(pull.floor, old);
	db_pull_release(&pull);
	assert_int_equal(db_records_pull(db, u, "dev", old, NULL, 10, now,
	    &pull), DB_OK);
	assert_false(pull.expired);
	db_pull_release(&pull);
	assert_int_equal(db_records_pull(db, u, "dev", 0, NULL, 10, now,
	    &pull), DB_OK);
	assert_int_equal(page_size(&pull), 2);
	assert_int_equal(db_sync_cursor(db, u, &cur), DB_OK);
	assert_true(cur >= old);
	/* a second sweep has nothing to do */
	assert_int_equal(db_sync_sweep(db, now), DB_OK);
	assert_int_equal(count(db, "SELECT count(*) FROM records WHERE "
	    "user_id = ?1", u), 2);
	db_close(db);
}

static void
test_sweep_many(void **state)
{
	struct db	*db = db_open(path);
	sqlite3_stmt	*st;
	int64_t		 u, now = now_ms(), base;
	int		 i;

	(void)state;
	assert_non_null(db);
	u = user_new(db);
	base = (now - 5 * 86400000LL) * 1000;
	/* 2,500 old tombstones: more than one pass of the sweep */
	assert_int_equal(db_begin(db), DB_OK);
	for (i = 0; i < 2500; i++) {
		char id[16];
		snprintf(id, sizeof(id), "t%d", i);
		st = db_prepare(db, "INSERT INTO records (user_id, collection, "
		    "record_id, version, data, deleted, modified_at, device_id, "
		    "checksum) VALUES (?1, 'm', ?2, ?3, NULL, 1, 0, 'd', 'x')");
		sqlite3_bind_int64(st, 1, u);
		db_bind_text(st, 2, id);
		sqlite3_bind_int64(st, 3, base + i);
		assert_int_equal(db_exec(db, st), DB_OK);
	}
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(db_sync_sweep(db, now), DB_OK);
	assert_int_equal(count(db, "SELECT count(*) FROM records WHERE "
	    "user_id = ?1", u), 0);
	assert_int_equal(count(db, "SELECT purge_floor FROM users WHERE "
	    "id = ?1", u), base + 2499);
	db_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_is_bounded),
		cmocka_unit_test(test_collection_counts),
		cmocka_unit_test(test_pull_pages),
		cmocka_unit_test(test_pull_text),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_sweep_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
