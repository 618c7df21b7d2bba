/*
 * service_rules: the pure decisions about service keys (API.md "Service
 * keys"): a key's name, its scopes and their one written form, the
 * shape of a key, and when its last use is written again.  No I/O
 * (tests/unit/test_service_rules.c).
 */
#ifndef TANDEM_SERVICE_RULES_H
#define TANDEM_SERVICE_RULES_H

#include <stddef.h>
#include <stdint.h>

enum service_scope {
	SCOPE_EVENTS,
	SCOPE_RECORDS,
	SCOPE__MAX
};

/* Indexed by enum service_scope: "events", "records". */
extern const char *const service_scope_names[SCOPE__MAX];

/*
 * The outcomes of the key check and the service routes' own lookups,
 * each answered by one entry of handlers/service.c's table.
 */
enum service_outcome {
	SERVICE_OK,
	SERVICE_NO_KEY,		/* no "Authorization: Bearer ..." */
	SERVICE_NOT_A_KEY,	/* a device's token, or no key's shape */
	SERVICE_UNKNOWN_KEY,	/* unknown or revoked */
	SERVICE_SCOPE_EVENTS,	/* the key lacks the scope events */
	SERVICE_SCOPE_RECORDS,	/* ... records */
	SERVICE_NO_USER,	/* {uid} is no user's */
	SERVICE_NO_EMAIL,	/* no account has the email */
	SERVICE_ERROR,		/* the database */
	SERVICE__MAX
};

#define SCOPE_BIT(s)		(1u << (s))
#define SCOPES_ALL		((1u << SCOPE__MAX) - 1)

#define SERVICE_NAME_MAX	64
#define SERVICE_KEY_PREFIX	"tk_"
#define SERVICE_KEY_BODY	43	/* base64url of 32 bytes */
#define SERVICE_KEY_LEN		(3 + SERVICE_KEY_BODY)
/* "events,records" and its NUL */
#define SERVICE_SCOPES_TEXT	16
/* last_used_at is written again at most this often per key */
#define SERVICE_TOUCH_MS	5000

int	 service_name_valid(const char *name);
int	 service_scopes_parse(const char *text, unsigned *scopes);
int	 service_scopes_text(unsigned scopes, char *out, size_t outsz);
int	 service_key_shaped(const char *key);
enum service_outcome service_scope_outcome(unsigned have, unsigned need);
int	 service_touch_due(int64_t last_used_at, int64_t now);

#endif
