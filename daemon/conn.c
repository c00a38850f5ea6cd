#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "handler.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "quota.h"
#include "sp_frame.h"
#include "sp_msg.h"

#define READ_CHUNK	(64 * 1024)
#define KEEP_BUF	(1024 * 1024)
#define STALL_US	2000	/* retry a stalled frame this much later, at
				 * the latest (see stall()) */
#define STALL_KEYED_US	50000	/* the same for one that waits for a named
				 * env, whose settling retries it at once:
				 * only a net, not to retry a slow open
				 * every 2 ms */
#define STARVE_US	50000	/* a read held back by max_input: rare, and
				 * 1,000 of them must not spin a loop */
/*
 * Input buffer every connection may hold without counting against
 * max_input: what a read of READ_CHUNK after a partial frame needs, so
 * that small requests never wait for the cap, whoever holds it.
 */
#define IN_FREE		(2 * READ_CHUNK)

static uint64_t	serials;	/* loop threads only touch it via atomics */

static void	on_read(evutil_socket_t, short, void *);
static void	on_retry(evutil_socket_t, short, void *);
static void	on_more(evutil_socket_t, short, void *);
static void	on_deadline(evutil_socket_t, short, void *);
static void	unstall(struct conn *);
static void	unqueue_flush(struct conn *);
static void	on_write(evutil_socket_t, short, void *);
static bool	frame_waiting(const struct conn *);

/* ---------------------------------------------------- input memory */

/* The daemon-wide cap: max_input, and never under two largest frames. */
static uint64_t
input_cap(const struct conn *c)
{
	const struct config	*cfg = c->loop->d->cfg;
	uint64_t		 floor = 2 * (cfg->max_frame + SP_FRAME_HDR);

	return cfg->max_input > floor ? cfg->max_input : floor;
}

static size_t
charge_of(size_t cap)
{
	return cap > IN_FREE ? cap - IN_FREE : 0;
}

/*
 * What one uid may hold: its share of the cap (quota.h), so that
 * another user always finds the rest; but never less than the buffer
 * of one largest frame (read up to READ_CHUNK past its end), which must
 * always fit.
 */
static uint64_t
uid_share(const struct conn *c)
{
	const struct sp_buf	 none = { 0 };
	uint64_t		 half = quota_share(input_cap(c)), frame;

	frame = charge_of(sp_buf_grown(&none, c->loop->d->cfg->max_frame +
	    SP_FRAME_HDR + READ_CHUNK));
	return half > frame ? half : frame;
}

/*
 * Charges c's input buffer, as it will be once grown for n more bytes,
 * against max_input and its uid's share of it.  Returns 0, or -1 when
 * that would take the input held by all connections over max_input, or
 * by its uid's connections over their share (nothing is charged then;
 * *share says which).
 */
static int
charge_input(struct conn *c, size_t n, bool *share)
{
	_Atomic uint64_t	*all = &c->loop->d->in_bytes;
	size_t			 charge = charge_of(sp_buf_grown(&c->in, n));
	uint64_t		 delta;

	*share = false;
	if (charge <= c->in_charged)
		return 0;
	delta = charge - c->in_charged;
	if (atomic_fetch_add(all, delta) + delta > input_cap(c)) {
		atomic_fetch_sub(all, delta);
		return -1;
	}
	if (quota_take(QUOTA_INPUT, c->peer.uid, delta, uid_share(c),
	    UINT64_MAX) != QUOTA_OK) {
		atomic_fetch_sub(all, delta);
		*share = true;
		return -1;
	}
	c->in_charged = charge;
	return 0;
}

/* Gives back the charge of what c's input buffer no longer holds. */
static void
uncharge_input(struct conn *c)
{
	size_t	 charge = charge_of(c->in.cap);

	if (charge < c->in_charged) {
		atomic_fetch_sub(&c->loop->d->in_bytes, c->in_charged - charge);
		quota_give(QUOTA_INPUT, c->peer.uid, c->in_charged - charge);
		c->in_charged = charge;
	}
}

static void
conn_free(struct conn *c)
{
	handler_conn_free(c);
	free(c->peer.groups);
	sp_buf_free(&c->in);
	sp_buf_free(&c->out);
	free(c);
}

/* Closes the socket now; the struct stays until its jobs are back. */
static void
conn_close(struct conn *c)
{
	struct loop	*l = c->loop;
	unsigned	 i;

	if (c->fd == -1)
		return;
	log_debug("%s: connection %llu closed", __func__,
	    (unsigned long long)c->serial);
	unstall(c);
	unqueue_flush(c);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->retry);
	event_free(c->more);
	event_free(c->deadline);
	close(c->fd);
	c->fd = -1;
	/* Input is of no use any more, even while jobs are out. */
	sp_buf_free(&c->in);
	uncharge_input(c);
	for (i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
	handler_conn_closed(c);
	TAILQ_REMOVE(&l->conns, c, link);
	quota_give(QUOTA_CONNS, c->peer.uid, 1);
	atomic_fetch_sub(&l->d->nconns, 1);
	if (c->jobs == 0)
		conn_free(c);
	loop_check_stopped(l);
}

/*
 * Counts a new connection against its uid's share of max_connections
 * (the listener has counted it against max_connections itself).
 * Returns 0, or -1 when the uid holds its share: the client has a BUSY
 * reply (id 0) that says so, and the caller closes fd.  Logged at most
 * once a second, so that a client cannot flood the log.
 */
static int
conn_admit(struct loop *l, int fd, uid_t uid)
{
	static _Atomic uint64_t	 logged_ms, refused;
	struct sp_buf		 b = { 0 };
	struct sp_error		 err;
	enum quota_why		 why;
	unsigned		 max = l->d->cfg->max_connections;
	uint64_t		 now, then;

	if ((why = quota_take(QUOTA_CONNS, uid, 1, quota_share(max),
	    UINT64_MAX)) == QUOTA_OK)
		return 0;
	quota_refusal(QUOTA_CONNS, why, uid, max, &err);
	if (sp_reply_err(&b, 0, &err) == 0)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	sp_buf_free(&b);
	atomic_fetch_add(&refused, 1);
	now = clock_now_ms();
	then = atomic_load(&logged_ms);
	if (now - then >= 1000 &&
	    atomic_compare_exchange_strong(&logged_ms, &then, now))
		log_notice("%s: %llu connections refused: %s", __func__,
		    (unsigned long long)atomic_exchange(&refused, 0),
		    err.msg);
	return -1;
}

void
conn_new(struct loop *l, int fd)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: calloc", __func__);
		close(fd);
		atomic_fetch_sub(&l->d->nconns, 1);
		return;
	}
	c->loop = l;
	c->fd = fd;
	c->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
	if (acl_peer(fd, &c->peer) == -1) {
		/* Unknown peers are nobody: every uid check fails closed. */
		c->peer.uid = (uid_t)-1;
		c->peer.gid = (gid_t)-1;
	}
	if (conn_admit(l, fd, c->peer.uid) == -1) {
		close(fd);
		free(c->peer.groups);
		free(c);
		atomic_fetch_sub(&l->d->nconns, 1);
		return;
	}
	c->rev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->retry = evtimer_new(l->base, on_retry, c);
	c->more = evtimer_new(l->base, on_more, c);
	c->deadline = evtimer_new(l->base, on_deadline, c);
	if (c->rev == NULL || c->wev == NULL || c->retry == NULL ||
	    c->more == NULL || c->deadline == NULL ||
	    handler_conn_open(c) == -1 ||
	    event_add(c->rev, NULL) == -1) {
		log_warnx("%s: cannot watch connection", __func__);
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		if (c->retry)
			event_free(c->retry);
		if (c->more)
			event_free(c->more);
		if (c->deadline)
			event_free(c->deadline);
		close(fd);
		handler_conn_free(c);
		quota_give(QUOTA_CONNS, c->peer.uid, 1);
		free(c->peer.groups);
		free(c);
		atomic_fetch_sub(&l->d->nconns, 1);
		return;
	}
	TAILQ_INSERT_TAIL(&l->conns, c, link);
	log_debug("%s: connection %llu from pid %ld uid %lu", __func__,
	    (unsigned long long)c->serial, (long)c->peer.pid,
	    (unsigned long)c->peer.uid);
	if (l->stopping)
		conn_drain(c);
}

struct sp_buf *
conn_out(struct conn *c)
{
	return &c->out;
}

bool
conn_has_fd(const struct conn *c)
{
	return c->nfds > 0 && c->fdpos[0] < c->frame_end;
}

/* Forgets the oldest passed descriptor (the caller has it or closes it). */
static int
shift_fd(struct conn *c)
{
	int	 fd = c->fds[0];

	c->nfds--;
	memmove(c->fds, c->fds + 1, c->nfds * sizeof(c->fds[0]));
	memmove(c->fdpos, c->fdpos + 1, c->nfds * sizeof(c->fdpos[0]));
	return fd;
}

int
conn_take_fd(struct conn *c)
{
	return conn_has_fd(c) ? shift_fd(c) : -1;
}

/* Closes the descriptors that came with frames ending before end. */
static void
drop_fds(struct conn *c, uint64_t end)
{
	while (c->nfds > 0 && c->fdpos[0] < end)
		close(shift_fd(c));
}

void
conn_hold(struct conn *c)
{
	c->jobs++;
}

/* Requests out on the pool past max_inflight: read nothing more from c
 * until some come back (backpressure for a client that never waits). */
static bool
too_busy(const struct conn *c)
{
	return c->jobs >= c->loop->d->cfg->max_inflight;
}

static void
pause_reading(struct conn *c)
{
	if (c->paused || c->closing)
		return;
	c->paused = true;
	event_del(c->rev);
	/* Once per connection: a pipelining client hits it all the time. */
	if (c->told_paused)
		return;
	c->told_paused = true;
	log_info("%s: connection %llu (pid %ld uid %lu) has %u requests in "
	    "flight, max_inflight; reading it only as replies go out",
	    __func__, (unsigned long long)c->serial, (long)c->peer.pid,
	    (unsigned long)c->peer.uid, c->jobs);
}

/* The per-turn cap: the rest of c's frames wait for the next turn. */
static void
turn_over(struct conn *c)
{
	if (c->told_turn)
		return;
	c->told_turn = true;
	log_info("%s: connection %llu (pid %ld uid %lu) sent more than "
	    "max_requests_per_turn = %u requests at once; the rest wait a "
	    "turn, so that others are served meanwhile", __func__,
	    (unsigned long long)c->serial, (long)c->peer.pid,
	    (unsigned long)c->peer.uid, c->loop->d->cfg->max_per_turn);
}

static void
resume_reading(struct conn *c)
{
	if (!c->paused || c->closing || too_busy(c))
		return;
	c->paused = false;
	/* After EOF the socket is not watched: it would always be ready. */
	if (!c->eof)
		event_add(c->rev, NULL);
	/* Frames may be waiting in the buffer already. */
	event_active(c->rev, EV_READ, 0);
}

void
conn_abort(struct conn *c)
{
	conn_close(c);
}

bool
conn_idle(const struct conn *c)
{
	return c->jobs == 0 && c->out_off == c->out.len;
}

/*
 * Closes a connection asked to close once it is done, or whose peer shut
 * its side once every whole frame it sent is answered (a frame it left
 * unfinished can never be).
 */
static void
maybe_close(struct conn *c)
{
	if (!conn_idle(c))
		return;
	if (c->closing || (c->eof && !c->stalled && !frame_waiting(c)))
		conn_close(c);
}

/*
 * The most reply bytes a connection may leave unread: max_output, and at
 * least room for one reply to the largest request plus a little.
 */
static uint64_t
output_cap(const struct conn *c)
{
	const struct config	*cfg = c->loop->d->cfg;

	return cfg->max_output > cfg->max_frame + 65536 ? cfg->max_output :
	    cfg->max_frame + 65536;
}

void
conn_flush(struct conn *c)
{
	ssize_t	 n;

	while (c->out_off < c->out.len) {
		n = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* A client that sends and never reads is cut off,
			 * so its replies cannot eat the daemon's memory. */
			if (c->out.len - c->out_off > output_cap(c)) {
				log_notice("%s: connection %llu (pid %ld uid "
				    "%lu) left %zu bytes of replies unread, "
				    "over max_output; closing it", __func__,
				    (unsigned long long)c->serial, (long)c->peer.pid,
				    (unsigned long)c->peer.uid,
				    c->out.len - c->out_off);
				conn_close(c);
				return;
			}
			c->writing = true;
			event_add(c->wev, NULL);
			return;
		}
		/* The peer is gone; nobody is left to read the rest. */
		conn_close(c);
		return;
	}
	c->out.len = c->out_off = 0;
	sp_buf_shrink(&c->out, KEEP_BUF);
	/* Most replies go out at once: wev was never added, and libevent's
	 * event_del would cost a request as much as its decoding. */
	if (c->writing) {
		c->writing = false;
		event_del(c->wev);
	}
	maybe_close(c);
}

/*
 * Writable now, most likely: sent at the end of the turn, once the hooks
 * walking lists c is on are done, with no epoll_ctl to add and remove
 * the write event around each watch event (two system calls an event).
 * Output already waiting on the write event goes with it.
 */
void
conn_flush_soon(struct conn *c)
{
	if (c->fd == -1 || c->out_off == c->out.len || c->writing ||
	    c->flushing)
		return;
	c->flushing = true;
	TAILQ_INSERT_TAIL(&c->loop->flushing, c, flush_link);
}

/* c leaves its loop's list of output to send this turn. */
static void
unqueue_flush(struct conn *c)
{
	if (c->flushing)
		TAILQ_REMOVE(&c->loop->flushing, c, flush_link);
	c->flushing = false;
}

void
conn_flush_turn(struct loop *l)
{
	struct conn	*c;

	/* A flush may close c (a peer gone): it is off the list first. */
	while ((c = TAILQ_FIRST(&l->flushing)) != NULL) {
		unqueue_flush(c);
		conn_flush(c);
	}
}

size_t
conn_unsent(const struct conn *c)
{
	return c->out.len - c->out_off;
}

size_t
conn_out_room(const struct conn *c)
{
	return output_cap(c);
}

void
conn_end_input(struct conn *c)
{
	c->closing = true;
	event_del(c->rev);
}

void
conn_drain(struct conn *c)
{
	if (c->fd == -1)
		return;
	c->closing = true;
	event_del(c->rev);
	maybe_close(c);
}

void
conn_job_done(struct conn *c, struct job *j)
{
	c->jobs--;
	if (c->fd == -1) {
		if (c->jobs == 0)
			conn_free(c);
		return;
	}
	if (j->reply.len == 0 ||
	    sp_buf_append(&c->out, j->reply.data, j->reply.len) == -1) {
		log_warnx("%s: out of memory for a reply", __func__);
		conn_close(c);
		return;
	}
	resume_reading(c);
	conn_flush(c);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/*
 * Keeps descriptors the peer passed (SCM_RIGHTS), within CONN_MAX_FDS,
 * each with the stream offset of the last byte read with it: Linux ends
 * a read at the message that carries descriptors, so that byte is in the
 * frame they were sent with (PROTOCOL.md: with the frame's first byte, in
 * one sendmsg).  They belong to the frame holding that byte, and nothing
 * else may use them.
 */
static void
take_rights(struct conn *c, struct msghdr *msg)
{
	uint64_t	 pos = c->in_pos + c->in.len - (c->in.len > 0);
	struct cmsghdr	*cm;
	int		*fds;
	size_t		 i, n;

	if (msg->msg_flags & MSG_CTRUNC)
		log_warnx("%s: connection %llu passed more descriptors than "
		    "storesd takes at once; extras were dropped", __func__,
		    (unsigned long long)c->serial);
	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)CMSG_DATA(cm);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (c->nfds < CONN_MAX_FDS) {
				c->fdpos[c->nfds] = pos;
				c->fds[c->nfds++] = fds[i];
			} else
				close(fds[i]);
		}
	}
}

/* Replies TOO_LARGE to a frame over max_frame and closes: the bytes of
 * that frame are never read, so the stream cannot be resynchronised. */
static void
refuse_frame(struct conn *c, uint32_t len, uint64_t max)
{
	char	 msg[SP_ERRMSG_MAX], a[32];

	cfg_format_size(max, a, sizeof(a));
	snprintf(msg, sizeof(msg), "a frame of %lu bytes is over max_frame "
	    "(%s); split the request or raise max_frame", (unsigned long)len,
	    a);
	log_info("%s: connection %llu: %s", __func__,
	    (unsigned long long)c->serial, msg);
	sp_reply_error(&c->out, 0, SP_TOO_LARGE, msg);
	conn_end_input(c);
}

/*
 * Keeps the clock of a frame begun and not yet whole in c's input: it
 * must be whole within frame_timeout of when the first of its bytes was
 * read, however slowly the rest trickles in.  Frames that are whole and
 * wait for storesd have no clock.
 */
static void
watch_frame(struct conn *c)
{
	uint64_t	 ms = c->loop->d->cfg->frame_timeout_ms;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (c->in.len == 0 || frame_waiting(c) || c->eof) {
		if (c->frame_timed)
			evtimer_del(c->deadline);
		c->frame_timed = false;
		return;
	}
	if (c->frame_timed && c->timed_pos == c->in_pos)
		return;
	c->frame_timed = true;
	c->timed_pos = c->in_pos;
	evtimer_add(c->deadline, &tv);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 msg[SP_ERRMSG_MAX];

	(void)fd;
	(void)what;
	c->frame_timed = false;
	if (c->fd == -1 || c->closing)
		return;
	/* Not read meanwhile because of storesd (max_inflight, an env
	 * busy for a moment): the frame gets a new term. */
	if (c->paused || c->stalled) {
		watch_frame(c);
		return;
	}
	snprintf(msg, sizeof(msg), "a frame was begun and not finished "
	    "within frame_timeout (%llu ms); send each frame whole",
	    (unsigned long long)c->loop->d->cfg->frame_timeout_ms);
	log_notice("%s: connection %llu (pid %ld uid %lu): %s; closing it",
	    __func__, (unsigned long long)c->serial, (long)c->peer.pid,
	    (unsigned long)c->peer.uid, msg);
	sp_reply_error(&c->out, 0, SP_BAD_REQUEST, msg);
	conn_end_input(c);
	conn_flush(c);
}

/*
 * Reading c would take the input held by all connections over
 * max_input, or by its uid's over their share (share): c is not read
 * for a moment, and tries again then.  Its frame's clock runs on, so
 * the connections that hold the input either finish their frames or
 * are cut off at frame_timeout.
 */
static void
starve(struct conn *c, bool share)
{
	struct timeval	 tv = { 0, STARVE_US };
	char		 cap[32], part[32];

	if (!c->told_input) {
		c->told_input = true;
		cfg_format_size(input_cap(c), cap, sizeof(cap));
		cfg_format_size(uid_share(c), part, sizeof(part));
		if (share)
			log_notice("%s: connection %llu (pid %ld uid %lu) "
			    "waits to read: the frames its uid's connections "
			    "are receiving hold their share (%s) of "
			    "max_input (%s)", __func__,
			    (unsigned long long)c->serial, (long)c->peer.pid,
			    (unsigned long)c->peer.uid, part, cap);
		else
			log_notice("%s: connection %llu (pid %ld uid %lu) "
			    "waits to read: the frames all connections are "
			    "receiving hold max_input (%s)", __func__,
			    (unsigned long long)c->serial, (long)c->peer.pid,
			    (unsigned long)c->peer.uid, cap);
	}
	c->starved = true;
	event_del(c->rev);
	evtimer_add(c->retry, &tv);
}

/*
 * The next frame needs an env that is busy for a moment.  The loop must
 * not wait for it (the env may be held by this very loop's turn), so c
 * stops reading and tries that frame again when the registry says that
 * env stopped being busy (conn_retry_stalled()), or after STALL_US
 * (STALL_KEYED_US when the registry named the env) at the latest; its
 * later frames wait behind it, in order.  Its read
 * event stays: most clients wait for the reply, so nothing comes to
 * read, and removing it and adding it back cost a new env's request two
 * epoll_ctl.  Bytes that do come wake on_read(), which removes it then.
 */
static void
stall(struct conn *c)
{
	struct timeval	 tv = { 0, STALL_US };

	if (!c->stalled) {
		log_debug("%s: connection %llu waits for an env being opened, "
		    "closed or retuned", __func__,
		    (unsigned long long)c->serial);
		TAILQ_INSERT_TAIL(&c->loop->stalled, c, stall_link);
	}
	c->stalled = true;
	c->waits = handler_waits_for(c);
	if (c->waits != HANDLER_WAITS_ANY)
		tv.tv_usec = STALL_KEYED_US;
	atomic_fetch_add_explicit(&c->loop->stalls, 1, memory_order_relaxed);
	evtimer_add(c->retry, &tv);
}

/* c's stalled frame is being retried, or c closes. */
static void
unstall(struct conn *c)
{
	if (c->stalled)
		TAILQ_REMOVE(&c->loop->stalled, c, stall_link);
	c->stalled = false;
}

/* True when c's stalled frame waits for one of keys (n), or any. */
static bool
waits_for(const struct conn *c, const uint64_t *keys, unsigned n)
{
	unsigned	 i;

	if (c->waits == HANDLER_WAITS_ANY)
		return true;
	for (i = 0; i < n; i++)
		if (keys[i] == c->waits)
			return true;
	return false;
}

void
conn_retry_stalled(struct loop *l, const uint64_t *keys, unsigned n,
    bool all)
{
	struct conn	*c;
	uint64_t	 woken = 0;

	/* event_active() only queues on_retry, which runs after this
	 * walk: the list does not change under it. */
	TAILQ_FOREACH(c, &l->stalled, stall_link) {
		if (!all && !waits_for(c, keys, n))
			continue;
		event_active(c->retry, EV_TIMEOUT, 0);
		woken++;
	}
	atomic_fetch_add_explicit(&l->stall_wakes, woken,
	    memory_order_relaxed);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	unstall(c);
	c->starved = false;
	if (c->fd == -1 || c->closing)
		return;
	if (!c->paused && !c->eof)
		event_add(c->rev, NULL);
	event_active(c->rev, EV_READ, 0);
}

/*
 * Handles the complete frames in the input buffer, at most
 * max_requests_per_turn of them.  Returns true when complete frames are
 * left.
 */
static bool
process(struct conn *c)
{
	uint64_t	 max = c->loop->d->cfg->max_frame;
	size_t		 off = 0, avail;
	uint32_t	 len;
	unsigned	 budget = c->loop->d->cfg->max_per_turn;
	bool		 more = false;

	while (!c->closing && c->fd != -1) {
		if (too_busy(c)) {
			pause_reading(c);
			break;
		}
		avail = c->in.len - off;
		if (avail < SP_FRAME_HDR)
			break;
		len = sp_frame_len(c->in.data + off);
		if (len > max) {
			refuse_frame(c, len, max);
			break;
		}
		if (avail - SP_FRAME_HDR < len)
			break;
		if (budget-- == 0) {
			turn_over(c);
			more = true;
			break;
		}
		c->frame_end = c->in_pos + off + SP_FRAME_HDR + len;
		if (handler_frame(c, c->in.data + off + SP_FRAME_HDR, len) ==
		    HANDLER_AGAIN) {
			stall(c);
			break;
		}
		/* Its descriptors, unless the handler took them, go too. */
		drop_fds(c, c->frame_end);
		off += SP_FRAME_HDR + len;
	}
	c->in_pos += off;
	sp_buf_consume(&c->in, off);
	if (c->in.len == 0) {
		sp_buf_shrink(&c->in, KEEP_BUF);
		uncharge_input(c);
	}
	return more;
}

/* True when a whole frame is waiting in c's input. */
static bool
frame_waiting(const struct conn *c)
{
	return c->in.len >= SP_FRAME_HDR &&
	    c->in.len - SP_FRAME_HDR >= sp_frame_len(c->in.data);
}

/*
 * How much to read: READ_CHUNK, or for a large frame being received as
 * much again as is held, up to its end.  The buffer grows as bytes
 * arrive (doubling, so a frame is copied a few times at most), never to
 * the length a header merely announces.
 */
static size_t
want(const struct conn *c)
{
	size_t	 need, rest;

	if (c->in.len < SP_FRAME_HDR)
		return READ_CHUNK;
	need = SP_FRAME_HDR + (size_t)sp_frame_len(c->in.data);
	if (need <= c->in.len || need - c->in.len <= READ_CHUNK ||
	    sp_frame_len(c->in.data) > c->loop->d->cfg->max_frame)
		return READ_CHUNK;
	rest = need - c->in.len;
	return c->in.len < READ_CHUNK ? READ_CHUNK :
	    c->in.len < rest ? c->in.len : rest;
}

/*
 * The peer shut its side (shutdown(SHUT_WR), as nc -N does) or closed.
 * Either way nothing more comes; the whole frames it sent are still
 * answered, and the connection closes once the replies are out (a peer
 * that is really gone makes the send fail).
 */
static void
end_of_input(struct conn *c)
{
	log_debug("%s: connection %llu: end of input", __func__,
	    (unsigned long long)c->serial);
	c->eof = true;
	event_del(c->rev);
}

/*
 * True when the peer has shut its side and what it sent before cannot
 * finish the frame being received: a connection held back by max_input
 * would otherwise keep that input until frame_timeout, although no read
 * can ever complete it.
 */
static bool
frame_cannot_end(const struct conn *c)
{
	struct pollfd	 p = { c->fd, POLLRDHUP, 0 };
	int		 queued;

	if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLRDHUP | POLLHUP |
	    POLLERR)))
		return false;
	if (ioctl(c->fd, FIONREAD, &queued) == -1)
		return true;
	return c->in.len + (size_t)queued < SP_FRAME_HDR +
	    (size_t)sp_frame_len(c->in.data);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(CONN_MAX_FDS * sizeof(int))];
	} cbuf;
	ssize_t		 n;
	size_t		 w = want(c);
	bool		 share;

	(void)what;
	/*
	 * Bytes came while c's frame waits for its env (stall()): nothing
	 * is read until it is retried, and the read event, level-triggered,
	 * would call this again at every poll meanwhile: it goes, and the
	 * retry adds it back.
	 */
	if (c->stalled) {
		event_del(c->rev);
		return;
	}
	/*
	 * Frames left from the last turn go first, and nothing more is read
	 * meanwhile: input is taken only as fast as it is handled, so a
	 * client that never stops sending cannot fill storesd's memory.
	 */
	if (frame_waiting(c) || c->eof) {
		n = 0;
		msg.msg_controllen = 0;
		goto handle;
	}
	if (charge_input(c, w, &share) == -1) {
		if (!frame_cannot_end(c)) {
			starve(c, share);
			return;
		}
		end_of_input(c);
		watch_frame(c);
		conn_flush(c);	/* closes once idle */
		return;
	}
	if (sp_buf_reserve(&c->in, w) == -1) {
		log_warnx("%s: out of memory for input", __func__);
		conn_close(c);
		return;
	}
	iov.iov_base = c->in.data + c->in.len;
	iov.iov_len = w;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)) {
		/* Nothing read (we were woken to go on with buffered
		 * frames): there is no control data either. */
		n = 0;
		msg.msg_controllen = 0;
		if (c->in.len == 0)
			return;
	} else if (n == 0) {
		end_of_input(c);
		msg.msg_controllen = 0;
	} else if (n < 0) {
		conn_close(c);
		return;
	}
	c->in.len += (size_t)n;
	if (msg.msg_controllen > 0)
		take_rights(c, &msg);
handle:
	/*
	 * Frames over max_requests_per_turn wait for the next turn, not for
	 * the end of this one: an event made active now would run in this
	 * very turn, before the loop polls the other connections again and
	 * before it ends the turn's read transactions.  A timer of 0 fires
	 * after the next poll.
	 */
	if (process(c) && c->fd != -1) {
		static const struct timeval	 now = { 0, 0 };

		evtimer_add(c->more, &now);
	}
	if (c->fd != -1 && !c->closing)
		watch_frame(c);
	if (c->fd != -1)
		conn_flush(c);
}

static void
on_more(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	/* A pause or a stall picks up the frames itself when it ends. */
	if (c->fd == -1 || c->closing || c->paused || c->stalled ||
	    c->starved)
		return;
	on_read(c->fd, EV_READ, c);
}
