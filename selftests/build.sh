#!/usr/bin/env bash
# Build the kselftest suites the in-VM runner uses, from the kernel tree in
# $KERNEL_TREE, against the uapi headers of the series:
#   epoll   tools/testing/selftests/filesystems/epoll (the kernel's own)
#   kevent  tools/testing/selftests/kevent (ours; once the series adds it)
# Output: $KEVENT_CACHE/selftests/<suite>/.
. "$(dirname "$0")/../ci/lib.sh"

lock_cache
hdr=$KEVENT_CACHE/selftests/usr
mkdir -p "$KEVENT_CACHE/selftests"
log "installing uapi headers into $hdr"
quiet make -C "$KERNEL_TREE" O="$KEVENT_CACHE/selftests/hdr-build" \
	INSTALL_HDR_PATH="$hdr" headers_install

build_suite() {
	local name=$1 dir=$2
	if [ ! -d "$KERNEL_TREE/$dir" ]; then
		log "suite $name: $dir not in the tree; skipped"
		return 0
	fi
	log "building suite $name ($dir)"
	# From clean: lib.mk does not track the installed uapi headers, and a
	# removed test must not linger.
	rm -rf "${KEVENT_CACHE:?}/selftests/$name"
	mkdir -p "$KEVENT_CACHE/selftests/$name"
	quiet make -C "$KERNEL_TREE/$dir" OUTPUT="$KEVENT_CACHE/selftests/$name" \
		KHDR_INCLUDES="-isystem $hdr/include" CC="ccache gcc"
}

build_suite epoll tools/testing/selftests/filesystems/epoll
build_suite kevent tools/testing/selftests/kevent
