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
. tests/shlib.sh

for tool in mdb_load mdb_dump python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "storectl.sh: $tool is missing (apt-get install" \
		    "lmdb-utils python3)" >&2
		exit 2
	fi
done

# count_is N ARGS...: storectl count ARGS exits 0 and prints N.
count_is() {
	local want=$1
	shift
	ctl count "$@"
	[ "$rc" -eq 0 ] && out_is "$want"$'\n'
}

# ------------------------------------------------------------- the daemon

# The adopted store is an env another LMDB program wrote.
mkdir "$T/adopted"
printf 'k1\nv1\nhello\nworld\n' | mdb_load -T "$T/adopted" || exit 2

# max_frame 2MiB: the library sends batches and missing keys in chunks
# of half a frame, so the large inputs below span several chunks.
# scan_page 4: scans of a few entries cross pages.
cat >"$T/storesd.conf" <<EOF
; storectl.sh: long idle_close, so an env opened stays listed by live
[daemon]
idle_close = 1h
max_frame = 2MiB
scan_page = 4

[store refs]
map_size = 16MiB
dbs = refs

[store nodes]
map_size = 64MiB
max_dbs = 2
dbs = nodes, meta

[store hist]
map_size = 16MiB
history = 1MiB

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

# The bound of batch input is said where batch is documented (issue 14,
# edge 10).
expect "help batch" 0 help batch
check "... names max_batch, the bound of its input" grep -q max_batch \
    "$T/err" "$T/out"

# --------------------------------------------------------- get, put, del

expect "README: put refs main 3f2a9c" 0 put refs main 3f2a9c
expect "README: get refs main" 0 get refs main
check "README: get prints exactly 3f2a9c" out_is 3f2a9c

printf 'a\000b\377\n\000' >"$T/bin"
expect "put a binary value from stdin" 0 put refs bin - <"$T/bin"
expect "get the binary value" 0 get refs bin
check "get writes the exact bytes" cmp -s "$T/out" "$T/bin"

expect "put an empty value from stdin" 0 put refs empty - </dev/null
# A missing VALUE never reads stdin (issue 14, edge 3): an empty shell
# variable is a usage error, and a put in a while-read loop leaves the
# loop's input alone.
empty=
expect "put without VALUE is a usage error" 2 put refs novalue $empty \
    <"$T/bin"
check "... that says to give - for stdin" err_has 'VALUE is missing.*-'
expect "... and wrote nothing" 1 get refs novalue
printf 'l1 a\nl2 b\nl3 c\n' | while read -r k v; do
	"$CTL" put refs "loop-$k" "$v" 2>/dev/null
done
expect "a put in a while-read loop leaves the loop's input alone" 0 \
    get refs loop-l3
check "... every line was read by the loop" out_is c
expect "the value - itself, in hex" 0 -x put refs 64617368 2d
expect "... reads back as -" 0 get refs dash
check "... is -" out_is -
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
expect "put -x from stdin with whitespace" 0 -x put refs 6b34 - <"$T/hexin"
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
expect "put 1 MiB from stdin" 0 put refs big - <"$T/big"
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
expect "bad hex on stdin" 2 -x put refs 6b - <"$T/badhex"
expect "get --compact: not get's option" 2 get --compact refs main
check "... says so" err_has 'get takes no --compact'
expect "snapshot -d: not snapshot's option" 2 snapshot -d refs refs "$T/x"
check "... and creates nothing" test ! -e "$T/x"
expect "unknown option" 2 get --frob refs main
expect "option without its value" 2 get refs main -r
expect "flag with a value" 2 get --hex=1 refs main

# ---------------------------------------------------- conditional writes

expect "put --if-absent of an absent key" 0 put -r cond refs k v1 --if-absent
expect "put --if-absent of a present key" 1 put -r cond refs k v2 --if-absent
check "... COND_FAILED on stderr" err_has '^storectl: COND_FAILED: '
expect "... which keeps its value" 0 get -r cond refs k
check "... v1" out_is v1
expect "put --if-equals the value it holds" 0 put -r cond refs k v2 \
    --if-equals v1
expect "get it" 0 get -r cond refs k
check "... v2" out_is v2
expect "put --if-equals a stale value" 1 put -r cond refs k v3 --if-equals v1
check "... COND_FAILED on stderr" err_has '^storectl: COND_FAILED: '
expect "get it" 0 get -r cond refs k
check "... still v2" out_is v2
expect "put --if-equals of an absent key" 1 put -r cond refs none v \
    --if-equals v1
check "... COND_FAILED on stderr" err_has '^storectl: COND_FAILED: '
expect "... creates nothing" 1 get -r cond refs none
printf 'v3' >"$T/v3"
expect "put --if-equals with VALUE from stdin" 0 put -r cond refs k - \
    --if-equals v2 <"$T/v3"
expect "get it" 0 get -r cond refs k
check "... v3" out_is v3
expect "put -x --if-equals: OLD is hex" 0 -x put -r cond refs 6b 00ff \
    --if-equals 7633
expect "get -x it" 0 -x get -r cond refs 6b
check "... 00ff" out_is $'00ff\n'
expect "put --if-equals '': an empty OLD is a value" 0 put -r cond refs e ''
expect "... that --if-equals '' matches" 0 put -r cond refs e E --if-equals ''
expect "put --if-absent -d meta" 0 put -r cond -d meta nodes k M --if-absent
expect "... writes the meta db" 0 get -r cond -d meta nodes k
check "... M" out_is M
expect "... and not the primary db" 1 get -r cond nodes k
expect "del --if-equals a stale value" 1 del -r cond refs k --if-equals v2
check "... COND_FAILED on stderr" err_has '^storectl: COND_FAILED: '
expect "... keeps the key" 0 get -r cond refs k
expect "del -x --if-equals the value it holds" 0 -x del -r cond refs 6b \
    --if-equals 00ff
expect "... deletes it" 1 get -r cond refs k
expect "del --if-equals of an absent key" 1 del -r cond refs k --if-equals v
check "... COND_FAILED, not NOT_FOUND" \
    sh -c "grep -q '^storectl: COND_FAILED: ' '$T/err' &&
    ! grep -q NOT_FOUND '$T/err'"
expect "del --if-equals without an env" 1 del -r condnone refs k \
    --if-equals v
check "... COND_FAILED" err_has '^storectl: COND_FAILED: '
expect "--if-absent with --if-equals" 2 put -r cond refs k v --if-absent \
    --if-equals v1
check "... says they do not go together" err_has 'do not go together'
expect "... and writes nothing" 1 get -r cond refs k
expect "del takes no --if-absent" 2 del -r cond refs e --if-absent
expect "get takes no --if-equals" 2 get -r cond refs e --if-equals E
expect "put -x --if-equals with bad hex OLD" 2 -x put -r cond refs 6b 00 \
    --if-equals zz
check "... OLD is not valid hex" err_has 'OLD is not valid hex'

# ------------------------------------------------------------------ batch

printf '%s\n' 'put a 1' 'put b two words' '@meta put a M' \
    'put-if-absent c 3' 'expect-absent d' 'expect a 1' 'del zz' 'put e ' \
    >"$T/b1"
expect "batch: ops, @DB ones too, all apply" 0 -r b batch nodes <"$T/b1"
check "... prints nothing" test ! -s "$T/out"
expect "mget them" 0 mget -r b nodes a b c e
check "... values with spaces, and an empty one" \
    out_lines $'a\t1' $'b\ttwo words' $'c\t3' $'e\t'
expect "get -d meta" 0 get -r b -d meta nodes a
check "... @meta wrote the meta db" out_is M
check "count: 4 in the primary db" count_is 4 -r b nodes
check "count -d meta: 1" count_is 1 -r b -d meta nodes

printf '%s\n' 'put f 6' 'put a 100' 'expect b wrong' 'put g 7' >"$T/b2"
expect "batch: an expect that fails in line 3" 1 -r b batch nodes <"$T/b2"
check "... COND_FAILED on stderr" err_has '^storectl: COND_FAILED: '
check "... names line 3" err_has 'line 3'
expect "... applies nothing: a is still 1" 0 get -r b nodes a
check "... 1" out_is 1
expect "... f absent" 1 get -r b nodes f
check "... count still 4" count_is 4 -r b nodes

printf '%s\n' 'put x X' '@nodes put y Y' >"$T/b3"
expect "batch -d meta: the default db of ops" 0 -r b -d meta batch nodes \
    <"$T/b3"
expect "... x went to meta" 0 get -r b -d meta nodes x
expect "... @nodes y to the primary db" 0 get -r b nodes y
expect "... not x" 1 get -r b nodes x

printf '%s\n' 'put h 8' 'put  v' >"$T/b4"
expect "batch: an empty KEY field" 3 -r b batch nodes <"$T/b4"
check "... names line 2" err_has '^storectl: line 2: '
check "... nothing applied" count_is 5 -r b nodes

printf 'put h 8\nput %s v\nput i 9\n' "$(printf 'k%.0s' $(seq 512))" \
    >"$T/b5"
expect "batch: a 512-byte key" 3 -r b batch nodes <"$T/b5"
check "... BAD_KEY naming line 2" err_has '^storectl: BAD_KEY: line 2'
expect "... applies nothing" 1 get -r b nodes h

printf '%s\n' 'put h 8' 'frob h' 'put i 9' >"$T/b6"
expect "batch: an unknown op" 3 -r b batch nodes <"$T/b6"
check "... names line 2 and the op" err_has "line 2: unknown op 'frob'"
expect "... applies nothing" 1 get -r b nodes h

# batch_error NAME INPUT LINE: input that does not parse, at line LINE:
# any batch failure but COND_FAILED exits 3.
batch_error() {
	printf '%s' "$2" >"$T/bad"
	expect "batch: $1" 3 -r b batch nodes <"$T/bad"
	check "... names line $3" err_has "^storectl: line $3: "
}
batch_error "put KEY without a space for VALUE" $'put h 8\nput k\n' 2
batch_error "an empty line" $'put h 8\n\nput i 9\n' 2
batch_error "del KEY with more after it" $'del a b\n' 1
batch_error "clear with more after it" $'put h 8\nclear x\n' 2
batch_error "an op without KEY" $'put h 8\nexpect-absent\n' 2
batch_error "an empty @DB" $'@ put a 1\n' 1
batch_error "@DB alone" $'@meta\n' 1
batch_error "a CR LF line end" $'put h 8\r\nclear\r\n' 2
check "... explains the carriage return" err_has 'carriage return'
expect "... a CR in a value is kept" 0 -r b batch nodes <<<$'put cr 8\r'
expect "get it" 0 -x get -r b nodes 6372
check "... 380d" out_is $'380d\n'
expect "none of those applied" 1 get -r b nodes h
printf 'put 6b zz\n' >"$T/bad"
expect "batch -x: bad hex VALUE" 3 -x -r b batch nodes <"$T/bad"
check "... names line 1 and VALUE" err_has 'line 1: VALUE is not valid hex'
expect "batch of nothing" 0 -r b batch nodes </dev/null
expect "batch of an unknown store" 3 batch nosuch <"$T/b1"
check "... UNKNOWN_STORE" err_has UNKNOWN_STORE
printf '@nosuch put a 1\n' >"$T/bad"
expect "batch naming an unknown db" 3 -r b batch nodes <"$T/bad"
check "... UNKNOWN_DB naming line 1" err_has 'UNKNOWN_DB: line 1'
expect "batch without a daemon" 4 -s "$T/nodir/sock" batch refs <"$T/b1"

printf '%s\n' 'put a 1' 'put b 2' 'put c 3' '@meta put m 1' >"$T/b7"
expect "batch: fill" 0 -r clr batch nodes <"$T/b7"
printf '%s\n' 'clear' 'put x 1' 'put y 2' >"$T/b8"
expect "batch: clear then refill" 0 -r clr batch nodes <"$T/b8"
expect "... leaves just the new keys" 0 -r clr scan nodes --keys-only
check "... x and y" out_lines x y
check "... and the meta db untouched" count_is 1 -r clr -d meta nodes
expect "batch: clear alone" 0 -r clr batch nodes <<<clear
check "count of an emptied env: 0" count_is 0 -r clr nodes

printf '%s\n' 'put 6b31 00ff' '@meta put 6b32 0a' 'expect 6b31 00FF' \
    'put 6b33 ' 'put 6b20 20' >"$T/b9"
expect "batch -x" 0 -x -r bx batch nodes <"$T/b9"
expect "mget -x them" 0 -x mget -r bx nodes 6b31 6b33 6b20
check "... hex keys and values" out_lines $'6b31\t00ff' $'6b33\t' $'6b20\t20'
expect "get -d meta k2" 0 -x get -r bx -d meta nodes 6b32
check "... 0a" out_is $'0a\n'

# 20,000 ops of 100-byte values, over 2 MB: several chunks.
v100=$(printf 'v%.0s' $(seq 100))
seq -f 'put key%05g '"$v100" 0 19999 >"$T/big20k"
expect "batch of 20,000 lines" 0 -r big batch refs <"$T/big20k"
check "... count 20000" count_is 20000 -r big refs
expect "scan --keys-only them (5000 pages)" 0 -r big scan refs --keys-only
check "... all, in order" \
    cmp -s "$T/out" <(seq -f 'key%05g' 0 19999)
# A bad key in a later chunk fails that chunk before the commit.
sed '15000s/^put key14999/put '"$(printf 'k%.0s' $(seq 512))"'/' \
    "$T/big20k" >"$T/bigbad"
expect "batch of 20,000 with a 512-byte key in line 15000" 3 \
    -r bigbad batch refs <"$T/bigbad"
check "... BAD_KEY naming line 15000" err_has 'BAD_KEY: line 15000:'
check "... applies nothing" count_is 0 -r bigbad refs
cp "$T/big20k" "$T/bigcond"
echo 'expect key00000 other' >>"$T/bigcond"
expect "batch of 20,000 then a failing expect" 1 -r bigcond batch refs \
    <"$T/bigcond"
check "... COND_FAILED naming line 20001" err_has 'COND_FAILED: line 20001:'
check "... applies nothing" count_is 0 -r bigcond refs

# ------------------------------------------------- mget, missing, count

expect "mget setup: a" 0 put -r m refs a A
expect "mget setup: b holds a tab" 0 put -r m refs b $'x\ty'
expect "mget with an absent key" 1 mget -r m refs a c b
check "... prints the present ones, in order, escaped" \
    out_lines $'a\tA' $'b\tx\\ty'
check "... nothing on stderr" test ! -s "$T/err"
expect "mget of present keys" 0 mget -r m refs b a
check "... in the order given" out_lines $'b\tx\\ty' $'a\tA'
expect "mget -x" 1 -x mget -r m refs 61 63
check "... hex" out_lines $'61\t41'
expect "mget without an env" 1 mget -r nothing refs a
check "... prints nothing" out_lines
expect "mget of an empty key" 3 mget -r m refs a ''
check "... BAD_KEY naming KEY 2" err_has '^storectl: BAD_KEY: KEY 2: '
expect "mget -x of bad hex" 2 -x mget -r m refs 61 6
check "... KEY 2 is not valid hex" err_has 'KEY 2 is not valid hex'
expect "mget needs a KEY" 2 mget -r m refs

expect "missing from arguments" 0 missing -r m refs a c b d
check "... c and d" out_lines c d
expect "missing of present keys" 0 missing -r m refs a b
check "... prints nothing" out_lines
printf 'a\nc\nb\nd' >"$T/keys"
expect "missing from stdin, no newline at the end" 0 missing -r m refs \
    <"$T/keys"
check "... c and d" out_lines c d
printf '61\n63\n' >"$T/keys"
expect "missing -x from stdin" 0 -x missing -r m refs <"$T/keys"
check "... 63" out_lines 63
expect "missing -x from arguments" 0 -x missing -r m refs 61 7a5c
check "... 7a5c" out_lines 7a5c
printf 'a\\b\n\377\n' >"$T/keys"
expect "missing escapes the keys it prints" 0 missing -r m refs <"$T/keys"
check "... a\\\\b and \\xff" out_lines 'a\\b' '\xff'
expect "missing of nothing on stdin" 0 missing -r m refs </dev/null
check "... prints nothing" out_lines
expect "missing without an env" 0 missing -r nothing refs x y
check "... all of them" out_lines x y
printf '61\n6\n' >"$T/keys"
expect "missing -x of bad hex on stdin" 2 -x missing -r m refs <"$T/keys"
check "... names line 2" err_has 'line 2: KEY is not valid hex'
printf 'a\n\nb\n' >"$T/keys"
expect "missing with an empty line" 3 missing -r m refs <"$T/keys"
check "... BAD_KEY naming line 2" err_has '^storectl: BAD_KEY: line 2: '
# Over 2 MB of keys: sent in several requests, answered in order.
seq -f 'key%05g' 0 139999 >"$T/keys"
expect "missing of 140,000 keys from stdin" 0 -r big missing refs <"$T/keys"
check "... all but the 20,000 present" \
    cmp -s "$T/out" <(grep -vx 'key[01][0-9][0-9][0-9][0-9]' "$T/keys")
sed -i '100000s/.*//' "$T/keys"
expect "missing of 140,000 keys, line 100000 empty" 3 -r big missing refs \
    <"$T/keys"
check "... BAD_KEY naming line 100000" err_has 'BAD_KEY: line 100000:'

check "count of a repo without an env: 0" count_is 0 -r nothing refs
check "count: 2" count_is 2 -r m refs
expect "count of an unknown store" 3 count nosuch
expect "count takes no -x" 2 count -x refs

# ------------------------------------------------------------------ scan

printf '%s\n' 'put a 1' 'put b 2' 'put ba 3' 'put bb 4' 'put c 5' 'put d 6' \
    '@meta put m 1' >"$T/s1"
expect "scan setup" 0 -r s batch nodes <"$T/s1"
expect "scan" 0 -r s scan nodes
check "... everything in order" \
    out_lines $'a\t1' $'b\t2' $'ba\t3' $'bb\t4' $'c\t5' $'d\t6'
expect "scan --prefix b" 0 -r s scan nodes --prefix b
check "... b ba bb" out_lines $'b\t2' $'ba\t3' $'bb\t4'
# Continuing a scan (issue 14, edge 6): --after K starts past K, so the
# next page never repeats the last key of the one before.
expect "scan --limit 2" 0 -r s scan nodes --limit 2 --keys-only
check "... a b" out_lines a b
expect "scan --limit 2 --after b (the next page)" 0 -r s scan nodes \
    --limit 2 --keys-only --after b
check "... ba bb, not b again" out_lines ba bb
expect "scan --after bb" 0 -r s scan nodes --after bb
check "... c d" out_lines $'c\t5' $'d\t6'
expect "scan --after d: nothing left" 0 -r s scan nodes --after d
check "... prints nothing" out_lines
expect "scan --after a key that is not there" 0 -r s scan nodes \
    --after bab --keys-only
check "... bb c d" out_lines bb c d
expect "scan --reverse --limit 2 --after c" 0 -r s scan nodes --reverse \
    --limit 2 --keys-only --after c
check "... bb ba (before c)" out_lines bb ba
expect "scan --after --prefix" 0 -r s scan nodes --prefix b --after b \
    --keys-only
check "... ba bb" out_lines ba bb
expect "scan -x --after 62" 0 -x -r s scan nodes --after 62 --limit 1 \
    --keys-only
check "... 6261" out_lines 6261
expect "scan --after with --start" 2 -r s scan nodes --after b --start a
check "... a usage error that says why" err_has 'both say where'
expect "scan --reverse --after with --end" 2 -r s scan nodes --reverse \
    --after b --end c

# --json for get, mget, scan, live (issue 14, edge 6), checked by a
# JSON parser.
json_ok() {
	python3 -c "import json, sys; d = json.load(open(sys.argv[1])); $1" \
	    "$T/out"
}
expect "get --json" 0 -r s get nodes b --json
check "... {key, value}" json_ok 'assert d == {"key": "b", "value": "2"}'
expect "get -x --json: hex, exact" 0 -x -r s get nodes 62 --json
check "... {key, value} in hex" json_ok \
    'assert d == {"key": "62", "value": "32"}'
expect "mget --json with an absent key" 1 -r s mget nodes a zz b --json
check "... every key in order, null for the absent" json_ok '
assert d == {"entries": [{"key": "a", "value": "1"},
    {"key": "zz", "value": None}, {"key": "b", "value": "2"}]}'
expect "scan --json" 0 -r s scan nodes --prefix b --json
check "... {entries: [{key, value}]}" json_ok '
assert d == {"entries": [{"key": "b", "value": "2"},
    {"key": "ba", "value": "3"}, {"key": "bb", "value": "4"}]}'
expect "scan --json --keys-only --limit 0" 0 -r s scan nodes --json \
    --keys-only --limit 0
check "... an empty list" json_ok 'assert d == {"entries": []}'
expect "scan --json --keys-only" 0 -r s scan nodes --json --keys-only \
    --end b
check "... keys only" json_ok 'assert d == {"entries": [{"key": "a"}]}'
printf 'put q \001"\\\n' >"$T/s2"
expect "a value with a quote, a backslash, a control byte" 0 -r sj \
    batch nodes <"$T/s2"
expect "get --json of it" 0 -r sj get nodes q --json
check "... escaped as JSON" json_ok 'assert d["value"] == "\x01\"\\"'
expect "scan --start b --end c" 0 -r s scan nodes --start b --end c
check "... b ba bb" out_lines $'b\t2' $'ba\t3' $'bb\t4'
expect "scan --start ba" 0 -r s scan nodes --start ba --keys-only
check "... ba bb c d" out_lines ba bb c d
expect "scan --end b" 0 -r s scan nodes --end b
check "... a" out_lines $'a\t1'
expect "scan --reverse" 0 -r s scan nodes --reverse --keys-only
check "... d c bb ba b a" out_lines d c bb ba b a
expect "scan --reverse --prefix b" 0 -r s scan nodes --reverse --prefix b
check "... bb ba b" out_lines $'bb\t4' $'ba\t3' $'b\t2'
expect "scan --reverse --start b --end c" 0 -r s scan nodes --reverse \
    --start b --end c --keys-only
check "... bb ba b" out_lines bb ba b
expect "scan --limit 0" 0 -r s scan nodes --limit 0
check "... prints nothing" out_lines
expect "scan --limit 1" 0 -r s scan nodes --limit 1
check "... a" out_lines $'a\t1'
expect "scan --limit 5 (past a page)" 0 -r s scan nodes --limit 5 --keys-only
check "... a b ba bb c" out_lines a b ba bb c
expect "scan --reverse --limit 2" 0 -r s scan nodes --reverse --limit 2
check "... d c" out_lines $'d\t6' $'c\t5'
expect "scan --keys-only" 0 -r s scan nodes --keys-only
check "... the keys" out_lines a b ba bb c d
expect "scan -d meta" 0 -r s -d meta scan nodes
check "... m" out_lines $'m\t1'
expect "scan -x --prefix 62" 0 -x -r s scan nodes --prefix 62
check "... hex" out_lines $'62\t32' $'6261\t33' $'6262\t34'
expect "scan without an env" 0 -r nothing scan nodes
check "... prints nothing" out_lines
expect "scan of an unknown store" 3 scan nosuch
check "... UNKNOWN_STORE" err_has UNKNOWN_STORE
# --limit 0 asks for no entries, not for a request that is not checked.
expect "scan --limit 0 of an unknown store" 3 scan nosuch --limit 0
check "... UNKNOWN_STORE" err_has UNKNOWN_STORE
expect "scan --limit 0 of an unknown db" 3 -d nosuch scan nodes --limit 0
expect "scan of a 512-byte --prefix" 3 scan refs \
    --prefix "$(printf 'k%.0s' $(seq 512))"
check "... BAD_KEY" err_has BAD_KEY
# An empty bound is below every key, whichever the direction.
expect "scan --start ''" 0 -r s scan nodes --start '' --keys-only
check "... everything" out_lines a b ba bb c d
expect "scan --reverse --start ''" 0 -r s scan nodes --reverse --start '' \
    --keys-only
check "... everything" out_lines d c bb ba b a
expect "scan --end ''" 0 -r s scan nodes --end ''
check "... nothing" out_lines
expect "scan --reverse --end ''" 0 -r s scan nodes --reverse --end ''
check "... nothing" out_lines
for bad in -1 x '' 1x ' 1' +1 18446744073709551616; do
	expect "scan --limit '$bad'" 2 -r s scan nodes --limit "$bad"
done
check "... says so" err_has 'limit'
expect "scan -x --start of bad hex" 2 -x -r s scan nodes --start zz
check "... --start K is not valid hex" err_has 'start K is not valid hex'
expect "scan --replace: not scan's option" 2 -r s scan nodes --replace

# Every class of byte: tab, newline, backslash, 0xff, space, ", NUL, DEL, CR.
expect "put -x a key of every class of byte" 0 -x put -r esc refs \
    6b090a5cff2022007f0d 760180
expect "scan shows it escaped" 0 -r esc scan refs
check "... exactly" out_is "$(printf '%s\t%s' 'k\t\n\\\xff "\x00\x7f\x0d' \
    'v\x01\x80')"$'\n'
expect "scan -x shows it in hex" 0 -x -r esc scan refs
check "... exactly" out_lines $'6b090a5cff2022007f0d\t760180'
expect "mget -x of it" 0 -x mget -r esc refs 6b090a5cff2022007f0d
check "... hex" out_lines $'6b090a5cff2022007f0d\t760180'
expect "put a key with a tab and a backslash" 0 put -r esc refs $'k\t\\' \
    'x"y'
expect "mget prints it escaped" 0 mget -r esc refs $'k\t\\'
check "... exactly" out_is "k\\t\\\\"$'\t''x"y'$'\n'
expect "missing prints its keys escaped" 0 missing -r esc refs $'z\t\\'
check "... exactly" out_lines "z\\t\\\\"

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
expect "snapshot - into a redirected file" 0 snapshot refs -
mdb_dump -n -a -p "$T/out" >"$T/dump7" 2>"$T/err"
check "... which mdb_dump -n reads" grep -qx ' main' "$T/dump7"
"$CTL" snapshot refs - --compact 2>"$T/err" | cat >"$T/snap8"
check "snapshot - through a pipe exits 0" test "${PIPESTATUS[0]}" -eq 0
mdb_dump -n -a -p "$T/snap8" >"$T/dump8" 2>>"$T/err"
check "... and the stream is an env" grep -qx ' main' "$T/dump8"
# The reader closes its end first (bounded wait), then storectl runs.
rm -f "$T/closed"
{ for i in $(seq 1000); do [ -e "$T/closed" ] && break; sleep 0.01; done
  "$CTL" snapshot refs - 2>"$T/err"; echo $? >"$T/rc"; } |
    { exec 0<&-; : >"$T/closed"; }
check "snapshot - into a pipe whose reader is gone: exit 2" \
    test "$(cat "$T/rc")" -eq 2
check "... FD_ERROR, its reader went away" \
    sh -c "grep -q FD_ERROR '$T/err' && grep -q 'reader went away' '$T/err'"

# ------------------------------------------------------------------ fork

expect "fork refs to copy" 0 fork refs copy
expect "get -r copy" 0 get -r copy refs main
check "... sees the value" out_is 3f2a9c
expect "fork into an open env" 3 fork refs copy
check "... BUSY" err_has BUSY
check "... with storesd's retry hint" err_has '(retry in 1000 ms)'
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
expect "live --json" 0 live -r alpha --json
check "... {envs: [{repo, store, dir, inflight, idle_ms}]}" json_ok '
e = d["envs"]
assert len(e) >= 1 and all(x["repo"] == "alpha" for x in e)
assert all(set(x) == {"repo", "store", "dir", "inflight", "idle_ms"}
    for x in e)'
expect "live of a repo with nothing open" 1 live -r norepo
check "... prints nothing" test ! -s "$T/out"
expect "live of an unknown store" 3 live nosuchstore
check "... UNKNOWN_STORE" err_has UNKNOWN_STORE

# ------------------------------------------------------------------ help

version=$(sed -n 's/^#define SC_VERSION_\(MAJOR\|MINOR\|PATCH\)[[:space:]]*//p' \
    client/storeclient.h | paste -sd.)
release=$(sed -n 's/^#define STORESD_VERSION[[:space:]]*"\(.*\)"/\1/p' \
    daemon/daemon.h)
expect "--version" 0 --version
check "... prints storectl $release (libstoreclient $version)" \
    out_is "storectl $release (libstoreclient $version)"$'\n'
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
expect "--help lists the new commands" 0 --help
for c in 'batch STORE' 'mget STORE KEY\.\.\.' 'missing STORE \[KEY\.\.\.\]' \
    'count STORE' 'scan STORE \[--json\]'; do
	check "... $c" out_has "^  $c"
done
check "... and their options" out_has '^      --if-equals OLD'
check "... lines of at most 79 columns (but the socket path's)" \
    sh -c "! grep -v 'default, here' '$T/out' | awk 'length > 79' |
    grep -q ."
expect "help put" 0 help put
check "... documents --if-absent" out_has ' \[--if-absent\]'
check "... and exit 1 for COND_FAILED" out_has '^exit 1: the condition'
expect "help batch" 0 help batch
check "... documents exit 1 and 3, and no exit 2 of its own" \
    sh -c "grep -q '^exit 1: ' '$T/out' && grep -q '^exit 3: ' '$T/out' &&
    ! grep -q '^exit 2: ' '$T/out'"
expect "help mget" 0 help mget
check "... documents exit 1" out_has '^exit 1: at least one is absent'
expect "help missing" 0 help missing
check "... documents exit 0" out_has '^exit 0: whether or not'
expect "help scan" 0 help scan
check "... the usage, wrapped" out_has '^  *\[--prefix P\] \[--start K\]'

# --------------------------------------------------------- watch, rev

expect "rev: a repo with no env yet" 0 -r w1 rev hist
check "... is 0" out_is $'0\n'
expect "put a" 0 -r w1 put hist a 1
expect "put b" 0 -r w1 put hist b 'x y'
expect "del a" 0 -r w1 del hist a
expect "rev" 0 -r w1 rev hist
check "... counts the three writes" out_is $'3\n'
expect "watch --from 1 --count 3" 0 -r w1 watch hist --from 1 --count 3
check "... prints REV put KEY VALUE and REV del KEY" \
    out_lines '1 put a 1' '2 put b x y' '3 del a'
expect "watch KEY --from 1 --count 2" 0 -r w1 watch hist a --from 1 --count 2
check "... only that key's changes" out_lines '1 put a 1' '3 del a'
expect "watch --prefix b --from 1 --count 1" 0 \
    -r w1 watch hist --prefix b --from 1 --count 1
check "... only the prefix's" out_lines '2 put b x y'
expect "watch -x" 0 -r w1 watch hist -x --from 2 --count 1
check "... hex keys and values" out_lines '2 put 62 782079'
expect "watch --json" 0 -r w1 watch hist --json --from 2 --count 2
check "... one object a line" out_lines \
    '{"rev":2,"op":"put","key":"b","value":"x y"}' \
    '{"rev":3,"op":"del","key":"a"}'
"$CTL" -r w1 watch hist --count 2 >"$T/live.out" 2>"$T/live.err" &
watcher=$!
# The watch starts after the current revision: wait until it is open.
i=0
while [ "$i" -lt 100 ]; do
	ctl stats
	grep -q '^  watches  *1$' "$T/out" && break
	sleep 0.1
	i=$((i + 1))
done
expect "put c while watching" 0 -r w1 put hist c 4
expect "del b while watching" 0 -r w1 del hist b
wait "$watcher"
check "live watch: exits 0 after --count 2" test "$?" -eq 0
check "... with the live changes" cmp -s "$T/live.out" \
    <(printf '4 put c 4\n5 del b\n')
expect "watch a store without history --from 1" 3 watch refs --from 1
check "... COMPACTED on stderr" err_has '^storectl: COMPACTED: '
expect "watch KEY --prefix P" 2 -r w1 watch hist a --prefix b
check "... is a usage error" err_has 'KEY or --prefix'
expect "watch --count 0" 2 -r w1 watch hist --count 0
expect "watch a max_dbs = 0 store" 3 watch adopted
check "... BAD_REQUEST" err_has BAD_REQUEST

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

shlib_done
