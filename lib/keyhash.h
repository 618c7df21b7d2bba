/*
 * keyhash: a keyed 64-bit hash (SipHash-2-4 from OpenSSL) for the
 * server's shared-memory tables (the rate limiter's buckets, the waiting
 * polls' counts).  The key is drawn at random by keyhash_init() in the
 * master before it forks, so every worker process hashes alike while
 * nobody outside can choose ids that collide.
 */
#ifndef TANDEM_KEYHASH_H
#define TANDEM_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

int	 keyhash_init(void);
uint64_t keyhash(const void *data, size_t len);
uint64_t keyhash_device(int64_t user_id, const char *device_id);

#endif
