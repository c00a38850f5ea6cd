/*
 * handler_repos: repos, create, drop and restore, the requests of a
 * repository's life.
 *
 * Each checks names, access and the passed descriptor here, on the I/O
 * thread, and becomes a JOB_REPOS job for the pool (job_repos.c), which
 * touches the disk.  A request without a store acts on every per-repo
 * store, and needs the access it asks for on each of them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "conn.h"
#include "daemon.h"
#include "handler_int.h"
#include "job.h"
#include "loop.h"
#include "sp_msg.h"
#include "sp_names.h"

/* A new JOB_REPOS job for rq, resolved against the configuration now. */
static struct job *
new_job(struct conn *c, enum job_repos_what what, struct sp_error *err)
{
	struct job	*j;

	if ((j = job_new(JOB_REPOS)) == NULL ||
	    (j->repos = calloc(1, sizeof(*j->repos))) == NULL) {
		job_free(j);
		sp_seterr(err, SP_INTERNAL, "out of memory");
		return NULL;
	}
	j->repos->what = what;
	j->repos->cfg = c->loop->d->cfg;
	return j;
}

/*
 * Fills j's store and repo from rq: the one store it names (which must
 * be a per-repo store when per_repo), or every per-repo store, each of
 * which c's peer must be allowed to write.  0, or -1 with err.
 */
static int
target_all(struct conn *c, const struct sp_req *rq, struct job *j,
    bool per_repo, struct sp_error *err)
{
	struct job_repos	*rp = j->repos;
	const struct config	*cfg = rp->cfg;
	struct sp_bytes		 repo = { SP_DEFAULT_REPO,
				    strlen(SP_DEFAULT_REPO) };
	unsigned		 i;

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
	struct job		*j;
	struct job_repos	*rp;
	unsigned		 i;

	if ((j = new_job(c, JOB_REPOS_LIST, err)) == NULL)
		return -1;
	rp = j->repos;
	if (rq->has & SP_F_STORE &&
	    (rp->st = cfg_store_find(rp->cfg, rq->store)) == NULL) {
		handler_unknown_store(rp->cfg, rq->store, err);
		job_free(j);
		return -1;
	}
	if (rq->prefix.n > SP_REPO_MAX) {
		job_free(j);
		return sp_seterr(err, SP_BAD_REPO, "the prefix is %zu bytes; "
		    "repo names are at most %d", rq->prefix.n, SP_REPO_MAX);
	}
	memcpy(rp->prefix, rq->prefix.p ? rq->prefix.p : "", rq->prefix.n);
	rp->prefix_len = rq->prefix.n;
	/* Stores the peer may not read are not there for it. */
	if ((rp->readable = calloc(rp->cfg->nstores + 1,
	    sizeof(*rp->readable))) == NULL) {
		job_free(j);
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	for (i = 0; i < rp->cfg->nstores; i++)
		rp->readable[i] = acl_may(&rp->cfg->stores[i], &c->peer,
		    c->loop->d->uid, false);
	if (rp->st != NULL && !rp->readable[rp->st - rp->cfg->stores]) {
		handler_allowed(c, rp->st, false, err);
		job_free(j);
		return -1;
	}
	handler_send_job(c, j, rq->id);
	return 0;
}

int
handler_create(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct job	*j;

	if ((j = new_job(c, JOB_REPOS_CREATE, err)) == NULL)
		return -1;
	if (target_all(c, rq, j, false, err) == -1) {
		job_free(j);
		return -1;
	}
	handler_send_job(c, j, rq->id);
	return 0;
}

int
handler_drop(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	struct job	*j;

	if ((j = new_job(c, JOB_REPOS_DROP, err)) == NULL)
		return -1;
	if (target_all(c, rq, j, true, err) == -1) {
		job_free(j);
		return -1;
	}
	handler_send_job(c, j, rq->id);
	return 0;
}

int
handler_restore(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct job	*j = NULL;
	int		 fd, fl;

	/* The descriptor came with this request's bytes: take it first, so
	 * a refused restore does not leave it for the next request. */
	if ((fd = conn_take_fd(c)) == -1)
		return sp_seterr(err, SP_BAD_REQUEST, "a restore needs the "
		    "snapshot's file descriptor passed (SCM_RIGHTS) with the "
		    "request; storesd never opens a path a client names");
	if ((fl = fcntl(fd, F_GETFL)) == -1 || (fl & O_ACCMODE) == O_WRONLY) {
		sp_seterr(err, SP_BAD_REQUEST, "the passed descriptor is not "
		    "open for reading");
		goto fail;
	}
	if ((j = new_job(c, JOB_REPOS_RESTORE, err)) == NULL ||
	    target_all(c, rq, j, true, err) == -1)
		goto fail;
	j->fd = fd;
	j->repos->replace = rq->replace;
	handler_send_job(c, j, rq->id);
	return 0;
fail:
	job_free(j);
	close(fd);
	return -1;
}
