#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"

static const char *const level_names[LOG__MAX] = {
	"debug", "info", "warn", "error"
};

static enum log_level min_level = LOG_INFO;

void
log_set_level(const char *name)
{
	int	 i;

	for (i = 0; name != NULL && i < LOG__MAX; i++)
		if (strcmp(name, level_names[i]) == 0)
			min_level = (enum log_level)i;
}

int
log_enabled(enum log_level lvl)
{
	return lvl >= min_level;
}

/*
 * Write one JSON line.  Takes ownership of fields (may be NULL).  The line
 * is written with one write(2) so lines of concurrent threads and
 * processes never interleave.
 */
void
log_json(enum log_level lvl, const char *msg, json_t *fields)
{
	struct timeval	 tv;
	json_t		*o;
	char		*line;
	size_t		 len;

	if (!log_enabled(lvl)) {
		json_decref(fields);
		return;
	}
	gettimeofday(&tv, NULL);
	o = fields ? fields : json_object();
	if (o == NULL)
		return;
	json_object_set_new(o, "ts", json_integer((json_int_t)tv.tv_sec * 1000 +
	    tv.tv_usec / 1000));
	json_object_set_new(o, "level", json_string(level_names[lvl]));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "msg", json_string(msg));
	line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(6));
	json_decref(o);
	if (line == NULL)
		return;
	len = strlen(line);
	line[len] = '\n';
	/* json_dumps leaves room only for the NUL, which we overwrite. */
	(void)!write(STDERR_FILENO, line, len + 1);
	free(line);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_json(lvl, msg, NULL);
}
