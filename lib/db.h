/*
 * db: SQLite underneath every handler.  Each worker process keeps a small
 * pool of connections (WAL, busy timeout, prepared statements cached per
 * connection); a request borrows one for as long as it touches the
 * database and gives it back, so a long poll waits holding none.
 *
 * Every write runs between db_begin() (BEGIN IMMEDIATE) and db_commit();
 * db_commit() rings the doorbell of every user whose events the
 * transaction appended, after the commit is durable.
 *
 * The SQL of each area lives in its own lib/db_<area>.c; this file has
 * the pool, the statement cache, transactions, the server clock and the
 * migrations runner.
 */
#ifndef TANDEM_DB_H
#define TANDEM_DB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

enum db_rc {
	DB_OK = 0,
	DB_NOTFOUND,
	DB_CONSTRAINT,
	DB_BUSY,
	DB_ERROR,
	DB_TIMEOUT,	/* the write would hold the lock past TANDEM_MAX_WRITE_MS */
	DB__MAX
};

#define DB_MAX_RING	32

struct stmt_slot {
	const char	*sql;	/* the key: the address of a string literal */
	sqlite3_stmt	*st;
};

struct db {
	sqlite3		*conn;
	struct stmt_slot *slots;
	size_t		 nslots;	/* a power of two */
	size_t		 nused;
	int		 in_tx;
	int		 write_locked;	/* holds the process's writer mutex */
	int64_t		 ring[DB_MAX_RING];	/* users to wake on commit */
	int		 nring;
	int		 ring_all;
	/* The server clock as this transaction moved it (db_clock_next):
	 * read once, written back once at commit. */
	int64_t		 clock_last;
	int		 clock_read;
	int		 clock_dirty;
	/* An area's writes deferred to the end of this transaction
	 * (db_defer): flushed before COMMIT, discarded on rollback. */
	int		(*defer_flush)(struct db *, void *);
	void		(*defer_free)(void *);
	void		*defer_arg;
	struct db	*next_free;
};

/*
 * One migrations/NNNN_name.sql file.  step, when the file names one
 * (migrations/embed.awk), is C that SQL cannot do, run by db_migrate right
 * after the SQL inside the same transaction; it returns 0 or -1 (the
 * migration then fails and is rolled back).
 */
struct migration {
	const char	*name;
	const char	*sql;
	int		(*step)(struct db *);
};

extern const struct migration db_migrations[];
extern const size_t db_nmigrations;

int	 db_pool_open(const char *path, int n);
void	 db_pool_close(void);
struct db *db_acquire(void);
void	 db_release(struct db *);

struct db *db_open(const char *path);
void	 db_close(struct db *);

int	 db_migrate(const char *path);
void	 db_set_stale_handler(void (*)(void));

sqlite3_stmt *db_prepare(struct db *, const char *sql);
int	 db_step(struct db *, sqlite3_stmt *);
int	 db_step_row(struct db *, sqlite3_stmt *);
int	 db_exec(struct db *, sqlite3_stmt *);
int	 db_rc_of(int sqlite_rc);
void	 db_bind_text(sqlite3_stmt *, int, const char *);
void	 db_bind_json(sqlite3_stmt *, int, const json_t *);
char	*db_col_dup(sqlite3_stmt *, int);
json_t	*db_col_json(sqlite3_stmt *, int);
json_t	*db_col_json_or_null(sqlite3_stmt *, int);
json_t	*db_col_str_or_null(sqlite3_stmt *, int);

int	 db_begin(struct db *);
int	 db_commit(struct db *);
void	 db_rollback(struct db *);
void	 db_ring_user(struct db *, int64_t user_id);

int	 db_clock_next(struct db *, int64_t *out);
void	*db_deferred(struct db *, int (*flush)(struct db *, void *));
void	 db_defer(struct db *, int (*flush)(struct db *, void *),
	    void (*free_fn)(void *), void *arg);
int	 db_health(struct db *);
int64_t	 db_file_bytes(struct db *);

#endif
