#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "job.h"
#include "log.h"
#include "quota.h"
#include "registry.h"
#include "snap.h"
#include "store.h"

#define PIPE_SIZE	(1024 * 1024)	/* storesd's pipe, when allowed */
#define SNAP_BUF	(64 * 1024)	/* for targets that are not pipes */
#define SNAP_SPLICE	(1024 * 1024)	/* per splice() call */
#define SNAP_STACK	(1024 * 1024)	/* per thread */

/*
 * The limits a snapshot runs under, read from the configuration when
 * it is admitted (in its I/O thread's turn): a snapshot that starts
 * later, in the place of one that ends, starts on that thread, where a
 * reload may free the configuration at any moment.
 */
struct snap_limits {
	uint64_t	 timeout_ms;	/* snapshot_timeout */
	uint64_t	 max_ms;	/* snapshot_max_time */
	unsigned	 max;		/* snapshot_max */
	uint64_t	 reserve;	/* snapshot_reserve */
};

/* A snapshot over snapshot_max, waiting for one to end: it holds its
 * job (an env reference, the client's descriptor), no thread, and its
 * place in its uid's share (quota.h). */
struct waiter {
	struct waiter	*next;
	struct job	*j;
	uid_t		 uid;		/* the peer's */
	uint64_t	 until;		/* ms: then BUSY */
	struct snap_limits lim;
};

struct snap_set {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	unsigned	 running;	/* holding places: snapshot_max */
	/* Started and not yet through job_finish(), which may outlast the
	 * place (given back before the reply): snap_free() waits for
	 * these too, since their replies go to the loops' mailboxes. */
	unsigned	 unfinished;
	bool		 stopping;
	int		 bell;		/* eventfd: readable once stopping */
	struct waiter	*head;		/* oldest first */
	struct waiter	*tail;
};

static void	launch(struct snap_set *set, struct job *j, uid_t uid,
		    const struct snap_limits *lim);
static void	refuse(struct job *j, const char *why, unsigned max);

/* How the feeder writes the client's descriptor without blocking on it. */
enum snap_target {
	TO_FILE,	/* regular file, block device: waits on a disk only;
			   splice() */
	TO_WRITE,	/* the same, where splice() is refused: write() */
	TO_PIPE,	/* splice(SPLICE_F_NONBLOCK) */
	TO_SOCKET,	/* send(MSG_DONTWAIT) */
	TO_DEVICE,	/* anything else: poll(), then up to PIPE_BUF */
};

struct snap {
	struct snap_set	*set;
	struct job	*j;
	uid_t		 uid;		/* the peer's: holds its place */
	pthread_t	 copier;
	int		 in;		/* our pipe: the feeder's end */
	int		 out;		/* our pipe: the copier's end */
	enum snap_target target;
	uint64_t	 timeout_ms;	/* snapshot_timeout */
	uint64_t	 deadline;	/* ms: SNAP_PROGRESS more by then */
	uint64_t	 max_ms;	/* snapshot_max_time */
	uint64_t	 reserve;	/* snapshot_reserve */
	uint64_t	 end;		/* ms: the whole snapshot by then */
	uint64_t	 since;		/* bytes taken since it was set */
	uint64_t	 written;	/* bytes the client's fd took */
	char		*buf;		/* SNAP_BUF, for sockets, devices */
	size_t		 off, len;	/* buf[off, len) is still to write */
	int		 copy_rc;
	struct sp_error	 copy_err;
};

/* Feeding stops: the client's descriptor failed or stalled (FD_ERROR),
 * or storesd stops (BUSY). */
#define FEED_FAIL	(-1)
/* A file that refuses splice() (O_APPEND, some file systems). */
#define FEED_NOSPLICE	(-2)

/* ------------------------------------------------------------- the set */

struct snap_set *
snap_new(void)
{
	struct snap_set	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

int
snap_bell(struct snap_set *s)
{
	return s->bell;
}

unsigned
snap_running(struct snap_set *s)
{
	unsigned	 n;

	pthread_mutex_lock(&s->mtx);
	n = s->running;
	pthread_mutex_unlock(&s->mtx);
	return n;
}

void
snap_stop(struct snap_set *s)
{
	uint64_t	 one = 1;

	struct waiter	*w, *next;

	pthread_mutex_lock(&s->mtx);
	s->stopping = true;
	w = s->head;
	s->head = s->tail = NULL;
	pthread_mutex_unlock(&s->mtx);
	/* Stays readable: every feeder's poll() sees it, now and later. */
	(void)!write(s->bell, &one, sizeof(one));
	for (; w != NULL; w = next) {
		next = w->next;
		quota_give(QUOTA_PLACES, w->uid, 1);	/* before the reply */
		refuse(w->j, "stopping", 0);
		free(w);
	}
}

void
snap_expire(struct snap_set *s)
{
	struct waiter	*w, **pp, *gone = NULL;
	uint64_t	 now = clock_now_ms();

	pthread_mutex_lock(&s->mtx);
	s->tail = NULL;
	for (pp = &s->head; (w = *pp) != NULL; ) {
		if (w->until <= now) {
			*pp = w->next;
			w->next = gone;
			gone = w;
		} else {
			s->tail = w;
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&s->mtx);
	for (; (w = gone) != NULL; free(w)) {
		gone = w->next;
		quota_give(QUOTA_PLACES, w->uid, 1);	/* before the reply */
		refuse(w->j, "waited", w->lim.max);
	}
}

void
snap_free(struct snap_set *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	while (s->running > 0 || s->unfinished > 0)
		pthread_cond_wait(&s->cond, &s->mtx);
	pthread_mutex_unlock(&s->mtx);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mtx);
	close(s->bell);
	free(s);
}

/* ------------------------------------------------------------- feeding */

static enum snap_target
target_of(int fd)
{
	struct stat	 sb;

	if (fstat(fd, &sb) == -1)
		return TO_DEVICE;	/* the first write says why */
	if (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode))
		return TO_FILE;
	if (S_ISFIFO(sb.st_mode))
		return TO_PIPE;
	if (S_ISSOCK(sb.st_mode))
		return TO_SOCKET;
	return TO_DEVICE;
}

static int
fd_error(struct snap *s, struct sp_error *err, int e)
{
	const char	*why = "";

	if (e == EPIPE || e == ECONNRESET)
		why = ": its reader went away";
	else if (e == ENOSPC || e == EDQUOT)
		why = ": the file system (or device) it writes to is full";
	return sp_seterr(err, SP_FD_ERROR, "writing the snapshot to the "
	    "passed descriptor failed after %llu bytes: %s%s",
	    (unsigned long long)s->written, strerror(e), why);
}

/*
 * The whole snapshot's bound, whoever is slow: its copy holds an LMDB
 * read transaction, which keeps every page freed meanwhile from reuse,
 * and a reader taking just SNAP_PROGRESS per snapshot_timeout would
 * hold it for ever.  Returns FEED_FAIL with err.
 */
static int
too_long(struct snap *s, struct sp_error *err)
{
	sp_seterr(err, SP_FD_ERROR, "the snapshot was not done within "
	    "snapshot_max_time (%llu ms): the passed descriptor took %llu "
	    "bytes; storesd cut the snapshot off: read it faster, or raise "
	    "snapshot_max_time", (unsigned long long)s->max_ms,
	    (unsigned long long)s->written);
	return FEED_FAIL;
}

/* The client's descriptor took n bytes: counts them, and SNAP_PROGRESS
 * of them earn another snapshot_timeout.  Returns 0, or FEED_FAIL with
 * err once snapshot_max_time is over. */
static int
took(struct snap *s, size_t n, struct sp_error *err)
{
	uint64_t	 now = clock_now_ms();

	s->written += n;
	s->since += n;
	if (now >= s->end)
		return too_long(s, err);
	if (s->since >= SNAP_PROGRESS) {
		s->since = 0;
		s->deadline = now + s->timeout_ms;
	}
	return 0;
}

static int
stalled(struct snap *s, struct sp_error *err)
{
	return sp_seterr(err, SP_FD_ERROR, "the passed descriptor took %llu "
	    "bytes in %llu ms (snapshot_timeout; %d KiB are due) after %llu "
	    "bytes; storesd cut the snapshot off: read it as it comes, or "
	    "raise snapshot_timeout", (unsigned long long)s->since,
	    (unsigned long long)s->timeout_ms, SNAP_PROGRESS / 1024,
	    (unsigned long long)s->written);
}

/*
 * Waits for fd to be ready for events: until the deadline when
 * deadline is set (the client's descriptor), else as long as the copy
 * takes (our pipe, which waits on a disk); never past snapshot_max_time.
 * Returns 0 when ready, or FEED_FAIL with err: a deadline passed, or
 * storesd stops.
 */
static int
await(struct snap *s, int fd, short events, bool deadline,
    struct sp_error *err)
{
	struct pollfd	 p[2] = { { fd, events, 0 },
			    { s->set->bell, POLLIN, 0 } };
	uint64_t	 now, until;
	int		 ms;

	for (;;) {
		now = clock_now_ms();
		if (now >= s->end)
			return too_long(s, err);
		until = s->end;
		if (deadline) {
			if (now >= s->deadline)
				return stalled(s, err);
			if (s->deadline < until)
				until = s->deadline;
		}
		ms = until - now > INT_MAX ? INT_MAX : (int)(until - now);
		if (poll(p, 2, ms) == -1 && errno != EINTR)
			return sp_seterr(err, SP_INTERNAL, "poll: %s",
			    strerror(errno));
		if (p[1].revents)
			return sp_seterr(err, SP_BUSY, "storesd is stopping: "
			    "the snapshot was cut off after %llu bytes; take "
			    "it again once storesd is back",
			    (unsigned long long)s->written);
		if (p[0].revents)
			return 0;
	}
}

/* Waits for the copy's next bytes; they are no client's doing, so the
 * client's clock starts again once they are there. */
static int
await_copy(struct snap *s, struct sp_error *err)
{
	if (await(s, s->in, POLLIN, false, err) == -1)
		return FEED_FAIL;
	s->deadline = clock_now_ms() + s->timeout_ms;
	s->since = 0;
	return 0;
}

/* True when our pipe has bytes (or its writer is gone). */
static bool
copy_ready(struct snap *s)
{
	struct pollfd	 p = { s->in, POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* Into a pipe or file, moving pages rather than copying them (a file
 * takes them without waiting on any reader).  Returns 0 at the copy's
 * end, or FEED_FAIL with err. */
static int
feed_pipe(struct snap *s, int fd, struct sp_error *err)
{
	ssize_t	 n;

	for (;;) {
		n = splice(s->in, NULL, fd, NULL, SNAP_SPLICE,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			if (took(s, (size_t)n, err) == -1)
				return FEED_FAIL;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINVAL && s->target == TO_FILE && s->written == 0)
			return FEED_NOSPLICE;
		if (errno != EAGAIN)
			return fd_error(s, err, errno);
		/* Our pipe is empty, or the client's is full. */
		if (!copy_ready(s)) {
			if (await_copy(s, err) == -1)
				return FEED_FAIL;
		} else if (await(s, fd, POLLOUT, true, err) == -1)
			return FEED_FAIL;
	}
}

/* Writes some of buf[off, len) to fd without blocking on a reader.
 * Returns the bytes written, or -1 (errno). */
static ssize_t
put(struct snap *s, int fd)
{
	size_t	 n = s->len - s->off;

	switch (s->target) {
	case TO_SOCKET:
		return send(fd, s->buf + s->off, n, MSG_DONTWAIT |
		    MSG_NOSIGNAL);
	case TO_DEVICE:
		/* Ready for PIPE_BUF bytes, a terminal or device takes
		 * them without waiting (poll() said so first). */
		return write(fd, s->buf + s->off, n > PIPE_BUF ? PIPE_BUF : n);
	default:
		return write(fd, s->buf + s->off, n);
	}
}

/* Through buf, for sockets, devices, and files that refuse splice().
 * Returns 0 at the copy's end, or FEED_FAIL with err. */
static int
feed_buffered(struct snap *s, int fd, struct sp_error *err)
{
	ssize_t	 n;

	for (;;) {
		if (s->off == s->len) {
			n = read(s->in, s->buf, SNAP_BUF);
			if (n == 0)
				return 0;
			if (n == -1 && errno == EAGAIN) {
				if (await_copy(s, err) == -1)
					return FEED_FAIL;
				continue;
			}
			if (n == -1 && errno != EINTR)
				return sp_seterr(err, SP_INTERNAL, "reading "
				    "the copy: %s", strerror(errno));
			s->off = 0;
			s->len = n > 0 ? (size_t)n : 0;
			continue;
		}
		if (s->target == TO_DEVICE &&
		    await(s, fd, POLLOUT, true, err) == -1)
			return FEED_FAIL;
		if ((n = put(s, fd)) > 0) {
			s->off += (size_t)n;
			if (took(s, (size_t)n, err) == -1)
				return FEED_FAIL;
		} else if (n == -1 && errno == EAGAIN) {
			if (await(s, fd, POLLOUT, true, err) == -1)
				return FEED_FAIL;
		} else if (n == -1 && errno != EINTR)
			return fd_error(s, err, errno);
	}
}

/* Feeds the client's descriptor until the copy ends; then makes a file
 * durable.  Returns 0, or FEED_FAIL with err. */
static int
feed(struct snap *s, struct sp_error *err)
{
	int	 fd = s->j->fd, rc;

	s->deadline = clock_now_ms() + s->timeout_ms;
	if (s->target == TO_PIPE || s->target == TO_FILE)
		rc = feed_pipe(s, fd, err);
	else
		rc = feed_buffered(s, fd, err);
	if (rc == FEED_NOSPLICE) {
		s->target = TO_WRITE;
		if ((s->buf = malloc(SNAP_BUF)) == NULL)
			return sp_seterr(err, SP_INTERNAL, "out of memory");
		rc = feed_buffered(s, fd, err);
	}
	if (rc == 0 && (s->target == TO_FILE || s->target == TO_WRITE) &&
	    fsync(fd) == -1 &&
	    errno != EINVAL && errno != EROFS)
		rc = fd_error(s, err, errno);
	return rc;
}

/* ------------------------------------------------------------- threads */

static void *
copier_main(void *arg)
{
	struct snap	*s = arg;

	s->copy_rc = st_copy(s->j->env->st, s->out, s->j->compact,
	    s->reserve, &s->copy_err);
	close(s->out);
	s->out = -1;
	return NULL;
}

/* One snapshot less, of uid's: the oldest waiter runs in its place,
 * or a new one may come.  Before its reply: a client's next snapshot or
 * restore, sent as soon as it is answered, must find the place free. */
static void
leave(struct snap_set *set, uid_t uid)
{
	struct waiter	*w;

	quota_give(QUOTA_PLACES, uid, 1);
	pthread_mutex_lock(&set->mtx);
	if ((w = set->head) != NULL) {
		if ((set->head = w->next) == NULL)
			set->tail = NULL;
		set->unfinished++;	/* launched below */
	} else
		set->running--;
	pthread_cond_broadcast(&set->cond);
	pthread_mutex_unlock(&set->mtx);
	if (w != NULL) {
		/* In the place this one leaves, with the limits it came
		 * with: the configuration is not ours to read here. */
		launch(set, w->j, w->uid, &w->lim);
		free(w);
	}
}

/* A job launched is through job_finish(): snap_free() may go on. */
static void
finished(struct snap_set *set)
{
	pthread_mutex_lock(&set->mtx);
	set->unfinished--;
	pthread_cond_broadcast(&set->cond);
	pthread_mutex_unlock(&set->mtx);
}

/* Frees s, and gives its place back (unless its set is NULL). */
static void
snap_end(struct snap *s)
{
	struct snap_set	*set = s->set;
	uid_t		 uid = s->uid;

	if (s->in != -1)
		close(s->in);
	if (s->out != -1)
		close(s->out);
	free(s->buf);
	free(s);
	if (set != NULL)
		leave(set, uid);
}

static void *
feeder_main(void *arg)
{
	struct snap	*s = arg;
	struct snap_set	*set = s->set;
	struct job	*j = s->j;
	struct sp_error	 err;
	uint64_t	 written;
	int		 rc;

	rc = feed(s, &err);
	/* A copy still running fails on its closed pipe, and ends. */
	close(s->in);
	s->in = -1;
	pthread_join(s->copier, NULL);
	if (rc == 0 && s->copy_rc == -1) {
		rc = -1;
		err = s->copy_err;
	}
	if (rc == 0)
		log_info("%s: %s: %llu bytes", __func__, j->env->dir,
		    (unsigned long long)s->written);
	else
		/* The client's doing, or a stop: nothing for the operator,
		 * and a client must not be able to flood the log. */
		log_debug("%s: %s: %s", __func__, j->env->dir, err.msg);
	/* The place goes back before the reply: a client's next snapshot,
	 * sent as soon as it is answered, must find it free. */
	written = s->written;
	snap_end(s);
	job_reply(j, rc, &err, written);
	job_finish(j);
	finished(set);
	return NULL;
}

/* Our pipe: large, so the copy runs ahead; its reading end never blocks
 * the feeder, which polls it. */
static int
snap_pipe(struct snap *s)
{
	int	 p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/* Over the user's pipe budget, the default size does too.  But
	 * the plain copy's first write, LMDB's two meta pages under the
	 * env's writer lock, must fit whole, whoever reads. */
	(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
	if (fcntl(p[1], F_GETPIPE_SZ) < 2 * sysconf(_SC_PAGESIZE)) {
		errno = ENOBUFS;
		goto fail;
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		goto fail;
	s->in = p[0];
	s->out = p[1];
	return 0;
fail:
	close(p[0]);
	close(p[1]);
	return -1;
}

/* Answers j BUSY: storesd stops, or it waited snapshot_timeout (or
 * INTERNAL: out of memory). */
static void
refuse(struct job *j, const char *why, unsigned max)
{
	struct sp_error	 err;
	const char	*what = j->kind == JOB_INBOUND ? "restore" : "snapshot";

	if (strcmp(why, "stopping") == 0)
		sp_seterr(&err, SP_BUSY, "storesd is stopping; %s again once "
		    "it is back", j->kind == JOB_INBOUND ? "restore" :
		    "take the snapshot");
	else if (strcmp(why, "memory") == 0)
		sp_seterr(&err, SP_INTERNAL, "out of memory; retry");
	else
		sp_seterr_busy(&err, SP_RETRY_LONG_MS, "%u snapshots and "
		    "restores (snapshot_max) kept running for longer than "
		    "snapshot_timeout while this %s waited; retry later", max,
		    what);
	job_reply(j, -1, &err, 0);
	job_finish(j);
}

/*
 * Counts j in, of uid's share of snapshot_max and of snapshot_max, or
 * queues it while snapshot_max run; reads the limits it will run under
 * into *lim.  On j's I/O thread, in its turn (the configuration is
 * valid).  Returns 1 when it may start now, 0 when it waits, -1 when
 * it is answered already (its uid holds its share: BUSY; stopping).
 */
static int
admit(struct snap_set *set, struct job *j, uid_t uid,
    struct snap_limits *lim)
{
	const struct config	*cfg = atomic_load(&j->d->cfg);
	struct waiter		*w = NULL;
	struct sp_error		 err;
	enum quota_why		 why;
	int			 rc = 1;

	*lim = (struct snap_limits){ cfg->snapshot_timeout_ms,
	    cfg->snapshot_max_time_ms, cfg->snapshot_max,
	    cfg->snapshot_reserve };
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		refuse(j, "memory", 0);
		return -1;
	}
	if ((why = quota_take(QUOTA_PLACES, uid, 1, quota_share(lim->max),
	    UINT64_MAX)) != QUOTA_OK) {
		free(w);
		quota_refusal(QUOTA_PLACES, why, uid, lim->max, &err);
		job_reply(j, -1, &err, 0);
		job_finish(j);
		return -1;
	}
	pthread_mutex_lock(&set->mtx);
	if (set->stopping)
		rc = -1;
	else if (set->running < lim->max) {
		set->running++;
		set->unfinished++;	/* launched by snap_submit() */
	} else {
		w->j = j;
		w->uid = uid;
		w->lim = *lim;
		w->until = clock_now_ms() + lim->timeout_ms;
		if (set->tail)
			set->tail->next = w;
		else
			set->head = w;
		set->tail = w;
		w = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&set->mtx);
	free(w);
	if (rc == -1) {
		quota_give(QUOTA_PLACES, uid, 1);
		refuse(j, "stopping", 0);
	}
	return rc;
}

/*
 * Starts j's threads under lim; it counts as running already, as one
 * of uid's.  Not on an I/O thread, maybe: reads no configuration.
 * Returns 0, or -1 with err.
 */
static int
snap_start(struct snap_set *set, struct job *j, uid_t uid,
    const struct snap_limits *lim, struct sp_error *err)
{
	pthread_attr_t		 attr;
	pthread_t		 feeder;
	struct snap		*s;
	int			 rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->set = set;
	s->j = j;
	s->uid = uid;
	s->in = s->out = -1;
	s->timeout_ms = lim->timeout_ms;
	s->max_ms = lim->max_ms;
	s->reserve = lim->reserve;
	s->end = clock_now_ms() + s->max_ms;
	s->target = target_of(j->fd);
	if ((s->target != TO_PIPE && s->target != TO_FILE &&
	    (s->buf = malloc(SNAP_BUF)) == NULL) || snap_pipe(s) == -1)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SNAP_STACK);
	if ((rc = pthread_create(&s->copier, &attr, copier_main, s)) != 0) {
		pthread_attr_destroy(&attr);
		errno = rc;
		goto fail;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((rc = pthread_create(&feeder, &attr, feeder_main, s)) != 0) {
		/* The copy fails on its closed pipe. */
		close(s->in);
		s->in = -1;
		pthread_join(s->copier, NULL);
		pthread_attr_destroy(&attr);
		errno = rc;
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return 0;
fail:
	sp_seterr(err, SP_INTERNAL, "cannot start a snapshot: %s; retry",
	    strerror(errno));
	log_warnx("%s: %s", __func__, err->msg);
	if (s != NULL) {
		s->set = NULL;		/* its place is given back below */
		snap_end(s);
	}
	return -1;
}

/* The place a JOB_INBOUND holds (one of its uid's). */
struct inbound {
	struct snap_set	*set;
	uid_t		 uid;
};

/* j's vacate hook: its place goes back as job_finish() begins, before
 * the reply that its run() built is posted. */
static void
inbound_vacate(struct job *j, void *arg)
{
	struct inbound	*in = arg;

	(void)j;
	leave(in->set, in->uid);
	free(in);
}

/* A JOB_INBOUND's thread: its run(), which replies and finishes it. */
static void *
inbound_main(void *arg)
{
	struct job	*j = arg;
	struct snap_set	*set = j->d->snaps;	/* j is gone after run() */

	j->run(j);
	finished(set);
	return NULL;
}

/* Starts j's thread; it counts as running already.  Returns 0, or -1
 * with err. */
static int
inbound_start(struct snap_set *set, struct job *j, uid_t uid,
    struct sp_error *err)
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	struct inbound	*in;
	int		 rc;

	if ((in = malloc(sizeof(*in))) == NULL)
		return sp_seterr(err, SP_INTERNAL, "out of memory; retry");
	*in = (struct inbound){ set, uid };
	j->vacate = inbound_vacate;
	j->vacate_arg = in;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SNAP_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, inbound_main, j);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return 0;
	j->vacate = NULL;	/* launch() gives the place back */
	j->vacate_arg = NULL;
	free(in);
	sp_seterr(err, SP_INTERNAL, "cannot start a thread: %s; retry",
	    strerror(rc));
	log_warnx("%s: %s", __func__, err->msg);
	return -1;
}

/* Runs j, which holds a place among the running (one of uid's) and
 * counts as unfinished; gives the place back when it cannot start. */
static void
launch(struct snap_set *set, struct job *j, uid_t uid,
    const struct snap_limits *lim)
{
	struct sp_error	 err;
	int		 rc;

	if (j->kind == JOB_INBOUND)
		rc = inbound_start(set, j, uid, &err);
	else
		rc = snap_start(set, j, uid, lim, &err);
	if (rc == -1) {
		leave(set, uid);	/* first, as in feeder_main() */
		job_reply(j, -1, &err, 0);
		job_finish(j);
		finished(set);
	}
}

void
snap_submit(struct snap_set *set, struct job *j, uid_t uid)
{
	struct snap_limits	 lim;

	if (admit(set, j, uid, &lim) == 1)
		launch(set, j, uid, &lim);
}
