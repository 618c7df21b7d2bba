/*
 * Unit tests of lib/auth_rules, without a database: a refresh token's
 * state, an access token's device, what a login does to its device row
 * (and the device limit), and presence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "auth_rules.h"

#define NOW	1700000000000LL		/* ms */
#define FAM	"0123456789abcdef0123456789abcdef"
#define FAM2	"fedcba9876543210fedcba9876543210"

static struct refresh_row
token(int64_t expires_at, int spent, int current)
{
	struct refresh_row r;

	memset(&r, 0, sizeof(r));
	r.user_id = 1;
	snprintf(r.device_id, sizeof(r.device_id), "d1");
	snprintf(r.family, sizeof(r.family), FAM);
	r.expires_at = expires_at;
	r.spent = spent;
	r.current = current;
	return r;
}

static void
test_refresh_classify(void **state)
{
	struct refresh_row r;

	(void)state;
	r = token(NOW + 1000, 0, 1);
	/* not found: whatever the row holds */
	assert_int_equal(refresh_classify(0, &r, NOW), REFRESH_UNKNOWN);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_OK);
	/* spent before: reuse, even expired and out of its family */
	r = token(NOW + 1000, 1, 1);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_REUSED);
	r = token(NOW - 1000, 1, 1);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_REUSED);
	r = token(NOW - 1000, 1, 0);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_REUSED);
	/* the device left the family (logout, revoke): revoked, expired
	 * or not */
	r = token(NOW + 1000, 0, 0);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_REVOKED);
	r = token(NOW - 1000, 0, 0);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_REVOKED);
	/* expired at its expiry instant */
	r = token(NOW, 0, 1);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_EXPIRED);
	r = token(NOW - 1, 0, 1);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_EXPIRED);
	r = token(NOW + 1, 0, 1);
	assert_int_equal(refresh_classify(1, &r, NOW), REFRESH_OK);
}

static struct device_auth
dev_auth(int revoked, const char *family)
{
	struct device_auth a;

	memset(&a, 0, sizeof(a));
	a.user_id = 1;
	a.revoked = revoked;
	snprintf(a.family, sizeof(a.family), "%s", family);
	return a;
}

static void
test_device_state_of(void **state)
{
	struct device_auth a;

	(void)state;
	a = dev_auth(0, FAM);
	assert_int_equal(device_state_of(0, &a, FAM), DEVICE_UNKNOWN);
	assert_int_equal(device_state_of(1, &a, FAM), DEVICE_ACTIVE);
	/* logged in again since: another family */
	assert_int_equal(device_state_of(1, &a, FAM2), DEVICE_REVOKED);
	/* a token without a family */
	assert_int_equal(device_state_of(1, &a, NULL), DEVICE_REVOKED);
	assert_int_equal(device_state_of(1, &a, ""), DEVICE_REVOKED);
	/* revoked, or logged out (no family) */
	a = dev_auth(1, FAM);
	assert_int_equal(device_state_of(1, &a, FAM), DEVICE_REVOKED);
	a = dev_auth(0, "");
	assert_int_equal(device_state_of(1, &a, ""), DEVICE_REVOKED);
	assert_int_equal(device_state_of(1, &a, FAM), DEVICE_REVOKED);
}

static struct device_row
dev_row(int64_t revoked_at, const char *family)
{
	struct device_row d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "d1");
	snprintf(d.platform, sizeof(d.platform), "ios");
	snprintf(d.name, sizeof(d.name), "phone");
	d.created_at = NOW - 1000;
	d.revoked_at = revoked_at;
	snprintf(d.family, sizeof(d.family), "%s", family);
	return d;
}

static void
test_login_decide(void **state)
{
	struct device_row d;

	(void)state;
	/* a new device: registered while the others leave room */
	d = dev_row(0, "");
	assert_int_equal(login_decide(0, &d, 0, 2), LOGIN_REGISTER);
	assert_int_equal(login_decide(0, &d, 1, 2), LOGIN_REGISTER);
	assert_int_equal(login_decide(0, &d, 2, 2), LOGIN_LIMIT);
	assert_int_equal(login_decide(0, &d, 3, 2), LOGIN_LIMIT);
	/* revoked: re-activated in a new family, counted like a new one */
	d = dev_row(NOW - 10, "");
	assert_int_equal(login_decide(1, &d, 1, 2), LOGIN_REACTIVATE);
	assert_int_equal(login_decide(1, &d, 2, 2), LOGIN_LIMIT);
	/* logged out (no family, not revoked): the same */
	d = dev_row(0, "");
	assert_int_equal(login_decide(1, &d, 1, 2), LOGIN_REACTIVATE);
	assert_int_equal(login_decide(1, &d, 2, 2), LOGIN_LIMIT);
	/* active: kept in its family, never refused (its own place counts,
	 * the limit counts the others) */
	d = dev_row(0, FAM);
	assert_int_equal(login_decide(1, &d, 0, 1), LOGIN_KEEP);
	assert_int_equal(login_decide(1, &d, 1, 1), LOGIN_KEEP);
	assert_int_equal(login_decide(1, &d, 5, 1), LOGIN_KEEP);
	/* a revoked row still naming a family is not active */
	d = dev_row(NOW - 10, FAM);
	assert_int_equal(login_decide(1, &d, 0, 1), LOGIN_REACTIVATE);
}

static void
test_login_changes_device(void **state)
{
	struct device_row d = dev_row(0, FAM);

	(void)state;
	assert_false(login_changes_device(&d, "ios", "phone"));
	assert_true(login_changes_device(&d, "android", "phone"));
	assert_true(login_changes_device(&d, "ios", "tablet"));
	assert_true(login_changes_device(&d, "ios", "Phone"));
}

static void
test_presence(void **state)
{
	(void)state;
	/* online: seen within the TTL, the edge included */
	assert_false(presence_online(0, NOW, 90000));
	assert_true(presence_online(NOW, NOW, 90000));
	assert_true(presence_online(NOW - 90000, NOW, 90000));
	assert_false(presence_online(NOW - 90001, NOW, 90000));
	assert_true(presence_online(NOW + 5, NOW, 90000));
	/* stale: never seen, or unseen for longer than stale_ms */
	assert_true(presence_stale(0, NOW, 86400000));
	assert_false(presence_stale(NOW, NOW, 86400000));
	assert_false(presence_stale(NOW - 86400000, NOW, 86400000));
	assert_true(presence_stale(NOW - 86400001, NOW, 86400000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refresh_classify),
		cmocka_unit_test(test_device_state_of),
		cmocka_unit_test(test_login_decide),
		cmocka_unit_test(test_login_changes_device),
		cmocka_unit_test(test_presence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
