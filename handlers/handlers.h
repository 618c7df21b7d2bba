/*
 * The product: one file per API area, each in the same three rooms
 * (docs/ARCHITECTURE.md): the operations here in handlers/<area>.c, the
 * pure rules in lib/<area>_rules.c, the SQL behind lib/store.h.  A
 * handler validates its input, runs one transaction through db_tx() (or
 * one snapshot through db_read()), maps the outcome to an answer through
 * its area's table, and writes the answer; it returns the HTTP status.
 *
 * The dispatcher (routes.c, the one route table) has done the front-line
 * work already: 404/405, body size, the token check (ROUTE_AUTH:
 * req->user_id, req->device_id) or the key check (ROUTE_SERVICE:
 * req->service, and req->user_id of the path's {uid}, device_id NULL),
 * the rate limit and JSON parsing (req->json; NULL for an empty body).
 */
#ifndef TANDEM_HANDLERS_H
#define TANDEM_HANDLERS_H

#include <jansson.h>

#include "auth.h"
#include "auth_rules.h"
#include "http.h"
#include "jcs.h"
#include "request.h"
#include "service_rules.h"
#include "store.h"

typedef int (*handler_fn)(struct req *, struct resp *);

#define ROUTE_AUTH	0x1	/* a valid access token is required */
#define ROUTE_ADMIN	0x2	/* only through nginx's admin locations */
/* The body may be TANDEM_MAX_IMPORT_BYTES, read after the token check. */
#define ROUTE_BIG_BODY	0x4
/*
 * A service key is required instead of a token (/api/v1/service/...),
 * with the scopes of ROUTE_SCOPE(SCOPE_EVENTS) etc. (none: any key).
 */
#define ROUTE_SERVICE	0x8
#define ROUTE_SCOPE(s)	(SCOPE_BIT(s) << 8)
#define ROUTE_SCOPES(flags) (((unsigned)(flags) >> 8) & SCOPES_ALL)

struct route {
	enum http_method method;
	const char	*pattern;	/* ":name" segments are parameters */
	handler_fn	 handler;
	int		 flags;
};

extern const struct route routes[];

/*
 * What the dispatcher keeps of a request a handler handed over to wait
 * without a thread (lib/park): the FastCGI request and what the answer
 * and its log line need.  dispatch_answer() finishes it on any thread.
 */
struct held {
	FCGX_Request	*fcgi;
	enum http_method method;
	char		*path;
	char		*device_id;
	char		 request_id[65];
	char		*headers;	/* the answer's headers so far (CORS) */
	int64_t		 start_us;
};

/* routes.c: the route table and the dispatcher; reply.c: what every
 * handler answers with */
int	 dispatch(FCGX_Request *);
int	 dispatch_hold(struct req *, struct resp *, struct held *);
void	 held_free(struct held *);
void	 dispatch_answer(struct held *, struct resp *);
int	 dispatch_send(struct req *, struct resp *);
void	 reply_send(FCGX_Request *, struct req *, struct resp *);
void	 reply_account(struct req *, struct resp *);
void	 dispatch_done(struct held *, int status);
int	 route_match(const char *pattern, const char *path, struct req *);
struct db *req_db(struct req *);
void	 req_db_release(struct req *);
int	 answer_db(struct resp *, int db_rc);
int	 query_enum(struct req *, struct resp *, const char *name,
	    const char *const *names, int def, int *out);

/* handlers/health.c */
int	 handle_health(struct req *, struct resp *);
int	 handle_info(struct req *, struct resp *);

/* handlers/auth.c */
/* What a login, a refresh or a link hands out (tokens_release it). */
struct tokens {
	char	 refresh[AUTH_REFRESH_LEN + 1];
	char	*access;
	json_t	*device;
};

int	 auth_request(struct req *, struct resp *);
json_t	*user_json(const struct user_row *);
int	 device_body(struct req *, struct resp *, json_t **dj,
	    const char **id, const char **platform, const char **name);
int	 login_device(struct db *, const struct user_row *,
	    struct device_row *in, enum login_action *, struct tokens *);
int	 login_device_limited(struct db *, int64_t user_id,
	    const char *device_id, int *limited);
int	 tokens_answer(struct resp *, const struct user_row *,
	    struct tokens *);
void	 tokens_release(struct tokens *);
int	 device_limit_answer(struct resp *);
int	 handle_auth_register(struct req *, struct resp *);
int	 handle_auth_login(struct req *, struct resp *);
int	 handle_auth_refresh(struct req *, struct resp *);
int	 handle_auth_logout(struct req *, struct resp *);

/* handlers/devices.c */
json_t	*device_json(const struct device_row *, const char *current,
	    int64_t now);
int	 device_revoke_op(struct db *, int64_t user_id, const char *device_id,
	    const char *cause);
int	 device_seen_op(struct db *, int64_t user_id, const char *device_id,
	    int64_t now);
int	 devices_sweep(struct db *, int64_t now);
int	 handle_devices_list(struct req *, struct resp *);
int	 handle_devices_patch(struct req *, struct resp *);
int	 handle_devices_delete(struct req *, struct resp *);
int	 handle_devices_heartbeat(struct req *, struct resp *);

/* handlers/sessions.c */
json_t	*session_json(const struct session_row *, int64_t now);
json_t	*primary_json(const struct session_row *);
int	 session_answer(struct resp *, int outcome, const char *sid,
	    const char *member, json_t *extra);
int	 sessions_release_device(struct db *, int64_t user_id,
	    const char *device_id, const char *cause);
int	 sessions_sweep(struct db *, int64_t now);
int	 handle_sessions_create(struct req *, struct resp *);
int	 handle_sessions_list(struct req *, struct resp *);
int	 handle_sessions_get(struct req *, struct resp *);
int	 handle_sessions_kill(struct req *, struct resp *);
int	 handle_sessions_primary_get(struct req *, struct resp *);
int	 handle_sessions_primary_post(struct req *, struct resp *);
int	 handle_sessions_lock_post(struct req *, struct resp *);
int	 handle_sessions_lock_delete(struct req *, struct resp *);

/* handlers/messages.c */
json_t	*message_json(const struct message_row *);
int	 handle_messages_post(struct req *, struct resp *);
int	 handle_messages_list(struct req *, struct resp *);

/* handlers/sync.c */
json_t	*record_json(const struct record_row *);
int	 record_text(struct buf *, const struct record_row *);
/*
 * The checks of one record's data shared by push, resolve and import
 * (size, secret guard, redaction; sync.c says who frees what): where is
 * the record's place in the body ("records[3]"), NULL at its top.
 */
int	 sync_record_check(struct resp *, json_t *data, const char *where,
	    char **canon, char sum[JCS_SHA256_LEN], json_t **redacted);
int	 secret_guard_record(struct resp *, json_t *data, const char *where,
	    json_t **redacted);
const char *sync_null_sum(void);

/* handlers/transfer.c */
int	 handle_import(struct req *, struct resp *);
int	 sync_sweep(struct db *, int64_t now);
int	 handle_sync_push(struct req *, struct resp *);
int	 handle_sync_pull(struct req *, struct resp *);
int	 handle_sync_stats(struct req *, struct resp *);
int	 handle_collections_list(struct req *, struct resp *);
int	 handle_records_get(struct req *, struct resp *);
int	 handle_records_history(struct req *, struct resp *);
int	 handle_export(struct req *, struct resp *);

/* handlers/conflicts.c */
json_t	*conflict_json(const struct conflict_row *);
int	 handle_conflicts_list(struct req *, struct resp *);
int	 handle_conflicts_get(struct req *, struct resp *);
int	 handle_conflicts_resolve(struct req *, struct resp *);

/* handlers/events.c */
int	 event_append(struct db *, int64_t user_id, const char *device_id,
	    const char *type, const char *session_id, json_t *data,
	    int64_t *seq);
int	 event_append_by(struct db *, int64_t user_id, const char *device_id,
	    const char *service, const char *type, const char *session_id,
	    json_t *data, int64_t *seq);
json_t	*event_json(const struct event_row *);
int	 events_sweep(struct db *, int64_t now);
void	 events_worker_start(void);
int	 handle_events_poll(struct req *, struct resp *);
int	 handle_events_post(struct req *, struct resp *);

/* handlers/links.c */
int	 links_sweep(struct db *, int64_t now);
int	 handle_auth_link(struct req *, struct resp *);
int	 handle_auth_link_token(struct req *, struct resp *);
int	 handle_links_approve(struct req *, struct resp *);
int	 handle_links_deny(struct req *, struct resp *);

/* handlers/service.c */
int	 service_request(struct req *, struct resp *, unsigned need);
int	 service_user(struct req *, struct resp *);
int	 handle_service_users_get(struct req *, struct resp *);

/* handlers/keys.c: `tandemd key ...` */
int	 keys_command(int argc, char *argv[]);

/* handlers/admin.c */
int	 handle_admin_stats(struct req *, struct resp *);
int	 handle_metrics(struct req *, struct resp *);

/* handlers/sweeper.c: the one place for what time alone causes. */
void	 sweeper_run(void);

#endif
