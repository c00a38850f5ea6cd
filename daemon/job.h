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
 * Also owns each I/O loop's job cache (struct job_cache): finished jobs
 * of small requests, kept with their op array, copy storage and reply
 * buffer for the loop's next requests, so that a write costs no
 * allocation.  A job goes back to its cache where it is freed, which is
 * always its loop's thread (a job finished on a pool thread is posted
 * there first).
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
	struct job		*next;		/* env queue, then loop queue,
						 * then its cache's free list */
	struct job_cache	*cache;		/* where job_free() keeps it */
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
	/* Run by job_finish(), however the job ended (run, or refused
	 * unrun): lets go of what its arg holds.  NULL: nothing. */
	void			(*end)(struct job *j);
	/* Run by job_finish() first, with vacate_arg: gives back what
	 * the one running j holds for it (snap.c: a JOB_INBOUND's
	 * snapshot_max place), so that it is free before the reply can
	 * reach the client.  Set by the runner, apart from end, which is
	 * the request's.  NULL: nothing. */
	void			(*vacate)(struct job *j, void *arg);
	void			*vacate_arg;
	size_t			 nbytes;	/* copied so far */
};

struct job_block;

/*
 * Finished jobs kept for reuse, one cache per I/O loop, used on that
 * loop's thread only.  Bounded: at most JOB_CACHE_MAX jobs, each with at
 * most JOB_KEEP_OPS ops and JOB_KEEP_BYTES of copy storage and of reply
 * (a job that grew larger is freed whole), so a loop's cache holds
 * about 300 KiB at most, however many requests it served.  Zeroed: an
 * empty cache.
 */
struct job_cache {
	struct job	*free;
	unsigned	 n;
};

#define JOB_CACHE_MAX	64
#define JOB_KEEP_OPS	8
#define JOB_KEEP_BYTES	2048

/*
 * A job of kind, from jc when it has one (NULL: none); returns NULL when
 * out of memory.  A job from a cache goes back to it in job_free(),
 * which must then run on the cache's thread.
 */
struct job	*job_new(struct job_cache *jc, enum job_kind kind);
/* Frees the jobs jc keeps; jc is empty afterwards.  No job of jc may
 * be alive any more. */
void		 job_cache_fini(struct job_cache *jc);
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
/*
 * Closes the job's descriptor and frees it, or keeps it in its cache
 * (job_new()) when that has room and the job stayed small.  NULL-safe.
 */
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
 * Sends a finished job back: runs its vacate hook, drops its env
 * references (and runs its end hook), then hands it to
 * its post hook (its loop, which sends the reply).  A job whose reply
 * could not be built (out of memory) closes its connection there rather
 * than leave the client waiting.
 */
void		 job_finish(struct job *j);

#endif
