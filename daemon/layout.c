#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "store.h"

#define DIR_MODE	0700

/* Appends k bytes of p to out (of n bytes, *len used); false if full. */
static bool
put(char *out, size_t n, size_t *len, const char *p, size_t k)
{
	if (k >= n - *len)
		return false;
	if (k > 0)
		memcpy(out + *len, p, k);
	*len += k;
	return true;
}

/*
 * Built with memcpy, not snprintf: every read of a turn looks its env up
 * by this path, and snprintf cost more than the rest of that lookup.
 * The repo stops at a NUL, as "%.*s" would (a checked repo has none).
 */
int
lay_env_dir(const char *data_dir, const struct cfg_store *st,
    struct sp_bytes repo, char *out, size_t n)
{
	size_t	 len = 0;
	bool	 ok;

	if (st->path != NULL)
		ok = put(out, n, &len, st->path, strlen(st->path));
	else
		ok = put(out, n, &len, data_dir, strlen(data_dir)) &&
		    put(out, n, &len, "/", 1) &&
		    put(out, n, &len, repo.p, repo.n ? strnlen(repo.p, repo.n) :
		    0) &&
		    put(out, n, &len, "/@", 2) &&
		    put(out, n, &len, st->name, strlen(st->name));
	if (!ok) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[len] = '\0';
	return 0;
}

static bool
is_symlink(int dfd, const char *name)
{
	struct stat	 sb;

	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(sb.st_mode);
}

/* Steps from dfd into its subdirectory name; returns the new fd or -1. */
static int
step(int dfd, const char *name, bool create, struct sp_error *err)
{
	int	 fd;

	if (create && mkdirat(dfd, name, DIR_MODE) == -1 && errno != EEXIST)
		goto fail;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd != -1)
		return fd;
fail:
	/* O_NOFOLLOW | O_DIRECTORY on a symlink may say ENOTDIR: look. */
	if (errno == ENOTDIR && is_symlink(dfd, name))
		errno = ELOOP;
	switch (errno) {
	case ENOENT:
		sp_seterr(err, SP_NOT_FOUND, "no such env yet");
		break;
	case ELOOP:
		sp_seterr(err, SP_BAD_REPO, "'%s' under data_dir is a "
		    "symlink; storesd never follows symlinks out of data_dir",
		    name);
		break;
	case ENOTDIR:
	case EEXIST:
		sp_seterr(err, SP_BAD_REPO, "'%s' under data_dir is not a "
		    "directory; move it away", name);
		break;
	default:
		sp_seterr(err, SP_IO_ERROR, "cannot %s '%s' under data_dir: "
		    "%s", create ? "create" : "open", name, strerror(errno));
		break;
	}
	return -1;
}

/* LMDB follows symlinks to its files; refuse them before it does. */
static int
check_files(int dfd, struct sp_error *err)
{
	static const char *const files[] = { ST_DATA_FILE, "lock.mdb" };
	struct stat	 sb;
	size_t		 i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (fstatat(dfd, files[i], &sb, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISREG(sb.st_mode))
			return sp_seterr(err, SP_BAD_REPO, "%s of this env is "
			    "not a regular file; storesd refuses it", files[i]);
	}
	return 0;
}

/*
 * Walks (creating when asked) the components of repo below data_dir.
 * Returns a descriptor of the repo's directory, or -1 with err.
 */
static int
walk_repo(const char *data_dir, struct sp_bytes repo, bool create,
    struct sp_error *err)
{
	char	 comp[SP_REPO_MAX + 1];
	size_t	 i, start = 0;
	int	 dfd, nfd;

	if ((dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot open data_dir %s: "
		    "%s", data_dir, strerror(errno));
	for (i = 0; i <= repo.n; i++) {
		if (i < repo.n && repo.p[i] != '/')
			continue;
		memcpy(comp, repo.p + start, i - start);
		comp[i - start] = '\0';
		start = i + 1;
		nfd = step(dfd, comp, create, err);
		close(dfd);
		if ((dfd = nfd) == -1)
			return -1;
	}
	return dfd;
}

int
lay_prepare(const char *data_dir, const struct cfg_store *st,
    struct sp_bytes repo, bool create, struct sp_error *err)
{
	char	 comp[SP_NAME_MAX + 2];
	int	 dfd, nfd, ret;

	if (st->path != NULL)
		return 0;
	if ((dfd = walk_repo(data_dir, repo, create, err)) == -1)
		return -1;
	snprintf(comp, sizeof(comp), "@%s", st->name);
	nfd = step(dfd, comp, create, err);
	close(dfd);
	if (nfd == -1)
		return -1;
	ret = check_files(nfd, err);
	close(nfd);
	return ret;
}

int
lay_prepare_repo(const char *data_dir, const char *repo, struct sp_error *err)
{
	struct sp_bytes	 r = { repo, strlen(repo) };
	int		 dfd;

	if ((dfd = walk_repo(data_dir, r, true, err)) == -1)
		return -1;
	close(dfd);
	return 0;
}

static int
mkdirs(char *path)
{
	char	*p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, DIR_MODE) == -1 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, DIR_MODE) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
lay_lock(const char *data_dir, struct sp_error *err)
{
	char	 path[PATH_MAX], pid[32] = "";
	ssize_t	 n;
	int	 fd;

	if (snprintf(path, sizeof(path), "%s", data_dir) >= (int)sizeof(path) ||
	    mkdirs(path) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot create data_dir %s: "
		    "%s", data_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", data_dir, LAY_LOCK);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0640)) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot open %s: %s", path,
		    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		return sp_seterr(err, SP_BUSY, "another storesd%s%s is using "
		    "data_dir %s; stop it first, or give this one another "
		    "data_dir (-d)", pid[0] ? " (pid " : "", pid[0] ?
		    strcat(pid, ")") : "", data_dir);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s: %s", __func__, path);
	return fd;
}

int
lay_root(const char *data_dir, int lockfd, char *root, size_t n,
    struct sp_error *err)
{
	char		 path[PATH_MAX];
	struct stat	 a, b;
	int		 fd;

	if ((fd = open(data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot open data_dir %s: "
		    "%s", data_dir, strerror(errno));
	snprintf(root, n, "/proc/self/fd/%d", fd);
	snprintf(path, sizeof(path), "%s/%s", root, LAY_LOCK);
	if (stat(path, &a) == -1 || fstat(lockfd, &b) == -1 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(fd);
		return sp_seterr(err, SP_IO_ERROR, "cannot hold data_dir %s "
		    "by descriptor: %s does not lead to its lock file (is "
		    "/proc mounted? was data_dir replaced?)", data_dir, path);
	}
	return fd;
}

int
lay_init(const char *data_dir, struct sp_error *err)
{
	char	 path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", data_dir, LAY_TMP) >=
	    (int)sizeof(path))
		return sp_seterr(err, SP_INTERNAL, "data_dir is too long");
	if (mkdirs(path) == -1 && errno != EEXIST)
		return sp_seterr(err, SP_IO_ERROR, "cannot create %s: %s",
		    path, strerror(errno));
	/* What is in @tmp was a fork that never finished: drop it. */
	if (lay_remove_tree(path) == -1 || mkdir(path, 0700) == -1)
		return sp_seterr(err, SP_IO_ERROR, "cannot empty %s: %s",
		    path, strerror(errno));
	return 0;
}

int
lay_sync_parent(const char *path)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd, rc;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	if ((slash = strrchr(dir, '/')) == NULL)
		return -1;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

int
lay_remove_tree(const char *dir)
{
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == -1 &&
	    errno != ENOENT)
		return -1;
	return 0;
}
