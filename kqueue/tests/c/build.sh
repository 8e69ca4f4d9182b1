#!/usr/bin/env bash
# Builds the C conformance tests against libkqueue as it installs:
# kqueue/install.sh into OUTDIR/stage, then each test with
# `pkg-config --cflags --libs libkqueue` (shared, with an rpath to the
# staged library) and once statically linked (libkqueue.a). Prints the
# test binaries, one per line.
#
#   kqueue/tests/c/build.sh OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$out/stage
rm -rf "$stage"
PREFIX=$stage "$here/../../install.sh" >&2
export PKG_CONFIG_PATH=$stage/lib/pkgconfig
cflags=$(pkg-config --cflags libkqueue)
libs=$(pkg-config --libs libkqueue)
static_libs=$(pkg-config --static --libs libkqueue)
warn=(-O2 -g -Wall -Wextra -Werror -Wno-missing-field-initializers)
for src in "$here"/*.c; do
	name=$(basename "$src" .c)
	# shellcheck disable=SC2086
	cc "${warn[@]}" $cflags -o "$out/$name" "$src" $libs -Wl,-rpath,"$stage/lib" -lpthread
	# shellcheck disable=SC2086
	cc "${warn[@]}" $cflags -o "$out/$name-static" "$src" \
		-Wl,-Bstatic -lkqueue -Wl,-Bdynamic ${static_libs/-lkqueue/} -L"$stage/lib"
	echo "$out/$name"
	echo "$out/$name-static"
done
