#!/usr/bin/env bash
# The main job: build the patched plain kernel, boot it, run the comparison
# benchmarks inside it, and write a report folder.
#
#   ci/main.sh [--report DIR] [--icount] [--quick]
#
#   --report DIR   where the report goes (default: report/<date-time>/)
#   --icount       also run the benchmarks with QEMU -icount (instruction-
#                  counted guest time: steadier ratios under TCG)
#   --quick        fewer sizes and writes (minutes, not tens of minutes)
#
# The report: results-<run>.csv, table.md (ratios against epoll) and SVG
# plots, gathered in README.md. Issue 6 is in progress: only the libevent
# bench.c workload exists so far.
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

report="" icount=0 quick=()
while (($#)); do
	case "$1" in
	--report) report=${2:?--report needs a directory}; shift ;;
	--icount) icount=1 ;;
	--quick) quick=(--quick) ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
	shift
done
report=${report:-$REPO_ROOT/report/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$report"
report=$(cd "$report" && pwd)

lock_cache
log "== setup"
"$REPO_ROOT/ci/setup.sh"
log "== kernel tree: base + kernel-patches/"
"$REPO_ROOT/ci/kernel-tree.sh" apply
log "== plain kernel build"
"$REPO_ROOT/ci/build-kernel.sh"
log "== benchmark binaries (cargo build --release)"
cargo build -q --release -p kevent-benches
bench=$REPO_ROOT/target/release/kevent-benches

run_benches() {
	local label=$1
	shift
	log "== benchmarks in the VM ($label)"
	"$REPO_ROOT/ci/vm-run.sh" "$@" --timeout 3600 --rwdir "$report" \
		-- "$bench" "${quick[@]}" --csv "$report/results-$label.csv" | tee "$report/bench-$label.txt"
	[ -s "$report/results-$label.csv" ] || die "the $label run wrote no results (see $report/bench-$label.txt)"
}
run_benches tcg
((icount == 0)) || run_benches icount --icount

runs=("tcg=$report/results-tcg.csv")
((icount == 0)) || runs+=("icount=$report/results-icount.csv")
python3 "$REPO_ROOT/benches/report.py" "$report" "${runs[@]}"
{
	echo "# kevent benchmark report, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Kernel: Linux $(kernel_base_version) + $(git -C "$KERNEL_TREE" rev-list --count "$KERNEL_BASE_TAG..HEAD") kevent patches, minimal config (ci/kconfig/minimal.config)."
	echo "VM: virtme-ng $VIRTME_NG_VERSION, QEMU TCG (no KVM), 2 vCPUs, 2 GiB; 'icount' runs use QEMU -icount (guest time counted in instructions)."
	echo "Mode: ${quick[*]:-full}. Under TCG absolute times mean little: compare the ratios, all measured in one VM run."
	echo
	cat "$report/table.md"
	echo "Raw data: results-*.csv (workload, params, mechanism, metric, median, reps, min, max)."
} >"$report/README.md"
log "report: $report/README.md"
