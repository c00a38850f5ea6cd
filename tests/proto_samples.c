/*
 * proto_samples.c: the sample requests of every op; see proto_samples.h.
 */
#include <err.h>
#include <stdbool.h>
#include <string.h>

#include "sp_buf.h"
#include "sp_msg.h"
#include "proto_samples.h"

/* Batch ops of every kind, and keys, as the client encodes them. */
static struct sp_buf	 ops_buf, keys_buf, big_buf;
static struct sp_array	 ops, keys, big_ops;
static char		 big_val[300];
static bool		 encoded;

struct sp_bytes
ps_str(const char *s)
{
	struct sp_bytes	 b = { s, s ? strlen(s) : 0 };

	return b;
}

struct sp_bytes
ps_raw(const char *p, size_t n)
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

	/* Longer headers: a db name of str8, a value of bin16. */
	{
		struct sp_batch_op	 op = { SP_BATCH_PUT,
		    { "a_db_name_of_40_bytes_for_str8_hdr_xxxx", 40 },
		    { "k", 1 }, { big_val, sizeof(big_val) } };

		memset(big_val, 'v', sizeof(big_val));
		ok(sp_batch_op_encode(&big_buf, &op), "a batch op");
		big_ops.raw.p = big_buf.data;
		big_ops.raw.n = big_buf.len;
		big_ops.n = 1;
	}

	ok(sp_key_encode(&keys_buf, "a", 1), "a key");
	ok(sp_key_encode(&keys_buf, "\0b", 2), "a key");
	ok(sp_key_encode(&keys_buf, "refs/heads/main", 15), "a key");
	keys.raw.p = keys_buf.data;
	keys.raw.n = keys_buf.len;
	keys.n = 3;
}

bool
ps_request(int i, struct sp_req *rq)
{
	if (!encoded) {
		make_arrays();
		encoded = true;
	}
	memset(rq, 0, sizeof(*rq));
	rq->id = 100 + (uint64_t)i;
	switch (i) {
	case 0:
		rq->op = SP_OP_HELLO;
		rq->version = SP_PROTO_VERSION;
		rq->has = SP_F_VERSION;
		rq->client = ps_str("fuzz_seeds");
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
		rq->repo = ps_str("ox/mnist");
		rq->store = ps_str("refs");
		rq->db = ps_str("refs");
		rq->key = ps_raw("k\0\xff", 3);
		break;
	case 4:
		rq->op = SP_OP_GET;
		rq->store = ps_str("nodes");
		rq->key = ps_str("k");
		break;
	case 5:
		rq->op = SP_OP_PUT;
		rq->repo = ps_str("a/b.c/d_e-f");
		rq->store = ps_str("refs");
		rq->db = ps_str("meta");
		rq->key = ps_str("main");
		rq->val = ps_raw("\0v\0", 3);
		break;
	case 6:
		rq->op = SP_OP_PUT;
		rq->store = ps_str("refs");
		rq->key = ps_str("main");
		rq->val = ps_str("v");
		rq->if_absent = true;
		rq->has = SP_F_IF_ABSENT;
		break;
	case 7:
		rq->op = SP_OP_PUT;
		rq->store = ps_str("refs");
		rq->key = ps_str("main");
		rq->val = ps_str("new");
		rq->if_equals = ps_str("old");
		break;
	case 8:
		rq->op = SP_OP_DEL;
		rq->repo = ps_str("r");
		rq->store = ps_str("refs");
		rq->db = ps_str("refs");
		rq->key = ps_str("main");
		break;
	case 9:
		rq->op = SP_OP_DEL;
		rq->store = ps_str("refs");
		rq->key = ps_str("main");
		rq->if_equals = ps_str("old");
		break;
	case 10:
		rq->op = SP_OP_SNAPSHOT;
		rq->repo = ps_str("r");
		rq->store = ps_str("nodes");
		rq->compact = true;
		rq->has = SP_F_COMPACT;
		break;
	case 11:
		rq->op = SP_OP_SNAPSHOT;
		rq->store = ps_str("nodes");
		break;
	case 12:
		rq->op = SP_OP_FORK;
		rq->repo = ps_str("a");
		rq->store = ps_str("refs");
		rq->dst = ps_str("b/c");
		break;
	case 13:
		rq->op = SP_OP_STATS;
		rq->repo = ps_str("a");
		rq->store = ps_str("refs");
		break;
	case 14:
		rq->op = SP_OP_STATS;
		break;
	case 15:
		rq->op = SP_OP_LIVE;
		rq->repo = ps_str("a");
		rq->store = ps_str("refs");
		break;
	case 16:
		rq->op = SP_OP_LIVE;
		break;
	case 17:
		rq->op = SP_OP_BATCH;
		rq->repo = ps_str("r");
		rq->store = ps_str("nodes");
		rq->db = ps_str("nodes");
		rq->ops = ops;
		rq->bid = 9;
		rq->more = true;
		rq->has = SP_F_BID | SP_F_MORE;
		break;
	case 18:
		rq->op = SP_OP_BATCH;
		rq->store = ps_str("nodes");
		rq->ops = ops;
		break;
	case 19:
		rq->op = SP_OP_BATCH_ABORT;
		rq->bid = 9;
		rq->has = SP_F_BID;
		break;
	case 20:
		rq->op = SP_OP_MGET;
		rq->repo = ps_str("r");
		rq->store = ps_str("nodes");
		rq->db = ps_str("nodes");
		rq->keys = keys;
		break;
	case 21:
		rq->op = SP_OP_MISSING;
		rq->store = ps_str("nodes");
		rq->keys = keys;
		break;
	case 22:
		rq->op = SP_OP_COUNT;
		rq->repo = ps_str("r");
		rq->store = ps_str("nodes");
		rq->db = ps_str("nodes");
		break;
	case 23:
		rq->op = SP_OP_SCAN;
		rq->repo = ps_str("r");
		rq->store = ps_str("nodes");
		rq->db = ps_str("nodes");
		rq->prefix = ps_raw("\xff", 1);
		rq->start = ps_str("a");
		rq->end = ps_str("z");
		rq->cursor = ps_str("m");
		rq->limit = 10;
		rq->reverse = true;
		rq->keys_only = true;
		rq->has = SP_F_LIMIT | SP_F_REVERSE | SP_F_KEYS_ONLY;
		break;
	case 24:
		rq->op = SP_OP_SCAN;
		rq->store = ps_str("nodes");
		rq->prefix = ps_str("");
		break;
	case 25:
		rq->op = SP_OP_BATCH;
		rq->store = ps_str("nodes");
		rq->ops = big_ops;
		break;
	case 26:
		rq->op = SP_OP_REPOS;
		rq->store = ps_str("nodes");
		rq->prefix = ps_str("ox/");
		break;
	case 27:
		rq->op = SP_OP_CREATE;
		rq->repo = ps_str("ox/mnist");
		break;
	case 28:
		rq->op = SP_OP_DROP;
		rq->repo = ps_str("ox/mnist");
		rq->store = ps_str("nodes");
		break;
	case 29:
		rq->op = SP_OP_RESTORE;
		rq->repo = ps_str("ox/mnist");
		rq->store = ps_str("nodes");
		rq->replace = true;
		rq->has = SP_F_REPLACE;
		break;
	case 30:
		rq->op = SP_OP_WATCH;
		rq->repo = ps_str("ox/mnist");
		rq->store = ps_str("nodes");
		rq->prefix = ps_str("refs/");
		rq->from = 42;
		rq->has = SP_F_FROM;
		break;
	case 31:
		rq->op = SP_OP_UNWATCH;
		rq->watch = 7;
		rq->has = SP_F_WATCH;
		break;
	case 32:
		rq->op = SP_OP_REV;
		rq->store = ps_str("nodes");
		break;
	default:
		return false;
	}
	return true;
}

int
ps_nrequests(void)
{
	struct sp_req	 rq;
	int		 n;

	for (n = 0; ps_request(n, &rq); n++)
		;
	return n;
}

void
ps_free(void)
{
	sp_buf_free(&ops_buf);
	sp_buf_free(&keys_buf);
	sp_buf_free(&big_buf);
	encoded = false;
}
