/*
 * storesd-bench: runs every workload of the performance issue against a
 * storesd and a redis-server it starts itself on private sockets, plus
 * the anchors, and writes one table of the results.
 *
 *	storesd-bench [--smoke] [--seconds S] [--build DIR] [--out DIR]
 *	    [--only 1,2,...]	(workloads 1 to 12)
 *
 * --smoke runs everything briefly on small data: a check that the
 * benchmark works, not a measurement.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static struct result	 results[16];
static size_t		 nresults;
static unsigned		 only;	/* bit n: run workload n (0: all) */

static bool
wanted(int workload)
{
	return only == 0 || (only & (1u << workload));
}

static struct result *
add(int workload, const char *name, const char *baseline, double target)
{
	struct result	*res = &results[nresults++];

	memset(res, 0, sizeof(*res));
	res->workload = workload;
	res->name = name;
	res->baseline = baseline;
	res->target = target;
	return res;
}

static void
fill(struct result *res, const struct measure *m, const struct measure *b)
{
	res->ops = m->ops;
	res->p50 = hist_us(&m->h, 0.5);
	res->p99 = hist_us(&m->h, 0.99);
	if (b) {
		res->base_ops = b->ops;
		res->base_p50 = hist_us(&b->h, 0.5);
		res->base_p99 = hist_us(&b->h, 0.99);
	}
	fprintf(stderr, "bench: %d %-28s %10.0f/s", res->workload, res->name,
	    res->ops);
	if (b)
		fprintf(stderr, "  %s %10.0f/s  ratio %.2f", res->baseline,
		    b->ops, b->ops ? res->ops / b->ops : 0);
	fprintf(stderr, "\n");
}

static int
redis_fsync(const struct backend *be, const char *mode)
{
	redisContext	*c = redisConnectUnix(be->path);
	redisReply	*r;
	int		 rc = -1;

	if (c && !c->err &&
	    (r = redisCommand(c, "CONFIG SET appendfsync %s", mode)) != NULL) {
		rc = r->type == REDIS_REPLY_STATUS ? 0 : -1;
		freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return rc;
}


static void
usage(void)
{
	fprintf(stderr, "usage: storesd-bench [--smoke] [--seconds S] "
	    "[--build DIR] [--out DIR] [--only 1,2,...]\n");
	exit(2);
}

/*
 * One side of a comparison.  Sides are measured in alternating rounds
 * (a, b, a, b...) and each side's median round is reported, so a drift
 * of the machine during the run (another tenant, frequency changes)
 * falls on both sides alike instead of on one.
 */
#define ROUNDS	3

struct side {
	enum { S_GET, S_PUT, S_YCSB, S_BARE, S_BULK, S_LMDB, S_ASYNC } kind;
	const struct backend	*be;
	int			 nconn;
	int			 pipeline;
	int			 table;
	int			 pct;
};

static int
measure(const struct side *s, struct run *r, int round, struct measure *m)
{
	switch (s->kind) {
	case S_GET:
		return measure_get(s->be, r, s->nconn, s->pipeline, m);
	case S_PUT:
		return measure_put(s->be, r, s->table, s->nconn, m);
	case S_YCSB:
		return measure_ycsb(s->be, r, s->pct, s->nconn, m);
	case S_BARE:
		return measure_bare_rtt(r, m);
	case S_BULK:
		return measure_bulk(s->be, r, round, m);
	case S_LMDB:
		return measure_lmdb_bulk(r, round, m);
	case S_ASYNC:
		return measure_async_get(s->be, r, m);
	}
	return -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
compare(struct result *res, struct run *r, const struct side *a,
    const struct side *b)
{
	struct measure	 m, ta, tb;
	double		 oa[ROUNDS], ob[ROUNDS];
	int		 i;

	memset(&ta, 0, sizeof(ta));
	memset(&tb, 0, sizeof(tb));
	for (i = 0; i < ROUNDS; i++) {
		if (measure(a, r, i, &m) == -1)
			return -1;
		oa[i] = m.ops;
		hist_merge(&ta.h, &m.h);
		if (measure(b, r, i, &m) == -1)
			return -1;
		ob[i] = m.ops;
		hist_merge(&tb.h, &m.h);
	}
	qsort(oa, ROUNDS, sizeof(oa[0]), cmp_double);
	qsort(ob, ROUNDS, sizeof(ob[0]), cmp_double);
	ta.ops = oa[ROUNDS / 2];
	tb.ops = ob[ROUNDS / 2];
	fill(res, &ta, &tb);
	return 0;
}

static int
bench(struct run *r, const char *out)
{
	struct backend	 sd = be_storesd, rd = be_redis;
	struct measure	 m;
	struct result	*res;
	static const struct { const char *name; int pct; } ycsb[] = {
		{ "YCSB A (50% read), zipfian", 50 },
		{ "YCSB B (95% read), zipfian", 95 },
		{ "YCSB C (100% read), zipfian", 100 },
	};
	size_t		 i;
	int		 rc = 0;

	if (make_keys(r->nkeys > r->bulk_keys ? r->nkeys : r->bulk_keys) == -1)
		return -1;
	/* Redis loads its keys with everysec; the workloads say which. */
	if (start_storesd(&r->storesd, r->build, r->dir, r->sockdir) == -1 ||
	    start_redis(&r->redis, r->dir, r->sockdir, "everysec") == -1) {
		fprintf(stderr, "bench: cannot start the servers\n");
		return -1;
	}
	sd.path = r->storesd.sock;
	sd.pid = r->storesd.pid;
	rd.path = r->redis.sock;
	rd.pid = r->redis.pid;
	/* Workloads 7 and 9 bring their own data. */
	if ((wanted(1) || wanted(2) || wanted(3) || wanted(4) || wanted(5) ||
	    wanted(6) || wanted(10)) && (populate(&sd, T_DURABLE, r->nkeys) == -1 ||
	    populate(&sd, T_NOSYNC, r->nkeys) == -1 ||
	    populate(&rd, T_DURABLE, r->nkeys) == -1))
		return -1;
	if (redis_fsync(&rd, "always") == -1)
		return -1;

	if (wanted(1)) {
		struct measure	 rm;

		res = add(1, "get, 1 connection", "bare Unix-socket round trip",
		    0.9);
		rc |= compare(res, r, &(struct side){ S_GET, &sd, 1, 1, 0, 0 },
		    &(struct side){ S_BARE, NULL, 1, 1, 0, 0 });
		/* What the alternative does on the same path, for context. */
		if (measure_get(&rd, r, 1, 1, &rm) == 0) {
			snprintf(res->note, sizeof(res->note), "Redis GET over "
			    "one connection in this run: %.0f/s, %.2f of the "
			    "bare round trip.", rm.ops, res->base_ops ?
			    rm.ops / res->base_ops : 0);
		}
	}
	if (wanted(2))
		rc |= compare(add(2, "get, 16 connections", "Redis GET", 1.2),
		    r, &(struct side){ S_GET, &sd, 16, 1, 0, 0 },
		    &(struct side){ S_GET, &rd, 16, 1, 0, 0 });
	if (wanted(3))
		rc |= compare(add(3, "get, 1 connection, 16 pipelined",
		    "Redis GET, pipelined", 1.2), r,
		    &(struct side){ S_GET, &sd, 1, 16, 0, 0 },
		    &(struct side){ S_GET, &rd, 1, 16, 0, 0 });
	if (wanted(10))
		rc |= compare(add(10, "get, 1 async connection, 256 in flight",
		    "Redis GET, hiredis async (libevent)", 1.2), r,
		    &(struct side){ S_ASYNC, &sd, 1, 256, 0, 0 },
		    &(struct side){ S_ASYNC, &rd, 1, 256, 0, 0 });
	if (wanted(4))
		rc |= compare(add(4, "put sync=full, 32 connections",
		    "Redis SET, appendfsync always", 2.0), r,
		    &(struct side){ S_PUT, &sd, 32, 1, T_DURABLE, 0 },
		    &(struct side){ S_PUT, &rd, 32, 1, T_DURABLE, 0 });
	for (i = 0; i < 3 && wanted(6); i++)
		rc |= compare(add(6, ycsb[i].name,
		    "Redis, appendfsync always", 1.2), r,
		    &(struct side){ S_YCSB, &sd, 16, 1, T_DURABLE, ycsb[i].pct },
		    &(struct side){ S_YCSB, &rd, 16, 1, T_DURABLE,
		    ycsb[i].pct });
	if (wanted(5)) {
		if (redis_fsync(&rd, "everysec") == -1)
			return -1;
		rc |= compare(add(5, "put sync=none, 32 connections",
		    "Redis SET, appendfsync everysec", 1.0), r,
		    &(struct side){ S_PUT, &sd, 32, 1, T_NOSYNC, 0 },
		    &(struct side){ S_PUT, &rd, 32, 1, T_NOSYNC, 0 });
	}
	if (wanted(12))
		rc |= compare(add(12, "put sync=full, 32 connections, history",
		    "the same without history (workload 4)", 0.8), r,
		    &(struct side){ S_PUT, &sd, 32, 1, T_HIST, 0 },
		    &(struct side){ S_PUT, &sd, 32, 1, T_DURABLE, 0 });
	if (wanted(11)) {
		res = add(11, "watch: 100 watchers of one prefix, events/s",
		    "", 0);
		if (measure_watch(&sd, r, &m) == -1) {
			fprintf(stderr, "bench: the watch workload failed\n");
			return -1;
		}
		fill(res, &m, NULL);
		snprintf(res->note, sizeof(res->note), "One client puts "
		    "(sync = full, history on) while 100 connections each "
		    "watch the prefix; p50 and p99 are the delay from a "
		    "put's send (its commit and sync included) to its "
		    "event's arrival at a watcher.");
	}
	if (wanted(7))
		rc |= compare(add(7, "bulk load, batches of 10,000",
		    "in-process LMDB, same batches", 0.5), r,
		    &(struct side){ S_BULK, &sd, 1, 1, T_BULK, 0 },
		    &(struct side){ S_LMDB, NULL, 1, 1, T_BULK, 0 });
	if (wanted(8)) {
		res = add(8, "daemon RSS after the run", "Redis RSS", 0);
		res->has_proc = true;
		res->rss_mib = rss_mib(sd.pid);
		res->base_rss_mib = rss_mib(rd.pid);
		fprintf(stderr, "bench: 8 RSS %.1f MiB (redis %.1f MiB)\n",
		    res->rss_mib, res->base_rss_mib);
	}
	if (wanted(9)) {
		res = add(9, "many repos: put + get in each", "", 0);
		res->has_repos = true;
		if (measure_repos(r, &m, res) == -1) {
			fprintf(stderr, "bench: the many-repos workload "
			    "failed\n");
			return -1;
		}
		fill(res, &m, NULL);
	}
	if (rc != 0)
		return -1;
	report(results, nresults, r, out);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "smoke",   no_argument,	NULL, 'S' },
		{ "seconds", required_argument, NULL, 's' },
		{ "build",   required_argument, NULL, 'b' },
		{ "out",     required_argument, NULL, 'o' },
		{ "only",    required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 }
	};
	struct run	 r;
	const char	*out = "bench/results";
	char		 dir[512], sockdir[64], *abs, *end;
	const char	*p;
	unsigned long	 n;
	int		 ch, rc;

	memset(&r, 0, sizeof(r));
	r.seconds = 1;	/* per round; ROUNDS rounds per side */
	r.nkeys = NKEYS_FULL;
	r.bulk_keys = 1000000;
	r.bulk_batch = 10000;
	r.repos = 10000;
	r.build = "build";
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			r.seconds = 0.1;
			r.nkeys = 2000;
			r.bulk_keys = 20000;
			r.bulk_batch = 1000;
			r.repos = 200;
			break;
		case 's':
			r.seconds = atof(optarg);
			break;
		case 'b':
			r.build = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'O':
			/* "1,3,10": run only these (for profiling one). */
			for (p = optarg; *p; p = *end ? end + 1 : end) {
				n = strtoul(p, &end, 10);
				if (end == p || n < 1 || n > 12)
					usage();
				only |= 1u << n;
			}
			break;
		default:
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	/* On the build's disk, not a tmpfs: fsync must cost what it costs. */
	snprintf(dir, sizeof(dir), "%s/bench.XXXXXX", r.build);
	if (mkdtemp(dir) == NULL || (abs = realpath(dir, NULL)) == NULL) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	/* Sockets and the notify path must be absolute, and fit sun_path. */
	r.dir = abs;
	snprintf(sockdir, sizeof(sockdir), "/tmp/storesd-bench.XXXXXX");
	if (mkdtemp(sockdir) == NULL) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", sockdir,
		    strerror(errno));
		hs_rmtree(r.dir);
		free(abs);
		return 1;
	}
	r.sockdir = sockdir;
	rc = bench(&r, out);
	if (stop_proc(&r.storesd) != 0) {
		fprintf(stderr, "bench: storesd did not stop cleanly\n");
		rc = -1;
	}
	stop_proc(&r.redis);
	hs_rmtree(r.dir);
	hs_rmtree(r.sockdir);
	free(abs);
	return rc == 0 ? 0 : 1;
}
