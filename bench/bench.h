/*
 * storesd-bench: storesd side by side with Redis and in-process LMDB.
 *
 * The same driver code (workloads.c) runs every workload against a
 * "backend": storesd through libstoreclient, or Redis through hiredis
 * (backends.c).  The anchors (a bare Unix-socket round trip, in-process
 * LMDB) are measured here too (anchors.c), so every figure in a results
 * table comes from one run on one machine.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define NKEYS_FULL	100000
#define VALUE_SIZE	100
#define KEY_FMT		"key%08u"

/* ----------------------------------------------------------- latencies */

#define HIST_BUCKETS	(64 * 16)

/* Log-linear buckets of nanoseconds: 16 per power of two (~6%). */
struct hist {
	uint64_t	 b[HIST_BUCKETS];
	uint64_t	 n;
};

void		 hist_add(struct hist *h, uint64_t ns);
void		 hist_merge(struct hist *dst, const struct hist *src);
/* The q-quantile (0..1) in microseconds. */
double		 hist_us(const struct hist *h, double q);
uint64_t	 now_ns(void);

/* ------------------------------------------------------------ backends */

/* One connection of a backend: each thread of a workload has its own. */
struct conn;

struct backend {
	const char	*name;		/* "storesd", "redis" */
	struct conn	*(*connect)(const struct backend *be, int table);
	void		 (*close)(struct conn *c);
	/* 0 found, 1 absent, -1 error */
	int		 (*get)(struct conn *c, const char *k, size_t kn);
	int		 (*put)(struct conn *c, const char *k, size_t kn,
			    const void *v, size_t vn);
	/* n gets sent at once, then n replies; 0 or -1. */
	int		 (*get_many)(struct conn *c, char (*keys)[16],
			    size_t n);
	/* An atomic batch of n puts into repo (NULL: the default); 0 or -1. */
	int		 (*put_batch)(struct conn *c, const char *repo,
			    char (*keys)[16], size_t n, const void *v,
			    size_t vn);
	const char	*path;		/* socket */
	pid_t		 pid;
};

/* Tables: which store (storesd) or db number (redis) a workload uses. */
enum { T_DURABLE, T_NOSYNC, T_BULK, T_HIST, T_NTABLES };

extern const struct backend be_storesd;
extern const struct backend be_redis;

/* ---------------------------------------------------------- processes */

struct proc {
	pid_t	 pid;
	char	 dir[256];
	char	 sock[300];
};

/* Data and logs in dir; sockets in sockdir, whose path must be short. */
int	start_storesd(struct proc *p, const char *build, const char *dir,
	    const char *sockdir);
int	start_redis(struct proc *p, const char *dir, const char *sockdir,
	    const char *fsync);
int	stop_proc(struct proc *p);

/* The resident set of pid in MiB, or -1. */
static inline double
rss_mib(pid_t pid)
{
	long	 kb = hs_rss_kib(pid);

	return kb < 0 ? -1 : (double)kb / 1024.0;
}

/* ----------------------------------------------------------- workloads */

struct result {
	int		 workload;
	const char	*name;
	double		 ops;		/* per second */
	double		 p50;		/* microseconds */
	double		 p99;
	const char	*baseline;	/* what it is compared with */
	double		 base_ops;
	double		 base_p50;
	double		 base_p99;
	double		 target;	/* the ratio it should reach */
	char		 note[256];	/* context measured in the run */
	/* workload 8 and 9 */
	double		 rss_mib;
	double		 base_rss_mib;
	double		 cold_p50;
	double		 cold_p99;
	double		 rss_after_idle_mib;
	int		 fds_start;
	int		 fds_end;
	int		 fds_after_idle;
	bool		 has_proc;
	bool		 has_repos;
};

struct run {
	double		 seconds;	/* per measurement */
	unsigned	 nkeys;
	unsigned	 bulk_keys;
	unsigned	 bulk_batch;
	unsigned	 repos;
	const char	*build;		/* where storesd is */
	const char	*dir;		/* scratch on the real disk */
	const char	*sockdir;	/* sockets, under /tmp: sun_path is short */
	struct proc	 storesd;
	struct proc	 redis;
};

/* A measurement: n threads, each with a connection, for run->seconds. */
struct measure {
	double		 ops;
	struct hist	 h;
	uint64_t	 errors;
};

/* Builds the table of key names, 0 to n - 1; 0 or -1. */
int	make_keys(unsigned n);
/* Copies key i's name (16 bytes, NUL-terminated) into buf. */
void	key_of(char *buf, uint64_t i);
int	populate(const struct backend *be, int table, unsigned nkeys);
int	measure_get(const struct backend *be, struct run *r, int nconn,
	    int pipeline, struct measure *m);
int	measure_put(const struct backend *be, struct run *r, int table,
	    int nconn, struct measure *m);
int	measure_ycsb(const struct backend *be, struct run *r, int read_pct,
	    int nconn, struct measure *m);
int	measure_bulk(const struct backend *be, struct run *r, int round,
	    struct measure *m);
int	measure_repos(struct run *r, struct measure *m, struct result *res);

/* async.c: one connection, 256 gets in flight, through a libevent loop. */
int	measure_async_get(const struct backend *be, struct run *r,
	    struct measure *m);

/* watch.c: 100 watchers of one prefix while one client writes (with
 * history): events/s delivered, delay from a put's send to its event. */
int	measure_watch(const struct backend *be, struct run *r,
	    struct measure *m);

/* anchors.c */
int	measure_bare_rtt(struct run *r, struct measure *m);
int	measure_lmdb_bulk(struct run *r, int round, struct measure *m);

/* report.c */
void	report(const struct result *res, size_t n, const struct run *r,
	    const char *outdir);

#endif
