/*
 * log: application logs as JSON lines on standard error, one object per
 * line with "ts" (ms since the epoch), "level", "pid" and the caller's
 * members.  Never log a password, token or secret: callers pass only
 * identifiers.
 */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG__MAX };

void	 log_set_level(const char *);
int	 log_enabled(enum log_level);
void	 log_json(enum log_level, const char *msg, json_t *fields);
void	 log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
