/*
 * sp_error: the stable error codes of the wire protocol.
 *
 * Owns: the one table of code numbers, names and meanings.  The numbers
 * and names are part of the protocol (proto/PROTOCOL.md) and of the
 * public client API (SC_ERR_* in client/storeclient.h mirrors them, which
 * client/client.c checks at compile time).  Never renumber; only append.
 */
#ifndef SP_ERROR_H
#define SP_ERROR_H

#include <stddef.h>
#include <stdint.h>

/* X(number, NAME, meaning) */
#define SP_CODES(X)							\
	X(0,  OK,          "success")					\
	X(1,  NOT_FOUND,   "no such key, or no such env yet")		\
	X(2,  BAD_REQUEST, "malformed or invalid request")		\
	X(3,  UNKNOWN_STORE, "no store of that name is configured")	\
	X(4,  UNKNOWN_DB,  "the store declares no db of that name")	\
	X(5,  BAD_REPO,    "invalid repository name")			\
	X(6,  BAD_KEY,     "key is empty or longer than 511 bytes")	\
	X(7,  MAP_FULL,    "the store's map is full")			\
	X(8,  TOO_LARGE,   "frame or value over the size limit")		\
	X(9,  BUSY,        "resource busy, retry later")		\
	X(10, FORBIDDEN,   "not allowed for this peer")			\
	X(11, INTERNAL,    "internal error in storesd")			\
	X(12, BAD_VERSION, "unsupported protocol version")		\
	X(13, EXISTS,      "destination already exists")		\
	X(14, IO_ERROR,    "I/O error in storesd's storage")		\
	X(15, COND_FAILED, "a write precondition did not hold")	\
	X(16, FD_ERROR,    "the descriptor the client passed failed")	\
	X(17, CORRUPT,     "the env's data file is damaged")	\
	X(18, NO_REPO,     "the repository has no env for that store")	\
	X(19, COMPACTED,   "the revision asked for is no longer in history") \
	X(20, RESYNC,      "the env changed outside storesd; read it again") \
	X(21, WATCH_OVERFLOW, "the watcher fell behind its buffer")	\
	X(22, NO_ROOM,     "not enough free space on the data disk")

enum sp_code {
#define SP_CODE_ENUM(n, name, text) SP_##name = n,
	SP_CODES(SP_CODE_ENUM)
#undef SP_CODE_ENUM
	SP_NCODES
};

#define SP_ERRMSG_MAX	256

/*
 * An error: a code and a message that says what to do about it, for
 * errors about one element of a request (a batch op, a key of mget), its
 * index, and for BUSY, when storesd can tell, how long to wait before
 * retrying (the reply's retry_ms).
 */
struct sp_error {
	int		code;
	char		msg[SP_ERRMSG_MAX];
	int		has_index;
	uint64_t	index;
	int64_t		retry_ms;	/* -1: no hint */
};

/* The stable name of a code ("NOT_FOUND"), or NULL for an unknown code. */
const char	*sp_code_name(int code);
/* A short meaning of a code, or NULL for an unknown code. */
const char	*sp_code_text(int code);
/* Looks up a code by name; returns -1 when the name is unknown. */
int		 sp_code_by_name(const char *name);

/*
 * Fills err (which may be NULL) with code and a printf-style message.
 * Returns -1, so callers can write "return sp_seterr(...)".
 */
int	sp_seterr(struct sp_error *err, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * Request bytes quoted for a message: at most SP_QUOTE_MAX of them, each
 * byte outside printable ASCII (and '\\') as \xNN, as storesd's log
 * writes them, so that a reply never carries a client's control bytes
 * or invalid UTF-8; "..." marks a cut.  Writes into buf (SP_QUOTE_BUF
 * bytes) and returns it.
 */
#define SP_QUOTE_MAX	32
#define SP_QUOTE_BUF	(SP_QUOTE_MAX * 4 + 4)
const char	*sp_quote(const void *p, size_t n, char *buf);

/* The same, for an error about element index of the request. */
int	sp_seterr_at(struct sp_error *err, uint64_t index, int code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * The hints storesd gives with BUSY (PROTOCOL.md, "BUSY and retry_ms"):
 * how long its cause usually lasts, by kind of cause.  Causes that a
 * retry soon cannot clear (storesd stopping, another process holding the
 * env, a map_size over map_budget, a client's own open batches) get
 * none.
 */
#define SP_RETRY_REOPEN_MS	10	/* an env closing, resized, remapped */
#define SP_RETRY_INUSE_MS	100	/* envs, map budget, reader slots or
					 * address space held by requests */
#define SP_RETRY_LONG_MS	1000	/* held by a fork, drop, restore or
					 * snapshots; connections */

/* The same, for BUSY with a hint: retry after retry_ms (-1: no hint, as
 * when retrying soon cannot help). */
int	sp_seterr_busy(struct sp_error *err, int64_t retry_ms,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
