/*
 * What the long poll (events.c) and the event stream (events_stream.c)
 * share: a request that waits in park for its user's events, the read of
 * a user's new events made once for all its waits, and the answers both
 * give.  Private to the two files.
 */
#ifndef TANDEM_EVENTS_WAIT_H
#define TANDEM_EVENTS_WAIT_H

#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "handlers.h"
#include "park.h"

#define POLL_LIMIT_MAX	1000
#define WAKE_READ_MAX	POLL_LIMIT_MAX

enum wait_kind { WAIT_POLL, WAIT_STREAM };

/*
 * A request waiting without a thread (lib/park): its query (the cursor
 * moves past the events its filters skip) and the request the
 * dispatcher handed over.  A stream also keeps the bytes its connection
 * has not taken yet.
 */
struct wait {
	struct park_entry pe;		/* first: park hands it back */
	enum wait_kind	 kind;
	struct held	 held;
	struct event_query q;
	char		 device_id[DB_ID_CAP];
	char		 family[AUTH_FAMILY_LEN + 1];
	char		 session_id[DB_ID_CAP];
	int		 exclude_self;
	int		 revoked;	/* a wake saw its device revoked */
	/* a stream's */
	struct buf	 out;		/* FastCGI records not yet sent */
	size_t		 out_off;	/* of out, sent */
	int		 request_id;	/* FastCGI's */
	int64_t		 last_write_us;	/* mono_us of its last block */
	int64_t		 end_us;	/* TANDEM_STREAM_MAX_S after it opened */
	int		 behind;	/* events remain past the last read */
	int		 ending;	/* its end is framed: close once sent */
};

/* One event of a shared wake, with what each wait filters it by. */
struct woke {
	int64_t		 seq;
	char		 type[DB_TYPE_CAP];
	char		 device_id[DB_ID_CAP];
	char		 session_id[DB_ID_CAP];
	char		 revoked[DB_ID_CAP];	/* device.revoked's device */
	json_t		*json;
};

/* The events of one user after a cursor, read once for all its waits. */
struct wake_read {
	struct woke	*v;
	size_t		 n;
	size_t		 cap;
	int		 more;		/* rows remain past the last */
	int64_t		 limit;
};

/* One page of events as a poll answers it. */
struct page {
	json_t		*events;
	int64_t		 cursor;
	int		 more;
	int64_t		 floor;
	int		 device_active;
	int64_t		 limit;
	int64_t		 last;
};

/* events.c */
int	 page_read(struct db *, const struct event_query *, struct page *);
int	 revoked_answer(struct resp *);
int	 expired_answer(struct resp *, int64_t floor);
int	 wait_refused(struct req *, struct resp *);
struct wait *wait_new(struct req *, const struct event_query *,
	    enum wait_kind);
void	 wait_free(struct wait *);
int	 wait_skips(const struct wait *, const struct woke *);
int	 wake_read(struct db *, int64_t user_id, int64_t after,
	    struct wake_read *, struct event_head *);
void	 wake_read_release(struct wake_read *);
void	 wake_mark_revoked(struct db *, const struct wake_read *,
	    struct park_entry **, size_t);

/* events_stream.c */
int	 wants_stream(const struct req *);
int	 events_stream(struct req *, struct resp *, struct event_query *);
void	 stream_take(struct wait *, const struct wake_read *, int64_t head,
	    int64_t floor);
void	 stream_expire(struct wait *);
void	 stream_gone(struct wait *);
void	 stream_stop(struct wait *);
void	 stream_writable(struct wait *);

#endif
