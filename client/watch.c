/*
 * Watches on a blocking connection: the events of each watch are frames
 * of id 0 naming it; the engine (sc__next_reply()) hands every such
 * frame to sc__watch_frame(), which queues a copy on its watch, so
 * events that come while the connection waits for another reply wait
 * for sc_watch_next() instead of being lost.  The queue of a watch is
 * bounded (SC_WATCH_QUEUE_MAX bytes): past it the watch ends here with
 * SC_ERR_WATCH_OVERFLOW.
 *
 * Watches on an asynchronous connection queue nothing: async.c hands each
 * frame to sc__watch_deliver() as it is read, which calls the watch's
 * callback.  Such a watch is freed after its callback's last call, which
 * runs exactly once: when storesd refuses or ends it, when its unwatch
 * is answered, or when the connection ends (sc__watch_end_all()).  A
 * record on the ring (the watch's request, its unwatch) points at it
 * until then, so it is never freed while one does.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

#define SC_WATCH_QUEUE_MAX	(16 * 1024 * 1024)

struct sc_watch_opts {
	struct sp_bytes	 key;		/* copies, owned; p NULL: none */
	struct sp_bytes	 prefix;
	bool		 has_from;
	uint64_t	 from;
};

/* A frame of a watch, queued. */
struct sc_wframe {
	struct sc_wframe	*next;
	uint32_t		 len;
	char			 body[];
};

struct sc_watch {
	sc_conn			*c;		/* NULL once c is gone */
	uint64_t		 id;
	struct sc_watch		*next;		/* c's watches */
	struct sc_wframe	*head;
	struct sc_wframe	*tail;
	size_t			 qbytes;
	struct sc_wframe	*held;		/* the last event's frame */
	bool			 ended;
	int			 end_code;
	char			 end_msg[SC_ERRMSG_MAX];
	bool			 compacted;
	uint64_t		 oldest;
	uint64_t		 current;
	/* Asynchronous watches (fn set). */
	sc_watch_fn		*fn;
	void			*arg;
	bool			 started;	/* storesd named it: on c */
	bool			 unwatching;	/* no event to fn any more */
};

/* ------------------------------------------------------------ options */

sc_watch_opts *
sc_watch_opts_new(void)
{
	return calloc(1, sizeof(sc_watch_opts));
}

void
sc_watch_opts_free(sc_watch_opts *o)
{
	if (o == NULL)
		return;
	free((char *)o->key.p);
	free((char *)o->prefix.p);
	free(o);
}

/* Replaces *b with a copy of p (n bytes); 0 or -1. */
static int
copy_bytes(struct sp_bytes *b, const void *p, size_t n)
{
	char	*d;

	if (p == NULL && n > 0)
		return -1;
	if ((d = malloc(n ? n : 1)) == NULL)
		return -1;
	if (n)
		memcpy(d, p, n);
	free((char *)b->p);
	b->p = d;
	b->n = n;
	return 0;
}

int
sc_watch_opts_set_key(sc_watch_opts *o, const void *p, size_t n)
{
	if (o == NULL || copy_bytes(&o->key, p, n) == -1)
		return -1;
	free((char *)o->prefix.p);
	o->prefix = (struct sp_bytes){ NULL, 0 };
	return 0;
}

int
sc_watch_opts_set_prefix(sc_watch_opts *o, const void *p, size_t n)
{
	if (o == NULL || copy_bytes(&o->prefix, p, n) == -1)
		return -1;
	free((char *)o->key.p);
	o->key = (struct sp_bytes){ NULL, 0 };
	return 0;
}

int
sc_watch_opts_set_from(sc_watch_opts *o, uint64_t rev)
{
	if (o == NULL || rev == 0)
		return -1;
	o->has_from = true;
	o->from = rev;
	return 0;
}

/* ------------------------------------------------------------ frames */

static struct sc_watch *
find(sc_conn *c, uint64_t id)
{
	struct sc_watch	*w;

	for (w = c->watches; w; w = w->next)
		if (w->id == id)
			return w;
	return NULL;
}

/* Ends w here, with code and msg (an end frame, or the queue's bound). */
static void
end_local(struct sc_watch *w, int code, const char *msg, size_t n)
{
	w->ended = true;
	w->end_code = code;
	snprintf(w->end_msg, sizeof(w->end_msg), "%.*s", (int)n, msg);
}

int
sc__watch_frame(sc_conn *c, const char *body, uint32_t len,
    const struct sp_reply *rep)
{
	struct sc_watch		*w;
	struct sc_wframe	*f;

	/* A watch ended here, or unwatched: its frames are of no use. */
	if ((w = find(c, rep->watch)) == NULL || w->ended)
		return 0;
	if (w->qbytes + len > SC_WATCH_QUEUE_MAX) {
		static const char msg[] = "more than 16 MiB of events queued "
		    "while the connection waited for other replies";

		end_local(w, SC_ERR_WATCH_OVERFLOW, msg, sizeof(msg) - 1);
		return 0;
	}
	if ((f = malloc(sizeof(*f) + len)) == NULL)
		return sc__die(c, SC_ERR_NOMEM, "out of memory for an event");
	f->next = NULL;
	f->len = len;
	memcpy(f->body, body, len);
	if (w->tail)
		w->tail->next = f;
	else
		w->head = f;
	w->tail = f;
	w->qbytes += len;
	return 0;
}

void
sc__watch_detach_all(sc_conn *c)
{
	struct sc_watch	*w;

	while ((w = c->watches) != NULL) {
		c->watches = w->next;
		w->c = NULL;
	}
}

static void
unlink_watch(struct sc_watch *w)
{
	struct sc_watch	**pp;

	if (w->c == NULL)
		return;
	for (pp = &w->c->watches; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
}

/* ----------------------------------------------------------- the API */

/* The watch request for o (NULL: the whole db); 0, or -1 (recorded). */
static int
watch_req(sc_conn *c, struct sp_req *rq, const char *repo,
    const char *store, const char *db, const sc_watch_opts *o)
{
	if (sc__req_target(c, rq, SP_OP_WATCH, repo, store, db) == -1)
		return -1;
	if (o != NULL && o->key.p != NULL) {
		rq->key = o->key;
		rq->has |= SP_F_KEY;
	} else if (o != NULL && o->prefix.p != NULL) {
		rq->prefix = o->prefix;
		rq->has |= SP_F_PREFIX;
	}
	if (o != NULL && o->has_from) {
		rq->from = o->from;
		rq->has |= SP_F_FROM;
	}
	return 0;
}

/* The unwatch request of watch id. */
static void
unwatch_req(struct sp_req *rq, uint64_t id)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = SP_OP_UNWATCH;
	rq->watch = id;
	rq->has = SP_F_WATCH;
}

sc_watch *
sc_watch_begin(sc_conn *c, const char *repo, const char *store,
    const char *db, const sc_watch_opts *o, uint64_t *rev)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;
	struct sc_watch	*w;

	if (c == NULL || watch_req(c, &rq, repo, store, db, o) == -1)
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		sc__fail(c, SC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (sc__call(c, &rq, -1, &rep) == -1) {
		free(w);
		return NULL;
	}
	w->c = c;
	w->id = rep.watch;
	w->next = c->watches;
	c->watches = w;
	if (rev != NULL)
		*rev = rep.rev;
	return w;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms); -1: none. */
static int
left_ms(int64_t deadline)
{
	struct timespec	 ts;
	int64_t		 now;

	if (deadline < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Reads from the socket what came within ms; 1 bytes, 0 none, -1. */
static int
read_within(sc_conn *c, int ms)
{
	struct pollfd	 pfd = { c->fd, POLLIN, 0 };
	int		 rc;

	do
		rc = poll(&pfd, 1, ms);
	while (rc == -1 && errno == EINTR);
	if (rc == -1)
		return sc__die(c, SC_ERR_IO, "poll: %s", strerror(errno));
	if (rc == 0)
		return 0;
	return sc__read(c) == -1 ? -1 : 1;
}

/* Takes the frames received; -1 when c died or a stray reply came. */
static int
take_frames(sc_conn *c)
{
	struct sp_reply	 rep;
	int		 rc;

	while ((rc = sc__next_reply(c, &rep)) == 1)
		return sc__die(c, SC_ERR_PROTOCOL, "a reply to request %llu "
		    "came while only events were awaited; the connection is "
		    "closed", (unsigned long long)rep.id);
	return rc;
}

/* Hands out w's oldest queued frame: 1 an event, -1 the end. */
static int
pop(struct sc_watch *w, sc_event *ev)
{
	struct sp_reply	 rep;
	struct sp_error	 perr;
	struct sc_wframe *f = w->head;
	enum sp_ev	 kind;

	w->head = f->next;
	if (w->head == NULL)
		w->tail = NULL;
	w->qbytes -= f->len;
	w->held = f;
	if (sp_reply_decode(f->body, f->len, &rep, &perr) == -1) {
		end_local(w, SC_ERR_PROTOCOL, perr.msg, strlen(perr.msg));
		return -1;
	}
	if (rep.code != SC_OK) {
		end_local(w, rep.code, rep.msg.p ? rep.msg.p : "",
		    rep.msg.n);
		w->compacted = rep.code == SC_ERR_COMPACTED;
		w->oldest = rep.oldest;
		w->current = rep.current;
		return -1;
	}
	if ((kind = sp_ev_lookup(rep.ev)) == 0) {
		static const char msg[] = "an event of an unknown kind";

		end_local(w, SC_ERR_PROTOCOL, msg, sizeof(msg) - 1);
		return -1;
	}
	memset(ev, 0, sizeof(*ev));
	ev->rev = rep.rev;
	ev->op = (int)kind;
	ev->key = rep.key.p;
	ev->klen = rep.key.n;
	ev->val = rep.val.p;
	ev->vlen = rep.val.n;
	return 1;
}

int
sc_watch_next(sc_watch *w, sc_event *ev, int timeout_ms)
{
	struct timespec	 ts;
	int64_t		 deadline = -1;
	sc_conn		*c;
	int		 rc;

	if (w == NULL || ev == NULL)
		return -1;
	if (w->fn != NULL)
		return sc__fail(w->c, SC_ERR_INVALID, "an asynchronous watch: "
		    "its events go to its callback");
	free(w->held);
	w->held = NULL;
	if ((c = w->c) == NULL && !w->head && !w->ended)
		end_local(w, SC_ERR_IO, "the connection is gone", 22);
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
		    timeout_ms;
	}
	for (;;) {
		if (w->head != NULL) {
			if ((rc = pop(w, ev)) == 1)
				return c ? sc__ok(c), 1 : 1;
			break;
		}
		if (w->ended)
			break;
		if (c->fd == -1)
			return sc__read(c);	/* dead: says why, -1 */
		if (c->npend > 0)
			return sc__fail(c, SC_ERR_INVALID, "%zu pipelined "
			    "replies are pending; collect them first",
			    c->npend);
		if ((rc = take_frames(c)) == -1)
			return -1;
		if (w->head != NULL || w->ended)
			continue;
		if ((rc = read_within(c, left_ms(deadline))) == -1)
			return -1;
		if (rc == 0)
			return sc__ok(c);	/* the timeout: 0 */
	}
	if (c != NULL)
		return sc__fail(c, w->end_code, "%s", w->end_msg);
	return -1;
}

int
sc_watch_compacted(const sc_watch *w, uint64_t *oldest, uint64_t *current)
{
	if (w == NULL || !w->compacted)
		return -1;
	if (oldest)
		*oldest = w->oldest;
	if (current)
		*current = w->current;
	return 0;
}

void
sc_watch_end(sc_watch *w)
{
	struct sc_wframe	*f;
	struct sp_req		 rq;
	struct sp_reply		 rep;
	sc_conn			*c;

	if (w == NULL)
		return;
	if (w->fn != NULL) {
		(void)sc_async_unwatch(w);
		return;
	}
	c = w->c;
	/* Ended by storesd: it forgot the watch already. */
	if (c != NULL && !w->ended && c->fd != -1 && c->npend == 0) {
		unwatch_req(&rq, w->id);
		(void)sc__call(c, &rq, -1, &rep);
	}
	unlink_watch(w);
	while ((f = w->head) != NULL) {
		w->head = f->next;
		free(f);
	}
	free(w->held);
	free(w);
}

/* ------------------------------------------------------ asynchronous */

/*
 * The last call of w's callback, with why it ended (msg n bytes; it may
 * be w's own end_msg); then w is freed.
 */
static void
async_end(sc_conn *c, struct sc_watch *w, int code, const char *msg,
    size_t n)
{
	if (msg != w->end_msg)
		end_local(w, code, msg, n);
	w->end_code = code;
	w->ended = true;
	unlink_watch(w);
	w->fn(c->async, w, NULL, code, w->end_msg, w->arg);
	free(w);
}

/* The unwatch's reply: the watch's last call. */
static void
async_unwatched(sc_conn *c, struct sc_rec *r, const struct sp_reply *rep,
    int code, const char *msg)
{
	struct sc_watch	*w = r->fn_arg;

	if (w->ended)		/* storesd ended it first: that is news */
		async_end(c, w, w->end_code, w->end_msg, 0);
	else if (rep == NULL)
		async_end(c, w, code, msg, strlen(msg));
	else
		async_end(c, w, SC_OK, "", 0);
}

/* Queues w's unwatch; 0, or -1 (recorded on c). */
static int
async_send_unwatch(sc_conn *c, struct sc_watch *w)
{
	struct sp_req	 rq;

	unwatch_req(&rq, w->id);
	return sc__async_send(c, &rq, -1, async_unwatched, w, NULL, NULL);
}

/* The watch's reply: its start, or its refusal (the last call). */
static void
async_started(sc_conn *c, struct sc_rec *r, const struct sp_reply *rep,
    int code, const char *msg)
{
	struct sc_watch	*w = r->fn_arg;
	sc_event	 ev;

	if (rep == NULL) {
		async_end(c, w, code, msg, strlen(msg));
		return;
	}
	if (rep->code != SC_OK) {
		async_end(c, w, rep->code, rep->msg.p ? rep->msg.p : "",
		    rep->msg.n);
		return;
	}
	w->id = rep->watch;
	w->started = true;
	w->next = c->watches;
	c->watches = w;
	if (w->unwatching) {
		if (async_send_unwatch(c, w) == -1)
			async_end(c, w, c->err, c->errmsg, strlen(c->errmsg));
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.rev = rep->rev;
	ev.op = SC_EV_START;
	w->fn(c->async, w, &ev, SC_OK, "", w->arg);
}

void
sc__watch_deliver(sc_conn *c, const struct sp_reply *rep)
{
	struct sc_watch	*w;
	sc_event	 ev;
	enum sp_ev	 kind;

	if ((w = find(c, rep->watch)) == NULL || w->fn == NULL)
		return;
	if (rep->code != SC_OK) {
		w->compacted = rep->code == SC_ERR_COMPACTED;
		w->oldest = rep->oldest;
		w->current = rep->current;
		/* Unwatching: told when the unwatch's reply comes. */
		if (w->unwatching)
			end_local(w, rep->code, rep->msg.p ? rep->msg.p : "",
			    rep->msg.n);
		else
			async_end(c, w, rep->code, rep->msg.p ? rep->msg.p :
			    "", rep->msg.n);
		return;
	}
	if (w->unwatching)
		return;
	if ((kind = sp_ev_lookup(rep->ev)) == 0) {
		static const char msg[] = "an event of an unknown kind";

		async_end(c, w, SC_ERR_PROTOCOL, msg, sizeof(msg) - 1);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.rev = rep->rev;
	ev.op = (int)kind;
	ev.key = rep->key.p;
	ev.klen = rep->key.n;
	ev.val = rep->val.p;
	ev.vlen = rep->val.n;
	w->fn(c->async, w, &ev, SC_OK, "", w->arg);
}

void
sc__watch_end_all(sc_conn *c, int code, const char *msg)
{
	struct sc_watch	*w;

	for (;;) {
		for (w = c->watches; w != NULL && w->fn == NULL; w = w->next)
			;
		if (w == NULL)
			return;
		async_end(c, w, code, msg, strlen(msg));
	}
}

sc_watch *
sc_async_watch(sc_async *ac, const char *repo, const char *store,
    const char *db, const sc_watch_opts *o, sc_watch_fn *fn, void *arg)
{
	struct sp_req	 rq;
	struct sc_watch	*w;
	sc_conn		*c;

	if ((c = sc__async_conn(ac)) == NULL)
		return NULL;
	if (fn == NULL) {
		sc__fail(c, SC_ERR_INVALID, "a watch needs a callback");
		return NULL;
	}
	if (watch_req(c, &rq, repo, store, db, o) == -1 ||
	    sc__room(c) == -1)
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		sc__fail(c, SC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	w->c = c;
	w->fn = fn;
	w->arg = arg;
	if (sc__async_send(c, &rq, -1, async_started, w, NULL, NULL) == -1) {
		free(w);
		return NULL;
	}
	return w;
}

int
sc_async_unwatch(sc_watch *w)
{
	sc_conn	*c;

	if (w == NULL)
		return -1;
	if ((c = w->c) == NULL)		/* a blocking watch, c gone */
		return -1;
	if (w->fn == NULL || w->ended)
		return sc__fail(c, SC_ERR_INVALID, w->fn == NULL ? "a blocking "
		    "watch: sc_watch_end() ends it" : "the watch has ended");
	if (w->unwatching)
		return sc__ok(c);
	/* A connection going away brings the last call itself. */
	if (sc__async_conn(c->async) == NULL)
		return -1;
	w->unwatching = true;
	/* Not named yet: its start sends the unwatch. */
	if (!w->started)
		return sc__ok(c);
	if (async_send_unwatch(c, w) == -1) {
		w->unwatching = false;
		return -1;
	}
	return 0;
}

int
sc_rev(sc_conn *c, const char *repo, const char *store, uint64_t *rev)
{
	return sc_rev_id(c, repo, store, rev, NULL);
}

int
sc_rev_id(sc_conn *c, const char *repo, const char *store, uint64_t *rev,
    unsigned char *id)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;

	if (c == NULL)
		return -1;
	if (sc__req_target(c, &rq, SP_OP_REV, repo, store, NULL) == -1 ||
	    sc__call(c, &rq, -1, &rep) == -1)
		return -1;
	if (rev)
		*rev = rep.rev;
	if (id) {
		/* No env yet, or a store that keeps no revisions: zeros. */
		memset(id, 0, SC_ENV_ID_LEN);
		if (rep.env_id.n == SC_ENV_ID_LEN)
			memcpy(id, rep.env_id.p, SC_ENV_ID_LEN);
	}
	return 0;
}

uint64_t
sc_last_rev(const sc_conn *c)
{
	return c ? c->last_rev : 0;
}
