/*
 * harness: a real storesd for tests.
 *
 * Starts build/storesd on a socket and data dir in a fresh temporary
 * directory and waits until it says READY=1 on a notify socket of the
 * test's own (the sd_notify protocol), so no test ever sleeps and
 * guesses.  $BUILD names the build directory (default "build");
 * $STORESD_WRAPPER, when set, is a command the daemon runs under
 * (valgrind, for instance).
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct hs_daemon {
	pid_t	 pid;
	char	 dir[64];		/* the temporary directory */
	char	 sock[100];	/* DIR/sock */
	char	 data[100];	/* DIR/data */
	char	 conf[100];	/* DIR/storesd.conf, if any */
	char	 notify[100];	/* DIR/notify */
	char	 log[100];		/* DIR/storesd.log: its stderr */
	int	 nfd;			/* the notify socket */
};

/* The build directory ($BUILD or "build"). */
const char	*hs_build(void);
/* Seconds to allow for start and stop: more under valgrind. */
int		 hs_timeout(void);
/* How many waits of ms fit in hs_timeout(): the bound of a polling loop. */
int		 hs_tries(int ms);

/*
 * Makes a temporary directory and, when conf is not NULL, writes it to
 * DIR/storesd.conf ("@DIR@" in it becomes the directory).  Returns 0 or -1.
 */
int	hs_prepare(struct hs_daemon *d, const char *conf);
/*
 * Starts storesd (-s DIR/sock -d DIR/data [-c DIR/storesd.conf] extra...)
 * and waits for READY=1.  Returns 0, or -1 when it exited or timed out
 * (its log is printed).
 */
int	hs_start(struct hs_daemon *d, const char *const *extra);
/* hs_prepare() then hs_start(). */
int	hs_up(struct hs_daemon *d, const char *conf);
/*
 * SIGTERM, then waits.  Returns the exit status (0 for a clean stop),
 * 128 + signal when killed, or -1 on timeout (then SIGKILLs it).
 */
int	hs_stop(struct hs_daemon *d);
/* The same, but SIGTERM again every millisecond until storesd is gone:
 * a second signal must not cut a stop short. */
int	hs_stop_insisting(struct hs_daemon *d);
/* SIGKILL and reap. */
void	hs_kill9(struct hs_daemon *d);
/* Removes dir and everything below it (symlinks not followed).  0, -1. */
int	hs_rmtree(const char *dir);
/* The resident set (KiB) and open descriptors of process pid; -1 when
 * /proc cannot tell. */
long	hs_rss_kib(pid_t pid);
/* A field of /proc/PID/status in KiB ("VmRSS", "RssAnon"), or -1. */
long	hs_status_kib(pid_t pid, const char *field);
/* True when storesd runs under a wrapper ($STORESD_WRAPPER: valgrind). */
bool	hs_wrapped(void);
/* True when this test is built with ASan or storesd runs wrapped: both
 * keep freed memory (quarantine) and need more address space and time,
 * so memory and timing bounds say nothing then. */
bool	hs_sanitized(void);
/* True when this test, and so storesd (built alike), is built with
 * AddressSanitizer: a fatal signal of storesd's own ends in its report
 * (exit status 1), not in death by the signal. */
bool	hs_asan(void);
long	hs_fds(pid_t pid);
/* Removes the temporary directory. */
void	hs_cleanup(struct hs_daemon *d);

/*
 * Waits up to timeout_s for a notify datagram with a line starting with
 * var ("READY=1", "WATCHDOG=1"), skipping others; copies it into got
 * when got is set.  Returns 0, or -1 on timeout.
 */
int	hs_notify_wait(struct hs_daemon *d, const char *var, char *got,
	    size_t n, int timeout_s);
/*
 * Writes conf (when not NULL) over DIR/storesd.conf, sends SIGHUP, and
 * waits for RELOADING=1 then READY=1, whose datagram (with its STATUS=
 * line) goes into status.  Returns 0, or -1 on timeout.
 */
int	hs_reload(struct hs_daemon *d, const char *conf, char *status,
	    size_t n);
/*
 * Runs argv with $NOTIFY_SOCKET set to the bound datagram socket nfd
 * (whose path is notify) and waits for READY=1.  stderr_path, when set,
 * receives the child's stderr.  Returns the pid, or -1.
 */
pid_t	hs_spawn_ready(char *const argv[], int nfd, const char *notify,
	    const char *stderr_path, int timeout_s);
/* Binds a datagram socket at path; returns it or -1. */
int	hs_notify_socket(const char *path);

#endif
