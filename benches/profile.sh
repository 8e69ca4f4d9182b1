#!/usr/bin/env bash
# Where a mechanism's time goes, function by function, kernel and user.
#
#   benches/profile.sh [--kernel BZIMAGE] [--out DIR] [--callers SYM] -- ARGS...
#
# Boots the plain kernel (or BZIMAGE) under QEMU -icount, where guest time
# is the count of instructions executed, and runs the benchmark driver
# (target/release/kevent-benches ARGS...) under `perf record -e cpu-clock`:
# the hrtimer-driven samples then fall in proportion to instructions, so
# the profile is an instruction breakdown (cache misses count for
# nothing). Only the benchmark's own threads are sampled, in kernel and
# user mode, idle time excluded. It prints the top symbols (`perf report --sort sym`) and keeps
# perf.data and the report in DIR (default: report/profile-<date-time>).
# Pick one mechanism and workload, as in:
#
#   benches/profile.sh -- --quick --reps 1 --only libevent-bench --mechanism kevent
#
# --callers SYM also prints the call chains into SYM. If the first
# argument is an executable's path, that program runs instead of the driver
# (benches/loops.c has small loops of single calls for this).
. "$(dirname "$0")/../ci/lib.sh"
cd "$REPO_ROOT"

kernel_args=() out="" callers=""
while (($#)); do
	case "$1" in
	--kernel) kernel_args=(--kernel "${2:?--kernel needs a bzImage}"); shift ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--callers) callers=${2:?--callers needs a symbol}; shift ;;
	--) shift; break ;;
	*) die "unknown option '$1' (usage: benches/profile.sh [--kernel BZ] [--out DIR] [--callers SYM] -- ARGS...)" ;;
	esac
	shift
done
(($#)) || die "no benchmark arguments (see the top of benches/profile.sh)"
command -v perf >/dev/null || die "perf is missing: run ci/setup.sh (package linux-perf)"
out=${out:-$REPO_ROOT/report/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cargo build -q --release -p kevent-benches
vmlinux=$(build_dir minimal)/vmlinux

if [ -x "${1}" ] && [[ "$1" == /* ]]; then
	prog=("$@")
else
	prog=("$REPO_ROOT/target/release/kevent-benches" "$@")
fi
guest=$out/guest.sh
cat >"$guest" <<EOF
#!/bin/sh
# 10 kHz of guest time: one sample per 100,000 instructions under -icount.
# perf.data on the guest's tmpfs: writing it through 9p would be profiled.
perf record -q -e cpu-clock -F 10000 -g -o /tmp/perf.data -- \\
	$(printf '%q ' "${prog[@]}") >"$out/bench.txt" 2>&1 || exit 1
perf report -q -i /tmp/perf.data --kallsyms=/proc/kallsyms --no-children \\
	--sort sym --stdio -g none -n --percent-limit 0.05 >"$out/profile.txt" 2>/dev/null
perf report -q -i /tmp/perf.data --kallsyms=/proc/kallsyms --no-children \\
	--sort dso --stdio -g none >"$out/dso.txt" 2>/dev/null
if [ -n "$callers" ]; then
	perf report -q -i /tmp/perf.data --kallsyms=/proc/kallsyms --no-children \\
		--sort sym --stdio -G --symbol-filter="$callers" >"$out/callers.txt" 2>/dev/null
fi
cp /tmp/perf.data "$out/perf.data"
exit 0
EOF
chmod +x "$guest"
"$REPO_ROOT/ci/vm-run.sh" "${kernel_args[@]}" --icount --timeout 1800 --rwdir "$out" -- "$guest" ||
	die "the profiling run failed (see $out)"
cat "$out/bench.txt" | grep -E '^\[' || true
echo "== by object"
head -n 12 "$out/dso.txt"
echo "== top symbols (share of instructions)"
head -n 45 "$out/profile.txt"
echo "(kept in $out; vmlinux: $vmlinux)"
