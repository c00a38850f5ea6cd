/*
 * ctl_input.c: what storectl reads, as bytes: operands and option values
 * as given or decoded from hex with -x, keys from the operands or from
 * stdin one a line, and all of stdin as one value.  Every failure is a
 * usage error (exit 2) that says what to write instead.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_fmt.h"

#define STDIN_CHUNK	(64 * 1024)	/* first read buffer for a value */

const char *
ctl_hex_problem(char *buf, size_t size, size_t n, size_t bad)
{
	if (bad == n)
		snprintf(buf, size, "it has an odd number of digits (%zu); "
		    "write two digits per byte, e.g. 0a", n);
	else
		snprintf(buf, size, "character %zu is not a hex digit; write "
		    "two digits 0-9a-f per byte, e.g. 0a", bad + 1);
	return buf;
}

int
ctl_blob_get(struct ctl *ctl, const char *what, const char *s, size_t n,
    struct ctl_blob *b)
{
	char	 why[128];
	size_t	 bad;

	memset(b, 0, sizeof(*b));
	if (!HAS(ctl, OPT_HEX)) {
		b->p = s;
		b->n = n;
		return 0;
	}
	if ((b->own = malloc(n / 2 + 1)) == NULL)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory for %s",
		    what);
	if (ctl_fmt_unhex(s, n, b->own, &bad) == -1)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "%s is not valid hex: %s",
		    what,
		    ctl_hex_problem(why, sizeof(why), n, bad));
	b->p = b->own;
	b->n = n / 2;
	return 0;
}

void
ctl_blob_free(struct ctl_blob *b)
{
	free(b->own);
	memset(b, 0, sizeof(*b));
}

/* Someone at a terminal should know that storectl waits for stdin. */
void
ctl_tty_hint(const char *what, const char *instead)
{
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "storectl: reading %s from stdin up to EOF "
		    "(Ctrl-D)%s%s\n", what, instead ? "; or " : "",
		    instead ? instead : "");
}

/*
 * Reads all of stdin into *out (of *len bytes, and a NUL not counted;
 * freed by the caller).  what names the data for messages.
 */
int
ctl_read_stdin(struct ctl *ctl, const char *what, unsigned char **out,
    size_t *len)
{
	unsigned char	*buf = NULL, *nb;
	size_t		 n = 0, cap = 0;
	ssize_t		 r;
	int		 ret = -1;

	for (;;) {
		/* Always room for one more byte: the NUL. */
		if (n + 1 >= cap) {
			if (cap > SIZE_MAX / 4) {
				ctl_fail(ctl, CTL_EXIT_USAGE,
				    "stdin is too large");
				goto done;
			}
			cap = cap ? cap * 2 : STDIN_CHUNK;
			if ((nb = realloc(buf, cap)) == NULL) {
				ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory "
				    "for %s of over %zu bytes", what, n);
				goto done;
			}
			buf = nb;
		}
		r = read(STDIN_FILENO, buf + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			ctl_fail(ctl, CTL_EXIT_USAGE,
			    "cannot read %s from stdin: "
			    "%s", what, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	ret = 0;
done:
	free(buf);
	return ret;
}

int
ctl_blob_opt(struct ctl *ctl, int id, const char *what, struct ctl_blob *b)
{
	memset(b, 0, sizeof(*b));
	if (!HAS(ctl, id))
		return 0;
	return ctl_blob_get(ctl, what, ctl->val[id], strlen(ctl->val[id]), b);
}


/* Decodes the n hex digits at s in place, as the i-th (from 1) key. */
static int
unhex_key(struct ctl *ctl, const struct ctl_keys *ks, size_t i, char *s,
    size_t n)
{
	char	 why[128];
	size_t	 bad;

	if (ctl_fmt_unhex(s, n, (unsigned char *)s, &bad) == -1)
		return ctl_fail(ctl, CTL_EXIT_USAGE,
		    "%s %zu%s is not valid hex: "
		    "%s", ks->what, i, ks->from_stdin ? ": KEY" : "",
		    ctl_hex_problem(why, sizeof(why), n, bad));
	return 0;
}

/* The keys given as operands, decoded from hex with -x. */
int
ctl_keys_from_args(struct ctl *ctl, char **av, int ac, struct ctl_keys *ks)
{
	size_t	 i, len, total = 0;
	char	*p;

	memset(ks, 0, sizeof(*ks));
	ks->what = "KEY";
	ks->n = (size_t)ac;
	if ((ks->v = calloc(ks->n ? ks->n : 1, sizeof(*ks->v))) == NULL)
		return ctl_fail(ctl, CTL_EXIT_USAGE,
		    "out of memory for %zu keys",
		    ks->n);
	if (!HAS(ctl, OPT_HEX)) {
		for (i = 0; i < ks->n; i++) {
			ks->v[i].p = av[i];
			ks->v[i].n = strlen(av[i]);
		}
		return 0;
	}
	/* One copy of all the operands, each decoded in place. */
	for (i = 0; i < ks->n; i++)
		total += strlen(av[i]) + 1;
	if ((ks->buf = malloc(total + 1)) == NULL)
		return ctl_fail(ctl, CTL_EXIT_USAGE,
		    "out of memory for %zu keys",
		    ks->n);
	p = (char *)ks->buf;
	for (i = 0; i < ks->n; i++) {
		len = strlen(av[i]);
		memcpy(p, av[i], len + 1);
		if (unhex_key(ctl, ks, i + 1, p, len) == -1)
			return -1;
		ks->v[i].p = p;
		ks->v[i].n = len / 2;
		p += len + 1;
	}
	return 0;
}

/*
 * The keys on stdin, one a line, decoded from hex with -x.  Every byte
 * but the newline is part of a key; a last line without one counts.
 */
int
ctl_keys_from_stdin(struct ctl *ctl, struct ctl_keys *ks)
{
	unsigned char	*p, *end, *nl;
	size_t		 len, lines = 0, i;

	memset(ks, 0, sizeof(*ks));
	ks->what = "line";
	ks->from_stdin = 1;
	ctl_tty_hint("keys, one a line,", "give them as arguments");
	if (ctl_read_stdin(ctl, "the keys", &ks->buf, &len) == -1)
		return -1;
	end = ks->buf + len;
	for (p = ks->buf; p < end; p = nl + 1, lines++)
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
	if ((ks->v = calloc(lines ? lines : 1, sizeof(*ks->v))) == NULL)
		return ctl_fail(ctl, CTL_EXIT_USAGE,
		    "out of memory for %zu keys",
		    lines);
	for (p = ks->buf, i = 0; i < lines; p = nl + 1, i++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if (HAS(ctl, OPT_HEX)) {
			if (unhex_key(ctl, ks, i + 1, (char *)p, len) == -1)
				return -1;
			len /= 2;
		}
		ks->v[i].p = p;
		ks->v[i].n = len;
	}
	ks->n = lines;
	return 0;
}

void
ctl_keys_free(struct ctl_keys *ks)
{
	free(ks->v);
	free(ks->buf);
	memset(ks, 0, sizeof(*ks));
}

