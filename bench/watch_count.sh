#!/bin/bash
# bench/watch_count.sh: what workload 11's events cost storesd, in
# counts (valid on a loaded machine; timing figures are not).
#
#   BUILD=build bench/watch_count.sh [NWATCHERS [NPUTS [cg|st]]]
#
# cg: storesd under callgrind, instrumenting only between the driver's
# "ready" and "done" (callgrind_control -i on/off): its instructions
# for the NPUTS puts and their NWATCHERS * NPUTS events.  st: strace -c
# -f attached to storesd for the same span: its system calls by name.
# Build build/bench/watch-count first (see bench/watch_count.c); the
# span itself is bench/count_span.sh's.
set -eu
build=${BUILD:-build}
exec "$(dirname "$0")/count_span.sh" "${3:-cg}" \
    '[daemon]\nidle_close = 2s\n[store kvhist]\nmap_size = 1GiB\nsync = full\nhistory = 64MiB\n' \
    events "$build/bench/watch-count" "${1:-100}" "${2:-200}"
