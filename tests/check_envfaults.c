/*
 * Env faults: what an env file, a full disk or another program using an
 * env can do to storesd.  A full file system under a sync = none env
 * (written through the map), an env grown or locked by another LMDB
 * program, damaged and truncated data files, too many large maps, and a
 * data_dir replaced while storesd runs.  Each must cost at most that env
 * a clear error, never the daemon or its other envs.  Every test has its
 * own storesd, and every wait is bounded by an event, never a guess.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "itest.h"

static void
down(struct hs_daemon *d)
{
	ck_assert_int_eq(hs_stop(d), 0);
	hs_cleanup(d);
}

/* True while storesd runs (it was not killed by a fault). */
static bool
alive(const struct hs_daemon *d)
{
	return kill(d->pid, 0) == 0 && waitpid(d->pid, NULL, WNOHANG) == 0;
}

/*
 * Mounts a tmpfs of size on d->data, in a mount namespace of this process
 * (and the storesd it starts), so the mount goes away with them even when
 * an assertion fails.  False (the test is skipped) where this machine
 * does not let us: CI runs as root, where it does.
 */
static bool
small_disk(struct hs_daemon *d, const char *size, const char *test)
{
	char	 opt[32];

	ck_assert_int_eq(mkdir(d->data, 0750), 0);
	snprintf(opt, sizeof(opt), "size=%s", size);
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("storesd-test", d->data, "tmpfs", 0, opt) == -1) {
		fprintf(stderr, "%s: cannot mount a tmpfs here (%s); "
		    "skipped\n", test, strerror(errno));
		return false;
	}
	return true;
}

/* An env made by another LMDB program at DIR/name, for a path store. */
static void
make_adopted(const struct hs_daemon *d, const char *name)
{
	char	 dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", d->dir, name);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(it_run("printf 'alpha\\none\\n' | mdb_load -T %s",
	    dir), 0);
}

/* A file of n bytes, really allocated. */
static void
ballast(const char *path, off_t n)
{
	int	 fd;

	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600),
	    -1);
	ck_assert_int_eq(posix_fallocate(fd, 0, n), 0);
	close(fd);
}

/* ------------------------------------------- a full disk, sync = none */

#define SIDE_STORE							\
	"[store side]\nmap_size = 1MiB\nmax_dbs = 0\ndbs = main\n"	\
	"path = @DIR@/side\n"

/*
 * sync = none envs are written through a map of a sparse file: a page
 * the file system cannot back used to be a SIGBUS that killed storesd.
 * Now a full disk is IO_ERROR as in the other sync modes; the env still
 * reads, other envs are served, and once space is freed writes succeed.
 */
START_TEST(sync_none_full_disk)
{
	static char	 v[4096];
	struct hs_daemon d;
	sc_conn		*c;
	char		 k[16], path[PATH_MAX];
	int		 i, code;

	ck_assert_int_eq(hs_prepare(&d, "[store fast]\nmap_size = 64MiB\n"
	    "sync = none\n" SIDE_STORE), 0);
	make_adopted(&d, "side");
	if (!small_disk(&d, "8m", "sync_none_full_disk")) {
		hs_cleanup(&d);
		return;
	}
	snprintf(path, sizeof(path), "%s/ballast", d.data);
	ballast(path, 1024 * 1024);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	for (i = 0; i < 100000; i++) {
		snprintf(k, sizeof(k), "f%06d", i);
		if (sc_put(c, NULL, "fast", NULL, k, strlen(k), v,
		    sizeof(v)) == -1)
			break;
	}
	code = sc_errcode(c);
	ck_assert_msg(alive(&d), "storesd died after %d puts", i);
	ck_assert_msg(code == SC_ERR_IO_ERROR, "after %d puts: %s: %s", i,
	    sc_errname(code), sc_errmsg(c));
	ck_assert_msg(strstr(sc_errmsg(c), "no space left on the file "
	    "system") != NULL, "%s", sc_errmsg(c));
	ck_assert_int_gt(i, 100);
	/* Reads of the full env and everything of the others go on. */
	it_assert_val(c, NULL, "fast", NULL, "f000000", 7, v, sizeof(v));
	it_assert_val(c, NULL, "side", NULL, "alpha", 5, "one", 3);
	ck_assert_msg(sc_put(c, NULL, "side", NULL, "k", 1, "v", 1) == 0,
	    "%s", sc_errmsg(c));
	/* Still full: still refused, cleanly. */
	EXPECT_ERR(c, sc_put(c, NULL, "fast", NULL, k, strlen(k), v,
	    sizeof(v)), SC_ERR_IO_ERROR);
	/* Room again: writes succeed. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(sc_put(c, NULL, "fast", NULL, k, strlen(k), v,
	    sizeof(v)) == 0, "%s", sc_errmsg(c));
	it_assert_val(c, NULL, "fast", NULL, k, strlen(k), v, sizeof(v));
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(umount(d.data), 0);
	hs_cleanup(&d);
}
END_TEST

/* Fills the file system of dir to the last page with the file path. */
static void
fill_disk(const char *path)
{
	off_t	 off = 0;
	int	 fd;

	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600),
	    -1);
	while (posix_fallocate(fd, off, 4096) == 0)
		off += 4096;
	close(fd);
}

/* Puts n values of 4,000 bytes (a page each) into repo's env of store,
 * keys from k%06d of first on, in batches of 100. */
static void
put_pages(sc_conn *c, const char *repo, const char *store, int first, int n)
{
	static char	 v[4000];
	sc_batch	*b;
	char		 k[16];
	int		 i, j;

	memset(v, 'p', sizeof(v));
	for (i = first; i < first + n; i += 100) {
		ck_assert_ptr_nonnull(b = sc_batch_begin(c, repo, store, NULL));
		for (j = i; j < i + 100 && j < first + n; j++) {
			snprintf(k, sizeof(k), "k%06d", j);
			ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), v,
			    sizeof(v)), 0);
		}
		ck_assert_msg(sc_batch_commit(b) == 0, "%s", sc_errmsg(c));
	}
}

/* Blocks free on the file system of path. */
static unsigned long long
free_blocks(const char *path)
{
	struct statvfs	 vfs;

	ck_assert_int_eq(statvfs(path, &vfs), 0);
	return (unsigned long long)vfs.f_bfree;
}

/* A compacting snapshot of repo w of store p into out is NO_ROOM,
 * saying what to do; it left nothing on the data disk at data. */
static void
compact_refused(sc_conn *c, const char *out, const char *data)
{
	unsigned long long free_before = free_blocks(data);
	uint64_t	 size;
	int		 fd;

	ck_assert_int_ge(fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    0);
	EXPECT_ERR(c, sc_snapshot(c, "w", "p", fd, 1, &size), SC_ERR_NO_ROOM);
	close(fd);
	ck_assert_msg(strstr(sc_errmsg(c), "snapshot_reserve") != NULL &&
	    strstr(sc_errmsg(c), "plain snapshot") != NULL, "%s",
	    sc_errmsg(c));
	ck_assert_uint_eq(free_blocks(data), free_before);
}

/*
 * A compacting snapshot copies the env onto its data disk first, and a
 * reader may run several at once: with no bound, one reader could fill
 * the disk every env writes to, so that every writer got IO_ERROR.
 * Now a copy that would leave less than snapshot_reserve free there is
 * refused with NO_ROOM, and one that does not fit at all too, before a
 * byte is written (its room is reserved first); a plain snapshot still
 * works, writes go on, and nothing is left on the disk.
 */
START_TEST(compacting_snapshot_keeps_room_for_writers)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 out[PATH_MAX];
	uint64_t	 size;
	int		 fd;

	ck_assert_int_eq(hs_prepare(&d, "[daemon]\nsnapshot_reserve = 8MiB\n"
	    "[store p]\nmap_size = 64MiB\ndbs = main\n"), 0);
	if (!small_disk(&d, "16m", "compacting_snapshot_keeps_room_for_"
	    "writers")) {
		hs_cleanup(&d);
		return;
	}
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	snprintf(out, sizeof(out), "%s/snap.mdb", d.dir);
	/* About 6 MiB: it fits, but would leave under 8 MiB free. */
	put_pages(c, "w", "p", 0, 1500);
	compact_refused(c, out, d.data);
	/* About 9.5 MiB: it does not fit twice in 16 MiB. */
	put_pages(c, "w", "p", 1500, 800);
	compact_refused(c, out, d.data);
	ck_assert_msg(strstr(sc_errmsg(c), "has only") != NULL, "%s",
	    sc_errmsg(c));
	/* A plain snapshot needs no room on the data disk. */
	ck_assert_int_ge(fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    0);
	ck_assert_msg(sc_snapshot(c, "w", "p", fd, 0, &size) == 0, "%s",
	    sc_errmsg(c));
	close(fd);
	ck_assert_uint_gt(size, 9 * 1024 * 1024);
	put_pages(c, "w", "p", 2300, 100);
	ck_assert_msg(alive(&d), "storesd died");
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * LMDB makes lock.mdb (its reader table) with ftruncate, a sparse file,
 * and writes it through a shared map: a new env on a full file system
 * was a SIGBUS at its first store into that map, which killed storesd.
 * The lock file is allocated before LMDB maps it: a new env on a full
 * disk is IO_ERROR, other envs are served, and once space is freed the
 * new env is made.
 */
START_TEST(new_env_on_a_full_disk)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX];

	ck_assert_int_eq(hs_prepare(&d, "[daemon]\nidle_close = 100ms\n"
	    "[store s]\nmap_size = 1MiB\n"), 0);
	if (!small_disk(&d, "4m", "new_env_on_a_full_disk")) {
		hs_cleanup(&d);
		return;
	}
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "old", "s", NULL, "k", 1, "v", 1), 0);
	snprintf(path, sizeof(path), "%s/ballast", d.data);
	fill_disk(path);
	EXPECT_ERR(c, sc_put(c, "new", "s", NULL, "k", 1, "v", 1),
	    SC_ERR_IO_ERROR);
	ck_assert_msg(alive(&d), "storesd died making an env on a full disk");
	/* An env opened again on the full disk reads: its lock.mdb has its
	 * blocks already. */
	it_wait_closed(&d, "old");
	it_assert_val(c, "old", "s", NULL, "k", 1, "v", 1);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(sc_put(c, "new", "s", NULL, "k", 1, "v", 1) == 0, "%s",
	    sc_errmsg(c));
	it_assert_val(c, "new", "s", NULL, "k", 1, "v", 1);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(umount(d.data), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------- an env grown by another */

#define ADOPT_STORE							\
	"[store adopt]\nmap_size = 1MiB\nmax_dbs = 0\ndbs = main\n"	\
	"path = @DIR@/adopt\n"

/* A put that may meet BUSY once while the env is remapped. */
static int
put_retrying(sc_conn *c, const char *k)
{
	int	 i;

	for (i = 0; i < hs_tries(10); i++) {
		if (sc_put(c, NULL, "adopt", NULL, k, strlen(k), "v", 1) == 0)
			return 0;
		if (sc_errcode(c) != SC_ERR_BUSY)
			return -1;
		ck_assert_ptr_nonnull(strstr(sc_errmsg(c), "grew"));
		poll(NULL, 0, 10);
	}
	return -1;
}

/*
 * Another LMDB program grows an adopted env past storesd's map.  Reads
 * used to fail with INTERNAL MDB_MAP_RESIZED until a write remapped the
 * env under the I/O threads' read transactions, and LMDB aborted.  Now
 * the env is remapped once nothing of it runs: reads wait for that on
 * their connection, a write caught in the middle is BUSY saying why.
 */
START_TEST(env_grown_by_another_program)
{
	struct hs_daemon d;
	struct it_reader r[4];
	sc_conn		*c;
	char		 dir[PATH_MAX], k[16], big[1024];
	long		 reads = 0;
	size_t		 i;
	int		 round;

	ck_assert_int_eq(hs_prepare(&d, ADOPT_STORE), 0);
	make_adopted(&d, "adopt");
	snprintf(dir, sizeof(dir), "%s/adopt", d.dir);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	it_assert_val(c, NULL, "adopt", NULL, "alpha", 5, "one", 3);
	for (i = 0; i < 4; i++)
		it_reader_start(&r[i], d.sock, NULL, "adopt", "alpha");
	/* Three times: grown by 2 MiB, then written by storesd. */
	for (round = 0; round < 3; round++) {
		ck_assert_int_eq(it_run("%s/tests/lmdb-writer %s %d %d",
		    hs_build(), dir, (round + 1) * 16 << 20, 2048 * (round + 1)),
		    0);
		it_assert_val(c, NULL, "adopt", NULL, "alpha", 5, "one", 3);
		snprintf(k, sizeof(k), "after%d", round);
		ck_assert_msg(put_retrying(c, k) == 0, "%s: %s",
		    sc_errname(sc_errcode(c)), sc_errmsg(c));
		ck_assert_msg(alive(&d), "storesd died in round %d", round);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_msg(it_reader_stop(&r[i]) == 0, "reader %zu: %ld "
		    "errors, the last %s", i, atomic_load(&r[i].errors),
		    r[i].last_err);
		reads += atomic_load(&r[i].reads);
	}
	ck_assert_int_gt(reads, 0);
	memset(big, 'g', sizeof(big));
	it_assert_val(c, NULL, "adopt", NULL, "grow00006000", 12, big,
	    sizeof(big));
	it_assert_val(c, NULL, "adopt", NULL, "after2", 6, "v", 1);
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------------- another process holding a lock */

/* A process of its own, holding something until its stdin is closed. */
struct holder {
	pid_t	 pid;
	int	 in;		/* its stdin: close to let go */
};

/* Runs argv with pipes and waits for its first line ("held").  */
static void
hold_start(struct holder *h, char *const argv[])
{
	int	 in[2], out[2];
	char	 line[16];
	ssize_t	 n;

	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	if ((h->pid = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	h->in = in[1];
	n = read(out[0], line, sizeof(line) - 1);
	close(out[0]);
	ck_assert_msg(n > 0 && strncmp(line, "held", 4) == 0,
	    "%s did not start", argv[0]);
}

/* Lets go; returns the holder's exit status. */
static int
hold_end(struct holder *h)
{
	int	 status;

	close(h->in);
	ck_assert_int_eq(waitpid(h->pid, &status, 0), h->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* In a child: takes LMDB's exclusive lock of dir's lock.mdb (what an
 * LMDB program holds while it sets an env up, or a stuck one forever),
 * says "held", and keeps it until stdin ends. */
static void
lock_start(struct holder *h, const char *dir)
{
	struct flock	 fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };
	char		 path[PATH_MAX + 16], c;
	int		 in[2], out[2], fd;

	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	if ((h->pid = fork()) == 0) {
		close(in[1]);
		close(out[0]);
		if ((fd = open(path, O_RDWR | O_CREAT, 0600)) == -1 ||
		    fcntl(fd, F_SETLK, &fl) == -1)
			_exit(1);
		(void)!write(out[1], "h", 1);
		while (read(in[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(in[0]);
	close(out[1]);
	h->in = in[1];
	ck_assert_int_eq(read(out[0], &c, 1), 1);
	close(out[0]);
}

struct blocked {
	pthread_t	 t;
	const char	*sock;
	const char	*store;
	int		 code;
	char		 msg[320];
};

/* A request to an env another process holds: it may wait or fail. */
static void *
blocked_main(void *arg)
{
	struct blocked	*b = arg;
	sc_conn		*c = sc_connect(b->sock);

	sc_put(c, NULL, b->store, NULL, "blocked", 7, "v", 1);
	b->code = sc_errcode(c);
	snprintf(b->msg, sizeof(b->msg), "%s", sc_errmsg(c));
	sc_close(c);
	return NULL;
}

/* Sends b's put on a thread of its own. */
static void
blocked_start(struct blocked *b, const char *sock, const char *store)
{
	memset(b, 0, sizeof(*b));
	b->sock = sock;
	b->store = store;
	ck_assert_int_eq(pthread_create(&b->t, NULL, blocked_main, b), 0);
}

/* While b waits, the one I/O loop answers another client, 50 times. */
static void
loop_answers(const struct hs_daemon *d)
{
	sc_options	*o = sc_options_new();
	sc_conn		*c;
	void		*v;
	size_t		 n;
	int		 i;

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(sc_options_set_path(o, d->sock), 0);
	ck_assert_int_eq(sc_options_set_timeout(o, hs_timeout() * 1000 / 6),
	    0);
	c = sc_connect_opts(o);
	sc_options_free(o);
	ck_assert_int_eq(sc_errcode(c), SC_OK);
	for (i = 0; i < 50; i++) {
		EXPECT_ERR(c, sc_get(c, NULL, "other", NULL, "k", 1, &v, &n),
		    SC_ERR_NOT_FOUND);
		poll(NULL, 0, 10);
	}
	sc_close(c);
}

#define HELD_STORES							\
	"[daemon]\nio_threads = 1\n"					\
	"[store fast]\nmap_size = 64MiB\nsync = none\nmax_dbs = 0\n"	\
	"dbs = main\npath = @DIR@/fast\n"				\
	"[store locked]\nmap_size = 1MiB\nmax_dbs = 0\ndbs = main\n"	\
	"path = @DIR@/locked\n"					\
	"[store other]\nmap_size = 1MiB\n"

/* Starts storesd with HELD_STORES in d, puts key into its env "fast",
 * and returns the connection. */
static sc_conn *
held_start(struct hs_daemon *d, const char *key)
{
	sc_conn	*c;

	ck_assert_int_eq(hs_prepare(d, HELD_STORES), 0);
	make_adopted(d, "fast");
	make_adopted(d, "locked");
	ck_assert_int_eq(hs_start(d, NULL), 0);
	c = it_conn(d);
	ck_assert_int_eq(sc_put(c, NULL, "fast", NULL, key, strlen(key), "v",
	    1), 0);
	return c;
}

/* Another program holds a write transaction of d's env "fast" (its
 * directory into dir) in h, until hold_end(). */
static void
fast_held(const struct hs_daemon *d, struct holder *h, char *dir, size_t n)
{
	char	 writer[PATH_MAX];
	char	*argv[6];

	snprintf(dir, n, "%s/fast", d->dir);
	snprintf(writer, sizeof(writer), "%s/tests/lmdb-writer", hs_build());
	argv[0] = writer;
	argv[1] = dir;
	argv[2] = (char *)"67108864";
	argv[3] = (char *)"1";
	argv[4] = (char *)"hold";
	argv[5] = NULL;
	hold_start(h, argv);
}

/*
 * Another process holding an env's write transaction used to stop the
 * inline commit of a sync = none write on its I/O thread, and one holding
 * lock.mdb the env's open there: every client of that loop waited.  Now
 * the loop answers the others meanwhile; the writes to the held env wait
 * (on the pool) or are refused BUSY, and succeed once it is let go.
 */
START_TEST(another_process_blocks_no_loop)
{
	struct hs_daemon d;
	struct holder	 h;
	struct blocked	 b;
	sc_conn		*c;
	char		 dir[PATH_MAX];

	c = held_start(&d, "k");

	/* A write transaction of another program on the sync = none env. */
	fast_held(&d, &h, dir, sizeof(dir));
	blocked_start(&b, d.sock, "fast");
	loop_answers(&d);
	ck_assert_int_eq(hold_end(&h), 0);
	pthread_join(b.t, NULL);
	ck_assert_msg(b.code == SC_OK, "%s: %s", sc_errname(b.code), b.msg);
	it_assert_val(c, NULL, "fast", NULL, "blocked", 7, "v", 1);

	/* lock.mdb held exclusively while storesd would open the env.  The
	 * holder is a fork of this process: closed first, or valgrind
	 * would report the connection lost in it. */
	sc_close(c);
	snprintf(dir, sizeof(dir), "%s/locked", d.dir);
	lock_start(&h, dir);
	blocked_start(&b, d.sock, "locked");
	loop_answers(&d);
	pthread_join(b.t, NULL);
	ck_assert_msg(b.code == SC_ERR_BUSY && strstr(b.msg, "lock.mdb"),
	    "%s: %s", sc_errname(b.code), b.msg);
	ck_assert_int_eq(hold_end(&h), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "locked", NULL, "k", 1, "v", 1), 0);
	sc_close(c);
	down(&d);
}
END_TEST

/* ----------------------------------------------- two daemons, one env */

/*
 * Two storesds adopting one path = env used to map it both, each with
 * its own map size (bug 3's set-up).  Now the second is refused BUSY
 * while the first has it open, and serves it once the first let go.
 */
START_TEST(two_daemons_never_share_an_env)
{
	struct hs_daemon a, b;
	sc_conn		*ca, *cb;
	char		 conf[512];
	void		*v;
	size_t		 n;

	ck_assert_int_eq(hs_prepare(&a, NULL), 0);
	make_adopted(&a, "shared");
	snprintf(conf, sizeof(conf), "[store shared]\nmap_size = 1MiB\n"
	    "max_dbs = 0\ndbs = main\npath = %s/shared\n", a.dir);
	ck_assert_int_eq(hs_prepare(&b, conf), 0);
	ck_assert_int_eq(it_run("cp %s %s/storesd.conf", b.conf, a.dir), 0);
	snprintf(a.conf, sizeof(a.conf), "%s/storesd.conf", a.dir);
	ck_assert_int_eq(hs_start(&a, NULL), 0);
	ck_assert_int_eq(hs_start(&b, NULL), 0);
	ca = it_conn(&a);
	cb = it_conn(&b);
	it_assert_val(ca, NULL, "shared", NULL, "alpha", 5, "one", 3);
	EXPECT_ERR(cb, sc_get(cb, NULL, "shared", NULL, "alpha", 5, &v, &n),
	    SC_ERR_BUSY);
	ck_assert_msg(strstr(sc_errmsg(cb), "another storesd") != NULL, "%s",
	    sc_errmsg(cb));
	EXPECT_ERR(cb, sc_put(cb, NULL, "shared", NULL, "k", 1, "b", 1),
	    SC_ERR_BUSY);
	ck_assert_int_eq(sc_put(ca, NULL, "shared", NULL, "k", 1, "a", 1), 0);
	sc_close(ca);
	ck_assert_int_eq(hs_stop(&a), 0);
	/* The first let go: the second serves it. */
	it_assert_val(cb, NULL, "shared", NULL, "k", 1, "a", 1);
	sc_close(cb);
	down(&b);
	hs_cleanup(&a);
}
END_TEST

/* Waits (bounded) until d's log has the line fmt makes (grep -F). */
static void __attribute__((format(printf, 2, 3)))
wait_log(const struct hs_daemon *d, const char *fmt, ...)
{
	char	 want[1024];
	va_list	 ap;
	int	 i;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (i = 0; i < hs_tries(20); i++) {
		if (it_run("grep -qF \"%s\" %s", want, d->log) == 0)
			return;
		poll(NULL, 0, 20);
	}
	ck_abort_msg("not in the log within %d s: %s", hs_timeout(), want);
}

/*
 * data_dir replaced by a symlink while storesd runs used to send new
 * envs through it, where a second storesd started on the same path
 * served them too.  storesd holds data_dir by descriptor: its envs stay
 * in the directory it locked, and a second storesd on the path serves
 * whatever the path leads to now, never the first one's envs.
 */
START_TEST(data_dir_replaced_while_running)
{
	struct hs_daemon a, b;
	sc_conn		*ca, *cb;
	char		 moved[PATH_MAX], other[PATH_MAX];

	ck_assert_int_eq(hs_up(&a, "[store s]\nmap_size = 1MiB\n"), 0);
	ca = it_conn(&a);
	ck_assert_int_eq(sc_put(ca, "r1", "s", NULL, "k", 1, "a", 1), 0);
	snprintf(moved, sizeof(moved), "%s/moved", a.dir);
	snprintf(other, sizeof(other), "%s/other", a.dir);
	ck_assert_int_eq(rename(a.data, moved), 0);
	ck_assert_int_eq(mkdir(other, 0700), 0);
	ck_assert_int_eq(symlink(other, a.data), 0);
	/* New and old envs alike stay where storesd locked them. */
	ck_assert_int_eq(sc_put(ca, "r2", "s", NULL, "k", 1, "a", 1), 0);
	ck_assert_int_eq(it_run("test -f %s/r2/@s/data.mdb", moved), 0);
	ck_assert_int_ne(it_run("test -e %s/r2", other), 0);
	it_assert_val(ca, "r1", "s", NULL, "k", 1, "a", 1);
	/* A second storesd on the same data_dir path maps none of them. */
	ck_assert_int_eq(hs_prepare(&b, "[store s]\nmap_size = 1MiB\n"), 0);
	snprintf(b.data, sizeof(b.data), "%s", a.data);
	ck_assert_int_eq(hs_start(&b, NULL), 0);
	cb = it_conn(&b);
	ck_assert_int_eq(sc_put(cb, "r2", "s", NULL, "k", 1, "b", 1), 0);
	it_assert_val(ca, "r2", "s", NULL, "k", 1, "a", 1);
	it_assert_val(cb, "r2", "s", NULL, "k", 1, "b", 1);
	sc_close(cb);
	ck_assert_int_eq(hs_stop(&b), 0);
	/* The first one says where its directory is now, and when the path
	 * leads to it again. */
	wait_log(&a, "data_dir %s no longer leads to the directory storesd "
	    "locked, now %s:", a.data, moved);
	ck_assert_int_eq(unlink(a.data), 0);
	ck_assert_int_eq(rename(moved, a.data), 0);
	wait_log(&a, "data_dir %s leads to storesd's directory again",
	    a.data);
	it_assert_val(ca, "r2", "s", NULL, "k", 1, "a", 1);
	sc_close(ca);
	ck_assert_int_eq(hs_stop(&a), 0);
	hs_cleanup(&a);
	hs_cleanup(&b);
}
END_TEST

/*
 * The lock file in data_dir is one entry among others: removed (or
 * replaced) while storesd ran, a second storesd used to lock a new one
 * and serve the same directory, emptying its @tmp under the first one's
 * forks.  The directory itself is locked: the second one is refused,
 * and the first one's files are untouched.
 */
START_TEST(data_dir_lock_file_removed)
{
	struct hs_daemon a, b;
	sc_conn		*ca;
	char		 path[PATH_MAX];

	ck_assert_int_eq(hs_up(&a, "[store s]\nmap_size = 1MiB\n"), 0);
	ca = it_conn(&a);
	ck_assert_int_eq(sc_put(ca, "r1", "s", NULL, "k", 1, "a", 1), 0);
	/* What a fork under way keeps in @tmp. */
	snprintf(path, sizeof(path), "%s/@tmp/fork-in-progress", a.data);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/@storesd.lock", a.data);
	ck_assert_int_eq(unlink(path), 0);
	/* Another storesd on the same data_dir, its own socket. */
	b = a;
	b.nfd = -1;
	snprintf(b.sock, sizeof(b.sock), "%s/sock2", a.dir);
	snprintf(b.notify, sizeof(b.notify), "%s/notify2", a.dir);
	ck_assert_msg(hs_start(&b, NULL) == -1, "a second storesd serves the "
	    "first one's data_dir");
	if (b.nfd != -1)
		close(b.nfd);
	ck_assert_int_eq(it_run("grep -q 'another storesd is using data_dir "
	    "%s (its @storesd.lock was removed' %s", a.data, a.log), 0);
	ck_assert_int_eq(it_run("test -d %s/@tmp/fork-in-progress", a.data),
	    0);
	it_assert_val(ca, "r1", "s", NULL, "k", 1, "a", 1);
	sc_close(ca);
	down(&a);
}
END_TEST

/* --------------------------------------------- shrunk by a co-user */

#define SHRUNK_STORE							\
	"[store w]\nmap_size = 64MiB\nsync = none\nmax_dbs = 0\n"	\
	"dbs = main\npath = @DIR@/w\n"

/*
 * Another LMDB program that opens an env with MDB_WRITEMAP and a smaller
 * map truncates data.mdb to its map, no shorter than the pages in use.
 * A sync = none env of storesd's took the space it had allocated ahead
 * of its writes for granted: its next pages, past the new end of the
 * file, were a SIGBUS that killed storesd.  storesd looks at the file's
 * size before each write transaction and allocates again.
 */
START_TEST(writemap_env_shrunk_by_a_co_user)
{
	static char	 v[4096];
	struct hs_daemon d;
	sc_conn		*c;
	char		 k[16], dir[PATH_MAX];
	int		 i;

	ck_assert_int_eq(hs_prepare(&d, SHRUNK_STORE), 0);
	make_adopted(&d, "w");
	snprintf(dir, sizeof(dir), "%s/w", d.dir);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "w", NULL, "first", 5, v, sizeof(v)),
	    0);
	/* What a WRITEMAP co-user's ftruncate leaves: the pages in use. */
	ck_assert_int_eq(it_run("d=%s; set -- $(mdb_stat -e $d | awk "
	    "'/Page size/ { p = $NF } /Number of pages used/ { u = $NF } "
	    "END { print p, u }'); truncate -s $(($1 * $2)) $d/data.mdb",
	    dir), 0);
	for (i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		ck_assert_msg(sc_put(c, NULL, "w", NULL, k, strlen(k), v,
		    sizeof(v)) == 0, "put %s: %s", k, sc_errmsg(c));
	}
	it_assert_val(c, NULL, "w", NULL, "k199", 4, v, sizeof(v));
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(it_run("mdb_stat %s >/dev/null", dir), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------ address space */


/* Puts k into n repos of store, one env each; returns how many worked,
 * with c's error after the first that did not. */
static int
spread(sc_conn *c, const char *store, int n)
{
	char	 repo[16];
	int	 i;

	for (i = 0; i < n; i++) {
		snprintf(repo, sizeof(repo), "r%02d", i);
		if (sc_put(c, repo, store, NULL, "k", 1, "v", 1) == -1)
			break;
	}
	return i;
}

/* Open envs of store, as live lists them. */
static size_t
open_envs(sc_conn *c, const char *store)
{
	sc_live	*l;
	size_t	 n;

	ck_assert_int_eq(sc_get_live(c, NULL, store, &l), 0);
	n = l->n;
	sc_live_free(l);
	return n;
}

/*
 * map_budget bounds the address space all open envs' maps take: an env
 * that does not fit closes idle envs first, and one that can never fit
 * is BUSY saying what to change.
 */
START_TEST(map_budget_evicts_idle_envs)
{
	struct hs_daemon d;
	sc_conn		*c;

	ck_assert_int_eq(hs_up(&d, "[daemon]\nmap_budget = 3GiB\n"
	    "[store s]\nmap_size = 1GiB\n[store huge]\nmap_size = 4GiB\n"),
	    0);
	c = it_conn(&d);
	ck_assert_msg(spread(c, "s", 8) == 8, "%s", sc_errmsg(c));
	ck_assert_uint_le(open_envs(c, "s"), 3);
	it_assert_val(c, "r00", "s", NULL, "k", 1, "v", 1);
	EXPECT_ERR(c, sc_put(c, "x", "huge", NULL, "k", 1, "v", 1),
	    SC_ERR_BUSY);
	ck_assert_msg(strstr(sc_errmsg(c), "map_budget") != NULL, "%s",
	    sc_errmsg(c));
	ck_assert_int_eq(it_run("grep -q 'map_budget 3GiB' %s", d.log), 0);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * With 1 GiB maps in a 6 GiB address space (RLIMIT_AS), every new env of
 * any store used to fail with INTERNAL "Cannot allocate memory" once a
 * few were open.  The default budget is three quarters of what storesd
 * may map, so idle envs are closed to make room instead.
 */
START_TEST(address_space_runs_out)
{
	struct hs_daemon d;
	struct rlimit	 rl = { (rlim_t)6 << 30, (rlim_t)6 << 30 };
	sc_conn		*c;
	int		 n;

	if (hs_sanitized()) {
		fprintf(stderr, "address_space_runs_out: sanitizers need the "
		    "whole address space; skipped (map_budget_evicts_idle_envs"
		    " covers the budget)\n");
		return;
	}
	ck_assert_int_eq(hs_prepare(&d, "[store s]\nmap_size = 1GiB\n"), 0);
	/* This test's own process: Check forks one per test. */
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	n = spread(c, "s", 16);
	ck_assert_msg(n == 16, "env %d: %s: %s", n,
	    sc_errname(sc_errcode(c)), sc_errmsg(c));
	ck_assert_uint_le(open_envs(c, "s"), 4);
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------------------------- damaged data files */

/*
 * LMDB's meta pages (pages 0 and 1), on a 64-bit host: where the page
 * size, a db's root and the magic sit, from the start of the page.
 */
#define META_MAGIC	16
#define META_PSIZE	40
#define META_MAIN_ROOT	128
#define META_LAST_PG	136

static void
data_file(const struct hs_daemon *d, const char *repo, char *path, size_t n)
{
	snprintf(path, n, "%s/%s/@s/data.mdb", d->data, repo);
}

/* Writes n bytes of p at off in both meta pages of repo's env of
 * store. */
static void
poke_metas(const struct hs_daemon *d, const char *repo, const char *store,
    off_t off, const void *p, size_t n)
{
	char		 path[PATH_MAX];
	uint32_t	 psize;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s/@%s/data.mdb", d->data, repo,
	    store);
	ck_assert_int_ne(fd = open(path, O_RDWR), -1);
	ck_assert_int_eq(pread(fd, &psize, sizeof(psize), META_PSIZE), 4);
	ck_assert_int_eq(pwrite(fd, p, n, off), (ssize_t)n);
	ck_assert_int_eq(pwrite(fd, p, n, psize + off), (ssize_t)n);
	close(fd);
}

static void
cut(const struct hs_daemon *d, const char *repo, off_t size)
{
	char	 path[PATH_MAX];

	data_file(d, repo, path, sizeof(path));
	ck_assert_int_eq(truncate(path, size), 0);
}

/* A read and a write of repo are refused as CORRUPT, naming it. */
static void
assert_corrupt(sc_conn *c, const char *repo)
{
	void	*v;
	size_t	 n;

	EXPECT_ERR(c, sc_get(c, repo, "s", NULL, "k00", 3, &v, &n),
	    SC_ERR_CORRUPT);
	ck_assert_msg(strstr(sc_errmsg(c), repo) != NULL &&
	    strstr(sc_errmsg(c), "restore") != NULL &&
	    strstr(sc_errmsg(c), "snapshot") != NULL, "%s", sc_errmsg(c));
	EXPECT_ERR(c, sc_put(c, repo, "s", NULL, "new", 3, "v", 1),
	    SC_ERR_CORRUPT);
}

/*
 * A truncated file used to be a SIGBUS at the first read, a root that
 * points at a meta page an LMDB assertion, and an empty file a new env
 * that silently replaced the data.  Each is now CORRUPT for that env
 * alone.
 */
START_TEST(damaged_env_is_refused)
{
	static const char *const repos[] = { "good", "trunc", "badroot",
	    "magic", "empty" };
	static char	 v[1024];
	struct hs_daemon d;
	struct stat	 sb;
	sc_conn		*c;
	char		 k[16], path[PATH_MAX];
	uint64_t	 root = 1;
	uint32_t	 magic = 0;
	size_t		 r;
	int		 i;

	ck_assert_int_eq(hs_prepare(&d, "[store s]\nmap_size = 4MiB\n"
	    SIDE_STORE), 0);
	make_adopted(&d, "side");
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	for (r = 0; r < sizeof(repos) / sizeof(repos[0]); r++)
		for (i = 0; i < 40; i++) {
			snprintf(k, sizeof(k), "k%02d", i);
			ck_assert_int_eq(sc_put(c, repos[r], "s", NULL, k,
			    strlen(k), v, sizeof(v)), 0);
		}
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);

	cut(&d, "trunc", 2 * 4096);
	poke_metas(&d, "badroot", "s", META_MAIN_ROOT, &root, sizeof(root));
	poke_metas(&d, "magic", "s", META_MAGIC, &magic, sizeof(magic));
	cut(&d, "empty", 0);

	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	for (r = 1; r < sizeof(repos) / sizeof(repos[0]); r++) {
		assert_corrupt(c, repos[r]);
		ck_assert_msg(alive(&d), "storesd died at %s", repos[r]);
	}
	/* The empty file was not turned into a new env. */
	data_file(&d, "empty", path, sizeof(path));
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, 0);
	/* Every other env is served. */
	it_assert_val(c, "good", "s", NULL, "k39", 3, v, sizeof(v));
	ck_assert_int_eq(sc_put(c, "good", "s", NULL, "new", 3, "v", 1), 0);
	it_assert_val(c, NULL, "side", NULL, "alpha", 5, "one", 3);
	ck_assert_int_eq(it_run("grep -q 'restore' %s", d.log), 0);
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------------------------ faults at run time */

/*
 * Two stores: one synced (pages copied into the file with pwrite) and
 * one sync = none (written through the map, MDB_WRITEMAP).
 */
#define FAULT_STORES							\
	"[store s]\nmap_size = 4MiB\n[store n]\nmap_size = 4MiB\n"	\
	"sync = none\n" SIDE_STORE

/* Starts storesd with FAULT_STORES and the adopted side env in d, and
 * returns a connection to it. */
static sc_conn *
fault_start(struct hs_daemon *d)
{
	ck_assert_int_eq(hs_prepare(d, FAULT_STORES), 0);
	make_adopted(d, "side");
	ck_assert_int_eq(hs_start(d, NULL), 0);
	return it_conn(d);
}

/* data.mdb of repo's env of store, and a copy of it beside the env. */
static void
env_file(const struct hs_daemon *d, const char *repo, const char *store,
    const char *name, char *path, size_t n)
{
	snprintf(path, n, "%s/%s/@%s/%s", d->data, repo, store, name);
}

/* Puts 200 values of 1 KiB, about 70 pages, into repo's env of store,
 * and keeps a copy of its file as it then is. */
static void
fill_and_keep(const struct hs_daemon *d, sc_conn *c, const char *repo,
    const char *store)
{
	static char	 v[1024];
	char		 k[16], from[PATH_MAX], to[PATH_MAX];
	int		 i;

	memset(v, 'v', sizeof(v));
	for (i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		ck_assert_int_eq(sc_put(c, repo, store, NULL, k, strlen(k), v,
		    sizeof(v)), 0);
	}
	env_file(d, repo, store, "data.mdb", from, sizeof(from));
	env_file(d, repo, store, "kept.mdb", to, sizeof(to));
	ck_assert_int_eq(it_run("cp %s %s", from, to), 0);
}

/* What a co-user does: cuts repo's data.mdb to two pages, with storesd
 * holding it open. */
static void
co_user_cuts(const struct hs_daemon *d, const char *repo, const char *store)
{
	char	 path[PATH_MAX];

	env_file(d, repo, store, "data.mdb", path, sizeof(path));
	ck_assert_int_eq(truncate(path, 2 * 4096), 0);
}

/* Puts the copy kept by fill_and_keep() back in place. */
static void
restore_kept(const struct hs_daemon *d, const char *repo, const char *store)
{
	char	 from[PATH_MAX], to[PATH_MAX];

	env_file(d, repo, store, "kept.mdb", from, sizeof(from));
	env_file(d, repo, store, "data.mdb", to, sizeof(to));
	ck_assert_int_eq(it_run("cp %s %s", from, to), 0);
}

/* A get and a put of repo in store are CORRUPT, saying the file was cut
 * short and to restore it from a snapshot; storesd lives on. */
static void
refused_cut(const struct hs_daemon *d, sc_conn *c, const char *repo,
    const char *store)
{
	void	*v;
	size_t	 n;

	EXPECT_ERR(c, sc_get(c, repo, store, NULL, "k199", 4, &v, &n),
	    SC_ERR_CORRUPT);
	ck_assert_msg(strstr(sc_errmsg(c), repo) != NULL &&
	    strstr(sc_errmsg(c), "snapshot") != NULL, "%s", sc_errmsg(c));
	EXPECT_ERR(c, sc_put(c, repo, store, NULL, "new", 3, "v", 1),
	    SC_ERR_CORRUPT);
	ck_assert_msg(alive(d), "storesd died");
}

/* Every other env is served: another repo of the store, another store. */
static void
others_served(sc_conn *c, const char *good, const char *store)
{
	static char	 v[1024];

	memset(v, 'v', sizeof(v));
	it_assert_val(c, good, store, NULL, "k150", 4, v, sizeof(v));
	ck_assert_int_eq(sc_put(c, good, store, NULL, "more", 4, "v", 1), 0);
	it_assert_val(c, NULL, "side", NULL, "alpha", 5, "one", 3);
}

/* Once its file is back, the env is served again, reads and writes. */
static void
served_again(sc_conn *c, const char *repo, const char *store)
{
	static char	 v[1024];

	memset(v, 'v', sizeof(v));
	it_assert_val(c, repo, store, NULL, "k199", 4, v, sizeof(v));
	ck_assert_int_eq(sc_put(c, repo, store, NULL, "after", 5, "v", 1), 0);
	it_assert_val(c, repo, store, NULL, "after", 5, "v", 1);
}

/* A large mget of repo, which the readers' pool answers, is CORRUPT. */
static void
mget_refused(const struct hs_daemon *d, sc_conn *c, const char *repo,
    const char *store)
{
	static sc_bytes	 keys[2000];
	static char	 names[2000][8];
	sc_bytes	*vals;
	size_t		 i;

	for (i = 0; i < 2000; i++) {
		snprintf(names[i], sizeof(names[i]), "k%03zu", i % 200);
		keys[i] = (sc_bytes){ names[i], strlen(names[i]) };
	}
	EXPECT_ERR(c, sc_mget(c, repo, store, NULL, keys, 2000, &vals),
	    SC_ERR_CORRUPT);
	ck_assert_msg(alive(d), "storesd died");
}

/*
 * A co-user cuts an open env's data.mdb short: the next read of a page
 * past the new end used to be a SIGBUS that killed storesd and every env
 * with it.  Now the read is CORRUPT, as is every later request on that
 * env (gets, scans, counts, writes), the others are served, and once
 * the file is restored the env is served again.  The same when a large
 * mget, read on the readers' pool, meets the cut first.
 */
START_TEST(env_cut_short_under_reads)
{
	static const char *const stores[] = { "s", "n" };
	struct hs_daemon d;
	sc_conn		*c;
	sc_scan		*sc;
	uint64_t	 count;
	size_t		 i;

	c = fault_start(&d);
	for (i = 0; i < 2; i++) {
		fill_and_keep(&d, c, "cut", stores[i]);
		fill_and_keep(&d, c, "good", stores[i]);
		co_user_cuts(&d, "cut", stores[i]);
		refused_cut(&d, c, "cut", stores[i]);
		ck_assert_int_eq(it_run("grep -q 'cut short' %s", d.log), 0);
		sc = sc_scan_begin(c, "cut", stores[i], NULL, NULL);
		ck_assert_ptr_nonnull(sc);
		EXPECT_ERR(c, sc_scan_next(sc, NULL, NULL, NULL, NULL),
		    SC_ERR_CORRUPT);
		sc_scan_end(sc);
		EXPECT_ERR(c, sc_count(c, "cut", stores[i], NULL, &count),
		    SC_ERR_CORRUPT);
		others_served(c, "good", stores[i]);
		restore_kept(&d, "cut", stores[i]);
		served_again(c, "cut", stores[i]);
		/* Met first by a large mget, on the readers' pool. */
		fill_and_keep(&d, c, "cut", stores[i]);
		co_user_cuts(&d, "cut", stores[i]);
		mget_refused(&d, c, "cut", stores[i]);
		refused_cut(&d, c, "cut", stores[i]);
		restore_kept(&d, "cut", stores[i]);
		served_again(c, "cut", stores[i]);
	}
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * The same cut met first by a write, on the env's writer thread: LMDB
 * walks the tree through the map there too.  The write is CORRUPT and
 * nothing of it is kept; reads of the env are CORRUPT after it.
 */
START_TEST(env_cut_short_under_a_write)
{
	static const char *const stores[] = { "s", "n" };
	struct hs_daemon d;
	sc_conn		*c;
	size_t		 i;

	c = fault_start(&d);
	for (i = 0; i < 2; i++) {
		fill_and_keep(&d, c, "cut", stores[i]);
		fill_and_keep(&d, c, "good", stores[i]);
		co_user_cuts(&d, "cut", stores[i]);
		EXPECT_ERR(c, sc_put(c, "cut", stores[i], NULL, "k100", 4,
		    "w", 1), SC_ERR_CORRUPT);
		ck_assert_msg(strstr(sc_errmsg(c), "cut") != NULL &&
		    strstr(sc_errmsg(c), "snapshot") != NULL, "%s",
		    sc_errmsg(c));
		refused_cut(&d, c, "cut", stores[i]);
		others_served(c, "good", stores[i]);
		restore_kept(&d, "cut", stores[i]);
		served_again(c, "cut", stores[i]);
	}
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * The same cut met first by a watch reading history (on its loop's
 * end-of-turn hook): the watch ends with CORRUPT, storesd lives, other
 * envs are served.
 */
START_TEST(env_cut_short_under_a_watch)
{
	struct hs_daemon d;
	sc_conn		*c;
	sc_watch_opts	*o;
	sc_watch	*w;
	sc_event	 ev;
	int		 rc;

	ck_assert_int_eq(hs_prepare(&d, "[store h]\nmap_size = 4MiB\n"
	    "history = 1MiB\n" SIDE_STORE), 0);
	make_adopted(&d, "side");
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	fill_and_keep(&d, c, "cut", "h");
	co_user_cuts(&d, "cut", "h");
	ck_assert_ptr_nonnull(o = sc_watch_opts_new());
	ck_assert_int_eq(sc_watch_opts_set_from(o, 1), 0);
	w = sc_watch_begin(c, "cut", "h", NULL, o, NULL);
	sc_watch_opts_free(o);
	ck_assert_msg(w != NULL, "%s", sc_errmsg(c));
	/* Events sent before the fault may come first. */
	while ((rc = sc_watch_next(w, &ev, 30000)) == 1)
		;
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(sc_errcode(c) == SC_ERR_CORRUPT, "%d: %s",
	    sc_errcode(c), sc_errmsg(c));
	sc_watch_end(w);
	ck_assert_msg(alive(&d), "storesd died");
	it_assert_val(c, NULL, "side", NULL, "alpha", 5, "one", 3);
	restore_kept(&d, "cut", "h");
	served_again(c, "cut", "h");
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * The same cut met first by a snapshot.  A compacting one walked the
 * env's map on the copier's thread, unguarded: a SIGBUS killed storesd.
 * A plain one copied what was left of the file and answered OK: a short,
 * unusable snapshot.  Both are CORRUPT now, storesd lives, other envs
 * are served.
 */
START_TEST(env_cut_short_under_a_snapshot)
{
	static const char *const stores[] = { "s", "n" };
	struct hs_daemon d;
	sc_conn		*c;
	char		 out[PATH_MAX];
	uint64_t	 size;
	size_t		 i;
	int		 fd, compact;

	c = fault_start(&d);
	snprintf(out, sizeof(out), "%s/snap.mdb", d.dir);
	for (i = 0; i < 2; i++)
		for (compact = 1; compact >= 0; compact--) {
			fill_and_keep(&d, c, "cut", stores[i]);
			fill_and_keep(&d, c, "good", stores[i]);
			co_user_cuts(&d, "cut", stores[i]);
			fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			ck_assert_int_ge(fd, 0);
			EXPECT_ERR(c, sc_snapshot(c, "cut", stores[i], fd,
			    compact, &size), SC_ERR_CORRUPT);
			close(fd);
			ck_assert_msg(alive(&d), "storesd died");
			refused_cut(&d, c, "cut", stores[i]);
			others_served(c, "good", stores[i]);
			restore_kept(&d, "cut", stores[i]);
			served_again(c, "cut", stores[i]);
		}
	sc_close(c);
	down(&d);
}
END_TEST

/* Puts keys k1..k400 into repo w of store p, each value 79 "v"s and
 * the key's number. */
static void
put_keys(sc_conn *c)
{
	sc_batch	*b;
	char		 k[16], v[96];
	int		 i;

	ck_assert_ptr_nonnull(b = sc_batch_begin(c, "w", "p", NULL));
	for (i = 1; i <= 400; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "%.79s%d", "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
		    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", i);
		ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), v,
		    strlen(v)), 0);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
}

/* As a co-user would: writes 64 bytes of junk at the end of a leaf of
 * the data file at path that put_keys() filled; a scan then leads LMDB
 * outside its map. */
static void
write_junk(const char *path)
{
	static const unsigned char junk[64] =
	    "\x29\xab\x14\xc2\x56\xe7\xd8\x50\x56\x79\x1a\x38\x43\x20\xc4\x34"
	    "\x95\x68\x72\xd7\x2c\x88\x6b\xcb\x8f\xae\x16\x66\x02\xd2\x1c\xc1"
	    "\xfb\x47\x0c\x79\xd9\x39\x01\x3e\x65\x67\xa9\x04\x2a\x44\x08\x2b"
	    "\xfe\x65\xd7\x23\xcb\x62\x2f\x4a\x58\x15\x1b\x8a\x4c\x89\x11\x3e";
	int		 fd;

	ck_assert_int_ge(fd = open(path, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 12 * 4096 + 3798),
	    (ssize_t)sizeof(junk));
	close(fd);
}

/* A scan of repo w of store p is CORRUPT, saying what. */
static void
scan_refused(sc_conn *c, const char *what)
{
	sc_scan		*sc;
	int		 rc;

	ck_assert_ptr_nonnull(sc = sc_scan_begin(c, "w", "p", NULL, NULL));
	while ((rc = sc_scan_next(sc, NULL, NULL, NULL, NULL)) == 1)
		;
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(sc_errcode(c) == SC_ERR_CORRUPT &&
	    strstr(sc_errmsg(c), what) != NULL, "%d: %s", sc_errcode(c),
	    sc_errmsg(c));
	sc_scan_end(sc);
}

/* The entries a whole scan of repo w of store p hands out. */
static int
scan_count(sc_conn *c)
{
	sc_scan		*sc;
	int		 n = 0, rc;

	ck_assert_ptr_nonnull(sc = sc_scan_begin(c, "w", "p", NULL, NULL));
	while ((rc = sc_scan_next(sc, NULL, NULL, NULL, NULL)) == 1)
		n++;
	ck_assert_msg(rc == 0, "%s", sc_errmsg(c));
	sc_scan_end(sc);
	return n;
}

/* LMDB's page header: the page's flags at byte 10. */
#define PG_FLAGS_AT	10
#define P_BRANCH	0x01
#define P_LEAF		0x02

/* As a co-user would: flags the leaf page of the data file at path that
 * holds key a branch page. */
static void
leaf_as_branch(const char *path, const char *key)
{
	unsigned char	 pg[4096];
	uint16_t	 flags = P_BRANCH;
	off_t		 at;
	int		 fd;

	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	for (at = 2 * 4096; pread(fd, pg, sizeof(pg), at) ==
	    (ssize_t)sizeof(pg); at += 4096)
		if ((pg[PG_FLAGS_AT] | pg[PG_FLAGS_AT + 1] << 8) == P_LEAF &&
		    memmem(pg, sizeof(pg), key, strlen(key)) != NULL)
			break;
	ck_assert_int_eq(pwrite(fd, &flags, 2, at + PG_FLAGS_AT), 2);
	close(fd);
}

/*
 * Starts storesd with store p and the adopted side env, fills repo w of
 * p (put_keys()), and puts its data.mdb's path in path and a copy of
 * that file, kept beside it, in kept.  Returns a connection.
 */
static sc_conn *
keys_up(struct hs_daemon *d, char *path, char *kept)
{
	sc_conn		*c;

	ck_assert_int_eq(hs_prepare(d, "[store p]\nmap_size = 4MiB\n"
	    "dbs = main\n" SIDE_STORE), 0);
	make_adopted(d, "side");
	ck_assert_int_eq(hs_start(d, NULL), 0);
	c = it_conn(d);
	put_keys(c);
	env_file(d, "w", "p", "data.mdb", path, PATH_MAX);
	env_file(d, "w", "p", "kept.mdb", kept, PATH_MAX);
	ck_assert_int_eq(it_run("cp %s %s", path, kept), 0);
	return c;
}

/* After a fault of repo w of store p: storesd lives, and serves the
 * side env and another repo of p. */
static void
others_live(const struct hs_daemon *d, sc_conn *c)
{
	ck_assert_msg(alive(d), "storesd died");
	it_assert_val(c, NULL, "side", NULL, "alpha", 5, "one", 3);
	ck_assert_int_eq(sc_put(c, "other", "p", NULL, "a", 1, "b", 1), 0);
	it_assert_val(c, "other", "p", NULL, "a", 1, "b", 1);
}

/* Copies kept back over path: repo w of store p is scanned whole and
 * written again. */
static void
restored_served(sc_conn *c, const char *path, const char *kept)
{
	ck_assert_int_eq(it_run("cp %s %s", kept, path), 0);
	ck_assert_int_eq(scan_count(c), 400);
	it_assert_val(c, "w", "p", NULL, "k400", 4,
	    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
	    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv400", 82);
	ck_assert_int_eq(sc_put(c, "w", "p", NULL, "after", 5, "v", 1), 0);
}

/*
 * Closes c and stops storesd after a test that had it read a file
 * another program wrote into.  Under valgrind, memcheck reports LMDB's
 * wild access as an error (its exit status 99) before storesd turns it
 * into the env's fault: that access is what such a test makes, so it
 * is the one error allowed here.
 */
static void
wild_down(struct hs_daemon *d, sc_conn *c)
{
	int	 rc;

	sc_close(c);
	rc = hs_stop(d);
	ck_assert_msg(rc == 0 || (hs_wrapped() && rc == 99), "stop: %d", rc);
	hs_cleanup(d);
}

/*
 * A co-user writes bytes into a page of an open env's data.mdb (64 bytes
 * at the end of a leaf): LMDB then followed a pointer it never set in
 * a scan, a SIGSEGV that killed storesd.  Now a read that leads LMDB
 * outside its map is a fault of that env alone: CORRUPT, saying another
 * program wrote into the file; storesd lives and serves the others.
 */
START_TEST(env_written_into_under_reads)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX];

	c = keys_up(&d, path, kept);
	write_junk(path);
	scan_refused(c, "another program");
	others_live(&d, c);
	wild_down(&d, c);
}
END_TEST

/*
 * The same wild write, met by many reads: the env was closed once
 * unused, the next open's checks passed (the file's size is right), and
 * every read faulted again and logged again, so a client could make
 * storesd log without bound.  Now the file stays refused, CORRUPT with
 * no new log line, until it changes; restored, it is served again.
 */
START_TEST(env_written_into_stays_refused)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX];
	int		 i;

	c = keys_up(&d, path, kept);
	write_junk(path);
	for (i = 0; i < 30; i++)
		scan_refused(c, "another program");
	ck_assert_int_eq(it_run("test $(grep -c 'holds bytes LMDB did not "
	    "write' %s) -eq 1", d.log), 0);
	others_live(&d, c);
	/* Restored (the same inode, new bytes and mtime): served again. */
	restored_served(c, path, kept);
	wild_down(&d, c);
}
END_TEST

/*
 * A co-user flags a leaf page of an env a branch page: a scan moving
 * onto it failed LMDB's assertion IS_LEAF(mp) in mdb_cursor_next, and
 * Debian's liblmdb (built with assertions) aborted storesd.  Now an
 * assertion in a read is a fault of that env alone: CORRUPT, storesd
 * lives, other envs are served; restored, the env is served again.
 */
START_TEST(lmdb_assertion_in_a_read)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX];

	c = keys_up(&d, path, kept);
	leaf_as_branch(path, "k300");
	scan_refused(c, "another program");
	ck_assert_int_eq(it_run("grep -q 'holds bytes LMDB did not write.*"
	    "IS_LEAF' %s", d.log), 0);
	others_live(&d, c);
	restored_served(c, path, kept);
	wild_down(&d, c);
}
END_TEST

/*
 * A co-user flags the one leaf of an env's db a branch page (a branch
 * must have two keys or more), and a put-if-absent into it (mdb_put, not
 * the appending cursor) fails LMDB's assertion NUMKEYS(mp) > 1 deep in
 * mdb_cursor_put, on the env's writer (s, sync = full) and inline on the
 * I/O thread (n, sync = none): storesd aborted ("failed an LMDB
 * assertion outside a read").  Now that write is CORRUPT and its env is
 * quarantined: storesd lives and serves the others, the env stays
 * refused with one log line however often it is asked for, a copy over
 * its files in place is still refused (storesd must be restarted
 * first), and a restore --replace (new files) is served again.
 */
START_TEST(lmdb_assertion_in_a_write)
{
	static const char *const stores[] = { "s", "n" };
	struct hs_daemon d;
	sc_conn		*c;
	void		*v;
	size_t		 i, n;
	char		 path[PATH_MAX], kept[PATH_MAX], snap[PATH_MAX];
	int		 k, fd;

	c = fault_start(&d);
	for (i = 0; i < 2; i++) {
		fill_and_keep(&d, c, "good", stores[i]);
		ck_assert_int_eq(sc_put(c, "q", stores[i], NULL, "lonely", 6,
		    "v", 1), 0);
		snprintf(snap, sizeof(snap), "%s/snap-%s", d.dir, stores[i]);
		ck_assert_int_ne(fd = open(snap, O_RDWR | O_CREAT | O_TRUNC,
		    0600), -1);
		ck_assert_int_eq(sc_snapshot(c, "q", stores[i], fd, 0, NULL),
		    0);
		env_file(&d, "q", stores[i], "data.mdb", path, sizeof(path));
		env_file(&d, "q", stores[i], "kept.mdb", kept, sizeof(kept));
		ck_assert_int_eq(it_run("cp %s %s", path, kept), 0);
		leaf_as_branch(path, "lonely");

		EXPECT_ERR(c, sc_put_if_absent(c, "q", stores[i], NULL,
		    "other", 5, "w", 1), SC_ERR_CORRUPT);
		ck_assert_msg(alive(&d), "storesd died");
		ck_assert_msg(strstr(sc_errmsg(c), "q") != NULL &&
		    strstr(sc_errmsg(c), "snapshot") != NULL, "%s",
		    sc_errmsg(c));
		others_served(c, "good", stores[i]);
		/* Refused from now on, logged once. */
		for (k = 0; k < 10; k++) {
			EXPECT_ERR(c, sc_get(c, "q", stores[i], NULL, "lonely",
			    6, &v, &n), SC_ERR_CORRUPT);
			EXPECT_ERR(c, sc_put(c, "q", stores[i], NULL, "x", 1,
			    "v", 1), SC_ERR_CORRUPT);
		}
		ck_assert_int_eq(it_run("test $(grep -c 'q/@%s.*quarantined' "
		    "%s) -eq 1", stores[i], d.log), 0);
		/* Copied back in place: the same files, still held. */
		ck_assert_int_eq(it_run("cp %s %s", kept, path), 0);
		EXPECT_ERR(c, sc_get(c, "q", stores[i], NULL, "lonely", 6,
		    &v, &n), SC_ERR_CORRUPT);
		ck_assert_msg(strstr(sc_errmsg(c), "restart") != NULL, "%s",
		    sc_errmsg(c));
		/* Restored by storesd: new files, served. */
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
		ck_assert_int_eq(sc_restore(c, "q", stores[i], fd, 1, NULL),
		    0);
		close(fd);
		it_assert_val(c, "q", stores[i], NULL, "lonely", 6, "v", 1);
		ck_assert_int_eq(sc_put_if_absent(c, "q", stores[i], NULL,
		    "other", 5, "w", 1), 0);
		ck_assert_msg(alive(&d), "storesd died");
	}
	wild_down(&d, c);
}
END_TEST

/* As a co-user would: leaves the first branch page of the data file at
 * path (the root of the db put_keys() filled) with no keys. */
static void
branch_emptied(const char *path)
{
	unsigned char	 pg[4096];
	uint16_t	 lower = 16;	/* the end of the page header */
	off_t		 at;
	int		 fd;

	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	for (at = 2 * 4096; pread(fd, pg, sizeof(pg), at) ==
	    (ssize_t)sizeof(pg); at += 4096)
		if ((pg[PG_FLAGS_AT] | pg[PG_FLAGS_AT + 1] << 8) == P_BRANCH)
			break;
	ck_assert_int_eq(pwrite(fd, &lower, 2, at + PG_FLAGS_AT + 2), 2);
	close(fd);
}

/*
 * A co-user damages the tree of a served env: its root branch page left
 * with no keys, or a leaf flagged a branch.  A compacting snapshot walks
 * the tree (in a private plain copy) on storesd's thread beside a thread
 * of LMDB's own, where no guard could jump: the first failed LMDB's
 * assertion i < NUMKEYS(mp) in mdb_page_search_root and aborted
 * storesd, the second had the walk write into the copy's read-only map
 * (a SIGSEGV storesd died of).  Now that snapshot is CORRUPT, saying
 * another program wrote into the file; storesd lives, serves the other
 * envs, serves the env again once restored, and stops cleanly.
 */
START_TEST(lmdb_damage_in_a_compacting_snapshot)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX], out[PATH_MAX];
	uint64_t	 size;
	int		 fd, i;

	c = keys_up(&d, path, kept);
	snprintf(out, sizeof(out), "%s/snap.mdb", d.dir);
	for (i = 0; i < 2; i++) {
		if (i == 0)
			branch_emptied(path);
		else
			leaf_as_branch(path, "k300");
		ck_assert_int_ge(fd = open(out, O_WRONLY | O_CREAT | O_TRUNC,
		    0600), 0);
		EXPECT_ERR(c, sc_snapshot(c, "w", "p", fd, 1, &size),
		    SC_ERR_CORRUPT);
		close(fd);
		ck_assert_msg(strstr(sc_errmsg(c), "another program") != NULL,
		    "%s", sc_errmsg(c));
		others_live(&d, c);
		restored_served(c, path, kept);
		/* A compacting snapshot of the restored env is whole. */
		ck_assert_int_ge(fd = open(out, O_WRONLY | O_CREAT | O_TRUNC,
		    0600), 0);
		ck_assert_int_eq(sc_snapshot(c, "w", "p", fd, 1, &size), 0);
		close(fd);
	}
	ck_assert_int_eq(it_run("grep -q 'holds bytes LMDB did not write.*"
	    "NUMKEYS' %s", d.log), 0);
	wild_down(&d, c);
}
END_TEST

/* A plain snapshot of repo w of store p in snap (made anew); returns
 * its descriptor, for restore_refused(). */
static int
snapshot_to(sc_conn *c, const char *snap)
{
	int	 fd;

	ck_assert_int_ge(fd = open(snap, O_RDWR | O_CREAT | O_TRUNC, 0600),
	    0);
	ck_assert_int_eq(sc_snapshot(c, "w", "p", fd, 0, NULL), 0);
	return fd;
}

/* Restores the snapshot at fd (damaged since) over repo w of store p,
 * and closes fd: it must be BAD_REQUEST saying want. */
static void
restore_refused(sc_conn *c, int fd, const char *want)
{
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	EXPECT_ERR(c, sc_restore(c, "w", "p", fd, 1, NULL),
	    SC_ERR_BAD_REQUEST);
	close(fd);
	ck_assert_msg(strstr(sc_errmsg(c), want) != NULL, "%s",
	    sc_errmsg(c));
}

/*
 * A snapshot taken of a sound env is damaged before it is restored: a
 * leaf flagged a branch.  The restore's check walks every db of it,
 * unguarded: that walk failed LMDB's assertion IS_LEAF(mp) in
 * mdb_cursor_next and aborted storesd.  Now the restore is BAD_REQUEST
 * (not a sound LMDB env), the env in place is served as it was, and so
 * is every other.
 */
START_TEST(lmdb_assertion_in_a_restore)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX], snap[PATH_MAX];
	int		 fd;

	c = keys_up(&d, path, kept);
	snprintf(snap, sizeof(snap), "%s/snap.mdb", d.dir);
	fd = snapshot_to(c, snap);
	leaf_as_branch(snap, "k300");
	restore_refused(c, fd, "not a sound LMDB env");
	others_live(&d, c);
	ck_assert_int_eq(scan_count(c), 400);
	wild_down(&d, c);
}
END_TEST

/* An overflow page's flag; its own page number at byte 0, its count
 * of pages at byte 12. */
#define P_OVERFLOW	0x04
#define PG_NO_AT	0
#define PG_PAGES_AT	12

/* As a crafted snapshot would: writes the n bytes at v at byte off of
 * each overflow page header of the data file at path; returns how many
 * headers it changed. */
static int
overflow_header_set(const char *path, off_t off, const void *v, size_t n)
{
	unsigned char	 pg[4096];
	off_t		 at;
	int		 fd, count = 0;

	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	for (at = 2 * 4096; pread(fd, pg, sizeof(pg), at) ==
	    (ssize_t)sizeof(pg); at += 4096)
		if ((pg[PG_FLAGS_AT] | pg[PG_FLAGS_AT + 1] << 8) ==
		    P_OVERFLOW) {
			ck_assert_int_eq(pwrite(fd, v, n, at + off),
			    (ssize_t)n);
			count++;
		}
	close(fd);
	return count;
}

/*
 * A snapshot whose large value (3 pages) has an overflow page header
 * that says it spans 600 pages: LMDB reads that count only when it
 * copies the value (a compacting snapshot) or frees it (an overwrite,
 * a delete), never when it reads it, and the restore's check, a walk
 * with cursors, never looked at it.  Before: the restore was accepted;
 * every compacting snapshot of the env then failed with a wrong error
 * ("a db's flags differ from what storesd expects"), and an overwrite
 * of the value was acknowledged after LMDB had put 600 pages it did not
 * own, live pages of the tree among them, on the free list, for later
 * writes to overwrite.  Now the check compares each overflow value's
 * header with its size: the restore is BAD_REQUEST, nothing is kept.
 */
START_TEST(overflow_count_in_a_restore)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX], snap[PATH_MAX];
	char		 big[10000];
	uint32_t	 pages = 600;
	int		 fd;

	c = keys_up(&d, path, kept);
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(sc_put(c, "w", "p", NULL, "big", 3, big,
	    sizeof(big)), 0);
	snprintf(snap, sizeof(snap), "%s/snap.mdb", d.dir);
	fd = snapshot_to(c, snap);
	ck_assert_int_eq(overflow_header_set(snap, PG_PAGES_AT, &pages,
	    sizeof(pages)), 1);
	restore_refused(c, fd, "overflow page header");
	/* The env in place is as it was, and a compacting snapshot of it
	 * is whole. */
	ck_assert_int_eq(scan_count(c), 401);
	ck_assert_int_ge(fd = open(snap, O_RDWR | O_CREAT | O_TRUNC, 0600),
	    0);
	ck_assert_int_eq(sc_snapshot(c, "w", "p", fd, 1, NULL), 0);
	close(fd);
	others_live(&d, c);
	ck_assert_int_ne(it_run("grep -q 'parked\\|quarantined' %s", d.log),
	    0);
	wild_down(&d, c);
}
END_TEST

/*
 * The same value's overflow header naming another page as its own: LMDB
 * frees the pages from the number in that header when the value is
 * overwritten or deleted, so a restored env would put live pages of its
 * tree on the free list for later writes to overwrite.  Before: the
 * check compared the number with the env's size only, which a number
 * near 2^64 passed by wrapping, and a page of the tree (page 2) passed
 * as it was; both restores were accepted.  Now the number must be the
 * page's own: BAD_REQUEST, nothing kept.
 */
START_TEST(overflow_page_number_in_a_restore)
{
	static const uint64_t wrong[] = { UINT64_MAX - 1, 2 };
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX], snap[PATH_MAX];
	char		 big[10000];
	void		*out;
	size_t		 i, n;
	int		 fd;

	c = keys_up(&d, path, kept);
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(sc_put(c, "w", "p", NULL, "big", 3, big,
	    sizeof(big)), 0);
	snprintf(snap, sizeof(snap), "%s/snap.mdb", d.dir);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		fd = snapshot_to(c, snap);
		ck_assert_int_eq(overflow_header_set(snap, PG_NO_AT,
		    &wrong[i], sizeof(wrong[i])), 1);
		restore_refused(c, fd, "overflow page header");
	}
	ck_assert_int_eq(scan_count(c), 401);
	/* A sound snapshot of the same value is restored, and reads back:
	 * the check holds nothing sound against it. */
	fd = snapshot_to(c, snap);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(sc_restore(c, "w", "p", fd, 1, NULL), 0);
	close(fd);
	ck_assert_int_eq(sc_get(c, "w", "p", NULL, "big", 3, &out, &n), 0);
	ck_assert(n == sizeof(big) && memcmp(out, big, n) == 0);
	sc_free(out);
	others_live(&d, c);
	ck_assert_int_ne(it_run("grep -q 'parked\\|quarantined' %s", d.log),
	    0);
	wild_down(&d, c);
}
END_TEST

/* LMDB's meta page: the free db's depth and root, the meta's txnid. */
#define META_FREE_DEPTH	46
#define META_FREE_ROOT	80
#define META_TXNID	144

/*
 * As a co-user would: makes the free db's root page of the data file at
 * path (named by the meta with the higher txnid) a branch page with no
 * keys, and that meta's depth of the free db 2, as a branch root's is,
 * so that an open's check of the root (check_root() in store.c) passes.
 * The free db must not be empty.
 */
static void
free_root_emptied(const char *path)
{
	uint64_t	 txnid[2], root[2];
	uint16_t	 h[2] = { P_BRANCH, 16 };	/* flags, lower */
	uint16_t	 depth = 2;
	int		 fd, i, m;

	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pread(fd, &txnid[i], 8, i * 4096 +
		    META_TXNID), 8);
		ck_assert_int_eq(pread(fd, &root[i], 8, i * 4096 +
		    META_FREE_ROOT), 8);
	}
	m = txnid[1] > txnid[0];
	ck_assert_msg(root[m] != UINT64_MAX, "the free db is empty");
	ck_assert_int_eq(pwrite(fd, h, sizeof(h), (off_t)root[m] * 4096 +
	    PG_FLAGS_AT), (ssize_t)sizeof(h));
	ck_assert_int_eq(pwrite(fd, &depth, 2, m * 4096 + META_FREE_DEPTH),
	    2);
	close(fd);
}

/* Frees pages of repo w of store p (after keys_up()): 300 of its keys
 * deleted, and kept free by a few more commits. */
static void
free_pages_made(sc_conn *c)
{
	sc_batch	*b;
	char		 k[16];
	int		 i;

	ck_assert_ptr_nonnull(b = sc_batch_begin(c, "w", "p", NULL));
	for (i = 1; i <= 300; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_int_eq(sc_batch_del(b, NULL, k, strlen(k)), 0);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(sc_put(c, "w", "p", NULL, "x", 1, "v", 1),
		    0);
}

/*
 * A snapshot whose free db is damaged (its root a branch page with no
 * keys) is restored: the restore's check walked the dbs, not the free
 * db, and its new id's write (st_reid()) allocated a page from the free
 * db, failing LMDB's assertion i < NUMKEYS(mp) in mdb_page_search_root:
 * storesd aborted.  Then st_reid()'s write quarantined the copy instead
 * (a place of QUAR_MAX for good, which a client could use up with such
 * snapshots); now the check walks the free db too, a guarded read, and
 * the restore is BAD_REQUEST (not a sound LMDB env) with nothing
 * quarantined, the copy never put in place, the env in place served as
 * it was, and so is every other.
 */
START_TEST(lmdb_assertion_in_a_restores_write)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX], snap[PATH_MAX];
	int		 fd;

	c = keys_up(&d, path, kept);
	free_pages_made(c);
	snprintf(snap, sizeof(snap), "%s/snap.mdb", d.dir);
	fd = snapshot_to(c, snap);
	free_root_emptied(snap);
	restore_refused(c, fd, "not a sound LMDB env");
	ck_assert_int_eq(it_run("grep -q 'NUMKEYS' %s", d.log), 0);
	ck_assert_int_ne(it_run("grep -q 'quarantined' %s", d.log), 0);
	others_live(&d, c);
	ck_assert_int_eq(scan_count(c), 101);
	it_assert_val(c, "w", "p", NULL, "x", 1, "v", 1);
	/* A sound snapshot is restored still. */
	fd = snapshot_to(c, snap);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(sc_restore(c, "w", "p", fd, 1, NULL), 0);
	close(fd);
	ck_assert_int_eq(scan_count(c), 101);
	wild_down(&d, c);
}
END_TEST

/*
 * The same damage in a served env, by another program, and the env is
 * forked: the fork's copy got its new id (st_reid()) without a walk, so
 * that write met the damaged free db and the copy was quarantined, one
 * of 16 places for good, with a message about restore --replace.  Now
 * the copy is walked first, as a restore's is: the fork is CORRUPT
 * naming the env forked, nothing is quarantined, nothing is put in
 * place, and the others are served.
 */
START_TEST(fork_of_a_damaged_env)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 path[PATH_MAX], kept[PATH_MAX], dst[PATH_MAX];

	c = keys_up(&d, path, kept);
	free_pages_made(c);
	free_root_emptied(path);
	EXPECT_ERR(c, sc_fork(c, "w", "p", "f"), SC_ERR_CORRUPT);
	ck_assert_msg(strstr(sc_errmsg(c), "the env forked") != NULL &&
	    strstr(sc_errmsg(c), "restore it from a snapshot") != NULL, "%s",
	    sc_errmsg(c));
	ck_assert_int_ne(it_run("grep -q 'quarantined' %s", d.log), 0);
	env_file(&d, "f", "p", "data.mdb", dst, sizeof(dst));
	ck_assert_int_ne(access(dst, F_OK), 0);
	others_live(&d, c);
	wild_down(&d, c);
}
END_TEST

/*
 * The pages free past the map of repo's data.mdb of store in storesd,
 * up to the next mapping (0: it follows at once).
 */
static unsigned long
gap_past_map(const struct hs_daemon *d, const char *repo, const char *store)
{
	char		 path[PATH_MAX], line[PATH_MAX + 128];
	unsigned long	 start, end, next = 0, map_end = 0;
	FILE		*f;

	env_file(d, repo, store, "data.mdb", path, sizeof(path));
	snprintf(line, sizeof(line), "/proc/%ld/maps", (long)d->pid);
	ck_assert_ptr_nonnull(f = fopen(line, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		if (map_end != 0 && next == 0)
			next = start;
		if (strstr(line, path) != NULL)
			map_end = end;
	}
	fclose(f);
	ck_assert_uint_ne(map_end, 0);
	return next > map_end ? (next - map_end) / 4096 : 0;
}

/*
 * Writes a branch page as page 1023, the last of a 4 MiB map, of repo's
 * data.mdb of store, with two nodes: the first at offset off from the
 * page's start, the second in the page with a key above any db name.
 */
static void
wild_branch(const struct hs_daemon *d, const char *repo, const char *store,
    unsigned off)
{
	static const unsigned char node[] = { 0, 0, 0, 0, 0, 0, 4, 0,
	    0xff, 0xff, 0xff, 0xff };	/* page 0, a 4-byte key */
	unsigned char	 pg[4096];
	char		 path[PATH_MAX];
	uint64_t	 no = 1023;
	uint16_t	 h[6] = { 0, 0x01, 20, 4000, (uint16_t)off, 4000 };
	int		 fd;

	memset(pg, 0, sizeof(pg));
	memcpy(pg, &no, sizeof(no));
	/* pad, flags (branch), lower, upper, the nodes' offsets */
	memcpy(pg + 8, h, sizeof(h));
	memcpy(pg + 4000, node, sizeof(node));
	env_file(d, repo, store, "data.mdb", path, sizeof(path));
	ck_assert_int_ge(fd = open(path, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, pg, sizeof(pg), 1023 * 4096),
	    (ssize_t)sizeof(pg));
	close(fd);
}

/*
 * A co-user writes into an open env: a branch page as the last page of
 * storesd's map, whose first node lies at an offset past the page, past
 * the map's end, where nothing is mapped, and makes it the main db's
 * root.  A write, walking the tree on the env's writer (s) or inline (n,
 * sync = none), read the node there: a SIGSEGV that killed storesd, since no
 * jump is safe in a write.  Now zeros are mapped there for that write,
 * which fails CORRUPT saying another program wrote into the file; the
 * env is refused after it, storesd lives and serves the others.
 */
START_TEST(env_written_into_under_a_write)
{
	static const char *const stores[] = { "s", "n" };
	struct hs_daemon d;
	sc_conn		*c;
	uint64_t	 last = 1023;	/* map_size 4 MiB: pages 0-1023 */
	unsigned long	 gap;
	char		 repo[16];
	size_t		 i;
	int		 k, rc;

	c = fault_start(&d);
	for (i = 0; i < 2; i++) {
		fill_and_keep(&d, c, "good", stores[i]);
		/* Where storesd's maps lie is the kernel's choice: the first
		 * env with free pages past its map. */
		for (k = 0, gap = 0; k < 16 && gap < 2; k++) {
			snprintf(repo, sizeof(repo), "wild%s%d", stores[i], k);
			ck_assert_int_eq(sc_put(c, repo, stores[i], NULL,
			    "k100", 4, "v", 1), 0);
			gap = gap_past_map(&d, repo, stores[i]);
		}
		ck_assert_msg(gap >= 2, "no env of 16 has pages free past "
		    "its map");
		wild_branch(&d, repo, stores[i], 4096 + (gap < 28 ?
		    gap * 2048 : 0xe000));
		poke_metas(&d, repo, stores[i], META_LAST_PG, &last,
		    sizeof(last));
		poke_metas(&d, repo, stores[i], META_MAIN_ROOT, &last,
		    sizeof(last));
		EXPECT_ERR(c, sc_put(c, repo, stores[i], NULL, "k100", 4,
		    "w", 1), SC_ERR_CORRUPT);
		ck_assert_msg(strstr(sc_errmsg(c), repo) != NULL &&
		    strstr(sc_errmsg(c), "another program") != NULL, "%s",
		    sc_errmsg(c));
		ck_assert_msg(alive(&d), "storesd died");
		EXPECT_ERR(c, sc_put(c, repo, stores[i], NULL, "k101", 4,
		    "w", 1), SC_ERR_CORRUPT);
		others_served(c, "good", stores[i]);
	}
	sc_close(c);
	/* Under valgrind, memcheck reports the access past the map (the
	 * one this test makes) as an error: exit 99, here only. */
	rc = hs_stop(&d);
	ck_assert_msg(rc == 0 || (hs_wrapped() && rc == 99), "stop: %d", rc);
	hs_cleanup(&d);
}
END_TEST

/*
 * Writes 201 keys k100..k300 into repo w of store p, and then, as a
 * co-user would, sets the size of key k150 in its leaf node to ksize.
 */
static void
damage_key(const struct hs_daemon *d, sc_conn *c, unsigned ksize)
{
	sc_batch	*b;
	char		 k[16], path[PATH_MAX], *data;
	unsigned char	 sz[2] = { ksize & 0xff, ksize >> 8 };
	size_t		 n, i;
	int		 fd;

	ck_assert_ptr_nonnull(b = sc_batch_begin(c, "w", "p", NULL));
	for (i = 100; i <= 300; i++) {
		snprintf(k, sizeof(k), "k%zu", i);
		ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), "value",
		    5), 0);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	env_file(d, "w", "p", "data.mdb", path, sizeof(path));
	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	ck_assert_ptr_nonnull(data = calloc(1, 1 << 20));
	ck_assert_int_gt(n = (size_t)pread(fd, data, 1 << 20, 0), 0);
	for (i = 2; i + 4 <= n && memcmp(data + i, "k150", 4) != 0; i++)
		;
	ck_assert_uint_lt(i + 4, n);
	ck_assert_int_eq(pwrite(fd, sz, 2, (off_t)i - 2), 2);
	free(data);
	close(fd);
}

/* Scans of repo w of store p, forward and in reverse, are CORRUPT
 * (with what) within 10,000 entries; storesd lives. */
static void
scans_corrupt(const struct hs_daemon *d, sc_conn *c, const char *what)
{
	sc_scan		*sc;
	sc_scan_opts	*o;
	size_t		 n;
	int		 i, rc;

	for (i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(o = sc_scan_opts_new());
		ck_assert_int_eq(sc_scan_opts_set_reverse(o, i), 0);
		sc = sc_scan_begin(c, "w", "p", NULL, o);
		sc_scan_opts_free(o);
		ck_assert_ptr_nonnull(sc);
		for (n = 0; (rc = sc_scan_next(sc, NULL, NULL, NULL,
		    NULL)) == 1 && n < 10000; n++)
			;
		ck_assert_msg(rc == -1 && sc_errcode(c) == SC_ERR_CORRUPT &&
		    strstr(sc_errmsg(c), what) != NULL,
		    "rc %d after %zu entries: %s", rc, n, sc_errmsg(c));
		sc_scan_end(sc);
	}
	ck_assert_msg(alive(d), "storesd died");
	it_assert_val(c, NULL, "side", NULL, "alpha", 5, "one", 3);
}

/*
 * storesd with store p and the adopted side env; key k150 of repo w
 * damaged to ksize (damage_key()); its scans are CORRUPT with what,
 * storesd lives and serves the others (scans_corrupt()).
 */
static void
damaged_key_scans(unsigned ksize, const char *what)
{
	struct hs_daemon d;
	sc_conn		*c;

	ck_assert_int_eq(hs_prepare(&d, "[store p]\nmap_size = 4MiB\n"
	    "dbs = main\n" SIDE_STORE), 0);
	make_adopted(&d, "side");
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	damage_key(&d, c, ksize);
	scans_corrupt(&d, c, what);
	sc_close(c);
	down(&d);
}

/*
 * A co-user cuts a key of an open env to nothing (its size in the leaf
 * node zeroed): a scan handed out the empty key among the others, out
 * of order, and answered the end as if all were well (storectl scan,
 * which resumes after the last key it was handed, went round for ever
 * on another such file).  Now keys that do not come in order are
 * CORRUPT, in both directions.
 */
START_TEST(scan_of_a_damaged_tree_ends)
{
	damaged_key_scans(0, "out of order");
}
END_TEST

/*
 * The same with the key's size raised to 2,000 bytes: the scan copied
 * the key into its page's cursor, SP_KEY_MAX bytes on the stack, a
 * stack overflow with the file's bytes (with 46,025 on another damaged
 * file, storesd died of SIGSEGV at the stack's end).  Now a key over
 * LMDB's limit is CORRUPT before anything copies it.
 */
START_TEST(scan_of_an_overlong_key_is_corrupt)
{
	damaged_key_scans(2000, "2000 bytes");
}
END_TEST

/* ------------------------------------------------- lock.mdb cut short */

/* What a co-user of repo's env of store does: cuts its lock.mdb to
 * nothing, with storesd holding the env open. */
static void
co_user_cuts_lock(const struct hs_daemon *d, const char *repo,
    const char *store)
{
	char	 path[PATH_MAX];

	env_file(d, repo, store, "lock.mdb", path, sizeof(path));
	ck_assert_int_eq(truncate(path, 0), 0);
}

/* True when c's last request was refused BUSY because lock.mdb was cut,
 * naming repo and saying to retry. */
static bool
lock_refused(sc_conn *c, const char *repo)
{
	return sc_errcode(c) == SC_ERR_BUSY && sc_errretry_ms(c) > 0 &&
	    strstr(sc_errmsg(c), repo) != NULL &&
	    strstr(sc_errmsg(c), "lock.mdb") != NULL &&
	    strstr(sc_errmsg(c), "retry") != NULL;
}

/* A client of the cut env on a thread of its own: puts and gets until
 * told to stop; each is served or refused as lock_refused() says. */
struct lock_user {
	pthread_t	 t;
	const char	*sock;
	const char	*repo;		/* NULL: "cut" */
	const char	*store;
	atomic_bool	 stop;
	atomic_uint	 done;		/* requests answered */
	unsigned	 busy, bad;
	char		 msg[320];
};

static void *
lock_user_main(void *arg)
{
	struct lock_user *u = arg;
	sc_conn		*c = sc_connect(u->sock);
	const char	*repo = u->repo != NULL ? u->repo : "cut";
	char		 k[16];
	void		*v;
	size_t		 n;
	unsigned	 i;
	int		 rc;

	for (i = 0; !atomic_load(&u->stop); i++) {
		snprintf(k, sizeof(k), "u%03u", i % 200);
		rc = i % 2 ? sc_put(c, repo, u->store, NULL, k, strlen(k),
		    "u", 1) : sc_get(c, repo, u->store, NULL, "k199", 4, &v,
		    &n);
		if (rc == 0) {
			if (i % 2 == 0)
				sc_free(v);
		} else if (lock_refused(c, repo))
			u->busy++;
		else if (u->bad++ == 0)
			snprintf(u->msg, sizeof(u->msg), "%d: %s",
			    sc_errcode(c), sc_errmsg(c));
		atomic_fetch_add(&u->done, 1);
	}
	sc_close(c);
	return NULL;
}

/* Waits until u has had n more requests answered. */
static void
lock_user_runs(struct lock_user *u, unsigned n)
{
	unsigned	 want = atomic_load(&u->done) + n;
	int		 i;

	for (i = 0; i < hs_tries(1) && atomic_load(&u->done) < want; i++)
		poll(NULL, 0, 1);
	ck_assert_uint_ge(atomic_load(&u->done), want);
}

/* The env of repo cut in store serves its key k199 again within a
 * bounded number of tries, each of which is served or refused BUSY. */
static void
k199_after_retries(sc_conn *c, const char *repo, const char *store)
{
	void	*v;
	size_t	 n;
	int	 i, tries = hs_tries(10);

	for (i = 0; i < tries; i++) {
		if (sc_get(c, repo, store, NULL, "k199", 4, &v, &n) == 0) {
			sc_free(v);
			break;
		}
		ck_assert_msg(lock_refused(c, repo), "%d: %s", sc_errcode(c),
		    sc_errmsg(c));
		poll(NULL, 0, (int)sc_errretry_ms(c));
	}
	ck_assert_int_lt(i, tries);
}

/* k199_after_retries(), and then all its data. */
static void
served_after_retries(sc_conn *c, const char *repo, const char *store)
{
	k199_after_retries(c, repo, store);
	served_again(c, repo, store);
}

/*
 * A co-user cuts lock.mdb of an open env to nothing: LMDB's next touch
 * of its reader table or writer mutex, on whichever thread, was a SIGBUS
 * that killed storesd.  Now it is a fault of that env alone: requests in
 * flight and the next one are refused BUSY (nothing of the data is lost:
 * lock.mdb holds none), the env is closed once unused and opened again
 * by the next request, which LMDB sets lock.mdb up anew for, and it
 * serves its data as before.  First with the env idle, then 20 times
 * while a client reads and writes it (each cut once the client got two
 * more answers): it gets answers or that BUSY, and at least one BUSY;
 * other envs are served throughout.
 */
START_TEST(lock_file_cut_short)
{
	static const char *const stores[] = { "s", "n" };
	struct hs_daemon d;
	struct lock_user u;
	sc_conn		*c;
	void		*v;
	size_t		 i, n;
	int		 cuts;

	c = fault_start(&d);
	for (i = 0; i < 2; i++) {
		fill_and_keep(&d, c, "cut", stores[i]);
		fill_and_keep(&d, c, "good", stores[i]);
		co_user_cuts_lock(&d, "cut", stores[i]);
		ck_assert_int_eq(sc_get(c, "cut", stores[i], NULL, "k199", 4,
		    &v, &n), -1);
		ck_assert_msg(lock_refused(c, "cut"), "%d: %s", sc_errcode(c),
		    sc_errmsg(c));
		ck_assert_msg(alive(&d), "storesd died");
		others_served(c, "good", stores[i]);
		served_after_retries(c, "cut", stores[i]);
		ck_assert_int_eq(it_run("grep -q 'lock.mdb was cut short' %s",
		    d.log), 0);

		/* Cut again and again under a client of the env. */
		memset(&u, 0, sizeof(u));
		atomic_init(&u.stop, false);
		atomic_init(&u.done, 0);
		u.sock = d.sock;
		u.store = stores[i];
		ck_assert_int_eq(pthread_create(&u.t, NULL, lock_user_main,
		    &u), 0);
		for (cuts = 0; cuts < 20; cuts++) {
			lock_user_runs(&u, 2);
			co_user_cuts_lock(&d, "cut", stores[i]);
			others_served(c, "good", stores[i]);
			ck_assert_msg(alive(&d), "storesd died");
		}
		atomic_store(&u.stop, true);
		ck_assert_int_eq(pthread_join(u.t, NULL), 0);
		ck_assert_msg(u.bad == 0, "%u requests neither served nor "
		    "refused BUSY, first: %s", u.bad, u.msg);
		ck_assert_uint_gt(u.busy, 0);
		ck_assert_msg(alive(&d), "storesd died");
		served_after_retries(c, "cut", stores[i]);
	}
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * Many envs' lock.mdb cut again and again, each under a client of its
 * own: the closes of cut envs and the reopens run at once, on the pool
 * and the openers' pool.  Ways this went wrong: two threads faulting on
 * one page of a cut lock.mdb killed storesd ("SIGBUS outside any call
 * on an env"); another env's lock.mdb, opened meanwhile, was mapped
 * where a thread's robust list still led (glibc then relinked through
 * that env's mutexes, a SIGSEGV under ASan); and threads that held a
 * writer mutex at a cut kept a robust list leading into its page of
 * zeros after the env closed.  Now every client is served or refused
 * BUSY throughout, storesd lives, and once each env serves again no
 * thread's robust list leads anywhere.
 */
#define CUT_ENVS	6

static int	robust_lists_astray(pid_t, char *, size_t);

START_TEST(lock_files_of_many_envs_cut)
{
	static const char *const repos[CUT_ENVS] = { "m0", "m1", "m2",
	    "m3", "m4", "m5" };
	struct hs_daemon d;
	struct lock_user u[CUT_ENVS];
	char		 path[PATH_MAX], msg[320];
	sc_conn		*c;
	int		 i, round;

	c = fault_start(&d);
	for (i = 0; i < CUT_ENVS; i++) {
		ck_assert_int_eq(sc_put(c, repos[i], i % 2 ? "n" : "s", NULL,
		    "k199", 4, "v", 1), 0);
		memset(&u[i], 0, sizeof(u[i]));
		atomic_init(&u[i].stop, false);
		atomic_init(&u[i].done, 0);
		u[i].sock = d.sock;
		u[i].repo = repos[i];
		u[i].store = i % 2 ? "n" : "s";
		ck_assert_int_eq(pthread_create(&u[i].t, NULL, lock_user_main,
		    &u[i]), 0);
	}
	for (round = 0; round < 50; round++) {
		for (i = 0; i < CUT_ENVS; i++)
			lock_user_runs(&u[i], 2);
		for (i = 0; i < CUT_ENVS; i++) {
			env_file(&d, repos[i], u[i].store, "lock.mdb", path,
			    sizeof(path));
			ck_assert_int_eq(truncate(path, 0), 0);
		}
		ck_assert_msg(alive(&d), "storesd died");
	}
	for (i = 0; i < CUT_ENVS; i++) {
		atomic_store(&u[i].stop, true);
		ck_assert_int_eq(pthread_join(u[i].t, NULL), 0);
		ck_assert_msg(u[i].bad == 0, "%s: %u requests neither served "
		    "nor refused BUSY, first: %s", repos[i], u[i].bad,
		    u[i].msg);
	}
	ck_assert_msg(alive(&d), "storesd died");
	for (i = 0; i < CUT_ENVS; i++)
		k199_after_retries(c, repos[i], u[i].store);
	ck_assert_msg(robust_lists_astray(d.pid, msg, sizeof(msg)) == 0,
	    "%s", msg);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * The threads of storesd (pid) whose robust list is not empty, with the
 * first one's in msg: the list head the kernel keeps for each thread
 * (get_robust_list(2)), read from storesd's memory.  An idle storesd
 * holds no LMDB mutex, so each list must lead back to its head: an entry
 * left there leads into the page of zeros over a cut lock.mdb, where
 * glibc writes at the thread's next lock or unlock of a robust mutex.
 */
static int
robust_lists_astray(pid_t pid, char *msg, size_t n)
{
	struct dirent	*de;
	struct iovec	 l, r;
	char		 path[64];
	DIR		*dir;
	void		*head, *first;
	size_t		 len;
	int		 astray = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	ck_assert_ptr_nonnull(dir = opendir(path));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_eq(syscall(SYS_get_robust_list,
		    atoi(de->d_name), &head, &len), 0);
		l = (struct iovec){ &first, sizeof(first) };
		r = (struct iovec){ head, sizeof(first) };
		ck_assert_int_eq(process_vm_readv(pid, &l, 1, &r, 1, 0),
		    sizeof(first));
		if (first != head && astray++ == 0)
			snprintf(msg, n, "thread %s: its robust list leads to "
			    "%p", de->d_name, first);
	}
	closedir(dir);
	return astray;
}

/* The lines of /proc/PID/maps: storesd's maps. */
static int
maps_of(pid_t pid)
{
	char	 path[64], line[512];
	FILE	*f;
	int	 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		n++;
	fclose(f);
	return n;
}

/*
 * Each cut of a lock.mdb left a page of zeros mapped for good where its
 * map was (a thread's robust list might lead there), one map more per
 * cut (100 cuts took storesd from 76 maps to 182), so a co-user who cut
 * it again and again grew storesd's maps without bound, and at
 * vm.max_map_count (65530) every mmap of storesd would fail (env opens,
 * large allocations).  Now the threads take such entries off their
 * robust lists before the env closes (robust_tidy()), and the close
 * lets the pages go: 100 cuts leave the maps where they were, and no
 * thread's robust list leads anywhere.
 */
START_TEST(lock_cuts_keep_no_map_for_good)
{
	struct hs_daemon d;
	sc_conn		*c;
	char		 msg[320];
	int		 before, i;

	c = fault_start(&d);
	fill_and_keep(&d, c, "cut", "s");
	before = maps_of(d.pid);
	for (i = 0; i < 100; i++) {
		co_user_cuts_lock(&d, "cut", "s");
		served_after_retries(c, "cut", "s");
	}
	ck_assert_int_lt(maps_of(d.pid), before + 20);
	ck_assert_msg(robust_lists_astray(d.pid, msg, sizeof(msg)) == 0,
	    "%s", msg);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * The thread of storesd (pid) asleep in futex(2) on an address of the
 * map of lock.mdb of dir: LMDB's writer mutex, which another holds.  0
 * while there is none.
 */
static pid_t
futex_waiter_in(pid_t pid, const char *dir)
{
	char		 path[PATH_MAX + 64], line[PATH_MAX + 256], want[PATH_MAX];
	unsigned long	 lo[16], hi[16], addr;
	struct dirent	*de;
	DIR		*tasks;
	FILE		*f;
	long		 nr;
	pid_t		 found = 0;
	int		 n = 0, i;

	snprintf(want, sizeof(want), "%s/lock.mdb", dir);
	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL && n < 16)
		if (strstr(line, want) != NULL &&
		    sscanf(line, "%lx-%lx", &lo[n], &hi[n]) == 2)
			n++;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	ck_assert_ptr_nonnull(tasks = opendir(path));
	while (found == 0 && (de = readdir(tasks)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/syscall",
		    (long)pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%ld %lx", &nr, &addr) == 2 &&
		    nr == SYS_futex)
			for (i = 0; i < n; i++)
				if (addr >= lo[i] && addr < hi[i])
					found = (pid_t)atol(de->d_name);
		fclose(f);
	}
	closedir(tasks);
	return found;
}

/*
 * A thread of storesd that waits for LMDB's writer mutex when lock.mdb
 * is cut slept for good: it sleeps on the futex of the file's page, and
 * the holder's unlock (a co-user's here; storesd's own commit, in the
 * storms of a round's attack, where a snapshot's copy then held a
 * snapshot place for good and a stop never ended) lands in a page of
 * zeros, or nowhere, and wakes nobody.  The env was held by that write
 * for good: never closed, never reopened, BUSY for ever, its client
 * unanswered.  Now the thread is woken when zeros replace that page, so
 * the write is answered (BUSY), and the env serves again after a few
 * retries.
 */
START_TEST(lock_cut_under_a_waiting_writer)
{
	struct timespec	 until;
	struct hs_daemon d;
	struct holder	 h;
	struct blocked	 b;
	sc_conn		*c;
	char		 dir[PATH_MAX], path[PATH_MAX + 16];
	void		*v;
	size_t		 n;
	int		 i;

	c = held_start(&d, "k199");
	fast_held(&d, &h, dir, sizeof(dir));
	blocked_start(&b, d.sock, "fast");
	for (i = 0; i < hs_tries(10) && futex_waiter_in(d.pid, dir) == 0;
	    i++)
		poll(NULL, 0, 10);
	ck_assert_msg(futex_waiter_in(d.pid, dir) != 0,
	    "no thread of storesd waits for the writer mutex");
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	ck_assert_int_eq(truncate(path, 0), 0);
	/* The co-user's unlock faults: it dies, waking nobody. */
	kill(h.pid, SIGKILL);
	(void)hold_end(&h);
	/* A read faults on the cut page: zeros replace it. */
	if (sc_get(c, NULL, "fast", NULL, "k199", 4, &v, &n) == 0)
		sc_free(v);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += hs_timeout();
	ck_assert_msg(pthread_timedjoin_np(b.t, NULL, &until) == 0,
	    "the put waiting for the cut writer mutex was never answered");
	ck_assert_msg(b.code == SC_OK || b.code == SC_ERR_BUSY, "%s: %s",
	    sc_errname(b.code), b.msg);
	ck_assert_msg(alive(&d), "storesd died");
	for (i = 0; i < hs_tries(10); i++) {
		if (sc_get(c, NULL, "fast", NULL, "k199", 4, &v, &n) == 0) {
			sc_free(v);
			break;
		}
		ck_assert_int_eq(sc_errcode(c), SC_ERR_BUSY);
		poll(NULL, 0, 10);
	}
	ck_assert_int_lt(i, hs_tries(10));
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * A SIGBUS that no env's guard catches (here one sent by kill) still
 * kills storesd, loudly: its handler says so on stderr and passes the
 * signal to the handler that was there before its own: the default
 * one, which kills (and dumps core), or AddressSanitizer's, which
 * reports it (storesd's own handler used to put SIG_DFL back, and
 * AddressSanitizer never saw a fault).
 */
START_TEST(sigbus_outside_a_guard_kills)
{
	struct hs_daemon d;
	int		 status;

	ck_assert_int_eq(hs_prepare(&d, FAULT_STORES), 0);
	make_adopted(&d, "side");
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	ck_assert_int_eq(kill(d.pid, SIGBUS), 0);
	ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
	/* By the handler that was there before storesd's: AddressSanitizer
	 * reports the signal and exits 1; the default one kills. */
	if (hs_asan())
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
		    it_run("grep -q 'AddressSanitizer: BUS' %s", d.log) == 0,
		    "status %#x", status);
	else
		ck_assert_msg(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGBUS, "status %#x", status);
	ck_assert_int_eq(it_run("grep -q 'SIGBUS outside any call on an env' "
	    "%s", d.log), 0);
	hs_cleanup(&d);
}
END_TEST

/* Bytes storesd has read (rchar of /proc/PID/io): files, pipes, sockets,
 * and /proc. */
static unsigned long long
bytes_read_by(pid_t pid)
{
	unsigned long long n = 0;
	char		 path[64], line[128];
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%ld/io", (long)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "rchar: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * Opening an env read all of /proc/self/maps (to note where its
 * lock.mdb was mapped, for waking the threads asleep on its mutexes
 * after a cut), whose lines grow with the envs open: with 4,000 envs
 * open, workload 9's new envs took 12 ms each instead of 5.  Where that
 * page is mapped is now read from the line a fault of it finds anyway.
 * Counted, not timed: the bytes storesd reads per new env, with 300 to
 * 600 envs open (about 60 KiB before, 1,000 to 1,300 maps of about 90
 * bytes; a few hundred now).
 */
START_TEST(opening_an_env_reads_no_maps)
{
	struct hs_daemon d;
	unsigned long long before = 0, per;
	sc_conn		*c;
	char		 repo[32];
	int		 i;

	c = fault_start(&d);
	for (i = 0; i < 600; i++) {
		if (i == 300)
			before = bytes_read_by(d.pid);
		snprintf(repo, sizeof(repo), "many%d", i);
		ck_assert_int_eq(sc_put(c, repo, "s", NULL, "k", 1, "v", 1), 0);
	}
	per = (bytes_read_by(d.pid) - before) / 300;
	fprintf(stderr, "opening_an_env_reads_no_maps: %llu bytes read per "
	    "new env\n", per);
	/* valgrind reads the head of each file storesd maps (ELF or not). */
	ck_assert_msg(per < 8192 || hs_wrapped(),
	    "storesd read %llu bytes per new env", per);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

static Suite *
envfaults_suite(void)
{
	Suite	*s = suite_create("envfaults");
	TCase	*tc;

	tc = tcase_create("envfaults");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, sync_none_full_disk);
	tcase_add_test(tc, new_env_on_a_full_disk);
	tcase_add_test(tc, compacting_snapshot_keeps_room_for_writers);
	tcase_add_test(tc, damaged_env_is_refused);
	tcase_add_test(tc, env_grown_by_another_program);
	tcase_add_test(tc, another_process_blocks_no_loop);
	tcase_add_test(tc, two_daemons_never_share_an_env);
	tcase_add_test(tc, data_dir_replaced_while_running);
	tcase_add_test(tc, data_dir_lock_file_removed);
	tcase_add_test(tc, writemap_env_shrunk_by_a_co_user);
	tcase_add_test(tc, map_budget_evicts_idle_envs);
	tcase_add_test(tc, address_space_runs_out);
	tcase_add_test(tc, env_cut_short_under_reads);
	tcase_add_test(tc, env_cut_short_under_a_write);
	tcase_add_test(tc, env_cut_short_under_a_watch);
	tcase_add_test(tc, env_cut_short_under_a_snapshot);
	tcase_add_test(tc, env_written_into_under_reads);
	tcase_add_test(tc, env_written_into_stays_refused);
	tcase_add_test(tc, lmdb_assertion_in_a_read);
	tcase_add_test(tc, lmdb_assertion_in_a_write);
	tcase_add_test(tc, lmdb_damage_in_a_compacting_snapshot);
	tcase_add_test(tc, lmdb_assertion_in_a_restore);
	tcase_add_test(tc, lmdb_assertion_in_a_restores_write);
	tcase_add_test(tc, overflow_count_in_a_restore);
	tcase_add_test(tc, overflow_page_number_in_a_restore);
	tcase_add_test(tc, fork_of_a_damaged_env);
	tcase_add_test(tc, env_written_into_under_a_write);
	tcase_add_test(tc, scan_of_a_damaged_tree_ends);
	tcase_add_test(tc, scan_of_an_overlong_key_is_corrupt);
	tcase_add_test(tc, lock_file_cut_short);
	tcase_add_test(tc, lock_files_of_many_envs_cut);
	tcase_add_test(tc, lock_cuts_keep_no_map_for_good);
	tcase_add_test(tc, lock_cut_under_a_waiting_writer);
	tcase_add_test(tc, opening_an_env_reads_no_maps);
	tcase_add_test(tc, sigbus_outside_a_guard_kills);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(envfaults_suite());
}
