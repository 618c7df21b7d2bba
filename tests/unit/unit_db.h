/*
 * What the unit tests of the storage layers share: a temporary directory
 * per test binary (made by the group setup, removed by the group
 * teardown), a migrated database in it, SQL run for fixtures and checks
 * through the SQLite engine's own connection (struct sq, lib/sqlite/
 * sqlite.h: the tests know which engine they run on; lib/db and the
 * operations do not), and a way to call an operation's handler as the
 * dispatcher would.  Include after cmocka.h.
 */
#ifndef TANDEM_UNIT_DB_H
#define TANDEM_UNIT_DB_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "handlers.h"
#include "http.h"
#include "log.h"
#include "sqlite/sqlite.h"
#include "store.h"

/* Run sql on db; the test fails with SQLite's message if it does not. */
static inline void
unit_exec(struct db *db, const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(SQ(db)->conn, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* unit_exec of a formatted statement (fixtures: numbers and ids only). */
static inline void __attribute__((format(printf, 2, 3)))
unit_execf(struct db *db, const char *fmt, ...)
{
	char	 sql[4096];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sql))
		fail_msg("fixture too long: %s", fmt);
	unit_exec(db, sql);
}

/*
 * The integer in the first column of the first row of a formatted query
 * (NULL reads 0); the test fails when there is no row.
 */
static inline int64_t __attribute__((format(printf, 2, 3)))
unit_int(struct db *db, const char *fmt, ...)
{
	sqlite3_stmt	*st = NULL;
	char		 sql[2048];
	int64_t		 v;
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(SQ(db)->conn, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(SQ(db)->conn));
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		fail_msg("%s: no row", sql);
	}
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Make the directory from its "…XXXXXX" template, quiet the log.  0/-1. */
static inline int
unit_dir_make(char *dir)
{
	log_set_level("error");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

/* Remove the directory and what the tests left in it.  0/-1. */
static inline int
unit_dir_remove(const char *dir)
{
	char	 cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * The group setup of a binary that uses a database: the directory, the
 * configuration (TANDEM_* as the caller set them, the data directory
 * there) and the log quiet.  0/-1.
 */
static inline int
unit_setup(char *dir)
{
	char	 err[256];

	if (unit_dir_make(dir) == -1)
		return -1;
	setenv("TANDEM_DATA_DIR", dir, 1);
	unsetenv("TANDEM_DB");
	if (config_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	return 0;
}

static inline int
unit_teardown(const char *dir)
{
	db_pool_close();
	config_free();
	return unit_dir_remove(dir);
}

/*
 * A new database dir/name, migrated, made the engine's (cfg.db_path),
 * with a pool of one connection to it for the operations unit_call
 * runs, and a connection of the caller's own (db_close it).
 */
static inline struct db *
unit_db_fresh(const char *dir, const char *name)
{
	struct db	*db;
	char		 path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	free(cfg.db_path);
	cfg.db_path = strdup(path);
	assert_non_null(cfg.db_path);
	assert_int_equal(db_migrate(), 0);
	db_pool_close();
	assert_int_equal(db_pool_open(1), 0);
	db = db_open();
	assert_non_null(db);
	return db;
}

/* A user row with id `id` (its public id "u<id>"). */
static inline void
unit_user(struct db *db, int64_t id)
{
	unit_execf(db, "INSERT INTO users (id, public_id, email, "
	    "password_hash, created_at) VALUES (%lld, 'u%lld', "
	    "'u%lld@example.org', 'h', 0)", (long long)id, (long long)id,
	    (long long)id);
}

/* An active device of user, seen at `seen` (ms), online, in family f. */
static inline void
unit_device(struct db *db, int64_t user, const char *id, int64_t seen)
{
	unit_execf(db, "INSERT INTO devices (user_id, id, platform, name, "
	    "created_at, last_seen_at, online, family) VALUES (%lld, '%s', "
	    "'test', '%s', 0, %lld, 1, 'fam-%s')", (long long)user, id, id,
	    (long long)seen, id);
}

/* The request an operation is called with (unit_call). */
struct unit_req {
	int64_t		 user_id;
	const char	*device_id;	/* the token's device */
	const char	*param;		/* a path parameter's name, or NULL */
	const char	*value;		/* its value */
	const char	*query;		/* the query string, or NULL */
	const char	*body;		/* JSON text, or NULL */
};

/*
 * Call handler h as the dispatcher would after its front-line work (the
 * token checked, the body parsed): it borrows a connection of the pool
 * (unit_db_fresh), which is given back after it.  resp is set up here;
 * the caller frees it (resp_free).  Returns the status.
 */
static inline int
unit_call(handler_fn h, const struct unit_req *u, struct resp *resp)
{
	struct req	 req;
	json_error_t	 jerr;
	int		 status;

	req_init(&req);
	resp_init(resp);
	req.method = HTTP_POST;
	req.user_id = u->user_id;
	req.device_id = u->device_id != NULL ? strdup(u->device_id) : NULL;
	req.query = strdup(u->query != NULL ? u->query : "");
	assert_non_null(req.query);
	if (u->param != NULL && u->value != NULL) {
		req.param_names[0] = u->param;
		req.params[0] = strdup(u->value);
		req.nparams = 1;
	}
	if (u->body != NULL &&
	    (req.json = json_loads(u->body, JSON_DECODE_ANY |
	    JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		fail_msg("%s: %s", u->body, jerr.text);
	status = h(&req, resp);
	req_db_release(&req);
	req_free(&req);
	return status;
}

/* The problem code of an answer ("" when it has none). */
static inline const char *
unit_code(const struct resp *resp)
{
	const char	*c = json_string_value(json_object_get(resp->body,
			    "code"));

	return c != NULL ? c : "";
}

#endif
