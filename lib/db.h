/*
 * db: the storage engine's handle and the one way to run a transaction.
 *
 * A struct db is one connection of whichever engine lib/store.h selects
 * (SQLite in the data directory, or PostgreSQL), with the state of the
 * transaction it is in.  Each worker process keeps a small pool of them;
 * a request borrows one (db_acquire) for as long as it touches the store
 * and gives it back (db_release), so a long poll waits holding none.
 *
 * Every write runs as fn(db, arg) inside db_tx(): begin, fn, commit, or
 * roll back when fn returns anything but DB_OK; an engine's "try again"
 * (a busy lock, a serialization failure) runs fn again from the start, so
 * fn must set its outputs from scratch each time.  A read that needs one
 * snapshot runs inside db_read().  After its commit the transaction rings
 * the doorbell of every user whose events it appended (db_ring_user).
 * No handler writes BEGIN or COMMIT.
 *
 * What an operation keeps aside for the end of its transaction (the
 * per-user clock, an area's deferred counters) is flushed when fn
 * returns DB_OK, before the commit, and forgotten on rollback.
 */
#ifndef TANDEM_DB_H
#define TANDEM_DB_H

#include <stdint.h>

/* The one result convention of db_*, store and engine functions. */
enum db_rc {
	DB_OK = 0,
	DB_NOTFOUND,	/* no such row (or a conditional write changed none) */
	DB_CONSTRAINT,	/* a unique key or a check refused the write */
	DB_BUSY,	/* the database was locked for too long */
	DB_ERROR,	/* the database is unusable, or out of memory */
	DB_TIMEOUT,	/* past TANDEM_MAX_WRITE_MS: nothing written */
	DB_ROLLBACK,	/* fn decided to write nothing: rolled back */
	DB_RETRY,	/* the engine asks to run the transaction again */
	DB__MAX
};

extern const char *const db_rc_names[DB__MAX];

struct db;
struct store;

#define DB_MAX_RING	256	/* past this, a commit rings every bucket */
#define DB_MAX_CLOCKS	4

/* The state of the transaction a connection is in. */
struct db_tx {
	int		 active;	/* 0, DB_TX_WRITE or DB_TX_READ */
	int64_t		 deadline_us;	/* mono_us: TANDEM_MAX_WRITE_MS */
	int64_t		 ring[DB_MAX_RING];	/* users to wake on commit */
	int		 nring;
	int		 ring_all;
	/* The per-user clocks this operation moved: read once, written
	 * back once when it ends (db_clock_next). */
	struct {
		int64_t	 user_id;
		int64_t	 last;
		int	 dirty;
	}		 clock[DB_MAX_CLOCKS];
	int		 nclock;
	/* An area's writes deferred to the end of the operation. */
	int		(*defer_flush)(struct db *, void *);
	void		(*defer_free)(void *);
	void		*defer_arg;
};

#define DB_TX_WRITE	1
#define DB_TX_READ	2

/* A connection: the engine's functions, and its transaction. */
struct db {
	const struct store *store;
	struct db_tx	 tx;
	struct db	*next_free;	/* the pool's free list */
};

typedef int (*db_fn)(struct db *, void *arg);

int	 db_engine_select(const char *url);
const struct store *db_engine(void);
const char *db_engine_name(void);

int	 db_pool_open(int n);
void	 db_pool_close(void);
struct db *db_acquire(void);
void	 db_release(struct db *);
struct db *db_open(void);
void	 db_close(struct db *);

int	 db_tx(struct db *, db_fn, void *arg);
int	 db_read(struct db *, db_fn, void *arg);
int	 db_tx_expired(const struct db *);

void	 db_ring_user(struct db *, int64_t user_id);
int	 db_clock_next(struct db *, int64_t user_id, int64_t *version);
void	*db_deferred(struct db *, int (*flush)(struct db *, void *));
void	 db_defer(struct db *, int (*flush)(struct db *, void *),
	    void (*free_fn)(void *), void *arg);

int	 db_migrate(void);
int	 db_listen_start(void);
int	 db_health(struct db *);
void	 db_set_stale_handler(void (*)(void));
void	 db_stale(void);

/* A migration: a file of migrations/<engine>/ and its C step, if any. */
struct migration {
	const char	*name;
	const char	*sql;
	int		(*step)(struct db *);
};

#endif
