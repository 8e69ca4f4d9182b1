#!/usr/bin/env bash
# Lint the manual pages in man/man2 and man/man7, and compile the program
# of each page's EXAMPLES section:
#
#   mandoc -Tlint -W warning PAGE      no message
#   groff -man -ww -z PAGE             no warning
#   man -l PAGE >/dev/null             renders, nothing on stderr
#   gcc -Wall -Wextra -Werror EXAMPLE  the program between the page's
#                                      '.\" SRC BEGIN' and '.\" SRC END'
#
# The examples are compiled against the series' <linux/kevent.h>:
# $KEVENT_UAPI_HEADER if set, else the kernel tree's
# ($KERNEL_TREE/include/uapi/linux/kevent.h, KERNEL_TREE defaulting to
# /var/cache/kevent/linux), else the header that kernel-patches/ builds;
# the rest of the headers are the system's. Where gcc -m32 works they are
# also compiled as i386 programs. Every check of every page counts once.
# Prints what failed and ends with "man: N passed, N failed"; exits
# non-zero if anything failed.
set -uo pipefail

MAN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$MAN_DIR")
KERNEL_TREE=${KERNEL_TREE:-${KEVENT_CACHE:-/var/cache/kevent}/linux}
UAPI=include/uapi/linux/kevent.h

for cmd in mandoc groff man gcc; do
	command -v "$cmd" >/dev/null 2>&1 || {
		echo "man/check.sh: '$cmd' not found (ci/setup.sh installs it)" >&2
		exit 1
	}
done

shopt -s nullglob
pages=("$MAN_DIR"/man2/*.2 "$MAN_DIR"/man7/*.7)
((${#pages[@]})) || { echo "man/check.sh: no pages" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The uapi header as the series (kernel-patches/, cover letter aside)
# leaves it, into $tmp/series.
header_from_series() {
	local p
	mkdir -p "$tmp/series"
	for p in "$REPO_ROOT"/kernel-patches/[0-9][0-9][0-9][0-9]-*.patch; do
		case $p in */0000-cover-letter.patch) continue ;; esac
		(cd "$tmp/series" && git apply --allow-empty --include="$UAPI" "$p") ||
			return 1
	done
	[ -s "$tmp/series/$UAPI" ]
}

if [ -n "${KEVENT_UAPI_HEADER:-}" ]; then
	header=$KEVENT_UAPI_HEADER
elif [ -r "$KERNEL_TREE/$UAPI" ]; then
	header=$KERNEL_TREE/$UAPI
elif header_from_series 2>/dev/null; then
	header=$tmp/series/$UAPI
else
	header=
	echo "note: no <linux/kevent.h> (no kernel tree, no series): examples not compiled"
fi
if [ -n "$header" ]; then
	mkdir -p "$tmp/include/linux"
	cp "$header" "$tmp/include/linux/kevent.h" || exit 1
fi
# i386 too, where gcc-multilib is installed
m32=
echo 'int main(void) { return 0; }' >"$tmp/m32.c"
gcc -m32 -o "$tmp/m32" "$tmp/m32.c" 2>/dev/null && m32=1

passed=0 failed=0
# check NAME CMD...: passes if CMD exits 0 and prints nothing.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)) && [ -z "$out" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $name (exit $rc)"
		[ -n "$out" ] && head -n 20 <<<"$out" | sed 's/^/  /'
	fi
}

# The program of a page: the lines between the SRC markers, without the
# .EX/.EE requests, with the roff escapes the pages use turned back into C.
extract_example() {
	sed -n '/^\.\\" SRC BEGIN/,/^\.\\" SRC END/p' "$1" |
		sed -e '/^\.\\" SRC /d' -e '/^\.EX$/d' -e '/^\.EE$/d' \
			-e 's/^\\&//' -e 's/\\-/-/g' -e "s/\\\\\\[aq\\]/'/g" \
			-e 's/\\\[dq\]/"/g' -e 's/\\e/\\/g'
}

# compile_example PAGE SOURCE [GCC_OPTION...]
compile_example() {
	local page=$1 src=$2
	shift 2
	[ -s "$src" ] || { echo "$page: no '.\\\" SRC BEGIN' program"; return 1; }
	gcc -std=gnu11 -Wall -Wextra -Werror -pthread -I"$tmp/include" "$@" \
		-o "$tmp/a.out" "$src"
}

# man -l renders with the terminal's width; fix it, and fail on anything
# groff says.
render() {
	MANWIDTH=80 MAN_KEEP_FORMATTING=1 man --warnings=w -l "$1" 2>&1 >/dev/null
}

for page in "${pages[@]}"; do
	rel=${page#"$MAN_DIR"/}
	check "mandoc -Tlint $rel" mandoc -Tlint -W warning "$page"
	check "groff -ww $rel" groff -man -ww -z "$page"
	check "man -l $rel" render "$page"
	if [ -n "$header" ]; then
		src=$tmp/$(basename "$page").c
		extract_example "$page" >"$src"
		check "example of $rel" compile_example "$rel" "$src"
		[ -n "$m32" ] &&
			check "example of $rel (-m32)" compile_example "$rel" "$src" -m32
	fi
done

echo "man: $passed passed, $failed failed"
((failed == 0))
