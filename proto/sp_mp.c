#include <stdint.h>
#include <string.h>

#include "sp_mp.h"

/* ---------------------------------------------------------------- writing */

static int
buf_write(void *data, const char *p, size_t n)
{
	return sp_buf_append(data, p, n);
}

void
sp_mp_packer(msgpack_packer *pk, struct sp_buf *b)
{
	msgpack_packer_init(pk, b, buf_write);
}

/*
 * The writers below put a key and its value into the packer's buffer
 * with one reservation and no callback per piece: a request or a reply
 * is a handful of short fields, and msgpack-c's callback, one per
 * header and one per body, cost more than the fields themselves.  They
 * write exactly what msgpack-c writes (the smallest form of each).
 */

/* Room for n more bytes of b, or NULL (b's sticky failed flag set). */
static inline unsigned char *
room(struct sp_buf *b, size_t n)
{
	if (n > b->cap - b->len && sp_buf_reserve(b, n) == -1)
		return NULL;
	return (unsigned char *)b->data + b->len;
}

/* Writes the header of a str (bin false) or bin of n bytes at p;
 * returns its length, at most 5 bytes. */
static inline size_t
raw_hdr(unsigned char *p, bool bin, size_t n)
{
	if (!bin && n < 32) {
		p[0] = (unsigned char)(0xa0 | n);
		return 1;
	}
	if (n < 256) {
		p[0] = bin ? 0xc4 : 0xd9;
		p[1] = (unsigned char)n;
		return 2;
	}
	if (n < 65536) {
		p[0] = bin ? 0xc5 : 0xda;
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)n;
		return 3;
	}
	p[0] = bin ? 0xc6 : 0xdb;
	p[1] = (unsigned char)(n >> 24);
	p[2] = (unsigned char)(n >> 16);
	p[3] = (unsigned char)(n >> 8);
	p[4] = (unsigned char)n;
	return 5;
}

/* Writes the w bytes of v at p, big-endian. */
static inline void
put_be(unsigned char *p, uint64_t v, int w)
{
	int	 i;

	for (i = w - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* Writes the uint v at p in its smallest form; returns its length, at
 * most 9 bytes.  Each width is written apart: ids and revisions take
 * every one of them in turn, and a loop over the width cost more than
 * the value. */
static inline size_t
uint_at(unsigned char *p, uint64_t v)
{
	if (v < 128) {
		p[0] = (unsigned char)v;
		return 1;
	}
	if (v < 256) {
		p[0] = 0xcc;
		p[1] = (unsigned char)v;
		return 2;
	}
	if (v < 65536) {
		p[0] = 0xcd;
		p[1] = (unsigned char)(v >> 8);
		p[2] = (unsigned char)v;
		return 3;
	}
	if (v <= UINT32_MAX) {
		p[0] = 0xce;
		put_be(p + 1, v, 4);
		return 5;
	}
	p[0] = 0xcf;
	put_be(p + 1, v, 8);
	return 9;
}

/*
 * Writes the name k of kn bytes as a str at p, which has room for it
 * and its header; returns the bytes written.  A reply's names are a few
 * bytes each and every reply has two or three: the short ones are
 * copied by fixed-size moves, not a memcpy call.
 */
static inline size_t
put_name(unsigned char *p, const char *k, size_t kn)
{
	size_t	 len = raw_hdr(p, false, kn);

	p += len;
	switch (kn) {
	case 2: memcpy(p, k, 2); break;
	case 3: memcpy(p, k, 3); break;
	case 4: memcpy(p, k, 4); break;
	case 5: memcpy(p, k, 5); break;
	case 6: memcpy(p, k, 6); break;
	default: memcpy(p, k, kn); break;
	}
	return len + kn;
}

void
sp_mp_kv_raw_n(msgpack_packer *pk, const char *k, size_t kn, bool bin,
    const void *v, size_t n)
{
	struct sp_buf	*b = pk->data;
	size_t		 len;
	unsigned char	*p;

	/* Two headers of at most 5 bytes each. */
	if (kn > SIZE_MAX - 10 || n > SIZE_MAX - kn - 10 ||
	    (p = room(b, kn + n + 10)) == NULL) {
		b->failed = 1;
		return;
	}
	len = put_name(p, k, kn);
	len += raw_hdr(p + len, bin, n);
	if (n > 0)
		memcpy(p + len, v, n);
	b->len += len + n;
}

void
sp_mp_map(msgpack_packer *pk, uint32_t n)
{
	struct sp_buf	*b = pk->data;
	unsigned char	*p;

	/* A fixmap, as every reply is, without msgpack-c's callback. */
	if (n > 15) {
		msgpack_pack_map(pk, n);
		return;
	}
	if ((p = room(b, 1)) == NULL)
		return;
	p[0] = (unsigned char)(0x80 | n);
	b->len++;
}

void
sp_mp_map_count(struct sp_buf *b, size_t at, uint32_t n)
{
	unsigned char	*p;

	if (b->failed || at >= b->len)
		return;
	if (n <= 15) {
		b->data[at] = (char)(0x80 | n);
		return;
	}
	/* A map16, as msgpack-c writes up to 65535 pairs: two more bytes
	 * of header before the pairs. */
	if (n > 0xffff) {
		b->failed = 1;
		return;
	}
	if (sp_buf_reserve(b, 2) == -1)
		return;
	p = (unsigned char *)b->data + at;
	memmove(p + 3, p + 1, b->len - at - 1);
	p[0] = 0xde;
	p[1] = (unsigned char)(n >> 8);
	p[2] = (unsigned char)n;
	b->len += 2;
}

void
sp_mp_str(msgpack_packer *pk, const char *s)
{
	struct sp_buf	*b = pk->data;
	size_t		 n = strlen(s), len;
	unsigned char	*p;

	if ((p = room(b, n + 5)) == NULL)
		return;
	len = raw_hdr(p, false, n);
	memcpy(p + len, s, n);
	b->len += len + n;
}

void
sp_mp_kv_u64_n(msgpack_packer *pk, const char *k, size_t kn, uint64_t v)
{
	struct sp_buf	*b = pk->data;
	size_t		 len;
	unsigned char	*p;

	/* A header of at most 5 bytes and an integer of at most 9. */
	if (kn > SIZE_MAX - 14 || (p = room(b, kn + 14)) == NULL) {
		b->failed = 1;
		return;
	}
	len = put_name(p, k, kn);
	b->len += len + uint_at(p + len, v);
}

void
sp_mp_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
	sp_mp_str(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* ---------------------------------------------------------------- reading */

void
sp_mp_rd_init(struct sp_mp_rd *rd, const void *p, size_t n)
{
	rd->p = p;
	rd->end = rd->p + n;
}

static size_t
left(const struct sp_mp_rd *rd)
{
	return (size_t)(rd->end - rd->p);
}

static uint64_t
be(const unsigned char *p, int n)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Decodes the header of the next object: its type, the size of the
 * header, and a length whose meaning depends on the type (payload bytes
 * for str, bin, ext and scalars; element count for arrays; pair count
 * for maps).  Returns -1 when the header itself is truncated or invalid.
 */
static int
header(const struct sp_mp_rd *rd, enum sp_mp_type *type, size_t *hdr,
    uint64_t *len)
{
	unsigned char	 b;
	int		 w = 0;

	if (left(rd) < 1)
		return -1;
	b = rd->p[0];
	*hdr = 1;
	*len = 0;
	if (b <= 0x7f) {
		*type = SP_MP_UINT;
		return 0;
	}
	if (b >= 0xe0) {
		*type = SP_MP_INT;
		return 0;
	}
	if (b <= 0x8f) {
		*type = SP_MP_MAP;
		*len = b & 0x0f;
		return 0;
	}
	if (b <= 0x9f) {
		*type = SP_MP_ARRAY;
		*len = b & 0x0f;
		return 0;
	}
	if (b <= 0xbf) {
		*type = SP_MP_STR;
		*len = b & 0x1f;
		return 0;
	}
	switch (b) {
	case 0xc0: *type = SP_MP_NIL; return 0;
	case 0xc2: case 0xc3: *type = SP_MP_BOOL; return 0;
	case 0xc4: *type = SP_MP_BIN; w = 1; break;
	case 0xc5: *type = SP_MP_BIN; w = 2; break;
	case 0xc6: *type = SP_MP_BIN; w = 4; break;
	case 0xc7: *type = SP_MP_EXT; w = 1; break;
	case 0xc8: *type = SP_MP_EXT; w = 2; break;
	case 0xc9: *type = SP_MP_EXT; w = 4; break;
	case 0xca: *type = SP_MP_FLOAT; *len = 4; return 0;
	case 0xcb: *type = SP_MP_FLOAT; *len = 8; return 0;
	case 0xcc: *type = SP_MP_UINT; *len = 1; return 0;
	case 0xcd: *type = SP_MP_UINT; *len = 2; return 0;
	case 0xce: *type = SP_MP_UINT; *len = 4; return 0;
	case 0xcf: *type = SP_MP_UINT; *len = 8; return 0;
	case 0xd0: *type = SP_MP_INT; *len = 1; return 0;
	case 0xd1: *type = SP_MP_INT; *len = 2; return 0;
	case 0xd2: *type = SP_MP_INT; *len = 4; return 0;
	case 0xd3: *type = SP_MP_INT; *len = 8; return 0;
	case 0xd4: *type = SP_MP_EXT; *len = 2; return 0;
	case 0xd5: *type = SP_MP_EXT; *len = 3; return 0;
	case 0xd6: *type = SP_MP_EXT; *len = 5; return 0;
	case 0xd7: *type = SP_MP_EXT; *len = 9; return 0;
	case 0xd8: *type = SP_MP_EXT; *len = 17; return 0;
	case 0xd9: *type = SP_MP_STR; w = 1; break;
	case 0xda: *type = SP_MP_STR; w = 2; break;
	case 0xdb: *type = SP_MP_STR; w = 4; break;
	case 0xdc: *type = SP_MP_ARRAY; w = 2; break;
	case 0xdd: *type = SP_MP_ARRAY; w = 4; break;
	case 0xde: *type = SP_MP_MAP; w = 2; break;
	case 0xdf: *type = SP_MP_MAP; w = 4; break;
	default:
		return -1;	/* 0xc1 is never used */
	}
	if (left(rd) < 1 + (size_t)w)
		return -1;
	*hdr = 1 + w;
	*len = be(rd->p + 1, w);
	if (*type == SP_MP_EXT)
		*len += 1;	/* the ext type byte */
	return 0;
}

enum sp_mp_type
sp_mp_peek(const struct sp_mp_rd *rd)
{
	enum sp_mp_type	 t;
	size_t		 hdr;
	uint64_t	 len;

	if (header(rd, &t, &hdr, &len) == -1)
		return SP_MP_INVALID;
	return t;
}

const char *
sp_mp_type_name(enum sp_mp_type t)
{
	static const char *const names[] = {
		"nil", "bool", "unsigned integer", "negative integer", "float",
		"str", "bin", "array", "map", "ext", "invalid msgpack"
	};

	if ((unsigned)t > SP_MP_INVALID)
		t = SP_MP_INVALID;
	return names[t];
}

int
sp_mp_read_nil(struct sp_mp_rd *rd)
{
	if (left(rd) < 1 || rd->p[0] != 0xc0)
		return -1;
	rd->p++;
	return 0;
}

int
sp_mp_read_bool(struct sp_mp_rd *rd, bool *v)
{
	if (left(rd) < 1 || (rd->p[0] != 0xc2 && rd->p[0] != 0xc3))
		return -1;
	*v = rd->p[0] == 0xc3;
	rd->p++;
	return 0;
}

int
sp_mp_read_uint(struct sp_mp_rd *rd, uint64_t *v)
{
	enum sp_mp_type	 t;
	size_t		 hdr;
	uint64_t	 len;

	/* A positive fixint, as most ids are. */
	if (left(rd) > 0 && rd->p[0] <= 0x7f) {
		*v = rd->p[0];
		rd->p++;
		return 0;
	}
	if (header(rd, &t, &hdr, &len) == -1 || t != SP_MP_UINT ||
	    left(rd) < hdr + len)
		return -1;
	*v = len == 0 ? rd->p[0] : be(rd->p + 1, (int)len);
	rd->p += hdr + len;
	return 0;
}

static int
read_payload(struct sp_mp_rd *rd, enum sp_mp_type want1,
    enum sp_mp_type want2, struct sp_bytes *v)
{
	enum sp_mp_type	 t;
	size_t		 hdr;
	uint64_t	 len;

	/* A fixstr, as every field name is: no need for header(). */
	if (want2 == SP_MP_STR && left(rd) > 0 && (rd->p[0] & 0xe0) == 0xa0 &&
	    (size_t)(rd->p[0] & 0x1f) < left(rd)) {
		v->p = (const char *)rd->p + 1;
		v->n = rd->p[0] & 0x1f;
		rd->p += 1 + v->n;
		return 0;
	}
	/* A bin8, as a key is. */
	if (want1 == SP_MP_BIN && left(rd) > 1 && rd->p[0] == 0xc4 &&
	    (size_t)rd->p[1] <= left(rd) - 2) {
		v->p = (const char *)rd->p + 2;
		v->n = rd->p[1];
		rd->p += 2 + v->n;
		return 0;
	}
	if (header(rd, &t, &hdr, &len) == -1 || (t != want1 && t != want2))
		return -1;
	if (len > left(rd) - hdr)
		return -1;
	v->p = (const char *)rd->p + hdr;
	v->n = len;
	rd->p += hdr + len;
	return 0;
}

int
sp_mp_read_str(struct sp_mp_rd *rd, struct sp_bytes *v)
{
	return read_payload(rd, SP_MP_STR, SP_MP_STR, v);
}

int
sp_mp_read_bytes(struct sp_mp_rd *rd, struct sp_bytes *v)
{
	return read_payload(rd, SP_MP_BIN, SP_MP_STR, v);
}

/*
 * Containers: every element takes at least one byte, so a count larger
 * than the bytes left is a lie and is refused before anyone trusts it.
 */
static int
read_container(struct sp_mp_rd *rd, enum sp_mp_type want, uint32_t *n)
{
	enum sp_mp_type	 t;
	size_t		 hdr;
	uint64_t	 len, need;

	if (header(rd, &t, &hdr, &len) == -1 || t != want)
		return -1;
	need = want == SP_MP_MAP ? len * 2 : len;
	if (need > left(rd) - hdr)
		return -1;
	*n = (uint32_t)len;
	rd->p += hdr;
	return 0;
}

int
sp_mp_read_array(struct sp_mp_rd *rd, uint32_t *n)
{
	return read_container(rd, SP_MP_ARRAY, n);
}

int
sp_mp_read_map(struct sp_mp_rd *rd, uint32_t *n)
{
	return read_container(rd, SP_MP_MAP, n);
}

int
sp_mp_skip(struct sp_mp_rd *rd)
{
	struct sp_mp_rd	 c = *rd;
	enum sp_mp_type	 t;
	size_t		 hdr;
	uint64_t	 len, pending = 1;

	while (pending > 0) {
		if (header(&c, &t, &hdr, &len) == -1)
			return -1;
		pending--;
		if (t == SP_MP_ARRAY || t == SP_MP_MAP) {
			uint64_t need = t == SP_MP_MAP ? len * 2 : len;

			/* Same lie detector as read_container(). */
			if (need > left(&c) - hdr || pending + need < pending)
				return -1;
			pending += need;
			c.p += hdr;
			continue;
		}
		if (len > left(&c) - hdr)
			return -1;
		c.p += hdr + len;
	}
	*rd = c;
	return 0;
}

bool
sp_bytes_eq(struct sp_bytes b, const char *s)
{
	size_t	 i;

	/*
	 * One pass, stopping at the first byte that differs: decoders try
	 * each name of a table in turn, and a strlen and a memcmp per row
	 * cost more than the rest of decoding a get.  A NUL in b never
	 * matches (s ends there), so s is never read past its end.
	 */
	if (b.p == NULL)
		return false;
	for (i = 0; i < b.n; i++)
		if (s[i] == '\0' || s[i] != b.p[i])
			return false;
	return s[b.n] == '\0';
}
