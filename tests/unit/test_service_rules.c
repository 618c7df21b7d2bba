/*
 * Unit tests of lib/service_rules, without a database: key names, the
 * scopes and their one written form, the shape of a key, the scope a
 * route misses, and when a key's last use is written again; and the
 * keys lib/auth makes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth.h"
#include "service_rules.h"

static void
test_names(void **state)
{
	char	 n[80];

	(void)state;
	assert_true(service_name_valid("backend"));
	assert_true(service_name_valid("a"));
	assert_true(service_name_valid("my-app_2"));
	assert_true(service_name_valid("-"));
	memset(n, 'z', 64);
	n[64] = '\0';
	assert_true(service_name_valid(n));
	n[64] = 'z';
	n[65] = '\0';
	assert_false(service_name_valid(n));
	assert_false(service_name_valid(NULL));
	assert_false(service_name_valid(""));
	assert_false(service_name_valid("Backend"));
	assert_false(service_name_valid("my app"));
	assert_false(service_name_valid("a.b"));
	assert_false(service_name_valid("a/b"));
	assert_false(service_name_valid("caf\xc3\xa9"));
	assert_false(service_name_valid("a\tb"));
}

static void
test_scopes_parse(void **state)
{
	unsigned	 s;

	(void)state;
	assert_int_equal(service_scopes_parse("events", &s), 0);
	assert_int_equal(s, SCOPE_BIT(SCOPE_EVENTS));
	assert_int_equal(service_scopes_parse("records", &s), 0);
	assert_int_equal(s, SCOPE_BIT(SCOPE_RECORDS));
	assert_int_equal(service_scopes_parse("events,records", &s), 0);
	assert_int_equal(s, SCOPES_ALL);
	assert_int_equal(service_scopes_parse("records,events", &s), 0);
	assert_int_equal(s, SCOPES_ALL);
	/* nothing else: empty items, repeats, case, spaces, other names */
	assert_int_equal(service_scopes_parse(NULL, &s), -1);
	assert_int_equal(service_scopes_parse("", &s), -1);
	assert_int_equal(s, 0);
	assert_int_equal(service_scopes_parse(",", &s), -1);
	assert_int_equal(service_scopes_parse("events,", &s), -1);
	assert_int_equal(service_scopes_parse(",events", &s), -1);
	assert_int_equal(service_scopes_parse("events,,records", &s), -1);
	assert_int_equal(service_scopes_parse("events,events", &s), -1);
	assert_int_equal(service_scopes_parse("Events", &s), -1);
	assert_int_equal(service_scopes_parse("event", &s), -1);
	assert_int_equal(service_scopes_parse("eventsx", &s), -1);
	assert_int_equal(service_scopes_parse("events records", &s), -1);
	assert_int_equal(service_scopes_parse(" events", &s), -1);
	assert_int_equal(service_scopes_parse("admin", &s), -1);
	assert_int_equal(service_scopes_parse("events,records,events", &s),
	    -1);
}

static void
test_scopes_text(void **state)
{
	char		 t[SERVICE_SCOPES_TEXT], small[7];
	unsigned	 s;

	(void)state;
	assert_int_equal(service_scopes_text(SCOPE_BIT(SCOPE_EVENTS), t,
	    sizeof(t)), 0);
	assert_string_equal(t, "events");
	assert_int_equal(service_scopes_text(SCOPE_BIT(SCOPE_RECORDS), t,
	    sizeof(t)), 0);
	assert_string_equal(t, "records");
	/* one written form, whatever order was given */
	assert_int_equal(service_scopes_parse("records,events", &s), 0);
	assert_int_equal(service_scopes_text(s, t, sizeof(t)), 0);
	assert_string_equal(t, "events,records");
	assert_true(strlen(t) < sizeof(t));	/* the longest form fits */
	/* and it reads back as itself */
	assert_int_equal(service_scopes_parse(t, &s), 0);
	assert_int_equal(s, SCOPES_ALL);
	assert_int_equal(service_scopes_text(0, t, sizeof(t)), -1);
	assert_string_equal(t, "");
	assert_int_equal(service_scopes_text(1u << 7, t, sizeof(t)), -1);
	assert_int_equal(service_scopes_text(SCOPES_ALL, small,
	    sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(service_scopes_text(SCOPE_BIT(SCOPE_EVENTS), small,
	    sizeof(small)), 0);
	assert_string_equal(small, "events");
}

static void
test_key_shape(void **state)
{
	char	 k[AUTH_SERVICE_KEY_LEN + 2];

	(void)state;
	memcpy(k, "tk_", 3);
	memset(k + 3, 'A', 43);
	k[46] = '\0';
	assert_true(service_key_shaped(k));
	k[10] = '-';
	k[11] = '_';
	k[12] = '9';
	k[13] = 'z';
	assert_true(service_key_shaped(k));
	/* base64url only: no '+', '/', '=' or other bytes */
	k[20] = '+';
	assert_false(service_key_shaped(k));
	k[20] = '/';
	assert_false(service_key_shaped(k));
	k[20] = '=';
	assert_false(service_key_shaped(k));
	k[20] = '.';
	assert_false(service_key_shaped(k));
	k[20] = 'A';
	/* 43 characters exactly */
	k[46] = 'A';
	k[47] = '\0';
	assert_false(service_key_shaped(k));
	k[45] = '\0';
	assert_false(service_key_shaped(k));
	k[45] = 'A';
	k[46] = '\0';
	/* the prefix, in lower case */
	k[0] = 'T';
	assert_false(service_key_shaped(k));
	k[0] = 't';
	k[2] = '-';
	assert_false(service_key_shaped(k));
	assert_false(service_key_shaped(NULL));
	assert_false(service_key_shaped(""));
	assert_false(service_key_shaped("tk_"));
	/* an access token is no key */
	assert_false(service_key_shaped("eyJhbGciOiJIUzI1NiJ9.e30.abc"));
}

/* Keys lib/auth makes: the shape above, each new. */
static void
test_key_make(void **state)
{
	char		 a[AUTH_SERVICE_KEY_LEN + 1], b[AUTH_SERVICE_KEY_LEN + 1];
	unsigned char	 ha[32], hb[32];

	(void)state;
	assert_int_equal(auth_service_key(a), 0);
	assert_int_equal(auth_service_key(b), 0);
	assert_int_equal(strlen(a), SERVICE_KEY_LEN);
	assert_true(service_key_shaped(a));
	assert_true(service_key_shaped(b));
	assert_string_not_equal(a, b);
	auth_token_hash(a, ha);
	auth_token_hash(b, hb);
	assert_memory_not_equal(ha, hb, 32);
	/* the hash of a key is SHA-256 of its text: of "tk_" + 43 'A's */
	memcpy(a, "tk_", 3);
	memset(a + 3, 'A', 43);
	a[46] = '\0';
	auth_token_hash(a, ha);
	auth_token_hash(a, hb);
	assert_memory_equal(ha, hb, 32);
}

static void
test_scope_missing(void **state)
{
	unsigned	 ev = SCOPE_BIT(SCOPE_EVENTS), rec = SCOPE_BIT(SCOPE_RECORDS);

	(void)state;
	/* a route of any scope takes any key */
	assert_int_equal(service_scope_outcome(ev, 0), SERVICE_OK);
	assert_int_equal(service_scope_outcome(rec, 0), SERVICE_OK);
	assert_int_equal(service_scope_outcome(ev, ev), SERVICE_OK);
	assert_int_equal(service_scope_outcome(SCOPES_ALL, rec), SERVICE_OK);
	assert_int_equal(service_scope_outcome(ev, rec), SERVICE_SCOPE_RECORDS);
	assert_int_equal(service_scope_outcome(rec, ev), SERVICE_SCOPE_EVENTS);
	/* the first scope lacked, in the enum's order */
	assert_int_equal(service_scope_outcome(0, SCOPES_ALL),
	    SERVICE_SCOPE_EVENTS);
	assert_int_equal(service_scope_outcome(rec, SCOPES_ALL),
	    SERVICE_SCOPE_EVENTS);
	assert_int_equal(service_scope_outcome(ev, SCOPES_ALL),
	    SERVICE_SCOPE_RECORDS);
}

static void
test_touch_due(void **state)
{
	(void)state;
	assert_true(service_touch_due(0, 1000));
	assert_false(service_touch_due(100000, 100000));
	assert_false(service_touch_due(100000, 100000 + SERVICE_TOUCH_MS - 1));
	assert_true(service_touch_due(100000, 100000 + SERVICE_TOUCH_MS));
	assert_true(service_touch_due(100000, 1000000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_scopes_parse),
		cmocka_unit_test(test_scopes_text),
		cmocka_unit_test(test_key_shape),
		cmocka_unit_test(test_key_make),
		cmocka_unit_test(test_scope_missing),
		cmocka_unit_test(test_touch_due),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
