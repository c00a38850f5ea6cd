/*
 * The anchors: what no daemon can beat.  A bare Unix-socket request and
 * reply with no work done (a forked echo server), and in-process LMDB
 * doing the same bulk load storesd is asked to do, and the data disk's
 * sync rate, the limit of durable commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "bench.h"

/* About the sizes of a get request and its reply with a 100-byte value. */
#define REQ_SIZE	40
#define REP_SIZE	120

static int
full(int fd, void *buf, size_t n, int writing)
{
	size_t	 off = 0;
	ssize_t	 k;

	while (off < n) {
		k = writing ? write(fd, (char *)buf + off, n - off) :
		    read(fd, (char *)buf + off, n - off);
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

static void
echo_server(int lfd)
{
	char	 buf[REP_SIZE];
	int	 fd;

	memset(buf, 'r', sizeof(buf));
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(1);
	while (full(fd, buf, REQ_SIZE, 0) == 0 &&
	    full(fd, buf, REP_SIZE, 1) == 0)
		;
	_exit(0);
}

int
measure_bare_rtt(struct run *r, struct measure *m)
{
	struct sockaddr_un	 sun;
	char			 buf[REP_SIZE];
	uint64_t		 t0, t, end;
	pid_t			 pid;
	int			 lfd, fd, status;

	memset(m, 0, sizeof(*m));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/echo.sock", r->sockdir);
	unlink(sun.sun_path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 1) == -1)
		return -1;
	if ((pid = fork()) == 0)
		echo_server(lfd);
	close(lfd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return -1;
	memset(buf, 'q', sizeof(buf));
	t0 = now_ns();
	end = t0 + (uint64_t)(r->seconds * 1e9);
	while ((t = now_ns()) < end) {
		if (full(fd, buf, REQ_SIZE, 1) == -1 ||
		    full(fd, buf, REP_SIZE, 0) == -1)
			break;
		hist_add(&m->h, now_ns() - t);
	}
	m->n = m->h.n;
	m->ops = (double)m->n / ((double)(now_ns() - t0) / 1e9);
	close(fd);
	waitpid(pid, &status, 0);
	unlink(sun.sun_path);
	return 0;
}

int
measure_lmdb_bulk(struct run *r, int round, struct measure *m)
{
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_val		 k, v;
	char		 dir[300], key[16], val[VALUE_SIZE];
	uint64_t	 t0, t;
	unsigned	 i = 0, j;
	int		 rc = -1;

	memset(m, 0, sizeof(*m));
	memset(val, 'v', sizeof(val));
	snprintf(dir, sizeof(dir), "%s/lmdb-bulk%d", r->dir, round);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	if (mdb_env_create(&env) != 0)
		return -1;
	if (mdb_env_set_mapsize(env, 4ULL << 30) != 0 ||
	    mdb_env_open(env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600) != 0)
		goto done;
	t0 = now_ns();
	/* The same as storesd is asked to do: sorted keys, batches of
	 * bulk_batch, each a durable commit, MDB_APPEND as storesd uses. */
	while (i < r->bulk_keys) {
		t = now_ns();
		if (mdb_txn_begin(env, NULL, 0, &txn) != 0 ||
		    mdb_dbi_open(txn, NULL, 0, &dbi) != 0)
			goto done;
		for (j = 0; j < r->bulk_batch && i < r->bulk_keys; j++, i++) {
			key_of(key, i);
			k.mv_data = key;
			k.mv_size = strlen(key);
			v.mv_data = val;
			v.mv_size = sizeof(val);
			if (mdb_put(txn, dbi, &k, &v, MDB_APPEND) != 0) {
				mdb_txn_abort(txn);
				goto done;
			}
		}
		if (mdb_txn_commit(txn) != 0)
			goto done;
		hist_add(&m->h, now_ns() - t);
	}
	m->n = r->bulk_keys;
	m->ops = (double)m->n / ((double)(now_ns() - t0) / 1e9);
	rc = 0;
done:
	mdb_env_close(env);
	return rc;
}

/*
 * What the disk allows each side's durable writes.  With pages > 0, as an
 * LMDB commit: that many 4 KiB pages at scattered offsets of a file
 * written and synced in advance (so a sync flushes data and no size
 * change), then one fdatasync.  With pages 0, as Redis's appendfsync
 * always: 2 KiB (16 SETs of 100-byte values) appended to a growing file,
 * then one fdatasync.
 */
#define DISK_PAGES	4096		/* 16 MiB, as many leaves as 100k keys */
#define DISK_APPEND	2048

int
measure_disk_sync(struct run *r, int pages, struct measure *m)
{
	char		 path[300], page[4096];
	uint64_t	 t0, t, end, i, seed = 0x9e3779b97f4a7c15ULL;
	off_t		 off, tail = 0;
	int		 fd, k, rc = -1;

	memset(m, 0, sizeof(*m));
	memset(page, 's', sizeof(page));
	snprintf(path, sizeof(path), "%s/disk-sync", r->dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	for (i = 0; pages > 0 && i < DISK_PAGES; i++)
		if (pwrite(fd, page, sizeof(page), (off_t)(i * sizeof(page))) !=
		    (ssize_t)sizeof(page))
			goto done;
	if (fsync(fd) == -1)
		goto done;
	t0 = now_ns();
	end = t0 + (uint64_t)(r->seconds * 1e9);
	for (i = 0; (t = now_ns()) < end; i++) {
		for (k = 0; k < pages; k++) {
			off = (off_t)(xorshift(&seed) % DISK_PAGES);
			if (pwrite(fd, page, sizeof(page),
			    off * (off_t)sizeof(page)) != (ssize_t)sizeof(page))
				goto done;
		}
		if (pages == 0) {
			if (pwrite(fd, page, DISK_APPEND, tail) != DISK_APPEND)
				goto done;
			tail += DISK_APPEND;
		}
		if (fdatasync(fd) == -1)
			goto done;
		hist_add(&m->h, now_ns() - t);
	}
	m->n = i;
	m->ops = (double)m->n / ((double)(now_ns() - t0) / 1e9);
	rc = 0;
done:
	if (rc == -1)
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
	close(fd);
	unlink(path);
	return rc;
}
