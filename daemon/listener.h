/*
 * listener: the Unix socket clients connect to.
 *
 * Owns: creating the socket with its final permissions from the first
 * moment (umask around bind, then chmod), replacing a stale socket file
 * left by a crash but never one another storesd still answers on,
 * accepting, and spreading connections over the I/O loops.  Or, under
 * socket activation, adopting the socket the service manager passes.  When
 * descriptors run out (EMFILE), accepting pauses briefly instead of
 * spinning on a socket that stays readable.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

struct daemon;
struct event;

struct listener {
	struct daemon	*d;
	int		 fd;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool		 owned;		/* we bound it: unlink it at close */
	bool		 activated;	/* passed by the service manager */
	struct event	*ev;
	struct event	*pause;
	unsigned	 next;		/* round-robin over the loops */
	uint64_t	 refused;	/* since last logged */
	uint64_t	 refused_logged_ms;
	uint64_t	 paused;	/* accept pauses since last logged */
	uint64_t	 paused_logged_ms;
};

/*
 * Starts accepting on d's loop 0: on the socket passed by the service
 * manager ($LISTEN_FDS) if there is one, else on path, bound with mode.
 * Returns 0, or -1 with a message in errbuf.
 */
int	listener_open(struct listener *ls, struct daemon *d, const char *path,
	    mode_t mode, char *errbuf, size_t errlen);
/* Stops accepting, closes the socket and removes its file.  Safe twice. */
void	listener_close(struct listener *ls);

#endif
