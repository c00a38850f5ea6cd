/*
 * sp_msg: requests and replies of the wire protocol.
 *
 * Owns: the request fields and the reply fields (one table each in
 * sp_msg.c), which request fields each operation takes, the key rule
 * (sp_key_ok), and the encoding and decoding of every request and reply.  The daemon and the
 * client library both go through these functions; nothing else in the
 * tree knows a field name.  proto/PROTOCOL.md is the prose of this file.
 *
 * Decoded byte strings (struct sp_bytes) point into the frame they were
 * decoded from and are valid only as long as it is.
 */
#ifndef SP_MSG_H
#define SP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_mp.h"

#define SP_PROTO_VERSION	1

#define SP_KEY_MAX	511	/* LMDB's default key limit */
#define SP_REPO_MAX	255
#define SP_NAME_MAX	64	/* store and db names */

/*
 * The key rule, written here only: a key is 1 to SP_KEY_MAX bytes
 * (BAD_KEY otherwise).  A scan's bound (prefix, start, end, cursor) may
 * be empty but is never longer than a key.
 */
static inline bool
sp_key_ok(size_t n)
{
	return n >= 1 && n <= SP_KEY_MAX;
}

static inline bool
sp_bound_ok(size_t n)
{
	return n <= SP_KEY_MAX;
}

enum sp_op {
	SP_OP_NONE = 0,
	SP_OP_HELLO,
	SP_OP_PING,
	SP_OP_GET,
	SP_OP_PUT,
	SP_OP_DEL,
	SP_OP_SNAPSHOT,
	SP_OP_FORK,
	SP_OP_STATS,
	SP_OP_LIVE,
	SP_OP_BATCH,
	SP_OP_BATCH_ABORT,
	SP_OP_MGET,
	SP_OP_MISSING,
	SP_OP_COUNT,
	SP_OP_SCAN,
	SP_OP_REPOS,
	SP_OP_CREATE,
	SP_OP_DROP,
	SP_OP_RESTORE,
	SP_OP_WATCH,
	SP_OP_UNWATCH,
	SP_OP_REV,
	SP_OP_MAX
};

/* The wire name of an op ("get"), or NULL. */
const char	*sp_op_name(enum sp_op op);

/* Request fields, as bits of sp_req.has. */
enum sp_field {
	SP_F_ID		= 1u << 0,
	SP_F_OP		= 1u << 1,
	SP_F_REPO	= 1u << 2,
	SP_F_STORE	= 1u << 3,
	SP_F_DB		= 1u << 4,
	SP_F_KEY	= 1u << 5,
	SP_F_VAL	= 1u << 6,
	SP_F_DST	= 1u << 7,
	SP_F_COMPACT	= 1u << 8,
	SP_F_VERSION	= 1u << 9,
	SP_F_CLIENT	= 1u << 10,
	SP_F_OPS	= 1u << 11,
	SP_F_KEYS	= 1u << 12,
	SP_F_BID	= 1u << 13,
	SP_F_MORE	= 1u << 14,
	SP_F_IF_ABSENT	= 1u << 15,
	SP_F_IF_EQUALS	= 1u << 16,
	SP_F_PREFIX	= 1u << 17,
	SP_F_START	= 1u << 18,
	SP_F_END	= 1u << 19,
	SP_F_CURSOR	= 1u << 20,
	SP_F_LIMIT	= 1u << 21,
	SP_F_REVERSE	= 1u << 22,
	SP_F_KEYS_ONLY	= 1u << 23,
	SP_F_REPLACE	= 1u << 24,
	SP_F_FROM	= 1u << 25,
	SP_F_WATCH	= 1u << 26,
};

/*
 * A msgpack array inside a frame: its elements' bytes and their count.
 * Decoded arrays have been walked (raw holds exactly n elements), but
 * for keys that sp_req_decode_defer() left unchecked: raw is then
 * everything after the header to the end of the request, and
 * sp_keys_check() walks it.
 */
struct sp_array {
	struct sp_bytes	 raw;		/* the elements, after the header */
	uint32_t	 n;
	bool		 unchecked;
};

struct sp_req {
	uint64_t	 id;
	enum sp_op	 op;
	uint32_t	 has;		/* SP_F_* bits of the fields present */
	struct sp_bytes	 repo;
	struct sp_bytes	 store;
	struct sp_bytes	 db;
	struct sp_bytes	 key;
	struct sp_bytes	 val;
	struct sp_bytes	 dst;		/* fork: the destination repo */
	struct sp_bytes	 client;	/* hello: the client's name, for logs */
	uint64_t	 version;	/* hello: the client's protocol version */
	bool		 compact;	/* snapshot: compact while copying */
	struct sp_array	 ops;		/* batch: op maps (sp_batch_next) */
	struct sp_array	 keys;		/* mget, missing: bin keys */
	uint64_t	 bid;		/* batch: a streamed batch's id */
	bool		 more;		/* batch: more chunks follow */
	bool		 if_absent;	/* put */
	struct sp_bytes	 if_equals;	/* put, del */
	struct sp_bytes	 prefix;	/* scan */
	struct sp_bytes	 start;		/* scan: inclusive */
	struct sp_bytes	 end;		/* scan: exclusive */
	struct sp_bytes	 cursor;	/* scan: resume after (before) it */
	uint64_t	 limit;		/* scan */
	bool		 reverse;	/* scan */
	bool		 keys_only;	/* scan */
	bool		 replace;	/* restore: over an existing env */
	uint64_t	 from;		/* watch: the first revision wanted */
	uint64_t	 watch;		/* unwatch: the watch's id */
};

/* ------------------------------------------------------------ batches */

enum sp_batch_kind {
	SP_BATCH_PUT,
	SP_BATCH_DEL,		/* absent keys are no error in a batch */
	SP_BATCH_PUT_IF_ABSENT,
	SP_BATCH_EXPECT,	/* the key holds exactly val */
	SP_BATCH_EXPECT_ABSENT,
	SP_BATCH_CLEAR,		/* empty the db */
};

/* One op of a batch; db.p is NULL for the request's db. */
struct sp_batch_op {
	enum sp_batch_kind	 kind;
	struct sp_bytes		 db;
	struct sp_bytes		 key;
	struct sp_bytes		 val;
};

/* The wire name of a batch op ("put_if_absent"). */
const char	*sp_batch_kind_name(enum sp_batch_kind k);

/*
 * Reads the next op of a batch's ops array (start the reader at
 * req->ops.raw).  Checks the op's fields: put, put_if_absent and expect
 * take key and val, del and expect_absent key, clear neither; all may
 * name a db.  Returns 0, or -1 with err (BAD_REQUEST).
 */
int	sp_batch_next(struct sp_mp_rd *rd, struct sp_batch_op *op,
	    struct sp_error *err);
/* Appends one op map to b (without any frame): a batch in the making.
 * Returns 0 or -1 (ENOMEM). */
int	sp_batch_op_encode(struct sp_buf *b, const struct sp_batch_op *op);
/* Appends one key to b: the elements of a keys array in the making. */
int	sp_key_encode(struct sp_buf *b, const void *key, size_t n);
/*
 * Checks a request's keys: each bin (or str) of 1 to SP_KEY_MAX bytes,
 * exactly keys->n of them and nothing after.  Returns 0, or -1 with err
 * (BAD_REQUEST or BAD_KEY, with the index of the key at fault).
 */
int	sp_keys_check(const struct sp_array *keys, struct sp_error *err);

/*
 * Decodes a request body.  Checks types, that no field repeats, that the
 * op is known, and that exactly the fields the op takes are present.
 * Returns 0, or -1 with err set (BAD_REQUEST); req->id and SP_F_ID are
 * set whenever the id itself could be read, so the error reply can name
 * the request it answers.
 */
int	sp_req_decode(const void *body, size_t n, struct sp_req *req,
	    struct sp_error *err);
/*
 * The same, but a keys array of more than defer_keys elements that ends
 * the request is not walked: checking millions of keys is left to
 * sp_keys_check() wherever they are read, off the thread that decodes
 * (storesd's I/O thread), so that its cost is not paid there.  Such a
 * request may decode although its keys are malformed.  keys.unchecked
 * says it was left so.
 */
int	sp_req_decode_defer(const void *body, size_t n, struct sp_req *req,
	    uint32_t defer_keys, struct sp_error *err);

/*
 * Appends req as one frame to b.  Byte fields are sent when their p is
 * not NULL; version and compact when their bit is set in has.
 * Returns 0, or -1 (ENOMEM, or E2BIG past SP_FRAME_MAX).
 */
int	sp_req_encode(struct sp_buf *b, const struct sp_req *req);

/* ------------------------------------------------------------- replies */

struct sp_reply {
	uint64_t	 id;
	int		 code;		/* SP_OK, or the error */
	struct sp_bytes	 msg;		/* error message */
	struct sp_bytes	 val;		/* get */
	struct sp_bytes	 server;	/* hello: "storesd X.Y.Z" */
	uint64_t	 version;	/* hello: the protocol version spoken */
	uint64_t	 max_frame;	/* hello: the daemon's request limit */
	uint64_t	 size;		/* snapshot: bytes written */
	struct sp_bytes	 envs;		/* stats, live: raw msgpack array */
	struct sp_bytes	 daemon;	/* stats: raw msgpack map */
	bool		 has_index;
	uint64_t	 index;		/* error: the batch op or key at fault */
	bool		 has_retry;
	uint64_t	 retry_ms;	/* BUSY: retry after this many ms */
	struct sp_array	 vals;		/* mget: bin or nil per key */
	struct sp_array	 missing;	/* missing: indices of absent keys */
	uint64_t	 count;		/* count */
	struct sp_array	 entries;	/* scan: [key, val] or key */
	struct sp_bytes	 cursor;	/* scan: resume here; NULL when done */
	struct sp_bytes	 repos;		/* repos: raw msgpack array */
	bool		 has_rev;
	uint64_t	 rev;		/* writes, reads, watch frames */
	uint64_t	 watch;		/* watch frames: the watch's id */
	struct sp_bytes	 ev;		/* event frames: put, del, progress */
	struct sp_bytes	 key;		/* event frames */
	struct sp_bytes	 env_id;	/* rev: the env's id (16 bytes) */
	uint64_t	 oldest;	/* COMPACTED: oldest revision kept */
	uint64_t	 current;	/* COMPACTED: the env's revision */
};

/*
 * Decodes a reply body.  Fields it does not know are skipped, so a newer
 * daemon may add some.  Returns 0, or -1 with err set.
 */
int	sp_reply_decode(const void *body, size_t n, struct sp_reply *rep,
	    struct sp_error *err);

/* Each appends one reply frame to b; 0, or -1 (ENOMEM / E2BIG). */
int	sp_reply_error(struct sp_buf *b, uint64_t id, int code,
	    const char *msg);
int	sp_reply_ok(struct sp_buf *b, uint64_t id);
int	sp_reply_val(struct sp_buf *b, uint64_t id, const void *val,
	    size_t n);
int	sp_reply_hello(struct sp_buf *b, uint64_t id, const char *server,
	    uint64_t max_frame);
int	sp_reply_size(struct sp_buf *b, uint64_t id, uint64_t size);
/* An error about element index of a batch's ops or a request's keys. */
int	sp_reply_error_at(struct sp_buf *b, uint64_t id, int code,
	    const char *msg, uint64_t index);
/* The error err says, with its index and (BUSY) its retry hint. */
int	sp_reply_err(struct sp_buf *b, uint64_t id, const struct sp_error *err);
int	sp_reply_count(struct sp_buf *b, uint64_t id, uint64_t count);
int	sp_reply_missing(struct sp_buf *b, uint64_t id, const uint32_t *idx,
	    size_t n);
/*
 * Adds "rev": rev to the reply frame that starts at mark in b, the last
 * frame in b (a map of at most 14 pairs, as every reply of this file):
 * how a reply says which revision of its env it saw or made without
 * each reply function taking one.  Returns 0, or -1 (ENOMEM, or a frame
 * that is not such a reply).
 */
int	sp_reply_add_rev(struct sp_buf *b, size_t mark, uint64_t rev);
/* rev: the env's revision and its id (16 bytes; NULL for no env yet). */
int	sp_reply_rev(struct sp_buf *b, uint64_t id, uint64_t rev,
	    const void *env_id);

/*
 * Watch frames (PROTOCOL.md, "Watch").  The watch's first reply carries
 * the request's id, the watch's id and the current revision; then every
 * frame of the watch has id 0 and "watch": its id.
 */
enum sp_ev {
	SP_EV_PUT = 1,
	SP_EV_DEL = 2,
	SP_EV_PROGRESS = 3,
};
/* The wire name of an event ("put"), or NULL; and back (0: unknown). */
const char	*sp_ev_name(enum sp_ev ev);
enum sp_ev	 sp_ev_lookup(struct sp_bytes name);
int	sp_reply_watch(struct sp_buf *b, uint64_t id, uint64_t watch,
	    uint64_t rev);
/* An event (val only for put) or, with SP_EV_PROGRESS, a progress frame. */
int	sp_watch_event(struct sp_buf *b, uint64_t watch, enum sp_ev ev,
	    uint64_t rev, const void *key, size_t klen, const void *val,
	    size_t vlen);
/* The watch ended with code; COMPACTED also says oldest and current. */
int	sp_watch_end(struct sp_buf *b, uint64_t watch, int code,
	    const char *msg, uint64_t oldest, uint64_t current);

/*
 * Replies built while a read transaction runs: open, add each element,
 * close.  Between open and close nothing else may be appended to b.  If
 * anything fails, sp_reply_abort() takes the partial reply back.
 */
struct sp_reply_w {
	struct sp_buf	*b;
	size_t		 mark;		/* the frame */
	size_t		 count_at;	/* the array32 count to patch */
	uint32_t	 n;
	bool		 keys_only;
};

/* mget: n values follow (sp_reply_w_val), in the order of the keys. */
int	sp_reply_mget_open(struct sp_reply_w *w, struct sp_buf *b,
	    uint64_t id, uint32_t n);
/* A value, or p == NULL for an absent key. */
void	sp_reply_w_val(struct sp_reply_w *w, const void *p, size_t n);
/* scan: entries follow (sp_reply_w_entry), then sp_reply_scan_close(). */
int	sp_reply_scan_open(struct sp_reply_w *w, struct sp_buf *b,
	    uint64_t id, bool keys_only);
void	sp_reply_w_entry(struct sp_reply_w *w, const void *k, size_t kn,
	    const void *v, size_t vn);
/* cursor.p NULL: the scan is done. */
int	sp_reply_scan_close(struct sp_reply_w *w, struct sp_bytes cursor);
int	sp_reply_close(struct sp_reply_w *w);
void	sp_reply_abort(struct sp_reply_w *w);
/* Bytes the reply under construction holds so far. */
size_t	sp_reply_w_size(const struct sp_reply_w *w);

/* Iterates the elements of a reply array; 0, or -1 when malformed. */
int	sp_mget_next(struct sp_mp_rd *rd, struct sp_bytes *val);	/* p NULL: absent */
int	sp_missing_next(struct sp_mp_rd *rd, uint64_t *idx);
int	sp_scan_next(struct sp_mp_rd *rd, bool keys_only, struct sp_bytes *k,
	    struct sp_bytes *v);

/* A counter in stats: a name and a value. */
struct sp_counter {
	const char	*name;
	uint64_t	 value;
};

/* An open env as `live` reports it; repo.p is NULL for a fixed-path store. */
struct sp_live_env {
	struct sp_bytes	 repo;
	struct sp_bytes	 store;
	struct sp_bytes	 dir;
	uint64_t	 inflight;	/* requests holding the env now */
	uint64_t	 idle_ms;	/* since the last request released it */
};

int	sp_reply_live(struct sp_buf *b, uint64_t id,
	    const struct sp_live_env *envs, size_t n);
/* Calls fn for each env of a live reply; fn returns 0 to go on, -1 to stop. */
int	sp_live_decode(const struct sp_reply *rep,
	    int (*fn)(void *arg, const struct sp_live_env *env), void *arg,
	    struct sp_error *err);

/* An env on disk as `repos` reports it; repo.p is NULL for a fixed-path
 * store. */
struct sp_repo_env {
	struct sp_live_env	 id;	/* repo, store, dir; inflight unused */
	uint64_t		 size;	/* bytes of its data file */
	bool			 open;	/* storesd has it open now */
};

int	sp_reply_repos(struct sp_buf *b, uint64_t id,
	    const struct sp_repo_env *envs, size_t n);
/* Calls fn for each env of a repos reply; fn returns 0 to go on, -1 to
 * stop. */
int	sp_repos_decode(const struct sp_reply *rep,
	    int (*fn)(void *arg, const struct sp_repo_env *env), void *arg,
	    struct sp_error *err);

/* Stats of one db of an env. */
struct sp_stats_db {
	struct sp_bytes			 name;
	const struct sp_counter		*counters;
	size_t				 ncounters;
};

/* Stats of one env. */
struct sp_stats_env {
	struct sp_live_env		 id;	/* repo, store, dir */
	const struct sp_counter		*counters;
	size_t				 ncounters;
	const struct sp_stats_db	*dbs;
	size_t				 ndbs;
};

int	sp_reply_stats(struct sp_buf *b, uint64_t id,
	    const struct sp_counter *daemon, size_t ndaemon,
	    const struct sp_stats_env *envs, size_t nenvs);

/* What sp_stats_decode() reports, in order: daemon counters, then each
 * env followed by its counters, then each of its dbs with theirs. */
enum sp_stats_event {
	SP_STATS_DAEMON_COUNTER,
	SP_STATS_ENV,		/* env is set */
	SP_STATS_ENV_COUNTER,
	SP_STATS_DB,		/* name is the db's name */
	SP_STATS_DB_COUNTER,
};

int	sp_stats_decode(const struct sp_reply *rep,
	    int (*fn)(void *arg, enum sp_stats_event ev,
	    const struct sp_live_env *env, struct sp_bytes name,
	    uint64_t value), void *arg, struct sp_error *err);

#endif
