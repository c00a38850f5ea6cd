#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "job.h"
#include "layout.h"
#include "log.h"
#include "registry.h"
#include "sp_msg.h"

#define BLOCK_MIN	(64 * 1024)
#define BLOCK_SMALL	256

struct job_block {
	struct job_block	*next;
	size_t			 used;
	size_t			 cap;
	char			 data[];
};

/*
 * A cached job's memory is out of bounds until it is handed out again:
 * under ASan or valgrind, a use of a freed job is reported as if it had
 * gone back to the allocator.  Handed out, the job's own fields are
 * valid (SHOW_SET: keep() set them), its storage's bytes are not
 * (SHOW_UNSET: as malloc's would be).
 */
#if defined(__SANITIZE_ADDRESS__) && __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#define HIDE(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define SHOW_SET(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define SHOW_UNSET(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HIDE(p, n)	VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define SHOW_SET(p, n)	VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define SHOW_UNSET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#else
#define HIDE(p, n)	((void)(p), (void)(n))
#define SHOW_SET(p, n)	((void)(p), (void)(n))
#define SHOW_UNSET(p, n) ((void)(p), (void)(n))
#endif

/* Hides (show false) or shows what a cached job keeps, but its link:
 * the job itself first shown, last hidden, as its fields say where the
 * rest is. */
static void
cache_mark(struct job *j, bool show)
{
	char	*rest = (char *)j + sizeof(j->next);
	size_t	 nrest = sizeof(*j) - sizeof(j->next), i;
	struct {
		void	*p;
		size_t	 n;
	} part[3];

	if (show)
		SHOW_SET(rest, nrest);
	part[0].p = j->ops;
	part[0].n = j->capops * sizeof(*j->ops);
	part[1].p = j->blocks != NULL ? j->blocks->data : NULL;
	part[1].n = j->blocks != NULL ? j->blocks->cap : 0;
	part[2].p = j->reply.data;
	part[2].n = j->reply.cap;
	for (i = 0; i < 3; i++) {
		if (part[i].p == NULL)
			continue;
		if (show)
			SHOW_UNSET(part[i].p, part[i].n);
		else
			HIDE(part[i].p, part[i].n);
	}
	if (!show)
		HIDE(rest, nrest);
}

struct job *
job_new(struct job_cache *jc, enum job_kind kind)
{
	struct job	*j;

	if (jc != NULL && (j = jc->free) != NULL) {
		jc->free = j->next;
		jc->n--;
		cache_mark(j, true);
		j->next = NULL;
	} else if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->cache = jc;
	j->kind = kind;
	j->fd = -1;
	return j;
}

void
job_cache_fini(struct job_cache *jc)
{
	struct job	*j;

	while ((j = jc->free) != NULL) {
		jc->free = j->next;
		cache_mark(j, true);
		j->cache = NULL;
		job_free(j);
	}
	jc->n = 0;
}

int
job_reserve_ops(struct job *j, size_t n)
{
	struct st_op	*v;
	size_t		 cap;

	if (j->capops - j->nops >= n)
		return 0;
	cap = j->capops ? j->capops : 2;
	while (cap - j->nops < n)
		cap *= 2;
	if ((v = realloc(j->ops, cap * sizeof(*v))) == NULL)
		return -1;
	j->ops = v;
	j->capops = cap;
	return 0;
}

struct st_op *
job_add_op(struct job *j)
{
	struct st_op	*v;

	if (job_reserve_ops(j, 1) == -1)
		return NULL;
	v = &j->ops[j->nops++];
	memset(v, 0, sizeof(*v));
	return v;
}

int
job_reserve(struct job *j, size_t n)
{
	struct job_block	*b = j->blocks;

	if (b != NULL && b->cap - b->used >= n)
		return 0;
	/* An empty block a cached job kept, too small for this one. */
	if (b != NULL && b->used == 0) {
		j->blocks = b->next;
		free(b);
	}
	/* Small requests of sizes near each other reuse one block. */
	if (n < BLOCK_SMALL)
		n = BLOCK_SMALL;
	if ((b = malloc(sizeof(*b) + n)) == NULL)
		return -1;
	b->used = 0;
	b->cap = n;
	b->next = j->blocks;
	j->blocks = b;
	return 0;
}

const void *
job_copy(struct job *j, const void *p, size_t n)
{
	struct job_block	*b;
	char			*dst;

	if (n == 0)
		return "";
	/* Room made by job_reserve() is used first; then big blocks. */
	b = j->blocks;
	if ((b == NULL || b->cap - b->used < n) &&
	    job_reserve(j, n > BLOCK_MIN ? n : BLOCK_MIN) == -1)
		return NULL;
	b = j->blocks;
	dst = b->data + b->used;
	memcpy(dst, p, n);
	b->used += n;
	j->nbytes += n;
	return dst;
}

/* Whether j, done with, may wait in its cache for the next request. */
static bool
keepable(const struct job *j)
{
	const struct job_block	*b = j->blocks;

	return j->cache != NULL && j->cache->n < JOB_CACHE_MAX &&
	    j->capops <= JOB_KEEP_OPS && j->reply.cap <= JOB_KEEP_BYTES &&
	    (b == NULL || (b->next == NULL && b->cap <= JOB_KEEP_BYTES));
}

/* Puts j, done with, in its cache, with its storage emptied. */
static void
keep(struct job *j)
{
	struct job_cache	*jc = j->cache;
	struct job_block	*b = j->blocks;
	struct st_op		*ops = j->ops;
	size_t			 capops = j->capops;
	struct sp_buf		 reply = j->reply;

	memset(j, 0, sizeof(*j));
	j->fd = -1;	/* closed; job_cache_fini() frees it as it is */
	j->ops = ops;
	j->capops = capops;
	if ((j->blocks = b) != NULL)
		b->used = 0;
	j->reply.data = reply.data;
	j->reply.cap = reply.cap;
	j->next = jc->free;
	cache_mark(j, false);
	jc->free = j;
	jc->n++;
}

void
job_free(struct job *j)
{
	struct job_block	*b, *next;

	if (j == NULL)
		return;
	if (j->fd != -1)
		close(j->fd);
	if (keepable(j)) {
		keep(j);
		return;
	}
	for (b = j->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	sp_buf_free(&j->reply);
	free(j->ops);
	free(j);
}

void
job_finish(struct job *j)
{
	struct registry	*reg = j->d->reg;

	if (j->vacate != NULL) {
		j->vacate(j, j->vacate_arg);
		j->vacate = NULL;
		j->vacate_arg = NULL;
	}
	if (j->end != NULL) {
		j->end(j);
		j->end = NULL;
	}
	if (j->env != NULL) {
		reg_release(reg, j->env);
		j->env = NULL;
	}
	if (j->dst != NULL) {
		reg_unreserve(reg, j->dst);
		j->dst = NULL;
	}
	if (j->fd != -1) {
		close(j->fd);
		j->fd = -1;
	}
	j->post(j);
}

void
job_note(struct job *j, int code)
{
	ctr_err(j->ctr, code);
	if (j->env != NULL)
		ctr_err(&j->env->ctr, code);
}

void
job_reply(struct job *j, int rc, const struct sp_error *err, uint64_t size)
{
	job_note(j, rc == -1 ? err->code : SP_OK);
	if (rc == -1)
		sp_reply_err(&j->reply, j->id, err);
	else if (j->kind == JOB_SNAPSHOT)
		sp_reply_size(&j->reply, j->id, size);
	else
		sp_reply_ok(&j->reply, j->id);
}

/* ---------------------------------------------------------------- fork */

/*
 * Copies the source env into a fresh directory under @tmp, makes it
 * durable, then renames it into place in one step, so the destination
 * either does not exist or is complete, even across a crash.
 */
/*
 * Gives the copy in dir an id of its own: it is another env now, whose
 * revisions go their own way, and a watcher must be able to tell.  The
 * copy is walked first, as a restore's is: damage of the env forked
 * (another program's) fails that walk, a guarded read, rather than the
 * id's write, which would quarantine the copy for good.
 */
static int
reid_copy(struct job *j, const char *dir, struct sp_error *err)
{
	struct st_params	 p;
	struct st_env		*env;
	struct sp_error		 e2;
	char			 lock[PATH_MAX];
	uint64_t		 entries;
	int			 rc;

	memset(&p, 0, sizeof(p));
	p.dir = dir;
	p.label = "a fork's copy";
	p.store = atomic_load(&j->env->cfg);
	p.nslots = 1;
	if (st_open(&p, &env, err) == -1)
		return -1;
	if ((rc = st_verify(env, &entries, err)) == -1 &&
	    err->code != SP_IO_ERROR) {
		e2 = *err;
		sp_seterr(err, SP_CORRUPT, "the env forked, %s, is damaged "
		    "(%s); restore it from a snapshot", j->env->dir, e2.msg);
	}
	if (rc == 0)
		rc = st_reid(env, err);
	st_close(env);
	/* LMDB makes a new lock file where the env is used. */
	if (snprintf(lock, sizeof(lock), "%s/lock.mdb", dir) <
	    (int)sizeof(lock))
		unlink(lock);
	return rc;
}

static int
fork_env(struct job *j, struct sp_error *err)
{
	/* Not the config's: a reload may free that while the fork runs;
	 * and through the descriptor held on it (lay_root()). */
	const char	*data_dir = reg_data_dir(j->d->reg);
	char		 tmp[PATH_MAX], file[PATH_MAX];
	int		 fd = -1, ret = -1;

	if (lay_tmp_dir(data_dir, "fork", tmp, sizeof(tmp), err) == -1)
		return -1;
	if (snprintf(file, sizeof(file), "%s/%s", tmp, ST_DATA_FILE) >=
	    (int)sizeof(file)) {
		sp_seterr(err, SP_IO_ERROR, "data_dir is too long");
		goto done;
	}
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		sp_seterr(err, SP_IO_ERROR, "cannot create %s: %s", file,
		    strerror(errno));
		goto done;
	}
	if (st_copy(j->env->st, fd, false, 0, err) == -1 ||
	    reid_copy(j, tmp, err) == -1)
		goto done;
	if (lay_sync_parent(file) == -1 ||
	    lay_prepare_repo(data_dir, j->dst->repo, err) == -1)
		goto done;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, j->dst->path,
	    RENAME_NOREPLACE) == -1) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			sp_seterr(err, SP_EXISTS, "the destination env "
			    "already exists; fork into a new repo name");
		else
			sp_seterr(err, SP_IO_ERROR, "cannot move the copy to "
			    "%s: %s", j->dst->dir, strerror(errno));
		goto done;
	}
	lay_sync_parent(j->dst->path);
	log_info("%s: %s -> %s", __func__, j->env->dir, j->dst->dir);
	ret = 0;
done:
	if (fd != -1)
		close(fd);
	if (ret == -1)
		lay_remove_tree(tmp);
	return ret;
}

/* ------------------------------------------------------ mget, missing */

struct multi {
	struct sp_mp_rd		 keys;	/* the next key to hand out */
	struct sp_reply_w	 w;	/* mget */
	uint32_t		*absent;	/* missing */
	uint32_t		 nabsent;
	bool			 mget;
};

static int
next_key(void *arg, size_t i, const void **key, size_t *klen)
{
	struct multi	*m = arg;
	struct sp_bytes	 k;

	(void)i;
	if (sp_mp_read_bytes(&m->keys, &k) == -1)
		return -1;
	*key = k.p;
	*klen = k.n;
	return 0;
}

static int
each_val(void *arg, size_t i, const void *val, size_t n)
{
	struct multi	*m = arg;

	if (m->mget)
		sp_reply_w_val(&m->w, val, n);
	else if (val == NULL)
		m->absent[m->nabsent++] = (uint32_t)i;
	return 0;
}

int
job_read_keys(struct sp_buf *out, uint64_t id, bool mget, bool revs,
    struct st_env *st, unsigned slot, unsigned db,
    const struct sp_array *keys, struct sp_error *err)
{
	struct multi	 m;
	size_t		 i, bad, mark = out->len;
	uint64_t	 rev = 0;
	int		 rc = -1;

	/* Every key is checked before any read; keys the I/O thread did
	 * not walk (sp_req_decode_defer) are walked here. */
	if (sp_keys_check(keys, err) == -1)
		return -1;
	memset(&m, 0, sizeof(m));
	m.mget = mget;
	if (!mget && (m.absent = calloc(keys->n + 1,
	    sizeof(*m.absent))) == NULL)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	if (mget && sp_reply_mget_open(&m.w, out, id, keys->n) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	sp_mp_rd_init(&m.keys, keys->raw.p, keys->raw.n);
	if (st == NULL) {
		/* No env: every key is absent. */
		for (i = 0; i < keys->n; i++)
			each_val(&m, i, NULL, 0);
	} else if (st_mget(st, slot, db, keys->n, next_key, each_val, &m,
	    &bad, revs ? &rev : NULL, err) == -1) {
		if (mget)
			sp_reply_abort(&m.w);
		goto done;
	}
	if ((mget ? sp_reply_close(&m.w) : sp_reply_missing(out, id, m.absent,
	    m.nabsent)) == -1) {
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	if (revs && sp_reply_add_rev(out, mark, rev) == -1) {
		out->len = mark;
		sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	rc = 0;
done:
	free(m.absent);
	return rc;
}

static void
run_read(struct job *j)
{
	struct sp_error	 err;

	if (job_read_keys(&j->reply, j->id, j->mget, j->revs, j->env ?
	    j->env->st : NULL, ST_NOSLOT, j->db, &j->keys, &err) == -1) {
		job_note(j, err.code);
		sp_reply_err(&j->reply, j->id, &err);
		return;
	}
	job_note(j, SP_OK);
}

static void
run_task(struct pool_task *t)
{
	struct job	*j = (struct job *)((char *)t -
	    offsetof(struct job, task));
	struct sp_error	 err;

	if (j->kind == JOB_CALL) {
		j->run(j);
		return;
	}
	if (j->kind == JOB_READ)
		run_read(j);
	else
		job_reply(j, fork_env(j, &err), &err, 0);
	job_finish(j);
}

void
job_submit(struct job *j)
{
	j->task.fn = run_task;
	/* Reads have threads of their own: a client's large reads then
	 * hold up neither its loop nor anyone's writes. */
	pool_submit(j->kind == JOB_READ ? j->d->readers : j->d->pool,
	    &j->task);
}
