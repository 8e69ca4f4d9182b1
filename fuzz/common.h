/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the kevent fuzzer and the stress: system call wrappers that
 * return -errno, a seeded random number generator, and the outcome
 * records ((call, input class) -> errno counts) that fuzz/table.py turns
 * into the README's table of bad inputs.
 */
#ifndef KEVENT_FUZZ_COMMON_H
#define KEVENT_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/kevent.h>

#define NR_kevent_create	500
#define NR_kevent_ctl		501
#define NR_kevent_get_events	502
#define NR_kevent_ring_init	503
#define NR_kevent_wait		504

#define PTR64(p)	((__u64)(uintptr_t)(p))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static inline long ret_errno(long r)
{
	return r < 0 ? -errno : r;
}

static inline long k_create(unsigned int flags)
{
	return ret_errno(syscall(NR_kevent_create, flags));
}

static inline long k_ctl(int fd, unsigned int cmd, unsigned int num, void *arg)
{
	return ret_errno(syscall(NR_kevent_ctl, fd, cmd, num, arg));
}

static inline long k_get(int fd, void *ev, unsigned int max_nr, void *args,
			 size_t size)
{
	return ret_errno(syscall(NR_kevent_get_events, fd, ev, max_nr, args,
				 size));
}

static inline long k_ring_init(int fd, void *ring, unsigned int num,
			       unsigned int flags)
{
	return ret_errno(syscall(NR_kevent_ring_init, fd, ring, num, flags));
}

static inline long k_wait(int fd, unsigned int num, void *args, size_t size)
{
	return ret_errno(syscall(NR_kevent_wait, fd, num, args, size));
}

/* splitmix64: one stream per thread, derived from the seed */
struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

/* true with probability pct percent */
static inline int chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

/*
 * A per-thread watchdog: SIGUSR1 to the thread that called wd_init() @ms
 * after wd_arm(), so that a call which blocks where it should not returns
 * EINTR (the fuzzers' SIGUSR1 handler does nothing). With @period_ms the
 * signal repeats: one that lands before the thread enters its wait (it was
 * preempted for longer than @ms) does not leave the wait unbounded.
 */
static inline void wd_init(timer_t *wd)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
				.sigev_signo = SIGUSR1 };

	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, wd)) {
		perror("timer_create");
		exit(2);
	}
}

static inline void wd_arm(timer_t wd, long ms, long period_ms)
{
	struct itimerspec its = {
		.it_value.tv_sec = ms / 1000,
		.it_value.tv_nsec = (ms % 1000) * 1000000,
		.it_interval.tv_sec = period_ms / 1000,
		.it_interval.tv_nsec = (period_ms % 1000) * 1000000,
	};

	timer_settime(wd, 0, &its, NULL);
}

static inline void wd_disarm(timer_t wd)
{
	struct itimerspec its = { 0 };

	timer_settime(wd, 0, &its, NULL);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline const char *errname(long r)
{
	const char *n;

	if (r >= 0)
		return "ok";
	n = strerrorname_np((int)-r);
	return n ? n : "E?";
}

/*
 * Outcome records. A record is (call, class, outcome) with a count and
 * the outcomes the class expects ("" when the class expects nothing in
 * particular, e.g. a valid request whose result depends on the queue's
 * state). Protected by one mutex; recording is off in forked children
 * (no malloc after fork in a threaded process).
 */
struct rec {
	char call[32];
	char cls[160];
	char outcome[24];
	char expect[64];
	unsigned long n;
	struct rec *next;
};

#define REC_HASH 4096
static struct rec *rec_tab[REC_HASH];
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static int rec_enabled = 1;
static unsigned long rec_unexpected;
static int rec_allow_enomem;
static int rec_enforce = 1;	/* count outcomes outside the expected */	/* fault injection: ENOMEM is always clean */
static int rec_quiet;

static unsigned int rec_hash(const char *a, const char *b, const char *c)
{
	unsigned int h = 5381;

	while (*a)
		h = h * 33 + (unsigned char)*a++;
	while (*b)
		h = h * 33 + (unsigned char)*b++;
	while (*c)
		h = h * 33 + (unsigned char)*c++;
	return h % REC_HASH;
}

/*
 * expect: a comma-separated list of outcome names ("ok", "EINVAL", ...),
 * or NULL/"" for no expectation. An outcome outside a non-empty list is
 * counted as unexpected and printed (the first 20).
 */
/*
 * Outcomes outside the expected list that are a known disagreement of the
 * kernel with its documentation (record_known()): not counted as
 * unexpected, but counted here and printed; the records keep the
 * documented expectation, so fuzz/table.py marks them.
 */
static unsigned long rec_known;

static inline int rec_in(const char *list, const char *o)
{
	/* Long enough for every list: a cut one lost its last names. */
	char buf[160];
	char *tok, *save;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, o))
			return 1;
	return 0;
}

static inline int record_known(const char *call, const char *cls, long r,
			       const char *expect, const char *known);

static inline int record(const char *call, const char *cls, long r,
		  const char *expect)
{
	return record_known(call, cls, r, expect, NULL);
}

static inline int record_known(const char *call, const char *cls, long r,
			       const char *expect, const char *known)
{
	const char *o = errname(r);
	struct rec *e;
	unsigned int h;
	int bad = 0;
	char cut[sizeof(e->cls)];

	/* The class as stored: a longer one must still find its record. */
	if (strlen(cls) >= sizeof(cut)) {
		memcpy(cut, cls, sizeof(cut) - 1);
		cut[sizeof(cut) - 1] = 0;
		cls = cut;
	}
	if (expect && *expect && rec_enforce) {
		bad = !rec_in(expect, o);
		if (rec_allow_enomem && (r == -ENOMEM || r == -EFAULT))
			bad = 0;
		if (bad && known && rec_in(known, o)) {
			bad = 0;
			if (__atomic_add_fetch(&rec_known, 1, __ATOMIC_RELAXED) <= 10 &&
			    !rec_quiet && rec_enabled)
				fprintf(stderr, "DOC MISMATCH (known): %s [%s] -> %s (documented %s)\n",
					call, cls, o, expect);
		}
	}
	if (!rec_enabled)
		return bad;
	pthread_mutex_lock(&rec_lock);
	h = rec_hash(call, cls, o);
	for (e = rec_tab[h]; e; e = e->next)
		if (!strcmp(e->call, call) && !strcmp(e->cls, cls) &&
		    !strcmp(e->outcome, o))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&rec_lock);
			return bad;
		}
		snprintf(e->call, sizeof(e->call), "%s", call);
		snprintf(e->cls, sizeof(e->cls), "%s", cls);
		snprintf(e->outcome, sizeof(e->outcome), "%s", o);
		snprintf(e->expect, sizeof(e->expect), "%s", expect ? expect : "");
		e->next = rec_tab[h];
		rec_tab[h] = e;
	}
	e->n++;
	if (bad) {
		rec_unexpected++;
		/* Even with -q: the first of them say why a run failed. */
		if (rec_unexpected <= 20)
			fprintf(stderr, "UNEXPECTED: %s [%s] -> %s (expected %s)\n",
				call, cls, o, expect);
	}
	pthread_mutex_unlock(&rec_lock);
	return bad;
}

/* Tab-separated: call, class, outcome, count, expected outcomes */
static inline void records_write(const char *path)
{
	FILE *f;
	int i;

	if (!path)
		return;
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return;
	}
	for (i = 0; i < REC_HASH; i++) {
		struct rec *e;

		for (e = rec_tab[i]; e; e = e->next)
			fprintf(f, "%s\t%s\t%s\t%lu\t%s\n", e->call, e->cls,
				e->outcome, e->n, e->expect);
	}
	fclose(f);
}

/* The sysctl files of the per-user limits */
#define SYSCTL_KEVENTS	"/proc/sys/fs/kevent/max_user_kevents"
#define SYSCTL_TIMERS	"/proc/sys/fs/kevent/max_user_timers"

static inline long sysctl_read(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static inline int sysctl_write(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

#endif /* KEVENT_FUZZ_COMMON_H */
