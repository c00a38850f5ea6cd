/*
 * sp_msg_int: what the files of proto/ share among themselves and no one
 * else uses.
 */
#ifndef SP_MSG_INT_H
#define SP_MSG_INT_H

#include "sp_msg.h"

/* Starts a reply frame in b: a map of npairs pairs after the id. */
int	sp__open_reply(struct sp_buf *b, msgpack_packer *pk, size_t *mark,
	    uint64_t id, uint32_t npairs);
/* A whole reply of one unsigned field name besides the id; 0 or -1. */
int	sp__reply_u64(struct sp_buf *b, uint64_t id, const char *name,
	    uint64_t v);
/* Reads an array's header and where its elements are; 0 or -1. */
int	sp__read_array(struct sp_mp_rd *rd, struct sp_array *a);

#endif
