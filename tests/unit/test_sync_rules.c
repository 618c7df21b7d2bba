/*
 * Unit tests for lib/sync_rules: the push decision under every strategy,
 * the last-writer-wins clock, checksums over canonical text, quotas,
 * and a pull's cursor against the purge floor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jcs.h"
#include "sync_rules.h"

#define SUM_A	"sha256:aaaa"
#define SUM_B	"sha256:bbbb"
#define NOW	1700000000000LL		/* ms */

static struct sync_stored
stored(int exists, int deleted, int64_t version, int64_t modified_at,
    const char *sum)
{
	struct sync_stored s;

	s.exists = exists;
	s.deleted = deleted;
	s.version = version;
	s.modified_at = modified_at;
	s.checksum = sum;
	return s;
}

static struct sync_change
change(int deleted, int64_t base, int64_t modified_at, const char *sum)
{
	struct sync_change c;

	c.deleted = deleted;
	c.base_version = base;
	c.modified_at = modified_at;
	c.checksum = sum;
	return c;
}

/* A stored live record at version V written at NOW - 1 s. */
#define V	((NOW - 1000) * 1000)

static void
test_unchanged(void **state)
{
	struct sync_stored s = stored(1, 0, V, NOW - 1000, SUM_A);
	struct sync_stored d = stored(1, 1, V, NOW - 1000, SUM_B);
	struct sync_stored none = stored(0, 0, 0, 0, NULL);
	struct sync_change same = change(0, 12345, NOW, SUM_A);
	struct sync_change del = change(1, 7, NOW, SUM_B);
	int	 st;

	(void)state;
	for (st = 0; st < SYNC_STRATEGY__MAX; st++) {
		/* equal data is unchanged whatever the base */
		assert_int_equal(sync_decide(&s, &same, st, NOW),
		    SYNC_ACT_UNCHANGED);
		/* deleting a deleted or absent record is unchanged */
		assert_int_equal(sync_decide(&d, &del, st, NOW),
		    SYNC_ACT_UNCHANGED);
		assert_int_equal(sync_decide(&none, &del, st, NOW),
		    SYNC_ACT_UNCHANGED);
	}
}

static void
test_apply(void **state)
{
	struct sync_stored s = stored(1, 0, V, NOW - 1000, SUM_A);
	struct sync_stored d = stored(1, 1, V, NOW - 1000, SUM_B);
	struct sync_stored none = stored(0, 0, 0, 0, NULL);
	struct sync_change edit = change(0, V, NOW, SUM_B);
	struct sync_change del = change(1, V, NOW, SUM_B);
	struct sync_change fresh = change(0, 0, NOW, SUM_B);
	int	 st;

	(void)state;
	for (st = 0; st < SYNC_STRATEGY__MAX; st++) {
		assert_int_equal(sync_decide(&s, &edit, st, NOW),
		    SYNC_ACT_APPLY);
		assert_int_equal(sync_decide(&s, &del, st, NOW),
		    SYNC_ACT_APPLY);
		/* base 0: a new record, or a re-create over a tombstone */
		assert_int_equal(sync_decide(&none, &fresh, st, NOW),
		    SYNC_ACT_APPLY);
		assert_int_equal(sync_decide(&d, &fresh, st, NOW),
		    SYNC_ACT_APPLY);
		/* base = the tombstone's version also re-creates */
		assert_int_equal(sync_decide(&d, &edit, st, NOW),
		    SYNC_ACT_APPLY);
	}
}

static void
test_conflict_by_strategy(void **state)
{
	struct sync_stored s = stored(1, 0, V, NOW - 1000, SUM_A);
	struct sync_change stale = change(0, V - 5, NOW, SUM_B);
	struct sync_change fresh_on_live = change(0, 0, NOW, SUM_B);

	(void)state;
	assert_int_equal(sync_decide(&s, &stale, SYNC_MANUAL, NOW),
	    SYNC_ACT_CONFLICT);
	assert_int_equal(sync_decide(&s, &stale, SYNC_SERVER_WINS, NOW),
	    SYNC_ACT_REJECT);
	assert_int_equal(sync_decide(&s, &stale, SYNC_CLIENT_WINS, NOW),
	    SYNC_ACT_APPLY);
	assert_int_equal(sync_decide(&s, &stale, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
	assert_int_equal(sync_decide(&s, &stale, SYNC_MERGE, NOW),
	    SYNC_ACT_MERGE);
	/* base 0 against a live record: a conflict, and no merge base */
	assert_int_equal(sync_decide(&s, &fresh_on_live, SYNC_MANUAL, NOW),
	    SYNC_ACT_CONFLICT);
	assert_int_equal(sync_decide(&s, &fresh_on_live, SYNC_MERGE, NOW),
	    SYNC_ACT_CONFLICT);
}

static void
test_merge_falls_back(void **state)
{
	struct sync_stored live = stored(1, 0, V, NOW - 1000, SUM_A);
	struct sync_stored dead = stored(1, 1, V, NOW - 1000, SUM_A);
	struct sync_stored none = stored(0, 0, 0, 0, NULL);
	struct sync_change del = change(1, V - 5, NOW, SUM_B);
	struct sync_change edit = change(0, V - 5, NOW, SUM_B);

	(void)state;
	/* a delete on either side, or no record at all: manual */
	assert_int_equal(sync_decide(&live, &del, SYNC_MERGE, NOW),
	    SYNC_ACT_CONFLICT);
	assert_int_equal(sync_decide(&dead, &edit, SYNC_MERGE, NOW),
	    SYNC_ACT_CONFLICT);
	assert_int_equal(sync_decide(&none, &edit, SYNC_MERGE, NOW),
	    SYNC_ACT_CONFLICT);
	/* and manual keeps delete-versus-edit a conflict too */
	assert_int_equal(sync_decide(&live, &del, SYNC_MANUAL, NOW),
	    SYNC_ACT_CONFLICT);
	assert_int_equal(sync_decide(&dead, &edit, SYNC_MANUAL, NOW),
	    SYNC_ACT_CONFLICT);
	assert_int_equal(sync_decide(&dead, &edit, SYNC_SERVER_WINS, NOW),
	    SYNC_ACT_REJECT);
	assert_int_equal(sync_decide(&live, &del, SYNC_CLIENT_WINS, NOW),
	    SYNC_ACT_APPLY);
}

static void
test_lww(void **state)
{
	struct sync_stored s = stored(1, 0, V, NOW - 1000, SUM_A);
	struct sync_stored future = stored(1, 0, V, NOW + 86400000LL, SUM_A);
	struct sync_stored none = stored(0, 0, 0, 0, NULL);
	struct sync_change older = change(0, 1, NOW - 2000, SUM_B);
	struct sync_change tie = change(0, 1, NOW - 1000, SUM_B);
	struct sync_change later = change(0, 1, NOW - 999, SUM_B);
	struct sync_change skewed = change(0, 1, NOW + 300001, SUM_B);
	struct sync_change ahead = change(0, 1, NOW + 300000, SUM_B);
	struct sync_change del_later = change(1, 1, NOW, SUM_B);

	(void)state;
	assert_int_equal(sync_decide(&s, &older, SYNC_LWW, NOW),
	    SYNC_ACT_REJECT);
	/* ties go to the server */
	assert_int_equal(sync_decide(&s, &tie, SYNC_LWW, NOW),
	    SYNC_ACT_REJECT);
	assert_int_equal(sync_decide(&s, &later, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
	/* more than 5 minutes ahead counts as now; exactly 5 is believed */
	assert_int_equal(sync_lww_clock(NOW + 300001, NOW), NOW);
	assert_int_equal(sync_lww_clock(NOW + 300000, NOW), NOW + 300000);
	assert_int_equal(sync_decide(&s, &skewed, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
	assert_int_equal(sync_decide(&s, &ahead, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
	/*
	 * A stored record whose device clock was a day ahead counts as
	 * written at its server time, so it does not win forever.
	 */
	assert_int_equal(sync_decide(&future, &later, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
	assert_int_equal(sync_decide(&future, &older, SYNC_LWW, NOW),
	    SYNC_ACT_REJECT);
	/* a delete can win too; an absent record never beats the client */
	assert_int_equal(sync_decide(&s, &del_later, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
	assert_int_equal(sync_decide(&none, &older, SYNC_LWW, NOW),
	    SYNC_ACT_APPLY);
}

static void
test_checksum(void **state)
{
	static const char *const texts[] = {
		"null", "{}", "{\"b\":[1,2.5,\"x\"],\"a\":{\"z\":null}}",
		"{\"unicode\":\"\\u00e9\\ud83d\\ude00\",\"n\":1e21}", NULL
	};
	char	 a[JCS_SHA256_LEN], b[JCS_SHA256_LEN], *canon;
	json_t	*v;
	int	 i;

	(void)state;
	for (i = 0; texts[i] != NULL; i++) {
		v = json_loads(texts[i], JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		canon = jcs_dump(v);
		assert_non_null(canon);
		assert_int_equal(sync_checksum(canon, strlen(canon), a), 0);
		assert_int_equal(jcs_sha256(v, b), 0);
		assert_string_equal(a, b);
		assert_int_equal(strlen(a), 71);
		free(canon);
		json_decref(v);
	}
	/* SHA-256("null") */
	assert_int_equal(sync_checksum("null", 4, a), 0);
	assert_string_equal(a, "sha256:74234e98afe7498fb5daf1f36ac2d78acc3"
	    "39464f950703b8c019892f982b90b");
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(sync_strategy_names[SYNC_LWW], "lww");
	assert_null(sync_strategy_names[SYNC_STRATEGY__MAX]);
	assert_string_equal(sync_status_names[SYNC_MERGED], "merged");
	assert_string_equal(sync_status_names[SYNC_REJECTED], "rejected");
}

static void
test_quota_check(void **state)
{
	(void)state;
	/* within, and exactly at, each quota */
	assert_int_equal(quota_check(0, 0, 100, 1, 100, 1), QUOTA_OK);
	assert_int_equal(quota_check(90, 4, 10, 1, 100, 5), QUOTA_OK);
	/* past the bytes, past the records; bytes are named first */
	assert_int_equal(quota_check(90, 0, 11, 0, 100, 5), QUOTA_BYTES);
	assert_int_equal(quota_check(0, 5, 0, 1, 100, 5), QUOTA_RECORDS);
	assert_int_equal(quota_check(0, 4, 10, 2, 100, 5), QUOTA_RECORDS);
	assert_int_equal(quota_check(100, 5, 1, 1, 100, 5), QUOTA_BYTES);
	/* 0: no quota of that kind */
	assert_int_equal(quota_check(1LL << 40, 0, 1LL << 40, 0, 0, 5),
	    QUOTA_OK);
	assert_int_equal(quota_check(0, 1000000, 0, 1000, 100, 0), QUOTA_OK);
	assert_int_equal(quota_check(1LL << 40, 1000000, 1, 1, 0, 0),
	    QUOTA_OK);
	/* a write that does not grow usage is never refused, however far
	 * past its quota the account already is (a quota lowered since) */
	assert_int_equal(quota_check(500, 50, 0, 0, 100, 5), QUOTA_OK);
	assert_int_equal(quota_check(500, 50, -10, 0, 100, 5), QUOTA_OK);
	assert_int_equal(quota_check(500, 50, 0, -1, 100, 5), QUOTA_OK);
	/* growing in one dimension only is judged in that one */
	assert_int_equal(quota_check(500, 0, -10, 1, 100, 5), QUOTA_OK);
	assert_int_equal(quota_check(0, 50, 10, 0, 100, 5), QUOTA_OK);
	assert_string_equal(quota_kind_names[QUOTA_BYTES], "bytes");
	assert_string_equal(quota_kind_names[QUOTA_RECORDS], "records");
}

static void
test_pull_expired(void **state)
{
	(void)state;
	/* since 0 is the whole state: never expired */
	assert_false(pull_expired(0, 0));
	assert_false(pull_expired(0, V));
	/* below the purge floor: a deletion may have been missed */
	assert_true(pull_expired(1, V));
	assert_true(pull_expired(V - 1, V));
	/* at or past the floor */
	assert_false(pull_expired(V, V));
	assert_false(pull_expired(V + 1, V));
	assert_false(pull_expired(V, 0));
}

static void
test_pull_cursor(void **state)
{
	(void)state;
	/* a last page below the floor ends at the floor */
	assert_int_equal(pull_cursor(V - 5, 0, V), V);
	/* a page with more to come keeps its last version */
	assert_int_equal(pull_cursor(V - 5, 1, V), V - 5);
	/* at or past the floor: as it is */
	assert_int_equal(pull_cursor(V, 0, V), V);
	assert_int_equal(pull_cursor(V + 5, 0, V), V + 5);
	/* nothing at all from 0: stays 0 */
	assert_int_equal(pull_cursor(0, 0, V), 0);
	assert_int_equal(pull_cursor(0, 0, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_conflict_by_strategy),
		cmocka_unit_test(test_merge_falls_back),
		cmocka_unit_test(test_lww),
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_quota_check),
		cmocka_unit_test(test_pull_expired),
		cmocka_unit_test(test_pull_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
