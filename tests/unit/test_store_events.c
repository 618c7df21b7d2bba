/*
 * Unit tests of the events log on a temporary database: the per-user
 * seq, the doorbells an append rings, a page with its filters and the
 * head, floor and device liveness of the same statement, pruning with
 * the floor it raises per user (the store's batches and the sweeper's
 * operation), the floor a page reports when the bookkeeping and the
 * events kept disagree, and the poll operation's cursor and 410.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "events_rules.h"
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-events.XXXXXX";
static struct db *db;
static struct resp last;

/* A new database with users 1 and 2 and devices d1, d2 of user 1. */
static void
fresh(const char *name)
{
	db_close(db);
	db = unit_db_fresh(dir, name);
	unit_user(db, 1);
	unit_user(db, 2);
	unit_device(db, 1, "d1", 1);
	unit_device(db, 1, "d2", 1);
}

struct append {
	int64_t		 user;
	const char	*device;
	const char	*session;
	int64_t		 seq;
	int		 nring;
};

static int
append_tx(struct db *d, void *arg)
{
	struct append	*a = arg;
	int		 rc;

	rc = event_append(d, a->user, a->device, "app.t", a->session,
	    json_pack("{s:s}", "k", "v"), &a->seq);
	a->nring = d->tx.nring;
	return rc;
}

/* Append one event for user by device in session; check its seq. */
static void
add(int64_t user, const char *device, const char *session, int64_t want)
{
	struct append	 a = { user, device, session, 0, 0 };

	assert_int_equal(db_tx(db, append_tx, &a), DB_OK);
	assert_int_equal(a.seq, want);
}

/* One page as the store reads it. */
struct page {
	struct event_head h;
	int64_t		 seqs[32];
	int		 n;
};

static int
page_add(void *arg, const struct event_row *e)
{
	struct page	*p = arg;

	if (p->n < 32)
		p->seqs[p->n] = e->seq;
	p->n++;
	return DB_OK;
}

static int
page(struct event_query *q, struct page *p)
{
	memset(p, 0, sizeof(*p));
	if (q->limit == 0)
		q->limit = 100;
	return db_events_page(db, q, &p->h, page_add, p);
}

/* The page of user after `after` with no filter. */
static void
list(int64_t user, int64_t after, struct page *p)
{
	struct event_query q;

	memset(&q, 0, sizeof(q));
	q.user_id = user;
	q.after = after;
	assert_int_equal(page(&q, p), DB_OK);
}

/* The floor a poll works with. */
static int64_t
floor_of(const struct page *p)
{
	return events_floor(p->h.head, p->h.floor, p->h.min_kept);
}

/* GET /events?query for user 1 by d1. */
static int
poll_status(const char *query)
{
	struct unit_req	 u = { 1, "d1", NULL, NULL, query, NULL };

	resp_free(&last);
	return unit_call(handle_events_poll, &u, &last);
}

static int64_t
poll_cursor(void)
{
	return json_integer_value(json_object_get(last.body, "cursor"));
}

static size_t
poll_events(void)
{
	return json_array_size(json_object_get(last.body, "events"));
}

static int
setup(void **state)
{
	(void)state;
	if (unit_setup(dir) == -1)
		return -1;
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

/* Seqs count per user from 1; the head moves, the floor stays 0. */
static void
test_seq_per_user(void **state)
{
	struct event_head h;
	struct event_row e;
	struct page	 p;

	(void)state;
	fresh("seq.db");
	add(1, "d1", NULL, 1);
	add(1, "d1", NULL, 2);
	add(2, NULL, NULL, 1);
	list(1, 0, &p);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.seqs[0], 1);
	assert_int_equal(p.seqs[1], 2);
	assert_int_equal(p.h.head, 2);
	assert_int_equal(p.h.floor, 0);
	assert_int_equal(p.h.min_kept, 1);
	assert_int_equal(floor_of(&p), 0);
	assert_int_equal(events_cursor(p.h.head, 0, p.seqs[1]), 2);
	assert_int_equal(db_events_head(db, 2, &h), DB_OK);
	assert_int_equal(h.head, 1);
	assert_int_equal(h.floor, 0);
	assert_int_equal(db_events_head(db, 3, &h), DB_NOTFOUND);
	/* an event as stored: its data, its device, the server's none */
	assert_int_equal(db_event_get(db, 1, 2, &e), DB_OK);
	assert_string_equal(e.type, "app.t");
	assert_string_equal(e.device_id, "d1");
	assert_string_equal(e.data, "{\"k\":\"v\"}");
	event_row_release(&e);
	assert_int_equal(db_event_get(db, 2, 1, &e), DB_OK);
	assert_string_equal(e.device_id, "");
	event_row_release(&e);
	assert_int_equal(db_event_get(db, 2, 2, &e), DB_NOTFOUND);
	/* the poll: its events and its cursor; without after, the head */
	assert_int_equal(poll_status("after=0&timeout=0"), 200);
	assert_int_equal(poll_events(), 2);
	assert_int_equal(poll_cursor(), 2);
	assert_int_equal(poll_status("after=1&timeout=0&limit=1"), 200);
	assert_int_equal(poll_events(), 1);
	assert_int_equal(poll_cursor(), 2);
	assert_int_equal(poll_status("timeout=0"), 200);
	assert_int_equal(poll_events(), 0);
	assert_int_equal(poll_cursor(), 2);
	/* past the head: nothing, and the head as the cursor */
	assert_int_equal(poll_status("after=50&timeout=0"), 200);
	assert_int_equal(poll_events(), 0);
	assert_int_equal(poll_cursor(), 2);
}

/* An append rings its user once the transaction commits, once a user. */
static void
test_event_append_rings(void **state)
{
	struct append	 a = { 1, "d1", "s1", 0, 0 };
	struct event_new e;
	int64_t		 seq = 0;

	(void)state;
	fresh("ring.db");
	assert_int_equal(db_tx(db, append_tx, &a), DB_OK);
	assert_int_equal(a.nring, 1);
	assert_int_equal(db_tx(db, append_tx, &a), DB_OK);
	assert_int_equal(a.seq, 2);
	assert_int_equal(a.nring, 1);
	assert_int_equal(db->tx.nring, 0);
	/* an unknown user: nothing appended */
	a.user = 99;
	assert_int_equal(db_tx(db, append_tx, &a), DB_ERROR);
	memset(&e, 0, sizeof(e));
	e.type = "app.z";
	e.at = 1;
	assert_int_equal(db_event_insert(db, 99, &e, &seq), DB_NOTFOUND);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "user_id = 99"), 0);
}

/*
 * A page: the device's own events left out, only one session's, a limit
 * (and one more row read to learn there is more), and the head, floor
 * and liveness of the polling device from the same statement.
 */
static void
test_events_page(void **state)
{
	struct event_query q;
	struct page	 p;

	(void)state;
	fresh("page.db");
	add(1, "d1", "s1", 1);
	add(1, "d2", "s1", 2);
	add(1, NULL, "s2", 3);
	add(1, "d1", "s2", 4);
	add(1, "d2", NULL, 5);
	add(2, "d1", "s1", 1);	/* another user's "d1" */
	memset(&q, 0, sizeof(q));
	q.user_id = 1;
	q.exclude_device = "d1";
	assert_int_equal(page(&q, &p), DB_OK);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.seqs[0], 2);
	assert_int_equal(p.seqs[1], 3);	/* the server's are kept */
	assert_int_equal(p.seqs[2], 5);
	memset(&q, 0, sizeof(q));
	q.user_id = 1;
	q.session_id = "s1";
	assert_int_equal(page(&q, &p), DB_OK);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.seqs[1], 2);
	q.exclude_device = "d2";
	q.after = 0;
	assert_int_equal(page(&q, &p), DB_OK);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.seqs[0], 1);
	memset(&q, 0, sizeof(q));
	q.user_id = 1;
	q.after = 1;
	q.limit = 2;
	assert_int_equal(page(&q, &p), DB_OK);
	assert_int_equal(p.n, 3);	/* limit + 1 */
	assert_int_equal(p.seqs[0], 2);
	assert_int_equal(p.h.head, 5);
	/* nothing after: the head all the same */
	q.after = 5;
	assert_int_equal(page(&q, &p), DB_OK);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.h.head, 5);
	assert_int_equal(p.h.min_kept, 1);
	/* the polling device: active in its login family */
	q.device_id = "d1";
	q.family = "fam-d1";
	assert_int_equal(page(&q, &p), DB_OK);
	assert_true(p.h.device_active);
	q.family = "fam-d2";	/* logged in again since */
	assert_int_equal(page(&q, &p), DB_OK);
	assert_false(p.h.device_active);
	assert_int_equal(p.h.head, 5);
	q.device_id = "d9";	/* no such device */
	assert_int_equal(page(&q, &p), DB_OK);
	assert_false(p.h.device_active);
	unit_exec(db, "UPDATE devices SET revoked_at = 7 WHERE id = 'd2'");
	q.device_id = "d2";
	q.family = "fam-d2";
	assert_int_equal(page(&q, &p), DB_OK);
	assert_false(p.h.device_active);
	q.device_id = NULL;	/* no device to check */
	assert_int_equal(page(&q, &p), DB_OK);
	assert_true(p.h.device_active);
	/* no such user */
	q.user_id = 3;
	assert_int_equal(page(&q, &p), DB_NOTFOUND);
}

/*
 * The sweeper deletes what is older than the cut and raises each user's
 * floor to the newest seq it deleted, per user.
 */
static void
test_prune_raises_floor(void **state)
{
	struct event_head h;
	struct page	 p;
	int64_t		 saved = cfg.event_days;

	(void)state;
	fresh("prune.db");
	add(1, "d1", NULL, 1);
	add(1, "d1", NULL, 2);
	add(2, "d1", NULL, 1);
	add(1, "d1", NULL, 3);
	unit_exec(db, "UPDATE events SET at = 100 WHERE user_id = 1 AND "
	    "seq < 3");
	unit_exec(db, "UPDATE events SET at = 100 WHERE user_id = 2");
	cfg.event_days = 0;
	assert_int_equal(events_sweep(db, 101), DB_OK);
	list(1, 2, &p);
	assert_int_equal(p.h.floor, 2);
	assert_int_equal(floor_of(&p), 2);
	assert_int_equal(p.seqs[0], 3);
	assert_int_equal(db_events_head(db, 2, &h), DB_OK);
	assert_int_equal(h.head, 1);
	assert_int_equal(h.floor, 1);
	/* nothing old left: a second sweep changes nothing */
	assert_int_equal(events_sweep(db, 101), DB_OK);
	assert_int_equal(db_events_head(db, 1, &h), DB_OK);
	assert_int_equal(h.floor, 2);
	assert_true(sqlite3_get_autocommit(SQ(db)->conn));
	/* a cursor below the floor is refused by the poll */
	assert_int_equal(poll_status("after=1&timeout=0"), 410);
	assert_string_equal(unit_code(&last), "CURSOR_EXPIRED");
	assert_int_equal(poll_status("after=2&timeout=0"), 200);
	assert_int_equal(poll_events(), 1);
	cfg.event_days = saved;
}

struct prune {
	int64_t	 before;
	int64_t	 batch;
	int	 done;
};

static int
prune_tx(struct db *d, void *arg)
{
	struct prune	*p = arg;

	return db_events_prune(d, p->before, p->batch, &p->done);
}

/*
 * The store prunes in batches of about `batch`, the oldest first, and
 * each batch leaves every user's floor at the newest seq it deleted, so
 * every event above a floor is still kept.
 */
static void
test_prune_batches(void **state)
{
	struct prune	 pr = { 1000, 2, 0 };
	struct page	 p;
	int64_t		 at, oldest;
	int		 i, rounds;

	(void)state;
	fresh("batches.db");
	for (i = 1; i <= 4; i++) {
		add(1, "d1", NULL, i);
		add(2, NULL, NULL, i);
	}
	/* user 1's at 10, 20, 30, 40; user 2's at 15, 25, 35, 2000 */
	unit_exec(db, "UPDATE events SET at = seq * 10 WHERE user_id = 1");
	unit_exec(db, "UPDATE events SET at = seq * 10 + 5 WHERE "
	    "user_id = 2");
	unit_exec(db, "UPDATE events SET at = 2000 WHERE user_id = 2 AND "
	    "seq = 4");
	assert_int_equal(db_events_oldest(db, &oldest), DB_OK);
	assert_int_equal(oldest, 10);
	/* the first batch: the two oldest (10, 15) */
	assert_int_equal(db_tx(db, prune_tx, &pr), DB_OK);
	assert_false(pr.done);
	list(1, 0, &p);
	assert_int_equal(p.h.floor, 1);
	assert_int_equal(p.seqs[0], 2);
	list(2, 0, &p);
	assert_int_equal(p.h.floor, 1);
	assert_int_equal(p.seqs[0], 2);
	for (rounds = 0; !pr.done && rounds < 10; rounds++)
		assert_int_equal(db_tx(db, prune_tx, &pr), DB_OK);
	assert_true(pr.done);
	list(1, 0, &p);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.h.floor, 4);
	assert_int_equal(floor_of(&p), 4);
	list(2, 0, &p);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.seqs[0], 4);
	assert_int_equal(p.h.floor, 3);
	assert_int_equal(floor_of(&p), 3);
	assert_int_equal(db_events_oldest(db, &at), DB_OK);
	assert_int_equal(at, 2000);
	/* nothing older: done at once, nothing changes */
	assert_int_equal(db_tx(db, prune_tx, &pr), DB_OK);
	assert_true(pr.done);
	list(2, 0, &p);
	assert_int_equal(p.h.floor, 3);
	/* an empty log */
	unit_exec(db, "DELETE FROM events");
	assert_int_equal(db_events_oldest(db, &at), DB_OK);
	assert_int_equal(at, 0);
	assert_int_equal(events_sweep(db, 5000), DB_OK);
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
	struct event_head h;
	struct page	 p;

	(void)state;
	fresh("kept.db");
	add(1, "d1", NULL, 1);
	add(1, "d1", NULL, 2);
	add(1, "d1", NULL, 3);
	unit_exec(db, "DELETE FROM events WHERE user_id = 1 AND seq = 1");
	list(1, 0, &p);
	assert_int_equal(floor_of(&p), 1);
	assert_int_equal(db_events_head(db, 1, &h), DB_OK);
	assert_int_equal(events_floor(h.head, h.floor, h.min_kept), 1);
	assert_int_equal(poll_status("after=0&timeout=0"), 410);
	assert_int_equal(poll_status("after=1&timeout=0"), 200);
	/* everything gone but the head says 3: the floor is the head */
	unit_exec(db, "DELETE FROM events WHERE user_id = 1");
	list(1, 0, &p);
	assert_int_equal(floor_of(&p), 3);
	assert_int_equal(p.n, 0);
	/* the stored floor still counts when it is the higher one */
	unit_exec(db, "UPDATE users SET event_floor = 3 WHERE id = 1");
	add(1, "d1", NULL, 4);
	list(1, 3, &p);
	assert_int_equal(floor_of(&p), 3);
	assert_int_equal(p.seqs[0], 4);
	/* a user without events: floor 0 */
	assert_int_equal(db_events_head(db, 2, &h), DB_OK);
	assert_int_equal(events_floor(h.head, h.floor, h.min_kept), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_per_user),
		cmocka_unit_test(test_event_append_rings),
		cmocka_unit_test(test_events_page),
		cmocka_unit_test(test_prune_raises_floor),
		cmocka_unit_test(test_prune_batches),
		cmocka_unit_test(test_floor_follows_kept),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
