/*
 * Ordered scans: one page per request, each its own read snapshot in
 * storesd; the page's entries are copied here so the connection can be
 * used in between, and only one page is held at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

struct sc_scan {
	sc_conn		*c;
	char		*repo;
	char		*store;
	char		*db;
	struct sp_bytes	 prefix;	/* copies, owned */
	struct sp_bytes	 start;
	struct sp_bytes	 end;
	int		 has_limit;
	uint64_t	 left;		/* entries still wanted */
	bool		 reverse;
	bool		 keys_only;
	char		 cursor[SP_KEY_MAX];
	size_t		 cursorn;
	bool		 has_cursor;
	bool		 done;		/* no page after this one */
	bool		 fetched;	/* a page was asked for */
	char		*page;		/* the current page's entries */
	struct sp_mp_rd	 rd;
	uint32_t	 remain;	/* entries of it not handed out */
};

static int
dup_bytes(sc_conn *c, const void *p, size_t n, struct sp_bytes *out)
{
	char	*d;

	out->p = NULL;
	out->n = 0;
	if (p == NULL)
		return 0;
	if ((d = malloc(n ? n : 1)) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	memcpy(d, p, n);
	out->p = d;
	out->n = n;
	return 0;
}

sc_scan *
sc_scan_begin(sc_conn *c, const char *repo, const char *store,
    const char *db, const struct sc_scan_opts *o)
{
	struct sc_scan_opts	 none;
	sc_scan			*s;

	if (c == NULL)
		return NULL;
	if (o == NULL) {
		memset(&none, 0, sizeof(none));
		o = &none;
	}
	if (store == NULL) {
		sc__fail(c, SC_ERR_INVALID, "a store name is required");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sc__fail(c, SC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->c = c;
	s->has_limit = o->has_limit;
	s->left = o->limit;
	s->reverse = o->reverse != 0;
	s->keys_only = o->keys_only != 0;
	if (sc__strdup(c, repo, &s->repo) == -1 ||
	    sc__strdup(c, store, &s->store) == -1 ||
	    sc__strdup(c, db, &s->db) == -1 ||
	    dup_bytes(c, o->prefix, o->prefix_len, &s->prefix) == -1 ||
	    dup_bytes(c, o->start, o->start_len, &s->start) == -1 ||
	    dup_bytes(c, o->end, o->end_len, &s->end) == -1) {
		sc_scan_end(s);
		return NULL;
	}
	return s;
}

/* Fetches the next page; returns 0 or -1. */
static int
fetch(sc_scan *s)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;
	char		*page;

	if (sc__target(s->c, &rq, SP_OP_SCAN, s->repo, s->store, s->db) == -1)
		return -1;
	rq.prefix = s->prefix;
	rq.start = s->start;
	rq.end = s->end;
	if (s->has_cursor) {
		rq.cursor.p = s->cursor;
		rq.cursor.n = s->cursorn;
	}
	rq.reverse = s->reverse;
	rq.keys_only = s->keys_only;
	rq.has = SP_F_REVERSE | SP_F_KEYS_ONLY;
	if (s->has_limit) {
		rq.limit = s->left;
		rq.has |= SP_F_LIMIT;
	}
	s->fetched = true;
	if (sc__call(s->c, &rq, -1, &rep) == -1)
		return -1;
	if (rep.cursor.p != NULL && (rep.entries.n == 0 ||
	    rep.cursor.n > sizeof(s->cursor)))
		return sc__die(s->c, SC_ERR_PROTOCOL, "a scan page came with "
		    "a bad cursor; the connection is closed");
	if ((page = realloc(s->page, rep.entries.raw.n + 1)) == NULL)
		return sc__fail(s->c, SC_ERR_NOMEM, "out of memory");
	s->page = page;
	memcpy(page, rep.entries.raw.p, rep.entries.raw.n);
	sp_mp_rd_init(&s->rd, page, rep.entries.raw.n);
	s->remain = rep.entries.n;
	s->done = rep.cursor.p == NULL;
	if (!s->done) {
		memcpy(s->cursor, rep.cursor.p, rep.cursor.n);
		s->cursorn = rep.cursor.n;
		s->has_cursor = true;
	}
	return 0;
}

int
sc_scan_next(sc_scan *s, const void **key, size_t *klen, const void **val,
    size_t *vlen)
{
	struct sp_bytes	 k, v;

	if (s == NULL)
		return -1;
	while (s->remain == 0) {
		/* The first page is asked for even with limit 0, so a bad
		 * request is reported rather than passed over. */
		if (s->done || (s->fetched && s->has_limit && s->left == 0))
			return 0;
		if (fetch(s) == -1)
			return -1;
	}
	if (sp_scan_next(&s->rd, s->keys_only, &k, &v) == -1)
		return sc__die(s->c, SC_ERR_PROTOCOL, "a scan entry is "
		    "malformed; the connection is closed");
	s->remain--;
	if (s->has_limit)
		s->left--;
	if (s->has_limit && s->left == 0)
		s->remain = 0;
	if (key)
		*key = k.p;
	if (klen)
		*klen = k.n;
	if (val)
		*val = v.p;
	if (vlen)
		*vlen = v.n;
	return 1;
}

void
sc_scan_end(sc_scan *s)
{
	if (s == NULL)
		return;
	free(s->repo);
	free(s->store);
	free(s->db);
	free((char *)s->prefix.p);
	free((char *)s->start.p);
	free((char *)s->end.p);
	free(s->page);
	free(s);
}
