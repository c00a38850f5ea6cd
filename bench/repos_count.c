/*
 * repos-count: workload 9 (many repos) over a fixed number of new envs,
 * for counts (bench/repos_count.sh), not times.
 *
 *	repos-count SOCKET NCONNS NREPOS
 *
 * NCONNS connections are opened and each pings once (so that their
 * setup is outside the span); says "ready" and waits for a line; then
 * connection i does, for every repo r = i, i + NCONNS, ... < NREPOS, a
 * put of key "main" in store refs of repo bench/cR (a new env each) and
 * a get of it, one after another, as workload 9's threads do; once all
 * are done it says "done NREPOS" and waits for a line again.  Build:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iclient -o build/bench/repos-count \
 *     bench/repos_count.c build/libstoreclient.a -lm -lpthread
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <storeclient.h>

static const char	*sock;
static unsigned long	 nconns, nrepos;
static pthread_barrier_t b1, b2;

static void
fail(sc_conn *c, const char *what)
{
	fprintf(stderr, "repos-count: %s: %s\n", what, sc_errmsg(c));
	exit(1);
}

static void *
cmain(void *arg)
{
	unsigned long	 i = (unsigned long)(uintptr_t)arg;
	sc_conn		*c = sc_connect(sock);
	char		 repo[32];
	void		*v;
	size_t		 n;

	if (sc_errcode(c) != SC_OK || sc_ping(c) == -1)
		fail(c, "connect");
	pthread_barrier_wait(&b1);
	pthread_barrier_wait(&b2);
	for (; i < nrepos; i += nconns) {
		snprintf(repo, sizeof(repo), "bench/c%05lu", i);
		if (sc_put(c, repo, "refs", NULL, "main", 4, "3f2a9c", 6) == -1)
			fail(c, "put");
		if (sc_get(c, repo, "refs", NULL, "main", 4, &v, &n) == -1)
			fail(c, "get");
		sc_free(v);
	}
	sc_close(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	char		 line[16];
	pthread_t	*t;
	unsigned long	 i;

	if (argc != 4)
		return 2;
	sock = argv[1];
	nconns = strtoul(argv[2], NULL, 10);
	nrepos = strtoul(argv[3], NULL, 10);
	if (nconns == 0)
		return 2;
	pthread_barrier_init(&b1, NULL, nconns + 1);
	pthread_barrier_init(&b2, NULL, nconns + 1);
	t = calloc(nconns, sizeof(*t));
	for (i = 0; i < nconns; i++)
		pthread_create(&t[i], NULL, cmain, (void *)(uintptr_t)i);
	pthread_barrier_wait(&b1);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pthread_barrier_wait(&b2);
	for (i = 0; i < nconns; i++)
		pthread_join(t[i], NULL);
	printf("done %lu\n", nrepos);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	return 0;
}
