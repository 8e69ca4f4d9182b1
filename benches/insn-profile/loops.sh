#!/usr/bin/env bash
# Exact instruction profiles of benches/loops.c, function by function,
# kernel and user: one boot of the minimal kernel (or --kernel BZIMAGE,
# whose System.map must sit beside it or be given with --map) under QEMU
# -icount with one vCPU and the insn_profile plugin, each MODE one window.
#
#   benches/insn-profile/loops.sh [--kernel BZ --map SYSTEM.MAP] [--out DIR] MODE[:ITERATIONS]...
#
# Writes DIR/MODE.tb (the plugin's TBs) and DIR/MODE.txt (per iteration,
# by function), with copies of System.map and the loops binary, and prints
# each profile's total. Compare two of one kernel with
#   benches/insn-profile/symbolize.py A.tb --iterations N --diff B.tb \
#     --kernel DIR/System.map --user DIR/loops
# Unlike perf, nothing is sampled: every instruction of the window is
# counted (the marker's own TB aside), and the same boot gives the same
# numbers to within a few instructions per iteration.
. "$(dirname "$0")/../../ci/lib.sh"
cd "$REPO_ROOT"

kernel=$(build_dir minimal)/arch/x86/boot/bzImage map="" out=""
while (($#)); do
	case "$1" in
	--kernel) kernel=${2:?--kernel needs a bzImage}; shift ;;
	--map) map=${2:?--map needs a System.map}; shift ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--*) die "unknown option '$1' (see the top of $0)" ;;
	*) break ;;
	esac
	shift
done
(($#)) || die "no loops (usage: $0 [--kernel BZ --map MAP] [--out DIR] MODE[:ITERATIONS]...)"
[ -n "$map" ] || map=$(dirname "$kernel")/../../../System.map
[ -f "$map" ] || die "no System.map for $kernel: give --map"
out=${out:-$REPO_ROOT/report/insn-profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The profile's own copy: a later build overwrites the kernel's.
cp "$map" "$out/System.map"
map=$out/System.map

hdr=$KEVENT_CACHE/selftests/usr/include
[ -f "$hdr/linux/kevent.h" ] || die "no uapi headers in $hdr: run selftests/build.sh first"
plugin=$("$REPO_ROOT/benches/insn-profile/build.sh")
# Static and not position-independent: user addresses are the binary's.
gcc -O2 -Wall -static -no-pie -I"$hdr" -o "$out/loops" benches/loops.c
cmds=() modes=() iters=()
for spec in "$@"; do
	mode=${spec%%:*} n=${spec#*:}
	[ "$n" = "$spec" ] && n=2000
	modes+=("$mode") iters+=("$n")
	cmds+=("$out/loops $mode $n &&")
done
rm -f "$out"/window.*
"$REPO_ROOT/ci/vm-run.sh" --kernel "$kernel" --icount --cpus 1 --timeout 1800 \
	--plugin "$plugin,out=$out/window" -- sh -c "${cmds[*]} true"
for i in "${!modes[@]}"; do
	w=$out/window.$((i + 1))
	[ -f "$w" ] || die "no profile of window $((i + 1)) (${modes[i]})"
	mv "$w" "$out/${modes[i]}.tb"
	python3 "$REPO_ROOT/benches/insn-profile/symbolize.py" "$out/${modes[i]}.tb" \
		--iterations "${iters[i]}" --kernel "$map" --user "$out/loops" --top 60 \
		>"$out/${modes[i]}.txt"
	head -n 1 "$out/${modes[i]}.txt"
done
