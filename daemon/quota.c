#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "quota.h"

/* How each resource is named in a refusal, and the hint it gives. */
static const struct {
	const char	*what;		/* "N <what>" */
	const char	*key;		/* its cap's config key */
	const char	*then;		/* how it frees up */
	int64_t		 retry_ms;	/* -1: none (the client's own doing) */
} res[QUOTA_NRES] = {
	[QUOTA_INPUT] = { "bytes of frames being received", "max_input",
	    "as their frames complete", -1 },
	[QUOTA_CONNS] = { "connections", "max_connections",
	    "close one, or retry later", SP_RETRY_LONG_MS },
	[QUOTA_PLACES] = { "snapshots and restores", "snapshot_max",
	    "retry once one ends", SP_RETRY_LONG_MS },
	[QUOTA_WATCHES] = { "watches", "max_watches_total",
	    "unwatch one first", -1 },
};

/* One uid that holds something; rows[0, nrows) of rows_cap. */
struct quota_row {
	uid_t		 uid;
	uint64_t	 held[QUOTA_NRES];
};

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static struct quota_row	*rows;
static size_t		 nrows, rows_cap;
static uint64_t		 total[QUOTA_NRES];

uint64_t
quota_share(uint64_t cap)
{
	return cap - cap / 2;
}

/* uid's row, or NULL when it holds nothing.  With mtx held. */
static struct quota_row *
row_find(uid_t uid)
{
	size_t	 i;

	for (i = 0; i < nrows; i++)
		if (rows[i].uid == uid)
			return &rows[i];
	return NULL;
}

/* A new, empty row for uid; NULL when out of memory.  With mtx held. */
static struct quota_row *
row_add(uid_t uid)
{
	struct quota_row	*p;
	size_t			 cap = rows_cap ? rows_cap * 2 : 8;

	if (nrows == rows_cap) {
		if ((p = reallocarray(rows, cap, sizeof(*p))) == NULL)
			return NULL;
		rows = p;
		rows_cap = cap;
	}
	p = &rows[nrows++];
	*p = (struct quota_row){ .uid = uid };
	return p;
}

/* Drops r once its uid holds nothing.  With mtx held. */
static void
row_tidy(struct quota_row *r)
{
	int	 i;

	for (i = 0; i < QUOTA_NRES; i++)
		if (r->held[i] != 0)
			return;
	*r = rows[--nrows];
}

enum quota_why
quota_take(enum quota_res k, uid_t uid, uint64_t n, uint64_t share,
    uint64_t cap)
{
	struct quota_row	*r;
	enum quota_why		 why = QUOTA_OK;

	pthread_mutex_lock(&mtx);
	if ((r = row_find(uid)) == NULL && (r = row_add(uid)) == NULL)
		why = QUOTA_NOMEM;
	else if (r->held[k] + n > share)
		why = QUOTA_SHARE;
	else if (total[k] + n > cap)
		why = QUOTA_CAP;
	else {
		r->held[k] += n;
		total[k] += n;
	}
	if (r != NULL)
		row_tidy(r);
	pthread_mutex_unlock(&mtx);
	return why;
}

void
quota_give(enum quota_res k, uid_t uid, uint64_t n)
{
	struct quota_row	*r;

	if (n == 0)
		return;
	pthread_mutex_lock(&mtx);
	if ((r = row_find(uid)) != NULL) {
		r->held[k] -= n < r->held[k] ? n : r->held[k];
		total[k] -= n < total[k] ? n : total[k];
		row_tidy(r);
	}
	pthread_mutex_unlock(&mtx);
}

uint64_t
quota_held(enum quota_res k, uid_t uid)
{
	struct quota_row	*r;
	uint64_t		 n;

	pthread_mutex_lock(&mtx);
	n = (r = row_find(uid)) != NULL ? r->held[k] : 0;
	pthread_mutex_unlock(&mtx);
	return n;
}

uint64_t
quota_total(enum quota_res k)
{
	uint64_t	 n;

	pthread_mutex_lock(&mtx);
	n = total[k];
	pthread_mutex_unlock(&mtx);
	return n;
}

int
quota_refusal(enum quota_res k, enum quota_why why, uid_t uid, uint64_t cap,
    struct sp_error *err)
{
	unsigned long long	 held = quota_held(k, uid);

	if (why == QUOTA_NOMEM)
		return sp_seterr(err, SP_INTERNAL, "out of memory");
	if (why == QUOTA_CAP)
		return sp_seterr_busy(err, res[k].retry_ms, "storesd holds "
		    "%s (%llu) %s: %s, or raise %s", res[k].key,
		    (unsigned long long)cap, res[k].what, res[k].then,
		    res[k].key);
	return sp_seterr_busy(err, res[k].retry_ms, "uid %lu holds %llu "
	    "%s, its share (%llu) of %s (%llu): no uid may hold more than "
	    "half, so that other users find room; %s, or raise %s",
	    (unsigned long)uid, held, res[k].what,
	    (unsigned long long)quota_share(cap), res[k].key,
	    (unsigned long long)cap, res[k].then, res[k].key);
}
