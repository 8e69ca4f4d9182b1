#!/usr/bin/env bash
# Runs inside the VM (ci/main.sh starts it): the workloads, then the
# criterion per-call benchmarks, then (with WEBSERVERS, the output of
# benches/webserver/build.sh) lighttpd and nginx under wrk, writing into
# the report folder.
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
