/*
 * The sweeper: the one place for what time alone causes, run every
 * TANDEM_SWEEP_MS by lib/server.c's sweeper process: primary leases that
 * lapsed (failover) and expired locks, devices going offline, pruning old
 * events and tombstones, expired links and old wrong link codes.  Each step is its area's operation, in its own
 * transactions.  With many hosts on one database, one host sweeps at a
 * time (the engine's sweep lock).
 */
#include "clock.h"
#include "config.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "store.h"

static struct db *sweep_db;

void
sweeper_run(void)
{
	int64_t	 now = now_ms();
	int	 rc;

	if (sweep_db == NULL && (sweep_db = db_open()) == NULL)
		return;
	if ((rc = sweep_db->store->sweep_lock(sweep_db)) != DB_OK) {
		if (rc != DB_NOTFOUND)
			log_msg(LOG_WARN, "sweep: cannot take the sweep lock");
		return;		/* another host sweeps */
	}
	if (sessions_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: primary failover failed");
	if (devices_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: presence failed");
	if (events_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: event pruning failed");
	if (sync_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: tombstone purge failed");
	if (links_sweep(sweep_db, now) != DB_OK)
		log_msg(LOG_WARN, "sweep: link pruning failed");
}
