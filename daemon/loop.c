#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "daemon.h"
#include "job.h"
#include "log.h"
#include "loop.h"

static void
ring(struct loop *l)
{
	uint64_t	 one = 1;

	/* A full counter still wakes the loop; nothing else can fail. */
	(void)!write(l->efd, &one, sizeof(one));
}

static void
on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct loop	*l = arg;
	struct conn	*c, *next;

	(void)fd;
	(void)what;
	log_warnx("%s: loop %u: replies still pending after stop_timeout "
	    "(%llu ms); closing connections", __func__, l->idx,
	    (unsigned long long)l->d->cfg->stop_timeout_ms);
	for (c = TAILQ_FIRST(&l->conns); c; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_abort(c);
	}
	l->exit = true;
	event_base_loopbreak(l->base);
}

static void
begin_stop(struct loop *l)
{
	struct conn	*c, *next;
	uint64_t	 ms = l->d->cfg->stop_timeout_ms;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (l->stopping)
		return;
	l->stopping = true;
	for (c = TAILQ_FIRST(&l->conns); c; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_drain(c);
	}
	l->stop_timer = evtimer_new(l->base, on_stop_timeout, l);
	if (l->stop_timer)
		evtimer_add(l->stop_timer, &tv);
	loop_check_stopped(l);
}

void
loop_check_stopped(struct loop *l)
{
	if (l->stopping && TAILQ_EMPTY(&l->conns)) {
		l->exit = true;
		event_base_loopbreak(l->base);
	}
}

/* Takes what the mailbox holds, then acts on it outside the lock. */
static void
on_bell(evutil_socket_t fd, short what, void *arg)
{
	struct loop	*l = arg;
	struct job	*done, *j;
	int		*fds;
	size_t		 i, nfds;
	uint64_t	 n, keys[LOOP_RETRY_KEYS];
	unsigned	 nkeys;
	bool		 stop, all;

	(void)what;
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&l->mtx);
	done = l->done_head;
	l->done_head = l->done_tail = NULL;
	fds = l->newfds;
	nfds = l->nnew;
	l->newfds = NULL;
	l->nnew = l->capnew = 0;
	stop = l->stop;
	nkeys = l->nretry;
	memcpy(keys, l->retry_keys, nkeys * sizeof(keys[0]));
	all = l->retry_all;
	l->nretry = 0;
	l->retry_all = false;
	pthread_mutex_unlock(&l->mtx);

	for (i = 0; i < nfds; i++)
		conn_new(l, fds[i]);
	free(fds);
	while ((j = done) != NULL) {
		done = j->next;
		conn_job_done(j->conn, j);
		job_free(j);
	}
	if (nkeys > 0 || all)
		conn_retry_stalled(l, keys, nkeys, all);
	if (stop)
		begin_stop(l);
}

int
loop_add_hook(struct loop *l, loop_hook_fn *fn, void *arg)
{
	if (l->nhooks == LOOP_MAX_HOOKS) {
		log_warnx("%s: loop %u: more than %d end-of-turn hooks",
		    __func__, l->idx, LOOP_MAX_HOOKS);
		return -1;
	}
	l->hooks[l->nhooks].fn = fn;
	l->hooks[l->nhooks].arg = arg;
	l->nhooks++;
	return 0;
}

int
loop_init(struct loop *l, struct daemon *d, unsigned idx)
{
	struct event_config	*ec;

	memset(l, 0, sizeof(*l));
	l->d = d;
	l->idx = idx;
	l->efd = -1;
	TAILQ_INIT(&l->conns);
	TAILQ_INIT(&l->stalled);
	TAILQ_INIT(&l->flushing);
	pthread_mutex_init(&l->mtx, NULL);
	/* Each base is touched by its own thread only: no locking inside. */
	if ((ec = event_config_new()) == NULL)
		goto fail;
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	l->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (l->base == NULL)
		goto fail;
	if ((l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("%s: eventfd", __func__);
		goto fail;
	}
	l->bell = event_new(l->base, l->efd, EV_READ | EV_PERSIST, on_bell, l);
	if (l->bell == NULL || event_add(l->bell, NULL) == -1)
		goto fail;
	return 0;
fail:
	log_warnx("%s: cannot set up I/O loop %u", __func__, idx);
	return -1;
}

static void *
loop_main(void *arg)
{
	loop_run(arg);
	return NULL;
}

int
loop_start(struct loop *l)
{
	int	 rc;

	if ((rc = pthread_create(&l->thread, NULL, loop_main, l)) != 0) {
		errno = rc;
		log_warn("%s: pthread_create", __func__);
		return -1;
	}
	l->threaded = true;
	return 0;
}

/*
 * One turn: wait for events, run every callback they call for, then end
 * the turn: run the end-of-turn hooks, in the order they were added
 * (the handler's: close the turn's read transactions, then commit its
 * deferred writes; the watches' events), then send the output the hooks
 * added.  Nothing started in a turn outlives it.
 */
void
loop_run(struct loop *l)
{
	unsigned	 i;

	while (!l->exit) {
		if (event_base_loop(l->base, EVLOOP_ONCE) == -1)
			break;
		for (i = 0; i < l->nhooks; i++)
			l->hooks[i].fn(l->hooks[i].arg);
		/* What the hooks added (watch events) goes out now, once
		 * no hook is walking a list its connection is on. */
		conn_flush_turn(l);
		atomic_fetch_add(&l->turns, 1);
	}
}

void
loop_wake(struct loop *l)
{
	ring(l);
}

void
loop_join(struct loop *l)
{
	if (l->threaded)
		pthread_join(l->thread, NULL);
	l->threaded = false;
}

void
loop_fini(struct loop *l)
{
	struct job	*j;
	size_t		 i;
	/* Jobs that came back after the loop left: their connections
	 * are closed, so this only frees them. */
	while ((j = l->done_head) != NULL) {
		l->done_head = j->next;
		conn_job_done(j->conn, j);
		job_free(j);
	}
	for (i = 0; i < l->nnew; i++)
		close(l->newfds[i]);
	free(l->newfds);
	if (l->stop_timer)
		event_free(l->stop_timer);
	if (l->bell)
		event_free(l->bell);
	if (l->base)
		event_base_free(l->base);
	if (l->efd != -1)
		close(l->efd);
	pthread_mutex_destroy(&l->mtx);
}

void
loop_post_conn(struct loop *l, int fd)
{
	int	*v;

	pthread_mutex_lock(&l->mtx);
	if (l->nnew == l->capnew) {
		size_t cap = l->capnew ? l->capnew * 2 : 16;

		if ((v = realloc(l->newfds, cap * sizeof(*v))) == NULL) {
			pthread_mutex_unlock(&l->mtx);
			log_warnx("%s: out of memory; connection dropped",
			    __func__);
			close(fd);
			return;
		}
		l->newfds = v;
		l->capnew = cap;
	}
	l->newfds[l->nnew++] = fd;
	pthread_mutex_unlock(&l->mtx);
	ring(l);
}

void
loop_post_done(struct loop *l, struct job *j)
{
	bool	 was_empty;

	j->next = NULL;
	pthread_mutex_lock(&l->mtx);
	was_empty = l->done_head == NULL;
	if (l->done_tail)
		l->done_tail->next = j;
	else
		l->done_head = j;
	l->done_tail = j;
	pthread_mutex_unlock(&l->mtx);
	/* One bell for a burst: the loop takes the whole queue per ring. */
	if (was_empty)
		ring(l);
}

void
loop_post_retry(struct loop *l, uint64_t key)
{
	unsigned	 i;
	bool		 was;

	pthread_mutex_lock(&l->mtx);
	was = l->nretry > 0 || l->retry_all;
	for (i = 0; i < l->nretry && l->retry_keys[i] != key; i++)
		;
	if (i < l->nretry || l->retry_all)
		;	/* that key is coming already */
	else if (l->nretry < LOOP_RETRY_KEYS)
		l->retry_keys[l->nretry++] = key;
	else
		l->retry_all = true;	/* a bounded mailbox */
	pthread_mutex_unlock(&l->mtx);
	/* One bell for a burst of opens: the loop takes all their keys. */
	if (!was)
		ring(l);
}

void
loop_post_stop(struct loop *l)
{
	pthread_mutex_lock(&l->mtx);
	l->stop = true;
	pthread_mutex_unlock(&l->mtx);
	ring(l);
}
