// SPDX-License-Identifier: GPL-2.0
/*
 * kevent-fuzz: random but structured calls of the five kevent system calls
 * (and read() of a queue), with every type, command, flag and field, valid
 * and invalid, on random descriptors (queues, pipes, sockets, epoll,
 * eventfd, signalfd, timerfd, regular files, directories, O_PATH
 * descriptors, closed and reused numbers), files created, written,
 * renamed and removed under watched directories, and random user pointers (NULL, unmapped, read-only,
 * unaligned, kernel addresses, arrays straddling a PROT_NONE page), from
 * several threads, with fork() and SCM_RIGHTS passing of queues in the
 * middle, rings unmapped, remapped and made read-only under the kernel.
 *
 *   kevent-fuzz [-s SEED] [-n CALLS] [-t SECONDS] [-j THREADS] [-o RECORDS]
 *               [-q] [--strict] [--fail]
 *
 * Every call is recorded as (call, input class) -> outcome; a class that
 * changes one input from a valid call into a documented bad one carries
 * the errno the manual pages give, and --strict makes any other outcome
 * a failure (exit 1). -o writes the records (tab-separated) for
 * fuzz/table.py. The seed is printed; with -j 1 the sequence of calls is
 * a function of the seed alone (outcomes can still differ where they
 * depend on timers). Blocking calls are bounded by a per-thread watchdog
 * signal (EINTR). --fail sets /proc/thread-self/make-it-fail in the
 * fuzzing threads (fuzz/faultinject.sh aims failslab, fail_page_alloc and
 * fail_usercopy at them): ENOMEM and EFAULT are then always clean.
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define PAGE		4096
#define MAX_BATCH	(1u << 20)	/* checked against the probe at start */
#define MAX_CHANGES	64		/* likewise */
#define RING_MAX	(1u << 20)
#define KADDR		((void *)0xffff888000000000ULL)

/* KEVENT_NAIO (the installed uapi header may predate it) */
#ifndef KEVENT_NAIO_SEND
#define KEVENT_NAIO		5
#define KEVENT_NAIO_SEND	0x1
#define KEVENT_NAIO_RECV	0x2
#endif
#ifndef KEVENT_REQ_INLINE
#define KEVENT_REQ_INLINE	0x80
#define KEVENT_RET_COMPLETE	0x8
#endif
#ifndef KEVENT_REQ_AMOUNTS
#define KEVENT_REQ_AMOUNTS	0x100
#endif
#ifndef KEVENT_REQ_KEEP
#define KEVENT_REQ_KEEP		0x200
#endif
#ifndef KEVENT_NAIO_SENDFILE
#define KEVENT_NAIO_SENDFILE	0x4
#endif

/* ---- descriptors -------------------------------------------------- */

enum kind {
	K_QUEUE, K_PIPE_R, K_PIPE_W, K_SOCK, K_EPOLL, K_EVENTFD, K_SIGNALFD,
	K_TIMERFD, K_REGFILE, K_DIR, K_MEMFD, K_UDP, K_NKINDS
};

static const char *const kind_name[K_NKINDS] = {
	"queue", "pipe read end", "pipe write end", "unix socket", "epoll",
	"eventfd", "signalfd", "timerfd", "regular file", "directory",
	"memfd", "udp socket",
};

#define POOL 48
struct slot {
	int fd;			/* -1: empty */
	enum kind kind;
	int peer;		/* the other end of a socketpair, or -1 */
};

static struct slot pool[POOL];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int closed_nums[16];	/* numbers closed lately (may be reused) */
static unsigned int closed_pos;
static char tmpdir[64];
/*
 * O_PATH descriptors of the fuzz directory, its files and "/", for
 * KEVENT_INODE ids: kept out of the pool, as every other call on them
 * fails with EBADF. Replaced now and then (fs_change()); under pool_lock.
 */
static int opath[4] = { -1, -1, -1, -1 };

static int add_slot(int fd, enum kind kind, int peer)
{
	int i, victim = -1;

	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < POOL; i++)
		if (pool[i].fd < 0)
			break;
	if (i == POOL) {
		/* Full: close the oldest-looking slot (slot fd % POOL). */
		i = fd % POOL;
		victim = pool[i].fd;
	}
	pool[i].fd = fd;
	pool[i].kind = kind;
	pool[i].peer = peer;
	if (victim >= 0)
		closed_nums[closed_pos++ % ARRAY_SIZE(closed_nums)] = victim;
	pthread_mutex_unlock(&pool_lock);
	if (victim >= 0)
		close(victim);
	return fd;
}

/* A random descriptor of the pool (of kind @want, or any if K_NKINDS). */
static int pick_fd(struct rng *r, enum kind want, enum kind *kind)
{
	int i, start = below(r, POOL), fd = -1;

	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < POOL; i++) {
		struct slot *s = &pool[(start + i) % POOL];

		if (s->fd >= 0 && (want == K_NKINDS || s->kind == want)) {
			fd = s->fd;
			if (kind)
				*kind = s->kind;
			break;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return fd;
}

static void close_slot(struct rng *r)
{
	int i = below(r, POOL), fd;

	pthread_mutex_lock(&pool_lock);
	fd = pool[i].fd;
	pool[i].fd = -1;
	if (fd >= 0)
		closed_nums[closed_pos++ % ARRAY_SIZE(closed_nums)] = fd;
	pthread_mutex_unlock(&pool_lock);
	if (fd >= 0)
		close(fd);
}

static int new_fd(struct rng *r)
{
	int fds[2], fd = -1;
	enum kind k = below(r, K_NKINDS);
	char path[96];

	switch (k) {
	case K_QUEUE:
		fd = k_create(below(r, 4) == 0 ? KEVENT_NONBLOCK : 0);
		if (fd < 0)
			return -1;
		break;
	case K_PIPE_R:
	case K_PIPE_W:
		if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
			return -1;
		add_slot(fds[0], K_PIPE_R, fds[1]);
		return add_slot(fds[1], K_PIPE_W, fds[0]);
	case K_SOCK:
		if (socketpair(AF_UNIX, below(r, 2) ? SOCK_STREAM : SOCK_DGRAM,
			       0, fds))
			return -1;
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		fcntl(fds[1], F_SETFL, O_NONBLOCK);
		add_slot(fds[0], K_SOCK, fds[1]);
		return add_slot(fds[1], K_SOCK, fds[0]);
	case K_EPOLL:
		fd = epoll_create1(0);
		break;
	case K_EVENTFD:
		fd = eventfd(below(r, 2), EFD_NONBLOCK);
		break;
	case K_SIGNALFD: {
		sigset_t m;

		sigemptyset(&m);
		sigaddset(&m, SIGURG);
		fd = signalfd(-1, &m, SFD_NONBLOCK);
		break;
	}
	case K_TIMERFD: {
		struct itimerspec its = { .it_value.tv_nsec = 1000 + below(r, 1000000),
					  .it_interval.tv_nsec = below(r, 2) * 500000 };

		fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
		if (fd >= 0)
			timerfd_settime(fd, 0, &its, NULL);
		break;
	}
	case K_REGFILE:
		snprintf(path, sizeof(path), "%s/f%u", tmpdir, below(r, 4));
		fd = open(path, O_RDWR | O_CREAT, 0600);
		break;
	case K_DIR:
		fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
		break;
	case K_MEMFD:
		fd = memfd_create("kevent-fuzz", 0);
		break;
	case K_UDP:
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		break;
	default:
		return -1;
	}
	if (fd < 0)
		return -1;
	return add_slot(fd, k, -1);
}

/* ---- memory ------------------------------------------------------- */

/*
 * Per thread: a writable buffer, a read-only view of a memfd page (its
 * contents written through a second, writable view), a page followed by
 * a PROT_NONE page, and a hole (an unmapped page).
 */
struct mem {
	char *buf;		/* 8 pages RW */
	char *ro_w, *ro;	/* 2 pages: RW view and RO view */
	char *edge;		/* 2 pages RW, then 1 page PROT_NONE */
	char *hole;		/* PROT_NONE: no access */
};

static int mem_init(struct mem *m)
{
	int fd;

	m->buf = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = memfd_create("kevent-fuzz-ro", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 2 * PAGE))
		return -1;
	m->ro_w = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m->ro = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	m->edge = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->buf == MAP_FAILED || m->ro_w == MAP_FAILED ||
	    m->ro == MAP_FAILED || m->edge == MAP_FAILED)
		return -1;
	mprotect(m->edge + 2 * PAGE, PAGE, PROT_NONE);
	/*
	 * Not really unmapped: another thread's mmap() could take a hole.
	 * A PROT_NONE page is the same to the kernel (EFAULT) and stays.
	 */
	m->hole = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

enum ptrclass {
	P_VALID, P_NULL, P_UNMAPPED, P_RO, P_UNALIGNED, P_STRADDLE, P_KERNEL,
	P_NCLASSES
};

static const char *const ptr_name[P_NCLASSES] = {
	"valid", "NULL", "no access (PROT_NONE)", "read-only", "unaligned",
	"straddling PROT_NONE", "kernel address",
};

static enum ptrclass pick_ptr(struct rng *r)
{
	return chance(r, 75) ? P_VALID : below(r, P_NCLASSES);
}

/*
 * Where the caller writes @len bytes of content (returned through *@wr)
 * and what it passes to the kernel (the return value), for class @c.
 * For P_STRADDLE the array is laid out so that its entry @split (0..n)
 * starts at the PROT_NONE page.
 */
static void *ptr_for(struct mem *m, enum ptrclass c, size_t elem,
		     unsigned int n, unsigned int split, char **wr)
{
	char *p;

	switch (c) {
	case P_VALID:
		*wr = m->buf;
		return m->buf;
	case P_NULL:
		*wr = NULL;
		return NULL;
	case P_UNMAPPED:
		*wr = NULL;
		return m->hole;
	case P_RO:
		*wr = m->ro_w;
		return m->ro;
	case P_UNALIGNED:
		*wr = m->buf + 1 + (elem % 7);
		return *wr;
	case P_STRADDLE:
		if (split > n)
			split = n;
		/* the first @split entries fit, then one is cut by the guard */
		p = m->edge + 2 * PAGE - split * elem - (elem > 8 ? elem / 2 : 0);
		if (p < m->edge)
			p = m->edge;
		*wr = p;
		return p;
	default:
		*wr = NULL;
		return KADDR;
	}
}

/* ---- the ring arena: only rings point here ------------------------ */

#define ARENA_PAGES 16
static char *arena;		/* ARENA_PAGES pages, then a guard page */

/*
 * One thread at a time: a page another thread makes PROT_NONE between our
 * mprotect() and our store would fault in the fuzzer itself.
 */
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

static void arena_mutate(struct rng *r, int single)
{
	char *p = arena + below(r, ARENA_PAGES) * PAGE;

	pthread_mutex_lock(&arena_lock);
	switch (below(r, 6)) {
	case 0:
		mprotect(p, PAGE, PROT_READ);
		break;
	case 1:
		mprotect(p, PAGE, PROT_NONE);
		break;
	case 2:
		mprotect(arena, ARENA_PAGES * PAGE, PROT_READ | PROT_WRITE);
		break;
	case 3:
		/* remapped: fresh zero pages at the same address */
		mmap(p, PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		break;
	case 4:
		/*
		 * Really unmapped, single-threaded only: another thread's mmap
		 * could take the hole and the kernel would write rings there.
		 */
		if (single) {
			munmap(p, PAGE);
			mmap(p, PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);
		}
		break;
	default: {
		/* garbage tail/head words somewhere (a corrupt ring) */
		unsigned int off = below(r, ARENA_PAGES * PAGE / 4) * 4;
		volatile uint32_t *w = (uint32_t *)(arena + off);

		if (!mprotect(arena + (off & ~(PAGE - 1)), PAGE,
			      PROT_READ | PROT_WRITE))
			*w = (uint32_t)rnd(r);
		break;
	}
	}
	pthread_mutex_unlock(&arena_lock);
}

/* ---- watchdog: blocking calls end with EINTR ---------------------- */

/*
 * Around the calls that may block for good (an infinite timeout, read() of
 * a queue): 1 from arming the watchdog to just before the call, 2 in it.
 * A watchdog signal that lands in phase 1 (the thread lost the CPU for
 * longer than the 30 ms) is counted: with a one-shot watchdog that wait
 * would never have ended; the repeating one ends it 100 ms later.
 */
static __thread volatile sig_atomic_t blk_phase;
static unsigned long wd_early;

static void on_sig(int sig)
{
	if (sig == SIGUSR1 && blk_phase == 1)
		__atomic_add_fetch(&wd_early, 1, __ATOMIC_RELAXED);
}

/* --fail: injected faults; a result not written back is no broken invariant */
static int fail_mode;

struct tctx {
	struct rng r;
	int id;
	int single;
	timer_t wd;
	struct mem m;
	unsigned long calls;
	unsigned long invariant;
};

/*
 * A broken invariant: counted, the first few printed (dprintf(): no stdio
 * lock, so forked children of a threaded parent can print too).
 */
#define INVARIANT(t, ...)						\
	do {								\
		if ((t)->invariant++ < 5) {				\
			dprintf(2, "INVARIANT%s: ",			\
				rec_enabled ? "" : " (forked child)");	\
			dprintf(2, __VA_ARGS__);			\
		}							\
	} while (0)

/* ---- fd argument classes ------------------------------------------ */

enum fdclass { F_QUEUE, F_OTHER, F_CLOSED, F_MINUS1, F_HUGE, F_NEG };

struct fdarg {
	int fd;
	enum fdclass c;
	char name[40];
	const char *expect;	/* for a kevent call on it, or NULL */
};

static void pick_fdarg(struct rng *r, struct fdarg *a)
{
	enum kind k = K_QUEUE;
	unsigned int x = below(r, 100);

	a->expect = NULL;
	if (x < 80) {
		a->c = F_QUEUE;
		a->fd = pick_fd(r, K_QUEUE, NULL);
		snprintf(a->name, sizeof(a->name), "queue");
		if (a->fd >= 0)
			return;
		x = 80;
	}
	if (x < 90) {
		a->c = F_OTHER;
		a->fd = pick_fd(r, K_NKINDS, &k);
		if (a->fd >= 0 && k != K_QUEUE) {
			snprintf(a->name, sizeof(a->name), "fd: %s", kind_name[k]);
			a->expect = "EINVAL";
			return;
		}
		if (a->fd >= 0) {
			a->c = F_QUEUE;
			snprintf(a->name, sizeof(a->name), "queue");
			return;
		}
	}
	switch (below(r, 4)) {
	case 0:
		a->c = F_CLOSED;
		a->fd = closed_nums[below(r, ARRAY_SIZE(closed_nums))];
		snprintf(a->name, sizeof(a->name), "fd: closed or reused number");
		break;
	case 1:
		a->c = F_MINUS1;
		a->fd = -1;
		snprintf(a->name, sizeof(a->name), "fd: -1");
		a->expect = "EBADF";
		break;
	case 2:
		a->c = F_HUGE;
		a->fd = 1 << 20;
		snprintf(a->name, sizeof(a->name), "fd: never opened (2^20)");
		a->expect = "EBADF";
		break;
	default:
		a->c = F_NEG;
		a->fd = INT32_MIN + (int)below(r, 3);
		snprintf(a->name, sizeof(a->name), "fd: negative");
		a->expect = "EBADF";
		break;
	}
}

/* ---- kevent_create ------------------------------------------------ */

static void do_create(struct tctx *t)
{
	static const unsigned int ok_flags[] = {
		0, KEVENT_CLOEXEC, KEVENT_NONBLOCK, KEVENT_CLOEXEC | KEVENT_NONBLOCK,
	};
	struct rng *r = &t->r;
	long ret;

	if (chance(r, 80)) {
		ret = k_create(ok_flags[below(r, 4)]);
		record("kevent_create", "flags: valid", ret, "ok,EMFILE,ENFILE");
		if (ret >= 0)
			add_slot(ret, K_QUEUE, -1);
	} else {
		unsigned int f;

		do
			f = (uint32_t)rnd(r) >> below(r, 32);
		while (!(f & ~(KEVENT_CLOEXEC | KEVENT_NONBLOCK)));
		ret = k_create(f);
		record("kevent_create", "flags: unknown bit", ret, "EINVAL");
		if (ret >= 0)
			close(ret);
	}
}

/* ---- kevent_ctl --------------------------------------------------- */

static const char *const cmd_name[] = {
	"ADD", "REMOVE", "MODIFY", "READY", "ENABLE", "DISABLE", "PROBE",
};

/*
 * The types this kernel supports (the probe's bitmap). A type the fuzzer
 * has no generator for yet but the kernel supports (a source newer than
 * the fuzzer) is sent with random ids and recorded, not predicted; its
 * events need only non-zero bits. A type the probe does not list must
 * fail with EOPNOTSUPP and never be reported.
 */
static __u64 kernel_types;

static int new_type(__u32 type)
{
	return type < 64 && (kernel_types >> type & 1) &&
	       type != KEVENT_TIMER && type != KEVENT_POLL && type != KEVENT_USER &&
	       type != KEVENT_SIGNAL && type != KEVENT_PROC && type != KEVENT_INODE &&
	       type != KEVENT_SOCKET && type != KEVENT_NAIO;
}

static const char *type_name(__u32 type)
{
	switch (type) {
	case KEVENT_TIMER: return "TIMER";
	case KEVENT_POLL: return "POLL";
	case KEVENT_USER: return "USER";
	case KEVENT_SIGNAL: return "SIGNAL";
	case KEVENT_PROC: return "PROC";
	case KEVENT_SOCKET: return "SOCKET";
	case KEVENT_INODE: return "INODE";
	case KEVENT_NAIO: return "NAIO";
	default: return new_type(type) ? "type new to the fuzzer" : "unknown type";
	}
}

#define POLL_BITS	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | \
			 EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | \
			 EPOLLMSG | EPOLLRDHUP)
#define REQ_KNOWN	0x7f
#define INODE_BITS	(KEVENT_INODE_CREATE | KEVENT_INODE_REMOVE | \
			 KEVENT_INODE_MOVED_FROM | KEVENT_INODE_MOVED_TO | \
			 KEVENT_INODE_MODIFY | KEVENT_INODE_ATTRIB | \
			 KEVENT_INODE_MOVE_SELF | KEVENT_INODE_DELETE_SELF | \
			 KEVENT_INODE_REVOKED)
#define INODE_FINAL	(KEVENT_INODE_DELETE_SELF | KEVENT_INODE_REVOKED)
#define SOCKET_BITS	(KEVENT_SOCKET_RECV | KEVENT_SOCKET_ACCEPT | KEVENT_SOCKET_SEND)

/* An id for USER/TIMER: small, so that requests of threads collide */
static __u64 pick_id(struct rng *r)
{
	switch (below(r, 10)) {
	case 0:
		return rnd(r);
	case 1:
		return ~0ULL - below(r, 2);
	default:
		return below(r, 24);
	}
}

/* ---- KEVENT_NAIO: network asynchronous I/O requests --------------- */

/*
 * Requests point only into a scratch area that nothing else in the
 * fuzzer reads or writes (followed by guard pages), or at addresses that
 * can never be mapped: NULL, below mmap_min_addr, a PROT_NONE page that
 * stays, non-canonical and kernel addresses. So a request on any socket
 * (the pool's, another thread's, a reused number) can never receive into
 * the fuzzer's own memory.
 */
#define NAIO_MAX_LEN	0x7ffff000u	/* INT_MAX - 4095: MAX_RW_COUNT */

/* ukevent.naio, through the union's bytes (the installed header may lack it) */
struct naio_fields {
	__s32 fd;
	__u32 len;
	__u32 msg_flags;
	__s32 in_fd;	/* KEVENT_NAIO_SENDFILE; 0 for the others (formerly __reserved) */
};

static void naio_set(struct ukevent *uk, int fd, __u32 len, __u32 flags,
		     __s32 in_fd)
{
	struct naio_fields f = { fd, len, flags, in_fd };

	memcpy(uk->__reserved, &f, sizeof(f));
}

static struct naio_fields naio_get(const struct ukevent *uk)
{
	struct naio_fields f;

	memcpy(&f, uk->__reserved, sizeof(f));
	return f;
}

#define SCRATCH_PAGES	16
#define SCRATCH		(SCRATCH_PAGES * PAGE)
#define GUARD_PAGES	16
static char *naio_scratch;	/* SCRATCH bytes RW, then GUARD_PAGES PROT_NONE */
static char *naio_ro;		/* one read-only page */
static char *naio_noaccess;	/* one PROT_NONE page, never unmapped */

enum nptr {
	NP_SCRATCH, NP_STRADDLE, NP_NULL, NP_LOW, NP_NOACCESS, NP_RO,
	NP_NONCANON, NP_KERNEL, NP_N
};

static const char *const nptr_name[NP_N] = {
	"scratch", "straddling the guard", "NULL", "below mmap_min_addr",
	"no access (PROT_NONE)", "read-only", "non-canonical", "kernel address",
};

/* What a request may do with its buffer, for the completion's check */
enum { NB_OK, NB_SOFT, NB_HARD };

struct nbuf {
	__u64 data;
	__u32 room;	/* bytes accessible from data (for NB_OK) */
	int bad;	/* NB_SOFT: no byte may move; NB_HARD: -EFAULT */
	enum nptr c;
};

static int naio_init_mem(void)
{
	naio_scratch = mmap(NULL, SCRATCH + GUARD_PAGES * PAGE,
			    PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	naio_ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	naio_noaccess = mmap(NULL, PAGE, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (naio_scratch == MAP_FAILED || naio_ro == MAP_FAILED ||
	    naio_noaccess == MAP_FAILED)
		return -1;
	return mprotect(naio_scratch + SCRATCH, GUARD_PAGES * PAGE, PROT_NONE);
}

/*
 * A buffer of class @c for @op with about @len bytes: the buffer and,
 * through *@len, a length that fits it (for the classes with room).
 */
static void naio_buf(struct rng *r, enum nptr c, __u32 op, __u32 *len,
		     struct nbuf *b)
{
	__u32 off;

	b->c = c;
	b->bad = NB_OK;
	b->room = 0;
	switch (c) {
	case NP_SCRATCH:
		/* sometimes more asked for than there is: the guard stops it */
		if (*len > SCRATCH && chance(r, 30)) {
			off = below(r, SCRATCH);
			b->data = PTR64(naio_scratch + off);
			b->room = SCRATCH - off;
			break;
		}
		if (*len > SCRATCH)
			*len = 1 + below(r, SCRATCH);
		off = below(r, SCRATCH - *len + 1);
		b->data = PTR64(naio_scratch + off);
		b->room = SCRATCH - off;
		break;
	case NP_STRADDLE:
		/* 1..64 bytes before the guard, more asked for */
		b->room = 1 + below(r, 64);
		if (*len <= b->room)
			*len = b->room + 1 + below(r, 4096);
		b->data = PTR64(naio_scratch + SCRATCH - b->room);
		break;
	case NP_NULL:
		b->data = 0;
		b->bad = NB_SOFT;
		break;
	case NP_LOW:
		b->data = 0x1000 + below(r, 0xe000);
		b->bad = NB_SOFT;
		break;
	case NP_NOACCESS:
		b->data = PTR64(naio_noaccess) + below(r, PAGE);
		b->bad = NB_SOFT;
		break;
	case NP_RO:
		if (*len > PAGE)
			*len = 1 + below(r, PAGE);
		off = below(r, PAGE - *len + 1);
		b->data = PTR64(naio_ro + off);
		/* sending from it is fine; receiving into it is not */
		if (op == KEVENT_NAIO_SEND)
			b->room = PAGE - off;
		else
			b->bad = NB_SOFT;
		break;
	case NP_NONCANON:
		b->data = 0x0000800000000000ULL + below(r, 1 << 20) * 8ULL;
		if (chance(r, 30))
			b->data = 0x8000000000000000ULL;
		b->bad = NB_HARD;
		break;
	default:
		b->data = PTR64(KADDR) + below(r, 1 << 20);
		b->bad = NB_HARD;
		break;
	}
}

static enum nptr naio_pick_ptr(struct rng *r)
{
	return chance(r, 75) ? NP_SCRATCH : below(r, NP_N);
}

static __u32 naio_pick_len(struct rng *r)
{
	switch (below(r, 10)) {
	case 0:
		return 1;
	case 1:
		return 4096 + below(r, SCRATCH - 4096);
	case 2:
		/* the largest: room only for the scratch area's bytes */
		return chance(r, 50) ? NAIO_MAX_LEN : NAIO_MAX_LEN - below(r, 1 << 20);
	default:
		return 1 + below(r, 512);
	}
}

static __u32 naio_pick_msg_flags(struct rng *r, __u32 op)
{
	if (op == KEVENT_NAIO_RECV)
		return chance(r, 30) ? MSG_WAITALL : 0;
	return (chance(r, 30) ? MSG_MORE : 0) | (chance(r, 50) ? MSG_NOSIGNAL : 0) |
	       (chance(r, 10) ? MSG_EOR : 0);
}

/*
 * KEVENT_NAIO_SENDFILE: the files a request sends from (naio.in_fd), with
 * the errno kevent_ctl(2) gives each (ERRORS: EBADF, EINVAL, ESPIPE,
 * EOPNOTSUPP). Opened once before the threads start, at numbers far above
 * the pool's (3900 on: the engine's range, below its never-open numbers),
 * and never closed until the end, so no other call reuses them. The two
 * with content keep their bytes: the memfd is sealed, the tmpfs file open
 * read-only and written by nothing else.
 */
enum sfk {
	SF_MEMFD, SF_TMPFS,		/* valid: content */
	SF_PROC, SF_PROC_NOSPLICE, SF_PIPE, SF_OPATH, SF_WRONLY, SF_DIR,
	SF_ODIRECT, SF_HUGETLB, SF_OVERLAY, SF_N
};

struct sfsrc {
	int fd;			/* -1: not available in this kernel */
	const char *name;
	/*
	 * The outcomes the manual page gives; @kernel: an outcome the kernel's
	 * code gives instead (a disagreement, reported in fuzz/README.md):
	 * counted and printed, not hidden, and the records keep the page's.
	 */
	const char *expect;
	const char *kernel;
};

#define SF_MEMSZ	(3 * PAGE + 1000)	/* the memfd's bytes */
#define SF_TMPSZ	5000			/* the tmpfs file's */
#define SF_HIGH		3900

static struct sfsrc sf[SF_N] = {
	[SF_MEMFD] = { -1, "memfd with content", "ok", NULL },
	[SF_TMPFS] = { -1, "tmpfs file with content", "ok", NULL },
	/* "a file system other than tmpfs whose reads cannot be waited for (procfs)" */
	[SF_PROC] = { -1, "procfs file (/proc/version)", "EOPNOTSUPP", NULL },
	/* "one whose file system cannot splice from it": EINVAL */
	[SF_PROC_NOSPLICE] = { -1, "procfs file without splice_read (/proc/self/stat)",
			       "EINVAL", NULL },
	/* "not a regular file or block device (a pipe or a socket included)" */
	[SF_PIPE] = { -1, "pipe read end", "EINVAL", NULL },
	/* "not an open file descriptor" (fget() does not take O_PATH ones) */
	[SF_OPATH] = { -1, "O_PATH descriptor of a tmpfs file", "EBADF", NULL },
	[SF_WRONLY] = { -1, "tmpfs file open write-only", "EBADF", NULL },
	[SF_DIR] = { -1, "directory", "EINVAL", NULL },
	[SF_ODIRECT] = { -1, "tmpfs file open O_DIRECT", "EOPNOTSUPP", NULL },
	/* hugetlbfs: no ->splice_read(), EINVAL as the page says */
	[SF_HUGETLB] = { -1, "hugetlbfs memfd", "EINVAL", NULL },
	/*
	 * The VM's /tmp (virtme-ng: an overlay): no asynchronous buffered
	 * reads of its own, even over tmpfs. Only where /tmp is an overlay.
	 */
	[SF_OVERLAY] = { -1, "regular file on overlayfs (the VM's /tmp)", "EOPNOTSUPP", NULL },
};

/*
 * The tmpfs the sources live on: the fuzz directory if it is one, else a
 * tmpfs mounted in it (as root); and what a regular file of the fuzz
 * directory (the pool's) gets as in_fd.
 */
#define TMPFS_MAGIC_	0x01021994
#define OVERLAYFS_MAGIC_ 0x794c7630
static char sf_dir[96];
static int sf_mounted;
static const char *regfile_expect;

static unsigned long sf_loose_gen, sf_loose_ok;
/* ADD|UPDATE entries the kernel said it created (KEVENT_RET_CREATED) */
static unsigned long upserts_created;

/*
 * The kernel writes DONE, with BROKEN or (only for an ADD with
 * KEVENT_REQ_UPDATE that succeeded) CREATED, and nothing else. An UPDATE
 * with another command is EINVAL, so CREATED says ADD too. Called first
 * in each check, so that it counts every CREATED.
 */
#define RET_KNOWN (KEVENT_RET_DONE | KEVENT_RET_BROKEN | KEVENT_RET_CREATED | \
		   KEVENT_RET_COMPLETE)
/* ADDs with KEVENT_REQ_INLINE that said KEVENT_RET_COMPLETE */
static unsigned long inline_completed;

static int ret_flags_bad(const struct ukevent *w)
{
	if (w->ret_flags & ~RET_KNOWN)
		return 1;
	/* only a request that asked for it, completed at its ADD */
	if (w->ret_flags & KEVENT_RET_COMPLETE) {
		if ((w->ret_flags & (KEVENT_RET_BROKEN | KEVENT_RET_CREATED)) ||
		    !(w->req_flags & KEVENT_REQ_INLINE) || w->type != KEVENT_NAIO)
			return 1;
		__atomic_add_fetch(&inline_completed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (!(w->ret_flags & KEVENT_RET_CREATED))
		return 0;
	if ((w->ret_flags & KEVENT_RET_BROKEN) ||
	    !(w->req_flags & KEVENT_REQ_UPDATE))
		return 1;
	__atomic_add_fetch(&upserts_created, 1, __ATOMIC_RELAXED);
	return 0;
}

static unsigned char sf_byte(long off)
{
	return (unsigned char)(off * 131 + (off >> 9) + 7);
}

static int sf_high(int fd)
{
	int n;

	if (fd < 0)
		return -1;
	n = fcntl(fd, F_DUPFD_CLOEXEC, SF_HIGH);
	close(fd);
	return n;
}

static int sf_fill(int fd, long size)
{
	char buf[4096];
	long off, i;

	for (off = 0; off < size; off += sizeof(buf)) {
		long n = size - off < (long)sizeof(buf) ? size - off : (long)sizeof(buf);

		for (i = 0; i < n; i++)
			buf[i] = sf_byte(off + i);
		if (pwrite(fd, buf, n, off) != n)
			return -1;
	}
	return 0;
}

static void sf_open(void)
{
	char path[128];
	struct statfs st;
	int fd, p[2];
	long fstype = statfs(tmpdir, &st) ? 0 : (long)st.f_type;

	regfile_expect = fstype == TMPFS_MAGIC_ ? "ok" :
			 fstype == OVERLAYFS_MAGIC_ ? "EOPNOTSUPP" : NULL;
	snprintf(sf_dir, sizeof(sf_dir), "%s", tmpdir);
	if (fstype != TMPFS_MAGIC_) {
		snprintf(sf_dir, sizeof(sf_dir), "%s/tmpfs", tmpdir);
		if (mkdir(sf_dir, 0700) ||
		    mount("kevent-fuzz", sf_dir, "tmpfs", 0, "size=1m")) {
			printf("kevent-fuzz: SENDFILE: %s is not tmpfs (f_type %#lx) and no tmpfs could be mounted (%s): no tmpfs sources\n",
			       tmpdir, fstype, strerror(errno));
			rmdir(sf_dir);
			sf_dir[0] = 0;
		} else {
			sf_mounted = 1;
		}
		if (fstype == OVERLAYFS_MAGIC_) {
			snprintf(path, sizeof(path), "%s/sendfile-overlay", tmpdir);
			fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			if (fd >= 0 && sf_fill(fd, SF_TMPSZ)) {
				close(fd);
				fd = -1;
			}
			sf[SF_OVERLAY].fd = sf_high(fd);
		}
	}

	fd = memfd_create("kevent-fuzz-sendfile", MFD_ALLOW_SEALING);
	if (fd >= 0 && (sf_fill(fd, SF_MEMSZ) ||
			fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
			      F_SEAL_GROW | F_SEAL_SEAL))) {
		close(fd);
		fd = -1;
	}
	sf[SF_MEMFD].fd = sf_high(fd);
	snprintf(path, sizeof(path), "%s/sendfile-src", sf_dir);
	fd = sf_dir[0] ? open(path, O_RDWR | O_CREAT | O_TRUNC, 0600) : -1;
	if (fd >= 0 && sf_fill(fd, SF_TMPSZ)) {
		close(fd);
		fd = -1;
	}
	/* read-only from here on: the content stays */
	if (fd >= 0) {
		close(fd);
		fd = open(path, O_RDONLY);
	}
	sf[SF_TMPFS].fd = sf_high(fd);
	sf[SF_PROC].fd = sf_high(open("/proc/version", O_RDONLY));
	sf[SF_PROC_NOSPLICE].fd = sf_high(open("/proc/self/stat", O_RDONLY));
	if (!pipe2(p, O_NONBLOCK)) {
		sf[SF_PIPE].fd = sf_high(p[0]);
		close(p[1]);	/* no writer: nothing ever comes */
	}
	if (sf_dir[0]) {
		sf[SF_OPATH].fd = sf_high(open(path, O_PATH));
		sf[SF_WRONLY].fd = sf_high(open(path, O_WRONLY));
		sf[SF_DIR].fd = sf_high(open(sf_dir, O_RDONLY | O_DIRECTORY));
		sf[SF_ODIRECT].fd = sf_high(open(path, O_RDONLY | O_DIRECT));
	}
	sf[SF_HUGETLB].fd = sf_high(memfd_create("kevent-fuzz-huge", MFD_HUGETLB));
	for (fd = 0; fd < SF_N; fd++)
		if (sf[fd].fd < 0 && (fd != SF_OVERLAY || fstype == OVERLAYFS_MAGIC_))
			printf("kevent-fuzz: SENDFILE: no %s here: that class is not generated\n",
			       sf[fd].name);
	printf("kevent-fuzz: SENDFILE: the fuzz directory %s is %s; the tmpfs sources in %s%s\n",
	       tmpdir, fstype == TMPFS_MAGIC_ ? "tmpfs" : fstype == OVERLAYFS_MAGIC_ ?
	       "overlayfs" : "neither tmpfs nor overlayfs", sf_dir[0] ? sf_dir : "(none)",
	       sf_mounted ? " (mounted for them)" : "");
}

static void sf_close(void)
{
	char path[128];
	int i;

	for (i = 0; i < SF_N; i++)
		if (sf[i].fd >= 0)
			close(sf[i].fd);
	snprintf(path, sizeof(path), "%s/sendfile-overlay", tmpdir);
	unlink(path);
	if (!sf_dir[0])
		return;
	snprintf(path, sizeof(path), "%s/sendfile-src", sf_dir);
	unlink(path);
	if (sf_mounted) {
		umount2(sf_dir, MNT_DETACH);
		rmdir(sf_dir);
	}
}

static long sf_size(enum sfk k)
{
	return k == SF_MEMFD ? SF_MEMSZ : SF_TMPSZ;
}

/* A valid source: the memfd or the tmpfs file (-1 if neither opened) */
static enum sfk sf_pick_valid(struct rng *r)
{
	enum sfk k = chance(r, 60) ? SF_MEMFD : SF_TMPFS;

	if (sf[k].fd < 0)
		k = k == SF_MEMFD ? SF_TMPFS : SF_MEMFD;
	return sf[k].fd < 0 ? SF_N : k;
}

/* A source that must be refused (SF_N if none is open) */
static enum sfk sf_pick_bad(struct rng *r)
{
	int i, s = below(r, SF_N - SF_PROC);

	for (i = 0; i < SF_N - SF_PROC; i++) {
		enum sfk k = SF_PROC + (s + i) % (SF_N - SF_PROC);

		if (sf[k].fd >= 0)
			return k;
	}
	return SF_N;
}

/*
 * The range of a sendfile from a file of @size: the offset (data) and
 * len; the class; the bytes and KEVENT_EV_EOF the completion must have.
 * @bad: an offset the page refuses (EINVAL): negative as an __s64, or a
 * range past LLONG_MAX.
 */
struct sfrange {
	__u64 off;
	__u32 len;
	long bytes;	/* the result of a completion nothing cut short */
	int eof;	/* with KEVENT_EV_EOF: the file ended first */
	const char *cls;
};

static void sf_pick_range(struct rng *r, long size, int bad, struct sfrange *s)
{
	unsigned int x = below(r, 10);

	s->len = x < 5 ? 1 + below(r, 512) : x < 8 ? 1 + below(r, size + 1000) :
		 chance(r, 50) ? NAIO_MAX_LEN : NAIO_MAX_LEN - below(r, 1 << 20);
	if (bad) {
		if (chance(r, 50)) {
			s->off = 0x8000000000000000ULL + (chance(r, 50) ? 0 : rnd(r) >> 1);
			s->cls = "offset negative (as __s64)";
		} else {
			if (s->len < 2)
				s->len = 2 + below(r, 4096);
			/* off + len - 1 .. beyond LLONG_MAX */
			s->off = 0x7fffffffffffffffULL - below(r, s->len - 1);
			s->cls = "offset + len past LLONG_MAX";
		}
		s->bytes = 0;
		s->eof = 0;
		return;
	}
	switch (below(r, 7)) {
	case 0:
		s->off = 0;
		s->cls = "offset 0";
		break;
	case 6:
		/* the range ends exactly at the end: all of it, no EOF */
		if (s->len > size)
			s->len = 1 + below(r, size);
		s->off = size - s->len;
		s->cls = "range ending at end of file";
		break;
	case 1:
	case 2:
		s->off = below(r, size);
		s->cls = "offset inside";
		break;
	case 3:
		s->off = size;
		s->cls = "offset at end of file";
		break;
	case 4:
		s->off = size + 1 + below(r, 1 << 20);
		s->cls = "offset past end of file";
		break;
	default:
		/* the largest offset whose range does not overflow */
		s->off = 0x7fffffffffffffffULL - s->len - below(r, 1 << 20);
		s->cls = "offset huge (range up to LLONG_MAX)";
		break;
	}
	if ((long long)s->off >= size) {
		s->bytes = 0;
		s->eof = 1;
	} else {
		long left = size - (long)s->off;

		s->bytes = (long)s->len < left ? (long)s->len : left;
		s->eof = (long)s->len > left;
	}
}

static __u32 sf_pick_msg_flags(struct rng *r)
{
	return (chance(r, 30) ? MSG_MORE : 0) | (chance(r, 50) ? MSG_NOSIGNAL : 0);
}

/*
 * One bad field of a NAIO ADD (the rest valid): the class and the errno
 * it must get; NULL if nothing was changed.
 */
static const char *naio_mutate(struct rng *r, struct ukevent *uk,
			       const char **expect)
{
	struct naio_fields f = naio_get(uk);
	static const __u32 bad_req[] = {
		KEVENT_REQ_ET, KEVENT_REQ_DISPATCH, KEVENT_REQ_DISABLED,
		KEVENT_REQ_UPDATE, KEVENT_REQ_FD_CLOSE,
	};
	const char *what = NULL, *e = "EINVAL";

	switch (below(r, 9)) {
	case 0:
		uk->event = 0;
		what = "NAIO: event 0";
		break;
	case 1: {
		/* never exactly one operation: two or three, or an undefined bit */
		static const __u32 two[] = {
			KEVENT_NAIO_SEND | KEVENT_NAIO_RECV,
			KEVENT_NAIO_SEND | KEVENT_NAIO_SENDFILE,
			KEVENT_NAIO_RECV | KEVENT_NAIO_SENDFILE,
			KEVENT_NAIO_SEND | KEVENT_NAIO_RECV | KEVENT_NAIO_SENDFILE,
		};

		uk->event = chance(r, 50) ? two[below(r, ARRAY_SIZE(two))] :
					    uk->event | (8u << below(r, 29));
		what = "NAIO: event not exactly one of SEND, RECV, SENDFILE";
		break;
	}
	case 2: {
		__u32 bad = chance(r, 80) ? bad_req[below(r, ARRAY_SIZE(bad_req))] :
					    0x100u << below(r, 24);

		/* a receive may stay: DISPATCH is bad with the others only */
		if (bad == KEVENT_REQ_DISPATCH && uk->event == KEVENT_NAIO_RECV)
			bad = KEVENT_REQ_DISABLED;
		uk->req_flags |= bad;
		what = "NAIO: req_flags other than ONESHOT, WAKEUP_ALL (DISPATCH: RECV only)";
		break;
	}
	case 3:
		f.len = chance(r, 50) ? 0 : NAIO_MAX_LEN + 1 +
			below(r, 0xffffffffu - NAIO_MAX_LEN);
		what = f.len ? "NAIO: len above INT_MAX-4095" : "NAIO: len 0";
		break;
	case 4:
		if (uk->event == KEVENT_NAIO_SEND)
			f.msg_flags |= (const __u32[]){ MSG_WAITALL, MSG_DONTWAIT,
				MSG_PEEK, MSG_OOB, MSG_TRUNC, MSG_CONFIRM,
				0x80000000u }[below(r, 7)];
		else if (uk->event == KEVENT_NAIO_SENDFILE)
			/* MSG_MORE and MSG_NOSIGNAL only (kevent_ctl(2)) */
			f.msg_flags |= (const __u32[]){ MSG_EOR, MSG_WAITALL,
				MSG_DONTWAIT, MSG_PEEK, MSG_OOB, MSG_TRUNC,
				MSG_CONFIRM, 0x80000000u }[below(r, 8)];
		else
			f.msg_flags |= (const __u32[]){ MSG_MORE, MSG_NOSIGNAL,
				MSG_EOR, MSG_DONTWAIT, MSG_PEEK, MSG_OOB,
				MSG_TRUNC, 0x80000000u }[below(r, 8)];
		what = "NAIO: msg_flags the operation does not take";
		break;
	case 5:
		if (uk->event == KEVENT_NAIO_SENDFILE) {
			f.in_fd = chance(r, 50) ? -1 : INT32_MIN + (int)below(r, 3);
			what = "NAIO SENDFILE: in_fd negative";
			e = "EBADF";
		} else {
			/* a number, or a file a sendfile could send from */
			f.in_fd = chance(r, 50) || sf[SF_MEMFD].fd < 0 ?
				  (__s32)(1u << below(r, 32)) : sf[SF_MEMFD].fd;
			what = "NAIO: in_fd not 0 for SEND or RECV";
		}
		break;
	case 6:
		f.fd = chance(r, 50) ? -1 : INT32_MIN + (int)below(r, 3);
		what = "NAIO: fd negative";
		e = "EBADF";
		break;
	case 7:
		f.fd = 1 << 20;
		what = "NAIO: fd never opened (2^20)";
		e = "EBADF";
		break;
	default:
		break;
	}
	if (what)
		*expect = e;
	naio_set(uk, f.fd, f.len, f.msg_flags, f.in_fd);
	return what;
}

/*
 * Requests the pool's queues get ("loose" ones: any thread may report
 * them, forked children too, and any close may drop them): tracked by a
 * tag in the id, so each one is reported at most once, never after its
 * ADD was refused, with its operation and a result within its buffer.
 * Exactly once is checked on the engine's private queues (below).
 */
#define LOOSE_TAG	0x4e41000000000000ULL	/* "NA" */
#define LOOSE_MASK	0xffff000000000000ULL
#define LOOSE_MAX	(1u << 18)
enum { LS_NONE, LS_SUBMITTED, LS_ACCEPTED, LS_UNKNOWN, LS_REFUSED, LS_DONE,
       LS_INLINE };

/* fork()s so far, and loose requests a child's report ended with EXDEV */
static unsigned long forks_total, exdev_after_fork;

struct loose {
	__u32 len;
	__u32 room;
	__u8 op;
	__u8 bad;
	__u8 state;	/* LS_*, changed atomically */
	__u8 stream;	/* 1 stream, 0 datagram, 2 unknown */
};

static struct loose *loose;
static unsigned int loose_next;

static int sock_is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len))
		return 2;
	return type == SOCK_STREAM;
}

/*
 * What an entry expected to give @expect may give with an id that may
 * collide: EEXIST as well, and the limits (the id is looked up, and the
 * queue's limits checked, before the source sees the descriptor).
 */
static const char *naio_colliding(const char *expect)
{
	static __thread char ring[16][64];
	static __thread unsigned int pos;
	char *b;

	if (!strcmp(expect, "ENOTSOCK"))
		return "ENOTSOCK,EEXIST,EAGAIN,ENOSPC";
	if (!strncmp(expect, "ok", 2))
		return "ok,EEXIST,EAGAIN,ENOSPC";
	/* a sendfile's errno (its file, its range) */
	b = ring[pos++ % 16];
	snprintf(b, 64, "%s,EEXIST,EAGAIN,ENOSPC", expect);
	return b;
}

/* What kevent_ctl(2) gives a pool descriptor of kind @k as naio.in_fd */
static const char *sf_pool_expect(enum kind k)
{
	switch (k) {
	case K_MEMFD:
		return "ok";
	case K_REGFILE:		/* in the fuzz directory: see sf_open() */
		return regfile_expect;
	case K_PIPE_W:		/* not open for reading */
		return "EBADF";
	case K_PIPE_R:
	case K_SOCK:
	case K_UDP:		/* not a regular file, and no reads at an offset */
		return "EINVAL,ESPIPE";
	default:		/* anon inodes, directories: not a regular file */
		return "EINVAL";
	}
}

/*
 * A loose KEVENT_NAIO_SENDFILE on pool socket @fd (of kind @k): in_fd from
 * the sendfile sources or the pool, the socket itself, a closed number;
 * a range and flags. One reason to fail at most: a socket that is not a
 * stream, or no socket, gets a valid file. Returns the class; *@expect
 * (one thread only), *@room: the most its completion may report.
 */
static const char *gen_sendfile_loose(struct tctx *t, struct ukevent *uk, int fd,
				       enum kind k, const char **expect, __u32 *room,
				       const char **mismatch)
{
	static __thread char cls[96];
	struct rng *r = &t->r;
	enum sfk sk = sf_pick_valid(r);
	unsigned int y = below(r, 100);
	int sock = k == K_SOCK || k == K_UDP, stream = 2, in_fd;
	struct sfrange sr;
	enum kind ik = K_NKINDS;
	const char *e;

	if (t->single && sock && fd >= 0)
		stream = sock_is_stream(fd);
	if (sk == SF_N)
		return NULL;
	if (!sock || stream == 0 || fd < 0)
		y = 0;	/* the socket's errno alone */
	sf_pick_range(r, sf_size(sk), y >= 45 && y < 50, &sr);
	in_fd = sf[sk].fd;
	*room = sr.bytes;
	*mismatch = NULL;
	e = y >= 45 && y < 50 ? "EINVAL" : "ok";
	if (y < 50) {
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: %s%s, %s", y < 45 ? "valid, " : "",
			 sf[sk].name, sr.cls);
	} else if (y < 70 && (in_fd = pick_fd(r, K_NKINDS, &ik)) >= 0) {
		e = sf_pool_expect(ik);
		*room = sr.len;	/* its size is not known */
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: in_fd %s (pool)", kind_name[ik]);
	} else if (y < 85 && (sk = sf_pick_bad(r)) != SF_N) {
		in_fd = sf[sk].fd;
		e = sf[sk].expect;
		*mismatch = sf[sk].kernel;
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: in_fd %s", sf[sk].name);
	} else if (y < 92) {
		in_fd = fd;
		e = "EINVAL,ESPIPE";
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: in_fd the socket itself");
	} else {
		in_fd = closed_nums[below(r, ARRAY_SIZE(closed_nums))];
		e = NULL;
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: in_fd closed or reused number");
	}
	__atomic_add_fetch(&sf_loose_gen, 1, __ATOMIC_RELAXED);
	uk->event = KEVENT_NAIO_SENDFILE;
	uk->data = sr.off;
	naio_set(uk, fd, sr.len, sf_pick_msg_flags(r), in_fd);
	if (fd >= 0 && !sock) {
		e = "ENOTSOCK";
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: fd not a socket");
	} else if (fd >= 0 && stream == 0) {
		e = "EOPNOTSUPP";
		snprintf(cls, sizeof(cls), "NAIO SENDFILE: fd a socket, not a stream");
	}
	*expect = t->single ? e : NULL;
	return cls;
}

/* A NAIO entry for a pool queue: any pool descriptor, mostly sockets */
static void gen_naio_loose(struct tctx *t, unsigned int cmd, struct ukevent *uk,
			   const char **what, const char **expect,
			   const char **mismatch)
{
	struct rng *r = &t->r;
	enum kind k = K_NKINDS;
	struct nbuf b;
	__u32 op, len, flags;
	const char *m = NULL;
	int fd;

	*mismatch = NULL;
	uk->type = KEVENT_NAIO;
	if (cmd != KEVENT_CTL_ADD) {
		/* a loose request of late, or any id */
		unsigned int n = __atomic_load_n(&loose_next, __ATOMIC_RELAXED);

		uk->id = n && chance(r, 70) ? LOOSE_TAG | (n - 1 - below(r, n < 64 ? n : 64))
					    : pick_id(r);
		*what = "NAIO: valid";
		/*
		 * A request runs once: nothing to change, arm or trigger.
		 * ENABLE is for a receive that stays (none here): refused for
		 * any other request, and absent ids are ENOENT.
		 */
		*expect = cmd == KEVENT_CTL_REMOVE ? NULL :
			  cmd == KEVENT_CTL_ENABLE ? "EINVAL,ENOENT" : "EINVAL";
		return;
	}
	op = (const __u32[]){ KEVENT_NAIO_SEND, KEVENT_NAIO_RECV,
			      KEVENT_NAIO_SENDFILE }[below(r, 3)];
	if (chance(r, 85)) {
		fd = pick_fd(r, chance(r, 70) ? K_SOCK : K_UDP, &k);
		if (fd < 0)
			fd = pick_fd(r, K_SOCK, &k);
	} else {
		fd = pick_fd(r, K_NKINDS, &k);
	}
	/* a sendfile takes a stream only: look for one of the pool's mostly */
	if (op == KEVENT_NAIO_SENDFILE && chance(r, 80)) {
		int tries, f;

		for (tries = 0; tries < 4; tries++)
			if ((f = pick_fd(r, K_SOCK, NULL)) >= 0 && sock_is_stream(f) == 1) {
				fd = f;
				k = K_SOCK;
				break;
			}
	}
	len = naio_pick_len(r);
	flags = naio_pick_msg_flags(r, op == KEVENT_NAIO_SENDFILE ? KEVENT_NAIO_SEND : op);
	naio_buf(r, naio_pick_ptr(r), op == KEVENT_NAIO_SENDFILE ? KEVENT_NAIO_SEND : op,
		 &len, &b);
	uk->event = op;
	uk->data = b.data;
	uk->req_flags = (__u32)rnd(r) & (KEVENT_REQ_ONESHOT | KEVENT_REQ_WAKEUP_ALL);
	/* done at the ADD: the result in the entry, no event */
	if (chance(r, 30))
		uk->req_flags |= KEVENT_REQ_INLINE;
	naio_set(uk, fd, len, flags, 0);
	if (op == KEVENT_NAIO_SENDFILE) {
		const char *mm = NULL;
		__u32 room = 0;
		const char *sc = gen_sendfile_loose(t, uk, fd, k, expect, &room, &mm);

		if (!sc) {
			/* no file to send from: a send */
			uk->event = op = KEVENT_NAIO_SEND;
		} else {
			b.bad = NB_OK;
			b.room = room;
			if (fd >= 0 && chance(r, 25))
				m = naio_mutate(r, uk, expect);
			*what = m ? m : sc;
			*mismatch = m ? NULL : mm;
			if (fd < 0) {
				naio_set(uk, closed_nums[below(r, ARRAY_SIZE(closed_nums))],
					 naio_get(uk).len, naio_get(uk).msg_flags,
					 naio_get(uk).in_fd);
				*what = "NAIO SENDFILE: fd closed or reused number";
				*expect = NULL;
			}
			goto track;
		}
	}
	/* one bad field: the rest valid, the descriptor too (EBADF comes first) */
	if (fd >= 0 && chance(r, 40))
		m = naio_mutate(r, uk, expect);
	if (m) {
		*what = m;
	} else if (fd < 0) {
		naio_set(uk, closed_nums[below(r, ARRAY_SIZE(closed_nums))],
			 len, flags, 0);
		*what = "NAIO: fd closed or reused number";
		*expect = NULL;
	} else if (k != K_SOCK && k != K_UDP) {
		*what = "NAIO: fd not a socket";
		*expect = t->single ? "ENOTSOCK" : NULL;
	} else {
		*what = b.bad ? (b.bad == NB_HARD ? "NAIO: valid, buffer at a kernel or non-canonical address"
						  : "NAIO: valid, buffer without access")
			      : "NAIO: valid";
		/* a new id: only the limits can refuse it */
		*expect = t->single ? "ok,EAGAIN,ENOSPC" : NULL;
	}
track:
	if (!m && *expect && !strcmp(*expect, "ok"))
		*expect = "ok,EAGAIN,ENOSPC";
	if (!rec_enabled || !loose || chance(r, 10) ||
	    __atomic_load_n(&loose_next, __ATOMIC_RELAXED) >= LOOSE_MAX) {
		/* untracked: a small id that may collide (EEXIST or not) */
		uk->id = pick_id(r);
		if ((uk->id & LOOSE_MASK) == LOOSE_TAG)
			uk->id ^= 1ULL << 63;
		if (!m && *expect)
			*expect = naio_colliding(*expect);
		return;
	}
	{
		unsigned int n = __atomic_fetch_add(&loose_next, 1, __ATOMIC_RELAXED);
		struct loose *l;
		int nfd = naio_get(uk).fd;

		if (n >= LOOSE_MAX) {
			uk->id = pick_id(r) & ~LOOSE_MASK;
			if (!m && *expect)
				*expect = naio_colliding(*expect);
			return;
		}
		l = &loose[n];
		l->len = naio_get(uk).len;
		l->room = b.bad ? 0 : b.room;
		l->op = uk->event;
		l->bad = b.bad;
		/* with threads the number may change under us: unknown */
		l->stream = t->single && nfd >= 0 && nfd < (1 << 20) ?
			    sock_is_stream(nfd) : 2;
		__atomic_store_n(&l->state, LS_SUBMITTED, __ATOMIC_RELEASE);
		uk->id = LOOSE_TAG | n;
	}
}

static int naio_check_result(struct tctx *t, const struct kevent_event *ev,
			     __u32 op, __u32 len, __u32 room, int bad, int stream);

/* After kevent_ctl: what became of the loose ADDs */
static void loose_result(struct tctx *t, const struct ukevent *uk, int known,
			 long e)
{
	__u64 n = uk->id & ~LOOSE_MASK;
	__u8 want = LS_SUBMITTED, to;

	if (!loose || !rec_enabled || (uk->id & LOOSE_MASK) != LOOSE_TAG ||
	    uk->type != KEVENT_NAIO || n >= LOOSE_MAX)
		return;
	to = !known ? LS_UNKNOWN : e ? LS_REFUSED :
	     uk->ret_flags & KEVENT_RET_COMPLETE ? LS_INLINE : LS_ACCEPTED;
	if (!__atomic_compare_exchange_n(&loose[n].state, &want, to, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
	    want == LS_DONE && known && e)
		INVARIANT(t, "NAIO request %#llx reported, but its ADD failed with %ld\n",
			  (unsigned long long)uk->id, e);
	if (to == LS_INLINE) {
		/* the completion its event would have carried */
		struct loose *l = &loose[n];
		struct kevent_event ev = {
			.id = uk->id,
			.events = uk->event,
			.data = (__u64)(__s64)(__s32)uk->ret_data[1],
			.flags = (__u16)uk->ret_data[0],
		};

		if (want == LS_DONE || uk->ret_data[0] > 0xffff)
			INVARIANT(t, "NAIO request %#llx completed at its ADD (flags %#x) %s\n",
				  (unsigned long long)uk->id, uk->ret_data[0],
				  want == LS_DONE ? "and reported" : "with flags beyond 16 bits");
		naio_check_result(t, &ev, l->op, l->len, l->room, l->bad, l->stream);
	}
}

/*
 * The checks of one NAIO completion that need nothing but the event and
 * what the request was: @op, @len, @room (bytes its buffer has), @bad,
 * @stream (1, 0, 2: unknown).
 */
static int naio_check_result(struct tctx *t, const struct kevent_event *ev,
			     __u32 op, __u32 len, __u32 room, int bad, int stream)
{
	__s64 res = (__s64)ev->data;
	int err = !!(ev->flags & KEVENT_EV_ERROR);
	__u64 lim = len;

	if (!bad && room < lim)
		lim = room;
	if (bad)
		lim = 0;
	if (ev->events != op || (ev->flags & ~(KEVENT_EV_EOF | KEVENT_EV_ERROR)) ||
	    res < -4095 || res > (__s64)lim || err != (res < 0) ||
	    /* KEVENT_EV_EOF: a receive of 0, or a sendfile whose file ended */
	    ((ev->flags & KEVENT_EV_EOF) &&
	     (op == KEVENT_NAIO_SEND || (op == KEVENT_NAIO_RECV && res) || res < 0)) ||
	    (stream == 1 && op == KEVENT_NAIO_RECV && res == 0 &&
	     !(ev->flags & KEVENT_EV_EOF)) ||
	    (op == KEVENT_NAIO_SEND && res == 0) ||
	    /* a sendfile of 0 bytes only at the end of the file */
	    (op == KEVENT_NAIO_SENDFILE && res == 0 && !(ev->flags & KEVENT_EV_EOF)) ||
	    /* it moves no user memory */
	    (op == KEVENT_NAIO_SENDFILE && res == -EFAULT && !fail_mode) ||
	    (bad == NB_HARD && res != -EFAULT && res != -ECANCELED &&
	     res != -EXDEV)) {
		INVARIANT(t, "NAIO event id %#llx: events %#x flags %#x result %lld; request op %#x len %u room %u%s\n",
			  (unsigned long long)ev->id, ev->events, ev->flags,
			  (long long)res, op, len, room,
			  bad == NB_HARD ? " (kernel address)" : bad ? " (no access)" : "");
		return 1;
	}
	return 0;
}

/* An event of a pool queue: stateless checks, and the loose table's */
static void naio_check_loose(struct tctx *t, const struct kevent_event *ev)
{
	__u64 n = ev->id & ~LOOSE_MASK;
	struct loose *l;
	__u8 old;

	if (!loose || !rec_enabled || (ev->id & LOOSE_MASK) != LOOSE_TAG ||
	    n >= LOOSE_MAX) {
		/* another id: the operation and the result's form only */
		naio_check_result(t, ev, ev->events == KEVENT_NAIO_SEND ||
				  ev->events == KEVENT_NAIO_SENDFILE ?
				  ev->events : KEVENT_NAIO_RECV,
				  NAIO_MAX_LEN, NAIO_MAX_LEN, 0, 2);
		return;
	}
	l = &loose[n];
	old = __atomic_exchange_n(&l->state, LS_DONE, __ATOMIC_ACQ_REL);
	if (old == LS_DONE || old == LS_REFUSED || old == LS_NONE ||
	    old == LS_INLINE) {
		INVARIANT(t, "NAIO request %#llx reported %s\n",
			  (unsigned long long)ev->id,
			  old == LS_DONE ? "twice" : old == LS_REFUSED ?
			  "though its ADD failed" : old == LS_INLINE ?
			  "though its ADD completed it (KEVENT_RET_COMPLETE)" :
			  "but never submitted");
		return;
	}
	/*
	 * The parent's requests are reported in the parent: never EXDEV,
	 * unless a forked child's report completed it and then failed to
	 * copy the event (a bad buffer, or an injected fault), which leaves
	 * the completion queued for the parent (kevent.rst: a report in
	 * another address space completes a request with EXDEV).
	 */
	if ((__s64)ev->data == -EXDEV) {
		if (fail_mode || __atomic_load_n(&forks_total, __ATOMIC_RELAXED))
			__atomic_add_fetch(&exdev_after_fork, 1, __ATOMIC_RELAXED);
		else
			INVARIANT(t, "NAIO request %#llx reported in its own process with EXDEV\n",
				  (unsigned long long)ev->id);
	}
	naio_check_result(t, ev, l->op, l->len, l->room, l->bad, l->stream);
}

/*
 * Fill @uk with a request for @cmd; returns its class name in @cls and
 * the outcomes it expects in *@expect (NULL: depends on state).
 */
static void gen_entry(struct tctx *t, unsigned int cmd, struct ukevent *uk,
		      char *cls, size_t clslen, const char **expect,
		      const char **known)
{
	struct rng *r = &t->r;
	unsigned int x = below(r, 100);
	const char *what = "valid";
	enum kind k = K_NKINDS;
	char idc[40] = "";
	int mutate;

	memset(uk, 0, sizeof(*uk));
	*expect = NULL;
	*known = NULL;
	if (x < 30)
		uk->type = KEVENT_TIMER;
	else if (x < 62)
		uk->type = KEVENT_POLL;
	else if (x < 88)
		uk->type = KEVENT_USER;
	else if (x < 92)
		uk->type = KEVENT_INODE;
	else if (x < 96)
		uk->type = (const __u32[]){ KEVENT_SIGNAL, KEVENT_PROC,
					    KEVENT_SOCKET }[below(r, 3)];
	else if (x < 98)
		uk->type = KEVENT_NAIO;
	else
		uk->type = (const __u32[]){ 0, 9, 10, 15, 16, 0xffffffffu }[below(r, 6)];

	if (uk->type == KEVENT_NAIO) {
		gen_naio_loose(t, cmd, uk, &what, expect, known);
		if (cmd == KEVENT_CTL_REMOVE && chance(r, 30)) {
			/* REMOVE takes the key only */
			switch (below(r, 4)) {
			case 0:
				uk->req_flags = 1u << below(r, 32);
				what = "NAIO: req_flags not 0";
				break;
			case 1:
				uk->data = 1 + below(r, 1000);
				what = "NAIO: data not 0";
				break;
			case 2:
				uk->__reserved[below(r, 4)] = 1u << below(r, 32);
				what = "NAIO: naio fields not 0";
				break;
			default:
				/* 0x4 is KEVENT_NAIO_SENDFILE since session 28 */
				uk->event = 8u << below(r, 29);
				what = "NAIO: event bits the type does not define";
				break;
			}
			*expect = "EINVAL";
		} else if (cmd == KEVENT_CTL_REMOVE) {
			what = "NAIO: any id";
		} else if (cmd != KEVENT_CTL_ADD) {
			what = "NAIO: a request runs once (any id)";
		}
		snprintf(cls, clslen, "%s %s", cmd_name[cmd], what);
		return;
	}

	/* the valid base request */
	if (uk->type == KEVENT_POLL || uk->type == KEVENT_SOCKET) {
		int fd = pick_fd(r, K_NKINDS, &k);

		uk->id = fd >= 0 ? (__u64)fd : 0;
		if (fd < 0)
			k = K_NKINDS;
		snprintf(idc, sizeof(idc), ", id: %s",
			 k < K_NKINDS ? kind_name[k] : "fd 0");
	} else if (uk->type == KEVENT_INODE) {
		/*
		 * A pool descriptor (mostly a file or directory; any file has
		 * an inode), an O_PATH one, a closed (maybe reused) number,
		 * or a number never opened
		 */
		unsigned int y = below(r, 10);
		int fd = -1;

		if (y < 3) {
			fd = pick_fd(r, K_DIR, NULL);
			k = K_DIR;
		} else if (y < 5) {
			fd = pick_fd(r, K_REGFILE, NULL);
			k = K_REGFILE;
		} else if (y < 6) {
			fd = pick_fd(r, K_NKINDS, &k);
		}
		if (y < 6 && fd >= 0) {
			snprintf(idc, sizeof(idc), "%s", kind_name[k]);
		} else if (y < 8) {
			pthread_mutex_lock(&pool_lock);
			fd = opath[below(r, ARRAY_SIZE(opath))];
			pthread_mutex_unlock(&pool_lock);
			snprintf(idc, sizeof(idc), "O_PATH");
		}
		if (fd < 0 && y < 9) {
			fd = closed_nums[below(r, ARRAY_SIZE(closed_nums))];
			snprintf(idc, sizeof(idc), "closed or reused number");
		} else if (fd < 0) {
			fd = 1 << 20;
			snprintf(idc, sizeof(idc), "never opened (2^20)");
		}
		uk->id = fd;
	} else if (uk->type == KEVENT_SIGNAL) {
		/* 0, every signal, and past the last one */
		uk->id = below(r, 70);
	} else if (uk->type == KEVENT_PROC) {
		/* a pidfd number (mostly not one), or a pid: ours, init's, none */
		if (chance(r, 50)) {
			uk->id = (__u64)pick_fd(r, K_NKINDS, &k);
			if ((__s64)uk->id < 0)
				uk->id = 0;
		} else {
			uk->proc.flags = KEVENT_PROC_PID;
			uk->id = (const __u64[]){ 0, 1, (__u64)getpid(),
						  0x3ffffff0 }[below(r, 4)];
		}
	} else {
		uk->id = pick_id(r);
	}
	uk->user_data = rnd(r);
	if (cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY) {
		__u32 f = (__u32)rnd(r) & REQ_KNOWN;

		if (uk->type == KEVENT_POLL)
			uk->event = ((__u32)rnd(r) & POLL_BITS) ?: EPOLLIN;
		else if (uk->type == KEVENT_INODE)
			uk->event = ((__u32)rnd(r) & INODE_BITS) ?:
				    KEVENT_INODE_CREATE;
		else if (uk->type == KEVENT_SOCKET)
			/* RECV, ACCEPT, SEND; sometimes none or undefined bits */
			uk->event = chance(r, 90) ? (((__u32)rnd(r) & 7) ?: 1)
						  : (__u32)rnd(r);
		else
			uk->event = 1;
		if (uk->type != KEVENT_POLL && uk->type != KEVENT_SOCKET)
			f &= ~(KEVENT_REQ_ET | KEVENT_REQ_FD_CLOSE);
		if ((f & KEVENT_REQ_ONESHOT) && (f & KEVENT_REQ_DISPATCH))
			f &= ~(chance(r, 50) ? KEVENT_REQ_ONESHOT : KEVENT_REQ_DISPATCH);
		if (cmd != KEVENT_CTL_ADD)
			f &= ~KEVENT_REQ_UPDATE;
		/* FD_CLOSE is fixed at ADD: MODIFY changing it is EINVAL */
		if (chance(r, 70))
			f &= ~KEVENT_REQ_FD_CLOSE;
		/* A socket's amounts in data: KEVENT_POLL only */
		if (uk->type == KEVENT_POLL && chance(r, 30))
			f |= KEVENT_REQ_AMOUNTS;
		uk->req_flags = f;
		if (uk->type == KEVENT_TIMER) {
			switch (below(r, 6)) {
			case 0:	/* tiny period */
				uk->data = 1000 + below(r, 10);
				break;
			case 1:	/* single expiry */
				uk->data = 0;
				uk->timer.start = 1 + below(r, 2000000);
				break;
			case 2:	/* far away */
				uk->data = 3600ULL * 1000000000ULL;
				break;
			default:
				uk->data = 1000 + below(r, 5000000);
				break;
			}
			uk->timer.clock = below(r, 3);
			if (chance(r, 20)) {
				struct timespec ts;
				static const clockid_t ck[] = {
					CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
				};

				clock_gettime(ck[uk->timer.clock], &ts);
				uk->timer.flags = KEVENT_TIMER_ABSTIME;
				uk->timer.start = ts.tv_sec * 1000000000ULL + ts.tv_nsec +
						  (chance(r, 50) ? 0 : below(r, 1000000));
				if (chance(r, 20))
					uk->timer.start = 1 + below(r, 1000); /* the past */
			} else if (chance(r, 30)) {
				uk->timer.start = 1 + below(r, 1000000);
			}
		}
	}

	mutate = chance(r, 45);
	if (uk->type == KEVENT_SOCKET) {
		/*
		 * What the fields decide is predicted (kevent_ctl(2): the
		 * checks of the fields come before the queue's); what the
		 * queue decides (EEXIST, ENOENT) is recorded only. A number
		 * that names no socket: ENOTSOCK, even where a stale kevent
		 * had it (the new file replaces it); a label is sure only
		 * with one thread.
		 */
		what = "any descriptor";
		mutate = 0;
		if (cmd == KEVENT_CTL_READY) {
			what = "READY (the type has no trigger)";
			*expect = "EINVAL";
		} else if ((cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY) &&
			   (!uk->event || (uk->event & ~SOCKET_BITS))) {
			what = "event: 0 or bits the type does not define";
			*expect = "EINVAL";
		} else if (cmd == KEVENT_CTL_ADD && t->single && k < K_NKINDS &&
			   k != K_SOCK && k != K_UDP) {
			what = "id not a socket";
			/* the per-user limit comes first (kevent_alloc()) */
			*expect = "ENOTSOCK,ENOSPC";
		}
	} else if (uk->type == KEVENT_SIGNAL || uk->type == KEVENT_PROC) {
		__u32 fl;
		int set;

		/* Outcomes the id decides beyond the checks below: recorded */
		what = uk->type == KEVENT_PROC && uk->proc.flags ?
		       "by pid" : "any id";
		if (cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY)
			uk->req_flags &= ~(KEVENT_REQ_ET | KEVENT_REQ_FD_CLOSE);
		else
			uk->proc.flags = 0;
		if (chance(r, 10))
			uk->signal.flags = (__u32)rnd(r);
		mutate = 0;
		/*
		 * The fields' checks (all before the queue's): READY has no
		 * trigger; signal.flags and proc.flags (one place) take bit
		 * 0 only, and only in ADD and MODIFY; no signal 0, SIGKILL,
		 * SIGSTOP or past _NSIG; no pid 0; a pid of no process
		 * (ESRCH, unless the per-user or queue limit came first).
		 */
		fl = uk->signal.flags;
		set = cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY;
		if (cmd == KEVENT_CTL_READY) {
			what = "READY (the type has no trigger)";
			*expect = "EINVAL";
		} else if (set ? (fl & ~1u) : fl) {
			what = set ? "flags the type does not define" :
				     "flags not 0 outside ADD and MODIFY";
			*expect = "EINVAL";
		} else if (uk->type == KEVENT_SIGNAL && set &&
			   (!uk->id || uk->id > 64 || uk->id == SIGKILL ||
			    uk->id == SIGSTOP)) {
			what = "signal 0, SIGKILL, SIGSTOP or past the last";
			*expect = "EINVAL";
		} else if (uk->type == KEVENT_PROC && set &&
			   (fl & KEVENT_PROC_PID) && !uk->id) {
			what = "pid 0";
			*expect = "EINVAL";
		} else if (uk->type == KEVENT_PROC && cmd == KEVENT_CTL_ADD &&
			   (fl & KEVENT_PROC_PID) && uk->id == 0x3ffffff0) {
			what = "pid of no process";
			*expect = "ESRCH,EAGAIN,ENOSPC";
		}
	} else if (new_type(uk->type)) {
		what = "any id";
		mutate = 0;
	} else if (uk->type != KEVENT_TIMER && uk->type != KEVENT_POLL &&
		   uk->type != KEVENT_USER && uk->type != KEVENT_INODE) {
		what = "unsupported type";
		*expect = "EOPNOTSUPP";
		mutate = 0;
	}
	if (mutate && (cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY)) {
		switch (below(r, 14)) {
		case 0:
			/* above KEVENT_REQ_KEEP, the last flag */
			uk->req_flags |= 0x400u << below(r, 22);
			what = "req_flags: unknown bit";
			*expect = "EINVAL";
			break;
		case 1:
			uk->req_flags |= KEVENT_REQ_ONESHOT | KEVENT_REQ_DISPATCH;
			what = "req_flags: ONESHOT|DISPATCH";
			*expect = "EINVAL";
			break;
		case 2:
			if (cmd == KEVENT_CTL_MODIFY) {
				uk->req_flags |= KEVENT_REQ_UPDATE;
				what = "req_flags: UPDATE with MODIFY";
				*expect = "EINVAL";
			} else {
				uk->req_flags &= ~KEVENT_REQ_UPDATE;
				uk->req_flags |= KEVENT_REQ_KEEP;
				what = "req_flags: KEEP without UPDATE";
				*expect = "EINVAL";
			}
			break;
		case 3:
			if (uk->type != KEVENT_POLL) {
				static const __u32 poll_only[] = {
					KEVENT_REQ_ET, KEVENT_REQ_FD_CLOSE,
					KEVENT_REQ_AMOUNTS,
					KEVENT_REQ_KEEP | KEVENT_REQ_UPDATE,
				};

				uk->req_flags |= poll_only[below(r, 4)];
				what = "req_flags: ET, FD_CLOSE, AMOUNTS or KEEP for a non-POLL type";
				*expect = "EINVAL";
			}
			break;
		case 4:
			uk->event = 0;
			what = "event: 0";
			*expect = "EINVAL";
			break;
		case 5:
			if (uk->type == KEVENT_POLL)
				uk->event |= 0x80000000u >> below(r, 2);
			else if (uk->type == KEVENT_INODE)
				uk->event |= (INODE_BITS + 1) << below(r, 23);
			else
				uk->event |= 2u << below(r, 30);
			if (uk->type == KEVENT_POLL && !(uk->event & ~POLL_BITS))
				uk->event |= 0x20000000u;
			what = "event: bits the type does not define";
			*expect = "EINVAL";
			break;
		case 6:
			if (uk->type == KEVENT_INODE) {
				uk->data = chance(r, 20) ? ~0ULL : 1 + below(r, 1000);
				what = "data: not 0";
				*expect = "EINVAL";
			} else if (uk->type != KEVENT_TIMER) {
				uk->data = 1 + below(r, 1000);
				what = "data: not 0 (POLL, USER)";
				*expect = "EINVAL";
			} else {
				uk->data = 1 + below(r, 999);
				what = "timer: period below 1 us";
				*expect = "EINVAL";
			}
			break;
		case 7:
			if (uk->type == KEVENT_TIMER) {
				uk->data = (1ULL << 63) + below(r, 5);
				what = "timer: period above 2^63-1";
			} else {
				uk->__reserved[below(r, 4)] = 1u << below(r, 32);
				what = "timer fields (__reserved) not 0 for a non-TIMER type";
			}
			*expect = "EINVAL";
			break;
		case 8:
			if (uk->type == KEVENT_TIMER) {
				uk->data = 0;
				uk->timer.start = 0;
				uk->timer.flags = 0;
				what = "timer: period 0 and start 0";
				*expect = "EINVAL";
			}
			break;
		case 9:
			if (uk->type == KEVENT_TIMER) {
				uk->timer.clock = 3 + below(r, 100);
				if (chance(r, 30))
					uk->timer.clock = 0xffffffffu;
				what = "timer: unknown clock";
				*expect = "EINVAL";
			}
			break;
		case 10:
			if (uk->type == KEVENT_TIMER) {
				uk->timer.flags |= 2u << below(r, 31);
				what = "timer: unknown flag";
				*expect = "EINVAL";
			}
			break;
		case 11:
			if (uk->type == KEVENT_TIMER) {
				uk->timer.flags = KEVENT_TIMER_ABSTIME;
				uk->timer.start = 0;
				if (!uk->data)
					uk->data = 1000000;
				what = "timer: ABSTIME with start 0";
				*expect = "EINVAL";
			} else if (uk->type == KEVENT_POLL ||
				   uk->type == KEVENT_INODE) {
				uk->id = (__u64)INT32_MAX + 1 + below(r, 1000);
				if (chance(r, 50))
					uk->id = ~0ULL;
				what = "id above INT_MAX";
				*expect = cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY ?
					  "EBADF" : NULL;
			}
			break;
		case 12:
			if (uk->type == KEVENT_TIMER) {
				uk->timer.start = (1ULL << 63) + below(r, 5);
				uk->timer.flags &= ~KEVENT_TIMER_ABSTIME;
				if (!uk->data)
					uk->data = 1000000;
				what = "timer: start above 2^63-1";
				*expect = "EINVAL";
			} else if (uk->type == KEVENT_POLL && cmd == KEVENT_CTL_ADD) {
				int fd = pick_fd(r, K_REGFILE, NULL);

				if (fd < 0)
					fd = pick_fd(r, K_DIR, NULL);
				if (fd >= 0) {
					uk->id = fd;
					what = "POLL: id is a regular file or directory";
					*expect = "EPERM";
				}
			}
			break;
		default:
			if (uk->type == KEVENT_POLL && cmd == KEVENT_CTL_ADD) {
				/* the queue's own descriptor: filled in by the caller */
				uk->id = ~0ULL - 1;
				what = "POLL: id is the queue itself";
				*expect = "EINVAL";
			}
			break;
		}
	} else if (mutate) {
		/* REMOVE, READY, ENABLE, DISABLE */
		switch (below(r, 5)) {
		case 0:
			uk->req_flags = 1u << below(r, 32);
			what = "req_flags: not 0";
			*expect = "EINVAL";
			break;
		case 1:
			uk->data = 1 + below(r, 1000);
			what = "data: not 0";
			*expect = "EINVAL";
			break;
		case 2:
			uk->__reserved[below(r, 4)] = 1u << below(r, 32);
			what = "timer fields (__reserved) not 0";
			*expect = "EINVAL";
			break;
		case 3:
			if (cmd == KEVENT_CTL_ENABLE || cmd == KEVENT_CTL_DISABLE) {
				uk->event = 1;
				what = "event: not 0";
			} else {
				uk->event = uk->type == KEVENT_POLL ? 0x20000000u :
					    uk->type == KEVENT_INODE ? INODE_BITS + 1 : 2;
				what = "event: bits the type does not define";
			}
			*expect = "EINVAL";
			break;
		default:
			break;
		}
	}
	if (!strcmp(what, "valid") && cmd == KEVENT_CTL_READY &&
	    uk->type != KEVENT_USER) {
		what = uk->type == KEVENT_INODE ? "READY of an INODE kevent" :
						  "READY of a TIMER or POLL kevent";
		*expect = "EINVAL";
	}
	/*
	 * A valid INODE ADD: EBADF for a number never opened (there is no
	 * kevent it could update); else it depends on the number's file
	 * now and on what the queue has (EEXIST, EACCES)
	 */
	if (uk->type == KEVENT_INODE && !strcmp(what, "valid") &&
	    cmd == KEVENT_CTL_ADD && uk->id == 1 << 20)
		*expect = "EBADF";
	if (uk->type == KEVENT_POLL && !strcmp(what, "valid") &&
	    cmd == KEVENT_CTL_ADD && k != K_NKINDS &&
	    (k == K_REGFILE || k == K_DIR)) {
		what = "POLL: id is a regular file or directory";
		/* the number may be reused by another thread meanwhile */
		*expect = t->single ? "EPERM" : NULL;
	}
	if (uk->type == KEVENT_INODE && !strcmp(what, "valid"))
		snprintf(cls, clslen, "%s INODE: valid, id: %s", cmd_name[cmd], idc);
	else
		snprintf(cls, clslen, "%s %s: %s%s", cmd_name[cmd],
			 type_name(uk->type), what,
			 strcmp(what, "valid") || uk->type != KEVENT_POLL ? "" : idc);
}

static void do_probe(struct tctx *t)
{
	struct rng *r = &t->r;
	unsigned int num, x = below(r, 6);
	enum ptrclass pc = chance(r, 80) ? P_VALID : pick_ptr(r);
	char *wr, cls[96];
	const char *exp;
	void *p;
	long ret;
	int fd = -1;

	switch (x) {
	case 0:
		num = below(r, 8);
		snprintf(cls, sizeof(cls), "PROBE: num below 8");
		exp = "EINVAL";
		break;
	case 1:
		num = PAGE + 1 + below(r, 100000);
		snprintf(cls, sizeof(cls), "PROBE: num above a page");
		exp = "E2BIG";
		break;
	case 2:
		fd = pick_fd(r, K_QUEUE, NULL);
		num = 64;
		snprintf(cls, sizeof(cls), "PROBE: fd not -1");
		exp = "EINVAL";
		break;
	default:
		num = 8 + below(r, PAGE - 8 + 1);
		if (chance(r, 50))
			num = 64;
		if (pc == P_VALID || pc == P_UNALIGNED) {
			snprintf(cls, sizeof(cls), "PROBE: num 8..4096");
			exp = "ok";
		} else {
			snprintf(cls, sizeof(cls), "PROBE: arg %s", ptr_name[pc]);
			/* straddle: the end of a 4096-byte probe is past the guard */
			exp = pc == P_RO || pc == P_NULL || pc == P_UNMAPPED ||
			      pc == P_KERNEL ? "EFAULT" : NULL;
		}
		break;
	}
	p = ptr_for(&t->m, pc, 64, 1, 0, &wr);
	if (pc == P_STRADDLE)
		p = t->m.edge + 2 * PAGE - 32;
	ret = k_ctl(fd, KEVENT_CTL_PROBE, num, p);
	record("kevent_ctl", cls, ret, exp);
	if (ret >= 0 && ret != 64)
		INVARIANT(t, "KEVENT_CTL_PROBE returned %ld\n", ret);
	if (ret == 64 && pc == P_VALID) {
		struct kevent_probe *pr = p;

		if (pr->magic != KEVENT_PROBE_MAGIC || pr->version != 2)
			INVARIANT(t, "probe magic %#x version %u\n", pr->magic, pr->version);
	}
}

static void do_ctl(struct tctx *t)
{
	struct rng *r = &t->r;
	struct ukevent req[8];
	char cls[8][112];
	const char *exp[8], *known[8];
	unsigned int cmd, num, i, x;
	enum ptrclass pc;
	struct fdarg fa;
	char *wr, callcls[96];
	const char *cexp = NULL;
	struct ukevent *arg;
	unsigned int split;
	long ret;

	if (chance(r, 4)) {
		do_probe(t);
		return;
	}
	pick_fdarg(r, &fa);
	x = below(r, 100);
	cmd = x < 96 ? below(r, 6) : KEVENT_CTL_PROBE + 1 + below(r, 3);
	if (x >= 99)
		cmd = 0x80000000u | (uint32_t)rnd(r);
	num = 1 + below(r, 8);
	if (chance(r, 3))
		num = 0;
	else if (chance(r, 3))
		num = chance(r, 50) ? MAX_BATCH + 1 : 0xffffffffu;
	pc = pick_ptr(r);

	for (i = 0; i < 8; i++) {
		gen_entry(t, cmd < KEVENT_CTL_PROBE ? cmd : 0, &req[i], cls[i],
			  sizeof(cls[i]), &exp[i], &known[i]);
		if (req[i].id == ~0ULL - 1 && req[i].type == KEVENT_POLL)
			req[i].id = fa.fd;
		if (fa.c != F_QUEUE)
			exp[i] = NULL;
	}
	split = below(r, 3);
	arg = ptr_for(&t->m, pc, sizeof(struct ukevent), num > 8 ? 8 : num,
		      split, &wr);
	if (wr) {
		size_t bytes = (num > 8 ? 8 : (num ? num : 1)) * sizeof(*req);

		if (pc == P_STRADDLE &&
		    bytes > (size_t)(t->m.edge + 2 * PAGE - wr))
			bytes = t->m.edge + 2 * PAGE - wr;
		memcpy(wr, req, bytes);
	}

	/* the call's class: what makes it fail as a whole, if anything */
	if (cmd > KEVENT_CTL_PROBE) {
		snprintf(callcls, sizeof(callcls), "cmd: unknown");
		cexp = "EINVAL";
	} else if (num > MAX_BATCH) {
		snprintf(callcls, sizeof(callcls), "num: above max_batch");
		cexp = "EINVAL";
	} else if (fa.c != F_QUEUE) {
		snprintf(callcls, sizeof(callcls), "%s", fa.name);
		cexp = fa.expect;
	} else if (num == 0) {
		snprintf(callcls, sizeof(callcls), "num: 0");
		cexp = "ok";
	} else {
		snprintf(callcls, sizeof(callcls), "%s: arg %s%s", cmd_name[cmd],
			 ptr_name[pc], pc != P_STRADDLE ? "" :
			 split ? " (a later entry cut)" : " (the first entry cut)");
		if (pc == P_NULL || pc == P_UNMAPPED || pc == P_KERNEL ||
		    (pc == P_STRADDLE && split == 0))
			cexp = "EFAULT";
		else
			cexp = "ok";
	}
	if (cmd == KEVENT_CTL_READY || cmd == KEVENT_CTL_ENABLE)
		wd_arm(t->wd, 500, 100);	/* nothing blocks here; a guard */
	ret = k_ctl(fa.fd, cmd, num, arg);
	wd_disarm(t->wd);
	if (ret == -EINTR && cexp && !strcmp(cexp, "ok"))
		cexp = NULL;
	record("kevent_ctl", callcls, ret, cexp);
	if (ret > (long)num)
		INVARIANT(t, "kevent_ctl returned %ld for %u entries\n", ret, num);
	/* the entries' own results, where we can read them back */
	if (ret > 0 && wr && pc != P_RO && cmd < KEVENT_CTL_PROBE) {
		struct ukevent *w = (struct ukevent *)wr;
		unsigned int n = ret > 8 ? 8 : ret;

		for (i = 0; i < n; i++) {
			long e;

			if (pc == P_STRADDLE &&
			    (char *)&w[i + 1] > t->m.edge + 2 * PAGE)
				break;
			if (!(w[i].ret_flags & KEVENT_RET_DONE)) {
				/* the write-back faulted (fault injection) */
				if (!fail_mode)
					INVARIANT(t, "entry %u of %ld processed without KEVENT_RET_DONE\n",
						  i, ret);
				continue;
			}
			e = w[i].ret_flags & KEVENT_RET_BROKEN ?
				    (long)(int32_t)w[i].ret_data[1] : 0;
			if (ret_flags_bad(&w[i]) || e > 0 ||
			    (e == 0 && (w[i].ret_flags & KEVENT_RET_BROKEN)) ||
			    ((w[i].ret_flags & KEVENT_RET_CREATED) && cmd != KEVENT_CTL_ADD))
				INVARIANT(t, "entry %u: ret_flags %#x ret_data[1] %ld\n",
					  i, w[i].ret_flags, e);
			record_known("kevent_ctl entry", cls[i], e,
				     e == -EINTR ? NULL : exp[i], known[i]);
			if (cmd == KEVENT_CTL_ADD && w[i].type == KEVENT_NAIO &&
			    w[i].event == KEVENT_NAIO_SENDFILE && !e)
				__atomic_add_fetch(&sf_loose_ok, 1, __ATOMIC_RELAXED);
			if (cmd == KEVENT_CTL_ADD)
				loose_result(t, &w[i], 1, e);
		}
	}
	/* NAIO ADDs whose result is not known: they may be reported */
	if (cmd == KEVENT_CTL_ADD)
		for (i = 0; i < num && i < 8; i++) {
			int back = ret > (long)i && wr && pc != P_RO &&
				   !(pc == P_STRADDLE &&
				     (char *)&((struct ukevent *)wr)[i + 1] > t->m.edge + 2 * PAGE) &&
				   (((struct ukevent *)wr)[i].ret_flags & KEVENT_RET_DONE);

			if (!back)
				loose_result(t, &req[i], 0, 0);
		}
}

/* ---- the wait calls ----------------------------------------------- */

/* The most change entries one generated wait carries */
#define CHG_MAX	8

/* Fills a struct kevent_wait_args (and what follows it) per a class. */
struct argsel {
	void *args;
	size_t size;
	const char *cls;
	const char *expect;	/* NULL: depends on state */
	int may_block;		/* watchdog needed */
	/* changes: the entries to check after the call, and how */
	struct ukevent *chg;	/* 0..chg_n entries, contiguous */
	unsigned int chg_n;
	int chg_untouched;	/* a bad batch: none may be applied */
	char chg_cls[CHG_MAX][112];
	const char *chg_exp[CHG_MAX], *chg_known[CHG_MAX];
};

/*
 * Valid batches of changes for a wait on queue @qfd: 1..3 batches of
 * 0..3 entries of every type but KEVENT_NAIO (whose requests the pool
 * does not account), at @batches and @entries.
 */
static unsigned int gen_changes(struct tctx *t, struct argsel *a, int qfd,
				struct kevent_ctl_batch *batches,
				struct ukevent *entries)
{
	struct rng *r = &t->r;
	unsigned int nb = 1 + below(r, 3), i, j, n = 0;

	for (i = 0; i < nb; i++) {
		unsigned int cmd = below(r, KEVENT_CTL_PROBE);
		unsigned int num = below(r, 4);

		if (n + num > CHG_MAX)
			num = CHG_MAX - n;
		batches[i].cmd = cmd;
		batches[i].num = num;
		batches[i].entries = PTR64(&entries[n]);
		for (j = 0; j < num; j++, n++) {
			do {
				gen_entry(t, cmd, &entries[n], a->chg_cls[n],
					  sizeof(a->chg_cls[n]), &a->chg_exp[n],
					  &a->chg_known[n]);
			} while (entries[n].type == KEVENT_NAIO);
			if (entries[n].id == ~0ULL - 1 &&
			    entries[n].type == KEVENT_POLL)
				entries[n].id = qfd;
		}
	}
	a->chg = entries;
	a->chg_n = n;
	return nb;
}

static void gen_args(struct tctx *t, struct argsel *a, unsigned int max_nr,
		     unsigned int *min_nr_out, int qfd)
{
	struct rng *r = &t->r;
	char *b = t->m.buf + 4 * PAGE;	/* args live in the second half */
	struct kevent_wait_args *w = (struct kevent_wait_args *)b;
	/* the changes, after the largest args a class writes (a page) */
	struct kevent_ctl_batch *chg = (struct kevent_ctl_batch *)(b + PAGE);
	struct ukevent *ent = (struct ukevent *)(b + PAGE + 256);
	static __thread uint64_t sigmask;
	unsigned int x = below(r, 100);

	memset(b, 0, 2 * PAGE);
	a->chg = NULL;
	a->chg_n = 0;
	a->chg_untouched = 0;
	w->timeout_ns = chance(r, 70) ? 0 : 1000 + below(r, 2000000);
	w->clock = below(r, 3);
	w->min_nr = below(r, 2) ? 0 : 1 + below(r, max_nr);
	a->args = w;
	a->size = sizeof(*w);
	a->cls = "args: valid";
	a->expect = NULL;
	a->may_block = 0;
	if (x < 55)
		goto out;
	switch (below(r, 28)) {
	case 0:
		a->args = NULL;
		a->size = 0;
		a->cls = "args: NULL (wait forever)";
		a->may_block = 1;
		break;
	case 1:
		a->args = NULL;
		a->size = 1 + below(r, 64);
		a->cls = "args: NULL with args_size not 0";
		a->expect = "EINVAL";
		break;
	case 2:
		a->size = below(r, KEVENT_WAIT_ARGS_SIZE_VER0);
		a->cls = "args_size: below 32";
		a->expect = "EINVAL";
		break;
	case 3:
		a->size = KEVENT_WAIT_ARGS_SIZE_VER0 + 1 + below(r, PAGE - 32);
		a->cls = "args_size: 33..4096, zero tail";
		break;
	case 4:
		a->size = KEVENT_WAIT_ARGS_SIZE_VER1 + 1 + below(r, PAGE - 48);
		b[a->size - 1 - below(r, a->size - 48)] = 1;
		a->cls = "args_size: 49..4096, non-zero tail";
		a->expect = "E2BIG";
		break;
	case 5:
		a->size = PAGE + 1 + below(r, 1 << 20);
		if (chance(r, 20))
			a->size = ~(size_t)0;
		a->cls = "args_size: above a page";
		a->expect = "E2BIG";
		break;
	case 6:
		a->args = t->m.hole;
		a->cls = "args: no access (PROT_NONE)";
		a->expect = "EFAULT";
		break;
	case 7:
		a->args = t->m.edge + 2 * PAGE - 16;
		memset(a->args, 0, 16);
		a->cls = "args: straddling PROT_NONE";
		a->expect = "EFAULT";
		break;
	case 8:
		w->clock = 3 + below(r, 1000);
		a->cls = "args: unknown clock";
		a->expect = "EINVAL";
		break;
	case 9:
		w->flags = 2u << below(r, 31);
		a->cls = "args: unknown flag";
		a->expect = "EINVAL";
		break;
	case 10:
		w->sigmask = PTR64(&sigmask);
		w->sigmask_size = chance(r, 50) ? 4 : 16 + below(r, 100);
		a->cls = "args: sigmask with sigmask_size not 8";
		a->expect = "EINVAL";
		break;
	case 11:
		w->sigmask_size = 8;
		a->cls = "args: sigmask 0 with sigmask_size not 0";
		a->expect = "EINVAL";
		break;
	case 12:
		sigmask = 0;
		w->sigmask = PTR64(&sigmask);
		w->sigmask_size = 8;
		a->cls = "args: valid sigmask";
		break;
	case 13:
		w->sigmask = PTR64(t->m.hole);
		w->sigmask_size = 8;
		a->cls = "args: sigmask with no access (PROT_NONE)";
		a->expect = "EFAULT";
		break;
	case 14:
		w->min_nr = max_nr + 1 + below(r, 10);
		a->cls = "args: min_nr above max_nr";
		a->expect = "EINVAL";
		break;
	case 15:
		w->timeout_ns = KEVENT_TIMEOUT_INFINITE;
		a->cls = "args: infinite timeout";
		a->may_block = 1;
		break;
	case 16:
		w->changes = PTR64(chg);
		a->cls = "args: changes without nr_changes";
		a->expect = "EINVAL";
		break;
	case 17:
		w->nr_changes = 1 + below(r, 4);
		a->cls = "args: nr_changes without changes";
		a->expect = "EINVAL";
		break;
	case 18:
		w->changes = PTR64(chg);
		w->nr_changes = 1;
		w->__reserved = 1u << below(r, 32);
		a->cls = "args: __reserved not 0";
		a->expect = "EINVAL";
		break;
	case 19:
		w->changes = PTR64(chg);
		w->nr_changes = chance(r, 50) ? MAX_CHANGES + 1 + below(r, 100) : ~0u;
		a->cls = "args: nr_changes above max_changes";
		a->expect = "EINVAL";
		break;
	case 20:
		w->changes = PTR64(t->m.hole);
		w->nr_changes = 1 + below(r, 3);
		a->cls = "args: changes with no access (PROT_NONE)";
		a->expect = "EFAULT";
		break;
	case 21: {
		/* a good batch, then a bad one: neither applied */
		unsigned int nb = gen_changes(t, a, qfd, chg, ent);

		chg[nb].entries = PTR64(ent);
		chg[nb].num = 1;
		switch (below(r, 3)) {
		case 0:
			chg[nb].cmd = KEVENT_CTL_PROBE;
			break;
		case 1:
			chg[nb].cmd = KEVENT_CTL_PROBE + 1 + below(r, 100);
			break;
		default:
			/* the entries of all the batches above max_batch */
			chg[nb].cmd = below(r, KEVENT_CTL_PROBE);
			chg[nb].num = chance(r, 20) ? ~0u :
				      MAX_BATCH - a->chg_n + 1 + below(r, 3);
			break;
		}
		w->changes = PTR64(chg);
		w->nr_changes = nb + 1;
		a->chg_untouched = 1;
		a->cls = "args: changes with a bad cmd or num after good ones";
		a->expect = "EINVAL";
		break;
	}
	case 22:
		chg[0].cmd = below(r, KEVENT_CTL_PROBE);
		chg[0].num = 1 + below(r, 3);
		chg[0].entries = PTR64(t->m.hole);
		w->changes = PTR64(chg);
		w->nr_changes = 1;
		a->cls = "args: change entries with no access (PROT_NONE)";
		a->expect = "EFAULT";
		break;
	case 23:
	case 24:
	case 25:
		w->changes = PTR64(chg);
		w->nr_changes = gen_changes(t, a, qfd, chg, ent);
		a->cls = "args: valid changes";
		break;
	default: {
		struct timespec ts;
		static const clockid_t ck[] = { CLOCK_MONOTONIC, CLOCK_REALTIME,
						CLOCK_BOOTTIME };

		clock_gettime(ck[w->clock], &ts);
		w->flags = KEVENT_WAIT_ABSTIME;
		w->timeout_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec +
				(chance(r, 50) ? 0 : below(r, 2000000));
		if (chance(r, 30))
			w->timeout_ns = below(r, 1000);	/* long past */
		a->cls = "args: absolute timeout";
		break;
	}
	}
out:
	*min_nr_out = w->min_nr;
	if (w->min_nr > 1 && w->timeout_ns)
		a->may_block = 1;
}

/*
 * The entries of a wait's changes after the call @ret: each applied one
 * has its result as kevent_ctl() would give it; a call that reported
 * events had no failed entry; a bad batch applied nothing.
 */
static void check_changes(struct tctx *t, const struct argsel *a,
			  const char *call, long ret)
{
	unsigned int i, broken = 0;

	for (i = 0; i < a->chg_n; i++) {
		const struct ukevent *w = &a->chg[i];
		long e;

		if (!(w->ret_flags & KEVENT_RET_DONE)) {
			/* not applied: fine unless the call went on to wait */
			if (ret >= 0 && !fail_mode)
				INVARIANT(t, "%s: change entry %u not applied, call returned %ld\n",
					  call, i, ret);
			continue;
		}
		if (a->chg_untouched) {
			INVARIANT(t, "%s: change entry %u applied though a batch was bad (%ld)\n",
				  call, i, ret);
			continue;
		}
		e = w->ret_flags & KEVENT_RET_BROKEN ?
			    (long)(int32_t)w->ret_data[1] : 0;
		if (ret_flags_bad(w) || e > 0 ||
		    (e == 0 && (w->ret_flags & KEVENT_RET_BROKEN)))
			INVARIANT(t, "%s: change entry %u: ret_flags %#x ret_data[1] %ld\n",
				  call, i, w->ret_flags, e);
		if (e)
			broken++;
		record_known("wait change entry", a->chg_cls[i], e,
			     e == -EINTR ? NULL : a->chg_exp[i], a->chg_known[i]);
	}
	if (broken && ret > 0)
		INVARIANT(t, "%s: %u change entries failed, yet %ld events reported\n",
			  call, broken, ret);
}

static void check_events(struct tctx *t, struct kevent_event *ev, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		__u32 type = ev[i].type;
		/* counted types report a count; a process exit, a status;
		 * an inode its changes and how many */
		int counted = type == KEVENT_TIMER || type == KEVENT_USER ||
			       type == KEVENT_SIGNAL || type == KEVENT_INODE;
		/* the event bits each type may report */
		__u32 bits = type == KEVENT_POLL ? ~0u :
			     type == KEVENT_SOCKET ? 0x7 :
			     type == KEVENT_INODE ? INODE_BITS : 1;

		if (type == KEVENT_NAIO) {
			naio_check_loose(t, &ev[i]);
			continue;
		}
		if (new_type(type)) {
			if (!ev[i].events)
				INVARIANT(t, "event type %u (new) without bits\n", type);
			continue;
		}
		if ((!counted && type != KEVENT_POLL && type != KEVENT_PROC &&
		     type != KEVENT_SOCKET) ||
		    !ev[i].events || (ev[i].events & ~bits) ||
		    /* an inode kevent's EOF is its deletion or unmount */
		    (type == KEVENT_INODE && (ev[i].flags & KEVENT_EV_EOF) &&
		     !(ev[i].events & INODE_FINAL)) ||
		    (counted && !ev[i].data) ||
		    (type == KEVENT_SIGNAL && (ev[i].id < 1 || ev[i].id > 64)) ||
		    (type == KEVENT_PROC &&
		     !(ev[i].flags & KEVENT_EV_EOF))) {
			INVARIANT(t, "event type %u events %#x data %llu id %llu\n",
				  ev[i].type, ev[i].events,
				  (unsigned long long)ev[i].data,
				  (unsigned long long)ev[i].id);
		}
	}
}

static void do_get(struct tctx *t)
{
	struct rng *r = &t->r;
	unsigned int max_nr, min_nr, x = below(r, 100);
	struct fdarg fa;
	struct argsel a;
	enum ptrclass pc = pick_ptr(r);
	char *wr, cls[128];
	const char *exp;
	void *ev;
	long ret;

	pick_fdarg(r, &fa);
	max_nr = 1 + below(r, 64);
	gen_args(t, &a, max_nr, &min_nr, fa.fd);
	if (x < 3)
		max_nr = 0;
	else if (x < 6)
		max_nr = chance(r, 50) ? MAX_BATCH + 1 : 0xffffffffu;
	ev = ptr_for(&t->m, pc, sizeof(struct kevent_event), max_nr > 64 ? 64 : max_nr,
		     below(r, 3), &wr);
	if (pc == P_STRADDLE) {
		/* the array runs into the guard page after 0..2 entries */
		ev = t->m.edge + 2 * PAGE - below(r, 3) * 32 - 16;
	}

	if (max_nr == 0 || max_nr > MAX_BATCH) {
		snprintf(cls, sizeof(cls), "max_nr: %s", max_nr ? "above max_batch" : "0");
		exp = "EINVAL";
	} else if (pc == P_KERNEL) {
		snprintf(cls, sizeof(cls), "events: kernel address");
		exp = "EFAULT";
	} else if (fa.c != F_QUEUE) {
		snprintf(cls, sizeof(cls), "%s", fa.name);
		exp = fa.expect;
	} else if (a.expect) {
		/* the arguments are read before any event is written */
		snprintf(cls, sizeof(cls), "%s", a.cls);
		exp = a.expect;
	} else if (pc != P_VALID && pc != P_UNALIGNED) {
		/* faults only if an event is ready */
		snprintf(cls, sizeof(cls), "events: %s", ptr_name[pc]);
		exp = "ok,EFAULT,EINTR";
	} else {
		snprintf(cls, sizeof(cls), "%s", a.cls);
		exp = a.expect;
		if (!exp)
			exp = "ok,EINTR";
	}
	if (exp && !strcmp(exp, "EFAULT") && pc == P_KERNEL && max_nr == 0)
		exp = "EINVAL";
	blk_phase = a.may_block;
	wd_arm(t->wd, a.may_block ? 30 : 1000, 100);
	blk_phase = a.may_block ? 2 : 0;
	ret = k_get(fa.fd, ev, max_nr, a.args, a.size);
	blk_phase = 0;
	wd_disarm(t->wd);
	record("kevent_get_events", cls, ret, exp);
	if (ret > (long)max_nr)
		INVARIANT(t, "kevent_get_events returned %ld for max_nr %u\n", ret, max_nr);
	check_changes(t, &a, "kevent_get_events", ret);
	if (ret > 0 && (pc == P_VALID || pc == P_UNALIGNED))
		check_events(t, ev, ret);
	(void)min_nr;
}

static void do_read(struct tctx *t)
{
	struct rng *r = &t->r;
	int fd = pick_fd(r, K_QUEUE, NULL);
	size_t len;
	const char *cls, *exp;
	void *buf = t->m.buf;
	long ret;

	if (fd < 0)
		return;
	switch (below(r, 5)) {
	case 0:
		len = below(r, 2) ? 0 : 1 + below(r, 31);
		cls = "read: length below 32";
		exp = "EINVAL";
		break;
	case 1:
		len = 32 * (1 + below(r, 8)) + 1 + below(r, 31);
		cls = "read: length not a multiple of 32";
		exp = "EINVAL";
		break;
	case 2:
		buf = KADDR;
		len = 64;
		cls = "read: buffer at a kernel address";
		exp = "EFAULT";
		break;
	default:
		len = 32 * (1 + below(r, 32));
		cls = "read: valid";
		exp = "ok,EAGAIN,EINTR";
		break;
	}
	blk_phase = 1;
	wd_arm(t->wd, 30, 100);
	blk_phase = 2;
	ret = read(fd, buf, len);
	ret = ret < 0 ? -errno : ret;
	blk_phase = 0;
	wd_disarm(t->wd);
	record("read", cls, ret, exp);
	/*
	 * With several threads, another one may have closed the number and
	 * reused it for a pipe between the pick and the read: check the
	 * records only where nothing else changes the descriptors.
	 */
	if (ret > 0 && buf == t->m.buf && t->single) {
		if (ret % 32)
			INVARIANT(t, "read() of a queue returned %ld bytes\n", ret);
		else
			check_events(t, buf, ret / 32);
	}
}

static void do_ring_init(struct tctx *t)
{
	struct rng *r = &t->r;
	unsigned int num = 1u << below(r, 9), flags = 0;
	struct fdarg fa;
	char cls[96];
	const char *exp = NULL;
	char *ring;
	long ret;

	pick_fdarg(r, &fa);
	/* 8-aligned, fitting in the arena (64 + 32 * num <= 16 pages) */
	ring = arena + below(r, (ARENA_PAGES * PAGE - 64 - 32 * num) / 8 + 1) * 8;
	switch (below(r, 11)) {
	case 0:
		/* a bit beside KEVENT_RING_AT_EVENT, maybe with it */
		flags = 1u << (1 + below(r, 31)) | (chance(r, 50) ? KEVENT_RING_AT_EVENT : 0);
		snprintf(cls, sizeof(cls), "flags: unknown bits");
		exp = "EINVAL";
		break;
	case 10:
		/* pinned: a protected or remapped arena page fails it */
		flags = KEVENT_RING_AT_EVENT;
		snprintf(cls, sizeof(cls), "KEVENT_RING_AT_EVENT in the arena");
		break;
	case 1:
		num = 3 + 2 * below(r, 1000);
		snprintf(cls, sizeof(cls), "num: not a power of two");
		exp = "EINVAL";
		break;
	case 2:
		num = RING_MAX << (1 + below(r, 11));
		snprintf(cls, sizeof(cls), "num: above ring_max_entries");
		exp = "EINVAL";
		break;
	case 3:
		ring += 1 + below(r, 7);
		snprintf(cls, sizeof(cls), "ring: not aligned to 8");
		exp = "EINVAL";
		break;
	case 4:
		/* A detach is (NULL, 0, 0); either half alone is refused. */
		switch (below(r, 3)) {
		case 0:
			ring = NULL;
			num = 0;
			snprintf(cls, sizeof(cls), "ring NULL and num 0 (detach)");
			exp = "ok";
			break;
		case 1:
			ring = NULL;
			snprintf(cls, sizeof(cls), "ring NULL with a num (half a detach)");
			exp = "EINVAL";
			break;
		default:
			num = 0;
			snprintf(cls, sizeof(cls), "num 0 with a ring (half a detach)");
			exp = "EINVAL";
			break;
		}
		break;
	case 5:
		/* runs into the guard page after the arena */
		ring = arena + ARENA_PAGES * PAGE - 64 - 32 * num + 32 * (1 + below(r, 4));
		snprintf(cls, sizeof(cls), "ring: straddling PROT_NONE");
		exp = "EFAULT";
		break;
	case 6:
		ring = chance(r, 50) ? (char *)t->m.ro : (char *)KADDR;
		num = 1 + (ring == (char *)t->m.ro ? 0 : 1);
		snprintf(cls, sizeof(cls), "ring: read-only or kernel address");
		exp = "EFAULT";
		break;
	default:
		snprintf(cls, sizeof(cls), "ring: in the arena (maybe protected)");
		break;
	}
	/* Checked before the descriptor: flags, and a ring with its num */
	if (fa.c != F_QUEUE && !(flags & ~KEVENT_RING_AT_EVENT) &&
	    !(flags && !ring) && !ring == !num) {
		snprintf(cls, sizeof(cls), "%s", fa.name);
		exp = fa.expect;
	} else if (exp && !strcmp(exp, "EFAULT")) {
		exp = "EFAULT,EBUSY";
	}
	ret = k_ring_init(fa.fd, ring, num, flags);
	record("kevent_ring_init", cls, ret, exp);
}

static void do_wait(struct tctx *t)
{
	struct rng *r = &t->r;
	unsigned int num = 1 + below(r, 64), min_nr;
	struct fdarg fa;
	struct argsel a;
	char cls[128];
	const char *exp;
	long ret;

	pick_fdarg(r, &fa);
	gen_args(t, &a, num, &min_nr, fa.fd);
	if (chance(r, 5)) {
		num = chance(r, 50) ? 0 : RING_MAX + 1 + below(r, 100);
		snprintf(cls, sizeof(cls), "num: %s", num ? "above ring_max_entries" : "0");
		exp = "EINVAL";
	} else if (fa.c != F_QUEUE) {
		snprintf(cls, sizeof(cls), "%s", fa.name);
		exp = fa.expect;
	} else {
		/* the ring's state decides first: ENXIO, EPERM, ENOSPC, ... */
		snprintf(cls, sizeof(cls), "%s", a.cls);
		exp = NULL;
	}
	blk_phase = a.may_block;
	wd_arm(t->wd, a.may_block ? 30 : 1000, 100);
	blk_phase = a.may_block ? 2 : 0;
	ret = k_wait(fa.fd, num, a.args, a.size);
	blk_phase = 0;
	wd_disarm(t->wd);
	record("kevent_wait", cls, ret, exp);
	if (ret > (long)num)
		INVARIANT(t, "kevent_wait returned %ld for num %u\n", ret, num);
	check_changes(t, &a, "kevent_wait", ret);
}

/* ---- the NAIO engine: private queues, exact accounting ------------ */

/*
 * A few queues and connections of its own (unix stream, datagram and
 * seqpacket pairs, loopback TCP and UDP), at descriptor numbers far above
 * the pool's, which no other call of the fuzzer picks, reuses or closes;
 * only the engine reports these queues, under its lock. So every request
 * an ADD accepted is in the table until its one event (never two, never
 * lost, on its own queue, with its operation and user_data), and the
 * result is what the request allows: no byte moved for a buffer without
 * access, -EFAULT for a kernel address, -ECANCELED only after a REMOVE
 * that returned 0 or a close of its descriptor, no short stream send or
 * MSG_WAITALL receive on a connection nothing broke, end of file only
 * after a close or shutdown. Closing a queue drops its requests. At the
 * end every socket is closed, the queues are drained and no request may
 * be left.
 */
#define NE_FD_BASE	3000	/* private numbers: the pool's stay far below */
#define NE_BADFD	4000	/* never open: the engine's numbers stay below */
#define NQ		3
#define NCONN		8
#define NREQ		1024
#define PRIV_TAG	0x4e50000000000000ULL	/* "NP" */

enum ckind { C_USTREAM, C_UDGRAM, C_USEQ, C_TCP, C_UDP, C_NKINDS };

static const char *const ckind_name[C_NKINDS] = {
	"unix stream", "unix datagram", "unix seqpacket", "tcp", "udp",
};

struct nconn {
	int fd[2];	/* -1: closed */
	enum ckind kind;
	int shut;	/* shut down or an end closed: no more promises */
	unsigned int gen;
};

/*
 * A sendfile with an in_fd of its own (a file description nobody else
 * holds), changed after its ADD while it may still be in flight: closed
 * (the request must hold the file: the same bytes come), set O_DIRECT and
 * closed (the bytes, or -EOPNOTSUPP as kevent_ctl(2) says), or truncated
 * and closed (at most the bytes it had; the end may come early).
 */
enum sflate { SFL_NONE, SFL_CLOSE, SFL_DIRECT, SFL_TRUNC, SFL_N };

static const char *const sflate_name[SFL_N] = {
	"", ", own in_fd closed after the ADD",
	", own in_fd made O_DIRECT after the ADD",
	", own in_fd truncated after the ADD",
};

struct preq {
	__u64 id, ud;
	int used;
	int q;
	unsigned int qgen;
	int conn, end;
	enum ckind kind;
	unsigned int cgen;
	__u32 op, len, flags, room;
	int bad;
	enum nptr pc;
	int removed;	/* a REMOVE returned 0: it was in flight then */
	int closed;	/* its descriptor was closed: cancelled unless done */
	int broken;	/* its connection was shut down or an end closed */
	int uncertain;	/* --fail: the ADD's result was not written back */
	/* KEVENT_NAIO_SENDFILE: its file, the result and EOF nothing cut short gives */
	enum sfk src;
	long sf_bytes;
	int sf_eof;
	const char *sf_cls;
	enum sflate sf_late;	/* what happened to its own in_fd after the ADD */
};

static struct naio_engine {
	pthread_mutex_t lock;
	int ready;
	int q[NQ];
	unsigned int qgen[NQ];
	struct nconn c[NCONN];
	struct preq r[NREQ];
	__u64 seq;
	int listener;
	struct sockaddr_in laddr;
	int notsock;
	unsigned long accepted, completed, dropped, cancelled, efault, eof;
	unsigned long bytes, short_ok, remove0, ealready, eagain_tests;
	unsigned long exdev_tests, lost_fail, seqpacket_eof_noflag;
	unsigned long sf_accepted, sf_completed, sf_bytes, sf_eof, sf_exact;
	unsigned long sf_late[SFL_N], sf_late_done[SFL_N], sf_direct_refused;
	unsigned long sf_late_tests[SFL_N];
} ne = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int in_list(const char *list, long r)
{
	char buf[96], *tok, *save;
	const char *o = errname(r);

	if (!list || !*list)
		return 1;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, o))
			return 1;
	return 0;
}

/*
 * The engine's expectations hold with any number of threads (its state is
 * its own): recorded, and outside them a broken invariant.
 */
static void ne_expect(struct tctx *t, const char *call, const char *cls, long r,
		      const char *expect)
{
	record(call, cls, r, expect);
	if (!rec_enforce && !in_list(expect, r) &&
	    !(fail_mode && (r == -ENOMEM || r == -EFAULT)))
		INVARIANT(t, "NAIO engine: %s [%s] -> %s (expected %s)\n", call, cls,
			  errname(r), expect);
}

/* The same, where the kernel is known to give @known instead (record_known()) */
static void ne_expect_known(struct tctx *t, const char *call, const char *cls, long r,
			    const char *expect, const char *known)
{
	record_known(call, cls, r, expect, known);
	if (!rec_enforce && !in_list(expect, r) && !(known && in_list(known, r)) &&
	    !(fail_mode && (r == -ENOMEM || r == -EFAULT)))
		INVARIANT(t, "NAIO engine: %s [%s] -> %s (expected %s)\n", call, cls,
			  errname(r), expect);
}

static int ne_fd(int fd)
{
	int n;

	if (fd < 0)
		return -1;
	n = fcntl(fd, F_DUPFD_CLOEXEC, NE_FD_BASE);
	close(fd);
	if (n >= NE_BADFD) {
		close(n);
		return -1;
	}
	return n;
}

/*
 * A unix stream pair for a test of the engine, at the engine's numbers:
 * other threads act on low numbers they picked before (a stale pool
 * label), and a byte they wrote or read there would break the test's
 * exact counts. 0, or -1 with nothing open.
 */
static int ne_socketpair(int s[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s))
		return -1;
	s[0] = ne_fd(s[0]);
	s[1] = ne_fd(s[1]);
	if (s[0] >= 0 && s[1] >= 0)
		return 0;
	if (s[0] >= 0)
		close(s[0]);
	if (s[1] >= 0)
		close(s[1]);
	return -1;
}

/*
 * Fill the unix stream socket @fd up with 'f' bytes until it takes no
 * more, even one byte: an ADD on it then moves nothing. The bytes queued.
 */
static long ne_fill(int fd)
{
	char fill[4096];
	long filler = 0;
	ssize_t m;

	memset(fill, 'f', sizeof(fill));
	while ((m = send(fd, fill, sizeof(fill), MSG_DONTWAIT)) > 0)
		filler += m;
	while ((m = send(fd, fill, 1, MSG_DONTWAIT)) > 0)
		filler += m;
	return filler;
}

/*
 * Read what the peer @fd has now, after *@got bytes before: the first
 * @filler bytes of the stream are ne_fill()'s, the rest must be the
 * sendfile source's from offset 0 (sf_byte()). Returns how many are not.
 */
static long sf_read_checked(int fd, long filler, long *got)
{
	char buf[4096];
	long bad = 0, j;
	ssize_t m;

	while ((m = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (j = filler - *got > 0 ? filler - *got : 0; j < m; j++)
			if ((unsigned char)buf[j] != sf_byte(*got + j - filler))
				bad++;
		*got += m;
	}
	return bad;
}

static void ne_setup(void)
{
	socklen_t sl = sizeof(ne.laddr);
	int i, one = 1;

	for (i = 0; i < NQ; i++)
		ne.q[i] = -1;
	for (i = 0; i < NCONN; i++)
		ne.c[i].fd[0] = ne.c[i].fd[1] = -1;
	memset(ne.r, 0, sizeof(ne.r));
	ne.laddr.sin_family = AF_INET;
	ne.laddr.sin_addr.s_addr = htonl(0x7f000001);
	ne.laddr.sin_port = 0;
	ne.listener = ne_fd(socket(AF_INET, SOCK_STREAM, 0));
	if (ne.listener >= 0) {
		setsockopt(ne.listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(ne.listener, (void *)&ne.laddr, sizeof(ne.laddr)) ||
		    listen(ne.listener, 16) ||
		    getsockname(ne.listener, (void *)&ne.laddr, &sl)) {
			close(ne.listener);
			ne.listener = -1;
		}
	}
	ne.notsock = ne_fd(eventfd(0, EFD_NONBLOCK));
	if (ne.notsock < 0)
		fprintf(stderr, "kevent-fuzz: NAIO engine: no eventfd for the not-a-socket entries (%s): the queues stand in\n",
			strerror(errno));
	ne.ready = 1;
}

static void ne_conn_open(struct rng *r, int i)
{
	struct nconn *c = &ne.c[i];
	int fds[2] = { -1, -1 }, k = below(r, C_NKINDS);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t sl = sizeof(a);

	switch (k) {
	case C_USTREAM:
	case C_UDGRAM:
	case C_USEQ:
		if (socketpair(AF_UNIX, (k == C_USTREAM ? SOCK_STREAM :
					 k == C_UDGRAM ? SOCK_DGRAM : SOCK_SEQPACKET) |
				       SOCK_NONBLOCK, 0, fds))
			return;
		break;
	case C_TCP:
		if (ne.listener < 0)
			return;
		fds[0] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[0] < 0)
			return;
		/* loopback: the connection is queued at once */
		if (connect(fds[0], (void *)&ne.laddr, sizeof(ne.laddr)) ||
		    (fds[1] = accept4(ne.listener, NULL, NULL, SOCK_NONBLOCK)) < 0) {
			close(fds[0]);
			return;
		}
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		break;
	default:
		fds[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		fds[1] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fds[0] < 0 || fds[1] < 0 ||
		    bind(fds[0], (void *)&a, sizeof(a)) ||
		    bind(fds[1], (void *)&a, sizeof(a))) {
			close(fds[0]);
			close(fds[1]);
			return;
		}
		{
			struct sockaddr_in a0, a1;

			sl = sizeof(a0);
			getsockname(fds[0], (void *)&a0, &sl);
			sl = sizeof(a1);
			getsockname(fds[1], (void *)&a1, &sl);
			if (connect(fds[0], (void *)&a1, sizeof(a1)) ||
			    connect(fds[1], (void *)&a0, sizeof(a0))) {
				close(fds[0]);
				close(fds[1]);
				return;
			}
		}
		break;
	}
	c->fd[0] = ne_fd(fds[0]);
	c->fd[1] = ne_fd(fds[1]);
	c->kind = k;
	c->shut = 0;
	c->gen++;
	if (c->fd[0] < 0 || c->fd[1] < 0) {
		close(c->fd[0]);
		close(c->fd[1]);
		c->fd[0] = c->fd[1] = -1;
	}
}

/* Requests of connection @i, end @end (or -1: both) lose their promises */
static void ne_mark(int i, int end, int closing)
{
	int j;

	for (j = 0; j < NREQ; j++) {
		struct preq *p = &ne.r[j];

		if (!p->used || p->conn != i || p->cgen != ne.c[i].gen)
			continue;
		p->broken = 1;
		if (closing && (end < 0 || p->end == end))
			p->closed = 1;
	}
	ne.c[i].shut = 1;
}

/* Close an end (or both), or dup2() over it: its requests are cancelled */
static void ne_conn_close(struct rng *r, int i, int end)
{
	struct nconn *c = &ne.c[i];
	int e;

	ne_mark(i, end, 1);
	for (e = 0; e < 2; e++) {
		if ((end >= 0 && e != end) || c->fd[e] < 0)
			continue;
		if (r && chance(r, 30) && ne.notsock >= 0)
			dup2(ne.notsock, c->fd[e]);	/* the number now names another file */
		close(c->fd[e]);
		c->fd[e] = -1;
	}
}

static void ne_q_open(int i)
{
	ne.q[i] = ne_fd(k_create(KEVENT_NONBLOCK | KEVENT_CLOEXEC));
	ne.qgen[i]++;
}

/* Closing a queue drops its requests: no event can come any more */
static void ne_q_close(int i)
{
	int j;

	if (ne.q[i] < 0)
		return;
	for (j = 0; j < NREQ; j++)
		if (ne.r[j].used && ne.r[j].q == i && ne.r[j].qgen == ne.qgen[i]) {
			ne.r[j].used = 0;
			ne.dropped++;
		}
	close(ne.q[i]);
	ne.q[i] = -1;
}

static int ne_stream(enum ckind k)
{
	return k == C_USTREAM || k == C_TCP;
}

/* The checks of one event of private queue @qi */
static void ne_event(struct tctx *t, int qi, const struct kevent_event *ev)
{
	struct preq *p;
	__s64 res = (__s64)ev->data;
	char cls[96];
	int stream, partial;

	p = &ne.r[ev->id & (NREQ - 1)];
	if (ev->type != KEVENT_NAIO || (ev->id & LOOSE_MASK) != PRIV_TAG ||
	    !p->used || p->id != ev->id) {
		INVARIANT(t, "NAIO engine: event of type %u id %#llx data %lld: %s\n",
			  ev->type, (unsigned long long)ev->id, (long long)res,
			  ev->type != KEVENT_NAIO ? "not a request of this queue" :
			  "no such request in flight (reported twice, or never accepted)");
		return;
	}
	if (p->q != qi || p->qgen != ne.qgen[qi] || ev->user_data != p->ud)
		INVARIANT(t, "NAIO engine: request %#llx reported on queue %d (submitted on %d) user_data %#llx (%#llx)\n",
			  (unsigned long long)ev->id, qi, p->q,
			  (unsigned long long)ev->user_data, (unsigned long long)p->ud);
	stream = ne_stream(p->kind) ? 1 :
		 p->kind == C_USEQ ? 2 : 0;
	p->used = 0;
	ne.completed++;
	snprintf(cls, sizeof(cls), "%s on %s: %s%s",
		 p->op == KEVENT_NAIO_SEND ? "SEND" : p->op == KEVENT_NAIO_RECV ? "RECV" : "SENDFILE",
		 ckind_name[p->kind],
		 p->op == KEVENT_NAIO_SENDFILE ? p->sf_cls : nptr_name[p->pc],
		 p->removed ? ", removed" : p->closed ? ", fd closed" :
		 p->broken ? ", connection broken" : "");
	record("NAIO completion", cls, res > 0 ? 0 : res, NULL);
	if (naio_check_result(t, ev, p->op, p->len, p->room, p->bad, stream))
		return;
	if (res > 0)
		ne.bytes += res;
	if (res == -EFAULT)
		ne.efault++;
	if (res == -ECANCELED)
		ne.cancelled++;
	if (ev->flags & KEVENT_EV_EOF)
		ne.eof++;
	/* a stream send or MSG_WAITALL receive may stop short */
	partial = stream == 1 && (p->op == KEVENT_NAIO_SEND || p->op == KEVENT_NAIO_SENDFILE ||
				  (p->flags & MSG_WAITALL));
	if (p->op == KEVENT_NAIO_SENDFILE) {
		ne.sf_completed++;
		if (res > 0)
			ne.sf_bytes += res;
		if (ev->flags & KEVENT_EV_EOF)
			ne.sf_eof++;
		/*
		 * Nothing cut it short: exactly the bytes its range has in the
		 * file, KEVENT_EV_EOF exactly when the file ended first.
		 */
		if (p->sf_late)
			ne.sf_late_done[p->sf_late]++;
		if (p->sf_late == SFL_DIRECT && res == -EOPNOTSUPP) {
			ne.sf_direct_refused++;
		} else if (!p->removed && !p->closed && !p->broken && !p->uncertain &&
			   !fail_mode && p->sf_late != SFL_DIRECT && p->sf_late != SFL_TRUNC) {
			if (res != p->sf_bytes || !!(ev->flags & KEVENT_EV_EOF) != p->sf_eof)
				INVARIANT(t, "NAIO engine: request %#llx (%s%s, len %u) completed with %lld%s, not %ld%s\n",
					  (unsigned long long)ev->id, cls, sflate_name[p->sf_late],
					  p->len, (long long)res,
					  ev->flags & KEVENT_EV_EOF ? " and EOF" : "",
					  p->sf_bytes, p->sf_eof ? " and EOF" : "");
			else
				ne.sf_exact++;
		} else if (res > p->sf_bytes ||
			   /* a truncated file may end early */
			   ((ev->flags & KEVENT_EV_EOF) && p->sf_late != SFL_TRUNC &&
			    (res != p->sf_bytes || !p->sf_eof))) {
			INVARIANT(t, "NAIO engine: request %#llx (%s%s, len %u) completed with %lld%s: more than its file has (%ld%s)\n",
				  (unsigned long long)ev->id, cls, sflate_name[p->sf_late],
				  p->len, (long long)res,
				  ev->flags & KEVENT_EV_EOF ? " and EOF" : "",
				  p->sf_bytes, p->sf_eof ? " and EOF" : "");
		}
	}
	if (res == -EXDEV)
		INVARIANT(t, "NAIO engine: request %#llx reported in its own process with EXDEV\n",
			  (unsigned long long)ev->id);
	else if (res == -ECANCELED && !p->removed && !p->closed && !p->uncertain)
		INVARIANT(t, "NAIO engine: request %#llx ECANCELED without a REMOVE or close\n",
			  (unsigned long long)ev->id);
	else if (p->removed && res != -ECANCELED &&
		 !(partial && res > 0 && res < (p->op == KEVENT_NAIO_SENDFILE ? p->sf_bytes : p->len)))
		INVARIANT(t, "NAIO engine: request %#llx (%s, len %u) removed in flight, completed with %lld\n",
			  (unsigned long long)ev->id, cls, p->len, (long long)res);
	/* (an injected copy fault ends a transfer short: --fail) */
	else if (res > 0 && res < p->len && !p->removed && !p->closed &&
		 !p->broken && !p->bad && p->room >= p->len && !fail_mode &&
		 (p->op == KEVENT_NAIO_SEND || (stream == 1 && (p->flags & MSG_WAITALL))))
		INVARIANT(t, "NAIO engine: request %#llx (%s, len %u) completed short: %lld, nothing cancelled or broke it\n",
			  (unsigned long long)ev->id, cls, p->len, (long long)res);
	else if (res == 0 && p->op == KEVENT_NAIO_RECV && !p->broken)
		INVARIANT(t, "NAIO engine: request %#llx (%s) end of file, but no end was closed or shut down\n",
			  (unsigned long long)ev->id, cls);
	else if (res == 0 && stream == 2 && !(ev->flags & KEVENT_EV_EOF))
		ne.seqpacket_eof_noflag++;	/* see fuzz/README.md: the spec is silent */
	if (res > 0 && res < p->len)
		ne.short_ok++;
}

/* Report queue @qi: kevent_get_events() or read(); returns the events */
static long ne_reap(struct tctx *t, int qi)
{
	struct kevent_event ev[64];
	struct kevent_wait_args wa = { 0 };
	long n, i;

	if (ne.q[qi] < 0)
		return 0;
	if (chance(&t->r, 20)) {
		n = read(ne.q[qi], ev, 32 * (1 + below(&t->r, 64)));
		n = n < 0 ? -errno : n / 32;
		ne_expect(t, "read", "NAIO engine: a private queue", n < 0 ? n : 0,
			  "ok,EAGAIN,EINTR");
	} else {
		wa.timeout_ns = chance(&t->r, 80) ? 0 : 100000;
		n = k_get(ne.q[qi], ev, 1 + below(&t->r, 64), &wa, sizeof(wa));
		ne_expect(t, "kevent_get_events", "NAIO engine: a private queue",
			  n < 0 ? n : 0, "ok,EINTR");
	}
	for (i = 0; i < n; i++)
		ne_event(t, qi, &ev[i]);
	return n;
}

static int ne_pick_conn(struct rng *r)
{
	int i, s = below(r, NCONN);

	for (i = 0; i < NCONN; i++)
		if (ne.c[(s + i) % NCONN].fd[0] >= 0 || ne.c[(s + i) % NCONN].fd[1] >= 0)
			return (s + i) % NCONN;
	return -1;
}

static int ne_pick_req(struct rng *r, int qi)
{
	int i, s = below(r, NREQ);

	for (i = 0; i < NREQ; i++) {
		struct preq *p = &ne.r[(s + i) % NREQ];

		if (p->used == 1 && (qi < 0 || (p->q == qi && p->qgen == ne.qgen[qi])))
			return (s + i) % NREQ;
	}
	return -1;
}

static int ne_free_slot(__u64 *id)
{
	int tries;

	for (tries = 0; tries < NREQ; tries++) {
		__u64 s = ne.seq++;

		if (!ne.r[s & (NREQ - 1)].used) {
			*id = PRIV_TAG | s;
			return s & (NREQ - 1);
		}
	}
	return -1;
}

/*
 * A file description of its own for a sendfile from @src, nobody else's
 * (-1 if none could be made), for what will happen to it after the ADD
 * (@late): a new open of the same file, to be closed or set O_DIRECT, or
 * a new memfd with the same bytes, to be truncated.
 */
static int sf_open_own(enum sfk src, enum sflate late)
{
	char path[128];
	int fd;

	if (late == SFL_TRUNC) {
		/* at the engine's numbers before it is filled (ne_socketpair()) */
		fd = ne_fd(memfd_create("kevent-fuzz-trunc", MFD_CLOEXEC));
		if (fd >= 0 && sf_fill(fd, sf_size(src))) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	if (src == SF_MEMFD)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", sf[src].fd);
	else
		snprintf(path, sizeof(path), "%s/sendfile-src", sf_dir);
	return ne_fd(open(path, O_RDONLY | O_CLOEXEC));
}

/* One of the three changes at random for @p, and its file (sf_open_own()) */
static int sf_own_fd(struct rng *r, struct preq *p)
{
	int fd;

	p->sf_late = SFL_CLOSE + below(r, SFL_N - SFL_CLOSE);
	fd = sf_open_own(p->src, p->sf_late);
	if (fd < 0)
		p->sf_late = SFL_NONE;
	return fd;
}

/*
 * After the ADD: do to @fd what @late says (a truncation to *@tsize,
 * drawn below the file's @size), then close it. Returns what was done
 * (SFL_CLOSE if the change itself was refused).
 */
static enum sflate sf_late_apply(struct rng *r, int fd, enum sflate late,
				 long size, long *tsize)
{
	if (late == SFL_DIRECT && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT))
		late = SFL_CLOSE;
	if (late == SFL_TRUNC) {
		*tsize = below(r, size);
		if (ftruncate(fd, *tsize))
			late = SFL_CLOSE;
	}
	close(fd);
	return late;
}

/* A batch of 1..8 ADDs on private queue @qi */
static void ne_submit(struct tctx *t, int qi)
{
	struct rng *r = &t->r;
	struct ukevent uk[8];
	struct preq pend[8];
	const char *exp[8], *known_e[8];
	char cls[8][160];
	int own_fd[8];
	unsigned int n = 1 + below(r, 8), i, j;
	long ret;

	for (i = 0; i < n; i++) {
		struct preq *p = &pend[i];
		unsigned int x = below(r, 100);
		int ci = ne_pick_conn(r), e = below(r, 2), fd, slot;
		const char *what = "valid", *m;
		struct nbuf b;
		__u64 id;

		memset(p, 0, sizeof(*p));
		memset(&uk[i], 0, sizeof(uk[i]));
		exp[i] = "ok,ENOSPC";
		known_e[i] = NULL;
		own_fd[i] = -1;
		p->used = -1;	/* not to be entered */
		slot = ne_free_slot(&id);
		if (ci < 0 || slot < 0) {
			/* nothing to send on: a closed number */
			uk[i].type = KEVENT_NAIO;
			uk[i].event = KEVENT_NAIO_RECV;
			uk[i].id = PRIV_TAG | ne.seq++;
			uk[i].data = PTR64(naio_scratch);
			naio_set(&uk[i], NE_BADFD + below(r, 50), 16, 0, 0);
			snprintf(cls[i], sizeof(cls[i]), "ADD NAIO: fd closed (private)");
			exp[i] = "EBADF";
			continue;
		}
		fd = ne.c[ci].fd[e];
		if (fd < 0) {
			e = !e;
			fd = ne.c[ci].fd[e];
		}
		p->op = (const __u32[]){ KEVENT_NAIO_SEND, KEVENT_NAIO_RECV,
					 KEVENT_NAIO_SENDFILE }[below(r, 3)];
		p->src = p->op == KEVENT_NAIO_SENDFILE ? sf_pick_valid(r) : SF_N;
		if (p->op == KEVENT_NAIO_SENDFILE && p->src == SF_N)
			p->op = KEVENT_NAIO_SEND;
		p->len = naio_pick_len(r);
		if (chance(r, 50) && p->len > 4096)
			p->len = 1 + below(r, 4096);
		p->flags = naio_pick_msg_flags(r, p->op);
		naio_buf(r, naio_pick_ptr(r), p->op == KEVENT_NAIO_SENDFILE ? KEVENT_NAIO_SEND : p->op,
			 &p->len, &b);
		p->room = b.bad ? 0 : b.room;
		p->bad = b.bad;
		p->pc = b.c;
		p->conn = ci;
		p->end = e;
		p->kind = ne.c[ci].kind;
		p->cgen = ne.c[ci].gen;
		p->broken = ne.c[ci].shut;
		p->q = qi;
		p->qgen = ne.qgen[qi];
		p->ud = rnd(r);
		p->id = id;
		uk[i].type = KEVENT_NAIO;
		uk[i].id = id;
		uk[i].event = p->op;
		uk[i].data = b.data;
		uk[i].user_data = p->ud;
		uk[i].req_flags = (__u32)rnd(r) & (KEVENT_REQ_ONESHOT | KEVENT_REQ_WAKEUP_ALL);
		naio_set(&uk[i], fd, p->len, p->flags, 0);
		if (p->op == KEVENT_NAIO_SENDFILE) {
			/* a file's bytes: no buffer, the range of the file */
			struct sfrange sr;
			int badr = x >= 21 && x < 26;

			sf_pick_range(r, sf_size(p->src), badr, &sr);
			p->len = sr.len;
			p->flags = sf_pick_msg_flags(r);
			p->bad = NB_OK;
			p->room = sr.bytes;
			p->sf_bytes = sr.bytes;
			p->sf_eof = sr.eof;
			p->sf_cls = sr.cls;
			p->pc = NP_SCRATCH;
			uk[i].data = sr.off;
			naio_set(&uk[i], fd, p->len, p->flags, sf[p->src].fd);
			b.bad = NB_OK;
			if (!ne_stream(p->kind)) {
				what = p->kind == C_UDGRAM ? "NAIO SENDFILE: socket not a stream (unix datagram)" :
				       p->kind == C_USEQ ? "NAIO SENDFILE: socket not a stream (unix seqpacket)" :
							   "NAIO SENDFILE: socket not a stream (udp)";
				exp[i] = "EOPNOTSUPP";
				x = 100;	/* nothing else wrong */
			} else if (badr) {
				snprintf(cls[i], sizeof(cls[i]), "ADD NAIO SENDFILE: %s, %s",
					 sf[p->src].name, sr.cls);
				exp[i] = "EINVAL";
				x = 100;
			} else if (x >= 26 && x < 40) {
				/* a file it cannot send from (the rest valid) */
				enum sfk bk = sf_pick_bad(r);
				int y = below(r, 10), in;

				if (y < 6 && bk != SF_N) {
					in = sf[bk].fd;
					exp[i] = sf[bk].expect;
					known_e[i] = sf[bk].kernel;
					snprintf(cls[i], sizeof(cls[i]), "ADD NAIO SENDFILE: in_fd %s", sf[bk].name);
				} else if (y < 7) {
					in = fd;
					exp[i] = "EINVAL,ESPIPE";
					snprintf(cls[i], sizeof(cls[i]), "ADD NAIO SENDFILE: in_fd the socket itself");
				} else if (y < 8 && ne.notsock >= 0) {
					in = ne.notsock;
					exp[i] = "EINVAL";
					snprintf(cls[i], sizeof(cls[i]), "ADD NAIO SENDFILE: in_fd an eventfd");
				} else {
					in = NE_BADFD + below(r, 50);
					exp[i] = "EBADF";
					snprintf(cls[i], sizeof(cls[i]), "ADD NAIO SENDFILE: in_fd never opened");
				}
				naio_set(&uk[i], fd, p->len, p->flags, in);
				x = 100;
			} else {
				if (chance(r, 15))
					own_fd[i] = sf_own_fd(r, p);
				if (own_fd[i] >= 0)
					naio_set(&uk[i], fd, p->len, p->flags, own_fd[i]);
				snprintf(cls[i], sizeof(cls[i]), "ADD NAIO SENDFILE: valid, %s, %s%s",
					 sf[p->src].name, sr.cls, sflate_name[p->sf_late]);
			}
		}
		if (x < 12 && (m = naio_mutate(r, &uk[i], &exp[i]))) {
			what = m;
		} else if (x < 18) {
			/* an id in flight on this queue (maybe unreported) */
			j = ne_pick_req(r, qi);
			if (j < NREQ && !ne.r[j].uncertain) {
				uk[i].id = ne.r[j].id;
				what = "NAIO: id of a request in flight";
				exp[i] = "EEXIST";
			}
			/* an earlier entry of this batch, if it gets in */
			for (j = 0; j < i && !fail_mode; j++)
				if (pend[j].used == 1 && chance(r, 50)) {
					uk[i].id = pend[j].id;
					what = "NAIO: id of a request in flight";
					exp[i] = "EEXIST";
				}
		} else if (x < 21) {
			naio_set(&uk[i], chance(r, 50) && ne.notsock >= 0 ? ne.notsock : ne.q[qi],
				 p->len, p->flags, naio_get(&uk[i]).in_fd);
			what = "NAIO: fd not a socket";
			exp[i] = "ENOTSOCK";
		} else if (b.bad) {
			what = b.bad == NB_HARD ? "NAIO: valid, buffer at a kernel or non-canonical address" :
						  "NAIO: valid, buffer without access";
		}
		if (!strcmp(exp[i], "ok,ENOSPC")) {
			p->used = 1;	/* enter it if accepted */
			ne.r[slot].used = 2;	/* reserved for this batch */
			ne.r[slot].id = id;
		}
		/* a sendfile's own classes are written above */
		if (p->op == KEVENT_NAIO_SENDFILE && !strcmp(what, "valid") &&
		    (p->used == 1 || x == 100))
			continue;
		snprintf(cls[i], sizeof(cls[i]), "ADD %s%s", what,
			 strncmp(what, "NAIO", 4) ? " (private)" : "");
		if (!strncmp(what, "NAIO", 4))
			snprintf(cls[i], sizeof(cls[i]), "ADD %s", what);
	}
	ret = k_ctl(ne.q[qi], KEVENT_CTL_ADD, n, uk);
	for (i = 0; i < n; i++) {
		long tsize;

		if (own_fd[i] < 0)
			continue;
		pend[i].sf_late = sf_late_apply(r, own_fd[i], pend[i].sf_late,
						sf_size(pend[i].src), &tsize);
		ne.sf_late[pend[i].sf_late]++;
	}
	ne_expect(t, "kevent_ctl", "NAIO engine: ADD batch", ret < 0 ? ret : 0, "ok");
	if (ret >= 0 && ret != (long)n && !fail_mode)
		INVARIANT(t, "NAIO engine: kevent_ctl ADD of %u entries returned %ld\n", n, ret);
	for (i = 0; i < n; i++) {
		struct preq *p = &pend[i];
		int slot = uk[i].id & (NREQ - 1);
		int known = ret > (long)i && (uk[i].ret_flags & KEVENT_RET_DONE);
		long e = known && (uk[i].ret_flags & KEVENT_RET_BROKEN) ?
			 (long)(int32_t)uk[i].ret_data[1] : 0;

		if (p->used == 1 && ne.r[slot].used == 2)
			ne.r[slot].used = 0;
		if (known)
			ne_expect_known(t, "kevent_ctl entry", cls[i], e, exp[i], known_e[i]);
		if (p->used != 1 || (known && e))
			continue;
		/* accepted, or (--fail) maybe: it must come at most once */
		if (!known && !fail_mode)
			continue;
		p->uncertain = !known;
		p->used = 1;
		ne.r[slot] = *p;
		ne.accepted++;
		if (p->op == KEVENT_NAIO_SENDFILE)
			ne.sf_accepted++;
	}
}

static void ne_remove(struct tctx *t, int qi)
{
	struct rng *r = &t->r;
	struct ukevent uk = { .type = KEVENT_NAIO };
	int j = chance(r, 80) ? ne_pick_req(r, qi) : -1;
	const char *cls, *exp;
	long ret, e;

	if (j >= 0) {
		uk.id = ne.r[j].id;
		if (chance(r, 30))
			uk.event = ne.r[j].op;
		cls = "REMOVE NAIO: a request in flight (maybe done, unreported)";
		exp = "ok,EALREADY";
	} else {
		/* reported (gone) or never added */
		uk.id = chance(r, 50) ? PRIV_TAG | (ne.seq + 1 + below(r, 100)) :
					PRIV_TAG | (ne.seq - 1 - below(r, ne.seq ? ne.seq : 1));
		j = uk.id & (NREQ - 1);
		if (ne.r[j].used && ne.r[j].id == uk.id)
			return;
		cls = "REMOVE NAIO: a request reported, or never added";
		exp = "ENOENT";
		j = -1;
	}
	ret = k_ctl(ne.q[qi], KEVENT_CTL_REMOVE, 1, &uk);
	if (ret != 1) {
		ne_expect(t, "kevent_ctl", "NAIO engine: REMOVE", ret < 0 ? ret : 0, "ok");
		return;
	}
	e = uk.ret_flags & KEVENT_RET_BROKEN ? (long)(int32_t)uk.ret_data[1] : 0;
	ne_expect(t, "kevent_ctl entry", cls, e, exp);
	if (j >= 0 && e == 0) {
		ne.r[j].removed = 1;
		ne.remove0++;
	} else if (j >= 0 && e == -EALREADY) {
		ne.ealready++;
	} else if (j >= 0 && e == -ENOENT && !ne.r[j].uncertain) {
		INVARIANT(t, "NAIO engine: request %#llx lost: REMOVE found nothing before its event\n",
			  (unsigned long long)uk.id);
	}
}

/* MODIFY, ENABLE, DISABLE, READY of a request: EINVAL, and it goes on */
static void ne_other_cmd(struct tctx *t, int qi)
{
	static const unsigned int cmds[] = { KEVENT_CTL_MODIFY, KEVENT_CTL_ENABLE,
					     KEVENT_CTL_DISABLE, KEVENT_CTL_READY };
	struct rng *r = &t->r;
	unsigned int cmd = cmds[below(r, 4)];
	int j = ne_pick_req(r, qi);
	struct ukevent uk = { .type = KEVENT_NAIO };
	char cls[64];
	long ret, e;

	if (j < 0)
		return;
	uk.id = ne.r[j].id;
	if (cmd == KEVENT_CTL_MODIFY) {
		/* the ADD's own fields, otherwise valid */
		uk.event = ne.r[j].op;
		uk.user_data = ne.r[j].ud;
		naio_set(&uk, ne.c[ne.r[j].conn].fd[ne.r[j].end], ne.r[j].len,
			 ne.r[j].flags, 0);
		uk.data = PTR64(naio_scratch);
	}
	snprintf(cls, sizeof(cls), "%s NAIO: a request in flight", cmd_name[cmd]);
	ret = k_ctl(ne.q[qi], cmd, 1, &uk);
	if (ret != 1) {
		ne_expect(t, "kevent_ctl", "NAIO engine: other commands", ret < 0 ? ret : 0, "ok");
		return;
	}
	e = uk.ret_flags & KEVENT_RET_BROKEN ? (long)(int32_t)uk.ret_data[1] : 0;
	/*
	 * ENABLE looks the request up (a receive that stays takes it): one
	 * whose event may be out already is ENOENT.
	 */
	ne_expect(t, "kevent_ctl entry", cls, e,
		  cmd == KEVENT_CTL_ENABLE && ne.r[j].uncertain ? "EINVAL,ENOENT" : "EINVAL");
}

/* Bytes from the peer's side, or read away, without a request */
static void ne_traffic(struct tctx *t)
{
	struct rng *r = &t->r;
	int ci = ne_pick_conn(r), e = below(r, 2);
	char buf[4096];
	size_t len = 1 + below(r, sizeof(buf));

	if (ci < 0 || ne.c[ci].fd[e] < 0)
		return;
	memset(buf, 'a' + below(r, 26), len);
	if (chance(r, 70)) {
		if (send(ne.c[ci].fd[e], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		}
	} else if (recv(ne.c[ci].fd[e], buf, len, MSG_DONTWAIT) < 0) {
	}
}

/* Close an end, dup2() over it, or shut it down; reopen closed ones */
static void ne_break(struct tctx *t)
{
	struct rng *r = &t->r;
	int ci = below(r, NCONN), e = below(r, 2);
	struct nconn *c = &ne.c[ci];

	if (c->fd[0] < 0 && c->fd[1] < 0) {
		ne_conn_open(r, ci);
		return;
	}
	switch (below(r, 4)) {
	case 0:
		ne_conn_close(r, ci, -1);
		break;
	case 1:
		ne_conn_close(r, ci, e);
		break;
	default:
		if (c->fd[e] >= 0) {
			ne_mark(ci, e, 0);
			shutdown(c->fd[e], (const int[]){ SHUT_RD, SHUT_WR,
							  SHUT_RDWR }[below(r, 3)]);
		}
		break;
	}
}

/*
 * fs.kevent.max_queue_requests: a queue takes that many requests, then
 * EAGAIN; one thread only (the limit is global: another thread's request
 * would be refused too). The requests are removed: each reports -ECANCELED
 * once.
 */
static void ne_eagain_test(struct tctx *t)
{
	static const char path[] = "/proc/sys/fs/kevent/max_queue_requests";
	struct ukevent uk[6];
	struct kevent_event ev[8];
	long old = sysctl_read(path), ret, got = 0, i;
	unsigned int cap = 1 + below(&t->r, 4);
	int q, s[2];

	if (old < 0 || !t->single || !rec_enabled)
		return;
	q = ne_fd(k_create(KEVENT_NONBLOCK));
	if (q < 0 || ne_socketpair(s)) {
		close(q);
		return;
	}
	memset(uk, 0, sizeof(uk));
	for (i = 0; i <= cap; i++) {
		uk[i].type = KEVENT_NAIO;
		uk[i].id = 1000 + i;
		uk[i].event = KEVENT_NAIO_RECV;
		uk[i].data = PTR64(naio_scratch + 64 * i);
		uk[i].user_data = i;
		naio_set(&uk[i], s[0], 64, 0, 0);
	}
	if (sysctl_write(path, cap)) {
		close(q);
		close(s[0]);
		close(s[1]);
		return;
	}
	ret = k_ctl(q, KEVENT_CTL_ADD, cap + 1, uk);
	sysctl_write(path, old);
	ne.eagain_tests++;
	for (i = 0; i <= cap && i < ret; i++)
		ne_expect(t, "kevent_ctl entry",
			  i < cap ? "ADD NAIO: below max_queue_requests" :
				    "ADD NAIO: at max_queue_requests",
			  uk[i].ret_flags & KEVENT_RET_BROKEN ?
			  (long)(int32_t)uk[i].ret_data[1] : 0,
			  i < cap ? "ok" : "EAGAIN");
	if (ret != cap + 1)
		INVARIANT(t, "NAIO: ADD of %u entries returned %ld\n", cap + 1, ret);
	for (i = 0; i < cap; i++) {
		uk[i].req_flags = 0;
		uk[i].event = 0;
		uk[i].data = 0;
		uk[i].user_data = 0;
		naio_set(&uk[i], 0, 0, 0, 0);
	}
	ret = k_ctl(q, KEVENT_CTL_REMOVE, cap, uk);
	for (i = 0; i < cap && i < ret; i++)
		ne_expect(t, "kevent_ctl entry", "REMOVE NAIO: a request in flight (nothing to read)",
			  uk[i].ret_flags & KEVENT_RET_BROKEN ?
			  (long)(int32_t)uk[i].ret_data[1] : 0, "ok");
	for (i = 0; i < 20; i++) {
		struct kevent_wait_args wa = { .timeout_ns = 100000000 };
		long n = k_get(q, ev, 8, &wa, sizeof(wa));

		if (n == -EINTR)
			continue;	/* the step's watchdog */
		if (n <= 0)
			break;
		for (long j = 0; j < n; j++) {
			if (ev[j].type != KEVENT_NAIO || ev[j].id < 1000 ||
			    ev[j].id >= 1000 + cap || (__s64)ev[j].data != -ECANCELED ||
			    ev[j].flags != KEVENT_EV_ERROR || ev[j].events != KEVENT_NAIO_RECV)
				INVARIANT(t, "NAIO: a removed request reported id %llu data %lld flags %#x\n",
					  (unsigned long long)ev[j].id, (long long)ev[j].data,
					  ev[j].flags);
		}
		got += n;
		if (got >= cap)
			break;
	}
	/* nothing more: each once */
	if (got == cap && k_get(q, ev, 8, &(struct kevent_wait_args){ 0 }, 32) != 0)
		got++;
	if (got != cap)
		INVARIANT(t, "NAIO: %u removed requests reported %ld times\n", cap, got);
	close(q);
	close(s[0]);
	close(s[1]);
}

/*
 * A request reported in another process completes with -EXDEV and moves
 * nothing: a RECV in flight on a socket with bytes to read, reported by a
 * forked child. The child's copy of the buffer stays as it was, and the
 * parent then finds the request gone and the bytes still in the socket.
 */
/*
 * In the forked child of an exdev test: its report of the queue @q has
 * exactly request @id's completion, operation @op, -EXDEV. 0 if so.
 */
static int ne_exdev_child_report(int q, __u64 id, __u32 op, const char *what)
{
	struct kevent_wait_args wa = { .timeout_ns = 2000000000ULL };
	struct kevent_event ev[4];
	long n = k_get(q, ev, 4, &wa, sizeof(wa));

	if (n == 1 && ev[0].id == id && (__s64)ev[0].data == -EXDEV &&
	    (ev[0].flags & KEVENT_EV_ERROR) && ev[0].events == op)
		return 0;
	dprintf(2, "NAIO %s child: %ld events, id %llu data %lld flags %#x\n", what,
		n, n > 0 ? (unsigned long long)ev[0].id : 0ULL,
		n > 0 ? (long long)ev[0].data : 0LL, n > 0 ? ev[0].flags : 0);
	return -1;
}

/*
 * In the parent of an exdev test: the child @pid exited 0 (its report
 * was as expected), and nothing is left for the parent's report of @q.
 */
static void ne_exdev_parent(struct tctx *t, int q, pid_t pid, const char *what)
{
	struct kevent_event ev[4];
	long ret;
	int st;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ne.exdev_tests++;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		INVARIANT(t, "NAIO %s: the child's report failed (status %#x)\n", what, st);
	ret = k_get(q, ev, 4, &(struct kevent_wait_args){ 0 }, 32);
	if (ret != 0)
		INVARIANT(t, "NAIO %s: the parent got %ld events after the child's report\n",
			  what, ret);
}

/*
 * The same for a sendfile, which moves no user memory but runs only in
 * its submitter's address space too (kevent_ctl(2): EXDEV elsewhere): on
 * a unix stream socket filled up, so the ADD moves nothing; a forked
 * child reads the filler out (the socket takes bytes again) and reports:
 * -EXDEV, and no byte of the file reaches the peer.
 */
static void ne_exdev_sendfile_test(struct tctx *t)
{
	struct ukevent uk = { .type = KEVENT_NAIO, .id = 78, .event = KEVENT_NAIO_SENDFILE };
	struct kevent_event ev[4];
	char fill[4096];
	int q, s[2];
	long ret;
	pid_t pid;

	/* (--fail: a fault in the child's report is no finding) */
	if (!rec_enabled || sf[SF_MEMFD].fd < 0 || fail_mode)
		return;
	q = ne_fd(k_create(KEVENT_NONBLOCK));
	if (q < 0 || ne_socketpair(s)) {
		close(q);
		return;
	}
	ne_fill(s[0]);
	naio_set(&uk, s[0], SF_MEMSZ, 0, sf[SF_MEMFD].fd);
	ret = k_ctl(q, KEVENT_CTL_ADD, 1, &uk);
	if (ret != 1 || (uk.ret_flags & KEVENT_RET_BROKEN)) {
		if (!fail_mode)
			INVARIANT(t, "NAIO exdev sendfile: ADD %ld flags %#x errno %d\n", ret,
				  uk.ret_flags, (int)uk.ret_data[1]);
		goto out;
	}
	/* moved nothing yet: the socket is full */
	ret = k_get(q, ev, 4, &(struct kevent_wait_args){ 0 }, 32);
	if (ret != 0) {
		if (!fail_mode)
			INVARIANT(t, "NAIO exdev sendfile: %ld events before the fork\n", ret);
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		char buf[4096];

		alarm(20);
		while (recv(s[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		_exit(ne_exdev_child_report(q, 78, KEVENT_NAIO_SENDFILE,
					    "exdev sendfile") ? 3 : 0);
	}
	if (pid < 0)
		goto out;
	ne_exdev_parent(t, q, pid, "exdev sendfile");
	if (recv(s[1], fill, sizeof(fill), MSG_DONTWAIT) > 0)
		INVARIANT(t, "NAIO exdev sendfile: bytes of the file reached the peer\n");
out:
	close(q);
	close(s[0]);
	close(s[1]);
}

/*
 * The same three changes made certain to come while the request waits:
 * a sendfile of a whole file (len past its end) on a unix stream socket
 * filled up (the ADD moves nothing), with an in_fd of its own, which is
 * then closed, made O_DIRECT, or truncated to T bytes and closed. The
 * peer then reads the filler out and the queue is reported until the
 * request completes: closed, all the file's bytes and KEVENT_EV_EOF;
 * O_DIRECT, -EOPNOTSUPP; truncated, T bytes and KEVENT_EV_EOF. The bytes
 * after the filler must be the file's, in order.
 */
static void ne_sendfile_late_test(struct tctx *t)
{
	struct ukevent uk = { .type = KEVENT_NAIO, .id = 79, .event = KEVENT_NAIO_SENDFILE };
	struct rng *r = &t->r;
	enum sflate late = SFL_CLOSE + below(r, SFL_N - SFL_CLOSE);
	enum sfk src = sf_pick_valid(r);
	long size, tsize = 0, filler = 0, got = 0, want, bad = 0;
	struct kevent_event ev[4];
	int q, s[2], fd, i;
	long ret, n = 0;

	if (!rec_enabled || src == SF_N || fail_mode)
		return;
	size = sf_size(src);
	fd = sf_open_own(src, late);
	if (fd < 0)
		return;
	q = ne_fd(k_create(KEVENT_NONBLOCK));
	if (q < 0 || ne_socketpair(s)) {
		close(q);
		close(fd);
		return;
	}
	filler = ne_fill(s[0]);
	naio_set(&uk, s[0], size + 100, 0, fd);
	ret = k_ctl(q, KEVENT_CTL_ADD, 1, &uk);
	if (ret != 1 || (uk.ret_flags & KEVENT_RET_BROKEN)) {
		INVARIANT(t, "NAIO sendfile%s: ADD %ld flags %#x errno %d\n",
			  sflate_name[late], ret, uk.ret_flags, (int)uk.ret_data[1]);
		close(fd);
		goto out;
	}
	late = sf_late_apply(r, fd, late, size, &tsize);
	ne.sf_late_tests[late]++;
	for (i = 0; i < 500 && !n; i++) {
		bad += sf_read_checked(s[1], filler, &got);
		n = k_get(q, ev, 4, &(struct kevent_wait_args){ .timeout_ns = 10000000 }, 32);
		/* the step's watchdog (wd_arm() in naio_step()) */
		if (n == -EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			INVARIANT(t, "NAIO sendfile%s: report %s\n", sflate_name[late],
				  errname(n));
			goto out;
		}
	}
	bad += sf_read_checked(s[1], filler, &got);
	want = late == SFL_DIRECT ? -EOPNOTSUPP : late == SFL_TRUNC ? tsize : size;
	if (n != 1 || ev[0].id != 79 || (__s64)ev[0].data != want ||
	    !!(ev[0].flags & KEVENT_EV_ERROR) != (want < 0) ||
	    !!(ev[0].flags & KEVENT_EV_EOF) != (want >= 0))
		INVARIANT(t, "NAIO sendfile%s (file of %ld bytes%s): %ld events, id %llu data %lld flags %#x; expected %ld%s\n",
			  sflate_name[late], size, late == SFL_TRUNC ? ", truncated" : "",
			  n, n > 0 ? (unsigned long long)ev[0].id : 0ULL,
			  n > 0 ? (long long)(__s64)ev[0].data : 0LL,
			  n > 0 ? ev[0].flags : 0, want, want >= 0 ? " and EOF" : "");
	else if (got - filler != (want > 0 ? want : 0) || bad)
		INVARIANT(t, "NAIO sendfile%s: the peer got %ld bytes after the filler (%ld wrong), not %ld\n",
			  sflate_name[late], got - filler, bad, want > 0 ? want : 0);
out:
	close(q);
	close(s[0]);
	close(s[1]);
}

static void ne_exdev_test(struct tctx *t)
{
	struct ukevent uk = { .type = KEVENT_NAIO, .id = 77, .event = KEVENT_NAIO_RECV };
	struct kevent_event ev[4];
	char *buf = naio_scratch + SCRATCH - 4096, got[16];
	int q, s[2], i;
	long ret;
	pid_t pid;

	/*
	 * Exact only without injected faults (as its sendfile twin): under
	 * --fail the child's report or the parent's wait may get an injected
	 * EFAULT or ENOMEM (CI, session 32: seed 978573988).
	 */
	if (!rec_enabled || fail_mode)
		return;
	q = ne_fd(k_create(KEVENT_NONBLOCK));
	if (q < 0 || ne_socketpair(s)) {
		close(q);
		return;
	}
	memset(buf, 0x5a, 16);
	uk.data = PTR64(buf);
	naio_set(&uk, s[0], 16, 0, 0);
	ret = k_ctl(q, KEVENT_CTL_ADD, 1, &uk);
	if (ret != 1 || (uk.ret_flags & KEVENT_RET_BROKEN)) {
		if (!fail_mode)
			INVARIANT(t, "NAIO exdev: ADD %ld flags %#x\n", ret, uk.ret_flags);
		goto out;
	}
	if (write(s[1], "0123456789abcdef", 16) != 16)
		goto out;
	pid = fork();
	if (pid == 0) {
		alarm(20);
		if (ne_exdev_child_report(q, 77, KEVENT_NAIO_RECV, "exdev"))
			_exit(3);
		for (i = 0; i < 16; i++)
			if (buf[i] != 0x5a) {
				dprintf(2, "NAIO exdev child: the buffer was written\n");
				_exit(4);
			}
		_exit(k_get(q, ev, 4, &(struct kevent_wait_args){ 0 }, 32) == 0 ? 0 : 5);
	}
	if (pid < 0)
		goto out;
	ne_exdev_parent(t, q, pid, "exdev");
	if (recv(s[0], got, 16, MSG_DONTWAIT) != 16 || memcmp(got, "0123456789abcdef", 16))
		INVARIANT(t, "NAIO exdev: the bytes left the socket\n");
	for (i = 0; i < 16; i++)
		if (buf[i] != 0x5a) {
			INVARIANT(t, "NAIO exdev: the parent's buffer was written\n");
			break;
		}
out:
	close(q);
	close(s[0]);
	close(s[1]);
}

/*
 * No request may sit in flight while its socket has bytes for it: report
 * every queue until nothing comes (twice), then a receive in flight on an
 * end with bytes to read (SIOCINQ) gets one more report; still in flight
 * after it with the bytes still there, it missed its wake-up (each report
 * tries the I/O of every request the socket made ready).
 */
static void ne_stuck_check(struct tctx *t)
{
	int i, j, rounds, stuck[NREQ], ns = 0;

	/* An injected fault can fail the reports that would show them. */
	if (fail_mode)
		return;

	for (i = 0; i < NQ; i++)
		for (rounds = 0; rounds < 100 && ne.q[i] >= 0; rounds++)
			if (ne_reap(t, i) <= 0 && ne_reap(t, i) <= 0)
				break;
	for (j = 0; j < NREQ; j++) {
		struct preq *p = &ne.r[j];
		struct nconn *c = &ne.c[p->conn];
		int avail = 0;

		if (p->used != 1 || p->uncertain || p->op != KEVENT_NAIO_RECV ||
		    p->cgen != c->gen || c->fd[p->end] < 0 || p->broken ||
		    ioctl(c->fd[p->end], FIONREAD, &avail) || avail <= 0)
			continue;
		stuck[ns++] = j;
	}
	if (!ns)
		return;
	for (i = 0; i < NQ; i++)
		ne_reap(t, i);
	for (i = 0; i < ns; i++) {
		struct preq *p = &ne.r[stuck[i]];
		int avail = 0;

		if (p->used != 1 || ne.q[p->q] < 0 || p->qgen != ne.qgen[p->q])
			continue;
		/* a MSG_WAITALL receive may take what there is and wait on */
		if (ioctl(ne.c[p->conn].fd[p->end], FIONREAD, &avail) || avail <= 0)
			continue;
		INVARIANT(t, "NAIO engine: request %#llx (RECV on %s, len %u, %s, %s) still in flight with %d bytes to read after its queue was reported\n",
			  (unsigned long long)p->id, ckind_name[p->kind], p->len,
			  nptr_name[p->pc], p->flags & MSG_WAITALL ? "MSG_WAITALL" : "no flags",
			  avail);
	}
}

/* One step of the engine */
static void naio_step(struct tctx *t, int depth)
{
	struct rng *r = &t->r;
	unsigned int x = below(r, 1000);
	int qi = below(r, NQ), i;

	if (!naio_scratch)
		return;
	wd_arm(t->wd, 1000, 100);
	pthread_mutex_lock(&ne.lock);
	if (!ne.ready)
		ne_setup();
	if (ne.q[qi] < 0)
		ne_q_open(qi);
	i = below(r, NCONN);
	if (ne.c[i].fd[0] < 0 && ne.c[i].fd[1] < 0 && chance(r, 50))
		ne_conn_open(r, i);
	if (ne.q[qi] < 0)
		goto out;
	if (x < 400)
		ne_submit(t, qi);
	else if (x < 700)
		ne_reap(t, qi);
	else if (x < 780)
		ne_remove(t, qi);
	else if (x < 810)
		ne_other_cmd(t, qi);
	else if (x < 900)
		ne_traffic(t);
	else if (x < 960)
		ne_break(t);
	else if (x < 975)
		ne_q_close(qi);
	else if (x < 985)
		ne_eagain_test(t);
	else if (x < 995 && !depth) {
		int y = below(r, 3);

		if (y == 0)
			ne_exdev_test(t);
		else if (y == 1)
			ne_exdev_sendfile_test(t);
		else
			ne_sendfile_late_test(t);
	}
	else
		ne_stuck_check(t);
out:
	pthread_mutex_unlock(&ne.lock);
	wd_disarm(t->wd);
}

/*
 * The end: every socket closed (each request left is cancelled), the
 * queues drained; a request still in the table was lost.
 */
static void naio_finish(struct tctx *t, int quiet)
{
	int i, j, rounds;
	unsigned long lost = 0;

	pthread_mutex_lock(&ne.lock);
	if (!ne.ready) {
		pthread_mutex_unlock(&ne.lock);
		return;
	}
	ne_stuck_check(t);
	for (i = 0; i < NCONN; i++)
		ne_conn_close(NULL, i, -1);
	for (i = 0; i < NQ; i++)
		for (rounds = 0; rounds < 1000 && ne.q[i] >= 0; rounds++)
			if (ne_reap(t, i) <= 0 && ne_reap(t, i) <= 0)
				break;
	for (j = 0; j < NREQ; j++) {
		struct preq *p = &ne.r[j];

		if (p->used != 1 || ne.q[p->q] < 0 || p->qgen != ne.qgen[p->q])
			continue;
		if (p->uncertain)
			continue;
		if (fail_mode) {
			ne.lost_fail++;
			continue;
		}
		if (lost++ < 5)
			INVARIANT(t, "NAIO engine: request %#llx (%s on %s, len %u, %s%s%s) never reported\n",
				  (unsigned long long)p->id,
				  p->op == KEVENT_NAIO_SEND ? "SEND" :
				  p->op == KEVENT_NAIO_RECV ? "RECV" : "SENDFILE",
				  ckind_name[p->kind], p->len,
				  p->op == KEVENT_NAIO_SENDFILE ? p->sf_cls : nptr_name[p->pc],
				  p->removed ? ", removed" : "", p->closed ? ", fd closed" : "");
		else
			t->invariant++;
	}
	for (i = 0; i < NQ; i++)
		ne_q_close(i);
	close(ne.listener);
	close(ne.notsock);
	ne.ready = 0;
	if (!quiet)
		printf("kevent-fuzz: NAIO engine: %lu requests accepted, %lu reported (%lu bytes, %lu cancelled, %lu EFAULT, %lu end of file, %lu short), %lu dropped by a queue close, %lu lost; REMOVE 0: %lu, EALREADY: %lu; %lu max_queue_requests and %lu EXDEV checks%s\n",
		       ne.accepted, ne.completed, ne.bytes, ne.cancelled, ne.efault,
		       ne.eof, ne.short_ok, ne.dropped, lost, ne.remove0, ne.ealready,
		       ne.eagain_tests, ne.exdev_tests,
		       fail_mode ? " (--fail: unreported requests not counted as lost)" : "");
	if (!quiet)
		printf("kevent-fuzz: NAIO engine: SENDFILE: %lu accepted, %lu reported (%lu bytes, %lu with EOF), %lu exactly the bytes of their range (nothing cut them short)\n",
		       ne.sf_accepted, ne.sf_completed, ne.sf_bytes, ne.sf_eof, ne.sf_exact);
	if (!quiet)
		printf("kevent-fuzz: NAIO engine: SENDFILE with its own in_fd, changed after the ADD (made, reported): closed %lu, %lu; set O_DIRECT %lu, %lu (%lu of them EOPNOTSUPP); truncated %lu, %lu\n",
		       ne.sf_late[SFL_CLOSE], ne.sf_late_done[SFL_CLOSE],
		       ne.sf_late[SFL_DIRECT], ne.sf_late_done[SFL_DIRECT], ne.sf_direct_refused,
		       ne.sf_late[SFL_TRUNC], ne.sf_late_done[SFL_TRUNC]);
	if (!quiet)
		printf("kevent-fuzz: NAIO: sendfiles waiting on a full socket while their own in_fd was closed: %lu, made O_DIRECT: %lu, truncated: %lu (each checked exactly)\n",
		       ne.sf_late_tests[SFL_CLOSE], ne.sf_late_tests[SFL_DIRECT],
		       ne.sf_late_tests[SFL_TRUNC]);
	if (!quiet && ne.seqpacket_eof_noflag)
		printf("kevent-fuzz: NAIO: %lu seqpacket receives reported end of file (0) without KEVENT_EV_EOF\n",
		       ne.seqpacket_eof_noflag);
	if (!quiet && fail_mode && ne.lost_fail)
		printf("kevent-fuzz: NAIO: %lu requests unreported under fault injection\n",
		       ne.lost_fail);
	pthread_mutex_unlock(&ne.lock);
}

/* A forked child: the parent's engine is not its own */
static void naio_child_reset(void)
{
	pthread_mutex_init(&ne.lock, NULL);
	memset(&ne.accepted, 0, sizeof(ne) - offsetof(struct naio_engine, accepted));
	ne.ready = 0;
}

/* ---- the environment ---------------------------------------------- */

/* A path in the fuzz directory: f0..f3 or the subdirectory d */
static void fuzz_path(struct rng *r, char *p, size_t len)
{
	unsigned int i = below(r, 5);

	if (i == 4)
		snprintf(p, len, "%s/d", tmpdir);
	else
		snprintf(p, len, "%s/f%u", tmpdir, i);
}

/*
 * Changes for KEVENT_INODE kevents to see: entries of the fuzz directory
 * created, removed, renamed; files written, truncated, chmod'ed; an
 * O_PATH descriptor replaced by one of another path.
 */
static void fs_change(struct rng *r, int fd)
{
	char a[96], b[96];
	int i, nfd;

	fuzz_path(r, a, sizeof(a));
	fuzz_path(r, b, sizeof(b));
	switch (below(r, 8)) {
	case 0:
		nfd = open(a, O_WRONLY | O_CREAT, 0600);
		if (nfd >= 0)
			close(nfd);
		break;
	case 1:
		if (unlink(a)) {
		}
		break;
	case 2:
		if (rename(a, b)) {
		}
		break;
	case 3:
		if (mkdir(a, 0700) && rmdir(a)) {
		}
		break;
	case 4:
		if (fd >= 0 && write(fd, "x", 1) < 0) {
		}
		break;
	case 5:
		if (fd >= 0 && ftruncate(fd, below(r, 3))) {
		}
		break;
	case 6:
		if (chmod(a, chance(r, 50) ? 0600 : 0)) {
		}
		break;
	default:
		i = below(r, ARRAY_SIZE(opath));
		if (chance(r, 20))
			snprintf(a, sizeof(a), "%s", chance(r, 50) ? "/" : tmpdir);
		nfd = open(a, O_PATH | O_CLOEXEC);
		pthread_mutex_lock(&pool_lock);
		fd = opath[i];
		opath[i] = nfd;
		if (fd >= 0)
			closed_nums[closed_pos++ % ARRAY_SIZE(closed_nums)] = fd;
		pthread_mutex_unlock(&pool_lock);
		if (fd >= 0)
			close(fd);
		break;
	}
}

static void poke(struct tctx *t)
{
	struct rng *r = &t->r;
	enum kind k;
	int fd = pick_fd(r, K_NKINDS, &k);
	uint64_t one = 1;
	char c = 'x';

	if (fd < 0)
		return;
	switch (k) {
	case K_PIPE_W:
	case K_SOCK:
		if (write(fd, &c, 1) < 0) {
		}
		break;
	case K_PIPE_R: {
		char b[64];

		if (read(fd, b, sizeof(b)) < 0) {
		}
		break;
	}
	case K_EVENTFD:
		if (chance(r, 50)) {
			if (write(fd, &one, 8) < 0) {
			}
		} else if (read(fd, &one, 8) < 0) {
		}
		break;
	case K_EPOLL: {
		/* epoll in between: queues and pipes in epoll, epoll in queues */
		enum kind k2;
		int fd2 = pick_fd(r, K_NKINDS, &k2);
		struct epoll_event ee = { .events = EPOLLIN | (chance(r, 30) ? EPOLLET : 0) };

		if (fd2 >= 0)
			epoll_ctl(fd, chance(r, 80) ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
				  fd2, &ee);
		break;
	}
	case K_SIGNALFD:
		/* SIGURG is ignored by default and not blocked: pending nowhere */
		break;
	case K_REGFILE:
	case K_DIR:
		fs_change(r, k == K_REGFILE ? fd : -1);
		break;
	case K_UDP: {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(9),
					  .sin_addr.s_addr = htonl(0x7f000001) };

		/* an ICMP error makes EPOLLERR */
		connect(fd, (void *)&sa, sizeof(sa));
		if (send(fd, &c, 1, MSG_DONTWAIT) < 0) {
		}
		break;
	}
	default:
		break;
	}
}

/* Reused numbers: dup2 a live file over another pool descriptor. */
static void do_dup2(struct tctx *t)
{
	struct rng *r = &t->r;
	enum kind k1, k2;
	int a = pick_fd(r, K_NKINDS, &k1), b = pick_fd(r, K_NKINDS, &k2), i;

	if (a < 0 || b < 0 || a == b)
		return;
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < POOL; i++)
		if (pool[i].fd == b) {
			/* keep the old file alive under a new number sometimes */
			int keep = chance(r, 50) ? dup(b) : -1;

			if (dup2(a, b) == b)
				pool[i].kind = k1;
			if (keep >= 0) {
				pthread_mutex_unlock(&pool_lock);
				add_slot(keep, k2, -1);
				return;
			}
			break;
		}
	pthread_mutex_unlock(&pool_lock);
}

/* What a received descriptor is (it may be one sent earlier). */
static enum kind kind_of_fd(int fd)
{
	char p[64], l[256];
	struct stat st;
	ssize_t n;
	int dom = 0;
	socklen_t len = sizeof(dom);

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, l, sizeof(l) - 1);
	if (n < 0)
		return K_NKINDS;
	l[n] = 0;
	if (!strcmp(l, "anon_inode:[kevent]"))
		return K_QUEUE;
	if (!strncmp(l, "pipe:", 5))
		return (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY ? K_PIPE_W : K_PIPE_R;
	if (!strncmp(l, "socket:", 7)) {
		getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len);
		return dom == AF_UNIX ? K_SOCK : K_UDP;
	}
	if (!strcmp(l, "anon_inode:[eventpoll]"))
		return K_EPOLL;
	if (!strcmp(l, "anon_inode:[eventfd]"))
		return K_EVENTFD;
	if (!strcmp(l, "anon_inode:[signalfd]"))
		return K_SIGNALFD;
	if (!strcmp(l, "anon_inode:[timerfd]"))
		return K_TIMERFD;
	if (!strncmp(l, "/memfd:", 7))
		return K_MEMFD;
	if (!fstat(fd, &st))
		return S_ISDIR(st.st_mode) ? K_DIR : K_REGFILE;
	return K_NKINDS;
}

/* SCM_RIGHTS: send a queue (or anything) through a unix socket. */
static void do_scm(struct tctx *t)
{
	struct rng *r = &t->r;
	int s = pick_fd(r, K_SOCK, NULL), peer = -1, i, what;
	enum kind k;
	char cbuf[CMSG_SPACE(sizeof(int))], c = 'q';
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	if (s < 0)
		return;
	what = chance(r, 70) ? pick_fd(r, K_QUEUE, NULL) : pick_fd(r, K_NKINDS, NULL);
	if (what < 0)
		return;
	k = K_QUEUE;
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < POOL; i++) {
		if (pool[i].fd == s)
			peer = pool[i].peer;
		if (pool[i].fd == what)
			k = pool[i].kind;
	}
	pthread_mutex_unlock(&pool_lock);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &what, sizeof(int));
	if (sendmsg(s, &mh, MSG_DONTWAIT) < 0)
		return;
	/* sometimes left in flight: cycles for the unix garbage collector */
	if (peer < 0 || chance(r, 30))
		return;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
		return;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_type == SCM_RIGHTS) {
			int got;

			memcpy(&got, CMSG_DATA(cm), sizeof(int));
			/* a descriptor left in flight earlier comes first */
			k = kind_of_fd(got);
			if (k == K_NKINDS)
				close(got);
			else
				add_slot(got, k, -1);
		}
}

static void one_call(struct tctx *t, int depth);

/* KFUZZ_CHECK=1: after every call, check the pool's kinds in /proc. */
static int pool_check_on;
static void pool_check(unsigned long call)
{
	static const char *const pre[K_NKINDS] = {
		"anon_inode:[kevent]", "pipe:", "pipe:", "socket:",
		"anon_inode:[eventpoll]", "anon_inode:[eventfd]",
		"anon_inode:[signalfd]", "anon_inode:[timerfd]", "/", "/",
		"/memfd:", "socket:",
	};
	char p[64], l[256];
	int i;
	ssize_t n;

	for (i = 0; i < POOL; i++) {
		if (pool[i].fd < 0)
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", pool[i].fd);
		n = readlink(p, l, sizeof(l) - 1);
		if (n < 0) {
			fprintf(stderr, "POOL: call %lu slot %d fd %d (%s) is closed\n",
				call, i, pool[i].fd, kind_name[pool[i].kind]);
			continue;
		}
		l[n] = 0;
		if (strncmp(l, pre[pool[i].kind], strlen(pre[pool[i].kind])))
			fprintf(stderr, "POOL: call %lu slot %d fd %d is %s, pool says %s\n",
				call, i, pool[i].fd, l, kind_name[pool[i].kind]);
	}
}

/*
 * fork in the middle: the child shares the queues (and their rings,
 * registered by the parent: EPERM from kevent_wait) and makes calls of
 * its own, unrecorded, then exits with everything open.
 */
static unsigned long child_bad;
static void do_fork(struct tctx *t)
{
	pid_t pid;
	int st, i, n = 10 + below(&t->r, 60);
	uint64_t cseed = rnd(&t->r);

	/* ne.lock first: the engine records (rec_lock) under it */
	pthread_mutex_lock(&ne.lock);
	pthread_mutex_lock(&pool_lock);
	pthread_mutex_lock(&rec_lock);
	pthread_mutex_lock(&arena_lock);
	__atomic_add_fetch(&forks_total, 1, __ATOMIC_RELAXED);
	pid = fork();
	if (pid == 0) {
		struct tctx c = *t;

		/* the child's own findings only */
		c.invariant = 0;
		rec_enabled = 0;
		signal(SIGALRM, SIG_DFL);
		pthread_mutex_init(&pool_lock, NULL);
		pthread_mutex_init(&rec_lock, NULL);
		pthread_mutex_init(&arena_lock, NULL);
		naio_child_reset();
		c.r.s = cseed;
		c.single = 1;
		wd_init(&c.wd);
		alarm(300);	/* the parent shows a stuck child at 60 s */
		for (i = 0; i < n; i++)
			one_call(&c, 1);
		naio_finish(&c, 1);
		_exit(c.invariant ? 3 : 0);
	}
	pthread_mutex_unlock(&arena_lock);
	pthread_mutex_unlock(&rec_lock);
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&ne.lock);
	if (pid < 0)
		return;
	/*
	 * A child that takes more than 60 s is stuck somewhere: show where
	 * (its system call and kernel stack, from /proc), then kill it.
	 */
	{
		uint64_t t0 = now_ns();
		int shown = 0;
		pid_t w;

		while ((w = waitpid(pid, &st, WNOHANG)) == 0 ||
		       (w < 0 && errno == EINTR)) {
			if (!shown && now_ns() - t0 > 60000000000ULL) {
				static const char *const what[] = {
					"syscall", "wchan", "stack", "stat",
				};
				char path[64], buf[2048];
				unsigned int i;

				for (i = 0; i < ARRAY_SIZE(what); i++) {
					int fd;
					ssize_t n;

					snprintf(path, sizeof(path), "/proc/%d/task/%d/%s",
						 pid, pid, what[i]);
					fd = open(path, O_RDONLY);
					n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
					if (fd >= 0)
						close(fd);
					buf[n > 0 ? n : 0] = 0;
					dprintf(2, "CHILD %d stuck 60 s: %s: %s\n", pid,
						what[i], buf);
				}
				kill(pid, SIGKILL);
				shown = 1;
			}
			usleep(10000);
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "CHILD: pid %d ended with status %#x\n", pid, st);
		__atomic_add_fetch(&child_bad, 1, __ATOMIC_RELAXED);
	}
}

static void one_call(struct tctx *t, int depth)
{
	unsigned int x = below(&t->r, 1000);

	t->calls++;
	if (pool_check_on && !depth)
		pool_check(t->calls - 1);
	if (x < 40)
		do_create(t);
	else if (x < 390)
		do_ctl(t);
	else if (x < 440)
		naio_step(t, depth);
	else if (x < 640)
		do_get(t);
	else if (x < 690)
		do_read(t);
	else if (x < 750)
		do_ring_init(t);
	else if (x < 830)
		do_wait(t);
	else if (x < 985) {
		/*
		 * With several threads a number can be reused between the
		 * pick and the call (even under a wrong label, after a
		 * dup2() race): a read() meant for a pipe may hit a blocking
		 * queue. The watchdog ends whatever blocks.
		 */
		wd_arm(t->wd, 1000, 100);
		if (x < 880)
			new_fd(&t->r);
		else if (x < 905)
			close_slot(&t->r);
		else if (x < 915)
			do_dup2(t);
		else if (x < 930)
			do_scm(t);
		else
			poke(t);
		wd_disarm(t->wd);
	} else if (x < 997)
		arena_mutate(&t->r, t->single);
	else if (!depth)
		do_fork(t);
	else
		poke(t);
}

/* ---- main --------------------------------------------------------- */

static uint64_t seed;
static unsigned long ncalls = 10000;
static double tbudget;
static uint64_t t_start;
static int nthreads = 1;

static void *thread_main(void *arg)
{
	struct tctx *t = arg;
	unsigned long i, my = ncalls / nthreads;

	if (fail_mode) {
		/* fuzz/faultinject.sh: this thread's kevent allocations fail */
		FILE *f = fopen("/proc/thread-self/make-it-fail", "w");

		if (!f || fputs("1", f) < 0 || fclose(f)) {
			fprintf(stderr, "kevent-fuzz: cannot set make-it-fail\n");
			exit(2);
		}
	}
	wd_init(&t->wd);
	if (mem_init(&t->m)) {
		perror("mmap");
		exit(2);
	}
	for (i = 0; i < my; i++) {
		if (tbudget > 0 && (i & 15) == 0 &&
		    (now_ns() - t_start) / 1e9 > tbudget)
			break;
		one_call(t, 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	struct kevent_probe probe = { 0 };
	struct rlimit rl = { 4096, 4096 };
	const char *out = NULL;
	struct tctx *t;
	pthread_t th[64];
	unsigned long total = 0, inv = 0;
	int strict = 0, i;
	sigset_t m;

	seed = now_ns() ^ ((uint64_t)getpid() << 32);
	pool_check_on = !!getenv("KFUZZ_CHECK");
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			ncalls = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			tbudget = atof(argv[++i]);
		else if (!strcmp(argv[i], "-j") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "-q"))
			rec_quiet = 1;
		else if (!strcmp(argv[i], "--strict"))
			strict = 1;
		else if (!strcmp(argv[i], "--fail"))
			fail_mode = rec_allow_enomem = 1;
		else {
			fprintf(stderr, "usage: %s [-s SEED] [-n CALLS] [-t SECONDS] [-j THREADS] [-o RECORDS] [-q] [--strict] [--fail]\n",
				argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > 64)
		nthreads = 1;
	/* Expectations hold only where no other thread changes the state. */
	rec_enforce = nthreads == 1;
	printf("kevent-fuzz: seed %#llx, %lu calls, %d thread(s)%s\n",
	       (unsigned long long)seed, ncalls, nthreads,
	       nthreads == 1 ? " (the call sequence is reproducible from the seed)" : "");
	fflush(stdout);

	if (!getenv("KFUZZ_NOPROBE") && (k_ctl(-1, KEVENT_CTL_PROBE, sizeof(probe), &probe) != 64 ||
	    probe.magic != KEVENT_PROBE_MAGIC || probe.version != 2)) {
		printf("kevent-fuzz: no kevent ABI v2 in this kernel\n");
		return 2;
	}
	kernel_types = getenv("KFUZZ_NOPROBE") ? 0 : probe.types;
	for (int ty = 1; ty < 64; ty++)
		if (new_type(ty))
			printf("kevent-fuzz: type %d is new to the fuzzer: its outcomes are recorded, not predicted\n", ty);
	if (!getenv("KFUZZ_NOPROBE") && (probe.max_batch != MAX_BATCH || probe.ring_max_entries != RING_MAX ||
					  probe.max_changes != MAX_CHANGES)) {
		printf("kevent-fuzz: probe limits %u/%u/%u differ from the fuzzer's %u/%u/%u\n",
		       probe.max_batch, probe.ring_max_entries, probe.max_changes,
		       MAX_BATCH, RING_MAX, MAX_CHANGES);
		return 2;
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGURG, SIG_IGN);
	sigemptyset(&m);
	sigaddset(&m, SIGURG);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kevent-fuzz.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	arena = mmap(NULL, (ARENA_PAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED)
		return 2;
	mprotect(arena + ARENA_PAGES * PAGE, PAGE, PROT_NONE);
	if (naio_init_mem()) {
		perror("mmap (NAIO scratch)");
		return 2;
	}
	loose = calloc(LOOSE_MAX, sizeof(*loose));
	sf_open();
	for (i = 0; i < POOL; i++)
		pool[i].fd = -1;
	for (i = 0; i < (int)ARRAY_SIZE(closed_nums); i++)
		closed_nums[i] = 1000 + i;
	opath[0] = open(tmpdir, O_PATH | O_CLOEXEC);
	opath[1] = open("/", O_PATH | O_CLOEXEC);

	t = calloc(nthreads, sizeof(*t));
	t_start = now_ns();
	{
		struct rng sr = { seed };

		for (i = 0; i < 8; i++)
			new_fd(&sr);
		for (i = 0; i < 4; i++)
			add_slot(k_create(0), K_QUEUE, -1);
	}
	for (i = 0; i < nthreads; i++) {
		t[i].r.s = seed + 0x1000193ULL * (i + 1);
		t[i].id = i;
		t[i].single = nthreads == 1;
	}
	if (nthreads == 1) {
		thread_main(&t[0]);
	} else {
		for (i = 0; i < nthreads; i++)
			pthread_create(&th[i], NULL, thread_main, &t[i]);
		for (i = 0; i < nthreads; i++)
			pthread_join(th[i], NULL);
	}
	/* every private socket closed, the queues drained: none lost */
	naio_finish(&t[0], 0);
	for (i = 0; i < nthreads; i++) {
		total += t[i].calls;
		inv += t[i].invariant;
	}
	/* close everything: teardown with kevents, rings, cycles in flight */
	for (i = 0; i < POOL; i++)
		if (pool[i].fd >= 0)
			close(pool[i].fd);
	records_write(out);
	sf_close();
	for (i = 0; i < (int)ARRAY_SIZE(opath); i++)
		if (opath[i] >= 0)
			close(opath[i]);
	/* f0..f3 and d, each a file or an (empty) directory after renames */
	for (i = 0; i < 5; i++) {
		char p[96];

		if (i < 4)
			snprintf(p, sizeof(p), "%s/f%d", tmpdir, i);
		else
			snprintf(p, sizeof(p), "%s/d", tmpdir);
		if (unlink(p))
			rmdir(p);
	}
	rmdir(tmpdir);
	printf("kevent-fuzz: seed %#llx: %lu calls in %.1f s, %lu unexpected outcomes, %lu broken invariants, %lu bad children\n",
	       (unsigned long long)seed, total, (now_ns() - t_start) / 1e9,
	       rec_unexpected, inv, child_bad);
	printf("kevent-fuzz: %lu watchdog signals came before a call that may wait forever "
	       "(with a one-shot watchdog, each such call that found nothing ready would have)\n",
	       wd_early);
	printf("kevent-fuzz: %lu ADD|UPDATE entries created their kevent (KEVENT_RET_CREATED)\n",
	       upserts_created);
	printf("kevent-fuzz: %lu NAIO ADDs with KEVENT_REQ_INLINE completed at once (KEVENT_RET_COMPLETE)\n",
	       inline_completed);
	printf("kevent-fuzz: SENDFILE: %lu loose entries generated (%lu accepted); %lu outcomes a known disagreement with kevent_ctl(2) (not counted as unexpected; see fuzz/README.md)\n",
	       sf_loose_gen, sf_loose_ok, rec_known);
	if (exdev_after_fork)
		printf("kevent-fuzz: %lu loose NAIO requests ended with EXDEV in the parent after %lu fork()s (a child's report completed them, its copy failed)\n",
		       exdev_after_fork, forks_total);
	if (inv || child_bad || (strict && rec_unexpected))
		return 1;
	return 0;
}
