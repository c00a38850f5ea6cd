#!/bin/sh
# The daemon's module graph, measured from its objects.
#
#	scripts/callgraph.sh [--check] OBJECT...
#
# A module calls another when a symbol its object leaves undefined (nm -u)
# is defined by the other's object (nm --defined-only).  Files named
# handler_*.o are parts of the handler module; every other object is a
# module of its own.  Prints one line per module, "module: what it calls",
# then the cycles (strongly connected modules).  With --check, exits 1
# when there is a cycle other than the one an event-driven daemon needs,
# among loop, conn and handler, or when store, registry, writer or job
# can reach loop, conn or handler (they must be below them).
set -eu

check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
[ $# -gt 0 ] || { echo "usage: $0 [--check] OBJECT..." >&2; exit 2; }

for o in "$@"; do
	m=$(basename "$o" .o)
	case $m in handler_*) m=handler ;; esac
	nm --defined-only -g "$o" | awk -v m="$m" 'NF == 3 { print "D", m, $3 }'
	nm -u "$o" | awk -v m="$m" '{ print "U", m, $NF }'
done | awk -v check="$check" '
$1 == "D" { def[$3] = $2; mods[$2] = 1; next }
$1 == "U" { und[++nu] = $2 SUBSEP $3; mods[$2] = 1 }
END {
	for (i = 1; i <= nu; i++) {
		split(und[i], p, SUBSEP)
		if ((p[2] in def) && def[p[2]] != p[1])
			edge[p[1], def[p[2]]] = 1
	}
	n = 0
	for (m in mods)
		name[++n] = m
	# Sorted, so that the output can be compared between runs.
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && name[j - 1] > name[j]; j--) {
			t = name[j]; name[j] = name[j - 1]; name[j - 1] = t
		}
	for (i = 1; i <= n; i++) {
		line = name[i] ":"
		for (j = 1; j <= n; j++)
			if ((name[i], name[j]) in edge) {
				line = line " " name[j]
				reach[name[i], name[j]] = 1
			}
		print line
	}
	for (k = 1; k <= n; k++)
		for (i = 1; i <= n; i++)
			if ((name[i], name[k]) in reach)
				for (j = 1; j <= n; j++)
					if ((name[k], name[j]) in reach)
						reach[name[i], name[j]] = 1
	allowed["loop"] = allowed["conn"] = allowed["handler"] = 1
	bad = 0
	for (i = 1; i <= n; i++) {
		if (name[i] in done)
			continue
		scc = name[i]
		size = 1
		ok = name[i] in allowed
		for (j = i + 1; j <= n; j++)
			if (((name[i], name[j]) in reach) &&
			    ((name[j], name[i]) in reach)) {
				scc = scc " " name[j]
				done[name[j]] = 1
				size++
				if (!(name[j] in allowed))
					ok = 0
			}
		if (size > 1) {
			print "cycle: " scc
			if (!ok)
				bad = 1
		}
	}
	nlow = split("store registry writer job", low, " ")
	nhigh = split("loop conn handler", high, " ")
	for (i = 1; i <= nlow; i++)
		for (j = 1; j <= nhigh; j++)
			if ((low[i], high[j]) in reach) {
				print "above its place: " low[i] " reaches " \
				    high[j]
				bad = 1
			}
	if (check && bad) {
		print "callgraph: a cycle other than loop, conn, handler, " \
		    "or a low module calling up" > "/dev/stderr"
		exit 1
	}
}'
