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
# Build build/bench/watch-count first (see bench/watch_count.c).
set -eu
build=${BUILD:-build}
nw=${1:-100}
np=${2:-200}
mode=${3:-cg}
storesd=$(realpath "$build/storesd")
notify=$(realpath "$build/tests/notify-wait")
driver=$(realpath "$build/bench/watch-count")
dir=$(mktemp -d /tmp/storesd-wcount.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
printf '[daemon]\nidle_close = 2s\n[store kvhist]\nmap_size = 1GiB\nsync = full\nhistory = 64MiB\n' \
    > "$dir/conf"
wrap=()
[ "$mode" = cg ] && wrap=(valgrind --tool=callgrind -q --instr-atstart=no \
    --callgrind-out-file="$dir/cg.out")
"$notify" "$dir/notify" -- "${wrap[@]}" "$storesd" -s "$dir/sock" \
    -d "$dir/data" -c "$dir/conf" > "$dir/ready" 2>>"$dir/log" &
pid=$!
while [ ! -s "$dir/ready" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
spid=$(cat "$dir/ready")
# Never empty: callgrind_control without a pid speaks to every valgrind.
[ -n "$spid" ] || { echo "watch_count.sh: storesd did not start" >&2
    cat "$dir/log" >&2; exit 1; }
coproc D { "$driver" "$dir/sock" "$nw" "$np"; }
read -r line <&"${D[0]}"	# ready
if [ "$mode" = cg ]; then
	callgrind_control -i on "$spid" >/dev/null
else
	strace -f -c -o "$dir/st" -p "$spid" 2>/dev/null &
	stpid=$!
	for t in /proc/"$spid"/task/*; do
		until grep -q '^TracerPid:[[:space:]]*[1-9]' "$t/status"; do
			sleep 0.1
		done
	done
fi
echo go >&"${D[1]}"
read -r line <&"${D[0]}"	# done EVENTS
events=${line#done }
if [ "$mode" = cg ]; then
	callgrind_control -i off "$spid" >/dev/null
	callgrind_control -d "$spid" >/dev/null
else
	kill -INT "$stpid"
	wait "$stpid" || true
fi
echo bye >&"${D[1]}"
wait "$D_PID" 2>/dev/null || true
kill "$spid"
wait "$pid" 2>/dev/null || true
pid=
if [ "$mode" = cg ]; then
	ir=$(cat "$dir"/cg.out* | awk '/^totals:/ {s += $2} END {print s}')
	echo "$events events: storesd Ir $ir, $((ir / events)) per event"
else
	awk -v n="$events" '$4 ~ /^[0-9]+$/ && NF >= 5 {
	    printf "%s %d (%.2f per event)\n", $NF, $4, $4 / n }' "$dir/st"
fi
