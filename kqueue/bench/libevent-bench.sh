#!/usr/bin/env bash
# libevent's own test/bench.c (built by kqueue/clients/build.sh) once per
# backend, in the same boot of the minimal kernel: epoll, and kqueue on
# this library on kevent. Writes OUTDIR/libevent-bench.csv (backend,
# pipes, active, run, usec: bench.c's 25 timed runs per configuration),
# OUTDIR/libevent-bench.md (medians) and OUTDIR/libevent-bench.png.
#
#   [KQ_ICOUNT=1] kqueue/bench/libevent-bench.sh [OUTDIR]   (KQ_ICOUNT: QEMU -icount)
. "$(dirname "$0")/../../ci/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$REPO_ROOT/target/kqueue-bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bench=$REPO_ROOT/target/kqueue-clients/libevent/test/bench
[ -x "$bench" ] || die "no $bench: run kqueue/clients/build.sh first"
guest=$out/libevent-bench-guest.sh
cat >"$guest" <<GUEST
#!/bin/bash
echo backend,pipes,active,run,usec
for pipes in 100 1000; do
	for active in 1 100; do
		for backend in EPOLL KQUEUE; do
			if [ \$backend = EPOLL ]; then no=KQUEUE; else no=EPOLL; fi
			env EVENT_NO\$no=yes EVENT_NOPOLL=yes EVENT_NOSELECT=yes \\
				$bench -n \$pipes -a \$active -w \$pipes 2>/dev/null |
				awk -v b=\$backend -v p=\$pipes -v a=\$active '/^[0-9]+\$/ {print b "," p "," a "," NR "," \$1}'
		done
	done
done
GUEST
chmod +x "$guest"
"$REPO_ROOT/ci/vm-run.sh" ${KQ_ICOUNT:+--icount} --timeout 1200 -- "$guest" | grep -E '^(backend|EPOLL|KQUEUE),' >"$out/libevent-bench.csv"
/usr/bin/python3 "$here/plot.py" "$out/libevent-bench.csv" "$out/libevent-bench.png" \
	"QEMU TCG${KQ_ICOUNT:+ -icount}, minimal kernel" | tee "$out/libevent-bench.md"
