/*
 * db_sync: records, revisions, tombstones and conflicts.  (Owned by the
 * sync area; see handlers/sync.c and handlers/conflicts.c.)
 */
#ifndef TANDEM_DB_SYNC_H
#define TANDEM_DB_SYNC_H

#include <stdint.h>

struct db;

int	 db_sync_sweep(struct db *, int64_t now_ms);

#endif
