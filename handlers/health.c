/* GET /health and GET /info: no auth, for load balancers and clients. */
#include "config.h"
#include "db.h"
#include "store.h"
#include "handlers.h"
#include "problem.h"
#include "secret.h"
#include "version.h"

/*
 * GET /api/v1/health
 * 200 {status:"ok", version, db:"ok"}; 503 when the database is unusable.
 */
int
handle_health(struct req *req, struct resp *resp)
{
	if (db_health(req_db(req)) != DB_OK) {
		problem(resp, 503, "SERVICE_UNAVAILABLE",
		    "the database is unusable");
		problem_set(resp, "db", json_string("error"));
		return 503;
	}
	return resp_json(resp, 200, json_pack("{s:s, s:s, s:s}",
	    "status", "ok", "version", TANDEM_VERSION, "db", "ok"));
}

/*
 * GET /api/v1/info
 * 200 with the limits a client must respect, as configured.
 */
int
handle_info(struct req *req, struct resp *resp)
{
	json_t	*o;

	(void)req;
	o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
	    " s:I, s:I, s:I, s:I}",
	    "version", TANDEM_VERSION,
	    "max_body_bytes", (json_int_t)cfg.max_body_bytes,
	    "max_batch", (json_int_t)cfg.max_batch,
	    "max_record_bytes", (json_int_t)cfg.max_record_bytes,
	    "max_message_bytes", (json_int_t)cfg.max_message_bytes,
	    "dedup_window_ms", (json_int_t)cfg.dedup_window_ms,
	    "primary_ttl_ms", (json_int_t)cfg.primary_ttl_ms,
	    "presence_ttl_ms", (json_int_t)cfg.presence_ttl_ms,
	    "max_poll_timeout_s", (json_int_t)cfg.max_poll_timeout_s,
	    "tombstone_days", (json_int_t)cfg.tombstone_days,
	    "event_days", (json_int_t)cfg.event_days,
	    "max_devices", (json_int_t)cfg.max_devices,
	    "rate_per_s", (json_int_t)cfg.rate_per_s,
	    "rate_burst", (json_int_t)cfg.rate_burst);
	if (o != NULL) {
		json_object_set_new(o, "max_event_bytes",
		    json_integer(cfg.max_event_bytes));
		json_object_set_new(o, "access_token_ttl_s",
		    json_integer(cfg.access_ttl_s));
		json_object_set_new(o, "max_waits_per_device",
		    json_integer(cfg.max_waits_per_device));
		json_object_set_new(o, "max_waits_per_user",
		    json_integer(cfg.max_waits_per_user));
		json_object_set_new(o, "quota_bytes",
		    json_integer(cfg.quota_bytes));
		json_object_set_new(o, "quota_records",
		    json_integer(cfg.quota_records));
		json_object_set_new(o, "max_write_ms",
		    json_integer(cfg.max_write_ms));
		json_object_set_new(o, "stream_max_s",
		    json_integer(cfg.stream_max_s));
		json_object_set_new(o, "max_import_bytes",
		    json_integer(cfg.max_import_bytes));
		json_object_set_new(o, "history_keep",
		    json_integer(cfg.history_keep));
		json_object_set_new(o, "link_ttl_s",
		    json_integer(cfg.link_ttl_s));
		json_object_set_new(o, "secret_guard", json_string(
		    secret_guard_names[cfg.secret_guard]));
	}
	return resp_json(resp, 200, o);
}
