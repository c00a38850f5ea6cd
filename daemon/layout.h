/*
 * layout: where envs live on disk.
 *
 * Owns: the mapping from (repo, store) to a directory, and making those
 * directories.  The env of repo R in store S is
 *
 *	DATA_DIR/R/@S/		(data.mdb, lock.mdb)
 *
 * R's '/'-separated components are directories.  '@' cannot appear in a
 * repo component, so an env directory never collides with a repo
 * directory: repo "refs" (DATA_DIR/refs/@refs) and store refs of repo
 * "a" (DATA_DIR/a/@refs) stay apart, and nested repos "a" and "a/b"
 * (DATA_DIR/a/@refs and DATA_DIR/a/b/@refs) never share an env.  The
 * daemon's own files start with '@' at the top (DATA_DIR/@tmp), out of
 * every repo's way.  A store with `path =` has exactly that one env.
 */
#ifndef LAYOUT_H
#define LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sp_error.h"
#include "sp_mp.h"

#define LAY_TMP		"@tmp"
#define LAY_LOCK	"@storesd.lock"

/*
 * Writes the env directory of (repo, st) into out.  repo.p is NULL for a
 * fixed-path store.  Returns 0, or -1 (ENAMETOOLONG).
 */
int	lay_env_dir(const char *data_dir, const struct cfg_store *st,
	    struct sp_bytes repo, char *out, size_t n);

/*
 * Makes sure the directories leading to the env of (repo, st) exist
 * below data_dir, creating them when create is set, and refusing any
 * component that is a symlink or not a directory, so an env can never
 * end up outside data_dir.  A fixed-path store has nothing to prepare.
 * Returns 0, or -1 with err: NOT_FOUND (missing and !create), BAD_REPO
 * (a symlink or a file in the way), IO_ERROR.
 */
int	lay_prepare(const char *data_dir, const struct cfg_store *st,
	    struct sp_bytes repo, bool create, struct sp_error *err);

/* Creates the directories of repo itself (for a fork's destination),
 * with the same refusals as lay_prepare().  Returns 0 or -1 with err. */
int	lay_prepare_repo(const char *data_dir, const char *repo,
	    struct sp_error *err);

/*
 * Creates data_dir (and parents) and takes DATA_DIR/@storesd.lock for the
 * daemon's life, so that no two storesd ever map the same envs: a second
 * one is refused, with the first one's pid.  Returns the lock's
 * descriptor (keep it open), or -1 with err.
 */
int	lay_lock(const char *data_dir, struct sp_error *err);

/*
 * Holds data_dir by descriptor: opens it and writes into root the name
 * that reaches it through that descriptor ("/proc/self/fd/N"), checked
 * to hold the very lock file lockfd (lay_lock()) has open.  Every later
 * file call below data_dir goes through root, so data_dir replaced
 * while storesd runs (by a symlink, say) leads none of them elsewhere.
 * Also flocks the directory itself: the lock file can be removed or
 * replaced, the directory's inode cannot, so no two storesds ever serve
 * one directory.  Returns the descriptor (keep it open), or -1 with
 * err (no /proc, data_dir replaced since it was locked, or BUSY:
 * another storesd holds the directory).
 */
int	lay_root(const char *data_dir, int lockfd, char *root, size_t n,
	    struct sp_error *err);

/*
 * True when the path data_dir no longer leads to the directory rootfd
 * holds (moved, removed or replaced while storesd runs); then now says
 * where that directory is ("... (deleted)" when removed).
 */
bool	lay_moved(const char *data_dir, int rootfd, char *now, size_t n);

/* Creates DATA_DIR/@tmp, emptying it of what a crashed fork left; call
 * it with the lock held.  Returns 0, or -1 with err. */
int	lay_init(const char *data_dir, struct sp_error *err);

/* fsyncs the directory holding path; returns 0 or -1. */
int	lay_sync_parent(const char *path);

/* Removes a directory tree made by a failed fork; returns 0 or -1. */
int	lay_remove_tree(const char *dir);

/* layout_repos.c: the repositories on disk as a whole. */

/* Receives an env found on disk: its repo, store and data file size. */
typedef int	(*lay_env_fn)(void *arg, const char *repo, const char *store,
		    uint64_t size);
/*
 * Calls fn for every env directory under data_dir that holds a data
 * file, in directory order (not sorted).  Follows no symlink and skips
 * what is not a repo component or an env of a valid store name.  Stops
 * at fn's -1.  Returns 0, or -1 (errno, or fn's -1).
 */
int	lay_walk(const char *data_dir, lay_env_fn fn, void *arg);
/* Makes a new directory DATA_DIR/@tmp/WHAT.XXXXXX into out.  Returns 0,
 * or -1 with err (IO_ERROR). */
int	lay_tmp_dir(const char *data_dir, const char *what, char *out,
	    size_t n, struct sp_error *err);
/*
 * Drops env directory dir: renames it into @tmp in one step (so nothing
 * sees half of it, and a crash leaves it whole or in @tmp, which the
 * next start empties), syncs its parent, then removes it.  Nothing may
 * have it open.  Returns 0, or -1 with err: NOT_FOUND, IO_ERROR.
 */
int	lay_trash(const char *data_dir, const char *dir, struct sp_error *err);
/* Removes the directories of repo that are left empty, deepest first. */
void	lay_prune_repo(const char *data_dir, const char *repo);

#endif
