#!/bin/sh
# Prints the C program marked "example: async" in README.md (the ```c
# block after <!-- example: async -->) or in a man page (the .EX block
# after .\" example: async, with roff's escapes undone), so the test
# suite builds and runs exactly what the documentation shows.
#
#	tests/example.sh FILE > prog.c
set -eu

cut_out() {
	case "$1" in
	*.md)
		awk '/<!-- example: async -->/ { on = 1; next }
		    on == 1 && /^```c$/ { on = 2; next }
		    on == 2 && /^```$/ { exit }
		    on == 2 { print }' "$1" ;;
	*)
		awk '/^\.\\" example: async/ { on = 1; next }
		    on == 1 && /^\.EX$/ { on = 2; next }
		    on == 2 && /^\.EE$/ { exit }
		    on == 2 { gsub(/\\e/, "\\"); gsub(/\\-/, "-");
		        gsub(/\\&/, ""); print }' "$1" ;;
	esac
}

out=$(cut_out "$1")
if [ -z "$out" ]; then
	echo "example.sh: no example marked in $1" >&2
	exit 1
fi
printf '%s\n' "$out"
