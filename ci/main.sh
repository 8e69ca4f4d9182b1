#!/usr/bin/env bash
# The main job: build the patched plain kernel, boot it, run the comparison
# benchmarks inside it, and write a report folder.
#
#   ci/main.sh [--report DIR] [--icount]
#
#   --report DIR   where the report goes (default: report/<date-time>/)
#   --icount       also run the benchmarks with QEMU -icount (instruction-
#                  counted guest time: steadier ratios under TCG)
#
# Until the comparison benchmarks land (issue 6), this runs the benchmark
# driver that exists and says so in the report.
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

report="" icount=0
while (($#)); do
	case "$1" in
	--report) report=${2:?--report needs a directory}; shift ;;
	--icount) icount=1 ;;
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
	"$REPO_ROOT/ci/vm-run.sh" "$@" --timeout 1800 --rwdir "$report" \
		-- "$bench" | tee "$report/bench-$label.txt"
}
run_benches tcg
((icount == 0)) || run_benches icount --icount

{
	echo "# kevent benchmark report, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Kernel: Linux $(kernel_base_version) + $(git -C "$KERNEL_TREE" rev-list --count "$KERNEL_BASE_TAG..HEAD") kevent patches, minimal config (ci/kconfig/minimal.config)."
	echo "VM: virtme-ng $VIRTME_NG_VERSION, QEMU TCG (no KVM), 2 vCPUs, 2 GiB."
	echo
	echo "The comparison workloads (epoll, io_uring, kevent) are not written yet"
	echo "(issue 6); this report holds what the benchmark driver printed:"
	echo
	for f in "$report"/bench-*.txt; do
		echo "## $(basename "$f" .txt)"
		echo '```'
		cat "$f"
		echo '```'
	done
} >"$report/README.md"
log "report: $report/README.md"
