#!/bin/bash
# bench/repos_count.sh: what workload 9's new envs cost storesd, in
# counts (valid on a loaded machine; timing figures are not).
#
#   BUILD=build bench/repos_count.sh [NCONNS [NREPOS [cg|st]]]
#
# NCONNS connections (16, as workload 9's threads) do a put and a get in
# each of NREPOS new repos, each a new env of store refs (configured as
# the benchmark's).  cg: storesd's instructions over that span, total
# and per env (callgrind); st: its system calls by name, each per env
# (strace -c -f).  Build build/bench/repos-count first (see
# bench/repos_count.c); the span itself is bench/count_span.sh's.
set -eu
build=${BUILD:-build}
exec "$(dirname "$0")/count_span.sh" "${3:-cg}" \
    '[daemon]\nidle_close = 2s\n[store refs]\nmap_size = 256MiB\n' \
    envs "$build/bench/repos-count" "${1:-16}" "${2:-400}"
