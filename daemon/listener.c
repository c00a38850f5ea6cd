#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "config.h"
#include "sp_msg.h"

#define ACCEPTS_PER_TURN	64
#define PAUSE_MS		100
#define LISTEN_FD		3	/* SD_LISTEN_FDS_START */

static int
fail(char *errbuf, size_t errlen, const char *fmt, const char *path)
{
	int	 e = errno;

	snprintf(errbuf, errlen, fmt, path, strerror(e));
	return -1;
}

/* Makes the socket's directory, searchable by whom the socket mode lets in. */
static int
make_dir(const char *path, mode_t mode, char *errbuf, size_t errlen)
{
	char	 dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char	*slash;
	mode_t	 dmode = 0700;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mode & 0060)
		dmode |= 0010;
	if (mode & 0006)
		dmode |= 0001;
	if (mkdir(dir, dmode) == -1) {
		/* One that exists is the administrator's (or systemd's). */
		if (errno == EEXIST)
			return 0;
		return fail(errbuf, errlen, "cannot create the socket "
		    "directory %s: %s", dir);
	}
	/* The umask (UMask=0077 in the unit) would shut out the group. */
	if (chmod(dir, dmode) == -1)
		return fail(errbuf, errlen, "cannot chmod %s: %s", dir);
	return 0;
}

/*
 * A socket file may be left by a storesd that crashed.  Replace it only
 * if nobody answers on it; never steal a live daemon's socket.
 */
static int
clear_stale(const struct sockaddr_un *sun, char *errbuf, size_t errlen)
{
	struct stat	 sb;
	int		 fd, rc;

	if (lstat(sun->sun_path, &sb) == -1)
		return errno == ENOENT ? 0 : fail(errbuf, errlen,
		    "cannot check %s: %s", sun->sun_path);
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(errbuf, errlen, "%s exists and is not a socket; "
		    "remove it or choose another socket", sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return fail(errbuf, errlen, "socket for %s: %s", sun->sun_path);
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		snprintf(errbuf, errlen, "another storesd is answering on %s; "
		    "stop it first, or give this one another socket (-s)",
		    sun->sun_path);
		return -1;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT)
		return fail(errbuf, errlen, "cannot remove the stale socket "
		    "%s: %s", sun->sun_path);
	log_notice("%s: removed the stale socket %s", __func__, sun->sun_path);
	return 0;
}

/*
 * Past max_connections: the client gets a BUSY reply (id 0) that says
 * why, then the connection closes.  Logged at most once a second.
 */
static void
refuse(struct listener *ls, int fd)
{
	struct sp_buf	 b = { 0 };
	struct sp_error	 err;
	uint64_t	 now = clock_now_ms();
	unsigned	 max = ls->d->cfg->max_connections;

	sp_seterr_busy(&err, SP_RETRY_LONG_MS, "storesd has max_connections "
	    "(%u) connections open; retry later, or raise max_connections",
	    max);
	if (sp_reply_err(&b, 0, &err) == 0)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	sp_buf_free(&b);
	close(fd);
	ls->refused++;
	if (now - ls->refused_logged_ms >= 1000) {
		log_notice("%s: %llu connections refused: max_connections (%u) "
		    "reached", __func__, (unsigned long long)ls->refused, max);
		ls->refused_logged_ms = now;
		ls->refused = 0;
	}
}

static void
hand_over(struct listener *ls, int fd)
{
	struct daemon	*d = ls->d;
	struct loop	*l;

	/* Counted here, before the hand-over, so the limit holds even while
	 * new connections are on their way to their loops. */
	if (atomic_fetch_add(&d->nconns, 1) >= d->cfg->max_connections) {
		atomic_fetch_sub(&d->nconns, 1);
		refuse(ls, fd);
		return;
	}
	l = d->loops[ls->next++ % d->nloops];

	if (l == d->loops[0])
		conn_new(l, fd);	/* we are on loop 0's thread */
	else
		loop_post_conn(l, fd);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*ls = arg;

	(void)fd;
	(void)what;
	event_add(ls->ev, NULL);
}

/* Out of descriptors or memory: logged at most once a second. */
static void
pause_accept(struct listener *ls)
{
	uint64_t	 now = clock_now_ms();
	int		 e = errno;

	ls->paused++;
	if (now - ls->paused_logged_ms < 1000)
		return;
	log_warnx("%s: accept: %s; accepting pauses for %dms at a time "
	    "(%llu pauses); raise LimitNOFILE or lower max_connections",
	    __func__, strerror(e), PAUSE_MS, (unsigned long long)ls->paused);
	ls->paused_logged_ms = now;
	ls->paused = 0;
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct listener	*ls = arg;
	struct timeval	 tv = { 0, PAUSE_MS * 1000 };
	int		 i, fd;

	(void)what;
	for (i = 0; i < ACCEPTS_PER_TURN; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			hand_over(ls, fd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			pause_accept(ls);
			event_del(ls->ev);
			evtimer_add(ls->pause, &tv);
			return;
		default:
			return;		/* EAGAIN: all taken */
		}
	}
}

/* Binds and listens on path, the file born with mode. */
static int
bind_socket(struct listener *ls, const char *path, mode_t mode,
    char *errbuf, size_t errlen)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    (int)sizeof(sun.sun_path)) {
		snprintf(errbuf, errlen, "socket path %s is too long", path);
		return -1;
	}
	if (make_dir(path, mode, errbuf, errlen) == -1 ||
	    clear_stale(&sun, errbuf, errlen) == -1)
		return -1;
	if ((ls->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return fail(errbuf, errlen, "socket %s: %s", path);
	/* The file is born with its final mode: no window wider than it. */
	old = umask(0777 & ~mode);
	rc = bind(ls->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1)
		return fail(errbuf, errlen, "cannot bind %s: %s", path);
	ls->owned = true;
	snprintf(ls->path, sizeof(ls->path), "%s", path);
	if (chmod(path, mode) == -1)
		return fail(errbuf, errlen, "cannot chmod %s: %s", path);
	if (listen(ls->fd, SOMAXCONN) == -1)
		return fail(errbuf, errlen, "cannot listen on %s: %s", path);
	return 0;
}

/*
 * Socket activation (sd_listen_fds(3), spoken directly): the service
 * manager passes listening sockets from descriptor 3 on and says how
 * many in $LISTEN_FDS, for the process $LISTEN_PID.  Clients that
 * connected before storesd was up wait in that socket's backlog and are
 * served.  Returns 1 when a socket was adopted, 0 when none was passed,
 * -1 with errbuf when one was passed that storesd cannot use.
 */
static int
adopt_socket(struct listener *ls, char *errbuf, size_t errlen)
{
	const char		*pid = getenv("LISTEN_PID");
	const char		*fds = getenv("LISTEN_FDS");
	struct sockaddr_un	 sun;
	socklen_t		 len = sizeof(sun);
	int			 type = 0, listening = 0, flags;
	socklen_t		 ilen = sizeof(int);

	if (pid == NULL || fds == NULL ||
	    strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strcmp(fds, "1") != 0) {
		snprintf(errbuf, errlen, "LISTEN_FDS is %s: storesd listens on "
		    "exactly one socket; give its .socket unit one "
		    "ListenStream=", fds);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	if (getsockopt(LISTEN_FD, SOL_SOCKET, SO_TYPE, &type, &ilen) == -1 ||
	    getsockopt(LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &ilen) == -1 ||
	    getsockname(LISTEN_FD, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX || type != SOCK_STREAM || !listening) {
		snprintf(errbuf, errlen, "the socket passed in descriptor %d "
		    "is not a listening Unix stream socket; use "
		    "ListenStream=/path in the .socket unit", LISTEN_FD);
		return -1;
	}
	if ((flags = fcntl(LISTEN_FD, F_GETFL)) == -1 ||
	    fcntl(LISTEN_FD, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(LISTEN_FD, F_SETFD, FD_CLOEXEC) == -1)
		return fail(errbuf, errlen, "%s: descriptor 3: %s", "fcntl");
	ls->fd = LISTEN_FD;
	ls->owned = false;	/* the service manager's file: leave it */
	snprintf(ls->path, sizeof(ls->path), "%s", sun.sun_path);
	return 1;
}

int
listener_open(struct listener *ls, struct daemon *d, const char *path,
    mode_t mode, char *errbuf, size_t errlen)
{
	struct event_base	*base = d->loops[0]->base;
	int			 rc;

	memset(ls, 0, sizeof(*ls));
	ls->d = d;
	ls->fd = -1;
	if ((rc = adopt_socket(ls, errbuf, errlen)) == -1)
		goto err;
	if (rc == 1) {
		ls->activated = true;
		if (strcmp(ls->path, path) != 0)
			log_notice("%s: listening on %s, passed by the service "
			    "manager; the configured socket %s is not used",
			    __func__, ls->path, path);
	} else if (bind_socket(ls, path, mode, errbuf, errlen) == -1)
		goto err;
	ls->ev = event_new(base, ls->fd, EV_READ | EV_PERSIST, on_accept, ls);
	ls->pause = evtimer_new(base, on_resume, ls);
	if (ls->ev == NULL || ls->pause == NULL ||
	    event_add(ls->ev, NULL) == -1) {
		snprintf(errbuf, errlen, "cannot watch %s", ls->path);
		goto err;
	}
	return 0;
err:
	listener_close(ls);
	return -1;
}

void
listener_close(struct listener *ls)
{
	if (ls->ev) {
		event_free(ls->ev);
		ls->ev = NULL;
	}
	if (ls->pause) {
		event_free(ls->pause);
		ls->pause = NULL;
	}
	if (ls->fd != -1) {
		close(ls->fd);
		ls->fd = -1;
	}
	if (ls->owned) {
		unlink(ls->path);
		ls->owned = false;
	}
}
