/*
 * sp_frame: the framing of the wire protocol.
 *
 * Owns: the frame header.  A frame is a 4-byte unsigned big-endian body
 * length followed by that many bytes holding exactly one msgpack object
 * (proto/PROTOCOL.md, "Framing").
 */
#ifndef SP_FRAME_H
#define SP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "sp_buf.h"

#define SP_FRAME_HDR	4
#define SP_FRAME_MAX	UINT32_MAX	/* the largest body a header can carry */
/* The smallest max_frame storesd may be configured with: a request body
 * of at most this many bytes is never too large for it. */
#define SP_MAX_FRAME_MIN	(4 * 1024)

/* The body length a header declares; hdr holds SP_FRAME_HDR bytes. */
uint32_t	sp_frame_len(const void *hdr);

/*
 * Starts a frame at the end of b by appending a placeholder header, and
 * remembers where in *mark.  Returns 0, or -1 (ENOMEM).
 */
int	sp_frame_open(struct sp_buf *b, size_t *mark);

/*
 * Ends the frame started at mark: writes its length into the header.
 * When an append since sp_frame_open() failed, or the body is over
 * SP_FRAME_MAX, the partial frame is removed from b and -1 returned.
 */
int	sp_frame_close(struct sp_buf *b, size_t mark);

#endif
