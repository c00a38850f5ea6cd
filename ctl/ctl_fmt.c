/*
 * ctl_fmt.c: hex, C escapes and JSON strings for storectl's input and
 * output, and the text and JSON forms of storesd's stats.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ctl_fmt.h"

#define HEX_CHUNK	4096	/* input bytes encoded per fwrite */
#define ESC_BUF		8192	/* escaped text per fwrite */
#define COUNTER_COLUMN	26	/* where stats' names end */

static const char hexdigits[] = "0123456789abcdef";

char *
ctl_fmt_hex(char *out, const void *p, size_t n)
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
ctl_fmt_put_hex(FILE *f, const void *p, size_t n)
{
	const unsigned char	*b = p;
	char			 buf[2 * HEX_CHUNK + 1];
	size_t			 len;

	/* In chunks: a value may be as large as a frame. */
	while (n > 0) {
		len = n < HEX_CHUNK ? n : HEX_CHUNK;
		ctl_fmt_hex(buf, b, len);
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
ctl_fmt_unhex(const char *s, size_t n, unsigned char *out, size_t *bad)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i + 1 < n; i += 2) {
		if ((hi = hexval(s[i])) == -1 ||
		    (lo = hexval(s[i + 1])) == -1) {
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
ctl_fmt_trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/* A byte ctl_fmt_cescape() writes as is. */
static int
is_plain(unsigned char ch)
{
	return ch >= 0x20 && ch <= 0x7e && ch != '\\';
}

size_t
ctl_fmt_cescape(char *out, size_t size, const void *p, size_t n)
{
	const unsigned char	*b = p;
	size_t			 i, o = 0;

	/* Room for the longest escape and the NUL, or stop. */
	for (i = 0; i < n && o + 5 <= size; i++) {
		if (is_plain(b[i])) {
			out[o++] = (char)b[i];
			continue;
		}
		out[o++] = '\\';
		if (b[i] == '\t')
			out[o++] = 't';
		else if (b[i] == '\n')
			out[o++] = 'n';
		else if (b[i] == '\\')
			out[o++] = '\\';
		else {
			out[o++] = 'x';
			out[o++] = hexdigits[b[i] >> 4];
			out[o++] = hexdigits[b[i] & 0x0f];
		}
	}
	if (size > 0)
		out[o] = '\0';
	return i;
}

int
ctl_fmt_put_cescape(FILE *f, const void *p, size_t n)
{
	const unsigned char	*b = p;
	char			 buf[ESC_BUF];
	size_t			 used, len;

	while (n > 0) {
		used = ctl_fmt_cescape(buf, sizeof(buf), b, n);
		len = strlen(buf);
		if (fwrite(buf, 1, len, f) != len)
			return -1;
		b += used;
		n -= used;
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
ctl_fmt_put_json_str(FILE *f, const void *p, size_t n)
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

/* ------------------------------------------------------ stats' output */

/* Values line up in one column whatever the indent. */
static void
put_counters_text(FILE *f, const char *indent, const sc_counter *c,
    size_t n)
{
	int	 width = COUNTER_COLUMN - (int)strlen(indent);
	size_t	 i;

	for (i = 0; i < n; i++)
		fprintf(f, "%s%-*s %" PRIu64 "\n", indent, width, c[i].name,
		    c[i].value);
}

void
ctl_fmt_stats_text(FILE *f, const sc_stats *s)
{
	const sc_stats_env	*e;
	size_t			 i, j;

	fprintf(f, "daemon\n");
	put_counters_text(f, "  ", s->daemon, s->ndaemon);
	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		fputs("env ", f);
		ctl_fmt_put_cescape(f, e->store, strlen(e->store));
		if (e->repo != NULL) {
			fputs(" (repo ", f);
			ctl_fmt_put_cescape(f, e->repo, strlen(e->repo));
			fputs(")\n", f);
		} else
			fputs(" (fixed path)\n", f);
		fprintf(f, "  %-*s ", COUNTER_COLUMN - 2, "dir");
		ctl_fmt_put_cescape(f, e->dir, strlen(e->dir));
		putc('\n', f);
		put_counters_text(f, "  ", e->counters, e->ncounters);
		for (j = 0; j < e->ndbs; j++) {
			fputs("  db ", f);
			ctl_fmt_put_cescape(f, e->dbs[j].name,
			    strlen(e->dbs[j].name));
			putc('\n', f);
			put_counters_text(f, "    ", e->dbs[j].counters,
			    e->dbs[j].ncounters);
		}
	}
}

void
ctl_fmt_put_json_cstr(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		ctl_fmt_put_json_str(f, s, strlen(s));
}

static void
put_counters_json(FILE *f, const sc_counter *c, size_t n)
{
	size_t	 i;

	putc('{', f);
	for (i = 0; i < n; i++) {
		if (i > 0)
			putc(',', f);
		ctl_fmt_put_json_cstr(f, c[i].name);
		fprintf(f, ":%" PRIu64, c[i].value);
	}
	putc('}', f);
}

void
ctl_fmt_stats_json(FILE *f, const sc_stats *s)
{
	const sc_stats_env	*e;
	size_t			 i, j;

	fputs("{\"daemon\":", f);
	put_counters_json(f, s->daemon, s->ndaemon);
	fputs(",\"envs\":[", f);
	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		fputs(i > 0 ? ",{\"repo\":" : "{\"repo\":", f);
		ctl_fmt_put_json_cstr(f, e->repo);
		fputs(",\"store\":", f);
		ctl_fmt_put_json_cstr(f, e->store);
		fputs(",\"dir\":", f);
		ctl_fmt_put_json_cstr(f, e->dir);
		fputs(",\"counters\":", f);
		put_counters_json(f, e->counters, e->ncounters);
		fputs(",\"dbs\":[", f);
		for (j = 0; j < e->ndbs; j++) {
			fputs(j > 0 ? ",{\"name\":" : "{\"name\":", f);
			ctl_fmt_put_json_cstr(f, e->dbs[j].name);
			fputs(",\"counters\":", f);
			put_counters_json(f, e->dbs[j].counters,
			    e->dbs[j].ncounters);
			putc('}', f);
		}
		fputs("]}", f);
	}
	fputs("]}\n", f);
}


/* ------------------------------------------------------- Prometheus */

/*
 * The Prometheus text format (for node_exporter's textfile collector):
 * one family per counter name, its # HELP and # TYPE lines once, then
 * every sample of it, so a family's samples are never split.  Names are
 * storesd_NAME (daemon), storesd_env_NAME (labels repo, store) and
 * storesd_db_NAME (labels repo, store, db); counters that only grow are
 * of TYPE counter and end in _total, the rest are gauges.
 */
static bool
prom_is_counter(const char *name)
{
	static const char *const grow[] = { "commits", "writes", "commit_us",
	    "flushes", "reloads" };
	size_t	 i;

	if (strncmp(name, "ops_", 4) == 0 || strncmp(name, "err_", 4) == 0)
		return true;
	for (i = 0; i < sizeof(grow) / sizeof(grow[0]); i++)
		if (strcmp(name, grow[i]) == 0)
			return true;
	return false;
}

/* A label value: backslash, double quote and newline escaped. */
static void
prom_label(FILE *f, const char *key, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", key);
	for (; v != NULL && *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			putc(*v, f);
	}
	putc('"', f);
}

static void
prom_family(FILE *f, const char *scope, const char *name)
{
	const char	*sfx = prom_is_counter(name) ? "_total" : "";

	fprintf(f, "# HELP storesd_%s%s%s storesd's %s counter %s (see "
	    "PROTOCOL.md, stats)\n", scope, name, sfx,
	    *scope ? (scope[0] == 'e' ? "env" : "db") : "daemon", name);
	fprintf(f, "# TYPE storesd_%s%s%s %s\n", scope, name, sfx,
	    prom_is_counter(name) ? "counter" : "gauge");
}

/* Every sample of env counter (db < 0) or db counter name. */
static void
prom_samples(FILE *f, const sc_stats *s, const char *name, bool db)
{
	const sc_stats_env	*e;
	const sc_counter	*c;
	size_t			 i, j, k, n;

	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		for (j = 0; j < (db ? e->ndbs : 1); j++) {
			c = db ? e->dbs[j].counters : e->counters;
			n = db ? e->dbs[j].ncounters : e->ncounters;
			for (k = 0; k < n && strcmp(c[k].name, name); k++)
				;
			if (k == n)
				continue;
			fprintf(f, "storesd_%s%s%s{", db ? "db_" : "env_",
			    name, prom_is_counter(name) ? "_total" : "");
			prom_label(f, "repo", e->repo ? e->repo : "", true);
			prom_label(f, "store", e->store, false);
			if (db)
				prom_label(f, "db", e->dbs[j].name, false);
			fprintf(f, "} %" PRIu64 "\n", c[k].value);
		}
	}
}

/* Each family of env (db) counters once, in the order first seen: the
 * names are gathered first (a few dozen), then each family printed. */
static int
prom_scope(FILE *f, const sc_stats *s, bool db)
{
	const sc_stats_env	*e;
	const sc_counter	*c;
	const char		**names = NULL, **nv;
	size_t			 i, j, k, u, n, nnames = 0;
	int			 ret = -1;

	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		for (j = 0; j < (db ? e->ndbs : 1); j++) {
			c = db ? e->dbs[j].counters : e->counters;
			n = db ? e->dbs[j].ncounters : e->ncounters;
			for (k = 0; k < n; k++) {
				for (u = 0; u < nnames &&
				    strcmp(names[u], c[k].name); u++)
					;
				if (u < nnames)
					continue;
				if ((nv = realloc(names, (nnames + 1) *
				    sizeof(*names))) == NULL)
					goto done;
				names = nv;
				names[nnames++] = c[k].name;
			}
		}
	}
	for (u = 0; u < nnames; u++) {
		prom_family(f, db ? "db_" : "env_", names[u]);
		prom_samples(f, s, names[u], db);
	}
	ret = 0;
done:
	free(names);
	return ret;
}

int
ctl_fmt_stats_prom(FILE *f, const sc_stats *s)
{
	size_t	 i;

	for (i = 0; i < s->ndaemon; i++) {
		prom_family(f, "", s->daemon[i].name);
		fprintf(f, "storesd_%s%s %" PRIu64 "\n", s->daemon[i].name,
		    prom_is_counter(s->daemon[i].name) ? "_total" : "",
		    s->daemon[i].value);
	}
	return prom_scope(f, s, false) == -1 ? -1 : prom_scope(f, s, true);
}
