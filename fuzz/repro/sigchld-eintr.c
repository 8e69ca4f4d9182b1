// SPDX-License-Identifier: GPL-2.0
/*
 * Reproducer of the pollfree_signalfd EINTR (issue 19), made
 * deterministic. In the test, the main thread is inside glibc's
 * pthread_create(), which blocks every signal around clone(), while the
 * new waiter thread has already restored its mask (start_thread()) and
 * sleeps in kevent_get_events(); then the forked child exits. Its SIGCHLD
 * (action SIG_DFL: ignore) is not discarded, because the parent thread
 * blocks it (kernel/signal.c sig_ignored(): blocked signals are never
 * ignored); complete_signal() finds the waiter as the one thread that
 * does not block it and wakes it with TIF_SIGPENDING: EINTR, though no
 * handler exists. Here the main thread blocks everything on purpose, and
 * the child exits once the waiter is asleep in the call.
 *
 * The fix of the test: wait with SIGCHLD blocked (the wait args' sigmask,
 * as epoll_pwait2()): the signal stays queued and the wait times out.
 *
 *   sigchld-eintr      exit 0 if the plain wait got EINTR and the masked
 *                      one timed out (what the explanation predicts)
 */
#include "../common.h"

#include <sys/wait.h>

static int kq;

struct arg {
	int with_mask;
	pid_t tid;
	long ret;
};

static void *waiter(void *p)
{
	struct arg *a = p;
	uint64_t mask = 1ULL << (SIGCHLD - 1);
	struct kevent_wait_args w = { .timeout_ns = 2000000000, .min_nr = 1 };
	struct kevent_event ev[1];
	sigset_t none;

	if (a->with_mask) {
		w.sigmask = PTR64(&mask);
		w.sigmask_size = 8;
	}
	/* as glibc's start_thread(): the thread's own mask back */
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	__atomic_store_n(&a->tid, gettid(), __ATOMIC_RELEASE);
	a->ret = k_get(kq, ev, 1, &w, sizeof(w));
	return NULL;
}

/* Whether thread @tid sleeps in system call @nr (/proc, not timing). */
static int asleep_in(pid_t tid, long nr)
{
	char path[64], buf[128];
	FILE *f;
	long n = -1;
	char state = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		char *p = strrchr(buf, ')');

		if (p && p[1])
			state = p[2];
	}
	fclose(f);
	return n == nr && state == 'S';
}

static long once(int with_mask)
{
	struct arg a = { .with_mask = with_mask };
	sigset_t all, old;
	pthread_t t;
	pid_t pid, tid;
	int p[2];
	char c;

	if (pipe(p))
		return -EIO;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) < 0) {
		}
		_exit(0);
	}
	close(p[0]);
	/* the main thread blocks everything, as inside pthread_create() */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_create(&t, NULL, waiter, &a);
	while (!(tid = __atomic_load_n(&a.tid, __ATOMIC_ACQUIRE)) ||
	       !asleep_in(tid, NR_kevent_get_events))
		usleep(1000);
	close(p[1]);		/* the child exits: SIGCHLD */
	pthread_join(t, NULL);
	waitpid(pid, NULL, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return a.ret;
}

int main(void)
{
	long plain, masked;

	kq = k_create(0);
	if (kq < 0) {
		printf("sigchld-eintr: kevent_create: %s\n", errname(kq));
		return 2;
	}
	plain = once(0);
	masked = once(1);
	printf("sigchld-eintr: a child exits while the main thread blocks every signal; the waiting thread's kevent_get_events(): without a mask %s, with SIGCHLD blocked in the wait args %s\n",
	       plain < 0 ? errname(plain) : "0 (timeout)",
	       masked < 0 ? errname(masked) : "0 (timeout)");
	return plain == -EINTR && masked == 0 ? 0 : 1;
}
