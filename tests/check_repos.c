/*
 * Repository life cycle through libstoreclient against a real storesd:
 * what the shell suite (tests/repos.sh) cannot arrange: an env held by a
 * running snapshot (drop and restore --replace are BUSY, and succeed
 * once it is done), descriptors that are not fit for a restore, the
 * library's codes, and reads of more repos than a loop remembers.  Every wait is bounded by an event, never a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "itest.h"

static int	 bad_stops;

static const char conf[] =
    "[store nodes]\nmap_size = 64MiB\nmax_dbs = 2\ndbs = nodes, meta\n"
    "[store strict]\nmap_size = 16MiB\ndbs = strict\ncreate = explicit\n";

/* A snapshot of (repo, nodes) into a pipe that nobody reads yet. */
struct held {
	struct hs_daemon	*d;
	const char		*repo;
	int			 wfd;
	int			 rc;
	char			 msg[512];
};

static void *
snapshot_main(void *arg)
{
	struct held	*h = arg;
	sc_conn		*c = sc_connect(h->d->sock);

	h->rc = sc_snapshot(c, h->repo, "nodes", h->wfd, 0, NULL);
	snprintf(h->msg, sizeof(h->msg), "%s", sc_errmsg(c));
	sc_close(c);
	return NULL;
}

/* Fills repo's nodes env past any pipe buffer, so a snapshot of it
 * blocks on an unread pipe. */
static void
fill(sc_conn *c, const char *repo)
{
	static char	 val[256 * 1024];
	char		 key[16];
	int		 i;

	memset(val, 'v', sizeof(val));
	for (i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		ck_assert_msg(sc_put(c, repo, "nodes", NULL, key, strlen(key),
		    val, sizeof(val)) == 0, "%s", sc_errmsg(c));
	}
}

/* Waits (bounded) until the daemon's live list shows repo's env in use. */
static void
wait_in_use(sc_conn *c, const char *repo)
{
	sc_live	*l;
	bool	 used = false;
	int	 i;

	for (i = 0; i < hs_tries(200) && !used; i++) {
		ck_assert_int_eq(sc_get_live(c, repo, "nodes", &l), 0);
		used = l->n == 1 && l->envs[0].inflight > 0;
		sc_live_free(l);
		if (!used)
			poll(NULL, 0, 10);
	}
	ck_assert_msg(used, "the snapshot never took the env");
}

START_TEST(drop_and_replace_are_busy_while_a_snapshot_runs)
{
	struct hs_daemon	 d;
	struct held		 h;
	pthread_t		 t;
	sc_conn			*c;
	char			 buf[65536];
	uint64_t		 n;
	char			 path[PATH_MAX];
	int			 p[2], snapfd;
	ssize_t			 got;

	it_up(&d, conf);
	c = it_conn(&d);
	fill(c, "held");
	/* A snapshot to restore over it below. */
	snprintf(path, sizeof(path), "%s/snap", d.dir);
	snapfd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(snapfd, -1);
	ck_assert_int_eq(sc_snapshot(c, "held", "nodes", snapfd, 0, NULL), 0);
	ck_assert_int_eq(pipe(p), 0);
	memset(&h, 0, sizeof(h));
	h.d = &d;
	h.repo = "held";
	h.wfd = p[1];
	ck_assert_int_eq(pthread_create(&t, NULL, snapshot_main, &h), 0);
	wait_in_use(c, "held");

	EXPECT_ERR(c, sc_drop(c, "held", "nodes", NULL), SC_ERR_BUSY);
	ck_assert_ptr_nonnull(strstr(sc_errmsg(c), "in use"));
	EXPECT_ERR(c, sc_drop(c, "held", NULL, NULL), SC_ERR_BUSY);
	/* What the drops refused is all still there. */
	ck_assert_int_eq(sc_count(c, "held", "nodes", NULL, &n), 0);
	ck_assert_uint_eq(n, 16);
	/* A restore over it is refused the same way, and changes nothing. */
	ck_assert_int_eq(lseek(snapfd, 0, SEEK_SET), 0);
	EXPECT_ERR(c, sc_restore(c, "held", "nodes", snapfd, 1, NULL),
	    SC_ERR_BUSY);
	ck_assert_int_eq(sc_count(c, "held", "nodes", NULL, &n), 0);
	ck_assert_uint_eq(n, 16);

	/* The snapshot ends once its pipe is read to the end. */
	close(p[1]);
	while ((got = read(p[0], buf, sizeof(buf))) > 0)
		;
	ck_assert_int_eq(got, 0);
	close(p[0]);
	pthread_join(t, NULL);
	ck_assert_msg(h.rc == 0, "snapshot: %s", h.msg);

	ck_assert_msg(sc_drop(c, "held", "nodes", &n) == 0, "%s",
	    sc_errmsg(c));
	ck_assert_uint_eq(n, 1);
	ck_assert(!it_exists(&d, "held"));
	EXPECT_ERR(c, sc_drop(c, "held", "nodes", NULL), SC_ERR_NOT_FOUND);
	/* The snapshot taken before brings it back. */
	ck_assert_int_eq(lseek(snapfd, 0, SEEK_SET), 0);
	ck_assert_msg(sc_restore(c, "held", "nodes", snapfd, 0, &n) == 0,
	    "%s", sc_errmsg(c));
	ck_assert_int_eq(sc_count(c, "held", "nodes", NULL, &n), 0);
	ck_assert_uint_eq(n, 16);
	close(snapfd);
	sc_close(c);
	it_down(&d, &bad_stops);
}
END_TEST

/* Descriptors a restore cannot use, refused before anything happens. */
START_TEST(restore_needs_a_readable_descriptor)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	char			 path[PATH_MAX];
	int			 fd;

	it_up(&d, conf);
	c = it_conn(&d);
	EXPECT_ERR(c, sc_restore(c, "r", "nodes", -1, 0, NULL),
	    SC_ERR_INVALID);
	EXPECT_ERR(c, sc_restore(c, "r", "nodes", 1000, 0, NULL),
	    SC_ERR_INVALID);
	EXPECT_ERR(c, sc_restore(c, "r", NULL, 0, 0, NULL), SC_ERR_INVALID);
	snprintf(path, sizeof(path), "%s/wo", d.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	EXPECT_ERR(c, sc_restore(c, "r", "nodes", fd, 0, NULL),
	    SC_ERR_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(sc_errmsg(c), "reading"));
	close(fd);
	/* The connection is fine, and nothing was made. */
	ck_assert_int_eq(sc_ping(c), 0);
	ck_assert(!it_exists(&d, "data/r"));
	sc_close(c);
	it_down(&d, &bad_stops);
}
END_TEST

/*
 * A restore's snapshot_max place is free again once it is answered: the
 * next one, sent at once, never finds it held (BUSY).  With
 * snapshot_max = 2 a uid holds one place at most.
 */
START_TEST(back_to_back_restores_are_never_busy)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	char			 path[PATH_MAX], cf[sizeof(conf) + 64];
	uint64_t		 n;
	int			 snapfd, i;

	snprintf(cf, sizeof(cf), "[daemon]\nsnapshot_max = 2\n%s", conf);
	it_up(&d, cf);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "src", "nodes", NULL, "k", 1, "v", 1), 0);
	snprintf(path, sizeof(path), "%s/snap", d.dir);
	snapfd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(snapfd, -1);
	ck_assert_int_eq(sc_snapshot(c, "src", "nodes", snapfd, 0, NULL), 0);
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(lseek(snapfd, 0, SEEK_SET), 0);
		ck_assert_msg(sc_restore(c, "dst", "nodes", snapfd, 1, &n) ==
		    0, "restore %d: %s %s", i, sc_errname(sc_errcode(c)),
		    sc_errmsg(c));
	}
	close(snapfd);
	ck_assert_int_eq(sc_count(c, "dst", "nodes", NULL, &n), 0);
	ck_assert_uint_eq(n, 1);
	sc_close(c);
	it_down(&d, &bad_stops);
}
END_TEST

/* create = explicit: NO_REPO through the library, until create. */
START_TEST(explicit_store_says_no_repo)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_repos		*r;
	uint64_t		 n;

	it_up(&d, conf);
	c = it_conn(&d);
	EXPECT_ERR(c, sc_put(c, "typo", "strict", NULL, "k", 1, "v", 1),
	    SC_ERR_NO_REPO);
	ck_assert_str_eq(sc_errname(sc_errcode(c)), "NO_REPO");
	ck_assert_int_eq(sc_list_repos(c, NULL, NULL, &r), 0);
	ck_assert_uint_eq(r->n, 0);
	sc_repos_free(r);
	ck_assert_int_eq(sc_create(c, "typo", "strict", &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(sc_put(c, "typo", "strict", NULL, "k", 1, "v", 1), 0);
	ck_assert_int_eq(sc_list_repos(c, "ty", NULL, &r), 0);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_str_eq(r->envs[0].repo, "typo");
	ck_assert_str_eq(r->envs[0].store, "strict");
	ck_assert(r->envs[0].open);
	ck_assert(r->envs[0].size > 0);
	sc_repos_free(r);
	sc_repos_free(NULL);
	sc_close(c);
	it_down(&d, &bad_stops);
}
END_TEST

/* Gets key k of repo's nodes env and checks it holds want. */
static void
expect_val(sc_conn *c, const char *repo, const char *want)
{
	void	*v;
	size_t	 n;

	ck_assert_msg(sc_get(c, repo, "nodes", NULL, "k", 1, &v, &n) == 0,
	    "%s: %s", repo, sc_errmsg(c));
	ck_assert_uint_eq(n, strlen(want));
	ck_assert(memcmp(v, want, n) == 0);
	sc_free(v);
}

/*
 * Each I/O loop remembers where the envs it read sit (handler_read.c),
 * for 8 envs, from one turn to the next: reads of more repos than that,
 * one per turn and all in one turn, each find their own env; a repo
 * read while it had no env, then created, then dropped, reads as each.
 */
START_TEST(reads_of_many_repos_find_each_its_env)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	const void		*cv;
	char			 repo[16], want[16];
	size_t			 n;
	uint64_t		 dropped;
	int			 i, round;

	it_up(&d, conf);
	c = it_conn(&d);
	for (i = 0; i < 12; i++) {
		snprintf(repo, sizeof(repo), "r%02d", i);
		ck_assert_int_eq(sc_put(c, repo, "nodes", NULL, "k", 1, repo,
		    strlen(repo)), 0);
	}
	for (round = 0; round < 3; round++)
		for (i = 0; i < 12; i++) {
			snprintf(repo, sizeof(repo), "r%02d", (i * 5) % 12);
			expect_val(c, repo, repo);
		}
	for (i = 0; i < 12; i++) {
		snprintf(repo, sizeof(repo), "r%02d", 11 - i);
		ck_assert_int_eq(sc_append_get(c, repo, "nodes", NULL, "k", 1),
		    0);
	}
	for (i = 0; i < 12; i++) {
		snprintf(want, sizeof(want), "r%02d", 11 - i);
		ck_assert_int_eq(sc_collect(c, &cv, &n), 0);
		ck_assert_uint_eq(n, strlen(want));
		ck_assert(memcmp(cv, want, n) == 0);
	}
	EXPECT_ERR(c, sc_get(c, "late", "nodes", NULL, "k", 1, (void **)&cv,
	    &n), SC_ERR_NOT_FOUND);
	ck_assert_int_eq(sc_put(c, "late", "nodes", NULL, "k", 1, "one", 3), 0);
	expect_val(c, "late", "one");
	ck_assert_int_eq(sc_drop(c, "late", "nodes", &dropped), 0);
	EXPECT_ERR(c, sc_get(c, "late", "nodes", NULL, "k", 1, (void **)&cv,
	    &n), SC_ERR_NOT_FOUND);
	ck_assert_int_eq(sc_put(c, "late", "nodes", NULL, "k", 1, "two", 3), 0);
	expect_val(c, "late", "two");
	expect_val(c, "r03", "r03");
	sc_close(c);
	it_down(&d, &bad_stops);
}
END_TEST

static Suite *
repos_suite(void)
{
	Suite	*s = suite_create("repos");
	TCase	*tc;

	tc = tcase_create("repos");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, drop_and_replace_are_busy_while_a_snapshot_runs);
	tcase_add_test(tc, restore_needs_a_readable_descriptor);
	tcase_add_test(tc, back_to_back_restores_are_never_busy);
	tcase_add_test(tc, explicit_store_says_no_repo);
	tcase_add_test(tc, reads_of_many_repos_find_each_its_env);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = check_run(repos_suite());

	return failed || bad_stops ? 1 : 0;
}
