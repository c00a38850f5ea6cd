/*
 * Atomic batches: ops are encoded as they are added and sent to storesd
 * in chunks, tied together by a batch id; storesd applies them all at
 * the last chunk.  A batch that fits in one chunk is a single request.
 *
 * Chunks are not waited for one by one: up to MAX_INFLIGHT of them are
 * sent ahead and their acknowledgements collected later, so the client
 * encodes the next chunk while storesd checks the last one.  On an async
 * connection none is waited for: each chunk's acknowledgement comes to
 * chunk_done(), and the batch lives until the last has come.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define CHUNK		(256 * 1024)
#define MAX_INFLIGHT	8

struct sc_batch {
	sc_conn		*c;
	char		*repo;
	char		*store;
	char		*db;
	struct sp_buf	 ops;		/* the chunk being built */
	uint32_t	 nops;		/* ops in it */
	size_t		 total;		/* ops added in all */
	uint64_t	 bid;		/* 0 until the first chunk is sent */
	bool		 streaming;	/* counted in c->streaming */
	int		 failed;	/* SC_OK, or why the batch failed */
	char		 errmsg[sizeof(((sc_conn *)0)->errmsg)];
	size_t		 errindex;
	int64_t		 errretry;	/* BUSY's retry_ms, or -1 */
	/* async: */
	bool		 async;
	unsigned	 refs;		/* the caller's, and chunks awaiting acks */
	sc_reply_fn	*fn;		/* the commit's callback */
	void		*arg;
};

static void
batch_free(sc_batch *b)
{
	if (b->streaming)
		b->c->streaming--;
	if (b->async)
		sc__release(b->c);
	free(b->repo);
	free(b->store);
	free(b->db);
	sp_buf_free(&b->ops);
	free(b);
}

static sc_batch *
begin(sc_conn *c, const char *repo, const char *store, const char *db)
{
	sc_batch	*b;

	if (store == NULL) {
		sc__fail(c, SC_ERR_INVALID, "a store name is required");
		return NULL;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		sc__fail(c, SC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	b->c = c;
	b->errretry = -1;
	if (sc__strdup(c, repo, &b->repo) == -1 ||
	    sc__strdup(c, store, &b->store) == -1 ||
	    sc__strdup(c, db, &b->db) == -1) {
		batch_free(b);
		return NULL;
	}
	return b;
}

sc_batch *
sc_batch_begin(sc_conn *c, const char *repo, const char *store,
    const char *db)
{
	if (c == NULL || c->async != NULL)
		return NULL;
	if (c->npend > 0) {
		sc__fail(c, SC_ERR_INVALID, "%zu pipelined replies are "
		    "pending; sc_collect() them first", c->npend);
		return NULL;
	}
	return begin(c, repo, store, db);
}

sc_batch *
sc__batch_begin_async(sc_conn *c, const char *repo, const char *store,
    const char *db)
{
	sc_batch	*b;

	if ((b = begin(c, repo, store, db)) == NULL)
		return NULL;
	b->async = true;
	b->refs = 1;
	c->holds++;
	return b;
}

size_t
sc_batch_count(const sc_batch *b)
{
	return b ? b->total : 0;
}

/* Remembers why the batch failed (the first failure), so later calls
 * can say it again. */
static int
failed(sc_batch *b)
{
	if (b->failed)
		return -1;
	b->failed = b->c->err;
	memcpy(b->errmsg, b->c->errmsg, sizeof(b->errmsg));
	b->errindex = b->c->errindex;
	b->errretry = b->c->errretry;
	return -1;
}

static int
refail(sc_batch *b)
{
	sc__fail(b->c, b->failed, "%s", b->errmsg);
	b->c->errindex = b->errindex;
	b->c->errretry = b->errretry;
	return -1;
}

/* async: drops a reference; the last reports the outcome and frees b. */
static void
release(sc_batch *b)
{
	struct sp_reply	 rep;

	if (--b->refs > 0)
		return;
	if (b->fn != NULL) {
		memset(&rep, 0, sizeof(rep));
		rep.code = b->failed;
		rep.msg.p = b->errmsg;
		rep.msg.n = b->failed ? strlen(b->errmsg) : 0;
		rep.has_index = b->errindex != SC_NOINDEX;
		rep.index = b->errindex;
		rep.has_retry = b->errretry >= 0;
		rep.retry_ms = (uint64_t)b->errretry;
		sc__async_user(b->c, SP_OP_BATCH, &rep, b->fn, b->arg);
	}
	batch_free(b);
}

/* async: a chunk's (or the commit's, or an abort's) acknowledgement, or
 * the connection's end (rep NULL). */
static void
chunk_done(sc_conn *c, struct sc_rec *r, const struct sp_reply *rep,
    int code, const char *msg)
{
	sc_batch	*b = r->fn_arg;

	(void)c;
	if (!b->failed && (rep == NULL || rep->code != SP_OK)) {
		b->failed = rep ? rep->code : code;
		snprintf(b->errmsg, sizeof(b->errmsg), "%.*s",
		    rep ? (int)rep->msg.n : (int)strlen(msg),
		    rep ? (rep->msg.p ? rep->msg.p : "") : msg);
		b->errindex = rep && rep->has_index && rep->index < SC_NOINDEX ?
		    (size_t)rep->index : SC_NOINDEX;
		b->errretry = rep ? sc__retry_ms(rep) : -1;
	}
	release(b);
}

/* async: queues rq with chunk_done for its acknowledgement; 0 or -1. */
static int
send_async(sc_batch *b, struct sp_req *rq)
{
	if (sc__async_send(b->c, rq, -1, chunk_done, b, NULL, NULL) == -1)
		return -1;
	b->refs++;
	return 0;
}

/* Collects acknowledgements until at most keep are awaited. */
static int
collect(sc_batch *b, size_t keep)
{
	struct sp_reply	 rep;

	while (b->c->npend > keep)
		if (sc__collect_one(b->c, &rep) == -1)
			failed(b);
	return b->failed ? -1 : 0;
}

/* Tells storesd to forget the chunks it holds for b. */
static void
abort_remote(sc_batch *b)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (!b->async)
		collect(b, 0);
	if (b->bid != 0 && b->c->fd != -1) {
		memset(&rq, 0, sizeof(rq));
		rq.op = SP_OP_BATCH_ABORT;
		rq.bid = b->bid;
		rq.has = SP_F_BID;
		if (b->async)
			send_async(b, &rq);
		else
			sc__call(b->c, &rq, -1, &rep);
	}
	b->bid = 0;
}

/* Sends the chunk without waiting; with more, storesd keeps it for the
 * chunks to come. */
static int
send_chunk(sc_batch *b, bool more)
{
	struct sp_req	 rq;

	if (sc__req_target(b->c, &rq, SP_OP_BATCH, b->repo, b->store,
	    b->db) == -1)
		return failed(b);
	rq.ops.raw.p = b->ops.len ? b->ops.data : "";
	rq.ops.raw.n = b->ops.len;
	rq.ops.n = b->nops;
	if (more && b->bid == 0) {
		b->bid = ++b->c->next_bid;
		if (!b->streaming && !b->async) {
			b->streaming = true;
			b->c->streaming++;
		}
	}
	if (b->bid != 0) {
		rq.bid = b->bid;
		rq.more = more;
		rq.has = SP_F_BID | SP_F_MORE;
	}
	if (b->async) {
		if (send_async(b, &rq) == -1)
			failed(b);
	} else if (sc__send(b->c, &rq, -1, false, true, NULL) == -1 ||
	    sc__write(b->c) == -1)
		failed(b);
	b->ops.len = 0;
	b->nops = 0;
	if (b->failed)
		return -1;
	if (b->async)
		return 0;
	/* Keep a few chunks in flight; collect the older acks. */
	return collect(b, more ? MAX_INFLIGHT - 1 : 0);
}

static int
add(sc_batch *b, enum sp_batch_kind kind, const char *db, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	struct sp_batch_op	 op;
	size_t			 chunk;

	if (b == NULL)
		return -1;
	if (b->failed)
		return refail(b);
	if (b->async && b->c->async == NULL) {
		sc__fail(b->c, SC_ERR_IO, "the batch's connection is closed");
		return failed(b);
	}
	if ((key == NULL && klen > 0) || (val == NULL && vlen > 0)) {
		sc__fail(b->c, SC_ERR_INVALID, "a key or value is NULL");
		return failed(b);
	}
	memset(&op, 0, sizeof(op));
	op.kind = kind;
	sc__str(&op.db, db);
	if (kind != SP_BATCH_CLEAR) {
		op.key.p = key ? key : "";
		op.key.n = klen;
	}
	if (kind == SP_BATCH_PUT || kind == SP_BATCH_PUT_IF_ABSENT ||
	    kind == SP_BATCH_EXPECT) {
		op.val.p = val ? val : "";
		op.val.n = vlen;
	}
	/* A full chunk goes out before the op that would overflow it. */
	chunk = sc__chunk(b->c) < CHUNK ? sc__chunk(b->c) : CHUNK;
	if (b->nops > 0 && b->ops.len + klen + vlen + 64 > chunk &&
	    send_chunk(b, true) == -1) {
		if (!b->async)
			abort_remote(b);
		return refail(b);
	}
	if (sp_batch_op_encode(&b->ops, &op) == -1) {
		sc__fail(b->c, SC_ERR_NOMEM, "out of memory");
		return failed(b);
	}
	b->nops++;
	b->total++;
	return 0;
}

int
sc_batch_put(sc_batch *b, const char *db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	return add(b, SP_BATCH_PUT, db, key, klen, val, vlen);
}

int
sc_batch_del(sc_batch *b, const char *db, const void *key, size_t klen)
{
	return add(b, SP_BATCH_DEL, db, key, klen, NULL, 0);
}

int
sc_batch_put_if_absent(sc_batch *b, const char *db, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	return add(b, SP_BATCH_PUT_IF_ABSENT, db, key, klen, val, vlen);
}

int
sc_batch_expect(sc_batch *b, const char *db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	return add(b, SP_BATCH_EXPECT, db, key, klen, val, vlen);
}

int
sc_batch_expect_absent(sc_batch *b, const char *db, const void *key,
    size_t klen)
{
	return add(b, SP_BATCH_EXPECT_ABSENT, db, key, klen, NULL, 0);
}

int
sc_batch_clear(sc_batch *b, const char *db)
{
	return add(b, SP_BATCH_CLEAR, db, NULL, 0, NULL, 0);
}

int
sc_batch_commit(sc_batch *b)
{
	int	 rc;

	if (b == NULL)
		return -1;
	if (b->async)
		return sc__fail(b->c, SC_ERR_INVALID, "a batch of an async "
		    "connection is committed with sc_async_batch_commit()");
	if (b->failed) {
		abort_remote(b);
		rc = refail(b);
	} else if ((rc = send_chunk(b, false)) == -1)
		rc = refail(b);
	batch_free(b);
	return rc;
}

void
sc_batch_abort(sc_batch *b)
{
	if (b == NULL)
		return;
	abort_remote(b);
	if (b->async)
		release(b);
	else
		batch_free(b);
}

int
sc_async_batch_commit(sc_batch *b, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (b == NULL)
		return -1;
	if (!b->async)
		return sc__fail(b->c, SC_ERR_INVALID, "a batch of a synchronous "
		    "connection is committed with sc_batch_commit()");
	b->fn = fn;
	b->arg = arg;
	if (b->failed) {
		/* Already failed: the report still comes from the loop, after
		 * what is in flight, on the abort or a ping. */
		abort_remote(b);
		if (b->refs == 1) {
			memset(&rq, 0, sizeof(rq));
			rq.op = SP_OP_PING;
			if (send_async(b, &rq) == -1)
				b->fn = NULL;
		}
	} else if (send_chunk(b, false) == -1)
		b->fn = NULL;
	if (b->fn == NULL && fn != NULL) {
		release(b);
		return -1;
	}
	release(b);
	return 0;
}
