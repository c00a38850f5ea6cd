/*
 * The servers under test: storesd (started through the tests' harness,
 * which waits for READY=1) and redis-server, each on a private socket in
 * the run's scratch directory, and what /proc says of them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench.h"
#include "harness.h"

#define CONF								\
	"[daemon]\n"							\
	"idle_close = 2s\n"						\
	"[store kv]\n"							\
	"map_size = 1GiB\n"						\
	"sync = full\n"							\
	"[store kvnone]\n"						\
	"map_size = 1GiB\n"						\
	"sync = none\n"							\
	"[store kvhist]\n"						\
	"map_size = 1GiB\n"						\
	"sync = full\n"							\
	"history = 64MiB\n"						\
	"[store bulk]\n"						\
	"map_size = 4GiB\n"						\
	"sync = full\n"							\
	"[store refs]\n"						\
	"map_size = 256MiB\n"

/* Runs argv and waits for its READY=1 on a notify socket at notify. */
static int
spawn_ready(struct proc *p, char **argv, const char *notify, const char *log)
{
	int	 nfd;

	if ((nfd = hs_notify_socket(notify)) == -1)
		return -1;
	p->pid = hs_spawn_ready(argv, nfd, notify, log, 60);
	close(nfd);
	return p->pid == -1 ? -1 : 0;
}

int
start_storesd(struct proc *p, const char *build, const char *dir,
    const char *sockdir)
{
	char	 bin[512], conf[300], data[300], notify[300], log[300];
	char	*argv[] = { bin, "-c", conf, "-s", p->sock, "-d", data, NULL };
	FILE	*f;

	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(bin, sizeof(bin), "%s/storesd", build);
	snprintf(conf, sizeof(conf), "%s/storesd.conf", dir);
	snprintf(data, sizeof(data), "%s/storesd-data", dir);
	snprintf(p->sock, sizeof(p->sock), "%s/storesd.sock", sockdir);
	snprintf(notify, sizeof(notify), "%s/notify", sockdir);
	snprintf(log, sizeof(log), "%s/storesd.log", dir);
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fputs(CONF, f);
	fclose(f);
	return spawn_ready(p, argv, notify, log);
}

int
start_redis(struct proc *p, const char *dir, const char *sockdir,
    const char *fsync)
{
	char		 rdir[300];
	char		*argv[] = { "redis-server", "--port", "0",
	    "--unixsocket", p->sock, "--unixsocketperm", "700", "--dir", rdir,
	    "--save", "", "--appendonly", "yes", "--appendfsync",
	    (char *)fsync, "--daemonize", "no", "--supervised", "systemd",
	    "--loglevel", "warning", NULL };
	char		 notify[300], log[300];

	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(rdir, sizeof(rdir), "%s/redis-data", dir);
	snprintf(p->sock, sizeof(p->sock), "%s/redis.sock", sockdir);
	snprintf(notify, sizeof(notify), "%s/redis-notify", sockdir);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	if (mkdir(rdir, 0700) == -1 && errno != EEXIST)
		return -1;
	/* Redis speaks sd_notify too when supervised by systemd. */
	return spawn_ready(p, argv, notify, log);
}

double
cpu_seconds(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st;
	FILE			*f;
	size_t			 n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name may hold spaces and parentheses: fields follow the last
	 * ')'; utime and stime are the 12th and 13th after it (proc(5)). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double
write_bytes(pid_t pid)
{
	char			 path[64];
	unsigned long long	 n;
	FILE			*f;
	int			 ok;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	/* rchar comes first, then wchar (proc(5)). */
	ok = fscanf(f, "rchar: %*u wchar: %llu", &n) == 1;
	fclose(f);
	return ok ? (double)n : -1;
}

int
stop_proc(struct proc *p)
{
	int	 status;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, SIGTERM);
	while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
		;
	p->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

