#!/usr/bin/env bash
# The published crates (kevent-sys, kevent) on their stated MSRV and on
# other Linux targets, and the kqueue library on the same MSRV.
# ci/test.sh runs it in its host part; it needs no kernel and downloads
# nothing.
#
#   ci/rust-compat.sh
#
# 1. MSRV: builds kevent-sys, kevent and the kqueue library
#    (kevent-kqueue, whose README states the same MSRV; without
#    features, and kevent with `mio`) and runs kevent-sys's host tests
#    with the toolchain named by the workspace's `rust-version`
#    (rustup's `cargo +1.77`). The `tokio`
#    feature and kevent's tests need tokio's MSRV (1.85), so they are not
#    built here. Without rustup or that toolchain the check is skipped,
#    saying so (ci/setup.sh installs the toolchain when rustup exists).
# 2. Targets: aarch64 and x32 are compile-checked, i686 is built and its
#    host tests (layout, arguments) run as a 32-bit program. A target's
#    standard library comes from rustup when it is installed, else it is
#    built from nightly's rust-src (-Zbuild-std, --offline); without
#    either the target is skipped, saying so.
# 3. docs.rs: the documentation with nightly and --cfg docsrs, as docs.rs
#    builds it (skipped without nightly).
#
# Prints "rust-compat: N passed, N failed, N skipped" and exits non-zero
# if anything failed.
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

passed=0 failed=0 skipped=0
pass() { log "ok: $*"; passed=$((passed + 1)); }
fail() { log "FAIL: $*"; failed=$((failed + 1)); }
skip() { log "skipped: $*"; skipped=$((skipped + 1)); }

# Runs "$@", showing the last lines of its output if it fails.
run() {
	local out rc
	out=$(mktemp)
	"$@" >"$out" 2>&1
	rc=$?
	((rc == 0)) || tail -n 30 "$out" >&2
	rm -f "$out"
	return "$rc"
}

msrv=$(sed -nE 's/^rust-version *= *"([0-9.]+)".*/\1/p' Cargo.toml | head -n1)
[ -n "$msrv" ] || die "no rust-version in Cargo.toml's [workspace.package]"

# A target dir of its own per toolchain, so that no build evicts the
# workspace's.
tdir=$REPO_ROOT/target/compat

# 1. MSRV
if ! command -v rustup >/dev/null 2>&1; then
	skip "MSRV $msrv: no rustup on this machine, so no toolchain $msrv to build with"
elif ! rustup run "$msrv" cargo --version >/dev/null 2>&1; then
	skip "MSRV $msrv: rustup has no toolchain $msrv (ci/setup.sh installs it: rustup toolchain install $msrv --profile minimal)"
else
	export CARGO_TARGET_DIR=$tdir/msrv
	set +e
	if run cargo "+$msrv" build --locked -p kevent-sys -p kevent -p kevent-kqueue; then
		pass "MSRV $msrv: kevent-sys, kevent and the kqueue library build"
	else
		fail "MSRV $msrv: kevent-sys, kevent or the kqueue library does not build with Rust $msrv"
	fi
	if run cargo "+$msrv" build --locked -p kevent --features mio; then
		pass "MSRV $msrv: kevent builds with the mio feature"
	else
		fail "MSRV $msrv: kevent --features mio does not build with Rust $msrv"
	fi
	if run cargo "+$msrv" test --locked -p kevent-sys; then
		pass "MSRV $msrv: kevent-sys's host tests pass"
	else
		fail "MSRV $msrv: kevent-sys's tests fail with Rust $msrv"
	fi
	set -e
	unset CARGO_TARGET_DIR
fi

# 2. Targets. "check" or "test" (build and run the host tests).
have_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }
have_build_std() {
	rustup run nightly rustc --version >/dev/null 2>&1 &&
		[ -d "$(rustup run nightly rustc --print sysroot)/lib/rustlib/src/rust/library" ]
}

target() {
	local triple=$1 what=$2 cargo=(cargo) flags=()
	if command -v rustup >/dev/null 2>&1 && have_target "$triple"; then
		:
	elif command -v rustup >/dev/null 2>&1 && have_build_std; then
		cargo=(cargo +nightly)
		flags=(-Zbuild-std=std,panic_abort --offline)
	else
		skip "$triple: neither its standard library (rustup target add $triple) nor nightly's rust-src is installed"
		return 0
	fi
	export CARGO_TARGET_DIR=$tdir/$triple
	set +e
	if [ "$what" = test ]; then
		# The kernel tests are #[ignore]d; these are the layout, argument
		# and builder tests, run as a program of that target.
		run "${cargo[@]}" test "${flags[@]}" --locked --target "$triple" \
			-p kevent-sys -p kevent --lib
	else
		run "${cargo[@]}" check "${flags[@]}" --locked --target "$triple" \
			-p kevent-sys -p kevent --all-features --lib --tests --examples
	fi
	local rc=$?
	set -e
	unset CARGO_TARGET_DIR
	if ((rc == 0)); then
		pass "$triple: $what (${cargo[*]} ${flags[*]})"
	else
		fail "$triple: cargo $what of kevent-sys and kevent"
	fi
}

target aarch64-unknown-linux-gnu check
target i686-unknown-linux-gnu check
target i686-unknown-linux-gnu test
target x86_64-unknown-linux-gnux32 check

# 3. docs.rs: the documentation as docs.rs builds it (nightly, with the
#    package.metadata.docs.rs rustdoc-args: --cfg docsrs and
#    feature(doc_cfg), which marks the feature-gated items).
if command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then
	export CARGO_TARGET_DIR=$tdir/docsrs
	set +e
	RUSTDOCFLAGS="--cfg docsrs -D warnings" run cargo +nightly doc --locked --offline \
		--no-deps -p kevent-sys -p kevent --all-features
	rc=$?
	set -e
	unset CARGO_TARGET_DIR
	if ((rc == 0)); then
		pass "docs.rs: cargo +nightly doc --cfg docsrs"
	else
		fail "docs.rs: the documentation does not build with --cfg docsrs on nightly"
	fi
else
	skip "docs.rs: no nightly toolchain to build the documentation as docs.rs does"
fi

echo "rust-compat: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
