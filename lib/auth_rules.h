/*
 * auth_rules: the pure decisions of accounts and devices: what a refresh
 * token's state is, whether a device's token still holds, what a login
 * does to the device row, and presence (online, stale).  No I/O: plain
 * values in, a decision out (tests/unit/test_auth_rules.c).
 */
#ifndef TANDEM_AUTH_RULES_H
#define TANDEM_AUTH_RULES_H

#include <stdint.h>

#include "store.h"

enum refresh_state {
	REFRESH_OK,		/* spend it now and rotate */
	REFRESH_UNKNOWN,
	REFRESH_EXPIRED,
	REFRESH_REUSED,		/* spent before: the login is revoked */
	REFRESH_REVOKED		/* the device logged out or was revoked */
};

/* The state of a device as the token check sees it. */
enum device_state { DEVICE_ACTIVE, DEVICE_REVOKED, DEVICE_UNKNOWN };

enum login_action {
	LOGIN_REGISTER,		/* a new device */
	LOGIN_REACTIVATE,	/* revoked or logged out: a new family */
	LOGIN_KEEP,		/* active: the same family */
	LOGIN_LIMIT		/* a new or revoked one past the limit */
};

enum refresh_state refresh_classify(int found, const struct refresh_row *,
		    int64_t now_ms);
enum device_state device_state_of(int found, const struct device_auth *,
		    const char *family);
enum login_action login_decide(int exists, const struct device_row *,
		    int64_t active_others, int64_t max_devices);
int	 login_changes_device(const struct device_row *old,
	    const char *platform, const char *name);
int	 presence_online(int64_t last_seen_at, int64_t now_ms, int64_t ttl_ms);
int	 presence_stale(int64_t last_seen_at, int64_t now_ms,
	    int64_t stale_ms);

#endif
