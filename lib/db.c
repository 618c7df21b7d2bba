/*
 * db: the engine-neutral half of storage: which engine, the pool of its
 * connections, transactions (db_tx, db_read), the per-user clock, the
 * doorbell rings after commit and an area's deferred writes.  The
 * engines (lib/sqlite/, lib/pg/) implement struct store (lib/store.h).
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "log.h"
#include "store.h"

const char *const db_rc_names[DB__MAX] = {
	"ok", "not found", "constraint", "busy", "error", "timeout",
	"rolled back", "retry"
};

const char *const link_status_names[LINK__MAX] = {
	"pending", "approved", "denied", "handed_out"
};

/* How often db_tx runs a transaction the engine asks to run again. */
#define TX_ATTEMPTS	5

static const struct store *engine = &sqlite_store;

static void	 op_forget(struct db *);

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct db	**conns;
	int		 n;
	struct db	*free;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0,
    NULL };

/*
 * Choose the engine: a libpq URI (TANDEM_DB_URL) selects PostgreSQL,
 * none the embedded SQLite.  Returns 0, or -1 when this build has no
 * engine for the URL.
 */
int
db_engine_select(const char *url)
{
	if (url == NULL || *url == '\0') {
		engine = &sqlite_store;
		return 0;
	}
	if (strncmp(url, "postgresql://", 13) == 0 ||
	    strncmp(url, "postgres://", 11) == 0) {
		engine = &pg_store;
		return 0;
	}
	return -1;
}

const struct store *
db_engine(void)
{
	return engine;
}

const char *
db_engine_name(void)
{
	return engine->name;
}

/* One connection of its own (the sweeper's, a tool's); NULL on failure. */
struct db *
db_open(void)
{
	return engine->connect();
}

void
db_close(struct db *db)
{
	if (db != NULL)
		db->store->disconnect(db);
}

/*
 * Open n connections for this worker process.  A database that cannot be
 * reached now is logged by the engine, not fatal: the connection retries
 * and requests answer 503 meanwhile.  Returns 0, or -1 when out of
 * memory.
 */
int
db_pool_open(int n)
{
	int	 i;

	if ((pool.conns = calloc((size_t)n, sizeof(*pool.conns))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((pool.conns[i] = engine->connect()) == NULL)
			return -1;
		pool.conns[i]->next_free = pool.free;
		pool.free = pool.conns[i];
		pool.n++;
	}
	return 0;
}

void
db_pool_close(void)
{
	int	 i;

	for (i = 0; i < pool.n; i++)
		db_close(pool.conns[i]);
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
 * Give a connection back.  A transaction left open (a bug) is rolled
 * back and what its operation kept aside is freed, so the next borrower
 * starts clean and no snapshot stays alive.
 */
void
db_release(struct db *db)
{
	if (db == NULL)
		return;
	if (db->tx.active) {
		log_msg(LOG_ERROR, "transaction left open; rolled back");
		db->store->rollback(db);
		op_forget(db);
		memset(&db->tx, 0, sizeof(db->tx));
	}
	pthread_mutex_lock(&pool.lock);
	db->next_free = pool.free;
	pool.free = db;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

/* Forget what the operation kept aside: the clocks, deferred writes. */
static void
op_forget(struct db *db)
{
	if (db->tx.defer_free != NULL)
		db->tx.defer_free(db->tx.defer_arg);
	db->tx.defer_flush = NULL;
	db->tx.defer_free = NULL;
	db->tx.defer_arg = NULL;
	db->tx.nclock = 0;
}

/* Write back the clocks the operation moved.  Returns a db_rc. */
static int
clocks_flush(struct db *db)
{
	int	 i, rc;

	for (i = 0; i < db->tx.nclock; i++)
		if (db->tx.clock[i].dirty) {
			if ((rc = db->store->clock_write(db,
			    db->tx.clock[i].user_id, db->tx.clock[i].last)) !=
			    DB_OK)
				return rc;
			db->tx.clock[i].dirty = 0;
		}
	return DB_OK;
}

/*
 * The end of an operation that succeeded: what it deferred is written,
 * then its clocks.  Returns a db_rc.
 */
static int
op_end(struct db *db)
{
	int	 rc = DB_OK;

	if (db->tx.defer_flush != NULL)
		rc = db->tx.defer_flush(db, db->tx.defer_arg);
	if (rc == DB_OK)
		rc = clocks_flush(db);
	op_forget(db);
	return rc;
}

static void
tx_reset(struct db *db)
{
	op_forget(db);
	db->tx.active = 0;
	db->tx.nring = 0;
	db->tx.ring_all = 0;
}

/* After the commit: this host's doorbells, then the other hosts'. */
static void
rings_ring(struct db *db)
{
	int	 i;

	if (db->tx.ring_all)
		doorbell_ring_all();
	else
		for (i = 0; i < db->tx.nring; i++)
			doorbell_ring(db->tx.ring[i]);
	if (db->store->notify != NULL &&
	    (db->tx.ring_all || db->tx.nring > 0))
		db->store->notify(db, db->tx.ring, db->tx.nring,
		    db->tx.ring_all);
}

/*
 * One write of a process waiting for (or in) a group commit.  It lives
 * on its caller's stack until done is set; the leader reads next before
 * it sets done.
 */
struct gc_op {
	db_fn		 fn;
	void		*arg;
	int		 rc;
	int		 done;
	struct gc_op	*next;
};

/* The writes queued for the next commit, and whether one runs. */
static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cond;
	struct gc_op	*head;
	struct gc_op	*tail;
	int		 leader;
} gc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
    0 };

/* The most writes one commit takes; the rest wait for the next. */
#define GC_MAX_OPS	128

/*
 * Run one write inside the batch's transaction, in a savepoint of its
 * own: its failure (or its DB_ROLLBACK) rolls back only what it wrote,
 * and the doorbells it marked.  Returns its result.
 */
static int
gc_op_run(struct db *db, struct gc_op *o)
{
	int	 rc, nring = db->tx.nring, ring_all = db->tx.ring_all;

	op_forget(db);
	if ((rc = db->store->savepoint(db)) != DB_OK)
		return rc;
	db->tx.deadline_us = mono_us() + cfg.max_write_ms * 1000;
	rc = o->fn(db, o->arg);
	if (rc == DB_OK)
		rc = op_end(db);
	if (rc == DB_OK && db_tx_expired(db))
		rc = DB_TIMEOUT;
	if (rc == DB_OK && (rc = db->store->release(db)) == DB_OK)
		return DB_OK;
	db->store->rollback_to(db);
	op_forget(db);
	db->tx.nring = nring;
	db->tx.ring_all = ring_all;
	/* an engine with one writer never asks to retry one write alone */
	return rc == DB_RETRY ? DB_BUSY : rc;
}

/*
 * Commit the writes of batch (a list) as one transaction on db: each in
 * its savepoint, one COMMIT (one fsync) for all, then every doorbell.
 * Sets each write's rc: its own result, or the commit's failure.
 */
static void
gc_batch(struct db *db, struct gc_op *batch)
{
	struct gc_op	*o;
	int		 rc;

	tx_reset(db);
	if ((rc = db->store->begin(db, DB_TX_WRITE)) != DB_OK) {
		for (o = batch; o != NULL; o = o->next)
			o->rc = rc;
		return;
	}
	db->tx.active = DB_TX_WRITE;
	for (o = batch; o != NULL; o = o->next)
		o->rc = gc_op_run(db, o);
	if ((rc = db->store->commit(db)) == DB_OK)
		rings_ring(db);
	else {
		db->store->rollback(db);
		for (o = batch; o != NULL; o = o->next)
			if (o->rc == DB_OK)
				o->rc = rc;
	}
	tx_reset(db);
}

/*
 * Group commit: queue the write; the first thread to find no commit
 * running becomes the leader and commits every write queued meanwhile
 * (its own first, at once when it is alone), on its own connection; the
 * others wait for their result.  Every write is answered only after the
 * commit that holds it is durable.
 */
static int
gc_tx(struct db *db, db_fn fn, void *arg)
{
	struct gc_op	 op = { fn, arg, DB_ERROR, 0, NULL };
	struct gc_op	*batch, *o, *next;
	int		 n;

	pthread_mutex_lock(&gc.mu);
	if (gc.tail != NULL)
		gc.tail->next = &op;
	else
		gc.head = &op;
	gc.tail = &op;
	while (!op.done) {
		if (gc.leader) {
			pthread_cond_wait(&gc.cond, &gc.mu);
			continue;
		}
		gc.leader = 1;
		batch = gc.head;
		for (o = batch, n = 1; o->next != NULL && n < GC_MAX_OPS; n++)
			o = o->next;
		gc.head = o->next;
		if (gc.head == NULL)
			gc.tail = NULL;
		o->next = NULL;
		pthread_mutex_unlock(&gc.mu);
		gc_batch(db, batch);
		pthread_mutex_lock(&gc.mu);
		for (o = batch; o != NULL; o = next) {
			next = o->next;
			o->done = 1;
		}
		gc.leader = 0;
		pthread_cond_broadcast(&gc.cond);
	}
	pthread_mutex_unlock(&gc.mu);
	return op.rc;
}

/*
 * Run fn(db, arg) as one write transaction: commit when it returns DB_OK
 * (then ring the doorbells of the users whose events it appended), roll
 * back otherwise.  When the engine asks (DB_RETRY: a serialization
 * failure, a deadlock) fn runs again from the start, a few times.  On an
 * engine with one writer (store->savepoint) the writes of this process
 * that arrive while a commit runs share the next commit (gc_tx); fn runs
 * on whichever connection leads it, so it must use only the db it is
 * given.  Returns DB_OK once committed, fn's own result when it returned
 * another (DB_ROLLBACK: fn chose to write nothing), or the engine's
 * error.
 */
int
db_tx(struct db *db, db_fn fn, void *arg)
{
	int	 rc = DB_ERROR, attempt;

	assert(!db->tx.active);
	if (db->store->savepoint != NULL)
		return gc_tx(db, fn, arg);
	for (attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
		tx_reset(db);
		if ((rc = db->store->begin(db, DB_TX_WRITE)) != DB_OK) {
			if (rc == DB_RETRY)
				continue;
			return rc;
		}
		db->tx.active = DB_TX_WRITE;
		db->tx.deadline_us = mono_us() + cfg.max_write_ms * 1000;
		rc = fn(db, arg);
		if (rc == DB_OK)
			rc = op_end(db);
		if (rc == DB_OK && db_tx_expired(db))
			rc = DB_TIMEOUT;
		if (rc == DB_OK && (rc = db->store->commit(db)) == DB_OK) {
			rings_ring(db);
			tx_reset(db);
			return DB_OK;
		}
		db->store->rollback(db);
		tx_reset(db);
		if (rc != DB_RETRY)
			return rc;
	}
	log_msg(LOG_WARN, "a transaction was retried %d times", TX_ATTEMPTS);
	return DB_BUSY;
}

/*
 * Run fn(db, arg) inside one read snapshot.  Returns fn's result, or the
 * engine's error when the snapshot could not start.
 */
int
db_read(struct db *db, db_fn fn, void *arg)
{
	int	 rc;

	assert(!db->tx.active);
	if ((rc = db->store->begin(db, DB_TX_READ)) != DB_OK)
		return rc;
	db->tx.active = DB_TX_READ;
	rc = fn(db, arg);
	if (db->store->commit(db) != DB_OK)
		db->store->rollback(db);
	tx_reset(db);
	return rc;
}

/* Whether the transaction has held the write lock for too long. */
int
db_tx_expired(const struct db *db)
{
	return db->tx.active == DB_TX_WRITE && mono_us() > db->tx.deadline_us;
}

/* Remember to wake user's long polls once this transaction commits. */
void
db_ring_user(struct db *db, int64_t user_id)
{
	int	 i;

	for (i = 0; i < db->tx.nring; i++)
		if (db->tx.ring[i] == user_id)
			return;
	if (db->tx.nring == DB_MAX_RING)
		db->tx.ring_all = 1;
	else
		db->tx.ring[db->tx.nring++] = user_id;
}

/*
 * The user's next delta timestamp: microseconds since the epoch,
 * max(now, last + 1) over the user's clock row, read (and, on engines
 * with row locks, locked) at the operation's first call and written back
 * once when it ends: strictly increasing within the user and in commit
 * order, because the transaction holds the row until it commits.  Must be
 * called inside db_tx().  Returns a db_rc.
 */
int
db_clock_next(struct db *db, int64_t user_id, int64_t *version)
{
	int64_t	 now = now_us(), last;
	int	 i, rc;

	if (db->tx.active != DB_TX_WRITE)
		return DB_ERROR;
	for (i = 0; i < db->tx.nclock; i++)
		if (db->tx.clock[i].user_id == user_id)
			break;
	if (i == db->tx.nclock) {
		if (i == DB_MAX_CLOCKS) {
			if ((rc = clocks_flush(db)) != DB_OK)
				return rc;
			db->tx.nclock = i = 0;
		}
		if ((rc = db->store->clock_read(db, user_id, &last)) != DB_OK)
			return rc;
		db->tx.clock[i].user_id = user_id;
		db->tx.clock[i].last = last;
		db->tx.clock[i].dirty = 0;
		db->tx.nclock++;
	}
	last = db->tx.clock[i].last;
	db->tx.clock[i].last = now > last ? now : last + 1;
	db->tx.clock[i].dirty = 1;
	*version = db->tx.clock[i].last;
	return DB_OK;
}

/*
 * Defer an area's writes to the end of the operation: flush(db, arg) runs
 * when fn returns DB_OK, before the commit (its failure rolls the
 * transaction back), and free_fn(arg) runs after it or on rollback.  One
 * area at a time; db_deferred() gives back the arg registered with
 * flush, or NULL.
 */
void
db_defer(struct db *db, int (*flush)(struct db *, void *),
    void (*free_fn)(void *), void *arg)
{
	assert(db->tx.defer_flush == NULL);	/* one area per operation */
	db->tx.defer_flush = flush;
	db->tx.defer_free = free_fn;
	db->tx.defer_arg = arg;
}

void *
db_deferred(struct db *db, int (*flush)(struct db *, void *))
{
	return db->tx.defer_flush == flush ? db->tx.defer_arg : NULL;
}

static void (*stale_handler)(void);

/*
 * Who to tell when this process's connections are stuck (an engine finds
 * its database writable again but cannot write: the worker restarts).
 */
void
db_set_stale_handler(void (*fn)(void))
{
	stale_handler = fn;
}

/* An engine's connections are stale: restart the process. */
void
db_stale(void)
{
	if (stale_handler != NULL)
		stale_handler();
}

/*
 * Start the engine's listener for other hosts' commits in this process
 * (the sweeper's: one per host, sharing the doorbell).  Returns 0 or -1;
 * 0 too for an engine of one host.
 */
int
db_listen_start(void)
{
	return engine->listen != NULL ? engine->listen() : 0;
}

/* Create or bring the schema up to date (the master, before workers). */
int
db_migrate(void)
{
	return engine->migrate();
}

/* A cheap read that fails when the database is unusable.  db_rc. */
int
db_health(struct db *db)
{
	if (db == NULL)
		return DB_ERROR;
	return db->store->health(db);
}

void
user_row_release(struct user_row *u)
{
	free(u->email);
	free(u->password_hash);
	u->email = u->password_hash = NULL;
}

void
device_row_release(struct device_row *d)
{
	free(d->push_token);
	d->push_token = NULL;
}

void
message_row_release(struct message_row *m)
{
	free(m->body);
	m->body = NULL;
}

void
record_row_release(struct record_row *r)
{
	free(r->data);
	r->data = NULL;
}

void
conflict_row_release(struct conflict_row *c)
{
	free(c->client_data);
	free(c->server_data);
	c->client_data = c->server_data = NULL;
}

void
event_row_release(struct event_row *e)
{
	free(e->data);
	e->data = NULL;
}
