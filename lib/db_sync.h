/*
 * db_sync: the SQL of sync: records (latest state and tombstones), their
 * bounded revision history, conflicts, per-collection counts, the
 * devices' push/pull times, the export and the tombstone sweep.  (Owned
 * by the sync area; see handlers/sync.c and handlers/conflicts.c.)
 *
 * Records are handed out in "pull shape": {collection, id, version,
 * data|null, deleted, modified_at, device_id, checksum}.  Stored data is
 * canonical JSON text (jcs_dump), so a record's checksum is the SHA-256
 * of exactly what is stored.  Every function returns a db_rc unless it
 * says otherwise; json_t outputs are new references the caller releases.
 */
#ifndef TANDEM_DB_SYNC_H
#define TANDEM_DB_SYNC_H

#include <jansson.h>
#include <stdint.h>

#include "buf.h"
#include "jcs.h"

struct db;

/* The parts of a stored record that push decisions need. */
struct db_record_state {
	int		 exists;
	int		 deleted;
	int64_t		 version;	/* 0 when it does not exist */
	int64_t		 modified_at;
	char		 checksum[JCS_SHA256_LEN];
};

/* One record write (a new version). */
struct db_record_write {
	const char	*collection;
	const char	*id;
	const char	*data;		/* canonical JSON text; NULL: tombstone */
	const char	*checksum;	/* of data, or of null */
	int64_t		 modified_at;
	const char	*device_id;
};

/* A conflict to store: the client's side (the server's is read). */
struct db_conflict_new {
	const char	*collection;
	const char	*id;
	const char	*device_id;
	int64_t		 base_version;
	const char	*data;		/* canonical text; NULL: a delete */
	int64_t		 modified_at;
	int64_t		 created_at;
};

/* A stored conflict as resolve needs it (texts are canonical JSON). */
struct db_conflict {
	int64_t		 id;
	char		*collection;
	char		*record_id;
	int		 resolved;
	int64_t		 server_version;
	char		*server_data;	/* NULL: absent or deleted */
	int		 server_deleted;
	char		*client_data;	/* NULL: the client deleted */
	int		 client_deleted;
};

/*
 * A pull page stops growing past this many bytes (at least one record
 * always fits): more is then true, and the next page goes on from there.
 */
#define DB_PULL_PAGE_BYTES	(4 * 1024 * 1024)

/* One pull page. */
struct db_pull {
	struct buf	 changes;	/* the page as a JSON array's text */
	int		 more;		/* rows remain past the page */
	int64_t		 cursor;	/* the next `since` */
	int64_t		 floor;		/* the user's purge floor */
	int		 expired;	/* since is below the floor: 410 */
};

enum db_conflict_filter {
	DB_CONFLICTS_OPEN,
	DB_CONFLICTS_RESOLVED,
	DB_CONFLICTS_ALL,
	DB_CONFLICTS__MAX
};

int	 db_record_state(struct db *, int64_t user_id, const char *collection,
	    const char *id, struct db_record_state *);
int	 db_record_get(struct db *, int64_t user_id, const char *collection,
	    const char *id, json_t **record);
int	 db_record_data(struct db *, int64_t user_id, const char *collection,
	    const char *id, json_t **data);
int	 db_revision_data(struct db *, int64_t user_id,
	    const char *collection, const char *id, int64_t version,
	    json_t **data);
int	 db_record_put(struct db *, int64_t user_id,
	    const struct db_record_write *, const struct db_record_state *old,
	    int64_t *version);

int	 db_records_pull(struct db *, int64_t user_id, const char *device_id,
	    int64_t since, const char *collections_json, int64_t limit,
	    int64_t now_ms, struct db_pull *);
void	 db_pull_release(struct db_pull *);
int	 db_sync_cursor(struct db *, int64_t user_id, int64_t *cursor);
int	 db_collections_list(struct db *, int64_t user_id, json_t **out);
int	 db_sync_devices(struct db *, int64_t user_id, json_t **out);
int	 db_device_push_mark(struct db *, int64_t user_id,
	    const char *device_id, int64_t now_ms);

int	 db_conflict_add(struct db *, int64_t user_id,
	    const struct db_conflict_new *, int64_t *id, int *created);
int	 db_conflict_load(struct db *, int64_t user_id, int64_t id,
	    struct db_conflict *);
void	 db_conflict_release(struct db_conflict *);
int	 db_conflict_get(struct db *, int64_t user_id, int64_t id,
	    json_t **conflict);
int	 db_conflicts_list(struct db *, int64_t user_id,
	    enum db_conflict_filter, const char *collection, json_t **out);
int	 db_conflicts_open_count(struct db *, int64_t user_id, int64_t *n);
int	 db_conflict_mark_resolved(struct db *, int64_t user_id, int64_t id,
	    const char *resolution, const char *device_id, int64_t now_ms,
	    int64_t version);

int	 db_sync_export(struct db *, int64_t user_id, json_t **out);

int	 db_sync_sweep(struct db *, int64_t now_ms);

#endif
