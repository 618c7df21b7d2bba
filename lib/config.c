#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "cors.h"
#include "secret.h"

struct config cfg;

/*
 * CONF_ORIGINS: a string, checked as a list of web origins (lib/cors).
 * CONF_GUARD: TANDEM_SECRET_GUARD's words, kept as an enum secret_guard.
 */
enum conf_type { CONF_INT, CONF_STR, CONF_ORIGINS, CONF_GUARD };

struct conf_var {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;
	const char	*def;		/* default, NULL = computed */
	int64_t		 min, max;
	const char	*help;
};

#define I(f) CONF_INT, offsetof(struct config, f)
#define S(f) CONF_STR, offsetof(struct config, f)
#define O(f) CONF_ORIGINS, offsetof(struct config, f)
#define G(f) CONF_GUARD, offsetof(struct config, f)

static const struct conf_var vars[] = {
	{ "TANDEM_DATA_DIR", S(data_dir), "./var", 0, 0,
	  "data directory: database, secret, certificate, sockets" },
	{ "TANDEM_DB", S(db_path), NULL, 0, 0,
	  "SQLite database file (default DATA_DIR/tandem.db)" },
	{ "TANDEM_DB_URL", S(db_url), NULL, 0, 0,
	  "a libpq URI: PostgreSQL instead of SQLite (unset: SQLite)" },
	{ "TANDEM_SOCKET", S(socket_path), NULL, 0, 0,
	  "FastCGI unix socket (default DATA_DIR/run/tandemd.sock)" },
	{ "TANDEM_JWT_ISSUER", S(jwt_issuer), "tandem", 0, 0,
	  "iss claim of access tokens" },
	{ "TANDEM_LOG_LEVEL", S(log_level), "info", 0, 0,
	  "debug, info, warn or error" },
	{ "TANDEM_WORKERS", I(workers), NULL, 1, 64,
	  "worker processes (default: number of cores)" },
	{ "TANDEM_THREADS", I(threads), "64", 1, 8192,
	  "threads per worker serving requests (a waiting poll holds none)" },
	{ "TANDEM_DB_NOTIFY", I(db_notify), "1", 0, 1,
	  "PostgreSQL: 1 a notifier thread per process tells the other hosts of commits, coalescing; 0 each writer after its commit" },
	{ "TANDEM_DB_POOL", I(db_pool), "8", 1, 256,
	  "database connections per worker process (PostgreSQL: a host opens workers x (this + 1) + 3)" },
	{ "TANDEM_MAX_BODY_BYTES", I(max_body_bytes), "1048576", 1024, 64 << 20,
	  "largest request body (nginx lets twice it through, tandemd refuses)" },
	{ "TANDEM_MAX_BATCH", I(max_batch), "500", 1, 100000,
	  "most changes in one push" },
	{ "TANDEM_MAX_RECORD_BYTES", I(max_record_bytes), "262144", 64, 64 << 20,
	  "largest record (canonical JSON bytes)" },
	{ "TANDEM_MAX_MESSAGE_BYTES", I(max_message_bytes), "65536", 64, 64 << 20,
	  "largest message body (canonical JSON bytes)" },
	{ "TANDEM_MAX_EVENT_BYTES", I(max_event_bytes), "16384", 64, 64 << 20,
	  "largest application event data (canonical JSON bytes)" },
	{ "TANDEM_DEDUP_WINDOW_MS", I(dedup_window_ms), "5000", 0, 86400000,
	  "duplicate-message window; 0 turns it off" },
	{ "TANDEM_PRIMARY_TTL_MS", I(primary_ttl_ms), "90000", 100, 86400000,
	  "primary device lease" },
	{ "TANDEM_PRESENCE_TTL_MS", I(presence_ttl_ms), "90000", 100, 86400000,
	  "a device seen within this is online" },
	{ "TANDEM_STALE_AFTER_MS", I(stale_after_ms), "86400000", 1000,
	  INT64_C(31536000000), "a device unseen for this long is stale" },
	{ "TANDEM_SEEN_WRITE_MS", I(seen_write_ms), "15000", 0, 3600000,
	  "last_seen_at is written at most this often per device" },
	{ "TANDEM_MAX_POLL_TIMEOUT_S", I(max_poll_timeout_s), "55", 0, 55,
	  "longest long poll" },
	{ "TANDEM_MAX_IMPORT_BYTES", I(max_import_bytes), "33554432", 1024,
	  INT64_C(1073741824), "largest POST /import body (an export)" },
	{ "TANDEM_STREAM_MAX_S", I(stream_max_s), "300", 1, 86400,
	  "an event stream is ended after this long (the client resumes)" },
	{ "TANDEM_MAX_WAITS_PER_DEVICE", I(max_waits_per_device), "8", 0,
	  1000000, "polls and streams waiting at once per device; 0: no cap" },
	{ "TANDEM_MAX_WAITS_PER_USER", I(max_waits_per_user), "64", 0,
	  1000000, "polls and streams waiting at once per user; 0: no cap" },
	{ "TANDEM_QUOTA_BYTES", I(quota_bytes), "1073741824", 0,
	  INT64_C(1099511627776), "canonical bytes of records (tombstones and "
	  "message bodies included) per user; 0: no quota" },
	{ "TANDEM_QUOTA_RECORDS", I(quota_records), "1000000", 0,
	  INT64_C(1000000000000), "records per user, tombstones included; "
	  "0: no quota" },
	{ "TANDEM_MAX_WRITE_MS", I(max_write_ms), "2000", 10, 600000,
	  "longest a request may hold the write lock (else 503, or a conflict for merge)" },
	{ "TANDEM_TOMBSTONE_DAYS", I(tombstone_days), "30", 0, 36500,
	  "days tombstones are kept" },
	{ "TANDEM_EVENT_DAYS", I(event_days), "7", 0, 36500,
	  "days events are kept" },
	{ "TANDEM_MAX_DEVICES", I(max_devices), "10", 1, 10000,
	  "active devices per user" },
	{ "TANDEM_RATE_PER_S", I(rate_per_s), "50", 0, 1000000,
	  "requests per second per device; 0 turns the limit off" },
	{ "TANDEM_RATE_BURST", I(rate_burst), "100", 1, 1000000,
	  "burst per device" },
	{ "TANDEM_SERVICE_RATE_PER_S", I(service_rate_per_s), "500", 0,
	  1000000, "requests per second per service key; 0 turns the limit "
	  "off" },
	{ "TANDEM_SERVICE_RATE_BURST", I(service_rate_burst), "1000", 1,
	  1000000, "burst per service key" },
	{ "TANDEM_SECRET_GUARD", G(secret_guard), "1", 0, 0,
	  "records holding a secret (a private key, a live token): 1 or "
	  "refuse: 422 SECRET_REJECTED; redact: stored with each one "
	  "replaced by [REDACTED:kind]; 0 or off: stored as sent" },
	{ "TANDEM_SECRET_PATTERNS", S(secret_patterns), NULL, 0, 0,
	  "a file of more secret kinds for the guard, a line each: NAME "
	  "([a-z0-9_]{1,32}), a tab, a POSIX extended regex; blank lines and "
	  "lines starting with # are skipped (unset: the built-in kinds)" },
	{ "TANDEM_ACCESS_TTL_S", I(access_ttl_s), "3600", 1, 86400,
	  "access token lifetime" },
	{ "TANDEM_REFRESH_TTL_S", I(refresh_ttl_s), "2592000", 60,
	  INT64_C(31536000), "refresh token lifetime" },
	{ "TANDEM_LINK_TTL_S", I(link_ttl_s), "300", 1, 86400,
	  "lifetime of a device link (POST /auth/link): its code approved and its tokens taken within it" },
	{ "TANDEM_ARGON2_M_KIB", I(argon2_m_kib), "19456", 19456, 4194304,
	  "argon2id memory per hash" },
	{ "TANDEM_ARGON2_T", I(argon2_t), "2", 2, 100,
	  "argon2id passes" },
	{ "TANDEM_ARGON2_P", I(argon2_p), "1", 1, 64,
	  "argon2id lanes" },
	{ "TANDEM_ARGON2_CONCURRENCY", I(argon2_concurrency), "2", 1, 256,
	  "argon2 hashes at once per worker process" },
	{ "TANDEM_SWEEP_MS", I(sweep_ms), "1000", 50, 60000,
	  "sweeper period: failover, presence, pruning" },
	{ "TANDEM_HISTORY_KEEP", I(history_keep), "10", 1, 1000,
	  "previous revisions kept per record for three-way merge" },
	{ "TANDEM_SHUTDOWN_GRACE_S", I(shutdown_grace_s), "10", 1, 600,
	  "how long SIGTERM waits for in-flight requests" },
	{ "TANDEM_CORS_ORIGINS", O(cors_origins), NULL, 0, 0,
	  "web origins allowed to call the API, comma-separated, exact "
	  "scheme://host[:port] (unset: none)" },
	{ NULL, 0, 0, NULL, 0, 0, NULL }
};

static int
parse_int(const char *s, int64_t *out)
{
	char	*end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static char *
join_path(const char *dir, const char *name)
{
	struct buf b;

	buf_init(&b, 0);
	if (buf_addf(&b, "%s/%s", dir, name) == -1) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/*
 * Fill cfg from the environment.  Returns 0, or -1 with a message in err
 * naming the variable that is out of range.
 */
int
config_load(char *err, size_t errsz)
{
	const struct conf_var *v;
	const char	*s;
	int64_t		 n;
	long		 cores;
	char		 why[768];

	memset(&cfg, 0, sizeof(cfg));
	for (v = vars; v->name != NULL; v++) {
		s = getenv(v->name);
		if (s == NULL || *s == '\0')
			s = v->def;
		if (v->type == CONF_ORIGINS && s != NULL &&
		    cors_list_check(s, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s: %s", v->name, why);
			return -1;
		}
		if (v->type == CONF_GUARD) {
			if ((n = secret_guard_parse(s)) == -1) {
				snprintf(err, errsz, "%s=%s: want 1 (or refuse), "
				    "0 (or off) or redact", v->name, s);
				return -1;
			}
			*(int64_t *)((char *)&cfg + v->off) = n;
			continue;
		}
		if (v->type != CONF_INT) {
			char **p = (char **)((char *)&cfg + v->off);
			*p = s ? strdup(s) : NULL;
			continue;
		}
		if (s == NULL) {
			if (strcmp(v->name, "TANDEM_WORKERS") == 0) {
				cores = sysconf(_SC_NPROCESSORS_ONLN);
				n = cores > 0 ? cores : 1;
			} else
				n = 0;
		} else if (parse_int(s, &n) == -1 || n < v->min ||
		    n > v->max) {
			snprintf(err, errsz, "%s=%s: want an integer in "
			    "%" PRId64 "..%" PRId64, v->name, s, v->min, v->max);
			return -1;
		}
		*(int64_t *)((char *)&cfg + v->off) = n;
	}
	if (cfg.db_path == NULL)
		cfg.db_path = join_path(cfg.data_dir, "tandem.db");
	if (cfg.socket_path == NULL)
		cfg.socket_path = join_path(cfg.data_dir, "run/tandemd.sock");
	if ((s = getenv("TANDEM_JWT_SECRET")) != NULL && *s != '\0') {
		if (strlen(s) < 32) {
			snprintf(err, errsz, "TANDEM_JWT_SECRET: want at "
			    "least 32 bytes");
			return -1;
		}
		cfg.jwt_secret = strdup(s);
		cfg.jwt_secret_len = strlen(s);
	}
	if (cfg.db_path == NULL || cfg.socket_path == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if ((cfg.secrets = secret_set_new(cfg.secret_patterns, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errsz, "TANDEM_SECRET_PATTERNS: %s", why);
		return -1;
	}
	return 0;
}

void
config_free(void)
{
	const struct conf_var *v;

	for (v = vars; v->name != NULL; v++)
		if (v->type != CONF_INT && v->type != CONF_GUARD)
			free(*(char **)((char *)&cfg + v->off));
	free(cfg.jwt_secret);
	secret_set_free(cfg.secrets);
	memset(&cfg, 0, sizeof(cfg));
}

/* Print the variables as a Markdown table (`tandemd config`). */
int
config_dump_table(void)
{
	const struct conf_var *v;

	printf("| variable | default | meaning |\n|---|---|---|\n");
	for (v = vars; v->name != NULL; v++)
		printf("| `%s` | %s | %s |\n", v->name,
		    v->def ? v->def : "(see meaning)", v->help);
	printf("| `TANDEM_JWT_SECRET` | (generated) | HS256 secret, at "
	    "least 32 bytes; else DATA_DIR/jwt.secret is made (0600) |\n");
	return 0;
}
