/*
 * itest: helpers of the integration suites (check_integration.c,
 * check_data.c), on top of harness.h: connections, assertions on
 * values, and raw frames for what the library would never send.
 */
#ifndef ITEST_H
#define ITEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "harness.h"
#include "sp_buf.h"
#include "sp_msg.h"
#include "storeclient.h"

/* Fails the test unless call returns -1 with code on c. */
#define EXPECT_ERR(c, call, code) do {					\
	ck_assert_int_eq((call), -1);					\
	ck_assert_msg(sc_errcode(c) == (code), "%s: got %s: %s",	\
	    #call, sc_errname(sc_errcode(c)), sc_errmsg(c));		\
} while (0)

/* system() of a formatted command; returns its status. */
int	it_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Starts d for a shared fixture (in Check's parent process), exiting
 * the test program when it cannot; it_down() stops it and counts an
 * unclean stop in *bad.
 */
void	it_up(struct hs_daemon *d, const char *conf);
void	it_down(struct hs_daemon *d, int *bad);

/* A connection to d that must succeed. */
sc_conn	*it_conn(const struct hs_daemon *d);
/* Asserts that key holds exactly want. */
void	it_assert_val(sc_conn *c, const char *repo, const char *store,
	    const char *db, const void *key, size_t klen, const void *want,
	    size_t wlen);
/* Asserts that key is absent. */
void	it_assert_absent(sc_conn *c, const char *repo, const char *store,
	    const char *db, const void *key, size_t klen);
/* True when DATA_DIR/rel exists. */
bool	it_exists(const struct hs_daemon *d, const char *rel);
/* Waits (bounded) until repo has no open env: idle_close did its work. */
void	it_wait_closed(const struct hs_daemon *d, const char *repo);

/* Scan options as plain fields, for tests to write them inline. */
struct it_scan {
	const void	*prefix;
	size_t		 prefix_len;
	const void	*start;
	size_t		 start_len;
	const void	*end;
	size_t		 end_len;
	int		 has_limit;
	uint64_t	 limit;
	int		 reverse;
	int		 keys_only;
};
/* The sc_scan_opts for s (NULL: NULL); freed by a later call.  For one
 * thread of a test only (asserted): threads build their own. */
const sc_scan_opts *it_scan_opts(const struct it_scan *s);
#define IT_SCAN(...)	it_scan_opts(&(struct it_scan){ __VA_ARGS__ })

/* True once a connection to d's socket is taken (listen() was called). */
bool	it_listening(const struct hs_daemon *d);

/*
 * A client on a thread of its own reading one key over and over until
 * stopped, counting what fails: faults and reloads must cost readers
 * nothing.
 */
struct it_reader {
	pthread_t	 t;
	const char	*sock;
	const char	*repo;		/* NULL: the default, or a path store */
	const char	*store;
	const char	*key;
	atomic_bool	 stop;
	atomic_long	 reads;
	atomic_long	 errors;
	char		 last_err[320];	/* "NAME: message" of the last */
};

void	it_reader_start(struct it_reader *r, const char *sock,
	    const char *repo, const char *store, const char *key);
/* Stops and joins it; returns how many of its reads failed. */
long	it_reader_stop(struct it_reader *r);

/* Raw frames. */
int	it_raw_connect(const struct hs_daemon *d);
void	it_raw_send(int fd, const void *p, size_t n);
void	it_raw_req(int fd, const struct sp_req *rq);
/* Reads one reply frame into b and decodes it; 0, or -1 at EOF. */
int	it_raw_reply(int fd, struct sp_buf *b, struct sp_reply *rep);

#endif
