/*
 * snap: snapshots, streamed into the descriptor a client passed.
 *
 * Owns: the snapshots running now, each on two threads of its own (never
 * the worker pool's, which every durable write needs), and the restores
 * reading a client's descriptor, each on one (they count against
 * snapshot_max alike): a copier that
 * runs LMDB's copy of the env into a pipe that storesd owns, and a
 * feeder that moves the bytes from that pipe to the client's
 * descriptor.  Also the daemon-wide count of them (snapshot_max) and the
 * bell that cuts them all off when storesd stops.
 *
 * Why two threads and a pipe of our own: LMDB's plain copy writes the
 * env's meta pages while it holds the env's writer lock, and a
 * compacting copy holds a read transaction for as long as it writes.
 * Into an empty pipe of storesd's, the meta pages go at once, so the
 * writer lock is held for no longer than a copy into a file.  The
 * client's descriptor is then written only by the feeder, which never
 * blocks on it: splice(SPLICE_F_NONBLOCK) into a pipe, MSG_DONTWAIT into
 * a socket, poll() first for anything else but a file or block device
 * (which wait on a disk only).  A descriptor that takes no bytes, or
 * fewer than SNAP_PROGRESS bytes, within snapshot_timeout is cut off:
 * the copy then fails on its closed pipe, ends its read transaction, and
 * the client gets FD_ERROR.  So is a snapshot not done within
 * snapshot_max_time, however steadily its descriptor takes bytes: that
 * bounds how long a read transaction (and two threads) is held.  Memory per snapshot: storesd's pipe
 * (1 MiB at most) and a SNAP_BUF buffer; no disk.
 *
 * Threads: every function is thread-safe.
 */
#ifndef SNAP_H
#define SNAP_H

#include <sys/types.h>

struct job;
struct snap_set;

/* The least a descriptor must take per snapshot_timeout. */
#define SNAP_PROGRESS	(64 * 1024)

/* An empty set; NULL when out of memory or descriptors (errno set). */
struct snap_set	*snap_new(void);
/*
 * Runs snapshot job j (its env referenced, its fd the client's, its
 * post hook set) of peer uid and finishes it (job_finish()) with its
 * reply: the size, FD_ERROR, the copy's error, INTERNAL when a thread
 * or pipe cannot be had.  BUSY at once (with a retry hint) when uid
 * holds its share of snapshot_max already, running or waiting
 * (quota.h), so that other users always find places.  While
 * snapshot_max run, j waits (no thread, no transaction) for one to
 * end, at most snapshot_timeout (snap_expire()), then is BUSY; BUSY at
 * once while storesd stops.  On j's I/O thread: the limits j runs under
 * are read from the configuration now, never later on another thread.
 * A JOB_INBOUND job (its fd the client's) is run alike, as one of
 * snapshot_max, on one thread of its own: its j->run(), which replies,
 * finishes it, and polls snap_bell() beside the client's descriptor;
 * snap.c sets j->vacate, which job_finish() runs first.  Either way the
 * place goes back before the reply is posted: a client's next snapshot
 * or restore, sent as soon as it is answered, finds it free.
 */
void		 snap_submit(struct snap_set *s, struct job *j, uid_t uid);
/* Answers BUSY to the snapshots that waited snapshot_timeout for a
 * place.  Often: from housekeeping. */
void		 snap_expire(struct snap_set *s);
/* Snapshots running now. */
unsigned	 snap_running(struct snap_set *s);
/* A descriptor that becomes readable, for good, once storesd stops: a
 * JOB_INBOUND waiting on a client gives up then. */
int		 snap_bell(struct snap_set *s);
/* Cuts off every running snapshot (each replies BUSY), answers the
 * waiting ones BUSY and refuses new ones; returns at once.  For a stop. */
void		 snap_stop(struct snap_set *s);
/* Waits until no snapshot runs and every one's job_finish() has
 * returned (its reply posted), then frees s.  NULL-safe. */
void		 snap_free(struct snap_set *s);

#endif
