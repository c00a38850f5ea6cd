#!/bin/bash
# systemd_live.sh: the installed units under a real, running systemd.
#
# Boots a Debian 12 (bookworm, systemd 252) container as a distribution
# would ship it: a minbase root file system (mmdebstrap) with systemd as
# PID 1 (systemd-nspawn -b), storesd's run-time libraries, and a C
# compiler with pkgconf for a program built against the installed
# library.  Nothing else: no procps, so a unit that needs /bin/kill fails
# here as it would on a minimal system.  The storesd under test is this
# tree's build, put in with `make install DESTDIR=ROOTFS PREFIX=/usr`.
# Inside, as a package's maintainer scripts and an administrator would:
#
#   * ldconfig; systemd-sysusers creates the storesd user and group;
#   * systemctl start storesd.socket: the socket is there, 0660
#     storesd:storesd, and the service is not running yet;
#   * bob, outside the storesd group, is refused and starts nothing
#     (and is refused again later, /run/storesd 0710 storesd:storesd);
#   * the first request, alice's storectl (she is in the storesd group),
#     starts the service (socket activation, Type=notify); storectl put
#     and get, as root and as alice;
#   * alice reaches it with a program built with `pkg-config --cflags
#     --libs libstoreclient` (no rpath; the runtime linker finds the
#     library in the ld.so cache);
#   * systemctl reload storesd with a store added to storesd.conf: the
#     store appears, the main pid stays; a reload of a configuration that
#     does not parse fails, says why, and changes nothing;
#   * /proc/PID/status of the service: NoNewPrivs, Seccomp, no
#     capabilities (bounding set included), user storesd;
#   * the watchdog keeps it alive past WatchdogSec (same pid, no restart,
#     pings recorded by systemd);
#   * systemctl stop storesd while a client writes: Result=success, and
#     every write the client saw acknowledged is there after the next
#     socket-activated start;
#   * systemctl kill -s KILL storesd, then the data is served again by a
#     new process;
#   * systemctl enable: the service and its socket;
#   * the service's journal holds no denial by the sandbox (seccomp,
#     capabilities, file-system protection) and no failed exec.
#
# The root file system is built once and kept as a tarball under
# $BUILD/systemd-live/, named by a hash of its suite and package list (a
# new run-time library of storesd changes the list, and so builds a new
# one); a run extracts a fresh copy.  The first run downloads from
# Debian's archive (about a minute on a quiet 2-core machine, up to 7 minutes
# under heavy load); later runs take about a minute, half of it waiting
# out the watchdog's 30 s.
#
# The container runs in a cgroup of its own, made under this script's
# cgroup, and is stopped, its cgroups removed and its root file system
# deleted on every exit, failure, timeout or signal included.
#
# Needs root (it boots a container); skipped otherwise.  BUILD names the
# build directory (default build).  STORESD_TEST_SLOW=1 lengthens waits.
# STORESD_LIVE_MIRROR, when set, is the Debian mirror mmdebstrap uses
# (its default otherwise: Debian's own archive, with updates and
# security).
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
# The library's soname, from the header's major version (as the Makefile).
SONAME=libstoreclient.so.$(sed -n 's/^#define SC_VERSION_MAJOR[[:space:]]*//p' \
    "$(dirname "$0")/../client/storeclient.h")
ME=systemd_live.sh

if [ "$(id -u)" -ne 0 ]; then
	echo "$ME: skipped: booting a systemd container needs root" \
	    "(make check as root runs it)"
	exit 0
fi
for tool in mmdebstrap systemd-nspawn nsenter timeout dpkg; do
	if ! command -v "$tool" >/dev/null; then
		echo "$ME: $tool is missing; scripts/deps.sh check installs" \
		    "what make check needs" >&2
		exit 2
	fi
done
for f in storesd storectl "$SONAME"; do
	if [ ! -e "$BUILD/$f" ]; then
		echo "$ME: $BUILD/$f is missing; run make first" >&2
		exit 2
	fi
done

# Bounds on every wait, in seconds; a slow machine gets more.
if [ -n "${STORESD_TEST_SLOW:-}" ]; then W=300; else W=60; fi
SUITE=bookworm
CACHE=$(mkdir -p "$BUILD/systemd-live" && cd "$BUILD/systemd-live" &&
    pwd -P) || exit 2
T=$(mktemp -d "$CACHE/run.XXXXXX") && chmod 0755 "$T" || exit 2
ROOT=$T/root
MACHINE=storesd-live-$$
SOCK=/run/storesd/storesd.sock
CONF=$ROOT/etc/storesd/storesd.conf
nspawn=
nspawn_rc=
init=
builder=
writer=
CGS=
passes=0
fails=0

# ----------------------------------------------------------- teardown

# Every process left in the container's cgroups (ours alone): killed.
cg_kill() {
	local d pids
	for d in $CGS; do
		[ -d "$d" ] || continue
		if [ -f "$d/cgroup.kill" ]; then
			echo 1 >"$d/cgroup.kill" 2>/dev/null
		fi
		pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	done
}

cg_empty() {
	local d
	for d in $CGS; do
		[ -d "$d" ] || continue
		[ -z "$(find "$d" -name cgroup.procs -exec cat {} + \
		    2>/dev/null)" ] || return 1
	done
}

# Stops the container: SIGTERM to systemd-nspawn halts it cleanly (its
# init gets SIGRTMIN+3); past the bound, everything in its cgroups is
# killed.  Then its cgroups are removed.
stop_container() {
	local i
	if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
		kill -TERM "$nspawn" 2>/dev/null
		for ((i = 0; i < W * 5; i++)); do
			kill -0 "$nspawn" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$nspawn" 2>/dev/null; then
			echo "$ME: the container did not halt within ${W}s;" \
			    "killing it" >&2
			kill -KILL "$nspawn" 2>/dev/null
		fi
	fi
	if [ -n "$nspawn" ]; then
		wait "$nspawn" 2>/dev/null
		nspawn_rc=$?
	fi
	[ -n "$writer" ] && wait "$writer" 2>/dev/null
	nspawn=
	writer=
	init=
	for ((i = 0; i < W * 5; i++)); do
		cg_empty && break
		cg_kill
		sleep 0.2
	done
	for d in $CGS; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + \
		    2>/dev/null
		[ -d "$d" ] && echo "$ME: cannot remove the cgroup $d" >&2
	done
	rmdir "/run/systemd/nspawn/propagate/$MACHINE" 2>/dev/null
}

# Mounts under $T (mmdebstrap's, if it was killed mid-way): unmounted,
# deepest first, before anything is deleted.
mounts_under_t() {
	awk -v t="$T/" 'index($2 "/", t) == 1 { print $2 }' /proc/self/mounts
}

cleanup() {
	local m
	if [ -n "$builder" ]; then
		kill -TERM "$builder" 2>/dev/null
		wait "$builder" 2>/dev/null
	fi
	stop_container
	for m in $(mounts_under_t | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	if [ -n "$(mounts_under_t)" ]; then
		echo "$ME: still mounted under $T; not deleting it" >&2
		return
	fi
	rm -rf --one-file-system "$T"
}
trap cleanup EXIT
trap 'echo "$ME: interrupted; taking the container down" >&2; exit 130' \
    INT TERM HUP

# ------------------------------------------------------------ helpers

check() {
	local what=$1
	shift
	if "$@"; then
		echo "PASS: $what"
		passes=$((passes + 1))
	else
		echo "FAIL: $what"
		fails=$((fails + 1))
	fi
}

die() {
	echo "$ME: $*" >&2
	printf '%s: %d passed, %d failed\n' "$ME" "$passes" "$((fails + 1))"
	exit 1
}

# ct [-t SECONDS] COMMAND...: runs COMMAND in the container, as root, in
# all its namespaces, with a clean environment.
ct() {
	local to=$W
	if [ "$1" = -t ]; then
		to=$2
		shift 2
	fi
	timeout -k 5 "$to" nsenter -t "$init" -a -- env -i \
	    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# as USER COMMAND...: as ct, as USER with USER's groups, the socket named
# by $STORESD_SOCKET as a user would.
as() {
	local user=$1
	shift
	ct setpriv --reuid="$user" --regid="$user" --init-groups -- \
	    env HOME=/ STORESD_SOCKET=$SOCK "$@"
}

# prop PROPERTY [UNIT]: a property of a unit, as systemctl show prints it.
prop() {
	ct systemctl show --timestamp=unix -P "$1" "${2:-storesd.service}"
}

running() {
	[ "$(prop ActiveState)/$(prop SubState)" = active/running ]
}

# new_pid OLD: storesd.service has a main process, and not OLD.
new_pid() {
	local p
	p=$(prop MainPID)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ]
}

# refused STATUS OUTPUT: a client failed, and because of the file modes.
refused() {
	[ "$1" -ne 0 ] && grep -qi 'permission denied' <<<"$2"
}

# until_true SECONDS COMMAND...: polls COMMAND every 0.2 s up to SECONDS.
until_true() {
	local n=$(($1 * 5))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.2
	done
}

# -------------------------------------------------- the root file system

# What storesd, storectl and the library link against, as Debian
# packages: the container gets exactly these.
runtime_packages() {
	local f so real p pkg sos cands=() owners
	for f in "$BUILD/storesd" "$BUILD/storectl" \
	    "$BUILD/$SONAME"; do
		if ldd "$f" | grep -q 'not found'; then
			echo "$ME: $f: a library is not found" >&2
			return 1
		fi
	done
	sos=$(ldd "$BUILD/storesd" "$BUILD/storectl" \
	    "$BUILD/$SONAME" |
	    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
	# dpkg knows a file by the path its package ships, which the /usr
	# merge may have changed: each library under its three names, in
	# one (slow) look-up.
	for so in $sos; do
		real=$(realpath "$so")
		cands+=("$so" "$real" "${real#/usr}")
	done
	owners=$(dpkg -S "${cands[@]}" 2>/dev/null)
	for so in $sos; do
		real=$(realpath "$so")
		pkg=
		for p in "$so" "$real" "${real#/usr}"; do
			pkg=$(awk -v p="$p" '$2 == p { sub(/:.*/, "", $1);
			    print $1; exit }' <<<"$owners")
			[ -n "$pkg" ] && break
		done
		if [ -z "$pkg" ]; then
			echo "$ME: no Debian package holds $so" >&2
			return 1
		fi
		echo "$pkg"
	done | sort -u
}

libs=$(runtime_packages) && [ -n "$libs" ] ||
    die "cannot tell which packages hold storesd's libraries"
# systemd as PID 1; a compiler and pkgconf for the program built against
# the installed library.
PKGS=$(printf '%s\n' systemd systemd-sysv dbus gcc libc6-dev pkgconf \
    $libs | sort -u | tr '\n' ' ')
key=$(printf '%s minbase %s\n' "$SUITE" "$PKGS" | sha256sum | cut -c1-16)
TARBALL=$CACHE/rootfs-$key.tar

t0=$SECONDS
if [ -f "$TARBALL" ]; then
	echo "$ME: root file system: $TARBALL (cached)"
else
	echo "$ME: building the root file system ($SUITE minbase +" \
	    "$PKGS) into $TARBALL"
	# Its work directory under $T, so that cleanup finds whatever a
	# killed run left mounted.
	# shellcheck disable=SC2086
	TMPDIR=$T timeout -k 30 $((W * 20)) mmdebstrap --variant=minbase \
	    --aptopt='Acquire::Retries "3"' \
	    --include="$(echo $PKGS | tr ' ' ,)" "$SUITE" "$T/rootfs.tar" \
	    ${STORESD_LIVE_MIRROR:+"$STORESD_LIVE_MIRROR"} \
	    >"$CACHE/mmdebstrap.log" 2>&1 &
	builder=$!
	wait "$builder"
	rc=$?
	builder=
	if [ "$rc" -ne 0 ]; then
		tail -n 30 "$CACHE/mmdebstrap.log" >&2
		die "mmdebstrap failed (exit $rc)"
	fi
	mv "$T/rootfs.tar" "$TARBALL" || die "cannot keep $TARBALL"
	# Older lists' tarballs are of no more use.
	find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -name "${TARBALL##*/}" \
	    -delete
	echo "$ME: root file system built in $((SECONDS - t0)) s"
fi
t1=$SECONDS
mkdir "$ROOT" && tar -C "$ROOT" -xf "$TARBALL" || die "cannot extract $TARBALL"
make --no-print-directory -s install BUILD="$BUILD" DESTDIR="$ROOT" \
    PREFIX=/usr >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; die "make install into the root failed"; }
install -m 0644 tests/live_client.c "$ROOT/usr/local/src/live_client.c"
check "the root has no /bin/kill (procps), as a minimal system" \
    test ! -e "$ROOT/bin/kill" -a ! -e "$ROOT/usr/bin/kill"

# ------------------------------------------------------------ boot it

# A cgroup of our own in each hierarchy nspawn uses, under ours: what
# the container leaves there, we find and remove.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	CGS=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
else
	CGS=/sys/fs/cgroup/systemd$(sed -n 's/^[0-9]*:name=systemd://p' \
	    /proc/self/cgroup)
	if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = \
	    cgroup2fs ]; then
		CGS="$CGS /sys/fs/cgroup/unified$(sed -n 's/^0:://p' \
		    /proc/self/cgroup)"
	fi
fi
CGS=$(for d in $CGS; do echo "${d%/}/$MACHINE"; done)
for d in $CGS; do
	mkdir "$d" || die "cannot make the cgroup $d"
done

# --keep-unit --register=no: no host systemd or machined is asked for
# anything (there may be none); --private-network: it reaches nothing.
(
	for d in $CGS; do
		echo "$BASHPID" >"$d/cgroup.procs" || exit 1
	done
	exec systemd-nspawn -q -D "$ROOT" -M "$MACHINE" -b --register=no \
	    --keep-unit --private-network --console=read-only
) </dev/null >"$T/console.log" 2>&1 &
nspawn=$!

find_init() {
	local c
	for c in $(cat /proc/"$nspawn"/task/*/children 2>/dev/null); do
		if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = systemd ]; then
			init=$c
			return 0
		fi
	done
	return 1
}
until_true "$W" find_init || { tail -n 30 "$T/console.log" >&2;
    die "systemd did not start in the container"; }

booted() {
	local s
	s=$(ct -t 10 systemctl is-system-running --wait 2>/dev/null)
	[ "$s" = running ] || [ "$s" = degraded ]
}
until_true $((W * 2)) booted || { tail -n 30 "$T/console.log" >&2;
    die "the container did not finish booting"; }
echo "$ME: container up $((SECONDS - t1)) s after extraction began"
if [ "$(ct systemctl is-system-running)" != running ]; then
	echo "$ME: note: units that failed at boot:"
	ct systemctl --failed --no-legend
fi

# ---------------------------------------------- what a postinst would do

check "ldconfig" ct ldconfig
# /lib is /usr/lib on a merged /usr, and comes first.
check "... which caches $SONAME from /usr/lib" ct sh -c \
    "ldconfig -p |
    grep -Eq '$SONAME .*=> (/usr)?/lib/$SONAME\$'"
check "systemd-sysusers" ct systemd-sysusers
check "... creates the user storesd (home /var/lib/storesd) and its group" \
    ct sh -c 'getent passwd storesd |
    grep -q "^storesd:x:[0-9]*:[0-9]*:.*:/var/lib/storesd:" &&
    getent group storesd >/dev/null'
check "users alice (in group storesd) and bob (not)" \
    ct sh -c 'useradd -M -G storesd alice && useradd -M bob'

check "systemctl start storesd.socket" ct systemctl start storesd.socket
check "... it listens" test "$(prop ActiveState storesd.socket)" = active
check "... on $SOCK, 0660 storesd:storesd" \
    test "$(ct stat -c '%a %U:%G %F' "$SOCK")" = "660 storesd:storesd socket"
check "... and storesd.service is not started yet" \
    test "$(prop ActiveState)" = inactive

# ------------------------------------- socket activation, users, clients

out=$(as bob storectl ping 2>&1)
rc=$?
check "bob, outside the group storesd, is refused: $out" \
    refused "$rc" "$out"
check "... and starts nothing" test "$(prop ActiveState)" = inactive
version=$("$BUILD/storesd" --version)
out=$(as alice storectl ping 2>&1)
check "alice's first request (storectl ping, group storesd) is answered: $out" \
    test "$out" = "$version"
check "... by the service it started (Type=notify: READY=1 came)" running
check "... on the socket systemd passed it" ct sh -c \
    'journalctl -u storesd.service -o cat | grep -q "(socket-activated)"'
check "storectl put, as root" ct storectl -r ox/mnist put refs main 3f2a9c
check "storectl get, as root" \
    test "$(ct storectl -r ox/mnist get refs main)" = 3f2a9c
check "storectl put, as alice" \
    as alice storectl -r ox/alice put refs main a11ce
check "storectl get, as alice" \
    test "$(as alice storectl -r ox/alice get refs main)" = a11ce
# Not a check: the socket a user's storectl picks without STORESD_SOCKET.
out=$(ct setpriv --reuid=alice --regid=alice --init-groups -- \
    storectl ping 2>&1)
echo "$ME: note: alice's storectl ping without STORESD_SOCKET: $out"
check "a program builds against the installed library with pkg-config" \
    ct sh -c 'cc -std=c99 -Wall -Wextra -Werror \
    -o /usr/local/bin/live-client /usr/local/src/live_client.c \
    $(pkg-config --cflags --libs libstoreclient)'
check "... without an rpath" ct sh -c \
    '! readelf -d /usr/local/bin/live-client | grep -Eq "RPATH|RUNPATH"'
check "... and the runtime linker finds /usr/lib/$SONAME" \
    ct sh -c "ldd /usr/local/bin/live-client |
    grep -Eq '$SONAME => (/usr)?/lib/$SONAME '"
check "alice's program reads what root wrote" \
    test "$(as alice live-client get ox/mnist refs main)" = 3f2a9c

# ------------------------------------------------------------- reload

pid=$(prop MainPID)
out=$(ct storectl -r ox/mnist put index k v 2>&1)
check "before the reload, the store index is unknown: $out" \
    sh -c 'printf "%s" "$1" | grep -q UNKNOWN_STORE' sh "$out"
cp "$CONF" "$T/storesd.conf"
printf '\n[store index]\nmap_size = 1GiB\nsync = nometa\n' >>"$CONF"
check "systemctl reload storesd, a store added" ct systemctl reload storesd
check "... the store appears" until_true "$W" \
    ct storectl -r ox/mnist put index k v 2>/dev/null
check "... in the same process" test "$(prop MainPID)" = "$pid"
check "... which is active again (READY=1 after RELOADING=1)" \
    until_true "$W" running

cp "$CONF" "$T/storesd.conf"
printf '\n[store broken]\nmap_size = lots\n' >>"$CONF"
out=$(ct systemctl reload storesd 2>&1)
rc=$?
check "a reload of a configuration that does not parse fails" test "$rc" -ne 0
check "... the journal says why" ct sh -c \
    "journalctl -u storesd.service -o cat |
    grep -q \"map_size = 'lots' is not a size\""
check "... and the service runs on in the same process" \
    test "$(prop ActiveState)/$(prop MainPID)" = "active/$pid"
check "... on the configuration it had" \
    test "$(ct storectl -r ox/mnist get index k)" = v
cp "$T/storesd.conf" "$CONF"

# ------------------------------------------------------------ sandbox

status=$(ct cat "/proc/$pid/status")
uid=$(ct id -u storesd)
check "/proc/PID/status: NoNewPrivs: 1" \
    grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$status"
check "/proc/PID/status: Seccomp: 2 (a filter)" \
    grep -q '^Seccomp:[[:space:]]*2$' <<<"$status"
for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
	check "/proc/PID/status: $cap: none" \
	    grep -q "^$cap:[[:space:]]*0000000000000000$" <<<"$status"
done
check "/proc/PID/status: runs as storesd ($uid)" \
    grep -Eq "^Uid:[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]" <<<"$status"

# ----------------------------------------------------------- watchdog

# WatchdogUSec as systemctl prints it ("30s", "1min 30s") in seconds.
seconds() {
	local t n s=0
	for t in $1; do
		n=${t%%[a-z]*}
		case ${t#"$n"} in
		min) s=$((s + n * 60)) ;;
		s) s=$((s + n)) ;;
		h) s=$((s + n * 3600)) ;;
		ms | us) ;;
		*) return 1 ;;
		esac
	done
	echo "$s"
}
wd=$(seconds "$(prop WatchdogUSec)")
check "WatchdogSec is set (${wd:-?} s)" test "${wd:-0}" -gt 0
start=$(prop ExecMainStartTimestamp)
start=${start#@}
past() { [ "$(date +%s)" -gt "$1" ]; }
until_true $((${wd:-0} + W)) past $((${start:-0} + ${wd:-0} + 5))
check "alive past WatchdogSec: the same process" \
    test "$(prop MainPID)" = "$pid"
check "... never restarted" test "$(prop NRestarts)" = 0
check "... active" test "$(prop ActiveState)" = active
ping=$(prop WatchdogTimestamp)
ping=${ping#@}
check "... and systemd got its pings (the last past WatchdogSec/2)" \
    test "${ping:-0}" -ge $((${start:-0} + ${wd:-0} / 2))

# ------------------------------------------------- stop under writes

as alice live-client write live refs w/ 1000000 >"$T/acked" \
    2>"$T/writer.err" &
writer=$!
acked() { [ "$(wc -l <"$T/acked")" -ge "$1" ]; }
check "alice's program writes" until_true "$W" acked 50
check "systemctl stop storesd while it writes" \
    ct -t $((W * 2)) systemctl stop storesd
check "... Result=success" test "$(prop Result)" = success
check "... storesd exited with status 0" \
    test "$(prop ExecMainCode)/$(prop ExecMainStatus)" = 1/0
wait "$writer"
writer=
check "... the program was told (an error, not a hang)" \
    grep -q '^live-client: ' "$T/writer.err"
acked=$(wc -l <"$T/acked")
ct storectl -r live scan refs --prefix w/ >"$T/scanned"
check "every acknowledged write ($acked) is there after the next start" \
    test -z "$(sort "$T/acked" | comm -23 - <(sort "$T/scanned"))"
check "... (socket-activated) in a new process" new_pid "$pid"

# ---------------------------------------------------------------- kill

pid=$(prop MainPID)
check "systemctl kill -s KILL storesd" ct systemctl kill -s KILL storesd
not_main() { [ "$(prop MainPID)" != "$1" ]; }
check "... it is gone" until_true "$W" not_main "$pid"
check "the next request is served again, the data intact" \
    test "$(ct storectl -r ox/mnist get refs main)" = 3f2a9c
check "... by a new process" new_pid "$pid"
check "... all $acked acknowledged writes too" \
    test "$(ct storectl -r live count refs)" -ge "$acked"

check "/run/storesd: 0710 storesd:storesd, the socket still 0660" \
    test "$(ct stat -c '%a %U:%G' /run/storesd "$SOCK" | tr '\n' ' ')" = \
    "710 storesd:storesd 660 storesd:storesd "
check "/var/lib/storesd: 0700 storesd:storesd" \
    test "$(ct stat -c '%a %U:%G' /var/lib/storesd)" = "700 storesd:storesd"
out=$(as bob storectl ping 2>&1)
rc=$?
check "bob is refused once the service has run too: $out" \
    refused "$rc" "$out"

# -------------------------------------------------------------- enable

check "systemctl enable storesd.service (Also=storesd.socket)" \
    ct systemctl enable -q storesd.service
check "... enables both" test "$(ct systemctl is-enabled storesd.service \
    storesd.socket | tr '\n' ' ')" = "enabled enabled "

# ------------------------------------------------------------ shutdown

# What the sandbox's refusals look like in a log: EPERM, EACCES, EROFS,
# a seccomp kill, a capability, an exec that failed (systemd's 2xx
# statuses: 203/EXEC, 226/NAMESPACE, 218/CAPABILITIES...).
DENIALS='denied|not permitted|permission|read-only file system|seccomp'
DENIALS="$DENIALS|SIGSYS|bad system call|status=2[0-9][0-9]/|capabilit"

# The container halts as a machine does (SIGTERM to systemd-nspawn:
# SIGRTMIN+3 to its systemd), storesd still running; its journal is then
# read from the root file system.
stop_container
check "the container halts cleanly (systemd-nspawn exits 0)" \
    test "${nspawn_rc:-?}" = 0
for d in $CGS; do
	check "no cgroup is left: $d" test ! -e "$d"
done
check "nothing is mounted under $T" test -z "$(mounts_under_t)"
echo "$ME: $((SECONDS - t1)) s from extraction to teardown"

journalctl -D "$ROOT/var/log/journal" -u storesd.service -u storesd.socket \
    -o short-monotonic --no-pager >"$T/journal" 2>&1
# What came after the service last started: its stop at the halt.
awk '/Started storesd.service/ { n = NR; s = "" } n && NR > n { s = s $0 "\n" }
    END { printf "%s", s }' "$T/journal" >"$T/last-stop"
check "at shutdown storesd stops cleanly" sh -c \
    "grep -q 'storesd stopped' '$T/last-stop' &&
    grep -q 'storesd.service: Deactivated successfully' '$T/last-stop' &&
    ! grep -Eq 'Failed|status=' '$T/last-stop'"
check "the journal shows no denial by the sandbox and no failed exec" \
    sh -c "! grep -Ei '$DENIALS' '$T/journal'"
if [ "$fails" -gt 0 ]; then
	echo "$ME: the journal of storesd.service and storesd.socket:"
	sed 's/^/    /' "$T/journal"
fi

printf '%s: %d passed, %d failed\n' "$ME" "$passes" "$fails"
[ "$fails" -eq 0 ]
