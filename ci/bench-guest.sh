#!/usr/bin/env bash
# Runs inside the VM (ci/main.sh starts it): the workloads, then the
# criterion per-call benchmarks, then (with WEBSERVERS, the output of
# benches/webserver/build.sh) lighttpd and nginx under wrk, then the TCP
# echo servers (kevent-echo, built beside WORKLOADS), writing into the
# report folder.
#
#   ci/bench-guest.sh REPORT LABEL WORKLOADS PER_CALL [WEBSERVERS] [--quick]
set -euo pipefail
report=$1 label=$2 workloads=$3 per_call=$4
shift 4
web=""
if [ -n "${1:-}" ] && [ "$1" != --quick ]; then
	web=$1
	shift
fi
quick=() criterion_times=(--warm-up-time 2 --measurement-time 5)
if [ "${1:-}" = --quick ]; then
	quick=(--quick)
	criterion_times=(--warm-up-time 1 --measurement-time 2)
fi
"$workloads" "${quick[@]}" --csv "$report/results-$label.csv"
echo "== per-call microbenchmarks (criterion)" >&2
CRITERION_HOME="$report/criterion-$label" "$per_call" --bench "${criterion_times[@]}" >&2
if [ -n "$web" ]; then
	echo "== web servers: lighttpd and nginx, epoll and kqueue, under wrk" >&2
	# Under -icount a guest second takes about 10 s: 1 s per case, one
	# repetition (they agree closely there); TCG: 3 s (2 s quick), two.
	web_args=()
	[ "$label" = icount ] && web_args=(--duration 1 --reps 1)
	"$(dirname "$0")/../benches/webserver/guest.py" --builds "$web" \
		--csv "$report/results-$label.csv" "${quick[@]}" "${web_args[@]}"
fi
echo "== TCP echo: one server per mechanism, a closed-loop client (kevent-echo)" >&2
# Every point (message size, connections, mechanism) is a fresh server
# and a warm-up, then 3 intervals. Under -icount (a guest second takes
# about 10 s, the intervals agree within about 1 %): 128 B messages only,
# 0.3 s intervals, about 33 s of guest time. TCG: 1 s intervals (2 s and
# 512 B messages too in full mode).
echo_args=()
[ "$label" = icount ] && echo_args=(--sizes 128 --duration 0.3 --warmup 0.2)
"$(dirname "$workloads")/kevent-echo" run "${quick[@]}" "${echo_args[@]}" \
	--csv "$report/results-$label.csv"
echo "== file download: 1 MiB per request (kevent-echo --workload download)" >&2
# epoll+sendfile, io_uring splices and KEVENT_NAIO_SENDFILE (benches/README.md,
# workload 12). An interval lasts at least until about three downloads per
# connection are done, so the points of many connections take longest.
# -icount: 1, 50 and 300 connections, 0.3 s intervals (measured: 38 s of
# guest time, about 4 minutes of wall time). TCG ran the echo's guest 5 to
# 30 times slower than -icount does: 1 and 50 connections only (300 would
# take minutes; not measured under TCG, estimated 20-60 s).
connections=1,50
[ "$label" = icount ] && connections=1,50,300
dl_args=(--duration 0.3 --warmup 0.2 --connections "$connections")
"$(dirname "$workloads")/kevent-echo" run --workload download "${quick[@]}" "${dl_args[@]}" \
	--csv "$report/results-$label.csv"
