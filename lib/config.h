/*
 * config: every tunable of tandemd, read once from TANDEM_* environment
 * variables at start-up.  The table in config.c is the one list of them;
 * README.md's configuration table mirrors it.
 */
#ifndef TANDEM_CONFIG_H
#define TANDEM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct secret_set;

struct config {
	char	*data_dir;		/* TANDEM_DATA_DIR */
	char	*db_path;		/* TANDEM_DB */
	char	*db_url;		/* TANDEM_DB_URL: PostgreSQL */
	char	*socket_path;		/* TANDEM_SOCKET */
	char	*jwt_secret;		/* TANDEM_JWT_SECRET or the file's */
	size_t	 jwt_secret_len;
	char	*jwt_issuer;		/* TANDEM_JWT_ISSUER */
	char	*log_level;		/* TANDEM_LOG_LEVEL */
	int64_t	 workers;		/* TANDEM_WORKERS */
	int64_t	 threads;		/* TANDEM_THREADS */
	int64_t	 db_pool;		/* TANDEM_DB_POOL */
	int64_t	 db_notify;		/* TANDEM_DB_NOTIFY: PostgreSQL */
	int64_t	 max_body_bytes;
	int64_t	 max_batch;
	int64_t	 max_record_bytes;
	int64_t	 max_message_bytes;
	int64_t	 max_event_bytes;
	int64_t	 dedup_window_ms;
	int64_t	 primary_ttl_ms;
	int64_t	 presence_ttl_ms;
	int64_t	 stale_after_ms;
	int64_t	 seen_write_ms;
	int64_t	 max_poll_timeout_s;
	int64_t	 stream_max_s;
	int64_t	 max_import_bytes;
	int64_t	 max_write_ms;
	int64_t	 quota_bytes;
	int64_t	 quota_records;
	int64_t	 max_waits_per_device;
	int64_t	 max_waits_per_user;
	int64_t	 tombstone_days;
	int64_t	 event_days;
	int64_t	 max_devices;
	int64_t	 rate_per_s;
	int64_t	 rate_burst;
	int64_t	 service_rate_per_s;
	int64_t	 service_rate_burst;
	int64_t	 secret_guard;		/* enum secret_guard */
	int64_t	 access_ttl_s;
	int64_t	 refresh_ttl_s;
	int64_t	 link_ttl_s;
	int64_t	 argon2_m_kib;
	int64_t	 argon2_t;
	int64_t	 argon2_p;
	int64_t	 argon2_concurrency;
	int64_t	 sweep_ms;
	int64_t	 history_keep;
	int64_t	 shutdown_grace_s;
	char	*cors_origins;		/* TANDEM_CORS_ORIGINS, or NULL */
	char	*secret_patterns;	/* TANDEM_SECRET_PATTERNS, or NULL */
	struct secret_set *secrets;	/* the guard's kinds, compiled */
};

extern struct config cfg;

int	 config_load(char *err, size_t errsz);
void	 config_free(void);
int	 config_dump_table(void);

#endif
