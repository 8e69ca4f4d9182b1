#!/bin/bash
# The bounded fuzz and stress run of the test command: runs in the guest
# (selftests/vm-suite.sh, as a test: spec given by ci/test.sh), takes at
# most about 3 minutes under TCG, and prints one result per program and
# a summary line "fuzz-suite: N passed, M failed".
#
#   fuzz/suite.sh [--long] [--only WORD] [ignored libtest arguments]
#
#   1. kevent-fuzz, one thread, --strict (every documented bad input gets
#      its documented errno; KEVENT_NAIO requests with exact accounting),
#      30 s
#   2. kevent-fuzz, 4 threads, fork and SCM_RIGHTS in the middle, 25 s
#   3. kevent-stress, 8 threads, exact accounting, 30 s, then its other
#      phases (KEVENT_NAIO requests on connections for 10 s, closing
#      queues under waiters, a cycle of 48 queues, 8000 tiny timers, 2000
#      queues watching one pipe) and the final checks
#   4. fault injection (fuzz/faultinject.sh): kevent-stress --fail, 20 s
#      and kevent-fuzz --fail, 10 s; skipped (counted as failed) on a
#      kernel without CONFIG_FAILSLAB etc.
#   5. kqueue-fuzz (libkqueue, kqueue/): one thread 10 s, then 4 threads
#      with fork() in the middle 20 s; every errno checked against its
#      class, every event checked, no crash, no descriptor left open at
#      the end
#
# --only WORD: only the runs whose name contains WORD (e.g. --only kqueue).
# --long: the long runs instead: 200000 fuzz calls with one thread
# (--strict), 1 million with 4 threads, 1 million stress operations, 1
# million under fault injection and 200000 fuzz calls under fault
# injection, and 100000 queues watching one pipe (about 30 minutes of
# guest time under TCG); kqueue-fuzz 200000 calls with one thread and 1
# million with 4 threads (not timed yet in the long form).
# A run still going after 300 s (--long: 40000 s) is stuck: fuzz/hangdump.sh
# prints its threads' stacks and its queues' fdinfo, kills it, and the run
# fails. Records of the fuzzer go to $FUZZ_OUT, $KEVENT_RESULTS or /tmp as fuzz-*.tsv;
# fuzz/table.py turns them into the table of bad inputs. Seeds are printed;
# set FUZZ_SEED to repeat a run.
here=$(cd "$(dirname "$0")" && pwd)
bin=${FUZZ_BIN:-$here/../target/fuzz}
out=${FUZZ_OUT:-${KEVENT_RESULTS:-/tmp}}
long=0 only=""
prev=""
for a in "$@"; do
	[ "$a" = --long ] && long=1
	[ "$prev" = --only ] && only=$a
	prev=$a
done
seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
passed=0 failed=0
run() {
	local name=$1 rc
	shift
	if [ -n "$only" ] && [[ "$name" != *"$only"* ]]; then
		return 0
	fi
	echo "== fuzz-suite: $name: $*"
	t0=$SECONDS
	# A run that outlasts its cap is stuck: hangdump.sh shows where
	# (stacks, the queues' fdinfo) and kills it (exit 124).
	"$here/hangdump.sh" "$cap" -- "$@"
	rc=$?
	if ((rc == 0)); then
		echo "fuzz-suite: $name: ok ($((SECONDS - t0)) s)"
		passed=$((passed + 1))
	elif ((rc == 124)); then
		echo "fuzz-suite: $name: FAIL (stuck: still running after $cap s, killed; where it was is above)"
		failed=$((failed + 1))
	else
		echo "fuzz-suite: $name: FAIL (exit $rc, $((SECONDS - t0)) s)"
		failed=$((failed + 1))
	fi
}
if ((long)); then
	# calls (operations) of each run, and a time cap far above them
	n1=200000 n2=1000000 n3=1000000 n4=1000000 n5=200000 w=100000
	t1=36000 t2=36000 t3=36000 t4=36000 t5=36000
	n6=200000 n7=1000000 t6=36000 t7=36000
	cap=40000
else
	n1=1000000 n2=1000000 n3=1000000 n4=1000000 n5=1000000 w=2000
	t1=30 t2=25 t3=30 t4=20 t5=10
	n6=1000000 n7=1000000 t6=10 t7=20
	# each run takes at most about 50 s of a loaded CI machine
	cap=300
fi
run "fuzz 1 thread" "$bin/kevent-fuzz" -s "$seed" -n "$n1" -t "$t1" --strict -q -o "$out/fuzz-single.tsv"
run "fuzz 4 threads" "$bin/kevent-fuzz" -s "$((seed + 1))" -n "$n2" -t "$t2" -j 4 -o "$out/fuzz-threads.tsv"
run "stress 8 threads" "$bin/kevent-stress" -s "$((seed + 2))" -n "$n3" -t "$t3" -j 8 -w "$w"
# The pollfree_signalfd EINTR explained (fuzz/repro/sigchld-eintr.c): a
# SIGCHLD queued while the parent blocks it interrupts another thread's
# wait; a wait with SIGCHLD in its mask is not interrupted.
run "SIGCHLD and the wait's signal mask" "$bin/sigchld-eintr"
if [ -z "$only" ] || [[ "fault injection" == *"$only"* ]]; then
if [ -d /sys/kernel/debug/failslab ] || { mount -t debugfs none /sys/kernel/debug 2>/dev/null; [ -d /sys/kernel/debug/failslab ]; }; then
	run "stress under fault injection" "$here/faultinject.sh" -p 10 -- \
		"$bin/kevent-stress" -s "$((seed + 3))" -n "$n4" -t "$t4" -j 8 --fail
	run "fuzz under fault injection" "$here/faultinject.sh" -p 10 -- \
		"$bin/kevent-fuzz" -s "$((seed + 4))" -n "$n5" -t "$t5" -j 2 --fail -o "$out/fuzz-fail.tsv"
else
	echo "fuzz-suite: fault injection: FAIL (no /sys/kernel/debug/failslab: CONFIG_FAILSLAB missing)"
	failed=$((failed + 1))
fi
fi
run "kqueue-fuzz 1 thread" "$bin/kqueue-fuzz" -s "$((seed + 5))" -n "$n6" -t "$t6" -q -o "$out/kqueue-fuzz-single.tsv"
run "kqueue-fuzz 4 threads and fork" "$bin/kqueue-fuzz" -s "$((seed + 6))" -n "$n7" -t "$t7" -j 4 -q -o "$out/kqueue-fuzz-threads.tsv"
echo "fuzz-suite: $passed passed, $failed failed"
((failed == 0))
