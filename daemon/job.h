/*
 * job: a request that runs on the worker pool.
 *
 * Owns: requests that may wait on a disk (writes, forks; snapshots,
 * which snap.c runs, also wait on a client's descriptor), or read too
 * much to be answered on an I/O thread (large mget and missing, on a
 * pool of their own), while they are away from their I/O thread.  A job
 * carries its own copies of the request's bytes, a reference on the env
 * it uses, and the reply it builds; when done it goes back through its
 * post hook (the handler's: to its connection's loop, which sends the
 * reply).
 * Writes to one env pass through that env's queue (writer.c) in the
 * order they arrived.  Below the loop and the connection: it knows them
 * only as the opaque pointers it carries back.
 */
#ifndef JOB_H
#define JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "pool.h"
#include "sp_buf.h"
#include "store.h"

struct conn;
struct daemon;
struct loop;
struct reg_env;

enum job_kind {
	JOB_WRITE,
	JOB_SNAPSHOT,
	JOB_FORK,
	JOB_READ,	/* a large mget or missing */
	JOB_CALL,	/* runs its own run(), e.g. repos.c's */
	/* A JOB_CALL that waits on the client's descriptor (a restore
	 * reading it): runs on a thread of its own (snap.c), never on the
	 * pool, whose threads every durable write needs. */
	JOB_INBOUND,
};

struct job {
	struct job		*next;		/* env queue, then loop queue */
	struct pool_task	 task;		/* snapshot and fork */
	enum job_kind		 kind;
	struct daemon		*d;
	/* Where the job goes back to; the submitter's (the handler's). */
	struct loop		*loop;		/* where conn lives */
	struct conn		*conn;		/* holds a reference for us */
	void			(*post)(struct job *j);	/* from any thread */
	struct counters		*ctr;		/* its loop's, for job_note() */
	uint64_t		 id;		/* the request's */
	struct reg_env		*env;		/* referenced */
	struct reg_env		*dst;		/* fork: the reserved target */
	struct st_op		*ops;		/* write */
	size_t			 nops;
	uint64_t		 rev;		/* write: applied with it; 0:
						 * not, or no revisions */
	size_t			 capops;
	bool			 batch;		/* errors name the op's index */
	int			 fd;		/* snapshot: the client's file */
	bool			 compact;
	bool			 mget;		/* read: mget, else missing */
	bool			 revs;		/* read: its store keeps them */
	unsigned		 db;		/* read */
	struct sp_array		 keys;		/* read: in job_copy() storage */
	struct sp_buf		 reply;		/* one frame, when done */
	struct job_block	*blocks;	/* job_copy() storage */
	/* JOB_CALL, JOB_INBOUND: run on the pool or on a thread of its
	 * own; it replies and calls job_finish().  arg is its own, in the
	 * job's storage (job_copy()). */
	void			(*run)(struct job *j);
	void			*arg;
	size_t			 nbytes;	/* copied so far */
};

struct job_block;

/* A job of kind; returns NULL when out of memory. */
struct job	*job_new(enum job_kind kind);
/* Appends a zeroed op to a write job; returns it, or NULL (ENOMEM). */
struct st_op	*job_add_op(struct job *j);
/* Makes room for n more ops; returns 0 or -1 (ENOMEM). */
int		 job_reserve_ops(struct job *j, size_t n);
/* Makes room for n more bytes of job_copy() in one piece; 0 or -1. */
int		 job_reserve(struct job *j, size_t n);
/*
 * Copies p into the job's own storage, which never moves, so ops may
 * point into it.  Returns the copy, or NULL (ENOMEM).
 */
const void	*job_copy(struct job *j, const void *p, size_t n);
/* Frees the job and closes its descriptor.  NULL-safe. */
void		 job_free(struct job *j);

/* Counts j's outcome (an error code, or SP_OK) for stats: the daemon's
 * and its env's. */
void		 job_note(struct job *j, int code);

/* Runs a fork or JOB_CALL job on the pool, a read on the readers'.
 * (Snapshots and JOB_INBOUND run on threads of their own: snap.c.) */
void		 job_submit(struct job *j);
/* Builds j's reply: the error (rc -1), a snapshot's size, or OK; and
 * counts it. */
void		 job_reply(struct job *j, int rc, const struct sp_error *err,
		    uint64_t size);
/*
 * Answers an mget (with mget) or a missing of keys in db of st (NULL: no
 * env, every key absent) into out, as the reply to request id, reading
 * with slot's transaction (ST_NOSLOT: one of its own).  Every key is
 * checked first (BAD_REQUEST, BAD_KEY with its index).  With revs (the
 * store keeps revisions) the reply says the revision its transaction
 * saw (0 without an env).  Returns 0, or -1 with err and nothing added
 * to out.
 */
int		 job_read_keys(struct sp_buf *out, uint64_t id, bool mget,
		    bool revs, struct st_env *st, unsigned slot, unsigned db,
		    const struct sp_array *keys, struct sp_error *err);
/*
 * Sends a finished job back: drops its env references, then hands it to
 * its post hook (its loop, which sends the reply).  A job whose reply
 * could not be built (out of memory) closes its connection there rather
 * than leave the client waiting.
 */
void		 job_finish(struct job *j);

#endif
