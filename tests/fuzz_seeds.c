/*
 * Writes the seed corpus of tests/fuzz_proto.c into a directory: one
 * file (seed-NNN) per valid request of every op and per kind of reply,
 * each as a whole frame, and a few files of several frames in a row, as
 * a pipelining client sends them.
 *
 * The requests are tests/proto_samples.c's, which check_proto also
 * round-trips.  The seeds are built with proto/'s own encoders, so they follow the
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
#include "proto_samples.h"

static const char	*dir;
static int		 nseeds;

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

/*
 * Requests that decode but name something the name rules refuse, or
 * just allow: the edges of sp_repo_check() and sp_name_check(), which
 * the fuzzer would take long to find byte by byte.
 */
static void
names(struct sp_buf *b)
{
	static const char *const repos[] = {
		"a/..", "..", ".", "./a", "a/./b", "a//b", "/a", "a/", "a b",
		"a/\xc3\xa9", "...", "a/.b/..c", "",
	};
	static const char *const stores[] = {
		"-a", ".a", "a.b_c-D9", "a/b", "",
	};
	static char	 longname[SP_REPO_MAX + 2], longstore[SP_NAME_MAX + 2];
	struct sp_req	 rq;
	size_t		 i;

	for (i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		ps_request(22, &rq);		/* count */
		rq.repo = ps_str(repos[i]);
		ok(sp_req_encode(b, &rq), "count");
		save(b);
	}
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		ps_request(22, &rq);
		rq.store = ps_str(stores[i]);
		rq.db = ps_str(stores[sizeof(stores) / sizeof(stores[0]) - 1 - i]);
		ok(sp_req_encode(b, &rq), "count");
		save(b);
	}
	/* The longest names allowed, and one byte more. */
	memset(longname, 'r', sizeof(longname) - 1);
	memset(longstore, 's', sizeof(longstore) - 1);
	for (i = 0; i < 2; i++) {
		ps_request(12, &rq);		/* fork */
		rq.repo = ps_raw(longname, SP_REPO_MAX + i);
		rq.dst = ps_raw(longname, SP_REPO_MAX + 1 - i);
		rq.store = ps_raw(longstore, SP_NAME_MAX + i);
		ok(sp_req_encode(b, &rq), "fork");
		save(b);
	}
}

/* A request body packed by hand, for what sp_req_encode() cannot say. */
static void
raw_request(struct sp_buf *b, const char *op, const char *extra,
    bool trailing)
{
	msgpack_packer	 pk;
	size_t		 mark;

	ok(sp_frame_open(b, &mark), "frame");
	sp_mp_packer(&pk, b);
	msgpack_pack_map(&pk, 2 + (extra != NULL));
	sp_mp_kv_u64(&pk, "id", 77);
	sp_mp_kv_str(&pk, "op", op);
	if (extra)
		sp_mp_kv_u64(&pk, extra, 1);
	if (trailing)
		msgpack_pack_nil(&pk);
	ok(sp_frame_close(b, mark), "raw request");
	save(b);
}

/*
 * Requests each refused for one reason, so the fuzzer starts next to
 * every check of sp_req_decode(): sp_req_encode() writes whatever fields
 * it is given, valid together or not.
 */
static void
bad_requests(struct sp_buf *b)
{
	struct sp_req	 rq;

	ps_request(7, &rq);			/* put with if_equals */
	rq.if_absent = true;
	rq.has |= SP_F_IF_ABSENT;
	ok(sp_req_encode(b, &rq), "put");
	save(b);
	ps_request(18, &rq);			/* batch, last frame */
	rq.more = true;
	rq.has |= SP_F_MORE;
	ok(sp_req_encode(b, &rq), "batch");
	save(b);
	ps_request(4, &rq);			/* get */
	rq.dst = ps_str("x");
	ok(sp_req_encode(b, &rq), "get");
	save(b);
	ps_request(5, &rq);			/* put */
	rq.val.p = NULL;
	ok(sp_req_encode(b, &rq), "put");
	save(b);
	raw_request(b, "frobnicate", NULL, false);
	raw_request(b, "ping", "bogus", false);
	raw_request(b, "ping", "id", false);	/* id twice */
	raw_request(b, "ping", NULL, true);	/* a byte after the map */
}

static void
requests(struct sp_buf *b)
{
	struct sp_req	 rq;
	int		 i;

	for (i = 0; ps_request(i, &rq); i++) {
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
		if (!ps_request(list[i], &rq))
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
	for (i = 0; ps_request(i, &rq); i++)
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
		cursor = ps_str("k3");
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
		ok(sp_reply_scan_close(&w, ps_raw(NULL, 0)), "scan");
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

/*
 * Replies no writer makes but a client must read: fields from a newer
 * daemon, a stat that is not an integer, str where bin is usual, an
 * error code out of range.
 */
static void
odd_replies(struct sp_buf *b)
{
	msgpack_packer	 pk;
	size_t		 mark;

	ok(sp_frame_open(b, &mark), "frame");
	sp_mp_packer(&pk, b);
	msgpack_pack_map(&pk, 3);
	sp_mp_kv_u64(&pk, "id", 1);
	sp_mp_kv_u64(&pk, "err", (uint64_t)1 << 40);
	sp_mp_kv_str(&pk, "msg", "out of range");
	ok(sp_frame_close(b, mark), "odd reply");
	save(b);

	ok(sp_frame_open(b, &mark), "frame");
	sp_mp_packer(&pk, b);
	msgpack_pack_map(&pk, 5);
	sp_mp_kv_u64(&pk, "id", 2);
	sp_mp_str(&pk, "future");
	msgpack_pack_map(&pk, 1);
	sp_mp_str(&pk, "x");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 0.5);
	msgpack_pack_ext_with_body(&pk, "ext", 3, 1);
	sp_mp_str(&pk, "vals");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_nil(&pk);
	sp_mp_str(&pk, "as str");
	msgpack_pack_bin_with_body(&pk, "", 0);
	sp_mp_str(&pk, "entries");
	msgpack_pack_array(&pk, 1);
	sp_mp_str(&pk, "bare key");
	sp_mp_str(&pk, "cursor");
	msgpack_pack_nil(&pk);
	ok(sp_frame_close(b, mark), "odd reply");
	save(b);

	ok(sp_frame_open(b, &mark), "frame");
	sp_mp_packer(&pk, b);
	msgpack_pack_map(&pk, 3);
	sp_mp_kv_u64(&pk, "id", 3);
	sp_mp_str(&pk, "daemon");
	msgpack_pack_map(&pk, 2);
	sp_mp_str(&pk, "load");
	msgpack_pack_double(&pk, 0.25);
	sp_mp_kv_u64(&pk, "pid", 7);
	sp_mp_str(&pk, "envs");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 5);
	sp_mp_kv_str(&pk, "dir", "/d");
	sp_mp_str(&pk, "dbs");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 3);
	sp_mp_str(&pk, "counters");
	msgpack_pack_map(&pk, 1);
	sp_mp_kv_u64(&pk, "entries", 1);
	sp_mp_kv_str(&pk, "name", "main");
	sp_mp_kv_str(&pk, "new", "field");
	sp_mp_kv_str(&pk, "store", "s");
	sp_mp_str(&pk, "repo");
	msgpack_pack_nil(&pk);
	sp_mp_str(&pk, "counters");
	msgpack_pack_map(&pk, 1);
	sp_mp_kv_u64(&pk, "map_size", 4096);
	ok(sp_frame_close(b, mark), "odd reply");
	save(b);
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
	requests(&b);
	names(&b);
	bad_requests(&b);
	pipelines(&b);
	replies(&b);
	odd_replies(&b);
	printf("fuzz_seeds: %d seeds in %s\n", nseeds, dir);
	sp_buf_free(&b);
	ps_free();
	return 0;
}
