/*
 * ctl_batch.c: storectl batch, and the input language it reads: one op a
 * line, "[@DB ]OP[ KEY[ VALUE]]", parsed in place and handed to the
 * library's streamed sc_batch as soon as it is read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ctl.h"
#include "ctl_fmt.h"

/* The ops of a batch line: name, then what follows it. */
enum bop_id {
	BOP_PUT,
	BOP_DEL,
	BOP_PUT_IF_ABSENT,
	BOP_EXPECT,
	BOP_EXPECT_ABSENT,
	BOP_CLEAR,
	NBOPS
};

enum bop_args { BARGS_NONE, BARGS_KEY, BARGS_KEY_VALUE };

static const struct bop {
	const char	*name;
	enum bop_args	 args;
} bops[NBOPS] = {
	[BOP_PUT] =		{ "put",		BARGS_KEY_VALUE },
	[BOP_DEL] =		{ "del",		BARGS_KEY },
	[BOP_PUT_IF_ABSENT] =	{ "put-if-absent",	BARGS_KEY_VALUE },
	[BOP_EXPECT] =		{ "expect",		BARGS_KEY_VALUE },
	[BOP_EXPECT_ABSENT] =	{ "expect-absent",	BARGS_KEY },
	[BOP_CLEAR] =		{ "clear",		BARGS_NONE },
};

/* One line of batch input, and the op it holds once parsed. */
struct bline {
	char		*p;		/* the line without its newline */
	size_t		 n;
	size_t		 no;		/* its number, from 1 */
	enum bop_id	 op;
	const char	*db;		/* @DB, or NULL */
	char		*key;		/* decoded in place with -x */
	size_t		 klen;
	char		*val;
	size_t		 vlen;
};

/* A line that does not parse: the batch fails (exit 3), naming it. */
static int __attribute__((format(printf, 3, 4)))
line_error(struct ctl *ctl, const struct bline *l, const char *fmt, ...)
{
	char	 why[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* The usual cause of a strange last field. */
	return ctl_fail(ctl, CTL_EXIT_BATCH,
	    "line %zu: %s%s; nothing was applied",
	    l->no, why, l->n > 0 && l->p[l->n - 1] == '\r' ? " (the line ends "
	    "with a carriage return: lines must end with \\n alone)" : "");
}

/* Decodes a field in place with -x; *n becomes its length in bytes. */
static int
unhex_field(struct ctl *ctl, const struct bline *l, const char *what,
    char *p, size_t *n)
{
	char	 why[128];
	size_t	 bad;

	if (!HAS(ctl, OPT_HEX))
		return 0;
	if (ctl_fmt_unhex(p, *n, (unsigned char *)p, &bad) == -1)
		return line_error(ctl, l, "%s is not valid hex: %s", what,
		    ctl_hex_problem(why, sizeof(why), *n, bad));
	*n /= 2;
	return 0;
}

/* Parses "[@DB ]OP[ KEY[ VALUE]]" in l->p, writing into the line. */
static int
parse_bline(struct ctl *ctl, struct bline *l)
{
	char		 shown[48];
	char		*p = l->p, *end = l->p + l->n, *sp, *name;
	size_t		 len;
	int		 id;

	if (l->n == 0)
		return line_error(ctl, l, "the line is empty; every line is "
		    "one op");
	if (*p == '@') {
		if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
			return line_error(ctl, l, "@DB must be followed by a "
			    "space and an op");
		len = (size_t)(sp - p - 1);
		if (len == 0 || memchr(p + 1, '\0', len) != NULL)
			return line_error(ctl, l, "the db name after @ is "
			    "empty or holds a NUL byte");
		*sp = '\0';
		l->db = p + 1;
		p = sp + 1;
	}
	name = p;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
		sp = end;
	len = (size_t)(sp - name);
	for (id = 0; id < NBOPS; id++)
		if (strlen(bops[id].name) == len &&
		    memcmp(bops[id].name, name, len) == 0)
			break;
	if (id == NBOPS) {
		if (ctl_fmt_cescape(shown, sizeof(shown) - 3, name, len) < len)
			strcat(shown, "...");
		return line_error(ctl, l, "unknown op '%s'; the ops are put, "
		    "del, put-if-absent, expect, expect-absent and clear",
		    shown);
	}
	l->op = (enum bop_id)id;
	if (bops[id].args == BARGS_NONE) {
		if (sp != end)
			return line_error(ctl, l, "%s takes nothing after it",
			    bops[id].name);
		return 0;
	}
	if (sp == end)
		return line_error(ctl, l, "%s needs KEY%s", bops[id].name,
		    bops[id].args == BARGS_KEY_VALUE ? " VALUE" : "");
	l->key = p = sp + 1;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
		sp = end;
	l->klen = (size_t)(sp - p);
	if (l->klen == 0)
		return line_error(ctl, l, "KEY is empty (fields are separated "
		    "by single spaces)");
	if (bops[id].args == BARGS_KEY && sp != end)
		return line_error(ctl, l, "%s takes KEY alone; a key with a "
		    "space in it is given in hex, with -x", bops[id].name);
	if (bops[id].args == BARGS_KEY_VALUE && sp == end)
		return line_error(ctl, l, "%s needs KEY VALUE (for an empty "
		    "VALUE, end the line with a space after KEY)",
		    bops[id].name);
	if (unhex_field(ctl, l, "KEY", l->key, &l->klen) == -1)
		return -1;
	if (bops[id].args == BARGS_KEY)
		return 0;
	l->val = sp + 1;
	l->vlen = (size_t)(end - l->val);
	return unhex_field(ctl, l, "VALUE", l->val, &l->vlen);
}

static int
add_bline(sc_batch *b, const struct bline *l)
{
	switch (l->op) {
	case BOP_PUT:
		return sc_batch_put(b, l->db, l->key, l->klen, l->val, l->vlen);
	case BOP_DEL:
		return sc_batch_del(b, l->db, l->key, l->klen);
	case BOP_PUT_IF_ABSENT:
		return sc_batch_put_if_absent(b, l->db, l->key, l->klen, l->val,
		    l->vlen);
	case BOP_EXPECT:
		return sc_batch_expect(b, l->db, l->key, l->klen, l->val,
		    l->vlen);
	case BOP_EXPECT_ABSENT:
		return sc_batch_expect_absent(b, l->db, l->key, l->klen);
	case BOP_CLEAR:
	default:
		return sc_batch_clear(b, l->db);
	}
}

/*
 * Every line is one op, added as soon as it is read: the library sends
 * the ops in chunks as they pile up, so the input is never held whole,
 * and op i (sc_errindex()) is line i + 1.  Any failure before the commit
 * aborts the batch, so nothing is applied.
 */
int
ctl_batch_run(struct ctl *ctl)
{
	struct bline	 l;
	sc_batch	*b = NULL;
	char		*line = NULL;
	size_t		 cap = 0, no = 0;
	ssize_t		 len;
	int		 rc, ret = -1;

	if (ctl_connect(ctl) == -1)
		goto done;
	if ((b = sc_batch_begin(ctl->conn, REPO(ctl), ctl->av[0],
	    DB(ctl))) == NULL) {
		ctl_fail_sc(ctl);
		goto done;
	}
	ctl_tty_hint("ops, one a line,", NULL);
	while ((len = getline(&line, &cap, stdin)) != -1) {
		memset(&l, 0, sizeof(l));
		l.p = line;
		l.n = (size_t)len;
		l.no = ++no;
		if (l.n > 0 && l.p[l.n - 1] == '\n')
			l.n--;
		if (parse_bline(ctl, &l) == -1)
			goto done;
		if (add_bline(b, &l) == -1) {
			/* A chunk storesd refused: the op may be an earlier
			 * line's. */
			ctl_fail_sc_index(ctl, "line");
			goto done;
		}
	}
	if (!feof(stdin)) {
		ctl_fail(ctl, CTL_EXIT_BATCH,
		    "cannot read line %zu of stdin: %s; "
		    "nothing was applied", no + 1, strerror(errno));
		goto done;
	}
	rc = sc_batch_commit(b);
	b = NULL;
	if (rc == -1) {
		ctl_fail_sc_index(ctl, "line");
		goto done;
	}
	ret = 0;
done:
	sc_batch_abort(b);
	free(line);
	return ret;
}
