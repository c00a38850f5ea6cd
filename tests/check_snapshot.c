/*
 * Snapshots into descriptors storesd does not control (issue 10, bugs 2
 * and 10): pipes nobody reads, a pipe already full, /dev/full, a reader
 * that went away, non-blocking pipes, sockets.  A snapshot may fail, but
 * it must never stop anyone else: durable writes, reloads, idle closes
 * and a stop all go on while snapshots wait on their readers, and a
 * reader that stops reading is cut off after snapshot_timeout.  Every
 * test has its own storesd; every wait is bounded by hs_timeout().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <signal.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "itest.h"

#define VAL_SIZE	(64 * 1024)
#define BIG_VALS	32		/* 2 MiB: far more than a pipe holds */

static void
down(struct hs_daemon *d)
{
	ck_assert_int_eq(hs_stop(d), 0);
	hs_cleanup(d);
}

/* Writes n values of 64 KiB under keys "vNNN" of (repo, store). */
static void
fill(sc_conn *c, const char *repo, const char *store, int n)
{
	static char	 v[VAL_SIZE];
	char		 k[16];
	int		 i;

	memset(v, 'v', sizeof(v));
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "v%03d", i);
		ck_assert_msg(sc_put(c, repo, store, NULL, k, strlen(k), v,
		    sizeof(v)) == 0, "%s", sc_errmsg(c));
	}
}

/* ------------------------------------------------ a snapshot, aside */

/* A snapshot running on a thread of its own, on a connection of its own. */
struct snap {
	pthread_t	 t;
	const char	*sock;
	const char	*repo;
	const char	*store;
	int		 fd;		/* the target; closed when done */
	int		 compact;
	int		 rc;
	int		 code;
	char		 msg[256];
	uint64_t	 size;
	atomic_bool	 done;
	/* Kept here, not only on the thread's stack: a child forked while
	 * it runs (snap_as()) has no such thread, and valgrind's leak
	 * check at the child's exit would call the connection lost. */
	sc_conn		*c;
};

static void *
snap_main(void *arg)
{
	struct snap	*s = arg;
	sc_conn		*c = s->c = sc_connect(s->sock);

	s->rc = sc_snapshot(c, s->repo, s->store, s->fd, s->compact,
	    &s->size);
	s->code = sc_errcode(c);
	snprintf(s->msg, sizeof(s->msg), "%s", sc_errmsg(c));
	sc_close(c);
	close(s->fd);
	atomic_store(&s->done, true);
	return NULL;
}

static void
snap_start(struct snap *s, const struct hs_daemon *d, const char *repo,
    const char *store, int fd, int compact)
{
	memset(s, 0, sizeof(*s));
	s->sock = d->sock;
	s->repo = repo;
	s->store = store;
	s->fd = fd;
	s->compact = compact;
	ck_assert_int_eq(pthread_create(&s->t, NULL, snap_main, s), 0);
}

/* Waits (bounded) for s to end and joins it; false when it did not. */
static bool
snap_join(struct snap *s)
{
	int	 i;

	for (i = 0; i < hs_tries(10) && !atomic_load(&s->done); i++)
		poll(NULL, 0, 10);
	if (!atomic_load(&s->done))
		return false;
	pthread_join(s->t, NULL);
	return true;
}

/* Bytes waiting in pipe fd. */
static int
pipe_bytes(int fd)
{
	int	 n = 0;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* Waits (bounded) until storesd has written at least want bytes into
 * the pipe whose reading end is fd. */
static void
wait_pipe_bytes(int fd, int want)
{
	int	 i;

	for (i = 0; i < hs_tries(10) && pipe_bytes(fd) < want; i++)
		poll(NULL, 0, 10);
	ck_assert_int_ge(pipe_bytes(fd), want);
}

/* ------------------------------------- a call that must end, aside */

/* One write, on a thread, so that a storesd that never answers fails
 * the test instead of hanging it. */
struct put {
	pthread_t	 t;
	const char	*sock;
	const char	*repo;
	const char	*store;
	const char	*key;
	int		 rc;
	char		 msg[256];
	atomic_bool	 done;
};

static void *
put_main(void *arg)
{
	struct put	*p = arg;
	sc_conn		*c = sc_connect(p->sock);

	p->rc = sc_put(c, p->repo, p->store, NULL, p->key, strlen(p->key),
	    "x", 1);
	snprintf(p->msg, sizeof(p->msg), "%s", sc_errmsg(c));
	sc_close(c);
	atomic_store(&p->done, true);
	return NULL;
}

/* A durable put that must be acknowledged within hs_timeout(). */
static void
put_in_time(const struct hs_daemon *d, const char *repo, const char *store,
    const char *key)
{
	struct put	 p = { .sock = d->sock, .repo = repo, .store = store,
			   .key = key };
	int		 i;

	ck_assert_int_eq(pthread_create(&p.t, NULL, put_main, &p), 0);
	for (i = 0; i < hs_tries(10) && !atomic_load(&p.done); i++)
		poll(NULL, 0, 10);
	ck_assert_msg(atomic_load(&p.done), "a put to %s/%s got no answer in "
	    "%d s while snapshots wait on their readers", repo ? repo : "-",
	    store, hs_timeout());
	pthread_join(p.t, NULL);
	ck_assert_msg(p.rc == 0, "put %s/%s: %s", repo ? repo : "-", store,
	    p.msg);
}

/* A counter of storesd's stats. */
static uint64_t
daemon_counter(const struct hs_daemon *d, const char *name)
{
	sc_conn		*c = it_conn(d);
	sc_stats	*st = NULL;
	uint64_t	 v;

	ck_assert_int_eq(sc_get_stats(c, NULL, NULL, &st), 0);
	v = sc_counter_get(st->daemon, st->ndaemon, name, UINT64_MAX);
	sc_stats_free(st);
	sc_close(c);
	return v;
}

/* Waits (bounded) until storesd's descriptors are back to fds0 (a
 * snapshot's pipe and the client's descriptor are gone), and no
 * snapshot runs. */
static void
wait_released(const struct hs_daemon *d, long fds0)
{
	int	 i;

	for (i = 0; i < hs_tries(20) && hs_fds(d->pid) > fds0; i++)
		poll(NULL, 0, 20);
	ck_assert_int_le(hs_fds(d->pid), fds0);
	ck_assert_uint_eq(daemon_counter(d, "snapshots"), 0);
}

/* --------------------------------------- unread snapshots stop no one */

#define ISOLATION_CONF							\
	"[daemon]\n"							\
	"snapshot_timeout = 1h\n"					\
	"idle_close = 200ms\n"						\
	"[store refs]\n"						\
	"map_size = 64MiB\n"						\
	"[store other]\n"						\
	"map_size = 64MiB\n"

/*
 * Four snapshots into pipes nobody reads (as many as storesd has writer
 * threads): durable writes to every store, their own env included, a
 * reload, an idle close and a stop all still happen.
 */
START_TEST(unread_snapshots_stop_no_one)
{
	struct hs_daemon d;
	struct snap	 s[4];
	char		 status[512];
	int		 p[4][2], i;
	sc_conn		*c;

	ck_assert_int_eq(hs_up(&d, ISOLATION_CONF), 0);
	c = it_conn(&d);
	fill(c, "big", "refs", BIG_VALS);
	ck_assert_int_eq(sc_put(c, "idle", "other", NULL, "k", 1, "v", 1), 0);
	sc_close(c);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pipe(p[i]), 0);
		snap_start(&s[i], &d, "big", "refs", p[i][1], i % 2);
	}
	/* Each pipe full: storesd waits on every one of them. */
	for (i = 0; i < 4; i++)
		wait_pipe_bytes(p[i][0], 32 * 1024);

	put_in_time(&d, "big", "refs", "same-env");
	put_in_time(&d, "small", "refs", "same-store");
	put_in_time(&d, NULL, "other", "other-store");
	ck_assert_msg(hs_reload(&d, NULL, status, sizeof(status)) == 0,
	    "SIGHUP: no READY=1 within %d s", hs_timeout());
	put_in_time(&d, "big", "refs", "after-reload");
	it_wait_closed(&d, "idle");
	for (i = 0; i < 4; i++)
		ck_assert_msg(!atomic_load(&s[i].done), "snapshot %d ended: "
		    "%s", i, s[i].msg);
	ck_assert_uint_eq(daemon_counter(&d, "snapshots"), 4);

	/* A stop cuts them off, with an answer, and is clean. */
	ck_assert_int_eq(hs_stop(&d), 0);
	for (i = 0; i < 4; i++) {
		ck_assert(snap_join(&s[i]));
		ck_assert_int_eq(s[i].rc, -1);
		ck_assert_msg(s[i].code == SC_ERR_BUSY, "got %s: %s",
		    sc_errname(s[i].code), s[i].msg);
		close(p[i][0]);
	}
	hs_cleanup(&d);
}
END_TEST

/* --------------------------- a full pipe holds no env's writer lock */

#define TIMEOUT_CONF							\
	"[daemon]\n"							\
	"snapshot_timeout = 300ms\n"					\
	"[store refs]\n"						\
	"map_size = 64MiB\n"

/*
 * Fills pipe p but for one page, then makes its writing end blocking
 * again: the snapshot's first write fills the pipe and waits there.
 * Returns the pipe's capacity.
 */
static int
prefill(int p[2])
{
	static char	 junk[4096];
	int		 fl = fcntl(p[1], F_GETFL), cap = 0;

	ck_assert_int_eq(fcntl(p[1], F_SETFL, fl | O_NONBLOCK), 0);
	while (write(p[1], junk, sizeof(junk)) == (ssize_t)sizeof(junk))
		cap += (int)sizeof(junk);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(read(p[0], junk, sizeof(junk)), sizeof(junk));
	ck_assert_int_eq(fcntl(p[1], F_SETFL, fl), 0);
	return cap;
}

/*
 * The copy's first bytes (LMDB's meta pages, which a plain copy writes
 * while it holds the env's writer lock) cannot go anywhere: writes to
 * the env still commit, and the snapshot is cut off after
 * snapshot_timeout with FD_ERROR, leaving nothing held.
 */
START_TEST(full_pipe_holds_no_writer_lock)
{
	struct hs_daemon d;
	struct snap	 s;
	int		 p[2], i, cap;
	long		 fds0;
	sc_conn		*c;

	ck_assert_int_eq(hs_up(&d, TIMEOUT_CONF), 0);
	c = it_conn(&d);
	fill(c, NULL, "refs", 4);
	sc_close(c);
	fds0 = hs_fds(d.pid);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(pipe(p), 0);
		cap = prefill(p);
		snap_start(&s, &d, NULL, "refs", p[1], 0);
		/* Its first page went in; the rest of the meta pages wait. */
		wait_pipe_bytes(p[0], cap);
		put_in_time(&d, NULL, "refs", "while-full");
		ck_assert_msg(snap_join(&s), "a snapshot into a full pipe was "
		    "not cut off");
		ck_assert_int_eq(s.rc, -1);
		ck_assert_msg(s.code == SC_ERR_FD_ERROR, "got %s: %s",
		    sc_errname(s.code), s.msg);
		ck_assert_msg(strstr(s.msg, "snapshot_timeout") != NULL, "%s",
		    s.msg);
		close(p[0]);
	}
	/* Its copy's descriptors and thread are gone. */
	wait_released(&d, fds0);
	down(&d);
}
END_TEST

/* ------------------------------ errors name the passed descriptor */

#define ERR_CONF							\
	"[daemon]\n"							\
	"snapshot_timeout = 5s\n"					\
	"[store refs]\n"						\
	"map_size = 64MiB\n"

/* Expects a snapshot into fd to fail with FD_ERROR and a message that
 * contains want. */
static void
expect_fd_error(sc_conn *c, int fd, const char *want)
{
	EXPECT_ERR(c, sc_snapshot(c, NULL, "refs", fd, 0, NULL),
	    SC_ERR_FD_ERROR);
	ck_assert_msg(strstr(sc_errmsg(c), want) != NULL, "'%s' lacks '%s'",
	    sc_errmsg(c), want);
	ck_assert_msg(strstr(sc_errmsg(c), "passed") != NULL, "'%s' does not "
	    "name the passed descriptor", sc_errmsg(c));
}

/*
 * /dev/full, a pipe or socket whose reader is gone: FD_ERROR naming the
 * client's descriptor (not the env's file system, not INTERNAL), and no
 * warning in storesd's log however often a client does it.
 */
START_TEST(descriptor_errors_are_the_clients)
{
	struct hs_daemon d;
	sc_conn		*c;
	int		 fd, p[2], i;

	ck_assert_int_eq(hs_up(&d, ERR_CONF), 0);
	c = it_conn(&d);
	fill(c, NULL, "refs", 4);
	for (i = 0; i < 20; i++) {
		fd = open("/dev/full", O_WRONLY);
		ck_assert_int_ne(fd, -1);
		expect_fd_error(c, fd, "No space left on device");
		ck_assert_ptr_null(strstr(sc_errmsg(c), "free"));
		close(fd);

		ck_assert_int_eq(pipe(p), 0);
		close(p[0]);
		expect_fd_error(c, p[1], "reader");
		close(p[1]);

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
		close(p[0]);
		expect_fd_error(c, p[1], "reader");
		close(p[1]);
	}
	ck_assert_int_eq(sc_ping(c), 0);
	sc_close(c);
	/* Nothing for the operator: it was the client's descriptor. */
	ck_assert_int_ne(it_run("grep -E '^<[0-4]>' %s | grep -qiE "
	    "'copy|snapshot|device|pipe'", d.log), 0);
	down(&d);
}
END_TEST

/*
 * A client's snapshots one after another, with one place its own
 * (snapshot_max = 2, a uid holds half): each finds the place the one
 * before it gave back.  Before, the reply went out before the place was
 * given back, and the next snapshot, sent at once, could be BUSY.
 */
START_TEST(back_to_back_snapshots_are_never_busy)
{
	struct hs_daemon d;
	sc_conn		*c;
	int		 fd, i;

	ck_assert_int_eq(hs_up(&d, "[daemon]\nsnapshot_max = 2\n"
	    "[store refs]\nmap_size = 64MiB\n"), 0);
	c = it_conn(&d);
	fill(c, NULL, "refs", 1);
	for (i = 0; i < 300; i++) {
		ck_assert_int_ne(fd = open("/dev/null", O_WRONLY), -1);
		ck_assert_msg(sc_snapshot(c, NULL, "refs", fd, 0, NULL) == 0,
		    "snapshot %d: %s %s", i, sc_errname(sc_errcode(c)),
		    sc_errmsg(c));
		close(fd);
	}
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------- a snapshot streamed through a pipe */

/* Drains fd into file until EOF, slowly when asked; counts the bytes. */
struct drain {
	pthread_t	 t;
	int		 fd;
	int		 out;
	int		 slow;		/* ms to wait between reads */
	uint64_t	 bytes;
};

static void *
drain_main(void *arg)
{
	struct drain	*dr = arg;
	static __thread char buf[16384];
	struct pollfd	 pfd = { .fd = dr->fd, .events = POLLIN };
	ssize_t		 n;

	for (;;) {
		if (dr->slow)
			poll(NULL, 0, dr->slow);
		n = read(dr->fd, buf, sizeof(buf));
		if (n == -1 && errno == EAGAIN) {
			poll(&pfd, 1, -1);
			continue;
		}
		if (n <= 0)
			break;
		if (write(dr->out, buf, (size_t)n) != n)
			break;
		dr->bytes += (uint64_t)n;
	}
	return NULL;
}

/*
 * Streams a snapshot of (NULL, refs) through a pipe (or a socket) into
 * file; the reply's size is what came through, and the file is an env.
 */
static void
stream(const struct hs_daemon *d, int kind, int compact, bool nonblock,
    int slow, const char *file)
{
	struct drain	 dr = { .slow = slow };
	sc_conn		*c = it_conn(d);
	uint64_t	 size = 0;
	struct stat	 sb;
	int		 p[2];

	if (kind == SOCK_STREAM)
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	else
		ck_assert_int_eq(pipe(p), 0);
	if (nonblock) {
		ck_assert_int_ne(fcntl(p[0], F_SETFL, O_NONBLOCK), -1);
		ck_assert_int_ne(fcntl(p[1], F_SETFL, O_NONBLOCK), -1);
	}
	dr.fd = p[0];
	dr.out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(dr.out, -1);
	ck_assert_int_eq(pthread_create(&dr.t, NULL, drain_main, &dr), 0);
	ck_assert_msg(sc_snapshot(c, NULL, "refs", p[1], compact, &size) == 0,
	    "%s", sc_errmsg(c));
	close(p[1]);
	pthread_join(dr.t, NULL);
	close(p[0]);
	close(dr.out);
	sc_close(c);
	ck_assert_int_eq(stat(file, &sb), 0);
	ck_assert_uint_gt(size, 0);
	ck_assert_uint_eq(size, dr.bytes);
	ck_assert_uint_eq(size, (uint64_t)sb.st_size);
	ck_assert_int_eq(it_run("mdb_stat -n %s >/dev/null", file), 0);
	ck_assert_int_eq(it_run("mdb_dump -n -p -s refs %s | "
	    "grep -q '^ v031$'", file), 0);
	ck_assert_int_eq(it_run("test $(mdb_dump -n -p -s refs %s | "
	    "grep -c '^ v[0-9]') -eq %d", file, BIG_VALS), 0);
}

/* A file open for appending, which splice() refuses: written plainly. */
static void
append_file(const struct hs_daemon *d, const char *file)
{
	sc_conn		*c = it_conn(d);
	uint64_t	 size = 0;
	struct stat	 sb;
	int		 fd;

	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(sc_snapshot(c, NULL, "refs", fd, 0, &size) == 0, "%s",
	    sc_errmsg(c));
	ck_assert_int_eq(fstat(fd, &sb), 0);
	close(fd);
	sc_close(c);
	ck_assert_uint_eq(size, (uint64_t)sb.st_size);
	ck_assert_int_eq(it_run("mdb_dump -n -p -s refs %s | "
	    "grep -q '^ v031$'", file), 0);
}

START_TEST(snapshot_through_a_pipe_is_an_env)
{
	struct hs_daemon d;
	char		 file[PATH_MAX];
	sc_conn		*c;

	ck_assert_int_eq(hs_up(&d, ERR_CONF), 0);
	c = it_conn(&d);
	fill(c, NULL, "refs", BIG_VALS);
	sc_close(c);
	snprintf(file, sizeof(file), "%s/copy.mdb", d.dir);
	stream(&d, 0, 0, false, 0, file);
	stream(&d, 0, 1, false, 0, file);
	/* A client's own non-blocking pipe: EAGAIN means wait, not fail. */
	stream(&d, 0, 0, true, 0, file);
	/* A slow reader that keeps reading is not cut off. */
	stream(&d, 0, 1, true, 5, file);
	stream(&d, SOCK_STREAM, 0, false, 0, file);
	stream(&d, SOCK_STREAM, 1, true, 0, file);
	append_file(&d, file);
	down(&d);
}
END_TEST

/* ----------------------------------------------------- snapshot_max */

#define MAX_CONF							\
	"[daemon]\n"							\
	"socket_mode = 0666\n"						\
	"snapshot_max = 2\n"						\
	"snapshot_timeout = 1h\n"					\
	"[store refs]\n"						\
	"map_size = 64MiB\n"

/* Other users, whatever they are called here: each uid has its own
 * share of snapshot_max. */
#define UID_A		65534
#define UID_B		65533

/* What a snapshot as another user says, as its exit status. */
#define AS_OK		0
#define AS_SETUID	100	/* could not become that user */
#define AS_BUSY_MAX	101	/* BUSY, naming snapshot_max */

/*
 * Forks a child that becomes uid and takes a snapshot of refs into fd
 * (the parent's fd stays open).  Its exit status: AS_OK, AS_BUSY_MAX,
 * AS_SETUID, or the error code.
 */
static pid_t
snap_as(const struct hs_daemon *d, uid_t uid, int fd)
{
	sc_conn		*c;
	uint64_t	 size;
	pid_t		 pid;

	if ((pid = fork()) != 0)
		return pid;
	/* Only fd: a reader's end of the parent's pipes, kept here, would
	 * keep its snapshot going when the parent closes it. */
	if (dup2(fd, 3) == -1 || close_range(4, ~0U, 0) == -1)
		_exit(AS_SETUID);
	fd = 3;
	if (setgroups(0, NULL) == -1 || setgid(UID_A) == -1 ||
	    setuid(uid) == -1)
		_exit(AS_SETUID);
	c = sc_connect(d->sock);
	if (sc_snapshot(c, NULL, "refs", fd, 0, &size) == 0)
		_exit(AS_OK);
	if (sc_errcode(c) == SC_ERR_BUSY &&
	    strstr(sc_errmsg(c), "snapshot_max") != NULL)
		_exit(AS_BUSY_MAX);
	if (sc_errcode(c) != SC_ERR_FD_ERROR)	/* expected: cut off */
		fprintf(stderr, "snapshot as uid %lu: %s: %s\n",
		    (unsigned long)uid, sc_errname(sc_errcode(c)),
		    sc_errmsg(c));
	_exit(sc_errcode(c));
}

/* Waits (bounded) for child pid and returns its exit status; -1 when
 * it did not end (it is killed then). */
static int
wait_child(pid_t pid)
{
	int	 i, status;
	pid_t	 w = 0;

	for (i = 0; i < hs_tries(10) &&
	    (w = waitpid(pid, &status, WNOHANG)) == 0; i++)
		poll(NULL, 0, 10);
	if (w != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* True when child pid is still running (it waits). */
static bool
child_runs(pid_t pid)
{
	int	 status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

static bool
root_or_skip(const char *test)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "%s: needs root to act as other users; skipped\n",
	    test);
	return false;
}

/* storesd on MAX_CONF (or conf) that other users may reach, with refs
 * filled. */
static void
shared_up(struct hs_daemon *d, const char *conf)
{
	sc_conn	*c;

	ck_assert_int_eq(hs_prepare(d, conf), 0);
	ck_assert_int_eq(chmod(d->dir, 0755), 0);	/* others may reach it */
	ck_assert_int_eq(hs_start(d, NULL), 0);
	c = it_conn(d);
	fill(c, NULL, "refs", BIG_VALS);
	sc_close(c);
}

/*
 * Over snapshot_max, a snapshot waits for one to end, holding no thread:
 * it runs as soon as a reader goes away.  One that waits longer than
 * snapshot_timeout is BUSY, naming the limit.  No uid may hold more
 * than half of snapshot_max (2 here: one each), so it takes three
 * users to fill it and make one wait.
 */
START_TEST(snapshot_max_makes_them_wait)
{
	struct hs_daemon d;
	struct snap	 s;
	char		 file[PATH_MAX], status[512];
	int		 p[2], pa[2], fd;
	pid_t		 a, b;

	if (!root_or_skip("snapshot_max_makes_them_wait"))
		return;
	shared_up(&d, MAX_CONF);
	/* Root and A hold the two places. */
	ck_assert_int_eq(pipe(p), 0);
	snap_start(&s, &d, NULL, "refs", p[1], 0);
	wait_pipe_bytes(p[0], 32 * 1024);
	ck_assert_int_eq(pipe(pa), 0);
	a = snap_as(&d, UID_A, pa[1]);
	close(pa[1]);
	wait_pipe_bytes(pa[0], 32 * 1024);
	snprintf(file, sizeof(file), "%s/third.mdb", d.dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	b = snap_as(&d, UID_B, fd);
	close(fd);
	/* B's waits: two run, and stats say so. */
	ck_assert_uint_eq(daemon_counter(&d, "snapshots"), 2);
	ck_assert(child_runs(b));
	/* A reader that goes away ends its snapshot; B's runs. */
	close(p[0]);
	ck_assert(snap_join(&s));
	ck_assert_int_eq(s.code, SC_ERR_FD_ERROR);
	ck_assert_int_eq(wait_child(b), AS_OK);
	ck_assert_int_eq(it_run("mdb_stat -n %s >/dev/null", file), 0);

	/* Two run again; with a short snapshot_timeout a waiter gives up. */
	ck_assert_int_eq(pipe(p), 0);
	snap_start(&s, &d, NULL, "refs", p[1], 0);
	wait_pipe_bytes(p[0], 32 * 1024);
	ck_assert_int_eq(hs_reload(&d, "[daemon]\nsocket_mode = 0666\n"
	    "snapshot_max = 2\nsnapshot_timeout = 200ms\n[store refs]\n"
	    "map_size = 64MiB\n", status, sizeof(status)), 0);
	fd = open(file, O_WRONLY | O_TRUNC, 0600);
	b = snap_as(&d, UID_B, fd);
	close(fd);
	ck_assert_int_eq(wait_child(b), AS_BUSY_MAX);
	close(p[0]);
	ck_assert(snap_join(&s));
	close(pa[0]);
	ck_assert_int_eq(wait_child(a), SC_ERR_FD_ERROR);
	down(&d);
}
END_TEST

#define SHARE_CONF							\
	"[daemon]\n"							\
	"socket_mode = 0666\n"						\
	"snapshot_max = 4\n"						\
	"snapshot_timeout = 1h\n"					\
	"[store refs]\n"						\
	"map_size = 64MiB\n"

/*
 * One user's snapshots into pipes nobody reads used to take every
 * place of snapshot_max, so that everyone else's waited (up to
 * snapshot_timeout, then BUSY).  No uid holds more than half: root's
 * third of snapshot_max = 4 is BUSY at once, with a retry hint and
 * naming the limit, while another user's is admitted and done.
 */
START_TEST(one_uid_cannot_take_every_snapshot_place)
{
	struct hs_daemon d;
	struct snap	 s[2];
	char		 file[PATH_MAX];
	int		 p[2][2], i, fd;
	uint64_t	 size;
	sc_conn		*c;

	if (!root_or_skip("one_uid_cannot_take_every_snapshot_place"))
		return;
	shared_up(&d, SHARE_CONF);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe(p[i]), 0);
		snap_start(&s[i], &d, NULL, "refs", p[i][1], 0);
		wait_pipe_bytes(p[i][0], 32 * 1024);
	}
	snprintf(file, sizeof(file), "%s/mine.mdb", d.dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	c = it_conn(&d);
	ck_assert_int_eq(sc_snapshot(c, NULL, "refs", fd, 0, &size), -1);
	ck_assert_msg(sc_errcode(c) == SC_ERR_BUSY, "%s: %s",
	    sc_errname(sc_errcode(c)), sc_errmsg(c));
	ck_assert_msg(strstr(sc_errmsg(c), "its share (2) of snapshot_max "
	    "(4)") != NULL, "%s", sc_errmsg(c));
	ck_assert_int_eq(sc_errretry_ms(c), SP_RETRY_LONG_MS);
	sc_close(c);
	close(fd);
	/* Another user's is admitted meanwhile. */
	snprintf(file, sizeof(file), "%s/theirs.mdb", d.dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(wait_child(snap_as(&d, UID_A, fd)), AS_OK);
	close(fd);
	ck_assert_int_eq(it_run("mdb_stat -n %s >/dev/null", file), 0);
	/* Root's places come back as its snapshots end. */
	for (i = 0; i < 2; i++) {
		close(p[i][0]);
		ck_assert(snap_join(&s[i]));
	}
	ck_assert_int_eq(daemon_counter(&d, "snapshots"), 0);
	snprintf(file, sizeof(file), "%s/again.mdb", d.dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	c = it_conn(&d);
	ck_assert_msg(sc_snapshot(c, NULL, "refs", fd, 0, &size) == 0, "%s",
	    sc_errmsg(c));
	sc_close(c);
	close(fd);
	down(&d);
}
END_TEST

/* ------------------------------------------------- snapshot_max_time */

#define TRICKLE_CONF							\
	"[daemon]\n"							\
	"snapshot_timeout = 1h\n"					\
	"snapshot_max_time = 500ms\n"					\
	"[store refs]\n"						\
	"map_size = 64MiB\n"

/* A reader taking 4 KiB per 20 ms, far more than snapshot_timeout
 * asks, until the end of its pipe. */
struct trickle {
	pthread_t	 t;
	int		 fd;
	size_t		 got;
};

static void *
trickle_main(void *arg)
{
	struct trickle	*r = arg;
	char		 buf[4096];
	ssize_t		 n;

	while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
		r->got += (size_t)n;
		poll(NULL, 0, 20);
	}
	return NULL;
}

/*
 * A reader that keeps taking just enough for snapshot_timeout would
 * keep the copy's read transaction and the snapshot's threads for ever
 * (2 MiB at 200 KiB/s: 10 s here; an env of many GiB: days).  After
 * snapshot_max_time it is cut off with FD_ERROR naming that limit, and
 * nothing stays held.
 */
START_TEST(trickling_reader_is_cut_off)
{
	struct hs_daemon d;
	struct snap	 s;
	struct trickle	 r;
	int		 p[2];
	long		 fds0;
	sc_conn		*c;

	ck_assert_int_eq(hs_up(&d, TRICKLE_CONF), 0);
	c = it_conn(&d);
	fill(c, NULL, "refs", BIG_VALS);
	sc_close(c);
	fds0 = hs_fds(d.pid);
	ck_assert_int_eq(pipe(p), 0);
	r.fd = p[0];
	r.got = 0;
	ck_assert_int_eq(pthread_create(&r.t, NULL, trickle_main, &r), 0);
	snap_start(&s, &d, NULL, "refs", p[1], 0);
	ck_assert_msg(snap_join(&s), "a trickling reader was not cut off");
	pthread_join(r.t, NULL);
	close(p[0]);
	ck_assert_int_eq(s.rc, -1);
	ck_assert_msg(s.code == SC_ERR_FD_ERROR, "got %s: %s",
	    sc_errname(s.code), s.msg);
	ck_assert_msg(strstr(s.msg, "snapshot_max_time") != NULL, "%s", s.msg);
	ck_assert_uint_lt(r.got, (size_t)BIG_VALS * VAL_SIZE);
	wait_released(&d, fds0);
	down(&d);
}
END_TEST

/* ------------------------- a stalled request waits for its own env */

#define OTHER_ENVS	20

/* Sends a request of op (a put of key "stalled" to big/refs, a ping). */
static void
raw_send(int fd, uint64_t id, enum sp_op op)
{
	struct sp_req	 rq;

	memset(&rq, 0, sizeof(rq));
	rq.id = id;
	rq.op = op;
	if (op == SP_OP_PUT) {
		rq.store = (struct sp_bytes){ "refs", 4 };
		rq.repo = (struct sp_bytes){ "big", 3 };
		rq.key = (struct sp_bytes){ "stalled", 7 };
		rq.val = (struct sp_bytes){ "v", 1 };
	}
	it_raw_req(fd, &rq);
}

/*
 * A request stalled on an env that stays busy (a reload resizes it, and
 * a snapshot nobody reads holds it) is retried when that env settles,
 * not when any other does: dropping 20 envs of another store (each
 * drop settles its env twice: closed, then its claim ended) wakes no
 * stalled frame.  Before, every settle retried every stalled frame of
 * every loop (stall_wakes went up by 40 here), so N new envs at once
 * cost N squared retries, each failing again.  Frames sent meanwhile
 * wait behind the stalled one (its read event, kept while it waits,
 * fires for them) and are answered once it goes on.
 */
START_TEST(stalled_request_waits_for_its_own_env)
{
	struct hs_daemon d;
	struct snap	 s;
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct pollfd	 pfd;
	char		 status[512], repo[16];
	uint64_t	 wakes, n;
	bool		 seen[4] = { false };
	int		 p[2], i, x;
	sc_conn		*c;

	ck_assert_int_eq(hs_up(&d, ISOLATION_CONF), 0);
	c = it_conn(&d);
	fill(c, "big", "refs", BIG_VALS);
	for (i = 0; i < OTHER_ENVS; i++) {
		snprintf(repo, sizeof(repo), "o%02d", i);
		ck_assert_int_eq(sc_put(c, repo, "other", NULL, "k", 1, "v",
		    1), 0);
	}
	ck_assert_int_eq(pipe(p), 0);
	snap_start(&s, &d, "big", "refs", p[1], 0);
	wait_pipe_bytes(p[0], 32 * 1024);
	/* big's resize waits for the snapshot to let go of it. */
	ck_assert_msg(hs_reload(&d, "[daemon]\nsnapshot_timeout = 1h\n"
	    "[store refs]\nmap_size = 128MiB\n[store other]\n"
	    "map_size = 64MiB\n", status, sizeof(status)) == 0,
	    "SIGHUP: no READY=1 within %d s", hs_timeout());
	x = it_raw_connect(&d);
	raw_send(x, 1, SP_OP_PUT);
	for (i = 0; i < hs_tries(10) && daemon_counter(&d, "stalls") == 0;
	    i++)
		poll(NULL, 0, 10);
	ck_assert_uint_ge(daemon_counter(&d, "stalls"), 1);
	wakes = daemon_counter(&d, "stall_wakes");
	raw_send(x, 2, SP_OP_PING);
	raw_send(x, 3, SP_OP_PING);

	for (i = 0; i < OTHER_ENVS; i++) {
		snprintf(repo, sizeof(repo), "o%02d", i);
		ck_assert_msg(sc_drop(c, repo, "other", &n) == 0, "%s",
		    sc_errmsg(c));
		ck_assert_uint_eq(n, 1);
	}
	ck_assert_uint_eq(daemon_counter(&d, "stall_wakes"), wakes);
	pfd = (struct pollfd){ .fd = x, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);	/* the pings wait too */

	/* The snapshot's reader goes: big is resized, and all answered. */
	close(p[0]);
	ck_assert(snap_join(&s));
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(it_raw_reply(x, &b, &rep), 0);
		ck_assert_msg(rep.code == SP_OK, "%llu: %.*s",
		    (unsigned long long)rep.id, (int)rep.msg.n, rep.msg.p);
		ck_assert(rep.id >= 1 && rep.id <= 3 && !seen[rep.id]);
		seen[rep.id] = true;
	}
	it_assert_val(c, "big", "refs", NULL, "stalled", 7, "v", 1);
	close(x);
	sp_buf_free(&b);
	sc_close(c);
	down(&d);
}
END_TEST

static Suite *
snapshot_suite(void)
{
	Suite	*s = suite_create("snapshot");
	TCase	*tc;

	tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, unread_snapshots_stop_no_one);
	tcase_add_test(tc, full_pipe_holds_no_writer_lock);
	tcase_add_test(tc, descriptor_errors_are_the_clients);
	tcase_add_test(tc, back_to_back_snapshots_are_never_busy);
	tcase_add_test(tc, snapshot_through_a_pipe_is_an_env);
	tcase_add_test(tc, snapshot_max_makes_them_wait);
	tcase_add_test(tc, one_uid_cannot_take_every_snapshot_place);
	tcase_add_test(tc, trickling_reader_is_cut_off);
	tcase_add_test(tc, stalled_request_waits_for_its_own_env);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(snapshot_suite());
}
