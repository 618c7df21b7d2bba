#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "email.h"

#define EMAIL_MIN	3
#define EMAIL_MAX	254

const char *const email_err_text[EMAIL_ERR__MAX] = {
	"email is valid",
	"email must be UTF-8",
	"email must not hold control or format characters",
	"email must look like name@example.com",
	"email must be 3..254 bytes once normalised",
	"out of memory",
};

/*
 * Refuse what is not UTF-8 (utf8proc's decoder rejects overlong forms,
 * surrogates and code points past U+10FFFF) and the characters a reader
 * cannot see or that steer the text around them: controls (Cc), format
 * characters (Cf: zero-width space and joiners, bidi controls, the BOM,
 * the soft hyphen, tags) and line and paragraph separators (Zl, Zp).
 * This runs on the raw input: NFKC_Casefold would silently drop most
 * format characters, and a refused address must not become another.
 */
static enum email_err
raw_check(const char *s, size_t n)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 len;
	size_t			 i = 0;

	while (i < n) {
		len = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
		if (len < 0)
			return EMAIL_ENCODING;
		switch (utf8proc_category(cp)) {
		case UTF8PROC_CATEGORY_CC:
		case UTF8PROC_CATEGORY_CF:
		case UTF8PROC_CATEGORY_ZL:
		case UTF8PROC_CATEGORY_ZP:
			return EMAIL_FORBIDDEN;
		default:
			break;
		}
		i += (size_t)len;
	}
	return EMAIL_OK;
}

/*
 * The shape of a normalised address: one '@' with a non-empty local part
 * and a domain holding a dot that neither starts nor ends it, and no white
 * space: ASCII (0x20 and below, DEL) or Unicode (Zs: what NFKC leaves of
 * it, such as U+1680).  s is valid UTF-8.
 */
static int
shape_ok(const char *s, size_t n)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	const char		*at, *dot;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 len;
	size_t			 i;

	for (i = 0; i < n; i += (size_t)len) {
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
		len = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
		if (len < 0 || utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS)
			return 0;
	}
	if ((at = strchr(s, '@')) == NULL || at == s ||
	    strchr(at + 1, '@') != NULL)
		return 0;
	if ((dot = strrchr(at + 1, '.')) == NULL || dot == at + 1 ||
	    dot[1] == '\0' || at[1] == '.')
		return 0;
	return 1;
}

/*
 * The normalised form of the raw address: NFKC with full case folding,
 * default-ignorable code points (variation selectors) removed, then
 * shape-checked.  Returns a new string (free() it), or NULL with *why
 * saying which rule failed (EMAIL_NOMEM: none did).  A NULL raw is empty.
 */
char *
email_normalize(const char *raw, enum email_err *why)
{
	char		*norm = NULL, *ret = NULL;
	size_t		 n;

	*why = EMAIL_LENGTH;
	n = raw == NULL ? 0 : strnlen(raw, EMAIL_INPUT_MAX + 1);
	if (n == 0 || n > EMAIL_INPUT_MAX)
		goto out;
	*why = raw_check(raw, n);
	if (*why != EMAIL_OK)
		goto out;
	norm = (char *)utf8proc_NFKC_Casefold((const utf8proc_uint8_t *)raw);
	if (norm == NULL) {
		/* the input is valid UTF-8: only memory can fail */
		*why = EMAIL_NOMEM;
		goto out;
	}
	n = strlen(norm);
	if (n < EMAIL_MIN || n > EMAIL_MAX) {
		*why = EMAIL_LENGTH;
		goto out;
	}
	if (!shape_ok(norm, n)) {
		*why = EMAIL_SHAPE;
		goto out;
	}
	*why = EMAIL_OK;
	ret = norm;
	norm = NULL;
out:
	free(norm);
	return ret;
}
