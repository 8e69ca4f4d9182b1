#!/usr/bin/env bash
# Run kselftest suites inside the test VM and compare with the baselines.
#
#   selftests/run.sh SUITE...      (inside the guest: see ci/vm-run.sh)
#
# Each suite's binaries come from $KEVENT_CACHE/selftests/<suite>/ (built on
# the host by selftests/build.sh). NAME-m32 and NAME-mx32 are suite NAME
# built as i386 and x32 programs: they run the programs listed in
# selftests/compat-programs.txt (why: see there), a program that skips
# itself whole (no kevent ABI v2 through that ABI's system call entry)
# fails, and selftests/baseline/NAME.txt applies unless there is a
# <suite>.txt.
# selftests/baseline/<suite>.txt lists the tests that misbehave on the
# unpatched base kernel:
#   known  result reported, never counted (fails often on the base)
#   flaky  rerun alone up to $FLAKY_RERUNS times; passes if a rerun passes.
#          "<test> flaky SIGNATURE": if every run fails printing SIGNATURE
#          (the test's lost race), it is reported and not counted: the
#          test asserts a scheduling outcome. A failure without it fails.
# Any other failure fails the run, and so does a binary whose TAP output is
# incomplete (fewer results than its "1..N" plan: a crash or a hang) or
# that exits non-zero without reporting a failure.
# TAP output goes to $KEVENT_RESULTS/<suite>-<binary>.tap when set.
# Results are named <suite>/<binary>/<test>, e.g.
# kevent-m32/kevent_poll_test/global.level, so the ABIs stay apart.
# Last line: "selftests: N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEVENT_CACHE=${KEVENT_CACHE:-/var/cache/kevent}
FLAKY_RERUNS=${FLAKY_RERUNS:-3}
# The guest is ours: the tests that set the clock (and put it back) run.
export KEVENT_SELFTEST_SET_CLOCK=1
out_dir=${KEVENT_RESULTS:-$(mktemp -d)}
(($#)) || { echo "usage: selftests/run.sh SUITE..." >&2; exit 2; }

passed=0 failed=0 skipped=0 known=0

# The programs the i386 and x32 suites run, read once (builtins only: each
# fork and exec costs the debug guest about 1.5 s)
declare -A compat=()
while read -r p _; do
	[[ -n $p && $p != \#* ]] && compat[$p]=1
done <"$here/compat-programs.txt"

# The harness's lines of one test, from "RUN <test>" to its verdict.
show_test() {
	awk -v t="$1" '$0 ~ "RUN +" t " " { p = 1 } p { print } p && $0 ~ "ok [0-9]+ " t { exit }' "$2" |
		tail -n 12 | sed 's/^/        /'
}

# Rerun one test alone (kselftest_harness -t takes the name without its
# fixture). Returns 0 if a rerun passes, 2 if every rerun failed and each
# failure (the first run's too, in $3) printed the baseline's race
# signature $4, 1 otherwise.
rerun_passes() {
	local bin=$1 name=$2 first=$3 sig=$4 i out all_race=1
	[ -n "$sig" ] && grep -qF -- "$sig" "$first" || all_race=0
	for ((i = 1; i <= FLAKY_RERUNS; i++)); do
		if out=$(cd /tmp && "$bin" -t "${name#*.}" 2>&1); then
			echo "        rerun $i passed"
			return 0
		fi
		[ -n "$sig" ] && [[ $out == *"$sig"* ]] || all_race=0
	done
	echo "        failed $FLAKY_RERUNS reruns too"
	((all_race)) && return 2
	return 1
}

for suite in "$@"; do
	bin_dir=$KEVENT_CACHE/selftests/$suite
	base=${suite%-m32}
	base=${base%-mx32}
	case $suite in
	*-m32) abi=i386 ;;
	*-mx32) abi=x32 ;;
	*) abi="" ;;
	esac
	baseline=$here/baseline/$suite.txt
	[ -f "$baseline" ] || baseline=$here/baseline/$base.txt
	# The baseline's "<test> known|flaky [race signature]" lines, read once
	declare -A expects=() signatures=()
	if [ -f "$baseline" ]; then
		while read -r t e sig; do
			[[ -n $t && $t != \#* ]] || continue
			expects[$t]=$e
			signatures[$t]=$sig
		done <"$baseline"
	fi
	bins=()
	for b in "$bin_dir"/*; do
		[ -f "$b" ] && [ -x "$b" ] || continue
		# An i386 or x32 suite runs the programs of compat-programs.txt.
		if [ -n "$abi" ] && [ -z "${compat[${b##*/}]:-}" ]; then
			continue
		fi
		bins+=("$b")
	done
	[ -n "$abi" ] && echo "== $suite: the ${#bins[@]} programs of selftests/compat-programs.txt"
	if ((${#bins[@]} == 0)); then
		if [ -f "$bin_dir/NOT-BUILT" ]; then
			echo "  FAIL  suite $suite: not built: $(cat "$bin_dir/NOT-BUILT")"
		else
			echo "  FAIL  suite $suite: no test binaries in $bin_dir (run selftests/build.sh)"
		fi
		failed=$((failed + 1))
		continue
	fi
	for b in "${bins[@]}"; do
		prog=$suite/$(basename "$b")
		tap=$out_dir/$suite-$(basename "$b").tap
		echo "== $prog${abi:+ ($abi)}"
		t0=$SECONDS
		(cd /tmp && "$b") >"$tap" 2>&1
		rc=$?
		took=$((SECONDS - t0))
		plan=$(sed -nE 's/^1\.\.([0-9]+)( #.*)?$/\1/p' "$tap" | head -n1)
		# A program that skips itself whole (kselftest's exit code 4). In
		# an i386 or x32 suite that means the kernel's entry for that ABI
		# does not reach kevent: a failure.
		if [ "$plan" = 0 ] && ((rc == 4)); then
			why=$(sed -n 's/^1\.\.0 # SKIP //p' "$tap")
			if [ -n "$abi" ]; then
				failed=$((failed + 1))
				echo "  FAIL  $prog skipped itself whole as an $abi program: $why"
			else
				skipped=$((skipped + 1))
				echo "  skip  $prog: $why"
			fi
			continue
		fi
		results=$(grep -E '^(not )?ok [0-9]+ ' "$tap")
		count=$(grep -cE '^(not )?ok [0-9]+ ' "$tap")
		if [ -z "$plan" ] || ((count != plan)); then
			if ((rc == 126 || rc == 127)) && [ -n "$abi" ]; then
				echo "  FAIL  $prog: could not run (exit $rc: a kernel without $abi support?):"
			else
				echo "  INCOMPLETE: $prog: ${count} results for plan '${plan:-none}' (exit $rc: crashed or hung?); last lines:"
			fi
			tail -n 15 "$tap" | sed 's/^/        /'
			failed=$((failed + 1))
		fi
		bin_failed=0 bin_passed=0
		while read -r line; do
			[ -n "$line" ] || continue
			# Builtins only: a fork and exec per result line cost the
			# debug guest about 1.5 s each (14 of the 17 minutes of
			# the 64-bit suite on 2026-12-01).
			[[ $line =~ ^(not )?ok\ [0-9]+\ ([^ ]+) ]] && name=${BASH_REMATCH[2]} || name=
			expect=
			[ -n "$name" ] && expect=${expects[$name]:-}
			if [[ "$line" == *"# SKIP"* ]]; then
				skipped=$((skipped + 1)); echo "  skip  $prog/$name"
			elif [[ "$line" == ok* ]]; then
				passed=$((passed + 1)); bin_passed=$((bin_passed + 1))
			elif [ "$expect" = known ]; then
				known=$((known + 1)); bin_failed=1
				echo "  known $prog/$name (fails on the base kernel too; not counted)"
			elif [ "$expect" = flaky ]; then
				echo "  flaky $prog/$name failed; rerunning:"
				show_test "$name" "$tap"
				show_test "$name" "$tap" >"$out_dir/first-failure"
				rerun_passes "$b" "$name" "$out_dir/first-failure" "${signatures[$name]:-}"
				case $? in
				0) passed=$((passed + 1)); bin_failed=1 ;;
				2)
					# Lost the race it asserts every time, the same
					# way: a scheduling outcome, not a result.
					known=$((known + 1)); bin_failed=1
					echo "  race  $prog/$name: every run lost the race ('${signatures[$name]}'); not counted"
					;;
				*) failed=$((failed + 1)); bin_failed=1 ;;
				esac
			else
				failed=$((failed + 1)); bin_failed=1; echo "  FAIL  $prog/$name"
				show_test "$name" "$tap"
			fi
		done <<<"$results"
		echo "  $prog: $bin_passed of ${plan:-?} passed (${took} s)"
		# The harness exits non-zero exactly when a test failed.
		if ((rc != 0 && bin_failed == 0)) && [ -n "$plan" ] && ((count == plan)); then
			echo "  FAIL  $prog exited $rc with no failed test"
			failed=$((failed + 1))
		fi
	done
done
echo "selftests: $known known base failures reported as skipped"
echo "selftests: $passed passed, $failed failed, $((skipped + known)) skipped"
((failed == 0))
