/*
 * The results.  Each run writes its figures as JSON (report_run_json);
 * the report (report_runs) reads one or more runs and writes the table:
 * each figure is the median of the runs' and shows their min-max when
 * they differ, so a figure that moved between runs is shown as moving,
 * never as its best run.  A ratio is computed within each run (both
 * sides measured in the same minutes) and then its median taken.
 *
 * The tables go to stdout, OUT/latest.md (followed by the hand-written
 * bench/ANALYSIS.md), OUT/latest.json and the README, between its
 * markers.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define RSS_TARGET_MIB	64
/* Workload 1 must also serve at least what Redis does on its path. */
#define VS_REDIS_TARGET	1.0
#define MAXRUNS		64
#define MAXROWS		32

#define README_BEGIN	"<!-- BEGIN bench table: written by make bench " \
			"(storesd-bench --report), do not edit -->"
#define README_END	"<!-- END bench table -->"

/*
 * Every figure of a row: its key in the JSON of a run (the first layout's
 * keys kept) and where it lives in struct result.  The order is that of
 * enum fig.
 */
enum fig {
	F_OPS, F_P50, F_P99, F_BOPS, F_BP50, F_BP99, F_RATIO, F_CPU, F_BCPU,
	F_PAGES, F_COMMITS, F_WPC, F_PPC, F_DISKFRAC, F_ROPS, F_RRATIO,
	F_VSREDIS, F_RCPU,
	F_RSS, F_BRSS, F_COLD50, F_COLD99, F_RSSIDLE, F_FDS0, F_FDS1,
	F_FDSIDLE, NFIG
};

static const struct {
	const char	*key;
	size_t		 off;
} figs[NFIG] = {
#define FIG(e, k, f)	[e] = { k, offsetof(struct result, f) }
	FIG(F_OPS,	"ops_per_s",			ops),
	FIG(F_P50,	"p50_us",			p50),
	FIG(F_P99,	"p99_us",			p99),
	FIG(F_BOPS,	"baseline_ops_per_s",		base_ops),
	FIG(F_BP50,	"baseline_p50_us",		base_p50),
	FIG(F_BP99,	"baseline_p99_us",		base_p99),
	FIG(F_RATIO,	"ratio",			ratio),
	FIG(F_CPU,	"cpu_ms_per_100k",		cpu_ms),
	FIG(F_BCPU,	"baseline_cpu_ms_per_100k",	base_cpu_ms),
	FIG(F_PAGES,	"pages_per_sync",		pages),
	FIG(F_COMMITS,	"commits_per_s",		commits_per_s),
	FIG(F_WPC,	"writes_per_commit",		writes_per_commit),
	FIG(F_PPC,	"pages_per_commit",		pages_per_commit),
	FIG(F_DISKFRAC,	"disk_limit_fraction",		disk_fraction),
	FIG(F_ROPS,	"redis_ops_per_s",		redis_ops),
	FIG(F_RRATIO,	"redis_ratio",			redis_ratio),
	FIG(F_VSREDIS,	"ratio_vs_redis",		vs_redis),
	FIG(F_RCPU,	"redis_cpu_ms_per_100k",	redis_cpu_ms),
	FIG(F_RSS,	"rss_mib",			rss_mib),
	FIG(F_BRSS,	"baseline_rss_mib",		base_rss_mib),
	FIG(F_COLD50,	"cold_p50_us",			cold_p50),
	FIG(F_COLD99,	"cold_p99_us",			cold_p99),
	FIG(F_RSSIDLE,	"rss_after_idle_mib",		rss_after_idle_mib),
	FIG(F_FDS0,	"fds_start",			fds_start),
	FIG(F_FDS1,	"fds_end",			fds_end),
	FIG(F_FDSIDLE,	"fds_after_idle",		fds_after_idle),
#undef FIG
};

/* What the report needs of a run besides its rows. */
struct meta {
	char		 date[64];
	char		 system[128];
	double		 cpus;
	double		 seconds;
	double		 rounds;
	double		 nkeys;
	bool		 smoke;
};

/* One figure over the runs. */
struct series {
	double		 v[MAXRUNS];
	size_t		 n;
};

/* A row of the report: one workload over the runs. */
struct row {
	int		 workload;
	char		 name[96];
	char		 baseline[96];
	double		 target;	/* 0: none */
	struct series	 f[NFIG];
};

struct report {
	struct meta	 first, last;	/* of the first and the last run */
	size_t		 nruns;
	struct row	 rows[MAXROWS];
	size_t		 nrows;
};

/* ------------------------------------------------------------- numbers */

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* s's median, min and max (s is not changed); false when s is empty. */
static bool
spread(const struct series *s, double *med, double *min, double *max)
{
	double	 v[MAXRUNS];

	if (s->n == 0)
		return false;
	memcpy(v, s->v, s->n * sizeof(v[0]));
	*med = median(v, s->n);
	*min = v[0];
	*max = v[s->n - 1];
	return true;
}

static double
med(const struct row *w, enum fig f)
{
	double	 m, lo, hi;

	return spread(&w->f[f], &m, &lo, &hi) ? m : NAN;
}

static bool
has(const struct row *w, enum fig f)
{
	return w->f[f].n > 0;
}

/*
 * Figure f of w as "median (min–max)", or only the median when every run
 * gave what prints the same; "–" when no run measured it.  dec: decimals.
 */
static const char *
fmt(char *buf, size_t n, const struct row *w, enum fig f, int dec)
{
	char	 a[32], b[32];
	double	 m, lo, hi;

	if (!spread(&w->f[f], &m, &lo, &hi)) {
		snprintf(buf, n, "–");
		return buf;
	}
	snprintf(a, sizeof(a), "%.*f", dec, lo);
	snprintf(b, sizeof(b), "%.*f", dec, hi);
	/* A figure too long for buf is cut: the table shows it so. */
	if (strcmp(a, b) == 0 ? snprintf(buf, n, "%.*f", dec, m) < 0 :
	    snprintf(buf, n, "%.*f (%s–%s)", dec, m, a, b) < 0)
		snprintf(buf, n, "?");
	return buf;
}

/* CPU per 100k: whole milliseconds, unless that says too little. */
static const char *
fmt_cpu(char *buf, size_t n, const struct row *w, enum fig f)
{
	return fmt(buf, n, w, f, has(w, f) && med(w, f) < 100 ? 1 : 0);
}

/* ------------------------------------------------------------ one run */

/* v as a JSON string; ours hold no control characters. */
static void
json_strval(FILE *f, const char *v)
{
	const char	*p;

	fputc('"', f);
	for (p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

static void
json_str(FILE *f, const char *k, const char *v)
{
	fprintf(f, "\"%s\": ", k);
	json_strval(f, v);
}

static double *
field(struct result *r, enum fig f)
{
	return (double *)(void *)((char *)r + figs[f].off);
}

/* The figures worked out from others: ratios, the disk's share. */
static void
derive(struct result *r, const struct result *res, size_t n)
{
	size_t	 i;

	r->ratio = r->base_ops > 0 ? r->ops / r->base_ops : NAN;
	r->redis_ratio = r->redis_ops > 0 && r->base_ops > 0 ?
	    r->redis_ops / r->base_ops : NAN;
	r->vs_redis = r->redis_ops > 0 ? r->ops / r->redis_ops : NAN;
	r->disk_fraction = NAN;
	for (i = 0; i < n; i++)
		if (res[i].workload == 0 && res[i].pages == DISK_LIMIT_PAGES &&
		    res[i].ops > 0 && r->commits_per_s >= 0)
			r->disk_fraction = r->commits_per_s / res[i].ops;
}

int
report_run_json(const char *path, const struct result *res, size_t n,
    const struct run *run, bool smoke)
{
	struct result	 r;
	struct utsname	 u;
	char		 when[64];
	time_t		 t = time(NULL);
	FILE		*f;
	size_t		 i;
	int		 k;

	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uname(&u);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	fprintf(f, "{\n  \"layout\": 2, ");
	json_str(f, "date", when);
	fprintf(f, ", \"system\": \"%s %s\", \"cpus\": %ld, \"seconds\": %.2f, "
	    "\"rounds\": %d, \"nkeys\": %u, \"smoke\": %s,\n  \"results\": [\n",
	    u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), run->seconds,
	    ROUNDS, run->nkeys, smoke ? "true" : "false");
	for (i = 0; i < n; i++) {
		r = res[i];
		derive(&r, res, n);
		fprintf(f, "    { \"workload\": %d, ", r.workload);
		json_str(f, "name", r.name);
		fputs(", ", f);
		json_str(f, "baseline", r.baseline);
		if (r.target > 0)
			fprintf(f, ", \"target\": %.2f", r.target);
		for (k = 0; k < NFIG; k++)
			if (!isnan(*field(&r, (enum fig)k)))
				fprintf(f, ", \"%s\": %.3f", figs[k].key,
				    *field(&r, (enum fig)k));
		fprintf(f, " }%s\n", i + 1 < n ? "," : "");
	}
	fputs("  ]\n}\n", f);
	if (fclose(f) == EOF) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------- reading runs */

static void
read_meta(const struct jv *top, struct meta *m)
{
	const char	*s;
	double		 v;

	memset(m, 0, sizeof(*m));
	snprintf(m->date, sizeof(m->date), "%s",
	    (s = json_str_of(top, "date")) ? s : "(date not recorded)");
	snprintf(m->system, sizeof(m->system), "%s",
	    (s = json_str_of(top, "system")) ? s : "(system not recorded)");
	json_num(top, "cpus", &m->cpus);
	json_num(top, "seconds", &m->seconds);
	json_num(top, "rounds", &m->rounds);
	json_num(top, "nkeys", &m->nkeys);
	m->smoke = json_num(top, "smoke", &v) && v != 0;
}

/* The row of rp for (workload, name), added if new; NULL when full. */
static struct row *
row_of(struct report *rp, int workload, const char *name)
{
	struct row	*w;
	size_t		 i;

	for (i = 0; i < rp->nrows; i++)
		if (rp->rows[i].workload == workload &&
		    strcmp(rp->rows[i].name, name) == 0)
			return &rp->rows[i];
	if (rp->nrows == MAXROWS)
		return NULL;
	w = &rp->rows[rp->nrows++];
	memset(w, 0, sizeof(*w));
	w->workload = workload;
	snprintf(w->name, sizeof(w->name), "%s", name);
	return w;
}

static int
read_row(struct report *rp, const struct jv *o)
{
	struct row	*w;
	const char	*name, *base;
	double		 wl, v;
	int		 k;

	if (!json_num(o, "workload", &wl) ||
	    (name = json_str_of(o, "name")) == NULL)
		return 0;	/* not a row we know: skipped */
	if ((w = row_of(rp, (int)wl, name)) == NULL)
		return -1;
	if ((base = json_str_of(o, "baseline")) != NULL)
		snprintf(w->baseline, sizeof(w->baseline), "%s", base);
	/* The first layout wrote "-" or a sentence where none is a ratio. */
	if (json_num(o, "target", &v))
		w->target = v;
	for (k = 0; k < NFIG; k++)
		if (json_num(o, figs[k].key, &v) && w->f[k].n < MAXRUNS)
			w->f[k].v[w->f[k].n++] = v;
	return 0;
}

/*
 * Adds the run at path to rp: the first layout is an array of rows, this
 * one an object with the run's description and its rows in "results".
 */
static int
read_run(struct report *rp, const char *path)
{
	const struct jv	*rows;
	struct jv	*top;
	struct meta	 m;
	size_t		 i;
	int		 rc = -1;

	if ((top = json_load(path)) == NULL) {
		fprintf(stderr, "bench: %s: cannot read it as JSON\n", path);
		return -1;
	}
	rows = top->type == J_ARR ? top : json_get(top, "results");
	if (rows == NULL || rows->type != J_ARR) {
		fprintf(stderr, "bench: %s: no results in it\n", path);
		goto done;
	}
	read_meta(top, &m);
	if (rp->nruns == 0)
		rp->first = m;
	rp->last = m;
	for (i = 0; i < rows->n; i++)
		if (read_row(rp, &rows->kid[i]) == -1) {
			fprintf(stderr, "bench: %s: too many rows\n", path);
			goto done;
		}
	rp->nruns++;
	rc = 0;
done:
	json_free(top);
	return rc;
}

/* --------------------------------------------------------- the tables */

static bool
is_proc(const struct row *w)
{
	return w->workload == 8;
}

static bool
is_repos(const struct row *w)
{
	return w->workload == 9;
}

/* Whether w met its target, by the medians. */
static bool
met(const struct row *w)
{
	if (is_repos(w))
		return med(w, F_RSS) < RSS_TARGET_MIB &&
		    med(w, F_FDSIDLE) <= med(w, F_FDS0);
	if (has(w, F_VSREDIS) && med(w, F_VSREDIS) < VS_REDIS_TARGET)
		return false;
	if (w->target == 0)
		return true;
	return has(w, F_RATIO) && med(w, F_RATIO) >= w->target;
}

static void
target_text(const struct row *w, char *buf, size_t n)
{
	if (is_repos(w))
		snprintf(buf, n, "RSS < %d MiB, fds back to start",
		    RSS_TARGET_MIB);
	else if (w->target > 0 && has(w, F_VSREDIS))
		snprintf(buf, n, ">= %.1f, and >= %.1f × Redis", w->target,
		    VS_REDIS_TARGET);
	else if (w->target > 0)
		snprintf(buf, n, ">= %.1f", w->target);
	else
		snprintf(buf, n, "-");
}

static void
method(FILE *f, const struct report *rp)
{
	const struct meta	*m = &rp->last;

	if (rp->nruns > 1)
		fprintf(f, "%zu runs, %s to %s", rp->nruns, rp->first.date,
		    m->date);
	else
		fprintf(f, "One run, %s", m->date);
	/* A run of the first layout did not say what it ran on. */
	if (m->cpus > 0)
		fprintf(f, ", on %s, %.0f CPUs, %.0f keys of %d-byte values%s; "
		    "in each run, each side measured in %.0f alternating "
		    "rounds of %.1f s, its median round kept", m->system,
		    m->cpus, m->nkeys, VALUE_SIZE, m->smoke ? " (a smoke "
		    "run: a check, not a measurement)" : "", m->rounds,
		    m->seconds);
	fprintf(f, ". Client and servers on the same machine, Unix sockets, "
	    "data on the build's disk. ");
	if (rp->nruns > 1)
		fprintf(f, "Each figure is the median of the runs, with their "
		    "min–max when they differ; a ratio is taken within each "
		    "run, then its median; p50 and p99 are the medians of the "
		    "runs'. ");
	fprintf(f, "Server CPU is the server's user + system time (from "
	    "/proc/PID/stat) per 100,000 operations of the workload.\n\n");
}

static void
row_md(FILE *f, const struct row *w)
{
	char	 t[64], a[64], b[64], c[64], d[64], e[64], g[64], h[64];

	target_text(w, t, sizeof(t));
	if (is_proc(w)) {
		fprintf(f, "| %d | %s | RSS %s MiB | | | %s | %s MiB | | | | "
		    "%s | |\n", w->workload, w->name,
		    fmt(a, sizeof(a), w, F_RSS, 1), w->baseline,
		    fmt(b, sizeof(b), w, F_BRSS, 1), t);
		return;
	}
	if (is_repos(w)) {
		fprintf(f, "| %d | %s | %s | %.0f | %.0f | cold open p50 %.0f "
		    "µs, p99 %.0f µs; RSS %s MiB (%s after idle close); fds "
		    "%s at start, %s at end, %s after idle close | | | %s | "
		    "| %s | %s |\n", w->workload, w->name,
		    fmt(a, sizeof(a), w, F_OPS, 0), med(w, F_P50),
		    med(w, F_P99), med(w, F_COLD50), med(w, F_COLD99),
		    fmt(b, sizeof(b), w, F_RSS, 1),
		    fmt(c, sizeof(c), w, F_RSSIDLE, 1),
		    fmt(d, sizeof(d), w, F_FDS0, 0),
		    fmt(e, sizeof(e), w, F_FDS1, 0),
		    fmt(g, sizeof(g), w, F_FDSIDLE, 0),
		    fmt_cpu(h, sizeof(h), w, F_CPU), t,
		    met(w) ? "yes" : "**no**");
		return;
	}
	fprintf(f, "| %d | %s | %s | %.0f | %.0f | %s", w->workload, w->name,
	    fmt(a, sizeof(a), w, F_OPS, 0), med(w, F_P50), med(w, F_P99),
	    w->baseline);
	if (has(w, F_BP50))
		fprintf(f, " (p50 %.0f µs, p99 %.0f µs)", med(w, F_BP50),
		    med(w, F_BP99));
	fprintf(f, " | %s | %s | %s | %s | %s | %s |\n",
	    fmt(a, sizeof(a), w, F_BOPS, 0), fmt(b, sizeof(b), w, F_RATIO, 2),
	    fmt_cpu(c, sizeof(c), w, F_CPU), fmt_cpu(d, sizeof(d), w, F_BCPU),
	    t, met(w) ? "yes" : "**no**");
}

/* The disk's sync rates and what storesd's durable commits made of them. */
static void
disk_md(FILE *f, const struct report *rp)
{
	const struct row	*w;
	char			 a[64], b[64], c[64], d[64];
	bool			 any = false;
	size_t			 i;

	for (i = 0; i < rp->nrows; i++) {
		w = &rp->rows[i];
		if (w->workload != 0)
			continue;
		fprintf(f, "%s%s %s/s", any ? "; " : "\nThe data disk (a "
		    "file on the data directory's file system), syncs per "
		    "second: ", w->name, fmt(a, sizeof(a), w, F_OPS, 0));
		any = true;
	}
	if (any)
		fprintf(f, ". A `sync = full` commit writes its pages and "
		    "syncs them once (its meta page is made durable by the "
		    "next commit's sync), so the rate of %d scattered pages "
		    "is the disk's limit on storesd's commits; Redis's "
		    "`appendfsync always` appends and syncs once per event-"
		    "loop turn, the appended rate.\n", DISK_LIMIT_PAGES);
	any = false;
	for (i = 0; i < rp->nrows; i++) {
		w = &rp->rows[i];
		if (!has(w, F_COMMITS))
			continue;
		if (!any)
			fprintf(f, "\n| # | workload | storesd commits/s | "
			    "writes per commit | pages written per commit | "
			    "fraction of the disk's limit |\n"
			    "|---|---|---|---|---|---|\n");
		any = true;
		fprintf(f, "| %d | %s | %s | %s | %s | %s |\n", w->workload,
		    w->name, fmt(a, sizeof(a), w, F_COMMITS, 0),
		    fmt(b, sizeof(b), w, F_WPC, 1),
		    fmt(d, sizeof(d), w, F_PPC, 1),
		    fmt(c, sizeof(c), w, F_DISKFRAC, 2));
	}
}

static void
notes_md(FILE *f, const struct report *rp)
{
	const struct row	*w;
	char			 a[64], b[64], c[64], d[64];
	bool			 any = false;
	size_t			 i;

	for (i = 0; i < rp->nrows; i++) {
		w = &rp->rows[i];
		if (has(w, F_ROPS))
			fprintf(f, "\nWorkload %d: Redis GET on the same path: "
			    "%s/s, %s of the %s, server CPU %s ms per 100k; "
			    "storesd / Redis: %s.\n", w->workload,
			    fmt(a, sizeof(a), w, F_ROPS, 0),
			    fmt(b, sizeof(b), w, F_RRATIO, 2), w->baseline,
			    fmt_cpu(c, sizeof(c), w, F_RCPU),
			    fmt(d, sizeof(d), w, F_VSREDIS, 2));
	}
	for (i = 0; i < rp->nrows; i++)
		if (rp->rows[i].workload == 11) {
			fprintf(f, "\nWorkload 11: one client puts (sync = "
			    "full, history on) while 100 connections each "
			    "watch the prefix; ops/s are events delivered, "
			    "all watchers together, and p50 and p99 the delay "
			    "from a put's send (its commit and sync included) "
			    "to its event's arrival at a watcher.\n");
			break;
		}
	for (i = 0; i < rp->nrows; i++) {
		w = &rp->rows[i];
		if (w->workload == 0 || met(w))
			continue;
		fprintf(f, "%s%d, %s", any ? "; " : "\nTargets missed, by the "
		    "medians: ", w->workload, w->name);
		any = true;
	}
	if (any)
		fprintf(f, ".\n");
}

static void
tables(FILE *f, const struct report *rp)
{
	size_t	 i;

	method(f, rp);
	fprintf(f, "| # | workload | storesd ops/s | p50 µs | p99 µs | "
	    "compared with | its ops/s | ratio | storesd CPU ms / 100k | "
	    "its CPU ms / 100k | target | met |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (i = 0; i < rp->nrows; i++)
		if (rp->rows[i].workload != 0)
			row_md(f, &rp->rows[i]);
	disk_md(f, rp);
	notes_md(f, rp);
}

/* ------------------------------------------------------ the outputs */

static void
json_fig(FILE *f, const struct row *w, enum fig k)
{
	double	 m, lo, hi;

	if (spread(&w->f[k], &m, &lo, &hi))
		fprintf(f, ", \"%s\": { \"median\": %.3f, \"min\": %.3f, "
		    "\"max\": %.3f, \"runs\": %zu }", figs[k].key, m, lo, hi,
		    w->f[k].n);
}

/* The report as JSON: each figure's median, min, max and runs. */
static void
report_json(FILE *f, const struct report *rp, char *const *paths)
{
	const struct row	*w;
	size_t			 i;
	int			 k;

	fprintf(f, "{\n  \"layout\": 2, \"median_of_runs\": true, "
	    "\"runs\": [");
	for (i = 0; i < rp->nruns; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_strval(f, paths[i]);
	}
	fprintf(f, "],\n  \"results\": [\n");
	for (i = 0; i < rp->nrows; i++) {
		w = &rp->rows[i];
		fprintf(f, "    { \"workload\": %d, ", w->workload);
		json_str(f, "name", w->name);
		fputs(", ", f);
		json_str(f, "baseline", w->baseline);
		if (w->target > 0)
			fprintf(f, ", \"target\": %.2f", w->target);
		fprintf(f, ", \"met\": %s", met(w) ? "true" : "false");
		for (k = 0; k < NFIG; k++)
			json_fig(f, w, (enum fig)k);
		fprintf(f, " }%s\n", i + 1 < rp->nrows ? "," : "");
	}
	fputs("  ]\n}\n", f);
}

static void
append_file(FILE *f, const char *path)
{
	char	 buf[4096];
	FILE	*in;
	size_t	 n;

	if ((in = fopen(path, "r")) == NULL)
		return;
	fputs("\n", f);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, f);
	fclose(in);
}

/* Writes path through a temporary file: readers never see half of it. */
static int
write_file(const char *path, const struct report *rp, char *const *paths,
    const struct report_out *out, int what)
{
	char	 tmp[600];
	FILE	*f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		goto fail;
	if (what == 'm') {
		fprintf(f, "# storesd-bench results\n\n");
		tables(f, rp);
		if (out->analysis)
			append_file(f, out->analysis);
	} else
		report_json(f, rp, paths);
	if (fclose(f) == EOF || rename(tmp, path) == -1)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
	unlink(tmp);
	return -1;
}

/*
 * Replaces what lies between the README's markers with the tables; the
 * README is left alone (and -1 returned) when it has no markers.
 */
static int
splice_readme(const char *path, const struct report *rp)
{
	char	 tmp[600], *line = NULL;
	size_t	 cap = 0;
	FILE	*in, *f = NULL;
	int	 state = 0;	/* 0 before, 1 inside, 2 after the table */

	if ((in = fopen(path, "r")) == NULL)
		goto fail;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		goto fail;
	while (getline(&line, &cap, in) != -1) {
		if (state == 1 && strncmp(line, README_END,
		    strlen(README_END)) == 0)
			state = 2;
		if (state != 1)
			fputs(line, f);
		if (state == 0 && strncmp(line, README_BEGIN,
		    strlen(README_BEGIN)) == 0) {
			state = 1;
			fputs("\n", f);
			tables(f, rp);
			fputs("\n", f);
		}
	}
	free(line);
	line = NULL;
	fclose(in);
	in = NULL;
	if (state != 2) {
		fprintf(stderr, "bench: %s: no \"%s\" line followed by a "
		    "\"%s\" line\n", path, README_BEGIN, README_END);
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (fclose(f) == EOF || rename(tmp, path) == -1) {
		f = NULL;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
	free(line);
	if (in)
		fclose(in);
	if (f) {
		fclose(f);
		unlink(tmp);
	}
	return -1;
}

int
report_runs(char *const *paths, size_t npaths, const struct report_out *out)
{
	struct report	*rp;
	char		 path[512];
	size_t		 i;
	int		 rc = -1;

	if (npaths == 0 || npaths > MAXRUNS) {
		fprintf(stderr, "bench: a report takes 1 to %d runs\n",
		    MAXRUNS);
		return -1;
	}
	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return -1;
	for (i = 0; i < npaths; i++)
		if (read_run(rp, paths[i]) == -1)
			goto done;
	if (out->table) {
		fputs("\n", out->table);
		tables(out->table, rp);
	}
	if (out->dir) {
		snprintf(path, sizeof(path), "%s/latest.md", out->dir);
		if (write_file(path, rp, paths, out, 'm') == -1)
			goto done;
		snprintf(path, sizeof(path), "%s/latest.json", out->dir);
		if (write_file(path, rp, paths, out, 'j') == -1)
			goto done;
	}
	if (out->readme && splice_readme(out->readme, rp) == -1)
		goto done;
	rc = 0;
done:
	free(rp);
	return rc;
}
