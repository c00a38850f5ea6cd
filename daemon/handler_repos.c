/*
 * handler_repos: repos, create, drop and restore, the requests of a
 * repository's life.
 *
 * Each checks names, access and the passed descriptor here, on the I/O
 * thread, and becomes a job for the pool that repos.c runs, which
 * touches the disk.  A request without a store acts on every per-repo
 * store, and needs the access it asks for on each of them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "conn.h"
#include "daemon.h"
#include "handler_int.h"
#include "job.h"
#include "loop.h"
#include "repos.h"
#include "sp_msg.h"
#include "sp_names.h"

/*
 * Sends rq as a job of c's (with fd, or -1), or fails with err.  One
 * with a client's descriptor to read (a restore) runs on a thread of its
 * own, never on the pool: a client that stalls holds only that.
 * Returns 0, or -1 with fd closed.
 */
static int
send_req(struct conn *c, uint64_t id, const struct repos_req *rq, int fd,
    struct sp_error *err)
{
	struct job	*j;

	if ((j = job_new(&c->loop->hl->jobs,
	    fd != -1 ? JOB_INBOUND : JOB_CALL)) == NULL ||
	    repos_job(j, rq) == -1) {
		job_free(j);
		if (fd != -1)
			close(fd);
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	j->fd = fd;
	handler_send_job(c, j, id);
	return 0;
}

/*
 * Fills rp's store and repo from rq: the one store it names (which must
 * be a per-repo store when per_repo), or every per-repo store, each of
 * which c's peer must be allowed to write.  0, or -1 with err.
 */
static int
target(struct conn *c, const struct sp_req *rq, struct repos_req *rp,
    enum repos_what what, struct sp_error *err)
{
	const struct config	*cfg = c->loop->d->cfg;
	struct sp_bytes		 repo = { SP_DEFAULT_REPO,
				    strlen(SP_DEFAULT_REPO) };
	bool			 per_repo = what != REPOS_CREATE;
	unsigned		 i;

	memset(rp, 0, sizeof(*rp));
	rp->what = what;
	rp->cfg = cfg;
	if (rq->has & SP_F_REPO)
		repo = rq->repo;
	if (sp_repo_check(repo, err) == -1)
		return -1;
	snprintf(rp->repo, sizeof(rp->repo), "%.*s", (int)repo.n, repo.p);
	if (rq->has & SP_F_STORE) {
		if ((rp->st = cfg_store_find(cfg, rq->store)) == NULL)
			return handler_unknown_store(cfg, rq->store, err);
		if (rp->st->path != NULL && (per_repo || (rq->has & SP_F_REPO)))
			return sp_seterr(err, SP_BAD_REQUEST, "store %s is one "
			    "fixed env (path %s), not a repo's; %s",
			    rp->st->name, rp->st->path, per_repo ? "manage it "
			    "by hand while storesd is stopped" :
			    "leave the repo out");
		return handler_allowed(c, rp->st, true, err);
	}
	for (i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].path == NULL &&
		    handler_allowed(c, &cfg->stores[i], true, err) == -1)
			return -1;
	return 0;
}

int
handler_repos(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	const struct config	*cfg = c->loop->d->cfg;
	struct repos_req	 rp;
	bool			 readable[CFG_MAX_STORES];
	unsigned		 i;

	memset(&rp, 0, sizeof(rp));
	rp.what = REPOS_LIST;
	rp.cfg = cfg;
	if ((rq->has & SP_F_STORE) &&
	    (rp.st = cfg_store_find(cfg, rq->store)) == NULL)
		return handler_unknown_store(cfg, rq->store, err);
	if (rq->prefix.n > SP_REPO_MAX)
		return sp_seterr(err, SP_BAD_REPO, "the prefix is %zu bytes; "
		    "repo names are at most %d", rq->prefix.n, SP_REPO_MAX);
	if (rq->prefix.n > 0)
		memcpy(rp.prefix, rq->prefix.p, rq->prefix.n);
	rp.prefix_len = rq->prefix.n;
	/* Stores the peer may not read are not there for it. */
	for (i = 0; i < cfg->nstores; i++)
		readable[i] = acl_may(&cfg->stores[i], &c->peer,
		    c->loop->d->uid, false);
	rp.readable = readable;
	if (rp.st != NULL && handler_allowed(c, rp.st, false, err) == -1)
		return -1;
	return send_req(c, rq->id, &rp, -1, err);
}

int
handler_create(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct repos_req	 rp;

	if (target(c, rq, &rp, REPOS_CREATE, err) == -1)
		return -1;
	return send_req(c, rq->id, &rp, -1, err);
}

int
handler_drop(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct repos_req	 rp;

	if (target(c, rq, &rp, REPOS_DROP, err) == -1)
		return -1;
	return send_req(c, rq->id, &rp, -1, err);
}

int
handler_restore(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct repos_req	 rp;
	int			 fd, fl;

	/* The descriptor came with this request's bytes: take it first, so
	 * a refused restore does not leave it for the next request. */
	if ((fd = conn_take_fd(c)) == -1)
		return sp_seterr(err, SP_BAD_REQUEST, "a restore needs the "
		    "snapshot's file descriptor passed (SCM_RIGHTS) with the "
		    "request; storesd never opens a path a client names");
	if ((fl = fcntl(fd, F_GETFL)) == -1 || (fl & O_ACCMODE) == O_WRONLY) {
		close(fd);
		return sp_seterr(err, SP_BAD_REQUEST, "the passed descriptor "
		    "is not open for reading");
	}
	if (target(c, rq, &rp, REPOS_RESTORE, err) == -1) {
		close(fd);
		return -1;
	}
	rp.replace = rq->replace;
	return send_req(c, rq->id, &rp, fd, err);
}
