#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sp_buf.h"

size_t
sp_buf_grown(const struct sp_buf *b, size_t n)
{
	size_t	 want, cap;

	if (n > SIZE_MAX - b->len)
		return SIZE_MAX;
	want = b->len + n;
	if (want <= b->cap)
		return b->cap;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	return cap;
}

int
sp_buf_reserve(struct sp_buf *b, size_t n)
{
	size_t	 cap;
	char	*p;

	if ((cap = sp_buf_grown(b, n)) == SIZE_MAX) {
		errno = ENOMEM;
		b->failed = 1;
		return -1;
	}
	if (cap == b->cap)
		return 0;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
sp_buf_append(struct sp_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	/* Replies are built a few bytes at a time: room is the rule. */
	if (n > b->cap - b->len && sp_buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
sp_buf_consume(struct sp_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
sp_buf_shrink(struct sp_buf *b, size_t keep)
{
	if (b->len == 0 && b->cap > keep) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

void
sp_buf_free(struct sp_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}
