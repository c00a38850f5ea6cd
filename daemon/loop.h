/*
 * loop: an I/O thread.
 *
 * Owns: one libevent base and the connections living on it, and the
 * mailbox through which other threads hand it things: new connections
 * from the listener, finished jobs from the pool, the order to stop.
 * Everything about a connection happens on its loop's thread; the
 * mailbox (a mutex-protected queue plus an eventfd) is the only way in.
 */
#ifndef LOOP_H
#define LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/queue.h>

#include "counters.h"
#include "sp_error.h"
#include "sp_msg.h"

struct cfg_store;
struct conn;
struct daemon;
struct reg_env;
struct event;
struct event_base;
struct job;

TAILQ_HEAD(conn_list, conn);

#define LOOP_TURN_ENVS	8

/* An env read in this turn, kept with its read transaction until the
 * turn ends (loop_read_env()). */
struct turn_env {
	const struct cfg_store	*st;
	struct reg_env		*e;
	size_t			 repolen;
	char			 repo[SP_REPO_MAX + 1];
	bool			 fixed;		/* a fixed-path store */
};

struct loop {
	struct daemon		*d;
	unsigned		 idx;		/* also its read-txn slot */
	struct event_base	*base;
	pthread_t		 thread;
	bool			 threaded;	/* loop 0 runs on main's thread */
	int			 efd;		/* eventfd: the mailbox bell */
	struct event		*bell;
	struct event		*stop_timer;

	pthread_mutex_t		 mtx;		/* guards the mailbox */
	struct job		*done_head;
	struct job		*done_tail;
	int			*newfds;
	size_t			 nnew;
	size_t			 capnew;
	bool			 stop;

	/* Loop thread only. */
	struct conn_list	 conns;
	bool			 stopping;
	bool			 exit;		/* leave after this turn */
	struct job		*deferred;	/* writes for the end of turn */
	struct job		*deferred_tail;
	struct turn_env		 turn[LOOP_TURN_ENVS];
	unsigned		 nturn;

	/* Its connections' requests and errors (the pool's jobs add theirs):
	 * one set per loop so that loops share no counter; stats adds them
	 * up. */
	struct counters		 ctr;
};

/* Sets up l; returns 0, or -1 (logged). */
int	loop_init(struct loop *l, struct daemon *d, unsigned idx);
/* Runs l on a thread of its own. Returns 0 or -1. */
int	loop_start(struct loop *l);
/* Runs l on the calling thread until it stops. */
void	loop_run(struct loop *l);
/* Waits for a started loop's thread to end. */
void	loop_join(struct loop *l);
/* Frees what loop_init made, after handing back jobs that returned
 * after the loop ended; the pool must be gone by then. */
void	loop_fini(struct loop *l);

/* From any thread: hand over an accepted connection, a finished job. */
void	loop_post_conn(struct loop *l, int fd);
void	loop_post_done(struct loop *l, struct job *j);
/*
 * From any thread: stop reading requests, let in-flight ones finish and
 * their replies go out, then close every connection and leave the
 * loop, at the latest after timeout_ms.
 */
void	loop_post_stop(struct loop *l);

/* Loop thread: called when a connection of l goes away, to finish a stop. */
void	loop_check_stopped(struct loop *l);

/*
 * Loop thread: keeps a small write to a sync = none env for the end of
 * this event-loop turn, when the writes of all connections served in the
 * turn are committed together right here (writer_inline()) or, if the
 * env is busy, queued for the pool.  No transaction spans the turn.
 */
void	loop_defer_write(struct loop *l, struct job *j);

/*
 * Loop thread: the env of (repo, st) for reading, with the loop's read
 * transaction held open for the rest of the turn, so every read of the
 * turn shares one lookup and one transaction.  *e is NULL when the env
 * does not exist (reads never create one).  Release nothing: the turn's
 * end does.  Returns 0, or -1 with err.
 */
int	loop_read_env(struct loop *l, const struct cfg_store *st,
	    struct sp_bytes repo, struct reg_env **e, struct sp_error *err);

#endif
