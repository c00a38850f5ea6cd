/*
 * Service tests: storesd as a service manager runs it.  Reloads on
 * SIGHUP (new, removed and resized stores, a bad file refused whole), a
 * graceful stop on SIGTERM under load, the notify protocol (READY,
 * RELOADING, STOPPING, WATCHDOG), socket activation (LISTEN_FDS, and
 * systemd-socket-activate where installed), and the stats operators
 * read.  Each test has its own storesd; every wait is for an event.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

static void
reload_ok(struct hs_daemon *d, const char *conf)
{
	char	 status[512];

	ck_assert_int_eq(hs_reload(d, conf, status, sizeof(status)), 0);
	ck_assert_msg(strstr(status, "refused") == NULL, "%s", status);
}

static uint64_t
env_counter(sc_conn *c, const char *repo, const char *store,
    const char *name)
{
	sc_stats	*s;
	uint64_t	 v;

	ck_assert_msg(sc_get_stats(c, repo, store, &s) == 0, "%s",
	    sc_errmsg(c));
	ck_assert_uint_eq(s->nenvs, 1);
	v = sc_counter_get(s->envs[0].counters, s->envs[0].ncounters, name,
	    UINT64_MAX);
	sc_stats_free(s);
	ck_assert_msg(v != UINT64_MAX, "no counter %s", name);
	return v;
}

/* ------------------------------------------------------------- reload */

START_TEST(reload_adds_and_removes_stores)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	pid_t			 pid;

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 1MiB\n"
	    "[store nodes]\nmap_size = 1MiB\n"), 0);
	pid = d.pid;
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "nodes", NULL, "n", 1, "1", 1), 0);
	EXPECT_ERR(c, sc_put(c, NULL, "names", NULL, "k", 1, "v", 1),
	    SC_ERR_UNKNOWN_STORE);
	reload_ok(&d, "[store refs]\nmap_size = 1MiB\n"
	    "[store names]\nmap_size = 1MiB\n");
	/* Same process, same connection: the new store is there... */
	ck_assert_int_eq(d.pid, pid);
	ck_assert_msg(sc_put(c, NULL, "names", NULL, "k", 1, "v", 1) == 0,
	    "%s", sc_errmsg(c));
	it_assert_val(c, NULL, "names", NULL, "k", 1, "v", 1);
	/* ...the removed one refuses new requests... */
	EXPECT_ERR(c, sc_put(c, NULL, "nodes", NULL, "n", 1, "2", 1),
	    SC_ERR_UNKNOWN_STORE);
	ck_assert_ptr_nonnull(strstr(sc_errmsg(c), "names"));
	/* ...and the one kept is untouched. */
	ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "r", 1, "1", 1), 0);
	ck_assert_int_eq(it_run("grep -q 'added: names; removed: nodes' %s",
	    d.log), 0);
	sc_close(c);
	down(&d);
}
END_TEST

START_TEST(reload_raises_map_size_online)
{
	static char		 v[64 * 1024];
	struct hs_daemon	 d;
	struct it_reader	 r;
	sc_conn			*c;
	char			 k[16], dir[PATH_MAX];
	long			 before;
	int			 i;

	ck_assert_int_eq(hs_up(&d, "[store tiny]\nmap_size = 1MiB\n"), 0);
	c = it_conn(&d);
	for (i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "f%d", i);
		if (sc_put(c, "full", "tiny", NULL, k, strlen(k), v,
		    sizeof(v)) == -1)
			break;
	}
	ck_assert_int_eq(sc_errcode(c), SC_ERR_MAP_FULL);
	/* A client reads the env all through the reload. */
	it_reader_start(&r, d.sock, "full", "tiny", "f0");
	while (atomic_load(&r.reads) == 0 && atomic_load(&r.errors) == 0)
		poll(NULL, 0, 1);
	reload_ok(&d, "[store tiny]\nmap_size = 4MiB\n");
	ck_assert_msg(sc_put(c, "full", "tiny", NULL, k, strlen(k), v,
	    sizeof(v)) == 0, "%s", sc_errmsg(c));
	ck_assert_uint_eq(env_counter(c, "full", "tiny", "map_size"),
	    4 * 1024 * 1024);
	before = atomic_load(&r.reads);
	while (atomic_load(&r.reads) < before + 10 &&
	    atomic_load(&r.errors) == 0)
		poll(NULL, 0, 1);
	ck_assert_msg(it_reader_stop(&r) == 0, "%ld reads failed: %s",
	    atomic_load(&r.errors), r.last_err);
	/* Resized in place: never closed; LMDB's own tool agrees. */
	ck_assert_int_eq(it_run("grep -q 'map_size is now 4MiB' %s", d.log),
	    0);
	ck_assert_int_ne(it_run("grep -q 'closed %s/full/@tiny' %s", d.data,
	    d.log), 0);
	snprintf(dir, sizeof(dir), "%s/full/@tiny", d.data);
	ck_assert_int_eq(it_run("mdb_stat -e %s | grep -q 'Map size: "
	    "4194304'", dir), 0);
	sc_close(c);
	down(&d);
}
END_TEST

START_TEST(reload_of_a_bad_file_changes_nothing)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	char			 status[512];

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 1MiB\n"), 0);
	c = it_conn(&d);
	ck_assert_int_eq(hs_reload(&d, "[store refs]\nmap_size = 1MiB\n"
	    "[store more]\nmap_size = 1MiB\nfrobnicate = yes\n", status,
	    sizeof(status)), 0);
	ck_assert_msg(strstr(status, "STATUS=reload refused") != NULL, "%s",
	    status);
	ck_assert_ptr_nonnull(strstr(status, "storesd.conf:5:"));
	ck_assert_int_eq(it_run("grep -q 'storesd.conf:5: .*frobnicate.*"
	    "keeps the configuration' %s", d.log), 0);
	/* Nothing of the bad file was taken, not even its good part. */
	EXPECT_ERR(c, sc_put(c, NULL, "more", NULL, "k", 1, "v", 1),
	    SC_ERR_UNKNOWN_STORE);
	ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "k", 1, "v", 1), 0);
	/* A good file afterwards is taken. */
	reload_ok(&d, "[store refs]\nmap_size = 1MiB\n"
	    "[store more]\nmap_size = 1MiB\n");
	ck_assert_int_eq(sc_put(c, NULL, "more", NULL, "k", 1, "v", 1), 0);
	sc_close(c);
	down(&d);
}
END_TEST

START_TEST(reload_reopens_a_store_whose_dbs_changed)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_stats		*s;

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 1MiB\n"
	    "dbs = heads\nmax_dbs = 2\n"), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "main", 4, "1", 1), 0);
	EXPECT_ERR(c, sc_put(c, NULL, "refs", "tags", "v1", 2, "1", 1),
	    SC_ERR_UNKNOWN_DB);
	reload_ok(&d, "[store refs]\nmap_size = 1MiB\ndbs = heads, tags\n"
	    "max_dbs = 2\n");
	ck_assert_msg(sc_put(c, NULL, "refs", "tags", "v1", 2, "1", 1) == 0,
	    "%s", sc_errmsg(c));
	it_assert_val(c, NULL, "refs", "heads", "main", 4, "1", 1);
	it_assert_val(c, NULL, "refs", "tags", "v1", 2, "1", 1);
	ck_assert_int_eq(sc_get_stats(c, NULL, "refs", &s), 0);
	ck_assert_uint_eq(s->envs[0].ndbs, 2);
	ck_assert_str_eq(s->envs[0].dbs[1].name, "tags");
	sc_stats_free(s);
	ck_assert_int_eq(it_run("grep -q 'settings changed; closing it' %s",
	    d.log), 0);
	sc_close(c);
	down(&d);
}
END_TEST

START_TEST(reload_leaves_restart_keys_alone)
{
	struct hs_daemon	 d;
	sc_conn			*c;

	ck_assert_int_eq(hs_up(&d, "[daemon]\nio_threads = 1\n"
	    "max_frame = 1MiB\n[store refs]\nmap_size = 1MiB\n"), 0);
	c = it_conn(&d);
	reload_ok(&d, "[daemon]\nio_threads = 2\nmax_frame = 64KiB\n"
	    "[store refs]\nmap_size = 1MiB\n");
	ck_assert_int_eq(it_run("grep -q 'io_threads changed: that takes a "
	    "restart' %s", d.log), 0);
	sc_close(c);
	/* max_frame applies at once: a new connection is told the new one. */
	c = it_conn(&d);
	{
		static char big[100 * 1024];

		EXPECT_ERR(c, sc_put(c, NULL, "refs", NULL, "k", 1, big,
		    sizeof(big)), SC_ERR_TOO_LARGE);
	}
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------------------------------ stop and notify */

#define STOP_WRITERS	8

struct writer {
	pthread_t	 t;
	const char	*sock;
	int		 id;
	int		 acked;
};

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	sc_conn		*c = sc_connect(w->sock);
	char		 k[32];

	for (;;) {
		snprintf(k, sizeof(k), "w%d-%d", w->id, w->acked);
		if (sc_put(c, NULL, "refs", NULL, k, strlen(k), k,
		    strlen(k)) == -1)
			break;
		w->acked++;
	}
	sc_close(c);
	return NULL;
}

START_TEST(sigterm_finishes_what_it_acknowledged)
{
	struct hs_daemon	 d;
	struct writer		 w[STOP_WRITERS];
	sc_conn			*c;
	char			 k[32];
	int			 i, n, total;

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 16MiB\n"
	    "sync = full\n"), 0);
	for (i = 0; i < STOP_WRITERS; i++) {
		w[i] = (struct writer){ .sock = d.sock, .id = i };
		pthread_create(&w[i].t, NULL, writer_main, &w[i]);
	}
	do {
		poll(NULL, 0, 5);
		for (i = total = 0; i < STOP_WRITERS; i++)
			total += w[i].acked;
	} while (total < 200);
	/* Under load: STOPPING=1 at once, exit 0 after the writes drain. */
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert_int_eq(hs_notify_wait(&d, "STOPPING=1", NULL, 0,
	    hs_timeout()), 0);
	/* More SIGTERMs, all through the stop, change nothing. */
	ck_assert_int_eq(hs_stop_insisting(&d), 0);
	for (i = 0; i < STOP_WRITERS; i++)
		pthread_join(w[i].t, NULL);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	for (i = 0; i < STOP_WRITERS; i++)
		for (n = 0; n < w[i].acked; n++) {
			snprintf(k, sizeof(k), "w%d-%d", i, n);
			it_assert_val(c, NULL, "refs", NULL, k, strlen(k), k,
			    strlen(k));
		}
	sc_close(c);
	down(&d);
}
END_TEST

START_TEST(watchdog_pings)
{
	struct hs_daemon	 d;
	int			 i;

	ck_assert_int_eq(hs_prepare(&d, "[store refs]\nmap_size = 1MiB\n"),
	    0);
	setenv("WATCHDOG_USEC", "200000", 1);	/* storesd inherits it */
	/* One left by whatever runs the tests would name another process. */
	unsetenv("WATCHDOG_PID");
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	unsetenv("WATCHDOG_USEC");
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(hs_notify_wait(&d, "WATCHDOG=1", NULL, 0,
		    hs_timeout()), 0);
	down(&d);
}
END_TEST

START_TEST(reload_notifies_reloading_then_ready)
{
	struct hs_daemon	 d;
	char			 msg[512];

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 1MiB\n"), 0);
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert_int_eq(hs_notify_wait(&d, "RELOADING=1", msg, sizeof(msg),
	    hs_timeout()), 0);
	/* What Type=notify-reload wants with it. */
	ck_assert_ptr_nonnull(strstr(msg, "\nMONOTONIC_USEC="));
	ck_assert_int_eq(hs_notify_wait(&d, "READY=1", msg, sizeof(msg),
	    hs_timeout()), 0);
	ck_assert_ptr_nonnull(strstr(msg, "STATUS=accepting requests"));
	down(&d);
}
END_TEST

/* Polls storesd's log for a line matching the grep pattern pat. */
static bool
log_says(const struct hs_daemon *d, const char *pat)
{
	int	 i;

	for (i = 0; i < hs_tries(50); i++) {
		if (it_run("grep -q '%s' %s", pat, d->log) == 0)
			return true;
		poll(NULL, 0, 50);
	}
	return false;
}

/* Reloads until store more answers (or the bound runs out). */
static bool
reloads_to_a_new_store(struct hs_daemon *d)
{
	FILE	*f;
	sc_conn	*c;
	int	 i, rc = -1;

	ck_assert_ptr_nonnull(f = fopen(d->conf, "w"));
	fputs("[store refs]\nmap_size = 1MiB\n[store more]\n"
	    "map_size = 1MiB\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	c = it_conn(d);
	for (i = 0; i < hs_tries(50) && rc != 0; i++)
		if ((rc = sc_put(c, NULL, "more", NULL, "k", 1, "v", 1)) != 0)
			poll(NULL, 0, 50);
	sc_close(c);
	return rc == 0;
}

/*
 * A reader of $NOTIFY_SOCKET that stops reading (a hung or stopped
 * service manager) fills its queue; storesd drops what does not fit,
 * says so in its log (not once per drop), and goes on accepting,
 * reloading and stopping.  A reader that is gone is as harmless.
 */
START_TEST(a_notify_reader_that_stops_reading)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	int			 i;

	ck_assert_int_eq(hs_prepare(&d, "[store refs]\nmap_size = 1MiB\n"),
	    0);
	setenv("WATCHDOG_USEC", "2000", 1);	/* a ping every millisecond */
	unsetenv("WATCHDOG_PID");
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	unsetenv("WATCHDOG_USEC");
	/* Nothing reads d.nfd from here on: its queue is full in ms. */
	ck_assert_msg(log_says(&d, "NOTIFY_SOCKET .* are being dropped: "
	    "its reader is not reading"), "no line about dropped "
	    "notifications (storesd blocked in sendto?)");
	/* Hundreds of reloads, each with RELOADING=1 and READY=1 to send. */
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert(reloads_to_a_new_store(&d));
	c = it_conn(&d);
	it_assert_val(c, NULL, "more", NULL, "k", 1, "v", 1);
	sc_close(c);
	/* One line per minute at most, not one per drop. */
	ck_assert_int_eq(it_run("test $(grep -c 'are being dropped' %s) -le 2",
	    d.log), 0);
	/* The reader gone: the socket file left behind, then not even it. */
	close(d.nfd);
	d.nfd = -1;
	ck_assert(log_says(&d, "are being dropped: Connection refused"));
	unlink(d.notify);
	ck_assert(log_says(&d, "are being dropped: No such file"));
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	c = it_conn(&d);
	it_assert_val(c, NULL, "more", NULL, "k", 1, "v", 1);
	sc_close(c);
	/* STOPPING=1 is dropped too; the stop is not held up. */
	down(&d);
}
END_TEST

/* --------------------------------------------------- socket activation */

/* A listening socket bound at path, as a .socket unit would make it. */
static int
listening(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_ne(fd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

START_TEST(listen_fds_clients_wait_for_the_start)
{
	struct hs_daemon	 d;
	struct sp_req		 rq;
	struct sp_reply		 rep;
	struct sp_buf		 b = { 0 };
	char			 bin[PATH_MAX], pid[16];
	int			 lfd, early;
	pid_t			 p;

	ck_assert_int_eq(hs_prepare(&d, "[store refs]\nmap_size = 1MiB\n"),
	    0);
	lfd = listening(d.sock);
	/* A client connects and asks before storesd even exists. */
	early = it_raw_connect(&d);
	memset(&rq, 0, sizeof(rq));
	rq.op = SP_OP_PING;
	rq.id = 7;
	it_raw_req(early, &rq);
	snprintf(bin, sizeof(bin), "%s/storesd", hs_build());
	ck_assert_int_ne(d.nfd = hs_notify_socket(d.notify), -1);
	if ((p = fork()) == 0) {
		/* What systemd does for a .socket unit's service. */
		dup2(lfd, 3);
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("NOTIFY_SOCKET", d.notify, 1);
		freopen(d.log, "a", stderr);
		execl(bin, bin, "-v", "-d", d.data, "-c", d.conf, "-s",
		    "/nonexistent/not-this-one", (char *)NULL);
		_exit(127);
	}
	close(lfd);
	d.pid = p;
	ck_assert_int_eq(hs_notify_wait(&d, "READY=1", NULL, 0,
	    hs_timeout()), 0);
	ck_assert_int_eq(it_raw_reply(early, &b, &rep), 0);
	ck_assert_uint_eq(rep.id, 7);
	ck_assert_int_eq(rep.code, SP_OK);
	close(early);
	ck_assert_int_eq(it_run("grep -q 'passed by the service manager' %s "
	    "&& grep -q '(socket-activated)' %s", d.log, d.log), 0);
	/* The socket is the service manager's: storesd leaves it behind. */
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(access(d.sock, F_OK), 0);
	sp_buf_free(&b);
	hs_cleanup(&d);
}
END_TEST

/* Two sockets passed: storesd serves one, so it refuses and says why. */
START_TEST(listen_fds_of_two_refused)
{
	struct hs_daemon	 d;
	char			 bin[PATH_MAX], pid[16];
	int			 lfd, status;
	pid_t			 p;

	ck_assert_int_eq(hs_prepare(&d, "[store refs]\nmap_size = 1MiB\n"),
	    0);
	lfd = listening(d.sock);
	snprintf(bin, sizeof(bin), "%s/storesd", hs_build());
	if ((p = fork()) == 0) {
		dup2(lfd, 3);
		dup2(lfd, 4);
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "2", 1);
		freopen(d.log, "a", stderr);
		execl(bin, bin, "-d", d.data, "-c", d.conf, (char *)NULL);
		_exit(127);
	}
	close(lfd);
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	ck_assert_int_eq(it_run("grep -q 'LISTEN_FDS is 2: storesd listens on "
	    "exactly one socket' %s", d.log), 0);
	hs_cleanup(&d);
}
END_TEST

START_TEST(under_systemd_socket_activate)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	char			 bin[PATH_MAX], env[160];
	char			*argv[16];
	int			 i;
	pid_t			 p;

	if (it_run("command -v systemd-socket-activate >/dev/null") != 0) {
		fprintf(stderr, "under_systemd_socket_activate: "
		    "systemd-socket-activate is not installed; skipped\n");
		return;
	}
	ck_assert_int_eq(hs_prepare(&d, "[store refs]\nmap_size = 1MiB\n"),
	    0);
	ck_assert_int_ne(d.nfd = hs_notify_socket(d.notify), -1);
	snprintf(bin, sizeof(bin), "%s/storesd", hs_build());
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", d.notify);
	i = 0;
	argv[i++] = "systemd-socket-activate";
	argv[i++] = "-l";
	argv[i++] = d.sock;
	argv[i++] = "-E";
	argv[i++] = env;
	argv[i++] = bin;
	argv[i++] = "-d";
	argv[i++] = d.data;
	argv[i++] = "-c";
	argv[i++] = d.conf;
	argv[i] = NULL;
	if ((p = fork()) == 0) {
		freopen(d.log, "a", stderr);
		execvp(argv[0], argv);
		_exit(127);
	}
	d.pid = p;
	/*
	 * It listens first and starts storesd on the first connection.  The
	 * socket file appears at bind(), before listen(): wait until a
	 * connection is taken, not until the file exists (that raced into
	 * ECONNREFUSED on a loaded machine).  The probe's connection is the
	 * first one: storesd accepts it and sees it close.
	 */
	for (i = 0; i < hs_tries(10) && !it_listening(&d); i++)
		poll(NULL, 0, 10);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "k", 1, "v", 1), 0);
	it_assert_val(c, NULL, "refs", NULL, "k", 1, "v", 1);
	sc_close(c);
	ck_assert_int_eq(hs_notify_wait(&d, "READY=1", NULL, 0,
	    hs_timeout()), 0);
	/* systemd-socket-activate execs storesd: d.pid is storesd now. */
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/*
 * SIGINT stops storesd as SIGTERM does.  A client that never reads its
 * replies cannot hold the stop up past stop_timeout, and its write is
 * committed all the same.  New clients are turned away meanwhile.
 */
START_TEST(sigint_with_a_client_that_never_reads)
{
	static char		 big[256 * 1024];
	struct hs_daemon	 d;
	struct sp_req		 rq;
	struct sp_buf		 b = { 0 };
	sc_conn			*c;
	void			*v = NULL;
	size_t			 n;
	int			 fd, i;

	ck_assert_int_eq(hs_up(&d, "[daemon]\nstop_timeout = 300ms\n"
	    "[store refs]\nmap_size = 16MiB\n"), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "big", 3, big,
	    sizeof(big)), 0);
	sc_close(c);
	/* A put, then gets whose replies (5 MiB) outgrow the socket. */
	fd = it_raw_connect(&d);
	memset(&rq, 0, sizeof(rq));
	rq.op = SP_OP_PUT;
	rq.id = 1;
	rq.store.p = "refs";
	rq.store.n = 4;
	rq.key.p = "late";
	rq.key.n = 4;
	rq.val.p = "v";
	rq.val.n = 1;
	ck_assert_int_eq(sp_req_encode(&b, &rq), 0);
	rq.op = SP_OP_GET;
	rq.key.p = "big";
	rq.key.n = 3;
	rq.val.p = NULL;
	rq.val.n = 0;
	for (i = 0; i < 20; i++) {
		rq.id = i + 2;
		ck_assert_int_eq(sp_req_encode(&b, &rq), 0);
	}
	it_raw_send(fd, b.data, b.len);
	sp_buf_free(&b);
	/* Its put is committed and its gets handled: the replies wait. */
	c = it_conn(&d);
	for (i = 0; i < hs_tries(10) && env_counter(c, NULL, "refs", "ops_get")
	    < 20; i++)
		poll(NULL, 0, 10);
	for (i = 0; i < hs_tries(10); i++) {
		if (sc_get(c, NULL, "refs", NULL, "late", 4, &v, &n) == 0)
			break;
		poll(NULL, 0, 10);
	}
	sc_free(v);
	sc_close(c);
	ck_assert_int_eq(kill(d.pid, SIGINT), 0);
	ck_assert_int_eq(hs_notify_wait(&d, "STOPPING=1", NULL, 0,
	    hs_timeout()), 0);
	c = sc_connect(d.sock);
	ck_assert_int_eq(sc_errcode(c), SC_ERR_CONNECT);
	sc_close(c);
	/* More signals change nothing; the stop ends by itself. */
	ck_assert_int_eq(hs_stop_insisting(&d), 0);
	close(fd);
	ck_assert_int_eq(it_run("grep -q 'replies still pending after "
	    "stop_timeout (300 ms); closing connections' %s", d.log), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	it_assert_val(c, NULL, "refs", NULL, "late", 4, "v", 1);
	sc_close(c);
	down(&d);
}
END_TEST

/* -------------------------------------------------------------- stats */

START_TEST(stats_for_operators)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_stats		*s;
	void			*v;
	size_t			 n;
	int			 i;

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 1MiB\n"), 0);
	c = it_conn(&d);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "k", 1, "v", 1),
		    0);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(sc_get(c, NULL, "refs", NULL, "k", 1, &v,
		    &n), 0);
		sc_free(v);
	}
	EXPECT_ERR(c, sc_get(c, NULL, "refs", NULL, "nope", 4, &v, &n),
	    SC_ERR_NOT_FOUND);
	ck_assert_int_eq(sc_put(c, NULL, "refs", NULL, "k", 1, "w", 1), 0);
	/* An error a writer thread replies with counts too. */
	EXPECT_ERR(c, sc_put_if_absent(c, NULL, "refs", NULL, "k", 1, "x", 1),
	    SC_ERR_COND_FAILED);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "err_COND_FAILED"), 1);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "ops_put"), 22);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "ops_get"), 6);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "err_NOT_FOUND"), 1);
	ck_assert_uint_ge(env_counter(c, NULL, "refs", "commits"), 1);
	ck_assert_uint_le(env_counter(c, NULL, "refs", "commit_us_p50"),
	    env_counter(c, NULL, "refs", "commit_us_p99"));
	ck_assert_uint_le(env_counter(c, NULL, "refs", "commit_us_p99"),
	    env_counter(c, NULL, "refs", "commit_us_max"));
	ck_assert_uint_gt(env_counter(c, NULL, "refs", "commit_us_max"), 0);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "write_queue"), 0);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "oldest_reader_lag"),
	    0);
	/* 21 writes, one commit each: the first also gave the env its id
	 * (opening it commits nothing). */
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "last_txnid"), 21);
	/* One write at a time: nothing is ever queued behind a sync = full
	 * commit to make it durable, so each of the 21 (the failed put
	 * committed nothing) took a sync of its own. */
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "flushes"), 21);
	ck_assert_int_eq(sc_get_stats(c, NULL, NULL, &s), 0);
	ck_assert_uint_eq(sc_counter_get(s->daemon, s->ndaemon,
	    "connections", 0), 1);
	ck_assert_uint_eq(sc_counter_get(s->daemon, s->ndaemon, "open_envs",
	    0), 1);
	ck_assert_uint_eq(sc_counter_get(s->daemon, s->ndaemon,
	    "err_NOT_FOUND", 0), 1);
	ck_assert_uint_eq(sc_counter_get(s->daemon, s->ndaemon,
	    "err_COND_FAILED", 0), 1);
	ck_assert_uint_eq(sc_counter_get(s->daemon, s->ndaemon,
	    "err_UNKNOWN_STORE", 0), 0);
	sc_stats_free(s);
	EXPECT_ERR(c, sc_get(c, NULL, "nostore", NULL, "k", 1, &v, &n),
	    SC_ERR_UNKNOWN_STORE);
	ck_assert_int_eq(sc_get_stats(c, NULL, NULL, &s), 0);
	ck_assert_uint_eq(sc_counter_get(s->daemon, s->ndaemon,
	    "err_UNKNOWN_STORE", 0), 1);
	sc_stats_free(s);
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------------------------------- group commit */

#define GROUP_WRITERS	8
#define GROUP_PUTS	50	/* writer i makes (i + 1) times as many */

struct grouper {
	pthread_t	 t;
	const char	*sock;
	int		 id, puts;	/* how many it makes, then stops */
	int		 acked;
	long		 slowest_ms;	/* its slowest answer */
};

static long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
grouper_main(void *arg)
{
	struct grouper	*g = arg;
	sc_conn		*c = sc_connect(g->sock);
	char		 k[32];
	long		 t0;

	for (; g->acked < g->puts; g->acked++) {
		snprintf(k, sizeof(k), "g%d-%d", g->id, g->acked);
		t0 = now_ms();
		if (sc_put(c, NULL, "refs", NULL, k, strlen(k), k,
		    strlen(k)) == -1)
			break;
		if (now_ms() - t0 > g->slowest_ms)
			g->slowest_ms = now_ms() - t0;
	}
	sc_close(c);
	return NULL;
}

/*
 * Writers in lockstep under sync = full drop out one by one until one
 * writes alone.  A commit may wait for the writers just answered to
 * write again (writer.c); those that never do must hold back no answer
 * for longer than that bound, a commit's time.  Every put is answered,
 * each promptly (1 s is generous; 10 under valgrind), and reads back.
 */
START_TEST(group_commit_answers_writers_that_stop)
{
	struct hs_daemon	 d;
	struct grouper		 g[GROUP_WRITERS];
	sc_conn			*c;
	char			 k[32];
	long			 bound = hs_timeout() * 1000L / 30;
	int			 i, n, total = 0;

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 16MiB\n"
	    "sync = full\n"), 0);
	for (i = 0; i < GROUP_WRITERS; i++) {
		g[i] = (struct grouper){ .sock = d.sock, .id = i,
		    .puts = GROUP_PUTS * (i + 1) };
		total += g[i].puts;
		ck_assert_int_eq(pthread_create(&g[i].t, NULL, grouper_main,
		    &g[i]), 0);
	}
	for (i = 0; i < GROUP_WRITERS; i++) {
		pthread_join(g[i].t, NULL);
		ck_assert_int_eq(g[i].acked, g[i].puts);
		ck_assert_msg(g[i].slowest_ms < bound, "writer %d waited %ld "
		    "ms for an answer", i, g[i].slowest_ms);
	}
	c = it_conn(&d);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "writes"), total);
	ck_assert_uint_le(env_counter(c, NULL, "refs", "commits"), total);
	ck_assert_uint_eq(env_counter(c, NULL, "refs", "write_queue"), 0);
	for (i = 0; i < GROUP_WRITERS; i++)
		for (n = 0; n < g[i].puts; n++) {
			snprintf(k, sizeof(k), "g%d-%d", i, n);
			it_assert_val(c, NULL, "refs", NULL, k, strlen(k), k,
			    strlen(k));
		}
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * Starts tests/lmdb-reader on dir: a read transaction in another process.
 * Its txnid goes to *txnid; closing *hold ends the transaction.
 */
static pid_t
start_reader(const char *dir, int *hold, uint64_t *txnid)
{
	char	 bin[PATH_MAX], line[32];
	int	 in[2], out[2];
	ssize_t	 n;
	pid_t	 pid;

	snprintf(bin, sizeof(bin), "%s/tests/lmdb-reader", hs_build());
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	if ((pid = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(bin, bin, dir, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	close(in[0]);
	close(out[1]);
	n = read(out[0], line, sizeof(line) - 1);
	close(out[0]);
	ck_assert_msg(n > 0, "lmdb-reader printed no txnid");
	line[n] = '\0';
	*txnid = strtoull(line, NULL, 10);
	*hold = in[1];
	return pid;
}

/*
 * A reader in another process that does not let go pins its snapshot;
 * stats shows by how many commits it lags, and 0 again once it is gone.
 */
START_TEST(a_stuck_reader_shows_its_lag)
{
	struct hs_daemon	 d;
	char			 dir[PATH_MAX];
	sc_conn			*c;
	uint64_t		 t0, last, used;
	pid_t			 pid;
	int			 hold, status, i;

	ck_assert_int_eq(hs_up(&d, "[store refs]\nmap_size = 1MiB\n"), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "r", "refs", NULL, "k", 1, "v", 1), 0);
	snprintf(dir, sizeof(dir), "%s/r/@refs", d.data);
	pid = start_reader(dir, &hold, &t0);
	ck_assert_uint_eq(t0, env_counter(c, "r", "refs", "last_txnid"));
	/* It sees the latest commit: it holds nothing back yet. */
	ck_assert_uint_eq(env_counter(c, "r", "refs", "oldest_reader_age_ms"),
	    0);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(sc_put(c, "r", "refs", NULL, "k", 1, "w", 1),
		    0);
		/* Its age counts from the first commit it cannot see. */
		if (i == 0)
			poll(NULL, 0, 300);
	}
	ck_assert_uint_ge(env_counter(c, "r", "refs", "oldest_reader_age_ms"),
	    300);
	last = env_counter(c, "r", "refs", "last_txnid");
	ck_assert_uint_eq(last, t0 + 5);
	ck_assert_uint_eq(env_counter(c, "r", "refs", "oldest_reader_lag"), 5);
	/* storesd holds no snapshot between turns: the reader is alone. */
	ck_assert_uint_eq(env_counter(c, "r", "refs", "readers_active"), 1);
	used = env_counter(c, "r", "refs", "readers_used");
	ck_assert_uint_ge(used, 1);
	/* Its end of the pipe closed, the reader ends its transaction. */
	close(hold);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(env_counter(c, "r", "refs", "oldest_reader_lag"), 0);
	ck_assert_uint_eq(env_counter(c, "r", "refs", "oldest_reader_age_ms"),
	    0);
	ck_assert_uint_eq(env_counter(c, "r", "refs", "readers_active"), 0);
	/* Its slot is free again (the count never went down before). */
	ck_assert_uint_eq(env_counter(c, "r", "refs", "readers_used"),
	    used - 1);
	sc_close(c);
	down(&d);
}
END_TEST

static Suite *
service_suite(void)
{
	Suite	*s = suite_create("service");
	TCase	*tc;

	tc = tcase_create("service");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, reload_adds_and_removes_stores);
	tcase_add_test(tc, reload_raises_map_size_online);
	tcase_add_test(tc, reload_of_a_bad_file_changes_nothing);
	tcase_add_test(tc, reload_reopens_a_store_whose_dbs_changed);
	tcase_add_test(tc, reload_leaves_restart_keys_alone);
	tcase_add_test(tc, sigterm_finishes_what_it_acknowledged);
	tcase_add_test(tc, sigint_with_a_client_that_never_reads);
	tcase_add_test(tc, watchdog_pings);
	tcase_add_test(tc, reload_notifies_reloading_then_ready);
	tcase_add_test(tc, a_notify_reader_that_stops_reading);
	tcase_add_test(tc, listen_fds_clients_wait_for_the_start);
	tcase_add_test(tc, listen_fds_of_two_refused);
	tcase_add_test(tc, under_systemd_socket_activate);
	tcase_add_test(tc, stats_for_operators);
	tcase_add_test(tc, group_commit_answers_writers_that_stop);
	tcase_add_test(tc, a_stuck_reader_shows_its_lag);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(service_suite());
}
