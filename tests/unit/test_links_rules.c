/*
 * Unit tests of lib/links_rules, without a database: codes made from
 * random bytes (every symbol reachable, none of I L O U), written
 * XXXX-XXXX, read as Crockford decodes them; what a token call answers
 * in every state of its link; whether a code may be decided; the
 * wrong-code limit and its Retry-After; a link's doorbell key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "links_rules.h"

#define NOW	1700000000000LL		/* ms */

static void
test_alphabet(void **state)
{
	(void)state;
	assert_int_equal(strlen(link_alphabet), 32);
	assert_null(strpbrk(link_alphabet, "ILOU"));
	assert_string_equal(link_alphabet, "0123456789ABCDEFGHJKMNPQRSTVWXYZ");
}

static void
test_code_make(void **state)
{
	unsigned char	 rnd[LINK_CODE_SYMBOLS];
	char		 canon[LINK_CODE_SYMBOLS + 1];
	int		 seen[32], i, j;

	(void)state;
	memset(seen, 0, sizeof(seen));
	/* every byte value: each symbol reached, eight of them, a NUL */
	for (i = 0; i < 256; i += LINK_CODE_SYMBOLS) {
		for (j = 0; j < LINK_CODE_SYMBOLS; j++)
			rnd[j] = (unsigned char)(i + j);
		link_code_make(rnd, canon);
		assert_int_equal(strlen(canon), LINK_CODE_SYMBOLS);
		for (j = 0; j < LINK_CODE_SYMBOLS; j++) {
			const char *p = strchr(link_alphabet, canon[j]);

			assert_non_null(p);
			seen[p - link_alphabet]++;
		}
	}
	/* 256 bytes over 32 symbols: each exactly 8 times (no bias) */
	for (i = 0; i < 32; i++)
		assert_int_equal(seen[i], 8);
	memset(rnd, 0, sizeof(rnd));
	link_code_make(rnd, canon);
	assert_string_equal(canon, "00000000");
	memset(rnd, 0xff, sizeof(rnd));
	link_code_make(rnd, canon);
	assert_string_equal(canon, "ZZZZZZZZ");
}

static void
test_code_show(void **state)
{
	char	 shown[LINK_SHOWN_LEN + 1];

	(void)state;
	link_code_show("ABCD1234", shown);
	assert_string_equal(shown, "ABCD-1234");
	assert_int_equal(strlen(shown), 9);
}

/* parse s, expecting canon (or NULL: refused). */
static void
parse_is(const char *s, const char *want)
{
	char	 canon[LINK_CODE_SYMBOLS + 1];
	int	 rc = link_code_parse(s, strlen(s), canon);

	if (want == NULL) {
		if (rc != -1)
			fail_msg("'%s' read as '%s', want refused", s, canon);
		return;
	}
	if (rc != 0)
		fail_msg("'%s' refused, want '%s'", s, want);
	assert_string_equal(canon, want);
}

static void
test_code_parse(void **state)
{
	char	 canon[LINK_CODE_SYMBOLS + 1];

	(void)state;
	parse_is("ABCD-1234", "ABCD1234");
	parse_is("ABCD1234", "ABCD1234");
	parse_is("abcd-1234", "ABCD1234");
	parse_is("aBcD1234", "ABCD1234");
	/* O is 0; I and L are 1, in either case */
	parse_is("OOOO-oooo", "00000000");
	parse_is("IiLl-1111", "11111111");
	parse_is("HJKM-NPQR", "HJKMNPQR");
	parse_is("STVW-XYZ0", "STVWXYZ0");
	/* hyphens anywhere, blanks around */
	parse_is("A-B-C-D-1-2-3-4", "ABCD1234");
	parse_is("--ABCD1234--", "ABCD1234");
	parse_is("  ABCD-1234\t", "ABCD1234");
	/* not eight symbols, or not symbols */
	parse_is("", NULL);
	parse_is("----", NULL);
	parse_is("ABCD-123", NULL);
	parse_is("ABCD-12345", NULL);
	parse_is("ABCD-123U", NULL);	/* U is no symbol */
	parse_is("ABCD 1234", NULL);	/* a blank inside */
	parse_is("ABCD_1234", NULL);
	parse_is("ABCD-123*", NULL);
	parse_is("ÄBCD-1234", NULL);
	parse_is("ABCDEFGHJKMN", NULL);
	/* a NUL inside the string is not a symbol either */
	assert_int_equal(link_code_parse("ABCD\0" "1234", 9, canon), -1);
	/* the length is the caller's: a longer buffer is cut */
	assert_int_equal(link_code_parse("ABCD12345678", 8, canon), 0);
	assert_string_equal(canon, "ABCD1234");
}

/* Whatever a code is made of reads back as itself, shown or not. */
static void
test_code_round_trip(void **state)
{
	unsigned char	 rnd[LINK_CODE_SYMBOLS];
	char		 canon[LINK_CODE_SYMBOLS + 1], back[LINK_CODE_SYMBOLS + 1];
	char		 shown[LINK_SHOWN_LEN + 1];
	unsigned	 x = 12345;
	int		 i, j;

	(void)state;
	for (i = 0; i < 1000; i++) {
		for (j = 0; j < LINK_CODE_SYMBOLS; j++) {
			x = x * 1103515245u + 12345u;
			rnd[j] = (unsigned char)(x >> 16);
		}
		link_code_make(rnd, canon);
		link_code_show(canon, shown);
		assert_int_equal(link_code_parse(shown, strlen(shown), back), 0);
		assert_string_equal(back, canon);
		assert_int_equal(link_code_parse(canon, strlen(canon), back), 0);
		assert_string_equal(back, canon);
	}
}

static void
test_answer(void **state)
{
	int64_t	 exp = NOW + 1000;

	(void)state;
	/* no link, or a wrong secret: the same, whatever the state */
	assert_int_equal(link_answer_of(0, 0, LINK_PENDING, exp, NOW),
	    LINK_ANSWER_NOT_FOUND);
	assert_int_equal(link_answer_of(1, 0, LINK_APPROVED, exp, NOW),
	    LINK_ANSWER_NOT_FOUND);
	assert_int_equal(link_answer_of(1, 0, LINK_DENIED, exp, NOW),
	    LINK_ANSWER_NOT_FOUND);
	assert_int_equal(link_answer_of(1, 0, LINK_HANDED_OUT, exp, NOW),
	    LINK_ANSWER_NOT_FOUND);
	assert_int_equal(link_answer_of(1, 0, LINK_PENDING, NOW - 1, NOW),
	    LINK_ANSWER_NOT_FOUND);
	/* pending: wait, until its expiry */
	assert_int_equal(link_answer_of(1, 1, LINK_PENDING, exp, NOW),
	    LINK_ANSWER_PENDING);
	assert_int_equal(link_answer_of(1, 1, LINK_PENDING, exp, exp - 1),
	    LINK_ANSWER_PENDING);
	assert_int_equal(link_answer_of(1, 1, LINK_PENDING, exp, exp),
	    LINK_ANSWER_EXPIRED);
	/* approved: the tokens, until its expiry */
	assert_int_equal(link_answer_of(1, 1, LINK_APPROVED, exp, NOW),
	    LINK_ANSWER_APPROVED);
	assert_int_equal(link_answer_of(1, 1, LINK_APPROVED, exp, exp),
	    LINK_ANSWER_EXPIRED);
	/* handed out once: gone, expired or not */
	assert_int_equal(link_answer_of(1, 1, LINK_HANDED_OUT, exp, NOW),
	    LINK_ANSWER_EXPIRED);
	assert_int_equal(link_answer_of(1, 1, LINK_HANDED_OUT, exp, exp + 1),
	    LINK_ANSWER_EXPIRED);
	/* a denial stands, even past the expiry */
	assert_int_equal(link_answer_of(1, 1, LINK_DENIED, exp, NOW),
	    LINK_ANSWER_DENIED);
	assert_int_equal(link_answer_of(1, 1, LINK_DENIED, exp, exp + 5000),
	    LINK_ANSWER_DENIED);
	/* a status the rules do not know is no link */
	assert_int_equal(link_answer_of(1, 1, LINK__MAX, exp, NOW),
	    LINK_ANSWER_NOT_FOUND);
}

static void
test_decidable(void **state)
{
	int64_t	 exp = NOW + 1000;

	(void)state;
	assert_int_equal(link_decidable(LINK_PENDING, exp, NOW), 1);
	assert_int_equal(link_decidable(LINK_PENDING, exp, exp - 1), 1);
	assert_int_equal(link_decidable(LINK_PENDING, exp, exp), 0);
	assert_int_equal(link_decidable(LINK_APPROVED, exp, NOW), 0);
	assert_int_equal(link_decidable(LINK_DENIED, exp, NOW), 0);
	assert_int_equal(link_decidable(LINK_HANDED_OUT, exp, NOW), 0);
}

static void
test_miss_limit(void **state)
{
	int64_t	 at[LINK_MISS_MAX];
	size_t	 i;

	(void)state;
	assert_int_equal(LINK_MISS_MAX, 5);
	assert_int_equal(LINK_MISS_WINDOW_MS, 600000);
	/* newest first: one a second, the oldest 4 s ago */
	for (i = 0; i < LINK_MISS_MAX; i++)
		at[i] = NOW - (int64_t)i * 1000;
	/* fewer than five: may try */
	for (i = 0; i < LINK_MISS_MAX; i++)
		assert_int_equal(link_miss_retry_ms(at, i, NOW), 0);
	/* five: until the oldest leaves the window */
	assert_int_equal(link_miss_retry_ms(at, 5, NOW),
	    LINK_MISS_WINDOW_MS - 4000);
	assert_int_equal(link_miss_retry_ms(at, 5, NOW + 1000),
	    LINK_MISS_WINDOW_MS - 5000);
	assert_int_equal(link_miss_retry_ms(at, 5,
	    NOW - 4000 + LINK_MISS_WINDOW_MS - 1), 1);
	assert_int_equal(link_miss_retry_ms(at, 5,
	    NOW - 4000 + LINK_MISS_WINDOW_MS), 0);
	assert_int_equal(link_miss_retry_ms(at, 5,
	    NOW + 2 * LINK_MISS_WINDOW_MS), 0);
}

static void
test_ring_key(void **state)
{
	int64_t	 a, b;

	(void)state;
	a = link_ring_key("l_0123456789abcdef0123456789abcdef");
	b = link_ring_key("l_0123456789abcdef0123456789abcdee");
	/* below every user id, the same on every call (every host) */
	assert_true(a < 0);
	assert_true(b < 0);
	assert_true(a != b);
	assert_int_equal(a, link_ring_key("l_0123456789abcdef0123456789abcdef"));
	assert_true(link_ring_key("") < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alphabet),
		cmocka_unit_test(test_code_make),
		cmocka_unit_test(test_code_show),
		cmocka_unit_test(test_code_parse),
		cmocka_unit_test(test_code_round_trip),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_decidable),
		cmocka_unit_test(test_miss_limit),
		cmocka_unit_test(test_ring_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
