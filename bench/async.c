/*
 * The asynchronous row: one connection keeping IN_FLIGHT gets in flight,
 * driven by a libevent loop, through libstoreclient's sc_async and its
 * libevent adapter on one side and hiredis's redisAsyncContext and its
 * libevent adapter on the other: the same loop, the same key sequence,
 * each reply's latency from its request's issue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "bench.h"
#include "storeclient.h"
#include "adapters/libevent.h"

#define IN_FLIGHT	256

struct ab;

struct slot {
	struct ab	*ab;
	uint64_t	 t0;
};

struct ab {
	struct event_base	*base;
	struct run		*r;
	sc_async		*sc;
	redisAsyncContext	*rc;
	uint64_t		 seed;
	uint64_t		 ops;		/* replies within the window */
	uint64_t		 errors;
	uint64_t		 t_end;
	bool			 stop;
	int			 inflight;
	struct hist		 h;
	struct slot		 slot[IN_FLIGHT];
};

static uint64_t
next_key(struct ab *ab)
{
	ab->seed ^= ab->seed << 13;
	ab->seed ^= ab->seed >> 7;
	ab->seed ^= ab->seed << 17;
	return ab->seed % ab->r->nkeys;
}

static void	issue(struct slot *s);

/* A reply came for s: count it, then ask again or drain. */
static void
done(struct slot *s, bool ok)
{
	struct ab	*ab = s->ab;

	if (!ab->stop) {
		hist_add(&ab->h, now_ns() - s->t0);
		ab->ops++;
		if (!ok)
			ab->errors++;
		issue(s);
		return;
	}
	if (--ab->inflight > 0)
		return;
	if (ab->sc != NULL)
		sc_async_free(ab->sc);		/* from its callback */
	else
		redisAsyncDisconnect(ab->rc);
}

static void
sc_got(sc_async *ac, sc_reply *r, void *arg)
{
	(void)ac;
	done(arg, sc_reply_code(r) == SC_OK);
}

static void
rd_got(redisAsyncContext *c, void *reply, void *arg)
{
	redisReply	*r = reply;

	(void)c;
	done(arg, r != NULL && r->type == REDIS_REPLY_STRING);
}

static void
issue(struct slot *s)
{
	struct ab	*ab = s->ab;
	char		 k[16];
	int		 rc;

	key_of(k, next_key(ab));
	s->t0 = now_ns();
	if (ab->sc != NULL)
		rc = sc_async_get(ab->sc, NULL, "kv", NULL, k, strlen(k),
		    sc_got, s);
	else
		rc = redisAsyncCommand(ab->rc, rd_got, s, "GET %b", k,
		    strlen(k)) == REDIS_OK ? 0 : -1;
	if (rc == -1) {
		/* Refused: never called back; the loop must still end. */
		ab->errors++;
		ab->stop = true;
		ab->inflight--;
	}
}

static void
window_over(evutil_socket_t fd, short what, void *arg)
{
	struct ab	*ab = arg;

	(void)fd;
	(void)what;
	ab->stop = true;
	ab->t_end = now_ns();
}

/* One measurement of backend be ("storesd" or "redis") at path. */
int
measure_async_get(const struct backend *be, struct run *r, struct measure *m)
{
	struct ab	*ab = calloc(1, sizeof(*ab));
	struct event	*tev;
	struct timeval	 tv;
	sc_options	*o;
	uint64_t	 t0;
	int		 i, rc = -1;

	memset(m, 0, sizeof(*m));
	if (ab == NULL || (ab->base = event_base_new()) == NULL)
		goto done;
	ab->r = r;
	ab->seed = 0x9e3779b97f4a7c15ULL;
	if (strcmp(be->name, "storesd") == 0) {
		if ((o = sc_options_new()) == NULL ||
		    sc_options_set_path(o, be->path) == -1 ||
		    (ab->sc = sc_async_connect(o)) == NULL) {
			sc_options_free(o);
			goto done;
		}
		sc_options_free(o);
		if (sc_async_errcode(ab->sc) != SC_OK ||
		    sc_libevent_attach(ab->sc, ab->base) == -1) {
			fprintf(stderr, "bench: async storesd: %s\n",
			    sc_async_errmsg(ab->sc));
			sc_async_free(ab->sc);
			goto done;
		}
	} else {
		ab->rc = redisAsyncConnectUnix(be->path);
		if (ab->rc == NULL || ab->rc->err ||
		    redisLibeventAttach(ab->rc, ab->base) != REDIS_OK) {
			fprintf(stderr, "bench: async redis: %s\n",
			    ab->rc ? ab->rc->errstr : "out of memory");
			goto done;
		}
	}
	tv.tv_sec = (time_t)r->seconds;
	tv.tv_usec = (suseconds_t)((r->seconds - (double)tv.tv_sec) * 1e6);
	tev = evtimer_new(ab->base, window_over, ab);
	evtimer_add(tev, &tv);
	t0 = now_ns();
	ab->inflight = IN_FLIGHT;
	for (i = 0; i < IN_FLIGHT; i++) {
		ab->slot[i].ab = ab;
		issue(&ab->slot[i]);
	}
	/* Ends once the connection is gone, after the window and a drain. */
	event_base_dispatch(ab->base);
	event_free(tev);
	if (ab->t_end == 0)
		ab->t_end = now_ns();
	m->n = ab->ops;
	m->ops = (double)m->n / ((double)(ab->t_end - t0) / 1e9);
	m->h = ab->h;
	m->errors = ab->errors;
	if (m->errors)
		fprintf(stderr, "bench: async %s: %llu errors\n", be->name,
		    (unsigned long long)m->errors);
	rc = 0;
done:
	if (ab != NULL && ab->base != NULL)
		event_base_free(ab->base);
	free(ab);
	return rc;
}
