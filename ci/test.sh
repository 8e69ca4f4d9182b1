#!/usr/bin/env bash
# The test command: everything, from a fresh machine.
#
#   ci/test.sh [--host-only]
#
#   1. setup (ci/setup.sh): Debian packages, virtme-ng
#   2. host tests: cargo fmt --check, clippy -D warnings, cargo test, the
#      crates on their MSRV and other targets (ci/rust-compat.sh), the
#      benchmark report's figures (benches/tests/test_report.py), cargo doc,
#      the manual pages (man/check.sh)
#   3. the series: checkpatch --strict, git am, every patch builds (bisect)
#   4. the debug kernel (KASAN, lockdep, kmemleak); the VM runner's self-test
#      (exit status, splat and hang detection); the kselftests
#   5. in the VM: the epoll and kevent kselftests, the kevent crate's
#      integration tests, kqueue's C conformance tests and the bounded
#      fuzzer/stress run (fuzz/suite.sh) (selftests/vm-suite.sh); any
#      kernel splat fails
#
# --host-only stops after step 2. Prints the time of every step and ends
# with "total: N passed, N failed".
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

host_only=0
case "${1:-}" in
"") ;;
--host-only) host_only=1 ;;
*) die "unknown option '$1' (usage: ci/test.sh [--host-only])" ;;
esac

t0=$(date +%s)
step_start=$t0
timings=()
step() {
	local now
	now=$(date +%s)
	[ -n "${step_name:-}" ] && timings+=("$(printf '%-28s %5ds' "$step_name" $((now - step_start)))")
	step_name=$1
	step_start=$now
	log "== $1"
}
passed=0 failed=0
count_cargo() {
	local p f
	read -r p f < <(libtest_counts "$1")
	passed=$((passed + p)) failed=$((failed + f))
}

# Add an "N passed, N failed" summary line to the totals.
count_summary() {
	[ -n "$1" ] || return 0
	passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$1")))
	failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$1")))
}

# Run a checker that ends with a "NAME: N passed, N failed" line: show
# its output, add that line to the totals, and die with MESSAGE if it
# failed.
#   run_summarised NAME MESSAGE CMD [ARG...]
run_summarised() {
	local name=$1 message=$2 out rc
	shift 2
	out=$(mktemp)
	set +e
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	set -e
	count_summary "$(grep -E "^$name: [0-9]+ passed" "$out" | tail -n1)"
	rm -f "$out"
	((rc == 0)) || die "$message"
}

step "setup"
"$REPO_ROOT/ci/setup.sh"
lock_cache

step "host: cargo fmt/clippy"
cargo fmt --all --check || die "cargo fmt --check: run 'cargo fmt --all'"
cargo clippy -q --workspace --all-targets --all-features -- -D warnings
step "host: cargo test"
cargo_log=$(mktemp)
set +e
cargo test -q --workspace --all-features 2>&1 | tee "$cargo_log"
rc=${PIPESTATUS[0]}
set -e
count_cargo "$cargo_log"
rm -f "$cargo_log"
((rc == 0)) || die "cargo test failed"
step "host: MSRV and targets"
# kevent-sys and kevent with the rust-version toolchain (1.77), and on
# aarch64, i686 (host tests run as a 32-bit program) and x32; says
# "skipped" for what this machine lacks (ci/rust-compat.sh).
run_summarised rust-compat \
	"the crates do not build on their MSRV or another target (ci/rust-compat.sh)" \
	"$REPO_ROOT/ci/rust-compat.sh"
step "host: report figures"
# benches/report.py on a CSV fixture (matplotlib); /usr/bin/python3 is the
# one Debian's python3-matplotlib is installed for.
run_summarised report \
	"the report's figures test failed (benches/tests/test_report.py)" \
	/usr/bin/python3 "$REPO_ROOT/benches/tests/test_report.py"
step "host: cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps --all-features
# rustdoc does not lint docs expanded from other crates' macros (bitflags!)
# or under #[allow(rustdoc::broken_intra_doc_links)]: an unresolved
# `[x](crate::Y)` is then written out as a literal href.
if broken=$(grep -rhoE 'href="(crate|super|self)::[^"]*"' "$REPO_ROOT/target/doc" | sort -u) && [[ -n $broken ]]; then
	die "unresolved intra-doc links in the documentation: $broken"
fi
step "host: manual pages"
# mandoc -Tlint, groff -ww and man -l of man/man2 and man/man7, and the
# pages' example programs compiled against the series' uapi header.
run_summarised man \
	"the manual pages have warnings or their examples do not build (man/check.sh)" \
	"$REPO_ROOT/man/check.sh"

if ((host_only == 0)); then
	step "series: checkpatch, git am, bisect"
	"$REPO_ROOT/ci/check-series.sh"
	step "kernel: debug build"
	"$REPO_ROOT/ci/build-kernel.sh" --debug
	step "VM runner self-test (debug kernel)"
	run_summarised "vm-run selftest" \
		"the VM runner does not report guest results reliably" \
		"$REPO_ROOT/ci/vm-run-selftest.sh" --debug
	step "kselftests: build"
	"$REPO_ROOT/selftests/build.sh"
	step "Rust integration tests: build"
	# kevent/tests/vm.rs (with the mio and tokio features), kevent-sys's
	# unit tests and the examples, built here, run in the guest; their
	# kernel tests are #[ignore]d on the host, so the guest runs them
	# with --include-ignored.
	mapfile -t rust_tests < <(cargo test -q -p kevent --all-features --test vm --no-run --message-format=json | cargo_executables)
	mapfile -t -O "${#rust_tests[@]}" rust_tests < <(cargo test -q -p kevent-sys --lib --no-run --message-format=json | cargo_executables)
	mapfile -t rust_examples < <(cargo build -q -p kevent --all-features --examples --message-format=json | cargo_executables)
	((${#rust_tests[@]} == 2 && ${#rust_examples[@]} == 4)) || die "the Rust tests or examples did not build"
	rust_specs=()
	for t in "${rust_tests[@]}"; do rust_specs+=("test:$t:--include-ignored"); done
	for e in "${rust_examples[@]}"; do
		case $(basename "$e") in
		echo | naio_echo) rust_specs+=("example:$e:--self-test") ;;
		*) rust_specs+=("example:$e") ;;
		esac
	done
	# kqueue/: the C conformance tests, built against libkqueue as
	# install.sh installs it (shared and static); their summary line
	# reads like libtest's, so they run as test: specs.
	mapfile -t kq_tests < <("$REPO_ROOT/kqueue/tests/c/build.sh" "$REPO_ROOT/target/kqueue-c")
	((${#kq_tests[@]})) || die "the kqueue C tests did not build"
	for t in "${kq_tests[@]}"; do rust_specs+=("test:$t"); done
	# fuzz/: the bounded fuzzer and stress run (fuzz/suite.sh, about 3
	# minutes), built against the uapi headers selftests/build.sh installed.
	"$REPO_ROOT/fuzz/build.sh" >/dev/null
	rust_specs+=("test:$REPO_ROOT/fuzz/suite.sh")
	step "VM: kselftests + Rust tests (debug kernel)"
	vm_log=$(mktemp)
	set +e
	"$REPO_ROOT/ci/vm-run.sh" --debug --timeout 3600 --memory 3G \
		-- "$REPO_ROOT/selftests/vm-suite.sh" "${rust_specs[@]}" 2>&1 | tee "$vm_log"
	rc=${PIPESTATUS[0]}
	set -e
	count_summary "$(grep -E '^selftests: [0-9]+ passed' "$vm_log" | tail -n1)"
	count_summary "$(grep -E '^rust-tests: [0-9]+ passed' "$vm_log" | tail -n1)"
	rm -f "$vm_log"
	if ((rc != 0)); then
		# A splat or a hung guest fails the run even if every test passed.
		failed=$((failed + 1))
		log "VM run failed (exit $rc; vm-run's own codes: 123 no results, 124 hung, 125 kernel splat)"
	fi
fi
step "done"

echo
echo "step timings:"
printf '  %s\n' "${timings[@]}"
echo "  total                        $(($(date +%s) - t0))s"
echo "total: $passed passed, $failed failed"
((failed == 0))
