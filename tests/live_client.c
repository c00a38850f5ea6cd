/*
 * live-client: a program built the way a user of the installed library
 * builds one (`cc live_client.c $(pkg-config --cflags --libs
 * libstoreclient)`, no rpath), for tests/systemd_live.sh.  It reaches
 * storesd on the default socket (sc_default_socket(): $STORESD_SOCKET
 * first).
 *
 *	live-client get REPO STORE KEY
 *	live-client write REPO STORE PREFIX N
 *
 * get prints the value of KEY.  write puts PREFIXi = vi for i in [0, N),
 * each its own durable commit, on one connection, and prints
 * "KEY<TAB>VALUE" for each write once storesd has acknowledged it (the
 * line storectl scan prints for that entry), so that a test can check
 * that every acknowledged write survives a stop.  It stops at the first
 * failure, says why on stderr and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <storeclient.h>

static int
fail(sc_conn *c, const char *what)
{
	fprintf(stderr, "live-client: %s: %s: %s\n", what,
	    sc_errname(sc_errcode(c)), sc_errmsg(c));
	sc_close(c);
	return 1;
}

static int
get(sc_conn *c, char **argv)
{
	void	*v;
	size_t	 n;

	if (sc_get(c, argv[0], argv[1], NULL, argv[2], strlen(argv[2]), &v,
	    &n) != 0)
		return fail(c, "get");
	printf("%.*s\n", (int)n, (char *)v);
	sc_free(v);
	sc_close(c);
	return 0;
}

static int
write_keys(sc_conn *c, char **argv)
{
	char		 key[256], val[32];
	unsigned long	 i, n = strtoul(argv[3], NULL, 10);
	int		 kl, vl;

	for (i = 0; i < n; i++) {
		kl = snprintf(key, sizeof(key), "%s%lu", argv[2], i);
		vl = snprintf(val, sizeof(val), "v%lu", i);
		if (kl < 0 || (size_t)kl >= sizeof(key))
			return fail(c, "PREFIX is too long");
		if (sc_put(c, argv[0], argv[1], NULL, key, (size_t)kl, val,
		    (size_t)vl) != 0)
			return fail(c, key);
		printf("%s\t%s\n", key, val);
		fflush(stdout);
	}
	sc_close(c);
	return 0;
}

int
main(int argc, char **argv)
{
	sc_conn	*c;

	if (!((argc == 5 && strcmp(argv[1], "get") == 0) ||
	    (argc == 6 && strcmp(argv[1], "write") == 0))) {
		fprintf(stderr, "usage: live-client get REPO STORE KEY\n"
		    "       live-client write REPO STORE PREFIX N\n");
		return 2;
	}
	if ((c = sc_connect(NULL)) == NULL) {
		fprintf(stderr, "live-client: out of memory\n");
		return 1;
	}
	if (sc_errcode(c) != SC_OK)
		return fail(c, "connect");
	return argv[1][0] == 'g' ? get(c, argv + 2) : write_keys(c, argv + 2);
}
