#!/bin/bash
# Runs inside the guest (ci/test.sh starts it through ci/vm-run.sh): the
# kselftest suites, then the Rust integration test binaries given as
# arguments, with KEVENT_REQUIRE=1 so that a kernel without kevent fails
# them. Prints "selftests: ..." (from run.sh) and "rust-tests: N passed,
# M failed"; exits non-zero if anything failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

"$here/run.sh" epoll kevent
rc=$?

passed=0 failed=0
for bin in "$@"; do
	echo "== rust: $(basename "$bin")"
	log=$(mktemp)
	KEVENT_REQUIRE=1 "$bin" --test-threads=2 2>&1 | tee "$log"
	brc=${PIPESTATUS[0]}
	p=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
	f=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
	# A crash before the summary still counts as a failure.
	if ((brc != 0 && f == 0)); then
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f))
	rm -f "$log"
done
echo "rust-tests: $passed passed, $failed failed"
((failed == 0)) || rc=1
exit "$rc"
