/*
 * The benchmark's report (bench/report.c, bench/json.c): the table of
 * several runs gives each figure's median and min-max, a ratio is the
 * median of each run's ratio, the README is rewritten between its
 * markers only, and runs of the first JSON layout, or files that are no
 * run at all, never crash it.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "check_main.h"
#include "harness.h"

/* A run of the first layout, as bench/results/latest.json was. */
static const char layout1[] =
    "[\n"
    "  { \"workload\": 1, \"name\": \"get, 1 connection\", \"ops_per_s\": "
    "19262.0, \"p50_us\": 53.2, \"p99_us\": 98.3, \"baseline\": \"bare "
    "Unix-socket round trip\", \"baseline_ops_per_s\": 24000.6, \"ratio\": "
    "0.803, \"target\": 0.9, \"met\": false },\n"
    "  { \"workload\": 4, \"name\": \"put sync=full, 32 connections\", "
    "\"ops_per_s\": 20494.4, \"p50_us\": 1507.3, \"p99_us\": 2621.4, "
    "\"baseline\": \"Redis SET, appendfsync always\", "
    "\"baseline_ops_per_s\": 35767.2, \"ratio\": 0.573, \"target\": 2.0, "
    "\"met\": false },\n"
    "  { \"workload\": 8, \"name\": \"daemon RSS after the run\", "
    "\"ops_per_s\": 0.0, \"p50_us\": 0.0, \"p99_us\": 0.0, \"baseline\": "
    "\"Redis RSS\", \"baseline_ops_per_s\": 0.0, \"ratio\": null, "
    "\"target\": \"-\", \"met\": true, \"rss_mib\": 46.8, "
    "\"baseline_rss_mib\": 30.8 },\n"
    "  { \"workload\": 9, \"name\": \"many repos: put + get in each\", "
    "\"ops_per_s\": 3478.1, \"p50_us\": 4194.3, \"p99_us\": 12582.9, "
    "\"baseline\": \"\", \"baseline_ops_per_s\": 0.0, \"ratio\": null, "
    "\"target\": \"RSS < 64 MiB, fds back to start\", \"met\": true, "
    "\"cold_p50_us\": 5767.2, \"cold_p99_us\": 14155.8, \"rss_mib\": 51.6, "
    "\"rss_after_idle_mib\": 22.4, \"fds_start\": 12, \"fds_end\": 3083, "
    "\"fds_after_idle\": 12 }\n"
    "]\n";

static const char readme[] =
    "# A project\n\nText before.\n\n"
    "<!-- BEGIN bench table: written by make bench (storesd-bench "
    "--report), do not edit -->\n"
    "| an old | table |\n"
    "<!-- END bench table -->\n\nText after.\n";

static char	 dir[256];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_bench.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	hs_rmtree(dir);
}

/* name in the test's directory; each test makes fewer than 32. */
static char *
path_of(const char *name)
{
	static char	 p[32][512];
	static int	 i;

	i = (i + 1) % 32;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void
write_text(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole of path, to free. */
static char *
read_text(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*buf = calloc(1, 1 << 16);
	size_t	 n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct result
row(int workload, const char *name, double ops, double base_ops,
    double target)
{
	struct result	 r = {
		.workload = workload, .name = name, .baseline = "Redis",
		.target = target, .ops = ops, .p50 = 100, .p99 = 200,
		.base_ops = base_ops, .base_p50 = NAN, .base_p99 = NAN,
		.cpu_ms = NAN, .base_cpu_ms = NAN, .pages = NAN,
		.commits_per_s = NAN, .writes_per_commit = NAN,
		.pages_per_commit = NAN,
		.redis_ops = NAN, .redis_cpu_ms = NAN, .rss_mib = NAN,
		.base_rss_mib = NAN, .cold_p50 = NAN, .cold_p99 = NAN,
		.rss_after_idle_mib = NAN, .fds_start = NAN, .fds_end = NAN,
		.fds_after_idle = NAN,
	};

	return r;
}

/*
 * Three runs of workload 4: storesd 900, 1000, 1100 against 1000, 800,
 * 1000: ratios 0.90, 1.25, 1.10, whose median (1.10) is not the ratio
 * of the medians (1.00).  Commits 400, 500, 600 against a disk that
 * syncs 16 scattered pages 1000 times a second, and 2,000 appends.
 */
static void
three_runs(void)
{
	static const double	 ops[3] = { 900, 1000, 1100 };
	static const double	 base[3] = { 1000, 800, 1000 };
	static const double	 commits[3] = { 400, 500, 600 };
	struct run		 run = { .seconds = 1, .nkeys = 100000 };
	struct result		 res[4];
	char			 name[32];
	int			 i;

	for (i = 0; i < 3; i++) {
		res[0] = row(0, "sixteen pages", 1000, NAN, 0);
		res[0].pages = DISK_LIMIT_PAGES;
		res[3] = row(0, "appended", 2000, NAN, 0);
		res[3].pages = 0;
		res[1] = row(4, "put sync=full, 32 connections", ops[i],
		    base[i], 1.2);
		res[1].cpu_ms = 500 + i;
		res[1].base_cpu_ms = 700;
		res[1].commits_per_s = commits[i];
		res[1].writes_per_commit = 16;
		res[1].pages_per_commit = 20 + i;
		res[2] = row(2, "get, 16 connections", 2000, 1000, 1.2);
		snprintf(name, sizeof(name), "run-%d.json", i + 1);
		ck_assert_int_eq(report_run_json(path_of(name), res, 4, &run,
		    false), 0);
	}
}

START_TEST(median_is_the_middle_or_the_mean_of_the_two)
{
	double	 odd[] = { 3, 1, 2 }, even[] = { 4, 1, 3, 2 }, one[] = { 7 };

	ck_assert_double_eq(median(odd, 3), 2);
	ck_assert_double_eq(median(even, 4), 2.5);
	ck_assert_double_eq(median(one, 1), 7);
	ck_assert_double_eq(median(NULL, 0), 0);
	/* Sorted in place: the caller reads min and max from the ends. */
	ck_assert_double_eq(odd[0], 1);
	ck_assert_double_eq(odd[2], 3);
}
END_TEST

START_TEST(json_reads_what_the_runs_hold)
{
	struct jv	*v = json_parse(" { \"a\": [1, -2.5e1, true, false, "
	    "null], \"s\": \"q\\\"\\\\\\u00e9\\n\", \"o\": {} } ");
	const struct jv	*a;
	double		 d;

	ck_assert_ptr_nonnull(v);
	a = json_get(v, "a");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->type, J_ARR);
	ck_assert_uint_eq(a->n, 5);
	ck_assert_double_eq(a->kid[1].num, -25);
	ck_assert_int_eq(a->kid[4].type, J_NULL);
	ck_assert_str_eq(json_str_of(v, "s"), "q\"\\\xc3\xa9\n");
	ck_assert_int_eq(json_get(v, "o")->type, J_OBJ);
	ck_assert(!json_num(v, "s", &d));
	ck_assert(!json_num(v, "missing", &d));
	ck_assert_ptr_null(json_get(a, "a"));
	json_free(v);
}
END_TEST

/* Every truncation of a run is refused, and read no byte past its end. */
START_TEST(json_refuses_every_truncation)
{
	size_t	 len = strlen(layout1), i;
	char	*buf;

	for (i = 0; i < len; i++) {
		buf = malloc(i + 1);
		memcpy(buf, layout1, i);
		buf[i] = '\0';
		/* The last bytes are "]\n": a prefix ending after ']'
		 * is the whole document. */
		if (i < len - 1)
			ck_assert_msg(json_parse(buf) == NULL, "prefix %zu",
			    i);
		free(buf);
	}
}
END_TEST

START_TEST(json_refuses_garbage_and_deep_nesting)
{
	static const char *const bad[] = {
		"", "[", "]", "{\"a\" 1}", "{1: 2}", "[1,]", "[1 2]", "tru",
		"\"open", "[\"\\u12\"]", "-", "[1] x", "{\"a\": }",
	};
	char	 deep[100];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(json_parse(bad[i]) == NULL, "%s", bad[i]);
	memset(deep, '[', 50);
	memset(deep + 50, ']', 49);
	deep[99] = '\0';
	ck_assert_ptr_null(json_parse(deep));
}
END_TEST

START_TEST(report_gives_the_median_and_the_spread_of_runs)
{
	char		*paths[3], *t, *table = NULL;
	struct jv	*v;
	size_t		 n;
	FILE		*f = open_memstream(&table, &n);

	three_runs();
	paths[0] = path_of("run-1.json");
	paths[1] = path_of("run-2.json");
	paths[2] = path_of("run-3.json");
	ck_assert_int_eq(report_runs(paths, 3, &(struct report_out){
	    .table = f, .dir = dir }), 0);
	fclose(f);
	/* ops: the median run and the others' spread; the ratio is the
	 * median of the runs' ratios; missed against 1.2. */
	ck_assert_ptr_nonnull(strstr(table, "| 4 | put sync=full, 32 "
	    "connections | 1000 (900–1100) | 100 | 200 | Redis | 1000 "
	    "(800–1000) | 1.10 (0.90–1.25) | 501 (500–502) | 700 | >= 1.2 | "
	    "**no** |"));
	/* Figures that did not move show no spread; met by the median. */
	ck_assert_ptr_nonnull(strstr(table, "| 2 | get, 16 connections | "
	    "2000 | 100 | 200 | Redis | 1000 | 2.00 | – | – | >= 1.2 | "
	    "yes |"));
	/* The limit is the 16-page sync, not the appended one. */
	ck_assert_ptr_nonnull(strstr(table, "sixteen pages 1000/s; appended "
	    "2000/s"));
	ck_assert_ptr_nonnull(strstr(table, "| 4 | put sync=full, 32 "
	    "connections | 500 (400–600) | 16.0 | 21.0 (20.0–22.0) | "
	    "0.50 (0.40–0.60) |"));
	ck_assert_ptr_nonnull(strstr(table, "Targets missed, by the "
	    "medians: 4, put sync=full, 32 connections.\n"));
	ck_assert_ptr_nonnull(strstr(table, "3 runs, "));
	/* The same in latest.md; latest.json holds each figure's spread. */
	t = read_text(path_of("latest.md"));
	ck_assert_ptr_nonnull(strstr(t, "1.10 (0.90–1.25)"));
	free(t);
	t = read_text(path_of("latest.json"));
	ck_assert_ptr_nonnull(strstr(t, "\"ratio\": { \"median\": 1.100, "
	    "\"min\": 0.900, \"max\": 1.250, \"runs\": 3 }"));
	free(t);
	v = json_load(path_of("latest.json"));
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(json_get(v, "runs")->n, 3);
	ck_assert_str_eq(json_get(v, "runs")->kid[2].str, paths[2]);
	json_free(v);
	free(table);
}
END_TEST

/* Workload 1 has two targets: 0.9 of the bare round trip, and Redis. */
START_TEST(get_on_one_connection_must_also_match_redis)
{
	struct run	 run = { .seconds = 1, .nkeys = 100000 };
	struct result	 res = row(1, "get, 1 connection", 950, 1000, 0.9);
	char		*paths[1] = { path_of("run.json") }, *table = NULL;
	size_t		 n;
	FILE		*f = open_memstream(&table, &n);

	res.baseline = "bare round trip";
	res.redis_ops = 1000;
	res.redis_cpu_ms = 400;
	ck_assert_int_eq(report_run_json(paths[0], &res, 1, &run, false), 0);
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .table = f }), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(table, "| 0.95 | – | – | >= 0.9, and "
	    ">= 1.0 × Redis | **no** |"));
	ck_assert_ptr_nonnull(strstr(table, "Workload 1: Redis GET on the "
	    "same path: 1000/s, 1.00 of the bare round trip, server CPU 400 "
	    "ms per 100k; storesd / Redis: 0.95."));
	free(table);
}
END_TEST

START_TEST(readme_is_rewritten_between_its_markers_only)
{
	char	*paths[1], *first, *second;

	three_runs();
	paths[0] = path_of("run-1.json");
	write_text(path_of("README.md"), readme);
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .readme = path_of("README.md") }), 0);
	first = read_text(path_of("README.md"));
	ck_assert_ptr_nonnull(strstr(first, "# A project\n\nText before.\n"));
	ck_assert_ptr_nonnull(strstr(first, "\n<!-- END bench table -->\n\n"
	    "Text after.\n"));
	ck_assert_ptr_null(strstr(first, "| an old | table |"));
	ck_assert_ptr_nonnull(strstr(first, "| 4 | put sync=full"));
	/* Again: the same README, not a second table. */
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .readme = path_of("README.md") }), 0);
	second = read_text(path_of("README.md"));
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
}
END_TEST

START_TEST(readme_without_markers_is_left_alone)
{
	char	*paths[1], *t;

	three_runs();
	paths[0] = path_of("run-1.json");
	write_text(path_of("README.md"), "# No markers\n");
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .readme = path_of("README.md") }), -1);
	t = read_text(path_of("README.md"));
	ck_assert_str_eq(t, "# No markers\n");
	free(t);
}
END_TEST

/* A run of the first layout, alone or beside new ones: its figures,
 * and "–" where it measured nothing. */
START_TEST(first_layout_runs_are_reported)
{
	char	*paths[2], *table = NULL;
	size_t	 n;
	FILE	*f = open_memstream(&table, &n);

	write_text(path_of("old.json"), layout1);
	three_runs();
	paths[0] = path_of("old.json");
	paths[1] = path_of("run-1.json");
	ck_assert_int_eq(report_runs(paths, 2, &(struct report_out){
	    .table = f }), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(table, "| 1 | get, 1 connection | "
	    "19262 | 53 | 98 | bare Unix-socket round trip | 24001 | 0.80 | "
	    "– | – | >= 0.9 | **no** |"));
	ck_assert_ptr_nonnull(strstr(table, "RSS 46.8 MiB"));
	ck_assert_ptr_nonnull(strstr(table, "fds 12 at start, 3083 at end"));
	/* Workload 4 from both runs: 20494 and 900. */
	ck_assert_ptr_nonnull(strstr(table, "(900–20494)"));
	free(table);
}
END_TEST

START_TEST(files_that_are_no_run_fail_cleanly)
{
	char	*paths[1];

	paths[0] = path_of("missing.json");
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .table = NULL }), -1);
	write_text(path_of("garbage.json"), "{\"results\": [ {\"workload\"");
	paths[0] = path_of("garbage.json");
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .table = NULL }), -1);
	write_text(path_of("object.json"), "{\"layout\": 2}");
	paths[0] = path_of("object.json");
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .table = NULL }), -1);
	/* Rows of unknown shape are skipped, not fatal. */
	write_text(path_of("odd.json"), "[1, \"x\", {\"workload\": \"4\"}, "
	    "{\"name\": \"no workload\"}]");
	paths[0] = path_of("odd.json");
	ck_assert_int_eq(report_runs(paths, 1, &(struct report_out){
	    .table = NULL }), 0);
	ck_assert_int_eq(report_runs(paths, 0, &(struct report_out){
	    .table = NULL }), -1);
}
END_TEST

static Suite *
bench_suite(void)
{
	Suite	*s = suite_create("bench");
	TCase	*tc = tcase_create("report");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, median_is_the_middle_or_the_mean_of_the_two);
	tcase_add_test(tc, json_reads_what_the_runs_hold);
	tcase_add_test(tc, json_refuses_every_truncation);
	tcase_add_test(tc, json_refuses_garbage_and_deep_nesting);
	tcase_add_test(tc, report_gives_the_median_and_the_spread_of_runs);
	tcase_add_test(tc, get_on_one_connection_must_also_match_redis);
	tcase_add_test(tc, readme_is_rewritten_between_its_markers_only);
	tcase_add_test(tc, readme_without_markers_is_left_alone);
	tcase_add_test(tc, first_layout_runs_are_reported);
	tcase_add_test(tc, files_that_are_no_run_fail_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(bench_suite());
}
