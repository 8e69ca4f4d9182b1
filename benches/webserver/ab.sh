#!/bin/sh
# The kqueue library's A/B switches on the web servers, in one boot (run
# in the VM, as guest.py). Without variants: epoll and kqueue as built,
# then kqueue with KQUEUE_UPSERT=0 (an EV_ADD on a reused descriptor
# number is a MODIFY that fails and an ADD), then also with
# KQUEUE_WAIT_CHANGES=0 (every run of changes a kevent_ctl(): the library
# of 2026-12-01). With variants (each one argument of environment
# assignments, e.g. KQUEUE_AMOUNTS=0): ROUNDS (default 2) rounds of epoll
# and kqueue as built, then kqueue under each variant, alternating, so
# that drift within the boot hits every column alike. One CSV per run in
# OUT; arguments after -- go to guest.py (default: the Connection: close
# cases of the 1 KiB file, where the registration path is in every
# request).
#
#   benches/webserver/ab.sh OUT BUILDS [VARIANT...] [-- guest.py arguments]
set -eu
out=$1 builds=$2
shift 2
variants=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	variants="$variants$1
"
	shift
done
[ $# -gt 0 ] && shift
here=$(dirname "$0")
[ $# -gt 0 ] || set -- --files 1KiB --http close --connections 100,1000 --duration 1 --reps 1
if [ -z "$variants" ]; then
	"$here/guest.py" --builds "$builds" --mechanisms epoll,kqueue --csv "$out/as-built.csv" "$@"
	KQUEUE_UPSERT=0 "$here/guest.py" --builds "$builds" --mechanisms kqueue --csv "$out/no-upsert.csv" "$@"
	KQUEUE_UPSERT=0 KQUEUE_WAIT_CHANGES=0 "$here/guest.py" --builds "$builds" --mechanisms kqueue \
		--csv "$out/no-upsert-no-wait-changes.csv" "$@"
	exit 0
fi
round=1
while [ "$round" -le "${ROUNDS:-2}" ]; do
	"$here/guest.py" --builds "$builds" --mechanisms epoll,kqueue --csv "$out/as-built-$round.csv" "$@"
	echo "$variants" | while IFS= read -r v; do
		[ -n "$v" ] || continue
		name=$(echo "$v" | tr ' =/' '_-_')
		echo "== variant: $v (round $round)"
		env $v "$here/guest.py" --builds "$builds" --mechanisms kqueue \
			--csv "$out/$name-$round.csv" "$@"
	done
	round=$((round + 1))
done
