#!/usr/bin/env bash
# Builds the web servers of the web-server comparison (issue 16) from
# Debian's source packages (deb-src: ci/setup.sh), each twice: its Linux
# epoll backend, and its kqueue backend on this project's libkqueue
# (kqueue/). Build configuration only, no source change:
#   lighttpd 1.4.69-1: configure finds <sys/event.h> and kqueue() through
#     CPPFLAGS/LIBS pointing at the staged libkqueue; the kqueue build has
#     both backends, server.event-handler picks "freebsd-kqueue"
#   nginx 1.22.1-9+deb12u9: auto/unix tests for kqueue on every system, so
#     --with-cc-opt/--with-ld-opt are enough, plus three flags because
#     Linux's ngx_linux_config.h does not include <sys/event.h>: the
#     header is force-included (-include sys/event.h), so _GNU_SOURCE and
#     _FILE_OFFSET_BITS must come first (-D, as ngx_linux_config.h would
#     set them), and NGX_EXCLUSIVE_EVENT (only defined in ngx_event.h's
#     epoll branch, which NGX_HAVE_KQUEUE's branch replaces) is 0 as in
#     nginx's own NGX_TEST_BUILD_EPOLL; the kqueue build runs with
#     "use kqueue;" only.
# Both without PCRE and zlib (--without-pcre2 ..., nginx without rewrite
# and gzip): static files only, no build dependency beyond libc.
# Sources are fetched once into $KEVENT_CACHE/webserver (apt-get source);
# builds go to OUTDIR (default target/webserver) and are kept: a server
# is rebuilt when its configure line changes or with --force. libkqueue
# is staged (kqueue/install.sh) into OUTDIR/stage every time; the kqueue
# builds find it there through their rpath.
#
#   benches/webserver/build.sh [--force] [OUTDIR]
. "$(dirname "$0")/../../ci/lib.sh"
force=0
[ "${1:-}" = --force ] && { force=1; shift; }
out=${1:-$REPO_ROOT/target/webserver}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$KEVENT_CACHE/webserver
LIGHTTPD=lighttpd-1.4.69 LIGHTTPD_V=1.4.69-1
NGINX=nginx-1.22.1 NGINX_V=1.22.1-9+deb12u9

apt_source "$src" lighttpd "$LIGHTTPD_V" "$LIGHTTPD"
apt_source "$src" nginx "$NGINX_V" "$NGINX"

stage_libkqueue "$out/stage"

# build NAME SOURCE BINARY CONFIGURE-ARGS...: a copy of SOURCE in
# OUT/NAME, configured and built unless BINARY is there from the same
# configure line.
build() {
	local name=$1 source=$2 binary=$3
	shift 3
	local dir=$out/$name stamp
	stamp=$(printf '%s\n' "$source" "$@")
	if ((force == 0)) && [ -x "$dir/$binary" ] && [ "$(cat "$dir/.kevent-configure" 2>/dev/null)" = "$stamp" ]; then
		log "$name: up to date ($dir/$binary)"
		return 0
	fi
	log "$name: configure and build in $dir"
	rm -rf "$dir"
	cp -a "$src/$source" "$dir"
	# Keep make from wanting autotools (the tarball's configure is used).
	find "$dir" \( -name '*.am' -o -name configure.ac -o -name '*.m4' \) -exec touch -d 2000-01-01 {} +
	(cd "$dir" && quiet ./configure "$@" && quiet make -j"$(nproc)")
	[ -x "$dir/$binary" ] || die "$name: no $dir/$binary"
	printf '%s\n' "$stamp" >"$dir/.kevent-configure"
}

lighttpd_conf=(--without-pcre2 --without-zlib --without-bzip2 --without-zstd --without-brotli
	--without-libdeflate --enable-static --disable-shared)
build lighttpd-epoll "$LIGHTTPD" src/lighttpd "${lighttpd_conf[@]}" CFLAGS="-O2 -g"
build lighttpd-kqueue "$LIGHTTPD" src/lighttpd "${lighttpd_conf[@]}" CFLAGS="-O2 -g" \
	CPPFLAGS="$kq_cflags" LIBS="$kq_libs"
grep -q '^#define HAVE_KQUEUE 1' "$out/lighttpd-kqueue/config.h" || die "lighttpd: configure did not find kqueue()"
if grep -q '^#define HAVE_KQUEUE 1' "$out/lighttpd-epoll/config.h"; then
	die "lighttpd-epoll: configure found a kqueue: not the plain epoll build"
fi
"$out/lighttpd-kqueue/src/lighttpd" -V | grep -q '+ kqueue' || die "lighttpd-kqueue: no kqueue event handler"

nginx_conf=(--without-http_rewrite_module --without-http_gzip_module --without-pcre
	--without-http_ssi_module --without-http_userid_module)
build nginx-epoll "$NGINX" objs/nginx "${nginx_conf[@]}" --with-cc-opt="-O2 -g"
build nginx-kqueue "$NGINX" objs/nginx "${nginx_conf[@]}" \
	--with-cc-opt="-O2 -g -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DNGX_EXCLUSIVE_EVENT=0 $kq_cflags -include sys/event.h" \
	--with-ld-opt="$kq_libs"
grep -q 'ngx_kqueue_module' "$out/nginx-kqueue/objs/ngx_modules.c" || die "nginx-kqueue: configure did not find kqueue"
if grep -q 'ngx_kqueue_module' "$out/nginx-epoll/objs/ngx_modules.c"; then
	die "nginx-epoll: built with kqueue: not the plain epoll build"
fi
log "built: $out/{lighttpd,nginx}-{epoll,kqueue}"
