#!/bin/sh
# bench/syncs.sh: what a durable put costs storesd in system calls.
#
# For each sync mode, starts storesd under strace on a scratch data dir,
# makes PUTS puts of 100 bytes over CONNS connections at once
# (build/bench/syncs-put), and prints per commit (from storesd's own
# stats): the puts it held; the fdatasync, fsync and msync calls; the
# calls that wrote pages (pwrite64, pwritev, writev) and the pages they
# wrote; and of the pwrite64 calls, those that went to a descriptor
# opened O_DSYNC (LMDB's synced meta page writes).
# These are counts, not times: they mean the same on a loaded machine.
#
# usage: bench/syncs.sh [MODE...]	(default: full nometa none)
# environment: BUILD (build), STORESD ($BUILD/storesd), CONNS (32),
# PUTS (20000), TMPDIR.
#
# `make bench-syncs` builds what it needs and runs it.

BUILD=${BUILD:-build}
STORESD=${STORESD:-$BUILD/storesd}
CTL=$BUILD/storectl
PUT=$BUILD/bench/syncs-put
CONNS=${CONNS:-32}
PUTS=${PUTS:-20000}
[ $# -gt 0 ] || set -- full nometa none

for f in "$STORESD" "$CTL" "$PUT"; do
	if [ ! -x "$f" ]; then
		echo "$0: $f is missing; run make bench-syncs" >&2
		exit 2
	fi
done
if ! command -v strace >/dev/null; then
	echo "$0: strace is missing (scripts/deps.sh bench installs it)" >&2
	exit 2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/storesd-syncs.XXXXXX") || exit 2
tracer=
cleanup() {
	[ -n "$tracer" ] && kill -TERM "$tracer" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# counter NAME: the env counter NAME from the last stats, in $T/stats.
counter() {
	sed -n "s/^  $1  *\([0-9][0-9]*\)\$/\1/p" "$T/stats" | head -n 1
}

# calls NAME: how many NAME calls began in the trace.
calls() {
	grep -c "^[0-9]*  *$1(" "$T/trace"
}

# written: the bytes the page writing calls of the trace wrote.
written() {
	grep -E '(pwrite64|pwritev|writev)(\(| resumed>)' "$T/trace" |
	    sed -n 's/.*= \([0-9][0-9]*\)$/\1/p' |
	    awk '{ n += $1 } END { printf "%d", n }'
}

# dsync_fds PID: the descriptors of PID opened with O_DSYNC (010000).
dsync_fds() {
	for f in /proc/"$1"/fdinfo/*; do
		flags=$(sed -n 's/^flags:[[:space:]]*//p' "$f" 2>/dev/null)
		[ -n "$flags" ] || continue
		if [ $((0$flags & 010000)) -ne 0 ]; then
			printf '%s\n' "${f##*/}"
		fi
	done
}

# per N: N per commit, to two places.
per() {
	awk -v n="$1" -v c="$commits" 'BEGIN { printf "%.2f", n / c }'
}

echo "per commit:"
printf '%-7s %6s %7s %5s %9s %6s %6s %7s %6s %9s %7s\n' sync puts \
    commits puts fdatasync fsync msync writes pages "(O_DSYNC)" flushes
for mode in "$@"; do
	d=$T/$mode
	mkdir -p "$d/data" || exit 1
	printf '[store refs]\nmap_size = 1GiB\nsync = %s\n' "$mode" \
	    >"$d/storesd.conf"
	strace -f -qq --seccomp-bpf -o "$T/trace" \
	    -e trace=fdatasync,fsync,msync,pwrite64,pwritev,writev \
	    "$STORESD" -s "$d/sock" -d "$d/data" -c "$d/storesd.conf" \
	    2>"$d/storesd.log" &
	tracer=$!
	i=0
	until "$CTL" -s "$d/sock" ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 600 ] || ! kill -0 "$tracer" 2>/dev/null; then
			echo "$0: storesd did not start; its log:" >&2
			cat "$d/storesd.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	"$PUT" "$d/sock" refs "$CONNS" "$PUTS" || exit 1
	"$CTL" -s "$d/sock" stats refs >"$T/stats" || exit 1
	pid=$(sed -n 's/^  pid  *\([0-9][0-9]*\)$/\1/p' "$T/stats")
	meta=0
	for fd in $(dsync_fds "$pid"); do
		n=$(grep -c "^[0-9]*  *pwrite64($fd," "$T/trace")
		meta=$((meta + n))
	done
	kill -TERM "$pid"
	wait "$tracer"
	tracer=
	commits=$(counter commits)
	writes=$(counter writes)
	flushes=$(counter flushes)
	psize=$(counter page_size)
	nw=$(( $(calls pwrite64) + $(calls pwritev) + $(calls writev) ))
	printf '%-7s %6s %7s %5s %9s %6s %6s %7s %6s %9s %7s\n' "$mode" \
	    "$writes" "$commits" "$(per "$writes")" \
	    "$(per "$(calls fdatasync)")" "$(per "$(calls fsync)")" \
	    "$(per "$(calls msync)")" "$(per "$nw")" \
	    "$(per "$(( $(written) / psize ))")" "$(per "$meta")" \
	    "${flushes:-n/a}"
done
