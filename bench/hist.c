/* Latency histograms: log-linear buckets, 16 per power of two. */
#include <string.h>
#include <time.h>

#include "bench.h"

uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned
bucket(uint64_t v)
{
	unsigned	 e;

	if (v < 16)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);	/* v >= 2^e */
	return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

/* The lower edge of bucket i, the inverse of bucket(). */
static uint64_t
lower(unsigned i)
{
	unsigned	 e;

	if (i < 16)
		return i;
	e = i / 16 + 3;
	return (1ULL << e) | ((uint64_t)(i % 16) << (e - 4));
}

void
hist_add(struct hist *h, uint64_t ns)
{
	unsigned	 i = bucket(ns);

	h->b[i < HIST_BUCKETS ? i : HIST_BUCKETS - 1]++;
	h->n++;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	size_t	 i;

	for (i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
}

double
hist_us(const struct hist *h, double q)
{
	uint64_t	 want = (uint64_t)((double)h->n * q), seen = 0;
	unsigned	 i;

	if (h->n == 0)
		return 0;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return (double)lower(i) / 1000.0;
	}
	return (double)lower(HIST_BUCKETS - 1) / 1000.0;
}
