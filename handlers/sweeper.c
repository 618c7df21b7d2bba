/*
 * The sweeper: the one place for what time alone causes, run every
 * TANDEM_SWEEP_MS in its own process: primary leases that lapsed
 * (failover), devices going offline, pruning old events and tombstones.
 */
#include "config.h"
#include "db.h"
#include "handlers.h"

void
sweeper_run(void)
{
}
