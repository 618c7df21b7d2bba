/*
 * db_auth: users, devices and refresh tokens.  Handlers in
 * handlers/auth.c and handlers/devices.c call these; each write function
 * runs inside a transaction the caller opened, unless it says otherwise.
 */
#ifndef TANDEM_DB_AUTH_H
#define TANDEM_DB_AUTH_H

#include <jansson.h>
#include <stdint.h>

struct db;

struct db_user {
	int64_t	 id;
	char	*public_id;
	char	*email;
	char	*password_hash;
	int64_t	 created_at;
};

/* The state of a device as the token check sees it. */
enum device_state { DEVICE_ACTIVE, DEVICE_REVOKED, DEVICE_UNKNOWN };

struct db_device_new {
	const char	*id;
	const char	*platform;
	const char	*name;
	const char	*push_token;	/* NULL: leave as is (or none) */
};

void	 db_user_release(struct db_user *);
int	 db_user_insert(struct db *, const char *public_id, const char *email,
	    const char *password_hash, int64_t now, int64_t *id);
int	 db_user_get_by_email(struct db *, const char *email,
	    struct db_user *);
int	 db_user_get_by_id(struct db *, int64_t id, struct db_user *);
json_t	*db_user_json(const struct db_user *);
int	 db_users_email_normalize(struct db *);

int	 db_device_check(struct db *, const char *user_pub,
	    const char *device_id, const char *family, int64_t *user_id,
	    int64_t *last_seen_at, enum device_state *);
int	 db_device_seen(struct db *, int64_t user_id, const char *device_id,
	    int64_t now);
int	 db_device_login(struct db *, int64_t user_id,
	    const struct db_device_new *, const char *new_family,
	    int64_t max_devices, int64_t now, char **family_out);
int	 db_device_revoke(struct db *, int64_t user_id, const char *device_id,
	    const char *by_device);
int	 db_device_get(struct db *, int64_t user_id, const char *device_id,
	    const char *current, json_t **out);
int	 db_device_list(struct db *, int64_t user_id, const char *current,
	    json_t **out);
int	 db_device_update(struct db *, int64_t user_id, const char *device_id,
	    const char *name, int set_push, const char *push_token);
int	 db_devices_online_count(struct db *, int64_t user_id, int64_t now,
	    int64_t *n);
int	 db_devices_sweep(struct db *, int64_t now);

int	 db_refresh_insert(struct db *, const unsigned char hash[32],
	    int64_t user_id, const char *device_id, const char *family,
	    int64_t now, int64_t expires_at);

enum refresh_state {
	REFRESH_OK,		/* spent now; rotate */
	REFRESH_UNKNOWN,
	REFRESH_EXPIRED,
	REFRESH_REUSED,		/* spent before: the family is revoked */
	REFRESH_REVOKED		/* the device logged out or was revoked */
};

int	 db_refresh_use(struct db *, const unsigned char hash[32], int64_t now,
	    enum refresh_state *, int64_t *user_id, char **device_id,
	    char **family);

#endif
