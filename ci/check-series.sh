#!/usr/bin/env bash
# Check the patch series in kernel-patches/:
#   1. scripts/checkpatch.pl --strict reports nothing on any patch;
#   2. the series applies to the base with git am (ci/kernel-tree.sh apply);
#   3. every patch builds on its own: for each commit of the series, the
#      directories it touches are built with the minimal config (quick
#      bisect mode; 'make headers' for uapi headers).
# Leaves the tree on branch 'kevent' at the top of the series.
. "$(dirname "$0")/lib.sh"

[ $# -eq 0 ] || die "usage: ci/check-series.sh (no arguments)"
"$REPO_ROOT/ci/kernel-tree.sh" apply

patches=()
for p in "$REPO_ROOT"/kernel-patches/[0-9][0-9][0-9][0-9]-*.patch; do
	[ -f "$p" ] && [ "$(basename "$p")" != 0000-cover-letter.patch ] && patches+=("$p")
done
((${#patches[@]})) || { log "no patches: nothing to check"; exit 0; }

failed=0
log "checkpatch --strict on ${#patches[@]} patches"
for p in "${patches[@]}"; do
	out=$(cd "$KERNEL_TREE" && PATH="$VNG_VENV/bin:$PATH" ./scripts/checkpatch.pl --strict --no-signoff -q --terse "$p" 2>&1) || true
	if [ -n "$out" ] && ! grep -qx "total: 0 errors, 0 warnings, 0 checks, [0-9]* lines checked" <<<"$out"; then
		echo "checkpatch: $(basename "$p"):" >&2
		echo "$out" | sed 's/^/  /' >&2
		failed=1
	fi
done
((failed == 0)) || die "checkpatch --strict found problems (see above)"

# Touched directories of one commit, as build targets.
targets_of() {
	git -C "$KERNEL_TREE" diff-tree --no-commit-id --name-only -r "$1" |
		while read -r f; do
			case "$f" in
			include/uapi/*) echo headers ;;
			Documentation/* | tools/* | MAINTAINERS) ;;
			*.c | */Makefile | */Kconfig | *.tbl) dirname "$f" ;;
			esac
		done | sort -u
}

commits=$(git -C "$KERNEL_TREE" rev-list --reverse "$KERNEL_BASE_TAG..$KERNEL_BRANCH")
i=0
for c in $commits; do
	i=$((i + 1))
	subject=$(git -C "$KERNEL_TREE" log -1 --format=%s "$c")
	mapfile -t targets < <(targets_of "$c")
	if ((${#targets[@]} == 0)); then
		log "patch $i ($subject): nothing to build"
		continue
	fi
	log "patch $i ($subject): building ${targets[*]}"
	git -C "$KERNEL_TREE" checkout -q "$c"
	if ! "$REPO_ROOT/ci/build-kernel.sh" --out bisect --quick "${targets[@]}" >/dev/null; then
		git -C "$KERNEL_TREE" checkout -q "$KERNEL_BRANCH"
		die "patch $i ($subject) does not build on its own (log: $(build_dir bisect).log)"
	fi
done
git -C "$KERNEL_TREE" checkout -q "$KERNEL_BRANCH"
log "series ok: ${#patches[@]} patches, checkpatch clean, each builds on its own"
