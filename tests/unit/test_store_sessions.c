/*
 * Unit tests of sessions on a temporary database: the store's
 * conditional writes of the primary role and the lock (a stale holder,
 * epoch or token changes nothing), the failover target's order and
 * presence threshold, the paging of sessions_list, and the operations:
 * sessions and messages through their handlers (the order of a
 * message's checks, the primary role's epochs, the lock's token), the
 * sweeper's failover and lock expiry (driven with a `now` in the future)
 * and a revoked device losing its roles.
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

#define U1	1
#define U2	2
#define U3	3	/* failover_target */
#define U4	4	/* sessions_list */
#define U5	5	/* many sessions to sweep */
#define TTL	1000

static char dir[] = "/tmp/tandem-unit-sess.XXXXXX";
static struct db *db;
static struct resp last;	/* the answer of the last call() */

static int
setup(void **state)
{
	int64_t	 now = now_ms();
	int	 u;

	(void)state;
	if (unit_setup(dir) == -1)
		return -1;
	cfg.primary_ttl_ms = TTL;
	cfg.presence_ttl_ms = 90000;
	cfg.dedup_window_ms = 5000;
	db = unit_db_fresh(dir, "t.db");
	for (u = U1; u <= U5; u++)
		unit_user(db, u);
	unit_device(db, U1, "d1", now);
	unit_device(db, U1, "d2", now);
	unit_device(db, U1, "d3", now);
	unit_device(db, U2, "e1", now);
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

/* Mark device dev of user seen at time t (ms). */
static void
seen(int64_t user, const char *dev, int64_t t)
{
	unit_execf(db, "UPDATE devices SET last_seen_at = %lld WHERE "
	    "user_id = %lld AND id = '%s'", (long long)t, (long long)user,
	    dev);
}

/* Call handler h for sid (the answer stays in `last`); its status. */
static int
call(handler_fn h, int64_t user, const char *dev, const char *sid,
    const char *query, const char *body)
{
	struct unit_req	 u = { user, dev, "sid", sid, query, body };

	resp_free(&last);
	return unit_call(h, &u, &last);
}

static json_t *
member(const char *name)
{
	return json_object_get(last.body, name);
}

/* The current primary of session sid of U1 as "device/epoch" or "-". */
static const char *
primary_of(int64_t user, const char *sid)
{
	static char		 s[200];
	struct session_row	 r;

	assert_int_equal(db_session_get(db, user, sid, 0, &r), DB_OK);
	if (r.primary_device[0] == '\0')
		snprintf(s, sizeof(s), "-");
	else
		snprintf(s, sizeof(s), "%s/%lld", r.primary_device,
		    (long long)r.primary_epoch);
	return s;
}

/* Events of U1 of type about sid caused by no device (the server). */
static int64_t
server_events(const char *type, const char *sid)
{
	return unit_int(db, "SELECT count(*) FROM events WHERE user_id = 1 "
	    "AND type = '%s' AND session_id = '%s' AND device_id IS NULL",
	    type, sid);
}

static void
create(int64_t user, const char *dev, const char *sid)
{
	char	 body[256];

	snprintf(body, sizeof(body), "{\"id\":\"%s\"}", sid);
	assert_int_equal(call(handle_sessions_create, user, dev, NULL, NULL,
	    body), 201);
}

/* POST a message; body is its JSON text. */
static int
msg_send(const char *dev, const char *sid, const char *cmid,
    const char *body, int is_auto)
{
	char	 text[512];

	snprintf(text, sizeof(text), "{\"client_msg_id\":\"%s\",\"body\":%s,"
	    "\"auto\":%s}", cmid, body, is_auto ? "true" : "false");
	return call(handle_messages_post, U1, dev, sid, NULL, text);
}

/* POST /primary {action, to_device?} by dev of U1. */
static int
act(const char *dev, const char *sid, const char *action, const char *to)
{
	char	 text[256];

	if (to != NULL)
		snprintf(text, sizeof(text), "{\"action\":\"%s\","
		    "\"to_device\":\"%s\"}", action, to);
	else
		snprintf(text, sizeof(text), "{\"action\":\"%s\"}", action);
	return call(handle_sessions_primary_post, U1, dev, sid, NULL, text);
}

static int
lock_take(const char *dev, const char *sid, int64_t ttl)
{
	char	 text[64];

	snprintf(text, sizeof(text), "{\"ttl_ms\":%lld}", (long long)ttl);
	return call(handle_sessions_lock_post, U1, dev, sid, NULL, text);
}

static int64_t
lock_token(void)
{
	return json_integer_value(json_object_get(member("lock"), "token"));
}

static void
test_sessions_per_user(void **state)
{
	(void)state;
	create(U1, "d1", "s-user");
	/* again, with a title: the session as it is (200), title null */
	assert_int_equal(call(handle_sessions_create, U1, "d1", NULL, NULL,
	    "{\"id\":\"s-user\",\"title\":\"t\"}"), 200);
	assert_true(json_is_null(json_object_get(member("session"),
	    "title")));
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'session.created' AND session_id = 's-user'"), 1);
	/* another user's session is a missing one */
	assert_int_equal(call(handle_sessions_get, U2, "e1", "s-user", NULL,
	    NULL), 404);
	assert_string_equal(unit_code(&last), "NOT_FOUND");
	assert_int_equal(call(handle_sessions_primary_post, U2, "e1",
	    "s-user", NULL, "{\"action\":\"claim\"}"), 404);
	/* the same id, another user: a new one */
	create(U2, "e1", "s-user");
	assert_int_equal(unit_int(db, "SELECT count(*) FROM sessions WHERE "
	    "id = 's-user'"), 2);
}

static void
test_message_checks_in_order(void **state)
{
	(void)state;
	create(U1, "d1", "s-msg");
	assert_int_equal(msg_send("d1", "s-nope", "m1", "1", 0), 404);
	assert_int_equal(msg_send("d1", "s-msg", "m1", "\"a\"", 0), 201);
	/* a retry is answered before anything else is looked at */
	assert_int_equal(msg_send("d1", "s-msg", "m1", "\"other\"", 1), 200);
	assert_string_equal(json_string_value(member("duplicate")), "retry");
	assert_int_equal(msg_send("d2", "s-msg", "m9", "\"a\"", 0), 409);
	assert_string_equal(unit_code(&last), "DUPLICATE_MESSAGE");
	assert_int_equal(msg_send("d2", "s-msg", "m2", "\"b\"", 1), 409);
	assert_string_equal(unit_code(&last), "NOT_PRIMARY");
	assert_int_equal(msg_send("d2", "s-msg", "m2", "\"b\"", 0), 201);
	assert_int_equal(call(handle_sessions_kill, U1, "d1", "s-msg", NULL,
	    NULL), 200);
	assert_int_equal(msg_send("d2", "s-msg", "m3", "\"c\"", 0), 410);
	assert_string_equal(unit_code(&last), "SESSION_KILLED");
	/* a retry after the kill still gets its original */
	assert_int_equal(msg_send("d2", "s-msg", "m2", "\"c\"", 0), 200);
	assert_int_equal(json_integer_value(json_object_get(member("message"),
	    "seq")), 2);
	assert_int_equal(call(handle_messages_list, U1, "d1", "s-msg",
	    "after=0&limit=10", NULL), 200);
	assert_int_equal(json_array_size(member("messages")), 2);
	assert_int_equal(json_integer_value(member("next_after")), 2);
	assert_int_equal(unit_int(db, "SELECT message_count FROM sessions "
	    "WHERE user_id = 1 AND id = 's-msg'"), 2);
}

static void
test_primary_epochs(void **state)
{
	(void)state;
	create(U1, "d1", "s-pri");
	assert_string_equal(primary_of(U1, "s-pri"), "-");
	assert_int_equal(act("d1", "s-pri", "claim", NULL), 200);
	assert_string_equal(primary_of(U1, "s-pri"), "d1/1");
	assert_int_equal(act("d2", "s-pri", "claim", NULL), 409);
	assert_string_equal(unit_code(&last), "PRIMARY_HELD");
	assert_int_equal(act("d2", "s-pri", "renew", NULL), 409);
	assert_string_equal(unit_code(&last), "NOT_HOLDER");
	assert_int_equal(act("d1", "s-pri", "claim", NULL), 200);
	assert_string_equal(primary_of(U1, "s-pri"), "d1/1");
	assert_int_equal(act("d2", "s-pri", "transfer", "d3"), 200);
	assert_string_equal(primary_of(U1, "s-pri"), "d3/2");
	/* another user's device is no device of this user */
	assert_int_equal(act("d2", "s-pri", "transfer", "e1"), 404);
	assert_string_equal(primary_of(U1, "s-pri"), "d3/2");
	assert_int_equal(act("d3", "s-pri", "release", NULL), 200);
	assert_string_equal(primary_of(U1, "s-pri"), "-");
	assert_int_equal(act("d3", "s-pri", "release", NULL), 409);
	assert_int_equal(act("d2", "s-pri", "claim", NULL), 200);
	assert_string_equal(primary_of(U1, "s-pri"), "d2/3");
	/* a change of holder is announced by the device that caused it */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'primary.changed' AND session_id = 's-pri'"), 4);
	assert_int_equal(server_events("primary.changed", "s-pri"), 0);
}

/* One conditional write, in its own transaction. */
struct cas {
	const char			*sid;
	const struct primary_change	*pc;
	const struct lock_change	*lc;
};

static int
cas_tx(struct db *d, void *arg)
{
	struct cas	*c = arg;

	if (c->pc != NULL)
		return db_session_primary_set(d, U1, c->sid, c->pc);
	return db_session_lock_set(d, U1, c->sid, c->lc);
}

static int
primary_cas(const char *sid, const char *old, int64_t old_epoch,
    const char *dev, int64_t epoch)
{
	struct primary_change pc = { old, old_epoch, dev, epoch, 123456 };
	struct cas	 c = { sid, &pc, NULL };

	return db_tx(db, cas_tx, &c);
}

static int
lock_cas(const char *sid, const char *old, int64_t old_token,
    const char *dev, int64_t token)
{
	struct lock_change lc = { old, old_token, dev, token, 654321 };
	struct cas	 c = { sid, NULL, &lc };

	return db_tx(db, cas_tx, &c);
}

static int
kill_tx(struct db *d, void *arg)
{
	return db_session_kill(d, U1, arg, 777, "why");
}

/*
 * The primary role and the lock move only from the state the caller
 * read: a stale holder, epoch or token writes nothing (DB_NOTFOUND), and
 * a killed session takes no change at all.
 */
static void
test_store_cas(void **state)
{
	struct session_row r;
	char		 sid[] = "s-cas";

	(void)state;
	create(U1, "d1", "s-cas");
	assert_int_equal(primary_cas("s-cas", NULL, 0, "d1", 1), DB_OK);
	assert_string_equal(primary_of(U1, "s-cas"), "d1/1");
	/* stale: nobody holds it any more, another holder, an old epoch */
	assert_int_equal(primary_cas("s-cas", NULL, 0, "d2", 1), DB_NOTFOUND);
	assert_int_equal(primary_cas("s-cas", "d2", 1, "d2", 2), DB_NOTFOUND);
	assert_int_equal(primary_cas("s-cas", "d1", 0, "d2", 2), DB_NOTFOUND);
	assert_int_equal(primary_cas("s-cas", "d1", 2, "d2", 2), DB_NOTFOUND);
	assert_string_equal(primary_of(U1, "s-cas"), "d1/1");
	assert_int_equal(primary_cas("s-cas", "d1", 1, "d2", 2), DB_OK);
	assert_string_equal(primary_of(U1, "s-cas"), "d2/2");
	/* to nobody: no lease is stored */
	assert_int_equal(primary_cas("s-cas", "d2", 2, NULL, 2), DB_OK);
	assert_int_equal(db_session_get(db, U1, "s-cas", 0, &r), DB_OK);
	assert_string_equal(r.primary_device, "");
	assert_int_equal(r.primary_epoch, 2);
	assert_int_equal(r.primary_expires_at, 0);
	/* the lock, by its token */
	assert_int_equal(lock_cas("s-cas", NULL, 0, "d1", 1), DB_OK);
	assert_int_equal(lock_cas("s-cas", NULL, 0, "d2", 1), DB_NOTFOUND);
	assert_int_equal(lock_cas("s-cas", "d1", 0, "d2", 1), DB_NOTFOUND);
	assert_int_equal(lock_cas("s-cas", "d2", 1, "d2", 2), DB_NOTFOUND);
	assert_int_equal(db_session_get(db, U1, "s-cas", 0, &r), DB_OK);
	assert_string_equal(r.lock_device, "d1");
	assert_int_equal(r.lock_token, 1);
	assert_int_equal(r.lock_expires_at, 654321);
	assert_int_equal(lock_cas("s-cas", "d1", 1, "d1", 1), DB_OK);
	/* another user's session of the same id is not this one */
	assert_int_equal(primary_cas("s-none", NULL, 0, "d1", 1),
	    DB_NOTFOUND);
	/* killed: the role and the lock are let go; no change after */
	assert_int_equal(primary_cas("s-cas", NULL, 2, "d3", 3), DB_OK);
	assert_int_equal(db_tx(db, kill_tx, sid), DB_OK);
	assert_int_equal(db_tx(db, kill_tx, sid), DB_NOTFOUND);
	assert_int_equal(db_session_get(db, U1, "s-cas", 0, &r), DB_OK);
	assert_int_equal(r.killed_at, 777);
	assert_string_equal(r.kill_reason, "why");
	assert_string_equal(r.primary_device, "");
	assert_int_equal(r.primary_epoch, 3);
	assert_string_equal(r.lock_device, "");
	assert_int_equal(r.lock_token, 1);
	assert_int_equal(primary_cas("s-cas", NULL, 3, "d1", 4), DB_NOTFOUND);
	assert_int_equal(lock_cas("s-cas", NULL, 1, "d1", 2), DB_NOTFOUND);
}

struct touch {
	const char	*sid;
	const char	*dev;
	int64_t		 at;
};

static int
touch_tx(struct db *d, void *arg)
{
	struct touch	*t = arg;

	return db_participant_touch(d, U3, t->sid, t->dev, t->at);
}

static void
touch(const char *dev, int64_t at)
{
	struct touch	 t = { "s-ft", dev, at };

	assert_int_equal(db_tx(db, touch_tx, &t), DB_OK);
}

/* failover_target into out; its result. */
static int
target(const char *except, int64_t since, char out[DB_ID_CAP])
{
	return db_failover_target(db, U3, "s-ft", except, since, out);
}

/*
 * The failover target: the active device, other than the holder, seen
 * since the threshold, that took part most recently (ties in the same
 * millisecond by the order of taking part).
 */
static void
test_failover_target(void **state)
{
	char	 out[DB_ID_CAP];

	(void)state;
	unit_execf(db, "INSERT INTO sessions (user_id, id, created_at) "
	    "VALUES (%d, 's-ft', 0)", U3);
	assert_int_equal(target(NULL, 0, out), DB_NOTFOUND);
	assert_string_equal(out, "");
	unit_device(db, U3, "f1", 5000);
	unit_device(db, U3, "f2", 5000);
	unit_device(db, U3, "f3", 5000);
	unit_device(db, U3, "f4", 5000);
	unit_device(db, U3, "f5", 0);
	unit_exec(db, "UPDATE devices SET last_seen_at = NULL WHERE id = 'f5'");
	unit_exec(db, "UPDATE devices SET revoked_at = 1 WHERE id = 'f4'");
	touch("f1", 1000);
	touch("f3", 2000);
	touch("f2", 2000);	/* the same millisecond, but later */
	assert_int_equal(target(NULL, 0, out), DB_OK);
	assert_string_equal(out, "f2");
	/* the holder itself is passed over */
	assert_int_equal(target("f2", 0, out), DB_OK);
	assert_string_equal(out, "f3");
	assert_int_equal(target("f3", 0, out), DB_OK);
	assert_string_equal(out, "f2");
	/* taking part again moves a device to the front */
	touch("f1", 3000);
	assert_int_equal(target(NULL, 0, out), DB_OK);
	assert_string_equal(out, "f1");
	/* revoked, never seen, or not a device of this user: never */
	touch("f4", 9000);
	touch("f5", 9000);
	touch("nobody", 9000);
	assert_int_equal(target(NULL, 0, out), DB_OK);
	assert_string_equal(out, "f1");
	/* the presence threshold: seen at it counts, before it does not */
	unit_exec(db, "UPDATE devices SET last_seen_at = 4999 WHERE "
	    "user_id = 3 AND id = 'f1'");
	assert_int_equal(target(NULL, 5000, out), DB_OK);
	assert_string_equal(out, "f2");
	assert_int_equal(target(NULL, 4999, out), DB_OK);
	assert_string_equal(out, "f1");
	assert_int_equal(target(NULL, 5001, out), DB_NOTFOUND);
	assert_string_equal(out, "");
	/* U1's participants are not U3's */
	assert_int_equal(db_failover_target(db, U1, "s-ft", NULL, 0, out),
	    DB_NOTFOUND);
}

struct ids {
	char	 s[256];
};

static int
ids_add(void *arg, const struct session_row *r)
{
	struct ids	*l = arg;
	size_t		 n = strlen(l->s);

	snprintf(l->s + n, sizeof(l->s) - n, "%s%s", n ? "," : "", r->id);
	return DB_OK;
}

/* The ids of a sessions_list of U4 as "a,b,c". */
static const char *
listed(enum session_filter f, const char *after, int64_t limit)
{
	static struct ids l;

	l.s[0] = '\0';
	assert_int_equal(db_sessions_list(db, U4, f, after, limit, ids_add,
	    &l), DB_OK);
	return l.s;
}

/* Pages in creation order, (created_at, id), from after, at most limit. */
static void
test_sessions_list_paging(void **state)
{
	json_t	*v;

	(void)state;
	unit_execf(db, "INSERT INTO sessions (user_id, id, created_at, "
	    "killed_at) VALUES (%d, 'b', 100, NULL), (%d, 'a', 100, NULL), "
	    "(%d, 'c', 50, NULL), (%d, 'd', 200, NULL), (%d, 'e', 150, 160)",
	    U4, U4, U4, U4, U4);
	assert_string_equal(listed(SESSIONS_ALL, NULL, 0), "c,a,b,e,d");
	assert_string_equal(listed(SESSIONS_ACTIVE, NULL, 0), "c,a,b,d");
	assert_string_equal(listed(SESSIONS_KILLED, NULL, 0), "e");
	assert_string_equal(listed(SESSIONS_ACTIVE, NULL, 2), "c,a");
	assert_string_equal(listed(SESSIONS_ACTIVE, "a", 2), "b,d");
	assert_string_equal(listed(SESSIONS_ALL, "b", 0), "e,d");
	/* after a killed one, paging the active ones */
	assert_string_equal(listed(SESSIONS_ACTIVE, "e", 0), "d");
	assert_string_equal(listed(SESSIONS_ACTIVE, "d", 0), "");
	/* another user's sessions are not listed */
	assert_string_equal(listed(SESSIONS_ALL, "s-user", 0), "");
	/* the operation: next_after and more */
	assert_int_equal(call(handle_sessions_list, U4, "x", NULL, "limit=2",
	    NULL), 200);
	v = member("sessions");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(member("next_after")), "a");
	assert_true(json_is_true(member("more")));
	assert_int_equal(call(handle_sessions_list, U4, "x", NULL,
	    "limit=2&after=a", NULL), 200);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    member("sessions"), 1), "id")), "d");
	assert_string_equal(json_string_value(member("next_after")), "d");
	assert_true(json_is_false(member("more")));
	assert_int_equal(call(handle_sessions_list, U4, "x", NULL,
	    "after=d&state=all", NULL), 200);
	assert_int_equal(json_array_size(member("sessions")), 0);
	assert_string_equal(json_string_value(member("next_after")), "d");
	assert_int_equal(call(handle_sessions_list, U4, "x", NULL,
	    "state=killed", NULL), 200);
	assert_int_equal(json_array_size(member("sessions")), 1);
	/* an after that names no session of the user */
	assert_int_equal(call(handle_sessions_list, U4, "x", NULL,
	    "after=s-user", NULL), 400);
	assert_string_equal(unit_code(&last), "VALIDATION_FAILED");
}

static void
test_sweep_failover(void **state)
{
	int64_t	 now = now_ms();

	(void)state;
	create(U1, "d1", "s-fo");
	assert_int_equal(act("d1", "s-fo", "claim", NULL), 200);
	assert_int_equal(msg_send("d2", "s-fo", "m1", "\"fo d2\"", 0), 201);
	assert_int_equal(msg_send("d3", "s-fo", "m1", "\"fo d3\"", 0), 201);
	/* not lapsed yet: nothing moves */
	assert_int_equal(sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of(U1, "s-fo"), "d1/1");
	/* lapsed: d3 took part last */
	now = now_ms() + TTL + 1;
	seen(U1, "d2", now);
	seen(U1, "d3", now);
	assert_int_equal(sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of(U1, "s-fo"), "d3/2");
	assert_int_equal(server_events("primary.changed", "s-fo"), 1);
	/* d3 lapses: it is passed over itself; d1 (claimed first) and d2
	 * are online, and d2 took part more recently */
	now += TTL + 1;
	seen(U1, "d1", now);
	seen(U1, "d2", now);
	assert_int_equal(sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of(U1, "s-fo"), "d2/3");
	/* d2 lapses; d1 and d3 are offline now: the role is left empty */
	now += cfg.presence_ttl_ms + TTL + 1;
	assert_int_equal(sessions_sweep(db, now), DB_OK);
	assert_string_equal(primary_of(U1, "s-fo"), "-");
	assert_int_equal(server_events("primary.changed", "s-fo"), 3);
	/* the epoch survives: the next holder gets 4 */
	assert_int_equal(act("d1", "s-fo", "claim", NULL), 200);
	assert_string_equal(primary_of(U1, "s-fo"), "d1/4");
	/* a sweep with nothing to do emits nothing */
	assert_int_equal(sessions_sweep(db, now_ms()), DB_OK);
	assert_int_equal(server_events("primary.changed", "s-fo"), 3);
	seen(U1, "d1", now_ms());
	seen(U1, "d2", now_ms());
	seen(U1, "d3", now_ms());
}

/* More lapsed leases and expired locks than one sweep query reads. */
static void
test_sweep_many(void **state)
{
	int	 i;

	(void)state;
	for (i = 0; i < 300; i++)
		unit_execf(db, "INSERT INTO sessions (user_id, id, "
		    "created_at, primary_device, primary_epoch, "
		    "primary_expires_at, lock_device, lock_token, "
		    "lock_expires_at) VALUES (%d, 'm%d', 0, 'gone', 1, 5, "
		    "'gone', 1, 5)", U5, i);
	assert_int_equal(sessions_sweep(db, now_ms()), DB_OK);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM sessions WHERE "
	    "user_id = %d AND (primary_device IS NOT NULL OR lock_device IS "
	    "NOT NULL)", U5), 0);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "user_id = %d AND type = 'primary.changed' AND device_id IS NULL",
	    U5), 300);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "user_id = %d AND type = 'lock.changed' AND device_id IS NULL",
	    U5), 300);
	/* the epoch and the token stay for the next holder */
	assert_int_equal(unit_int(db, "SELECT min(primary_epoch) + "
	    "min(lock_token) FROM sessions WHERE user_id = %d", U5), 2);
}

static void
test_lock_token(void **state)
{
	(void)state;
	create(U1, "d1", "s-lock");
	assert_int_equal(lock_take("d1", "s-lock", 60000), 200);
	assert_int_equal(lock_token(), 1);
	assert_int_equal(lock_take("d2", "s-lock", 1000), 423);
	assert_string_equal(json_string_value(json_object_get(member("lock"),
	    "device_id")), "d1");
	/* extended by its holder: the same token */
	assert_int_equal(lock_take("d1", "s-lock", 100), 200);
	assert_int_equal(lock_token(), 1);
	assert_int_equal(call(handle_sessions_lock_delete, U1, "d2", "s-lock",
	    NULL, NULL), 409);
	assert_string_equal(unit_code(&last), "NOT_HOLDER");
	/* expiry: the sweeper frees it with lock.changed */
	assert_int_equal(sessions_sweep(db, now_ms() + 200), DB_OK);
	assert_int_equal(server_events("lock.changed", "s-lock"), 1);
	assert_int_equal(call(handle_sessions_lock_delete, U1, "d1", "s-lock",
	    NULL, NULL), 409);
	assert_int_equal(lock_take("d2", "s-lock", 1000), 200);
	assert_int_equal(lock_token(), 2);
	assert_int_equal(call(handle_sessions_lock_delete, U1, "d2", "s-lock",
	    NULL, NULL), 204);
}

struct release {
	const char	*device;
	const char	*cause;
};

static int
release_tx(struct db *d, void *arg)
{
	struct release	*r = arg;

	return sessions_release_device(d, U1, r->device, r->cause);
}

static void
test_release_device(void **state)
{
	struct session_row	 r;
	struct release		 rel = { "d3", NULL };

	(void)state;
	create(U1, "d1", "s-rel");
	assert_int_equal(msg_send("d2", "s-rel", "m1", "\"rel\"", 0), 201);
	assert_int_equal(act("d3", "s-rel", "claim", NULL), 200);
	assert_int_equal(lock_take("d3", "s-rel", 60000), 200);
	create(U1, "d1", "s-rel2");
	assert_int_equal(act("d3", "s-rel2", "claim", NULL), 200);
	assert_int_equal(db_tx(db, release_tx, &rel), DB_OK);
	assert_string_equal(primary_of(U1, "s-rel"), "d2/2");
	assert_string_equal(primary_of(U1, "s-rel2"), "-");
	assert_int_equal(db_session_get(db, U1, "s-rel", 0, &r), DB_OK);
	assert_string_equal(r.lock_device, "");
	assert_int_equal(r.lock_token, 1);
	assert_int_equal(server_events("primary.changed", "s-rel"), 1);
	assert_int_equal(server_events("lock.changed", "s-rel"), 1);
	assert_int_equal(server_events("primary.changed", "s-rel2"), 1);

	/* a revocation by a device's request names that device */
	create(U1, "d1", "s-rel3");
	assert_int_equal(act("d2", "s-rel3", "claim", NULL), 200);
	rel.device = "d2";
	rel.cause = "d1";
	assert_int_equal(db_tx(db, release_tx, &rel), DB_OK);
	assert_string_equal(primary_of(U1, "s-rel3"), "-");
	assert_int_equal(server_events("primary.changed", "s-rel3"), 0);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM events WHERE "
	    "type = 'primary.changed' AND session_id = 's-rel3' AND "
	    "device_id = 'd1'"), 1);
	/* a device that holds nothing: nothing happens */
	rel.device = "d9";
	assert_int_equal(db_tx(db, release_tx, &rel), DB_OK);
}

struct count {
	int64_t	 sessions;
	int64_t	 messages;
	int	 killed_seen;
};

static int
count_message(void *arg, const struct message_row *m)
{
	(void)m;
	((struct count *)arg)->messages++;
	return DB_OK;
}

static int
count_session(void *arg, const struct session_row *s)
{
	struct count	*c = arg;

	c->sessions++;
	if (strcmp(s->id, "s-msg") == 0) {
		c->killed_seen = s->killed_at != 0;
		assert_int_equal(db_messages_list(db, s->user_id, s->id, 0, 0,
		    count_message, c), DB_OK);
	}
	return DB_OK;
}

/*
 * What the export reads of sessions (handle_export streams it; its
 * answer is tested by tests/api/test_sync.sh): all of a user's
 * sessions, killed ones with their messages, and no other user's.
 */
static void
test_export(void **state)
{
	struct count	 c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(db_sessions_list(db, U1, SESSIONS_ALL, NULL, 0,
	    count_session, &c), DB_OK);
	assert_true(c.killed_seen);
	assert_int_equal(c.messages, 2);
	assert_int_equal(c.sessions, unit_int(db, "SELECT count(*) FROM "
	    "sessions WHERE user_id = 1"));
	memset(&c, 0, sizeof(c));
	assert_int_equal(db_sessions_list(db, U2, SESSIONS_ALL, NULL, 0,
	    count_session, &c), DB_OK);
	assert_int_equal(c.sessions, 1);
	assert_int_equal(c.messages, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions_per_user),
		cmocka_unit_test(test_message_checks_in_order),
		cmocka_unit_test(test_primary_epochs),
		cmocka_unit_test(test_store_cas),
		cmocka_unit_test(test_failover_target),
		cmocka_unit_test(test_sessions_list_paging),
		cmocka_unit_test(test_sweep_failover),
		cmocka_unit_test(test_sweep_many),
		cmocka_unit_test(test_lock_token),
		cmocka_unit_test(test_release_device),
		cmocka_unit_test(test_export),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
