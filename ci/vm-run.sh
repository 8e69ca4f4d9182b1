#!/usr/bin/env bash
# Boot a built kernel in virtme-ng (TCG) and run one command inside it.
#
#   ci/vm-run.sh [options] -- COMMAND [ARG...]
#
#   --debug           boot the debug kernel (default: the minimal one)
#   --kernel IMAGE    boot this bzImage instead
#   --timeout SEC     kill the guest after SEC seconds (default 900)
#   --icount          run QEMU with -icount shift=0,sleep=off (guest time
#                     counts instructions: steadier benchmark ratios)
#   --rwdir DIR       give the guest read-write access to DIR (repeatable)
#   --memory SIZE     guest memory (default 2G)
#   --cpus N          guest CPUs (default 2)
#   --plugin SPEC     load a QEMU TCG plugin: -plugin SPEC (the instruction
#                     profile, with --icount: benches/insn-profile/loops.sh)
#   --keep DIR        keep the run's files (console log, guest dmesg) in DIR
#   --follow          print the command's output while it runs (progress),
#                     not only at the end
#
# The command runs as root in the host's directory tree (read-only, with
# /tmp fresh) in the current directory. Its output and exit status come back
# through a --rwdir results directory, not the console, which is not reliable
# under TCG. Exit status: the command's own, or
#   123  the guest ended without results (failed to boot, panicked, or
#        virtme-ng itself failed),
#   124  the guest hung: killed after the timeout,
#   125  the guest kernel logged a splat (oops, BUG, WARNING, KASAN,
#        lockdep, kmemleak...) even though the command passed,
#   126  this script's own usage error or setup problem.
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }

flavour=minimal kernel="" timeout=900 icount=0 memory=2G cpus=2 keep="" follow=0 plugin=""
rwdirs=()
while (($#)); do
	case "$1" in
	--debug) flavour=debug ;;
	--kernel) kernel=${2:?--kernel needs a path}; shift ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift ;;
	--icount) icount=1 ;;
	--rwdir) rwdirs+=("${2:?--rwdir needs a directory}"); shift ;;
	--memory) memory=${2:?}; shift ;;
	--cpus) cpus=${2:?}; shift ;;
	--plugin) plugin=${2:?--plugin needs a plugin path and arguments}; shift ;;
	--keep) keep=${2:?}; shift ;;
	--follow) follow=1 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) usage >&2; echo "error: unknown option '$1'" >&2; exit 126 ;;
	esac
	shift
done
(($#)) || { usage >&2; echo "error: no command given" >&2; exit 126; }
[[ "$timeout" =~ ^[0-9]+$ ]] || { echo "error: --timeout wants seconds" >&2; exit 126; }

vng=$VNG_VENV/bin/vng
[ -x "$vng" ] || { echo "error: virtme-ng missing: run ci/setup.sh" >&2; exit 126; }
kernel=${kernel:-$(build_dir "$flavour")/arch/x86/boot/bzImage}
[ -f "$kernel" ] || { echo "error: no kernel at $kernel: run ci/build-kernel.sh${flavour/minimal/}" >&2; exit 126; }

res=$(mktemp -d "${TMPDIR:-/tmp}/kevent-vm.XXXXXX")
follower=""
cleanup() {
	[ -z "$follower" ] || kill "$follower" 2>/dev/null || true
	[ -n "$keep" ] || rm -rf "$res"
}
trap cleanup EXIT

# --follow: print what the guest adds to its output file (in the shared
# results directory) every half second, each byte once; after the guest
# ends ($res/follow-done), print the rest and stop.
follow_output() {
	local printed=0 size last
	while :; do
		last=0
		[ -e "$res/follow-done" ] && last=1
		size=$(stat -c %s "$res/output" 2>/dev/null || echo 0)
		if ((size > printed)); then
			tail -c +$((printed + 1)) "$res/output" | head -c $((size - printed))
			printed=$size
		fi
		((last)) && return 0
		sleep 0.5
	done
}

# The guest side: run the command, then collect the kernel log, the taint
# flags and lockdep's state before and after, and a kmemleak scan (boot-time
# leaks are scanned and cleared first, so they are not blamed on the
# command). Every step writes into $res, shared read-write at the same path
# (a new mount point cannot be made on the read-only root).
printf '%q ' "$@" >"$res/command"
{
	echo '#!/bin/sh'
	printf 'R=%q\n' "$res"
	printf 'export KEVENT_CACHE=%q\n' "$KEVENT_CACHE"
} >"$res/guest.sh"
cat >>"$res/guest.sh" <<'GUEST'
# Phase ends, by the guest's uptime: where a slow run spends its time
phase() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> "$R/phases"; }
phase boot
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
KML=/sys/kernel/debug/kmemleak
if [ -w $KML ]; then
	echo scan > $KML; echo clear > $KML; echo present > "$R/kmemleak-state"
	phase boot-leak-scan
else
	echo absent > "$R/kmemleak-state"
fi
cat /proc/sys/kernel/tainted > "$R/taint-before"
grep -s '^ *debug_locks:' /proc/lockdep_stats > "$R/locks-before"
cd "$(cat "$R/cwd")" || { echo "vm-run: cannot cd to $(cat "$R/cwd") in the guest"; exit 1; }
export KEVENT_RESULTS="$R" KEVENT_IN_VM=1 PATH="$(cat "$R/path")"
: > "$R/started"
phase setup
bash -c "$(cat "$R/command")" > "$R/output" 2>&1 < /dev/null
echo $? > "$R/status.tmp"
phase command
if [ -w $KML ]; then
	# An object counts once it is unreferenced and older than 5 s (kmemleak's
	# minimum age): one scan after 6 s sees what two scans 6 s apart did,
	# and a scan of the debug guest takes 30-40 s under TCG.
	sleep 6; echo scan > $KML
	cat $KML > "$R/kmemleak"
	phase leak-scan
fi
cat /proc/sys/kernel/tainted > "$R/taint-after"
grep -s '^ *debug_locks:' /proc/lockdep_stats > "$R/locks-after"
dmesg > "$R/dmesg"
mv "$R/status.tmp" "$R/status"
sync
GUEST
pwd >"$res/cwd"
echo "$PATH" >"$res/path"

# virtme-ng mounts tmpfs over /var/cache (and /tmp) in the guest: share the
# cache (test binaries, kernel tree) read-only at its own path.
# TCG is slow: give RCU more time before it calls a CPU stalled.
vng_args=(--run "$kernel" --disable-kvm -v --cpus "$cpus" --memory "$memory"
	--rwdir "$res" --rodir "$KEVENT_CACHE" --user root
	--append "rcupdate.rcu_cpu_stall_timeout=120")
for d in "${rwdirs[@]}"; do vng_args+=(--rwdir "$d"); done
qemu_opts=""
((icount)) && qemu_opts="-icount shift=0,sleep=off"
[ -n "$plugin" ] && qemu_opts+="${qemu_opts:+ }-plugin $plugin"
[ -n "$qemu_opts" ] && vng_args+=(--qemu-opts="$qemu_opts")

start=$(date +%s)
if ((follow)); then
	follow_output &
	follower=$!
fi
set +e
PATH="$VNG_VENV/bin:$PATH" timeout --kill-after=15 "$timeout" "$vng" "${vng_args[@]}" --exec "sh $res/guest.sh" \
	</dev/null >"$res/console.log" 2>&1
vng_rc=$?
set -e
elapsed=$(($(date +%s) - start))

if [ -n "$follower" ]; then
	touch "$res/follow-done"
	wait "$follower" || true
	follower=""
elif [ -f "$res/output" ]; then
	cat "$res/output"
fi
if [ -n "$keep" ]; then mkdir -p "$keep"; cp -a "$res/." "$keep/"; fi

# Look for splats in everything the kernel said.
splat_re='(Oops|BUG:|BUG [^ ]+ \(|WARNING:|KASAN|UBSAN|general protection fault|Kernel panic|possible (circular|recursive) locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|lockdep is turned off|unreferenced object|INFO: task .* blocked|detected stalls|self-detected stall|soft lockup|hard LOCKUP|list_(add|del) corruption|refcount_t: )'
splats=$(cat "$res/console.log" "$res/dmesg" "$res/kmemleak" 2>/dev/null |
	grep -E "$splat_re" | sort -u | head -n 20 || true)
# And, whatever the messages look like: new taint flags, or lockdep having
# switched itself off (it does after its first report).
if [ -f "$res/taint-after" ] && [ "$(cat "$res/taint-before")" != "$(cat "$res/taint-after")" ]; then
	splats+=$'\n'"kernel taint changed during the command: $(cat "$res/taint-before") -> $(cat "$res/taint-after")"
fi
# (Both files exist only if the guest got that far: not after a hang.)
if [ -s "$res/locks-before" ] && [ -f "$res/locks-after" ] &&
	! cmp -s "$res/locks-before" "$res/locks-after"; then
	splats+=$'\n'"lockdep: $(tr -s ' ' <"$res/locks-after") after the command"
fi
if [ "$flavour" = debug ] && [ "$(cat "$res/kmemleak-state" 2>/dev/null)" = absent ]; then
	splats+=$'\n'"kmemleak is not active in the debug kernel (disabled at boot?): leaks cannot be checked"
fi
splats=$(sed '/^$/d' <<<"$splats")

if [ ! -f "$res/status" ]; then
	if ((vng_rc == 124 || vng_rc == 137)); then
		if [ -f "$res/started" ]; then
			echo "vm-run: guest hung: the command was still running at the ${timeout}s timeout; last console lines:" >&2
		else
			echo "vm-run: guest hung before the command started (slow boot? raise --timeout ${timeout}); last console lines:" >&2
		fi
	else
		echo "vm-run: guest ended after ${elapsed}s without results (vng exit $vng_rc); last console lines:" >&2
	fi
	tail -n 25 "$res/console.log" >&2
	[ -n "$splats" ] && printf 'vm-run: kernel splat:\n%s\n' "$splats" >&2
	((vng_rc == 124 || vng_rc == 137)) && exit 124
	exit 123
fi
status=$(cat "$res/status")
if [ -n "$splats" ]; then
	printf 'vm-run: kernel splat in the guest log (command exit %s):\n%s\n' "$status" "$splats" >&2
	[ -n "$keep" ] && echo "vm-run: full logs in $keep" >&2
	exit 125
fi
if ((vng_rc == 124 || vng_rc == 137)); then
	echo "vm-run: the command finished (exit $status) but the guest hung while shutting down" >&2
	exit 124
fi
# "boot 95 s, boot-leak-scan 20 s, ...": how long each phase took
phases=$(awk 'NR == 1 { printf "%s %.0f s", $1, $2 } NR > 1 { printf ", %s %.0f s", $1, $2 - t } { t = $2 }' \
	"$res/phases" 2>/dev/null || true)
echo "vm-run: command exit $status, guest ran ${elapsed}s${phases:+ ($phases)}" >&2
exit "$status"
