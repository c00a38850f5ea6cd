/*
 * Workload 11: 100 watchers on one prefix while one client writes
 * (sync = full, with history): events delivered per second, all watchers
 * together, and the delay of each event from the moment its put was
 * sent (which includes the put's commit and sync) to its arrival.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "storeclient.h"

#define NWATCHERS	100
#define MAXREVS		(1u << 20)

struct wstate {
	const char		*sock;
	uint64_t		 base;		/* the revision before the run */
	_Atomic uint64_t	*sent;		/* ns, by revision - base */
	_Atomic uint64_t	 last;		/* the last revision written */
	atomic_bool		 done;		/* the writer stopped */
	pthread_barrier_t	 go;
};

struct watcher {
	pthread_t		 t;
	struct wstate		*s;
	struct hist		 h;
	uint64_t		 events;
	uint64_t		 errors;
};

static void *
watcher_main(void *arg)
{
	struct watcher	*w = arg;
	struct wstate	*s = w->s;
	sc_conn		*c = sc_connect(s->sock);
	sc_watch_opts	*o = sc_watch_opts_new();
	sc_watch	*wt = NULL;
	sc_event	 ev;
	uint64_t	 seen = 0, t;
	int		 rc;

	if (o != NULL && sc_watch_opts_set_prefix(o, "key", 3) == 0)
		wt = sc_watch_begin(c, NULL, "kvhist", NULL, o, NULL);
	sc_watch_opts_free(o);
	if (wt == NULL)
		w->errors++;
	pthread_barrier_wait(&s->go);
	/* Until every revision written has come. */
	while (wt != NULL && !(atomic_load(&s->done) &&
	    seen >= atomic_load(&s->last))) {
		if ((rc = sc_watch_next(wt, &ev, 100)) == -1) {
			w->errors++;
			break;
		}
		if (rc == 0)
			continue;
		seen = ev.rev;
		if (ev.op == SC_EV_PROGRESS || ev.rev <= s->base ||
		    ev.rev - s->base >= MAXREVS)
			continue;
		t = atomic_load(&s->sent[ev.rev - s->base]);
		if (t > 0)
			hist_add(&w->h, now_ns() - t);
		w->events++;
	}
	sc_watch_end(wt);
	sc_close(c);
	return NULL;
}

int
measure_watch(const struct backend *be, struct run *r, struct measure *m)
{
	static struct watcher	 w[NWATCHERS];
	static char		 val[VALUE_SIZE];
	struct wstate		 s;
	sc_conn			*c;
	char			 key[16];
	uint64_t		 t0, t1, rev, events = 0, i;
	int			 k;

	memset(m, 0, sizeof(*m));
	memset(&s, 0, sizeof(s));
	memset(val, 'v', sizeof(val));
	s.sock = be->path;
	if ((s.sent = calloc(MAXREVS, sizeof(*s.sent))) == NULL)
		return -1;
	c = sc_connect(be->path);
	if (sc_errcode(c) != SC_OK || sc_rev(c, NULL, "kvhist", &s.base) == -1) {
		fprintf(stderr, "bench: watch: %s\n", sc_errmsg(c));
		sc_close(c);
		free(s.sent);
		return -1;
	}
	atomic_store(&s.last, s.base);
	pthread_barrier_init(&s.go, NULL, NWATCHERS + 1);
	for (k = 0; k < NWATCHERS; k++) {
		memset(&w[k], 0, sizeof(w[k]));
		w[k].s = &s;
		pthread_create(&w[k].t, NULL, watcher_main, &w[k]);
	}
	pthread_barrier_wait(&s.go);
	/* One writer, so each put's revision is the one after the last. */
	t0 = now_ns();
	for (i = 0; now_ns() - t0 < (uint64_t)(r->seconds * 1e9) &&
	    i < MAXREVS - 1; i++) {
		key_of(key, i % r->nkeys);
		rev = atomic_load(&s.last) + 1;
		atomic_store(&s.sent[rev - s.base], now_ns());
		if (sc_put(c, NULL, "kvhist", NULL, key, strlen(key), val,
		    sizeof(val)) == -1 || sc_last_rev(c) != rev) {
			fprintf(stderr, "bench: watch: put: %s\n",
			    sc_errmsg(c));
			m->errors++;
			break;
		}
		atomic_store(&s.last, rev);
	}
	atomic_store(&s.done, true);
	for (k = 0; k < NWATCHERS; k++) {
		pthread_join(w[k].t, NULL);
		hist_merge(&m->h, &w[k].h);
		events += w[k].events;
		m->errors += w[k].errors;
	}
	t1 = now_ns();
	m->n = events;
	m->ops = (double)events / ((double)(t1 - t0) / 1e9);
	pthread_barrier_destroy(&s.go);
	sc_close(c);
	free(s.sent);
	if (m->errors)
		fprintf(stderr, "bench: watch: %llu errors\n",
		    (unsigned long long)m->errors);
	return m->errors ? -1 : 0;
}
