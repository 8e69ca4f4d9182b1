/*
 * libev 4.33 on its kqueue backend (EVBACKEND_KQUEUE) over libkqueue on
 * kevent: each watcher type libev implements with kqueue (ev_io read and
 * write, ev_signal; ev_timer, ev_periodic, ev_async, ev_child and ev_stat
 * use libev's own machinery beside the backend). libev ships no test
 * suite, so this is ours; its summary reads like the conformance tests'.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev.h"
#include "../tests/c/harness.h"

static struct ev_loop *loop;
static int hits;

static void count_cb(struct ev_loop *l, ev_watcher *w, int revents)
{
	(void)l;
	(void)revents;
	hits++;
	ev_break(l, EVBREAK_ONE);
	(void)w;
}

static void test_backend_is_kqueue(void)
{
	CHECK(ev_supported_backends() & EVBACKEND_KQUEUE);
	CHECK(ev_backend(loop) == EVBACKEND_KQUEUE);
}

static void test_io_read_write(void)
{
	ev_io r, w;
	int s[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
	hits = 0;
	ev_io_init(&w, (void *)count_cb, s[0], EV_WRITE);
	ev_io_start(loop, &w);
	ev_run(loop, 0);
	CHECK(hits == 1);
	ev_io_stop(loop, &w);
	ev_io_init(&r, (void *)count_cb, s[0], EV_READ);
	ev_io_start(loop, &r);
	CHECK(write(s[1], "x", 1) == 1);
	hits = 0;
	ev_run(loop, 0);
	CHECK(hits == 1);
	ev_io_stop(loop, &r);
	close(s[0]);
	close(s[1]);
}

static void test_timer_and_periodic(void)
{
	ev_timer t;
	ev_periodic p;
	ev_tstamp t0;

	/* Timers count from the loop's cached time: refresh it first. */
	ev_now_update(loop);
	t0 = ev_time();
	hits = 0;
	ev_timer_init(&t, (void *)count_cb, 0.05, 0.);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	CHECK(hits == 1 && ev_time() - t0 >= 0.045);
	ev_periodic_init(&p, (void *)count_cb, 0., 0.02, 0);
	ev_periodic_start(loop, &p);
	ev_run(loop, 0);
	ev_run(loop, 0);
	CHECK(hits == 3);
	ev_periodic_stop(loop, &p);
}

static void test_signal(void)
{
	ev_signal s;

	hits = 0;
	ev_signal_init(&s, (void *)count_cb, SIGUSR1);
	ev_signal_start(loop, &s);
	kill(getpid(), SIGUSR1);
	ev_run(loop, 0);
	CHECK(hits == 1);
	ev_signal_stop(loop, &s);
}

static void test_async(void)
{
	ev_async a;

	hits = 0;
	ev_async_init(&a, (void *)count_cb);
	ev_async_start(loop, &a);
	ev_async_send(loop, &a);
	ev_run(loop, 0);
	CHECK(hits == 1);
	ev_async_stop(loop, &a);
}

static int child_status;

static void child_cb(struct ev_loop *l, ev_child *w, int revents)
{
	(void)revents;
	child_status = w->rstatus;
	ev_break(l, EVBREAK_ONE);
}

static void test_child(void)
{
	ev_child c;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		_exit(3);
	ev_child_init(&c, child_cb, pid, 0);
	ev_child_start(loop, &c);
	ev_run(loop, 0);
	CHECK(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 3);
	ev_child_stop(loop, &c);
}

static void test_many_fds(void)
{
	enum { N = 100 };
	ev_io w[N];
	int p[N][2], i;

	for (i = 0; i < N; i++) {
		CHECK(pipe(p[i]) == 0);
		ev_io_init(&w[i], (void *)count_cb, p[i][0], EV_READ);
		ev_io_start(loop, &w[i]);
	}
	for (i = 0; i < N; i++) {
		hits = 0;
		CHECK(write(p[i][1], "x", 1) == 1);
		ev_run(loop, 0);
		CHECK(hits == 1);
		ev_io_stop(loop, &w[i]);
		close(p[i][0]);
		close(p[i][1]);
	}
}

int main(void)
{
	loop = ev_default_loop(EVBACKEND_KQUEUE);
	if (!loop) {
		printf("libev: no kqueue loop (errno %d)\n", errno);
		printf("\nlibev-kqueue: test result: FAILED. 0 passed; 1 failed; 0 ignored\n");
		return 1;
	}
	RUN(test_backend_is_kqueue);
	RUN(test_io_read_write);
	RUN(test_timer_and_periodic);
	RUN(test_signal);
	RUN(test_async);
	RUN(test_child);
	RUN(test_many_fds);
	return summary("libev-kqueue");
}
