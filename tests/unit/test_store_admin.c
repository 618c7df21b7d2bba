/*
 * Unit tests of the admin counts on a temporary database: what the
 * status page and /metrics count (store), read in one snapshot by the
 * operation.
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
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-admin.XXXXXX";
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

struct counts_op {
	int64_t			 since;
	struct admin_counts	 c;
	int			 active;
};

static int
counts_read(struct db *d, void *arg)
{
	struct counts_op *o = arg;

	o->active = d->tx.active;
	return db_admin_counts(d, o->since, &o->c);
}

static void
test_counts(void **state)
{
	struct counts_op o;
	struct resp	 resp;
	struct unit_req	 u = { 0, NULL, NULL, NULL, NULL, NULL };
	int64_t		 now = 1000000000;

	(void)state;
	db = unit_db_fresh(dir, "full.db");
	memset(&o, 0, sizeof(o));
	o.since = now - 90000;
	assert_int_equal(db_read(db, counts_read, &o), DB_OK);
	assert_int_equal(o.active, DB_TX_READ);
	assert_int_equal(o.c.users, 0);
	assert_int_equal(o.c.devices_total + o.c.sessions_active +
	    o.c.messages + o.c.records + o.c.conflicts_open, 0);
	assert_true(o.c.db_bytes > 0);

	unit_exec(db, "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES (1, 'u1', 'a@x', 'h', 0), "
	    "(2, 'u2', 'b@x', 'h', 0)");
	/* online, seen long ago, never seen, revoked while recently seen */
	unit_exec(db, "INSERT INTO devices (user_id, id, platform, name, "
	    "created_at, last_seen_at, revoked_at) VALUES "
	    "(1, 'd1', 'p', 'n', 0, 999990000, NULL), "
	    "(1, 'd2', 'p', 'n', 0, 1, NULL), "
	    "(2, 'd1', 'p', 'n', 0, NULL, NULL), "
	    "(2, 'd2', 'p', 'n', 0, 999999000, 5)");
	unit_exec(db, "INSERT INTO sessions (user_id, id, created_at, "
	    "killed_at) VALUES (1, 's1', 0, NULL), (1, 's2', 0, 7), "
	    "(2, 's1', 0, NULL)");
	unit_exec(db, "INSERT INTO messages (user_id, session_id, seq, "
	    "device_id, client_msg_id, hash, body, created_at) VALUES "
	    "(1, 's1', 1, 'd1', 'm1', 'h', '1', 0), "
	    "(1, 's1', 2, 'd1', 'm2', 'h', '2', 0)");
	unit_exec(db, "INSERT INTO records (user_id, collection, record_id, "
	    "version, data, deleted, modified_at, checksum) VALUES "
	    "(1, 'c', 'r1', 1, '{}', 0, 0, 'x'), "
	    "(1, 'c', 'r2', 2, NULL, 1, 0, 'x'), "
	    "(2, 'c', 'r1', 3, '{}', 0, 0, 'x')");
	/* sync keeps these counters with every write; admin reads them */
	unit_exec(db, "INSERT INTO collections (user_id, name, records, "
	    "tombstones, last_version) VALUES (1, 'c', 1, 1, 2), "
	    "(2, 'c', 1, 0, 3)");
	unit_exec(db, "INSERT INTO conflicts (user_id, collection, record_id, "
	    "created_at, base_version, client_deleted, client_modified_at, "
	    "server_version, server_deleted, status) VALUES "
	    "(1, 'c', 'r1', 0, 0, 0, 0, 1, 0, 'open'), "
	    "(1, 'c', 'r1', 0, 0, 0, 0, 1, 0, 'resolved')");

	assert_int_equal(db_read(db, counts_read, &o), DB_OK);
	assert_int_equal(o.c.users, 2);
	assert_int_equal(o.c.devices_total, 3);
	assert_int_equal(o.c.devices_online, 1);
	assert_int_equal(o.c.sessions_active, 2);
	assert_int_equal(o.c.sessions_killed, 1);
	assert_int_equal(o.c.messages, 2);
	assert_int_equal(o.c.records, 2);
	assert_int_equal(o.c.tombstones, 1);
	assert_int_equal(o.c.conflicts_open, 1);
	/* a shorter presence TTL: nobody is online */
	o.since = now - 5000;
	assert_int_equal(db_read(db, counts_read, &o), DB_OK);
	assert_int_equal(o.c.devices_online, 0);
	/* seen exactly at the threshold counts */
	o.since = 999990000;
	assert_int_equal(db_read(db, counts_read, &o), DB_OK);
	assert_int_equal(o.c.devices_online, 1);
	/* the read transaction was closed */
	assert_true(sqlite3_get_autocommit(SQ(db)->conn));

	/* the operation answers the same counts */
	assert_int_equal(unit_call(handle_admin_stats, &u, &resp), 200);
	assert_int_equal(json_integer_value(json_object_get(resp.body,
	    "users")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    resp.body, "devices"), "total")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    resp.body, "sessions"), "killed")), 1);
	assert_int_equal(json_integer_value(json_object_get(resp.body,
	    "records")), 2);
	assert_int_equal(json_integer_value(json_object_get(resp.body,
	    "conflicts_open")), 1);
	resp_free(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		/* test_missing_tables (old test_db_admin.c): no counterpart;
		 * admin_counts reads the schema of every migration, which
		 * db_migrate applies before any worker starts
		 * (test_db.c, test_migrate_idempotent) */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
