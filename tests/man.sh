#!/bin/sh
# Checks the manual pages in man/:
#
#   * each page passes `mandoc -T lint -W warning` (or, without mandoc,
#     `groff -man -ww -z`) with no output at all;
#   * each page's .TH names the version in daemon/daemon.h;
#   * storectl.1 has an entry under COMMANDS for each command that
#     `$BUILD/storectl --help` lists, and none for a command it does not,
#     and an entry under OPTIONS for each of its long options;
#   * storesd.conf.5 has an entry for each key of the key tables of
#     daemon/config.c, in the section of its table, and none for a key
#     those tables do not have;
#
# so the pages cannot silently drift from the code.  Needs a build
# (BUILD, default build, relative to the top of the tree) for storectl.
# MAN_LINT=mandoc or MAN_LINT=groff picks the linter; by default mandoc
# when it is installed, else groff.  Exits 0 when every check passes,
# else 1.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export LC_ALL=C

pass=0
fail=0

ok() {
	pass=$((pass + 1))
}

bad() {
	echo "man.sh: FAIL: $*" >&2
	fail=$((fail + 1))
}

# The first word of each entry (the line after a .TP) in section $2 of
# page $1: the macro, a quote and font escapes are left out.
tags() {
	SECTION=$2 awk '
		/^\.SH / {
			s = substr($0, 5)
			gsub(/"/, "", s)
			in_sec = (s == ENVIRON["SECTION"])
			next
		}
		in_sec && after_tp {
			t = $0
			sub(/^\.[A-Z]+[ \t]+/, "", t)
			sub(/^"/, "", t)
			gsub(/\\f[BIRP]/, "", t)
			sub(/[ \t"].*/, "", t)
			print t
		}
		{ after_tp = ($0 ~ /^\.TP([ \t]|$)/) }
	' "$1"
}

# Every line of $2 is among the lines of $3; says what is missing, as
# $1 (e.g. "storectl.1 has no entry for command").
all_in() {
	printf '%s\n' "$2" | while IFS= read -r w; do
		[ -n "$w" ] || continue
		printf '%s\n' "$3" | grep -Fqx -- "$w" || echo "$1 $w"
	done
}

# Records the outcome of a check: fails with each line of $1, if any.
outcome() {
	if [ -z "$1" ]; then
		ok
	else
		printf '%s\n' "$1" | while IFS= read -r l; do
			echo "man.sh: FAIL: $l" >&2
		done
		fail=$((fail + 1))
	fi
}

# ------------------------------------------------------------------ lint

lint=${MAN_LINT:-}
if [ -z "$lint" ]; then
	if command -v mandoc >/dev/null 2>&1; then
		lint=mandoc
	elif command -v groff >/dev/null 2>&1; then
		lint=groff
	fi
fi
case "$lint" in
mandoc | groff)
	if ! command -v "$lint" >/dev/null 2>&1; then
		bad "MAN_LINT=$lint but $lint is not installed"
		lint=
	fi
	;;
"")
	bad "neither mandoc nor groff is installed (apt-get install mandoc)"
	;;
*)
	bad "MAN_LINT=$lint: use mandoc or groff"
	lint=
	;;
esac

pages=$(ls man/*.[1-8] 2>/dev/null)
[ -n "$pages" ] || bad "no pages in man/"

for p in $pages; do
	[ -n "$lint" ] || break
	if [ "$lint" = mandoc ]; then
		out=$(mandoc -T lint -W warning "$p" 2>&1)
	else
		out=$(groff -man -ww -z "$p" 2>&1)
	fi
	st=$?
	if [ $st -ne 0 ] || [ -n "$out" ]; then
		bad "$lint on $p (exit $st):"
		printf '%s\n' "$out" >&2
	else
		ok
	fi
done

# --------------------------------------------------------------- version

ver=$(sed -n 's/^#define[[:blank:]]*STORESD_VERSION[[:blank:]]*"\([^"]*\)".*/\1/p' \
    daemon/daemon.h)
if [ -z "$ver" ]; then
	bad "no STORESD_VERSION in daemon/daemon.h"
else
	for p in $pages; do
		if grep -q "^\.TH .*\"storesd $ver\"" "$p"; then
			ok
		else
			bad "$p: .TH does not name \"storesd $ver\""
		fi
	done
fi

# -------------------------------------------------------------- storectl

ctl=$BUILD/storectl
if [ ! -x "$ctl" ]; then
	bad "$ctl not found: build first (make), or set BUILD"
elif ! help=$("$ctl" --help); then
	bad "$ctl --help failed"
else
	cmds=$(printf '%s\n' "$help" | sed -n '/^Commands:$/,/^$/p' |
	    sed -n 's/^  \([a-z][a-z0-9-]*\).*/\1/p')
	longopts=$(printf '%s\n' "$help" | sed -n '/^Options/,/^$/p' |
	    sed -n 's/^  \(-[a-zA-Z], \)\{0,1\} *--\([a-z][a-z0-9-]*\).*/\2/p')
	if [ -z "$cmds" ] || [ -z "$longopts" ]; then
		bad "cannot read the commands and options of $ctl --help"
	else
		documented=$(tags man/storectl.1 COMMANDS)
		outcome "$(all_in "storectl.1 has no entry under COMMANDS for" \
		    "$cmds" "$documented")"
		outcome "$(all_in "storectl.1 documents a command that \
storectl --help does not list:" "$documented" "$cmds")"
		# Option entries: the line after a .TP holds "\-\-NAME",
		# hyphens escaped as the page writes them.
		opttags=$(awk '
			/^\.SH / { in_sec = ($0 == ".SH OPTIONS"); next }
			in_sec && after_tp { print }
			{ after_tp = ($0 ~ /^\.TP([ \t]|$)/) }
		' man/storectl.1)
		missing=$(printf '%s\n' "$longopts" | while IFS= read -r o; do
			esc=$(printf '%s' "--$o" | sed 's/-/\\-/g')
			printf '%s\n' "$opttags" | grep -Fq -- "$esc" ||
			    echo "storectl.1 has no entry under OPTIONS for --$o"
		done)
		outcome "$missing"
	fi
fi

# ---------------------------------------------------------- storesd.conf

# The key names of one section in the key table of daemon/config.c: the
# strings of its { "key", SEC_... rows.
keys() {
	sed -n "/^static const struct keydef keys\[\]/,/^};/p" daemon/config.c |
	    sed -n 's/^[[:blank:]]*{[[:blank:]]*"\([a-z_]*\)",[[:blank:]]*'"$1"',.*/\1/p'
}

dkeys=$(keys SEC_DAEMON)
skeys=$(keys SEC_STORE)
if [ -z "$dkeys" ] || [ -z "$skeys" ]; then
	bad "cannot read the key tables of daemon/config.c"
else
	dtags=$(tags man/storesd.conf.5 "THE [daemon] SECTION")
	stags=$(tags man/storesd.conf.5 "THE [store NAME] SECTION")
	outcome "$(all_in "storesd.conf.5 has no entry under [daemon] for" \
	    "$dkeys" "$dtags")"
	outcome "$(all_in "storesd.conf.5 has no entry under [store NAME] for" \
	    "$skeys" "$stags")"
	outcome "$(all_in "storesd.conf.5 documents a [daemon] key that \
daemon/config.c does not have:" "$dtags" "$dkeys")"
	outcome "$(all_in "storesd.conf.5 documents a [store NAME] key that \
daemon/config.c does not have:" "$stags" "$skeys")"
fi

echo "man: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
