/*
 * handler_read: get, mget, missing, count and scan, answered on the I/O
 * thread, but for mget and missing of many keys, which go to the
 * readers' pool.
 *
 * Each reply is built in the connection's output buffer while its read
 * transaction runs, so a value is copied once, from the map into the
 * reply, before the transaction ends.  A read never creates an env: a
 * repo that has none yet reads as empty.
 *
 * Owns: each loop's read transactions of the turn, and the references
 * on their envs (struct handler_loop): the transactions end (reset) with
 * the turn, the references stay parked for the next turns (reg_park()),
 * so that a read alone in its turn takes no registry lock; the registry
 * takes them back whenever it wants an env unused.
 */
#include <string.h>

#include "conn.h"
#include "daemon.h"
#include "handler_int.h"
#include "job.h"
#include "loop.h"
#include "registry.h"
#include "sp_frame.h"
#include "store.h"

#define SCAN_PAGE_BYTES	(1024 * 1024)	/* soft cap on a scan reply */

/* The end-of-turn hook of reads: ends their transactions (a reset one
 * pins no page) and parks their env references for the next turns,
 * with the envs' keys. */
void
handler_read_turn_end(void *arg)
{
	struct handler_loop	*h = arg;
	struct turn_env		*t;
	unsigned		 i;

	for (i = 0; i < h->nturn; i++) {
		t = &h->turn[i];
		if (t->e == NULL)
			continue;
		st_read_done(t->e->st, h->loop->idx);
		reg_park(h->loop->d->reg, t->e, h->loop->idx, &t->park);
		t->parked = t->e;
		t->e = NULL;
	}
}

/* Drops the reference t's place has parked, if the registry did not
 * take it back. */
static void
drop_parked(struct handler_loop *h, struct turn_env *t)
{
	if (t->parked != NULL &&
	    reg_unpark(h->loop->d->reg, &t->park, t->parked))
		reg_release(h->loop->d->reg, t->parked);
	t->parked = NULL;
}

void
handler_read_fini(struct handler_loop *h)
{
	unsigned	 i;

	for (i = 0; i < h->nturn; i++)
		drop_parked(h, &h->turn[i]);
}

/* True when t is the env of (repo, st).  A path store has no repo:
 * memcmp may not see its NULL.  st's generation tells it from a store
 * of a later configuration that got the same address. */
static bool
turn_is(const struct turn_env *t, const struct cfg_store *st,
    struct sp_bytes repo)
{
	return t->st == st && t->gen == st->gen &&
	    t->fixed == (repo.p == NULL) && t->repolen == repo.n &&
	    (repo.n == 0 || memcmp(t->repo, repo.p, repo.n) == 0);
}

/*
 * The entry of (repo, st) in h, or a new one with its key made: a free
 * place, else the place of an env no read of this turn holds, else the
 * first place once the turn's earlier reads are done with theirs.
 * Returns NULL with err when the env's directory would be too long.
 */
static inline struct turn_env *
turn_entry(struct handler_loop *h, const struct cfg_store *st,
    struct sp_bytes repo, struct sp_error *err)
{
	struct turn_env	*t = NULL;
	unsigned	 i;

	for (i = 0; i < h->nturn; i++)
		if (turn_is(&h->turn[i], st, repo))
			return &h->turn[i];
	if (h->nturn < HANDLER_TURN_ENVS)
		t = &h->turn[h->nturn];
	for (i = 0; t == NULL && i < h->nturn; i++)
		if (h->turn[i].e == NULL)
			t = &h->turn[i];
	if (t == NULL) {
		handler_read_turn_end(h);
		t = &h->turn[0];
	}
	drop_parked(h, t);
	if (reg_key(h->loop->d->reg, st, repo, &t->key, err) == -1) {
		t->st = NULL;	/* its key is gone: a place for no env */
		return NULL;
	}
	if (t == &h->turn[h->nturn])
		h->nturn++;
	t->st = st;
	t->gen = st->gen;
	t->e = NULL;
	t->fixed = repo.p == NULL;
	t->repolen = repo.n;
	if (repo.n)
		memcpy(t->repo, repo.p, repo.n);
	return t;
}

const struct reg_key *
handler_env_key(struct conn *c, const struct cfg_store *st,
    struct sp_bytes repo, struct sp_error *err)
{
	struct turn_env	*t = turn_entry(c->loop->hl, st, repo, err);

	return t != NULL ? &t->key : NULL;
}

/*
 * The env of (repo, st) for reading, with the loop's read transaction
 * held open for the rest of the turn, so every read of the turn shares
 * one lookup and one transaction.  *e is NULL when the env does not
 * exist (reads never create one).  Release nothing: the turn's end does.
 * Returns 0, REG_AGAIN, or -1 with err.
 */
static int
turn_read_env(struct handler_loop *h, const struct cfg_store *st,
    struct sp_bytes repo, struct reg_env **e, struct sp_error *err)
{
	struct turn_env	*t;
	int		 rc;

	*e = NULL;
	if ((t = turn_entry(h, st, repo, err)) == NULL)
		return -1;
	if (t->e == NULL && t->parked != NULL) {
		/* Held since an earlier turn: no lock, unless the registry
		 * took it back or wants it (then acquired anew below). */
		if (reg_unpark(h->loop->d->reg, &t->park, t->parked)) {
			if (st_read_hold(t->parked->st, h->loop->idx, err) ==
			    -1) {
				reg_release(h->loop->d->reg, t->parked);
				t->parked = NULL;
				return -1;
			}
			t->e = t->parked;
		}
		t->parked = NULL;
	}
	if (t->e != NULL && !st_faulted(t->e->st)) {
		*e = t->e;
		return 0;
	}
	if (t->e != NULL) {
		/* A page of its map faulted since: let go of it, so that it
		 * closes, and ask the registry afresh (CORRUPT, or the env
		 * opened again once its file was restored). */
		st_read_done(t->e->st, h->loop->idx);
		reg_release(h->loop->d->reg, t->e);
		t->e = NULL;
	}
	if ((rc = reg_acquire_key(h->loop->d->reg, st, repo, &t->key, false,
	    e, err)) != 0) {
		*e = NULL;
		if (rc == REG_AGAIN)
			return REG_AGAIN;
		return err->code == SP_NOT_FOUND ? 0 : -1;
	}
	/* Refused only when broken; the transaction itself is renewed by
	 * the turn's first read of e, under that read's guard. */
	if (st_read_hold((*e)->st, h->loop->idx, err) == -1) {
		reg_release(h->loop->d->reg, *e);
		*e = NULL;
		return -1;
	}
	t->e = *e;
	return 0;
}

/*
 * A read of e (NULL: none) failed.  When another program grew e past
 * storesd's map, the turn's transaction, renewed by this read, met the
 * larger file: e leaves the turn, so that the registry can remap it
 * once nothing of it is open, and the request is retried then, as
 * nothing of it was done (its reply was dropped).  Returns REG_AGAIN
 * or -1.
 */
static int
read_failed(struct conn *c, struct reg_env *e)
{
	struct handler_loop	*h = c->loop->hl;
	unsigned		 i;

	if (e == NULL || !st_grown(e->st))
		return -1;
	for (i = 0; i < h->nturn; i++) {
		if (h->turn[i].e != e)
			continue;
		st_read_done(e->st, h->loop->idx);
		reg_release(h->loop->d->reg, e);
		h->turn[i].e = NULL;
	}
	c->hc->env_seen = NULL;
	/* The remap is the registry's to settle, but this REG_AGAIN is
	 * not its: whatever an earlier one left to wait for goes, and the
	 * frame is tried at the next poll or at any settle. */
	(void)reg_again_key();
	return REG_AGAIN;
}

/* The env of t for reading, held for the turn; *e is NULL when it does
 * not exist.  REG_AGAIN goes back up untouched: the request is retried
 * before anything of it was done. */
static int
read_env(struct conn *c, const struct target *t, struct reg_env **e,
    struct sp_error *err)
{
	int	 rc = turn_read_env(c->loop->hl, t->st, t->repo, e, err);

	if (rc == 0 && *e != NULL)
		c->hc->env_seen = *e;	/* its counters, after the request */
	return rc;
}

/*
 * Adds to the reply at mark of c's output the revision its read saw:
 * the turn's read transaction of e, which the read used (no env yet:
 * 0).  Stores that keep no revisions (max_dbs = 0) say none.
 */
static int
add_rev(struct conn *c, const struct target *t, struct reg_env *e,
    size_t mark, struct sp_error *err)
{
	uint64_t	 rev = 0;

	if (e == NULL ? t->st->max_dbs == 0 : !st_has_revs(e->st))
		return 0;
	/* A failure drops the reply begun at mark: the error replaces it. */
	if (e != NULL && st_rev(e->st, c->loop->idx, &rev, err) == -1) {
		conn_out(c)->len = mark;
		return read_failed(c, e);
	}
	if (sp_reply_add_rev(conn_out(c), mark, rev) == -1) {
		conn_out(c)->len = mark;
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	return 0;
}

/* ----------------------------------------------------------------- rev */

int
handler_rev(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct target	 t;
	struct reg_env	*e;
	uint64_t	 rev = 0;
	int		 rc;

	if (handler_resolve(c, rq, false, &t, err) == -1)
		return -1;
	if ((rc = read_env(c, &t, &e, err)) != 0)
		return rc;
	/* No env yet: revision 0, and no id until one is made. */
	if (e != NULL && st_rev(e->st, c->loop->idx, &rev, err) == -1)
		return read_failed(c, e);
	if (sp_reply_rev(conn_out(c), rq->id, rev,
	    e != NULL ? st_env_id(e->st) : NULL) == -1)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	return 0;
}

/* ----------------------------------------------------------------- get */

struct val_ctx {
	struct sp_buf	*out;
	uint64_t	 id;
	struct sp_error	*err;
};

static int
put_val(void *arg, const void *val, size_t n)
{
	struct val_ctx	*v = arg;

	if (n > SP_FRAME_MAX - 64)
		return sp_seterr(v->err, SP_TOO_LARGE, "the value is %zu "
		    "bytes, more than one reply frame can carry", n);
	return sp_reply_val(v->out, v->id, val, n);
}

int
handler_get(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct target	 t;
	struct reg_env	*e;
	struct val_ctx	 v = { conn_out(c), rq->id, err };
	size_t		 mark = conn_out(c)->len;
	int		 rc;

	if (handler_resolve(c, rq, false, &t, err) == -1 ||
	    handler_check_key(rq->key, err) == -1)
		return -1;
	if ((rc = read_env(c, &t, &e, err)) != 0)
		return rc;
	if (e == NULL)
		return sp_seterr(err, SP_NOT_FOUND, "no such key");
	if (st_get(e->st, c->loop->idx, t.db, rq->key.p, rq->key.n, put_val,
	    &v, err) == -1) {
		/* A fault may stop it midway through copying the value. */
		conn_out(c)->len = mark;
		return read_failed(c, e);
	}
	return add_rev(c, &t, e, mark, err);
}

/* ------------------------------------------------------- mget, missing */

/*
 * A large mget or missing, with its own copy of the keys and a reference
 * on the env (or none), for the readers' pool.
 */
static int
read_job(struct conn *c, const struct sp_req *rq, const struct target *t,
    struct sp_error *err)
{
	struct job	*j;
	const void	*raw;
	int		 rc;

	if ((j = job_new(&c->loop->hl->jobs, JOB_READ)) == NULL ||
	    (raw = job_copy(j, rq->keys.raw.p, rq->keys.raw.n)) == NULL) {
		job_free(j);
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	j->mget = rq->op == SP_OP_MGET;
	j->revs = t->st->max_dbs > 0;
	j->db = t->db;
	j->keys.n = rq->keys.n;
	j->keys.raw.p = raw;
	j->keys.raw.n = rq->keys.raw.n;
	if ((rc = reg_acquire(c->loop->d->reg, t->st, t->repo, false, &j->env,
	    err)) != 0) {
		j->env = NULL;
		if (rc != -1 || err->code != SP_NOT_FOUND) {
			job_free(j);
			return rc;
		}
	}
	handler_send_job(c, j, rq->id);
	return 0;
}

int
handler_mget(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct target	 t;
	struct reg_env	*e;
	int		 rc;

	if (handler_resolve(c, rq, false, &t, err) == -1)
		return -1;
	/* Seconds of work for millions of keys, checking them included:
	 * not on the I/O thread. */
	if (rq->keys.n > READ_INLINE_KEYS)
		return read_job(c, rq, &t, err);
	if ((rc = read_env(c, &t, &e, err)) != 0)
		return rc;
	if (job_read_keys(conn_out(c), rq->id, rq->op == SP_OP_MGET,
	    t.st->max_dbs > 0 && (e == NULL || st_has_revs(e->st)),
	    e ? e->st : NULL, c->loop->idx, t.db, &rq->keys, err) == -1)
		return read_failed(c, e);
	return 0;
}

/* --------------------------------------------------------------- count */

int
handler_count(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct target	 t;
	struct reg_env	*e;
	uint64_t	 n = 0;
	size_t		 mark = conn_out(c)->len;
	int		 rc = 0;

	if (handler_resolve(c, rq, false, &t, err) == -1)
		return -1;
	if ((rc = read_env(c, &t, &e, err)) != 0)
		return rc;
	if (e != NULL && st_count(e->st, c->loop->idx, t.db, &n, err) == -1)
		return read_failed(c, e);
	if (rc == 0 && sp_reply_count(conn_out(c), rq->id, n) == -1)
		rc = sp_seterr(err, SP_INTERNAL, "out of memory");
	if (rc == 0)
		rc = add_rev(c, &t, e, mark, err);
	return rc;
}

/* ---------------------------------------------------------------- scan */

struct page {
	struct sp_reply_w	 w;
	unsigned char		 last[SP_KEY_MAX];	/* for the cursor */
	size_t			 lastn;
};

static int
take_entry(void *arg, const void *k, size_t kn, const void *v, size_t vn)
{
	struct page	*pg = arg;

	sp_reply_w_entry(&pg->w, k, kn, v, vn);
	memcpy(pg->last, k, kn);
	pg->lastn = kn;
	return 0;
}

static int
check_bound(struct sp_bytes b, const char *name, struct sp_error *err)
{
	if (b.p != NULL && !sp_bound_ok(b.n))
		return sp_seterr(err, SP_BAD_KEY, "the scan's %s is %zu bytes; "
		    "keys are at most %d bytes", name, b.n, SP_KEY_MAX);
	return 0;
}

int
handler_scan(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct reg_env	*e = NULL;
	struct st_scan	 q;
	struct page	 pg = { .lastn = 0 };
	struct sp_bytes	 cursor = { NULL, 0 };
	bool		 more = false;
	int		 rc = -1;

	if (handler_resolve(c, rq, false, &t, err) == -1 ||
	    check_bound(rq->prefix, "prefix", err) == -1 ||
	    check_bound(rq->start, "start", err) == -1 ||
	    check_bound(rq->end, "end", err) == -1 ||
	    check_bound(rq->cursor, "cursor", err) == -1)
		return -1;
	memset(&q, 0, sizeof(q));
	/* An empty prefix matches every key: no prefix at all. */
	if (rq->prefix.n > 0)
		q.prefix = rq->prefix;
	q.start = rq->start;
	q.end = rq->end;
	q.cursor = rq->cursor;
	q.reverse = rq->reverse;
	q.max = d->cfg->scan_page;
	if ((rq->has & SP_F_LIMIT) && rq->limit < q.max)
		q.max = (size_t)rq->limit;
	q.max_bytes = SCAN_PAGE_BYTES;
	/* limit 0 asks for nothing: an empty, finished page. */
	if (q.max > 0 && (rc = read_env(c, &t, &e, err)) != 0)
		return rc;
	rc = -1;
	if (sp_reply_scan_open(&pg.w, conn_out(c), rq->id, rq->keys_only) ==
	    -1)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	if (e != NULL && st_scan(e->st, c->loop->idx, t.db, &q, take_entry,
	    &pg, &more, err) == -1)
		goto fail;
	if (more) {
		cursor.p = (const char *)pg.last;
		cursor.n = pg.lastn;
	}
	if (sp_reply_scan_close(&pg.w, cursor) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto fail;
	}
	/* The page is whole: a failure now drops it (mark is its start). */
	if ((rc = add_rev(c, &t, e, pg.w.mark, err)) != 0) {
		conn_out(c)->len = pg.w.mark;
		return rc;
	}
	rc = 0;
	goto done;
fail:
	sp_reply_abort(&pg.w);
	rc = read_failed(c, e);
done:
	return rc;
}
