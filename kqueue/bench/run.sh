#!/usr/bin/env bash
# Builds overhead.c against the installed library and runs it in the
# minimal kernel: libkqueue's cost per event over raw kevent_get_events(),
# and per connection (ROUNDS/4 rounds: a new descriptor registered, its
# event waited for, the descriptor closed).
#
#   [KQ_ICOUNT=1] kqueue/bench/run.sh [ROUNDS [REPS]]   (KQ_ICOUNT: QEMU -icount, one vCPU)
. "$(dirname "$0")/../../ci/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=$REPO_ROOT/target/kqueue-bench
mkdir -p "$out"
PREFIX=$out/stage "$REPO_ROOT/kqueue/install.sh" >&2
export PKG_CONFIG_PATH=$out/stage/lib/pkgconfig
header=$KERNEL_TREE/include/uapi/linux/kevent.h
[ -f "$header" ] || die "no $header: ci/kernel-tree.sh apply"
# shellcheck disable=SC2046
cc -O2 -Wall -Werror -include "$header" -I"$REPO_ROOT/benches/insn-profile" -o "$out/overhead" "$here/overhead.c" \
	$(pkg-config --cflags --libs libkqueue) -Wl,-rpath,"$out/stage/lib"
"$REPO_ROOT/ci/vm-run.sh" ${KQ_ICOUNT:+--icount --cpus 1} --timeout 900 -- "$out/overhead" "${1:-200000}" "${2:-5}"
