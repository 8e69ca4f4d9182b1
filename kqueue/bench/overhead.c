/*
 * The library's overhead over raw kevent: the same readiness loop through
 * kevent_get_events() directly, through this library's kevent(), and
 * through epoll for reference. NPIPES pipes are watched for reading
 * (level-triggered); each round writes one byte to a pipe, collects the
 * one event and reads the byte. Prints ns per round for each.
 *
 *   cc -O2 -include <tree>/include/uapi/linux/kevent.h overhead.c \
 *      $(pkg-config --cflags --libs libkqueue)      (kqueue/bench/run.sh)
 */
#define _GNU_SOURCE
#include <sys/event.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static double libkqueue(int rounds)
{
	struct kevent ch[NPIPES], ev;
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
		if (kevent(kq, NULL, 0, &ev, 1, NULL) != 1)
			abort();
		drain(p[(intptr_t)ev.udata][0]);
	}
	t = now_ns() - t;
	close(kq);
	return (double)t / rounds;
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

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200000;
	int reps = argc > 2 ? atoi(argv[2]) : 5, r, i;
	double b = 1e18, raw = 1e18, kq = 1e18, ep = 1e18, x;

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
	return 0;
}
