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
#include <stdio.h>
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

/*
 * storesd's counters of table's env: its commits and the writes they
 * held, since the env opened (a stats request opens it).  0, or -1 for
 * another backend or when storesd cannot say.
 */
int	store_commits(const struct backend *be, int table, uint64_t *commits,
	    uint64_t *writes);

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

/* The CPU time pid has used (user + system), in seconds, or -1. */
double	cpu_seconds(pid_t pid);
/* The bytes pid has passed to write calls (wchar of /proc/PID/io), or -1. */
double	write_bytes(pid_t pid);

/* The resident set of pid in MiB, or -1. */
static inline double
rss_mib(pid_t pid)
{
	long	 kb = hs_rss_kib(pid);

	return kb < 0 ? -1 : (double)kb / 1024.0;
}

/* ----------------------------------------------------------- workloads */

/*
 * One row of a run's results.  Figures not measured are NAN (and left
 * out of the run's JSON); the report's table of figures (report.c) names
 * each one, so adding a figure is adding a field and a row there.
 */
/*
 * The disk's sync of this many scattered pages is the limit a durable
 * commit is measured against: a commit of workload 4 writes 15 to 25
 * (its leaves, their branches, the free-page db, the meta page).
 */
#define DISK_LIMIT_PAGES	16

struct result {
	int		 workload;	/* 0: the data disk's sync rate */
	const char	*name;
	const char	*baseline;	/* what it is compared with */
	double		 target;	/* the ratio it should reach */
	double		 ops;		/* per second */
	double		 p50;		/* microseconds */
	double		 p99;
	double		 base_ops;
	double		 base_p50;
	double		 base_p99;
	/* Server CPU time (utime + stime) per 100,000 operations, in ms. */
	double		 cpu_ms;
	double		 base_cpu_ms;
	/* workload 0: 4 KiB pages written at scattered offsets before each
	 * fdatasync; 0: 2 KiB appended to a growing file instead */
	double		 pages;
	/* storesd's durable env under this workload */
	double		 commits_per_s;
	double		 writes_per_commit;
	/* bytes it wrote / commits / 4 KiB */
	double		 pages_per_commit;
	/* workload 1: Redis on the same path, for context */
	double		 redis_ops;
	double		 redis_cpu_ms;
	/* workload 8 and 9 */
	double		 rss_mib;
	double		 base_rss_mib;
	double		 cold_p50;
	double		 cold_p99;
	double		 rss_after_idle_mib;
	double		 fds_start;
	double		 fds_end;
	double		 fds_after_idle;
	/* Worked out from the above when the run is written. */
	double		 ratio;
	double		 redis_ratio;	/* Redis's ops / the baseline's */
	double		 vs_redis;	/* ops / Redis's ops */
	double		 disk_fraction;
};

/* Rounds per side of a comparison (main.c). */
#define ROUNDS	3

struct run {
	double		 seconds;	/* per measurement */
	unsigned	 nkeys;
	unsigned	 bulk_keys;
	unsigned	 bulk_batch;
	unsigned	 repos;
	bool		 smoke;		/* a check, not a measurement */
	const char	*build;		/* where storesd is */
	const char	*dir;		/* scratch on the real disk */
	const char	*sockdir;	/* sockets, under /tmp: sun_path is short */
	struct proc	 storesd;
	struct proc	 redis;
};

/* A measurement: n threads, each with a connection, for run->seconds. */
struct measure {
	double		 ops;		/* per second */
	uint64_t	 n;		/* operations done */
	struct hist	 h;
	uint64_t	 errors;
};

/* Builds the table of key names, 0 to n - 1; 0 or -1. */
int	make_keys(unsigned n);
/* Copies key i's name (16 bytes, NUL-terminated) into buf. */
void	key_of(char *buf, uint64_t i);
/* The next of the xorshift64 sequence in *s (not 0). */
uint64_t xorshift(uint64_t *s);
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
/*
 * The data disk's sync rate: operations of nsync times (pwrite of 4 KiB
 * + fdatasync) into a file in r->dir, per second.  Two per operation is
 * what a durable LMDB commit needs (its pages, then its meta page).
 */
int	measure_disk_sync(struct run *r, int pages, struct measure *m);

/* ---------------------------------------------------------------- json */

/* A JSON value, read by json.c (the report reads runs written before). */
struct jv {
	enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } type;
	double		 num;		/* J_NUM; J_BOOL: 0 or 1 */
	char		*str;		/* J_STR */
	struct jv	*kid;		/* J_ARR, J_OBJ: n values */
	char		**key;		/* J_OBJ: their keys */
	size_t		 n;
};

/* The tree of text or of the file at path (to json_free), or NULL. */
struct jv	*json_parse(const char *text);
struct jv	*json_load(const char *path);
void		 json_free(struct jv *v);
void		 json_free_kids(struct jv *v);
/* obj's member key, or NULL (also when obj is no object). */
const struct jv	*json_get(const struct jv *obj, const char *key);
/* Member key as a number (true is 1) into *out; false when it is none. */
bool		 json_num(const struct jv *obj, const char *key, double *out);
/* Member key as a string, or NULL. */
const char	*json_str_of(const struct jv *obj, const char *key);

/* -------------------------------------------------------------- report */

/* Writes one run's results, with what it ran on, as JSON to path. */
int	report_run_json(const char *path, const struct result *res, size_t n,
	    const struct run *r, bool smoke);

/* Where a report goes: each NULL to leave it out. */
struct report_out {
	FILE		*table;		/* the tables, e.g. stdout */
	const char	*dir;		/* DIR/latest.md and DIR/latest.json */
	const char	*readme;	/* its table between the markers */
	const char	*analysis;	/* appended to latest.md */
};

/*
 * The report of runs (JSON files, this layout or the first one): each
 * figure is the median of the runs' with their min-max, a ratio is the
 * median of each run's ratio.  Returns 0, or -1 (said on stderr) when a
 * file cannot be read or a report not written.
 */
int	report_runs(char *const *paths, size_t npaths,
	    const struct report_out *out);

/* The median of v[0..n) (sorting v), the mean of the two middle values
 * when n is even; 0 when n is 0. */
double	median(double *v, size_t n);

#endif
