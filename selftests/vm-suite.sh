#!/bin/bash
# Runs inside the guest (ci/test.sh starts it through ci/vm-run.sh): the
# kselftest suites (epoll, kevent, and kevent again as static i386 and x32
# programs: kevent-m32, kevent-mx32), then the Rust programs given as
# arguments:
#   test:PATH[:ARG]    a libtest binary (cargo test --no-run), whose tests
#                      count one by one; run with KEVENT_REQUIRE=1, so that
#                      a kernel without kevent fails them (also kqueue's C
#                      tests and fuzz/suite.sh, whose summary lines read
#                      like libtest's); ARG
#                      is passed on (the Rust crates' kernel tests are
#                      #[ignore]d on the host: test:PATH:--include-ignored)
#   example:PATH[:ARG] an example that exits 0 when it works; one test
# Prints "selftests: ..." (from run.sh) and "rust-tests: N passed, M
# failed"; exits non-zero if anything failed.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../ci/lib.sh"
# Keep going past a failing suite: every result is counted.
set +e

"$here/run.sh" epoll kevent kevent-m32 kevent-mx32
rc=$?

passed=0 failed=0
run_test() {
	local bin=${1%%:*} arg= log brc p f
	[[ $1 == *:* ]] && arg=${1#*:}
	echo "== rust test: $(basename "$bin") $arg"
	log=$(mktemp)
	t0=$SECONDS
	KEVENT_REQUIRE=1 "$bin" --test-threads=2 ${arg:+"$arg"} 2>&1 | tee "$log"
	brc=${PIPESTATUS[0]}
	echo "== rust test: $(basename "$bin") took $((SECONDS - t0)) s"
	read -r p f < <(libtest_counts "$log")
	# A crash before the summary still counts as a failure.
	if ((brc != 0 && f == 0)); then
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f))
	rm -f "$log"
}

run_example() {
	local bin=${1%%:*} arg=
	[[ $1 == *:* ]] && arg=${1#*:}
	echo "== rust example: $(basename "$bin") $arg"
	if timeout 120 "$bin" ${arg:+"$arg"}; then
		passed=$((passed + 1))
	else
		echo "FAIL: example $(basename "$bin") $arg"
		failed=$((failed + 1))
	fi
}

for spec in "$@"; do
	case $spec in
	test:*) run_test "${spec#test:}" ;;
	example:*) run_example "${spec#example:}" ;;
	*) echo "vm-suite: unknown argument $spec" >&2; failed=$((failed + 1)) ;;
	esac
done
echo "rust-tests: $passed passed, $failed failed"
((failed == 0)) || rc=1
exit "$rc"
