/*
 * ctl_fmt: hex, C escapes and JSON strings for storectl's input and
 * output.
 */
#include <stdio.h>

#include "ctl_fmt.h"

#define HEX_CHUNK	4096	/* input bytes encoded per fwrite */

static const char hexdigits[] = "0123456789abcdef";

char *
fmt_hex(char *out, const void *p, size_t n)
{
	const unsigned char	*b = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[b[i] >> 4];
		out[2 * i + 1] = hexdigits[b[i] & 0x0f];
	}
	out[2 * n] = '\0';
	return out;
}

int
fmt_put_hex(FILE *f, const void *p, size_t n)
{
	const unsigned char	*b = p;
	char			 buf[2 * HEX_CHUNK + 1];
	size_t			 len;

	/* In chunks: a value may be as large as a frame. */
	while (n > 0) {
		len = n < HEX_CHUNK ? n : HEX_CHUNK;
		fmt_hex(buf, b, len);
		if (fwrite(buf, 1, 2 * len, f) != 2 * len)
			return -1;
		b += len;
		n -= len;
	}
	return 0;
}

/* The value of hex digit ch, or -1. */
static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
fmt_unhex(const char *s, size_t n, unsigned char *out, size_t *bad)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i + 1 < n; i += 2) {
		if ((hi = hexval(s[i])) == -1 || (lo = hexval(s[i + 1])) == -1) {
			*bad = hexval(s[i]) == -1 ? i : i + 1;
			return -1;
		}
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	if (n % 2 != 0) {
		/* A stray last character is reported as what it is. */
		*bad = hexval(s[n - 1]) == -1 ? n - 1 : n;
		return -1;
	}
	return 0;
}

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f';
}

void
fmt_trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/* A byte fmt_put_cescape() writes as is. */
static int
is_plain(unsigned char ch)
{
	return ch >= 0x20 && ch <= 0x7e && ch != '\\';
}

int
fmt_put_cescape(FILE *f, const void *p, size_t n)
{
	const unsigned char	*b = p;
	char			 esc[4] = { '\\' };
	size_t			 i, run, len;

	for (i = 0; i < n; i += run) {
		/* Plain runs in one write: values may be large. */
		for (run = 0; i + run < n && is_plain(b[i + run]); run++)
			;
		if (run > 0) {
			if (fwrite(b + i, 1, run, f) != run)
				return -1;
			continue;
		}
		run = 1;
		len = 2;
		if (b[i] == '\t')
			esc[1] = 't';
		else if (b[i] == '\n')
			esc[1] = 'n';
		else if (b[i] == '\\')
			esc[1] = '\\';
		else {
			esc[1] = 'x';
			esc[2] = hexdigits[b[i] >> 4];
			esc[3] = hexdigits[b[i] & 0x0f];
			len = 4;
		}
		if (fwrite(esc, 1, len, f) != len)
			return -1;
	}
	return 0;
}

/*
 * The length of the valid UTF-8 sequence starting at the n bytes at b
 * (1 to 4), or 0 when it is not one: overlong forms, surrogates and
 * code points over U+10FFFF are not valid.
 */
static size_t
utf8_len(const unsigned char *b, size_t n)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 len, i;

	if (b[0] < 0x80)
		return 1;
	if (b[0] >= 0xc2 && b[0] <= 0xdf)
		len = 2;
	else if (b[0] >= 0xe0 && b[0] <= 0xef)
		len = 3;
	else if (b[0] >= 0xf0 && b[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* The second byte's range is what rules out the bad forms. */
	if (b[0] == 0xe0)
		lo = 0xa0;
	else if (b[0] == 0xed)
		hi = 0x9f;
	else if (b[0] == 0xf0)
		lo = 0x90;
	else if (b[0] == 0xf4)
		hi = 0x8f;
	if (n < len || b[1] < lo || b[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (b[i] < 0x80 || b[i] > 0xbf)
			return 0;
	return len;
}

int
fmt_put_json_str(FILE *f, const void *p, size_t n)
{
	const unsigned char	*b = p;
	size_t			 i, len;
	int			 rc;

	if (putc('"', f) == EOF)
		return -1;
	for (i = 0; i < n; i += len) {
		len = utf8_len(b + i, n - i);
		if (len == 0) {
			rc = fputs("\\ufffd", f);
			len = 1;
		} else if (b[i] == '"' || b[i] == '\\')
			rc = fprintf(f, "\\%c", b[i]);
		else if (b[i] == '\n')
			rc = fputs("\\n", f);
		else if (b[i] == '\t')
			rc = fputs("\\t", f);
		else if (b[i] == '\r')
			rc = fputs("\\r", f);
		else if (b[i] < 0x20)
			rc = fprintf(f, "\\u%04x", b[i]);
		else
			rc = fwrite(b + i, 1, len, f) == len ? 0 : EOF;
		if (rc < 0)
			return -1;
	}
	return putc('"', f) == EOF ? -1 : 0;
}
