/*
 * tandemd: the command line.  The processes are lib/server.c's; what
 * they serve is the route table (handlers/routes.c) and the sweeper
 * (handlers/sweeper.c).
 *
 *	tandemd [serve]		run the server (the default)
 *	tandemd migrate		apply migrations and exit
 *	tandemd backup FILE	write a consistent copy of the database
 *	tandemd key ...		create, list and revoke service keys
 *				(handlers/keys.c)
 *	tandemd config		print the configuration table (Markdown)
 *	tandemd version
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "version.h"

int
main(int argc, char *argv[])
{
	static const struct server_hooks hooks = { dispatch, sweeper_run,
	    events_worker_start };
	char		 err[1024];
	const char	*cmd = argc > 1 ? argv[1] : "serve";
	int		 rc;

	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("tandemd %s\n", TANDEM_VERSION);
		return 0;
	}
	if (config_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "tandemd: %s\n", err);
		return 2;
	}
	log_set_level(cfg.log_level);
	if (db_engine_select(cfg.db_url) == -1) {
		fprintf(stderr, "tandemd: TANDEM_DB_URL: this build has no "
		    "engine for it\n");
		config_free();
		return 2;
	}
	if (strcmp(cmd, "serve") == 0)
		rc = server_serve(&hooks);
	else if (strcmp(cmd, "migrate") == 0)
		rc = server_mkdirs() == -1 || db_migrate() == -1;
	else if (strcmp(cmd, "config") == 0)
		rc = config_dump_table();
	else if (strcmp(cmd, "backup") == 0 && argc == 3)
		rc = db_engine()->backup(argv[2]) == -1;
	else if (strcmp(cmd, "key") == 0)
		rc = keys_command(argc - 1, argv + 1);
	else {
		fprintf(stderr, "usage: tandemd [serve | migrate | config | "
		    "backup FILE | key ... | version]\n");
		rc = 2;
	}
	config_free();
	return rc;
}
