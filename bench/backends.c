/*
 * The two backends the same workloads run against: storesd through
 * libstoreclient and Redis through hiredis, both on Unix sockets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "bench.h"
#include "storeclient.h"

struct conn {
	const struct backend	*be;
	sc_conn			*sc;
	redisContext		*rc;
	const char		*store;
};

/* ------------------------------------------------------------- storesd */

static const char *const stores[T_NTABLES] = { "kv", "kvnone", "bulk",
	"kvhist" };

static struct conn *
sd_connect(const struct backend *be, int table)
{
	struct conn	*c = calloc(1, sizeof(*c));

	c->be = be;
	c->store = stores[table];
	c->sc = sc_connect(be->path);
	if (c->sc == NULL || sc_errcode(c->sc) != SC_OK) {
		fprintf(stderr, "bench: storesd: %s\n", sc_errmsg(c->sc));
		sc_close(c->sc);
		free(c);
		return NULL;
	}
	return c;
}

static void
sd_close(struct conn *c)
{
	sc_close(c->sc);
	free(c);
}

static int
sd_get(struct conn *c, const char *k, size_t kn)
{
	void	*v;
	size_t	 n;

	if (sc_get(c->sc, NULL, c->store, NULL, k, kn, &v, &n) == 0) {
		sc_free(v);
		return 0;
	}
	return sc_errcode(c->sc) == SC_ERR_NOT_FOUND ? 1 : -1;
}

static int
sd_put(struct conn *c, const char *k, size_t kn, const void *v, size_t vn)
{
	return sc_put(c->sc, NULL, c->store, NULL, k, kn, v, vn);
}

static int
sd_get_many(struct conn *c, char (*keys)[16], size_t n)
{
	const void	*v;
	size_t		 i, vn;
	int		 rc = 0;

	for (i = 0; i < n; i++)
		if (sc_append_get(c->sc, NULL, c->store, NULL, keys[i],
		    strlen(keys[i])) == -1)
			return -1;
	for (i = 0; i < n; i++)
		if (sc_collect(c->sc, &v, &vn) == -1 &&
		    sc_errcode(c->sc) != SC_ERR_NOT_FOUND)
			rc = -1;
	return rc;
}

static int
sd_put_batch(struct conn *c, const char *repo, char (*keys)[16], size_t n,
    const void *v, size_t vn)
{
	sc_batch	*b = sc_batch_begin(c->sc, repo, c->store, NULL);
	size_t		 i;

	for (i = 0; i < n; i++)
		if (sc_batch_put(b, NULL, keys[i], strlen(keys[i]), v, vn) == -1)
			break;
	return sc_batch_commit(b);
}

const struct backend be_storesd = {
	"storesd", sd_connect, sd_close, sd_get, sd_put, sd_get_many,
	sd_put_batch, NULL, 0
};

/* --------------------------------------------------------------- redis */

static struct conn *
rd_connect(const struct backend *be, int table)
{
	struct conn	*c = calloc(1, sizeof(*c));

	(void)table;	/* redis durability is the server's setting */
	c->be = be;
	c->rc = redisConnectUnix(be->path);
	if (c->rc == NULL || c->rc->err) {
		fprintf(stderr, "bench: redis: %s\n",
		    c->rc ? c->rc->errstr : "out of memory");
		if (c->rc)
			redisFree(c->rc);
		free(c);
		return NULL;
	}
	return c;
}

static void
rd_close(struct conn *c)
{
	redisFree(c->rc);
	free(c);
}

static int
rd_get(struct conn *c, const char *k, size_t kn)
{
	redisReply	*r = redisCommand(c->rc, "GET %b", k, kn);
	int		 rc;

	if (r == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STRING ? 0 :
	    r->type == REDIS_REPLY_NIL ? 1 : -1;
	freeReplyObject(r);
	return rc;
}

static int
rd_put(struct conn *c, const char *k, size_t kn, const void *v, size_t vn)
{
	redisReply	*r = redisCommand(c->rc, "SET %b %b", k, kn, v, vn);
	int		 rc;

	if (r == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STATUS ? 0 : -1;
	freeReplyObject(r);
	return rc;
}

static int
rd_get_many(struct conn *c, char (*keys)[16], size_t n)
{
	redisReply	*r;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < n; i++)
		if (redisAppendCommand(c->rc, "GET %b", keys[i],
		    strlen(keys[i])) != REDIS_OK)
			return -1;
	for (i = 0; i < n; i++) {
		if (redisGetReply(c->rc, (void **)&r) != REDIS_OK)
			return -1;
		if (r->type == REDIS_REPLY_ERROR)
			rc = -1;
		freeReplyObject(r);
	}
	return rc;
}

const struct backend be_redis = {
	"redis", rd_connect, rd_close, rd_get, rd_put, rd_get_many, NULL,
	NULL, 0
};

/* ------------------------------------------------------------ counters */

int
store_commits(const struct backend *be, int table, uint64_t *commits,
    uint64_t *writes)
{
	sc_conn		*c;
	sc_stats	*s = NULL;
	int		 rc = -1;

	if (strcmp(be->name, "storesd") != 0)
		return -1;
	c = sc_connect(be->path);
	if (c && sc_errcode(c) == SC_OK &&
	    sc_get_stats(c, NULL, stores[table], &s) == 0 && s->nenvs == 1) {
		*commits = sc_counter_get(s->envs[0].counters,
		    s->envs[0].ncounters, "commits", 0);
		*writes = sc_counter_get(s->envs[0].counters,
		    s->envs[0].ncounters, "writes", 0);
		rc = 0;
	}
	sc_stats_free(s);
	sc_close(c);
	return rc;
}
