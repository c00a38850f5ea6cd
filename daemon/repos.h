/*
 * repos: the repository life cycle on the pool: listing the envs on
 * disk, creating, dropping and restoring them.
 *
 * Owns: what one such request needs once it has left its I/O thread
 * (struct repos_req, kept in its job's storage) and running it.  Each
 * runs on a worker because it waits on the disk (a directory walk, a
 * close that syncs, a copy) and may wait briefly for an env to go idle
 * (reg_claim()); a restore, which also waits on the client's
 * descriptor, runs on a thread of its own (snap.c, within
 * snapshot_max), so a stalled client holds no thread that others
 * share.  Drops and restores hold their env directories claimed
 * in the registry while they move them, so no request opens an env that
 * is half there; the moves themselves are single renames
 * (layout_repos.c).  Below the handler, which fills the request; above
 * job, registry, layout and store.
 */
#ifndef REPOS_H
#define REPOS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "sp_msg.h"

struct job;

enum repos_what {
	REPOS_LIST,
	REPOS_CREATE,
	REPOS_DROP,
	REPOS_RESTORE,		/* from the job's fd */
};

struct repos_req {
	enum repos_what		 what;
	/* Resolved against cfg, which reload.c keeps alive. */
	const struct config	*cfg;
	const struct cfg_store	*st;		/* NULL: every store */
	char			 repo[SP_REPO_MAX + 1];
	bool			 replace;	/* restore over an env */
	char			 prefix[SP_REPO_MAX + 1];	/* list */
	size_t			 prefix_len;
	bool			*readable;	/* list: per store of cfg */
};

/*
 * Makes j (kind JOB_CALL, or JOB_INBOUND for a restore) run rq: a copy of it and of rq->readable (n
 * per store of rq->cfg, for a list) go into j's storage.  Returns 0, or
 * -1 (ENOMEM).
 */
int	repos_job(struct job *j, const struct repos_req *rq);

#endif
