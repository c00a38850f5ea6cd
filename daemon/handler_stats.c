/*
 * handler_stats: stats and live, the observers' requests, answered on
 * the I/O thread.
 *
 * Both show only the envs of stores the peer may read: the others are
 * not there for it.  Their looks at the registry do not count as use,
 * so an observer keeps no env from closing when idle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "handler_int.h"
#include "loop.h"
#include "pool.h"
#include "registry.h"
#include "snap.h"
#include "watch.h"
#include "sp_msg.h"
#include "sp_names.h"
#include "store.h"
#include "writer.h"

#define ENV_NCOUNTERS	(ST_ENV_NCOUNTERS + WRITER_NCOUNTERS + CTR_NCOUNTERS)
#define DAEMON_NCOUNTERS (13 + CTR_NCOUNTERS)

/* Copies of one env's identity and counters, for a stats reply. */
static int
stats_reply(struct conn *c, uint64_t id, struct reg_env **envs, size_t n,
    struct sp_error *err)
{
	struct daemon		*d = c->loop->d;
	struct sp_stats_env	*se = NULL;
	struct sp_stats_db	*sdb = NULL;
	struct st_stats		*ss = NULL;
	struct sp_counter	(*ec)[ENV_NCOUNTERS] = NULL;
	const struct cfg_store	*st;
	struct sp_counter	 dc[DAEMON_NCOUNTERS];
	struct counters		 all;
	size_t			 i, k, ndc;
	int			 ret = -1;

	if ((se = calloc(n + 1, sizeof(*se))) == NULL ||
	    (ss = calloc(n + 1, sizeof(*ss))) == NULL ||
	    (sdb = calloc((n + 1) * CFG_MAX_DBS, sizeof(*sdb))) == NULL ||
	    (ec = calloc(n + 1, sizeof(*ec))) == NULL) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		if (st_stats(envs[i]->st, c->loop->idx, &ss[i], err) == -1)
			goto done;
		se[i].id.repo.p = envs[i]->repo;
		se[i].id.repo.n = envs[i]->repo ? strlen(envs[i]->repo) : 0;
		se[i].id.store.p = envs[i]->store;
		se[i].id.store.n = strlen(envs[i]->store);
		se[i].id.dir.p = envs[i]->dir;
		se[i].id.dir.n = strlen(envs[i]->dir);
		memcpy(ec[i], ss[i].env, sizeof(ss[i].env));
		writer_counters(envs[i], &ec[i][ST_ENV_NCOUNTERS]);
		se[i].counters = ec[i];
		se[i].ncounters = ST_ENV_NCOUNTERS + WRITER_NCOUNTERS +
		    ctr_export(&envs[i]->ctr, 1,
		    &ec[i][ST_ENV_NCOUNTERS + WRITER_NCOUNTERS]);
		se[i].dbs = &sdb[i * CFG_MAX_DBS];
		se[i].ndbs = ss[i].ndbs;
		/* The store it was opened for: a reload may have changed or
		 * dropped it since. */
		st = atomic_load(&envs[i]->cfg);
		for (k = 0; k < ss[i].ndbs; k++) {
			struct sp_stats_db *db = &sdb[i * CFG_MAX_DBS + k];

			db->name.p = st->dbs[k];
			db->name.n = strlen(db->name.p);
			db->counters = ss[i].db[k];
			db->ncounters = ST_DB_NCOUNTERS;
		}
	}
	dc[0] = (struct sp_counter){ "pid", (uint64_t)getpid() };
	dc[1] = (struct sp_counter){ "uptime_s",
	    (clock_now_ms() - d->start_ms) / 1000 };
	dc[2] = (struct sp_counter){ "connections", atomic_load(&d->nconns) };
	dc[3] = (struct sp_counter){ "open_envs", reg_count(d->reg) };
	dc[4] = (struct sp_counter){ "io_threads", d->nloops };
	dc[5] = (struct sp_counter){ "pool_pending", pool_pending(d->pool) };
	dc[6] = (struct sp_counter){ "reloads", atomic_load(&d->reloads) };
	dc[7] = (struct sp_counter){ "config_generation", d->cfg->gen };
	dc[8] = (struct sp_counter){ "snapshots", snap_running(d->snaps) };
	dc[9] = (struct sp_counter){ "watches", watch_open_count() };
	dc[10] = (struct sp_counter){ "watch_events", watch_events_sent() };
	dc[11] = (struct sp_counter){ "stalls", 0 };
	dc[12] = (struct sp_counter){ "stall_wakes", 0 };
	memset(&all, 0, sizeof(all));
	for (i = 0; i < d->nloops; i++) {
		ctr_add(&all, &d->loops[i]->ctr);
		dc[11].value += atomic_load(&d->loops[i]->stalls);
		dc[12].value += atomic_load(&d->loops[i]->stall_wakes);
	}
	ndc = 13 + ctr_export(&all, 0, &dc[13]);
	if (sp_reply_stats(conn_out(c), id, dc, ndc, se, n) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	ret = 0;
done:
	free(se);
	free(ss);
	free(sdb);
	free(ec);
	return ret;
}

/* True when c's peer may read the env's store (as configured now). */
static bool
readable(struct conn *c, const struct reg_env *e)
{
	struct sp_bytes		 name = { e->store, strlen(e->store) };
	const struct cfg_store	*st = cfg_store_find(c->loop->d->cfg, name);

	return st != NULL && acl_may(st, &c->peer, c->loop->d->uid, false);
}

int
handler_stats(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct reg_env	**envs = NULL, *one;
	char		 repo[SP_REPO_MAX + 1];
	size_t		 i, k, n = 0;
	int		 rc;

	if (rq->has & SP_F_STORE) {
		if (handler_resolve(c, rq, false, &t, err) == -1)
			return -1;
		if ((rc = reg_acquire(d->reg, t.st, t.repo, false, &one,
		    err)) != 0)
			return rc;
		rc = stats_reply(c, rq->id, &one, 1, err);
		reg_release(d->reg, one);
		return rc;
	}
	if (rq->has & SP_F_REPO) {
		if (sp_repo_check(rq->repo, err) == -1)
			return -1;
		snprintf(repo, sizeof(repo), "%.*s", (int)rq->repo.n,
		    rq->repo.p);
	}
	if (reg_collect(d->reg, rq->has & SP_F_REPO ? repo : NULL, NULL, &envs,
	    &n) == -1)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	/* Only what the peer may read: the others are not there for it. */
	for (i = k = 0; i < n; i++) {
		if (readable(c, envs[i]))
			envs[k++] = envs[i];
		else
			reg_unpeek(d->reg, envs[i]);
	}
	n = k;
	rc = stats_reply(c, rq->id, envs, n, err);
	for (i = 0; i < n; i++)
		reg_unpeek(d->reg, envs[i]);
	free(envs);
	return rc;
}

struct live_list {
	struct conn		*c;
	struct sp_live_env	*v;
	size_t			 n;
	size_t			 cap;
};

/* Copies s for the list; the registry lock is held, so nothing may stay
 * pointing into the entry. */
static int
live_str(const char *s, struct sp_bytes *b)
{
	b->n = s ? strlen(s) : 0;
	b->p = NULL;
	return s == NULL || (b->p = strdup(s)) != NULL ? 0 : -1;
}

static int
live_add(void *arg, const struct reg_env *e, uint64_t idle_ms)
{
	struct live_list	*l = arg;
	struct sp_live_env	*v;

	if (!readable(l->c, e))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	v = &l->v[l->n++];
	memset(v, 0, sizeof(*v));
	v->inflight = reg_inflight(l->c->loop->d->reg, e);
	v->idle_ms = idle_ms;
	if (live_str(e->repo, &v->repo) == -1 ||
	    live_str(e->store, &v->store) == -1 ||
	    live_str(e->dir, &v->dir) == -1)
		return -1;
	return 0;
}

static void
live_free(struct live_list *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++) {
		free((char *)l->v[i].repo.p);
		free((char *)l->v[i].store.p);
		free((char *)l->v[i].dir.p);
	}
	free(l->v);
}

int
handler_live(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct daemon		*d = c->loop->d;
	struct live_list	 l = { c, NULL, 0, 0 };
	const struct cfg_store	*st;
	char			 repo[SP_REPO_MAX + 1], store[SP_NAME_MAX + 1];
	int			 ret = -1;

	if (rq->has & SP_F_REPO) {
		if (sp_repo_check(rq->repo, err) == -1)
			return -1;
		snprintf(repo, sizeof(repo), "%.*s", (int)rq->repo.n,
		    rq->repo.p);
	}
	if (rq->has & SP_F_STORE) {
		if ((st = cfg_store_find(d->cfg, rq->store)) == NULL)
			return handler_unknown_store(d->cfg, rq->store, err);
		if (handler_allowed(c, st, false, err) == -1)
			return -1;
		snprintf(store, sizeof(store), "%.*s", (int)rq->store.n,
		    rq->store.p);
	}
	if (reg_foreach(d->reg, rq->has & SP_F_REPO ? repo : NULL,
	    rq->has & SP_F_STORE ? store : NULL, live_add, &l) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	if (sp_reply_live(conn_out(c), rq->id, l.v, l.n) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	ret = 0;
done:
	live_free(&l);
	return ret;
}

