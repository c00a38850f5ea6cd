#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl.h"
#include "config.h"

int
acl_peer(int fd, struct peer *p)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	gid_t		*g = NULL;

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	/* Supplementary groups, as of connect(): ERANGE says how many. */
	len = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == -1 &&
	    errno != ERANGE)
		return 0;	/* an old kernel: the primary group only */
	if (len == 0)
		return 0;
	if ((g = malloc(len)) == NULL)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == -1) {
		free(g);
		return 0;
	}
	p->groups = g;
	p->ngroups = (int)(len / sizeof(gid_t));
	return 0;
}

static bool
listed(const struct cfg_acl *acl, const struct peer *p)
{
	unsigned	 i;
	int		 k;

	for (i = 0; i < acl->nuids; i++)
		if (acl->uids[i] == p->uid)
			return true;
	for (i = 0; i < acl->ngids; i++) {
		if (acl->gids[i] == p->gid)
			return true;
		for (k = 0; k < p->ngroups; k++)
			if (acl->gids[i] == p->groups[k])
				return true;
	}
	return false;
}

bool
acl_may(const struct cfg_store *st, const struct peer *p, uid_t self,
    bool write)
{
	if (p->uid == 0 || p->uid == self)
		return true;
	/* With either list set the store is closed but to those listed. */
	if (!st->readers.set && !st->writers.set)
		return true;
	if (st->writers.set && listed(&st->writers, p))
		return true;	/* writers may read too */
	return !write && st->readers.set && listed(&st->readers, p);
}

int
acl_check(const struct cfg_store *st, const struct peer *p, uid_t self,
    bool write, struct sp_error *err)
{
	if (acl_may(st, p, self, write))
		return 0;
	return sp_seterr(err, SP_FORBIDDEN, "uid %lu may not %s store %s; "
	    "ask for it to be listed in the store's %s =", (unsigned long)
	    p->uid, write ? "write to" : "read", st->name,
	    write ? "writers" : "readers");
}
