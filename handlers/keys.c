/*
 * tandemd key: the operator's commands for service keys (API.md
 * "Service keys"), on the server's own configuration (TANDEM_DATA_DIR or
 * TANDEM_DB_URL) and schema (migrated first, as `tandemd serve` does):
 *
 *	tandemd key create NAME --scope events,records
 *	tandemd key list
 *	tandemd key revoke NAME
 *
 * create prints the key, once, alone on standard output (so that
 * KEY=$(tandemd key create ...) keeps it), and stores only its SHA-256;
 * list prints a line per key: name, scopes, created and last used (UTC,
 * or "never"), separated by tabs; revoke deletes the key, and the server
 * refuses it from its next request on (handlers/service.c looks every
 * key up).  Exit status: 0; 1 when the command failed (a name that
 * exists or is unknown, the database); 2 for a bad command line (a bad
 * NAME or scope).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "db.h"
#include "handlers.h"
#include "server.h"
#include "service_rules.h"
#include "store.h"

#define KEYS_USAGE	"usage: tandemd key create NAME --scope " \
	"events|records|events,records\n" \
	"       tandemd key list\n" \
	"       tandemd key revoke NAME\n"

struct create_op {
	const char	*name;
	const char	*scopes;
	unsigned char	 hash[32];
	int64_t		 now;
};

static int
create_tx(struct db *db, void *arg)
{
	struct create_op *c = arg;

	return db_service_key_insert(db, c->name, c->hash, c->scopes,
	    c->now);
}

static int
revoke_tx(struct db *db, void *arg)
{
	struct create_op *c = arg;

	return db_service_key_delete(db, c->name);
}

/* t (ms since the epoch) as "2026-12-01T10:00:00Z", or "never" for 0. */
static const char *
utc(int64_t t, char *out, size_t outsz)
{
	struct tm	 tm;
	time_t		 s = (time_t)(t / 1000);

	if (t == 0 || gmtime_r(&s, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "%s", t == 0 ? "never" : "?");
	return out;
}

static int
list_one(void *arg, const struct service_key_row *k)
{
	char	 c[32], u[32];

	(void)arg;
	printf("%s\t%s\t%s\t%s\n", k->name, k->scopes,
	    utc(k->created_at, c, sizeof(c)),
	    utc(k->last_used_at, u, sizeof(u)));
	return DB_OK;
}

static int
list_read(struct db *db, void *arg)
{
	return db_service_keys_list(db, list_one, arg);
}

/*
 * The arguments of `key create`: NAME and --scope LIST (or
 * --scope=LIST), in either order.  Returns 0, or 2 after saying why.
 */
static int
create_args(int argc, char *argv[], const char **name, const char **scope)
{
	int	 i;

	*name = *scope = NULL;
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc &&
		    *scope == NULL)
			*scope = argv[++i];
		else if (strncmp(argv[i], "--scope=", 8) == 0 &&
		    *scope == NULL)
			*scope = argv[i] + 8;
		else if (argv[i][0] != '-' && *name == NULL)
			*name = argv[i];
		else {
			fprintf(stderr, "tandemd: key create: unexpected "
			    "argument %s\n%s", argv[i], KEYS_USAGE);
			return 2;
		}
	}
	if (*name == NULL || *scope == NULL) {
		fprintf(stderr, "tandemd: key create: %s is required\n%s",
		    *name == NULL ? "NAME" : "--scope", KEYS_USAGE);
		return 2;
	}
	return 0;
}

/*
 * Check the command line of `key create` into c (its scopes written in
 * their one form into scopes), before the database is touched.  Returns
 * 0, or 2 after saying why.
 */
static int
create_check(int argc, char *argv[], struct create_op *c,
    char scopes[SERVICE_SCOPES_TEXT])
{
	unsigned	 set;
	int		 rc;

	if ((rc = create_args(argc, argv, &c->name, &c->scopes)) != 0)
		return rc;
	if (!service_name_valid(c->name)) {
		fprintf(stderr, "tandemd: key create: NAME is 1..64 of "
		    "[a-z0-9_-]: %s\n", c->name);
		return 2;
	}
	if (service_scopes_parse(c->scopes, &set) == -1 ||
	    service_scopes_text(set, scopes, SERVICE_SCOPES_TEXT) == -1) {
		fprintf(stderr, "tandemd: key create: --scope is events, "
		    "records or both, comma-separated: %s\n", c->scopes);
		return 2;
	}
	c->scopes = scopes;
	return 0;
}

/* Make key c (checked) and print it.  Returns the exit status. */
static int
key_create(struct db *db, struct create_op *c)
{
	char	 key[AUTH_SERVICE_KEY_LEN + 1];
	int	 rc;

	if (auth_service_key(key) == -1) {
		fprintf(stderr, "tandemd: key create: no random bytes\n");
		return 1;
	}
	auth_token_hash(key, c->hash);
	c->now = now_ms();
	rc = db_tx(db, create_tx, c);
	if (rc == DB_CONSTRAINT) {
		fprintf(stderr, "tandemd: key create: a key named %s exists; "
		    "revoke it first, or choose another name\n", c->name);
		rc = 1;
	} else if (rc != DB_OK) {
		fprintf(stderr, "tandemd: key create: the database failed "
		    "(%s)\n", db_rc_names[rc]);
		rc = 1;
	} else {
		printf("%s\n", key);
		fprintf(stderr, "tandemd: created service key %s (%s); it is "
		    "shown this once, only its hash is kept\n", c->name,
		    c->scopes);
		rc = 0;
	}
	memset(key, 0, sizeof(key));
	return rc;
}

/* Revoke key name (checked).  Returns the exit status. */
static int
key_revoke(struct db *db, struct create_op *c)
{
	int	 rc;

	rc = db_tx(db, revoke_tx, c);
	if (rc == DB_NOTFOUND) {
		fprintf(stderr, "tandemd: key revoke: no key named %s\n",
		    c->name);
		return 1;
	}
	if (rc != DB_OK) {
		fprintf(stderr, "tandemd: key revoke: the database failed "
		    "(%s)\n", db_rc_names[rc]);
		return 1;
	}
	printf("revoked %s\n", c->name);
	return 0;
}

/*
 * tandemd key SUBCOMMAND ...: argv[0] is "key".  The configuration is
 * loaded and the engine chosen (main.c).  Returns the exit status.
 */
int
keys_command(int argc, char *argv[])
{
	struct create_op c;
	struct db	*db = NULL;
	const char	*sub = argc > 1 ? argv[1] : "";
	char		 scopes[SERVICE_SCOPES_TEXT];
	int		 rc;

	memset(&c, 0, sizeof(c));
	if (strcmp(sub, "create") == 0) {
		if ((rc = create_check(argc - 2, argv + 2, &c, scopes)) != 0)
			return rc;
	} else if (strcmp(sub, "revoke") == 0 && argc == 3) {
		c.name = argv[2];
		if (!service_name_valid(c.name)) {
			fprintf(stderr, "tandemd: key revoke: NAME is 1..64 "
			    "of [a-z0-9_-]: %s\n", c.name);
			return 2;
		}
	} else if (!(strcmp(sub, "list") == 0 && argc == 2)) {
		fprintf(stderr, "%s", KEYS_USAGE);
		return 2;
	}
	if (server_mkdirs() == -1 || db_migrate() == -1 ||
	    (db = db_open()) == NULL) {
		fprintf(stderr, "tandemd: key: cannot open the database\n");
		db_close(db);
		return 1;
	}
	if (strcmp(sub, "create") == 0)
		rc = key_create(db, &c);
	else if (strcmp(sub, "revoke") == 0)
		rc = key_revoke(db, &c);
	else if ((rc = db_read(db, list_read, NULL)) != DB_OK) {
		fprintf(stderr, "tandemd: key list: the database failed "
		    "(%s)\n", db_rc_names[rc]);
		rc = 1;
	}
	db_close(db);
	return rc;
}
