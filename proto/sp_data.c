/*
 * The data operations' parts of the wire format: batch ops, key lists,
 * and the replies of mget, missing, count and scan.
 */
#include <string.h>

#include "sp_frame.h"
#include "sp_msg.h"
#include "sp_msg_int.h"

/* -------------------------------------------------------------- batches */

static const struct {
	const char	*name;
	bool		 key;	/* takes a key */
	bool		 val;	/* takes a val */
} kinds[] = {
	[SP_BATCH_PUT]		 = { "put", true, true },
	[SP_BATCH_DEL]		 = { "del", true, false },
	[SP_BATCH_PUT_IF_ABSENT] = { "put_if_absent", true, true },
	[SP_BATCH_EXPECT]	 = { "expect", true, true },
	[SP_BATCH_EXPECT_ABSENT] = { "expect_absent", true, false },
	[SP_BATCH_CLEAR]	 = { "clear", false, false },
};
#define NKINDS	(sizeof(kinds) / sizeof(kinds[0]))

const char *
sp_batch_kind_name(enum sp_batch_kind k)
{
	return (unsigned)k < NKINDS ? kinds[k].name : NULL;
}

static int
bad_op(struct sp_error *err, const char *what)
{
	return sp_seterr(err, SP_BAD_REQUEST, "a batch op %s", what);
}

int
sp_batch_next(struct sp_mp_rd *rd, struct sp_batch_op *op,
    struct sp_error *err)
{
	struct sp_bytes	 k, name = { NULL, 0 };
	uint32_t	 i, n;
	size_t		 j;

	memset(op, 0, sizeof(*op));
	if (sp_mp_read_map(rd, &n) == -1)
		return bad_op(err, "must be a msgpack map");
	for (i = 0; i < n; i++) {
		struct sp_bytes	*dst;

		if (sp_mp_read_str(rd, &k) == -1)
			return bad_op(err, "has a field name that is no str");
		if (sp_bytes_eq(k, "op"))
			dst = &name;
		else if (sp_bytes_eq(k, "key"))
			dst = &op->key;
		else if (sp_bytes_eq(k, "val"))
			dst = &op->val;
		else if (sp_bytes_eq(k, "db"))
			dst = &op->db;
		else
			return sp_seterr(err, SP_BAD_REQUEST, "unknown field "
			    "'%.*s' in a batch op; ops have op, key, val, db",
			    (int)(k.n > 32 ? 32 : k.n), k.p);
		if (dst->p != NULL)
			return sp_seterr(err, SP_BAD_REQUEST, "the field "
			    "'%.*s' appears twice in a batch op", (int)k.n, k.p);
		if ((dst == &name || dst == &op->db ? sp_mp_read_str(rd, dst) :
		    sp_mp_read_bytes(rd, dst)) == -1)
			return sp_seterr(err, SP_BAD_REQUEST, "the batch op "
			    "field '%.*s' has the wrong type", (int)k.n, k.p);
	}
	if (name.p == NULL)
		return bad_op(err, "has no 'op'");
	for (j = 0; j < NKINDS; j++)
		if (sp_bytes_eq(name, kinds[j].name))
			break;
	if (j == NKINDS)
		return sp_seterr(err, SP_BAD_REQUEST, "unknown batch op "
		    "'%.*s'; ops are put, del, put_if_absent, expect, "
		    "expect_absent, clear", (int)(name.n > 32 ? 32 : name.n),
		    name.p);
	op->kind = (enum sp_batch_kind)j;
	if (kinds[j].key != (op->key.p != NULL))
		return sp_seterr(err, SP_BAD_REQUEST, "a batch %s %s key",
		    kinds[j].name, kinds[j].key ? "needs a" : "takes no");
	if (kinds[j].val != (op->val.p != NULL))
		return sp_seterr(err, SP_BAD_REQUEST, "a batch %s %s val",
		    kinds[j].name, kinds[j].val ? "needs a" : "takes no");
	return 0;
}

int
sp_batch_op_encode(struct sp_buf *b, const struct sp_batch_op *op)
{
	msgpack_packer	 pk;
	size_t		 len = b->len;

	if ((unsigned)op->kind >= NKINDS)
		return -1;
	sp_mp_packer(&pk, b);
	msgpack_pack_map(&pk, 1 + (op->key.p != NULL) + (op->val.p != NULL) +
	    (op->db.p != NULL));
	sp_mp_kv_str(&pk, "op", kinds[op->kind].name);
	if (op->db.p)
		sp_mp_kv_bytes(&pk, "db", op->db.p, op->db.n);
	if (op->key.p)
		sp_mp_kv_bin(&pk, "key", op->key.p, op->key.n);
	if (op->val.p)
		sp_mp_kv_bin(&pk, "val", op->val.p, op->val.n);
	if (b->failed) {
		b->failed = 0;
		b->len = len;
		return -1;
	}
	return 0;
}

int
sp_key_encode(struct sp_buf *b, const void *key, size_t n)
{
	msgpack_packer	 pk;
	size_t		 len = b->len;

	sp_mp_packer(&pk, b);
	msgpack_pack_bin_with_body(&pk, key, n);
	if (b->failed) {
		b->failed = 0;
		b->len = len;
		return -1;
	}
	return 0;
}

/* -------------------------------------------------------------- replies */

int
sp_reply_count(struct sp_buf *b, uint64_t id, uint64_t count)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, 1) == -1)
		return -1;
	sp_mp_kv_u64(&pk, "count", count);
	return sp_frame_close(b, mark);
}

int
sp_reply_missing(struct sp_buf *b, uint64_t id, const uint32_t *idx, size_t n)
{
	msgpack_packer	 pk;
	size_t		 i, mark;

	if (n > UINT32_MAX || sp__open_reply(b, &pk, &mark, id, 1) == -1)
		return -1;
	sp_mp_str(&pk, "missing");
	msgpack_pack_array(&pk, (uint32_t)n);
	for (i = 0; i < n; i++)
		msgpack_pack_uint32(&pk, idx[i]);
	return sp_frame_close(b, mark);
}

int
sp_reply_mget_open(struct sp_reply_w *w, struct sp_buf *b, uint64_t id,
    uint32_t n)
{
	msgpack_packer	 pk;

	memset(w, 0, sizeof(*w));
	w->b = b;
	if (sp__open_reply(b, &pk, &w->mark, id, 1) == -1)
		return -1;
	sp_mp_str(&pk, "vals");
	msgpack_pack_array(&pk, n);
	return 0;
}

void
sp_reply_w_val(struct sp_reply_w *w, const void *p, size_t n)
{
	msgpack_packer	 pk;

	sp_mp_packer(&pk, w->b);
	if (p == NULL)
		msgpack_pack_nil(&pk);
	else
		msgpack_pack_bin_with_body(&pk, p, n);
	w->n++;
}

int
sp_reply_scan_open(struct sp_reply_w *w, struct sp_buf *b, uint64_t id,
    bool keys_only)
{
	static const char	 arr32[5] = { (char)0xdd, 0, 0, 0, 0 };
	msgpack_packer		 pk;

	memset(w, 0, sizeof(*w));
	w->b = b;
	w->keys_only = keys_only;
	if (sp__open_reply(b, &pk, &w->mark, id, 2) == -1)
		return -1;
	sp_mp_str(&pk, "entries");
	/* The count is known at the end: an array32 header, patched then. */
	w->count_at = b->len + 1;
	return sp_buf_append(b, arr32, sizeof(arr32));
}

void
sp_reply_w_entry(struct sp_reply_w *w, const void *k, size_t kn,
    const void *v, size_t vn)
{
	msgpack_packer	 pk;

	sp_mp_packer(&pk, w->b);
	if (!w->keys_only)
		msgpack_pack_array(&pk, 2);
	msgpack_pack_bin_with_body(&pk, k, kn);
	if (!w->keys_only)
		msgpack_pack_bin_with_body(&pk, v, vn);
	w->n++;
}

int
sp_reply_scan_close(struct sp_reply_w *w, struct sp_bytes cursor)
{
	msgpack_packer	 pk;
	unsigned char	*p;

	if (w->b->failed || w->b->len < w->count_at + 4) {
		sp_reply_abort(w);
		return -1;
	}
	p = (unsigned char *)w->b->data + w->count_at;
	p[0] = (unsigned char)(w->n >> 24);
	p[1] = (unsigned char)(w->n >> 16);
	p[2] = (unsigned char)(w->n >> 8);
	p[3] = (unsigned char)w->n;
	sp_mp_packer(&pk, w->b);
	sp_mp_str(&pk, "cursor");
	if (cursor.p)
		msgpack_pack_bin_with_body(&pk, cursor.p, cursor.n);
	else
		msgpack_pack_nil(&pk);
	return sp_frame_close(w->b, w->mark);
}

int
sp_reply_close(struct sp_reply_w *w)
{
	return sp_frame_close(w->b, w->mark);
}

void
sp_reply_abort(struct sp_reply_w *w)
{
	w->b->failed = 0;
	if (w->b->len > w->mark)
		w->b->len = w->mark;
}

size_t
sp_reply_w_size(const struct sp_reply_w *w)
{
	return w->b->len - w->mark;
}

/* ----------------------------------------------------------- iterators */

int
sp_mget_next(struct sp_mp_rd *rd, struct sp_bytes *val)
{
	if (sp_mp_read_nil(rd) == 0) {
		val->p = NULL;
		val->n = 0;
		return 0;
	}
	return sp_mp_read_bytes(rd, val);
}

int
sp_missing_next(struct sp_mp_rd *rd, uint64_t *idx)
{
	return sp_mp_read_uint(rd, idx);
}

int
sp_scan_next(struct sp_mp_rd *rd, bool keys_only, struct sp_bytes *k,
    struct sp_bytes *v)
{
	uint32_t	 n;

	if (keys_only) {
		v->p = NULL;
		v->n = 0;
		return sp_mp_read_bytes(rd, k);
	}
	if (sp_mp_read_array(rd, &n) == -1 || n != 2 ||
	    sp_mp_read_bytes(rd, k) == -1 || sp_mp_read_bytes(rd, v) == -1)
		return -1;
	return 0;
}
