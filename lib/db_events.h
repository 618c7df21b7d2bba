/*
 * db_events: the per-user events log that /events serves.  Every
 * capability appends its events inside its own write transaction with
 * db_event_add(); the commit rings the user's doorbell.
 *
 * Each user counts events from 1 (users.event_seq holds the newest seq);
 * the sweeper deletes events older than TANDEM_EVENT_DAYS and raises
 * users.event_floor to the newest seq it deleted, so a cursor below the
 * floor is known to have missed events (410 CURSOR_EXPIRED).
 */
#ifndef TANDEM_DB_EVENTS_H
#define TANDEM_DB_EVENTS_H

#include <jansson.h>
#include <stdint.h>

struct db;

/* What to list: events after a cursor, optionally filtered. */
struct event_query {
	int64_t		 user_id;
	int64_t		 after;		/* seq > after */
	int64_t		 limit;		/* at most this many */
	const char	*exclude_device; /* skip this device's own, or NULL */
	const char	*session_id;	/* only this session's, or NULL */
	/* The polling device and its login family: the page says whether
	 * the device is still active (NULL device_id: not checked). */
	const char	*device_id;
	const char	*family;
};

/*
 * One page.  events (an array of {seq, type, at, device_id, data}) is
 * the caller's to json_decref.  cursor is where the next page starts:
 * past every event the filters skipped, never below the query's after.
 * When floor > the query's after, events were pruned that the caller
 * never saw: the caller must not serve the page (410 CURSOR_EXPIRED).
 */
struct event_page {
	json_t		*events;
	int64_t		 cursor;
	int		 more;		/* more after this page */
	int64_t		 head;		/* users.event_seq */
	int64_t		 floor;		/* newest seq no longer kept */
	int		 device_active;	/* not revoked, same login */
};

int	 db_event_add(struct db *, int64_t user_id, const char *device_id,
	    const char *type, const char *session_id, json_t *data,
	    int64_t *seq);
int	 db_event_get(struct db *, int64_t user_id, int64_t seq,
	    json_t **event);
int	 db_events_head(struct db *, int64_t user_id, int64_t *head,
	    int64_t *floor);
int	 db_events_list(struct db *, const struct event_query *,
	    struct event_page *);
int	 db_events_sweep(struct db *, int64_t now_ms);

#endif
