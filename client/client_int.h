/*
 * client_int: libstoreclient's connection engine.
 *
 * Owns: struct sc_conn (the socket, the bytes queued to send and those
 * received, the requests awaiting replies, error recording) and the
 * engine that both APIs drive: framing, matching replies to requests by
 * id, a connection's death.  The synchronous calls (api.c, multi.c,
 * scan.c, batch.c, pipeline.c) block in its recv() and sendmsg(), each
 * bounded by the socket's own timeout (SO_RCVTIMEO, SO_SNDTIMEO); the
 * asynchronous ones (async.c) drive it from an event loop's callbacks.
 * req.c builds the requests both send; proto/ encodes and decodes them.
 */
#ifndef CLIENT_INT_H
#define CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_msg.h"
#include "storeclient.h"

#define SC_ERRMSG_MAX	(SP_ERRMSG_MAX + 160)

/* A reply that came before its turn (sync pipelining), kept until asked. */
struct sc_stash {
	uint32_t	 len;
	char		 body[];
};

/*
 * A request awaiting its reply.  The ring holds them in the order sent,
 * which is the order of their ids; storesd may answer out of order, so
 * an answered request stays (done) until those before it are answered.
 */
struct sc_rec {
	uint64_t	 id;
	enum sp_op	 op;
	bool		 done;
	bool		 keys_only;	/* scan: entries without values */
	/* async: called once with the reply or the connection's error */
	void		(*fn)(sc_conn *c, struct sc_rec *r,
			    const struct sp_reply *rep, int code,
			    const char *msg);	/* an sc_rec_fn */
	void		*fn_arg;	/* internal: the owner of fn */
	sc_reply_fn	*user_fn;	/* the caller's callback */
	void		*user_arg;
	struct sc_stash	*st;		/* sync: the reply, come early */
};

/* A descriptor to pass (SCM_RIGHTS) with the frame at out offsets
 * [at, end): sent in one sendmsg() of that frame alone, since storesd
 * ties a descriptor to the frame holding the last byte read with it. */
struct sc_passfd {
	size_t		 at;
	size_t		 end;
	int		 fd;
	bool		 owned;		/* a dup to close once sent */
};

struct sc_options {
	char		*path;
	char		*client_name;
	int		 timeout_ms;
	size_t		 max_inflight;
	size_t		 max_queued;
};

struct sc_conn {
	int		 fd;		/* -1 once dead */
	bool		 nonblock;	/* driven by an event loop (async) */
	int		 err;
	char		 errmsg[SC_ERRMSG_MAX];
	size_t		 errindex;	/* SC_NOINDEX, or the element at fault */
	int64_t		 errretry;	/* BUSY: storesd's retry_ms, or -1 */
	int		 dead_err;	/* why it died, for later calls */
	char		 dead_msg[SC_ERRMSG_MAX];
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* The default socket chosen over another one that did not exist,
	 * for the connect error to name both (empty: none). */
	char		 passed_over[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 server[64];
	int		 timeout_ms;
	size_t		 max_inflight;	/* 0: unbounded */
	size_t		 max_queued;	/* bytes; 0: unbounded */
	uint64_t	 next_id;
	uint64_t	 next_bid;	/* streamed batches */
	uint64_t	 max_frame;	/* the daemon's, from hello */
	bool		 max_known;	/* the hello's reply came */
	struct sp_buf	 out;		/* requests not yet sent */
	size_t		 out_off;	/* ... of which this much is sent */
	/* Async, until the hello's reply: nothing from this offset of out
	 * on is sent, since the frame there may be over max_frame (SC_NOHOLD:
	 * all may go). */
	size_t		 hold;
	struct sc_passfd *passfd;	/* descriptors to pass, in out order */
	size_t		 npassfd;
	struct sp_buf	 in;		/* bytes received */
	size_t		 in_off;	/* start of the unread bytes */
	const char	*rbody;		/* the frame sc__next_reply() took */
	uint32_t	 rlen;

	/* Requests awaiting replies, oldest first (a ring). */
	struct sc_rec	*pend;
	size_t		 pend_head;
	size_t		 npend;		/* in the ring, done or not */
	size_t		 pend_cap;
	size_t		 inflight;	/* in the ring and not done */
	struct sc_stash	*held;		/* the stashed reply handed out */
	/* Batches that have sent chunks and are not committed or aborted:
	 * their acknowledgements share the ring above. */
	unsigned	 streaming;
	uint64_t	 progress;	/* replies received, for timeouts */
	struct sc_async	*async;		/* the async handle, or NULL */
	unsigned	 holds;		/* async batches still open on it */
	bool		 orphan;	/* its sc_async is gone: the last
					 * hold frees it */
	struct sc_watch	*watches;	/* open on it (watch.c) */
	uint64_t	 last_rev;	/* of the last reply that had one */
};

/* Records a failure on c; returns -1. */
int	sc__fail(sc_conn *c, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Records a failure that kills the connection; returns -1.  Requests
 * awaiting replies are not told here: the caller's driver does that. */
int	sc__die(sc_conn *c, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Clears c's error after a success; returns 0. */
int	sc__ok(sc_conn *c);

/* Copies s for an object that outlives the call; NULL stays NULL.
 * Returns 0, or -1 (ENOMEM, recorded on c). */
int	sc__strdup(sc_conn *c, const char *s, char **out);
/* Fills b from a NUL-terminated string (NULL: absent). */
void	sc__str(struct sp_bytes *b, const char *s);
/* The largest chunk of ops or keys to put in one request. */
size_t	sc__chunk(const sc_conn *c);
/* multi.c: the end of the chunk of keys that starts at from: as many
 * keys as fit in sc__chunk(), at least one (from < n). */
size_t	sc__keys_chunk(const sc_conn *c, const sc_bytes *keys, size_t from,
	    size_t n);

/* ------------------------------------------------------- connecting */

/* Allocates a connection for options o (NULL: defaults) and opens its
 * socket, non-blocking if asked; NULL when out of memory.  A failure
 * leaves it dead with the reason.  The socket is not connected yet. */
sc_conn	*sc__new(const sc_options *o, bool nonblock);
/*
 * connect(2) on c's socket.  Returns 0 when connected, 1 when storesd's
 * backlog is full and a non-blocking connect should be retried later,
 * -1 when it failed (c dead).
 */
int	sc__connect(sc_conn *c);
/* The hello request for o's client name (NULL). */
void	sc__hello_req(struct sp_req *rq, const char *client_name);
/* Takes the hello reply's facts; 0, or -1 (c dead: BAD_VERSION). */
int	sc__hello_done(sc_conn *c, const struct sp_reply *rep);
/* Frees c and everything it holds; closes what it passes. */
void	sc__free(sc_conn *c);

/* ------------------------------------------------------ the engine */

/*
 * Appends rq to the unsent requests with a new id; when pass_fd >= 0 it
 * is passed with the request's first byte (dup'ed if dup_fd, so the
 * caller may close it).  When track is set, a record is pushed on the
 * ring and returned in *recp (valid until the next push).  Returns 0,
 * or -1 recorded on c (the connection stays usable unless it was dead).
 */
int	sc__send(sc_conn *c, struct sp_req *rq, int pass_fd, bool dup_fd,
	    bool track, struct sc_rec **recp);
/*
 * Writes unsent requests.  Blocking connections write all of them (or
 * die); non-blocking ones write what the socket takes.  Returns 0, or -1
 * when the connection died.
 */
int	sc__write(sc_conn *c);
/* Bytes queued and not yet written. */
size_t	sc__queued(const sc_conn *c);
/* Of those, the bytes that may be written now (none held). */
size_t	sc__sendable(const sc_conn *c);
/*
 * After the hello's reply: takes the next held request whose frame is
 * over max_frame out of the queue, unsent.  Returns 1 with its id in
 * *id, for its record to be told; 0 when none is left, and then nothing
 * is held any more.
 */
#define SC_NOHOLD	((size_t)-1)
int	sc__unhold(sc_conn *c, uint64_t *id);
/*
 * Reads what the socket has (non-blocking), or waits for some bytes
 * within the timeout (blocking).  Returns 1 when bytes came, 0 when a
 * non-blocking socket had none, -1 when the connection died.
 */
int	sc__read(sc_conn *c);
/*
 * Takes the next whole frame of the bytes received and decodes it into
 * rep (valid until the next read).  Returns 1, 0 when no whole frame is
 * there, -1 when it could not be decoded or storesd spoke about the
 * whole connection in a frame of id 0 (c dead).
 */
int	sc__next_reply(sc_conn *c, struct sp_reply *rep);
/* The record awaiting id's reply, or NULL. */
struct sc_rec *sc__find(sc_conn *c, uint64_t id);
/* Marks r answered; records leave the ring once all before are. */
void	sc__retire(sc_conn *c, struct sc_rec *r);
/* Sync: forgets every record (the connection died). */
void	sc__lose_all(sc_conn *c);
/* The oldest record not answered yet, or NULL. */
struct sc_rec *sc__oldest(sc_conn *c);

/* Sync: sends rq and waits for its reply, valid until the next call on
 * c.  Returns 0 for storesd's success, or -1 with c's error set. */
int	sc__call(sc_conn *c, struct sp_req *rq, int pass_fd,
	    struct sp_reply *rep);
/* Sync: waits for the reply to the record r; as sc__call(). */
int	sc__await(sc_conn *c, struct sc_rec *r, struct sp_reply *rep);
/* Records rep's outcome on c: 0 for success, -1 for storesd's error. */
int	sc__result(sc_conn *c, const struct sp_reply *rep);
/* rep's retry hint (BUSY's retry_ms), or -1 when it has none. */
int64_t	sc__retry_ms(const struct sp_reply *rep);
/* Refuses a call the connection's bounds do not allow now; 0 or -1. */
int	sc__room(sc_conn *c);

/* pipeline.c: waits for the oldest awaited reply; as sc__result(). */
int	sc__collect_one(sc_conn *c, struct sp_reply *rep);

/* watch.c: queues a frame of a watch (rep decoded from body), or drops
 * it when its watch is gone.  0, or -1 (c dead: out of memory). */
int	sc__watch_frame(sc_conn *c, const char *body, uint32_t len,
	    const struct sp_reply *rep);
/* watch.c: c is being freed: its watches outlive it, ended. */
void	sc__watch_detach_all(sc_conn *c);
/* watch.c, async: hands a watch's frame (rep, valid during the call) to
 * its watch's callback, or drops it when the watch is gone. */
void	sc__watch_deliver(sc_conn *c, const struct sp_reply *rep);
/* watch.c, async: c ends (code, msg): the last call of each watch still
 * open on it. */
void	sc__watch_end_all(sc_conn *c, int code, const char *msg);

/* ------------------------------------------------------- requests */

/* req.c: each fills rq for one operation from the public arguments, or
 * returns -1 with SC_ERR_INVALID recorded on c.  Byte arguments are
 * pointed at, not copied. */
int	sc__req_target(sc_conn *c, struct sp_req *rq, enum sp_op op,
	    const char *repo, const char *store, const char *db);
int	sc__req_key(sc_conn *c, struct sp_req *rq, enum sp_op op,
	    const char *repo, const char *store, const char *db,
	    const void *key, size_t klen, const void *val, size_t vlen);
int	sc__req_cond(sc_conn *c, struct sp_req *rq, enum sp_op op,
	    const char *repo, const char *store, const char *db,
	    const void *key, size_t klen, bool if_absent, const void *old,
	    size_t oldlen, const void *val, size_t vlen);
int	sc__req_keys(sc_conn *c, struct sp_req *rq, struct sp_buf *raw,
	    enum sp_op op, const char *repo, const char *store,
	    const char *db, const sc_bytes *keys, size_t from, size_t to);
int	sc__req_snapshot(sc_conn *c, struct sp_req *rq, const char *repo,
	    const char *store, int fd, int compact);
int	sc__req_fork(sc_conn *c, struct sp_req *rq, const char *src_repo,
	    const char *store, const char *dst_repo);
void	sc__req_filtered(struct sp_req *rq, enum sp_op op, const char *repo,
	    const char *store);
/* A scan page from opts o (NULL: all), after cursor (NULL: the first),
 * asking for at most left entries when has_limit. */
void	sc__req_scan(struct sp_req *rq, const sc_scan_opts *o,
	    const void *cursor, size_t cursorn, bool has_limit,
	    uint64_t left);

/* Decoders of replies into what the caller owns (api.c, multi.c). */
int	sc__stats_out(sc_conn *c, const struct sp_reply *rep, sc_stats **out);
int	sc__live_out(sc_conn *c, const struct sp_reply *rep, sc_live **out);
int	sc__mget_out(sc_conn *c, const struct sp_reply *rep, size_t n,
	    sc_bytes **vals);

/* scan.c: the scan options' fields, for req.c. */
struct sc_scan_opts {
	struct sp_bytes	 prefix;	/* copies, owned */
	struct sp_bytes	 start;
	struct sp_bytes	 end;
	bool		 has_limit;
	uint64_t	 limit;
	bool		 reverse;
	bool		 keys_only;
};

/* ------------------------------------------------------------ async */

/* The function a record calls with its reply, or rep NULL with the code
 * and message of why none will come. */
typedef void	 sc_rec_fn(sc_conn *c, struct sc_rec *r,
		    const struct sp_reply *rep, int code, const char *msg);

/*
 * async.c: queues rq on an async connection with a record that calls fn
 * (fn_arg its own), or, fn NULL, the caller's user_fn with an sc_reply.
 * Asks the loop for write readiness.  Returns 0 or -1 (recorded on c).
 */
int	sc__async_send(sc_conn *c, struct sp_req *rq, int pass_fd,
	    sc_rec_fn *fn, void *fn_arg, sc_reply_fn *user_fn,
	    void *user_arg);
/* Calls user_fn with rep (code, message and index only, for rep's code
 * != SC_OK) as the reply to an op. */
void	sc__async_user(sc_conn *c, enum sp_op op, const struct sp_reply *rep,
	    sc_reply_fn *user_fn, void *user_arg);
/* ac's connection when ac may take a request, else NULL. */
sc_conn	*sc__async_conn(sc_async *ac);
/* A hold of an async connection's engine by a batch outliving it. */
void	sc__release(sc_conn *c);
/* batch.c: a batch on an async connection's engine. */
sc_batch *sc__batch_begin_async(sc_conn *c, const char *repo,
	    const char *store, const char *db);

#endif
