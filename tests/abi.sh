#!/bin/sh
# The built libstoreclient against the ABI baseline kept in the tree
# (client/abi/libstoreclient.abi, written by abidw from a release):
# abidiff fails this on any incompatible change (a symbol removed, a
# function's parameters or a public type changed); symbols added in a
# new version node are compatible and pass.
#
#	tests/abi.sh            check $BUILD's library
#	tests/abi.sh --update   rewrite the baseline (a release adds a node)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
# The Makefile names the library of the header's version (LIB): a build
# directory may still hold an older release's file next to it.
lib=${LIB:-$(ls -v "$BUILD"/libstoreclient.so.*.*.* 2>/dev/null | tail -n 1)}
base=client/abi/libstoreclient.abi
if [ -z "$lib" ]; then
	echo "abi.sh: no $BUILD/libstoreclient.so.X.Y.Z; run make" >&2
	exit 1
fi
if ! command -v abidiff >/dev/null; then
	echo "abi.sh: abidiff is missing; scripts/deps.sh check installs" \
	    "abigail-tools" >&2
	exit 1
fi
if [ "${1:-}" = --update ]; then
	abidw --headers-dir client --no-corpus-path --out-file "$base" "$lib"
	exit
fi
abidiff --headers-dir2 client "$base" "$lib" >"$BUILD/abi.diff" 2>&1
rc=$?
# abidiff's status is a bit mask: 1 error, 2 usage, 4 a change, 8 an
# incompatible change.
if [ $((rc & 11)) -ne 0 ]; then
	cat "$BUILD/abi.diff" >&2
	echo "abi.sh: FAIL: $lib breaks the ABI of $base (status $rc);" \
	    "restore it, or bump SC_VERSION_MAJOR and the soname" >&2
	exit 1
fi
if [ "$rc" -ne 0 ]; then
	echo "abi.sh: compatible additions (add them to a new version node" \
	    "of client/libstoreclient.map, then tests/abi.sh --update):"
	cat "$BUILD/abi.diff"
fi
echo "abi.sh: $lib keeps the ABI of $base"
