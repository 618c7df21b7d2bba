/*
 * email: the one form an email address is compared and stored in (1.1).
 * A raw address is refused when it is not UTF-8 or holds a control, a
 * format character (zero-width space, bidi controls) or a line or
 * paragraph separator; otherwise it is put in Unicode NFKC with full case
 * folding (utf8proc's NFKC_Casefold: José, JOSE + U+0301 and fullwidth
 * ＪＯＳÉ are one address, ß is ss), and the result must have the shape
 * name@domain.tld in 3..254 bytes.
 */
#ifndef TANDEM_EMAIL_H
#define TANDEM_EMAIL_H

/* An input longer than this is refused before any work. */
#define EMAIL_INPUT_MAX	1024

enum email_err {
	EMAIL_OK,
	EMAIL_ENCODING,		/* not UTF-8 */
	EMAIL_FORBIDDEN,	/* Cc, Cf, Zl or Zp: invisible or controls */
	EMAIL_SHAPE,		/* not name@domain.tld once normalised */
	EMAIL_LENGTH,		/* not 3..254 bytes once normalised */
	EMAIL_NOMEM,
	EMAIL_ERR__MAX
};

/* Indexed by enum email_err: a sentence for a 400's detail or a log. */
extern const char *const email_err_text[EMAIL_ERR__MAX];

char	*email_normalize(const char *raw, enum email_err *why);

#endif
