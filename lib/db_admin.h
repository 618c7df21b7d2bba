/*
 * db_admin: the server-wide counts of the admin status page and /metrics.
 * The only queries that are not scoped to one user: they count, and
 * return no user's data.
 */
#ifndef TANDEM_DB_ADMIN_H
#define TANDEM_DB_ADMIN_H

#include <stdint.h>

struct db;

/* Tables the counts read that a database may not have (yet). */
#define DB_ADMIN_NO_SESSIONS	0x1
#define DB_ADMIN_NO_MESSAGES	0x2
#define DB_ADMIN_NO_RECORDS	0x4
#define DB_ADMIN_NO_CONFLICTS	0x8

struct db_admin_counts {
	int64_t	 db_bytes;		/* pages in use and free */
	int64_t	 users;
	int64_t	 devices_total;		/* not revoked */
	int64_t	 devices_online;	/* not revoked, seen within the TTL */
	int64_t	 sessions_active;
	int64_t	 sessions_killed;
	int64_t	 messages;
	int64_t	 records;		/* live records, tombstones not */
	int64_t	 tombstones;
	int64_t	 conflicts_open;
	int	 missing;		/* DB_ADMIN_NO_* of absent tables */
};

int	 db_admin_counts(struct db *, int64_t now_ms, int64_t presence_ttl_ms,
	    struct db_admin_counts *);

#endif
