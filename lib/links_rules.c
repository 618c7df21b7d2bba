#include <string.h>

#include <openssl/sha.h>

#include "links_rules.h"

const char link_alphabet[33] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/*
 * A code's canonical form: one symbol per random byte (its low five
 * bits: 256 is a multiple of 32, so every symbol is equally likely),
 * eight of them and a NUL into canon.
 */
void
link_code_make(const unsigned char rnd[LINK_CODE_SYMBOLS],
    char canon[LINK_CODE_SYMBOLS + 1])
{
	size_t	 i;

	for (i = 0; i < LINK_CODE_SYMBOLS; i++)
		canon[i] = link_alphabet[rnd[i] & 31];
	canon[LINK_CODE_SYMBOLS] = '\0';
}

/* The code as a person reads it off the screen: XXXX-XXXX. */
void
link_code_show(const char canon[LINK_CODE_SYMBOLS + 1],
    char shown[LINK_SHOWN_LEN + 1])
{
	memcpy(shown, canon, 4);
	shown[4] = '-';
	memcpy(shown + 5, canon + 4, 4);
	shown[LINK_SHOWN_LEN] = '\0';
}

/* A symbol as Crockford decodes it (any case, O 0, I L 1), or 0. */
static char
symbol_of(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == 'O')
		return '0';
	if (c == 'I' || c == 'L')
		return '1';
	if (c != '\0' && strchr(link_alphabet, c) != NULL)
		return c;
	return 0;
}

/*
 * Read a code as a person typed it: in[0..len) decoded as Crockford's
 * base32 does (any case; O is 0, I and L are 1; U and every other
 * letter or sign are not symbols), hyphens ignored wherever they are,
 * blanks (space, tab) ignored before and after it but not inside it.
 * Its canonical eight symbols go to canon.  Returns 0, or -1 when it is
 * not eight symbols.
 */
int
link_code_parse(const char *in, size_t len, char canon[LINK_CODE_SYMBOLS + 1])
{
	size_t	 i, n = 0;
	char	 s;

	canon[0] = '\0';
	while (len > 0 && (in[0] == ' ' || in[0] == '\t')) {
		in++;
		len--;
	}
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	for (i = 0; i < len; i++) {
		if (in[i] == '-')
			continue;
		if ((s = symbol_of(in[i])) == 0 || n == LINK_CODE_SYMBOLS)
			return -1;
		canon[n++] = s;
	}
	if (n != LINK_CODE_SYMBOLS)
		return -1;
	canon[n] = '\0';
	return 0;
}

/*
 * What a token call answers for a link: found (a link of that id) and
 * secret_ok (its secret's hash matched) first, so that a wrong secret
 * learns nothing of the link; then its state.  A denial stands; a
 * pending or approved link is expired from expires_at on; tokens
 * handed out once are gone.
 */
enum link_answer
link_answer_of(int found, int secret_ok, enum link_status st,
    int64_t expires_at, int64_t now_ms)
{
	if (!found || !secret_ok)
		return LINK_ANSWER_NOT_FOUND;
	switch (st) {
	case LINK_DENIED:
		return LINK_ANSWER_DENIED;
	case LINK_HANDED_OUT:
		return LINK_ANSWER_EXPIRED;
	case LINK_APPROVED:
		return now_ms >= expires_at ? LINK_ANSWER_EXPIRED :
		    LINK_ANSWER_APPROVED;
	case LINK_PENDING:
		return now_ms >= expires_at ? LINK_ANSWER_EXPIRED :
		    LINK_ANSWER_PENDING;
	default:
		return LINK_ANSWER_NOT_FOUND;
	}
}

/* Whether a code's link may still be approved or denied: 1 or 0. */
int
link_decidable(enum link_status st, int64_t expires_at, int64_t now_ms)
{
	return st == LINK_PENDING && now_ms < expires_at;
}

/*
 * The wrong-code limit: recent[0..n) are a user's wrong codes of the
 * last LINK_MISS_WINDOW_MS, newest first.  With LINK_MISS_MAX of them
 * the user's approve and deny calls wait until the oldest of those
 * leaves the window.  Returns the milliseconds left (> 0), or 0 when the
 * user may try.
 */
int64_t
link_miss_retry_ms(const int64_t *recent, size_t n, int64_t now_ms)
{
	int64_t	 left;

	if (n < LINK_MISS_MAX)
		return 0;
	left = recent[LINK_MISS_MAX - 1] + LINK_MISS_WINDOW_MS - now_ms;
	return left > 0 ? left : 0;
}

/*
 * The doorbell key of a link (lib/doorbell counts in "user ids"): a
 * link has no user until it is approved, so its token calls wait on a
 * key of its own, below every user id (users' ids are positive): the
 * first 63 bits of SHA-256(id), negated.  Every host computes the same
 * key, so a ring carried to another host (PostgreSQL's notify) wakes
 * the calls waiting there.
 */
int64_t
link_ring_key(const char *link_id)
{
	unsigned char	 h[SHA256_DIGEST_LENGTH];
	uint64_t	 v = 0;
	size_t		 i;

	SHA256((const unsigned char *)link_id, strlen(link_id), h);
	for (i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return -1 - (int64_t)(v & INT64_MAX);
}
