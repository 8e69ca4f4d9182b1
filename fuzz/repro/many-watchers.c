// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of closing a file watched by very many kevents, against epoll
 * (issue 19: "closing a file watched by very many kevents keeps close() in
 * the kernel for minutes on the debug kernel"):
 *
 *   many-watchers kevent|epoll N
 *
 * N queues (or epoll instances) watch the read end of one pipe; prints
 * the time of the set-up and of the close() that removes all N watches.
 * A measurement, not a test: it asserts nothing about time.
 */
#include "../common.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
	int use_epoll, p[2], *q;
	long n, i;
	struct rlimit rl;
	uint64_t t0, t1, t2;

	if (argc != 3)
		return fprintf(stderr, "usage: %s kevent|epoll N\n", argv[0]), 2;
	use_epoll = !strcmp(argv[1], "epoll");
	n = atol(argv[2]);
	rl.rlim_cur = rl.rlim_max = n + 100;
	if (setrlimit(RLIMIT_NOFILE, &rl) || pipe(p))
		return perror("setrlimit/pipe"), 2;
	q = calloc(n, sizeof(*q));
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (use_epoll) {
			struct epoll_event ee = { .events = EPOLLIN };

			q[i] = epoll_create1(EPOLL_CLOEXEC);
			if (q[i] < 0 || epoll_ctl(q[i], EPOLL_CTL_ADD, p[0], &ee))
				return perror("epoll"), 1;
		} else {
			struct ukevent uk = { .id = p[0], .type = KEVENT_POLL,
					      .event = EPOLLIN };

			q[i] = k_create(KEVENT_CLOEXEC);
			if (q[i] < 0 || k_ctl(q[i], KEVENT_CTL_ADD, 1, &uk) != 1 ||
			    (uk.ret_flags & KEVENT_RET_BROKEN))
				return fprintf(stderr, "kevent add %ld failed\n", i), 1;
		}
	}
	t1 = now_ns();
	close(p[0]);
	t2 = now_ns();
	printf("many-watchers: %s, %ld watchers of one pipe: set up %.2f s, close() %.2f s (%.1f us per watcher)\n",
	       use_epoll ? "epoll" : "kevent", n, (t1 - t0) / 1e9, (t2 - t1) / 1e9,
	       (t2 - t1) / 1e3 / n);
	for (i = 0; i < n; i++)
		close(q[i]);
	close(p[1]);
	return 0;
}
