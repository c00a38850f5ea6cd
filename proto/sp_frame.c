#include <errno.h>
#include <string.h>

#include "sp_frame.h"

uint32_t
sp_frame_len(const void *hdr)
{
	const unsigned char	*p = hdr;

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
sp_frame_open(struct sp_buf *b, size_t *mark)
{
	*mark = b->len;
	/* The header's room and its zeros in place: every request and
	 * reply opens a frame. */
	if (SP_FRAME_HDR > b->cap - b->len &&
	    sp_buf_reserve(b, SP_FRAME_HDR) == -1)
		return -1;
	memset(b->data + b->len, 0, SP_FRAME_HDR);
	b->len += SP_FRAME_HDR;
	return 0;
}

int
sp_frame_close(struct sp_buf *b, size_t mark)
{
	unsigned char	*p;
	size_t		 n;

	if (b->failed || b->len < mark + SP_FRAME_HDR ||
	    b->len - mark - SP_FRAME_HDR > SP_FRAME_MAX) {
		if (!b->failed)
			errno = E2BIG;
		b->failed = 0;
		if (b->len > mark)
			b->len = mark;
		return -1;
	}
	n = b->len - mark - SP_FRAME_HDR;
	p = (unsigned char *)b->data + mark;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	return 0;
}
