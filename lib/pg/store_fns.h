/*
 * The PostgreSQL engine's store functions (store_<area>.c), and the parts of
 * struct store that engine.c puts together from them.
 */
#ifndef TANDEM_PG_STORE_FNS_H
#define TANDEM_PG_STORE_FNS_H

#include "store.h"

/* users, devices, refresh tokens */
int	 pg_user_insert(struct db *, const char *public_id, const char *email,
	    const char *password_hash, int64_t now, int64_t *id);
int	 pg_user_get_by_email(struct db *, const char *email,
	    struct user_row *);
int	 pg_user_get_by_id(struct db *, int64_t id, struct user_row *);
int	 pg_user_get_by_public_id(struct db *, const char *public_id,
	    struct user_row *);
int	 pg_device_check(struct db *, const char *user_pub,
	    const char *device_id, struct device_auth *);
int	 pg_device_get(struct db *, int64_t user_id, const char *device_id,
	    struct device_row *);
int	 pg_devices_list(struct db *, int64_t user_id, int all, device_cb,
	    void *);
int	 pg_devices_active_count(struct db *, int64_t user_id,
	    const char *except, int64_t *n);
int	 pg_devices_online_count(struct db *, int64_t user_id, int64_t since,
	    int64_t *n);
int	 pg_device_insert(struct db *, int64_t user_id,
	    const struct device_row *);
int	 pg_device_login(struct db *, int64_t user_id,
	    const struct device_row *);
int	 pg_device_update(struct db *, int64_t user_id, const char *device_id,
	    const char *name, int set_push, const char *push_token);
int	 pg_device_revoke(struct db *, int64_t user_id, const char *device_id,
	    int64_t now);
int	 pg_device_seen(struct db *, int64_t user_id, const char *device_id,
	    int64_t now, int *was_offline);
int	 pg_device_push_mark(struct db *, int64_t user_id,
	    const char *device_id, int64_t now);
int	 pg_device_pull_mark(struct db *, int64_t user_id,
	    const char *device_id, int64_t now);
int	 pg_devices_offline(struct db *, int64_t seen_before, key_cb, void *);
int	 pg_refresh_insert(struct db *, const unsigned char hash[32],
	    int64_t user_id, const char *device_id, const char *family,
	    int64_t now, int64_t expires_at);
int	 pg_refresh_get(struct db *, const unsigned char hash[32],
	    struct refresh_row *);
int	 pg_refresh_spend(struct db *, const unsigned char hash[32],
	    int64_t now);
int	 pg_refresh_forget(struct db *, int64_t expired_before);

/* sessions, messages */
int	 pg_session_get(struct db *, int64_t user_id, const char *sid,
	    int for_update, struct session_row *);
int	 pg_session_insert(struct db *, int64_t user_id, const char *sid,
	    const char *title, int64_t now);
int	 pg_sessions_list(struct db *, int64_t user_id, enum session_filter,
	    const char *after, int64_t limit, session_cb, void *);
int	 pg_session_kill(struct db *, int64_t user_id, const char *sid,
	    int64_t at, const char *reason);
int	 pg_session_primary_set(struct db *, int64_t user_id, const char *sid,
	    const struct primary_change *);
int	 pg_session_lock_set(struct db *, int64_t user_id, const char *sid,
	    const struct lock_change *);
int	 pg_session_messages_set(struct db *, int64_t user_id, const char *sid,
	    int64_t count, int64_t last_at);
int	 pg_sessions_held_by(struct db *, int64_t user_id,
	    const char *device_id, session_cb, void *);
int	 pg_sessions_lapsed(struct db *, int64_t now, int64_t limit, key_cb,
	    void *);
int	 pg_sessions_locks_expired(struct db *, int64_t now, int64_t limit,
	    key_cb, void *);
int	 pg_participant_touch(struct db *, int64_t user_id, const char *sid,
	    const char *device_id, int64_t now);
int	 pg_failover_target(struct db *, int64_t user_id, const char *sid,
	    const char *except, int64_t seen_since, char out[DB_ID_CAP]);
int	 pg_message_get_by_cmid(struct db *, int64_t user_id, const char *sid,
	    const char *device_id, const char *cmid, struct message_row *);
int	 pg_message_find_hash(struct db *, int64_t user_id, const char *sid,
	    const char *hash, int64_t since, struct message_ref *);
int	 pg_message_insert(struct db *, const struct message_row *,
	    int64_t *id);
int	 pg_messages_list(struct db *, int64_t user_id, const char *sid,
	    int64_t after, int64_t limit, message_cb, void *);

/* records, conflicts */
int	 pg_record_state(struct db *, int64_t user_id, const char *collection,
	    const char *id, struct record_state *);
int	 pg_record_get(struct db *, int64_t user_id, const char *collection,
	    const char *id, struct record_row *);
int	 pg_record_data(struct db *, int64_t user_id, const char *collection,
	    const char *id, char **data);
int	 pg_revision_data(struct db *, int64_t user_id, const char *collection,
	    const char *id, int64_t version, char **data);
int	 pg_record_put(struct db *, int64_t user_id,
	    const struct record_write *, const struct record_state *);
int	 pg_records_pull(struct db *, int64_t user_id, int64_t since,
	    const char *const *collections, size_t ncollections, int64_t limit,
	    record_cb, void *);
int	 pg_records_each(struct db *, int64_t user_id, record_cb, void *);
int	 pg_revisions_list(struct db *, int64_t user_id,
	    const char *collection, const char *id, int64_t limit, revision_cb,
	    void *);
int	 pg_pull_state(struct db *, int64_t user_id, const char *device_id,
	    struct pull_state *);
int	 pg_sync_cursor(struct db *, int64_t user_id, int64_t *cursor);
int	 pg_collections_list(struct db *, int64_t user_id, collection_cb,
	    void *);
int	 pg_usage_get(struct db *, int64_t user_id, int64_t *bytes,
	    int64_t *records);
int	 pg_usage_add(struct db *, int64_t user_id, int64_t bytes,
	    int64_t records);
int	 pg_tombstones_old(struct db *, int64_t before_version, int64_t limit,
	    tombstone_cb, void *);
int	 pg_tombstone_purge(struct db *, const struct tombstone_key *);
int	 pg_conflict_find_open(struct db *, int64_t user_id,
	    const struct conflict_new *, int64_t *id);
int	 pg_conflict_insert(struct db *, int64_t user_id,
	    const struct conflict_new *, int64_t *id);
int	 pg_conflict_get(struct db *, int64_t user_id, int64_t id,
	    struct conflict_row *);
int	 pg_conflicts_list(struct db *, int64_t user_id, enum conflict_filter,
	    const char *collection, int64_t after, int64_t limit, conflict_cb,
	    void *);
int	 pg_conflicts_open_count(struct db *, int64_t user_id, int64_t *n);
int	 pg_conflict_resolve(struct db *, int64_t user_id, int64_t id,
	    const char *resolution, const char *device_id, int64_t now,
	    int64_t version);

/* events */
int	 pg_event_insert(struct db *, int64_t user_id,
	    const struct event_new *, int64_t *seq);
int	 pg_event_get(struct db *, int64_t user_id, int64_t seq,
	    struct event_row *);
int	 pg_events_head(struct db *, int64_t user_id, struct event_head *);
int	 pg_events_page(struct db *, const struct event_query *,
	    struct event_head *, event_cb, void *);
int	 pg_events_prune(struct db *, int64_t before_at, int64_t batch,
	    int *done);
int	 pg_events_oldest(struct db *, int64_t *at);

/* service keys */
int	 pg_service_key_insert(struct db *, const char *name,
	    const unsigned char hash[32], const char *scopes, int64_t now);
int	 pg_service_key_get_by_hash(struct db *, const unsigned char hash[32],
	    struct service_key_row *);
int	 pg_service_keys_list(struct db *, service_key_cb, void *);
int	 pg_service_key_delete(struct db *, const char *name);
int	 pg_service_key_touch(struct db *, const char *name, int64_t now,
	    int64_t before);

/* admin */
int	 pg_admin_counts(struct db *, int64_t online_since,
	    struct admin_counts *);

/* links */
int	 pg_link_insert(struct db *, const struct link_row *);
int	 pg_link_get(struct db *, const char *id, struct link_row *);
int	 pg_link_get_by_code(struct db *, const char *code, struct link_row *);
int	 pg_link_status_set(struct db *, const char *id,
	    enum link_status from, enum link_status to, int64_t user_id,
	    int64_t now);
int	 pg_links_prune(struct db *, int64_t expired_before);
int	 pg_links_due(struct db *, int64_t expired_before,
	    int64_t misses_before, int *due);
int	 pg_link_miss_insert(struct db *, int64_t user_id, int64_t at);
int	 pg_link_misses_recent(struct db *, int64_t user_id, int64_t since,
	    int64_t *at, size_t max, size_t *n);
int	 pg_link_misses_prune(struct db *, int64_t before);

#define PG_STORE_AUTH \
	.user_insert = pg_user_insert, \
	.user_get_by_email = pg_user_get_by_email, \
	.user_get_by_id = pg_user_get_by_id, \
	.user_get_by_public_id = pg_user_get_by_public_id, \
	.device_check = pg_device_check, \
	.device_get = pg_device_get, \
	.devices_list = pg_devices_list, \
	.devices_active_count = pg_devices_active_count, \
	.devices_online_count = pg_devices_online_count, \
	.device_insert = pg_device_insert, \
	.device_login = pg_device_login, \
	.device_update = pg_device_update, \
	.device_revoke = pg_device_revoke, \
	.device_seen = pg_device_seen, \
	.device_push_mark = pg_device_push_mark, \
	.device_pull_mark = pg_device_pull_mark, \
	.devices_offline = pg_devices_offline, \
	.refresh_insert = pg_refresh_insert, \
	.refresh_get = pg_refresh_get, \
	.refresh_spend = pg_refresh_spend, \
	.refresh_forget = pg_refresh_forget

#define PG_STORE_SESSIONS \
	.session_get = pg_session_get, \
	.session_insert = pg_session_insert, \
	.sessions_list = pg_sessions_list, \
	.session_kill = pg_session_kill, \
	.session_primary_set = pg_session_primary_set, \
	.session_lock_set = pg_session_lock_set, \
	.session_messages_set = pg_session_messages_set, \
	.sessions_held_by = pg_sessions_held_by, \
	.sessions_lapsed = pg_sessions_lapsed, \
	.sessions_locks_expired = pg_sessions_locks_expired, \
	.participant_touch = pg_participant_touch, \
	.failover_target = pg_failover_target, \
	.message_get_by_cmid = pg_message_get_by_cmid, \
	.message_find_hash = pg_message_find_hash, \
	.message_insert = pg_message_insert, \
	.messages_list = pg_messages_list

#define PG_STORE_SYNC \
	.record_state = pg_record_state, \
	.record_get = pg_record_get, \
	.record_data = pg_record_data, \
	.revision_data = pg_revision_data, \
	.record_put = pg_record_put, \
	.records_pull = pg_records_pull, \
	.records_each = pg_records_each, \
	.revisions_list = pg_revisions_list, \
	.pull_state = pg_pull_state, \
	.sync_cursor = pg_sync_cursor, \
	.collections_list = pg_collections_list, \
	.usage_get = pg_usage_get, \
	.usage_add = pg_usage_add, \
	.tombstones_old = pg_tombstones_old, \
	.tombstone_purge = pg_tombstone_purge, \
	.conflict_find_open = pg_conflict_find_open, \
	.conflict_insert = pg_conflict_insert, \
	.conflict_get = pg_conflict_get, \
	.conflicts_list = pg_conflicts_list, \
	.conflicts_open_count = pg_conflicts_open_count, \
	.conflict_resolve = pg_conflict_resolve

#define PG_STORE_EVENTS \
	.event_insert = pg_event_insert, \
	.event_get = pg_event_get, \
	.events_head = pg_events_head, \
	.events_page = pg_events_page, \
	.events_prune = pg_events_prune, \
	.events_oldest = pg_events_oldest

#define PG_STORE_SERVICE \
	.service_key_insert = pg_service_key_insert, \
	.service_key_get_by_hash = pg_service_key_get_by_hash, \
	.service_keys_list = pg_service_keys_list, \
	.service_key_delete = pg_service_key_delete, \
	.service_key_touch = pg_service_key_touch

#define PG_STORE_ADMIN \
	.admin_counts = pg_admin_counts

#define PG_STORE_LINKS \
	.link_insert = pg_link_insert, \
	.link_get = pg_link_get, \
	.link_get_by_code = pg_link_get_by_code, \
	.link_status_set = pg_link_status_set, \
	.links_prune = pg_links_prune, \
	.links_due = pg_links_due, \
	.link_miss_insert = pg_link_miss_insert, \
	.link_misses_recent = pg_link_misses_recent, \
	.link_misses_prune = pg_link_misses_prune

#endif
