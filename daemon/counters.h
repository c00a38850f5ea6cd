/*
 * counters: what storesd counts for `stats`.
 *
 * Owns: requests by kind and error replies by code (for the daemon and
 * per env), and commit latency as a log2 histogram per env, all updated
 * lock-free from any thread, and how they are named in a stats reply
 * ("ops_get", "err_MAP_FULL", "commit_us_p99").
 */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_error.h"
#include "sp_msg.h"

struct counters {
	_Atomic uint64_t	 ops[SP_OP_MAX];
	_Atomic uint64_t	 errs[SP_NCODES];
};

#define LAT_BUCKETS	40	/* 2^39 us: over six days */

struct latency {
	_Atomic uint64_t	 bucket[LAT_BUCKETS];	/* [i]: < 2^i us */
	_Atomic uint64_t	 n;
	_Atomic uint64_t	 max;
};

/* Room a ctr_export() needs at most. */
#define CTR_NCOUNTERS	(SP_OP_MAX + SP_NCODES)
/* Room a lat_export() needs. */
#define LAT_NCOUNTERS	4

/* Counts a request of kind op. */
void	ctr_op(struct counters *c, enum sp_op op);
/* Counts an error reply of code (SP_OK counts nothing). */
void	ctr_err(struct counters *c, int code);
/* Adds c's counts to sum's (sum is not shared). */
void	ctr_add(struct counters *sum, const struct counters *c);
/*
 * Names c's counters into out (at most CTR_NCOUNTERS): ops_KIND for each
 * op in data_only ? the data ops : all ops, then err_NAME for each code
 * that occurred.  Returns how many.
 */
size_t	ctr_export(const struct counters *c, int data_only,
	    struct sp_counter *out);

/* Adds one sample of us microseconds. */
void	lat_add(struct latency *l, uint64_t us);
/*
 * Puts commit_us_p50, _p90, _p99 and _max into out (LAT_NCOUNTERS):
 * each percentile is the top of its log2 bucket, so at most twice the
 * true value, and never above the max.
 */
void	lat_export(const struct latency *l, struct sp_counter *out);

#endif
