/*
 * registry: every open env, at most one per directory.
 *
 * Owns: the table of envs keyed by their canonical directory, their
 * life cycle (opening, open, closing, reserved for a fork), reference
 * counts of the requests using them, closing them after idle_close, and
 * the max_envs and map_budget caps (closing the least recently used idle
 * env first).
 *
 * Why a directory may be open only once: LMDB's locks are POSIX record
 * locks, which a process loses when it closes *any* descriptor of the
 * lock file, so a second env on the same directory in one process
 * silently breaks the first one's locking.  Requests racing to open the
 * same env wait for the first opener instead of opening it again, and a
 * request for an env being closed waits until it is closed.
 *
 * A reload may change a store under its open envs.  An env whose
 * map_size changed is resized in place, and one whose dbs, sync or path
 * changed is closed (to reopen with the new settings), each once nothing
 * uses it: LMDB may resize a map only with no transaction running in the
 * process.  Until then, new requests for that env are told REG_AGAIN
 * instead of waiting, so an event loop never blocks on it (a loop may
 * hold that very env for its turn), and the env drains.  An env another
 * program grew past its map (st_grown()) is remapped the same way.
 *
 * An env broken by a fault in its map (st_faulted(): its data.mdb was
 * cut short or unreadable) is refused with its CORRUPT error while
 * requests still hold it, and closed as the last one lets go, so that
 * the next request opens it anew and the open checks the file.
 *
 * Opening an env may wait on other processes (LMDB's locks in
 * lock.mdb), so with a pool it runs there: the request that asked is told
 * REG_AGAIN and retried (at once when the open ends, through the hook of
 * reg_set_settled_hook()), and finds the env open, or the open's error,
 * which goes to the first request that comes back for it.  No caller
 * ever waits for an open.
 *
 * The event loops keep the envs they read between their turns, with a
 * reference parked (reg_park()) that the registry takes back by itself,
 * without waiting on the loop, whenever it wants the env unused: an
 * idle close (a parked env unused since the last sweep), max_envs or
 * map_budget, a retune or remap, a drop or restore, a fault.
 *
 * Threads: every function is thread-safe.  Opening and closing happen
 * outside the registry lock, so other envs are not held up by them.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "counters.h"
#include "pool.h"
#include "sp_error.h"
#include "sp_msg.h"

struct registry;
struct reg_park;

/* reg_acquire(): the env is busy for a moment; retry the request soon. */
#define REG_AGAIN	(-2)
/* reg_again_key(): no one env to wait for; any that settles may do. */
#define REG_WAIT_ANY	0

enum reg_state {
	REG_OPENING,
	REG_OPEN,
	REG_RESIZING,	/* its map is being resized */
	REG_CLOSING,
	REG_RESERVED,	/* a fork, drop or restore has this directory */
	REG_FAILED,	/* its open on the pool failed: open_err */
};

/* What a new configuration asks of an open env, once nothing uses it. */
enum reg_retune {
	REG_KEEP,
	REG_RESIZE,	/* map_size changed */
	REG_REOPEN,	/* dbs, max_dbs, sync or path changed */
};

struct reg_env {
	/* Fixed for the entry's life. */
	char			*dir;		/* as configured: logs, replies */
	char			*path;		/* the same, through the held
						 * data_dir: every file call */
	char			*repo;		/* NULL: a fixed-path store */
	char			 store[SP_NAME_MAX + 1];
	struct st_env		*st;		/* set once REG_OPEN */

	/* Guarded by the registry lock. */
	/* What it was opened for; stats may read it without the lock. */
	_Atomic(const struct cfg_store *) cfg;
	const struct cfg_store	*next_cfg;	/* with retune: what it needs */
	/* Both hold their config (cfg_hold()). */
	enum reg_retune		 retune;
	enum reg_state		 state;
	unsigned		 refs;
	uint64_t		 last_used_ms;
	uint64_t		 hash;
	struct reg_env		*hnext;		/* hash chain */
	struct reg_env		*lru_prev;	/* idle list, when refs == 0 */
	struct reg_env		*lru_next;

	/* The layer above's (the writer's queue), made and freed with the
	 * entry by the reg_env_ops of reg_set_env_ops(). */
	void			*ext;

	struct registry		*reg;		/* for the pool tasks */
	struct pool_task	 close_task;	/* a close on the pool */
	struct pool_task	 open_task;	/* an open on the pool */
	bool			 open_create;	/* it may create the env */
	struct sp_error		 open_err;	/* REG_FAILED: why */
	bool			 evicted;	/* closed for max_envs */
	uint64_t		 mapped;	/* its map's size, counted in
						 * the registry's budget */

	/* Counters since the env opened, read by stats. */
	struct counters		 ctr;		/* its requests and errors */

	/* References loops keep between their turns (reg_park()): per
	 * slot, where that loop parked one (written under the lock). */
	_Atomic(struct reg_park *) *parks;
	atomic_bool		 want;		/* parked ones: let go */
	atomic_bool		 used;		/* unparked since the sweep */
	struct reg_env		*unpark_next;	/* taken back: unpark_all() */
};

/*
 * data_dir: where repo envs live; nslots: read-txn slots per env (one per
 * I/O thread); max_envs: cap on open envs; idle_ms: idle_close.
 */
struct registry	*reg_new(const char *data_dir, unsigned nslots,
		    unsigned max_envs, uint64_t idle_ms);
/*
 * Where closes that may wait on a disk go (a reopen's close syncs a
 * sync = none env).  Without a pool they run on the calling thread.
 */
void		 reg_set_pool(struct registry *r, struct pool *pool);
/*
 * Where opens go, once reg_set_pool() gave the registry a pool (else to
 * that pool).  A pool of their own: on the pool of commits an open
 * queued behind drains each waiting on an fdatasync, so a new env's
 * first request waited for syncs of other envs before its open began.
 */
void		 reg_set_open_pool(struct registry *r, struct pool *pool);
/*
 * fn(arg, key) runs, on whichever thread (with the registry's lock held:
 * it may not call the registry), each time an env stops being busy: an
 * open or a close ended, a resize or a reservation is over.  key is that
 * env's (struct reg_key's hash).  A request told REG_AGAIN may then go
 * on, so the layer above retries them at once instead of at its next
 * poll (a new env's first request waited for that poll, 2 to 4 ms,
 * where the open took one); only those waiting for key
 * (reg_again_key()) or for REG_WAIT_ANY: with every env's open retrying
 * every request stalled on any other, many new envs at once cost
 * requests squared.  NULL: none.
 */
typedef void	reg_settled_fn(void *arg, uint64_t key);
void		 reg_set_settled_hook(struct registry *r, reg_settled_fn *fn,
		    void *arg);
/*
 * What the calling thread's last REG_AGAIN (since the last call) waits
 * for: the key the settled hook will name when the request may go on
 * (the env's own, or that of an env closed to make room), or
 * REG_WAIT_ANY when none will (an observer holds the idle envs, the
 * request must be resolved again): retry that at the next poll, and at
 * any settle.  Forgets it: REG_WAIT_ANY until the next REG_AGAIN.  Per
 * thread, as errno.
 */
uint64_t	 reg_again_key(void);
/*
 * Where files below data_dir are reached: "/proc/self/fd/N" for the
 * descriptor main.c holds on data_dir (lay_root()), so that replacing
 * data_dir (a symlink, a rename) while storesd runs cannot send an env
 * anywhere else.  Until set, data_dir itself.  Returns 0 or -1 (ENOMEM).
 */
int		 reg_set_root(struct registry *r, const char *root);
/*
 * The address space all open envs' maps may take together (map_budget):
 * bytes, or 0 for three quarters of what the process may map (RLIMIT_AS,
 * else a 47-bit address space).  An env that does not fit closes idle
 * envs, least recently used first; with none idle it is BUSY.
 */
void		 reg_set_budget(struct registry *r, uint64_t bytes);
/* New max_envs and idle_close, from a reload. */
void		 reg_set_limits(struct registry *r, unsigned max_envs,
		    uint64_t idle_ms);
/*
 * What the layer above keeps with each env (the writer's queue): make
 * runs when an entry is made (NULL fails the request with INTERNAL: out
 * of memory) and free when it is freed.  Set once, before any env opens.
 */
struct reg_env_ops {
	void	*(*make)(struct reg_env *e);
	void	 (*free)(void *ext);
};
void		 reg_set_env_ops(struct registry *r,
		    const struct reg_env_ops *ops);
/* Where files below data_dir are reached (reg_set_root(); until then
 * data_dir as given to reg_new()), for as long as r lives. */
const char	*reg_data_dir(const struct registry *r);
/* Closes every env; none may be in use any more.  NULL-safe. */
void		 reg_free(struct registry *r);

/*
 * Takes a reference on the env of (repo, st), opening it if needed;
 * repo.p is NULL for a fixed-path store.  With create unset, an env that
 * does not exist on disk is not created: NOT_FOUND.  Returns 0 with *out
 * set; REG_AGAIN (err untouched) while the env is opening, closing or
 * being retuned for a new configuration, which st may be the first to
 * bring, when st is from a configuration older than the env's and no
 * longer fits it (resolve the request again), or while an idle env is
 * closed on the pool to make room (max_envs, map_budget); or -1 with
 * err: NOT_FOUND, BAD_REPO, BUSY (max_envs reached with none idle, a
 * fork is writing it, or its map does not fit in map_budget beside the
 * envs in use), IO_ERROR, INTERNAL.
 */
int	reg_acquire(struct registry *r, const struct cfg_store *st,
	    struct sp_bytes repo, bool create, struct reg_env **out,
	    struct sp_error *err);
/*
 * Where the env of (repo, st) sits in the table: its directory and that
 * directory's hash.  It depends on st and repo alone, so a caller that
 * looks the same env up again and again (each turn's reads) works it
 * out once with reg_key() and passes it to reg_acquire_key(), which is
 * reg_acquire() without that work.  reg_key() returns 0, or -1 with err
 * (BAD_REPO: the directory would be too long).
 */
struct reg_key {
	uint64_t	 hash;
	char		 dir[PATH_MAX];
};
int	reg_key(const struct registry *r, const struct cfg_store *st,
	    struct sp_bytes repo, struct reg_key *k, struct sp_error *err);
int	reg_acquire_key(struct registry *r, const struct cfg_store *st,
	    struct sp_bytes repo, const struct reg_key *k, bool create,
	    struct reg_env **out, struct sp_error *err);
/* Drops a reference taken by reg_acquire(). */
void	reg_release(struct registry *r, struct reg_env *e);

/*
 * A loop's place for a reference it keeps on an env between its turns,
 * so that a read alone in its turn takes no lock for its env: the loop
 * parks the reference at the end of a turn (reg_park()) and takes it up
 * in the next (reg_unpark()).  A parked reference is nobody's use: the
 * registry takes it back, without asking or waiting on the loop, as
 * soon as it wants the env unused (an idle close, max_envs, map_budget,
 * a retune or remap, a drop or restore, a fault), and the loop, which
 * only ever compares e with the place's, finds the place empty and
 * acquires anew.  The loop must hold no transaction of e while parked
 * (a reset one is fine: it pins no page).  Owned by the loop; one
 * thread.
 */
struct reg_park {
	_Atomic(struct reg_env *) e;	/* parked, or NULL: none, taken */
};
/*
 * Parks the reference on e the caller holds in p, for the loop of read
 * slot slot (each loop parks an env in one place at a time); drops it
 * instead when the registry wants e unused (or p cannot take it).  The
 * registry may look at p until reg_free(): p lives as long as r.
 */
void	reg_park(struct registry *r, struct reg_env *e, unsigned slot,
	    struct reg_park *p);
/*
 * Takes up the reference on e parked in p: true when the caller holds it
 * again; false (nothing held, e not to be touched: it may be gone) when
 * the registry took it back, or when e must be acquired anew (its map
 * faulted or grew, the registry wants it unused): then reg_acquire().
 */
bool	reg_unpark(struct registry *r, struct reg_park *p,
	    struct reg_env *e);

/*
 * Reserves the directory of (repo, st) for a fork: refused with BUSY
 * while its env is open or opening, with EXISTS when the directory is
 * already on disk.  Returns 0 with *out, or -1 with err.
 */
int	reg_reserve(struct registry *r, const struct cfg_store *st,
	    struct sp_bytes repo, struct reg_env **out, struct sp_error *err);
/*
 * Claims the directory of (repo, st) for a drop or a restore, whether or
 * not it exists: until reg_unreserve(), requests for it are told BUSY
 * and nothing opens it.  An idle open env is closed first, which may
 * sync it: call this on the pool, never on an I/O thread.  An env in
 * use is waited for up to wait_ms (the drop_wait key; reads hold theirs
 * until their loop's turn ends), then refused with BUSY, as is one
 * reserved by a fork or another claim.  Returns 0 with *out, or -1 with
 * err.
 */
int	reg_claim(struct registry *r, const struct cfg_store *st,
	    struct sp_bytes repo, uint64_t wait_ms, struct reg_env **out,
	    struct sp_error *err);
/* Ends a reservation or a claim; the directory is then free to be
 * opened. */
void	reg_unreserve(struct registry *r, struct reg_env *e);

/*
 * Takes a reference on every open env matching the filters (NULL: any)
 * and returns them in a new array (*out, *n; free() it after releasing
 * each with reg_unpeek()).  For observers (stats, housekeeping): their
 * looks do not count as use, so they keep no env from closing when idle.
 * Returns 0, or -1 (ENOMEM).
 */
int	reg_collect(struct registry *r, const char *repo, const char *store,
	    struct reg_env ***out, size_t *n);
/* Drops a reference taken by reg_collect(). */
void	reg_unpeek(struct registry *r, struct reg_env *e);

/*
 * Compares each open env with its store in cfg, a configuration that was
 * just published: an env whose store changed is retuned as soon as
 * nothing uses it (now, if it is idle).  Envs of stores cfg no longer
 * has are left alone: no request can reach them, and they close when
 * idle.  Returns how many envs are to be retuned.
 */
unsigned reg_reconfigure(struct registry *r, const struct config *cfg);

/* Closes the envs idle for idle_close or longer.  Returns how many. */
unsigned reg_sweep(struct registry *r);
/* Flushes the sync = none envs whose sync_interval has passed.  May
 * fsync: never call it on an I/O thread. */
void	reg_sync(struct registry *r);
/* Open envs (in any state but reserved). */
unsigned reg_count(struct registry *r);

/*
 * Calls fn for each env in use (open, opening, closing or reserved)
 * that matches the filters (NULL: any).  Stops at fn's -1.  fn runs
 * under the registry lock: it must copy what it keeps and not call back
 * into the registry.
 */
int	reg_foreach(struct registry *r, const char *repo, const char *store,
	    int (*fn)(void *arg, const struct reg_env *e, uint64_t idle_ms),
	    void *arg);
/*
 * The requests using e now: its references less those loops parked
 * (reg_park()).  Only from a reg_foreach() callback (the lock held).
 */
unsigned reg_inflight(const struct registry *r, const struct reg_env *e);

#endif
