/*
 * Unit tests of users, devices and refresh tokens on a temporary
 * database: a refresh token is spent once and its state follows its
 * device, the token check's one lookup (device_check), revocation, the
 * sweeper's side (presence announced once each way; spent and expired
 * tokens remembered a lifetime past expiry, then forgotten), and the
 * migration step that normalises the emails stored before 1.1.
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

#include "auth_rules.h"
#include "clock.h"
#include "unit_db.h"

/* The C step of migrations/sqlite/0004_email_normalize.sql. */
int	 sqlite_users_email_normalize(struct db *);

static char dir[] = "/tmp/tandem-unit-dbauth.XXXXXX";
static struct db *db;

static int
setup(void **state)
{
	(void)state;
	if (unit_setup(dir) == -1)
		return -1;
	cfg.refresh_ttl_s = 3600;
	cfg.presence_ttl_ms = 90000;
	return 0;
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

/* A token hash: 32 bytes of b. */
static void
hash_of(unsigned char h[32], int b)
{
	memset(h, b, 32);
}

struct token_op {
	int		 b;		/* the hash's byte */
	const char	*device;
	const char	*family;
	int64_t		 now;
	int64_t		 expires_at;
	int		 spend;		/* else insert */
};

static int
token_tx(struct db *d, void *arg)
{
	struct token_op	*t = arg;
	unsigned char	 h[32];

	hash_of(h, t->b);
	if (t->spend)
		return db_refresh_spend(d, h, t->now);
	return db_refresh_insert(d, h, 1, t->device, t->family, t->now,
	    t->expires_at);
}

/* The state of token b presented at now. */
static enum refresh_state
token_state(int b, int64_t now)
{
	struct refresh_row r;
	unsigned char	 h[32];
	int		 rc;

	hash_of(h, b);
	rc = db_refresh_get(db, h, &r);
	assert_true(rc == DB_OK || rc == DB_NOTFOUND);
	return refresh_classify(rc == DB_OK, &r, now);
}

/* A refresh token is spent once; its state follows its device. */
static void
test_refresh_tokens(void **state)
{
	struct token_op	 t = { 1, "d1", "fam-d1", 1000, 5000, 0 };
	struct refresh_row r;
	unsigned char	 h[32];

	(void)state;
	fresh("tokens.db");
	unit_user(db, 1);
	unit_device(db, 1, "d1", 1);
	assert_int_equal(db_tx(db, token_tx, &t), DB_OK);
	/* the same hash twice: refused */
	assert_int_equal(db_tx(db, token_tx, &t), DB_CONSTRAINT);
	t.b = 2;
	assert_int_equal(db_tx(db, token_tx, &t), DB_OK);
	hash_of(h, 1);
	assert_int_equal(db_refresh_get(db, h, &r), DB_OK);
	assert_int_equal(r.user_id, 1);
	assert_string_equal(r.device_id, "d1");
	assert_string_equal(r.family, "fam-d1");
	assert_int_equal(r.expires_at, 5000);
	assert_false(r.spent);
	assert_true(r.current);
	assert_int_equal(token_state(1, 1000), REFRESH_OK);
	assert_int_equal(token_state(1, 5000), REFRESH_EXPIRED);
	assert_int_equal(token_state(9, 1000), REFRESH_UNKNOWN);
	/* spent once; a second spend changes nothing: reuse */
	t.b = 1;
	t.spend = 1;
	assert_int_equal(db_tx(db, token_tx, &t), DB_OK);
	assert_int_equal(db_tx(db, token_tx, &t), DB_NOTFOUND);
	assert_int_equal(token_state(1, 1000), REFRESH_REUSED);
	assert_int_equal(token_state(1, 9000), REFRESH_REUSED);
	t.b = 9;
	assert_int_equal(db_tx(db, token_tx, &t), DB_NOTFOUND);
	/* the device logged in again: the old family's tokens are revoked */
	unit_exec(db, "UPDATE devices SET family = 'fam-new' WHERE id = 'd1'");
	assert_int_equal(token_state(2, 1000), REFRESH_REVOKED);
	unit_exec(db, "UPDATE devices SET family = 'fam-d1' WHERE id = 'd1'");
	assert_int_equal(token_state(2, 1000), REFRESH_OK);
	/* revoked: the same */
	unit_exec(db, "UPDATE devices SET revoked_at = 7 WHERE id = 'd1'");
	assert_int_equal(token_state(2, 1000), REFRESH_REVOKED);
}

/* The token check's lookup: user by public id, device by id. */
static void
test_device_check(void **state)
{
	struct device_auth a;

	(void)state;
	fresh("check.db");
	unit_user(db, 1);
	unit_user(db, 2);
	unit_device(db, 1, "d1", 1234);
	unit_device(db, 2, "d2", 1);
	assert_int_equal(db_device_check(db, "u1", "d1", &a), DB_OK);
	assert_int_equal(a.user_id, 1);
	assert_false(a.revoked);
	assert_string_equal(a.family, "fam-d1");
	assert_int_equal(a.last_seen_at, 1234);
	assert_int_equal(device_state_of(1, &a, "fam-d1"), DEVICE_ACTIVE);
	assert_int_equal(device_state_of(1, &a, "fam-x"), DEVICE_REVOKED);
	/* another user's device, an unknown user or device */
	assert_int_equal(db_device_check(db, "u1", "d2", &a), DB_NOTFOUND);
	assert_int_equal(db_device_check(db, "u9", "d1", &a), DB_NOTFOUND);
	assert_int_equal(db_device_check(db, "u2", "d9", &a), DB_NOTFOUND);
	/* logged out: no family */
	unit_exec(db, "UPDATE devices SET family = NULL WHERE id = 'd1'");
	assert_int_equal(db_device_check(db, "u1", "d1", &a), DB_OK);
	assert_string_equal(a.family, "");
	assert_int_equal(device_state_of(1, &a, "fam-d1"), DEVICE_REVOKED);
	unit_exec(db, "UPDATE devices SET family = 'fam-d1', revoked_at = 5 "
	    "WHERE id = 'd1'");
	assert_int_equal(db_device_check(db, "u1", "d1", &a), DB_OK);
	assert_true(a.revoked);
	assert_int_equal(device_state_of(1, &a, "fam-d1"), DEVICE_REVOKED);
}

struct revoke {
	const char	*device;
	const char	*cause;
};

static int
revoke_tx(struct db *d, void *arg)
{
	struct revoke	*r = arg;

	return device_revoke_op(d, 1, r->device, r->cause);
}

/* Revocation: no family (its tokens die), its roles go, announced. */
static void
test_device_revoke(void **state)
{
	struct revoke	 r = { "d2", "d1" };
	struct device_row d;
	int64_t		 n;

	(void)state;
	fresh("revoke.db");
	unit_user(db, 1);
	unit_device(db, 1, "d1", now_ms());
	unit_device(db, 1, "d2", now_ms());
	unit_exec(db, "INSERT INTO sessions (user_id, id, created_at, "
	    "primary_device, primary_epoch, primary_expires_at, lock_device, "
	    "lock_token, lock_expires_at) VALUES (1, 's', 0, 'd2', 1, "
	    "99999999999999, 'd2', 1, 99999999999999)");
	assert_int_equal(db_tx(db, revoke_tx, &r), DB_OK);
	assert_int_equal(db_device_get(db, 1, "d2", &d), DB_OK);
	assert_true(d.revoked_at > 0);
	assert_string_equal(d.family, "");
	device_row_release(&d);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM sessions WHERE "
	    "primary_device IS NULL AND lock_device IS NULL"), 1);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.revoked' AND device_id = 'd1'"), 1);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type IN ('primary.changed', 'lock.changed') AND "
	    "device_id = 'd1'"), 2);
	assert_int_equal(db_devices_active_count(db, 1, NULL, &n), DB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(db_devices_active_count(db, 1, "d1", &n), DB_OK);
	assert_int_equal(n, 0);
	/* again: not an active device any more, nothing written */
	assert_int_equal(db_tx(db, revoke_tx, &r), DB_NOTFOUND);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.revoked'"), 1);
}

/*
 * A refresh token is remembered for a whole lifetime past its expiry
 * (so it still answers TOKEN_EXPIRED / TOKEN_REUSED), then forgotten;
 * a device unseen for the presence TTL goes offline with an event, once,
 * and online again with one when it is seen.
 */
static void
test_sweep(void **state)
{
	int64_t	 now = 10000000000, ttl_ms;

	(void)state;
	ttl_ms = cfg.refresh_ttl_s * 1000;
	fresh("auth.db");
	unit_exec(db, "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES (1, 'u1', 'a@x', 'h', 0)");
	unit_exec(db, "INSERT INTO devices (user_id, id, platform, name, "
	    "created_at, last_seen_at, online, family) VALUES "
	    "(1, 'gone', 'p', 'n', 0, 1, 1, 'f'), "
	    "(1, 'here', 'p', 'n', 0, 9999999000, 1, 'f'), "
	    "(1, 'edge', 'p', 'n', 0, 9999910000, 1, 'f'), "
	    "(1, 'off', 'p', 'n', 0, 1, 0, 'f'), "
	    "(1, 'revoked', 'p', 'n', 0, 1, 1, NULL)");
	unit_exec(db, "UPDATE devices SET revoked_at = 5 WHERE "
	    "id = 'revoked'");
	unit_execf(db, "INSERT INTO refresh_tokens (token_hash, user_id, "
	    "device_id, family, created_at, expires_at, spent_at) VALUES "
	    "(x'01', 1, 'here', 'f', 0, %lld, NULL), "
	    "(x'02', 1, 'here', 'f', 0, %lld, 5), "
	    "(x'03', 1, 'here', 'f', 0, %lld, 5), "
	    "(x'04', 1, 'here', 'f', 0, %lld, NULL)",
	    (long long)(now + 1000),		/* live */
	    (long long)(now - 1000),		/* spent, expired */
	    (long long)(now - ttl_ms + 1000),	/* nearly forgotten */
	    (long long)(now - ttl_ms - 1000));	/* forgotten */
	assert_int_equal(devices_sweep(db, now), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM refresh_tokens"),
	    3);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM refresh_tokens "
	    "WHERE token_hash = x'04'"), 0);
	assert_int_equal(unit_int(db, "SELECT online FROM devices WHERE "
	    "id = 'gone'"), 0);
	assert_int_equal(unit_int(db, "SELECT online FROM devices WHERE "
	    "id = 'here'"), 1);
	/* seen exactly the TTL ago: still online */
	assert_int_equal(unit_int(db, "SELECT online FROM devices WHERE "
	    "id = 'edge'"), 1);
	/* announced by the server, once, for 'gone' only */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.offline'"), 1);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.offline' AND device_id IS NULL AND "
	    "data = '{\"device_id\":\"gone\"}'"), 1);
	assert_true(sqlite3_get_autocommit(SQ(db)->conn));
	/* a second sweep announces nothing again */
	assert_int_equal(devices_sweep(db, now), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.offline'"), 1);
	/* seen again: online, announced once */
	assert_int_equal(device_seen_op(db, 1, "gone", now + 2), DB_OK);
	assert_int_equal(device_seen_op(db, 1, "gone", now + 3), DB_OK);
	assert_int_equal(unit_int(db, "SELECT online FROM devices WHERE "
	    "id = 'gone'"), 1);
	assert_int_equal(unit_int(db, "SELECT last_seen_at FROM devices "
	    "WHERE id = 'gone'"), now + 3);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'device.online' AND device_id = 'gone'"), 1);
	/* a revoked device is not seen */
	assert_int_equal(device_seen_op(db, 1, "revoked", now + 4), DB_OK);
	assert_int_equal(unit_int(db, "SELECT last_seen_at FROM devices "
	    "WHERE id = 'revoked'"), 1);
	/* a lifetime later the nearly forgotten ones go too */
	assert_int_equal(devices_sweep(db, now + 2000), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM refresh_tokens"),
	    2);
}

/* The stored email of user public_id, as a new string. */
static char *
email_of(const char *public_id)
{
	sqlite3_stmt	*st;
	char		*e = NULL;

	assert_int_equal(sqlite3_prepare_v2(SQ(db)->conn, "SELECT email FROM "
	    "users WHERE public_id = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, public_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		e = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (e == NULL)
		fail_msg("no user %s", public_id);
	return e;
}

static void
email_is(const char *public_id, const char *want)
{
	char	*got = email_of(public_id);

	if (strcmp(got, want) != 0)
		fail_msg("%s: \"%s\", want \"%s\"", public_id, got, want);
	free(got);
}

/* db_migrate with tandemd's warnings captured in the file at log. */
static int
migrate_logged(const char *log)
{
	int	 fd, saved, rc;

	log_set_level("warn");
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	rc = db_migrate();
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

static int
normalize_tx(struct db *d, void *arg)
{
	(void)arg;
	return sqlite_users_email_normalize(d) == 0 ? DB_OK : DB_ERROR;
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
	struct user_row	 u;
	char		 log[160], *text;

	(void)state;
	snprintf(log, sizeof(log), "%s/email.log", dir);
	fresh("email.db");
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
	db = NULL;

	assert_int_equal(migrate_logged(log), 0);
	assert_non_null(db = db_open());
	email_is("u1", "jos\xc3\xa9@x.org");
	email_is("u2", "JOSE\xcc\x81@x.org");
	email_is("u3", "\xef\xbd\x8a\xef\xbd\x8f\xef\xbd\x93\xc3\xa9@x.org");
	email_is("u4", "strasse@x.org");
	email_is("u5", "STRASSE@x.org (conflict u5)");
	email_is("u6", "kelvin@x.org");
	email_is("u7", "\xe2\x84\xaa" "elvin@x.org");
	email_is("u8", "zw@x.org\xe2\x80\x8b");
	email_is("u9", "plain@x.org");
	email_is("u10", "mixed@example.org");
	email_is("u11", "jose@x.org");
	assert_int_equal(unit_int(db, "SELECT count(*) FROM users"), 11);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM schema_migrations "
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
	user_row_release(&u);
	assert_int_equal(db_user_get_by_email(db, "strasse@x.org", &u), DB_OK);
	assert_int_equal(u.id, 4);
	user_row_release(&u);

	/* again: nothing changes */
	assert_int_equal(db_tx(db, normalize_tx, NULL), DB_OK);
	email_is("u5", "STRASSE@x.org (conflict u5)");
	email_is("u2", "JOSE\xcc\x81@x.org");
	email_is("u1", "jos\xc3\xa9@x.org");
	/* and a migrated database does not run the step twice */
	assert_int_equal(db_migrate(), 0);
	email_is("u5", "STRASSE@x.org (conflict u5)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refresh_tokens),
		cmocka_unit_test(test_device_check),
		cmocka_unit_test(test_device_revoke),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_email_migration),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
