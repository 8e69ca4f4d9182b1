#!/bin/sh
# The kqueue library's A/B switches on the web servers, in one boot (run
# in the VM, as guest.py): epoll and kqueue as built, then kqueue with
# KQUEUE_UPSERT=0 (an EV_ADD on a reused descriptor number is a MODIFY
# that fails and an ADD), then also with KQUEUE_WAIT_CHANGES=0 (every run
# of changes a kevent_ctl(): the library of 2026-12-01). One CSV per
# variant in OUT; further arguments go to guest.py (default: the
# Connection: close cases of the 1 KiB file, where the registration path
# is in every request).
#
#   benches/webserver/ab.sh OUT BUILDS [guest.py arguments]
set -eu
out=$1 builds=$2
shift 2
here=$(dirname "$0")
[ $# -gt 0 ] || set -- --files 1KiB --http close --connections 100,1000 --duration 1 --reps 1
"$here/guest.py" --builds "$builds" --mechanisms epoll,kqueue --csv "$out/as-built.csv" "$@"
KQUEUE_UPSERT=0 "$here/guest.py" --builds "$builds" --mechanisms kqueue --csv "$out/no-upsert.csv" "$@"
KQUEUE_UPSERT=0 KQUEUE_WAIT_CHANGES=0 "$here/guest.py" --builds "$builds" --mechanisms kqueue \
	--csv "$out/no-upsert-no-wait-changes.csv" "$@"
