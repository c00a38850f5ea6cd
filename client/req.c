/*
 * Requests: each public operation's arguments checked and turned into a
 * struct sp_req, the same for the synchronous and asynchronous calls.
 */
#include <string.h>

#include "client_int.h"

int
sc__req_target(sc_conn *c, struct sp_req *rq, enum sp_op op,
    const char *repo, const char *store, const char *db)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = op;
	if (store == NULL)
		return sc__fail(c, SC_ERR_INVALID, "a store name is required");
	sc__str(&rq->repo, repo);
	sc__str(&rq->store, store);
	sc__str(&rq->db, db);
	return 0;
}

/* Points b at n bytes at p, which may be NULL only when n is 0. */
static int
set_bytes(sc_conn *c, struct sp_bytes *b, const void *p, size_t n,
    const char *what)
{
	if (p == NULL && n > 0)
		return sc__fail(c, SC_ERR_INVALID, "%s is NULL", what);
	b->p = p ? p : "";
	b->n = n;
	return 0;
}

int
sc__req_key(sc_conn *c, struct sp_req *rq, enum sp_op op, const char *repo,
    const char *store, const char *db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	if (sc__req_target(c, rq, op, repo, store, db) == -1 ||
	    set_bytes(c, &rq->key, key, klen, "key") == -1)
		return -1;
	if (op == SP_OP_PUT)
		return set_bytes(c, &rq->val, val, vlen, "val");
	return 0;
}

/* A put or del with a condition: if_absent, or if_equals old. */
int
sc__req_cond(sc_conn *c, struct sp_req *rq, enum sp_op op,
    const char *repo, const char *store, const char *db, const void *key,
    size_t klen, bool if_absent, const void *old, size_t oldlen,
    const void *val, size_t vlen)
{
	if (sc__req_key(c, rq, op, repo, store, db, key, klen, val,
	    vlen) == -1)
		return -1;
	if (if_absent) {
		rq->if_absent = true;
		rq->has |= SP_F_IF_ABSENT;
		return 0;
	}
	return set_bytes(c, &rq->if_equals, old, oldlen, "old");
}

int
sc__req_keys(sc_conn *c, struct sp_req *rq, struct sp_buf *raw,
    enum sp_op op, const char *repo, const char *store, const char *db,
    const sc_bytes *keys, size_t from, size_t to)
{
	size_t	 i;

	if (sc__req_target(c, rq, op, repo, store, db) == -1)
		return -1;
	if (to - from > UINT32_MAX)
		return sc__fail(c, SC_ERR_TOO_LARGE, "too many keys");
	raw->len = 0;
	for (i = from; i < to; i++) {
		if (keys[i].p == NULL && keys[i].n > 0)
			return sc__fail(c, SC_ERR_INVALID, "key %zu is NULL", i);
		if (sp_key_encode(raw, keys[i].p ? keys[i].p : "",
		    keys[i].n) == -1)
			return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	}
	rq->keys.raw.p = raw->len ? raw->data : "";
	rq->keys.raw.n = raw->len;
	rq->keys.n = (uint32_t)(to - from);
	return 0;
}

int
sc__req_snapshot(sc_conn *c, struct sp_req *rq, const char *repo,
    const char *store, int fd, int compact)
{
	if (sc__req_target(c, rq, SP_OP_SNAPSHOT, repo, store, NULL) == -1)
		return -1;
	if (fd < 0)
		return sc__fail(c, SC_ERR_INVALID, "fd is not a descriptor");
	rq->compact = compact != 0;
	rq->has = SP_F_COMPACT;
	return 0;
}

int
sc__req_fork(sc_conn *c, struct sp_req *rq, const char *src_repo,
    const char *store, const char *dst_repo)
{
	if (sc__req_target(c, rq, SP_OP_FORK, src_repo, store, NULL) == -1)
		return -1;
	if (dst_repo == NULL)
		return sc__fail(c, SC_ERR_INVALID, "a destination repo is "
		    "required");
	sc__str(&rq->dst, dst_repo);
	return 0;
}

void
sc__req_filtered(struct sp_req *rq, enum sp_op op, const char *repo,
    const char *store)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = op;
	sc__str(&rq->repo, repo);
	sc__str(&rq->store, store);
}

void
sc__req_scan(struct sp_req *rq, const sc_scan_opts *o, const void *cursor,
    size_t cursorn, bool has_limit, uint64_t left)
{
	if (o != NULL) {
		rq->prefix = o->prefix;
		rq->start = o->start;
		rq->end = o->end;
		rq->reverse = o->reverse;
		rq->keys_only = o->keys_only;
	}
	if (cursor != NULL) {
		rq->cursor.p = cursor;
		rq->cursor.n = cursorn;
	}
	rq->has |= SP_F_REVERSE | SP_F_KEYS_ONLY;
	if (has_limit) {
		rq->limit = left;
		rq->has |= SP_F_LIMIT;
	}
}
