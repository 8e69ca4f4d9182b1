#!/usr/bin/env bash
# Manage the kernel git tree in $KERNEL_TREE (default $KEVENT_CACHE/linux).
#
#   ci/kernel-tree.sh prepare   extract Debian's linux-source-6.12 and commit
#                               it as the base (tag 'base'); once only
#   ci/kernel-tree.sh apply     (re)create branch 'kevent' from the base and
#                               'git am' kernel-patches/*.patch onto it; a
#                               no-op if the branch already holds them;
#                               refuses to discard unexported commits or
#                               edits (KEVENT_FORCE_APPLY=1 overrides)
#   ci/kernel-tree.sh export    write branch 'kevent' back to kernel-patches/
#                               with git format-patch (numbered, cover letter)
#   ci/kernel-tree.sh version   print the base kernel version
#
# Edit kernel code only on the 'kevent' branch, commit there (git commit
# --fixup/rebase -i as usual), then 'export'. Never edit .patch files by hand.
# New files need 'git add -f': Debian's .gitignore ignores the top level.
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

git_k() { git -C "$KERNEL_TREE" "$@"; }

prepare() {
	if git_k rev-parse -q --verify "refs/tags/$KERNEL_BASE_TAG" >/dev/null 2>&1; then
		return 0
	fi
	local tarball=/usr/src/linux-source-6.12.tar.xz
	[ -f "$tarball" ] || die "$tarball missing: run ci/setup.sh (installs linux-source-6.12)"
	log "extracting $tarball into $KERNEL_TREE (a few minutes)"
	rm -rf "$KERNEL_TREE"
	mkdir -p "$KERNEL_TREE"
	tar -C "$KERNEL_TREE" --strip-components=1 -xf "$tarball"
	log "committing the base tree"
	git_k init -q -b "$KERNEL_BASE_TAG-branch"
	git_k config user.name "kevent ci"
	git_k config user.email "kevent-ci@localhost"
	git_k config core.autocrlf false
	git_k config gc.auto 0
	# Debian's tree ignores everything at the top level ('/*'): force-add.
	git_k add -f -A .
	# Fixed dates: the same source gives the same base commit on every
	# machine, so the cover letter's base-commit line means something.
	GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
		git_k commit -q -m "Debian linux-source-6.12 $(kernel_base_version)"
	git_k tag "$KERNEL_BASE_TAG"
	log "base: Linux $(kernel_base_version)"
}

# The series was made against the version kernel-patches/README.md names;
# Debian may have moved on since. Say so: git am decides if it still fits.
check_base_version() {
	local want have
	want=$(sed -n 's/^\*\*Base: Linux \([0-9.]*\)\*\*.*/\1/p' "$REPO_ROOT/kernel-patches/README.md")
	have=$(kernel_base_version)
	[ -z "$want" ] || [ "$want" = "$have" ] ||
		log "warning: the base is Linux $have, the series was made on $want (kernel-patches/README.md)"
}

# Hash of the series files, to tell whether the branch already holds them.
series_hash() {
	cat "$REPO_ROOT"/kernel-patches/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null |
		sha256sum | cut -d' ' -f1
}

apply_series() {
	prepare
	check_base_version
	local hash applied_hash applied_head
	hash=$(series_hash)
	applied_hash=$(git_k config kevent.appliedSeries || true)
	applied_head=$(git_k config kevent.appliedHead || true)
	if git_k rev-parse -q --verify "$KERNEL_BRANCH" >/dev/null; then
		# Refuse to throw away work that was never exported.
		if [ "${KEVENT_FORCE_APPLY:-0}" != 1 ]; then
			[ -z "$(git_k status --porcelain --untracked-files=no)" ] ||
				die "$KERNEL_TREE has uncommitted changes: commit and export them, or KEVENT_FORCE_APPLY=1 to discard"
			[ -z "$applied_head" ] || [ "$(git_k rev-parse "$KERNEL_BRANCH")" = "$applied_head" ] ||
				[ "$(git_k rev-parse "$KERNEL_BRANCH")" = "$(git_k rev-parse "$KERNEL_BASE_TAG")" ] ||
				die "branch $KERNEL_BRANCH has commits that are not exported: run 'ci/kernel-tree.sh export', or KEVENT_FORCE_APPLY=1 to discard them"
		fi
		# Already applied: leave the files (and so the builds) untouched.
		if [ "$hash" = "$applied_hash" ] && [ "$(git_k rev-parse HEAD)" = "$applied_head" ]; then
			log "branch $KERNEL_BRANCH already holds kernel-patches/ ($(git_k rev-list --count "$KERNEL_BASE_TAG..HEAD") patches)"
			return 0
		fi
	fi
	local patches=("$REPO_ROOT"/kernel-patches/[0-9][0-9][0-9][0-9]-*.patch)
	git_k am --abort >/dev/null 2>&1 || true
	git_k checkout -q -f -B "$KERNEL_BRANCH" "$KERNEL_BASE_TAG"
	local series=()
	for p in "${patches[@]}"; do
		[ -f "$p" ] || continue
		case "$(basename "$p")" in 0000-cover-letter.patch) continue ;; esac
		series+=("$p")
	done
	cover_to_description
	if ((${#series[@]} == 0)); then
		log "no patches in kernel-patches/: branch $KERNEL_BRANCH is the base"
	else
		log "applying ${#series[@]} patches with git am"
		if ! git_k am -q --whitespace=error-all "${series[@]}" >/tmp/kevent-am.$$ 2>&1; then
			cat /tmp/kevent-am.$$ >&2
			rm -f /tmp/kevent-am.$$
			git_k am --abort >/dev/null 2>&1 || true
			die "the series does not apply to the base (see above)"
		fi
		rm -f /tmp/kevent-am.$$
	fi
	git_k config kevent.appliedSeries "$hash"
	git_k config kevent.appliedHead "$(git_k rev-parse HEAD)"
	log "branch $KERNEL_BRANCH: $(git_k rev-list --count "$KERNEL_BASE_TAG..HEAD") patches on Linux $(kernel_base_version)"
}

# The cover letter's subject and text live in the branch description
# (git branch --edit-description kevent): 'apply' restores it from
# 0000-cover-letter.patch and 'export' writes it back.
cover_to_description() {
	local cover="$REPO_ROOT/kernel-patches/0000-cover-letter.patch" text
	[ -f "$cover" ] || return 0
	text=$(python3 - "$cover" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
subject, body, i = "", [], 0
while i < len(lines) and lines[i]:            # headers
    if lines[i].startswith("Subject: "):
        subject = re.sub(r"^Subject: \[PATCH[^\]]*\] ", "", lines[i])
        while i + 1 < len(lines) and lines[i + 1].startswith(" "):
            i += 1
            subject += lines[i]
    i += 1
for line in lines[i + 1:]:
    if re.match(r"^\S.* \(\d+\):$", line):    # shortlog starts
        break
    body.append(line)
print(subject + "\n\n" + "\n".join(body).strip())
PY
	)
	git_k config "branch.$KERNEL_BRANCH.description" "$text"
}

export_series() {
	git_k rev-parse -q --verify "$KERNEL_BRANCH" >/dev/null || die "no branch $KERNEL_BRANCH: run 'apply' first"
	local n
	n=$(git_k rev-list --count "$KERNEL_BASE_TAG..$KERNEL_BRANCH")
	((n > 0)) || die "branch $KERNEL_BRANCH has no commits over the base"
	git_k config "branch.$KERNEL_BRANCH.description" >/dev/null ||
		die "no cover letter text: set it with 'git -C $KERNEL_TREE branch --edit-description $KERNEL_BRANCH' (first line: subject)"
	rm -f "$REPO_ROOT"/kernel-patches/[0-9][0-9][0-9][0-9]-*.patch
	git_k format-patch -q --cover-letter --cover-from-description=subject \
		--numbered --no-signature --zero-commit --base="$KERNEL_BASE_TAG" \
		-o "$REPO_ROOT/kernel-patches" "$KERNEL_BASE_TAG..$KERNEL_BRANCH"
	git_k config kevent.appliedSeries "$(series_hash)"
	git_k config kevent.appliedHead "$(git_k rev-parse "$KERNEL_BRANCH")"
	log "exported $n patches (and the cover letter) to kernel-patches/"
}

lock_cache
case "${1:-}" in
prepare) prepare ;;
apply) apply_series ;;
export) export_series ;;
version) prepare; kernel_base_version ;;
"") usage ;;
*) echo "error: unknown command '$1' (prepare, apply, export, version)" >&2; exit 2 ;;
esac
