#!/bin/sh
# bench/instr.sh: what a get costs in CPU instructions and system calls,
# storesd and libstoreclient against redis-server and hiredis (make
# bench-instr).
#
# Counts, not times: the figures do not move with the load of the
# machine, so they can be taken on a shared one and compared across
# builds.  Each server runs twice on a private socket, over one
# connection of $BUILD/bench/instr-get that puts NKEYS keys of 100 bytes,
# does WARM gets and then 0 gets (run A) or N gets (run B), DEPTH at a
# time; whatever both runs do (start, puts, warm-up, stop) cancels out:
#
#   server instructions per get = (Ir(B) - Ir(A)) / N, the whole server
#     process under valgrind --tool=callgrind;
#   client instructions per get = Ir of measured_gets() in run B / N
#     (callgrind --toggle-collect: the N gets and nothing else);
#   system calls per get = (calls(B) - calls(A)) / N under strace -c -f,
#     server (attached once it is ready) and client, with the calls that
#     differ listed by name.
#
# Options (environment): BUILD (build), NKEYS (1000), WARM (2000),
# N (20000), DEPTH (1 and 16: both rows), OUT ($BUILD/instr: the
# callgrind files, for callgrind_annotate), ONLY (storesd or redis),
# OP (get; put: the WARM and N requests are puts of 100-byte values to
# the same keys instead, into a sync = none store against Redis without
# persistence, and the figures are per put; at DEPTH 16 the 16 puts of
# a turn share storesd's end-of-turn commit, as workload 5's do).
# Redis runs with hz 1, so that its timer (10 a second by default, and a
# run under callgrind is slow) adds next to nothing to the difference.
# Needs valgrind, strace, redis-server and libhiredis-dev.
set -eu

build=${BUILD:-build}
nkeys=${NKEYS:-1000}
warm=${WARM:-2000}
n=${N:-20000}
depths=${DEPTH:-1 16}
out=${OUT:-$build/instr}
only=${ONLY:-}
op=${OP:-get}
case $op in
get) opt= ;;
put) opt=put ;;
*) echo "instr.sh: OP is get or put" >&2; exit 1 ;;
esac
storesd=$(realpath "$build/storesd")
driver=$(realpath "$build/bench/instr-get")
notify=$(realpath "$build/tests/notify-wait")
for t in valgrind strace redis-server; do
	command -v $t >/dev/null || { echo "instr.sh: needs $t" >&2; exit 1; }
done
mkdir -p "$out"
out=$(realpath "$out")
dir=$(mktemp -d /tmp/storesd-instr.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

printf '[store bench]\nmap_size = 256MiB\nsync = none\n' > "$dir/conf"

# start_server NAME WRAPPER...: starts NAME under WRAPPER; sets pid (the
# process to signal) and sock.
start_server() {
	name=$1
	shift
	sock=$dir/$name.sock
	rm -rf "$dir/data" "$sock" "$dir/notify" "$dir/ready"
	if [ "$name" = storesd ]; then
		"$notify" "$dir/notify" -- "$@" "$storesd" -s "$sock" \
		    -d "$dir/data" -c "$dir/conf" > "$dir/ready" \
		    2>>"$dir/log" &
		pid=$!
		# notify-wait prints the daemon's pid once it is ready (its
		# own timeout bounds this), then stays its parent.
		while [ ! -s "$dir/ready" ] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
		done
		[ -s "$dir/ready" ] || { echo "instr.sh: storesd did not" \
		    "start; see $dir/log" >&2; cat "$dir/log" >&2; exit 1; }
		return
	fi
	"$@" redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
	    --dir "$dir" --save '' --appendonly no --hz 1 \
	    --loglevel warning >>"$dir/log" 2>&1 &
	pid=$!
	i=0
	until redis-cli -s "$sock" ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 1200 ] && kill -0 "$pid" 2>/dev/null || { echo \
		    "instr.sh: redis-server did not start" >&2; exit 1; }
		sleep 0.1
	done
}

# The server's own pid (storesd's is notify-wait's child).
server_pid() {
	if [ "$name" = storesd ]; then cat "$dir/ready"; else echo "$pid"; fi
}

# Waits for strace to hold every thread of the server (TracerPid).
wait_attached() {
	i=0
	for t in /proc/$(server_pid)/task/*; do
		until grep -q '^TracerPid:[[:space:]]*[1-9]' "$t/status"; do
			i=$((i + 1))
			[ $i -lt 600 ] || { echo "instr.sh: strace did not" \
			    "attach" >&2; exit 1; }
			sleep 0.1
		done
	done
}

# stop_server: SIGTERM to the server (through notify-wait's child for
# storesd), and wait for it: callgrind and strace write their files then.
stop_server() {
	kill -TERM "$(server_pid)"
	wait "$pid" || true
	pid=
}

# Ir of a callgrind file: its "summary:" line, or "totals:".
ir() {
	sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' \
	    "$1" | head -1
}

# per_call A B N: "total=X.XX name=Y.YY ..." per get, from two strace -c
# summaries (calls in B minus calls in A, over N).
per_call() {
	awk -v n="$3" '
	FNR == 1 { f++ }
	$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF ~ /^[a-z_0-9]+$/ {
		name = $NF; c = $4
		if (f == 1) a[name] += c; else b[name] += c
		seen[name] = 1 }
	END {
		t = 0; s = ""
		for (k in seen) {
			d = b[k] - a[k]
			if (k == "total") continue
			t += d
			if (d / n >= 0.05)
				s = s sprintf(" %s=%.2f", k, d / n)
		}
		printf "%.2f (%s )\n", t / n, s
	}' "$1" "$2"
}

# one NAME DEPTH: the row of NAME at DEPTH.
one() {
	name=$1
	depth=$2
	tag=$name-d$depth
	[ "$op" = get ] || tag=$name-$op-d$depth
	# Callgrind: the server whole, the client's measured_gets() only.
	for run in A B; do
		[ $run = A ] && gets=0 || gets=$n
		start_server "$name" valgrind --tool=callgrind \
		    --callgrind-out-file="$out/$tag-server-$run.cg" -q
		valgrind --tool=callgrind -q --toggle-collect=measured_gets \
		    --callgrind-out-file="$out/$tag-client-$run.cg" \
		    "$driver" "$name" "$sock" "$nkeys" "$warm" "$gets" "$depth" \
		    $opt
		stop_server
	done
	sa=$(ir "$out/$tag-server-A.cg")
	sb=$(ir "$out/$tag-server-B.cg")
	cb=$(ir "$out/$tag-client-B.cg")
	# strace: system calls, server (all threads) and client.
	for run in A B; do
		[ $run = A ] && gets=0 || gets=$n
		start_server "$name"
		# Attached once it is ready (under strace, storesd's readiness
		# would come from another pid than notify-wait started).
		strace -f -c -o "$dir/st-server-$run" -p "$(server_pid)" \
		    2>/dev/null &
		spid=$!
		wait_attached
		strace -f -c -o "$dir/st-client-$run" "$driver" "$name" \
		    "$sock" "$nkeys" "$warm" "$gets" "$depth" $opt
		kill -INT "$spid"
		wait "$spid" || true
		stop_server
	done
	for f in server client; do
		mv "$dir/st-$f-A" "$out/$tag-strace-$f-A.txt"
		mv "$dir/st-$f-B" "$out/$tag-strace-$f-B.txt"
	done
	printf '%-8s depth %-3s server %6d instr/%s  client %6d instr/%s\n' \
	    "$name" "$depth" $(((sb - sa) / n)) "$op" $((cb / n)) "$op"
	printf '%-8s depth %-3s server syscalls/%s %s\n' "$name" "$depth" "$op" \
	    "$(per_call "$out/$tag-strace-server-A.txt" \
	    "$out/$tag-strace-server-B.txt" "$n")"
	printf '%-8s depth %-3s client syscalls/%s %s\n' "$name" "$depth" "$op" \
	    "$(per_call "$out/$tag-strace-client-A.txt" \
	    "$out/$tag-strace-client-B.txt" "$n")"
}

echo "instr.sh: $n ${op}s of $nkeys keys (100-byte values) over one" \
    "connection, after $warm; counts from valgrind $(valgrind --version)"
for depth in $depths; do
	for name in storesd redis; do
		[ -z "$only" ] || [ "$only" = "$name" ] || continue
		one "$name" "$depth"
	done
done
echo "callgrind files in $out (callgrind_annotate FILE)"
