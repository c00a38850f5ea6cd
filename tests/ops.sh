#!/usr/bin/env bash
#
# ops.sh: what an operator sees of storesd: its log lines (dated, or
# not under journald), the MAP_FULL warning, --check-config listing
# every error of a file; and the knobs of restores and drops
# (restore_timeout, drop_wait), with restores from stalled clients
# holding no thread that writes need.
#
# Run from the top of the tree: BUILD=build tests/ops.sh
# Prints a PASS or FAIL line per check and exits 1 if any failed.

set -u

BUILD=${BUILD:-build}
. tests/shlib.sh

# ------------------------------------------------------ --check-config

# Three different errors, in two sections: all three are reported, each
# with FILE:LINE, in the order of their lines.
cat >"$T/bad.conf" <<'EOF'
[daemon]
io_threads = lots
[store refs]
map_size = 1GiB
colour = blue
[store nodes]
map_size = 16GiB
sync = sometimes
EOF
"$STORESD" --check-config -c "$T/bad.conf" >"$T/out" 2>"$T/err"
rc=$?
check "--check-config: a file with 3 errors exits 1" test "$rc" -eq 1
printf '%s\n' \
    "$T/bad.conf:2: io_threads = 'lots' is not a whole number; use 1 to 64" \
    "$T/bad.conf:5: unknown key 'colour' in [store refs]; known keys: map_size, max_dbs, dbs, sync, path, sync_interval, readers, writers, create, history" \
    "$T/bad.conf:8: sync = 'sometimes' is not known; write sync = full, nometa or none" \
    >"$T/want"
check "... and names all three, FILE:LINE each, in order" cmp -s "$T/want" \
    "$T/err"
check "... on stderr only" test ! -s "$T/out"
: >"$T/err"

printf '[store refs]\nmap_size = 1GiB\n' >"$T/good.conf"
"$STORESD" --check-config -c "$T/good.conf" >"$T/out" 2>"$T/err"
check "--check-config: a good file exits 0" test $? -eq 0

# ---------------------------------------------------------------- logs

TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

# Not under journald (stderr is a file): each line is dated, to the
# millisecond, and says its level in a word.  A tiny store, to fill.
P=$T/plain
mkdir "$P"
printf '[store tiny]\nmap_size = 1MiB\n[store hist]\nmap_size = 1MiB\nhistory = 64MiB\n' \
    >"$P/storesd.conf"
start_daemon "$P" || exit 1
check "plain stderr: the ready line is dated (ISO 8601, ms, UTC)" \
    grep -Eq "^$TS storesd: notice: storesd .* ready: " "$P/storesd.log"
check "... as is every line" sh -c "! grep -Evq '^$TS storesd: ' \
    '$P/storesd.log'"

# MAP_FULL: the writes that fail each get their error, but the log says
# it once (a minute), at warning, with the fill level and what to do.
export STORESD_SOCKET=$P/sock
value=$(head -c 60000 /dev/zero | tr '\0' x)
i=0
rc=0
while [ "$rc" -eq 0 ] && [ "$i" -lt 100 ]; do
	ctl put tiny "k$i" "$value"
	i=$((i + 1))
done
check "a 1MiB map fills up: put fails" test "$rc" -ne 0
check "... with MAP_FULL" err_has 'MAP_FULL'
nfull=0
for i in 1 2 3 4 5; do
	ctl put tiny "more$i" "$value"
	[ "$rc" -ne 0 ] && err_has MAP_FULL && nfull=$((nfull + 1))
done
check "... and 5 more puts fail with MAP_FULL too" test "$nfull" -eq 5
ctl ping	# after the failures: their log lines are written
check "the log warns of MAP_FULL once, not per failed write" \
    test "$(grep -c 'MAP_FULL' "$P/storesd.log")" -eq 1
grep 'MAP_FULL' "$P/storesd.log" >"$T/full"
check "... at warning" grep -Eq "^$TS storesd: warning: warn_full: " \
    "$T/full"
check "... naming the env" grep -q 'store tiny of repo default' "$T/full"
check "... with the fill level" grep -Eq \
    ': [0-9]+ of 256 pages used \([0-9]+%\), map_size 1MiB; ' "$T/full"
check "... and what to do" grep -q \
    'raise map_size in \[store tiny\] and reload storesd (SIGHUP)' "$T/full"
# History never fails a write, nor warns of MAP_FULL for one: a write
# with no room for its history is made without, and the log says that
# history was dropped, not that the map is full.
value=$(head -c 30000 /dev/zero | tr '\0' x)
i=0
rc=0
until [ "$rc" -ne 0 ] || [ "$i" -ge 100 ] ||
    grep -q 'store hist of repo default: .*history dropped' \
    "$P/storesd.log"; do
	ctl put hist "k$i" "$value"
	i=$((i + 1))
done
dropped='store hist of repo default: no room for history beside a write'
check "history fills a 1MiB map: a write is made without it" sh -c \
    "[ $rc -eq 0 ] && grep -Eq '^$TS storesd: warning: $dropped: history \
dropped' '$P/storesd.log'"
check "... and no MAP_FULL is logged for it" sh -c \
    "! grep MAP_FULL '$P/storesd.log' | grep -q 'store hist'"
# A reload of a file with two errors logs each, then refuses it whole.
cp "$P/storesd.conf" "$P/good.conf"
printf '[store tiny]\nmap_size = 1MiB\nsync = never\nfoo = 1\n' \
    >"$P/storesd.conf"
kill -HUP "$pid"
i=0
until grep -q 'reload_once: 2 errors; nothing changed' "$P/storesd.log" ||
    [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "a reload of a file with 2 errors logs both, FILE:LINE each" sh -c \
    "grep -q 'error: reload_once: $P/storesd.conf:3: sync = ' \
    '$P/storesd.log' && grep -q \
    'error: reload_once: $P/storesd.conf:4: unknown key' '$P/storesd.log'"
check "... then says it keeps the configuration it runs on" grep -q \
    'reload_once: 2 errors; nothing changed: storesd keeps' "$P/storesd.log"
cp "$P/good.conf" "$P/storesd.conf"
stop_daemon "plain: storesd stops cleanly" "$P/storesd.log"
unset STORESD_SOCKET

# Under journald ($JOURNAL_STREAM names stderr's device and inode):
# journald dates each line itself, and reads "<N>" as the level.
J=$T/journal
mkdir "$J"
printf '[store refs]\nmap_size = 1MiB\n' >"$J/storesd.conf"
: >"$J/storesd.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$J/storesd.log") start_daemon "$J" ||
    exit 1
check "journald: the ready line is '<5>' and no date" \
    grep -q '^<5>storesd .* ready: ' "$J/storesd.log"
check "... as is every line" sh -c "! grep -vq '^<[0-7]>[a-z]' \
    '$J/storesd.log'"
stop_daemon "journald: storesd stops cleanly" "$J/storesd.log"

# $JOURNAL_STREAM inherited, but stderr elsewhere: not journald.
O=$T/other
mkdir "$O"
cp "$J/storesd.conf" "$O/"
JOURNAL_STREAM=$(stat -c '%d:%i' "$J/storesd.log") start_daemon "$O" ||
    exit 1
check "JOURNAL_STREAM of another file: lines are dated" \
    grep -Eq "^$TS storesd: notice: storesd .* ready: " "$O/storesd.log"
stop_daemon "other: storesd stops cleanly" "$O/storesd.log"

# ------------------------------------------------------- restore_timeout

# A restore from a pipe whose writer sends nothing fails once
# restore_timeout passes, with the error the docs give, and a reload
# changes it for the next restore.  The bounds are generous: the point
# is "about 1 s, not the default 30 s", never a performance figure.
R=$T/restore
mkdir "$R"
printf '%s\n' '[daemon]' 'restore_timeout = 1s' 'snapshot_max_time = 3s' \
    '[store refs]' 'map_size = 1MiB' >"$R/storesd.conf"
start_daemon "$R" || exit 1
export STORESD_SOCKET=$R/sock
mkfifo "$R/pipe"
exec 3<>"$R/pipe"	# a writer that never writes, and never closes
ctl_stalled() {
	timeout 25 "$CTL" -r stalled restore refs - <"$R/pipe" 3>&- \
	    >"$T/out" 2>"$T/err"
	rc=$?
}
ctl_stalled
check "restore_timeout = 1s: a restore from a stalled pipe fails" \
    test "$rc" -ne 0 -a "$rc" -ne 124
check "... with BAD_REQUEST, saying so" err_has \
    'BAD_REQUEST: the snapshot stopped coming: nothing in 1s (restore_timeout) after 0 bytes'
sed -i 's/^restore_timeout = 1s$/restore_timeout = 2s/' "$R/storesd.conf"
kill -HUP "$pid"
i=0
until grep -q 'configuration 2 in use' "$R/storesd.log" ||
    [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
ctl_stalled
check "... and after a reload to 2s, the next one says 2s" err_has \
    'nothing in 2s (restore_timeout)'
# A writer that trickles a byte every 0.2 s never stalls restore_timeout
# (2s), but the whole restore is bounded by snapshot_max_time (3s).
(i=0; while [ "$i" -lt 100 ]; do printf x; sleep 0.2; i=$((i + 1)); done) |
    timeout 25 "$CTL" -r trickle restore refs - >"$T/out" 2>"$T/err"
rc=$?
check "a restore that trickles is cut off by snapshot_max_time" \
    test "$rc" -ne 0 -a "$rc" -ne 124
check "... with BAD_REQUEST, saying so" err_has \
    'the restore was not done within 3s (snapshot_max_time)'
exec 3>&-
unset STORESD_SOCKET
stop_daemon "restore: storesd stops cleanly" "$R/storesd.log"

# ------------------------------------------- a stalled restore holds...

# ...no thread that others share: restores whose client sends nothing,
# as many as there are writer threads, while a durable put to another
# store must still complete, long before restore_timeout (60 s) would
# free a thread.  (It hung until then when restores read their
# descriptor on the writers' pool.)
S=$T/stall
mkdir "$S"
cat >"$S/storesd.conf" <<'EOF'
[daemon]
writer_threads = 2
restore_timeout = 60s
[store refs]
map_size = 1MiB
[store other]
map_size = 1MiB
sync = full
EOF
start_daemon "$S" || exit 1
export STORESD_SOCKET=$S/sock
mkfifo "$S/p1" "$S/p2"
exec 4<>"$S/p1" 5<>"$S/p2"	# writers that never write
"$CTL" -r r1 restore refs - <"$S/p1" >"$S/r1.out" 2>"$S/r1.err" 4>&- 5>&- &
r1=$!
"$CTL" -r r2 restore refs - <"$S/p2" >"$S/r2.out" 2>"$S/r2.err" 4>&- 5>&- &
r2=$!
# Both restores are under way once storesd made their directories.
i=0
until [ "$(ls -d "$S"/data/@tmp/restore.* 2>/dev/null | wc -l)" -eq 2 ] ||
    [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "two restores from stalled pipes are under way" test "$i" -lt 300
timeout 30 "$CTL" put other k v >"$T/out" 2>"$T/err"
rc=$?
check "... a durable put to another store completes meanwhile" \
    test "$rc" -eq 0
ctl get other k
check "... and is there" out_is v
# EOF: each restore ends at once, refused as empty.
exec 4>&- 5>&-
wait "$r1"
check "the first restore, its pipe closed, fails" test $? -ne 0
grep -q 'the snapshot is empty' "$S/r1.err"
check "... as empty" test $? -eq 0
wait "$r2"
check "the second too" test $? -ne 0

# A stop does not wait for a stalled restore: it is cut off, BUSY.
mkfifo "$S/p3"
exec 4<>"$S/p3"
"$CTL" -r r3 restore refs - <"$S/p3" >"$S/r3.out" 2>"$S/r3.err" 4>&- &
r3=$!
i=0
until [ "$(ls -d "$S"/data/@tmp/restore.* 2>/dev/null | wc -l)" -eq 1 ] ||
    [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "a third restore from a stalled pipe is under way" test "$i" -lt 300
unset STORESD_SOCKET
stop_daemon "stall: storesd stops at once, not after restore_timeout" \
    "$S/storesd.log"
wait "$r3"
check "... the restore is cut off" test $? -ne 0
grep -q 'BUSY: storesd is stopping: the restore was cut off after 0 bytes' \
    "$S/r3.err"
check "... with BUSY, saying why" test $? -eq 0
exec 4>&-

# ------------------------------------- a restore outlives its config

# A restore holds what it was resolved against (its store, drop_wait)
# while it waits on its client: reloads meanwhile replace and free that
# configuration, and the restore must still install into the right env.
# (It read them from the freed configuration; ASan saw it.)
O=$T/outlive
mkdir "$O"
printf '[daemon]\nrestore_timeout = 60s\n[store refs]\nmap_size = 1MiB\n' \
    >"$O/storesd.conf"
start_daemon "$O" || exit 1
export STORESD_SOCKET=$O/sock
"$CTL" -r src put refs k v
"$CTL" -r src snapshot refs "$O/snap"
check "a snapshot to restore from" test -s "$O/snap"
mkfifo "$O/pipe"
exec 6<>"$O/pipe"	# the client's writer, silent for now
"$CTL" -r fresh restore refs - <"$O/pipe" >"$O/r.out" 2>"$T/err" 6>&- &
r=$!
i=0
until [ "$(ls -d "$O"/data/@tmp/restore.* 2>/dev/null | wc -l)" -eq 1 ] ||
    [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "a restore from a silent pipe is under way" test "$i" -lt 300
# Each reload frees the configurations before it that nothing holds,
# once every loop has turned (a ping makes sure it has).
for n in 2 3 4; do
	kill -HUP "$pid"
	i=0
	until grep -q "configuration $n in use" "$O/storesd.log" ||
	    [ "$i" -ge 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	"$CTL" ping >/dev/null 6>&-
done
check "... through three reloads" grep -q 'configuration 4 in use' \
    "$O/storesd.log"
cat "$O/snap" >&6
exec 6>&-
wait "$r"
check "... then the snapshot comes, and the restore succeeds" test $? -eq 0
ctl -r fresh get refs k
check "... into the env it named" out_is v
unset STORESD_SOCKET
stop_daemon "outlive: storesd stops cleanly" "$O/storesd.log"

# ------------------------------------------------------------- drop_wait

# A snapshot into a pipe nobody reads holds its env.  With drop_wait = 0
# a drop is BUSY at once; after a reload to 30s, a drop waits, and
# succeeds once the snapshot is cut off (its reader gone).
W=$T/dropwait
mkdir "$W"
printf '[daemon]\ndrop_wait = 0\n[store refs]\nmap_size = 16MiB\n' \
    >"$W/storesd.conf"
start_daemon "$W" || exit 1
export STORESD_SOCKET=$W/sock
value=$(head -c 60000 /dev/zero | tr '\0' x)
for i in $(seq 20); do
	"$CTL" put refs "k$i" "$value" || break
done
mkfifo "$W/pipe"
exec 6<>"$W/pipe"	# a reader that never reads: the pipe fills
"$CTL" snapshot refs - >"$W/pipe" 2>"$W/snap.err" 6>&- &
snap=$!
# The snapshot holds the env once storectl live shows it in flight.
i=0
until "$CTL" live refs 2>/dev/null | awk -F '\t' '$4 > 0 { f = 1 }
    END { exit !f }' || [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "a snapshot into a full pipe holds the env" test "$i" -lt 300
expect "drop_wait = 0: a drop of the env in use is BUSY" 3 drop refs
check "... saying so" err_has \
    'BUSY: the env of store refs of repo default is in use'
sed -i 's/^drop_wait = 0$/drop_wait = 30s/' "$W/storesd.conf"
kill -HUP "$pid"
i=0
until grep -q 'configuration 2 in use' "$W/storesd.log" ||
    [ "$i" -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
"$CTL" drop refs >"$W/drop.out" 2>"$W/drop.err" 6>&- &
drop=$!
# Past the 2s default: the drop succeeds below only by waiting longer
# than that.  (Were it late, it would pass without showing as much.)
sleep 3
exec 6>&-	# the snapshot's reader goes: it fails, and lets go
wait "$snap"
check "... the snapshot is cut off" test $? -ne 0
wait "$drop"
check "drop_wait = 30s: the drop waits, and drops the env" test $? -eq 0
count_refs() { "$CTL" repos refs 2>/dev/null | wc -l; }
check "... which is gone" test "$(count_refs)" -eq 0
unset STORESD_SOCKET
stop_daemon "dropwait: storesd stops cleanly" "$W/storesd.log"

shlib_done
