/*
 * handler_int: what the files of the handler share (handler.c, the
 * dispatch and what every request needs; handler_read.c; handler_write.c;
 * handler_stats.c; handler_snapshot.c; handler_repos.c).  Each handler_<op>() returns 0
 * after queueing its reply (or handing a job to the pool), or -1 with
 * err set; the dispatcher turns err into the error reply.
 */
#ifndef HANDLER_INT_H
#define HANDLER_INT_H

#include <stdbool.h>

#include "config.h"
#include "job.h"
#include "registry.h"
#include "sp_msg.h"
#include "writer.h"

struct conn;
struct job;
struct loop;
struct reg_env;

#define HANDLER_TURN_ENVS	8
/*
 * mget and missing of more keys go to the readers' pool, each in one read
 * transaction of its own: some 0.3 ms of work per 1,000 keys, the most a
 * request may hold its loop for.  Their keys are not even walked on the
 * loop (sp_req_decode_defer): the pool checks them.
 */
#define READ_INLINE_KEYS	1000

/* An env read in this turn, kept with its read transaction until the
 * turn ends (handler_read.c); e is NULL after that, and the rest stays
 * for the next turns, so that their reads find the env without working
 * out its place again, nor taking the registry's lock: its reference
 * stays parked in park (reg_park()) unless the registry took it back. */
struct turn_env {
	const struct cfg_store	*st;
	uint64_t		 gen;		/* st's, when key was made */
	struct reg_env		*e;
	struct reg_env		*parked;	/* compared, never touched */
	struct reg_park		 park;
	size_t			 repolen;
	char			 repo[SP_REPO_MAX + 1];
	bool			 fixed;		/* a fixed-path store */
	struct reg_key		 key;
};

struct pbatch;
struct watch;
struct watch_loop;

/* The handler's state of one connection (conn->hc): its requests'. */
struct handler_conn {
	struct pbatch		*batches;	/* streamed, not committed */
	uint64_t		 batch_bytes;	/* held by batches */
	/* The request being handled, for stats. */
	enum sp_op		 op;
	struct reg_env		*env_seen;	/* held for the turn, or NULL */
	struct watch		*watches;	/* its watches (watch.c) */
	uint64_t		 waits;		/* HANDLER_AGAIN: for what */
};

/* The handler's state of one loop (loop->hl); its thread only. */
struct handler_loop {
	struct loop		*loop;
	struct turn_env		 turn[HANDLER_TURN_ENVS];	/* reads */
	unsigned		 nturn;
	struct writer_turn	 writes;	/* deferred to the turn's end */
	struct watch_loop	*watches;	/* this loop's (watch.c) */
	/* Its requests' jobs come from here and go back when freed,
	 * always on this loop's thread (done jobs come back through its
	 * mailbox); loop_fini() frees the last before handler_loop_fini(). */
	struct job_cache	 jobs;
};

/* What a request names: a store, a repo in it, a db of it. */
struct target {
	const struct cfg_store	*st;
	struct sp_bytes		 repo;	/* p == NULL: a fixed-path store */
	unsigned		 db;
};

/* handler.c: what every request needs. */
/*
 * Resolves rq's store, repo and db, and checks that c's peer may read
 * (write, with write set) the store.  0, or -1 with err.
 */
int	handler_resolve(struct conn *c, const struct sp_req *rq, bool write,
	    struct target *t, struct sp_error *err);
/* 0 when c's peer may read (write) st, or -1 with err FORBIDDEN. */
int	handler_allowed(struct conn *c, const struct cfg_store *st,
	    bool write, struct sp_error *err);
/* The index of db name in st (absent: the primary), or -1 with err set
 * to UNKNOWN_DB. */
int	handler_resolve_db(const struct cfg_store *st, struct sp_bytes db,
	    struct sp_error *err);
/* -1 with err UNKNOWN_STORE, naming the stores cfg has. */
int	handler_unknown_store(const struct config *cfg, struct sp_bytes name,
	    struct sp_error *err);
/* BAD_KEY unless key is 1 to SP_KEY_MAX bytes. */
int	handler_check_key(struct sp_bytes key, struct sp_error *err);
/* Hands j (holding its env references; a read may have none) to the
 * pool for c. */
void	handler_send_job(struct conn *c, struct job *j, uint64_t id);

/* handler_read.c: answered on the I/O thread. */
/* The end-of-turn hook that ends the turn's reads (arg: handler_loop). */
void	handler_read_turn_end(void *arg);
/* Drops the references the loop's reads parked: before reg_free(). */
void	handler_read_fini(struct handler_loop *h);
/* The registry's key of (repo, st), kept by c's loop for its next
 * requests (a write's too: no path built and hashed per request).
 * Valid until the loop's next request.  NULL with err when the env's
 * directory would be too long. */
const struct reg_key *handler_env_key(struct conn *c,
	    const struct cfg_store *st, struct sp_bytes repo,
	    struct sp_error *err);
int	handler_get(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_mget(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_count(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_scan(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);

/* handler_write.c: jobs for the env's writer queue. */
int	handler_put(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_del(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_batch(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_batch_abort(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);

/* handler_read.c: the env's revision and id. */
int	handler_rev(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);

/* handler_watch.c: watches (watch.c holds them). */
int	handler_watch(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_unwatch(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
/* The end-of-turn hook of a loop's watches, and its setup. */
int	handler_watch_loop_init(struct handler_loop *h);

/* handler_stats.c: observers, answered on the I/O thread. */
int	handler_stats(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_live(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);

/* handler_snapshot.c: copies of an env, jobs for the pool. */
int	handler_snapshot(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_fork(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
/* A frame of a streamed batch (rq has a bid) failed with err: so does its
 * batch, whole (see PROTOCOL.md). */
void	handler_batch_failed(struct conn *c, const struct sp_req *rq,
	    const struct sp_error *err);

/* handler_repos.c: a repository's life, jobs for the pool. */
int	handler_repos(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_create(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_drop(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	handler_restore(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);

#endif
