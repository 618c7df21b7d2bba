/*
 * buf: a bounded, growable byte buffer (after curl's dynbuf and git's
 * strbuf).  The contents are always NUL-terminated.  A buffer that would
 * grow past its limit fails instead, so no input can make it grow without
 * bound.
 */
#ifndef TANDEM_BUF_H
#define TANDEM_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;		/* NUL-terminated contents, or NULL when empty */
	size_t	 len;		/* bytes used, not counting the NUL */
	size_t	 cap;		/* bytes allocated */
	size_t	 max;		/* most bytes len may reach */
};

#define BUF_MAX_DEFAULT	(64u * 1024 * 1024)

void	 buf_init(struct buf *, size_t max);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_adds(struct buf *, const char *);
int	 buf_addi(struct buf *, long long);
int	 buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vaddf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
const char *buf_str(const struct buf *);
void	 buf_reset(struct buf *);
char	*buf_detach(struct buf *);
void	 buf_release(struct buf *);

#endif
