#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "layout.h"
#include "log.h"
#include "registry.h"
#include "store.h"

struct registry {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;		/* an entry left OPENING or CLOSING */
	char		*data_dir;
	char		*root;		/* data_dir held: see reg_set_root() */
	unsigned	 nslots;
	unsigned	 max_envs;
	uint64_t	 idle_ms;
	struct reg_env	**buckets;
	size_t		 nbuckets;	/* a power of two */
	size_t		 nentries;
	unsigned	 nopen;		/* opening, open or closing */
	uint64_t	 budget;	/* map_budget, in bytes */
	uint64_t	 mapped;	/* what their maps take */
	uint64_t	 budget_logged;	/* when it last said it was over */
	struct reg_env	*lru_head;	/* idle envs, least recently used first */
	struct reg_env	*lru_tail;
	struct pool	*pool;		/* for closes that may sync */
	struct pool	*openers;	/* for opens: reg_set_open_pool() */
	const struct reg_env_ops *ops;	/* what each entry carries above */
	unsigned	 evicting;	/* max_envs closes on the pool */
	unsigned	 peeked;	/* references held by observers */
	unsigned	 claiming;	/* reg_claim() calls waiting */
	reg_settled_fn	*settled;	/* reg_set_settled_hook() */
	void		*settled_arg;
};

/*
 * What the calling thread's last REG_AGAIN waits for (reg_again_key()):
 * per thread, as errno, so that the many callers of reg_acquire() need
 * no argument of their own for it.
 */
static _Thread_local uint64_t	again_key = REG_WAIT_ANY;

/* A failed open's error waits this long for its request to come back. */
#define FAILED_KEEP_MS	10000

static bool	unpark(struct registry *, struct reg_env *);
static unsigned	unpark_all(struct registry *, bool, uint64_t);
static int	collect(struct registry *, const char *, const char *, bool,
		    struct reg_env ***, size_t *);

/*
 * The entry of key (its hash) left a busy state (OPENING, CLOSING,
 * RESIZING, RESERVED), or went: wakes the threads waiting in this
 * process and tells the layer above, whose requests were told REG_AGAIN,
 * so that those waiting for it retry now rather than at their next
 * poll.  The lock held.
 */
static void
settled(struct registry *r, uint64_t key)
{
	pthread_cond_broadcast(&r->cond);
	if (r->settled != NULL)
		r->settled(r->settled_arg, key);
}

/* REG_AGAIN, until the entry of key settles (REG_WAIT_ANY: any). */
static int
again(uint64_t key)
{
	again_key = key;
	return REG_AGAIN;
}

/* ----------------------------------------------------------- the table */

/*
 * Eight bytes a step, mixed by a multiply and folded at the end so that
 * the low bits (the bucket) depend on every byte: every read's env
 * lookup hashes a whole path, which a byte at a time (FNV-1a) took 300
 * instructions of a get.
 */
static uint64_t
hash_str(const char *s)
{
	const uint64_t	 m = 0x9e3779b97f4a7c15ULL;
	size_t		 n = strlen(s);
	uint64_t	 h = n * m, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * m;
	return h ^ (h >> 32);
}

static struct reg_env *
find(struct registry *r, const char *dir, uint64_t h)
{
	struct reg_env	*e;

	for (e = r->buckets[h & (r->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->dir, dir) == 0)
			return e;
	return NULL;
}

static void
grow(struct registry *r)
{
	struct reg_env	**nb, *e, *next;
	size_t		  i, n = r->nbuckets * 2;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;		/* longer chains, still correct */
	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(r->buckets);
	r->buckets = nb;
	r->nbuckets = n;
}

static void
insert(struct registry *r, struct reg_env *e)
{
	size_t	 b;

	if (r->nentries >= r->nbuckets)
		grow(r);
	b = e->hash & (r->nbuckets - 1);
	e->hnext = r->buckets[b];
	r->buckets[b] = e;
	r->nentries++;
}

static void
unlink_entry(struct registry *r, struct reg_env *e)
{
	struct reg_env	**pp;

	for (pp = &r->buckets[e->hash & (r->nbuckets - 1)]; *pp;
	    pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			r->nentries--;
			return;
		}
	}
}

static void
lru_remove(struct registry *r, struct reg_env *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		r->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		r->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

/*
 * Puts an idle env in the list, which stays ordered by last use: at the
 * tail after a use, further in after an observer's look.
 */
static void
lru_insert(struct registry *r, struct reg_env *e)
{
	struct reg_env	*after = r->lru_tail;

	while (after != NULL && after->last_used_ms > e->last_used_ms)
		after = after->lru_prev;
	e->lru_prev = after;
	e->lru_next = after ? after->lru_next : r->lru_head;
	if (e->lru_next)
		e->lru_next->lru_prev = e;
	else
		r->lru_tail = e;
	if (after)
		after->lru_next = e;
	else
		r->lru_head = e;
}

/* ------------------------------------------------------------- entries */

static struct reg_env *
entry_new(struct registry *r, const char *dir, uint64_t h,
    const struct cfg_store *st, struct sp_bytes repo)
{
	struct reg_env	*e;
	char		 path[PATH_MAX];

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if ((e->parks = calloc(r->nslots ? r->nslots : 1,
	    sizeof(*e->parks))) == NULL ||
	    lay_env_dir(r->root, st, repo, path, sizeof(path)) == -1 ||
	    (e->dir = strdup(dir)) == NULL ||
	    (e->path = strdup(path)) == NULL ||
	    (repo.p != NULL && (e->repo = strndup(repo.p, repo.n)) == NULL)) {
		free(e->parks);
		free(e->dir);
		free(e->path);
		free(e);
		return NULL;
	}
	snprintf(e->store, sizeof(e->store), "%s", st->name);
	e->cfg = st;
	e->hash = h;
	if (r->ops != NULL && (e->ext = r->ops->make(e)) == NULL) {
		free(e->repo);
		free(e->dir);
		free(e->path);
		free(e->parks);
		free(e);
		return NULL;
	}
	cfg_hold(st);	/* e outlives the turn st was read in */
	return e;
}

static void
entry_free(struct registry *r, struct reg_env *e)
{
	cfg_drop(e->cfg);
	cfg_drop(e->next_cfg);
	if (r->ops != NULL)
		r->ops->free(e->ext);
	free(e->dir);
	free(e->path);
	free(e->repo);
	free(e->parks);
	free(e);
}

/*
 * Closes an env nobody uses, not in the idle list.  Called and returns
 * with the lock held, but drops it while LMDB unmaps, so others may have
 * changed the table.
 */
static void
close_entry(struct registry *r, struct reg_env *e)
{
	uint64_t	 key = e->hash;

	e->state = REG_CLOSING;
	pthread_mutex_unlock(&r->mtx);
	st_close(e->st);
	log_info("%s: closed %s", __func__, e->dir);
	pthread_mutex_lock(&r->mtx);
	unlink_entry(r, e);
	r->nopen--;
	r->mapped -= e->mapped;
	entry_free(r, e);
	settled(r, key);
}

/* Closes an idle open env (see close_entry()). */
static void
close_locked(struct registry *r, struct reg_env *e)
{
	lru_remove(r, e);
	close_entry(r, e);
}

static void
close_task(struct pool_task *t)
{
	struct reg_env	*e = (struct reg_env *)((char *)t -
			    offsetof(struct reg_env, close_task));
	struct registry	*r = e->reg;
	bool		 evicted = e->evicted;

	pthread_mutex_lock(&r->mtx);
	close_entry(r, e);
	if (evicted)
		r->evicting--;
	pthread_mutex_unlock(&r->mtx);
}

/* Hands e (nobody uses it, not in the idle list) to the pool to close;
 * until then it is CLOSING, and requests for it are told REG_AGAIN. */
static void
close_on_pool(struct registry *r, struct reg_env *e, bool evicted)
{
	e->state = REG_CLOSING;
	e->reg = r;
	e->evicted = evicted;
	if (evicted)
		r->evicting++;
	e->close_task.fn = close_task;
	pool_submit(r->pool, &e->close_task);
}

/* ------------------------------------------------------ address space */

/* Counts e's map as it is now (LMDB may round it up, another program may
 * have grown it); the lock held. */
static void
remapped(struct registry *r, struct reg_env *e)
{
	uint64_t	 now = st_map_size(e->st);

	r->mapped = r->mapped - e->mapped + now;
	e->mapped = now;
}

/* Three quarters of the address space this process may map. */
static uint64_t
auto_budget(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		return (uint64_t)rl.rlim_cur / 4 * 3;
	return ((uint64_t)1 << 47) / 4 * 3;
}

/*
 * Why an env of st cannot open now, when that is so: its map alone is
 * over the budget, or no idle env is left to close for it.  Logged, at
 * most once a second: an operator has something to change.  The lock
 * held.  Returns -1.
 */
static int
over_budget(struct registry *r, const struct cfg_store *st,
    struct sp_error *err)
{
	char			 need[32], budget[32], used[32];
	uint64_t		 now = clock_now_ms();

	cfg_format_size(st->map_size, need, sizeof(need));
	cfg_format_size(r->budget, budget, sizeof(budget));
	cfg_format_size(r->mapped, used, sizeof(used));
	if (r->budget_logged == 0 || now - r->budget_logged >= 1000) {
		r->budget_logged = now;
		log_warnx("%s: store %s: its map_size %s does not fit in "
		    "map_budget %s beside the %u envs in use (%s)", __func__,
		    st->name, need, budget, r->nopen, used);
	}
	if (st->map_size > r->budget)
		return sp_seterr(err, SP_BUSY, "store %s: its map_size %s is "
		    "more than storesd's address-space budget (map_budget "
		    "%s); lower map_size or raise map_budget", st->name, need,
		    budget);
	return sp_seterr_busy(err, SP_RETRY_INUSE_MS, "store %s: no room in "
	    "storesd's address-space budget (map_budget %s, %s mapped by %u "
	    "envs in use) for a map of %s; retry, or lower map_size or raise "
	    "map_budget", st->name, budget, used, r->nopen, need);
}

/* ------------------------------------------------------------ retuning */

/*
 * Decides what e needs to serve st, a store of a newer configuration.
 * e holds the configs of cfg and next_cfg (when set), so neither is
 * freed under it.
 */
static void
plan(struct reg_env *e, const struct cfg_store *st)
{
	cfg_hold(st);
	cfg_drop(e->next_cfg);
	e->next_cfg = NULL;
	if (!cfg_store_same_env(e->cfg, st))
		e->retune = REG_REOPEN;
	else if (e->cfg->map_size != st->map_size)
		e->retune = REG_RESIZE;
	else {
		cfg_drop(e->cfg);
		e->cfg = st;
		e->retune = REG_KEEP;
		return;
	}
	e->next_cfg = st;
}

/*
 * Plans a remap of e when another program grew it past e's map (LMDB
 * refused a transaction with MDB_MAP_RESIZED), unless a retune is
 * planned already: every retune remaps.  The lock held.
 */
static void
plan_remap(struct reg_env *e)
{
	if (e->retune == REG_KEEP && st_grown(e->st)) {
		cfg_hold(e->cfg);	/* next_cfg holds its own (plan()) */
		e->next_cfg = e->cfg;
		e->retune = REG_RESIZE;
	}
}

/*
 * Whether open env e serves a request resolved against st, the lock
 * held.  Returns 0, or REG_AGAIN while e waits for a retune (planned
 * here when st is the first to be newer) or when st is older than e and
 * no longer fits it.
 */
static int
fit(struct reg_env *e, const struct cfg_store *st)
{
	if (st->gen > e->cfg->gen &&
	    (e->retune == REG_KEEP || st->gen > e->next_cfg->gen))
		plan(e, st);
	plan_remap(e);
	if (e->retune != REG_KEEP)
		return again(e->hash);	/* settled once retuned */
	/*
	 * Resolved just before a reload, and the env was reopened for the
	 * new store since: the request is handled again, resolved against
	 * the configuration now published (never older than e's), rather
	 * than failed.  A reload fails no read or write.
	 */
	if (st->gen < e->cfg->gen && !cfg_store_same_env(st, e->cfg))
		return again(REG_WAIT_ANY);	/* nothing to wait for */
	return 0;
}

/*
 * Applies e's planned retune; nobody uses e and it is not in the idle
 * list.  Called and returns with the lock held, but may drop it.  A
 * resize runs here: LMDB only remaps, nothing waits on a disk.  A
 * reopen is a close, on the pool when it syncs; the next request opens
 * the env again with the new settings.
 */
static void
retune(struct registry *r, struct reg_env *e)
{
	struct sp_error	 err;
	char		 size[32];
	bool		 grown;
	int		 rc;

	if (e->retune == REG_REOPEN) {
		log_info("%s: %s: its store's settings changed; closing it, "
		    "to reopen with them", __func__, e->dir);
		if (r->pool == NULL || !st_close_syncs(e->st))
			close_entry(r, e);
		else
			close_on_pool(r, e, false);
		return;
	}
	e->state = REG_RESIZING;
	pthread_mutex_unlock(&r->mtx);
	grown = st_grown(e->st);
	rc = st_resize(e->st, e->next_cfg->map_size, &err);
	cfg_format_size(e->next_cfg->map_size, size, sizeof(size));
	if (rc == -1)
		log_warnx("%s: %s: cannot set map_size %s: %s", __func__,
		    e->dir, size, err.msg);
	else if (grown)
		log_notice("%s: %s: another program grew the env; remapped "
		    "it to its new size", __func__, e->dir);
	else
		log_notice("%s: %s: map_size is now %s", __func__, e->dir,
		    size);
	pthread_mutex_lock(&r->mtx);
	remapped(r, e);
	cfg_drop(e->cfg);
	e->cfg = e->next_cfg;
	e->next_cfg = NULL;
	e->retune = REG_KEEP;
	e->state = REG_OPEN;
	lru_insert(r, e);
	settled(r, e->hash);
}

/* ---------------------------------------------------------------- API */

struct registry *
reg_new(const char *data_dir, unsigned nslots, unsigned max_envs,
    uint64_t idle_ms)
{
	struct registry	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->nbuckets = 64;
	if ((r->data_dir = strdup(data_dir)) == NULL ||
	    (r->root = strdup(data_dir)) == NULL ||
	    (r->buckets = calloc(r->nbuckets, sizeof(*r->buckets))) == NULL) {
		free(r->data_dir);
		free(r->root);
		free(r);
		return NULL;
	}
	r->nslots = nslots;
	r->budget = auto_budget();
	r->max_envs = max_envs;
	r->idle_ms = idle_ms;
	pthread_mutex_init(&r->mtx, NULL);
	pthread_cond_init(&r->cond, NULL);
	return r;
}

void
reg_set_env_ops(struct registry *r, const struct reg_env_ops *ops)
{
	pthread_mutex_lock(&r->mtx);
	r->ops = ops;
	pthread_mutex_unlock(&r->mtx);
}

void
reg_set_settled_hook(struct registry *r, reg_settled_fn *fn, void *arg)
{
	pthread_mutex_lock(&r->mtx);
	r->settled = fn;
	r->settled_arg = arg;
	pthread_mutex_unlock(&r->mtx);
}

uint64_t
reg_again_key(void)
{
	uint64_t	 key = again_key;

	again_key = REG_WAIT_ANY;
	return key;
}

void
reg_set_pool(struct registry *r, struct pool *pool)
{
	pthread_mutex_lock(&r->mtx);
	r->pool = pool;
	pthread_mutex_unlock(&r->mtx);
}

void
reg_set_open_pool(struct registry *r, struct pool *pool)
{
	pthread_mutex_lock(&r->mtx);
	r->openers = pool;
	pthread_mutex_unlock(&r->mtx);
}

int
reg_set_root(struct registry *r, const char *root)
{
	char	*p;

	if ((p = strdup(root)) == NULL)
		return -1;
	pthread_mutex_lock(&r->mtx);
	free(r->root);
	r->root = p;
	pthread_mutex_unlock(&r->mtx);
	return 0;
}

void
reg_set_budget(struct registry *r, uint64_t bytes)
{
	pthread_mutex_lock(&r->mtx);
	r->budget = bytes ? bytes : auto_budget();
	pthread_mutex_unlock(&r->mtx);
}

void
reg_set_limits(struct registry *r, unsigned max_envs, uint64_t idle_ms)
{
	pthread_mutex_lock(&r->mtx);
	r->max_envs = max_envs;
	r->idle_ms = idle_ms;
	pthread_mutex_unlock(&r->mtx);
}

void
reg_free(struct registry *r)
{
	struct reg_env	*e, *next;
	size_t		 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e; e = next) {
			next = e->hnext;
			if (e->refs != 0)
				log_warnx("%s: %s still has %u users", __func__,
				    e->dir, e->refs);
			st_close(e->st);
			entry_free(r, e);
		}
	}
	pthread_mutex_destroy(&r->mtx);
	pthread_cond_destroy(&r->cond);
	free(r->buckets);
	free(r->data_dir);
	free(r->root);
	free(r);
}

static int
env_dir(const struct registry *r, const struct cfg_store *st,
    struct sp_bytes repo, char *dir, size_t n, struct sp_error *err)
{
	if (lay_env_dir(r->data_dir, st, repo, dir, n) == -1)
		return sp_seterr(err, SP_BAD_REPO,
		    "the env directory would be longer than %zu bytes; use a "
		    "shorter repo name or data_dir", n - 1);
	return 0;
}

/* How logs and errors name the env of st in dir (repo NULL: a path). */
static void
label_of(const struct cfg_store *st, struct sp_bytes repo, const char *dir,
    char *label, size_t n)
{
	if (repo.p)
		snprintf(label, n, "store %s of repo %.*s", st->name,
		    (int)repo.n, repo.p);
	else
		snprintf(label, n, "store %s (path %s)", st->name, dir);
}

/* Opens e (state OPENING, the lock not held).  Returns 0 or -1. */
static int
open_env(struct registry *r, struct reg_env *e, const struct cfg_store *st,
    struct sp_bytes repo, bool create, struct sp_error *err)
{
	struct st_params	 p;
	char			 label[SP_REPO_MAX + SP_NAME_MAX + PATH_MAX];

	label_of(st, repo, e->dir, label, sizeof(label));
	if (lay_prepare(r->root, st, repo, create, err) == -1) {
		if (err->code == SP_NOT_FOUND)
			sp_seterr(err, SP_NOT_FOUND, "%s has no data yet",
			    label);
		return -1;
	}
	p.dir = e->path;
	p.label = label;
	p.store = st;
	p.nslots = r->nslots;
	p.create = create;
	if (st_open(&p, &e->st, err) == -1)
		return -1;
	log_info("%s: opened %s", __func__, e->dir);
	return 0;
}

/* Ends e's open (rc, err): e is open and idle, or REG_FAILED with err
 * for the next request that asks.  The lock held. */
static void
opened(struct registry *r, struct reg_env *e, int rc,
    const struct sp_error *err)
{
	if (rc == -1) {
		e->state = REG_FAILED;
		e->open_err = *err;
		e->last_used_ms = clock_now_ms();
		r->nopen--;
		r->mapped -= e->mapped;
		e->mapped = 0;
	} else {
		remapped(r, e);
		e->state = REG_OPEN;
		e->last_used_ms = clock_now_ms();
		lru_insert(r, e);
	}
	settled(r, e->hash);
}

static void
open_task(struct pool_task *t)
{
	struct reg_env	*e = (struct reg_env *)((char *)t -
			    offsetof(struct reg_env, open_task));
	struct registry	*r = e->reg;
	struct sp_bytes	 repo = { e->repo, e->repo ? strlen(e->repo) : 0 };
	struct sp_error	 err;
	int		 rc;

	rc = open_env(r, e, e->cfg, repo, e->open_create, &err);
	pthread_mutex_lock(&r->mtx);
	opened(r, e, rc, &err);
	pthread_mutex_unlock(&r->mtx);
}

/* Drops a failed open's entry; the lock held. */
static void
forget(struct registry *r, struct reg_env *e)
{
	unlink_entry(r, e);
	entry_free(r, e);
}

int
reg_key(const struct registry *r, const struct cfg_store *st,
    struct sp_bytes repo, struct reg_key *k, struct sp_error *err)
{
	if (env_dir(r, st, repo, k->dir, sizeof(k->dir), err) == -1)
		return -1;
	k->hash = hash_str(k->dir);
	return 0;
}

int
reg_acquire(struct registry *r, const struct cfg_store *st,
    struct sp_bytes repo, bool create, struct reg_env **out,
    struct sp_error *err)
{
	struct reg_key	 k;

	if (reg_key(r, st, repo, &k, err) == -1)
		return -1;
	return reg_acquire_key(r, st, repo, &k, create, out, err);
}

int
reg_acquire_key(struct registry *r, const struct cfg_store *st,
    struct sp_bytes repo, const struct reg_key *k, bool create,
    struct reg_env **out, struct sp_error *err)
{
	struct reg_env	*e;
	const char	*dir = k->dir;
	char		 label[SP_REPO_MAX + SP_NAME_MAX + PATH_MAX];
	uint64_t	 h = k->hash;
	int		 rc;

	pthread_mutex_lock(&r->mtx);
again:
	if ((e = find(r, dir, h)) != NULL) {
		switch (e->state) {
		case REG_OPEN:
			if (st_faulted(e->st)) {
				/* Closed once unused (release()), and opened
				 * again: the open checks the file anew. */
				if (e->refs == 0) {
					close_locked(r, e);
					goto again;
				}
				if (unpark(r, e))
					goto again;
				rc = st_refused(e->st, err);
				pthread_mutex_unlock(&r->mtx);
				return rc;
			}
			rc = fit(e, st);
			if (rc == REG_AGAIN && e->refs > 0 && unpark(r, e))
				goto again;
			/* Only a planned retune: st older than e plans none
			 * (and retune() has no next_cfg to apply then). */
			if (rc == REG_AGAIN && e->refs == 0 &&
			    e->retune != REG_KEEP) {
				lru_remove(r, e);
				retune(r, e);
				goto again;
			}
			if (rc != 0) {
				pthread_mutex_unlock(&r->mtx);
				return rc;
			}
			if (e->refs++ == 0)
				lru_remove(r, e);
			pthread_mutex_unlock(&r->mtx);
			*out = e;
			return 0;
		case REG_OPENING:
			if (r->pool != NULL) {
				/* An open may wait on another process. */
				pthread_mutex_unlock(&r->mtx);
				return again(h);
			}
			/* Opening waits on no other env: safe to wait. */
			pthread_cond_wait(&r->cond, &r->mtx);
			goto again;
		case REG_FAILED:
			/* A write may create what a read found absent. */
			if (create && e->open_err.code == SP_NOT_FOUND) {
				forget(r, e);
				goto again;
			}
			*err = e->open_err;
			forget(r, e);
			pthread_mutex_unlock(&r->mtx);
			return -1;
		case REG_RESIZING:
		case REG_CLOSING:
			/* Closing may sync: never make a caller wait on it. */
			pthread_mutex_unlock(&r->mtx);
			return again(h);
		case REG_RESERVED:
			pthread_mutex_unlock(&r->mtx);
			return sp_seterr_busy(err, SP_RETRY_LONG_MS, "a fork, "
			    "drop or restore is under way on this env; retry "
			    "once it is done");
		}
	}
	if (r->nopen >= r->max_envs ||
	    r->mapped + st->map_size > r->budget) {
		if (st->map_size > r->budget) {
			rc = over_budget(r, st, err);
			pthread_mutex_unlock(&r->mtx);
			return rc;
		}
		if (r->evicting > 0) {
			/* A close is under way: its place is ours soon. */
			pthread_mutex_unlock(&r->mtx);
			return again(REG_WAIT_ANY);
		}
		if (r->lru_head == NULL && unpark_all(r, false, 0) > 0)
			goto again;
		if (r->lru_head == NULL) {
			/* Observers hold idle envs for a moment only. */
			if (r->peeked > 0)
				rc = again(REG_WAIT_ANY);
			else if (r->nopen < r->max_envs)
				rc = over_budget(r, st, err);
			else
				rc = sp_seterr_busy(err, SP_RETRY_INUSE_MS,
				    "all %u envs storesd may open (max_envs) "
				    "are in use; retry, or raise max_envs",
				    r->max_envs);
			pthread_mutex_unlock(&r->mtx);
			return rc;
		}
		if (r->pool != NULL && st_close_syncs(r->lru_head->st)) {
			/* This close syncs: the pool does it, and the caller
			 * comes back for the place it frees. */
			e = r->lru_head;
			lru_remove(r, e);
			close_on_pool(r, e, true);
			pthread_mutex_unlock(&r->mtx);
			return again(e->hash);
		}
		close_locked(r, r->lru_head);
		goto again;	/* the lock was dropped */
	}
	if (r->pool != NULL && !create && !st_exists(dir)) {
		/* Nothing to open: said here, without a trip to the pool. */
		pthread_mutex_unlock(&r->mtx);
		label_of(st, repo, dir, label, sizeof(label));
		return sp_seterr(err, SP_NOT_FOUND, "%s has no data yet",
		    label);
	}
	if ((e = entry_new(r, dir, h, st, repo)) == NULL) {
		pthread_mutex_unlock(&r->mtx);
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	e->state = REG_OPENING;
	insert(r, e);
	r->nopen++;
	e->mapped = st->map_size;	/* until it is open: see remapped() */
	r->mapped += e->mapped;
	if (r->pool != NULL) {
		e->reg = r;
		e->open_create = create;
		e->open_task.fn = open_task;
		pool_submit(r->openers != NULL ? r->openers : r->pool,
		    &e->open_task);
		pthread_mutex_unlock(&r->mtx);
		return again(h);
	}
	pthread_mutex_unlock(&r->mtx);

	rc = open_env(r, e, st, repo, create, err);

	pthread_mutex_lock(&r->mtx);
	if (rc == -1) {
		unlink_entry(r, e);
		r->nopen--;
		r->mapped -= e->mapped;
		entry_free(r, e);
	} else {
		remapped(r, e);
		e->state = REG_OPEN;
		e->refs = 1;
		*out = e;
	}
	settled(r, h);
	pthread_mutex_unlock(&r->mtx);
	return rc;
}

/* Drops a reference on e; the lock held, but dropped meanwhile when e
 * is closed or retuned as the last one goes. */
static void
let_go(struct registry *r, struct reg_env *e)
{
	if (--e->refs == 0)
		atomic_store(&e->want, false);	/* it had its moment */
	if (e->refs == 0 && e->state == REG_OPEN) {
		plan_remap(e);
		/* A page of its map faulted: closed now (no sync), so
		 * that the next request's open checks the file again. */
		if (st_faulted(e->st))
			close_entry(r, e);
		else if (e->retune != REG_KEEP)
			retune(r, e);
		else
			lru_insert(r, e);
		if (r->claiming > 0)	/* a drop or restore waits for it */
			pthread_cond_broadcast(&r->cond);
	}
}

static void
release(struct registry *r, struct reg_env *e, bool used)
{
	pthread_mutex_lock(&r->mtx);
	if (used)
		e->last_used_ms = clock_now_ms();
	else
		r->peeked--;
	let_go(r, e);
	pthread_mutex_unlock(&r->mtx);
}

/* ------------------------------------------------- parked references */

/*
 * Takes back the references loops parked on e, marking it wanted so
 * that none parks it again until it was unused; the lock held.  Returns
 * how many, all but one dropped: the caller holds the last (let_go()).
 */
static unsigned
take_parked(struct registry *r, struct reg_env *e)
{
	struct reg_park	*p;
	struct reg_env	*x;
	unsigned	 i, n = 0;

	/* Before looking at the places: a loop parking now either sees
	 * want, or parked before this looks (reg_park()). */
	atomic_store(&e->want, true);
	for (i = 0; i < (r->nslots ? r->nslots : 1); i++) {
		x = e;
		if ((p = atomic_load(&e->parks[i])) != NULL &&
		    atomic_compare_exchange_strong(&p->e, &x, NULL))
			n++;
	}
	if (n > 1)
		e->refs -= n - 1;
	return n;
}

/* Takes back what loops parked on e and drops it; the lock held, but
 * dropped meanwhile when something was.  Returns true if so. */
static bool
unpark(struct registry *r, struct reg_env *e)
{
	if (take_parked(r, e) == 0)
		return false;
	let_go(r, e);
	return true;
}

/*
 * Takes back every parked reference of an open env (with idle set, only
 * of those unused since the last call: the others are stamped used now)
 * and drops them; the lock held, but dropped meanwhile when something
 * was.  Returns how many envs.
 */
static unsigned
unpark_all(struct registry *r, bool idle, uint64_t now)
{
	struct reg_env	*e, *taken = NULL;
	size_t		 i;
	unsigned	 n = 0;
	bool		 wanted;

	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e; e = e->hnext) {
			if (e->state != REG_OPEN || e->refs == 0)
				continue;
			if (idle && atomic_exchange(&e->used, false)) {
				e->last_used_ms = now;
				continue;
			}
			/* Each keeps a reference: none goes meanwhile.  A
			 * look finding none parked leaves want as it was
			 * (only the lock's holder changes it). */
			wanted = atomic_load(&e->want);
			if (take_parked(r, e) == 0) {
				if (!wanted)
					atomic_store(&e->want, false);
				continue;
			}
			e->unpark_next = taken;
			taken = e;
			n++;
		}
	}
	while ((e = taken) != NULL) {
		taken = e->unpark_next;
		let_go(r, e);
	}
	return n;
}

void
reg_park(struct registry *r, struct reg_env *e, unsigned slot,
    struct reg_park *p)
{
	struct reg_park	*was;
	struct reg_env	*x = e;

	/* Faulted or grown: the last one to let go closes or remaps it. */
	if (slot >= r->nslots || atomic_load(&e->want) ||
	    st_faulted(e->st) || st_grown(e->st)) {
		reg_release(r, e);
		return;
	}
	/* Used this turn: the sweep stamps it (unpark_all()). */
	atomic_store_explicit(&e->used, true, memory_order_relaxed);
	if ((was = atomic_load_explicit(&e->parks[slot],
	    memory_order_relaxed)) != p) {
		/* One place per loop: one the registry can find. */
		if (was != NULL && atomic_load(&was->e) == e) {
			reg_release(r, e);
			return;
		}
		pthread_mutex_lock(&r->mtx);
		atomic_store(&e->parks[slot], p);
		pthread_mutex_unlock(&r->mtx);
	}
	atomic_store(&p->e, e);
	/* Against take_parked(): it set want before looking at p. */
	if (atomic_load(&e->want) &&
	    atomic_compare_exchange_strong(&p->e, &x, NULL))
		reg_release(r, e);
}

bool
reg_unpark(struct registry *r, struct reg_park *p, struct reg_env *e)
{
	struct reg_env	*x = e;

	if (e == NULL || !atomic_compare_exchange_strong(&p->e, &x, NULL))
		return false;
	if (atomic_load(&e->want) || st_grown(e->st) || st_faulted(e->st)) {
		reg_release(r, e);
		return false;
	}
	return true;
}

void
reg_release(struct registry *r, struct reg_env *e)
{
	release(r, e, true);
}

void
reg_unpeek(struct registry *r, struct reg_env *e)
{
	release(r, e, false);
}

/*
 * Enters a reserved entry for dir (hash h): nobody opens or reserves
 * that env meanwhile.  Called with r->mtx held and no entry for dir;
 * drops the lock.  Returns 0 with *out, or -1 with err.
 */
static int
reserve_unlock(struct registry *r, const char *dir, uint64_t h,
    const struct cfg_store *st, struct sp_bytes repo, struct reg_env **out,
    struct sp_error *err)
{
	struct reg_env	*e;

	if ((e = entry_new(r, dir, h, st, repo)) != NULL) {
		e->state = REG_RESERVED;
		insert(r, e);
	}
	pthread_mutex_unlock(&r->mtx);
	if (e == NULL)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	*out = e;
	return 0;
}

int
reg_reserve(struct registry *r, const struct cfg_store *st,
    struct sp_bytes repo, struct reg_env **out, struct sp_error *err)
{
	struct reg_env	*e;
	struct stat	 sb;
	char		 dir[PATH_MAX];
	uint64_t	 h;

	if (env_dir(r, st, repo, dir, sizeof(dir), err) == -1)
		return -1;
	h = hash_str(dir);
	pthread_mutex_lock(&r->mtx);
	if ((e = find(r, dir, h)) != NULL && e->state == REG_FAILED)
		forget(r, e);
	if (find(r, dir, h) != NULL) {
		pthread_mutex_unlock(&r->mtx);
		return sp_seterr_busy(err, SP_RETRY_LONG_MS, "the destination "
		    "env is open; retry when `storectl live` no longer lists "
		    "it");
	}
	if (reserve_unlock(r, dir, h, st, repo, &e, err) == -1)
		return -1;
	/* Checked under the reservation, so nobody creates it meanwhile. */
	if (lstat(e->path, &sb) == 0 || errno != ENOENT) {
		reg_unreserve(r, e);
		return sp_seterr(err, SP_EXISTS, "the destination env "
		    "already exists; fork into a new repo name");
	}
	*out = e;
	return 0;
}

const char *
reg_data_dir(const struct registry *r)
{
	return r->root;
}

/* Waits on the registry's condition until deadline; false once past. */
static bool
claim_wait(struct registry *r, const struct timespec *deadline)
{
	int	 rc;

	r->claiming++;
	rc = pthread_cond_timedwait(&r->cond, &r->mtx, deadline);
	r->claiming--;
	return rc != ETIMEDOUT;
}

int
reg_claim(struct registry *r, const struct cfg_store *st,
    struct sp_bytes repo, uint64_t wait_ms, struct reg_env **out,
    struct sp_error *err)
{
	struct reg_env	*e;
	struct timespec	 deadline;
	char		 dir[PATH_MAX];
	uint64_t	 h;

	if (env_dir(r, st, repo, dir, sizeof(dir), err) == -1)
		return -1;
	h = hash_str(dir);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(wait_ms / 1000);
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->mtx);
	while ((e = find(r, dir, h)) != NULL) {
		if (e->state == REG_OPEN && e->refs == 0) {
			close_locked(r, e);	/* drops the lock: look again */
			continue;
		}
		if (e->state == REG_OPEN && unpark(r, e))
			continue;	/* may have dropped the lock */
		/* Requests hold an env for a moment (a read for the rest of
		 * its loop's turn): give them that moment. */
		if (e->state == REG_RESERVED || e->state == REG_RESIZING ||
		    !claim_wait(r, &deadline)) {
			pthread_mutex_unlock(&r->mtx);
			return sp_seterr_busy(err, SP_RETRY_LONG_MS, "the env "
			    "of store %s%s%s is in use (a request, a "
			    "snapshot, a fork, a restore or a drop); retry "
			    "once `storectl live` shows it idle", st->name,
			    e->repo ? " of repo " : "", e->repo ? e->repo : "");
		}
	}
	return reserve_unlock(r, dir, h, st, repo, out, err);
}

void
reg_unreserve(struct registry *r, struct reg_env *e)
{
	uint64_t	 key = e->hash;

	pthread_mutex_lock(&r->mtx);
	unlink_entry(r, e);
	entry_free(r, e);
	settled(r, key);
	pthread_mutex_unlock(&r->mtx);
}

unsigned
reg_reconfigure(struct registry *r, const struct config *cfg)
{
	const struct cfg_store	*st;
	struct reg_env		*e, **idle;
	size_t			 i, k = 0;
	unsigned		 n = 0;

	pthread_mutex_lock(&r->mtx);
	/* Idle envs are retuned below, outside this walk: a retune may drop
	 * the lock, and the table may change meanwhile. */
	idle = calloc(r->nentries + 1, sizeof(*idle));
	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e; e = e->hnext) {
			if (e->state != REG_OPEN || (st = cfg_store_find(cfg,
			    (struct sp_bytes){ e->store, strlen(e->store) })) ==
			    NULL || st->gen <= e->cfg->gen)
				continue;
			plan(e, st);
			if (e->retune == REG_KEEP)
				continue;
			n++;
			/* Parked references are nobody's use. */
			if (e->refs > 0 && idle != NULL &&
			    take_parked(r, e) > 0) {
				r->peeked++;
				idle[k++] = e;
			} else if (e->refs == 0 && idle != NULL) {
				lru_remove(r, e);
				e->refs = 1;
				r->peeked++;
				idle[k++] = e;
			}
		}
	}
	pthread_mutex_unlock(&r->mtx);
	for (i = 0; i < k; i++)
		release(r, idle[i], false);
	free(idle);
	return n;
}

/*
 * Forgets failed opens nobody came back for (their client left): a
 * request that stalls on an open comes back within milliseconds, so an
 * error older than FAILED_KEEP_MS has no taker.  The lock held.
 */
static void
forget_failed(struct registry *r, uint64_t now)
{
	struct reg_env	*e, *next;
	size_t		 i;

	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e; e = next) {
			next = e->hnext;
			if (e->state == REG_FAILED &&
			    now - e->last_used_ms >= FAILED_KEEP_MS)
				forget(r, e);
		}
	}
}

unsigned
reg_sweep(struct registry *r)
{
	uint64_t	 now = clock_now_ms();
	unsigned	 n = 0;

	pthread_mutex_lock(&r->mtx);
	/* What loops parked and did not use since the last sweep joins
	 * the idle list, as used when that sweep saw it last used. */
	unpark_all(r, true, now);
	while (r->lru_head != NULL &&
	    now - r->lru_head->last_used_ms >= r->idle_ms) {
		close_locked(r, r->lru_head);
		n++;
	}
	forget_failed(r, now);
	pthread_mutex_unlock(&r->mtx);
	return n;
}

void
reg_sync(struct registry *r)
{
	struct reg_env	**v;
	struct sp_error	  err;
	uint64_t	  now = clock_now_ms();
	size_t		  i, n;

	/* Only the envs that need it: a look pins an env for a moment. */
	if (collect(r, NULL, NULL, true, &v, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		if (st_sync(v[i]->st, now, &err) == -1)
			log_warnx("%s: %s: %s", __func__, v[i]->dir, err.msg);
		reg_unpeek(r, v[i]);
	}
	free(v);
}

unsigned
reg_count(struct registry *r)
{
	unsigned	 n;

	pthread_mutex_lock(&r->mtx);
	n = r->nopen;
	pthread_mutex_unlock(&r->mtx);
	return n;
}

static bool
matches(const struct reg_env *e, const char *repo, const char *store)
{
	if (repo && (e->repo == NULL || strcmp(repo, e->repo) != 0))
		return false;
	return store == NULL || strcmp(store, e->store) == 0;
}

/* reg_collect(), of the envs with unflushed commits only when dirty. */
static int
collect(struct registry *r, const char *repo, const char *store, bool dirty,
    struct reg_env ***out, size_t *n)
{
	struct reg_env	*e, **v;
	size_t		 i, k = 0;

	pthread_mutex_lock(&r->mtx);
	if ((v = calloc(r->nentries + 1, sizeof(*v))) == NULL) {
		pthread_mutex_unlock(&r->mtx);
		return -1;
	}
	for (i = 0; i < r->nbuckets; i++) {
		for (e = r->buckets[i]; e; e = e->hnext) {
			if (e->state != REG_OPEN || !matches(e, repo, store) ||
			    st_faulted(e->st) ||
			    (dirty && !st_close_syncs(e->st)))
				continue;
			if (e->refs++ == 0)
				lru_remove(r, e);
			r->peeked++;
			v[k++] = e;
		}
	}
	pthread_mutex_unlock(&r->mtx);
	*out = v;
	*n = k;
	return 0;
}

int
reg_collect(struct registry *r, const char *repo, const char *store,
    struct reg_env ***out, size_t *n)
{
	return collect(r, repo, store, false, out, n);
}

unsigned
reg_inflight(const struct registry *r, const struct reg_env *e)
{
	struct reg_park	*p;
	unsigned	 i, n = 0;

	for (i = 0; e->refs > 0 && i < (r->nslots ? r->nslots : 1); i++)
		if ((p = atomic_load(&e->parks[i])) != NULL &&
		    atomic_load(&p->e) == e)
			n++;
	return e->refs - n;
}

/* True when nothing uses e: no reference, or only parked ones of no
 * use since the last sweep (which stamped last_used_ms when used); the
 * lock held. */
static bool
idle(const struct registry *r, struct reg_env *e)
{
	return e->state == REG_OPEN && reg_inflight(r, e) == 0 &&
	    (e->refs == 0 || !atomic_load(&e->used));
}

int
reg_foreach(struct registry *r, const char *repo, const char *store,
    int (*fn)(void *arg, const struct reg_env *e, uint64_t idle_ms),
    void *arg)
{
	struct reg_env	*e;
	uint64_t	 now = clock_now_ms();
	size_t		 i;
	int		 rc = 0;

	pthread_mutex_lock(&r->mtx);
	for (i = 0; i < r->nbuckets && rc == 0; i++) {
		for (e = r->buckets[i]; e && rc == 0; e = e->hnext) {
			if (!matches(e, repo, store) || e->state == REG_FAILED)
				continue;
			rc = fn(arg, e, idle(r, e) ? now - e->last_used_ms :
			    0);
		}
	}
	pthread_mutex_unlock(&r->mtx);
	return rc;
}
