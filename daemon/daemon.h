/*
 * daemon: what the whole of storesd shares.
 *
 * Owns: struct daemon, the context every module reaches through its loop
 * or job: the configuration, the registry of envs, the worker pool and
 * the I/O loops.  There is exactly one, made by main.c.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STORESD_VERSION	"0.1.0"

struct config;
struct loop;
struct pool;
struct registry;

struct daemon {
	/* Swapped whole by a reload (reload.c); read it afresh per use. */
	_Atomic(struct config *) cfg;
	struct registry	*reg;
	struct pool	*pool;
	struct loop	**loops;
	unsigned	 nloops;
	uint64_t	 start_ms;
	int		 lockfd;	/* DATA_DIR/@storesd.lock, held */
	uid_t		 uid;		/* storesd's own: may do anything */
	atomic_uint	 nconns;	/* connections open now */
	atomic_bool	 stopping;	/* SIGTERM: finish and leave */
	atomic_uint	 reloads;	/* configurations loaded by SIGHUP */
};

#endif
