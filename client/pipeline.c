/*
 * Pipelining: requests are queued in the connection's output and sent
 * in bunches (or at sc_flush()); replies are collected in the order the
 * requests were appended, early ones kept aside by the engine.
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

/* Pipelined requests would mix with a streaming batch's chunks, whose
 * acknowledgements the batch collects itself from the same ring. */
static int
refuse_streaming(sc_conn *c)
{
	return sc__fail(c, SC_ERR_INVALID, "a streaming batch has chunks in "
	    "flight on this connection; commit or abort it first, or use "
	    "another connection");
}

/* Sends what is queued; when that fails every pending reply is lost. */
static int
flush(sc_conn *c)
{
	if (sc__write(c) == -1) {
		sc__lose_all(c);
		return -1;
	}
	return 0;
}

int
sc_flush(sc_conn *c)
{
	if (c == NULL || c->async != NULL)
		return -1;
	return flush(c) == -1 ? -1 : sc__ok(c);
}

static int
append_key(sc_conn *c, enum sp_op op, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	struct sp_req	 rq;

	if (c == NULL || c->async != NULL)
		return -1;
	if (c->streaming)
		return refuse_streaming(c);
	if (sc__req_key(c, &rq, op, repo, store, db, key, klen, val,
	    vlen) == -1 || sc__room(c) == -1 ||
	    sc__send(c, &rq, -1, false, true, NULL) == -1)
		return -1;
	if (sc__queued(c) >= SEND_AT && flush(c) == -1)
		return -1;
	return sc__ok(c);
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
	struct sc_rec	*r;

	if ((r = sc__oldest(c)) == NULL)
		return sc__fail(c, SC_ERR_INVALID, "no pipelined request is "
		    "waiting for its reply");
	if (sc__queued(c) > 0 && flush(c) == -1)
		return -1;
	if (sc__await(c, r, rep) == -1) {
		sc__lose_all(c);
		return -1;
	}
	return sc__result(c, rep);
}

int
sc_collect(sc_conn *c, const void **val, size_t *vlen)
{
	struct sp_reply	 rep;
	int		 rc;

	if (c == NULL || c->async != NULL)
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
