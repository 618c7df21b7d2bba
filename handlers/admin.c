/*
 * The admin area: the status document behind /admin/ and the Prometheus
 * text at /metrics.  Both routes are ROUTE_ADMIN: the dispatcher serves
 * them only when nginx's admin locations (basic auth, or loopback for
 * /metrics) set TANDEM_ADMIN.  The request counters come from lib/stats
 * (shared memory of every worker process), the counts from the store,
 * read in one snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "problem.h"
#include "stats.h"
#include "version.h"

/* Round to microseconds, so the JSON shows 1.234 rather than 1.23399... */
static double
ms_round(double ms)
{
	return (double)(int64_t)(ms * 1000.0 + 0.5) / 1000.0;
}

static int
counts_tx(struct db *db, void *arg)
{
	return db_admin_counts(db, now_ms() - cfg.presence_ttl_ms, arg);
}

/* The server-wide counts, in one snapshot. */
static int
counts_read(struct req *req, struct admin_counts *c)
{
	int	 rc;

	rc = db_read(req_db(req), counts_tx, c);
	req_db_release(req);
	return rc;
}

/*
 * GET /api/v1/admin/stats
 * 200 {version, uptime_s, db_bytes, users, devices:{online, total},
 *     sessions:{active, killed}, messages, records, conflicts_open,
 *     longpoll_waiting, requests_per_min, errors_per_min,
 *     latency_ms:{p50, p95, p99}, workers:[{pid, uptime_s, requests}]}
 * 404 NOT_FOUND (not through nginx's admin location: the dispatcher)
 * 503 SERVICE_UNAVAILABLE (the database)
 *
 * devices.total counts devices that are not revoked; records counts live
 * records (not tombstones); errors_per_min counts 5xx answers; latency
 * leaves out long polls that waited.
 */
int
handle_admin_stats(struct req *req, struct resp *resp)
{
	struct stats_snapshot *s = NULL;
	struct admin_counts c;
	json_t		*o = NULL, *workers = NULL;
	int		 i, rc;

	if ((rc = counts_read(req, &c)) != DB_OK)
		return problem(resp, 503, "SERVICE_UNAVAILABLE",
		    "the database is unusable; retry");
	if ((s = malloc(sizeof(*s))) == NULL ||
	    (workers = json_array()) == NULL)
		goto oom;
	stats_read(s);
	for (i = 0; i < s->nworkers; i++)
		if (json_array_append_new(workers, json_pack("{s:I, s:I, s:I}",
		    "pid", (json_int_t)s->workers[i].pid,
		    "uptime_s", (json_int_t)s->workers[i].uptime_s,
		    "requests", (json_int_t)s->workers[i].requests)) == -1)
			goto oom;
	o = json_pack("{s:s, s:I, s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I},"
	    " s:I, s:I, s:I, s:I, s:I, s:I, s:{s:f, s:f, s:f}, s:o}",
	    "version", TANDEM_VERSION,
	    "uptime_s", (json_int_t)s->uptime_s,
	    "db_bytes", (json_int_t)c.db_bytes,
	    "users", (json_int_t)c.users,
	    "devices",
		"online", (json_int_t)c.devices_online,
		"total", (json_int_t)c.devices_total,
	    "sessions",
		"active", (json_int_t)c.sessions_active,
		"killed", (json_int_t)c.sessions_killed,
	    "messages", (json_int_t)c.messages,
	    "records", (json_int_t)c.records,
	    "conflicts_open", (json_int_t)c.conflicts_open,
	    "longpoll_waiting", (json_int_t)s->longpoll_waiting,
	    "requests_per_min", (json_int_t)s->requests_last_min,
	    "errors_per_min", (json_int_t)s->errors_last_min,
	    "latency_ms",
		"p50", ms_round(s->p50_ms),
		"p95", ms_round(s->p95_ms),
		"p99", ms_round(s->p99_ms),
	    "workers", workers);
	workers = NULL;		/* "o" took it, even on failure */
	free(s);
	return resp_json(resp, 200, o);
oom:
	json_decref(workers);
	free(s);
	return problem(resp, 500, "INTERNAL_ERROR", "out of memory");
}

/* A Prometheus sample value: integers exactly, others in full precision. */
static void
prom_num(struct buf *b, double v)
{
	if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
		buf_addf(b, "%lld", (long long)v);
	else
		buf_addf(b, "%.9g", v);
}

static void
prom_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
prom_gauge(struct buf *b, const char *name, const char *help, double v)
{
	prom_family(b, name, "gauge", help);
	buf_addf(b, "%s ", name);
	prom_num(b, v);
	buf_adds(b, "\n");
}

static void
prom_counts(struct buf *b, const struct admin_counts *c)
{
	prom_gauge(b, "tandem_db_bytes", "Size of the SQLite database "
	    "(pages in use and free).", (double)c->db_bytes);
	prom_gauge(b, "tandem_users", "Registered users.", (double)c->users);
	prom_gauge(b, "tandem_devices_online", "Devices not revoked and seen "
	    "within the presence TTL.", (double)c->devices_online);
	prom_gauge(b, "tandem_devices", "Devices not revoked.",
	    (double)c->devices_total);
	prom_family(b, "tandem_sessions", "gauge", "Chat sessions by state.");
	buf_addf(b, "tandem_sessions{state=\"active\"} %lld\n"
	    "tandem_sessions{state=\"killed\"} %lld\n",
	    (long long)c->sessions_active, (long long)c->sessions_killed);
	prom_gauge(b, "tandem_messages", "Messages stored.",
	    (double)c->messages);
	prom_family(b, "tandem_records", "gauge", "Synced records: live ones "
	    "and tombstones of deleted ones.");
	buf_addf(b, "tandem_records{state=\"live\"} %lld\n"
	    "tandem_records{state=\"tombstone\"} %lld\n",
	    (long long)c->records, (long long)c->tombstones);
	prom_gauge(b, "tandem_conflicts_open", "Sync conflicts waiting to be "
	    "resolved.", (double)c->conflicts_open);
}

static void
prom_requests(struct buf *b, const struct stats_snapshot *s)
{
	uint64_t	 acc = 0;
	int		 i;

	prom_family(b, "tandem_http_requests_total", "counter",
	    "HTTP requests answered by tandemd, by status.");
	for (i = 100; i < 600; i++)
		if (s->by_status[i] > 0)
			buf_addf(b, "tandem_http_requests_total{status=\"%d\"} "
			    "%llu\n", i, (unsigned long long)s->by_status[i]);
	prom_family(b, "tandem_http_request_duration_seconds", "histogram",
	    "Time from accepting a request to its answer (long polls that "
	    "waited are left out).");
	for (i = 0; i < STATS_NBUCKETS; i++) {
		acc += s->hist[i];
		buf_addf(b, "tandem_http_request_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", stats_bucket_le[i],
		    (unsigned long long)acc);
	}
	acc += s->hist[STATS_NBUCKETS];
	buf_addf(b, "tandem_http_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\ntandem_http_request_duration_seconds_sum ",
	    (unsigned long long)acc);
	prom_num(b, s->sum_s);
	buf_addf(b, "\ntandem_http_request_duration_seconds_count %llu\n",
	    (unsigned long long)acc);
	prom_family(b, "tandem_longpolls_total", "counter",
	    "Long polls that waited for events.");
	buf_addf(b, "tandem_longpolls_total %llu\n",
	    (unsigned long long)s->longpolls_total);
	prom_gauge(b, "tandem_longpoll_waiting", "Long polls waiting now.",
	    (double)s->longpoll_waiting);
	prom_family(b, "tandem_worker_requests_total", "counter",
	    "Requests served by each worker process since it started.");
	for (i = 0; i < s->nworkers; i++)
		buf_addf(b, "tandem_worker_requests_total{slot=\"%d\","
		    "pid=\"%lld\"} %llu\n", s->workers[i].slot,
		    (long long)s->workers[i].pid,
		    (unsigned long long)s->workers[i].requests);
	prom_family(b, "tandem_worker_start_time_seconds", "gauge",
	    "When each worker process started, seconds since the epoch.");
	for (i = 0; i < s->nworkers; i++)
		buf_addf(b, "tandem_worker_start_time_seconds{slot=\"%d\","
		    "pid=\"%lld\"} %.3f\n", s->workers[i].slot,
		    (long long)s->workers[i].pid,
		    (double)s->workers[i].started_ms / 1000.0);
}

/*
 * GET /metrics
 * 200 Prometheus text exposition 0.0.4 (text/plain; version=0.0.4): the
 *     request counters and latency histogram, long polls, the counts of
 *     the status document, per-worker requests.  When the database is
 *     unusable tandem_db_up is 0 and the counts are left out.
 * 404 NOT_FOUND (not through nginx's /metrics location: the dispatcher)
 */
int
handle_metrics(struct req *req, struct resp *resp)
{
	struct stats_snapshot *s;
	struct admin_counts c;
	struct buf	*b = &resp->raw;
	int		 db_ok;

	db_ok = counts_read(req, &c) == DB_OK;
	if ((s = malloc(sizeof(*s))) == NULL)
		return problem(resp, 500, "INTERNAL_ERROR", "out of memory");
	stats_read(s);
	buf_reset(b);
	prom_family(b, "tandem_build_info", "gauge",
	    "The running version; always 1.");
	buf_addf(b, "tandem_build_info{version=\"%s\"} 1\n", TANDEM_VERSION);
	prom_gauge(b, "tandem_uptime_seconds", "Seconds since tandemd "
	    "started.", (double)s->uptime_s);
	prom_gauge(b, "tandem_db_up", "1 when the database answered this "
	    "scrape, else 0 (and its counts are left out).", db_ok);
	if (db_ok)
		prom_counts(b, &c);
	prom_requests(b, s);
	free(s);
	json_decref(resp->body);
	resp->body = NULL;
	resp->content_type = "text/plain; version=0.0.4";
	resp->status = 200;
	return 200;
}
