#!/usr/bin/env bash
# Builds the instruction-profile plugin (insn_profile.c) for the QEMU this
# machine runs: its one header, qemu-plugin.h, comes from Debian's source
# package of the installed qemu-system-x86 (deb-src: ci/setup.sh), fetched
# once into $KEVENT_CACHE/qemu-src. Prints the plugin's path.
#
#   benches/insn-profile/build.sh [OUTDIR]      (default target/insn-profile)
. "$(dirname "$0")/../../ci/lib.sh"
out=${1:-$REPO_ROOT/target/insn-profile}
mkdir -p "$out"
version=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	die "qemu-system-x86 is not installed: run ci/setup.sh"
src=$KEVENT_CACHE/qemu-src/${version#*:}
header=$src/qemu-plugin.h
if [ ! -f "$header" ]; then
	mkdir -p "$src"
	log "apt-get source qemu=$version (qemu-plugin.h only) into $src"
	(cd "$src" && quiet apt-get source -q --download-only "qemu=$version")
	orig=$(ls "$src"/qemu_*.orig.tar.* 2>/dev/null | head -n 1)
	[ -n "$orig" ] || die "apt-get source qemu=$version gave no tarball (deb-src entries: ci/setup.sh)"
	tar -xf "$orig" -C "$src" --wildcards --strip-components=3 '*/include/qemu/qemu-plugin.h'
	[ -f "$header" ] || die "no include/qemu/qemu-plugin.h in $orig"
fi
cc -O2 -Wall -Werror -shared -fPIC -I"$src" -o "$out/insn_profile.so" \
	"$REPO_ROOT/benches/insn-profile/insn_profile.c"
echo "$out/insn_profile.so"
