#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "itest.h"
#include "sp_frame.h"

int
it_run(const char *fmt, ...)
{
	char	 cmd[2048];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

void
it_up(struct hs_daemon *d, const char *conf)
{
	if (hs_up(d, conf) == -1) {
		fprintf(stderr, "cannot start storesd\n");
		exit(1);
	}
}

void
it_down(struct hs_daemon *d, int *bad)
{
	int	 rc = hs_stop(d);

	if (rc != 0) {
		fprintf(stderr, "storesd exited with %d\n", rc);
		(*bad)++;
	}
	hs_cleanup(d);
}

sc_conn *
it_conn(const struct hs_daemon *d)
{
	sc_conn	*c = sc_connect(d->sock);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(sc_errcode(c) == SC_OK, "connect: %s", sc_errmsg(c));
	return c;
}

void
it_assert_val(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen, const void *want,
    size_t wlen)
{
	void	*v;
	size_t	 n;

	ck_assert_msg(sc_get(c, repo, store, db, key, klen, &v, &n) == 0,
	    "get: %s", sc_errmsg(c));
	ck_assert_uint_eq(n, wlen);
	ck_assert_int_eq(memcmp(v, want, wlen), 0);
	sc_free(v);
}

void
it_assert_absent(sc_conn *c, const char *repo, const char *store,
    const char *db, const void *key, size_t klen)
{
	void	*v;
	size_t	 n;

	EXPECT_ERR(c, sc_get(c, repo, store, db, key, klen, &v, &n),
	    SC_ERR_NOT_FOUND);
}

bool
it_exists(const struct hs_daemon *d, const char *rel)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	snprintf(path, sizeof(path), "%s/%s", d->data, rel);
	return stat(path, &sb) == 0;
}

void
it_wait_closed(const struct hs_daemon *d, const char *repo)
{
	sc_conn	*c = it_conn(d);
	sc_live	*l = NULL;
	size_t	 n = 1;
	int	 i;

	for (i = 0; i < hs_tries(20) && n > 0; i++) {
		ck_assert_int_eq(sc_get_live(c, repo, NULL, &l), 0);
		n = l->n;
		sc_live_free(l);
		if (n > 0)
			poll(NULL, 0, 20);
	}
	ck_assert_msg(n == 0, "the idle env of %s was not closed", repo);
	sc_close(c);
}

int
it_raw_connect(const struct hs_daemon *d)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d->sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

bool
it_listening(const struct hs_daemon *d)
{
	struct sockaddr_un	 sun;
	int			 fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return false;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

void
it_raw_send(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

void
it_raw_req(int fd, const struct sp_req *rq)
{
	struct sp_buf	 b = { 0 };

	ck_assert_int_eq(sp_req_encode(&b, rq), 0);
	it_raw_send(fd, b.data, b.len);
	sp_buf_free(&b);
}

int
it_raw_reply(int fd, struct sp_buf *b, struct sp_reply *rep)
{
	struct sp_error	 err;
	char		 hdr[SP_FRAME_HDR];
	uint32_t	 len;
	size_t		 got = 0;
	ssize_t		 n;

	while (got < sizeof(hdr)) {
		if ((n = recv(fd, hdr + got, sizeof(hdr) - got, 0)) <= 0)
			return -1;
		got += (size_t)n;
	}
	len = sp_frame_len(hdr);
	b->len = 0;
	ck_assert_int_eq(sp_buf_reserve(b, len), 0);
	for (got = 0; got < len; got += (size_t)n)
		ck_assert_int_gt(n = recv(fd, b->data + got, len - got, 0), 0);
	b->len = len;
	ck_assert_int_eq(sp_reply_decode(b->data, len, rep, &err), 0);
	return 0;
}

const sc_scan_opts *
it_scan_opts(const struct it_scan *s)
{
	static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
	static pthread_t	 owner;
	static bool		 owned;
	static sc_scan_opts	*ring[8];
	static unsigned		 next;
	sc_scan_opts		*o;
	bool			 mine;

	if (s == NULL)
		return NULL;
	/* The ring is one thread's: another thread's calls would free what
	 * this one has not passed to sc_scan_begin() yet (a crash now and
	 * then under load).  Refuse it every time rather than sometimes. */
	pthread_mutex_lock(&lock);
	if (!owned) {
		owner = pthread_self();
		owned = true;
	}
	mine = pthread_equal(owner, pthread_self());
	pthread_mutex_unlock(&lock);
	ck_assert_msg(mine, "IT_SCAN()/it_scan_opts() called from a second "
	    "thread; a test's threads build their own sc_scan_opts");
	o = sc_scan_opts_new();
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(sc_scan_opts_set_prefix(o, s->prefix,
	    s->prefix ? s->prefix_len : 0), 0);
	ck_assert_int_eq(sc_scan_opts_set_start(o, s->start, s->start_len), 0);
	ck_assert_int_eq(sc_scan_opts_set_end(o, s->end, s->end_len), 0);
	if (s->has_limit)
		ck_assert_int_eq(sc_scan_opts_set_limit(o, s->limit), 0);
	ck_assert_int_eq(sc_scan_opts_set_reverse(o, s->reverse), 0);
	ck_assert_int_eq(sc_scan_opts_set_keys_only(o, s->keys_only), 0);
	/* Freed a few calls later: a test passes it straight to a call. */
	sc_scan_opts_free(ring[next % 8]);
	ring[next++ % 8] = o;
	return o;
}

static void *
reader_main(void *arg)
{
	struct it_reader	*r = arg;
	sc_conn			*c = sc_connect(r->sock);
	void			*v;
	size_t			 n;

	while (!atomic_load(&r->stop)) {
		if (sc_get(c, r->repo, r->store, NULL, r->key, strlen(r->key),
		    &v, &n) == 0) {
			sc_free(v);
			atomic_fetch_add(&r->reads, 1);
			continue;
		}
		atomic_fetch_add(&r->errors, 1);
		snprintf(r->last_err, sizeof(r->last_err), "%s: %s",
		    sc_errname(sc_errcode(c)), sc_errmsg(c));
		if (sc_errcode(c) >= SC_ERR_CONNECT)
			break;
	}
	sc_close(c);
	return NULL;
}

void
it_reader_start(struct it_reader *r, const char *sock, const char *repo,
    const char *store, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->sock = sock;
	r->repo = repo;
	r->store = store;
	r->key = key;
	ck_assert_int_eq(pthread_create(&r->t, NULL, reader_main, r), 0);
}

long
it_reader_stop(struct it_reader *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->t, NULL);
	return atomic_load(&r->errors);
}
