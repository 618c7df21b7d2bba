/*
 * The SQLite engine's own header, for its files only (the files of lib/sqlite/):
 * the connection with its statement cache, and the helpers every store
 * file uses to prepare, bind, step and read.  Nothing outside lib/sqlite/
 * includes it.
 */
#ifndef TANDEM_SQLITE_H
#define TANDEM_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "store.h"

struct stmt_slot {
	const char	*sql;	/* the key: the address of a string literal */
	sqlite3_stmt	*st;
};

/* A connection: struct db first, so the store's struct db * is one. */
struct sq {
	struct db	 db;
	sqlite3		*conn;
	struct stmt_slot *slots;
	size_t		 nslots;	/* a power of two */
	size_t		 nused;
	int		 write_locked;	/* holds the process's writer mutex */
};

#define SQ(d)	((struct sq *)(d))

extern const struct migration sqlite_migrations[];
extern const size_t sqlite_nmigrations;

sqlite3_stmt *sq_prepare(struct db *, const char *sql);
int	 sq_next(struct db *, sqlite3_stmt *, int *row);
int	 sq_one(struct db *, sqlite3_stmt *);
int	 sq_exec(struct db *, sqlite3_stmt *);
int	 sq_exec_one(struct db *, sqlite3_stmt *);
int	 sq_int(struct db *, sqlite3_stmt *, int64_t *out);
int	 sq_rc_of(int sqlite_rc);
void	 sq_log_error(struct db *, const char *what);

void	 sq_bind_text(sqlite3_stmt *, int, const char *);
void	 sq_bind_key(sqlite3_stmt *, int64_t user_id, const char *a,
	    const char *b);
void	 sq_col_copy(char *dst, size_t n, sqlite3_stmt *, int i);
char	*sq_col_dup(sqlite3_stmt *, int i);
int64_t	 sq_col_time(sqlite3_stmt *, int i);
void	 sq_bind_time(sqlite3_stmt *, int i, int64_t t);
int64_t	 sq_changes(struct db *);
int64_t	 sq_last_id(struct db *);

int	 sq_iter_rc(int cb_rc);

#endif
