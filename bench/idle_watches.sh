#!/bin/bash
# bench/idle_watches.sh: what idle watches cost storesd (counts, not
# times: valid on a loaded machine).
#
#   BUILD=build bench/idle_watches.sh [NWATCH [NCONN [NPUTS]]]
#
# For each case, storesd (under valgrind --tool=callgrind, instrumenting
# nothing until told) and build/bench/idle-watches, which opens NCONN
# connections holding NWATCH watches on keys nobody writes, then does
# NPUTS puts of one key; callgrind counts storesd's instructions for the
# puts alone (callgrind_control -i on/off around them).  Cases: no
# watches; NWATCH on another env (repo "other"); NWATCH on the env
# written (repo "r").  Then, without valgrind, storesd's VmRSS before and
# after NWATCH watches are opened.  Build the driver first:
#   cc -std=c11 -D_GNU_SOURCE -O2 -Iclient -Ibuild/include \
#     -o build/bench/idle-watches bench/idle_watches.c \
#     build/libstoreclient.a -lm
set -eu
build=${BUILD:-build}
nwatch=${1:-100000}
nconn=${2:-100}
nputs=${3:-200}
storesd=$(realpath "$build/storesd")
driver=$(realpath "$build/bench/idle-watches")
notify=$(realpath "$build/tests/notify-wait")
dir=$(mktemp -d /tmp/storesd-idle.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
per=$(( (nwatch + nconn - 1) / nconn ))
cat > "$dir/conf" <<EOF
[daemon]
max_watches = $(( per > 0 ? per : 1 ))
max_watches_total = $(( 2 * nwatch + 2 ))
[store kv]
map_size = 256MiB
history = 64MiB
sync = none
EOF

# run REPO N WRAPPER...: one case; prints storesd's pid's counts.
run() {
	local repo=$1 n=$2
	shift 2
	rm -rf "$dir/data" "$dir/sock" "$dir/ready" "$dir/cg"* "$dir/notify"
	"$notify" "$dir/notify" -- "$@" "$storesd" -s "$dir/sock" \
	    -d "$dir/data" -c "$dir/conf" > "$dir/ready" 2>>"$dir/log" &
	pid=$!
	while [ ! -s "$dir/ready" ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
	done
	spid=$(cat "$dir/ready")
	# Never empty: callgrind_control without a pid speaks to every
	# valgrind on the machine, other people's measurements included.
	[ -n "$spid" ] || { echo "idle_watches.sh: storesd did not start;" \
	    "see $dir/log" >&2; exit 1; }
	coproc D { "$driver" "$dir/sock" "$nconn" "$n" "$nputs" "$repo"; }
	read -r line <&"${D[0]}"	# ready
	rss0=$(awk '/^VmRSS/ {print $2}' /proc/$spid/status)
	[ $# -gt 0 ] && callgrind_control -i on "$spid" >/dev/null
	echo go >&"${D[1]}"
	read -r line <&"${D[0]}"	# done
	if [ $# -gt 0 ]; then
		callgrind_control -i off "$spid" >/dev/null
		callgrind_control -d "$spid" >/dev/null
	fi
	echo bye >&"${D[1]}"
	wait "$D_PID" 2>/dev/null || true
	kill "$spid"
	wait "$pid" 2>/dev/null || true
	pid=
	if [ $# -gt 0 ]; then
		ir=$(cat "$dir"/cg.out* | awk '/^totals:/ {s += $2} END {print s}')
		echo "$repo $n watches: storesd Ir per put = $((ir / nputs))"
		# Of which the commit hook (per put, whatever the time taken)
		# and the loops' end-of-turn walks (with the ticks that fell
		# in the window: once a second, so under valgrind many).
		for f in watch_committed watch_turn_end; do
			fir=$(callgrind_annotate --inclusive=yes "$dir"/cg.out*.1 \
			    2>/dev/null | awk -v f="$f" '$0 ~ f"( |$)" \
			    {gsub(",", "", $1); print $1; exit}')
			echo "  $f: ${fir:-0} Ir in all, $(( ${fir:-0} / nputs )) per put"
		done
	else
		echo "$repo $n watches: storesd VmRSS $rss0 KiB with them open"
	fi
}

cg="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$dir/cg.out.%p"
run r 0 $cg
run other "$nwatch" $cg
run r "$nwatch" $cg
run r 0
run other "$nwatch"
