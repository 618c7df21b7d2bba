/*
 * Devices (API.md "Devices"): the registry of the user's devices and
 * their presence, revocation (logout and DELETE share it) and the
 * sweeper's offline announcements.
 */
#include <string.h>

#include "auth_rules.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "problem.h"

/*
 * The contract's device: {id, platform, name, created_at, last_seen_at,
 * online, stale, current, push_token}.  A new reference or NULL.
 */
json_t *
device_json(const struct device_row *d, const char *current, int64_t now)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:o, s:b, s:b, s:b, s:o}",
	    "id", d->id,
	    "platform", d->platform,
	    "name", d->name,
	    "created_at", (json_int_t)d->created_at,
	    "last_seen_at", d->last_seen_at != 0 ?
	    json_integer(d->last_seen_at) : json_null(),
	    "online", presence_online(d->last_seen_at, now,
	    cfg.presence_ttl_ms),
	    "stale", presence_stale(d->last_seen_at, now, cfg.stale_after_ms),
	    "current", current != NULL && strcmp(d->id, current) == 0,
	    "push_token", d->push_token != NULL ? json_string(d->push_token) :
	    json_null());
}

/*
 * Revoke an active device (inside the caller's transaction): its tokens
 * die at once (no family), it leaves the list and the limit, it loses its
 * primary roles and locks, and device.revoked is emitted, all caused by
 * `cause` (the device whose request revoked it).  Returns DB_NOTFOUND
 * when it is not an active device of the user.
 */
int
device_revoke_op(struct db *db, int64_t user_id, const char *device_id,
    const char *cause)
{
	int	 rc;

	if ((rc = db_device_revoke(db, user_id, device_id, now_ms())) !=
	    DB_OK ||
	    (rc = sessions_release_device(db, user_id, device_id, cause)) !=
	    DB_OK)
		return rc;
	return event_append(db, user_id, cause, "device.revoked", NULL,
	    json_pack("{s:s}", "device_id", device_id), NULL);
}

struct seen_op {
	int64_t		 user_id;
	const char	*device_id;
	int64_t		 now;
};

static int
seen_tx(struct db *db, void *arg)
{
	struct seen_op	*s = arg;
	int		 rc, was_offline;

	rc = db_device_seen(db, s->user_id, s->device_id, s->now,
	    &was_offline);
	if (rc != DB_OK || !was_offline)
		return rc == DB_NOTFOUND ? DB_OK : rc;
	return event_append(db, s->user_id, s->device_id, "device.online",
	    NULL, json_pack("{s:s}", "device_id", s->device_id), NULL);
}

/*
 * The device was seen now (its own transaction): a device the sweeper
 * had announced offline is announced online again.  Returns a db_rc.
 */
int
device_seen_op(struct db *db, int64_t user_id, const char *device_id,
    int64_t now)
{
	struct seen_op	 s = { user_id, device_id, now };

	return db_tx(db, seen_tx, &s);
}

struct list_op {
	json_t		*arr;
	const char	*current;
	int64_t		 now;
};

static int
list_one(void *arg, const struct device_row *d)
{
	struct list_op	*l = arg;

	return json_array_append_new(l->arr, device_json(d, l->current,
	    l->now)) == 0 ? DB_OK : DB_ERROR;
}

/*
 * GET /api/v1/devices
 * 200 {devices:[{id, platform, name, created_at, last_seen_at, online,
 * stale, current, push_token}]} (active devices, oldest first); 503.
 */
int
handle_devices_list(struct req *req, struct resp *resp)
{
	struct list_op	 l = { json_array(), req->device_id, now_ms() };
	int		 rc;

	if (l.arr == NULL)
		return answer_db(resp, DB_ERROR);
	if ((rc = db_devices_list(req_db(req), req->user_id, 0, list_one,
	    &l)) != DB_OK) {
		json_decref(l.arr);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o}", "devices", l.arr));
}

struct patch_op {
	int64_t		 user_id;
	const char	*current;
	const char	*id;
	const char	*name;
	int		 set_push;
	const char	*push;
	json_t		*device;	/* the answer */
};

static int
patch_tx(struct db *db, void *arg)
{
	struct patch_op	*p = arg;
	struct device_row d;
	int		 rc;

	json_decref(p->device);
	p->device = NULL;
	if ((rc = db_device_update(db, p->user_id, p->id, p->name,
	    p->set_push, p->push)) != DB_OK ||
	    (rc = event_append(db, p->user_id, p->id, "device.updated", NULL,
	    json_pack("{s:s}", "device_id", p->id), NULL)) != DB_OK ||
	    (rc = db_device_get(db, p->user_id, p->id, &d)) != DB_OK)
		return rc;
	p->device = device_json(&d, p->current, now_ms());
	device_row_release(&d);
	return p->device != NULL ? DB_OK : DB_ERROR;
}

/*
 * PATCH /api/v1/devices/{id} {name?, push_token?}
 * 200 {device}; 400 VALIDATION_FAILED; 404 (unknown, revoked or another
 * user's device); 503.
 */
int
handle_devices_patch(struct req *req, struct resp *resp)
{
	struct patch_op	 p;
	int		 rc;

	memset(&p, 0, sizeof(p));
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "name", "name", 0, 1, 64, &p.name) ==
	    -1 ||
	    field_str(resp, req->json, "push_token", "push_token", F_NULLABLE,
	    1, 4096, &p.push) == -1)
		return resp->status;
	if (json_object_get(req->json, "name") != NULL && p.name == NULL)
		return problem_field(resp, 400, "VALIDATION_FAILED", "name",
		    "name must be a string");
	p.set_push = json_object_get(req->json, "push_token") != NULL;
	p.user_id = req->user_id;
	p.current = req->device_id;
	p.id = req_param(req, "did");
	rc = db_tx(req_db(req), patch_tx, &p);
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no such device");
	if (rc != DB_OK) {
		json_decref(p.device);
		return answer_db(resp, rc);
	}
	return resp_json(resp, 200, json_pack("{s:o}", "device", p.device));
}

struct revoke_op {
	int64_t		 user_id;
	const char	*id;
	const char	*cause;
};

static int
revoke_tx(struct db *db, void *arg)
{
	struct revoke_op *r = arg;

	return device_revoke_op(db, r->user_id, r->id, r->cause);
}

/*
 * DELETE /api/v1/devices/{id}
 * 204: revoked as logout revokes (failover follows for its primary
 * roles); 404 (unknown, already revoked or another user's); 503.
 */
int
handle_devices_delete(struct req *req, struct resp *resp)
{
	struct revoke_op r = { req->user_id, req_param(req, "did"),
	    req->device_id };
	int		 rc;

	rc = db_tx(req_db(req), revoke_tx, &r);
	if (rc == DB_NOTFOUND)
		return problem(resp, 404, "NOT_FOUND", "no such device");
	if (rc != DB_OK)
		return answer_db(resp, rc);
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

	rc = device_seen_op(req_db(req), req->user_id, req->device_id, now);
	if (rc == DB_OK)
		rc = db_devices_online_count(req_db(req), req->user_id,
		    now - cfg.presence_ttl_ms, &n);
	if (rc != DB_OK)
		return answer_db(resp, rc);
	return resp_json(resp, 200, json_pack("{s:I, s:I}", "server_time",
	    (json_int_t)now, "devices_online", (json_int_t)n));
}

static int
offline_one(void *arg, int64_t user_id, const char *device_id)
{
	return event_append(arg, user_id, NULL, "device.offline", NULL,
	    json_pack("{s:s}", "device_id", device_id), NULL);
}

static int
offline_tx(struct db *db, void *arg)
{
	int64_t	 now = *(int64_t *)arg;
	int	 rc;

	if ((rc = db_devices_offline(db, now - cfg.presence_ttl_ms,
	    offline_one, db)) != DB_OK)
		return rc;
	/*
	 * An expired or spent token is kept for another lifetime, so that
	 * presenting it still answers TOKEN_EXPIRED or TOKEN_REUSED rather
	 * than INVALID_TOKEN; only then is it forgotten.
	 */
	return db_refresh_forget(db, now - cfg.refresh_ttl_s * 1000);
}

/*
 * The sweeper: announce device.offline for devices unseen for the
 * presence TTL, and forget refresh tokens a lifetime past their expiry,
 * in one transaction.  Returns a db_rc.
 */
int
devices_sweep(struct db *db, int64_t now)
{
	return db_tx(db, offline_tx, &now);
}
