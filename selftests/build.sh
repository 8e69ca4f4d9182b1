#!/usr/bin/env bash
# Build the kselftest suites the in-VM runner uses, from the kernel tree in
# $KERNEL_TREE, against the uapi headers of the series:
#
#   selftests/build.sh [SUITE...]
#
#   epoll        tools/testing/selftests/filesystems/epoll (the kernel's own)
#   kevent       tools/testing/selftests/kevent (ours; once the series adds it)
#   NAME-m32     suite NAME built as static i386 programs (-m32 -static)
#   NAME-mx32    suite NAME built as static x32 programs (-mx32 -static)
#
# Default: epoll kevent kevent-m32 kevent-mx32. Output:
# $KEVENT_CACHE/selftests/<suite>/.
#
# A suite that does not compile fails the build. If the compiler cannot
# build -m32 or -mx32 programs at all (gcc-multilib missing: ci/setup.sh
# installs it), that suite is left without programs and with a NOT-BUILT
# note; selftests/run.sh counts it as a failure, so the test totals show it.
. "$(dirname "$0")/../ci/lib.sh"

suite_src() {
	case ${1%-m32} in
	epoll) echo tools/testing/selftests/filesystems/epoll ;;
	kevent) echo tools/testing/selftests/kevent ;;
	*) return 1 ;;
	esac
}
abi_of() {
	case $1 in
	*-m32) echo m32 ;;
	*-mx32) echo mx32 ;;
	*) echo native ;;
	esac
}
# What file(1) says of a static program of each ABI.
abi_file_re() {
	case $1 in
	m32) echo 'ELF 32-bit LSB .*Intel (80386|i386).*(statically|static-pie) linked' ;;
	mx32) echo 'ELF 32-bit LSB .*x86-64.*(statically|static-pie) linked' ;;
	esac
}

suites=("$@")
((${#suites[@]})) || suites=(epoll kevent kevent-m32 kevent-mx32)
for s in "${suites[@]}"; do
	s_base=${s%-m32}
	suite_src "${s_base%-mx32}" >/dev/null || die "unknown suite '$s' (see the header of $0)"
done

lock_cache
hdr=$KEVENT_CACHE/selftests/usr
mkdir -p "$KEVENT_CACHE/selftests"
log "installing uapi headers into $hdr"
quiet make -C "$KERNEL_TREE" O="$KEVENT_CACHE/selftests/hdr-build" \
	INSTALL_HDR_PATH="$hdr" headers_install

# Whether gcc builds and links a static program for an ABI (-m32, -mx32),
# with the libraries the suites link (pthread).
toolchain_ok() {
	local tmp rc
	tmp=$(mktemp -d)
	printf '#include <pthread.h>\n#include <stdio.h>\nint main(void) { return !printf("%%d\\n", (int)sizeof(pthread_t)); }\n' >"$tmp/t.c"
	gcc "-$1" -static -o "$tmp/t" "$tmp/t.c" -lpthread >"$tmp/log" 2>&1
	rc=$?
	((rc == 0)) || sed 's/^/    /' "$tmp/log" | tail -n 5 >&2
	rm -rf "$tmp"
	return "$rc"
}

build_suite() {
	local name=$1 base dir abi out flags=() re b what="" n=0 bad=0
	base=${name%-m32}
	base=${base%-mx32}
	dir=$(suite_src "$base")
	abi=$(abi_of "$name")
	out=$KEVENT_CACHE/selftests/$name
	# From clean: lib.mk does not track the installed uapi headers, and a
	# removed test must not linger.
	rm -rf "${out:?}"
	if [ ! -d "$KERNEL_TREE/$dir" ]; then
		log "suite $name: $dir not in the tree; skipped"
		return 0
	fi
	mkdir -p "$out"
	if [ "$abi" != native ]; then
		if ! toolchain_ok "$abi"; then
			log "ERROR: suite $name: gcc cannot build static -$abi programs (run ci/setup.sh: gcc-multilib); not built, counted as failed by run.sh"
			echo "gcc cannot build static -$abi programs on the build host (gcc-multilib missing?)" >"$out/NOT-BUILT"
			return 0
		fi
		# lib.mk appends USERCFLAGS/USERLDFLAGS to the Makefile's own
		# CFLAGS/LDFLAGS (CFLAGS= on the command line would replace them,
		# KHDR_INCLUDES included).
		flags=(USERCFLAGS="-$abi -static" USERLDFLAGS="-$abi -static")
	fi
	log "building suite $name ($dir${flags:+, -$abi -static})"
	quiet make -C "$KERNEL_TREE/$dir" OUTPUT="$out" \
		KHDR_INCLUDES="-isystem $hdr/include" CC="ccache gcc" "${flags[@]}"
	[ "$abi" = native ] && return 0
	# Every program must really be a static program of that ABI.
	re=$(abi_file_re "$abi")
	for b in "$out"/*; do
		[ -f "$b" ] && [ -x "$b" ] || continue
		n=$((n + 1))
		what=$(file -b "$b")
		if ! grep -qE "$re" <<<"$what"; then
			log "suite $name: $(basename "$b") is not a static $abi program: $what"
			bad=1
		fi
	done
	((bad == 0)) || die "suite $name: wrong kind of binaries"
	log "suite $name: $n static $abi programs (${what%%, version*})"
}

for s in "${suites[@]}"; do
	build_suite "$s"
done
