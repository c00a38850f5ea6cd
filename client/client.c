/*
 * The connection engine: connect, handshake, queueing requests, writing
 * and reading, matching replies to requests, errors.  Synchronous calls
 * block on it here (sc__call, sc__await); async.c drives it from an
 * event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "client_int.h"
#include "sp_frame.h"
#include "sp_names.h"

#define READ_CHUNK	(64 * 1024)

/* The public codes mirror the wire's; this breaks the build if not. */
#define SC_CHECK_CODE(n, name, text)	\
	_Static_assert(n == 0 || (int)SC_ERR_##name == (int)SP_##name, #name);
#define SC_ERR_OK	SC_OK
SP_CODES(SC_CHECK_CODE)
#undef SC_ERR_OK

static const struct local_code {
	int		 code;
	const char	*name;
	const char	*text;
} local_codes[] = {
	{ SC_ERR_CONNECT,  "CONNECT",  "cannot connect to storesd" },
	{ SC_ERR_IO,	   "IO",       "the connection to storesd broke" },
	{ SC_ERR_PROTOCOL, "PROTOCOL", "storesd's reply could not be read" },
	{ SC_ERR_NOMEM,	   "NOMEM",    "out of memory" },
	{ SC_ERR_INVALID,  "INVALID",  "invalid argument" },
	{ SC_ERR_TIMEOUT,  "TIMEOUT",  "storesd did not answer in time" },
	{ SC_ERR_LIMIT,	   "LIMIT",    "too many requests or bytes queued "
	    "on the connection" },
	{ SC_ERR_CLOSED,   "CLOSED",   "the connection was closed by its "
	    "owner" },
};

int
sc_version(void)
{
	return SC_VERSION_NUMBER;
}

/* The row of a code of the library's own, or NULL. */
static const struct local_code *
local_code(int code)
{
	size_t	 i;

	for (i = 0; i < sizeof(local_codes) / sizeof(local_codes[0]); i++)
		if (local_codes[i].code == code)
			return &local_codes[i];
	return NULL;
}

const char *
sc_errname(int code)
{
	const struct local_code	*l = local_code(code);

	if (sp_code_name(code) != NULL)
		return sp_code_name(code);
	return l != NULL ? l->name : "UNKNOWN";
}

const char *
sc_strerror(int code)
{
	const struct local_code	*l = local_code(code);

	if (sp_code_text(code) != NULL)
		return sp_code_text(code);
	return l != NULL ? l->text : "unknown error";
}

int
sc_errcode(const sc_conn *c)
{
	return c ? c->err : SC_ERR_NOMEM;
}

const char *
sc_errmsg(const sc_conn *c)
{
	return c ? c->errmsg : "out of memory";
}

const char *
sc_socket_path(const sc_conn *c)
{
	return c ? c->path : "";
}

const char *
sc_server_version(const sc_conn *c)
{
	return c ? c->server : "";
}

int
sc_default_socket(char *buf, size_t n)
{
	return sp_default_socket(buf, n);
}

void
sc_free(void *p)
{
	free(p);
}

size_t
sc_errindex(const sc_conn *c)
{
	return c ? c->errindex : SC_NOINDEX;
}

int64_t
sc_errretry_ms(const sc_conn *c)
{
	return c ? c->errretry : -1;
}

int64_t
sc__retry_ms(const struct sp_reply *rep)
{
	if (rep->code != SP_BUSY || !rep->has_retry)
		return -1;
	return rep->retry_ms > INT64_MAX ? INT64_MAX : (int64_t)rep->retry_ms;
}

void
sc__str(struct sp_bytes *b, const char *s)
{
	b->p = s;
	b->n = s ? strlen(s) : 0;
}

int
sc__strdup(sc_conn *c, const char *s, char **out)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	return 0;
}

size_t
sc__chunk(const sc_conn *c)
{
	size_t	 n = c->max_frame ? c->max_frame / 2 : 512 * 1024;

	return n < 4 * 1024 * 1024 ? n : 4 * 1024 * 1024;
}

static int
vfail(sc_conn *c, int code, const char *fmt, va_list ap)
{
	c->err = code;
	c->errindex = SC_NOINDEX;
	c->errretry = -1;
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	return -1;
}

int
sc__fail(sc_conn *c, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfail(c, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
sc__die(sc_conn *c, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfail(c, code, fmt, ap);
	va_end(ap);
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->dead_err = code;
	memcpy(c->dead_msg, c->errmsg, sizeof(c->dead_msg));
	return -1;
}

int
sc__ok(sc_conn *c)
{
	c->err = SC_OK;
	c->errindex = SC_NOINDEX;
	c->errretry = -1;
	c->errmsg[0] = '\0';
	return 0;
}

/* ------------------------------------------------------------ options */

sc_options *
sc_options_new(void)
{
	return calloc(1, sizeof(sc_options));
}

void
sc_options_free(sc_options *o)
{
	if (o == NULL)
		return;
	free(o->path);
	free(o->client_name);
	free(o);
}

/* Replaces *dst with a copy of s (NULL: none); 0, or -1 out of memory. */
static int
set_str(char **dst, const char *s)
{
	char	*d = NULL;

	if (s != NULL && (d = strdup(s)) == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

int
sc_options_set_path(sc_options *o, const char *path)
{
	return o ? set_str(&o->path, path) : -1;
}

int
sc_options_set_client_name(sc_options *o, const char *name)
{
	return o ? set_str(&o->client_name, name) : -1;
}

int
sc_options_set_timeout(sc_options *o, int ms)
{
	if (o == NULL || ms < 0)
		return -1;
	o->timeout_ms = ms;
	return 0;
}

int
sc_options_set_max_inflight(sc_options *o, size_t n)
{
	if (o == NULL)
		return -1;
	o->max_inflight = n;
	return 0;
}

int
sc_options_set_max_queued(sc_options *o, size_t bytes)
{
	if (o == NULL)
		return -1;
	o->max_queued = bytes;
	return 0;
}

/* --------------------------------------------------------- connecting */

/*
 * The default socket (sc_default_socket()), but for a user's own socket
 * that does not exist while the system's does: then the system's, so an
 * ordinary user reaches the system daemon without STORESD_SOCKET (issue
 * 14, edge 1).  The one passed over is kept for the connect error.
 */
static int
default_socket(sc_conn *c)
{
	const char	*env = getenv("STORESD_SOCKET");
	struct stat	 sb;

	if (sp_default_socket(c->path, sizeof(c->path)) == -1)
		return -1;
	if ((env != NULL && *env != '\0') ||
	    strcmp(c->path, SC_SYSTEM_SOCKET) == 0 ||
	    stat(c->path, &sb) == 0 || errno != ENOENT ||
	    stat(SC_SYSTEM_SOCKET, &sb) == -1)
		return 0;
	memcpy(c->passed_over, c->path, sizeof(c->passed_over));
	snprintf(c->path, sizeof(c->path), "%s", SC_SYSTEM_SOCKET);
	return 0;
}

/* The connect error: every path tried, and for EACCES who may use it. */
static int
connect_failed(sc_conn *c, int e)
{
	char		 why[200] = "";
	struct stat	 sb;
	struct group	*gr;

	if ((e == EACCES || e == EPERM) && stat(c->path, &sb) == 0) {
		gr = getgrgid(sb.st_gid);
		snprintf(why, sizeof(why), "; this user (uid %lu) may not use "
		    "it: the socket is mode %04o, owner uid %lu, group %s; "
		    "ask to be added to group %s, or use another socket",
		    (unsigned long)geteuid(), (unsigned)(sb.st_mode & 07777),
		    (unsigned long)sb.st_uid, gr ? gr->gr_name : "(unknown)",
		    gr ? gr->gr_name : "(unknown)");
		return sc__die(c, SC_ERR_CONNECT, "cannot connect to storesd "
		    "at %s: %s%s", c->path, strerror(e), why);
	}
	if (c->passed_over[0] != '\0')
		snprintf(why, sizeof(why), " (tried %s first: no such file)",
		    c->passed_over);
	return sc__die(c, SC_ERR_CONNECT, "cannot connect to storesd at %s%s: "
	    "%s; is storesd running? (start it, or point STORESD_SOCKET or -s "
	    "at its socket)", c->path, why, strerror(e));
}

sc_conn *
sc__new(const sc_options *o, bool nonblock)
{
	sc_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = -1;
	c->errindex = SC_NOINDEX;
	c->errretry = -1;
	c->hold = SC_NOHOLD;
	c->nonblock = nonblock;
	if (o != NULL) {
		c->timeout_ms = o->timeout_ms;
		c->max_inflight = o->max_inflight;
		c->max_queued = o->max_queued;
	}
	if (o != NULL && o->path != NULL) {
		if (snprintf(c->path, sizeof(c->path), "%s", o->path) >=
		    (int)sizeof(c->path)) {
			sc__die(c, SC_ERR_INVALID, "the socket path %s is too "
			    "long", o->path);
			return c;
		}
	} else if (default_socket(c) == -1) {
		sc__die(c, SC_ERR_INVALID, "the default socket path is too "
		    "long; set STORESD_SOCKET");
		return c;
	}
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0)) == -1)
		sc__die(c, SC_ERR_CONNECT, "socket: %s", strerror(errno));
	return c;
}

int
sc__connect(sc_conn *c)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return 0;
	/* A Unix socket's non-blocking connect does not go on in the
	 * background: with the backlog full it fails, to be tried again. */
	if (errno == EAGAIN && c->nonblock)
		return 1;
	return connect_failed(c, errno);
}

/*
 * A blocking connection's timeout, as the socket's own (SO_RCVTIMEO,
 * SO_SNDTIMEO): each recv() and sendmsg() waits at most that long, with
 * no poll() before it, so a call costs its send and its receive alone,
 * and a send blocked on a full socket is bounded too.  Returns 0, or -1
 * (c dead).
 */
static int
set_timeouts(sc_conn *c)
{
	struct timeval	 tv = { c->timeout_ms / 1000,
			    (c->timeout_ms % 1000) * 1000 };

	if (c->timeout_ms <= 0)
		return 0;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return sc__die(c, SC_ERR_IO, "setsockopt: %s", strerror(errno));
	return 0;
}

void
sc__hello_req(struct sp_req *rq, const char *client_name)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = SP_OP_HELLO;
	rq->version = SP_PROTO_VERSION;
	rq->has = SP_F_VERSION;
	sc__str(&rq->client, client_name);
}

int
sc__hello_done(sc_conn *c, const struct sp_reply *rep)
{
	char	 msg[sizeof(c->errmsg)];

	if (sc__result(c, rep) == -1) {
		/* BAD_VERSION: nothing more can be said on this connection. */
		memcpy(msg, c->errmsg, sizeof(msg));
		return sc__die(c, c->err, "%s", msg);
	}
	snprintf(c->server, sizeof(c->server), "%.*s", (int)rep->server.n,
	    rep->server.p ? rep->server.p : "");
	c->max_frame = rep->max_frame;
	c->max_known = true;
	return 0;
}

static void
drop_passfds(sc_conn *c)
{
	size_t	 i;

	for (i = 0; i < c->npassfd; i++)
		if (c->passfd[i].owned)
			close(c->passfd[i].fd);
	c->npassfd = 0;
}

void
sc__free(sc_conn *c)
{
	size_t	 i;

	for (i = 0; i < c->npend; i++)
		free(c->pend[(c->pend_head + i) % c->pend_cap].st);
	sc__watch_detach_all(c);
	free(c->held);
	free(c->pend);
	drop_passfds(c);
	free(c->passfd);
	if (c->fd != -1)
		close(c->fd);
	sp_buf_free(&c->in);
	sp_buf_free(&c->out);
	free(c);
}

sc_conn *
sc_connect_opts(const sc_options *o)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;
	sc_conn		*c;

	if ((c = sc__new(o, false)) == NULL || c->fd == -1 ||
	    sc__connect(c) == -1 || set_timeouts(c) == -1)
		return c;
	sc__hello_req(&rq, o ? o->client_name : NULL);
	if (sc__call(c, &rq, -1, &rep) == -1) {
		if (c->fd != -1)
			sc__hello_done(c, &rep);
		return c;
	}
	sc__hello_done(c, &rep);
	return c;
}

sc_conn *
sc_connect(const char *path)
{
	sc_options	 o;

	memset(&o, 0, sizeof(o));
	o.path = (char *)path;
	return sc_connect_opts(&o);
}

void
sc_close(sc_conn *c)
{
	if (c == NULL || c->async != NULL)
		return;
	sc__free(c);
}

/* ------------------------------------------------------------- the ring */

/* The record at position i of the ring (0: the oldest). */
static struct sc_rec *
rec_at(sc_conn *c, size_t i)
{
	return &c->pend[(c->pend_head + i) % c->pend_cap];
}

static int
push(sc_conn *c, uint64_t id, struct sc_rec **recp)
{
	struct sc_rec	*v, *r;
	size_t		 i, cap;

	if (c->npend == c->pend_cap) {
		cap = c->pend_cap ? c->pend_cap * 2 : 64;
		if ((v = malloc(cap * sizeof(*v))) == NULL)
			return sc__fail(c, SC_ERR_NOMEM, "out of memory");
		for (i = 0; i < c->npend; i++)
			v[i] = *rec_at(c, i);
		free(c->pend);
		c->pend = v;
		c->pend_head = 0;
		c->pend_cap = cap;
	}
	r = rec_at(c, c->npend++);
	memset(r, 0, sizeof(*r));
	r->id = id;
	c->inflight++;
	*recp = r;
	return 0;
}

struct sc_rec *
sc__find(sc_conn *c, uint64_t id)
{
	struct sc_rec	*r;
	size_t		 lo = 0, hi = c->npend, mid;

	/* Ids only grow along the ring: a binary search. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = rec_at(c, mid);
		if (r->id == id)
			return r->done ? NULL : r;
		if (r->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
sc__retire(sc_conn *c, struct sc_rec *r)
{
	r->done = true;
	free(r->st);
	r->st = NULL;
	c->inflight--;
	while (c->npend > 0 && rec_at(c, 0)->done) {
		c->pend_head = (c->pend_head + 1) % c->pend_cap;
		c->npend--;
	}
}

void
sc__lose_all(sc_conn *c)
{
	size_t	 i;

	for (i = 0; i < c->npend; i++)
		free(rec_at(c, i)->st);
	c->npend = c->inflight = 0;
}

struct sc_rec *
sc__oldest(sc_conn *c)
{
	size_t	 i;

	for (i = 0; i < c->npend; i++)
		if (!rec_at(c, i)->done)
			return rec_at(c, i);
	return NULL;
}

/* ------------------------------------------------------------ sending */

int
sc__room(sc_conn *c)
{
	if (c->max_inflight && c->inflight >= c->max_inflight)
		return sc__fail(c, SC_ERR_LIMIT, "%zu requests are in flight, "
		    "the connection's max_inflight; wait for replies first",
		    c->inflight);
	if (c->max_queued && sc__queued(c) >= c->max_queued)
		return sc__fail(c, SC_ERR_LIMIT, "%zu bytes are queued, the "
		    "connection's max_queued; wait for them to be sent",
		    sc__queued(c));
	return 0;
}

size_t
sc__queued(const sc_conn *c)
{
	return c->out.len - c->out_off;
}

/* Where writing stops: the end of out, or a held frame. */
static size_t
send_end(const sc_conn *c)
{
	return c->hold < c->out.len ? c->hold : c->out.len;
}

size_t
sc__sendable(const sc_conn *c)
{
	return send_end(c) - c->out_off;
}

/* Removes the unsent frame at out offsets [at, end), with a descriptor
 * it was to pass. */
static void
cut_frame(sc_conn *c, size_t at, size_t end)
{
	size_t	 i, j;

	memmove(c->out.data + at, c->out.data + end, c->out.len - end);
	c->out.len -= end - at;
	for (i = j = 0; i < c->npassfd; i++) {
		if (c->passfd[i].at == at) {
			if (c->passfd[i].owned)
				close(c->passfd[i].fd);
			continue;
		}
		if (c->passfd[i].at > at) {
			c->passfd[i].at -= end - at;
			c->passfd[i].end -= end - at;
		}
		c->passfd[j++] = c->passfd[i];
	}
	c->npassfd = j;
}

int
sc__unhold(sc_conn *c, uint64_t *id)
{
	struct sp_req	 rq;
	struct sp_error	 perr;
	size_t		 at, end;
	uint32_t	 len;

	while (c->hold != SC_NOHOLD && c->hold < c->out.len) {
		at = c->hold;
		len = sp_frame_len(c->out.data + at);
		end = at + SP_FRAME_HDR + len;
		if (c->max_frame == 0 || len <= c->max_frame) {
			c->hold = end;
			continue;
		}
		/* Our own encoding: it decodes, and its id is the record's. */
		if (sp_req_decode(c->out.data + at + SP_FRAME_HDR, len, &rq,
		    &perr) == -1) {
			c->hold = end;
			continue;
		}
		cut_frame(c, at, end);
		*id = rq.id;
		return 1;
	}
	c->hold = SC_NOHOLD;
	return 0;
}

static int
dead_again(sc_conn *c)
{
	return sc__fail(c, SC_ERR_IO, "the connection is closed after an "
	    "earlier error (%s: %s); connect again", sc_errname(c->dead_err),
	    c->dead_msg);
}

/* Queues a descriptor to pass with the frame at out offsets [at, end). */
static int
add_passfd(sc_conn *c, size_t at, size_t end, int fd, bool dup_fd)
{
	struct sc_passfd	*v;

	if ((v = realloc(c->passfd, (c->npassfd + 1) * sizeof(*v))) == NULL)
		return sc__fail(c, SC_ERR_NOMEM, "out of memory");
	c->passfd = v;
	if (dup_fd && (fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return sc__fail(c, SC_ERR_INVALID, "cannot duplicate fd: %s",
		    strerror(errno));
	v[c->npassfd].at = at;
	v[c->npassfd].end = end;
	v[c->npassfd].fd = fd;
	v[c->npassfd].owned = dup_fd;
	c->npassfd++;
	return 0;
}

int
sc__send(sc_conn *c, struct sp_req *rq, int pass_fd, bool dup_fd,
    bool track, struct sc_rec **recp)
{
	struct sc_rec	*r = NULL;
	size_t		 before = c->out.len, len;

	if (c->fd == -1)
		return dead_again(c);
	rq->id = ++c->next_id;
	if (sp_req_encode(&c->out, rq) == -1)
		return errno == E2BIG ? sc__fail(c, SC_ERR_TOO_LARGE,
		    "the request is over 4GiB; split it") :
		    sc__fail(c, SC_ERR_NOMEM, "out of memory");
	/* storesd would refuse it and close; say so and keep the link. */
	len = c->out.len - before - SP_FRAME_HDR;
	if (c->max_frame && len > c->max_frame) {
		c->out.len = before;
		return sc__fail(c, SC_ERR_TOO_LARGE, "the request is %zu "
		    "bytes; storesd's max_frame is %llu; split it or raise "
		    "max_frame", len, (unsigned long long)c->max_frame);
	}
	if ((pass_fd >= 0 && add_passfd(c, before, c->out.len, pass_fd,
	    dup_fd) == -1) ||
	    (track && push(c, rq->id, &r) == -1)) {
		if (pass_fd >= 0 && c->npassfd > 0 &&
		    c->passfd[c->npassfd - 1].at == before) {
			if (c->passfd[c->npassfd - 1].owned)
				close(c->passfd[c->npassfd - 1].fd);
			c->npassfd--;
		}
		c->out.len = before;
		return -1;
	}
	if (track) {
		r->op = rq->op;
		r->keys_only = rq->keys_only;
		if (recp)
			*recp = r;
	}
	/* Until the hello's reply says max_frame, a frame that may be over
	 * it is not sent, nor any after it (their order is kept): storesd
	 * would close the connection on it.  sc__unhold() sorts them. */
	if (c->nonblock && !c->max_known && len > SP_MAX_FRAME_MIN &&
	    c->hold == SC_NOHOLD)
		c->hold = before;
	return 0;
}

/* A blocking recv() or sendmsg() waited the timeout out. */
static int
timed_out(sc_conn *c)
{
	return sc__die(c, SC_ERR_TIMEOUT, "storesd at %s did not answer "
	    "within %d ms; the connection is closed", c->path, c->timeout_ms);
}

/*
 * storesd tells a connection it is about to close why, in a frame of id
 * 0 (BUSY past max_connections).  When a send fails because it did
 * close, that frame may be waiting unread: if so, the connection dies
 * with its code and message rather than EPIPE.  Returns -1 when it did,
 * 0 when there was no such frame.
 */
static int
last_word(sc_conn *c)
{
	struct sp_reply	 rep;
	struct sp_error	 perr;
	const char	*frame;
	size_t		 avail;
	uint32_t	 len;
	ssize_t		 n;

	if (sp_buf_reserve(&c->in, READ_CHUNK) == -1)
		return 0;
	n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len,
	    MSG_DONTWAIT);
	if (n <= 0)
		return 0;
	c->in.len += (size_t)n;
	frame = c->in.data + c->in_off;
	avail = c->in.len - c->in_off;
	if (avail < SP_FRAME_HDR ||
	    avail - SP_FRAME_HDR < (len = sp_frame_len(frame)) ||
	    sp_reply_decode(frame + SP_FRAME_HDR, len, &rep, &perr) == -1 ||
	    rep.id != 0 || rep.code == SP_OK)
		return 0;
	sc__die(c, (int)rep.code, "%.*s", (int)rep.msg.n,
	    (const char *)rep.msg.p);
	c->errretry = sc__retry_ms(&rep);
	return -1;
}

/* One sendmsg() of unsent bytes, up to the next frame that passes a
 * descriptor, or that frame alone with the descriptor (storesd gives a
 * descriptor to the frame holding the last byte read with it, and a read
 * ends where the message that carries it ends).  Returns what sendmsg()
 * does. */
static ssize_t
send_some(sc_conn *c)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	size_t		 end = send_end(c);
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	if (c->npassfd > 0 && c->passfd[0].at > c->out_off)
		end = c->passfd[0].at < end ? c->passfd[0].at : end;
	else if (c->npassfd > 0) {
		end = c->passfd[0].end;
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &c->passfd[0].fd, sizeof(int));
	}
	iov.iov_base = c->out.data + c->out_off;
	iov.iov_len = end - c->out_off;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | (c->nonblock ? MSG_DONTWAIT :
	    0));
	if (n > 0 && msg.msg_controllen > 0) {
		/* The descriptor went with the first byte. */
		if (c->passfd[0].owned)
			close(c->passfd[0].fd);
		memmove(c->passfd, c->passfd + 1,
		    --c->npassfd * sizeof(*c->passfd));
	}
	return n;
}

/* Drops the bytes already sent, once they are most of the buffer, so
 * that a connection that never drains at once does not keep them. */
static void
compact_out(sc_conn *c)
{
	size_t	 i;

	if (c->out_off < 64 * 1024 || c->out_off < sc__queued(c))
		return;
	sp_buf_consume(&c->out, c->out_off);
	for (i = 0; i < c->npassfd; i++) {
		c->passfd[i].at -= c->out_off;
		c->passfd[i].end -= c->out_off;
	}
	if (c->hold != SC_NOHOLD)
		c->hold -= c->out_off;
	c->out_off = 0;
}

int
sc__write(sc_conn *c)
{
	ssize_t	 n;

	if (c->fd == -1)
		return dead_again(c);
	while (c->out_off < send_end(c)) {
		n = send_some(c);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->nonblock)
				return timed_out(c);
			compact_out(c);
			return 0;
		}
		if (n <= 0) {
			int	 e = errno;

			if (n == -1 && (e == EPIPE || e == ECONNRESET) &&
			    last_word(c) == -1)
				return -1;
			return sc__die(c, SC_ERR_IO, "sending to storesd at %s: "
			    "%s; the connection is closed", c->path,
			    n == 0 ? "nothing sent" : strerror(e));
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off < c->out.len) {
		compact_out(c);		/* the rest is held */
		return 0;
	}
	/* All sent: offsets of descriptors to pass start over. */
	c->out.len = c->out_off = 0;
	sp_buf_shrink(&c->out, 1024 * 1024);
	return 0;
}

/* ------------------------------------------------------------ receiving */

int
sc__read(sc_conn *c)
{
	size_t	 avail = c->in.len - c->in_off, need = READ_CHUNK;
	ssize_t	 n;

	if (c->fd == -1)
		return dead_again(c);
	/* Keep the partial frame at the front, then read more. */
	if (c->in_off > 0) {
		memmove(c->in.data, c->in.data + c->in_off, avail);
		c->in.len = avail;
		c->in_off = 0;
	}
	/* A frame bigger than a chunk: room for all of it at once. */
	if (avail >= SP_FRAME_HDR &&
	    SP_FRAME_HDR + (size_t)sp_frame_len(c->in.data) > avail + need)
		need = SP_FRAME_HDR + (size_t)sp_frame_len(c->in.data) - avail;
	if (sp_buf_reserve(&c->in, need) == -1)
		return sc__die(c, SC_ERR_NOMEM, "out of memory for a reply of "
		    "%zu bytes", need + avail);
	for (;;) {
		n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len,
		    c->nonblock ? MSG_DONTWAIT : 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return c->nonblock ? 0 : timed_out(c);
		if (n <= 0)
			return sc__die(c, SC_ERR_IO, "storesd at %s closed the "
			    "connection%s%s", c->path, n == 0 ? "" : ": ",
			    n == 0 ? "" : strerror(errno));
		c->in.len += (size_t)n;
		return 1;
	}
}

int
sc__next_reply(sc_conn *c, struct sp_reply *rep)
{
	struct sp_error	 perr;
	size_t		 avail;
	uint32_t	 len;
	const char	*body;

again:
	avail = c->in.len - c->in_off;
	if (avail < SP_FRAME_HDR ||
	    avail - SP_FRAME_HDR < (len = sp_frame_len(c->in.data +
	    c->in_off)))
		return 0;
	body = c->in.data + c->in_off + SP_FRAME_HDR;
	c->in_off += SP_FRAME_HDR + (size_t)len;
	c->rbody = body;
	c->rlen = len;
	if (sp_reply_decode(body, len, rep, &perr) == -1)
		return sc__die(c, SC_ERR_PROTOCOL, "%s; the connection is "
		    "closed", perr.msg);
	/* A watch's frame (id 0, naming the watch): the async API hands it
	 * to its watch's callback at once (async.c); on a blocking
	 * connection it waits on its watch. */
	if (rep->id == 0 && rep->watch != 0) {
		if (c->async != NULL)
			return 1;
		if (sc__watch_frame(c, body, len, rep) == -1)
			return -1;
		goto again;
	}
	if (rep->has_rev)
		c->last_rev = rep->rev;
	/* Id 0 is no request of ours: storesd speaks about the connection
	 * (BUSY past max_connections, TOO_LARGE past max_frame) and closes
	 * it. */
	if (rep->id == 0 && rep->code != SP_OK) {
		sc__die(c, (int)rep->code, "%.*s", (int)rep->msg.n,
		    (const char *)rep->msg.p);
		c->errretry = sc__retry_ms(rep);
		return -1;
	}
	c->progress++;
	return 1;
}

/* --------------------------------------------------------- synchronous */

/* Keeps a copy of a reply that came before its turn. */
static int
stash(sc_conn *c, struct sc_rec *r)
{
	const char	*body = c->rbody;
	uint32_t	 len = c->rlen;

	if ((r->st = malloc(sizeof(*r->st) + len)) == NULL)
		return sc__die(c, SC_ERR_NOMEM, "out of memory for a reply");
	r->st->len = len;
	memcpy(r->st->body, body, len);
	return 0;
}

/* Waits for the reply to id, keeping early replies to others. */
static int
await_id(sc_conn *c, uint64_t id, struct sp_reply *rep)
{
	struct sc_rec	*r;
	int		 rc;

	for (;;) {
		while ((rc = sc__next_reply(c, rep)) == 1) {
			if (rep->id == id)
				return 0;
			/* Replies to pipelined requests come in any order. */
			if ((r = sc__find(c, rep->id)) == NULL)
				return sc__die(c, SC_ERR_PROTOCOL, "a reply to "
				    "request %llu came while waiting for %llu; "
				    "the connection is closed",
				    (unsigned long long)rep->id,
				    (unsigned long long)id);
			if (stash(c, r) == -1)
				return -1;
		}
		if (rc == -1 || sc__read(c) == -1)
			return -1;
	}
}

int
sc__await(sc_conn *c, struct sc_rec *r, struct sp_reply *rep)
{
	struct sp_error	 perr;
	uint64_t	 id = r->id;

	/* The reply handed out last is no longer needed. */
	free(c->held);
	c->held = NULL;
	if (r->st != NULL) {
		c->held = r->st;
		r->st = NULL;
		sc__retire(c, r);
		if (sp_reply_decode(c->held->body, c->held->len, rep,
		    &perr) == -1)
			return sc__die(c, SC_ERR_PROTOCOL, "%s; the connection "
			    "is closed", perr.msg);
		return 0;
	}
	if (await_id(c, id, rep) == -1)
		return -1;
	sc__retire(c, sc__find(c, id));
	return 0;
}

int
sc__result(sc_conn *c, const struct sp_reply *rep)
{
	if (rep->code != SC_OK) {
		sc__fail(c, rep->code, "%.*s", (int)rep->msg.n,
		    rep->msg.p ? rep->msg.p : "");
		if (rep->has_index && rep->index < SC_NOINDEX)
			c->errindex = (size_t)rep->index;
		c->errretry = sc__retry_ms(rep);
		return -1;
	}
	return sc__ok(c);
}

int
sc__call(sc_conn *c, struct sp_req *rq, int pass_fd, struct sp_reply *rep)
{
	if (c->npend > 0)
		return sc__fail(c, SC_ERR_INVALID, "%zu pipelined replies (or "
		    "a streaming batch's chunks) are pending; collect them, or "
		    "commit or abort the batch, first", c->npend);
	free(c->held);
	c->held = NULL;
	if (sc__send(c, rq, pass_fd, false, false, NULL) == -1 ||
	    sc__write(c) == -1 || await_id(c, rq->id, rep) == -1)
		return -1;
	return sc__result(c, rep);
}
