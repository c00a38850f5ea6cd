# shlib.sh: what the shell suites that run storectl against real storesd
# daemons share.  Source it after setting BUILD; it sets CTL, STORESD,
# NOTIFY_WAIT, makes the temporary directory $T, and stops every daemon
# it started (and removes $T) on exit.

CTL=$BUILD/storectl
STORESD=$BUILD/storesd
NOTIFY_WAIT=$BUILD/tests/notify-wait

# Sanitizer reports must not pass for storectl's own exit statuses 1-4.
export ASAN_OPTIONS="exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

for f in "$CTL" "$STORESD" "$NOTIFY_WAIT"; do
	if [ ! -x "$f" ]; then
		echo "$0: $f is missing; run make $f" >&2
		exit 2
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/storesd-test.XXXXXX") || exit 2
T=$(cd "$T" && pwd -P)
pid=
waiter=
daemons=		# "pid:waiter" of each daemon still running
passes=0
fails=0
rc=0

shlib_cleanup() {
	local d
	for d in $daemons; do
		kill -TERM "${d%%:*}" 2>/dev/null
		wait "${d##*:}" 2>/dev/null
	done
	rm -rf "$T"
}
trap shlib_cleanup EXIT

pass() {
	printf 'PASS: %s\n' "$1"
	passes=$((passes + 1))
}

# fail NAME [DETAIL]: also shows the last storectl's stderr.
fail() {
	printf 'FAIL: %s%s\n' "$1" "${2:+ ($2)}"
	if [ -s "$T/err" ]; then
		sed 's/^/    stderr: /' "$T/err"
	fi
	fails=$((fails + 1))
}

# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then
		pass "$name"
	else
		fail "$name"
	fi
}

sanitizer_spoke() {
	grep -Eq 'Sanitizer|runtime error:' "$T/err"
}

# ctl ARGS...: storectl with stdout in $T/out, stderr in $T/err and the
# exit status in $rc.
ctl() {
	"$CTL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# expect NAME STATUS ARGS...: runs storectl ARGS, checks its exit status.
expect() {
	local name=$1 want=$2
	shift 2
	ctl "$@"
	if sanitizer_spoke; then
		fail "$name" "a sanitizer reported an error"
	elif [ "$rc" -ne "$want" ]; then
		fail "$name" "exit $rc, expected $want"
	else
		pass "$name"
	fi
}

out_is() {
	printf '%s' "$1" | cmp -s - "$T/out"
}

# out_lines LINE...: the last stdout is exactly these lines (none: empty).
out_lines() {
	if [ "$#" -eq 0 ]; then
		test ! -s "$T/out"
	else
		printf '%s\n' "$@" | cmp -s - "$T/out"
	fi
}

out_has() {
	grep -q -e "$1" "$T/out"
}

not_grep() {
	! grep -q -e "$1" "$2"
}

err_has() {
	grep -q -e "$1" "$T/err"
}

# start_daemon DIR: storesd on DIR/sock, DIR/data, DIR/storesd.conf;
# sets pid and waiter.  notify-wait prints the pid once storesd said
# READY=1 (never a sleep), or nothing when it failed.
start_daemon() {
	local dir=$1
	rm -f "$dir/ready"
	mkfifo "$dir/ready" || return 1
	"$NOTIFY_WAIT" "$dir/notify" -- ${STORESD_WRAPPER:-} "$STORESD" \
	    -s "$dir/sock" -d "$dir/data" -c "$dir/storesd.conf" \
	    2>"$dir/storesd.log" >"$dir/ready" &
	waiter=$!
	pid=
	read -r pid <"$dir/ready"
	if [ -z "$pid" ]; then
		echo "$0: storesd did not start; its log:" >&2
		cat "$dir/storesd.log" >&2
		wait "$waiter"
		waiter=
		return 1
	fi
	daemons="$daemons $pid:$waiter"
}

# stop_daemon NAME LOG [PID WAITER]: SIGTERM to the daemon (the last one
# started by default), then storesd must exit 0.  A daemon that hangs is
# killed after 30 s rather than hang the test.
stop_daemon() {
	local status i=0 p=${3:-$pid} w=${4:-$waiter}
	kill -TERM "$p"
	while kill -0 "$p" 2>/dev/null && [ "$i" -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$p" 2>/dev/null
	wait "$w"
	status=$?
	daemons=${daemons/ $p:$w/}
	if [ "$p" = "$pid" ]; then
		pid=
		waiter=
	fi
	if [ "$status" -eq 0 ]; then
		pass "$1"
	else
		: >"$T/err"
		fail "$1" "exit $status"
		sed 's/^/    storesd: /' "$2"
	fi
}

# shlib_done: the summary line and the suite's exit status.
shlib_done() {
	printf '%s: %d passed, %d failed\n' "$0" "$passes" "$fails"
	[ "$fails" -eq 0 ]
}
