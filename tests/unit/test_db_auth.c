/*
 * Unit tests of lib/db_auth: the sweeper's side (presence, and how long
 * spent and expired refresh tokens are remembered).
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
#include "db_auth.h"
#include "log.h"
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-dbauth.XXXXXX";
static char path[128];

static int64_t
count(struct db *db, const char *sql)
{
	sqlite3_stmt	*st;
	int64_t		 n = -1;

	assert_int_equal(sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * A refresh token is remembered for a whole lifetime past its expiry
 * (so it still answers TOKEN_EXPIRED / TOKEN_REUSED), then forgotten;
 * a device unseen for the presence TTL goes offline with an event.
 */
static void
test_sweep(void **state)
{
	struct db	*db;
	int64_t		 now = 10000000000, ttl_ms;

	(void)state;
	cfg.refresh_ttl_s = 3600;
	cfg.presence_ttl_ms = 90000;
	ttl_ms = cfg.refresh_ttl_s * 1000;
	snprintf(path, sizeof(path), "%s/auth.db", dir);
	assert_int_equal(db_migrate(path), 0);
	assert_non_null(db = db_open(path));
	unit_exec(db, "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES (1, 'u1', 'a@x', 'h', 0)");
	unit_exec(db, "INSERT INTO devices (user_id, id, platform, name, "
	    "created_at, last_seen_at, online) VALUES "
	    "(1, 'gone', 'p', 'n', 0, 1, 1), (1, 'here', 'p', 'n', 0, "
	    "9999999000, 1)");
	{
		char	 sql[512];

		snprintf(sql, sizeof(sql), "INSERT INTO refresh_tokens "
		    "(token_hash, user_id, device_id, family, created_at, "
		    "expires_at, spent_at) VALUES "
		    "(x'01', 1, 'here', 'f', 0, %lld, NULL), "
		    "(x'02', 1, 'here', 'f', 0, %lld, 5), "
		    "(x'03', 1, 'here', 'f', 0, %lld, 5), "
		    "(x'04', 1, 'here', 'f', 0, %lld, NULL)",
		    (long long)(now + 1000),		/* live */
		    (long long)(now - 1000),		/* spent, expired */
		    (long long)(now - ttl_ms + 1000),	/* nearly forgotten */
		    (long long)(now - ttl_ms - 1000));	/* forgotten */
		unit_exec(db, sql);
	}
	assert_int_equal(db_devices_sweep(db, now), DB_OK);
	assert_int_equal(count(db, "SELECT count(*) FROM refresh_tokens"), 3);
	assert_int_equal(count(db, "SELECT count(*) FROM refresh_tokens "
	    "WHERE token_hash = x'04'"), 0);
	assert_int_equal(count(db, "SELECT online FROM devices WHERE "
	    "id = 'gone'"), 0);
	assert_int_equal(count(db, "SELECT online FROM devices WHERE "
	    "id = 'here'"), 1);
	assert_int_equal(count(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.offline'"), 1);
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
		cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
