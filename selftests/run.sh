#!/usr/bin/env bash
# Run kselftest suites inside the test VM and compare with the baselines.
#
#   selftests/run.sh SUITE...      (inside the guest: see ci/vm-run.sh)
#
# Each suite's binaries come from $KEVENT_CACHE/selftests/<suite>/ (built on
# the host by selftests/build.sh). A test fails the run unless
# selftests/baseline/<suite>.txt lists it as 'fail' or 'flaky' on the base.
# TAP output goes to $KEVENT_RESULTS/<suite>-<binary>.tap when set.
# Last line: "selftests: N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEVENT_CACHE=${KEVENT_CACHE:-/var/cache/kevent}
out_dir=${KEVENT_RESULTS:-$(mktemp -d)}
(($#)) || { echo "usage: selftests/run.sh SUITE..." >&2; exit 2; }

passed=0 failed=0 skipped=0 known=0
for suite in "$@"; do
	bin_dir=$KEVENT_CACHE/selftests/$suite
	baseline=$here/baseline/$suite.txt
	bins=()
	for b in "$bin_dir"/*; do
		[ -f "$b" ] && [ -x "$b" ] && bins+=("$b")
	done
	if ((${#bins[@]} == 0)); then
		echo "suite $suite: no test binaries in $bin_dir (run selftests/build.sh)" >&2
		failed=$((failed + 1))
		continue
	fi
	for b in "${bins[@]}"; do
		tap=$out_dir/$suite-$(basename "$b").tap
		echo "== $suite/$(basename "$b")"
		(cd /tmp && "$b") >"$tap" 2>&1
		rc=$?
		results=$(grep -E '^(not )?ok [0-9]+ ' "$tap")
		if [ -z "$results" ]; then
			echo "  no TAP results (exit $rc); output:" && tail -n 20 "$tap"
			failed=$((failed + 1))
			continue
		fi
		while read -r line; do
			name=$(sed -E 's/^(not )?ok [0-9]+ ([^ ]+).*/\2/' <<<"$line")
			expect=$(awk -v t="$name" '$1 == t { print $2 }' "$baseline" 2>/dev/null)
			if [[ "$line" == *"# SKIP"* ]]; then
				skipped=$((skipped + 1)); echo "  skip  $name"
			elif [[ "$line" == ok* ]]; then
				passed=$((passed + 1))
				[ "$expect" = fail ] && echo "  note: $name passed, baseline says it fails on the base"
			elif [ -n "$expect" ]; then
				known=$((known + 1)); echo "  known $name ($expect on the base kernel too)"
			else
				failed=$((failed + 1)); echo "  FAIL  $name"
				# The harness's lines from "RUN <test>" to its verdict.
				awk -v t="$name" '$0 ~ "RUN +" t " " { p = 1 } p { print } p && $0 ~ "ok [0-9]+ " t { exit }' "$tap" |
					tail -n 12 | sed 's/^/        /'
			fi
		done <<<"$results"
	done
done
echo "selftests: $known known base failures reported as skipped"
echo "selftests: $passed passed, $failed failed, $((skipped + known)) skipped"
((failed == 0))
