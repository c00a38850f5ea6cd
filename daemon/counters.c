#include "counters.h"

#define ERR_NAME(n, name, text)	[n] = "err_" #name,
static const char *const err_names[SP_NCODES] = { SP_CODES(ERR_NAME) };
#undef ERR_NAME

static const char *const op_names[SP_OP_MAX] = {
	[SP_OP_HELLO]		= "ops_hello",
	[SP_OP_PING]		= "ops_ping",
	[SP_OP_GET]		= "ops_get",
	[SP_OP_PUT]		= "ops_put",
	[SP_OP_DEL]		= "ops_del",
	[SP_OP_SNAPSHOT]	= "ops_snapshot",
	[SP_OP_FORK]		= "ops_fork",
	[SP_OP_STATS]		= "ops_stats",
	[SP_OP_LIVE]		= "ops_live",
	[SP_OP_BATCH]		= "ops_batch",
	[SP_OP_BATCH_ABORT]	= "ops_batch_abort",
	[SP_OP_MGET]		= "ops_mget",
	[SP_OP_MISSING]		= "ops_missing",
	[SP_OP_COUNT]		= "ops_count",
	[SP_OP_SCAN]		= "ops_scan",
	[SP_OP_REPOS]		= "ops_repos",
	[SP_OP_CREATE]		= "ops_create",
	[SP_OP_DROP]		= "ops_drop",
	[SP_OP_RESTORE]		= "ops_restore",
	[SP_OP_WATCH]		= "ops_watch",
	[SP_OP_UNWATCH]		= "ops_unwatch",
	[SP_OP_REV]		= "ops_rev",
};
_Static_assert(SP_OP_MAX == SP_OP_REV + 1, "every op has a name here");

/* The ops that touch an env's data, in the order stats lists them. */
static const enum sp_op data_ops[] = {
	SP_OP_GET, SP_OP_PUT, SP_OP_DEL, SP_OP_BATCH, SP_OP_MGET,
	SP_OP_MISSING, SP_OP_COUNT, SP_OP_SCAN, SP_OP_SNAPSHOT, SP_OP_FORK,
};

void
ctr_op(struct counters *c, enum sp_op op)
{
	if (op > SP_OP_NONE && op < SP_OP_MAX)
		atomic_fetch_add_explicit(&c->ops[op], 1, memory_order_relaxed);
}

void
ctr_err(struct counters *c, int code)
{
	if (code > SP_OK && code < SP_NCODES)
		atomic_fetch_add_explicit(&c->errs[code], 1,
		    memory_order_relaxed);
}

void
ctr_add(struct counters *sum, const struct counters *c)
{
	size_t	 i;

	for (i = 0; i < SP_OP_MAX; i++)
		sum->ops[i] += atomic_load(&c->ops[i]);
	for (i = 0; i < SP_NCODES; i++)
		sum->errs[i] += atomic_load(&c->errs[i]);
}

size_t
ctr_export(const struct counters *c, int data_only, struct sp_counter *out)
{
	size_t	 n = 0, i;
	int	 op;

	if (data_only) {
		for (i = 0; i < sizeof(data_ops) / sizeof(data_ops[0]); i++)
			out[n++] = (struct sp_counter){ op_names[data_ops[i]],
			    atomic_load(&c->ops[data_ops[i]]) };
	} else {
		for (op = SP_OP_NONE + 1; op < SP_OP_MAX; op++)
			out[n++] = (struct sp_counter){ op_names[op],
			    atomic_load(&c->ops[op]) };
	}
	/* Errors only as they occur: most never do. */
	for (i = 1; i < SP_NCODES; i++)
		if (atomic_load(&c->errs[i]) > 0)
			out[n++] = (struct sp_counter){ err_names[i],
			    atomic_load(&c->errs[i]) };
	return n;
}

static unsigned
bucket_of(uint64_t us)
{
	unsigned	 b = us == 0 ? 0 : 64 - (unsigned)__builtin_clzll(us);

	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

void
lat_add(struct latency *l, uint64_t us)
{
	uint64_t	 max = atomic_load_explicit(&l->max,
			    memory_order_relaxed);

	atomic_fetch_add_explicit(&l->bucket[bucket_of(us)], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&l->n, 1, memory_order_relaxed);
	while (us > max && !atomic_compare_exchange_weak(&l->max, &max, us))
		;
}

/* The top of the bucket holding the pct-th percentile, capped at max. */
static uint64_t
percentile(const struct latency *l, uint64_t n, uint64_t max, unsigned pct)
{
	uint64_t	 want = (n * pct + 99) / 100, seen = 0, top;
	unsigned	 i;

	if (n == 0)
		return 0;
	for (i = 0; i < LAT_BUCKETS; i++) {
		seen += atomic_load(&l->bucket[i]);
		if (seen >= want)
			break;
	}
	top = i == 0 ? 0 : (1ULL << i) - 1;
	return top < max ? top : max;
}

void
lat_export(const struct latency *l, struct sp_counter *out)
{
	uint64_t	 n = atomic_load(&l->n), max = atomic_load(&l->max);

	out[0] = (struct sp_counter){ "commit_us_p50",
	    percentile(l, n, max, 50) };
	out[1] = (struct sp_counter){ "commit_us_p90",
	    percentile(l, n, max, 90) };
	out[2] = (struct sp_counter){ "commit_us_p99",
	    percentile(l, n, max, 99) };
	out[3] = (struct sp_counter){ "commit_us_max", max };
}
