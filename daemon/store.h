/*
 * store: one LMDB environment.
 *
 * Owns: every LMDB call in storesd; this is the only file that includes
 * lmdb.h.  Every transaction begins and ends inside one call of this
 * API, on the calling thread, so none outlives a request or spans an
 * event-loop turn, and values are handed to a callback (which copies
 * them) before their transaction ends.
 *
 * Threads: reads may run on any thread.  Each I/O thread passes its own
 * slot number so its read transaction is reused (mdb_txn_reset/renew)
 * rather than set up per request; ST_NOSLOT takes a fresh one.  Writes
 * to one env must come from one thread at a time (the env's writer
 * queue guarantees it); writes to different envs run concurrently.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sp_error.h"
#include "sp_msg.h"

#define ST_NOSLOT	((unsigned)-1)
#define ST_ID_LEN	16	/* bytes of an env id */
/* Named dbs storesd may keep in an env: @storesd.hist, and an older
 * build's @storesd (see "revisions" in store.c). */
#define ST_META_DBS	2
#define ST_DATA_FILE	"data.mdb"

struct st_env;

/*
 * Faults.  LMDB reads an env through a map of its data.mdb, so a file
 * cut short under storesd (another program's truncate) or a disk that
 * cannot read a page is a SIGBUS at the next access.  Every call that
 * serves a request on an open env (reads, writes, revisions, history,
 * stats) is guarded: such a SIGBUS breaks that env alone (the call in
 * flight and every later one get CORRUPT, st_faulted()), and the env
 * must be closed once nothing uses it, so that the next open checks the
 * file again.  st_verify and the tree reads of st_open are guarded as
 * reads are, st_reid's write as a write group's (a quarantine, see
 * "quarantine" in store.c).  Not guarded: the rest of st_open (which
 * checks the file just before), st_resize, and st_copy (see it in
 * store.c: a
 * compacting copy's walk runs on a thread that parks for good when it
 * fails).
 * st_catch_faults() installs the process's SIGBUS and SIGSEGV handler
 * (once, at start-up, before any env opens); without it a fault kills
 * the process as before, and a SIGBUS outside a guarded call still does,
 * as does any SIGSEGV but a guarded call's past its env's map, or near
 * address 0 in liblmdb's code (a file another program wrote into).  Such
 * a fault that is no env's goes to the handler st_catch_faults()
 * replaced (AddressSanitizer's, or the default one: a core dump).
 * Returns 0, or -1 with errno.
 */
int	st_catch_faults(void);
/* True once a page of env's map faulted: it serves nothing more. */
bool	st_faulted(const struct st_env *env);
/* The error for a request on a faulted env (CORRUPT).  Returns -1. */
int	st_refused(struct st_env *env, struct sp_error *err);

struct st_params {
	const char		*dir;		/* the env directory; exists */
	const char		*label;		/* "store refs of repo x" */
	const struct cfg_store	*store;		/* map size, dbs, sync */
	unsigned		 nslots;	/* read-txn slots to keep */
	bool			 create;	/* make data.mdb when absent */
};

/*
 * Opens the env in p->dir: sets map size and db count, clears reader
 * slots left by crashed processes (mdb_reader_check), and opens the
 * handles of the dbs that exist, then syncs it (what a killed storesd
 * left in the page cache is durable before it is read).  Dbs that do
 * not exist yet are created by the first write to them, never by a read.
 * Never waits for another process: one holding lock.mdb exclusively
 * (an LMDB program setting the env up, or a stuck one) is BUSY.
 * Returns 0, or -1 with err: NOT_FOUND (no data.mdb and !create),
 * CORRUPT (see check_file() in store.c), BUSY, IO_ERROR, INTERNAL.
 */
int	st_open(const struct st_params *p, struct st_env **out,
	    struct sp_error *err);
/* Closes the env; no call on it may be running.  NULL-safe. */
void	st_close(struct st_env *env);
/*
 * Sets the env's map size (LMDB keeps at least what is in use; after
 * another program grew the env, at least what that program set).  No
 * transaction of this env may be running anywhere in the process, held
 * read transactions included: the registry calls it only when nothing
 * uses the env.  Returns 0, or -1 with err.
 */
int	st_resize(struct st_env *env, uint64_t map_size, struct sp_error *err);
/* The size of the env's map now, in bytes. */
uint64_t st_map_size(const struct st_env *env);
/*
 * True when another program grew the env past this map (a transaction
 * began with MDB_MAP_RESIZED and was refused BUSY): it must be remapped
 * with st_resize(), under the same rule, before it serves again.
 */
bool	st_grown(const struct st_env *env);
/*
 * True when another process has the env open (asked of the kernel's
 * locks on lock.mdb, one fcntl): a write transaction may then wait for
 * that process's writer, so it must not run on an I/O thread.
 */
bool	st_shared(const struct st_env *env);
/* True when closing the env would sync it (sync = none, unsynced
 * commits; st_durable() behind): such a close must not run on an I/O
 * thread. */
bool	st_close_syncs(const struct st_env *env);
/* True for sync = none: commits wait on no disk. */
bool	st_nosync(const struct st_env *env);
/* True when dir holds an env's data file. */
bool	st_exists(const char *dir);

/*
 * Keeps slot's read transaction open until st_read_done(), so the reads
 * of one event-loop turn share it instead of renewing one each.  It must
 * be done before the turn ends.  Touches no page of the map: the turn's
 * first read renews the transaction, under its own guard (a read of an
 * env another program grew fails BUSY then, with st_grown() true).
 * Returns 0, or -1 with err (CORRUPT: the env is broken by a fault).
 */
int	st_read_hold(struct st_env *env, unsigned slot, struct sp_error *err);
void	st_read_done(struct st_env *env, unsigned slot);

/* Receives a value inside its read transaction; copy it, return 0 or -1. */
typedef int	(*st_val_fn)(void *arg, const void *val, size_t n);

/*
 * Looks key up in db (an index into the store's dbs) and calls fn with
 * the value.  Returns 0, or -1 with err: NOT_FOUND, BAD_KEY, INTERNAL,
 * or whatever fn set (fn's -1 becomes INTERNAL unless it set err).
 */
int	st_get(struct st_env *env, unsigned slot, unsigned db,
	    const void *key, size_t klen, st_val_fn fn, void *arg,
	    struct sp_error *err);

enum st_opkind {
	ST_PUT,
	ST_DEL,		/* NOT_FOUND when the key is absent */
	ST_DEL_ANY,	/* a batch's del: an absent key is fine */
	ST_PUT_IF_ABSENT, /* COND_FAILED when present */
	ST_EXPECT,	/* COND_FAILED unless the key holds exactly val */
	ST_EXPECT_ABSENT, /* COND_FAILED when present */
	ST_CLEAR,	/* empties the db */
};

struct st_op {
	enum st_opkind	 kind;
	unsigned	 db;
	const void	*key;
	size_t		 klen;
	const void	*val;
	size_t		 vlen;
};

/*
 * Applies ops in order in one write transaction and commits it (durable
 * as the store's sync mode says).  All or nothing: when an op fails,
 * nothing is applied.  Returns 0, or -1 with err and *failed set to the
 * index of the op that failed (or n when the commit itself failed).
 * Errors: NOT_FOUND, COND_FAILED, BAD_KEY, MAP_FULL (naming the store,
 * repo and map size), TOO_LARGE, IO_ERROR, INTERNAL.
 */
int	st_write(struct st_env *env, const struct st_op *ops, size_t n,
	    size_t *failed, struct sp_error *err);

/* A write request within a group commit, and how it went. */
struct st_job {
	const struct st_op	*ops;
	size_t			 nops;
	size_t			 failed;	/* the op that failed */
	int			 rc;		/* 0, or -1 with err */
	struct sp_error		 err;
	uint64_t		 rev;		/* rc 0: its revision */
};

/*
 * Group commit: applies each job in a nested transaction of one write
 * transaction, so a failing job (MAP_FULL, a failed condition) fails
 * alone, then commits them all with one commit and one data sync (see
 * st_durable() for when it is durable).  Each job's
 * outcome is in its rc and err.  Returns 0, or -1 with err when the
 * transaction as a whole failed (begin or commit): then no job applied.
 */
int	st_write_group(struct st_env *env, struct st_job *jobs, size_t n,
	    struct sp_error *err);

/*
 * How durable this env's commits are.  st_commits() counts the commits
 * made through this handle, st_durable() how many of them are durable as
 * the sync mode promises (the first ones: durability is in order).  In
 * sync = full a commit syncs its data pages but not its meta page
 * (MDB_NOMETASYNC): it becomes durable with the next commit, whose data
 * sync syncs the whole file, or with st_flush(); so a commit's writer
 * must be answered only once st_durable() reaches it.  In the other
 * modes every commit counts as durable once made.  Commits are counted
 * by the env's one writer thread; any thread may read the counts.
 */
uint64_t st_commits(const struct st_env *env);
uint64_t st_durable(const struct st_env *env);
/*
 * The revision of the last commit st_durable() counts (the env's at
 * open): what watches may send, since an event must never tell of a
 * write before its writer could be told it is durable.  Any thread.
 */
uint64_t st_durable_rev(const struct st_env *env);
/*
 * Makes every commit made so far durable (one fdatasync), when one is
 * not.  The env's writer only.  Returns 0, or -1 with err (IO_ERROR):
 * then whether those commits reached the disk is unknown, as when a
 * commit failed on the disk since they were made (no sync after such a
 * failure can vouch for them: it is then not tried).
 */
int	st_flush(struct st_env *env, struct sp_error *err);

/*
 * For sync = none: flushes commits not yet on disk (mdb_env_sync) when
 * sync_interval has passed since the last flush (now_ms is the
 * registry's clock).  A no-op for other envs and clean ones.  One
 * thread at a time.  Returns 0, or -1 with err.
 */
int	st_sync(struct st_env *env, uint64_t now_ms, struct sp_error *err);

/* Counts the entries of db.  Returns 0 or -1 with err. */
int	st_count(struct st_env *env, unsigned slot, unsigned db,
	    uint64_t *count, struct sp_error *err);

/*
 * Supplies key i of a multi-key read (i counts up from 0), and receives
 * its value (val NULL: absent).  Each returns 0, or -1 to stop.
 */
typedef int	(*st_key_fn)(void *arg, size_t i, const void **key,
		    size_t *klen);
typedef int	(*st_each_fn)(void *arg, size_t i, const void *val, size_t n);

/*
 * Looks up n keys of db in one read transaction, in order, and puts the
 * revision that transaction saw in *rev (may be NULL).  Returns 0, or -1
 * with err (BAD_KEY and its index in *bad; INTERNAL...).
 */
int	st_mget(struct st_env *env, unsigned slot, unsigned db, size_t n,
	    st_key_fn key, st_each_fn fn, void *arg, size_t *bad,
	    uint64_t *rev, struct sp_error *err);

/* A page of an ordered scan.  Absent bounds have p == NULL. */
struct st_scan {
	struct sp_bytes	 prefix;	/* keys starting with it */
	struct sp_bytes	 start;		/* inclusive */
	struct sp_bytes	 end;		/* exclusive */
	struct sp_bytes	 cursor;	/* resume strictly after it (before
					 * it, in reverse) */
	bool		 reverse;
	size_t		 max;		/* entries in this page, >= 1 */
	size_t		 max_bytes;	/* stop once this much was handed out */
};

/*
 * Receives an entry inside the scan's read transaction; copy what you
 * keep.  A key is at most SP_KEY_MAX bytes (a longer one in the file is
 * CORRUPT before fn sees it).  Returns 0, or -1 to fail the scan.
 */
typedef int	(*st_entry_fn)(void *arg, const void *k, size_t kn,
		    const void *v, size_t vn);

/*
 * Hands fn the entries of db in q's range, in LMDB's byte order (reverse
 * when asked), up to q->max entries or q->max_bytes bytes, in one read
 * transaction.  *more says whether entries are left after the last one
 * handed out.  Returns 0, or -1 with err.
 */
int	st_scan(struct st_env *env, unsigned slot, unsigned db,
	    const struct st_scan *q, st_entry_fn fn, void *arg, bool *more,
	    struct sp_error *err);

/*
 * Writes a consistent copy of the env into fd, as mdb_env_copyfd2 does
 * (compacted when asked), then flushes it to disk.  A compacting copy
 * first reserves the env's used size on the env's file system, and is
 * refused (NO_ROOM) when that would leave less than reserve free there
 * (0: a twentieth of the file system).  Returns 0, or -1.
 */
int	st_copy(struct st_env *env, int fd, bool compact, uint64_t reserve,
	    struct sp_error *err);

/*
 * Checks an env opened to be restored from a snapshot: its pages fit the
 * store's map_size, its main db names no db the store does not declare,
 * and every page of every db can be walked.  *entries counts the
 * entries.  Returns 0, or -1 with err (BAD_REQUEST saying what does not
 * fit or is damaged).
 */
int	st_verify(struct st_env *env, uint64_t *entries, struct sp_error *err);

/* ---------------------------------------------------------- revisions */

/*
 * Every env of a store with named dbs has a revision: a u64 that one
 * more committed write request (st_job) raises by one, kept in the env
 * beside its data (keys of the main db, named so no user db can be), so
 * that it survives restarts and snapshots.  Its id (ST_ID_LEN random
 * bytes) is written with its first revision, in the same transaction
 * (nothing is written at open), anew for a fork's or a restore's copy.
 * A store with history keeps each revision's ops (@storesd.hist, made
 * by the first write that keeps some), in
 * the same transaction, trimmed oldest first past the store's history
 * bytes; a write with no room for its history is made without, and
 * history is then emptied: history never fails a write.  An env whose
 * one db is LMDB's main db (max_dbs = 0) keeps no revision: 0.
 */

/* True when the env keeps revisions; and a history. */
bool	st_has_revs(const struct st_env *env);
bool	st_has_history(const struct st_env *env);
/* The env's id (ST_ID_LEN bytes), or NULL when it keeps no revisions or
 * has none yet (revision 0: its first revision brings it). */
const unsigned char *st_env_id(const struct st_env *env);
/* The revision of the last commit storesd made (any thread). */
uint64_t st_last_rev(const struct st_env *env);
/* The revision slot's read transaction sees.  Returns 0 or -1 with err. */
int	st_rev(struct st_env *env, unsigned slot, uint64_t *rev,
	    struct sp_error *err);
/* Gives the env a new id (a fork's or a restore's copy): a write
 * transaction, so on the env's writer's terms.  0, or -1 with err:
 * CORRUPT when it met pages LMDB did not write (the env is then
 * quarantined for good, see store.c: never put it in place). */
int	st_reid(struct st_env *env, struct sp_error *err);
/*
 * True when a transaction storesd did not make has been committed to
 * the env (another program writes a path = env): what it wrote has no
 * revision.  One mdb_env_info(), any thread.
 */
bool	st_changed_outside(struct st_env *env);

/* Receives one history entry: its revision and its ops, encoded.
 * Returns 0, 1 to stop before the entry is done (the read ends there,
 * pos->next at this revision), -1 (out of memory) or ST_HIST_BAD (the
 * entry is malformed: the read fails CORRUPT). */
typedef int	(*st_rev_fn)(void *arg, uint64_t rev, const void *ops,
		    size_t n);
/* Receives one op of an entry (kind ST_PUT or ST_DEL; val for a put).
 * Returns 0, 1 to stop there, or -1. */
typedef int	(*st_hist_fn)(void *arg, const struct st_op *op);

/* Where a read of history got to. */
struct st_hist_pos {
	uint64_t	 oldest;	/* the oldest revision kept */
	uint64_t	 current;	/* the env's revision in that read */
	uint64_t	 next;		/* the first revision not handed out
					 * whole (fn stopped within it) */
};

/*
 * Hands fn the history entries from revision from to upto, in order, in
 * one read transaction of its own (never held past the call), until
 * about max_bytes were handed out.  pos says the oldest revision kept
 * and the current one: from < pos->oldest means what was asked for is
 * gone (nothing handed out).  Returns 0, or -1 with err.
 */
int	st_hist_read(struct st_env *env, uint64_t from, uint64_t upto,
	    size_t max_bytes, st_rev_fn fn, void *arg,
	    struct st_hist_pos *pos, struct sp_error *err);
/* Calls fn for each op of an entry.  Returns 0, 1 (fn's 1: it stopped
 * there), -1 (fn's -1) or ST_HIST_BAD (the entry is malformed: a file
 * made or changed by another program).  Keys and values point into
 * ops. */
int	st_hist_each(const void *ops, size_t n, st_hist_fn fn, void *arg);
#define ST_HIST_BAD	(-2)

#define ST_ENV_NCOUNTERS	12
#define ST_DB_NCOUNTERS		6

struct st_stats {
	struct sp_counter	 env[ST_ENV_NCOUNTERS];
	struct sp_counter	 db[CFG_MAX_DBS][ST_DB_NCOUNTERS];
	unsigned		 ndbs;
};

/* Fills s with the env's and each db's counters.  Returns 0 or -1. */
int	st_stats(struct st_env *env, unsigned slot, struct st_stats *s,
	    struct sp_error *err);

#endif
