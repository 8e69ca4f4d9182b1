/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <sys/event.h>: FreeBSD's kqueue API (FreeBSD 12 layout), implemented on
 * the Linux kevent queue by libkqueue (the kevent project's kqueue/ crate).
 *
 * Installed as <prefix>/include/kqueue/sys/event.h, like libkqueue's:
 * compile with `pkg-config --cflags --libs libkqueue`.
 */
#ifndef _SYS_EVENT_H_
#define _SYS_EVENT_H_

#include <sys/types.h>	/* as libkqueue's header: u_int, u_short, ... */
#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct timespec;

#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
#define EVFILT_AIO		(-3)	/* not supported: EINVAL */
#define EVFILT_VNODE		(-4)
#define EVFILT_PROC		(-5)
#define EVFILT_SIGNAL		(-6)
#define EVFILT_TIMER		(-7)
#define EVFILT_PROCDESC		(-8)	/* not supported: EINVAL */
#define EVFILT_FS		(-9)	/* not supported: EINVAL */
#define EVFILT_LIO		(-10)	/* not supported: EINVAL */
#define EVFILT_USER		(-11)
#define EVFILT_SENDFILE		(-12)	/* not supported: EINVAL */
#define EVFILT_EMPTY		(-13)	/* not supported: EINVAL */
#define EVFILT_SYSCOUNT		13

struct kevent {
	uintptr_t	ident;		/* identifier for this event */
	short		filter;		/* filter for event */
	unsigned short	flags;		/* action flags for kqueue */
	unsigned int	fflags;		/* filter flag value */
	int64_t		data;		/* filter data value */
	void		*udata;		/* opaque user data identifier */
	uint64_t	ext[4];		/* zero on output (FreeBSD passes ext[2..3] through) */
};

/*
 * Evaluates kevp_ once, into a local with a reserved name, so that any
 * caller's name works: a local named `kevp` made `EV_SET(kevp, ...)`
 * initialise it from itself and write through garbage.
 */
#define EV_SET(kevp_, a, b, c, d, e, f) do {	\
	struct kevent *__kevp__ = (kevp_);	\
	__kevp__->ident = (a);			\
	__kevp__->filter = (b);			\
	__kevp__->flags = (c);			\
	__kevp__->fflags = (d);			\
	__kevp__->data = (e);			\
	__kevp__->udata = (f);			\
	__kevp__->ext[0] = 0;			\
	__kevp__->ext[1] = 0;			\
	__kevp__->ext[2] = 0;			\
	__kevp__->ext[3] = 0;			\
} while (0)

/* actions */
#define EV_ADD		0x0001		/* add event to kq (implies enable) */
#define EV_DELETE	0x0002		/* delete event from kq */
#define EV_ENABLE	0x0004		/* enable event */
#define EV_DISABLE	0x0008		/* disable event (not reported) */
#define EV_FORCEONESHOT	0x0100		/* not supported: ignored */

/* flags */
#define EV_ONESHOT	0x0010		/* only report one occurrence */
#define EV_CLEAR	0x0020		/* clear event state after reporting */
#define EV_RECEIPT	0x0040		/* force EV_ERROR on success, data=0 */
#define EV_DISPATCH	0x0080		/* disable event after reporting */

#define EV_SYSFLAGS	0xF000		/* reserved by system */
#define EV_DROP		0x1000		/* note should be dropped */
#define EV_FLAG1	0x2000		/* filter-specific flag */
#define EV_FLAG2	0x4000		/* filter-specific flag */

/* returned values */
#define EV_EOF		0x8000		/* EOF detected */
#define EV_ERROR	0x4000		/* error, data contains errno */

/* EVFILT_USER */
#define NOTE_FFNOP	0x00000000	/* ignore input fflags */
#define NOTE_FFAND	0x40000000	/* AND fflags */
#define NOTE_FFOR	0x80000000	/* OR fflags */
#define NOTE_FFCOPY	0xc0000000	/* copy fflags */
#define NOTE_FFCTRLMASK	0xc0000000	/* masks for operations */
#define NOTE_FFLAGSMASK	0x00ffffff
#define NOTE_TRIGGER	0x01000000	/* Cause the event to be triggered */

/* EVFILT_READ, EVFILT_WRITE */
#define NOTE_LOWAT	0x0001		/* low water mark (READ; WRITE: accepted, not applied) */
#define NOTE_FILE_POLL	0x0002		/* accepted, ignored (FreeBSD: a vnode READ always ready) */

/* EVFILT_VNODE */
#define NOTE_DELETE	0x0001		/* vnode was removed */
#define NOTE_WRITE	0x0002		/* data contents changed */
#define NOTE_EXTEND	0x0004		/* size increased */
#define NOTE_ATTRIB	0x0008		/* attributes changed */
#define NOTE_LINK	0x0010		/* link count changed */
#define NOTE_RENAME	0x0020		/* vnode was renamed */
#define NOTE_REVOKE	0x0040		/* vnode access was revoked */
#define NOTE_OPEN	0x0080		/* vnode was opened: accepted, never reported */
#define NOTE_CLOSE	0x0100		/* file closed, fd did not allow write: accepted, never reported */
#define NOTE_CLOSE_WRITE 0x0200		/* file closed, fd did allow write: accepted, never reported */
#define NOTE_READ	0x0400		/* file was read: accepted, never reported */

/* EVFILT_PROC */
#define NOTE_EXIT	0x80000000	/* process exited */
#define NOTE_FORK	0x40000000	/* not supported: EINVAL */
#define NOTE_EXEC	0x20000000	/* not supported: EINVAL */
#define NOTE_PCTRLMASK	0xf0000000	/* mask for hint bits */
#define NOTE_PDATAMASK	0x000fffff	/* mask for pid */
#define NOTE_TRACK	0x00000001	/* not supported: EINVAL */
#define NOTE_TRACKERR	0x00000002	/* not supported: EINVAL */
#define NOTE_CHILD	0x00000004	/* not supported: EINVAL */

/* EVFILT_TIMER: units of data (milliseconds by default) */
#define NOTE_SECONDS	0x00000001
#define NOTE_MSECONDS	0x00000002
#define NOTE_USECONDS	0x00000004
#define NOTE_NSECONDS	0x00000008
#define NOTE_ABSTIME	0x00000010	/* data is an absolute time (epoch) */
/* libkqueue 2.x's (and macOS's) name for it: data is an absolute
 * deadline since the epoch, in the unit of the other notes */
#define NOTE_ABSOLUTE	NOTE_ABSTIME

int kqueue(void);
/* flags: O_CLOEXEC (always set), O_NONBLOCK (accepted) */
int kqueue1(int flags);
int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif /* !_SYS_EVENT_H_ */
