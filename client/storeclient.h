/*
 * libstoreclient: the client library of storesd.
 *
 * storesd owns every LMDB environment on the host; programs reach their
 * data through it over a Unix socket and never map an env file.  This
 * library speaks storesd's protocol (proto/PROTOCOL.md) synchronously:
 * each call sends one request and waits for its reply.
 *
 * Addressing.  Data lives in stores (declared in storesd's
 * configuration, e.g. "refs", "nodes"), one LMDB env per (repo, store).
 * Every data call names:
 *   repo   a repository name such as "ox/mnist"; NULL means "default".
 *          Must be NULL for a store configured with a fixed `path`.
 *   store  the store's name; required.
 *   db     one of the store's named dbs; NULL means its primary db.
 * Keys are 1 to 511 bytes; values are any bytes, up to the daemon's
 * max_frame.
 *
 * Errors.  Functions that can fail return 0 on success and -1 on
 * failure; sc_errcode() and sc_errmsg() then tell why.  Codes below 100
 * come from storesd (the same numbers and names as on the wire); codes
 * from 100 up arise in the library.  Errors reported by storesd leave
 * the connection usable.  A broken connection (SC_ERR_IO, SC_ERR_PROTOCOL,
 * SC_ERR_TIMEOUT) is dead: every later call fails with SC_ERR_IO
 * without touching the socket; close it and connect again.
 *
 * Ownership.  Everything the library returns through a pointer belongs
 * to the caller, who frees it with the matching function: values with
 * sc_free(), stats with sc_stats_free(), live lists with sc_live_free().
 * All free functions accept NULL.  Strings passed in are only read
 * during the call.
 *
 * Threads.  The library has no global state.  A connection must be used
 * by one thread at a time; use one connection per thread.
 */
#ifndef STORECLIENT_H
#define STORECLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SC_VERSION_MAJOR	1
#define SC_VERSION_MINOR	0
#define SC_VERSION_PATCH	0

#if defined(SC_BUILDING) && defined(__GNUC__)
#define SC_API	__attribute__((visibility("default")))
#else
#define SC_API
#endif

/* Error codes.  1-99 are storesd's wire codes; never renumbered. */
enum sc_err {
	SC_OK			= 0,
	SC_ERR_NOT_FOUND	= 1,	/* no such key (or env) */
	SC_ERR_BAD_REQUEST	= 2,	/* storesd did not accept the request */
	SC_ERR_UNKNOWN_STORE	= 3,	/* no store of that name configured */
	SC_ERR_UNKNOWN_DB	= 4,	/* the store has no db of that name */
	SC_ERR_BAD_REPO		= 5,	/* invalid repo name, or a repo for a
					 * fixed-path store */
	SC_ERR_BAD_KEY		= 6,	/* key empty or over 511 bytes */
	SC_ERR_MAP_FULL		= 7,	/* the store's map is full; raise its
					 * map_size and reload storesd */
	SC_ERR_TOO_LARGE	= 8,	/* request over max_frame */
	SC_ERR_BUSY		= 9,	/* try again later */
	SC_ERR_FORBIDDEN	= 10,	/* not allowed for this user */
	SC_ERR_INTERNAL		= 11,	/* storesd failed; see its log */
	SC_ERR_BAD_VERSION	= 12,	/* protocol version not spoken */
	SC_ERR_EXISTS		= 13,	/* fork destination exists */
	SC_ERR_IO_ERROR		= 14,	/* storesd's disk failed (full, EIO) */
	SC_ERR_COND_FAILED	= 15,	/* a write precondition did not hold */

	SC_ERR_CONNECT		= 100,	/* cannot reach storesd */
	SC_ERR_IO		= 101,	/* the connection broke or is dead */
	SC_ERR_PROTOCOL		= 102,	/* a reply the library cannot read */
	SC_ERR_NOMEM		= 103,	/* out of memory */
	SC_ERR_INVALID		= 104,	/* a bad argument to a library call */
	SC_ERR_TIMEOUT		= 105,	/* no reply within timeout_ms */
};

typedef struct sc_conn sc_conn;

struct sc_options {
	const char	*path;		/* socket; NULL: sc_default_socket() */
	int		 timeout_ms;	/* per call; 0: wait as long as it takes */
	const char	*client_name;	/* shown in storesd's debug log */
};

/*
 * Connects to storesd at path (NULL: the default socket) and checks it
 * speaks this library's protocol.  Returns a connection, or NULL only
 * when out of memory.  On failure the connection is dead and says why:
 * test sc_errcode(c) (SC_ERR_CONNECT when nobody answers on the socket,
 * SC_ERR_BAD_VERSION) and call sc_close(c) either way.
 */
SC_API sc_conn		*sc_connect(const char *path);
/* The same, with options; o may be NULL. */
SC_API sc_conn		*sc_connect_opts(const struct sc_options *o);
/* Closes the connection and frees it.  NULL-safe. */
SC_API void		 sc_close(sc_conn *c);

/* The code of the last failure on c (SC_OK after a success). */
SC_API int		 sc_errcode(const sc_conn *c);
/* What went wrong and what to do, for the last failure; "" after a
 * success.  Valid until the next call on c. */
SC_API const char	*sc_errmsg(const sc_conn *c);
/* The stable name of a code ("NOT_FOUND"), or "UNKNOWN". */
SC_API const char	*sc_errname(int code);
/* A one-line description of a code. */
SC_API const char	*sc_strerror(int code);
/* The socket path c connects to (for messages). */
SC_API const char	*sc_socket_path(const sc_conn *c);
/* The server's name and version ("storesd 0.1.0"), once connected. */
SC_API const char	*sc_server_version(const sc_conn *c);

/*
 * Writes the default socket path into buf: $STORESD_SOCKET, else
 * /run/storesd/storesd.sock for root, else
 * $XDG_RUNTIME_DIR/storesd/storesd.sock, else
 * /tmp/storesd-$UID/storesd.sock.  The same rule as storesd's.
 * Returns 0, or -1 when it does not fit in n bytes.
 */
SC_API int		 sc_default_socket(char *buf, size_t n);

/* Frees a value returned by sc_get().  NULL-safe. */
SC_API void		 sc_free(void *p);

/* Asks storesd to answer.  Returns 0 or -1. */
SC_API int	sc_ping(sc_conn *c);

/*
 * Reads key.  On success *val is a new buffer of *vlen bytes (plus a
 * terminating NUL not counted in *vlen, so text values can be used as C
 * strings) that the caller frees with sc_free().
 * Errors: SC_ERR_NOT_FOUND, SC_ERR_UNKNOWN_STORE, SC_ERR_UNKNOWN_DB,
 * SC_ERR_BAD_REPO, SC_ERR_BAD_KEY, connection errors.
 */
SC_API int	sc_get(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen, void **val,
		    size_t *vlen);

/*
 * Writes key = val as one atomic, durable commit (durable as the store's
 * sync mode says); the env is created on the first write.
 * Errors: as sc_get() but SC_ERR_NOT_FOUND, plus SC_ERR_MAP_FULL,
 * SC_ERR_TOO_LARGE, SC_ERR_IO_ERROR.
 */
SC_API int	sc_put(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen,
		    const void *val, size_t vlen);

/* Deletes key.  Errors: as sc_put(), plus SC_ERR_NOT_FOUND when the key
 * is absent (nothing changes then). */
SC_API int	sc_del(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen);

/*
 * Has storesd write a consistent point-in-time copy of the env of
 * (repo, store) into fd, which the caller opened for writing (storesd
 * never opens a path for a client; the descriptor travels over the
 * socket).  compact drops free pages while copying.  The copy is an
 * LMDB data file: `mdb_dump -n FILE` reads it.  On success *size (may be
 * NULL) is the number of bytes written.
 * Errors: SC_ERR_NOT_FOUND (the env does not exist), SC_ERR_BAD_REQUEST
 * (fd not writable), SC_ERR_IO_ERROR, and those of sc_get().
 */
SC_API int	sc_snapshot(sc_conn *c, const char *repo, const char *store,
		    int fd, int compact, uint64_t *size);

/*
 * Makes a point-in-time copy of src_repo's env of store the env of
 * dst_repo.  Refused while dst_repo's env is open (SC_ERR_BUSY) or if it
 * already exists (SC_ERR_EXISTS).  Errors also: SC_ERR_NOT_FOUND (no
 * source env), SC_ERR_BAD_REQUEST (a fixed-path store), SC_ERR_BAD_REPO.
 */
SC_API int	sc_fork(sc_conn *c, const char *src_repo, const char *store,
		    const char *dst_repo);

/* ------------------------------------------------------------- stats */

typedef struct sc_counter {
	const char	*name;
	uint64_t	 value;
} sc_counter;

typedef struct sc_stats_db {
	const char	*name;
	sc_counter	*counters;	/* entries, depth, leaf_pages... */
	size_t		 ncounters;
} sc_stats_db;

typedef struct sc_stats_env {
	const char	*repo;		/* NULL for a fixed-path store */
	const char	*store;
	const char	*dir;
	sc_counter	*counters;	/* map_size, map_used, last_txnid... */
	size_t		 ncounters;
	sc_stats_db	*dbs;
	size_t		 ndbs;
} sc_stats_env;

typedef struct sc_stats {
	sc_counter	*daemon;	/* uptime_s, connections, open_envs... */
	size_t		 ndaemon;
	sc_stats_env	*envs;
	size_t		 nenvs;
} sc_stats;

/*
 * Reads statistics.  With store set: the daemon's counters and those of
 * the env of (repo, store) (opened if it exists; SC_ERR_NOT_FOUND if
 * not).  With store NULL: the daemon's counters and every open env's,
 * only repo's when repo is set.  Counter names are documented in
 * PROTOCOL.md; newer daemons may add some.  *out is freed with
 * sc_stats_free().
 */
SC_API int	sc_get_stats(sc_conn *c, const char *repo, const char *store,
		    sc_stats **out);
SC_API void	sc_stats_free(sc_stats *s);
/* The value of counter name among c[0..n), or dflt when absent. */
SC_API uint64_t	sc_counter_get(const sc_counter *c, size_t n,
		    const char *name, uint64_t dflt);

/* -------------------------------------------------------------- live */

typedef struct sc_live_env {
	const char	*repo;		/* NULL for a fixed-path store */
	const char	*store;
	const char	*dir;		/* the env directory */
	uint64_t	 inflight;	/* requests using it right now */
	uint64_t	 idle_ms;	/* since last used (0 while in use) */
} sc_live_env;

typedef struct sc_live {
	sc_live_env	*envs;
	size_t		 n;
} sc_live;

/*
 * Lists the envs storesd has open, those of repo and/or store only when
 * they are set (NULL: all).  An env not listed is closed: its directory
 * may be moved or deleted, as long as no request opens it meanwhile.
 * *out is freed with sc_live_free().
 */
SC_API int	sc_get_live(sc_conn *c, const char *repo, const char *store,
		    sc_live **out);
SC_API void	sc_live_free(sc_live *l);

#ifdef __cplusplus
}
#endif

#endif
