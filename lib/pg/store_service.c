/*
 * PostgreSQL store: service keys (migrations/postgres/
 * 0005_service_keys.sql).  SQL only; the key check is
 * handlers/service.c's, the command line handlers/keys.c's, the rules
 * (names, scopes, the key's shape) lib/service_rules.c's.  A key is only
 * ever seen here as its SHA-256.  No user's row is locked: a key belongs
 * to no user.
 */
#include <string.h>

#include "pg.h"
#include "store_fns.h"

#define KEY_COLS	"name, scopes, created_at, last_used_at"

static void
key_read(const struct pgq *q, int i, struct service_key_row *k)
{
	memset(k, 0, sizeof(*k));
	pgq_copy(k->name, sizeof(k->name), q, i, 0);
	pgq_copy(k->scopes, sizeof(k->scopes), q, i, 1);
	k->created_at = pgq_getint(q, i, 2);
	k->last_used_at = pgq_gettime(q, i, 3);
}

/* A key; DB_CONSTRAINT when its name (or its hash) exists already. */
int
pg_service_key_insert(struct db *db, const char *name,
    const unsigned char hash[32], const char *scopes, int64_t now)
{
	struct pgq	 q;
	int		 rc;

	pgq_init(&q, db, "INSERT INTO service_keys (name, key_hash, "
	    "scopes, created_at) VALUES ($1, $2, $3, $4)");
	pgq_text(&q, name);
	pgq_blob(&q, hash, 32);
	pgq_text(&q, scopes);
	pgq_int(&q, now);
	rc = pgq_exec(&q);
	pgq_clear(&q);
	return rc;
}

/* The key whose SHA-256 is hash; DB_NOTFOUND when none (or revoked). */
int
pg_service_key_get_by_hash(struct db *db, const unsigned char hash[32],
    struct service_key_row *k)
{
	struct pgq	 q;
	int		 rc;

	memset(k, 0, sizeof(*k));
	pgq_init(&q, db, "SELECT " KEY_COLS " FROM service_keys "
	    "WHERE key_hash = $1");
	pgq_blob(&q, hash, 32);
	if ((rc = pgq_one(&q)) == DB_OK)
		key_read(&q, 0, k);
	pgq_clear(&q);
	return rc;
}

/* Every key, by name. */
int
pg_service_keys_list(struct db *db, service_key_cb cb, void *arg)
{
	struct service_key_row k;
	struct pgq	 q;
	int		 rc, i;

	pgq_init(&q, db, "SELECT " KEY_COLS " FROM service_keys "
	    "ORDER BY name");
	rc = pgq_exec(&q);
	for (i = 0; rc == DB_OK && i < q.rows; i++) {
		key_read(&q, i, &k);
		rc = cb(arg, &k);
	}
	pgq_clear(&q);
	return pg_iter_rc(rc);
}

/* Revoke: the row goes.  DB_NOTFOUND for an unknown name. */
int
pg_service_key_delete(struct db *db, const char *name)
{
	struct pgq	 q;

	pgq_init(&q, db, "DELETE FROM service_keys WHERE name = $1");
	pgq_text(&q, name);
	return pgq_exec_one(&q);
}

/*
 * last_used_at = now, when it was never written or is before (or at)
 * `before`: of many requests at once, one writes.  DB_NOTFOUND when none
 * did.
 */
int
pg_service_key_touch(struct db *db, const char *name, int64_t now,
    int64_t before)
{
	struct pgq	 q;

	pgq_init(&q, db, "UPDATE service_keys SET last_used_at = $2 "
	    "WHERE name = $1 AND (last_used_at IS NULL OR "
	    "last_used_at <= $3)");
	pgq_text(&q, name);
	pgq_int(&q, now);
	pgq_int(&q, before);
	return pgq_exec_one(&q);
}
