/*
 * get_c: the C library's row of the bindings' benchmark (bench.py).
 *
 *	get_c SOCKET STORE NKEYS SECONDS DEPTH
 *
 * Gets keys "key000000".."key<NKEYS-1>" in turn from STORE over one
 * connection for SECONDS, DEPTH at a time (1: one round trip each;
 * more: pipelined with sc_append_get/sc_collect), checks each reply, and
 * prints the gets per second and the number of gets.  The Python and Rust bindings run the same
 * loop, so their figures show what each binding adds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <storeclient.h>

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
fail(sc_conn *c, const char *what)
{
	fprintf(stderr, "get_c: %s: %s: %s\n", what,
	    sc_errname(sc_errcode(c)), sc_errmsg(c));
	return 1;
}

int
main(int argc, char **argv)
{
	const void	*v;
	sc_conn		*c;
	double		 t0, end, secs;
	size_t		 vn;
	unsigned long	 n = 0, nkeys;
	char		 key[32];
	void		*val;
	int		 depth, i, kl;

	if (argc != 6) {
		fprintf(stderr, "usage: get_c SOCKET STORE NKEYS SECONDS "
		    "DEPTH\n");
		return 2;
	}
	nkeys = strtoul(argv[3], NULL, 10);
	secs = atof(argv[4]);
	depth = atoi(argv[5]);
	if (nkeys == 0 || nkeys > 1000000 || secs <= 0 || depth < 1)
		return 2;
	if ((c = sc_connect(argv[1])) == NULL || sc_errcode(c) != SC_OK)
		return c ? fail(c, "connect") : 1;
	t0 = now();
	end = t0 + secs;
	while (now() < end) {
		if (depth == 1) {
			kl = snprintf(key, sizeof(key), "key%06lu",
			    n % nkeys);
			if (sc_get(c, NULL, argv[2], NULL, key, kl, &val,
			    &vn) == -1)
				return fail(c, "get");
			sc_free(val);
			n++;
			continue;
		}
		for (i = 0; i < depth; i++) {
			kl = snprintf(key, sizeof(key), "key%06lu",
			    (n + i) % nkeys);
			if (sc_append_get(c, NULL, argv[2], NULL, key,
			    kl) == -1)
				return fail(c, "append_get");
		}
		for (i = 0; i < depth; i++)
			if (sc_collect(c, &v, &vn) == -1)
				return fail(c, "collect");
		n += depth;
	}
	printf("%.0f %lu\n", n / (now() - t0), n);
	sc_close(c);
	return 0;
}
