/*
 * watch: every committed change of a key or a prefix (see watch.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "quota.h"
#include "registry.h"
#include "sp_frame.h"
#include "store.h"
#include "watch.h"

struct watch {
	/* Fixed from its start. */
	uint64_t		 id;
	uid_t			 uid;		/* its peer's: holds a quota */
	struct watch_loop	*wl;
	void			*conn;
	struct watch		**clist;	/* its connection's list */
	const struct cfg_store	*st;		/* held: cfg_hold(); check_env()
						 * moves it to a reload's */
	char			 store[SP_NAME_MAX + 1];
	char			 repo[SP_REPO_MAX + 1];
	size_t			 repolen;
	bool			 fixed;		/* a fixed-path store */
	size_t			 bucket;	/* its env's, in tbl */
	unsigned		 db;
	unsigned char		 match[SP_KEY_MAX];
	size_t			 mlen;
	bool			 prefix;
	bool			 history;	/* else: the buffer */
	uint64_t		 buffer;	/* watch_buffer */
	uint64_t		 progress_ms;

	/* Its loop's thread only. */
	uint64_t		 next;		/* history: the next to read */
	size_t			 skip;		/* its ops sent already */
	uint64_t		 done;		/* every revision up to it sent */
	bool			 more;		/* history left to read */
	uint64_t		 sent_ms;	/* when a frame last went out */
	struct watch		*cnext;		/* its connection's list */
	struct watch		*lnext;		/* its loop's list */

	/* Guarded by tbl_mtx. */
	struct watch		*tnext;
	uint64_t		 seen;		/* the last revision the hook
						 * handled for it */
	uint64_t		 min_rev;	/* no-history: events from it */
	unsigned char		 env_id[ST_ID_LEN];	/* of the env it saw */
	bool			 has_id;
	bool			 resync;	/* that env was replaced */
	bool			 behind;	/* history: read it */
	struct sp_buf		 inbox;		/* no history: event frames */
	size_t			 inbox_off;	/* those before it are sent */
	uint64_t		 inbox_events;
	bool			 overflow;
	bool			 gap;		/* no history: a revision it
						 * was never told of */
};

struct watch_loop {
	void			*loop;
	struct watch		*head;
	atomic_bool		 woken;		/* a turn is coming */
	atomic_bool		 tick;		/* progress and path checks */
	bool			 stalled;	/* a watch waits for its
						 * connection's output to drain:
						 * look each turn (loop thread) */
	struct watch_loop	*next;		/* guarded by tbl_mtx */
};

static const struct watch_io	*io;
static struct registry		*reg;
static pthread_mutex_t		 tbl_mtx = PTHREAD_MUTEX_INITIALIZER;
/* Every watch, by env: a commit goes through its own env's bucket, not
 * through every watch of every env. */
#define TBL_BUCKETS	1024
static struct watch		*tbl[TBL_BUCKETS];
static struct watch_loop	*loops;		/* every watch_loop */
static _Atomic uint64_t		 next_id = 1;
static _Atomic uint64_t		 nopen;
static _Atomic uint64_t		 nsent;

void
watch_init(const struct watch_io *wio, struct registry *r)
{
	io = wio;
	reg = r;
}

struct watch_loop *
watch_loop_new(void *loop)
{
	struct watch_loop	*wl;

	if ((wl = calloc(1, sizeof(*wl))) == NULL)
		return NULL;
	wl->loop = loop;
	pthread_mutex_lock(&tbl_mtx);
	wl->next = loops;
	loops = wl;
	pthread_mutex_unlock(&tbl_mtx);
	return wl;
}

void
watch_loop_free(struct watch_loop *wl)
{
	struct watch_loop	**pp;

	if (wl == NULL)
		return;
	pthread_mutex_lock(&tbl_mtx);
	for (pp = &loops; *pp; pp = &(*pp)->next)
		if (*pp == wl) {
			*pp = wl->next;
			break;
		}
	pthread_mutex_unlock(&tbl_mtx);
	free(wl);
}

/* Makes wl's loop end a turn soon, once however often it is asked. */
static void
wake(struct watch_loop *wl)
{
	if (!atomic_exchange(&wl->woken, true))
		io->wake(wl->loop);
}

/* ------------------------------------------------------------- matching */

/* The bucket in tbl of the env of store and repo (FNV-1a). */
static size_t
bucket_of(const char *store, const char *repo, size_t repolen)
{
	uint64_t	 h = UINT64_C(14695981039346656037);
	size_t		 i;

	for (i = 0; store[i] != '\0'; i++)
		h = (h ^ (unsigned char)store[i]) * UINT64_C(1099511628211);
	h = (h ^ 0xff) * UINT64_C(1099511628211);
	for (i = 0; i < repolen; i++)
		h = (h ^ (unsigned char)repo[i]) * UINT64_C(1099511628211);
	return h % TBL_BUCKETS;
}

static bool
matches(const struct watch *w, unsigned db, const void *key, size_t klen)
{
	if (db != w->db)
		return false;
	if (w->prefix)
		return klen >= w->mlen && memcmp(key, w->match, w->mlen) == 0;
	return klen == w->mlen && memcmp(key, w->match, klen) == 0;
}

/* True when e is the env w watches. */
static bool
watches_env(const struct watch *w, const struct reg_env *e)
{
	if (strcmp(w->store, e->store) != 0)
		return false;
	if (w->fixed || e->repo == NULL)
		return w->fixed && e->repo == NULL;
	return strlen(e->repo) == w->repolen &&
	    memcmp(e->repo, w->repo, w->repolen) == 0;
}

static enum sp_ev
ev_of(enum st_opkind k)
{
	switch (k) {
	case ST_PUT:
	case ST_PUT_IF_ABSENT:
		return SP_EV_PUT;
	case ST_DEL:
	case ST_DEL_ANY:
		return SP_EV_DEL;
	default:
		return 0;	/* conditions change nothing; see PROTOCOL.md
				 * for clear */
	}
}

/* ------------------------------------------------- the writer's hook */

/*
 * False when e is not the env w began on (a restore replaced it: its
 * revisions are another env's), which marks w for RESYNC.  A watch
 * begun before its env existed takes the first env's id.  Under tbl_mtx.
 */
static bool
same_id(struct watch *w, const struct reg_env *e)
{
	const unsigned char	*id = st_env_id(e->st);

	if (id == NULL)
		return true;
	if (!w->has_id) {
		memcpy(w->env_id, id, ST_ID_LEN);
		w->has_id = true;
		return true;
	}
	if (memcmp(w->env_id, id, ST_ID_LEN) == 0)
		return true;
	w->resync = true;
	return false;
}

/* True when job j changes a key w matches (what history keeps of it). */
static bool
job_matches(const struct watch *w, const struct st_job *j)
{
	const struct st_op	*op;
	size_t			 i;

	for (i = 0; i < j->nops; i++) {
		op = &j->ops[i];
		if (ev_of(op->kind) != 0 && matches(w, op->db, op->key,
		    op->klen))
			return true;
	}
	return false;
}

/* Copies the events of job j that w matches into its buffer. */
static void
buffer_job(struct watch *w, const struct st_job *j)
{
	const struct st_op	*op;
	enum sp_ev		 ev;
	size_t			 i;

	for (i = 0; i < j->nops && !w->overflow; i++) {
		op = &j->ops[i];
		if ((ev = ev_of(op->kind)) == 0 ||
		    !matches(w, op->db, op->key, op->klen))
			continue;
		if (sp_watch_event(&w->inbox, w->id, ev, j->rev, op->key,
		    op->klen, op->val, op->vlen) == -1 ||
		    w->inbox.len - w->inbox_off > w->buffer) {
			/* Never a silent drop: the watch ends, saying so. */
			w->overflow = true;
			sp_buf_free(&w->inbox);
			w->inbox_off = 0;
		} else
			w->inbox_events++;
	}
}

void
watch_committed(void *arg, struct reg_env *e, const struct st_job *jobs,
    size_t n)
{
	struct watch	*w;
	size_t		 i;
	uint64_t	 buffered;
	bool		 news, gap;

	(void)arg;
	pthread_mutex_lock(&tbl_mtx);
	for (w = tbl[bucket_of(e->store, e->repo ? e->repo : "", e->repo ?
	    strlen(e->repo) : 0)]; w; w = w->tnext) {
		if (!watches_env(w, e))
			continue;
		if (!same_id(w, e)) {
			wake(w->wl);
			continue;
		}
		news = false;
		buffered = w->inbox_events;
		for (i = 0; i < n; i++) {
			if (jobs[i].rc != 0 || jobs[i].rev <= w->seen)
				continue;
			gap = jobs[i].rev != w->seen + 1;
			/*
			 * Without history, a revision the hook skips is lost
			 * for good: one a failed sync kept from it, or the
			 * revisions of an env a fork or a restore made after
			 * the watch began.  The watch ends, saying so.
			 */
			if (!w->history && gap && !w->gap) {
				w->gap = true;
				sp_buf_free(&w->inbox);
				w->inbox_off = 0;
				w->inbox_events = 0;
				news = true;
			}
			w->seen = jobs[i].rev;
			/*
			 * Only a revision with something for w, or one after
			 * revisions the hook was not told of, is read from
			 * history; past the others w only moves on, at its
			 * next turn (send_history()).  So watches on keys
			 * nobody writes cost a commit a match, not a read.
			 */
			if (w->history && (gap || job_matches(w, &jobs[i]))) {
				w->behind = true;
				news = true;
			} else if (!w->history && !w->gap &&
			    jobs[i].rev >= w->min_rev)
				buffer_job(w, &jobs[i]);
		}
		if (!w->history && (w->overflow || w->inbox_events !=
		    buffered))
			news = true;
		if (news)
			wake(w->wl);
	}
	pthread_mutex_unlock(&tbl_mtx);
}

void
watch_tick(void)
{
	struct watch_loop	*wl;

	pthread_mutex_lock(&tbl_mtx);
	for (wl = loops; wl; wl = wl->next)
		if (wl->head != NULL) {
			atomic_store(&wl->tick, true);
			wake(wl);
		}
	pthread_mutex_unlock(&tbl_mtx);
}

uint64_t
watch_open_count(void)
{
	return atomic_load(&nopen);
}

uint64_t
watch_events_sent(void)
{
	return atomic_load(&nsent);
}

/* ----------------------------------------------------------- life */


static void
unlink_watch(struct watch *w)
{
	struct watch	**pp;

	pthread_mutex_lock(&tbl_mtx);
	for (pp = &tbl[w->bucket]; *pp; pp = &(*pp)->tnext)
		if (*pp == w) {
			*pp = w->tnext;
			break;
		}
	pthread_mutex_unlock(&tbl_mtx);
	for (pp = &w->wl->head; *pp; pp = &(*pp)->lnext)
		if (*pp == w) {
			*pp = w->lnext;
			break;
		}
	for (pp = w->clist; *pp; pp = &(*pp)->cnext)
		if (*pp == w) {
			*pp = w->cnext;
			break;
		}
}

static void
free_watch(struct watch *w)
{
	unlink_watch(w);
	cfg_drop(w->st);
	sp_buf_free(&w->inbox);
	quota_give(QUOTA_WATCHES, w->uid, 1);
	atomic_fetch_sub(&nopen, 1);
	free(w);
}

/* Ends w with an end frame saying why. */
static void
end_watch(struct watch *w, int code, const char *msg, uint64_t oldest,
    uint64_t current)
{
	if (sp_watch_end(io->out(w->conn), w->id, code, msg, oldest,
	    current) == -1)
		log_warnx("%s: out of memory ending watch %llu", __func__,
		    (unsigned long long)w->id);
	io->flush(w->conn);
	free_watch(w);
}

/* The env of w for a moment: 0 with *e (NULL: none yet), 1 to retry
 * later, -1 with err. */
static int
acquire(struct watch *w, struct reg_env **e, struct sp_error *err)
{
	struct sp_bytes	 repo = { w->fixed ? NULL : w->repo, w->repolen };
	int		 rc;

	*e = NULL;
	rc = reg_acquire(reg, w->st, repo, false, e, err);
	if (rc == REG_AGAIN)
		return 1;
	if (rc == -1) {
		*e = NULL;
		return err->code == SP_NOT_FOUND ? 0 : -1;
	}
	return 0;
}

int
watch_open(struct watch_loop *wl, void *conn, struct watch **list,
    const struct watch_req *rq, struct sp_error *err)
{
	struct sp_bytes	 repo = rq->repo;
	struct reg_env	*e = NULL;
	struct watch	*w;
	uint64_t	 current;
	enum quota_why	 why;
	int		 rc;

	if (rq->st->max_dbs == 0)
		return sp_seterr(err, SP_BAD_REQUEST, "store %s keeps its "
		    "data in LMDB's main db (max_dbs = 0), which has no room "
		    "for revisions: it cannot be watched", rq->st->name);
	rc = reg_acquire(reg, rq->st, repo, false, &e, err);
	if (rc == REG_AGAIN)
		return REG_AGAIN;
	if (rc == -1 && err->code != SP_NOT_FOUND)
		return -1;
	if (rc == -1)
		e = NULL;
	if (e != NULL && !st_has_revs(e->st)) {
		reg_release(reg, e);
		return sp_seterr(err, SP_BAD_REQUEST, "the env of store %s "
		    "keeps no revisions: another program had it open when "
		    "storesd opened it; watch it once storesd has it alone",
		    rq->st->name);
	}
	/* Past the checks that may say REG_AGAIN: a retry takes none. */
	if ((why = quota_take(QUOTA_WATCHES, rq->uid, 1,
	    quota_share(rq->max_total), rq->max_total)) != QUOTA_OK) {
		if (e)
			reg_release(reg, e);
		return quota_refusal(QUOTA_WATCHES, why, rq->uid,
		    rq->max_total, err);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		quota_give(QUOTA_WATCHES, rq->uid, 1);
		if (e)
			reg_release(reg, e);
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	w->id = atomic_fetch_add(&next_id, 1);
	w->uid = rq->uid;
	w->wl = wl;
	w->conn = conn;
	w->clist = list;
	w->st = rq->st;
	cfg_hold(w->st);
	snprintf(w->store, sizeof(w->store), "%s", rq->st->name);
	w->fixed = repo.p == NULL;
	w->repolen = repo.n;
	if (repo.n)
		memcpy(w->repo, repo.p, repo.n);
	w->bucket = bucket_of(w->store, w->repo, w->repolen);
	w->db = rq->db;
	w->prefix = rq->key.p == NULL;
	w->mlen = w->prefix ? rq->prefix.n : rq->key.n;
	if (w->mlen)
		memcpy(w->match, w->prefix ? rq->prefix.p : rq->key.p,
		    w->mlen);
	w->history = rq->st->history > 0;
	w->buffer = rq->buffer;
	w->progress_ms = rq->progress_ms;
	w->sent_ms = clock_now_ms();
	atomic_fetch_add(&nopen, 1);

	/*
	 * The revision is read under the lock the hook takes: every
	 * commit past it reaches this watch through the hook, and none
	 * before it does (a commit's revision is durable before its hook
	 * runs).  The durable one, not the last committed: a write not
	 * durable yet is not told of (writer.h), nor sent from history.
	 */
	pthread_mutex_lock(&tbl_mtx);
	current = e ? st_durable_rev(e->st) : 0;
	if (e)
		(void)same_id(w, e);
	w->seen = current;
	w->next = rq->has_from ? rq->from : current + 1;
	w->min_rev = w->next;
	w->done = w->next - 1 < current ? w->next - 1 : current;
	w->behind = w->history && w->next <= current;
	w->tnext = tbl[w->bucket];
	tbl[w->bucket] = w;
	pthread_mutex_unlock(&tbl_mtx);
	if (e)
		reg_release(reg, e);
	w->lnext = wl->head;
	wl->head = w;
	w->cnext = *list;
	*list = w;

	if (sp_reply_watch(io->out(conn), rq->id, w->id, current) == -1) {
		free_watch(w);
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	}
	/* Without history, what came before now is gone already. */
	if (!w->history && rq->has_from && rq->from <= current)
		end_watch(w, SP_COMPACTED, "the store keeps no history: "
		    "watch from the current revision + 1", current + 1,
		    current);
	else if (w->behind)
		wake(wl);
	return 0;
}

int
watch_close(struct watch **list, uint64_t id, struct sp_error *err)
{
	struct watch	*w;

	for (w = *list; w; w = w->cnext)
		if (w->id == id) {
			free_watch(w);
			return 0;
		}
	return sp_seterr(err, SP_NOT_FOUND, "this connection has no watch "
	    "%llu (it may have ended)", (unsigned long long)id);
}

unsigned
watch_count(struct watch *const *list)
{
	const struct watch	*w;
	unsigned		 n = 0;

	for (w = *list; w; w = w->cnext)
		n++;
	return n;
}

void
watch_conn_closed(struct watch **list)
{
	while (*list)
		free_watch(*list);
}

/* ------------------------------------------------------- sending */

/*
 * Bytes a watch of conn sends in a turn, at most about, and the unsent
 * output past which conn's watches wait (see watch.h): together well
 * within what conn may leave unsent, whatever max_output is.
 */
static size_t
turn_bytes(void *conn)
{
	size_t	 room = io->room(conn) / 8;

	return room < WATCH_TURN_BYTES ? room : WATCH_TURN_BYTES;
}

static size_t
out_high(void *conn)
{
	size_t	 room = io->room(conn) / 8;

	return room < WATCH_OUT_HIGH ? room : WATCH_OUT_HIGH;
}

struct send_ctx {
	struct watch	*w;
	struct sp_buf	*out;
	size_t		 start;		/* out's length before the turn */
	size_t		 limit;		/* turn_bytes() */
	uint64_t	 rev;
	size_t		 op;		/* the op's index in its revision */
	size_t		 skip;		/* ops of rev sent in a turn before */
	uint64_t	 events;
};

static int
send_op(void *arg, const struct st_op *op)
{
	struct send_ctx	*s = arg;
	size_t		 i = s->op++, sent = s->out->len - s->start;

	if (i < s->skip || !matches(s->w, op->db, op->key, op->klen))
		return 0;
	/*
	 * Enough for this turn, within a revision too: one revision's
	 * events may be more than the connection may leave unsent, and
	 * appended at once they would get it cut off, again at each
	 * resume.  The rest of the revision follows from op i on.
	 */
	if (sent > 0 && sent + op->klen + op->vlen > s->limit) {
		s->w->skip = i;
		return 1;
	}
	s->events++;
	return sp_watch_event(s->out, s->w->id, op->kind == ST_PUT ?
	    SP_EV_PUT : SP_EV_DEL, s->rev, op->key, op->klen, op->val,
	    op->vlen);
}

static int
send_rev(void *arg, uint64_t rev, const void *ops, size_t n)
{
	struct send_ctx	*s = arg;
	int		 rc;

	s->rev = rev;
	s->op = 0;
	s->skip = rev == s->w->next ? s->w->skip : 0;
	if ((rc = st_hist_each(ops, n, send_op, s)) == 0)
		s->w->skip = 0;
	return rc;
}

/*
 * Sends what w misses from history, about turn_bytes() of it.
 * Returns true when w ended.
 */
static bool
send_history(struct watch *w, uint64_t *events)
{
	struct send_ctx		 s = { w, io->out(w->conn), 0, 0, 0, 0, 0,
				    0 };
	struct st_hist_pos	 pos;
	struct sp_error		 err;
	struct reg_env		*e;
	uint64_t		 upto, last;
	bool			 behind;
	char			 msg[160];
	int			 rc;

	s.start = s.out->len;
	s.limit = turn_bytes(w->conn);
	/* What the hook was told of is durable; history may hold more. */
	pthread_mutex_lock(&tbl_mtx);
	behind = w->behind;
	w->behind = false;
	upto = w->seen;
	pthread_mutex_unlock(&tbl_mtx);
	if (!behind && !w->more) {
		/* Nothing for w up to upto (the hook saw every revision
		 * and none matched): it is up to date with it. */
		if (upto > w->done && w->next == w->done + 1) {
			w->next = upto + 1;
			w->done = upto;
		}
		return false;
	}
	if ((rc = acquire(w, &e, &err)) != 0 || e == NULL) {
		if (rc == -1) {
			end_watch(w, err.code, err.msg, 0, 0);
			return true;
		}
		w->more = rc == 1;	/* busy: the next tick retries */
		return false;
	}
	pthread_mutex_lock(&tbl_mtx);
	behind = same_id(w, e);
	pthread_mutex_unlock(&tbl_mtx);
	if (!behind) {
		reg_release(reg, e);
		return false;	/* resync, at the end of this turn */
	}
	rc = st_hist_read(e->st, w->next, upto, s.limit, send_rev, &s, &pos,
	    &err);
	reg_release(reg, e);
	if (rc == -1) {
		/* A fault in the env's map (CORRUPT) may stop it midway
		 * through an event: what this turn added goes, the watch
		 * ends with the error. */
		s.out->len = s.start;
		end_watch(w, err.code, err.msg, 0, 0);
		return true;
	}
	*events += s.events;
	if (w->next < pos.oldest && w->next <= pos.current) {
		snprintf(msg, sizeof(msg), "revision %llu is no longer in "
		    "history, which starts at %llu: read the data again and "
		    "watch from the current revision + 1",
		    (unsigned long long)w->next,
		    (unsigned long long)pos.oldest);
		end_watch(w, SP_COMPACTED, msg, pos.oldest, pos.current);
		return true;
	}
	if (pos.next > w->next)
		w->next = pos.next;
	last = pos.current < upto ? pos.current : upto;
	w->more = w->next <= last;
	w->done = w->more ? w->next - 1 : last;
	if (w->more)
		wake(w->wl);	/* the rest in the next turn */
	return false;
}

/*
 * Takes from w's buffer the whole event frames that make about limit
 * bytes (one at least) into out.  Returns the events moved, and sets
 * *left when frames stay for a later turn.  Under tbl_mtx.
 */
static uint64_t
take_frames(struct watch *w, struct sp_buf *out, size_t limit, bool *left)
{
	const char	*p = w->inbox.data;
	size_t		 off = w->inbox_off, end = off, len;
	uint64_t	 n = 0;

	while (end < w->inbox.len) {
		len = SP_FRAME_HDR + sp_frame_len(p + end);
		if (end > off && end + len - off > limit)
			break;
		end += len;
		n++;
	}
	if (end > off && sp_buf_append(out, p + off, end - off) == -1)
		return UINT64_MAX;
	w->inbox_off = end;
	w->inbox_events -= n;
	*left = end < w->inbox.len;
	if (!*left) {
		w->inbox.len = w->inbox_off = 0;
		sp_buf_shrink(&w->inbox, 64 * 1024);
	} else if (w->inbox_off >= w->inbox.len / 2) {
		/* The hook may keep it from draining: drop what was sent,
		 * once it is most of it (a copy of no more than was sent). */
		sp_buf_consume(&w->inbox, w->inbox_off);
		w->inbox_off = 0;
	}
	return n;
}

/* Moves w's buffered events to its connection, about turn_bytes() of
 * them.  True when w ended. */
static bool
send_buffer(struct watch *w, uint64_t *events)
{
	uint64_t	 seen, n = 0;
	bool		 overflow, gap, left = false;
	char		 msg[320];

	pthread_mutex_lock(&tbl_mtx);
	overflow = w->overflow;
	gap = w->gap;
	seen = w->seen;
	if (!overflow && !gap)
		n = take_frames(w, io->out(w->conn), turn_bytes(w->conn),
		    &left);
	pthread_mutex_unlock(&tbl_mtx);
	if (gap) {
		snprintf(msg, sizeof(msg), "the events after revision %llu "
		    "cannot be sent: some revisions never reached this watch "
		    "(a fork or a restore made its env, or a sync failed) and "
		    "the store keeps no history; read the data again and "
		    "watch from the current revision + 1",
		    (unsigned long long)w->done);
		end_watch(w, SP_COMPACTED, msg, seen + 1, seen);
		return true;
	}
	if (overflow) {
		end_watch(w, SP_WATCH_OVERFLOW, "the watcher fell more than "
		    "watch_buffer behind a store that keeps no history: "
		    "read the data again, or give the store a history",
		    0, seen);
		return true;
	}
	if (n == UINT64_MAX) {
		end_watch(w, SP_INTERNAL, "out of memory", 0, seen);
		return true;
	}
	*events += n;
	/* The rest in the next turn; done moves once all of it is out. */
	w->more = left;
	if (left)
		wake(w->wl);
	else if (seen > w->done)
		w->done = seen;
	return false;
}

/*
 * On a tick: a path = env another program wrote has no revisions for
 * what it wrote; an env replaced by a restore, or dropped, is not the
 * one whose revisions w followed.  True when w ended.
 */
static bool
check_env(struct watch *w)
{
	const struct cfg_store	*st;
	struct sp_error		 err;
	struct reg_env		*e;
	bool			 changed = false, replaced;
	int			 rc;

	/* Access is the configuration's of now, not the one it began in. */
	if ((st = io->readable(w->conn, w->store)) == NULL) {
		end_watch(w, SP_FORBIDDEN, "this peer may no longer read the "
		    "store (a reload changed its readers, or removed it)", 0,
		    w->done);
		return true;
	}
	/*
	 * And so is the store: once a reload changed how its env opens,
	 * the env reopens for the new store, and one resolved against the
	 * old would be told to come back later (REG_AGAIN) for ever.
	 */
	if (st != w->st) {
		cfg_hold(st);
		cfg_drop(w->st);
		w->st = st;
	}
	if ((rc = acquire(w, &e, &err)) == 1)
		return false;		/* busy: the next tick looks */
	pthread_mutex_lock(&tbl_mtx);
	if (rc == 0 && e != NULL)
		(void)same_id(w, e);
	/* Gone (dropped) after it was seen: replaced by nothing. */
	replaced = w->resync || (rc == 0 && e == NULL && w->has_id);
	pthread_mutex_unlock(&tbl_mtx);
	if (e != NULL) {
		if (w->st->path != NULL)
			changed = st_changed_outside(e->st);
		reg_release(reg, e);
	}
	if (replaced)
		end_watch(w, SP_RESYNC, "the env was dropped or replaced (a "
		    "restore): its revisions start anew; read the data "
		    "again", 0, w->done);
	else if (changed)
		end_watch(w, SP_RESYNC, "another program wrote the env: what "
		    "it changed has no revision; read the data again", 0,
		    w->done);
	return replaced || changed;
}

/* True when the hook found w's env replaced; then w ended. */
static bool
check_resync(struct watch *w)
{
	bool	 resync;

	pthread_mutex_lock(&tbl_mtx);
	resync = w->resync;
	pthread_mutex_unlock(&tbl_mtx);
	if (resync)
		end_watch(w, SP_RESYNC, "the env was replaced (a restore): "
		    "its revisions start anew; read the data again", 0,
		    w->done);
	return resync;
}

void
watch_turn_end(void *arg)
{
	struct watch_loop	*wl = arg;
	struct watch		*w, *next;
	uint64_t		 now, events;
	bool			 woken, tick, ended;
	size_t			 before;

	woken = atomic_exchange(&wl->woken, false);
	tick = atomic_exchange(&wl->tick, false);
	/* Every turn of the loop ends here: only one that was asked for
	 * (or that a stalled watch waits on) goes through the watches,
	 * so idle watches cost the loop's other requests nothing. */
	if (wl->head == NULL || (!woken && !tick && !wl->stalled))
		return;
	wl->stalled = false;
	now = clock_now_ms();
	for (w = wl->head; w; w = next) {
		next = w->lnext;
		if ((tick && check_env(w)) || check_resync(w))
			continue;
		/* Not read: keep nothing, resume once it drains (looked at
		 * each turn until then, as its output may drain in any). */
		if (io->unsent(w->conn) > out_high(w->conn)) {
			wl->stalled = true;
			continue;
		}
		before = io->out(w->conn)->len;
		events = 0;
		ended = w->history ? send_history(w, &events) :
		    send_buffer(w, &events);
		if (ended)
			continue;
		if (events == 0 && !w->more &&
		    now - w->sent_ms >= w->progress_ms)
			sp_watch_event(io->out(w->conn), w->id,
			    SP_EV_PROGRESS, w->done, NULL, 0, NULL, 0);
		if (io->out(w->conn)->len != before) {
			w->sent_ms = now;
			atomic_fetch_add(&nsent, events);
			io->flush(w->conn);
		}
	}
}
