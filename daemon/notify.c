#include <errno.h>
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

int
notify_send(const char *msg)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	socklen_t		 len;
	size_t			 n;
	int			 fd, rc;

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
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s: socket", __func__);
		return -1;
	}
	rc = (int)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	close(fd);
	if (rc == -1) {
		log_warn("%s: %s", __func__, path);
		return -1;
	}
	return 0;
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
	return notify_send(msg);
}
