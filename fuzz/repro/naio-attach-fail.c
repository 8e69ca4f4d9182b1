// SPDX-License-Identifier: GPL-2.0
/*
 * naio-attach-fail: a KEVENT_NAIO send that moves some bytes at its ADD,
 * then fails to watch its socket, oopses the kernel of 2026-12-01 16:21
 * (kevent-stress --fail in the debug VM: KASAN null-ptr-deref in
 * kevent_file_visit() <- kevent_naio_complete() <- kevent_naio_enqueue()).
 *
 * kevent_poll_attach_fd() sets kp->file right after its fget() and leaves
 * it set on every later error (accept, file_can_poll, kevent_file_get()
 * ENOMEM, vfs_poll() error, the close race), with kp->kf still NULL;
 * kevent_naio_enqueue() then completes the request with the bytes moved
 * (r->done), and kevent_poll_for_each() sees a file and walks kf == NULL
 * (and a file that fput() may have freed).
 *
 * Deterministic with /proc/thread-self/fail-nth: for N = 1..80 the N-th
 * fault-injection point of one ADD fails (failslab with ignore-gfp-wait
 * off, so GFP_KERNEL allocations count). Each ADD is a send of 256 KiB on
 * a unix stream socket with some room: a partial send, then the attach.
 * A fixed kernel gives ENOMEM (or the partial count in the completion),
 * never an oops. Root, debugfs, CONFIG_FAULT_INJECTION and FAILSLAB.
 *
 *   naio-attach-fail        an oops kills it (ci/vm-run.sh exits 125)
 *
 * NOT CONFIRMED: on the debug kernel of 16:59 it ran clean with only 1 of
 * the 80 ADDs failing with ENOMEM: the N-th points seem not to reach the
 * attach's allocations (or that kernel is fixed). Exit 0 proves nothing.
 */
#include "../common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>

#ifndef KEVENT_NAIO_SEND
#define KEVENT_NAIO		5
#define KEVENT_NAIO_SEND	0x1
#endif

static char buf[256 * 1024];

static int put(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, v, strlen(v)) == (ssize_t)strlen(v);
	close(fd);
	return ok ? 0 : -1;
}

int main(void)
{
	struct kevent_event ev[4];
	struct kevent_wait_args wa = { 0 };
	int s[2], n, partial = 0, enomem = 0;
	long ret, got;
	char sink[8192];

	if (access("/sys/kernel/debug/failslab", F_OK))
		mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (put("/sys/kernel/debug/failslab/ignore-gfp-wait", "N"))
		fprintf(stderr, "naio-attach-fail: no failslab: only usercopy points\n");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s))
		return 2;
	for (n = 1; n <= 80; n++) {
		struct ukevent uk = { .id = n, .type = KEVENT_NAIO,
				      .event = KEVENT_NAIO_SEND,
				      .data = PTR64(buf) };
		int q = k_create(0);
		char nth[16];

		if (q < 0)
			return 2;
		/*
		 * Fill the socket, then make room for about one skb (read
		 * 128 KiB: whole skbs must go for the sender's memory to
		 * come back): the send below moves part of its 256 KiB.
		 */
		while (send(s[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		for (got = 0; got < 128 * 1024;) {
			long m = recv(s[1], sink, sizeof(sink), MSG_DONTWAIT);

			if (m <= 0)
				break;
			got += m;
		}
		uk.__reserved[0] = s[0];		/* naio.fd */
		uk.__reserved[1] = sizeof(buf);		/* naio.len */
		snprintf(nth, sizeof(nth), "%d", n);
		if (put("/proc/thread-self/fail-nth", nth))
			return 2;
		ret = k_ctl(q, KEVENT_CTL_ADD, 1, &uk);
		put("/proc/thread-self/fail-nth", "0");
		if (ret == 1 && (uk.ret_flags & KEVENT_RET_BROKEN))
			enomem += (int32_t)uk.ret_data[1] == -ENOMEM;
		got = k_get(q, ev, 4, &wa, sizeof(wa));
		if (got == 1 && (__s64)ev[0].data > 0)
			partial++;
		close(q);
		/* drain, so the next round starts the same way */
		while (recv(s[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	printf("naio-attach-fail: 80 ADDs with one fault each: %d ENOMEM, %d completed at once with a partial count; no oops\n",
	       enomem, partial);
	return 0;
}
