/*
 * Unit tests of names that reach the filesystem: repo and store names
 * (proto/sp_names.c), the default paths, and the on-disk layout of envs
 * (daemon/layout.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "harness.h"

#include "config.h"
#include "layout.h"
#include "sp_names.h"

static struct sp_bytes
B(const char *s)
{
	struct sp_bytes	 b = { s, strlen(s) };

	return b;
}

static const char *const good_repos[] = {
	"default", "ox/mnist", "a", "A-Z_0.9", "a/b/c/d", "...", ".a", "a.",
	"-x", "x/.hidden", "a..b",
};

static const struct {
	const char	*name;
	const char	*why;
} bad_repos[] = {
	{ "", "empty" },
	{ "/abs", "empty component" },
	{ "trailing/", "empty component" },
	{ "a//b", "empty component" },
	{ ".", "'.' or '..'" },
	{ "..", "'.' or '..'" },
	{ "a/../b", "'.' or '..'" },
	{ "a/./b", "'.' or '..'" },
	{ "a b", "0x20" },
	{ "a@b", "0x40" },
	{ "a\\b", "0x5c" },
	{ "caf\xc3\xa9", "0xc3" },
	{ "new\nline", "0x0a" },
};

START_TEST(repo_good)
{
	struct sp_error	 err;

	ck_assert_msg(sp_repo_check(B(good_repos[_i]), &err) == 0, "%s: %s",
	    good_repos[_i], err.msg);
}
END_TEST

START_TEST(repo_bad)
{
	struct sp_error	 err;

	ck_assert_int_eq(sp_repo_check(B(bad_repos[_i].name), &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REPO);
	ck_assert_msg(strstr(err.msg, bad_repos[_i].why) != NULL,
	    "'%s': '%s' lacks '%s'", bad_repos[_i].name, err.msg,
	    bad_repos[_i].why);
}
END_TEST

START_TEST(repo_limits)
{
	char		 name[300];
	struct sp_error	 err;
	struct sp_bytes	 nul = { "a\0b", 3 };

	memset(name, 'a', sizeof(name));
	ck_assert_int_eq(sp_repo_check((struct sp_bytes){ name, 255 }, &err),
	    0);
	ck_assert_int_eq(sp_repo_check((struct sp_bytes){ name, 256 }, &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit is 255"));
	/* A NUL must not end the name early and let the rest through. */
	ck_assert_int_eq(sp_repo_check(nul, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "0x00"));
	ck_assert_int_eq(sp_repo_check((struct sp_bytes){ NULL, 0 }, &err),
	    -1);
}
END_TEST

START_TEST(store_names)
{
	ck_assert_int_eq(sp_name_check(B("refs")), 0);
	ck_assert_int_eq(sp_name_check(B("a.b-c_d9")), 0);
	ck_assert_int_eq(sp_name_check(B("")), -1);
	ck_assert_int_eq(sp_name_check(B(".hidden")), -1);
	ck_assert_int_eq(sp_name_check(B("-x")), -1);
	ck_assert_int_eq(sp_name_check(B("a/b")), -1);
	ck_assert_int_eq(sp_name_check(B("a@b")), -1);
	ck_assert_int_eq(sp_name_check(B(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
	    -1);	/* 65 bytes */
}
END_TEST

START_TEST(default_paths)
{
	char	 buf[256];

	setenv("STORESD_SOCKET", "/x/y.sock", 1);
	ck_assert_int_eq(sp_default_socket(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/x/y.sock");
	unsetenv("STORESD_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	ck_assert_int_eq(sp_default_socket(buf, sizeof(buf)), 0);
	if (geteuid() == 0)
		ck_assert_str_eq(buf, "/run/storesd/storesd.sock");
	else
		ck_assert_str_eq(buf, "/run/user/7/storesd/storesd.sock");
	ck_assert_int_eq(sp_default_socket(buf, 5), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);

	setenv("XDG_DATA_HOME", "/d", 1);
	ck_assert_int_eq(sp_default_data_dir(buf, sizeof(buf)), 0);
	if (geteuid() == 0)
		ck_assert_str_eq(buf, "/var/lib/storesd");
	else
		ck_assert_str_eq(buf, "/d/storesd");
}
END_TEST

/* ------------------------------------------------------------- layout */

static char	 tmp[64];


static void
setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/check_names.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
teardown(void)
{
	hs_rmtree(tmp);
}

static struct cfg_store
store(const char *name)
{
	struct cfg_store	 st;

	memset(&st, 0, sizeof(st));
	snprintf(st.name, sizeof(st.name), "%s", name);
	return st;
}

START_TEST(layout_dirs_never_collide)
{
	struct cfg_store	 refs = store("refs"), nodes = store("nodes");
	char			 a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	char			 d[PATH_MAX], e[PATH_MAX];

	ck_assert_int_eq(lay_env_dir("/D", &refs, B("ox/mnist"), a,
	    sizeof(a)), 0);
	ck_assert_str_eq(a, "/D/ox/mnist/@refs");
	/* Nested repos and a repo named like a store all stay apart. */
	lay_env_dir("/D", &refs, B("ox"), b, sizeof(b));
	lay_env_dir("/D", &refs, B("refs"), c, sizeof(c));
	lay_env_dir("/D", &nodes, B("ox/mnist"), d, sizeof(d));
	lay_env_dir("/D", &refs, B("ox/mnist/x"), e, sizeof(e));
	ck_assert_str_eq(b, "/D/ox/@refs");
	ck_assert_str_eq(c, "/D/refs/@refs");
	ck_assert_str_eq(d, "/D/ox/mnist/@nodes");
	ck_assert_str_eq(e, "/D/ox/mnist/x/@refs");
	/* No env directory is inside another. */
	ck_assert(strncmp(e, a, strlen(a)) != 0);
	ck_assert(strncmp(a, b, strlen(b)) != 0);
	ck_assert_int_eq(lay_env_dir("/D", &refs, B("x"), a, 8), -1);
	/* "/D/x/@refs" is 10 bytes: it fits in 11 with its NUL, not in 10. */
	ck_assert_int_eq(lay_env_dir("/D", &refs, B("x"), a, 11), 0);
	ck_assert_str_eq(a, "/D/x/@refs");
	ck_assert_int_eq(lay_env_dir("/D", &refs, B("x"), a, 10), -1);
}
END_TEST

START_TEST(layout_fixed_path)
{
	struct cfg_store	 st = store("adopted");
	struct sp_error		 err;
	char			 dir[PATH_MAX];
	char			 path[] = "/srv/env";

	st.path = path;
	ck_assert_int_eq(lay_env_dir("/D", &st, (struct sp_bytes){ NULL, 0 },
	    dir, sizeof(dir)), 0);
	ck_assert_str_eq(dir, "/srv/env");
	ck_assert_int_eq(lay_prepare("/D", &st, (struct sp_bytes){ NULL, 0 },
	    true, &err), 0);
}
END_TEST

START_TEST(layout_prepare_creates)
{
	struct cfg_store	 refs = store("refs");
	struct sp_error		 err;
	struct stat		 sb;
	char			 dir[PATH_MAX];

	ck_assert_int_eq(lay_prepare(tmp, &refs, B("ox/mnist"), false, &err),
	    -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("ox/mnist"), true, &err),
	    0);
	snprintf(dir, sizeof(dir), "%s/ox/mnist/@refs", tmp);
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("ox/mnist"), false, &err),
	    0);
	ck_assert_int_eq(lay_prepare_repo(tmp, "x/y", &err), 0);
	snprintf(dir, sizeof(dir), "%s/x/y", tmp);
	ck_assert_int_eq(stat(dir, &sb), 0);
}
END_TEST

START_TEST(layout_refuses_symlinks)
{
	struct cfg_store	 refs = store("refs");
	struct sp_error		 err;
	char			 link[PATH_MAX], target[PATH_MAX];

	/* A repo component that is a symlink leading out of data_dir. */
	snprintf(link, sizeof(link), "%s/evil", tmp);
	ck_assert_int_eq(symlink("/tmp", link), 0);
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("evil"), true, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REPO);
	ck_assert_ptr_nonnull(strstr(err.msg, "symlink"));
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("evil/x"), false, &err),
	    -1);
	ck_assert_int_eq(err.code, SP_BAD_REPO);
	ck_assert_int_eq(lay_prepare_repo(tmp, "evil/x", &err), -1);

	/* The env directory itself, and its data file. */
	ck_assert_int_eq(lay_prepare_repo(tmp, "r", &err), 0);
	snprintf(link, sizeof(link), "%s/r/@refs", tmp);
	ck_assert_int_eq(symlink("/tmp", link), 0);
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("r"), true, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REPO);

	ck_assert_int_eq(lay_prepare(tmp, &refs, B("s"), true, &err), 0);
	snprintf(link, sizeof(link), "%s/s/@refs/data.mdb", tmp);
	snprintf(target, sizeof(target), "%s/elsewhere", tmp);
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("s"), false, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REPO);
	ck_assert_ptr_nonnull(strstr(err.msg, "data.mdb"));
}
END_TEST

START_TEST(layout_file_in_the_way)
{
	struct cfg_store	 refs = store("refs");
	struct sp_error		 err;
	char			 path[PATH_MAX];
	FILE			*f;

	snprintf(path, sizeof(path), "%s/plain", tmp);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	ck_assert_int_eq(lay_prepare(tmp, &refs, B("plain"), true, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REPO);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
}
END_TEST

START_TEST(layout_init_clears_tmp)
{
	struct sp_error	 err;
	char		 data[128], left[PATH_MAX];
	struct stat	 sb;

	snprintf(data, sizeof(data), "%s/a/b/data", tmp);
	ck_assert_int_eq(lay_init(data, &err), 0);
	snprintf(left, sizeof(left), "%s/@tmp/fork.123", data);
	ck_assert_int_eq(mkdir(left, 0700), 0);
	ck_assert_int_eq(lay_init(data, &err), 0);
	ck_assert_int_eq(stat(left, &sb), -1);
	snprintf(left, sizeof(left), "%s/@tmp", data);
	ck_assert_int_eq(stat(left, &sb), 0);
}
END_TEST

static Suite *
names_suite(void)
{
	Suite	*s = suite_create("names");
	TCase	*tc;

	tc = tcase_create("repo");
	tcase_add_loop_test(tc, repo_good, 0,
	    sizeof(good_repos) / sizeof(good_repos[0]));
	tcase_add_loop_test(tc, repo_bad, 0,
	    sizeof(bad_repos) / sizeof(bad_repos[0]));
	tcase_add_test(tc, repo_limits);
	tcase_add_test(tc, store_names);
	tcase_add_test(tc, default_paths);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, layout_dirs_never_collide);
	tcase_add_test(tc, layout_fixed_path);
	tcase_add_test(tc, layout_prepare_creates);
	tcase_add_test(tc, layout_refuses_symlinks);
	tcase_add_test(tc, layout_file_in_the_way);
	tcase_add_test(tc, layout_init_clears_tmp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(names_suite());
}
