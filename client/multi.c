/*
 * Reads of many keys: mget (one snapshot), missing (as many requests as
 * the keys need), and count.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static int
multi_call(sc_conn *c, enum sp_op op, const char *repo, const char *store,
    const char *db, struct sp_buf *raw, const sc_bytes *keys, size_t from,
    size_t to, struct sp_reply *rep)
{
	struct sp_req	 rq;

	if (c == NULL || c->async != NULL)
		return -1;
	if (sc__req_keys(c, &rq, raw, op, repo, store, db, keys, from,
	    to) == -1)
		return -1;
	return sc__call(c, &rq, -1, rep);
}

int
sc_mget(sc_conn *c, const char *repo, const char *store, const char *db,
    const sc_bytes *keys, size_t n, sc_bytes **vals)
{
	struct sp_buf	 raw = { 0 };
	struct sp_reply	 rep;
	int		 ret = -1;

	if (c != NULL && (vals == NULL || (keys == NULL && n > 0))) {
		sc__fail(c, SC_ERR_INVALID, "keys and vals are required");
		goto done;
	}
	if (multi_call(c, SP_OP_MGET, repo, store, db, &raw, keys, 0, n,
	    &rep) == -1)
		goto done;
	ret = sc__mget_out(c, &rep, n, vals);
done:
	sp_buf_free(&raw);
	return ret;
}

int
sc__mget_out(sc_conn *c, const struct sp_reply *rep, size_t n,
    sc_bytes **vals)
{
	struct sp_mp_rd	 rd;
	struct sp_bytes	 v;
	sc_bytes	*out;
	char		*p;
	size_t		 i, total = 0;

	/* One pass to size the single allocation, one to fill it. */
	sp_mp_rd_init(&rd, rep->vals.raw.p, rep->vals.raw.n);
	for (i = 0; i < rep->vals.n; i++) {
		if (sp_mget_next(&rd, &v) == -1)
			break;
		total += v.p ? v.n + 1 : 0;
	}
	if (rep->vals.n != n || i != n)
		return sc__die(c, SC_ERR_PROTOCOL, "the reply to mget does not "
		    "hold one value per key; the connection is closed");
	if ((out = malloc(n * sizeof(*out) + total + 1)) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory for %zu values",
		    n);
	p = (char *)(out + n);
	sp_mp_rd_init(&rd, rep->vals.raw.p, rep->vals.raw.n);
	for (i = 0; i < n; i++) {
		sp_mget_next(&rd, &v);
		out[i].p = NULL;
		out[i].n = 0;
		if (v.p == NULL)
			continue;
		memcpy(p, v.p, v.n);
		p[v.n] = '\0';
		out[i].p = p;
		out[i].n = v.n;
		p += v.n + 1;
	}
	*vals = out;
	return 0;
}

size_t
sc__keys_chunk(const sc_conn *c, const sc_bytes *keys, size_t from,
    size_t n)
{
	size_t	 to, bytes, chunk = sc__chunk(c);

	for (to = from, bytes = 0; to < n &&
	    (to == from || bytes + keys[to].n + 8 <= chunk); to++)
		bytes += keys[to].n + 8;
	return to;
}

/* Appends the indices of rep (offset by base) to *v; 0 or -1. */
static int
add_missing(sc_conn *c, const struct sp_reply *rep, size_t base,
    size_t nkeys, size_t **v, size_t *n)
{
	struct sp_mp_rd	 rd;
	uint64_t	 idx;
	size_t		*nv;
	uint32_t	 i;

	if (rep->missing.n == 0)
		return 0;
	if ((nv = realloc(*v, (*n + rep->missing.n) * sizeof(**v))) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	*v = nv;
	sp_mp_rd_init(&rd, rep->missing.raw.p, rep->missing.raw.n);
	for (i = 0; i < rep->missing.n; i++) {
		if (sp_missing_next(&rd, &idx) == -1 || idx >= nkeys)
			return sc__die(c, SC_ERR_PROTOCOL, "the reply to "
			    "missing is malformed; the connection is closed");
		nv[(*n)++] = base + (size_t)idx;
	}
	return 0;
}

int
sc_missing(sc_conn *c, const char *repo, const char *store, const char *db,
    const sc_bytes *keys, size_t n, size_t **missing, size_t *nmissing)
{
	struct sp_buf	 raw = { 0 };
	struct sp_reply	 rep;
	size_t		*v = NULL, nv = 0, from, to;
	int		 ret = -1;

	if (c == NULL)
		return -1;
	if (missing == NULL || nmissing == NULL || (keys == NULL && n > 0)) {
		sc__fail(c, SC_ERR_INVALID, "keys, missing and nmissing are "
		    "required");
		goto done;
	}
	for (from = 0; from < n || from == 0; from = to) {
		to = n ? sc__keys_chunk(c, keys, from, n) : 0;
		if (multi_call(c, SP_OP_MISSING, repo, store, db, &raw, keys,
		    from, to, &rep) == -1) {
			/* storesd counts within its request; we over keys. */
			if (c->errindex != SC_NOINDEX)
				c->errindex += from;
			goto done;
		}
		if (add_missing(c, &rep, from, to - from, &v, &nv) == -1)
			goto done;
		if (n == 0)
			break;
	}
	*missing = v;
	*nmissing = nv;
	v = NULL;
	ret = 0;
done:
	free(v);
	sp_buf_free(&raw);
	return ret;
}

int
sc_count(sc_conn *c, const char *repo, const char *store, const char *db,
    uint64_t *count)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (c == NULL || c->async != NULL)
		return -1;
	if (count == NULL)
		return sc__fail(c, SC_ERR_INVALID, "count is required");
	if (sc__req_target(c, &rq, SP_OP_COUNT, repo, store, db) == -1 ||
	    sc__call(c, &rq, -1, &rep) == -1)
		return -1;
	*count = rep.count;
	return 0;
}
