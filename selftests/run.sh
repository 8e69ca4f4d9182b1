#!/usr/bin/env bash
# Run kselftest suites inside the test VM and compare with the baselines.
#
#   selftests/run.sh SUITE...      (inside the guest: see ci/vm-run.sh)
#
# Each suite's binaries come from $KEVENT_CACHE/selftests/<suite>/ (built on
# the host by selftests/build.sh). selftests/baseline/<suite>.txt lists the
# tests that misbehave on the unpatched base kernel:
#   known  result reported, never counted (fails often on the base)
#   flaky  rerun alone up to $FLAKY_RERUNS times; passes if a rerun passes
# Any other failure fails the run, and so does a binary whose TAP output is
# incomplete (fewer results than its "1..N" plan: a crash or a hang) or
# that exits non-zero without reporting a failure.
# TAP output goes to $KEVENT_RESULTS/<suite>-<binary>.tap when set.
# Last line: "selftests: N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEVENT_CACHE=${KEVENT_CACHE:-/var/cache/kevent}
FLAKY_RERUNS=${FLAKY_RERUNS:-3}
out_dir=${KEVENT_RESULTS:-$(mktemp -d)}
(($#)) || { echo "usage: selftests/run.sh SUITE..." >&2; exit 2; }

passed=0 failed=0 skipped=0 known=0

# The harness's lines of one test, from "RUN <test>" to its verdict.
show_test() {
	awk -v t="$1" '$0 ~ "RUN +" t " " { p = 1 } p { print } p && $0 ~ "ok [0-9]+ " t { exit }' "$2" |
		tail -n 12 | sed 's/^/        /'
}

# Rerun one test alone (kselftest_harness -t takes the name without its
# fixture); 0 if any rerun passes.
rerun_passes() {
	local bin=$1 name=$2 i
	for ((i = 1; i <= FLAKY_RERUNS; i++)); do
		if (cd /tmp && "$bin" -t "${name#*.}") >/dev/null 2>&1; then
			echo "        rerun $i passed"
			return 0
		fi
	done
	echo "        failed $FLAKY_RERUNS reruns too"
	return 1
}

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
		plan=$(sed -nE 's/^1\.\.([0-9]+)( #.*)?$/\1/p' "$tap" | head -n1)
		# A program that skips itself whole (kselftest's exit code 4).
		if [ "$plan" = 0 ] && ((rc == 4)); then
			skipped=$((skipped + 1))
			echo "  skip  $(basename "$b"): $(sed -n 's/^1\.\.0 # SKIP //p' "$tap")"
			continue
		fi
		results=$(grep -E '^(not )?ok [0-9]+ ' "$tap")
		count=$(grep -cE '^(not )?ok [0-9]+ ' "$tap")
		if [ -z "$plan" ] || ((count != plan)); then
			echo "  INCOMPLETE: ${count} results for plan '${plan:-none}' (exit $rc: crashed or hung?); last lines:"
			tail -n 15 "$tap" | sed 's/^/        /'
			failed=$((failed + 1))
		fi
		bin_failed=0
		while read -r line; do
			[ -n "$line" ] || continue
			name=$(sed -E 's/^(not )?ok [0-9]+ ([^ ]+).*/\2/' <<<"$line")
			expect=$(awk -v t="$name" '$1 == t { print $2 }' "$baseline" 2>/dev/null)
			if [[ "$line" == *"# SKIP"* ]]; then
				skipped=$((skipped + 1)); echo "  skip  $name"
			elif [[ "$line" == ok* ]]; then
				passed=$((passed + 1))
			elif [ "$expect" = known ]; then
				known=$((known + 1)); bin_failed=1
				echo "  known $name (fails on the base kernel too; not counted)"
			elif [ "$expect" = flaky ]; then
				echo "  flaky $name failed; rerunning:"
				show_test "$name" "$tap"
				if rerun_passes "$b" "$name"; then
					passed=$((passed + 1)); bin_failed=1
				else
					failed=$((failed + 1))
				fi
			else
				failed=$((failed + 1)); bin_failed=1; echo "  FAIL  $name"
				show_test "$name" "$tap"
			fi
		done <<<"$results"
		# The harness exits non-zero exactly when a test failed.
		if ((rc != 0 && bin_failed == 0)) && [ -n "$plan" ] && ((count == plan)); then
			echo "  FAIL  $(basename "$b") exited $rc with no failed test"
			failed=$((failed + 1))
		fi
	done
done
echo "selftests: $known known base failures reported as skipped"
echo "selftests: $passed passed, $failed failed, $((skipped + known)) skipped"
((failed == 0))
