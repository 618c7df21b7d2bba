/*
 * The sweeper: the one place for what time alone causes, run every
 * TANDEM_SWEEP_MS in its own process (forked and restarted by the master):
 * primary leases that lapsed (failover), devices going offline, pruning
 * old events and tombstones.  Each step is its own transaction in its
 * area's lib/db_*.c.
 */
#include "config.h"
#include "db.h"
#include "db_auth.h"
#include "db_events.h"
#include "db_sessions.h"
#include "db_sync.h"
#include "handlers.h"
#include "http.h"
#include "log.h"

static struct db *sweep_db;

void
sweeper_run(void)
{
	int64_t	 now = now_ms();

	if (sweep_db == NULL && (sweep_db = db_open(cfg.db_path)) == NULL)
		return;
	if (db_sessions_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: primary failover failed");
	if (db_devices_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: presence failed");
	if (db_events_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: event pruning failed");
	if (db_sync_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: tombstone purge failed");
}
