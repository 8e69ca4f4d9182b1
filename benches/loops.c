// SPDX-License-Identifier: MIT
/*
 * Loops of single system calls, for instruction profiles of one call
 * (benches/profile.sh) with nothing else in the process: no Rust crate,
 * no criterion. Raw system calls on both sides.
 *
 *   loops MODE [ITERATIONS]
 *
 * MODE: empty_wait_epoll, empty_wait_kevent (a zero-timeout wait on an
 * empty queue; empty_wait_epoll_raw: through syscall(), as kevent goes;
 * empty_wait_ring: kevent_wait() into a registered ring of 64 entries);
 * ready64_epoll, ready64_kevent, ready64_ring (64 level-triggered ready
 * eventfds, all 64 events taken and read by each call; LOOPS_READY=n in
 * the environment registers only n of them, 1 to 64: with 1, the cost of
 * a call that reports one event; ready1_epoll, ready1_kevent, ready1_ring
 * are the same with one); ctl1_epoll,
 * ctl1_kevent (one watch added and removed); ctl64_epoll, ctl64_kevent
 * (64 added and removed: 128 epoll_ctl() calls, or one kevent_ctl() batch
 * each way).
 *
 * Build: cc -O2 -I<kernel tree>/usr/include loops.c (the series' uapi
 * header, installed with make headers_install).
 */
#include <linux/kevent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_kevent_create
#define __NR_kevent_create	500
#define __NR_kevent_ctl		501
#define __NR_kevent_get_events	502
#endif
#ifndef __NR_kevent_ring_init
#define __NR_kevent_ring_init	503
#define __NR_kevent_wait	504
#endif

#define N 64

enum {
	M_empty_wait_epoll,
	M_empty_wait_epoll_raw,
	M_empty_read_kevent,
	M_empty_wait_kevent_null,
	M_empty_wait_kevent,
	M_empty_wait_ring,
	M_ready64_epoll,
	M_ready64_kevent,
	M_ready64_ring,
	M_ctl1_epoll,
	M_ctl64_epoll,
	M_ctl1_kevent,
	M_ctl64_kevent,
};

static const char *const modes[] = {
	"empty_wait_epoll",
	"empty_wait_epoll_raw",
	"empty_read_kevent",
	"empty_wait_kevent_null",
	"empty_wait_kevent",
	"empty_wait_ring",
	"ready64_epoll",
	"ready64_kevent",
	"ready64_ring",
	"ctl1_epoll",
	"ctl64_epoll",
	"ctl1_kevent",
	"ctl64_kevent",
};

static volatile uint64_t sink;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int kq_create(void)
{
	long fd = syscall(__NR_kevent_create, 0);

	if (fd < 0)
		die("kevent_create");
	return fd;
}

static void kq_ctl(int q, unsigned int cmd, unsigned int num, struct ukevent *uk)
{
	if (syscall(__NR_kevent_ctl, q, cmd, num, uk) < 0)
		die("kevent_ctl");
}

static void poll_uk(struct ukevent *uk, int fd)
{
	memset(uk, 0, sizeof(*uk));
	uk->type = KEVENT_POLL;
	uk->id = fd;
	uk->event = EPOLLIN;
	uk->user_data = fd;
}

/* The index of @name in modes[], or -1: the loop compares integers. */
static int mode_index(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(modes[i], name))
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "", *label = mode;
	long iters = argc > 2 ? atol(argv[2]) : 200000;
	struct kevent_wait_args zero = { .timeout_ns = 0 };
	struct kevent_event kev[N];
	struct epoll_event eev[N];
	struct ukevent uk[N];
	/* The ring: its 64-byte header and N entries, 8-byte aligned. */
	static uint64_t ring_mem[(sizeof(struct kevent_ring) +
				  N * sizeof(struct kevent_event)) / 8];
	int fds[N], ep, q, qnb, i, m, max_nr, nready;
	struct timespec t0, t1;
	long it;

	for (i = 0; i < N; i++) {
		fds[i] = eventfd(1, EFD_NONBLOCK);
		if (fds[i] < 0)
			die("eventfd");
		poll_uk(&uk[i], fds[i]);
	}
	ep = epoll_create1(0);
	q = kq_create();
	qnb = syscall(__NR_kevent_create, KEVENT_NONBLOCK);
	if (ep < 0)
		die("epoll_create1");
	nready = getenv("LOOPS_READY") ? atoi(getenv("LOOPS_READY")) : N;
	if (!strncmp(mode, "ready1_", 7)) {
		static char name[32];

		snprintf(name, sizeof(name), "ready64_%s", mode + 7);
		mode = name;
		nready = 1;
	}
	if (nready < 1 || nready > N) {
		fprintf(stderr, "LOOPS_READY: 1 to %d\n", N);
		return 2;
	}
	if (!strncmp(mode, "ready64", 7)) {
		for (i = 0; i < nready; i++) {
			struct epoll_event e = { .events = EPOLLIN, .data.u64 = fds[i] };

			if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e))
				die("epoll_ctl");
		}
		kq_ctl(q, KEVENT_CTL_ADD, nready, uk);
	}

	if ((!strcmp(mode, "empty_wait_ring") || !strcmp(mode, "ready64_ring")) &&
	    syscall(__NR_kevent_ring_init, q, ring_mem, N, 0))
		die("kevent_ring_init");

	m = mode_index(mode);
	max_nr = getenv("LOOPS_MAX_NR") ? atoi(getenv("LOOPS_MAX_NR")) : N;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (it = 0; it < iters; it++) {
		if (m == M_empty_wait_epoll) {
			sink += epoll_wait(ep, eev, N, 0);
		} else if (m == M_empty_wait_epoll_raw) {
			sink += syscall(SYS_epoll_wait, ep, eev, N, 0);
		} else if (m == M_empty_read_kevent) {
			sink += read(qnb, kev, sizeof(kev));
		} else if (m == M_empty_wait_kevent_null) {
			struct kevent_wait_args inf = { .timeout_ns = 0 };
			sink += syscall(__NR_kevent_get_events, q, kev, N, &inf, 32);
		} else if (m == M_empty_wait_kevent) {
			sink += syscall(__NR_kevent_get_events, q, kev, max_nr, &zero,
					sizeof(zero));
		} else if (m == M_empty_wait_ring) {
			sink += syscall(__NR_kevent_wait, q, N, &zero, sizeof(zero));
		} else if (m == M_ready64_epoll) {
			int n = epoll_wait(ep, eev, N, 0);

			for (i = 0; i < n; i++)
				sink += eev[i].data.u64;
			if (n != nready)
				die("ready64_epoll: not all events");
		} else if (m == M_ready64_kevent) {
			long n = syscall(__NR_kevent_get_events, q, kev, N, &zero,
					 sizeof(zero));

			for (i = 0; i < n; i++)
				sink += kev[i].user_data;
			if (n != nready)
				die("ready64_kevent: not all events");
		} else if (m == M_ready64_ring) {
			struct kevent_ring *r = (struct kevent_ring *)ring_mem;
			long n = syscall(__NR_kevent_wait, q, N, &zero, sizeof(zero));
			uint32_t t = r->tail;

			if (n != nready)
				die("ready64_ring: not all events");
			for (i = 0; i < n; i++)
				sink += r->events[(t + i) & (N - 1)].user_data;
			__atomic_store_n(&r->tail, t + n, __ATOMIC_RELEASE);
		} else if (m == M_ctl1_epoll || m == M_ctl64_epoll) {
			int n = m == M_ctl1_epoll || m == M_ctl1_kevent ? 1 : N;

			for (i = 0; i < n; i++) {
				struct epoll_event e = { .events = EPOLLIN, .data.u64 = fds[i] };

				if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e))
					die("epoll_ctl add");
			}
			for (i = 0; i < n; i++)
				if (epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL))
					die("epoll_ctl del");
		} else if (m == M_ctl1_kevent || m == M_ctl64_kevent) {
			int n = m == M_ctl1_epoll || m == M_ctl1_kevent ? 1 : N;

			kq_ctl(q, KEVENT_CTL_ADD, n, uk);
			kq_ctl(q, KEVENT_CTL_REMOVE, n, uk);
		} else {
			fprintf(stderr, "usage: loops MODE [ITERATIONS] (see the top of benches/loops.c)\n");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %.1f ns per iteration (%ld iterations)\n", label,
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / iters,
	       iters);
	return 0;
}
