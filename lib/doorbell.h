/*
 * doorbell: wakes long polls across worker processes.  A shared memory
 * page of 32-bit counters, one per hash bucket of user id, mapped before
 * the workers fork.  A writer bumps its user's counter after commit and
 * wakes the bucket's waiters with a shared futex; a waiter reads the
 * counter, looks for events in the database, and sleeps only while the
 * counter still holds the value it read, so a commit between its look and
 * its sleep still wakes it.  A bucket collision costs a spurious wake-up,
 * never a lost one.
 *
 * A waiting poll also needs to learn that its client went away (nginx
 * closes the FastCGI connection).  doorbell_watch() hands the connection
 * to a per-process watcher thread (epoll, EPOLLRDHUP) that rings the
 * user's bucket when the peer hangs up, so polls sleep until an event,
 * their deadline or that ring, and cost no CPU while they wait.
 * SIGTERM: doorbell_shutdown() marks this process as stopping and rings
 * every bucket; waits return at once from then on.
 */
#ifndef TANDEM_DOORBELL_H
#define TANDEM_DOORBELL_H

#include <stddef.h>
#include <stdint.h>

#define DOORBELL_BUCKETS	4096

int	 doorbell_init(void);
uint32_t doorbell_read(int64_t user_id);
void	 doorbell_ring(int64_t user_id);
void	 doorbell_ring_all(void);
int	 doorbell_wait(int64_t user_id, uint32_t seen, int64_t timeout_ms);
void	 doorbell_shutdown(void);
int	 doorbell_stopping(void);
size_t	 doorbell_bucket(int64_t user_id);
uint32_t doorbell_bucket_read(size_t bucket);
uint32_t doorbell_any_read(void);
int	 doorbell_any_wait(uint32_t seen, int64_t timeout_ms);
int	 doorbell_watch(int fd, int64_t user_id);
void	 doorbell_unwatch(int fd);

#endif
