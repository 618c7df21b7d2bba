/*
 * Unit tests of lib/sessions_rules, without a database: the primary
 * role (claim, renew, release, transfer in every state of the row, the
 * epochs, what the operation must do besides answering), failover, the
 * lock and its fencing token, what a message may do, the dedup window
 * and the session's time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sessions_rules.h"

#define NOW	1700000000000LL		/* ms */
#define TTL	30000
#define ME	"dev-me"
#define OTHER	"dev-other"
#define THIRD	"dev-third"

/* A session row: the primary role, the lock, killed or not. */
static struct session_row
row(const char *primary, int64_t epoch, int64_t primary_expires,
    const char *lock, int64_t token, int64_t lock_expires, int64_t killed)
{
	struct session_row s;

	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "s1");
	snprintf(s.primary_device, sizeof(s.primary_device), "%s",
	    primary != NULL ? primary : "");
	s.primary_epoch = epoch;
	s.primary_expires_at = primary != NULL ? primary_expires : 0;
	snprintf(s.lock_device, sizeof(s.lock_device), "%s",
	    lock != NULL ? lock : "");
	s.lock_token = token;
	s.lock_expires_at = lock != NULL ? lock_expires : 0;
	s.killed_at = killed;
	return s;
}

/* The rows a decision is tried against. */
#define FREE(e)		row(NULL, (e), 0, NULL, 0, 0, 0)
#define HELD(d, e)	row((d), (e), NOW + 1000, NULL, 0, 0, 0)
#define LAPSED(d, e)	row((d), (e), NOW, NULL, 0, 0, 0)	/* at now */
#define KILLED(d, e)	row((d), (e), NOW + 1000, NULL, 0, 0, NOW - 1)

static void
effect_is(const struct session_effect *e, int write, int event,
    int participates)
{
	assert_int_equal(e->write, write);
	assert_int_equal(e->event, event);
	assert_int_equal(e->participates, participates);
}

/* old: (old_device, old_epoch); new: (device, epoch, expires_at). */
static void
change_is(const struct primary_change *c, const char *old_device,
    int64_t old_epoch, const char *device, int64_t epoch, int64_t expires)
{
	if (old_device == NULL)
		assert_null(c->old_device);
	else
		assert_string_equal(c->old_device, old_device);
	assert_int_equal(c->old_epoch, old_epoch);
	if (device == NULL)
		assert_null(c->device);
	else
		assert_string_equal(c->device, device);
	assert_int_equal(c->epoch, epoch);
	assert_int_equal(c->expires_at, expires);
}

static enum session_outcome
decide(const struct session_row *s, enum primary_action a, const char *to,
    struct primary_change *c, struct session_effect *e)
{
	return primary_decide(s, a, ME, to, NOW, TTL, c, e);
}

/* A lease is valid strictly before its expiry, lapsed from it on. */
static void
test_lease_edges(void **state)
{
	struct session_row s = row(ME, 1, NOW, ME, 1, NOW, 0);
	struct session_row f = FREE(3);

	(void)state;
	assert_true(primary_valid(&s, NOW - 1));
	assert_false(primary_lapsed(&s, NOW - 1));
	assert_false(primary_valid(&s, NOW));
	assert_true(primary_lapsed(&s, NOW));
	assert_true(lock_valid(&s, NOW - 1));
	assert_false(lock_expired(&s, NOW - 1));
	assert_false(lock_valid(&s, NOW));
	assert_true(lock_expired(&s, NOW));
	/* nobody: neither valid nor lapsed */
	assert_false(primary_valid(&f, NOW));
	assert_false(primary_lapsed(&f, NOW));
	assert_false(lock_valid(&f, NOW));
	assert_false(lock_expired(&f, NOW));
}

static void
test_claim(void **state)
{
	struct primary_change c;
	struct session_effect e;
	struct session_row s;

	(void)state;
	/* free: taken with the next epoch, announced, taking part */
	s = FREE(0);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e), SESSION_OK);
	change_is(&c, NULL, 0, ME, 1, NOW + TTL);
	effect_is(&e, 1, 1, 1);
	/* free after a release: the epoch goes on from where it was */
	s = FREE(4);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e), SESSION_OK);
	change_is(&c, NULL, 4, ME, 5, NOW + TTL);
	/* held by me: a renewal, same epoch, no event */
	s = HELD(ME, 2);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e), SESSION_OK);
	change_is(&c, ME, 2, ME, 2, NOW + TTL);
	effect_is(&e, 1, 0, 1);
	/* held by another: refused, nothing to do */
	s = HELD(OTHER, 2);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e),
	    SESSION_PRIMARY_HELD);
	effect_is(&e, 0, 0, 0);
	/* another's lease lapsed (the sweeper has not run): taken from it */
	s = LAPSED(OTHER, 2);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e), SESSION_OK);
	change_is(&c, OTHER, 2, ME, 3, NOW + TTL);
	effect_is(&e, 1, 1, 1);
	/* my own lapsed lease: taken again with a new epoch (fencing) */
	s = LAPSED(ME, 2);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e), SESSION_OK);
	change_is(&c, ME, 2, ME, 3, NOW + TTL);
	effect_is(&e, 1, 1, 1);
	/* killed: whatever the role */
	s = KILLED(NULL, 0);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e),
	    SESSION_KILLED);
	effect_is(&e, 0, 0, 0);
	s = KILLED(ME, 1);
	assert_int_equal(decide(&s, PRIMARY_CLAIM, NULL, &c, &e),
	    SESSION_KILLED);
}

static void
test_renew(void **state)
{
	struct primary_change c;
	struct session_effect e;
	struct session_row s;

	(void)state;
	s = HELD(ME, 7);
	assert_int_equal(decide(&s, PRIMARY_RENEW, NULL, &c, &e), SESSION_OK);
	change_is(&c, ME, 7, ME, 7, NOW + TTL);
	effect_is(&e, 1, 0, 1);
	s = HELD(OTHER, 7);
	assert_int_equal(decide(&s, PRIMARY_RENEW, NULL, &c, &e),
	    SESSION_NOT_HOLDER);
	effect_is(&e, 0, 0, 0);
	s = FREE(7);
	assert_int_equal(decide(&s, PRIMARY_RENEW, NULL, &c, &e),
	    SESSION_NOT_HOLDER);
	/* a lapsed lease cannot be renewed: it must be claimed again */
	s = LAPSED(ME, 7);
	assert_int_equal(decide(&s, PRIMARY_RENEW, NULL, &c, &e),
	    SESSION_NOT_HOLDER);
	s = KILLED(ME, 7);
	assert_int_equal(decide(&s, PRIMARY_RENEW, NULL, &c, &e),
	    SESSION_KILLED);
}

static void
test_release(void **state)
{
	struct primary_change c;
	struct session_effect e;
	struct session_row s;

	(void)state;
	/* the holder lets go: nobody, the epoch kept, announced */
	s = HELD(ME, 3);
	assert_int_equal(decide(&s, PRIMARY_RELEASE, NULL, &c, &e),
	    SESSION_OK);
	change_is(&c, ME, 3, NULL, 3, 0);
	effect_is(&e, 1, 1, 0);
	s = HELD(OTHER, 3);
	assert_int_equal(decide(&s, PRIMARY_RELEASE, NULL, &c, &e),
	    SESSION_NOT_HOLDER);
	effect_is(&e, 0, 0, 0);
	s = FREE(3);
	assert_int_equal(decide(&s, PRIMARY_RELEASE, NULL, &c, &e),
	    SESSION_NOT_HOLDER);
	s = LAPSED(ME, 3);
	assert_int_equal(decide(&s, PRIMARY_RELEASE, NULL, &c, &e),
	    SESSION_NOT_HOLDER);
	s = KILLED(ME, 3);
	assert_int_equal(decide(&s, PRIMARY_RELEASE, NULL, &c, &e),
	    SESSION_KILLED);
}

static void
test_transfer(void **state)
{
	struct primary_change c;
	struct session_effect e;
	struct session_row s;

	(void)state;
	/* to a device the caller found not active: NO_DEVICE */
	s = HELD(ME, 1);
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, NULL, &c, &e),
	    SESSION_NO_DEVICE);
	effect_is(&e, 0, 0, 0);
	/* from me to another: the next epoch, announced; not taking part */
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, OTHER, &c, &e),
	    SESSION_OK);
	change_is(&c, ME, 1, OTHER, 2, NOW + TTL);
	effect_is(&e, 1, 1, 0);
	/* any device may hand it on, not only the holder */
	s = HELD(OTHER, 1);
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, THIRD, &c, &e),
	    SESSION_OK);
	change_is(&c, OTHER, 1, THIRD, 2, NOW + TTL);
	/* to the holder itself: a renewal of its lease, no event */
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, OTHER, &c, &e),
	    SESSION_OK);
	change_is(&c, OTHER, 1, OTHER, 1, NOW + TTL);
	effect_is(&e, 1, 0, 0);
	/* nobody holds it: taken by the target */
	s = FREE(5);
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, THIRD, &c, &e),
	    SESSION_OK);
	change_is(&c, NULL, 5, THIRD, 6, NOW + TTL);
	effect_is(&e, 1, 1, 0);
	/* to a lapsed holder: it takes it again, with a new epoch */
	s = LAPSED(OTHER, 5);
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, OTHER, &c, &e),
	    SESSION_OK);
	change_is(&c, OTHER, 5, OTHER, 6, NOW + TTL);
	effect_is(&e, 1, 1, 0);
	/* killed comes before a missing device */
	s = KILLED(ME, 1);
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, NULL, &c, &e),
	    SESSION_KILLED);
	assert_int_equal(decide(&s, PRIMARY_TRANSFER, OTHER, &c, &e),
	    SESSION_KILLED);
	/* not an action */
	s = FREE(0);
	assert_int_equal(decide(&s, PRIMARY__MAX, NULL, &c, &e),
	    SESSION_ERROR);
	effect_is(&e, 0, 0, 0);
}

static void
test_failover_change(void **state)
{
	struct primary_change c;
	struct session_row s = LAPSED(ME, 4);

	(void)state;
	/* to the target: the next epoch, a lease from now */
	failover_change(&s, OTHER, NOW, TTL, &c);
	change_is(&c, ME, 4, OTHER, 5, NOW + TTL);
	/* to nobody: the epoch stays for the next holder */
	failover_change(&s, NULL, NOW, TTL, &c);
	change_is(&c, ME, 4, NULL, 4, 0);
	/* a valid holder loses it too (a revoked device) */
	s = HELD(ME, 9);
	failover_change(&s, NULL, NOW, TTL, &c);
	change_is(&c, ME, 9, NULL, 9, 0);
}

static void
lock_change_is(const struct lock_change *c, const char *old_device,
    int64_t old_token, const char *device, int64_t token, int64_t expires)
{
	if (old_device == NULL)
		assert_null(c->old_device);
	else
		assert_string_equal(c->old_device, old_device);
	assert_int_equal(c->old_token, old_token);
	if (device == NULL)
		assert_null(c->device);
	else
		assert_string_equal(c->device, device);
	assert_int_equal(c->token, token);
	assert_int_equal(c->expires_at, expires);
}

static void
test_lock(void **state)
{
	struct lock_change c;
	struct session_effect e;
	struct session_row s;

	(void)state;
	/* unlocked: taken with the next token, announced */
	s = row(NULL, 0, 0, NULL, 0, 0, 0);
	assert_int_equal(lock_decide(&s, ME, 500, NOW, &c, &e), SESSION_OK);
	lock_change_is(&c, NULL, 0, ME, 1, NOW + 500);
	effect_is(&e, 1, 1, 0);
	/* released before: the token goes on */
	s = row(NULL, 0, 0, NULL, 6, 0, 0);
	assert_int_equal(lock_decide(&s, ME, 500, NOW, &c, &e), SESSION_OK);
	lock_change_is(&c, NULL, 6, ME, 7, NOW + 500);
	/* the holder again: extended from now, the same token, no event */
	s = row(NULL, 0, 0, ME, 3, NOW + 10, 0);
	assert_int_equal(lock_decide(&s, ME, 100, NOW, &c, &e), SESSION_OK);
	lock_change_is(&c, ME, 3, ME, 3, NOW + 100);
	effect_is(&e, 1, 0, 0);
	/* another holds it */
	s = row(NULL, 0, 0, OTHER, 3, NOW + 10, 0);
	assert_int_equal(lock_decide(&s, ME, 100, NOW, &c, &e),
	    SESSION_LOCKED);
	effect_is(&e, 0, 0, 0);
	/* another's expired: taken from the row as read, the next token */
	s = row(NULL, 0, 0, OTHER, 3, NOW, 0);
	assert_int_equal(lock_decide(&s, ME, 100, NOW, &c, &e), SESSION_OK);
	lock_change_is(&c, OTHER, 3, ME, 4, NOW + 100);
	effect_is(&e, 1, 1, 0);
	/* my own expired: a new token, not an extension */
	s = row(NULL, 0, 0, ME, 3, NOW - 5, 0);
	assert_int_equal(lock_decide(&s, ME, 100, NOW, &c, &e), SESSION_OK);
	lock_change_is(&c, ME, 3, ME, 4, NOW + 100);
	effect_is(&e, 1, 1, 0);
	/* killed */
	s = row(NULL, 0, 0, NULL, 0, 0, NOW - 1);
	assert_int_equal(lock_decide(&s, ME, 100, NOW, &c, &e),
	    SESSION_KILLED);
	effect_is(&e, 0, 0, 0);
}

static void
test_unlock(void **state)
{
	struct lock_change c;
	struct session_row s;

	(void)state;
	/* the holder: unlocked, the token stays for the next holder */
	s = row(NULL, 0, 0, ME, 5, NOW + 10, 0);
	assert_int_equal(unlock_decide(&s, ME, NOW, &c), SESSION_OK);
	lock_change_is(&c, ME, 5, NULL, 5, 0);
	assert_int_equal(unlock_decide(&s, OTHER, NOW, &c),
	    SESSION_NOT_HOLDER);
	/* expired: nobody holds it, the former holder neither */
	s = row(NULL, 0, 0, ME, 5, NOW, 0);
	assert_int_equal(unlock_decide(&s, ME, NOW, &c), SESSION_NOT_HOLDER);
	s = row(NULL, 0, 0, NULL, 5, 0, 0);
	assert_int_equal(unlock_decide(&s, ME, NOW, &c), SESSION_NOT_HOLDER);
	s = row(NULL, 0, 0, ME, 5, NOW + 10, NOW - 1);
	assert_int_equal(unlock_decide(&s, ME, NOW, &c), SESSION_KILLED);
	/* the sweeper's and a revocation's change: from the row as read */
	s = row(NULL, 0, 0, OTHER, 8, NOW - 1, 0);
	lock_expire_change(&s, &c);
	lock_change_is(&c, OTHER, 8, NULL, 8, 0);
}

static void
test_message_admit(void **state)
{
	struct session_row s;

	(void)state;
	/* not auto: anyone, primary or not */
	s = HELD(OTHER, 1);
	assert_int_equal(message_admit(&s, 0, ME, NOW), SESSION_OK);
	s = FREE(0);
	assert_int_equal(message_admit(&s, 0, ME, NOW), SESSION_OK);
	/* auto: from the current primary only */
	s = HELD(ME, 1);
	assert_int_equal(message_admit(&s, 1, ME, NOW), SESSION_OK);
	assert_int_equal(message_admit(&s, 1, OTHER, NOW),
	    SESSION_NOT_PRIMARY);
	s = FREE(1);
	assert_int_equal(message_admit(&s, 1, ME, NOW), SESSION_NOT_PRIMARY);
	/* a lapsed primary is no longer the primary */
	s = LAPSED(ME, 1);
	assert_int_equal(message_admit(&s, 1, ME, NOW), SESSION_NOT_PRIMARY);
	/* killed comes first, even for the primary's auto message */
	s = KILLED(ME, 1);
	assert_int_equal(message_admit(&s, 0, ME, NOW), SESSION_KILLED);
	assert_int_equal(message_admit(&s, 1, ME, NOW), SESSION_KILLED);
	assert_int_equal(message_admit(&s, 1, OTHER, NOW), SESSION_KILLED);
}

static void
test_dedup_since(void **state)
{
	(void)state;
	assert_int_equal(dedup_since(NOW, 5000), NOW - 5000);
	assert_int_equal(dedup_since(NOW, 1), NOW - 1);
	/* off */
	assert_int_equal(dedup_since(NOW, 0), -1);
	assert_int_equal(dedup_since(NOW, -5), -1);
}

static void
test_session_time(void **state)
{
	struct session_row s = FREE(0);

	(void)state;
	/* no message yet: now */
	assert_int_equal(session_time(&s, NOW), NOW);
	s.last_message_at = NOW - 10;
	assert_int_equal(session_time(&s, NOW), NOW);
	/* the clock stepped back: never before the newest message */
	s.last_message_at = NOW + 3600000;
	assert_int_equal(session_time(&s, NOW), NOW + 3600000);
	s.last_message_at = NOW;
	assert_int_equal(session_time(&s, NOW), NOW);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(primary_action_names[PRIMARY_CLAIM], "claim");
	assert_string_equal(primary_action_names[PRIMARY_TRANSFER],
	    "transfer");
	assert_null(primary_action_names[PRIMARY__MAX]);
	assert_string_equal(session_filter_names[SESSIONS_KILLED], "killed");
	assert_null(session_filter_names[SESSIONS__MAX]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_edges),
		cmocka_unit_test(test_claim),
		cmocka_unit_test(test_renew),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_transfer),
		cmocka_unit_test(test_failover_change),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_unlock),
		cmocka_unit_test(test_message_admit),
		cmocka_unit_test(test_dedup_since),
		cmocka_unit_test(test_session_time),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
