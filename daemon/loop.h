/*
 * loop: an I/O thread.
 *
 * Owns: one libevent base and the connections living on it, and the
 * mailbox through which other threads hand it things: new connections
 * from the listener, finished jobs from the pool, the order to stop.
 * Everything about a connection happens on its loop's thread; the
 * mailbox (a mutex-protected queue plus an eventfd) is the only way in.
 *
 * The loop knows nothing of storage: what must happen once per turn
 * (the handler's read transactions, the writer's deferred writes) is an
 * end-of-turn hook the layer above adds (loop_add_hook()), as Redis's
 * aeSetBeforeSleepProc.
 */
#ifndef LOOP_H
#define LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "counters.h"

struct conn;
struct daemon;
struct event;
struct event_base;
struct handler_loop;
struct job;

TAILQ_HEAD(conn_list, conn);

/* Runs on the loop's thread at the end of every turn. */
typedef void	loop_hook_fn(void *arg);

#define LOOP_MAX_HOOKS	4
/* Settled keys a mailbox holds (loop_post_retry()); past them, every
 * stalled connection retries, as when the loop could not tell which. */
#define LOOP_RETRY_KEYS	32

struct loop_hook {
	loop_hook_fn		*fn;
	void			*arg;
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
	/* Retry the frames stalled on these keys (or all of them). */
	uint64_t		 retry_keys[LOOP_RETRY_KEYS];
	unsigned		 nretry;
	bool			 retry_all;

	/* Loop thread only. */
	struct conn_list	 conns;
	struct conn_list	 stalled;	/* conns whose frame waits for
						 * a busy env (conn.c) */
	struct conn_list	 flushing;	/* output the end-of-turn hooks
						 * added, sent after them
						 * (conn_flush_soon()) */
	bool			 stopping;
	bool			 exit;		/* leave after this turn */
	struct loop_hook	 hooks[LOOP_MAX_HOOKS];	/* end of turn */
	unsigned		 nhooks;
	/* The handler's state of this loop (handler_loop_init()). */
	struct handler_loop	*hl;

	/* Turns ended: a pointer into a configuration read in a turn is
	 * not used after it, so a replaced config may go once every loop
	 * has ended a turn (reload.c). */
	_Atomic uint64_t	 turns;

	/* Its connections' requests and errors (the pool's jobs add theirs):
	 * one set per loop so that loops share no counter; stats adds them
	 * up. */
	struct counters		 ctr;
	/* Frames its connections stalled on a busy env (again for each
	 * retry that found it still busy), and stalled frames retried
	 * because an env settled (conn.c); stats adds them up. */
	_Atomic uint64_t	 stalls;
	_Atomic uint64_t	 stall_wakes;
};

/* Sets up l; returns 0, or -1 (logged). */
int	loop_init(struct loop *l, struct daemon *d, unsigned idx);
/*
 * Before l runs: adds fn(arg) to what runs at the end of each turn,
 * after the hooks added before it.  Returns 0, or -1 (logged) when l has
 * LOOP_MAX_HOOKS already.
 */
int	loop_add_hook(struct loop *l, loop_hook_fn *fn, void *arg);
/* Runs l on a thread of its own. Returns 0 or -1. */
int	loop_start(struct loop *l);
/* Runs l on the calling thread until it stops. */
void	loop_run(struct loop *l);
/* Waits for a started loop's thread to end. */
void	loop_join(struct loop *l);
/* Frees what loop_init made, after handing back jobs that returned
 * after the loop ended; the pool must be gone by then. */
void	loop_fini(struct loop *l);

/* From any thread: makes l end a turn soon, even with nothing to do. */
void	loop_wake(struct loop *l);
/* From any thread: hand over an accepted connection, a finished job. */
void	loop_post_conn(struct loop *l, int fd);
void	loop_post_done(struct loop *l, struct job *j);
/*
 * From any thread: stop reading requests, let in-flight ones finish and
 * their replies go out, then close every connection and leave the
 * loop, at the latest after timeout_ms.
 */
void	loop_post_stop(struct loop *l);
/*
 * From any thread: the env of key stopped being busy
 * (reg_set_settled_hook()): l's connections stalled on it, or on any,
 * retry their frame now.  key is opaque here.
 */
void	loop_post_retry(struct loop *l, uint64_t key);

/* Loop thread: called when a connection of l goes away, to finish a stop. */
void	loop_check_stopped(struct loop *l);

#endif
