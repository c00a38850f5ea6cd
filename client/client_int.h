/*
 * client_int: libstoreclient's connection internals.
 *
 * Owns: struct sc_conn, the transport (one request out, its reply
 * back) and error recording.  api.c builds the requests; proto/ encodes
 * and decodes them.
 */
#ifndef CLIENT_INT_H
#define CLIENT_INT_H

#include <stdint.h>
#include <sys/un.h>

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_msg.h"
#include "storeclient.h"

/* A reply that came before its turn (pipelining), kept until asked for. */
struct sc_stash {
	struct sc_stash	*next;
	uint64_t	 id;
	uint32_t	 len;
	char		 body[];
};

struct sc_conn {
	int		 fd;		/* -1 once dead */
	int		 err;
	char		 errmsg[SP_ERRMSG_MAX + 160];
	size_t		 errindex;	/* SC_NOINDEX, or the element at fault */
	int		 dead_err;	/* why it died, for later calls */
	char		 dead_msg[SP_ERRMSG_MAX + 160];
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 server[64];
	int		 timeout_ms;
	uint64_t	 next_id;
	uint64_t	 next_bid;	/* streamed batches */
	uint64_t	 max_frame;	/* the daemon's, from hello */
	struct sp_buf	 out;		/* the request being sent */
	struct sp_buf	 in;		/* bytes received */
	size_t		 in_off;	/* start of the unread bytes */
	size_t		 in_done;	/* end of the last reply handed out */

	/* Pipelining: ids sent and not collected, oldest first (a ring). */
	uint64_t	*pend;
	size_t		 pend_head;
	size_t		 npend;
	size_t		 pend_cap;
	struct sc_stash	*stash;		/* replies that came early */
	struct sc_stash	*held;		/* the stashed reply handed out */
	/* Batches that have sent chunks and are not committed or aborted:
	 * their acknowledgements share the ring above. */
	unsigned	 streaming;
};

/* Records a failure on c; returns -1. */
int	sc__fail(sc_conn *c, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Records a failure that kills the connection; returns -1. */
int	sc__die(sc_conn *c, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Copies s for an object that outlives the call; NULL stays NULL.
 * Returns 0, or -1 (ENOMEM, recorded on c). */
int	sc__strdup(sc_conn *c, const char *s, char **out);
/* Fills b from a NUL-terminated string (NULL: absent). */
void	sc__str(struct sp_bytes *b, const char *s);
/* Starts rq as op on (repo, store, db); store is required.  0 or -1. */
int	sc__target(sc_conn *c, struct sp_req *rq, enum sp_op op,
	    const char *repo, const char *store, const char *db);
/* The largest chunk of ops or keys to put in one request. */
size_t	sc__chunk(const sc_conn *c);

/*
 * Sends rq (its id is assigned here) and waits for its reply, which is
 * valid until the next call on c.  pass_fd >= 0 travels with the
 * request (SCM_RIGHTS).  Returns 0 when storesd reports success, or -1
 * with c's error set (storesd's code and message, or a connection
 * error).  Refused while pipelined replies are pending.
 */
int	sc__call(sc_conn *c, struct sp_req *rq, int pass_fd,
	    struct sp_reply *rep);

/* The steps of sc__call(), for pipelining: */
/* Appends rq to the unsent requests with a new id; 0 or -1. */
int	sc__encode(sc_conn *c, struct sp_req *rq);
/* Sends the unsent requests (the first byte carries pass_fd if >= 0). */
int	sc__flush(sc_conn *c, int pass_fd);
/* Waits for the reply to id, keeping early replies to others pending. */
int	sc__await(sc_conn *c, uint64_t id, struct sp_reply *rep);
/* Records rep's outcome on c: 0 for success, -1 for storesd's error. */
int	sc__result(sc_conn *c, const struct sp_reply *rep);

/* pipeline.c: adds id to the requests awaiting replies; 0 or -1. */
int	sc__push(sc_conn *c, uint64_t id);
/* Waits for the oldest awaited reply; as sc__result(), or -1 when the
 * connection died (then nothing is awaited any more). */
int	sc__collect_one(sc_conn *c, struct sp_reply *rep);

#endif
