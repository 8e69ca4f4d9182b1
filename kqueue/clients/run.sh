#!/usr/bin/env bash
# Runs the clients built by build.sh, inside the patched kernel:
#
#   ci/vm-run.sh --timeout 3000 -- kqueue/clients/run.sh [OUTDIR]
#
#   1. libevent's test/regress forced onto the kqueue backend (this
#      library) and then onto epoll, same binary, same kernel; each run's
#      tinytest summary and its failed tests
#   2. libevent's test/test.sh small programs (test-eof, test-closed,
#      test-weof, test-time, test-changelist, test-fdleak) on both
#   3. libev-test on libev's kqueue backend
# Prints "clients: <name>: ..." lines; exits non-zero if the kqueue
# backend fails more regress tests than epoll, or libev-test fails.
set -u
out=${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/kqueue-clients}
cd "$out/libevent" || exit 1
rc=0
only() { # backend -> the environment that leaves only it
	local b all="KQUEUE EPOLL POLL SELECT DEVPOLL EVPORT"
	for b in $all; do [ "$b" = "$1" ] || printf 'EVENT_NO%s=yes ' "$b"; done
}
declare -A fails
passes_alone() { # backend test: passes in one of two runs alone
	local attempt
	for attempt in 1 2; do
		# shellcheck disable=SC2046
		env $(only "$1") timeout 300 test/regress "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}
for backend in KQUEUE EPOLL; do
	log=/tmp/regress-$backend.log
	echo "== libevent test/regress on $backend"
	# shellcheck disable=SC2046
	env $(only $backend) EVENT_SHOW_METHOD=yes timeout 1500 test/regress >"$log" 2>&1
	r=$?
	echo "bases created with: $(grep -o 'libevent using: [a-z]*' "$log" | sort | uniq -c | tr '\n' ' ')"
	summary=$(grep -E "tests ok|TESTS FAILED" "$log" | tail -n1)
	echo "clients: libevent regress $backend: ${summary:-no summary (exit $r)}"
	grep -E '^ *FAIL' "$log" | head -n 40
	# The failed tests by full name (the line that starts a test names it).
	mapfile -t failed < <(awk '
		match($0, /^[a-z0-9_]+\/[^ :]+: /) { n = substr($0, 1, RLENGTH - 2) }
		/\[[^ ]+ FAILED\]/ { print n }' "$log" | sort -u)
	# Timing tests fail under TCG when the host is loaded: a failed test
	# counts if it fails again twice when run alone.
	# A test that also fails alone on the other backend is not this
	# backend's failure (some tests fail alone on both: http/bad_request's
	# 10 ms timers under TCG).
	still=()
	other=$([ $backend = KQUEUE ] && echo EPOLL || echo KQUEUE)
	for t in "${failed[@]}"; do
		if passes_alone $backend "$t"; then
			verdict="passes alone"
		elif ! passes_alone $other "$t"; then
			verdict="fails alone twice, and so it does on $other: not counted"
		else
			verdict="fails alone twice (passes on $other)"
			still+=("$t")
		fi
		echo "clients: libevent regress $backend: $t failed in the full run; $verdict"
	done
	[ -n "$summary" ] || still+=(no-summary)
	echo "clients: libevent regress $backend: ${#still[@]} failing after retries: ${still[*]}"
	fails[$backend]=${#still[@]}
	echo "== libevent test.sh programs on $backend"
	for t in test-eof test-closed test-weof test-time test-changelist test-fdleak; do
		# shellcheck disable=SC2046
		if env $(only $backend) timeout 120 "test/$t" >/dev/null 2>&1; then
			echo "clients: libevent $t $backend: OKAY"
		else
			echo "clients: libevent $t $backend: FAILED"
			[ $backend = KQUEUE ] && rc=1
		fi
	done
done
echo "clients: libevent regress failures: kqueue ${fails[KQUEUE]}, epoll ${fails[EPOLL]}"
if ((fails[KQUEUE] > fails[EPOLL])); then
	echo "clients: FAIL: the kqueue backend fails more regress tests than epoll"
	rc=1
fi
echo "== libev on its kqueue backend"
"$out/libev-test" || rc=1
exit $rc
