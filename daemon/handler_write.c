/*
 * handler_write: put, del and batches, turned into jobs for the env's
 * writer queue.  Every write request is one job and one atomic transaction:
 * conditional puts and dels are small batches (an expect, then the
 * write), and a batch streamed over several frames is gathered here, in
 * the connection, and becomes one job at its last frame.  No LMDB
 * transaction exists while its frames arrive, and a connection that
 * closes before the last frame applies nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "daemon.h"
#include "handler.h"
#include "handler_int.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "registry.h"
#include "store.h"
#include "watch.h"
#include "writer.h"

#define MAX_OPEN_BATCHES	64	/* streamed batches per connection */
#define MAX_FAILED_BATCHES	64	/* failed, their last frame to come */

/*
 * A batch whose frames are still arriving, or one that failed and waits
 * for its last frame (job NULL, st NULL when its first frame failed):
 * until then its later frames are answered with its error, so that none
 * of them can start the batch afresh and commit a part of it.
 */
struct pbatch {
	struct pbatch		*next;
	uint64_t		 bid;
	const struct cfg_store	*st;
	char			 repo[SP_REPO_MAX + 1];	/* "": fixed path */
	unsigned		 db;
	struct job		*job;		/* NULL once it failed */
	struct sp_error		 err;		/* why it failed */
	bool			 creates;	/* holds a put */
};

/*
 * Appends (kind, db, key, val) to j.  With copy, key and val are copied
 * into the job; without, they must already be the job's (a batch copies
 * its frame's ops whole, then points into that).  0 or -1 (ENOMEM).
 */
static int
add_op(struct job *j, enum st_opkind kind, unsigned db, struct sp_bytes key,
    struct sp_bytes val, bool copy)
{
	struct st_op	*op;

	if ((op = job_add_op(j)) == NULL)
		return -1;
	op->kind = kind;
	op->db = db;
	op->klen = key.n;
	op->vlen = val.n;
	op->key = key.p;
	op->val = val.p;
	if (copy && ((key.p && (op->key = job_copy(j, key.p, key.n)) == NULL) ||
	    (val.p && (op->val = job_copy(j, val.p, val.n)) == NULL)))
		return -1;
	return 0;
}

/*
 * With no env on disk, a write that creates nothing needs no env either:
 * an expect fails (COND_FAILED at its index), everything else is done.
 */
static int
without_env(struct conn *c, struct job *j, uint64_t id, struct sp_error *err)
{
	size_t	 i;
	int	 rc = 0;

	for (i = 0; i < j->nops && rc == 0; i++) {
		if (j->ops[i].kind == ST_EXPECT)
			rc = j->batch ? sp_seterr_at(err, i, SP_COND_FAILED,
			    "op %zu: the key is absent; nothing was written",
			    i) : sp_seterr(err, SP_COND_FAILED, "the key is "
			    "absent; nothing was written");
		else if (j->ops[i].kind == ST_DEL)
			rc = sp_seterr(err, SP_NOT_FOUND, "no such key");
	}
	job_free(j);
	if (rc == 0 && sp_reply_ok(conn_out(c), id) == -1)
		rc = sp_seterr(err, SP_INTERNAL, "out of memory");
	return rc;
}

/*
 * Takes the env for j (unless j->env is set already) and sends j; frees
 * j when it cannot.  REG_AGAIN: nothing was done, retry the request.
 */
static int
commit(struct conn *c, const struct target *t, struct job *j, bool creates,
    uint64_t id, struct sp_error *err)
{
	/* create = explicit: only create and restore make envs. */
	bool			 make = creates && !t->st->create_explicit;
	const struct reg_key	*k;
	int			 rc;

	if (j->env != NULL)
		rc = 0;
	else if ((k = handler_env_key(c, t->st, t->repo, err)) == NULL)
		rc = -1;
	else	/* the loop keeps the env's key, as for reads */
		rc = reg_acquire_key(c->loop->d->reg, t->st, t->repo, k, make,
		    &j->env, err);
	if (rc != 0) {
		j->env = NULL;
		if (rc == -1 && err->code == SP_NOT_FOUND && !creates)
			return without_env(c, j, id, err);
		job_free(j);
		if (rc == -1 && err->code == SP_NOT_FOUND && creates)
			return sp_seterr(err, SP_NO_REPO, "repo %.*s has no env "
			    "for store %s, which has create = explicit; make "
			    "it first (storectl -r %.*s create %s, or restore "
			    "a snapshot)", (int)t->repo.n, t->repo.p,
			    t->st->name, (int)t->repo.n, t->repo.p,
			    t->st->name);
		return rc;
	}
	handler_send_job(c, j, id);
	return 0;
}

static int
nomem(struct job *j, struct sp_error *err)
{
	job_free(j);
	return sp_seterr(err, SP_INTERNAL, "out of memory");
}

int
handler_put(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct target	 t;
	struct job	*j;
	bool		 cond = (rq->has & SP_F_IF_EQUALS) != 0;

	if (handler_resolve(c, rq, true, &t, err) == -1 ||
	    handler_check_key(rq->key, err) == -1)
		return -1;
	if ((j = job_new(&c->loop->hl->jobs, JOB_WRITE)) == NULL ||
	    job_reserve(j, rq->key.n * 2 + rq->val.n + rq->if_equals.n) == -1)
		return nomem(j, err);
	if ((cond && add_op(j, ST_EXPECT, t.db, rq->key, rq->if_equals,
	    true) == -1) || add_op(j, rq->if_absent ? ST_PUT_IF_ABSENT : ST_PUT,
	    t.db, rq->key, rq->val, true) == -1)
		return nomem(j, err);
	/* Only a put that may happen creates the env: not one that must
	 * find an old value first. */
	return commit(c, &t, j, !cond, rq->id, err);
}

int
handler_del(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct target	 t;
	struct job	*j;
	struct sp_bytes	 none = { NULL, 0 };

	if (handler_resolve(c, rq, true, &t, err) == -1 ||
	    handler_check_key(rq->key, err) == -1)
		return -1;
	if ((j = job_new(&c->loop->hl->jobs, JOB_WRITE)) == NULL ||
	    job_reserve(j, rq->key.n * 2 + rq->if_equals.n) == -1)
		return nomem(j, err);
	if (((rq->has & SP_F_IF_EQUALS) && add_op(j, ST_EXPECT, t.db, rq->key,
	    rq->if_equals, true) == -1) || add_op(j, ST_DEL, t.db, rq->key,
	    none, true) == -1)
		return nomem(j, err);
	return commit(c, &t, j, false, rq->id, err);
}

/* ------------------------------------------------------------- batches */

static const enum st_opkind kind_of[] = {
	[SP_BATCH_PUT]		 = ST_PUT,
	[SP_BATCH_DEL]		 = ST_DEL_ANY,
	[SP_BATCH_PUT_IF_ABSENT] = ST_PUT_IF_ABSENT,
	[SP_BATCH_EXPECT]	 = ST_EXPECT,
	[SP_BATCH_EXPECT_ABSENT] = ST_EXPECT_ABSENT,
	[SP_BATCH_CLEAR]	 = ST_CLEAR,
};

/*
 * Checks the ops of one frame and adds them to j.  The frame's ops are
 * copied into the job in one piece, and the job's ops point into that
 * copy: one copy per frame rather than two per op.  Ops are numbered
 * from the first of the whole batch (j->nops before).  *creates is set
 * when one of them may create the env.  Returns 0, or -1 with err
 * naming the op.
 */
static int
add_ops(const struct target *t, const struct sp_req *rq, struct job *j,
    bool *creates, struct sp_error *err)
{
	struct sp_mp_rd		 rd;
	struct sp_batch_op	 op;
	struct sp_error		 e;
	const void		*raw;
	size_t			 i, base = j->nops;
	int			 db;

	if ((raw = job_copy(j, rq->ops.raw.p, rq->ops.raw.n)) == NULL ||
	    job_reserve_ops(j, rq->ops.n) == -1)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	sp_mp_rd_init(&rd, raw, rq->ops.raw.n);
	for (i = base; i < base + rq->ops.n; i++) {
		if (sp_batch_next(&rd, &op, &e) == -1 ||
		    (op.key.p && handler_check_key(op.key, &e) == -1))
			return sp_seterr_at(err, i, e.code, "op %zu: %s", i,
			    e.msg);
		db = op.db.p ? handler_resolve_db(t->st, op.db, &e) : (int)t->db;
		if (db == -1)
			return sp_seterr_at(err, i, e.code, "op %zu: %s", i,
			    e.msg);
		if (add_op(j, kind_of[op.kind], (unsigned)db, op.key,
		    op.val, false) == -1)
			return sp_seterr(err, SP_INTERNAL, "out of memory");
		if (op.kind == SP_BATCH_PUT || op.kind == SP_BATCH_PUT_IF_ABSENT)
			*creates = true;
	}
	return 0;
}

static struct pbatch *
find_batch(struct conn *c, uint64_t bid, struct pbatch ***prev)
{
	struct pbatch	**pp;

	for (pp = &c->hc->batches; *pp; pp = &(*pp)->next) {
		if ((*pp)->bid == bid) {
			if (prev)
				*prev = pp;
			return *pp;
		}
	}
	return NULL;
}

/*
 * Whether the batch whose last frame rq is may create its env: a put
 * buffered before, or one in this frame.  The env is then opened for
 * creating before the batch is touched (an open may have to be retried).
 */
static bool
may_create(struct conn *c, const struct sp_req *rq)
{
	struct pbatch		*pb = find_batch(c, rq->bid, NULL);
	struct sp_batch_op	 op;
	struct sp_mp_rd		 rd;
	struct sp_error		 e;
	size_t			 i;

	if (pb != NULL && pb->job != NULL && pb->creates)
		return true;
	sp_mp_rd_init(&rd, rq->ops.raw.p, rq->ops.raw.n);
	for (i = 0; i < rq->ops.n && sp_batch_next(&rd, &op, &e) == 0; i++)
		if (op.kind == SP_BATCH_PUT || op.kind == SP_BATCH_PUT_IF_ABSENT)
			return true;
	return false;
}

/* Forgets the batch bid's buffered ops and the batch itself. */
static void
drop_batch(struct conn *c, struct pbatch **pp)
{
	struct pbatch	*pb = *pp;

	*pp = pb->next;
	if (pb->job) {
		c->hc->batch_bytes -= pb->job->nbytes;
		job_free(pb->job);
	}
	cfg_drop(pb->st);
	free(pb);
}

/* A failed batch keeps its (first) error for the frames still on their
 * way. */
static void
fail_batch(struct conn *c, struct pbatch *pb, const struct sp_error *err)
{
	if (pb->job == NULL)
		return;
	c->hc->batch_bytes -= pb->job->nbytes;
	job_free(pb->job);
	pb->job = NULL;
	pb->err = *err;
}

/* How many of c's batches are open (failed: with open false). */
static unsigned
count_batches(const struct conn *c, bool open)
{
	const struct pbatch	*x;
	unsigned		 n = 0;

	for (x = c->hc->batches; x; x = x->next)
		n += (x->job != NULL) == open;
	return n;
}

/*
 * A later frame of batch pb must name its store, repo and db.  After a
 * reload the store may be a newer version of the one the batch began
 * with: fine while its env is the same, and then the batch goes on with
 * it.  Returns 0, or -1 with err.
 */
static int
same_target(struct pbatch *pb, const struct target *t, struct sp_error *err)
{
	size_t	 n = strlen(pb->repo);

	if (strcmp(pb->st->name, t->st->name) != 0 || pb->db != t->db ||
	    (t->repo.p == NULL ? n != 0 : t->repo.n != n ||
	    memcmp(t->repo.p, pb->repo, n) != 0))
		return sp_seterr(err, SP_BAD_REQUEST, "batch %llu was started "
		    "for another store, repo or db",
		    (unsigned long long)pb->bid);
	if (pb->st != t->st) {
		if (!cfg_store_same_env(pb->st, t->st))
			return sp_seterr_busy(err, 1, "store %s was "
			    "reconfigured while batch %llu was open; abort it "
			    "and send it again", t->st->name,
			    (unsigned long long)pb->bid);
		cfg_hold(t->st);
		cfg_drop(pb->st);
		pb->st = t->st;
	}
	return 0;
}

static struct pbatch *
new_batch(struct conn *c, const struct target *t, uint64_t bid,
    struct sp_error *err)
{
	struct pbatch	*pb;
	unsigned	 n = count_batches(c, true);

	if (n >= MAX_OPEN_BATCHES) {
		sp_seterr(err, SP_BUSY, "%u streamed batches are open on this "
		    "connection; commit or abort one first", n);
		return NULL;
	}
	if ((pb = calloc(1, sizeof(*pb))) == NULL ||
	    (pb->job = job_new(&c->loop->hl->jobs, JOB_WRITE)) == NULL) {
		free(pb);
		sp_seterr(err, SP_INTERNAL, "out of memory");
		return NULL;
	}
	pb->bid = bid;
	cfg_hold(t->st);	/* pb outlives the turn t->st was read in */
	pb->st = t->st;
	pb->db = t->db;
	if (t->repo.p)
		memcpy(pb->repo, t->repo.p, t->repo.n);
	pb->next = c->hc->batches;
	c->hc->batches = pb;
	return pb;
}

/* A frame of a streamed batch (bid): buffered, or the last one. */
static int
stream_batch(struct conn *c, const struct sp_req *rq, const struct target *t,
    struct sp_error *err)
{
	struct pbatch	*pb, **pp;
	struct job	*j;
	struct reg_env	*env = NULL;
	uint64_t	 max = c->loop->d->cfg->max_batch;
	size_t		 before;
	bool		 creates;
	int		 rc;

	/*
	 * The last frame takes its env before it touches the batch, so that
	 * an env that is busy for a moment (REG_AGAIN) leaves the frame
	 * whole to be handled again.  No env yet: the commit creates it.
	 */
	if (!rq->more && (rc = reg_acquire(c->loop->d->reg, t->st, t->repo,
	    may_create(c, rq), &env, err)) != 0) {
		if (rc == REG_AGAIN || err->code != SP_NOT_FOUND)
			return rc;
		env = NULL;
	}
	/* Every failure below fails the batch: handler_batch_failed(). */
	if ((pb = find_batch(c, rq->bid, &pp)) == NULL) {
		if ((pb = new_batch(c, t, rq->bid, err)) == NULL)
			goto refused;
		pp = &c->hc->batches;
	} else if (pb->job == NULL) {
		/* Failed earlier: say so until its last frame. */
		*err = pb->err;
		goto refused;
	} else if (same_target(pb, t, err) == -1)
		goto refused;
	j = pb->job;
	before = j->nbytes;
	if (add_ops(t, rq, j, &pb->creates, err) == -1)
		goto refused;
	c->hc->batch_bytes += j->nbytes - before;
	if (c->hc->batch_bytes > max) {
		sp_seterr(err, SP_TOO_LARGE, "streamed batches on this "
		    "connection hold more than max_batch (%llu bytes); commit "
		    "smaller batches or raise max_batch",
		    (unsigned long long)max);
		goto refused;
	}
	if (rq->more)
		return sp_reply_ok(conn_out(c), rq->id) == -1 ?
		    sp_seterr(err, SP_INTERNAL, "out of memory") : 0;
	/* The last frame: the whole batch becomes one job. */
	creates = pb->creates;
	pb->job = NULL;
	c->hc->batch_bytes -= j->nbytes;
	drop_batch(c, pp);
	j->batch = true;
	j->env = env;
	/* The batch is gone now: it cannot be handled again. */
	if ((rc = commit(c, t, j, creates, rq->id, err)) == REG_AGAIN)
		return sp_seterr_busy(err, SP_RETRY_REOPEN_MS, "the env was "
		    "being closed or resized just as batch %llu was "
		    "committed; nothing was written, send the batch again",
		    (unsigned long long)rq->bid);
	return rc;
refused:
	if (env != NULL)
		reg_release(c->loop->d->reg, env);
	return -1;
}

/*
 * Any error on a frame that carries a bid fails that batch whole: its
 * ops are dropped at once, and the batch is forgotten at its last frame
 * (or by batch_abort).  A batch unknown until now, refused at its first
 * frame, is remembered as failed as well, or its later frames would
 * start it afresh and commit a part of it.  A connection that leaves
 * MAX_FAILED_BATCHES such batches unended is closed once its replies are
 * out, rather than forget one of them.
 */
void
handler_batch_failed(struct conn *c, const struct sp_req *rq,
    const struct sp_error *err)
{
	struct pbatch	*pb, **pp;

	if ((pb = find_batch(c, rq->bid, &pp)) != NULL) {
		if (rq->more)
			fail_batch(c, pb, err);
		else
			drop_batch(c, pp);
		return;
	}
	if (!rq->more)
		return;
	if (count_batches(c, false) >= MAX_FAILED_BATCHES) {
		log_notice("%s: connection %llu left %d failed streamed "
		    "batches without their last frame; closing it", __func__,
		    (unsigned long long)c->serial, MAX_FAILED_BATCHES);
		conn_end_input(c);
		return;
	}
	if ((pb = calloc(1, sizeof(*pb))) == NULL) {
		log_warnx("%s: out of memory; closing connection %llu, whose "
		    "failed batch cannot be remembered", __func__,
		    (unsigned long long)c->serial);
		conn_end_input(c);
		return;
	}
	pb->bid = rq->bid;
	pb->err = *err;
	pb->next = c->hc->batches;
	c->hc->batches = pb;
}

int
handler_batch(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct target	 t;
	struct job	*j;
	bool		 creates = false;

	if (handler_resolve(c, rq, true, &t, err) == -1)
		return -1;
	if (rq->has & SP_F_BID)
		return stream_batch(c, rq, &t, err);
	if ((j = job_new(&c->loop->hl->jobs, JOB_WRITE)) == NULL)
		return nomem(NULL, err);
	j->batch = true;
	if (add_ops(&t, rq, j, &creates, err) == -1) {
		job_free(j);
		return -1;
	}
	return commit(c, &t, j, creates, rq->id, err);
}

int
handler_batch_abort(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct pbatch	**pp;

	if (find_batch(c, rq->bid, &pp) == NULL)
		return sp_seterr(err, SP_NOT_FOUND, "no batch %llu is open on "
		    "this connection", (unsigned long long)rq->bid);
	drop_batch(c, pp);
	return sp_reply_ok(conn_out(c), rq->id) == -1 ?
	    sp_seterr(err, SP_INTERNAL, "out of memory") : 0;
}

void
handler_conn_closed(struct conn *c)
{
	while (c->hc->batches != NULL)
		drop_batch(c, &c->hc->batches);
	watch_conn_closed(&c->hc->watches);
}
