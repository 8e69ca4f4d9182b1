#!/usr/bin/env bash
# A/B of kernels on the per-call loops and two per-event workloads, under
# QEMU -icount, where guest time counts instructions (repeatable to about
# 1 %; cache misses count for nothing):
#
#   benches/ab.sh [--out DIR] TAG=BZIMAGE [TAG=BZIMAGE...]
#
# Boots each bzImage in turn with the same binaries and runs
# benches/ab-guest.sh in it: benches/loops.c (a zero-timeout wait on an
# empty queue, 64 ready level-triggered events taken and read, one ready
# event, one add and remove, 64 adds and 64 removes, one TCP echo with a
# KEVENT_NAIO receive that stays; epoll and kevent, each twice), then
# kevent-benches --quick --reps 5 on pipes (1 and 100 tokens: epoll,
# kevent) and libevent-bench (epoll, kevent, none). Prints one table, a
# column per TAG: ns per call or per event, medians, i.e. instructions.
# Keep a copy of each bzImage (and its vmlinux, to profile it later):
# builds overwrite them. Example, before and after a kernel change:
#
#   cp $KEVENT_CACHE/build/minimal/arch/x86/boot/bzImage /tmp/before
#   ... change, ci/build-kernel.sh ...
#   benches/ab.sh before=/tmp/before after=$KEVENT_CACHE/build/minimal/arch/x86/boot/bzImage
. "$(dirname "$0")/../ci/lib.sh"
cd "$REPO_ROOT"

out=""
while (($#)); do
	case "$1" in
	--out) out=${2:?--out needs a directory}; shift ;;
	--*) die "unknown option '$1' (usage: benches/ab.sh [--out DIR] TAG=BZIMAGE...)" ;;
	*) break ;;
	esac
	shift
done
(($#)) || die "no kernels (usage: benches/ab.sh [--out DIR] TAG=BZIMAGE...)"
out=${out:-$REPO_ROOT/report/ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

hdr=$KEVENT_CACHE/selftests/usr/include
[ -f "$hdr/linux/kevent.h" ] || die "no uapi headers in $hdr: run selftests/build.sh first"
cargo build -q --release -p kevent-benches
mkdir -p target/ab
gcc -O2 -Wall -I"$hdr" -o target/ab/loops benches/loops.c
tags=()
for spec in "$@"; do
	tag=${spec%%=*} image=${spec#*=}
	[ -n "$tag" ] && [ "$tag" != "$spec" ] && [ -f "$image" ] ||
		die "'$spec': want TAG=BZIMAGE with an existing bzImage"
	log "$tag: $image"
	"$REPO_ROOT/ci/vm-run.sh" --kernel "$image" --icount --timeout 1800 --rwdir "$out" -- \
		"$REPO_ROOT/benches/ab-guest.sh" "$out" "$tag" "$REPO_ROOT/target/ab/loops" \
		"$REPO_ROOT/target/release/kevent-benches" || die "the run of $tag failed (see $out)"
	tags+=("$tag")
done
python3 "$REPO_ROOT/benches/ab_table.py" "$out" "${tags[@]}" | tee "$out/table.md"
