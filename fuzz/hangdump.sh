#!/bin/bash
# Run a command; if it has not ended after SECONDS, show where it is stuck,
# then kill it (for the 4-thread fuzz runs that went idle and never ended):
#
#   fuzz/hangdump.sh SECONDS -- COMMAND [ARG...]
#
# On a hang, for every thread of the command and of its descendants: state,
# wchan, system call and kernel stack (from /proc), each kevent queue's
# fdinfo (its first 200 lines), the user-space stacks
# (gdb -batch, if gdb is there), and every task's state in the kernel log
# (sysrq t, when /proc/sysrq-trigger is writable); then SIGKILL, exit 124.
# Otherwise the command's own exit status.
secs=${1:?usage: $0 SECONDS -- COMMAND...}
shift
[ "$1" = -- ] && shift
"$@" &
pid=$!
end=$((SECONDS + secs))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do
	sleep 1
done
if ! kill -0 "$pid" 2>/dev/null; then
	wait "$pid"
	exit
fi
descendants() {
	local p c
	for p in "$@"; do
		echo "$p"
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			descendants "$c"
		done
	done
}
echo "hangdump: $* still running after $secs s; where each thread is:"
for p in $(descendants "$pid"); do
	for t in /proc/"$p"/task/*; do
		echo "== pid $p tid ${t##*/} $(cat "$t"/comm 2>/dev/null):" \
			"state $(awk '{print $3}' "$t"/stat 2>/dev/null)," \
			"wchan $(cat "$t"/wchan 2>/dev/null), syscall $(cat "$t"/syscall 2>/dev/null)"
		sed 's/^/   /' "$t"/stack 2>/dev/null
	done
	# each kevent queue's kevents (fdinfo: id, type, flags, state)
	for f in /proc/"$p"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		*kevent*)
			echo "   fd ${f##*/} $(readlink "$f"):"
			sed 's/^/      /' /proc/"$p"/fdinfo/"${f##*/}" 2>/dev/null | head -200 ;;
		esac
	done
	if command -v gdb >/dev/null; then
		timeout 60 gdb -batch -nx -p "$p" -ex "thread apply all bt" 2>&1 |
			grep -E '^(Thread|#)' | sed 's/^/   /'
	fi
done
[ -w /proc/sysrq-trigger ] && echo t >/proc/sysrq-trigger && echo "hangdump: task states in the kernel log (sysrq t)"
for p in $(descendants "$pid"); do kill -KILL "$p" 2>/dev/null; done
wait "$pid"
exit 124
