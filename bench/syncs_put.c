/*
 * syncs-put: puts a fixed number of keys into a store of a running
 * storesd over many connections at once, each connection one put at a
 * time, and exits 0 when every put was acknowledged.  bench/syncs.sh
 * runs it under a traced storesd to count the syncs per commit; it
 * measures no time.
 *
 * usage: syncs-put SOCKET STORE CONNECTIONS PUTS
 */
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeclient.h"

struct putter {
	pthread_t	 t;
	const char	*sock;
	const char	*store;
	int		 id;
	atomic_long	*left;		/* puts not yet handed out */
	int		 failed;
};

static void *
putter_main(void *arg)
{
	struct putter	*p = arg;
	sc_conn		*c = sc_connect(p->sock);
	char		 key[32], val[100];
	long		 i;

	if (sc_errcode(c) != SC_OK) {
		fprintf(stderr, "syncs-put: %s\n", sc_errmsg(c));
		p->failed = 1;
		sc_close(c);
		return NULL;
	}
	memset(val, 'v', sizeof(val));
	while ((i = atomic_fetch_sub(p->left, 1)) > 0) {
		/* Keys spread over the tree, as random keys would be. */
		snprintf(key, sizeof(key), "k%08lx", (unsigned long)
		    ((uint64_t)i * 2654435761u % 1000003u));
		if (sc_put(c, NULL, p->store, NULL, key, strlen(key), val,
		    sizeof(val)) == -1) {
			fprintf(stderr, "syncs-put: %s\n", sc_errmsg(c));
			p->failed = 1;
			break;
		}
	}
	sc_close(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct putter	*p;
	atomic_long	 left;
	int		 i, n, failed = 0;

	if (argc != 5 || (n = atoi(argv[3])) < 1 || atol(argv[4]) < 1) {
		fprintf(stderr, "usage: syncs-put SOCKET STORE CONNECTIONS "
		    "PUTS\n");
		return 2;
	}
	atomic_init(&left, atol(argv[4]));
	if ((p = calloc((size_t)n, sizeof(*p))) == NULL) {
		perror("syncs-put");
		return 1;
	}
	for (i = 0; i < n; i++) {
		p[i] = (struct putter){ .sock = argv[1], .store = argv[2],
		    .id = i, .left = &left };
		if (pthread_create(&p[i].t, NULL, putter_main, &p[i]) != 0) {
			perror("syncs-put");
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		pthread_join(p[i].t, NULL);
		failed |= p[i].failed;
	}
	free(p);
	return failed;
}
