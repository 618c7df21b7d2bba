/*
 * Unit tests for lib/park: requests that wait without a thread.  The
 * connections are socketpairs (the test holds nginx's end); the owner's
 * callbacks record what park did with each entry.  Park runs once per
 * process, so the cases run in order on one park and the last stops it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "doorbell.h"
#include "park.h"

#define USER_A	42

/* One parked entry as the test owns it. */
struct tent {
	struct park_entry pe;		/* first: park hands it back */
	int		 peer;		/* nginx's end */
	int		 expire_keep;	/* expires to keep before done */
	int		 answer;	/* a wake answers it (and lingers) */
	_Atomic int	 woke, expired, gone, stopped, released;
	_Atomic int	 on_park;	/* park_self() in its callbacks */
};

static _Atomic int wakes_total;
static _Atomic int wrong_user;	/* cmocka asserts only on the test's thread */

static void
t_wake(int64_t user_id, struct park_entry **v, size_t n)
{
	size_t	 i;

	atomic_fetch_add(&wakes_total, 1);
	for (i = 0; i < n; i++) {
		struct tent *t = (struct tent *)v[i];

		if (v[i]->user_id != user_id)
			atomic_store(&wrong_user, 1);
		atomic_store(&t->on_park, park_self());
		atomic_fetch_add(&t->woke, 1);
		if (t->answer) {
			if (write(t->pe.fd, "answer", 6) != 6)
				atomic_store(&wrong_user, 2);
			park_linger(t->pe.fd);
			t->pe.done = 1;
		}
	}
}

static void
t_expire(struct park_entry *e)
{
	struct tent *t = (struct tent *)e;

	atomic_fetch_add(&t->expired, 1);
	if (t->expire_keep-- > 0)
		e->deadline_us = mono_us() + 50000;
	else
		e->done = 1;
}

static void
t_gone(struct park_entry *e)
{
	struct tent *t = (struct tent *)e;

	atomic_fetch_add(&t->gone, 1);
}

static void
t_stop(struct park_entry *e)
{
	struct tent *t = (struct tent *)e;

	atomic_fetch_add(&t->stopped, 1);
}

static void
t_release(struct park_entry *e)
{
	struct tent *t = (struct tent *)e;

	atomic_fetch_add(&t->released, 1);
}

static const struct park_ops ops = {
	t_wake, t_expire, t_gone, t_stop, t_release, NULL
};

static struct tent *
tent_new(int64_t user, int64_t deadline_ms)
{
	struct tent	*t = calloc(1, sizeof(*t));
	int		 sv[2];

	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t->pe.fd = sv[0];
	t->peer = sv[1];
	t->pe.user_id = user;
	t->pe.seen = doorbell_read(user);
	t->pe.deadline_us = mono_us() + deadline_ms * 1000;
	return t;
}

/* Wait up to ms for *v to reach want. */
static int
await(_Atomic int *v, int want, int ms)
{
	int	 i;

	for (i = 0; i < ms; i++) {
		if (atomic_load(v) >= want)
			return 1;
		usleep(1000);
	}
	return atomic_load(v) >= want;
}

/* 1 when the peer's end of the socket is closed on the other side. */
static int
peer_sees_close(int peer)
{
	return send(peer, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1 &&
	    errno == EPIPE;
}

static int
setup(void **state)
{
	(void)state;
	assert_int_equal(doorbell_init(), 0);
	assert_int_equal(park_start(&ops), 0);
	return 0;
}

/* A ring of the user's bucket wakes its entry, on the park thread. */
static void
test_ring_wakes(void **state)
{
	struct tent *t = tent_new(USER_A, 30000);

	(void)state;
	assert_int_equal(park_add(&t->pe), 0);
	usleep(20000);
	assert_int_equal(atomic_load(&t->woke), 0);
	assert_int_equal(park_self(), 0);
	doorbell_ring(USER_A);
	assert_true(await(&t->woke, 1, 1000));
	assert_int_equal(atomic_load(&t->on_park), 1);
	/* not done: it stays, and the next ring wakes it again */
	doorbell_ring(USER_A);
	assert_true(await(&t->woke, 2, 1000));
	t->answer = 1;
	doorbell_ring(USER_A);
	assert_true(await(&t->released, 1, 1000));
	close(t->peer);
	free(t);
}

/* A ring between the owner's look and park_add() is not lost. */
static void
test_ring_before_add(void **state)
{
	struct tent *t = tent_new(USER_A, 30000);

	(void)state;
	doorbell_ring(USER_A);		/* after its look (seen), before add */
	t->answer = 1;
	assert_int_equal(park_add(&t->pe), 0);
	assert_true(await(&t->released, 1, 1000));
	assert_int_equal(atomic_load(&t->woke), 1);
	close(t->peer);
	free(t);
}

/* Another user's ring leaves the entry alone (unless their buckets
 * collide: then it wakes, and its owner finds nothing). */
static void
test_other_user(void **state)
{
	struct tent *t = tent_new(USER_A, 30000);
	int64_t	 u;

	(void)state;
	for (u = USER_A + 1; doorbell_bucket(u) == doorbell_bucket(USER_A); u++)
		;
	assert_int_equal(park_add(&t->pe), 0);
	doorbell_ring(u);
	usleep(50000);
	assert_int_equal(atomic_load(&t->woke), 0);
	t->answer = 1;
	doorbell_ring(USER_A);
	assert_true(await(&t->released, 1, 1000));
	close(t->peer);
	free(t);
}

/* The deadline: expire, which may set a new one (a stream's ping). */
static void
test_deadline(void **state)
{
	struct tent *t = tent_new(USER_A + 7, 100);
	int64_t	 t0 = mono_us();

	(void)state;
	t->expire_keep = 2;
	assert_int_equal(park_add(&t->pe), 0);
	assert_true(await(&t->released, 1, 2000));
	assert_int_equal(atomic_load(&t->expired), 3);
	/* 100 ms, then 50 ms twice */
	assert_true(mono_us() - t0 >= 190000);
	assert_int_equal(atomic_load(&t->woke), 0);
	close(t->peer);
	close(t->pe.fd);
	free(t);
}

/* nginx closes the connection: gone, at once, without waiting for the
 * deadline. */
static void
test_gone(void **state)
{
	struct tent *t = tent_new(USER_A, 30000);

	(void)state;
	assert_int_equal(park_add(&t->pe), 0);
	usleep(20000);
	close(t->peer);
	assert_true(await(&t->gone, 1, 1000));
	assert_int_equal(atomic_load(&t->released), 0);
	/* gone: the owner's now; park no longer counts it */
	assert_int_equal(park_count(), 0);
	close(t->pe.fd);
	free(t);
}

/* An answer written on the park thread closes once nginx has read it and
 * closed its end, not before (and the park thread does not wait). */
static void
test_linger(void **state)
{
	struct tent *t = tent_new(USER_A, 30000);
	char	 buf[16];
	int	 i, closed = 0;

	(void)state;
	t->answer = 1;
	assert_int_equal(park_add(&t->pe), 0);
	doorbell_ring(USER_A);
	assert_true(await(&t->released, 1, 1000));
	assert_int_equal(read(t->peer, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "answer", 6);
	assert_int_equal(read(t->peer, buf, sizeof(buf)), 0);	/* shut */
	/* still open: what nginx sends meanwhile is read and dropped */
	usleep(50000);
	assert_int_equal(send(t->peer, "late", 4, MSG_NOSIGNAL), 4);
	usleep(50000);
	assert_int_equal(peer_sees_close(t->peer), 0);
	shutdown(t->peer, SHUT_WR);		/* nginx closes */
	for (i = 0; i < 1000 && !closed; i++) {
		closed = peer_sees_close(t->peer);
		usleep(1000);
	}
	assert_true(closed);
	close(t->peer);
	free(t);
}

/* An nginx that never closes: the connection is closed after 2 s. */
static void
test_linger_deadline(void **state)
{
	struct tent *t = tent_new(USER_A, 30000);
	int64_t	 t0;
	int	 closed = 0;

	(void)state;
	t->answer = 1;
	assert_int_equal(park_add(&t->pe), 0);
	t0 = mono_us();
	doorbell_ring(USER_A);
	assert_true(await(&t->released, 1, 1000));
	while (!closed && mono_us() - t0 < 4000000) {
		closed = peer_sees_close(t->peer);
		usleep(10000);
	}
	assert_true(closed);
	assert_true(mono_us() - t0 >= 1900000);
	close(t->peer);
	free(t);
}

/* The worker stops: every parked entry answers; nothing more is taken. */
static void
test_stop(void **state)
{
	struct tent *a = tent_new(USER_A, 30000);
	struct tent *b = tent_new(USER_A + 1, 30000);
	struct tent *c = tent_new(USER_A + 2, 30000);

	(void)state;
	assert_int_equal(park_add(&a->pe), 0);
	assert_int_equal(park_add(&b->pe), 0);
	usleep(20000);
	assert_int_equal(park_count(), 2);
	park_stop();
	assert_int_equal(atomic_load(&a->stopped), 1);
	assert_int_equal(atomic_load(&b->stopped), 1);
	assert_int_equal(park_add(&c->pe), -1);
	assert_int_equal(park_self(), 0);
	assert_int_equal(atomic_load(&wrong_user), 0);
	close(a->peer);
	close(a->pe.fd);
	close(b->peer);
	close(b->pe.fd);
	close(c->peer);
	close(c->pe.fd);
	free(a);
	free(b);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_wakes),
		cmocka_unit_test(test_ring_before_add),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_gone),
		cmocka_unit_test(test_linger),
		cmocka_unit_test(test_linger_deadline),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
