/*
 * check_config: the configuration parser, its checks and its messages.
 *
 * Every test writes its file into one mkdtemp() directory that main()
 * makes (with a few directories for the path rules) and removes.  "@T"
 * in a test's text stands for that directory.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>

#include "check_main.h"
#include "harness.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sp_mp.h"
#include "sp_names.h"

static char	 tmpdir[] = "/tmp/check_config.XXXXXX";
static char	*realtmp;		/* tmpdir canonical */
static char	 conf_path[PATH_MAX];
static char	 errbuf[1024];

/* text with every "@T" replaced by tmpdir; the caller frees it. */
static char *
expand(const char *text)
{
	const char	*s;
	char		*out, *o;
	size_t		 n = 1;

	for (s = text; *s != '\0'; s++)
		n += (s[0] == '@' && s[1] == 'T') ? strlen(tmpdir) : 1;
	ck_assert_ptr_nonnull(out = malloc(n));
	for (s = text, o = out; *s != '\0'; s++) {
		if (s[0] == '@' && s[1] == 'T') {
			o = stpcpy(o, tmpdir);
			s++;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp;
	char	*s;

	s = expand(text);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_int_eq(fputs(s, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
	free(s);
}

/* Writes text to the test's file and loads it. */
static struct config *
load3(const char *text, const char *socket, const char *data_dir)
{
	write_file(conf_path, text);
	errbuf[0] = '\0';
	return cfg_load(conf_path, socket, data_dir, errbuf, sizeof(errbuf));
}

static struct config *
load(const char *text)
{
	struct config	*cfg;

	cfg = load3(text, NULL, NULL);
	ck_assert_msg(cfg != NULL, "unexpected error: %s", errbuf);
	return cfg;
}

/*
 * Loading text fails on line (0: the file as a whole), and the message
 * holds want.
 */
static void
expect_err(const char *text, unsigned line, const char *want)
{
	struct config	*cfg;
	char		 prefix[PATH_MAX + 32];

	cfg = load3(text, NULL, NULL);
	ck_assert_msg(cfg == NULL, "loaded, expected line %u: %s", line,
	    want);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", conf_path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", conf_path);
	ck_assert_msg(strncmp(errbuf, prefix, strlen(prefix)) == 0,
	    "'%s' does not start with '%s'", errbuf, prefix);
	ck_assert_msg(strstr(errbuf, want) != NULL,
	    "'%s' does not hold '%s'", errbuf, want);
}

/* The message after "FILE:LINE: " is exactly want. */
static void
expect_msg(const char *text, unsigned line, const char *want)
{
	char	 full[PATH_MAX + 512];

	expect_err(text, line, want);
	snprintf(full, sizeof(full), "%s:%u: %s", conf_path, line, want);
	ck_assert_str_eq(errbuf, full);
}

static struct sp_bytes
bs(const char *s)
{
	struct sp_bytes	 b = { s, s != NULL ? strlen(s) : 0 };

	return b;
}

static char *
tpath(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", tmpdir, rel);
	return buf;
}

/* A valid store to put after a [daemon] section under test. */
#define STORE_OK	"[store refs]\nmap_size = 1GiB\n"
/* data_dir where no path under test lives. */
#define DAEMON_OK	"[daemon]\ndata_dir = @T/data\n"
/* config.c's rule for names, as its messages say it. */
#define NAME_RULE_T	"names are 1 to 64 bytes of A-Z a-z 0-9 . _ -, " \
			"not starting with '.' or '-'"

/* ------------------------------------------------------------------ */

START_TEST(test_builtin)
{
	struct config		*cfg;
	const struct cfg_store	*st;
	char			 sock[256], dir[PATH_MAX];
	long			 cpus;

	cfg = cfg_load(NULL, NULL, NULL, errbuf, sizeof(errbuf));
	ck_assert_msg(cfg != NULL, "%s", errbuf);
	ck_assert_str_eq(cfg->file, CFG_BUILTIN);
	ck_assert_uint_eq(cfg->nstores, 2);

	st = &cfg->stores[0];
	ck_assert_str_eq(st->name, "refs");
	ck_assert_uint_eq(st->map_size, 256ULL << 20);
	ck_assert_uint_eq(st->ndbs, 1);
	ck_assert_str_eq(st->dbs[0], "refs");
	ck_assert_uint_eq(st->max_dbs, 1);
	ck_assert_int_eq(st->sync, CFG_SYNC_FULL);
	ck_assert_uint_eq(st->sync_interval_ms, 1000);
	ck_assert(!st->create_explicit);	/* create = auto */
	ck_assert_ptr_null(st->path);

	st = &cfg->stores[1];
	ck_assert_str_eq(st->name, "nodes");
	ck_assert_uint_eq(st->map_size, 16ULL << 30);
	ck_assert_uint_eq(st->ndbs, 1);
	ck_assert_str_eq(st->dbs[0], "nodes");
	ck_assert_uint_eq(st->max_dbs, 1);
	ck_assert_int_eq(st->sync, CFG_SYNC_FULL);
	ck_assert_ptr_null(st->path);
	ck_assert_uint_lt(cfg->stores[0].line, st->line);

	ck_assert_int_eq(sp_default_socket(sock, sizeof(sock)), 0);
	ck_assert_int_eq(sp_default_data_dir(dir, sizeof(dir)), 0);
	ck_assert_str_eq(cfg->socket, sock);
	ck_assert_str_eq(cfg->data_dir, dir);
	ck_assert_uint_eq(cfg->socket_mode, 0660);
	ck_assert_uint_eq(cfg->max_frame, 64ULL << 20);
	ck_assert_uint_eq(cfg->idle_close_ms, 30000);
	cpus = sysconf(_SC_NPROCESSORS_ONLN) / 2;
	cpus = cpus < 1 ? 1 : cpus > 8 ? 8 : cpus;
	ck_assert_uint_eq(cfg->io_threads, cpus);
	ck_assert_uint_eq(cfg->writer_threads, 4);
	ck_assert_uint_eq(cfg->max_envs, 1024);
	ck_assert_uint_eq(cfg->max_batch, 256 << 20);
	ck_assert_uint_eq(cfg->scan_page, 1000);
	cfg_free(cfg);
}
END_TEST

START_TEST(test_full)
{
	struct config		*cfg;
	const struct cfg_store	*st;
	char			 want[PATH_MAX];

	cfg = load(
	    "; every key\n"
	    "  [daemon]   ; indented header, trailing comment\n"
	    "socket = @T/s.sock\n"
	    "socket_mode = 600\n"
	    "data_dir = @T/data/\n"
	    "max_frame = 1 MiB\n"
	    "idle_close = 500ms\n"
	    "io_threads = 3\n"
	    "writer_threads = 256\n"
	    "max_envs = 1000000\n"
	    "max_batch = 1GiB\n"
	    "scan_page = 7\n"
	    "\n"
	    "[store   refs]\n"
	    "map_size = 256MiB   ; required\n"
	    "max_dbs = 4\n"
	    "\tdbs = a , b,c\n"
	    "sync = nometa\n"
	    "[store\tfixed]\r\n"
	    "map_size = 64TiB\r\n"
	    "max_dbs = 0\r\n"
	    "dbs = main\r\n"
	    "sync = none\r\n"
	    "sync_interval = 250ms\r\n"
	    "path = @T/envs/link/\r\n"
	    "[store plain]\n"
	    "map_size = 1048576\n");
	ck_assert_str_eq(cfg->file, conf_path);
	ck_assert_str_eq(cfg->socket, tpath(want, sizeof(want), "s.sock"));
	ck_assert_uint_eq(cfg->socket_mode, 0600);
	ck_assert_str_eq(cfg->data_dir, tpath(want, sizeof(want), "data/"));
	ck_assert_uint_eq(cfg->max_frame, 1 << 20);
	ck_assert_uint_eq(cfg->idle_close_ms, 500);
	ck_assert_uint_eq(cfg->io_threads, 3);
	ck_assert_uint_eq(cfg->writer_threads, 256);
	ck_assert_uint_eq(cfg->max_envs, 1000000);
	ck_assert_uint_eq(cfg->max_batch, 1 << 30);
	ck_assert_uint_eq(cfg->scan_page, 7);
	ck_assert_uint_eq(cfg->nstores, 3);

	st = &cfg->stores[0];
	ck_assert_str_eq(st->name, "refs");
	ck_assert_uint_eq(st->line, 14);
	ck_assert_uint_eq(st->map_size, 256 << 20);
	ck_assert_uint_eq(st->max_dbs, 4);
	ck_assert_uint_eq(st->ndbs, 3);
	ck_assert_str_eq(st->dbs[0], "a");
	ck_assert_str_eq(st->dbs[1], "b");
	ck_assert_str_eq(st->dbs[2], "c");
	ck_assert_int_eq(st->sync, CFG_SYNC_NOMETA);
	ck_assert_ptr_null(st->path);

	st = &cfg->stores[1];
	ck_assert_str_eq(st->name, "fixed");
	ck_assert_uint_eq(st->line, 19);
	ck_assert_uint_eq(st->map_size, 64ULL << 40);
	ck_assert_uint_eq(st->max_dbs, 0);
	ck_assert_uint_eq(st->ndbs, 1);
	ck_assert_str_eq(st->dbs[0], "main");
	ck_assert_int_eq(st->sync, CFG_SYNC_NONE);
	ck_assert_uint_eq(st->sync_interval_ms, 250);
	snprintf(want, sizeof(want), "%s/envs/a", realtmp);
	ck_assert_str_eq(st->path, want);

	st = &cfg->stores[2];
	ck_assert_str_eq(st->name, "plain");
	ck_assert_uint_eq(st->line, 26);
	ck_assert_uint_eq(st->map_size, 1 << 20);
	ck_assert_uint_eq(st->max_dbs, 1);
	ck_assert_uint_eq(st->ndbs, 1);
	ck_assert_str_eq(st->dbs[0], "plain");
	ck_assert_int_eq(st->sync, CFG_SYNC_FULL);

	ck_assert_ptr_eq(cfg_store_find(cfg, bs("fixed")), &cfg->stores[1]);
	ck_assert_ptr_null(cfg_store_find(cfg, bs("fixe")));
	ck_assert_ptr_null(cfg_store_find(cfg, bs("fixedx")));
	ck_assert_ptr_null(cfg_store_find(cfg, bs(NULL)));
	st = &cfg->stores[0];
	ck_assert_int_eq(cfg_db_index(st, bs(NULL)), 0);
	ck_assert_int_eq(cfg_db_index(st, bs("a")), 0);
	ck_assert_int_eq(cfg_db_index(st, bs("c")), 2);
	ck_assert_int_eq(cfg_db_index(st, bs("d")), -1);
	ck_assert_int_eq(cfg_db_index(st, bs("")), -1);
	cfg_free(cfg);
}
END_TEST

/* No [daemon] at all: every daemon key has its default. */
START_TEST(test_daemon_defaults)
{
	struct config	*cfg;
	char		 sock[256], dir[PATH_MAX];

	cfg = load(STORE_OK);
	ck_assert_int_eq(sp_default_socket(sock, sizeof(sock)), 0);
	ck_assert_int_eq(sp_default_data_dir(dir, sizeof(dir)), 0);
	ck_assert_str_eq(cfg->socket, sock);
	ck_assert_str_eq(cfg->data_dir, dir);
	ck_assert_uint_eq(cfg->socket_mode, 0660);
	ck_assert_uint_eq(cfg->max_frame, 64 << 20);
	ck_assert_uint_eq(cfg->idle_close_ms, 30000);
	ck_assert_uint_ge(cfg->io_threads, 1);
	ck_assert_uint_le(cfg->io_threads, 8);
	ck_assert_uint_eq(cfg->writer_threads, 4);
	ck_assert_uint_eq(cfg->max_envs, 1024);
	ck_assert_uint_eq(cfg->nstores, 1);
	ck_assert_uint_eq(cfg->stores[0].line, 1);
	cfg_free(cfg);
}
END_TEST

START_TEST(test_overrides)
{
	static const char text[] =
	    "[daemon]\n"
	    "socket = @T/file.sock\n"
	    "data_dir = @T/filedata\n"
	    STORE_OK;
	struct config	*cfg;
	char		*cwd, want[PATH_MAX + 64];

	cfg = load3(text, "/run/x.sock", "/srv/x");
	ck_assert_msg(cfg != NULL, "%s", errbuf);
	ck_assert_str_eq(cfg->socket, "/run/x.sock");
	ck_assert_str_eq(cfg->data_dir, "/srv/x");
	cfg_free(cfg);

	/* Relative overrides are taken against the current directory. */
	cfg = load3(text, "rel.sock", "rel/data");
	ck_assert_msg(cfg != NULL, "%s", errbuf);
	ck_assert_ptr_nonnull(cwd = getcwd(NULL, 0));
	snprintf(want, sizeof(want), "%s/rel.sock", cwd);
	ck_assert_str_eq(cfg->socket, want);
	snprintf(want, sizeof(want), "%s/rel/data", cwd);
	ck_assert_str_eq(cfg->data_dir, want);
	free(cwd);
	cfg_free(cfg);

	/* One override alone leaves the other value to the file. */
	cfg = load3(text, NULL, "/srv/y");
	ck_assert_msg(cfg != NULL, "%s", errbuf);
	ck_assert_str_eq(cfg->socket, tpath(want, sizeof(want), "file.sock"));
	ck_assert_str_eq(cfg->data_dir, "/srv/y");
	cfg_free(cfg);

	/* Overrides apply to the built-in default too. */
	cfg = cfg_load(NULL, "/a.sock", "/b", errbuf, sizeof(errbuf));
	ck_assert_msg(cfg != NULL, "%s", errbuf);
	ck_assert_str_eq(cfg->socket, "/a.sock");
	ck_assert_str_eq(cfg->data_dir, "/b");
	cfg_free(cfg);
}
END_TEST

START_TEST(test_override_errors)
{
	char	 longsock[200];

	memset(longsock, 'x', sizeof(longsock) - 1);
	longsock[0] = '/';
	longsock[sizeof(longsock) - 1] = '\0';
	ck_assert_ptr_null(load3(STORE_OK, longsock, NULL));
	ck_assert_ptr_nonnull(strstr(errbuf, "choose a shorter path"));
	ck_assert_int_eq(strncmp(errbuf, conf_path, strlen(conf_path)), 0);
	ck_assert_ptr_null(load3(STORE_OK, "", NULL));
	ck_assert_ptr_nonnull(strstr(errbuf, "socket given on the command "
	    "line is empty"));
	ck_assert_ptr_null(load3(STORE_OK, NULL, ""));
	ck_assert_ptr_nonnull(strstr(errbuf, "data_dir given on the command "
	    "line is empty"));
}
END_TEST

START_TEST(test_unknown_section)
{
	expect_msg(STORE_OK "[deamon]\nsocket = /x\n", 3,
	    "unknown section [deamon]; the sections are [daemon] and "
	    "[store NAME]");
	expect_err("[stores refs]\nmap_size = 1GiB\n", 1,
	    "unknown section [stores refs]");
	expect_err("[]\n", 1, "unknown section []");
	expect_err("[store]\nmap_size = 1GiB\n", 1,
	    "[store] needs a name; write e.g. [store refs]");
	expect_err(STORE_OK "[daemon\n", 3, "without a closing ']'");
	expect_err(STORE_OK "[daemon] x\n", 3, "text after ']'");
}
END_TEST

START_TEST(test_unknown_key)
{
	expect_msg(STORE_OK "\n[daemon]\nsokcet = /x\n", 5,
	    "unknown key 'sokcet' in [daemon]; known keys: socket, "
	    "socket_mode, data_dir, max_frame, idle_close, io_threads, "
	    "writer_threads, max_envs, map_budget, max_batch, scan_page, "
	    "max_connections, max_inflight, max_output, "
	    "max_requests_per_turn, stop_timeout, max_input, frame_timeout, "
	    "snapshot_max, snapshot_timeout, snapshot_max_time, "
	    "snapshot_reserve, drop_wait, restore_timeout, watch_progress, "
	    "watch_buffer, max_watches, max_watches_total");
	expect_msg("[store refs]\nmap_size = 1GiB\nmap_sise = 1GiB\n", 3,
	    "unknown key 'map_sise' in [store refs]; known keys: map_size, "
	    "max_dbs, dbs, sync, path, sync_interval, readers, writers, "
	    "create, history");
	/* A daemon key is not a store key, nor the other way round. */
	expect_err("[store refs]\nsocket = /x\n", 2,
	    "unknown key 'socket' in [store refs]");
	expect_err(STORE_OK "[daemon]\nmap_size = 1GiB\n", 4,
	    "unknown key 'map_size' in [daemon]");
	expect_err("map_size = 1GiB\n" STORE_OK, 1,
	    "'map_size' is outside any section");
}
END_TEST

START_TEST(test_missing_map_size)
{
	/* An empty section still exists, and fails on its header line. */
	expect_msg(STORE_OK "\n; nothing here\n[store nodes]\n\n", 5,
	    "[store nodes] has no map_size; every store names its own, "
	    "e.g. map_size = 1GiB");
	expect_msg(STORE_OK "[store nodes]\n", 3,
	    "[store nodes] has no map_size; every store names its own, "
	    "e.g. map_size = 1GiB");
	/* Keys but no map_size; the next section ends it. */
	expect_err("[store a]\ndbs = x\nsync = none\n[store b]\n"
	    "map_size = 1GiB\n", 1, "[store a] has no map_size");
	/* Found before an error further down. */
	expect_err("[daemon]\n[store a]\nsync = none\n[daemon]\n", 2,
	    "[store a] has no map_size");
	expect_err("[store a]\n[bogus]\n", 1, "[store a] has no map_size");
}
END_TEST

START_TEST(test_bad_size)
{
	expect_msg(DAEMON_OK "[store refs]\nmap_size = 1GB\n", 4,
	    "map_size = '1GB' is not a size; write a whole number with an "
	    "optional unit B, KiB, MiB, GiB or TiB, e.g. map_size = 64MiB; "
	    "the range is 1MiB to 64TiB");
	expect_err("[store refs]\nmap_size = -1GiB\n", 2, "is not a size");
	expect_err("[store refs]\nmap_size = 1.5GiB\n", 2, "is not a size");
	expect_err("[store refs]\nmap_size = GiB\n", 2, "is not a size");
	expect_err("[store refs]\nmap_size = 1gib\n", 2, "is not a size");
	expect_err("[store refs]\nmap_size =\n", 2, "is not a size");
	expect_err("[store refs]\nmap_size = 99999999999999999999\n", 2,
	    "map_size = 99999999999999999999 is too large; use 1MiB to "
	    "64TiB");
	expect_err("[store refs]\nmap_size = 17179869184TiB\n", 2,
	    "is too large");
	expect_err(STORE_OK "[daemon]\nmax_frame = 64 M\n", 4,
	    "max_frame = '64 M' is not a size");
}
END_TEST

START_TEST(test_bad_duration)
{
	expect_msg(STORE_OK "[daemon]\nidle_close = 30sec\n", 4,
	    "idle_close = '30sec' is not a duration; write a whole number "
	    "with ms, s, m or h (bare: seconds), e.g. idle_close = 30s");
	expect_err(STORE_OK "[daemon]\nidle_close = -5s\n", 4,
	    "is not a duration");
	expect_err(STORE_OK "[daemon]\nidle_close = 1d\n", 4,
	    "is not a duration");
	expect_err(STORE_OK "[daemon]\nidle_close =\n", 4,
	    "is not a duration");
	expect_err(STORE_OK "[daemon]\nidle_close = 99999999999999999h\n",
	    4, "is too large");
}
END_TEST

START_TEST(test_out_of_range)
{
	struct config	*cfg;

	expect_msg(STORE_OK "[daemon]\nio_threads = 0\n", 4,
	    "io_threads = 0 is out of range; use 1 to 64");
	expect_err(STORE_OK "[daemon]\nio_threads = 65\n", 4,
	    "io_threads = 65 is out of range; use 1 to 64");
	expect_err(STORE_OK "[daemon]\nio_threads = 99999999999999999999999\n",
	    4, "is out of range");
	expect_msg(STORE_OK "[daemon]\nio_threads = four\n", 4,
	    "io_threads = 'four' is not a whole number; use 1 to 64");
	expect_err(STORE_OK "[daemon]\nio_threads = +4\n", 4,
	    "is not a whole number");
	expect_err(STORE_OK "[daemon]\nio_threads = 4 \\\n", 4,
	    "is not a whole number");
	expect_err(STORE_OK "[daemon]\nwriter_threads = 0\n", 4,
	    "writer_threads = 0 is out of range; use 1 to 256");
	expect_err(STORE_OK "[daemon]\nwriter_threads = 257\n", 4,
	    "use 1 to 256");
	expect_err(STORE_OK "[daemon]\nmax_batch = 1000\n", 4,
	    "max_batch = 1000 is out of range; use 1MiB to 64GiB");
	expect_err(STORE_OK "[daemon]\nscan_page = 0\n", 4,
	    "scan_page = 0 is out of range; use 1 to 100000");
	expect_err(STORE_OK "[daemon]\nmax_envs = 0\n", 4,
	    "max_envs = 0 is out of range; use 1 to 1000000");
	expect_err(STORE_OK "[daemon]\nmax_envs = 1000001\n", 4,
	    "use 1 to 1000000");
	expect_err(STORE_OK "[daemon]\nmax_frame = 4095\n", 4,
	    "max_frame = 4095 is out of range");
	expect_err(STORE_OK "[daemon]\nmax_frame = 4GiB\n", 4,
	    "max_frame = 4GiB is out of range");
	expect_err("[store s]\nmap_size = 1MiB\nsync_interval = 2h\n", 3,
	    "sync_interval = 2h is out of range; use 10ms to 1h");
	expect_msg("[store s]\nmap_size = 1MiB\nsync_interval = soon\n", 3,
	    "sync_interval = 'soon' is not a duration; write a whole number "
	    "with ms, s, m or h (bare: seconds), e.g. sync_interval = 1s");
	expect_err(STORE_OK "[daemon]\nidle_close = 9ms\n", 4,
	    "idle_close = 9ms is out of range; use 10ms to 7 days (168h)");
	expect_err(STORE_OK "[daemon]\nidle_close = 169h\n", 4,
	    "is out of range");
	expect_err("[store refs]\nmap_size = 1048575\n", 2,
	    "map_size = 1048575 is out of range; use 1MiB to 64TiB");
	expect_err("[store refs]\nmap_size = 65TiB\n", 2, "is out of range");
	expect_err("[store refs]\nmap_size = 1GiB\nmax_dbs = 65\n", 3,
	    "max_dbs = 65 is out of range; use 0 to 64");

	/* The edges themselves are fine. */
	cfg = load(STORE_OK "[daemon]\nmax_frame = 4294967295\n"
	    "idle_close = 168h\nio_threads = 64\nmax_envs = 1\n");
	ck_assert_uint_eq(cfg->max_frame, UINT32_MAX);
	ck_assert_uint_eq(cfg->idle_close_ms, 7ULL * 24 * 3600 * 1000);
	ck_assert_uint_eq(cfg->io_threads, 64);
	ck_assert_uint_eq(cfg->max_envs, 1);
	cfg_free(cfg);
	cfg = load(STORE_OK "[daemon]\nmax_frame = 4KiB\nidle_close = 10ms\n"
	    "writer_threads = 1\n");
	ck_assert_uint_eq(cfg->max_frame, 4096);
	ck_assert_uint_eq(cfg->idle_close_ms, 10);
	ck_assert_uint_eq(cfg->writer_threads, 1);
	cfg_free(cfg);
}
END_TEST

START_TEST(test_socket_mode)
{
	struct config	*cfg;

	expect_msg(STORE_OK "[daemon]\nsocket_mode = 0888\n", 4,
	    "socket_mode = '0888' is not an octal mode up to 0777; write "
	    "e.g. socket_mode = 0660");
	expect_err(STORE_OK "[daemon]\nsocket_mode = 01000\n", 4,
	    "not an octal mode");
	expect_err(STORE_OK "[daemon]\nsocket_mode = 1777\n", 4,
	    "not an octal mode");
	expect_err(STORE_OK "[daemon]\nsocket_mode = rw\n", 4,
	    "not an octal mode");
	expect_err(STORE_OK "[daemon]\nsocket_mode =\n", 4,
	    "not an octal mode");
	expect_err(STORE_OK "[daemon]\nsocket_mode = -660\n", 4,
	    "not an octal mode");
	cfg = load(STORE_OK "[daemon]\nsocket_mode = 0777\n");
	ck_assert_uint_eq(cfg->socket_mode, 0777);
	cfg_free(cfg);
	cfg = load(STORE_OK "[daemon]\nsocket_mode = 0\n");
	ck_assert_uint_eq(cfg->socket_mode, 0);
	cfg_free(cfg);
}
END_TEST

START_TEST(test_relative_paths)
{
	char	 text[512];

	expect_msg(STORE_OK "[daemon]\nsocket = run/s.sock\n", 4,
	    "socket = 'run/s.sock' is not an absolute path; write the full "
	    "path, e.g. socket = /run/storesd/storesd.sock");
	expect_msg(STORE_OK "[daemon]\ndata_dir = ./data\n", 4,
	    "data_dir = './data' is not an absolute path; write the full "
	    "path, e.g. data_dir = /var/lib/storesd");
	expect_err(STORE_OK "[daemon]\nsocket =\n", 4, "not an absolute");
	/* Even when an override would replace it. */
	ck_assert_ptr_null(load3(STORE_OK "[daemon]\nsocket = s.sock\n",
	    "/x.sock", NULL));
	ck_assert_ptr_nonnull(strstr(errbuf, ":4: socket = 's.sock' is not"));

	/* A socket path must fit in sun_path (108 bytes with its NUL). */
	snprintf(text, sizeof(text), STORE_OK "[daemon]\nsocket = /%0107d\n",
	    0);
	expect_msg(text, 4, "socket is 108 bytes long; the limit is 107, "
	    "choose a shorter path");
	snprintf(text, sizeof(text), STORE_OK "[daemon]\nsocket = /%0106d\n",
	    0);
	cfg_free(load(text));
}
END_TEST

START_TEST(test_store_name)
{
	char	 text[256];

	expect_msg("[store re fs]\nmap_size = 1GiB\n", 1,
	    "store name 're fs' is not valid; names are 1 to 64 bytes of "
	    "A-Z a-z 0-9 . _ -, not starting with '.' or '-'");
	expect_err("[store .refs]\n", 1, "store name '.refs' is not valid");
	expect_err("[store -refs]\n", 1, "is not valid");
	expect_err("[store r/s]\n", 1, "is not valid");
	snprintf(text, sizeof(text), "[store %065d]\n", 0);
	expect_err(text, 1, "is not valid");
	/* 64 bytes is the longest name. */
	snprintf(text, sizeof(text), "[store %064d]\nmap_size = 1MiB\n", 0);
	cfg_free(load(text));
}
END_TEST

START_TEST(test_duplicate_store)
{
	expect_msg(STORE_OK "[store nodes]\nmap_size = 1GiB\n"
	    "[store   refs]\nmap_size = 1GiB\n", 5,
	    "[store refs] is declared twice (first on line 1); merge the two "
	    "sections");
	expect_err(DAEMON_OK STORE_OK "[daemon]\n", 5,
	    "[daemon] is declared twice (first on line 1)");
}
END_TEST

START_TEST(test_duplicate_key)
{
	expect_msg("[store refs]\nmap_size = 1GiB\nsync = full\n"
	    "map_size = 2GiB\n", 4,
	    "map_size is set twice in [store refs] (first on line 2); "
	    "keep one");
	expect_err(STORE_OK "[daemon]\nio_threads = 2\n\nio_threads = 2\n",
	    6, "io_threads is set twice in [daemon] (first on line 4)");
	/* The same key in two sections is fine. */
	cfg_free(load("[store a]\nmap_size = 1GiB\n[store b]\n"
	    "map_size = 1GiB\n"));
}
END_TEST

START_TEST(test_bad_dbs)
{
	expect_msg("[store refs]\nmap_size = 1GiB\ndbs = a, b c\n", 3,
	    "db name 'b c' is not valid; names are 1 to 64 bytes of "
	    "A-Z a-z 0-9 . _ -, not starting with '.' or '-'");
	expect_err("[store refs]\nmap_size = 1GiB\ndbs = .x\n", 3,
	    "db name '.x' is not valid");
	expect_err("[store refs]\nmap_size = 1GiB\ndbs = a,,b\n", 3,
	    "dbs = 'a,,b' has an empty name");
	expect_err("[store refs]\nmap_size = 1GiB\ndbs = a,\n", 3,
	    "has an empty name");
	expect_err("[store refs]\nmap_size = 1GiB\ndbs =\n", 3,
	    "dbs is empty; list at least one db, e.g. dbs = refs");
	expect_msg("[store refs]\nmap_size = 1GiB\ndbs = a, b, a\n", 3,
	    "db 'a' is listed twice in dbs; list each db once");
}
END_TEST

START_TEST(test_too_many_dbs)
{
	struct config	*cfg;
	char		 text[512];
	int		 i, n;

	/* 0..63 fit; with 64 the list is one too long. */
	n = snprintf(text, sizeof(text), "[store r]\nmap_size = 1GiB\ndbs = ");
	for (i = 0; i < 64; i++)
		n += snprintf(text + n, sizeof(text) - n, "%s%d",
		    i ? "," : "", i);
	snprintf(text + n, sizeof(text) - n, "\n");
	cfg = load(text);
	ck_assert_uint_eq(cfg->stores[0].ndbs, CFG_MAX_DBS);
	ck_assert_uint_eq(cfg->stores[0].max_dbs, CFG_MAX_DBS);
	ck_assert_str_eq(cfg->stores[0].dbs[63], "63");
	cfg_free(cfg);
	snprintf(text + n, sizeof(text) - n, ",64\n");
	expect_msg(text, 3, "dbs lists more than 64 dbs; split them over "
	    "several stores");
}
END_TEST

START_TEST(test_max_dbs)
{
	struct config	*cfg;

	expect_msg("[store refs]\nmap_size = 1GiB\nmax_dbs = 2\n"
	    "dbs = a, b, c\n", 3,
	    "max_dbs = 2 is less than the 3 dbs listed; set max_dbs = 3 or "
	    "more");
	expect_msg("[store refs]\nmap_size = 1GiB\ndbs = a, b\nmax_dbs = 0\n"
	    "sync = full\n", 4,
	    "max_dbs = 0 means one unnamed db, but dbs lists 2; set "
	    "max_dbs = 2 or list one db");
	expect_err("[store refs]\nmap_size = 1GiB\nmax_dbs = x\n", 3,
	    "max_dbs = 'x' is not a whole number; use 0 to 64");

	/* max_dbs = 0 with no dbs: the one db is named like the store. */
	cfg = load("[store refs]\nmap_size = 1GiB\nmax_dbs = 0\n");
	ck_assert_uint_eq(cfg->stores[0].max_dbs, 0);
	ck_assert_uint_eq(cfg->stores[0].ndbs, 1);
	ck_assert_str_eq(cfg->stores[0].dbs[0], "refs");
	cfg_free(cfg);
	/* More room than dbs listed is fine. */
	cfg = load("[store refs]\nmap_size = 1GiB\nmax_dbs = 64\ndbs = a\n");
	ck_assert_uint_eq(cfg->stores[0].max_dbs, 64);
	ck_assert_uint_eq(cfg->stores[0].ndbs, 1);
	cfg_free(cfg);
}
END_TEST

START_TEST(test_bad_sync)
{
	expect_msg("[store refs]\nmap_size = 1GiB\nsync = always\n", 3,
	    "sync = 'always' is not known; write sync = full, nometa or none");
	expect_err("[store refs]\nmap_size = 1GiB\nsync = FULL\n", 3,
	    "is not known");
	expect_err("[store refs]\nmap_size = 1GiB\nsync =\n", 3,
	    "is not known");
}
END_TEST

/* create = auto | explicit; anything else names both. */
START_TEST(test_create)
{
	struct config	*cfg;

	cfg = load("[store a]\nmap_size = 1GiB\ncreate = explicit\n"
	    "[store b]\nmap_size = 1GiB\ncreate = auto\n");
	ck_assert(cfg->stores[0].create_explicit);
	ck_assert(!cfg->stores[1].create_explicit);
	cfg_free(cfg);
	expect_msg("[store refs]\nmap_size = 1GiB\ncreate = manual\n", 3,
	    "create = 'manual' is not known; write create = auto or "
	    "explicit");
}
END_TEST

START_TEST(test_bad_path)
{
	expect_err("[store refs]\nmap_size = 1GiB\npath = @T/nope\n", 3,
	    "path = /");
	ck_assert_ptr_nonnull(strstr(errbuf, "/nope: No such file or "
	    "directory; create the directory first or fix the path"));
	expect_err("[store refs]\nmap_size = 1GiB\npath = envs/a\n", 3,
	    "path = 'envs/a' is not an absolute path");
	expect_err("[store refs]\nmap_size = 1GiB\npath = @T/afile\n", 3,
	    "is not a directory");
}
END_TEST

START_TEST(test_same_path)
{
	char	 want[PATH_MAX * 2];

	expect_err(DAEMON_OK "[store a]\nmap_size = 1GiB\npath = @T/envs/a\n"
	    "[store b]\nmap_size = 2GiB\nmax_dbs = 4\npath = @T/envs/a/\n",
	    9, "stores a (path on line 5) and b (path on line 9) are the same "
	    "directory ");
	snprintf(want, sizeof(want), "directory %s/envs/a; give each store a "
	    "directory of its own", realtmp);
	ck_assert_ptr_nonnull(strstr(errbuf, want));

	/* Through a symlink, and with a store in between. */
	expect_err(DAEMON_OK "[store a]\nmap_size = 1GiB\npath = @T/envs/a\n"
	    "[store mid]\nmap_size = 1GiB\npath = @T/envs/b\n"
	    "[store c]\nmap_size = 1GiB\npath = @T/envs/link\n",
	    11, "stores a (path on line 5) and c (path on line 11)");

	/* Different directories are fine. */
	cfg_free(load(DAEMON_OK "[store a]\nmap_size = 1GiB\npath = @T/envs/a\n"
	    "[store b]\nmap_size = 1GiB\npath = @T/envs/b\n"));
}
END_TEST

START_TEST(test_path_in_data_dir)
{
	struct config	*cfg;
	char		 dd[PATH_MAX];

	expect_err("[daemon]\ndata_dir = @T/data\n[store a]\n"
	    "map_size = 1GiB\npath = @T/data/inside\n", 5,
	    "'s path ");
	ck_assert_ptr_nonnull(strstr(errbuf, "store a's path "));
	ck_assert_ptr_nonnull(strstr(errbuf, "/data/inside is inside "
	    "data_dir "));
	ck_assert_ptr_nonnull(strstr(errbuf, "; the per-repo envs live there "
	    "\xE2\x80\x94 move it out"));
	/* data_dir itself, spelled with a trailing slash. */
	expect_err("[daemon]\ndata_dir = @T/data//\n[store a]\n"
	    "map_size = 1GiB\npath = @T/data\n", 5, "is inside data_dir");
	/* data_dir given later in the file. */
	expect_err("[store a]\nmap_size = 1GiB\npath = @T/data/inside\n"
	    "[daemon]\ndata_dir = @T/data\n", 3, "is inside data_dir");
	/* data_dir from the command line, through a symlink. */
	tpath(dd, sizeof(dd), "datalink");
	ck_assert_ptr_null(load3("[store a]\nmap_size = 1GiB\n"
	    "path = @T/data/inside\n", NULL, dd));
	ck_assert_ptr_nonnull(strstr(errbuf, ":3: store a's path"));
	/* A data_dir that does not exist yet is compared as written. */
	snprintf(dd, sizeof(dd), "%s/env//", realtmp);
	cfg_free(load3("[store a]\nmap_size = 1GiB\npath = @T/envs/a\n",
	    NULL, dd));
	ck_assert_str_eq(errbuf, "");
	snprintf(dd, sizeof(dd), "%s/envs/a/../nosuch", realtmp);
	cfg_free(load3("[store a]\nmap_size = 1GiB\npath = @T/envs/a\n",
	    NULL, dd));
	ck_assert_str_eq(errbuf, "");

	/* A sibling that shares a prefix is not inside. */
	cfg = load("[daemon]\ndata_dir = @T/data\n[store a]\n"
	    "map_size = 1GiB\npath = @T/data2\n");
	cfg_free(cfg);
	/* Nor is data_dir inside the path a problem of this rule. */
	cfg = load("[daemon]\ndata_dir = @T/envs/b/data\n[store a]\n"
	    "map_size = 1GiB\npath = @T/envs/b\n");
	cfg_free(cfg);
}
END_TEST

START_TEST(test_syntax_error)
{
	expect_msg("[store refs]\nmap_size 1GiB\n", 2,
	    "syntax error: expected 'key = value' or '[section]'");
	/* An indented line is not a continuation of the value above. */
	expect_msg("[store refs]\nmap_size = 1GiB\ndbs = a, b\n   c\n", 4,
	    "syntax error: expected 'key = value' or '[section]'");
	expect_msg("[store refs]\nmap_size = 1GiB\n= x\n", 3,
	    "syntax error: expected 'key = value' or '[section]'");
	/* '=' only inside a comment. */
	expect_err(STORE_OK "dbs ; = refs\n", 3, "syntax error");
	/* A ':' separates too, as in inih. */
	cfg_free(load("[store refs]\nmap_size: 1GiB\n"));
}
END_TEST

/*
 * Every error of a file is reported, one a line in the order of their
 * lines, not only the first: an operator fixes them in one edit.  The
 * keys under a bad header are skipped, and the checks of a section that
 * had an error are not echoed.
 */
START_TEST(test_all_errors)
{
	static const char text[] =
	    "[daemon]\n"
	    "io_threads = lots\n"
	    "[store refs]\n"
	    "map_size = 1GiB\n"
	    "colour = blue\n"
	    "[store b@d]\n"
	    "map_size = x\n"
	    "[store nodes]\n"
	    "map_size = 1GiB\n"
	    "sync = sometimes\n";
	char	 want[8 * PATH_MAX], known[] = "map_size, max_dbs, dbs, sync, "
		    "path, sync_interval, readers, writers, create, history";
	char	 small[200];

	ck_assert_ptr_null(load3(text, NULL, NULL));
	snprintf(want, sizeof(want),
	    "%s:2: io_threads = 'lots' is not a whole number; use 1 to 64\n"
	    "%s:5: unknown key 'colour' in [store refs]; known keys: %s\n"
	    "%s:6: store name 'b@d' is not valid; " NAME_RULE_T "\n"
	    "%s:10: sync = 'sometimes' is not known; write sync = full, "
	    "nometa or none", conf_path, conf_path, known, conf_path,
	    conf_path);
	ck_assert_str_eq(errbuf, want);

	/* A section's own checks come on its header's line, in order. */
	ck_assert_ptr_null(load3("[store a]\ndbs = a\n[store b]\n"
	    "map_size = x\n= y\n", NULL, NULL));
	ck_assert_ptr_nonnull(strstr(errbuf, ":1: [store a] has no map_size"));
	ck_assert_ptr_nonnull(strstr(errbuf, "\n" ));
	ck_assert_ptr_nonnull(strstr(strstr(errbuf, ":1: "), ":4: map_size = "
	    "'x' is not a size"));
	ck_assert_ptr_nonnull(strstr(strstr(errbuf, ":4: "), ":5: syntax "
	    "error"));

	/* What does not fit is counted. */
	write_file(conf_path, text);
	ck_assert_ptr_null(cfg_load(conf_path, NULL, NULL, small,
	    sizeof(small)));
	ck_assert_ptr_nonnull(strstr(small, ":2: io_threads"));
	ck_assert_ptr_null(strstr(small, ":5: "));
	ck_assert_ptr_nonnull(strstr(small, ": and 3 more errors"));
	/* Room for less than the first: it is cut off, nothing else. */
	ck_assert_ptr_null(cfg_load(conf_path, NULL, NULL, small, 20));
	ck_assert_uint_eq(strlen(small), 19);
	ck_assert_int_eq(strncmp(small, conf_path, 19), 0);
}
END_TEST

START_TEST(test_long_line)
{
	char	 text[2048];
	char	 comment[1500];

	memset(comment, 'x', sizeof(comment) - 1);
	comment[sizeof(comment) - 1] = '\0';
	snprintf(text, sizeof(text), STORE_OK "; %s\n[store bad]\n", comment);
	expect_err(text, 3, "line too long (1501 bytes, the limit is ");
	ck_assert_ptr_nonnull(strstr(errbuf, "shorten it"));
	/* Long, not too long: a line inih would split is caught instead. */
	snprintf(text, sizeof(text), STORE_OK "; %.150s\n", comment);
	cfg_free(load(text));
	/* A long last line without a newline. */
	snprintf(text, sizeof(text), STORE_OK "socket = /%.300s", comment);
	expect_err(text, 3, "line too long");
}
END_TEST

START_TEST(test_no_store)
{
	char	 want[PATH_MAX + 128];

	ck_assert_ptr_null(load3("[daemon]\nio_threads = 2\n", NULL, NULL));
	snprintf(want, sizeof(want), "%s: no store is declared; add one, "
	    "e.g. [store refs] with map_size = 256MiB", conf_path);
	ck_assert_str_eq(errbuf, want);
	ck_assert_ptr_null(load3("", NULL, NULL));
	ck_assert_str_eq(errbuf, want);
	ck_assert_ptr_null(load3("; only a comment\n\n", NULL, NULL));
	ck_assert_str_eq(errbuf, want);
}
END_TEST

START_TEST(test_unreadable)
{
	char	 path[PATH_MAX], want[PATH_MAX + 128];

	tpath(path, sizeof(path), "missing.conf");
	ck_assert_ptr_null(cfg_load(path, NULL, NULL, errbuf,
	    sizeof(errbuf)));
	snprintf(want, sizeof(want), "%s: cannot open: %s; give an existing "
	    "file, or none for the built-in default", path, strerror(ENOENT));
	ck_assert_str_eq(errbuf, want);

	/* A directory opens but cannot be read. */
	tpath(path, sizeof(path), "envs");
	ck_assert_ptr_null(cfg_load(path, NULL, NULL, errbuf,
	    sizeof(errbuf)));
	snprintf(want, sizeof(want), "%s: cannot read: %s", path,
	    strerror(EISDIR));
	ck_assert_str_eq(errbuf, want);

	/* No room for a message is not a crash. */
	ck_assert_ptr_null(cfg_load(path, NULL, NULL, NULL, 0));
	cfg_free(NULL);
}
END_TEST

START_TEST(test_nul_and_bom)
{
	struct config	*cfg;
	FILE		*fp;

	/* A UTF-8 byte order mark before the first header is fine. */
	cfg = load("\xEF\xBB\xBF[store refs]\nmap_size = 1GiB\n");
	ck_assert_str_eq(cfg->stores[0].name, "refs");
	cfg_free(cfg);

	ck_assert_ptr_nonnull(fp = fopen(conf_path, "w"));
	fwrite(STORE_OK "sync = full\0x\n", 1, sizeof(STORE_OK) + 13, fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_ptr_null(cfg_load(conf_path, NULL, NULL, errbuf,
	    sizeof(errbuf)));
	ck_assert_ptr_nonnull(strstr(errbuf, ":3: the line holds a NUL byte"));
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(test_parse_size)
{
	static const struct {
		const char	*s;
		uint64_t	 v;
	} ok[] = {
		{ "0", 0 }, { "1", 1 }, { "0B", 0 }, { "1000", 1000 },
		{ "7B", 7 }, { "1KiB", 1024 }, { "1 KiB", 1024 },
		{ "2\tMiB", 2 << 20 }, { "3GiB", 3ULL << 30 },
		{ "4TiB", 4ULL << 40 }, { "007MiB", 7 << 20 },
		{ "18446744073709551615", UINT64_MAX },
		{ "18446744073709551615B", UINT64_MAX },
		{ "16777215TiB", 16777215ULL << 40 },
	};
	static const char *bad[] = {
		"", " 1", "1 ", "-1", "+1", "1.5KiB", "1k", "1K", "1KB",
		"1kib", "1KiBs", "1 KiB ", "KiB", "0x10", "1 2", "1PiB",
		"18446744073709551616", "16777216TiB",
		"99999999999999999999999GiB",
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		ck_assert_msg(cfg_parse_size(ok[i].s, &v) == 0, "'%s'",
		    ok[i].s);
		ck_assert_uint_eq(v, ok[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		ck_assert_msg(cfg_parse_size(bad[i], &v) == -1, "'%s'",
		    bad[i]);
		ck_assert_uint_eq(v, 12345);
	}
	errno = 0;
	ck_assert_int_eq(cfg_parse_size("16777216TiB", &v), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(cfg_parse_size("1KB", &v), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(cfg_parse_size(NULL, &v), -1);
}
END_TEST

START_TEST(test_parse_duration)
{
	static const struct {
		const char	*s;
		uint64_t	 ms;
	} ok[] = {
		{ "0", 0 }, { "10", 10000 }, { "30s", 30000 },
		{ "500ms", 500 }, { "5m", 300000 }, { "1h", 3600000 },
		{ "2 h", 7200000 }, { "0ms", 0 },
		{ "18446744073709551615ms", UINT64_MAX },
	};
	static const char *bad[] = {
		"", "s", "ms", " 1s", "1s ", "-1s", "+1s", "1.5s", "1d",
		"1sec", "1S", "1M", "1hr", "1 ", "1 s s",
		"18446744073709551615s", "18446744073709551616ms",
		"5124095576031h",
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		ck_assert_msg(cfg_parse_duration(ok[i].s, &v) == 0, "'%s'",
		    ok[i].s);
		ck_assert_uint_eq(v, ok[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		ck_assert_msg(cfg_parse_duration(bad[i], &v) == -1, "'%s'",
		    bad[i]);
		ck_assert_uint_eq(v, 12345);
	}
	/* The largest whole hour count that fits, and one more. */
	ck_assert_int_eq(cfg_parse_duration("5124095576030h", &v), 0);
	ck_assert_uint_eq(v, 5124095576030ULL * 3600000);
	ck_assert_int_eq(cfg_parse_duration("5124095576031h", &v), -1);
	ck_assert_int_eq(errno, ERANGE);
}
END_TEST

START_TEST(test_format_duration)
{
	static const struct {
		uint64_t	 ms;
		const char	*s;
	} cases[] = {
		{ 0, "0ms" }, { 1, "1ms" }, { 1500, "1500ms" },
		{ 2000, "2s" }, { 90000, "90s" }, { 120000, "2m" },
		{ 3600000, "1h" }, { 3601000, "3601s" },
	};
	char		 buf[32];
	uint64_t	 back;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg_format_duration(cases[i].ms, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].s);
		/* What it writes, the parser reads back. */
		ck_assert_int_eq(cfg_parse_duration(buf, &back), 0);
		ck_assert_uint_eq(back, cases[i].ms);
	}
}
END_TEST

START_TEST(test_format_size)
{
	static const struct {
		uint64_t	 v;
		const char	*s;
	} cases[] = {
		{ 0, "0B" }, { 1, "1B" }, { 1000, "1000B" },
		{ 1023, "1023B" }, { 1024, "1KiB" }, { 1536, "1536B" },
		{ 4096, "4KiB" }, { 268435456, "256MiB" },
		{ 3ULL << 30, "3GiB" }, { (1ULL << 30) + 1024, "1048577KiB" },
		{ 64ULL << 40, "64TiB" }, { 1ULL << 50, "1024TiB" },
		{ UINT32_MAX, "4294967295B" },
		{ UINT64_MAX, "18446744073709551615B" },
		{ 16777215ULL << 40, "16777215TiB" },
	};
	char		 buf[32], small[4];
	uint64_t	 back;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg_format_size(cases[i].v, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].s);
		/* What it writes, the parser reads back. */
		ck_assert_int_eq(cfg_parse_size(buf, &back), 0);
		ck_assert_uint_eq(back, cases[i].v);
	}
	cfg_format_size(256ULL << 20, small, sizeof(small));
	ck_assert_str_eq(small, "256");
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(test_acls)
{
	struct config		*cfg;
	const struct cfg_store	*st;

	cfg = load("[store s]\nmap_size = 1MiB\n"
	    "readers = root, 1234, @root, @4321\n"
	    "writers = \n"
	    "[store open]\nmap_size = 1MiB\n");
	st = &cfg->stores[0];
	ck_assert(st->readers.set);
	ck_assert_uint_eq(st->readers.nuids, 2);
	ck_assert_uint_eq(st->readers.uids[0], 0);
	ck_assert_uint_eq(st->readers.uids[1], 1234);
	ck_assert_uint_eq(st->readers.ngids, 2);
	ck_assert_uint_eq(st->readers.gids[0], 0);
	ck_assert_uint_eq(st->readers.gids[1], 4321);
	/* An empty list is set: nobody but root and storesd's user. */
	ck_assert(st->writers.set);
	ck_assert_uint_eq(st->writers.nuids + st->writers.ngids, 0);
	ck_assert(!cfg->stores[1].readers.set);
	ck_assert(!cfg->stores[1].writers.set);
	cfg_free(cfg);

	expect_msg("[store s]\nmap_size = 1MiB\nreaders = nosuchuser42\n", 3,
	    "readers: no user named 'nosuchuser42' on this host; write an "
	    "existing user name, or a numeric id");
	expect_msg("[store s]\nmap_size = 1MiB\nwriters = root, @nosuchgrp42\n",
	    3, "writers: no group named 'nosuchgrp42' on this host; write an "
	    "existing group name, or a numeric id");
	expect_err("[store s]\nmap_size = 1MiB\nwriters = root,,x\n", 3,
	    "writers has an empty or overlong entry");
}
END_TEST

START_TEST(test_limits)
{
	struct config	*cfg;

	cfg = load(STORE_OK "[daemon]\nmax_connections = 10\n"
	    "max_inflight = 3\nmax_output = 1MiB\nmax_requests_per_turn = 5\n"
	    "stop_timeout = 2s\nmax_input = 2GiB\nframe_timeout = 500ms\n"
	    "snapshot_max = 2\nsnapshot_timeout = 500ms\n"
	    "snapshot_max_time = 2h\nsnapshot_reserve = 3GiB\ndrop_wait = 0\n"
	    "restore_timeout = 1500ms\n");
	ck_assert_uint_eq(cfg->drop_wait_ms, 0);
	ck_assert_uint_eq(cfg->restore_timeout_ms, 1500);
	ck_assert_uint_eq(cfg->max_connections, 10);
	ck_assert_uint_eq(cfg->max_input, UINT64_C(2) << 30);
	ck_assert_uint_eq(cfg->frame_timeout_ms, 500);
	ck_assert_uint_eq(cfg->snapshot_max, 2);
	ck_assert_uint_eq(cfg->snapshot_timeout_ms, 500);
	ck_assert_uint_eq(cfg->snapshot_max_time_ms, 2 * 3600 * 1000);
	ck_assert_uint_eq(cfg->snapshot_reserve, UINT64_C(3) << 30);
	ck_assert_uint_eq(cfg->max_inflight, 3);
	ck_assert_uint_eq(cfg->max_per_turn, 5);
	ck_assert_uint_eq(cfg->stop_timeout_ms, 2000);
	ck_assert_uint_eq(cfg->max_output, 1 << 20);
	cfg_free(cfg);
	cfg = load(STORE_OK);
	ck_assert_uint_eq(cfg->max_connections, 1024);
	ck_assert_uint_eq(cfg->max_inflight, 1024);
	ck_assert_uint_eq(cfg->max_output, 64 << 20);
	ck_assert_uint_eq(cfg->max_per_turn, 64);
	ck_assert_uint_eq(cfg->stop_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->max_input, 512 << 20);
	ck_assert_uint_eq(cfg->frame_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->snapshot_max, 8);
	ck_assert_uint_eq(cfg->snapshot_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->drop_wait_ms, 2000);
	ck_assert_uint_eq(cfg->restore_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->snapshot_max_time_ms, 24 * 3600 * 1000);
	ck_assert_uint_eq(cfg->snapshot_reserve, 0);	/* a twentieth */
	cfg_free(cfg);
	expect_err(STORE_OK "[daemon]\nsnapshot_reserve = 4KiB\n", 4,
	    "snapshot_reserve = 4KiB is out of range; use 1MiB to 1EiB");
	expect_err(STORE_OK "[daemon]\ndrop_wait = 2m\n", 4,
	    "drop_wait = 2m is out of range; use 0 to 1m");
	expect_err(STORE_OK "[daemon]\nrestore_timeout = 50ms\n", 4,
	    "restore_timeout = 50ms is out of range; use 100ms to 1h");
	expect_err(STORE_OK "[daemon]\nsnapshot_max = 0\n", 4,
	    "snapshot_max = 0 is out of range; use 1 to 1024");
	expect_err(STORE_OK "[daemon]\nsnapshot_timeout = 5ms\n", 4,
	    "snapshot_timeout = 5ms is out of range; use 10ms to 1h");
	expect_err(STORE_OK "[daemon]\nsnapshot_max_time = 10ms\n", 4,
	    "snapshot_max_time = 10ms is out of range; use 100ms to 7 days "
	    "(168h)");
	expect_err(STORE_OK "[daemon]\nmax_connections = 0\n", 4,
	    "max_connections = 0 is out of range; use 1 to 1000000");
	expect_err(STORE_OK "[daemon]\nmax_inflight = 0\n", 4,
	    "max_inflight = 0 is out of range");
	expect_err(STORE_OK "[daemon]\nmax_requests_per_turn = 0\n", 4,
	    "max_requests_per_turn = 0 is out of range; use 1 to 65536");
	expect_err(STORE_OK "[daemon]\nstop_timeout = 2h\n", 4,
	    "stop_timeout = 2h is out of range; use 10ms to 1h");
	expect_err(STORE_OK "[daemon]\nmax_output = 1KiB\n", 4,
	    "max_output = 1KiB is out of range; use 64KiB to 64GiB");
	expect_err(STORE_OK "[daemon]\nmax_input = 1KiB\n", 4,
	    "max_input = 1KiB is out of range; use 1MiB to 1TiB");
	expect_err(STORE_OK "[daemon]\nframe_timeout = 10ms\n", 4,
	    "frame_timeout = 10ms is out of range; use 100ms to 1h");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("load");
	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_acls);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_daemon_defaults);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_override_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_missing_map_size);
	tcase_add_test(tc, test_bad_size);
	tcase_add_test(tc, test_bad_duration);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_socket_mode);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_store_name);
	tcase_add_test(tc, test_duplicate_store);
	tcase_add_test(tc, test_duplicate_key);
	tcase_add_test(tc, test_bad_dbs);
	tcase_add_test(tc, test_too_many_dbs);
	tcase_add_test(tc, test_max_dbs);
	tcase_add_test(tc, test_bad_sync);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_bad_path);
	tcase_add_test(tc, test_same_path);
	tcase_add_test(tc, test_path_in_data_dir);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_all_errors);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_no_store);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_nul_and_bom);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_format_size);
	tcase_add_test(tc, test_format_duration);
	suite_add_tcase(s, tc);

	return s;
}

/* The directories and files the path rules are tested against. */
static int
make_tree(void)
{
	static const char *dirs[] = {
		"envs", "envs/a", "envs/b", "data", "data/inside", "data2",
	};
	char	 path[PATH_MAX], target[PATH_MAX];
	size_t	 i;
	FILE	*fp;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdir(tpath(path, sizeof(path), dirs[i]), 0700) == -1)
			return -1;
	if (symlink(tpath(target, sizeof(target), "envs/a"),
	    tpath(path, sizeof(path), "envs/link")) == -1 ||
	    symlink(tpath(target, sizeof(target), "data"),
	    tpath(path, sizeof(path), "datalink")) == -1)
		return -1;
	if ((fp = fopen(tpath(path, sizeof(path), "afile"), "w")) == NULL)
		return -1;
	fclose(fp);
	snprintf(conf_path, sizeof(conf_path), "%s/test.conf", tmpdir);
	return 0;
}


int
main(void)
{
	int	 failed = 1;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if ((realtmp = realpath(tmpdir, NULL)) == NULL || make_tree() == -1) {
		perror("setup");
		goto done;
	}
	/* The default data dir must exist for a non-root user. */
	if (getenv("HOME") == NULL && getenv("XDG_DATA_HOME") == NULL)
		setenv("XDG_DATA_HOME", tmpdir, 1);

	failed = check_run(config_suite());
done:
	free(realtmp);
	hs_rmtree(tmpdir);
	return failed != 0;
}
