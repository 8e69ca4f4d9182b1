// SPDX-License-Identifier: GPL-2.0
/*
 * The 4-thread kevent-fuzz hangs made deterministic: a thread arms its
 * one-shot watchdog (SIGUSR1 after 30 ms), loses the CPU for longer than
 * that before it enters a wait without a timeout, and the signal lands
 * before the wait: the handler runs, nothing is pending any more, and the
 * wait never ends. The "lost CPU" is a 60 ms busy loop here; the wait is
 * a read() of an empty pipe (any interruptible wait does the same, the
 * fuzzer's were kevent_get_events()/kevent_wait()/read() of a queue).
 *
 * With a repeating watchdog (wd_arm()'s period, what the fuzzers use now)
 * the next signal ends the wait with EINTR. A 2 s alarm() stands for "never".
 *
 *   repro/watchdog-race      exit 0: one-shot hung (ended by the alarm),
 *                            repeating ended with EINTR; 1 otherwise
 */
#include "../common.h"

static volatile sig_atomic_t got_usr1, got_alrm;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		got_usr1++;
	else
		got_alrm = 1;
}

/* 1: the read() ended by the watchdog (EINTR before the alarm) */
static int one_try(timer_t wd, long period_ms, int rfd)
{
	uint64_t t0;
	char c;
	long r;

	got_usr1 = got_alrm = 0;
	alarm(2);
	wd_arm(wd, 30, period_ms);
	t0 = now_ns();
	while (now_ns() - t0 < 60000000ULL)
		;	/* the CPU lost between arming and the call */
	r = read(rfd, &c, 1);
	wd_disarm(wd);
	alarm(0);
	printf("watchdog %s: signal before the read: %s; read: %s, ended by %s\n",
	       period_ms ? "repeating every 100 ms" : "one-shot",
	       got_usr1 ? "yes" : "no", r < 0 ? strerror(errno) : "data",
	       got_alrm ? "the 2 s alarm (would never end)" : "the watchdog");
	return r < 0 && errno == EINTR && !got_alrm;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_sig };	/* no SA_RESTART */
	timer_t wd;
	int p[2], oneshot, repeating;

	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (pipe(p))
		return 2;
	wd_init(&wd);
	oneshot = one_try(wd, 0, p[0]);
	repeating = one_try(wd, 100, p[0]);
	return !oneshot && repeating ? 0 : 1;
}
