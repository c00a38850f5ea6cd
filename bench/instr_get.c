/*
 * instr-get: the client of `make bench-instr` (bench/instr.sh).
 *
 *	instr-get storesd|redis SOCKET NKEYS WARM N DEPTH [put]
 *
 * Over one connection: puts NKEYS keys "key000000".. with 100-byte
 * values, does WARM gets, then N gets of the same keys in turn, DEPTH at
 * a time (1: one round trip each; more: pipelined, sc_append_get and
 * sc_collect, or redisAppendCommand and redisGetReply), checking each
 * value.  With "put", the WARM and the N requests are puts of those
 * keys (100-byte values) instead of gets, DEPTH at a time the same way.
 * The N requests are done by measured_gets() alone, so that
 * callgrind's --toggle-collect=measured_gets counts the client's
 * instructions for them and nothing else.  The keys are made before, so
 * the count is the library's, not snprintf's.  Nothing here is timed:
 * the script counts instructions and system calls, which a loaded
 * machine does not move.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <storeclient.h>

#define VALLEN	100

static int	 do_puts;	/* "put": the requests are puts */
static char	 putval[VALLEN];

struct keys {
	char	 (*k)[16];
	int	 *n;
	unsigned long nkeys;
};

struct side {
	sc_conn		*sc;
	redisContext	*rd;
};

static void
die(const struct side *s, const char *what)
{
	if (s->sc != NULL)
		fprintf(stderr, "instr-get: %s: %s: %s\n", what,
		    sc_errname(sc_errcode(s->sc)), sc_errmsg(s->sc));
	else if (s->rd != NULL)
		fprintf(stderr, "instr-get: %s: %s\n", what, s->rd->errstr);
	else
		fprintf(stderr, "instr-get: %s\n", what);
	exit(1);
}

static void
check(const struct side *s, size_t n)
{
	if (n != VALLEN)
		die(s, "a value of the wrong length");
}

static void
put_all(const struct side *s, const struct keys *ks)
{
	char		 val[VALLEN];
	redisReply	*r;
	unsigned long	 i;

	memset(val, 'v', sizeof(val));
	for (i = 0; i < ks->nkeys; i++) {
		if (s->sc != NULL) {
			if (sc_put(s->sc, NULL, "bench", NULL, ks->k[i],
			    ks->n[i], val, sizeof(val)) == -1)
				die(s, "put");
			continue;
		}
		if ((r = redisCommand(s->rd, "SET %b %b", ks->k[i],
		    (size_t)ks->n[i], val, sizeof(val))) == NULL)
			die(s, "SET");
		freeReplyObject(r);
	}
}

static void
get_one(const struct side *s, const char *k, int kn)
{
	redisReply	*r;
	void		*v;
	size_t		 vn;

	if (do_puts && s->sc != NULL) {
		if (sc_put(s->sc, NULL, "bench", NULL, k, kn, putval,
		    VALLEN) == -1)
			die(s, "put");
		return;
	}
	if (do_puts) {
		if ((r = redisCommand(s->rd, "SET %b %b", k, (size_t)kn,
		    putval, (size_t)VALLEN)) == NULL)
			die(s, "SET");
		freeReplyObject(r);
		return;
	}
	if (s->sc != NULL) {
		if (sc_get(s->sc, NULL, "bench", NULL, k, kn, &v, &vn) == -1)
			die(s, "get");
		check(s, vn);
		sc_free(v);
		return;
	}
	if ((r = redisCommand(s->rd, "GET %b", k, (size_t)kn)) == NULL)
		die(s, "GET");
	check(s, r->type == REDIS_REPLY_STRING ? r->len : 0);
	freeReplyObject(r);
}

/* depth gets from key i on, pipelined. */
static void
get_depth(const struct side *s, const struct keys *ks, unsigned long i,
    int depth)
{
	const void	*cv;
	void		*rv;
	size_t		 vn;
	unsigned long	 k;
	int		 j;

	for (j = 0; j < depth; j++) {
		k = (i + j) % ks->nkeys;
		if (s->sc != NULL && do_puts) {
			if (sc_append_put(s->sc, NULL, "bench", NULL, ks->k[k],
			    ks->n[k], putval, VALLEN) == -1)
				die(s, "append_put");
		} else if (s->sc != NULL) {
			if (sc_append_get(s->sc, NULL, "bench", NULL, ks->k[k],
			    ks->n[k]) == -1)
				die(s, "append_get");
		} else if (do_puts) {
			if (redisAppendCommand(s->rd, "SET %b %b", ks->k[k],
			    (size_t)ks->n[k], putval, (size_t)VALLEN) !=
			    REDIS_OK)
				die(s, "append SET");
		} else if (redisAppendCommand(s->rd, "GET %b", ks->k[k],
		    (size_t)ks->n[k]) != REDIS_OK)
			die(s, "append GET");
	}
	for (j = 0; j < depth; j++) {
		if (s->sc != NULL) {
			if (sc_collect(s->sc, &cv, &vn) == -1)
				die(s, "collect");
			if (!do_puts)
				check(s, vn);
			continue;
		}
		if (redisGetReply(s->rd, &rv) != REDIS_OK)
			die(s, "GET reply");
		if (!do_puts)
			check(s, ((redisReply *)rv)->type ==
			    REDIS_REPLY_STRING ? ((redisReply *)rv)->len : 0);
		freeReplyObject(rv);
	}
}

static void
gets(const struct side *s, const struct keys *ks, unsigned long n,
    int depth)
{
	unsigned long	 i;

	for (i = 0; i < n; i += (unsigned long)depth) {
		if (depth == 1)
			get_one(s, ks->k[i % ks->nkeys], ks->n[i % ks->nkeys]);
		else
			get_depth(s, ks, i, depth);
	}
}

/* The gets callgrind counts (--toggle-collect=measured_gets). */
__attribute__((noinline)) void measured_gets(const struct side *,
    const struct keys *, unsigned long, int);

__attribute__((noinline)) void
measured_gets(const struct side *s, const struct keys *ks, unsigned long n,
    int depth)
{
	gets(s, ks, n, depth);
}

int
main(int argc, char **argv)
{
	struct side	 s = { NULL, NULL };
	struct keys	 ks;
	unsigned long	 i, warm, n;
	int		 depth;

	if ((argc != 7 && (argc != 8 || strcmp(argv[7], "put") != 0)) ||
	    (strcmp(argv[1], "storesd") != 0 &&
	    strcmp(argv[1], "redis") != 0)) {
		fprintf(stderr, "usage: instr-get storesd|redis SOCKET NKEYS "
		    "WARM N DEPTH [put]\n");
		return 2;
	}
	do_puts = argc == 8;
	memset(putval, 'w', sizeof(putval));
	ks.nkeys = strtoul(argv[3], NULL, 10);
	warm = strtoul(argv[4], NULL, 10);
	n = strtoul(argv[5], NULL, 10);
	depth = atoi(argv[6]);
	if (ks.nkeys == 0 || ks.nkeys > 1000000 || depth < 1 ||
	    warm % (unsigned long)depth || n % (unsigned long)depth)
		die(&s, "bad arguments (WARM and N are multiples of DEPTH)");
	if ((ks.k = calloc(ks.nkeys, sizeof(*ks.k))) == NULL ||
	    (ks.n = calloc(ks.nkeys, sizeof(*ks.n))) == NULL)
		die(&s, "out of memory");
	for (i = 0; i < ks.nkeys; i++)
		ks.n[i] = snprintf(ks.k[i], sizeof(ks.k[i]), "key%06lu", i);
	if (argv[1][0] == 's') {
		if ((s.sc = sc_connect(argv[2])) == NULL ||
		    sc_errcode(s.sc) != SC_OK)
			die(&s, "connect");
	} else if ((s.rd = redisConnectUnix(argv[2])) == NULL || s.rd->err)
		die(&s, "connect");
	put_all(&s, &ks);
	gets(&s, &ks, warm, depth);
	measured_gets(&s, &ks, n, depth);
	if (s.sc != NULL)
		sc_close(s.sc);
	else
		redisFree(s.rd);
	free(ks.k);
	free(ks.n);
	return 0;
}
