/*
 * park: requests that wait without holding a thread (long polls, event
 * streams).  A request that must wait is handed to this process's park
 * thread as an entry (its FastCGI connection, its user, the doorbell
 * counter it last looked at, its deadline); the accepting thread goes
 * back to accepting.  The park thread finishes or keeps each entry
 * through its owner's callbacks when:
 *	- the user's doorbell bucket rings (wake: the user's entries that
 *	  looked before the ring, all at once, so that the owner reads the
 *	  user's new events once for all of them);
 *	- its deadline passes (expire: answer, or set a new deadline, as a
 *	  stream's ping does);
 *	- its client goes away: nginx closes the connection (gone);
 *	- its connection can take more bytes, when it asked (want_out:
 *	  an event stream with unsent bytes; writable);
 *	- the worker stops (stop: answer now).
 * Every callback runs on the park thread, one at a time.  An entry may
 * name callbacks of its own (ops: a link's token call, handlers/links.c)
 * instead of the process's (park_start: polls and streams); a wake
 * hands each owner only its own entries.  A connection
 * answered there is closed through park_linger(), which waits for
 * nginx's close in epoll rather than in a blocking read.
 *
 * A bell thread sleeps on the doorbell's any-ring futex and tells the
 * park thread that some bucket rang; the park thread compares the
 * counters of the buckets that hold entries with what each entry saw,
 * so a ring between an owner's look and park_add() is never lost, and a
 * bucket collision costs a spurious wake, never a lost one.
 */
#ifndef TANDEM_PARK_H
#define TANDEM_PARK_H

#include <stddef.h>
#include <stdint.h>

struct park_ops;

struct park_entry {
	/* set by the owner before park_add() */
	int		 fd;		/* the connection, watched for hang-ups */
	int64_t		 user_id;
	uint32_t	 seen;		/* the user's bucket counter at its look */
	int64_t		 deadline_us;	/* mono_us */
	/* a callback sets done to take the entry back out of park */
	int		 done;
	/* a callback sets it to hear when the connection is writable */
	int		 want_out;
	/* whose callbacks finish it; NULL: those park_start() was given */
	const struct park_ops *ops;
	/* park's own */
	size_t		 bucket;
	size_t		 heap_i;
	struct park_entry *prev, *next;	/* in its bucket */
	struct park_entry *incoming;	/* queued for the park thread */
	int		 queued;
};

struct park_ops {
	/*
	 * The user's bucket rang since v[0..n) looked: each may set done
	 * (answered) or stay, with its seen already moved to the ring.
	 */
	void	 (*wake)(int64_t user_id, struct park_entry **v, size_t n);
	/* The deadline passed: set done, or a new deadline_us to stay. */
	void	 (*expire)(struct park_entry *);
	/* The client went away: the entry leaves park; free it. */
	void	 (*gone)(struct park_entry *);
	/* The worker stops: the entry leaves park; answer it now. */
	void	 (*stop)(struct park_entry *);
	/* An entry a wake or an expire set done has left park: free it. */
	void	 (*release)(struct park_entry *);
	/* The connection takes more bytes (want_out): set done, or stay. */
	void	 (*writable)(struct park_entry *);
};

int	 park_start(const struct park_ops *);
int	 park_add(struct park_entry *);
int	 park_self(void);
void	 park_linger(int);
void	 park_stop(void);
size_t	 park_count(void);

#endif
