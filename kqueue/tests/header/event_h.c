/*
 * <sys/event.h> without the library or a kernel (tests/header.rs compiles
 * and runs it): EV_SET, which is pure, and the layout of struct kevent,
 * checked at compile time for the ABI compiled for (-m64, -m32, -mx32)
 * and printed for the Rust test to compare with the library's struct.
 */
#include <sys/event.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define OFF(m) offsetof(struct kevent, m)

#if defined(__x86_64__) && defined(__ILP32__)
/* x32: 4-byte ident and udata, 8-byte aligned 64-bit fields */
_Static_assert(sizeof(struct kevent) == 64, "x32 struct kevent");
_Static_assert(OFF(filter) == 4 && OFF(flags) == 6 && OFF(fflags) == 8 &&
	       OFF(data) == 16 && OFF(udata) == 24 && OFF(ext) == 32,
	       "x32 offsets");
#elif defined(__i386__)
/* i386: 64-bit fields 4-byte aligned in structs */
_Static_assert(sizeof(struct kevent) == 56, "i386 struct kevent");
_Static_assert(OFF(filter) == 4 && OFF(flags) == 6 && OFF(fflags) == 8 &&
	       OFF(data) == 12 && OFF(udata) == 20 && OFF(ext) == 24,
	       "i386 offsets");
#elif UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct kevent) == 64, "LP64 struct kevent");
_Static_assert(OFF(filter) == 8 && OFF(flags) == 10 && OFF(fflags) == 12 &&
	       OFF(data) == 16 && OFF(udata) == 24 && OFF(ext) == 32,
	       "LP64 offsets");
#endif

/* libkqueue 2.x's name for FreeBSD's absolute timer deadline */
_Static_assert(NOTE_ABSOLUTE == NOTE_ABSTIME, "NOTE_ABSOLUTE");

static int failed;

#define CHECK(cond)                                                    \
	do {                                                           \
		if (!(cond)) {                                         \
			printf("%s:%d: check failed: %s\n", __FILE__,  \
			       __LINE__, #cond);                       \
			failed = 1;                                    \
		}                                                      \
	} while (0)

static int tag;

/* The caller's pointer has the name the macro's local once had. */
static void ev_set_through_kevp(void)
{
	struct kevent kev;
	struct kevent *kevp = &kev;

	memset(&kev, 0xa5, sizeof(kev));
	EV_SET(kevp, 7, EVFILT_WRITE, EV_ADD | EV_CLEAR, NOTE_LOWAT, 42, &tag);
	CHECK(kevp == &kev);
	CHECK(kev.ident == 7);
	CHECK(kev.filter == EVFILT_WRITE);
	CHECK(kev.flags == (EV_ADD | EV_CLEAR));
	CHECK(kev.fflags == NOTE_LOWAT);
	CHECK(kev.data == 42);
	CHECK(kev.udata == &tag);
	CHECK(kev.ext[0] == 0 && kev.ext[1] == 0 && kev.ext[2] == 0 &&
	      kev.ext[3] == 0);
}

/* The pointer argument is evaluated once. */
static void ev_set_evaluates_its_pointer_once(void)
{
	struct kevent kev[3];
	struct kevent *p = kev;
	int i;

	memset(kev, 0xa5, sizeof(kev));
	for (i = 0; i < 2; i++)
		EV_SET(p++, (uintptr_t)i, EVFILT_USER, EV_ADD, NOTE_TRIGGER, i,
		       NULL);
	CHECK(p == &kev[2]);
	CHECK(kev[0].ident == 0 && kev[0].data == 0);
	CHECK(kev[1].ident == 1 && kev[1].data == 1);
	CHECK(kev[1].filter == EVFILT_USER && kev[1].fflags == NOTE_TRIGGER);
	CHECK(kev[1].udata == NULL && kev[1].ext[3] == 0);
	CHECK(kev[2].flags == 0xa5a5);	/* not written */
}

int main(void)
{
	ev_set_through_kevp();
	ev_set_evaluates_its_pointer_once();
	printf("layout %zu %zu %zu %zu %zu %zu %zu %zu\n",
	       sizeof(struct kevent), OFF(ident), OFF(filter), OFF(flags),
	       OFF(fflags), OFF(data), OFF(udata), OFF(ext));
	return failed;
}
