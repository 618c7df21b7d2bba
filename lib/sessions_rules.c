#include <string.h>

#include "sessions_rules.h"

const char *const primary_action_names[PRIMARY__MAX + 1] = {
	"claim", "renew", "release", "transfer", NULL
};

const char *const session_filter_names[SESSIONS__MAX + 1] = {
	"active", "killed", "all", NULL
};

/* A holder whose lease has not lapsed. */
int
primary_valid(const struct session_row *s, int64_t now)
{
	return s->primary_device[0] != '\0' && s->primary_expires_at > now;
}

/* A holder whose lease lapsed: the sweeper fails it over. */
int
primary_lapsed(const struct session_row *s, int64_t now)
{
	return s->primary_device[0] != '\0' && s->primary_expires_at <= now;
}

int
lock_valid(const struct session_row *s, int64_t now)
{
	return s->lock_device[0] != '\0' && s->lock_expires_at > now;
}

int
lock_expired(const struct session_row *s, int64_t now)
{
	return s->lock_device[0] != '\0' && s->lock_expires_at <= now;
}

/* The change's "from": the role as the row holds it. */
static void
primary_from(const struct session_row *s, struct primary_change *c)
{
	c->old_device = s->primary_device[0] != '\0' ? s->primary_device :
	    NULL;
	c->old_epoch = s->primary_epoch;
}

/* holder keeps the role with a lease from now. */
static void
renew(const struct session_row *s, int64_t now, int64_t ttl,
    struct primary_change *c)
{
	primary_from(s, c);
	c->device = s->primary_device;
	c->epoch = s->primary_epoch;
	c->expires_at = now + ttl;
}

/* device takes the role: the next epoch (a fencing token). */
static void
take(const struct session_row *s, const char *device, int64_t now,
    int64_t ttl, struct primary_change *c)
{
	primary_from(s, c);
	c->device = device;
	c->epoch = s->primary_epoch + 1;
	c->expires_at = now + ttl;
}

/*
 * POST /sessions/{sid}/primary {action}: the holder is the device stored
 * with a lease that has not lapsed.
 *	claim		free or lapsed: take it (epoch + 1); the holder renews;
 *			else SESSION_PRIMARY_HELD
 *	renew		the holder's lease runs from now; else NOT_HOLDER
 *	release		the holder lets go (epoch kept); else NOT_HOLDER
 *	transfer	to_device (checked active by the caller) takes it
 *			(epoch + 1); naming the current holder renews it
 * claim and renew count as taking part.  A killed session is
 * SESSION_KILLED.  On SESSION_OK *c is the change and *e what to do.
 */
enum session_outcome
primary_decide(const struct session_row *s, enum primary_action a,
    const char *device, const char *to_device, int64_t now, int64_t ttl,
    struct primary_change *c, struct session_effect *e)
{
	int	 valid = primary_valid(s, now);
	int	 mine = valid && strcmp(s->primary_device, device) == 0;

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	if (s->killed_at != 0)
		return SESSION_KILLED;
	switch (a) {
	case PRIMARY_CLAIM:
		if (valid && !mine)
			return SESSION_PRIMARY_HELD;
		if (mine)
			renew(s, now, ttl, c);
		else {
			take(s, device, now, ttl, c);
			e->event = 1;
		}
		e->participates = 1;
		break;
	case PRIMARY_RENEW:
		if (!mine)
			return SESSION_NOT_HOLDER;
		renew(s, now, ttl, c);
		e->participates = 1;
		break;
	case PRIMARY_RELEASE:
		if (!mine)
			return SESSION_NOT_HOLDER;
		primary_from(s, c);
		c->device = NULL;
		c->epoch = s->primary_epoch;
		e->event = 1;
		break;
	case PRIMARY_TRANSFER:
		if (to_device == NULL)
			return SESSION_NO_DEVICE;
		if (valid && strcmp(s->primary_device, to_device) == 0)
			renew(s, now, ttl, c);
		else {
			take(s, to_device, now, ttl, c);
			e->event = 1;
		}
		break;
	default:
		return SESSION_ERROR;
	}
	e->write = 1;
	return SESSION_OK;
}

/*
 * The role leaves its holder (a lapsed lease, a revoked device) for
 * target, the failover target (NULL: nobody holds it then; the epoch
 * stays for the next holder).
 */
void
failover_change(const struct session_row *s, const char *target, int64_t now,
    int64_t ttl, struct primary_change *c)
{
	if (target != NULL)
		take(s, target, now, ttl, c);
	else {
		primary_from(s, c);
		c->device = NULL;
		c->epoch = s->primary_epoch;
		c->expires_at = 0;
	}
}

/*
 * POST /sessions/{sid}/lock {ttl_ms}: a free (or expired) lock is taken
 * with the next fencing token; the holder locking again extends it and
 * keeps its token; anyone else gets SESSION_LOCKED.
 */
enum session_outcome
lock_decide(const struct session_row *s, const char *device, int64_t ttl,
    int64_t now, struct lock_change *c, struct session_effect *e)
{
	int	 held = lock_valid(s, now);

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	if (s->killed_at != 0)
		return SESSION_KILLED;
	if (held && strcmp(s->lock_device, device) != 0)
		return SESSION_LOCKED;
	c->old_device = s->lock_device[0] != '\0' ? s->lock_device : NULL;
	c->old_token = s->lock_token;
	c->device = device;
	c->token = held ? s->lock_token : s->lock_token + 1;
	c->expires_at = now + ttl;
	e->write = 1;
	e->event = !held;
	return SESSION_OK;
}

/*
 * DELETE /sessions/{sid}/lock: the holder releases it (the token stays
 * for the next holder); anyone else, or nobody holding it (expired
 * included), is SESSION_NOT_HOLDER.
 */
enum session_outcome
unlock_decide(const struct session_row *s, const char *device, int64_t now,
    struct lock_change *c)
{
	memset(c, 0, sizeof(*c));
	if (s->killed_at != 0)
		return SESSION_KILLED;
	if (!lock_valid(s, now) || strcmp(s->lock_device, device) != 0)
		return SESSION_NOT_HOLDER;
	lock_expire_change(s, c);
	return SESSION_OK;
}

/* The lock leaves its holder (released, expired, a revoked device). */
void
lock_expire_change(const struct session_row *s, struct lock_change *c)
{
	c->old_device = s->lock_device[0] != '\0' ? s->lock_device : NULL;
	c->old_token = s->lock_token;
	c->device = NULL;
	c->token = s->lock_token;
	c->expires_at = 0;
}

/*
 * Whether a new message (not a retry: the caller looked for this
 * device's client_msg_id first) may go into session s: a killed session
 * takes none, and an auto message comes from the current primary only.
 */
enum session_outcome
message_admit(const struct session_row *s, int is_auto, const char *device,
    int64_t now)
{
	if (s->killed_at != 0)
		return SESSION_KILLED;
	if (is_auto && !(primary_valid(s, now) &&
	    strcmp(s->primary_device, device) == 0))
		return SESSION_NOT_PRIMARY;
	return SESSION_OK;
}

/* The start of the dedup window before now, or -1 when it is off. */
int64_t
dedup_since(int64_t now, int64_t window_ms)
{
	return window_ms > 0 ? now - window_ms : -1;
}

/*
 * The time of something happening to session s now (a message, the
 * kill): never before its newest message, whatever the clock does, so
 * no message is younger than the kill.
 */
int64_t
session_time(const struct session_row *s, int64_t now)
{
	return now > s->last_message_at ? now : s->last_message_at;
}
