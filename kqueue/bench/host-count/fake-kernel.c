// SPDX-License-Identifier: MIT
/*
 * A user-space stand-in for the kevent system calls, for counting the
 * kqueue library's own instructions on the host with callgrind (count.sh):
 * no VM, no kevent kernel. It does just enough for loops.c: KEVENT_POLL
 * kevents keyed by id (ADD, ADD with KEVENT_REQ_UPDATE and KEVENT_REQ_KEEP,
 * MODIFY, REMOVE, ENABLE, DISABLE; the descriptor in the low 32 bits),
 * changes travelling in kevent_get_events(), readiness by poll(), and
 * KEVENT_REQ_FD_CLOSE through fake_close(). Its own instructions are not
 * counted: fake_syscall() turns callgrind's collection off around them.
 * It is no model of the kernel's semantics; the library's tests run on
 * the real kernel in the VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

/* Set by loops.c while it counts: then a call stops and restarts counting. */
int fake_collecting;

#define MAX_QUEUES 64		/* queue fds below this */
#define MAX_KEVENTS 4096	/* per queue */

struct fake_kevent {
	int used;
	uint32_t type, events, req_flags, disabled;
	uint64_t id, user_data;
};

static struct {
	int used;
	struct fake_kevent k[MAX_KEVENTS];
} queues[MAX_QUEUES];

static int is_queue(int fd)
{
	return fd >= 0 && fd < MAX_QUEUES && queues[fd].used;
}

/* loops.c calls this before close(fd): KEVENT_REQ_FD_CLOSE's removal. */
void fake_close(int fd)
{
	for (int q = 0; q < MAX_QUEUES; q++)
		for (int i = 0; queues[q].used && i < MAX_KEVENTS; i++)
			if (queues[q].k[i].used && queues[q].k[i].type == KEVENT_POLL &&
			    (uint32_t)queues[q].k[i].id == (uint32_t)fd)
				queues[q].k[i].used = 0;
}

static struct fake_kevent *find(int q, uint32_t type, uint64_t id)
{
	for (int i = 0; i < MAX_KEVENTS; i++)
		if (queues[q].k[i].used && queues[q].k[i].type == type && queues[q].k[i].id == id)
			return &queues[q].k[i];
	return NULL;
}

static int broken(struct ukevent *u, int err)
{
	u->ret_flags = KEVENT_RET_DONE | KEVENT_RET_BROKEN;
	u->ret_data[1] = (uint32_t)-err;
	return -1;
}

/* One entry; -1 if it failed (written into the entry, as the kernel does). */
static int apply(int q, uint32_t cmd, struct ukevent *u)
{
	struct fake_kevent *k = find(q, u->type, u->id);

	u->ret_flags = 0;
	u->ret_data[0] = u->ret_data[1] = 0;
	switch (cmd) {
	case KEVENT_CTL_ADD:
		if (k && !(u->req_flags & KEVENT_REQ_UPDATE))
			return broken(u, EEXIST);
		if (k && (u->req_flags & KEVENT_REQ_KEEP)) {
			/* Kept: only user_data; DISABLED disables. */
			k->user_data = u->user_data;
			if (u->req_flags & KEVENT_REQ_DISABLED)
				k->disabled = 1;
			break;
		}
		if (!k) {
			for (int i = 0; !k && i < MAX_KEVENTS; i++)
				if (!queues[q].k[i].used)
					k = &queues[q].k[i];
			if (!k)
				return broken(u, ENOSPC);
			k->used = 1;
			k->type = u->type;
			k->id = u->id;
			u->ret_flags |= KEVENT_RET_CREATED;
		}
		/* fall through */
	case KEVENT_CTL_MODIFY:
		if (!k)
			return broken(u, ENOENT);
		k->events = u->event;
		k->req_flags = u->req_flags;
		k->user_data = u->user_data;
		k->disabled = !!(u->req_flags & KEVENT_REQ_DISABLED);
		break;
	case KEVENT_CTL_REMOVE:
		if (!k)
			return broken(u, ENOENT);
		k->used = 0;
		break;
	case KEVENT_CTL_ENABLE:
	case KEVENT_CTL_DISABLE:
		if (!k)
			return broken(u, ENOENT);
		k->disabled = cmd == KEVENT_CTL_DISABLE;
		break;
	default:
		return broken(u, EINVAL);
	}
	u->ret_flags |= KEVENT_RET_DONE;
	return 0;
}

static long ctl(int fd, uint32_t cmd, uint32_t num, void *arg)
{
	if (cmd == KEVENT_CTL_PROBE && fd == -1) {
		struct kevent_probe *p = arg;

		memset(p, 0, sizeof(*p));
		p->magic = KEVENT_PROBE_MAGIC;
		p->version = KEVENT_ABI_VERSION;
		p->max_batch = 1 << 20;
		p->wait_args_size = sizeof(struct kevent_wait_args);
		p->max_changes = 64;
		p->ret_flags = KEVENT_RET_BROKEN | KEVENT_RET_DONE | KEVENT_RET_CREATED |
			       KEVENT_RET_COMPLETE;
		p->req_flags = 0x3ff;
		p->event_size = sizeof(struct kevent_event);
		return sizeof(*p);
	}
	if (!is_queue(fd))
		return fcntl(fd, F_GETFD) < 0 ? -EBADF : -EINVAL;
	for (uint32_t i = 0; i < num; i++)
		if (apply(fd, cmd, (struct ukevent *)arg + i))
			return i + 1;
	return num;
}

static long get_events(int fd, struct kevent_event *ev, uint32_t max, struct kevent_wait_args *a)
{
	uint32_t n = 0;

	if (!is_queue(fd))
		return -EBADF;
	if (a && a->nr_changes) {
		struct kevent_ctl_batch *b = (void *)(uintptr_t)a->changes;

		for (uint32_t j = 0; j < a->nr_changes; j++)
			for (uint32_t i = 0; i < b[j].num; i++)
				if (apply(fd, b[j].cmd, (struct ukevent *)(uintptr_t)b[j].entries + i))
					return 0;	/* a failed change ends the wait */
	}
	for (int i = 0; i < MAX_KEVENTS && n < max; i++) {
		struct fake_kevent *k = &queues[fd].k[i];
		struct pollfd p = { .fd = (int)k->id, .events = (short)k->events };

		if (!k->used || k->disabled || k->type != KEVENT_POLL)
			continue;
		if (poll(&p, 1, 0) != 1 || !p.revents)
			continue;
		ev[n] = (struct kevent_event){ .user_data = k->user_data, .id = k->id,
					       .events = p.revents, .type = KEVENT_POLL,
					       .flags = KEVENT_EV_NODATA };
		n++;
		if (k->req_flags & KEVENT_REQ_DISPATCH)
			k->disabled = 1;
	}
	return n;
}

static long syscall_uncounted(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	switch (nr) {
	case 500: {	/* kevent_create */
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fd >= MAX_QUEUES)
			return -EMFILE;
		memset(&queues[fd], 0, sizeof(queues[fd]));
		queues[fd].used = 1;
		return fd;
	}
	case 501:	/* kevent_ctl */
		return ctl((int)a0, (uint32_t)a1, (uint32_t)a2, (void *)(uintptr_t)a3);
	case 502:	/* kevent_get_events */
		return get_events((int)a0, (void *)(uintptr_t)a1, (uint32_t)a2,
				  (void *)(uintptr_t)a3);
	}
	return -ENOSYS;
}

/* Called by kevent-sys's syscall6() in count.sh's build, for the syscall. */
long fake_syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		   uint64_t a5)
{
	long r;

	(void)a4;
	(void)a5;
	if (fake_collecting)
		CALLGRIND_TOGGLE_COLLECT;
	r = syscall_uncounted(nr, a0, a1, a2, a3);
	if (fake_collecting)
		CALLGRIND_TOGGLE_COLLECT;
	return r;
}
