/*
 * The workloads, written once for every backend: n threads, each with a
 * connection of its own, for run->seconds, keys drawn uniformly or from
 * YCSB's scrambled zipfian distribution.
 */
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "storeclient.h"

#define MAXCONN		64
#define ZIPF_THETA	0.99

static char	 value[VALUE_SIZE];

/* ----------------------------------------------------------- randomness */

uint64_t
xorshift(uint64_t *s)
{
	uint64_t	 x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static double
uniform(uint64_t *s)
{
	return (double)(xorshift(s) >> 11) / (double)(1ULL << 53);
}

/* YCSB's zipfian generator (Gray et al.), over n items. */
struct zipf {
	uint64_t	 n;
	double		 zetan, alpha, eta, half;
};

static void
zipf_init(struct zipf *z, uint64_t n)
{
	double		 zeta2 = 1 + pow(0.5, ZIPF_THETA);
	uint64_t	 i;

	z->n = n;
	z->zetan = 0;
	for (i = 1; i <= n; i++)
		z->zetan += 1 / pow((double)i, ZIPF_THETA);
	z->alpha = 1 / (1 - ZIPF_THETA);
	z->eta = (1 - pow(2.0 / (double)n, 1 - ZIPF_THETA)) /
	    (1 - zeta2 / z->zetan);
	z->half = pow(0.5, ZIPF_THETA);
}

/* A rank, scrambled so the hot keys are spread over the key space. */
static uint64_t
zipf_next(const struct zipf *z, uint64_t *s)
{
	double		 u = uniform(s), uz = u * z->zetan;
	uint64_t	 rank, h = 0xcbf29ce484222325ULL;
	int		 i;

	if (uz < 1)
		rank = 0;
	else if (uz < 1 + z->half)
		rank = 1;
	else
		rank = (uint64_t)((double)z->n *
		    pow(z->eta * u - z->eta + 1, z->alpha));
	for (i = 0; i < 8; i++) {
		h ^= (rank >> (i * 8)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h % z->n;
}

/* -------------------------------------------------------------- threads */

enum wl { WL_GET, WL_PUT, WL_YCSB };

struct worker {
	const struct backend	*be;
	struct run		*r;
	enum wl			 wl;
	int			 table;
	int			 pipeline;	/* gets per round trip */
	int			 read_pct;
	const struct zipf	*zipf;
	uint64_t		 seed;
	struct hist		 h;
	uint64_t		 ops;
	uint64_t		 errors;
	atomic_bool		*stop;
	pthread_barrier_t	*go;
};

/* Made once: formatting keys inside the timed loops would be measured. */
static char	(*keytab)[16];
static unsigned	 nkeytab;

int
make_keys(unsigned n)
{
	unsigned	 i;

	if (n <= nkeytab)
		return 0;
	free(keytab);
	if ((keytab = calloc(n, sizeof(*keytab))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(keytab[i], sizeof(keytab[i]), KEY_FMT, i);
	nkeytab = n;
	return 0;
}

void
key_of(char *buf, uint64_t i)
{
	memcpy(buf, keytab[i], 16);
}

static void
one_op(struct worker *w, struct conn *c)
{
	char		 keys[64][16];
	uint64_t	 t = now_ns(), i;
	int		 k, rc;
	bool		 read;

	switch (w->wl) {
	case WL_GET:
		for (k = 0; k < w->pipeline; k++)
			key_of(keys[k], xorshift(&w->seed) % w->r->nkeys);
		rc = w->pipeline > 1 ? w->be->get_many(c, keys,
		    (size_t)w->pipeline) : w->be->get(c, keys[0],
		    strlen(keys[0]));
		w->ops += (uint64_t)w->pipeline;
		break;
	case WL_PUT:
		key_of(keys[0], xorshift(&w->seed) % w->r->nkeys);
		rc = w->be->put(c, keys[0], strlen(keys[0]), value,
		    sizeof(value));
		w->ops++;
		break;
	case WL_YCSB:
	default:
		i = zipf_next(w->zipf, &w->seed);
		key_of(keys[0], i);
		read = (int)(xorshift(&w->seed) % 100) < w->read_pct;
		rc = read ? w->be->get(c, keys[0], strlen(keys[0])) :
		    w->be->put(c, keys[0], strlen(keys[0]), value,
		    sizeof(value));
		w->ops++;
		break;
	}
	if (rc == -1)
		w->errors++;
	hist_add(&w->h, now_ns() - t);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct conn	*c = w->be->connect(w->be, w->table);

	pthread_barrier_wait(w->go);
	if (c == NULL) {
		w->errors++;
		return NULL;
	}
	while (!atomic_load_explicit(w->stop, memory_order_relaxed))
		one_op(w, c);
	w->be->close(c);
	return NULL;
}

/* Runs nconn workers like proto for r->seconds; fills m. */
static int
run_workers(const struct worker *proto, int nconn, struct measure *m)
{
	struct worker		 w[MAXCONN];
	pthread_t		 t[MAXCONN];
	pthread_barrier_t	 go;
	atomic_bool		 stop = false;
	uint64_t		 t0, ops = 0;
	int			 i;

	memset(m, 0, sizeof(*m));
	memset(value, 'v', sizeof(value));
	pthread_barrier_init(&go, NULL, (unsigned)nconn + 1);
	for (i = 0; i < nconn; i++) {
		w[i] = *proto;
		w[i].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		w[i].stop = &stop;
		w[i].go = &go;
		memset(&w[i].h, 0, sizeof(w[i].h));
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	pthread_barrier_wait(&go);
	t0 = now_ns();
	poll(NULL, 0, (int)(proto->r->seconds * 1000));
	atomic_store(&stop, true);
	for (i = 0; i < nconn; i++) {
		pthread_join(t[i], NULL);
		hist_merge(&m->h, &w[i].h);
		ops += w[i].ops;
		m->errors += w[i].errors;
	}
	m->n = ops;
	m->ops = (double)ops / ((double)(now_ns() - t0) / 1e9);
	pthread_barrier_destroy(&go);
	if (m->errors)
		fprintf(stderr, "bench: %s: %llu errors\n", proto->be->name,
		    (unsigned long long)m->errors);
	return 0;
}

int
measure_get(const struct backend *be, struct run *r, int nconn,
    int pipeline, struct measure *m)
{
	struct worker	 w = { .be = be, .r = r, .wl = WL_GET,
	    .table = T_DURABLE, .pipeline = pipeline };

	return run_workers(&w, nconn, m);
}

int
measure_put(const struct backend *be, struct run *r, int table, int nconn,
    struct measure *m)
{
	struct worker	 w = { .be = be, .r = r, .wl = WL_PUT,
	    .table = table, .pipeline = 1 };

	return run_workers(&w, nconn, m);
}

int
measure_ycsb(const struct backend *be, struct run *r, int read_pct,
    int nconn, struct measure *m)
{
	static struct zipf	 z;
	struct worker		 w = { .be = be, .r = r, .wl = WL_YCSB,
	    .table = T_DURABLE, .pipeline = 1, .read_pct = read_pct,
	    .zipf = &z };

	if (z.n != r->nkeys)
		zipf_init(&z, r->nkeys);
	return run_workers(&w, nconn, m);
}

/* ---------------------------------------------------------- the others */

int
populate(const struct backend *be, int table, unsigned nkeys)
{
	struct conn	*c = be->connect(be, table);
	char		(*keys)[16];
	unsigned	 i, j;
	int		 rc = 0;

	if (c == NULL || (keys = calloc(10000, 16)) == NULL)
		return -1;
	memset(value, 'v', sizeof(value));
	for (i = 0; i < nkeys && rc == 0; ) {
		if (be->put_batch == NULL) {
			key_of(keys[0], i++);
			rc = be->put(c, keys[0], strlen(keys[0]), value,
			    sizeof(value));
			continue;
		}
		for (j = 0; j < 10000 && i < nkeys; j++, i++)
			key_of(keys[j], i);
		rc = be->put_batch(c, NULL, keys, j, value, sizeof(value));
	}
	free(keys);
	be->close(c);
	return rc;
}

int
measure_bulk(const struct backend *be, struct run *r, int round,
    struct measure *m)
{
	struct conn	*c = be->connect(be, T_BULK);
	char		(*keys)[16], repo[16];
	uint64_t	 t0, t;
	unsigned	 i = 0, j;
	int		 rc = 0;

	memset(m, 0, sizeof(*m));
	if (c == NULL || (keys = calloc(r->bulk_batch, 16)) == NULL)
		return -1;
	memset(value, 'v', sizeof(value));
	snprintf(repo, sizeof(repo), "bulk%d", round);
	t0 = now_ns();
	while (i < r->bulk_keys && rc == 0) {
		t = now_ns();
		for (j = 0; j < r->bulk_batch && i < r->bulk_keys; j++, i++)
			key_of(keys[j], i);
		rc = be->put_batch(c, repo, keys, j, value, sizeof(value));
		hist_add(&m->h, now_ns() - t);
	}
	m->n = r->bulk_keys;
	m->ops = (double)m->n / ((double)(now_ns() - t0) / 1e9);
	free(keys);
	be->close(c);
	return rc;
}

/* ------------------------------------------------------------ many repos */

struct repo_worker {
	struct run	*r;
	unsigned	 first, step;
	struct hist	 cold;
	struct hist	 all;
	uint64_t	 errors;
	char		 first_err[300];
};

/* Counts a failed request, keeping what the first one said. */
static void
repo_error(struct repo_worker *w, sc_conn *c, const char *repo)
{
	if (w->errors++ == 0)
		snprintf(w->first_err, sizeof(w->first_err), "%s: %s: %s",
		    repo, sc_errname(sc_errcode(c)), sc_errmsg(c));
}

static void *
repo_main(void *arg)
{
	struct repo_worker	*w = arg;
	sc_conn			*c = sc_connect(w->r->storesd.sock);
	char			 repo[32];
	void			*v;
	size_t			 n;
	uint64_t		 t;
	unsigned		 i;

	for (i = w->first; i < w->r->repos; i += w->step) {
		snprintf(repo, sizeof(repo), "bench/r%05u", i);
		t = now_ns();
		if (sc_put(c, repo, "refs", NULL, "main", 4, "3f2a9c", 6) == -1)
			repo_error(w, c, repo);
		hist_add(&w->cold, now_ns() - t);
		t = now_ns();
		if (sc_get(c, repo, "refs", NULL, "main", 4, &v, &n) == 0)
			sc_free(v);
		else
			repo_error(w, c, repo);
		hist_add(&w->all, now_ns() - t);
	}
	sc_close(c);
	return NULL;
}

/* Waits (bounded) until storesd has no env open; returns 0 or -1. */
static int
wait_all_closed(struct run *r)
{
	sc_conn	*c = sc_connect(r->storesd.sock);
	sc_live	*l;
	int	 i, rc = -1;

	for (i = 0; i < 600 && c && sc_errcode(c) == SC_OK; i++) {
		if (sc_get_live(c, NULL, NULL, &l) == -1)
			break;
		if (l->n == 0) {
			sc_live_free(l);
			rc = 0;
			break;
		}
		sc_live_free(l);
		poll(NULL, 0, 100);
	}
	sc_close(c);
	return rc;
}

int
measure_repos(struct run *r, struct measure *m, struct result *res)
{
	struct repo_worker	 w[16];
	pthread_t		 t[16];
	struct hist		 cold;
	uint64_t		 t0;
	pid_t			 pid = r->storesd.pid;
	int			 i, nt = 16;

	memset(m, 0, sizeof(*m));
	memset(w, 0, sizeof(w));
	memset(&cold, 0, sizeof(cold));
	if (wait_all_closed(r) == -1)
		return -1;
	res->fds_start = (double)hs_fds(pid);
	t0 = now_ns();
	for (i = 0; i < nt; i++) {
		w[i].r = r;
		w[i].first = (unsigned)i;
		w[i].step = (unsigned)nt;
		pthread_create(&t[i], NULL, repo_main, &w[i]);
	}
	for (i = 0; i < nt; i++) {
		pthread_join(t[i], NULL);
		hist_merge(&m->h, &w[i].all);
		hist_merge(&m->h, &w[i].cold);
		hist_merge(&cold, &w[i].cold);
		m->errors += w[i].errors;
		if (w[i].errors)
			fprintf(stderr, "bench: many repos: %llu requests "
			    "failed on one connection, the first with %s\n",
			    (unsigned long long)w[i].errors, w[i].first_err);
	}
	m->n = (uint64_t)r->repos * 2;
	m->ops = (double)m->n / ((double)(now_ns() - t0) / 1e9);
	res->cold_p50 = hist_us(&cold, 0.5);
	res->cold_p99 = hist_us(&cold, 0.99);
	res->rss_mib = rss_mib(pid);
	res->fds_end = (double)hs_fds(pid);
	if (wait_all_closed(r) == -1)
		return -1;
	/* The daemon closes our last connection just after we do. */
	for (i = 0; i < 100 && (double)hs_fds(pid) > res->fds_start; i++)
		poll(NULL, 0, 20);
	res->fds_after_idle = (double)hs_fds(pid);
	res->rss_after_idle_mib = rss_mib(pid);
	return m->errors ? -1 : 0;
}
