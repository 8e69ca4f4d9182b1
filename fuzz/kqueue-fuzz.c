// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue-fuzz: random but structured calls of libkqueue (kqueue/, FreeBSD's
 * kqueue()/kqueue1()/kevent() on the kevent queue), from several threads,
 * with fork() in the middle, reproducible from a seed (one thread: the same
 * calls; several: the same calls per thread, interleaved by the scheduler).
 *
 *   kqueue-fuzz [-s SEED] [-n CALLS] [-t SECONDS] [-j THREADS] [-o RECORDS] [-q]
 *
 * Every kevent() change gets a class (what the generator made of it: a
 * valid change, a closed descriptor, an unknown filter, a bad timer...)
 * and the errnos FreeBSD's kqueue(2) and kqueue/README.md's semantics
 * table give for it; every call's result (its return or errno, each
 * EV_ERROR entry's data) is recorded per class (fuzz/common.h's records)
 * and one outside the class's list is a failure. Events returned are
 * checked too: a known filter, known flags, ext[] zero, n <= nevents.
 * A forked child must find the parent's queues EBADF (kqueues are not
 * inherited) and a new queue usable, within 10 s. At the end every
 * descriptor is closed and the process must hold no more than it did at
 * the start (the library's inotify descriptors included):
 * leaks are listed. Exit 0 when all is clean, 1 otherwise.
 *
 * Pointers are NULL or valid: an invalid non-NULL list crashes the
 * library as it would crash libc (no copy-in to fail with EFAULT).
 */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/event.h>

#define POOL		48
#define KQS		8
#define MAX_CHANGES	8
#define MAX_THREADS	16

/* Outcomes every call may see: resource exhaustion. */
#define RES "ENOMEM,EMFILE,ENFILE"

static unsigned long long seed;
static unsigned long calls_per_thread = 100000;
static int seconds = 30, nthreads = 1;
static const char *out_path;
static uint64_t deadline;
static unsigned long forks, fork_failures, event_failures;

/*
 * The descriptor pool: numbers of pipes, socket pairs, eventfds, regular
 * files, directories, and kqueues; closed numbers stay (maybe reused).
 * One lock for changes to the pool; calls use the numbers without it,
 * so another thread may close or reuse one under a call (races on
 * purpose: the expected errnos allow for them).
 */
enum kind { K_NONE, K_PIPE_R, K_PIPE_W, K_SOCK, K_EVENTFD, K_FILE, K_DIR, K_CLOSED };
static struct {
	int fd;
	enum kind kind;
} pool[POOL];
static int kqs[KQS];	/* kqueue numbers, -1 when closed (closed[] keeps them) */
static int closed_kqs[KQS];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static char tmpdir[64];

struct tctx {
	struct rng r;
	int id;
	timer_t wd;
	unsigned long calls;
};

static void on_sig(int sig)
{
	(void)sig;
}

static int open_kind(enum kind k, int *other)
{
	int fds[2], fd = -1;
	char path[96];

	*other = -1;
	switch (k) {
	case K_PIPE_R:
	case K_PIPE_W:
		if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
			return -1;
		*other = k == K_PIPE_R ? fds[1] : fds[0];
		return k == K_PIPE_R ? fds[0] : fds[1];
	case K_SOCK:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds))
			return -1;
		*other = fds[1];
		return fds[0];
	case K_EVENTFD:
		return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	case K_FILE:
		snprintf(path, sizeof(path), "%s/f%u", tmpdir, (unsigned)(rand() % 8));
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		return fd;
	case K_DIR:
		return open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	default:
		return -1;
	}
}

/* Partner descriptors (the other ends), closed with their slot. */
static int partner[POOL];

static void pool_refill(struct tctx *t, int i)
{
	enum kind k = 1 + below(&t->r, K_DIR);
	int other, fd;

	fd = open_kind(k, &other);
	pool[i].fd = fd;
	pool[i].kind = fd < 0 ? K_CLOSED : k;
	partner[i] = other;
}

static void pool_close(int i)
{
	if (pool[i].kind != K_CLOSED && pool[i].kind != K_NONE) {
		close(pool[i].fd);
		if (partner[i] >= 0)
			close(partner[i]);
		partner[i] = -1;
		pool[i].kind = K_CLOSED;	/* the number stays: maybe reused */
	}
}

/* ---- changes ------------------------------------------------------ */

struct change_class {
	const char *cls;
	const char *expect;	/* "" when anything documented goes */
};

/* Every errno kevent() documents (an EV_ERROR's data, or the return). */
#define DOCUMENTED "ok,EBADF,EINVAL,ENOENT,ESRCH,EFAULT,EINTR," RES
/* A READ or WRITE change's, with several threads (gen_change()) */
#define RACY_FD "ok,EBADF,ENOENT,EPERM,EINVAL," RES

static const short filters[] = { EVFILT_READ, EVFILT_WRITE, EVFILT_VNODE, EVFILT_PROC,
				 EVFILT_SIGNAL, EVFILT_TIMER, EVFILT_USER };
/* Not 0: a change of filter 0 is skipped, as FreeBSD skips it. */
static const short bad_filters[] = { EVFILT_AIO, EVFILT_PROCDESC, EVFILT_FS, EVFILT_LIO,
				     EVFILT_SENDFILE, EVFILT_EMPTY, 1, -14, -100, 32767 };

static int fd_ident(struct tctx *t, int *valid)
{
	int i = below(&t->r, POOL);

	*valid = pool[i].kind != K_CLOSED && pool[i].kind != K_NONE;
	/* 2: a regular file or directory, which kevent's POLL refuses
	 * (EPERM, as epoll; kqueue/README.md) */
	if (pool[i].kind == K_FILE || pool[i].kind == K_DIR)
		*valid = 2;
	return pool[i].fd;
}

/* A pid: this process, init, a child of ours (maybe exited), or none. */
static pid_t some_child;

/*
 * One change. The class says what the generator made; expect lists the
 * EV_ERROR data FreeBSD's kqueue(2) gives for it (plus the outcomes a
 * concurrent thread can cause: the descriptor closed or reused, the knote
 * deleted, and resource limits).
 */
static struct change_class gen_change(struct tctx *t, struct kevent *ch)
{
	static const unsigned short op_flags[] = { EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE,
						   EV_ADD | EV_DISABLE, EV_ADD | EV_ENABLE };
	unsigned short flags = op_flags[below(&t->r, ARRAY_SIZE(op_flags))];
	short filter = filters[below(&t->r, ARRAY_SIZE(filters))];
	uintptr_t ident = 0;
	unsigned int fflags = 0;
	int64_t data = 0;
	int valid = 1, add = flags & EV_ADD, racy_fd;
	struct change_class c = { "valid", "" };

	if (chance(&t->r, 30))
		flags |= EV_ONESHOT;
	else if (chance(&t->r, 20))
		flags |= EV_DISPATCH;
	if (chance(&t->r, 30))
		flags |= EV_CLEAR;
	if (chance(&t->r, 20))
		flags |= EV_RECEIPT;

	switch (filter) {
	case EVFILT_READ:
	case EVFILT_WRITE:
		ident = fd_ident(t, &valid);
		if (chance(&t->r, 5)) {
			ident = kqs[below(&t->r, KQS)];	/* a kqueue, maybe closed */
			valid = 0;
			c = (struct change_class){ "fd: a kqueue", "" };
			break;
		}
		if (chance(&t->r, 10))
			fflags = NOTE_LOWAT, data = below(&t->r, 4);
		/* A closed number may be a kqueue now, maybe the one the
		 * call is on: EINVAL (FreeBSD's, and the kernel's, for a
		 * queue watching itself). */
		if (!valid)
			c = (struct change_class){ "fd: closed (maybe reused)", RACY_FD };
		else if (valid == 2 && add)
			/* FreeBSD's vnode READ/WRITE, kept by the library */
			c = (struct change_class){ "fd: add, a regular file or directory",
						   nthreads > 1 ? "ok,EPERM,EBADF,EINVAL," RES
								: "ok," RES };
		else if (chance(&t->r, 5)) {
			ident = chance(&t->r, 50) ? (uintptr_t)-1 : 100000 + below(&t->r, 1000);
			c = (struct change_class){ "fd: never open", "EBADF" };
		} else
			/* with several threads the number may be a file by now */
			c = (struct change_class){ add ? "fd: add" : "fd: delete/enable/disable",
						   add ? (nthreads > 1 ? "ok,EBADF,EPERM,EINVAL," RES
								       : "ok,EBADF," RES)
						       : "ok,ENOENT,EBADF," RES };
		break;
	case EVFILT_VNODE:
		ident = fd_ident(t, &valid);
		fflags = (uint32_t)rnd(&t->r) & 0x7ff;
		c = (struct change_class){ "vnode", "ok,EBADF,ENOENT,EINVAL," RES };
		if (chance(&t->r, 10)) {
			ident = 100000 + below(&t->r, 1000);
			c = (struct change_class){ "vnode: never open", "EBADF" };
		}
		break;
	case EVFILT_PROC: {
		pid_t pids[] = { getpid(), 1, some_child ? some_child : getpid(), 4000000 };
		unsigned int w = below(&t->r, ARRAY_SIZE(pids));

		ident = pids[w];
		fflags = NOTE_EXIT;
		c = (struct change_class){ "proc", "ok,ENOENT,ESRCH," RES };
		if (w == 3 && add)
			c = (struct change_class){ "proc: no such pid", "ESRCH" };
		else if (add && chance(&t->r, 15)) {
			fflags |= chance(&t->r, 50) ? NOTE_FORK : NOTE_TRACK;
			c = (struct change_class){ "proc: NOTE_FORK/TRACK", "EINVAL,ESRCH" };
		}
		break;
	}
	case EVFILT_SIGNAL: {
		/* Signals whose default action is to ignore: raising them is
		 * harmless in threads that did not block them. */
		static const int sigs[] = { SIGWINCH, SIGURG, SIGCHLD };

		ident = sigs[below(&t->r, ARRAY_SIZE(sigs))];
		c = (struct change_class){ "signal", "ok,ENOENT," RES };
		if (add && chance(&t->r, 15)) {
			ident = chance(&t->r, 50) ? 0 : 65 + below(&t->r, 1000);
			c = (struct change_class){ "signal: bad number", "EINVAL" };
		}
		break;
	}
	case EVFILT_TIMER: {
		static const unsigned int units[] = { 0, NOTE_SECONDS, NOTE_MSECONDS,
						      NOTE_USECONDS, NOTE_NSECONDS };

		ident = below(&t->r, 16);
		fflags = units[below(&t->r, ARRAY_SIZE(units))];
		/* mostly short periods, so that timers fire during the run */
		data = fflags == NOTE_SECONDS ? below(&t->r, 3)
		       : fflags == NOTE_NSECONDS ? below(&t->r, 50000000)
		       : fflags == NOTE_USECONDS ? below(&t->r, 50000) : below(&t->r, 50);
		c = (struct change_class){ add ? "timer: add" : "timer: delete/enable/disable",
					   add ? "ok," RES : "ok,ENOENT" };
		if (add && chance(&t->r, 5)) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			fflags = NOTE_ABSTIME | NOTE_MSECONDS;
			data = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
			       (int64_t)below(&t->r, 100) - 50;
			c = (struct change_class){ "timer: NOTE_ABSTIME past/future", "ok," RES };
		} else if (add && chance(&t->r, 10)) {
			if (chance(&t->r, 50)) {
				data = -1 - (int64_t)below(&t->r, 1000);
				c = (struct change_class){ "timer: negative", "EINVAL" };
			} else {
				fflags = NOTE_SECONDS | NOTE_NSECONDS;
				c = (struct change_class){ "timer: two units", "EINVAL" };
			}
		} else if (add && chance(&t->r, 3)) {
			data = INT64_MAX - below(&t->r, 10);
			fflags = chance(&t->r, 50) ? NOTE_SECONDS : 0;
			c = (struct change_class){ "timer: huge", "ok,EINVAL," RES };
		}
		break;
	}
	case EVFILT_USER:
		ident = below(&t->r, 16);
		fflags = (uint32_t)rnd(&t->r) & (NOTE_FFCTRLMASK | NOTE_FFLAGSMASK);
		if (chance(&t->r, 40))
			fflags |= NOTE_TRIGGER;
		if (!add && !(flags & EV_DELETE) && chance(&t->r, 50))
			flags = 0;	/* a trigger or fflags op alone */
		c = (struct change_class){ add ? "user: add" : "user: other",
					   add ? "ok," RES : "ok,ENOENT" };
		/* UINTPTR_MAX was the signal emulation's reserved ident;
		 * no ident is reserved since signals are KEVENT_SIGNAL. */
		if (chance(&t->r, 3))
			ident = UINTPTR_MAX;
		break;
	}
	/*
	 * With several threads a READ or WRITE may meet a number that
	 * another thread made a file the kernel cannot poll, then changed
	 * again before the library looked at it: EPERM (the fd classes say
	 * so; the flag classes below keep it).
	 */
	racy_fd = nthreads > 1 && (filter == EVFILT_READ || filter == EVFILT_WRITE);
	if (chance(&t->r, 4)) {
		filter = bad_filters[below(&t->r, ARRAY_SIZE(bad_filters))];
		c = (struct change_class){ "bad filter", "EINVAL" };
	} else if (chance(&t->r, 2)) {
		/* undefined and system flag bits: FreeBSD ignores or refuses */
		flags |= (unsigned short)(rnd(&t->r) & 0x3f00);
		c = (struct change_class){ "undefined flag bits", racy_fd ? RACY_FD : "" };
	} else if (chance(&t->r, 2)) {
		flags = 0;
		c = (struct change_class){ "no action flags", racy_fd ? RACY_FD : "" };
	}
	EV_SET(ch, ident, filter, flags, fflags, data, (void *)(uintptr_t)rnd(&t->r));
	if (chance(&t->r, 10))
		ch->ext[below(&t->r, 4)] = rnd(&t->r);	/* ignored on input */
	return c;
}

static int errno_of(const char *name)
{
	static const struct { const char *n; int e; } tab[] = {
		{ "EBADF", EBADF }, { "EINVAL", EINVAL }, { "ENOENT", ENOENT },
		{ "ESRCH", ESRCH }, { "EFAULT", EFAULT }, { "EINTR", EINTR },
		{ "ENOMEM", ENOMEM }, { "EMFILE", EMFILE }, { "ENFILE", ENFILE },
		{ "EPERM", EPERM },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(tab); i++)
		if (!strcmp(tab[i].n, name))
			return tab[i].e;
	return -1;
}

/* Whether errno e is in the comma list (or the list is empty). */
static int expected(const char *list, int e)
{
	char buf[160], *tok, *save;

	if (!list || !*list)
		return 1;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if ((e == 0 && !strcmp(tok, "ok")) || errno_of(tok) == e)
			return 1;
	return 0;
}

static void bad_event(const char *what, const struct kevent *e)
{
	__atomic_add_fetch(&event_failures, 1, __ATOMIC_RELAXED);
	if (event_failures <= 20)
		dprintf(2, "BAD EVENT (%s): ident %lu filter %d flags %#x fflags %#x data %lld ext %llx\n",
			what, (unsigned long)e->ident, e->filter, e->flags, e->fflags,
			(long long)e->data, (unsigned long long)e->ext[0]);
}

/* Checks a returned event list against the changes and the manual. */
static void check_events(const struct kevent *ev, int n, const struct kevent *ch,
			 const struct change_class *cls, int nch, int fork_child)
{
	const unsigned short known = EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_ONESHOT |
				     EV_CLEAR | EV_RECEIPT | EV_DISPATCH | EV_ERROR | EV_EOF;

	for (int i = 0; i < n; i++) {
		const struct kevent *e = &ev[i];

		if (e->ext[0] || e->ext[1] || e->ext[2] || e->ext[3])
			bad_event("ext not zero", e);
		if (e->flags & EV_ERROR) {
			/* An error or a receipt: it echoes one of the changes. */
			int j, found = 0, last = 0;

			for (j = 0; j < nch; j++)
				if (ch[j].ident == e->ident && ch[j].filter == e->filter &&
				    ch[j].udata == e->udata) {
					found = 1;
					last = j;
					if (expected(cls[j].expect, (int)e->data) ||
					    (!*cls[j].expect && expected(DOCUMENTED, (int)e->data)))
						break;
				}
			if (!found) {
				bad_event("EV_ERROR for no change", e);
				continue;
			}
			if (j == nch) {
				/* an unexpected errno for this class */
				if (!fork_child)
					record("kevent.change", cls[last].cls, -e->data,
					       *cls[last].expect ? cls[last].expect : DOCUMENTED);
				dprintf(2, "  class: %s (%s); the change: flags %#x fflags %#x data %lld\n",
					cls[last].cls,
					*cls[last].expect ? cls[last].expect : DOCUMENTED,
					ch[last].flags, ch[last].fflags, (long long)ch[last].data);
				bad_event("EV_ERROR with an errno outside its class", e);
				continue;
			}
			if (!fork_child)
				record("kevent.change", cls[j].cls, -e->data, cls[j].expect);
			continue;
		}
		if (e->flags & ~known)
			bad_event("unknown flags", e);
		switch (e->filter) {
		case EVFILT_READ:
		case EVFILT_WRITE:
		case EVFILT_VNODE:
			if (e->ident > 1u << 20)
				bad_event("descriptor ident out of range", e);
			break;
		case EVFILT_TIMER:
			if (e->data < 1)
				bad_event("timer with no expiration", e);
			break;
		case EVFILT_SIGNAL:
			if (e->data < 1 || e->ident < 1 || e->ident > 64)
				bad_event("signal count or number", e);
			break;
		case EVFILT_PROC:
		case EVFILT_USER:
			break;
		default:
			bad_event("unknown filter", e);
		}
	}
}

/* ---- one kevent() call ------------------------------------------- */

/* A call whose outcome its class did not expect: what it was (even with -q) */
static void print_call(int r, int e, int nev, const struct timespec *tsp,
		       const struct kevent *chp, const struct change_class *cls, int nch)
{
	dprintf(2, "  returned %d (%s): nevents %d, timeout %s, %d change(s)\n", r,
		r < 0 ? strerror(e) : "ok", nev,
		!tsp ? "none" : tsp->tv_nsec ? "short" : "zero", nch);
	for (int i = 0; i < nch && chp; i++)
		dprintf(2, "  change %d: class %s, filter %d ident %lu flags %#x fflags %#x "
			"data %lld\n", i, cls[i].cls, chp[i].filter, (unsigned long)chp[i].ident,
			chp[i].flags, chp[i].fflags, (long long)chp[i].data);
}

static void do_kevent(struct tctx *t, int fork_child)
{
	struct kevent ch[MAX_CHANGES], ev[32];
	struct change_class cls[MAX_CHANGES];
	int nch = below(&t->r, MAX_CHANGES + 1), nev, kq, r, e;
	const char *whole = "valid", *expect = "";
	struct timespec ts = { 0, 0 }, *tsp = &ts;
	struct kevent *chp = ch, *evp = ev;
	int w = below(&t->r, 100);

	for (int i = 0; i < nch; i++)
		cls[i] = gen_change(t, &ch[i]);
	/* event list: none, short, or room for all */
	switch (below(&t->r, 4)) {
	case 0: nev = 0; evp = chance(&t->r, 50) ? NULL : ev; break;
	case 1: nev = 1; break;
	case 2: nev = 1 + below(&t->r, 4); break;
	default: nev = ARRAY_SIZE(ev); break;
	}
	/* timeout: zero, short, NULL (the watchdog ends it) */
	switch (below(&t->r, 6)) {
	case 0: tsp = NULL; break;
	case 1: ts.tv_nsec = below(&t->r, 20000000); break;
	default: break;
	}
	kq = kqs[below(&t->r, KQS)];
	if (kq < 0)
		kq = closed_kqs[below(&t->r, KQS)];

	/* at most one whole-call bad input */
	if (w < 4) {
		kq = chance(&t->r, 50) ? -1 : 100000;
		whole = "kq: not open"; expect = "EBADF";
	} else if (w < 8) {
		int i = below(&t->r, POOL);

		kq = pool[i].fd;
		/* a closed number may be a kqueue now */
		if (nthreads == 1 && pool[i].kind != K_CLOSED) {
			whole = "kq: another file"; expect = "EBADF";
		} else
			whole = "kq: another file (maybe closed, reused)";
	} else if (w < 10 && nch) {
		chp = NULL;
		whole = "changelist NULL with a count"; expect = "EFAULT";
	} else if (w < 12 && nev) {
		evp = NULL;
		whole = "eventlist NULL with a count"; expect = "EFAULT";
	} else if (w < 14) {
		nch = -1 - below(&t->r, 5);
		whole = "negative nchanges"; expect = "EINVAL";
	} else if (w < 16) {
		nev = -1 - below(&t->r, 5);
		whole = "negative nevents"; expect = "EINVAL";
	} else if (w < 19) {
		tsp = &ts;
		ts.tv_sec = chance(&t->r, 50) ? -1 : 0;
		ts.tv_nsec = ts.tv_sec ? 0 : (chance(&t->r, 50) ? -1 : 1000000000L);
		whole = "bad timeout"; expect = "EINVAL";
	} else if (w < 21 && kq >= 0) {
		nch = nch ? nch : 1;
		cls[0] = gen_change(t, &ch[0]);
		memcpy(ev, ch, sizeof(ch[0]) * nch);
		evp = ev;
		chp = ev;	/* one array for both lists, as FreeBSD programs do */
		nev = nch;
		whole = "one array for changes and events";
	}
	if (!tsp)
		wd_arm(t->wd, 50 + below(&t->r, 100), 100);
	r = kevent(kq, chp, nch, evp, nev, tsp);
	e = errno;
	if (!tsp)
		wd_disarm(t->wd);
	if ((nev >= 0 && r > nev) || (r > 0 && !evp)) {
		__atomic_add_fetch(&event_failures, 1, __ATOMIC_RELAXED);
		dprintf(2, "BAD RETURN: kevent() returned %d for nevents %d\n", r, nev);
	}
	if (r < 0) {
		/* The whole call failed: a whole-call class's errno, or the
		 * first failing change's (no room for EV_ERROR entries), or
		 * EINTR (the watchdog), or EBADF (the queue closed by another
		 * thread). */
		if (*expect) {
			if (!fork_child) {
				if (record("kevent", whole, -e, expect))
					print_call(r, e, nev, tsp, chp, cls, nch);
			} else if (!expected(expect, e))
				_exit(20);
		} else {
			int ok = e == EINTR || e == EBADF || expected(RES, e);

			for (int i = 0; i < nch && !ok; i++)
				ok = expected(cls[i].expect, e) && (*cls[i].expect ||
								     expected(DOCUMENTED, e));
			/* an unexplained errno gets its own class: under the
			 * call's class its record would carry the expectation
			 * of that class's first record (none), and hide */
			if (!fork_child)
				record("kevent", ok ? whole : "errno of no change's class",
				       -e, ok ? NULL : "unexpected");
			else if (!ok)
				_exit(21);
			/* which changes the call had (printed even with -q:
			 * the records alone do not say which class failed) */
			if (!ok)
				print_call(r, e, nev, tsp, chp, cls, nch);
		}
		return;
	}
	if (*expect && !fork_child) {
		/* a call that should have failed: what it was (even with -q) */
		if (record("kevent", whole, r, expect))
			print_call(r, e, nev, tsp, chp, cls, nch);
	} else if (!fork_child)
		record("kevent", whole, 0, NULL);
	check_events(evp ? evp : ev, r, ch, cls, nch > 0 ? nch : 0, fork_child);
}

/* ---- other operations -------------------------------------------- */

static void do_kqueue(struct tctx *t)
{
	int i = below(&t->r, KQS), fd, flags = 0, bad = 0;
	const char *cls = "kqueue()";

	switch (below(&t->r, 4)) {
	case 0:
		break;
	case 1:
		flags = O_CLOEXEC;
		cls = "kqueue1(O_CLOEXEC)";
		break;
	case 2:
		flags = O_NONBLOCK | (chance(&t->r, 50) ? O_CLOEXEC : 0);
		cls = "kqueue1(O_NONBLOCK)";
		break;
	default:
		flags = (int)(rnd(&t->r) & ~(O_CLOEXEC | O_NONBLOCK)) | 1;
		cls = "kqueue1(other flags)";
		bad = 1;
	}
	fd = strcmp(cls, "kqueue()") ? kqueue1(flags) : kqueue();
	record("kqueue", cls, fd < 0 ? -errno : 0, bad ? "EINVAL" : "ok," RES);
	if (fd < 0)
		return;
	pthread_mutex_lock(&pool_lock);
	if (kqs[i] >= 0) {
		close(kqs[i]);
		closed_kqs[i] = kqs[i];
	}
	kqs[i] = fd;
	pthread_mutex_unlock(&pool_lock);
}

static void do_close_kq(struct tctx *t)
{
	int i = below(&t->r, KQS);

	pthread_mutex_lock(&pool_lock);
	if (kqs[i] >= 0) {
		close(kqs[i]);
		closed_kqs[i] = kqs[i];
		kqs[i] = -1;
	}
	pthread_mutex_unlock(&pool_lock);
}

static void do_pool(struct tctx *t)
{
	int i = below(&t->r, POOL);

	pthread_mutex_lock(&pool_lock);
	switch (below(&t->r, 3)) {
	case 0:
		pool_close(i);
		pool_refill(t, i);
		break;
	case 1:
		pool_close(i);	/* the number stays closed, maybe reused */
		break;
	default: {
		/* dup2() another pool file over a kqueue's number or a file's */
		int j = below(&t->r, POOL), k = below(&t->r, KQS);

		if (pool[j].kind != K_CLOSED && pool[j].kind != K_NONE) {
			int target = chance(&t->r, 30) && kqs[k] >= 0 ? kqs[k] : pool[i].fd;

			if (target == kqs[k]) {
				/* the kqueue is gone: its number is a file now */
				closed_kqs[k] = kqs[k];
				kqs[k] = -1;
				dup3(pool[j].fd, target, O_CLOEXEC);
				close(target);	/* not in the pool: keep it closed */
			} else if (target >= 0 && target != pool[j].fd &&
				   pool[i].kind != K_CLOSED && pool[i].kind != K_NONE) {
				/* only over a number the pool holds: a closed slot's
				 * number may be a kqueue or one of the library's own
				 * descriptors now */
				pool_close(i);
				if (dup3(pool[j].fd, target, O_CLOEXEC) >= 0) {
					pool[i].fd = target;
					pool[i].kind = pool[j].kind;
					partner[i] = -1;
				}
			}
		}
	}
	}
	pthread_mutex_unlock(&pool_lock);
}

/* Makes events: writes, reads, signals, a short-lived child. */
static void do_stimulus(struct tctx *t)
{
	int i = below(&t->r, POOL);
	char buf[64] = "x";
	uint64_t one = 1;

	switch (below(&t->r, 5)) {
	case 0:
		if (partner[i] >= 0 && (pool[i].kind == K_PIPE_R || pool[i].kind == K_SOCK))
			(void)!write(partner[i], buf, 1 + below(&t->r, 8));
		else if (pool[i].kind == K_EVENTFD)
			(void)!write(pool[i].fd, &one, 8);
		else if (pool[i].kind == K_FILE)
			(void)!write(pool[i].fd, buf, 1);
		break;
	case 1:
		if (pool[i].kind != K_CLOSED && pool[i].kind != K_PIPE_W)
			(void)!read(pool[i].fd, buf, sizeof(buf));
		break;
	case 2: {
		static const int sigs[] = { SIGWINCH, SIGURG };

		kill(getpid(), sigs[below(&t->r, 2)]);
		break;
	}
	case 3:
		if (partner[i] >= 0 && pool[i].kind == K_SOCK && chance(&t->r, 10)) {
			/* a hang-up (EV_EOF) */
			pthread_mutex_lock(&pool_lock);
			if (partner[i] >= 0) {
				close(partner[i]);
				partner[i] = -1;
			}
			pthread_mutex_unlock(&pool_lock);
		}
		break;
	default:
		if (pool[i].kind == K_FILE && chance(&t->r, 20))
			(void)!ftruncate(pool[i].fd, below(&t->r, 100));
		break;
	}
}

/*
 * fork() in the middle: the child must find the parent's kqueues EBADF
 * (not inherited) and a new kqueue usable; it makes a few random calls on
 * its own and exits. A child stuck for 10 s (a lock held by a parent
 * thread at the fork) dies of SIGALRM: a failure.
 */
static void do_fork(struct tctx *t)
{
	int kq = kqs[below(&t->r, KQS)], status = 0;
	pid_t pid;
	uint64_t until;

	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		struct kevent ev;
		struct timespec zero = { 0, 0 };
		int r, nkq;

		rec_enabled = 0;
		alarm(10);
		/* timers are not inherited: the parent thread's watchdog id
		 * means nothing here, and an unbounded wait would never end */
		wd_init(&t->wd);
		if (kq >= 0) {
			r = kevent(kq, NULL, 0, &ev, 1, &zero);
			if (r != -1 || errno != EBADF)
				_exit(10);
		}
		nkq = kqueue();
		if (nkq < 0)
			_exit(errno == EMFILE || errno == ENFILE ? 0 : 11);
		EV_SET(&ev, 1, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_TRIGGER, 0, NULL);
		if (kevent(nkq, &ev, 1, NULL, 0, NULL) != 0)
			_exit(12);
		r = kevent(nkq, NULL, 0, &ev, 1, &zero);
		if (r != 1 || ev.filter != EVFILT_USER || ev.ident != 1)
			_exit(13);
		unsigned long bad = event_failures;

		for (int i = 0; i < 10 + (int)below(&t->r, 40); i++) {
			kqs[0] = nkq;	/* the child's own queue, in the child's copy */
			do_kevent(t, 1);
		}
		_exit(event_failures != bad ? 22 : 0);
	}
	__atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
	some_child = pid;
	until = now_ns() + 20000000000ULL;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(1000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		__atomic_add_fetch(&fork_failures, 1, __ATOMIC_RELAXED);
		dprintf(2, "FORK CHILD FAILED: %s %d (10: parent queue not EBADF, 11-13: new queue, "
			"20/21: an unexpected errno; SIGALRM 14: stuck)\n",
			WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
}

static void *thread_main(void *arg)
{
	struct tctx *t = arg;

	wd_init(&t->wd);
	while (t->calls < calls_per_thread && now_ns() < deadline) {
		unsigned int op = below(&t->r, 1000);

		t->calls++;
		if (op < 600)
			do_kevent(t, 0);
		else if (op < 650)
			do_kqueue(t);
		else if (op < 670)
			do_close_kq(t);
		else if (op < 998) {
			/*
			 * Nothing here should block (the pool's files are
			 * non-blocking), but with several threads a number can
			 * be closed and taken by a kqueue between the pick and
			 * the read(), which then waits: the watchdog (repeating,
			 * in case one signal comes before the call) ends it.
			 */
			wd_arm(t->wd, 1000, 100);
			if (op < 750)
				do_pool(t);
			else
				do_stimulus(t);
			wd_disarm(t->wd);
		}
		else
			do_fork(t);
	}
	return NULL;
}

static int count_fds(int show, const int *baseline, int nbase)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		int fd, known = 0;
		char path[64], target[256] = "";
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d))
			continue;
		n++;
		for (int i = 0; i < nbase; i++)
			known |= baseline[i] == fd;
		if (show && !known) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			len = readlink(path, target, sizeof(target) - 1);
			target[len > 0 ? len : 0] = 0;
			dprintf(2, "LEAK: fd %d -> %s\n", fd, target);
		}
	}
	closedir(d);
	return n;
}

static int list_fds(int *out, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max)
		if (de->d_name[0] != '.')
			out[n++] = atoi(de->d_name);
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };	/* no SA_RESTART */
	pthread_t th[MAX_THREADS];
	struct tctx ctx[MAX_THREADS];
	int base[256], nbase, before, after, opt, quiet = 0;
	unsigned long total = 0;
	struct rng setup;

	seed = now_ns();
	while ((opt = getopt(argc, argv, "s:n:t:j:o:q")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': calls_per_thread = strtoul(optarg, NULL, 0); break;
		case 't': seconds = atoi(optarg); break;
		case 'j': nthreads = atoi(optarg); break;
		case 'o': out_path = optarg; break;
		case 'q': quiet = 1; break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-n CALLS] [-t SECONDS] [-j THREADS] "
				"[-o RECORDS] [-q]\n", argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS)
		nthreads = 1;
	rec_quiet = quiet;
	printf("kqueue-fuzz: seed %llu, %d thread(s), %lu calls each, at most %d s\n",
	       seed, nthreads, calls_per_thread, seconds);
	fflush(stdout);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned int)seed);

	/* The baseline before the library made anything (kqueue() probes). */
	nbase = list_fds(base, ARRAY_SIZE(base));
	before = count_fds(0, NULL, 0);

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kqueue-fuzz.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	setup.s = seed ^ 0x5eed;
	{
		struct tctx t0 = { .r = setup };

		for (int i = 0; i < POOL; i++)
			pool_refill(&t0, i);
	}
	for (int i = 0; i < KQS; i++) {
		kqs[i] = kqueue();
		closed_kqs[i] = -1;
		if (kqs[i] < 0) {
			fprintf(stderr, "kqueue-fuzz: kqueue(): %s (needs the kevent kernel)\n",
				strerror(errno));
			return 2;
		}
	}
	deadline = now_ns() + (uint64_t)seconds * 1000000000ULL;
	for (int i = 0; i < nthreads; i++) {
		ctx[i] = (struct tctx){ .id = i };
		ctx[i].r.s = seed + 0x1000 * (uint64_t)(i + 1);
		pthread_create(&th[i], NULL, thread_main, &ctx[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		total += ctx[i].calls;
	}

	/* Everything closed: the library's own descriptors must go too. A
	 * closed kqueue's number is EBADF to kevent() (which is how the
	 * library learns it was closed, README: "Other limits"). */
	for (int i = 0; i < POOL; i++)
		pool_close(i);
	for (int i = 0; i < KQS; i++)
		if (kqs[i] >= 0)
			close(kqs[i]);
	for (int i = 0; i < KQS; i++) {
		struct timespec zero = { 0, 0 };
		struct kevent ev;
		int fds[2] = { kqs[i], closed_kqs[i] };

		for (int j = 0; j < 2; j++)
			if (fds[j] >= 0) {
				int r = kevent(fds[j], NULL, 0, &ev, 1, &zero);

				record("kevent", "kq: closed at the end", r < 0 ? -errno : r, "EBADF");
			}
	}
	/* The inotify descriptors (EVFILT_VNODE) of closed queues whose
	 * numbers were never refused: one more pass over every number the
	 * pool ever used. */
	for (int fd = 0; fd < 1024; fd++) {
		struct timespec zero = { 0, 0 };
		struct kevent ev;
		int known = 0;

		for (int i = 0; i < nbase; i++)
			known |= base[i] == fd;
		if (!known && fcntl(fd, F_GETFD) == -1)
			(void)kevent(fd, NULL, 0, &ev, 1, &zero);
	}
	after = count_fds(0, NULL, 0);
	records_write(out_path);
	{
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		(void)!system(cmd);
	}
	printf("kqueue-fuzz: %lu calls, %lu forks, %lu unexpected errnos, %lu bad events, "
	       "%lu failed children, fds %d before and %d after\n",
	       total, forks, rec_unexpected, event_failures, fork_failures, before, after);
	if (after > before)
		count_fds(1, base, nbase);
	return (rec_unexpected || event_failures || fork_failures || after > before) ? 1 : 0;
}
