/*
 * The PostgreSQL engine's own header, for its files only (the files of
 * lib/pg/): the connection with its prepared statements, and the query
 * helper every store file uses to bind, run and read.  Nothing outside
 * lib/pg/ includes it.
 *
 * A query is a struct pgq: pgq_init() names the SQL (a string literal:
 * the statement is prepared once per connection, on its first run, and
 * cached under the literal's address, with the parameter types of its
 * first binding), pgq_int()/pgq_text()/... bind $1, $2, ... in order,
 * pgq_exec() or pgq_one() runs it, the pgq_get*() read the result, and
 * pgq_clear() frees it.  Every value is bound; no SQL is built from
 * input.
 */
#ifndef TANDEM_PG_H
#define TANDEM_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "store.h"

#define PGQ_MAXP	16
#define PG_MAX_LOCKED	8	/* user rows whose clock a tx caches */

struct pg_slot {
	const char	*sql;	/* the key: the address of a string literal */
	int		 id;	/* prepared as "t<id>" */
};

/* A connection: struct db first, so the store's struct db * is one. */
struct pg {
	struct db	 db;
	PGconn		*conn;		/* NULL: lost, reconnect on next use */
	struct pg_slot	*slots;
	size_t		 nslots;	/* a power of two */
	size_t		 nused;
	int64_t		 retry_at_us;	/* no reconnect before (mono_us) */
	int		 in_tx;		/* BEGIN sent, no COMMIT/ROLLBACK yet */
	int		 pinned;	/* reconnect only in pg_reconnect() */
	int		 sweep_locked;	/* holds the sweepers' advisory lock */
	int		 logged_down;	/* "database unreachable" said once */
	/* The users whose row this write transaction locked, with their
	 * clock as read then (users.clock_us). */
	struct {
		int64_t	 user_id;
		int64_t	 clock_us;
		int64_t	 usage_bytes;	/* as locked: the usage counters */
		int64_t	 usage_records;	/* change only at the op's end */
		int	 usage_valid;
	}		 locked[PG_MAX_LOCKED];
	int		 nlocked;
};

#define PG(d)	((struct pg *)(d))

struct pgq {
	struct db	*db;
	const char	*sql;
	int		 n;
	const char	*v[PGQ_MAXP];
	int		 len[PGQ_MAXP];
	int		 fmt[PGQ_MAXP];
	Oid		 type[PGQ_MAXP];
	char		 num[PGQ_MAXP][24];
	PGresult	*res;
	int		 rows;		/* rows of the result */
	int64_t		 changed;	/* rows a command changed */
};

extern const struct migration pg_migrations[];
extern const size_t pg_nmigrations;
extern const struct store pg_store;

void	 pgq_init(struct pgq *, struct db *, const char *sql);
void	 pgq_int(struct pgq *, int64_t);
void	 pgq_bool(struct pgq *, int);
void	 pgq_text(struct pgq *, const char *);
void	 pgq_time(struct pgq *, int64_t);
void	 pgq_blob(struct pgq *, const void *, size_t);
int	 pgq_exec(struct pgq *);
int	 pgq_one(struct pgq *);
int	 pgq_exec_one(struct pgq *);
int	 pgq_count(struct pgq *, int64_t *out);
int	 pgq_each(struct pgq *, int (*row)(struct pgq *, void *), void *);
void	 pgq_clear(struct pgq *);

int64_t	 pgq_getint(const struct pgq *, int row, int col);
int64_t	 pgq_gettime(const struct pgq *, int row, int col);
int	 pgq_getbool(const struct pgq *, int row, int col);
int	 pgq_isnull(const struct pgq *, int row, int col);
const char *pgq_getstr(const struct pgq *, int row, int col);
size_t	 pgq_getlen(const struct pgq *, int row, int col);
void	 pgq_copy(char *dst, size_t n, const struct pgq *, int row, int col);
char	*pgq_dup(const struct pgq *, int row, int col);

int	 pg_user_lock(struct db *, int64_t user_id);
int	 pg_user_usage(struct db *, int64_t user_id, int64_t *bytes,
	    int64_t *records);
void	 pg_user_usage_forget(struct db *, int64_t user_id);
int	 pg_iter_rc(int cb_rc);
int	 pg_reconnect(struct pg *);
PGconn	*pg_connect_raw(int quiet);
void	 pg_host_token_init(void);
const char *pg_host_token(void);

/* lib/pg/notify.c: the doorbell between hosts */
void	 pg_notify(struct db *, const int64_t *users, int n, int all);
int	 pg_listen_start(void);

#endif
