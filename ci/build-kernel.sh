#!/usr/bin/env bash
# Build a kernel from the tree in $KERNEL_TREE with ccache.
#
#   ci/build-kernel.sh [--debug] [--quick DIR...]
#
#   (default)      minimal config (ci/kconfig/minimal.config), output in
#                  $KERNEL_BUILD_ROOT/minimal; the benchmark kernel
#   --debug        minimal + ci/kconfig/debug.config (KASAN, lockdep,
#                  kmemleak...), output in $KERNEL_BUILD_ROOT/debug
#   --out NAME     build in $KERNEL_BUILD_ROOT/NAME instead (same config)
#   --quick DIR..  only build the given source directories (for the
#                  per-patch bisect check), after configuring; 'headers'
#                  stands for make headers (uapi header checks)
#
# Prints a progress line every 250 compiled objects; the full log is
# $KERNEL_BUILD_ROOT/<flavour>.log.
. "$(dirname "$0")/lib.sh"

flavour=minimal
out_name=""
quick=()
while (($#)); do
	case "$1" in
	--debug) flavour=debug ;;
	--out) out_name=${2:?--out needs a name}; shift ;;
	--quick) shift; quick=("$@"); break ;;
	-h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
	shift
done

lock_cache
[ -f "$KERNEL_TREE/Makefile" ] || die "no kernel tree at $KERNEL_TREE: run ci/kernel-tree.sh apply"
need_cmd ccache
out=$(build_dir "${out_name:-$flavour}")
log_file="$KERNEL_BUILD_ROOT/${out_name:-$flavour}.log"
mkdir -p "$out"
fragments=("$REPO_ROOT/ci/kconfig/minimal.config")
[ "$flavour" = debug ] && fragments+=("$REPO_ROOT/ci/kconfig/debug.config")

make_k() {
	make -C "$KERNEL_TREE" O="$out" CC="ccache gcc" HOSTCC="ccache gcc" \
		-j"$(nproc)" "$@"
}

configure() {
	# merge_config.sh -n: allnoconfig with the fragments as KCONFIG_ALLCONFIG.
	(cd "$KERNEL_TREE" && ./scripts/kconfig/merge_config.sh -n -O "$out" \
		"${fragments[@]}") >"$log_file" 2>&1 || {
		tail -n 30 "$log_file" >&2
		die "kernel configuration failed"
	}
	local bad=() line sym want have
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		sym=${line%%=*}
		want=${line#*=}
		have=$(grep -E "^($sym=|# $sym is not set)" "$out/.config" | head -n1 || true)
		case "$have" in "$sym=$want") continue ;; "# $sym is not set") [ "$want" = n ] && continue ;; esac
		if ! grep -rqsE "^(menu)?config ${sym#CONFIG_}\$" --include='Kconfig*' "$KERNEL_TREE"; then
			log "note: $sym is not defined by this tree; skipped"
			continue
		fi
		bad+=("$sym=$want (got: ${have:-unset})")
	done < <(cat "${fragments[@]}")
	((${#bad[@]} == 0)) || die "config options not applied (unmet dependencies?): ${bad[*]}"
}

progress() {
	awk -v logf="$log_file" '
		{ print >> logf; fflush(logf) }
		/^  CC / { n++; if (n % 250 == 0) { printf "  ... %d objects compiled\n", n; fflush() } }
		/error:|Error [0-9]/ { print; fflush() }
		END { printf "  %d objects compiled\n", n }'
}

start=$(date +%s)
log "configuring $flavour kernel in $out"
configure
ccache -z >/dev/null
if ((${#quick[@]})); then
	log "quick build of: ${quick[*]}"
	make_k prepare >>"$log_file" 2>&1 || { tail -n 30 "$log_file" >&2; die "make prepare failed"; }
	for d in "${quick[@]}"; do
		target=${d%/}/
		[ "$d" = headers ] && target=headers
		[ "$d" = headers ] || [ -d "$KERNEL_TREE/$d" ] || continue
		set +e
		make_k "$target" 2>&1 | progress
		rc=${PIPESTATUS[0]}
		set -e
		((rc == 0)) || die "quick build of $d failed (log: $log_file)"
	done
else
	log "building bzImage (-j$(nproc), ccache in $CCACHE_DIR)"
	set +e
	make_k bzImage 2>&1 | progress
	rc=${PIPESTATUS[0]}
	set -e
	((rc == 0)) || { grep -B2 -A8 -m5 'error' "$log_file" >&2 || true; die "kernel build failed (log: $log_file)"; }
fi
hits=$(ccache -s 2>/dev/null | awk '/Hits:/ {print $2; exit}')
log "$flavour kernel built in $(($(date +%s) - start)) s (ccache hits: ${hits:-?})"
