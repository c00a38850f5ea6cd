/*
 * The daemon's modules, lowest first.  Each may call only the modules on
 * the lines above its own (and proto/); the one cycle, which an
 * event-driven daemon needs, is among loop, conn and handler: the loop
 * calls the connection's callbacks, the connection the handler, and the
 * handler hands replies and jobs back.  Upward calls elsewhere go
 * through hooks the upper module registers (loop_add_hook,
 * reg_set_env_ops, reg_set_settled_hook, a job's post,
 * writer_set_commit_hook, the handler's struct watch_io).  `make callgraph` prints the graph as
 * measured from the objects; `make test` fails on any other cycle.
 *
 * log.c	logging to stderr or syslog; calls nothing
 * clock.c	the monotonic clock; calls nothing
 * counters.c	request, error and latency counters; calls nothing
 * pool.c	the worker threads and their task queue; calls nothing
 * quota.c	what each peer uid holds of the shared resources
 *		(input, connections, snapshot places, watches), no uid
 *		over half of a cap; calls nothing
 * notify.c	sd_notify messages to the service manager; log
 * commitlog.c	the dates of an env's commits, for reader ages; nothing
 * config.c	the configuration file, one table of keys; nothing
 * acl.c	the peer's credentials and a store's access lists; nothing
 * layout.c	the data directory's layout on disk; log
 * store.c	LMDB envs, the only includer of lmdb.h; clock, commitlog,
 *		config, log
 * registry.c	the table of open envs and their life cycle (knows no
 *		job); clock, config, layout, log, pool, store
 * job.c	requests run on a pool: fork, large mget and missing (the
 *		readers' pool), and the write jobs' storage; counters,
 *		layout, log, pool, registry, store
 * writer.c	each env's write queue (struct writer_q), group commit, a
 *		turn's deferred writes; clock, counters, job, pool,
 *		registry, store
 * snap.c	snapshots, each on two threads of its own, fed to the
 *		client's descriptor with a deadline, and the threads of
 *		restores reading theirs; clock, job, log, quota, store
 * watch.c	watches: the writer's commit hook (writer_set_commit_hook)
 *		marks them, each loop's end-of-turn hook sends their events
 *		from history or their buffer, and reaches the connection
 *		and the loop only through the handler's struct watch_io;
 *		clock, config, log, quota, registry, store
 * handler*.c	what each request does, per-connection request state, a
 *		loop's read transactions; the above, conn, loop
 * conn.c	one client connection: socket, buffers, passed
 *		descriptors; acl, clock, config, log, quota, handler
 *		(handler.h only), loop
 * loop.c	an I/O thread: libevent, its mailbox, end-of-turn hooks;
 *		nothing of storage; conn, job, log
 * listener.c	the listening socket, handing connections to loops;
 *		clock, conn, log, loop
 * reload.c	SIGHUP: a new configuration, swapped whole; frees a
 *		replaced one once nothing uses it; config, log, loop,
 *		notify, pool, registry
 * main.c	start, signals, housekeeping, stop; any of the above
 */

/*
 * daemon: what the whole of storesd shares.
 *
 * Owns: struct daemon, the context every module reaches through its loop
 * or job: the configuration, the registry of envs, the worker pools,
 * the running snapshots and the I/O loops.  There is exactly one, made
 * by main.c.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STORESD_VERSION	"0.1.0"

struct config;
struct loop;
struct pool;
struct registry;
struct snap_set;

struct daemon {
	/* Swapped whole by a reload (reload.c); read it afresh per use. */
	_Atomic(struct config *) cfg;
	struct registry	*reg;
	struct pool	*pool;
	struct pool	*openers;	/* env opens (registry.h) */
	struct pool	*readers;	/* large mget and missing (job.c) */
	struct snap_set	*snaps;		/* snapshots running (snap.c) */
	struct loop	**loops;
	unsigned	 nloops;
	uint64_t	 start_ms;
	int		 lockfd;	/* DATA_DIR/@storesd.lock, held */
	int		 rootfd;	/* DATA_DIR itself, held, flocked */
	char		 root[32];	/* "/proc/self/fd/N": reaches it */
	uid_t		 uid;		/* storesd's own: may do anything */
	atomic_uint	 nconns;	/* connections open now */
	atomic_bool	 stopping;	/* SIGTERM: finish and leave */
	atomic_uint	 reloads;	/* configurations loaded by SIGHUP */
	/* Input buffered by all connections past each one's free share,
	 * held under max_input (conn.c); each uid's part is quota.c's. */
	_Atomic uint64_t in_bytes;
};

#endif
