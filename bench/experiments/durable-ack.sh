#!/bin/sh
# bench/experiments/durable-ack.sh: where workload 4's durable writes
# could be answered, measured (bench/ANALYSIS.md, paragraph 4).
#
# Applies durable-ack.patch to a scratch clone of this checkout (an
# experiment, not storesd's code: no recovery, one log for all envs),
# builds it, and runs workload 4 (`storesd-bench --only 4`) RUNS times in
# each of four modes, alternated, with `sync` and 3 s of rest before each
# run:
#   base     storesd as it is: a group answered once the next commit's
#            data sync made its meta page durable;
#   syncer   answered after a sync of data.mdb of its own, made on
#            another thread while the next group commits;
#   wal      LMDB commits with MDB_NOSYNC, the group appended to a log
#            and synced, then answered, on the writer thread;
#   walpipe  the same append and sync on another thread, while the
#            writer commits the next group.
# Prints each mode's workload-4 rows of `storesd-bench --report` over its
# runs: medians with min-max.  Takes about 5 minutes with RUNS=3; run it
# with nothing else on the machine.
#
# usage: bench/experiments/durable-ack.sh [OUTDIR]	(environment: RUNS)
set -eu

here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$(mktemp -d /tmp/durable-ack.XXXXXX)}
runs=${RUNS:-3}
tree=$out/tree
mkdir -p "$out"
rm -rf "$tree"
git clone -q "$here" "$tree"
(cd "$tree" && git apply bench/experiments/durable-ack.patch &&
    make -j2 all build/storesd-bench >/dev/null)
wal=$tree/build/experiment.wal
cd "$tree"
for i in $(seq 1 "$runs"); do
	for m in base syncer wal walpipe; do
		sync
		sleep 3
		rm -f "$wal"
		case $m in
		base)	set -- ;;
		syncer)	set -- PROTO_SYNCER=1 ;;
		wal)	set -- PROTO_WAL="$wal" ;;
		walpipe) set -- PROTO_WAL="$wal" PROTO_PIPE=1 ;;
		esac
		env "$@" build/storesd-bench --build build --only 4 \
		    --json "$out/$m-$i.json" >/dev/null 2>&1
	done
done
rm -f "$wal"
for m in base syncer wal walpipe; do
	echo "== $m"
	build/storesd-bench --report --out "$out/report-$m" "$out/$m"-*.json \
	    2>/dev/null | grep '^| 4 '
done
