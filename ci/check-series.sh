#!/usr/bin/env bash
# Check the patch series in kernel-patches/:
#   1. scripts/checkpatch.pl --strict reports nothing on any patch, and
#      every file a patch adds is covered by the KEVENT MAINTAINERS entry
#      (instead of checkpatch's "does MAINTAINERS need updating?");
#   2. the series applies to the base with git am (ci/kernel-tree.sh apply);
#   3. every patch builds on its own: for each commit of the series, an
#      incremental bzImage build with the minimal config (ccache makes it
#      quick), the objects of the C files it changes again with W=1
#      -Werror, and every uapi header it changes compiled on its own (C11);
#   4. sparse (make C=2) reports nothing for fs/kevent/ at the top;
#   5. the top links without the network stack (allnoconfig with
#      CONFIG_KEVENT, as the kernel's build robots try): KEVENT_SOCKET and
#      KEVENT_NAIO are built only with CONFIG_NET;
#   6. the top links with the network stack but neither TCP/IP nor unix
#      sockets (allnoconfig with CONFIG_KEVENT and CONFIG_NET): the two
#      sources' TCP and unix code must drop out, not reference
#      net/ipv4/ or net/unix/.
# Leaves the tree on branch 'kevent' at the top of the series, even when a
# step fails.
. "$(dirname "$0")/lib.sh"

[ $# -eq 0 ] || die "usage: ci/check-series.sh (no arguments)"
lock_cache
"$REPO_ROOT/ci/kernel-tree.sh" apply
trap 'git -C "$KERNEL_TREE" checkout -q "$KERNEL_BRANCH"' EXIT

patches=()
for p in "$REPO_ROOT"/kernel-patches/[0-9][0-9][0-9][0-9]-*.patch; do
	[ -f "$p" ] && [ "$(basename "$p")" != 0000-cover-letter.patch ] && patches+=("$p")
done
((${#patches[@]})) || { log "no patches: nothing to check"; exit 0; }

failed=0
log "checkpatch --strict on ${#patches[@]} patches"
for p in "${patches[@]}"; do
	rc=0
	# FILE_PATH_CHANGES ("does MAINTAINERS need updating?") is replaced by
	# the stronger check below: every added file is covered by the entry.
	out=$(cd "$KERNEL_TREE" && PATH="$VNG_VENV/bin:$PATH" ./scripts/checkpatch.pl --strict -q --terse \
		--ignore FILE_PATH_CHANGES "$p" 2>&1) || rc=$?
	if ((rc != 0)) || ! grep -qx "total: 0 errors, 0 warnings, 0 checks, [0-9]* lines checked" <<<"$out" ||
		[ "$(wc -l <<<"$out")" != 1 ]; then
		echo "checkpatch: $(basename "$p"):" >&2
		echo "$out" | sed 's/^/  /' >&2
		failed=1
	fi
done
((failed == 0)) || die "checkpatch --strict found problems (see above)"

changed_files() {
	git -C "$KERNEL_TREE" diff-tree --no-commit-id --name-only --diff-filter=AM -r "$1"
}

commits=$(git -C "$KERNEL_TREE" rev-list --reverse "$KERNEL_BASE_TAG..$KERNEL_BRANCH")
hdr_dir=$KEVENT_CACHE/check-headers
i=0
for c in $commits; do
	i=$((i + 1))
	subject=$(git -C "$KERNEL_TREE" log -1 --format=%s "$c")
	git -C "$KERNEL_TREE" checkout -q "$c"
	log "patch $i ($subject): incremental build"
	"$REPO_ROOT/ci/build-kernel.sh" --out bisect >/dev/null ||
		die "patch $i ($subject) does not build on its own (log: $(build_dir bisect).log)"
	# Only the objects the patch touches: whole directories such as
	# kernel/ have W=1 warnings of their own.
	mapfile -t c_objs < <(changed_files "$c" | grep -E '^[^/]+/.*\.c$' | grep -v '^tools/' | sed 's/\.c$/.o/')
	if ((${#c_objs[@]})); then
		log "patch $i: W=1 -Werror on ${c_objs[*]}"
		# Its own output directory: W=1 changes the flags of everything
		# 'prepare' generates, which would force full rebuilds in 'bisect'.
		w1=$(build_dir bisect-w1)
		mkdir -p "$w1"
		cp "$(build_dir bisect)/.config" "$w1/.config"
		make -s -C "$KERNEL_TREE" O="$w1" CC="ccache gcc" W=1 KCFLAGS=-Werror olddefconfig \
			>"$w1.log" 2>&1 || die "patch $i: configuring the W=1 build failed (log: $w1.log)"
		make -s -C "$KERNEL_TREE" O="$w1" CC="ccache gcc" W=1 KCFLAGS=-Werror \
			-j"$(nproc)" "${c_objs[@]}" >>"$w1.log" 2>&1 ||
			die "patch $i ($subject): warnings with W=1 in ${c_objs[*]} (log: $w1.log)"
	fi
	# Every file the patch adds is covered by the KEVENT MAINTAINERS entry.
	patterns=$(awk '/^KEVENT UNIFIED EVENT QUEUE$/ { p = 1; next } p && /^$/ { exit } p && /^F:/ { print $2 }' \
		"$KERNEL_TREE/MAINTAINERS")
	while read -r f; do
		[ -n "$f" ] || continue
		covered=0
		for pat in $patterns; do
			case "$f" in "$pat" | "$pat"*) [[ "$pat" == */ || "$f" == "$pat" ]] && covered=1 ;; esac
		done
		((covered)) || die "patch $i ($subject) adds $f, which the KEVENT entry in MAINTAINERS does not cover"
	done < <(git -C "$KERNEL_TREE" diff-tree --no-commit-id --name-only --diff-filter=A -r "$c")
	mapfile -t uapi < <(changed_files "$c" | sed -n 's|^include/uapi/linux/||p' | grep '\.h$')
	if ((${#uapi[@]})); then
		log "patch $i: compiling uapi headers on their own: ${uapi[*]}"
		rm -rf "$hdr_dir"
		quiet make -C "$KERNEL_TREE" O="$(build_dir bisect)" INSTALL_HDR_PATH="$hdr_dir" headers_install
		for h in "${uapi[@]}"; do
			printf '#include <linux/%s>\n' "$h" |
				gcc -Wall -Wextra -Werror -std=c11 -pedantic -fsyntax-only -isystem "$hdr_dir/include" -x c - ||
				die "patch $i: include/uapi/linux/$h does not compile on its own in user space"
		done
	fi
done
git -C "$KERNEL_TREE" checkout -q "$KERNEL_BRANCH"
# sparse (make C=2: every file, built or not) on the whole series; its
# warnings do not fail make, so any output line fails the check.
log "sparse on fs/kevent/"
sparse_out=$(make -s -C "$KERNEL_TREE" O="$(build_dir bisect)" CC="ccache gcc" C=2 fs/kevent/ 2>&1 |
	grep -v '^  CHECK' || true)
[ -z "$sparse_out" ] || { echo "$sparse_out" >&2; die "sparse reports problems in fs/kevent/ (see above)"; }
# Link the top's vmlinux in allnoconfig with CONFIG_KEVENT and the other
# options given, checking that .config has them and none of the ones that
# must be off (an option olddefconfig refused, or one selected anyway,
# would make the build prove nothing):
#   link_allnoconfig NAME WHAT ON... -- OFF...
link_allnoconfig() {
	local name=$1 what=$2 dir opt on=() off=() set=() mk
	shift 2
	while [ "$1" != -- ]; do on+=("$1"); set+=(-e "$1"); shift; done
	shift
	off=("$@")
	log "the top $what: allnoconfig with ${on[*]/#/CONFIG_}, vmlinux"
	dir=$(build_dir "$name")
	mkdir -p "$dir"
	mk=(make -s -C "$KERNEL_TREE" O="$dir" CC="ccache gcc" HOSTCC="ccache gcc")
	"${mk[@]}" allnoconfig >/dev/null
	"$KERNEL_TREE/scripts/config" --file "$dir/.config" "${set[@]}"
	"${mk[@]}" olddefconfig >/dev/null
	for opt in "${on[@]}"; do
		grep -qx "CONFIG_$opt=y" "$dir/.config" ||
			die "allnoconfig with ${on[*]/#/CONFIG_}: CONFIG_$opt is not y ($dir/.config)"
	done
	for opt in "${off[@]}"; do
		! grep -q "^CONFIG_$opt=" "$dir/.config" ||
			die "allnoconfig with ${on[*]/#/CONFIG_}: CONFIG_$opt is set ($dir/.config)"
	done
	"${mk[@]}" -j"$(nproc)" vmlinux >"$dir.log" 2>&1 ||
		die "the series does not build $what (log: $dir.log)"
}
link_allnoconfig nonet "without CONFIG_NET" KEVENT -- NET
link_allnoconfig netonly "with CONFIG_NET but not CONFIG_INET or CONFIG_UNIX" KEVENT NET -- INET UNIX
log "series ok: ${#patches[@]} patches, checkpatch clean, each builds on its own, sparse clean, builds without CONFIG_NET and without CONFIG_INET"
