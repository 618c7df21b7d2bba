#include <string.h>

#include "auth_rules.h"

/*
 * A refresh token presented now.  A token spent before is reuse,
 * whatever else (the login it belonged to is revoked); then a device
 * that left the token's login family, then expiry.
 */
enum refresh_state
refresh_classify(int found, const struct refresh_row *r, int64_t now)
{
	if (!found)
		return REFRESH_UNKNOWN;
	if (r->spent)
		return REFRESH_REUSED;
	if (!r->current)
		return REFRESH_REVOKED;
	if (r->expires_at <= now)
		return REFRESH_EXPIRED;
	return REFRESH_OK;
}

/*
 * An access token's device: unknown (no such user or device) or active
 * when it is not revoked and still in the token's login family, else
 * revoked (logged out, revoked, or logged in again since).
 */
enum device_state
device_state_of(int found, const struct device_auth *a, const char *family)
{
	if (!found)
		return DEVICE_UNKNOWN;
	if (!a->revoked && a->family[0] != '\0' && family != NULL &&
	    strcmp(a->family, family) == 0)
		return DEVICE_ACTIVE;
	return DEVICE_REVOKED;
}

/*
 * What a login does to its device: register a new one, re-activate a
 * revoked (or logged-out) one in a new family, or keep an active one in
 * its family.  A new or re-activated device counts against max_devices
 * active ones (the others: active_others).
 */
enum login_action
login_decide(int exists, const struct device_row *d, int64_t active_others,
    int64_t max_devices)
{
	int	 active = exists && d->revoked_at == 0 && d->family[0] != '\0';

	if (active)
		return LOGIN_KEEP;
	if (active_others >= max_devices)
		return LOGIN_LIMIT;
	return exists ? LOGIN_REACTIVATE : LOGIN_REGISTER;
}

/* Whether a login renames its device (device.updated). */
int
login_changes_device(const struct device_row *old, const char *platform,
    const char *name)
{
	return strcmp(old->platform, platform) != 0 ||
	    strcmp(old->name, name) != 0;
}

/* Online: seen within the presence TTL (0: never seen). */
int
presence_online(int64_t last_seen_at, int64_t now, int64_t ttl_ms)
{
	return last_seen_at != 0 && last_seen_at >= now - ttl_ms;
}

/* Stale: never seen, or unseen for stale_ms. */
int
presence_stale(int64_t last_seen_at, int64_t now, int64_t stale_ms)
{
	return last_seen_at == 0 || last_seen_at < now - stale_ms;
}
