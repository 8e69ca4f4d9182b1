#!/bin/bash
# Regenerates src/bindings.rs from the series' uapi header: the file
# KEVENT_UAPI_HEADER names, else the header rebuilt from kernel-patches/.
#   KEVENT_UAPI_HEADER=/var/cache/kevent/linux/include/uapi/linux/kevent.h kevent-sys/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")"
KEVENT_SYS_BLESS=1 cargo test -q -p kevent-sys-drift --test bindings
echo "kevent-sys: src/bindings.rs regenerated"
