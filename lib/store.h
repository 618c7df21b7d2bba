/*
 * store: the storage interface every engine implements (SQLite in
 * lib/sqlite/, PostgreSQL in lib/pg/).  SQL lives behind it and nowhere
 * else: a store function runs one statement family and reports rows; it
 * makes no decision (lib/<area>_rules.c does), appends no event and
 * builds no API JSON (the operations in handlers/<area>.c do).
 *
 * Conventions, for every function below:
 * - The first argument is the connection (lib/db.h); every query of a
 *   user's data is scoped by user_id, so another user's rows do not
 *   exist here.
 * - The result is an enum db_rc: DB_OK, DB_NOTFOUND when the row asked
 *   for does not exist or a conditional write matched none, DB_CONSTRAINT
 *   when a unique key refused a write, else an error.
 * - A row filled by a get owns its malloc'd text members (free them with
 *   its _release function); a row handed to an iteration callback
 *   borrows them for the length of the call.  An iteration stops early,
 *   with that result, when its callback returns anything but DB_OK
 *   (DB_ROLLBACK is the callback's "enough": the iteration then answers
 *   DB_OK).
 * - Times are milliseconds since the epoch, versions microseconds; 0
 *   stands for SQL NULL in a time column.
 * - Write functions run inside the caller's db_tx(); reads may run inside
 *   a db_tx(), a db_read() or alone.
 */
#ifndef TANDEM_STORE_H
#define TANDEM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define DB_ID_CAP	129	/* client ids: 1..128 bytes */
#define DB_COLL_CAP	65	/* collection names: 1..64 bytes */
#define DB_NAME_CAP	65	/* device platform and name: 1..64 bytes */
#define DB_SUM_CAP	72	/* "sha256:" + 64 hex digits */
#define DB_FAMILY_CAP	33	/* a login family: 32 hex digits */
#define DB_TYPE_CAP	80	/* event types */
#define DB_TITLE_CAP	257	/* session titles: 0..256 bytes */

/* ---- users, devices, refresh tokens ---------------------------------- */

struct user_row {
	int64_t	 id;
	char	 public_id[DB_ID_CAP];
	char	*email;
	char	*password_hash;
	int64_t	 created_at;
};

/* What the token check needs of a user's device. */
struct device_auth {
	int64_t	 user_id;
	int	 revoked;		/* revoked or logged out */
	char	 family[DB_FAMILY_CAP];	/* "" when none */
	int64_t	 last_seen_at;
};

struct device_row {
	char	 id[DB_ID_CAP];
	char	 platform[DB_NAME_CAP];
	char	 name[DB_NAME_CAP];
	char	*push_token;		/* NULL: none */
	int64_t	 created_at;
	int64_t	 last_seen_at;		/* 0: never */
	int64_t	 revoked_at;		/* 0: active */
	char	 family[DB_FAMILY_CAP];	/* "" when none */
	int64_t	 last_push_at;		/* 0: never */
	int64_t	 last_pull_at;		/* 0: never */
};

struct refresh_row {
	int64_t	 user_id;
	char	 device_id[DB_ID_CAP];
	char	 family[DB_FAMILY_CAP];
	int64_t	 expires_at;
	int	 spent;
	int	 current;	/* the device is active in this family */
};

/* ---- sessions, messages ------------------------------------------------ */

struct session_row {
	int64_t	 user_id;
	char	 id[DB_ID_CAP];
	int	 has_title;
	char	 title[DB_TITLE_CAP];
	int64_t	 created_at;
	int64_t	 killed_at;		/* 0: alive */
	int	 has_kill_reason;
	char	 kill_reason[1025];
	char	 primary_device[DB_ID_CAP];	/* "": nobody */
	int64_t	 primary_epoch;
	int64_t	 primary_expires_at;
	char	 lock_device[DB_ID_CAP];	/* "": not locked */
	int64_t	 lock_token;
	int64_t	 lock_expires_at;
	int64_t	 message_count;		/* also the newest seq */
	int64_t	 last_message_at;	/* 0: none yet */
};

/* A conditional write of the primary role: from (device, epoch). */
struct primary_change {
	const char	*old_device;	/* NULL: nobody holds it */
	int64_t		 old_epoch;
	const char	*device;	/* NULL: nobody will */
	int64_t		 epoch;
	int64_t		 expires_at;
};

/* A conditional write of the lock: from (device, token). */
struct lock_change {
	const char	*old_device;	/* NULL: unlocked (or expired) */
	int64_t		 old_token;
	const char	*device;	/* NULL: unlocked */
	int64_t		 token;
	int64_t		 expires_at;
};

struct message_row {
	int64_t	 id;
	int64_t	 seq;
	int64_t	 user_id;
	char	 session_id[DB_ID_CAP];
	char	 device_id[DB_ID_CAP];
	char	 client_msg_id[DB_ID_CAP];
	char	 hash[DB_SUM_CAP];
	char	*body;			/* canonical JSON text */
	int64_t	 created_at;
};

/* The message a duplicate hash points at. */
struct message_ref {
	int64_t	 id;
	char	 device_id[DB_ID_CAP];
	int64_t	 created_at;
};

enum session_filter {
	SESSIONS_ACTIVE,
	SESSIONS_KILLED,
	SESSIONS_ALL,
	SESSIONS__MAX
};

/* ---- sync: records, revisions, conflicts --------------------------------- */

/* What push decisions and quotas need of a stored record. */
struct record_state {
	int	 exists;
	int	 deleted;
	int64_t	 version;		/* 0 when it does not exist */
	int64_t	 modified_at;
	int64_t	 bytes;			/* of its data; 0 for a tombstone */
	char	 checksum[DB_SUM_CAP];
};

struct record_row {
	char	 collection[DB_COLL_CAP];
	char	 id[DB_ID_CAP];
	int64_t	 version;
	char	*data;			/* canonical text; NULL: tombstone */
	size_t	 data_len;
	int	 deleted;
	int64_t	 modified_at;
	char	 device_id[DB_ID_CAP];	/* "": written by a service */
	char	 service[DB_ID_CAP];	/* the service key's name, or "" */
	char	 checksum[DB_SUM_CAP];
};

/* One record write: the new state of (collection, id). */
struct record_write {
	const char	*collection;
	const char	*id;
	int64_t		 version;
	const char	*data;		/* canonical text; NULL: tombstone */
	const char	*checksum;
	int64_t		 modified_at;
	const char	*device_id;	/* NULL: a service wrote it */
	const char	*service;	/* the service key's name, or NULL */
	int64_t		 history_keep;	/* previous revisions to keep */
};

/* The user's purge floor and the pulling device's last pull. */
struct pull_state {
	int64_t	 purge_floor;
	int	 device_known;
	int64_t	 last_pull_at;		/* 0: never */
};

struct collection_row {
	char	 name[DB_COLL_CAP];
	int64_t	 records;
	int64_t	 tombstones;
	int64_t	 last_version;
};

struct conflict_new {
	const char	*collection;
	const char	*id;
	const char	*device_id;	/* NULL: a service pushed it */
	int64_t		 base_version;
	const char	*data;		/* canonical text; NULL: a delete */
	int64_t		 modified_at;
	int64_t		 created_at;
};

struct conflict_row {
	int64_t	 id;
	char	 collection[DB_COLL_CAP];
	char	 record_id[DB_ID_CAP];
	char	 device_id[DB_ID_CAP];	/* "": none */
	int	 resolved;
	int64_t	 created_at;
	int64_t	 base_version;
	char	*client_data;		/* NULL: the client deleted */
	int	 client_deleted;
	int64_t	 client_modified_at;
	int64_t	 server_version;
	char	*server_data;		/* NULL: absent or deleted */
	int	 server_deleted;
	int64_t	 server_modified_at;	/* 0: the record did not exist */
	int64_t	 resolved_at;		/* 0: open */
	char	 resolution[16];	/* "" while open */
};

enum conflict_filter {
	CONFLICTS_OPEN,
	CONFLICTS_RESOLVED,
	CONFLICTS_ALL,
	CONFLICTS__MAX
};

struct tombstone_key {
	int64_t	 user_id;
	char	 collection[DB_COLL_CAP];
	char	 record_id[DB_ID_CAP];
	int64_t	 version;
};

struct revision_row {
	int64_t	 version;
	char	*data;			/* canonical text; NULL: a deletion */
	int	 deleted;
	int64_t	 modified_at;
	char	 device_id[DB_ID_CAP];	/* "": a service */
	char	 service[DB_ID_CAP];
};

/* ---- events --------------------------------------------------------------- */

struct event_new {
	const char	*device_id;	/* NULL: the server, or a service */
	const char	*service;	/* the service key's name, or NULL */
	const char	*type;
	const char	*session_id;	/* NULL: none */
	const char	*data;		/* JSON text (json_dump_stored) */
	int64_t		 at;
};

struct event_row {
	int64_t	 seq;
	char	 type[DB_TYPE_CAP];
	int64_t	 at;
	char	 device_id[DB_ID_CAP];	/* "": none */
	char	 service[DB_ID_CAP];	/* "": none */
	char	 session_id[DB_ID_CAP];	/* "": none */
	char	*data;			/* JSON text */
	size_t	 data_len;
};

/* What a page of events is read for. */
struct event_query {
	int64_t		 user_id;
	int64_t		 after;		/* seq > after */
	int64_t		 limit;		/* rows wanted (the page reads one more) */
	const char	*exclude_device; /* skip this device's own, or NULL */
	const char	*session_id;	/* only this session's, or NULL */
	const char	*device_id;	/* the polling device, or NULL */
	const char	*family;	/* its login family */
};

/* The user's head, floor and device liveness, of the page's snapshot. */
struct event_head {
	int64_t	 head;			/* users.event_seq */
	int64_t	 floor;		/* the newest seq pruned, as stored */
	int64_t	 min_kept;		/* the oldest seq kept; 0: none */
	int	 device_active;		/* the polling device, same login */
};

/* ---- links: a device joining by code ---------------------------------------- */

#define DB_LINK_CODE_CAP 9	/* 8 symbols of Crockford's base32 */

enum link_status {
	LINK_PENDING,
	LINK_APPROVED,		/* bound to user_id */
	LINK_DENIED,
	LINK_HANDED_OUT,	/* approved, and its tokens handed out */
	LINK__MAX
};

/* As the links table stores them: "pending", "approved", ... */
extern const char *const link_status_names[LINK__MAX];

struct link_row {
	char		 id[DB_ID_CAP];
	char		 code[DB_LINK_CODE_CAP];	/* canonical */
	unsigned char	 secret_hash[32];	/* SHA-256 of the secret */
	char		 device_id[DB_ID_CAP];
	char		 platform[DB_NAME_CAP];
	char		 name[DB_NAME_CAP];
	enum link_status status;
	int64_t		 user_id;		/* 0 until approved */
	int64_t		 created_at;
	int64_t		 expires_at;
	int64_t		 decided_at;		/* 0: pending */
};

/* ---- service keys ----------------------------------------------------------- */

#define DB_SCOPES_CAP	32	/* "events,records" */

struct service_key_row {
	char	 name[DB_COLL_CAP];	/* 1..64 of [a-z0-9_-] */
	char	 scopes[DB_SCOPES_CAP];	/* "events", "records", "events,records" */
	int64_t	 created_at;
	int64_t	 last_used_at;		/* 0: never */
};

/* ---- admin ------------------------------------------------------------------ */

struct admin_counts {
	int64_t	 db_bytes;
	int64_t	 users;
	int64_t	 devices_total;		/* not revoked */
	int64_t	 devices_online;	/* not revoked, seen since `since` */
	int64_t	 sessions_active;
	int64_t	 sessions_killed;
	int64_t	 messages;
	int64_t	 records;		/* live */
	int64_t	 tombstones;
	int64_t	 conflicts_open;
};

/* ---- the interface ------------------------------------------------------------ */

typedef int (*device_cb)(void *, const struct device_row *);
typedef int (*session_cb)(void *, const struct session_row *);
typedef int (*message_cb)(void *, const struct message_row *);
typedef int (*record_cb)(void *, const struct record_row *);
typedef int (*collection_cb)(void *, const struct collection_row *);
typedef int (*conflict_cb)(void *, const struct conflict_row *);
typedef int (*event_cb)(void *, const struct event_row *);
typedef int (*revision_cb)(void *, const struct revision_row *);
typedef int (*tombstone_cb)(void *, const struct tombstone_key *);
typedef int (*service_key_cb)(void *, const struct service_key_row *);
/* A (user, id) pair: a device gone offline, a session to sweep. */
typedef int (*key_cb)(void *, int64_t user_id, const char *id);

struct store {
	const char	*name;

	/* engine: connections, transactions, the clock, maintenance */
	struct db	*(*connect)(void);
	void		 (*disconnect)(struct db *);
	int		 (*begin)(struct db *, int mode);
	int		 (*commit)(struct db *);
	void		 (*rollback)(struct db *);
	int		 (*clock_read)(struct db *, int64_t user_id,
			    int64_t *last);
	int		 (*clock_write)(struct db *, int64_t user_id,
			    int64_t last);
	int		 (*migrate)(void);
	int		 (*health)(struct db *);
	int		 (*backup)(const char *to);
	int		 (*sweep_lock)(struct db *);
	/*
	 * Group commit (an engine with one writer, SQLite): the writes of a
	 * process that arrive while a commit runs share the next one, each
	 * in a savepoint of its own, so one that fails rolls back alone.
	 * NULL: every write is its own transaction (the engine groups
	 * concurrent commits itself, as PostgreSQL does).
	 */
	int		 (*savepoint)(struct db *);
	int		 (*release)(struct db *);
	void		 (*rollback_to)(struct db *);
	/*
	 * After a commit (never inside the transaction): tell the other
	 * hosts which users' doorbells to ring (n of them, or all).  NULL
	 * for an engine of one host; the local doorbell rings anyway.
	 */
	void		 (*notify)(struct db *, const int64_t *users, int n,
			    int all);
	/*
	 * Start this host's listener for the other hosts' notifications
	 * (a thread of the calling process, which must share the doorbell's
	 * memory): it rings the local doorbell for the users it hears of.
	 * NULL for an engine of one host.  Returns 0 or -1.
	 */
	int		 (*listen)(void);

	/* users */
	int	(*user_insert)(struct db *, const char *public_id,
		    const char *email, const char *password_hash, int64_t now,
		    int64_t *id);
	int	(*user_get_by_email)(struct db *, const char *email,
		    struct user_row *);
	int	(*user_get_by_id)(struct db *, int64_t id, struct user_row *);
	int	(*user_get_by_public_id)(struct db *, const char *public_id,
		    struct user_row *);

	/* devices */
	int	(*device_check)(struct db *, const char *user_pub,
		    const char *device_id, struct device_auth *);
	int	(*device_get)(struct db *, int64_t user_id,
		    const char *device_id, struct device_row *);
	int	(*devices_list)(struct db *, int64_t user_id, int all,
		    device_cb, void *);
	int	(*devices_active_count)(struct db *, int64_t user_id,
		    const char *except, int64_t *n);
	int	(*devices_online_count)(struct db *, int64_t user_id,
		    int64_t since, int64_t *n);
	int	(*device_insert)(struct db *, int64_t user_id,
		    const struct device_row *);
	int	(*device_login)(struct db *, int64_t user_id,
		    const struct device_row *);
	int	(*device_update)(struct db *, int64_t user_id,
		    const char *device_id, const char *name, int set_push,
		    const char *push_token);
	int	(*device_revoke)(struct db *, int64_t user_id,
		    const char *device_id, int64_t now);
	int	(*device_seen)(struct db *, int64_t user_id,
		    const char *device_id, int64_t now, int *was_offline);
	int	(*device_push_mark)(struct db *, int64_t user_id,
		    const char *device_id, int64_t now);
	int	(*device_pull_mark)(struct db *, int64_t user_id,
		    const char *device_id, int64_t now);
	int	(*devices_offline)(struct db *, int64_t seen_before,
		    key_cb, void *);

	/* refresh tokens */
	int	(*refresh_insert)(struct db *, const unsigned char hash[32],
		    int64_t user_id, const char *device_id,
		    const char *family, int64_t now, int64_t expires_at);
	int	(*refresh_get)(struct db *, const unsigned char hash[32],
		    struct refresh_row *);
	int	(*refresh_spend)(struct db *, const unsigned char hash[32],
		    int64_t now);
	int	(*refresh_forget)(struct db *, int64_t expired_before);

	/* sessions */
	int	(*session_get)(struct db *, int64_t user_id, const char *sid,
		    int for_update, struct session_row *);
	int	(*session_insert)(struct db *, int64_t user_id,
		    const char *sid, const char *title, int64_t now);
	int	(*sessions_list)(struct db *, int64_t user_id,
		    enum session_filter, const char *after, int64_t limit,
		    session_cb, void *);
	int	(*session_kill)(struct db *, int64_t user_id,
		    const char *sid, int64_t at, const char *reason);
	int	(*session_primary_set)(struct db *, int64_t user_id,
		    const char *sid, const struct primary_change *);
	int	(*session_lock_set)(struct db *, int64_t user_id,
		    const char *sid, const struct lock_change *);
	int	(*session_messages_set)(struct db *, int64_t user_id,
		    const char *sid, int64_t count, int64_t last_at);
	int	(*sessions_held_by)(struct db *, int64_t user_id,
		    const char *device_id, session_cb, void *);
	int	(*sessions_lapsed)(struct db *, int64_t now, int64_t limit,
		    key_cb, void *);
	int	(*sessions_locks_expired)(struct db *, int64_t now,
		    int64_t limit, key_cb, void *);
	int	(*participant_touch)(struct db *, int64_t user_id,
		    const char *sid, const char *device_id, int64_t now);
	int	(*failover_target)(struct db *, int64_t user_id,
		    const char *sid, const char *except, int64_t seen_since,
		    char out[DB_ID_CAP]);

	/* messages */
	int	(*message_get_by_cmid)(struct db *, int64_t user_id,
		    const char *sid, const char *device_id, const char *cmid,
		    struct message_row *);
	int	(*message_find_hash)(struct db *, int64_t user_id,
		    const char *sid, const char *hash, int64_t since,
		    struct message_ref *);
	int	(*message_insert)(struct db *, const struct message_row *,
		    int64_t *id);
	int	(*messages_list)(struct db *, int64_t user_id,
		    const char *sid, int64_t after, int64_t limit,
		    message_cb, void *);

	/* records */
	int	(*record_state)(struct db *, int64_t user_id,
		    const char *collection, const char *id,
		    struct record_state *);
	int	(*record_get)(struct db *, int64_t user_id,
		    const char *collection, const char *id,
		    struct record_row *);
	int	(*record_data)(struct db *, int64_t user_id,
		    const char *collection, const char *id, char **data);
	int	(*revision_data)(struct db *, int64_t user_id,
		    const char *collection, const char *id, int64_t version,
		    char **data);
	int	(*record_put)(struct db *, int64_t user_id,
		    const struct record_write *, const struct record_state *);
	int	(*records_pull)(struct db *, int64_t user_id, int64_t since,
		    const char *const *collections, size_t ncollections,
		    int64_t limit, record_cb, void *);
	int	(*records_each)(struct db *, int64_t user_id, record_cb,
		    void *);
	int	(*revisions_list)(struct db *, int64_t user_id,
		    const char *collection, const char *id, int64_t limit,
		    revision_cb, void *);
	int	(*pull_state)(struct db *, int64_t user_id,
		    const char *device_id, struct pull_state *);
	int	(*sync_cursor)(struct db *, int64_t user_id, int64_t *cursor);
	int	(*collections_list)(struct db *, int64_t user_id,
		    collection_cb, void *);
	int	(*usage_get)(struct db *, int64_t user_id, int64_t *bytes,
		    int64_t *records);
	int	(*usage_add)(struct db *, int64_t user_id, int64_t bytes,
		    int64_t records);
	int	(*tombstones_old)(struct db *, int64_t before_version,
		    int64_t limit, tombstone_cb, void *);
	int	(*tombstone_purge)(struct db *, const struct tombstone_key *);

	/* conflicts */
	int	(*conflict_find_open)(struct db *, int64_t user_id,
		    const struct conflict_new *, int64_t *id);
	int	(*conflict_insert)(struct db *, int64_t user_id,
		    const struct conflict_new *, int64_t *id);
	int	(*conflict_get)(struct db *, int64_t user_id, int64_t id,
		    struct conflict_row *);
	int	(*conflicts_list)(struct db *, int64_t user_id,
		    enum conflict_filter, const char *collection,
		    int64_t after, int64_t limit, conflict_cb, void *);
	int	(*conflicts_open_count)(struct db *, int64_t user_id,
		    int64_t *n);
	int	(*conflict_resolve)(struct db *, int64_t user_id, int64_t id,
		    const char *resolution, const char *device_id,
		    int64_t now, int64_t version);

	/* events */
	int	(*event_insert)(struct db *, int64_t user_id,
		    const struct event_new *, int64_t *seq);
	int	(*event_get)(struct db *, int64_t user_id, int64_t seq,
		    struct event_row *);
	int	(*events_head)(struct db *, int64_t user_id,
		    struct event_head *);
	int	(*events_page)(struct db *, const struct event_query *,
		    struct event_head *, event_cb, void *);
	int	(*events_prune)(struct db *, int64_t before_at,
		    int64_t batch, int *done);
	int	(*events_oldest)(struct db *, int64_t *at);

	/*
	 * service keys, looked up by the SHA-256 of the key (the key itself
	 * is never stored): insert is DB_CONSTRAINT when the name (or the
	 * hash) exists, delete DB_NOTFOUND for an unknown name; touch writes
	 * last_used_at = now only when it is at or before `before` (or never
	 * written), DB_NOTFOUND when it was not.
	 */
	int	(*service_key_insert)(struct db *, const char *name,
		    const unsigned char hash[32], const char *scopes,
		    int64_t now);
	int	(*service_key_get_by_hash)(struct db *,
		    const unsigned char hash[32], struct service_key_row *);
	int	(*service_keys_list)(struct db *, service_key_cb, void *);
	int	(*service_key_delete)(struct db *, const char *name);
	int	(*service_key_touch)(struct db *, const char *name, int64_t now,
		    int64_t before);

	/* admin */
	int	(*admin_counts)(struct db *, int64_t online_since,
		    struct admin_counts *);

	/* links (no user until approved: not scoped by one) */
	int	(*link_insert)(struct db *, const struct link_row *);
	int	(*link_get)(struct db *, const char *id, struct link_row *);
	int	(*link_get_by_code)(struct db *, const char *code,
		    struct link_row *);
	int	(*link_status_set)(struct db *, const char *id,
		    enum link_status from, enum link_status to,
		    int64_t user_id, int64_t now);
	int	(*links_prune)(struct db *, int64_t expired_before);
	int	(*links_due)(struct db *, int64_t expired_before,
		    int64_t misses_before, int *due);
	int	(*link_miss_insert)(struct db *, int64_t user_id, int64_t at);
	int	(*link_misses_recent)(struct db *, int64_t user_id,
		    int64_t since, int64_t *at, size_t max, size_t *n);
	int	(*link_misses_prune)(struct db *, int64_t before);
};

/* The SQLite engine (lib/sqlite/) and the PostgreSQL engine (lib/pg/). */
extern const struct store sqlite_store;
extern const struct store pg_store;

/* Free what a get put into a row (not the row itself). */
void	 user_row_release(struct user_row *);
void	 device_row_release(struct device_row *);
void	 message_row_release(struct message_row *);
void	 record_row_release(struct record_row *);
void	 conflict_row_release(struct conflict_row *);
void	 event_row_release(struct event_row *);

/*
 * The store functions, called as db_<table>_<verb>(db, ...): each goes
 * to the connection's engine.
 */
#define DB_CALL(db, fn, ...)	((db)->store->fn((db), __VA_ARGS__))

#define db_user_insert(db, ...)		DB_CALL(db, user_insert, __VA_ARGS__)
#define db_user_get_by_email(db, ...)	DB_CALL(db, user_get_by_email, __VA_ARGS__)
#define db_user_get_by_id(db, ...)	DB_CALL(db, user_get_by_id, __VA_ARGS__)
#define db_user_get_by_public_id(db, ...) DB_CALL(db, user_get_by_public_id, __VA_ARGS__)
#define db_device_check(db, ...)	DB_CALL(db, device_check, __VA_ARGS__)
#define db_device_get(db, ...)		DB_CALL(db, device_get, __VA_ARGS__)
#define db_devices_list(db, ...)	DB_CALL(db, devices_list, __VA_ARGS__)
#define db_devices_active_count(db, ...) DB_CALL(db, devices_active_count, __VA_ARGS__)
#define db_devices_online_count(db, ...) DB_CALL(db, devices_online_count, __VA_ARGS__)
#define db_device_insert(db, ...)	DB_CALL(db, device_insert, __VA_ARGS__)
#define db_device_login(db, ...)	DB_CALL(db, device_login, __VA_ARGS__)
#define db_device_update(db, ...)	DB_CALL(db, device_update, __VA_ARGS__)
#define db_device_revoke(db, ...)	DB_CALL(db, device_revoke, __VA_ARGS__)
#define db_device_seen(db, ...)		DB_CALL(db, device_seen, __VA_ARGS__)
#define db_device_push_mark(db, ...)	DB_CALL(db, device_push_mark, __VA_ARGS__)
#define db_device_pull_mark(db, ...)	DB_CALL(db, device_pull_mark, __VA_ARGS__)
#define db_devices_offline(db, ...)	DB_CALL(db, devices_offline, __VA_ARGS__)
#define db_refresh_insert(db, ...)	DB_CALL(db, refresh_insert, __VA_ARGS__)
#define db_refresh_get(db, ...)		DB_CALL(db, refresh_get, __VA_ARGS__)
#define db_refresh_spend(db, ...)	DB_CALL(db, refresh_spend, __VA_ARGS__)
#define db_refresh_forget(db, ...)	DB_CALL(db, refresh_forget, __VA_ARGS__)
#define db_session_get(db, ...)		DB_CALL(db, session_get, __VA_ARGS__)
#define db_session_insert(db, ...)	DB_CALL(db, session_insert, __VA_ARGS__)
#define db_sessions_list(db, ...)	DB_CALL(db, sessions_list, __VA_ARGS__)
#define db_session_kill(db, ...)	DB_CALL(db, session_kill, __VA_ARGS__)
#define db_session_primary_set(db, ...)	DB_CALL(db, session_primary_set, __VA_ARGS__)
#define db_session_lock_set(db, ...)	DB_CALL(db, session_lock_set, __VA_ARGS__)
#define db_session_messages_set(db, ...) DB_CALL(db, session_messages_set, __VA_ARGS__)
#define db_sessions_held_by(db, ...)	DB_CALL(db, sessions_held_by, __VA_ARGS__)
#define db_sessions_lapsed(db, ...)	DB_CALL(db, sessions_lapsed, __VA_ARGS__)
#define db_sessions_locks_expired(db, ...) DB_CALL(db, sessions_locks_expired, __VA_ARGS__)
#define db_participant_touch(db, ...)	DB_CALL(db, participant_touch, __VA_ARGS__)
#define db_failover_target(db, ...)	DB_CALL(db, failover_target, __VA_ARGS__)
#define db_message_get_by_cmid(db, ...)	DB_CALL(db, message_get_by_cmid, __VA_ARGS__)
#define db_message_find_hash(db, ...)	DB_CALL(db, message_find_hash, __VA_ARGS__)
#define db_message_insert(db, ...)	DB_CALL(db, message_insert, __VA_ARGS__)
#define db_messages_list(db, ...)	DB_CALL(db, messages_list, __VA_ARGS__)
#define db_record_state(db, ...)	DB_CALL(db, record_state, __VA_ARGS__)
#define db_record_get(db, ...)		DB_CALL(db, record_get, __VA_ARGS__)
#define db_record_data(db, ...)		DB_CALL(db, record_data, __VA_ARGS__)
#define db_revision_data(db, ...)	DB_CALL(db, revision_data, __VA_ARGS__)
#define db_record_put(db, ...)		DB_CALL(db, record_put, __VA_ARGS__)
#define db_records_pull(db, ...)	DB_CALL(db, records_pull, __VA_ARGS__)
#define db_records_each(db, ...)	DB_CALL(db, records_each, __VA_ARGS__)
#define db_revisions_list(db, ...)	DB_CALL(db, revisions_list, __VA_ARGS__)
#define db_pull_state(db, ...)		DB_CALL(db, pull_state, __VA_ARGS__)
#define db_sync_cursor(db, ...)		DB_CALL(db, sync_cursor, __VA_ARGS__)
#define db_collections_list(db, ...)	DB_CALL(db, collections_list, __VA_ARGS__)
#define db_usage_get(db, ...)		DB_CALL(db, usage_get, __VA_ARGS__)
#define db_usage_add(db, ...)		DB_CALL(db, usage_add, __VA_ARGS__)
#define db_tombstones_old(db, ...)	DB_CALL(db, tombstones_old, __VA_ARGS__)
#define db_tombstone_purge(db, ...)	DB_CALL(db, tombstone_purge, __VA_ARGS__)
#define db_conflict_find_open(db, ...)	DB_CALL(db, conflict_find_open, __VA_ARGS__)
#define db_conflict_insert(db, ...)	DB_CALL(db, conflict_insert, __VA_ARGS__)
#define db_conflict_get(db, ...)	DB_CALL(db, conflict_get, __VA_ARGS__)
#define db_conflicts_list(db, ...)	DB_CALL(db, conflicts_list, __VA_ARGS__)
#define db_conflicts_open_count(db, ...) DB_CALL(db, conflicts_open_count, __VA_ARGS__)
#define db_conflict_resolve(db, ...)	DB_CALL(db, conflict_resolve, __VA_ARGS__)
#define db_event_insert(db, ...)	DB_CALL(db, event_insert, __VA_ARGS__)
#define db_event_get(db, ...)		DB_CALL(db, event_get, __VA_ARGS__)
#define db_events_head(db, ...)		DB_CALL(db, events_head, __VA_ARGS__)
#define db_events_page(db, ...)		DB_CALL(db, events_page, __VA_ARGS__)
#define db_events_prune(db, ...)	DB_CALL(db, events_prune, __VA_ARGS__)
#define db_events_oldest(db, ...)	DB_CALL(db, events_oldest, __VA_ARGS__)
#define db_service_key_insert(db, ...)	DB_CALL(db, service_key_insert, __VA_ARGS__)
#define db_service_key_get_by_hash(db, ...) DB_CALL(db, service_key_get_by_hash, __VA_ARGS__)
#define db_service_keys_list(db, ...)	DB_CALL(db, service_keys_list, __VA_ARGS__)
#define db_service_key_delete(db, ...)	DB_CALL(db, service_key_delete, __VA_ARGS__)
#define db_service_key_touch(db, ...)	DB_CALL(db, service_key_touch, __VA_ARGS__)
#define db_admin_counts(db, ...)	DB_CALL(db, admin_counts, __VA_ARGS__)
#define db_link_insert(db, ...)		DB_CALL(db, link_insert, __VA_ARGS__)
#define db_link_get(db, ...)		DB_CALL(db, link_get, __VA_ARGS__)
#define db_link_get_by_code(db, ...)	DB_CALL(db, link_get_by_code, __VA_ARGS__)
#define db_link_status_set(db, ...)	DB_CALL(db, link_status_set, __VA_ARGS__)
#define db_links_prune(db, ...)		DB_CALL(db, links_prune, __VA_ARGS__)
#define db_links_due(db, ...)		DB_CALL(db, links_due, __VA_ARGS__)
#define db_link_miss_insert(db, ...)	DB_CALL(db, link_miss_insert, __VA_ARGS__)
#define db_link_misses_recent(db, ...)	DB_CALL(db, link_misses_recent, __VA_ARGS__)
#define db_link_misses_prune(db, ...)	DB_CALL(db, link_misses_prune, __VA_ARGS__)

#endif
