#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "pool.h"

struct pool {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct pool_task	*head;
	struct pool_task	*tail;
	unsigned		 pending;	/* queued + running */
	int			 stopping;
	unsigned		 nthreads;
	pthread_t		*threads;
};

static void *
worker(void *arg)
{
	struct pool		*p = arg;
	struct pool_task	*t;

	pthread_mutex_lock(&p->mtx);
	for (;;) {
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->mtx);
		if ((t = p->head) == NULL)
			break;		/* stopping, and nothing is left */
		if ((p->head = t->next) == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mtx);
		t->next = NULL;
		t->fn(t);
		pthread_mutex_lock(&p->mtx);
		p->pending--;
	}
	pthread_mutex_unlock(&p->mtx);
	return NULL;
}

struct pool *
pool_new(unsigned n)
{
	struct pool	*p;
	int		 rc;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->threads = calloc(n, sizeof(*p->threads))) == NULL) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (p->nthreads = 0; p->nthreads < n; p->nthreads++) {
		if ((rc = pthread_create(&p->threads[p->nthreads], NULL,
		    worker, p)) != 0) {
			errno = rc;
			pool_free(p);
			return NULL;
		}
	}
	return p;
}

static void
enqueue(struct pool *p, struct pool_task *t, bool wake)
{
	t->next = NULL;
	pthread_mutex_lock(&p->mtx);
	if (p->tail)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	p->pending++;
	if (wake || p->head != t)
		pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mtx);
}

void
pool_submit(struct pool *p, struct pool_task *t)
{
	enqueue(p, t, true);
}

void
pool_requeue(struct pool *p, struct pool_task *t)
{
	enqueue(p, t, false);
}

unsigned
pool_pending(struct pool *p)
{
	unsigned	 n;

	pthread_mutex_lock(&p->mtx);
	n = p->pending;
	pthread_mutex_unlock(&p->mtx);
	return n;
}

void
pool_free(struct pool *p)
{
	unsigned	 i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mtx);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mtx);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
