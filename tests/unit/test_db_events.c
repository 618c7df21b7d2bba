/*
 * Unit tests of lib/db_events: the per-user seq, pruning with its floor,
 * and the floor a page reports when the bookkeeping and the events kept
 * disagree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "db_events.h"
#include "log.h"
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-events.XXXXXX";
static char path[128];

static struct db *
fresh(const char *name)
{
	struct db	*db;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(db_migrate(path), 0);
	assert_non_null(db = db_open(path));
	unit_exec(db, "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES (1, 'u1', 'a@x', 'h', 0), "
	    "(2, 'u2', 'b@x', 'h', 0)");
	return db;
}

static void
add(struct db *db, int64_t user, int64_t want_seq)
{
	int64_t	 seq = 0;

	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_event_add(db, user, "d1", "app.t", NULL,
	    json_object(), &seq), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(seq, want_seq);
}

/* One page after `after` for user; fills page (events decref'd here). */
static void
list(struct db *db, int64_t user, int64_t after, struct event_page *page)
{
	struct event_query q;

	memset(&q, 0, sizeof(q));
	q.user_id = user;
	q.after = after;
	q.limit = 100;
	assert_int_equal(db_events_list(db, &q, page), DB_OK);
	assert_non_null(page->events);
}

static int64_t
first_seq(const struct event_page *page)
{
	json_t	*e = json_array_get(page->events, 0);

	return e ? json_integer_value(json_object_get(e, "seq")) : 0;
}

/* Seqs count per user from 1; the head moves, the floor stays 0. */
static void
test_seq_per_user(void **state)
{
	struct event_page page;
	struct db	*db = fresh("seq.db");
	int64_t		 head, floor;

	(void)state;
	add(db, 1, 1);
	add(db, 1, 2);
	add(db, 2, 1);
	list(db, 1, 0, &page);
	assert_int_equal(json_array_size(page.events), 2);
	assert_int_equal(page.head, 2);
	assert_int_equal(page.floor, 0);
	assert_int_equal(page.cursor, 2);
	json_decref(page.events);
	assert_int_equal(db_events_head(db, 2, &head, &floor), DB_OK);
	assert_int_equal(head, 1);
	assert_int_equal(floor, 0);
	assert_int_equal(db_events_head(db, 3, &head, &floor), DB_NOTFOUND);
	db_close(db);
}

/*
 * The sweeper deletes what is older than the cut and raises each user's
 * floor to the newest seq it deleted, per user.
 */
static void
test_prune_raises_floor(void **state)
{
	struct event_page page;
	struct db	*db = fresh("prune.db");
	int64_t		 head, floor;

	(void)state;
	add(db, 1, 1);
	add(db, 1, 2);
	add(db, 2, 1);
	add(db, 1, 3);
	unit_exec(db, "UPDATE events SET at = 100 WHERE user_id = 1 AND seq < 3");
	unit_exec(db, "UPDATE events SET at = 100 WHERE user_id = 2");
	cfg.event_days = 0;
	assert_int_equal(db_events_sweep(db, 101), DB_OK);
	list(db, 1, 2, &page);
	assert_int_equal(page.floor, 2);
	assert_int_equal(first_seq(&page), 3);
	json_decref(page.events);
	assert_int_equal(db_events_head(db, 2, &head, &floor), DB_OK);
	assert_int_equal(head, 1);
	assert_int_equal(floor, 1);
	/* nothing old left: a second sweep changes nothing */
	assert_int_equal(db_events_sweep(db, 101), DB_OK);
	assert_int_equal(db_events_head(db, 1, &head, &floor), DB_OK);
	assert_int_equal(floor, 2);
	assert_true(sqlite3_get_autocommit(db->conn));
	db_close(db);
}

/*
 * An event missing below the stored floor (the bookkeeping failed, or a
 * database restored from elsewhere): the page reports the floor of what
 * is really kept, so a cursor below it is refused, never served a page
 * that skips the missing event.
 */
static void
test_floor_follows_kept(void **state)
{
	struct event_page page;
	struct db	*db = fresh("kept.db");
	int64_t		 head, floor;

	(void)state;
	add(db, 1, 1);
	add(db, 1, 2);
	add(db, 1, 3);
	unit_exec(db, "DELETE FROM events WHERE user_id = 1 AND seq = 1");
	list(db, 1, 0, &page);
	assert_int_equal(page.floor, 1);
	json_decref(page.events);
	assert_int_equal(db_events_head(db, 1, &head, &floor), DB_OK);
	assert_int_equal(floor, 1);
	/* everything gone but the head says 3: the floor is the head */
	unit_exec(db, "DELETE FROM events WHERE user_id = 1");
	list(db, 1, 0, &page);
	assert_int_equal(page.floor, 3);
	assert_int_equal(json_array_size(page.events), 0);
	json_decref(page.events);
	/* the stored floor still counts when it is the higher one */
	unit_exec(db, "UPDATE users SET event_floor = 3 WHERE id = 1");
	add(db, 1, 4);
	list(db, 1, 3, &page);
	assert_int_equal(page.floor, 3);
	assert_int_equal(first_seq(&page), 4);
	json_decref(page.events);
	/* a user without events: floor 0 */
	assert_int_equal(db_events_head(db, 2, &head, &floor), DB_OK);
	assert_int_equal(floor, 0);
	db_close(db);
}

static int
setup(void **state)
{
	(void)state;
	return unit_dir_make(dir);
}

static int
teardown(void **state)
{
	(void)state;
	return unit_dir_remove(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_per_user),
		cmocka_unit_test(test_prune_raises_floor),
		cmocka_unit_test(test_floor_follows_kept),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
