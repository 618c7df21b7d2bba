/*
 * Unit tests of lib/db: migrations, the statement cache, transactions and
 * the server clock (strictly increasing, in commit order, across
 * processes, past a wall clock that steps back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "db_events.h"
#include "http.h"

static char dir[] = "/tmp/tandem-unit-db.XXXXXX";
static char path[256];

static int
setup(void **state)
{
	char	 err[256];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	setenv("TANDEM_DATA_DIR", dir, 1);
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

static void
test_migrate_idempotent(void **state)
{
	struct db	*db;
	sqlite3_stmt	*st;

	(void)state;
	assert_int_equal(db_migrate(path), 0);	/* again: nothing to do */
	db = db_open(path);
	assert_non_null(db);
	st = db_prepare(db, "SELECT count(*) FROM schema_migrations");
	assert_int_equal(db_step(db, st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), (int64_t)db_nmigrations);
	sqlite3_reset(st);
	st = db_prepare(db, "PRAGMA journal_mode");
	assert_int_equal(db_step(db, st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_reset(st);
	assert_int_equal(db_health(db), DB_OK);
	assert_true(db_file_bytes(db) > 0);
	db_close(db);
}

static void
test_stmt_cache(void **state)
{
	struct db	*db = db_open(path);
	sqlite3_stmt	*a, *b;
	static const char q1[] = "SELECT 1";
	static const char q2[] = "SELECT 2";
	char		*sqls[200];
	int		 i;

	(void)state;
	a = db_prepare(db, q1);
	b = db_prepare(db, q1);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(db_prepare(db, q2), a);
	/* a bad statement is NULL, not a crash */
	assert_null(db_prepare(db, "SELEC nonsense"));
	for (i = 0; i < 200; i++) {
		/* the cache grows past its first size */
		sqls[i] = sqlite3_mprintf("SELECT %d", i);
		assert_non_null(db_prepare(db, sqls[i]));
	}
	assert_ptr_equal(db_prepare(db, q1), a);
	db_close(db);
	/* the keys must outlive the cache */
	for (i = 0; i < 200; i++)
		sqlite3_free(sqls[i]);
}

static void
test_clock_monotonic(void **state)
{
	struct db	*db = db_open(path);
	int64_t		 prev = 0, v;
	int		 i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		assert_int_equal(db_begin(db), DB_OK);
		assert_int_equal(db_clock_next(db, &v), DB_OK);
		assert_int_equal(db_commit(db), DB_OK);
		assert_true(v > prev);
		prev = v;
	}
	/* microseconds since the epoch */
	assert_true(v > now_us() - 60 * 1000000LL && v <= now_us() + 1000);
	db_close(db);
}

static void
test_clock_steps_back(void **state)
{
	struct db	*db = db_open(path);
	sqlite3_stmt	*st;
	int64_t		 ahead = now_us() + 3600LL * 1000000, v, w;

	(void)state;
	/* The wall clock "stepped back" an hour: the stored value is ahead. */
	st = db_prepare(db, "UPDATE server_clock SET last_us = ?1");
	sqlite3_bind_int64(st, 1, ahead);
	assert_int_equal(db_exec(db, st), DB_OK);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_clock_next(db, &v), DB_OK);
	assert_int_equal(db_clock_next(db, &w), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(v, ahead + 1);
	assert_int_equal(w, ahead + 2);
	/* A rolled-back transaction hands nothing out. */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_clock_next(db, &v), DB_OK);
	db_rollback(db);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_clock_next(db, &v), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(v, ahead + 3);
	db_close(db);
}

/*
 * Four processes take 300 values each in their own transactions.  Every
 * value is unique, and each process sees its own strictly increasing.
 */
static void
test_clock_across_processes(void **state)
{
	enum { NPROC = 4, EACH = 300 };
	int		 fds[NPROC][2], p, i, status;
	pid_t		 pids[NPROC];
	int64_t		*all, v;
	size_t		 n = 0;

	(void)state;
	all = calloc(NPROC * EACH, sizeof(*all));
	for (p = 0; p < NPROC; p++) {
		assert_int_equal(pipe(fds[p]), 0);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct db *db = db_open(path);
			int64_t prev = 0, x;
			close(fds[p][0]);
			for (i = 0; i < EACH; i++) {
				if (db_begin(db) != DB_OK ||
				    db_clock_next(db, &x) != DB_OK ||
				    db_commit(db) != DB_OK || x <= prev)
					_exit(1);
				prev = x;
				if (write(fds[p][1], &x, sizeof(x)) !=
				    sizeof(x))
					_exit(1);
			}
			db_close(db);
			_exit(0);
		}
		close(fds[p][1]);
	}
	for (p = 0; p < NPROC; p++) {
		while (read(fds[p][0], &v, sizeof(v)) == sizeof(v))
			all[n++] = v;
		close(fds[p][0]);
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(n, NPROC * EACH);
	for (i = 0; i < (int)n; i++)
		for (p = i + 1; p < (int)n; p++)
			assert_true(all[i] != all[p]);
	free(all);
}

static void
test_events_seq(void **state)
{
	struct db	*db = db_open(path);
	sqlite3_stmt	*st;
	int64_t		 seq = 0;

	(void)state;
	st = db_prepare(db, "INSERT INTO users (public_id, email, "
	    "password_hash, created_at) VALUES ('u1', 'e@x.io', 'h', 0)");
	assert_int_equal(db_exec(db, st), DB_OK);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_event_add(db, 1, "d1", "app.x", NULL,
	    json_pack("{s:i}", "n", 1), &seq), DB_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(db_event_add(db, 1, NULL, "app.y", "s1", NULL, &seq),
	    DB_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(db->nring, 1);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(db->nring, 0);
	/* an unknown user: nothing appended */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_event_add(db, 99, NULL, "app.z", NULL, NULL, &seq),
	    DB_NOTFOUND);
	db_rollback(db);
	db_close(db);
}

static void
test_pool(void **state)
{
	struct db	*a, *b;

	(void)state;
	assert_int_equal(db_pool_open(path, 2), 0);
	a = db_acquire();
	b = db_acquire();
	assert_ptr_not_equal(a, b);
	/* a transaction left open is rolled back on release */
	assert_int_equal(db_begin(a), DB_OK);
	db_release(a);
	assert_int_equal(a->in_tx, 0);
	db_release(b);
	a = db_acquire();
	assert_int_equal(db_begin(a), DB_OK);
	assert_int_equal(db_commit(a), DB_OK);
	db_release(a);
	db_pool_close();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_idempotent),
		cmocka_unit_test(test_stmt_cache),
		cmocka_unit_test(test_clock_monotonic),
		cmocka_unit_test(test_clock_steps_back),
		cmocka_unit_test(test_clock_across_processes),
		cmocka_unit_test(test_events_seq),
		cmocka_unit_test(test_pool),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
