/*
 * The asynchronous API: the connection engine (client.c) driven from
 * the caller's event loop through hooks, a callback per request.
 *
 * Re-entrancy.  Callbacks run inside sc_async_handle_*() and may issue
 * requests or free the connection.  Every entry from the loop counts
 * itself in depth; a free asked for inside one is done by the outermost
 * when it returns (teardown()), so no frame below ever touches freed
 * memory.  A callback is taken off the ring (copied, retired) before it
 * runs, so it runs once however the ring moves meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "sp_frame.h"

#define READS_PER_EVENT	16	/* then the loop serves others */
#define RETRY_FIRST_MS	5	/* storesd's backlog full: retry after */
#define RETRY_MAX_MS	500

enum as_state {
	AS_CONNECTING,		/* connect(2) to be retried on the timer */
	AS_HELLO,		/* connected; the hello not answered yet */
	AS_READY,
};

struct sc_async {
	sc_conn			*c;
	enum as_state		 state;
	struct sc_async_hooks	 h;
	void			*hdata;
	bool			 attached;
	bool			 writing;	/* add_write asked */
	bool			 timer_on;
	uint64_t		 timer_progress;	/* c->progress when set */
	int			 retry_ms;
	long			 retried_ms;	/* connect retries so far */
	unsigned		 depth;		/* entries from the loop */
	bool			 free_asked;
	bool			 torn;
	bool			 started;	/* the hello is queued */
	sc_connect_fn		*on_connect;
	void			*connect_arg;
	sc_disconnect_fn	*on_disconnect;
	void			*disconnect_arg;
};

struct sc_reply {
	int			 code;
	size_t			 errindex;
	int64_t			 retry_ms;	/* BUSY's hint, or -1 */
	char			 msg[SC_ERRMSG_MAX];
	enum sp_op		 op;
	bool			 keys_only;
	const struct sp_reply	*rep;		/* NULL after a failure */
	struct sp_mp_rd		 rd;		/* the iterators' */
	uint32_t		 remain;
	bool			 iterating;
	sc_conn			*c;
};

/* ------------------------------------------------------------ the loop */

static void
timer(sc_async *ac, int ms)
{
	if (!ac->attached)
		return;
	ac->timer_on = ms >= 0;
	ac->timer_progress = ac->c->progress;
	ac->h.timer_set(ac->hdata, ms);
}

/* Asks for write readiness when there are bytes to write. */
static void
want_write(sc_async *ac)
{
	if (!ac->attached || ac->writing || ac->state == AS_CONNECTING ||
	    ac->c->fd == -1 || sc__sendable(ac->c) == 0)
		return;
	ac->writing = true;
	ac->h.add_write(ac->hdata);
}

/* Requests in flight are timed when the options ask. */
static void
want_timer(sc_async *ac)
{
	if (ac->c->timeout_ms > 0 && !ac->timer_on && ac->c->inflight > 0 &&
	    ac->state != AS_CONNECTING)
		timer(ac, ac->c->timeout_ms);
}

static void
enter(sc_async *ac)
{
	ac->depth++;
}

static void teardown(sc_async *ac);

/* Leaves an entry: the outermost ends a connection that died or that
 * the caller freed meanwhile. */
static void
leave(sc_async *ac)
{
	if (--ac->depth > 0)
		return;
	/* Requests the callbacks issued go out now: waiting for the loop's
	 * next turn to say the socket is writable would cost a round of
	 * epoll_wait and two epoll_ctl per turn.  What the socket does not
	 * take waits for write readiness. */
	if (!ac->free_asked && ac->c->fd != -1 && ac->state != AS_CONNECTING &&
	    sc__sendable(ac->c) > 0)
		sc__write(ac->c);
	if (ac->free_asked || ac->c->fd == -1) {
		teardown(ac);
		return;
	}
	want_write(ac);
	want_timer(ac);
}

/* Runs record r's function (taken off the ring first). */
static void
complete(sc_conn *c, struct sc_rec *r, const struct sp_reply *rep, int code,
    const char *msg)
{
	struct sc_rec	 copy = *r;

	r->st = NULL;
	sc__retire(c, r);
	copy.fn(c, &copy, rep, code, msg);
}

/*
 * Ends the connection: every request's callback with the reason, then
 * the disconnect (or, never connected, the connect) callback, the
 * hooks' cleanup, and the memory.
 */
static void
teardown(sc_async *ac)
{
	sc_conn		*c = ac->c;
	struct sc_rec	*r;
	bool		 by_owner = false;
	char		 msg[SC_ERRMSG_MAX];
	int		 code;

	if (ac->torn)
		return;
	ac->torn = true;
	ac->depth++;	/* frees asked from here on are this one */
	/* The loop forgets the socket before it is closed. */
	if (ac->attached)
		ac->h.cleanup(ac->hdata);
	ac->attached = false;
	if (c->fd != -1) {
		by_owner = true;
		sc__die(c, SC_ERR_CLOSED, "the connection was closed by its "
		    "owner before the reply came");
	}
	code = c->dead_err;
	memcpy(msg, c->dead_msg, sizeof(msg));
	while ((r = sc__oldest(c)) != NULL)
		complete(c, r, NULL, code, msg);
	sc__watch_end_all(c, code, msg);
	if (ac->state == AS_READY && ac->on_disconnect != NULL)
		ac->on_disconnect(ac, by_owner ? SC_OK : code,
		    ac->disconnect_arg);
	else if (ac->state != AS_READY && ac->started &&
	    ac->on_connect != NULL)
		ac->on_connect(ac, code, ac->connect_arg);
	c->async = NULL;
	if (c->holds > 0)
		c->orphan = true;
	else
		sc__free(c);
	free(ac);
}

void
sc__release(sc_conn *c)
{
	if (--c->holds == 0 && c->orphan)
		sc__free(c);
}

/* The record of the reply rep, taken off the ring, is run. */
static void
dispatch(sc_async *ac, const struct sp_reply *rep)
{
	struct sc_rec	*r;

	/* Id 0 is a watch's frame: sc__next_reply() lets no other one
	 * through. */
	if (rep->id == 0) {
		sc__watch_deliver(ac->c, rep);
		return;
	}
	if ((r = sc__find(ac->c, rep->id)) == NULL) {
		sc__die(ac->c, SC_ERR_PROTOCOL, "a reply to request %llu, "
		    "which nothing awaits; the connection is closed",
		    (unsigned long long)rep->id);
		return;
	}
	complete(ac->c, r, rep, SC_OK, NULL);
}

void
sc_async_handle_read(sc_async *ac)
{
	struct sp_reply	 rep;
	int		 i, rc = 1;

	if (ac == NULL || ac->torn)
		return;
	enter(ac);
	for (i = 0; i < READS_PER_EVENT && rc == 1; i++) {
		if ((rc = sc__read(ac->c)) == -1)
			break;
		while (!ac->free_asked && ac->c->fd != -1 &&
		    sc__next_reply(ac->c, &rep) == 1)
			dispatch(ac, &rep);
		if (ac->free_asked || ac->c->fd == -1)
			break;
	}
	leave(ac);
}

void
sc_async_handle_write(sc_async *ac)
{
	if (ac == NULL || ac->torn)
		return;
	enter(ac);
	if (ac->state != AS_CONNECTING && sc__write(ac->c) == 0 &&
	    sc__sendable(ac->c) == 0 && ac->writing) {
		ac->writing = false;
		ac->h.del_write(ac->hdata);
	}
	leave(ac);
}

/* The backlog was full: connect again, backing off, within the timeout. */
static void
retry_connect(sc_async *ac)
{
	int	 rc = sc__connect(ac->c);

	if (rc == 0) {
		ac->state = AS_HELLO;
		ac->h.add_read(ac->hdata);
		return;
	}
	if (rc == -1)
		return;
	ac->retried_ms += ac->retry_ms;
	if (ac->c->timeout_ms > 0 && ac->retried_ms >= ac->c->timeout_ms) {
		sc__die(ac->c, SC_ERR_CONNECT, "storesd at %s accepted no "
		    "connection within %d ms (its backlog stayed full)",
		    ac->c->path, ac->c->timeout_ms);
		return;
	}
	ac->retry_ms = ac->retry_ms * 2 < RETRY_MAX_MS ? ac->retry_ms * 2 :
	    RETRY_MAX_MS;
	timer(ac, ac->retry_ms);
}

void
sc_async_handle_timeout(sc_async *ac)
{
	if (ac == NULL || ac->torn)
		return;
	enter(ac);
	ac->timer_on = false;
	if (ac->state == AS_CONNECTING)
		retry_connect(ac);
	else if (ac->c->inflight > 0 && ac->c->timeout_ms > 0 &&
	    ac->c->progress == ac->timer_progress)
		sc__die(ac->c, SC_ERR_TIMEOUT, "storesd at %s sent no reply "
		    "within %d ms; the connection is closed", ac->c->path,
		    ac->c->timeout_ms);
	leave(ac);
}

/* ---------------------------------------------------------- connecting */

/*
 * Requests made before max_frame was known whose frames are over it
 * were held back (sc__send()): each gets TOO_LARGE, unsent, as it would
 * have at once had max_frame been known; the rest go out.
 */
static void
refuse_held(sc_async *ac)
{
	struct sc_rec	*r;
	char		 msg[SC_ERRMSG_MAX];
	uint64_t	 id;

	snprintf(msg, sizeof(msg), "the request is over storesd's max_frame "
	    "(%llu bytes) and was not sent; split it or raise max_frame",
	    (unsigned long long)ac->c->max_frame);
	while (!ac->free_asked && ac->c->fd != -1 &&
	    sc__unhold(ac->c, &id) == 1)
		if ((r = sc__find(ac->c, id)) != NULL)
			complete(ac->c, r, NULL, SC_ERR_TOO_LARGE, msg);
}

/* The hello's reply: the connection is ready, or dies. */
static void
hello_done(sc_conn *c, struct sc_rec *r, const struct sp_reply *rep,
    int code, const char *msg)
{
	sc_async	*ac = r->fn_arg;

	(void)code;
	(void)msg;
	if (rep == NULL || sc__hello_done(c, rep) == -1)
		return;		/* teardown() tells the connect callback */
	ac->state = AS_READY;
	if (ac->on_connect != NULL)
		ac->on_connect(ac, SC_OK, ac->connect_arg);
	refuse_held(ac);
}

sc_async *
sc_async_connect(const sc_options *o)
{
	struct sp_req	 rq;
	sc_async	*ac;
	sc_conn		*c;
	char		 msg[SC_ERRMSG_MAX];
	int		 rc;

	if ((ac = calloc(1, sizeof(*ac))) == NULL)
		return NULL;
	if ((c = sc__new(o, true)) == NULL) {
		free(ac);
		return NULL;
	}
	ac->c = c;
	c->async = ac;
	ac->retry_ms = RETRY_FIRST_MS;
	if (c->fd == -1 || (rc = sc__connect(c)) == -1)
		return ac;
	ac->state = rc == 1 ? AS_CONNECTING : AS_HELLO;
	sc__hello_req(&rq, o ? o->client_name : NULL);
	if (sc__async_send(c, &rq, -1, hello_done, ac, NULL, NULL) == -1) {
		memcpy(msg, c->errmsg, sizeof(msg));
		sc__die(c, c->err, "%s", msg);
	} else
		ac->started = true;
	return ac;
}

int
sc_async_attach(sc_async *ac, const struct sc_async_hooks *h, size_t size,
    void *data)
{
	if (ac == NULL || ac->attached || ac->torn || h == NULL ||
	    size < sizeof(*h) || h->add_read == NULL || h->del_read == NULL ||
	    h->add_write == NULL || h->del_write == NULL ||
	    h->timer_set == NULL || h->cleanup == NULL)
		return -1;
	/* A larger struct comes from a newer header: its extra hooks are
	 * unknown here and left alone. */
	memcpy(&ac->h, h, sizeof(ac->h));
	ac->hdata = data;
	ac->attached = true;
	if (ac->c->fd == -1)
		return 0;
	/* Not connected yet, the socket would read as hung up. */
	if (ac->state == AS_CONNECTING)
		timer(ac, ac->retry_ms);
	else
		ac->h.add_read(ac->hdata);
	want_write(ac);
	want_timer(ac);
	return 0;
}

void
sc_async_set_connect_cb(sc_async *ac, sc_connect_fn *fn, void *arg)
{
	if (ac == NULL)
		return;
	ac->on_connect = fn;
	ac->connect_arg = arg;
}

void
sc_async_set_disconnect_cb(sc_async *ac, sc_disconnect_fn *fn, void *arg)
{
	if (ac == NULL)
		return;
	ac->on_disconnect = fn;
	ac->disconnect_arg = arg;
}

void
sc_async_free(sc_async *ac)
{
	if (ac == NULL || ac->torn)
		return;
	ac->free_asked = true;
	if (ac->depth == 0)
		teardown(ac);
}

int
sc_async_fd(const sc_async *ac)
{
	return ac ? ac->c->fd : -1;
}

int
sc_async_errcode(const sc_async *ac)
{
	return ac ? ac->c->err : SC_ERR_NOMEM;
}

const char *
sc_async_errmsg(const sc_async *ac)
{
	return ac ? ac->c->errmsg : "out of memory";
}

size_t
sc_async_inflight(const sc_async *ac)
{
	return ac ? ac->c->inflight : 0;
}

size_t
sc_async_queued(const sc_async *ac)
{
	return ac ? sc__queued(ac->c) : 0;
}

const char *
sc_async_server_version(const sc_async *ac)
{
	return ac ? ac->c->server : "";
}

/* ------------------------------------------------------------ requests */

void
sc__async_user(sc_conn *c, enum sp_op op, const struct sp_reply *rep,
    sc_reply_fn *user_fn, void *user_arg)
{
	sc_reply	 r;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.op = op;
	r.code = rep->code;
	r.errindex = rep->has_index && rep->index < SC_NOINDEX ?
	    (size_t)rep->index : SC_NOINDEX;
	r.retry_ms = sc__retry_ms(rep);
	if (r.code != SC_OK)
		snprintf(r.msg, sizeof(r.msg), "%.*s", (int)rep->msg.n,
		    rep->msg.p ? rep->msg.p : "");
	else
		r.rep = rep;
	user_fn(c->async, &r, user_arg);
}

/* A caller's request: its reply, or why none comes, to its callback. */
static void
deliver(sc_conn *c, struct sc_rec *rec, const struct sp_reply *rep,
    int code, const char *msg)
{
	struct sp_reply	 fail;
	sc_reply	 r;

	if (rec->user_fn == NULL)
		return;
	if (rep == NULL) {
		memset(&fail, 0, sizeof(fail));
		fail.code = code;
		fail.msg.p = msg;
		fail.msg.n = strlen(msg);
		rep = &fail;
	}
	if (rep->code != SC_OK) {
		sc__async_user(c, rec->op, rep, rec->user_fn, rec->user_arg);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.op = rec->op;
	r.keys_only = rec->keys_only;
	r.errindex = SC_NOINDEX;
	r.retry_ms = -1;
	r.rep = rep;
	rec->user_fn(c->async, &r, rec->user_arg);
}

int
sc__async_send(sc_conn *c, struct sp_req *rq, int pass_fd, sc_rec_fn *fn,
    void *fn_arg, sc_reply_fn *user_fn, void *user_arg)
{
	struct sc_rec	*r;

	if (sc__send(c, rq, pass_fd, true, true, &r) == -1)
		return -1;
	r->fn = fn ? fn : deliver;
	r->fn_arg = fn_arg;
	r->user_fn = user_fn;
	r->user_arg = user_arg;
	if (c->async->depth == 0) {
		want_write(c->async);
		want_timer(c->async);
	}
	return sc__ok(c);
}

/* Queues a caller's request rq; 0 or -1 (fn then never runs). */
static int
user_send(sc_async *ac, struct sp_req *rq, int pass_fd, sc_reply_fn *fn,
    void *arg)
{
	if (sc__room(ac->c) == -1)
		return -1;
	return sc__async_send(ac->c, rq, pass_fd, NULL, NULL, fn, arg);
}

/* The connection, when ac may take a request. */
static sc_conn *
conn(sc_async *ac)
{
	return ac != NULL && !ac->torn && !ac->free_asked ? ac->c : NULL;
}

sc_conn *
sc__async_conn(sc_async *ac)
{
	return conn(ac);
}

int
sc_async_ping(sc_async *ac, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.op = SP_OP_PING;
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_get(sc_async *ac, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL || sc__req_key(ac->c, &rq, SP_OP_GET, repo,
	    store, db, key, klen, NULL, 0) == -1)
		return -1;
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_put(sc_async *ac, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *val,
    size_t vlen, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL || sc__req_key(ac->c, &rq, SP_OP_PUT, repo,
	    store, db, key, klen, val, vlen) == -1)
		return -1;
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_del(sc_async *ac, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL || sc__req_key(ac->c, &rq, SP_OP_DEL, repo,
	    store, db, key, klen, NULL, 0) == -1)
		return -1;
	return user_send(ac, &rq, -1, fn, arg);
}

/* A conditional put or del. */
static int
cond(sc_async *ac, enum sp_op op, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, bool if_absent,
    const void *old, size_t oldlen, const void *val, size_t vlen,
    sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL || sc__req_cond(ac->c, &rq, op, repo, store, db,
	    key, klen, if_absent, old, oldlen, val, vlen) == -1)
		return -1;
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_put_if_absent(sc_async *ac, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *val,
    size_t vlen, sc_reply_fn *fn, void *arg)
{
	return cond(ac, SP_OP_PUT, repo, store, db, key, klen, true, NULL, 0,
	    val, vlen, fn, arg);
}

int
sc_async_put_if_equals(sc_async *ac, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *old,
    size_t oldlen, const void *val, size_t vlen, sc_reply_fn *fn, void *arg)
{
	return cond(ac, SP_OP_PUT, repo, store, db, key, klen, false, old,
	    oldlen, val, vlen, fn, arg);
}

int
sc_async_del_if_equals(sc_async *ac, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *old,
    size_t oldlen, sc_reply_fn *fn, void *arg)
{
	return cond(ac, SP_OP_DEL, repo, store, db, key, klen, false, old,
	    oldlen, NULL, 0, fn, arg);
}

/*
 * A missing whose keys need more than one request, as sc_missing()
 * sends them: the parts go out at once, and the caller's callback runs
 * when the last is answered, with their indices merged in key order, or
 * with the failure of the first part (in key order) that failed.
 */
struct mpart {
	struct msplit	*s;
	size_t		 from, to;	/* its keys */
	uint32_t	*idx;		/* its absent keys, over all keys */
	uint32_t	 nidx;
	int		 code;		/* SC_OK, or why it failed */
	size_t		 errindex;
	int64_t		 retry_ms;
	char		*msg;		/* NULL: out of memory */
};

struct msplit {
	sc_reply_fn	*fn;		/* NULL: the call failed, drop it all */
	void		*arg;
	size_t		 nparts;
	size_t		 pending;	/* parts sent and not answered */
	struct mpart	 parts[];
};

static const char	 nomem[] = "out of memory";

static void
msplit_free(struct msplit *s)
{
	size_t	 i;

	for (i = 0; i < s->nparts; i++) {
		free(s->parts[i].idx);
		free(s->parts[i].msg);
	}
	free(s);
}

/* Records why part p failed; the message is copied. */
static void
mpart_fail(struct mpart *p, int code, const char *msg, size_t len,
    size_t errindex, int64_t retry_ms)
{
	p->code = code;
	p->errindex = errindex;
	p->retry_ms = retry_ms;
	if ((p->msg = malloc(len + 1)) != NULL) {
		memcpy(p->msg, msg, len);
		p->msg[len] = '\0';
	}
}

/* Takes a part's reply: its indices, shifted to count over all keys. */
static void
mpart_take(struct mpart *p, const struct sp_reply *rep)
{
	static const char	 bad[] = "the reply to missing is malformed";
	struct sp_mp_rd		 rd;
	uint64_t		 i;
	uint32_t		 j;

	if (rep->missing.n > 0 &&
	    (p->idx = calloc(rep->missing.n, sizeof(*p->idx))) == NULL) {
		mpart_fail(p, SC_ERR_NOMEM, nomem, strlen(nomem), SC_NOINDEX,
		    -1);
		return;
	}
	sp_mp_rd_init(&rd, rep->missing.raw.p, rep->missing.raw.n);
	for (j = 0; j < rep->missing.n; j++) {
		if (sp_missing_next(&rd, &i) == -1 || i >= p->to - p->from) {
			mpart_fail(p, SC_ERR_PROTOCOL, bad, strlen(bad),
			    SC_NOINDEX, -1);
			return;
		}
		p->idx[p->nidx++] = (uint32_t)(p->from + i);
	}
}

/* The first part, in key order, that failed, or NULL. */
static struct mpart *
first_failed(struct msplit *s)
{
	size_t	 i;

	for (i = 0; i < s->nparts; i++)
		if (s->parts[i].code != SC_OK)
			return &s->parts[i];
	return NULL;
}

/* The parts' indices as one missing reply, built in b and decoded into
 * rep; 0, or -1 when out of memory. */
static int
merge(struct msplit *s, struct sp_buf *b, struct sp_reply *rep)
{
	struct sp_error	 perr;
	uint32_t	*all = NULL;
	size_t		 i, n = 0;
	int		 rc = -1;

	for (i = 0; i < s->nparts; i++)
		n += s->parts[i].nidx;
	if (n > 0 && (all = calloc(n, sizeof(*all))) == NULL)
		return -1;
	for (i = 0, n = 0; i < s->nparts; i++) {
		if (s->parts[i].nidx > 0)
			memcpy(all + n, s->parts[i].idx, s->parts[i].nidx *
			    sizeof(*all));
		n += s->parts[i].nidx;
	}
	if (sp_reply_missing(b, 0, all, n) == 0 &&
	    sp_reply_decode(b->data + SP_FRAME_HDR, b->len - SP_FRAME_HDR,
	    rep, &perr) == 0)
		rc = 0;
	free(all);
	return rc;
}

/* All parts are answered: the caller's callback, once. */
static void
msplit_done(sc_conn *c, struct msplit *s)
{
	struct sp_reply	 rep;
	struct sp_buf	 b = { 0 };
	struct mpart	*p;

	if ((p = first_failed(s)) == NULL && merge(s, &b, &rep) == -1) {
		p = &s->parts[0];
		mpart_fail(p, SC_ERR_NOMEM, nomem, strlen(nomem), SC_NOINDEX,
		    -1);
	}
	if (p != NULL) {
		memset(&rep, 0, sizeof(rep));
		rep.code = p->code;
		rep.msg.p = p->msg ? p->msg : nomem;
		rep.msg.n = strlen(rep.msg.p);
		rep.has_index = p->errindex != SC_NOINDEX;
		rep.index = p->errindex;
		rep.has_retry = p->retry_ms >= 0;
		rep.retry_ms = (uint64_t)p->retry_ms;
	}
	sc__async_user(c, SP_OP_MISSING, &rep, s->fn, s->arg);
	sp_buf_free(&b);
}

/* A part's reply, or why none comes. */
static void
mpart_done(sc_conn *c, struct sc_rec *r, const struct sp_reply *rep,
    int code, const char *msg)
{
	struct mpart	*p = r->fn_arg;
	struct msplit	*s = p->s;

	if (rep == NULL)
		mpart_fail(p, code, msg, strlen(msg), SC_NOINDEX, -1);
	else if (rep->code != SC_OK)
		/* storesd counts within its request; we over all keys. */
		mpart_fail(p, rep->code, rep->msg.p ? rep->msg.p : "",
		    rep->msg.n, rep->has_index && rep->index < p->to - p->from ?
		    p->from + (size_t)rep->index : SC_NOINDEX,
		    sc__retry_ms(rep));
	else if (s->fn != NULL)
		mpart_take(p, rep);
	if (--s->pending > 0)
		return;
	if (s->fn != NULL)
		msplit_done(c, s);
	msplit_free(s);
}

/* Sends the parts of a split missing; 0, or -1 (fn then never runs). */
static int
missing_split(sc_async *ac, const char *repo, const char *store,
    const char *db, const sc_bytes *k, size_t n, sc_reply_fn *fn, void *arg)
{
	struct sp_buf	 raw = { 0 };
	struct sp_req	 rq;
	struct msplit	*s;
	size_t		 from, nparts = 0;
	int		 rc = 0;

	if (n > UINT32_MAX)
		return sc__fail(ac->c, SC_ERR_TOO_LARGE, "too many keys");
	for (from = 0; from < n; from = sc__keys_chunk(ac->c, k, from, n))
		nparts++;
	if ((s = calloc(1, sizeof(*s) + nparts * sizeof(s->parts[0]))) ==
	    NULL)
		return sc__fail(ac->c, SC_ERR_NOMEM, "out of memory");
	s->fn = fn;
	s->arg = arg;
	s->nparts = nparts;
	for (nparts = 0, from = 0; rc == 0 && from < n; nparts++) {
		s->parts[nparts].s = s;
		s->parts[nparts].from = from;
		s->parts[nparts].to = from = sc__keys_chunk(ac->c, k, from, n);
		if ((rc = sc__req_keys(ac->c, &rq, &raw, SP_OP_MISSING, repo,
		    store, db, k, s->parts[nparts].from, from)) == 0 &&
		    (rc = sc__room(ac->c)) == 0 &&
		    (rc = sc__async_send(ac->c, &rq, -1, mpart_done,
		    &s->parts[nparts], NULL, NULL)) == 0)
			s->pending++;
	}
	sp_buf_free(&raw);
	if (rc == 0)
		return 0;
	/* Parts already queued are answered, and dropped. */
	s->fn = NULL;
	if (s->pending == 0)
		msplit_free(s);
	return -1;
}

/* mget (always) or missing (when it fits): every key in one request. */
static int
keys(sc_async *ac, enum sp_op op, const char *repo, const char *store,
    const char *db, const sc_bytes *k, size_t n, sc_reply_fn *fn, void *arg)
{
	struct sp_buf	 raw = { 0 };
	struct sp_req	 rq;
	int		 rc = -1;

	if (conn(ac) == NULL)
		return -1;
	if (k == NULL && n > 0)
		return sc__fail(ac->c, SC_ERR_INVALID, "keys is NULL");
	if (op == SP_OP_MISSING && n > 0 && sc__keys_chunk(ac->c, k, 0, n) < n)
		return missing_split(ac, repo, store, db, k, n, fn, arg);
	if (sc__req_keys(ac->c, &rq, &raw, op, repo, store, db, k, 0,
	    n) == 0)
		rc = user_send(ac, &rq, -1, fn, arg);
	sp_buf_free(&raw);
	return rc;
}

int
sc_async_mget(sc_async *ac, const char *repo, const char *store,
    const char *db, const sc_bytes *k, size_t n, sc_reply_fn *fn, void *arg)
{
	return keys(ac, SP_OP_MGET, repo, store, db, k, n, fn, arg);
}

int
sc_async_missing(sc_async *ac, const char *repo, const char *store,
    const char *db, const sc_bytes *k, size_t n, sc_reply_fn *fn, void *arg)
{
	return keys(ac, SP_OP_MISSING, repo, store, db, k, n, fn, arg);
}

int
sc_async_count(sc_async *ac, const char *repo, const char *store,
    const char *db, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL || sc__req_target(ac->c, &rq, SP_OP_COUNT, repo,
	    store, db) == -1)
		return -1;
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_scan(sc_async *ac, const char *repo, const char *store,
    const char *db, const sc_scan_opts *o, const void *cursor,
    size_t cursorlen, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL || sc__req_target(ac->c, &rq, SP_OP_SCAN, repo,
	    store, db) == -1)
		return -1;
	sc__req_scan(&rq, o, cursor, cursorlen, o && o->has_limit,
	    o ? o->limit : 0);
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_snapshot(sc_async *ac, const char *repo, const char *store, int fd,
    int compact, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL ||
	    sc__req_snapshot(ac->c, &rq, repo, store, fd, compact) == -1)
		return -1;
	return user_send(ac, &rq, fd, fn, arg);
}

int
sc_async_fork(sc_async *ac, const char *src_repo, const char *store,
    const char *dst_repo, sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL ||
	    sc__req_fork(ac->c, &rq, src_repo, store, dst_repo) == -1)
		return -1;
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_stats(sc_async *ac, const char *repo, const char *store,
    sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL)
		return -1;
	sc__req_filtered(&rq, SP_OP_STATS, repo, store);
	return user_send(ac, &rq, -1, fn, arg);
}

int
sc_async_live(sc_async *ac, const char *repo, const char *store,
    sc_reply_fn *fn, void *arg)
{
	struct sp_req	 rq;

	if (conn(ac) == NULL)
		return -1;
	sc__req_filtered(&rq, SP_OP_LIVE, repo, store);
	return user_send(ac, &rq, -1, fn, arg);
}

sc_batch *
sc_async_batch_begin(sc_async *ac, const char *repo, const char *store,
    const char *db)
{
	if (conn(ac) == NULL)
		return NULL;
	return sc__batch_begin_async(ac->c, repo, store, db);
}

/* ------------------------------------------------------------- replies */

int
sc_reply_code(const sc_reply *r)
{
	return r ? r->code : SC_ERR_INVALID;
}

const char *
sc_reply_errmsg(const sc_reply *r)
{
	return r ? r->msg : "";
}

size_t
sc_reply_errindex(const sc_reply *r)
{
	return r ? r->errindex : SC_NOINDEX;
}

int64_t
sc_reply_retry_ms(const sc_reply *r)
{
	return r ? r->retry_ms : -1;
}

/* rep when r is a successful reply to op, else NULL. */
static const struct sp_reply *
ok(const sc_reply *r, enum sp_op op)
{
	return r != NULL && r->rep != NULL && r->op == op ? r->rep : NULL;
}

uint64_t
sc_reply_rev(const sc_reply *r)
{
	return r != NULL && r->rep != NULL && r->rep->has_rev ? r->rep->rev :
	    0;
}

int
sc_reply_value(const sc_reply *r, const void **p, size_t *n)
{
	const struct sp_reply	*rep = ok(r, SP_OP_GET);

	if (rep == NULL || rep->val.p == NULL || p == NULL || n == NULL)
		return -1;
	*p = rep->val.p;
	*n = rep->val.n;
	return 0;
}

uint64_t
sc_reply_count(const sc_reply *r)
{
	return ok(r, SP_OP_COUNT) ? r->rep->count : 0;
}

uint64_t
sc_reply_size(const sc_reply *r)
{
	return ok(r, SP_OP_SNAPSHOT) ? r->rep->size : 0;
}

/* Starts or goes on iterating the array of r's reply to op; 1 when an
 * element is next, 0 at the end, -1 when r is no such reply. */
static int
step(sc_reply *r, enum sp_op op)
{
	const struct sp_reply	*rep = ok(r, op);
	const struct sp_array	*arr;

	if (rep == NULL)
		return -1;
	arr = op == SP_OP_MGET ? &rep->vals : op == SP_OP_MISSING ?
	    &rep->missing : &rep->entries;
	if (!r->iterating) {
		sp_mp_rd_init(&r->rd, arr->raw.p, arr->raw.n);
		r->remain = arr->n;
		r->iterating = true;
	}
	if (r->remain == 0)
		return 0;
	r->remain--;
	return 1;
}

/* A malformed element: the connection dies, the iteration ends. */
static int
malformed(sc_reply *r, const char *what)
{
	r->remain = 0;
	sc__die(r->c, SC_ERR_PROTOCOL, "a %s reply is malformed; the "
	    "connection is closed", what);
	return -1;
}

int
sc_reply_next_value(sc_reply *r, const void **p, size_t *n)
{
	struct sp_bytes	 v;
	int		 rc;

	if ((rc = step(r, SP_OP_MGET)) != 1)
		return rc;
	if (sp_mget_next(&r->rd, &v) == -1)
		return malformed(r, "mget");
	if (p)
		*p = v.p;
	if (n)
		*n = v.n;
	return 1;
}

int
sc_reply_next_missing(sc_reply *r, size_t *idx)
{
	uint64_t	 i;
	int		 rc;

	if ((rc = step(r, SP_OP_MISSING)) != 1)
		return rc;
	if (sp_missing_next(&r->rd, &i) == -1)
		return malformed(r, "missing");
	if (idx)
		*idx = (size_t)i;
	return 1;
}

int
sc_reply_next_entry(sc_reply *r, const void **k, size_t *kn, const void **v,
    size_t *vn)
{
	struct sp_bytes	 kb, vb;
	int		 rc;

	if ((rc = step(r, SP_OP_SCAN)) != 1)
		return rc;
	if (sp_scan_next(&r->rd, r->keys_only, &kb, &vb) == -1)
		return malformed(r, "scan");
	if (k)
		*k = kb.p;
	if (kn)
		*kn = kb.n;
	if (v)
		*v = vb.p;
	if (vn)
		*vn = vb.n;
	return 1;
}

int
sc_reply_cursor(const sc_reply *r, const void **p, size_t *n)
{
	const struct sp_reply	*rep = ok(r, SP_OP_SCAN);

	if (rep == NULL || rep->cursor.p == NULL)
		return 0;
	if (p)
		*p = rep->cursor.p;
	if (n)
		*n = rep->cursor.n;
	return 1;
}

int
sc_reply_stats(const sc_reply *r, sc_stats **out)
{
	const struct sp_reply	*rep = ok(r, SP_OP_STATS);

	if (rep == NULL || out == NULL)
		return -1;
	return sc__stats_out(r->c, rep, out);
}

int
sc_reply_live(const sc_reply *r, sc_live **out)
{
	const struct sp_reply	*rep = ok(r, SP_OP_LIVE);

	if (rep == NULL || out == NULL)
		return -1;
	return sc__live_out(r->c, rep, out);
}
