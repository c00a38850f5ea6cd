/*
 * handler_int: what the request handlers share (handler.c, reads.c,
 * writes.c).  Each handler returns 0 after queueing its reply (or
 * handing a job to the pool), or -1 with err set; the dispatcher turns
 * err into the error reply.
 */
#ifndef HANDLER_INT_H
#define HANDLER_INT_H

#include <stdbool.h>

#include "config.h"
#include "sp_msg.h"

struct conn;
struct job;

/* What a request names: a store, a repo in it, a db of it. */
struct target {
	const struct cfg_store	*st;
	struct sp_bytes		 repo;	/* p == NULL: a fixed-path store */
	unsigned		 db;
};

/*
 * Resolves rq's store, repo and db, and checks that c's peer may read
 * (write, with write set) the store.  0, or -1 with err.
 */
int	resolve(struct conn *c, const struct sp_req *rq, bool write,
	    struct target *t, struct sp_error *err);
/* 0 when c's peer may read (write) st, or -1 with err FORBIDDEN. */
int	allowed(struct conn *c, const struct cfg_store *st, bool write,
	    struct sp_error *err);
/* The index of db name in st (absent: the primary), or -1 with err set
 * to UNKNOWN_DB. */
int	resolve_db(const struct cfg_store *st, struct sp_bytes db,
	    struct sp_error *err);
/* BAD_KEY unless key is 1 to SP_KEY_MAX bytes. */
int	check_key(struct sp_bytes key, struct sp_error *err);
/* Hands j (holding its env references) to the pool for c. */
void	send_job(struct conn *c, struct job *j, uint64_t id);

/* reads.c: answered on the I/O thread. */
int	do_get(struct conn *c, const struct sp_req *rq, struct sp_error *err);
int	do_mget(struct conn *c, const struct sp_req *rq, struct sp_error *err);
int	do_count(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	do_scan(struct conn *c, const struct sp_req *rq, struct sp_error *err);

/* writes.c: jobs for the env's writer queue. */
int	do_put(struct conn *c, const struct sp_req *rq, struct sp_error *err);
int	do_del(struct conn *c, const struct sp_req *rq, struct sp_error *err);
int	do_batch(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);
int	do_batch_abort(struct conn *c, const struct sp_req *rq,
	    struct sp_error *err);

#endif
