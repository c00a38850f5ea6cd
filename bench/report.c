/*
 * The results: one table on stdout and in OUT/latest.md, the same figures
 * in OUT/latest.json, and bench/ANALYSIS.md (why a target is missed,
 * with its profile) appended to the Markdown.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define RSS_TARGET_MIB	64

static double
ratio(const struct result *r)
{
	return r->base_ops > 0 ? r->ops / r->base_ops : 0;
}

static bool
met(const struct result *r)
{
	if (r->has_repos)
		return r->rss_mib < RSS_TARGET_MIB &&
		    r->fds_after_idle <= r->fds_start;
	if (r->target == 0)
		return true;
	return ratio(r) >= r->target;
}

static void
target_text(const struct result *r, char *buf, size_t n)
{
	if (r->has_repos)
		snprintf(buf, n, "RSS < %d MiB, fds back to start",
		    RSS_TARGET_MIB);
	else if (r->target > 0)
		snprintf(buf, n, ">= %.1f", r->target);
	else
		snprintf(buf, n, "-");
}

static void
row(FILE *f, const struct result *r)
{
	char	 target[64];

	target_text(r, target, sizeof(target));
	if (r->has_proc) {
		fprintf(f, "| %d | %s | %.1f MiB | | | %s: %.1f MiB | | %s | |\n",
		    r->workload, r->name, r->rss_mib, r->baseline,
		    r->base_rss_mib, target);
		return;
	}
	if (r->has_repos) {
		fprintf(f, "| %d | %s | %.0f | %.0f | %.0f | cold open p50 %.0f "
		    "µs, p99 %.0f µs; RSS %.1f MiB (%.1f after idle close); "
		    "fds %d at start, %d at end, %d after idle close | | %s | "
		    "%s |\n", r->workload, r->name, r->ops, r->p50, r->p99,
		    r->cold_p50, r->cold_p99, r->rss_mib, r->rss_after_idle_mib,
		    r->fds_start, r->fds_end, r->fds_after_idle, target,
		    met(r) ? "yes" : "**no**");
		return;
	}
	/* A figure of its own (the watch's delivery): nothing beside it. */
	if (r->baseline[0] == '\0') {
		fprintf(f, "| %d | %s | %.0f | %.0f | %.0f | - | - | %s | %s "
		    "|\n", r->workload, r->name, r->ops, r->p50, r->p99,
		    target, met(r) ? "yes" : "**no**");
		return;
	}
	fprintf(f, "| %d | %s | %.0f | %.0f | %.0f | %s: %.0f/s (p50 %.0f µs, "
	    "p99 %.0f µs) | %.2f | %s | %s |\n", r->workload, r->name, r->ops,
	    r->p50, r->p99, r->baseline, r->base_ops, r->base_p50,
	    r->base_p99, ratio(r), target, met(r) ? "yes" : "**no**");
}

static void
table(FILE *f, const struct result *res, size_t n)
{
	size_t	 i;

	fprintf(f, "| # | workload | storesd ops/s | p50 µs | p99 µs | "
	    "compared with | ratio | target | met |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|\n");
	for (i = 0; i < n; i++)
		row(f, &res[i]);
	for (i = 0; i < n; i++)
		if (res[i].note[0])
			fprintf(f, "\nWorkload %d: %s\n", res[i].workload,
			    res[i].note);
}

static void
machine(FILE *f, const struct run *r)
{
	struct utsname	 u;
	char		 when[64];
	time_t		 t = time(NULL);

	uname(&u);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	fprintf(f, "Run %s on %s %s, %ld CPUs; client and servers on the same "
	    "machine. Each side measured in 3 alternating rounds of %.1f s, "
	    "the median round reported (latencies over all rounds); %u keys "
	    "of %d-byte values, Unix sockets, data on the build's disk.\n\n",
	    when, u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN),
	    r->seconds, r->nkeys, VALUE_SIZE);
}

static void
json_str(FILE *f, const char *k, const char *v)
{
	const char	*p;

	fprintf(f, "\"%s\": \"", k);
	for (p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputs("\"", f);
}

static void
json(FILE *f, const struct result *res, size_t n)
{
	const struct result	*r;
	char			 target[64];
	size_t			 i;

	fputs("[\n", f);
	for (i = 0; i < n; i++) {
		r = &res[i];
		fprintf(f, "  { \"workload\": %d, ", r->workload);
		json_str(f, "name", r->name);
		fprintf(f, ", \"ops_per_s\": %.1f, \"p50_us\": %.1f, "
		    "\"p99_us\": %.1f, ", r->ops, r->p50, r->p99);
		json_str(f, "baseline", r->baseline);
		fprintf(f, ", \"baseline_ops_per_s\": %.1f, ", r->base_ops);
		if (r->base_ops > 0)
			fprintf(f, "\"ratio\": %.3f, ", ratio(r));
		else
			fputs("\"ratio\": null, ", f);
		if (r->target > 0)
			fprintf(f, "\"target\": %.1f", r->target);
		else {
			target_text(r, target, sizeof(target));
			json_str(f, "target", target);
		}
		fprintf(f, ", \"met\": %s", met(r) ? "true" : "false");
		if (r->has_proc)
			fprintf(f, ", \"rss_mib\": %.1f, \"baseline_rss_mib\": "
			    "%.1f", r->rss_mib, r->base_rss_mib);
		if (r->has_repos)
			fprintf(f, ", \"cold_p50_us\": %.1f, \"cold_p99_us\": "
			    "%.1f, \"rss_mib\": %.1f, \"rss_after_idle_mib\": "
			    "%.1f, \"fds_start\": %d, \"fds_end\": %d, "
			    "\"fds_after_idle\": %d", r->cold_p50, r->cold_p99,
			    r->rss_mib, r->rss_after_idle_mib, r->fds_start,
			    r->fds_end, r->fds_after_idle);
		fprintf(f, " }%s\n", i + 1 < n ? "," : "");
	}
	fputs("]\n", f);
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

void
report(const struct result *res, size_t n, const struct run *r,
    const char *outdir)
{
	char	 path[512];
	FILE	*f;

	printf("\n");
	machine(stdout, r);
	table(stdout, res, n);
	snprintf(path, sizeof(path), "%s/latest.md", outdir);
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f, "# storesd-bench results\n\n");
		machine(f, r);
		table(f, res, n);
		append_file(f, "bench/ANALYSIS.md");
		fclose(f);
	} else
		perror(path);
	snprintf(path, sizeof(path), "%s/latest.json", outdir);
	if ((f = fopen(path, "w")) != NULL) {
		json(f, res, n);
		fclose(f);
	} else
		perror(path);
}
