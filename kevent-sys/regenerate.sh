#!/bin/bash
# Regenerates src/bindings.rs from the series' uapi header (rebuilt from
# kernel-patches/, or the file KEVENT_UAPI_HEADER names), then formats it.
set -euo pipefail
cd "$(dirname "$0")"
KEVENT_SYS_BLESS=1 cargo test -q -p kevent-sys --test bindings
echo "kevent-sys: src/bindings.rs regenerated"
