/*
 * server: the master, worker and sweeper processes of tandemd (see
 * server.c).  What they serve comes from the product (handlers/): lib/
 * knows no route.
 */
#ifndef TANDEM_SERVER_H
#define TANDEM_SERVER_H

#include <fcgiapp.h>

struct server_hooks {
	/* serve one request; 1: handed over (keep it, use a new one) */
	int	(*dispatch)(FCGX_Request *);
	void	(*sweep)(void);			/* one sweeper run */
	void	(*worker_start)(void);		/* each worker, before accepting */
};

int	 server_serve(const struct server_hooks *);
int	 server_mkdirs(void);

#endif
