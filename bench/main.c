/*
 * storesd-bench: runs every workload of the performance issue against a
 * storesd and a redis-server it starts itself on private sockets, plus
 * the anchors, and writes the run's figures as JSON and its table.
 *
 *	storesd-bench [--smoke] [--seconds S] [--build DIR] [--out DIR]
 *	    [--json FILE] [--only 1,2,...]	(workloads 1 to 12)
 *	storesd-bench --report [--out DIR] [--readme FILE] RUN.json...
 *
 * --smoke runs everything briefly on small data: a check that the
 * benchmark works, not a measurement.  --report makes the table of
 * several runs (make bench runs BENCH_RUNS of them): their medians and
 * min-max, into DIR/latest.md, DIR/latest.json and the README.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static struct result	 results[20];	/* 16 rows with every workload */
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

	/* Every figure not measured stays NAN, out of the run's JSON. */
	*res = (struct result){
		.ops = NAN, .p50 = NAN, .p99 = NAN, .base_ops = NAN,
		.base_p50 = NAN, .base_p99 = NAN, .cpu_ms = NAN,
		.base_cpu_ms = NAN, .pages = NAN, .commits_per_s = NAN,
		.writes_per_commit = NAN, .pages_per_commit = NAN,
		.redis_ops = NAN, .redis_cpu_ms = NAN, .rss_mib = NAN,
		.base_rss_mib = NAN,
		.cold_p50 = NAN, .cold_p99 = NAN, .rss_after_idle_mib = NAN,
		.fds_start = NAN, .fds_end = NAN, .fds_after_idle = NAN,
	};
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
	    "[--build DIR] [--out DIR] [--json FILE] [--only 1,2,...]\n"
	    "       storesd-bench --report [--out DIR] [--readme FILE] "
	    "RUN.json...\n");
	exit(2);
}

/*
 * One side of a comparison.  Sides are measured in alternating rounds
 * (a, b, a, b...) and each side's median round is reported, so a drift
 * of the machine during the run (another tenant, frequency changes)
 * falls on both sides alike instead of on one.
 */
struct side {
	enum { S_GET, S_PUT, S_YCSB, S_BARE, S_BULK, S_LMDB, S_ASYNC,
	    S_DISK } kind;
	const struct backend	*be;
	int			 nconn;
	int			 pipeline;	/* S_DISK: pages per sync */
	int			 table;
	int			 pct;
};

/*
 * What a side's rounds cost its server, summed over the rounds: CPU time
 * from /proc, and for storesd's durable env its commits, from its stats.
 */
struct cost {
	double		 cpu;		/* seconds; < 0: not measured */
	double		 secs;		/* time measured */
	uint64_t	 n;		/* operations */
	uint64_t	 commits;	/* when has_commits */
	uint64_t	 writes;
	double		 wbytes;	/* < 0: not measured */
	bool		 has_commits;
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
	case S_DISK:
		return measure_disk_sync(r, s->pipeline, m);
	}
	return -1;
}

static void
cost_init(struct cost *c, const struct side *s)
{
	memset(c, 0, sizeof(*c));
	/* Only storesd's durable env waits on the disk's syncs. */
	c->has_commits = s->be && s->table == T_DURABLE &&
	    (s->kind == S_PUT || s->kind == S_YCSB) &&
	    strcmp(s->be->name, "storesd") == 0;
}

/* One round of side s, adding what it cost to c. */
static int
measure_cost(const struct side *s, struct run *r, int round,
    struct measure *m, struct cost *c)
{
	pid_t		 pid = s->be ? s->be->pid : 0;
	double		 cpu0, cpu1, b0, b1;
	uint64_t	 c0 = 0, w0 = 0, c1 = 0, w1 = 0;

	/* The stats requests fall outside the CPU time measured. */
	if (c->has_commits &&
	    store_commits(s->be, s->table, &c0, &w0) == -1)
		c->has_commits = false;
	b0 = c->has_commits ? write_bytes(pid) : -1;
	cpu0 = pid > 0 ? cpu_seconds(pid) : -1;
	if (measure(s, r, round, m) == -1)
		return -1;
	cpu1 = pid > 0 ? cpu_seconds(pid) : -1;
	b1 = c->has_commits ? write_bytes(pid) : -1;
	if (b0 < 0 || b1 < 0 || c->wbytes < 0)
		c->wbytes = -1;
	else
		c->wbytes += b1 - b0;
	if (cpu0 < 0 || cpu1 < 0 || c->cpu < 0)
		c->cpu = -1;
	else
		c->cpu += cpu1 - cpu0;
	/* Counters that went back: the env was closed and opened again. */
	if (c->has_commits && (store_commits(s->be, s->table, &c1, &w1) ==
	    -1 || c1 < c0 || w1 < w0))
		c->has_commits = false;
	if (c->has_commits) {
		c->commits += c1 - c0;
		c->writes += w1 - w0;
	}
	c->n += m->n;
	if (m->ops > 0)
		c->secs += (double)m->n / m->ops;
	return 0;
}

/* Server CPU milliseconds per 100,000 operations, or NAN. */
static double
cpu_ms(const struct cost *c)
{
	return c->cpu >= 0 && c->n > 0 ? c->cpu * 1e3 * 1e5 / (double)c->n :
	    NAN;
}

static void
fill_cost(struct result *res, const struct cost *ca, const struct cost *cb)
{
	res->cpu_ms = cpu_ms(ca);
	if (cb)
		res->base_cpu_ms = cpu_ms(cb);
	if (ca->has_commits && ca->commits > 0 && ca->secs > 0) {
		res->commits_per_s = (double)ca->commits / ca->secs;
		res->writes_per_commit = (double)ca->writes /
		    (double)ca->commits;
		/* Everything storesd wrote in the rounds is the env's pages
		 * and meta pages: the rounds do nothing else, and log
		 * nothing. */
		if (ca->wbytes >= 0)
			res->pages_per_commit = ca->wbytes / 4096.0 /
			    (double)ca->commits;
		fprintf(stderr, "bench: %d %-28s %10.0f commits/s, %.1f "
		    "writes each, %.1f pages\n", res->workload, res->name,
		    res->commits_per_s, res->writes_per_commit,
		    res->pages_per_commit);
	}
}

/*
 * Side a against side b in ROUNDS alternating rounds; the median round
 * of each, with its cost.  With b NULL, a alone.
 */
static int
compare(struct result *res, struct run *r, const struct side *a,
    const struct side *b)
{
	struct measure	 m, ta, tb;
	struct cost	 ca, cb;
	double		 oa[ROUNDS], ob[ROUNDS];
	int		 i;

	memset(&ta, 0, sizeof(ta));
	memset(&tb, 0, sizeof(tb));
	cost_init(&ca, a);
	if (b)
		cost_init(&cb, b);
	for (i = 0; i < ROUNDS; i++) {
		if (measure_cost(a, r, i, &m, &ca) == -1)
			return -1;
		oa[i] = m.ops;
		hist_merge(&ta.h, &m.h);
		if (b == NULL)
			continue;
		if (measure_cost(b, r, i, &m, &cb) == -1)
			return -1;
		ob[i] = m.ops;
		hist_merge(&tb.h, &m.h);
	}
	ta.ops = median(oa, ROUNDS);
	tb.ops = b ? median(ob, ROUNDS) : 0;
	fill(res, &ta, b ? &tb : NULL);
	fill_cost(res, &ca, b ? &cb : NULL);
	return 0;
}

static int
bench(struct run *r, const char *json)
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
	/* First, on a quiet disk: the limit of the durable workloads. */
	if (wanted(4) || wanted(6)) {
		static const struct { const char *name; int pages; } disk[] = {
			{ "pwrite of 4 KiB + fdatasync", 1 },
			{ "16 scattered 4 KiB pages + fdatasync",
			    DISK_LIMIT_PAGES },
			{ "2 KiB appended + fdatasync", 0 },
		};

		for (i = 0; i < sizeof(disk) / sizeof(disk[0]); i++) {
			res = add(0, disk[i].name, "", 0);
			res->pages = disk[i].pages;
			rc |= compare(res, r, &(struct side){ S_DISK, NULL, 1,
			    disk[i].pages, 0, 0 }, NULL);
		}
	}
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
		struct side	 rs = { S_GET, &rd, 1, 1, 0, 0 };
		struct measure	 rm;
		struct cost	 rc1;

		res = add(1, "get, 1 connection", "bare Unix-socket round trip",
		    0.9);
		rc |= compare(res, r, &(struct side){ S_GET, &sd, 1, 1, 0, 0 },
		    &(struct side){ S_BARE, NULL, 1, 1, 0, 0 });
		/* What the alternative does on the same path, for context. */
		cost_init(&rc1, &rs);
		if (measure_cost(&rs, r, 0, &rm, &rc1) == 0) {
			res->redis_ops = rm.ops;
			res->redis_cpu_ms = cpu_ms(&rc1);
		}
	}
	if (wanted(2))
		rc |= compare(add(2, "get, 16 connections", "Redis GET", 1.2),
		    r, &(struct side){ S_GET, &sd, 16, 1, 0, 0 },
		    &(struct side){ S_GET, &rd, 16, 1, 0, 0 });
	if (wanted(3))
		rc |= compare(add(3, "get, 1 connection, 16 pipelined",
		    "Redis GET, pipelined", 1.3), r,
		    &(struct side){ S_GET, &sd, 1, 16, 0, 0 },
		    &(struct side){ S_GET, &rd, 1, 16, 0, 0 });
	if (wanted(10))
		rc |= compare(add(10, "get, 1 async connection, 256 in flight",
		    "Redis GET, hiredis async (libevent)", 1.2), r,
		    &(struct side){ S_ASYNC, &sd, 1, 256, 0, 0 },
		    &(struct side){ S_ASYNC, &rd, 1, 256, 0, 0 });
	if (wanted(4))
		rc |= compare(add(4, "put sync=full, 32 connections",
		    "Redis SET, appendfsync always", 1.2), r,
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
		struct cost	 c = { .cpu = 0 };
		double		 cpu0 = cpu_seconds(sd.pid);

		res = add(11, "watch: 100 watchers of one prefix, events/s",
		    "", 0);
		if (measure_watch(&sd, r, &m) == -1) {
			fprintf(stderr, "bench: the watch workload failed\n");
			return -1;
		}
		c.cpu = cpu0 < 0 ? -1 : cpu_seconds(sd.pid) - cpu0;
		c.n = m.n;
		fill(res, &m, NULL);
		fill_cost(res, &c, NULL);
	}
	if (wanted(7))
		rc |= compare(add(7, "bulk load, batches of 10,000",
		    "in-process LMDB, same batches", 0.5), r,
		    &(struct side){ S_BULK, &sd, 1, 1, T_BULK, 0 },
		    &(struct side){ S_LMDB, NULL, 1, 1, T_BULK, 0 });
	if (wanted(8)) {
		res = add(8, "daemon RSS after the run", "Redis RSS", 0);
		res->rss_mib = rss_mib(sd.pid);
		res->base_rss_mib = rss_mib(rd.pid);
		fprintf(stderr, "bench: 8 RSS %.1f MiB (redis %.1f MiB)\n",
		    res->rss_mib, res->base_rss_mib);
	}
	if (wanted(9)) {
		struct cost	 c = { .cpu = 0 };
		double		 cpu0 = cpu_seconds(sd.pid);

		res = add(9, "many repos: put + get in each", "", 0);
		if (measure_repos(r, &m, res) == -1) {
			fprintf(stderr, "bench: the many-repos workload "
			    "failed\n");
			return -1;
		}
		c.cpu = cpu0 < 0 ? -1 : cpu_seconds(sd.pid) - cpu0;
		c.n = m.n;
		fill(res, &m, NULL);
		fill_cost(res, &c, NULL);
	}
	if (rc != 0)
		return -1;
	if (report_run_json(json, results, nresults, r, r->smoke) == -1)
		return -1;
	return report_runs((char *[]){ (char *)json }, 1,
	    &(struct report_out){ .table = stdout });
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
		{ "json",    required_argument, NULL, 'j' },
		{ "report",  no_argument,	NULL, 'R' },
		{ "readme",  required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct report_out	 ro = { .table = stdout,
	    .analysis = "bench/ANALYSIS.md" };
	struct run		 r;
	const char		*out = "bench/results", *json = NULL;
	char			 dir[512], sockdir[64], jpath[512], *abs;
	char			*end;
	const char		*p;
	unsigned long		 n;
	int			 ch, rc, reporting = 0;

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
			r.smoke = true;
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
		case 'j':
			json = optarg;
			break;
		case 'R':
			reporting = 1;
			break;
		case 'r':
			ro.readme = optarg;
			break;
		default:
			usage();
		}
	}
	if (reporting) {
		if (optind == argc)
			usage();
		ro.dir = out;
		return report_runs(argv + optind, (size_t)(argc - optind),
		    &ro) == 0 ? 0 : 1;
	}
	if (optind != argc || ro.readme)
		usage();
	/* A run alone writes its JSON only: the table of record is the
	 * report of several (make bench). */
	if (json == NULL) {
		snprintf(jpath, sizeof(jpath), "%s/run.json", out);
		json = jpath;
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
	rc = bench(&r, json);
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
