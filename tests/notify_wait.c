/*
 * notify-wait: starts a daemon and says when it is ready, for shell
 * tests.
 *
 *	notify-wait NOTIFY_PATH -- COMMAND [ARGS...]
 *
 * Binds a datagram socket at NOTIFY_PATH, runs COMMAND with
 * $NOTIFY_SOCKET pointing at it, and waits for READY=1.  Then it prints
 * "PID\n" on stdout and closes stdout (a reader of a fifo sees the line
 * and then EOF), stays the command's parent, and exits with its status
 * (128 + signal when killed).  If the command exits or times out before
 * it is ready, notify-wait prints nothing and exits 1.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

int
main(int argc, char **argv)
{
	pid_t	 pid;
	int	 nfd, status;

	if (argc < 4 || strcmp(argv[2], "--") != 0) {
		fprintf(stderr, "usage: notify-wait NOTIFY_PATH -- COMMAND "
		    "[ARGS...]\n");
		return 2;
	}
	if ((nfd = hs_notify_socket(argv[1])) == -1) {
		perror(argv[1]);
		return 1;
	}
	pid = hs_spawn_ready(argv + 3, nfd, argv[1], NULL, hs_timeout());
	if (pid == -1) {
		fclose(stdout);
		return 1;
	}
	printf("%ld\n", (long)pid);
	fclose(stdout);
	while (waitpid(pid, &status, 0) == -1)
		;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
