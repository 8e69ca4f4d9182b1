#!/usr/bin/env bash
# Builds the real clients of libkqueue against this library, from
# Debian's source packages (deb-src: ci/setup.sh):
#   libevent 2.1.12-stable-8: its kqueue backend (plus epoll, to compare),
#     test/regress, test/bench and the small tests
#   libev 4.33-1: the kqueue backend and its test programs
# Sources are fetched once into $KEVENT_CACHE/clients (apt-get source);
# builds go to OUTDIR (default target/kqueue-clients). Run the tests in
# the patched kernel with kqueue/clients/run.sh (it says how).
#
#   kqueue/clients/build.sh [OUTDIR]
. "$(dirname "$0")/../../ci/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$REPO_ROOT/target/kqueue-clients}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$KEVENT_CACHE/clients
LIBEVENT=libevent-2.1.12-stable LIBEVENT_V=2.1.12-stable-8
LIBEV=libev-4.33 LIBEV_V=1:4.33-1

apt_source "$src" libevent "$LIBEVENT_V" "$LIBEVENT"
apt_source "$src" libev "$LIBEV_V" "$LIBEV"

stage_libkqueue "$out/stage"

# libevent: configure finds <sys/event.h> and kqueue() through pkg-config's
# flags. Its "working kqueue" check runs a program, which fails on a host
# kernel without kevent: the same check passes in the patched kernel
# (kqueue/tests/c covers it), so HAVE_WORKING_KQUEUE is set after
# configure. The epoll backend is built too: the same binaries run on
# either backend (EVENT_NOKQUEUE / EVENT_NOEPOLL).
log "libevent: configure and build in $out/libevent"
rm -rf "$out/libevent"
cp -a "$src/$LIBEVENT" "$out/libevent"
# Debian's patch touches Makefile.am (-no-undefined, for shared builds
# only): keep make from wanting automake.
unpatched_am() { find "$1" \( -name '*.am' -o -name configure.ac -o -name '*.m4' \) -exec touch -d 2000-01-01 {} +; }
unpatched_am "$out/libevent"
(
	cd "$out/libevent"
	quiet ./configure --disable-shared --disable-openssl --disable-samples \
		CPPFLAGS="$kq_cflags" LIBS="$kq_libs" CFLAGS="-O2 -g -Wno-int-conversion"
	grep -q '^#define HAVE_SYS_EVENT_H 1' config.h || die "libevent: configure did not find <sys/event.h>"
	grep -q '^#define HAVE_KQUEUE 1' config.h || die "libevent: configure did not find kqueue()"
	sed -i 's|^/\* #undef HAVE_WORKING_KQUEUE \*/|#define HAVE_WORKING_KQUEUE 1|' config.h
	grep -q '^#define HAVE_WORKING_KQUEUE 1' config.h || die "libevent: could not set HAVE_WORKING_KQUEUE"
	quiet make -j"$(nproc)"
	quiet make -j"$(nproc)" test/regress test/bench test/test-init test/test-eof \
		test/test-closed test/test-weof test/test-time test/test-changelist test/test-fdleak \
		test/test-dumpevents
)
nm "$out/libevent/.libs/libevent_core.a" | grep ' D kqops$' >/dev/null || die "libevent: no kqueue backend built"

# libev: only the kqueue backend (and epoll, to compare), against this
# library; its event.c/ev.c test programs are not in the tarball, so the
# check is our own small program over libev's API (clients/libev-test.c).
log "libev: build in $out/libev"
rm -rf "$out/libev"
cp -a "$src/$LIBEV" "$out/libev"
unpatched_am "$out/libev"
(
	cd "$out/libev"
	quiet ./configure --disable-shared CPPFLAGS="$kq_cflags" LIBS="$kq_libs" CFLAGS="-O2 -g"
	grep -q '^#define HAVE_KQUEUE 1' config.h || die "libev: configure did not find kqueue"
	quiet make -j"$(nproc)"
)
# shellcheck disable=SC2086
cc -O2 -g -Wall -fno-strict-aliasing -I"$out/libev" -o "$out/libev-test" "$here/libev-test.c" \
	"$out/libev/.libs/libev.a" $kq_libs -lm
log "built: $out/libevent/test/regress, $out/libev-test"
