/*
 * The SQLite engine's store functions (store_<area>.c), and the parts of
 * struct store that engine.c puts together from them.
 */
#ifndef TANDEM_SQLITE_STORE_FNS_H
#define TANDEM_SQLITE_STORE_FNS_H

#include "store.h"

/* users, devices, refresh tokens */
int	 sq_user_insert(struct db *, const char *public_id, const char *email,
	    const char *password_hash, int64_t now, int64_t *id);
int	 sq_user_get_by_email(struct db *, const char *email,
	    struct user_row *);
int	 sq_user_get_by_id(struct db *, int64_t id, struct user_row *);
int	 sq_user_get_by_public_id(struct db *, const char *public_id,
	    struct user_row *);
int	 sq_device_check(struct db *, const char *user_pub,
	    const char *device_id, struct device_auth *);
int	 sq_device_get(struct db *, int64_t user_id, const char *device_id,
	    struct device_row *);
int	 sq_devices_list(struct db *, int64_t user_id, int all, device_cb,
	    void *);
int	 sq_devices_active_count(struct db *, int64_t user_id,
	    const char *except, int64_t *n);
int	 sq_devices_online_count(struct db *, int64_t user_id, int64_t since,
	    int64_t *n);
int	 sq_device_insert(struct db *, int64_t user_id,
	    const struct device_row *);
int	 sq_device_login(struct db *, int64_t user_id,
	    const struct device_row *);
int	 sq_device_update(struct db *, int64_t user_id, const char *device_id,
	    const char *name, int set_push, const char *push_token);
int	 sq_device_revoke(struct db *, int64_t user_id, const char *device_id,
	    int64_t now);
int	 sq_device_seen(struct db *, int64_t user_id, const char *device_id,
	    int64_t now, int *was_offline);
int	 sq_device_push_mark(struct db *, int64_t user_id,
	    const char *device_id, int64_t now);
int	 sq_device_pull_mark(struct db *, int64_t user_id,
	    const char *device_id, int64_t now);
int	 sq_devices_offline(struct db *, int64_t seen_before, key_cb, void *);
int	 sq_refresh_insert(struct db *, const unsigned char hash[32],
	    int64_t user_id, const char *device_id, const char *family,
	    int64_t now, int64_t expires_at);
int	 sq_refresh_get(struct db *, const unsigned char hash[32],
	    struct refresh_row *);
int	 sq_refresh_spend(struct db *, const unsigned char hash[32],
	    int64_t now);
int	 sq_refresh_forget(struct db *, int64_t expired_before);

/* sessions, messages */
int	 sq_session_get(struct db *, int64_t user_id, const char *sid,
	    int for_update, struct session_row *);
int	 sq_session_insert(struct db *, int64_t user_id, const char *sid,
	    const char *title, int64_t now);
int	 sq_sessions_list(struct db *, int64_t user_id, enum session_filter,
	    const char *after, int64_t limit, session_cb, void *);
int	 sq_session_kill(struct db *, int64_t user_id, const char *sid,
	    int64_t at, const char *reason);
int	 sq_session_primary_set(struct db *, int64_t user_id, const char *sid,
	    const struct primary_change *);
int	 sq_session_lock_set(struct db *, int64_t user_id, const char *sid,
	    const struct lock_change *);
int	 sq_session_messages_set(struct db *, int64_t user_id, const char *sid,
	    int64_t count, int64_t last_at);
int	 sq_sessions_held_by(struct db *, int64_t user_id,
	    const char *device_id, session_cb, void *);
int	 sq_sessions_lapsed(struct db *, int64_t now, int64_t limit, key_cb,
	    void *);
int	 sq_sessions_locks_expired(struct db *, int64_t now, int64_t limit,
	    key_cb, void *);
int	 sq_participant_touch(struct db *, int64_t user_id, const char *sid,
	    const char *device_id, int64_t now);
int	 sq_failover_target(struct db *, int64_t user_id, const char *sid,
	    const char *except, int64_t seen_since, char out[DB_ID_CAP]);
int	 sq_message_get_by_cmid(struct db *, int64_t user_id, const char *sid,
	    const char *device_id, const char *cmid, struct message_row *);
int	 sq_message_find_hash(struct db *, int64_t user_id, const char *sid,
	    const char *hash, int64_t since, struct message_ref *);
int	 sq_message_insert(struct db *, const struct message_row *,
	    int64_t *id);
int	 sq_messages_list(struct db *, int64_t user_id, const char *sid,
	    int64_t after, int64_t limit, message_cb, void *);

/* records, conflicts */
int	 sq_record_state(struct db *, int64_t user_id, const char *collection,
	    const char *id, struct record_state *);
int	 sq_record_get(struct db *, int64_t user_id, const char *collection,
	    const char *id, struct record_row *);
int	 sq_record_data(struct db *, int64_t user_id, const char *collection,
	    const char *id, char **data);
int	 sq_revision_data(struct db *, int64_t user_id, const char *collection,
	    const char *id, int64_t version, char **data);
int	 sq_record_put(struct db *, int64_t user_id,
	    const struct record_write *, const struct record_state *);
int	 sq_records_pull(struct db *, int64_t user_id, int64_t since,
	    const char *const *collections, size_t ncollections, int64_t limit,
	    record_cb, void *);
int	 sq_records_each(struct db *, int64_t user_id, record_cb, void *);
int	 sq_revisions_list(struct db *, int64_t user_id,
	    const char *collection, const char *id, int64_t limit, revision_cb,
	    void *);
int	 sq_pull_state(struct db *, int64_t user_id, const char *device_id,
	    struct pull_state *);
int	 sq_sync_cursor(struct db *, int64_t user_id, int64_t *cursor);
int	 sq_collections_list(struct db *, int64_t user_id, collection_cb,
	    void *);
int	 sq_usage_get(struct db *, int64_t user_id, int64_t *bytes,
	    int64_t *records);
int	 sq_usage_add(struct db *, int64_t user_id, int64_t bytes,
	    int64_t records);
int	 sq_tombstones_old(struct db *, int64_t before_version, int64_t limit,
	    tombstone_cb, void *);
int	 sq_tombstone_purge(struct db *, const struct tombstone_key *);
int	 sq_conflict_find_open(struct db *, int64_t user_id,
	    const struct conflict_new *, int64_t *id);
int	 sq_conflict_insert(struct db *, int64_t user_id,
	    const struct conflict_new *, int64_t *id);
int	 sq_conflict_get(struct db *, int64_t user_id, int64_t id,
	    struct conflict_row *);
int	 sq_conflicts_list(struct db *, int64_t user_id, enum conflict_filter,
	    const char *collection, int64_t after, int64_t limit, conflict_cb,
	    void *);
int	 sq_conflicts_open_count(struct db *, int64_t user_id, int64_t *n);
int	 sq_conflict_resolve(struct db *, int64_t user_id, int64_t id,
	    const char *resolution, const char *device_id, int64_t now,
	    int64_t version);

/* events */
int	 sq_event_insert(struct db *, int64_t user_id,
	    const struct event_new *, int64_t *seq);
int	 sq_event_get(struct db *, int64_t user_id, int64_t seq,
	    struct event_row *);
int	 sq_events_head(struct db *, int64_t user_id, struct event_head *);
int	 sq_events_page(struct db *, const struct event_query *,
	    struct event_head *, event_cb, void *);
int	 sq_events_prune(struct db *, int64_t before_at, int64_t batch,
	    int *done);
int	 sq_events_oldest(struct db *, int64_t *at);

/* service keys */
int	 sq_service_key_insert(struct db *, const char *name,
	    const unsigned char hash[32], const char *scopes, int64_t now);
int	 sq_service_key_get_by_hash(struct db *, const unsigned char hash[32],
	    struct service_key_row *);
int	 sq_service_keys_list(struct db *, service_key_cb, void *);
int	 sq_service_key_delete(struct db *, const char *name);
int	 sq_service_key_touch(struct db *, const char *name, int64_t now,
	    int64_t before);

/* admin */
int	 sq_admin_counts(struct db *, int64_t online_since,
	    struct admin_counts *);

/* links */
int	 sq_link_insert(struct db *, const struct link_row *);
int	 sq_link_get(struct db *, const char *id, struct link_row *);
int	 sq_link_get_by_code(struct db *, const char *code, struct link_row *);
int	 sq_link_status_set(struct db *, const char *id,
	    enum link_status from, enum link_status to, int64_t user_id,
	    int64_t now);
int	 sq_links_prune(struct db *, int64_t expired_before);
int	 sq_links_due(struct db *, int64_t expired_before,
	    int64_t misses_before, int *due);
int	 sq_link_miss_insert(struct db *, int64_t user_id, int64_t at);
int	 sq_link_misses_recent(struct db *, int64_t user_id, int64_t since,
	    int64_t *at, size_t max, size_t *n);
int	 sq_link_misses_prune(struct db *, int64_t before);

#define SQ_STORE_AUTH \
	.user_insert = sq_user_insert, \
	.user_get_by_email = sq_user_get_by_email, \
	.user_get_by_id = sq_user_get_by_id, \
	.user_get_by_public_id = sq_user_get_by_public_id, \
	.device_check = sq_device_check, \
	.device_get = sq_device_get, \
	.devices_list = sq_devices_list, \
	.devices_active_count = sq_devices_active_count, \
	.devices_online_count = sq_devices_online_count, \
	.device_insert = sq_device_insert, \
	.device_login = sq_device_login, \
	.device_update = sq_device_update, \
	.device_revoke = sq_device_revoke, \
	.device_seen = sq_device_seen, \
	.device_push_mark = sq_device_push_mark, \
	.device_pull_mark = sq_device_pull_mark, \
	.devices_offline = sq_devices_offline, \
	.refresh_insert = sq_refresh_insert, \
	.refresh_get = sq_refresh_get, \
	.refresh_spend = sq_refresh_spend, \
	.refresh_forget = sq_refresh_forget

#define SQ_STORE_SESSIONS \
	.session_get = sq_session_get, \
	.session_insert = sq_session_insert, \
	.sessions_list = sq_sessions_list, \
	.session_kill = sq_session_kill, \
	.session_primary_set = sq_session_primary_set, \
	.session_lock_set = sq_session_lock_set, \
	.session_messages_set = sq_session_messages_set, \
	.sessions_held_by = sq_sessions_held_by, \
	.sessions_lapsed = sq_sessions_lapsed, \
	.sessions_locks_expired = sq_sessions_locks_expired, \
	.participant_touch = sq_participant_touch, \
	.failover_target = sq_failover_target, \
	.message_get_by_cmid = sq_message_get_by_cmid, \
	.message_find_hash = sq_message_find_hash, \
	.message_insert = sq_message_insert, \
	.messages_list = sq_messages_list

#define SQ_STORE_SYNC \
	.record_state = sq_record_state, \
	.record_get = sq_record_get, \
	.record_data = sq_record_data, \
	.revision_data = sq_revision_data, \
	.record_put = sq_record_put, \
	.records_pull = sq_records_pull, \
	.records_each = sq_records_each, \
	.revisions_list = sq_revisions_list, \
	.pull_state = sq_pull_state, \
	.sync_cursor = sq_sync_cursor, \
	.collections_list = sq_collections_list, \
	.usage_get = sq_usage_get, \
	.usage_add = sq_usage_add, \
	.tombstones_old = sq_tombstones_old, \
	.tombstone_purge = sq_tombstone_purge, \
	.conflict_find_open = sq_conflict_find_open, \
	.conflict_insert = sq_conflict_insert, \
	.conflict_get = sq_conflict_get, \
	.conflicts_list = sq_conflicts_list, \
	.conflicts_open_count = sq_conflicts_open_count, \
	.conflict_resolve = sq_conflict_resolve

#define SQ_STORE_EVENTS \
	.event_insert = sq_event_insert, \
	.event_get = sq_event_get, \
	.events_head = sq_events_head, \
	.events_page = sq_events_page, \
	.events_prune = sq_events_prune, \
	.events_oldest = sq_events_oldest

#define SQ_STORE_SERVICE \
	.service_key_insert = sq_service_key_insert, \
	.service_key_get_by_hash = sq_service_key_get_by_hash, \
	.service_keys_list = sq_service_keys_list, \
	.service_key_delete = sq_service_key_delete, \
	.service_key_touch = sq_service_key_touch

#define SQ_STORE_ADMIN \
	.admin_counts = sq_admin_counts

#define SQ_STORE_LINKS \
	.link_insert = sq_link_insert, \
	.link_get = sq_link_get, \
	.link_get_by_code = sq_link_get_by_code, \
	.link_status_set = sq_link_status_set, \
	.links_prune = sq_links_prune, \
	.links_due = sq_links_due, \
	.link_miss_insert = sq_link_miss_insert, \
	.link_misses_recent = sq_link_misses_recent, \
	.link_misses_prune = sq_link_misses_prune

#endif
