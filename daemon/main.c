/*
 * storesd: the daemon that owns every LMDB env on the host.
 *
 * main.c owns start-up, signals and shutdown.  storesd runs in the
 * foreground and never forks: LMDB envs must not cross a fork, and a
 * service manager wants the process it started.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "clock.h"
#include "daemon.h"
#include "handler.h"
#include "layout.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "pool.h"
#include "registry.h"
#include "reload.h"
#include "snap.h"
#include "store.h"
#include "watch.h"
#include "writer.h"

struct opts {
	const char	*config;
	const char	*socket;
	const char	*data_dir;
	int		 verbose;
	int		 check;
};

static struct daemon	 daemon_ctx;
static struct listener	 listener;

static void __attribute__((noreturn))
usage(int status)
{
	FILE	*f = status ? stderr : stdout;

	fprintf(f,
	    "usage: storesd [-v] [-c FILE] [-s SOCKET] [-d DATA_DIR]\n"
	    "       storesd --check-config [-c FILE]\n"
	    "       storesd --version\n"
	    "\n"
	    "  -c, --config FILE    configuration (default: built-in: stores\n"
	    "                       refs 256MiB and nodes 16GiB)\n"
	    "  -s, --socket PATH    listen here instead of the configured socket\n"
	    "  -d, --data-dir DIR   keep envs here instead of data_dir\n"
	    "  -v, --verbose        log more (twice: debug)\n"
	    "      --check-config   check the configuration and exit\n"
	    "  -h, --help           this text\n"
	    "  -V, --version        print the version\n");
	exit(status);
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config",	  required_argument, NULL, 'c' },
		{ "socket",	  required_argument, NULL, 's' },
		{ "data-dir",	  required_argument, NULL, 'd' },
		{ "verbose",	  no_argument,	     NULL, 'v' },
		{ "check-config", no_argument,	     NULL, 'C' },
		{ "help",	  no_argument,	     NULL, 'h' },
		{ "version",	  no_argument,	     NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:s:d:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 's': o->socket = optarg; break;
		case 'd': o->data_dir = optarg; break;
		case 'v': o->verbose++; break;
		case 'C': o->check = 1; break;
		case 'h': usage(0);
		case 'V':
			printf("storesd %s\n", STORESD_VERSION);
			exit(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
}

/*
 * LMDB allocates write-transaction lists of 1 and 2 MiB per open env.
 * With glibc's default, freeing such blocks raises the mmap threshold,
 * later envs' lists then come from arenas already touched, and every
 * open env stays megabytes resident (3 GiB for 1,000 envs, measured).  A
 * fixed threshold just under them keeps them in their own untouched
 * mappings, returned to the system when an env closes, while the smaller
 * buffers of requests (batch chunks are 256 KiB) stay in the heap
 * instead of costing an mmap and its page faults each.
 */
static void
tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
}

/* Envs and connections each take descriptors; use all we are allowed. */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("%s: setrlimit", __func__);
	}
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;
	unsigned	 i;

	(void)what;
	if (atomic_exchange(&d->stopping, true))
		return;
	log_notice("%s: %s: finishing requests in flight, then exiting",
	    __func__, strsignal((int)sig));
	/* Closed first: once STOPPING=1 is out, nobody new gets in. */
	listener_close(&listener);
	notify_send("STOPPING=1");
	/* A snapshot may stream for hours: cut off now, with a reply. */
	snap_stop(d->snaps);
	for (i = 0; i < d->nloops; i++)
		loop_post_stop(d->loops[i]);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)sig;
	(void)what;
	if (!atomic_load(&d->stopping))
		reload_request(d);
}

/*
 * WatchdogSec=: the timer runs on loop 0, the loop that accepts, so a
 * stuck accept loop stops the pings and systemd restarts storesd.  The
 * send never blocks (a ping that does not fit is dropped), so a service
 * manager that stops reading cannot stop the loop in turn.
 */
static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

/*
 * Housekeeping closes idle envs, flushes sync = none envs and frees the
 * replaced configurations nothing uses any more.  The first two may wait
 * on a disk, so the timer on loop 0 only hands the work to the pool, and
 * never twice at once.
 */
static struct pool_task	 housekeeping;
static atomic_bool	 housekeeping_busy;

/*
 * Says (once per change) when data_dir's path no longer leads to the
 * directory storesd locked: storesd keeps serving that one, where it is
 * now, and acknowledged writes go there, while a restart would serve
 * what the path leads to.  Nothing a client can do; an operator's move.
 */
static void
watch_data_dir(struct daemon *d)
{
	static bool	 told;
	char		 now[PATH_MAX];
	bool		 moved = lay_moved(d->cfg->data_dir, d->rootfd, now,
			    sizeof(now));

	if (moved && !told)
		log_errx("%s: data_dir %s no longer leads to the directory "
		    "storesd locked, now %s: storesd keeps serving that one "
		    "until it stops, a restart serves what the path leads "
		    "to; stop storesd before moving data_dir", __func__,
		    d->cfg->data_dir, now);
	else if (!moved && told)
		log_notice("%s: data_dir %s leads to storesd's directory "
		    "again", __func__, d->cfg->data_dir);
	told = moved;
}

static void
housekeep(struct pool_task *t)
{
	(void)t;
	watch_data_dir(&daemon_ctx);
	reg_sweep(daemon_ctx.reg);
	reg_sync(daemon_ctx.reg);
	reload_reap(&daemon_ctx);
	snap_expire(daemon_ctx.snaps);
	atomic_store(&housekeeping_busy, false);
}

static struct event	*tick;
static struct timeval	 tick_interval(const struct config *);

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	struct timeval	 tv = tick_interval(d->cfg);

	(void)fd;
	(void)what;
	/* Re-armed each time: a reload may change the interval. */
	event_add(tick, &tv);
	/* Progress frames and the checks of path = envs, on their loops. */
	watch_tick();
	if (atomic_exchange(&housekeeping_busy, true))
		return;
	housekeeping.fn = housekeep;
	pool_submit(d->pool, &housekeeping);
}

/* Often enough for idle_close and the shortest sync_interval. */
static struct timeval
tick_interval(const struct config *cfg)
{
	struct timeval	 tv;
	uint64_t	 every = cfg->idle_close_ms / 4;
	unsigned	 i;

	for (i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].sync == CFG_SYNC_NONE &&
		    cfg->stores[i].sync_interval_ms / 2 < every)
			every = cfg->stores[i].sync_interval_ms / 2;
	every = every < 10 ? 10 : every > 1000 ? 1000 : every;
	tv.tv_sec = (time_t)(every / 1000);
	tv.tv_usec = (suseconds_t)(every % 1000) * 1000;
	return tv;
}

/*
 * The registry's hook: the env of key stopped being busy (an open
 * ended), so every loop retries the frames it stalled on that one now
 * (only those: the others would find theirs still busy).  Any thread.
 */
static void
on_settled(void *arg, uint64_t key)
{
	struct daemon	*d = arg;
	unsigned	 i;

	for (i = 0; i < d->nloops; i++)
		loop_post_retry(d->loops[i], key);
}

static int
start(struct daemon *d)
{
	struct sp_error	 err;
	unsigned	 i;

	d->start_ms = clock_now_ms();
	if ((d->lockfd = lay_lock(d->cfg->data_dir, &err)) == -1 ||
	    (d->rootfd = lay_root(d->cfg->data_dir, d->lockfd, d->root,
	    sizeof(d->root), &err)) == -1 ||
	    lay_init(d->root, &err) == -1) {
		log_errx("%s: %s", __func__, err.msg);
		return -1;
	}
	d->reg = reg_new(d->cfg->data_dir, d->cfg->io_threads,
	    d->cfg->max_envs, d->cfg->idle_close_ms);
	if (d->reg != NULL)
		reg_set_budget(d->reg, d->cfg->map_budget);
	if (d->reg != NULL && reg_set_root(d->reg, d->root) == -1) {
		reg_free(d->reg);
		d->reg = NULL;
	}
	d->pool = pool_new(d->cfg->writer_threads);
	/* Opens never wait behind a commit's sync: reg_set_open_pool(). */
	d->openers = pool_new(d->cfg->writer_threads);
	/* As many as there are loops that may hand them large reads. */
	d->readers = pool_new(d->cfg->io_threads);
	d->snaps = snap_new();
	if (d->reg != NULL && d->pool != NULL && d->openers != NULL) {
		reg_set_env_ops(d->reg, &writer_env_ops);
		reg_set_pool(d->reg, d->pool);
		reg_set_open_pool(d->reg, d->openers);
	}
	d->loops = calloc(d->cfg->io_threads, sizeof(*d->loops));
	if (d->reg == NULL || d->pool == NULL || d->openers == NULL ||
	    d->readers == NULL ||
	    d->snaps == NULL || d->loops == NULL) {
		log_errx("%s: out of memory", __func__);
		return -1;
	}
	for (i = 0; i < d->cfg->io_threads; i++) {
		if ((d->loops[i] = calloc(1, sizeof(struct loop))) == NULL ||
		    loop_init(d->loops[i], d, i) == -1 ||
		    handler_loop_init(d->loops[i]) == -1)
			return -1;
		d->nloops++;
	}
	reg_set_settled_hook(d->reg, on_settled, d);
	return 0;
}

static void
stop(struct daemon *d)
{
	unsigned	 i;

	if (d->snaps != NULL)
		snap_stop(d->snaps);
	for (i = 0; i < d->nloops; i++)
		loop_join(d->loops[i]);
	/*
	 * A housekeeping pass handed to the pool before loop 0 stopped may
	 * still be queued or running, and it looks at the snapshots
	 * (snap_expire): with the loops joined no new one starts, so wait
	 * for that one before freeing what it reads.
	 */
	while (atomic_load(&housekeeping_busy))
		poll(NULL, 0, 1);
	/* Their replies go to the loops' mailboxes, freed below; their
	 * envs are released before the registry closes them. */
	snap_free(d->snaps);
	/* Opens queued still run here (their requests are gone), then
	 * queued writes run and commit, before envs close. */
	pool_free(d->openers);
	pool_free(d->pool);
	pool_free(d->readers);
	if (d->reg != NULL) {
		reg_set_open_pool(d->reg, NULL);
		reg_set_pool(d->reg, NULL);
		/* No loop is left to retry anything: reg_free() closes. */
		reg_set_settled_hook(d->reg, NULL, NULL);
	}
	for (i = 0; i < d->nloops; i++) {
		loop_fini(d->loops[i]);
		handler_loop_fini(d->loops[i]);
		free(d->loops[i]);
	}
	free(d->loops);
	reg_free(d->reg);
}

int
main(int argc, char **argv)
{
	struct daemon	*d = &daemon_ctx;
	struct opts	 o;
	struct event	*sigs[4] = { NULL }, *dog = NULL;
	struct timeval	 tv;
	uint64_t	 dog_us;
	char		 errbuf[CFG_ERRBUF], *line, *next;
	unsigned	 i;
	int		 ret = 1;

	listener.fd = -1;
	d->lockfd = d->rootfd = -1;
	d->uid = geteuid();
	parse_args(argc, argv, &o);
	log_init(o.verbose);
	d->cfg = cfg_load(o.config, o.socket, o.data_dir, errbuf,
	    sizeof(errbuf));
	if (d->cfg == NULL) {
		if (o.check) {
			fprintf(stderr, "%s\n", errbuf);
			return 1;
		}
		/* A log line each: the journal has no multi-line entry. */
		for (line = strtok_r(errbuf, "\n", &next); line != NULL;
		    line = strtok_r(NULL, "\n", &next))
			log_errx("%s", line);
		exit(1);
	}
	reload_init(d, o.config, o.socket, o.data_dir);
	if (o.check) {
		printf("%s: ok (%u stores; socket %s; data_dir %s)\n",
		    d->cfg->file, d->cfg->nstores, d->cfg->socket,
		    d->cfg->data_dir);
		cfg_free(d->cfg);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A data.mdb cut short or unreadable breaks its env, not storesd. */
	if (st_catch_faults() == -1)
		fatal("sigaction SIGBUS");
	tune_malloc();
	raise_nofile();
	if (start(d) == -1)
		goto done;
	if (listener_open(&listener, d, d->cfg->socket, d->cfg->socket_mode,
	    errbuf, sizeof(errbuf)) == -1) {
		log_errx("%s", errbuf);
		goto done;
	}
	/*
	 * libevent puts back the disposition it found when the events are
	 * freed, before the stop is over (envs still closing): make that
	 * "ignore", so a second SIGTERM then cannot kill storesd midway.
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigs[0] = evsignal_new(d->loops[0]->base, SIGTERM, on_stop_signal, d);
	sigs[1] = evsignal_new(d->loops[0]->base, SIGINT, on_stop_signal, d);
	sigs[2] = evsignal_new(d->loops[0]->base, SIGHUP, on_hup, d);
	tick = evtimer_new(d->loops[0]->base, on_tick, d);
	tv = tick_interval(d->cfg);
	for (i = 0; i < 3; i++)
		if (sigs[i] == NULL || event_add(sigs[i], NULL) == -1)
			fatalx("cannot install signal handlers");
	if (tick == NULL || event_add(tick, &tv) == -1)
		fatalx("cannot start the idle timer");
	if ((dog_us = notify_watchdog_usec()) > 0) {
		dog_us /= 2;
		tv.tv_sec = (time_t)(dog_us / 1000000);
		tv.tv_usec = (suseconds_t)(dog_us % 1000000);
		dog = event_new(d->loops[0]->base, -1, EV_PERSIST, on_watchdog,
		    NULL);
		if (dog == NULL || event_add(dog, &tv) == -1)
			fatalx("cannot start the watchdog timer");
		log_info("watchdog: pinging the service manager every %lluus",
		    (unsigned long long)dog_us);
	}
	for (i = 1; i < d->nloops; i++)
		if (loop_start(d->loops[i]) == -1)
			goto done;
	log_notice("storesd %s ready: socket %s%s, data_dir %s, %u stores, "
	    "%u I/O threads, %u writer threads", STORESD_VERSION,
	    listener.path, listener.activated ? " (socket-activated)" : "",
	    d->cfg->data_dir, d->cfg->nstores, d->nloops,
	    d->cfg->writer_threads);
	notify_state("READY=1\nSTATUS=accepting requests");
	loop_run(d->loops[0]);
	ret = 0;
done:
	if (ret != 0 && d->loops != NULL)
		for (i = 0; i < d->nloops; i++)
			loop_post_stop(d->loops[i]);
	listener_close(&listener);
	for (i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (tick)
		event_free(tick);
	if (dog)
		event_free(dog);
	stop(d);
	if (d->rootfd != -1)
		close(d->rootfd);
	if (d->lockfd != -1)
		close(d->lockfd);	/* the envs are closed: let another in */
	if (ret == 0)
		log_notice("storesd stopped");
	reload_fini();
	cfg_free(d->cfg);
	return ret;
}
