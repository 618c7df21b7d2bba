/*
 * The product's handlers, one file per API area, and the one route table
 * (routes.c).  A handler fills resp and returns the HTTP status; the
 * dispatcher has already done the front-line work: 404/405, body size,
 * the token check (ROUTE_AUTH: req->user_id, req->device_id), the rate
 * limit and JSON parsing (req->json; NULL for an empty body).
 */
#ifndef TANDEM_HANDLERS_H
#define TANDEM_HANDLERS_H

#include "http.h"

typedef int (*handler_fn)(struct req *, struct resp *);

#define ROUTE_AUTH	0x1	/* a valid access token is required */
#define ROUTE_ADMIN	0x2	/* only through nginx's admin locations */

struct route {
	enum http_method method;
	const char	*pattern;	/* ":name" segments are parameters */
	handler_fn	 handler;
	int		 flags;
};

extern const struct route routes[];

void	 dispatch(FCGX_Request *);
int	 route_match(const char *pattern, const char *path, struct req *);
int	 auth_request(struct req *, struct resp *);

/* handlers/health.c */
int	 handle_health(struct req *, struct resp *);
int	 handle_info(struct req *, struct resp *);
/* handlers/auth.c */
int	 handle_auth_register(struct req *, struct resp *);
int	 handle_auth_login(struct req *, struct resp *);
int	 handle_auth_refresh(struct req *, struct resp *);
int	 handle_auth_logout(struct req *, struct resp *);
/* handlers/devices.c */
int	 handle_devices_list(struct req *, struct resp *);
int	 handle_devices_patch(struct req *, struct resp *);
int	 handle_devices_delete(struct req *, struct resp *);
int	 handle_devices_heartbeat(struct req *, struct resp *);
/* handlers/sessions.c */
int	 handle_sessions_create(struct req *, struct resp *);
int	 handle_sessions_list(struct req *, struct resp *);
int	 handle_sessions_get(struct req *, struct resp *);
int	 handle_sessions_kill(struct req *, struct resp *);
int	 handle_sessions_primary_get(struct req *, struct resp *);
int	 handle_sessions_primary_post(struct req *, struct resp *);
int	 handle_sessions_lock_post(struct req *, struct resp *);
int	 handle_sessions_lock_delete(struct req *, struct resp *);
/* handlers/messages.c */
int	 handle_messages_post(struct req *, struct resp *);
int	 handle_messages_list(struct req *, struct resp *);
/* handlers/sync.c */
int	 handle_sync_push(struct req *, struct resp *);
int	 handle_sync_pull(struct req *, struct resp *);
int	 handle_sync_stats(struct req *, struct resp *);
int	 handle_collections_list(struct req *, struct resp *);
int	 handle_records_get(struct req *, struct resp *);
int	 handle_export(struct req *, struct resp *);
/* handlers/conflicts.c */
int	 handle_conflicts_list(struct req *, struct resp *);
int	 handle_conflicts_get(struct req *, struct resp *);
int	 handle_conflicts_resolve(struct req *, struct resp *);
/* handlers/events.c */
int	 handle_events_poll(struct req *, struct resp *);
int	 handle_events_post(struct req *, struct resp *);
/* handlers/admin.c */
int	 handle_admin_stats(struct req *, struct resp *);
int	 handle_metrics(struct req *, struct resp *);

/* handlers/sweeper.c: the one place for what time alone causes. */
void	 sweeper_run(void);

#endif
