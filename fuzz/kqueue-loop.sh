#!/bin/bash
# kqueue-fuzz in a loop, several runs at once: the search that found
# session 48's two spins and its wrong EBADF within 9 to 60 runs, where
# the test command's single run (suite.sh) meets such a bug once in dozens
# of CI runs. Runs in the guest, from the repository's root:
#
#   ci/vm-run.sh [--debug] --timeout 3000 --rwdir OUT -- \
#       fuzz/kqueue-loop.sh [--rounds N] [--jobs J] [--threads T] \
#                           [--seconds S] [--out OUT]
#
# Each round starts J runs of target/fuzz/kqueue-fuzz at once (default
# 3), each with T threads (default 1), a random seed, at most 1,000,000
# calls per thread and S seconds (default 10), under fuzz/hangdump.sh
# with a cap of 120 s (a stuck run prints its threads' stacks and queues,
# and is killed); then waits for them. A run that fails or is stuck keeps
# its output, its records and the kernel's log in OUT (default /tmp) as
# kqloop-fail-SEED.*, and ends the loop. Prints a line per round and a
# summary: "kqueue-loop: R rounds, N runs, all passed" (exit 0) or the
# failing seeds (exit 1). Repeat a run with kqueue-fuzz -s SEED.
here=$(cd "$(dirname "$0")" && pwd)
bin=${FUZZ_BIN:-$here/../target/fuzz}/kqueue-fuzz
rounds=40 jobs=3 threads=1 seconds=10 out=/tmp
while (($#)); do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	--jobs) jobs=$2; shift ;;
	--threads) threads=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--out) out=$2; shift ;;
	*) echo "kqueue-loop: unknown argument '$1' (see the top of $0)" >&2; exit 2 ;;
	esac
	shift
done
[ -x "$bin" ] || { echo "kqueue-loop: no $bin: run fuzz/build.sh on the host" >&2; exit 2; }
work=$(mktemp -d)
runs=0 failed=""
for round in $(seq 1 "$rounds"); do
	pids=()
	for j in $(seq 1 "$jobs"); do
		seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
		(
			"$here/hangdump.sh" 120 -- "$bin" -s "$seed" -n 1000000 \
				-j "$threads" -t "$seconds" -q -o "$work/$j.tsv" \
				>"$work/$j.out" 2>&1
			echo "$? $seed" >"$work/$j.rc"
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
	line="round $round:"
	for j in $(seq 1 "$jobs"); do
		read -r rc seed <"$work/$j.rc"
		runs=$((runs + 1))
		line="$line $seed=$rc"
		if [ "$rc" != 0 ]; then
			failed="$failed $seed"
			cp "$work/$j.out" "$out/kqloop-fail-$seed.out"
			cp "$work/$j.tsv" "$out/kqloop-fail-$seed.tsv" 2>/dev/null
			dmesg | tail -300 >"$out/kqloop-fail-$seed.dmesg"
			tail -20 "$work/$j.out"
		fi
	done
	echo "$line"
	[ -n "$failed" ] && break
done
rm -rf "$work"
if [ -n "$failed" ]; then
	echo "kqueue-loop: $round rounds, $runs runs, failed:$failed (outputs in $out)"
	exit 1
fi
echo "kqueue-loop: $round rounds, $runs runs, all passed"
