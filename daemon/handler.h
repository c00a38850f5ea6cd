/*
 * handler: what each request does.
 *
 * Owns: turning a decoded request into its effect.  Cheap requests
 * (hello, ping, get, stats, live) are answered right here on the I/O
 * thread, inside one read transaction, so a read pays no thread
 * hand-off.  Requests that may wait on a disk (put, del, snapshot,
 * fork) become jobs for the pool.  Every failure becomes an error reply
 * with a stable code and a message; nothing here closes a connection.
 * Also owns what requests leave behind between frames: per connection
 * (struct handler_conn: streamed batches, the request being counted)
 * and per loop (struct handler_loop: the turn's read transactions and
 * deferred writes, ended by the end-of-turn hooks it adds to the loop).
 * Its files: handler.c (dispatch, what every request needs, the
 * connection and loop state), handler_read.c, handler_write.c,
 * handler_stats.c, handler_snapshot.c; handler_int.h is what they share.
 */
#ifndef HANDLER_H
#define HANDLER_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct loop;

/*
 * Sets up the handler's state of loop l: the turn's read transactions
 * and deferred writes, and the end-of-turn hooks that end them.  Before
 * l runs.  Returns 0, or -1 (logged).
 */
int	handler_loop_init(struct loop *l);
/* Frees it, after loop_fini(l).  NULL-safe on a loop never set up. */
void	handler_loop_fini(struct loop *l);

/* handler_frame(): try the frame again shortly. */
#define HANDLER_AGAIN	(-2)

/* Sets up the handler's state of a new connection c.  0, or -1 (ENOMEM,
 * logged): c cannot be served. */
int	handler_conn_open(struct conn *c);
/*
 * Handles one frame's body from c.  Returns 0, or HANDLER_AGAIN when the
 * env it needs is busy for a moment (closing, or being retuned after a
 * reload): nothing of the request was done, and the frame is to be
 * handled again shortly, before any later frame of c.
 */
int	handler_frame(struct conn *c, const char *body, size_t n);
/* handler_waits_for(): any env's settling, or the next poll. */
#define HANDLER_WAITS_ANY	0	/* REG_WAIT_ANY */
/*
 * After handler_frame() said HANDLER_AGAIN: what the frame waits for, a
 * key the registry's settled hook names when that env stopped being
 * busy (registry.h: reg_set_settled_hook(), reg_again_key()), or
 * HANDLER_WAITS_ANY.
 */
uint64_t handler_waits_for(const struct conn *c);
/* Forgets what c's requests left half done (streamed batches); c's
 * socket is closed. */
void	handler_conn_closed(struct conn *c);
/* Frees the handler's state of c, with c.  NULL-safe (c->hc). */
void	handler_conn_free(struct conn *c);

#endif
