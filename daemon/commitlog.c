#include <string.h>

#include "commitlog.h"

void
cl_init(struct cl_log *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mtx, NULL);
}

void
cl_fini(struct cl_log *l)
{
	pthread_mutex_destroy(&l->mtx);
}

/* Drops every other entry of the older half: older times get coarser. */
static void
thin(struct cl_log *l)
{
	unsigned	 i, o = 0, half = l->n / 2;

	for (i = 0; i < half; i += 2)
		l->e[o++] = l->e[i];
	for (i = half; i < l->n; i++)
		l->e[o++] = l->e[i];
	l->n = o;
}

void
cl_note(struct cl_log *l, uint64_t txnid, uint64_t now_ms)
{
	struct cl_entry	*last;

	pthread_mutex_lock(&l->mtx);
	last = l->n > 0 ? &l->e[l->n - 1] : NULL;
	if (last != NULL && txnid <= last->txnid)
		goto done;	/* txnids only grow: nothing new */
	if (last == NULL || now_ms - last->start_ms >= CL_GRAIN_MS) {
		if (l->n == CL_CAP)
			thin(l);
		last = &l->e[l->n++];
		last->start_ms = now_ms;
	}
	last->txnid = txnid;
	last->ms = now_ms;
done:
	pthread_mutex_unlock(&l->mtx);
}

uint64_t
cl_age_ms(struct cl_log *l, uint64_t txnid, uint64_t now_ms)
{
	uint64_t	 age = 0;
	unsigned	 i;

	pthread_mutex_lock(&l->mtx);
	for (i = 0; i < l->n; i++)
		if (l->e[i].txnid > txnid) {
			if (now_ms > l->e[i].ms)
				age = now_ms - l->e[i].ms;
			break;
		}
	pthread_mutex_unlock(&l->mtx);
	return age;
}
