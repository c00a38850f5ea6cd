#!/bin/sh
# Installs the Debian packages storesd needs, or says how to: what it
# builds with, what the tests use, and Redis and hiredis, which only the
# benchmark (`make bench`, and its smoke run in `make check`) needs.
# As root, missing packages are installed with apt-get; otherwise the
# exact apt-get line is printed and the script fails.
set -eu

pkgs="gcc make pkg-config liblmdb-dev lmdb-utils libevent-dev libmsgpack-dev
check libinih-dev valgrind python3 clang libclang-rt-dev systemd mandoc
redis-server libhiredis-dev"

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$status" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends $missing ||
	    { apt-get update && apt-get install -y --no-install-recommends $missing; }
	exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: install them with:  sudo apt-get install$missing" >&2
exit 1
