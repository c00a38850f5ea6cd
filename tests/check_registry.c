/*
 * Unit tests of the registry and the LMDB layer under it, on real envs
 * in a temporary directory: one env per directory even when first
 * requests race, idle closing, the max_envs cap, fork reservations, and
 * the store operations with their errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND	0
#endif

#include "check_main.h"
#include "harness.h"

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "job.h"
#include "pool.h"
#include "registry.h"
#include "sp_frame.h"
#include "sp_msg.h"
#include "store.h"
#include "writer.h"

static char			 tmp[64];
static struct registry		*reg;
static struct cfg_store		 refs, small, multi, plain;

static struct sp_bytes
B(const char *s)
{
	struct sp_bytes	 b = { s, s ? strlen(s) : 0 };

	return b;
}

static struct cfg_store
mkstore(const char *name, uint64_t map_size, unsigned max_dbs,
    const char *db1, const char *db2)
{
	struct cfg_store	 st;

	memset(&st, 0, sizeof(st));
	snprintf(st.name, sizeof(st.name), "%s", name);
	st.map_size = map_size;
	st.max_dbs = max_dbs;
	snprintf(st.dbs[0], sizeof(st.dbs[0]), "%s", db1);
	st.ndbs = 1;
	if (db2) {
		snprintf(st.dbs[1], sizeof(st.dbs[1]), "%s", db2);
		st.ndbs = 2;
	}
	st.sync = CFG_SYNC_NONE;	/* unit tests need no fsync */
	return st;
}


static void
setup_with(unsigned max_envs, uint64_t idle_ms)
{
	snprintf(tmp, sizeof(tmp), "/tmp/check_registry.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	refs = mkstore("refs", 1 << 20, 1, "refs", NULL);
	small = mkstore("small", 64 * 1024, 1, "small", NULL);
	multi = mkstore("multi", 1 << 20, 2, "a", "b");
	plain = mkstore("plain", 1 << 20, 0, "main", NULL);
	reg = reg_new(tmp, 2, max_envs, idle_ms);
	ck_assert_ptr_nonnull(reg);
}

static void
setup(void)
{
	setup_with(100, 3600 * 1000);
}

static void
teardown(void)
{
	reg_free(reg);
	reg = NULL;
	hs_rmtree(tmp);
}

static bool
exists(const char *rel)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	return stat(path, &sb) == 0;
}

/* Makes TMP/dir/file, an empty file, and the directories up to it. */
static int
mkfile(const char *dir, const char *file)
{
	char	 path[PATH_MAX];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", tmp, dir);
	if (mkdir(path, 0700) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", tmp, dir, file);
	*strrchr(path, '/') = '\0';
	if (mkdir(path, 0700) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", tmp, dir, file);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		return -1;
	return close(fd);
}

/* ------------------------------------------------ a disk that fails */

/*
 * LMDB's fdatasync, interposed (the executable's definition comes first
 * for the shared liblmdb): once armed, the armed-th call fails with EIO
 * as a failing disk's would, and the first one submits sync_then (a
 * write that arrives while a commit syncs).  Unarmed, it syncs.  Built
 * with -fvisibility=hidden, it must say it is to be seen.
 */
static atomic_int		 sync_armed;	/* the call that fails */
static atomic_int		 sync_calls;	/* since armed */
static struct job *_Atomic	 sync_then;
static struct job		**sync_more;	/* then these (NULL-ended) */

__attribute__((visibility("default"))) int
fdatasync(int fd)
{
	struct job	*j;
	int		 n;

	if (atomic_load(&sync_armed) > 0) {
		n = atomic_fetch_add(&sync_calls, 1) + 1;
		if (n == 1 && (j = atomic_exchange(&sync_then, NULL)) != NULL) {
			writer_submit(j);
			while (sync_more != NULL && *sync_more != NULL)
				writer_submit(*sync_more++);
		}
		if (n == atomic_load(&sync_armed)) {
			errno = EIO;
			return -1;
		}
	}
	return (int)syscall(SYS_fdatasync, fd);
}

static void
fail_sync(int nth, struct job *then)
{
	atomic_store(&sync_calls, 0);
	atomic_store(&sync_then, then);
	atomic_store(&sync_armed, nth);
}

/* ------------------------------------------------------ store helpers */

static int
put(struct reg_env *e, unsigned db, const char *k, const void *v, size_t vn,
    struct sp_error *err)
{
	struct st_op	 op = { ST_PUT, db, k, strlen(k), v, vn };
	size_t		 failed;

	return st_write(e->st, &op, 1, &failed, err);
}

struct val {
	char	 buf[256];
	size_t	 n;
};

static int
copy_val(void *arg, const void *p, size_t n)
{
	struct val	*v = arg;

	v->n = n;
	memcpy(v->buf, p, n < sizeof(v->buf) ? n : sizeof(v->buf));
	return 0;
}

static int
get(struct reg_env *e, unsigned db, const char *k, struct val *v,
    struct sp_error *err)
{
	return st_get(e->st, 0, db, k, strlen(k), copy_val, v, err);
}

/* ------------------------------------------------------------- tests */

START_TEST(missing_env_is_not_created)
{
	struct reg_env	*e;
	struct sp_error	 err;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("ox/mnist"), false, &e,
	    &err), -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);
	ck_assert(!exists("ox"));
	ck_assert_uint_eq(reg_count(reg), 0);
}
END_TEST

START_TEST(one_env_per_directory)
{
	struct reg_env	*a, *b;
	struct sp_error	 err;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &a, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), false, &b, &err), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(a->refs, 2);
	ck_assert_uint_eq(reg_count(reg), 1);
	ck_assert(exists("r/@refs/data.mdb"));
	reg_release(reg, a);
	reg_release(reg, b);
}
END_TEST

#define RACERS	16

static pthread_barrier_t	 barrier;

static void *
racer(void *arg)
{
	struct reg_env	**out = arg;
	struct sp_error	  err;

	pthread_barrier_wait(&barrier);
	if (reg_acquire(reg, &refs, B("race/repo"), true, out, &err) == -1)
		*out = NULL;
	return NULL;
}

START_TEST(first_requests_race)
{
	pthread_t	 t[RACERS];
	struct reg_env	*got[RACERS];
	int		 i;

	pthread_barrier_init(&barrier, NULL, RACERS);
	for (i = 0; i < RACERS; i++)
		pthread_create(&t[i], NULL, racer, &got[i]);
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (i = 0; i < RACERS; i++) {
		ck_assert_ptr_nonnull(got[i]);
		ck_assert_ptr_eq(got[i], got[0]);
	}
	ck_assert_uint_eq(got[0]->refs, RACERS);
	ck_assert_uint_eq(reg_count(reg), 1);
	for (i = 0; i < RACERS; i++)
		reg_release(reg, got[i]);
}
END_TEST

START_TEST(idle_envs_close)
{
	struct reg_env	*e;
	struct sp_error	 err;

	reg_free(reg);
	reg = reg_new(tmp, 2, 100, 0);	/* idle_close 0: close at once */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_uint_eq(reg_sweep(reg), 0);	/* in use: stays */
	ck_assert_uint_eq(reg_count(reg), 1);
	reg_release(reg, e);
	ck_assert_uint_eq(reg_sweep(reg), 1);
	ck_assert_uint_eq(reg_count(reg), 0);
	/* The data is still there when it opens again. */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), false, &e, &err), 0);
	reg_release(reg, e);
}
END_TEST

START_TEST(observers_do_not_keep_envs_open)
{
	struct reg_env	*e, **v;
	struct sp_error	 err;
	size_t		 n;

	reg_free(reg);
	reg = reg_new(tmp, 2, 100, 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	reg_release(reg, e);
	/* stats and housekeeping look at every env: not a use. */
	ck_assert_int_eq(reg_collect(reg, NULL, NULL, &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(reg_sweep(reg), 0);	/* looked at: in use */
	reg_unpeek(reg, v[0]);
	free(v);
	reg_sync(reg);
	ck_assert_uint_eq(reg_sweep(reg), 1);
}
END_TEST

START_TEST(recent_envs_stay)
{
	struct reg_env	*e;
	struct sp_error	 err;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	reg_release(reg, e);
	ck_assert_uint_eq(reg_sweep(reg), 0);	/* idle_close is an hour */
	ck_assert_uint_eq(reg_count(reg), 1);
}
END_TEST

START_TEST(max_envs_evicts_idle_first)
{
	struct reg_env	*a, *b, *c;
	struct sp_error	 err;

	reg_free(reg);
	reg = reg_new(tmp, 2, 2, 3600 * 1000);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("a"), true, &a, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("b"), true, &b, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("c"), true, &c, &err), -1);
	ck_assert_int_eq(err.code, SP_BUSY);
	ck_assert_ptr_nonnull(strstr(err.msg, "max_envs"));
	ck_assert(!exists("c"));
	reg_release(reg, a);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("c"), true, &c, &err), 0);
	ck_assert_uint_eq(reg_count(reg), 2);
	reg_release(reg, b);
	reg_release(reg, c);
}
END_TEST

/* With a pool an open runs there: reg_acquire() says REG_AGAIN until
 * it is done.  Retries as a request would, bounded. */
static int
acquire_pooled(const char *repo, bool create, struct reg_env **out,
    struct sp_error *err)
{
	int	 rc, i;

	for (i = 0; i < 5000; i++) {
		if ((rc = reg_acquire(reg, &refs, B(repo), create, out,
		    err)) != REG_AGAIN)
			return rc;
		usleep(1000);
	}
	return rc;
}

/* A task queued again from its own run, with nothing else queued, stays
 * on its thread: the idle one is not woken for it (writer.c's drain of a
 * busy env, one futex and one context switch per group before). */
struct requeued {
	struct pool_task	 task;
	struct pool		*pool;
	pthread_t		 ran[2];
	atomic_int		 started;
	atomic_int		 finished;
};

static void
requeued_run(struct pool_task *t)
{
	struct requeued	*r = (struct requeued *)(void *)t;
	int		 n = atomic_fetch_add(&r->started, 1);

	if (n < 2)
		r->ran[n] = pthread_self();
	if (n == 0) {
		pool_requeue(r->pool, t);
		/* Time for a woken thread to take it, had one been woken. */
		usleep(50 * 1000);
	}
	atomic_fetch_add(&r->finished, 1);
}

START_TEST(requeued_task_stays_on_its_thread)
{
	struct requeued	 r = { .task = { .fn = requeued_run } };
	int		 i;

	ck_assert_ptr_nonnull(r.pool = pool_new(2));
	/* Both threads asleep on the queue: neither is looking at it when
	 * the task is queued again. */
	usleep(100 * 1000);
	pool_submit(r.pool, &r.task);
	for (i = 0; i < 3000 && atomic_load(&r.finished) < 2; i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&r.finished), 2);
	ck_assert_int_eq(atomic_load(&r.started), 2);
	ck_assert_msg(pthread_equal(r.ran[0], r.ran[1]),
	    "the task queued again ran on the other thread");
	pool_free(r.pool);
}
END_TEST

/* With a pool, an evicted env whose close syncs (sync = none, commits
 * not flushed yet) is closed there, and the request that needs its place
 * comes back for it; a clean one is closed at once. */
START_TEST(max_envs_evicts_on_the_pool)
{
	struct reg_env	*a, *b, *c;
	struct sp_error	 err;
	struct pool	*pool = pool_new(1);
	int		 i;

	reg_free(reg);
	reg = reg_new(tmp, 2, 2, 3600 * 1000);
	reg_set_pool(reg, pool);
	ck_assert_int_eq(acquire_pooled("a", true, &a, &err), 0);
	ck_assert_int_eq(acquire_pooled("b", true, &b, &err), 0);
	reg_release(reg, a);
	/* a has written nothing: closed right here for e's place. */
	ck_assert_int_eq(acquire_pooled("e", true, &a, &err), 0);
	ck_assert(!st_close_syncs(a->st));
	ck_assert_int_eq(put(a, 0, "k", "v", 1, &err), 0);
	ck_assert(st_close_syncs(a->st));
	reg_release(reg, a);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("c"), true, &c, &err),
	    REG_AGAIN);
	/* a is on its way out: nobody else is evicted meanwhile. */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("d"), true, &c, &err),
	    REG_AGAIN);
	for (i = 0; i < 1000 && reg_count(reg) == 2; i++)
		usleep(1000);
	ck_assert_uint_eq(reg_count(reg), 1);
	ck_assert_int_eq(acquire_pooled("c", true, &c, &err), 0);
	ck_assert(!exists("d"));
	reg_release(reg, b);
	reg_release(reg, c);
	pool_free(pool);
	reg_set_pool(reg, NULL);
}
END_TEST

/* With a pool, an open never runs on the caller: REG_AGAIN, then the
 * env, or the open's error for the request that comes back; a read of
 * an env that is not there is NOT_FOUND at once, and a write after it
 * creates the env. */
START_TEST(opens_on_the_pool)
{
	struct reg_env	*a;
	struct sp_error	 err;
	struct pool	*pool = pool_new(1);

	reg_set_pool(reg, pool);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("p"), false, &a, &err), -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("p"), true, &a, &err),
	    REG_AGAIN);
	ck_assert_int_eq(acquire_pooled("p", true, &a, &err), 0);
	ck_assert(exists("p"));
	reg_release(reg, a);
	/* A damaged env: the open fails on the pool, the retry says why,
	 * and the next attempt tries again. */
	ck_assert_int_eq(mkfile("q", "@refs/data.mdb"), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("q"), false, &a, &err),
	    REG_AGAIN);
	ck_assert_int_eq(acquire_pooled("q", false, &a, &err), -1);
	ck_assert_int_eq(err.code, SP_CORRUPT);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("q"), true, &a, &err),
	    REG_AGAIN);
	ck_assert_int_eq(acquire_pooled("q", true, &a, &err), -1);
	ck_assert_int_eq(err.code, SP_CORRUPT);
	pool_free(pool);
	reg_set_pool(reg, NULL);
}
END_TEST

/* A task that holds its pool's only thread until told to let go, as a
 * drain waiting on a slow fdatasync does. */
struct holder {
	struct pool_task	 task;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	bool			 running, go;
};

static void
hold_thread(struct pool_task *t)
{
	struct holder	*h = (struct holder *)t;

	pthread_mutex_lock(&h->mtx);
	h->running = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->go)
		pthread_cond_wait(&h->cv, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
}

/*
 * Opens have a pool of their own (reg_set_open_pool): an env is opened
 * while every thread of the commits' pool waits on a disk.  Before, the
 * open queued behind them, and the request waited for other envs'
 * syncs (here: for good, so acquire_pooled() gave up with REG_AGAIN).
 */
START_TEST(opens_do_not_wait_behind_commits)
{
	struct holder	 h = { .task = { NULL, hold_thread },
			    .mtx = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };
	struct reg_env	*a;
	struct sp_error	 err;
	struct pool	*pool = pool_new(1), *openers = pool_new(1);

	reg_set_pool(reg, pool);
	reg_set_open_pool(reg, openers);
	pool_submit(pool, &h.task);
	pthread_mutex_lock(&h.mtx);
	while (!h.running)
		pthread_cond_wait(&h.cv, &h.mtx);
	pthread_mutex_unlock(&h.mtx);

	ck_assert_int_eq(reg_acquire(reg, &refs, B("o"), true, &a, &err),
	    REG_AGAIN);
	ck_assert_int_eq(acquire_pooled("o", true, &a, &err), 0);
	ck_assert(exists("o"));
	reg_release(reg, a);

	pthread_mutex_lock(&h.mtx);
	h.go = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mtx);
	pool_free(openers);
	pool_free(pool);
	reg_set_open_pool(reg, NULL);
	reg_set_pool(reg, NULL);
}
END_TEST

/* Observers (stats, the background sync) pin every env for a moment:
 * an env needed then waits for them, it is not refused. */
START_TEST(max_envs_waits_for_observers)
{
	struct reg_env	*a, *b, *c, **v;
	struct sp_error	 err;
	size_t		 n, i;

	reg_free(reg);
	reg = reg_new(tmp, 2, 2, 3600 * 1000);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("a"), true, &a, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("b"), true, &b, &err), 0);
	reg_release(reg, a);
	reg_release(reg, b);
	ck_assert_int_eq(reg_collect(reg, NULL, NULL, &v, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("c"), true, &c, &err),
	    REG_AGAIN);
	for (i = 0; i < n; i++)
		reg_unpeek(reg, v[i]);
	free(v);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("c"), true, &c, &err), 0);
	reg_release(reg, c);
}
END_TEST

START_TEST(fork_reservations)
{
	struct reg_env	*e, *r;
	struct sp_error	 err;

	ck_assert_int_eq(reg_reserve(reg, &refs, B("dst"), &r, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("dst"), true, &e, &err),
	    -1);
	ck_assert_int_eq(err.code, SP_BUSY);
	ck_assert_int_eq(reg_reserve(reg, &refs, B("dst"), &e, &err), -1);
	ck_assert_int_eq(err.code, SP_BUSY);
	reg_unreserve(reg, r);

	ck_assert_int_eq(reg_acquire(reg, &refs, B("dst"), true, &e, &err), 0);
	ck_assert_int_eq(reg_reserve(reg, &refs, B("dst"), &r, &err), -1);
	ck_assert_int_eq(err.code, SP_BUSY);	/* open */
	reg_release(reg, e);
	reg_free(reg);
	reg = reg_new(tmp, 2, 100, 3600 * 1000);
	ck_assert_int_eq(reg_reserve(reg, &refs, B("dst"), &r, &err), -1);
	ck_assert_int_eq(err.code, SP_EXISTS);	/* closed, but on disk */
}
END_TEST

static int
count_env(void *arg, const struct reg_env *e, uint64_t idle_ms)
{
	(void)e;
	(void)idle_ms;
	(*(int *)arg)++;
	return 0;
}

START_TEST(foreach_and_collect_filter)
{
	struct reg_env	*a, *b, *c, **v;
	struct sp_error	 err;
	size_t		 n, i;
	int		 k = 0;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("x"), true, &a, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("y"), true, &b, &err), 0);
	ck_assert_int_eq(reg_acquire(reg, &multi, B("x"), true, &c, &err), 0);
	reg_foreach(reg, "x", NULL, count_env, &k);
	ck_assert_int_eq(k, 2);
	k = 0;
	reg_foreach(reg, NULL, "refs", count_env, &k);
	ck_assert_int_eq(k, 2);
	k = 0;
	reg_foreach(reg, "x", "multi", count_env, &k);
	ck_assert_int_eq(k, 1);
	ck_assert_int_eq(reg_collect(reg, NULL, NULL, &v, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++)
		reg_unpeek(reg, v[i]);
	free(v);
	reg_release(reg, a);
	reg_release(reg, b);
	reg_release(reg, c);
}
END_TEST

START_TEST(store_put_get_del)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct val	 v;
	struct st_op	 del = { ST_DEL, 0, "k", 1, NULL, 0 };
	size_t		 failed;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);	/* db not created yet */
	ck_assert_int_eq(put(e, 0, "k", "v\0x", 3, &err), 0);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), 0);
	ck_assert_uint_eq(v.n, 3);
	ck_assert_int_eq(memcmp(v.buf, "v\0x", 3), 0);
	ck_assert_int_eq(st_write(e->st, &del, 1, &failed, &err), 0);
	ck_assert_int_eq(st_write(e->st, &del, 1, &failed, &err), -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);
	ck_assert_uint_eq(failed, 0);
	reg_release(reg, e);
}
END_TEST

/* Where the lock.mdb of this process's only open env is mapped, or 0. */
static uintptr_t
lock_map_start(void)
{
	FILE		*f = fopen("/proc/self/maps", "r");
	char		 line[1024];
	uintptr_t	 a = 0;

	ck_assert_ptr_nonnull(f);
	while (a == 0 && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "/lock.mdb") != NULL)
			a = (uintptr_t)strtoull(line, NULL, 16);
	fclose(f);
	return a;
}

/*
 * Two threads touch the same page of a lock.mdb that a co-user cut
 * short: both get a SIGBUS, the first one's handler maps zeros over the
 * page, and the second one's, reading /proc/self/maps after that, found
 * no lock.mdb there and killed storesd ("SIGBUS outside any call on an
 * env": an I/O loop ending its turn's read while a writer began a
 * commit, under a hostile mix of clients and cuts).  Here the first
 * fault is a read of the cut env, and the second thread's signal, as it
 * then arrives (BUS_ADRERR at the page now zeroed), is sent to this
 * thread: the access is made again, and the env is refused BUSY.
 */
START_TEST(store_lock_page_zeroed_meanwhile)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct val	 v;
	siginfo_t	 si;
	char		 path[PATH_MAX];
	uintptr_t	 a;

	ck_assert_int_eq(st_catch_faults(), 0);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	ck_assert_uint_ne(a = lock_map_start(), 0);
	snprintf(path, sizeof(path), "%s/lock.mdb", e->dir);
	ck_assert_int_eq(truncate(path, 0), 0);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), -1);
	ck_assert_int_eq(err.code, SP_BUSY);
	if (RUNNING_ON_VALGRIND) {
		/* It takes a SIGBUS with the kernel's si_code for a fault
		 * of its own, and dies. */
		fprintf(stderr, "store_lock_page_zeroed_meanwhile: the second "
		    "thread's signal cannot be sent under valgrind; skipped\n");
		reg_release(reg, e);
		return;
	}

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = BUS_ADRERR;
	si.si_addr = (void *)(a + 128);
	ck_assert_int_eq(syscall(SYS_rt_tgsigqueueinfo, getpid(),
	    (pid_t)syscall(SYS_gettid), SIGBUS, &si), 0);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), -1);
	ck_assert_int_eq(err.code, SP_BUSY);
	reg_release(reg, e);
}
END_TEST

/* ------------------------------------------ faults that are no env's */

/*
 * A NULL dereference of storesd's own (a member near address 0; a plain
 * NULL would be UBSan's first), in a value callback, which a guarded
 * read runs as it runs the handler's copy of a value.
 */
static const long *volatile near_null = (const long *)16;

static int
own_null(void *arg, const void *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return (int)*near_null;
}

/* A handler installed before st_catch_faults(), as AddressSanitizer's
 * would be: the fault that is no env's ends up here. */
static void
prior_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	_exit(sig == SIGSEGV ? 42 : 43);
}

static void
install_prior(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = prior_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* In a child: st_catch_faults(), then a read of an env of refs whose
 * value callback dereferences near NULL.  Exits 3 when the read says
 * CORRUPT (the fault taken for the env's), 4 for another error. */
static void
read_into_own_null(void)
{
	struct reg_env	*e;
	struct sp_error	 err;

	if (st_catch_faults() == -1 ||
	    reg_acquire(reg, &refs, B("r"), true, &e, &err) == -1 ||
	    put(e, 0, "k", "v", 1, &err) == -1)
		_exit(5);
	if (st_get(e->st, 0, 0, "k", 1, own_null, NULL, &err) == -1)
		_exit(err.code == SP_CORRUPT ? 3 : 4);
	_exit(0);
}

/* In a child: st_catch_faults(), then storesd's own NULL dereference
 * outside any guarded call. */
static void
own_null_unguarded(void)
{
	if (st_catch_faults() == -1)
		_exit(5);
	_exit(own_null(NULL, NULL, 0) == 0 ? 6 : 7);
}

/* In a child: st_catch_faults(), then a SIGBUS outside any guarded
 * call: a page of a mapped file past its end. */
static void
sigbus_unguarded(void)
{
	char		 path[PATH_MAX];
	volatile char	*p;
	int		 fd;

	snprintf(path, sizeof(path), "%s/short", tmp);
	if (st_catch_faults() == -1 ||
	    (fd = open(path, O_RDWR | O_CREAT, 0600)) == -1 ||
	    (p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED)
		_exit(5);
	_exit(p[0] == 0 ? 6 : 7);
}

/* Runs what in a child, with prior_handler installed first when asked
 * and its stderr in TMP/stderr; returns its wait status. */
static int
in_child(void (*what)(void), bool prior)
{
	char	 path[PATH_MAX];
	pid_t	 pid;
	int	 fd, status;

	snprintf(path, sizeof(path), "%s/stderr", tmp);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
		    -1 || dup2(fd, STDERR_FILENO) == -1)
			_exit(5);
		if (prior)
			install_prior();
		what();
		_exit(8);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* Whether the child's stderr (in_child()) holds s. */
static bool
child_said(const char *s)
{
	char	 path[PATH_MAX], buf[65536];
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "%s/stderr", tmp);
	ck_assert_int_ge(fd = open(path, O_RDONLY), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, s) != NULL;
}

/*
 * storesd's own NULL dereference in a guarded read (here in the value
 * callback, where the handler copies a value): the handler took any
 * SIGSEGV near address 0 in a guarded call for a wild file's (LMDB
 * following a pointer it never set), so the read was answered CORRUPT,
 * the env refused until restored, and the bug hidden (exit 3).  Now
 * near 0 is the env's only when the faulting instruction is liblmdb's:
 * this one reaches the handler that was there before (exit 42).
 */
START_TEST(store_own_null_in_a_read_is_not_the_envs)
{
	int	 st = in_child(read_into_own_null, true);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 42, "%s %d",
	    WIFEXITED(st) ? "exit" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	ck_assert(child_said("storesd: SIGSEGV: storesd dies"));
}
END_TEST

/*
 * The same with no handler before ours: storesd dies of the SIGSEGV
 * (a core dump where allowed), or, under AddressSanitizer, by its
 * report, which names the place.  It was answered CORRUPT (exit 3).
 */
START_TEST(store_own_null_in_a_read_dies_by_default)
{
	int	 st = in_child(read_into_own_null, false);

	if (hs_asan())
		ck_assert_msg(child_said("AddressSanitizer: SEGV"),
		    "no report; %s %d", WIFEXITED(st) ? "exit" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	else
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		    "%s %d", WIFEXITED(st) ? "exit" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}
END_TEST

/*
 * A fault outside any guarded call, SIGSEGV or SIGBUS: st_catch_faults()
 * had put SIG_DFL back and raised it, so AddressSanitizer's handler (or
 * any before ours) never saw it and printed no report (killed by
 * SIGSEGV and SIGBUS here).  Now it reaches the handler before ours.
 */
START_TEST(store_unguarded_faults_reach_the_prior_handler)
{
	int	 st;

	st = in_child(own_null_unguarded, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 42, "SIGSEGV: %s "
	    "%d", WIFEXITED(st) ? "exit" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	st = in_child(sigbus_unguarded, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 43, "SIGBUS: %s "
	    "%d", WIFEXITED(st) ? "exit" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	ck_assert(child_said("SIGBUS outside any call on an env"));
}
END_TEST

START_TEST(store_keys_checked)
{
	struct reg_env	*e;
	struct sp_error	 err;
	char		 big[SP_KEY_MAX + 2];

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "", "v", 1, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_KEY);
	ck_assert_int_eq(put(e, 0, big, "v", 1, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_KEY);
	big[SP_KEY_MAX] = '\0';
	ck_assert_int_eq(put(e, 0, big, "v", 1, &err), 0);
	reg_release(reg, e);
}
END_TEST

START_TEST(store_map_full_applies_nothing)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct st_op	 ops[2];
	struct val	 v;
	static char	 huge[256 * 1024];
	size_t		 failed;

	ck_assert_int_eq(reg_acquire(reg, &small, B("r"), true, &e, &err), 0);
	ops[0] = (struct st_op){ ST_PUT, 0, "first", 5, "1", 1 };
	ops[1] = (struct st_op){ ST_PUT, 0, "huge", 4, huge, sizeof(huge) };
	ck_assert_int_eq(st_write(e->st, ops, 2, &failed, &err), -1);
	ck_assert_int_eq(err.code, SP_MAP_FULL);
	ck_assert_uint_eq(failed, 1);
	ck_assert_ptr_nonnull(strstr(err.msg, "map_size 64KiB"));
	ck_assert_ptr_nonnull(strstr(err.msg, "repo r"));
	ck_assert_int_eq(get(e, 0, "first", &v, &err), -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);
	/* And a write that fits still goes through afterwards. */
	ck_assert_int_eq(put(e, 0, "small", "x", 1, &err), 0);
	reg_release(reg, e);
}
END_TEST

START_TEST(store_named_and_unnamed_dbs)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct val	 v;

	ck_assert_int_eq(reg_acquire(reg, &multi, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 1, "k", "in b", 4, &err), 0);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), -1);
	ck_assert_int_eq(err.code, SP_NOT_FOUND);
	ck_assert_int_eq(get(e, 1, "k", &v, &err), 0);
	ck_assert_int_eq(memcmp(v.buf, "in b", 4), 0);
	reg_release(reg, e);
	/* Reopened, the db that was created is found at open. */
	reg_free(reg);
	reg = reg_new(tmp, 2, 100, 3600 * 1000);
	ck_assert_int_eq(reg_acquire(reg, &multi, B("r"), false, &e, &err), 0);
	ck_assert_int_eq(get(e, 1, "k", &v, &err), 0);
	reg_release(reg, e);

	ck_assert_int_eq(reg_acquire(reg, &plain, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k", "main", 4, &err), 0);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), 0);
	reg_release(reg, e);
}
END_TEST

START_TEST(store_stats)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct st_stats	 s;

	ck_assert_int_eq(reg_acquire(reg, &multi, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k1", "v", 1, &err), 0);
	ck_assert_int_eq(put(e, 0, "k2", "v", 1, &err), 0);
	ck_assert_int_eq(st_stats(e->st, 0, &s, &err), 0);
	ck_assert_str_eq(s.env[0].name, "map_size");
	ck_assert_uint_eq(s.env[0].value, 1 << 20);
	ck_assert_uint_eq(s.ndbs, 2);
	ck_assert_str_eq(s.db[0][1].name, "entries");
	ck_assert_uint_eq(s.db[0][1].value, 2);
	ck_assert_uint_eq(s.db[0][0].value, 1);		/* exists */
	ck_assert_uint_eq(s.db[1][0].value, 0);		/* b: not yet */
	reg_release(reg, e);
}
END_TEST

START_TEST(group_commit_jobs_fail_alone)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct val	 v;
	static char	 huge[256 * 1024];
	struct st_op	 a = { ST_PUT, 0, "a", 1, "1", 1 };
	struct st_op	 big = { ST_PUT, 0, "big", 3, huge, sizeof(huge) };
	struct st_op	 cond[2] = { { ST_EXPECT, 0, "a", 1, "nope", 4 },
			    { ST_PUT, 0, "c", 1, "3", 1 } };
	struct st_op	 d = { ST_PUT, 0, "d", 1, "4", 1 };
	struct st_job	 jobs[4] = {
		{ &a, 1, 0, 0, { 0 }, 0 }, { &big, 1, 0, 0, { 0 }, 0 },
		{ cond, 2, 0, 0, { 0 }, 0 }, { &d, 1, 0, 0, { 0 }, 0 },
	};

	/* Both fallbacks: nested transactions, and one by one (WRITEMAP). */
	small.sync = (enum cfg_sync)_i;
	ck_assert_int_eq(reg_acquire(reg, &small, B("g"), true, &e, &err), 0);
	ck_assert_int_eq(st_write_group(e->st, jobs, 4, &err), 0);
	ck_assert_int_eq(jobs[0].rc, 0);
	ck_assert_int_eq(jobs[1].rc, -1);
	ck_assert_int_eq(jobs[1].err.code, SP_MAP_FULL);
	ck_assert_int_eq(jobs[2].rc, -1);
	ck_assert_int_eq(jobs[2].err.code, SP_COND_FAILED);
	ck_assert_uint_eq(jobs[2].failed, 0);
	ck_assert_int_eq(jobs[3].rc, 0);
	/* The neighbours of the failed jobs were committed. */
	ck_assert_int_eq(get(e, 0, "a", &v, &err), 0);
	ck_assert_int_eq(get(e, 0, "d", &v, &err), 0);
	ck_assert_int_eq(get(e, 0, "big", &v, &err), -1);
	ck_assert_int_eq(get(e, 0, "c", &v, &err), -1);
	reg_release(reg, e);
}
END_TEST

/*
 * What the writer answers by: under sync = full a commit makes the ones
 * before it durable but not itself (its meta page is synced by the next
 * commit or st_flush()); in the other modes each counts once made.  The
 * durable revision (what watches may send) moves with them.
 */
START_TEST(commits_durable_as_the_mode_says)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct st_op	 a = { ST_PUT, 0, "a", 1, "1", 1 };
	struct st_op	 b = { ST_PUT, 0, "b", 1, "2", 1 };
	struct st_op	 again = { ST_PUT_IF_ABSENT, 0, "a", 1, "3", 1 };
	struct st_job	 job;
	bool		 full = _i == CFG_SYNC_FULL;

	refs.sync = (enum cfg_sync)_i;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("s"), true, &e, &err), 0);
	ck_assert_uint_eq(st_commits(e->st), 0);
	ck_assert_uint_eq(st_durable(e->st), 0);
	ck_assert_uint_eq(st_durable_rev(e->st), 0);
	job = (struct st_job){ &a, 1, 0, 0, { 0 }, 0 };
	ck_assert_int_eq(st_write_group(e->st, &job, 1, &err), 0);
	ck_assert_int_eq(job.rc, 0);
	ck_assert_uint_eq(job.rev, 1);
	ck_assert_uint_eq(st_commits(e->st), 1);
	ck_assert_uint_eq(st_durable(e->st), full ? 0 : 1);
	ck_assert_uint_eq(st_last_rev(e->st), 1);
	ck_assert_uint_eq(st_durable_rev(e->st), full ? 0 : 1);
	/* A group that commits nothing makes nothing durable. */
	job = (struct st_job){ &again, 1, 0, 0, { 0 }, 0 };
	ck_assert_int_eq(st_write_group(e->st, &job, 1, &err), 0);
	ck_assert_int_eq(job.err.code, SP_COND_FAILED);
	ck_assert_uint_eq(st_commits(e->st), 1);
	ck_assert_uint_eq(st_durable(e->st), full ? 0 : 1);
	ck_assert_uint_eq(st_durable_rev(e->st), full ? 0 : 1);
	/* The next commit's data sync covers the one before. */
	job = (struct st_job){ &b, 1, 0, 0, { 0 }, 0 };
	ck_assert_int_eq(st_write_group(e->st, &job, 1, &err), 0);
	ck_assert_uint_eq(st_commits(e->st), 2);
	ck_assert_uint_eq(st_durable(e->st), full ? 1 : 2);
	ck_assert_uint_eq(st_durable_rev(e->st), full ? 1 : 2);
	ck_assert_int_eq(st_flush(e->st, &err), 0);
	ck_assert_uint_eq(st_durable(e->st), 2);
	ck_assert_uint_eq(st_durable_rev(e->st), 2);
	/* st_write, alone, is durable when it returns. */
	ck_assert_int_eq(put(e, 0, "c", "3", 1, &err), 0);
	ck_assert_uint_eq(st_commits(e->st), 3);
	ck_assert_uint_eq(st_durable(e->st), 3);
	ck_assert_uint_eq(st_durable_rev(e->st), 3);
	reg_release(reg, e);
}
END_TEST

/*
 * A commit that changes no page is skipped by LMDB: it writes and syncs
 * nothing, so it must not count as the data sync that makes the commit
 * before it durable under sync = full.  A group whose every job fails
 * makes such a commit; so do jobs that succeed without writing (a del of
 * an absent key, an expect that holds) in a store that keeps no
 * revision (max_dbs = 0).  Where revisions are kept, such jobs still
 * get one: their commit writes it, and is a commit like any other.
 */
START_TEST(empty_commits_make_nothing_durable)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct st_op	 a = { ST_PUT, 0, "a", 1, "1", 1 };
	struct st_op	 gone = { ST_DEL_ANY, 0, "none", 4, NULL, 0 };
	struct st_op	 holds = { ST_EXPECT, 0, "a", 1, "1", 1 };
	struct st_op	 clear = { ST_CLEAR, 1, NULL, 0, NULL, 0 };
	struct st_op	 fails = { ST_PUT_IF_ABSENT, 0, "a", 1, "2", 1 };
	struct st_job	 job, two[2];
	struct st_job	 empty[3] = { { &gone, 1, 0, 0, { 0 }, 0 },
			    { &holds, 1, 0, 0, { 0 }, 0 },
			    { &clear, 1, 0, 0, { 0 }, 0 } };
	bool		 full = _i == CFG_SYNC_FULL;
	uint64_t	 n;
	size_t		 i;

	multi.sync = plain.sync = (enum cfg_sync)_i;
	ck_assert_int_eq(reg_acquire(reg, &multi, B("e"), true, &e, &err), 0);
	job = (struct st_job){ &a, 1, 0, 0, { 0 }, 0 };
	ck_assert_int_eq(st_write_group(e->st, &job, 1, &err), 0);
	ck_assert_int_eq(job.rc, 0);
	ck_assert_uint_eq(st_durable(e->st), full ? 0 : 1);
	/* With revisions, jobs that write no data are real commits. */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(st_write_group(e->st, &empty[i], 1, &err), 0);
		ck_assert_int_eq(empty[i].rc, 0);
		ck_assert_uint_ne(empty[i].rev, 0);
		ck_assert_uint_eq(st_durable(e->st),
		    st_commits(e->st) - (full ? 1 : 0));
	}
	n = st_durable(e->st);
	/* A group whose jobs all fail (committed nested, or one by one). */
	two[0] = two[1] = (struct st_job){ &fails, 1, 0, 0, { 0 }, 0 };
	ck_assert_int_eq(st_write_group(e->st, two, 2, &err), 0);
	ck_assert_int_eq(two[0].rc, -1);
	ck_assert_int_eq(two[1].rc, -1);
	ck_assert_uint_eq(st_durable(e->st), n);
	/* A flush still makes the last commit durable. */
	ck_assert_int_eq(st_flush(e->st, &err), 0);
	ck_assert_uint_eq(st_durable(e->st), st_commits(e->st));
	reg_release(reg, e);

	/* No revisions: jobs that write nothing, alone and together. */
	ck_assert_int_eq(reg_acquire(reg, &plain, B("p"), true, &e, &err), 0);
	job = (struct st_job){ &a, 1, 0, 0, { 0 }, 0 };
	ck_assert_int_eq(st_write_group(e->st, &job, 1, &err), 0);
	ck_assert_uint_eq(st_durable(e->st), full ? 0 : 1);
	for (i = 0; i < 2; i++) {
		empty[i].rc = 0;
		ck_assert_int_eq(st_write_group(e->st, &empty[i], 1, &err), 0);
		ck_assert_int_eq(empty[i].rc, 0);
		ck_assert_uint_eq(st_durable(e->st), full ? 0 : 1);
	}
	ck_assert_int_eq(st_write_group(e->st, empty, 2, &err), 0);
	ck_assert_uint_eq(st_durable(e->st), full ? 0 : 1);
	ck_assert_int_eq(st_flush(e->st, &err), 0);
	ck_assert_uint_eq(st_durable(e->st), st_commits(e->st));
	ck_assert_uint_ge(st_durable(e->st), 1);
	reg_release(reg, e);
}
END_TEST

/*
 * Opening a new env syncs nothing (each sync at open cost the many-repos
 * workload a third of its speed); its first write syncs.
 */
START_TEST(opening_a_new_env_syncs_nothing)
{
	struct reg_env	*e;
	struct sp_error	 err;

	refs.sync = CFG_SYNC_FULL;
	fail_sync(INT_MAX, NULL);		/* counts, never fails */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("n"), true, &e, &err), 0);
	ck_assert_int_eq(atomic_load(&sync_calls), 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	ck_assert_int_ge(atomic_load(&sync_calls), 1);
	fail_sync(0, NULL);
	reg_release(reg, e);
}
END_TEST

/* True when the shell command cmd (a printf format) exits 0. */
static bool __attribute__((format(printf, 1, 2)))
sh(const char *fmt, ...)
{
	char	 cmd[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0;
}

/*
 * A new env is made by its first write alone: opening it commits
 * nothing (LMDB's last transaction id stays 0), it is at revision 0
 * with no id until then, and the first put is one commit (id 1) that
 * holds the revision and the id.  storesd makes no db of its own for
 * that (the revision is in the main db): a store with history gets
 * @storesd.hist, with the first write that keeps history.
 */
START_TEST(a_new_env_is_made_by_its_first_write)
{
	struct reg_env	*e;
	struct sp_error	 err;
	uint64_t	 rev;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("n"), true, &e, &err), 0);
	ck_assert(sh("mdb_stat -e %s/n/@refs | grep -q 'Last transaction "
	    "ID: 0$'", tmp));
	ck_assert(st_has_revs(e->st));
	ck_assert_ptr_null(st_env_id(e->st));
	ck_assert_int_eq(st_rev(e->st, 0, &rev, &err), 0);
	ck_assert_uint_eq(rev, 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	ck_assert_uint_eq(st_last_rev(e->st), 1);
	ck_assert_ptr_nonnull(st_env_id(e->st));
	ck_assert_int_eq(st_rev(e->st, 0, &rev, &err), 0);
	ck_assert_uint_eq(rev, 1);
	ck_assert(sh("mdb_stat -e %s/n/@refs | grep -q 'Last transaction "
	    "ID: 1$'", tmp));
	ck_assert(sh("mdb_stat -a %s/n/@refs | grep -q 'Status of refs$'",
	    tmp));
	ck_assert(!sh("mdb_stat -a %s/n/@refs | grep -q 'Status of @'", tmp));
	reg_release(reg, e);

	refs.history = 1 << 16;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("h"), true, &e, &err), 0);
	ck_assert(!sh("mdb_stat -a %s/h/@refs | grep -q 'Status of @'", tmp));
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	ck_assert(sh("mdb_stat -e %s/h/@refs | grep -q 'Last transaction "
	    "ID: 1$'", tmp));
	ck_assert(sh("mdb_stat -a %s/h/@refs | grep -q "
	    "'Status of @storesd.hist$'", tmp));
	reg_release(reg, e);
}
END_TEST

/* Counts history entries, noting the last revision. */
static int
count_rev(void *arg, uint64_t rev, const void *ops, size_t n)
{
	uint64_t	*got = arg;

	(void)ops;
	(void)n;
	got[0]++;
	got[1] = rev;
	return 0;
}

/*
 * @storesd.hist, made by a group's transaction that is then redone with
 * each job nested, or one by one (WRITEMAP), because a job failed: the
 * redone transaction makes it again, and history holds each revision.
 */
START_TEST(history_is_made_by_a_group_that_fails_in_part)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct st_hist_pos pos;
	struct st_op	 a = { ST_PUT, 0, "a", 1, "1", 1 };
	struct st_op	 no = { ST_EXPECT, 0, "a", 1, "nope", 4 };
	struct st_op	 b = { ST_PUT, 0, "b", 1, "2", 1 };
	struct st_job	 jobs[3] = { { &a, 1, 0, 0, { 0 }, 0 },
			    { &no, 1, 0, 0, { 0 }, 0 },
			    { &b, 1, 0, 0, { 0 }, 0 } };
	uint64_t	 got[2] = { 0, 0 };

	refs.sync = (enum cfg_sync)_i;
	refs.history = 1 << 16;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("g"), true, &e, &err), 0);
	ck_assert_int_eq(st_write_group(e->st, jobs, 3, &err), 0);
	ck_assert_int_eq(st_flush(e->st, &err), 0);
	ck_assert_int_eq(jobs[0].rc, 0);
	ck_assert_int_eq(jobs[1].rc, -1);
	ck_assert_int_eq(jobs[2].rc, 0);
	ck_assert_uint_eq(jobs[0].rev, 1);
	ck_assert_uint_eq(jobs[2].rev, 2);
	ck_assert_ptr_nonnull(st_env_id(e->st));
	ck_assert_int_eq(st_hist_read(e->st, 1, 2, 1 << 20, count_rev, got,
	    &pos, &err), 0);
	ck_assert_uint_eq(got[0], 2);
	ck_assert_uint_eq(got[1], 2);
	ck_assert_uint_eq(pos.oldest, 1);
	ck_assert_uint_eq(pos.current, 2);
	reg_release(reg, e);
}
END_TEST

/* The oldest revision e's history keeps. */
static uint64_t
hist_oldest(struct reg_env *e)
{
	struct st_hist_pos	 pos;
	struct sp_error		 err;
	uint64_t		 got[2] = { 0, 0 };

	ck_assert_int_eq(st_hist_read(e->st, 1, 1, 1, count_rev, got, &pos,
	    &err), 0);
	return pos.oldest;
}

/*
 * History never fails a write: whether a write's history entry or its
 * data is what first finds no room in a map that history fills, history
 * goes and the write is made.  New keys of several sizes, until history
 * is dropped, in envs of a 1 MiB map, with each sync mode's way of
 * redoing a group (nested, one by one).
 */
START_TEST(history_never_fails_a_write)
{
	static char	 val[30000];
	static const size_t sizes[] = { 3000, 7000, 10000, 14000, 20000,
			    30000 };
	struct reg_env	*e;
	struct sp_error	 err;
	char		 repo[16], key[16];
	size_t		 s;
	int		 i;

	memset(val, 'x', sizeof(val));
	refs.sync = (enum cfg_sync)_i;
	refs.history = 64 << 20;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		snprintf(repo, sizeof(repo), "h%zu", sizes[s]);
		ck_assert_int_eq(reg_acquire(reg, &refs, B(repo), true, &e,
		    &err), 0);
		for (i = 0; hist_oldest(e) == 1; i++) {
			ck_assert_int_lt(i, 400);
			snprintf(key, sizeof(key), "k%d", i);
			ck_assert_msg(put(e, 0, key, val, sizes[s], &err) == 0,
			    "put %d of %zu bytes: %s", i, sizes[s], err.msg);
		}
		reg_release(reg, e);
	}
}
END_TEST

/*
 * A commit whose sync fails (EIO) failed on the env's disk: IO_ERROR,
 * not FD_ERROR, which names a snapshot's descriptor.
 */
START_TEST(failed_sync_is_io_error)
{
	struct reg_env	*e;
	struct sp_error	 err;

	refs.sync = CFG_SYNC_FULL;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("s"), true, &e, &err), 0);
	fail_sync(1, NULL);
	ck_assert_int_eq(put(e, 0, "a", "1", 1, &err), -1);
	fail_sync(0, NULL);
	ck_assert_int_eq(err.code, SP_IO_ERROR);
	reg_release(reg, e);
}
END_TEST

/* Write jobs answered through the writer, counted. */
static pthread_mutex_t	 answers_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 answers_cv = PTHREAD_COND_INITIALIZER;
static unsigned		 answers;
static int		 synced_before[4];	/* by job id */
static uint64_t		 commits_before[4];	/* by job id */
static struct reg_env	*watched;		/* whose commits */

static void
answered(struct job *j)
{
	struct sp_counter	 c[WRITER_NCOUNTERS];

	pthread_mutex_lock(&answers_mtx);
	if (j->id < 4)
		synced_before[j->id] = atomic_load(&sync_calls);
	if (j->id < 4 && watched != NULL) {
		writer_counters(watched, c);
		commits_before[j->id] = c[0].value;
	}
	answers++;
	pthread_cond_broadcast(&answers_cv);
	pthread_mutex_unlock(&answers_mtx);
}

/* A write (op kind) of k to env w of refs, as the handler makes one
 * for d. */
static struct job *
write_job(struct daemon *d, struct counters *ctr, uint64_t id,
    enum st_opkind kind, const char *k)
{
	struct job	*j;
	struct st_op	*op;
	struct sp_error	 err;

	ck_assert_ptr_nonnull(j = job_new(NULL, JOB_WRITE));
	j->d = d;
	j->post = answered;
	j->ctr = ctr;
	j->id = id;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("w"), true, &j->env,
	    &err), 0);
	ck_assert_ptr_nonnull(op = job_add_op(j));
	*op = (struct st_op){ kind, 0, k, strlen(k), "v", 1 };
	j->nbytes = strlen(k) + 1;
	return j;
}

/* The code of j's reply; its message in msg. */
static int
reply_code(const struct job *j, char *msg, size_t n)
{
	struct sp_reply	 rep;
	struct sp_error	 err;

	ck_assert_uint_gt(j->reply.len, SP_FRAME_HDR);
	ck_assert_int_eq(sp_reply_decode(j->reply.data + SP_FRAME_HDR,
	    j->reply.len - SP_FRAME_HDR, &rep, &err), 0);
	ck_assert_uint_eq(rep.id, j->id);
	snprintf(msg, n, "%.*s", (int)rep.msg.n, rep.msg.p ? rep.msg.p : "");
	return rep.code;
}

/*
 * Under sync = full a group waits for the next commit's data sync to
 * make its meta page durable.  When that sync fails, the disk may have
 * lost the page, and a later sync that succeeds proves nothing (Linux
 * reports a writeback error once): the waiting group is answered
 * IO_ERROR, never OK.  Here b arrives while a's commit syncs, so a
 * waits for b's commit, whose sync fails.
 */
START_TEST(failed_sync_fails_the_group_waiting_on_it)
{
	struct daemon	 d;
	struct counters	 ctr;
	struct job	*a, *b;
	char		 msg[SP_ERRMSG_MAX];

	memset(&d, 0, sizeof(d));
	memset(&ctr, 0, sizeof(ctr));
	answers = 0;		/* CK_FORK=no: the tests share it */
	refs.sync = CFG_SYNC_FULL;
	reg_set_env_ops(reg, &writer_env_ops);
	d.reg = reg;
	ck_assert_ptr_nonnull(d.pool = pool_new(2));
	a = write_job(&d, &ctr, 1, ST_PUT, "a");
	b = write_job(&d, &ctr, 2, ST_PUT, "b");
	fail_sync(2, b);
	writer_submit(a);
	pthread_mutex_lock(&answers_mtx);
	while (answers < 2)
		pthread_cond_wait(&answers_cv, &answers_mtx);
	pthread_mutex_unlock(&answers_mtx);
	fail_sync(0, NULL);
	pool_free(d.pool);
	/* b failed and says so; a is applied, but not surely durable. */
	ck_assert_int_eq(reply_code(b, msg, sizeof(msg)), SP_IO_ERROR);
	ck_assert_ptr_nonnull(strstr(msg, "nothing was written"));
	ck_assert_int_eq(reply_code(a, msg, sizeof(msg)), SP_IO_ERROR);
	ck_assert_ptr_nonnull(strstr(msg, "may not be on disk"));
	job_free(a);
	job_free(b);
}
END_TEST

/*
 * The writer's side of empty_commits_make_nothing_durable: b, a del of
 * an absent key, arrives while a's commit syncs, so a waits for b's
 * commit to sync its meta page; b's commit writes nothing, so a must be
 * answered only after a sync of its own (the flush), not at once.
 */
START_TEST(empty_group_leaves_the_one_before_waiting)
{
	struct daemon	 d;
	struct counters	 ctr;
	struct job	*a, *b;
	char		 msg[SP_ERRMSG_MAX];

	memset(&d, 0, sizeof(d));
	memset(&ctr, 0, sizeof(ctr));
	answers = 0;		/* CK_FORK=no: the tests share it */
	refs.sync = CFG_SYNC_FULL;
	reg_set_env_ops(reg, &writer_env_ops);
	d.reg = reg;
	ck_assert_ptr_nonnull(d.pool = pool_new(2));
	a = write_job(&d, &ctr, 1, ST_PUT, "a");
	b = write_job(&d, &ctr, 2, ST_DEL_ANY, "none");
	fail_sync(INT_MAX, b);		/* counts, never fails */
	writer_submit(a);
	pthread_mutex_lock(&answers_mtx);
	while (answers < 2)
		pthread_cond_wait(&answers_cv, &answers_mtx);
	pthread_mutex_unlock(&answers_mtx);
	fail_sync(0, NULL);
	pool_free(d.pool);
	ck_assert_int_eq(reply_code(a, msg, sizeof(msg)), SP_OK);
	ck_assert_int_eq(reply_code(b, msg, sizeof(msg)), SP_OK);
	/* a's commit synced once (its data); its meta page needed one more. */
	ck_assert_int_ge(synced_before[1], 2);
	job_free(a);
	job_free(b);
}
END_TEST

/* Waits until n jobs were answered in all. */
static void
await_answers(unsigned n)
{
	pthread_mutex_lock(&answers_mtx);
	while (answers < n)
		pthread_cond_wait(&answers_cv, &answers_mtx);
	pthread_mutex_unlock(&answers_mtx);
}

/*
 * A group alone is made durable by a sync of its own (the flush); when
 * that fails with EIO, the group is answered IO_ERROR, and the env takes
 * no more writes: the pages that sync lost may be ones a later commit
 * would build on, and a later sync that succeeds proves nothing (Linux
 * reports a writeback error once).
 */
START_TEST(failed_flush_stops_writes_to_its_env)
{
	struct daemon	 d;
	struct counters	 ctr;
	struct job	*a, *c;
	char		 msg[SP_ERRMSG_MAX];

	memset(&d, 0, sizeof(d));
	memset(&ctr, 0, sizeof(ctr));
	answers = 0;		/* CK_FORK=no: the tests share it */
	refs.sync = CFG_SYNC_FULL;
	reg_set_env_ops(reg, &writer_env_ops);
	d.reg = reg;
	ck_assert_ptr_nonnull(d.pool = pool_new(2));
	a = write_job(&d, &ctr, 1, ST_PUT, "a");
	c = write_job(&d, &ctr, 3, ST_PUT, "c");
	fail_sync(2, NULL);		/* a's data sync, then its flush */
	writer_submit(a);
	await_answers(1);
	ck_assert_int_eq(reply_code(a, msg, sizeof(msg)), SP_IO_ERROR);
	/* a was committed (readers see it): only its durability failed. */
	ck_assert_msg(strstr(msg, "may not be on disk") != NULL &&
	    strstr(msg, "nothing was written") == NULL, "%s", msg);
	writer_submit(c);
	await_answers(2);
	fail_sync(0, NULL);
	pool_free(d.pool);
	ck_assert_int_eq(reply_code(c, msg, sizeof(msg)), SP_IO_ERROR);
	ck_assert_ptr_nonnull(strstr(msg, "takes no more writes"));
	ck_assert_ptr_nonnull(strstr(msg, "nothing was written"));
	job_free(a);
	job_free(c);
}
END_TEST

/*
 * A group waits for the next commit to sync it, but a commit that
 * changes nothing syncs nothing: a stream of them (clients retrying a
 * failing condition, deleting absent keys) must not keep the group
 * waiting.  Here 1,100 deletes of an absent key arrive while a's commit
 * syncs: more than one group holds (GROUP_JOBS), so writes are queued
 * behind each of their empty commits.  a is answered once the first of
 * them is made, by a sync of its own, not after the last.
 */
#define NEMPTY	1100
START_TEST(empty_groups_do_not_starve_the_one_before)
{
	struct daemon	 d;
	struct counters	 ctr;
	struct job	*a, **empty;
	char		 msg[SP_ERRMSG_MAX];
	size_t		 i;

	memset(&d, 0, sizeof(d));
	memset(&ctr, 0, sizeof(ctr));
	answers = 0;		/* CK_FORK=no: the tests share it */
	refs.sync = CFG_SYNC_FULL;
	reg_set_env_ops(reg, &writer_env_ops);
	d.reg = reg;
	/* One thread: a drain's replies go before the next drain runs. */
	ck_assert_ptr_nonnull(d.pool = pool_new(1));
	a = write_job(&d, &ctr, 1, ST_PUT, "a");
	watched = a->env;
	ck_assert_ptr_nonnull(empty = calloc(NEMPTY + 1, sizeof(*empty)));
	for (i = 0; i < NEMPTY; i++)
		empty[i] = write_job(&d, &ctr, 100 + i, ST_DEL_ANY, "none");
	sync_more = empty + 1;
	fail_sync(INT_MAX, empty[0]);
	writer_submit(a);
	await_answers(NEMPTY + 1);
	fail_sync(0, NULL);
	sync_more = NULL;
	watched = NULL;
	pool_free(d.pool);
	ck_assert_int_eq(reply_code(a, msg, sizeof(msg)), SP_OK);
	/* a's commit, then the first empty group's. */
	ck_assert_uint_le(commits_before[1], 2);
	ck_assert_int_ge(synced_before[1], 2);
	for (i = 0; i < NEMPTY; i++) {
		ck_assert_int_eq(reply_code(empty[i], msg, sizeof(msg)), SP_OK);
		job_free(empty[i]);
	}
	free(empty);
	job_free(a);
}
END_TEST

START_TEST(group_commit_creates_dbs_once)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct val	 v;
	struct st_op	 x = { ST_PUT, 1, "x", 1, "1", 1 };
	struct st_op	 bad = { ST_EXPECT, 1, "zz", 2, "1", 1 };
	struct st_op	 y = { ST_PUT, 1, "y", 1, "2", 1 };
	struct st_job	 jobs[3] = { { &x, 1, 0, 0, { 0 }, 0 },
			    { &bad, 1, 0, 0, { 0 }, 0 }, { &y, 1, 0, 0, { 0 }, 0 } };

	/* db b does not exist yet: the first job creates it in its nested
	 * (or own) transaction, the others use it. */
	multi.sync = (enum cfg_sync)_i;
	ck_assert_int_eq(reg_acquire(reg, &multi, B("g"), true, &e, &err), 0);
	ck_assert_int_eq(st_write_group(e->st, jobs, 3, &err), 0);
	ck_assert_int_eq(jobs[0].rc, 0);
	ck_assert_int_eq(jobs[1].rc, -1);
	ck_assert_int_eq(jobs[2].rc, 0);
	ck_assert_int_eq(get(e, 1, "x", &v, &err), 0);
	ck_assert_int_eq(get(e, 1, "y", &v, &err), 0);
	reg_release(reg, e);
}
END_TEST

/* Writes ops as one job and checks every key reads back. */
START_TEST(appends_and_inserts_mix)
{
	struct reg_env	*e;
	struct sp_error	 err;
	struct val	 v;
	struct st_op	 ops[8];
	static const char *const keys[] = { "m", "n", "o", "a", "z", "zz",
	    "b", "zzz" };
	size_t		 i, failed;
	uint64_t	 n;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("ap"), true, &e, &err), 0);
	/* In order: appended; then "a" goes before: inserted normally. */
	for (i = 0; i < 8; i++)
		ops[i] = (struct st_op){ ST_PUT, 0, keys[i], strlen(keys[i]),
		    keys[i], strlen(keys[i]) };
	ck_assert_int_eq(st_write(e->st, ops, 8, &failed, &err), 0);
	/* A later job: keys before and after the db's last key. */
	ops[0] = (struct st_op){ ST_PUT, 0, "c", 1, "c", 1 };
	ops[1] = (struct st_op){ ST_PUT, 0, "zzzz", 4, "zzzz", 4 };
	ops[2] = (struct st_op){ ST_DEL, 0, "zzzz", 4, NULL, 0 };
	ops[3] = (struct st_op){ ST_PUT, 0, "zzzzz", 5, "zzzzz", 5 };
	ck_assert_int_eq(st_write(e->st, ops, 4, &failed, &err), 0);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(get(e, 0, keys[i], &v, &err), 0);
		ck_assert_uint_eq(v.n, strlen(keys[i]));
		ck_assert_int_eq(memcmp(v.buf, keys[i], v.n), 0);
	}
	ck_assert_int_eq(get(e, 0, "c", &v, &err), 0);
	ck_assert_int_eq(get(e, 0, "zzzzz", &v, &err), 0);
	ck_assert_int_eq(get(e, 0, "zzzz", &v, &err), -1);
	ck_assert_int_eq(st_count(e->st, 0, 0, &n, &err), 0);
	ck_assert_uint_eq(n, 10);
	/* Appending the same key twice is an overwrite, not an error. */
	ops[0] = (struct st_op){ ST_PUT, 0, "zzzzzz", 6, "1", 1 };
	ops[1] = (struct st_op){ ST_PUT, 0, "zzzzzz", 6, "2", 1 };
	ck_assert_int_eq(st_write(e->st, ops, 2, &failed, &err), 0);
	ck_assert_int_eq(get(e, 0, "zzzzzz", &v, &err), 0);
	ck_assert_int_eq(v.buf[0], '2');
	reg_release(reg, e);
}
END_TEST

START_TEST(nosync_envs_sync)
{
	struct reg_env	*e;
	struct sp_error	 err;

	/* The test stores are sync = none: a write leaves them dirty. */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("ns"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	ck_assert_int_eq(st_sync(e->st, clock_now_ms() + 5000, &err), 0);
	ck_assert_int_eq(st_sync(e->st, clock_now_ms() + 5000, &err), 0);
	reg_release(reg, e);
}
END_TEST

/* ----------------------------------------------------------- reloads */

/* st as a reload of generation gen declares it, with map_size. */
static struct cfg_store
reloaded(const struct cfg_store *st, uint64_t gen, uint64_t map_size)
{
	struct cfg_store	 n = *st;

	n.gen = gen;
	n.map_size = map_size;
	return n;
}

static uint64_t
map_size_of(struct reg_env *e)
{
	struct sp_error	 err;
	struct st_stats	 s;

	ck_assert_int_eq(st_stats(e->st, 0, &s, &err), 0);
	ck_assert_str_eq(s.env[0].name, "map_size");
	return s.env[0].value;
}

START_TEST(reload_resizes_an_idle_env)
{
	/* Static: the registry still has it at teardown (reg_free()). */
	static struct cfg_store	 big;
	struct config		 cfg;
	struct reg_env		*e;
	struct sp_error		 err;
	struct val		 v;

	refs.gen = 1;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	reg_release(reg, e);
	big = reloaded(&refs, 2, 4 << 20);
	memset(&cfg, 0, sizeof(cfg));
	cfg.stores = &big;
	cfg.nstores = 1;
	ck_assert_uint_eq(reg_reconfigure(reg, &cfg), 1);
	ck_assert_int_eq(reg_acquire(reg, &big, B("r"), false, &e, &err), 0);
	ck_assert_uint_eq(map_size_of(e), 4 << 20);
	ck_assert_int_eq(get(e, 0, "k", &v, &err), 0);
	reg_release(reg, e);
	/* Nothing left to do for the same configuration again. */
	ck_assert_uint_eq(reg_reconfigure(reg, &cfg), 0);
}
END_TEST

START_TEST(busy_env_is_resized_once_free)
{
	/* Static: the registry still has it at teardown (reg_free()). */
	static struct cfg_store	 big;
	struct reg_env		*e, *x;
	struct sp_error		 err;

	refs.gen = 1;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	big = reloaded(&refs, 2, 4 << 20);
	/* In use: the first request of the new configuration plans the
	 * resize, and it and every later one are told to come back. */
	ck_assert_int_eq(reg_acquire(reg, &big, B("r"), false, &x, &err),
	    REG_AGAIN);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), false, &x, &err),
	    REG_AGAIN);
	ck_assert_uint_eq(map_size_of(e), 1 << 20);
	reg_release(reg, e);		/* the last user: resized now */
	ck_assert_int_eq(reg_acquire(reg, &big, B("r"), false, &e, &err), 0);
	ck_assert_uint_eq(map_size_of(e), 4 << 20);
	/* A request resolved before the reload still fits: same dbs. */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), false, &x, &err), 0);
	reg_release(reg, x);
	reg_release(reg, e);
}
END_TEST

/*
 * A loop's job cache (job.h): a freed small job comes back, empty, for
 * the next request, with the storage it had; one that grew past what a
 * cached job may keep is freed; the cache holds JOB_CACHE_MAX at most.
 */
START_TEST(job_cache_reuses_small_jobs_only)
{
	struct job_cache	 jc = { NULL, 0 };
	struct job		*j, *k, *v[JOB_CACHE_MAX + 2];
	const char		*copy;
	char			 big[JOB_KEEP_BYTES + 1];
	size_t			 i;
	int			 p[2], saved;

	ck_assert_ptr_nonnull(j = job_new(&jc, JOB_WRITE));
	ck_assert_int_eq(job_reserve(j, 10), 0);
	ck_assert_ptr_nonnull(job_add_op(j));
	ck_assert_ptr_nonnull(copy = job_copy(j, "key", 3));
	ck_assert_int_eq(sp_reply_ok(&j->reply, 7), 0);
	j->id = 7;
	j->rev = 9;
	job_free(j);
	ck_assert_uint_eq(jc.n, 1);
	/* The same job, emptied, its storage kept. */
	ck_assert_ptr_eq(k = job_new(&jc, JOB_READ), j);
	ck_assert_uint_eq(jc.n, 0);
	ck_assert_int_eq(k->kind, JOB_READ);
	ck_assert_int_eq(k->fd, -1);
	ck_assert(k->id == 0 && k->rev == 0 && k->nops == 0 &&
	    k->nbytes == 0 && k->reply.len == 0 && k->env == NULL);
	ck_assert_ptr_nonnull(k->ops);
	ck_assert_ptr_nonnull(k->reply.data);
	ck_assert_ptr_eq(job_copy(k, "yek", 3), copy);
	/* Grown past JOB_KEEP_BYTES: freed, not kept. */
	memset(big, 'b', sizeof(big));
	ck_assert_ptr_nonnull(job_copy(k, big, sizeof(big)));
	job_free(k);
	ck_assert_uint_eq(jc.n, 0);
	ck_assert_ptr_null(jc.free);
	/* At most JOB_CACHE_MAX kept. */
	for (i = 0; i < JOB_CACHE_MAX + 2; i++)
		ck_assert_ptr_nonnull(v[i] = job_new(&jc, JOB_WRITE));
	for (i = 0; i < JOB_CACHE_MAX + 2; i++)
		job_free(v[i]);
	ck_assert_uint_eq(jc.n, JOB_CACHE_MAX);
	/* Freeing them closes no descriptor (a cached job's is closed
	 * already): not 0, which a zeroed job would name. */
	ck_assert_int_ne(saved = dup(0), -1);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[0], 0), 0);
	job_cache_fini(&jc);
	ck_assert_int_ne(fcntl(0, F_GETFD), -1);
	ck_assert_int_eq(dup2(saved, 0), 0);
	close(saved);
	close(p[0]);
	close(p[1]);
	ck_assert_uint_eq(jc.n, 0);
	ck_assert_ptr_null(jc.free);
}
END_TEST

START_TEST(changed_dbs_reopen_the_env)
{
	/* Static: the registry still has it at teardown (reg_free()). */
	static struct cfg_store	 three;
	struct reg_env		*e, *x;
	struct sp_error		 err;
	struct val		 v;

	multi.gen = 1;
	ck_assert_int_eq(reg_acquire(reg, &multi, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 1, "k", "in b", 4, &err), 0);
	three = reloaded(&multi, 2, multi.map_size);
	three.max_dbs = 3;
	snprintf(three.dbs[2], sizeof(three.dbs[2]), "c");
	three.ndbs = 3;
	ck_assert_int_eq(reg_acquire(reg, &three, B("r"), false, &x, &err),
	    REG_AGAIN);
	reg_release(reg, e);		/* closed, to open again */
	ck_assert_uint_eq(reg_count(reg), 0);
	ck_assert_int_eq(reg_acquire(reg, &three, B("r"), false, &e, &err), 0);
	ck_assert_int_eq(put(e, 2, "k", "in c", 4, &err), 0);
	ck_assert_int_eq(get(e, 1, "k", &v, &err), 0);
	ck_assert_int_eq(memcmp(v.buf, "in b", 4), 0);
	/* Resolved against the old dbs: not misrouted, and not failed
	 * either: the caller resolves it again, against the new config. */
	ck_assert_int_eq(reg_acquire(reg, &multi, B("r"), false, &x, &err),
	    REG_AGAIN);
	reg_release(reg, e);
}
END_TEST

/* ------------------------------------------------- parked references */

/* A loop keeps its reference on an env between turns parked
 * (reg_park()): taken up again without the lock, at most one place per
 * loop and env. */
START_TEST(parked_ref_is_taken_up)
{
	struct reg_env	*e, *x;
	struct reg_park	 p = { NULL }, q = { NULL };
	struct sp_error	 err;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	reg_park(reg, e, 0, &p);
	ck_assert(reg_unpark(reg, &p, e));
	reg_park(reg, e, 0, &p);
	/* A second place of the same loop: dropped instead of parked. */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), false, &x, &err), 0);
	ck_assert_ptr_eq(x, e);
	reg_park(reg, x, 0, &q);
	ck_assert(!reg_unpark(reg, &q, x));
	ck_assert(reg_unpark(reg, &p, e));
	reg_release(reg, e);
	ck_assert(!reg_unpark(reg, &p, e));	/* nothing parked */
	ck_assert(!reg_unpark(reg, &p, NULL));
}
END_TEST

/* idle_close: a parked env used since the last sweep stays; one unused
 * since is taken back and closed, without the loop's help. */
START_TEST(parked_envs_close_when_idle)
{
	struct reg_env	*e;
	struct reg_park	 p = { NULL };
	struct sp_error	 err;

	reg_free(reg);
	reg = reg_new(tmp, 2, 100, 0);	/* idle_close 0: close at once */
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	reg_park(reg, e, 1, &p);
	ck_assert_uint_eq(reg_sweep(reg), 0);	/* used this turn */
	ck_assert(reg_unpark(reg, &p, e));
	reg_park(reg, e, 1, &p);
	ck_assert_uint_eq(reg_sweep(reg), 0);	/* and again */
	ck_assert_uint_eq(reg_count(reg), 1);
	ck_assert_uint_eq(reg_sweep(reg), 1);	/* not since: closed */
	ck_assert_uint_eq(reg_count(reg), 0);
	/* e is gone; the place is only compared with it. */
	ck_assert(!reg_unpark(reg, &p, e));
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), false, &e, &err), 0);
	reg_release(reg, e);
}
END_TEST

/* max_envs: a parked env is idle, and makes room instead of BUSY. */
START_TEST(parked_envs_make_room)
{
	struct reg_env	*a, *c;
	struct reg_park	 p = { NULL };
	struct sp_error	 err;

	reg_free(reg);
	reg = reg_new(tmp, 2, 1, 3600 * 1000);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("a"), true, &a, &err), 0);
	reg_park(reg, a, 0, &p);
	ck_assert_int_eq(reg_acquire(reg, &refs, B("c"), true, &c, &err), 0);
	ck_assert_uint_eq(reg_count(reg), 1);
	ck_assert(!reg_unpark(reg, &p, a));
	reg_release(reg, c);
}
END_TEST

/* A drop or restore (reg_claim()) takes a parked env back at once. */
START_TEST(parked_envs_are_claimed)
{
	struct reg_env	*e, *x;
	struct reg_park	 p = { NULL };
	struct sp_error	 err;

	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	reg_park(reg, e, 0, &p);
	ck_assert_int_eq(reg_claim(reg, &refs, B("r"), 0, &x, &err), 0);
	ck_assert(!reg_unpark(reg, &p, e));
	reg_unreserve(reg, x);
}
END_TEST

/* A reload's resize, and one a request of the new configuration plans,
 * take parked references back: the map is resized, not left waiting. */
START_TEST(parked_envs_are_resized)
{
	struct cfg_store	 big, bigger;
	struct config		 cfg;
	struct reg_env		*e, *x;
	struct reg_park		 p = { NULL };
	struct sp_error		 err;
	struct val		 v;

	refs.gen = 1;
	ck_assert_int_eq(reg_acquire(reg, &refs, B("r"), true, &e, &err), 0);
	ck_assert_int_eq(put(e, 0, "k", "v", 1, &err), 0);
	reg_park(reg, e, 0, &p);
	big = reloaded(&refs, 2, 4 << 20);
	memset(&cfg, 0, sizeof(cfg));
	cfg.stores = &big;
	cfg.nstores = 1;
	ck_assert_uint_eq(reg_reconfigure(reg, &cfg), 1);
	ck_assert(!reg_unpark(reg, &p, e));
	ck_assert_int_eq(reg_acquire(reg, &big, B("r"), false, &e, &err), 0);
	ck_assert_uint_eq(map_size_of(e), 4 << 20);
	reg_park(reg, e, 0, &p);
	/* No reload: the first request of a newer store plans it. */
	bigger = reloaded(&refs, 3, 8 << 20);
	ck_assert_int_eq(reg_acquire(reg, &bigger, B("r"), false, &x, &err),
	    0);
	ck_assert_uint_eq(map_size_of(x), 8 << 20);
	ck_assert(!reg_unpark(reg, &p, e));
	ck_assert_int_eq(get(x, 0, "k", &v, &err), 0);
	reg_release(reg, x);
	/* Closed here: its stores live on this stack. */
	ck_assert_int_eq(reg_claim(reg, &bigger, B("r"), 0, &x, &err), 0);
	reg_unreserve(reg, x);
}
END_TEST

struct parker {
	atomic_bool	 done;
	unsigned	 rounds;
	atomic_uint	 bad;		/* failures: checked on the main thread */
};

/* A loop's turns: take up the parked reference or acquire anew, park. */
static void *
park_turns(void *arg)
{
	struct parker	*k = arg;
	struct reg_park	 p = { NULL };
	struct reg_env	*e = NULL, *held;
	struct sp_error	 err;
	unsigned	 i;
	int		 rc;

	for (i = 0; i < k->rounds; i++) {
		if (reg_unpark(reg, &p, e))
			held = e;
		else if ((rc = reg_acquire(reg, &refs, B("r"), true, &held,
		    &err)) != 0) {
			/* Closing, or reserved by a claim: come back. */
			if (rc != REG_AGAIN && err.code != SP_BUSY)
				atomic_fetch_add(&k->bad, 1);
			e = NULL;
			continue;
		}
		reg_park(reg, held, 0, &p);
		e = held;
	}
	if (reg_unpark(reg, &p, e))
		reg_release(reg, e);
	atomic_store(&k->done, true);
	return NULL;
}

/* The registry takes parked references back while the loop parks and
 * takes them up: no reference lost or counted twice (ASan, valgrind). */
START_TEST(parking_races_the_registry)
{
	struct parker	 k = { .rounds = 20000 };
	struct reg_env	*x;
	struct sp_error	 err;
	pthread_t	 t;

	reg_free(reg);
	reg = reg_new(tmp, 2, 100, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, park_turns, &k), 0);
	while (!atomic_load(&k.done)) {
		reg_sweep(reg);
		if (reg_claim(reg, &refs, B("r"), 0, &x, &err) == 0)
			reg_unreserve(reg, x);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(atomic_load(&k.bad), 0);
	reg_sweep(reg);
	reg_sweep(reg);
	ck_assert_uint_eq(reg_count(reg), 0);
}
END_TEST

static Suite *
registry_suite(void)
{
	Suite	*s = suite_create("registry");
	TCase	*tc;

	tc = tcase_create("registry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, missing_env_is_not_created);
	tcase_add_test(tc, requeued_task_stays_on_its_thread);
	tcase_add_test(tc, one_env_per_directory);
	tcase_add_test(tc, first_requests_race);
	tcase_add_test(tc, idle_envs_close);
	tcase_add_test(tc, parked_ref_is_taken_up);
	tcase_add_test(tc, parked_envs_close_when_idle);
	tcase_add_test(tc, parked_envs_make_room);
	tcase_add_test(tc, parked_envs_are_claimed);
	tcase_add_test(tc, parked_envs_are_resized);
	tcase_add_test(tc, parking_races_the_registry);
	tcase_add_test(tc, observers_do_not_keep_envs_open);
	tcase_add_test(tc, recent_envs_stay);
	tcase_add_test(tc, max_envs_evicts_idle_first);
	tcase_add_test(tc, fork_reservations);
	tcase_add_test(tc, foreach_and_collect_filter);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, store_put_get_del);
	tcase_add_test(tc, store_keys_checked);
	tcase_add_test(tc, store_lock_page_zeroed_meanwhile);
	tcase_add_test(tc, store_own_null_in_a_read_is_not_the_envs);
	tcase_add_test(tc, store_own_null_in_a_read_dies_by_default);
	tcase_add_test(tc, store_unguarded_faults_reach_the_prior_handler);
	tcase_add_test(tc, store_map_full_applies_nothing);
	tcase_add_test(tc, store_named_and_unnamed_dbs);
	tcase_add_test(tc, store_stats);
	tcase_add_loop_test(tc, group_commit_jobs_fail_alone, CFG_SYNC_FULL,
	    CFG_SYNC_NONE + 1);
	tcase_add_loop_test(tc, group_commit_creates_dbs_once, CFG_SYNC_FULL,
	    CFG_SYNC_NONE + 1);
	tcase_add_loop_test(tc, commits_durable_as_the_mode_says,
	    CFG_SYNC_FULL, CFG_SYNC_NONE + 1);
	tcase_add_loop_test(tc, empty_commits_make_nothing_durable,
	    CFG_SYNC_FULL, CFG_SYNC_NONE + 1);
	tcase_add_test(tc, opening_a_new_env_syncs_nothing);
	tcase_add_test(tc, a_new_env_is_made_by_its_first_write);
	tcase_add_loop_test(tc, history_never_fails_a_write, CFG_SYNC_FULL,
	    CFG_SYNC_NONE + 1);
	tcase_add_loop_test(tc, history_is_made_by_a_group_that_fails_in_part,
	    CFG_SYNC_FULL, CFG_SYNC_NONE + 1);
	tcase_add_test(tc, failed_sync_is_io_error);
	tcase_add_test(tc, failed_sync_fails_the_group_waiting_on_it);
	tcase_add_test(tc, empty_group_leaves_the_one_before_waiting);
	tcase_add_test(tc, failed_flush_stops_writes_to_its_env);
	tcase_add_test(tc, empty_groups_do_not_starve_the_one_before);
	tcase_add_test(tc, appends_and_inserts_mix);
	tcase_add_test(tc, nosync_envs_sync);
	tcase_add_test(tc, reload_resizes_an_idle_env);
	tcase_add_test(tc, max_envs_evicts_on_the_pool);
	tcase_add_test(tc, opens_on_the_pool);
	tcase_add_test(tc, opens_do_not_wait_behind_commits);
	tcase_add_test(tc, max_envs_waits_for_observers);
	tcase_add_test(tc, busy_env_is_resized_once_free);
	tcase_add_test(tc, changed_dbs_reopen_the_env);
	tcase_add_test(tc, job_cache_reuses_small_jobs_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(registry_suite());
}
