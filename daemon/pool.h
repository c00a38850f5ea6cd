/*
 * pool: the threads that may block.
 *
 * Owns: a fixed set of worker threads and their one FIFO of tasks.
 * Everything that waits on a disk (write commits, fsync, snapshot
 * copies, forks) runs here, never on an I/O thread.  Tasks are
 * intrusive: the submitter embeds a struct pool_task in its own object,
 * so submitting never allocates.
 */
#ifndef POOL_H
#define POOL_H

struct pool_task {
	struct pool_task	*next;
	void			(*fn)(struct pool_task *t);
};

struct pool;

/* Starts n threads.  Returns the pool, or NULL (errno set). */
struct pool	*pool_new(unsigned n);
/* Queues t; some thread will call t->fn(t) once.  Thread-safe. */
void		 pool_submit(struct pool *p, struct pool_task *t);
/*
 * Queues t again from inside the task now running on this thread, which
 * must return soon and not wait for t: when nothing else is queued, no
 * other thread is woken, and this one takes t once it returns, instead
 * of handing it to another over a futex (and the env's pages to another
 * CPU's cache).  With other tasks queued, as pool_submit().
 */
void		 pool_requeue(struct pool *p, struct pool_task *t);
/* Tasks queued or running now. */
unsigned	 pool_pending(struct pool *p);
/* Runs every queued task, including ones queued meanwhile, then joins
 * the threads and frees the pool.  NULL-safe. */
void		 pool_free(struct pool *p);

#endif
