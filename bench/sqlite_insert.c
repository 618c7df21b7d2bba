/*
 * Baseline C of make bench: the rows/s SQLite itself manages when the
 * same kind of rows a push writes go straight in, one transaction per
 * BATCH rows, with the pragmas tandemd uses (WAL, synchronous=FULL).
 *
 *	sqlite_insert DBFILE ROWS BATCH
 * prints: rows_per_s
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	long		 rows, batch, i;
	double		 t0, t1;
	char		 data[128];

	if (argc != 4)
		return 2;
	rows = strtol(argv[2], NULL, 10);
	batch = strtol(argv[3], NULL, 10);
	if (sqlite3_open(argv[1], &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE IF NOT EXISTS records (user_id INTEGER NOT NULL, "
	    "collection TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT "
	    "NULL, data TEXT, deleted INTEGER NOT NULL, modified_at INTEGER "
	    "NOT NULL, device_id TEXT, checksum TEXT, PRIMARY KEY (user_id, "
	    "collection, id)) WITHOUT ROWID;"
	    "CREATE INDEX IF NOT EXISTS records_version ON records "
	    "(user_id, version);", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO records VALUES "
	    "(1, 'bench', ?1, ?2, ?3, 0, ?2, 'dev', 'sha256:x')", -1, &st,
	    NULL);
	t0 = now_s();
	for (i = 0; i < rows; i++) {
		char id[32];

		if (i % batch == 0)
			sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		snprintf(id, sizeof(id), "r%ld", i);
		snprintf(data, sizeof(data), "{\"n\":%ld,\"text\":\"hello "
		    "world\",\"done\":false}", i);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, i + 1);
		sqlite3_bind_text(st, 3, data, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
		sqlite3_reset(st);
		if (i % batch == batch - 1 || i == rows - 1)
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	t1 = now_s();
	printf("%.0f\n", (double)rows / (t1 - t0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}
