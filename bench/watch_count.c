/*
 * watch-count: workload 11 with a fixed number of puts, for counts
 * (bench/watch_count.sh), not times.
 *
 *	watch-count SOCKET NWATCHERS NPUTS
 *
 * NWATCHERS connections each watch prefix "key" of store kvhist (sync =
 * full, history on), as workload 11's do; says "ready" and waits for a
 * line; one connection does NPUTS puts of 100 bytes, one after another;
 * once every watcher saw the last revision it says "done EVENTS" and
 * waits for a line again.  Build:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iclient -o build/bench/watch-count \
 *     bench/watch_count.c build/libstoreclient.a -lm -lpthread
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <storeclient.h>

static const char *sock;
static _Atomic unsigned long long last, events;
static atomic_bool done;
static pthread_barrier_t b1;

static void *
wmain(void *arg)
{
	sc_conn *c = sc_connect(sock);
	sc_watch_opts *o = sc_watch_opts_new();
	sc_watch *wt;
	sc_event ev;
	unsigned long long seen = 0, n = 0;
	int rc;
	(void)arg;
	sc_watch_opts_set_prefix(o, "key", 3);
	wt = sc_watch_begin(c, NULL, "kvhist", NULL, o, NULL);
	if (wt == NULL) { fprintf(stderr, "watch: %s\n", sc_errmsg(c)); exit(1); }
	sc_watch_opts_free(o);
	pthread_barrier_wait(&b1);
	while (!(atomic_load(&done) && seen >= atomic_load(&last))) {
		if ((rc = sc_watch_next(wt, &ev, 100)) == -1) { fprintf(stderr, "next: %s\n", sc_errmsg(c)); exit(1); }
		if (rc == 0) continue;
		seen = ev.rev;
		if (ev.op != SC_EV_PROGRESS) n++;
	}
	atomic_fetch_add(&events, n);
	sc_watch_end(wt);
	sc_close(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	char line[16], key[16], val[100];
	unsigned long nw, np, i;
	unsigned long long base;
	pthread_t *t;
	sc_conn *c;
	if (argc != 4) return 2;
	sock = argv[1]; nw = strtoul(argv[2], 0, 10); np = strtoul(argv[3], 0, 10);
	memset(val, 'v', sizeof(val));
	c = sc_connect(sock);
	if (sc_errcode(c) != SC_OK || sc_put(c, NULL, "kvhist", NULL, "seed", 4, "x", 1) == -1 ||
	    sc_rev(c, NULL, "kvhist", (uint64_t *)&base) == -1) { fprintf(stderr, "%s\n", sc_errmsg(c)); return 1; }
	last = base;
	pthread_barrier_init(&b1, NULL, nw + 1);
	t = calloc(nw, sizeof(*t));
	for (i = 0; i < nw; i++) pthread_create(&t[i], NULL, wmain, NULL);
	pthread_barrier_wait(&b1);
	printf("ready\n"); fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) return 1;
	for (i = 0; i < np; i++) {
		snprintf(key, sizeof(key), "key%08lu", i % 2000);
		if (sc_put(c, NULL, "kvhist", NULL, key, strlen(key), val, sizeof(val)) == -1) { fprintf(stderr, "put: %s\n", sc_errmsg(c)); return 1; }
		atomic_store(&last, sc_last_rev(c));
	}
	atomic_store(&done, true);
	for (i = 0; i < nw; i++) pthread_join(t[i], NULL);
	printf("done %llu\n", (unsigned long long)events); fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) return 1;
	sc_close(c);
	return 0;
}
