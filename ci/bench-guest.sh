#!/usr/bin/env bash
# Runs inside the VM (ci/main.sh starts it): the workloads, then the
# criterion per-call benchmarks, writing into the report folder.
#
#   ci/bench-guest.sh REPORT LABEL WORKLOADS PER_CALL [--quick]
set -euo pipefail
report=$1 label=$2 workloads=$3 per_call=$4
shift 4
quick=() criterion_times=(--warm-up-time 2 --measurement-time 5)
if [ "${1:-}" = --quick ]; then
	quick=(--quick)
	criterion_times=(--warm-up-time 1 --measurement-time 2)
fi
"$workloads" "${quick[@]}" --csv "$report/results-$label.csv"
echo "== per-call microbenchmarks (criterion)" >&2
CRITERION_HOME="$report/criterion-$label" "$per_call" --bench "${criterion_times[@]}" >&2
