#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/futex.h>
#include <lmdb.h>

#include "clock.h"
#include "commitlog.h"
#include "log.h"
#include "sp_buf.h"
#include "sp_mp.h"
#include "sp_names.h"
#include "store.h"

#define ST_FULL_LOG_MS	(60 * 1000)	/* MAP_FULL warnings: one a minute */

/* Less room than this on an EIO: the disk is full (see disk_full()). */
#define DISK_FULL_SLACK	(1024 * 1024)
/* lock.mdb's blocks, allocated before LMDB maps it: LMDB makes it 8 KiB
 * for its 126 reader slots (see lock_open()). */
#define LOCK_ROOM	(16 * 1024)
/* MDB_WRITEMAP envs: the least the file is allocated ahead at a time. */
#define RESERVE_STEP	(1024 * 1024)
/* LMDB's page header, and its sub-page limit on a node (me_nodemax). */
#define PAGE_HDR	16
#define NODE_HDR	8

/*
 * A slot's read transaction held for a turn is renewed by the turn's
 * first read, not by st_read_hold(): a renewal reads the env's meta
 * pages, so it must run under a guard, and the read's own guard covers
 * it (one sigsetjmp per read of a turn, not two for the first).
 */
#define HOLD_NO		0	/* renewed and reset by each read */
#define HOLD_WANT	1	/* held for the turn, not renewed yet */
#define HOLD_LIVE	2	/* held for the turn, renewed */

/* A file as far as storesd tells one version of it from another. */
struct file_id {
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime;
};

/* Pages of zeros a wild write may map past an env's map (see "faults"). */
#define ZERO_PAGES	8
/* Threads in calls of LMDB's on one env at once, at most, that a cut
 * lock.mdb wakes (see "faults"): more than storesd's pools hold. */
#define ENV_USERS	64

struct lock_slot;

struct st_env {
	MDB_env			*env;
	char			*label;
	char			*dir;
	uint64_t		 map_size;
	unsigned		 ndbs;
	bool			 unnamed;	/* the store's db is LMDB's main db */
	/* The store's db names, ndbs of them (not CFG_MAX_DBS: 4 KiB for
	 * each open env, of which the many-repos workload keeps 1,024). */
	char			(*names)[SP_NAME_MAX + 1];
	MDB_dbi			 dbi[CFG_MAX_DBS];
	/* Set once a db exists: at open, or after the commit creating it. */
	atomic_bool		 dbi_ok[CFG_MAX_DBS];
	unsigned		 nslots;
	MDB_txn			**rtxn;		/* reset read txns, per slot */
	/* Per slot: HOLD_NO, or held for a turn (st_read_hold()): HOLD_WANT
	 * until its first read renews rtxn, HOLD_LIVE from then on. */
	unsigned char		*held;
	/* Per slot: the revision its last snapshot read had (st_rev()). */
	struct slot_rev {
		size_t		 txnid;		/* 0: none yet */
		uint64_t	 rev;
	}			*srev;
	bool			 nosync;	/* sync = none */
	bool			 lazymeta;	/* sync = full: see st_durable() */
	/* Commits made through this handle, and how many of them are
	 * durable as the sync mode promises (one writer at a time). */
	_Atomic uint64_t	 ncommits;
	_Atomic uint64_t	 ndurable;
	/* The revision of the last of those commits, and of the last of
	 * the durable ones (st_durable_rev()). */
	uint64_t		 counted_rev;
	_Atomic uint64_t	 durable_rev;
	/* The file failed a commit (errno lost) while the commits up to
	 * lost_upto awaited their sync: st_flush() cannot vouch for them. */
	atomic_int		 lost;
	_Atomic uint64_t	 lost_upto;
	/* The errno of a failed sync (EIO) that may have lost pages of
	 * commits already applied: no later commit may build on them, so
	 * writes are refused until the env is opened again (broken()).
	 * Or a FAULT_* (< 0): a page of the map could not be read (see
	 * "faults"), and every request is refused CORRUPT (refused()). */
	atomic_int		 broken;
	_Atomic uint64_t	 used;		/* bytes of the pages in use */
	bool			 writemap;	/* MDB_WRITEMAP: no nesting */
	atomic_bool		 dirty;		/* commits not yet synced */
	atomic_bool		 grown;		/* by another program: remap */
	int			 fd;		/* data.mdb, LMDB's descriptor */
	dev_t			 dev;		/* data.mdb's, for past_map() */
	ino_t			 ino;
	atomic_bool		 wild;		/* a fault was a SIGSEGV or an
						 * LMDB assertion */
	/* A write was jumped out of: the LMDB handle is left as it is, for
	 * good (see "quarantine"). */
	atomic_bool		 quarantined;
	/* data.mdb as it was when a wild fault was noted: the env stays
	 * refused while the file is the same (see "wild files"). */
	bool			 wild_seen;
	struct file_id		 wild_file;
	int			 lockfd;	/* lock.mdb, ours: see lock_open() */
	dev_t			 lock_dev;	/* lock.mdb's, for quar_check() */
	ino_t			 lock_ino;
	struct lock_slot	*lock_slot;	/* in lock_tab: lock_map_add() */
	/* The threads in a call of LMDB's on it that may sleep on one of
	 * the mutexes in its lock map's first page (user_enter()), for
	 * lock_fault() to wake. */
	_Atomic pid_t		 users[ENV_USERS];
	atomic_bool		 lock_noted;	/* FAULT_LOCK logged */
	/* Pages the handler mapped zeros at past data.mdb's map in a write
	 * (see "faults"), unmapped at the close.  wild_n counts them, past
	 * the array too.  (Those over lock.mdb's map go with it.) */
	_Atomic uintptr_t	 wild_pg[ZERO_PAGES];
	atomic_uint		 wild_n;
	unsigned		 psize;		/* page size */
	unsigned		 nodemax;	/* larger nodes overflow */
	uint64_t		 reserved;	/* WRITEMAP: bytes allocated */
	uint64_t		 sync_ms;	/* sync_interval */
	uint64_t		 synced_ms;	/* when st_sync() last ran */
	struct cl_log		 commits;	/* to date readers' snapshots */
	char			 store[SP_NAME_MAX + 1]; /* its [store NAME] */
	/* MAP_FULL warnings, one a minute (warn_full()). */
	_Atomic uint64_t	 full_logged_ms; /* 0: none yet */
	atomic_uint		 full_quiet;	/* failures not logged since */

	/*
	 * Revisions and history (see "revisions" below): none for an
	 * env whose one db is LMDB's main db (max_dbs = 0).
	 */
	bool			 revs;
	bool			 legacy;	/* see META_KEY */
	MDB_dbi			 meta;		/* the main db, or @storesd */
	MDB_dbi			 hist;		/* @storesd.hist */
	/* hist is a handle every transaction begun since may use: the db
	 * existed at open, or the commit that made it is done. */
	atomic_bool		 hist_ok;
	/* id is the env's: read from it, or chosen by the writer for the
	 * first commit that makes a revision (published before it). */
	atomic_bool		 has_id;
	unsigned char		 id[ST_ID_LEN];
	uint64_t		 hist_max;	/* bytes; 0: no history */
	_Atomic uint64_t	 rev;		/* the last committed */
	_Atomic uint64_t	 oldest;	/* in history; rev + 1: none */
	_Atomic uint64_t	 txnid;		/* LMDB's, after our commit */
	atomic_uint		 committing;	/* see st_changed_outside() */
	struct rev_state {
		uint64_t	 rev, oldest, hist_bytes;
		bool		 nohist;	/* drop history this txn */
		bool		 id_saved;	/* the id is in the env */
		bool		 oldest_saved;	/* "oldest" is in the env */
		bool		 hist_made;	/* this txn made hist */
	}			 cur, t;	/* committed; in the txn */
};

/* ------------------------------------------------------------- errors */

/*
 * LMDB reports a write the disk cut short as EIO, not ENOSPC, so an EIO
 * with next to no room left on the env's file system is taken for a
 * full disk too.  Puts the room left, formatted, in size.
 */
static bool
disk_full(const struct st_env *e, int rc, char *size, size_t sz)
{
	struct statvfs	 vfs;
	uint64_t	 avail;

	if (statvfs(e->dir, &vfs) == -1)
		return rc != EIO;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	cfg_format_size(avail, size, sz);
	return rc != EIO || avail < DISK_FULL_SLACK;
}

/*
 * A damaged env: CORRUPT, naming it, with what is wrong and what to do.
 * It is logged as an error: an operator must act, and nothing storesd
 * does makes it go away.  Returns -1.
 */
static int __attribute__((format(printf, 3, 4)))
damaged(struct st_env *e, struct sp_error *err, const char *fmt, ...)
{
	char	 why[160];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_errx("%s: %s: %s/%s is damaged (%s); the env is refused until "
	    "it is restored from a snapshot", __func__, e->label, e->dir,
	    ST_DATA_FILE, why);
	return sp_seterr(err, SP_CORRUPT, "%s: its data.mdb is damaged (%s); "
	    "storesd refuses this env until it is restored from a snapshot",
	    e->label, why);
}

/* ------------------------------------------------------------- faults */

/*
 * LMDB reads an env through its map of data.mdb.  When the file is cut
 * short under storesd (another program truncates it, or copies another
 * file over it) or the disk cannot read a page, the next access to such
 * a page is a SIGBUS, which would kill storesd and every env with it.
 * So each call that touches a map runs under a guard (guard_arm()), and
 * the handler (on_sigbus()) turns a SIGBUS on a guarded thread into an
 * error of the guarded env alone (a guarded stretch touches no other
 * mapped file but the env's lock.mdb, below: LMDB has no public call
 * that gives the map's address to check it against): it marks the env
 * broken (FAULT), and then
 *
 * - in a read, jumps back to the guard.  A read transaction holds no
 *   lock and LMDB links no cursor into it, so it is aborted there
 *   (guard_fail()), its cursor closed first; the request is answered
 *   CORRUPT.  sigsetjmp saves no signal mask (no system call per
 *   request), and SA_NODEFER leaves SIGBUS unblocked after the jump.
 * - in a write, maps a page of zeros over the faulting page (private
 *   and anonymous: nothing of it reaches the file) and returns: LMDB
 *   goes on, finds no tree page there and fails with MDB_CORRUPTED
 *   (or reads zeros as a value, which no commit keeps: top_commit()
 *   commits nothing of a broken env).  A jump would be unsafe there:
 *   mdb_put and mdb_del link a cursor on their own stack into the
 *   write transaction, and mdb_txn_abort frees every linked cursor, so
 *   an abort after jumping out of them would free a stack address, and
 *   without the abort the env's writer lock would be held for good.
 *   This way the transaction ends by LMDB's own abort, which releases
 *   that lock and discards its dirty pages.  Where LMDB cannot go on
 *   (an assertion, a pointer near 0) the write jumps all the same, and
 *   its env is quarantined for good instead (see "quarantine").
 *
 * A broken env answers every later call CORRUPT (refused()), saying
 * whether its file was cut short (it is shorter than the pages in use)
 * or its disk failed; the registry closes it once nothing uses
 * it (st_faulted()), and the next open checks the file again
 * (check_file()): refused while it is short, served once it is restored.
 * A file that another program wrote bytes into (not cut) can make
 * LMDB follow an offset or a pointer out of range: a SIGSEGV at an
 * address nothing is mapped at, past the env's map (past_map()), in a
 * guarded call, is a fault of that env too (FAULT_WILD), wherever the
 * faulting instruction is (storesd copies the values LMDB points at);
 * so is one near 0 (a pointer LMDB never set) when the instruction is
 * in liblmdb's code (lmdb_pc()): near 0 anywhere else it is storesd's
 * own NULL dereference, which no env is blamed for.
 * A read jumps back the same way.  A write, past the map, gets a page
 * of zeros mapped there (MAP_FIXED_NOREPLACE: nothing else is there to
 * replace), noted in the env and unmapped when it closes; LMDB finds
 * no tree page there and fails the write, as above.  At most
 * ZERO_PAGES of them per env: a value's size out of range copied past
 * the map would need a page after page, and the env is quarantined
 * instead (see "quarantine").  Near 0 in a write nothing can be mapped
 * (vm.mmap_min_addr): quarantined too, where liblmdb's code is known.
 * Any other SIGSEGV is storesd's own: it dies.  It dies by the
 * handler that was there before st_catch_faults() (AddressSanitizer's,
 * or the default one that dumps core), put back and reached by making
 * the faulting access again (fault_pass()), so that its report names
 * the real place of the fault.  Such a file can
 * also fail one of LMDB's own assertions (a leaf page flagged a
 * branch): in a guarded read that is a fault of the env as well
 * (on_assert()), in a write a quarantine, in a compacting copy's walk
 * a parked thread (see "compacting walk").  A wild file passes the checks of the next open (its
 * size is right): it stays refused, with no new log line, until it
 * changes (see "wild files").
 *
 * lock.mdb is LMDB's too, mapped shared by every process that has the
 * env open: its reader table and writer mutex, touched unguarded, on
 * any thread, when a transaction begins, ends or is reset, and when the
 * env closes.  A co-user that cuts it short (truncate -s 0) makes that
 * touch a SIGBUS.  lock_tab lists the lock.mdb of each open env by
 * device and inode, so the handler finds the env whose lock map a
 * SIGBUS hit (lock_env_at(), on any thread, guarded or not), marks it
 * broken (FAULT_LOCK) and maps a page of zeros over the faulting page,
 * and the thread goes on.  What LMDB then reads there is zeros:
 *
 * - its mutexes: a zeroed pthread mutex is an unlocked normal mutex,
 *   neither robust nor shared.  A thread that held one unlocks it as a
 *   normal one; another may take it meanwhile.  storesd needs neither
 *   to keep its own threads apart: one writer per env at a time is the
 *   writer queue's, and readers take the reader mutex only to claim a
 *   slot.  Other processes are no longer kept apart from storesd by
 *   them, but those are the co-users that cut the file.  A robust mutex
 *   held at the cut stays on its thread's robust list: glibc links it
 *   through the mutex itself, and unlocks a zeroed one without
 *   unlinking, so the thread's list still leads into the page of zeros,
 *   and glibc writes there at the thread's next lock or unlock of any
 *   robust mutex.  That thread takes it off its list itself, before the
 *   env can close (robust_tidy()), and the close lets every page of
 *   zeros go with the map (zero_pages_close()).  Until the thread
 *   tidies, what glibc writes through that link lands in the page of
 *   zeros, mapped while the env is open; after, nothing is written
 *   there.  Left: a cut that lands inside glibc's unlock of a robust
 *   mutex, after its check of the owner and before it unlinks the
 *   mutex (a few instructions), has glibc follow the zeroed links: a
 *   SIGSEGV storesd dies of.  Not seen in the tests' runs.
 * - its reader table: slots read as free, and the last txnid as 0, so a
 *   transaction begun on it may stand on the older meta page.  Such a
 *   transaction is aborted before it touches a page (begun_broken()),
 *   every call in flight that ends after the fault is refused
 *   (guard_off()), and no commit of a broken env is made (top_commit()).
 *   A commit made before the fault stands; the data file is untouched.
 *   Left: a write begun before the cut that takes free pages after it
 *   finds no reader, so in a sync = none env (written in place) it may
 *   write over pages that a read begun before the last commit still
 *   reads; that read is refused when it ends, but LMDB may assert on
 *   what it read (an abort) first.  A race of a few microseconds.
 *
 * So a cut lock.mdb loses nothing: the env is refused BUSY (retry),
 * closed once unused, its data synced as usual, and the next open,
 * with no other process having the env open, has LMDB set lock.mdb up
 * anew.  (With another process still holding the env open, LMDB keeps
 * the cut file and the open fails: that co-user must let go first.)
 * lock_map_add() lists an env's lock.mdb before mdb_env_open() maps
 * it, and lock_map_del() only after mdb_env_close(): no touch of it by
 * LMDB goes uncovered.
 *
 * Two threads may touch the same page of a cut lock.mdb at once: the
 * second one's SIGBUS, handled once the first one's zeros are there,
 * finds them at its address (lock_zeroed()), and the access is made
 * again.
 * A SIGBUS with no guard and in no lock map, or sent by another process
 * (kill), still kills storesd, with a line on stderr, by the handler
 * that was there before, as a SIGSEGV of its own does.
 */
#define FAULT		(-1)	/* a page faulted; not yet told why */
#define FAULT_CUT	(-2)	/* data.mdb was cut short */
#define FAULT_IO	(-3)	/* the disk could not read the page */
#define FAULT_WILD	(-4)	/* LMDB read outside the map: the file
				 * holds bytes it did not write */
#define FAULT_LOCK	(-5)	/* lock.mdb was cut short: no data lost */
#define FAULT_QUAR	(-6)	/* a write failed LMDB's check: the env
				 * is quarantined (see "quarantine") */

enum guard_mode {
	GUARD_JUMP,		/* reads: back to the guard */
	GUARD_PATCH,		/* writes: zeros over the page, go on, or
				 * quarantine (see "quarantine") */
};

struct guard {
	sigjmp_buf	 jb;
	struct st_env	*e;
	enum guard_mode	 mode;
	unsigned	 slot;		/* the read's slot, or ST_NOSLOT */
	MDB_txn		*txn;		/* a read txn of no slot, open */
	MDB_cursor	*cur;		/* a read's cursor, open */
	struct guard	*prev;		/* the guard it is nested in */
	int		 user;		/* its slot in e->users, or -1 */
	volatile sig_atomic_t hit;	/* a page faulted under it */
	bool		 quar;		/* a write's: jb is set for a
					 * quarantine (st_write_group(),
					 * st_reid()) */
};

static int	 user_enter(struct st_env *);
static void	 user_leave(struct st_env *, int);

static __thread struct guard *guard_now;
static long	 fault_page;		/* the system's page size */
/* The LMDB assertion this thread's last guarded read failed, for the
 * log (on_assert(), fault_note()); "" when none. */
static __thread char assert_msg[160];

/*
 * Arms g on this thread for a call on e, unless e is broken by a fault
 * already: then it returns true, and the call is refused untouched.  A
 * read then sets its jump point, in the frame that stays live for the
 * whole call (the function that armed g), as C allows it:
 *
 *	if (guard_arm(&g, e, GUARD_JUMP, slot))
 *		return refused(e, err);
 *	if (sigsetjmp(g.jb, 0) != 0)
 *		return guard_fail(&g, err);
 *	return guard_off(&g, the_call(...), err);
 *
 * which GUARDED_READ() below is, for the reads.  Nothing between the two
 * touches a map.
 */
static inline bool
guard_arm(struct guard *g, struct st_env *e, enum guard_mode m,
    unsigned slot)
{
	if (atomic_load_explicit(&e->broken, memory_order_relaxed) < 0)
		return true;
	g->e = e;
	g->mode = m;
	g->slot = slot;
	g->txn = NULL;
	g->cur = NULL;
	g->hit = 0;
	g->quar = false;
	g->user = user_enter(e);
	g->prev = guard_now;
	guard_now = g;
	return false;
}

/*
 * The body of a store call that reads a map: returns call (an int
 * expression) run under a jumping guard of e (slot: its read slot, or
 * ST_NOSLOT), refused when e is broken already, CORRUPT when a page
 * faults.  A macro, not a function: the jump point must be set in the
 * frame that stays live for the whole call, the store call's own.
 */
#define GUARDED_READ(e, slot, err, call) do {				\
	struct guard	 g_;						\
									\
	if (guard_arm(&g_, (e), GUARD_JUMP, (slot)))			\
		return refused((e), (err));				\
	if (sigsetjmp(g_.jb, 0) != 0)					\
		return guard_fail(&g_, (err));				\
	return guard_off(&g_, (call), (err));				\
} while (0)

/* Notes what a guarded read has open, for guard_fail() (NULL: ended). */
static inline void
guard_holds(MDB_txn *txn, MDB_cursor *cur)
{
	if (guard_now != NULL) {
		guard_now->txn = txn;
		guard_now->cur = cur;
	}
}

/*
 * The refusal of a call on an env broken by a fault: CORRUPT, naming the
 * env, with what happened and what to do; BUSY for a cut lock.mdb, which
 * the next open makes anew.  Returns -1.
 */
static int
refused(struct st_env *e, struct sp_error *err)
{
	const char	*why;

	switch (atomic_load(&e->broken)) {
	case FAULT_LOCK:
		return sp_seterr_busy(err, SP_RETRY_REOPEN_MS, "%s: its "
		    "lock.mdb was cut short by another program; storesd "
		    "reopens the env as soon as its requests in flight are "
		    "done, nothing of its data is lost: retry", e->label);
	case FAULT_CUT:
		why = "was cut short while storesd had it open (another "
		    "program truncated or replaced it)";
		break;
	case FAULT_IO:
		why = "could not be read (an I/O error of its disk)";
		break;
	case FAULT_WILD:
		why = "holds pages that LMDB did not write (another program "
		    "wrote into it)";
		break;
	case FAULT_QUAR:
		return sp_seterr(err, SP_CORRUPT, "%s: a write met pages of "
		    "its data.mdb LMDB did not write (another program wrote "
		    "them): refused until restored from a snapshot by "
		    "restore --replace (restored in place: until storesd "
		    "restarts)", e->label);
	default:
		why = "could not be read: the file changed size under storesd "
		    "or its disk failed";
		break;
	}
	return sp_seterr(err, SP_CORRUPT, "%s: its data.mdb %s; storesd "
	    "refuses this env until it is restored from a snapshot",
	    e->label, why);
}

static struct file_id
file_id(const struct stat *sb)
{
	return (struct file_id){ sb->st_dev, sb->st_ino, sb->st_size,
	    sb->st_mtim };
}

/* Whether sb is of the file f was taken from, unchanged. */
static bool
file_same(const struct file_id *f, const struct stat *sb)
{
	return f->dev == sb->st_dev && f->ino == sb->st_ino &&
	    f->size == sb->st_size && f->mtime.tv_sec == sb->st_mtim.tv_sec &&
	    f->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/*
 * After a fault on e: tells a cut file from a failed disk (the file is
 * shorter than the pages in use, or not) and logs it, once per open; or
 * logs a cut lock.mdb, once.
 * Not in the handler: fstat and the log are no business of one.
 */
static void
fault_note(struct st_env *e)
{
	struct stat	 sb;
	uint64_t	 used = atomic_load(&e->used);
	char		 why[sizeof(assert_msg) + 64];
	int		 was = FAULT, kind;

	if (atomic_load(&e->broken) == FAULT_LOCK) {
		if (!atomic_exchange(&e->lock_noted, true))
			log_warnx("%s: %s: %s/lock.mdb was cut short by another "
			    "program while storesd had the env open; refused "
			    "(BUSY) until it is closed and opened again, which "
			    "sets lock.mdb up anew", __func__, e->label,
			    e->dir);
		return;
	}
	if (atomic_load(&e->wild))
		kind = FAULT_WILD;
	else
		kind = fstat(e->fd, &sb) == 0 && (uint64_t)sb.st_size < used ?
		    FAULT_CUT : FAULT_IO;
	if (kind == FAULT_WILD && assert_msg[0] != '\0')
		snprintf(why, sizeof(why), "holds bytes LMDB did not write (a "
		    "read of it failed LMDB's check: %s)", assert_msg);
	else
		snprintf(why, sizeof(why), "%s", kind == FAULT_CUT ? "was cut "
		    "short under storesd (a read past its new end faulted)" :
		    kind == FAULT_WILD ? "holds bytes LMDB did not write (a "
		    "read of it led outside its map)" : "could not be read (an "
		    "I/O error faulted a read of its map)");
	assert_msg[0] = '\0';
	if (!atomic_compare_exchange_strong(&e->broken, &was, kind))
		return;
	if (kind == FAULT_WILD && fstat(e->fd, &sb) == 0) {
		e->wild_file = file_id(&sb);
		e->wild_seen = true;
	}
	log_errx("%s: %s: %s/%s %s; the env is refused until it is restored "
	    "from a snapshot, every other env is served", __func__, e->label,
	    e->dir, ST_DATA_FILE, why);
}

/*
 * Takes off this thread's robust list what a cut lock.mdb left there
 * (see "faults"): the kernel's list head (set_robust_list(2)), which
 * glibc links every robust mutex a thread holds into, through the
 * mutex's own __list.  A mutex this thread holds names it in its futex
 * word (the test the kernel makes of each entry when a thread dies);
 * an entry that does not is one glibc unlocked as the normal mutex its
 * zeros read as, without unlinking it: the list is cut there.  What
 * followed it was cut off already (its link was zeroed with it), and
 * may only be a mutex this thread took before: in storesd only the
 * same env's writer mutex, in the same page of zeros, never another
 * env's (no thread calls LMDB on one env inside a write transaction of
 * another).  Called on the thread that used a broken env, before that
 * env can close: at the end of each guarded call (guard_off(),
 * guard_fail()), of a copy (st_copy()), and of an open and a close, on
 * the thread that made every other call of an env no guard covers
 * (open, a fork's or a restore's copy).  Entries are read with
 * process_vm_readv(2), which fails on an address no longer mapped
 * instead of faulting; at most ROBUST_MAX of them are followed.
 */
#define ROBUST_MAX	16

static __thread struct robust_list_head *robust_head;

/* Reads n bytes of this process at a into buf: false if not mapped. */
static bool
peek(const void *a, void *buf, size_t n)
{
	struct iovec	 l = { buf, n }, r = { (void *)a, n };

	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)n;
}

static void
robust_tidy(void)
{
	struct robust_list	**link, *ent, *next;
	size_t			 len;
	uint32_t		 word;
	uint32_t		 tid = (uint32_t)gettid();
	int			 i;

	if (robust_head == NULL && syscall(SYS_get_robust_list, 0,
	    &robust_head, &len) == -1)
		return;
	link = &robust_head->list.next;
	for (i = 0; i < ROBUST_MAX; i++, link = &ent->next) {
		/* Bit 0 marks a PI mutex's entry, which LMDB has none of. */
		ent = (struct robust_list *)((uintptr_t)*link & ~(uintptr_t)1);
		if (ent == &robust_head->list)
			return;
		if (!peek((char *)ent + robust_head->futex_offset, &word,
		    sizeof(word)) || (word & FUTEX_TID_MASK) != tid ||
		    !peek(&ent->next, &next, sizeof(next))) {
			*link = &robust_head->list;
			return;
		}
	}
}

/*
 * A guarded call ended (rc, err): disarms g, and refuses the call when
 * its env broke meanwhile, by this call's fault or another thread's
 * (whose page of zeros this one may have read).  Returns rc or -1.
 */
static int
guard_off(struct guard *g, int rc, struct sp_error *err)
{
	guard_now = g->prev;
	user_leave(g->e, g->user);
	if (atomic_load(&g->e->broken) >= 0)
		return rc;
	robust_tidy();
	fault_note(g->e);
	return refused(g->e, err);
}

/*
 * A guarded read jumped back to after a fault: ends what the read had
 * open.  Its slot's transaction (held for the turn or not) is
 * aborted, not reset: LMDB may have been anywhere in it.  Returns -1
 * with err (CORRUPT).
 */
static int
guard_fail(struct guard *g, struct sp_error *err)
{
	struct st_env	*e = g->e;

	guard_now = g->prev;	/* as the handler did before the jump */
	user_leave(e, g->user);
	if (g->cur != NULL)
		mdb_cursor_close(g->cur);
	if (g->txn != NULL)
		mdb_txn_abort(g->txn);
	if (g->slot < e->nslots && e->rtxn[g->slot] != NULL) {
		mdb_txn_abort(e->rtxn[g->slot]);
		e->rtxn[g->slot] = NULL;
		e->held[g->slot] = HOLD_NO;
	}
	robust_tidy();
	if (atomic_load(&e->broken) == FAULT)
		fault_note(e);
	return refused(e, err);
}

/* Marks e broken by a fault, whatever broke it before.  Async signal
 * safe: a lock-free atomic only. */
static void
fault_mark(struct st_env *e)
{
	int	 was = atomic_load(&e->broken);

	while (was >= 0 &&
	    !atomic_compare_exchange_weak(&e->broken, &was, FAULT))
		;
}

/* Below it nothing is ever mapped (vm.mmap_min_addr). */
#define LOW_ADDR	4096

/* Reads a hex or decimal number at *p, moving past it.  Async signal
 * safe. */
static uintmax_t
maps_num(const char **p, unsigned base)
{
	uintmax_t	 v = 0;
	unsigned	 d;
	char		 ch;

	for (;; (*p)++) {
		ch = **p;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return v;
		v = v * base + d;
	}
}

/* One line of /proc/self/maps: "start-end perms offset major:minor inode
 * path". */
struct maps_line {
	uintmax_t	 start, end, off, maj, min, ino;
};

static void
maps_parse(const char *p, struct maps_line *m)
{
	m->start = maps_num(&p, 16);
	p += *p == '-';
	m->end = maps_num(&p, 16);
	for (p++; *p != '\0' && *p != ' '; p++)
		;		/* perms */
	p++;
	m->off = maps_num(&p, 16);
	p++;
	m->maj = maps_num(&p, 16);
	p++;
	m->min = maps_num(&p, 16);
	p++;
	m->ino = maps_num(&p, 10);
}

/*
 * Calls fn with each line of /proc/self/maps, in address order, until it
 * returns true.  Async signal safe: open, read and close only.
 */
static void
maps_each(bool (*fn)(const struct maps_line *, void *), void *arg)
{
	struct maps_line m;
	char		 buf[4096];
	char		 line[512];
	size_t		 len = 0;
	ssize_t		 n, i;
	int		 fd;

	if ((fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) == -1)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			maps_parse(line, &m);
			if (fn(&m, arg))
				goto done;
		}
done:
	close(fd);
}

static bool
same_file(const struct maps_line *m, dev_t dev, ino_t ino)
{
	return m->ino == (uintmax_t)ino && m->maj == major(dev) &&
	    m->min == minor(dev);
}

struct past {
	dev_t		 dev;		/* the file's */
	ino_t		 ino;
	uintptr_t	 a;
	bool		 ours;
};

static bool
past_line(const struct maps_line *m, void *arg)
{
	struct past	*p = arg;

	if (m->start > p->a)
		return true;	/* in address order: none below it is left */
	p->ours = same_file(m, p->dev, p->ino);
	return false;
}

/*
 * Whether the highest mapping at or below a in /proc/self/maps is of the
 * file dev, ino: a lies in a map of it, or past one with nothing mapped
 * between.  Async signal safe.
 */
static bool
at_or_past(dev_t dev, ino_t ino, uintptr_t a)
{
	struct past	 p = { dev, ino, a, false };

	maps_each(past_line, &p);
	return p.ours;
}

/*
 * Whether a, an address nothing is mapped at, lies past the map of e's
 * data.mdb with nothing mapped between: the highest mapping below a in
 * /proc/self/maps is of that file.  LMDB reads past its map there when a
 * page of the file holds another program's bytes (an offset or a size
 * out of range).  Async signal safe.
 */
static bool
past_map(const struct st_env *e, uintptr_t a)
{
	return at_or_past(e->dev, e->ino, a);
}

/*
 * The lock.mdb of each open env, for the handler (lock_env_at()): slots
 * in chunks that are never freed, so the handler reads them with no
 * lock, taken and given back under lock_mtx.  Enough for max_envs.
 */
#define LOCK_SLOTS	4096
#define LOCK_CHUNKS	256

struct lock_slot {
	_Atomic(struct st_env *) e;	/* NULL: free */
	_Atomic dev_t	 dev;
	_Atomic ino_t	 ino;
};

static _Atomic(struct lock_slot *) lock_tab[LOCK_CHUNKS];
static pthread_mutex_t lock_mtx = PTHREAD_MUTEX_INITIALIZER;

/* Lists e's lock.mdb (lockfd, open; sb: its fstat, lock_open()'s) in
 * lock_tab.  0, or -1 with err. */
static int
lock_map_add(struct st_env *e, const struct stat *sb, struct sp_error *err)
{
	struct lock_slot *c, *sl = NULL;
	size_t		 i, j;

	pthread_mutex_lock(&lock_mtx);
	for (i = 0; i < LOCK_CHUNKS && sl == NULL; i++) {
		if ((c = atomic_load(&lock_tab[i])) == NULL &&
		    (c = calloc(LOCK_SLOTS, sizeof(*c))) != NULL)
			atomic_store(&lock_tab[i], c);
		for (j = 0; c != NULL && j < LOCK_SLOTS; j++)
			if (atomic_load(&c[j].e) == NULL) {
				sl = &c[j];
				break;
			}
	}
	if (sl != NULL) {
		atomic_store(&sl->dev, sb->st_dev);
		atomic_store(&sl->ino, sb->st_ino);
		atomic_store(&sl->e, e);
		e->lock_slot = sl;
	}
	pthread_mutex_unlock(&lock_mtx);
	if (sl == NULL)
		return sp_seterr(err, SP_INTERNAL, "out of memory opening %s",
		    e->label);
	return 0;
}

/* Takes e's lock.mdb out of lock_tab, once LMDB let go of its map. */
static void
lock_map_del(struct st_env *e)
{
	if (e->lock_slot == NULL)
		return;
	pthread_mutex_lock(&lock_mtx);
	atomic_store(&e->lock_slot->e, NULL);
	pthread_mutex_unlock(&lock_mtx);
	e->lock_slot = NULL;
}

struct lock_at {
	uintptr_t	 a;
	struct st_env	*e;
	bool		 zeroed;	/* a is in a private anonymous map */
	bool		 first;		/* a is in the file's first page */
};

static bool
lock_line(const struct maps_line *m, void *arg)
{
	struct lock_at	*l = arg;
	struct lock_slot *c;
	struct st_env	*e;
	size_t		 i, j;

	if (m->start > l->a || m->end <= l->a)
		return m->start > l->a;
	l->zeroed = m->ino == 0 && m->maj == 0 && m->min == 0;
	/* Where the file's page 0 is mapped: by the map's offset, as
	 * zeros mapped over an earlier page split the map. */
	l->first = m->off + (l->a - m->start) < (uintmax_t)fault_page;
	for (i = 0; i < LOCK_CHUNKS; i++) {
		if ((c = atomic_load(&lock_tab[i])) == NULL)
			break;
		for (j = 0; j < LOCK_SLOTS; j++)
			if ((e = atomic_load(&c[j].e)) != NULL &&
			    same_file(m, atomic_load(&c[j].dev),
			    atomic_load(&c[j].ino)) &&
			    atomic_load(&c[j].e) == e) {
				l->e = e;
				return true;
			}
	}
	return true;
}

/*
 * The env whose lock.mdb is mapped at a, or NULL.  That env is live: the
 * faulting thread is in a call of LMDB's on it.  *zeroed tells whether a
 * page of zeros is mapped at a instead, *first whether a is in the
 * file's first page (LMDB's mutexes').  Async signal safe.
 */
static struct st_env *
lock_env_at(uintptr_t a, bool *zeroed, bool *first)
{
	struct lock_at	 l = { a, NULL, false, false };

	maps_each(lock_line, &l);
	*zeroed = l.zeroed;
	*first = l.first;
	return l.e;
}

/*
 * The pages of lock maps lock_fault() mapped zeros over last, in a ring,
 * for another thread's SIGBUS at the same page: the fault of two threads
 * touching it at once, handled after the zeros are there (see
 * on_sigbus()).  Noted before the zeros are mapped.  Async signal safe.
 */
#define ZEROED_RING	64

static _Atomic uintptr_t zeroed_ring[ZEROED_RING];
static atomic_uint	 zeroed_next;

static bool
lock_zeroed(uintptr_t pg)
{
	unsigned	 i;

	for (i = 0; i < ZEROED_RING; i++)
		if (atomic_load(&zeroed_ring[i]) == pg)
			return true;
	return false;
}

/* Notes page pg in pgs (of ZERO_PAGES, counted by n).  Async signal
 * safe. */
static void
zero_note(_Atomic uintptr_t *pgs, atomic_uint *n, uintptr_t pg)
{
	unsigned	 i = atomic_fetch_add(n, 1);

	if (i < ZERO_PAGES)
		atomic_store(&pgs[i], pg);
}

/*
 * Threads asleep on a mutex of a cut lock.mdb (see "faults"): a thread
 * waiting for LMDB's writer or reader mutex sleeps in futex(2) on the
 * file's page, and the holder's unlock lands in the page of zeros that
 * replaced it (or in a co-user that dies of the cut), which wakes no one
 * sleeping there: the waiter slept for good, holding its env (never
 * closed, BUSY for ever) and its thread (a snapshot's place; a stop
 * waited on it without end).  Each thread in a call of LMDB's on e is
 * noted in e->users; once zeros replace the mutexes' page, each is sent
 * SIGURG, whose handler does nothing but make futex(2) start again
 * (SA_RESTART): on the page of zeros now, where the mutex reads as
 * free.  Only then: a futex(2) started again on the cut page itself
 * would fail (EFAULT), which glibc aborts on.  A thread past the table
 * is not noted (it may sleep, as before).
 */
/*
 * This thread's id, asked of the kernel once: gettid(2) is a system
 * call (glibc caches no tid), and every guarded call notes its thread.
 * storesd never forks, so a thread's id never changes under it.
 */
static __thread pid_t	 my_tid;

static pid_t
self_tid(void)
{
	if (my_tid == 0)
		my_tid = gettid();
	return my_tid;
}

static int
user_enter(struct st_env *e)
{
	pid_t	 tid = self_tid(), none;
	int	 i;

	for (i = 0; i < ENV_USERS; i++) {
		none = 0;
		if (atomic_compare_exchange_strong(&e->users[i], &none, tid))
			return i;
	}
	return -1;
}

static void
user_leave(struct st_env *e, int i)
{
	if (i >= 0)
		atomic_store(&e->users[i], 0);
}

/* Async signal safe. */
static void
users_wake(struct st_env *e)
{
	pid_t	 tid, self = gettid(), pid = getpid();
	int	 i;

	for (i = 0; i < ENV_USERS; i++)
		if ((tid = atomic_load(&e->users[i])) != 0 && tid != self)
			(void)syscall(SYS_tgkill, pid, tid, SIGURG);
}

static void
on_wake(int sig)
{
	(void)sig;
}


/*
 * A SIGBUS in e's lock map at page pg, on any thread: e is broken
 * (FAULT_LOCK, unless a fault of its data broke it first), and zeros are
 * mapped over the page (see "faults"); when it is the file's first page
 * (first), the threads that may sleep on its mutexes are woken.  False
 * when the zeros cannot be mapped.
 */
static bool
lock_fault(struct st_env *e, uintptr_t pg, bool first)
{
	int	 was = atomic_load(&e->broken);

	while (was >= 0 &&
	    !atomic_compare_exchange_weak(&e->broken, &was, FAULT_LOCK))
		;
	atomic_store(&zeroed_ring[atomic_fetch_add(&zeroed_next, 1) %
	    ZEROED_RING], pg);
	if (mmap((void *)pg, (size_t)fault_page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		return false;
	if (first)
		users_wake(e);
	return true;
}

/*
 * A SIGSEGV past e's data map (page pg) in a write: zeros there, where
 * nothing is (MAP_FIXED_NOREPLACE), noted for the close.  False when
 * there were ZERO_PAGES of them already, or the page cannot be mapped.
 */
static bool
wild_write(struct st_env *e, uintptr_t pg)
{
	void	*p;

	if (atomic_load(&e->wild_n) >= ZERO_PAGES)
		return false;
	p = mmap((void *)pg, (size_t)fault_page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	if ((uintptr_t)p != pg) {	/* a kernel before 4.17: a hint */
		munmap(p, (size_t)fault_page);
		return false;
	}
	zero_note(e->wild_pg, &e->wild_n, pg);
	return true;
}

/*
 * After mdb_env_close(e): the pages of zeros past its data map are let
 * go.  Those over its lock map went with it (LMDB unmaps the whole
 * range): no robust list leads there any more, every thread that used
 * the env took its own off (robust_tidy()), so nothing is kept, and
 * whatever is mapped there next (another env's lock.mdb, opened
 * meanwhile) is written by nobody else.
 */
static void
zero_pages_close(struct st_env *e)
{
	unsigned	 i, n;

	n = atomic_load(&e->wild_n);
	for (i = 0; i < n && i < ZERO_PAGES; i++)
		munmap((void *)atomic_load(&e->wild_pg[i]), (size_t)fault_page);
}

/*
 * The handlers st_catch_faults() replaced (AddressSanitizer's, or the
 * default), which a fault that is no env's goes to.
 */
static struct sigaction	 prior_bus, prior_segv;
/* liblmdb's code, [lo, hi); hi 0: not known (see lmdb_pc()). */
static uintptr_t	 lmdb_lo, lmdb_hi;

/*
 * Whether the instruction that faulted (in uc, the handler's context)
 * is liblmdb's.  Where it cannot be told (another architecture, or a
 * liblmdb linked into storesd itself) every one is taken for LMDB's.
 * Async signal safe.
 */
static bool
lmdb_pc(const void *uc)
{
#if defined(__x86_64__)
	const ucontext_t	*u = uc;
	uintptr_t		 pc = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];

	return lmdb_hi == 0 || (pc >= lmdb_lo && pc < lmdb_hi);
#else
	(void)uc;
	return true;
#endif
}

/* dl_iterate_phdr(): the executable segment of the object that holds
 * *arg, LMDB's function, into lmdb_lo and lmdb_hi. */
static int
lmdb_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t	 fn = *(const uintptr_t *)arg, lo;
	ElfW(Half)	 i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type != PT_LOAD ||
		    !(info->dlpi_phdr[i].p_flags & PF_X))
			continue;
		lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
		if (fn >= lo && fn - lo < info->dlpi_phdr[i].p_memsz) {
			lmdb_lo = lo;
			lmdb_hi = lo + info->dlpi_phdr[i].p_memsz;
			return 1;
		}
	}
	return 0;
}

/*
 * Finds liblmdb's code, for lmdb_pc(): the executable segment that holds
 * one of its functions, unless storesd's own code is in it too (a static
 * liblmdb: no telling them apart).
 */
static void
lmdb_find(void)
{
	uintptr_t	 fn = (uintptr_t)mdb_cursor_get;
	uintptr_t	 own = (uintptr_t)st_catch_faults;

	lmdb_lo = lmdb_hi = 0;
	(void)dl_iterate_phdr(lmdb_segment, &fn);
	if (own >= lmdb_lo && own < lmdb_hi)
		lmdb_lo = lmdb_hi = 0;
	if (lmdb_hi == 0)
		log_notice("%s: liblmdb's code cannot be told from storesd's: "
		    "a SIGSEGV near address 0 in a read is taken for the "
		    "env's fault wherever it is", __func__);
}

/*
 * A fault that is no env's: storesd dies of it, by the handler that was
 * there before st_catch_faults(), put back.  A fault of this thread's
 * access (si_code > 0) is made again on return, so that handler sees its
 * true address and context (AddressSanitizer's report, the core dump);
 * a signal sent is sent again.  Async signal safe.
 */
static void
fault_pass(int sig, const siginfo_t *si, const char *msg, size_t n)
{
	struct sigaction	 sa = sig == SIGBUS ? prior_bus : prior_segv;

	(void)!write(STDERR_FILENO, msg, n);
	if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)
		sa.sa_handler = SIG_DFL;	/* it dies all the same */
	(void)sigaction(sig, &sa, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

/* Envs quarantined so far (see "quarantine"), claimed by quar_jump(). */
#define QUAR_MAX	16

static atomic_uint	 quar_n;

/*
 * A write of g's env met damage no page of zeros answers (an LMDB
 * assertion, a SIGSEGV near 0 in liblmdb's code, or past the map with
 * ZERO_PAGES used): when g is a write that set its jump point and fewer
 * than QUAR_MAX envs are quarantined, marks the env quarantined and
 * broken (a wild fault) and jumps back to st_write_group() or
 * st_reid(), which never touch the write's transaction or the env's
 * handle again.  Returns only when it cannot: then storesd dies, as
 * before.  Async signal safe: atomics and siglongjmp.
 */
static void
quar_jump(struct guard *g)
{
	if (g->mode != GUARD_PATCH || !g->quar)
		return;
	if (atomic_fetch_add(&quar_n, 1) >= QUAR_MAX) {
		atomic_fetch_sub(&quar_n, 1);
		return;
	}
	g->hit = 1;
	atomic_store(&g->e->wild, true);
	atomic_store(&g->e->quarantined, true);
	fault_mark(g->e);
	guard_now = g->prev;
	siglongjmp(g->jb, 1);
}

/*
 * A compacting copy's walk (see "compacting walk"): on a thread of its
 * own, which parks for good when the walk fails an LMDB assertion or
 * faults in the map it walks.
 */
#define PARK_MAX	16	/* walks parked in a storesd's life */

struct walk {
	MDB_env		*env;		/* the env walked */
	int		 fd;		/* LMDB's copy writes here */
	dev_t		 dev;		/* its data file's */
	ino_t		 ino;
	int		 rc;		/* the walk's, once it returned */
	atomic_bool	 parked;	/* it failed: parked for good */
	sem_t		 done;		/* posted when it returned or parked */
	char		 msg[160];	/* the assertion that failed, or "" */
};

static atomic_uint	 park_n;
static __thread struct walk *walk_now;	/* this thread's walk, or NULL */

/*
 * The walk on this thread failed: unless PARK_MAX walks are parked
 * already, tells its caller and never returns, touching nothing again
 * (LMDB's copy thread waits on a condition variable of this thread's
 * stack, which stays valid).  Returns when it cannot: then storesd
 * dies, as before.  Async signal safe: atomics, sem_post and pause.
 */
static void
walk_park(struct walk *w)
{
	if (atomic_fetch_add(&park_n, 1) >= PARK_MAX) {
		atomic_fetch_sub(&park_n, 1);
		return;
	}
	walk_now = NULL;
	atomic_store(&w->parked, true);
	(void)sem_post(&w->done);
	for (;;)
		pause();
}

/*
 * Whether a fault on a walk's thread (a SIGSEGV, or a SIGBUS of its own
 * access) is the walked file's: in or past its map, or near 0 in
 * liblmdb's code.  A walk reads and copies only pages of that map, and
 * LMDB's walk of a damaged tree writes into it, read-only, or reads
 * past it.  Async signal safe.
 */
static bool
walk_fault(const struct walk *w, int sig, const siginfo_t *si,
    const void *uc)
{
	uintptr_t	 a = (uintptr_t)si->si_addr;

	if (si->si_code <= 0)
		return false;	/* sent by a process */
	if (sig == SIGSEGV && a < LOW_ADDR)
		return lmdb_hi != 0 && lmdb_pc(uc);
	return at_or_past(w->dev, w->ino, a);
}

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
	static const char	 msg[] = "storesd: SIGBUS outside any call "
				    "on an env: storesd dies\n";
	static const char	 segv[] = "storesd: SIGSEGV: storesd dies\n";
	struct guard		*g = guard_now;
	struct st_env		*le;
	bool			 zeroed = false, first;
	uintptr_t		 a = (uintptr_t)si->si_addr;
	uintptr_t		 pg = a & ~(uintptr_t)(fault_page - 1);
	int			 saved = errno;

	if (walk_now != NULL && walk_fault(walk_now, sig, si, uc))
		walk_park(walk_now);
	/*
	 * A page of the file that another program wrote bytes into makes
	 * LMDB follow an offset or a size out of range, past the end of
	 * the map, or a pointer it never set (near address 0, in LMDB's
	 * code): in a guarded call, a fault of that env.  Any other
	 * SIGSEGV is storesd's own: it dies.
	 */
	if (sig == SIGSEGV) {
		if (g != NULL && si->si_code == SEGV_MAPERR &&
		    ((a < LOW_ADDR && lmdb_pc(uc)) || past_map(g->e, a))) {
			g->hit = 1;
			atomic_store(&g->e->wild, true);
			fault_mark(g->e);
			if (g->mode == GUARD_JUMP) {
				guard_now = g->prev;
				siglongjmp(g->jb, 1);
			}
			if (a >= LOW_ADDR && wild_write(g->e, pg)) {
				errno = saved;
				return;
			}
			/* Near 0 only where LMDB's code is told from
			 * storesd's: a jump over storesd's own NULL
			 * dereference would hide it. */
			if (a >= LOW_ADDR || lmdb_hi != 0)
				quar_jump(g);
		}
		fault_pass(sig, si, segv, sizeof(segv) - 1);
		errno = saved;
		return;
	}
	/* si_code > 0: the kernel's, for this thread's access (BUS_ADRERR
	 * for a page past the file's end or that the disk failed).  In an
	 * env's lock map: that env's, guarded or not, and never a jump
	 * (LMDB may hold its reader mutex there). */
	if (si->si_code > 0 && (le = lock_env_at(a, &zeroed, &first)) !=
	    NULL && lock_fault(le, pg, first)) {
		errno = saved;
		return;
	}
	/*
	 * Or zeros are there now: two threads touched the same page of a
	 * cut lock.mdb, and the other one's lock_fault() mapped them after
	 * this thread's access faulted, before lock_env_at() read the maps.
	 * The access is made again (a private anonymous page is never past
	 * a file's end), guarded or not: never a jump, as above.
	 */
	if (si->si_code == BUS_ADRERR && zeroed && lock_zeroed(pg)) {
		errno = saved;
		return;
	}
	if (g != NULL && si->si_code > 0) {
		g->hit = 1;
		fault_mark(g->e);
		if (g->mode == GUARD_JUMP) {
			guard_now = g->prev;
			siglongjmp(g->jb, 1);
		}
		if (mmap((void *)pg, (size_t)fault_page, PROT_READ |
		    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		    0) != MAP_FAILED) {
			errno = saved;
			return;
		}
	}
	fault_pass(sig, si, msg, sizeof(msg) - 1);
	errno = saved;
}

/*
 * After LMDB began txn on e: true, with txn aborted, when e is broken by a
 * fault.  One begun after lock.mdb was cut read the last txnid there as
 * 0, and may stand on an older meta page whose pages a later commit
 * reused: it must touch no page of the env (see "faults").  An atomic
 * load, no system call.
 */
static bool
begun_broken(struct st_env *e, MDB_txn *txn)
{
	if (atomic_load(&e->broken) >= 0)
		return false;
	mdb_txn_abort(txn);
	return true;
}

/* Installs sa for sig, keeping the handler it replaces in *prior
 * (unless that is ours: a second call).  0, or -1 with errno. */
static int
catch_one(int sig, const struct sigaction *sa, struct sigaction *prior)
{
	struct sigaction	 old;

	if (sigaction(sig, sa, &old) == -1)
		return -1;
	if (!(old.sa_flags & SA_SIGINFO) || old.sa_sigaction != on_sigbus)
		*prior = old;
	return 0;
}

int
st_catch_faults(void)
{
	struct sigaction	 sa;

	if ((fault_page = sysconf(_SC_PAGESIZE)) <= 0)
		fault_page = 4096;
	lmdb_find();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (catch_one(SIGBUS, &sa, &prior_bus) == -1 ||
	    catch_one(SIGSEGV, &sa, &prior_segv) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake;	/* users_wake() */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGURG, &sa, NULL);
}

/*
 * LMDB's assertion failed on env (Debian builds liblmdb with them on,
 * and LMDB then aborts the process): a page of the file that another
 * program wrote into, a leaf page flagged a branch, fails one.  LMDB
 * calls this on the thread that asserted, deep in its call, and
 * mdb_assert_fail() calls abort() once this returns: it can only jump
 * out.  In a guarded read of env it is a fault of that env (a wild
 * one: the file holds pages LMDB did not write), and it jumps back to
 * the guard as a SIGSEGV there does.  That is safe for the same
 * reason: a read transaction holds no lock (its reader slot is freed by
 * guard_fail()'s abort) and LMDB links no cursor into it.  In a write
 * (st_write_group(), or st_reid()'s new id of a restored or forked
 * copy) the env is quarantined and the jump leaves its transaction and
 * handle as they are, for good (quar_jump(), see "quarantine").  In a
 * compacting copy's walk, on a thread of its own, that thread parks for
 * good (walk_park(), see "compacting walk").
 * Anywhere else, or past QUAR_MAX quarantined envs or PARK_MAX parked
 * walks, it logs which env and what failed, and LMDB aborts.
 */
static void
on_assert(MDB_env *env, const char *msg)
{
	struct guard	*g = guard_now;
	struct st_env	*e = mdb_env_get_userctx(env);
	char		 more[96] = "";

	if (walk_now != NULL && walk_now->env == env) {
		snprintf(walk_now->msg, sizeof(walk_now->msg), "%s", msg);
		walk_park(walk_now);
		snprintf(more, sizeof(more), ", in a compacting copy with %d "
		    "parked already (the most storesd keeps)", PARK_MAX);
	}
	if (g != NULL && g->e->env == env) {
		snprintf(assert_msg, sizeof(assert_msg), "%s", msg);
		if (g->mode == GUARD_JUMP) {
			g->hit = 1;
			atomic_store(&g->e->wild, true);
			fault_mark(g->e);
			guard_now = g->prev;
			siglongjmp(g->jb, 1);
		}
		quar_jump(g);
	}
	if (more[0] == '\0' && atomic_load(&quar_n) >= QUAR_MAX)
		snprintf(more, sizeof(more), ", with %d envs quarantined "
		    "already (the most storesd keeps)", QUAR_MAX);
	log_errx("%s: %s: %s/%s failed an LMDB assertion outside a read "
	    "(%s)%s: storesd aborts; restore the env from a snapshot before "
	    "starting it again", __func__, e != NULL ? e->label : "an env",
	    e != NULL ? e->dir : "?", ST_DATA_FILE, msg, more);
}

/* Makes LMDB's failed assertions on env e's (see on_assert()). */
static int
catch_asserts(MDB_env *env, struct st_env *e)
{
	int	 rc;

	/* A liblmdb built without assertions (NDEBUG) takes it and never
	 * calls it. */
	if ((rc = mdb_env_set_userctx(env, e)) != 0)
		return rc;
	return mdb_env_set_assert(env, on_assert);
}

bool
st_faulted(const struct st_env *e)
{
	return atomic_load(&e->broken) < 0;
}

int
st_refused(struct st_env *e, struct sp_error *err)
{
	return refused(e, err);
}

/* Turns an LMDB or errno code into a protocol error with advice. */
static int
st_fail(struct st_env *e, struct sp_error *err, int rc, const char *what)
{
	char	 size[32];

	/* After a fault every error is the fault's (LMDB's MDB_CORRUPTED
	 * from a page of zeros, a commit refused). */
	if (atomic_load(&e->broken) < 0)
		return refused(e, err);
	switch (rc) {
	case MDB_NOTFOUND:
		return sp_seterr(err, SP_NOT_FOUND, "no such key");
	case MDB_MAP_FULL:
		cfg_format_size(e->map_size, size, sizeof(size));
		return sp_seterr(err, SP_MAP_FULL,
		    "%s is full (map_size %s); nothing was written. Raise "
		    "map_size for this store in the config and reload storesd "
		    "(SIGHUP)", e->label, size);
	case MDB_TXN_FULL:
		return sp_seterr(err, SP_TOO_LARGE,
		    "%s: the write touches more pages than one transaction "
		    "can hold; split it", e->label);
	case MDB_BAD_VALSIZE:
		return sp_seterr(err, SP_BAD_KEY,
		    "key or value size not accepted by LMDB (keys are 1 to "
		    "%d bytes)", SP_KEY_MAX);
	case MDB_MAP_RESIZED:
		/* LMDB may remap only with no transaction of the env alive
		 * in the process: the registry does it once none is. */
		atomic_store(&e->grown, true);
		return sp_seterr_busy(err, SP_RETRY_REOPEN_MS,
		    "%s: another program grew this env past storesd's map; "
		    "storesd remaps it as soon as its requests in flight are "
		    "done: retry", e->label);
	case ENOMEM:
		cfg_format_size(e->map_size, size, sizeof(size));
		log_warnx("%s: %s: %s: no address space for a map of %s",
		    __func__, e->label, what, size);
		return sp_seterr_busy(err, SP_RETRY_INUSE_MS,
		    "%s: storesd has no address space left for its map "
		    "(map_size %s); retry, or lower map_size, max_envs or "
		    "map_budget", e->label, size);
	case MDB_READERS_FULL:
		return sp_seterr_busy(err, SP_RETRY_INUSE_MS,
		    "%s: all LMDB reader slots are in use; retry", e->label);
	case MDB_DBS_FULL:
		return sp_seterr(err, SP_INTERNAL,
		    "%s: more named dbs than max_dbs allows; raise max_dbs",
		    e->label);
	case MDB_INCOMPATIBLE:
		return sp_seterr(err, SP_INTERNAL,
		    "%s: a db's flags differ from what storesd expects, or "
		    "a db name is a plain key of the main db; check the "
		    "store's dbs and max_dbs", e->label);
	case MDB_INVALID:
		return damaged(e, err, "not an LMDB data file");
	case MDB_VERSION_MISMATCH:
		return damaged(e, err, "written in another LMDB data format");
	case MDB_CORRUPTED:
	case MDB_PANIC:
	case MDB_PAGE_NOTFOUND:
		return damaged(e, err, "%s: %s", what, mdb_strerror(rc));
	case EPIPE:
		/* Only a copy meets it: its reader (snap.c) gave up, and
		 * says why. */
		return sp_seterr(err, SP_FD_ERROR, "%s: %s: the copy's reader "
		    "went away", e->label, what);
	case EIO:
	case ENOSPC:
	case EDQUOT:
		if (disk_full(e, rc, size, sizeof(size))) {
			log_warnx("%s: %s: the file system of %s is full",
			    e->label, what, e->dir);
			return sp_seterr(err, SP_IO_ERROR,
			    "%s: %s: no space left on the file system of %s "
			    "(%s free); nothing was written. Free space "
			    "there, then retry", e->label, what, e->dir, size);
		}
		/* The env's disk failed. */
		/* FALLTHROUGH */
	case EROFS:
	case EACCES:
	case EPERM:
		log_warnx("%s: %s: %s: %s", __func__, e->label, what,
		    strerror(rc));
		return sp_seterr(err, SP_IO_ERROR,
		    "%s: %s: %s; nothing was written", e->label, what,
		    strerror(rc));
	default:
		log_warnx("%s: %s: %s: %s", __func__, e->label, what,
		    mdb_strerror(rc));
		return sp_seterr(err, SP_INTERNAL, "%s: %s: %s", e->label,
		    what, mdb_strerror(rc));
	}
}

/* ------------------------------------------------------- open, close */

int
st_resize(struct st_env *e, uint64_t map_size, struct sp_error *err)
{
	MDB_envinfo	 info;
	bool		 grown = atomic_exchange(&e->grown, false);
	int		 rc;

	/* Grown by another program: its map size (0), unless ours is more. */
	info.me_mapsize = 0;
	if (grown && ((rc = mdb_env_set_mapsize(e->env, 0)) != 0 ||
	    (rc = mdb_env_info(e->env, &info)) != 0))
		return st_fail(e, err, rc, "remap");
	if (info.me_mapsize < map_size &&
	    ((rc = mdb_env_set_mapsize(e->env, map_size)) != 0 ||
	    (rc = mdb_env_info(e->env, &info)) != 0))
		return st_fail(e, err, rc, "resize");
	e->map_size = info.me_mapsize;
	return 0;
}

uint64_t
st_map_size(const struct st_env *e)
{
	return e->map_size;
}

bool
st_grown(const struct st_env *e)
{
	return atomic_load(&e->grown);
}

bool
st_close_syncs(const struct st_env *e)
{
	/* A faulted env's file is not what LMDB wrote: nothing to keep.
	 * But a cut lock.mdb leaves it whole (see "faults"). */
	if (atomic_load(&e->broken) < 0 &&
	    atomic_load(&e->broken) != FAULT_LOCK)
		return false;
	return atomic_load(&e->dirty) ||
	    atomic_load(&e->ndurable) != atomic_load(&e->ncommits);
}

bool
st_nosync(const struct st_env *e)
{
	return e->nosync;
}

uint64_t
st_commits(const struct st_env *e)
{
	return atomic_load(&e->ncommits);
}

uint64_t
st_durable(const struct st_env *e)
{
	return atomic_load(&e->ndurable);
}

/* True when dir holds a data file; *absent when it holds nothing of
 * that name (ENOENT): then there is no file for check_file() to look at. */
static bool
data_file(const char *dir, bool *absent)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	*absent = false;
	if (snprintf(path, sizeof(path), "%s/%s", dir, ST_DATA_FILE) >=
	    (int)sizeof(path))
		return false;
	if (stat(path, &sb) == -1) {
		*absent = errno == ENOENT;
		return false;
	}
	return S_ISREG(sb.st_mode);
}

bool
st_exists(const char *dir)
{
	bool	 absent;

	return data_file(dir, &absent);
}

static unsigned
env_flags(enum cfg_sync sync)
{
	/*
	 * NOTLS: read txns are reused per I/O thread slot, not per OS
	 * thread.  NORDAHEAD: requests touch few random pages; readahead
	 * would fill the page cache with neighbours nobody asked for.
	 * WRITEMAP for sync = none: commits write into the map instead of
	 * copying every dirty page with pwrite, which made them several
	 * times slower; it makes the data file as large as map_size
	 * (sparse) and rules out nested transactions.  With a sync, the
	 * fsync dominates and WRITEMAP buys nothing (measured).
	 * NOMETASYNC for sync = full too: a commit then costs one
	 * fdatasync (its data pages) where LMDB's default costs two (then
	 * the meta page, O_DSYNC).  The meta page is made durable by the
	 * next commit's data sync, which syncs the whole file, or by
	 * st_flush(), and the writer answers a commit only then; see
	 * st_durable().
	 */
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;

	if (sync == CFG_SYNC_FULL || sync == CFG_SYNC_NOMETA)
		flags |= MDB_NOMETASYNC;
	else if (sync == CFG_SYNC_NONE)
		flags |= MDB_NOSYNC | MDB_WRITEMAP;
	return flags;
}

/* --------------------------------------------------- damaged files */

/*
 * What LMDB's data file must look like (data format 1, a 64-bit host),
 * as far as can be checked before LMDB maps it: a file shorter than the
 * last page its meta names is a SIGBUS at the first read of the missing
 * part, and a root that is not a tree page an assertion in LMDB; an
 * empty file LMDB silently makes a new env of.  Offsets are from the
 * start of a page: the page header, then in pages 0 and 1 the meta.
 */
#define PG_NO		0	/* uint64: the page's own number */
#define PG_FLAGS	10	/* uint16 */
#define P_BRANCH	0x01
#define P_LEAF		0x02
#define P_OVERFLOW	0x04
#define P_META		0x08
#define P_KINDS		0x0f	/* branch, leaf, overflow, meta */
#define PG_PAGES	12	/* uint32: an overflow page's count */
#define PG_HDR		16	/* the page header's size */
#define M_MAGIC		16	/* uint32 */
#define M_VERSION	20	/* uint32 */
#define M_DBS		40	/* the free db's record, then the main db's */
#define M_LAST_PG	136	/* uint64 */
#define M_TXNID		144	/* uint64 */
#define M_SIZE		152
#define DB_PSIZE	0	/* uint32, in the free db's record only */
#define DB_DEPTH	6	/* uint16 */
#define DB_ROOT		40	/* uint64 */
#define DB_SIZE		48
#define LMDB_MAGIC	0xBEEFC0DEU
#define LMDB_FORMAT	1
#define NO_PAGE		(~(uint64_t)0)

static uint64_t
get_u(const unsigned char *p, size_t off, size_t n)
{
	uint64_t	 v64 = 0;
	uint32_t	 v32 = 0;
	uint16_t	 v16 = 0;

	if (n == 2) {
		memcpy(&v16, p + off, 2);
		return v16;
	}
	if (n == 4) {
		memcpy(&v32, p + off, 4);
		return v32;
	}
	memcpy(&v64, p + off, 8);
	return v64;
}

struct meta {
	uint64_t	 psize;
	uint64_t	 last_pg;
	uint64_t	 txnid;
	unsigned char	 dbs[2][DB_SIZE];	/* free, main */
};

/* Reads meta page i (at page size psize; 0 for page 0).  0, or -1 with
 * why. */
static int
read_meta(int fd, unsigned i, uint64_t psize, struct meta *m, char *why,
    size_t n)
{
	unsigned char	 b[M_SIZE];

	if (pread(fd, b, sizeof(b), (off_t)(i * psize)) != (ssize_t)sizeof(b))
		return snprintf(why, n, "meta page %u is missing", i), -1;
	if (!(get_u(b, PG_FLAGS, 2) & P_META) ||
	    get_u(b, M_MAGIC, 4) != LMDB_MAGIC)
		return snprintf(why, n, "page %u is not an LMDB meta page", i),
		    -1;
	if (get_u(b, M_VERSION, 4) != LMDB_FORMAT)
		return snprintf(why, n, "meta page %u is of LMDB data format "
		    "%llu, not %d", i,
		    (unsigned long long)get_u(b, M_VERSION, 4), LMDB_FORMAT), -1;
	m->psize = get_u(b, M_DBS + DB_PSIZE, 4);
	m->last_pg = get_u(b, M_LAST_PG, 8);
	m->txnid = get_u(b, M_TXNID, 8);
	memcpy(m->dbs, b + M_DBS, sizeof(m->dbs));
	return 0;
}

/*
 * Checks a db record (LMDB's MDB_db): its root is no page, or a branch
 * (depth > 1) or leaf page within the file, that says it is that page.
 * Returns 0, or -1 with why.
 */
static int
check_root(int fd, const unsigned char *db, uint64_t psize, uint64_t last_pg,
    const char *name, char *why, size_t n)
{
	unsigned char	 pg[16];
	uint64_t	 root = get_u(db, DB_ROOT, 8);
	uint64_t	 depth = get_u(db, DB_DEPTH, 2);
	uint64_t	 kind;

	if (root == NO_PAGE && depth == 0)
		return 0;
	if (root < 2 || root > last_pg || depth == 0)
		return snprintf(why, n, "the %s db's root is page %llu, outside "
		    "pages 2 to %llu", name, (unsigned long long)root,
		    (unsigned long long)last_pg), -1;
	if (pread(fd, pg, sizeof(pg), (off_t)(root * psize)) !=
	    (ssize_t)sizeof(pg))
		return snprintf(why, n, "the %s db's root page %llu cannot be "
		    "read", name, (unsigned long long)root), -1;
	kind = get_u(pg, PG_FLAGS, 2) & P_KINDS;
	if (get_u(pg, PG_NO, 8) != root ||
	    kind != (depth > 1 ? P_BRANCH : P_LEAF))
		return snprintf(why, n, "the %s db's root page %llu is not "
		    "a tree page of depth %llu", name,
		    (unsigned long long)root, (unsigned long long)depth), -1;
	return 0;
}

/* --------------------------------------------------------- wild files */

/*
 * A data.mdb that another program wrote into (a wild fault, see
 * "faults") passes the checks of the next open: its size and meta pages
 * are right, the damage lies in a page no open reads.  Opened again,
 * the next read faulted again and logged again, as often as a client
 * asked.  So the store keeps each such file as it was at its fault
 * (device, inode, size, mtime) and refuses to open it, CORRUPT and
 * with no new log line, until it changes: a restore, a drop (no file,
 * or a new one) or another program writing it.  One small record per
 * refused directory, WILD_MAX at most: past that the oldest is
 * forgotten (its file faults and logs once more when read).
 */
#define WILD_MAX	64

static struct wild {
	char		*dir;
	struct file_id	 file;
}		 wilds[WILD_MAX];
static unsigned	 nwild;
static pthread_mutex_t wild_mtx = PTHREAD_MUTEX_INITIALIZER;

/* The index of dir's record, or nwild.  The lock held. */
static unsigned
wild_find(const char *dir)
{
	unsigned	 i;

	for (i = 0; i < nwild && strcmp(wilds[i].dir, dir) != 0; i++)
		;
	return i;
}

/* Forgets record i.  The lock held. */
static void
wild_forget(unsigned i)
{
	free(wilds[i].dir);
	memmove(&wilds[i], &wilds[i + 1], (nwild - i - 1) * sizeof(*wilds));
	nwild--;
}

/* e closes after a wild fault: keeps its file as it was then. */
static void
wild_keep(const struct st_env *e)
{
	unsigned	 i;
	char		*dir;

	if (!e->wild_seen || (dir = strdup(e->dir)) == NULL)
		return;
	pthread_mutex_lock(&wild_mtx);
	if ((i = wild_find(dir)) < nwild)
		wild_forget(i);
	else if (nwild == WILD_MAX)
		wild_forget(0);
	wilds[nwild++] = (struct wild){ dir, e->wild_file };
	pthread_mutex_unlock(&wild_mtx);
}

/*
 * Refuses the open of e when dir's data file is one kept as wild and
 * unchanged since (refused(), not logged again); forgets it when it
 * changed or is gone.  Returns 0, or -1 with err (CORRUPT).
 */
static int
wild_check(struct st_env *e, const char *dir, struct sp_error *err)
{
	char		 path[PATH_MAX];
	struct stat	 sb;
	unsigned	 i;
	bool		 same;

	pthread_mutex_lock(&wild_mtx);
	if ((i = wild_find(dir)) == nwild) {
		pthread_mutex_unlock(&wild_mtx);
		return 0;
	}
	same = snprintf(path, sizeof(path), "%s/%s", dir, ST_DATA_FILE) <
	    (int)sizeof(path) && stat(path, &sb) == 0 &&
	    file_same(&wilds[i].file, &sb);
	if (!same)
		wild_forget(i);
	pthread_mutex_unlock(&wild_mtx);
	if (!same)
		return 0;
	atomic_store(&e->broken, FAULT_WILD);
	return refused(e, err);
}

/* --------------------------------------------------------- quarantine */

/*
 * A write that meets a damaged page may fail one of LMDB's assertions
 * (LMDB then aborts the process) or fault near address 0 in LMDB's code,
 * where no page of zeros can be mapped: storesd died of either, with
 * every env.  Jumping out of the write was unsafe for its env (see
 * "faults"): mdb_put and mdb_del link a cursor of their own stack into
 * the write transaction, which mdb_txn_abort() would free, and the env's
 * writer mutex, robust and shared, in lock.mdb, is held by the thread.
 * So the write jumps out (quar_jump()) and the env is quarantined: its
 * transaction and handle are never touched again.  No mdb_txn_abort(),
 * no mdb_env_close(): the MDB_env, its maps, the transaction and the
 * memory of its dirty pages are left as they are, for good (with
 * MDB_WRITEMAP, sync = none, those pages are in the file, but in pages
 * no committed meta names: the file is as the last commit left it).
 * What the jump leaves behind, and why it is safe:
 *
 * - The writer mutex stays held by the thread that wrote (a pool thread
 *   of the writer, or an I/O thread for sync = none's inline commits),
 *   on that thread's robust list, linked through the mutex in lock.mdb.
 *   So lock.mdb stays mapped for good (the env is never closed), and
 *   the list stays valid: glibc writes into it only to unlink a mutex
 *   taken before it, which no storesd thread holds across a write, and
 *   robust_tidy() keeps an entry whose mutex names this thread, as the
 *   held one does.  When the thread or storesd ends, the kernel marks
 *   the mutex's owner dead, and the next LMDB user recovers it.  Until
 *   then another process that writes the env waits for it: a co-user
 *   that damaged the file should not be writing it.  Left: if another
 *   env's lock.mdb is cut while this thread holds that env's writer
 *   mutex (see "faults"), the cut entry's zeroed link drops the held
 *   one from the list too, and a co-user could then wait on it after
 *   storesd died, until lock.mdb is made anew.
 * - LMDB's POSIX locks on lock.mdb are the process's, and go when any
 *   descriptor of the file in it closes: storesd's own descriptor of it
 *   (lock_open()) stays open, and no second MDB_env may open the same
 *   files in storesd (its open would find the writer mutex held by a
 *   live thread of ours and wait for ever, and its close would drop the
 *   quarantined env's locks).  quar_check() refuses an open whose
 *   lock.mdb or data.mdb is a file a quarantined env has (device and
 *   inode: neither can be another file's while storesd holds it open),
 *   before lock_open() opens anything.  storectl restore --replace and a
 *   drop make new files, which are served; a copy over the files in
 *   place keeps them, and is refused until storesd is restarted.
 * - storesd's own frames jumped over hold no lock and nothing another
 *   call needs: the write's cursors and nested transactions are LMDB's.
 *   The jump point is st_write_group()'s frame (st_reid()'s for a
 *   restored or forked copy's new id), alive for the call.
 * - The registry closes the env once unused (st_faulted()); st_close()
 *   then frees what is storesd's alone (quar_close()) and keeps the
 *   st_env, which lock_tab and this table name, its descriptors and the
 *   read transactions of its slots (LMDB's, reachable through it).
 *   Syncs of commits made before the quarantine (st_flush()) still
 *   run: mdb_env_sync() takes no lock and reads only the meta pages.
 *
 * At most QUAR_MAX envs are quarantined in a storesd's life (each keeps
 * its map, at most map_size of address space the registry no longer
 * counts, and a transaction's memory); the next one aborts storesd, as
 * before, saying so.
 */
static struct st_env	*quar_envs[QUAR_MAX];
static unsigned		 nquar;
static pthread_mutex_t	 quar_mtx = PTHREAD_MUTEX_INITIALIZER;

/* After the jump of a quarantine (on e's writing thread): notes e, and
 * logs it once. */
static void
quar_keep(struct st_env *e)
{
	char	 why[sizeof(assert_msg) + 32];

	atomic_store(&e->broken, FAULT_QUAR);
	pthread_mutex_lock(&quar_mtx);
	if (nquar < QUAR_MAX)
		quar_envs[nquar++] = e;
	pthread_mutex_unlock(&quar_mtx);
	if (assert_msg[0] != '\0')
		snprintf(why, sizeof(why), "it failed LMDB's check: %s",
		    assert_msg);
	else
		snprintf(why, sizeof(why), "LMDB's read of it faulted");
	assert_msg[0] = '\0';
	log_errx("%s: %s: %s/%s holds bytes LMDB did not write, met by a "
	    "write (%s); the env is quarantined: its LMDB handle and writer "
	    "lock are kept as they are and it is refused until it is "
	    "restored from a snapshot with storectl restore --replace (a "
	    "copy over its files in place is served only after storesd "
	    "restarts); every other env is served", __func__, e->label,
	    e->dir, ST_DATA_FILE, why);
}

/* Whether the file at dir/name is one of a quarantined env's (lock:
 * its lock.mdb, else its data.mdb).  The lock held. */
static bool
quar_file(const char *dir, const char *name, bool lock)
{
	char		 path[PATH_MAX];
	struct stat	 sb;
	unsigned	 i;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path) || stat(path, &sb) == -1)
		return false;
	for (i = 0; i < nquar; i++)
		if (lock ? quar_envs[i]->lock_dev == sb.st_dev &&
		    quar_envs[i]->lock_ino == sb.st_ino :
		    quar_envs[i]->dev == sb.st_dev &&
		    quar_envs[i]->ino == sb.st_ino)
			return true;
	return false;
}

/*
 * Refuses the open of e when dir's lock.mdb or data.mdb is a file of a
 * quarantined env (refused(), not logged again).  By path, before
 * anything in dir is opened.  No system call while none is quarantined.
 * Returns 0, or -1 with err (CORRUPT).
 */
static int
quar_check(struct st_env *e, const char *dir, struct sp_error *err)
{
	bool	 held;

	if (atomic_load(&quar_n) == 0)
		return 0;
	pthread_mutex_lock(&quar_mtx);
	held = quar_file(dir, "lock.mdb", true) ||
	    quar_file(dir, ST_DATA_FILE, false);
	pthread_mutex_unlock(&quar_mtx);
	if (!held)
		return 0;
	atomic_store(&e->broken, FAULT_QUAR);
	return refused(e, err);
}

/* The close of quarantined e: frees what is storesd's alone and nothing
 * names; keeps the rest (see above). */
static void
quar_close(struct st_env *e)
{
	cl_fini(&e->commits);
	free(e->held);
	free(e->srev);
	free(e->names);
	e->held = NULL;
	e->srev = NULL;
	e->names = NULL;
}

/* One look at the data file (see check_file()).  0, or -1 with why. */
static int
check_once(int fd, uint64_t size, char *why, size_t n)
{
	struct meta	 m[2], *cur;

	if (size == 0)
		return snprintf(why, n, "it is empty"), -1;
	if (read_meta(fd, 0, 0, &m[0], why, n) == -1)
		return -1;
	if (m[0].psize < 512 || m[0].psize > 65536 ||
	    (m[0].psize & (m[0].psize - 1)) != 0)
		return snprintf(why, n, "its page size %llu is not one LMDB "
		    "uses", (unsigned long long)m[0].psize), -1;
	if (read_meta(fd, 1, m[0].psize, &m[1], why, n) == -1)
		return -1;
	cur = m[1].txnid > m[0].txnid ? &m[1] : &m[0];
	if (cur->last_pg < 1 || cur->last_pg >= size / m[0].psize)
		return snprintf(why, n, "it is %llu bytes, but its meta page "
		    "names page %llu as the last: truncated",
		    (unsigned long long)size,
		    (unsigned long long)cur->last_pg), -1;
	if (check_root(fd, cur->dbs[0], m[0].psize, cur->last_pg, "free",
	    why, n) == -1 || check_root(fd, cur->dbs[1], m[0].psize,
	    cur->last_pg, "main", why, n) == -1)
		return -1;
	return 0;
}

/*
 * Checks the data file in dir, when there is one, before LMDB maps it:
 * not empty, both meta pages of LMDB's format, no shorter than the last
 * page the current meta names, and the roots of its free and main dbs
 * tree pages within it.  Another program committing meanwhile may tear
 * a read, so a failed look is taken again before the env is refused.
 * Returns 0, or -1 with err (CORRUPT).
 */
static int
check_file(struct st_env *e, const char *dir, struct sp_error *err)
{
	char		 path[PATH_MAX], why[160];
	struct stat	 sb;
	int		 fd, i, rc = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, ST_DATA_FILE) >=
	    (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;	/* absent, or LMDB says why */
	for (i = 0; i < 3; i++)
		if ((rc = fstat(fd, &sb)) == 0 && (rc = check_once(fd,
		    (uint64_t)sb.st_size, why, sizeof(why))) == 0)
			break;
	close(fd);
	return rc == 0 ? 0 : damaged(e, err, "%s", why);
}

/*
 * Checks the record of each named db (in the main db) the way
 * check_file() checked the main db's: LMDB reads a named db's root only
 * when it is used.  Returns 0, or -1 with err.
 */
static int
check_dbs(struct st_env *e, MDB_txn *txn, struct sp_error *err)
{
	MDB_envinfo	 info;
	MDB_dbi		 main;
	MDB_val		 k, v;
	char		 why[160];
	unsigned	 i;
	int		 rc;

	if (e->unnamed)
		return 0;
	if ((rc = mdb_env_info(e->env, &info)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &main)) != 0)
		return st_fail(e, err, rc, "open");
	for (i = 0; i < e->ndbs; i++) {
		k.mv_data = e->names[i];
		k.mv_size = strlen(e->names[i]);
		if ((rc = mdb_get(txn, main, &k, &v)) == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return st_fail(e, err, rc, "open db");
		if (v.mv_size != DB_SIZE)
			return damaged(e, err, "the record of db %s is %zu "
			    "bytes", e->names[i], v.mv_size);
		if (check_root(e->fd, v.mv_data, e->psize, info.me_last_pgno,
		    e->names[i], why, sizeof(why)) == -1)
			return damaged(e, err, "%s", why);
	}
	return 0;
}

/* ------------------------------------------------ other processes */

/*
 * Every LMDB process that has an env open holds a shared POSIX lock on
 * byte 0 of its lock.mdb, and takes it exclusive for a moment while it
 * sets the env up; mdb_env_open() waits (F_SETLKW) for an exclusive one
 * to end, and a write transaction waits for another process's writer.
 * storesd keeps a descriptor of its own on lock.mdb to ask the kernel
 * about those locks (F_GETLK never reports the asker's own locks), so it
 * can refuse or reroute what would wait instead of waiting.  It is
 * closed only after mdb_env_close(): closing any descriptor of a file
 * drops every POSIX lock the process holds on it, LMDB's included.
 */

/* The pid holding a lock of type on byte 0 that would conflict; 0. */
static pid_t
lock_holder(int fd, short type)
{
	struct flock	 fl = { .l_type = type, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };

	if (fd == -1 || fcntl(fd, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid > 0 ? fl.l_pid : 1;
}

/*
 * LMDB makes lock.mdb with ftruncate, a sparse file, and writes its
 * reader table through a shared map, first when it opens the env: where
 * the file system cannot back a page of it, that store is a SIGBUS
 * inside LMDB.  So its blocks come first: a new one's past its end
 * (KEEP_SIZE: LMDB's ftruncate takes them up), an old one's as long as
 * it is (allocated already, unless LMDB never wrote all of it: a full
 * disk needs no room for it then).  A full disk is an ENOSPC here.
 * Fills sb with the file's fstat (the device and inode lock_map_add()
 * lists: KEEP_SIZE changes neither).  Returns 0, or -1 with err.
 */
static int
lock_room(struct st_env *e, struct stat *sb, struct sp_error *err)
{
	off_t		 n;

	if (fstat(e->lockfd, sb) == -1)
		return st_fail(e, err, errno, "stat lock.mdb");
	n = sb->st_size > 0 ? sb->st_size : LOCK_ROOM;
	if (fallocate(e->lockfd, FALLOC_FL_KEEP_SIZE, 0, n) == -1 &&
	    errno != EOPNOTSUPP && errno != ENOSYS)
		return st_fail(e, err, errno, "allocate lock.mdb");
	return 0;
}

/* Opens, flocks and allocates lock.mdb in dir before LMDB opens it, and
 * fills sb with its fstat.  Returns 0, or -1 with err: BUSY while
 * another process holds it exclusively, or another storesd has the env
 * open; IO_ERROR on a full disk. */
static int
lock_open(struct st_env *e, const char *dir, struct stat *sb,
    struct sp_error *err)
{
	char	 path[PATH_MAX];
	pid_t	 pid;

	if (snprintf(path, sizeof(path), "%s/lock.mdb", dir) >=
	    (int)sizeof(path))
		return sp_seterr(err, SP_INTERNAL, "%s: path too long",
		    e->label);
	if ((e->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return st_fail(e, err, errno, "open lock.mdb");
	if ((pid = lock_holder(e->lockfd, F_RDLCK)) != 0) {
		log_warnx("%s: %s: process %ld holds %s exclusively; not "
		    "waiting for it", __func__, e->label, (long)pid, path);
		return sp_seterr(err, SP_BUSY, "%s: process %ld holds the "
		    "env's lock.mdb exclusively; storesd does not wait for "
		    "it: retry once it lets go", e->label, (long)pid);
	}
	/* One storesd per env (two could adopt one path = env): storesds
	 * flock lock.mdb, which LMDB's POSIX locks do not see. */
	if (flock(e->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			return st_fail(e, err, errno, "lock lock.mdb");
		log_warnx("%s: %s: another storesd has %s open", __func__,
		    e->label, path);
		return sp_seterr(err, SP_BUSY, "%s: another storesd has this "
		    "env open, and an env is served by one storesd at a time: "
		    "ask that one, or retry once it closed the env",
		    e->label);
	}
	return lock_room(e, sb, err);
}

bool
st_shared(const struct st_env *e)
{
	return lock_holder(e->lockfd, F_WRLCK) != 0;
}

/*
 * Notes the page geometry, and for WRITEMAP the allocation so far: every
 * page up to the last in use (see reserve()).  Returns 0 or -1 with err.
 */
static int
layout_of(struct st_env *e, struct sp_error *err)
{
	MDB_envinfo	 info;
	MDB_stat	 ms;
	struct stat	 sb;
	int		 rc;

	if ((rc = mdb_env_get_fd(e->env, &e->fd)) != 0 ||
	    (rc = mdb_env_stat(e->env, &ms)) != 0 ||
	    (rc = mdb_env_info(e->env, &info)) != 0)
		return st_fail(e, err, rc, "open");
	if (fstat(e->fd, &sb) == 0) {
		e->dev = sb.st_dev;
		e->ino = sb.st_ino;
	}
	e->psize = ms.ms_psize;
	e->map_size = info.me_mapsize;	/* at least what the file holds */
	e->nodemax = (((e->psize - PAGE_HDR) / 2) & ~1U) - 2;
	e->reserved = ((uint64_t)info.me_last_pgno + 1) * e->psize;
	atomic_store(&e->used, e->reserved);
	return 0;
}

static int	meta_open(struct st_env *, MDB_txn *);

/* Opens the handles of the dbs that exist, storesd's own too, in one
 * read txn.  Under open_dbis()' guard. */
static int
do_open_dbis(struct st_env *e, struct sp_error *err)
{
	MDB_txn		*txn;
	unsigned	 i;
	int		 rc;

	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0)
		return st_fail(e, err, rc, "begin");
	guard_holds(txn, NULL);
	if (check_dbs(e, txn, err) == -1)
		goto fail;
	for (i = 0; i < e->ndbs; i++) {
		rc = mdb_dbi_open(txn, e->unnamed ? NULL : e->names[i], 0,
		    &e->dbi[i]);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0) {
			st_fail(e, err, rc, "open db");
			goto fail;
		}
		atomic_store(&e->dbi_ok[i], true);
	}
	if ((rc = meta_open(e, txn)) != 0) {
		st_fail(e, err, rc, "open meta");
		goto fail;
	}
	/* Committing a read txn is what publishes its dbi handles. */
	guard_holds(NULL, NULL);
	if ((rc = mdb_txn_commit(txn)) != 0)
		return st_fail(e, err, rc, "open dbs");
	return 0;
fail:
	guard_holds(NULL, NULL);
	mdb_txn_abort(txn);
	return -1;
}

/*
 * The first reads of the env's trees (the main db's records, storesd's
 * revision state), guarded as every read is: a tree another program
 * damaged while the env was closed may fail one of LMDB's assertions or
 * lead it outside the map here, which aborted or killed storesd.  Then
 * the open is refused CORRUPT, and the file stays refused until it
 * changes (see "wild files").
 */
static int
open_dbis(struct st_env *e, struct sp_error *err)
{
	GUARDED_READ(e, ST_NOSLOT, err, do_open_dbis(e, err));
}

static int	top_commit(struct st_env *, MDB_txn *);
static int	rev_begin(struct st_env *, MDB_txn *, bool, struct sp_error *);
static int	stamp(struct st_env *, MDB_txn *, struct st_job *);
static int	meta_save(struct st_env *, MDB_txn *);
static void	meta_committed(struct st_env *);
static int	wtxn_begin(struct st_env *, MDB_txn *, MDB_txn **,
		    struct sp_error *);

int
st_open(const struct st_params *p, struct st_env **out, struct sp_error *err)
{
	struct st_env	*e;
	int		 rc, dead = 0;
	struct stat	 lsb;
	bool		 existed, absent;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		sp_seterr(err, SP_INTERNAL, "out of memory opening %s",
		    p->label);
		return -1;
	}
	cl_init(&e->commits);
	e->fd = e->lockfd = -1;
	if ((e->label = strdup(p->label)) == NULL ||
	    (e->dir = strdup(p->dir)) == NULL ||
	    (e->rtxn = calloc(p->nslots ? p->nslots : 1,
	    sizeof(*e->rtxn))) == NULL ||
	    (e->held = calloc(p->nslots ? p->nslots : 1,
	    sizeof(*e->held))) == NULL ||
	    (e->srev = calloc(p->nslots ? p->nslots : 1,
	    sizeof(*e->srev))) == NULL ||
	    (e->names = calloc(p->store->ndbs ? p->store->ndbs : 1,
	    sizeof(*e->names))) == NULL) {
		sp_seterr(err, SP_INTERNAL, "out of memory opening %s",
		    p->label);
		goto fail;
	}
	e->map_size = p->store->map_size;
	e->ndbs = p->store->ndbs;
	e->unnamed = p->store->max_dbs == 0;
	e->nslots = p->nslots;
	e->nosync = p->store->sync == CFG_SYNC_NONE;
	e->lazymeta = p->store->sync == CFG_SYNC_FULL;
	e->writemap = (env_flags(p->store->sync) & MDB_WRITEMAP) != 0;
	e->sync_ms = p->store->sync_interval_ms;
	e->revs = !e->unnamed;
	e->hist_max = p->store->history;
	memcpy(e->names, p->store->dbs, e->ndbs * sizeof(*e->names));
	memcpy(e->store, p->store->name, sizeof(e->store));

	existed = data_file(p->dir, &absent);
	if (!p->create && !existed) {
		sp_seterr(err, SP_NOT_FOUND, "%s has no data yet", p->label);
		goto fail;
	}
	/* A new env (no data file a moment ago) has nothing to check: its
	 * open would be an ENOENT, one system call of each new env. */
	if (quar_check(e, p->dir, err) == -1 ||
	    wild_check(e, p->dir, err) == -1 ||
	    (!absent && check_file(e, p->dir, err) == -1) ||
	    lock_open(e, p->dir, &lsb, err) == -1 ||
	    lock_map_add(e, &lsb, err) == -1)
		goto fail;
	e->lock_dev = lsb.st_dev;
	e->lock_ino = lsb.st_ino;
	if ((rc = mdb_env_create(&e->env)) != 0 ||
	    (rc = catch_asserts(e->env, e)) != 0) {
		st_fail(e, err, rc, "create");
		goto fail;
	}
	if ((rc = mdb_env_set_mapsize(e->env, e->map_size)) == 0 &&
	    (e->unnamed || (rc = mdb_env_set_maxdbs(e->env,
	    p->store->max_dbs + ST_META_DBS)) == 0)) {
		rc = mdb_env_open(e->env, p->dir, env_flags(p->store->sync),
		    0600);
	}
	if (rc != 0) {
		st_fail(e, err, rc, "open");
		goto fail;
	}
	if ((rc = mdb_reader_check(e->env, &dead)) != 0) {
		st_fail(e, err, rc, "reader check");
		goto fail;
	}
	if (dead > 0)
		log_notice("%s: %s: cleared %d reader slots left by dead "
		    "processes", __func__, e->label, dead);
	if (layout_of(e, err) == -1)
		goto fail;
	if (open_dbis(e, err) == -1)
		goto fail;
	/*
	 * A storesd killed before it synced its last commits (a meta page
	 * under sync = full, whose writer was never answered) left them in
	 * the page cache: make them durable before anyone reads them.  Only
	 * sync = full defers a meta page (nometa and none promise nothing
	 * of one), and a new env has no such commit: neither pays a sync
	 * at each opening (the many-repos workload opens thousands).
	 */
	if (e->lazymeta && existed && (rc = mdb_env_sync(e->env, 1)) != 0) {
		st_fail(e, err, rc, "sync");
		goto fail;
	}
	e->counted_rev = atomic_load(&e->rev);
	atomic_store(&e->durable_rev, e->counted_rev);
	if (atomic_load(&e->broken) < 0)
		robust_tidy();	/* cut while opening: see "faults" */
	*out = e;
	return 0;
fail:
	st_close(e);
	return -1;
}

void
st_close(struct st_env *e)
{
	unsigned	 i;

	if (e == NULL)
		return;
	if (atomic_load(&e->quarantined)) {
		quar_close(e);
		return;
	}
	if (e->rtxn != NULL)
		for (i = 0; i < e->nslots; i++)
			if (e->rtxn[i] != NULL)
				mdb_txn_abort(e->rtxn[i]);
	/* mdb_env_close does not sync; what sync = none left must go out,
	 * and a meta page sync = full did not sync yet (the writer never
	 * leaves one behind: this is a safety net). */
	if (e->env != NULL && st_close_syncs(e))
		mdb_env_sync(e->env, 1);
	robust_tidy();		/* an open's calls, or a copy's (see "faults") */
	if (e->env != NULL)
		mdb_env_close(e->env);
	zero_pages_close(e);
	if (atomic_load(&e->broken) == FAULT_LOCK)
		fault_note(e);
	lock_map_del(e);
	if (e->lockfd != -1)
		close(e->lockfd);	/* after LMDB let go of its locks */
	if (atomic_load(&e->broken) == FAULT_WILD)
		wild_keep(e);
	cl_fini(&e->commits);
	free(e->rtxn);
	free(e->held);
	free(e->srev);
	free(e->names);
	free(e->label);
	free(e->dir);
	free(e);
}

/* --------------------------------------------------------------- reads */

static int
rtxn_get(struct st_env *e, unsigned slot, MDB_txn **txn)
{
	int	 rc;

	if (slot == ST_NOSLOT || slot >= e->nslots) {
		if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn)) != 0)
			return rc;
		if (begun_broken(e, *txn))
			return MDB_PANIC;	/* refused (st_fail()) */
		guard_holds(*txn, NULL);
		return 0;
	}
	if (e->held[slot] == HOLD_LIVE) {
		*txn = e->rtxn[slot];
		return 0;
	}
	if (e->rtxn[slot] != NULL) {
		if ((rc = mdb_txn_renew(e->rtxn[slot])) == 0)
			goto renewed;
		mdb_txn_abort(e->rtxn[slot]);
		e->rtxn[slot] = NULL;
	}
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &e->rtxn[slot])) !=
	    0) {
		e->rtxn[slot] = NULL;
		return rc;
	}
renewed:
	if (begun_broken(e, e->rtxn[slot])) {
		e->rtxn[slot] = NULL;
		return MDB_PANIC;	/* refused (st_fail()) */
	}
	*txn = e->rtxn[slot];
	if (e->held[slot] == HOLD_WANT)
		e->held[slot] = HOLD_LIVE;
	return 0;
}

static void
rtxn_put(struct st_env *e, unsigned slot, MDB_txn *txn)
{
	if (slot == ST_NOSLOT || slot >= e->nslots) {
		guard_holds(NULL, NULL);
		mdb_txn_abort(txn);
	} else if (e->held[slot] == HOLD_NO)
		mdb_txn_reset(txn);
}

int
st_read_hold(struct st_env *e, unsigned slot, struct sp_error *err)
{
	/* Touches no page (see HOLD_WANT): no guard. */
	if (atomic_load_explicit(&e->broken, memory_order_relaxed) < 0)
		return refused(e, err);
	if (slot < e->nslots && e->held[slot] == HOLD_NO)
		e->held[slot] = HOLD_WANT;
	return 0;
}

void
st_read_done(struct st_env *e, unsigned slot)
{
	if (slot >= e->nslots || e->held[slot] == HOLD_NO)
		return;
	if (e->held[slot] == HOLD_LIVE)
		mdb_txn_reset(e->rtxn[slot]);
	e->held[slot] = HOLD_NO;
}

static int
check_key(size_t klen, struct sp_error *err)
{
	if (!sp_key_ok(klen))
		return sp_seterr(err, SP_BAD_KEY,
		    "the key is %zu bytes; keys are 1 to %d bytes", klen,
		    SP_KEY_MAX);
	return 0;
}

static int
do_get(struct st_env *e, unsigned slot, unsigned db, const void *key,
    size_t klen, st_val_fn fn, void *arg, struct sp_error *err)
{
	MDB_txn	*txn;
	MDB_val	 k, v;
	int	 rc, ret = -1;

	if (check_key(klen, err) == -1)
		return -1;
	if (db >= e->ndbs || !atomic_load(&e->dbi_ok[db]))
		return sp_seterr(err, SP_NOT_FOUND, "no such key");
	if ((rc = rtxn_get(e, slot, &txn)) != 0)
		return st_fail(e, err, rc, "begin read");
	k.mv_data = (void *)key;
	k.mv_size = klen;
	if ((rc = mdb_get(txn, e->dbi[db], &k, &v)) != 0) {
		st_fail(e, err, rc, "get");
		goto done;
	}
	err->code = SP_OK;
	if (fn(arg, v.mv_data, v.mv_size) == -1) {
		if (err->code == SP_OK)
			sp_seterr(err, SP_INTERNAL, "out of memory");
		goto done;
	}
	ret = 0;
done:
	rtxn_put(e, slot, txn);
	return ret;
}

int
st_get(struct st_env *e, unsigned slot, unsigned db, const void *key,
    size_t klen, st_val_fn fn, void *arg, struct sp_error *err)
{
	GUARDED_READ(e, slot, err, do_get(e, slot, db, key, klen, fn, arg,
	    err));
}

/* -------------------------------------------------------------- writes */

/*
 * One write transaction, top-level or nested.  Puts whose keys arrive in
 * order go in with MDB_APPEND (bulk loads: no search, full pages); the
 * first put of a db compares its key with the db's last, each later one
 * with the previous, and any other write to the db ends appending there.
 */
struct wtx {
	struct st_env	*e;
	MDB_txn		*txn;
	bool		 created[CFG_MAX_DBS];	/* dbs created in txn */
	MDB_cursor	*cur[CFG_MAX_DBS];
	signed char	 append[CFG_MAX_DBS];	/* 0 unknown, 1 yes, -1 no */
	MDB_val		 last[CFG_MAX_DBS];	/* the last key appended */
	int		 hist_rc;	/* history could not be written */
};

static void
wtx_init(struct wtx *w, struct st_env *e, MDB_txn *txn, const bool *created)
{
	memset(w, 0, sizeof(*w));
	w->e = e;
	w->txn = txn;
	if (created)
		memcpy(w->created, created, sizeof(w->created));
}

/* Write cursors must be closed before their transaction ends. */
static void
wtx_close_cursors(struct wtx *w)
{
	unsigned	 d;

	for (d = 0; d < w->e->ndbs; d++) {
		if (w->cur[d]) {
			mdb_cursor_close(w->cur[d]);
			w->cur[d] = NULL;
		}
	}
}

/* Opens (creating) the handle of db in the txn. */
static int
wdbi(struct wtx *w, unsigned db, struct sp_error *err)
{
	struct st_env	*e = w->e;
	int		 rc;

	if (atomic_load(&e->dbi_ok[db]) || w->created[db])
		return 0;
	rc = mdb_dbi_open(w->txn, e->unnamed ? NULL : e->names[db], MDB_CREATE,
	    &e->dbi[db]);
	if (rc != 0)
		return st_fail(e, err, rc, "create db");
	w->created[db] = true;
	return 0;
}

/* True when db exists in txn: since open, or created earlier in txn. */
static bool
have_db(const struct wtx *w, unsigned db)
{
	return atomic_load(&w->e->dbi_ok[db]) || w->created[db];
}

static int
cond_failed(struct sp_error *err, const char *why)
{
	return sp_seterr(err, SP_COND_FAILED, "%s; nothing was written",
	    why);
}

/* expect and expect_absent: compare without writing. */
static int
check_expect(struct wtx *w, const struct st_op *op, struct sp_error *err)
{
	MDB_val	 k = { op->klen, (void *)op->key }, v;
	int	 rc = MDB_NOTFOUND;

	if (have_db(w, op->db) &&
	    (rc = mdb_get(w->txn, w->e->dbi[op->db], &k, &v)) != 0 &&
	    rc != MDB_NOTFOUND)
		return st_fail(w->e, err, rc, "read");
	if (op->kind == ST_EXPECT_ABSENT)
		return rc == 0 ? cond_failed(err, "the key exists") : 0;
	if (rc != 0)
		return cond_failed(err, "the key is absent");
	if (v.mv_size != op->vlen || memcmp(v.mv_data, op->val, op->vlen) != 0)
		return cond_failed(err, "the key holds another value");
	return 0;
}

/* True when k may be appended to db: it sorts after every key there. */
static bool
can_append(struct wtx *w, unsigned db, MDB_val *k)
{
	MDB_dbi	 dbi = w->e->dbi[db];
	MDB_val	 lk, lv;
	int	 rc;

	if (w->append[db] < 0)
		return false;
	if (w->cur[db] == NULL) {
		if (mdb_cursor_open(w->txn, dbi, &w->cur[db]) != 0) {
			w->append[db] = -1;
			return false;
		}
		rc = mdb_cursor_get(w->cur[db], &lk, &lv, MDB_LAST);
		w->append[db] = rc == MDB_NOTFOUND ||
		    (rc == 0 && mdb_cmp(w->txn, dbi, k, &lk) > 0) ? 1 : -1;
	} else if (mdb_cmp(w->txn, dbi, k, &w->last[db]) <= 0)
		w->append[db] = -1;
	return w->append[db] > 0;
}

static int
put(struct wtx *w, const struct st_op *op, MDB_val *k, struct sp_error *err)
{
	MDB_val		 v = { op->vlen, (void *)op->val };
	unsigned	 db = op->db;
	int		 rc;

	if (wdbi(w, db, err) == -1)
		return -1;
	if (op->kind == ST_PUT && can_append(w, db, k)) {
		rc = mdb_cursor_put(w->cur[db], k, &v, MDB_APPEND);
		/* The job's copy of the key outlives the transaction. */
		w->last[db] = *k;
	} else {
		w->append[db] = -1;
		rc = mdb_put(w->txn, w->e->dbi[db], k, &v,
		    op->kind == ST_PUT_IF_ABSENT ? MDB_NOOVERWRITE : 0);
	}
	if (rc == MDB_KEYEXIST)
		return cond_failed(err, "the key exists");
	if (rc != 0)
		return st_fail(w->e, err, rc, "write");
	return 0;
}

static int
apply(struct wtx *w, const struct st_op *op, struct sp_error *err)
{
	struct st_env	*e = w->e;
	MDB_val		 k;
	int		 rc;

	if (op->db >= e->ndbs)
		return sp_seterr(err, SP_INTERNAL, "db index out of range");
	if (op->kind != ST_CLEAR && check_key(op->klen, err) == -1)
		return -1;
	k.mv_data = (void *)op->key;
	k.mv_size = op->klen;
	switch (op->kind) {
	case ST_PUT:
	case ST_PUT_IF_ABSENT:
		return put(w, op, &k, err);
	case ST_EXPECT:
	case ST_EXPECT_ABSENT:
		return check_expect(w, op, err);
	case ST_DEL:
	case ST_DEL_ANY:
		w->append[op->db] = -1;
		rc = have_db(w, op->db) ?
		    mdb_del(w->txn, e->dbi[op->db], &k, NULL) : MDB_NOTFOUND;
		if (rc == MDB_NOTFOUND && op->kind == ST_DEL_ANY)
			rc = 0;
		break;
	case ST_CLEAR:
		w->append[op->db] = -1;
		rc = have_db(w, op->db) ?
		    mdb_drop(w->txn, e->dbi[op->db], 0) : 0;
		break;
	default:
		return sp_seterr(err, SP_INTERNAL, "unknown write op");
	}
	if (rc != 0)
		return st_fail(e, err, rc, "write");
	return 0;
}

/* Applies ops in w; returns 0, or -1 with err and *failed. */
static int
apply_all(struct wtx *w, const struct st_op *ops, size_t n, size_t *failed,
    struct sp_error *err)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (apply(w, &ops[i], err) == -1) {
			*failed = i;
			return -1;
		}
	}
	return 0;
}

static int
wtxn_begin(struct st_env *e, MDB_txn *parent, MDB_txn **txn,
    struct sp_error *err)
{
	int	 rc;

	if ((rc = atomic_load(&e->broken)) < 0)
		return refused(e, err);
	if (rc != 0)
		return sp_seterr(err, SP_IO_ERROR, "%s: a sync of this env "
		    "failed (%s), so what reached its disk is unknown and "
		    "storesd takes no more writes for it; nothing was "
		    "written. Check the disk (dmesg), then restart storesd, "
		    "which syncs the env again before serving it", e->label,
		    strerror(rc));
	/* MDB_MAP_RESIZED: not remapped here, where the I/O threads may
	 * hold read transactions of the env (see st_fail()). */
	if ((rc = mdb_txn_begin(e->env, parent, 0, txn)) != 0)
		return st_fail(e, err, rc, "begin write");
	if (begun_broken(e, *txn))
		return refused(e, err);
	return 0;
}

/* ---------------------------------------------------- room for WRITEMAP */

/*
 * With MDB_WRITEMAP (sync = none) LMDB dirties a page by storing into a
 * shared map of data.mdb, which it made as large as map_size with
 * ftruncate: a sparse file.  When the file system cannot back a page,
 * the kernel raises SIGBUS at that store, inside LMDB, where no error
 * can be returned and no handler can unwind safely (LMDB links cursors
 * on the stack into the transaction, and an abort frees them).  So the
 * blocks come first: before a write transaction may touch a page, the
 * file is allocated (posix_fallocate) up to the last page that
 * transaction could reach, and a full disk is an ENOSPC here, before
 * anything was written.  Every page up to the last one in use was
 * written once, so it is backed already; the reservation only runs
 * ahead of them, a step at a time, and stays (LMDB fills it later).
 */

/* What the pages of one transaction are bounded by. */
struct room {
	MDB_txn		*txn;
	bool		 known[CFG_MAX_DBS];	/* db[] read, and touched */
	uint64_t	 copies[CFG_MAX_DBS];	/* pages of it copied */
	uint64_t	 added;		/* pages made: splits, overflow */
	uint64_t	 cleared;	/* pages of cleared dbs */
	/* Last: room_db() fills the entry of a db it reads, so only what
	 * precedes db[] is cleared at every commit (3 KiB less). */
	MDB_stat	 db[CFG_MAX_DBS];
};

static const MDB_stat *
room_db(struct st_env *e, struct room *r, unsigned db)
{
	if (!r->known[db]) {
		memset(&r->db[db], 0, sizeof(r->db[db]));
		if (atomic_load(&e->dbi_ok[db]))
			(void)mdb_stat(r->txn, e->dbi[db], &r->db[db]);
		r->known[db] = true;
	}
	return &r->db[db];
}

/*
 * Adds what op may cost.  A put copies the path to its leaf and may
 * split every page of it (one new page a level, and a new root), plus its
 * overflow pages; a delete copies its path and a sibling a level to
 * merge with, and may split a parent whose separator key grows; a clear
 * frees every page of the db.  A page is copied at most once in a
 * transaction (then it is dirty), which room_total() counts on.
 */
static void
room_op(struct st_env *e, struct room *r, const struct st_op *op)
{
	const MDB_stat	*s;
	uint64_t	 d;

	if (op->db >= e->ndbs)
		return;
	s = room_db(e, r, op->db);
	d = (uint64_t)s->ms_depth + 1;
	switch (op->kind) {
	case ST_PUT:
	case ST_PUT_IF_ABSENT:
		r->copies[op->db] += d;
		r->added += d + 1;
		if (op->klen + op->vlen + NODE_HDR > e->nodemax)
			r->added += (op->vlen + PAGE_HDR + e->psize - 1) /
			    e->psize;
		break;
	case ST_DEL:
	case ST_DEL_ANY:
		r->copies[op->db] += 2 * d;
		r->added += d;
		break;
	case ST_CLEAR:
		r->cleared += s->ms_branch_pages + s->ms_leaf_pages +
		    s->ms_overflow_pages;
		r->added++;
		break;
	default:
		break;
	}
}

/*
 * The pages a transaction of the ops counted may add to the file: the
 * copies (no more than each touched db has pages), the pages made, the
 * main db's records of named dbs, and the free list it saves, which
 * holds every page copied or cleared and at most every overflow page of
 * the touched dbs (overwritten or deleted values).
 */
static uint64_t
room_total(struct st_env *e, struct room *r)
{
	MDB_stat	 main, fr;
	uint64_t	 dm = 1, df = 1, copies = 0, freed = r->cleared, c;
	unsigned	 d;

	for (d = 0; d < e->ndbs; d++) {
		if (!r->known[d])
			continue;
		c = r->db[d].ms_branch_pages + r->db[d].ms_leaf_pages + 1;
		c = r->copies[d] < c ? r->copies[d] : c;
		copies += c;
		freed += c + r->db[d].ms_overflow_pages;
	}
	if (mdb_stat(r->txn, 1, &main) == 0)		/* MAIN_DBI */
		dm = (uint64_t)main.ms_depth + 1;
	if (mdb_stat(r->txn, 0, &fr) == 0)		/* FREE_DBI */
		df = (uint64_t)fr.ms_depth + 1;
	return copies + r->added + 2 * dm * (e->unnamed ? 1 : e->ndbs) +
	    freed * sizeof(uint64_t) / (e->psize - PAGE_HDR) + 1 +
	    2 * df + 16;
}

/*
 * Makes sure the file is allocated far enough for the write transaction
 * running now (top-level, of a WRITEMAP env) to add pages more.  Returns 0, or
 * -1 with err (IO_ERROR on a full disk): then nothing may be written.
 */
static int
reserve(struct st_env *e, uint64_t pages, struct sp_error *err)
{
	MDB_envinfo	 info;
	struct stat	 sb;
	uint64_t	 need, want, step;
	int		 rc;

	if (!e->writemap || (rc = mdb_env_info(e->env, &info)) != 0)
		return 0;
	/*
	 * Another program may have cut the file short since: LMDB opening
	 * it with MDB_WRITEMAP and a smaller map truncates it to that map
	 * (no shorter than the pages in use).  What it cut off is reserved
	 * no more; a page there would be a SIGBUS.  One fstat a commit.
	 */
	if (fstat(e->fd, &sb) == 0 && (uint64_t)sb.st_size < e->reserved)
		e->reserved = (uint64_t)sb.st_size;
	need = ((uint64_t)info.me_last_pgno + 1 + pages) * e->psize;
	if (need > info.me_mapsize)
		need = info.me_mapsize;		/* beyond: MAP_FULL */
	if (need <= e->reserved)
		return 0;
	step = e->reserved / 8 > RESERVE_STEP ? e->reserved / 8 : RESERVE_STEP;
	want = need + step < info.me_mapsize ? need + step : info.me_mapsize;
	rc = posix_fallocate(e->fd, (off_t)e->reserved,
	    (off_t)(want - e->reserved));
	if (rc != 0 && want > need)	/* the step does not fit: the need? */
		rc = posix_fallocate(e->fd, (off_t)e->reserved,
		    (off_t)(want = need) - (off_t)e->reserved);
	if (rc != 0)
		return st_fail(e, err, rc, "write");
	e->reserved = want;
	return 0;
}

/* reserve() for the ops of jobs, in txn. */
static int
reserve_jobs(struct st_env *e, MDB_txn *txn, const struct st_job *jobs,
    size_t n, struct sp_error *err)
{
	struct room	 r;
	size_t		 i, k;

	if (!e->writemap)
		return 0;
	memset(&r, 0, offsetof(struct room, db));
	r.txn = txn;
	for (i = 0; i < n; i++)
		for (k = 0; k < jobs[i].nops; k++)
			room_op(e, &r, &jobs[i].ops[k]);
	return reserve(e, room_total(e, &r), err);
}

/*
 * After a top-level commit, once its revision is the env's: count it,
 * and what it made durable.  Under sync = full (MDB_NOMETASYNC) the
 * commit synced its data pages, and with them the whole file as it was,
 * so every commit before it is now durable but not this one, whose meta
 * page was written after the sync.  In the other modes it is as durable
 * as the mode promises once made.  The durable revision moves first:
 * whoever sees a commit counted durable sees its revision durable too.
 */
static void
counted(struct st_env *e)
{
	uint64_t	 n = atomic_load(&e->ncommits);
	uint64_t	 rev = atomic_load(&e->rev);

	atomic_store(&e->durable_rev, e->lazymeta ? e->counted_rev : rev);
	e->counted_rev = rev;
	atomic_store(&e->ndurable, e->lazymeta ? n : n + 1);
	atomic_store(&e->ncommits, n + 1);
}

/*
 * After the commit of transaction id: publish the dbs it created, note
 * unsynced data, and log when it was made (this env's writer is the
 * only one, so the last txnid is this commit's).  LMDB skips a commit
 * that changed no page (a del of an absent key, an expect that held,
 * jobs that all failed): it writes and syncs nothing and leaves the last
 * txnid behind id, so it is not counted, least of all as the data sync
 * that makes the commit before it durable.
 */
static void
committed(struct st_env *e, size_t id, const bool *created)
{
	MDB_envinfo	 info;
	unsigned	 d;

	bool		 made;

	/* LMDB skips a commit that changed nothing: it syncs nothing, so
	 * it makes nothing durable and is not counted. */
	made = mdb_env_info(e->env, &info) != 0 || info.me_last_txnid >= id;
	if (made) {
		cl_note(&e->commits, id, clock_now_ms());
		atomic_store(&e->used, ((uint64_t)info.me_last_pgno + 1) *
		    e->psize);
	}
	for (d = 0; d < e->ndbs; d++)
		if (created[d])
			atomic_store(&e->dbi_ok[d], true);
	if (e->nosync)
		atomic_store(&e->dirty, true);
	meta_committed(e);
	if (made)
		counted(e);
}

int
st_write(struct st_env *e, const struct st_op *ops, size_t n, size_t *failed,
    struct sp_error *err)
{
	struct st_job	 job = { ops, n, 0, 0, { 0 }, 0 };

	/* Alone, it has no next commit to make it durable: flushed here. */
	if (st_write_group(e, &job, 1, err) == -1 || st_flush(e, err) == -1) {
		*failed = n;
		return -1;
	}
	*failed = job.failed;
	if (job.rc == -1)
		*err = job.err;
	return job.rc;
}

/* One job in a nested transaction of w: its failure is its own. */
static void
nested(struct wtx *w, struct st_job *j)
{
	struct wtx	 c;
	MDB_txn		*txn;
	unsigned	 d;
	int		 rc;

	struct rev_state saved = w->e->t;

	j->failed = j->nops;
	if (w->hist_rc != 0)
		return;		/* the group is to be redone anyway */
	if ((j->rc = wtxn_begin(w->e, w->txn, &txn, &j->err)) == -1)
		return;
	wtx_init(&c, w->e, txn, w->created);
	j->rc = apply_all(&c, j->ops, j->nops, &j->failed, &j->err);
	wtx_close_cursors(&c);
	if (j->rc == 0 && (w->hist_rc = stamp(w->e, txn, j)) != 0)
		j->rc = -1;
	if (j->rc == -1) {
		w->e->t = saved;
		mdb_txn_abort(txn);
		return;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		w->e->t = saved;
		j->rc = st_fail(w->e, &j->err, rc, "commit");
		return;
	}
	for (d = 0; d < w->e->ndbs; d++)
		w->created[d] |= c.created[d];
}

/*
 * All jobs in the one transaction, in order, with no nested ones.
 * Returns 0 when every job applied (txn is then ready to commit), or -1
 * when one failed: txn must then be aborted.
 */
static int
flat(struct wtx *w, struct st_job *jobs, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		jobs[i].failed = jobs[i].nops;
		jobs[i].rc = apply_all(w, jobs[i].ops, jobs[i].nops,
		    &jobs[i].failed, &jobs[i].err);
		if (jobs[i].rc == -1)
			return -1;
		if ((w->hist_rc = stamp(w->e, w->txn, &jobs[i])) != 0)
			return -1;
	}
	return 0;
}

static bool	map_full(const struct st_job *, size_t);
static int	hist_make_room(struct st_env *);

/*
 * A job failed for want of room in the map while history holds some:
 * history never fails a write, so it goes (hist_make_room()) and the
 * write is tried again.
 */
static bool
hist_crowds(const struct st_env *e, const struct st_job *jobs, size_t n)
{
	return e->hist_max > 0 && e->cur.hist_bytes > 0 && map_full(jobs, n);
}

/* Each job in a transaction of its own: the fallback without nesting. */
static int
one_by_one(struct st_env *e, struct st_job *jobs, size_t n)
{
	struct wtx	 w;
	MDB_txn		*txn;
	size_t		 i, id;
	int		 rc;
	bool		 nohist = false;

	for (i = 0; i < n; i++) {
again:
		if ((jobs[i].rc = wtxn_begin(e, NULL, &txn, &jobs[i].err)) == -1)
			continue;
		if ((jobs[i].rc = reserve_jobs(e, txn, &jobs[i], 1,
		    &jobs[i].err)) == -1 ||
		    (jobs[i].rc = rev_begin(e, txn, nohist,
		    &jobs[i].err)) == -1) {
			mdb_txn_abort(txn);
			continue;
		}
		wtx_init(&w, e, txn, NULL);
		rc = flat(&w, &jobs[i], 1);
		wtx_close_cursors(&w);
		if (rc == 0 && (w.hist_rc = meta_save(e, txn)) != 0)
			rc = -1;
		if (rc == -1) {
			mdb_txn_abort(txn);
			if (hist_crowds(e, &jobs[i], 1) &&
			    hist_make_room(e) == 0)
				goto again;
			if (w.hist_rc != 0 && !nohist) {
				nohist = true;	/* see st_write_group() */
				goto again;
			}
			if (w.hist_rc != 0)
				jobs[i].rc = st_fail(e, &jobs[i].err,
				    w.hist_rc, "write revision");
			continue;
		}
		id = mdb_txn_id(txn);
		if ((rc = top_commit(e, txn)) != 0)
			jobs[i].rc = st_fail(e, &jobs[i].err, rc, "commit");
		else
			committed(e, id, w.created);
	}
	return 0;
}

/*
 * LMDB reuses the pages a commit freed only from the commit after next,
 * and a failed write commits nothing.  So once a store (or its disk) is
 * full, a batch that deletes to make room would leave every later write
 * failing: the pages it freed stay out of reach for good.  A commit
 * that changes nothing (a scratch key put and deleted) moves the
 * transaction id on and brings them in reach.  Returns 0 when it
 * committed, -1 when it could not.
 */
static int
release_freed(struct st_env *e)
{
	static const char	 scratch[] = "\377storesd:release-freed";
	MDB_val			 k = { sizeof(scratch) - 1, (void *)scratch };
	MDB_val			 v = { 0, NULL };
	MDB_txn			*txn;
	MDB_dbi			 main;
	struct sp_error		 err;
	int			 rc;

	if (mdb_txn_begin(e->env, NULL, 0, &txn) != 0 ||
	    begun_broken(e, txn))
		return -1;
	if (reserve(e, 64, &err) == -1) {
		mdb_txn_abort(txn);
		return -1;
	}
	/* NOOVERWRITE: never delete a key someone else put there. */
	if ((rc = mdb_dbi_open(txn, NULL, 0, &main)) == 0 &&
	    (rc = mdb_put(txn, main, &k, &v, MDB_NOOVERWRITE)) == 0 &&
	    (rc = mdb_del(txn, main, &k, NULL)) == 0)
		rc = top_commit(e, txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		return -1;
	counted(e);
	log_debug("%s: a write ran out of room; committed nothing to reach "
	    "the pages freed last", e->label);
	return 0;
}

/*
 * Empties history in a commit of its own, then brings the pages that
 * freed in reach (release_freed()): dropped within a write's own
 * transaction, they could not hold that write, since LMDB reuses no
 * page the transaction freed.  The write is then tried again; watchers
 * behind get COMPACTED, as when a history entry finds no room.  Returns
 * 0, or -1 when it could not.
 */
static int
hist_make_room(struct st_env *e)
{
	static const bool	 none[CFG_MAX_DBS];
	struct sp_error		 err;
	MDB_txn			*txn;
	size_t			 id;

	if (wtxn_begin(e, NULL, &txn, &err) == -1)
		return -1;
	if (reserve(e, 64, &err) == -1 ||
	    rev_begin(e, txn, true, &err) == -1 || meta_save(e, txn) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	id = mdb_txn_id(txn);
	if (top_commit(e, txn) != 0)
		return -1;
	committed(e, id, none);
	return release_freed(e);
}

/* A commit failed for want of room in the map or on the disk. */
static bool
out_of_room(const struct st_env *e, int rc)
{
	char	 size[32];

	if (rc == MDB_MAP_FULL)
		return true;
	return (rc == EIO || rc == ENOSPC || rc == EDQUOT) &&
	    disk_full(e, rc, size, sizeof(size));
}

static int	write_group(struct st_env *, struct st_job *, size_t,
		    struct sp_error *);

/* A job failed for want of room in the map. */
static bool
map_full(const struct st_job *jobs, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (jobs[i].rc == -1 && jobs[i].err.code == SP_MAP_FULL)
			return true;
	return false;
}

/*
 * Writes failed for want of room in the map: the operator learns it at
 * warning level, with how full the map is and what to do, at most once
 * a minute per env, since a client retrying in a loop would otherwise
 * flood the log; the next warning counts the failures not logged.
 */
static void
warn_full(struct st_env *e)
{
	MDB_envinfo	 info;
	uint64_t	 now = clock_now_ms(), last, used, pages;
	unsigned	 quiet;
	char		 size[32], more[80] = "";

	last = atomic_load(&e->full_logged_ms);
	if ((last != 0 && now - last < ST_FULL_LOG_MS) ||
	    !atomic_compare_exchange_strong(&e->full_logged_ms, &last,
	    now ? now : 1)) {
		atomic_fetch_add(&e->full_quiet, 1);
		return;
	}
	if ((quiet = atomic_exchange(&e->full_quiet, 0)) > 0)
		snprintf(more, sizeof(more), " (and %u more MAP_FULL "
		    "failures not logged since the last warning)", quiet);
	if (mdb_env_info(e->env, &info) != 0)
		memset(&info, 0, sizeof(info));
	used = (uint64_t)info.me_last_pgno + 1;
	pages = info.me_mapsize / e->psize;
	cfg_format_size(info.me_mapsize, size, sizeof(size));
	log_warnx("%s: %s: MAP_FULL: writes fail, the map is full: %llu of "
	    "%llu pages used (%llu%%), map_size %s; raise map_size in "
	    "[store %s] and reload storesd (SIGHUP)%s", __func__, e->label,
	    (unsigned long long)used, (unsigned long long)pages,
	    (unsigned long long)(pages ? used * 100 / pages : 100), size,
	    e->store, more);
}

/*
 * A quarantine jumped back to g's jump point (quar_jump()): this thread
 * is in no call on the env any more, so a cut of its lock.mdb has no
 * sleep of this thread's to end.  Keeps the env (quar_keep()).  Returns
 * -1 with its refusal in err.
 */
static int
quar_landed(struct guard *g, struct sp_error *err)
{
	user_leave(g->e, g->user);
	quar_keep(g->e);
	robust_tidy();
	return refused(g->e, err);
}

/* Fails every one of the n jobs, and the group, with fault.  -1. */
static int
jobs_fail(struct st_job *jobs, size_t n, const struct sp_error *fault,
    struct sp_error *err)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		jobs[i].rc = -1;
		jobs[i].failed = jobs[i].nops;
		jobs[i].err = *fault;
	}
	*err = *fault;
	return -1;
}

int
st_write_group(struct st_env *e, struct st_job *jobs, size_t n,
    struct sp_error *err)
{
	struct guard	 g;
	struct sp_error	 fault;
	int		 rc;

	if (guard_arm(&g, e, GUARD_PATCH, ST_NOSLOT))
		return refused(e, err);
	/* A fault in it goes on over zeros; only a quarantine jumps back
	 * here (see "quarantine"), and the write's transaction, cursors and
	 * env handle are never touched again. */
	g.quar = true;
	if (sigsetjmp(g.jb, 0) != 0) {
		quar_landed(&g, &fault);
		return jobs_fail(jobs, n, &fault, err);
	}
	rc = write_group(e, jobs, n, err);
	if ((rc == -1 && err->code == SP_MAP_FULL) ||
	    (rc == 0 && map_full(jobs, n)))
		warn_full(e);
	guard_off(&g, 0, &fault);
	/* A page faulted under this write: what LMDB read there was zeros,
	 * not the env, and nothing was committed since (top_commit()).
	 * fault is the env's refusal. */
	if (g.hit)
		return jobs_fail(jobs, n, &fault, err);
	return rc;
}

/* st_write_group() but for the warning. */
static int
write_group(struct st_env *e, struct st_job *jobs, size_t n,
    struct sp_error *err)
{
	struct wtx	 w;
	MDB_txn		*txn;
	size_t		 i, id;
	bool		 retried = false, nohist = false;
	int		 rc;

again:
	if (wtxn_begin(e, NULL, &txn, err) == -1)
		return -1;
	if (reserve_jobs(e, txn, jobs, n, err) == -1 ||
	    rev_begin(e, txn, nohist, err) == -1) {
		mdb_txn_abort(txn);
		return -1;
	}
	wtx_init(&w, e, txn, NULL);
	/*
	 * Nested transactions cost LMDB megabytes of allocation each, so
	 * the group first goes in flat.  Only if a job fails is that undone
	 * and the group redone with each job nested, to fail it alone, or
	 * with each in a transaction of its own where LMDB has no nesting
	 * (MDB_WRITEMAP, whose commits are cheap).
	 */
	rc = flat(&w, jobs, n);
	wtx_close_cursors(&w);
	if (rc == -1 && w.hist_rc != 0 && !nohist) {
		/*
		 * History never fails a write: a write that has no room for
		 * its history is redone without, and history is emptied
		 * (watchers behind it get COMPACTED), which also makes room.
		 */
		mdb_txn_abort(txn);
		nohist = true;
		goto again;
	}
	if (rc == -1) {
		mdb_txn_abort(txn);
		if (!retried && map_full(jobs, n) && release_freed(e) == 0) {
			retried = true;
			goto again;
		}
		if (hist_crowds(e, jobs, n) && hist_make_room(e) == 0)
			goto again;
		if (n == 1)
			return 0;	/* its failure is in jobs[0] */
		if (e->writemap)
			return one_by_one(e, jobs, n);
		if (wtxn_begin(e, NULL, &txn, err) == -1)
			return -1;
		if (rev_begin(e, txn, nohist, err) == -1) {
			mdb_txn_abort(txn);
			return -1;
		}
		wtx_init(&w, e, txn, NULL);
		for (i = 0; i < n; i++)
			nested(&w, &jobs[i]);
	}
	if (w.hist_rc == 0)
		w.hist_rc = meta_save(e, txn);
	if (w.hist_rc != 0) {
		mdb_txn_abort(txn);
		if (!nohist) {
			nohist = true;
			goto again;
		}
		return st_fail(e, err, w.hist_rc, "write revision");
	}
	/* One commit, one sync, for every job that succeeded. */
	id = mdb_txn_id(txn);
	if ((rc = top_commit(e, txn)) != 0) {
		if (!retried && out_of_room(e, rc) && release_freed(e) == 0) {
			retried = true;
			goto again;
		}
		/*
		 * A failed write or sync may have lost pages of the file,
		 * the meta pages of the commits not yet synced among them,
		 * and Linux reports such a loss to one sync only: the next
		 * one may succeed without bringing them back.
		 */
		if (rc > 0 && atomic_load(&e->ndurable) !=
		    atomic_load(&e->ncommits)) {
			atomic_store(&e->lost_upto, atomic_load(&e->ncommits));
			atomic_store(&e->lost, rc);
		}
		return st_fail(e, err, rc, "commit");
	}
	committed(e, id, w.created);
	return 0;
}

int
st_sync(struct st_env *e, uint64_t now_ms, struct sp_error *err)
{
	int	 rc;

	if (!atomic_load(&e->dirty) || now_ms - e->synced_ms < e->sync_ms ||
	    atomic_load(&e->broken) < 0)
		return 0;
	e->synced_ms = now_ms;
	atomic_store(&e->dirty, false);
	if ((rc = mdb_env_sync(e->env, 1)) != 0) {
		atomic_store(&e->dirty, true);
		return st_fail(e, err, rc, "sync");
	}
	return 0;
}

/*
 * A writeback error (EIO) is reported by one sync only, and the pages it
 * lost may be a meta page or a page of a tree the meta page on disk
 * still names.  LMDB, which cannot know, would go on reusing pages on
 * that belief, so a crash later could leave a damaged env: after such a
 * failure the env takes no more writes (wtxn_begin()) until it is opened
 * again (a restart, or an idle close), which syncs it first (st_open())
 * and fails while the disk does.  A full disk (ENOSPC, EDQUOT)
 * fails the write that allocates and loses nothing written before.
 */
static void
broken(struct st_env *e, int rc, const char *what)
{
	int	 was = 0;

	if (rc != EIO || !atomic_compare_exchange_strong(&e->broken, &was, rc))
		return;
	log_warnx("%s: %s: %s failed (%s): what reached the disk is unknown; "
	    "no more writes to this env until storesd is restarted", __func__,
	    e->label, what, strerror(rc));
}

int
st_flush(struct st_env *e, struct sp_error *err)
{
	uint64_t	 n = atomic_load(&e->ncommits);
	int		 rc;

	/* Once a later commit's data sync covered them, or nothing
	 * waited for them, the failure no longer matters. */
	if ((rc = atomic_exchange(&e->lost, 0)) != 0 &&
	    atomic_load(&e->ndurable) < atomic_load(&e->lost_upto)) {
		broken(e, rc, "a commit");
		log_warnx("%s: %s: a commit failed (%s) before the ones ahead "
		    "of it were synced", __func__, e->label, strerror(rc));
		return sp_seterr(err, SP_IO_ERROR, "%s: a commit failed on "
		    "the disk (%s) before the writes ahead of it were synced: "
		    "they are applied but may not be on disk", e->label,
		    strerror(rc));
	}
	if (atomic_load(&e->ndurable) == n)
		return 0;
	/* Not st_fail(): its "nothing was written" is false here.  The
	 * commits this sync was to make durable are applied (readers see
	 * them); only their durability failed, and a client that sent them
	 * again could apply them twice. */
	if ((rc = mdb_env_sync(e->env, 1)) != 0) {
		broken(e, rc, "a sync");
		log_warnx("%s: %s: a sync failed (%s)", __func__, e->label,
		    strerror(rc));
		return sp_seterr(err, SP_IO_ERROR, "%s: a sync failed on the "
		    "disk (%s): the writes are applied but may not be on "
		    "disk", e->label, strerror(rc));
	}
	atomic_store(&e->durable_rev, e->counted_rev);
	atomic_store(&e->ndurable, n);
	return 0;
}

uint64_t
st_durable_rev(const struct st_env *e)
{
	return atomic_load(&e->durable_rev);
}

/* ----------------------------------------------------------- revisions */

/*
 * storesd's own data in an env: its revision ("rev", u64 big-endian),
 * its id ("id", ST_ID_LEN random bytes), the oldest revision history
 * keeps ("oldest") and the bytes history holds ("hist_bytes") are plain
 * keys of the main db, each named META_KEY + its name ('@': no user db
 * can be called so); a store with history keeps each revision's ops in
 * the db @storesd.hist (revision, u64 big-endian, to its ops).  All are
 * written in the transaction of the writes they describe, so they
 * survive whatever the data survives.
 *
 * Keys of the main db rather than a db of their own: a write changes
 * the main db anyway (the record of each db it changes is there), so
 * the revision costs a commit no page of its own, a new env no commit
 * of its own (nothing is made at open: the first write that makes a
 * revision writes the id, in its transaction), and a read no db handle
 * that a transaction begun before it was made could not use.  Envs
 * made by builds that kept them in a db @storesd (META_DB) keep it
 * there (e->legacy).  @storesd.hist is made by the first write that
 * keeps history, so a store without history has none.
 */
#define META_KEY	"@storesd:"
#define META_DB		"@storesd"
#define HIST_DB		"@storesd.hist"

static void
put_be64(unsigned char *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The key of meta datum name (a string literal) in env e: made by the
 * compiler, since reads look one up per request. */
#define META(e, name)	((e)->legacy ?					\
	(MDB_val){ sizeof(name) - 1, (void *)(name) } :			\
	(MDB_val){ sizeof(META_KEY name) - 1, (void *)(META_KEY name) })

/* Reads meta datum k (META()) as a u64 (absent: dflt). */
static int
meta_u64(struct st_env *e, MDB_txn *txn, MDB_val k, uint64_t dflt,
    uint64_t *out)
{
	MDB_val	 v;
	int	 rc;

	if ((rc = mdb_get(txn, e->meta, &k, &v)) == MDB_NOTFOUND) {
		*out = dflt;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	*out = get_be64(v.mv_data);
	return 0;
}

static int
meta_put(struct st_env *e, MDB_txn *txn, MDB_val k, const void *p, size_t n)
{
	MDB_val	 v = { n, (void *)p };

	return mdb_put(txn, e->meta, &k, &v, 0);
}

static int
meta_put_u64(struct st_env *e, MDB_txn *txn, MDB_val k, uint64_t x)
{
	unsigned char	 b[8];

	put_be64(b, x);
	return meta_put(e, txn, k, b, sizeof(b));
}

/* A new env id into e->id. */
static void
new_id(struct st_env *e)
{
	size_t	 got = 0;
	ssize_t	 n;

	while (got < sizeof(e->id)) {
		n = getrandom(e->id + got, sizeof(e->id) - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* No entropy at all: an id that at least differs per moment. */
	if (got < sizeof(e->id)) {
		put_be64(e->id, clock_now_us());
		put_be64(e->id + 8, (uint64_t)getpid() ^ (uint64_t)(uintptr_t)e);
	}
}

/*
 * Reads the committed state into e->cur, e->id and the atomics.  An env
 * no revision was made in yet has no id (rev 0): its first one is
 * chosen with its first revision.  One with revisions but no id (none
 * of storesd's makes one) gets an id now, written with its next one:
 * its revisions are never seen without an id, and a restart before then
 * only changes it again (its watchers read everything anew).
 */
static int
meta_load(struct st_env *e, MDB_txn *txn)
{
	MDB_val		 k = META(e, "id"), v;
	MDB_val		 ko = META(e, "oldest");
	uint64_t	 rev, oldest, bytes;
	bool		 oldest_saved;
	int		 rc;

	if ((rc = meta_u64(e, txn, META(e, "rev"), 0, &rev)) != 0 ||
	    (rc = meta_u64(e, txn, ko, rev + 1, &oldest)) != 0 ||
	    (rc = meta_u64(e, txn, META(e, "hist_bytes"), 0, &bytes)) != 0)
		return rc;
	if ((rc = mdb_get(txn, e->meta, &ko, &v)) != 0 && rc != MDB_NOTFOUND)
		return rc;
	oldest_saved = rc == 0;
	/* Another program's: no next revision, or history kept past the
	 * revision.  The next write would go back to revision 0. */
	if (rev == UINT64_MAX || oldest > rev + 1)
		return MDB_CORRUPTED;
	if ((rc = mdb_get(txn, e->meta, &k, &v)) != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && v.mv_size != ST_ID_LEN)
		return MDB_CORRUPTED;
	if (rc == 0)
		memcpy(e->id, v.mv_data, ST_ID_LEN);
	else if (rev > 0)
		new_id(e);
	atomic_store(&e->has_id, rc == 0 || rev > 0);
	e->cur = (struct rev_state){ rev, oldest, bytes, false, rc == 0,
	    oldest_saved, false };
	atomic_store(&e->rev, rev);
	atomic_store(&e->oldest, oldest);
	return 0;
}

/*
 * Opens what the env keeps of its revisions, in the read txn that opens
 * its dbs (open_dbis()): the main db (or @storesd, an older build's),
 * and @storesd.hist when it exists.  Makes nothing: a write transaction
 * at open would cost each new env a commit of its own, and could wait
 * for another program's writer.  Returns 0 or an LMDB error.
 */
static int
meta_open(struct st_env *e, MDB_txn *txn)
{
	MDB_envinfo	 info;
	int		 rc;

	if (!e->revs)
		return 0;
	if ((rc = mdb_dbi_open(txn, META_DB, 0, &e->meta)) == 0)
		e->legacy = true;
	else if (rc == MDB_NOTFOUND)
		rc = mdb_dbi_open(txn, NULL, 0, &e->meta);
	if (rc == 0 && (rc = mdb_dbi_open(txn, HIST_DB, 0, &e->hist)) == 0)
		atomic_store(&e->hist_ok, true);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = meta_load(e, txn);
	if (rc == 0 && mdb_env_info(e->env, &info) == 0)
		atomic_store(&e->txnid, info.me_last_txnid);
	return rc;
}

/* st_reid()'s write, under its guard. */
static int
reid(struct st_env *e, struct sp_error *err)
{
	MDB_txn	*txn;
	int	 rc;

	if (wtxn_begin(e, NULL, &txn, err) == -1)
		return -1;
	new_id(e);
	atomic_store(&e->has_id, true);
	if ((rc = meta_put(e, txn, META(e, "id"), e->id, ST_ID_LEN)) != 0) {
		mdb_txn_abort(txn);
		return st_fail(e, err, rc, "new id");
	}
	if ((rc = top_commit(e, txn)) != 0)
		return st_fail(e, err, rc, "new id");
	e->cur.id_saved = true;
	counted(e);
	return 0;
}

int
st_reid(struct st_env *e, struct sp_error *err)
{
	struct guard	 g;

	if (!e->revs)
		return 0;
	if (guard_arm(&g, e, GUARD_PATCH, ST_NOSLOT))
		return refused(e, err);
	/* The copy's check (st_verify(), by a restore and a fork) walks
	 * every db, the free db too, which this write's page allocation
	 * reads: what it did not catch and fails an LMDB assertion here
	 * quarantines the copy as a write's env is (see "quarantine"),
	 * never to be touched again. */
	g.quar = true;
	if (sigsetjmp(g.jb, 0) != 0)
		return quar_landed(&g, err);
	if (guard_off(&g, reid(e, err), err) == -1)
		return -1;
	/* Under sync = full its meta page is not synced yet; the copy is
	 * renamed into place once this returns, so it must be durable.
	 * The sync takes no lock and reads only the meta pages: unguarded,
	 * as a write group's (st_flush()). */
	return st_flush(e, err);
}

const unsigned char *
st_env_id(const struct st_env *e)
{
	return e->revs && atomic_load(&e->has_id) ? e->id : NULL;
}

uint64_t
st_last_rev(const struct st_env *e)
{
	return atomic_load(&e->rev);
}

bool
st_has_revs(const struct st_env *e)
{
	return e->revs;
}

bool
st_has_history(const struct st_env *e)
{
	return e->revs && e->hist_max > 0;
}

/*
 * Whether LMDB's last transaction id (in the meta pages) is past ours.
 * Our own commit between its end and noting its id is no sign: looked
 * at only when none runs, before and after reading LMDB's id.  Returns
 * 0 or -1.
 */
static int
do_changed(struct st_env *e, bool *changed)
{
	MDB_envinfo	 info;

	if (mdb_env_info(e->env, &info) != 0)
		return -1;
	*changed = atomic_load(&e->committing) == 0 &&
	    info.me_last_txnid > atomic_load(&e->txnid);
	return 0;
}

static int
look_outside(struct st_env *e, bool *changed, struct sp_error *err)
{
	GUARDED_READ(e, ST_NOSLOT, err, do_changed(e, changed));
}

bool
st_changed_outside(struct st_env *e)
{
	struct sp_error	 err;
	bool		 yes = false;

	if (!e->revs || atomic_load(&e->committing) > 0)
		return false;
	return look_outside(e, &yes, &err) == 0 && yes;
}

/*
 * A history entry: a msgpack array of the revision's ops, each an array
 * [kind (ST_PUT or ST_DEL), db index, key, val or nil].  Only the ops
 * that change data are kept.
 */
static bool
hist_kept(enum st_opkind k)
{
	return k == ST_PUT || k == ST_PUT_IF_ABSENT || k == ST_DEL ||
	    k == ST_DEL_ANY;
}

static int
hist_encode(struct sp_buf *b, const struct st_op *ops, size_t n)
{
	msgpack_packer	 pk;
	size_t		 i;
	uint32_t	 kept = 0;
	bool		 put;

	for (i = 0; i < n; i++)
		kept += hist_kept(ops[i].kind);
	sp_mp_packer(&pk, b);
	msgpack_pack_array(&pk, kept);
	for (i = 0; i < n; i++) {
		if (!hist_kept(ops[i].kind))
			continue;
		put = ops[i].kind == ST_PUT || ops[i].kind == ST_PUT_IF_ABSENT;
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint32(&pk, put ? ST_PUT : ST_DEL);
		msgpack_pack_uint32(&pk, ops[i].db);
		msgpack_pack_bin(&pk, ops[i].klen);
		msgpack_pack_bin_body(&pk, ops[i].key, ops[i].klen);
		if (put) {
			msgpack_pack_bin(&pk, ops[i].vlen);
			msgpack_pack_bin_body(&pk, ops[i].val, ops[i].vlen);
		} else
			msgpack_pack_nil(&pk);
	}
	return b->failed ? -1 : 0;
}

int
st_hist_each(const void *p, size_t n, st_hist_fn fn, void *arg)
{
	struct sp_mp_rd	 rd, op;
	struct st_op	 o;
	struct sp_bytes	 k, v;
	uint64_t	 kind, db;
	uint32_t	 i, count, m;
	int		 rc;

	sp_mp_rd_init(&rd, p, n);
	if (sp_mp_read_array(&rd, &count) == -1)
		return ST_HIST_BAD;
	for (i = 0; i < count; i++) {
		op = rd;
		if (sp_mp_read_array(&op, &m) == -1 || m != 4 ||
		    sp_mp_read_uint(&op, &kind) == -1 ||
		    sp_mp_read_uint(&op, &db) == -1 || db >= CFG_MAX_DBS ||
		    sp_mp_read_bytes(&op, &k) == -1)
			return ST_HIST_BAD;
		v = (struct sp_bytes){ NULL, 0 };
		if (sp_mp_read_nil(&op) == -1 &&
		    sp_mp_read_bytes(&op, &v) == -1)
			return ST_HIST_BAD;
		rd = op;
		o = (struct st_op){ kind == ST_PUT ? ST_PUT : ST_DEL,
		    (unsigned)db, k.p, k.n, v.p, v.n };
		if ((rc = fn(arg, &o)) != 0)
			return rc;
	}
	return 0;
}

/* True when @storesd.hist exists in the writer's transaction. */
static bool
hist_here(struct st_env *e)
{
	return atomic_load(&e->hist_ok) || e->t.hist_made;
}

/* Drops every history entry (a write that could not afford history). */
static int
hist_drop(struct st_env *e, MDB_txn *txn)
{
	int	 rc;

	if (hist_here(e) && (rc = mdb_drop(txn, e->hist, 0)) != 0)
		return rc;
	e->t.hist_bytes = 0;
	e->t.oldest = e->t.rev + 1;
	return 0;
}

/* Trims the oldest entries until history is within its bound. */
static int
hist_trim(struct st_env *e, MDB_txn *txn)
{
	MDB_cursor	*cur;
	MDB_val		 k, v;
	int		 rc = 0;

	if (e->t.hist_bytes <= e->hist_max)
		return 0;
	if ((rc = mdb_cursor_open(txn, e->hist, &cur)) != 0)
		return rc;
	while (e->t.hist_bytes > e->hist_max &&
	    (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		e->t.hist_bytes -= v.mv_size < e->t.hist_bytes ?
		    v.mv_size : e->t.hist_bytes;
		e->t.oldest = get_be64(k.mv_data) + 1;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		e->t.hist_bytes = 0;
		e->t.oldest = e->t.rev + 1;
		rc = 0;
	}
	return rc;
}

/*
 * Gives job j, whose ops applied in txn, the next revision, and keeps
 * its ops in history.  Returns 0 or an LMDB error (the txn is then
 * unusable: the caller redoes the group with history dropped).
 */
static int
stamp(struct st_env *e, MDB_txn *txn, struct st_job *j)
{
	struct sp_buf	 b;
	unsigned char	 key[8];
	MDB_val		 k = { sizeof(key), key }, v;
	int		 rc;

	if (!e->revs)
		return 0;
	j->rev = ++e->t.rev;
	if (e->hist_max == 0 || e->t.nohist) {
		e->t.oldest = e->t.rev + 1;
		return 0;
	}
	memset(&b, 0, sizeof(b));
	if (hist_encode(&b, j->ops, j->nops) == -1) {
		sp_buf_free(&b);
		return ENOMEM;
	}
	put_be64(key, j->rev);
	v = (MDB_val){ b.len, b.data };
	rc = mdb_put(txn, e->hist, &k, &v, MDB_APPEND);
	if (rc == 0) {
		if (e->t.oldest > j->rev)
			e->t.oldest = j->rev;
		e->t.hist_bytes += b.len;
	}
	sp_buf_free(&b);
	return rc;
}

/*
 * Writes the txn's "oldest" into the env, where it differs from what is
 * there.  A store without history keeps none (oldest is the next
 * revision), which is what an absent "oldest" reads as (meta_load(),
 * do_hist_read()): then it is not written at every commit, only deleted
 * where an earlier one (with history) left it.  Returns 0 or an LMDB
 * error.
 */
static int
meta_save_oldest(struct st_env *e, MDB_txn *txn)
{
	MDB_val	 k = META(e, "oldest");
	int	 rc;

	if (e->t.oldest == e->t.rev + 1) {
		if (!e->cur.oldest_saved)
			return 0;
		if ((rc = mdb_del(txn, e->meta, &k, NULL)) != 0 &&
		    rc != MDB_NOTFOUND)
			return rc;
		e->t.oldest_saved = false;
		return 0;
	}
	if (e->cur.oldest_saved && e->t.oldest == e->cur.oldest)
		return 0;
	if ((rc = meta_put_u64(e, txn, k, e->t.oldest)) != 0)
		return rc;
	e->t.oldest_saved = true;
	return 0;
}

/*
 * Writes the txn's revision state into the env, before its commit.  The
 * first revision of an env writes its id too: an id is chosen once per
 * open (a failed commit's is the next one's), and published before the
 * commit, so nobody sees a revision above 0 without the id it counts in.
 * Only what changed is written: "rev" at every commit, "oldest" and
 * "hist_bytes" when they differ from what the env holds (a store without
 * history: never), each a put into the main db that costs a write about
 * what a put of the client's does.
 */
static int
meta_save(struct st_env *e, MDB_txn *txn)
{
	int	 rc;

	if (!e->revs || (e->t.rev == e->cur.rev &&
	    e->t.oldest == e->cur.oldest &&
	    e->t.hist_bytes == e->cur.hist_bytes))
		return 0;
	if (e->hist_max > 0 && !e->t.nohist &&
	    (rc = hist_trim(e, txn)) != 0)
		return rc;
	if (!e->cur.id_saved) {
		if (!atomic_load(&e->has_id)) {
			new_id(e);
			atomic_store(&e->has_id, true);
		}
		if ((rc = meta_put(e, txn, META(e, "id"), e->id,
		    ST_ID_LEN)) != 0)
			return rc;
		e->t.id_saved = true;
	}
	if ((e->t.rev != e->cur.rev &&
	    (rc = meta_put_u64(e, txn, META(e, "rev"), e->t.rev)) != 0) ||
	    (rc = meta_save_oldest(e, txn)) != 0 ||
	    (e->t.hist_bytes != e->cur.hist_bytes &&
	    (rc = meta_put_u64(e, txn, META(e, "hist_bytes"),
	    e->t.hist_bytes)) != 0))
		return rc;
	return 0;
}

/*
 * A write transaction starts from the committed state; with nohist it
 * keeps no history and drops what there was.  Returns 0, or -1 with err.
 */
static int
rev_begin(struct st_env *e, MDB_txn *txn, bool nohist, struct sp_error *err)
{
	int	 rc;

	if (!e->revs)
		return 0;
	e->t = e->cur;
	e->t.nohist = nohist;
	if (nohist && e->hist_max > 0 && (rc = hist_drop(e, txn)) != 0)
		return st_fail(e, err, rc, "drop history");
	/* Made by the first write that keeps history, in its transaction
	 * (the top one: nested ones inherit the handle). */
	if (!nohist && e->hist_max > 0 && !hist_here(e)) {
		if ((rc = mdb_dbi_open(txn, HIST_DB, MDB_CREATE,
		    &e->hist)) != 0)
			return st_fail(e, err, rc, "make history");
		e->t.hist_made = true;
	}
	/* History turned off: what it kept is of no use any more. */
	if (e->hist_max == 0 && e->cur.hist_bytes > 0 &&
	    (rc = hist_drop(e, txn)) != 0)
		return st_fail(e, err, rc, "drop history");
	if (nohist && e->hist_max > 0)
		log_warnx("%s: no room for history beside a write: history "
		    "dropped (watchers behind revision %llu get COMPACTED)",
		    e->label, (unsigned long long)e->t.rev);
	return 0;
}

/*
 * Commits a top-level write txn, noting LMDB's transaction id after it
 * as ours: an id past it is another program's (st_changed_outside()).
 */
static int
top_commit(struct st_env *e, MDB_txn *txn)
{
	MDB_envinfo	 info;
	int		 rc;

	/* A page of the env faulted in this txn (see "faults"): what LMDB
	 * read there was zeros, not the env. */
	if (atomic_load(&e->broken) < 0) {
		mdb_txn_abort(txn);
		return MDB_PANIC;
	}
	atomic_fetch_add(&e->committing, 1);
	if ((rc = mdb_txn_commit(txn)) == 0 && mdb_env_info(e->env, &info) == 0)
		atomic_store(&e->txnid, info.me_last_txnid);
	atomic_fetch_sub(&e->committing, 1);
	return rc;
}

/* After the commit: the txn's state is the env's. */
static void
meta_committed(struct st_env *e)
{
	if (!e->revs)
		return;
	if (e->t.hist_made)
		atomic_store(&e->hist_ok, true);
	e->cur = e->t;
	e->cur.nohist = false;
	e->cur.hist_made = false;
	atomic_store(&e->oldest, e->cur.oldest);
	atomic_store(&e->rev, e->cur.rev);
}

static int
do_rev(struct st_env *e, unsigned slot, uint64_t *rev, struct sp_error *err)
{
	MDB_txn	*txn;
	size_t	 id;
	int	 rc;

	*rev = 0;
	if (!e->revs)
		return 0;
	if ((rc = rtxn_get(e, slot, &txn)) != 0)
		return st_fail(e, err, rc, "begin");
	/*
	 * A snapshot's revision never changes, and a slot's snapshot
	 * changes only with a commit: each slot keeps the last it read, so
	 * the reads of a quiet env look it up once, not once each (a
	 * lookup costs about what the get itself does).
	 */
	id = mdb_txn_id(txn);
	if (slot < e->nslots && id != 0 && e->srev[slot].txnid == id) {
		*rev = e->srev[slot].rev;
		rtxn_put(e, slot, txn);
		return 0;
	}
	rc = meta_u64(e, txn, META(e, "rev"), 0, rev);
	if (rc == 0 && slot < e->nslots)
		e->srev[slot] = (struct slot_rev){ id, *rev };
	rtxn_put(e, slot, txn);
	return rc == 0 ? 0 : st_fail(e, err, rc, "read rev");
}

int
st_rev(struct st_env *e, unsigned slot, uint64_t *rev, struct sp_error *err)
{
	/*
	 * The revision of the turn's held transaction, which this slot read
	 * already (the reads of a turn after the first): no page is touched,
	 * so no guard is set up, and a get costs one sigsetjmp, not two.
	 */
	if (e->revs && slot < e->nslots && e->held[slot] == HOLD_LIVE &&
	    atomic_load_explicit(&e->broken, memory_order_relaxed) >= 0 &&
	    e->srev[slot].txnid != 0 &&
	    e->srev[slot].txnid == mdb_txn_id(e->rtxn[slot])) {
		*rev = e->srev[slot].rev;
		return 0;
	}
	GUARDED_READ(e, slot, err, do_rev(e, slot, rev, err));
}

static int
do_hist_read(struct st_env *e, uint64_t from, uint64_t upto,
    size_t max_bytes, st_rev_fn fn, void *arg, struct st_hist_pos *pos,
    struct sp_error *err)
{
	MDB_txn		*txn;
	MDB_cursor	*cur = NULL;
	MDB_val		 k, v;
	unsigned char	 key[8];
	size_t		 bytes = 0;
	int		 rc, frc;

	memset(pos, 0, sizeof(*pos));
	if (!e->revs)
		return sp_seterr(err, SP_BAD_REQUEST, "%s keeps no revisions",
		    e->label);
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0)
		return st_fail(e, err, rc, "begin");
	guard_holds(txn, NULL);
	if ((rc = meta_u64(e, txn, META(e, "rev"), 0, &pos->current)) != 0 ||
	    (rc = meta_u64(e, txn, META(e, "oldest"), pos->current + 1,
	    &pos->oldest)) != 0)
		goto fail;
	pos->next = from;
	/* No @storesd.hist (yet): nothing kept.  Only a read begun while
	 * the commit that made it ends may see its entries but not its
	 * handle; watchers read only what is counted, which comes after. */
	if (!atomic_load(&e->hist_ok))
		pos->oldest = pos->current + 1;
	if (from < pos->oldest || from > pos->current || from > upto)
		goto done;
	if ((rc = mdb_cursor_open(txn, e->hist, &cur)) != 0)
		goto fail;
	guard_holds(txn, cur);
	put_be64(key, from);
	k = (MDB_val){ sizeof(key), key };
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || get_be64(k.mv_data) != pos->next) {
			rc = MDB_CORRUPTED;	/* a gap in history */
			goto fail;
		}
		if ((frc = fn(arg, pos->next, v.mv_data, v.mv_size)) ==
		    ST_HIST_BAD) {
			/* Not logged: each watch from there would log it
			 * again.  The data itself may be sound. */
			sp_seterr(err, SP_CORRUPT, "%s: the history entry of "
			    "revision %llu in its data.mdb is malformed (made "
			    "or changed by another program); watch from a "
			    "later revision, or restore the env from a "
			    "snapshot", e->label,
			    (unsigned long long)pos->next);
			goto fail_set;
		}
		if (frc == -1) {
			sp_seterr(err, SP_INTERNAL, "out of memory reading "
			    "history of %s", e->label);
			goto fail_set;
		}
		if (frc == 1) {
			rc = 0;		/* stopped within this revision */
			break;
		}
		pos->next++;
		if ((bytes += v.mv_size) >= max_bytes || pos->next > upto)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
done:
	guard_holds(NULL, NULL);
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return 0;
fail:
	st_fail(e, err, rc, "read history");
fail_set:
	guard_holds(NULL, NULL);
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return -1;
}

int
st_hist_read(struct st_env *e, uint64_t from, uint64_t upto,
    size_t max_bytes, st_rev_fn fn, void *arg, struct st_hist_pos *pos,
    struct sp_error *err)
{
	GUARDED_READ(e, ST_NOSLOT, err, do_hist_read(e, from, upto, max_bytes, fn, arg,
	    pos, err));
}

/* ---------------------------------------------------- multi-key reads */

static int
do_count(struct st_env *e, unsigned slot, unsigned db, uint64_t *count,
    struct sp_error *err)
{
	MDB_txn	*txn;
	MDB_stat ms;
	int	 rc;

	*count = 0;
	if (db >= e->ndbs || !atomic_load(&e->dbi_ok[db]))
		return 0;
	if ((rc = rtxn_get(e, slot, &txn)) != 0)
		return st_fail(e, err, rc, "begin read");
	rc = mdb_stat(txn, e->dbi[db], &ms);
	rtxn_put(e, slot, txn);
	if (rc != 0)
		return st_fail(e, err, rc, "stat db");
	*count = ms.ms_entries;
	return 0;
}

int
st_count(struct st_env *e, unsigned slot, unsigned db, uint64_t *count,
    struct sp_error *err)
{
	GUARDED_READ(e, slot, err, do_count(e, slot, db, count, err));
}

static int
do_mget(struct st_env *e, unsigned slot, unsigned db, size_t n,
    st_key_fn key, st_each_fn fn, void *arg, size_t *bad, uint64_t *rev,
    struct sp_error *err)
{
	MDB_txn		*txn = NULL;
	MDB_val		 k, v;
	const void	*kp;
	size_t		 i, kl;
	bool		 exists = db < e->ndbs && atomic_load(&e->dbi_ok[db]);
	int		 rc, ret = -1;

	if (rev != NULL)
		*rev = 0;
	if ((exists || (rev != NULL && e->revs)) &&
	    (rc = rtxn_get(e, slot, &txn)) != 0)
		return st_fail(e, err, rc, "begin read");
	if (rev != NULL && e->revs &&
	    (rc = meta_u64(e, txn, META(e, "rev"), 0, rev)) != 0) {
		rtxn_put(e, slot, txn);
		return st_fail(e, err, rc, "read rev");
	}
	for (i = 0; i < n; i++) {
		if (key(arg, i, &kp, &kl) == -1)
			goto done;
		if (check_key(kl, err) == -1) {
			*bad = i;
			goto done;
		}
		rc = MDB_NOTFOUND;
		if (exists) {
			k.mv_data = (void *)kp;
			k.mv_size = kl;
			rc = mdb_get(txn, e->dbi[db], &k, &v);
			if (rc != 0 && rc != MDB_NOTFOUND) {
				st_fail(e, err, rc, "get");
				goto done;
			}
		}
		if (fn(arg, i, rc == 0 ? v.mv_data : NULL,
		    rc == 0 ? v.mv_size : 0) == -1)
			goto done;
	}
	ret = 0;
done:
	if (txn)
		rtxn_put(e, slot, txn);
	return ret;
}

int
st_mget(struct st_env *e, unsigned slot, unsigned db, size_t n,
    st_key_fn key, st_each_fn fn, void *arg, size_t *bad, uint64_t *rev,
    struct sp_error *err)
{
	GUARDED_READ(e, slot, err, do_mget(e, slot, db, n, key, fn, arg, bad, rev,
	    err));
}

/* ---------------------------------------------------------------- scans */

static int
cmp(MDB_txn *txn, MDB_dbi dbi, const void *a, size_t an, struct sp_bytes b)
{
	MDB_val	 x = { an, (void *)a }, y = { b.n, (void *)b.p };

	return mdb_cmp(txn, dbi, &x, &y);
}

static bool
has_prefix(const MDB_val *k, struct sp_bytes prefix)
{
	return prefix.p == NULL || (k->mv_size >= prefix.n &&
	    memcmp(k->mv_data, prefix.p, prefix.n) == 0);
}

/* The larger of two lower bounds (NULL: none). */
static struct sp_bytes
max_bound(MDB_txn *txn, MDB_dbi dbi, struct sp_bytes a, struct sp_bytes b)
{
	if (a.p == NULL)
		return b;
	if (b.p == NULL)
		return a;
	return cmp(txn, dbi, a.p, a.n, b) >= 0 ? a : b;
}

/* The smaller of two upper bounds (NULL: none). */
static struct sp_bytes
min_bound(MDB_txn *txn, MDB_dbi dbi, struct sp_bytes a, struct sp_bytes b)
{
	if (a.p == NULL)
		return b;
	if (b.p == NULL)
		return a;
	return cmp(txn, dbi, a.p, a.n, b) <= 0 ? a : b;
}

/*
 * The first key after every key starting with prefix, into buf: the
 * prefix with trailing 0xff bytes dropped and the last byte raised.  A
 * prefix of only 0xff bytes has none (p NULL): it runs to the end.
 */
static struct sp_bytes
prefix_end(struct sp_bytes prefix, unsigned char *buf)
{
	struct sp_bytes	 r = { NULL, 0 };
	size_t		 n = prefix.n;

	if (prefix.p == NULL)
		return r;
	while (n > 0 && (unsigned char)prefix.p[n - 1] == 0xff)
		n--;
	if (n == 0)
		return r;
	memcpy(buf, prefix.p, n);
	buf[n - 1]++;
	r.p = (const char *)buf;
	r.n = n;
	return r;
}

/* Puts c on the first entry of the range; MDB_NOTFOUND when empty. */
static int
scan_first(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *c, const struct st_scan *q,
    MDB_val *k, MDB_val *v)
{
	unsigned char	 pbuf[SP_KEY_MAX];
	struct sp_bytes	 b;
	int		 rc;

	if (!q->reverse) {
		b = max_bound(txn, dbi, q->start, q->prefix);
		b = max_bound(txn, dbi, b, q->cursor);
		/* The empty key is below every key (and LMDB refuses it). */
		if (b.p == NULL || b.n == 0)
			return mdb_cursor_get(c, k, v, MDB_FIRST);
		k->mv_data = (void *)b.p;
		k->mv_size = b.n;
		rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
		/* The cursor's own key was handed out on the last page. */
		if (rc == 0 && q->cursor.p != NULL &&
		    cmp(txn, dbi, k->mv_data, k->mv_size, q->cursor) == 0)
			rc = mdb_cursor_get(c, k, v, MDB_NEXT);
		return rc;
	}
	b = min_bound(txn, dbi, q->end, q->cursor);
	b = min_bound(txn, dbi, b, prefix_end(q->prefix, pbuf));
	if (b.p == NULL)
		return mdb_cursor_get(c, k, v, MDB_LAST);
	if (b.n == 0)
		return MDB_NOTFOUND;	/* nothing is below the empty key */
	k->mv_data = (void *)b.p;
	k->mv_size = b.n;
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(c, k, v, MDB_LAST);
	if (rc != 0)
		return rc;
	return mdb_cursor_get(c, k, v, MDB_PREV);	/* below the bound */
}

/* True when k, reached by walking in q's direction, is still in range. */
static bool
in_range(MDB_txn *txn, MDB_dbi dbi, const struct st_scan *q, const MDB_val *k)
{
	if (!has_prefix(k, q->prefix))
		return false;
	if (!q->reverse)
		return q->end.p == NULL ||
		    cmp(txn, dbi, k->mv_data, k->mv_size, q->end) < 0;
	return q->start.p == NULL ||
	    cmp(txn, dbi, k->mv_data, k->mv_size, q->start) >= 0;
}

static int
do_scan(struct st_env *e, unsigned slot, unsigned db, const struct st_scan *q,
    st_entry_fn fn, void *arg, bool *more, struct sp_error *err)
{
	MDB_txn		*txn;
	MDB_cursor	*c = NULL;
	MDB_val		 k, v;
	MDB_cursor_op	 step = q->reverse ? MDB_PREV : MDB_NEXT;
	struct sp_bytes	 last;
	size_t		 n = 0, bytes = 0;
	int		 rc, ret = -1;

	*more = false;
	if (db >= e->ndbs || !atomic_load(&e->dbi_ok[db]))
		return 0;
	if ((rc = rtxn_get(e, slot, &txn)) != 0)
		return st_fail(e, err, rc, "begin read");
	if ((rc = mdb_cursor_open(txn, e->dbi[db], &c)) != 0) {
		st_fail(e, err, rc, "cursor");
		goto done;
	}
	guard_holds(slot < e->nslots ? NULL : txn, c);
	last = q->cursor;
	for (rc = scan_first(txn, e->dbi[db], c, q, &k, &v); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, step)) {
		if (!in_range(txn, e->dbi[db], q, &k))
			break;
		/* No LMDB of the default build writes a longer key; st_entry_fn
		 * may keep one in SP_KEY_MAX bytes (the page's cursor). */
		if (k.mv_size > SP_KEY_MAX) {
			sp_seterr(err, SP_CORRUPT, "%s: its data.mdb is "
			    "damaged (a key of %zu bytes in db %s, over "
			    "LMDB's %d); restore it from a snapshot", e->label,
			    k.mv_size, e->names[db], SP_KEY_MAX);
			goto done;
		}
		/*
		 * Keys come in order, each past the last: not so in a tree
		 * another program damaged (a key cut to nothing, a page
		 * linked twice), where a scan resumed after its last key
		 * would go round for ever.
		 */
		if (last.p != NULL && (q->reverse ? -1 : 1) *
		    cmp(txn, e->dbi[db], k.mv_data, k.mv_size, last) <= 0) {
			sp_seterr(err, SP_CORRUPT, "%s: its data.mdb is "
			    "damaged (keys out of order in db %s); restore "
			    "it from a snapshot", e->label, e->names[db]);
			goto done;
		}
		last = (struct sp_bytes){ k.mv_data, k.mv_size };
		if (n == q->max || bytes >= q->max_bytes) {
			*more = true;
			break;
		}
		if (fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size) == -1)
			goto done;
		n++;
		bytes += k.mv_size + v.mv_size;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		st_fail(e, err, rc, "scan");
		goto done;
	}
	ret = 0;
done:
	guard_holds(slot < e->nslots ? NULL : txn, NULL);
	if (c)
		mdb_cursor_close(c);
	rtxn_put(e, slot, txn);
	return ret;
}

int
st_scan(struct st_env *e, unsigned slot, unsigned db, const struct st_scan *q,
    st_entry_fn fn, void *arg, bool *more, struct sp_error *err)
{
	GUARDED_READ(e, slot, err, do_scan(e, slot, db, q, fn, arg, more, err));
}

/* --------------------------------------------------------- copy, stats */

/*
 * Whether e's data.mdb is shorter than the pages in use: then it is
 * marked broken (a cut no read met yet).  A plain copy reads no page
 * past the file's end, so a copy of a cut file is short, not faulted.
 */
static bool
cut_short(struct st_env *e)
{
	struct stat	 sb;

	if (fstat(e->fd, &sb) == -1 ||
	    (uint64_t)sb.st_size >= atomic_load(&e->used))
		return false;
	fault_mark(e);
	return true;
}

/*
 * The compacting walk.  LMDB's compacting copy (mdb_env_copyfd2 with
 * MDB_CP_COMPACT) walks the tree on the calling thread and hands pages
 * to a writer thread of its own, which waits on a condition variable in
 * the walking thread's frame.  A damaged tree (a branch page with no
 * keys, a leaf flagged a branch) fails one of LMDB's assertions there,
 * which aborts storesd, or has the walk store into its read-only map
 * or read past it, a SIGSEGV storesd died of; and no jump out of the
 * walk is safe: the writer thread would be left waiting on a frame
 * that is gone.  So the walk runs on a thread made for it (walk_copy()),
 * which the caller waits for.  When it fails an assertion, or faults in
 * the map it walks (walk_fault()), it parks for good instead
 * (walk_park()): it never returns, its frame stays valid, and LMDB's
 * writer thread finishes the buffer it has and waits there for good.
 * The caller then marks the env broken by a wild fault (refused CORRUPT,
 * logged once, its file refused until it changes: see "wild files"),
 * and leaves the walk's env handle, its read transaction and its map as
 * they are.  The writer thread holds a descriptor the walk was given,
 * a dup of the caller's: /dev/null is put in its place (dup2), so the
 * caller's pipe sees its end once the caller closes it, and no later
 * write of LMDB's can land in a file that reuses the number.  Each such
 * walk keeps two threads, a descriptor of /dev/null, the walked env's
 * handle and map (a private copy's, whose file is emptied: its room is
 * given back), and a read transaction; PARK_MAX of them at most in a
 * storesd's life, the next one aborts or kills storesd as before,
 * saying so.
 */

/* The walk's thread: the compacting copy of w->env into w->fd. */
static void *
walk_main(void *arg)
{
	struct walk	*w = arg;

	walk_now = w;
	w->rc = mdb_env_copyfd2(w->env, w->fd, MDB_CP_COMPACT);
	walk_now = NULL;
	(void)sem_post(&w->done);
	return NULL;
}

/* A walk of e parked: what the caller does (see above). */
static void
walk_parked(struct st_env *e, struct walk *w)
{
	int	 nfd;

	if ((nfd = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1) {
		(void)dup2(nfd, w->fd);
		close(nfd);
	}
	snprintf(assert_msg, sizeof(assert_msg), "%s", w->msg);
	atomic_store(&e->wild, true);
	fault_mark(e);
	log_warnx("%s: %s: the compacting copy's walk failed (%s); its "
	    "thread and LMDB's copy thread are parked for good (%u of %d "
	    "storesd keeps)", __func__, e->label, w->msg[0] != '\0' ?
	    w->msg : "a fault in the map it walked", atomic_load(&park_n),
	    PARK_MAX);
}

/*
 * The compacting copy of env (of e; its data file: dev, ino) into fd,
 * walked on a thread of its own (see "compacting walk").  Returns 0, an
 * LMDB or errno code; MDB_CORRUPTED with e broken when the walk parked,
 * and then *parked is true: env must never be touched again.
 */
static int
walk_copy(struct st_env *e, MDB_env *env, dev_t dev, ino_t ino, int fd,
    bool *parked)
{
	struct walk	*w;
	pthread_t	 t;
	int		 rc = 0;

	*parked = false;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ENOMEM;
	w->env = env;
	w->dev = dev;
	w->ino = ino;
	if ((w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		rc = errno;
		free(w);
		return rc;
	}
	if (sem_init(&w->done, 0, 0) == -1)
		rc = errno;
	else if ((rc = pthread_create(&t, NULL, walk_main, w)) != 0)
		sem_destroy(&w->done);
	if (rc != 0) {
		close(w->fd);
		free(w);
		return rc;
	}
	while (sem_wait(&w->done) == -1)
		;	/* EINTR: SIGURG (users_wake()) */
	if (atomic_load(&w->parked)) {
		/* w stays: its semaphore may still be in sem_post(). */
		pthread_detach(t);
		walk_parked(e, w);
		*parked = true;
		return MDB_CORRUPTED;
	}
	pthread_join(t, NULL);
	rc = w->rc;
	close(w->fd);
	sem_destroy(&w->done);
	free(w);
	return rc;
}

/* copy_compact() refused the copy for want of room: err says why. */
#define COPY_NOROOM	(-1)

/*
 * Reserves room for a plain copy of e in tfd, an unnamed file on the
 * file system of e's data.mdb, before a byte of it is written: a full
 * disk is then a clean refusal, not a failed write, and copies running
 * at once cannot count the same free space twice.  Each copy takes the
 * env's used size there, on the file system every writer of the env
 * needs, and one reader may run half of snapshot_max of them (quota.c):
 * so the copy is refused, too, when it would leave less than reserve
 * free there (0: a twentieth of the file system) for the writers.
 * Returns 0, an errno code, or COPY_NOROOM with err.
 */
static int
copy_room(struct st_env *e, int tfd, uint64_t reserve, struct sp_error *err)
{
	struct statvfs	 vfs;
	uint64_t	 need = atomic_load(&e->used), avail;
	char		 s_need[32], s_avail[32], s_keep[32];
	int		 rc;

	if ((rc = posix_fallocate(tfd, 0, (off_t)need)) != 0 &&
	    rc != ENOSPC && rc != EDQUOT)
		return rc;
	if (fstatvfs(tfd, &vfs) == -1)
		return errno;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (reserve == 0)
		reserve = (uint64_t)vfs.f_blocks * vfs.f_frsize / 20;
	if (rc == 0 && avail >= reserve)
		return 0;
	cfg_format_size(need, s_need, sizeof(s_need));
	cfg_format_size(avail, s_avail, sizeof(s_avail));
	cfg_format_size(reserve, s_keep, sizeof(s_keep));
	sp_seterr(err, SP_NO_ROOM, "%s: a compacting snapshot first copies "
	    "the env (%s) onto its data disk, which %s %s free, and storesd "
	    "keeps %s free there for writes (snapshot_reserve); free space "
	    "there, or take a plain snapshot, which needs no room on it",
	    e->label, s_need, rc == 0 ? "would then have" : "has only",
	    s_avail, s_keep);
	return COPY_NOROOM;
}

/*
 * A compacting copy of e into fd, from a plain copy of it that no other
 * process can reach: an unnamed file (O_TMPFILE) beside data.mdb, opened
 * read-only, without a lock file, through /proc.  LMDB's compacting walk
 * cannot be guarded: it runs beside a writer thread of LMDB's own, which
 * a jump would leave waiting on the walk's stack, and a page of zeros
 * sends it round the tree's pointers past its cursor's stack; it runs
 * on a thread of its own instead, which parks for good when the walk
 * fails (see "compacting walk").  Walking the map of data.mdb itself, a page
 * cut off by another program was a SIGBUS that killed storesd; the
 * plain copy reads no page past the file's end.  Costs the env's used
 * size on its file system for the copy's time, reserved first
 * (copy_room()), and writing it twice.  Returns 0, an LMDB or errno
 * code, or COPY_NOROOM with err.
 */
static int
copy_compact(struct st_env *e, int fd, uint64_t reserve,
    struct sp_error *err)
{
	MDB_envinfo	 info;
	MDB_stat	 ms;
	MDB_env		*t = NULL;
	struct stat	 sb;
	char		 path[64];
	off_t		 copied;
	bool		 parked;
	int		 tfd, rc;

	/* A file system without unnamed files: the walk of the map, as
	 * LMDB does it, is all there is. */
	if ((tfd = open(e->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) == -1)
		return errno == EOPNOTSUPP ? walk_copy(e, e->env, e->dev,
		    e->ino, fd, &parked) : errno;
	if ((rc = copy_room(e, tfd, reserve, err)) != 0 ||
	    (rc = mdb_env_copyfd2(e->env, tfd, 0)) != 0 || st_faulted(e) ||
	    cut_short(e))
		goto done;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", tfd);
	if ((rc = mdb_env_create(&t)) != 0 ||
	    (rc = catch_asserts(t, e)) != 0 ||
	    (rc = mdb_env_open(t, path, MDB_NOSUBDIR | MDB_NOLOCK |
	    MDB_RDONLY | MDB_NORDAHEAD, 0600)) != 0 ||
	    (rc = mdb_env_info(t, &info)) != 0 ||
	    (rc = mdb_env_stat(t, &ms)) != 0)
		goto done;
	if (fstat(tfd, &sb) == -1) {
		rc = errno;
		goto done;
	}
	/*
	 * LMDB copies no more than the file holds: what it names past that
	 * was cut off meanwhile.  Nobody else can cut the copy.  It was
	 * written with write(2) from its start: its offset is what it
	 * holds (its size is the room reserved).
	 */
	if ((copied = lseek(tfd, 0, SEEK_CUR)) == -1 || (uint64_t)copied <
	    ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize) {
		fault_mark(e);
		goto done;
	}
	rc = walk_copy(e, t, sb.st_dev, sb.st_ino, fd, &parked);
	/* Parked: t is the walk's for good; its file's room goes back (the
	 * walk never touches its map again). */
	if (parked) {
		t = NULL;
		(void)ftruncate(tfd, 0);
	}
done:
	if (t != NULL)
		mdb_env_close(t);
	close(tfd);
	return rc;
}

int
st_copy(struct st_env *e, int fd, bool compact, uint64_t reserve,
    struct sp_error *err)
{
	int	 rc, user;

	/*
	 * Not guarded (see "faults"): LMDB copies on a thread of its own,
	 * which a jump would leave waiting for good.  A plain copy reads
	 * the map with write(2), which meets a page cut off as EFAULT, not
	 * SIGBUS, and copies no page past the file's end: a copy of a file
	 * cut short is short (cut_short()).  A compacting one walks a plain
	 * one (copy_compact()).  A copy of a broken env, or one that read
	 * another thread's page of zeros, is refused.
	 */
	if (st_faulted(e))
		return refused(e, err);
	user = user_enter(e);	/* LMDB takes its writer mutex */
	rc = compact ? copy_compact(e, fd, reserve, err) :
	    mdb_env_copyfd2(e->env, fd, 0);
	user_leave(e, user);
	if (st_faulted(e) || cut_short(e)) {
		robust_tidy();	/* LMDB took its writer mutex: "faults" */
		fault_note(e);
		return refused(e, err);
	}
	if (rc == COPY_NOROOM)
		return -1;
	if (rc != 0)
		return st_fail(e, err, rc, "copy");
	/* A pipe or socket cannot be synced, and need not be. */
	if (fsync(fd) == -1 && errno != EINVAL && errno != EROFS)
		return st_fail(e, err, errno, "sync copy");
	return 0;
}

/* The env's page size and pages in use, for ov_sound(). */
struct pages {
	size_t		 psize;
	uint64_t	 used;
};

/* LMDB's leaf node (MDB_node): its flags at byte 4, its key at byte 8,
 * and, for a value on pages of its own, their first page's number right
 * after the key. */
#define N_FLAGS		4	/* uint16 */
#define N_KEY		8
#define F_BIGDATA	0x01

/*
 * Whether the value v of key k, as a walk's cursor returned them, is
 * sound where LMDB does not look.  A value on pages of its own (overflow
 * pages, its node flagged F_BIGDATA) was read from the page whose number
 * its node holds; that page's header also holds a page number and a
 * count of pages, which LMDB reads when it copies (a compacting
 * snapshot) or frees the value (an overwrite, a delete), but not when it
 * reads it.  A number other than the page's own, or a count other than
 * the value's size needs, sends those elsewhere: a fault of a compacting
 * walk (a parked thread for good), or pages freed that are not the
 * value's (live pages of the tree, for later writes to overwrite, or
 * pages past the file: a write that faults, a quarantine).
 */
static bool
ov_sound(const MDB_val *k, const MDB_val *v, const struct pages *pg)
{
	const unsigned char	*node = (const unsigned char *)k->mv_data -
				    N_KEY;
	const unsigned char	*h = (const unsigned char *)v->mv_data - PG_HDR;
	uint64_t		 want, own;

	if ((get_u(node, N_FLAGS, 2) & F_BIGDATA) == 0)
		return true;	/* in the leaf */
	own = get_u(k->mv_data, k->mv_size, 8);
	want = (PG_HDR - 1 + (uint64_t)v->mv_size) / pg->psize + 1;
	return (get_u(h, PG_FLAGS, 2) & P_KINDS) == P_OVERFLOW &&
	    get_u(h, PG_NO, 8) == own && get_u(h, PG_PAGES, 4) == want &&
	    own < pg->used && want <= pg->used - own;
}

/* Counts the entries of one db by walking every page of it, which
 * LMDB checks as it goes, and checks its values' overflow pages. */
static int
walk_db(struct st_env *e, MDB_txn *txn, MDB_dbi dbi, const struct pages *pg,
    uint64_t *n, struct sp_error *err)
{
	MDB_cursor	*cur;
	MDB_val		 k, v;
	int		 rc;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return st_fail(e, err, rc, "cursor");
	guard_holds(txn, cur);
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (!ov_sound(&k, &v, pg)) {
			rc = MDB_CORRUPTED;
			break;
		}
		(*n)++;
	}
	guard_holds(txn, NULL);
	mdb_cursor_close(cur);
	if (rc == MDB_CORRUPTED)
		return sp_seterr(err, SP_BAD_REQUEST, "%s: a value of %zu "
		    "bytes has a damaged overflow page header (its page "
		    "number, or its count of pages); take the snapshot again "
		    "from a sound env", e->label, v.mv_size);
	if (rc != MDB_NOTFOUND)
		return sp_seterr(err, SP_BAD_REQUEST, "%s: a db is damaged "
		    "(%s)", e->label, mdb_strerror(rc));
	return 0;
}

/* Checks that every named db in the main db is one of the store's. */
static int
check_names(struct st_env *e, MDB_txn *txn, struct sp_error *err)
{
	MDB_cursor	*cur;
	MDB_dbi		 main;
	MDB_val		 k, v;
	unsigned	 i;
	int		 rc;

	if ((rc = mdb_dbi_open(txn, NULL, 0, &main)) != 0 ||
	    (rc = mdb_cursor_open(txn, main, &cur)) != 0)
		return st_fail(e, err, rc, "cursor");
	guard_holds(txn, cur);
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		/* storesd's own (@storesd...): no user db starts with '@'. */
		if (k.mv_size > 0 && *(const char *)k.mv_data == '@')
			continue;
		for (i = 0; i < e->ndbs; i++)
			if (k.mv_size == strlen(e->names[i]) &&
			    memcmp(k.mv_data, e->names[i], k.mv_size) == 0)
				break;
		if (i == e->ndbs) {
			guard_holds(txn, NULL);
			mdb_cursor_close(cur);
			return sp_seterr(err, SP_BAD_REQUEST, "%s: it holds a "
			    "db '%.*s' that the store does not declare; add "
			    "it to the store's dbs, or restore into the store "
			    "it came from", e->label,
			    (int)(k.mv_size > SP_NAME_MAX ? SP_NAME_MAX :
			    k.mv_size), sp_name_check((struct sp_bytes){
			    k.mv_data, k.mv_size }) == 0 ?
			    (const char *)k.mv_data : "(not a name)");
		}
	}
	guard_holds(txn, NULL);
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return sp_seterr(err, SP_BAD_REQUEST, "%s: its main db is "
		    "damaged (%s)", e->label, mdb_strerror(rc));
	return 0;
}

/* st_verify(), guarded: a walk of a damaged tree may fail one of LMDB's
 * assertions or read outside the map. */
static int
do_verify(struct st_env *e, uint64_t *entries, struct sp_error *err)
{
	MDB_envinfo	 info;
	MDB_stat	 ms;
	MDB_txn		*txn;
	unsigned	 i;
	uint64_t	 used, nfree = 0;
	struct pages	 pg;
	char		 need[32], have[32];
	int		 rc, ret = -1;

	*entries = 0;
	if ((rc = mdb_env_info(e->env, &info)) != 0 ||
	    (rc = mdb_env_stat(e->env, &ms)) != 0)
		return st_fail(e, err, rc, "info");
	used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	pg = (struct pages){ ms.ms_psize, (uint64_t)info.me_last_pgno + 1 };
	if (used > e->map_size) {
		cfg_format_size(used, need, sizeof(need));
		cfg_format_size(e->map_size, have, sizeof(have));
		return sp_seterr(err, SP_BAD_REQUEST, "%s: it uses %s and the "
		    "store's map_size is %s; raise map_size and reload",
		    e->label, need, have);
	}
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0)
		return st_fail(e, err, rc, "begin");
	guard_holds(txn, NULL);
	if (!e->unnamed && check_names(e, txn, err) == -1)
		goto done;
	for (i = 0; i < e->ndbs; i++)
		if (atomic_load(&e->dbi_ok[i]) &&
		    walk_db(e, txn, e->dbi[i], &pg, entries, err) == -1)
			goto done;
	/*
	 * And the free pages' db (dbi 0, which a read transaction may walk),
	 * which the copy's first write (st_reid()) allocates from: a
	 * snapshot a client made could otherwise hold damage there that
	 * fails LMDB's assertion in that write, which quarantines the copy
	 * for good, and QUAR_MAX of those would stop storesd.  Here it is
	 * a read's fault: refused, nothing kept.
	 */
	if (walk_db(e, txn, 0, &pg, &nfree, err) == -1)
		goto done;
	ret = 0;
done:
	guard_holds(NULL, NULL);
	mdb_txn_abort(txn);
	return ret;
}

int
st_verify(struct st_env *e, uint64_t *entries, struct sp_error *err)
{
	GUARDED_READ(e, ST_NOSLOT, err, do_verify(e, entries, err));
}

static void
counter(struct sp_counter *c, const char *name, uint64_t v)
{
	c->name = name;
	c->value = v;
}

/* The reader table now, of every process that has the env open. */
struct readers {
	uint64_t	 slots;		/* taken by a thread */
	uint64_t	 active;	/* of those, holding a snapshot */
	uint64_t	 oldest;	/* the oldest snapshot's txnid */
};

/* Reads one line of mdb_reader_list(): "pid thread txnid". */
static int
reader_line(const char *line, void *arg)
{
	struct readers		*r = arg;
	unsigned long long	 txnid;
	char			 tid[64];
	long			 pid;
	int			 n;

	/* The header does not parse; a reset slot's txnid is "-". */
	if ((n = sscanf(line, " %ld %63s %llu", &pid, tid, &txnid)) < 2)
		return 0;
	r->slots++;
	if (n == 3) {
		r->active++;
		if (txnid < r->oldest)
			r->oldest = txnid;
	}
	return 0;
}

static int
do_stats(struct st_env *e, unsigned slot, struct st_stats *s,
    struct sp_error *err)
{
	MDB_envinfo	 info;
	MDB_stat	 ms;
	MDB_txn		*txn;
	struct readers	 rd;
	unsigned	 i;
	uint64_t	 used;
	int		 rc;

	if ((rc = mdb_env_info(e->env, &info)) != 0 ||
	    (rc = mdb_env_stat(e->env, &ms)) != 0)
		return st_fail(e, err, rc, "stat");
	used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	counter(&s->env[0], "map_size", info.me_mapsize);
	counter(&s->env[1], "map_used", used);
	counter(&s->env[2], "map_used_pct",
	    info.me_mapsize ? used * 100 / info.me_mapsize : 0);
	counter(&s->env[3], "page_size", ms.ms_psize);
	counter(&s->env[4], "last_txnid", info.me_last_txnid);
	/*
	 * me_numreaders only ever grows: it is the highest slot used.  The
	 * table itself says who reads now.  The oldest reader's lag is how
	 * many commits it is behind: the pages freed since it began cannot
	 * be reused until it ends.
	 */
	rd.slots = rd.active = 0;
	rd.oldest = info.me_last_txnid;
	mdb_reader_list(e->env, reader_line, &rd);
	counter(&s->env[5], "readers_used", rd.slots);
	counter(&s->env[6], "readers_max", info.me_maxreaders);
	counter(&s->env[7], "oldest_reader_lag",
	    info.me_last_txnid - rd.oldest);
	counter(&s->env[8], "readers_active", rd.active);
	counter(&s->env[9], "oldest_reader_age_ms", rd.active == 0 ? 0 :
	    cl_age_ms(&e->commits, rd.oldest, clock_now_ms()));
	/* Of storesd's last commit (the rev request reads the env's). */
	counter(&s->env[10], "rev", atomic_load(&e->rev));
	counter(&s->env[11], "history_oldest", e->revs && e->hist_max > 0 ?
	    atomic_load(&e->oldest) : 0);

	if ((rc = rtxn_get(e, slot, &txn)) != 0)
		return st_fail(e, err, rc, "begin read");
	s->ndbs = e->ndbs;
	for (i = 0; i < e->ndbs; i++) {
		struct sp_counter *c = s->db[i];

		memset(&ms, 0, sizeof(ms));
		counter(&c[0], "exists", atomic_load(&e->dbi_ok[i]));
		if (atomic_load(&e->dbi_ok[i]) &&
		    (rc = mdb_stat(txn, e->dbi[i], &ms)) != 0) {
			rtxn_put(e, slot, txn);
			return st_fail(e, err, rc, "stat db");
		}
		counter(&c[1], "entries", ms.ms_entries);
		counter(&c[2], "depth", ms.ms_depth);
		counter(&c[3], "branch_pages", ms.ms_branch_pages);
		counter(&c[4], "leaf_pages", ms.ms_leaf_pages);
		counter(&c[5], "overflow_pages", ms.ms_overflow_pages);
	}
	rtxn_put(e, slot, txn);
	return 0;
}

int
st_stats(struct st_env *e, unsigned slot, struct st_stats *s,
    struct sp_error *err)
{
	GUARDED_READ(e, slot, err, do_stats(e, slot, s, err));
}
