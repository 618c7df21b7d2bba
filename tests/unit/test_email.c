/*
 * Unit tests of lib/email: NFKC normalisation with full case folding,
 * the characters refused before it (controls, format characters, line and
 * paragraph separators), the shape checked after it, invalid UTF-8 and
 * lengths.  Non-ASCII characters are spelt as UTF-8 byte escapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "email.h"

/* The normalised form of raw must be want. */
static void
normal_is(const char *raw, const char *want)
{
	enum email_err	 why = EMAIL_ERR__MAX;
	char		*got;

	got = email_normalize(raw, &why);
	if (got == NULL)
		fail_msg("\"%s\": refused (%s), want \"%s\"", raw,
		    why < EMAIL_ERR__MAX ? email_err_text[why] : "?", want);
	assert_int_equal(why, EMAIL_OK);
	assert_string_equal(got, want);
	free(got);
}

/* raw must be refused for the reason want. */
static void
refused(const char *raw, enum email_err want)
{
	enum email_err	 why = EMAIL_OK;
	char		*got;

	got = email_normalize(raw, &why);
	if (got != NULL)
		fail_msg("\"%s\": accepted as \"%s\"", raw, got);
	assert_int_equal(why, want);
}

#define JOSE	"jos\xc3\xa9@x.org"	/* josé, é composed (U+00E9) */

static void
test_ascii_unchanged(void **state)
{
	(void)state;
	normal_is("a@example.com", "a@example.com");
	normal_is("first.last+tag@sub.example.org",
	    "first.last+tag@sub.example.org");
	normal_is("jose@x.org", "jose@x.org");
	normal_is("ALICE@Example.COM", "alice@example.com");
}

static void
test_look_alikes(void **state)
{
	(void)state;
	normal_is(JOSE, JOSE);
	/* É (U+00C9) */
	normal_is("JOS\xc3\x89@x.org", JOSE);
	normal_is("Jos\xc3\xa9@X.org", JOSE);
	/* e + combining acute (U+0301), lower and upper */
	normal_is("jose\xcc\x81@x.org", JOSE);
	normal_is("JOSE\xcc\x81@x.org", JOSE);
	/* fullwidth ｊｏｓ (U+FF4A U+FF4F U+FF53) and ＪＯＳ, ＠ (U+FF20), ｘ */
	normal_is("\xef\xbd\x8a\xef\xbd\x8f\xef\xbd\x93\xc3\xa9@x.org", JOSE);
	normal_is("\xef\xbc\xaa\xef\xbc\xaf\xef\xbc\xb3\xc3\x89\xef\xbc\xa0"
	    "\xef\xbd\x98.org", JOSE);
	/* the Kelvin sign (U+212A) is a K */
	normal_is("\xe2\x84\xaa" "elvin@x.org", "kelvin@x.org");
	/* full case folding: ß (U+00DF) and ẞ (U+1E9E) are ss */
	normal_is("stra\xc3\x9f" "e@x.org", "strasse@x.org");
	normal_is("STRA\xe1\xba\x9e" "E@x.org", "strasse@x.org");
	normal_is("STRASSE@x.org", "strasse@x.org");
	/* a variation selector (U+FE0F) is ignorable: it goes */
	normal_is("alice\xef\xb8\x8f@x.org", "alice@x.org");
	/* the ﬁ ligature (U+FB01) is fi */
	normal_is("\xef\xac\x81" "nn@x.org", "finn@x.org");
	/* already normal: idempotent */
	normal_is("strasse@x.org", "strasse@x.org");
}

/* Near misses stay different: an accent is not dropped. */
static void
test_near_misses(void **state)
{
	enum email_err	 why;
	char		*a, *b;

	(void)state;
	a = email_normalize("jose@x.org", &why);
	b = email_normalize(JOSE, &why);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void
test_forbidden(void **state)
{
	static const char *const bad[] = {
		"alice@x.org\xe2\x80\x8b",	/* zero-width space U+200B */
		"ali\xe2\x80\x8b" "ce@x.org",
		"alice\xe2\x80\x8c@x.org",	/* ZWNJ U+200C */
		"alice\xe2\x80\x8d@x.org",	/* ZWJ U+200D */
		"alice\xe2\x80\x8e@x.org",	/* LRM U+200E */
		"\xe2\x80\xae" "alice@x.org",	/* RLO U+202E */
		"alice\xe2\x81\xa6@x.org",	/* LRI U+2066 */
		"alice\xe2\x81\xa9@x.org",	/* PDI U+2069 */
		"alice\xef\xbb\xbf@x.org",	/* BOM U+FEFF */
		"ali\xc2\xad" "ce@x.org",	/* soft hyphen U+00AD */
		"alice\xe2\x81\xa0@x.org",	/* word joiner U+2060 */
		"alice\xe2\x80\xa8@x.org",	/* line separator U+2028 */
		"alice\xe2\x80\xa9@x.org",	/* paragraph separator U+2029 */
		"alice\xc2\x85@x.org",		/* NEL U+0085 (Cc) */
		"alice\x07@x.org",		/* BEL */
		"alice\t@x.org",
		"alice@x.org\n",
		"alice\x7f@x.org",		/* DEL */
		"alice\xf3\xa0\x80\x81@x.org",	/* language tag U+E0001 */
		NULL
	};
	size_t	 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		refused(bad[i], EMAIL_FORBIDDEN);
}

static void
test_invalid_utf8(void **state)
{
	(void)state;
	refused("jos\xc3@x.org", EMAIL_ENCODING);		/* truncated */
	refused("jos\x80@x.org", EMAIL_ENCODING);		/* lone continuation */
	refused("jos\xc0\x80@x.org", EMAIL_ENCODING);		/* overlong NUL */
	refused("jos\xe0\x80\xa9@x.org", EMAIL_ENCODING);	/* overlong */
	refused("jos\xed\xa0\x80@x.org", EMAIL_ENCODING);	/* surrogate */
	refused("jos\xf4\x90\x80\x80@x.org", EMAIL_ENCODING);	/* > U+10FFFF */
	refused("jos\xff@x.org", EMAIL_ENCODING);
	refused("x.org@jos\xc3", EMAIL_ENCODING);		/* at the end */
}

/* Today's shape rules, applied to the normalised form. */
static void
test_shape(void **state)
{
	(void)state;
	refused("a@b", EMAIL_SHAPE);
	refused("@example.com", EMAIL_SHAPE);
	refused("a@@example.com", EMAIL_SHAPE);
	refused("a@b@example.com", EMAIL_SHAPE);
	refused("a b@example.com", EMAIL_SHAPE);
	refused("a@example.", EMAIL_SHAPE);
	refused("a@.com", EMAIL_SHAPE);
	refused("no-at-sign.example.com", EMAIL_SHAPE);
	/* a fullwidth ＠ is an @: two of them after normalisation */
	refused("a\xef\xbc\xa0" "b@example.com", EMAIL_SHAPE);
	/* a fullwidth full stop (U+FF0E) ends the domain in a dot */
	refused("a@example\xef\xbc\x8e", EMAIL_SHAPE);
	/* white space after normalisation: no-break space (U+00A0) is a
	 * space, the ideographic space (U+3000) too; the Ogham space mark
	 * (U+1680) stays a space */
	refused("ali\xc2\xa0" "ce@x.org", EMAIL_SHAPE);
	refused("ali\xe3\x80\x80" "ce@x.org", EMAIL_SHAPE);
	refused("ali\xe1\x9a\x80" "ce@x.org", EMAIL_SHAPE);
}

static void
test_lengths(void **state)
{
	char	 s[2048], want[300];
	size_t	 i;

	(void)state;
	refused("", EMAIL_LENGTH);
	refused("a@", EMAIL_LENGTH);
	refused(NULL, EMAIL_LENGTH);
	/* 254 bytes is the most */
	memset(s, 'a', 244);
	memcpy(s + 244, "@xyzw.org", 10);
	assert_int_equal(strlen(s), 253);
	normal_is(s, s);
	memcpy(s + 244, "@xyzwv.org", 11);
	assert_int_equal(strlen(s), 254);
	normal_is(s, s);
	memcpy(s + 244, "@xyzwvu.org", 12);
	refused(s, EMAIL_LENGTH);
	/* 80 x ㌀ (U+3300, 3 bytes) is 246 bytes with the domain, 966 once
	 * normalised (アパート each): over-long as a result */
	for (i = 0; i < 80; i++)
		memcpy(s + 3 * i, "\xe3\x8c\x80", 3);
	memcpy(s + 240, "@x.org", 7);
	refused(s, EMAIL_LENGTH);
	/* 90 x fullwidth ａ (U+FF41) is 276 bytes, 96 once normalised: the
	 * result's length counts, not the input's */
	for (i = 0; i < 90; i++)
		memcpy(s + 3 * i, "\xef\xbd\x81", 3);
	memcpy(s + 270, "@x.org", 7);
	memset(want, 'a', 90);
	memcpy(want + 90, "@x.org", 7);
	normal_is(s, want);
	/* an input over 1024 bytes is refused before any work */
	memset(s, 'a', 1100);
	memcpy(s + 1100, "@x.org", 7);
	refused(s, EMAIL_LENGTH);
}

static void
test_texts(void **state)
{
	int	 i;

	(void)state;
	for (i = 0; i < EMAIL_ERR__MAX; i++) {
		assert_non_null(email_err_text[i]);
		assert_true(strlen(email_err_text[i]) > 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_unchanged),
		cmocka_unit_test(test_look_alikes),
		cmocka_unit_test(test_near_misses),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_texts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
