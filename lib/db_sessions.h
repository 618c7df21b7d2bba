/*
 * db_sessions: sessions, messages, the primary device and the session
 * lock.  (Owned by the sessions area; see handlers/sessions.c and
 * handlers/messages.c.)
 *
 * Each db_session_* / db_primary_* / db_lock_* / db_message_* operation
 * is one whole transaction (BEGIN IMMEDIATE for writes): it reads the
 * session row, decides, writes with conditional UPDATEs and appends its
 * events before it commits, so concurrent requests on the same session
 * are serialised by SQLite and can never see a half-made change.  They
 * return an enum sess_rc the handlers map to statuses, and put the JSON
 * to answer with (a new reference the caller owns) in *out:
 *
 *	SESS_OK, SESS_CREATED, SESS_RETRY	the session / message / primary
 *						/ lock (see each function)
 *	SESS_NOT_PRIMARY, SESS_PRIMARY_HELD,
 *	SESS_NOT_HOLDER				the primary object or null
 *	SESS_LOCKED, SESS_NOT_HOLDER (lock)	the lock object or null
 *	SESS_DUPLICATE				{id, device_id, created_at} of
 *						the original
 *	other					NULL
 *
 * Every query is scoped by user_id: another user's session does not
 * exist here.
 */
#ifndef TANDEM_DB_SESSIONS_H
#define TANDEM_DB_SESSIONS_H

#include <jansson.h>
#include <stdint.h>

struct db;

enum sess_rc {
	SESS_OK = 0,
	SESS_CREATED,
	SESS_RETRY,		/* a message retried: the original */
	SESS_NOTFOUND,		/* no such session (of this user) */
	SESS_NO_DEVICE,		/* transfer to an unknown or revoked device */
	SESS_KILLED,
	SESS_NOT_PRIMARY,
	SESS_DUPLICATE,
	SESS_PRIMARY_HELD,
	SESS_NOT_HOLDER,
	SESS_LOCKED,
	SESS_ERROR,		/* the database failed or was busy */
	SESS__MAX
};

enum sess_state {
	SESS_STATE_ACTIVE,
	SESS_STATE_KILLED,
	SESS_STATE_ALL,
	SESS_STATE__MAX
};

enum primary_action {
	PRIMARY_CLAIM,
	PRIMARY_RENEW,
	PRIMARY_RELEASE,
	PRIMARY_TRANSFER,
	PRIMARY__MAX
};

/* A message as the handler validated it. */
struct message_in {
	const char	*client_msg_id;	/* a valid id */
	const char	*body;		/* canonical (RFC 8785) JSON text */
	const json_t	*value;		/* the body as validated */
	const char	*hash;		/* "sha256:" + hex of body */
	int		 is_auto;	/* auto: true */
};

int	 db_session_create(struct db *, int64_t user_id, const char *device_id,
	    const char *sid, const char *title, json_t **out);
int	 db_session_get(struct db *, int64_t user_id, const char *sid,
	    json_t **out);
json_t	*db_session_list(struct db *, int64_t user_id, enum sess_state);
int	 db_session_kill(struct db *, int64_t user_id, const char *device_id,
	    const char *sid, const char *reason, json_t **out);

int	 db_primary_get(struct db *, int64_t user_id, const char *sid,
	    json_t **out);
int	 db_primary_act(struct db *, int64_t user_id, const char *device_id,
	    const char *sid, enum primary_action, const char *to_device,
	    json_t **out);

int	 db_lock_take(struct db *, int64_t user_id, const char *device_id,
	    const char *sid, int64_t ttl_ms, json_t **out);
int	 db_lock_drop(struct db *, int64_t user_id, const char *device_id,
	    const char *sid, json_t **out);

int	 db_message_add(struct db *, int64_t user_id, const char *device_id,
	    const char *sid, const struct message_in *, json_t **out);
int	 db_message_list(struct db *, int64_t user_id, const char *sid,
	    int64_t after, int64_t limit, json_t **out);

int	 db_sessions_release_device(struct db *, int64_t user_id,
	    const char *device_id, const char *cause);
int	 db_sessions_sweep(struct db *, int64_t now_ms);
json_t	*db_sessions_export(struct db *, int64_t user_id);

#endif
