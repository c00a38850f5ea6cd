/*
 * writer: each env's queue of write jobs, and group commit.
 *
 * Owns: the write queue of every env (struct writer_q, private to
 * writer.c; the registry keeps it with the env as an opaque pointer)
 * with its counters (commits, writes, commit time and its latency); the
 * order in which one env's writes are applied: one pool thread at a
 * time, in the order they arrived; and each I/O thread's writes deferred
 * to the end of its turn (struct writer_turn).  Below the handler and
 * the loop: it builds a finished job's reply and hands the job back
 * through the job's own hook (job_finish()) or the turn's.
 *
 * Threads: every function is thread-safe but the writer_turn ones,
 * which run on the turn's I/O thread.
 */
#ifndef WRITER_H
#define WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "counters.h"
#include "sp_msg.h"

struct job;
struct reg_env;
struct reg_env_ops;
struct registry;
struct st_job;

/* What the registry keeps with each env for the writer: its queue
 * (reg_set_env_ops(reg, &writer_env_ops), before any env opens). */
extern const struct reg_env_ops writer_env_ops;

/* The writer's counters of an env, for stats. */
#define WRITER_NCOUNTERS	(5 + LAT_NCOUNTERS)
void	writer_counters(struct reg_env *e, struct sp_counter *c);

/*
 * Told of the writes that applied, in one or more calls, once they are
 * as durable as the env's sync mode promises (under sync = full, after
 * the commit or sync that follows theirs; see st_durable()) and just
 * before their writers are answered, on the thread that owns the env's
 * writes, in the env's commit order: jobs[i].rc 0 applied with revision
 * jobs[i].rev.  Writes answered IO_ERROR because that sync failed are
 * not told.  The layer above (watches) sets it once, before any write;
 * it must not block.
 */
typedef void	writer_commit_fn(void *arg, struct reg_env *e,
		    const struct st_job *jobs, size_t n);
void	writer_set_commit_hook(writer_commit_fn *fn, void *arg);

/* Queues a write job on its env's writer queue. */
void	writer_submit(struct job *j);

/*
 * One I/O thread's small writes to sync = none envs, kept for the end of
 * its event-loop turn, when the writes of all connections served in the
 * turn are committed together on that thread (one group per env) or, if
 * the env is busy, queued for the pool.  No transaction spans the turn.
 * The thread's owner (the handler) fills in reg and done, and runs
 * writer_turn_end() as an end-of-turn hook of its loop.
 */
struct writer_turn {
	struct registry	*reg;		/* where the jobs' envs are released */
	/* Takes a job committed in the turn: its reply is built. */
	void		(*done)(struct job *j);
	struct job	*head;
	struct job	*tail;
};

/* Keeps the write job j for the end of t's turn. */
void	writer_defer(struct writer_turn *t, struct job *j);
/* The end-of-turn hook: commits t's deferred writes (t is arg). */
void	writer_turn_end(void *arg);

#endif
