/*
 * Unit tests of lib/db_auth: the sweeper's side (presence, and how long
 * spent and expired refresh tokens are remembered), and the migration
 * step that normalises the emails stored before 1.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
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

/* The stored email of user public_id, as a new string. */
static char *
email_of(struct db *db, const char *public_id)
{
	sqlite3_stmt	*st;
	char		*e = NULL;

	assert_int_equal(sqlite3_prepare_v2(db->conn, "SELECT email FROM users "
	    "WHERE public_id = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, public_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		e = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (e == NULL)
		fail_msg("no user %s", public_id);
	return e;
}

static void
email_is(struct db *db, const char *public_id, const char *want)
{
	char	*got = email_of(db, public_id);

	if (strcmp(got, want) != 0)
		fail_msg("%s: \"%s\", want \"%s\"", public_id, got, want);
	free(got);
}

/* db_migrate with tandemd's warnings captured in the file at log. */
static int
migrate_logged(const char *db_path, const char *log)
{
	int	 fd, saved, rc;

	log_set_level("warn");
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	rc = db_migrate(db_path);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	log_set_level("error");
	return rc;
}

/* The log's text (a new string). */
static char *
slurp(const char *file)
{
	FILE	*f = fopen(file, "r");
	char	*s = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(s);
	(void)!fread(s, 1, 65535, f);
	fclose(f);
	return s;
}

/*
 * A database made before 1.1 holds emails as they were typed, look-alikes
 * among them.  0004_email_normalize's C step normalises each once; of
 * accounts alike the oldest (created_at, then id) gets the normalised
 * email, the others keep theirs, and a warning names them; nothing is
 * lost, and running it again changes nothing.
 */
static void
test_email_migration(void **state)
{
	struct db	*db;
	struct db_user	 u;
	char		 log[160], *text;

	(void)state;
	snprintf(path, sizeof(path), "%s/email.db", dir);
	snprintf(log, sizeof(log), "%s/email.log", dir);
	assert_int_equal(db_migrate(path), 0);
	assert_non_null(db = db_open(path));
	unit_exec(db, "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES "
	    /* José: the oldest, composed, then decomposed, fullwidth */
	    "(1, 'u1', 'Jos\xc3\xa9@x.org', 'h', 100), "
	    "(2, 'u2', 'JOSE\xcc\x81@x.org', 'h', 200), "
	    "(3, 'u3', '\xef\xbd\x8a\xef\xbd\x8f\xef\xbd\x93\xc3\xa9@x.org', "
	    "'h', 300), "
	    /* the oldest has ß; a newer one has the normal form but for
	     * ASCII case, which the NOCASE column would not let both hold */
	    "(4, 'u4', 'Stra\xc3\x9f" "e@x.org', 'h', 100), "
	    "(5, 'u5', 'STRASSE@x.org', 'h', 200), "
	    /* the same created_at: the lower id is the older; the Kelvin
	     * sign is a K */
	    "(7, 'u7', '\xe2\x84\xaa" "elvin@x.org', 'h', 100), "
	    "(6, 'u6', 'KELVIN@x.org', 'h', 100), "
	    /* a zero-width space cannot be normalised */
	    "(8, 'u8', 'zw@x.org\xe2\x80\x8b', 'h', 100), "
	    /* alone: already normal, and to be folded */
	    "(9, 'u9', 'plain@x.org', 'h', 100), "
	    "(10, 'u10', 'Mixed@Example.ORG', 'h', 100), "
	    /* a near miss of José stays another account */
	    "(11, 'u11', 'jose@x.org', 'h', 50)");
	/* as if the database predated the migration */
	unit_exec(db, "DELETE FROM schema_migrations "
	    "WHERE name = '0004_email_normalize'");
	db_close(db);

	assert_int_equal(migrate_logged(path, log), 0);
	assert_non_null(db = db_open(path));
	email_is(db, "u1", "jos\xc3\xa9@x.org");
	email_is(db, "u2", "JOSE\xcc\x81@x.org");
	email_is(db, "u3", "\xef\xbd\x8a\xef\xbd\x8f\xef\xbd\x93\xc3\xa9@x.org");
	email_is(db, "u4", "strasse@x.org");
	email_is(db, "u5", "STRASSE@x.org (conflict u5)");
	email_is(db, "u6", "kelvin@x.org");
	email_is(db, "u7", "\xe2\x84\xaa" "elvin@x.org");
	email_is(db, "u8", "zw@x.org\xe2\x80\x8b");
	email_is(db, "u9", "plain@x.org");
	email_is(db, "u10", "mixed@example.org");
	email_is(db, "u11", "jose@x.org");
	assert_int_equal(count(db, "SELECT count(*) FROM users"), 11);
	assert_int_equal(count(db, "SELECT count(*) FROM schema_migrations "
	    "WHERE name = '0004_email_normalize'"), 1);

	/* the warnings name the accounts */
	text = slurp(log);
	assert_non_null(strstr(text, "\"user\":\"u1\""));
	assert_non_null(strstr(text, "\"others\":[\"u2\",\"u3\"]"));
	assert_non_null(strstr(text, "\"user\":\"u4\""));
	assert_non_null(strstr(text, "\"others\":[\"u5\"]"));
	assert_non_null(strstr(text, "\"user\":\"u6\""));
	assert_non_null(strstr(text, "\"others\":[\"u7\"]"));
	assert_non_null(strstr(text, "cannot be normalised"));
	assert_non_null(strstr(text, "\"user\":\"u8\""));
	assert_null(strstr(text, "\"u9\""));
	assert_null(strstr(text, "\"u10\""));
	assert_null(strstr(text, "\"u11\""));
	free(text);

	/* a login's normalised email finds the oldest */
	assert_int_equal(db_user_get_by_email(db, "jos\xc3\xa9@x.org", &u),
	    DB_OK);
	assert_int_equal(u.id, 1);
	db_user_release(&u);
	assert_int_equal(db_user_get_by_email(db, "strasse@x.org", &u), DB_OK);
	assert_int_equal(u.id, 4);
	db_user_release(&u);

	/* again: nothing changes */
	unit_exec(db, "BEGIN IMMEDIATE");
	assert_int_equal(db_users_email_normalize(db), 0);
	unit_exec(db, "COMMIT");
	email_is(db, "u5", "STRASSE@x.org (conflict u5)");
	email_is(db, "u2", "JOSE\xcc\x81@x.org");
	email_is(db, "u1", "jos\xc3\xa9@x.org");
	db_close(db);
	/* and a migrated database does not run the step twice */
	assert_int_equal(db_migrate(path), 0);
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
		cmocka_unit_test(test_email_migration),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
