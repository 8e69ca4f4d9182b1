#!/bin/bash
# Runs in the guest (root, debug kernel with CONFIG_FAILSLAB,
# CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_USERCOPY and the stack-trace
# filter): aims failslab, fail_page_alloc and fail_usercopy at the tasks
# that set /proc/thread-self/make-it-fail (task-filter), and only at
# allocations and user copies made from kevent's own code (require-start/
# require-end: the text range of fs/kevent/*.o, found in /proc/kallsyms),
# then runs COMMAND (e.g. kevent-stress --fail) and switches it all off.
#
#   fuzz/faultinject.sh [-p PERCENT] -- COMMAND [ARG...]
#
# Prints how many failures were injected (from the "times" budgets).
set -u
pct=10
while (($#)); do
	case $1 in
	-p) pct=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
D=/sys/kernel/debug
mountpoint -q $D || mount -t debugfs none $D 2>/dev/null
for f in failslab fail_page_alloc fail_usercopy; do
	[ -d $D/$f ] || { echo "faultinject: no $D/$f (kernel without fault injection)"; exit 2; }
done
build=${KEVENT_CACHE:-/var/cache/kevent}/build/debug
# The kevent text range: addresses of the .text functions of fs/kevent/*.o
# (not .init.text, which lies elsewhere) that have a unique name in
# kallsyms; they are contiguous in vmlinux.
range=$(objdump -t "$build"/fs/kevent/*.o 2>/dev/null | awk '$3 == "F" && $4 == ".text" {print $6}' | sort -u |
	awk 'NR == FNR { want[$1] = 1; next }
	     ($2 ~ /^[tT]$/) && ($3 in want) { n[$3]++; a[$3] = $1 }
	     END { for (s in n) if (n[s] == 1) print a[s] }' - /proc/kallsyms | sort)
[ -n "$range" ] || { echo "faultinject: cannot find fs/kevent in /proc/kallsyms"; exit 2; }
start=$(head -n1 <<<"$range")
end=$(tail -n1 <<<"$range")
# the last function's end: give it 16 KiB
end=$(printf '0x%x' $((0x$end + 16384)))
start=0x$start
# kevent's code is a few tens of KiB: a wider range would fail allocations
# of the rest of the kernel (page faults, the 9p root file system).
if ((end - start > 1024 * 1024)); then
	echo "faultinject: kevent text range $start..$end is implausible"
	exit 2
fi
echo "faultinject: kevent text $start..$end ($(wc -l <<<"$range") functions), $pct% of kevent allocations and user copies fail for make-it-fail tasks"
budget=100000000
# Every filter first, the probability last: with a probability set and the
# task and stack filters still at their defaults, any task's allocations
# and user copies fail (the shell's own writes here, the 9p root, init),
# which once broke a whole CI run. Each write is checked: a filter that did
# not take would aim the failures at the whole guest.
set_attr() {
	echo "$2" > "$D/$1" || { echo "faultinject: cannot write $2 to $D/$1"; off; exit 2; }
}
off() {
	for f in failslab fail_page_alloc fail_usercopy; do
		echo 0 > $D/$f/probability
	done
}
off
for f in failslab fail_page_alloc fail_usercopy; do
	set_attr $f/task-filter Y
	set_attr $f/require-start $start
	set_attr $f/require-end $end
	set_attr $f/stacktrace-depth 32
	set_attr $f/interval 1
	set_attr $f/times $budget
	set_attr $f/space 0
	set_attr $f/verbose 0
done
set_attr failslab/ignore-gfp-wait N
set_attr fail_page_alloc/ignore-gfp-wait N
set_attr fail_page_alloc/ignore-gfp-highmem N
set_attr fail_page_alloc/min-order 0
for f in failslab fail_page_alloc fail_usercopy; do
	set_attr $f/probability $pct
done
"$@"
rc=$?
for f in failslab fail_page_alloc fail_usercopy; do
	echo 0 > $D/$f/probability
	left=$(cat $D/$f/times)
	echo "faultinject: $f: $((budget - left)) failures injected"
	echo 1 > $D/$f/times
done
exit $rc
