/*
 * libFuzzer harness over proto/: the frame decoder, request validation
 * and the reply decoders.
 *
 * The input is a byte stream of frames as storesd reads it from a
 * socket.  Every complete body goes through everything the daemon runs
 * on untrusted bytes (sp_req_decode, the batch ops, the keys, the names)
 * and everything libstoreclient runs on a reply (sp_reply_decode and the
 * iterators and decoders of its nested parts), since a client must
 * survive a broken or hostile daemon too.
 *
 * Each body is copied into a buffer of exactly its size, and each array
 * into one of exactly the array's size before it is walked: the daemon's
 * input buffer and the frames after this one would otherwise hide a read
 * past the end from ASan.  Every byte string a decoder hands out is read
 * in full (touch()), so a pointer or length past the input is caught
 * where it is handed out, not later by luck.
 *
 * Invariants that must hold for any input are checked with abort(), which
 * libFuzzer reports as a crash with the input that caused it: where a
 * decoder's output must lie, the error it must set, the order of its
 * callbacks, that a walk of n elements uses up exactly the bytes
 * sp__read_array counted for them, that what decodes re-encodes (with
 * the writers the daemon and the client use) to something that decodes
 * the same, and that the name checks agree with the rules written again
 * here.
 *
 * A custom mutator keeps frame lengths true while it mutates a body, or
 * the fuzzer would spend nearly all its time on frames cut short.
 *
 *	make fuzz		(tests/fuzz.mk)
 *	build/fuzz/fuzz_proto build/fuzz/crash-...	replays one input
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_frame.h"
#include "sp_mp.h"
#include "sp_msg.h"
#include "sp_names.h"

/* The daemon refuses frames over max_frame and closes; 1 MiB keeps the
 * fuzzer fast and is far above anything it builds. */
#define FUZZ_MAX_FRAME	(1024 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Where the bytes read by touch() go, so the reads cannot be optimised
 * away. */
static volatile uint64_t sink;

/* A region of memory a decoder was given: what it hands out must lie in
 * it. */
struct region {
	const char	*lo;
	const char	*hi;	/* one past the end */
};

#define CHECK(cond)	do {						\
	if (!(cond))							\
		fail(__func__, __LINE__, #cond);			\
} while (0)

static void __attribute__((noreturn))
fail(const char *fn, int line, const char *what)
{
	fprintf(stderr, "fuzz_proto: %s:%d: invariant broken: %s\n", fn,
	    line, what);
	abort();
}

/*
 * Checks that b lies inside r, then reads every byte of it.  An absent
 * string (p NULL) must have n 0.  Compared as integers: pointers into
 * different objects may not be compared in C.
 */
static void
touch(struct sp_bytes b, const struct region *r)
{
	uintptr_t	 p = (uintptr_t)b.p, lo = (uintptr_t)r->lo;
	uintptr_t	 hi = (uintptr_t)r->hi;
	uint64_t	 sum = 0;
	size_t		 i;

	if (b.p == NULL) {
		CHECK(b.n == 0);
		return;
	}
	CHECK(p >= lo && p <= hi && b.n <= hi - p);
	for (i = 0; i < b.n; i++)
		sum += (unsigned char)b.p[i];
	sink += sum;
}

/* An error must carry the code the function documents and a message. */
static void
check_err(const struct sp_error *err, int code)
{
	CHECK(err->code == code);
	CHECK(err->msg[0] != '\0');
	CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
}

static void
err_reset(struct sp_error *err)
{
	memset(err, 0, sizeof(*err));
	err->code = -1;
}

/* A copy of exactly n bytes (ASan's redzone starts right after). */
static char *
dup_exact(const void *p, size_t n)
{
	char	*c;

	if ((c = malloc(n ? n : 1)) == NULL)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

static bool
bytes_eq(struct sp_bytes a, struct sp_bytes b)
{
	if (a.p == NULL || b.p == NULL)
		return a.p == b.p && a.n == b.n;
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* ------------------------------------------------------------- names */

static bool
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/*
 * The repo rule of sp_names.h, written again the plain way: names reach
 * the filesystem, so sp_repo_check() must agree with it on every input,
 * both ways.
 */
static bool
repo_ok(struct sp_bytes r)
{
	size_t	 i, start = 0;

	if (r.p == NULL || r.n == 0 || r.n > SP_REPO_MAX)
		return false;
	for (i = 0; i <= r.n; i++) {
		if (i < r.n && r.p[i] != '/') {
			if (!name_char((unsigned char)r.p[i]))
				return false;
			continue;
		}
		if (i == start)
			return false;		/* empty component */
		if (i - start == 1 && r.p[start] == '.')
			return false;
		if (i - start == 2 && r.p[start] == '.' &&
		    r.p[start + 1] == '.')
			return false;
		start = i + 1;
	}
	return true;
}

static bool
name_ok(struct sp_bytes s)
{
	size_t	 i;

	if (s.p == NULL || s.n == 0 || s.n > SP_NAME_MAX || s.p[0] == '.' ||
	    s.p[0] == '-')
		return false;
	for (i = 0; i < s.n; i++)
		if (!name_char((unsigned char)s.p[i]))
			return false;
	return true;
}

static void
check_repo(struct sp_bytes r)
{
	struct sp_error	 err;
	int		 rc;

	err_reset(&err);
	rc = sp_repo_check(r, &err);
	CHECK((rc == 0) == repo_ok(r));
	if (rc == -1)
		check_err(&err, SP_BAD_REPO);
	/* A NULL err is allowed (sp_seterr). */
	CHECK(sp_repo_check(r, NULL) == rc);
}

static void
check_name(struct sp_bytes s)
{
	CHECK((sp_name_check(s) == 0) == name_ok(s));
}

/* ---------------------------------------------------------- requests */

/* Which fields each batch op takes (PROTOCOL.md, "batch"). */
static void
check_batch_op(const struct sp_batch_op *op)
{
	bool	 key, val;

	CHECK(sp_batch_kind_name(op->kind) != NULL);
	switch (op->kind) {
	case SP_BATCH_PUT:
	case SP_BATCH_PUT_IF_ABSENT:
	case SP_BATCH_EXPECT:
		key = val = true;
		break;
	case SP_BATCH_DEL:
	case SP_BATCH_EXPECT_ABSENT:
		key = true;
		val = false;
		break;
	case SP_BATCH_CLEAR:
		key = val = false;
		break;
	default:
		fail(__func__, __LINE__, "unknown batch kind");
	}
	CHECK((op->key.p != NULL) == key);
	CHECK((op->val.p != NULL) == val);
}

/*
 * An op encoded by the client's hand-written encoder must decode to
 * itself, and use up exactly the bytes written.
 */
static void
batch_op_round_trip(const struct sp_batch_op *op)
{
	struct sp_buf		 b = { 0 };
	struct sp_batch_op	 again;
	struct sp_mp_rd		 rd;
	struct sp_error		 err;
	char			*copy;

	if (sp_batch_op_encode(&b, op) == -1) {
		/* The only refusal besides ENOMEM: a db name over 255. */
		CHECK(op->db.p != NULL && op->db.n > 255);
		sp_buf_free(&b);
		return;
	}
	copy = dup_exact(b.data, b.len);
	sp_mp_rd_init(&rd, copy, b.len);
	err_reset(&err);
	CHECK(sp_batch_next(&rd, &again, &err) == 0);
	CHECK((const char *)rd.p == copy + b.len);
	CHECK(again.kind == op->kind);
	CHECK(bytes_eq(again.db, op->db));
	CHECK(bytes_eq(again.key, op->key));
	CHECK(bytes_eq(again.val, op->val));
	free(copy);
	sp_buf_free(&b);
}

static void
walk_ops(const struct sp_array *ops)
{
	struct sp_batch_op	 op;
	struct sp_mp_rd		 rd;
	struct sp_error		 err;
	struct region		 r;
	char			*copy;
	uint32_t		 i;

	/* The daemon too walks a copy of the ops (job_copy). */
	copy = dup_exact(ops->raw.p, ops->raw.n);
	r.lo = copy;
	r.hi = copy + ops->raw.n;
	sp_mp_rd_init(&rd, copy, ops->raw.n);
	for (i = 0; i < ops->n; i++) {
		err_reset(&err);
		if (sp_batch_next(&rd, &op, &err) == -1) {
			check_err(&err, SP_BAD_REQUEST);
			break;
		}
		check_batch_op(&op);
		touch(op.db, &r);
		touch(op.key, &r);
		touch(op.val, &r);
		if (op.db.p)
			check_name(op.db);
		batch_op_round_trip(&op);
	}
	/* sp__read_array counted exactly n objects; n ops use them up. */
	if (i == ops->n)
		CHECK(rd.p == rd.end);
	free(copy);
}

static void
walk_keys(const struct sp_array *keys)
{
	struct sp_bytes	 k;
	struct sp_mp_rd	 rd;
	struct region	 r;
	char		*copy;
	uint32_t	 i;

	copy = dup_exact(keys->raw.p, keys->raw.n);
	r.lo = copy;
	r.hi = copy + keys->raw.n;
	sp_mp_rd_init(&rd, copy, keys->raw.n);
	for (i = 0; i < keys->n; i++) {
		if (sp_mp_read_bytes(&rd, &k) == -1)
			break;
		CHECK(k.p != NULL);
		touch(k, &r);
	}
	if (i == keys->n)
		CHECK(rd.p == rd.end);
	free(copy);
}

/* The byte fields of a request, for the checks that cover them all. */
#define REQ_BYTES(X)							\
	X(repo, SP_F_REPO) X(store, SP_F_STORE) X(db, SP_F_DB)		\
	X(key, SP_F_KEY) X(val, SP_F_VAL) X(dst, SP_F_DST)		\
	X(client, SP_F_CLIENT) X(if_equals, SP_F_IF_EQUALS)		\
	X(prefix, SP_F_PREFIX) X(start, SP_F_START) X(end, SP_F_END)	\
	X(cursor, SP_F_CURSOR)

static void
check_req_eq(const struct sp_req *a, const struct sp_req *b)
{
#define REQ_EQ(f, bit)	CHECK(bytes_eq(a->f, b->f));
	REQ_BYTES(REQ_EQ)
#undef REQ_EQ
	CHECK(a->id == b->id);
	CHECK(a->op == b->op);
	CHECK(a->has == b->has);
	CHECK(a->version == b->version);
	CHECK(a->compact == b->compact);
	CHECK(a->bid == b->bid);
	CHECK(a->more == b->more);
	CHECK(a->if_absent == b->if_absent);
	CHECK(a->limit == b->limit);
	CHECK(a->reverse == b->reverse);
	CHECK(a->keys_only == b->keys_only);
	CHECK(a->ops.n == b->ops.n && bytes_eq(a->ops.raw, b->ops.raw));
	CHECK(a->keys.n == b->keys.n && bytes_eq(a->keys.raw, b->keys.raw));
}

/*
 * A request that decoded must encode (as a client would send it) to a
 * frame that decodes to the same request, and encoding is deterministic.
 */
static void
req_round_trip(const struct sp_req *req)
{
	struct sp_buf	 b = { 0 }, b2 = { 0 };
	struct sp_req	 again;
	struct sp_error	 err;
	char		*body;
	size_t		 n;

	CHECK(sp_req_encode(&b, req) == 0);
	CHECK(b.len >= SP_FRAME_HDR);
	n = b.len - SP_FRAME_HDR;
	CHECK(sp_frame_len(b.data) == n);
	body = dup_exact(b.data + SP_FRAME_HDR, n);
	err_reset(&err);
	CHECK(sp_req_decode(body, n, &again, &err) == 0);
	check_req_eq(req, &again);
	CHECK(sp_req_encode(&b2, &again) == 0);
	CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
	free(body);
	sp_buf_free(&b2);
	sp_buf_free(&b);
}

/*
 * storesd's decoding, which leaves a long keys array for the reader to
 * walk (sp_req_decode_defer, sp_keys_check), accepts exactly the requests
 * the full decoding and the keys check accept, as the same request.
 */
static void
defer_agrees(const char *body, size_t n)
{
	struct sp_req	 full, lazy;
	struct sp_error	 err;
	bool		 full_ok, lazy_ok;

	err_reset(&err);
	full_ok = sp_req_decode(body, n, &full, &err) == 0 &&
	    (!(full.has & SP_F_KEYS) || sp_keys_check(&full.keys, &err) == 0);
	err_reset(&err);
	lazy_ok = sp_req_decode_defer(body, n, &lazy, 1, &err) == 0 &&
	    (!(lazy.has & SP_F_KEYS) || sp_keys_check(&lazy.keys, &err) == 0);
	CHECK(full_ok == lazy_ok);
	if (full_ok)
		check_req_eq(&full, &lazy);
}

static void
one_request(const char *body, size_t n)
{
	struct sp_req	 req;
	struct sp_error	 err;
	struct region	 r = { body, body + n };

	defer_agrees(body, n);
	err_reset(&err);
	if (sp_req_decode(body, n, &req, &err) == -1) {
		check_err(&err, SP_BAD_REQUEST);
		return;
	}
	CHECK(sp_op_name(req.op) != NULL);
	CHECK(req.has & SP_F_ID);
	CHECK(req.has & SP_F_OP);
	/* A field is present exactly when its bit is set. */
#define REQ_HAS(f, bit)							\
	CHECK((req.f.p != NULL) == ((req.has & (bit)) != 0));		\
	touch(req.f, &r);
	REQ_BYTES(REQ_HAS)
#undef REQ_HAS
	CHECK((req.ops.raw.p != NULL) == ((req.has & SP_F_OPS) != 0));
	CHECK((req.keys.raw.p != NULL) == ((req.has & SP_F_KEYS) != 0));
	touch(req.ops.raw, &r);
	touch(req.keys.raw, &r);
	CHECK(!(req.if_absent && (req.has & SP_F_IF_EQUALS)));

	if (req.ops.raw.p)
		walk_ops(&req.ops);
	if (req.keys.raw.p)
		walk_keys(&req.keys);
	if (req.repo.p)
		check_repo(req.repo);
	if (req.dst.p)
		check_repo(req.dst);
	if (req.store.p)
		check_name(req.store);
	if (req.db.p)
		check_name(req.db);
	req_round_trip(&req);
}

/* ------------------------------------------------------------ replies */

static void
check_env(const struct sp_live_env *e, const struct region *r)
{
	CHECK(e != NULL);
	/* read_env refuses an env without store and dir. */
	CHECK(e->store.p != NULL && e->dir.p != NULL);
	touch(e->repo, r);
	touch(e->store, r);
	touch(e->dir, r);
}

/* An array of n elements of size size, zeroed; n may be 0. */
static void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n ? n : 1, size)) == NULL)
		abort();
	return p;
}

/*
 * Decodes the reply frame a writer left in b, from a copy of exactly its
 * body, into rep; the frame must be well formed.  Returns the copy, which
 * rep points into and the caller frees.
 */
static char *
reencoded(const struct sp_buf *b, struct sp_reply *rep)
{
	struct sp_error	 err;
	char		*body;
	size_t		 n;

	CHECK(b->len >= SP_FRAME_HDR);
	n = b->len - SP_FRAME_HDR;
	CHECK(sp_frame_len(b->data) == n);
	body = dup_exact(b->data + SP_FRAME_HDR, n);
	err_reset(&err);
	CHECK(sp_reply_decode(body, n, rep, &err) == 0);
	CHECK(rep->code == SP_OK);
	return body;
}

struct live_ctx {
	const struct region	*r;
	size_t			 seen;
	size_t			 stop_at;	/* stop on this call; 0: never */
	struct sp_live_env	*envs;		/* when not NULL: a copy of each */
	size_t			 cap;		/* room in envs */
};

static int
live_fn(void *arg, const struct sp_live_env *e)
{
	struct live_ctx	*c = arg;

	check_env(e, c->r);
	CHECK(c->stop_at == 0 || c->seen < c->stop_at);
	if (c->envs) {
		CHECK(c->seen < c->cap);
		c->envs[c->seen] = *e;
	}
	return ++c->seen == c->stop_at ? -1 : 0;
}

static bool
env_eq(const struct sp_live_env *a, const struct sp_live_env *b)
{
	return bytes_eq(a->repo, b->repo) && bytes_eq(a->store, b->store) &&
	    bytes_eq(a->dir, b->dir) && a->inflight == b->inflight &&
	    a->idle_ms == b->idle_ms;
}

/* The envs a live reply listed, written again by the daemon's writer,
 * must read back the same. */
static void
live_round_trip(uint64_t id, const struct sp_live_env *envs, size_t n)
{
	struct sp_buf		 b = { 0 };
	struct sp_reply		 rep;
	struct sp_error		 err;
	struct live_ctx		 c;
	struct region		 r;
	char			*body;
	size_t			 i;

	CHECK(sp_reply_live(&b, id, envs, n) == 0);
	body = reencoded(&b, &rep);
	CHECK(rep.id == id);
	r.lo = body;
	r.hi = body + b.len - SP_FRAME_HDR;
	memset(&c, 0, sizeof(c));
	c.r = &r;
	c.envs = xcalloc(n, sizeof(*c.envs));
	c.cap = n;
	err_reset(&err);
	CHECK(sp_live_decode(&rep, live_fn, &c, &err) == 0);
	CHECK(c.seen == n);
	for (i = 0; i < n; i++)
		CHECK(env_eq(&c.envs[i], &envs[i]));
	free(c.envs);
	free(body);
	sp_buf_free(&b);
}

/*
 * Decodes the envs of a live reply to the end, then again stopping at
 * one of them: a callback's -1 must stop the walk then and there.  Each
 * env can take at least one byte, which bounds the copies kept.
 */
static void
check_live(const struct sp_reply *rep, const struct region *r, uint64_t h)
{
	struct live_ctx	 c = { r, 0, 0, NULL, 0 };
	struct sp_error	 err;
	size_t		 all;

	c.envs = xcalloc(rep->envs.n, sizeof(*c.envs));
	c.cap = rep->envs.n;
	err_reset(&err);
	if (sp_live_decode(rep, live_fn, &c, &err) == -1) {
		check_err(&err, SP_BAD_REQUEST);
		goto done;
	}
	if ((all = c.seen) == 0)
		goto done;
	live_round_trip(rep->id, c.envs, all);
	free(c.envs);
	c.envs = NULL;
	c.seen = 0;
	c.stop_at = 1 + h % all;
	CHECK(sp_live_decode(rep, live_fn, &c, &err) == -1);
	CHECK(c.seen == c.stop_at);
done:
	free(c.envs);
}

struct stats_ctx {
	const struct region	*r;
	int			 last;	/* the previous event, -1 first */
	size_t			 seen;
	size_t			 stop_at;
};

static int
stats_fn(void *arg, enum sp_stats_event ev, const struct sp_live_env *env,
    struct sp_bytes name, uint64_t value)
{
	struct stats_ctx	*c = arg;

	sink += value;
	CHECK(c->stop_at == 0 || c->seen < c->stop_at);
	/* The order sp_msg.h promises. */
	switch (ev) {
	case SP_STATS_DAEMON_COUNTER:
		CHECK(c->last == -1 || c->last == SP_STATS_DAEMON_COUNTER);
		CHECK(name.p != NULL);
		break;
	case SP_STATS_ENV:
		check_env(env, c->r);
		break;
	case SP_STATS_ENV_COUNTER:
		CHECK(c->last == SP_STATS_ENV ||
		    c->last == SP_STATS_ENV_COUNTER);
		check_env(env, c->r);
		CHECK(name.p != NULL);
		break;
	case SP_STATS_DB:
		CHECK(c->last != -1 && c->last != SP_STATS_DAEMON_COUNTER);
		check_env(env, c->r);
		CHECK(name.p != NULL);
		break;
	case SP_STATS_DB_COUNTER:
		CHECK(c->last == SP_STATS_DB ||
		    c->last == SP_STATS_DB_COUNTER);
		check_env(env, c->r);
		CHECK(name.p != NULL);
		break;
	default:
		fail(__func__, __LINE__, "unknown stats event");
	}
	touch(name, c->r);
	c->last = (int)ev;
	return ++c->seen == c->stop_at ? -1 : 0;
}

static void
check_stats(const struct sp_reply *rep, const struct region *r, uint64_t h)
{
	struct stats_ctx	 c = { r, -1, 0, 0 };
	struct sp_error		 err;
	size_t			 all;

	err_reset(&err);
	if (sp_stats_decode(rep, stats_fn, &c, &err) == -1) {
		check_err(&err, SP_BAD_REQUEST);
		return;
	}
	if ((all = c.seen) == 0)
		return;
	c.last = -1;
	c.seen = 0;
	c.stop_at = 1 + h % all;
	CHECK(sp_stats_decode(rep, stats_fn, &c, &err) == -1);
	CHECK(c.seen == c.stop_at);
}

/*
 * The arrays of mget, missing and scan replies.  Each is walked in a copy
 * of exactly its bytes; when the walk gets through, the elements are
 * written again with the daemon's writers (the hand-built ones: array
 * counts patched in afterwards) and must read back the same.
 */

static void
mget_round_trip(uint64_t id, const struct sp_bytes *vals, uint32_t n)
{
	struct sp_buf		 b = { 0 };
	struct sp_reply_w	 w;
	struct sp_reply		 rep;
	struct sp_mp_rd		 rd;
	struct sp_bytes		 v;
	char			*body;
	uint32_t		 i;

	CHECK(sp_reply_mget_open(&w, &b, id, n) == 0);
	for (i = 0; i < n; i++)
		sp_reply_w_val(&w, vals[i].p, vals[i].n);
	CHECK(sp_reply_w_size(&w) == b.len);
	CHECK(sp_reply_close(&w) == 0);
	body = reencoded(&b, &rep);
	CHECK(rep.id == id && rep.vals.n == n);
	sp_mp_rd_init(&rd, rep.vals.raw.p, rep.vals.raw.n);
	for (i = 0; i < n; i++) {
		CHECK(sp_mget_next(&rd, &v) == 0);
		CHECK(bytes_eq(v, vals[i]));
	}
	CHECK(rd.p == rd.end);
	free(body);
	sp_buf_free(&b);
}

static void
walk_vals(uint64_t id, const struct sp_array *a)
{
	struct sp_bytes	*vals;
	struct sp_mp_rd	 rd;
	struct region	 r;
	char		*copy;
	uint32_t	 i;

	copy = dup_exact(a->raw.p, a->raw.n);
	r.lo = copy;
	r.hi = copy + a->raw.n;
	vals = xcalloc(a->n, sizeof(*vals));
	sp_mp_rd_init(&rd, copy, a->raw.n);
	for (i = 0; i < a->n; i++) {
		if (sp_mget_next(&rd, &vals[i]) == -1)
			break;
		touch(vals[i], &r);
	}
	if (i == a->n) {
		CHECK(rd.p == rd.end);
		mget_round_trip(id, vals, a->n);
	}
	free(vals);
	free(copy);
}

static void
missing_round_trip(uint64_t id, const uint32_t *idx, uint32_t n)
{
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct sp_mp_rd	 rd;
	uint64_t	 v;
	char		*body;
	uint32_t	 i;

	CHECK(sp_reply_missing(&b, id, idx, n) == 0);
	body = reencoded(&b, &rep);
	CHECK(rep.id == id && rep.missing.n == n);
	sp_mp_rd_init(&rd, rep.missing.raw.p, rep.missing.raw.n);
	for (i = 0; i < n; i++) {
		CHECK(sp_missing_next(&rd, &v) == 0);
		CHECK(v == idx[i]);
	}
	CHECK(rd.p == rd.end);
	free(body);
	sp_buf_free(&b);
}

static void
walk_missing(uint64_t id, const struct sp_array *a)
{
	struct sp_mp_rd	 rd;
	uint64_t	 v;
	uint32_t	*idx;
	char		*copy;
	uint32_t	 i;
	bool		 fits = true;

	copy = dup_exact(a->raw.p, a->raw.n);
	idx = xcalloc(a->n, sizeof(*idx));
	sp_mp_rd_init(&rd, copy, a->raw.n);
	for (i = 0; i < a->n; i++) {
		if (sp_missing_next(&rd, &v) == -1)
			break;
		sink += v;
		/* The writer takes key indices, which are 32-bit. */
		fits = fits && v <= UINT32_MAX;
		idx[i] = (uint32_t)v;
	}
	if (i == a->n) {
		CHECK(rd.p == rd.end);
		if (fits)
			missing_round_trip(id, idx, a->n);
	}
	free(idx);
	free(copy);
}

static void
scan_round_trip(const struct sp_reply *orig, bool keys_only,
    const struct sp_bytes *k, const struct sp_bytes *v, uint32_t n)
{
	struct sp_buf		 b = { 0 };
	struct sp_reply_w	 w;
	struct sp_reply		 rep;
	struct sp_mp_rd		 rd;
	struct sp_bytes		 k2, v2;
	char			*body;
	uint32_t		 i;

	CHECK(sp_reply_scan_open(&w, &b, orig->id, keys_only) == 0);
	for (i = 0; i < n; i++)
		sp_reply_w_entry(&w, k[i].p, k[i].n, v[i].p, v[i].n);
	CHECK(sp_reply_scan_close(&w, orig->cursor) == 0);
	body = reencoded(&b, &rep);
	CHECK(rep.id == orig->id && rep.entries.n == n);
	CHECK(bytes_eq(rep.cursor, orig->cursor));
	sp_mp_rd_init(&rd, rep.entries.raw.p, rep.entries.raw.n);
	for (i = 0; i < n; i++) {
		CHECK(sp_scan_next(&rd, keys_only, &k2, &v2) == 0);
		CHECK(bytes_eq(k2, k[i]) && bytes_eq(v2, v[i]));
	}
	CHECK(rd.p == rd.end);
	free(body);
	sp_buf_free(&b);
}

static void
walk_entries(const struct sp_reply *rep, bool keys_only)
{
	const struct sp_array	*a = &rep->entries;
	struct sp_bytes		*k, *v;
	struct sp_mp_rd		 rd;
	struct region		 r;
	char			*copy;
	uint32_t		 i;

	/* The client walks a copy too: the page outlives the reply. */
	copy = dup_exact(a->raw.p, a->raw.n);
	r.lo = copy;
	r.hi = copy + a->raw.n;
	k = xcalloc(a->n, sizeof(*k));
	v = xcalloc(a->n, sizeof(*v));
	sp_mp_rd_init(&rd, copy, a->raw.n);
	for (i = 0; i < a->n; i++) {
		if (sp_scan_next(&rd, keys_only, &k[i], &v[i]) == -1)
			break;
		CHECK(k[i].p != NULL);
		CHECK(keys_only ? v[i].p == NULL : v[i].p != NULL);
		touch(k[i], &r);
		touch(v[i], &r);
	}
	if (i == a->n) {
		CHECK(rd.p == rd.end);
		scan_round_trip(rep, keys_only, k, v, a->n);
	}
	free(v);
	free(k);
	free(copy);
}

static void
one_reply(const char *body, size_t n, uint64_t h)
{
	struct sp_reply	 rep;
	struct sp_error	 err;
	struct region	 r = { body, body + n };

	err_reset(&err);
	if (sp_reply_decode(body, n, &rep, &err) == -1) {
		check_err(&err, SP_BAD_REQUEST);
		return;
	}
	CHECK(rep.code >= 0);
	touch(rep.msg, &r);
	touch(rep.val, &r);
	touch(rep.server, &r);
	touch(rep.envs, &r);
	touch(rep.daemon, &r);
	touch(rep.cursor, &r);
	touch(rep.vals.raw, &r);
	touch(rep.missing.raw, &r);
	touch(rep.entries.raw, &r);

	/* Both check for absent parts themselves; the client calls them on
	 * whatever came back. */
	check_live(&rep, &r, h);
	check_stats(&rep, &r, h);
	if (rep.vals.raw.p)
		walk_vals(rep.id, &rep.vals);
	if (rep.missing.raw.p)
		walk_missing(rep.id, &rep.missing);
	if (rep.entries.raw.p) {
		walk_entries(&rep, false);
		walk_entries(&rep, true);
	}
}

/* ------------------------------------------------------------- frames */

/* FNV-1a of the input: a stable choice of where the callbacks stop. */
static uint64_t
hash(const uint8_t *p, size_t n)
{
	uint64_t	 h = 14695981039346656037ULL;
	size_t		 i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	 h = hash(data, size);
	size_t		 off = 0;
	uint32_t	 len;
	char		*body;

	while (size - off >= SP_FRAME_HDR) {
		len = sp_frame_len(data + off);
		/* The daemon refuses the frame and closes the connection. */
		if (len > FUZZ_MAX_FRAME)
			break;
		/* Incomplete: the daemon would wait for the rest. */
		if (size - off - SP_FRAME_HDR < len)
			break;
		body = dup_exact(data + off + SP_FRAME_HDR, len);
		one_request(body, len);
		one_reply(body, len, h);
		free(body);
		off += SP_FRAME_HDR + len;
	}
	return 0;
}

/* ------------------------------------------------------------ mutator */

/*
 * libFuzzer's own mutations know nothing of frame lengths: a byte
 * inserted into a body makes its header lie, the body is cut short, and
 * nearly every such input dies in the decoder's first check.  So most
 * mutations here change the body of one frame and write its length
 * again; the rest mutate the raw stream (lengths, partial frames, frames
 * over the cap), or drop or repeat a whole frame.
 */

size_t	LLVMFuzzerMutate(uint8_t *, size_t, size_t);
size_t	LLVMFuzzerCustomMutator(uint8_t *, size_t, size_t, unsigned int);

/* A complete frame of the stream: where its header is, and its length. */
struct frame {
	size_t		 off;
	uint32_t	 len;
};

/* The complete frames, as LLVMFuzzerTestOneInput() reads them. */
static size_t
split(const uint8_t *data, size_t size, struct frame *f)
{
	size_t		 off = 0, n = 0;
	uint32_t	 len;

	while (size - off >= SP_FRAME_HDR) {
		len = sp_frame_len(data + off);
		if (len > FUZZ_MAX_FRAME || size - off - SP_FRAME_HDR < len)
			break;
		f[n].off = off;
		f[n].len = len;
		n++;
		off += SP_FRAME_HDR + len;
	}
	return n;
}

static void
put_len(uint8_t *p, size_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
}

/* Mutates the body of frame f in place and fixes its header; returns the
 * new size of the stream, or 0 when the body has no room to change. */
static size_t
mutate_body(uint8_t *data, size_t size, size_t max_size,
    const struct frame *f)
{
	uint8_t	*body = data + f->off + SP_FRAME_HDR, *scratch;
	size_t	 after = size - f->off - SP_FRAME_HDR - f->len;
	size_t	 room = max_size - (size - f->len), n;

	if (room > FUZZ_MAX_FRAME)
		room = FUZZ_MAX_FRAME;
	if (room == 0)
		return 0;
	scratch = xcalloc(room, 1);
	if (f->len)
		memcpy(scratch, body, f->len);
	n = LLVMFuzzerMutate(scratch, f->len, room);
	memmove(body + n, body + f->len, after);
	if (n)
		memcpy(body, scratch, n);
	put_len(data + f->off, n);
	free(scratch);
	return size - f->len + n;
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
    unsigned int seed)
{
	struct frame	*f, *pick;
	size_t		 n, whole, rc = 0;
	uint32_t	 r = seed * 2654435761u + 1;

	f = xcalloc(size / SP_FRAME_HDR + 1, sizeof(*f));
	n = split(data, size, f);
	r ^= r >> 13;
	if (n == 0) {
		/* Nothing framed yet: sometimes make the input one frame. */
		if ((r & 1) && size + SP_FRAME_HDR <= max_size &&
		    size <= FUZZ_MAX_FRAME) {
			memmove(data + SP_FRAME_HDR, data, size);
			put_len(data, size);
			rc = size + SP_FRAME_HDR;
		}
		goto done;
	}
	pick = &f[(r >> 4) % n];
	whole = SP_FRAME_HDR + pick->len;
	switch (r % 16) {
	case 0:
	case 1:
		break;		/* the raw stream, below */
	case 2:
		memmove(data + pick->off, data + pick->off + whole,
		    size - pick->off - whole);
		rc = size - whole;
		break;
	case 3:
		if (size + whole > max_size)
			break;
		memmove(data + pick->off + whole, data + pick->off,
		    size - pick->off);
		rc = size + whole;
		break;
	default:
		rc = mutate_body(data, size, max_size, pick);
		break;
	}
done:
	free(f);
	return rc ? rc : LLVMFuzzerMutate(data, size, max_size);
}
