#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "db.h"
#include "doorbell.h"
#include "http.h"
#include "jcs.h"
#include "json.h"
#include "log.h"

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct db	*conns;
	int		 n;
	struct db	*free;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0,
    NULL };

/* One writer at a time per process: see busy_wait. */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

static void
write_unlock(struct db *db)
{
	if (db->write_locked) {
		db->write_locked = 0;
		pthread_mutex_unlock(&write_mu);
	}
}

static int	 tx_flush(struct db *);

/* Forget what the transaction kept aside: the clock, deferred writes. */
static void
tx_state_reset(struct db *db)
{
	if (db->defer_free != NULL)
		db->defer_free(db->defer_arg);
	db->defer_flush = NULL;
	db->defer_free = NULL;
	db->defer_arg = NULL;
	db->clock_read = 0;
	db->clock_dirty = 0;
}

static void
db_log_error(struct db *db, const char *what)
{
	log_json(LOG_ERROR, "sqlite error", json_pack("{s:s, s:i, s:s}",
	    "what", what, "sqlite_rc", sqlite3_extended_errcode(db->conn),
	    "error", sqlite3_errmsg(db->conn)));
}

static void (*stale_handler)(void);

/*
 * Who to tell when this process's connections are stuck read-only while
 * the file is writable again (the worker restarts itself).
 */
void
db_set_stale_handler(void (*fn)(void))
{
	stale_handler = fn;
}

/*
 * A write failed as read-only.  SQLite shares one -shm mapping among all
 * connections of a process, so a mapping made while the file was not
 * writable keeps every connection read-only even after the file is
 * fixed.  When the file can be opened for writing now, the process's
 * connections are stale: the handler restarts the process.
 */
static void
readonly_check(struct db *db)
{
	const char	*f = sqlite3_db_filename(db->conn, "main");
	int		 fd;

	if (f == NULL || stale_handler == NULL)
		return;
	if ((fd = open(f, O_RDWR | O_CLOEXEC)) == -1)
		return;
	close(fd);
	log_msg(LOG_WARN, "database writable again; restarting to reopen it");
	stale_handler();
}

/* Map an SQLite result code to a db_rc. */
int
db_rc_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return DB_OK;
	case SQLITE_CONSTRAINT:
		return DB_CONSTRAINT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DB_BUSY;
	default:
		return DB_ERROR;
	}
}

/*
 * Wait for another process's write lock in short sleeps (SQLite's own
 * busy_timeout backs off to 100 ms naps, which shows as p99 latency under
 * concurrent writers), for about 5 s in all.  Threads of one process
 * queue on write_mu instead (db_begin).
 */
static int
busy_wait(void *arg, int count)
{
	(void)arg;
	if (count < 20)
		usleep(100);
	else if (count < 200)
		usleep(500);
	else if (count < 2650)
		usleep(2000);
	else
		return 0;
	return 1;
}

static int
db_setup(struct db *db)
{
	static const char *const pragmas =
	    "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA temp_store = MEMORY;";

	sqlite3_busy_handler(db->conn, busy_wait, NULL);
	if (sqlite3_exec(db->conn, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		db_log_error(db, "pragmas");
		return -1;
	}
	return 0;
}

/*
 * Open one connection (not from the pool: the master's, the sweeper's, a
 * tool's).  Returns NULL on failure; db_close() frees it.
 */
struct db *
db_open(const char *path)
{
	struct db	*db;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return NULL;
	if (sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    db_setup(db) == -1) {
		if (db->conn != NULL)
			log_msg(LOG_ERROR, "cannot open %s: %s", path,
			    sqlite3_errmsg(db->conn));
		sqlite3_close_v2(db->conn);
		free(db);
		return NULL;
	}
	return db;
}

static void
db_close_conn(struct db *db)
{
	size_t	 i;

	for (i = 0; i < db->nslots; i++)
		sqlite3_finalize(db->slots[i].st);
	free(db->slots);
	db->slots = NULL;
	db->nslots = db->nused = 0;
	sqlite3_close_v2(db->conn);
	db->conn = NULL;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	db_close_conn(db);
	free(db);
}

/*
 * Open n connections for this worker process.  A database that cannot be
 * opened or set up now is logged, not fatal: the worker stays up and its
 * requests answer 503 until the file is usable again.  Returns 0, or -1
 * when out of memory.
 */
int
db_pool_open(const char *path, int n)
{
	int	 i;
	struct db *db;

	if ((pool.conns = calloc((size_t)n, sizeof(*pool.conns))) == NULL)
		return -1;
	pool.n = n;
	for (i = 0; i < n; i++) {
		db = &pool.conns[i];
		if (sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
		    db_setup(db) == -1)
			log_msg(LOG_ERROR, "cannot open %s: %s", path,
			    db->conn ? sqlite3_errmsg(db->conn) :
			    "out of memory");
		if (db->conn == NULL)
			return -1;
		db->next_free = pool.free;
		pool.free = db;
	}
	return 0;
}

void
db_pool_close(void)
{
	int	 i;

	for (i = 0; i < pool.n; i++)
		db_close_conn(&pool.conns[i]);
	free(pool.conns);
	pool.conns = NULL;
	pool.n = 0;
	pool.free = NULL;
}

/* Borrow a connection, waiting for one to be free. */
struct db *
db_acquire(void)
{
	struct db	*db;

	pthread_mutex_lock(&pool.lock);
	while (pool.free == NULL)
		pthread_cond_wait(&pool.cond, &pool.lock);
	db = pool.free;
	pool.free = db->next_free;
	db->next_free = NULL;
	pthread_mutex_unlock(&pool.lock);
	return db;
}

/*
 * Give a connection back.  A transaction left open (a handler bug) is
 * rolled back and statements left mid-step are reset, so the next borrower
 * starts clean and no read snapshot is kept alive.
 */
void
db_release(struct db *db)
{
	sqlite3_stmt	*st = NULL;

	if (db == NULL)
		return;
	if (db->in_tx) {
		log_msg(LOG_ERROR, "transaction left open; rolled back");
		db_rollback(db);
	}
	while ((st = sqlite3_next_stmt(db->conn, st)) != NULL)
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
	pthread_mutex_lock(&pool.lock);
	db->next_free = pool.free;
	pool.free = db;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

static size_t
slot_hash(const char *sql, size_t n)
{
	uintptr_t h = (uintptr_t)sql;

	h ^= h >> 17;
	h *= (uintptr_t)0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 7) & (n - 1);
}

static int
slots_grow(struct db *db)
{
	struct stmt_slot *old = db->slots, *s;
	size_t		 oldn = db->nslots, i, j;
	size_t		 n = oldn ? oldn * 2 : 64;

	if ((s = calloc(n, sizeof(*s))) == NULL)
		return -1;
	for (i = 0; i < oldn; i++) {
		if (old[i].sql == NULL)
			continue;
		for (j = slot_hash(old[i].sql, n); s[j].sql != NULL;
		    j = (j + 1) & (n - 1))
			;
		s[j] = old[i];
	}
	free(old);
	db->slots = s;
	db->nslots = n;
	return 0;
}

/*
 * A prepared statement for sql, reset and with its bindings cleared.  sql
 * must be a string literal (or otherwise live as long as the process): the
 * statement is prepared once per connection and cached under its address,
 * so every area keeps its SQL next to its code.  Returns NULL on error.
 */
sqlite3_stmt *
db_prepare(struct db *db, const char *sql)
{
	size_t		 i = 0;
	sqlite3_stmt	*st;

	if (db->nused * 2 >= db->nslots && slots_grow(db) == -1)
		return NULL;
	for (i = slot_hash(sql, db->nslots); db->slots[i].sql != NULL;
	    i = (i + 1) & (db->nslots - 1))
		if (db->slots[i].sql == sql) {
			st = db->slots[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	if (sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &st, NULL) != SQLITE_OK) {
		db_log_error(db, "prepare");
		return NULL;
	}
	db->slots[i].sql = sql;
	db->slots[i].st = st;
	db->nused++;
	return st;
}

/*
 * Step once.  Returns SQLITE_ROW, SQLITE_DONE, or a db_rc error (as a
 * negative number) after logging it.
 */
int
db_step(struct db *db, sqlite3_stmt *st)
{
	int	 rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	if ((rc & 0xff) != SQLITE_CONSTRAINT)
		db_log_error(db, sqlite3_sql(st));
	sqlite3_reset(st);
	if ((rc & 0xff) == SQLITE_READONLY)
		readonly_check(db);
	return -db_rc_of(rc);
}

/*
 * Step a statement that returns at most one row.  DB_OK: a row is ready
 * to read; DB_NOTFOUND: none; else the error.  The caller resets.
 */
int
db_step_row(struct db *db, sqlite3_stmt *st)
{
	int	 rc = db_step(db, st);

	if (rc == SQLITE_ROW)
		return DB_OK;
	return rc == SQLITE_DONE ? DB_NOTFOUND : -rc;
}

/* Run a statement that returns no rows.  Returns a db_rc. */
int
db_exec(struct db *db, sqlite3_stmt *st)
{
	int	 rc;

	if (st == NULL)
		return DB_ERROR;
	rc = db_step(db, st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return DB_OK;
	return -rc;
}

void
db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/*
 * Bind a JSON value as compact text with canonical (RFC 8785) numbers and
 * strings, its members in their order (a NULL pointer binds SQL NULL):
 * json_load_stored() reads it back with every number intact.
 */
void
db_bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
	char	*s;

	if (v == NULL) {
		sqlite3_bind_null(st, i);
		return;
	}
	s = jcs_dump_answer(v);
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, free);
}

/* A column as a new string (free it), or NULL. */
char *
db_col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

/* A column holding JSON text, as a new reference; SQL NULL gives NULL. */
json_t *
db_col_json(sqlite3_stmt *st, int i)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);

	if (s == NULL)
		return NULL;
	return json_load_stored(s, (size_t)sqlite3_column_bytes(st, i));
}

/* As db_col_json, but SQL NULL gives json_null(). */
json_t *
db_col_json_or_null(sqlite3_stmt *st, int i)
{
	json_t	*v = db_col_json(st, i);

	return v ? v : json_null();
}

/* A text column as a JSON string, or json_null() for SQL NULL. */
json_t *
db_col_str_or_null(sqlite3_stmt *st, int i)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);

	return s ? json_string(s) : json_null();
}

/* BEGIN IMMEDIATE: take the write lock now, waiting up to busy_timeout. */
int
db_begin(struct db *db)
{
	int	 rc;

	pthread_mutex_lock(&write_mu);
	db->write_locked = 1;
	rc = db_exec(db, db_prepare(db, "BEGIN IMMEDIATE"));
	if (rc != DB_OK &&
	    (sqlite3_extended_errcode(db->conn) & 0xff) == SQLITE_READONLY)
		readonly_check(db);
	if (rc == DB_OK) {
		db->in_tx = 1;
		db->nring = 0;
		db->ring_all = 0;
		tx_state_reset(db);
	} else
		write_unlock(db);
	return rc;
}

/* Remember to wake user's long polls once this transaction commits. */
void
db_ring_user(struct db *db, int64_t user_id)
{
	int	 i;

	for (i = 0; i < db->nring; i++)
		if (db->ring[i] == user_id)
			return;
	if (db->nring == DB_MAX_RING)
		db->ring_all = 1;
	else
		db->ring[db->nring++] = user_id;
}

/*
 * COMMIT, then ring the doorbells.  On failure the transaction is rolled
 * back and nothing rings.  Returns a db_rc.
 */
int
db_commit(struct db *db)
{
	int	 rc, i;

	if ((rc = tx_flush(db)) != DB_OK ||
	    (rc = db_exec(db, db_prepare(db, "COMMIT"))) != DB_OK) {
		db_rollback(db);
		return rc;
	}
	tx_state_reset(db);
	db->in_tx = 0;
	write_unlock(db);
	if (db->ring_all)
		doorbell_ring_all();
	else
		for (i = 0; i < db->nring; i++)
			doorbell_ring(db->ring[i]);
	db->nring = 0;
	db->ring_all = 0;
	return DB_OK;
}

void
db_rollback(struct db *db)
{
	sqlite3_stmt	*st = NULL;

	while ((st = sqlite3_next_stmt(db->conn, st)) != NULL)
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
	if (!sqlite3_get_autocommit(db->conn))
		sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
	tx_state_reset(db);
	write_unlock(db);
	db->in_tx = 0;
	db->nring = 0;
	db->ring_all = 0;
}

/*
 * The next delta timestamp: microseconds since the epoch, strictly greater
 * than any handed out before, in commit order because it is taken inside
 * the write transaction.  Must be called between db_begin and db_commit.
 * The clock row is read at the transaction's first call and written back
 * once before COMMIT (writers are serialised, so nobody else moves it
 * meanwhile): a batch of 100 writes costs two statements, not 100.
 */
int
db_clock_next(struct db *db, int64_t *out)
{
	sqlite3_stmt	*st;
	int64_t		 now = now_us();
	int		 rc;

	if (!db->in_tx)
		return DB_ERROR;
	if (!db->clock_read) {
		st = db_prepare(db, "SELECT last_us FROM server_clock "
		    "WHERE id = 1");
		if (st == NULL)
			return DB_ERROR;
		if ((rc = db_step_row(db, st)) == DB_OK)
			db->clock_last = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc != DB_OK)
			return rc == DB_NOTFOUND ? DB_ERROR : rc;
		db->clock_read = 1;
	}
	db->clock_last = now > db->clock_last ? now : db->clock_last + 1;
	db->clock_dirty = 1;
	*out = db->clock_last;
	return DB_OK;
}

/*
 * Defer an area's writes to the end of the transaction: flush(db, arg)
 * runs just before COMMIT (its failure rolls the transaction back), and
 * free_fn(arg) runs after the flush or on rollback.  One area at a time;
 * db_deferred() gives back the arg registered with flush, or NULL.
 */
void
db_defer(struct db *db, int (*flush)(struct db *, void *),
    void (*free_fn)(void *), void *arg)
{
	assert(db->defer_flush == NULL);	/* one area per transaction */
	db->defer_flush = flush;
	db->defer_free = free_fn;
	db->defer_arg = arg;
}

void *
db_deferred(struct db *db, int (*flush)(struct db *, void *))
{
	return db->defer_flush == flush ? db->defer_arg : NULL;
}

/* Write back what this transaction deferred.  Returns a db_rc. */
static int
tx_flush(struct db *db)
{
	sqlite3_stmt	*st;
	int		 rc = DB_OK;

	if (db->defer_flush != NULL)
		rc = db->defer_flush(db, db->defer_arg);
	if (rc == DB_OK && db->clock_dirty) {
		st = db_prepare(db, "UPDATE server_clock SET last_us = ?1 "
		    "WHERE id = 1");
		if (st == NULL)
			return DB_ERROR;
		sqlite3_bind_int64(st, 1, db->clock_last);
		rc = db_exec(db, st);
	}
	return rc;
}

/* A cheap read that fails when the database is unusable.  Returns a db_rc. */
int
db_health(struct db *db)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db == NULL)
		return DB_ERROR;
	if ((st = db_prepare(db, "SELECT last_us FROM server_clock "
	    "WHERE id = 1")) == NULL)
		return DB_ERROR;
	rc = db_step(db, st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? DB_OK : DB_ERROR;
}

/* The database's size in bytes (pages in use and free). */
int64_t
db_file_bytes(struct db *db)
{
	sqlite3_stmt	*st;
	int64_t		 n = -1;

	st = db_prepare(db, "SELECT page_count * page_size FROM "
	    "pragma_page_count(), pragma_page_size()");
	if (st != NULL && db_step(db, st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	if (st != NULL)
		sqlite3_reset(st);
	return n;
}

/*
 * Apply the migrations built into the binary (the .sql files of migrations/, in
 * name order) that schema_migrations does not list yet, each in its own
 * transaction with its C step, if it names one, run after its SQL.  Run by
 * the master before any worker starts.  Returns 0 or -1.
 */
int
db_migrate(const char *path)
{
	struct db	*db;
	sqlite3_stmt	*st = NULL;
	char		*err = NULL;
	size_t		 i = 0;
	int		 rc = -1, have, step_failed = 0;

	if ((db = db_open(path)) == NULL)
		return -1;
	if (sqlite3_exec(db->conn, "PRAGMA journal_mode = WAL;"
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
	    NULL, NULL, &err) != SQLITE_OK)
		goto out;
	for (i = 0; i < db_nmigrations; i++) {
		if (sqlite3_prepare_v2(db->conn, "SELECT 1 FROM "
		    "schema_migrations WHERE name = ?", -1, &st, NULL) !=
		    SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, db_migrations[i].name, -1,
		    SQLITE_STATIC);
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		st = NULL;
		if (have)
			continue;
		if (sqlite3_exec(db->conn, "BEGIN IMMEDIATE", NULL, NULL,
		    &err) != SQLITE_OK ||
		    sqlite3_exec(db->conn, db_migrations[i].sql, NULL, NULL,
		    &err) != SQLITE_OK)
			goto out;
		if (db_migrations[i].step != NULL &&
		    db_migrations[i].step(db) == -1) {
			step_failed = 1;
			goto out;
		}
		if (sqlite3_prepare_v2(db->conn, "INSERT INTO "
		    "schema_migrations (name, applied_at) VALUES (?, ?)", -1,
		    &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, db_migrations[i].name, -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_exec(db->conn, "COMMIT", NULL, NULL, &err) !=
		    SQLITE_OK)
			goto out;
		log_json(LOG_INFO, "migration applied", json_pack("{s:s}",
		    "name", db_migrations[i].name));
	}
	rc = 0;
out:
	if (rc == -1)
		log_json(LOG_ERROR, "migration failed", json_pack("{s:s, s:s}",
		    "name", i < db_nmigrations ? db_migrations[i].name : "-",
		    "error", step_failed ? "its C step failed" :
		    err ? err : sqlite3_errmsg(db->conn)));
	sqlite3_free(err);
	sqlite3_finalize(st);
	if (rc == -1 && !sqlite3_get_autocommit(db->conn))
		sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
	db_close(db);
	return rc;
}
