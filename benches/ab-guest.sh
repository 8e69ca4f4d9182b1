#!/bin/sh
# The guest half of benches/ab.sh: ab-guest.sh OUT TAG LOOPS KEVENT_BENCHES
set -eu
out=$1 tag=$2 loops=$3 benches=$4
cd /tmp
for rep in 1 2; do
	for m in empty_wait_epoll_raw empty_wait_kevent empty_wait_ring ready64_epoll ready64_kevent ready64_ring \
		ready1_epoll ready1_kevent ready1_ring ctl1_epoll ctl1_kevent ctl64_epoll ctl64_kevent \
		echo_epoll echo_naio; do
		case $m in
		ready64* | echo*) n=20000 ;;
		ctl64*) n=2000 ;;
		*) n=200000 ;;
		esac
		"$loops" "$m" "$n"
	done
done >"$out/loops-$tag.txt" 2>&1
"$benches" --quick --reps 5 --only pipes --mechanism epoll,kevent \
	--csv "$out/pipes-$tag.csv" >"$out/pipes-$tag.txt" 2>&1
"$benches" --quick --reps 5 --only libevent-bench --mechanism epoll,kevent,none \
	--csv "$out/leb-$tag.csv" >"$out/leb-$tag.txt" 2>&1
