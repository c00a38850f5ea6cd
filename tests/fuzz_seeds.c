/*
 * Writes the seed corpus of tests/fuzz_proto.c into a directory: one
 * file (seed-NNN) per valid request of every op and per kind of reply,
 * each as a whole frame, and a few files of several frames in a row, as
 * a pipelining client sends them.
 *
 * The seeds are built with proto/'s own encoders, so they follow the
 * wire format as it is now: the fuzzer starts from frames that get past
 * the decoders' first checks instead of having to guess field names.
 *
 *	fuzz_seeds DIR
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_frame.h"
#include "sp_mp.h"
#include "sp_msg.h"

static const char	*dir;
static int		 nseeds;

/* Batch ops of every kind, and keys, as the client encodes them. */
static struct sp_buf	 ops_buf, keys_buf;
static struct sp_array	 ops, keys;

static struct sp_bytes
B(const char *s)
{
	struct sp_bytes	 b = { s, strlen(s) };

	return b;
}

/* Byte strings with NULs in them, which B() cannot make. */
static struct sp_bytes
R(const char *p, size_t n)
{
	struct sp_bytes	 b = { p, n };

	return b;
}

static void
ok(int rc, const char *what)
{
	if (rc == -1)
		errx(1, "encoding %s failed", what);
}

/* Writes b as the next seed file and empties it. */
static void
save(struct sp_buf *b)
{
	char	 path[PATH_MAX];
	FILE	*f;
	int	 n;

	n = snprintf(path, sizeof(path), "%s/seed-%03d", dir, nseeds++);
	if (n < 0 || (size_t)n >= sizeof(path))
		errx(1, "%s: path too long", dir);
	if ((f = fopen(path, "wb")) == NULL)
		err(1, "%s", path);
	if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
		err(1, "%s", path);
	if (fclose(f) == EOF)
		err(1, "%s", path);
	b->len = 0;
}

static void
make_arrays(void)
{
	static const struct sp_batch_op	 list[] = {
		{ SP_BATCH_PUT, { NULL, 0 }, { "k1", 2 }, { "v1", 2 } },
		{ SP_BATCH_DEL, { NULL, 0 }, { "k2", 2 }, { NULL, 0 } },
		{ SP_BATCH_PUT_IF_ABSENT, { "meta", 4 }, { "\0k", 2 },
		    { "\xff", 1 } },
		{ SP_BATCH_EXPECT, { NULL, 0 }, { "k1", 2 }, { "v1", 2 } },
		{ SP_BATCH_EXPECT_ABSENT, { NULL, 0 }, { "k3", 2 },
		    { NULL, 0 } },
		{ SP_BATCH_CLEAR, { "meta", 4 }, { NULL, 0 }, { NULL, 0 } },
	};
	size_t	 i;

	for (i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		ok(sp_batch_op_encode(&ops_buf, &list[i]), "a batch op");
	ops.raw.p = ops_buf.data;
	ops.raw.n = ops_buf.len;
	ops.n = (uint32_t)i;

	ok(sp_key_encode(&keys_buf, "a", 1), "a key");
	ok(sp_key_encode(&keys_buf, "\0b", 2), "a key");
	ok(sp_key_encode(&keys_buf, "refs/heads/main", 15), "a key");
	keys.raw.p = keys_buf.data;
	keys.raw.n = keys_buf.len;
	keys.n = 3;
}

/*
 * Fills rq with the i-th sample request: every op, with all the fields
 * it may carry and with only those it needs.  Returns false past the
 * last.
 */
static bool
request(int i, struct sp_req *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->id = 100 + (uint64_t)i;
	switch (i) {
	case 0:
		rq->op = SP_OP_HELLO;
		rq->version = SP_PROTO_VERSION;
		rq->has = SP_F_VERSION;
		rq->client = B("fuzz_seeds");
		break;
	case 1:
		rq->op = SP_OP_HELLO;
		rq->version = 2;
		rq->has = SP_F_VERSION;
		break;
	case 2:
		rq->op = SP_OP_PING;
		break;
	case 3:
		rq->op = SP_OP_GET;
		rq->repo = B("ox/mnist");
		rq->store = B("refs");
		rq->db = B("refs");
		rq->key = R("k\0\xff", 3);
		break;
	case 4:
		rq->op = SP_OP_GET;
		rq->store = B("nodes");
		rq->key = B("k");
		break;
	case 5:
		rq->op = SP_OP_PUT;
		rq->repo = B("a/b.c/d_e-f");
		rq->store = B("refs");
		rq->db = B("meta");
		rq->key = B("main");
		rq->val = R("\0v\0", 3);
		break;
	case 6:
		rq->op = SP_OP_PUT;
		rq->store = B("refs");
		rq->key = B("main");
		rq->val = B("v");
		rq->if_absent = true;
		rq->has = SP_F_IF_ABSENT;
		break;
	case 7:
		rq->op = SP_OP_PUT;
		rq->store = B("refs");
		rq->key = B("main");
		rq->val = B("new");
		rq->if_equals = B("old");
		break;
	case 8:
		rq->op = SP_OP_DEL;
		rq->repo = B("r");
		rq->store = B("refs");
		rq->db = B("refs");
		rq->key = B("main");
		break;
	case 9:
		rq->op = SP_OP_DEL;
		rq->store = B("refs");
		rq->key = B("main");
		rq->if_equals = B("old");
		break;
	case 10:
		rq->op = SP_OP_SNAPSHOT;
		rq->repo = B("r");
		rq->store = B("nodes");
		rq->compact = true;
		rq->has = SP_F_COMPACT;
		break;
	case 11:
		rq->op = SP_OP_SNAPSHOT;
		rq->store = B("nodes");
		break;
	case 12:
		rq->op = SP_OP_FORK;
		rq->repo = B("a");
		rq->store = B("refs");
		rq->dst = B("b/c");
		break;
	case 13:
		rq->op = SP_OP_STATS;
		rq->repo = B("a");
		rq->store = B("refs");
		break;
	case 14:
		rq->op = SP_OP_STATS;
		break;
	case 15:
		rq->op = SP_OP_LIVE;
		rq->repo = B("a");
		rq->store = B("refs");
		break;
	case 16:
		rq->op = SP_OP_LIVE;
		break;
	case 17:
		rq->op = SP_OP_BATCH;
		rq->repo = B("r");
		rq->store = B("nodes");
		rq->db = B("nodes");
		rq->ops = ops;
		rq->bid = 9;
		rq->more = true;
		rq->has = SP_F_BID | SP_F_MORE;
		break;
	case 18:
		rq->op = SP_OP_BATCH;
		rq->store = B("nodes");
		rq->ops = ops;
		break;
	case 19:
		rq->op = SP_OP_BATCH_ABORT;
		rq->bid = 9;
		rq->has = SP_F_BID;
		break;
	case 20:
		rq->op = SP_OP_MGET;
		rq->repo = B("r");
		rq->store = B("nodes");
		rq->db = B("nodes");
		rq->keys = keys;
		break;
	case 21:
		rq->op = SP_OP_MISSING;
		rq->store = B("nodes");
		rq->keys = keys;
		break;
	case 22:
		rq->op = SP_OP_COUNT;
		rq->repo = B("r");
		rq->store = B("nodes");
		rq->db = B("nodes");
		break;
	case 23:
		rq->op = SP_OP_SCAN;
		rq->repo = B("r");
		rq->store = B("nodes");
		rq->db = B("nodes");
		rq->prefix = R("\xff", 1);
		rq->start = B("a");
		rq->end = B("z");
		rq->cursor = B("m");
		rq->limit = 10;
		rq->reverse = true;
		rq->keys_only = true;
		rq->has = SP_F_LIMIT | SP_F_REVERSE | SP_F_KEYS_ONLY;
		break;
	case 24:
		rq->op = SP_OP_SCAN;
		rq->store = B("nodes");
		rq->prefix = B("");
		break;
	default:
		return false;
	}
	return true;
}

static void
requests(struct sp_buf *b)
{
	struct sp_req	 rq;
	int		 i;

	for (i = 0; request(i, &rq); i++) {
		ok(sp_req_encode(b, &rq), sp_op_name(rq.op));
		save(b);
	}
}

/* Appends the requests numbered in list to b, as one pipelined write. */
static void
pipeline(struct sp_buf *b, const int *list, size_t n)
{
	struct sp_req	 rq;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (!request(list[i], &rq))
			errx(1, "no request %d", list[i]);
		ok(sp_req_encode(b, &rq), sp_op_name(rq.op));
	}
}

static void
pipelines(struct sp_buf *b)
{
	static const int	 session[] = { 0, 2, 5, 3, 8, 20, 22, 23 };
	static const int	 streamed[] = { 17, 17, 18, 19 };
	struct sp_req		 rq;
	int			 i;

	pipeline(b, session, sizeof(session) / sizeof(session[0]));
	save(b);
	pipeline(b, streamed, sizeof(streamed) / sizeof(streamed[0]));
	save(b);
	/* Every request in a row. */
	for (i = 0; request(i, &rq); i++)
		ok(sp_req_encode(b, &rq), sp_op_name(rq.op));
	save(b);
	/* Ends in half a frame, which the daemon waits on. */
	pipeline(b, session, 3);
	b->len -= 5;
	save(b);
}

/* ------------------------------------------------------------ replies */

static void
reply_live(struct sp_buf *b)
{
	static const struct sp_live_env	 envs[] = {
		{ { "ox/mnist", 8 }, { "refs", 4 }, { "/var/lib/s/a", 12 },
		    2, 0 },
		{ { NULL, 0 }, { "fixed", 5 }, { "/srv/fixed", 10 }, 0,
		    1500 },
	};

	ok(sp_reply_live(b, 7, envs, 2), "live");
}

static void
reply_stats(struct sp_buf *b)
{
	static const struct sp_counter	 daemon[] = {
		{ "pid", 4242 }, { "uptime_s", 99 }, { "connections", 3 },
	};
	static const struct sp_counter	 envc[] = {
		{ "map_size", 1 << 30 }, { "map_used", 81920 },
		{ "readers_max", 126 },
	};
	static const struct sp_counter	 dbc[] = {
		{ "exists", 1 }, { "entries", 12 }, { "depth", 1 },
	};
	static const struct sp_stats_db	 dbs[] = {
		{ { "refs", 4 }, dbc, 3 },
		{ { "meta", 4 }, dbc, 0 },
	};
	static const struct sp_stats_env envs[] = {
		{ { { "a", 1 }, { "refs", 4 }, { "/d/a", 4 }, 0, 0 }, envc, 3,
		    dbs, 2 },
		{ { { NULL, 0 }, { "fixed", 5 }, { "/d/f", 4 }, 0, 0 }, envc,
		    1, dbs, 1 },
	};

	ok(sp_reply_stats(b, 8, daemon, 3, envs, 2), "stats");
}

static void
reply_mget(struct sp_buf *b)
{
	struct sp_reply_w	 w;

	ok(sp_reply_mget_open(&w, b, 12, 3), "mget");
	sp_reply_w_val(&w, "a", 1);
	sp_reply_w_val(&w, NULL, 0);
	sp_reply_w_val(&w, "\0c\0", 3);
	ok(sp_reply_close(&w), "mget");
}

static void
reply_scan(struct sp_buf *b, bool keys_only, bool done)
{
	struct sp_reply_w	 w;
	struct sp_bytes		 cursor = { NULL, 0 };

	ok(sp_reply_scan_open(&w, b, 13, keys_only), "scan");
	sp_reply_w_entry(&w, "k1", 2, "v1", 2);
	sp_reply_w_entry(&w, "k2\0", 3, "", 0);
	sp_reply_w_entry(&w, "k3", 2, "\xff\xfe", 2);
	if (!done)
		cursor = B("k3");
	ok(sp_reply_scan_close(&w, cursor), "scan");
}

/* Appends reply i to b; false past the last. */
static bool
reply(int i, struct sp_buf *b)
{
	static const uint32_t	 absent[] = { 0, 2, 5, 70000 };
	struct sp_reply_w	 w;

	switch (i) {
	case 0:
		ok(sp_reply_error(b, 1, SP_NOT_FOUND, "no such key"),
		    "error");
		break;
	case 1:
		ok(sp_reply_error_at(b, 2, SP_COND_FAILED, "op 3: the key "
		    "holds another value", 3), "error_at");
		break;
	case 2:
		ok(sp_reply_ok(b, 3), "ok");
		break;
	case 3:
		ok(sp_reply_val(b, 4, "\0val\xff", 5), "val");
		break;
	case 4:
		ok(sp_reply_hello(b, 5, "storesd 1.0.0", 64 << 20), "hello");
		break;
	case 5:
		ok(sp_reply_size(b, 6, 1234567), "size");
		break;
	case 6:
		reply_live(b);
		break;
	case 7:
		reply_stats(b);
		break;
	case 8:
		ok(sp_reply_count(b, 9, 42), "count");
		break;
	case 9:
		ok(sp_reply_missing(b, 10, absent, 4), "missing");
		break;
	case 10:
		reply_mget(b);
		break;
	case 11:
		reply_scan(b, false, false);
		break;
	case 12:
		reply_scan(b, true, true);
		break;
	case 13:
		/* An empty, finished page. */
		ok(sp_reply_scan_open(&w, b, 14, false), "scan");
		ok(sp_reply_scan_close(&w, R(NULL, 0)), "scan");
		break;
	case 14:
		ok(sp_reply_error(b, 0, SP_TOO_LARGE, "a frame of 99999999 "
		    "bytes is over max_frame"), "error");
		break;
	default:
		return false;
	}
	return true;
}

static void
replies(struct sp_buf *b)
{
	int	 i;

	for (i = 0; reply(i, b); i++)
		save(b);
	/* All of them in a row, as a client reads a pipeline's answers. */
	for (i = 0; reply(i, b); i++)
		;
	save(b);
}

int
main(int argc, char *argv[])
{
	struct sp_buf	 b = { 0 };

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds dir\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0777) == -1 && errno != EEXIST)
		err(1, "%s", dir);
	make_arrays();
	requests(&b);
	pipelines(&b);
	replies(&b);
	printf("fuzz_seeds: %d seeds in %s\n", nseeds, dir);
	sp_buf_free(&b);
	sp_buf_free(&ops_buf);
	sp_buf_free(&keys_buf);
	return 0;
}
