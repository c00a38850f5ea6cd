/*
 * libstoreclient's adapter for libevent 2: an sc_async driven by an
 * event_base.  Header-only, like hiredis's adapters/libevent.h, so the
 * library itself never links libevent:
 *
 *	sc_async *ac = sc_async_connect(opts);
 *	if (ac == NULL || sc_async_errcode(ac) != SC_OK ||
 *	    sc_libevent_attach(ac, base) == -1)
 *		...
 *
 * Owns: three events (read, write, timer) per connection, freed by the
 * library's cleanup hook when the connection goes away.
 */
#ifndef STORECLIENT_ADAPTERS_LIBEVENT_H
#define STORECLIENT_ADAPTERS_LIBEVENT_H

#include <stdlib.h>

#include <event2/event.h>

#include <storeclient.h>

struct sc_libevent {
	sc_async	*ac;
	struct event	*rev;
	struct event	*wev;
	struct event	*tev;
};

static void
sc_libevent_on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sc_async_handle_read(((struct sc_libevent *)arg)->ac);
}

static void
sc_libevent_on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sc_async_handle_write(((struct sc_libevent *)arg)->ac);
}

static void
sc_libevent_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sc_async_handle_timeout(((struct sc_libevent *)arg)->ac);
}

static void
sc_libevent_add_read(void *data)
{
	event_add(((struct sc_libevent *)data)->rev, NULL);
}

static void
sc_libevent_del_read(void *data)
{
	event_del(((struct sc_libevent *)data)->rev);
}

static void
sc_libevent_add_write(void *data)
{
	event_add(((struct sc_libevent *)data)->wev, NULL);
}

static void
sc_libevent_del_write(void *data)
{
	event_del(((struct sc_libevent *)data)->wev);
}

static void
sc_libevent_timer_set(void *data, int ms)
{
	struct sc_libevent	*e = (struct sc_libevent *)data;
	struct timeval		 tv;

	if (ms < 0) {
		evtimer_del(e->tev);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(e->tev, &tv);
}

static void
sc_libevent_cleanup(void *data)
{
	struct sc_libevent	*e = (struct sc_libevent *)data;

	if (e == NULL)
		return;
	if (e->rev != NULL)
		event_free(e->rev);
	if (e->wev != NULL)
		event_free(e->wev);
	if (e->tev != NULL)
		event_free(e->tev);
	free(e);
}

/*
 * Drives ac from base.  Returns 0, or -1 (out of memory, ac dead or
 * already attached); ac is the caller's to free either way.
 */
static inline int
sc_libevent_attach(sc_async *ac, struct event_base *base)
{
	static const struct sc_async_hooks	 hooks = {
		sc_libevent_add_read, sc_libevent_del_read,
		sc_libevent_add_write, sc_libevent_del_write,
		sc_libevent_timer_set, sc_libevent_cleanup,
	};
	struct sc_libevent	*e;
	int			 fd = sc_async_fd(ac);

	if (fd == -1 ||
	    (e = (struct sc_libevent *)calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->ac = ac;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST,
	    sc_libevent_on_read, e);
	e->wev = event_new(base, fd, EV_WRITE | EV_PERSIST,
	    sc_libevent_on_write, e);
	e->tev = evtimer_new(base, sc_libevent_on_timer, e);
	if (e->rev == NULL || e->wev == NULL || e->tev == NULL ||
	    sc_async_attach(ac, &hooks, sizeof(hooks), e) == -1) {
		sc_libevent_cleanup(e);
		return -1;
	}
	return 0;
}

#endif
