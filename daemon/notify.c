#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

/*
 * How long a state systemd waits for (READY=1, RELOADING=1) may wait for
 * room in a full queue.  A reader that is alive drains its queue within
 * milliseconds even in a burst (systemd's queue holds
 * net.unix.max_dgram_qlen datagrams, 512 as systemd sets it), so a
 * second rides out a busy moment; losing READY=1 would fail the start after TimeoutStartSec, a
 * reload's READY=1 would fail the reload job.  WATCHDOG=1 never waits
 * (the next ping replaces it), nor STOPPING=1 (systemd learns of the
 * stop from the exit; it is sent from the loop that accepts, while
 * requests drain), nor STATUS= alone.
 */
#define NOTIFY_WAIT_MS		1000
/* One line about dropped notifications per this many seconds at most. */
#define NOTIFY_LOG_EVERY_S	60

/*
 * Counts a notification not sent and says so, at most once a minute
 * (and at once when the reason changes): WATCHDOG=1 goes out every half
 * of WatchdogSec, and a line per drop would flood the log for as long as
 * the reader does not read.
 */
static void
dropped(const char *path, int err)
{
	static atomic_uint_fast64_t	 n;
	static atomic_llong		 next;	/* second a line may go out */
	static atomic_int		 last_err;
	struct timespec			 ts;
	unsigned long long		 total;
	long long			 when;

	total = (unsigned long long)atomic_fetch_add(&n, 1) + 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (atomic_exchange(&last_err, err) != err)
		atomic_store(&next, 0);		/* a new reason: said now */
	when = atomic_load(&next);
	if ((long long)ts.tv_sec < when || !atomic_compare_exchange_strong(
	    &next, &when, (long long)ts.tv_sec + NOTIFY_LOG_EVERY_S))
		return;
	if (err == EAGAIN || err == EWOULDBLOCK)
		log_warnx("notify_send: notifications to NOTIFY_SOCKET %s are "
		    "being dropped: its reader is not reading (its queue is "
		    "full); %llu dropped so far; storesd carries on, but the "
		    "service manager misses them: see whether it is hung",
		    path, total);
	else
		log_warnx("notify_send: notifications to NOTIFY_SOCKET %s are "
		    "being dropped: %s; %llu dropped so far", path,
		    strerror(err), total);
}

/*
 * Never blocks: a reader that stops reading (a hung or stopped service
 * manager, or anyone who could set $NOTIFY_SOCKET) would otherwise hold
 * the calling thread (the loop that accepts, or a pool thread) in
 * sendto() for good, once its queue is full.  The socket is connected so
 * that poll() can wait for room in the reader's queue.
 */
static int
send_within(const char *msg, int wait_ms)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	const char		*path = getenv("NOTIFY_SOCKET");
	socklen_t		 len;
	size_t			 n;
	int			 fd = -1, rc = -1, err;

	if (path == NULL || *path == '\0')
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_warnx("%s: NOTIFY_SOCKET %s is not usable", __func__, path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		log_warn("%s: socket", __func__);
		return -1;
	}
	/* ENOENT, ECONNREFUSED: the reader is gone; nothing waits. */
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		err = errno;
		goto done;
	}
	rc = (int)send(fd, msg, strlen(msg), MSG_NOSIGNAL);
	err = errno;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (rc == -1 && (err == EAGAIN || err == EWOULDBLOCK) && wait_ms > 0 &&
	    poll(&pfd, 1, wait_ms) == 1) {
		/* Room now, or it goes: one more try. */
		rc = (int)send(fd, msg, strlen(msg), MSG_NOSIGNAL);
		err = errno;
	}
done:
	close(fd);
	if (rc == -1)
		dropped(path, err);
	return rc == -1 ? -1 : 0;
}

int
notify_send(const char *msg)
{
	return send_within(msg, 0);
}

int
notify_state(const char *msg)
{
	return send_within(msg, NOTIFY_WAIT_MS);
}

uint64_t
notify_watchdog_usec(void)
{
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*pid = getenv("WATCHDOG_PID");
	char		*end;
	unsigned long long v;

	if (usec == NULL || *usec == '\0')
		return 0;
	/* Meant for another process (a wrapper that execs storesd later). */
	if (pid != NULL && *pid != '\0' &&
	    strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0) {
		log_warnx("%s: WATCHDOG_USEC %s is not a number of "
		    "microseconds; no watchdog", __func__, usec);
		return 0;
	}
	return (uint64_t)v;
}

int
notify_reloading(void)
{
	struct timespec	 ts;
	char		 msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reloading the configuration",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	return notify_state(msg);
}
