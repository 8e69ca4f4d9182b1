#!/usr/bin/env bash
# Check that ci/vm-run.sh reports what happens in the guest, so the test
# command cannot pass by accident:
#   - the command's output and exit status come back (exit 3), and with
#     --follow while the command runs, once (one boot for both; this and
#     the hang boot build/bisect's minimal kernel if there is one);
#   - a kernel splat fails a passing command (a WARNING line written into
#     the kernel log through /dev/kmsg gives 125);
#   - a hung guest is killed at the timeout (124).
#   ci/vm-run-selftest.sh [--debug]
. "$(dirname "$0")/lib.sh"
flavour=()
case "${1:-}" in "") ;; --debug) flavour=(--debug) ;; *) die "usage: $0 [--debug]" ;; esac
run=$REPO_ROOT/ci/vm-run.sh
# The checks of the runner itself (output, --follow, a hang) boot the
# minimal kernel check-series.sh leaves in build/bisect when there is one:
# it boots in seconds, a debug kernel in about 2 minutes under TCG. The
# splat check boots the flavour asked for (the debug kernel's checks).
quick=("${flavour[@]}") hang_timeout=240
bisect_image=$KEVENT_CACHE/build/bisect/arch/x86/boot/bzImage
if [ -f "$bisect_image" ]; then
	quick=(--kernel "$bisect_image") hang_timeout=90
fi
passed=0 failed=0
# expect EXIT WHAT KERNEL-ARGS... -- VM-RUN-ARGS...
expect() {
	local want=$1 what=$2 got kargs=()
	shift 2
	while [ "$1" != -- ]; do kargs+=("$1"); shift; done
	shift
	set +e
	out=$("$run" "${kargs[@]}" "$@" 2>&1)
	got=$?
	set -e
	if [ "$got" = "$want" ]; then
		passed=$((passed + 1)); log "ok: $what (exit $got)"
	else
		failed=$((failed + 1)); log "FAIL: $what: exit $got, want $want"; echo "$out" | tail -n 15 >&2
	fi
}
# One boot for two checks (a debug boot takes minutes under TCG): the exit
# status and output come back, and with --follow the first line shows on
# the host while the command still sleeps, and every line exactly once.
follow_log=$(mktemp)
"$run" "${quick[@]}" --follow --timeout 300 -- \
	sh -c 'echo early-$((1 + 1)); sleep 20; echo late-$((2 + 1)); exit 3' >"$follow_log" 2>&1 &
follow_pid=$! early_while_running=0
while kill -0 "$follow_pid" 2>/dev/null; do
	if grep -q early-2 "$follow_log"; then
		# Not all at the end: the second line is 20 s away.
		grep -q late-3 "$follow_log" || early_while_running=1
		break
	fi
	sleep 1
done
set +e; wait "$follow_pid"; follow_rc=$?; set -e
if ((follow_rc == 3)) && grep -q late-3 "$follow_log"; then
	passed=$((passed + 1)); log "ok: exit status and output pass through (exit 3)"
else
	failed=$((failed + 1)); log "FAIL: exit status and output: exit $follow_rc, want 3 and the output"
fi
if ((follow_rc == 3 && early_while_running)) && [ "$(grep -c early-2 "$follow_log")" = 1 ] &&
	[ "$(grep -c late-3 "$follow_log")" = 1 ]; then
	passed=$((passed + 1)); log "ok: --follow prints output while the command runs, once"
else
	failed=$((failed + 1))
	log "FAIL: --follow: exit $follow_rc, first line seen while running: $early_while_running"
	tail -n 15 "$follow_log" >&2
fi
rm -f "$follow_log"
expect 125 "a kernel splat fails a passing command" "${flavour[@]}" -- --timeout 300 -- \
	sh -c 'echo "WARNING: CPU: 0 PID: 1 at vm-run-selftest injected" > /dev/kmsg'
# Long enough for the kernel to boot (a debug kernel and its boot-time
# leak scan take about 2 minutes under TCG), so the command really starts
# and hangs.
expect 124 "a hung guest is killed at the timeout" "${quick[@]}" -- --timeout "$hang_timeout" -- sleep 600
[[ "$out" == *"command was still running"* ]] || { failed=$((failed + 1)); log "FAIL: the hang was not inside the command"; }
echo "vm-run selftest: $passed passed, $failed failed"
((failed == 0))
