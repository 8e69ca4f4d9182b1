#!/usr/bin/env bash
# The main job: build the patched plain kernel, boot it, run the comparison
# benchmarks inside it, and write a report folder.
#
#   ci/main.sh [--report DIR] [--icount] [--quick]
#
#   --report DIR   where the report goes (default: report/<date-time>/)
#   --icount       also run the benchmarks with QEMU -icount (instruction-
#                  counted guest time: steadier ratios under TCG)
#   --quick        fewer sizes, writes and seconds (under 10 minutes once the
#                  kernel is built)
#
# Workloads: libevent bench.c, oneshot re-arm, pipes, 10,000 timers,
# thundering herd, 1,000 process exits, signals, 10,000 file creations;
# then criterion per-call microbenchmarks; then lighttpd and nginx
# (Debian's sources, each built with epoll and with kqueue on kevent)
# under wrk; then a TCP echo server per mechanism (epoll, io_uring,
# kevent readiness, KEVENT_NAIO) under a closed-loop client, and a 1 MiB
# file download (sendfile, io_uring splice, KEVENT_NAIO_SENDFILE)
# (benches/README.md). The report: results-<run>.csv, table.md (ratios
# against epoll), SVG plots, gathered in README.md.
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

report="" icount=0 quick=()
while (($#)); do
	case "$1" in
	--report) report=${2:?--report needs a directory}; shift ;;
	--icount) icount=1 ;;
	--quick) quick=(--quick) ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
log "== benchmark binaries (cargo build --release, cargo bench --no-run)"
cargo build -q --release -p kevent-benches
workloads=$REPO_ROOT/target/release/kevent-benches
# The TCP echo benchmark; ci/bench-guest.sh runs it from beside the driver.
[ -x "$REPO_ROOT/target/release/kevent-echo" ] || die "cargo build built no kevent-echo"
per_call=$(cargo bench -q -p kevent-benches --no-run --message-format=json | cargo_executables per_call)
[ -x "$per_call" ] || die "cargo bench --no-run built no per_call benchmark"
log "== web servers: lighttpd and nginx from apt-get source, epoll and kqueue builds"
webservers=$REPO_ROOT/target/webserver
"$REPO_ROOT/benches/webserver/build.sh" "$webservers"

run_benches() {
	local label=$1
	shift
	log "== benchmarks in the VM ($label): progress [done/total elapsed] below"
	rm -rf "$report/criterion-$label"
	"$REPO_ROOT/ci/vm-run.sh" "$@" --follow --timeout 3600 --rwdir "$report" \
		-- "$REPO_ROOT/ci/bench-guest.sh" "$report" "$label" "$workloads" "$per_call" "$webservers" "${quick[@]}" \
		2>&1 | tee "$report/bench-$label.txt" | grep --line-buffered -E '^\[|^==|^[a-z_0-9]+/[a-z_0-9-]+ +time:|^strace |vm-run'
	[ -s "$report/results-$label.csv" ] || die "the $label run wrote no results (see $report/bench-$label.txt)"
	python3 "$REPO_ROOT/benches/criterion_csv.py" "$report/criterion-$label" "$report/results-$label.csv"
}
run_benches tcg
((icount == 0)) || run_benches icount --icount

# The -icount run first (its figures' left panel, its table rows first):
# its repetitions agree within about 1 %, TCG's spread by 10-50 %.
runs=("tcg=$report/results-tcg.csv")
((icount == 0)) || runs=("icount=$report/results-icount.csv" "${runs[@]}")
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
