/*
 * commitlog: when an env's recent commits were made, so that a reader's
 * snapshot can be dated.  LMDB records a reader's txnid but not when it
 * began.  A reader of snapshot T began before commit T + 1 was made (or
 * it would see it), so the time since the first commit after T is a
 * lower bound of its age, and a close one.
 *
 * An entry is a grain: the commits made within CL_GRAIN_MS of its first,
 * remembered by the last of them (its txnid and time).  For snapshot T
 * the first grain whose last txnid is past T holds commit T + 1, made no
 * later than that grain's time.  The log keeps CL_CAP grains; when full,
 * every other grain of its older half is dropped, so it reaches back to
 * the env's first noted commit with a resolution that coarsens with age:
 * an old reader's age stays bounded from below, less tightly.
 *
 * One writer (the env's) notes; stats reads from any thread: a mutex.
 */
#ifndef STORESD_COMMITLOG_H
#define STORESD_COMMITLOG_H

#include <pthread.h>
#include <stdint.h>

#define CL_CAP		64
#define CL_GRAIN_MS	10

struct cl_entry {
	uint64_t	 txnid;		/* the grain's last commit */
	uint64_t	 ms;		/* when that was made */
	uint64_t	 start_ms;	/* when the grain's first was */
};

struct cl_log {
	pthread_mutex_t	 mtx;
	unsigned	 n;
	struct cl_entry	 e[CL_CAP];	/* ascending txnid */
};

void	 cl_init(struct cl_log *l);
void	 cl_fini(struct cl_log *l);
/* Commit txnid was made at now_ms. */
void	 cl_note(struct cl_log *l, uint64_t txnid, uint64_t now_ms);
/*
 * Milliseconds a reader of snapshot txnid has been reading at least: the
 * time since the first grain holding a commit after txnid.  0 when there
 * is none (the reader sees the latest commit, or none was noted).
 */
uint64_t cl_age_ms(struct cl_log *l, uint64_t txnid, uint64_t now_ms);

#endif
