/*
 * handler_snapshot: snapshot and fork, the requests that copy an env.
 *
 * Both check what they can on the I/O thread (the passed descriptor,
 * the names, the reservation of the fork's destination) and then become
 * jobs: a fork for the pool (job.c), a snapshot for threads of its own
 * (snap.c), since it waits on the client's reader.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "handler_int.h"
#include "job.h"
#include "loop.h"
#include "registry.h"
#include "sp_msg.h"
#include "sp_names.h"

int
handler_snapshot(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct job	*j = NULL;
	struct reg_env	*env = NULL;
	struct sp_error	 first;
	int		 fd, fl, rc;

	/* An env busy for a moment: retried before the descriptor is used,
	 * so that it is still there for the retry. */
	if (conn_has_fd(c) && handler_resolve(c, rq, false, &t, &first) == 0 &&
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
	if (handler_resolve(c, rq, false, &t, err) == -1)
		goto fail;
	if ((j = job_new(&c->loop->hl->jobs, JOB_SNAPSHOT)) == NULL) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto fail;
	}
	if (env == NULL &&
	    (rc = reg_acquire(d->reg, t.st, t.repo, false, &env, err)) != 0) {
		if (rc == REG_AGAIN)
			sp_seterr_busy(err, SP_RETRY_REOPEN_MS, "the env is "
			    "being closed or resized; retry");
		env = NULL;
		goto fail;
	}
	j->env = env;
	j->fd = fd;
	j->compact = rq->compact;
	handler_send_job(c, j, rq->id);
	return 0;
fail:
	if (env != NULL)
		reg_release(d->reg, env);
	job_free(j);
	close(fd);
	return -1;
}

int
handler_fork(struct conn *c, const struct sp_req *rq,
    struct sp_error *err)
{
	struct daemon	*d = c->loop->d;
	struct target	 t;
	struct job	*j;
	int		 rc;

	/* A fork reads its source and writes its destination. */
	if (handler_resolve(c, rq, true, &t, err) == -1)
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
	if ((j = job_new(&c->loop->hl->jobs, JOB_FORK)) == NULL)
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
	handler_send_job(c, j, rq->id);
	return 0;
}
