/*
 * handler_watch: the watch and unwatch requests.  The watches are the
 * watch module's (watch.c); this file checks the request, and gives that
 * module its way to the connection and the loop (struct watch_io).
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "daemon.h"
#include "handler_int.h"
#include "log.h"
#include "loop.h"
#include "registry.h"
#include "watch.h"
#include "writer.h"

static struct sp_buf *
io_out(void *conn)
{
	return conn_out(conn);
}

static size_t
io_unsent(void *conn)
{
	return conn_unsent(conn);
}

static size_t
io_room(void *conn)
{
	return conn_out_room(conn);
}

static void
io_flush(void *conn)
{
	conn_flush_soon(conn);
}

static void
io_wake(void *loop)
{
	loop_wake(loop);
}

static const struct cfg_store *
io_readable(void *conn, const char *store)
{
	struct conn		*c = conn;
	const struct cfg_store	*st;
	struct sp_error		 err;

	st = cfg_store_find(c->loop->d->cfg, (struct sp_bytes){ store,
	    strlen(store) });
	return st != NULL && handler_allowed(c, st, false, &err) == 0 ?
	    st : NULL;
}

static const struct watch_io	handler_watch_io = {
	io_out, io_unsent, io_room, io_flush, io_wake, io_readable,
};

int
handler_watch_loop_init(struct handler_loop *h)
{
	struct loop	*l = h->loop;

	/* The same for every loop: the first one's call sets it up. */
	watch_init(&handler_watch_io, l->d->reg);
	writer_set_commit_hook(watch_committed, NULL);
	if ((h->watches = watch_loop_new(l)) == NULL) {
		log_warn("%s: calloc", __func__);
		return -1;
	}
	return loop_add_hook(l, watch_turn_end, h->watches);
}

int
handler_watch(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	const struct config	*cfg = c->loop->d->cfg;
	struct watch_req	 w;
	struct target		 t;

	if (handler_resolve(c, rq, false, &t, err) == -1)
		return -1;
	if ((rq->has & SP_F_KEY) && handler_check_key(rq->key, err) == -1)
		return -1;
	if ((rq->has & SP_F_PREFIX) && !sp_bound_ok(rq->prefix.n))
		return sp_seterr(err, SP_BAD_KEY, "the watch's prefix is %zu "
		    "bytes; keys are at most %d bytes", rq->prefix.n,
		    SP_KEY_MAX);
	if ((rq->has & SP_F_FROM) && rq->from == 0)
		return sp_seterr(err, SP_BAD_REQUEST, "revisions start at 1: "
		    "'from' 0 names none");
	if (watch_count(&c->hc->watches) >= cfg->max_watches)
		return sp_seterr(err, SP_BUSY, "this connection has "
		    "max_watches (%u) watches open: unwatch one first",
		    cfg->max_watches);
	w = (struct watch_req){
		.id = rq->id, .st = t.st, .repo = t.repo, .db = t.db,
		.has_from = (rq->has & SP_F_FROM) != 0, .from = rq->from,
		.buffer = cfg->watch_buffer,
		.progress_ms = cfg->watch_progress_ms,
		.uid = c->peer.uid, .max_total = cfg->max_watches_total,
	};
	if (rq->has & SP_F_KEY)
		w.key = rq->key;
	else
		w.prefix = rq->has & SP_F_PREFIX ? rq->prefix :
		    (struct sp_bytes){ "", 0 };
	return watch_open(c->loop->hl->watches, c, &c->hc->watches, &w, err);
}

int
handler_unwatch(struct conn *c, const struct sp_req *rq, struct sp_error *err)
{
	if (watch_close(&c->hc->watches, rq->watch, err) == -1)
		return -1;
	return sp_reply_ok(conn_out(c), rq->id) == -1 ?
	    sp_seterr(err, SP_INTERNAL, "out of memory") : 0;
}
