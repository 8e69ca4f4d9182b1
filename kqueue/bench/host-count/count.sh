#!/usr/bin/env bash
# The kqueue library's own user-space instructions per call, counted
# exactly on the host with callgrind, without a VM or a kevent kernel:
# a copy of the workspace's kevent-sys and kqueue crates is built with
# kevent-sys's syscall instruction replaced by a call of fake-kernel.c,
# whose instructions are not counted. For A/B of library changes in
# seconds; the kernel's side and the real servers are measured in the VM
# (kqueue/bench/profile.sh, benches/webserver/). The counts agree with
# profile.sh's user-space part to within a few instructions per call.
#
#   kqueue/bench/host-count/count.sh [--src TREE] [--label NAME] [--lines]
#
# --src: another checkout (a git worktree of an older commit, for A/B);
# PER_WAIT=N: kq-close8 with N connections per wait (default 8, at most 64);
# --lines: also write report/host-count-NAME-LOOP-CALL.txt, the counts by
# source line (built with line tables). Needs valgrind (apt-get install
# valgrind) and the kernel tree's kevent branch (ci/kernel-tree.sh apply),
# for the uapi header.
. "$(dirname "$0")/../../../ci/lib.sh"
src=$REPO_ROOT label=this lines=0
while (($#)); do
	case "$1" in
	--src) src=$(cd "${2:?--src needs a directory}" && pwd); shift ;;
	--label) label=${2:?--label needs a name}; shift ;;
	--lines) lines=1 ;;
	*) die "unknown argument '$1' (see the top of $0)" ;;
	esac
	shift
done
[[ $label =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ ]] || die "--label '$label': letters, digits, '.', '_' and '-' only"
[ "$(uname -m)" = x86_64 ] || die "x86-64 only: the stand-in replaces kevent-sys's x86-64 syscall6()"
command -v valgrind >/dev/null || die "no valgrind: apt-get install valgrind"
here=$REPO_ROOT/kqueue/bench/host-count
work=$REPO_ROOT/target/host-count/$label
rm -rf "$work"
mkdir -p "$work/ws"
# The uapi header of the series' branch, whatever the tree has checked
# out (ci/check-series.sh walks it through the series' commits).
header=$work/kevent.h
git -C "$KERNEL_TREE" show kevent:include/uapi/linux/kevent.h >"$header" 2>/dev/null ||
	die "no include/uapi/linux/kevent.h on the kevent branch of $KERNEL_TREE: ci/kernel-tree.sh apply"
cp "$src/Cargo.toml" "$src/Cargo.lock" "$work/ws/"
cp -r "$src/kevent-sys" "$src/kqueue" "$work/ws/"
rm -rf "$work/ws/kevent-sys/drift"
# Only the two crates, and the syscall instruction replaced.
sed -i 's/^members = .*/members = ["kevent-sys", "kqueue"]/; /^kevent = /d' "$work/ws/Cargo.toml"
python3 - "$work/ws/kevent-sys/src/lib.rs" <<'PY'
import sys
path = sys.argv[1]
s = open(path).read()
start = s.index("unsafe fn syscall6")
a = s.index("core::arch::asm!(", start)
b = s.index(");", a) + 2
s = (s[:a] + 'extern "C" { fn fake_syscall6(nr: i64, a0: u64, a1: u64, a2: u64, a3: u64, '
     'a4: u64, a5: u64) -> i64; }\n    ret = fake_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);'
     + s[b:])
open(path, "w").write(s)
PY
debug=none
((lines)) && debug=line-tables-only
# One target directory for every label (incremental builds); the library
# is copied out at once, and a failed build leaves none to count.
lib=$REPO_ROOT/target/host-count/target/release/libkqueue.a
rm -f "$lib"
if ! (cd "$work/ws" && CARGO_PROFILE_RELEASE_DEBUG=$debug \
	CARGO_TARGET_DIR=$REPO_ROOT/target/host-count/target cargo build -q --release -p kevent-kqueue); then
	die "the build of $src's kqueue crate failed"
fi
cp "$lib" "$work/libkqueue.a"
gcc -O2 -g -Wall -Werror -include "$header" -I"$src/kqueue/include" -o "$work/loops" \
	"$here/loops.c" "$here/fake-kernel.c" "$work/libkqueue.a" -lpthread -ldl -lm
count() { # LOOP CALL ROUNDS: instructions per counted call
	local out=$work/cg.$1.$2
	valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
		"$work/loops" "$3" "$1" "$2" >/dev/null 2>&1 || die "loops $1 $2 failed"
	if ((lines)); then
		mkdir -p "$REPO_ROOT/report"
		(cd "$work/ws" && callgrind_annotate --auto=yes --show-percs=no --context=0 "$out") \
			>"$REPO_ROOT/report/host-count-$label-$1-$2.txt" 2>/dev/null
	fi
	callgrind_annotate --auto=no --inclusive=no --threshold=100 "$out" 2>/dev/null |
		python3 -c '
import re, sys
total = 0
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)", line)
    if m and "PROGRAM TOTALS" not in line and not re.search(r"loops\.c:|fake-kernel\.c:", m.group(2)):
        total += int(m.group(1).replace(",", ""))
if total == 0:
    sys.exit("no instructions counted: has the output format of callgrind_annotate changed?")
print("%.1f" % (total / int(sys.argv[1])))' "$3" || die "counting $1 $2 failed"
}
a=$(count kq-delete add 1000) w=$(count kq-delete wait 1000) d=$(count kq-delete del 1000)
c=$(count kq-close addwait 1000) c8=$(count kq-close8 addwait8 1000) k=$(count kq-wait kqwait 1000)
python3 -c 'import sys; a, w, d = map(float, sys.argv[2:5])
print("%s: kq-delete %.1f (add %s, wait %s, del %s)  kq-close %s  kq-close8 %s  kq-wait %s"
      % (sys.argv[1], a + w + d, *sys.argv[2:]))' "$label" "$a" "$w" "$d" "$c" "$c8" "$k"
