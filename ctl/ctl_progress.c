/*
 * ctl_progress: snapshot and restore with their progress shown (ctl.h).
 *
 * storesd reads or writes the descriptor storectl passes, so storectl
 * sees no byte go by.  When stderr is a terminal, storectl passes one
 * end of a pipe of its own instead, and a thread moves the bytes between
 * the pipe and the real file, counting them: a line on stderr redrawn a
 * few times a second (bytes, rate), then a one-line summary.  Otherwise
 * (scripts, logs) the descriptor goes to storesd as it is and nothing
 * is printed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define REDRAW_NS	(250 * 1000 * 1000)

struct pump {
	int		 from;
	int		 to;
	int		 own;		/* the pipe end it closes when done */
	const char	*verb;		/* "restored", "snapshot" */
	uint64_t	 done;
	int		 err;		/* errno of a failed read or write */
	struct timespec	 start;
};

static double
since(const struct timespec *t)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void
draw(const struct pump *p, const char *end)
{
	double	 s = since(&p->start), mib = (double)p->done / 1048576.0;

	fprintf(stderr, "\rstorectl: %s %.1f MiB in %.1f s (%.1f MiB/s)%s",
	    p->verb, mib, s, s > 0 ? mib / s : 0.0, end);
}

static void	pump_move(struct pump *);

/* Moves the bytes; the end of the pipe it owns is closed after, so the
 * other side sees the end too. */
static void *
pump_run(void *arg)
{
	struct pump	*p = arg;

	pump_move(p);
	close(p->own);
	return NULL;
}

static void
pump_move(struct pump *p)
{
	struct timespec	 last = p->start, now;
	sigset_t	 set;
	char		 buf[64 * 1024];
	ssize_t		 n, w, off;

	/* A reader that went away is EPIPE here, not the end of storectl. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		if ((n = read(p->from, buf, sizeof(buf))) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0) {
			p->err = n == 0 ? 0 : errno;
			break;
		}
		for (off = 0; off < n; off += w)
			if ((w = write(p->to, buf + off, (size_t)(n - off))) ==
			    -1) {
				p->err = errno;
				return;
			}
		p->done += (uint64_t)n;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - last.tv_sec) * 1000000000L +
		    (now.tv_nsec - last.tv_nsec) >= REDRAW_NS) {
			draw(p, "");
			last = now;
		}
	}
}

/*
 * Runs call(ctl, fd, size) with fd, or with its pipe end when stderr is
 * a terminal (see above).  to_daemon: storesd reads fd (restore), else
 * writes it (snapshot).  Returns call's 0 or -1.
 */
static int
with_progress(struct ctl *ctl, int fd, bool to_daemon, const char *verb,
    int (*call)(struct ctl *, int, uint64_t *), uint64_t *size)
{
	struct pump	 p;
	pthread_t	 t;
	int		 pfd[2], mine, rc;

	if (!isatty(STDERR_FILENO))
		return call(ctl, fd, size);
	if (pipe(pfd) == -1)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "pipe: %s",
		    strerror(errno));
	memset(&p, 0, sizeof(p));
	p.verb = verb;
	p.from = to_daemon ? fd : pfd[0];
	p.to = to_daemon ? pfd[1] : fd;
	mine = to_daemon ? pfd[0] : pfd[1];	/* the end storesd gets */
	p.own = to_daemon ? pfd[1] : pfd[0];
	clock_gettime(CLOCK_MONOTONIC, &p.start);
	if ((rc = pthread_create(&t, NULL, pump_run, &p)) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return ctl_fail(ctl, CTL_EXIT_USAGE, "cannot start a thread: "
		    "%s", strerror(rc));
	}
	rc = call(ctl, mine, size);
	/* storesd is done with its end: the thread sees EOF or EPIPE. */
	close(mine);
	pthread_join(t, NULL);
	if (rc == 0 && p.err != 0)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "%s: %s", verb,
		    strerror(p.err));
	draw(&p, rc == 0 ? "\n" : " (failed)\n");
	return rc;
}

static int
call_restore(struct ctl *ctl, int fd, uint64_t *size)
{
	if (sc_restore(ctl->conn, REPO(ctl), ctl->av[0], fd,
	    HAS(ctl, OPT_REPLACE), size) == -1)
		return ctl_fail_sc(ctl);
	return 0;
}

static int
call_snapshot(struct ctl *ctl, int fd, uint64_t *size)
{
	if (sc_snapshot(ctl->conn, REPO(ctl), ctl->av[0], fd,
	    HAS(ctl, OPT_COMPACT), size) == -1)
		return ctl_fail_sc(ctl);
	return 0;
}

int
ctl_progress_restore(struct ctl *ctl, int fd, uint64_t *size)
{
	return with_progress(ctl, fd, true, "restored", call_restore, size);
}

int
ctl_progress_snapshot(struct ctl *ctl, int fd, uint64_t *size)
{
	return with_progress(ctl, fd, false, "snapshot", call_snapshot, size);
}
