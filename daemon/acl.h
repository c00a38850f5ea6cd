/*
 * acl: who may read and write which store.
 *
 * Owns: the decision.  The socket's mode decides who may connect at all.
 * Past that, a store with neither `readers =` nor `writers =` is open to
 * everyone who can connect; a store with either is closed to all but
 * those listed: writers may read and write, readers may read.  The peer
 * is who the kernel says (SO_PEERCRED, SO_PEERGROUPS), never what the
 * client says.  Root and storesd's own user may do anything.
 */
#ifndef ACL_H
#define ACL_H

#include <stdbool.h>
#include <sys/types.h>

#include "sp_error.h"

struct cfg_store;

/* A connected peer, as the kernel described it at accept. */
struct peer {
	pid_t	 pid;
	uid_t	 uid;
	gid_t	 gid;
	gid_t	*groups;	/* supplementary groups */
	int	 ngroups;
};

/* Reads the peer's credentials from socket fd into p (p->groups is
 * allocated; free it).  Returns 0 or -1. */
int	acl_peer(int fd, struct peer *p);

/* True when p may read (write) st; self is storesd's own uid. */
bool	acl_may(const struct cfg_store *st, const struct peer *p, uid_t self,
	    bool write);

/* 0, or -1 with err FORBIDDEN saying who may not do what, and how to
 * get it. */
int	acl_check(const struct cfg_store *st, const struct peer *p,
	    uid_t self, bool write, struct sp_error *err);

#endif
