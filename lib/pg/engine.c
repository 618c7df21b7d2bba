/*
 * The PostgreSQL engine (TANDEM_DB_URL, a libpq URI): connections, the
 * prepared statement cache, the query helper (lib/pg/pg.h), transactions,
 * the per-user clock row, migrations, the health probe, the sweepers'
 * advisory lock.  The store functions of each area are in store_<area>.c
 * beside this file; the doorbell between hosts is notify.c's.
 *
 * Transactions: writes run at READ COMMITTED with explicit row locks.
 * The first thing a write transaction does with a user's rows is lock
 * the user's row (SELECT clock_us FROM users WHERE id = $1 FOR UPDATE,
 * pg_user_lock): the clock row of DESIGN.md, so one user's writers run
 * one after the other, in commit order, as SQLite runs all writers, and
 * every read-decide-write of an operation (the device limit at login, a
 * message's seq and dedup, a push's base versions and quota, an open
 * conflict, the events seq, a lock or lease) decides on rows no other
 * writer can move until it commits; two users' writers never wait on
 * each other.  A transaction that locks several users (only the
 * sweeper's) takes them in ascending id order, so no two transactions
 * wait on each other in a circle; a deadlock or serialization failure
 * that happens anyway is DB_RETRY and db_tx runs the operation again.
 * Reads (db_read) are one REPEATABLE READ READ ONLY snapshot.
 *
 * A lost connection is DB_ERROR (503) for the request that meets it and
 * is opened again on its next use, outside a transaction; connect_timeout,
 * TCP keepalives, statement and lock timeouts and a client-side wait
 * bound make a dead or stuck server an error within seconds, never a
 * hang.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "pg.h"
#include "rand.h"
#include "store_fns.h"

/* Parameter types (pg_type.h's OIDs, fixed since forever). */
#define OID_BOOL	16
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_TEXT	25

/* No answer from the server for this long: the connection is dead. */
#define IO_TIMEOUT_MS	20000
/* Between two reconnect attempts of one connection. */
#define RECONNECT_US	250000
/* The sweepers' advisory lock key (advisory locks are per database);
 * migrations take 7210150001. */
#define LOCK_SWEEP	7210150002LL

/* Server-side bounds of every session (the URI may override them). */
#define SESSION_OPTIONS "-c statement_timeout=15000 -c lock_timeout=5000 " \
	"-c idle_in_transaction_session_timeout=60000"

static char host_token[20];

/*
 * This host's token, in the payload of its notifications so that its
 * own listener skips them.  Made once in the master before it forks
 * (pg_migrate), so every process of the host shares it.
 */
void
pg_host_token_init(void)
{
	if (host_token[0] == '\0' && rand_hex(host_token, 8) == -1)
		snprintf(host_token, sizeof(host_token), "p%ld",
		    (long)getpid());
}

const char *
pg_host_token(void)
{
	return host_token;
}

/*
 * A new connection to TANDEM_DB_URL with tandem's session bounds, or
 * NULL (logged unless quiet).
 */
PGconn *
pg_connect_raw(int quiet)
{
	static const char *const keys[] = {
		"connect_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"application_name", "options", "dbname", NULL
	};
	const char	*vals[] = {
		"3", "1", "10", "3", "3", "10000", "tandemd", SESSION_OPTIONS,
		cfg.db_url, NULL
	};
	PGconn		*c;

	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		if (!quiet)
			log_json(LOG_ERROR, "cannot connect to PostgreSQL",
			    json_pack("{s:s}", "error", c != NULL ?
			    PQerrorMessage(c) : "out of memory"));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Forget the connection (and what was prepared on it). */
static void
conn_drop(struct pg *p)
{
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
	free(p->slots);
	p->slots = NULL;
	p->nslots = p->nused = 0;
	p->sweep_locked = 0;
}

/*
 * Open the connection again, at most every RECONNECT_US.  Returns 0, or
 * -1 while the server cannot be reached.
 */
int
pg_reconnect(struct pg *p)
{
	int64_t	 now = mono_us();

	conn_drop(p);
	if (now < p->retry_at_us)
		return -1;
	if ((p->conn = pg_connect_raw(p->logged_down)) == NULL) {
		p->retry_at_us = now + RECONNECT_US;
		p->logged_down = 1;
		return -1;
	}
	if (p->logged_down)
		log_msg(LOG_INFO, "reconnected to PostgreSQL");
	p->logged_down = 0;
	return 0;
}

/*
 * A usable connection: the one we have, or a new one when it was lost
 * and we are neither inside a transaction (its statements must not run
 * outside it) nor pinned (the sweeper's, whose advisory lock died with
 * the old one).  Returns 0 or -1.
 */
static int
conn_ready(struct pg *p)
{
	struct pollfd	 pfd;

	/*
	 * An idle connection has nothing to read: if it has, its backend
	 * is saying goodbye (a server killed or shut down: "terminating
	 * connection", then the end of the stream).  Open a new one now,
	 * before a request meets the old one.
	 */
	if (p->conn != NULL && !p->in_tx && PQstatus(p->conn) == CONNECTION_OK) {
		pfd.fd = PQsocket(p->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1) {
			log_msg(LOG_INFO, "an idle PostgreSQL connection was "
			    "closed by the server; reconnecting");
			conn_drop(p);
		}
	}
	if (p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	if (p->in_tx || p->pinned) {
		conn_drop(p);
		return -1;
	}
	return pg_reconnect(p);
}

/* The connection failed under us: say so once, and drop it. */
static void
conn_lost(struct pg *p, const char *what)
{
	if (!p->logged_down)
		log_json(LOG_ERROR, "lost the PostgreSQL connection",
		    json_pack("{s:s, s:s}", "what", what, "error",
		    p->conn != NULL ? PQerrorMessage(p->conn) : "-"));
	p->logged_down = 1;
	conn_drop(p);
}

/*
 * The next result of what was sent, waiting at most IO_TIMEOUT_MS for
 * each piece of it; NULL when there are no more.  *fail is set when the
 * connection died or went silent (it is dropped).
 */
static PGresult *
result_next(struct pg *p, int *fail)
{
	struct pollfd	 pfd;
	int		 n;

	*fail = 0;
	while (PQisBusy(p->conn)) {
		pfd.fd = PQsocket(p->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, IO_TIMEOUT_MS);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || PQconsumeInput(p->conn) == 0) {
			conn_lost(p, n == 0 ? "no answer in time" : "read");
			*fail = 1;
			return NULL;
		}
	}
	return PQgetResult(p->conn);
}

/* Every result of what was sent; the first error wins.  NULL: failed. */
static PGresult *
result_wait(struct pg *p)
{
	PGresult	*last = NULL, *r;
	int		 fail;

	while ((r = result_next(p, &fail)) != NULL) {
		if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(last);
		last = r;
	}
	if (fail) {
		PQclear(last);
		return NULL;
	}
	if (last == NULL || (PQstatus(p->conn) != CONNECTION_OK)) {
		if (PQstatus(p->conn) != CONNECTION_OK)
			conn_lost(p, "status");
		PQclear(last);
		return NULL;
	}
	return last;
}

/* A failed result's SQLSTATE as a db_rc. */
static int
rc_of(const PGresult *r)
{
	const char	*st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (st == NULL)
		return DB_ERROR;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return DB_RETRY;
	if (strncmp(st, "23", 2) == 0)
		return DB_CONSTRAINT;
	if (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0)
		return DB_BUSY;
	return DB_ERROR;
}

static void
result_log(struct pg *p, const PGresult *r, const char *sql)
{
	int	 rc = rc_of(r);

	if (rc == DB_CONSTRAINT || rc == DB_RETRY)
		return;
	log_json(LOG_ERROR, "postgresql error", json_pack("{s:s, s:s, s:s}",
	    "sqlstate", PQresultErrorField(r, PG_DIAG_SQLSTATE) ?
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) : "-",
	    "error", PQresultErrorMessage(r), "sql", sql));
	(void)p;
}

/*
 * Run one statement of the simple protocol (BEGIN, COMMIT, ROLLBACK,
 * LISTEN) and want `tag` as its command status (NULL: any).  Returns a
 * db_rc.
 */
static int
simple(struct pg *p, const char *sql, const char *tag)
{
	PGresult	*r;
	int		 rc = DB_OK;

	if (p->conn == NULL || PQsendQuery(p->conn, sql) == 0) {
		if (p->conn != NULL)
			conn_lost(p, sql);
		return DB_ERROR;
	}
	if ((r = result_wait(p)) == NULL)
		return DB_ERROR;
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		result_log(p, r, sql);
		rc = rc_of(r);
	} else if (tag != NULL && strcmp(PQcmdStatus(r), tag) != 0)
		rc = DB_ERROR;		/* COMMIT of an aborted tx: ROLLBACK */
	PQclear(r);
	return rc;
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
slots_grow(struct pg *p)
{
	struct pg_slot	*old = p->slots, *v;
	size_t		 oldn = p->nslots, i, j, n = oldn ? oldn * 2 : 128;

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
	p->slots = v;
	p->nslots = n;
	return 0;
}

/*
 * The name q->sql is prepared under on this connection, preparing it now
 * (with the types of this first binding) when it is new.  Returns 0 or
 * -1.
 */
static int
prepared(struct pg *p, struct pgq *q, char name[16])
{
	PGresult	*r;
	size_t		 i;
	int		 ok;

	if (p->nused * 2 >= p->nslots && slots_grow(p) == -1)
		return -1;
	for (i = slot_hash(q->sql, p->nslots); p->slots[i].sql != NULL;
	    i = (i + 1) & (p->nslots - 1))
		if (p->slots[i].sql == q->sql) {
			snprintf(name, 16, "t%d", p->slots[i].id);
			return 0;
		}
	snprintf(name, 16, "t%zu", p->nused);
	if (PQsendPrepare(p->conn, name, q->sql, q->n, q->type) == 0) {
		conn_lost(p, "prepare");
		return -1;
	}
	if ((r = result_wait(p)) == NULL)
		return -1;
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		result_log(p, r, q->sql);
	PQclear(r);
	if (!ok)
		return -1;
	p->slots[i].sql = q->sql;
	p->slots[i].id = (int)p->nused++;
	return 0;
}

void
pgq_init(struct pgq *q, struct db *db, const char *sql)
{
	memset(q, 0, sizeof(*q));
	q->db = db;
	q->sql = sql;
}

static void
bind(struct pgq *q, Oid type, const char *v, int len, int fmt)
{
	if (q->n >= PGQ_MAXP)
		return;		/* a programmer's error: the prepare fails */
	q->type[q->n] = type;
	q->v[q->n] = v;
	q->len[q->n] = len;
	q->fmt[q->n] = fmt;
	q->n++;
}

void
pgq_int(struct pgq *q, int64_t v)
{
	if (q->n < PGQ_MAXP)
		snprintf(q->num[q->n], sizeof(q->num[0]), "%lld",
		    (long long)v);
	bind(q, OID_INT8, q->n < PGQ_MAXP ? q->num[q->n] : NULL, 0, 0);
}

void
pgq_bool(struct pgq *q, int v)
{
	bind(q, OID_BOOL, v ? "t" : "f", 0, 0);
}

/* Text, NULL as SQL NULL. */
void
pgq_text(struct pgq *q, const char *s)
{
	bind(q, OID_TEXT, s, 0, 0);
}

/* A time or an optional integer, 0 as NULL. */
void
pgq_time(struct pgq *q, int64_t t)
{
	if (t == 0)
		bind(q, OID_INT8, NULL, 0, 0);
	else
		pgq_int(q, t);
}

void
pgq_blob(struct pgq *q, const void *b, size_t n)
{
	bind(q, OID_BYTEA, b, (int)n, 1);
}

/*
 * The result of a statement whose connection was lost: inside a
 * transaction nothing of it was committed (COMMIT was not sent), so the
 * operation may run again from the start on a new connection (DB_RETRY:
 * db_tx does); outside one, DB_ERROR.
 */
static int
lost_rc(const struct pg *p)
{
	return p->in_tx && p->conn == NULL ? DB_RETRY : DB_ERROR;
}

/* Send q (prepared) without waiting.  Returns a db_rc. */
static int
send_prepared(struct pgq *q)
{
	struct pg	*p = PG(q->db);
	char		 name[16];

	if (conn_ready(p) == -1 || prepared(p, q, name) == -1)
		return lost_rc(p);
	if (PQsendQueryPrepared(p->conn, name, q->n, q->v, q->len, q->fmt,
	    0) == 0) {
		conn_lost(p, "send");
		return lost_rc(p);
	}
	return DB_OK;
}

/*
 * Run q; its result stays in q (q->rows, q->changed) until pgq_clear.
 * Returns a db_rc (errors logged, but for constraints and retries).
 */
int
pgq_exec(struct pgq *q)
{
	struct pg	*p = PG(q->db);
	ExecStatusType	 st;
	int		 rc;

	PQclear(q->res);
	q->res = NULL;
	q->rows = 0;
	q->changed = 0;
	if ((rc = send_prepared(q)) != DB_OK)
		return rc;
	if ((q->res = result_wait(p)) == NULL)
		return lost_rc(p);
	st = PQresultStatus(q->res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		result_log(p, q->res, q->sql);
		return rc_of(q->res);
	}
	q->rows = PQntuples(q->res);
	q->changed = strtoll(PQcmdTuples(q->res), NULL, 10);
	return DB_OK;
}

/* Run q wanting a row: DB_OK with row 0 ready, DB_NOTFOUND when none. */
int
pgq_one(struct pgq *q)
{
	int	 rc = pgq_exec(q);

	if (rc == DB_OK && q->rows == 0)
		rc = DB_NOTFOUND;
	return rc;
}

/* Run a write that must change a row (none: DB_NOTFOUND); cleared. */
int
pgq_exec_one(struct pgq *q)
{
	int	 rc = pgq_exec(q);

	if (rc == DB_OK && q->changed < 1)
		rc = DB_NOTFOUND;
	pgq_clear(q);
	return rc;
}

/* A query of one integer (a count) into *out; cleared.  A db_rc. */
int
pgq_count(struct pgq *q, int64_t *out)
{
	int	 rc = pgq_exec(q);

	*out = 0;
	if (rc == DB_OK && q->rows > 0)
		*out = pgq_getint(q, 0, 0);
	pgq_clear(q);
	return rc;
}

/*
 * Run q and call row(q, arg) for each row as it arrives (libpq's
 * single-row mode: a user's export is never held whole), the row at
 * index 0 of q's result.  row must not use the connection.  Stops early
 * when row returns anything but DB_OK (DB_ROLLBACK: "enough", DB_OK).
 * Returns a db_rc.
 */
int
pgq_each(struct pgq *q, int (*row)(struct pgq *, void *), void *arg)
{
	struct pg	*p = PG(q->db);
	ExecStatusType	 st;
	PGresult	*r;
	int		 rc, cb = DB_OK, fail;

	pgq_clear(q);
	if ((rc = send_prepared(q)) != DB_OK)
		return rc;
	if (PQsetSingleRowMode(p->conn) == 0)
		log_msg(LOG_WARN, "postgresql: no single-row mode");
	while ((r = result_next(p, &fail)) != NULL) {
		st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE && cb == DB_OK && rc == DB_OK) {
			q->res = r;
			q->rows = 1;
			cb = row(q, arg);
			q->res = NULL;
		} else if (st == PGRES_FATAL_ERROR && rc == DB_OK) {
			result_log(p, r, q->sql);
			rc = rc_of(r);
		}
		PQclear(r);
	}
	q->rows = 0;
	if (fail)
		return lost_rc(p);
	if (rc != DB_OK)
		return rc;
	return pg_iter_rc(cb);
}

void
pgq_clear(struct pgq *q)
{
	PQclear(q->res);
	q->res = NULL;
	q->rows = 0;
}

int64_t
pgq_getint(const struct pgq *q, int row, int col)
{
	const char	*s = PQgetvalue(q->res, row, col);

	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

/* An integer column, NULL as 0. */
int64_t
pgq_gettime(const struct pgq *q, int row, int col)
{
	return PQgetisnull(q->res, row, col) ? 0 : pgq_getint(q, row, col);
}

int
pgq_getbool(const struct pgq *q, int row, int col)
{
	const char	*s = PQgetvalue(q->res, row, col);

	return s != NULL && (s[0] == 't' || s[0] == '1');
}

int
pgq_isnull(const struct pgq *q, int row, int col)
{
	return PQgetisnull(q->res, row, col);
}

/* A text column (borrowed from the result), or NULL. */
const char *
pgq_getstr(const struct pgq *q, int row, int col)
{
	return PQgetisnull(q->res, row, col) ? NULL :
	    PQgetvalue(q->res, row, col);
}

size_t
pgq_getlen(const struct pgq *q, int row, int col)
{
	return (size_t)PQgetlength(q->res, row, col);
}

/* A text column into a fixed buffer ("" for NULL; cut to fit). */
void
pgq_copy(char *dst, size_t n, const struct pgq *q, int row, int col)
{
	const char	*s = pgq_getstr(q, row, col);

	snprintf(dst, n, "%s", s != NULL ? s : "");
}

/* A text column as a new string (free it), or NULL. */
char *
pgq_dup(const struct pgq *q, int row, int col)
{
	const char	*s = pgq_getstr(q, row, col);

	return s != NULL ? strdup(s) : NULL;
}

/* An iteration callback's result as the iteration's: DB_ROLLBACK stops. */
int
pg_iter_rc(int cb_rc)
{
	return cb_rc == DB_ROLLBACK ? DB_OK : cb_rc;
}

/*
 * Inside a write transaction, lock the user's row before anything else
 * of the user is read or written (once per transaction; its clock is
 * kept for clock_read).  Outside one, and for a user that does not
 * exist, nothing.  Returns a db_rc.
 */
int
pg_user_lock(struct db *db, int64_t user_id)
{
	struct pg	*p = PG(db);
	struct pgq	 q;
	int		 i, rc;

	if (db->tx.active != DB_TX_WRITE)
		return DB_OK;
	for (i = 0; i < p->nlocked; i++)
		if (p->locked[i].user_id == user_id)
			return DB_OK;
	pgq_init(&q, db, "SELECT clock_us, usage_bytes, usage_records FROM "
	    "users WHERE id = $1 FOR UPDATE");
	pgq_int(&q, user_id);
	rc = pgq_one(&q);
	if (rc == DB_OK && p->nlocked < PG_MAX_LOCKED) {
		p->locked[p->nlocked].user_id = user_id;
		p->locked[p->nlocked].clock_us = pgq_getint(&q, 0, 0);
		p->locked[p->nlocked].usage_bytes = pgq_getint(&q, 0, 1);
		p->locked[p->nlocked].usage_records = pgq_getint(&q, 0, 2);
		p->locked[p->nlocked].usage_valid = 1;
		p->nlocked++;
	}
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_OK : rc;
}

/*
 * The user's usage as this write transaction's lock read it (no other
 * writer can move it; this one moves it only when the operation ends).
 * Returns 1 with the counters, 0 when it must be read.
 */
int
pg_user_usage(struct db *db, int64_t user_id, int64_t *bytes,
    int64_t *records)
{
	struct pg	*p = PG(db);
	int		 i;

	if (db->tx.active != DB_TX_WRITE)
		return 0;
	for (i = 0; i < p->nlocked; i++)
		if (p->locked[i].user_id == user_id &&
		    p->locked[i].usage_valid) {
			*bytes = p->locked[i].usage_bytes;
			*records = p->locked[i].usage_records;
			return 1;
		}
	return 0;
}

/* The transaction wrote the user's usage: read it again if asked. */
void
pg_user_usage_forget(struct db *db, int64_t user_id)
{
	struct pg	*p = PG(db);
	int		 i;

	for (i = 0; i < p->nlocked; i++)
		if (p->locked[i].user_id == user_id)
			p->locked[i].usage_valid = 0;
}

static void
pgs_disconnect(struct db *db)
{
	struct pg	*p = PG(db);

	if (p == NULL)
		return;
	conn_drop(p);
	free(p);
}

/*
 * A connection to TANDEM_DB_URL.  A server that cannot be reached now is
 * logged, not fatal: the connection is handed out anyway and opens on
 * its first use once the server is back (503 until then).  NULL only
 * when out of memory.
 */
static struct db *
pgs_connect(void)
{
	struct pg	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->db.store = &pg_store;
	if ((p->conn = pg_connect_raw(0)) == NULL) {
		p->logged_down = 1;
		p->retry_at_us = mono_us() + RECONNECT_US;
	}
	return &p->db;
}

/*
 * Begin: a write at READ COMMITTED (its locks are explicit), a read as
 * one REPEATABLE READ READ ONLY snapshot.  A lost connection is opened
 * again here, before the transaction, never inside it.
 */
static int
pgs_begin(struct db *db, int mode)
{
	struct pg	*p = PG(db);
	int		 rc;

	const char	*sql = mode == DB_TX_READ ?
			    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" :
			    "BEGIN ISOLATION LEVEL READ COMMITTED";

	p->nlocked = 0;
	p->in_tx = 0;
	if (conn_ready(p) == -1)
		return DB_ERROR;
	rc = simple(p, sql, NULL);
	/*
	 * A backend that outlived its server (killed, restarted) answers
	 * its first statement with an error and hangs up: BEGIN, which
	 * changes nothing, is sent once more on a new connection.
	 */
	if (rc != DB_OK && p->conn == NULL && conn_ready(p) == 0)
		rc = simple(p, sql, NULL);
	p->in_tx = rc == DB_OK;
	return rc;
}

static int
pgs_commit(struct db *db)
{
	struct pg	*p = PG(db);
	int		 rc;

	rc = simple(p, "COMMIT", "COMMIT");
	if (rc == DB_OK)
		p->in_tx = 0;
	p->nlocked = 0;
	return rc;
}

static void
pgs_rollback(struct db *db)
{
	struct pg	*p = PG(db);

	if (p->in_tx && p->conn != NULL)
		(void)simple(p, "ROLLBACK", NULL);
	p->in_tx = 0;
	p->nlocked = 0;
}

/* The user's clock (users.clock_us), locked for the transaction. */
static int
pgs_clock_read(struct db *db, int64_t user_id, int64_t *last)
{
	struct pg	*p = PG(db);
	struct pgq	 q;
	int		 i, rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	for (i = 0; i < p->nlocked; i++)
		if (p->locked[i].user_id == user_id) {
			*last = p->locked[i].clock_us;
			return DB_OK;
		}
	/* more users than the cache holds: read it again, locked */
	pgq_init(&q, db, "SELECT clock_us FROM users WHERE id = $1 FOR UPDATE");
	pgq_int(&q, user_id);
	if ((rc = pgq_one(&q)) == DB_OK)
		*last = pgq_getint(&q, 0, 0);
	pgq_clear(&q);
	return rc == DB_NOTFOUND ? DB_ERROR : rc;
}

static int
pgs_clock_write(struct db *db, int64_t user_id, int64_t last)
{
	struct pg	*p = PG(db);
	struct pgq	 q;
	int		 i;

	for (i = 0; i < p->nlocked; i++)
		if (p->locked[i].user_id == user_id)
			p->locked[i].clock_us = last;
	pgq_init(&q, db, "UPDATE users SET clock_us = $2 WHERE id = $1");
	pgq_int(&q, user_id);
	pgq_int(&q, last);
	return pgq_exec_one(&q);
}

/* A cheap read that fails when the database is unusable.  db_rc. */
static int
pgs_health(struct db *db)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "SELECT 1 FROM schema_migrations LIMIT 1");
	rc = pgq_one(&q);
	pgq_clear(&q);
	return rc == DB_OK ? DB_OK : DB_ERROR;
}

/*
 * One sweeper among all hosts: the sweeper's own connection holds a
 * session-level advisory lock for as long as it lives.  When the host
 * holding it dies, its session ends, the lock with it, and another
 * host's next try takes it (every TANDEM_SWEEP_MS).  The connection is
 * pinned: once lost it is opened again only here, so a sweep never goes
 * on without the lock.  DB_OK: this host sweeps; DB_NOTFOUND: another
 * host does; else an error.
 */
static int
pgs_sweep_lock(struct db *db)
{
	struct pg	*p = PG(db);
	struct pgq	 q;
	int		 rc;

	p->pinned = 1;
	if ((p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK) &&
	    pg_reconnect(p) == -1)
		return DB_ERROR;
	if (p->sweep_locked)
		return DB_OK;
	pgq_init(&q, db, "SELECT pg_try_advisory_lock($1)");
	pgq_int(&q, LOCK_SWEEP);
	if ((rc = pgq_one(&q)) == DB_OK) {
		p->sweep_locked = pgq_getbool(&q, 0, 0);
		rc = p->sweep_locked ? DB_OK : DB_NOTFOUND;
		if (p->sweep_locked)
			log_msg(LOG_INFO, "this host sweeps now (the "
			    "sweepers' advisory lock)");
	}
	pgq_clear(&q);
	return rc;
}

static int
migration_known(const char *name)
{
	size_t	 i;

	for (i = 0; i < pg_nmigrations; i++)
		if (strcmp(pg_migrations[i].name, name) == 0)
			return 1;
	return 0;
}

/* One statement of the migration run on c; 0 or -1 (logged). */
static int
mig_exec(PGconn *c, const char *sql, const char *what)
{
	PGresult	*r = PQexec(c, sql);
	int		 ok = r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
			    PQresultStatus(r) == PGRES_TUPLES_OK);

	if (!ok)
		log_json(LOG_ERROR, "migration failed", json_pack("{s:s, s:s}",
		    "name", what, "error", r != NULL ? PQresultErrorMessage(r) :
		    PQerrorMessage(c)));
	PQclear(r);
	return ok ? 0 : -1;
}

/*
 * Refuse a database whose schema is newer than this binary: one that
 * lists a migration it does not know.  Sets *have[i] for the known ones
 * applied.  Returns 0, or -1 (logged).
 */
static int
schema_read(PGconn *c, char *have)
{
	PGresult	*r;
	int		 i, n, rc = 0;
	size_t		 k;

	r = PQexec(c, "SELECT name FROM schema_migrations ORDER BY name");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_json(LOG_ERROR, "cannot read schema_migrations",
		    json_pack("{s:s}", "error", r != NULL ?
		    PQresultErrorMessage(r) : PQerrorMessage(c)));
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n && rc == 0; i++) {
		if (!migration_known(PQgetvalue(r, i, 0))) {
			log_json(LOG_ERROR, "the database's schema is newer "
			    "than this tandemd: upgrade tandemd, or restore a "
			    "backup made for this version",
			    json_pack("{s:s, s:s}", "database", PQdb(c),
			    "unknown_migration", PQgetvalue(r, i, 0)));
			rc = -1;
		}
		for (k = 0; k < pg_nmigrations; k++)
			if (strcmp(pg_migrations[k].name, PQgetvalue(r, i, 0))
			    == 0)
				have[k] = 1;
	}
	PQclear(r);
	return rc;
}

/*
 * Apply the migrations built into the binary (migrations/postgres/, in
 * name order) that schema_migrations does not list, each in its own
 * transaction, under an advisory lock so that hosts starting at once
 * take turns (the second finds the work done).  An empty database gets
 * the whole schema; one that lists a migration this binary does not know
 * is refused.  Run by the master before it forks, which also makes the
 * host's notify token.  Returns 0 or -1.
 */
static int
pgs_migrate(void)
{
	PGconn		*c = NULL;
	PGresult	*r;
	char		*have = NULL, num[32];
	const char	*vals[2];
	size_t		 i;
	int		 tries, rc = -1;

	pg_host_token_init();
	for (tries = 0; tries < 20 && c == NULL; tries++) {
		if ((c = pg_connect_raw(tries < 19)) == NULL)
			usleep(500000);
	}
	if (c == NULL)
		return -1;
	if ((have = calloc(pg_nmigrations + 1, 1)) == NULL)
		goto out;
	if (mig_exec(c, "SET client_min_messages = warning", "-") == -1 ||
	    mig_exec(c, "SELECT pg_advisory_lock(7210150001)", "lock") == -1 ||
	    mig_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " name text PRIMARY KEY, applied_at bigint NOT NULL)",
	    "schema_migrations") == -1 || schema_read(c, have) == -1)
		goto out;
	for (i = 0; i < pg_nmigrations; i++) {
		if (have[i])
			continue;
		if (mig_exec(c, "BEGIN", pg_migrations[i].name) == -1)
			goto out;
		if (mig_exec(c, pg_migrations[i].sql, pg_migrations[i].name) ==
		    -1) {
			PQclear(PQexec(c, "ROLLBACK"));
			goto out;
		}
		snprintf(num, sizeof(num), "%lld", (long long)now_ms());
		vals[0] = pg_migrations[i].name;
		vals[1] = num;
		r = PQexecParams(c, "INSERT INTO schema_migrations (name, "
		    "applied_at) VALUES ($1, $2::bigint)", 2, NULL, vals, NULL,
		    NULL, 0);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
			log_json(LOG_ERROR, "migration failed",
			    json_pack("{s:s, s:s}", "name",
			    pg_migrations[i].name, "error", r != NULL ?
			    PQresultErrorMessage(r) : PQerrorMessage(c)));
			PQclear(r);
			PQclear(PQexec(c, "ROLLBACK"));
			goto out;
		}
		PQclear(r);
		if (mig_exec(c, "COMMIT", pg_migrations[i].name) == -1)
			goto out;
		log_json(LOG_INFO, "migration applied", json_pack("{s:s}",
		    "name", pg_migrations[i].name));
	}
	rc = 0;
out:
	free(have);
	PQfinish(c);		/* the advisory lock goes with the session */
	return rc;
}

/* tandemd backup: PostgreSQL has its own tools for it. */
static int
pgs_backup(const char *to)
{
	(void)to;
	fprintf(stderr, "tandemd: the database is PostgreSQL "
	    "(TANDEM_DB_URL): back it up with pg_dump, e.g.\n"
	    "  pg_dump --format=custom --file=tandem.dump '%s'\n"
	    "(docs/OPERATIONS.md, \"Backups\")\n", cfg.db_url);
	return -1;
}

const struct store pg_store = {
	.name = "postgresql",
	.connect = pgs_connect,
	.disconnect = pgs_disconnect,
	.begin = pgs_begin,
	.commit = pgs_commit,
	.rollback = pgs_rollback,
	.clock_read = pgs_clock_read,
	.clock_write = pgs_clock_write,
	.migrate = pgs_migrate,
	.health = pgs_health,
	.backup = pgs_backup,
	.sweep_lock = pgs_sweep_lock,
	.notify = pg_notify,
	.listen = pg_listen_start,
	PG_STORE_AUTH,
	PG_STORE_SESSIONS,
	PG_STORE_SYNC,
	PG_STORE_EVENTS,
	PG_STORE_SERVICE,
	PG_STORE_ADMIN,
	PG_STORE_LINKS,
};
