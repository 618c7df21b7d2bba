/*
 * server: the master, worker and sweeper processes of tandemd (see
 * server.c).  What they serve comes from the product (handlers/): lib/
 * knows no route.
 */
#ifndef TANDEM_SERVER_H
#define TANDEM_SERVER_H

#include <fcgiapp.h>

struct server_hooks {
	void	(*dispatch)(FCGX_Request *);	/* serve one request */
	void	(*sweep)(void);			/* one sweeper run */
};

int	 server_serve(const struct server_hooks *);
int	 server_mkdirs(void);

#endif
