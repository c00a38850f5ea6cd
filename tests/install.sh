#!/bin/bash
# What a packager does: make install PREFIX=/usr into a temporary
# DESTDIR, then checks that
#
#   * every file is where it belongs, the library with its soname links,
#     and the paths in the .pc file and the units name /usr and /etc;
#   * a program built with `pkg-config --cflags --libs libstoreclient`
#     against the installed header and library talks to the installed
#     storesd, started on the installed example configuration;
#   * the installed units pass `systemd-analyze verify` (their man pages
#     found in DESTDIR) and `systemd-analyze security` rates the service
#     at most 2.0;
#   * make uninstall leaves no file behind, and keeps a configuration an
#     administrator changed.
#
# BUILD names the build directory (default build).
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
# The library's full version, as the Makefile reads it from the header.
V=$(for p in MAJOR MINOR PATCH; do
	sed -n "s/^#define SC_VERSION_$p[[:space:]]*//p" client/storeclient.h
done | paste -sd.)
T=$(mktemp -d /tmp/storesd-install.XXXXXX)
DEST=$T/dest
pid=
waiter=
passes=0
fails=0

cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$waiter" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

check() {
	local what=$1
	shift
	if "$@"; then
		passes=$((passes + 1))
	else
		echo "install.sh: FAIL: $what" >&2
		fails=$((fails + 1))
	fi
}

inst() {
	make --no-print-directory -s "$1" BUILD="$BUILD" DESTDIR="$DEST" \
	    PREFIX=/usr >"$T/make.out" 2>&1 || cat "$T/make.out" >&2
}

# ---------------------------------------------------------------- files

inst install
for f in usr/sbin/storesd usr/bin/storectl usr/include/storeclient.h \
    usr/lib/libstoreclient.so.$V usr/lib/libstoreclient.a \
    usr/include/storeclient/adapters/libevent.h \
    usr/lib/pkgconfig/libstoreclient.pc \
    usr/lib/systemd/system/storesd.service \
    usr/lib/systemd/system/storesd.socket usr/lib/sysusers.d/storesd.conf \
    etc/storesd/storesd.conf usr/share/doc/storesd/storesd.conf.example \
    usr/share/man/man8/storesd.8 usr/share/man/man1/storectl.1 \
    usr/share/man/man5/storesd.conf.5 \
    usr/share/man/man3/libstoreclient.3; do
	check "installs /$f" test -f "$DEST/$f"
done
check "bash completion for storectl is installed" \
    test -f "$DEST/usr/share/bash-completion/completions/storectl"
check "libstoreclient.so.2 -> libstoreclient.so.$V" \
    test "$(readlink "$DEST/usr/lib/libstoreclient.so.2")" = \
    libstoreclient.so.$V
check "libstoreclient.so -> libstoreclient.so.2" \
    test "$(readlink "$DEST/usr/lib/libstoreclient.so")" = libstoreclient.so.2
check "the library's soname is libstoreclient.so.2" \
    sh -c "objdump -p '$DEST/usr/lib/libstoreclient.so.$V' |
    grep -q 'SONAME *libstoreclient.so.2$'"
check "the library exports only sc_ symbols" \
    sh -c "! nm -D --defined-only '$DEST/usr/lib/libstoreclient.so.$V' |
    awk '\$2 ~ /[TDBR]/ { print \$3 }' | grep -v '^sc_'"
check "the .pc file names /usr" \
    grep -q '^libdir=/usr/lib$' "$DEST/usr/lib/pkgconfig/libstoreclient.pc"
check "the service runs /usr/sbin/storesd on /etc/storesd/storesd.conf" \
    grep -q '^ExecStart=/usr/sbin/storesd -c /etc/storesd/storesd.conf$' \
    "$DEST/usr/lib/systemd/system/storesd.service"
check "no @PLACEHOLDER@ is left in what was installed" \
    sh -c "! grep -rIl '@[A-Z]*@' '$DEST'"

# ------------------------------------------ a program built against it

cat >"$T/hello.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <storeclient.h>

int
main(int argc, char **argv)
{
	sc_conn	*c = sc_connect(argc > 1 ? argv[1] : NULL);
	void	*v;
	size_t	 n;

	if (sc_errcode(c) != SC_OK ||
	    sc_put(c, "ox/mnist", "refs", NULL, "main", 4, "3f2a9c", 6) ||
	    sc_get(c, "ox/mnist", "refs", NULL, "main", 4, &v, &n)) {
		fprintf(stderr, "hello: %s: %s\n", sc_errname(sc_errcode(c)),
		    sc_errmsg(c));
		return 1;
	}
	printf("%.*s\n", (int)n, (char *)v);
	sc_free(v);
	sc_close(c);
	return 0;
}
EOF
flags=$(PKG_CONFIG_SYSROOT_DIR=$DEST \
    PKG_CONFIG_LIBDIR=$DEST/usr/lib/pkgconfig \
    pkg-config --cflags --libs libstoreclient)
check "pkg-config knows libstoreclient" test -n "$flags"
# shellcheck disable=SC2086
check "a program builds with pkg-config's flags alone" \
    cc -std=c99 -Wall -Werror -o "$T/hello" "$T/hello.c" $flags \
    -Wl,-rpath,"$DEST/usr/lib"
check "... and links the installed library" \
    sh -c "ldd '$T/hello' | grep -q '$DEST/usr/lib/libstoreclient.so.2'"
# shellcheck disable=SC2086
check "README's async example builds with the installed libevent adapter" \
    cc -std=c99 -Wall -Werror -o "$T/async" "$BUILD/tests/example-readme.c" \
    $flags -levent_core -Wl,-rpath,"$DEST/usr/lib"

# Into the live system make install refreshes the linker's cache (issue
# 14, edge 2); staged into DESTDIR it leaves that to the package.  A
# stand-in ldconfig first on PATH records how it is called, so the test
# installs into a temporary PREFIX and never touches the host's cache.
mkdir -p "$T/shim"
printf '#!/bin/sh\necho "$*" >>"%s/ldconfig.calls"\n' "$T" >"$T/shim/ldconfig"
chmod +x "$T/shim/ldconfig"
: >"$T/ldconfig.calls"
PATH="$T/shim:$PATH" make -s install PREFIX="$T/live" BUILD="$BUILD" \
    >/dev/null 2>&1
check "make install (no DESTDIR) runs ldconfig on LIBDIR" \
    grep -qx "$T/live/lib" "$T/ldconfig.calls"
: >"$T/ldconfig.calls"
PATH="$T/shim:$PATH" make -s install PREFIX=/usr DESTDIR="$T/staged" \
    BUILD="$BUILD" >/dev/null 2>&1
check "make install DESTDIR=... leaves it to the package" \
    test ! -s "$T/ldconfig.calls"
# A program linked without an rpath finds the library the way the linker
# cache would give it (LD_LIBRARY_PATH here: a test may not change the
# host's cache).
# shellcheck disable=SC2086
check "a program linked without an rpath builds" \
    cc -std=c99 -Wall -Werror -o "$T/hello-norpath" "$T/hello.c" $flags
check "... and, with the library on the linker's path, runs" sh -c \
    "LD_LIBRARY_PATH='$DEST/usr/lib' '$T/hello-norpath' >/dev/null 2>&1 ||
    LD_LIBRARY_PATH='$DEST/usr/lib' '$T/hello-norpath' 2>&1 |
    grep -q 'CONNECT'"

mkfifo "$T/ready"
"$BUILD/tests/notify-wait" "$T/notify" -- "$DEST/usr/sbin/storesd" \
    -c "$DEST/etc/storesd/storesd.conf" -s "$T/sock" -d "$T/data" \
    2>"$T/storesd.log" >"$T/ready" &
waiter=$!
read -r pid <"$T/ready"
check "the installed storesd starts on the installed configuration" \
    test -n "$pid"
check "the program talks to it" \
    sh -c "'$T/hello' '$T/sock' >'$T/out' && grep -qx 3f2a9c '$T/out'"
check "the async example talks to it" \
    sh -c "'$T/async' '$T/sock' >'$T/out' && grep -qx 3f2a9c '$T/out'"
check "the installed storectl reads what it wrote" \
    sh -c "'$DEST/usr/bin/storectl' -s '$T/sock' -r ox/mnist get refs main |
    grep -qx 3f2a9c"
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	wait "$waiter"
	check "... and stops cleanly" test $? -eq 0
	pid=
fi

# ----------------------------------------------------------- the units

if command -v systemd-analyze >/dev/null; then
	# The units as installed, but for ExecStart and ExecReload pointing
	# into DESTDIR: verify wants the program to exist.
	sed "s|^\(Exec[A-Za-z]*\)=/usr/sbin/|\1=$DEST/usr/sbin/|" \
	    "$DEST/usr/lib/systemd/system/storesd.service" \
	    >"$T/storesd.service"
	cp "$DEST/usr/lib/systemd/system/storesd.socket" "$T/"
	check "systemd-analyze verify passes the units" \
	    sh -c "cd '$T' && MANPATH='$DEST/usr/share/man' \
	    systemd-analyze verify ./storesd.service ./storesd.socket \
	    >'$T/verify.out' 2>&1 || { cat '$T/verify.out' >&2; exit 1; }"
	score=$(cd "$T" && systemd-analyze security --offline=yes \
	    ./storesd.service 2>/dev/null |
	    sed -n 's/.*Overall exposure level for storesd.service: \([0-9.]*\).*/\1/p')
	echo "install.sh: systemd-analyze security: ${score:-?}"
	check "systemd-analyze security rates it at most 2.0" \
	    awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
else
	echo "install.sh: systemd-analyze is not installed; units not checked"
fi

# ------------------------------------------------------------ uninstall

echo "; changed by an administrator" >>"$DEST/etc/storesd/storesd.conf"
inst uninstall
check "uninstall keeps a changed configuration" \
    test -f "$DEST/etc/storesd/storesd.conf"
rm -f "$DEST/etc/storesd/storesd.conf"
inst install
inst uninstall
check "install then uninstall leaves no file" \
    test -z "$(find "$DEST" ! -type d)"

printf 'install.sh: %d passed, %d failed\n' "$passes" "$fails"
[ "$fails" -eq 0 ]
