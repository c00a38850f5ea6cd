#!/usr/bin/env bash
#
# storectl.sh: storectl against a real storesd.
#
# Run from the top of the tree: BUILD=build tests/storectl.sh
# Starts storesd on a socket and data dir in a fresh temporary directory,
# waits for its READY=1 through notify-wait (never a sleep), runs
# storectl and checks exit statuses and output byte for byte.  Prints a
# PASS or FAIL line per check and exits 1 if any failed.

set -u

BUILD=${BUILD:-build}
CTL=$BUILD/storectl
STORESD=$BUILD/storesd
NOTIFY_WAIT=$BUILD/tests/notify-wait

# Sanitizer reports must not pass for storectl's own exit statuses 1-4.
export ASAN_OPTIONS="exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

for f in "$CTL" "$STORESD" "$NOTIFY_WAIT"; do
	if [ ! -x "$f" ]; then
		echo "storectl.sh: $f is missing; run make $f" >&2
		exit 2
	fi
done
for tool in mdb_load mdb_dump python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "storectl.sh: $tool is missing (apt-get install" \
		    "lmdb-utils python3)" >&2
		exit 2
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/storectl-test.XXXXXX") || exit 2
# The daemon resolves paths; compare against the same spelling.
T=$(cd "$T" && pwd -P)
pid=
waiter=
passes=0
fails=0
rc=0

cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$waiter" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# --------------------------------------------------------------- helpers

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
# exit status in $rc.  $STORESD_SOCKET names the daemon.
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

# out_is STRING: the last stdout is exactly STRING.
out_is() {
	printf '%s' "$1" | cmp -s - "$T/out"
}

out_has() {
	grep -q -e "$1" "$T/out"
}

err_has() {
	grep -q -e "$1" "$T/err"
}

# start_daemon DIR: storesd on DIR/sock, DIR/data, DIR/storesd.conf;
# sets pid and waiter.  notify-wait prints the pid once storesd said
# READY=1, or nothing when it failed.
start_daemon() {
	local dir=$1
	rm -f "$dir/ready"
	mkfifo "$dir/ready" || return 1
	"$NOTIFY_WAIT" "$dir/notify" -- "$STORESD" -s "$dir/sock" \
	    -d "$dir/data" -c "$dir/storesd.conf" \
	    2>"$dir/storesd.log" >"$dir/ready" &
	waiter=$!
	pid=
	read -r pid <"$dir/ready"
	if [ -z "$pid" ]; then
		echo "storectl.sh: storesd did not start; its log:" >&2
		cat "$dir/storesd.log" >&2
		wait "$waiter"
		waiter=
		return 1
	fi
}

# stop_daemon NAME LOG: SIGTERM, then storesd must exit 0.  A daemon
# that hangs is killed after 30 s rather than hanging the test.
stop_daemon() {
	local status i=0
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$waiter"
	status=$?
	pid=
	waiter=
	if [ "$status" -eq 0 ]; then
		pass "$1"
	else
		: >"$T/err"
		fail "$1" "exit $status"
		sed 's/^/    storesd: /' "$2"
	fi
}

# ------------------------------------------------------------- the daemon

# The adopted store is an env another LMDB program wrote.
mkdir "$T/adopted"
printf 'k1\nv1\nhello\nworld\n' | mdb_load -T "$T/adopted" || exit 2

cat >"$T/storesd.conf" <<EOF
; storectl.sh: long idle_close, so an env opened stays listed by live
[daemon]
idle_close = 1h

[store refs]
map_size = 16MiB
dbs = refs

[store nodes]
map_size = 64MiB
max_dbs = 2
dbs = nodes, meta

[store adopted]
map_size = 16MiB
max_dbs = 0
dbs = main
path = $T/adopted
EOF

start_daemon "$T" || exit 1
export STORESD_SOCKET=$T/sock

# ------------------------------------------------------------------ ping

expect "ping" 0 ping
check "ping prints storesd" out_has '^storesd'

STORESD_SOCKET=$T/nowhere
expect "-s wins over STORESD_SOCKET" 0 -s "$T/sock" ping
expect "--socket=SOCKET" 0 ping --socket="$T/sock"
STORESD_SOCKET=$T/sock

# --------------------------------------------------------- get, put, del

expect "README: put refs main 3f2a9c" 0 put refs main 3f2a9c
expect "README: get refs main" 0 get refs main
check "README: get prints exactly 3f2a9c" out_is 3f2a9c

printf 'a\000b\377\n\000' >"$T/bin"
expect "put a binary value from stdin" 0 put refs bin <"$T/bin"
expect "get the binary value" 0 get refs bin
check "get writes the exact bytes" cmp -s "$T/out" "$T/bin"

expect "put an empty value from stdin" 0 put refs empty </dev/null
expect "get the empty value" 0 get refs empty
check "get writes nothing for it" test ! -s "$T/out"

expect "put a key with spaces" 0 put refs 'a key' 'a value'
expect "get a key with spaces" 0 get refs 'a key'
check "... its value" out_is 'a value'

expect "put -x binary key and value" 0 -x put refs 00ff0a deadbeef00
expect "get -x binary key" 0 get -x refs 00ff0a
check "get -x prints lowercase hex and a newline" out_is $'deadbeef00\n'
expect "put -x upper-case hex" 0 put --hex refs 6B33 FF
expect "get the key 6b33 as text" 0 get refs k3
check "... is the byte ff" cmp -s "$T/out" <(printf '\377')
printf '  0a0b\n\n' >"$T/hexin"
expect "put -x from stdin with whitespace" 0 -x put refs 6b34 <"$T/hexin"
expect "get -x it back" 0 -x get refs 6b34
check "... is 0a0b" out_is $'0a0b\n'
expect "get -x of a text value" 0 -x get refs 6d61696e
check "... is its hex" out_is $'336632613963\n'

expect "put -r alpha" 0 put -r alpha refs same A
expect "put --repo beta" 0 put --repo beta refs same B
expect "get -r alpha" 0 get -r alpha refs same
check "... sees alpha's value" out_is A
expect "get -r beta" 0 get refs same -r beta
check "... sees beta's value" out_is B
expect "the default repo does not have it" 1 get refs same

expect "put into the primary db" 0 put nodes k N
expect "put -d meta" 0 put -d meta nodes k M
expect "get from the primary db" 0 get nodes k
check "... sees N" out_is N
expect "get -d meta" 0 get --db meta nodes k
check "... sees M" out_is M
expect "get -d nodes names the primary db" 0 get -d nodes nodes k
check "... sees N" out_is N

head -c 1048576 /dev/urandom >"$T/big"
expect "put 1 MiB from stdin" 0 put refs big <"$T/big"
expect "get 1 MiB" 0 get refs big
check "the 1 MiB value round-trips" cmp -s "$T/out" "$T/big"

expect "-- lets a value start with -" 0 put refs dash -- -value
expect "get it" 0 get refs dash
check "... is -value" out_is -value
expect "-- lets a key start with -" 0 put refs -- -k v
expect "get it" 0 get -- refs -k
check "... is v" out_is v
expect "options after the command" 0 get refs main --repo default -d refs
check "... still find the value" out_is 3f2a9c

expect "del" 0 del refs dash
expect "get after del: not found" 1 get refs dash
check "... NOT_FOUND on stderr" err_has '^storectl: NOT_FOUND: '
check "... nothing on stdout" test ! -s "$T/out"
expect "del of a missing key" 1 del refs dash
check "... NOT_FOUND on stderr" err_has NOT_FOUND
expect "del -x" 0 del -x refs 6b34
expect "get -x after del -x" 1 get -x refs 6b34

# ----------------------------------------------------------- exit codes

expect "unknown store" 3 get nosuch k
check "... UNKNOWN_STORE on stderr" err_has '^storectl: UNKNOWN_STORE: '
expect "unknown db" 3 get -d nosuch refs k
check "... UNKNOWN_DB on stderr" err_has UNKNOWN_DB
expect "bad repo ../x" 3 get -r ../x refs k
check "... BAD_REPO on stderr" err_has BAD_REPO
expect "empty key" 3 get refs ''
check "... BAD_KEY on stderr" err_has BAD_KEY
expect "empty key with -x" 3 put -x refs '' 00
check "... BAD_KEY on stderr" err_has BAD_KEY
expect "512-byte key" 3 get refs "$(printf 'k%.0s' $(seq 512))"
check "... BAD_KEY on stderr" err_has BAD_KEY
expect "-r on a fixed-path store" 3 get -r alpha adopted k1
check "... BAD_REPO on stderr" err_has BAD_REPO
expect "no daemon" 4 -s "$T/nodir/sock" get refs main
check "... names the socket" err_has "$T/nodir/sock"
check "... asks whether storesd runs" err_has 'is storesd running'
STORESD_SOCKET=$T/nodir/sock
expect "no daemon at \$STORESD_SOCKET" 4 ping
check "... names the socket" err_has "$T/nodir/sock"
STORESD_SOCKET=$T/sock
expect "unknown command" 2 frobnicate
check "... lists the commands" err_has 'commands: get, put'
expect "no command" 2
expect "missing arguments" 2 get refs
check "... shows get's usage" err_has 'usage: storectl .* get STORE KEY'
expect "too many arguments" 2 del refs a b
expect "bad hex: odd length" 2 -x get refs abc
check "... KEY is not valid hex" err_has 'KEY is not valid hex'
expect "bad hex: not a digit" 2 -x put refs 6b zz
check "... VALUE is not valid hex" err_has 'VALUE is not valid hex'
printf 'abc\n' >"$T/badhex"
expect "bad hex on stdin" 2 -x put refs 6b <"$T/badhex"
expect "get --json: not get's option" 2 get --json refs main
check "... says so" err_has 'get takes no --json'
expect "snapshot -d: not snapshot's option" 2 snapshot -d refs refs "$T/x"
check "... and creates nothing" test ! -e "$T/x"
expect "unknown option" 2 get --frob refs main
expect "option without its value" 2 get refs main -r
expect "flag with a value" 2 get --hex=1 refs main

# -------------------------------------------------------------- snapshot

expect "snapshot" 0 snapshot refs "$T/snap1"
check "... creates the file mode 0600" \
    test "$(stat -c %a "$T/snap1" 2>/dev/null)" = 600
mdb_dump -n -a -p "$T/snap1" >"$T/dump1" 2>"$T/err"
check "mdb_dump -n reads the snapshot" test $? -eq 0
check "... and finds the key" grep -qx ' main' "$T/dump1"
check "... and its value" grep -qx ' 3f2a9c' "$T/dump1"
expect "snapshot --compact" 0 snapshot refs "$T/snap2" --compact
mdb_dump -n -a -p "$T/snap2" >"$T/dump2" 2>"$T/err"
check "mdb_dump -n reads the compact snapshot" test $? -eq 0
check "... and finds the key" grep -qx ' main' "$T/dump2"
expect "snapshot -r beta" 0 -r beta snapshot refs "$T/snap3"
mdb_dump -n -a -p "$T/snap3" >"$T/dump3" 2>"$T/err"
check "... holds beta's value, not default's" \
    sh -c "grep -qx ' B' '$T/dump3' && ! grep -qx ' main' '$T/dump3'"
printf 'keep\n' >"$T/exists"
expect "snapshot to an existing file" 2 snapshot refs "$T/exists"
check "... says it exists" err_has 'exists'
check "... leaves it untouched" test "$(cat "$T/exists")" = keep
expect "snapshot of a repo without an env" 1 -r norepo snapshot refs \
    "$T/snap4"
check "... NOT_FOUND" err_has NOT_FOUND
check "... leaves no file" test ! -e "$T/snap4"
expect "snapshot of an unknown store" 3 snapshot nosuch "$T/snap5"
check "... leaves no file" test ! -e "$T/snap5"
expect "snapshot without a daemon" 4 -s "$T/nodir/sock" snapshot refs \
    "$T/snap6"
check "... leaves no file" test ! -e "$T/snap6"
expect "snapshot into a missing directory" 2 snapshot refs "$T/nodir/s"

# ------------------------------------------------------------------ fork

expect "fork refs to copy" 0 fork refs copy
expect "get -r copy" 0 get -r copy refs main
check "... sees the value" out_is 3f2a9c
expect "fork into an open env" 3 fork refs copy
check "... BUSY" err_has BUSY
expect "fork refs to copy2" 0 fork refs copy2
expect "fork into an existing env" 3 fork refs copy2
check "... EXISTS" err_has EXISTS
expect "fork -r beta" 0 -r beta fork refs beta2
expect "get -r beta2" 0 get -r beta2 refs same
check "... sees beta's value" out_is B
expect "fork without a source env" 1 fork -r norepo refs copy3
check "... NOT_FOUND" err_has NOT_FOUND
expect "fork into a bad repo name" 3 fork refs ../x
check "... BAD_REPO" err_has BAD_REPO
expect "fork of a fixed-path store" 3 fork adopted copy4
check "... BAD_REQUEST" err_has BAD_REQUEST

# ------------------------------------------------------- the adopted env

expect "get from the env mdb_load wrote" 0 get adopted k1
check "... sees its value" out_is v1
expect "get -d main from it" 0 get -d main adopted hello
check "... sees its value" out_is world
expect "put into the adopted env" 0 put adopted newkey newval
mdb_dump -p "$T/adopted" >"$T/dump4" 2>"$T/err"
check "mdb_dump reads it while storesd runs" test $? -eq 0
check "... and sees the new key" grep -qx ' newkey' "$T/dump4"

# ---------------------------------------------------------- stats, live

expect "stats refs" 0 stats refs
check "... prints entries" out_has entries
expect "stats --json" 0 stats --json
check "... is valid JSON naming refs" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["daemon"], dict) and d["daemon"]
e = [e for e in d["envs"] if e["store"] == "refs" and e["repo"] == "default"]
assert e and e[0]["dir"] and isinstance(e[0]["counters"], dict)
assert any(db["name"] == "refs" and "entries" in db["counters"]
    for db in e[0]["dbs"])
' "$T/out"
expect "stats adopted --json" 0 stats adopted --json
check "... gives repo null for a fixed path" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [e for e in d["envs"] if e["store"] == "adopted" and e["repo"] is None]
' "$T/out"
expect "stats of an unknown store" 3 stats nosuch
expect "stats of a repo without an env" 1 stats -r norepo refs

expect "live" 0 live
check "... lists the env of refs" \
    out_has "^default	refs	$T/data/[^	]*	[0-9][0-9]*	[0-9][0-9]*\$"
check "... lists the adopted env with repo -" \
    out_has "^-	adopted	$T/adopted	"
check "... lists other repos too" out_has '^alpha	refs	'
expect "live refs" 0 live refs
check "... lists only refs" sh -c "! cut -f2 '$T/out' | grep -vqx refs"
expect "live -r alpha" 0 live -r alpha
check "... lists only alpha" sh -c "! cut -f1 '$T/out' | grep -vqx alpha"
expect "live of a repo with nothing open" 1 live -r norepo
check "... prints nothing" test ! -s "$T/out"
expect "live of an unknown store" 3 live nosuchstore
check "... UNKNOWN_STORE" err_has UNKNOWN_STORE

# ------------------------------------------------------------------ help

version=$(sed -n 's/^#define SC_VERSION_\(MAJOR\|MINOR\|PATCH\)[[:space:]]*//p' \
    client/storeclient.h | paste -sd.)
expect "--version" 0 --version
check "... prints storectl $version" out_is "storectl $version"$'\n'
expect "--help" 0 --help
check "... lists the commands" out_has '^  snapshot STORE FILE'
check "... documents live's exit 1" out_has 'none open, so the'
expect "help get" 0 help get
check "... shows get's usage" out_has '^usage: storectl .* get STORE KEY'
expect "get --help" 0 get --help
check "... shows get's usage" out_has '^usage: storectl .* get STORE KEY'
expect "live --help" 0 live --help
check "... documents exit 1" \
    out_has 'exit 1: none open, so the directories may be moved'
expect "help of an unknown command" 2 help frobnicate

stop_daemon "storesd stops cleanly on SIGTERM" "$T/storesd.log"
expect "ping after storesd stopped" 4 ping
check "... names the socket" err_has "$T/sock"

mdb_dump -p "$T/adopted" >"$T/dump5" 2>"$T/err"
check "after the stop, mdb_dump sees the adopted env's new key" \
    grep -qx ' newkey' "$T/dump5"

# ----------------------------------------------------------- idle close

# A second daemon that closes envs after 200ms, for live's exit 1.
I=$T/idle
mkdir "$I"
printf '[daemon]\nidle_close = 200ms\n[store refs]\nmap_size = 16MiB\n' \
    >"$I/storesd.conf"
start_daemon "$I" || exit 1
STORESD_SOCKET=$I/sock
expect "idle: put" 0 put refs k v
i=0
ctl live
while [ "$rc" -eq 0 ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
	ctl live
done
check "idle: live exits 1 once the env is closed (within 10 s)" \
    test "$rc" -eq 1
check "... and prints nothing" test ! -s "$T/out"
expect "idle: get reopens the env" 0 get refs k
stop_daemon "idle: storesd stops cleanly" "$I/storesd.log"

printf '%d passed, %d failed\n' "$passes" "$fails"
[ "$fails" -eq 0 ]
