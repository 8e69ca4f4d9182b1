// SPDX-License-Identifier: GPL-2.0
/*
 * kevent-stress: threads adding, modifying, removing, enabling, disabling,
 * triggering, waiting and closing on shared ids of one queue while
 * timers fire and watched pipes close, with exact accounting:
 *
 *   - every trigger of a ONESHOT KEVENT_USER kevent is reported exactly
 *     once, unless its REMOVE succeeded first (then never);
 *   - no event arrives for a kevent (a user_data generation) in a wait
 *     call that started after its REMOVE, MODIFY (new user_data) or the
 *     close of its watched file returned;
 *   - the counts of counter USER kevents (never disabled) add up to the
 *     number of successful KEVENT_CTL_READY calls;
 *   - after every queue is closed, the per-user counts are back to zero:
 *     with fs.kevent.max_user_kevents = L a new queue takes exactly L
 *     kevents, and with fs.kevent.max_user_timers = T exactly T timers,
 *     while another (unprivileged) user at its own limit does not matter.
 *
 * Then rounds of closing a queue while threads wait in kevent_get_events(),
 * kevent_wait() and read() on it.
 *
 *   kevent-stress [-s SEED] [-n OPS] [-t SECONDS] [-j THREADS] [-w N] [--fail]
 *
 * -w N: also N queues watching one pipe, which then closes (0: skipped).
 *
 * --fail: the worker threads set /proc/thread-self/make-it-fail, for
 * failslab, fail_page_alloc and fail_usercopy with task-filter (see
 * fuzz/faultinject.sh): ENOMEM and EFAULT are then clean outcomes, and
 * requests whose result could not be written back are left out of the
 * exact counts (but still must not be reported twice or after removal).
 * Exit status 0 only if every check held.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define NONESHOT	64	/* oneshot USER ids */
#define NCOUNTER	8	/* counter USER ids */
#define NCHAOS		48	/* chaos ids, per type (TIMER, USER) */
#define NPIPE		24	/* watched pipes */
#define MAXGEN		(1u << 22)

#define ID_ONESHOT	0
#define ID_COUNTER	1000
#define ID_CHAOS	2000

enum gclass { G_NONE, G_ONESHOT, G_COUNTER, G_CHAOS, G_POLL };

/* user_data: class in the top byte, generation below */
#define UD(c, g)	(((__u64)(c) << 56) | (g))
#define UD_CLASS(u)	((unsigned int)((u) >> 56))
#define UD_GEN(u)	((uint32_t)((u) & 0xffffffffu))

static int kq;
static int fail_mode;
static unsigned long nops = 1000000;
static double tbudget = 60;
static int nthreads = 8;
static long nwatchers;
static uint64_t seed;
static uint64_t t_start;

static uint32_t next_gen = 1;
static uint64_t seqclock = 1;		/* orders retirements and waits */
static uint64_t *retired;		/* [gen]: seq at retirement, 0 live */
static uint32_t *seen;			/* [gen]: reports */
static uint8_t *os_state;		/* [gen]: oneshot state */
static uint8_t *uncertain;		/* [gen]: a result not written back */
enum { OS_NONE, OS_TRIGGERED, OS_REMOVED, OS_GONE };

static unsigned long violations;
static unsigned long ops_done;
static unsigned long events_seen;
static unsigned long nomem, efault, other_err;

#define VIOL(...)							\
	do {								\
		if (__atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED) <= 20) \
			fprintf(stderr, "VIOLATION: " __VA_ARGS__);	\
	} while (0)

static uint32_t new_gen(void)
{
	uint32_t g = __atomic_fetch_add(&next_gen, 1, __ATOMIC_RELAXED);

	return g < MAXGEN ? g : 0;
}

static uint64_t tick(void)
{
	return __atomic_fetch_add(&seqclock, 1, __ATOMIC_SEQ_CST);
}

static void retire(uint32_t g)
{
	if (g && !retired[g])
		__atomic_store_n(&retired[g], tick(), __ATOMIC_SEQ_CST);
}

/* One kevent_ctl() entry. 1: processed, result not written back. */
#define UNKNOWN 1
static long ctl1(int q, unsigned int cmd, __u32 type, __u64 id, __u32 event,
		 __u32 flags, __u64 data, __u64 ud, __u64 start)
{
	struct ukevent uk = { .id = id, .type = type, .event = event,
			      .req_flags = flags, .data = data, .user_data = ud };
	long r;

	uk.timer.start = start;
	r = k_ctl(q, cmd, 1, &uk);
	if (r < 0) {
		if (r == -ENOMEM)
			__atomic_add_fetch(&nomem, 1, __ATOMIC_RELAXED);
		else if (r == -EFAULT)
			__atomic_add_fetch(&efault, 1, __ATOMIC_RELAXED);
		return r;
	}
	if (r != 1) {
		VIOL("kevent_ctl returned %ld for one entry\n", r);
		return -EIO;
	}
	if (!(uk.ret_flags & KEVENT_RET_DONE)) {
		if (!fail_mode)
			VIOL("entry processed, ret_flags %#x\n", uk.ret_flags);
		return UNKNOWN;
	}
	r = uk.ret_flags & KEVENT_RET_BROKEN ? (int32_t)uk.ret_data[1] : 0;
	if (r == -ENOMEM)
		__atomic_add_fetch(&nomem, 1, __ATOMIC_RELAXED);
	return r;
}

/* an errno a request may get here at all */
static void check_clean(const char *what, long r, const char *allowed)
{
	char list[96], *tok, *save;
	const char *n = errname(r);

	if (r == UNKNOWN)
		return;
	if (fail_mode && (r == -ENOMEM || r == -EFAULT))
		return;
	snprintf(list, sizeof(list), "%s", allowed);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, n))
			return;
	__atomic_add_fetch(&other_err, 1, __ATOMIC_RELAXED);
	VIOL("%s -> %s (allowed: %s)\n", what, n, allowed);
}

/* ---- shared state of the ids -------------------------------------- */

struct idslot {
	pthread_mutex_t lock;
	uint32_t gen;		/* believed present with this user_data */
	int fd_r, fd_w;		/* POLL slots */
	__u32 flags;
};

static struct idslot oneshot[NONESHOT];
static struct idslot chaos[2][NCHAOS];	/* [0] TIMER, [1] USER */
static struct idslot pipes[NPIPE];
static uint64_t counter_ready[NCOUNTER];
static uint64_t counter_sum[NCOUNTER];

/* ---- the waiters' side -------------------------------------------- */

static void account(struct kevent_event *ev, long n, uint64_t start)
{
	long i;

	for (i = 0; i < n; i++) {
		unsigned int c = UD_CLASS(ev[i].user_data);
		uint32_t g = UD_GEN(ev[i].user_data);
		uint64_t ret;

		__atomic_add_fetch(&events_seen, 1, __ATOMIC_RELAXED);
		if (c == G_COUNTER) {
			if (g >= NCOUNTER) {
				VIOL("counter event with index %u\n", g);
				continue;
			}
			__atomic_add_fetch(&counter_sum[g], ev[i].data, __ATOMIC_RELAXED);
			continue;
		}
		if (c < G_ONESHOT || c > G_POLL || !g || g >= MAXGEN) {
			VIOL("event with user_data %#llx (type %u id %llu)\n",
			     (unsigned long long)ev[i].user_data, ev[i].type,
			     (unsigned long long)ev[i].id);
			continue;
		}
		if (__atomic_add_fetch(&seen[g], 1, __ATOMIC_RELAXED) > 1 &&
		    c == G_ONESHOT)
			VIOL("oneshot generation %u reported twice\n", g);
		ret = __atomic_load_n(&retired[g], __ATOMIC_SEQ_CST);
		if (ret && ret < start)
			VIOL("event of generation %u (class %u, type %u, id %llu) in a wait that started after its REMOVE/MODIFY/close returned\n",
			     g, c, ev[i].type, (unsigned long long)ev[i].id);
		if ((ev[i].type == KEVENT_USER || ev[i].type == KEVENT_TIMER) &&
		    !ev[i].data)
			VIOL("event with count 0 (type %u id %llu)\n", ev[i].type,
			     (unsigned long long)ev[i].id);
	}
}

static long wait_some(int q, uint64_t timeout_ns)
{
	struct kevent_event ev[32];
	struct kevent_wait_args a = { .timeout_ns = timeout_ns, .min_nr = 1 };
	uint64_t start = tick();
	long n;

	n = k_get(q, ev, 32, &a, sizeof(a));
	if (n > 0)
		account(ev, n, start);
	else if (n < 0 && n != -EINTR)
		check_clean("kevent_get_events", n, "EINTR");
	return n;
}

/* ---- the operations ----------------------------------------------- */

static void op_oneshot(struct rng *r)
{
	struct idslot *s = &oneshot[below(r, NONESHOT)];
	__u64 id = ID_ONESHOT + (s - oneshot);
	long e;

	pthread_mutex_lock(&s->lock);
	if (!s->gen) {
		uint32_t g = new_gen();

		if (!g)
			goto out;
		e = ctl1(kq, KEVENT_CTL_ADD, KEVENT_USER, id, 1, KEVENT_REQ_ONESHOT |
			 (chance(r, 30) ? KEVENT_REQ_WAKEUP_ALL : 0), 0, UD(G_ONESHOT, g), 0);
		check_clean("ADD oneshot", e, "ok");
		if (e == UNKNOWN) {
			/* maybe added: remember it, but count nothing */
			uncertain[g] = 1;
			s->gen = g;
			goto out;
		}
		if (e)
			goto out;
		s->gen = g;
		e = ctl1(kq, KEVENT_CTL_READY, KEVENT_USER, id, 0, 0, 0, 0, 0);
		check_clean("READY oneshot", e, "ok");
		/*
		 * Processed is triggered: the kevent exists (added under our
		 * lock, not reported before a trigger), so READY cannot fail
		 * once the call took the entry.
		 */
		if (e == 0 || e == UNKNOWN)
			os_state[g] = OS_TRIGGERED;
		else
			uncertain[g] = 1;
	} else if (chance(r, 10)) {
		/* ADD of a present key: EEXIST (or added, if it was reported) */
		uint32_t g = new_gen();

		if (!g)
			goto out;
		e = ctl1(kq, KEVENT_CTL_ADD, KEVENT_USER, id, 1, KEVENT_REQ_ONESHOT,
			 0, UD(G_ONESHOT, g), 0);
		check_clean("ADD oneshot again", e, "ok,EEXIST");
		if (e == 0) {
			/* the old one was reported meanwhile */
			if (os_state[s->gen] == OS_TRIGGERED)
				os_state[s->gen] = OS_GONE;
			retire(s->gen);
			s->gen = g;	/* added, not triggered */
		} else if (e == UNKNOWN) {
			uncertain[s->gen] = 1;
			uncertain[g] = 1;
			s->gen = g;
		}
	} else {
		uint32_t g = s->gen;

		e = ctl1(kq, KEVENT_CTL_REMOVE, KEVENT_USER, id, 0, 0, 0, 0, 0);
		check_clean("REMOVE oneshot", e, "ok,ENOENT");
		if (e == 0) {
			if (os_state[g] == OS_TRIGGERED)
				os_state[g] = OS_REMOVED;
		} else if (e == -ENOENT) {
			if (os_state[g] == OS_TRIGGERED)
				os_state[g] = OS_GONE;
		} else {
			/* EFAULT: not processed; UNKNOWN: removed or reported */
			uncertain[g] = 1;
			goto out;
		}
		retire(g);
		s->gen = 0;
	}
out:
	pthread_mutex_unlock(&s->lock);
}

static void op_counter(struct rng *r)
{
	unsigned int i = below(r, NCOUNTER);
	long e = ctl1(kq, KEVENT_CTL_READY, KEVENT_USER, ID_COUNTER + i, 0, 0,
		      0, 0, 0);

	check_clean("READY counter", e, "ok");
	/*
	 * A counter always exists and is never disabled: a processed READY
	 * (the call counted the entry) triggered it, even when its result
	 * could not be written back under fault injection (UNKNOWN).
	 */
	if (e == 0 || e == UNKNOWN)
		__atomic_add_fetch(&counter_ready[i], 1, __ATOMIC_RELAXED);
}

static void op_chaos(struct rng *r)
{
	int t = below(r, 2);
	unsigned int j = below(r, NCHAOS);
	struct idslot *s = &chaos[t][j];
	__u32 type = t ? KEVENT_USER : KEVENT_TIMER;
	__u64 id = ID_CHAOS + j;
	unsigned int x = below(r, 100);
	__u32 flags;
	__u64 period;
	uint32_t g;
	long e;

	if (x < 30) {
		/* lock-free: ENABLE, DISABLE, READY */
		unsigned int cmd = x < 10 ? KEVENT_CTL_ENABLE :
				   x < 20 ? KEVENT_CTL_DISABLE : KEVENT_CTL_READY;

		if (cmd == KEVENT_CTL_READY && type != KEVENT_USER)
			cmd = KEVENT_CTL_ENABLE;
		e = ctl1(kq, cmd, type, id, 0, 0, 0, 0, 0);
		check_clean("ENABLE/DISABLE/READY chaos", e, "ok,ENOENT");
		return;
	}
	flags = (__u32)rnd(r) & (KEVENT_REQ_ONESHOT | KEVENT_REQ_WAKEUP_ALL |
				 KEVENT_REQ_DISPATCH | KEVENT_REQ_DISABLED);
	if ((flags & KEVENT_REQ_ONESHOT) && (flags & KEVENT_REQ_DISPATCH))
		flags &= ~KEVENT_REQ_DISPATCH;
	period = type == KEVENT_TIMER ? 10000 + below(r, 2000000) : 0;
	pthread_mutex_lock(&s->lock);
	if (x < 60) {
		g = new_gen();
		if (!g)
			goto out;
		if (chance(r, 30))
			flags |= KEVENT_REQ_UPDATE;
		e = ctl1(kq, KEVENT_CTL_ADD, type, id, 1, flags, period,
			 UD(G_CHAOS, g), 0);
		check_clean("ADD chaos", e, s->gen ? "ok,EEXIST" : "ok,EEXIST,ENOSPC");
		if (e == 0) {
			/* added, or (UPDATE) the old one took the new user_data */
			retire(s->gen);
			s->gen = g;
		} else if (e == UNKNOWN) {
			/* either may be live: retire neither */
			s->gen = g;
		}
	} else if (x < 80) {
		g = new_gen();
		if (!g)
			goto out;
		e = ctl1(kq, KEVENT_CTL_MODIFY, type, id, 1, flags, period,
			 UD(G_CHAOS, g), 0);
		check_clean("MODIFY chaos", e, "ok,ENOENT");
		if (e == 0) {
			retire(s->gen);
			s->gen = g;
		} else if (e == UNKNOWN) {
			s->gen = g;
		} else if (e == -ENOENT) {
			retire(s->gen);
			s->gen = 0;
		}
	} else {
		e = ctl1(kq, KEVENT_CTL_REMOVE, type, id, 0, 0, 0, 0, 0);
		check_clean("REMOVE chaos", e, "ok,ENOENT");
		if (e == 0 || e == -ENOENT) {
			retire(s->gen);
			s->gen = 0;
		}
	}
out:
	pthread_mutex_unlock(&s->lock);
}

static void op_pipe(struct rng *r)
{
	struct idslot *s = &pipes[below(r, NPIPE)];
	unsigned int x = below(r, 100);
	char c = 'x', b[64];
	uint32_t g;
	long e;

	pthread_mutex_lock(&s->lock);
	if (s->fd_r < 0) {
		int p[2];
		__u32 flags;

		if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
			goto out;
		g = new_gen();
		flags = (__u32)rnd(r) & (KEVENT_REQ_ONESHOT | KEVENT_REQ_ET |
					 KEVENT_REQ_DISPATCH | KEVENT_REQ_FD_CLOSE);
		if ((flags & KEVENT_REQ_ONESHOT) && (flags & KEVENT_REQ_DISPATCH))
			flags &= ~KEVENT_REQ_ONESHOT;
		e = g ? ctl1(kq, KEVENT_CTL_ADD, KEVENT_POLL, p[0], EPOLLIN | EPOLLRDHUP,
			     flags, 0, UD(G_POLL, g), 0) : -ENOSPC;
		check_clean("ADD POLL", e, "ok,ENOSPC");
		s->fd_r = p[0];
		s->fd_w = p[1];
		s->flags = flags;
		s->gen = (e == 0 || e == UNKNOWN) ? g : 0;
		if (chance(r, 50) && write(p[1], &c, 1) < 0) {
		}
	} else if (x < 40) {
		if (write(s->fd_w, &c, 1) < 0) {
		}
	} else if (x < 55) {
		if (read(s->fd_r, b, sizeof(b)) < 0) {
		}
	} else if (x < 65 && s->gen) {
		g = new_gen();
		if (!g)
			goto out;
		e = ctl1(kq, KEVENT_CTL_MODIFY, KEVENT_POLL, s->fd_r, EPOLLIN,
			 s->flags & ~KEVENT_REQ_ONESHOT, 0, UD(G_POLL, g), 0);
		check_clean("MODIFY POLL", e, "ok,ENOENT");
		if (e == 0) {
			retire(s->gen);
			s->gen = g;
		} else if (e == UNKNOWN) {
			s->gen = g;
		} else if (e == -ENOENT) {
			retire(s->gen);
			s->gen = 0;
		}
	} else if (x < 75 && s->gen) {
		e = ctl1(kq, KEVENT_CTL_REMOVE, KEVENT_POLL, s->fd_r, 0, 0, 0, 0, 0);
		check_clean("REMOVE POLL", e, "ok,ENOENT");
		if (e == 0 || e == -ENOENT) {
			retire(s->gen);
			s->gen = 0;
		}
	} else if (x < 82) {
		/* the writer goes: EOF (EPOLLHUP) on the watched end */
		if (s->fd_w >= 0) {
			close(s->fd_w);
			s->fd_w = -1;
		}
	} else {
		/* the watched file closes: its kevent goes with it */
		close(s->fd_r);
		retire(s->gen);
		s->gen = 0;
		if (s->fd_w >= 0)
			close(s->fd_w);
		s->fd_r = s->fd_w = -1;
	}
out:
	pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
	struct rng r = { seed + 0x9e37ULL * (uintptr_t)arg };
	unsigned long i, my = nops / nthreads;
	long me = (long)arg;

	if (fail_mode) {
		FILE *f = fopen("/proc/thread-self/make-it-fail", "w");

		if (!f || fprintf(f, "1") < 0 || fclose(f)) {
			fprintf(stderr, "kevent-stress: cannot set make-it-fail\n");
			exit(2);
		}
	}
	for (i = 0; i < my; i++) {
		unsigned int x = below(&r, 100);

		if ((i & 63) == 0 && (now_ns() - t_start) / 1e9 > tbudget)
			break;
		/* thread 0 mostly waits; the others mostly change things */
		if (me == 0 ? x < 70 : x < 20)
			wait_some(kq, chance(&r, 80) ? 0 : 200000);
		else if (x < 40)
			op_oneshot(&r);
		else if (x < 52)
			op_counter(&r);
		else if (x < 82)
			op_chaos(&r);
		else
			op_pipe(&r);
		__atomic_add_fetch(&ops_done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Wait calls until the queue is empty (timers removed first). */
static void drain(void)
{
	int empty = 0;

	while (empty < 3) {
		long n = wait_some(kq, 0);

		empty = n == 0 ? empty + 1 : 0;
	}
}

static void final_checks(void)
{
	unsigned int i, t;
	uint32_t g, last = __atomic_load_n(&next_gen, __ATOMIC_RELAXED);
	unsigned long once = 0, removed = 0, skipped = 0;
	long e;

	/* Everything but the oneshot and counter kevents goes. */
	for (t = 0; t < 2; t++)
		for (i = 0; i < NCHAOS; i++) {
			ctl1(kq, KEVENT_CTL_REMOVE, t ? KEVENT_USER : KEVENT_TIMER,
			     ID_CHAOS + i, 0, 0, 0, 0, 0);
			retire(chaos[t][i].gen);
		}
	for (i = 0; i < NPIPE; i++)
		if (pipes[i].fd_r >= 0) {
			close(pipes[i].fd_r);
			retire(pipes[i].gen);
			if (pipes[i].fd_w >= 0)
				close(pipes[i].fd_w);
		}
	drain();
	/* A triggered oneshot still present after the drain was lost. */
	for (i = 0; i < NONESHOT; i++) {
		g = oneshot[i].gen;
		if (!g)
			continue;
		e = ctl1(kq, KEVENT_CTL_REMOVE, KEVENT_USER, ID_ONESHOT + i, 0, 0,
			 0, 0, 0);
		if (e == 0 && os_state[g] == OS_TRIGGERED && !uncertain[g])
			VIOL("oneshot generation %u triggered, never reported\n", g);
		if (e == -ENOENT && os_state[g] == OS_TRIGGERED)
			os_state[g] = OS_GONE;
		if (e == 0 && os_state[g] == OS_TRIGGERED)
			os_state[g] = OS_REMOVED;
	}
	for (g = 1; g < last && g < MAXGEN; g++) {
		if (uncertain[g]) {
			skipped++;
			continue;
		}
		if (os_state[g] == OS_GONE) {
			if (seen[g] != 1)
				VIOL("oneshot generation %u reported %u times (expected once)\n",
				     g, seen[g]);
			once++;
		} else if (os_state[g] == OS_REMOVED) {
			if (seen[g])
				VIOL("oneshot generation %u removed before its report, reported %u times\n",
				     g, seen[g]);
			removed++;
		}
	}
	for (i = 0; i < NCOUNTER; i++) {
		if (counter_ready[i] >= UINT64_MAX / 2) {
			skipped++;
			continue;
		}
		if (counter_ready[i] != counter_sum[i])
			VIOL("counter %u: %llu READY calls succeeded, counts reported add up to %llu\n",
			     i, (unsigned long long)counter_ready[i],
			     (unsigned long long)counter_sum[i]);
	}
	printf("kevent-stress: oneshot triggers reported exactly once: %lu; removed before report (never reported): %lu; left out (result unknown under faults): %lu\n",
	       once, removed, skipped);
	for (i = 0; i < NCOUNTER; i++)
		if (counter_ready[i] >= UINT64_MAX / 2)
			printf("kevent-stress: counter %u: a READY result was not written back (fault): %llu counted, not checked\n",
			       i, (unsigned long long)counter_sum[i]);
		else
			printf("kevent-stress: counter %u: %llu READY, %llu counted\n", i,
			       (unsigned long long)counter_ready[i],
			       (unsigned long long)counter_sum[i]);
}

/* ---- closing a queue under its waiters ---------------------------- */

struct cw {
	int fd;
	int how;	/* 0 get_events, 1 kevent_wait, 2 read, 3 poll */
	long ret;
	timer_t wd;
};

static void on_sig(int s)
{
	(void)s;
}

static void *cw_thread(void *arg)
{
	struct cw *c = arg;
	struct kevent_wait_args a = { .timeout_ns = 50000000, .min_nr = 1 };
	struct kevent_event ev[4];
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
				.sigev_signo = SIGUSR1 };
	struct itimerspec its = { .it_value.tv_nsec = 200000000 };

	sev._sigev_un._tid = gettid();
	timer_create(CLOCK_MONOTONIC, &sev, &c->wd);
	timer_settime(c->wd, 0, &its, NULL);
	if (c->how == 0)
		c->ret = k_get(c->fd, ev, 4, &a, sizeof(a));
	else if (c->how == 1)
		c->ret = k_wait(c->fd, 4, &a, sizeof(a));
	else if (c->how == 2)
		c->ret = ret_errno(read(c->fd, ev, sizeof(ev)));
	else {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		c->ret = ret_errno(poll(&p, 1, 100));
	}
	timer_delete(c->wd);
	return NULL;
}

static void close_while_waiting(int rounds)
{
	static char ringmem[64 + 32 * 8] __attribute__((aligned(64)));
	int i, w;

	for (i = 0; i < rounds; i++) {
		int q = k_create(0), p[2];
		struct cw c[4];
		pthread_t th[4];

		if (q < 0 || pipe2(p, O_CLOEXEC)) {
			VIOL("kevent_create/pipe: %s\n", errname(q));
			return;
		}
		ctl1(q, KEVENT_CTL_ADD, KEVENT_USER, 1, 1, 0, 0, 0, 0);
		ctl1(q, KEVENT_CTL_ADD, KEVENT_POLL, p[0], EPOLLIN, 0, 0, 0, 0);
		if (i % 2)
			ctl1(q, KEVENT_CTL_ADD, KEVENT_TIMER, 7, 1, KEVENT_REQ_ONESHOT,
			     0, 0, 5000000);
		if (k_ring_init(q, ringmem, 8, 0))
			VIOL("kevent_ring_init failed\n");
		for (w = 0; w < 4; w++) {
			c[w].fd = q;
			c[w].how = w;
			pthread_create(&th[w], NULL, cw_thread, &c[w]);
		}
		usleep(2000);
		close(q);
		if (i % 3 == 0 && write(p[1], "x", 1) < 0) {
		}
		close(p[0]);
		close(p[1]);
		for (w = 0; w < 4; w++) {
			pthread_join(th[w], NULL);
			if (c[w].ret < 0 && c[w].ret != -EINTR && c[w].ret != -EBADF &&
			    c[w].ret != -EINVAL)
				VIOL("wait %d on a closing queue: %s\n", w,
				     errname(c[w].ret));
		}
	}
}

/* ---- queues watching queues; many tiny timers --------------------- */

/*
 * A chain of NQ queues, each watching the next level-triggered (an epoll
 * set in between every 8th link), the last watching the first: a cycle.
 * One USER event at the end of the chain makes every queue readable; the
 * ABI says level-triggered watchers of each other go quiet once their
 * events are reported. Counts, not time: at most 64 rounds of
 * zero-timeout waits over all queues until two whole rounds in a row
 * report nothing.
 */
static void chains(void)
{
	enum { NQ = 48 };
	int q[NQ], ep[NQ], i, round, quiet = 0, zero = 0;
	long total = 0;

	for (i = 0; i < NQ; i++) {
		q[i] = k_create(0);
		ep[i] = -1;
		if (q[i] < 0) {
			VIOL("chains: kevent_create: %s\n", errname(q[i]));
			return;
		}
	}
	for (i = 0; i < NQ; i++) {
		int next = q[(i + 1) % NQ], target = next;
		long e;

		if (i % 8 == 7) {
			struct epoll_event ee = { .events = EPOLLIN };

			ep[i] = epoll_create1(0);
			epoll_ctl(ep[i], EPOLL_CTL_ADD, next, &ee);
			target = ep[i];
		}
		e = ctl1(q[i], KEVENT_CTL_ADD, KEVENT_POLL, target, EPOLLIN, 0, 0, 0, 0);
		if (e)
			VIOL("chains: ADD POLL of the next queue: %s\n", errname(e));
	}
	ctl1(q[NQ - 1], KEVENT_CTL_ADD, KEVENT_USER, 1, 1, 0, 0, 0, 0);
	ctl1(q[NQ - 1], KEVENT_CTL_READY, KEVENT_USER, 1, 0, 0, 0, 0, 0);
	for (round = 0; round < 64 && !quiet; round++) {
		long n = 0;

		usleep(1000);	/* let the irq_work wake-ups run */
		/* the far end of the chain first: every link is still ready */
		for (i = 0; i < NQ; i++) {
			struct kevent_event ev[8];
			struct kevent_wait_args a = { .timeout_ns = 0 };
			long r = k_get(q[i], ev, 8, &a, sizeof(a));

			if (r < 0)
				VIOL("chains: get_events: %s\n", errname(r));
			else
				n += r;
		}
		total += n;
		/* two rounds in a row without an event */
		zero = n ? 0 : zero + 1;
		quiet = zero >= 2;
	}
	printf("kevent-stress: a cycle of %d queues (epoll every 8th): %ld events, quiet after %d rounds%s\n",
	       NQ, total, round, quiet ? "" : " (NOT quiet)");
	if (!quiet)
		VIOL("level-triggered queues watching each other did not go quiet in 64 rounds (%ld events)\n",
		     total);
	for (i = 0; i < NQ; i++) {
		close(q[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
}

/*
 * Many timers with tiny periods (1..10 us) on one queue, read a few times,
 * then the queue closes with all of them armed.
 */
static void timer_storm(int n)
{
	int q = k_create(0), i, r;
	long added = 0, got = 0;

	if (q < 0)
		return;
	for (i = 0; i < n; i++)
		if (!ctl1(q, KEVENT_CTL_ADD, KEVENT_TIMER, i, 1,
			  i % 3 ? 0 : KEVENT_REQ_WAKEUP_ALL, 1000 + i % 10 * 1000, 0, 0))
			added++;
	for (r = 0; r < 5; r++) {
		struct kevent_event ev[256];
		struct kevent_wait_args a = { .timeout_ns = 1000000 };
		long k = k_get(q, ev, 256, &a, sizeof(a));

		if (k < 0 && k != -EINTR)
			VIOL("timer storm: get_events: %s\n", errname(k));
		else if (k > 0)
			got += k;
	}
	close(q);
	printf("kevent-stress: %ld timers of 1..10 us: %ld reports in 5 waits, closed armed\n",
	       added, got);
	if (added != n)
		VIOL("timer storm: only %ld of %d timers added\n", added, n);
}

/*
 * One pipe watched by @n queues (issue 19's soft lockup: the close of a
 * file watched by very many kevents walked them all without rescheduling):
 * then the pipe closes, the kevents go with it, and the queues close.
 * The debug kernel's soft-lockup and hung-task detectors are the check.
 */
static void many_watchers(long n)
{
	struct rlimit rl = { n + 100, n + 100 };
	int p[2], *q;
	long i, made = 0;
	uint64_t t0;

	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		printf("kevent-stress: cannot raise RLIMIT_NOFILE to %ld: many watchers skipped\n",
		       n + 100);
		VIOL("RLIMIT_NOFILE\n");
		return;
	}
	q = calloc(n, sizeof(*q));
	if (!q || pipe2(p, O_CLOEXEC))
		return;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		long e;

		q[i] = k_create(KEVENT_CLOEXEC);
		if (q[i] < 0) {
			VIOL("many watchers: kevent_create %ld: %s\n", i, errname(q[i]));
			break;
		}
		e = ctl1(q[i], KEVENT_CTL_ADD, KEVENT_POLL, p[0], EPOLLIN, 0, 0, 0, 0);
		if (e) {
			VIOL("many watchers: ADD %ld: %s\n", i, errname(e));
			close(q[i]);
			break;
		}
		made++;
	}
	printf("kevent-stress: %ld queues watch one pipe (%.1f s to set up)\n", made,
	       (now_ns() - t0) / 1e9);
	fflush(stdout);
	if (write(p[1], "x", 1) < 0) {
	}
	t0 = now_ns();
	close(p[0]);
	printf("kevent-stress: close() of the watched pipe took %.2f s\n",
	       (now_ns() - t0) / 1e9);
	close(p[1]);
	/* every kevent went with the pipe: a queue reports nothing */
	for (i = 0; i < made; i += made / 16 + 1) {
		struct kevent_event ev[2];
		struct kevent_wait_args a = { .timeout_ns = 0 };
		long r = k_get(q[i], ev, 2, &a, sizeof(a));

		if (r != 0)
			VIOL("many watchers: queue %ld reported %ld after the pipe closed\n", i, r);
	}
	for (i = 0; i < made; i++)
		close(q[i]);
	free(q);
}

/* ---- the per-user counts ------------------------------------------ */

/* How many USER kevents (or timers) a fresh queue takes until ENOSPC. */
static long fill(int timers, long cap)
{
	int q = k_create(0);
	long n = 0, e;

	if (q < 0)
		return -1;
	for (n = 0; n < cap; n++) {
		e = timers ? ctl1(q, KEVENT_CTL_ADD, KEVENT_TIMER, n, 1, 0,
				  3600ULL * 1000000000ULL, 0, 0) :
			     ctl1(q, KEVENT_CTL_ADD, KEVENT_USER, n, 1, 0, 0, 0, 0);
		if (e == -ENOSPC)
			break;
		if (e) {
			VIOL("fill: %s after %ld\n", errname(e), n);
			break;
		}
	}
	close(q);
	return n;
}

static int reconcile(void)
{
	long old_k = sysctl_read(SYSCTL_KEVENTS), old_t = sysctl_read(SYSCTL_TIMERS);
	const long L = 300, T = 200;
	long got_k, got_t, child_k = -1;
	int st, sv[2], back[2];
	pid_t pid;

	if (old_k < 0 || old_t < 0 || sysctl_write(SYSCTL_KEVENTS, L) ||
	    sysctl_write(SYSCTL_TIMERS, T)) {
		printf("kevent-stress: cannot set the fs.kevent sysctls (not root?): per-user counts not checked\n");
		return -1;
	}
	/* Another user fills its own quota and keeps it meanwhile. */
	if (pipe(sv) || pipe(back))
		return -1;
	pid = fork();
	if (pid == 0) {
		long n;
		char c;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		n = fill(0, L + 10);
		/* hold a full queue while the parent checks */
		{
			int q = k_create(0);
			long i;

			for (i = 0; i < L; i++)
				ctl1(q, KEVENT_CTL_ADD, KEVENT_USER, i, 1, 0, 0, 0, 0);
			if (write(sv[1], &n, sizeof(n)) < 0)
				_exit(3);
			if (read(back[0], &c, 1) < 0) {
			}
		}
		_exit(0);
	}
	if (read(sv[0], &child_k, sizeof(child_k)) != sizeof(child_k))
		child_k = -1;
	got_k = fill(0, L + 10);
	got_t = fill(1, T + 10);
	if (write(back[1], "x", 1) < 0) {
	}
	waitpid(pid, &st, 0);
	close(sv[0]);
	close(sv[1]);
	close(back[0]);
	close(back[1]);
	sysctl_write(SYSCTL_KEVENTS, old_k);
	sysctl_write(SYSCTL_TIMERS, old_t);
	printf("kevent-stress: per-user counts after close: a new queue took %ld of max_user_kevents %ld, %ld of max_user_timers %ld; user 65534 at its own limit took %ld\n",
	       got_k, L, got_t, T, child_k);
	if (got_k != L)
		VIOL("kevents still charged to the user after every queue closed: %ld of %ld free\n",
		     got_k, L);
	if (got_t != T)
		VIOL("timers still charged to the user after every queue closed: %ld of %ld free\n",
		     got_t, T);
	if (child_k != L)
		VIOL("the other user took %ld kevents of %ld\n", child_k, L);
	return 0;
}

static long slab_objects(const char *cache)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "/sys/kernel/slab/%s/shrink", cache);
	f = fopen(p, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "/sys/kernel/slab/%s/objects", cache);
	return sysctl_read(p);
}

/*
 * Kevents live in one slab cache per type (the kevent and its source's
 * data in one object): their sum, or -1 if one of them is not exposed.
 */
static long kevent_slab_objects(void)
{
	static const char *const caches[] = {
		"kevent_poll", "kevent_timer", "kevent_user",
	};
	long sum = 0, naio;
	size_t i;

	for (i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
		long n = slab_objects(caches[i]);

		if (n < 0)
			return -1;
		sum += n;
	}
	/* the requests' own cache, on a kernel with KEVENT_NAIO */
	naio = slab_objects("kevent_naio");
	return sum + (naio > 0 ? naio : 0);
}

/* ---- KEVENT_NAIO: requests on connections, exact accounting -------- */

/*
 * Threads submit sends and receives on connections (unix stream pairs
 * and loopback TCP) of one queue while others report it, REMOVE requests
 * and close connections: abruptly (close() or dup2() over an end, which
 * cancels its requests) or gracefully (shutdown() of both ends; the
 * connection is closed once its last request was reported). Exact:
 *
 *   - every request ADD accepted is reported exactly once (each id is
 *     used once; a second report, or one of an id never accepted, is a
 *     violation), with its operation, a result within [-4095, len] that
 *     is negative exactly with KEVENT_EV_ERROR, -ECANCELED only after a
 *     REMOVE that returned 0 or a close of its descriptor; REMOVE finds
 *     every request not yet reported (ENOENT for one in flight: lost);
 *   - per connection closed gracefully, and in each direction, the bytes
 *     received (the receives' results, and what was still in the socket)
 *     equal the bytes of the completed sends (their results);
 *   - at the end every connection is closed and the queue drained: no
 *     request may be left; then queues closed with requests in flight drop
 *     them (the per-user counts and the kevent_naio slab are checked by
 *     reconcile() and the slab check).
 */
#ifndef KEVENT_NAIO_SEND
#define KEVENT_NAIO		5
#define KEVENT_NAIO_SEND	0x1
#define KEVENT_NAIO_RECV	0x2
#endif
#ifndef KEVENT_NAIO_SENDFILE
#define KEVENT_NAIO_SENDFILE	0x4
#endif
#define NNC		12		/* connections */
#define NMAXREQ		(1u << 19)	/* requests of the phase */
#define NINFLIGHT	1500		/* at most in flight at once */
#define NBUF		(1 << 20)	/* receive area: nothing else uses it */

/*
 * KEVENT_NAIO_SENDFILE: requests send from one sealed memfd of NS_SFSZ
 * known bytes (ns_sf_byte()). A completion nothing cut short has exactly
 * the bytes of its range in the file, KEVENT_EV_EOF exactly when the file
 * ended first. On a "checked" connection (no receive requests: its bytes
 * are read directly into a log) the bytes each end received must be, in
 * order, the bytes of the sends and sendfiles of the other end (each
 * request's result, in submission order: one order for both kinds).
 */
#define NS_SFSZ		(256 * 1024 + 77)
#define NS_RXMAX	(2 << 20)	/* content logged per direction, at most */

struct nslog {
	uint32_t *ids;		/* accepted sends and sendfiles, in order */
	size_t n, cap;
	unsigned char *rx;	/* the bytes received on this end */
	size_t rxn;
};

struct nsconn {
	pthread_mutex_t lock;
	int fd[2];
	int tcp;
	int check;		/* no RECV requests; direct reads logged */
	int over;		/* a log overflowed: content not checked */
	struct nslog log[2];	/* [end] */
	int state;		/* 0 open, 1 shutting down, 2 closed */
	int exact;		/* no abrupt close: the bytes must add up */
	int closed_ends;	/* bit e: end e was closed (its requests cancelled) */
	unsigned int gen;
	long inflight;		/* requests not reported yet */
	uint64_t sent[2];	/* [end]: bytes of completed sends from end */
	uint64_t recvd[2];	/* [end]: bytes received on end */
};

struct nsreq {
	uint8_t state;		/* 0 unused, 1 in flight, 2 reported */
	uint8_t op, end, removed, unknown, enoent, nosignal;
	uint8_t sf_eof;		/* SENDFILE: the file ends before len */
	uint16_t conn;
	uint32_t gen, len;
	uint64_t off;		/* SENDFILE: the offset */
	int64_t res;		/* the result reported */
	uint32_t sf_bytes;	/* SENDFILE: the bytes of its range */
};

static struct nsconn nconn[NNC];
static struct nsreq *nreq;
static uint32_t nreq_next = 1;
static long n_inflight;
static char *nbuf_recv, *nbuf_send;
static int nq = -1;
static int ns_listener = -1;
static struct sockaddr_in ns_addr;
static unsigned long ns_accepted, ns_reported, ns_cancelled, ns_bytes,
	ns_graceful, ns_abrupt, ns_removed, ns_enoent, ns_epipe_signal;
static unsigned long ns_sf_accepted, ns_sf_reported, ns_sf_exact, ns_sf_eof,
	ns_sf_bytes, ns_checked, ns_checked_bytes, ns_unchecked;
static int ns_sf = -1;		/* the memfd, or -1: no sendfiles */

static unsigned char ns_sf_byte(uint64_t off)
{
	return (unsigned char)(off * 131 + (off >> 9) + 7);
}

static void ns_log_add(struct nslog *l, uint32_t id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint32_t *p = realloc(l->ids, cap * sizeof(*p));

		if (!p)
			return;
		l->ids = p;
		l->cap = cap;
	}
	l->ids[l->n++] = id;
}

/* Bytes received on end @e of a checked connection */
static void ns_rx(struct nsconn *c, int e, const char *buf, long n)
{
	struct nslog *l = &c->log[e];

	if (!c->check || c->over)
		return;
	if (l->rxn + n > NS_RXMAX) {
		c->over = 1;
		return;
	}
	if (!l->rx)
		l->rx = malloc(NS_RXMAX);
	if (!l->rx) {
		c->over = 1;
		return;
	}
	memcpy(l->rx + l->rxn, buf, n);
	l->rxn += n;
}

/*
 * A checked connection shut down gracefully, every request reported and
 * the sockets read to the end: what end !e received is what end e's
 * requests sent, in order. Under c->lock.
 */
static void ns_check_content(struct nsconn *c)
{
	int e;

	if (!c->check || c->over || fail_mode) {
		if (c->check)
			__atomic_add_fetch(&ns_unchecked, 1, __ATOMIC_RELAXED);
		return;
	}
	for (e = 0; e < 2; e++) {
		struct nslog *l = &c->log[e], *rl = &c->log[!e];
		size_t pos = 0, k, i;

		for (k = 0; k < l->n; k++) {
			struct nsreq *q = &nreq[l->ids[k]];

			if (q->state != 2 || q->res <= 0)
				continue;
			for (i = 0; i < (size_t)q->res; i++, pos++) {
				unsigned char want = q->op == KEVENT_NAIO_SEND ? 'n' :
						     ns_sf_byte(q->off + i);

				if (pos >= rl->rxn || rl->rx[pos] != want) {
					VIOL("NAIO connection %ld (gen %u, %s) end %d: byte %zu of the stream is %s, not %#x (byte %zu of request %u, %s off %llu len %u result %lld)\n",
					     (long)(c - nconn), c->gen, c->tcp ? "tcp" : "unix", !e, pos,
					     pos >= rl->rxn ? "missing" : "different", want, i, l->ids[k],
					     q->op == KEVENT_NAIO_SEND ? "SEND" : "SENDFILE",
					     (unsigned long long)q->off, q->len, (long long)q->res);
					return;
				}
			}
		}
		if (pos != rl->rxn) {
			VIOL("NAIO connection %ld (gen %u) end %d: %zu bytes received, the requests sent %zu\n",
			     (long)(c - nconn), c->gen, !e, rl->rxn, pos);
			return;
		}
		__atomic_add_fetch(&ns_checked_bytes, pos, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&ns_checked, 1, __ATOMIC_RELAXED);
}

static void ns_log_reset(struct nsconn *c)
{
	int e;

	for (e = 0; e < 2; e++) {
		c->log[e].n = 0;
		c->log[e].rxn = 0;
	}
	c->over = 0;
}
/* one connect()+accept() at a time: each takes its own connection */
static pthread_mutex_t ns_tcp_lock = PTHREAD_MUTEX_INITIALIZER;
/* SIGPIPE: counted, as a request must never raise it */
static unsigned long ns_sigpipe;

static void ns_on_sigpipe(int s)
{
	(void)s;
	__atomic_add_fetch(&ns_sigpipe, 1, __ATOMIC_RELAXED);
}

static int ns_open(struct nsconn *c, struct rng *r)
{
	int fds[2];

	c->tcp = ns_listener >= 0 && chance(r, 30);
	if (c->tcp) {
		fds[0] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[0] < 0)
			return -1;
		pthread_mutex_lock(&ns_tcp_lock);
		if (connect(fds[0], (void *)&ns_addr, sizeof(ns_addr)) ||
		    (fds[1] = accept4(ns_listener, NULL, NULL, SOCK_NONBLOCK)) < 0) {
			pthread_mutex_unlock(&ns_tcp_lock);
			close(fds[0]);
			return -1;
		}
		pthread_mutex_unlock(&ns_tcp_lock);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds)) {
		return -1;
	}
	c->fd[0] = fds[0];
	c->fd[1] = fds[1];
	c->state = 0;
	c->exact = 1;
	c->check = chance(r, 40);
	ns_log_reset(c);
	c->closed_ends = 0;
	c->gen++;
	c->sent[0] = c->sent[1] = c->recvd[0] = c->recvd[1] = 0;
	return 0;
}

/*
 * The bytes of a connection shut down whose requests were all reported:
 * what is still in a socket is read here and counts as received; then,
 * per direction, received == sent. Under c->lock.
 */
static void ns_settle(struct nsconn *c)
{
	char buf[4096];
	int e;

	/*
	 * Both ends are shut down for writing: read up to the end of file
	 * (TCP may still carry bytes from the sender's queue over loopback).
	 */
	for (e = 0; e < 2 && c->exact; e++)
		for (;;) {
			long n = recv(c->fd[e], buf, sizeof(buf), MSG_DONTWAIT);
			struct pollfd p = { .fd = c->fd[e], .events = POLLIN };

			if (n > 0) {
				c->recvd[e] += n;
				ns_rx(c, e, buf, n);
				continue;
			}
			if (n == 0 || errno != EAGAIN || poll(&p, 1, 2000) <= 0)
				break;
		}
	if (c->exact && !fail_mode) {
		if (c->sent[0] != c->recvd[1] || c->sent[1] != c->recvd[0])
			VIOL("NAIO connection %ld (gen %u, %s): sent %llu/%llu bytes, received %llu/%llu\n",
			     (long)(c - nconn), c->gen, c->tcp ? "tcp" : "unix",
			     (unsigned long long)c->sent[0], (unsigned long long)c->sent[1],
			     (unsigned long long)c->recvd[1], (unsigned long long)c->recvd[0]);
		else
			ns_check_content(c);
		ns_graceful++;
	}
	close(c->fd[0]);
	close(c->fd[1]);
	c->fd[0] = c->fd[1] = -1;
	c->state = 2;
}

static void ns_account(struct kevent_event *ev, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		uint64_t id = ev[i].id;
		__s64 res = (__s64)ev[i].data;
		struct nsreq *q;
		struct nsconn *c;
		int closed;

		__atomic_add_fetch(&events_seen, 1, __ATOMIC_RELAXED);
		if (ev[i].type != KEVENT_NAIO || !id || id >= NMAXREQ) {
			VIOL("NAIO phase: event type %u id %llu\n", ev[i].type,
			     (unsigned long long)id);
			continue;
		}
		q = &nreq[id];
		c = &nconn[q->conn];
		pthread_mutex_lock(&c->lock);
		if (q->state != 1) {
			VIOL("NAIO request %llu reported %s\n", (unsigned long long)id,
			     q->state ? "twice" : "but never accepted");
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		q->state = 2;
		q->res = res;
		closed = c->closed_ends >> q->end & 1;
		if (ev[i].events != q->op || res < -4095 || res > q->len ||
		    !!(ev[i].flags & KEVENT_EV_ERROR) != (res < 0) ||
		    (q->op == KEVENT_NAIO_SEND && res == 0) ||
		    ((ev[i].flags & KEVENT_EV_EOF) && q->op != KEVENT_NAIO_SENDFILE &&
		     (q->op != KEVENT_NAIO_RECV || res)) ||
		    (res == -ECANCELED && !q->removed && !closed && !q->unknown))
			VIOL("NAIO request %llu (%s len %u%s%s): events %#x flags %#x result %lld\n",
			     (unsigned long long)id, q->op == KEVENT_NAIO_SEND ? "SEND" :
			     q->op == KEVENT_NAIO_RECV ? "RECV" : "SENDFILE",
			     q->len, q->removed ? ", removed" : "", closed ? ", closed" : "",
			     ev[i].events, ev[i].flags, (long long)res);
		if (q->op == KEVENT_NAIO_SENDFILE) {
			int eof = !!(ev[i].flags & KEVENT_EV_EOF);

			__atomic_add_fetch(&ns_sf_reported, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&ns_sf_eof, eof, __ATOMIC_RELAXED);
			if (res > 0)
				__atomic_add_fetch(&ns_sf_bytes, res, __ATOMIC_RELAXED);
			/*
			 * Nothing cut it short (no REMOVE, no close or shutdown
			 * of its connection since, no fault injected): exactly
			 * its range's bytes, EOF exactly when the file ended
			 * first. Else at most that, EOF only with all of it.
			 */
			if (!q->removed && !q->unknown && q->gen == c->gen &&
			    c->state == 0 && !fail_mode) {
				if (res != q->sf_bytes || eof != q->sf_eof)
					VIOL("NAIO SENDFILE %llu (off %llu len %u of %d bytes): result %lld%s, not %u%s\n",
					     (unsigned long long)id, (unsigned long long)q->off, q->len,
					     NS_SFSZ, (long long)res, eof ? " with EOF" : "",
					     q->sf_bytes, q->sf_eof ? " with EOF" : "");
				else
					__atomic_add_fetch(&ns_sf_exact, 1, __ATOMIC_RELAXED);
			} else if (res > (int64_t)q->sf_bytes || (res == 0 && !eof) ||
				   (eof && (res != q->sf_bytes || !q->sf_eof))) {
				VIOL("NAIO SENDFILE %llu (off %llu len %u, cut short): result %lld%s, its range has %u%s\n",
				     (unsigned long long)id, (unsigned long long)q->off, q->len,
				     (long long)res, eof ? " with EOF" : "",
				     q->sf_bytes, q->sf_eof ? " with EOF" : "");
			}
		}
		if (res > 0 && q->gen == c->gen) {
			if (q->op == KEVENT_NAIO_SEND || q->op == KEVENT_NAIO_SENDFILE)
				c->sent[q->end] += res;
			else
				c->recvd[q->end] += res;
			ns_bytes += res;
		}
		if (res == -ECANCELED)
			ns_cancelled++;
		if (res == -EPIPE && !q->nosignal)
			ns_epipe_signal++;
		__atomic_add_fetch(&ns_reported, 1, __ATOMIC_RELAXED);
		if (q->gen == c->gen) {
			c->inflight--;
			if (!c->inflight && c->state == 1)
				ns_settle(c);
		}
		__atomic_sub_fetch(&n_inflight, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&c->lock);
	}
}

static long ns_wait(uint64_t timeout_ns)
{
	struct kevent_event ev[32];
	struct kevent_wait_args a = { .timeout_ns = timeout_ns, .min_nr = 1 };
	long n = k_get(nq, ev, 32, &a, sizeof(a));

	if (n > 0)
		ns_account(ev, n);
	else if (n < 0)
		check_clean("kevent_get_events (NAIO)", n, "EINTR");
	return n;
}

static void ns_submit(struct rng *r)
{
	struct nsconn *c = &nconn[below(r, NNC)];
	struct ukevent uk[4];
	unsigned int n = 1 + below(r, 4), i;
	uint32_t ids[4];
	long ret;

	if (__atomic_load_n(&n_inflight, __ATOMIC_RELAXED) > NINFLIGHT)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->state == 2 && !c->inflight && ns_open(c, r))
		c->state = 2;
	if (c->state != 0) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	memset(uk, 0, sizeof(uk));
	for (i = 0; i < n; i++) {
		uint32_t id = __atomic_fetch_add(&nreq_next, 1, __ATOMIC_RELAXED);
		struct nsreq *q;
		__u32 len = chance(r, 20) ? 4096 + below(r, 60000) : 1 + below(r, 2048);
		unsigned int x;
		int fl;

		if (id >= NMAXREQ) {
			n = i;
			break;
		}
		q = &nreq[id];
		x = below(r, 100);
		/* a checked connection's bytes are read directly: no receives */
		q->op = x < (c->check ? 60 : 35) ? KEVENT_NAIO_SEND :
			x < 70 || ns_sf < 0 ? (c->check ? KEVENT_NAIO_SEND : KEVENT_NAIO_RECV) :
			KEVENT_NAIO_SENDFILE;
		q->end = below(r, 2);
		q->conn = c - nconn;
		q->gen = c->gen;
		q->len = len;
		fl = q->op == KEVENT_NAIO_SEND ? (chance(r, 50) ? MSG_NOSIGNAL : 0) :
		     q->op == KEVENT_NAIO_RECV ? (chance(r, 30) ? MSG_WAITALL : 0) :
		     (chance(r, 20) ? MSG_MORE : 0) | (chance(r, 50) ? MSG_NOSIGNAL : 0);
		q->nosignal = !!(fl & MSG_NOSIGNAL);
		uk[i].id = id;
		uk[i].type = KEVENT_NAIO;
		uk[i].event = q->op;
		uk[i].req_flags = chance(r, 20) ? KEVENT_REQ_WAKEUP_ALL : 0;
		uk[i].data = PTR64(q->op == KEVENT_NAIO_SEND ? nbuf_send :
				   nbuf_recv + below(r, NBUF - len));
		if (q->op == KEVENT_NAIO_SENDFILE) {
			unsigned int y = below(r, 20);

			/* inside mostly; near, at and past the end */
			q->off = y < 14 ? below(r, NS_SFSZ) : y < 17 ? NS_SFSZ - below(r, 4096) :
				 y < 19 ? NS_SFSZ : NS_SFSZ + 1 + below(r, 100000);
			if (chance(r, 5))
				len = q->len = 0x7ffff000u - below(r, 1000);	/* to the end */
			else if (chance(r, 5))
				q->off = NS_SFSZ - len;	/* ends exactly at the end: no EOF */
			q->sf_bytes = q->off >= NS_SFSZ ? 0 :
				      NS_SFSZ - q->off < len ? NS_SFSZ - q->off : len;
			q->sf_eof = q->off >= NS_SFSZ || NS_SFSZ - q->off < len;
			uk[i].data = q->off;
			uk[i].__reserved[3] = ns_sf;	/* naio.in_fd */
		}
		uk[i].__reserved[0] = c->fd[q->end];	/* naio.fd */
		uk[i].__reserved[1] = len;		/* naio.len */
		uk[i].__reserved[2] = fl;		/* naio.msg_flags */
		ids[i] = id;
	}
	if (!n) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/* in flight before the call: a report may come before it returns */
	for (i = 0; i < n; i++) {
		nreq[ids[i]].state = 1;
		/* the order of the bytes: the order of the ADDs (one lock) */
		if (nreq[ids[i]].op != KEVENT_NAIO_RECV)
			ns_log_add(&c->log[nreq[ids[i]].end], ids[i]);
	}
	c->inflight += n;
	__atomic_add_fetch(&n_inflight, n, __ATOMIC_RELAXED);
	ret = k_ctl(nq, KEVENT_CTL_ADD, n, uk);
	for (i = 0; i < n; i++) {
		long e = ret < 0 ? ret : ret <= (long)i ? -EIO :
			 !(uk[i].ret_flags & KEVENT_RET_DONE) ? UNKNOWN :
			 uk[i].ret_flags & KEVENT_RET_BROKEN ? (int32_t)uk[i].ret_data[1] : 0;

		if (e == 0) {
			__atomic_add_fetch(&ns_accepted, 1, __ATOMIC_RELAXED);
			if (nreq[ids[i]].op == KEVENT_NAIO_SENDFILE)
				__atomic_add_fetch(&ns_sf_accepted, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (e == UNKNOWN || (fail_mode && ret < 0 && ret != -EINVAL)) {
			/* --fail: maybe accepted; reported at most once */
			nreq[ids[i]].unknown = 1;
			continue;
		}
		check_clean("NAIO ADD", e, "ENOSPC,EAGAIN");
		if (nreq[ids[i]].state == 2)
			VIOL("NAIO request %u reported, but its ADD failed: %s\n",
			     ids[i], errname(e));
		nreq[ids[i]].state = 0;
		c->inflight--;
		__atomic_sub_fetch(&n_inflight, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * Read a checked connection's ends directly (its sends wait for room
 * otherwise), into its logs. Under no lock: takes c->lock.
 */
static void ns_drain(struct nsconn *c)
{
	char buf[16384];
	int e, k;

	pthread_mutex_lock(&c->lock);
	if (c->check && c->state != 2)
		for (e = 0; e < 2; e++)
			for (k = 0; k < 8 && c->fd[e] >= 0; k++) {
				long n = recv(c->fd[e], buf, sizeof(buf), MSG_DONTWAIT);

				if (n <= 0)
					break;
				c->recvd[e] += n;
				ns_rx(c, e, buf, n);
			}
	pthread_mutex_unlock(&c->lock);
}

/* REMOVE a request of late: 0 in flight, EALREADY done; never ENOENT */
static void ns_remove(struct rng *r)
{
	uint32_t last = __atomic_load_n(&nreq_next, __ATOMIC_RELAXED), id;
	struct nsreq *q;
	struct nsconn *c;
	long e;

	if (last < 2)
		return;
	id = last - 1 - below(r, last - 1 < 200 ? last - 1 : 200);
	q = &nreq[id];
	c = &nconn[q->conn];
	pthread_mutex_lock(&c->lock);
	if (q->state != 1) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	e = ctl1(nq, KEVENT_CTL_REMOVE, KEVENT_NAIO, id, 0, 0, 0, 0, 0);
	if (e == 0) {
		q->removed = 1;
		ns_removed++;
	} else if (e == -ENOENT) {
		/*
		 * Reported meanwhile by a wait whose accounting waits for this
		 * lock, or lost: then still unreported at the end (below).
		 */
		q->enoent = 1;
		ns_enoent++;
	} else {
		check_clean("NAIO REMOVE", e, "EALREADY");
	}
	pthread_mutex_unlock(&c->lock);
}

/* Close a connection: abruptly (its requests are cancelled) or gracefully */
static void ns_close(struct rng *r, int graceful)
{
	struct nsconn *c = &nconn[below(r, NNC)];
	int e;

	pthread_mutex_lock(&c->lock);
	if (c->state != 0) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (graceful) {
		shutdown(c->fd[0], SHUT_WR);
		shutdown(c->fd[1], SHUT_WR);
		c->state = 1;
		if (!c->inflight)
			ns_settle(c);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/* the requests through the closed ends are cancelled */
	e = below(r, 3);	/* 0, 1: that end; 2: both */
	c->closed_ends |= e == 2 ? 3 : 1 << e;
	c->exact = 0;
	ns_abrupt++;
	if (e != 1) {
		if (chance(r, 30))
			dup2(nq, c->fd[0]);	/* another file at the number */
		close(c->fd[0]);
		c->fd[0] = -1;
	}
	if (e != 0) {
		close(c->fd[1]);
		c->fd[1] = -1;
	}
	/* the other end: shut down, so the connection goes away */
	c->state = 1;
	if (!c->inflight)
		ns_settle(c);
	pthread_mutex_unlock(&c->lock);
}

static void *ns_worker(void *arg)
{
	struct rng r = { seed + 0x4e41ULL * (uintptr_t)arg };
	long me = (long)arg;
	unsigned long i, my = nops / 4 / nthreads;
	double budget = tbudget / 3;
	uint64_t t0 = now_ns();

	if (fail_mode) {
		FILE *f = fopen("/proc/thread-self/make-it-fail", "w");

		if (!f || fprintf(f, "1") < 0 || fclose(f))
			exit(2);
	}
	for (i = 0; i < my; i++) {
		unsigned int x = below(&r, 100);

		if ((i & 31) == 0 && (now_ns() - t0) / 1e9 > budget)
			break;
		if (me == 0 ? x < 80 : x < 30)
			ns_wait(chance(&r, 70) ? 0 : 200000);
		else if (x < 40)
			ns_drain(&nconn[below(&r, NNC)]);
		else if (x < 75)
			ns_submit(&r);
		else if (x < 88)
			ns_remove(&r);
		else if (x < 97)
			ns_close(&r, chance(&r, 60));
		else
			ns_close(&r, 1);
		__atomic_add_fetch(&ops_done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void naio_phase(void)
{
	socklen_t sl = sizeof(ns_addr);
	pthread_t th[64];
	unsigned long lost = 0, dropped = 0;
	int i, j, empty;
	uint32_t id, last;

	struct kevent_probe probe = { 0 };

	if (k_ctl(-1, KEVENT_CTL_PROBE, sizeof(probe), &probe) < 0 ||
	    !(probe.types >> KEVENT_NAIO & 1)) {
		printf("kevent-stress: NAIO phase not run: the kernel has no KEVENT_NAIO\n");
		return;
	}
	nreq = calloc(NMAXREQ, sizeof(*nreq));
	nbuf_recv = mmap(NULL, NBUF, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	nbuf_send = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	signal(SIGPIPE, ns_on_sigpipe);
	nq = k_create(0);
	if (!nreq || nbuf_recv == MAP_FAILED || nbuf_send == MAP_FAILED || nq < 0) {
		printf("kevent-stress: NAIO phase not run (%s)\n",
		       nq < 0 ? errname(nq) : "no memory");
		return;
	}
	memset(nbuf_send, 'n', 65536);
	/* the file the sendfiles send from: known bytes, sealed */
	ns_sf = memfd_create("kevent-stress-sendfile", MFD_ALLOW_SEALING);
	if (ns_sf >= 0) {
		unsigned char *b = malloc(NS_SFSZ);

		for (i = 0; b && i < NS_SFSZ; i++)
			b[i] = ns_sf_byte(i);
		if (!b || pwrite(ns_sf, b, NS_SFSZ, 0) != NS_SFSZ ||
		    fcntl(ns_sf, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) {
			close(ns_sf);
			ns_sf = -1;
		}
		free(b);
	}
	if (ns_sf < 0 || !(probe.types >> KEVENT_NAIO & 1))
		printf("kevent-stress: NAIO: no KEVENT_NAIO_SENDFILE requests (no memfd: %s)\n",
		       strerror(errno));
	ns_addr.sin_family = AF_INET;
	ns_addr.sin_addr.s_addr = htonl(0x7f000001);
	ns_listener = socket(AF_INET, SOCK_STREAM, 0);
	if (ns_listener >= 0 &&
	    (bind(ns_listener, (void *)&ns_addr, sizeof(ns_addr)) ||
	     listen(ns_listener, 16) ||
	     getsockname(ns_listener, (void *)&ns_addr, &sl))) {
		close(ns_listener);
		ns_listener = -1;
	}
	for (i = 0; i < NNC; i++) {
		pthread_mutex_init(&nconn[i].lock, NULL);
		nconn[i].state = 2;
	}
	for (j = 0; j < nthreads; j++)
		pthread_create(&th[j], NULL, ns_worker, (void *)(long)j);
	for (j = 0; j < nthreads; j++)
		pthread_join(th[j], NULL);
	printf("kevent-stress: NAIO: the threads are done; closing the connections\n");
	/* the end: every connection shut down, the queue drained */
	for (i = 0; i < NNC; i++) {
		pthread_mutex_lock(&nconn[i].lock);
		if (nconn[i].state == 0) {
			shutdown(nconn[i].fd[0], SHUT_WR);
			shutdown(nconn[i].fd[1], SHUT_WR);
			nconn[i].state = 1;
			if (!nconn[i].inflight)
				ns_settle(&nconn[i]);
		}
		pthread_mutex_unlock(&nconn[i].lock);
	}
	/*
	 * Receives still waiting for bytes that never come, sends for room.
	 * Bounded: an error or a queue that never goes quiet is shown, not
	 * waited for (the requests left are then counted below).
	 */
	for (empty = 0, j = 0; empty < 3 && j < 100000; j++) {
		long n;

		/* the checked connections' sends wait for their bytes to be read */
		for (i = 0; i < NNC; i++)
			ns_drain(&nconn[i]);
		n = ns_wait(1000000);
		empty = n == 0 ? empty + 1 : n < 0 ? empty : 0;
	}
	if (j == 100000)
		VIOL("NAIO phase: the queue did not go quiet after the shutdowns\n");
	for (i = 0; i < NNC; i++) {
		pthread_mutex_lock(&nconn[i].lock);
		if (nconn[i].state == 1) {
			/* nothing more moves: what is left is cancelled */
			nconn[i].closed_ends = 3;
			nconn[i].exact = 0;
			close(nconn[i].fd[0]);
			close(nconn[i].fd[1]);
			nconn[i].fd[0] = nconn[i].fd[1] = -1;
			nconn[i].state = 2;
		}
		pthread_mutex_unlock(&nconn[i].lock);
	}
	for (empty = 0, j = 0; empty < 3 && j < 100000; j++) {
		long n = ns_wait(1000000);

		empty = n == 0 ? empty + 1 : n < 0 ? empty : 0;
	}
	if (j == 100000)
		VIOL("NAIO phase: the queue did not go quiet after the closes\n");
	last = __atomic_load_n(&nreq_next, __ATOMIC_RELAXED);
	for (id = 1; id < last && id < NMAXREQ; id++)
		if (nreq[id].state == 1 && !nreq[id].unknown) {
			/* --fail: an event whose copy-out failed may be gone */
			if (fail_mode) {
				lost++;
				continue;
			}
			if (lost++ < 5)
				VIOL("NAIO request %u (%s len %u%s%s%s) never reported\n", id,
				     nreq[id].op == KEVENT_NAIO_SEND ? "SEND" :
				     nreq[id].op == KEVENT_NAIO_RECV ? "RECV" : "SENDFILE",
				     nreq[id].len, nreq[id].removed ? ", removed" : "",
				     nreq[id].enoent ? ", REMOVE said ENOENT" : "",
				     nconn[nreq[id].conn].closed_ends ? ", closed" : "");
			else
				__atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
		}
	close(nq);
	/* queues closed with requests in flight: dropped, nothing reported */
	for (i = 0; i < 20; i++) {
		int q = k_create(0), s[2];
		struct ukevent uk[8];

		if (q < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s))
			break;
		memset(uk, 0, sizeof(uk));
		for (j = 0; j < 8; j++) {
			uk[j].id = j + 1;
			uk[j].type = KEVENT_NAIO;
			uk[j].event = j < 6 ? KEVENT_NAIO_RECV : KEVENT_NAIO_SEND;
			/* sends of all of it wait for room */
			uk[j].data = PTR64(j < 6 ? nbuf_recv + 4096 * j : nbuf_recv);
			uk[j].__reserved[0] = s[j & 1];
			uk[j].__reserved[1] = j < 6 ? 100 : NBUF;
		}
		if (k_ctl(q, KEVENT_CTL_ADD, 8, uk) == 8)
			dropped += 8;
		if (i & 1) {
			close(q);
			close(s[0]);
			close(s[1]);
		} else {
			close(s[0]);
			close(s[1]);
			close(q);
		}
	}
	if (ns_listener >= 0)
		close(ns_listener);
	signal(SIGPIPE, SIG_IGN);
	/* A request never raises SIGPIPE, MSG_NOSIGNAL or not (kevent.rst) */
	if (ns_sigpipe)
		VIOL("NAIO: %lu SIGPIPE came; %lu sends without MSG_NOSIGNAL completed with EPIPE\n",
		     ns_sigpipe, ns_epipe_signal);
	printf("kevent-stress: NAIO: %lu SIGPIPE (none may come) for %lu sends without MSG_NOSIGNAL that got EPIPE; %lu REMOVEs found a request already reported\n",
	       ns_sigpipe, ns_epipe_signal, ns_enoent);
	printf("kevent-stress: NAIO: SENDFILE (a memfd of %d bytes): %lu accepted, %lu reported (%lu with EOF, %lu bytes), %lu exactly their range's bytes; %lu connections' bytes checked one by one (%lu bytes, sends and sendfiles in order), %lu checked connections left unchecked (a log overflowed)\n",
	       NS_SFSZ, ns_sf_accepted, ns_sf_reported, ns_sf_eof, ns_sf_bytes, ns_sf_exact,
	       ns_checked, ns_checked_bytes, ns_unchecked);
	printf("kevent-stress: NAIO: %lu requests accepted, %lu reported (%lu cancelled, %lu removed), %lu bytes moved; %lu connections closed gracefully with their bytes equal, %lu abruptly; %lu never reported%s; %lu dropped with their queues\n",
	       ns_accepted, ns_reported, ns_cancelled, ns_removed, ns_bytes,
	       ns_graceful, ns_abrupt, lost,
	       fail_mode ? " (--fail: not a violation, an event's copy may have failed)" : "",
	       dropped);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	pthread_t th[64];
	long slab_k0, slab_q0, i;
	int j;

	seed = now_ns();
	for (j = 1; j < argc; j++) {
		if (!strcmp(argv[j], "-s") && j + 1 < argc)
			seed = strtoull(argv[++j], NULL, 0);
		else if (!strcmp(argv[j], "-n") && j + 1 < argc)
			nops = strtoul(argv[++j], NULL, 0);
		else if (!strcmp(argv[j], "-t") && j + 1 < argc)
			tbudget = atof(argv[++j]);
		else if (!strcmp(argv[j], "-j") && j + 1 < argc)
			nthreads = atoi(argv[++j]);
		else if (!strcmp(argv[j], "--fail"))
			fail_mode = 1;
		else if (!strcmp(argv[j], "-w") && j + 1 < argc)
			nwatchers = atol(argv[++j]);
		else {
			fprintf(stderr, "usage: %s [-s SEED] [-n OPS] [-t SECONDS] [-j THREADS] [-w WATCHERS] [--fail]\n",
				argv[0]);
			return 2;
		}
	}
	if (nthreads < 2 || nthreads > 64)
		nthreads = 8;
	/* a line at a time: a run killed in a phase shows how far it got */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("kevent-stress: seed %#llx, %lu operations, %d threads, at most %.0f s%s\n",
	       (unsigned long long)seed, nops, nthreads, tbudget,
	       fail_mode ? ", fault injection on the workers" : "");
	fflush(stdout);
	sigaction(SIGUSR1, &sa, NULL);
	retired = calloc(MAXGEN, sizeof(*retired));
	seen = calloc(MAXGEN, sizeof(*seen));
	os_state = calloc(MAXGEN, 1);
	uncertain = calloc(MAXGEN, 1);
	if (!retired || !seen || !os_state || !uncertain)
		return 2;
	slab_k0 = kevent_slab_objects();
	slab_q0 = slab_objects("kevent_queue");

	kq = k_create(0);
	if (kq < 0) {
		printf("kevent-stress: kevent_create: %s\n", errname(kq));
		return 2;
	}
	for (i = 0; i < NONESHOT; i++)
		pthread_mutex_init(&oneshot[i].lock, NULL);
	for (i = 0; i < NCHAOS; i++) {
		pthread_mutex_init(&chaos[0][i].lock, NULL);
		pthread_mutex_init(&chaos[1][i].lock, NULL);
	}
	for (i = 0; i < NPIPE; i++) {
		pthread_mutex_init(&pipes[i].lock, NULL);
		pipes[i].fd_r = pipes[i].fd_w = -1;
	}
	for (i = 0; i < NCOUNTER; i++)
		if (ctl1(kq, KEVENT_CTL_ADD, KEVENT_USER, ID_COUNTER + i, 1,
			 0, 0, UD(G_COUNTER, i), 0)) {
			printf("kevent-stress: cannot add the counters\n");
			return 2;
		}

	t_start = now_ns();
	for (j = 0; j < nthreads; j++)
		pthread_create(&th[j], NULL, worker, (void *)(long)j);
	for (j = 0; j < nthreads; j++)
		pthread_join(th[j], NULL);
	printf("kevent-stress: %lu operations in %.1f s, %lu events reported, %lu generations; ENOMEM %lu, EFAULT %lu\n",
	       ops_done, (now_ns() - t_start) / 1e9, events_seen,
	       (unsigned long)next_gen - 1, nomem, efault);
	fflush(stdout);
	final_checks();
	close(kq);
	kq = -1;

	naio_phase();

	close_while_waiting(fail_mode ? 4 : 12);
	if (!fail_mode) {
		chains();
		timer_storm(8000);
		if (nwatchers)
			many_watchers(nwatchers);
	}
	reconcile();
	{
		long k1 = kevent_slab_objects();
		long q1 = slab_objects("kevent_queue");

		/*
		 * /sys/kernel/slab/<cache>/objects after a shrink (no per-cpu
		 * slabs left): exact for caches of their own. Not above the
		 * baseline (the unix garbage collector may free queues an
		 * earlier program left in flight meanwhile, so below is fine).
		 */
		printf("kevent-stress: slab objects (after shrink) kevent_{poll,timer,user,naio} %ld -> %ld, kevent_queue %ld -> %ld (-1: not exposed)\n",
		       slab_k0, k1, slab_q0, q1);
		if (slab_k0 >= 0 && k1 > slab_k0)
			VIOL("%ld kevent objects more than at the start\n", k1 - slab_k0);
		if (slab_q0 >= 0 && q1 > slab_q0)
			VIOL("%ld kevent_queue objects more than at the start\n", q1 - slab_q0);
	}
	printf("kevent-stress: seed %#llx: %lu violations\n",
	       (unsigned long long)seed, violations);
	return violations ? 1 : 0;
}
