#include <time.h>

#include "clock.h"

/* Microseconds since the epoch (CLOCK_REALTIME). */
int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds since the epoch. */
int64_t
now_ms(void)
{
	return now_us() / 1000;
}

/* Microseconds of CLOCK_MONOTONIC: for durations, never for the API. */
int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
