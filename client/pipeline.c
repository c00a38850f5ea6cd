/*
 * Pipelining: requests are encoded into the connection's output buffer
 * and sent in bunches; replies are collected in the order the requests
 * were appended, early ones kept aside by sc__await().
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define SEND_AT	(64 * 1024)	/* send queued requests past this much */

size_t
sc_pending(const sc_conn *c)
{
	/* While a batch streams, the ring holds only its chunks' acks. */
	return c && !c->streaming ? c->npend : 0;
}

int
sc__push(sc_conn *c, uint64_t id)
{
	uint64_t	*v;
	size_t		 i, cap;

	if (c->npend == c->pend_cap) {
		cap = c->pend_cap ? c->pend_cap * 2 : 64;
		if ((v = malloc(cap * sizeof(*v))) == NULL)
			return sc__fail(c, SC_ERR_NOMEM, "out of memory");
		for (i = 0; i < c->npend; i++)
			v[i] = c->pend[(c->pend_head + i) % c->pend_cap];
		free(c->pend);
		c->pend = v;
		c->pend_head = 0;
		c->pend_cap = cap;
	}
	c->pend[(c->pend_head + c->npend++) % c->pend_cap] = id;
	return 0;
}

/* Pipelined requests would mix with a streaming batch's chunks, whose
 * acknowledgements the batch collects itself from the same ring. */
static int
refuse_streaming(sc_conn *c)
{
	return sc__fail(c, SC_ERR_INVALID, "a streaming batch has chunks in "
	    "flight on this connection; commit or abort it first, or use "
	    "another connection");
}

static int
append(sc_conn *c, struct sp_req *rq)
{
	size_t	 before = c->out.len;

	if (sc__encode(c, rq) == -1)
		return -1;
	if (sc__push(c, rq->id) == -1) {
		c->out.len = before;
		return -1;
	}
	if (c->out.len >= SEND_AT && sc__flush(c, -1) == -1) {
		c->npend = 0;	/* the connection is dead: all are lost */
		return -1;
	}
	return 0;
}

static int
append_key(sc_conn *c, enum sp_op op, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	struct sp_req	 rq;

	if (c == NULL)
		return -1;
	if (c->streaming)
		return refuse_streaming(c);
	if (sc__target(c, &rq, op, repo, store, db) == -1)
		return -1;
	if ((key == NULL && klen > 0) || (val == NULL && vlen > 0))
		return sc__fail(c, SC_ERR_INVALID, "a key or value is NULL");
	rq.key.p = key ? key : "";
	rq.key.n = klen;
	if (op == SP_OP_PUT) {
		rq.val.p = val ? val : "";
		rq.val.n = vlen;
	}
	return append(c, &rq);
}

int
sc_append_get(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen)
{
	return append_key(c, SP_OP_GET, repo, store, db, key, klen, NULL, 0);
}

int
sc_append_put(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	return append_key(c, SP_OP_PUT, repo, store, db, key, klen, val, vlen);
}

int
sc_append_del(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen)
{
	return append_key(c, SP_OP_DEL, repo, store, db, key, klen, NULL, 0);
}

int
sc__collect_one(sc_conn *c, struct sp_reply *rep)
{
	uint64_t	 id;

	if (c->npend == 0)
		return sc__fail(c, SC_ERR_INVALID, "no pipelined request is "
		    "waiting for its reply");
	if (c->out.len > 0 && sc__flush(c, -1) == -1)
		goto dead;
	id = c->pend[c->pend_head];
	if (sc__await(c, id, rep) == -1)
		goto dead;
	c->pend_head = (c->pend_head + 1) % c->pend_cap;
	c->npend--;
	return sc__result(c, rep);
dead:
	c->npend = 0;
	return -1;
}

int
sc_collect(sc_conn *c, const void **val, size_t *vlen)
{
	struct sp_reply	 rep;
	int		 rc;

	if (c == NULL)
		return -1;
	if (c->streaming)
		return refuse_streaming(c);
	rc = sc__collect_one(c, &rep);
	if (val)
		*val = rc == 0 ? rep.val.p : NULL;
	if (vlen)
		*vlen = rc == 0 ? rep.val.n : 0;
	return rc;
}
