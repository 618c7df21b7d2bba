/*
 * Unit tests for lib/doorbell: the shared-memory futex buckets that wake
 * long polls across worker processes.  The interesting cases fork, as the
 * master does: a child waits, the parent rings (and the other way round),
 * and a ring that lands between a waiter's read and its sleep must still
 * wake it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "doorbell.h"

#define USER_A	42

static int64_t
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A user whose bucket is not USER_A's: ringing one leaves the other. */
static int64_t
other_user(void)
{
	int64_t	 u;
	uint32_t before;

	for (u = USER_A + 1;; u++) {
		before = doorbell_read(u);
		doorbell_ring(USER_A);
		if (doorbell_read(u) == before)
			return u;
	}
}

/* Fork; the child runs fn and exits with its result (0 = passed). */
static pid_t
child(int (*fn)(void *), void *arg)
{
	pid_t	 pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static int
child_status(pid_t pid)
{
	int	 st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
setup(void **state)
{
	(void)state;
	return doorbell_init();
}

static void
test_ring_moves_counter(void **state)
{
	uint32_t before;

	(void)state;
	before = doorbell_read(USER_A);
	doorbell_ring(USER_A);
	assert_int_equal(doorbell_read(USER_A), before + 1);
	doorbell_ring_all();
	assert_int_equal(doorbell_read(USER_A), before + 2);
}

static void
test_wait_times_out(void **state)
{
	int64_t	 t0;
	int	 rc;

	(void)state;
	t0 = ms_now();
	rc = doorbell_wait(USER_A, doorbell_read(USER_A), 150);
	assert_int_equal(rc, 0);
	assert_true(ms_now() - t0 >= 140);
	assert_true(ms_now() - t0 < 1000);
}

static void
test_wait_on_stale_value_returns_at_once(void **state)
{
	uint32_t seen;
	int64_t	 t0;

	(void)state;
	seen = doorbell_read(USER_A);
	doorbell_ring(USER_A);
	t0 = ms_now();
	assert_int_equal(doorbell_wait(USER_A, seen, 5000), 1);
	assert_true(ms_now() - t0 < 100);
}

struct pipes {
	int	 up[2];		/* child -> parent */
	int	 down[2];	/* parent -> child */
	int64_t	 user;
};

static void
pipes_open(struct pipes *p, int64_t user)
{
	assert_int_equal(pipe(p->up), 0);
	assert_int_equal(pipe(p->down), 0);
	p->user = user;
}

static void
pipes_close(struct pipes *p)
{
	close(p->up[0]);
	close(p->up[1]);
	close(p->down[0]);
	close(p->down[1]);
}

/* Child: announce, then wait up to 5 s; pass when woken within 2 s. */
static int
waiter(void *arg)
{
	struct pipes	*p = arg;
	uint32_t	 seen = doorbell_read(p->user);
	int64_t		 t0;
	char		 c = 'r';

	if (write(p->up[1], &c, 1) != 1)
		return 10;
	t0 = ms_now();
	if (doorbell_wait(p->user, seen, 5000) != 1)
		return 1;
	return ms_now() - t0 < 2000 ? 0 : 2;
}

static void
test_ring_wakes_other_process(void **state)
{
	struct pipes	 p;
	pid_t		 pid;
	char		 c;

	(void)state;
	pipes_open(&p, USER_A);
	pid = child(waiter, &p);
	assert_int_equal(read(p.up[0], &c, 1), 1);
	usleep(50000);		/* let it fall asleep */
	doorbell_ring(USER_A);
	assert_int_equal(child_status(pid), 0);
	pipes_close(&p);
}

/*
 * Child: read the counter, let the parent ring, only then sleep.  The
 * sleep must return at once: the ring happened after the read.
 */
static int
late_sleeper(void *arg)
{
	struct pipes	*p = arg;
	uint32_t	 seen = doorbell_read(p->user);
	int64_t		 t0;
	char		 c = 'r';

	if (write(p->up[1], &c, 1) != 1 || read(p->down[0], &c, 1) != 1)
		return 10;
	t0 = ms_now();
	if (doorbell_wait(p->user, seen, 3000) != 1)
		return 1;
	return ms_now() - t0 < 100 ? 0 : 2;
}

static void
test_ring_between_read_and_sleep_is_not_lost(void **state)
{
	struct pipes	 p;
	pid_t		 pid;
	char		 c = 'g';

	(void)state;
	pipes_open(&p, USER_A);
	pid = child(late_sleeper, &p);
	assert_int_equal(read(p.up[0], &c, 1), 1);
	doorbell_ring(USER_A);
	assert_int_equal(write(p.down[1], &c, 1), 1);
	assert_int_equal(child_status(pid), 0);
	pipes_close(&p);
}

/* Child: wait on another user's bucket; pass when it times out. */
static int
bystander(void *arg)
{
	struct pipes	*p = arg;
	uint32_t	 seen = doorbell_read(p->user);
	char		 c = 'r';

	if (write(p->up[1], &c, 1) != 1)
		return 10;
	return doorbell_wait(p->user, seen, 300) == 0 ? 0 : 1;
}

static void
test_other_users_ring_does_not_wake(void **state)
{
	struct pipes	 p;
	pid_t		 pid;
	char		 c;

	(void)state;
	pipes_open(&p, other_user());
	pid = child(bystander, &p);
	assert_int_equal(read(p.up[0], &c, 1), 1);
	usleep(30000);
	doorbell_ring(USER_A);
	assert_int_equal(child_status(pid), 0);
	pipes_close(&p);
}

#define ROUNDS	20000

/*
 * Child side of the ping-pong: wait for a ping on A, answer on B.  Any
 * wait that times out means a wake-up was lost (the parent rings at
 * once); the child counts them.
 */
struct pong {
	int64_t		 b;
	uint32_t	 last_a;	/* read before the fork */
};

static int
ponger(void *arg)
{
	struct pong	*pg = arg;
	int64_t		 b = pg->b;
	uint32_t	 last = pg->last_a, cur;
	int		 i, lost = 0;

	for (i = 0; i < ROUNDS; i++) {
		while ((cur = doorbell_read(USER_A)) == last)
			if (doorbell_wait(USER_A, last, 1000) == 0)
				lost++;
		last = cur;
		doorbell_ring(b);
	}
	return lost > 0;
}

static void
test_ping_pong_across_processes_loses_nothing(void **state)
{
	struct pong	 pg;
	int64_t		 b = other_user();
	uint32_t	 last, cur;
	pid_t		 pid;
	int		 i, lost = 0;
	int64_t		 t0 = ms_now();

	(void)state;
	last = doorbell_read(b);
	pg.b = b;
	pg.last_a = doorbell_read(USER_A);
	pid = child(ponger, &pg);
	for (i = 0; i < ROUNDS; i++) {
		doorbell_ring(USER_A);
		while ((cur = doorbell_read(b)) == last)
			if (doorbell_wait(b, last, 1000) == 0)
				lost++;
		last = cur;
	}
	assert_int_equal(lost, 0);
	assert_int_equal(child_status(pid), 0);
	/* 20,000 round trips of futex wake-ups, not of 1 s timeouts */
	assert_true(ms_now() - t0 < 20000);
}

/* Child: a stopping worker; its waits return at once. */
static int
stopper(void *arg)
{
	(void)arg;
	if (doorbell_stopping())
		return 1;
	doorbell_shutdown();
	if (!doorbell_stopping())
		return 2;
	return doorbell_wait(USER_A, doorbell_read(USER_A), 5000) == 1 ? 0 : 3;
}

static void
test_shutdown_is_per_process_and_wakes_waiters(void **state)
{
	uint32_t seen = doorbell_read(USER_A);
	int64_t	 t0 = ms_now();
	pid_t	 pid;

	(void)state;
	pid = child(stopper, NULL);
	/* the child's ring_all wakes this process's wait too */
	assert_int_equal(doorbell_wait(USER_A, seen, 5000), 1);
	assert_true(ms_now() - t0 < 2000);
	assert_int_equal(child_status(pid), 0);
	assert_false(doorbell_stopping());
}

/*
 * The connection watcher (run last: it starts a thread, and the tests
 * above fork).  A watched socket whose peer hangs up rings the user's
 * bucket; data on it does not, nor does a hang-up after unwatching.
 */
static void
test_watch_rings_when_the_peer_hangs_up(void **state)
{
	int		 sv[2];
	uint32_t	 seen;
	int64_t		 t0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	seen = doorbell_read(USER_A);
	assert_int_equal(doorbell_watch(sv[0], USER_A), 0);
	/* data from the peer is not a hang-up */
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(doorbell_wait(USER_A, seen, 200), 0);
	/* re-arming an armed watch is fine */
	assert_int_equal(doorbell_watch(sv[0], USER_A), 0);
	t0 = ms_now();
	close(sv[1]);
	assert_int_equal(doorbell_wait(USER_A, seen, 5000), 1);
	assert_true(ms_now() - t0 < 1000);
	doorbell_unwatch(sv[0]);
	close(sv[0]);
}

static void
test_watch_already_hung_up_rings_at_once(void **state)
{
	int		 sv[2];
	uint32_t	 seen;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	seen = doorbell_read(USER_A);
	assert_int_equal(doorbell_watch(sv[0], USER_A), 0);
	assert_int_equal(doorbell_wait(USER_A, seen, 5000), 1);
	doorbell_unwatch(sv[0]);
	close(sv[0]);
}

static void
test_unwatched_hang_up_is_silent(void **state)
{
	int		 sv[2];
	uint32_t	 seen;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(doorbell_watch(sv[0], USER_A), 0);
	doorbell_unwatch(sv[0]);
	seen = doorbell_read(USER_A);
	close(sv[1]);
	assert_int_equal(doorbell_wait(USER_A, seen, 200), 0);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_moves_counter),
		cmocka_unit_test(test_wait_times_out),
		cmocka_unit_test(test_wait_on_stale_value_returns_at_once),
		cmocka_unit_test(test_ring_wakes_other_process),
		cmocka_unit_test(test_ring_between_read_and_sleep_is_not_lost),
		cmocka_unit_test(test_other_users_ring_does_not_wake),
		cmocka_unit_test(test_ping_pong_across_processes_loses_nothing),
		cmocka_unit_test(
		    test_shutdown_is_per_process_and_wakes_waiters),
		cmocka_unit_test(test_watch_rings_when_the_peer_hangs_up),
		cmocka_unit_test(test_watch_already_hung_up_rings_at_once),
		cmocka_unit_test(test_unwatched_hang_up_is_silent),
	};

	return cmocka_run_group_tests_name("doorbell", tests, setup, NULL);
}
