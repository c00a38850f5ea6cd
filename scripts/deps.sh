#!/bin/sh
# Installs the Debian packages storesd needs, or says how to.
#
#	scripts/deps.sh [build|bench|check]
#
# build: what `make` and `make run` need; bench: that and Redis with
# hiredis (and redis-py, for the bindings' rows; valgrind and strace, for
# make bench-instr), which only the benchmark uses; check (the default): everything `make check` runs,
# the benchmark's smoke run included (mmdebstrap and
# systemd-container build and boot the container of
# tests/systemd_live.sh, which fetches that container's packages from
# Debian's archive at its first run).  As root, missing
# packages are installed with apt-get; otherwise the exact apt-get line is
# printed and the script fails.
set -eu

build="gcc make pkg-config liblmdb-dev libevent-dev libmsgpack-dev
libinih-dev"
bench="redis-server libhiredis-dev python3-redis python3-hiredis valgrind
strace"
tests="lmdb-utils check valgrind python3 clang libclang-rt-dev systemd
mandoc abigail-tools mmdebstrap systemd-container python3-dev
python3-pytest python3-setuptools python3-pip cargo rustc"

case "${1:-check}" in
build)	pkgs=$build ;;
bench)	pkgs="$build $bench" ;;
check)	pkgs="$build $bench $tests" ;;
*)	echo "usage: scripts/deps.sh [build|bench|check]" >&2; exit 2 ;;
esac

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
