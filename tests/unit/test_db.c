/*
 * Unit tests of lib/db, the engine-neutral layer, on the SQLite engine in
 * a temporary directory: migrations (idempotent; a newer schema refused),
 * the engine's statement cache, db_tx (commit, rollback on an error and
 * on DB_ROLLBACK, retry on DB_RETRY, deferred writes, doorbells only
 * after the commit, the write deadline), db_read's one snapshot, the
 * per-user clock (strictly increasing within a user across processes and
 * past a wall clock that steps back, users independent, read and written
 * back once per operation), and the pool.
 *
 * Some cases wrap the engine: a copy of struct store with a function
 * replaced counts calls or injects a result, set as one connection's
 * db->store, so lib/db is seen from the engine's side of the interface.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "unit_db.h"

static char dir[] = "/tmp/tandem-unit-db.XXXXXX";
static struct db *db;

#define U1	1
#define U2	2

static int
setup(void **state)
{
	(void)state;
	if (unit_setup(dir) == -1)
		return -1;
	db = unit_db_fresh(dir, "t.db");
	unit_user(db, U1);
	unit_user(db, U2);
	unit_exec(db, "CREATE TABLE probe (n INTEGER)");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	db_close(db);
	return unit_teardown(dir);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int64_t
probes(void)
{
	return unit_int(db, "SELECT count(*) FROM probe");
}

static void
test_migrate_idempotent(void **state)
{
	size_t	 i;

	(void)state;
	/* again: nothing to do, nothing applied twice */
	assert_int_equal(db_migrate(), 0);
	assert_int_equal(db_migrate(), 0);
	assert_int_equal(unit_int(db, "SELECT count(*) FROM "
	    "schema_migrations"), (int64_t)sqlite_nmigrations);
	for (i = 0; i < sqlite_nmigrations; i++)
		assert_int_equal(unit_int(db, "SELECT count(*) FROM "
		    "schema_migrations WHERE name = '%s'",
		    sqlite_migrations[i].name), 1);
	/* the migrations are in name order, and none is empty */
	for (i = 1; i < sqlite_nmigrations; i++)
		assert_true(strcmp(sqlite_migrations[i - 1].name,
		    sqlite_migrations[i].name) < 0);
	assert_int_equal(unit_int(db, "SELECT journal_mode = 'wal' FROM "
	    "pragma_journal_mode()"), 1);
	assert_int_equal(db_health(db), DB_OK);
	assert_int_equal(db_health(NULL), DB_ERROR);
	assert_true(unit_int(db, "SELECT page_count * page_size FROM "
	    "pragma_page_count(), pragma_page_size()") > 0);
	assert_string_equal(db_engine_name(), "sqlite");
	assert_int_equal(db_engine_select(NULL), 0);
	assert_int_equal(db_engine_select(""), 0);
	assert_ptr_equal(db_engine(), &sqlite_store);
}

/* A database listing a migration this binary does not know is newer. */
static void
test_migrate_refuses_newer(void **state)
{
	(void)state;
	unit_exec(db, "INSERT INTO schema_migrations (name, applied_at) "
	    "VALUES ('9999_from_the_future', 0)");
	assert_int_equal(db_migrate(), -1);
	/* refused, not half-applied: the rows are as they were */
	assert_int_equal(unit_int(db, "SELECT count(*) FROM "
	    "schema_migrations"), (int64_t)sqlite_nmigrations + 1);
	/* once that row is gone, the database is this binary's again */
	unit_exec(db, "DELETE FROM schema_migrations WHERE "
	    "name = '9999_from_the_future'");
	assert_int_equal(db_migrate(), 0);
}

/* The engine prepares a statement once per connection, by its address. */
static void
test_stmt_cache(void **state)
{
	static const char q1[] = "SELECT 1";
	static const char q2[] = "SELECT 2";
	sqlite3_stmt	*a, *b;
	char		*sqls[200];
	int		 i;

	(void)state;
	a = sq_prepare(db, q1);
	assert_non_null(a);
	b = sq_prepare(db, q1);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(sq_prepare(db, q2), a);
	/* a bad statement is NULL (and logged), not a crash */
	assert_null(sq_prepare(db, "SELEC nonsense"));
	for (i = 0; i < 200; i++) {
		/* the cache grows past its first size */
		sqls[i] = sqlite3_mprintf("SELECT %d", i);
		assert_non_null(sq_prepare(db, sqls[i]));
	}
	assert_ptr_equal(sq_prepare(db, q1), a);
	for (i = 0; i < 200; i++)
		assert_non_null(sq_prepare(db, sqls[i]));
	/* the keys must outlive the cache: a connection of its own */
	for (i = 0; i < 200; i++)
		sqlite3_free(sqls[i]);
	db_close(db);
	db = db_open();
	assert_non_null(db);
}

/* What a transaction body does, and what it saw. */
struct body {
	int	 calls;
	int	 retries;	/* return DB_RETRY this many times first */
	int	 result;	/* then this */
	int	 expired_before;
	int	 expired_after;
	long	 sleep_ms;
};

/* Write one probe row, then answer as told. */
static int
body_tx(struct db *d, void *arg)
{
	struct body	*b = arg;

	b->calls++;
	unit_exec(d, "INSERT INTO probe (n) VALUES (1)");
	assert_int_equal(d->tx.active, DB_TX_WRITE);
	if (b->calls <= b->retries)
		return DB_RETRY;
	b->expired_before = db_tx_expired(d);
	if (b->sleep_ms > 0)
		sleep_ms(b->sleep_ms);
	b->expired_after = db_tx_expired(d);
	return b->result;
}

static void
test_tx_commit_rollback(void **state)
{
	struct body	 b;
	int64_t		 n0 = probes();

	(void)state;
	memset(&b, 0, sizeof(b));
	b.result = DB_OK;
	assert_int_equal(db_tx(db, body_tx, &b), DB_OK);
	assert_int_equal(b.calls, 1);
	assert_int_equal(probes(), n0 + 1);
	assert_int_equal(db->tx.active, 0);
	/* an error: rolled back, and the error is the answer */
	memset(&b, 0, sizeof(b));
	b.result = DB_CONSTRAINT;
	assert_int_equal(db_tx(db, body_tx, &b), DB_CONSTRAINT);
	assert_int_equal(probes(), n0 + 1);
	b.calls = 0;
	b.result = DB_ERROR;
	assert_int_equal(db_tx(db, body_tx, &b), DB_ERROR);
	assert_int_equal(b.calls, 1);
	assert_int_equal(probes(), n0 + 1);
	/* fn's choice to write nothing */
	b.calls = 0;
	b.result = DB_ROLLBACK;
	assert_int_equal(db_tx(db, body_tx, &b), DB_ROLLBACK);
	assert_int_equal(b.calls, 1);
	assert_int_equal(probes(), n0 + 1);
	assert_int_equal(db->tx.active, 0);
	assert_true(sqlite3_get_autocommit(SQ(db)->conn));
	/* and the write lock was given back each time */
	b.calls = 0;
	b.result = DB_OK;
	assert_int_equal(db_tx(db, body_tx, &b), DB_OK);
	assert_int_equal(probes(), n0 + 2);
}

static void	wrap(void);
static void	unwrap(void);

/*
 * An engine that may ask for a retry (PostgreSQL's serialization
 * failures) runs each write as a transaction of its own: the wrapped
 * engine below has no group commit.
 */
static void
test_tx_retry(void **state)
{
	struct body	 b;
	int64_t		 n0 = probes();

	(void)state;
	wrap();
	/* the engine asks once: fn runs again from the start; only the
	 * second run's write is kept */
	memset(&b, 0, sizeof(b));
	b.retries = 1;
	b.result = DB_OK;
	assert_int_equal(db_tx(db, body_tx, &b), DB_OK);
	assert_int_equal(b.calls, 2);
	assert_int_equal(probes(), n0 + 1);
	/* it keeps asking: a few attempts, then busy, nothing written */
	memset(&b, 0, sizeof(b));
	b.retries = 1000;
	assert_int_equal(db_tx(db, body_tx, &b), DB_BUSY);
	assert_true(b.calls > 1);
	assert_true(b.calls < 100);
	assert_int_equal(probes(), n0 + 1);
	assert_int_equal(db->tx.active, 0);
	unwrap();
}

/* An engine whose BEGIN asks for a retry the first `begin_retries` times. */
static struct store wrapped;
static int begin_retries, begins, clock_reads, clock_writes, notifies;
static int64_t notified[DB_MAX_RING];
static int notified_n, notified_all;

static int
wrap_begin(struct db *d, int mode)
{
	begins++;
	if (begin_retries > 0) {
		begin_retries--;
		return DB_RETRY;
	}
	return sqlite_store.begin(d, mode);
}

static int
wrap_clock_read(struct db *d, int64_t user_id, int64_t *last)
{
	clock_reads++;
	return sqlite_store.clock_read(d, user_id, last);
}

static int
wrap_clock_write(struct db *d, int64_t user_id, int64_t last)
{
	clock_writes++;
	return sqlite_store.clock_write(d, user_id, last);
}

static void
wrap_notify(struct db *d, const int64_t *users, int n, int all)
{
	(void)d;
	notifies++;
	notified_n = n;
	notified_all = all;
	memcpy(notified, users, (size_t)n * sizeof(*users));
}

static void
wrap(void)
{
	wrapped = sqlite_store;
	wrapped.begin = wrap_begin;
	wrapped.clock_read = wrap_clock_read;
	wrapped.clock_write = wrap_clock_write;
	wrapped.notify = wrap_notify;
	wrapped.savepoint = NULL;	/* a transaction per write */
	wrapped.release = NULL;
	wrapped.rollback_to = NULL;
	begin_retries = begins = clock_reads = clock_writes = notifies = 0;
	notified_n = notified_all = 0;
	db->store = &wrapped;
}

static void
unwrap(void)
{
	db->store = &sqlite_store;
}

static void
test_tx_begin_retry(void **state)
{
	struct body	 b;
	int64_t		 n0 = probes();

	(void)state;
	wrap();
	begin_retries = 2;
	memset(&b, 0, sizeof(b));
	b.result = DB_OK;
	assert_int_equal(db_tx(db, body_tx, &b), DB_OK);
	assert_int_equal(begins, 3);
	assert_int_equal(b.calls, 1);
	assert_int_equal(probes(), n0 + 1);
	unwrap();
}

/* Ring users, then answer result. */
struct ring_op {
	int	 n;		/* ring users 1..n */
	int	 twice;		/* each twice */
	int	 result;
};

static int
ring_tx(struct db *d, void *arg)
{
	struct ring_op	*r = arg;
	int		 i;

	for (i = 1; i <= r->n; i++) {
		db_ring_user(d, i);
		if (r->twice)
			db_ring_user(d, i);
	}
	return r->result;
}

/* The doorbells ring after the commit only, each user once. */
static void
test_tx_rings(void **state)
{
	struct ring_op	 r = { 3, 1, DB_OK };

	(void)state;
	wrap();
	assert_int_equal(db_tx(db, ring_tx, &r), DB_OK);
	assert_int_equal(notifies, 1);
	assert_int_equal(notified_n, 3);
	assert_false(notified_all);
	assert_int_equal(notified[0], 1);
	assert_int_equal(notified[2], 3);
	assert_int_equal(db->tx.nring, 0);
	/* rolled back: nobody is woken */
	notifies = 0;
	r.result = DB_ROLLBACK;
	assert_int_equal(db_tx(db, ring_tx, &r), DB_ROLLBACK);
	r.result = DB_ERROR;
	assert_int_equal(db_tx(db, ring_tx, &r), DB_ERROR);
	assert_int_equal(notifies, 0);
	/* nobody to wake: no notify at all */
	r.n = 0;
	r.result = DB_OK;
	assert_int_equal(db_tx(db, ring_tx, &r), DB_OK);
	assert_int_equal(notifies, 0);
	/* more users than the ring holds: every bucket */
	r.n = DB_MAX_RING + 5;
	r.twice = 0;
	assert_int_equal(db_tx(db, ring_tx, &r), DB_OK);
	assert_int_equal(notifies, 1);
	assert_true(notified_all);
	assert_int_equal(db->tx.ring_all, 0);
	unwrap();
}

/* A deferred write: flush writes a probe row unless told to fail. */
struct deferred {
	int	 flushes;
	int	 frees;
	int	 flush_rc;
	int	 result;
	int	 found;
};

static int
deferred_flush(struct db *d, void *arg)
{
	struct deferred	*x = arg;

	x->flushes++;
	unit_exec(d, "INSERT INTO probe (n) VALUES (2)");
	return x->flush_rc;
}

static int
other_flush(struct db *d, void *arg)
{
	(void)d;
	(void)arg;
	return DB_ERROR;
}

static void
deferred_free(void *arg)
{
	((struct deferred *)arg)->frees++;
}

static int
defer_tx(struct db *d, void *arg)
{
	struct deferred	*x = arg;

	unit_exec(d, "INSERT INTO probe (n) VALUES (1)");
	assert_null(db_deferred(d, deferred_flush));
	db_defer(d, deferred_flush, deferred_free, x);
	x->found = db_deferred(d, deferred_flush) == x &&
	    db_deferred(d, other_flush) == NULL;
	return x->result;
}

static void
test_tx_defer(void **state)
{
	struct deferred	 x;
	int64_t		 n0 = probes();

	(void)state;
	/* flushed at the end of fn, before the commit; freed after */
	memset(&x, 0, sizeof(x));
	x.flush_rc = DB_OK;
	x.result = DB_OK;
	assert_int_equal(db_tx(db, defer_tx, &x), DB_OK);
	assert_true(x.found);
	assert_int_equal(x.flushes, 1);
	assert_int_equal(x.frees, 1);
	assert_int_equal(probes(), n0 + 2);
	assert_null(db->tx.defer_flush);
	/* rolled back by fn: never flushed, still freed */
	memset(&x, 0, sizeof(x));
	x.result = DB_ROLLBACK;
	assert_int_equal(db_tx(db, defer_tx, &x), DB_ROLLBACK);
	assert_int_equal(x.flushes, 0);
	assert_int_equal(x.frees, 1);
	assert_int_equal(probes(), n0 + 2);
	/* the flush fails: the whole transaction is rolled back */
	memset(&x, 0, sizeof(x));
	x.flush_rc = DB_CONSTRAINT;
	x.result = DB_OK;
	assert_int_equal(db_tx(db, defer_tx, &x), DB_CONSTRAINT);
	assert_int_equal(x.flushes, 1);
	assert_int_equal(x.frees, 1);
	assert_int_equal(probes(), n0 + 2);
}

/* TANDEM_MAX_WRITE_MS: a transaction past it writes nothing. */
static void
test_tx_expired(void **state)
{
	struct body	 b;
	int64_t		 n0 = probes(), saved = cfg.max_write_ms;

	(void)state;
	assert_false(db_tx_expired(db));	/* no transaction */
	/* within it: not expired, committed */
	memset(&b, 0, sizeof(b));
	b.result = DB_OK;
	b.sleep_ms = 5;
	assert_int_equal(db_tx(db, body_tx, &b), DB_OK);
	assert_false(b.expired_before);
	assert_false(b.expired_after);
	assert_int_equal(probes(), n0 + 1);
	/* the smallest TANDEM_MAX_WRITE_MS, and a body that takes longer */
	cfg.max_write_ms = 10;
	memset(&b, 0, sizeof(b));
	b.result = DB_OK;
	b.sleep_ms = 30;
	assert_int_equal(db_tx(db, body_tx, &b), DB_TIMEOUT);
	assert_true(b.expired_after);
	assert_int_equal(probes(), n0 + 1);
	assert_false(db_tx_expired(db));
	cfg.max_write_ms = saved;
}

/* A read: count the probes twice with a commit from elsewhere between. */
struct snap {
	struct db	*other;
	int64_t		 first;
	int64_t		 second;
	int		 active;
	int		 result;
	int		 clock_rc;
	int		 expired;
};

static int
insert_tx(struct db *d, void *arg)
{
	(void)arg;
	unit_exec(d, "INSERT INTO probe (n) VALUES (3)");
	return DB_OK;
}

static int
snap_read(struct db *d, void *arg)
{
	struct snap	*s = arg;
	int64_t		 v;

	s->active = d->tx.active;
	s->first = unit_int(d, "SELECT count(*) FROM probe");
	/* a writer commits meanwhile: the snapshot does not move */
	assert_int_equal(db_tx(s->other, insert_tx, NULL), DB_OK);
	s->second = unit_int(d, "SELECT count(*) FROM probe");
	s->clock_rc = db_clock_next(d, U1, &v);
	s->expired = db_tx_expired(d);
	return s->result;
}

static void
test_read_snapshot(void **state)
{
	struct snap	 s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.other = db_open();
	assert_non_null(s.other);
	s.result = DB_OK;
	assert_int_equal(db_read(db, snap_read, &s), DB_OK);
	assert_int_equal(s.active, DB_TX_READ);
	assert_int_equal(s.second, s.first);
	assert_int_equal(probes(), s.first + 1);
	assert_int_equal(db->tx.active, 0);
	assert_true(sqlite3_get_autocommit(SQ(db)->conn));
	/* fn's own result comes back as it is */
	s.result = DB_NOTFOUND;
	assert_int_equal(db_read(db, snap_read, &s), DB_NOTFOUND);
	/* a read is no write: no clock, never past the write deadline */
	assert_int_equal(s.clock_rc, DB_ERROR);
	assert_false(s.expired);
	db_close(s.other);
}

/* Take n values of user's clock in one operation. */
struct clock_op {
	int64_t	 users[8];
	int	 nusers;
	int	 each;
	int	 result;
	int64_t	 v[8][16];
};

static int
clock_tx(struct db *d, void *arg)
{
	struct clock_op	*c = arg;
	int		 i, u, rc;

	for (i = 0; i < c->each; i++)
		for (u = 0; u < c->nusers; u++)
			if ((rc = db_clock_next(d, c->users[u],
			    &c->v[u][i])) != DB_OK)
				return rc;
	return c->result;
}

static int64_t
clock_one(struct db *d, int64_t user)
{
	struct clock_op	 c;

	memset(&c, 0, sizeof(c));
	c.users[0] = user;
	c.nusers = 1;
	c.each = 1;
	assert_int_equal(db_tx(d, clock_tx, &c), DB_OK);
	return c.v[0][0];
}

static void
test_clock_monotonic(void **state)
{
	int64_t	 prev = 0, v = 0;
	int	 i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		v = clock_one(db, U1);
		assert_true(v > prev);
		prev = v;
	}
	/* microseconds since the epoch */
	assert_true(v > now_us() - 60 * 1000000LL && v <= now_us() + 1000);
	assert_int_equal(unit_int(db, "SELECT clock_us FROM users WHERE "
	    "id = %d", U1), v);
	/* outside a transaction there is no clock */
	assert_int_equal(db_clock_next(db, U1, &v), DB_ERROR);
}

static void
test_clock_steps_back(void **state)
{
	struct clock_op	 c;
	int64_t		 ahead = now_us() + 3600LL * 1000000;

	(void)state;
	/* The wall clock "stepped back" an hour: the stored value is
	 * ahead. */
	unit_execf(db, "UPDATE users SET clock_us = %lld WHERE id = %d",
	    (long long)ahead, U1);
	memset(&c, 0, sizeof(c));
	c.users[0] = U1;
	c.nusers = 1;
	c.each = 2;
	assert_int_equal(db_tx(db, clock_tx, &c), DB_OK);
	assert_int_equal(c.v[0][0], ahead + 1);
	assert_int_equal(c.v[0][1], ahead + 2);
	/* A rolled-back operation hands nothing out. */
	c.each = 1;
	c.result = DB_ROLLBACK;
	assert_int_equal(db_tx(db, clock_tx, &c), DB_ROLLBACK);
	assert_int_equal(clock_one(db, U1), ahead + 3);
	assert_int_equal(unit_int(db, "SELECT clock_us FROM users WHERE "
	    "id = %d", U1), ahead + 3);
	/* Another user's clock is its own: not pulled ahead. */
	assert_true(clock_one(db, U2) < ahead);
	assert_int_equal(clock_one(db, U1), ahead + 4);
}

/* Users are independent, also more of them in one operation than the
 * operation keeps clocks for (DB_MAX_CLOCKS). */
static void
test_clock_users(void **state)
{
	struct clock_op	 c;
	int64_t		 ahead = now_us() + 7200LL * 1000000, id;
	int		 i, u;

	(void)state;
	for (id = 10; id < 16; id++)
		unit_user(db, id);
	unit_execf(db, "UPDATE users SET clock_us = %lld WHERE id = 10",
	    (long long)ahead);
	memset(&c, 0, sizeof(c));
	for (u = 0; u < 6; u++)
		c.users[u] = 10 + u;
	c.nusers = 6;
	c.each = 5;
	assert_true(c.nusers > DB_MAX_CLOCKS);
	assert_int_equal(db_tx(db, clock_tx, &c), DB_OK);
	for (u = 0; u < c.nusers; u++) {
		for (i = 1; i < c.each; i++)
			assert_true(c.v[u][i] > c.v[u][i - 1]);
		/* each user's clock ends where its last value was */
		assert_int_equal(unit_int(db, "SELECT clock_us FROM users "
		    "WHERE id = %lld", (long long)c.users[u]),
		    c.v[u][c.each - 1]);
	}
	assert_int_equal(c.v[0][0], ahead + 1);
	assert_int_equal(c.v[0][4], ahead + 5);
	for (u = 1; u < c.nusers; u++)
		assert_true(c.v[u][4] < ahead);
}

/* Read once when the operation first asks, written back once at its end. */
static void
test_clock_written_once(void **state)
{
	struct clock_op	 c;

	(void)state;
	wrap();
	memset(&c, 0, sizeof(c));
	c.users[0] = U1;
	c.nusers = 1;
	c.each = 16;
	assert_int_equal(db_tx(db, clock_tx, &c), DB_OK);
	assert_int_equal(clock_reads, 1);
	assert_int_equal(clock_writes, 1);
	assert_int_equal(unit_int(db, "SELECT clock_us FROM users WHERE "
	    "id = %d", U1), c.v[0][15]);
	/* two users: once each */
	clock_reads = clock_writes = 0;
	c.users[1] = U2;
	c.nusers = 2;
	c.each = 4;
	assert_int_equal(db_tx(db, clock_tx, &c), DB_OK);
	assert_int_equal(clock_reads, 2);
	assert_int_equal(clock_writes, 2);
	/* rolled back: never written */
	clock_reads = clock_writes = 0;
	c.result = DB_ROLLBACK;
	assert_int_equal(db_tx(db, clock_tx, &c), DB_ROLLBACK);
	assert_int_equal(clock_reads, 2);
	assert_int_equal(clock_writes, 0);
	/* an operation that takes no value touches no clock */
	clock_reads = clock_writes = 0;
	c.nusers = 0;
	c.result = DB_OK;
	assert_int_equal(db_tx(db, clock_tx, &c), DB_OK);
	assert_int_equal(clock_reads + clock_writes, 0);
	unwrap();
}

/*
 * Four processes take 300 values each of one user's clock, each in its
 * own operation.  Every value is unique, each process sees its own
 * strictly increasing, and the row holds the greatest.
 */
static void
test_clock_across_processes(void **state)
{
	enum { NPROC = 4, EACH = 300 };
	int		 fds[NPROC][2], p, i, j, status;
	pid_t		 pids[NPROC];
	int64_t		*all, v, max = 0;
	size_t		 n = 0;

	(void)state;
	all = calloc(NPROC * EACH, sizeof(*all));
	assert_non_null(all);
	/* no connection is carried across fork() */
	db_close(db);
	db = NULL;
	for (p = 0; p < NPROC; p++) {
		assert_int_equal(pipe(fds[p]), 0);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct clock_op c;
			struct db *mine = db_open();
			int64_t prev = 0;

			close(fds[p][0]);
			if (mine == NULL)
				_exit(1);
			memset(&c, 0, sizeof(c));
			c.users[0] = U1;
			c.nusers = 1;
			c.each = 1;
			for (i = 0; i < EACH; i++) {
				if (db_tx(mine, clock_tx, &c) != DB_OK ||
				    c.v[0][0] <= prev)
					_exit(1);
				prev = c.v[0][0];
				if (write(fds[p][1], &prev, sizeof(prev)) !=
				    sizeof(prev))
					_exit(1);
			}
			db_close(mine);
			_exit(0);
		}
		close(fds[p][1]);
	}
	for (p = 0; p < NPROC; p++) {
		while (read(fds[p][0], &v, sizeof(v)) == sizeof(v)) {
			all[n++] = v;
			if (v > max)
				max = v;
		}
		close(fds[p][0]);
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_non_null(db = db_open());
	assert_int_equal(n, NPROC * EACH);
	for (i = 0; i < (int)n; i++)
		for (j = i + 1; j < (int)n; j++)
			assert_true(all[i] != all[j]);
	assert_int_equal(unit_int(db, "SELECT clock_us FROM users WHERE "
	    "id = %d", U1), max);
	free(all);
}

struct waiter {
	struct db	*got;
	int		 done;
	pthread_mutex_t	 mu;
};

static void *
acquire_thread(void *arg)
{
	struct waiter	*w = arg;
	struct db	*d = db_acquire();

	pthread_mutex_lock(&w->mu);
	w->got = d;
	w->done = 1;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int
waiter_done(struct waiter *w)
{
	int	 done;

	pthread_mutex_lock(&w->mu);
	done = w->done;
	pthread_mutex_unlock(&w->mu);
	return done;
}

/* Borrow and give back; a borrower waits while none is free. */
static void
test_pool(void **state)
{
	struct waiter	 w;
	struct db	*a, *b;
	pthread_t	 t;
	int64_t		 v;
	int		 i;

	(void)state;
	db_pool_close();	/* unit_db_fresh's */
	assert_int_equal(db_pool_open(2), 0);
	a = db_acquire();
	b = db_acquire();
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	assert_int_equal(pthread_create(&t, NULL, acquire_thread, &w), 0);
	sleep_ms(50);
	assert_false(waiter_done(&w));
	db_release(b);
	for (i = 0; i < 200 && !waiter_done(&w); i++)
		sleep_ms(10);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_ptr_equal(w.got, b);
	pthread_mutex_destroy(&w.mu);
	db_release(w.got);
	db_release(a);
	db_release(NULL);
	/* both are usable */
	a = db_acquire();
	b = db_acquire();
	v = clock_one(a, U2);
	assert_true(clock_one(b, U2) > v);
	db_release(a);
	db_release(b);
	db_pool_close();
}

/* A transaction left open (a bug) is rolled back when given back. */
static void
test_release_rolls_back(void **state)
{
	struct deferred	 x;
	struct db	*a, *b;
	int64_t		 n0 = probes();

	(void)state;
	db_pool_close();
	assert_int_equal(db_pool_open(2), 0);
	a = db_acquire();
	/* what db_tx does before fn, and fn's write, but no end */
	assert_int_equal(a->store->begin(a, DB_TX_WRITE), DB_OK);
	a->tx.active = DB_TX_WRITE;
	unit_exec(a, "INSERT INTO probe (n) VALUES (4)");
	memset(&x, 0, sizeof(x));
	db_defer(a, deferred_flush, deferred_free, &x);
	db_ring_user(a, U1);
	db_release(a);
	assert_int_equal(a->tx.active, 0);
	assert_int_equal(a->tx.nring, 0);
	assert_true(sqlite3_get_autocommit(SQ(a)->conn));
	assert_int_equal(probes(), n0);
	/* what it kept aside is forgotten, and freed, never flushed */
	assert_int_equal(x.flushes, 0);
	assert_int_equal(x.frees, 1);
	assert_null(a->tx.defer_flush);
	/* the write lock is free again: another connection writes */
	b = db_acquire();
	assert_int_equal(db_tx(b, insert_tx, NULL), DB_OK);
	assert_int_equal(probes(), n0 + 1);
	db_release(b);
	b = db_acquire();
	assert_int_equal(db_tx(b, insert_tx, NULL), DB_OK);
	db_release(b);
	db_pool_close();
}

/* Group commit: a writer thread of its own connection. */
struct gc_writer {
	pthread_t	 tid;
	struct db	*db;
	struct body	 b;
	int		 rc;
};

static pthread_barrier_t gc_barrier;
static _Atomic int gc_commits;
static struct store gc_store;

static int
gc_commit(struct db *d)
{
	atomic_fetch_add(&gc_commits, 1);
	return sqlite_store.commit(d);
}

static void *
gc_writer_main(void *arg)
{
	struct gc_writer *w = arg;

	pthread_barrier_wait(&gc_barrier);
	w->rc = db_tx(w->db, body_tx, &w->b);
	return NULL;
}

/*
 * Writes that arrive while a commit runs share the next one: 16 writers
 * at once, each slow enough (5 ms) that the others queue, commit in far
 * fewer than 16 commits; the one that fails rolls back alone and gets
 * its own error; every other is durable once db_tx returns.
 */
static void
test_group_commit(void **state)
{
	enum { N = 16 };
	struct gc_writer w[N];
	int64_t		 n0 = probes();
	int		 i;

	(void)state;
	gc_store = sqlite_store;
	gc_store.commit = gc_commit;
	atomic_store(&gc_commits, 0);
	assert_int_equal(pthread_barrier_init(&gc_barrier, NULL, N), 0);
	for (i = 0; i < N; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		assert_non_null(w[i].db = db_open());
		w[i].db->store = &gc_store;
		w[i].b.result = i == 7 ? DB_CONSTRAINT : DB_OK;
		w[i].b.sleep_ms = 5;
		assert_int_equal(pthread_create(&w[i].tid, NULL,
		    gc_writer_main, &w[i]), 0);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);
		assert_int_equal(w[i].rc, i == 7 ? DB_CONSTRAINT : DB_OK);
		assert_int_equal(w[i].b.calls, 1);
		db_close(w[i].db);
	}
	pthread_barrier_destroy(&gc_barrier);
	assert_int_equal(probes(), n0 + N - 1);
	/* the first commits alone, the rest queued behind it share */
	assert_true(atomic_load(&gc_commits) < N / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_idempotent),
		cmocka_unit_test(test_migrate_refuses_newer),
		cmocka_unit_test(test_stmt_cache),
		cmocka_unit_test(test_tx_commit_rollback),
		cmocka_unit_test(test_tx_retry),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_tx_begin_retry),
		cmocka_unit_test(test_tx_rings),
		cmocka_unit_test(test_tx_defer),
		cmocka_unit_test(test_tx_expired),
		cmocka_unit_test(test_read_snapshot),
		cmocka_unit_test(test_clock_monotonic),
		cmocka_unit_test(test_clock_steps_back),
		cmocka_unit_test(test_clock_users),
		cmocka_unit_test(test_clock_written_once),
		cmocka_unit_test(test_clock_across_processes),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_release_rolls_back),
		/* test_events_seq (old test_db.c): test_store_events.c,
		 * test_seq_per_user and test_event_append_rings */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
