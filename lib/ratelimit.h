/*
 * ratelimit: a token bucket per device (TANDEM_RATE_PER_S, bursts of
 * TANDEM_RATE_BURST) and one per service key (TANDEM_SERVICE_RATE_PER_S,
 * TANDEM_SERVICE_RATE_BURST), kept in shared memory so that every worker
 * process draws from the same bucket.
 */
#ifndef TANDEM_RATELIMIT_H
#define TANDEM_RATELIMIT_H

#include <stdint.h>

int	 ratelimit_init(void);
int	 ratelimit_take(int64_t user_id, const char *device_id,
	    double *retry_after_s);
int	 ratelimit_take_service(const char *name, double *retry_after_s);

#endif
