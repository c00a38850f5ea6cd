/*
 * layout_repos: the repositories on disk, as a whole (layout.h).
 *
 * Finding every env under data_dir, and the two moves a repository's
 * life needs: an env directory into @tmp before it is removed (drop),
 * and a directory made in @tmp into an env's place (restore).  Each
 * move is one rename(2) inside data_dir's file system, so a crash leaves
 * the whole env or nothing in place, and what it leaves in @tmp is
 * emptied at the next start (lay_init()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "sp_names.h"
#include "store.h"

/* ---------------------------------------------------------------- walk */

struct walk {
	lay_env_fn	 fn;
	void		*arg;
	char		 repo[SP_REPO_MAX + 2];	/* the path below data_dir */
	size_t		 len;
};

/* Calls the walk's fn for the env directory name (an '@' entry) in dfd. */
static int
walk_env(struct walk *w, int dfd, const char *name)
{
	struct stat	 sb;
	char		 file[SP_NAME_MAX + sizeof(ST_DATA_FILE) + 2];
	struct sp_bytes	 store = { name + 1, strlen(name + 1) };

	/* Only what could be an env of a store: the name rule of stores. */
	if (w->len == 0 || sp_name_check(store) == -1 ||
	    snprintf(file, sizeof(file), "%s/%s", name, ST_DATA_FILE) >=
	    (int)sizeof(file))
		return 0;
	if (fstatat(dfd, file, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode))
		return 0;
	return w->fn(w->arg, w->repo, store.p, (uint64_t)sb.st_size);
}

/*
 * Walks directory dfd (taken over: closed here), whose path below
 * data_dir is w->repo.  Repo components and env directories only: '@'
 * names are envs (at the top, storesd's own files), names that are no
 * repo component are not storesd's, symlinks are never followed.
 */
static int
walk_dir(struct walk *w, int dfd)
{
	DIR		*dir;
	struct dirent	*de;
	size_t		 len = w->len, n;
	int		 fd, ret = 0;

	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while (ret == 0 && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '@') {
			ret = walk_env(w, dirfd(dir), de->d_name);
			continue;
		}
		n = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    sp_repo_check((struct sp_bytes){ de->d_name, n },
		    NULL) == -1 || len + (len > 0) + n > SP_REPO_MAX)
			continue;
		if ((fd = openat(dirfd(dir), de->d_name, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;	/* a file, a symlink, or gone */
		w->len = len + (size_t)snprintf(w->repo + len,
		    sizeof(w->repo) - len, "%s%s", len > 0 ? "/" : "",
		    de->d_name);
		ret = walk_dir(w, fd);
		w->len = len;
		w->repo[len] = '\0';
	}
	closedir(dir);
	return ret;
}

int
lay_walk(const char *data_dir, lay_env_fn fn, void *arg)
{
	struct walk	 w = { fn, arg, "", 0 };
	int		 fd;

	if ((fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	return walk_dir(&w, fd);
}

/* ----------------------------------------------------------- the moves */

int
lay_tmp_dir(const char *data_dir, const char *what, char *out, size_t n,
    struct sp_error *err)
{
	if (snprintf(out, n, "%s/%s/%s.XXXXXX", data_dir, LAY_TMP, what) >=
	    (int)n || mkdtemp(out) == NULL)
		return sp_seterr(err, SP_IO_ERROR, "cannot make a temporary "
		    "directory in %s/%s: %s", data_dir, LAY_TMP,
		    strerror(errno));
	return 0;
}

int
lay_trash(const char *data_dir, const char *dir, struct sp_error *err)
{
	char	 tmp[PATH_MAX], dst[PATH_MAX];

	if (lay_tmp_dir(data_dir, "drop", tmp, sizeof(tmp), err) == -1)
		return -1;
	if (snprintf(dst, sizeof(dst), "%s/env", tmp) >= (int)sizeof(dst)) {
		lay_remove_tree(tmp);
		return sp_seterr(err, SP_IO_ERROR, "data_dir is too long");
	}
	if (rename(dir, dst) == -1) {
		if (errno == ENOENT)
			sp_seterr(err, SP_NOT_FOUND, "%s does not exist", dir);
		else
			sp_seterr(err, SP_IO_ERROR, "cannot move %s out of "
			    "the way: %s", dir, strerror(errno));
		lay_remove_tree(tmp);
		return -1;
	}
	/* Gone from its place for good before anything is removed. */
	if (lay_sync_parent(dir) == -1)
		log_warn("%s: syncing the directory of %s", __func__, dir);
	if (lay_remove_tree(tmp) == -1)
		log_warn("%s: removing %s (the next start will)", __func__,
		    tmp);
	return 0;
}

void
lay_prune_repo(const char *data_dir, const char *repo)
{
	char	 path[PATH_MAX];
	char	*slash;
	int	 len;

	len = snprintf(path, sizeof(path), "%s/%s", data_dir, repo);
	if (len < 0 || (size_t)len >= sizeof(path))
		return;
	/* Up from the deepest component; a directory that still holds an
	 * env or a nested repo stays, and so do its parents. */
	for (;;) {
		if (rmdir(path) == -1)
			return;
		if ((slash = strrchr(path, '/')) == NULL ||
		    (size_t)(slash - path) <= strlen(data_dir))
			return;
		*slash = '\0';
	}
}
