/*
 * links_rules: the pure decisions of linking a device by code (API.md
 * "Linking a device without its password"): how a code is written and
 * read (Crockford's base32), what a token call answers for a link's
 * state, whether a code may be approved or denied, the wrong-code limit,
 * and the doorbell key a link's waiting token calls listen on.  No I/O:
 * plain values in, a decision out (tests/unit/test_links_rules.c).
 */
#ifndef TANDEM_LINKS_RULES_H
#define TANDEM_LINKS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define LINK_CODE_SYMBOLS	8
#define LINK_SHOWN_LEN		(LINK_CODE_SYMBOLS + 1)	/* XXXX-XXXX */
#define LINK_MISS_MAX		5		/* wrong codes ... */
#define LINK_MISS_WINDOW_MS	(10 * 60 * 1000)	/* ... within this */

/* Crockford's 32 symbols: 0-9 A-Z less I L O U. */
extern const char link_alphabet[33];

/* What a token call answers for the link as stored. */
enum link_answer {
	LINK_ANSWER_PENDING,	/* wait, or 202 */
	LINK_ANSWER_APPROVED,	/* hand the tokens out: 200 */
	LINK_ANSWER_DENIED,	/* 403 LINK_DENIED */
	LINK_ANSWER_EXPIRED,	/* 410 LINK_EXPIRED (or handed out) */
	LINK_ANSWER_NOT_FOUND,	/* 404 LINK_NOT_FOUND: no link, wrong secret */
	LINK_ANSWER__MAX
};

void	 link_code_make(const unsigned char rnd[LINK_CODE_SYMBOLS],
	    char canon[LINK_CODE_SYMBOLS + 1]);
void	 link_code_show(const char canon[LINK_CODE_SYMBOLS + 1],
	    char shown[LINK_SHOWN_LEN + 1]);
int	 link_code_parse(const char *in, size_t len,
	    char canon[LINK_CODE_SYMBOLS + 1]);
enum link_answer link_answer_of(int found, int secret_ok,
	    enum link_status, int64_t expires_at, int64_t now_ms);
int	 link_decidable(enum link_status, int64_t expires_at, int64_t now_ms);
int64_t	 link_miss_retry_ms(const int64_t *recent, size_t n, int64_t now_ms);
int64_t	 link_ring_key(const char *link_id);

#endif
