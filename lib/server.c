/*
 * server: the processes of tandemd.  The master opens the FastCGI
 * socket, brings the schema up to date, maps the shared memory (doorbell,
 * rate limiter, waits, stats), then forks TANDEM_WORKERS worker processes
 * and one sweeper process, and restarts any that die.  Each worker runs
 * TANDEM_THREADS threads looping on FCGX_Accept_r and handing each
 * request to hooks->dispatch; the sweeper runs hooks->sweep every
 * TANDEM_SWEEP_MS.  SIGTERM: workers stop accepting, answer waiting long
 * polls at once, let in-flight requests finish, and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "auth.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "keyhash.h"
#include "log.h"
#include "park.h"
#include "rand.h"
#include "ratelimit.h"
#include "server.h"
#include "stats.h"
#include "version.h"

#define LISTEN_BACKLOG	65535	/* capped by net.core.somaxconn */
#define SOMAXCONN_WANT	16384	/* 10,000 polls answered at once */
#include "waits.h"

#define THREAD_STACK	(256 * 1024)

struct worker_thread {
	pthread_t	 tid;
	_Atomic int	 busy;		/* serving a request */
	_Atomic int	 done;
};

static int listen_fd = -1;
static const struct server_hooks *hooks;
static _Atomic int stopping;
static struct worker_thread *threads;

/* The database connections are stale: stop gracefully; the master
 * starts a fresh process. */
static void
restart_self(void)
{
	static _Atomic int once;

	if (atomic_exchange(&once, 1) == 0)
		kill(getpid(), SIGTERM);
}

static void
on_usr1(int sig)
{
	(void)sig;
}

static void *
worker_thread_main(void *arg)
{
	struct worker_thread *t = arg;
	FCGX_Request	*r = NULL;
	sigset_t	 set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!atomic_load(&stopping)) {
		/*
		 * Each request is a heap object: one a handler hands over
		 * (to wait without this thread) belongs to it from then on,
		 * and the next accept takes a new one.
		 */
		if (r == NULL && ((r = malloc(sizeof(*r))) == NULL ||
		    FCGX_InitRequest(r, listen_fd,
		    FCGI_FAIL_ACCEPT_ON_INTR) != 0)) {
			log_msg(LOG_ERROR, "accept: out of memory");
			free(r);
			r = NULL;
			sleep(1);
			continue;
		}
		if (FCGX_Accept_r(r) < 0) {
			if (atomic_load(&stopping))
				break;
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERROR, "accept: %s", strerror(errno));
			sleep(1);
			continue;
		}
		atomic_store(&t->busy, 1);
		if (hooks->dispatch(r) == 1)
			r = NULL;	/* handed over */
		else
			FCGX_Finish_r(r);
		atomic_store(&t->busy, 0);
	}
	if (r != NULL) {
		FCGX_Free(r, 1);
		free(r);
	}
	atomic_store(&t->done, 1);
	return NULL;
}

/*
 * A worker process: its own connection pool and threads.  Returns only to
 * exit: 0 after a clean stop.
 */
static int
worker_main(int slot)
{
	pthread_attr_t	 attr;
	struct sigaction sa;
	sigset_t	 set;
	int		 sig, i, n = (int)cfg.threads, started = 0, alive;
	int64_t		 deadline;

	stats_worker_start(slot, getpid());
	waits_worker_start(slot);
	db_set_stale_handler(restart_self);
	if (db_pool_open((int)cfg.db_pool) == -1 || auth_init() == -1)
		return 1;
	if (hooks->worker_start != NULL)
		hooks->worker_start();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART: accept() returns */
	sigaction(SIGUSR1, &sa, NULL);
	if ((threads = calloc((size_t)n, sizeof(*threads))) == NULL)
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (i = 0; i < n; i++) {
		if (pthread_create(&threads[i].tid, &attr, worker_thread_main,
		    &threads[i]) != 0) {
			log_msg(LOG_WARN, "started %d of %d threads", i, n);
			break;
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	log_json(LOG_INFO, "worker started", json_pack("{s:i, s:i}",
	    "slot", slot, "threads", started));

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	do {
		if (sigwait(&set, &sig) != 0)
			sig = 0;
	} while (sig != SIGTERM && sig != SIGINT);

	atomic_store(&stopping, 1);
	doorbell_shutdown();
	/* every request waiting without a thread answers now */
	park_stop();
	deadline = mono_us() + cfg.shutdown_grace_s * 1000000;
	for (;;) {
		alive = 0;
		for (i = 0; i < started; i++) {
			if (atomic_load(&threads[i].done))
				continue;
			alive++;
			if (!atomic_load(&threads[i].busy))
				pthread_kill(threads[i].tid, SIGUSR1);
		}
		if (alive == 0)
			break;
		if (mono_us() > deadline) {
			log_msg(LOG_WARN, "%d requests still running at "
			    "shutdown", alive);
			_exit(0);
		}
		doorbell_ring_all();
		usleep(20000);
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i].tid, NULL);
	free(threads);
	db_pool_close();
	log_msg(LOG_INFO, "worker stopped");
	return 0;
}

static int
sweeper_main(void)
{
	sigset_t	 set;
	struct timespec	 ts;
	int		 sig;

	db_set_stale_handler(restart_self);
	/* the host's one listener for other hosts' commits (many hosts) */
	if (db_listen_start() == -1)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	ts.tv_sec = cfg.sweep_ms / 1000;
	ts.tv_nsec = (cfg.sweep_ms % 1000) * 1000000;
	for (;;) {
		hooks->sweep();
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	return 0;
}

/*
 * Read the JWT secret from DATA_DIR/jwt.secret, creating it (0600, 32
 * random bytes as hex) on first start, unless TANDEM_JWT_SECRET is set.
 */
static int
secret_load(void)
{
	struct buf	 path, content;
	char		 hex[65], chunk[256];
	ssize_t		 n;
	int		 fd = -1, rc = -1;

	if (cfg.jwt_secret != NULL)
		return 0;
	buf_init(&path, 4096);
	buf_init(&content, 4096);
	if (buf_addf(&path, "%s/jwt.secret", cfg.data_dir) == -1)
		goto out;
	fd = open(buf_str(&path), O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd != -1) {
		if (rand_hex(hex, 32) == -1)
			goto out;
		if (write(fd, hex, 64) != 64 || fsync(fd) == -1)
			goto out;
		close(fd);
		log_msg(LOG_INFO, "created %s", buf_str(&path));
	} else if (errno != EEXIST)
		goto out;
	if ((fd = open(buf_str(&path), O_RDONLY)) == -1)
		goto out;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_add(&content, chunk, (size_t)n) == -1)
			goto out;
	while (content.len > 0 && (content.data[content.len - 1] == '\n' ||
	    content.data[content.len - 1] == '\r'))
		content.data[--content.len] = '\0';
	if (content.len < 32) {
		log_msg(LOG_ERROR, "%s: want at least 32 bytes",
		    buf_str(&path));
		goto out;
	}
	cfg.jwt_secret_len = content.len;
	cfg.jwt_secret = buf_detach(&content);
	rc = 0;
out:
	if (rc == -1 && cfg.jwt_secret == NULL)
		log_msg(LOG_ERROR, "cannot read or create %s: %s",
		    buf_str(&path), strerror(errno));
	if (fd != -1)
		close(fd);
	buf_release(&path);
	buf_release(&content);
	return rc;
}

/* The data directory and the socket's directory.  Returns 0 or -1. */
int
server_mkdirs(void)
{
	struct buf	 run;
	int		 rc = 0;

	buf_init(&run, 4096);
	if (mkdir(cfg.data_dir, 0750) == -1 && errno != EEXIST)
		rc = -1;
	buf_addf(&run, "%s", cfg.socket_path);
	if (strrchr(run.data, '/') != NULL) {
		*strrchr(run.data, '/') = '\0';
		if (mkdir(run.data, 0750) == -1 && errno != EEXIST)
			rc = -1;
	}
	buf_release(&run);
	return rc;
}

struct child {
	pid_t	 pid;
	int	 slot;		/* worker slot, or -1 for the sweeper */
	int64_t	 started_us;
};

static pid_t
spawn(struct child *c)
{
	pid_t	 master = getpid(), pid = fork();

	if (pid == 0) {
		/* A master killed with -9 takes its children with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != master)
			_exit(0);
		int rc = c->slot >= 0 ? worker_main(c->slot) : sweeper_main();
		/* exit(), not _exit(): LeakSanitizer checks at exit */
		exit(rc);
	}
	if (pid > 0) {
		c->pid = pid;
		c->started_us = mono_us();
	}
	return pid;
}

/*
 * Every waiting poll holds its FastCGI connection: take the hard file
 * limit (the workers inherit it), and say how many that is.
 */
static void
nofile_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_msg(LOG_WARN, "cannot raise the file limit: %s",
			    strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096)
		log_msg(LOG_WARN, "the file limit is %llu: each waiting poll "
		    "holds a file; raise it (LimitNOFILE=)",
		    (unsigned long long)rl.rlim_cur);
}

/* What listen() really got; below SOMAXCONN_WANT a burst of re-polls can
 * overflow it (OPERATIONS.md, "Sizing"). */
static void
backlog_check(void)
{
	FILE	*f;
	long	 max = -1;

	if ((f = fopen("/proc/sys/net/core/somaxconn", "r")) == NULL)
		return;
	if (fscanf(f, "%ld", &max) != 1)
		max = -1;
	fclose(f);
	if (max >= 0 && max < SOMAXCONN_WANT)
		log_msg(LOG_INFO, "the FastCGI listen backlog is %ld "
		    "(net.core.somaxconn); %d or more keeps a burst of "
		    "re-polls from being refused with 502", max,
		    SOMAXCONN_WANT);
}

/*
 * Run the server until SIGTERM or SIGINT: open the FastCGI socket, bring
 * the schema up to date, map the shared memory, fork the workers and the
 * sweeper, and restart any that die.  h names what a worker serves and
 * what the sweeper does.  Returns the exit status.
 */
int
server_serve(const struct server_hooks *h)
{
	struct child	*kids;
	sigset_t	 set;
	int		 i, n = (int)cfg.workers + 1, sig, status, alive;
	pid_t		 pid;
	int64_t		 deadline;

	hooks = h;
	/*
	 * A fixed mmap threshold: argon2's 19 MiB blocks are mapped and
	 * unmapped per hash instead of lifting glibc's dynamic threshold and
	 * staying in the heap (about 900 MB resident after a login storm).
	 */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_MXFAST, 0);
	nofile_raise();
	if (server_mkdirs() == -1 || secret_load() == -1)
		return 1;
	if (db_migrate() == -1)
		return 1;
	if (keyhash_init() == -1) {
		log_msg(LOG_ERROR, "cannot key the shared tables' hash");
		return 1;
	}
	if (doorbell_init() == -1 || ratelimit_init() == -1 ||
	    stats_init() == -1 || waits_init((int)cfg.workers) == -1) {
		log_msg(LOG_ERROR, "cannot map shared memory");
		return 1;
	}
	if (FCGX_Init() != 0)
		return 1;
	unlink(cfg.socket_path);
	/*
	 * The deepest backlog the kernel gives (listen caps it at
	 * net.core.somaxconn): when thousands of waiting polls are answered
	 * at once their next polls arrive together, and a unix socket whose
	 * backlog is full refuses nginx's connect (EAGAIN: a 502).
	 */
	if ((listen_fd = FCGX_OpenSocket(cfg.socket_path, LISTEN_BACKLOG)) < 0) {
		log_msg(LOG_ERROR, "cannot listen on %s", cfg.socket_path);
		return 1;
	}
	backlog_check();
	chmod(cfg.socket_path, 0660);

	/* Every process handles its signals with sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((kids = calloc((size_t)n, sizeof(*kids))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		kids[i].slot = i < n - 1 ? i : -1;
		if (spawn(&kids[i]) == -1)
			log_msg(LOG_ERROR, "fork: %s", strerror(errno));
	}
	log_json(LOG_INFO, "tandemd started", json_pack("{s:s, s:s, s:I, s:I}",
	    "version", TANDEM_VERSION, "socket", cfg.socket_path,
	    "workers", (json_int_t)cfg.workers,
	    "threads", (json_int_t)cfg.threads));

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig != SIGCHLD)
			continue;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n; i++)
				if (kids[i].pid == pid)
					break;
			if (i == n)
				continue;
			log_json(LOG_WARN, "child died; restarting",
			    json_pack("{s:i, s:i, s:i}", "child", (int)pid,
			    "slot", kids[i].slot, "status", status));
			/* a crash loop restarts at most once a second */
			if (mono_us() - kids[i].started_us < 1000000)
				sleep(1);
			kids[i].pid = 0;
			if (spawn(&kids[i]) == -1)
				log_msg(LOG_ERROR, "fork: %s",
				    strerror(errno));
		}
	}

	log_msg(LOG_INFO, "stopping");
	for (i = 0; i < n; i++)
		if (kids[i].pid > 0)
			kill(kids[i].pid, SIGTERM);
	deadline = mono_us() + (cfg.shutdown_grace_s + 5) * 1000000;
	for (;;) {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (i = 0; i < n; i++)
				if (kids[i].pid == pid)
					kids[i].pid = 0;
		for (alive = 0, i = 0; i < n; i++)
			alive += kids[i].pid > 0;
		if (alive == 0)
			break;
		if (mono_us() > deadline) {
			for (i = 0; i < n; i++)
				if (kids[i].pid > 0)
					kill(kids[i].pid, SIGKILL);
		}
		usleep(20000);
	}
	unlink(cfg.socket_path);
	free(kids);
	log_msg(LOG_INFO, "stopped");
	return 0;
}

