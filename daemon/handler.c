#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "clock.h"
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
#include "snap.h"
#include "sp_frame.h"
#include "sp_msg.h"
#include "sp_names.h"
#include "writer.h"
#include "store.h"
#include "watch.h"

static void
reply_err(struct conn *c, uint64_t id, const struct sp_error *err)
{
	log_debug("%s: request %llu: %s: %s", __func__,
	    (unsigned long long)id, sp_code_name(err->code), err->msg);
	if (sp_reply_err(conn_out(c), id, err) == -1)
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

int
handler_unknown_store(const struct config *cfg, struct sp_bytes name,
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
handler_resolve_db(const struct cfg_store *st, struct sp_bytes name,
    struct sp_error *err)
{
	char	 list[160], q[SP_NAME_MAX + 1];
	size_t	 len = 0;
	unsigned i;
	int	 db;

	/* list is set here, not where it is declared: an initializer would
	 * clear its 160 bytes for every request that names a db, and only
	 * the error needs it. */
	if ((db = cfg_db_index(st, name)) != -1)
		return db;
	list[0] = '\0';
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
handler_allowed(struct conn *c, const struct cfg_store *st, bool write,
    struct sp_error *err)
{
	return acl_check(st, &c->peer, c->loop->d->uid, write, err);
}

int
handler_resolve(struct conn *c, const struct sp_req *rq, bool write,
    struct target *t, struct sp_error *err)
{
	const struct config	*cfg = c->loop->d->cfg;
	int			 db;

	if ((t->st = cfg_store_find(cfg, rq->store)) == NULL)
		return handler_unknown_store(cfg, rq->store, err);
	if (handler_allowed(c, t->st, write, err) == -1 ||
	    resolve_repo(t->st, rq, &t->repo, err) == -1)
		return -1;
	if ((db = handler_resolve_db(t->st, rq->db, err)) == -1)
		return -1;
	t->db = (unsigned)db;
	return 0;
}

int
handler_check_key(struct sp_bytes key, struct sp_error *err)
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

/* ------------------------------------------------------------ pool ops */

/* Small writes to sync = none envs commit at the end of the turn. */
#define INLINE_MAX	(64 * 1024)

/* A finished job, on its loop's thread: its reply goes out. */
static void
job_done(struct job *j)
{
	conn_job_done(j->conn, j);
	job_free(j);
}

/* A finished job, from any thread: back to its connection's loop. */
static void
job_post(struct job *j)
{
	loop_post_done(j->loop, j);
}

void
handler_send_job(struct conn *c, struct job *j, uint64_t id)
{
	j->d = c->loop->d;
	j->loop = c->loop;
	j->conn = c;
	j->post = job_post;
	j->ctr = &c->loop->ctr;
	j->id = id;
	/* Counted here, while j surely holds its env (a read of a repo
	 * with no env yet has none). */
	if (j->env != NULL)
		ctr_op(&j->env->ctr, c->hc->op);
	conn_hold(c);
	if (j->kind == JOB_SNAPSHOT || j->kind == JOB_INBOUND)
		snap_submit(j->d->snaps, j, c->peer.uid);
	else if (j->kind != JOB_WRITE)
		job_submit(j);
	else if (st_nosync(j->env->st) && j->nbytes <= INLINE_MAX)
		writer_defer(&c->loop->hl->writes, j);
	else
		writer_submit(j);
}

/* ----------------------------------------------------------- the loops */

int
handler_loop_init(struct loop *l)
{
	struct handler_loop	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		log_warn("%s: calloc", __func__);
		return -1;
	}
	h->loop = l;
	h->writes.reg = l->d->reg;
	h->writes.done = job_done;
	l->hl = h;
	/* Reads end before the writes commit, as they always have. */
	if (loop_add_hook(l, handler_read_turn_end, h) == -1 ||
	    loop_add_hook(l, writer_turn_end, &h->writes) == -1 ||
	    handler_watch_loop_init(h) == -1)
		return -1;
	return 0;
}

void
handler_loop_fini(struct loop *l)
{
	if (l->hl != NULL) {
		handler_read_fini(l->hl);
		watch_loop_free(l->hl->watches);
		job_cache_fini(&l->hl->jobs);
	}
	free(l->hl);
	l->hl = NULL;
}

/* ------------------------------------------------------ the connections */

int
handler_conn_open(struct conn *c)
{
	if ((c->hc = calloc(1, sizeof(*c->hc))) == NULL) {
		log_warn("%s: calloc", __func__);
		return -1;
	}
	return 0;
}

_Static_assert(HANDLER_WAITS_ANY == REG_WAIT_ANY, "one 'any' for both");

uint64_t
handler_waits_for(const struct conn *c)
{
	return c->hc->waits;
}

void
handler_conn_free(struct conn *c)
{
	free(c->hc);
	c->hc = NULL;
}

/* ------------------------------------------------------------ dispatch */

int
handler_frame(struct conn *c, const char *body, size_t n)
{
	struct sp_req	 rq;
	struct sp_error	 err;
	int		 rc;

	err.code = SP_OK;
	err.has_index = 0;
	/* Millions of keys are not walked here but where they are read. */
	if (sp_req_decode_defer(body, n, &rq, READ_INLINE_KEYS, &err) == -1) {
		ctr_err(&c->loop->ctr, err.code);
		/* A malformed frame that names a batch fails it too; one
		 * whose 'more' could not be read is not taken for its last. */
		if (rq.has & SP_F_BID) {
			rq.more = rq.more || !(rq.has & SP_F_MORE);
			handler_batch_failed(c, &rq, &err);
		}
		reply_err(c, rq.id, &err);
		return 0;
	}
	c->hc->op = rq.op;
	c->hc->env_seen = NULL;
	switch (rq.op) {
	case SP_OP_HELLO:
		rc = do_hello(c, &rq, &err);
		break;
	case SP_OP_PING:
		rc = sp_reply_ok(conn_out(c), rq.id);
		break;
	case SP_OP_GET:
		rc = handler_get(c, &rq, &err);
		break;
	case SP_OP_PUT:
		rc = handler_put(c, &rq, &err);
		break;
	case SP_OP_DEL:
		rc = handler_del(c, &rq, &err);
		break;
	case SP_OP_BATCH:
		rc = handler_batch(c, &rq, &err);
		break;
	case SP_OP_BATCH_ABORT:
		rc = handler_batch_abort(c, &rq, &err);
		break;
	case SP_OP_MGET:
	case SP_OP_MISSING:
		rc = handler_mget(c, &rq, &err);
		break;
	case SP_OP_COUNT:
		rc = handler_count(c, &rq, &err);
		break;
	case SP_OP_SCAN:
		rc = handler_scan(c, &rq, &err);
		break;
	case SP_OP_SNAPSHOT:
		rc = handler_snapshot(c, &rq, &err);
		break;
	case SP_OP_FORK:
		rc = handler_fork(c, &rq, &err);
		break;
	case SP_OP_STATS:
		rc = handler_stats(c, &rq, &err);
		break;
	case SP_OP_LIVE:
		rc = handler_live(c, &rq, &err);
		break;
	case SP_OP_REPOS:
		rc = handler_repos(c, &rq, &err);
		break;
	case SP_OP_CREATE:
		rc = handler_create(c, &rq, &err);
		break;
	case SP_OP_DROP:
		rc = handler_drop(c, &rq, &err);
		break;
	case SP_OP_RESTORE:
		rc = handler_restore(c, &rq, &err);
		break;
	case SP_OP_WATCH:
		rc = handler_watch(c, &rq, &err);
		break;
	case SP_OP_UNWATCH:
		rc = handler_unwatch(c, &rq, &err);
		break;
	case SP_OP_REV:
		rc = handler_rev(c, &rq, &err);
		break;
	default:
		rc = sp_seterr(&err, SP_BAD_REQUEST, "unknown op");
		break;
	}
	if (rc == REG_AGAIN) {
		c->hc->waits = reg_again_key();
		return HANDLER_AGAIN;
	}
	/* A streamed batch counts once, at its last frame. */
	if (rq.op != SP_OP_BATCH || !rq.more) {
		ctr_op(&c->loop->ctr, rq.op);
		if (c->hc->env_seen != NULL)
			ctr_op(&c->hc->env_seen->ctr, rq.op);
	}
	if (rc == -1) {
		if (err.code == SP_OK)
			sp_seterr(&err, SP_INTERNAL, "out of memory");
		if (rq.op == SP_OP_BATCH && (rq.has & SP_F_BID))
			handler_batch_failed(c, &rq, &err);
		ctr_err(&c->loop->ctr, err.code);
		if (c->hc->env_seen != NULL)
			ctr_err(&c->hc->env_seen->ctr, err.code);
		reply_err(c, rq.id, &err);
	}
	return 0;
}
