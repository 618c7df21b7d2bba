/*
 * What the unit tests of lib/db* share: a temporary directory per test
 * binary (made by the group setup, removed by the group teardown) and SQL
 * run for fixtures, failing the test when it does not run.  Include after
 * cmocka.h and db.h.
 */
#ifndef TANDEM_UNIT_DB_H
#define TANDEM_UNIT_DB_H

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Run sql on db; the test fails with SQLite's message if it does not. */
static inline void
unit_exec(struct db *db, const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(db->conn, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
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

#endif
