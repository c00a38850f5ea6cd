#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "registry.h"
#include "reload.h"

static struct {
	struct daemon		*d;
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

static void
reload_once(struct daemon *d)
{
	struct config	*oc = d->cfg, *nc;
	char		 errbuf[512], changed[128], what[900], status[600];
	unsigned	 retune;

	notify_reloading();
	log_notice("%s: SIGHUP: reading %s", __func__,
	    rl.file ? rl.file : "the built-in configuration");
	nc = cfg_load(rl.file, rl.socket, rl.data_dir, errbuf, sizeof(errbuf));
	if (nc == NULL || keep_restart_keys(nc, oc, changed,
	    sizeof(changed)) == -1) {
		if (nc != NULL)
			snprintf(errbuf, sizeof(errbuf), "out of memory");
		cfg_free(nc);
		log_errx("%s: %s; nothing changed: storesd keeps the "
		    "configuration it runs on", __func__, errbuf);
		snprintf(status, sizeof(status), "READY=1\nSTATUS=reload "
		    "refused, running on the previous configuration: %s",
		    errbuf);
		notify_send(status);
		return;
	}
	if (changed[0])
		log_warnx("%s: %s changed: that takes a restart; until then "
		    "the old value stays", __func__, changed);
	describe(nc, oc, what, sizeof(what));
	cfg_stamp(nc, oc->gen + 1);
	nc->retired = oc;
	atomic_store(&d->cfg, nc);
	reg_set_limits(d->reg, nc->max_envs, nc->idle_close_ms);
	retune = reg_reconfigure(d->reg, nc);
	atomic_fetch_add(&d->reloads, 1);
	log_notice("%s: configuration %llu in use: %u stores (%s); %u open "
	    "envs follow their store's new settings", __func__,
	    (unsigned long long)nc->gen, nc->nstores, what, retune);
	notify_send("READY=1\nSTATUS=accepting requests");
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
