/*
 * ctl_fmt: how storectl turns bytes into text and text into bytes.
 *
 * Owns: how bytes become text and back.  Small functions over buffers
 * and stdio streams that know nothing of storesd, so every command (get,
 * mget, missing, scan, live...) prints keys and values the same way; and
 * the two forms of stats, which use them.  Writers return 0, or -1 when
 * the stream failed (errno says why).
 */
#ifndef CTL_FMT_H
#define CTL_FMT_H

#include <stddef.h>
#include <stdio.h>

#include "storeclient.h"

/*
 * Writes the n bytes at p as 2n lowercase hex digits and a NUL into out,
 * which holds at least 2n + 1 bytes.  Returns out.
 */
char	*ctl_fmt_hex(char *out, const void *p, size_t n);

/* Writes the n bytes at p to f as lowercase hex.  Returns 0 or -1. */
int	 ctl_fmt_put_hex(FILE *f, const void *p, size_t n);

/*
 * Decodes the n hex digits at s (either case) into out, which holds at
 * least n / 2 bytes; out may be s itself, to decode in place.  Returns 0,
 * or -1 with *bad set to the offset of the first character that is not a
 * hex digit, or to n when n is odd.
 */
int	 ctl_fmt_unhex(const char *s, size_t n, unsigned char *out,
    size_t *bad);

/* Narrows the n bytes at *s to leave out leading and trailing ASCII
 * whitespace. */
void	 ctl_fmt_trim(const char **s, size_t *n);

/*
 * Writes the n bytes at p to f as text that keeps one field of a
 * tab-separated line: printable ASCII (0x20 to 0x7e, space and " too) as
 * is, but tab as \t, newline as \n, backslash as \\, and every other byte
 * as \xNN (always two lowercase hex digits, \r too).  So the output holds
 * no tab, newline or control byte, and reads back unambiguously.
 * Returns 0 or -1.
 */
int	 ctl_fmt_put_cescape(FILE *f, const void *p, size_t n);

/*
 * The same escapes into out, as a C string of at most size - 1
 * characters: as many whole bytes of the n at p as fit (none when size
 * is under 5, when out is left empty if size > 0).  Returns how many
 * bytes of p were written, so a caller can tell the text was cut short.
 */
size_t	 ctl_fmt_cescape(char *out, size_t size, const void *p, size_t n);

/*
 * Writes the n bytes at p to f as a JSON string, quotes included.
 * Bytes that are not valid UTF-8 become U+FFFD: JSON text is Unicode,
 * and a reader would reject the raw bytes.  Returns 0 or -1.
 */
int	 ctl_fmt_put_json_str(FILE *f, const void *p, size_t n);
/* The same for a C string; NULL is null. */
void	 ctl_fmt_put_json_cstr(FILE *f, const char *s);

/*
 * Write the stats s to f: as indented text, one counter a line with the
 * values in one column, or as one JSON object and a newline (the shape
 * storectl help stats gives).  A write error stays in f (ferror()).
 */
void	 ctl_fmt_stats_text(FILE *f, const sc_stats *s);
void	 ctl_fmt_stats_json(FILE *f, const sc_stats *s);
/* The same in the Prometheus text format, with # HELP and # TYPE lines
 * (for node_exporter's textfile collector).  Returns 0, or -1 when out
 * of memory (the output is then incomplete). */
int	 ctl_fmt_stats_prom(FILE *f, const sc_stats *s);

#endif
