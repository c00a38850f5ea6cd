/*
 * Unit tests of proto/: the msgpack cursor, framing, and every request
 * and reply, including every truncation of every valid frame and
 * hostile input.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_frame.h"
#include "sp_mp.h"
#include "sp_msg.h"
#include "proto_samples.h"

static bool
beq(struct sp_bytes a, struct sp_bytes b)
{
	if (a.p == NULL || b.p == NULL)
		return a.p == b.p;
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* ------------------------------------------------------------ cursor */

START_TEST(mp_scalars)
{
	struct sp_buf	 b = { 0 };
	msgpack_packer	 pk;
	struct sp_mp_rd	 rd;
	struct sp_bytes	 s;
	uint64_t	 v;
	bool		 t;
	static const uint64_t ints[] = { 0, 1, 127, 128, 255, 256, 65535,
	    65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX };
	size_t		 i;

	sp_mp_packer(&pk, &b);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		msgpack_pack_uint64(&pk, ints[i]);
	msgpack_pack_true(&pk);
	msgpack_pack_nil(&pk);
	sp_mp_str(&pk, "hello");
	msgpack_pack_bin_with_body(&pk, "\0\1", 2);
	sp_mp_rd_init(&rd, b.data, b.len);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		ck_assert_int_eq(sp_mp_peek(&rd), SP_MP_UINT);
		ck_assert_int_eq(sp_mp_read_uint(&rd, &v), 0);
		ck_assert_uint_eq(v, ints[i]);
	}
	ck_assert_int_eq(sp_mp_read_uint(&rd, &v), -1);	/* a bool */
	ck_assert_int_eq(sp_mp_read_bool(&rd, &t), 0);
	ck_assert(t);
	ck_assert_int_eq(sp_mp_read_nil(&rd), 0);
	ck_assert_int_eq(sp_mp_read_bytes(&rd, &s), 0);	/* str as bytes */
	ck_assert(beq(s, ps_str("hello")));
	ck_assert_int_eq(sp_mp_read_str(&rd, &s), -1);	/* bin is no str */
	ck_assert_int_eq(sp_mp_read_bytes(&rd, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(sp_mp_peek(&rd), SP_MP_INVALID);	/* the end */
	sp_buf_free(&b);
}
END_TEST

START_TEST(mp_lying_lengths)
{
	/* Each declares far more than it holds; none may be trusted. */
	static const unsigned char	 bin32[] = { 0xc6, 0x7f, 0xff, 0xff,
	    0xff, 'a' };
	static const unsigned char	 arr32[] = { 0xdd, 0xff, 0xff, 0xff,
	    0xff, 0xc0 };
	static const unsigned char	 map32[] = { 0xdf, 0x00, 0x01, 0x00,
	    0x00, 0xc0, 0xc0 };
	static const unsigned char	 str8[] = { 0xd9, 0x05, 'a', 'b' };
	static const unsigned char	 never[] = { 0xc1 };
	struct sp_mp_rd			 rd;
	struct sp_bytes			 s;
	uint32_t			 n;

	sp_mp_rd_init(&rd, bin32, sizeof(bin32));
	ck_assert_int_eq(sp_mp_read_bytes(&rd, &s), -1);
	ck_assert_int_eq(sp_mp_skip(&rd), -1);
	sp_mp_rd_init(&rd, arr32, sizeof(arr32));
	ck_assert_int_eq(sp_mp_read_array(&rd, &n), -1);
	ck_assert_int_eq(sp_mp_skip(&rd), -1);
	sp_mp_rd_init(&rd, map32, sizeof(map32));
	ck_assert_int_eq(sp_mp_read_map(&rd, &n), -1);
	sp_mp_rd_init(&rd, str8, sizeof(str8));
	ck_assert_int_eq(sp_mp_read_str(&rd, &s), -1);
	/* A failed read leaves the cursor where it was. */
	ck_assert_ptr_eq(rd.p, str8);
	sp_mp_rd_init(&rd, never, sizeof(never));
	ck_assert_int_eq(sp_mp_peek(&rd), SP_MP_INVALID);
	ck_assert_int_eq(sp_mp_skip(&rd), -1);
}
END_TEST

START_TEST(mp_skip_deep_nesting)
{
	/* 1,000,000 nested arrays: skipping must neither recurse nor fail. */
	size_t		 depth = 1000000, i;
	unsigned char	*p = malloc(depth + 1);
	struct sp_mp_rd	 rd;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < depth; i++)
		p[i] = 0x91;	/* fixarray of one */
	p[depth] = 0xc0;
	sp_mp_rd_init(&rd, p, depth + 1);
	ck_assert_int_eq(sp_mp_skip(&rd), 0);
	ck_assert_ptr_eq(rd.p, p + depth + 1);
	/* One byte short: the innermost element is missing. */
	sp_mp_rd_init(&rd, p, depth);
	ck_assert_int_eq(sp_mp_skip(&rd), -1);
	free(p);
}
END_TEST

START_TEST(mp_skip_every_type)
{
	struct sp_buf	 b = { 0 };
	msgpack_packer	 pk;
	struct sp_mp_rd	 rd;
	size_t		 k;

	sp_mp_packer(&pk, &b);
	msgpack_pack_array(&pk, 9);
	msgpack_pack_int64(&pk, -5);
	msgpack_pack_int64(&pk, -100000);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_float(&pk, 2.5f);
	msgpack_pack_ext_with_body(&pk, "abcd", 4, 7);
	msgpack_pack_ext_with_body(&pk, "abc", 3, 7);
	msgpack_pack_map(&pk, 1);
	sp_mp_str(&pk, "k");
	msgpack_pack_array(&pk, 0);
	msgpack_pack_str_with_body(&pk, "x", 1);
	msgpack_pack_false(&pk);
	sp_mp_rd_init(&rd, b.data, b.len);
	ck_assert_int_eq(sp_mp_skip(&rd), 0);
	ck_assert_ptr_eq((const char *)rd.p, b.data + b.len);
	for (k = 0; k < b.len; k++) {
		sp_mp_rd_init(&rd, b.data, k);
		ck_assert_int_eq(sp_mp_skip(&rd), -1);
	}
	sp_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------- frames */

static int
plain_write(void *data, const char *p, size_t n)
{
	return sp_buf_append(data, p, n);
}

/*
 * The writers of sp_mp.c write into the buffer themselves: byte for byte
 * what msgpack-c writes, at every boundary between two forms.
 */
START_TEST(mp_writers_match_msgpack)
{
	static const size_t	 lens[] = { 0, 1, 31, 32, 255, 256, 65535,
				    65536 };
	static const uint64_t	 uints[] = { 0, 127, 128, 255, 256, 65535,
				    65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
				    UINT64_MAX };
	struct sp_buf		 a = { 0 }, b = { 0 };
	msgpack_packer		 pa, pb;
	char			*v;
	size_t			 i;

	v = calloc(1, 65536);
	ck_assert_ptr_nonnull(v);
	memset(v, 'x', 65536);
	sp_mp_packer(&pa, &a);
	msgpack_packer_init(&pb, &b, plain_write);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		sp_mp_kv_bytes(&pa, "k", v, lens[i]);
		sp_mp_kv_bin(&pa, "key", v, lens[i]);
		msgpack_pack_str_with_body(&pb, "k", 1);
		msgpack_pack_str_with_body(&pb, v, lens[i]);
		msgpack_pack_str_with_body(&pb, "key", 3);
		msgpack_pack_bin_with_body(&pb, v, lens[i]);
	}
	v[40] = '\0';
	sp_mp_str(&pa, v);
	sp_mp_kv_str(&pa, v, "val");
	msgpack_pack_str_with_body(&pb, v, 40);
	msgpack_pack_str_with_body(&pb, v, 40);
	msgpack_pack_str_with_body(&pb, "val", 3);
	for (i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		sp_mp_kv_u64(&pa, "id", uints[i]);
		msgpack_pack_str_with_body(&pb, "id", 2);
		msgpack_pack_uint64(&pb, uints[i]);
	}
	sp_mp_kv_bool(&pa, "more", true);
	msgpack_pack_str_with_body(&pb, "more", 4);
	msgpack_pack_true(&pb);
	/* Names of 31 bytes (the longest written in one pass) and 32; map
	 * headers either side of a fixmap's end. */
	v[31] = '\0';
	sp_mp_kv_u64(&pa, v, 1);
	sp_mp_kv_bin(&pa, v, "b", 1);
	msgpack_pack_str_with_body(&pb, v, 31);
	msgpack_pack_uint64(&pb, 1);
	msgpack_pack_str_with_body(&pb, v, 31);
	msgpack_pack_bin_with_body(&pb, "b", 1);
	v[31] = 'x';
	v[32] = '\0';
	sp_mp_kv_u64(&pa, v, 2);
	sp_mp_kv_bytes(&pa, v, "s", 1);
	msgpack_pack_str_with_body(&pb, v, 32);
	msgpack_pack_uint64(&pb, 2);
	msgpack_pack_str_with_body(&pb, v, 32);
	msgpack_pack_str_with_body(&pb, "s", 1);
	for (i = 0; i < 18; i++) {
		sp_mp_map(&pa, (uint32_t)i);
		msgpack_pack_map(&pb, (uint32_t)i);
	}
	sp_mp_map(&pa, 70000);
	msgpack_pack_map(&pb, 70000);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert(memcmp(a.data, b.data, a.len) == 0);
	ck_assert(!a.failed);
	sp_buf_free(&a);
	sp_buf_free(&b);
	free(v);
}
END_TEST

/* Decoders look names up with it, one table row after another. */
START_TEST(mp_bytes_eq)
{
	struct sp_bytes	 b = { "key", 3 }, nul = { "ke\0", 3 };
	struct sp_bytes	 none = { NULL, 0 }, empty = { "", 0 };

	ck_assert(sp_bytes_eq(b, "key"));
	ck_assert(!sp_bytes_eq(b, "keys"));
	ck_assert(!sp_bytes_eq(b, "ke"));
	ck_assert(!sp_bytes_eq(b, "kex"));
	ck_assert(!sp_bytes_eq(b, ""));
	/* A NUL in the bytes never matches the end of the name. */
	ck_assert(!sp_bytes_eq(nul, "ke"));
	ck_assert(!sp_bytes_eq(none, ""));
	ck_assert(sp_bytes_eq(empty, ""));
	ck_assert(!sp_bytes_eq(empty, "k"));
}
END_TEST

START_TEST(frame_header)
{
	struct sp_buf	 b = { 0 };
	size_t		 mark;

	ck_assert_int_eq(sp_frame_open(&b, &mark), 0);
	ck_assert_int_eq(sp_buf_append(&b, "abcde", 5), 0);
	ck_assert_int_eq(sp_frame_close(&b, mark), 0);
	ck_assert_uint_eq(b.len, SP_FRAME_HDR + 5);
	ck_assert_uint_eq(sp_frame_len(b.data), 5);
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\5", 4), 0);
	/* A failed append poisons the frame, which is then taken back. */
	ck_assert_int_eq(sp_frame_open(&b, &mark), 0);
	b.failed = 1;
	ck_assert_int_eq(sp_frame_close(&b, mark), -1);
	ck_assert_uint_eq(b.len, SP_FRAME_HDR + 5);
	ck_assert_int_eq(b.failed, 0);
	ck_assert_uint_eq(sp_frame_len("\xff\xff\xff\xff"), UINT32_MAX);
	sp_buf_free(&b);
}
END_TEST

/* ----------------------------------------------------------- requests */

static void
assert_req_eq(const struct sp_req *a, const struct sp_req *b)
{
	ck_assert_uint_eq(a->id, b->id);
	ck_assert_int_eq(a->op, b->op);
	ck_assert(beq(a->repo, b->repo));
	ck_assert(beq(a->store, b->store));
	ck_assert(beq(a->db, b->db));
	ck_assert(beq(a->key, b->key));
	ck_assert(beq(a->val, b->val));
	ck_assert(beq(a->dst, b->dst));
	ck_assert(beq(a->client, b->client));
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_int_eq(a->compact, b->compact);
	ck_assert(beq(a->ops.raw, b->ops.raw));
	ck_assert_uint_eq(a->ops.n, b->ops.n);
	ck_assert(beq(a->keys.raw, b->keys.raw));
	ck_assert_uint_eq(a->keys.n, b->keys.n);
	ck_assert_uint_eq(a->bid, b->bid);
	ck_assert_int_eq(a->more, b->more);
	ck_assert(beq(a->prefix, b->prefix));
	ck_assert(beq(a->start, b->start));
	ck_assert(beq(a->end, b->end));
	ck_assert(beq(a->cursor, b->cursor));
	ck_assert_uint_eq(a->limit, b->limit);
	ck_assert_int_eq(a->reverse, b->reverse);
	ck_assert_int_eq(a->keys_only, b->keys_only);
}

START_TEST(req_round_trip)
{
	struct sp_buf	 b = { 0 };
	struct sp_req	 in, out;
	struct sp_error	 err;

	ck_assert(ps_request(_i, &in));
	ck_assert_int_eq(sp_req_encode(&b, &in), 0);
	ck_assert_uint_eq(sp_frame_len(b.data), b.len - SP_FRAME_HDR);
	ck_assert_msg(sp_req_decode(b.data + SP_FRAME_HDR,
	    b.len - SP_FRAME_HDR, &out, &err) == 0, "%s: %s",
	    sp_op_name(in.op), err.msg);
	assert_req_eq(&in, &out);
	sp_buf_free(&b);
}
END_TEST

START_TEST(req_every_truncation)
{
	struct sp_buf	 b = { 0 };
	struct sp_req	 in, out;
	struct sp_error	 err;
	size_t		 n, k;
	char		*copy;

	ck_assert(ps_request(_i, &in));
	ck_assert_int_eq(sp_req_encode(&b, &in), 0);
	n = b.len - SP_FRAME_HDR;
	for (k = 0; k < n; k++) {
		/* An exact-size copy, so ASan sees any read past its end. */
		copy = malloc(k ? k : 1);
		memcpy(copy, b.data + SP_FRAME_HDR, k);
		err.code = SP_OK;
		ck_assert_int_eq(sp_req_decode(copy, k, &out, &err), -1);
		ck_assert_int_eq(err.code, SP_BAD_REQUEST);
		ck_assert(err.msg[0] != '\0');
		free(copy);
	}
	sp_buf_free(&b);
}
END_TEST

/* The samples (tests/proto_samples.c) hold a valid request of every op. */
START_TEST(req_samples_cover_every_op)
{
	struct sp_req	 rq;
	bool		 seen[SP_OP_MAX] = { false };
	int		 i, op;

	for (i = 0; ps_request(i, &rq); i++) {
		ck_assert(rq.op > SP_OP_NONE && rq.op < SP_OP_MAX);
		seen[rq.op] = true;
	}
	for (op = SP_OP_NONE + 1; op < SP_OP_MAX; op++)
		ck_assert_msg(seen[op], "no sample request of op %s",
		    sp_op_name((enum sp_op)op));
}
END_TEST

/* Builds a request map from (key, kind, value) triples; see bad_req. */
static size_t
pack_map(struct sp_buf *b, int npairs, ...)
{
	msgpack_packer	 pk;
	va_list		 ap;
	int		 i;

	b->len = 0;
	sp_mp_packer(&pk, b);
	msgpack_pack_map(&pk, (uint32_t)npairs);
	va_start(ap, npairs);
	for (i = 0; i < npairs; i++) {
		const char	*k = va_arg(ap, const char *);
		int		 kind = va_arg(ap, int);

		sp_mp_str(&pk, k);
		switch (kind) {
		case 'u': msgpack_pack_uint64(&pk, va_arg(ap, uint64_t)); break;
		case 's': sp_mp_str(&pk, va_arg(ap, const char *)); break;
		case 'b': {
			const char *v = va_arg(ap, const char *);

			msgpack_pack_bin_with_body(&pk, v, strlen(v));
			break;
		}
		case 'n': msgpack_pack_nil(&pk); break;
		case 't': msgpack_pack_true(&pk); break;
		case 'i': msgpack_pack_int64(&pk, -1); break;
		}
	}
	va_end(ap);
	return b->len;
}

static void
expect_bad(struct sp_buf *b, const char *needle, uint64_t id, bool has_id)
{
	struct sp_req	 rq;
	struct sp_error	 err;

	ck_assert_int_eq(sp_req_decode(b->data, b->len, &rq, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REQUEST);
	ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'",
	    err.msg, needle);
	ck_assert_int_eq((rq.has & SP_F_ID) != 0, has_id);
	if (has_id)
		ck_assert_uint_eq(rq.id, id);
}

START_TEST(req_invalid)
{
	struct sp_buf	 b = { 0 };
	msgpack_packer	 pk;

	pack_map(&b, 2, "id", 'u', (uint64_t)7, "op", 's', "frobnicate");
	expect_bad(&b, "unknown op 'frobnicate'", 7, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)8, "op", 's', "ping", "bogus",
	    'u', (uint64_t)1);
	expect_bad(&b, "unknown field 'bogus'", 8, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)9, "op", 's', "ping", "id", 'u',
	    (uint64_t)9);
	expect_bad(&b, "appears twice", 9, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)10, "op", 's', "get", "store",
	    's', "refs");
	expect_bad(&b, "needs the field 'key'", 10, true);
	pack_map(&b, 4, "id", 'u', (uint64_t)11, "op", 's', "ping", "key",
	    'b', "k", "store", 's', "refs");
	expect_bad(&b, "does not belong in a ping", 11, true);
	pack_map(&b, 4, "op", 's', "get", "store", 'u', (uint64_t)1, "key",
	    'b', "k", "id", 'u', (uint64_t)12);
	expect_bad(&b, "'store' must be a str", 12, true);
	pack_map(&b, 2, "id", 'i', "op", 's', "ping");
	expect_bad(&b, "'id' must be an unsigned integer", 0, false);
	pack_map(&b, 1, "op", 's', "ping");
	expect_bad(&b, "has no 'id'", 0, false);
	pack_map(&b, 1, "id", 'u', (uint64_t)13);
	expect_bad(&b, "has no 'op'", 13, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)14, "op", 's', "snapshot",
	    "compact", 'n');
	expect_bad(&b, "'compact' must be a bool", 14, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)15, "op", 's', "get", "key", 'n');
	expect_bad(&b, "'key' must be bin or str", 15, true);

	/* Not a map; a non-str field name; bytes after the map. */
	b.len = 0;
	sp_mp_packer(&pk, &b);
	msgpack_pack_array(&pk, 0);
	expect_bad(&b, "must be one msgpack map, not array", 0, false);
	b.len = 0;
	msgpack_pack_map(&pk, 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint64(&pk, 1);
	expect_bad(&b, "field names must be msgpack str", 0, false);
	pack_map(&b, 2, "id", 'u', (uint64_t)16, "op", 's', "ping");
	sp_buf_append(&b, "\xc0", 1);
	expect_bad(&b, "follow the request map", 16, true);
	sp_buf_free(&b);
}
END_TEST

/*
 * The decoder reads the short forms a client sends (fixmap, fixstr,
 * bin8, the uints) inline and the rest the general way: both give the
 * same request, and a short form's value type is still checked.
 */
START_TEST(req_long_and_short_forms)
{
	/* map16 of 4; str8 names; uint64 id; str16 op; str8 store; bin16
	 * key. */
	static const unsigned char long_forms[] = {
		0xde, 0x00, 0x04,
		0xd9, 2, 'i', 'd', 0xcf, 0, 0, 0, 1, 0, 0, 0, 2,
		0xd9, 2, 'o', 'p', 0xda, 0, 3, 'g', 'e', 't',
		0xd9, 5, 's', 't', 'o', 'r', 'e', 0xd9, 4, 'r', 'e', 'f', 's',
		0xd9, 3, 'k', 'e', 'y', 0xc5, 0, 2, 'k', '1',
	};
	/* fixmap; fixstr names; uint16, uint8, uint32 ids; a fixstr key. */
	static const unsigned char short_forms[] = {
		0x84,
		0xa2, 'i', 'd', 0xcd, 0x12, 0x34,
		0xa2, 'o', 'p', 0xa3, 'g', 'e', 't',
		0xa5, 's', 't', 'o', 'r', 'e', 0xa4, 'r', 'e', 'f', 's',
		0xa3, 'k', 'e', 'y', 0xa2, 'k', '1',
	};
	/* A bin8 where op wants a str; a bin8 whose length runs past the
	 * end; an int8 id. */
	static const unsigned char bin_op[] = {
		0x82, 0xa2, 'i', 'd', 0xcc, 200, 0xa2, 'o', 'p', 0xc4, 4,
		'p', 'i', 'n', 'g',
	};
	static const unsigned char long_bin[] = {
		0x84, 0xa2, 'i', 'd', 0x05, 0xa2, 'o', 'p', 0xa3, 'g', 'e', 't',
		0xa5, 's', 't', 'o', 'r', 'e', 0xa1, 's',
		0xa3, 'k', 'e', 'y', 0xc4, 3, 'k',
	};
	static const unsigned char int_id[] = {
		0x82, 0xa2, 'i', 'd', 0xd0, 0x05, 0xa2, 'o', 'p', 0xa4,
		'p', 'i', 'n', 'g',
	};
	struct sp_req	 rq;
	struct sp_error	 err;

	ck_assert_int_eq(sp_req_decode(long_forms, sizeof(long_forms), &rq,
	    &err), 0);
	ck_assert(rq.id == ((uint64_t)1 << 32 | 2) && rq.op == SP_OP_GET);
	ck_assert(sp_bytes_eq(rq.store, "refs") && sp_bytes_eq(rq.key, "k1"));
	ck_assert_int_eq(sp_req_decode(short_forms, sizeof(short_forms), &rq,
	    &err), 0);
	ck_assert(rq.id == 0x1234 && rq.op == SP_OP_GET);
	ck_assert(sp_bytes_eq(rq.store, "refs") && sp_bytes_eq(rq.key, "k1"));
	ck_assert_int_eq(sp_req_decode(bin_op, sizeof(bin_op), &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'op' must be a str"));
	ck_assert_uint_eq(rq.id, 200);
	ck_assert_int_eq(sp_req_decode(long_bin, sizeof(long_bin), &rq, &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'key' must be bin or str"));
	ck_assert_int_eq(sp_req_decode(int_id, sizeof(int_id), &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg,
	    "'id' must be an unsigned integer"));
}
END_TEST

/*
 * A request of every field: more than a fixmap's 15 pairs, so the
 * encoder's one pass must turn the map's header into a map16 once it
 * has counted them (sp_mp_map_count()), as msgpack-c would write it.
 */
START_TEST(req_every_field_map16)
{
	struct sp_buf	 b = { 0 };
	struct sp_req	 rq;
	struct sp_mp_rd	 rd;
	struct sp_bytes	 k;
	uint32_t	 n, i;
	const unsigned char *p;
	static const char	 key[] = "k";

	memset(&rq, 0, sizeof(rq));
	rq.id = 7;
	rq.op = SP_OP_SCAN;
	rq.repo = rq.store = rq.db = rq.key = rq.val = rq.dst = rq.client =
	    rq.if_equals = rq.prefix = rq.start = rq.end = rq.cursor =
	    (struct sp_bytes){ key, 1 };
	rq.ops.raw = rq.keys.raw = (struct sp_bytes){ "\xc4\x01k", 3 };
	rq.ops.n = rq.keys.n = 1;
	rq.has = SP_F_COMPACT | SP_F_VERSION | SP_F_BID | SP_F_MORE |
	    SP_F_IF_ABSENT | SP_F_LIMIT | SP_F_REVERSE | SP_F_KEYS_ONLY |
	    SP_F_REPLACE | SP_F_FROM | SP_F_WATCH;
	ck_assert_int_eq(sp_req_encode(&b, &rq), 0);
	ck_assert_uint_eq(sp_frame_len(b.data), b.len - SP_FRAME_HDR);
	p = (const unsigned char *)b.data + SP_FRAME_HDR;
	ck_assert_uint_eq(p[0], 0xde);
	ck_assert_uint_eq(p[1] << 8 | p[2], 27);
	sp_mp_rd_init(&rd, p, b.len - SP_FRAME_HDR);
	ck_assert_int_eq(sp_mp_read_map(&rd, &n), 0);
	ck_assert_uint_eq(n, 27);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(sp_mp_read_str(&rd, &k), 0);
		if (i == 0)
			ck_assert(sp_bytes_eq(k, "id"));
		if (i == n - 1)
			ck_assert(sp_bytes_eq(k, "watch"));
		ck_assert_int_eq(sp_mp_skip(&rd), 0);
	}
	ck_assert(rd.p == rd.end);
	sp_buf_free(&b);
}
END_TEST

/*
 * The decoders look a field's name up from the row after the last one
 * found: fields in any order, the table's reversed included, still
 * decode, and a field twice is still refused.
 */
START_TEST(fields_in_any_order)
{
	static const unsigned char req[] = {
		0x84,
		0xa3, 'k', 'e', 'y', 0xc4, 2, 'k', '1',
		0xa5, 's', 't', 'o', 'r', 'e', 0xa4, 'r', 'e', 'f', 's',
		0xa2, 'o', 'p', 0xa3, 'g', 'e', 't',
		0xa2, 'i', 'd', 0x09,
	};
	static const unsigned char twice[] = {
		0x85,
		0xa2, 'i', 'd', 0x09,
		0xa2, 'o', 'p', 0xa3, 'g', 'e', 't',
		0xa5, 's', 't', 'o', 'r', 'e', 0xa4, 'r', 'e', 'f', 's',
		0xa3, 'k', 'e', 'y', 0xc4, 2, 'k', '1',
		0xa2, 'o', 'p', 0xa3, 'g', 'e', 't',
	};
	static const unsigned char rep[] = {
		0x83,
		0xa3, 'r', 'e', 'v', 0xcd, 0x01, 0x00,
		0xa3, 'v', 'a', 'l', 0xc4, 1, 'v',
		0xa2, 'i', 'd', 0x09,
	};
	struct sp_req	 rq;
	struct sp_reply	 rp;
	struct sp_error	 err;

	ck_assert_int_eq(sp_req_decode(req, sizeof(req), &rq, &err), 0);
	ck_assert(rq.id == 9 && rq.op == SP_OP_GET);
	ck_assert(sp_bytes_eq(rq.store, "refs") && sp_bytes_eq(rq.key, "k1"));
	ck_assert_int_eq(sp_req_decode(twice, sizeof(twice), &rq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "'op' appears twice"));
	ck_assert_int_eq(sp_reply_decode(rep, sizeof(rep), &rp, &err), 0);
	ck_assert(rp.id == 9 && rp.has_rev && rp.rev == 256);
	ck_assert(rp.val.n == 1 && rp.val.p[0] == 'v');
}
END_TEST

/*
 * Names are compared a word at a time where 8 bytes can be read, a
 * byte at a time near the end of the frame, and past 8 bytes for the
 * long names: each way tells a name from one that differs in its last
 * byte, or is a row's name cut short or run on.
 */
START_TEST(names_by_the_word_and_by_the_byte)
{
	struct sp_buf	 b = { 0 };
	struct sp_req	 rq;
	struct sp_error	 err;

	/* Long names, a word and more, then the frame's last bytes. */
	pack_map(&b, 5, "id", 'u', (uint64_t)1, "op", 's', "scan", "store",
	    's', "refs", "keys_only", 't', "reverse", 't');
	ck_assert_int_eq(sp_req_decode(b.data, b.len, &rq, &err), 0);
	ck_assert(rq.op == SP_OP_SCAN && rq.keys_only && rq.reverse);
	pack_map(&b, 3, "id", 'u', (uint64_t)2, "bid", 'u', (uint64_t)3,
	    "op", 's', "batch_abort");
	ck_assert_int_eq(sp_req_decode(b.data, b.len, &rq, &err), 0);
	ck_assert(rq.op == SP_OP_BATCH_ABORT && rq.bid == 3);
	/* An op by the byte (4 bytes left) and by the word. */
	pack_map(&b, 2, "id", 'u', (uint64_t)4, "op", 's', "ping");
	ck_assert_int_eq(sp_req_decode(b.data, b.len, &rq, &err), 0);
	ck_assert(rq.op == SP_OP_PING);
	pack_map(&b, 3, "op", 's', "ping", "id", 'u', (uint64_t)5, "id", 'u',
	    (uint64_t)5);
	expect_bad(&b, "appears twice", 5, true);

	/* Off by the last byte: in the first word, past it, at the end. */
	pack_map(&b, 3, "id", 'u', (uint64_t)6, "op", 's', "scan",
	    "keys_onlx", 't');
	expect_bad(&b, "unknown field 'keys_onlx'", 6, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)7, "keys_onlx", 't', "op", 's',
	    "scan");
	expect_bad(&b, "unknown field 'keys_onlx'", 7, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)8, "stora", 's', "refs", "op",
	    's', "scan");
	expect_bad(&b, "unknown field 'stora'", 8, true);
	pack_map(&b, 2, "id", 'u', (uint64_t)9, "op", 's', "batch_abors");
	expect_bad(&b, "unknown op 'batch_abors'", 9, true);
	pack_map(&b, 2, "op", 's', "pinf", "id", 'u', (uint64_t)10);
	expect_bad(&b, "unknown op 'pinf'", 10, true);
	pack_map(&b, 2, "id", 'u', (uint64_t)11, "op", 's', "pinf");
	expect_bad(&b, "unknown op 'pinf'", 11, true);
	/* Cut short, run on, and run on by the rows' zero padding. */
	pack_map(&b, 3, "id", 'u', (uint64_t)12, "keys_onl", 't', "op", 's',
	    "scan");
	expect_bad(&b, "unknown field 'keys_onl'", 12, true);
	pack_map(&b, 3, "id", 'u', (uint64_t)13, "keys_onlyy", 't', "op", 's',
	    "scan");
	expect_bad(&b, "unknown field 'keys_onlyy'", 13, true);
	b.len = 0;
	sp_buf_append(&b, "\x82\xa2op\xa5ping\0\xa2id\x0e", 14);
	expect_bad(&b, "unknown op", 14, true);
	sp_buf_free(&b);
}
END_TEST

START_TEST(req_random_bytes)
{
	/* Whatever the bytes, decoding ends with an answer, not a crash. */
	struct sp_req	 rq;
	struct sp_error	 err;
	unsigned char	*p;
	size_t		 n, i, round;
	unsigned	 seed = 12345;

	for (round = 0; round < 20000; round++) {
		n = (size_t)(rand_r(&seed) % 64);
		p = malloc(n ? n : 1);
		for (i = 0; i < n; i++)
			p[i] = (unsigned char)rand_r(&seed);
		/* Often start like a map, to get past the first byte. */
		if (n && round % 2)
			p[0] = 0x80 | (p[0] & 0x0f);
		if (sp_req_decode(p, n, &rq, &err) == -1)
			ck_assert_int_eq(err.code, SP_BAD_REQUEST);
		free(p);
	}
}
END_TEST

/* ------------------------------------------------------------ replies */

static void
decode_reply(struct sp_buf *b, struct sp_reply *rep)
{
	struct sp_error	 err;

	ck_assert_uint_eq(sp_frame_len(b->data), b->len - SP_FRAME_HDR);
	ck_assert_msg(sp_reply_decode(b->data + SP_FRAME_HDR,
	    b->len - SP_FRAME_HDR, rep, &err) == 0, "%s", err.msg);
}

START_TEST(reply_simple)
{
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;

	ck_assert_int_eq(sp_reply_error(&b, 3, SP_MAP_FULL, "full"), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.id, 3);
	ck_assert_int_eq(rep.code, SP_MAP_FULL);
	ck_assert(beq(rep.msg, ps_str("full")));

	b.len = 0;
	ck_assert_int_eq(sp_reply_ok(&b, 4), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.id, 4);
	ck_assert_int_eq(rep.code, SP_OK);
	ck_assert_ptr_null(rep.val.p);

	b.len = 0;
	ck_assert_int_eq(sp_reply_val(&b, 5, "", 0), 0);
	decode_reply(&b, &rep);
	ck_assert_ptr_nonnull(rep.val.p);	/* empty, but present */
	ck_assert_uint_eq(rep.val.n, 0);

	b.len = 0;
	ck_assert_int_eq(sp_reply_hello(&b, 6, "storesd x", 1234), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.version, SP_PROTO_VERSION);
	ck_assert_uint_eq(rep.max_frame, 1234);
	ck_assert(beq(rep.server, ps_str("storesd x")));

	b.len = 0;
	ck_assert_int_eq(sp_reply_size(&b, 7, 1ULL << 40), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.size, 1ULL << 40);
	sp_buf_free(&b);
}
END_TEST

static int
count_live(void *arg, const struct sp_live_env *e)
{
	int	*n = arg;

	if (*n == 0) {
		ck_assert(beq(e->repo, ps_str("ox/mnist")));
		ck_assert_uint_eq(e->inflight, 2);
		ck_assert_uint_eq(e->idle_ms, 0);
	} else {
		ck_assert_ptr_null(e->repo.p);	/* a fixed-path store */
		ck_assert_uint_eq(e->idle_ms, 99);
	}
	ck_assert(beq(e->store, ps_str("refs")));
	(*n)++;
	return 0;
}

static void
live_sample(struct sp_buf *b)
{
	struct sp_live_env	 envs[2] = {
		{ { "ox/mnist", 8 }, { "refs", 4 }, { "/d/1", 4 }, 2, 0 },
		{ { NULL, 0 }, { "refs", 4 }, { "/d/2", 4 }, 0, 99 },
	};

	ck_assert_int_eq(sp_reply_live(b, 8, envs, 2), 0);
}

START_TEST(reply_live)
{
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct sp_error	 err;
	int		 n = 0;

	live_sample(&b);
	decode_reply(&b, &rep);
	ck_assert_int_eq(sp_live_decode(&rep, count_live, &n, &err), 0);
	ck_assert_int_eq(n, 2);
	sp_buf_free(&b);
}
END_TEST

static int
count_repos(void *arg, const struct sp_repo_env *e)
{
	int	*n = arg;

	if (*n == 0) {
		ck_assert(beq(e->id.repo, ps_str("ox/mnist")));
		ck_assert(beq(e->id.store, ps_str("nodes")));
		ck_assert_uint_eq(e->size, 1ULL << 33);
		ck_assert(e->open);
	} else {
		ck_assert_ptr_null(e->id.repo.p);	/* a fixed-path store */
		ck_assert(beq(e->id.store, ps_str("refs")));
		ck_assert_uint_eq(e->size, 8192);
		ck_assert(!e->open);
	}
	(*n)++;
	return 0;
}

static void
repos_sample(struct sp_buf *b)
{
	struct sp_repo_env	 envs[2] = {
		{ { { "ox/mnist", 8 }, { "nodes", 5 }, { "", 0 }, 0, 0 },
		    1ULL << 33, true },
		{ { { NULL, 0 }, { "refs", 4 }, { "", 0 }, 0, 0 }, 8192,
		    false },
	};

	ck_assert_int_eq(sp_reply_repos(b, 9, envs, 2), 0);
}

static int
ignore_repos(void *arg, const struct sp_repo_env *e)
{
	(void)arg;
	(void)e;
	return 0;
}

/* repos: each env's repo (nil for a fixed path), store, size, open. */
START_TEST(reply_repos)
{
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct sp_error	 err;
	int		 n = 0;

	repos_sample(&b);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.id, 9);
	ck_assert_int_eq(sp_repos_decode(&rep, count_repos, &n, &err), 0);
	ck_assert_int_eq(n, 2);
	/* Cut short inside the list: refused, never read past it. */
	rep.repos.n--;
	ck_assert_int_eq(sp_repos_decode(&rep, ignore_repos, NULL, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REQUEST);
	/* A reply without the list (an older daemon's) is refused too. */
	b.len = 0;
	sp_reply_ok(&b, 9);
	decode_reply(&b, &rep);
	ck_assert_int_eq(sp_repos_decode(&rep, ignore_repos, NULL, &err), -1);
	sp_buf_free(&b);
}
END_TEST

struct stats_seen {
	int	 daemon, envs, env_counters, dbs, db_counters;
};

static int
count_stats(void *arg, enum sp_stats_event ev, const struct sp_live_env *e,
    struct sp_bytes name, uint64_t value)
{
	struct stats_seen	*s = arg;

	switch (ev) {
	case SP_STATS_DAEMON_COUNTER:
		ck_assert(beq(name, ps_str("uptime_s")));
		ck_assert_uint_eq(value, 42);
		s->daemon++;
		break;
	case SP_STATS_ENV:
		ck_assert(beq(e->dir, ps_str("/d")));
		s->envs++;
		break;
	case SP_STATS_ENV_COUNTER:
		ck_assert_int_eq(s->envs, 1);
		s->env_counters++;
		break;
	case SP_STATS_DB:
		ck_assert(beq(name, s->dbs ? ps_str("b") : ps_str("a")));
		s->dbs++;
		break;
	case SP_STATS_DB_COUNTER:
		ck_assert_uint_eq(value, 7);
		s->db_counters++;
		break;
	}
	return 0;
}

static void
stats_sample(struct sp_buf *b)
{
	static const struct sp_counter	 dc[] = { { "uptime_s", 42 } };
	static const struct sp_counter	 ec[] = { { "map_size", 1 },
	    { "map_used", 2 } };
	static const struct sp_counter	 dbc[] = { { "entries", 7 } };
	struct sp_stats_db		 dbs[2] = {
		{ { "a", 1 }, dbc, 1 }, { { "b", 1 }, dbc, 1 } };
	struct sp_stats_env		 env = {
		{ { "r", 1 }, { "refs", 4 }, { "/d", 2 }, 0, 0 },
		ec, 2, dbs, 2 };

	ck_assert_int_eq(sp_reply_stats(b, 9, dc, 1, &env, 1), 0);
}

START_TEST(reply_stats)
{
	struct sp_buf		 b = { 0 };
	struct sp_reply		 rep;
	struct sp_error		 err;
	struct stats_seen	 s = { 0 };

	stats_sample(&b);
	decode_reply(&b, &rep);
	ck_assert_int_eq(sp_stats_decode(&rep, count_stats, &s, &err), 0);
	ck_assert_int_eq(s.daemon, 1);
	ck_assert_int_eq(s.envs, 1);
	ck_assert_int_eq(s.env_counters, 2);
	ck_assert_int_eq(s.dbs, 2);
	ck_assert_int_eq(s.db_counters, 2);
	sp_buf_free(&b);
}
END_TEST

static int
ignore_live(void *arg, const struct sp_live_env *e)
{
	(void)arg;
	(void)e;
	return 0;
}

static int
ignore_stats(void *arg, enum sp_stats_event ev, const struct sp_live_env *e,
    struct sp_bytes name, uint64_t value)
{
	(void)arg;
	(void)ev;
	(void)e;
	(void)name;
	(void)value;
	return 0;
}

/* Revisions on replies, and the frames of a watch. */
START_TEST(reply_rev_and_watch_frames)
{
	static const unsigned char id[16] = { 1, 2, 3 };
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct sp_error	 err;
	size_t		 mark;

	/* Any reply takes a rev; a decoder that does not know it skips. */
	ck_assert_int_eq(sp_reply_val(&b, 5, "v", 1), 0);
	ck_assert_int_eq(sp_reply_add_rev(&b, 0, 77), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.id, 5);
	ck_assert(beq(rep.val, ps_str("v")));
	ck_assert(rep.has_rev);
	ck_assert_uint_eq(rep.rev, 77);
	b.len = 0;
	ck_assert_int_eq(sp_reply_ok(&b, 6), 0);
	decode_reply(&b, &rep);
	ck_assert(!rep.has_rev);
	/* Not the last frame's start: refused, nothing changed. */
	mark = b.len;
	ck_assert_int_eq(sp_reply_add_rev(&b, mark, 1), -1);
	ck_assert_uint_eq(b.len, mark);

	b.len = 0;
	ck_assert_int_eq(sp_reply_rev(&b, 8, 9, id), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.rev, 9);
	ck_assert_uint_eq(rep.env_id.n, 16);
	ck_assert(memcmp(rep.env_id.p, id, 16) == 0);

	b.len = 0;
	ck_assert_int_eq(sp_reply_watch(&b, 10, 3, 100), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.id, 10);
	ck_assert_uint_eq(rep.watch, 3);
	ck_assert_uint_eq(rep.rev, 100);

	b.len = 0;
	ck_assert_int_eq(sp_watch_event(&b, 3, SP_EV_PUT, 101, "k", 1, "v",
	    1), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.id, 0);
	ck_assert_uint_eq(rep.watch, 3);
	ck_assert_int_eq(sp_ev_lookup(rep.ev), SP_EV_PUT);
	ck_assert(beq(rep.key, ps_str("k")));
	ck_assert(beq(rep.val, ps_str("v")));
	b.len = 0;
	ck_assert_int_eq(sp_watch_event(&b, 3, SP_EV_DEL, 102, "k", 1, NULL,
	    0), 0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(sp_ev_lookup(rep.ev), SP_EV_DEL);
	ck_assert_ptr_null(rep.val.p);
	b.len = 0;
	ck_assert_int_eq(sp_watch_event(&b, 3, SP_EV_PROGRESS, 102, NULL, 0,
	    NULL, 0), 0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(sp_ev_lookup(rep.ev), SP_EV_PROGRESS);
	ck_assert_ptr_null(rep.key.p);
	ck_assert_int_eq(sp_watch_event(&b, 3, 9, 1, NULL, 0, NULL, 0), -1);

	b.len = 0;
	ck_assert_int_eq(sp_watch_end(&b, 3, SP_COMPACTED, "gone", 50, 200),
	    0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(rep.code, SP_COMPACTED);
	ck_assert_uint_eq(rep.oldest, 50);
	ck_assert_uint_eq(rep.current, 200);
	ck_assert_str_eq(sp_code_name(SP_RESYNC), "RESYNC");
	ck_assert_int_eq(SP_WATCH_OVERFLOW, 21);
	ck_assert_int_eq(SP_NO_ROOM, 22);
	ck_assert_str_eq(sp_code_name(SP_NO_ROOM), "NO_ROOM");

	/* A watch takes a key or a prefix, not both. */
	b.len = 0;
	{
		struct sp_req	 rq = { .op = SP_OP_WATCH };

		rq.store = ps_str("s");
		rq.key = ps_str("k");
		rq.prefix = ps_str("p");
		ck_assert_int_eq(sp_req_encode(&b, &rq), 0);
		ck_assert_int_eq(sp_req_decode(b.data + SP_FRAME_HDR,
		    b.len - SP_FRAME_HDR, &rq, &err), -1);
		ck_assert_int_eq(err.code, SP_BAD_REQUEST);
	}
	sp_buf_free(&b);
}
END_TEST

START_TEST(reply_every_truncation)
{
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct sp_error	 err;
	size_t		 n, k;
	char		*copy;
	int		 which;

	for (which = 0; which < 7; which++) {
		b.len = 0;
		if (which == 5)
			sp_watch_event(&b, 2, SP_EV_PUT, 3, "k", 1, "v", 1);
		else if (which == 6)
			sp_watch_end(&b, 2, SP_COMPACTED, "c", 1, 2);
		else if (which == 0)
			sp_reply_error(&b, 1, SP_BUSY, "busy");
		else if (which == 4) {
			sp_seterr_busy(&err, 250, "busy");
			sp_reply_err(&b, 1, &err);
		} else if (which == 1)
			sp_reply_hello(&b, 1, "s", 1);
		else if (which == 2)
			live_sample(&b);
		else
			stats_sample(&b);
		n = b.len - SP_FRAME_HDR;
		for (k = 0; k < n; k++) {
			copy = malloc(k ? k : 1);
			memcpy(copy, b.data + SP_FRAME_HDR, k);
			ck_assert_int_eq(sp_reply_decode(copy, k, &rep, &err),
			    -1);
			free(copy);
		}
	}
	/* A reply whose env list is cut short inside is refused too. */
	b.len = 0;
	live_sample(&b);
	decode_reply(&b, &rep);
	rep.envs.n--;
	ck_assert_int_eq(sp_live_decode(&rep, ignore_live, NULL, &err), -1);
	b.len = 0;
	stats_sample(&b);
	decode_reply(&b, &rep);
	rep.envs.n -= 3;
	ck_assert_int_eq(sp_stats_decode(&rep, ignore_stats, NULL, &err), -1);
	sp_buf_free(&b);
}
END_TEST

START_TEST(reply_unknown_fields_skipped)
{
	struct sp_buf	 b = { 0 };
	msgpack_packer	 pk;
	struct sp_reply	 rep;
	struct sp_error	 err;

	sp_mp_packer(&pk, &b);
	msgpack_pack_map(&pk, 3);
	sp_mp_kv_u64(&pk, "id", 5);
	sp_mp_str(&pk, "future");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 0);
	sp_mp_kv_bin(&pk, "val", "v", 1);
	ck_assert_int_eq(sp_reply_decode(b.data, b.len, &rep, &err), 0);
	ck_assert_uint_eq(rep.id, 5);
	ck_assert(beq(rep.val, ps_str("v")));
	sp_buf_free(&b);
}
END_TEST

/* BUSY's retry_ms: sent with BUSY only, at least 1 ms, read back. */
START_TEST(reply_busy_retry)
{
	struct sp_buf	 b = { 0 };
	struct sp_reply	 rep;
	struct sp_error	 err;

	sp_seterr_busy(&err, 250, "wait");
	ck_assert_int_eq(sp_reply_err(&b, 9, &err), 0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(rep.code, SP_BUSY);
	ck_assert(beq(rep.msg, ps_str("wait")));
	ck_assert(rep.has_retry);
	ck_assert_uint_eq(rep.retry_ms, 250);
	ck_assert(!rep.has_index);

	/* No hint: the field is left out. */
	b.len = 0;
	sp_seterr_busy(&err, -1, "stopping");
	ck_assert_int_eq(sp_reply_err(&b, 9, &err), 0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(rep.code, SP_BUSY);
	ck_assert(!rep.has_retry);

	/* sp_seterr() clears a hint an earlier BUSY left. */
	b.len = 0;
	sp_seterr_busy(&err, 250, "wait");
	sp_seterr_at(&err, 3, SP_BAD_KEY, "empty");
	ck_assert_int_eq(sp_reply_err(&b, 9, &err), 0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(rep.code, SP_BAD_KEY);
	ck_assert(rep.has_index);
	ck_assert_uint_eq(rep.index, 3);
	ck_assert(!rep.has_retry);

	/* Only BUSY carries one, and a zeroed error none. */
	b.len = 0;
	memset(&err, 0, sizeof(err));
	err.code = SP_BUSY;
	ck_assert_int_eq(sp_reply_err(&b, 9, &err), 0);
	decode_reply(&b, &rep);
	ck_assert(!rep.has_retry);
	b.len = 0;
	err.code = SP_MAP_FULL;
	err.retry_ms = 5;
	ck_assert_int_eq(sp_reply_err(&b, 9, &err), 0);
	decode_reply(&b, &rep);
	ck_assert(!rep.has_retry);
	sp_buf_free(&b);
}
END_TEST

/*
 * What an older client sees: a BUSY reply with retry_ms and a field no
 * version knows yet decodes to the same code, message and index, since
 * decoders skip fields they do not know (PROTOCOL.md, Requests).
 */
START_TEST(reply_error_extra_fields_decode)
{
	struct sp_buf	 b = { 0 };
	msgpack_packer	 pk;
	struct sp_reply	 rep;
	struct sp_error	 err;

	sp_mp_packer(&pk, &b);
	msgpack_pack_map(&pk, 6);
	sp_mp_kv_u64(&pk, "id", 7);
	sp_mp_kv_u64(&pk, "err", SP_BUSY);
	sp_mp_kv_str(&pk, "name", "BUSY");
	sp_mp_kv_u64(&pk, "retry_later_than", 12);
	sp_mp_kv_str(&pk, "msg", "later");
	sp_mp_kv_u64(&pk, "retry_ms", 40);
	ck_assert_int_eq(sp_reply_decode(b.data, b.len, &rep, &err), 0);
	ck_assert_uint_eq(rep.id, 7);
	ck_assert_int_eq(rep.code, SP_BUSY);
	ck_assert(beq(rep.msg, ps_str("later")));
	ck_assert(rep.has_retry);
	ck_assert_uint_eq(rep.retry_ms, 40);
	sp_buf_free(&b);
}
END_TEST

/* ------------------------------------------------- keys left unwalked */

#define DEFER_NKEYS	2000

/* An mget of DEFER_NKEYS 8-byte keys, as libstoreclient sends it (keys
 * last), key i made by kfn; its body is b's bytes after the header. */
static void
defer_sample(struct sp_buf *b, void (*kfn)(struct sp_buf *, int))
{
	struct sp_buf	 keys = { 0 };
	struct sp_req	 rq;
	char		 k[16];
	int		 i;

	for (i = 0; i < DEFER_NKEYS; i++) {
		if (kfn != NULL) {
			kfn(&keys, i);
			continue;
		}
		snprintf(k, sizeof(k), "%08d", i);
		ck_assert_int_eq(sp_key_encode(&keys, k, 8), 0);
	}
	memset(&rq, 0, sizeof(rq));
	rq.id = 7;
	rq.op = SP_OP_MGET;
	rq.store = ps_str("refs");
	rq.keys.raw.p = keys.data;
	rq.keys.raw.n = keys.len;
	rq.keys.n = DEFER_NKEYS;
	b->len = 0;
	ck_assert_int_eq(sp_req_encode(b, &rq), 0);
	sp_buf_free(&keys);
}

/* Keys, but key 1500 is an integer. */
static void
odd_key(struct sp_buf *b, int i)
{
	msgpack_packer	 pk;

	sp_mp_packer(&pk, b);
	if (i == 1500)
		msgpack_pack_uint32(&pk, 1500);
	else
		ck_assert_int_eq(sp_key_encode(b, "12345678", 8), 0);
}

/*
 * sp_req_decode_defer() leaves a long keys array that ends the request
 * unwalked, for sp_keys_check() where the keys are read: both together
 * accept what sp_req_decode() does, and refuse every truncation, bytes
 * after the keys, and a key that is no key, with its index.
 */
START_TEST(req_keys_deferred)
{
	struct sp_buf	 b = { 0 };
	struct sp_req	 full, lazy;
	struct sp_error	 err;
	const char	*body;
	char		*copy;
	size_t		 n, k;

	defer_sample(&b, NULL);
	body = b.data + SP_FRAME_HDR;
	n = b.len - SP_FRAME_HDR;
	ck_assert_int_eq(sp_req_decode(body, n, &full, &err), 0);
	ck_assert(!full.keys.unchecked);
	ck_assert_int_eq(sp_req_decode_defer(body, n, &lazy, 1000, &err), 0);
	ck_assert(lazy.keys.unchecked);
	ck_assert_uint_eq(lazy.keys.n, DEFER_NKEYS);
	ck_assert(beq(lazy.keys.raw, full.keys.raw));
	ck_assert_uint_eq(lazy.id, 7);
	ck_assert(beq(lazy.store, ps_str("refs")));
	ck_assert_int_eq(sp_keys_check(&lazy.keys, &err), 0);
	/* Not more than the limit: walked as always. */
	ck_assert_int_eq(sp_req_decode_defer(body, n, &lazy, DEFER_NKEYS,
	    &err), 0);
	ck_assert(!lazy.keys.unchecked);

	/* Every truncation fails, in the decoder or in the check. */
	for (k = 0; k < n; k++) {
		copy = malloc(k ? k : 1);
		memcpy(copy, body, k);
		if (sp_req_decode_defer(copy, k, &lazy, 1000, &err) == 0) {
			ck_assert(lazy.keys.unchecked);
			ck_assert_int_eq(sp_keys_check(&lazy.keys, &err), -1);
			ck_assert_int_eq(err.code, SP_BAD_REQUEST);
		}
		free(copy);
	}
	/* A byte after the map: the decoder cannot see it, the check can. */
	copy = malloc(n + 1);
	memcpy(copy, body, n);
	copy[n] = 0;
	ck_assert_int_eq(sp_req_decode(copy, n + 1, &full, &err), -1);
	ck_assert_int_eq(sp_req_decode_defer(copy, n + 1, &lazy, 1000, &err),
	    0);
	ck_assert_int_eq(sp_keys_check(&lazy.keys, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(err.msg, "1 bytes follow"));
	free(copy);

	/* A key that is no key: its index, as for a short request. */
	defer_sample(&b, odd_key);
	body = b.data + SP_FRAME_HDR;
	n = b.len - SP_FRAME_HDR;
	ck_assert_int_eq(sp_req_decode_defer(body, n, &lazy, 1000, &err), 0);
	ck_assert_int_eq(sp_keys_check(&lazy.keys, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REQUEST);
	ck_assert(err.has_index);
	ck_assert_uint_eq(err.index, 1500);
	sp_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ batches */

START_TEST(batch_ops_round_trip)
{
	struct sp_buf		 b = { 0 };
	struct sp_batch_op	 in[6] = {
		{ SP_BATCH_PUT, { "db", 2 }, { "k", 1 }, { "v", 1 } },
		{ SP_BATCH_DEL, { NULL, 0 }, { "k", 1 }, { NULL, 0 } },
		{ SP_BATCH_PUT_IF_ABSENT, { NULL, 0 }, { "k", 1 }, { "", 0 } },
		{ SP_BATCH_EXPECT, { NULL, 0 }, { "\0", 1 }, { "x", 1 } },
		{ SP_BATCH_EXPECT_ABSENT, { NULL, 0 }, { "k", 1 }, { NULL, 0 } },
		{ SP_BATCH_CLEAR, { "db", 2 }, { NULL, 0 }, { NULL, 0 } },
	}, out;
	struct sp_mp_rd		 rd;
	struct sp_error		 err;
	size_t			 i;

	for (i = 0; i < 6; i++)
		ck_assert_int_eq(sp_batch_op_encode(&b, &in[i]), 0);
	sp_mp_rd_init(&rd, b.data, b.len);
	for (i = 0; i < 6; i++) {
		ck_assert_msg(sp_batch_next(&rd, &out, &err) == 0, "%s",
		    err.msg);
		ck_assert_int_eq(out.kind, in[i].kind);
		ck_assert(beq(out.db, in[i].db));
		ck_assert(beq(out.key, in[i].key));
		ck_assert(beq(out.val, in[i].val));
	}
	ck_assert_ptr_eq((const char *)rd.p, b.data + b.len);
	ck_assert_str_eq(sp_batch_kind_name(SP_BATCH_PUT_IF_ABSENT),
	    "put_if_absent");
	ck_assert_ptr_null(sp_batch_kind_name((enum sp_batch_kind)99));
	sp_buf_free(&b);
}
END_TEST

/* The hand-written op encoder writes what msgpack-c's packer would. */
START_TEST(batch_op_bytes_match_packer)
{
	static const size_t	 sizes[] = { 0, 1, 31, 32, 255, 256, 65535,
	    65536, 70000 };
	struct sp_buf		 mine = { 0 }, ref = { 0 };
	struct sp_batch_op	 op;
	msgpack_packer		 pk;
	char			*big = calloc(1, 70000), db[40];
	size_t			 i, j;

	memset(db, 'd', sizeof(db));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < 2; j++) {
			memset(&op, 0, sizeof(op));
			op.kind = j ? SP_BATCH_EXPECT : SP_BATCH_PUT;
			op.key.p = big;
			op.key.n = sizes[i] < 300 ? sizes[i] : 300;
			op.val.p = big;
			op.val.n = sizes[i];
			if (j) {
				op.db.p = db;
				op.db.n = sizes[i] % 40;
			}
			mine.len = ref.len = 0;
			ck_assert_int_eq(sp_batch_op_encode(&mine, &op), 0);
			sp_mp_packer(&pk, &ref);
			msgpack_pack_map(&pk, j ? 4 : 3);
			sp_mp_kv_str(&pk, "op", sp_batch_kind_name(op.kind));
			if (j)
				sp_mp_kv_bytes(&pk, "db", op.db.p, op.db.n);
			sp_mp_kv_bin(&pk, "key", op.key.p, op.key.n);
			sp_mp_kv_bin(&pk, "val", op.val.p, op.val.n);
			ck_assert_uint_eq(mine.len, ref.len);
			ck_assert_int_eq(memcmp(mine.data, ref.data, ref.len), 0);
		}
	}
	free(big);
	sp_buf_free(&mine);
	sp_buf_free(&ref);
}
END_TEST

static void
bad_batch_op(const char *want, int npairs, ...)
{
	struct sp_buf		 b = { 0 };
	msgpack_packer		 pk;
	struct sp_mp_rd		 rd;
	struct sp_batch_op	 op;
	struct sp_error		 err;
	va_list			 ap;
	int			 i;

	sp_mp_packer(&pk, &b);
	msgpack_pack_map(&pk, (uint32_t)npairs);
	va_start(ap, npairs);
	for (i = 0; i < npairs; i++) {
		sp_mp_str(&pk, va_arg(ap, const char *));
		sp_mp_str(&pk, va_arg(ap, const char *));
	}
	va_end(ap);
	sp_mp_rd_init(&rd, b.data, b.len);
	ck_assert_int_eq(sp_batch_next(&rd, &op, &err), -1);
	ck_assert_int_eq(err.code, SP_BAD_REQUEST);
	ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' lacks '%s'",
	    err.msg, want);
	sp_buf_free(&b);
}

START_TEST(batch_ops_invalid)
{
	struct sp_mp_rd		 rd;
	struct sp_batch_op	 op;
	struct sp_error		 err;

	bad_batch_op("has no 'op'", 1, "key", "k");
	bad_batch_op("unknown batch op 'upsert'", 1, "op", "upsert");
	bad_batch_op("a batch put needs a key", 2, "op", "put", "val", "v");
	bad_batch_op("a batch put needs a val", 2, "op", "put", "key", "k");
	bad_batch_op("a batch del takes no val", 3, "op", "del", "key", "k",
	    "val", "v");
	bad_batch_op("a batch clear takes no key", 2, "op", "clear", "key",
	    "k");
	bad_batch_op("unknown field 'value'", 2, "op", "put", "value", "v");
	bad_batch_op("appears twice", 3, "op", "del", "key", "k", "key", "k");
	sp_mp_rd_init(&rd, "\x91\xc0", 2);
	ck_assert_int_eq(sp_batch_next(&rd, &op, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "must be a msgpack map"));
	sp_mp_rd_init(&rd, "\x81\xa2op\x01", 5);
	ck_assert_int_eq(sp_batch_next(&rd, &op, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "wrong type"));
}
END_TEST

/* --------------------------------------------------------- data replies */

START_TEST(reply_data)
{
	struct sp_buf		 b = { 0 };
	struct sp_reply		 rep;
	struct sp_reply_w	 w;
	struct sp_mp_rd		 rd;
	struct sp_bytes		 k, v;
	uint32_t		 idx[3] = { 0, 7, 4000000000u };
	uint64_t		 u;

	ck_assert_int_eq(sp_reply_error_at(&b, 1, SP_COND_FAILED, "op 3",
	    3), 0);
	decode_reply(&b, &rep);
	ck_assert_int_eq(rep.code, SP_COND_FAILED);
	ck_assert(rep.has_index);
	ck_assert_uint_eq(rep.index, 3);

	b.len = 0;
	ck_assert_int_eq(sp_reply_count(&b, 2, 1ULL << 33), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.count, 1ULL << 33);
	ck_assert(!rep.has_index);

	b.len = 0;
	ck_assert_int_eq(sp_reply_missing(&b, 3, idx, 3), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.missing.n, 3);
	sp_mp_rd_init(&rd, rep.missing.raw.p, rep.missing.raw.n);
	ck_assert_int_eq(sp_missing_next(&rd, &u), 0);
	ck_assert_int_eq(sp_missing_next(&rd, &u), 0);
	ck_assert_int_eq(sp_missing_next(&rd, &u), 0);
	ck_assert_uint_eq(u, 4000000000u);

	b.len = 0;
	ck_assert_int_eq(sp_reply_mget_open(&w, &b, 4, 2), 0);
	sp_reply_w_val(&w, NULL, 0);
	sp_reply_w_val(&w, "val", 3);
	ck_assert_int_eq(sp_reply_close(&w), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.vals.n, 2);
	sp_mp_rd_init(&rd, rep.vals.raw.p, rep.vals.raw.n);
	ck_assert_int_eq(sp_mget_next(&rd, &v), 0);
	ck_assert_ptr_null(v.p);
	ck_assert_int_eq(sp_mget_next(&rd, &v), 0);
	ck_assert(beq(v, ps_str("val")));

	b.len = 0;
	ck_assert_int_eq(sp_reply_scan_open(&w, &b, 5, false), 0);
	sp_reply_w_entry(&w, "k1", 2, "v1", 2);
	sp_reply_w_entry(&w, "k2", 2, "", 0);
	ck_assert_uint_gt(sp_reply_w_size(&w), 0);
	ck_assert_int_eq(sp_reply_scan_close(&w, ps_str("k2")), 0);
	decode_reply(&b, &rep);
	ck_assert_uint_eq(rep.entries.n, 2);
	ck_assert(beq(rep.cursor, ps_str("k2")));
	sp_mp_rd_init(&rd, rep.entries.raw.p, rep.entries.raw.n);
	ck_assert_int_eq(sp_scan_next(&rd, false, &k, &v), 0);
	ck_assert(beq(k, ps_str("k1")) && beq(v, ps_str("v1")));
	ck_assert_int_eq(sp_scan_next(&rd, false, &k, &v), 0);
	ck_assert_int_eq(sp_scan_next(&rd, false, &k, &v), -1);

	b.len = 0;
	ck_assert_int_eq(sp_reply_scan_open(&w, &b, 6, true), 0);
	sp_reply_w_entry(&w, "only", 4, NULL, 0);
	ck_assert_int_eq(sp_reply_scan_close(&w, (struct sp_bytes){ NULL, 0 }),
	    0);
	decode_reply(&b, &rep);
	ck_assert_ptr_null(rep.cursor.p);	/* done */
	sp_mp_rd_init(&rd, rep.entries.raw.p, rep.entries.raw.n);
	ck_assert_int_eq(sp_scan_next(&rd, true, &k, &v), 0);
	ck_assert(beq(k, ps_str("only")));
	ck_assert_ptr_null(v.p);

	/* An aborted reply leaves nothing behind. */
	b.len = 0;
	ck_assert_int_eq(sp_reply_scan_open(&w, &b, 7, true), 0);
	sp_reply_w_entry(&w, "x", 1, NULL, 0);
	sp_reply_abort(&w);
	ck_assert_uint_eq(b.len, 0);
	sp_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------- errors */

START_TEST(error_table)
{
	int	 i, j;

	for (i = 0; i < SP_NCODES; i++) {
		ck_assert_ptr_nonnull(sp_code_name(i));
		ck_assert_ptr_nonnull(sp_code_text(i));
		ck_assert_int_eq(sp_code_by_name(sp_code_name(i)), i);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(sp_code_name(i), sp_code_name(j));
	}
	ck_assert_ptr_null(sp_code_name(SP_NCODES));
	ck_assert_ptr_null(sp_code_name(-1));
	ck_assert_int_eq(sp_code_by_name("NOPE"), -1);
	ck_assert_str_eq(sp_code_name(SP_MAP_FULL), "MAP_FULL");
	ck_assert_int_eq(SP_COND_FAILED, 15);	/* numbers are forever */
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc;

	tc = tcase_create("msgpack");
	tcase_add_test(tc, mp_scalars);
	tcase_add_test(tc, mp_lying_lengths);
	tcase_add_test(tc, mp_skip_deep_nesting);
	tcase_add_test(tc, mp_skip_every_type);
	tcase_add_test(tc, mp_bytes_eq);
	tcase_add_test(tc, mp_writers_match_msgpack);
	suite_add_tcase(s, tc);

	tc = tcase_create("frame");
	tcase_add_test(tc, frame_header);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_test(tc, req_samples_cover_every_op);
	tcase_add_loop_test(tc, req_round_trip, 0, ps_nrequests());
	tcase_add_loop_test(tc, req_every_truncation, 0, ps_nrequests());
	tcase_add_test(tc, req_invalid);
	tcase_add_test(tc, req_long_and_short_forms);
	tcase_add_test(tc, req_every_field_map16);
	tcase_add_test(tc, fields_in_any_order);
	tcase_add_test(tc, names_by_the_word_and_by_the_byte);
	tcase_add_test(tc, req_random_bytes);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("reply");
	tcase_add_test(tc, reply_simple);
	tcase_add_test(tc, reply_live);
	tcase_add_test(tc, reply_stats);
	tcase_add_test(tc, reply_every_truncation);
	tcase_add_test(tc, reply_unknown_fields_skipped);
	tcase_add_test(tc, reply_busy_retry);
	tcase_add_test(tc, reply_error_extra_fields_decode);
	tcase_add_test(tc, req_keys_deferred);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_add_test(tc, batch_ops_round_trip);
	tcase_add_test(tc, batch_op_bytes_match_packer);
	tcase_add_test(tc, batch_ops_invalid);
	tcase_add_test(tc, reply_data);
	tcase_add_test(tc, reply_repos);
	tcase_add_test(tc, reply_rev_and_watch_frames);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, error_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(proto_suite());
}
