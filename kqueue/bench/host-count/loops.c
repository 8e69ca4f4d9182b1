// SPDX-License-Identifier: MIT
/*
 * loops ROUNDS LOOP CALL: the kqueue library's calls of the web servers'
 * patterns, on fake-kernel.c, with callgrind counting only CALL's
 * kevent() (count.sh runs it). Each round opens its connections (an
 * eventfd with a count: readable); but for kq-wait, 50 rounds run first,
 * uncounted.
 *
 *   kq-delete add|wait|del   lighttpd: a kevent() with one EV_ADD of
 *                            EVFILT_READ, a wait for its one event, a
 *                            kevent() with its EV_DELETE
 *   kq-close addwait         nginx, one connection per wait: the EV_ADD
 *                            (EV_CLEAR) travels in the wait that reports
 *                            it; the descriptor is closed without
 *                            EV_DELETE
 *   kq-close8 addwait8       nginx under load: 8 connections' EV_ADDs
 *                            travel in one wait that reports all 8
 *                            (PER_WAIT=N: N of them, at most 64)
 *   kq-wait kqwait           one event per wait, 64 pipes registered
 *
 * TMO=1: the waits pass a timeout of 1 s (the servers do) instead of none.
 */
#define _GNU_SOURCE
#include <sys/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

extern int fake_collecting;
void fake_close(int fd);

static const char *counted;	/* the CALL counted, or "none" */
static const struct timespec one_second = { 1, 0 };
static const struct timespec *timeout;
static int per_wait = 8;	/* kq-close8's connections per wait */

#define COUNT(call, expr)                                                  \
	({                                                                 \
		int on_ = !strcmp(counted, call), r_;                      \
		if (on_) {                                                 \
			fake_collecting = 1;                               \
			CALLGRIND_TOGGLE_COLLECT;                          \
		}                                                          \
		r_ = (expr);                                               \
		if (on_) {                                                 \
			CALLGRIND_TOGGLE_COLLECT;                          \
			fake_collecting = 0;                               \
		}                                                          \
		r_;                                                        \
	})

static int connection(void)
{
	uint64_t one = 1;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0 || write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
	return fd;
}

static void hang_up(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		abort();
	fake_close(fd);
	close(fd);
}

static void kq_delete(int kq, int rounds)
{
	struct kevent ch, ev;

	for (int i = 0; i < rounds; i++) {
		int fd = connection();

		EV_SET(&ch, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
		if (COUNT("add", kevent(kq, &ch, 1, NULL, 0, NULL)) != 0)
			abort();
		if (COUNT("wait", kevent(kq, NULL, 0, &ev, 1, timeout)) != 1 || (int)ev.ident != fd)
			abort();
		EV_SET(&ch, fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
		if (COUNT("del", kevent(kq, &ch, 1, NULL, 0, NULL)) != 0)
			abort();
		hang_up(fd);
	}
}

static void kq_close(int kq, int rounds, int n, const char *call)
{
	struct kevent ch[64], ev[64];
	int fd[64];

	for (int i = 0; i < rounds; i++) {
		for (int j = 0; j < n; j++) {
			fd[j] = connection();
			EV_SET(&ch[j], fd[j], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
		}
		if (COUNT(call, kevent(kq, ch, n, ev, 64, timeout)) != n)
			abort();
		for (int j = 0; j < n; j++)
			hang_up(fd[j]);
	}
}

static void kq_wait(int kq, int rounds)
{
	static int p[64][2];
	struct kevent ch[64], ev;
	char c;

	for (int i = 0; i < 64; i++) {
		if (pipe(p[i]))
			abort();
		EV_SET(&ch[i], p[i][0], EVFILT_READ, EV_ADD, 0, 0, (void *)(intptr_t)i);
	}
	if (kevent(kq, ch, 64, NULL, 0, NULL) != 0)
		abort();
	for (int i = 0; i < rounds; i++) {
		if (write(p[i % 64][1], "x", 1) != 1)
			abort();
		if (COUNT("kqwait", kevent(kq, NULL, 0, &ev, 1, timeout)) != 1)
			abort();
		if (read(p[(intptr_t)ev.udata][0], &c, 1) != 1)
			abort();
	}
}

static void run(const char *loop, int kq, int rounds)
{
	if (!strcmp(loop, "kq-delete"))
		kq_delete(kq, rounds);
	else if (!strcmp(loop, "kq-close"))
		kq_close(kq, rounds, 1, "addwait");
	else if (!strcmp(loop, "kq-close8"))
		kq_close(kq, rounds, per_wait, "addwait8");
	else if (!strcmp(loop, "kq-wait"))
		kq_wait(kq, rounds);
	else
		fprintf(stderr, "unknown loop %s\n", loop), exit(2);
}

int main(int argc, char **argv)
{
	int kq;

	if (argc != 4)
		return fprintf(stderr, "usage: %s ROUNDS LOOP CALL\n", argv[0]), 2;
	timeout = getenv("TMO") ? &one_second : NULL;
	if (getenv("PER_WAIT"))
		per_wait = atoi(getenv("PER_WAIT"));
	if (per_wait < 1 || per_wait > 64)
		return fprintf(stderr, "PER_WAIT: 1 to 64\n"), 2;
	kq = kqueue();
	if (kq < 0)
		return perror("kqueue"), 1;
	counted = "none";
	if (strcmp(argv[2], "kq-wait"))
		run(argv[2], kq, 50);
	counted = argv[3];
	run(argv[2], kq, atoi(argv[1]));
	return 0;
}
