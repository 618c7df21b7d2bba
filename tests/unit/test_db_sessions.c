/*
 * Unit tests of lib/db_sessions against a temporary database: the order
 * of the message checks, the primary role's epochs and holders, the
 * lock's fencing token, what the sweeper does when a lease lapses or a
 * lock expires (driven with a `now` in the future), and a revoked device
 * losing its roles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "db_sessions.h"
#include "http.h"

#define U1	1
#define U2	2
#define TTL	1000

static char dir[] = "/tmp/tandem-unit-sess.XXXXXX";
static char path[256];
static struct db *db;

static void
exec_sql(const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(db->conn, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* Mark device dev of U1 seen at time t (ms). */
static void
seen(const char *dev, int64_t t)
{
	char	 sql[256];

	snprintf(sql, sizeof(sql), "UPDATE devices SET last_seen_at = %lld "
	    "WHERE user_id = %d AND id = '%s'", (long long)t, U1, dev);
	exec_sql(sql);
}

static int
setup(void **state)
{
	char	 err[256], sql[1024];
	int64_t	 now = now_ms();

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	setenv("TANDEM_DATA_DIR", dir, 1);
	if (config_load(err, sizeof(err)) == -1 || db_migrate(path) == -1)
		return -1;
	cfg.primary_ttl_ms = TTL;
	cfg.presence_ttl_ms = 90000;
	cfg.dedup_window_ms = 5000;
	if ((db = db_open(path)) == NULL)
		return -1;
	snprintf(sql, sizeof(sql),
	    "INSERT INTO users (id, public_id, email, password_hash, "
	    "created_at) VALUES (1, 'u1', 'a@x.org', 'h', %lld), "
	    "(2, 'u2', 'b@x.org', 'h', %lld);"
	    "INSERT INTO devices (user_id, id, platform, name, created_at, "
	    "last_seen_at) VALUES (1, 'd1', 't', 'd1', %lld, %lld), "
	    "(1, 'd2', 't', 'd2', %lld, %lld), (1, 'd3', 't', 'd3', %lld, "
	    "%lld), (2, 'e1', 't', 'e1', %lld, %lld)",
	    (long long)now, (long long)now, (long long)now, (long long)now,
	    (long long)now, (long long)now, (long long)now, (long long)now,
	    (long long)now, (long long)now);
	exec_sql(sql);
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[300];

	(void)state;
	db_close(db);
	config_free();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The current primary of session sid of U1 as "device/epoch" or "-". */
static const char *
primary_of(const char *sid)
{
	static char	 s[200];
	json_t		*p = NULL;

	assert_int_equal(db_primary_get(db, U1, sid, &p), SESS_OK);
	if (json_is_null(p))
		snprintf(s, sizeof(s), "-");
	else
		snprintf(s, sizeof(s), "%s/%lld",
		    json_string_value(json_object_get(p, "device_id")),
		    (long long)json_integer_value(json_object_get(p, "epoch")));
	json_decref(p);
	return s;
}

/* Events of U1 of type about sid with no causing device. */
static int64_t
server_events(const char *type, const char *sid)
{
	sqlite3_stmt	*st;
	int64_t		 n;

	st = db_prepare(db, "SELECT count(*) FROM events WHERE user_id = 1 "
	    "AND type = ?1 AND session_id = ?2 AND device_id IS NULL");
	sqlite3_bind_text(st, 1, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sid, -1, SQLITE_TRANSIENT);
	assert_int_equal(db_step(db, st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

static int
msg_send(const char *dev, const char *sid, const char *cmid, const char *body,
    int is_auto)
{
	struct message_in m;
	char		 hash[80];
	json_t		*out = NULL, *v;
	int		 rc;

	v = json_loads(body, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	snprintf(hash, sizeof(hash), "sha256:%s", body);	/* any text */
	json_decref(v);
	m.client_msg_id = cmid;
	m.body = body;
	m.hash = hash;
	m.is_auto = is_auto;
	rc = db_message_add(db, U1, dev, sid, &m, &out);
	json_decref(out);
	return rc;
}

static void
create(int64_t user, const char *sid)
{
	json_t	*out = NULL;

	assert_int_equal(db_session_create(db, user, NULL, sid, NULL, &out),
	    SESS_CREATED);
	json_decref(out);
}

static int
act(const char *dev, const char *sid, enum primary_action a, const char *to)
{
	json_t	*out = NULL;
	int	 rc = db_primary_act(db, U1, dev, sid, a, to, &out);

	json_decref(out);
	return rc;
}

static void
test_sessions_per_user(void **state)
{
	json_t	*out = NULL;

	(void)state;
	create(U1, "s-user");
	assert_int_equal(db_session_create(db, U1, "d1", "s-user", "t", &out),
	    SESS_OK);
	assert_true(json_is_null(json_object_get(out, "title")));
	json_decref(out);
	assert_int_equal(db_session_get(db, U2, "s-user", &out),
	    SESS_NOTFOUND);
	assert_null(out);
	assert_int_equal(db_primary_act(db, U2, "e1", "s-user", PRIMARY_CLAIM,
	    NULL, &out), SESS_NOTFOUND);
	create(U2, "s-user");	/* the same id, another user: a new one */
}

static void
test_message_checks_in_order(void **state)
{
	json_t	*out = NULL;

	(void)state;
	create(U1, "s-msg");
	assert_int_equal(msg_send("d1", "s-nope", "m1", "1", 0), SESS_NOTFOUND);
	assert_int_equal(msg_send("d1", "s-msg", "m1", "\"a\"", 0),
	    SESS_CREATED);
	assert_int_equal(msg_send("d1", "s-msg", "m1", "\"other\"", 1),
	    SESS_RETRY);
	assert_int_equal(msg_send("d2", "s-msg", "m9", "\"a\"", 0),
	    SESS_DUPLICATE);
	assert_int_equal(msg_send("d2", "s-msg", "m2", "\"b\"", 1),
	    SESS_NOT_PRIMARY);
	assert_int_equal(msg_send("d2", "s-msg", "m2", "\"b\"", 0),
	    SESS_CREATED);
	assert_int_equal(db_session_kill(db, U1, "d1", "s-msg", NULL, &out),
	    SESS_OK);
	json_decref(out);
	assert_int_equal(msg_send("d2", "s-msg", "m3", "\"c\"", 0),
	    SESS_KILLED);
	assert_int_equal(msg_send("d2", "s-msg", "m2", "\"c\"", 0), SESS_RETRY);
	assert_int_equal(db_message_list(db, U1, "s-msg", 0, 10, &out),
	    SESS_OK);
	assert_int_equal(json_array_size(json_object_get(out, "messages")), 2);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "next_after")), 2);
	json_decref(out);
}

static void
test_primary_epochs(void **state)
{
	(void)state;
	create(U1, "s-pri");
	assert_string_equal(primary_of("s-pri"), "-");
	assert_int_equal(act("d1", "s-pri", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_string_equal(primary_of("s-pri"), "d1/1");
	assert_int_equal(act("d2", "s-pri", PRIMARY_CLAIM, NULL),
	    SESS_PRIMARY_HELD);
	assert_int_equal(act("d2", "s-pri", PRIMARY_RENEW, NULL),
	    SESS_NOT_HOLDER);
	assert_int_equal(act("d1", "s-pri", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_string_equal(primary_of("s-pri"), "d1/1");
	assert_int_equal(act("d2", "s-pri", PRIMARY_TRANSFER, "d3"), SESS_OK);
	assert_string_equal(primary_of("s-pri"), "d3/2");
	assert_int_equal(act("d2", "s-pri", PRIMARY_TRANSFER, "e1"),
	    SESS_NO_DEVICE);
	assert_int_equal(act("d3", "s-pri", PRIMARY_RELEASE, NULL), SESS_OK);
	assert_string_equal(primary_of("s-pri"), "-");
	assert_int_equal(act("d3", "s-pri", PRIMARY_RELEASE, NULL),
	    SESS_NOT_HOLDER);
	assert_int_equal(act("d2", "s-pri", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_string_equal(primary_of("s-pri"), "d2/3");
}

static void
test_sweep_failover(void **state)
{
	int64_t	 now = now_ms();

	(void)state;
	create(U1, "s-fo");
	assert_int_equal(act("d1", "s-fo", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_int_equal(msg_send("d2", "s-fo", "m1", "\"fo d2\"", 0),
	    SESS_CREATED);
	assert_int_equal(msg_send("d3", "s-fo", "m1", "\"fo d3\"", 0),
	    SESS_CREATED);
	/* not lapsed yet: nothing moves */
	assert_int_equal(db_sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of("s-fo"), "d1/1");
	/* lapsed: d3 took part last */
	now = now_ms() + TTL + 1;
	seen("d2", now);
	seen("d3", now);
	assert_int_equal(db_sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of("s-fo"), "d3/2");
	assert_int_equal(server_events("primary.changed", "s-fo"), 1);
	/* d3 lapses: it is passed over itself; d1 (claimed first) and d2
	 * are online, and d2 took part more recently */
	now += TTL + 1;
	seen("d1", now);
	seen("d2", now);
	assert_int_equal(db_sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of("s-fo"), "d2/3");
	/* d2 lapses; d1 and d3 are offline now: the role is left empty */
	now += cfg.presence_ttl_ms + TTL + 1;
	assert_int_equal(db_sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of("s-fo"), "-");
	assert_int_equal(server_events("primary.changed", "s-fo"), 3);
	/* the epoch survives: the next holder gets 4 */
	assert_int_equal(act("d1", "s-fo", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_string_equal(primary_of("s-fo"), "d1/4");
	/* a sweep with nothing to do emits nothing */
	assert_int_equal(db_sessions_sweep(db, now_ms()), DB_OK);
	assert_int_equal(server_events("primary.changed", "s-fo"), 3);
	seen("d1", now_ms());
	seen("d2", now_ms());
	seen("d3", now_ms());
}

static void
test_lock_token(void **state)
{
	json_t	*out = NULL;
	int64_t	 now = now_ms();

	(void)state;
	create(U1, "s-lock");
	assert_int_equal(db_lock_take(db, U1, "d1", "s-lock", 60000, &out),
	    SESS_OK);
	assert_int_equal(json_integer_value(json_object_get(out, "token")), 1);
	json_decref(out);
	assert_int_equal(db_lock_take(db, U1, "d2", "s-lock", 1000, &out),
	    SESS_LOCKED);
	assert_string_equal(json_string_value(json_object_get(out,
	    "device_id")), "d1");
	json_decref(out);
	assert_int_equal(db_lock_take(db, U1, "d1", "s-lock", 100, &out),
	    SESS_OK);
	assert_int_equal(json_integer_value(json_object_get(out, "token")), 1);
	json_decref(out);
	assert_int_equal(db_lock_drop(db, U1, "d2", "s-lock", &out),
	    SESS_NOT_HOLDER);
	json_decref(out);
	/* expiry: the sweeper frees it with lock.changed */
	assert_int_equal(db_sessions_sweep(db, now + 200), DB_OK);
	assert_int_equal(server_events("lock.changed", "s-lock"), 1);
	assert_int_equal(db_lock_drop(db, U1, "d1", "s-lock", &out),
	    SESS_NOT_HOLDER);
	json_decref(out);
	assert_int_equal(db_lock_take(db, U1, "d2", "s-lock", 1000, &out),
	    SESS_OK);
	assert_int_equal(json_integer_value(json_object_get(out, "token")), 2);
	json_decref(out);
	assert_int_equal(db_lock_drop(db, U1, "d2", "s-lock", &out), SESS_OK);
	json_decref(out);
}

static void
test_release_device(void **state)
{
	json_t	*out = NULL, *lock;

	(void)state;
	create(U1, "s-rel");
	assert_int_equal(msg_send("d2", "s-rel", "m1", "\"rel\"", 0),
	    SESS_CREATED);
	assert_int_equal(act("d3", "s-rel", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_int_equal(db_lock_take(db, U1, "d3", "s-rel", 60000, &out),
	    SESS_OK);
	json_decref(out);
	create(U1, "s-rel2");
	assert_int_equal(act("d3", "s-rel2", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_sessions_release_device(db, U1, "d3", NULL),
	    DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_string_equal(primary_of("s-rel"), "d2/2");
	assert_string_equal(primary_of("s-rel2"), "-");
	assert_int_equal(db_session_get(db, U1, "s-rel", &out), SESS_OK);
	lock = json_object_get(out, "lock");
	assert_true(json_is_null(lock));
	json_decref(out);
	assert_int_equal(server_events("primary.changed", "s-rel"), 1);
	assert_int_equal(server_events("lock.changed", "s-rel"), 1);

	/* a revocation by a device's request names that device */
	create(U1, "s-rel3");
	assert_int_equal(act("d2", "s-rel3", PRIMARY_CLAIM, NULL), SESS_OK);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_sessions_release_device(db, U1, "d2", "d1"),
	    DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_string_equal(primary_of("s-rel3"), "-");
	assert_int_equal(server_events("primary.changed", "s-rel3"), 0);
}

static void
test_export(void **state)
{
	json_t	*all, *s;
	size_t	 i;
	int	 found = 0;

	(void)state;
	all = db_sessions_export(db, U1);
	assert_non_null(all);
	json_array_foreach(all, i, s) {
		if (strcmp(json_string_value(json_object_get(s, "id")),
		    "s-msg") != 0)
			continue;
		found = 1;
		assert_int_equal(json_array_size(json_object_get(s,
		    "messages")), 2);
		assert_false(json_is_null(json_object_get(s, "killed_at")));
	}
	assert_true(found);
	json_decref(all);
	all = db_sessions_export(db, U2);
	assert_int_equal(json_array_size(all), 1);
	json_decref(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions_per_user),
		cmocka_unit_test(test_message_checks_in_order),
		cmocka_unit_test(test_primary_epochs),
		cmocka_unit_test(test_sweep_failover),
		cmocka_unit_test(test_lock_token),
		cmocka_unit_test(test_release_device),
		cmocka_unit_test(test_export),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
