/*
 * writer: each env's queue of write jobs, and group commit.
 *
 * Owns: the write queue of every env (struct writer_q, private to
 * writer.c) with its counters (commits, writes, commit time and its
 * latency), and the order in which one env's writes are applied: one
 * pool thread at a time, in the order they arrived.  Below the handler
 * and the loop: it learns of a finished job only to build its reply,
 * and hands it back through the job (job_finish()).
 *
 * Threads: every function is thread-safe.
 */
#ifndef WRITER_H
#define WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "counters.h"
#include "sp_msg.h"

struct job;
struct reg_env;

/* The writer's counters of an env, for stats. */
#define WRITER_NCOUNTERS	(4 + LAT_NCOUNTERS)
void	writer_counters(struct reg_env *e, struct sp_counter *c);

/* Queues a write job on its env's writer queue. */
void	writer_submit(struct job *j);
/*
 * Commits jobs (a list of n write jobs of env e) right here, when e has
 * no write queued or running: for sync = none envs, whose commits wait
 * on no disk, on the I/O thread that received them.  Returns true when
 * they were committed (their replies are built; the caller finishes
 * them), false when they had to join e's queue instead.
 */
bool	writer_inline(struct reg_env *e, struct job *jobs, size_t n);

#endif
