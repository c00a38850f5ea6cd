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

struct conn;
struct daemon;
struct event;
struct event_base;
struct job;

TAILQ_HEAD(conn_list, conn);

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

#endif
