/*
 * Ordered scans: one page per request, each its own read snapshot in
 * storesd; the page's entries are copied here so the connection can be
 * used in between, and only one page is held at a time.  Also the scan
 * options object, which async.c's page requests share.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

struct sc_scan {
	sc_conn		*c;
	char		*repo;
	char		*store;
	char		*db;
	sc_scan_opts	 o;		/* a copy, its bytes owned */
	uint64_t	 left;		/* entries still wanted */
	char		 cursor[SP_KEY_MAX];
	size_t		 cursorn;
	bool		 has_cursor;
	bool		 done;		/* no page after this one */
	bool		 fetched;	/* a page was asked for */
	char		*page;		/* the current page's entries */
	struct sp_mp_rd	 rd;
	uint32_t	 remain;	/* entries of it not handed out */
};

/* ------------------------------------------------------------ options */

sc_scan_opts *
sc_scan_opts_new(void)
{
	return calloc(1, sizeof(sc_scan_opts));
}

static void
opts_clear(sc_scan_opts *o)
{
	free((char *)o->prefix.p);
	free((char *)o->start.p);
	free((char *)o->end.p);
	memset(o, 0, sizeof(*o));
}

void
sc_scan_opts_free(sc_scan_opts *o)
{
	if (o == NULL)
		return;
	opts_clear(o);
	free(o);
}

/* Replaces *b with a copy of n bytes at p (NULL: none); 0 or -1. */
static int
set_bytes(struct sp_bytes *b, const void *p, size_t n)
{
	char	*d = NULL;

	if (p == NULL && n > 0)
		return -1;
	if (p != NULL) {
		if ((d = malloc(n ? n : 1)) == NULL)
			return -1;
		memcpy(d, p, n);
	}
	free((char *)b->p);
	b->p = d;
	b->n = p ? n : 0;
	return 0;
}

int
sc_scan_opts_set_prefix(sc_scan_opts *o, const void *p, size_t n)
{
	return o ? set_bytes(&o->prefix, p, n) : -1;
}

int
sc_scan_opts_set_start(sc_scan_opts *o, const void *p, size_t n)
{
	return o ? set_bytes(&o->start, p, n) : -1;
}

int
sc_scan_opts_set_end(sc_scan_opts *o, const void *p, size_t n)
{
	return o ? set_bytes(&o->end, p, n) : -1;
}

int
sc_scan_opts_set_limit(sc_scan_opts *o, uint64_t n)
{
	if (o == NULL)
		return -1;
	o->has_limit = true;
	o->limit = n;
	return 0;
}

int
sc_scan_opts_set_reverse(sc_scan_opts *o, int on)
{
	if (o == NULL)
		return -1;
	o->reverse = on != 0;
	return 0;
}

int
sc_scan_opts_set_keys_only(sc_scan_opts *o, int on)
{
	if (o == NULL)
		return -1;
	o->keys_only = on != 0;
	return 0;
}

/* --------------------------------------------------------------- scans */

sc_scan *
sc_scan_begin(sc_conn *c, const char *repo, const char *store,
    const char *db, const sc_scan_opts *o)
{
	sc_scan	*s;

	if (c == NULL || c->async != NULL)
		return NULL;
	if (store == NULL) {
		sc__fail(c, SC_ERR_INVALID, "a store name is required");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sc__fail(c, SC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->c = c;
	if (o != NULL) {
		s->o.has_limit = o->has_limit;
		s->o.reverse = o->reverse;
		s->o.keys_only = o->keys_only;
		s->left = o->limit;
	}
	if (sc__strdup(c, repo, &s->repo) == -1 ||
	    sc__strdup(c, store, &s->store) == -1 ||
	    sc__strdup(c, db, &s->db) == -1 ||
	    (o != NULL && (set_bytes(&s->o.prefix, o->prefix.p,
	    o->prefix.n) == -1 || set_bytes(&s->o.start, o->start.p,
	    o->start.n) == -1 || set_bytes(&s->o.end, o->end.p,
	    o->end.n) == -1))) {
		if (c->err != SC_ERR_NOMEM)
			sc__fail(c, SC_ERR_NOMEM, "out of memory");
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

	if (sc__req_target(s->c, &rq, SP_OP_SCAN, s->repo, s->store,
	    s->db) == -1)
		return -1;
	sc__req_scan(&rq, &s->o, s->has_cursor ? s->cursor : NULL,
	    s->cursorn, s->o.has_limit, s->left);
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
		if (s->done || (s->fetched && s->o.has_limit && s->left == 0))
			return 0;
		if (fetch(s) == -1)
			return -1;
	}
	if (sp_scan_next(&s->rd, s->o.keys_only, &k, &v) == -1)
		return sc__die(s->c, SC_ERR_PROTOCOL, "a scan entry is "
		    "malformed; the connection is closed");
	s->remain--;
	if (s->o.has_limit)
		s->left--;
	if (s->o.has_limit && s->left == 0)
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
	opts_clear(&s->o);
	free(s->page);
	free(s);
}
