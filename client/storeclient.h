/*
 * libstoreclient: the client library of storesd.
 *
 * storesd owns every LMDB environment on the host; programs reach their
 * data through it over a Unix socket and never map an env file.  This
 * library speaks storesd's protocol (proto/PROTOCOL.md) two ways:
 * synchronously (sc_conn: each call sends one request and waits for its
 * reply, or pipelines them) and asynchronously (sc_async: each call
 * queues a request and returns; a callback gets the reply, driven by the
 * caller's event loop).  Both run on one connection engine.
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
 * without touching the socket; close it and connect again.  Which codes
 * each call can return: see "Errors every call can see" below.
 *
 * Ownership.  Everything the library returns through a pointer belongs
 * to the caller, who frees it with the matching function: values with
 * sc_free(), stats with sc_stats_free(), live lists with sc_live_free().
 * All free functions accept NULL.  Strings passed in are only read
 * during the call.
 *
 * Threads.  The library has no global state.  A connection must be used
 * by one thread at a time; use one connection per thread.
 *
 * Versions and ABI.  This is ABI version 2 (soname libstoreclient.so.2).
 * Every structure that may grow is opaque (sc_options, sc_scan_opts,
 * sc_reply) and set or read through functions, so later 2.x releases
 * add functions, never fields, and the symbols exported are listed by
 * version node in libstoreclient.map.  SC_VERSION_NUMBER is the header's
 * version as one comparable number; sc_version() is the library's.
 */
#ifndef STORECLIENT_H
#define STORECLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SC_VERSION_MAJOR	2
#define SC_VERSION_MINOR	2
#define SC_VERSION_PATCH	0
/* MAJOR * 10000 + MINOR * 100 + PATCH: `#if SC_VERSION_NUMBER >= 20100` */
#define SC_VERSION_NUMBER	(SC_VERSION_MAJOR * 10000 + \
				 SC_VERSION_MINOR * 100 + SC_VERSION_PATCH)

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
	SC_ERR_FD_ERROR		= 16,	/* the descriptor passed for a snapshot
					   failed: full, its reader gone, or
					   not read within snapshot_timeout */
	SC_ERR_CORRUPT		= 17,	/* the env's data file is damaged;
					 * restore it from a snapshot */
	SC_ERR_NO_REPO		= 18,	/* create = explicit: the repo has no
					 * env for that store; create it */
	SC_ERR_COMPACTED	= 19,	/* watch: the revision asked for is
					 * no longer in history (see
					 * sc_watch_compacted()) */
	SC_ERR_RESYNC		= 20,	/* watch: another program wrote the
					 * env; read it again */
	SC_ERR_WATCH_OVERFLOW	= 21,	/* watch: a store without history,
					 * and the watcher fell behind */
	SC_ERR_NO_ROOM		= 22,	/* a compacting snapshot would leave
					 * the data disk less free than
					 * snapshot_reserve; take a plain
					 * one, or free space there */

	SC_ERR_CONNECT		= 100,	/* cannot reach storesd */
	SC_ERR_IO		= 101,	/* the connection broke or is dead */
	SC_ERR_PROTOCOL		= 102,	/* a reply the library cannot read */
	SC_ERR_NOMEM		= 103,	/* out of memory */
	SC_ERR_INVALID		= 104,	/* a bad argument to a library call */
	SC_ERR_TIMEOUT		= 105,	/* no reply within timeout_ms */
	SC_ERR_LIMIT		= 106,	/* max_inflight or max_queued reached:
					 * wait for replies, then retry */
	SC_ERR_CLOSED		= 107,	/* async: the caller freed the
					 * connection before the reply came */
};

/* The library's SC_VERSION_NUMBER (the header's may be older). */
SC_API int		 sc_version(void);

/*
 * Errors every call can see.  They are listed here once; the comment of
 * each function names only the codes that are its own.
 *
 * Any call that talks to storesd:
 *   SC_ERR_IO, SC_ERR_PROTOCOL, SC_ERR_TIMEOUT: the connection is dead,
 *     and a write it had sent may or may not have been applied.
 *   SC_ERR_NOMEM: the connection dies too when it was a reply that
 *     could not be received.
 *   SC_ERR_INTERNAL: storesd failed (out of memory, a damaged env...).
 *   SC_ERR_INVALID: a required argument is NULL, or pipelined replies
 *     or a batch's chunks are pending on the connection.
 *
 * Any call that names a store, also:
 *   SC_ERR_UNKNOWN_STORE, and SC_ERR_UNKNOWN_DB when it takes a db.
 *   SC_ERR_BAD_REPO: repo is not a valid name, is set for a fixed-path
 *     store, or something other than a directory is in its way on disk.
 *   SC_ERR_FORBIDDEN: the store's readers (writers, for a write or a
 *     fork) leave this user out.
 *   SC_ERR_BUSY: storesd's max_envs are all in use, a fork is creating
 *     the env, all LMDB reader slots are taken, the store was
 *     reconfigured while the request was on its way, another program
 *     grew the env while a write was on its way, or another program cut
 *     the env's lock.mdb short (storesd reopens the env; no data is
 *     lost, a write refused so wrote nothing).  Retry.
 *   SC_ERR_IO_ERROR: storesd cannot open or write the env on its disk
 *     (full, read-only, EIO); a write then wrote nothing.
 *   SC_ERR_CORRUPT: the env's data.mdb is damaged (empty, truncated, a
 *     page out of place); storesd refuses that env, and only it, until
 *     it is restored from a snapshot.  The message names the env.
 *   SC_ERR_TOO_LARGE: the request is over max_frame.  The library finds
 *     that before sending and the connection stays usable, unless a
 *     reload lowered max_frame since: storesd then closes it.
 */

typedef struct sc_conn sc_conn;

/*
 * Connection options: an opaque object, set through functions, so that
 * options can be added without breaking programs built before.  The
 * setters copy what they are given; one options object may serve many
 * connections.  Each returns 0, or -1 for o NULL or an invalid value.
 */
typedef struct sc_options sc_options;

/* New options with every default; NULL when out of memory. */
SC_API sc_options	*sc_options_new(void);
/* Frees o.  NULL-safe. */
SC_API void		 sc_options_free(sc_options *o);
/* The socket (NULL: sc_default_socket()); -1 when out of memory. */
SC_API int		 sc_options_set_path(sc_options *o, const char *path);
/* The name storesd's debug log shows for the connection (NULL: none). */
SC_API int		 sc_options_set_client_name(sc_options *o,
			    const char *name);
/*
 * Sync: how long a call may wait on storesd, for the socket to take its
 * request or for a reply (the socket's SO_SNDTIMEO and SO_RCVTIMEO);
 * async: how long requests may be in flight with no reply coming (the
 * connection then dies with SC_ERR_TIMEOUT).  0 (the default): as long
 * as it takes.
 */
SC_API int		 sc_options_set_timeout(sc_options *o, int ms);
/*
 * Back-pressure bounds (0, the default: none).  Past max_inflight
 * requests awaiting replies, or max_queued bytes not yet written to the
 * socket, a new request is refused at once with SC_ERR_LIMIT (the
 * connection stays usable): async calls return -1 and never call their
 * callback, sc_append_*() return -1.  A batch's chunks and commit are
 * exempt (a half-sent batch could not be resumed).
 */
SC_API int		 sc_options_set_max_inflight(sc_options *o, size_t n);
SC_API int		 sc_options_set_max_queued(sc_options *o, size_t bytes);

/*
 * Connects to storesd at path (NULL: the default socket) and checks it
 * speaks this library's protocol.  Returns a connection, or NULL only
 * when out of memory.  On failure the connection is dead and says why:
 * test sc_errcode(c) (SC_ERR_CONNECT when nobody answers on the socket,
 * SC_ERR_BUSY when storesd has max_connections open, SC_ERR_BAD_VERSION,
 * SC_ERR_INVALID for a socket path too long) and call sc_close(c) either
 * way.
 */
SC_API sc_conn		*sc_connect(const char *path);
/* The same, with options; o may be NULL and is only read. */
SC_API sc_conn		*sc_connect_opts(const sc_options *o);
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
/*
 * For an error about one element of a request (a batch op, a key), its
 * index; SC_NOINDEX otherwise.
 */
#define SC_NOINDEX	((size_t)-1)
SC_API size_t		 sc_errindex(const sc_conn *c);
/*
 * For SC_ERR_BUSY, how long storesd suggests waiting before retrying, in
 * milliseconds (its reply's retry_ms; >= 1), as it estimates how long
 * the cause lasts: an env being closed or resized (10 ms), envs, map
 * budget or reader slots held by other requests (100 ms), a fork, drop,
 * restore or snapshots holding what is needed, or max_connections
 * (1000 ms).  -1 when there is no hint: another error, an older storesd,
 * or a cause a retry soon cannot clear (storesd stopping, another
 * process holding the env, a map_size over map_budget, 64 batches open
 * on the connection).  A hint, not a promise: the retry may be BUSY
 * again.  Since 2.2.
 */
SC_API int64_t		 sc_errretry_ms(const sc_conn *c);
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
/* The system daemon's socket.  A connection without a path and without
 * $STORESD_SOCKET uses it when the user's own socket does not exist and
 * it does, so an ordinary user reaches the system daemon. */
#define SC_SYSTEM_SOCKET	"/run/storesd/storesd.sock"

/* Frees a value returned by sc_get().  NULL-safe. */
SC_API void		 sc_free(void *p);

/* Asks storesd to answer, to learn the connection still works.  Returns
 * 0 or -1, with only the errors of any call that talks to storesd. */
SC_API int	sc_ping(sc_conn *c);

/*
 * Reads key.  On success *val is a new buffer of *vlen bytes (plus a
 * terminating NUL not counted in *vlen, so text values can be used as C
 * strings) that the caller frees with sc_free().
 * Errors: SC_ERR_NOT_FOUND (no such key, db or env), SC_ERR_BAD_KEY,
 * SC_ERR_TOO_LARGE (a value too big for one reply, near 4GiB).
 */
SC_API int	sc_get(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen, void **val,
		    size_t *vlen);

/*
 * Writes key = val as one atomic, durable commit (durable as the store's
 * sync mode says); the env is created on the first write.
 * Errors: SC_ERR_BAD_KEY, SC_ERR_MAP_FULL, SC_ERR_TOO_LARGE (over
 * max_frame, or more than one transaction can hold); never
 * SC_ERR_NOT_FOUND.
 */
SC_API int	sc_put(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen,
		    const void *val, size_t vlen);

/* Deletes key.  Errors: as sc_put(), plus SC_ERR_NOT_FOUND when the key
 * or its env is absent (nothing changes then). */
SC_API int	sc_del(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen);

/*
 * Conditional writes, each one atomic commit.  A condition that does not
 * hold is SC_ERR_COND_FAILED (distinct from SC_ERR_NOT_FOUND) and changes
 * nothing.
 *   sc_put_if_absent:  writes key only if it is absent.
 *   sc_put_if_equals:  writes key only if it holds exactly old (like
 *                      `git update-ref NEW OLD`); an absent key fails.
 *   sc_del_if_equals:  deletes key only if it holds exactly old.
 * Other errors: as sc_put() (so never SC_ERR_NOT_FOUND).
 */
SC_API int	sc_put_if_absent(sc_conn *c, const char *repo,
		    const char *store, const char *db, const void *key,
		    size_t klen, const void *val, size_t vlen);
SC_API int	sc_put_if_equals(sc_conn *c, const char *repo,
		    const char *store, const char *db, const void *key,
		    size_t klen, const void *old, size_t oldlen,
		    const void *val, size_t vlen);
SC_API int	sc_del_if_equals(sc_conn *c, const char *repo,
		    const char *store, const char *db, const void *key,
		    size_t klen, const void *old, size_t oldlen);

/* --------------------------------------------------------- pipelining */

/*
 * Pipelining keeps one connection busy without waiting a round trip per
 * request, as hiredis's append/get-reply pair does.  sc_append_get(),
 * sc_append_put() and sc_append_del() queue a request (sending queued
 * requests when 64 KiB have gathered) and return at once; sc_flush()
 * sends the queued ones now, so storesd works on them while the caller
 * does something else; sc_collect() sends what is left and returns the
 * replies one at a time, in the order the requests were appended.  storesd may answer out of order (reads
 * before earlier writes); the library puts replies back in order.
 *
 * A request in flight is not ordered against the ones around it: a get
 * appended after a put of the same key may or may not see it.  Collect
 * the put's reply first when that matters.
 *
 * While replies are pending, the connection's other calls fail with
 * SC_ERR_INVALID: collect them all first.
 */
/*
 * Queue a get, put or del; 0, or -1 for what the library finds alone:
 * SC_ERR_INVALID, SC_ERR_TOO_LARGE, SC_ERR_NOMEM, SC_ERR_LIMIT (the
 * options' max_inflight or max_queued reached: collect first), or a
 * connection error (a send failed: every pending reply is lost).  storesd's verdict on
 * the request comes from sc_collect().
 */
SC_API int	sc_append_get(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen);
SC_API int	sc_append_put(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen,
		    const void *val, size_t vlen);
SC_API int	sc_append_del(sc_conn *c, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen);
/*
 * The reply to the oldest request not collected yet.  Returns 0 on
 * success, with *val and *vlen (either may be NULL) set for a get, to
 * bytes valid until the next call on c (NULL and 0 for a put or del); or
 * -1 with that request's error, any that sc_get(), sc_put() or sc_del()
 * would give (the others are unaffected), or a connection error (then
 * every pending reply is lost), or SC_ERR_INVALID when nothing is
 * pending.
 */
SC_API int	sc_collect(sc_conn *c, const void **val, size_t *vlen);
/* Requests appended and not collected yet. */
SC_API size_t	sc_pending(const sc_conn *c);
/*
 * Sends every request appended so far, waiting (within the timeout)
 * until the socket took them; replies are not waited for.  Returns 0, or
 * -1 with a connection error (every pending reply is lost).
 */
SC_API int	sc_flush(sc_conn *c);

/* ------------------------------------------------------------ batches */

/*
 * An atomic batch: ops added in order, applied at sc_batch_commit() in
 * one write transaction, all or nothing.  Ops may name different dbs of
 * the env (db NULL: the batch's db).  A batch of any size can be built:
 * ops are sent to storesd in chunks as they accumulate (storesd holds
 * them, bounded by its max_batch, with no transaction open) and applied
 * only at commit; a batch that is aborted, or whose connection closes
 * first, applies nothing.  Chunks are sent without waiting for each
 * acknowledgement, so building the next chunk overlaps storesd checking
 * the last.
 *
 * The adders return 0, or -1 once the batch is known to have failed
 * (out of memory, or storesd refused a chunk: sc_errcode() on the
 * connection and sc_errindex() say which op and why).  A refused chunk
 * may be reported by a later add or only by the commit.  After a
 * failure, further adds fail the same way and the batch can only be
 * committed (which fails the same way) or aborted.  Conditions are only
 * checked at commit, so the adders' errors are: SC_ERR_INVALID (key or
 * val NULL with a length), SC_ERR_NOMEM, and a chunk's SC_ERR_BAD_KEY or
 * SC_ERR_UNKNOWN_DB (sc_errindex() names the op), SC_ERR_TOO_LARGE (an
 * op over max_frame, or storesd's max_batch reached), SC_ERR_BUSY (64
 * batches open on the connection, or the store reconfigured meanwhile).
 * b NULL (a failed sc_batch_begin()) is -1 with nothing recorded.
 *
 * Once a batch has sent a chunk, and until it is committed or aborted,
 * its connection's other calls fail with SC_ERR_INVALID: their replies
 * would be queued behind the chunks'.  Use another connection meanwhile.
 * sc_append_*() and sc_collect() too, and sc_pending() is 0 meanwhile:
 * the chunks' acknowledgements are the batch's own.
 */
typedef struct sc_batch sc_batch;

/* Starts a batch on c for (repo, store); NULL on a bad argument or out
 * of memory (SC_ERR_INVALID, SC_ERR_NOMEM in sc_errcode(c)).  Nothing
 * is sent yet, so storesd's errors come from the adders or the commit. */
SC_API sc_batch	*sc_batch_begin(sc_conn *c, const char *repo,
		    const char *store, const char *db);
/* put: set key to val. */
SC_API int	 sc_batch_put(sc_batch *b, const char *db, const void *key,
		    size_t klen, const void *val, size_t vlen);
/* del: remove key; an absent key is no error in a batch. */
SC_API int	 sc_batch_del(sc_batch *b, const char *db, const void *key,
		    size_t klen);
/* put_if_absent: set key, failing the batch if it exists. */
SC_API int	 sc_batch_put_if_absent(sc_batch *b, const char *db,
		    const void *key, size_t klen, const void *val,
		    size_t vlen);
/* expect: fail the batch unless key holds exactly val. */
SC_API int	 sc_batch_expect(sc_batch *b, const char *db, const void *key,
		    size_t klen, const void *val, size_t vlen);
/* expect_absent: fail the batch if key exists. */
SC_API int	 sc_batch_expect_absent(sc_batch *b, const char *db,
		    const void *key, size_t klen);
/* clear: empty the db (ops after it in the batch then refill it). */
SC_API int	 sc_batch_clear(sc_batch *b, const char *db);
/* Ops added so far. */
SC_API size_t	 sc_batch_count(const sc_batch *b);
/*
 * Applies the batch as one atomic commit and frees it.  Returns 0, or
 * -1 with the connection's error: an adder's (above), SC_ERR_COND_FAILED
 * (an expect, expect_absent or put_if_absent did not hold),
 * SC_ERR_MAP_FULL, SC_ERR_TOO_LARGE (also: more than one transaction
 * can hold), SC_ERR_BUSY (the env was being closed as it committed:
 * send the batch again), with sc_errindex() naming the op at fault
 * (counted from 0 in the order added) when there is one.  Never
 * SC_ERR_NOT_FOUND.  Nothing is applied when storesd reports a failure.
 */
SC_API int	 sc_batch_commit(sc_batch *b);
/* Drops the batch: nothing is applied.  NULL-safe. */
SC_API void	 sc_batch_abort(sc_batch *b);

/* ---------------------------------------------------- multi-key reads */

/* A byte string passed in, or returned (see each function). */
typedef struct sc_bytes {
	const void	*p;
	size_t		 n;
} sc_bytes;

/*
 * Reads n keys from one read snapshot.  On success *vals is an array of
 * n values, in the order of keys: vals[i].p is NULL when key i is absent,
 * else it points at its bytes (NUL-terminated, not counted in .n).  The
 * whole result is one allocation: free it with sc_free(*vals).  All keys
 * travel in one request, which must fit in storesd's max_frame
 * (SC_ERR_TOO_LARGE otherwise).  Errors: SC_ERR_BAD_KEY (sc_errindex()
 * names the key); never SC_ERR_NOT_FOUND.
 */
SC_API int	sc_mget(sc_conn *c, const char *repo, const char *store,
		    const char *db, const sc_bytes *keys, size_t n,
		    sc_bytes **vals);

/*
 * Finds which of n keys are absent.  On success *missing is a new array
 * of *nmissing indices into keys, ascending (free it with sc_free();
 * NULL when none is missing).  Any number of keys may be asked: they
 * are sent in as many requests as max_frame needs, so the answer is
 * exact for each key at the moment it was looked at.  Errors:
 * SC_ERR_BAD_KEY (sc_errindex() counts over all n keys); never
 * SC_ERR_NOT_FOUND.
 */
SC_API int	sc_missing(sc_conn *c, const char *repo, const char *store,
		    const char *db, const sc_bytes *keys, size_t n,
		    size_t **missing, size_t *nmissing);

/* The number of entries in the db (0 when its env does not exist, so
 * never SC_ERR_NOT_FOUND).  No errors of its own. */
SC_API int	sc_count(sc_conn *c, const char *repo, const char *store,
		    const char *db, uint64_t *count);

/* -------------------------------------------------------------- scans */

/*
 * Scan options: an opaque object like sc_options.  The setters copy the
 * bytes they are given (each 0 to 511 bytes; a longer one is refused by
 * storesd with SC_ERR_BAD_KEY) and return 0, or -1 for o NULL, a NULL
 * pointer with a length, or out of memory.  Defaults: every key, first
 * to last, with values, no limit.
 */
typedef struct sc_scan_opts sc_scan_opts;

SC_API sc_scan_opts	*sc_scan_opts_new(void);
SC_API void		 sc_scan_opts_free(sc_scan_opts *o);
/* Keys starting with these bytes (n 0: any key). */
SC_API int		 sc_scan_opts_set_prefix(sc_scan_opts *o,
			    const void *p, size_t n);
/* From this key on (p NULL: from the first). */
SC_API int		 sc_scan_opts_set_start(sc_scan_opts *o,
			    const void *p, size_t n);
/* Up to, not including, this key (p NULL: to the last). */
SC_API int		 sc_scan_opts_set_end(sc_scan_opts *o, const void *p,
			    size_t n);
/* Stop after n entries. */
SC_API int		 sc_scan_opts_set_limit(sc_scan_opts *o, uint64_t n);
/* Last key first (on != 0). */
SC_API int		 sc_scan_opts_set_reverse(sc_scan_opts *o, int on);
/* Keys only: values are not fetched (on != 0). */
SC_API int		 sc_scan_opts_set_keys_only(sc_scan_opts *o, int on);

typedef struct sc_scan sc_scan;

/*
 * Starts an ordered scan of db, in LMDB's byte order (reversed when
 * asked), over the keys in [start, end) that start with prefix.  o may
 * be NULL (everything); it is copied, so it may be freed at once.  Entries arrive in pages, one request each; each
 * page is its own read snapshot, so a scan that runs while others write
 * sees each entry as it was when its page was read, and no transaction
 * stays open between pages.  Only one page is held in memory at a time.
 * Returns the scan, or NULL (sc_errcode(c) says why: SC_ERR_INVALID,
 * SC_ERR_NOMEM).  Nothing is sent yet: storesd's errors, even for a bad
 * store, come from sc_scan_next().
 */
SC_API sc_scan	*sc_scan_begin(sc_conn *c, const char *repo,
		    const char *store, const char *db, const sc_scan_opts *o);
/*
 * The next entry: returns 1 with *key, *klen (and *val, *vlen unless
 * keys_only, when they are NULL and 0; either may be NULL pointers if not
 * wanted), valid until the next call on s; 0 at the end; -1 on error
 * (sc_errcode() of the connection: SC_ERR_BAD_KEY for a prefix, start or
 * end over 511 bytes; a missing env scans as empty, never
 * SC_ERR_NOT_FOUND).  s NULL is -1 with nothing recorded.
 */
SC_API int	sc_scan_next(sc_scan *s, const void **key, size_t *klen,
		    const void **val, size_t *vlen);
/* Ends the scan and frees it.  NULL-safe. */
SC_API void	sc_scan_end(sc_scan *s);

/*
 * Has storesd write a consistent point-in-time copy of the env of
 * (repo, store) into fd, which the caller opened for writing (storesd
 * never opens a path for a client; the descriptor travels over the
 * socket).  fd may be a file, a pipe, a socket or a device, blocking or
 * not; the call returns once storesd wrote the whole copy, so whoever
 * reads a pipe or socket must read meanwhile (another thread or
 * process), taking at least 64 KiB per snapshot_timeout (30 s), and all
 * of it within snapshot_max_time (24 h).  compact
 * drops free pages while copying.  The copy is an LMDB data file:
 * `mdb_dump -n -a FILE` prints its dbs.  On success *size (may be NULL) is the
 * number of bytes fd took.
 * Errors: SC_ERR_NOT_FOUND (the env does not exist), SC_ERR_BAD_REQUEST
 * (fd not open for writing), SC_ERR_INVALID (fd < 0 or not open; the
 * connection stays usable), SC_ERR_FD_ERROR (fd failed: its reader went
 * away, its file system is full, or it took too little within
 * snapshot_timeout or snapshot_max_time; what was written is incomplete), SC_ERR_IO_ERROR
 * (reading the env failed), SC_ERR_NO_ROOM (compact: the env's copy would
 * leave its file system less free than snapshot_reserve; nothing was
 * written: take a plain snapshot, or free space), SC_ERR_BUSY (the env is being closed, it
 * waited snapshot_timeout while snapshot_max snapshots ran, or storesd
 * is stopping).
 */
SC_API int	sc_snapshot(sc_conn *c, const char *repo, const char *store,
		    int fd, int compact, uint64_t *size);

/*
 * Makes a point-in-time copy of src_repo's env of store the env of
 * dst_repo.  Refused while dst_repo's env is open or being forked into
 * (SC_ERR_BUSY) or if it already exists (SC_ERR_EXISTS).  Errors also:
 * SC_ERR_NOT_FOUND (no source env), SC_ERR_BAD_REQUEST (a fixed-path
 * store, or dst_repo the same as src_repo), SC_ERR_BAD_REPO (either
 * name), SC_ERR_FORBIDDEN unless the user may write the store.
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
 * sc_stats_free().  Without store, envs the user may not read are left
 * out rather than refused, and of the store errors above only
 * SC_ERR_BAD_REPO can occur.
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
 * *out is freed with sc_live_free().  It opens nothing: of the store
 * errors above only SC_ERR_BAD_REPO (an invalid repo name) and, with
 * store set, SC_ERR_UNKNOWN_STORE and SC_ERR_FORBIDDEN occur.  Envs the
 * user may not read are left out.
 */
SC_API int	sc_get_live(sc_conn *c, const char *repo, const char *store,
		    sc_live **out);
SC_API void	sc_live_free(sc_live *l);

/* --------------------------------------------------------- repositories */

typedef struct sc_repo_env {
	const char	*repo;		/* NULL for a fixed-path store */
	const char	*store;
	uint64_t	 size;		/* bytes of its data file */
	int		 open;		/* storesd has it open now */
} sc_repo_env;

typedef struct sc_repos {
	sc_repo_env	*envs;		/* by repo, then store */
	size_t		 n;
} sc_repos;

/*
 * Lists every env on storesd's disk, open or not: those of repos that
 * start with prefix and of store, when they are set (NULL: all).  Envs
 * of stores the user may not read are left out.  *out is freed with
 * sc_repos_free().  Errors: SC_ERR_UNKNOWN_STORE, SC_ERR_FORBIDDEN (the
 * user may not read store), SC_ERR_BAD_REPO (prefix over 255 bytes),
 * SC_ERR_IO_ERROR (storesd cannot read its data_dir).
 */
SC_API int	sc_list_repos(sc_conn *c, const char *prefix,
		    const char *store, sc_repos **out);
SC_API void	sc_repos_free(sc_repos *r);

/*
 * Creates repo's empty env of store, or with store NULL of every store
 * that has an env per repo.  *created (may be NULL) counts the envs
 * made; envs that exist are left alone.  Errors: SC_ERR_EXISTS (they
 * all exist: nothing was made), SC_ERR_FORBIDDEN (the user may not
 * write one of the stores), SC_ERR_BUSY (a drop or restore is under
 * way), SC_ERR_BAD_REPO, SC_ERR_UNKNOWN_STORE, SC_ERR_IO_ERROR.
 */
SC_API int	sc_create(sc_conn *c, const char *repo, const char *store,
		    uint64_t *created);

/*
 * Deletes repo's env of store, or with store NULL its env of every
 * store: atomically per env (moved out of place in one step, then
 * removed), and all or none of them: an env in use (a request, a
 * snapshot, a fork) fails the drop with SC_ERR_BUSY and drops nothing.
 * *dropped (may be NULL) counts the envs deleted.  Errors:
 * SC_ERR_NOT_FOUND (nothing to drop), SC_ERR_BUSY, SC_ERR_FORBIDDEN
 * (write access to each store is needed), SC_ERR_BAD_REQUEST (a
 * fixed-path store), SC_ERR_BAD_REPO, SC_ERR_UNKNOWN_STORE,
 * SC_ERR_IO_ERROR.
 */
SC_API int	sc_drop(sc_conn *c, const char *repo, const char *store,
		    uint64_t *dropped);

/*
 * Makes the LMDB env file read from fd (a snapshot from sc_snapshot(),
 * mdb_copy, or any LMDB data file; a file, pipe or socket, read to its
 * end) repo's env of store.  The descriptor travels over the socket;
 * storesd never opens a path.  storesd receives it aside, checks that it
 * is a sound LMDB env that fits the store (no db the store does not
 * declare, within map_size, every page readable), and only then puts it
 * in place in one step.  An env that exists is refused with
 * SC_ERR_EXISTS unless replace is set, which swaps it (SC_ERR_BUSY while
 * it is in use).  *size (may be NULL) is the bytes received.  Errors
 * also: SC_ERR_BAD_REQUEST (not a sound env, a db or size that does not
 * fit, fd not readable, no byte for restore_timeout (30 s by default), a
 * fixed-path store),
 * SC_ERR_FORBIDDEN (write access is needed), SC_ERR_INVALID (fd not
 * open), SC_ERR_IO_ERROR.
 */
SC_API int	sc_restore(sc_conn *c, const char *repo, const char *store,
		    int fd, int replace, uint64_t *size);

/* ------------------------------------------------- revisions, watches */

/*
 * Every env of a store with named dbs has a revision: 0 when made, one
 * more for each write request that changed it (a put, a del, a
 * conditional write that applied, a whole batch), never reused, kept
 * across restarts.  Every reply to a write carries the revision it
 * made, every reply to a read the revision its snapshot saw: the last
 * such reply's is sc_last_rev(c) (0 before any, and for stores with
 * max_dbs = 0, which keep none).
 */
SC_API uint64_t	sc_last_rev(const sc_conn *c);
/*
 * The current revision of (repo, store)'s env into *rev (may be NULL):
 * 0 for a repo with no env yet.  Returns 0, or -1 (SC_ERR_FORBIDDEN
 * without read access, SC_ERR_UNKNOWN_STORE, SC_ERR_BAD_REPO...).
 */
SC_API int	sc_rev(sc_conn *c, const char *repo, const char *store,
		    uint64_t *rev);
/*
 * The same, and the env's id into id (may be NULL), SC_ENV_ID_LEN
 * random bytes made with the env's first revision and made anew for a
 * fork's or a restore's destination; all zeros when the env does not
 * exist, no write has made a revision in it yet (revision 0), or its
 * store keeps no revisions.  A revision counts within one id only: a
 * client that resumes a watch with sc_watch_opts_set_from() compares the
 * id with the one it had, and reads everything again when it differs
 * (the env was restored, dropped and made again, or replaced).
 */
#define SC_ENV_ID_LEN	16
SC_API int	sc_rev_id(sc_conn *c, const char *repo, const char *store,
		    uint64_t *rev, unsigned char *id);

/*
 * Watch options: an opaque object like sc_scan_opts.  A watch follows
 * one key (set_key), or every key starting with a prefix (set_prefix; n
 * 0, or no options at all: the whole db); the last set wins.  set_from
 * asks for the changes from revision rev (>= 1) on, replayed from the
 * store's history before the live ones; without it, the changes after
 * the current revision.  The setters copy their bytes and return 0, or
 * -1 for o NULL, a NULL pointer with a length, rev 0, or out of memory.
 */
typedef struct sc_watch_opts sc_watch_opts;

SC_API sc_watch_opts	*sc_watch_opts_new(void);
SC_API void		 sc_watch_opts_free(sc_watch_opts *o);
SC_API int		 sc_watch_opts_set_key(sc_watch_opts *o,
			    const void *p, size_t n);
SC_API int		 sc_watch_opts_set_prefix(sc_watch_opts *o,
			    const void *p, size_t n);
SC_API int		 sc_watch_opts_set_from(sc_watch_opts *o,
			    uint64_t rev);

/* An event of a watch. */
#define SC_EV_PUT	1	/* key now holds val */
#define SC_EV_DEL	2	/* key was deleted (val NULL) */
#define SC_EV_PROGRESS	3	/* no event: every change up to rev was
				 * sent (key and val NULL) */
#define SC_EV_START	4	/* asynchronous watches only: storesd took
				 * the watch; rev is the current revision
				 * (key and val NULL).  Since 2.2 */
typedef struct sc_event {
	uint64_t	 rev;
	int		 op;		/* SC_EV_* */
	const void	*key;
	size_t		 klen;
	const void	*val;
	size_t		 vlen;
} sc_event;

typedef struct sc_watch sc_watch;

/*
 * Starts watching db of (repo, store) as o says (NULL: the whole db):
 * storesd sends every matching change committed after the current
 * revision (from o's revision on, with set_from), each once, in
 * revision order, once it is as durable as the store's sync mode
 * promises.  *rev (may be NULL) is the current revision.  The
 * connection may be used for other calls meanwhile: events that come
 * while it waits for another reply are queued on their watch, up to 16
 * MiB each (past that the watch ends with SC_ERR_WATCH_OVERFLOW).  A
 * connection may hold up to max_watches (storesd's configuration)
 * watches.  Returns the watch, which sc_watch_end() frees, or NULL
 * (SC_ERR_FORBIDDEN without read access, SC_ERR_BUSY past max_watches,
 * SC_ERR_BAD_REQUEST for a store with max_dbs = 0, SC_ERR_BAD_KEY,
 * SC_ERR_UNKNOWN_STORE, SC_ERR_UNKNOWN_DB, SC_ERR_NOMEM...).
 */
SC_API sc_watch	*sc_watch_begin(sc_conn *c, const char *repo,
		    const char *store, const char *db, const sc_watch_opts *o,
		    uint64_t *rev);
/*
 * Waits up to timeout_ms (< 0: for ever) for w's next event.  Returns 1
 * with *ev set (its key and val valid until the next call on w), 0 when
 * none came in time, -1 when the watch ended or the connection failed:
 * sc_errcode() of the connection says why: SC_ERR_COMPACTED (the
 * revision asked for, or the next one a slow watcher needed, is no
 * longer in history: see sc_watch_compacted()), SC_ERR_RESYNC (another
 * program wrote a path = env: read the data again),
 * SC_ERR_WATCH_OVERFLOW (a store without history, and the watcher fell
 * watch_buffer behind; or 16 MiB queued here), SC_ERR_INVALID
 * (pipelined replies pending; w is asynchronous), SC_ERR_IO.  After -1, w only waits to be
 * ended.  Progress events (SC_EV_PROGRESS) come after watch_progress of
 * quiet.
 */
SC_API int	sc_watch_next(sc_watch *w, sc_event *ev, int timeout_ms);
/*
 * After w ended with SC_ERR_COMPACTED: the oldest revision history
 * keeps and the current one into *oldest and *current (either may be
 * NULL); watch again from *current + 1 after reading the data.  Returns
 * 0, or -1 when w did not end so.
 */
SC_API int	sc_watch_compacted(const sc_watch *w, uint64_t *oldest,
		    uint64_t *current);
/* Ends w (an unwatch, unless storesd ended it) and frees it; its events
 * not read are dropped.  Also after its connection is closed.
 * NULL-safe.  For an asynchronous watch it is sc_async_unwatch(): w
 * stays until its callback's last call. */
SC_API void	sc_watch_end(sc_watch *w);

/* ====================================================== asynchronous API */

/*
 * An asynchronous connection, for programs built around an event loop;
 * hiredis's redisAsyncContext is the model.  sc_async_connect() never
 * blocks: it opens a non-blocking socket and queues the hello.  Each
 * sc_async_*() request call queues a request and returns at once: 0, and
 * then its callback runs exactly once, later, from the event loop; or
 * -1, and then its callback never runs (sc_async_errcode() says why:
 * SC_ERR_INVALID, SC_ERR_NOMEM, SC_ERR_LIMIT, SC_ERR_TOO_LARGE, or the
 * connection's error once it is dead).
 *
 * A callback gets the reply, or an error when the request cannot
 * complete: SC_ERR_IO (the connection broke, storesd stopped),
 * SC_ERR_TIMEOUT, SC_ERR_PROTOCOL, SC_ERR_CLOSED (the caller freed the
 * connection with the request in flight), or a code storesd sent about
 * the whole connection (SC_ERR_BUSY past max_connections).  A write whose
 * callback got a connection error may or may not have been applied.
 * Callbacks run in the order replies arrive, which for reads and writes
 * to different envs need not be the order sent.
 *
 * Inside a callback the program may issue requests, and may free the
 * connection: sc_async_free() then takes effect when the callback
 * returns, and the requests still in flight get SC_ERR_CLOSED.
 *
 * A connection that dies (or fails to connect) is freed by the library
 * after its last callback: its disconnect (or connect) callback is the
 * last moment the handle is valid.  To reconnect, connect again.
 *
 * Event loops.  The library owns no loop and links no event library.  An
 * adapter (client/adapters/libevent.h for libevent: one call,
 * sc_libevent_attach()) gives it hooks to ask for read and write
 * readiness of sc_async_fd() and for a timer, and calls
 * sc_async_handle_read(), sc_async_handle_write() and
 * sc_async_handle_timeout() when they fire.  To write an adapter for
 * another loop, fill a struct sc_async_hooks with functions that
 * register and unregister those interests with it, and call
 * sc_async_attach(); libstoreclient(3) shows one over poll(2).
 *
 * Watches (sc_async_watch()) are requests whose callback runs once when
 * the watch starts, once per event, and once more, last, when it ends.
 */
typedef struct sc_async sc_async;
/* A reply, valid only during the callback it is passed to. */
typedef struct sc_reply sc_reply;

/* Called once per request, with its reply (r is never NULL). */
typedef void	 sc_reply_fn(sc_async *ac, sc_reply *r, void *arg);
/* Called once when the hello is answered (code SC_OK), or when
 * connecting failed (the code; ac is freed when it returns). */
typedef void	 sc_connect_fn(sc_async *ac, int code, void *arg);
/* Called once when a connected connection ends, after every request's
 * callback: code SC_OK when the caller freed it, else why it died.  ac
 * is freed when it returns. */
typedef void	 sc_disconnect_fn(sc_async *ac, int code, void *arg);

/* What an event loop provides; data is the adapter's.  Every hook is
 * required.  The hooks may be called from any sc_async_* call. */
struct sc_async_hooks {
	void	(*add_read)(void *data);
	void	(*del_read)(void *data);
	void	(*add_write)(void *data);
	void	(*del_write)(void *data);
	/* Call sc_async_handle_timeout() once after ms; replaces the timer
	 * set before.  ms < 0: cancel it. */
	void	(*timer_set)(void *data, int ms);
	/* The connection is going away: unregister everything, free data. */
	void	(*cleanup)(void *data);
};

/*
 * Starts connecting to storesd (options o may be NULL; it is only read).
 * Returns the connection, or NULL when out of memory.  When connecting
 * fails at once (SC_ERR_CONNECT: nothing listens there; SC_ERR_INVALID)
 * sc_async_errcode() says so and the caller frees it with
 * sc_async_free(); no callback runs.  Requests may be issued at once.
 */
SC_API sc_async	*sc_async_connect(const sc_options *o);
/*
 * Gives ac its event loop: hooks (size: sizeof(struct sc_async_hooks),
 * so that hooks added later are known to be absent) and the adapter's
 * data.  Returns 0, or -1 (already attached, a hook missing).
 */
SC_API int	 sc_async_attach(sc_async *ac, const struct sc_async_hooks *h,
		    size_t size, void *data);
SC_API void	 sc_async_set_connect_cb(sc_async *ac, sc_connect_fn *fn,
		    void *arg);
SC_API void	 sc_async_set_disconnect_cb(sc_async *ac,
		    sc_disconnect_fn *fn, void *arg);
/* The socket, for the event loop; -1 once dead. */
SC_API int	 sc_async_fd(const sc_async *ac);
/* For the adapter: the socket is readable, writable; the timer fired. */
SC_API void	 sc_async_handle_read(sc_async *ac);
SC_API void	 sc_async_handle_write(sc_async *ac);
SC_API void	 sc_async_handle_timeout(sc_async *ac);
/*
 * Closes the connection: every request in flight gets SC_ERR_CLOSED,
 * the disconnect callback runs (code SC_OK), the hooks' cleanup runs,
 * and ac is freed; inside a callback, once it returns.  NULL-safe.
 */
SC_API void	 sc_async_free(sc_async *ac);
/* The last failure of an sc_async_*() call, as sc_errcode(). */
SC_API int	 sc_async_errcode(const sc_async *ac);
SC_API const char *sc_async_errmsg(const sc_async *ac);
/* Back-pressure: requests awaiting replies; bytes not yet written. */
SC_API size_t	 sc_async_inflight(const sc_async *ac);
SC_API size_t	 sc_async_queued(const sc_async *ac);
/* The server's version once connected (""), as sc_server_version(). */
SC_API const char *sc_async_server_version(const sc_async *ac);

/* The requests: arguments as the synchronous calls', then the callback.
 * Byte arguments are copied before the call returns. */
SC_API int	sc_async_ping(sc_async *ac, sc_reply_fn *fn, void *arg);
SC_API int	sc_async_get(sc_async *ac, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen,
		    sc_reply_fn *fn, void *arg);
SC_API int	sc_async_put(sc_async *ac, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen,
		    const void *val, size_t vlen, sc_reply_fn *fn, void *arg);
SC_API int	sc_async_del(sc_async *ac, const char *repo, const char *store,
		    const char *db, const void *key, size_t klen,
		    sc_reply_fn *fn, void *arg);
SC_API int	sc_async_put_if_absent(sc_async *ac, const char *repo,
		    const char *store, const char *db, const void *key,
		    size_t klen, const void *val, size_t vlen, sc_reply_fn *fn,
		    void *arg);
SC_API int	sc_async_put_if_equals(sc_async *ac, const char *repo,
		    const char *store, const char *db, const void *key,
		    size_t klen, const void *old, size_t oldlen,
		    const void *val, size_t vlen, sc_reply_fn *fn, void *arg);
SC_API int	sc_async_del_if_equals(sc_async *ac, const char *repo,
		    const char *store, const char *db, const void *key,
		    size_t klen, const void *old, size_t oldlen,
		    sc_reply_fn *fn, void *arg);
/*
 * As the synchronous calls: an mget is one request (one read snapshot)
 * whose keys must fit in storesd's max_frame; a missing is sent in as
 * many requests as max_frame needs (the callback runs once, when all are
 * answered, with the indices over all keys, or with the first failure
 * in key order; a -1 may leave parts already queued, whose answers are
 * dropped).  A request over max_frame is never sent (storesd would close
 * the connection on it): -1 with SC_ERR_TOO_LARGE at once when max_frame
 * is known; for a request made before the connection's hello was
 * answered (a missing is then cut for the default max_frame, 64 MiB),
 * its callback with SC_ERR_TOO_LARGE once it is.  Requests after such a
 * request wait for that answer, so that their order holds; a request of
 * at most 4 KiB is never held.
 */
SC_API int	sc_async_mget(sc_async *ac, const char *repo,
		    const char *store, const char *db, const sc_bytes *keys,
		    size_t n, sc_reply_fn *fn, void *arg);
SC_API int	sc_async_missing(sc_async *ac, const char *repo,
		    const char *store, const char *db, const sc_bytes *keys,
		    size_t n, sc_reply_fn *fn, void *arg);
SC_API int	sc_async_count(sc_async *ac, const char *repo,
		    const char *store, const char *db, sc_reply_fn *fn,
		    void *arg);
/*
 * One page of a scan: the first (cursor NULL), or the one after the
 * page whose sc_reply_cursor() gave cursor.  o may be NULL; a limit in
 * o bounds this page (the caller counts across pages).  This is the
 * whole of the asynchronous scan, by design (as Redis's SCAN): one
 * request and one callback per page, and the program asks for the next
 * page, with the same o, when it wants it, usually from the page's
 * callback (the cursor points into the reply, and is copied before this
 * returns).  README.md shows a walk of a whole db.  Each page is its
 * own read snapshot.
 */
SC_API int	sc_async_scan(sc_async *ac, const char *repo,
		    const char *store, const char *db, const sc_scan_opts *o,
		    const void *cursor, size_t cursorlen, sc_reply_fn *fn,
		    void *arg);
/* fd is duplicated: the caller may close it when the call returns. */
SC_API int	sc_async_snapshot(sc_async *ac, const char *repo,
		    const char *store, int fd, int compact, sc_reply_fn *fn,
		    void *arg);
SC_API int	sc_async_fork(sc_async *ac, const char *src_repo,
		    const char *store, const char *dst_repo, sc_reply_fn *fn,
		    void *arg);
SC_API int	sc_async_stats(sc_async *ac, const char *repo,
		    const char *store, sc_reply_fn *fn, void *arg);
SC_API int	sc_async_live(sc_async *ac, const char *repo,
		    const char *store, sc_reply_fn *fn, void *arg);
/*
 * A batch on ac, built with the same sc_batch_*() adders; its chunks are
 * queued as they fill, never waited for (other requests may go on
 * meanwhile).  sc_async_batch_commit() sends the last chunk and frees b:
 * 0, and fn runs once with the batch's outcome (the first chunk refused,
 * or the commit's reply, or the connection's end); or -1, and fn never
 * runs: b NULL, b a synchronous connection's batch (SC_ERR_INVALID, b
 * kept), or the commit could not be queued (the connection is dead, out
 * of memory).  sc_batch_abort() drops it: nothing is applied, no
 * callback runs.  A batch open when its connection ends can only fail:
 * abort it.
 */
SC_API sc_batch	*sc_async_batch_begin(sc_async *ac, const char *repo,
		    const char *store, const char *db);
SC_API int	sc_async_batch_commit(sc_batch *b, sc_reply_fn *fn,
		    void *arg);

/*
 * An asynchronous watch's callback.  It runs first with ev->op
 * SC_EV_START once storesd took the watch (ev->rev: the current
 * revision; code SC_OK), then once per event (SC_EV_PUT, SC_EV_DEL) and
 * progress frame (SC_EV_PROGRESS), in revision order, each exactly once;
 * ev and its bytes are valid during the call.  It runs last, exactly
 * once, with ev NULL, and code and msg say why the watch ended: SC_OK
 * once an sc_async_unwatch() is acknowledged; a refusal of the watch
 * (SC_ERR_FORBIDDEN, SC_ERR_UNKNOWN_STORE, SC_ERR_BUSY past max_watches,
 * ...: then it is the only call); storesd's end (SC_ERR_COMPACTED, when
 * sc_watch_compacted() on w gives the revisions; SC_ERR_RESYNC,
 * SC_ERR_WATCH_OVERFLOW, SC_ERR_FORBIDDEN after a reload); or the
 * connection's end (SC_ERR_IO, SC_ERR_TIMEOUT, SC_ERR_PROTOCOL,
 * SC_ERR_CLOSED when the caller freed it), before its disconnect
 * callback.  w is freed when the last call returns.  The callback may
 * issue requests, unwatch, and free the connection.
 */
typedef void	 sc_watch_fn(sc_async *ac, sc_watch *w, const sc_event *ev,
		    int code, const char *msg, void *arg);
/*
 * Watches db of (repo, store) as o says (NULL: the whole db; o is only
 * read), as sc_watch_begin() does, with fn called for its start, its
 * events and its end (sc_watch_fn above).  Other requests go on on ac
 * meanwhile; a watch is in flight (sc_async_inflight()) until its start
 * only.  Returns the watch, valid until fn's last call returns, or NULL
 * (fn never runs: SC_ERR_INVALID, SC_ERR_NOMEM, SC_ERR_LIMIT, the
 * connection dead).  Since 2.2.
 */
SC_API sc_watch	*sc_async_watch(sc_async *ac, const char *repo,
		    const char *store, const char *db, const sc_watch_opts *o,
		    sc_watch_fn *fn, void *arg);
/*
 * Ends an asynchronous watch: no event reaches fn from now on, and its
 * last call comes once storesd acknowledges (code SC_OK; or storesd's
 * code, when it ended the watch first; or the connection's, when it
 * ends first).  Before the start it is sent once storesd names the
 * watch, and fn gets no SC_EV_START.  A second call does nothing.
 * Returns 0, or -1: w NULL or a blocking watch (SC_ERR_INVALID), in or
 * after its last call, out of memory, or the connection dying (whose end
 * brings the last call).  Since 2.2.
 */
SC_API int	sc_async_unwatch(sc_watch *w);

/* --------------------------------------------------------- replies */

/* SC_OK, or the request's error (storesd's or the connection's). */
SC_API int	 sc_reply_code(const sc_reply *r);
/* The error's message ("" for SC_OK). */
SC_API const char *sc_reply_errmsg(const sc_reply *r);
/* The element at fault, as sc_errindex(). */
SC_API size_t	 sc_reply_errindex(const sc_reply *r);
/* The revision of a successful reply: the one a write made, the one a
 * read's snapshot saw (sc_last_rev()); 0 without one.  Since 2.2. */
SC_API uint64_t	 sc_reply_rev(const sc_reply *r);
/* For SC_ERR_BUSY: storesd's retry hint in ms, or -1, as
 * sc_errretry_ms().  Since 2.2. */
SC_API int64_t	 sc_reply_retry_ms(const sc_reply *r);
/* get: the value (not NUL-terminated: it lies in the received frame);
 * 0, or -1 when r is no successful get. */
SC_API int	 sc_reply_value(const sc_reply *r, const void **p, size_t *n);
/* count: the number of entries; snapshot: the bytes written. */
SC_API uint64_t	 sc_reply_count(const sc_reply *r);
SC_API uint64_t	 sc_reply_size(const sc_reply *r);
/*
 * Iterators over a reply's elements, each returning 1 with the next, 0
 * after the last, -1 when r is not that kind of reply:
 *   mget: the values in the order of the keys (*p NULL when absent);
 *   missing: the indices of absent keys, ascending;
 *   scan: the page's entries (*v NULL, *vn 0 for keys only).
 * Bytes are valid during the callback.
 */
SC_API int	 sc_reply_next_value(sc_reply *r, const void **p, size_t *n);
SC_API int	 sc_reply_next_missing(sc_reply *r, size_t *idx);
SC_API int	 sc_reply_next_entry(sc_reply *r, const void **k, size_t *kn,
		    const void **v, size_t *vn);
/* scan: 1 with the cursor to ask the next page with, 0 at the end. */
SC_API int	 sc_reply_cursor(const sc_reply *r, const void **p, size_t *n);
/* stats, live: decoded into what the caller frees with sc_stats_free(),
 * sc_live_free(); 0, or -1 (not that reply, or out of memory). */
SC_API int	 sc_reply_stats(const sc_reply *r, sc_stats **out);
SC_API int	 sc_reply_live(const sc_reply *r, sc_live **out);

#ifdef __cplusplus
}
#endif

#endif
