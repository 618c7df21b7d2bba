/*
 * events_rules: the pure decisions of the events log: the application
 * event types, the floor below which a cursor has missed events, and
 * where a page's cursor ends.  No I/O (tests/unit/test_events_rules.c).
 */
#ifndef TANDEM_EVENTS_RULES_H
#define TANDEM_EVENTS_RULES_H

#include <stdint.h>

#define APP_TYPE_PREFIX	"app."
#define APP_NAME_MAX	60

int	 app_type_valid(const char *type);
int64_t	 events_floor(int64_t head, int64_t stored_floor, int64_t min_kept);
int64_t	 events_cursor(int64_t head, int more, int64_t last_seq);

#endif
