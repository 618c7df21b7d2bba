/*
 * Unit tests of the links store on a temporary database: a link stored
 * and read back by id and by code (its secret's hash only), a clash of
 * id or code refused, a status moved only from the status it had (of
 * two hand-outs racing, one wins), the wrong codes of a user newest
 * first and bounded, and the sweeper's side (links kept past their
 * expiry, then deleted; wrong codes older than the window forgotten;
 * nothing to do costs no write).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "links_rules.h"
#include "unit_db.h"

#define NOW	1700000000000LL

static char dir[] = "/tmp/tandem-unit-dblinks.XXXXXX";
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

/* A pending link id, code, secret hash of byte b, expiring at exp. */
static struct link_row
link_of(const char *id, const char *code, int b, int64_t exp)
{
	struct link_row l;

	memset(&l, 0, sizeof(l));
	snprintf(l.id, sizeof(l.id), "%s", id);
	snprintf(l.code, sizeof(l.code), "%s", code);
	memset(l.secret_hash, b, sizeof(l.secret_hash));
	snprintf(l.device_id, sizeof(l.device_id), "term");
	snprintf(l.platform, sizeof(l.platform), "cli");
	snprintf(l.name, sizeof(l.name), "Terminal");
	l.status = LINK_PENDING;
	l.created_at = exp - 300000;
	l.expires_at = exp;
	return l;
}

static void
test_link_rows(void **state)
{
	struct link_row	 l = link_of("l_1", "ABCD1234", 7, NOW), got, dup;

	(void)state;
	fresh("rows.db");
	unit_user(db, 1);
	assert_int_equal(db_link_insert(db, &l), DB_OK);
	assert_int_equal(db_link_get(db, "l_1", &got), DB_OK);
	assert_string_equal(got.code, "ABCD1234");
	assert_memory_equal(got.secret_hash, l.secret_hash, 32);
	assert_string_equal(got.device_id, "term");
	assert_string_equal(got.platform, "cli");
	assert_string_equal(got.name, "Terminal");
	assert_int_equal(got.status, LINK_PENDING);
	assert_int_equal(got.user_id, 0);
	assert_int_equal(got.expires_at, NOW);
	assert_int_equal(got.decided_at, 0);
	assert_int_equal(db_link_get_by_code(db, "ABCD1234", &got), DB_OK);
	assert_string_equal(got.id, "l_1");
	assert_int_equal(db_link_get(db, "l_2", &got), DB_NOTFOUND);
	assert_int_equal(db_link_get_by_code(db, "ABCD1235", &got),
	    DB_NOTFOUND);
	/* an id or a code taken already */
	dup = link_of("l_1", "ZZZZ9999", 1, NOW);
	assert_int_equal(db_link_insert(db, &dup), DB_CONSTRAINT);
	dup = link_of("l_2", "ABCD1234", 1, NOW);
	assert_int_equal(db_link_insert(db, &dup), DB_CONSTRAINT);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM links"), 1);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM links WHERE "
	    "status = 'pending' AND user_id IS NULL"), 1);
}

static void
test_link_status(void **state)
{
	struct link_row	 l = link_of("l_1", "ABCD1234", 7, NOW), got;

	(void)state;
	fresh("status.db");
	unit_user(db, 1);
	assert_int_equal(db_link_insert(db, &l), DB_OK);
	/* only from the status it has */
	assert_int_equal(db_link_status_set(db, "l_1", LINK_APPROVED,
	    LINK_HANDED_OUT, 0, NOW), DB_NOTFOUND);
	assert_int_equal(db_link_status_set(db, "l_1", LINK_PENDING,
	    LINK_APPROVED, 1, NOW - 5), DB_OK);
	assert_int_equal(db_link_get(db, "l_1", &got), DB_OK);
	assert_int_equal(got.status, LINK_APPROVED);
	assert_int_equal(got.user_id, 1);
	assert_int_equal(got.decided_at, NOW - 5);
	/* decided once: a deny racing the approval changes nothing */
	assert_int_equal(db_link_status_set(db, "l_1", LINK_PENDING,
	    LINK_DENIED, 0, NOW), DB_NOTFOUND);
	/* handed out once; the user stays when none is given */
	assert_int_equal(db_link_status_set(db, "l_1", LINK_APPROVED,
	    LINK_HANDED_OUT, 0, NOW), DB_OK);
	assert_int_equal(db_link_status_set(db, "l_1", LINK_APPROVED,
	    LINK_HANDED_OUT, 0, NOW), DB_NOTFOUND);
	assert_int_equal(db_link_get(db, "l_1", &got), DB_OK);
	assert_int_equal(got.status, LINK_HANDED_OUT);
	assert_int_equal(got.user_id, 1);
	assert_int_equal(db_link_status_set(db, "l_9", LINK_PENDING,
	    LINK_DENIED, 0, NOW), DB_NOTFOUND);
}

static void
test_link_misses(void **state)
{
	int64_t	 at[LINK_MISS_MAX];
	size_t	 n, i;

	(void)state;
	fresh("misses.db");
	unit_user(db, 1);
	unit_user(db, 2);
	assert_int_equal(db_link_misses_recent(db, 1, 0, at, LINK_MISS_MAX,
	    &n), DB_OK);
	assert_int_equal(n, 0);
	for (i = 0; i < 7; i++)
		assert_int_equal(db_link_miss_insert(db, 1,
		    NOW - 1000 * (int64_t)i), DB_OK);
	assert_int_equal(db_link_miss_insert(db, 2, NOW + 1), DB_OK);
	/* newest first, at most max, the user's only */
	assert_int_equal(db_link_misses_recent(db, 1, 0, at, LINK_MISS_MAX,
	    &n), DB_OK);
	assert_int_equal(n, LINK_MISS_MAX);
	for (i = 0; i < n; i++)
		assert_int_equal(at[i], NOW - 1000 * (int64_t)i);
	/* since bounds them */
	assert_int_equal(db_link_misses_recent(db, 1, NOW - 1500, at,
	    LINK_MISS_MAX, &n), DB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(db_link_misses_recent(db, 2, 0, at, LINK_MISS_MAX,
	    &n), DB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(at[0], NOW + 1);
	/* pruned by age */
	assert_int_equal(db_link_misses_prune(db, NOW - 2500), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM link_misses"), 4);
}

static void
test_sweep(void **state)
{
	struct link_row	 a = link_of("l_old", "AAAA0000", 1, NOW - 3 * 3600000);
	struct link_row	 b = link_of("l_late", "BBBB0000", 2, NOW - 60000);
	struct link_row	 c = link_of("l_live", "CCCC0000", 3, NOW + 60000);
	int		 due;

	(void)state;
	fresh("sweep.db");
	unit_user(db, 1);
	/* nothing to do: no write */
	assert_int_equal(db_links_due(db, NOW, NOW, &due), DB_OK);
	assert_int_equal(due, 0);
	assert_int_equal(links_sweep(db, NOW), DB_OK);
	assert_int_equal(db_link_insert(db, &a), DB_OK);
	assert_int_equal(db_link_insert(db, &b), DB_OK);
	assert_int_equal(db_link_insert(db, &c), DB_OK);
	assert_int_equal(db_link_miss_insert(db, 1, NOW - 11 * 60000), DB_OK);
	assert_int_equal(db_link_miss_insert(db, 1, NOW - 60000), DB_OK);
	assert_int_equal(db_links_due(db, NOW - 3600000, 0, &due), DB_OK);
	assert_int_equal(due, 1);
	assert_int_equal(db_links_due(db, 0, NOW - LINK_MISS_WINDOW_MS, &due),
	    DB_OK);
	assert_int_equal(due, 1);
	/* an hour past expiry: deleted; expired since less: kept */
	assert_int_equal(links_sweep(db, NOW), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM links WHERE "
	    "id = 'l_old'"), 0);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM links"), 2);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM link_misses"), 1);
	assert_int_equal(db_links_due(db, NOW - 3600000,
	    NOW - LINK_MISS_WINDOW_MS, &due), DB_OK);
	assert_int_equal(due, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_rows),
		cmocka_unit_test(test_link_status),
		cmocka_unit_test(test_link_misses),
		cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
