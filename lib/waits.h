/*
 * waits: how many polls (and event streams) wait at once, per device and
 * per user, across every worker process of this host, so that one
 * account cannot take the capacity the others need (API.md "Fairness":
 * TANDEM_MAX_WAITS_PER_DEVICE, TANDEM_MAX_WAITS_PER_USER).
 *
 * A shared-memory hash table mapped by the master before it forks holds,
 * for each device and each user with a wait, the total and each worker
 * slot's share; a worker that dies (kill -9) loses its share when its
 * slot restarts (waits_worker_start), so no count is ever stranded.  One
 * robust process-shared mutex makes every check-and-count exact.
 */
#ifndef TANDEM_WAITS_H
#define TANDEM_WAITS_H

#include <stdint.h>

enum waits_rc {
	WAITS_OK,
	WAITS_DEVICE_FULL,	/* the device holds its cap already */
	WAITS_USER_FULL,	/* the user holds its cap already */
	WAITS_TABLE_FULL	/* this host tracks too many (a warning) */
};

int	 waits_init(int nslots);
void	 waits_worker_start(int slot);
enum waits_rc waits_enter(int64_t user_id, const char *device_id);
void	 waits_leave(int64_t user_id, const char *device_id);
int64_t	 waits_count_device(int64_t user_id, const char *device_id);

#endif
