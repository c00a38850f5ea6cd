#!/bin/bash
# bench/count_span.sh: what storesd does over a driver's fixed span, in
# counts (valid on a loaded machine; timing figures are not).  Used by
# watch_count.sh and repos_count.sh.
#
#   BUILD=build bench/count_span.sh cg|st CONF UNIT DRIVER [ARGS...]
#
# storesd runs with configuration text CONF; DRIVER SOCKET ARGS... says
# "ready", waits for a line, does its fixed work, says "done N" (N of
# UNIT: events, envs...) and waits for a line again.
# cg: storesd under callgrind, instrumenting only between "ready" and
# "done" (callgrind_control -i on/off): its instructions, total and per
# UNIT.  st: strace -c -f attached to storesd for the same span: its
# system calls by name, each per UNIT.  COUNT_OUT=FILE keeps callgrind's
# output (for callgrind_annotate) or strace's table there.
set -eu
mode=$1 conf=$2 unit=$3 driver=$(realpath "$4")
shift 4
build=${BUILD:-build}
storesd=$(realpath "$build/storesd")
notify=$(realpath "$build/tests/notify-wait")
dir=$(mktemp -d /tmp/storesd-count.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
printf '%b' "$conf" > "$dir/conf"
wrap=()
[ "$mode" = cg ] && wrap=(valgrind --tool=callgrind -q --instr-atstart=no \
    --callgrind-out-file="$dir/cg.out")
"$notify" "$dir/notify" -- "${wrap[@]}" "$storesd" -s "$dir/sock" \
    -d "$dir/data" -c "$dir/conf" > "$dir/ready" 2>>"$dir/log" &
pid=$!
while [ ! -s "$dir/ready" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
spid=$(cat "$dir/ready")
# Never empty: callgrind_control without a pid speaks to every valgrind.
[ -n "$spid" ] || { echo "count_span.sh: storesd did not start" >&2
    cat "$dir/log" >&2; exit 1; }
coproc D { "$driver" "$dir/sock" "$@"; }
read -r line <&"${D[0]}"	# ready
if [ "$mode" = cg ]; then
	callgrind_control -i on "$spid" >/dev/null 2>&1
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
read -r line <&"${D[0]}"	# done N
n=${line#done }
if [ "$mode" = cg ]; then
	callgrind_control -i off "$spid" >/dev/null 2>&1
	callgrind_control -d "$spid" >/dev/null 2>&1
else
	kill -INT "$stpid"
	wait "$stpid" || true
fi
echo bye >&"${D[1]}"
wait "$D_PID" 2>/dev/null || true
kill "$spid"
wait "$pid" 2>/dev/null || true
pid=
[ -z "${COUNT_OUT:-}" ] || cat "$dir"/cg.out* "$dir"/st 2>/dev/null \
    > "$COUNT_OUT" || true
if [ "$mode" = cg ]; then
	ir=$(cat "$dir"/cg.out* | awk '/^totals:/ {s += $2} END {print s}')
	echo "$n $unit: storesd Ir $ir, $((ir / n)) per ${unit%s}"
else
	awk -v n="$n" -v u="${unit%s}" '$4 ~ /^[0-9]+$/ && NF >= 5 {
	    printf "%s %d (%.2f per %s)\n", $NF, $4, $4 / n, u }' "$dir/st"
fi
