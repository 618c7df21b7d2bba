/*
 * fuzz_email: email_normalize over arbitrary bytes (the input up to its
 * first NUL, as a C string).
 *
 * Invariants: a refusal comes with a reason and no string, an acceptance
 * with EMAIL_OK; an accepted form is 3..254 bytes of valid UTF-8 with one
 * '@' and no ASCII control or space, and is its own normal form (the
 * migration of stored emails and every comparison rest on that: a
 * normalised email normalises to itself).
 */
#include <string.h>

#include "email.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum email_err	 why, why2;
	char		*s, *norm, *again;
	size_t		 i, n, ats = 0;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	norm = email_normalize(s, &why);
	FUZZ_CHECK((norm == NULL) == (why != EMAIL_OK), "reason %d", why);
	FUZZ_CHECK(why < EMAIL_ERR__MAX, "reason %d", why);
	if (norm != NULL) {
		n = strlen(norm);
		FUZZ_CHECK(n >= 3 && n <= 254, "%zu bytes", n);
		for (i = 0; i < n; i++) {
			FUZZ_CHECK((unsigned char)norm[i] > ' ' &&
			    norm[i] != 0x7f, "byte %zu is 0x%02x", i,
			    (unsigned char)norm[i]);
			ats += norm[i] == '@';
		}
		FUZZ_CHECK(ats == 1, "%zu '@'", ats);
		again = email_normalize(norm, &why2);
		FUZZ_CHECK(again != NULL, "\"%s\" is refused (%d)", norm, why2);
		FUZZ_CHECK(strcmp(again, norm) == 0, "\"%s\" normalises to "
		    "\"%s\"", norm, again);
		free(again);
		free(norm);
	}
	free(s);
	return 0;
}
