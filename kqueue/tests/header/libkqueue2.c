/*
 * A program written for libkqueue 2.x's <sys/event.h> (tests/header.rs
 * compiles it, -fsyntax-only): the BSD types its header brings in
 * through <sys/types.h>, struct timespec as glibc's default features
 * give it there, NOTE_ABSOLUTE, and an EV_SET of a pointer named kevp.
 */
#include <sys/event.h>

int add_deadline(int kq, struct kevent *kevp, u_int id, long long when_us);

int add_deadline(int kq, struct kevent *kevp, u_int id, long long when_us)
{
	struct timespec ts = { 0, 0 };
	u_short flags = EV_ADD | EV_ONESHOT;

	EV_SET(kevp, id, EVFILT_TIMER, flags, NOTE_ABSOLUTE | NOTE_USECONDS,
	       when_us, NULL);
	return kevent(kq, kevp, 1, NULL, 0, &ts);
}
