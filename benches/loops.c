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
 * empty_wait_ring: kevent_wait() into a registered ring of 64 entries;
 * empty_wait_ring_at_event: the same with KEVENT_RING_AT_EVENT);
 * ready64_epoll, ready64_kevent, ready64_ring (64 level-triggered ready
 * eventfds, all 64 events taken and read by each call; LOOPS_READY=n in
 * the environment registers only n of them, 1 to 64: with 1, the cost of
 * a call that reports one event; ready1_epoll, ready1_kevent, ready1_ring
 * are the same with one); ctl1_epoll,
 * ctl1_kevent (one watch added and removed); ctl64_epoll, ctl64_kevent
 * (64 added and removed: 128 epoll_ctl() calls, or one kevent_ctl() batch
 * each way); echo_epoll, echo_naio (one echo of 128 bytes over a TCP
 * connection on 127.0.0.1, both ends in this thread, no sleep: the peer
 * writes a message, the server sends the reply to the last one and
 * takes this one, the peer reads the reply. The server as kevent-echo's
 * kevent-aio: a receive that stays, and one kevent_get_events() whose
 * changes carry the reply's SEND with KEVENT_REQ_INLINE and the
 * receive's ENABLE; or write(), epoll_wait() and read(), in the same
 * order, so that TCP sends the same segments. Every system call of both
 * ends is counted, TCP included); echo_naio_left (that receive alone:
 * every other iteration the peer writes two messages at once, so the run
 * of that iteration leaves the second, msg_inq above 0, and the next
 * iteration's ENABLE comes with bytes left and no wake-up since; each
 * iteration one kevent_get_events() with the ENABLE, one message
 * received); pipe_bound, pipe_epoll, pipe_at_event
 * (a token passed around 64 pipes, as the pipes workload with one token:
 * read it from the pipe whose event came, write it to the next; the
 * event from nothing (the bound, which knows the pipe), epoll_wait() of
 * level-triggered epoll, or the ring of a queue that writes it at event
 * time, KEVENT_RING_AT_EVENT, with edge-triggered kevents: read from
 * the ring with no system call); close_tags (a dup of an eventfd that
 * CLOSE_OTHERS kevents of the queue watch through its first descriptor
 * is given CLOSE_TAGS tagged kevents with KEVENT_REQ_FD_CLOSE, in
 * batches of 64, and closed: the close's walks of the file's list).
 *
 * Build: cc -O2 -I<kernel tree>/usr/include loops.c (the series' uapi
 * header, installed with make headers_install).
 *
 * The timed loop is one window of the exact instruction profile
 * (insn-profile/insn-mark.h: two NOPs without its QEMU plugin);
 * benches/insn-profile/loops.sh profiles modes with it.
 */
#include <linux/kevent.h>
#include "insn-profile/insn-mark.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
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

/* close_tags: the kevents the closed descriptor takes, and the others */
#define CLOSE_TAGS	256
#define CLOSE_OTHERS	256

enum {
	M_empty_wait_epoll,
	M_empty_wait_epoll_raw,
	M_empty_read_kevent,
	M_empty_wait_kevent_null,
	M_empty_wait_kevent,
	M_empty_wait_ring,
	M_empty_wait_ring_at_event,
	M_ready64_epoll,
	M_ready64_kevent,
	M_ready64_ring,
	M_ctl1_epoll,
	M_ctl64_epoll,
	M_ctl1_kevent,
	M_ctl64_kevent,
	M_echo_epoll,
	M_echo_naio,
	M_echo_naio_left,
	M_pipe_bound,
	M_pipe_epoll,
	M_pipe_at_event,
	M_close_tags,
};

static const char *const modes[] = {
	"empty_wait_epoll",
	"empty_wait_epoll_raw",
	"empty_read_kevent",
	"empty_wait_kevent_null",
	"empty_wait_kevent",
	"empty_wait_ring",
	"empty_wait_ring_at_event",
	"ready64_epoll",
	"ready64_kevent",
	"ready64_ring",
	"ctl1_epoll",
	"ctl64_epoll",
	"ctl1_kevent",
	"ctl64_kevent",
	"echo_epoll",
	"echo_naio",
	"echo_naio_left",
	"pipe_bound",
	"pipe_epoll",
	"pipe_at_event",
	"close_tags",
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

/* A TCP connection on 127.0.0.1: the server's end in *@srv, the peer's in *@peer */
static void tcp_pair(int *srv, int *peer)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		die("listen");
	*peer = socket(AF_INET, SOCK_STREAM, 0);
	if (*peer < 0 || connect(*peer, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	*srv = accept(l, NULL, NULL);
	if (*srv < 0)
		die("accept");
	close(l);
	/* As an echo server's replies: each goes out at once */
	setsockopt(*srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A KEVENT_NAIO entry: @op of @len bytes at @buf on @fd, key @id */
static void naio_uk(struct ukevent *uk, __u64 id, __u32 op, int fd, void *buf,
		    __u32 len, __u32 req_flags)
{
	memset(uk, 0, sizeof(*uk));
	uk->type = KEVENT_NAIO;
	uk->id = id;
	uk->event = op;
	uk->req_flags = req_flags;
	uk->data = (uintptr_t)buf;
	uk->naio.fd = fd;
	uk->naio.len = len;
	uk->naio.msg_flags = op == KEVENT_NAIO_SEND ? MSG_NOSIGNAL : 0;
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
	if (!strcmp(mode, "empty_wait_ring_at_event") &&
	    syscall(__NR_kevent_ring_init, q, ring_mem, N, KEVENT_RING_AT_EVENT))
		die("kevent_ring_init");

	/* The echo loops: a connection, and the receive that stays */
	static char msg[128], rbuf[128], reply[128];
	struct ukevent echo_changes[2];
	struct kevent_ctl_batch echo_batch[2];
	struct kevent_wait_args echo_args = { .timeout_ns = 0 };
	struct kevent_wait_args left_args = { .timeout_ns = 0 };
	int srv = -1, peer = -1;

	if (!strncmp(mode, "echo_", 5)) {
		struct epoll_event e = { .events = EPOLLIN };
		struct ukevent rx;

		tcp_pair(&srv, &peer);
		/* Only the mechanism measured watches the connection. */
		if (!strcmp(mode, "echo_epoll")) {
			e.data.fd = srv;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, srv, &e))
				die("epoll_ctl");
		} else {
			naio_uk(&rx, 1, KEVENT_NAIO_RECV, srv, rbuf,
				sizeof(rbuf), KEVENT_REQ_DISPATCH);
			kq_ctl(q, KEVENT_CTL_ADD, 1, &rx);
		}
		/* The first message, taken: the first reply */
		if (write(peer, msg, sizeof(msg)) != sizeof(msg) ||
		    (!strcmp(mode, "echo_epoll") ?
		     read(srv, rbuf, sizeof(rbuf)) != sizeof(rbuf) :
		     syscall(__NR_kevent_get_events, q, kev, 1, NULL, 0) != 1))
			die("echo: the first message");
		memcpy(reply, rbuf, sizeof(reply));
		echo_batch[0] = (struct kevent_ctl_batch) {
			.cmd = KEVENT_CTL_ADD, .num = 1,
			.entries = (uintptr_t)&echo_changes[0] };
		echo_batch[1] = (struct kevent_ctl_batch) {
			.cmd = KEVENT_CTL_ENABLE, .num = 1,
			.entries = (uintptr_t)&echo_changes[1] };
		echo_args.changes = (uintptr_t)echo_batch;
		echo_args.nr_changes = 2;
		left_args.changes = (uintptr_t)&echo_batch[1];
		left_args.nr_changes = 1;
	}

	/* The pipe loops: 64 pipes, the token in the first */
	static int pipes[N][2];
	struct kevent_ring *ring = (struct kevent_ring *)ring_mem;
	char token = 't';

	if (!strncmp(mode, "pipe_", 5)) {
		for (i = 0; i < N; i++) {
			if (pipe(pipes[i]))
				die("pipe");
			if (!strcmp(mode, "pipe_epoll")) {
				struct epoll_event e = { .events = EPOLLIN, .data.u64 = i };

				if (epoll_ctl(ep, EPOLL_CTL_ADD, pipes[i][0], &e))
					die("epoll_ctl");
			} else if (!strcmp(mode, "pipe_at_event")) {
				poll_uk(&uk[0], pipes[i][0]);
				uk[0].req_flags = KEVENT_REQ_ET;
				uk[0].user_data = i;
				if (i == 0 && syscall(__NR_kevent_ring_init, q, ring_mem, N,
						      KEVENT_RING_AT_EVENT))
					die("kevent_ring_init");
				kq_ctl(q, KEVENT_CTL_ADD, 1, &uk[0]);
			}
		}
		if (write(pipes[0][1], &token, 1) != 1)
			die("pipe: the token");
	}

	/* The kevents that stay, listed before the closed descriptor's */
	if (!strcmp(mode, "close_tags")) {
		for (i = 0; i < CLOSE_OTHERS; i++) {
			poll_uk(&uk[i % N], fds[0]);
			uk[i % N].id = KEVENT_POLL_ID(fds[0], 1 + i);
			if (i % N == N - 1)
				kq_ctl(q, KEVENT_CTL_ADD, N, uk);
		}
	}

	m = mode_index(mode);
	max_nr = getenv("LOOPS_MAX_NR") ? atoi(getenv("LOOPS_MAX_NR")) : N;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	INSN_PROFILE_START();
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
		} else if (m == M_empty_wait_ring || m == M_empty_wait_ring_at_event) {
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
		} else if (m == M_echo_epoll) {
			if (write(peer, msg, sizeof(msg)) != sizeof(msg) ||
			    write(srv, reply, sizeof(reply)) != sizeof(reply) ||
			    epoll_wait(ep, eev, N, 0) != 1 ||
			    read(srv, rbuf, sizeof(rbuf)) != sizeof(rbuf) ||
			    read(peer, msg, sizeof(msg)) != sizeof(msg))
				die("echo_epoll");
			memcpy(reply, rbuf, sizeof(reply));
		} else if (m == M_echo_naio) {
			/* The last message's reply, and the receive's next run */
			naio_uk(&echo_changes[0], 2, KEVENT_NAIO_SEND, srv, reply,
				sizeof(reply), KEVENT_REQ_INLINE);
			memset(&echo_changes[1], 0, sizeof(echo_changes[1]));
			echo_changes[1].type = KEVENT_NAIO;
			echo_changes[1].id = 1;
			if (write(peer, msg, sizeof(msg)) != sizeof(msg) ||
			    syscall(__NR_kevent_get_events, q, kev, 1, &echo_args,
				    sizeof(echo_args)) != 1 ||
			    kev[0].data != sizeof(msg) ||
			    !(echo_changes[0].ret_flags & KEVENT_RET_COMPLETE) ||
			    read(peer, msg, sizeof(msg)) != sizeof(msg))
				die("echo_naio");
			memcpy(reply, rbuf, sizeof(reply));
		} else if (m == M_echo_naio_left) {
			static char two[2 * sizeof(msg)];

			memset(&echo_changes[1], 0, sizeof(echo_changes[1]));
			echo_changes[1].type = KEVENT_NAIO;
			echo_changes[1].id = 1;
			if ((!(it & 1) && write(peer, two, sizeof(two)) != sizeof(two)) ||
			    syscall(__NR_kevent_get_events, q, kev, 1, &left_args,
				    sizeof(left_args)) != 1 ||
			    kev[0].data != sizeof(msg))
				die("echo_naio_left");
		} else if (m == M_pipe_bound || m == M_pipe_epoll || m == M_pipe_at_event) {
			long at = it % N;

			if (m == M_pipe_epoll) {
				if (epoll_wait(ep, eev, 1, 0) != 1)
					die("pipe_epoll");
				at = eev[0].data.u64;
			} else if (m == M_pipe_at_event) {
				uint32_t t = ring->tail;

				if (__atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) == t)
					die("pipe_at_event: nothing in the ring");
				at = ring->events[t & (N - 1)].user_data;
				__atomic_store_n(&ring->tail, t + 1, __ATOMIC_RELEASE);
			}
			if (read(pipes[at][0], &token, 1) != 1 ||
			    write(pipes[(at + 1) % N][1], &token, 1) != 1)
				die("pipe");
		} else if (m == M_close_tags) {
			int d = dup(fds[0]), b;

			if (d < 0)
				die("dup");
			for (b = 0; b < CLOSE_TAGS / N; b++) {
				for (i = 0; i < N; i++) {
					poll_uk(&uk[i], d);
					uk[i].id = KEVENT_POLL_ID(d, 1 + b * N + i);
					uk[i].req_flags = KEVENT_REQ_FD_CLOSE;
				}
				kq_ctl(q, KEVENT_CTL_ADD, N, uk);
			}
			if (close(d))
				die("close_tags: close");
		} else {
			fprintf(stderr, "usage: loops MODE [ITERATIONS] (see the top of benches/loops.c)\n");
			return 2;
		}
	}
	INSN_PROFILE_STOP();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %.1f ns per iteration (%ld iterations)\n", label,
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / iters,
	       iters);
	return 0;
}
