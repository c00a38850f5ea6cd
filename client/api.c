/*
 * The synchronous operations: each builds one request (req.c), sends it
 * through sc__call() and turns the reply into what the caller owns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Refuses a synchronous call on an async connection's engine. */
static int
usable(sc_conn *c)
{
	return c != NULL && c->async == NULL ? 0 : -1;
}

int
sc_ping(sc_conn *c)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (usable(c) == -1)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.op = SP_OP_PING;
	return sc__call(c, &rq, -1, &rep);
}

int
sc_get(sc_conn *c, const char *repo, const char *store, const char *db,
    const void *key, size_t klen, void **val, size_t *vlen)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;
	char		*v;

	if (usable(c) == -1 || sc__req_key(c, &rq, SP_OP_GET, repo, store,
	    db, key, klen, NULL, 0) == -1)
		return -1;
	if (val == NULL || vlen == NULL)
		return sc__fail(c, SC_ERR_INVALID, "val and vlen are required");
	if (sc__call(c, &rq, -1, &rep) == -1)
		return -1;
	if (rep.val.p == NULL)
		return sc__die(c, SC_ERR_PROTOCOL, "the reply to get has no "
		    "value; the connection is closed");
	if ((v = malloc(rep.val.n + 1)) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory for a value "
		    "of %zu bytes", rep.val.n);
	memcpy(v, rep.val.p, rep.val.n);
	v[rep.val.n] = '\0';
	*val = v;
	*vlen = rep.val.n;
	return 0;
}

/* A put or del, conditional or not. */
static int
write_call(sc_conn *c, enum sp_op op, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, bool cond, bool if_absent,
    const void *old, size_t oldlen, const void *val, size_t vlen)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (usable(c) == -1)
		return -1;
	if ((cond ? sc__req_cond(c, &rq, op, repo, store, db, key, klen,
	    if_absent, old, oldlen, val, vlen) : sc__req_key(c, &rq, op, repo,
	    store, db, key, klen, val, vlen)) == -1)
		return -1;
	return sc__call(c, &rq, -1, &rep);
}

int
sc_put(sc_conn *c, const char *repo, const char *store, const char *db,
    const void *key, size_t klen, const void *val, size_t vlen)
{
	return write_call(c, SP_OP_PUT, repo, store, db, key, klen, false,
	    false, NULL, 0, val, vlen);
}

int
sc_del(sc_conn *c, const char *repo, const char *store, const char *db,
    const void *key, size_t klen)
{
	return write_call(c, SP_OP_DEL, repo, store, db, key, klen, false,
	    false, NULL, 0, NULL, 0);
}

int
sc_put_if_absent(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	return write_call(c, SP_OP_PUT, repo, store, db, key, klen, true,
	    true, NULL, 0, val, vlen);
}

int
sc_put_if_equals(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *old,
    size_t oldlen, const void *val, size_t vlen)
{
	return write_call(c, SP_OP_PUT, repo, store, db, key, klen, true,
	    false, old, oldlen, val, vlen);
}

int
sc_del_if_equals(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *old,
    size_t oldlen)
{
	return write_call(c, SP_OP_DEL, repo, store, db, key, klen, true,
	    false, old, oldlen, NULL, 0);
}

int
sc_snapshot(sc_conn *c, const char *repo, const char *store, int fd,
    int compact, uint64_t *size)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (usable(c) == -1 ||
	    sc__req_snapshot(c, &rq, repo, store, fd, compact) == -1)
		return -1;
	/* Else the kernel refuses to pass it, and the connection dies. */
	if (fcntl(fd, F_GETFD) == -1)
		return sc__fail(c, SC_ERR_INVALID, "fd %d is not open: %s", fd,
		    strerror(errno));
	if (sc__call(c, &rq, fd, &rep) == -1)
		return -1;
	if (size)
		*size = rep.size;
	return 0;
}

int
sc_fork(sc_conn *c, const char *src_repo, const char *store,
    const char *dst_repo)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (usable(c) == -1 ||
	    sc__req_fork(c, &rq, src_repo, store, dst_repo) == -1)
		return -1;
	return sc__call(c, &rq, -1, &rep);
}

/* ------------------------------------------------------------- stats */

uint64_t
sc_counter_get(const sc_counter *c, size_t n, const char *name, uint64_t dflt)
{
	size_t	 i;

	for (i = 0; c != NULL && i < n; i++)
		if (strcmp(c[i].name, name) == 0)
			return c[i].value;
	return dflt;
}

static char *
dup_bytes(struct sp_bytes b)
{
	return b.p ? strndup(b.p, b.n) : NULL;
}

/* Appends a counter to *v (of *n); returns 0 or -1. */
static int
add_counter(sc_counter **v, size_t *n, struct sp_bytes name, uint64_t value)
{
	sc_counter	*nv;

	if ((nv = realloc(*v, (*n + 1) * sizeof(**v))) == NULL)
		return -1;
	*v = nv;
	if ((nv[*n].name = dup_bytes(name)) == NULL)
		return -1;
	nv[*n].value = value;
	(*n)++;
	return 0;
}

static void
free_counters(sc_counter *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free((char *)v[i].name);
	free(v);
}

void
sc_stats_free(sc_stats *s)
{
	sc_stats_env	*e;
	size_t		 i, j;

	if (s == NULL)
		return;
	free_counters(s->daemon, s->ndaemon);
	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		free((char *)e->repo);
		free((char *)e->store);
		free((char *)e->dir);
		free_counters(e->counters, e->ncounters);
		for (j = 0; j < e->ndbs; j++) {
			free((char *)e->dbs[j].name);
			free_counters(e->dbs[j].counters, e->dbs[j].ncounters);
		}
		free(e->dbs);
	}
	free(s->envs);
	free(s);
}

static int
stats_event(void *arg, enum sp_stats_event ev, const struct sp_live_env *id,
    struct sp_bytes name, uint64_t value)
{
	sc_stats	*s = arg;
	sc_stats_env	*e = s->nenvs ? &s->envs[s->nenvs - 1] : NULL;
	sc_stats_db	*db;
	void		*nv;

	switch (ev) {
	case SP_STATS_DAEMON_COUNTER:
		return add_counter(&s->daemon, &s->ndaemon, name, value);
	case SP_STATS_ENV:
		if ((nv = realloc(s->envs, (s->nenvs + 1) *
		    sizeof(*s->envs))) == NULL)
			return -1;
		s->envs = nv;
		e = &s->envs[s->nenvs++];
		memset(e, 0, sizeof(*e));
		e->repo = dup_bytes(id->repo);
		e->store = dup_bytes(id->store);
		e->dir = dup_bytes(id->dir);
		return (id->repo.p && !e->repo) || !e->store || !e->dir ?
		    -1 : 0;
	case SP_STATS_ENV_COUNTER:
		return add_counter(&e->counters, &e->ncounters, name, value);
	case SP_STATS_DB:
		if ((nv = realloc(e->dbs, (e->ndbs + 1) *
		    sizeof(*e->dbs))) == NULL)
			return -1;
		e->dbs = nv;
		db = &e->dbs[e->ndbs++];
		memset(db, 0, sizeof(*db));
		return (db->name = dup_bytes(name)) ? 0 : -1;
	case SP_STATS_DB_COUNTER:
		db = &e->dbs[e->ndbs - 1];
		return add_counter(&db->counters, &db->ncounters, name, value);
	}
	return -1;
}

/*
 * Sends a stats or live request filtered by repo and store; the reply is
 * in *rep.  Returns 0 or -1.
 */
static int
filtered(sc_conn *c, enum sp_op op, const char *repo, const char *store,
    void *out, struct sp_reply *rep)
{
	struct sp_req	 rq;

	if (usable(c) == -1)
		return -1;
	sc__req_filtered(&rq, op, repo, store);
	if (out == NULL)
		return sc__fail(c, SC_ERR_INVALID, "out is required");
	return sc__call(c, &rq, -1, rep);
}

/* After a failed decode: storesd's reply was bad, or memory ran out. */
static int
decode_failed(sc_conn *c, const struct sp_error *perr)
{
	if (perr->code != SP_OK)
		return sc__die(c, SC_ERR_PROTOCOL, "%s", perr->msg);
	return sc__fail(c, SC_ERR_NOMEM, "out of memory");
}

int
sc_get_stats(sc_conn *c, const char *repo, const char *store, sc_stats **out)
{
	struct sp_reply	 rep;

	if (filtered(c, SP_OP_STATS, repo, store, out, &rep) == -1)
		return -1;
	return sc__stats_out(c, &rep, out);
}

int
sc__stats_out(sc_conn *c, const struct sp_reply *rep, sc_stats **out)
{
	struct sp_error	 perr = { .code = SP_OK };
	sc_stats	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	if (sp_stats_decode(rep, stats_event, s, &perr) == -1) {
		sc_stats_free(s);
		return decode_failed(c, &perr);
	}
	*out = s;
	return 0;
}

/* -------------------------------------------------------------- live */

void
sc_live_free(sc_live *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free((char *)l->envs[i].repo);
		free((char *)l->envs[i].store);
		free((char *)l->envs[i].dir);
	}
	free(l->envs);
	free(l);
}

static int
live_event(void *arg, const struct sp_live_env *v)
{
	sc_live		*l = arg;
	sc_live_env	*e, *nv;

	if ((nv = realloc(l->envs, (l->n + 1) * sizeof(*l->envs))) == NULL)
		return -1;
	l->envs = nv;
	e = &l->envs[l->n++];
	e->repo = dup_bytes(v->repo);
	e->store = dup_bytes(v->store);
	e->dir = dup_bytes(v->dir);
	e->inflight = v->inflight;
	e->idle_ms = v->idle_ms;
	return (v->repo.p && !e->repo) || !e->store || !e->dir ? -1 : 0;
}

int
sc_get_live(sc_conn *c, const char *repo, const char *store, sc_live **out)
{
	struct sp_reply	 rep;

	if (filtered(c, SP_OP_LIVE, repo, store, out, &rep) == -1)
		return -1;
	return sc__live_out(c, &rep, out);
}

int
sc__live_out(sc_conn *c, const struct sp_reply *rep, sc_live **out)
{
	struct sp_error	 perr = { .code = SP_OK };
	sc_live		*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	if (sp_live_decode(rep, live_event, l, &perr) == -1) {
		sc_live_free(l);
		return decode_failed(c, &perr);
	}
	*out = l;
	return 0;
}
