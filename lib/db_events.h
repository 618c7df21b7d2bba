/*
 * db_events: the per-user events log that /events serves.  Every
 * capability appends its events inside its own write transaction with
 * db_event_add(); the commit rings the user's doorbell.
 */
#ifndef TANDEM_DB_EVENTS_H
#define TANDEM_DB_EVENTS_H

#include <jansson.h>
#include <stdint.h>

struct db;

int	 db_event_add(struct db *, int64_t user_id, const char *device_id,
	    const char *type, const char *session_id, json_t *data,
	    int64_t *seq);

#endif
