/*
 * The SQLite engine: connections (WAL, synchronous=FULL, foreign keys),
 * the statement cache, transactions, the per-user clock row, migrations,
 * the health probe and the backup.  The store functions of each area are
 * in store_<area>.c beside this file; lib/sqlite/sqlite.h is their
 * shared toolbox.
 *
 * Writers: SQLite has one writer per file.  Threads of one process queue
 * on a mutex before BEGIN IMMEDIATE; processes wait for each other's lock
 * in short sleeps (busy_wait), since SQLite's own busy timeout backs off
 * to 100 ms naps that show as p99 latency.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "sqlite.h"

static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

void
sq_log_error(struct db *db, const char *what)
{
	log_json(LOG_ERROR, "sqlite error", json_pack("{s:s, s:i, s:s}",
	    "what", what, "sqlite_rc", sqlite3_extended_errcode(SQ(db)->conn),
	    "error", sqlite3_errmsg(SQ(db)->conn)));
}

/*
 * A write failed as read-only.  SQLite shares one -shm mapping among all
 * connections of a process, so a mapping made while the file was not
 * writable keeps every connection read-only even after the file is
 * fixed.  When the file can be opened for writing now, the process's
 * connections are stale: the process restarts (db_stale).
 */
static void
readonly_check(struct db *db)
{
	const char	*f = sqlite3_db_filename(SQ(db)->conn, "main");
	int		 fd;

	if (f == NULL || (fd = open(f, O_RDWR | O_CLOEXEC)) == -1)
		return;
	close(fd);
	log_msg(LOG_WARN, "database writable again; restarting to reopen it");
	db_stale();
}

/* An SQLite result code as a db_rc. */
int
sq_rc_of(int rc)
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
 * Wait for another process's write lock in short sleeps, for about 5 s
 * in all.  Threads of one process queue on write_mu instead.
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

static void
slots_free(struct sq *s)
{
	size_t	 i;

	for (i = 0; i < s->nslots; i++)
		sqlite3_finalize(s->slots[i].st);
	free(s->slots);
	s->slots = NULL;
	s->nslots = s->nused = 0;
}

static void
sq_disconnect(struct db *db)
{
	struct sq	*s = SQ(db);

	if (s == NULL)
		return;
	slots_free(s);
	sqlite3_close_v2(s->conn);
	free(s);
}

/*
 * Open a connection to the data directory's database.  A file that
 * cannot be opened or set up now is logged, not fatal: the connection is
 * handed out anyway and its statements fail (503) until the file is
 * usable.  NULL only when out of memory.
 */
static struct db *
sq_connect(void)
{
	static const char *const pragmas =
	    "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA temp_store = MEMORY;";
	struct sq	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->db.store = &sqlite_store;
	if (sqlite3_open_v2(cfg.db_path, &s->conn, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_handler(s->conn, busy_wait, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->conn, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		log_msg(LOG_ERROR, "cannot open %s: %s", cfg.db_path,
		    s->conn != NULL ? sqlite3_errmsg(s->conn) :
		    "out of memory");
		if (s->conn == NULL) {
			free(s);
			return NULL;
		}
	}
	return &s->db;
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
slots_grow(struct sq *s)
{
	struct stmt_slot *old = s->slots, *v;
	size_t		 oldn = s->nslots, i, j;
	size_t		 n = oldn ? oldn * 2 : 64;

	if ((v = calloc(n, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < oldn; i++) {
		if (old[i].sql == NULL)
			continue;
		for (j = slot_hash(old[i].sql, n); v[j].sql != NULL;
		    j = (j + 1) & (n - 1))
			;
		v[j] = old[i];
	}
	free(old);
	s->slots = v;
	s->nslots = n;
	return 0;
}

/*
 * A prepared statement for sql, reset and with its bindings cleared.  sql
 * must be a string literal: the statement is prepared once per
 * connection and cached under its address, so each store file keeps its
 * SQL next to its code.  Returns NULL on error (logged).
 */
sqlite3_stmt *
sq_prepare(struct db *db, const char *sql)
{
	struct sq	*s = SQ(db);
	sqlite3_stmt	*st;
	size_t		 i;

	if (s->nused * 2 >= s->nslots && slots_grow(s) == -1)
		return NULL;
	for (i = slot_hash(sql, s->nslots); s->slots[i].sql != NULL;
	    i = (i + 1) & (s->nslots - 1))
		if (s->slots[i].sql == sql) {
			st = s->slots[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	if (sqlite3_prepare_v3(s->conn, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &st, NULL) != SQLITE_OK) {
		sq_log_error(db, "prepare");
		return NULL;
	}
	s->slots[i].sql = sql;
	s->slots[i].st = st;
	s->nused++;
	return st;
}

/*
 * Step once: DB_OK with *row 1 when a row is ready to read, DB_OK with
 * *row 0 when the statement is done (and reset), else the error (logged,
 * and the statement reset).
 */
int
sq_next(struct db *db, sqlite3_stmt *st, int *row)
{
	int	 rc;

	*row = 0;
	if (st == NULL)
		return DB_ERROR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*row = 1;
		return DB_OK;
	}
	if (rc != SQLITE_DONE) {
		if ((rc & 0xff) != SQLITE_CONSTRAINT)
			sq_log_error(db, sqlite3_sql(st));
		if ((rc & 0xff) == SQLITE_READONLY)
			readonly_check(db);
	}
	sqlite3_reset(st);
	return sq_rc_of(rc);
}

/*
 * Step a statement that returns at most one row: DB_OK with the row ready
 * to read (the caller resets), DB_NOTFOUND when there is none, else the
 * error.
 */
int
sq_one(struct db *db, sqlite3_stmt *st)
{
	int	 row, rc = sq_next(db, st, &row);

	if (rc != DB_OK)
		return rc;
	return row ? DB_OK : DB_NOTFOUND;
}

/* Run a statement to its end (resetting it).  Returns a db_rc. */
int
sq_exec(struct db *db, sqlite3_stmt *st)
{
	int	 row, rc;

	while ((rc = sq_next(db, st, &row)) == DB_OK && row)
		;
	return rc;
}

/* Run a write that must change exactly one row; none is DB_NOTFOUND. */
int
sq_exec_one(struct db *db, sqlite3_stmt *st)
{
	int	 rc;

	if ((rc = sq_exec(db, st)) != DB_OK)
		return rc;
	return sq_changes(db) >= 1 ? DB_OK : DB_NOTFOUND;
}

/* A query of one integer (a count): into *out.  Returns a db_rc. */
int
sq_int(struct db *db, sqlite3_stmt *st, int64_t *out)
{
	int	 rc;

	*out = 0;
	if ((rc = sq_one(db, st)) == DB_OK)
		*out = sqlite3_column_int64(st, 0);
	if (st != NULL)
		sqlite3_reset(st);
	return rc == DB_NOTFOUND ? DB_OK : rc;
}

/* An iteration callback's result as the iteration's: DB_ROLLBACK stops. */
int
sq_iter_rc(int cb_rc)
{
	return cb_rc == DB_ROLLBACK ? DB_OK : cb_rc;
}

void
sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* ?1 user_id, ?2 a, ?3 b: the key of most of a user's rows. */
void
sq_bind_key(sqlite3_stmt *st, int64_t user_id, const char *a, const char *b)
{
	sqlite3_bind_int64(st, 1, user_id);
	sq_bind_text(st, 2, a);
	sq_bind_text(st, 3, b);
}

/* A time column, NULL as 0. */
int64_t
sq_col_time(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(st, i);
}

/* A time, 0 as NULL. */
void
sq_bind_time(sqlite3_stmt *st, int i, int64_t t)
{
	if (t == 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, t);
}

/* A text column into a fixed buffer ("" for NULL; cut to fit). */
void
sq_col_copy(char *dst, size_t n, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, n, "%s", s != NULL ? (const char *)s : "");
}

/* A text column as a new string (free it), or NULL. */
char *
sq_col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

int64_t
sq_changes(struct db *db)
{
	return sqlite3_changes64(SQ(db)->conn);
}

int64_t
sq_last_id(struct db *db)
{
	return sqlite3_last_insert_rowid(SQ(db)->conn);
}

static void
write_unlock(struct sq *s)
{
	if (s->write_locked) {
		s->write_locked = 0;
		pthread_mutex_unlock(&write_mu);
	}
}

/*
 * Begin a transaction: a write takes the process's writer mutex, then
 * BEGIN IMMEDIATE (the file's write lock, waited for in busy_wait); a
 * read is BEGIN DEFERRED, one snapshot that blocks no writer (WAL).
 */
static int
sq_begin(struct db *db, int mode)
{
	struct sq	*s = SQ(db);
	int		 rc;

	if (mode == DB_TX_READ)
		return sq_exec(db, sq_prepare(db, "BEGIN DEFERRED"));
	pthread_mutex_lock(&write_mu);
	s->write_locked = 1;
	rc = sq_exec(db, sq_prepare(db, "BEGIN IMMEDIATE"));
	if (rc != DB_OK) {
		if ((sqlite3_extended_errcode(s->conn) & 0xff) ==
		    SQLITE_READONLY)
			readonly_check(db);
		write_unlock(s);
	}
	return rc;
}

static int
sq_commit(struct db *db)
{
	int	 rc = sq_exec(db, sq_prepare(db, "COMMIT"));

	if (rc == DB_OK)
		write_unlock(SQ(db));
	return rc;
}

/* Roll back whatever is open; statements left mid-step are reset. */
static void
sq_rollback(struct db *db)
{
	struct sq	*s = SQ(db);
	sqlite3_stmt	*st = NULL;

	while ((st = sqlite3_next_stmt(s->conn, st)) != NULL)
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
	if (!sqlite3_get_autocommit(s->conn))
		sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
	write_unlock(s);
}

/* Group commit: each write of a batch in a savepoint of its own. */
static int
sq_savepoint(struct db *db)
{
	return sq_exec(db, sq_prepare(db, "SAVEPOINT w"));
}

static int
sq_release(struct db *db)
{
	return sq_exec(db, sq_prepare(db, "RELEASE w"));
}

/* Undo the write's savepoint; statements it left mid-step are reset. */
static void
sq_rollback_to(struct db *db)
{
	struct sq	*s = SQ(db);
	sqlite3_stmt	*st = NULL;

	while ((st = sqlite3_next_stmt(s->conn, st)) != NULL)
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
	sqlite3_exec(s->conn, "ROLLBACK TO w; RELEASE w", NULL, NULL, NULL);
}

/* The user's clock row (users.clock_us), inside the write transaction. */
static int
sq_clock_read(struct db *db, int64_t user_id, int64_t *last)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = sq_prepare(db, "SELECT clock_us FROM users WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	if ((rc = sq_one(db, st)) == DB_OK)
		*last = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}

static int
sq_clock_write(struct db *db, int64_t user_id, int64_t last)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE users SET clock_us = ?2 WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_int64(st, 2, last);
	return sq_exec_one(db, st);
}

/* A cheap read that fails when the database is unusable.  db_rc. */
static int
sq_health(struct db *db)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = sq_prepare(db, "SELECT 1 FROM schema_migrations LIMIT 1")) ==
	    NULL)
		return DB_ERROR;
	rc = sq_one(db, st);
	sqlite3_reset(st);
	return rc == DB_OK ? DB_OK : DB_ERROR;
}

/* One host: the sweeper always runs. */
static int
sq_sweep_lock(struct db *db)
{
	(void)db;
	return DB_OK;
}

/* Is migration `name` one this binary knows? */
static int
migration_known(const char *name)
{
	size_t	 i;

	for (i = 0; i < sqlite_nmigrations; i++)
		if (strcmp(sqlite_migrations[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * Refuse a database whose schema is newer than this binary: one that
 * lists a migration it does not know.  Returns 0, or -1 (logged).
 */
static int
schema_not_newer(struct sq *s)
{
	sqlite3_stmt	*st = NULL;
	int		 rc = 0;

	if (sqlite3_prepare_v2(s->conn, "SELECT name FROM schema_migrations "
	    "ORDER BY name", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (!migration_known((const char *)sqlite3_column_text(st,
		    0))) {
			log_json(LOG_ERROR, "the database's schema is newer "
			    "than this tandemd: upgrade tandemd, or restore a "
			    "backup made for this version",
			    json_pack("{s:s, s:s}", "database", cfg.db_path,
			    "unknown_migration",
			    (const char *)sqlite3_column_text(st, 0)));
			rc = -1;
			break;
		}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Apply the migrations built into the binary (the files of migrations/sqlite/,
 * in name order) that schema_migrations does not list yet, each in its
 * own transaction with its C step, if it names one, run after its SQL.
 * A database that lists a migration this binary does not know is newer
 * than it and is refused.  Run by the master before any worker starts.
 * Returns 0 or -1.
 */
static int
sq_migrate(void)
{
	struct db	*db;
	struct sq	*s;
	sqlite3_stmt	*st = NULL;
	char		*err = NULL;
	size_t		 i = 0;
	int		 rc = -1, have, step_failed = 0;

	if ((db = sq_connect()) == NULL)
		return -1;
	s = SQ(db);
	if (sqlite3_exec(s->conn, "PRAGMA journal_mode = WAL;"
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
	    NULL, NULL, &err) != SQLITE_OK)
		goto out;
	if (schema_not_newer(s) == -1) {
		i = sqlite_nmigrations;
		goto refused;
	}
	for (i = 0; i < sqlite_nmigrations; i++) {
		if (sqlite3_prepare_v2(s->conn, "SELECT 1 FROM "
		    "schema_migrations WHERE name = ?", -1, &st, NULL) !=
		    SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, sqlite_migrations[i].name, -1,
		    SQLITE_STATIC);
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		st = NULL;
		if (have)
			continue;
		if (sqlite3_exec(s->conn, "BEGIN IMMEDIATE", NULL, NULL,
		    &err) != SQLITE_OK ||
		    sqlite3_exec(s->conn, sqlite_migrations[i].sql, NULL, NULL,
		    &err) != SQLITE_OK)
			goto out;
		if (sqlite_migrations[i].step != NULL &&
		    sqlite_migrations[i].step(db) == -1) {
			step_failed = 1;
			goto out;
		}
		if (sqlite3_prepare_v2(s->conn, "INSERT INTO "
		    "schema_migrations (name, applied_at) VALUES (?, ?)", -1,
		    &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, sqlite_migrations[i].name, -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_exec(s->conn, "COMMIT", NULL, NULL, &err) !=
		    SQLITE_OK)
			goto out;
		log_json(LOG_INFO, "migration applied", json_pack("{s:s}",
		    "name", sqlite_migrations[i].name));
	}
	rc = 0;
out:
	if (rc == -1)
		log_json(LOG_ERROR, "migration failed", json_pack("{s:s, s:s}",
		    "name", i < sqlite_nmigrations ?
		    sqlite_migrations[i].name : "-",
		    "error", step_failed ? "its C step failed" :
		    err ? err : sqlite3_errmsg(s->conn)));
refused:
	sqlite3_free(err);
	sqlite3_finalize(st);
	if (rc == -1 && !sqlite3_get_autocommit(s->conn))
		sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
	sq_disconnect(db);
	return rc;
}

/*
 * tandemd backup FILE: a consistent copy of the live database (VACUUM
 * INTO reads one snapshot, writers go on), fsynced.  Refuses a database
 * that does not exist or is not tandem's, and an existing FILE.  Returns
 * 0, or -1 after saying why on stderr.
 */
static int
sq_backup(const char *to)
{
	sqlite3		*conn = NULL;
	sqlite3_stmt	*st = NULL;
	int		 rc = -1, fd;

	if (access(to, F_OK) == 0) {
		fprintf(stderr, "tandemd: %s exists\n", to);
		return -1;
	}
	if (sqlite3_open_v2(cfg.db_path, &conn, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "tandemd: cannot open %s: %s\n", cfg.db_path,
		    conn ? sqlite3_errmsg(conn) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(conn, 5000);
	if (sqlite3_prepare_v2(conn, "SELECT count(*) FROM schema_migrations",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		fprintf(stderr, "tandemd: %s is not a tandem database: %s\n",
		    cfg.db_path, sqlite3_errmsg(conn));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(conn, "VACUUM INTO ?", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fprintf(stderr, "tandemd: backup: %s\n", sqlite3_errmsg(conn));
		goto out;
	}
	if ((fd = open(to, O_RDONLY)) == -1 || fsync(fd) == -1) {
		fprintf(stderr, "tandemd: backup: fsync %s: %s\n", to,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	close(fd);
	printf("backed up %s to %s\n", cfg.db_path, to);
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(conn);
	return rc;
}

/* The store functions of each area (store_<area>.c). */
#include "store_fns.h"

const struct store sqlite_store = {
	.name = "sqlite",
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.clock_read = sq_clock_read,
	.clock_write = sq_clock_write,
	.migrate = sq_migrate,
	.health = sq_health,
	.backup = sq_backup,
	.sweep_lock = sq_sweep_lock,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.rollback_to = sq_rollback_to,
	SQ_STORE_AUTH,
	SQ_STORE_SESSIONS,
	SQ_STORE_SYNC,
	SQ_STORE_EVENTS,
	SQ_STORE_SERVICE,
	SQ_STORE_ADMIN,
	SQ_STORE_LINKS,
};
