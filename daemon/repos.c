/*
 * repos: the repository life cycle on the pool (repos.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "job.h"
#include "layout.h"
#include "log.h"
#include "registry.h"
#include "repos.h"
#include "snap.h"
#include "store.h"

/* reg_acquire() says REG_AGAIN for an env closing or being retuned: a
 * worker may wait that out, a little at a time. */
#define AGAIN_TRIES	500
#define AGAIN_SLEEP_NS	(10 * 1000 * 1000)

/* The stores a create or drop acts on: rp->st, or every per-repo store. */
static size_t
targets(const struct repos_req *rp, const struct cfg_store **out)
{
	size_t	 i, n = 0;

	if (rp->st != NULL) {
		out[0] = rp->st;
		return 1;
	}
	for (i = 0; i < rp->cfg->nstores; i++)
		if (rp->cfg->stores[i].path == NULL)
			out[n++] = &rp->cfg->stores[i];
	return n;
}

static struct sp_bytes
repo_of(const struct repos_req *rp, const struct cfg_store *st)
{
	if (st->path != NULL)
		return (struct sp_bytes){ NULL, 0 };
	return (struct sp_bytes){ rp->repo, strlen(rp->repo) };
}

static int
env_dir(const struct repos_req *rp, const struct cfg_store *st, char *dir,
    size_t n, struct sp_error *err)
{
	if (lay_env_dir(rp->cfg->data_dir, st, repo_of(rp, st), dir, n) == -1)
		return sp_seterr(err, SP_BAD_REPO, "the env directory would be "
		    "too long; use a shorter repo name");
	return 0;
}

/* ---------------------------------------------------------------- list */

struct listing {
	struct job		*j;
	struct sp_repo_env	*v;
	size_t			 n;
	size_t			 cap;
};

static int
list_add(void *arg, const char *repo, const char *store, uint64_t size)
{
	struct listing		*l = arg;
	struct repos_req	*rp = l->j->arg;
	struct sp_repo_env	*v;
	struct sp_bytes		 name = { store, strlen(store) };
	const struct cfg_store	*st;
	size_t			 plen = rp->prefix_len;

	/* Only the stores configured now, that the peer may read. */
	if ((st = cfg_store_find(rp->cfg, name)) == NULL ||
	    !rp->readable[st - rp->cfg->stores] ||
	    (rp->st != NULL && rp->st != st) ||
	    (repo != NULL && (st->path != NULL ||
	    strncmp(repo, rp->prefix, plen) != 0)) ||
	    (repo == NULL && plen > 0))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;

		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	v = &l->v[l->n];
	memset(v, 0, sizeof(*v));
	if ((repo != NULL && (v->id.repo.p = strdup(repo)) == NULL) ||
	    (v->id.store.p = strdup(store)) == NULL) {
		free((char *)v->id.repo.p);
		return -1;
	}
	v->id.repo.n = repo ? strlen(repo) : 0;
	v->id.store.n = name.n;
	v->size = size;
	l->n++;
	return 0;
}

/* Marks the listed envs that the registry has open. */
static int
list_open(void *arg, const struct reg_env *e, uint64_t idle_ms)
{
	struct listing	*l = arg;
	size_t		 i;

	(void)idle_ms;
	if (e->state == REG_RESERVED)
		return 0;
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id.store.p, e->store) == 0 &&
		    (e->repo == NULL ? l->v[i].id.repo.p == NULL :
		    l->v[i].id.repo.p != NULL &&
		    strcmp(l->v[i].id.repo.p, e->repo) == 0))
			l->v[i].open = true;
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	const struct sp_repo_env *x = a, *y = b;
	int	 rc;

	if (x->id.repo.p == NULL || y->id.repo.p == NULL)
		rc = (x->id.repo.p != NULL) - (y->id.repo.p != NULL);
	else
		rc = strcmp(x->id.repo.p, y->id.repo.p);
	return rc != 0 ? rc : strcmp(x->id.store.p, y->id.store.p);
}

static int
run_list(struct job *j, struct sp_error *err)
{
	struct repos_req	*rp = j->arg;
	struct listing		 l = { j, NULL, 0, 0 };
	struct stat		 sb;
	char			 file[PATH_MAX];
	size_t			 i;
	int			 ret = -1;

	if (lay_walk(rp->cfg->data_dir, list_add, &l) == -1) {
		sp_seterr(err, SP_IO_ERROR, "cannot read data_dir %s: %s",
		    rp->cfg->data_dir, strerror(errno));
		goto done;
	}
	for (i = 0; i < rp->cfg->nstores; i++) {
		const struct cfg_store *st = &rp->cfg->stores[i];

		if (st->path == NULL || snprintf(file, sizeof(file), "%s/%s",
		    st->path, ST_DATA_FILE) >= (int)sizeof(file) ||
		    stat(file, &sb) == -1)
			continue;
		if (list_add(&l, NULL, st->name, (uint64_t)sb.st_size) == -1) {
			sp_seterr(err, SP_INTERNAL, "out of memory");
			goto done;
		}
	}
	reg_foreach(j->d->reg, NULL, NULL, list_open, &l);
	if (l.n > 1)		/* qsort() takes no NULL, even for none */
		qsort(l.v, l.n, sizeof(*l.v), by_name);
	if (sp_reply_repos(&j->reply, j->id, l.v, l.n) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	ret = 0;
done:
	for (i = 0; i < l.n; i++) {
		free((char *)l.v[i].id.repo.p);
		free((char *)l.v[i].id.store.p);
	}
	free(l.v);
	return ret;
}

/* -------------------------------------------------------------- create */

/* reg_acquire() on the pool, which may wait out REG_AGAIN. */
static int
acquire(struct job *j, const struct cfg_store *st, struct reg_env **e,
    struct sp_error *err)
{
	struct timespec	 ts = { 0, AGAIN_SLEEP_NS };
	int		 i, rc = REG_AGAIN;

	for (i = 0; i < AGAIN_TRIES && rc == REG_AGAIN; i++) {
		if (i > 0)
			nanosleep(&ts, NULL);
		rc = reg_acquire(j->d->reg, st, repo_of(j->arg, st), true,
		    e, err);
	}
	if (rc == REG_AGAIN)
		return sp_seterr_busy(err, SP_RETRY_REOPEN_MS, "the env of "
		    "store %s stays busy (closing or being resized); retry",
		    st->name);
	return rc;
}

static int
run_create(struct job *j, uint64_t *count, struct sp_error *err)
{
	const struct repos_req	*rp = j->arg;
	const struct cfg_store	*sts[CFG_MAX_STORES];
	struct reg_env		*e;
	char			 dir[PATH_MAX];
	size_t			 i, n = targets(rp, sts);

	for (i = 0; i < n; i++) {
		if (env_dir(rp, sts[i], dir, sizeof(dir), err) == -1)
			return -1;
		if (st_exists(dir))
			continue;
		if (acquire(j, sts[i], &e, err) == -1)
			return -1;
		reg_release(j->d->reg, e);
		log_info("%s: %s", __func__, dir);
		(*count)++;
	}
	if (*count == 0)
		return sp_seterr(err, SP_EXISTS, "repo %s already has %s; "
		    "nothing was created", rp->repo, rp->st ?
		    "an env for that store" : "an env for every store");
	return 0;
}

/* ---------------------------------------------------------------- drop */

static int
run_drop(struct job *j, uint64_t *count, struct sp_error *err)
{
	struct repos_req	*rp = j->arg;
	const struct cfg_store	*sts[CFG_MAX_STORES];
	struct reg_env		*claims[CFG_MAX_STORES];
	struct stat		 sb;
	size_t			 i, k = 0, n = targets(rp, sts);
	int			 ret = -1;

	/* All of them claimed first: a drop that meets one env in use
	 * drops none. */
	for (k = 0; k < n; k++)
		if (reg_claim(j->d->reg, sts[k], repo_of(rp, sts[k]),
		    rp->cfg->drop_wait_ms, &claims[k], err) == -1)
			goto done;
	for (i = 0; i < n; i++) {
		if (lstat(claims[i]->dir, &sb) == -1)
			continue;
		if (lay_trash(rp->cfg->data_dir, claims[i]->dir, err) == -1)
			goto done;
		log_notice("%s: dropped %s", __func__, claims[i]->dir);
		(*count)++;
	}
	if (*count == 0) {
		sp_seterr(err, SP_NOT_FOUND, "repo %s has no env%s%s to drop",
		    rp->repo, rp->st ? " for store " : "",
		    rp->st ? rp->st->name : "");
		goto done;
	}
	ret = 0;
done:
	while (k > 0)
		reg_unreserve(j->d->reg, claims[--k]);
	if (*count > 0)
		lay_prune_repo(rp->cfg->data_dir, rp->repo);
	return ret;
}

/* ------------------------------------------------------------- restore */

/*
 * Copies the client's descriptor into fd until its end, at most max
 * bytes.  Each wait for more is bounded: a writer that stalls for
 * timeout_ms (restore_timeout) fails the restore instead of holding its
 * thread for longer; so does a stop (bell, readable then).  The whole
 * copy is bounded too, by max_ms (snapshot_max_time, as a snapshot is):
 * a writer that trickles a byte now and then would hold the thread and
 * its snapshot_max place for good.
 */
static int
copy_in(int from, int bell, int to, uint64_t max, uint64_t timeout_ms,
    uint64_t max_ms, uint64_t *total, struct sp_error *err)
{
	char		 size[32];
	struct pollfd	 pfd[2] = { { from, POLLIN, 0 }, { bell, POLLIN, 0 } };
	char		 buf[64 * 1024];
	ssize_t		 n, w, off;
	uint64_t	 end = clock_now_ms() + max_ms, now, wait;
	int		 rc;

	*total = 0;
	for (;;) {
		if ((now = clock_now_ms()) >= end) {
			cfg_format_duration(max_ms, size, sizeof(size));
			return sp_seterr(err, SP_BAD_REQUEST, "the restore "
			    "was not done within %s (snapshot_max_time) after "
			    "%llu bytes", size, (unsigned long long)*total);
		}
		wait = end - now < timeout_ms ? end - now : timeout_ms;
		if ((rc = poll(pfd, 2, (int)wait)) > 0 &&
		    pfd[1].revents != 0)
			return sp_seterr(err, SP_BUSY, "storesd is stopping: "
			    "the restore was cut off after %llu bytes; restore "
			    "again once storesd is back",
			    (unsigned long long)*total);
		if (rc == 0 && wait < timeout_ms)
			continue;	/* the deadline: said at the top */
		if (rc == 0) {
			cfg_format_duration(timeout_ms, size, sizeof(size));
			return sp_seterr(err, SP_BAD_REQUEST, "the snapshot "
			    "stopped coming: nothing in %s (restore_timeout) "
			    "after %llu bytes", size,
			    (unsigned long long)*total);
		}
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1 || (n = read(from, buf, sizeof(buf))) == -1) {
			if (rc != -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			return sp_seterr(err, SP_BAD_REQUEST, "reading the "
			    "passed descriptor: %s", strerror(errno));
		}
		if (n == 0)
			return 0;
		if (*total + (uint64_t)n > max)
			return sp_seterr(err, SP_BAD_REQUEST, "the snapshot "
			    "is larger than the store's map_size; raise "
			    "map_size and reload");
		for (off = 0; off < n; off += w)
			if ((w = write(to, buf + off, (size_t)(n - off))) ==
			    -1)
				return sp_seterr(err, SP_IO_ERROR, "writing the "
				    "restored env under data_dir: %s",
				    strerror(errno));
		*total += (uint64_t)n;
	}
}

/* Receives the snapshot into tmp/data.mdb and checks it fits the store. */
static int
receive(struct job *j, const char *tmp, uint64_t *size, struct sp_error *err)
{
	struct repos_req	*rp = j->arg;
	struct st_params	 p;
	struct st_env		*env = NULL;
	struct sp_error		 e2;
	char			 file[PATH_MAX + 16];
	char			 label[SP_REPO_MAX + SP_NAME_MAX + 64];
	uint64_t		 entries;
	int			 fd, rc;

	if (snprintf(file, sizeof(file), "%s/%s", tmp, ST_DATA_FILE) >=
	    (int)sizeof(file))
		return sp_seterr(err, SP_IO_ERROR, "data_dir is too long");
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot create %s: %s",
		    file, strerror(errno));
	rc = copy_in(j->fd, snap_bell(j->d->snaps), fd, rp->st->map_size,
	    rp->cfg->restore_timeout_ms, rp->cfg->snapshot_max_time_ms, size,
	    err);
	if (rc == 0 && fsync(fd) == -1)
		rc = sp_seterr(err, SP_IO_ERROR, "syncing %s: %s", file,
		    strerror(errno));
	close(fd);
	if (rc == -1)
		return -1;
	if (*size == 0)
		return sp_seterr(err, SP_BAD_REQUEST, "the snapshot is empty");
	snprintf(label, sizeof(label), "the snapshot for store %s of repo %s",
	    rp->st->name, rp->repo);
	memset(&p, 0, sizeof(p));
	p.dir = tmp;
	p.label = label;
	p.store = rp->st;
	p.nslots = 1;
	p.create = false;
	if (st_open(&p, &env, &e2) == -1) {
		if (e2.code == SP_IO_ERROR)
			*err = e2;
		else
			sp_seterr(err, SP_BAD_REQUEST, "not a sound LMDB env: "
			    "%s", e2.msg);
		return -1;
	}
	rc = st_verify(env, &entries, err);
	/* Its walk met pages LMDB did not write (a fault, an assertion):
	 * the snapshot's doing, not an env's to restore. */
	if (rc == -1 && err->code == SP_CORRUPT) {
		e2 = *err;
		sp_seterr(err, SP_BAD_REQUEST, "not a sound LMDB env: %s",
		    e2.msg);
	}
	/* Another env from now on: an id of its own (PROTOCOL.md).  Damage
	 * its write meets that the walk did not catch quarantines this copy
	 * (see store.c), which is never put in place. */
	if (rc == 0 && (rc = st_reid(env, err)) == -1 &&
	    err->code == SP_CORRUPT)
		sp_seterr(err, SP_BAD_REQUEST, "not a sound LMDB env: %s: "
		    "writing its new id met pages LMDB did not write (its "
		    "free pages' db is damaged); take the snapshot again "
		    "from a sound env", label);
	st_close(env);
	/* LMDB makes a new lock file where the env is used. */
	if (snprintf(file, sizeof(file), "%s/lock.mdb", tmp) <
	    (int)sizeof(file))
		unlink(file);
	if (rc == 0)
		log_info("%s: %s: %llu bytes, %llu entries", __func__, label,
		    (unsigned long long)*size, (unsigned long long)entries);
	return rc;
}

/* Puts the checked env in tmp in the place of claimed env e. */
static int
install(struct job *j, struct reg_env *e, const char *tmp,
    struct sp_error *err)
{
	struct repos_req	*rp = j->arg;
	struct stat		 sb;
	bool			 exists = lstat(e->dir, &sb) == 0;

	if (exists && !rp->replace)
		return sp_seterr(err, SP_EXISTS, "repo %s already has an env "
		    "for store %s; restore --replace swaps it, or drop it "
		    "first", rp->repo, rp->st->name);
	if (!exists && lay_prepare_repo(rp->cfg->data_dir, rp->repo,
	    err) == -1)
		return -1;
	/* One step: the old env (if any) and the new one trade places. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, e->dir, exists ?
	    RENAME_EXCHANGE : RENAME_NOREPLACE) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot move the restored "
		    "env to %s: %s", e->dir, strerror(errno));
	lay_sync_parent(e->dir);
	/*
	 * Watch hook: the env in place is a new one.  When envs carry an
	 * id (the watch issue), give it a new env id here; its revision is
	 * the snapshot's own, which travelled inside data.mdb.
	 */
	log_notice("%s: %s %s from a snapshot", __func__, e->dir,
	    exists ? "replaced" : "restored");
	return 0;
}

static int
run_restore(struct job *j, uint64_t *size, struct sp_error *err)
{
	struct repos_req	*rp = j->arg;
	struct reg_env		*e = NULL;
	char			 tmp[PATH_MAX];
	int			 ret = -1;

	/* The snapshot is received and checked before the destination is
	 * claimed: its env stays in service meanwhile. */
	if (lay_tmp_dir(rp->cfg->data_dir, "restore", tmp, sizeof(tmp),
	    err) == -1)
		return -1;
	if (receive(j, tmp, size, err) == -1 ||
	    reg_claim(j->d->reg, rp->st, repo_of(rp, rp->st),
	    rp->cfg->drop_wait_ms, &e, err) == -1 ||
	    install(j, e, tmp, err) == -1)
		goto done;
	ret = 0;
done:
	if (e != NULL)
		reg_unreserve(j->d->reg, e);
	/* Empty, or the env that was replaced, or the refused snapshot. */
	lay_remove_tree(tmp);
	return ret;
}

/* ----------------------------------------------------------------- run */

static void
run(struct job *j)
{
	struct sp_error	 err;
	uint64_t	 n = 0;
	int		 rc = -1;

	switch (((const struct repos_req *)j->arg)->what) {
	case REPOS_LIST:
		rc = run_list(j, &err);
		break;
	case REPOS_CREATE:
		if ((rc = run_create(j, &n, &err)) == 0 &&
		    sp_reply_count(&j->reply, j->id, n) == -1)
			rc = sp_seterr(&err, SP_INTERNAL, "out of memory");
		break;
	case REPOS_DROP:
		if ((rc = run_drop(j, &n, &err)) == 0 &&
		    sp_reply_count(&j->reply, j->id, n) == -1)
			rc = sp_seterr(&err, SP_INTERNAL, "out of memory");
		break;
	case REPOS_RESTORE:
		if ((rc = run_restore(j, &n, &err)) == 0 &&
		    sp_reply_size(&j->reply, j->id, n) == -1)
			rc = sp_seterr(&err, SP_INTERNAL, "out of memory");
		break;
	}
	job_note(j, rc == -1 ? err.code : SP_OK);
	if (rc == -1)
		sp_reply_err(&j->reply, j->id, &err);
	job_finish(j);
}

/*
 * What keeps rq's configuration from being freed by a reload while its
 * job waits on a client, an env or the disk: a hold on one of its
 * stores (every config has one) keeps the whole of it.
 */
static const struct cfg_store *
holder(const struct repos_req *rq)
{
	return rq->st != NULL ? rq->st : &rq->cfg->stores[0];
}

static void
end(struct job *j)
{
	cfg_drop(holder(j->arg));
}

int
repos_job(struct job *j, const struct repos_req *rq)
{
	struct repos_req	*copy;

	/* Ours for the job's life: freed with it. */
	if ((copy = (struct repos_req *)job_copy(j, rq, sizeof(*rq))) == NULL)
		return -1;
	if (rq->readable != NULL && (copy->readable = (bool *)job_copy(j,
	    rq->readable, rq->cfg->nstores * sizeof(bool))) == NULL)
		return -1;
	j->arg = copy;
	j->run = run;
	cfg_hold(holder(copy));
	j->end = end;
	return 0;
}
