#!/usr/bin/env bash
#
# repos.sh: a repository's life through storectl, against two real
# storesd daemons: repos, create (and create = explicit), drop, restore,
# and moving a repo from one daemon to the other through a pipe.
#
# Run from the top of the tree: BUILD=build tests/repos.sh

set -u
BUILD=${BUILD:-build}
. tests/shlib.sh

for tool in mdb_dump python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "repos.sh: $tool is missing (apt-get install lmdb-utils" \
		    "python3)" >&2
		exit 2
	fi
done

conf() {
	mkdir -p "$1"
	cat >"$1/storesd.conf" <<CONF
[daemon]
idle_close = 1h

[store refs]
map_size = 16MiB
dbs = refs

[store nodes]
map_size = 64MiB
max_dbs = 2
dbs = nodes, meta

[store strict]
map_size = 16MiB
dbs = strict
create = explicit

[store small]
map_size = 1MiB
max_dbs = 2
dbs = nodes, meta
CONF
}

conf "$T/a"
conf "$T/b"
start_daemon "$T/a" || exit 1
pid_a=$pid waiter_a=$waiter
start_daemon "$T/b" || exit 1
pid_b=$pid waiter_b=$waiter
A=$T/a/sock
B=$T/b/sock
export STORESD_SOCKET=$A

# ----------------------------------------------------------------- repos

expect "repos: none yet, exit 1" 1 repos
check "... prints nothing" out_lines

expect "put -r alpha refs" 0 -r alpha put refs k v
expect "put -r alpha/x nodes" 0 -r alpha/x put nodes n1 one
expect "put -r beta refs" 0 -r beta put refs k w
expect "repos lists every env" 0 repos
check "... sorted, repo store size state" test "$(cut -f1,2,4 "$T/out")" \
    = "$(printf 'alpha\trefs\topen\nalpha/x\tnodes\topen\nbeta\trefs\topen')"
check "... the size is the data file's" test "$(awk -F'\t' \
    '$1 == "beta" { print $3 }' "$T/out")" -eq \
    "$(stat -c %s "$T/a/data/beta/@refs/data.mdb")"
expect "repos --prefix alpha" 0 repos --prefix alpha
check "... only alpha's" test "$(cut -f1 "$T/out" | tr '\n' ' ')" = \
    "alpha alpha/x "
expect "repos STORE" 0 repos nodes
check "... only that store's" test "$(cut -f1,2 "$T/out")" = \
    "$(printf 'alpha/x\tnodes')"
expect "repos --json" 0 repos --json --prefix beta
check "... is JSON with repo, store, size, open" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
e = d["repos"]
assert len(e) == 1 and e[0]["repo"] == "beta" and e[0]["store"] == "refs"
assert e[0]["size"] > 0 and e[0]["open"] is True' "$T/out"
expect "repos of an unknown store" 3 repos nosuch
check "... UNKNOWN_STORE" err_has UNKNOWN_STORE

# ------------------------------------------------- create, create = explicit

expect "a write without env in a create = explicit store" 3 \
    -r s1 put strict k v
check "... is NO_REPO" err_has NO_REPO
check "... and says to create it" err_has 'create'
check "... and made nothing" test ! -e "$T/a/data/s1/@strict"
expect "create -r s1 strict" 0 -r s1 create strict
check "... made the env" test -f "$T/a/data/s1/@strict/data.mdb"
expect "now the write succeeds" 0 -r s1 put strict k v
expect "create it again: EXISTS" 3 -r s1 create strict
check "... EXISTS" err_has EXISTS
expect "create -r all (every store)" 0 -r all create
expect "... lists its four envs" 0 repos --prefix all
check "... refs nodes small strict" test "$(cut -f2 "$T/out" | tr '\n' ' ')" \
    = "nodes refs small strict "
expect "they are empty" 0 -r all count nodes
check "... count 0" out_is $'0\n'
expect "a read still creates nothing" 1 -r s2 get strict k
check "... NOT_FOUND, not NO_REPO" err_has NOT_FOUND

# ------------------------------------------------------------------ drop

expect "drop -r beta refs" 0 -r beta drop refs
check "... its directory is gone" test ! -e "$T/a/data/beta"
expect "... get: NOT_FOUND" 1 -r beta get refs k
expect "drop it again: exit 1" 1 -r beta drop refs
check "... NOT_FOUND" err_has NOT_FOUND
expect "drop -r alpha (every store)" 0 -r alpha drop
check "... alpha's env is gone, alpha/x's stays" test ! -e \
    "$T/a/data/alpha/@refs" -a -f "$T/a/data/alpha/x/@nodes/data.mdb"
expect "drop -r all" 0 -r all drop
check "... the repo directory is pruned" test ! -e "$T/a/data/all"
expect "@tmp holds nothing after drops" 0 repos
check "... (empty)" test -z "$(ls -A "$T/a/data/@tmp")"
expect "drop a repo that never was: exit 1" 1 -r never drop

# --------------------------------------------------------------- restore

expect "fill alpha/x" 0 -r alpha/x put nodes n2 two
# Over the small store's map_size of 1 MiB.
head -c 1500000 /dev/urandom >"$T/bigval"
expect "a 1.5 MB value" 0 -r alpha/x put nodes big - <"$T/bigval"
expect "snapshot alpha/x nodes" 0 -r alpha/x snapshot nodes "$T/snap"
# As documented: mdb_dump -n -a prints every db of a snapshot (issue 14,
# edge 5: -n alone prints only the main db, the names of the dbs).
mdb_dump -n -a -p "$T/snap" >"$T/dump" 2>"$T/err"
check "mdb_dump -n -a -p SNAPSHOT shows the data" grep -q '^ two$' "$T/dump"
mdb_dump -n -p "$T/snap" >"$T/dump" 2>"$T/err"
check "... which -n alone does not" not_grep '^ two$' "$T/dump"
expect "restore it as copy" 0 -r copy restore nodes "$T/snap"
expect "... its data" 0 -r copy get nodes n1
check "... n1 = one" out_is one
expect "restore again: EXISTS" 3 -r copy restore nodes "$T/snap"
check "... EXISTS, says --replace" err_has 'replace'
expect "-r alpha/x put n1 changed" 0 -r alpha/x put nodes n1 changed
expect "snapshot again" 0 -r alpha/x snapshot nodes "$T/snap2"
expect "restore --replace" 0 -r copy restore --replace nodes "$T/snap2"
expect "... the new data" 0 -r copy get nodes n1
check "... n1 = changed" out_is changed
expect "restore from stdin" 0 -r stdin restore nodes - <"$T/snap"
expect "... its data" 0 -r stdin get nodes n2
check "... n2 = two" out_is two
printf 'not an lmdb file at all' >"$T/junk"
expect "restore a file that is no env" 3 -r junk restore nodes "$T/junk"
check "... BAD_REQUEST: not a sound LMDB env" err_has 'LMDB'
check "... and nothing was installed" test ! -e "$T/a/data/junk"
expect "restore an empty input" 3 -r junk restore nodes - </dev/null
expect "restore a nodes env into refs (other dbs)" 3 -r rx restore refs \
    "$T/snap"
check "... names the db refs does not declare" err_has "db 'meta'\|db 'nodes'"
expect "restore over the store's map_size" 3 -r rx restore small "$T/snap"
check "... says map_size" err_has map_size
check "... @tmp is empty after refusals" test -z "$(ls -A "$T/a/data/@tmp")"

# ------------------------------------------------------------- progress

# On a terminal (script(1) gives storectl one), restore and snapshot show
# the bytes moved and the rate, then a summary line; elsewhere, nothing.
if command -v script >/dev/null; then
	script -qec "'$CTL' -r prog restore nodes '$T/snap' 2>&1" /dev/null \
	    >"$T/tty" </dev/null
	check "restore on a terminal shows progress and a summary" grep -q \
	    'restored [0-9.]* MiB in [0-9.]* s ([0-9.]* MiB/s)' "$T/tty"
	expect "... and restored it" 0 -r prog get nodes n2
	script -qec "'$CTL' -r prog snapshot nodes '$T/prog.snap' 2>&1" \
	    /dev/null >"$T/tty" </dev/null
	check "snapshot on a terminal shows progress and a summary" grep -q \
	    'snapshot [0-9.]* MiB in' "$T/tty"
	check "... and wrote the same copy" test "$(stat -c %s \
	    "$T/prog.snap")" -gt 1500000
fi
expect "restore not on a terminal prints nothing" 0 -r prog2 restore nodes \
    "$T/snap"
check "... nothing on stderr" test ! -s "$T/err"

# ------------------------------------------------ move between daemons

expect "B has no repo mv yet" 1 -s "$B" repos
# As README says, over ssh in real life: a snapshot streamed to stdout
# straight into a restore from stdin.
"$CTL" -s "$A" -r alpha/x snapshot nodes - 2>"$T/err.a" |
    "$CTL" -s "$B" -r alpha/x restore nodes - 2>"$T/err"
check "move A -> B: snapshot - | restore -" test "$?" -eq 0 -a ! -s "$T/err.a"
expect "B lists it" 0 -s "$B" repos
check "... alpha/x nodes" test "$(cut -f1,2 "$T/out")" = \
    "$(printf 'alpha/x\tnodes')"
expect "B reads its data" 0 -s "$B" -r alpha/x get nodes n1
check "... n1 = changed" out_is changed
"$CTL" -s "$A" -r alpha/x scan nodes >"$T/scan.a" 2>"$T/err"
"$CTL" -s "$B" -r alpha/x scan nodes >"$T/scan.b" 2>"$T/err"
check "every entry made it" cmp -s "$T/scan.a" "$T/scan.b"
expect "B accepts writes to it" 0 -s "$B" -r alpha/x put nodes n3 three

# ------------------------------------------------ stats --prometheus

# The Prometheus text format (issue 14, edge 12), checked by promtool when
# Debian's is installed, and always against the format's rules: a family's
# # HELP and # TYPE once, before all its samples, which are contiguous; a
# valid name, escaped label values, a number; counters end in _total; no
# sample twice.
expect "stats --prometheus" 0 stats --prometheus
cp "$T/out" "$T/prom"
if command -v promtool >/dev/null; then
	check "... promtool check metrics accepts it" sh -c \
	    "promtool check metrics <'$T/prom'"
fi
check "... follows the text format's rules" python3 - "$T/prom" <<'PY'
import re, sys
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r'^(%s)(\{(?:%s)(?:,%s)*\})? ([0-9]+)$' % (name, label, label))
help_, type_, seen, done, cur = {}, {}, set(), set(), None
lines = open(sys.argv[1]).read().split('\n')
assert lines[-1] == '', 'ends with a newline'
for l in lines[:-1]:
    if l.startswith('# HELP '):
        n = l.split(' ')[2]
        assert n not in help_ and n not in done, 'HELP twice: ' + n
        help_[n] = 1
        continue
    if l.startswith('# TYPE '):
        _, _, n, t = l.split(' ')
        assert n in help_ and n not in type_, 'TYPE: ' + n
        assert t in ('counter', 'gauge'), t
        assert (t == 'counter') == n.endswith('_total'), n
        type_[n] = t
        continue
    m = sample.match(l)
    assert m, 'not a sample: ' + l
    n = m.group(1)
    assert n in type_, 'no TYPE before ' + n
    if cur != n:
        assert n not in done, 'family split: ' + n
        if cur: done.add(cur)
        cur = n
    assert (n, m.group(2)) not in seen, 'twice: ' + l
    seen.add((n, m.group(2)))
assert 'storesd_uptime_s' in type_ and 'storesd_ops_get_total' in type_
assert any(n.startswith('storesd_env_') for n in type_)
assert any(n.startswith('storesd_db_') for n in type_)
PY
check "... env samples carry repo and store" grep -q \
    '^storesd_env_map_size{repo="copy",store="nodes"} [0-9]' "$T/prom"
check "... db samples carry the db too" grep -q \
    '^storesd_db_entries{repo="copy",store="nodes",db="nodes"} ' "$T/prom"
expect "stats --prometheus --json" 2 stats --prometheus --json

# ------------------------------------------- who may not use the socket

# A user the socket's mode keeps out is told so, with the group that may
# use it (issue 14, edge 7), not asked whether storesd runs.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod o+x "$T" "$T/a"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$CTL" -s "$A" ping >"$T/out" 2>"$T/err"
	rc=$?
	chmod o-x "$T" "$T/a"
	check "a user the socket's mode keeps out: exit 4" test "$rc" -eq 4
	check "... is told this user may not use it" err_has \
	    'uid 65534) may not use it'
	check "... and which group may" err_has "group $(stat -c %G "$A")"
	check "... not asked whether storesd runs" not_grep 'running' \
	    "$T/err"
	# Without STORESD_SOCKET a user's own socket is the default; when
	# neither it nor the system's exists, the error names it (issue 14,
	# edge 1; the fallback to /run/storesd/storesd.sock when only that
	# one exists is in client/client.c, default_socket()).
	if [ ! -e /run/storesd/storesd.sock ]; then
		env -u STORESD_SOCKET XDG_RUNTIME_DIR="$T/nowhere" setpriv \
		    --reuid=65534 --regid=65534 --clear-groups "$CTL" ping \
		    >"$T/out" 2>"$T/err"
		check "no socket at all: the error names the user's" err_has \
		    "$T/nowhere/storesd/storesd.sock"
	fi
fi

# ------------------------------------------------------ bash completion

# ctl/storectl.bash (issue 14, edge 13): commands and options from
# storectl itself, stores and repos from the daemon.
complete_words() {
	bash -c '. ctl/storectl.bash
	COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
	_storectl
	printf "%s\n" "${COMPREPLY[@]}" | sort' complete "$@" >"$T/out" \
	    2>"$T/err"
}
complete_words "$CTL" re
check "completion: commands" out_lines repos restore rev
complete_words "$CTL" scan nodes --a
check "completion: a command's options" out_lines --after
complete_words "$CTL" get no
check "completion: stores from the daemon" out_lines nodes
complete_words "$CTL" -r alpha/
check "completion: repos from the daemon" out_lines alpha/x
complete_words "$CTL" -s "$B" -r al
check "completion: -s picks the daemon asked" out_lines alpha/x
complete_words "$CTL" help dr
check "completion: help COMMAND" out_lines drop

# ------------------------------------------------- make run ARGS=...

# The quick start's way to run storesd beside the system one: a private
# socket and data dir through ARGS (issue 14, edge 11).  Its pid is in
# the data dir's lock file.
if [ -f Makefile ] && command -v make >/dev/null; then
	mkdir -p "$T/run"
	make -s run BUILD="$BUILD" ARGS="-s $T/run/sock -d $T/run/data" \
	    >"$T/run/log" 2>&1 &
	make_pid=$!
	i=0
	until "$CTL" -s "$T/run/sock" ping >/dev/null 2>&1 ||
	    ! kill -0 "$make_pid" 2>/dev/null || [ "$i" -ge 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	expect "make run ARGS='-s SOCK -d DIR' serves on SOCK" 0 -s \
	    "$T/run/sock" ping
	check "... with its envs in DIR" test -f "$T/run/data/@storesd.lock"
	run_pid=$(cat "$T/run/data/@storesd.lock" 2>/dev/null)
	[ -n "$run_pid" ] && kill -TERM "$run_pid"
	wait "$make_pid"
	check "... and stops cleanly on SIGTERM" grep -q 'storesd stopped' \
	    "$T/run/log"
fi

# ----------------------------------------- debris left by a crash

stop_daemon "storesd A stops cleanly" "$T/a/storesd.log" "$pid_a" "$waiter_a"
mkdir -p "$T/a/data/@tmp/drop.crash/env"
printf junk >"$T/a/data/@tmp/drop.crash/env/data.mdb"
start_daemon "$T/a" || exit 1
pid_a=$pid waiter_a=$waiter
check "a drop cut short by a crash is cleaned at start" test ! -e \
    "$T/a/data/@tmp/drop.crash"
expect "... and the daemon serves" 0 -r copy get nodes n1

stop_daemon "storesd A stops cleanly" "$T/a/storesd.log" "$pid_a" "$waiter_a"
stop_daemon "storesd B stops cleanly" "$T/b/storesd.log" "$pid_b" "$waiter_b"
shlib_done
