#!/usr/bin/env bash
# Check that ci/vm-run.sh reports what happens in the guest, so the test
# command cannot pass by accident:
#   - the command's output and exit status come back (exit 3), and with
#     --follow while the command runs, once (one boot for both);
#   - a kernel splat fails a passing command (a WARNING line written into
#     the kernel log through /dev/kmsg gives 125);
#   - a hung guest is killed at the timeout (124).
#   ci/vm-run-selftest.sh [--debug]
. "$(dirname "$0")/lib.sh"
flavour=()
case "${1:-}" in "") ;; --debug) flavour=(--debug) ;; *) die "usage: $0 [--debug]" ;; esac
run=$REPO_ROOT/ci/vm-run.sh
passed=0 failed=0
expect() {
	local want=$1 what=$2 got
	shift 2
	set +e
	out=$("$run" "${flavour[@]}" "$@" 2>&1)
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
"$run" "${flavour[@]}" --follow --timeout 300 -- \
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
expect 125 "a kernel splat fails a passing command" --timeout 300 -- \
	sh -c 'echo "WARNING: CPU: 0 PID: 1 at vm-run-selftest injected" > /dev/kmsg'
# Long enough for the debug kernel to boot and clear its boot-time leaks
# (about 2 minutes under TCG since December), so the command really
# starts and hangs.
expect 124 "a hung guest is killed at the timeout" --timeout 240 -- sleep 600
[[ "$out" == *"command was still running"* ]] || { failed=$((failed + 1)); log "FAIL: the hang was not inside the command"; }
echo "vm-run selftest: $passed passed, $failed failed"
((failed == 0))
