/*
 * repos: a repository's life from the client: list the envs on disk,
 * create, drop, restore from a snapshot (storeclient.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* A request of op on (repo, store); both may be NULL. */
static void
start(struct sp_req *rq, enum sp_op op, const char *repo, const char *store)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = op;
	sc__str(&rq->repo, repo);
	sc__str(&rq->store, store);
}

void
sc_repos_free(sc_repos *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free((char *)r->envs[i].repo);
		free((char *)r->envs[i].store);
	}
	free(r->envs);
	free(r);
}

static int
repo_event(void *arg, const struct sp_repo_env *v)
{
	sc_repos	*r = arg;
	sc_repo_env	*e, *nv;

	if ((nv = realloc(r->envs, (r->n + 1) * sizeof(*r->envs))) == NULL)
		return -1;
	r->envs = nv;
	e = &r->envs[r->n++];
	e->repo = v->id.repo.p ? strndup(v->id.repo.p, v->id.repo.n) : NULL;
	e->store = strndup(v->id.store.p, v->id.store.n);
	e->size = v->size;
	e->open = v->open;
	return (v->id.repo.p && !e->repo) || !e->store ? -1 : 0;
}

int
sc_list_repos(sc_conn *c, const char *prefix, const char *store,
    sc_repos **out)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;
	struct sp_error	 perr = { .code = SP_OK };
	sc_repos	*r;

	if (out == NULL)
		return sc__fail(c, SC_ERR_INVALID, "out is required");
	start(&rq, SP_OP_REPOS, NULL, store);
	sc__str(&rq.prefix, prefix);
	if (sc__call(c, &rq, -1, &rep) == -1)
		return -1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	if (sp_repos_decode(&rep, repo_event, r, &perr) == -1) {
		sc_repos_free(r);
		if (perr.code != SP_OK)
			return sc__die(c, SC_ERR_PROTOCOL, "%s", perr.msg);
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

/* create and drop: how many envs they made or removed. */
static int
counted(sc_conn *c, enum sp_op op, const char *repo, const char *store,
    uint64_t *n)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	start(&rq, op, repo, store);
	if (sc__call(c, &rq, -1, &rep) == -1)
		return -1;
	if (n != NULL)
		*n = rep.count;
	return 0;
}

int
sc_create(sc_conn *c, const char *repo, const char *store, uint64_t *created)
{
	return counted(c, SP_OP_CREATE, repo, store, created);
}

int
sc_drop(sc_conn *c, const char *repo, const char *store, uint64_t *dropped)
{
	return counted(c, SP_OP_DROP, repo, store, dropped);
}

int
sc_restore(sc_conn *c, const char *repo, const char *store, int fd,
    int replace, uint64_t *size)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (store == NULL)
		return sc__fail(c, SC_ERR_INVALID, "a store name is required");
	if (fd < 0 || fcntl(fd, F_GETFD) == -1)
		return sc__fail(c, SC_ERR_INVALID, "fd %d is not an open "
		    "descriptor", fd);
	start(&rq, SP_OP_RESTORE, repo, store);
	rq.replace = replace != 0;
	rq.has = SP_F_REPLACE;
	if (sc__call(c, &rq, fd, &rep) == -1)
		return -1;
	if (size != NULL)
		*size = rep.size;
	return 0;
}
