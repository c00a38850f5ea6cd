/*
 * quota: what each peer uid holds of the resources every client shares.
 *
 * Owns: per uid, how much it holds of each resource of enum quota_res
 * (buffered input, connections, snapshot and restore places, watches),
 * and the daemon-wide total of each; one row per uid that holds
 * anything (a uid holding nothing has no row), and the one rule: no uid
 * takes more than its share of a cap (quota_share(): half of it, rounded
 * up), so that another user always finds the other half.  The caps
 * themselves are the configuration's, read by the caller at each take:
 * a reload that lowers one takes nothing back, it only refuses takes
 * until the holders are under it.
 *
 * No uid is exempt, root and storesd's own included: a root client
 * is still a client, and an operator's storectl must find room while
 * a program running as root holds its half.
 *
 * Threads: every function is thread-safe (one mutex: a take or a give
 * comes with a connection, a snapshot, a watch or a large frame, never
 * with a small request).  Calls nothing.
 */
#ifndef QUOTA_H
#define QUOTA_H

#include <stdint.h>
#include <sys/types.h>

#include "sp_error.h"

enum quota_res {
	QUOTA_INPUT,		/* bytes of frames being received */
	QUOTA_CONNS,		/* connections open */
	QUOTA_PLACES,		/* snapshots and restores, running or
				 * waiting for a place */
	QUOTA_WATCHES,		/* watches open */
	QUOTA_NRES
};

/* What quota_take() found. */
enum quota_why {
	QUOTA_OK,
	QUOTA_SHARE,		/* uid would hold more than its share */
	QUOTA_CAP,		/* all uids would hold more than the cap */
	QUOTA_NOMEM		/* no row for the uid: out of memory */
};

/* What one uid may hold of cap: half of it, rounded up (so 1 of 1). */
uint64_t	quota_share(uint64_t cap);
/*
 * Takes n of r for uid if it then holds at most share, and all uids
 * together at most cap (UINT64_MAX: the caller keeps the total).
 * Returns QUOTA_OK, or why not (nothing is taken then).
 */
enum quota_why	quota_take(enum quota_res r, uid_t uid, uint64_t n,
		    uint64_t share, uint64_t cap);
/* Gives back n of r that uid took. */
void		quota_give(enum quota_res r, uid_t uid, uint64_t n);
/* What uid holds of r now, and what all uids hold. */
uint64_t	quota_held(enum quota_res r, uid_t uid);
uint64_t	quota_total(enum quota_res r);
/*
 * Fills err for a take of r refused for why: BUSY naming the limit,
 * its config key and the cap, with a retry hint for places that free up
 * by themselves (snapshots); what uid holds.  Returns -1.
 */
int		quota_refusal(enum quota_res r, enum quota_why why, uid_t uid,
		    uint64_t cap, struct sp_error *err);

#endif
