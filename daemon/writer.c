/*
 * writer: each env's queue of write jobs, and group commit.
 *
 * Writes to one env are applied by one pool thread at a time, in the
 * order they arrived; writes to different envs run on different threads
 * at once.  A drain takes the jobs queued so far (up to GROUP_JOBS and
 * GROUP_BYTES) and commits them together: each in a nested transaction,
 * so one failing job fails alone, and all in one commit, so a burst of
 * durable writes costs one sync instead of one each.  Replies are sent
 * only after that commit.  While a group commits, new writes queue up
 * and form the next group, so the busier the env, the larger its groups.
 * After one group the drain goes to the back of the pool's queue if more
 * arrived, so a busy env cannot keep a thread from the others; when
 * nothing else is queued it stays on its thread (pool_requeue()), where
 * handing it to another cost a futex wake and a context switch a group.
 *
 * Under sync = full a commit syncs its data pages only (store.h,
 * st_durable()): its meta page becomes durable with the data sync of the
 * next commit.  So a group is answered once the commit after it is made,
 * when writes are queued behind it (they make that commit soon), or
 * after one explicit sync when none is (an idle env leaves no reply
 * waiting).  A busy env then pays one fdatasync per group, not two.
 * The commit hook (watches) hears of a group at that same point, never
 * at its commit: a watcher learns of no write before its writer could.
 *
 * So while a group commits, the writers of the group before it wait for
 * that commit, and only those answered earlier can form the next group.
 * If the next commit starts with the first of them to write again, the
 * rest are left to the commit after it and three groups take turns (32
 * writers: 10.6 writes a commit).  Waiting until all of them are back
 * makes two groups of half the writers, but leaves the disk idle while
 * they come back, where three groups overlap one group's return with
 * another's commit: two groups of N/2 a commit plus that return beat
 * three of N/3 a commit only when the return takes less than half a
 * commit, and less than that as a larger group's commit takes longer
 * (more pages).  The writer measures how soon the writers it answers
 * come back (expect()) and waits for them all only while that is under
 * a quarter of a commit; never longer than one commit, as for the
 * first of them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"
#include "job.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "sp_msg.h"
#include "store.h"
#include "writer.h"
#include <stdatomic.h>

#define GROUP_JOBS	512
#define GROUP_BYTES	(64 * 1024 * 1024)
/* The outcomes of a group up to this size live on the stack (about 10
 * KiB): workload 5's groups are about 31 writes. */
#define GROUP_ON_STACK	32
/* The longest a group waits for writes to follow it (see drain()). */
#define FLUSH_WAIT_US	1000

#ifndef MIN
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b)	((a) > (b) ? (a) : (b))
#endif

/* An env's write queue and counters, kept with its registry entry. */
struct writer_q {
	struct reg_env		*env;		/* whose */
	pthread_mutex_t		 mtx;		/* guards the queue */
	struct job		*head;
	struct job		*tail;
	unsigned		 len;
	bool			 scheduled;	/* a thread owns the writes */
	struct pool_task	 task;
	/* Groups committed but not durable yet (sync = full), in order,
	 * and the commit count that makes the last of them durable.  The
	 * thread owning the writes only: it always leaves this empty when
	 * it gives them up. */
	struct job		*wait_head;
	struct job		*wait_tail;
	uint64_t		 wait_until;
	uint64_t		 last_us;	/* the last commit took */
	/*
	 * How soon answered writers write again (see drain()): writes
	 * queued since the env opened; the count at which those answered
	 * last will all have come back (0: none awaited) and when it was
	 * reached (0: not yet), noted by writer_submit().
	 */
	uint64_t		 arrivals;
	uint64_t		 back_at;
	uint64_t		 back_us;
	/* Signalled when arrivals reach wake_at while the owner awaits. */
	uint64_t		 wake_at;
	pthread_cond_t		 arrived;
	bool			 awaiting;
	/* The owner only: when it last answered writes, and how long they
	 * took to come back lately (smoothed). */
	uint64_t		 answered_us;
	uint64_t		 return_us;

	/* Counters since the env opened, read by stats. */
	_Atomic uint64_t	 commits;	/* write transactions */
	_Atomic uint64_t	 writes;	/* requests they held */
	_Atomic uint64_t	 commit_us;	/* time spent committing */
	_Atomic uint64_t	 flushes;	/* syncs with nothing behind */
	struct latency		 commit_lat;	/* per commit */
};

static void *
wq_new(struct reg_env *e)
{
	struct writer_q		*q;
	pthread_condattr_t	 ca;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->env = e;
	pthread_mutex_init(&q->mtx, NULL);
	/* behind() waits on the monotonic clock, as the rest of storesd. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->arrived, &ca);
	pthread_condattr_destroy(&ca);
	return q;
}

static void
wq_free(void *p)
{
	struct writer_q	*q = p;

	pthread_cond_destroy(&q->arrived);
	pthread_mutex_destroy(&q->mtx);
	free(q);
}

const struct reg_env_ops writer_env_ops = { wq_new, wq_free };

/* Set once before any write (writer_set_commit_hook()). */
static writer_commit_fn	*commit_hook;
static void		*commit_arg;

void
writer_set_commit_hook(writer_commit_fn *fn, void *arg)
{
	commit_hook = fn;
	commit_arg = arg;
}

/* Builds j's reply from how its part of the group went. */
static void
reply(struct job *j, const struct st_job *r)
{
	char	 msg[SP_ERRMSG_MAX + 32];
	size_t	 mark = j->reply.len;

	job_note(j, r->rc == 0 ? SP_OK : r->err.code);
	if (r->rc == 0) {
		/* The write's revision; none where the env keeps none. */
		if (sp_reply_ok(&j->reply, j->id) == 0 &&
		    st_has_revs(j->env->st))
			sp_reply_add_rev(&j->reply, mark, r->rev);
	} else if (j->batch && r->failed < j->nops) {
		snprintf(msg, sizeof(msg), "op %zu: %s", r->failed, r->err.msg);
		sp_reply_error_at(&j->reply, j->id, r->err.code, msg,
		    r->failed);
	} else
		sp_reply_err(&j->reply, j->id, &r->err);
}

/* Takes the oldest queued jobs, within the group limits. */
static struct job *
take(struct reg_env *e, size_t *n)
{
	struct writer_q	*q = e->ext;
	struct job	*head, *j;
	size_t		 bytes = 0;

	pthread_mutex_lock(&q->mtx);
	head = j = q->head;
	*n = 0;
	while (j != NULL) {
		bytes += j->nbytes;
		(*n)++;
		if (*n == GROUP_JOBS || bytes >= GROUP_BYTES || !j->next)
			break;
		j = j->next;
	}
	if (j != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		j->next = NULL;
		q->len -= (unsigned)*n;
	}
	pthread_mutex_unlock(&q->mtx);
	return head;
}

/* Commits the group batch of n jobs and builds their replies.  Returns
 * 0, or -1 when the commit as a whole failed. */
static int
commit_group(struct reg_env *e, struct job *batch, size_t n)
{
	struct writer_q	*q = e->ext;
	/* Groups this small, the usual ones, need no allocation. */
	struct st_job	 few[GROUP_ON_STACK];
	struct st_job	*r = few;
	struct sp_error	 err;
	struct job	*j;
	size_t		 i;
	int		 rc = -1;

	if (n > GROUP_ON_STACK && (r = malloc(n * sizeof(*r))) == NULL)
		sp_seterr(&err, SP_INTERNAL, "out of memory; retry");
	else {
		uint64_t t0 = clock_now_us();

		/* Not the whole struct: its err (256 bytes of message) is
		 * written by st_write_group() where it fails, read only
		 * then. */
		for (i = 0, j = batch; j; j = j->next, i++) {
			r[i].ops = j->ops;
			r[i].nops = j->nops;
			r[i].failed = 0;
			r[i].rc = 0;
			r[i].rev = 0;
			r[i].err.code = SP_OK;
			r[i].err.msg[0] = '\0';
		}
		rc = st_write_group(e->st, r, n, &err);
		atomic_fetch_add(&q->commits, 1);
		atomic_fetch_add(&q->writes, n);
		t0 = clock_now_us() - t0;
		q->last_us = t0;
		atomic_fetch_add(&q->commit_us, t0);
		lat_add(&q->commit_lat, t0);
	}
	for (i = 0, j = batch; j; j = j->next, i++) {
		j->rev = rc == 0 && r[i].rc == 0 ? r[i].rev : 0;
		if (rc == -1) {
			job_note(j, err.code);
			sp_reply_err(&j->reply, j->id, &err);
		} else
			reply(j, &r[i]);
	}
	if (r != few)
		free(r);
	return rc;
}

/*
 * Tells the commit hook of the writes of list, about to be answered:
 * only now, when they are as durable as their env's sync mode promises
 * (under sync = full, a commit or a sync after theirs), so that no
 * watcher learns of a write its writer could not be told is durable.
 * Called before the writes are given up (release()), so the hook sees
 * them in commit order.
 */
static void
applied(struct reg_env *e, const struct job *list)
{
	const struct job	*j;
	/* The hook hears of up to this many at a time: a group of
	 * workload 5's in one call (one lookup of the env's watches, one
	 * lock of their table), not one call a write. */
	struct st_job		 some[GROUP_ON_STACK];
	size_t			 n = 0;

	if (commit_hook == NULL)
		return;
	for (j = list; j; j = j->next) {
		if (j->rev == 0)
			continue;
		/* Not the whole struct: the hook reads no err of a job
		 * whose rc is 0. */
		some[n].ops = j->ops;
		some[n].nops = j->nops;
		some[n].failed = 0;
		some[n].rc = 0;
		some[n].rev = j->rev;
		if (++n == GROUP_ON_STACK) {
			commit_hook(commit_arg, e, some, n);
			n = 0;
		}
	}
	if (n > 0)
		commit_hook(commit_arg, e, some, n);
}

/*
 * Notes that n writes are about to be answered, after learning how
 * soon as many writes followed the ones answered before: all of them,
 * or not yet (then at least this long).  Returns how many writes were
 * queued so far, or 0 when n is 0 (nothing to await).
 */
static uint64_t
expect(struct writer_q *q, size_t n)
{
	uint64_t	 now, since, took;

	if (n == 0)
		return 0;
	now = clock_now_us();
	pthread_mutex_lock(&q->mtx);
	since = q->arrivals;
	if (q->back_at != 0) {
		/* Past the longest wait, any time is too long (an idle env
		 * is not slow to come back). */
		took = (q->back_us != 0 ? q->back_us : now) - q->answered_us;
		took = MIN(took, FLUSH_WAIT_US);
		q->return_us = q->return_us - q->return_us / 8 + took / 8;
	}
	q->back_at = since + n;
	q->back_us = 0;
	pthread_mutex_unlock(&q->mtx);
	q->answered_us = now;
	return since;
}

/*
 * True when writes wait in q behind the group just committed, or arrive
 * within us microseconds; when want > 0, once want writes were queued
 * since the count since, or within us.
 */
static bool
behind(struct writer_q *q, uint64_t us, uint64_t since, uint64_t want)
{
	struct timespec	 ts;
	uint64_t	 ns;
	bool		 more;

	pthread_mutex_lock(&q->mtx);
	if ((q->head == NULL || q->arrivals - since < want) && us > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (uint64_t)ts.tv_nsec + us * 1000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		q->wake_at = MAX(since + want, q->arrivals + 1);
		q->awaiting = true;
		while ((q->head == NULL || q->arrivals - since < want) &&
		    pthread_cond_timedwait(&q->arrived, &q->mtx, &ts) == 0)
			;
		q->awaiting = false;
	}
	more = q->head != NULL;
	pthread_mutex_unlock(&q->mtx);
	return more;
}

/* Moves the waiting groups to the end of *done when they are durable. */
static void
durable(struct reg_env *e, struct job **done)
{
	struct writer_q	*q = e->ext;

	if (q->wait_head == NULL || st_durable(e->st) < q->wait_until)
		return;
	while (*done != NULL)
		done = &(*done)->next;
	*done = q->wait_head;
	q->wait_head = q->wait_tail = NULL;
}

/* Adds the group batch, just committed, to the waiting ones. */
static void
wait_add(struct reg_env *e, struct job *batch)
{
	struct writer_q	*q = e->ext;

	if (q->wait_tail != NULL)
		q->wait_tail->next = batch;
	else
		q->wait_head = batch;
	while (batch->next != NULL)
		batch = batch->next;
	q->wait_tail = batch;
	q->wait_until = st_commits(e->st);
}

/*
 * Makes the waiting groups durable with one sync.  When it fails their
 * commits are applied but may not be on disk, so each is answered
 * IO_ERROR instead of the success built for it.
 */
static void
flush(struct reg_env *e)
{
	struct writer_q	*q = e->ext;
	struct sp_error	 err;
	struct job	*j;

	atomic_fetch_add(&q->flushes, 1);
	if (st_flush(e->st, &err) == 0)
		return;
	/* Their events are not sent either: the hook hears of none.  (A
	 * watch with history sends them once a later commit is durable:
	 * they are in its history.) */
	for (j = q->wait_head; j; j = j->next) {
		j->rev = 0;
		job_note(j, err.code);
		j->reply.len = 0;
		sp_reply_error(&j->reply, j->id, err.code, err.msg);
	}
	q->wait_until = 0;
}

/* Hands the jobs of list back; returns how many there were. */
static size_t
finish(struct job *list)
{
	struct job	*j, *next;
	size_t		 n = 0;

	for (j = list; j; j = next, n++) {
		next = j->next;
		j->next = NULL;
		job_finish(j);
	}
	return n;
}

/* Gives up ownership of e's writes, handing queued ones to the pool. */
static void
release(struct reg_env *e, struct pool *pool)
{
	struct writer_q	*q = e->ext;

	pthread_mutex_lock(&q->mtx);
	if (q->head != NULL)
		pool_requeue(pool, &q->task);
	else
		q->scheduled = false;
	pthread_mutex_unlock(&q->mtx);
}

static void
drain(struct pool_task *t)
{
	struct writer_q	*q = (struct writer_q *)((char *)t -
	    offsetof(struct writer_q, task));
	struct reg_env	*e = q->env;
	struct job	*batch, *done = NULL, *failed = NULL, **tail, *j;
	struct pool	*pool;
	size_t		 n, answered;
	uint64_t	 us = 0, made, since, want = 0;
	int		 rc;

	if ((batch = take(e, &n)) == NULL)
		return;		/* cannot happen: we are scheduled with work */
	pool = batch->d->pool;
	made = st_commits(e->st);
	rc = commit_group(e, batch, n);
	made = st_commits(e->st) - made;

	/*
	 * The groups before this one are durable now that it is made (or
	 * in any mode but sync = full): answer them at once, so that their
	 * writers can write again while this group waits.  It holds the
	 * env meanwhile.
	 */
	durable(e, &done);
	/* A failed commit made nothing to wait for: its own error stands,
	 * answered after the groups before it. */
	if (rc == -1)
		failed = batch;
	else
		wait_add(e, batch);
	applied(e, done);
	for (answered = 0, j = done; j; j = j->next)
		answered++;
	since = expect(q, answered);
	if (finish(done) > 0)
		us = MIN(q->last_us, FLUSH_WAIT_US);
	done = NULL;
	if (answered > 0 && q->return_us < q->last_us / 4)
		want = answered;

	/*
	 * This group is made durable by the next commit when writes are
	 * queued for one, else by a sync of its own (an idle env leaves no
	 * reply waiting; a failed commit's cause may fail the next ones).
	 * The writers just answered usually write again within a round
	 * trip, so they are given up to one commit's time first: one sync
	 * then serves two groups.  The next commit waits for all of them
	 * when they lately came back within a quarter of a commit (see the
	 * top of this file), else it starts with the first.  A commit that
	 * changed nothing synced nothing (store.c, committed()): the
	 * groups waiting are synced now, or a stream of such commits
	 * (writers retrying a failing condition) would keep them waiting
	 * for good.
	 */
	if (st_durable(e->st) < q->wait_until &&
	    (rc == -1 || made == 0 || !behind(q, us, since, want)))
		flush(e);
	durable(e, &done);
	applied(e, done);
	for (tail = &done; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = failed;

	/*
	 * Decide on the next drain while our jobs still hold the env: once
	 * they are finished, it may be closed and freed.  Jobs left waiting
	 * hold it too, and a drain is then queued (writes are).
	 */
	release(e, pool);
	finish(done);
}

void
writer_counters(struct reg_env *e, struct sp_counter *c)
{
	struct writer_q	*q = e->ext;

	c[0] = (struct sp_counter){ "commits", atomic_load(&q->commits) };
	c[1] = (struct sp_counter){ "writes", atomic_load(&q->writes) };
	c[2] = (struct sp_counter){ "commit_us", atomic_load(&q->commit_us) };
	c[3] = (struct sp_counter){ "flushes", atomic_load(&q->flushes) };
	pthread_mutex_lock(&q->mtx);
	c[4] = (struct sp_counter){ "write_queue", q->len };
	pthread_mutex_unlock(&q->mtx);
	lat_export(&q->commit_lat, &c[5]);
}

/*
 * Commits jobs (a list of n write jobs of env e) right here, when e has
 * no write queued or running: for sync = none envs, whose commits wait
 * on no disk and are durable as promised once made (so no group waits
 * for st_durable()), on the I/O thread that received them.  Returns true
 * when they were committed (their replies are built; the caller finishes
 * them), false when they had to join e's queue instead: behind writes
 * queued there, or because another process has e open (its writer could
 * make the commit wait).
 */
static bool
writer_inline(struct reg_env *e, struct job *jobs, size_t n)
{
	struct writer_q	*q = e->ext;
	struct job	*j, *next;
	bool		 own, alone = !st_shared(e->st);

	/* Another process's writer could make the commit wait: not here. */
	pthread_mutex_lock(&q->mtx);
	own = alone && !q->scheduled && q->head == NULL;
	if (own)
		q->scheduled = true;
	pthread_mutex_unlock(&q->mtx);
	if (!own) {
		/* Behind writes already queued: keep the order. */
		for (j = jobs; j; j = next) {
			next = j->next;
			writer_submit(j);
		}
		return false;
	}
	q->task.fn = drain;
	commit_group(e, jobs, n);
	/* sync = none: durable as promised once made. */
	applied(e, jobs);
	release(e, jobs->d->pool);
	return true;
}

void
writer_defer(struct writer_turn *t, struct job *j)
{
	j->next = NULL;
	if (t->tail)
		t->tail->next = j;
	else
		t->head = j;
	t->tail = j;
}

/* Takes the jobs of the first job's env out of *list, in order. */
static struct job *
take_env(struct job **list, size_t *n)
{
	struct job	*mine = NULL, **tail = &mine, **pp = list, *j;
	struct reg_env	*e = (*list)->env;

	*n = 0;
	while ((j = *pp) != NULL) {
		if (j->env != e) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->next = NULL;
		*tail = j;
		tail = &j->next;
		(*n)++;
	}
	return mine;
}

/* Commits the turn's deferred writes, one group per env. */
void
writer_turn_end(void *arg)
{
	struct writer_turn	*t = arg;
	struct job		*list = t->head, *mine, *j, *next;
	struct reg_env		*e;
	size_t			 n;

	t->head = t->tail = NULL;
	while (list != NULL) {
		mine = take_env(&list, &n);
		e = mine->env;
		if (!writer_inline(e, mine, n))
			continue;
		for (j = mine; j; j = next) {
			next = j->next;
			reg_release(t->reg, j->env);
			j->env = NULL;
			t->done(j);
		}
	}
}

void
writer_submit(struct job *j)
{
	struct writer_q	*q = j->env->ext;
	bool		 schedule;

	j->next = NULL;
	pthread_mutex_lock(&q->mtx);
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->len++;
	if (++q->arrivals == q->back_at)
		q->back_us = clock_now_us();
	schedule = !q->scheduled;
	q->scheduled = true;
	if (q->awaiting && q->arrivals >= q->wake_at)
		pthread_cond_signal(&q->arrived);
	if (schedule) {
		q->task.fn = drain;
		pool_submit(j->d->pool, &q->task);
	}
	pthread_mutex_unlock(&q->mtx);
}
