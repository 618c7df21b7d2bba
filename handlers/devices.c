/* Devices: the registry of the user's devices and their presence. */
#include <string.h>

#include "config.h"
#include "db.h"
#include "db_auth.h"
#include "handlers.h"
#include "problem.h"

/*
 * GET /api/v1/devices
 * 200 {devices:[{id, platform, name, created_at, last_seen_at, online,
 * stale, current, push_token}]} (active devices only); 503.
 */
int
handle_devices_list(struct req *req, struct resp *resp)
{
	json_t	*list = NULL;
	int	 rc;

	rc = db_device_list(req_db(req), req->user_id, req->device_id, &list);
	if (rc != DB_OK) {
		json_decref(list);
		return problem_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o}", "devices", list));
}

/*
 * PATCH /api/v1/devices/{id} {name?, push_token?}
 * 200 {device}; 400 VALIDATION_FAILED; 404 (unknown, revoked or another
 * user's device); 503.
 */
int
handle_devices_patch(struct req *req, struct resp *resp)
{
	const char	*id = req_param(req, "did"), *name, *push;
	json_t		*dev = NULL;
	int		 rc, set_push;

	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "name", "name", 0, 1, 64, &name) == -1 ||
	    field_str(resp, req->json, "push_token", "push_token", F_NULLABLE,
	    1, 4096, &push) == -1)
		return resp->status;
	if (json_object_get(req->json, "name") != NULL && name == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "name",
		    "name must be a string");
	set_push = json_object_get(req->json, "push_token") != NULL;
	if ((rc = db_begin(req_db(req))) != DB_OK)
		return problem_db(resp, rc);
	rc = db_device_update(req->db, req->user_id, id, name, set_push, push);
	if (rc == DB_OK)
		rc = db_device_get(req->db, req->user_id, id, req->device_id,
		    &dev);
	if (rc == DB_OK)
		rc = db_commit(req->db);
	else
		db_rollback(req->db);
	if (rc == DB_NOTFOUND) {
		json_decref(dev);
		return problem(resp, 404, "NOT_FOUND", "no such device");
	}
	if (rc != DB_OK) {
		json_decref(dev);
		return problem_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o}", "device", dev));
}

/*
 * DELETE /api/v1/devices/{id}
 * 204: revoked as logout revokes (failover follows for its primary
 * roles); 404 (unknown, already revoked or another user's); 503.
 */
int
handle_devices_delete(struct req *req, struct resp *resp)
{
	const char	*id = req_param(req, "did");
	int		 rc;

	if ((rc = db_begin(req_db(req))) != DB_OK)
		return problem_db(resp, rc);
	rc = db_device_revoke(req->db, req->user_id, id, req->device_id);
	if (rc == DB_OK)
		rc = db_commit(req->db);
	else
		db_rollback(req->db);
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no such device");
	if (rc != DB_OK)
		return problem_db(resp, rc);
	resp->status = 204;
	return 204;
}

/*
 * POST /api/v1/devices/heartbeat
 * 200 {server_time, devices_online}; 503.
 */
int
handle_devices_heartbeat(struct req *req, struct resp *resp)
{
	int64_t	 now = now_ms(), n = 0;
	int	 rc;

	rc = db_device_seen(req_db(req), req->user_id, req->device_id, now);
	if (rc == DB_OK)
		rc = db_devices_online_count(req->db, req->user_id, now, &n);
	if (rc != DB_OK)
		return problem_db(resp, rc);
	return resp_json(resp, 200, json_pack("{s:I, s:I}", "server_time",
	    (json_int_t)now, "devices_online", (json_int_t)n));
}
