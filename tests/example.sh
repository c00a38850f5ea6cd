#!/bin/sh
# Prints the C program marked "example: NAME" (default: async) in
# README.md (the ```c block after <!-- example: NAME -->) or in a man
# page (the .EX block after .\" example: NAME, with roff's escapes
# undone), so the test suite builds and runs exactly what the
# documentation shows.
#
#	tests/example.sh FILE [NAME] > prog.c
set -eu

name=${2:-async}

cut_out() {
	case "$1" in
	*.md)
		M="<!-- example: $name -->" awk 'BEGIN { m = ENVIRON["M"] }
		    $0 == m { on = 1; next }
		    on == 1 && /^```c$/ { on = 2; next }
		    on == 2 && /^```$/ { exit }
		    on == 2 { print }' "$1" ;;
	*)
		M=".\\\" example: $name" awk 'BEGIN { m = ENVIRON["M"] }
		    index($0, m) == 1 && (length($0) == length(m) ||
		    substr($0, length(m) + 1, 1) == " ") { on = 1; next }
		    on == 1 && /^\.EX$/ { on = 2; next }
		    on == 2 && /^\.EE$/ { exit }
		    on == 2 { gsub(/\\e/, "\\"); gsub(/\\-/, "-");
		        gsub(/\\&/, ""); print }' "$1" ;;
	esac
}

out=$(cut_out "$1")
if [ -z "$out" ]; then
	echo "example.sh: no example \"$name\" marked in $1" >&2
	exit 1
fi
printf '%s\n' "$out"
