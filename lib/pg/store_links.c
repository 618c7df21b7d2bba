/*
 * PostgreSQL store: links, a device joining by code, and the wrong codes
 * counted against a user (migrations/postgres/0004_links.sql).  SQL
 * only; the operations are in handlers/links.c, the decisions in
 * lib/links_rules.c.  A link has no user until it is approved, so its
 * queries are by id or code, and a change of its status is conditional
 * on the status it had (at READ COMMITTED the UPDATE sees the row's
 * latest committed state: of two token calls racing for one link's
 * tokens, one moves it and the other changes nothing).  The wrong codes
 * are the user's: inside a write transaction the user's row is locked
 * first (pg_user_lock), so a check and its count see no other writer.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pg.h"
#include "store_fns.h"

#define LINK_COLS	"id, code, encode(secret_hash, 'hex'), device_id, " \
	"platform, name, status, user_id, created_at, expires_at, decided_at"

static enum link_status
status_of(const char *s)
{
	int	 i;

	for (i = 0; s != NULL && i < LINK__MAX; i++)
		if (strcmp(s, link_status_names[i]) == 0)
			return (enum link_status)i;
	return LINK__MAX;
}

/* Row 0 of q (LINK_COLS) into l; DB_ERROR for a row it cannot read. */
static int
link_read(const struct pgq *q, struct link_row *l)
{
	const char	*hex = pgq_getstr(q, 0, 2);
	size_t		 n = 0;

	pgq_copy(l->id, sizeof(l->id), q, 0, 0);
	pgq_copy(l->code, sizeof(l->code), q, 0, 1);
	if (hex == NULL || OPENSSL_hexstr2buf_ex(l->secret_hash,
	    sizeof(l->secret_hash), &n, hex, '\0') != 1 || n != 32)
		return DB_ERROR;
	pgq_copy(l->device_id, sizeof(l->device_id), q, 0, 3);
	pgq_copy(l->platform, sizeof(l->platform), q, 0, 4);
	pgq_copy(l->name, sizeof(l->name), q, 0, 5);
	l->status = status_of(pgq_getstr(q, 0, 6));
	l->user_id = pgq_gettime(q, 0, 7);
	l->created_at = pgq_getint(q, 0, 8);
	l->expires_at = pgq_getint(q, 0, 9);
	l->decided_at = pgq_gettime(q, 0, 10);
	return l->status == LINK__MAX ? DB_ERROR : DB_OK;
}

static int
link_one(struct pgq *q, struct link_row *l)
{
	int	 rc;

	if ((rc = pgq_one(q)) == DB_OK)
		rc = link_read(q, l);
	pgq_clear(q);
	return rc;
}

/* A new link; DB_CONSTRAINT when its id or code is taken. */
int
pg_link_insert(struct db *db, const struct link_row *l)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "INSERT INTO links (id, code, secret_hash, "
	    "device_id, platform, name, status, user_id, created_at, "
	    "expires_at, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
	    "$9, $10, $11)");
	pgq_text(&q, l->id);
	pgq_text(&q, l->code);
	pgq_blob(&q, l->secret_hash, 32);
	pgq_text(&q, l->device_id);
	pgq_text(&q, l->platform);
	pgq_text(&q, l->name);
	pgq_text(&q, link_status_names[l->status]);
	pgq_time(&q, l->user_id);
	pgq_int(&q, l->created_at);
	pgq_int(&q, l->expires_at);
	pgq_time(&q, l->decided_at);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/* The link of an id, in any state. */
int
pg_link_get(struct db *db, const char *id, struct link_row *l)
{
	struct pgq	 q;

	memset(l, 0, sizeof(*l));
	pgq_init(&q, db, "SELECT " LINK_COLS " FROM links WHERE id = $1");
	pgq_text(&q, id);
	return link_one(&q, l);
}

/* The link of a (canonical) code, in any state. */
int
pg_link_get_by_code(struct db *db, const char *code, struct link_row *l)
{
	struct pgq	 q;

	memset(l, 0, sizeof(*l));
	pgq_init(&q, db, "SELECT " LINK_COLS " FROM links WHERE code = $1");
	pgq_text(&q, code);
	return link_one(&q, l);
}

/*
 * Move a link from status `from` to `to`, decided now, bound to user_id
 * when it is not 0: DB_NOTFOUND when it is not in `from` (any more).
 */
int
pg_link_status_set(struct db *db, const char *id, enum link_status from,
    enum link_status to, int64_t user_id, int64_t now)
{
	struct pgq	 q;

	pgq_init(&q, db, "UPDATE links SET status = $3, "
	    "user_id = coalesce($4, user_id), decided_at = $5 "
	    "WHERE id = $1 AND status = $2");
	pgq_text(&q, id);
	pgq_text(&q, link_status_names[from]);
	pgq_text(&q, link_status_names[to]);
	pgq_time(&q, user_id);
	pgq_int(&q, now);
	return pgq_exec_one(&q);
}

/* Delete the links that expired before expired_before. */
int
pg_links_prune(struct db *db, int64_t expired_before)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "DELETE FROM links WHERE expires_at < $1");
	pgq_int(&q, expired_before);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * Whether the sweeper has anything to delete: a link that expired
 * before expired_before, or a wrong code older than misses_before.
 */
int
pg_links_due(struct db *db, int64_t expired_before, int64_t misses_before,
    int *due)
{
	struct pgq	 q;
	int64_t		 n;
	int		 rc;

	*due = 0;
	pgq_init(&q, db, "SELECT (EXISTS (SELECT 1 FROM links WHERE "
	    "expires_at < $1) OR EXISTS (SELECT 1 FROM link_misses WHERE "
	    "at < $2))::int");
	pgq_int(&q, expired_before);
	pgq_int(&q, misses_before);
	if ((rc = pgq_count(&q, &n)) == DB_OK)
		*due = n != 0;
	return rc;
}

/* One wrong code given by user at `at`. */
int
pg_link_miss_insert(struct db *db, int64_t user_id, int64_t at)
{
	struct pgq	 q;
	int		 rc;

	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "INSERT INTO link_misses (user_id, at) "
	    "VALUES ($1, $2)");
	pgq_int(&q, user_id);
	pgq_int(&q, at);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/*
 * The times of the user's wrong codes since `since`, newest first, at
 * most max of them, into at[0..*n).
 */
int
pg_link_misses_recent(struct db *db, int64_t user_id, int64_t since,
    int64_t *at, size_t max, size_t *n)
{
	struct pgq	 q;
	int		 rc, i;

	*n = 0;
	if ((rc = pg_user_lock(db, user_id)) != DB_OK)
		return rc;
	pgq_init(&q, db, "SELECT at FROM link_misses WHERE user_id = $1 "
	    "AND at >= $2 ORDER BY at DESC LIMIT $3");
	pgq_int(&q, user_id);
	pgq_int(&q, since);
	pgq_int(&q, (int64_t)max);
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows && *n < max; i++)
		at[(*n)++] = pgq_getint(&q, i, 0);
	pgq_clear(&q);
	return rc;
}

/* Forget the wrong codes older than before. */
int
pg_link_misses_prune(struct db *db, int64_t before)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "DELETE FROM link_misses WHERE at < $1");
	pgq_int(&q, before);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}
