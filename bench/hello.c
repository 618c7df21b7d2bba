/*
 * Baseline B of make bench: the least a FastCGI app can do behind the same
 * nginx and TLS as tandemd.  Same model as tandemd: PROCS processes of
 * THREADS threads on FCGX_Accept_r, answering a small JSON document.
 *
 *	hello SOCKET [PROCS [THREADS]]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

static int sock;

static void *
serve(void *arg)
{
	FCGX_Request	 r;

	(void)arg;
	FCGX_InitRequest(&r, sock, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n"
		    "X-Request-Id: hello\r\n\r\n{\"status\":\"ok\"}\n", r.out);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int
main(int argc, char *argv[])
{
	int		 procs, threads, i, j;
	pthread_t	*tids;

	if (argc < 2) {
		fprintf(stderr, "usage: hello SOCKET [PROCS [THREADS]]\n");
		return 2;
	}
	procs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2;
	threads = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 64;
	if (procs < 1 || threads < 1)
		return 2;
	FCGX_Init();
	unlink(argv[1]);
	if ((sock = FCGX_OpenSocket(argv[1], 4096)) < 0)
		return 1;
	chmod(argv[1], 0660);
	for (i = 0; i < procs; i++) {
		if (fork() != 0)
			continue;
		tids = calloc((size_t)threads, sizeof(*tids));
		for (j = 0; j < threads; j++)
			pthread_create(&tids[j], NULL, serve, NULL);
		for (j = 0; j < threads; j++)
			pthread_join(tids[j], NULL);
		_exit(0);
	}
	while (wait(NULL) > 0)
		;
	return 0;
}
