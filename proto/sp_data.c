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

/* The op's kind from its name; NKINDS when unknown.  Bulk loads decode
 * millions of ops: switch on the length first. */
static size_t
kind_by_name(struct sp_bytes name)
{
	size_t	 j;

	for (j = 0; j < NKINDS; j++)
		if (name.n == strlen(kinds[j].name) &&
		    memcmp(name.p, kinds[j].name, name.n) == 0)
			return j;
	return NKINDS;
}

/* Where field k of a batch op goes, or NULL when there is no such field. */
static struct sp_bytes *
op_field(struct sp_batch_op *op, struct sp_bytes *name, struct sp_bytes k)
{
	if (k.n == 2 && memcmp(k.p, "op", 2) == 0)
		return name;
	if (k.n == 2 && memcmp(k.p, "db", 2) == 0)
		return &op->db;
	if (k.n == 3 && memcmp(k.p, "key", 3) == 0)
		return &op->key;
	if (k.n == 3 && memcmp(k.p, "val", 3) == 0)
		return &op->val;
	return NULL;
}

int
sp_batch_next(struct sp_mp_rd *rd, struct sp_batch_op *op,
    struct sp_error *err)
{
	struct sp_bytes	 k, name = { NULL, 0 }, *dst;
	uint32_t	 i, n;
	size_t		 j;
	char		 q[SP_QUOTE_BUF];

	memset(op, 0, sizeof(*op));
	if (sp_mp_read_map(rd, &n) == -1)
		return bad_op(err, "must be a msgpack map");
	for (i = 0; i < n; i++) {
		if (sp_mp_read_str(rd, &k) == -1)
			return bad_op(err, "has a field name that is no str");
		if ((dst = op_field(op, &name, k)) == NULL)
			return sp_seterr(err, SP_BAD_REQUEST, "unknown field "
			    "'%s' in a batch op; ops have op, key, val, db",
			    sp_quote(k.p, k.n, q));
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
	if ((j = kind_by_name(name)) == NKINDS)
		return sp_seterr(err, SP_BAD_REQUEST, "unknown batch op "
		    "'%s'; ops are put, del, put_if_absent, expect, "
		    "expect_absent, clear", sp_quote(name.p, name.n, q));
	op->kind = (enum sp_batch_kind)j;
	if (kinds[j].key != (op->key.p != NULL))
		return sp_seterr(err, SP_BAD_REQUEST, "a batch %s %s key",
		    kinds[j].name, kinds[j].key ? "needs a" : "takes no");
	if (kinds[j].val != (op->val.p != NULL))
		return sp_seterr(err, SP_BAD_REQUEST, "a batch %s %s val",
		    kinds[j].name, kinds[j].val ? "needs a" : "takes no");
	return 0;
}

/* msgpack headers, written by hand where millions are written per load. */
static size_t
put_str_hdr(unsigned char *p, size_t n)
{
	if (n < 32) {
		p[0] = (unsigned char)(0xa0 | n);
		return 1;
	}
	p[0] = 0xd9;
	p[1] = (unsigned char)n;
	return 2;	/* names here are short: db names are <= 64 */
}

static size_t
put_bin_hdr(unsigned char *p, size_t n)
{
	if (n <= 0xff) {
		p[0] = 0xc4;
		p[1] = (unsigned char)n;
		return 2;
	}
	if (n <= 0xffff) {
		p[0] = 0xc5;
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)n;
		return 3;
	}
	p[0] = 0xc6;
	p[1] = (unsigned char)(n >> 24);
	p[2] = (unsigned char)(n >> 16);
	p[3] = (unsigned char)(n >> 8);
	p[4] = (unsigned char)n;
	return 5;
}

static size_t
put_field(unsigned char *p, const char *name, const struct sp_bytes *v,
    bool bin)
{
	size_t	 n = strlen(name), off;

	off = put_str_hdr(p, n);
	memcpy(p + off, name, n);
	off += n;
	off += bin ? put_bin_hdr(p + off, v->n) : put_str_hdr(p + off, v->n);
	memcpy(p + off, v->p, v->n);
	return off + v->n;
}

/*
 * The same bytes msgpack-c's packer would write (a map of str keys, bin
 * values), written directly: a bulk load encodes an op per key, and the
 * packer's callback per element was a tenth of the client's time.
 */
int
sp_batch_op_encode(struct sp_buf *b, const struct sp_batch_op *op)
{
	struct sp_bytes	 name;
	unsigned char	*p;
	size_t		 off;

	if ((unsigned)op->kind >= NKINDS || (op->db.p && op->db.n > 255))
		return -1;
	name.p = kinds[op->kind].name;
	name.n = strlen(name.p);
	if (sp_buf_reserve(b, 64 + name.n + op->db.n + op->key.n +
	    op->val.n) == -1)
		return -1;
	p = (unsigned char *)b->data + b->len;
	p[0] = (unsigned char)(0x80 | (1 + (op->key.p != NULL) +
	    (op->val.p != NULL) + (op->db.p != NULL)));
	off = 1 + put_field(p + 1, "op", &name, false);
	if (op->db.p)
		off += put_field(p + off, "db", &op->db, false);
	if (op->key.p)
		off += put_field(p + off, "key", &op->key, true);
	if (op->val.p)
		off += put_field(p + off, "val", &op->val, true);
	b->len += off;
	return 0;
}

int
sp_keys_check(const struct sp_array *keys, struct sp_error *err)
{
	struct sp_mp_rd	 rd;
	struct sp_bytes	 k;
	uint32_t	 i;

	sp_mp_rd_init(&rd, keys->raw.p, keys->raw.n);
	for (i = 0; i < keys->n; i++) {
		/* The index travels apart: a client that split its keys
		 * over requests renumbers it. */
		if (sp_mp_read_bytes(&rd, &k) == -1)
			return sp_seterr_at(err, i, SP_BAD_REQUEST, "a key is "
			    "not bin or str");
		if (!sp_key_ok(k.n))
			return sp_seterr_at(err, i, SP_BAD_KEY, "a key is %zu "
			    "bytes; keys are 1 to %d bytes", k.n, SP_KEY_MAX);
	}
	/* Only an array left unchecked can have more (sp_req_decode). */
	if (rd.p != rd.end)
		return sp_seterr(err, SP_BAD_REQUEST, "%zu bytes follow the "
		    "request map in its frame", (size_t)(rd.end - rd.p));
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
	return sp__reply_u64(b, id, "count", count);
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
