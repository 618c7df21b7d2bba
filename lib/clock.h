/*
 * clock: the times the server reads.  Wall-clock times for what the API
 * shows (milliseconds since the epoch, microseconds for versions), the
 * monotonic clock for durations and deadlines.
 */
#ifndef TANDEM_CLOCK_H
#define TANDEM_CLOCK_H

#include <stdint.h>

int64_t	 now_us(void);
int64_t	 now_ms(void);
int64_t	 mono_us(void);

#endif
