/* Unit tests of lib/db_admin: the server-wide counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "db.h"
#include "db_admin.h"
#include "log.h"
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-admin.XXXXXX";
static char path[128];

static void
test_counts(void **state)
{
	struct db_admin_counts c;
	struct db	*db;
	int64_t		 now = 1000000000;

	(void)state;
	snprintf(path, sizeof(path), "%s/full.db", dir);
	assert_int_equal(db_migrate(path), 0);
	assert_non_null(db = db_open(path));
	assert_int_equal(db_admin_counts(db, now, 90000, &c), DB_OK);
	assert_int_equal(c.users, 0);
	assert_int_equal(c.missing, 0);
	assert_true(c.db_bytes > 0);

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
	unit_exec(db, "INSERT INTO sessions (user_id, id, created_at, killed_at) "
	    "VALUES (1, 's1', 0, NULL), (1, 's2', 0, 7), (2, 's1', 0, NULL)");
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

	assert_int_equal(db_admin_counts(db, now, 90000, &c), DB_OK);
	assert_int_equal(c.users, 2);
	assert_int_equal(c.devices_total, 3);
	assert_int_equal(c.devices_online, 1);
	assert_int_equal(c.sessions_active, 2);
	assert_int_equal(c.sessions_killed, 1);
	assert_int_equal(c.messages, 2);
	assert_int_equal(c.records, 2);
	assert_int_equal(c.tombstones, 1);
	assert_int_equal(c.conflicts_open, 1);
	/* a shorter presence TTL: nobody is online */
	assert_int_equal(db_admin_counts(db, now, 5000, &c), DB_OK);
	assert_int_equal(c.devices_online, 0);
	/* the read transaction was closed */
	assert_true(sqlite3_get_autocommit(db->conn));
	db_close(db);
}

/* A database with only the core migration: the later tables count 0. */
static void
test_missing_tables(void **state)
{
	struct db_admin_counts c;
	struct db	*db;

	(void)state;
	snprintf(path, sizeof(path), "%s/core.db", dir);
	assert_non_null(db = db_open(path));
	unit_exec(db, db_migrations[0].sql);
	unit_exec(db, "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES (1, 'u1', 'a@x', 'h', 0)");
	assert_int_equal(db_admin_counts(db, 0, 90000, &c), DB_OK);
	assert_int_equal(c.users, 1);
	assert_int_equal(c.missing, DB_ADMIN_NO_SESSIONS |
	    DB_ADMIN_NO_MESSAGES | DB_ADMIN_NO_RECORDS |
	    DB_ADMIN_NO_CONFLICTS);
	assert_int_equal(c.sessions_active + c.messages + c.records +
	    c.conflicts_open, 0);
	assert_true(sqlite3_get_autocommit(db->conn));
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
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_missing_tables),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
