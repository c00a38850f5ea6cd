/*
 * writer: each env's queue of write jobs.
 *
 * Writes to one env are applied by one pool thread at a time, in the
 * order they arrived; writes to different envs run on different threads
 * at once.  A drain takes every job queued so far, so a later change can
 * commit them together (group commit) without changing the queue.  After
 * one batch the drain goes to the back of the pool's queue if more
 * arrived, so a busy env cannot keep a thread from the others.
 */
#include <stddef.h>
#include <stdio.h>

#include "daemon.h"
#include "job.h"
#include "pool.h"
#include "registry.h"
#include "sp_msg.h"
#include "store.h"

static void
apply(struct job *j)
{
	struct sp_error	 err;
	size_t		 failed;

	char		 msg[SP_ERRMSG_MAX + 32];

	if (st_write(j->env->st, j->ops, j->nops, &failed, &err) == 0)
		sp_reply_ok(&j->reply, j->id);
	else if (j->batch && failed < j->nops) {
		snprintf(msg, sizeof(msg), "op %zu: %s", failed, err.msg);
		sp_reply_error_at(&j->reply, j->id, err.code, msg, failed);
	} else
		sp_reply_error(&j->reply, j->id, err.code, err.msg);
}

static void
drain(struct pool_task *t)
{
	struct reg_env	*e = (struct reg_env *)((char *)t -
	    offsetof(struct reg_env, wq_task));
	struct job	*batch, *j, *next;
	struct pool	*pool;

	pthread_mutex_lock(&e->wq_mtx);
	batch = e->wq_head;
	e->wq_head = e->wq_tail = NULL;
	pthread_mutex_unlock(&e->wq_mtx);
	if (batch == NULL)
		return;		/* cannot happen: we are scheduled with work */
	pool = batch->d->pool;

	for (j = batch; j; j = j->next)
		apply(j);

	/*
	 * Decide on the next drain while our jobs still hold the env: once
	 * they are finished, it may be closed and freed.
	 */
	pthread_mutex_lock(&e->wq_mtx);
	if (e->wq_head != NULL)
		pool_submit(pool, &e->wq_task);
	else
		e->wq_scheduled = false;
	pthread_mutex_unlock(&e->wq_mtx);

	for (j = batch; j; j = next) {
		next = j->next;
		j->next = NULL;
		job_finish(j);
	}
}

void
job_submit_write(struct job *j)
{
	struct reg_env	*e = j->env;
	bool		 schedule;

	j->next = NULL;
	pthread_mutex_lock(&e->wq_mtx);
	if (e->wq_tail)
		e->wq_tail->next = j;
	else
		e->wq_head = j;
	e->wq_tail = j;
	schedule = !e->wq_scheduled;
	e->wq_scheduled = true;
	if (schedule) {
		e->wq_task.fn = drain;
		pool_submit(j->d->pool, &e->wq_task);
	}
	pthread_mutex_unlock(&e->wq_mtx);
}
