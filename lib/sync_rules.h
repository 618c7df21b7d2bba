/*
 * sync_rules: the pure decisions of sync, kept apart from HTTP and SQL so
 * they can be tested alone: what a pushed change does to the stored
 * record under each strategy, the last-writer-wins clock, and checksums
 * over canonical text (the secret guard's search is lib/secret's).
 */
#ifndef TANDEM_SYNC_RULES_H
#define TANDEM_SYNC_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "jcs.h"

enum sync_strategy {
	SYNC_MANUAL,
	SYNC_SERVER_WINS,
	SYNC_CLIENT_WINS,
	SYNC_LWW,
	SYNC_MERGE,
	SYNC_STRATEGY__MAX
};

/* Indexed by enum sync_strategy, NULL-terminated (for field_enum). */
extern const char *const sync_strategy_names[SYNC_STRATEGY__MAX + 1];

/* The status of one change in a push result. */
enum sync_status {
	SYNC_APPLIED,
	SYNC_UNCHANGED,
	SYNC_MERGED,
	SYNC_CONFLICT,
	SYNC_REJECTED,
	SYNC_STATUS__MAX
};

extern const char *const sync_status_names[SYNC_STATUS__MAX];

/* What the server holds for a record (exists 0: never written or purged). */
struct sync_stored {
	int		 exists;
	int		 deleted;
	int64_t		 version;
	int64_t		 modified_at;
	const char	*checksum;
};

/* A validated change as pushed. */
struct sync_change {
	int		 deleted;
	int64_t		 base_version;
	int64_t		 modified_at;	/* effective: server now when absent */
	const char	*checksum;	/* of the data (of null for a delete) */
};

enum sync_action {
	SYNC_ACT_UNCHANGED,	/* same as stored: no new version */
	SYNC_ACT_APPLY,		/* write the change as a new version */
	SYNC_ACT_REJECT,	/* keep the server's version, drop the change */
	SYNC_ACT_CONFLICT,	/* keep the server's version, store a conflict */
	SYNC_ACT_MERGE,		/* try a three-way merge against the base */
	SYNC_ACT__MAX
};

/* How far ahead of the server a device clock may be for lww: 5 minutes. */
#define SYNC_LWW_SKEW_MS	300000

enum sync_action sync_decide(const struct sync_stored *,
		    const struct sync_change *, enum sync_strategy,
		    int64_t now_ms);
int64_t	 sync_lww_clock(int64_t modified_at, int64_t written_ms);

int	 sync_checksum(const char *canon, size_t len,
	    char out[JCS_SHA256_LEN]);

/* Which quota a write would take usage past (API.md "Fairness"). */
/* What a tombstone counts in the storage quota: its data, "null". */
#define TOMBSTONE_BYTES	4

enum quota_kind {
	QUOTA_OK,
	QUOTA_BYTES,
	QUOTA_RECORDS
};

extern const char *const quota_kind_names[3];

enum quota_kind quota_check(int64_t used_bytes, int64_t used_records,
		    int64_t add_bytes, int64_t add_records, int64_t max_bytes,
		    int64_t max_records);

int	 pull_expired(int64_t since, int64_t floor);
int64_t	 pull_cursor(int64_t cursor, int more, int64_t floor);

#endif
