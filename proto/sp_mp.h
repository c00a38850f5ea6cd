/*
 * sp_mp: msgpack reading and writing for the wire format.
 *
 * Owns: the msgpack encoder glue (msgpack-c's packer writing into an
 * sp_buf) and a bounds-checked, allocation-free cursor reader.
 *
 * Why a cursor reader instead of msgpack-c's unpacker: the unpacker
 * allocates an object tree sized by the lengths a frame declares, so a
 * few hostile bytes can ask for gigabytes.  The cursor reads in place,
 * never allocates, never recurses, and each read checks the bytes are
 * there, so a decoder built on it is bounded by the frame it was given.
 */
#ifndef SP_MP_H
#define SP_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "sp_buf.h"

/* A byte string inside a frame (or anywhere); p == NULL means absent. */
struct sp_bytes {
	const char	*p;
	size_t		 n;
};

/*
 * Binds pk to b: everything packed is appended to b.  A failed append
 * makes the packer return nonzero and sets b's sticky error, which
 * sp_frame_close() reports.
 */
void	sp_mp_packer(msgpack_packer *pk, struct sp_buf *b);

/* Packs a map's header (as msgpack_pack_map, without its callback). */
void	sp_mp_map(msgpack_packer *pk, uint32_t n);
/* Sets the count of the map whose header sp_mp_map(pk, 0) wrote at b's
 * offset at to n pairs, once they are written after it (a map16 past
 * 15 pairs, its pairs moved 2 bytes on).  Sets b's failed flag when it
 * cannot (no memory, or over 65535 pairs). */
void	sp_mp_map_count(struct sp_buf *b, size_t at, uint32_t n);
/* Packs a NUL-terminated string. */
void	sp_mp_str(msgpack_packer *pk, const char *s);
/*
 * Packs a str key of kn bytes at k, then a str (bin false) or bin of n
 * bytes at p, or an unsigned integer, each in its smallest form.
 */
void	sp_mp_kv_raw_n(msgpack_packer *pk, const char *k, size_t kn,
	    bool bin, const void *p, size_t n);
void	sp_mp_kv_u64_n(msgpack_packer *pk, const char *k, size_t kn,
	    uint64_t v);
void	sp_mp_kv_bool(msgpack_packer *pk, const char *k, bool v);

/*
 * The same for a NUL-terminated key k, and v: inline, so that the
 * length of a literal key (as nearly every one is) is counted by the
 * compiler rather than at each call.
 */
static inline void
sp_mp_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	sp_mp_kv_raw_n(pk, k, strlen(k), false, v, strlen(v));
}

static inline void
sp_mp_kv_bytes(msgpack_packer *pk, const char *k, const void *p, size_t n)
{
	sp_mp_kv_raw_n(pk, k, strlen(k), false, p, n);
}

static inline void
sp_mp_kv_bin(msgpack_packer *pk, const char *k, const void *p, size_t n)
{
	sp_mp_kv_raw_n(pk, k, strlen(k), true, p, n);
}

static inline void
sp_mp_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
	sp_mp_kv_u64_n(pk, k, strlen(k), v);
}

/* The kinds the reader tells apart. */
enum sp_mp_type {
	SP_MP_NIL, SP_MP_BOOL, SP_MP_UINT, SP_MP_INT, SP_MP_FLOAT,
	SP_MP_STR, SP_MP_BIN, SP_MP_ARRAY, SP_MP_MAP, SP_MP_EXT,
	SP_MP_INVALID
};

/* A cursor over msgpack bytes.  Reads advance p only on success. */
struct sp_mp_rd {
	const unsigned char	*p;
	const unsigned char	*end;
};

void		 sp_mp_rd_init(struct sp_mp_rd *rd, const void *p, size_t n);
/* The type of the next object, SP_MP_INVALID at the end or on 0xc1. */
enum sp_mp_type	 sp_mp_peek(const struct sp_mp_rd *rd);
const char	*sp_mp_type_name(enum sp_mp_type t);

/*
 * Each reader returns 0 and advances, or -1 and leaves the cursor where
 * it was: wrong type, truncated, or (for containers) a declared count
 * larger than the bytes left could possibly hold.
 */
int	sp_mp_read_nil(struct sp_mp_rd *rd);
int	sp_mp_read_bool(struct sp_mp_rd *rd, bool *v);
int	sp_mp_read_uint(struct sp_mp_rd *rd, uint64_t *v);
int	sp_mp_read_str(struct sp_mp_rd *rd, struct sp_bytes *v);
/* Accepts bin or str: for keys and values either spelling is fine. */
int	sp_mp_read_bytes(struct sp_mp_rd *rd, struct sp_bytes *v);
int	sp_mp_read_array(struct sp_mp_rd *rd, uint32_t *n);
int	sp_mp_read_map(struct sp_mp_rd *rd, uint32_t *n);
/* Skips one whole object, however nested, without recursion. */
int	sp_mp_skip(struct sp_mp_rd *rd);

/* True when b holds exactly the NUL-free string s. */
bool	sp_bytes_eq(struct sp_bytes b, const char *s);

#endif
