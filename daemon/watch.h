/*
 * watch: every committed change of a key or a prefix, sent to the
 * connections that asked, in revision order, exactly once.
 *
 * Owns: the watches (struct watch, private to watch.c): what each one
 * matches, the revision it will send next, and, for a store without
 * history, its bounded buffer of events; the table of all watches by
 * env, whose bucket for its env the writer's commit hook
 * (watch_committed()) goes through; each loop's list of its watches
 * (struct watch_loop), walked only at the end of a turn its watches
 * asked for, or a tick's.
 *
 * How events travel.  The writer calls watch_committed() with the
 * writes of each group commit once they are as durable as their sync
 * mode promises (under sync = full, once the next commit or a sync made
 * them so), just before it answers their writers, on the thread that
 * owns the env's writes.  So no watcher hears of a write before it is
 * durable, and a watch reads history only up to the last revision the
 * hook told it of.  For a store with history,
 * that only marks the env's watches as behind and wakes their loops:
 * at the end of its turn each loop reads what its watches miss from the
 * env's history (a read transaction of its own, a bounded amount per
 * watch and turn, never held across turns) and appends the matching
 * events to the connection's output.  A connection whose output is not
 * being read (more than WATCH_OUT_HIGH unsent, less under a small
 * max_output) is skipped: nothing is kept for it but its next revision,
 * and it resumes from history once it drains, or ends COMPACTED if
 * history was trimmed past it.  For a
 * store without history the hook copies the matching events into each
 * watch's buffer, up to watch_buffer bytes; past that the watch ends
 * WATCH_OVERFLOW.
 *
 * Layering: below the handler, which alone calls it; it reaches the
 * connection and the loop only through the struct watch_io the handler
 * gives it, and the writer reaches it only through its commit hook.
 *
 * Threads: watch_committed() and watch_tick() run on any thread; every
 * other function on the loop thread of the watch_loop it is given.
 */
#ifndef WATCH_H
#define WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "sp_buf.h"
#include "sp_error.h"
#include "sp_msg.h"

struct reg_env;
struct registry;
struct st_job;
struct watch;
struct watch_loop;

/* Unsent output past which a connection's watches wait (bytes), and
 * the events a watch sends in a turn, at most about (bytes; one event
 * at least): each at most an eighth of the connection's io->room(). */
#define WATCH_OUT_HIGH	(1024 * 1024)
#define WATCH_TURN_BYTES (256 * 1024)

/* What the watch module asks of the layers above (conn and loop). */
struct watch_io {
	struct sp_buf	*(*out)(void *conn);	/* its output buffer */
	size_t		 (*unsent)(void *conn);	/* bytes not sent yet */
	/* Unsent bytes past which conn is cut off. */
	size_t		 (*room)(void *conn);
	void		 (*flush)(void *conn);	/* send what it can */
	void		 (*wake)(void *loop);	/* any thread: a turn soon */
	/* Loop thread: store as the configuration now in force has it
	 * (a reload may have changed it), NULL when it is gone or conn's
	 * peer may no longer read it.  Valid while that configuration
	 * is: cfg_hold() it to keep it. */
	const struct cfg_store *(*readable)(void *conn, const char *store);
};

/* Once, before any watch or write: how to reach connections and loops,
 * and the registry history is read through. */
void	watch_init(const struct watch_io *io, struct registry *reg);

/* A loop's watches; loop is the io's handle of it.  NULL: out of memory. */
struct watch_loop *watch_loop_new(void *loop);
/* Frees it; its watches must be gone (watch_conn_closed()).  NULL-safe. */
void	watch_loop_free(struct watch_loop *wl);
/* The end-of-turn hook of a loop (arg: its watch_loop): sends what its
 * watches have to send. */
void	watch_turn_end(void *arg);

/* What a watch asks for. */
struct watch_req {
	uint64_t		 id;		/* the request's */
	const struct cfg_store	*st;
	struct sp_bytes		 repo;		/* p NULL: a fixed-path store */
	unsigned		 db;
	struct sp_bytes		 key;		/* one key, or */
	struct sp_bytes		 prefix;	/* keys starting with it */
	bool			 has_from;
	uint64_t		 from;		/* the first revision wanted */
	uint64_t		 buffer;	/* watch_buffer */
	uint64_t		 progress_ms;	/* watch_progress */
	uid_t			 uid;		/* the peer's */
	unsigned		 max_total;	/* max_watches_total */
};

/*
 * Starts a watch for conn (whose list of watches is *list) on wl's
 * loop, and appends its first reply (its id, the current revision) to
 * conn's output.  The watch counts against max_total and its uid's
 * share of it (quota.h) until it ends.  Returns 0, REG_AGAIN (the env
 * is busy for a moment: retry the request), or -1 with err
 * (BAD_REQUEST for a store that keeps no revisions, BUSY when
 * max_total or the uid's share is held, INTERNAL).
 */
int	watch_open(struct watch_loop *wl, void *conn, struct watch **list,
	    const struct watch_req *rq, struct sp_error *err);
/* Ends conn's watch id; -1 with err NOT_FOUND when it has none such. */
int	watch_close(struct watch **list, uint64_t id, struct sp_error *err);
/* How many watches the list holds (max_watches). */
unsigned watch_count(struct watch *const *list);
/* Ends every watch of a connection that is closed. */
void	watch_conn_closed(struct watch **list);

/* The writer's commit hook (writer_set_commit_hook(); arg unused). */
void	watch_committed(void *arg, struct reg_env *e,
	    const struct st_job *jobs, size_t n);
/* From a periodic timer: wakes the loops with watches, for progress
 * frames and the checks of path = envs. */
void	watch_tick(void);

/* Watches open now, and events sent since start (stats). */
uint64_t watch_open_count(void);
uint64_t watch_events_sent(void);

#endif
