#!/usr/bin/env bash
# Build the fuzzers (kevent's, and kqueue-fuzz on libkqueue) and the stress on the host, against the series' uapi
# header as selftests/build.sh installs it ($KEVENT_CACHE/selftests/usr):
#
#   fuzz/build.sh [OUTDIR]        (default: target/fuzz)
#
# Prints the programs built, one a line. The guest runs them from the
# host's file system (fuzz/suite.sh).
. "$(dirname "$0")/../ci/lib.sh"
out=${1:-$REPO_ROOT/target/fuzz}
hdr=$KEVENT_CACHE/selftests/usr/include
[ -f "$hdr/linux/kevent.h" ] || die "no $hdr/linux/kevent.h: run selftests/build.sh first"
mkdir -p "$out"
for src in kevent-fuzz kevent-stress repro/sigchld-eintr repro/watchdog-race repro/naio-attach-fail; do
	p=$(basename "$src")
	gcc -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Werror \
		-isystem "$hdr" -o "$out/$p" "$REPO_ROOT/fuzz/$src.c" -lpthread
	echo "$out/$p"
done
# kqueue-fuzz links libkqueue (kqueue/) as a program would: installed
# into a staging prefix, found with pkg-config, the shared library by rpath.
stage=$out/kqueue-stage
rm -rf "$stage"
PREFIX=$stage "$REPO_ROOT/kqueue/install.sh" >&2
# shellcheck disable=SC2046
gcc -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Werror \
	-isystem "$hdr" $(PKG_CONFIG_PATH=$stage/lib/pkgconfig pkg-config --cflags libkqueue) \
	-o "$out/kqueue-fuzz" "$REPO_ROOT/fuzz/kqueue-fuzz.c" \
	$(PKG_CONFIG_PATH=$stage/lib/pkgconfig pkg-config --libs libkqueue) \
	-Wl,-rpath,"$stage/lib" -lpthread
echo "$out/kqueue-fuzz"
