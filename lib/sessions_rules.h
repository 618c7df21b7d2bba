/*
 * sessions_rules: the pure decisions of sessions: the primary role's
 * lease, claim, renewal, release, transfer and failover (with its fencing
 * epoch), the session lock (with its fencing token), what a message may
 * do (kill, auto from the primary, the dedup window) and the times that
 * never go back within a session.  Plain values in, a decision out; the
 * operations in handlers/sessions.c and handlers/messages.c read the
 * session row, decide here, and write what was decided.
 */
#ifndef TANDEM_SESSIONS_RULES_H
#define TANDEM_SESSIONS_RULES_H

#include <stdint.h>

#include "store.h"

/* The outcome of every sessions and messages operation. */
enum session_outcome {
	SESSION_OK,
	SESSION_CREATED,
	SESSION_RETRY,		/* a message sent again: the original */
	SESSION_NOTFOUND,	/* no such session (of this user) */
	SESSION_NO_DEVICE,	/* transfer to an unknown or revoked device */
	SESSION_BAD_AFTER,	/* a list's `after` names no session */
	SESSION_KILLED,
	SESSION_NOT_PRIMARY,
	SESSION_DUPLICATE,
	SESSION_PRIMARY_HELD,
	SESSION_NOT_HOLDER,
	SESSION_LOCKED,
	SESSION_QUOTA_BYTES,
	SESSION_QUOTA_RECORDS,
	SESSION_ERROR,		/* the store failed or was busy */
	SESSION__MAX
};

enum primary_action {
	PRIMARY_CLAIM,
	PRIMARY_RENEW,
	PRIMARY_RELEASE,
	PRIMARY_TRANSFER,
	PRIMARY__MAX
};

/* NULL-terminated names, indexed by the enums (for field_enum). */
extern const char *const primary_action_names[PRIMARY__MAX + 1];
extern const char *const session_filter_names[SESSIONS__MAX + 1];

/* What a decision asks the operation to do besides answering. */
struct session_effect {
	int	 write;		/* write the change */
	int	 event;		/* emit primary.changed / lock.changed */
	int	 participates;	/* the device took part (failover order) */
};

int	 primary_valid(const struct session_row *, int64_t now);
int	 primary_lapsed(const struct session_row *, int64_t now);
int	 lock_valid(const struct session_row *, int64_t now);
int	 lock_expired(const struct session_row *, int64_t now);

enum session_outcome primary_decide(const struct session_row *,
		    enum primary_action, const char *device,
		    const char *to_device, int64_t now, int64_t ttl_ms,
		    struct primary_change *, struct session_effect *);
void	 failover_change(const struct session_row *, const char *target,
	    int64_t now, int64_t ttl_ms, struct primary_change *);
enum session_outcome lock_decide(const struct session_row *,
		    const char *device, int64_t ttl_ms, int64_t now,
		    struct lock_change *, struct session_effect *);
enum session_outcome unlock_decide(const struct session_row *,
		    const char *device, int64_t now, struct lock_change *);
void	 lock_expire_change(const struct session_row *, struct lock_change *);

enum session_outcome message_admit(const struct session_row *, int is_auto,
		    const char *device, int64_t now);
int64_t	 dedup_since(int64_t now, int64_t window_ms);
int64_t	 session_time(const struct session_row *, int64_t now);

#endif
