/*
 * Integration tests of the data API on a real storesd: conditional
 * writes, atomic batches (one frame and streamed), mget, missing, count
 * and ordered scans.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "itest.h"

/*
 * Small frames and pages, so batches stream in many chunks (the library
 * sends chunks of max_frame / 2) and scans cross many page boundaries.
 */
#define CONF								\
	"[daemon]\n"							\
	"max_frame = 256KiB\n"						\
	"scan_page = 3\n"						\
	"[store refs]\n"						\
	"map_size = 16MiB\n"						\
	"[store nodes]\n"						\
	"map_size = 1GiB\n"						\
	"max_dbs = 2\n"							\
	"dbs = nodes, names\n"						\
	"sync = none\n"

static struct hs_daemon	 D;
static int		 bad_stops;

static void
shared_up(void)
{
	it_up(&D, CONF);
}

static void
shared_down(void)
{
	it_down(&D, &bad_stops);
}

static sc_conn *
conn(void)
{
	return it_conn(&D);
}

static uint64_t
count(sc_conn *c, const char *repo, const char *store, const char *db)
{
	uint64_t	 n = 99;

	ck_assert_msg(sc_count(c, repo, store, db, &n) == 0, "%s",
	    sc_errmsg(c));
	return n;
}

/* ------------------------------------------------- conditional writes */

START_TEST(put_if_absent)
{
	sc_conn	*c = conn();

	ck_assert_int_eq(sc_put_if_absent(c, "cw1", "refs", NULL, "name", 4,
	    "first", 5), 0);
	EXPECT_ERR(c, sc_put_if_absent(c, "cw1", "refs", NULL, "name", 4,
	    "second", 6), SC_ERR_COND_FAILED);
	it_assert_val(c, "cw1", "refs", NULL, "name", 4, "first", 5);
	sc_close(c);
}
END_TEST

START_TEST(put_if_equals)
{
	sc_conn	*c = conn();

	ck_assert_int_eq(sc_put(c, "cw2", "refs", NULL, "main", 4, "aaa", 3),
	    0);
	ck_assert_int_eq(sc_put_if_equals(c, "cw2", "refs", NULL, "main", 4,
	    "aaa", 3, "bbb", 3), 0);
	it_assert_val(c, "cw2", "refs", NULL, "main", 4, "bbb", 3);
	EXPECT_ERR(c, sc_put_if_equals(c, "cw2", "refs", NULL, "main", 4,
	    "aaa", 3, "ccc", 3), SC_ERR_COND_FAILED);
	it_assert_val(c, "cw2", "refs", NULL, "main", 4, "bbb", 3);
	/* A prefix of the value is not the value. */
	EXPECT_ERR(c, sc_put_if_equals(c, "cw2", "refs", NULL, "main", 4,
	    "bb", 2, "ccc", 3), SC_ERR_COND_FAILED);
	EXPECT_ERR(c, sc_put_if_equals(c, "cw2", "refs", NULL, "other", 5,
	    "aaa", 3, "ccc", 3), SC_ERR_COND_FAILED);
	it_assert_absent(c, "cw2", "refs", NULL, "other", 5);
	/* No env yet: the condition fails, and no env is made for it. */
	EXPECT_ERR(c, sc_put_if_equals(c, "cw2/none", "refs", NULL, "k", 1,
	    "x", 1, "y", 1), SC_ERR_COND_FAILED);
	ck_assert(!it_exists(&D, "cw2/none"));
	sc_close(c);
}
END_TEST

START_TEST(del_if_equals)
{
	sc_conn	*c = conn();

	ck_assert_int_eq(sc_put(c, "cw3", "refs", NULL, "k", 1, "v1", 2), 0);
	EXPECT_ERR(c, sc_del_if_equals(c, "cw3", "refs", NULL, "k", 1, "v2",
	    2), SC_ERR_COND_FAILED);
	it_assert_val(c, "cw3", "refs", NULL, "k", 1, "v1", 2);
	/* Absent: the condition fails; that is not NOT_FOUND. */
	EXPECT_ERR(c, sc_del_if_equals(c, "cw3", "refs", NULL, "nope", 4,
	    "v", 1), SC_ERR_COND_FAILED);
	ck_assert_int_eq(sc_del_if_equals(c, "cw3", "refs", NULL, "k", 1,
	    "v1", 2), 0);
	it_assert_absent(c, "cw3", "refs", NULL, "k", 1);
	sc_close(c);
}
END_TEST

#define RACERS	8
#define ROUNDS	25

static pthread_barrier_t	 barrier;
static int			 winners[ROUNDS];

static void *
racer(void *arg)
{
	long	 id = (long)arg;
	sc_conn	*c = sc_connect(D.sock);
	char	 old[32], new[32];
	int	 r;
	long	 bad = 0;

	for (r = 0; r < ROUNDS; r++) {
		snprintf(old, sizeof(old), "round-%d", r);
		snprintf(new, sizeof(new), "round-%d", r + 1);
		pthread_barrier_wait(&barrier);
		if (sc_put_if_equals(c, "race", "refs", NULL, "HEAD", 4, old,
		    strlen(old), new, strlen(new)) == 0)
			__atomic_add_fetch(&winners[r], 1, __ATOMIC_RELAXED);
		else if (sc_errcode(c) != SC_ERR_COND_FAILED)
			bad = 1;
		/* Everyone finishes the round before the next starts. */
		pthread_barrier_wait(&barrier);
	}
	(void)id;
	sc_close(c);
	return (void *)bad;
}

START_TEST(concurrent_if_equals_one_winner)
{
	pthread_t	 t[RACERS];
	sc_conn		*c = conn();
	void		*bad;
	long		 i;
	int		 r;

	ck_assert_int_eq(sc_put(c, "race", "refs", NULL, "HEAD", 4, "round-0",
	    7), 0);
	pthread_barrier_init(&barrier, NULL, RACERS);
	for (i = 0; i < RACERS; i++)
		pthread_create(&t[i], NULL, racer, (void *)i);
	for (i = 0; i < RACERS; i++) {
		pthread_join(t[i], &bad);
		ck_assert_ptr_null(bad);
	}
	pthread_barrier_destroy(&barrier);
	for (r = 0; r < ROUNDS; r++)
		ck_assert_msg(winners[r] == 1, "round %d had %d winners", r,
		    winners[r]);
	it_assert_val(c, "race", "refs", NULL, "HEAD", 4, "round-25", 8);
	sc_close(c);
}
END_TEST

/* -------------------------------------------------------------- batches */

START_TEST(batch_every_op)
{
	sc_conn		*c = conn();
	sc_batch	*b;

	ck_assert_int_eq(sc_put(c, "b1", "nodes", NULL, "old", 3, "o", 1), 0);
	ck_assert_int_eq(sc_put(c, "b1", "nodes", "names", "n1", 2, "x", 1),
	    0);
	ck_assert_ptr_nonnull(b = sc_batch_begin(c, "b1", "nodes", NULL));
	ck_assert_int_eq(sc_batch_expect(b, NULL, "old", 3, "o", 1), 0);
	ck_assert_int_eq(sc_batch_expect_absent(b, NULL, "new", 3), 0);
	ck_assert_int_eq(sc_batch_put(b, NULL, "new", 3, "N", 1), 0);
	ck_assert_int_eq(sc_batch_put_if_absent(b, NULL, "p", 1, "P", 1), 0);
	ck_assert_int_eq(sc_batch_del(b, NULL, "old", 3), 0);
	ck_assert_int_eq(sc_batch_del(b, NULL, "never", 5), 0);
	ck_assert_int_eq(sc_batch_clear(b, "names"), 0);
	ck_assert_int_eq(sc_batch_put(b, "names", "n2", 2, "y", 1), 0);
	ck_assert_uint_eq(sc_batch_count(b), 8);
	ck_assert_msg(sc_batch_commit(b) == 0, "%s", sc_errmsg(c));
	it_assert_absent(c, "b1", "nodes", NULL, "old", 3);
	it_assert_val(c, "b1", "nodes", NULL, "new", 3, "N", 1);
	it_assert_val(c, "b1", "nodes", NULL, "p", 1, "P", 1);
	it_assert_absent(c, "b1", "nodes", "names", "n1", 2);
	it_assert_val(c, "b1", "nodes", "names", "n2", 2, "y", 1);
	ck_assert_uint_eq(count(c, "b1", "nodes", "names"), 1);
	sc_close(c);
}
END_TEST

/* Asserts a batch of puts a, b and then op failed at index 2. */
static void
failing_batch(sc_conn *c, const char *repo, int how, int code)
{
	sc_batch	*b = sc_batch_begin(c, repo, "nodes", NULL);

	ck_assert_int_eq(sc_batch_put(b, NULL, "a", 1, "1", 1), 0);
	ck_assert_int_eq(sc_batch_put(b, "names", "b", 1, "2", 1), 0);
	switch (how) {
	case 0: sc_batch_expect(b, NULL, "a", 1, "wrong", 5); break;
	case 1: sc_batch_put_if_absent(b, NULL, "a", 1, "again", 5); break;
	case 2: sc_batch_expect_absent(b, NULL, "a", 1); break;
	case 3: sc_batch_put(b, NULL, "", 0, "v", 1); break;
	case 4: sc_batch_put(b, "nosuchdb", "k", 1, "v", 1); break;
	case 5: sc_batch_expect(b, NULL, "zz", 2, "v", 1); break;
	}
	EXPECT_ERR(c, sc_batch_commit(b), code);
	ck_assert_uint_eq(sc_errindex(c), 2);
	ck_assert_ptr_nonnull(strstr(sc_errmsg(c), "op 2"));
	it_assert_absent(c, repo, "nodes", NULL, "a", 1);
	it_assert_absent(c, repo, "nodes", "names", "b", 1);
}

START_TEST(batch_failure_applies_nothing)
{
	sc_conn	*c = conn();

	failing_batch(c, "b2", 0, SC_ERR_COND_FAILED);
	failing_batch(c, "b2", 1, SC_ERR_COND_FAILED);
	failing_batch(c, "b2", 2, SC_ERR_COND_FAILED);
	failing_batch(c, "b2", 3, SC_ERR_BAD_KEY);
	failing_batch(c, "b2", 4, SC_ERR_UNKNOWN_DB);
	failing_batch(c, "b2", 5, SC_ERR_COND_FAILED);
	ck_assert_int_eq(sc_ping(c), 0);
	sc_close(c);
}
END_TEST

START_TEST(batch_without_env)
{
	sc_conn		*c = conn();
	sc_batch	*b;

	/* Nothing to create: no env is made, and an expect still fails. */
	b = sc_batch_begin(c, "b3/none", "nodes", NULL);
	sc_batch_del(b, NULL, "k", 1);
	sc_batch_expect_absent(b, NULL, "k", 1);
	sc_batch_clear(b, NULL);
	ck_assert_int_eq(sc_batch_commit(b), 0);
	ck_assert(!it_exists(&D, "b3"));
	b = sc_batch_begin(c, "b3/none", "nodes", NULL);
	sc_batch_del(b, NULL, "k", 1);
	sc_batch_expect(b, NULL, "k", 1, "v", 1);
	EXPECT_ERR(c, sc_batch_commit(b), SC_ERR_COND_FAILED);
	ck_assert_uint_eq(sc_errindex(c), 1);
	ck_assert(!it_exists(&D, "b3"));
	sc_close(c);
}
END_TEST

START_TEST(batch_clear_then_refill)
{
	sc_conn		*c = conn();
	sc_batch	*b;
	char		 k[16];
	int		 i;

	b = sc_batch_begin(c, "b4", "nodes", NULL);
	for (i = 0; i < 50; i++) {
		snprintf(k, sizeof(k), "old%02d", i);
		sc_batch_put(b, NULL, k, strlen(k), "o", 1);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	ck_assert_uint_eq(count(c, "b4", "nodes", NULL), 50);
	b = sc_batch_begin(c, "b4", "nodes", NULL);
	sc_batch_clear(b, NULL);
	for (i = 0; i < 7; i++) {
		snprintf(k, sizeof(k), "new%02d", i);
		sc_batch_put(b, NULL, k, strlen(k), "n", 1);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	ck_assert_uint_eq(count(c, "b4", "nodes", NULL), 7);
	it_assert_absent(c, "b4", "nodes", NULL, "old00", 5);
	sc_close(c);
}
END_TEST

START_TEST(streamed_batch)
{
	sc_conn		*c = conn(), *o = conn();
	sc_batch	*b;
	char		 k[32], v[200];
	int		 i;

	/* 2,000 ops of ~220 bytes: about 440 KiB, in 128 KiB chunks. */
	memset(v, 'v', sizeof(v));
	b = sc_batch_begin(c, "s1", "nodes", NULL);
	for (i = 0; i < 2000; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), v,
		    sizeof(v)), 0);
	}
	/* Nothing is visible before the commit; meanwhile the batch's own
	 * connection is busy with its chunks. */
	ck_assert_uint_eq(count(o, "s1", "nodes", NULL), 0);
	EXPECT_ERR(c, sc_ping(c), SC_ERR_INVALID);
	/* Pipelining too: its replies would queue behind the chunks'. */
	EXPECT_ERR(c, sc_append_get(c, "s1", "nodes", NULL, "k", 1),
	    SC_ERR_INVALID);
	EXPECT_ERR(c, sc_collect(c, NULL, NULL), SC_ERR_INVALID);
	ck_assert_uint_eq(sc_pending(c), 0);
	ck_assert_int_eq(sc_batch_commit(b), 0);
	/* Once it is committed, pipelining works again. */
	ck_assert_int_eq(sc_append_get(c, "s1", "nodes", NULL, "key00000",
	    8), 0);
	ck_assert_int_eq(sc_collect(c, NULL, NULL), 0);
	ck_assert_uint_eq(count(c, "s1", "nodes", NULL), 2000);

	/* A failed expect in the last op fails all chunks; its index is
	 * counted over the whole batch. */
	b = sc_batch_begin(c, "s1", "nodes", NULL);
	for (i = 0; i < 2000; i++) {
		snprintf(k, sizeof(k), "other%05d", i);
		sc_batch_put(b, NULL, k, strlen(k), v, sizeof(v));
	}
	sc_batch_expect(b, NULL, "key00000", 8, "no", 2);
	EXPECT_ERR(c, sc_batch_commit(b), SC_ERR_COND_FAILED);
	ck_assert_uint_eq(sc_errindex(c), 2000);
	ck_assert_uint_eq(count(c, "s1", "nodes", NULL), 2000);

	/* An abort after chunks were sent applies nothing either. */
	b = sc_batch_begin(c, "s1", "nodes", NULL);
	for (i = 0; i < 2000; i++) {
		snprintf(k, sizeof(k), "gone%05d", i);
		sc_batch_put(b, NULL, k, strlen(k), v, sizeof(v));
	}
	sc_batch_abort(b);
	ck_assert_uint_eq(count(c, "s1", "nodes", NULL), 2000);
	sc_close(o);
	sc_close(c);
}
END_TEST

START_TEST(streamed_batch_bad_chunk)
{
	sc_conn		*c = conn();
	sc_batch	*b;
	char		 k[32], v[200];
	int		 i, rc = 0;

	memset(v, 'v', sizeof(v));
	b = sc_batch_begin(c, "s2", "nodes", NULL);
	for (i = 0; i < 3000 && rc == 0; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		/* Op 10 has an empty key; storesd refuses its chunk. */
		rc = sc_batch_put(b, NULL, k, i == 10 ? 0 : strlen(k), v,
		    sizeof(v));
	}
	/* The refusal comes back with a later add or with the commit. */
	if (rc == -1)
		EXPECT_ERR(c, sc_batch_put(b, NULL, "x", 1, "y", 1),
		    SC_ERR_BAD_KEY);
	EXPECT_ERR(c, sc_batch_commit(b), SC_ERR_BAD_KEY);
	ck_assert_uint_eq(sc_errindex(c), 10);
	ck_assert_uint_eq(count(c, "s2", "nodes", NULL), 0);
	ck_assert_int_eq(sc_ping(c), 0);
	sc_close(c);
}
END_TEST

START_TEST(streamed_batch_refused_early)
{
	sc_conn		*c = conn();
	sc_batch	*b;
	char		 k[32], v[2000];
	int		 i, rc = 0;

	/* Enough chunks that the refusal of the first comes back while
	 * ops are still being added. */
	memset(v, 'v', sizeof(v));
	b = sc_batch_begin(c, "s3", "nodes", NULL);
	for (i = 0; i < 20000 && rc == 0; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		rc = sc_batch_put(b, i == 0 ? "nosuchdb" : NULL, k, strlen(k),
		    v, sizeof(v));
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(sc_errcode(c), SC_ERR_UNKNOWN_DB);
	ck_assert_uint_eq(sc_errindex(c), 0);
	sc_batch_abort(b);
	ck_assert_uint_eq(count(c, "s3", "nodes", NULL), 0);
	sc_close(c);
}
END_TEST

/* How a raw chunk of a streamed batch goes wrong, if it does. */
enum chunk_fault { CHUNK_OK, CHUNK_BAD_DB, CHUNK_BAD_STORE, CHUNK_BAD_REPO,
    CHUNK_TRAILING_BYTE };

/*
 * Sends a raw batch frame of bid in repo: n puts of keys PREFIX0.., with
 * more, spoilt as fault says; returns the reply's code.
 */
static int
chunk(int fd, const char *repo, uint64_t bid, bool more, const char *prefix,
    int n, enum chunk_fault fault)
{
	static uint64_t		 id;
	struct sp_buf		 ops = { 0 }, out = { 0 }, b = { 0 };
	struct sp_batch_op	 op;
	struct sp_req		 rq;
	struct sp_reply		 rep;
	char			 k[32];
	int			 i, code;

	for (i = 0; i < n; i++) {
		memset(&op, 0, sizeof(op));
		op.kind = SP_BATCH_PUT;
		snprintf(k, sizeof(k), "%s%d", prefix, i);
		op.key.p = k;
		op.key.n = strlen(k);
		op.val.p = "v";
		op.val.n = 1;
		ck_assert_int_eq(sp_batch_op_encode(&ops, &op), 0);
	}
	memset(&rq, 0, sizeof(rq));
	rq.id = ++id;
	rq.op = SP_OP_BATCH;
	rq.store.p = fault == CHUNK_BAD_STORE ? "nosuchstore" : "nodes";
	rq.store.n = strlen(rq.store.p);
	rq.repo.p = fault == CHUNK_BAD_REPO ? "a/../b" : repo;
	rq.repo.n = strlen(rq.repo.p);
	if (fault == CHUNK_BAD_DB) {
		rq.db.p = "nosuchdb";
		rq.db.n = 8;
	}
	rq.ops.raw.p = ops.len ? ops.data : "";
	rq.ops.raw.n = ops.len;
	rq.ops.n = (uint32_t)n;
	rq.bid = bid;
	rq.more = more;
	rq.has = SP_F_BID | SP_F_MORE;
	ck_assert_int_eq(sp_req_encode(&out, &rq), 0);
	if (fault == CHUNK_TRAILING_BYTE) {
		/* A byte after the map, inside the frame: BAD_REQUEST after
		 * every field was read. */
		ck_assert_int_eq(sp_buf_append(&out, "\xc0", 1), 0);
		out.data[3]++;
	}
	it_raw_send(fd, out.data, out.len);
	ck_assert_int_eq(it_raw_reply(fd, &b, &rep), 0);
	code = rep.code;
	sp_buf_free(&ops);
	sp_buf_free(&out);
	sp_buf_free(&b);
	return code;
}

/* Sends chunks of a streamed batch and vanishes before its last one. */
START_TEST(client_killed_mid_batch_applies_nothing)
{
	sc_conn		*c;
	char		 prefix[16];
	int		 fd, n;

	fd = it_raw_connect(&D);
	for (n = 0; n < 3; n++) {
		snprintf(prefix, sizeof(prefix), "k%d-", n);
		/* The ack proves storesd holds the chunk. */
		ck_assert_int_eq(chunk(fd, "killed", 42, true, prefix, 100,
		    CHUNK_OK), SP_OK);
	}
	close(fd);
	c = conn();
	ck_assert_uint_eq(count(c, "killed", "nodes", NULL), 0);
	ck_assert(!it_exists(&D, "killed"));
	sc_close(c);
}
END_TEST

/*
 * A frame of a streamed batch refused at request level (a db, store or
 * repo it names, a malformed frame) fails the whole batch, wherever it
 * is: first, middle or last.  Nothing of the batch is applied, and the
 * batch is forgotten at its last frame, so neither a later batch reusing
 * its bid nor the connection's batch slots inherit anything.
 */
START_TEST(streamed_batch_any_refused_frame_fails_it)
{
	static const enum chunk_fault faults[] = { CHUNK_BAD_DB,
	    CHUNK_BAD_STORE, CHUNK_BAD_REPO, CHUNK_TRAILING_BYTE };
	sc_conn		*c = conn();
	char		 repo[32];
	size_t		 f;
	int		 fd, i, where;

	fd = it_raw_connect(&D);
	for (f = 0; f < sizeof(faults) / sizeof(faults[0]); f++)
		for (where = 0; where < 3; where++) {
			snprintf(repo, sizeof(repo), "sb%zu-%d", f, where);
			/* Three frames; the one at where is refused. */
			ck_assert_int_eq(chunk(fd, repo, 7, true, "a", 10,
			    where == 0 ? faults[f] : CHUNK_OK) == SP_OK,
			    where != 0);
			ck_assert_int_eq(chunk(fd, repo, 7, true, "b", 10,
			    where == 1 ? faults[f] : CHUNK_OK) == SP_OK,
			    where == 2);
			ck_assert_int_ne(chunk(fd, repo, 7, false, "c", 10,
			    where == 2 ? faults[f] : CHUNK_OK), SP_OK);
			ck_assert_uint_eq(count(c, repo, "nodes", NULL), 0);
			/* The bid is free again, and holds nothing stale. */
			ck_assert_int_eq(chunk(fd, repo, 7, true, "d", 10,
			    CHUNK_OK), SP_OK);
			ck_assert_int_eq(chunk(fd, repo, 7, false, "e", 10,
			    CHUNK_OK), SP_OK);
			ck_assert_uint_eq(count(c, repo, "nodes", NULL), 20);
		}
	/* Batches whose last frame was refused leave no slot taken: more
	 * than the 64 a connection may have open. */
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(chunk(fd, "slots", 100 + (uint64_t)i, true,
		    "x", 1, CHUNK_OK), SP_OK);
		ck_assert_int_eq(chunk(fd, "slots", 100 + (uint64_t)i, false,
		    "y", 1, CHUNK_BAD_STORE), SP_UNKNOWN_STORE);
	}
	ck_assert_int_eq(chunk(fd, "slots", 1, true, "x", 1, CHUNK_OK), SP_OK);
	ck_assert_int_eq(chunk(fd, "slots", 1, false, "y", 1, CHUNK_OK), SP_OK);
	ck_assert_uint_eq(count(c, "slots", "nodes", NULL), 2);
	close(fd);
	sc_close(c);
}
END_TEST

START_TEST(batch_over_max_batch)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_batch		*b;
	static char		 v[60000];
	char			 k[16];
	int			 i, rc = 0;

	ck_assert_int_eq(hs_up(&d, "[daemon]\nmax_frame = 256KiB\n"
	    "max_batch = 1MiB\n[store nodes]\nmap_size = 64MiB\n"), 0);
	c = it_conn(&d);
	b = sc_batch_begin(c, "big", "nodes", NULL);
	for (i = 0; i < 40 && rc == 0; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		rc = sc_batch_put(b, NULL, k, strlen(k), v, sizeof(v));
	}
	if (rc == 0)
		rc = sc_batch_commit(b);
	else
		sc_batch_abort(b);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(sc_errcode(c), SC_ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(sc_errmsg(c), "max_batch"));
	ck_assert_uint_eq(count(c, "big", "nodes", NULL), 0);
	/* The same connection can stream a batch that fits. */
	b = sc_batch_begin(c, "big", "nodes", NULL);
	for (i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		sc_batch_put(b, NULL, k, strlen(k), v, sizeof(v));
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	ck_assert_uint_eq(count(c, "big", "nodes", NULL), 10);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	hs_cleanup(&d);
}
END_TEST

START_TEST(batch_of_64mib)
{
	sc_conn		*c = conn();
	sc_batch	*b;
	sc_scan		*s;
	char		 k[32], *v;
	const void	*kp;
	size_t		 kn, vsz = 640, i, n = 100000;
	void		*got;
	size_t		 gotn;

	/* 100,000 keys of ~650 bytes each: about 64 MiB in one commit. */
	v = malloc(vsz);
	b = sc_batch_begin(c, "bulk", "nodes", NULL);
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "node/%08zu", i);
		memset(v, (int)('a' + i % 26), vsz);
		ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k), v, vsz),
		    0);
	}
	ck_assert_msg(sc_batch_commit(b) == 0, "%s", sc_errmsg(c));
	ck_assert_uint_eq(count(c, "bulk", "nodes", NULL), n);
	for (i = 0; i < n; i += 9973) {
		snprintf(k, sizeof(k), "node/%08zu", i);
		ck_assert_int_eq(sc_get(c, "bulk", "nodes", NULL, k, strlen(k),
		    &got, &gotn), 0);
		ck_assert_uint_eq(gotn, vsz);
		ck_assert_int_eq(((char *)got)[0], 'a' + (int)(i % 26));
		sc_free(got);
	}
	/* Read back in order, a page at a time. */
	s = sc_scan_begin(c, "bulk", "nodes", NULL, IT_SCAN(
	    .keys_only = 1, .prefix = "node/", .prefix_len = 5 ));
	for (i = 0; sc_scan_next(s, &kp, &kn, NULL, NULL) == 1; i++) {
		snprintf(k, sizeof(k), "node/%08zu", i);
		if (kn != strlen(k) || memcmp(kp, k, kn) != 0)
			ck_abort_msg("entry %zu out of order", i);
		if (i > 3000)
			break;	/* 1,000 pages of 3 are enough to show it */
	}
	sc_scan_end(s);
	free(v);
	sc_close(c);
}
END_TEST

/* ------------------------------------------------------ multi-key reads */

START_TEST(mget_values)
{
	sc_conn		*c = conn();
	sc_bytes	 keys[4] = { { "a", 1 }, { "nope", 4 }, { "b\0c", 3 },
			    { "a", 1 } };
	sc_bytes	*vals, bad[2] = { { "ok", 2 }, { "", 0 } };

	ck_assert_int_eq(sc_put(c, "mg", "refs", NULL, "a", 1, "A", 1), 0);
	ck_assert_int_eq(sc_put(c, "mg", "refs", NULL, "b\0c", 3, "", 0), 0);
	ck_assert_int_eq(sc_mget(c, "mg", "refs", NULL, keys, 4, &vals), 0);
	ck_assert_uint_eq(vals[0].n, 1);
	ck_assert_int_eq(memcmp(vals[0].p, "A", 1), 0);
	ck_assert_ptr_null(vals[1].p);
	ck_assert_ptr_nonnull(vals[2].p);	/* present, empty */
	ck_assert_uint_eq(vals[2].n, 0);
	ck_assert_uint_eq(vals[3].n, 1);
	sc_free(vals);
	/* No env: all absent, nothing created. */
	ck_assert_int_eq(sc_mget(c, "mg/none", "refs", NULL, keys, 2, &vals),
	    0);
	ck_assert_ptr_null(vals[0].p);
	ck_assert_ptr_null(vals[1].p);
	sc_free(vals);
	ck_assert(!it_exists(&D, "mg/none"));
	EXPECT_ERR(c, sc_mget(c, "mg", "refs", NULL, bad, 2, &vals),
	    SC_ERR_BAD_KEY);
	ck_assert_uint_eq(sc_errindex(c), 1);
	ck_assert_int_eq(sc_mget(c, "mg", "refs", NULL, keys, 0, &vals), 0);
	sc_free(vals);
	sc_close(c);
}
END_TEST

START_TEST(missing_many)
{
	sc_conn		*c = conn();
	sc_batch	*b;
	sc_bytes	*keys;
	char		(*names)[33];
	size_t		*miss, nmiss, i, n = 10000;

	/* 10,000 hashes of 32 bytes, every third one stored: 320 KiB of
	 * keys, more than one request can carry here. */
	names = calloc(n, sizeof(*names));
	keys = calloc(n, sizeof(*keys));
	b = sc_batch_begin(c, "ms", "nodes", NULL);
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "%032zx", i * 2654435761u);
		keys[i].p = names[i];
		keys[i].n = 32;
		if (i % 3 == 0)
			sc_batch_put(b, NULL, names[i], 32, "", 0);
	}
	ck_assert_int_eq(sc_batch_commit(b), 0);
	ck_assert_int_eq(sc_missing(c, "ms", "nodes", NULL, keys, n, &miss,
	    &nmiss), 0);
	ck_assert_uint_eq(nmiss, n - (n + 2) / 3);
	for (i = 0; i < nmiss; i++) {
		ck_assert_uint_ne(miss[i] % 3, 0);
		if (i > 0)
			ck_assert_uint_gt(miss[i], miss[i - 1]);
	}
	sc_free(miss);
	ck_assert_int_eq(sc_missing(c, "ms/none", "nodes", NULL, keys, 5,
	    &miss, &nmiss), 0);
	ck_assert_uint_eq(nmiss, 5);
	sc_free(miss);
	ck_assert_int_eq(sc_missing(c, "ms", "nodes", NULL, keys, 0, &miss,
	    &nmiss), 0);
	ck_assert_uint_eq(nmiss, 0);
	/* A bad key in a later request is named by its index among all
	 * the keys, not within its request (a bug once). */
	keys[9000].n = 0;
	EXPECT_ERR(c, sc_missing(c, "ms", "nodes", NULL, keys, n, &miss,
	    &nmiss), SC_ERR_BAD_KEY);
	ck_assert_uint_eq(sc_errindex(c), 9000);
	free(keys);
	free(names);
	sc_close(c);
}
END_TEST

START_TEST(count_entries)
{
	sc_conn	*c = conn();

	ck_assert_uint_eq(count(c, "cnt", "nodes", NULL), 0);
	ck_assert_int_eq(sc_put(c, "cnt", "nodes", NULL, "a", 1, "", 0), 0);
	ck_assert_int_eq(sc_put(c, "cnt", "nodes", NULL, "b", 1, "", 0), 0);
	ck_assert_int_eq(sc_put(c, "cnt", "nodes", "names", "a", 1, "", 0), 0);
	ck_assert_uint_eq(count(c, "cnt", "nodes", NULL), 2);
	ck_assert_uint_eq(count(c, "cnt", "nodes", "names"), 1);
	EXPECT_ERR(c, sc_count(c, "cnt", "nodes", "nope", NULL),
	    SC_ERR_INVALID);
	sc_close(c);
}
END_TEST

/* ---------------------------------------------------------------- scans */

/* Scans with o and compares the keys, in order, with sk[idx[0..n)]. */
static void
scan_is(sc_conn *c, const char *repo, const struct it_scan *o,
    const int *idx, size_t n);

/* Keys stored with themselves as values, for the scan tests. */
static const sc_bytes sk[] = {
	{ "a", 1 }, { "ab", 2 }, { "abc", 3 }, { "abd", 3 }, { "b", 1 },
	{ "ba", 2 }, { "c", 1 }, { "\xfe\xff", 2 }, { "\xff", 1 },
	{ "\xff\x00", 2 }, { "\xff\xff", 2 }, { "\xff\xff\x01", 3 },
	{ "\xff\xff\xff", 3 },
};
#define NSK	(sizeof(sk) / sizeof(sk[0]))

static void
fill_scan(sc_conn *c)
{
	sc_batch	*b = sc_batch_begin(c, "sc", "nodes", NULL);
	size_t		 i;

	for (i = 0; i < NSK; i++)
		sc_batch_put(b, NULL, sk[i].p, sk[i].n, sk[i].p, sk[i].n);
	ck_assert_int_eq(sc_batch_commit(b), 0);
}

static void
scan_is(sc_conn *c, const char *repo, const struct it_scan *o,
    const int *idx, size_t n)
{
	sc_scan		*s = sc_scan_begin(c, repo, "nodes", NULL,
			    it_scan_opts(o));
	const void	*k, *v;
	size_t		 kn, vn, i = 0;
	int		 rc;

	ck_assert_ptr_nonnull(s);
	while ((rc = sc_scan_next(s, &k, &kn, &v, &vn)) == 1) {
		ck_assert_msg(i < n, "more than %zu entries", n);
		ck_assert_msg(kn == sk[idx[i]].n &&
		    memcmp(k, sk[idx[i]].p, kn) == 0, "entry %zu is not key "
		    "%d", i, idx[i]);
		if (o && o->keys_only)
			ck_assert_ptr_null(v);
		else
			ck_assert(vn == kn && memcmp(v, k, kn) == 0);
		i++;
	}
	ck_assert_msg(rc == 0, "scan: %s", sc_errmsg(c));
	ck_assert_uint_eq(i, n);
	sc_scan_end(s);
}

/* The indices into sk that a scan must return, in order. */
#define IDX(...)	(const int[]){ __VA_ARGS__ }, \
			sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int)
#define NONE		NULL, 0

START_TEST(scan_order_and_pages)
{
	sc_conn	*c = conn();

	fill_scan(c);
	/* Every page holds 3: 13 entries cross four page boundaries. */
	scan_is(c, "sc", NULL, IDX(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
	scan_is(c, "sc", &(struct it_scan){ .reverse = 1 },
	    IDX(12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
	scan_is(c, "sc", &(struct it_scan){ .keys_only = 1 },
	    IDX(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
	sc_close(c);
}
END_TEST

START_TEST(scan_limits)
{
	sc_conn			*c = conn();
	static const int	 all[] = { 0, 1, 2, 3, 4, 5, 6 };
	size_t			 lim;

	fill_scan(c);
	/* 0, 1, and both sides of each page boundary. */
	for (lim = 0; lim <= 7; lim++)
		scan_is(c, "sc", &(struct it_scan){ .has_limit = 1,
		    .limit = lim }, all, lim);
	scan_is(c, "sc", &(struct it_scan){ .has_limit = 1, .limit = 3,
	    .reverse = 1, .keys_only = 1 }, IDX(12, 11, 10));
	sc_close(c);
}
END_TEST

START_TEST(scan_prefixes)
{
	sc_conn	*c = conn();

	fill_scan(c);
	scan_is(c, "sc", &(struct it_scan){ .prefix = "ab",
	    .prefix_len = 2 }, IDX(1, 2, 3));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "ab",
	    .prefix_len = 2, .reverse = 1 }, IDX(3, 2, 1));
	/* Prefixes of 0xff bytes run to the end of the key space. */
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xff",
	    .prefix_len = 1 }, IDX(8, 9, 10, 11, 12));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xff\xff",
	    .prefix_len = 2 }, IDX(10, 11, 12));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xff\xff",
	    .prefix_len = 2, .reverse = 1 }, IDX(12, 11, 10));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xff\xff\xff",
	    .prefix_len = 3, .reverse = 1 }, IDX(12));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xfe",
	    .prefix_len = 1, .reverse = 1 }, IDX(7));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "b",
	    .prefix_len = 1, .reverse = 1, .has_limit = 1, .limit = 1 },
	    IDX(5));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "zz",
	    .prefix_len = 2 }, NONE);
	scan_is(c, "sc", &(struct it_scan){ .prefix = "zz",
	    .prefix_len = 2, .reverse = 1 }, NONE);
	/* An empty prefix is no prefix. */
	scan_is(c, "sc", &(struct it_scan){ .prefix = "",
	    .prefix_len = 0, .has_limit = 1, .limit = 3 }, IDX(0, 1, 2));
	/* A prefix and a range together. */
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xff",
	    .prefix_len = 1, .start = "\xff\x00", .start_len = 2,
	    .end = "\xff\xff\x01", .end_len = 3 }, IDX(9, 10));
	scan_is(c, "sc", &(struct it_scan){ .prefix = "\xff",
	    .prefix_len = 1, .start = "\xff\x00", .start_len = 2,
	    .end = "\xff\xff\x01", .end_len = 3, .reverse = 1 }, IDX(10, 9));
	sc_close(c);
}
END_TEST

START_TEST(scan_ranges)
{
	sc_conn	*c = conn();

	fill_scan(c);
	scan_is(c, "sc", &(struct it_scan){ .start = "abc",
	    .start_len = 3, .end = "ba", .end_len = 2 }, IDX(2, 3, 4));
	scan_is(c, "sc", &(struct it_scan){ .start = "abc",
	    .start_len = 3, .end = "ba", .end_len = 2, .reverse = 1 },
	    IDX(4, 3, 2));
	scan_is(c, "sc", &(struct it_scan){ .start = "b", .start_len = 1,
	    .end = "b", .end_len = 1 }, NONE);
	scan_is(c, "sc", &(struct it_scan){ .start = "\xff\xff",
	    .start_len = 2 }, IDX(10, 11, 12));
	scan_is(c, "sc", &(struct it_scan){ .end = "ab", .end_len = 2,
	    .reverse = 1 }, IDX(0));
	scan_is(c, "sc", &(struct it_scan){ .start = "aa", .start_len = 2,
	    .end = "ab", .end_len = 2 }, NONE);
	/* The empty key is below every key, both ways (a bug once). */
	scan_is(c, "sc", &(struct it_scan){ .start = "", .start_len = 0,
	    .has_limit = 1, .limit = 2 }, IDX(0, 1));
	scan_is(c, "sc", &(struct it_scan){ .start = "", .start_len = 0,
	    .reverse = 1, .has_limit = 1, .limit = 2 }, IDX(12, 11));
	scan_is(c, "sc", &(struct it_scan){ .end = "", .end_len = 0 },
	    NONE);
	scan_is(c, "sc", &(struct it_scan){ .end = "", .end_len = 0,
	    .reverse = 1 }, NONE);
	/* A scan of a repo with no env is empty; no env is made. */
	scan_is(c, "sc/none", NULL, NONE);
	ck_assert(!it_exists(&D, "sc/none"));
	sc_close(c);
}
END_TEST

START_TEST(scan_pages_see_later_writes)
{
	sc_conn		*c = conn(), *w = conn();
	sc_scan		*s;
	const void	*k;
	size_t		 kn, i;
	char		 key[8];

	for (i = 0; i < 9; i += 2) {
		snprintf(key, sizeof(key), "%zu", i);
		ck_assert_int_eq(sc_put(w, "later", "nodes", NULL, key, 1, "",
		    0), 0);
	}
	s = sc_scan_begin(c, "later", "nodes", NULL, NULL);
	ck_assert_int_eq(sc_scan_next(s, &k, &kn, NULL, NULL), 1);
	ck_assert_int_eq(memcmp(k, "0", 1), 0);
	/* Between pages, no transaction is open: a key written after the
	 * first page, past its cursor, shows up; none shows twice. */
	ck_assert_int_eq(sc_put(w, "later", "nodes", NULL, "7", 1, "", 0), 0);
	ck_assert_int_eq(sc_put(w, "later", "nodes", NULL, "1", 1, "", 0), 0);
	for (i = 1; sc_scan_next(s, &k, &kn, NULL, NULL) == 1; i++)
		;
	/* 0 2 4 | 6 7 8: the first page held 0 2 4; 1 came too late. */
	ck_assert_uint_eq(i, 6);
	sc_scan_end(s);
	sc_close(w);
	sc_close(c);
}
END_TEST

START_TEST(scan_bad_bounds)
{
	sc_conn			*c = conn();
	static char		 big[SP_KEY_MAX + 1];
	sc_scan			*s;

	memset(big, 'x', sizeof(big));
	s = sc_scan_begin(c, "sc", "nodes", NULL, IT_SCAN(
	    .start = big, .start_len = sizeof(big) ));
	EXPECT_ERR(c, sc_scan_next(s, NULL, NULL, NULL, NULL), SC_ERR_BAD_KEY);
	sc_scan_end(s);
	s = sc_scan_begin(c, "sc", "nosuch", NULL, NULL);
	EXPECT_ERR(c, sc_scan_next(s, NULL, NULL, NULL, NULL),
	    SC_ERR_UNKNOWN_STORE);
	sc_scan_end(s);
	ck_assert_ptr_null(sc_scan_begin(c, "sc", NULL, NULL, NULL));
	ck_assert_int_eq(sc_errcode(c), SC_ERR_INVALID);
	/* limit 0 still asks, so a bad request is reported (a bug once). */
	s = sc_scan_begin(c, "sc", "nosuch", NULL, IT_SCAN(
	    .has_limit = 1, .limit = 0 ));
	EXPECT_ERR(c, sc_scan_next(s, NULL, NULL, NULL, NULL),
	    SC_ERR_UNKNOWN_STORE);
	sc_scan_end(s);
	sc_close(c);
}
END_TEST

/* ----------------------------------------------------------- pipelining */

START_TEST(pipelined_in_order)
{
	sc_conn		*c = conn();
	const void	*v;
	size_t		 vn, i, n = 2000;
	char		 k[16], want[16];
	void		*g;

	/* Puts (answered by the writer) then gets (answered at once): the
	 * replies come back out of order and are collected in order. */
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "p%zu", i);
		if (i % 2 == 0)
			ck_assert_int_eq(sc_append_put(c, "pipe", "nodes", NULL,
			    k, strlen(k), k, strlen(k)), 0);
		else
			ck_assert_int_eq(sc_append_get(c, "pipe", "nodes", NULL,
			    "p0", 2), 0);
	}
	ck_assert_uint_eq(sc_pending(c), n);
	/* Another call now would interleave with the replies: refused. */
	EXPECT_ERR(c, sc_ping(c), SC_ERR_INVALID);
	for (i = 0; i < n; i++) {
		int rc = sc_collect(c, &v, &vn);

		if (i % 2 == 0) {
			ck_assert_msg(rc == 0, "put %zu: %s", i, sc_errmsg(c));
			ck_assert_ptr_null(v);
		} else if (rc == 0) {
			ck_assert(vn == 2 && memcmp(v, "p0", 2) == 0);
		} else	/* the get may run before the first put commits */
			ck_assert_int_eq(sc_errcode(c), SC_ERR_NOT_FOUND);
	}
	ck_assert_uint_eq(sc_pending(c), 0);
	EXPECT_ERR(c, sc_collect(c, &v, &vn), SC_ERR_INVALID);
	for (i = 0; i < n; i += 2) {
		snprintf(want, sizeof(want), "p%zu", i);
		ck_assert_int_eq(sc_get(c, "pipe", "nodes", NULL, want,
		    strlen(want), &g, &vn), 0);
		sc_free(g);
	}
	sc_close(c);
}
END_TEST

START_TEST(pipelined_errors_are_per_request)
{
	sc_conn		*c = conn();
	const void	*v;
	size_t		 vn;

	ck_assert_int_eq(sc_put(c, "pipe2", "nodes", NULL, "a", 1, "A", 1), 0);
	ck_assert_int_eq(sc_append_get(c, "pipe2", "nodes", NULL, "a", 1), 0);
	ck_assert_int_eq(sc_append_get(c, "pipe2", "nodes", NULL, "zz", 2), 0);
	ck_assert_int_eq(sc_append_get(c, "pipe2", "nosuch", NULL, "a", 1), 0);
	ck_assert_int_eq(sc_append_del(c, "pipe2", "nodes", NULL, "a", 1), 0);
	ck_assert_int_eq(sc_append_get(c, "pipe2", "nodes", NULL, "", 0), 0);
	ck_assert_int_eq(sc_collect(c, &v, &vn), 0);
	ck_assert(vn == 1 && memcmp(v, "A", 1) == 0);
	EXPECT_ERR(c, sc_collect(c, &v, &vn), SC_ERR_NOT_FOUND);
	EXPECT_ERR(c, sc_collect(c, &v, &vn), SC_ERR_UNKNOWN_STORE);
	ck_assert_int_eq(sc_collect(c, &v, &vn), 0);
	EXPECT_ERR(c, sc_collect(c, &v, &vn), SC_ERR_BAD_KEY);
	ck_assert_int_eq(sc_ping(c), 0);
	sc_close(c);
}
END_TEST

static Suite *
data_suite(void)
{
	Suite	*s = suite_create("data");
	TCase	*tc;

	tc = tcase_create("data");
	tcase_add_unchecked_fixture(tc, shared_up, shared_down);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, put_if_absent);
	tcase_add_test(tc, put_if_equals);
	tcase_add_test(tc, del_if_equals);
	tcase_add_test(tc, concurrent_if_equals_one_winner);
	tcase_add_test(tc, batch_every_op);
	tcase_add_test(tc, batch_failure_applies_nothing);
	tcase_add_test(tc, batch_without_env);
	tcase_add_test(tc, batch_clear_then_refill);
	tcase_add_test(tc, streamed_batch);
	tcase_add_test(tc, streamed_batch_bad_chunk);
	tcase_add_test(tc, streamed_batch_refused_early);
	tcase_add_test(tc, client_killed_mid_batch_applies_nothing);
	tcase_add_test(tc, streamed_batch_any_refused_frame_fails_it);
	tcase_add_test(tc, batch_over_max_batch);
	tcase_add_test(tc, batch_of_64mib);
	tcase_add_test(tc, mget_values);
	tcase_add_test(tc, missing_many);
	tcase_add_test(tc, count_entries);
	tcase_add_test(tc, scan_order_and_pages);
	tcase_add_test(tc, scan_limits);
	tcase_add_test(tc, scan_prefixes);
	tcase_add_test(tc, scan_ranges);
	tcase_add_test(tc, scan_pages_see_later_writes);
	tcase_add_test(tc, scan_bad_bounds);
	tcase_add_test(tc, pipelined_in_order);
	tcase_add_test(tc, pipelined_errors_are_per_request);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = check_run(data_suite());

	return failed || bad_stops ? 1 : 0;
}
