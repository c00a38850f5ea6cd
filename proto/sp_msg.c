#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "sp_frame.h"
#include "sp_msg.h"
#include "sp_msg_int.h"

/* ------------------------------------------------------------ the tables */

/*
 * The room of a row's name in the tables of fields and ops: the longest
 * ("batch_abort") and its zero padding, so that name_is() reads a word
 * of any row's name without going past it.
 */
#define NAME_ROOM	16

/*
 * How a field's value is read: K_RAW keeps the msgpack bytes of any
 * value for a later pass; K_OPT_BYTES is bin or str, or nil for none.
 */
enum kind { K_UINT, K_STR, K_BYTES, K_BOOL, K_ARRAY, K_RAW, K_OPT_BYTES };

/*
 * A field of a request or a reply: its name, its bit in the set of those
 * seen, how it is read and where it goes (an offset into struct sp_req
 * or struct sp_reply).  Requests and replies each have one such table,
 * and a field is added by adding a row.
 */
struct field {
	char		 name[NAME_ROOM];	/* zero-padded: see name_is() */
	unsigned char	 len;	/* of name: rows are told apart by it */
	bool		 ptr;	/* present when the pointer at off is set */
	uint32_t	 bit;
	enum kind	 kind;
	size_t		 off;
};

/* A row of a table of fields, its name's length counted here, and
 * whether the encoder tells it present by a pointer (byte strings and
 * arrays, whose pointer comes first in struct sp_bytes and sp_array)
 * or by its bit in has. */
#define FIELD(name, bit, kind, off) \
	{ name, sizeof(name) - 1, (kind) == K_STR || (kind) == K_BYTES || \
	  (kind) == K_ARRAY, bit, kind, off }

/* The request fields; their bits are SP_F_* (sp_msg.h). */
#define RQ(name, bit, kind, member) \
	FIELD(name, bit, kind, offsetof(struct sp_req, member))

static const struct field fields[] = {
	RQ("id",	SP_F_ID,	K_UINT,	id),
	FIELD("op",	SP_F_OP,	K_STR,	0),
	RQ("repo",	SP_F_REPO,	K_STR,	repo),
	RQ("store",	SP_F_STORE,	K_STR,	store),
	RQ("db",	SP_F_DB,	K_STR,	db),
	RQ("key",	SP_F_KEY,	K_BYTES,	key),
	RQ("val",	SP_F_VAL,	K_BYTES,	val),
	RQ("dst",	SP_F_DST,	K_STR,	dst),
	RQ("compact",	SP_F_COMPACT,	K_BOOL,	compact),
	RQ("version",	SP_F_VERSION,	K_UINT,	version),
	RQ("client",	SP_F_CLIENT,	K_STR,	client),
	RQ("ops",	SP_F_OPS,	K_ARRAY,	ops),
	RQ("keys",	SP_F_KEYS,	K_ARRAY,	keys),
	RQ("bid",	SP_F_BID,	K_UINT,	bid),
	RQ("more",	SP_F_MORE,	K_BOOL,	more),
	RQ("if_absent",	SP_F_IF_ABSENT,	K_BOOL,	if_absent),
	RQ("if_equals",	SP_F_IF_EQUALS,	K_BYTES,	if_equals),
	RQ("prefix",	SP_F_PREFIX,	K_BYTES,	prefix),
	RQ("start",	SP_F_START,	K_BYTES,	start),
	RQ("end",	SP_F_END,	K_BYTES,	end),
	RQ("cursor",	SP_F_CURSOR,	K_BYTES,	cursor),
	RQ("limit",	SP_F_LIMIT,	K_UINT,	limit),
	RQ("reverse",	SP_F_REVERSE,	K_BOOL,	reverse),
	RQ("keys_only",	SP_F_KEYS_ONLY,	K_BOOL,	keys_only),
	RQ("replace",	SP_F_REPLACE,	K_BOOL,	replace),
	RQ("from",	SP_F_FROM,	K_UINT,	from),
	RQ("watch",	SP_F_WATCH,	K_UINT,	watch),
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

/* The reply fields, and their bits; err is read apart (its range is
 * checked) and the others straight into struct sp_reply. */
enum {
	R_ID		= 1u << 0,
	R_ERR		= 1u << 1,
	R_INDEX		= 1u << 2,
	R_OTHER		= 1u << 3,	/* nothing to note but the value */
	R_RETRY		= 1u << 4,
	R_REV		= 1u << 5,
};

#define RF(name, bit, kind, member) \
	FIELD(name, bit, kind, offsetof(struct sp_reply, member))

static const struct field reply_fields[] = {
	RF("id",	R_ID,	 K_UINT,	id),
	FIELD("err",	R_ERR,	 K_UINT,	0),
	RF("msg",	R_OTHER, K_STR,		msg),
	RF("val",	R_OTHER, K_BYTES,	val),
	/* Early: every get's reply has it, and rows are tried in order. */
	RF("rev",	R_REV,	 K_UINT,	rev),
	RF("server",	R_OTHER, K_STR,		server),
	RF("version",	R_OTHER, K_UINT,	version),
	RF("max_frame",	R_OTHER, K_UINT,	max_frame),
	RF("size",	R_OTHER, K_UINT,	size),
	RF("envs",	R_OTHER, K_RAW,		envs),
	RF("daemon",	R_OTHER, K_RAW,		daemon),
	RF("index",	R_INDEX, K_UINT,	index),
	RF("retry_ms",	R_RETRY, K_UINT,	retry_ms),
	RF("vals",	R_OTHER, K_ARRAY,	vals),
	RF("missing",	R_OTHER, K_ARRAY,	missing),
	RF("count",	R_OTHER, K_UINT,	count),
	RF("entries",	R_OTHER, K_ARRAY,	entries),
	RF("cursor",	R_OTHER, K_OPT_BYTES,	cursor),
	RF("repos",	R_OTHER, K_RAW,		repos),
	RF("watch",	R_OTHER, K_UINT,	watch),
	RF("ev",	R_OTHER, K_STR,		ev),
	RF("key",	R_OTHER, K_BYTES,	key),
	RF("env_id",	R_OTHER, K_BYTES,	env_id),
	RF("oldest",	R_OTHER, K_UINT,	oldest),
	RF("current",	R_OTHER, K_UINT,	current),
};
#define NREPLY_FIELDS	(sizeof(reply_fields) / sizeof(reply_fields[0]))

/* The key rule's number is in BAD_KEY's text and in PROTOCOL.md too. */
_Static_assert(SP_KEY_MAX == 511, "sp_error.h and PROTOCOL.md say 511");

#define TARGET	(SP_F_REPO | SP_F_DB)
#define SCAN	(SP_F_PREFIX | SP_F_START | SP_F_END | SP_F_CURSOR | \
		 SP_F_LIMIT | SP_F_REVERSE | SP_F_KEYS_ONLY)

/* A row of the ops' table, its name's length counted here. */
#define OP(name, required, optional) \
	{ name, sizeof(name) - 1, required, optional }

static const struct opdef {
	char		 name[NAME_ROOM];	/* zero-padded: see name_is() */
	unsigned char	 len;		/* of name */
	uint32_t	 required;	/* besides id and op */
	uint32_t	 optional;
} ops[SP_OP_MAX] = {
	[SP_OP_HELLO]	 = OP("hello", SP_F_VERSION, SP_F_CLIENT),
	[SP_OP_PING]	 = OP("ping", 0, 0),
	[SP_OP_GET]	 = OP("get", SP_F_STORE | SP_F_KEY, TARGET),
	[SP_OP_PUT]	 = OP("put", SP_F_STORE | SP_F_KEY | SP_F_VAL,
			     TARGET | SP_F_IF_ABSENT | SP_F_IF_EQUALS),
	[SP_OP_DEL]	 = OP("del", SP_F_STORE | SP_F_KEY,
			     TARGET | SP_F_IF_EQUALS),
	[SP_OP_SNAPSHOT] = OP("snapshot", SP_F_STORE,
			     SP_F_REPO | SP_F_COMPACT),
	[SP_OP_FORK]	 = OP("fork", SP_F_STORE | SP_F_DST, SP_F_REPO),
	[SP_OP_STATS]	 = OP("stats", 0, SP_F_REPO | SP_F_STORE),
	[SP_OP_LIVE]	 = OP("live", 0, SP_F_REPO | SP_F_STORE),
	[SP_OP_BATCH]	 = OP("batch", SP_F_STORE | SP_F_OPS,
			     TARGET | SP_F_BID | SP_F_MORE),
	[SP_OP_BATCH_ABORT] = OP("batch_abort", SP_F_BID, 0),
	[SP_OP_MGET]	 = OP("mget", SP_F_STORE | SP_F_KEYS, TARGET),
	[SP_OP_MISSING]	 = OP("missing", SP_F_STORE | SP_F_KEYS, TARGET),
	[SP_OP_COUNT]	 = OP("count", SP_F_STORE, TARGET),
	[SP_OP_SCAN]	 = OP("scan", SP_F_STORE, TARGET | SCAN),
	[SP_OP_REPOS]	 = OP("repos", 0, SP_F_PREFIX | SP_F_STORE),
	[SP_OP_CREATE]	 = OP("create", 0, SP_F_REPO | SP_F_STORE),
	[SP_OP_DROP]	 = OP("drop", 0, SP_F_REPO | SP_F_STORE),
	[SP_OP_RESTORE]	 = OP("restore", SP_F_STORE,
			     SP_F_REPO | SP_F_REPLACE),
	[SP_OP_WATCH]	 = OP("watch", SP_F_STORE,
			     TARGET | SP_F_KEY | SP_F_PREFIX | SP_F_FROM),
	[SP_OP_UNWATCH]	 = OP("unwatch", SP_F_WATCH, 0),
	[SP_OP_REV]	 = OP("rev", SP_F_STORE, SP_F_REPO),
};

const char *
sp_op_name(enum sp_op op)
{
	if (op <= SP_OP_NONE || op >= SP_OP_MAX)
		return NULL;
	return ops[op].name;
}

/* The 8 bytes at p as a word, in the machine's byte order. */
static inline uint64_t
word(const void *p)
{
	uint64_t	 w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* The bits of a word's first n bytes in memory, for n < 8. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define MASK(n)	(~(~(uint64_t)0 >> (8 * (n))))
#else
#define MASK(n)	(((uint64_t)1 << (8 * (n))) - 1)
#endif
static const uint64_t masks[sizeof(uint64_t)] = {
	MASK(0), MASK(1), MASK(2), MASK(3), MASK(4), MASK(5), MASK(6), MASK(7),
};

/*
 * True when the n bytes at p, of which left (at least n) can be read,
 * are a row's name of len bytes, zero-padded to NAME_ROOM.  Inline and
 * without strlen: a decoder tries each row of a table in turn, and this
 * runs for every field of every request.  Names are short, so where 8
 * bytes can be read at p (the name's value follows it: nearly always)
 * one word compare, its bytes past n masked off, settles the first 8
 * bytes, rather than a loop of a compare a byte.
 */
static inline bool
name_is(const char *p, size_t n, size_t left, const char *name, size_t len)
{
	uint64_t	 mask;
	size_t		 i;

	_Static_assert(NAME_ROOM >= sizeof(uint64_t),
	    "name_is() reads 8 bytes of a row's name");
	if (n != len)
		return false;
	if (left < sizeof(uint64_t)) {
		for (i = 0; i < n; i++)
			if (p[i] != name[i])
				return false;
		return true;
	}
	mask = n < sizeof(uint64_t) ? masks[n] : ~(uint64_t)0;
	if (((word(p) ^ word(name)) & mask) != 0)
		return false;
	/* The names of 9 bytes or more: the rest a byte at a time. */
	for (i = sizeof(uint64_t); i < n; i++)
		if (p[i] != name[i])
			return false;
	return true;
}

static enum sp_op
op_lookup(struct sp_bytes name, size_t left)
{
	int	 op;

	if (name.p == NULL || name.n == 0)
		return SP_OP_NONE;
	/* The length rules out most rows, a word compare the rest. */
	for (op = SP_OP_NONE + 1; op < SP_OP_MAX; op++)
		if (name_is(name.p, name.n, left, ops[op].name, ops[op].len))
			return (enum sp_op)op;
	return SP_OP_NONE;
}

/*
 * The row of table (of n rows) named name, or NULL.  The search starts
 * at *next, the row after the one the last call found, and goes round:
 * encoders write fields in the order of the tables, so the first row
 * tried is usually the one, where a search from the top would try every
 * row before it (a get's key is the sixth).  Names are unique, so where
 * it starts changes nothing of what it finds.
 */
static inline const struct field *
field_lookup(const struct field *table, size_t n, struct sp_bytes name,
    size_t left, size_t *next)
{
	size_t	 i, j;

	if (name.n == 0)
		return NULL;
	for (i = 0, j = *next; i < n; i++) {
		if (name_is(name.p, name.n, left, table[j].name,
		    table[j].len)) {
			*next = j + 1 < n ? j + 1 : 0;
			return &table[j];
		}
		j = j + 1 < n ? j + 1 : 0;
	}
	return NULL;
}

static const char *
field_name(uint32_t bit)
{
	size_t	 i;

	for (i = 0; i < NFIELDS; i++)
		if (fields[i].bit == bit)
			return fields[i].name;
	return "?";
}

/* ------------------------------------------------------------ requests */

static const char *
kind_name(enum kind k)
{
	switch (k) {
	case K_UINT:	return "an unsigned integer";
	case K_STR:	return "a str";
	case K_BYTES:	return "bin or str";
	case K_BOOL:	return "a bool";
	case K_ARRAY:	return "an array";
	case K_RAW:	return "any value";
	case K_OPT_BYTES: return "bin, str or nil";
	}
	return "?";
}

/* Reads an array's header and remembers where its elements are. */
int
sp__read_array(struct sp_mp_rd *rd, struct sp_array *a)
{
	struct sp_mp_rd	 c = *rd;
	const char	*start;
	uint32_t	 i;

	if (sp_mp_read_array(&c, &a->n) == -1)
		return -1;
	start = (const char *)c.p;
	for (i = 0; i < a->n; i++)
		if (sp_mp_skip(&c) == -1)
			return -1;
	a->raw.p = start;
	a->raw.n = (size_t)((const char *)c.p - start);
	*rd = c;
	return 0;
}

/* The msgpack bytes of the next value, whatever it is, into v. */
static int
read_raw(struct sp_mp_rd *rd, struct sp_bytes *v)
{
	const unsigned char	*start = rd->p;

	if (sp_mp_skip(rd) == -1)
		return -1;
	v->p = (const char *)start;
	v->n = (size_t)(rd->p - start);
	return 0;
}

/* Reads the next value as kind k into dst, of the type k calls for. */
static int
read_value(struct sp_mp_rd *rd, enum kind k, void *dst)
{
	switch (k) {
	case K_UINT:
		return sp_mp_read_uint(rd, dst);
	case K_BOOL:
		return sp_mp_read_bool(rd, dst);
	case K_STR:
		return sp_mp_read_str(rd, dst);
	case K_BYTES:
		return sp_mp_read_bytes(rd, dst);
	case K_ARRAY:
		return sp__read_array(rd, dst);
	case K_RAW:
		return read_raw(rd, dst);
	case K_OPT_BYTES:
		return sp_mp_read_nil(rd) == 0 ? 0 : sp_mp_read_bytes(rd, dst);
	}
	return -1;
}

/*
 * The common short forms, read inline before the general path: a fixmap
 * (a request), a fixstr (every field name, op, store and repo a client
 * sends), a bin8 (a key, a value under 256 bytes) and an unsigned
 * integer (an id).  Each returns true when it read the value; false
 * leaves rd as it was, for the general path to read the value or say
 * what is wrong with it.  They make the same checks as that path: the
 * payload fits in what is left.
 */
static inline bool
fixstr(struct sp_mp_rd *rd, struct sp_bytes *v)
{
	size_t	 n;

	if (rd->p == rd->end || (rd->p[0] & 0xe0) != 0xa0)
		return false;
	n = rd->p[0] & 0x1f;
	if (n >= (size_t)(rd->end - rd->p))
		return false;
	v->p = (const char *)rd->p + 1;
	v->n = n;
	rd->p += 1 + n;
	return true;
}

static inline bool
bin8(struct sp_mp_rd *rd, struct sp_bytes *v)
{
	size_t	 n;

	if (rd->end - rd->p < 2 || rd->p[0] != 0xc4)
		return false;
	n = rd->p[1];
	if (n > (size_t)(rd->end - rd->p) - 2)
		return false;
	v->p = (const char *)rd->p + 2;
	v->n = n;
	rd->p += 2 + n;
	return true;
}

/* A fixmap, as every request is: at most 15 pairs, 2 bytes each. */
static inline bool
fixmap(struct sp_mp_rd *rd, uint32_t *npairs)
{
	size_t	 n;

	if (rd->p == rd->end || (rd->p[0] & 0xf0) != 0x80)
		return false;
	n = rd->p[0] & 0x0f;
	if (n * 2 > (size_t)(rd->end - rd->p) - 1)
		return false;
	*npairs = (uint32_t)n;
	rd->p++;
	return true;
}

/* A positive fixint, or a uint 8, 16, 32 or 64 (ids count up). */
static inline bool
uint_short(struct sp_mp_rd *rd, uint64_t *v)
{
	size_t		 left = (size_t)(rd->end - rd->p), w, i;
	uint64_t	 x;

	if (left == 0)
		return false;
	if (rd->p[0] <= 0x7f) {
		*v = *rd->p++;
		return true;
	}
	if (rd->p[0] < 0xcc || rd->p[0] > 0xcf)
		return false;
	w = (size_t)1 << (rd->p[0] - 0xcc);
	if (left < 1 + w)
		return false;
	for (x = 0, i = 1; i <= w; i++)
		x = x << 8 | rd->p[i];
	*v = x;
	rd->p += 1 + w;
	return true;
}

static inline bool
read_short(struct sp_mp_rd *rd, enum kind k, void *dst)
{
	switch (k) {
	case K_UINT:
		return uint_short(rd, dst);
	case K_STR:
		return fixstr(rd, dst);
	case K_BYTES:
		return bin8(rd, dst) || fixstr(rd, dst);
	default:
		return false;
	}
}

/* After an error, finds the request's id if it is there, for the reply. */
static void
salvage_id(const void *body, size_t n, struct sp_req *req)
{
	struct sp_mp_rd	 rd;
	struct sp_bytes	 k;
	uint32_t	 i, npairs;
	uint64_t	 id;

	if (req->has & SP_F_ID)
		return;
	sp_mp_rd_init(&rd, body, n);
	if (sp_mp_read_map(&rd, &npairs) == -1)
		return;
	for (i = 0; i < npairs; i++) {
		if (sp_mp_read_str(&rd, &k) == -1)
			return;
		if (sp_bytes_eq(k, "id") && sp_mp_read_uint(&rd, &id) == 0) {
			req->id = id;
			req->has |= SP_F_ID;
			return;
		}
		if (sp_mp_skip(&rd) == -1)
			return;
	}
}

static int
check_fields(const struct sp_req *req, struct sp_error *err)
{
	const struct opdef	*d = &ops[req->op];
	uint32_t		 bit, missing, extra;

	missing = d->required & ~req->has;
	extra = req->has & ~(d->required | d->optional | SP_F_ID | SP_F_OP);
	/* Up to the highest bit to name only: usually none at all. */
	for (bit = 1; bit != 0 && bit <= (missing | extra); bit <<= 1) {
		if (missing & bit)
			return sp_seterr(err, SP_BAD_REQUEST,
			    "a %s request needs the field '%s'", d->name,
			    field_name(bit));
		if (extra & bit)
			return sp_seterr(err, SP_BAD_REQUEST,
			    "the field '%s' does not belong in a %s request",
			    field_name(bit), d->name);
	}
	if ((req->has & SP_F_IF_ABSENT) && req->if_absent &&
	    (req->has & SP_F_IF_EQUALS))
		return sp_seterr(err, SP_BAD_REQUEST, "if_absent and "
		    "if_equals exclude each other");
	if (req->op == SP_OP_WATCH && (req->has & SP_F_KEY) &&
	    (req->has & SP_F_PREFIX))
		return sp_seterr(err, SP_BAD_REQUEST, "a watch takes a key or "
		    "a prefix, not both");
	if ((req->has & SP_F_MORE) && req->more && !(req->has & SP_F_BID))
		return sp_seterr(err, SP_BAD_REQUEST, "a batch with 'more' "
		    "chunks needs a 'bid' to tie them together");
	return 0;
}

/*
 * The keys array that ends a request: with more than defer elements,
 * its bytes are the rest of the request, left unwalked (sp_msg.h);
 * otherwise it is read as any array.  Returns 0, or -1 when malformed.
 */
static int
read_last_keys(struct sp_mp_rd *rd, struct sp_array *a, uint32_t defer)
{
	struct sp_mp_rd	 c = *rd;

	if (defer == 0 || sp_mp_read_array(&c, &a->n) == -1 || a->n <= defer)
		return sp__read_array(rd, a);
	a->raw.p = (const char *)c.p;
	a->raw.n = (size_t)(c.end - c.p);
	a->unchecked = true;
	rd->p = rd->end;
	return 0;
}

int
sp_req_decode(const void *body, size_t n, struct sp_req *req,
    struct sp_error *err)
{
	return sp_req_decode_defer(body, n, req, 0, err);
}

int
sp_req_decode_defer(const void *body, size_t n, struct sp_req *req,
    uint32_t defer, struct sp_error *err)
{
	struct sp_mp_rd		 rd;
	struct sp_bytes		 k, opname = { NULL, 0 };
	const struct field	*f;
	void			*dst;
	size_t			 next = 0;
	uint32_t		 i, npairs;
	char			 q[SP_QUOTE_BUF];
	int			 rc;

	memset(req, 0, sizeof(*req));
	sp_mp_rd_init(&rd, body, n);
	if (!fixmap(&rd, &npairs) && sp_mp_read_map(&rd, &npairs) == -1) {
		sp_seterr(err, SP_BAD_REQUEST,
		    "a request must be one msgpack map, not %s",
		    sp_mp_type_name(sp_mp_peek(&rd)));
		goto fail;
	}
	for (i = 0; i < npairs; i++) {
		if (!fixstr(&rd, &k) && sp_mp_read_str(&rd, &k) == -1) {
			sp_seterr(err, SP_BAD_REQUEST,
			    "field names must be msgpack str, not %s",
			    sp_mp_type_name(sp_mp_peek(&rd)));
			goto fail;
		}
		if ((f = field_lookup(fields, NFIELDS, k,
		    (size_t)(rd.end - (const unsigned char *)k.p), &next)) ==
		    NULL) {
			sp_seterr(err, SP_BAD_REQUEST,
			    "unknown field '%s'; see PROTOCOL.md for the "
			    "fields of each op", sp_quote(k.p, k.n, q));
			goto fail;
		}
		if (req->has & f->bit) {
			sp_seterr(err, SP_BAD_REQUEST,
			    "the field '%s' appears twice", f->name);
			goto fail;
		}
		dst = f->bit == SP_F_OP ? (void *)&opname : (char *)req + f->off;
		if (f->bit == SP_F_KEYS && i == npairs - 1)
			rc = read_last_keys(&rd, &req->keys, defer);
		else if (read_short(&rd, f->kind, dst))
			rc = 0;
		else
			rc = read_value(&rd, f->kind, dst);
		if (rc == -1) {
			sp_seterr(err, SP_BAD_REQUEST,
			    "the field '%s' must be %s, not %s", f->name,
			    kind_name(f->kind), sp_mp_type_name(sp_mp_peek(&rd)));
			goto fail;
		}
		req->has |= f->bit;
	}
	if (rd.p != rd.end) {
		sp_seterr(err, SP_BAD_REQUEST,
		    "%zu bytes follow the request map in its frame",
		    (size_t)(rd.end - rd.p));
		goto fail;
	}
	if (!(req->has & SP_F_ID)) {
		sp_seterr(err, SP_BAD_REQUEST, "the request has no 'id'");
		goto fail;
	}
	if (!(req->has & SP_F_OP)) {
		sp_seterr(err, SP_BAD_REQUEST, "the request has no 'op'");
		goto fail;
	}
	if ((req->op = op_lookup(opname, (size_t)(rd.end -
	    (const unsigned char *)opname.p))) == SP_OP_NONE) {
		sp_seterr(err, SP_BAD_REQUEST,
		    "unknown op '%s' (protocol %d); see PROTOCOL.md",
		    sp_quote(opname.p, opname.n, q), SP_PROTO_VERSION);
		goto fail;
	}
	if (check_fields(req, err) == -1)
		goto fail;
	return 0;
fail:
	salvage_id(body, n, req);
	return -1;
}

/* Whether req carries the field f (not id nor op, always there). */
static inline bool
req_carries(const struct sp_req *req, const struct field *f)
{
	if (f->ptr)
		return *(const void *const *)((const char *)req + f->off) !=
		    NULL;
	return (req->has & f->bit) != 0;
}

_Static_assert(offsetof(struct sp_bytes, p) == 0 &&
    offsetof(struct sp_array, raw) == 0,
    "req_carries() reads a field's pointer at its offset");

/*
 * One pass over the table: each field present is written as it is met,
 * into a map whose count is set at the end (sp_mp_map_count()), rather
 * than a first pass counting them all before the map's header can be
 * written.
 */
int
sp_req_encode(struct sp_buf *b, const struct sp_req *req)
{
	msgpack_packer		 pk;
	const struct field	*f;
	const char		*base = (const char *)req;
	const struct sp_bytes	*v;
	const struct sp_array	*a;
	size_t			 i, mark, map;
	uint32_t		 n = 2;

	if (sp_op_name(req->op) == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (sp_frame_open(b, &mark) == -1)
		return -1;
	sp_mp_packer(&pk, b);
	map = b->len;
	sp_mp_map(&pk, 0);
	/* The table's first rows: id and op, in every request. */
	sp_mp_kv_u64(&pk, "id", req->id);
	sp_mp_kv_bytes(&pk, "op", ops[req->op].name, ops[req->op].len);
	for (i = 2; i < NFIELDS; i++) {
		f = &fields[i];
		if (!req_carries(req, f))
			continue;
		n++;
		switch (f->kind) {
		case K_UINT:
			sp_mp_kv_u64_n(&pk, f->name, f->len,
			    *(const uint64_t *)(base + f->off));
			break;
		case K_BOOL:
			sp_mp_kv_bool(&pk, f->name,
			    *(const bool *)(base + f->off));
			break;
		case K_STR:
			v = (const struct sp_bytes *)(base + f->off);
			sp_mp_kv_raw_n(&pk, f->name, f->len, false, v->p,
			    v->n);
			break;
		case K_BYTES:
			v = (const struct sp_bytes *)(base + f->off);
			sp_mp_kv_raw_n(&pk, f->name, f->len, true, v->p,
			    v->n);
			break;
		case K_ARRAY:
			a = (const struct sp_array *)(base + f->off);
			sp_mp_str(&pk, f->name);
			msgpack_pack_array(&pk, a->n);
			sp_buf_append(b, a->raw.p, a->raw.n);
			break;
		case K_RAW:
		case K_OPT_BYTES:
			break;		/* kinds of reply fields only */
		}
	}
	sp_mp_map_count(b, map, n);
	return sp_frame_close(b, mark);
}

/* ------------------------------------------------------------- replies */

int
sp_reply_decode(const void *body, size_t n, struct sp_reply *rep,
    struct sp_error *err)
{
	struct sp_mp_rd		 rd;
	struct sp_bytes		 k;
	const struct field	*f;
	void			*dst;
	size_t			 next = 0;
	uint32_t		 i, npairs, seen = 0;
	uint64_t		 code = 0;
	int			 rc;

	memset(rep, 0, sizeof(*rep));
	sp_mp_rd_init(&rd, body, n);
	/* The short forms first, as for requests: every reply is a fixmap
	 * of fixstr names, most values short. */
	if (!fixmap(&rd, &npairs) && sp_mp_read_map(&rd, &npairs) == -1)
		return sp_seterr(err, SP_BAD_REQUEST,
		    "a reply must be one msgpack map, not %s",
		    sp_mp_type_name(sp_mp_peek(&rd)));
	for (i = 0; i < npairs; i++) {
		if (!fixstr(&rd, &k) && sp_mp_read_str(&rd, &k) == -1)
			return sp_seterr(err, SP_BAD_REQUEST,
			    "reply field names must be msgpack str");
		/* Fields it does not know are a newer daemon's: skipped. */
		if ((f = field_lookup(reply_fields, NREPLY_FIELDS, k,
		    (size_t)(rd.end - (const unsigned char *)k.p), &next)) ==
		    NULL)
			rc = sp_mp_skip(&rd);
		else {
			dst = f->bit == R_ERR ? (void *)&code :
			    (char *)rep + f->off;
			rc = read_short(&rd, f->kind, dst) ? 0 :
			    read_value(&rd, f->kind, dst);
			seen |= f->bit;
		}
		if (rc == -1)
			return sp_seterr(err, SP_BAD_REQUEST,
			    "the reply field '%.*s' is malformed",
			    (int)(k.n > 32 ? 32 : k.n), k.p);
	}
	rep->has_index = (seen & R_INDEX) != 0;
	rep->has_retry = (seen & R_RETRY) != 0;
	rep->has_rev = (seen & R_REV) != 0;
	if (rd.p != rd.end || !(seen & R_ID))
		return sp_seterr(err, SP_BAD_REQUEST,
		    "the reply has trailing bytes or no id");
	if (code > INT32_MAX)
		return sp_seterr(err, SP_BAD_REQUEST,
		    "the reply's error code %llu is out of range",
		    (unsigned long long)code);
	rep->code = (int)code;
	return 0;
}

/*
 * Every reply is a map that starts with its id.  open_reply() starts the
 * frame and the map with npairs pairs besides the id.
 */
int
sp__open_reply(struct sp_buf *b, msgpack_packer *pk, size_t *mark, uint64_t id,
    uint32_t npairs)
{
	if (sp_frame_open(b, mark) == -1)
		return -1;
	sp_mp_packer(pk, b);
	sp_mp_map(pk, npairs + 1);
	sp_mp_kv_u64(pk, "id", id);
	return 0;
}

static int
error_reply(struct sp_buf *b, uint64_t id, int code, const char *msg,
    const uint64_t *index, int64_t retry_ms)
{
	msgpack_packer	 pk;
	const char	*name = sp_code_name(code);
	size_t		 mark;
	/* A hint is at least 1 ms: a zeroed sp_error carries none. */
	bool		 retry = code == SP_BUSY && retry_ms > 0;

	if (sp__open_reply(b, &pk, &mark, id, 3 + (index != NULL) + retry)
	    == -1)
		return -1;
	sp_mp_kv_u64(&pk, "err", (uint64_t)code);
	sp_mp_kv_str(&pk, "name", name ? name : "UNKNOWN");
	sp_mp_kv_str(&pk, "msg", msg);
	if (index)
		sp_mp_kv_u64(&pk, "index", *index);
	if (retry)
		sp_mp_kv_u64(&pk, "retry_ms", (uint64_t)retry_ms);
	return sp_frame_close(b, mark);
}

int
sp_reply_error(struct sp_buf *b, uint64_t id, int code, const char *msg)
{
	return error_reply(b, id, code, msg, NULL, -1);
}

int
sp_reply_error_at(struct sp_buf *b, uint64_t id, int code, const char *msg,
    uint64_t index)
{
	return error_reply(b, id, code, msg, &index, -1);
}

int
sp_reply_err(struct sp_buf *b, uint64_t id, const struct sp_error *err)
{
	return error_reply(b, id, err->code, err->msg,
	    err->has_index ? &err->index : NULL, err->retry_ms);
}

int
sp_reply_ok(struct sp_buf *b, uint64_t id)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, 0) == -1)
		return -1;
	return sp_frame_close(b, mark);
}

int
sp_reply_val(struct sp_buf *b, uint64_t id, const void *val, size_t n)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, 1) == -1)
		return -1;
	sp_mp_kv_bin(&pk, "val", val, n);
	return sp_frame_close(b, mark);
}

int
sp_reply_hello(struct sp_buf *b, uint64_t id, const char *server,
    uint64_t max_frame)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, 3) == -1)
		return -1;
	sp_mp_kv_u64(&pk, "version", SP_PROTO_VERSION);
	sp_mp_kv_str(&pk, "server", server);
	sp_mp_kv_u64(&pk, "max_frame", max_frame);
	return sp_frame_close(b, mark);
}

/* A reply of one unsigned field besides the id. */
int
sp__reply_u64(struct sp_buf *b, uint64_t id, const char *name, uint64_t v)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, 1) == -1)
		return -1;
	sp_mp_kv_u64(&pk, name, v);
	return sp_frame_close(b, mark);
}

int
sp_reply_add_rev(struct sp_buf *b, size_t mark, uint64_t rev)
{
	msgpack_packer	 pk;
	unsigned char	*m;

	if (b->len < mark + SP_FRAME_HDR + 1)
		return -1;
	m = (unsigned char *)b->data + mark + SP_FRAME_HDR;
	/* A fixmap of 15 pairs could not take one more and stay one. */
	if ((*m & 0xf0) != 0x80 || (*m & 0x0f) == 0x0f)
		return -1;
	(*m)++;
	sp_mp_packer(&pk, b);
	sp_mp_kv_u64(&pk, "rev", rev);
	return sp_frame_close(b, mark);
}

int
sp_reply_rev(struct sp_buf *b, uint64_t id, uint64_t rev, const void *env_id)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, env_id ? 2 : 1) == -1)
		return -1;
	sp_mp_kv_u64(&pk, "rev", rev);
	if (env_id)
		sp_mp_kv_bin(&pk, "env_id", env_id, 16);
	return sp_frame_close(b, mark);
}

static const char *const ev_names[] = {
	[SP_EV_PUT] = "put", [SP_EV_DEL] = "del", [SP_EV_PROGRESS] = "progress",
};

const char *
sp_ev_name(enum sp_ev ev)
{
	if (ev < SP_EV_PUT || ev > SP_EV_PROGRESS)
		return NULL;
	return ev_names[ev];
}

enum sp_ev
sp_ev_lookup(struct sp_bytes name)
{
	int	 i;

	for (i = SP_EV_PUT; i <= SP_EV_PROGRESS; i++)
		if (sp_bytes_eq(name, ev_names[i]))
			return (enum sp_ev)i;
	return 0;
}

int
sp_reply_watch(struct sp_buf *b, uint64_t id, uint64_t watch, uint64_t rev)
{
	msgpack_packer	 pk;
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, id, 2) == -1)
		return -1;
	sp_mp_kv_u64(&pk, "watch", watch);
	sp_mp_kv_u64(&pk, "rev", rev);
	return sp_frame_close(b, mark);
}

int
sp_watch_event(struct sp_buf *b, uint64_t watch, enum sp_ev ev, uint64_t rev,
    const void *key, size_t klen, const void *val, size_t vlen)
{
	msgpack_packer	 pk;
	size_t		 mark;
	uint32_t	 n = ev == SP_EV_PROGRESS ? 3 : ev == SP_EV_PUT ? 5 : 4;

	if (sp_ev_name(ev) == NULL)
		return -1;
	if (sp__open_reply(b, &pk, &mark, 0, n) == -1)
		return -1;
	sp_mp_kv_u64(&pk, "watch", watch);
	sp_mp_kv_str(&pk, "ev", sp_ev_name(ev));
	sp_mp_kv_u64(&pk, "rev", rev);
	if (ev != SP_EV_PROGRESS)
		sp_mp_kv_bin(&pk, "key", key, klen);
	if (ev == SP_EV_PUT)
		sp_mp_kv_bin(&pk, "val", val, vlen);
	return sp_frame_close(b, mark);
}

int
sp_watch_end(struct sp_buf *b, uint64_t watch, int code, const char *msg,
    uint64_t oldest, uint64_t current)
{
	msgpack_packer	 pk;
	const char	*name = sp_code_name(code);
	size_t		 mark;

	if (sp__open_reply(b, &pk, &mark, 0, 6) == -1)
		return -1;
	sp_mp_kv_u64(&pk, "watch", watch);
	sp_mp_kv_u64(&pk, "err", (uint64_t)code);
	sp_mp_kv_str(&pk, "name", name ? name : "UNKNOWN");
	sp_mp_kv_str(&pk, "msg", msg);
	sp_mp_kv_u64(&pk, "oldest", oldest);
	sp_mp_kv_u64(&pk, "current", current);
	return sp_frame_close(b, mark);
}

int
sp_reply_size(struct sp_buf *b, uint64_t id, uint64_t size)
{
	return sp__reply_u64(b, id, "size", size);
}

/* repo, store and dir of an env; a fixed-path store's repo is nil. */
static void
pack_env_id(msgpack_packer *pk, const struct sp_live_env *e)
{
	sp_mp_str(pk, "repo");
	if (e->repo.p)
		msgpack_pack_str_with_body(pk, e->repo.p, e->repo.n);
	else
		msgpack_pack_nil(pk);
	sp_mp_kv_bytes(pk, "store", e->store.p, e->store.n);
	sp_mp_kv_bytes(pk, "dir", e->dir.p, e->dir.n);
}

/* One element of live's list: its id, then what is live about it. */
static void
pack_live_env(msgpack_packer *pk, const void *elem)
{
	const struct sp_live_env	*e = elem;

	msgpack_pack_map(pk, 5);
	pack_env_id(pk, e);
	sp_mp_kv_u64(pk, "inflight", e->inflight);
	sp_mp_kv_u64(pk, "idle_ms", e->idle_ms);
}

/* One element of repos' list: its id, its size, whether it is open. */
static void
pack_repo_env(msgpack_packer *pk, const void *elem)
{
	const struct sp_repo_env	*e = elem;

	msgpack_pack_map(pk, 5);
	pack_env_id(pk, &e->id);
	sp_mp_kv_u64(pk, "size", e->size);
	sp_mp_kv_bool(pk, "open", e->open);
}

/*
 * A reply of one field, name: an array of the n elements at envs, each
 * size bytes, which pack writes as a map.  Returns 0, or -1 (too many,
 * out of memory).
 */
static int
reply_env_list(struct sp_buf *b, uint64_t id, const char *name,
    const void *envs, size_t size, size_t n,
    void (*pack)(msgpack_packer *, const void *))
{
	msgpack_packer	 pk;
	size_t		 i, mark;

	if (n > UINT32_MAX)
		return -1;
	if (sp__open_reply(b, &pk, &mark, id, 1) == -1)
		return -1;
	sp_mp_str(&pk, name);
	msgpack_pack_array(&pk, (uint32_t)n);
	for (i = 0; i < n; i++)
		pack(&pk, (const char *)envs + i * size);
	return sp_frame_close(b, mark);
}

int
sp_reply_live(struct sp_buf *b, uint64_t id, const struct sp_live_env *envs,
    size_t n)
{
	return reply_env_list(b, id, "envs", envs, sizeof(*envs), n,
	    pack_live_env);
}

int
sp_reply_repos(struct sp_buf *b, uint64_t id, const struct sp_repo_env *envs,
    size_t n)
{
	return reply_env_list(b, id, "repos", envs, sizeof(*envs), n,
	    pack_repo_env);
}

static void
pack_counters(msgpack_packer *pk, const struct sp_counter *c, size_t n)
{
	size_t	 i;

	msgpack_pack_map(pk, (uint32_t)n);
	for (i = 0; i < n; i++)
		sp_mp_kv_u64(pk, c[i].name, c[i].value);
}

int
sp_reply_stats(struct sp_buf *b, uint64_t id, const struct sp_counter *daemon,
    size_t ndaemon, const struct sp_stats_env *envs, size_t nenvs)
{
	msgpack_packer			 pk;
	const struct sp_stats_env	*e;
	size_t				 i, j, mark;

	if (nenvs > UINT32_MAX || ndaemon > UINT32_MAX)
		return -1;
	if (sp__open_reply(b, &pk, &mark, id, 2) == -1)
		return -1;
	sp_mp_str(&pk, "daemon");
	pack_counters(&pk, daemon, ndaemon);
	sp_mp_str(&pk, "envs");
	msgpack_pack_array(&pk, (uint32_t)nenvs);
	for (i = 0; i < nenvs; i++) {
		e = &envs[i];
		msgpack_pack_map(&pk, 5);
		pack_env_id(&pk, &e->id);
		sp_mp_str(&pk, "counters");
		pack_counters(&pk, e->counters, e->ncounters);
		sp_mp_str(&pk, "dbs");
		msgpack_pack_array(&pk, (uint32_t)e->ndbs);
		for (j = 0; j < e->ndbs; j++) {
			msgpack_pack_map(&pk, 2);
			sp_mp_kv_bytes(&pk, "name", e->dbs[j].name.p,
			    e->dbs[j].name.n);
			sp_mp_str(&pk, "counters");
			pack_counters(&pk, e->dbs[j].counters,
			    e->dbs[j].ncounters);
		}
	}
	return sp_frame_close(b, mark);
}

/* ------------------------------------------------- nested reply parts */

static int
malformed(struct sp_error *err, const char *what)
{
	return sp_seterr(err, SP_BAD_REQUEST, "malformed %s in the reply",
	    what);
}

/*
 * Reads the repo/store/dir fields of an env map into e; other fields are
 * left for the caller, which gets each one it does not know through
 * other().  Returns 0, or -1 on a malformed env.
 */
static int
read_env(struct sp_mp_rd *rd, struct sp_live_env *e,
    int (*other)(void *arg, struct sp_bytes k, struct sp_mp_rd *rd),
    void *arg)
{
	struct sp_bytes	 k;
	uint32_t	 i, npairs;
	int		 rc;

	memset(e, 0, sizeof(*e));
	if (sp_mp_read_map(rd, &npairs) == -1)
		return -1;
	for (i = 0; i < npairs; i++) {
		if (sp_mp_read_str(rd, &k) == -1)
			return -1;
		if (sp_bytes_eq(k, "repo"))
			rc = sp_mp_read_nil(rd) == 0 ? 0 :
			    sp_mp_read_str(rd, &e->repo);
		else if (sp_bytes_eq(k, "store"))
			rc = sp_mp_read_str(rd, &e->store);
		else if (sp_bytes_eq(k, "dir"))
			rc = sp_mp_read_str(rd, &e->dir);
		else
			rc = other(arg, k, rd);
		if (rc == -1)
			return -1;
	}
	return e->store.p && e->dir.p ? 0 : -1;
}

struct live_ctx {
	struct sp_live_env	*e;
};

static int
live_other(void *arg, struct sp_bytes k, struct sp_mp_rd *rd)
{
	struct live_ctx	*c = arg;

	if (sp_bytes_eq(k, "inflight"))
		return sp_mp_read_uint(rd, &c->e->inflight);
	if (sp_bytes_eq(k, "idle_ms"))
		return sp_mp_read_uint(rd, &c->e->idle_ms);
	return sp_mp_skip(rd);
}

int
sp_live_decode(const struct sp_reply *rep,
    int (*fn)(void *arg, const struct sp_live_env *env), void *arg,
    struct sp_error *err)
{
	struct sp_mp_rd		 rd;
	struct sp_live_env	 e;
	struct live_ctx		 c = { &e };
	uint32_t		 i, n;

	if (rep->envs.p == NULL)
		return malformed(err, "env list");
	sp_mp_rd_init(&rd, rep->envs.p, rep->envs.n);
	if (sp_mp_read_array(&rd, &n) == -1)
		return malformed(err, "env list");
	for (i = 0; i < n; i++) {
		if (read_env(&rd, &e, live_other, &c) == -1)
			return malformed(err, "env");
		if (fn(arg, &e) == -1)
			return -1;
	}
	return 0;
}

static int
repos_other(void *arg, struct sp_bytes k, struct sp_mp_rd *rd)
{
	struct sp_repo_env	*e = arg;

	if (sp_bytes_eq(k, "size"))
		return sp_mp_read_uint(rd, &e->size);
	if (sp_bytes_eq(k, "open"))
		return sp_mp_read_bool(rd, &e->open);
	return sp_mp_skip(rd);
}

int
sp_repos_decode(const struct sp_reply *rep,
    int (*fn)(void *arg, const struct sp_repo_env *env), void *arg,
    struct sp_error *err)
{
	struct sp_mp_rd		 rd;
	struct sp_repo_env	 e;
	uint32_t		 i, n;

	if (rep->repos.p == NULL)
		return malformed(err, "repo list");
	sp_mp_rd_init(&rd, rep->repos.p, rep->repos.n);
	if (sp_mp_read_array(&rd, &n) == -1)
		return malformed(err, "repo list");
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		if (read_env(&rd, &e.id, repos_other, &e) == -1)
			return malformed(err, "repo env");
		if (fn(arg, &e) == -1)
			return -1;
	}
	return 0;
}

struct stats_ctx {
	int	(*fn)(void *, enum sp_stats_event, const struct sp_live_env *,
		    struct sp_bytes, uint64_t);
	void			*arg;
	struct sp_live_env	*env;
	int			 stopped;	/* fn returned -1 */
};

static int
stats_counters(struct stats_ctx *c, struct sp_mp_rd *rd,
    enum sp_stats_event ev)
{
	struct sp_bytes	 k;
	uint32_t	 i, n;
	uint64_t	 v;

	if (sp_mp_read_map(rd, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (sp_mp_read_str(rd, &k) == -1)
			return -1;
		if (sp_mp_read_uint(rd, &v) == -1) {
			/* A newer daemon's non-integer stat: not ours to show. */
			if (sp_mp_skip(rd) == -1)
				return -1;
			continue;
		}
		if (c->fn(c->arg, ev, c->env, k, v) == -1) {
			c->stopped = 1;
			return -1;
		}
	}
	return 0;
}

static int
stats_dbs(struct stats_ctx *c, struct sp_mp_rd *rd)
{
	struct sp_bytes	 k, name;
	struct sp_mp_rd	 counters;
	uint32_t	 i, j, n, npairs;

	if (sp_mp_read_array(rd, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (sp_mp_read_map(rd, &npairs) == -1)
			return -1;
		name.p = NULL;
		counters.p = NULL;
		for (j = 0; j < npairs; j++) {
			if (sp_mp_read_str(rd, &k) == -1)
				return -1;
			if (sp_bytes_eq(k, "name")) {
				if (sp_mp_read_str(rd, &name) == -1)
					return -1;
				continue;
			}
			if (sp_bytes_eq(k, "counters"))
				counters = *rd;
			if (sp_mp_skip(rd) == -1)
				return -1;
		}
		if (name.p == NULL)
			return -1;
		if (c->fn(c->arg, SP_STATS_DB, c->env, name, 0) == -1) {
			c->stopped = 1;
			return -1;
		}
		if (counters.p != NULL &&
		    stats_counters(c, &counters, SP_STATS_DB_COUNTER) == -1)
			return -1;
	}
	return 0;
}

/*
 * An env's counters and dbs must be reported after the env itself, and
 * the env's fields may come in any order, so the first pass (read_env)
 * remembers where they are and the second reports them.
 */
struct env_parts {
	struct sp_mp_rd	 counters;
	struct sp_mp_rd	 dbs;
};

static int
stats_env_other(void *arg, struct sp_bytes k, struct sp_mp_rd *rd)
{
	struct env_parts	*p = arg;

	if (sp_bytes_eq(k, "counters"))
		p->counters = *rd;
	else if (sp_bytes_eq(k, "dbs"))
		p->dbs = *rd;
	return sp_mp_skip(rd);
}

int
sp_stats_decode(const struct sp_reply *rep,
    int (*fn)(void *arg, enum sp_stats_event ev, const struct sp_live_env *env,
    struct sp_bytes name, uint64_t value), void *arg, struct sp_error *err)
{
	struct stats_ctx	 c = { fn, arg, NULL, 0 };
	struct sp_live_env	 e;
	struct env_parts	 parts;
	struct sp_mp_rd		 rd;
	struct sp_bytes		 none = { NULL, 0 };
	uint32_t		 i, n;

	if (rep->daemon.p == NULL || rep->envs.p == NULL)
		return malformed(err, "stats");
	sp_mp_rd_init(&rd, rep->daemon.p, rep->daemon.n);
	if (stats_counters(&c, &rd, SP_STATS_DAEMON_COUNTER) == -1)
		goto fail;
	sp_mp_rd_init(&rd, rep->envs.p, rep->envs.n);
	if (sp_mp_read_array(&rd, &n) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		memset(&parts, 0, sizeof(parts));
		if (read_env(&rd, &e, stats_env_other, &parts) == -1)
			goto fail;
		c.env = &e;
		if (fn(arg, SP_STATS_ENV, &e, none, 0) == -1)
			return -1;
		if (parts.counters.p != NULL &&
		    stats_counters(&c, &parts.counters,
		    SP_STATS_ENV_COUNTER) == -1)
			goto fail;
		if (parts.dbs.p != NULL && stats_dbs(&c, &parts.dbs) == -1)
			goto fail;
	}
	return 0;
fail:
	if (c.stopped)
		return -1;
	return malformed(err, "stats");
}
