/*
 * The asynchronous API on a real storesd: a libevent program through
 * client/adapters/libevent.h (1,000 requests of every kind in flight over
 * 4 connections, the daemon stopped and killed under a load and
 * restarted, connections freed inside callbacks), the hook interface
 * driven by a plain poll() loop (timeouts too), back-pressure bounds,
 * the synchronous API's explicit flush, watches (every event of
 * concurrent writers once and in order, unwatch, COMPACTED, refusals,
 * the connection's end), and the README's and the man page's examples
 * built and run.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "check_main.h"
#include "itest.h"

#include "adapters/libevent.h"

/* snapshot_max: a uid may hold half of it, running or waiting, and the
 * fifty-odd snapshots a_thousand_in_flight_every_kind pipelines are all
 * root's. */
#define CONF								\
	"[daemon]\n"							\
	"stop_timeout = 1s\n"						\
	"snapshot_max = 128\n"						\
	"watch_progress = 100ms\n"					\
	"\n"								\
	"[store refs]\n"						\
	"map_size = 64MiB\n"						\
	"\n"								\
	"[store nodes]\n"						\
	"map_size = 16MiB\n"						\
	"\n"								\
	"[store hist]\n"						\
	"map_size = 64MiB\n"						\
	"history = 16MiB\n"

#define NCONN		4
#define NREQ		1000
#define NKEYS		64
#define NNODES		10

/* An async connection to d, driven by base; requests may follow at once. */
static sc_async *
conn_on(struct event_base *base, const struct hs_daemon *d)
{
	sc_options	*o = sc_options_new();
	sc_async	*ac;

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(sc_options_set_path(o, d->sock), 0);
	ck_assert_int_eq(sc_options_set_client_name(o, "check_async"), 0);
	ac = sc_async_connect(o);
	sc_options_free(o);
	ck_assert_ptr_nonnull(ac);
	ck_assert_msg(sc_async_errcode(ac) == SC_OK, "%s",
	    sc_async_errmsg(ac));
	ck_assert_int_eq(sc_libevent_attach(ac, base), 0);
	return ac;
}

static void
expect_code(const sc_reply *r, int code, const char *what)
{
	ck_assert_msg(sc_reply_code(r) == code, "%s: got %s (%s), not %s",
	    what, sc_errname(sc_reply_code(r)), sc_reply_errmsg(r),
	    sc_errname(code));
}

/* ---------------------------------------------- 1,000 requests, mixed */

enum kind {
	K_PING, K_GET, K_PUT, K_DEL, K_PUT_IF_ABSENT, K_PUT_IF_EQUALS,
	K_DEL_IF_EQUALS, K_MGET, K_MISSING, K_COUNT, K_SCAN, K_SNAPSHOT,
	K_FORK, K_STATS, K_LIVE, K_BATCH, K_NKINDS
};

struct mix;

struct mreq {
	struct mix	*m;
	int		 j;
	int		 calls;
};

struct mix {
	struct event_base	*base;
	struct mreq		 req[NREQ];
	int			 done;
	int			 per_kind[K_NKINDS];
	int			 snapfd;
};

static void
mix_done(struct mreq *q)
{
	ck_assert_int_eq(++q->calls, 1);
	if (++q->m->done == NREQ)
		event_base_loopbreak(q->m->base);
}

/* Checks the reply to request j against what its kind must answer. */
static void
mix_reply(sc_async *ac, sc_reply *r, void *arg)
{
	struct mreq	*q = arg;
	const void	*p;
	size_t		 n, idx;
	char		 want[32];
	sc_stats	*st;
	sc_live		*lv;
	int		 j = q->j, i;

	(void)ac;
	q->m->per_kind[j % K_NKINDS]++;
	switch (j % K_NKINDS) {
	case K_GET:
		expect_code(r, SC_OK, "get");
		ck_assert_int_eq(sc_reply_value(r, &p, &n), 0);
		snprintf(want, sizeof(want), "v%03d", j % NKEYS);
		ck_assert(n == strlen(want) && memcmp(p, want, n) == 0);
		break;
	case K_PUT_IF_ABSENT:
		/* Odd rounds aim at a key that exists. */
		expect_code(r, (j / K_NKINDS) % 2 ? SC_ERR_COND_FAILED : SC_OK,
		    "put_if_absent");
		break;
	case K_DEL_IF_EQUALS:
		expect_code(r, SC_ERR_COND_FAILED, "del_if_equals");
		break;
	case K_MGET:
		expect_code(r, SC_OK, "mget");
		for (i = 0; sc_reply_next_value(r, &p, &n) == 1; i++) {
			if (i == 1) {
				ck_assert_ptr_null(p);
				continue;
			}
			snprintf(want, sizeof(want), "v%03d", (j + i) % NKEYS);
			ck_assert(n == strlen(want) &&
			    memcmp(p, want, n) == 0);
		}
		ck_assert_int_eq(i, 3);
		break;
	case K_MISSING:
		expect_code(r, SC_OK, "missing");
		ck_assert_int_eq(sc_reply_next_missing(r, &idx), 1);
		ck_assert_uint_eq(idx, 1);
		ck_assert_int_eq(sc_reply_next_missing(r, &idx), 0);
		break;
	case K_COUNT:
		expect_code(r, SC_OK, "count");
		ck_assert_uint_eq(sc_reply_count(r), NNODES);
		break;
	case K_SCAN:
		expect_code(r, SC_OK, "scan");
		for (i = 0; sc_reply_next_entry(r, &p, &n, NULL, NULL) == 1;
		    i++) {
			snprintf(want, sizeof(want), "n/%d", i);
			ck_assert(n == strlen(want) &&
			    memcmp(p, want, n) == 0);
		}
		ck_assert_int_eq(i, 4);
		ck_assert_int_eq(sc_reply_cursor(r, &p, &n), 1);
		break;
	case K_SNAPSHOT:
		expect_code(r, SC_OK, "snapshot");
		ck_assert_uint_gt(sc_reply_size(r), 0);
		break;
	case K_STATS:
		expect_code(r, SC_OK, "stats");
		ck_assert_int_eq(sc_reply_stats(r, &st), 0);
		ck_assert_uint_eq(st->nenvs, 1);
		ck_assert_str_eq(st->envs[0].store, "nodes");
		sc_stats_free(st);
		break;
	case K_LIVE:
		expect_code(r, SC_OK, "live");
		ck_assert_int_eq(sc_reply_live(r, &lv), 0);
		ck_assert_uint_ge(lv->n, 1);
		sc_live_free(lv);
		break;
	default:	/* ping, put, del, put_if_equals, fork, batch */
		expect_code(r, SC_OK, "a write");
		ck_assert_int_eq(sc_reply_value(r, &p, &n), -1);
	}
	mix_done(q);
}

/* Issues request j of kind j % K_NKINDS on ac. */
static void
mix_issue(struct mix *m, sc_async *ac, int j)
{
	struct mreq	*q = &m->req[j];
	char		 k[32], v[32], k2[32];
	sc_bytes	 keys[3];
	sc_scan_opts	*so;
	sc_batch	*b;
	int		 rc = -1, i;

	q->m = m;
	q->j = j;
	snprintf(v, sizeof(v), "x%d", j);
	switch (j % K_NKINDS) {
	case K_PING:
		rc = sc_async_ping(ac, mix_reply, q);
		break;
	case K_GET:
		snprintf(k, sizeof(k), "k%03d", j % NKEYS);
		rc = sc_async_get(ac, "mix", "refs", NULL, k, strlen(k),
		    mix_reply, q);
		break;
	case K_PUT:
		snprintf(k, sizeof(k), "p/%d", j);
		rc = sc_async_put(ac, "mix", "refs", NULL, k, strlen(k), v,
		    strlen(v), mix_reply, q);
		break;
	case K_DEL:
		snprintf(k, sizeof(k), "d/%d", j);
		rc = sc_async_del(ac, "mix", "refs", NULL, k, strlen(k),
		    mix_reply, q);
		break;
	case K_PUT_IF_ABSENT:
		if ((j / K_NKINDS) % 2)
			snprintf(k, sizeof(k), "k%03d", j % NKEYS);
		else
			snprintf(k, sizeof(k), "pa/%d", j);
		rc = sc_async_put_if_absent(ac, "mix", "refs", NULL, k,
		    strlen(k), v, strlen(v), mix_reply, q);
		break;
	case K_PUT_IF_EQUALS:
		snprintf(k, sizeof(k), "e/%d", j);
		rc = sc_async_put_if_equals(ac, "mix", "refs", NULL, k,
		    strlen(k), "old", 3, v, strlen(v), mix_reply, q);
		break;
	case K_DEL_IF_EQUALS:
		snprintf(k, sizeof(k), "de/%d", j);
		rc = sc_async_del_if_equals(ac, "mix", "refs", NULL, k,
		    strlen(k), "not it", 6, mix_reply, q);
		break;
	case K_MGET:
	case K_MISSING:
		snprintf(k, sizeof(k), "k%03d", j % NKEYS);
		snprintf(k2, sizeof(k2), "k%03d", (j + 2) % NKEYS);
		keys[0] = (sc_bytes){ k, strlen(k) };
		keys[1] = (sc_bytes){ "none", 4 };
		keys[2] = (sc_bytes){ k2, strlen(k2) };
		rc = (j % K_NKINDS == K_MGET ? sc_async_mget :
		    sc_async_missing)(ac, "mix", "refs", NULL, keys, 3,
		    mix_reply, q);
		break;
	case K_COUNT:
		rc = sc_async_count(ac, "mix", "nodes", NULL, mix_reply, q);
		break;
	case K_SCAN:
		so = sc_scan_opts_new();
		ck_assert_int_eq(sc_scan_opts_set_prefix(so, "n/", 2), 0);
		ck_assert_int_eq(sc_scan_opts_set_limit(so, 4), 0);
		ck_assert_int_eq(sc_scan_opts_set_keys_only(so, 1), 0);
		rc = sc_async_scan(ac, "mix", "nodes", NULL, so, NULL, 0,
		    mix_reply, q);
		sc_scan_opts_free(so);
		break;
	case K_SNAPSHOT:
		rc = sc_async_snapshot(ac, "mix", "nodes", m->snapfd, 0,
		    mix_reply, q);
		break;
	case K_FORK:
		snprintf(k, sizeof(k), "fk%d", j);
		rc = sc_async_fork(ac, "mix", "nodes", k, mix_reply, q);
		break;
	case K_STATS:
		rc = sc_async_stats(ac, "mix", "nodes", mix_reply, q);
		break;
	case K_LIVE:
		rc = sc_async_live(ac, "mix", NULL, mix_reply, q);
		break;
	case K_BATCH:
		ck_assert_ptr_nonnull(b = sc_async_batch_begin(ac, "mix",
		    "refs", NULL));
		for (i = 0; i < 3; i++) {
			snprintf(k, sizeof(k), "b/%d/%d", j, i);
			ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), v,
			    strlen(v)), 0);
		}
		rc = sc_async_batch_commit(b, mix_reply, q);
		break;
	}
	ck_assert_msg(rc == 0, "request %d: %s", j, sc_async_errmsg(ac));
}

/* What the requests' writes must have left. */
static void
mix_verify(sc_conn *c)
{
	char		 k[32], v[32];
	uint64_t	 n;
	int		 j;

	for (j = 0; j < NREQ; j++) {
		snprintf(v, sizeof(v), "x%d", j);
		switch (j % K_NKINDS) {
		case K_PUT:
			snprintf(k, sizeof(k), "p/%d", j);
			break;
		case K_DEL:
			snprintf(k, sizeof(k), "d/%d", j);
			it_assert_absent(c, "mix", "refs", NULL, k, strlen(k));
			continue;
		case K_PUT_IF_ABSENT:
			if ((j / K_NKINDS) % 2)
				continue;
			snprintf(k, sizeof(k), "pa/%d", j);
			break;
		case K_PUT_IF_EQUALS:
			snprintf(k, sizeof(k), "e/%d", j);
			break;
		case K_DEL_IF_EQUALS:
			snprintf(k, sizeof(k), "de/%d", j);
			it_assert_val(c, "mix", "refs", NULL, k, strlen(k),
			    "old", 3);
			continue;
		case K_BATCH:
			snprintf(k, sizeof(k), "b/%d/2", j);
			break;
		case K_FORK:
			snprintf(k, sizeof(k), "fk%d", j);
			ck_assert_int_eq(sc_count(c, k, "nodes", NULL, &n), 0);
			ck_assert_uint_eq(n, NNODES);
			continue;
		default:
			continue;
		}
		it_assert_val(c, "mix", "refs", NULL, k, strlen(k), v,
		    strlen(v));
	}
}

static void
mix_fill(sc_conn *c)
{
	sc_batch	*b = sc_batch_begin(c, "mix", "refs", NULL);
	char		 k[32], v[32];
	int		 j;

	for (j = 0; j < NKEYS; j++) {
		snprintf(k, sizeof(k), "k%03d", j);
		snprintf(v, sizeof(v), "v%03d", j);
		sc_batch_put(b, NULL, k, strlen(k), v, strlen(v));
	}
	for (j = 0; j < NREQ; j++) {
		snprintf(k, sizeof(k), j % K_NKINDS == K_DEL ? "d/%d" :
		    j % K_NKINDS == K_PUT_IF_EQUALS ? "e/%d" : "de/%d", j);
		sc_batch_put(b, NULL, k, strlen(k), "old", 3);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	b = sc_batch_begin(c, "mix", "nodes", NULL);
	for (j = 0; j < NNODES; j++) {
		snprintf(k, sizeof(k), "n/%d", j);
		sc_batch_put(b, NULL, k, strlen(k), "node", 4);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
}

START_TEST(a_thousand_in_flight_every_kind)
{
	struct hs_daemon	 d;
	struct mix		*m = calloc(1, sizeof(*m));
	sc_async		*ac[NCONN];
	sc_conn			*c;
	size_t			 inflight = 0;
	char			 path[128];
	int			 i, j;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	c = it_conn(&d);
	mix_fill(c);
	m->base = event_base_new();
	snprintf(path, sizeof(path), "%s/snap", d.dir);
	ck_assert_int_ne(m->snapfd = open(path, O_WRONLY | O_CREAT | O_TRUNC,
	    0600), -1);
	for (i = 0; i < NCONN; i++)
		ac[i] = conn_on(m->base, &d);
	/* All issued before the loop runs: all in flight at once. */
	for (j = 0; j < NREQ; j++)
		mix_issue(m, ac[j % NCONN], j);
	close(m->snapfd);	/* passed as duplicates */
	for (i = 0; i < NCONN; i++)
		inflight += sc_async_inflight(ac[i]);
	ck_assert_uint_eq(inflight, NREQ + NCONN);	/* and the hellos */
	ck_assert_int_eq(event_base_dispatch(m->base), 0);
	ck_assert_int_eq(m->done, NREQ);
	for (j = 0; j < NREQ; j++)
		ck_assert_int_eq(m->req[j].calls, 1);
	for (i = 0; i < K_NKINDS; i++)
		ck_assert_int_gt(m->per_kind[i], 0);
	for (i = 0; i < NCONN; i++) {
		ck_assert_uint_eq(sc_async_inflight(ac[i]), 0);
		ck_assert_uint_eq(sc_async_queued(ac[i]), 0);
		sc_async_free(ac[i]);
	}
	mix_verify(c);
	sc_close(c);
	event_base_free(m->base);
	free(m);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------- a restart under the load */

#define KEEP		32	/* requests in flight per connection */
#define OK_BEFORE	2000	/* successes before the daemon goes */
#define OK_AFTER	100	/* per connection, after it is back */

enum phase { P_LOAD, P_DOWN, P_BACK, P_DONE };

struct rl;

struct rconn {
	struct rl	*L;
	sc_async	*ac;
	int		 ok_after;
	int		 disconnects;
};

struct rtok {
	struct rtok	*next;
	struct rconn	*rc;
	int		 calls;
	int		 code;
};

struct rl {
	struct event_base	*base;
	struct hs_daemon	*d;
	struct rconn		 conn[NCONN];
	struct rtok		*toks;		/* every request issued */
	enum phase		 phase;
	int			 ok;
	int			 lost;		/* error callbacks */
	int			 down;		/* connections ended */
	int			 kill;		/* SIGKILL, not SIGTERM */
	struct event		*ev;
};

static void rl_reply(sc_async *ac, sc_reply *r, void *arg);

static void
rl_issue(struct rconn *rc)
{
	struct rtok	*t = calloc(1, sizeof(*t));
	char		 k[16];
	int		 rc_;

	ck_assert_ptr_nonnull(t);
	t->rc = rc;
	snprintf(k, sizeof(k), "r%d", rc->L->ok % 50);
	if (rc->L->ok % 2)
		rc_ = sc_async_put(rc->ac, "rl", "refs", NULL, k, strlen(k),
		    "v", 1, rl_reply, t);
	else
		rc_ = sc_async_ping(rc->ac, rl_reply, t);
	if (rc_ == -1) {
		/* Refused at once (the connection is dead): no callback. */
		free(t);
		return;
	}
	t->next = rc->L->toks;
	rc->L->toks = t;
}

/* The loop's next turn runs fn: never block inside a library call. */
static void
rl_soon(struct rl *L, event_callback_fn fn)
{
	struct timeval	 tv = { 0, 0 };

	if (L->ev != NULL)
		event_free(L->ev);
	L->ev = evtimer_new(L->base, fn, L);
	evtimer_add(L->ev, &tv);
}

static void
rl_down(evutil_socket_t fd, short what, void *arg)
{
	struct rl	*L = arg;

	(void)fd;
	(void)what;
	/* The loop stands still meanwhile: storesd goes with requests in
	 * flight and replies unread. */
	if (L->kill)
		hs_kill9(L->d);
	else
		ck_assert_int_eq(hs_stop(L->d), 0);
}

static void
rl_connected(sc_async *ac, int code, void *arg)
{
	(void)ac;
	(void)arg;
	ck_assert_msg(code == SC_OK, "reconnect: %s", sc_errname(code));
}

static void rl_disconnected(sc_async *ac, int code, void *arg);

static void
rl_connect(struct rconn *rc)
{
	int	 i;

	rc->ac = conn_on(rc->L->base, rc->L->d);
	sc_async_set_connect_cb(rc->ac, rl_connected, rc);
	sc_async_set_disconnect_cb(rc->ac, rl_disconnected, rc);
	for (i = 0; i < KEEP; i++)
		rl_issue(rc);
}

static void
rl_up(evutil_socket_t fd, short what, void *arg)
{
	struct rl	*L = arg;
	int		 i;

	(void)fd;
	(void)what;
	ck_assert_int_eq(hs_start(L->d, NULL), 0);
	L->phase = P_BACK;
	for (i = 0; i < NCONN; i++)
		rl_connect(&L->conn[i]);
}

static void
rl_disconnected(sc_async *ac, int code, void *arg)
{
	struct rconn	*rc = arg;

	(void)ac;
	rc->ac = NULL;
	rc->disconnects++;
	if (rc->L->phase == P_DONE) {
		ck_assert_int_eq(code, SC_OK);	/* freed by us */
		return;
	}
	ck_assert_int_ne(code, SC_OK);
	ck_assert_int_eq(rc->L->phase, P_DOWN);
	/* Once all are gone, storesd comes back and they reconnect. */
	if (++rc->L->down == NCONN)
		rl_soon(rc->L, rl_up);
}

static void
rl_reply(sc_async *ac, sc_reply *r, void *arg)
{
	struct rtok	*t = arg;
	struct rconn	*rc = t->rc;
	struct rl	*L = rc->L;
	int		 i;

	ck_assert_int_eq(++t->calls, 1);
	t->code = sc_reply_code(r);
	if (t->code != SC_OK) {
		L->lost++;
		return;
	}
	L->ok++;
	if (L->phase == P_LOAD && L->ok == OK_BEFORE) {
		L->phase = P_DOWN;
		rl_soon(L, rl_down);
	}
	if (L->phase == P_BACK && ++rc->ok_after >= OK_AFTER) {
		for (i = 0; i < NCONN && L->conn[i].ok_after >= OK_AFTER; i++)
			;
		if (i == NCONN) {
			/* Done: free them all, this one from inside its
			 * own callback. */
			L->phase = P_DONE;
			for (i = 0; i < NCONN; i++)
				if (L->conn[i].ac != ac)
					sc_async_free(L->conn[i].ac);
			sc_async_free(ac);
			return;
		}
	}
	if (L->phase != P_DONE)
		rl_issue(rc);	/* keeps KEEP in flight, on and on */
}

static void
restart_under_load(int kill)
{
	struct hs_daemon	 d;
	struct rl		 L;
	struct rtok		*t;
	int			 i, n = 0, closed = 0;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	memset(&L, 0, sizeof(L));
	L.base = event_base_new();
	L.d = &d;
	L.kill = kill;
	for (i = 0; i < NCONN; i++) {
		L.conn[i].L = &L;
		rl_connect(&L.conn[i]);
	}
	/* Returns when nothing is left to wait for: every connection was
	 * freed and cleaned up after itself. */
	ck_assert_int_eq(event_base_dispatch(L.base), 1);
	ck_assert_int_eq(L.phase, P_DONE);
	for (i = 0; i < NCONN; i++) {
		ck_assert_int_eq(L.conn[i].disconnects, 2);
		ck_assert_ptr_null(L.conn[i].ac);
	}
	/* Every request's callback ran exactly once. */
	while ((t = L.toks) != NULL) {
		ck_assert_int_eq(t->calls, 1);
		closed += t->code == SC_ERR_CLOSED;
		L.toks = t->next;
		free(t);
		n++;
	}
	ck_assert_int_ge(n, OK_BEFORE + NCONN * OK_AFTER);
	/* What storesd took down with it, and what the final frees cut
	 * short, each said so. */
	ck_assert_int_gt(L.lost - closed, 0);
	ck_assert_int_gt(closed, 0);
	if (L.ev != NULL)
		event_free(L.ev);
	event_base_free(L.base);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}

START_TEST(stopped_and_restarted_under_load)
{
	restart_under_load(0);
}
END_TEST

START_TEST(killed_and_restarted_under_load)
{
	restart_under_load(1);
}
END_TEST

/* ---------------------------------------------- freeing in a callback */

struct fr {
	int		 calls[100];
	int		 closed;
	int		 disconnects;
	int		 after_free;	/* a request's return, after the free */
	int		 connects;
};

static struct fr	 F;

static void
fr_reply(sc_async *ac, sc_reply *r, void *arg)
{
	int	 i = (int)(intptr_t)arg;

	F.calls[i]++;
	if (i == 9) {
		expect_code(r, SC_ERR_NOT_FOUND, "the tenth get");
		sc_async_free(ac);
		/* Freed, not gone yet: a request now is refused. */
		F.after_free = sc_async_ping(ac, fr_reply, (void *)0);
		sc_async_free(ac);	/* twice: no harm */
		return;
	}
	if (sc_reply_code(r) == SC_ERR_CLOSED)
		F.closed++;
	else
		expect_code(r, SC_ERR_NOT_FOUND, "a get before the free");
}

static void
fr_disconnected(sc_async *ac, int code, void *arg)
{
	(void)arg;
	ck_assert_int_eq(code, SC_OK);
	F.disconnects++;
	sc_async_free(ac);	/* inside the last callback: no effect */
}

static void
fr_connect_frees(sc_async *ac, int code, void *arg)
{
	(void)arg;
	ck_assert_int_eq(code, SC_OK);
	F.connects++;
	sc_async_free(ac);
}

START_TEST(freed_inside_a_callback)
{
	struct hs_daemon	 d;
	struct event_base	*base = event_base_new();
	sc_async		*ac;
	int			 i;

	memset(&F, 0, sizeof(F));
	ck_assert_int_eq(hs_up(&d, CONF), 0);
	ac = conn_on(base, &d);
	sc_async_set_disconnect_cb(ac, fr_disconnected, NULL);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(sc_async_get(ac, NULL, "refs", NULL, "k", 1,
		    fr_reply, (void *)(intptr_t)i), 0);
	/* The loop ends (1) when the connection's events are gone. */
	ck_assert_int_eq(event_base_dispatch(base), 1);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(F.calls[i], 1);
	ck_assert_int_eq(F.after_free, -1);
	ck_assert_int_eq(F.disconnects, 1);
	/* The gets after the tenth came in the same read, or not at all:
	 * either way they were cut short. */
	ck_assert_int_gt(F.closed, 0);

	/* Freed in its connect callback, with requests queued. */
	memset(&F, 0, sizeof(F));
	ac = conn_on(base, &d);
	sc_async_set_connect_cb(ac, fr_connect_frees, NULL);
	sc_async_set_disconnect_cb(ac, fr_disconnected, NULL);
	for (i = 10; i < 20; i++)
		ck_assert_int_eq(sc_async_ping(ac, fr_reply,
		    (void *)(intptr_t)i), 0);
	ck_assert_int_eq(event_base_dispatch(base), 1);
	ck_assert_int_eq(F.connects, 1);
	ck_assert_int_eq(F.closed, 10);
	ck_assert_int_eq(F.disconnects, 1);
	event_base_free(base);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------ a plain poll() loop */

/* An adapter of the hooks over poll(2): what libstoreclient(3) shows. */
struct pl {
	sc_async	*ac;
	bool		 r, w;
	int		 timer_ms;	/* -1: none */
	int		 cleanups;
};

static void pl_add_read(void *p) { ((struct pl *)p)->r = true; }
static void pl_del_read(void *p) { ((struct pl *)p)->r = false; }
static void pl_add_write(void *p) { ((struct pl *)p)->w = true; }
static void pl_del_write(void *p) { ((struct pl *)p)->w = false; }
static void pl_timer(void *p, int ms) { ((struct pl *)p)->timer_ms = ms; }

static void
pl_cleanup(void *p)
{
	struct pl	*l = p;

	l->r = l->w = false;
	l->timer_ms = -1;
	l->cleanups++;
	l->ac = NULL;
}

static const struct sc_async_hooks pl_hooks = {
	pl_add_read, pl_del_read, pl_add_write, pl_del_write, pl_timer,
	pl_cleanup,
};

/* Runs the loop until *done or the connection is gone. */
static void
pl_run(struct pl *l, const int *done)
{
	struct pollfd	 pfd;
	int		 n, tries = hs_tries(10);

	while (l->ac != NULL && !*done) {
		ck_assert_int_gt(tries--, 0);
		pfd.fd = sc_async_fd(l->ac);
		pfd.events = (l->r ? POLLIN : 0) | (l->w ? POLLOUT : 0);
		pfd.revents = 0;
		n = poll(&pfd, 1, l->timer_ms >= 0 && l->timer_ms < 10 ?
		    l->timer_ms : 10);
		if (n == 0 && l->timer_ms >= 0) {
			/* Not exact: a timer fires no earlier than asked. */
			if ((l->timer_ms -= 10) <= 0) {
				l->timer_ms = -1;
				sc_async_handle_timeout(l->ac);
			}
			continue;
		}
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			sc_async_handle_read(l->ac);
		if (n > 0 && l->ac != NULL && (pfd.revents & POLLOUT))
			sc_async_handle_write(l->ac);
	}
}

static int	 pl_code;
static int	 pl_done;

static void
pl_reply(sc_async *ac, sc_reply *r, void *arg)
{
	const void	*p;
	size_t		 n;

	(void)ac;
	pl_code = sc_reply_code(r);
	if (arg != NULL && pl_code == SC_OK) {
		ck_assert_int_eq(sc_reply_value(r, &p, &n), 0);
		ck_assert(n == 5 && memcmp(p, "world", 5) == 0);
	}
	pl_done++;
}

static sc_async *
pl_connect(struct pl *l, const char *path, int timeout_ms)
{
	sc_options	*o = sc_options_new();

	ck_assert_int_eq(sc_options_set_path(o, path), 0);
	ck_assert_int_eq(sc_options_set_timeout(o, timeout_ms), 0);
	memset(l, 0, sizeof(*l));
	l->timer_ms = -1;
	l->ac = sc_async_connect(o);
	sc_options_free(o);
	ck_assert_int_eq(sc_async_errcode(l->ac), SC_OK);
	/* A smaller hooks struct than this header's is refused. */
	ck_assert_int_eq(sc_async_attach(l->ac, &pl_hooks,
	    sizeof(pl_hooks) - 1, l), -1);
	ck_assert_int_eq(sc_async_attach(l->ac, &pl_hooks, sizeof(pl_hooks),
	    l), 0);
	ck_assert_int_eq(sc_async_attach(l->ac, &pl_hooks, sizeof(pl_hooks),
	    l), -1);
	return l->ac;
}

START_TEST(a_poll_loop_drives_the_hooks)
{
	struct hs_daemon	 d;
	struct sockaddr_un	 sun;
	struct pl		 l;
	sc_async		*ac;
	int			 one = 1, lfd;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	ac = pl_connect(&l, d.sock, 0);
	ck_assert(l.r && l.w);	/* the hello waits to be written */
	pl_done = 0;
	ck_assert_int_eq(sc_async_put(ac, NULL, "refs", NULL, "hello", 5,
	    "world", 5, pl_reply, NULL), 0);
	pl_run(&l, &pl_done);
	ck_assert_int_eq(pl_code, SC_OK);
	ck_assert(!l.w);	/* nothing left to write: no interest */
	ck_assert_str_eq(sc_async_server_version(ac), "storesd 0.1.0");
	pl_done = 0;
	ck_assert_int_eq(sc_async_get(ac, NULL, "refs", NULL, "hello", 5,
	    pl_reply, &one), 0);
	pl_run(&l, &pl_done);
	ck_assert_int_eq(pl_code, SC_OK);
	pl_done = 0;
	ck_assert_int_eq(sc_async_get(ac, NULL, "nosuch", NULL, "k", 1,
	    pl_reply, NULL), 0);
	pl_run(&l, &pl_done);
	ck_assert_int_eq(pl_code, SC_ERR_UNKNOWN_STORE);
	sc_async_free(ac);
	ck_assert_int_eq(l.cleanups, 1);

	/* A server that accepts and never answers: the timeout ends it. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/mute", d.dir);
	ck_assert_int_ne(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ac = pl_connect(&l, sun.sun_path, 50);
	pl_done = 0;
	ck_assert_int_eq(sc_async_ping(ac, pl_reply, NULL), 0);
	pl_run(&l, &pl_done);
	ck_assert_int_eq(pl_code, SC_ERR_TIMEOUT);
	/* It died: the loop was told to forget it. */
	ck_assert_int_eq(l.cleanups, 1);
	ck_assert_ptr_null(l.ac);
	close(lfd);

	/* Nobody listens: refused at once, no callback ever. */
	ac = sc_async_connect(NULL);
	ck_assert_ptr_nonnull(ac);
	sc_async_free(ac);
	{
		sc_options	*o = sc_options_new();

		sc_options_set_path(o, sun.sun_path);	/* closed now */
		ac = sc_async_connect(o);
		sc_options_free(o);
	}
	ck_assert_int_eq(sc_async_errcode(ac), SC_ERR_CONNECT);
	ck_assert_int_eq(sc_async_fd(ac), -1);
	ck_assert_int_eq(sc_async_ping(ac, pl_reply, NULL), -1);
	sc_async_free(ac);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------------ batches */

struct bt {
	int		 calls;
	int		 code;
	size_t		 index;
};

static struct bt	 bt_ok, bt_bad;
static int		 bt_pings;

/* Once both batches and the 4 pings are answered, the loop may end. */
static void
bt_maybe_end(sc_async *ac)
{
	if (bt_ok.calls == 1 && bt_bad.calls == 1 && bt_pings == 4)
		sc_async_free(ac);
}

static void
bt_reply(sc_async *ac, sc_reply *r, void *arg)
{
	struct bt	*t = arg;

	t->calls++;
	t->code = sc_reply_code(r);
	t->index = sc_reply_errindex(r);
	bt_maybe_end(ac);
}

static void
bt_ping(sc_async *ac, sc_reply *r, void *arg)
{
	(void)arg;
	expect_code(r, SC_OK, "a ping between chunks");
	bt_pings++;
	bt_maybe_end(ac);
}

START_TEST(batches_stream_without_blocking)
{
	struct hs_daemon	 d;
	struct event_base	*base = event_base_new();
	struct bt		*ok = &bt_ok, *bad = &bt_bad;
	char			 k[32], v[512];
	sc_async		*ac;
	sc_batch		*b, *b2, *b3;
	sc_conn			*c;
	uint64_t		 n;
	int			 i;

	memset(&bt_ok, 0, sizeof(bt_ok));
	memset(&bt_bad, 0, sizeof(bt_bad));
	bt_pings = 0;
	ck_assert_int_eq(hs_up(&d, CONF), 0);
	ac = conn_on(base, &d);
	memset(v, 'v', sizeof(v));
	/* 4,000 ops of half a KiB: several chunks, queued as they fill,
	 * while other requests go on the same connection. */
	b = sc_async_batch_begin(ac, "bt", "refs", NULL);
	for (i = 0; i < 4000; i++) {
		snprintf(k, sizeof(k), "big/%05d", i);
		ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), v,
		    sizeof(v)), 0);
		if (i % 1500 == 0)
			ck_assert_int_eq(sc_async_ping(ac, bt_ping, NULL), 0);
	}
	ck_assert_uint_gt(sc_async_inflight(ac), 3);	/* chunks, hello */
	ck_assert_int_eq(sc_async_batch_commit(b, bt_reply, ok), 0);
	/* A failing condition: the batch's callback names the op. */
	b2 = sc_async_batch_begin(ac, "bt", "refs", NULL);
	ck_assert_int_eq(sc_batch_put(b2, NULL, "x", 1, "1", 1), 0);
	ck_assert_int_eq(sc_batch_expect(b2, NULL, "big/00001", 9, "no", 2),
	    0);
	ck_assert_int_eq(sc_async_batch_commit(b2, bt_reply, bad), 0);
	/* Aborted: nothing applied, no callback. */
	b3 = sc_async_batch_begin(ac, "bt", "refs", NULL);
	ck_assert_int_eq(sc_batch_put(b3, NULL, "aborted", 7, "1", 1), 0);
	sc_batch_abort(b3);
	/* A sync commit of an async batch is refused, not a crash. */
	b3 = sc_async_batch_begin(ac, "bt", "refs", NULL);
	ck_assert_int_eq(sc_batch_commit(b3), -1);
	ck_assert_int_eq(sc_async_errcode(ac), SC_ERR_INVALID);
	sc_batch_abort(b3);
	ck_assert_int_eq(sc_async_ping(ac, bt_ping, NULL), 0);
	event_base_dispatch(base);
	ck_assert_int_eq(ok->calls, 1);
	ck_assert_msg(ok->code == SC_OK, "%s", sc_errname(ok->code));
	ck_assert_int_eq(bad->calls, 1);
	ck_assert_int_eq(bad->code, SC_ERR_COND_FAILED);
	ck_assert_uint_eq(bad->index, 1);
	c = it_conn(&d);
	ck_assert_int_eq(sc_count(c, "bt", "refs", NULL, &n), 0);
	ck_assert_uint_eq(n, 4000);
	it_assert_absent(c, "bt", "refs", NULL, "x", 1);
	it_assert_absent(c, "bt", "refs", NULL, "aborted", 7);

	/* A batch still open when its connection goes: the adders fail,
	 * abort frees it. */
	ac = conn_on(base, &d);
	b = sc_async_batch_begin(ac, "bt", "refs", NULL);
	ck_assert_int_eq(sc_batch_put(b, NULL, "late", 4, "1", 1), 0);
	sc_async_free(ac);
	ck_assert_int_eq(sc_batch_put(b, NULL, "later", 5, "1", 1), -1);
	ck_assert_int_eq(sc_async_batch_commit(b, bt_reply, ok), -1);
	it_assert_absent(c, "bt", "refs", NULL, "late", 4);
	sc_close(c);
	event_base_free(base);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------ back-pressure */

static int	 bp_calls;
static int	 bp_done;

static void
bp_reply(sc_async *ac, sc_reply *r, void *arg)
{
	(void)ac;
	(void)arg;
	expect_code(r, SC_OK, "a ping within the bounds");
	if (++bp_calls == 8)
		bp_done = 1;
}

/* Connects through the poll adapter with bounds; hooks into l. */
static sc_async *
bp_connect(struct pl *l, const struct hs_daemon *d, size_t inflight,
    size_t queued)
{
	sc_options	*o = sc_options_new();

	ck_assert_int_eq(sc_options_set_path(o, d->sock), 0);
	ck_assert_int_eq(sc_options_set_max_inflight(o, inflight), 0);
	ck_assert_int_eq(sc_options_set_max_queued(o, queued), 0);
	memset(l, 0, sizeof(*l));
	l->timer_ms = -1;
	l->ac = sc_async_connect(o);
	sc_options_free(o);
	ck_assert_int_eq(sc_async_attach(l->ac, &pl_hooks, sizeof(pl_hooks),
	    l), 0);
	return l->ac;
}

START_TEST(bounds_refuse_at_once)
{
	struct hs_daemon	 d;
	struct pl		 l;
	sc_async		*ac;
	int			 i;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	/* In flight: the hello is one of the nine. */
	ac = bp_connect(&l, &d, 9, 0);
	bp_calls = bp_done = 0;
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(sc_async_ping(ac, bp_reply, NULL), 0);
	ck_assert_uint_eq(sc_async_inflight(ac), 9);
	ck_assert_int_eq(sc_async_ping(ac, bp_reply, NULL), -1);
	ck_assert_int_eq(sc_async_errcode(ac), SC_ERR_LIMIT);
	pl_run(&l, &bp_done);
	ck_assert_int_eq(bp_calls, 8);	/* the refused one: never called */
	ck_assert_uint_eq(sc_async_inflight(ac), 0);
	sc_async_free(ac);

	/* Queued bytes: nothing more once the hello's are waiting. */
	ac = bp_connect(&l, &d, 0, 1);
	ck_assert_uint_gt(sc_async_queued(ac), 0);
	ck_assert_int_eq(sc_async_ping(ac, bp_reply, NULL), -1);
	ck_assert_int_eq(sc_async_errcode(ac), SC_ERR_LIMIT);
	sc_async_handle_write(ac);	/* the socket takes them */
	ck_assert_uint_eq(sc_async_queued(ac), 0);
	bp_calls = 7;
	bp_done = 0;
	ck_assert_int_eq(sc_async_ping(ac, bp_reply, NULL), 0);
	pl_run(&l, &bp_done);
	sc_async_free(ac);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------- the sync API's flush */

START_TEST(flush_sends_pipelined_requests_now)
{
	struct hs_daemon	 d;
	sc_conn			*c, *c2;
	void			*v;
	size_t			 n;
	const void		*cv;
	int			 i, tries;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	c = it_conn(&d);
	c2 = it_conn(&d);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(sc_append_put(c, NULL, "refs", NULL, "f", 1,
		    "flushed", 7), 0);
	ck_assert_int_eq(sc_flush(c), 0);
	ck_assert_uint_eq(sc_pending(c), 3);
	/* Applied without a collect: another connection sees them. */
	for (tries = hs_tries(10); tries > 0; tries--) {
		if (sc_get(c2, NULL, "refs", NULL, "f", 1, &v, &n) == 0) {
			sc_free(v);
			break;
		}
		ck_assert_int_eq(sc_errcode(c2), SC_ERR_NOT_FOUND);
		usleep(10000);
	}
	ck_assert_int_gt(tries, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(sc_collect(c, &cv, &n), 0);
	ck_assert_int_eq(sc_flush(c), 0);	/* nothing queued: fine */
	sc_close(c);
	/* The bounds hold for pipelining too. */
	{
		sc_options	*o = sc_options_new();

		ck_assert_int_eq(sc_options_set_path(o, d.sock), 0);
		ck_assert_int_eq(sc_options_set_max_inflight(o, 2), 0);
		c = sc_connect_opts(o);
		sc_options_free(o);
	}
	ck_assert_int_eq(sc_append_get(c, NULL, "refs", NULL, "f", 1), 0);
	ck_assert_int_eq(sc_append_get(c, NULL, "refs", NULL, "f", 1), 0);
	EXPECT_ERR(c, sc_append_get(c, NULL, "refs", NULL, "f", 1),
	    SC_ERR_LIMIT);
	ck_assert_uint_eq(sc_pending(c), 2);
	ck_assert_int_eq(sc_collect(c, &cv, &n), 0);
	ck_assert(n == 7 && memcmp(cv, "flushed", 7) == 0);
	ck_assert_int_eq(sc_append_get(c, NULL, "refs", NULL, "f", 1), 0);
	ck_assert_int_eq(sc_collect(c, &cv, &n), 0);
	ck_assert_int_eq(sc_collect(c, &cv, &n), 0);
	sc_close(c);
	sc_close(c2);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------------ watches */

#define AW_WRITERS	2
#define AW_PUTS		300	/* per writer; every 10th is deleted after */
#define AW_WRITES	(AW_WRITERS * (AW_PUTS + AW_PUTS / 10))

/* What a revision was: a write's reply says, its event says. */
struct aw_rev {
	int		 made;		/* writes that got this revision */
	int		 seen;		/* events of it */
	int		 key;		/* writer * 1000 + i, as written */
	int		 op;		/* SC_EV_PUT or SC_EV_DEL */
	int		 ekey, eop;	/* as the event told */
};

struct aw {
	struct event_base	*base;
	sc_async		*ac;		/* the watcher's connection */
	sc_async		*wr[AW_WRITERS];
	sc_watch		*w;
	int			 starts, ends, end_code;
	int			 ev_after_end;
	uint64_t		 start_rev, last_rev;
	int			 events, progress, writes;
	int			 gets, gets_done;
	int			 unwatched;
	int			 after_unwatch;	/* events: must stay 0 */
	struct aw_rev		 rev[AW_WRITES + 1];
};

static struct aw	 AW;

struct aw_wreq {
	int	 writer, i, op;
};

static struct aw_wreq	 aw_reqs[AW_WRITES];
static int		 aw_nreqs;

static void aw_write(sc_async *ac, int writer, int i, int op);

static void
aw_maybe_end(void)
{
	if (AW.ends == 1 && AW.gets_done == AW.gets)
		event_base_loopbreak(AW.base);
	/* Every write answered and seen: enough. */
	if (!AW.unwatched && AW.events == AW_WRITES &&
	    AW.writes == AW_WRITES) {
		AW.unwatched = 1;
		ck_assert_int_eq(sc_async_unwatch(AW.w), 0);
		ck_assert_int_eq(sc_async_unwatch(AW.w), 0);	/* no-op */
	}
}

static void
aw_written(sc_async *ac, sc_reply *r, void *arg)
{
	struct aw_wreq	*q = arg;
	uint64_t	 rev = sc_reply_rev(r);
	struct aw_rev	*v;

	expect_code(r, SC_OK, "a watched write");
	ck_assert_uint_gt(rev, AW.start_rev);
	ck_assert_uint_le(rev, AW.start_rev + AW_WRITES);
	v = &AW.rev[rev - AW.start_rev];
	v->made++;
	v->key = q->writer * 1000 + q->i;
	v->op = q->op;
	AW.writes++;
	/* Every tenth key goes again, from its put's callback: after it. */
	if (q->op == SC_EV_PUT && q->i % 10 == 0)
		aw_write(ac, q->writer, q->i, SC_EV_DEL);
	aw_maybe_end();
}

static void
aw_write(sc_async *ac, int writer, int i, int op)
{
	struct aw_wreq	*q = &aw_reqs[aw_nreqs++];
	char		 k[32];

	ck_assert_int_le(aw_nreqs, AW_WRITES);
	*q = (struct aw_wreq){ writer, i, op };
	snprintf(k, sizeof(k), "w/%d/%d", writer, i);
	if (op == SC_EV_PUT)
		ck_assert_int_eq(sc_async_put(ac, "aw", "hist", NULL, k,
		    strlen(k), k, strlen(k), aw_written, q), 0);
	else
		ck_assert_int_eq(sc_async_del(ac, "aw", "hist", NULL, k,
		    strlen(k), aw_written, q), 0);
}

static void
aw_got(sc_async *ac, sc_reply *r, void *arg)
{
	(void)ac;
	(void)arg;
	ck_assert(sc_reply_code(r) == SC_OK ||
	    sc_reply_code(r) == SC_ERR_NOT_FOUND);
	AW.gets_done++;
	aw_maybe_end();
}

static void
aw_event(sc_async *ac, sc_watch *w, const sc_event *ev, int code,
    const char *msg, void *arg)
{
	struct aw_rev	*v;
	char		 k[32];
	int		 writer, i, n, j;

	(void)arg;
	ck_assert_ptr_eq(w, AW.w);
	ck_assert_int_eq(AW.ends, 0);	/* nothing after the last call */
	if (ev == NULL) {
		AW.ends++;
		AW.end_code = code;
		ck_assert_msg(code == SC_OK, "the watch ended: %s: %s",
		    sc_errname(code), msg);
		aw_maybe_end();
		return;
	}
	ck_assert_int_eq(code, SC_OK);
	if (AW.unwatched)
		AW.after_unwatch++;
	switch (ev->op) {
	case SC_EV_START:
		ck_assert_int_eq(AW.starts++, 0);
		AW.start_rev = AW.last_rev = ev->rev;
		/* Writers start once the watch is there. */
		for (j = 0; j < AW_WRITERS; j++)
			for (i = 0; i < AW_PUTS; i++)
				aw_write(AW.wr[j], j, i, SC_EV_PUT);
		return;
	case SC_EV_PROGRESS:
		ck_assert_uint_ge(ev->rev, AW.last_rev);
		AW.progress++;
		return;
	}
	ck_assert_int_eq(AW.starts, 1);
	/* In order: one op per write, so revisions only grow. */
	ck_assert_uint_gt(ev->rev, AW.last_rev);
	ck_assert_uint_le(ev->rev, AW.start_rev + AW_WRITES);
	AW.last_rev = ev->rev;
	ck_assert_int_lt(ev->klen, sizeof(k));
	memcpy(k, ev->key, ev->klen);
	k[ev->klen] = '\0';
	ck_assert_int_eq(sscanf(k, "w/%d/%d%n", &writer, &i, &n), 2);
	ck_assert_uint_eq((size_t)n, ev->klen);
	if (ev->op == SC_EV_PUT)
		ck_assert(ev->vlen == ev->klen &&
		    memcmp(ev->val, ev->key, ev->klen) == 0);
	else
		ck_assert_int_eq(ev->op, SC_EV_DEL);
	v = &AW.rev[ev->rev - AW.start_rev];
	v->seen++;
	v->ekey = writer * 1000 + i;
	v->eop = ev->op;
	AW.events++;
	/* Other requests on the watch's own connection meanwhile. */
	if (AW.events % 20 == 0) {
		AW.gets++;
		ck_assert_int_eq(sc_async_get(ac, "aw", "hist", NULL, k,
		    strlen(k), aw_got, NULL), 0);
	}
	aw_maybe_end();
}

START_TEST(a_watch_sees_every_event_once_in_order)
{
	struct hs_daemon	 d;
	sc_watch_opts		*o = sc_watch_opts_new();
	int			 i;

	memset(&AW, 0, sizeof(AW));
	aw_nreqs = 0;
	ck_assert_int_eq(hs_up(&d, CONF), 0);
	AW.base = event_base_new();
	AW.ac = conn_on(AW.base, &d);
	for (i = 0; i < AW_WRITERS; i++)
		AW.wr[i] = conn_on(AW.base, &d);
	ck_assert_int_eq(sc_watch_opts_set_prefix(o, "w/", 2), 0);
	AW.w = sc_async_watch(AW.ac, "aw", "hist", NULL, o, aw_event, NULL);
	sc_watch_opts_free(o);
	ck_assert_msg(AW.w != NULL, "%s", sc_async_errmsg(AW.ac));
	/* A blocking call on it is refused, not a crash. */
	{
		sc_event	 ev;

		ck_assert_int_eq(sc_watch_next(AW.w, &ev, 0), -1);
		ck_assert_int_eq(sc_async_errcode(AW.ac), SC_ERR_INVALID);
	}
	ck_assert_uint_eq(sc_async_inflight(AW.ac), 2);	/* hello, watch */
	event_base_dispatch(AW.base);
	ck_assert_int_eq(AW.starts, 1);
	ck_assert_int_eq(AW.ends, 1);
	ck_assert_int_eq(AW.after_unwatch, 0);
	ck_assert_int_eq(AW.events, AW_WRITES);
	ck_assert_int_eq(AW.gets_done, AW.gets);
	ck_assert_int_gt(AW.gets, 0);
	/* Each revision the writers were told of came as one event, with
	 * the key and op written. */
	for (i = 1; i <= AW_WRITES; i++) {
		ck_assert_int_eq(AW.rev[i].made, 1);
		ck_assert_int_eq(AW.rev[i].seen, 1);
		ck_assert_int_eq(AW.rev[i].key, AW.rev[i].ekey);
		ck_assert_int_eq(AW.rev[i].op, AW.rev[i].eop);
	}
	ck_assert_uint_eq(sc_async_inflight(AW.ac), 0);
	sc_async_free(AW.ac);
	for (i = 0; i < AW_WRITERS; i++)
		sc_async_free(AW.wr[i]);
	event_base_free(AW.base);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* A watch's calls, for the tests of how watches end. */
struct we {
	int		 starts, events, ends, code;
	uint64_t	 oldest, current;
	int		 compacted;	/* sc_watch_compacted() in the end */
	int		*left;		/* watches to end before the loop */
	struct event_base *base;
	int		 unwatch_at_start;
	int		 unwatch_at_progress;
	int		 progress;
	int		 free_at_start;
	int		*order;		/* ++ at the end, for the disconnect */
	int		 end_order;
};

static void
we_event(sc_async *ac, sc_watch *w, const sc_event *ev, int code,
    const char *msg, void *arg)
{
	struct we	*e = arg;

	ck_assert_int_eq(e->ends, 0);
	if (ev == NULL) {
		e->ends++;
		e->code = code;
		ck_assert_ptr_nonnull(msg);
		e->compacted = sc_watch_compacted(w, &e->oldest,
		    &e->current) == 0;
		ck_assert_int_eq(sc_async_unwatch(w), -1);  /* in its end */
		if (e->order != NULL)
			e->end_order = ++*e->order;
		if (e->left != NULL && --*e->left == 0)
			event_base_loopbreak(e->base);
		return;
	}
	ck_assert_int_eq(code, SC_OK);
	if (ev->op == SC_EV_START) {
		e->starts++;
		if (e->unwatch_at_start)
			ck_assert_int_eq(sc_async_unwatch(w), 0);
		if (e->free_at_start)
			sc_async_free(ac);
		return;
	}
	if (ev->op == SC_EV_PROGRESS) {
		if (e->progress++ == 0 && e->unwatch_at_progress)
			ck_assert_int_eq(sc_async_unwatch(w), 0);
		return;
	}
	e->events++;
}

static sc_watch *
we_watch(sc_async *ac, const char *store, uint64_t from, struct we *e)
{
	sc_watch_opts	*o = sc_watch_opts_new();
	sc_watch	*w;

	if (from > 0)
		ck_assert_int_eq(sc_watch_opts_set_from(o, from), 0);
	w = sc_async_watch(ac, "we", store, NULL, o, we_event, e);
	sc_watch_opts_free(o);
	ck_assert_msg(w != NULL, "%s", sc_async_errmsg(ac));
	return w;
}

/* Each way a watch ends calls its callback once, last; a quiet watch
 * gets progress marks meanwhile. */
START_TEST(a_watch_ends_once_unwatched_compacted_or_refused)
{
	struct hs_daemon	 d;
	struct event_base	*base = event_base_new();
	struct we		 cp, un, early, nope, mid, pg;
	sc_async		*ac;
	sc_conn			*c;
	sc_watch		*w;
	int			 left = 6;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "we", "refs", NULL, "k", 1, "v", 1), 0);
	ck_assert_int_eq(sc_put(c, "we", "hist", NULL, "k", 1, "v", 1), 0);
	ac = conn_on(base, &d);
	memset(&cp, 0, sizeof(cp));
	un = early = nope = mid = pg = cp;
	cp.left = un.left = early.left = nope.left = mid.left = pg.left =
	    &left;
	cp.base = un.base = early.base = nope.base = mid.base = pg.base =
	    base;
	/* No history: from 1 is gone already. */
	we_watch(ac, "refs", 1, &cp);
	/* From 1 with history: the put replayed, then unwatched. */
	un.unwatch_at_start = 1;
	we_watch(ac, "hist", 1, &un);
	/* Unwatched before storesd named it: no start. */
	w = we_watch(ac, "hist", 0, &early);
	ck_assert_int_eq(sc_async_unwatch(w), 0);
	ck_assert_int_eq(sc_async_unwatch(w), 0);
	/* Refused: one call. */
	we_watch(ac, "nope", 0, &nope);
	/* A quiet watch gets progress marks (watch_progress 100ms). */
	pg.unwatch_at_progress = 1;
	we_watch(ac, "hist", 0, &pg);
	/* Unwatched through sc_watch_end(), from the loop. */
	mid.unwatch_at_start = 0;
	w = we_watch(ac, "hist", 0, &mid);
	ck_assert_int_eq(sc_async_unwatch(NULL), -1);
	event_base_loop(base, EVLOOP_ONCE);	/* the hello, maybe more */
	sc_watch_end(w);
	event_base_dispatch(base);
	ck_assert_int_eq(left, 0);

	ck_assert_int_eq(cp.starts, 1);
	ck_assert_int_eq(cp.ends, 1);
	ck_assert_int_eq(cp.code, SC_ERR_COMPACTED);
	ck_assert_int_eq(cp.compacted, 1);
	ck_assert_uint_ge(cp.current, 1);
	ck_assert_uint_eq(cp.oldest, cp.current + 1);
	ck_assert_int_eq(cp.events, 0);

	ck_assert_int_eq(un.starts, 1);
	ck_assert_int_eq(un.ends, 1);
	ck_assert_int_eq(un.code, SC_OK);
	ck_assert_int_eq(un.compacted, 0);
	ck_assert_int_eq(un.events, 0);

	ck_assert_int_eq(early.starts, 0);
	ck_assert_int_eq(early.events, 0);
	ck_assert_int_eq(early.ends, 1);
	ck_assert_int_eq(early.code, SC_OK);

	ck_assert_int_eq(nope.starts, 0);
	ck_assert_int_eq(nope.ends, 1);
	ck_assert_int_eq(nope.code, SC_ERR_UNKNOWN_STORE);

	ck_assert_int_eq(pg.starts, 1);
	ck_assert_int_eq(pg.progress, 1);	/* none after the unwatch */
	ck_assert_int_eq(pg.ends, 1);
	ck_assert_int_eq(pg.code, SC_OK);

	ck_assert_int_eq(mid.ends, 1);
	ck_assert_int_eq(mid.code, SC_OK);
	ck_assert_int_eq(mid.events, 0);

	/* The connection still serves. */
	ck_assert_uint_eq(sc_async_inflight(ac), 0);
	sc_async_free(ac);
	sc_close(c);
	event_base_free(base);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

static int	 wk_order;
static int	 wk_disc_order;
static int	 wk_disc_code;

static void
wk_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hs_kill9(arg);
}

static void
wk_disconnected(sc_async *ac, int code, void *arg)
{
	(void)ac;
	(void)arg;
	wk_disc_code = code;
	wk_disc_order = ++wk_order;
}

START_TEST(a_watch_ends_once_when_its_connection_does)
{
	struct hs_daemon	 d;
	struct event_base	*base = event_base_new();
	struct event		*kill_ev;
	struct timeval		 now = { 0, 0 };
	struct we		 fr, k1, k2;
	sc_async		*ac;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	memset(&fr, 0, sizeof(fr));
	k1 = k2 = fr;

	/* Freed from its own start: SC_ERR_CLOSED, once. */
	fr.free_at_start = 1;
	ac = conn_on(base, &d);
	we_watch(ac, "hist", 0, &fr);
	ck_assert_int_eq(event_base_dispatch(base), 1);
	ck_assert_int_eq(fr.starts, 1);
	ck_assert_int_eq(fr.ends, 1);
	ck_assert_int_eq(fr.code, SC_ERR_CLOSED);

	/* storesd killed under two watches: each ends once, with the
	 * connection's error, before the disconnect callback. */
	wk_order = wk_disc_order = 0;
	wk_disc_code = SC_OK;
	k1.order = k2.order = &wk_order;
	ac = conn_on(base, &d);
	sc_async_set_disconnect_cb(ac, wk_disconnected, NULL);
	we_watch(ac, "hist", 0, &k1);
	we_watch(ac, "hist", 0, &k2);
	while (k1.starts + k2.starts < 2)
		ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	kill_ev = evtimer_new(base, wk_kill, &d);
	evtimer_add(kill_ev, &now);
	/* Returns once the connection is gone and cleaned up. */
	ck_assert_int_eq(event_base_dispatch(base), 1);
	ck_assert_int_eq(k1.ends, 1);
	ck_assert_int_eq(k2.ends, 1);
	ck_assert_msg(k1.code == SC_ERR_IO, "%s", sc_errname(k1.code));
	ck_assert_int_eq(k2.code, k1.code);
	ck_assert_int_eq(wk_disc_code, k1.code);
	ck_assert_int_eq(wk_disc_order, 3);
	event_free(kill_ev);
	event_base_free(base);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------- BUSY's retry hint */

struct rt {
	struct event_base	*base;
	int			 code;
	int64_t			 retry_ms;
	int			 calls;
};

static void
rt_reply(sc_async *ac, sc_reply *r, void *arg)
{
	struct rt	*t = arg;

	(void)ac;
	t->code = sc_reply_code(r);
	t->retry_ms = sc_reply_retry_ms(r);
	t->calls++;
	event_base_loopbreak(t->base);
}

/* Runs base until the request's callback ran. */
static void
rt_wait(struct rt *t)
{
	while (t->calls == 0)
		ck_assert_int_ne(event_base_loop(t->base, EVLOOP_ONCE), -1);
}

/*
 * A fork into an open destination is BUSY with storesd's hint for a
 * cause held by a fork, drop or restore (1000 ms, PROTOCOL.md): both
 * APIs report it; other errors and successes have none (-1).
 */
START_TEST(busy_carries_a_retry_hint)
{
	struct hs_daemon	 d;
	struct rt		 t = { 0 };
	sc_conn			*c;
	sc_async		*ac;
	void			*v;
	size_t			 n;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_errretry_ms(c), -1);
	ck_assert_int_eq(sc_put(c, "src", "nodes", NULL, "k", 1, "v", 1), 0);
	/* Open now, and for idle_close (30 s) after its last request. */
	ck_assert_int_eq(sc_put(c, "dst", "nodes", NULL, "k", 1, "v", 1), 0);
	EXPECT_ERR(c, sc_fork(c, "src", "nodes", "dst"), SC_ERR_BUSY);
	ck_assert_int_eq(sc_errretry_ms(c), SP_RETRY_LONG_MS);
	/* The next error, or success, forgets it. */
	EXPECT_ERR(c, sc_get(c, "src", "nodes", NULL, "no", 2, &v, &n),
	    SC_ERR_NOT_FOUND);
	ck_assert_int_eq(sc_errretry_ms(c), -1);
	EXPECT_ERR(c, sc_fork(c, "src", "nodes", "dst"), SC_ERR_BUSY);
	ck_assert_int_eq(sc_ping(c), 0);
	ck_assert_int_eq(sc_errretry_ms(c), -1);
	ck_assert_int_eq(sc_errretry_ms(NULL), -1);

	t.base = event_base_new();
	ac = conn_on(t.base, &d);
	ck_assert_int_eq(sc_async_fork(ac, "src", "nodes", "dst", rt_reply,
	    &t), 0);
	rt_wait(&t);
	ck_assert_int_eq(t.code, SC_ERR_BUSY);
	ck_assert_int_eq(t.retry_ms, SP_RETRY_LONG_MS);
	t.calls = 0;
	ck_assert_int_eq(sc_async_get(ac, "src", "nodes", NULL, "no", 2,
	    rt_reply, &t), 0);
	rt_wait(&t);
	ck_assert_int_eq(t.code, SC_ERR_NOT_FOUND);
	ck_assert_int_eq(t.retry_ms, -1);
	t.calls = 0;
	ck_assert_int_eq(sc_async_ping(ac, rt_reply, &t), 0);
	rt_wait(&t);
	ck_assert_int_eq(t.code, SC_OK);
	ck_assert_int_eq(t.retry_ms, -1);
	ck_assert_int_eq(sc_reply_retry_ms(NULL), -1);
	sc_async_free(ac);
	event_base_free(t.base);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------ a scan, page by page */

struct sw {
	struct event_base	*base;
	sc_scan_opts		*o;
	int			 next;		/* the key expected next */
	int			 step;		/* +1, or -1 reversed */
	int			 pages;
	bool			 done;
};

/* A page of "w/NNN" keys: checks them, then asks for the next page from
 * inside the callback, with the cursor that lives in this reply. */
static void
sw_page(sc_async *ac, sc_reply *r, void *arg)
{
	struct sw	*w = arg;
	const void	*k, *v, *cur;
	size_t		 kn, vn, curn;
	char		 want[16];

	expect_code(r, SC_OK, "a scan page");
	w->pages++;
	while (sc_reply_next_entry(r, &k, &kn, &v, &vn) == 1) {
		snprintf(want, sizeof(want), "w/%03d", w->next);
		ck_assert(kn == strlen(want) && memcmp(k, want, kn) == 0);
		ck_assert(vn == 1 && memcmp(v, "v", 1) == 0);
		w->next += w->step;
	}
	if (sc_reply_cursor(r, &cur, &curn) == 0) {
		w->done = true;
		event_base_loopbreak(w->base);
		return;
	}
	ck_assert_int_eq(sc_async_scan(ac, "sw", "refs", NULL, w->o, cur,
	    curn, sw_page, w), 0);
}

/*
 * A whole db walked through the libevent adapter, one request and one
 * callback per page, each page asked for by the last one's callback:
 * every key once, in order (reversed too), within the prefix, in as
 * many pages as the limit makes.  Then the README's example, which does
 * the same over scan_page-sized pages.
 */
START_TEST(a_scan_walks_page_by_page)
{
	struct hs_daemon	 d;
	struct sw		 w;
	sc_conn			*c;
	sc_batch		*b;
	sc_async		*ac;
	char			 k[16];
	int			 i, reverse;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	c = it_conn(&d);
	b = sc_batch_begin(c, "sw", "refs", NULL);
	for (i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "w/%03d", i);
		ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), "v", 1),
		    0);
	}
	ck_assert_int_eq(sc_batch_put(b, NULL, "x", 1, "other", 5), 0);
	ck_assert_int_eq(sc_batch_commit(b), 0);
	for (reverse = 0; reverse < 2; reverse++) {
		memset(&w, 0, sizeof(w));
		w.base = event_base_new();
		w.o = sc_scan_opts_new();
		ck_assert_int_eq(sc_scan_opts_set_prefix(w.o, "w/", 2), 0);
		ck_assert_int_eq(sc_scan_opts_set_limit(w.o, 7), 0);
		ck_assert_int_eq(sc_scan_opts_set_reverse(w.o, reverse), 0);
		w.next = reverse ? 99 : 0;
		w.step = reverse ? -1 : 1;
		ac = conn_on(w.base, &d);
		ck_assert_int_eq(sc_async_scan(ac, "sw", "refs", NULL, w.o,
		    NULL, 0, sw_page, &w), 0);
		while (!w.done)
			ck_assert_int_ne(event_base_loop(w.base, EVLOOP_ONCE),
			    -1);
		ck_assert_int_eq(w.next, reverse ? -1 : 100);
		ck_assert_int_eq(w.pages, 15);		/* 14 * 7 + 2 */
		sc_async_free(ac);
		sc_scan_opts_free(w.o);
		event_base_free(w.base);
	}

	/* The README's walk: 2,500 keys in pages of scan_page (1,000). */
	for (i = 0; i < 2500; i += 500) {
		int	 j;

		b = sc_batch_begin(c, "ox/mnist", "refs", NULL);
		for (j = i; j < i + 500; j++) {
			snprintf(k, sizeof(k), "k%05d", j);
			sc_batch_put(b, NULL, k, strlen(k), "v", 1);
		}
		ck_assert_int_eq(sc_batch_commit(b), 0);
	}
	ck_assert_msg(it_run("%s/tests/example-scan %s >%s/out 2>&1 && "
	    "tail -n 1 %s/out | grep -qx '2500 keys in 3 pages' && "
	    "head -n 2500 %s/out | sort -c && "
	    "test \"$(head -n 2500 %s/out | sort -u | wc -l)\" = 2500",
	    hs_build(), d.sock, d.dir, d.dir, d.dir, d.dir) == 0,
	    "example-scan failed");
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ------------------------------------------------ requests over max_frame */

#define MF_NKEYS	200
#define MF_KEYLEN	500	/* 200 keys of 500 bytes: over 64 KiB */

#define MF_NREQ		7

struct mf {
	struct event_base	*base;
	int			 code[MF_NREQ];
	int			 calls[MF_NREQ];
	int			 done;
	int			 want;
};

/* The indices a missing's callback saw, and its outcome. */
struct mf_miss {
	struct mf	*m;
	int		 code;
	size_t		 errindex;
	size_t		 idx[MF_NKEYS];
	size_t		 n;
	int		 calls;
};

static void
mf_miss_reply(sc_async *ac, sc_reply *r, void *arg)
{
	struct mf_miss	*x = arg;
	size_t		 i;

	(void)ac;
	x->calls++;
	x->code = sc_reply_code(r);
	x->errindex = sc_reply_errindex(r);
	while (x->n < MF_NKEYS && sc_reply_next_missing(r, &i) == 1)
		x->idx[x->n++] = i;
	if (++x->m->done == x->m->want)
		event_base_loopbreak(x->m->base);
}

/*
 * A missing over max_frame, once it is known, is split: one callback
 * with every absent key's index over all keys, in order; a bad key's
 * index counts over all keys too.
 */
static void
mf_missing_split(struct mf *m, sc_async *ac, sc_bytes *keys)
{
	struct mf_miss	 x, y;
	sc_bytes	 keep = keys[150];
	size_t		 i, q;

	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	x.m = y.m = m;
	m->done = 0;
	m->want = 2;
	q = sc_async_inflight(ac);
	ck_assert_int_eq(sc_async_missing(ac, NULL, "refs", NULL, keys,
	    MF_NKEYS, mf_miss_reply, &x), 0);
	ck_assert_uint_gt(sc_async_inflight(ac), q + 1);	/* parts */
	keys[150].n = 0;
	ck_assert_int_eq(sc_async_missing(ac, NULL, "refs", NULL, keys,
	    MF_NKEYS, mf_miss_reply, &y), 0);
	keys[150] = keep;
	while (m->done < m->want)
		ck_assert_int_ne(event_base_loop(m->base, EVLOOP_ONCE), -1);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_int_eq(x.code, SC_OK);
	ck_assert_uint_eq(x.n, MF_NKEYS - 1);	/* all but the one put */
	for (i = 0; i < x.n; i++)
		ck_assert_uint_eq(x.idx[i], i < 1 ? i : i + 1);
	ck_assert_int_eq(y.calls, 1);
	ck_assert_int_eq(y.code, SC_ERR_BAD_KEY);
	ck_assert_uint_eq(y.errindex, 150);
	ck_assert_uint_eq(y.n, 0);
	ck_assert_uint_eq(sc_async_inflight(ac), q);
}

/* A split missing cut short by the connection's end: one callback. */
static void
mf_missing_closed(struct mf *m, sc_async *ac, sc_bytes *keys)
{
	struct mf_miss	 z;

	memset(&z, 0, sizeof(z));
	z.m = m;
	m->done = 0;
	m->want = 1;
	ck_assert_int_eq(sc_async_missing(ac, NULL, "refs", NULL, keys,
	    MF_NKEYS, mf_miss_reply, &z), 0);
	sc_async_free(ac);
	ck_assert_int_eq(z.calls, 1);
	ck_assert_int_eq(z.code, SC_ERR_CLOSED);
}

/* A request's callback argument: its slot in m. */
struct mf_slot {
	struct mf	*m;
	int		 i;
};

static void
mf_slot_reply(sc_async *ac, sc_reply *r, void *arg)
{
	struct mf_slot	*s = arg;

	(void)ac;
	s->m->code[s->i] = sc_reply_code(r);
	s->m->calls[s->i]++;
	if (++s->m->done == s->m->want)
		event_base_loopbreak(s->m->base);
}

/*
 * An mget or missing whose request is over storesd's max_frame is never
 * sent, so storesd does not close the connection on it: made before the
 * hello's reply told max_frame, its callback gets TOO_LARGE (the
 * requests around it are served, a snapshot with the descriptor it
 * passes too); once max_frame is known, an mget is refused at once
 * (-1, TOO_LARGE), as sc_mget() refuses it, and a missing is split, as
 * sc_missing() splits it.
 */
START_TEST(over_max_frame_refused_unsent)
{
	struct hs_daemon	 d;
	struct mf		 m = { 0 };
	struct mf_slot		 s[MF_NREQ];
	sc_bytes		*keys = calloc(MF_NKEYS, sizeof(*keys));
	char			*kb = malloc(MF_NKEYS * MF_KEYLEN);
	sc_conn			*c;
	sc_async		*ac;
	sc_bytes		*vals;
	size_t			*miss, nmiss;
	char			 path[512];
	int			 i, fd;

	ck_assert_int_eq(hs_up(&d, "[daemon]\nmax_frame = 64KiB\n"
	    "[store refs]\nmap_size = 16MiB\n"), 0);
	for (i = 0; i < MF_NKEYS; i++) {
		memset(kb + i * MF_KEYLEN, 'a' + i % 26, MF_KEYLEN);
		snprintf(kb + i * MF_KEYLEN, 8, "%06d", i);
		keys[i] = (sc_bytes){ kb + i * MF_KEYLEN, MF_KEYLEN };
	}
	for (i = 0; i < MF_NREQ; i++)
		s[i] = (struct mf_slot){ &m, i };
	m.base = event_base_new();
	m.want = MF_NREQ;
	snprintf(path, sizeof(path), "%s/snap", d.dir);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    -1);
	/* All made before the hello's reply: max_frame is not known yet. */
	ac = conn_on(m.base, &d);
	ck_assert_int_eq(sc_async_put(ac, NULL, "refs", NULL, keys[1].p,
	    keys[1].n, "one", 3, mf_slot_reply, &s[0]), 0);
	ck_assert_int_eq(sc_async_mget(ac, NULL, "refs", NULL, keys,
	    MF_NKEYS, mf_slot_reply, &s[1]), 0);
	ck_assert_int_eq(sc_async_ping(ac, mf_slot_reply, &s[2]), 0);
	ck_assert_int_eq(sc_async_missing(ac, NULL, "refs", NULL, keys,
	    MF_NKEYS, mf_slot_reply, &s[3]), 0);
	ck_assert_int_eq(sc_async_mget(ac, NULL, "refs", NULL, keys, 3,
	    mf_slot_reply, &s[4]), 0);
	ck_assert_int_eq(sc_async_ping(ac, mf_slot_reply, &s[5]), 0);
	ck_assert_int_eq(sc_async_snapshot(ac, NULL, "refs", fd, 0,
	    mf_slot_reply, &s[6]), 0);
	close(fd);
	while (m.done < m.want)
		ck_assert_int_ne(event_base_loop(m.base, EVLOOP_ONCE), -1);
	ck_assert_int_eq(it_run("test -s %s", path), 0);
	for (i = 0; i < MF_NREQ; i++) {
		ck_assert_int_eq(m.calls[i], 1);
		ck_assert_msg(m.code[i] == (i == 1 || i == 3 ?
		    SC_ERR_TOO_LARGE : SC_OK), "request %d: %s", i,
		    sc_errname(m.code[i]));
	}
	/* Now max_frame is known: the mget is refused at once, nothing
	 * queued, and the missing is split as sc_missing() splits it. */
	ck_assert_int_eq(sc_async_mget(ac, NULL, "refs", NULL, keys,
	    MF_NKEYS, mf_slot_reply, &s[1]), -1);
	ck_assert_int_eq(sc_async_errcode(ac), SC_ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(sc_async_errmsg(ac), "max_frame"));
	ck_assert_uint_eq(sc_async_inflight(ac), 0);
	mf_missing_split(&m, ac, keys);
	mf_missing_closed(&m, ac, keys);
	event_base_free(m.base);

	/* The synchronous API, the same case: mget refused, missing split. */
	c = it_conn(&d);
	EXPECT_ERR(c, sc_mget(c, NULL, "refs", NULL, keys, MF_NKEYS, &vals),
	    SC_ERR_TOO_LARGE);
	ck_assert_int_eq(sc_missing(c, NULL, "refs", NULL, keys, MF_NKEYS,
	    &miss, &nmiss), 0);
	ck_assert_uint_eq(nmiss, MF_NKEYS - 1);	/* all but the one put */
	sc_free(miss);
	sc_close(c);
	free(keys);
	free(kb);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

/* ----------------------------------------------------- versions, docs */

START_TEST(version_numbers_agree)
{
	ck_assert_int_eq(sc_version(), SC_VERSION_NUMBER);
	ck_assert_int_eq(SC_VERSION_NUMBER, SC_VERSION_MAJOR * 10000 +
	    SC_VERSION_MINOR * 100 + SC_VERSION_PATCH);
	ck_assert_str_eq(sc_errname(SC_ERR_LIMIT), "LIMIT");
	ck_assert_str_eq(sc_errname(SC_ERR_CLOSED), "CLOSED");
}
END_TEST

/* The async examples of README.md and libstoreclient(3), as the Makefile
 * cut them out and built them, run against a real storesd. */
START_TEST(the_documented_examples_run)
{
	static const char *const ex[] = { "example-readme", "example-man" };
	struct hs_daemon	 d;
	size_t			 i;

	ck_assert_int_eq(hs_up(&d, CONF), 0);
	for (i = 0; i < sizeof(ex) / sizeof(ex[0]); i++)
		ck_assert_msg(it_run("%s/tests/%s %s >%s/out 2>&1 && "
		    "grep -qx 3f2a9c %s/out", hs_build(), ex[i], d.sock, d.dir,
		    d.dir) == 0, "%s failed", ex[i]);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

static Suite *
async_suite(void)
{
	Suite	*s = suite_create("async");
	TCase	*tc = tcase_create("async");

	tcase_set_timeout(tc, 60 * hs_timeout());
	tcase_add_test(tc, version_numbers_agree);
	tcase_add_test(tc, a_thousand_in_flight_every_kind);
	tcase_add_test(tc, stopped_and_restarted_under_load);
	tcase_add_test(tc, killed_and_restarted_under_load);
	tcase_add_test(tc, freed_inside_a_callback);
	tcase_add_test(tc, batches_stream_without_blocking);
	tcase_add_test(tc, a_poll_loop_drives_the_hooks);
	tcase_add_test(tc, bounds_refuse_at_once);
	tcase_add_test(tc, flush_sends_pipelined_requests_now);
	tcase_add_test(tc, a_watch_sees_every_event_once_in_order);
	tcase_add_test(tc, a_watch_ends_once_unwatched_compacted_or_refused);
	tcase_add_test(tc, a_watch_ends_once_when_its_connection_does);
	tcase_add_test(tc, busy_carries_a_retry_hint);
	tcase_add_test(tc, over_max_frame_refused_unsent);
	tcase_add_test(tc, a_scan_walks_page_by_page);
	tcase_add_test(tc, the_documented_examples_run);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(async_suite());
}
