/*
 * conn: one client connection.
 *
 * Owns: the socket, its input and output buffers, descriptors passed
 * with SCM_RIGHTS until their frame is handled, the peer's credentials,
 * and the
 * connection's life: it is freed only once the socket is closed and no
 * job of it is still out on the pool.  Lives on one loop's thread.
 */
#ifndef CONN_H
#define CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "acl.h"
#include "sp_buf.h"
#include "sp_msg.h"

#define CONN_MAX_FDS	4	/* passed descriptors kept at once */

struct event;
struct handler_conn;
struct job;
struct loop;

struct conn {
	TAILQ_ENTRY(conn)	 link;
	TAILQ_ENTRY(conn)	 stall_link;	/* in loop->stalled */
	TAILQ_ENTRY(conn)	 flush_link;	/* in loop->flushing */
	struct loop		*loop;
	uint64_t		 serial;	/* for logs */
	int			 fd;		/* -1 once closed */
	struct event		*rev;
	struct event		*wev;
	struct sp_buf		 in;
	struct sp_buf		 out;
	size_t			 out_off;	/* bytes of out already sent */
	int			 fds[CONN_MAX_FDS];
	uint64_t		 fdpos[CONN_MAX_FDS];	/* see take_rights() */
	unsigned		 nfds;
	uint64_t		 in_pos;	/* stream offset of in.data[0] */
	uint64_t		 frame_end;	/* of the frame being handled */
	unsigned		 jobs;		/* out on the pool */
	bool			 closing;	/* close once out is sent */
	bool			 eof;		/* peer shut its side: finish
						 * its frames, then close */
	bool			 paused;	/* max_inflight: not reading */
	bool			 stalled;	/* a frame waits for its env */
	bool			 told_paused;	/* logged: max_inflight hit */
	bool			 told_turn;	/* logged: per-turn cap hit */
	bool			 starved;	/* waits: max_input reached */
	bool			 told_input;	/* logged: max_input hit */
	bool			 frame_timed;	/* deadline runs for a frame */
	bool			 writing;	/* wev added: replies wait */
	bool			 flushing;	/* in loop->flushing */
	uint64_t		 timed_pos;	/* ... that starts here */
	uint64_t		 waits;		/* stalled: for this key
						 * (handler_waits_for()) */
	size_t			 in_charged;	/* of in, against max_input */
	struct event		*deadline;	/* frame_timeout */
	struct event		*retry;		/* when stalled or starved */
	struct event		*more;		/* next turn: frames left */
	struct peer		 peer;		/* who the kernel says it is */
	/* What the handler keeps of c (its requests' state), opaque here. */
	struct handler_conn	*hc;
};

/* Takes over an accepted socket on loop l's thread. */
void	conn_new(struct loop *l, int fd);
/* A job of c came back: queue its reply and drop its reference. */
void	conn_job_done(struct conn *c, struct job *j);
/*
 * Loop thread: the envs of keys (n of them) stopped being busy; l's
 * connections stalled on one of them, or on any (HANDLER_WAITS_ANY),
 * try their frame again now, all of them with all (their fallback
 * timer stays for envs that do not say so).
 */
void	conn_retry_stalled(struct loop *l, const uint64_t *keys, unsigned n,
	    bool all);
/* The reply buffer of c; handler.c appends frames to it. */
struct sp_buf *conn_out(struct conn *c);
/*
 * Takes a descriptor the peer passed with the frame being handled; -1
 * when there is none.  Those the handler does not take are closed once
 * the frame is handled: a descriptor belongs to its frame.
 */
int	conn_take_fd(struct conn *c);
/* True when the frame being handled came with a descriptor. */
bool	conn_has_fd(const struct conn *c);
/* A job of c is leaving for the pool: c stays until it comes back. */
void	conn_hold(struct conn *c);
/* Sends what can be sent now and watches for the rest. */
void	conn_flush(struct conn *c);
/*
 * Sends c's output once the turn's end-of-turn hooks are done
 * (conn_flush_turn()): for output added where a send could close c
 * under its caller's feet (an end-of-turn hook walking lists c is on).
 */
void	conn_flush_soon(struct conn *c);
/* Loop thread, after the end-of-turn hooks: sends what
 * conn_flush_soon() queued in the turn. */
void	conn_flush_turn(struct loop *l);
/* Bytes of c's output not sent yet. */
size_t	conn_unsent(const struct conn *c);
/*
 * Bytes of output c may leave unsent before it is cut off (max_output,
 * and at least one reply to the largest request): output that c's own
 * requests did not ask for (watch events) stays well within it.
 */
size_t	conn_out_room(const struct conn *c);
/*
 * Reads nothing more from c, which closes once its replies are out.
 * Safe while c's frames are being handled.
 */
void	conn_end_input(struct conn *c);
/* Closes the socket now, replies or not (stop timeout). */
void	conn_abort(struct conn *c);
/* Stops reading; closes once the replies are out (loop stop). */
void	conn_drain(struct conn *c);
/* True when c has nothing in flight and nothing left to send. */
bool	conn_idle(const struct conn *c);

#endif
