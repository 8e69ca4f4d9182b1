/*
 * The library's overhead over raw kevent: the same readiness loop through
 * kevent_get_events() directly, through this library's kevent(), and
 * through epoll for reference. NPIPES pipes are watched for reading
 * (level-triggered); each round writes one byte to a pipe, collects the
 * one event and reads the byte. Prints ns per round for each.
 *
 * Then the same per connection, as a web server with a connection per
 * request registers it: each round opens an eventfd (the "accepted"
 * descriptor: a new file, at a number reused every round), writes to
 * it, registers it, waits for its event, reads it and closes it; "with delete" also removes the registration before the
 * close (lighttpd: EV_DELETE, EPOLL_CTL_DEL), "close removes" leaves it
 * to the close (nginx; kevent's KEVENT_REQ_FD_CLOSE). The library's
 * "close removes" passes its EV_ADD|EV_CLEAR in the waiting kevent(), as
 * nginx does.
 *
 *   cc -O2 -include <tree>/include/uapi/linux/kevent.h overhead.c \
 *      $(pkg-config --cflags --libs libkqueue)      (kqueue/bench/run.sh)
 *
 * overhead ROUNDS REPS LOOP runs one loop alone (LOOP: the per-event
 * bound, raw-wait, kq-wait, epoll-wait, and kq-wait-512 (room for 512
 * events, as nginx waits); the per-connection kq-close,
 * kq-delete, raw-close, raw-delete, epoll-close, epoll-delete), for A/B
 * of two builds in one boot and for a profiler: each of its REPS runs is
 * one window of benches/insn-profile (kqueue/bench/profile.sh).
 */
#define _GNU_SOURCE
#include <sys/event.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "insn-mark.h"

#define NPIPES 64

static int p[NPIPES][2];

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fire(int i)
{
	if (write(p[i][1], "x", 1) != 1)
		abort();
}

static void drain(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		abort();
}

static double raw_kevent(int rounds)
{
	struct ukevent uk[NPIPES];
	struct kevent_event ev;
	long long t;
	int q, i;

	q = syscall(500, 02000000);
	if (q < 0)
		return -1;
	memset(uk, 0, sizeof(uk));
	for (i = 0; i < NPIPES; i++) {
		uk[i].id = p[i][0];
		uk[i].type = KEVENT_POLL;
		uk[i].event = 0x1; /* EPOLLIN */
		uk[i].user_data = i;
	}
	if (syscall(501, q, KEVENT_CTL_ADD, NPIPES, uk) != NPIPES)
		return -1;
	t = now_ns();
	for (i = 0; i < rounds; i++) {
		fire(i % NPIPES);
		if (syscall(502, q, &ev, 1, NULL, 0) != 1)
			abort();
		drain(p[ev.user_data][0]);
	}
	t = now_ns() - t;
	close(q);
	return (double)t / rounds;
}

/* NPIPES pipes through the library, each wait with room for @room events
 * (at most 512) */
static double libkqueue_room(int rounds, int room)
{
	static struct kevent evs[512];
	struct kevent ch[NPIPES];
	long long t;
	int kq, i;

	kq = kqueue();
	if (kq < 0)
		return -1;
	for (i = 0; i < NPIPES; i++)
		EV_SET(&ch[i], p[i][0], EVFILT_READ, EV_ADD, 0, 0,
		       (void *)(intptr_t)i);
	if (kevent(kq, ch, NPIPES, NULL, 0, NULL) != 0)
		return -1;
	t = now_ns();
	for (i = 0; i < rounds; i++) {
		fire(i % NPIPES);
		if (kevent(kq, NULL, 0, evs, room, NULL) != 1)
			abort();
		drain(p[(intptr_t)evs[0].udata][0]);
	}
	t = now_ns() - t;
	close(kq);
	return (double)t / rounds;
}

static double libkqueue(int rounds)
{
	return libkqueue_room(rounds, 1);
}

/* Room for 512 events, as nginx asks (its default). */
static double libkqueue_512(int rounds)
{
	return libkqueue_room(rounds, 512);
}

static double epoll(int rounds)
{
	struct epoll_event e;
	long long t;
	int ep, i;

	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < NPIPES; i++) {
		e.events = EPOLLIN;
		e.data.u64 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, p[i][0], &e))
			return -1;
	}
	t = now_ns();
	for (i = 0; i < rounds; i++) {
		fire(i % NPIPES);
		if (epoll_wait(ep, &e, 1, -1) != 1)
			abort();
		drain(p[e.data.u64][0]);
	}
	t = now_ns() - t;
	close(ep);
	return (double)t / rounds;
}

/* Without any event mechanism: the write and read alone. */
static double bound(int rounds)
{
	long long t = now_ns();
	int i;

	for (i = 0; i < rounds; i++) {
		fire(i % NPIPES);
		drain(p[i % NPIPES][0]);
	}
	return (double)(now_ns() - t) / rounds;
}

/* A new "connection" with a request waiting */
static int conn_open(void)
{
	uint64_t one = 1;
	int d = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (d < 0 || write(d, &one, sizeof(one)) != sizeof(one))
		abort();
	return d;
}

static void conn_read(int d)
{
	uint64_t v;

	if (read(d, &v, sizeof(v)) != sizeof(v))
		abort();
}

/* A connection per round: the bound (no registration) */
static double conn_bound(int rounds)
{
	long long t = now_ns();
	int i, d;

	for (i = 0; i < rounds; i++) {
		d = conn_open();
		conn_read(d);
		close(d);
	}
	return (double)(now_ns() - t) / rounds;
}

static double conn_epoll(int rounds, int del)
{
	struct epoll_event e;
	long long t;
	int ep, i, d;

	ep = epoll_create1(EPOLL_CLOEXEC);
	t = now_ns();
	for (i = 0; i < rounds; i++) {
		d = conn_open();
		e.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		e.data.u64 = d;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, d, &e))
			abort();
		if (epoll_wait(ep, &e, 1, -1) != 1)
			abort();
		conn_read(e.data.u64);
		if (del && epoll_ctl(ep, EPOLL_CTL_DEL, d, &e))
			abort();
		close(d);
	}
	t = now_ns() - t;
	close(ep);
	return (double)t / rounds;
}

static double conn_raw(int rounds, int del)
{
	struct ukevent uk;
	struct kevent_event ev;
	long long t;
	int q, i, d;

	q = syscall(500, 02000000);
	if (q < 0)
		return -1;
	memset(&uk, 0, sizeof(uk));
	uk.type = KEVENT_POLL;
	uk.event = 0x1; /* EPOLLIN */
	uk.req_flags = del ? 0 : KEVENT_REQ_FD_CLOSE;
	t = now_ns();
	for (i = 0; i < rounds; i++) {
		d = conn_open();
		uk.id = d;
		uk.user_data = d;
		if (syscall(501, q, KEVENT_CTL_ADD, 1, &uk) != 1)
			abort();
		if (syscall(502, q, &ev, 1, NULL, 0) != 1)
			abort();
		conn_read(ev.user_data);
		if (del && syscall(501, q, KEVENT_CTL_REMOVE, 1, &uk) != 1)
			abort();
		close(d);
	}
	t = now_ns() - t;
	close(q);
	return (double)t / rounds;
}

static double conn_libkqueue(int rounds, int del)
{
	struct kevent ch, ev;
	long long t;
	int kq, i, d;

	kq = kqueue();
	if (kq < 0)
		return -1;
	t = now_ns();
	for (i = 0; i < rounds; i++) {
		d = conn_open();
		if (del) {
			/* lighttpd: each change a kevent() of its own */
			EV_SET(&ch, d, EVFILT_READ, EV_ADD, 0, 0, NULL);
			if (kevent(kq, &ch, 1, NULL, 0, NULL) != 0)
				abort();
			if (kevent(kq, NULL, 0, &ev, 1, NULL) != 1)
				abort();
		} else {
			/* nginx: the change travels in the wait */
			EV_SET(&ch, d, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
			if (kevent(kq, &ch, 1, &ev, 1, NULL) != 1)
				abort();
		}
		conn_read(ev.ident);
		if (del) {
			EV_SET(&ch, d, EVFILT_READ, EV_DELETE, 0, 0, NULL);
			if (kevent(kq, &ch, 1, NULL, 0, NULL) != 0)
				abort();
		}
		close(d);
	}
	t = now_ns() - t;
	close(kq);
	return (double)t / rounds;
}

static void conn_table(int rounds, int reps)
{
	double b = 1e18, m[3][2], x;
	int r, del, k;

	for (k = 0; k < 3; k++)
		m[k][0] = m[k][1] = 1e18;
	for (r = 0; r < reps; r++) {
		x = conn_bound(rounds);
		b = x < b ? x : b;
		for (del = 0; del < 2; del++) {
			x = conn_raw(rounds, del);
			m[0][del] = x < m[0][del] ? x : m[0][del];
			x = conn_libkqueue(rounds, del);
			if (x < 0)
				abort();
			m[1][del] = x < m[1][del] ? x : m[1][del];
			x = conn_epoll(rounds, del);
			m[2][del] = x < m[2][del] ? x : m[2][del];
		}
	}
	printf("per connection,ns_per_round close removes,over bound,ns_per_round with delete,over bound\n");
	printf("bound,%.0f,0,%.0f,0\n", b, b);
	printf("kevent,%.0f,%.0f,%.0f,%.0f\n", m[0][0], m[0][0] - b, m[0][1], m[0][1] - b);
	printf("libkqueue,%.0f,%.0f,%.0f,%.0f\n", m[1][0], m[1][0] - b, m[1][1], m[1][1] - b);
	printf("epoll,%.0f,%.0f,%.0f,%.0f\n", m[2][0], m[2][0] - b, m[2][1], m[2][1] - b);
}


int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200000;
	int reps = argc > 2 ? atoi(argv[2]) : 5, r, i;
	double b = 1e18, raw = 1e18, kq = 1e18, ep = 1e18, x;

	if (argc > 3) {
		static const char *const loops[] = { "raw-close", "raw-delete", "kq-close",
						     "kq-delete", "epoll-close", "epoll-delete",
						     "bound", "raw-wait", "kq-wait", "epoll-wait",
						     "kq-wait-512" };
		static double (*const per_event[])(int) = { bound, raw_kevent, libkqueue, epoll,
							    libkqueue_512 };

		for (i = 0; i < 11; i++)
			if (!strcmp(argv[3], loops[i]))
				break;
		if (i == 11)
			return fprintf(stderr, "unknown loop %s\n", argv[3]), 2;
		for (r = 0; i >= 6 && r < NPIPES; r++)
			if (pipe(p[r]))
				return 1;
		for (r = 0; r < reps; r++) {
			INSN_PROFILE_START();
			x = i >= 6 ? per_event[i - 6](rounds) :
			    i < 2 ? conn_raw(rounds, i & 1) :
			    i < 4 ? conn_libkqueue(rounds, i & 1) : conn_epoll(rounds, i & 1);
			INSN_PROFILE_STOP();
			if (x < 0)
				return fprintf(stderr, "%s failed\n", argv[3]), 1;
			printf("%s,%.0f\n", argv[3], x);
		}
		return 0;
	}
	for (i = 0; i < NPIPES; i++)
		if (pipe(p[i]))
			return 1;
	/* The best of reps runs of each, interleaved. */
	for (r = 0; r < reps; r++) {
		x = bound(rounds);
		b = x < b ? x : b;
		x = raw_kevent(rounds);
		if (x < 0)
			return fprintf(stderr, "no kevent\n"), 1;
		raw = x < raw ? x : raw;
		x = libkqueue(rounds);
		if (x < 0)
			return fprintf(stderr, "libkqueue failed\n"), 1;
		kq = x < kq ? x : kq;
		x = epoll(rounds);
		ep = x < ep ? x : ep;
	}
	printf("mechanism,ns_per_round,ns_over_bound\n");
	printf("bound,%.0f,0\n", b);
	printf("kevent,%.0f,%.0f\n", raw, raw - b);
	printf("libkqueue,%.0f,%.0f\n", kq, kq - b);
	printf("epoll,%.0f,%.0f\n", ep, ep - b);
	printf("libkqueue over kevent: %+.0f ns per event (%+.1f %% of kevent's own cost)\n",
	       kq - raw, 100.0 * (kq - raw) / (raw - b));
	conn_table(rounds / 4, reps);
	return 0;
}
