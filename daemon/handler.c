#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "handler.h"
#include "handler_int.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "registry.h"
#include "sp_frame.h"
#include "sp_msg.h"
#include "sp_names.h"
#include "store.h"

static void
reply_err(struct conn *c, uint64_t id, const struct sp_error *err)
{
	int	 rc;

	log_debug("%s: request %llu: %s: %s", __func__,
	    (unsigned long long)id, sp_code_name(err->code), err->msg);
	if (err->has_index)
		rc = sp_reply_error_at(conn_out(c), id, err->code, err->msg,
		    err->index);
	else
		rc = sp_reply_error(conn_out(c), id, err->code, err->msg);
	if (rc == -1)
		log_warnx("%s: out of memory for an error reply", __func__);
}

/* Quotes a name from a request only when it is a name, never raw bytes. */
static const char *
quote(struct sp_bytes b, char *buf, size_t n)
{
	if (sp_name_check(b) == -1)
		return "(not a valid name)";
	snprintf(buf, n, "%.*s", (int)b.n, b.p);
	return buf;
}

static int
unknown_store(const struct config *cfg, struct sp_bytes name,
    struct sp_error *err)
{
	char	 list[160] = "", q[SP_NAME_MAX + 1];
	size_t	 len = 0;
	unsigned i;

	for (i = 0; i < cfg->nstores && len < sizeof(list); i++)
		len += snprintf(list + len, sizeof(list) - len, "%s%s",
		    i ? ", " : "", cfg->stores[i].name);
	return sp_seterr(err, SP_UNKNOWN_STORE, "no store named '%s' is "
	    "configured; stores: %s", quote(name, q, sizeof(q)), list);
}

int
resolve_db(const struct cfg_store *st, struct sp_bytes name,
    struct sp_error *err)
{
	char	 list[160] = "", q[SP_NAME_MAX + 1];
	size_t	 len = 0;
	unsigned i;

	int	 db;

	if ((db = cfg_db_index(st, name)) != -1)
		return db;
	for (i = 0; i < st->ndbs && len < sizeof(list); i++)
		len += snprintf(list + len, sizeof(list) - len, "%s%s",
		    i ? ", " : "", st->dbs[i]);
	return sp_seterr(err, SP_UNKNOWN_DB, "store %s has no db '%s'; its "
	    "dbs: %s", st->name, quote(name, q, sizeof(q)), list);
}

static int
resolve_repo(const struct cfg_store *st, const struct sp_req *rq,
    struct sp_bytes *repo, struct sp_error *err)
{
	if (st->path != NULL) {
		if (rq->has & SP_F_REPO)
			return sp_seterr(err, SP_BAD_REPO, "store %s is one "
			    "fixed env (path %s) and has no repos; leave the "
			    "repo out", st->name, st->path);
		repo->p = NULL;
		repo->n = 0;
		return 0;
	}
	if (rq->has & SP_F_REPO) {
		*repo = rq->repo;
		return sp_repo_check(*repo, err);
	}
	repo->p = SP_DEFAULT_REPO;
	repo->n = strlen(SP_DEFAULT_REPO);
	return 0;
}

int
allowed(struct conn *c, const struct cfg_store *st, bool write,
    struct sp_error *err)
{
	return acl_check(st, &c->peer, c->loop->d->uid, write, err);
}

int
resolve(struct conn *c, const struct sp_req *rq, bool write,
    struct target *t, struct sp_error *err)
{
	const struct config	*cfg = c->loop->d->cfg;
	int			 db;

	if ((t->st = cfg_store_find(cfg, rq->store)) == NULL)
		return unknown_store(cfg, rq->store, err);
	if (allowed(c, t->st, write, err) == -1 ||
	    resolve_repo(t->st, rq, &t->repo, err) == -1)
		return -1;
	if ((db = resolve_db(t->st, rq->db, err)) == -1)
		return -1;
	t->db = (unsigned)db;
	return 0;
}

int
check_key(struct sp_bytes key, struct sp_error *err)
{
	if (!sp_key_ok(key.n))
		return sp_seterr(err, SP_BAD_KEY, "the key is %zu bytes; keys "
		    "are 1 to %d bytes", key.n, SP_KEY_MAX);
	return 0;
}

/* ---------------------------------------------------------- inline ops */

static int
do_hello(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	if (rq->version != SP_PROTO_VERSION)
		return sp_seterr(err, SP_BAD_VERSION, "this storesd speaks "
		    "protocol version %d and the client asked for %llu; use "
		    "a client of the same release", SP_PROTO_VERSION,
		    (unsigned long long)rq->version);
	if (rq->client.p)
		log_debug("%s: connection %llu is %.*s", __func__,
		    (unsigned long long)c->serial,
		    (int)(rq->client.n > 64 ? 64 : rq->client.n),
		    rq->client.p);
	return sp_reply_hello(conn_out(c), rq->id, "storesd " STORESD_VERSION,
	    c->loop->d->cfg->max_frame);
}

#define ENV_NCOUNTERS	(ST_ENV_NCOUNTERS + WRITER_NCOUNTERS + CTR_NCOUNTERS)
#define DAEMON_NCOUNTERS (8 + CTR_NCOUNTERS)

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
	    (reg_now_ms() - d->start_ms) / 1000 };
	dc[2] = (struct sp_counter){ "connections", atomic_load(&d->nconns) };
	dc[3] = (struct sp_counter){ "open_envs", reg_count(d->reg) };
	dc[4] = (struct sp_counter){ "io_threads", d->nloops };
	dc[5] = (struct sp_counter){ "pool_pending", pool_pending(d->pool) };
	dc[6] = (struct sp_counter){ "reloads", atomic_load(&d->reloads) };
	dc[7] = (struct sp_counter){ "config_generation", d->cfg->gen };
	memset(&all, 0, sizeof(all));
	for (i = 0; i < d->nloops; i++)
		ctr_add(&all, &d->loops[i]->ctr);
	ndc = 8 + ctr_export(&all, 0, &dc[8]);
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

static int
do_stats(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct reg_env	**envs = NULL, *one;
	char		 repo[SP_REPO_MAX + 1];
	size_t		 i, k, n = 0;
	int		 rc;

	if (rq->has & SP_F_STORE) {
		if (resolve(c, rq, false, &t, err) == -1)
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
	v->inflight = e->refs;
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

static int
do_live(struct conn *c, const struct sp_req *rq, struct sp_error *err)
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
			return unknown_store(d->cfg, rq->store, err);
		if (allowed(c, st, false, err) == -1)
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

/* ------------------------------------------------------------ pool ops */

/* Small writes to sync = none envs commit at the end of the turn. */
#define INLINE_MAX	(64 * 1024)

void
send_job(struct conn *c, struct job *j, uint64_t id)
{
	j->d = c->loop->d;
	j->loop = c->loop;
	j->conn = c;
	j->id = id;
	/* Counted here, while j surely holds its env. */
	ctr_op(&j->env->ctr, c->op);
	conn_hold(c);
	if (j->kind != JOB_WRITE)
		job_submit(j);
	else if (st_nosync(j->env->st) && j->nbytes <= INLINE_MAX)
		loop_defer_write(c->loop, j);
	else
		job_submit_write(j);
}

static int
do_snapshot(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct job	*j = NULL;
	struct reg_env	*env = NULL;
	struct sp_error	 first;
	int		 fd, fl, rc;

	/* An env busy for a moment: retried before the descriptor is used,
	 * so that it is still there for the retry. */
	if (c->nfds > 0 && resolve(c, rq, false, &t, &first) == 0 &&
	    (rc = reg_acquire(d->reg, t.st, t.repo, false, &env,
	    &first)) != 0) {
		if (rc == REG_AGAIN)
			return REG_AGAIN;
		env = NULL;	/* said below, after the descriptor's checks */
	}
	/* The descriptor came with this request's bytes: take it first, so
	 * a refused snapshot does not leave it for the next one. */
	if ((fd = conn_take_fd(c)) == -1)
		return sp_seterr(err, SP_BAD_REQUEST, "a snapshot needs a "
		    "file descriptor passed (SCM_RIGHTS) with the request; "
		    "storesd never opens a path a client names");
	if ((fl = fcntl(fd, F_GETFL)) == -1 || (fl & O_ACCMODE) == O_RDONLY) {
		sp_seterr(err, SP_BAD_REQUEST, "the passed descriptor is not "
		    "open for writing");
		goto fail;
	}
	if (resolve(c, rq, false, &t, err) == -1)
		goto fail;
	if ((j = job_new(JOB_SNAPSHOT)) == NULL) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto fail;
	}
	if (env == NULL &&
	    (rc = reg_acquire(d->reg, t.st, t.repo, false, &env, err)) != 0) {
		if (rc == REG_AGAIN)
			sp_seterr(err, SP_BUSY, "the env is being closed or "
			    "resized; retry");
		env = NULL;
		goto fail;
	}
	j->env = env;
	j->fd = fd;
	j->compact = rq->compact;
	send_job(c, j, rq->id);
	return 0;
fail:
	if (env != NULL)
		reg_release(d->reg, env);
	job_free(j);
	close(fd);
	return -1;
}

static int
do_fork(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct job	*j;
	int		 rc;

	/* A fork reads its source and writes its destination. */
	if (resolve(c, rq, true, &t, err) == -1)
		return -1;
	if (t.st->path != NULL)
		return sp_seterr(err, SP_BAD_REQUEST, "store %s is one fixed "
		    "env (path %s); only per-repo stores can be forked",
		    t.st->name, t.st->path);
	if (sp_repo_check(rq->dst, err) == -1)
		return -1;
	if (rq->dst.n == t.repo.n && memcmp(rq->dst.p, t.repo.p, t.repo.n) == 0)
		return sp_seterr(err, SP_BAD_REQUEST, "a repo cannot be forked "
		    "into itself; name a new destination repo");
	if ((j = job_new(JOB_FORK)) == NULL)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	if ((rc = reg_acquire(d->reg, t.st, t.repo, false, &j->env,
	    err)) != 0) {
		j->env = NULL;
		job_free(j);
		return rc;
	}
	if (reg_reserve(d->reg, t.st, rq->dst, &j->dst, err) == -1) {
		reg_release(d->reg, j->env);
		job_free(j);
		return -1;
	}
	send_job(c, j, rq->id);
	return 0;
}

/* ------------------------------------------------------------ dispatch */

int
handle_frame(struct conn *c, const char *body, size_t n)
{
	struct sp_req	 rq;
	struct sp_error	 err;
	int		 rc;

	err.code = SP_OK;
	err.has_index = 0;
	if (sp_req_decode(body, n, &rq, &err) == -1) {
		ctr_err(&c->loop->ctr, err.code);
		reply_err(c, rq.id, &err);
		return 0;
	}
	c->op = rq.op;
	c->env_seen = NULL;
	switch (rq.op) {
	case SP_OP_HELLO:
		rc = do_hello(c, &rq, &err);
		break;
	case SP_OP_PING:
		rc = sp_reply_ok(conn_out(c), rq.id);
		break;
	case SP_OP_GET:
		rc = do_get(c, &rq, &err);
		break;
	case SP_OP_PUT:
		rc = do_put(c, &rq, &err);
		break;
	case SP_OP_DEL:
		rc = do_del(c, &rq, &err);
		break;
	case SP_OP_BATCH:
		rc = do_batch(c, &rq, &err);
		break;
	case SP_OP_BATCH_ABORT:
		rc = do_batch_abort(c, &rq, &err);
		break;
	case SP_OP_MGET:
	case SP_OP_MISSING:
		rc = do_mget(c, &rq, &err);
		break;
	case SP_OP_COUNT:
		rc = do_count(c, &rq, &err);
		break;
	case SP_OP_SCAN:
		rc = do_scan(c, &rq, &err);
		break;
	case SP_OP_SNAPSHOT:
		rc = do_snapshot(c, &rq, &err);
		break;
	case SP_OP_FORK:
		rc = do_fork(c, &rq, &err);
		break;
	case SP_OP_STATS:
		rc = do_stats(c, &rq, &err);
		break;
	case SP_OP_LIVE:
		rc = do_live(c, &rq, &err);
		break;
	default:
		rc = sp_seterr(&err, SP_BAD_REQUEST, "unknown op");
		break;
	}
	if (rc == REG_AGAIN)
		return REG_AGAIN;
	/* A streamed batch counts once, at its last frame. */
	if (rq.op != SP_OP_BATCH || !rq.more) {
		ctr_op(&c->loop->ctr, rq.op);
		if (c->env_seen != NULL)
			ctr_op(&c->env_seen->ctr, rq.op);
	}
	if (rc == -1) {
		if (err.code == SP_OK)
			sp_seterr(&err, SP_INTERNAL, "out of memory");
		ctr_err(&c->loop->ctr, err.code);
		if (c->env_seen != NULL)
			ctr_err(&c->env_seen->ctr, err.code);
		reply_err(c, rq.id, &err);
	}
	return 0;
}
