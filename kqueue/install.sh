#!/usr/bin/env bash
# Builds and installs libkqueue (this crate): the shared library
# (libkqueue.so.1: libkqueue's name, a new major for FreeBSD 12's struct;
# and the libkqueue.so link), the
# static library, <kqueue/sys/event.h> and libkqueue.pc.
#
#   kqueue/install.sh [--no-build]
#
# Environment: PREFIX (default /usr/local), LIBDIR (default $PREFIX/lib),
# DESTDIR (staging root, default empty), CARGO_PROFILE (release).
# Then: ldconfig, or -Wl,-rpath,$LIBDIR; cc prog.c $(pkg-config --cflags --libs libkqueue)
# (PKG_CONFIG_PATH=$LIBDIR/pkgconfig for a PREFIX pkg-config does not search;
# README.md, "Build, install, use").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib}
DESTDIR=${DESTDIR:-}
profile=${CARGO_PROFILE:-release}
# Compatibility level with libkqueue's pkg-config version (API 2.x).
VERSION=2.6.0

if [ "${1:-}" != --no-build ]; then
	cargo build -q --manifest-path "$here/Cargo.toml" --profile "$profile" -p kevent-kqueue
fi
target=$(cargo metadata -q --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
dir=$target/$([ "$profile" = dev ] && echo debug || echo "$profile")
[ -f "$dir/libkqueue.so" ] && [ -f "$dir/libkqueue.a" ] || {
	echo "install.sh: $dir/libkqueue.{so,a} not built" >&2
	exit 1
}

install -d "$DESTDIR$LIBDIR/pkgconfig" "$DESTDIR$PREFIX/include/kqueue/sys"
install -m 0755 "$dir/libkqueue.so" "$DESTDIR$LIBDIR/libkqueue.so.1"
ln -sf libkqueue.so.1 "$DESTDIR$LIBDIR/libkqueue.so"
install -m 0644 "$dir/libkqueue.a" "$DESTDIR$LIBDIR/libkqueue.a"
install -m 0644 "$here/include/sys/event.h" "$DESTDIR$PREFIX/include/kqueue/sys/event.h"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$LIBDIR|" -e "s|@VERSION@|$VERSION|" \
	"$here/libkqueue.pc.in" >"$DESTDIR$LIBDIR/pkgconfig/libkqueue.pc"
echo "installed libkqueue into $DESTDIR$PREFIX (lib: $LIBDIR)"
echo "next: ldconfig (a system LIBDIR), else -Wl,-rpath,$LIBDIR or LD_LIBRARY_PATH=$LIBDIR;" \
	"PKG_CONFIG_PATH=$LIBDIR/pkgconfig"
