#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "pool.h"
#include "registry.h"
#include "reload.h"

/* A replaced configuration, kept until nothing can point into it. */
struct retired {
	struct retired		*next;
	struct config		*cfg;
	bool			 waiting;	/* for each loop to end a turn */
	uint64_t		 holds;		/* cfg->holds as the wait began */
	uint64_t		*turns;		/* each loop's turns then */
};

static struct {
	struct daemon		*d;
	pthread_mutex_t		 reap_mtx;	/* guards retired */
	struct retired		*retired;
	const char		*file;
	const char		*socket;
	const char		*data_dir;
	struct pool_task	 task;
	atomic_bool		 busy;		/* the task is queued or runs */
	atomic_bool		 again;		/* asked for since it began */
} rl;

/* Appends name to a ", "-separated list in buf. */
static void
add_name(char *buf, size_t n, const char *name)
{
	size_t	 len = strlen(buf);

	if (len < n)
		snprintf(buf + len, n - len, "%s%s", len ? ", " : "", name);
}

/* A key of a reload that takes a restart: listed in the message. */
struct changed_list {
	char	*buf;
	size_t	 n;
};

static void
note_changed(void *arg, const char *key)
{
	struct changed_list	*l = arg;

	add_name(l->buf, l->n, key);
}

/*
 * The listening socket, the data directory and the threads are set up
 * once, at start: new values of them wait for a restart.  Puts the old
 * ones back into nc and lists the keys that changed in changed.
 * Returns 0, or -1 when out of memory.
 */
static int
keep_restart_keys(struct config *nc, const struct config *oc, char *changed,
    size_t n)
{
	struct changed_list	 l = { changed, n };

	changed[0] = '\0';
	return cfg_keep_restart_keys(nc, oc, note_changed, &l);
}

static bool
acl_same(const struct cfg_acl *a, const struct cfg_acl *b)
{
	return a->set == b->set && a->nuids == b->nuids &&
	    a->ngids == b->ngids &&
	    (a->nuids == 0 || memcmp(a->uids, b->uids,
	    a->nuids * sizeof(*a->uids)) == 0) &&
	    (a->ngids == 0 || memcmp(a->gids, b->gids,
	    a->ngids * sizeof(*a->gids)) == 0);
}

/* Lists the stores added, removed and changed, for the log. */
static void
describe(const struct config *nc, const struct config *oc, char *buf,
    size_t n)
{
	char			 added[256] = "", removed[256] = "";
	char			 changed[256] = "";
	const struct cfg_store	*a, *b;
	unsigned		 i;

	for (i = 0; i < nc->nstores; i++) {
		a = &nc->stores[i];
		b = cfg_store_find(oc, (struct sp_bytes){ a->name,
		    strlen(a->name) });
		if (b == NULL)
			add_name(added, sizeof(added), a->name);
		else if (!cfg_store_same_env(a, b) ||
		    a->map_size != b->map_size ||
		    !acl_same(&a->readers, &b->readers) ||
		    !acl_same(&a->writers, &b->writers))
			add_name(changed, sizeof(changed), a->name);
	}
	for (i = 0; i < oc->nstores; i++)
		if (cfg_store_find(nc, (struct sp_bytes){ oc->stores[i].name,
		    strlen(oc->stores[i].name) }) == NULL)
			add_name(removed, sizeof(removed), oc->stores[i].name);
	snprintf(buf, n, "added: %s; removed: %s; changed: %s",
	    added[0] ? added : "none", removed[0] ? removed : "none",
	    changed[0] ? changed : "none");
}

/* Keeps oc, about to be replaced, until reload_reap() may free it. */
static int
retire(struct daemon *d, struct config *oc)
{
	struct retired	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->turns = calloc(d->nloops + 1, sizeof(*r->turns))) == NULL) {
		free(r);
		return -1;
	}
	r->cfg = oc;
	pthread_mutex_lock(&rl.reap_mtx);
	r->next = rl.retired;
	rl.retired = r;
	pthread_mutex_unlock(&rl.reap_mtx);
	return 0;
}

/*
 * Whether r's config may be freed now.  holds is read before refs: a
 * hold taken after that read changes holds, and one dropped before it
 * was taken from a pointer read in a turn that ends before the wait
 * does.  Sets *wake when a loop must end a turn first.
 */
static bool
can_free(struct daemon *d, struct retired *r, bool *wake)
{
	uint64_t	 holds = atomic_load(&r->cfg->holds);
	unsigned	 i;

	if (atomic_load(&r->cfg->refs) != 0) {
		r->waiting = false;
		return false;
	}
	if (!r->waiting || holds != r->holds) {
		r->waiting = true;
		r->holds = holds;
		for (i = 0; i < d->nloops; i++)
			r->turns[i] = atomic_load(&d->loops[i]->turns);
		*wake = true;
		return false;
	}
	for (i = 0; i < d->nloops; i++)
		if (atomic_load(&d->loops[i]->turns) == r->turns[i]) {
			*wake = true;
			return false;
		}
	return true;
}

static void
retired_free(struct retired *r)
{
	cfg_free(r->cfg);
	free(r->turns);
	free(r);
}

void
reload_reap(struct daemon *d)
{
	struct retired	*r, **pp;
	bool		 wake = false;
	unsigned	 i, n = 0, kept = 0;

	pthread_mutex_lock(&rl.reap_mtx);
	for (pp = &rl.retired; (r = *pp) != NULL;) {
		if (!can_free(d, r, &wake)) {
			pp = &r->next;
			kept++;
			continue;
		}
		*pp = r->next;
		retired_free(r);
		n++;
	}
	pthread_mutex_unlock(&rl.reap_mtx);
	if (n > 0)
		log_debug("%s: freed %u replaced configurations; %u still in "
		    "use", __func__, n, kept);
	if (wake)
		for (i = 0; i < d->nloops; i++)
			loop_wake(d->loops[i]);
}

void
reload_fini(void)
{
	struct retired	*r;

	while ((r = rl.retired) != NULL) {
		rl.retired = r->next;
		retired_free(r);
	}
}

static void
reload_once(struct daemon *d)
{
	struct config	*oc = d->cfg, *nc;
	char		 errbuf[CFG_ERRBUF], changed[128], what[900], status[600];
	char		*line, *next;
	unsigned	 retune, nerrs = 0;

	notify_reloading();
	log_notice("%s: SIGHUP: reading %s", __func__,
	    rl.file ? rl.file : "the built-in configuration");
	nc = cfg_load(rl.file, rl.socket, rl.data_dir, errbuf, sizeof(errbuf));
	if (nc == NULL || keep_restart_keys(nc, oc, changed,
	    sizeof(changed)) == -1) {
		if (nc != NULL)
			snprintf(errbuf, sizeof(errbuf), "out of memory");
		cfg_free(nc);
		/* A log line per error (the journal has no multi-line
		 * entry), the first of them in the status. */
		if (strchr(errbuf, '\n') == NULL)
			log_errx("%s: %s; nothing changed: storesd keeps the "
			    "configuration it runs on", __func__, errbuf);
		else {
			for (line = strtok_r(errbuf, "\n", &next);
			    line != NULL; line = strtok_r(NULL, "\n", &next),
			    nerrs++)
				log_errx("%s: %s", __func__, line);
			log_errx("%s: %u errors; nothing changed: storesd "
			    "keeps the configuration it runs on", __func__,
			    nerrs);
		}
		snprintf(status, sizeof(status), "READY=1\nSTATUS=reload "
		    "refused, running on the previous configuration: %.400s%s",
		    errbuf, nerrs > 1 ? " (and more: see the log)" : "");
		notify_state(status);
		return;
	}
	if (changed[0])
		log_warnx("%s: %s changed: that takes a restart; until then "
		    "the old value stays", __func__, changed);
	describe(nc, oc, what, sizeof(what));
	cfg_stamp(nc, oc->gen + 1);
	if (retire(d, oc) == -1) {
		cfg_free(nc);
		log_errx("%s: out of memory; nothing changed: storesd keeps "
		    "the configuration it runs on", __func__);
		notify_state("READY=1\nSTATUS=reload refused, running on the "
		    "previous configuration: out of memory");
		return;
	}
	atomic_store(&d->cfg, nc);
	reg_set_limits(d->reg, nc->max_envs, nc->idle_close_ms);
	reg_set_budget(d->reg, nc->map_budget);
	retune = reg_reconfigure(d->reg, nc);
	reload_reap(d);
	atomic_fetch_add(&d->reloads, 1);
	log_notice("%s: configuration %llu in use: %u stores (%s); %u open "
	    "envs follow their store's new settings", __func__,
	    (unsigned long long)nc->gen, nc->nstores, what, retune);
	notify_state("READY=1\nSTATUS=accepting requests");
}

static void
run(struct pool_task *t)
{
	(void)t;
	for (;;) {
		while (atomic_exchange(&rl.again, false))
			reload_once(rl.d);
		atomic_store(&rl.busy, false);
		/* Asked again between the last look and now: go on, unless
		 * reload_request() already queued the task anew. */
		if (!atomic_load(&rl.again) || atomic_exchange(&rl.busy, true))
			return;
	}
}

void
reload_init(struct daemon *d, const char *file, const char *socket,
    const char *data_dir)
{
	rl.d = d;
	pthread_mutex_init(&rl.reap_mtx, NULL);
	rl.file = file;
	rl.socket = socket;
	rl.data_dir = data_dir;
	rl.task.fn = run;
}

void
reload_request(struct daemon *d)
{
	atomic_store(&rl.again, true);
	if (atomic_exchange(&rl.busy, true))
		return;
	pool_submit(d->pool, &rl.task);
}
