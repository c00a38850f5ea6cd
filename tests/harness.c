#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

const char *
hs_build(void)
{
	const char	*b = getenv("BUILD");

	return b && *b ? b : "build";
}

int
hs_timeout(void)
{
	return getenv("STORESD_TEST_SLOW") ? 300 : 30;
}

int
hs_tries(int ms)
{
	return hs_timeout() * 1000 / ms;
}

int
hs_notify_socket(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

pid_t
hs_spawn_ready(char *const argv[], int nfd, const char *notify,
    const char *stderr_path, int timeout_s)
{
	struct pollfd	 pfd = { nfd, POLLIN, 0 };
	char		 msg[512];
	long		 deadline = now_ms() + timeout_s * 1000L;
	pid_t		 pid;
	ssize_t		 n;
	int		 status, fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* A test that fails before its stop (CK_FORK=no) must not
		 * leave storesd behind, holding make's output open. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("NOTIFY_SOCKET", notify, 1);
		if (stderr_path != NULL &&
		    (fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND,
		    0644)) != -1) {
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (now_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "harness: %s exited (status %d) before "
			    "it was ready\n", argv[0], status);
			return -1;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = recv(nfd, msg, sizeof(msg) - 1, 0)) <= 0)
			continue;
		msg[n] = '\0';
		if (strncmp(msg, "READY=1", 7) == 0 || strstr(msg, "\nREADY=1"))
			return pid;
	}
	fprintf(stderr, "harness: %s was not ready within %ds\n", argv[0],
	    timeout_s);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int
write_conf(struct hs_daemon *d, const char *conf)
{
	FILE		*f;
	const char	*p, *at;

	if ((f = fopen(d->conf, "w")) == NULL)
		return -1;
	for (p = conf; (at = strstr(p, "@DIR@")) != NULL; p = at + 5) {
		fwrite(p, 1, (size_t)(at - p), f);
		fputs(d->dir, f);
	}
	fputs(p, f);
	return fclose(f);
}

int
hs_prepare(struct hs_daemon *d, const char *conf)
{
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	d->nfd = -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/storesd-test.XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->data, sizeof(d->data), "%s/data", d->dir);
	snprintf(d->notify, sizeof(d->notify), "%s/notify", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/storesd.log", d->dir);
	if (conf != NULL) {
		snprintf(d->conf, sizeof(d->conf), "%s/storesd.conf", d->dir);
		if (write_conf(d, conf) == -1)
			return -1;
	}
	return 0;
}

static void
print_log(const struct hs_daemon *d)
{
	char	 buf[4096];
	FILE	*f;
	size_t	 n;

	if ((f = fopen(d->log, "r")) == NULL)
		return;
	fprintf(stderr, "---- %s\n", d->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

int
hs_start(struct hs_daemon *d, const char *const *extra)
{
	char		*argv[64], *wrap = NULL, *tok, *save;
	char		 bin[PATH_MAX];
	const char	*w = getenv("STORESD_WRAPPER");
	int		 n = 0, i;

	if (d->nfd == -1 && (d->nfd = hs_notify_socket(d->notify)) == -1)
		return -1;
	if (w != NULL && *w != '\0') {
		wrap = strdup(w);
		for (tok = strtok_r(wrap, " ", &save); tok && n < 40;
		    tok = strtok_r(NULL, " ", &save))
			argv[n++] = tok;
	}
	snprintf(bin, sizeof(bin), "%s/storesd", hs_build());
	argv[n++] = bin;
	argv[n++] = "-v";
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "-d";
	argv[n++] = d->data;
	if (d->conf[0]) {
		argv[n++] = "-c";
		argv[n++] = d->conf;
	}
	for (i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	d->pid = hs_spawn_ready(argv, d->nfd, d->notify, d->log, hs_timeout());
	free(wrap);
	if (d->pid == -1) {
		print_log(d);
		return -1;
	}
	return 0;
}

int
hs_up(struct hs_daemon *d, const char *conf)
{
	if (hs_prepare(d, conf) == -1)
		return -1;
	return hs_start(d, NULL);
}

/* SIGTERM, once or (again) every millisecond, then wait for the exit. */
static int
stop(struct hs_daemon *d, bool again)
{
	long	 deadline = now_ms() + hs_timeout() * 1000L;
	int	 status;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	while (now_ms() < deadline) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = -1;
			if (WIFEXITED(status)) {
				if (WEXITSTATUS(status) != 0)
					print_log(d);
				return WEXITSTATUS(status);
			}
			print_log(d);
			return 128 + WTERMSIG(status);
		}
		if (again)
			kill(d->pid, SIGTERM);
		poll(NULL, 0, again ? 1 : 10);
	}
	print_log(d);
	hs_kill9(d);
	return -1;
}

int
hs_stop(struct hs_daemon *d)
{
	return stop(d, false);
}

int
hs_stop_insisting(struct hs_daemon *d)
{
	return stop(d, true);
}

void
hs_kill9(struct hs_daemon *d)
{
	int	 status;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = -1;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int
hs_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
hs_cleanup(struct hs_daemon *d)
{
	if (d->nfd != -1) {
		close(d->nfd);
		d->nfd = -1;
	}
	if (d->dir[0])
		hs_rmtree(d->dir);
}

long
hs_status_kib(pid_t pid, const char *field)
{
	char	 path[64], line[256];
	size_t	 n = strlen(field);
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, " %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

long
hs_rss_kib(pid_t pid)
{
	return hs_status_kib(pid, "VmRSS");
}

bool
hs_wrapped(void)
{
	const char	*w = getenv("STORESD_WRAPPER");

	return w != NULL && *w != '\0';
}

/* gcc says so with a macro, clang only through __has_feature. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HS_ASAN	1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HS_ASAN	1
#endif

bool
hs_sanitized(void)
{
#if defined(HS_ASAN)
	return true;
#else
	return hs_wrapped();
#endif
}

bool
hs_asan(void)
{
#if defined(HS_ASAN)
	return true;
#else
	return false;
#endif
}

long
hs_fds(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	long		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
hs_notify_wait(struct hs_daemon *d, const char *var, char *got, size_t n,
    int timeout_s)
{
	struct pollfd	 pfd = { d->nfd, POLLIN, 0 };
	char		 msg[1024], line[128];
	long		 deadline = now_ms() + timeout_s * 1000L;
	size_t		 vn = strlen(var);
	ssize_t		 k;

	snprintf(line, sizeof(line), "\n%s", var);
	while (now_ms() < deadline) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((k = recv(d->nfd, msg, sizeof(msg) - 1, 0)) <= 0)
			continue;
		msg[k] = '\0';
		if (strncmp(msg, var, vn) != 0 && strstr(msg, line) == NULL)
			continue;
		if (got != NULL)
			snprintf(got, n, "%s", msg);
		return 0;
	}
	return -1;
}

int
hs_reload(struct hs_daemon *d, const char *conf, char *status, size_t n)
{
	if (conf != NULL && write_conf(d, conf) == -1)
		return -1;
	if (kill(d->pid, SIGHUP) == -1 ||
	    hs_notify_wait(d, "RELOADING=1", NULL, 0, hs_timeout()) == -1)
		return -1;
	return hs_notify_wait(d, "READY=1", status, n, hs_timeout());
}
