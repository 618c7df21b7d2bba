#include <string.h>

#include "service_rules.h"

const char *const service_scope_names[SCOPE__MAX] = {
	"events", "records"
};

/* A key's name: 1..64 bytes of [a-z0-9_-]. */
int
service_name_valid(const char *name)
{
	size_t	 n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	return n >= 1 && n <= SERVICE_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/*
 * The scopes of a comma-separated list ("events", "records",
 * "records,events"): each a scope's name, none twice, no empty item.
 * Returns 0 with the set in *scopes, or -1.
 */
int
service_scopes_parse(const char *text, unsigned *scopes)
{
	const char	*p, *comma;
	size_t		 len;
	unsigned	 set = 0, bit;
	int		 i, found;

	*scopes = 0;
	if (text == NULL || *text == '\0')
		return -1;
	for (p = text;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		found = -1;
		for (i = 0; i < SCOPE__MAX; i++)
			if (strlen(service_scope_names[i]) == len &&
			    strncmp(p, service_scope_names[i], len) == 0)
				found = i;
		if (found == -1)
			return -1;
		bit = SCOPE_BIT(found);
		if (set & bit)
			return -1;
		set |= bit;
		if (comma == NULL)
			break;
	}
	*scopes = set;
	return 0;
}

/*
 * The one written form of a set of scopes, in the enum's order
 * ("events,records"): what the store keeps and `tandemd key list`
 * prints.  Returns 0, or -1 for an empty set or a short buffer.
 */
int
service_scopes_text(unsigned scopes, char *out, size_t outsz)
{
	size_t	 n = 0, len;
	int	 i;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (scopes == 0 || (scopes & ~SCOPES_ALL) != 0)
		return -1;
	for (i = 0; i < SCOPE__MAX; i++) {
		if (!(scopes & SCOPE_BIT(i)))
			continue;
		len = strlen(service_scope_names[i]);
		if (n + (n > 0) + len + 1 > outsz) {
			out[0] = '\0';
			return -1;
		}
		if (n > 0)
			out[n++] = ',';
		memcpy(out + n, service_scope_names[i], len + 1);
		n += len;
	}
	return 0;
}

/*
 * Whether key has a service key's shape: "tk_" and 43 base64url
 * characters.  Anything else (an access token, a key cut short) is not
 * looked up at all.
 */
int
service_key_shaped(const char *key)
{
	return key != NULL && strlen(key) == SERVICE_KEY_LEN &&
	    strncmp(key, SERVICE_KEY_PREFIX, 3) == 0 &&
	    strspn(key + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == SERVICE_KEY_BODY;
}

/*
 * The outcome of a key holding have on a route that needs need:
 * SERVICE_OK, or the SERVICE_SCOPE_* of the first scope it lacks.
 */
enum service_outcome
service_scope_outcome(unsigned have, unsigned need)
{
	int	 i;

	for (i = 0; i < SCOPE__MAX; i++)
		if ((need & SCOPE_BIT(i)) && !(have & SCOPE_BIT(i)))
			return i == SCOPE_EVENTS ? SERVICE_SCOPE_EVENTS :
			    SERVICE_SCOPE_RECORDS;
	return SERVICE_OK;
}

/*
 * Whether a request at now writes the key's last use again: never
 * written (0), or at least SERVICE_TOUCH_MS ago.
 */
int
service_touch_due(int64_t last_used_at, int64_t now)
{
	return last_used_at == 0 || now - last_used_at >= SERVICE_TOUCH_MS;
}
