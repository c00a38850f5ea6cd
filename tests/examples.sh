#!/usr/bin/env bash
#
# examples.sh: every shell and configuration example of README.md and the
# man pages runs as written, against a real storesd on its built-in
# configuration (a temporary socket and data dir, STORESD_SOCKET set).
#
#	BUILD=build tests/examples.sh [FILE...]   (default: README.md man/*)
#
# The convention the documents follow (the C programs marked "example:
# async" are tests/example.sh's, built and run by check_async):
#
#   README.md	a ```sh block is a shell example, run with bash -e; an
#		```ini block is a configuration, checked with storesd
#		--check-config.  Other code (synopses, paths) is in ```text
#		or indented blocks, which must not look like a command.
#   man pages	the .EX block after a line
#		  .\" example: sh	is a shell example
#		  .\" example: conf	is a configuration
#		roff's escapes are undone first.  An unmarked .EX block must
#		not look like a command.
#
# A shell example whose lines start with "$ " is a session: each command
# (with the lines that continue it) runs on its own and must exit 0, and
# the lines after it up to the next "$ ", when there are any, are its
# exact output.  Otherwise the whole block is one script.
#
# An example that cannot run here (systemctl, a second host, files of
# the host) is marked instead, with the reason, and counted as skipped:
#   README.md	<!-- example: skip REASON -->	before the block
#   man pages	.\" example: skip REASON	before the .EX
#
# Each file's examples run in order, sharing one storesd started for that
# file and one working directory, in which build/ is $BUILD: the README's
# build/storectl is this tree's, and storectl and storesd are first in
# PATH.  Prints a PASS, FAIL or SKIP line per example; exits 1 if any
# failed.

set -u

BUILD=${BUILD:-build}
. tests/shlib.sh

TOP=$(pwd -P)
ABS_BUILD=$(cd "$BUILD" && pwd -P)
skips=0

# Commands a shell example would start with: such a block must be marked.
CMD_RE='^(\$ |storectl|storesd|build/|make( |$)|systemctl|systemd-|cc |'
CMD_RE=$CMD_RE'printf|mdb_|ldconfig|usermod|STORESD_SOCKET=|kill )'

# cut FILE DIR: writes each example of FILE as DIR/N.body, with DIR/N.meta
# holding "LINE KIND REASON" (KIND: sh, conf, skip or unmarked).
cut_examples() {
	case "$1" in
	*.md)
		awk -v dir="$2" '
		function start(kind) {
			n++; body = dir "/" n ".body"; printf "" > body
			if (skip != "") { kind = "skip" }
			printf "%d %s %s\n", NR, kind, skip > (dir "/" n ".meta")
			close(dir "/" n ".meta"); skip = ""; on = 1
		}
		/^<!-- example: skip/ {
			skip = $0
			sub(/^<!-- example: skip */, "", skip)
			sub(/ *-->$/, "", skip)
			if (skip == "") skip = "-"
			next
		}
		!fence && /^```sh$/ { fence = 1; start("sh"); next }
		!fence && /^```ini$/ { fence = 1; start("conf"); next }
		!fence && /^```/ { fence = 1; on = 0; skip = ""; next }
		fence && /^```$/ { fence = 0; if (on) close(body); on = 0
			prev = ""; next }
		fence { if (on) print > body; next }
		# An indented block after a blank line: not marked.
		prev == "" && /^    [^ *-]/ {
			line = substr($0, 5)
			if (line ~ re) {
				n++
				printf "%d unmarked\n", NR > (dir "/" n ".meta")
				close(dir "/" n ".meta")
				print line > (dir "/" n ".body")
				close(dir "/" n ".body")
			}
		}
		{ prev = $0 }
		' re="$CMD_RE" "$1" ;;
	*)
		awk -v dir="$2" '
		function unroff(s) {
			gsub(/\\f[BIRP]/, "", s); gsub(/\\-/, "-", s)
			gsub(/\\\(aq/, "\047", s); gsub(/\\\(dq/, "\"", s)
			gsub(/\\e/, "\\", s); gsub(/\\&/, "", s)
			return s
		}
		/^\.\\" example: / {
			mark = $0; sub(/^\.\\" example: */, "", mark); next
		}
		/^\.EX$/ {
			on = 1; first = 1; n++
			kind = mark; reason = ""
			if (kind ~ /^skip/) {
				reason = kind; sub(/^skip */, "", reason)
				if (reason == "") reason = "-"
				kind = "skip"
			}
			body = dir "/" n ".body"; printf "" > body
			meta = NR; next
		}
		/^\.EE$/ && on {
			close(body); on = 0
			if (kind == "" && firstline ~ re) kind = "unmarked"
			# Marked async (C, tests/example.sh) or not marked and
			# no command: not an example of ours.
			if (kind != "sh" && kind != "conf" && kind != "skip" &&
			    kind != "unmarked")
				kind = "none"
			printf "%d %s %s\n", meta, kind, reason > \
			    (dir "/" n ".meta")
			close(dir "/" n ".meta"); mark = ""; next
		}
		on {
			s = unroff($0)
			if (first) { firstline = s; first = 0 }
			print s > body
		}
		/^\./ && !on { if ($0 !~ /^\.\\"/) mark = "" }
		' re="$CMD_RE" "$1" ;;
	esac
}

# A storesd on its built-in configuration for one file's examples.
start_builtin() {
	local dir=$1
	mkfifo "$dir/ready" || return 1
	"$NOTIFY_WAIT" "$dir/notify" -- ${STORESD_WRAPPER:-} "$STORESD" \
	    -s "$dir/sock" -d "$dir/data" 2>"$dir/storesd.log" \
	    >"$dir/ready" &
	waiter=$!
	pid=
	read -r pid <"$dir/ready"
	if [ -z "$pid" ]; then
		echo "$0: storesd did not start; its log:" >&2
		cat "$dir/storesd.log" >&2
		wait "$waiter"
		return 1
	fi
	daemons="$daemons $pid:$waiter"
}

# in_work CMD: runs the shell text CMD as a reader of the docs would, in
# the file's working directory, stdout to $T/out, stderr to $T/err.
in_work() {
	local rc
	(cd "$W" && PATH=$ABS_BUILD:$PATH STORESD_SOCKET=$D/sock \
	    bash -e -c "$1") >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	# As a terminal shows it: output that does not end a line (get
	# writes a value's bytes exactly) still ends the docs' line.
	cp "$T/out" "$T/shown"
	if [ -s "$T/out" ] && [ "$(tail -c 1 "$T/out" | od -An -c | tr -d ' ')" \
	    != '\n' ]; then
		echo >>"$T/shown"
	fi
	return "$rc"
}

# run_session BODY NAME: a "$ " session, command by command.
run_session() {
	local body=$1 name=$2 cmd= want= have_cmd=0 line ok=1 n=0
	local IFS=
	flush() {
		[ "$have_cmd" -eq 1 ] || return 0
		n=$((n + 1))
		if ! in_work "$cmd" || sanitizer_spoke; then
			fail "$name" "command $n exits non-zero: $cmd"
			ok=0
		elif [ -n "$want" ] && ! printf '%s' "$want" |
		    cmp -s - "$T/shown"; then
			: >"$T/err"
			fail "$name" "command $n: output differs from the shown"
			printf '%s' "$want" | diff - "$T/shown" |
			    sed 's/^/    /'
			ok=0
		fi
		cmd=
		want=
		have_cmd=0
	}
	while read -r line; do
		case $line in
		'$ '*)
			flush
			cmd=${line#'$ '}
			have_cmd=1 ;;
		*)
			# A line after one ending in | or \ continues it.
			case $cmd in
			*'|'|*'\')
				if [ -z "$want" ]; then
					cmd=$cmd$'\n'$line
					continue
				fi ;;
			esac
			want=$want$line$'\n' ;;
		esac
	done <"$body"
	flush
	[ "$ok" -eq 1 ] && pass "$name ($n commands)"
}

run_example() {
	local file=$1 num=$2 meta line kind reason name
	read -r line kind reason <"$B/$num.meta"
	name="$file:$line"
	case $kind in
	none)	return ;;
	skip)
		if [ "$reason" = "-" ]; then
			fail "$name" "a skip marker without its reason"
			return
		fi
		printf 'SKIP: %s (%s)\n' "$name" "$reason"
		skips=$((skips + 1)) ;;
	unmarked)
		: >"$T/err"
		fail "$name" "looks like a command but is not marked: make it \
a sh example, or mark it skip with the reason"
		sed 's/^/    /' "$B/$num.body" ;;
	conf)
		cp "$B/$num.body" "$W/example.conf"
		"$STORESD" --check-config -c "$W/example.conf" -s "$W/c.sock" \
		    -d "$W/cdata" >"$T/out" 2>"$T/err"
		if [ $? -eq 0 ] && ! sanitizer_spoke; then
			pass "$name (storesd --check-config)"
		else
			fail "$name" "storesd --check-config refuses it"
		fi ;;
	sh)
		if grep -q '^\$ ' "$B/$num.body"; then
			run_session "$B/$num.body" "$name"
		elif in_work "$(cat "$B/$num.body")" && ! sanitizer_spoke; then
			pass "$name"
		else
			fail "$name" "exits non-zero"
			sed 's/^/    /' "$B/$num.body"
		fi ;;
	*)
		fail "$name" "unknown example kind '$kind'" ;;
	esac
}

if [ "$#" -eq 0 ]; then
	set -- README.md man/*.[1-8]
fi
k=0
for file in "$@"; do
	k=$((k + 1))
	D=$T/d$k
	W=$T/w$k
	B=$T/b$k
	mkdir "$D" "$W" "$B"
	ln -s "$ABS_BUILD" "$W/build"
	cut_examples "$TOP/$file" "$B"
	start_builtin "$D" || exit 1
	num=1
	while [ -e "$B/$num.meta" ]; do
		run_example "$file" "$num"
		num=$((num + 1))
	done
	stop_daemon "$file: storesd stops cleanly" "$D/storesd.log"
done

printf '%s: %d skipped (marked, with the reason)\n' "$0" "$skips"
shlib_done
