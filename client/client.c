/*
 * The connection: connect, handshake, one request and its reply, errors.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
};

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

int
sc__target(sc_conn *c, struct sp_req *rq, enum sp_op op, const char *repo,
    const char *store, const char *db)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = op;
	if (store == NULL)
		return sc__fail(c, SC_ERR_INVALID, "a store name is required");
	sc__str(&rq->repo, repo);
	sc__str(&rq->store, store);
	sc__str(&rq->db, db);
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

/* Waits until fd is ready for events, within the call's timeout. */
static int
wait_ready(sc_conn *c, short events)
{
	struct pollfd	 pfd = { c->fd, events, 0 };
	int		 rc;

	if (c->timeout_ms <= 0)
		return 0;
	do
		rc = poll(&pfd, 1, c->timeout_ms);
	while (rc == -1 && errno == EINTR);
	if (rc == 0)
		return sc__die(c, SC_ERR_TIMEOUT, "storesd at %s did not answer "
		    "within %d ms; the connection is closed", c->path,
		    c->timeout_ms);
	if (rc == -1)
		return sc__die(c, SC_ERR_IO, "poll: %s", strerror(errno));
	return 0;
}

/* Sends out's bytes; the first chunk carries pass_fd when it is >= 0. */
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
	frame = c->in.data + c->in_done;
	avail = c->in.len - c->in_done;
	if (avail < SP_FRAME_HDR ||
	    avail - SP_FRAME_HDR < (len = sp_frame_len(frame)) ||
	    sp_reply_decode(frame + SP_FRAME_HDR, len, &rep, &perr) == -1 ||
	    rep.id != 0 || rep.code == SP_OK)
		return 0;
	return sc__die(c, (int)rep.code, "%.*s", (int)rep.msg.n,
	    (const char *)rep.msg.p);
}

static int
send_all(sc_conn *c, int pass_fd)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	size_t		 off = 0;
	ssize_t		 n;

	while (off < c->out.len) {
		if (wait_ready(c, POLLOUT) == -1)
			return -1;
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = c->out.data + off;
		iov.iov_len = c->out.len - off;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (off == 0 && pass_fd >= 0) {
			memset(&cbuf, 0, sizeof(cbuf));
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = sizeof(cbuf.buf);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			int	 e = errno;

			if (n == -1 && (e == EPIPE || e == ECONNRESET) &&
			    last_word(c) == -1)
				return -1;
			return sc__die(c, SC_ERR_IO, "sending to storesd at %s: "
			    "%s; the connection is closed", c->path,
			    n == 0 ? "nothing sent" : strerror(e));
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * Reads one whole reply frame; body and len point into c->in until the
 * next read.  Returns 0 or -1 (connection dead).
 */
static int
read_frame(sc_conn *c, const char **body, uint32_t *len)
{
	size_t	 avail, need;
	ssize_t	 n;

	c->in_off = c->in_done;
	if (c->in_off == c->in.len)
		c->in.len = c->in_off = c->in_done = 0;
	for (;;) {
		avail = c->in.len - c->in_off;
		if (avail >= SP_FRAME_HDR) {
			*len = sp_frame_len(c->in.data + c->in_off);
			need = SP_FRAME_HDR + (size_t)*len;
			if (avail >= need) {
				*body = c->in.data + c->in_off + SP_FRAME_HDR;
				c->in_done = c->in_off + need;
				return 0;
			}
		} else
			need = SP_FRAME_HDR;
		/* Keep the partial frame at the front, then read more. */
		if (c->in_off > 0) {
			memmove(c->in.data, c->in.data + c->in_off, avail);
			c->in.len = avail;
			c->in_off = c->in_done = 0;
		}
		if (sp_buf_reserve(&c->in, need - avail > READ_CHUNK ?
		    need - avail : READ_CHUNK) == -1)
			return sc__die(c, SC_ERR_NOMEM, "out of memory for a "
			    "reply of %zu bytes", need);
		if (wait_ready(c, POLLIN) == -1)
			return -1;
		n = recv(c->fd, c->in.data + c->in.len,
		    c->in.cap - c->in.len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return sc__die(c, SC_ERR_IO, "storesd at %s closed the "
			    "connection%s%s", c->path, n == 0 ? "" : ": ",
			    n == 0 ? "" : strerror(errno));
		c->in.len += (size_t)n;
	}
}

int
sc__encode(sc_conn *c, struct sp_req *rq)
{
	size_t	 before = c->out.len;

	if (c->fd == -1)
		return sc__fail(c, SC_ERR_IO, "the connection is closed after "
		    "an earlier error (%s: %s); connect again",
		    sc_errname(c->dead_err), c->dead_msg);
	rq->id = ++c->next_id;
	if (sp_req_encode(&c->out, rq) == -1)
		return errno == E2BIG ? sc__fail(c, SC_ERR_TOO_LARGE,
		    "the request is over 4GiB; split it") :
		    sc__fail(c, SC_ERR_NOMEM, "out of memory");
	/* storesd would refuse it and close; say so and keep the link. */
	if (c->max_frame && c->out.len - before - SP_FRAME_HDR > c->max_frame) {
		c->out.len = before;
		return sc__fail(c, SC_ERR_TOO_LARGE, "the request is %zu "
		    "bytes; storesd's max_frame is %llu; split it or raise "
		    "max_frame", c->out.len - before - SP_FRAME_HDR,
		    (unsigned long long)c->max_frame);
	}
	return 0;
}

int
sc__flush(sc_conn *c, int pass_fd)
{
	int	 rc = send_all(c, pass_fd);

	c->out.len = 0;
	sp_buf_shrink(&c->out, 1024 * 1024);
	return rc;
}

/* Keeps a copy of a reply that came before its turn. */
static int
stash(sc_conn *c, uint64_t id, const char *body, uint32_t len)
{
	struct sc_stash	*st, **pp;

	if ((st = malloc(sizeof(*st) + len)) == NULL)
		return sc__die(c, SC_ERR_NOMEM, "out of memory for a reply");
	st->next = NULL;
	st->id = id;
	st->len = len;
	memcpy(st->body, body, len);
	for (pp = &c->stash; *pp; pp = &(*pp)->next)
		;
	*pp = st;
	return 0;
}

/* Takes the stashed reply to id, if there is one. */
static struct sc_stash *
unstash(sc_conn *c, uint64_t id)
{
	struct sc_stash	*st, **pp;

	for (pp = &c->stash; (st = *pp) != NULL; pp = &st->next) {
		if (st->id == id) {
			*pp = st->next;
			return st;
		}
	}
	return NULL;
}

/* True when id is a pipelined request still waiting for its reply. */
static bool
is_pending(const sc_conn *c, uint64_t id)
{
	size_t	 i;

	for (i = 0; i < c->npend; i++)
		if (c->pend[(c->pend_head + i) % c->pend_cap] == id)
			return true;
	return false;
}

static int
decode(sc_conn *c, const char *body, uint32_t len, struct sp_reply *rep)
{
	struct sp_error	 perr;

	if (sp_reply_decode(body, len, rep, &perr) == -1)
		return sc__die(c, SC_ERR_PROTOCOL, "%s; the connection is "
		    "closed", perr.msg);
	return 0;
}

int
sc__await(sc_conn *c, uint64_t id, struct sp_reply *rep)
{
	const char	*body = NULL;
	uint32_t	 len = 0;

	/* The reply handed out last is no longer needed. */
	free(c->held);
	c->held = NULL;
	if ((c->held = unstash(c, id)) != NULL)
		return decode(c, c->held->body, c->held->len, rep);
	for (;;) {
		if (read_frame(c, &body, &len) == -1 ||
		    decode(c, body, len, rep) == -1)
			return -1;
		if (rep->id == id)
			return 0;
		/* Id 0 is no request of ours: storesd speaks about the
		 * connection (BUSY past max_connections, TOO_LARGE past
		 * max_frame) and closes it. */
		if (rep->id == 0 && rep->code != SP_OK)
			return sc__die(c, (int)rep->code, "%.*s",
			    (int)rep->msg.n, (const char *)rep->msg.p);
		/* Replies to pipelined requests may come in any order. */
		if (!is_pending(c, rep->id))
			return sc__die(c, SC_ERR_PROTOCOL, "a reply to request "
			    "%llu came while waiting for %llu; the connection "
			    "is closed", (unsigned long long)rep->id,
			    (unsigned long long)id);
		if (stash(c, rep->id, body, len) == -1)
			return -1;
	}
}

int
sc__result(sc_conn *c, const struct sp_reply *rep)
{
	if (rep->code != SC_OK) {
		sc__fail(c, rep->code, "%.*s", (int)rep->msg.n,
		    rep->msg.p ? rep->msg.p : "");
		if (rep->has_index && rep->index < SC_NOINDEX)
			c->errindex = (size_t)rep->index;
		return -1;
	}
	c->err = SC_OK;
	c->errindex = SC_NOINDEX;
	c->errmsg[0] = '\0';
	return 0;
}

int
sc__call(sc_conn *c, struct sp_req *rq, int pass_fd, struct sp_reply *rep)
{
	if (c->npend > 0)
		return sc__fail(c, SC_ERR_INVALID, "%zu pipelined replies (or "
		    "a streaming batch's chunks) are pending; collect them, or "
		    "commit or abort the batch, first", c->npend);
	c->out.len = 0;
	if (sc__encode(c, rq) == -1 || sc__flush(c, pass_fd) == -1 ||
	    sc__await(c, rq->id, rep) == -1)
		return -1;
	return sc__result(c, rep);
}

static int
hello(sc_conn *c, const char *name)
{
	struct sp_req	 rq;
	struct sp_reply	 rep;
	char		 msg[sizeof(c->errmsg)];

	memset(&rq, 0, sizeof(rq));
	rq.op = SP_OP_HELLO;
	rq.version = SP_PROTO_VERSION;
	rq.has = SP_F_VERSION;
	if (name != NULL) {
		rq.client.p = name;
		rq.client.n = strlen(name);
	}
	if (sc__call(c, &rq, -1, &rep) == -1) {
		/* BAD_VERSION: nothing more can be said on this connection. */
		if (c->fd != -1) {
			memcpy(msg, c->errmsg, sizeof(msg));
			sc__die(c, c->err, "%s", msg);
		}
		return -1;
	}
	snprintf(c->server, sizeof(c->server), "%.*s", (int)rep.server.n,
	    rep.server.p ? rep.server.p : "");
	c->max_frame = rep.max_frame;
	return 0;
}

sc_conn *
sc_connect_opts(const struct sc_options *o)
{
	struct sockaddr_un	 sun;
	sc_conn			*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = -1;
	c->errindex = SC_NOINDEX;
	c->timeout_ms = o ? o->timeout_ms : 0;
	if (o != NULL && o->path != NULL) {
		if (snprintf(c->path, sizeof(c->path), "%s", o->path) >=
		    (int)sizeof(c->path)) {
			sc__die(c, SC_ERR_INVALID, "the socket path %s is too "
			    "long", o->path);
			return c;
		}
	} else if (sp_default_socket(c->path, sizeof(c->path)) == -1) {
		sc__die(c, SC_ERR_INVALID, "the default socket path is too "
		    "long; set STORESD_SOCKET");
		return c;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		sc__die(c, SC_ERR_CONNECT, "socket: %s", strerror(errno));
		return c;
	}
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		sc__die(c, SC_ERR_CONNECT, "cannot connect to storesd at %s: "
		    "%s; is storesd running? (start it, or point "
		    "STORESD_SOCKET or -s at its socket)", c->path,
		    strerror(errno));
		return c;
	}
	hello(c, o ? o->client_name : NULL);
	return c;
}

sc_conn *
sc_connect(const char *path)
{
	struct sc_options	 o;

	memset(&o, 0, sizeof(o));
	o.path = path;
	return sc_connect_opts(&o);
}

void
sc_close(sc_conn *c)
{
	struct sc_stash	*st;

	if (c == NULL)
		return;
	while ((st = c->stash) != NULL) {
		c->stash = st->next;
		free(st);
	}
	free(c->held);
	free(c->pend);
	if (c->fd != -1)
		close(c->fd);
	sp_buf_free(&c->in);
	sp_buf_free(&c->out);
	free(c);
}
