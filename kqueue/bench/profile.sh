#!/usr/bin/env bash
# Exact instruction profiles of overhead.c's loops (benches/insn-profile):
# one boot of the minimal kernel (or --kernel BZIMAGE --map SYSTEM.MAP)
# under -icount with one vCPU, each LOOP one window of ROUNDS rounds.
# overhead.c is linked statically with libkqueue.a, so the library's own
# functions (not only its exported ones) have names in the profile.
#
#   kqueue/bench/profile.sh [--kernel BZ --map MAP] [--out DIR] [--rounds N]
#                           [--lib LIBKQUEUE.A] LOOP...
#
# --lib: another build of the static library (one with line tables, for
# symbolize.py --lines: CARGO_PROFILE_RELEASE_DEBUG=line-tables-only).
# Writes DIR/LOOP.tb and DIR/LOOP.txt (instructions per round, by
# function), with copies of System.map and the binary. Compare two loops:
#   benches/insn-profile/symbolize.py DIR/kq-delete.tb --iterations N \
#     --diff DIR/raw-delete.tb --kernel DIR/System.map --user DIR/overhead
. "$(dirname "$0")/../../ci/lib.sh"
cd "$REPO_ROOT"

kernel=$(build_dir minimal)/arch/x86/boot/bzImage map="" out="" rounds=2000 lib=""
while (($#)); do
	case "$1" in
	--kernel) kernel=${2:?--kernel needs a bzImage}; shift ;;
	--map) map=${2:?--map needs a System.map}; shift ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--rounds) rounds=${2:?--rounds needs a number}; shift ;;
	--lib) lib=${2:?--lib needs a libkqueue.a}; shift ;;
	--*) die "unknown option '$1' (see the top of $0)" ;;
	*) break ;;
	esac
	shift
done
(($#)) || die "no loops (usage: $0 [--kernel BZ --map MAP] [--out DIR] [--rounds N] [--lib A] LOOP...)"
[ -n "$map" ] || map=$(dirname "$kernel")/../../../System.map
[ -f "$map" ] || die "no System.map for $kernel: give --map"
out=${out:-$REPO_ROOT/report/kqueue-profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cp "$map" "$out/System.map"
map=$out/System.map

header=$KERNEL_TREE/include/uapi/linux/kevent.h
[ -f "$header" ] || die "no $header: ci/kernel-tree.sh apply"
plugin=$("$REPO_ROOT/benches/insn-profile/build.sh")
stage=$REPO_ROOT/target/kqueue-bench/stage
PREFIX=$stage "$REPO_ROOT/kqueue/install.sh" >&2
lib=${lib:-$stage/lib/libkqueue.a}
# Static and not position-independent: user addresses are the binary's.
gcc -O2 -Wall -Werror -static -no-pie -include "$header" -I"$REPO_ROOT/benches/insn-profile" \
	-I"$stage/include/kqueue" -o "$out/overhead" kqueue/bench/overhead.c \
	"$lib" -lpthread -ldl -lm
rm -f "$out"/window.*
cmds=()
for loop in "$@"; do cmds+=("$out/overhead $rounds 1 $loop &&"); done
"$REPO_ROOT/ci/vm-run.sh" --kernel "$kernel" --icount --cpus 1 --timeout 1800 \
	--plugin "$plugin,out=$out/window" -- sh -c "${cmds[*]} true"
i=0
for loop in "$@"; do
	i=$((i + 1))
	w=$out/window.$i
	[ -f "$w" ] || die "no profile of window $i ($loop)"
	mv "$w" "$out/$loop.tb"
	python3 "$REPO_ROOT/benches/insn-profile/symbolize.py" "$out/$loop.tb" \
		--iterations "$rounds" --kernel "$map" --user "$out/overhead" --top 60 >"$out/$loop.txt"
	echo "$loop: $(head -n 1 "$out/$loop.txt")"
done
