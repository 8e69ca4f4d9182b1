#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian machine: kernel
# build dependencies, QEMU, ccache, libclang (bindgen), Debian's
# linux-source-6.12, gcc-multilib (the kselftests are also built -m32 and
# -mx32: on amd64 it pulls libc6-dev-i386 and libc6-dev-x32, named here so
# that a missing one is installed by name), and virtme-ng from PyPI in a
# virtualenv under $KEVENT_CACHE. Idempotent: prints one line when there is
# nothing to do.
. "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
	linux-source-6.12 qemu-system-x86 ccache libclang-dev clang
	bc bison flex libelf-dev libssl-dev dwarves cpio rsync kmod
	busybox-static python3-venv libcap-dev git make gcc perl
	gcc-multilib libc6-dev-i386 libc6-dev-x32 file
	sparse # ci/check-series.sh: make C=2 on fs/kevent/
	python3-matplotlib # benches/report.py: the benchmark report's figures
	mandoc man-db groff-base # man/check.sh: lint and render the manual pages
	pkg-config dpkg-dev # kqueue/: tests built with pkg-config; clients from apt-get source
	wrk # benches/webserver/: the load generator (lighttpd and nginx from apt-get source)
	linux-perf # benches/profile.sh: perf record in the guest (it said setup installs it; setup did not)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	[ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
	log "installing Debian packages: ${missing[*]}"
	# Wait for another apt (a concurrent job) instead of failing.
	quiet apt-get -o DPkg::Lock::Timeout=600 update
	DEBIAN_FRONTEND=noninteractive quiet apt-get -o DPkg::Lock::Timeout=600 \
		install -y --no-install-recommends "${missing[@]}"
fi

# deb-src entries for the archive the binary packages come from, so that
# kqueue/clients/build.sh can 'apt-get source' libevent and libev (and
# benches/webserver/build.sh lighttpd and nginx).
debsrc=/etc/apt/sources.list.d/kevent-deb-src.sources
if ! grep -rqsE '^(deb-src |Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	[ "$(id -u)" = 0 ] || die "need root to add $debsrc"
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$debsrc.tmp"
	else
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"${debsrc%.sources}.list"
	fi
	[ -f "$debsrc.tmp" ] && mv "$debsrc.tmp" "$debsrc"
	log "added deb-src entries ($debsrc); apt-get update"
	quiet apt-get -o DPkg::Lock::Timeout=600 update
fi

mkdir -p "$KEVENT_CACHE" "$CCACHE_DIR"
# virtme-ng, and what checkpatch's spdxcheck.py imports (ply, GitPython).
if ! "$VNG_VENV/bin/vng" --version 2>/dev/null | grep -qw "${VIRTME_NG_VERSION//./\\.}" ||
	! "$VNG_VENV/bin/python3" -c 'import ply, git' 2>/dev/null; then
	log "installing virtme-ng $VIRTME_NG_VERSION, ply, GitPython into $VNG_VENV"
	quiet python3 -m venv "$VNG_VENV"
	quiet "$VNG_VENV/bin/pip" install --quiet "virtme-ng==$VIRTME_NG_VERSION" \
		"ply==$PLY_VERSION" "GitPython==$GITPYTHON_VERSION"
fi
ccache --max-size=10G >/dev/null

need_cmd cargo "the Rust toolchain (rustup; it comes with the machine)"
for component in rustfmt clippy; do
	cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 ||
		die "cargo ${component/rustfmt/fmt} missing: rustup component add $component"
done
# The published crates' MSRV toolchain (ci/rust-compat.sh), from rustup
# only; without rustup the MSRV check says it is skipped.
msrv=$(sed -nE 's/^rust-version *= *"([0-9.]+)".*/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)
if command -v rustup >/dev/null 2>&1 && [ -n "$msrv" ] &&
	! rustup run "$msrv" cargo --version >/dev/null 2>&1; then
	log "installing the MSRV toolchain $msrv (rustup)"
	quiet rustup toolchain install "$msrv" --profile minimal
fi
# The other targets ci/rust-compat.sh builds for: i686's and aarch64's
# standard libraries come from rustup; x32 has none there, so its std is
# built from nightly's rust-src, when the machine has a nightly toolchain.
# A failure here is not fatal: rust-compat.sh says which target it skipped.
if command -v rustup >/dev/null 2>&1; then
	for triple in i686-unknown-linux-gnu aarch64-unknown-linux-gnu; do
		rustup target list --installed 2>/dev/null | grep -qx "$triple" && continue
		log "adding the Rust target $triple (rustup)"
		rustup target add "$triple" >/dev/null 2>&1 ||
			log "warning: rustup target add $triple failed; ci/rust-compat.sh will skip it"
	done
	if rustup run nightly rustc --version >/dev/null 2>&1; then
		std_src="$(rustup run nightly rustc --print sysroot)/lib/rustlib/src/rust/library"
		if [ ! -d "$std_src" ]; then
			log "adding nightly's rust-src (rustup), for the x32 build of ci/rust-compat.sh"
			rustup component add rust-src --toolchain nightly >/dev/null 2>&1 ||
				log "warning: rustup component add rust-src --toolchain nightly failed; ci/rust-compat.sh will skip x32"
		fi
		# rust-compat.sh builds std --offline: its crates must be in
		# cargo's cache (a no-op once they are).
		if [ -f "$std_src/Cargo.lock" ] &&
			! rustup run nightly cargo fetch --manifest-path "$std_src/Cargo.toml" >/dev/null 2>&1; then
			log "warning: cargo fetch of nightly std's crates failed; ci/rust-compat.sh's x32 build will fail"
		fi
	fi
fi
log "setup: ok (cache $KEVENT_CACHE, virtme-ng $VIRTME_NG_VERSION)"
