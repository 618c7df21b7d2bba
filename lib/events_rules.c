#include <string.h>

#include "events_rules.h"

static const char app_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";

/* An application event type: "app." followed by 1..60 of [a-z0-9._-]. */
int
app_type_valid(const char *type)
{
	size_t	 pre = sizeof(APP_TYPE_PREFIX) - 1, n;

	if (type == NULL || strncmp(type, APP_TYPE_PREFIX, pre) != 0)
		return 0;
	n = strlen(type + pre);
	return n >= 1 && n <= APP_NAME_MAX &&
	    strspn(type + pre, app_chars) == n;
}

/*
 * The user's floor: the newest seq no longer kept.  Events are only ever
 * deleted by the sweeper, which raises the stored floor in the same
 * transaction, so the floor is normally that; it is also checked against
 * what is really kept (min_kept, the oldest seq kept, 0 when none): a
 * cursor below a missing event must be refused, never given a page that
 * skips it.  A result above stored_floor means the bookkeeping failed
 * (the caller logs it).
 */
int64_t
events_floor(int64_t head, int64_t stored_floor, int64_t min_kept)
{
	int64_t	 kept = min_kept == 0 ? head : min_kept - 1;

	return kept > stored_floor ? kept : stored_floor;
}

/*
 * Where the next page starts: past the last event of a full page, else
 * at the head, so an `after` beyond the newest event (a cursor kept
 * across a restore) comes back as the newest and the events written
 * next are not below the caller's cursor; skipped events move it too.
 */
int64_t
events_cursor(int64_t head, int more, int64_t last_seq)
{
	return more ? last_seq : head;
}
