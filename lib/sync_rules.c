#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "sync_rules.h"
#include "clock.h"

const char *const sync_strategy_names[SYNC_STRATEGY__MAX + 1] = {
	"manual", "server_wins", "client_wins", "lww", "merge", NULL
};

const char *const sync_status_names[SYNC_STATUS__MAX] = {
	"applied", "unchanged", "merged", "conflict", "rejected"
};

/*
 * A device clock as last-writer-wins sees it: a modified_at more than
 * SYNC_LWW_SKEW_MS ahead of the server's clock when it was written counts
 * as that server time, so one device with a wrong clock cannot win
 * forever.  written_ms is the server's now for an incoming change and the
 * write time (version / 1000) for a stored record.
 */
int64_t
sync_lww_clock(int64_t modified_at, int64_t written_ms)
{
	if (modified_at > written_ms + SYNC_LWW_SKEW_MS)
		return written_ms;
	return modified_at;
}

/*
 * Decide what a change does to the stored record.  The order is the
 * contract's: equal data (or a delete of something absent or deleted) is
 * unchanged whatever the base; a base matching the stored version (or 0
 * on an absent or deleted record: a re-create) applies; anything else is
 * a conflict settled by the strategy.  SYNC_ACT_MERGE is only returned
 * when a merge is possible at all (both sides hold data and the base is
 * a real version); the caller still falls back to a conflict when the
 * base revision is gone or the merge itself conflicts.
 */
enum sync_action
sync_decide(const struct sync_stored *s, const struct sync_change *c,
    enum sync_strategy strategy, int64_t now_ms)
{
	int	 live = s->exists && !s->deleted;

	if (c->deleted && !live)
		return SYNC_ACT_UNCHANGED;
	if (!c->deleted && live && s->checksum != NULL &&
	    c->checksum != NULL && strcmp(s->checksum, c->checksum) == 0)
		return SYNC_ACT_UNCHANGED;
	if (s->exists && c->base_version == s->version)
		return SYNC_ACT_APPLY;
	if (c->base_version == 0 && !live)
		return SYNC_ACT_APPLY;
	switch (strategy) {
	case SYNC_SERVER_WINS:
		return SYNC_ACT_REJECT;
	case SYNC_CLIENT_WINS:
		return SYNC_ACT_APPLY;
	case SYNC_LWW:
		if (!s->exists)
			return SYNC_ACT_APPLY;
		if (sync_lww_clock(c->modified_at, now_ms) >
		    sync_lww_clock(s->modified_at, s->version / 1000))
			return SYNC_ACT_APPLY;
		return SYNC_ACT_REJECT;
	case SYNC_MERGE:
		if (c->deleted || !live || c->base_version == 0)
			return SYNC_ACT_CONFLICT;
		return SYNC_ACT_MERGE;
	case SYNC_MANUAL:
	default:
		return SYNC_ACT_CONFLICT;
	}
}

/*
 * "sha256:" + hex SHA-256 of len bytes of canonical JSON text (jcs_dump's
 * output), the same as jcs_sha256() of the value without serialising it
 * twice.  Returns 0 or -1 (out is then "").
 */
int
sync_checksum(const char *canon, size_t len, char out[JCS_SHA256_LEN])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 md_len = 0, i;
	size_t			 o = 7;

	out[0] = '\0';
	if (EVP_Digest(canon, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != 32)
		return -1;
	memcpy(out, "sha256:", 7);
	for (i = 0; i < md_len; i++) {
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 0xf];
	}
	out[o] = '\0';
	return 0;
}

const char *const quota_kind_names[3] = { NULL, "bytes", "records" };

/*
 * Whether a write that adds add_bytes and add_records (either may be
 * negative) may happen with usage at used_*: a limit of 0 is none, and a
 * write that does not grow a usage is never refused for it.  Bytes are
 * checked first.
 */
enum quota_kind
quota_check(int64_t used_bytes, int64_t used_records, int64_t add_bytes,
    int64_t add_records, int64_t max_bytes, int64_t max_records)
{
	if (max_bytes > 0 && add_bytes > 0 &&
	    used_bytes + add_bytes > max_bytes)
		return QUOTA_BYTES;
	if (max_records > 0 && add_records > 0 &&
	    used_records + add_records > max_records)
		return QUOTA_RECORDS;
	return QUOTA_OK;
}

/*
 * A pull from `since` may have missed a purged deletion when since is
 * below the user's purge floor (since 0 always works: the whole state).
 */
int
pull_expired(int64_t since, int64_t floor)
{
	return since > 0 && since < floor;
}

/*
 * The cursor a pull page answers: a last page whose cursor would fall
 * below the purge floor ends at the floor instead, since nothing between
 * them exists and a cursor below it would only earn 410s.
 */
int64_t
pull_cursor(int64_t cursor, int more, int64_t floor)
{
	if (!more && cursor > 0 && cursor < floor)
		return floor;
	return cursor;
}
