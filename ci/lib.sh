# shellcheck shell=bash
# Common settings and helpers for the ci/ scripts. Source it; do not run it.
#
# Everything large (the kernel tree, build output, ccache, the virtme-ng
# virtualenv) lives in $KEVENT_CACHE, outside the repository, so a machine
# handed to the next session keeps it.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEVENT_CACHE=${KEVENT_CACHE:-/var/cache/kevent}
KERNEL_TREE=${KERNEL_TREE:-$KEVENT_CACHE/linux}
KERNEL_BUILD_ROOT=${KERNEL_BUILD_ROOT:-$KEVENT_CACHE/build}
VNG_VENV=$KEVENT_CACHE/venv
VIRTME_NG_VERSION=1.42
PLY_VERSION=3.11
GITPYTHON_VERSION=3.1.45
KERNEL_BASE_TAG=base
KERNEL_BRANCH=kevent
export CCACHE_DIR=${CCACHE_DIR:-$KEVENT_CACHE/ccache}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command quietly; on failure show its output and stop.
quiet() {
	local out
	out=$(mktemp)
	if ! "$@" >"$out" 2>&1; then
		tail -n 40 "$out" >&2
		rm -f "$out"
		die "command failed: $*"
	fi
	rm -f "$out"
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found: run ci/setup.sh first (it installs ${2:-$1})"
}

# Kernel version of the extracted Debian source, e.g. 6.12.57.
kernel_base_version() {
	make -s -C "$KERNEL_TREE" kernelversion 2>/dev/null
}

build_dir() { echo "$KERNEL_BUILD_ROOT/$1"; }

# apt_source SRCDIR PACKAGE VERSION DIR: Debian's source package
# PACKAGE=VERSION unpacked into SRCDIR/DIR, once (deb-src entries:
# ci/setup.sh). Used by kqueue/clients/build.sh and
# benches/webserver/build.sh.
apt_source() {
	local src=$1 pkg=$2 version=$3 dir=$4
	[ -d "$src/$dir" ] && return 0
	mkdir -p "$src"
	log "apt-get source $pkg=$version into $src"
	# The .dsc of this version (its name has no epoch), not any other
	# one an earlier fetch left there.
	(cd "$src" && quiet apt-get source -q --download-only "$pkg=$version" &&
		quiet dpkg-source -x --no-check "$(ls "$pkg"_"${version#*:}".dsc)")
	[ -d "$src/$dir" ] || die "apt-get source $pkg=$version did not give $src/$dir (deb-src entries: ci/setup.sh)"
}

# stage_libkqueue STAGE: kqueue/install.sh into STAGE (afresh), then set
# kq_cflags and kq_libs (with an rpath to STAGE/lib) for the programs
# built against it, and PKG_CONFIG_PATH to find it.
stage_libkqueue() {
	local stage=$1
	rm -rf "$stage"
	PREFIX=$stage "$REPO_ROOT/kqueue/install.sh" >&2
	export PKG_CONFIG_PATH=$stage/lib/pkgconfig
	kq_cflags=$(pkg-config --cflags libkqueue)
	kq_libs="$(pkg-config --libs libkqueue) -Wl,-rpath,$stage/lib"
}

# "PASSED FAILED": the counts of libtest's (cargo test's) "test result:"
# lines in FILE, summed.
libtest_counts() {
	local p f
	p=$(grep -Eo '[0-9]+ passed' "$1" | awk '{s += $1} END {print s + 0}')
	f=$(grep -Eo '[0-9]+ failed' "$1" | awk '{s += $1} END {print s + 0}')
	echo "$p $f"
}

# The executables in cargo's --message-format=json output on stdin, one
# per line; with NAME, only those of the target NAME.
cargo_executables() {
	python3 -c 'import json, sys
name = sys.argv[1] if len(sys.argv) > 1 else None
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and name in (None, m["target"]["name"])):
        print(m["executable"])' "$@"
}

# Serialise the jobs that change the kernel tree or a build directory in
# $KEVENT_CACHE. Child scripts inherit the lock (KEVENT_LOCK_HELD).
lock_cache() {
	[ "${KEVENT_LOCK_HELD:-}" = "$KEVENT_CACHE" ] && return 0
	mkdir -p "$KEVENT_CACHE"
	exec 9>"$KEVENT_CACHE/lock"
	if ! flock -n 9; then
		log "waiting for $KEVENT_CACHE/lock: another job is using the kernel tree"
		flock 9
	fi
	export KEVENT_LOCK_HELD=$KEVENT_CACHE
}
