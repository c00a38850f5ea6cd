#!/bin/sh
# bench/snapshot.sh [GIB]: what a snapshot of a large env costs storesd.
#
# Builds an env of about GIB GiB (default 2) with mdb_load in a temporary
# directory, serves it with $BUILD/storesd (default build), and measures:
#   - a snapshot streamed through a pipe, storectl snapshot refs - | cat,
#     plain and --compact: best wall time of 3, its throughput, and the
#     CPU time storesd spent on it;
#   - with four snapshots pending into FIFOs nobody reads: storesd's
#     anonymous memory, threads and descriptors, and how long a durable
#     put takes meanwhile;
#   - that no disk is used besides the env (storesd writes no copy).
# Needs lmdb-utils and python3; the disk needs room for the env.
set -eu

gib=${1:-2}
build=${BUILD:-build}
storesd=$(realpath "$build/storesd")
storectl=$(realpath "$build/storectl")
dir=$(mktemp -d /tmp/storesd-snapbench.XXXXXX)
pid=
readers=
cleanup() {
	[ -n "$readers" ] && kill $readers 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

n=$((gib * 16384))			# values of 64 KiB
mkdir -p "$dir/data/default/@refs"
echo "building a $gib GiB env ($n values of 64 KiB) with mdb_load..."
python3 - "$n" <<'EOF' | mdb_load -f /dev/stdin "$dir/data/default/@refs"
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
out.write(b"VERSION=3\nformat=bytevalue\ndatabase=refs\ntype=btree\n"
          b"mapsize=%d\nHEADER=END\n" % (4 * n * 65536))
blk = bytes((i * 7 + 3) & 0xff for i in range(65536)).hex().encode()
for i in range(n):
    out.write(b" " + (b"k%08d" % i).hex().encode() + b"\n " + blk + b"\n")
out.write(b"DATA=END\n")
EOF
size=$(stat -c %s "$dir/data/default/@refs/data.mdb")
printf '[store refs]\nmap_size = %dGiB\n' $((gib * 4)) >"$dir/storesd.conf"
"$storesd" -c "$dir/storesd.conf" -s "$dir/sock" -d "$dir/data" \
    2>"$dir/storesd.log" &
pid=$!
i=0
while [ ! -S "$dir/sock" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
export STORESD_SOCKET="$dir/sock"
cat "$dir/data/default/@refs/data.mdb" >/dev/null	# warm the page cache
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
now() { date +%s.%N; }
status() {
	awk '/^(RssAnon|Threads):/ { printf "%s %s %s, ", $1, $2, $3 }' \
	    "/proc/$pid/status"
	echo "fds $(ls "/proc/$pid/fd" | wc -l)"
}

echo "env: $size bytes; storesd idle: $(status)"
for mode in "" --compact; do
	best=; bcpu=
	for r in 1 2 3; do
		c0=$(cpu); t0=$(now)
		"$storectl" snapshot refs - $mode | cat >/dev/null
		t1=$(now); c1=$(cpu)
		w=$(echo "$t1 - $t0" | bc)
		if [ -z "$best" ] || [ "$(echo "$w < $best" | bc)" = 1 ]; then
			best=$w; bcpu=$(echo "($c1 - $c0) / 100" | bc -l)
		fi
	done
	printf 'snapshot %-9s through a pipe: best of 3 %.2f s, %.0f MB/s; storesd CPU %.2f s\n' \
	    "${mode:-(plain)}" "$best" "$(echo "$size / $best / 1000000" | bc -l)" "$bcpu"
done

snaps=
for i in 1 2 3 4; do
	mkfifo "$dir/fifo$i"
	sleep 3600 <"$dir/fifo$i" &
	readers="$readers $!"
	mode=; [ $((i % 2)) = 0 ] && mode=--compact
	"$storectl" snapshot refs - $mode >"$dir/fifo$i" 2>"$dir/snap$i.err" &
	snaps="$snaps $!"
done
sleep 2
echo "4 snapshots pending into FIFOs nobody reads: $(status)"
t0=$(now)
"$storectl" put refs bench-key bench-value
echo "a durable put meanwhile: $(echo "$(now) - $t0" | bc) s"
echo "disk: $(du -sb "$dir/data" | cut -f1) bytes in data_dir (the env: $size)"
kill $readers
readers=
for p in $snaps; do wait "$p" || true; done
sort "$dir"/snap*.err | uniq -c
sleep 1
echo "after they ended: $(status)"
