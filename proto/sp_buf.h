/*
 * sp_buf: a growable byte buffer.
 *
 * Owns: the bytes of frames being built or received.  Both the daemon
 * (connection input and output) and the client library use it, so the
 * wire format is always assembled the same way.
 */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stddef.h>

struct sp_buf {
	char	*data;
	size_t	 len;	/* bytes in use, from data[0] */
	size_t	 cap;	/* bytes allocated */
	int	 failed; /* sticky: an append ran out of memory */
};

/*
 * Makes room for at least n more bytes after len.  Returns 0, or -1
 * (ENOMEM) after setting the sticky failed flag.
 */
int	sp_buf_reserve(struct sp_buf *b, size_t n);
/* The capacity b would have after sp_buf_reserve(b, n) (SIZE_MAX when
 * that would fail for the size alone). */
size_t	sp_buf_grown(const struct sp_buf *b, size_t n);
/* Appends n bytes. Returns 0, or -1 (ENOMEM). */
int	sp_buf_append(struct sp_buf *b, const void *p, size_t n);
/* Drops the first n bytes, keeping the rest. */
void	sp_buf_consume(struct sp_buf *b, size_t n);
/* Gives the memory back once a buffer grew past keep bytes and is empty. */
void	sp_buf_shrink(struct sp_buf *b, size_t keep);
/* Frees the memory; the buffer is empty and reusable afterwards. NULL-safe. */
void	sp_buf_free(struct sp_buf *b);

#endif
