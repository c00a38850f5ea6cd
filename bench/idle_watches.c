/*
 * idle-watches: what idle watches cost a write (bench/idle_watches.sh).
 *
 *	idle-watches SOCKET NCONN NWATCH NPUTS REPO
 *
 * Opens NCONN connections and NWATCH watches spread over them, each on
 * its own key "idle-N" of store kv in REPO (another repo than the
 * writes: another env; "r": the env written, keys nobody writes), says
 * "ready" on stdout and waits for a line on stdin; then does NPUTS puts
 * of key "hot" in repo r on a connection of its own, says "done" and
 * waits for a line again before it leaves.  Nothing here is timed: the
 * script counts storesd's instructions between the two lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <storeclient.h>

static void
die(sc_conn *c, const char *what)
{
	fprintf(stderr, "idle-watches: %s: %s: %s\n", what,
	    sc_errname(sc_errcode(c)), sc_errmsg(c));
	exit(1);
}

static void
wait_line(const char *say)
{
	char	 line[16];

	printf("%s\n", say);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		exit(1);
}

int
main(int argc, char **argv)
{
	sc_conn		**cs, *w;
	sc_watch_opts	*o;
	char		 key[32];
	unsigned long	 nconn, nwatch, nputs, i;

	if (argc != 6) {
		fprintf(stderr, "usage: idle-watches SOCKET NCONN NWATCH "
		    "NPUTS REPO\n");
		return 2;
	}
	nconn = strtoul(argv[2], NULL, 10);
	nwatch = strtoul(argv[3], NULL, 10);
	nputs = strtoul(argv[4], NULL, 10);
	if (nconn == 0 || (cs = calloc(nconn, sizeof(*cs))) == NULL)
		return 2;
	for (i = 0; i < nconn; i++)
		if (sc_errcode(cs[i] = sc_connect(argv[1])) != SC_OK)
			die(cs[i], "connect");
	w = sc_connect(argv[1]);
	/* The env exists before the watches: they watch it, not a gap. */
	if (sc_put(w, argv[5], "kv", NULL, "seed", 4, "x", 1) == -1 ||
	    sc_put(w, "r", "kv", NULL, "seed", 4, "x", 1) == -1)
		die(w, "put");
	for (i = 0; i < nwatch; i++) {
		o = sc_watch_opts_new();
		snprintf(key, sizeof(key), "idle-%lu", i);
		if (o == NULL || sc_watch_opts_set_key(o, key, strlen(key)) == -1)
			return 2;
		if (sc_watch_begin(cs[i % nconn], argv[5], "kv", NULL, o,
		    NULL) == NULL)
			die(cs[i % nconn], "watch");
		sc_watch_opts_free(o);
	}
	wait_line("ready");
	for (i = 0; i < nputs; i++)
		if (sc_put(w, "r", "kv", NULL, "hot", 3, "v", 1) == -1)
			die(w, "put");
	wait_line("done");
	return 0;
}
