/*
 * config: storesd's configuration file and its built-in default.
 *
 * libinih splits lines into keys and values and strips comments; the
 * reader we hand it does the rest of the bookkeeping inih cannot do for
 * us here: Debian builds inih without line numbers in the handler, and
 * truncates section names to 49 bytes, so the reader counts lines and
 * tracks the current section itself.  The handler only ever looks at the
 * reader's state, never at inih's section argument.
 *
 * Reading goes on past an error, so that one run of --check-config
 * lists every error of a file, not one per edit: a bad line is read as
 * an empty one, a bad value leaves its key unset, and the keys of a
 * section whose header is bad are skipped (their errors would only echo
 * the header's).  The errors are reported in the order of their lines.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "sp_frame.h"
#include "sp_mp.h"
#include "sp_names.h"

#define KiB		(UINT64_C(1) << 10)
#define MiB		(UINT64_C(1) << 20)
#define GiB		(UINT64_C(1) << 30)
#define TiB		(UINT64_C(1) << 40)

#define SUN_PATH_SIZE	sizeof(((struct sockaddr_un *)0)->sun_path)
#define NKEYS_MAX	40	/* rows of keys[] */
#define NERRS_MAX	64	/* errors kept; more are only counted */
#define IO_THREADS_CAP	8	/* the default stops here however many CPUs */

#define NAME_RULE	"names are 1 to 64 bytes of A-Z a-z 0-9 . _ -, " \
			"not starting with '.' or '-'"
#define SYNTAX_ERROR	"syntax error: expected 'key = value' or '[section]'"

/*
 * The built-in default goes through the same parser as a file, so it
 * cannot drift from what a file may say.
 */
static const char builtin_conf[] =
    "; storesd's built-in default, used when no file is given\n"
    "[store refs]\n"
    "map_size = 256MiB\n"
    "dbs = refs\n"
    "\n"
    "[store nodes]\n"
    "map_size = 16GiB\n"
    "dbs = nodes\n";

enum section {
	SEC_NONE,		/* before the first header */
	SEC_DAEMON,
	SEC_STORE,
};

struct parse {
	struct config	*cfg;
	const char	*file;		/* as shown in messages */

	/* The source: a file, or the built-in text at off. */
	FILE		*fp;
	const char	*text;
	size_t		 off;
	char		*buf;		/* getline's */
	size_t		 bufsize;
	unsigned	 lineno;	/* of the line inih is working on */
	bool		 eof;

	enum section	 sec;
	unsigned	 cur;		/* the store being read, in SEC_STORE */
	unsigned	 daemon_line;
	unsigned	 keyline[NKEYS_MAX];	/* keys[i], in this section */
	unsigned	 path_line[CFG_MAX_STORES];
	unsigned	 stores_cap;

	bool		 skip;		/* in a section whose header is bad */
	bool		 stop;		/* cannot read on: I/O, memory */
	unsigned	 sec_errs;	/* nerrs when the section began */
	struct parse_err {
		unsigned	 line;	/* 0: about the file as a whole */
		unsigned	 seq;	/* the order found */
		char		*msg;
	}		 errs[NERRS_MAX];
	unsigned	 nerrs;		/* in errs[] */
	unsigned	 more;		/* not kept: errs[] was full */
};

/* What a key's value is, and so how it is checked and stored. */
enum key_type {
	KT_UINT,	/* unsigned: a whole number, min to max */
	KT_SIZE,	/* uint64_t: bytes, with a unit, min to max */
	KT_DURATION,	/* uint64_t: ms, with a unit (bare: s), min to max */
	KT_PATH,	/* char *: absolute, shorter than max bytes */
	KT_MODE,	/* mode_t: octal, up to max */
	KT_OWN,		/* its own setter: lists, names, choices */
};

/* What a reload (SIGHUP) does with a new value. */
enum key_reload {
	RL_APPLY,	/* takes it */
	RL_RESTART,	/* set up once at start: keeps the old value */
};

/*
 * One configuration key.  off is the field's offset in struct config
 * ([daemon]) or struct cfg_store ([store NAME]); def, when not 0, is
 * its default, set before the file is read.  range says min and max in
 * words for messages; example is a value to suggest.
 */
struct keydef {
	const char	*name;
	enum section	 sec;
	enum key_type	 type;
	uint64_t	 min;
	uint64_t	 max;
	const char	*range;
	const char	*example;
	size_t		 off;
	uint64_t	 def;
	enum key_reload	 reload;
	int		(*set)(struct parse *, const char *);	/* KT_OWN */
};

#define D(field)	offsetof(struct config, field)
#define S(field)	offsetof(struct cfg_store, field)
#define WEEK_MS		(UINT64_C(7) * 24 * 3600 * 1000)
#define HOUR_MS		(UINT64_C(3600) * 1000)

static int	set_dbs(struct parse *, const char *);
static int	set_sync(struct parse *, const char *);
static int	set_create(struct parse *, const char *);
static int	set_path(struct parse *, const char *);
static int	set_readers(struct parse *, const char *);
static int	set_writers(struct parse *, const char *);

/*
 * Every key, in the order messages list them.  tests/man.sh reads the
 * names of each section from the rows below (one row starts a line
 * with { "name", SEC_...): keep that shape.
 */
static const struct keydef keys[] = {
	{ "socket", SEC_DAEMON, KT_PATH, 0, SUN_PATH_SIZE, NULL,
	    "/run/storesd/storesd.sock", D(socket), 0, RL_RESTART, NULL },
	{ "socket_mode", SEC_DAEMON, KT_MODE, 0, 0777, NULL, "0660",
	    D(socket_mode), 0660, RL_RESTART, NULL },
	{ "data_dir", SEC_DAEMON, KT_PATH, 0, PATH_MAX, NULL,
	    "/var/lib/storesd", D(data_dir), 0, RL_RESTART, NULL },
	{ "max_frame", SEC_DAEMON, KT_SIZE, SP_MAX_FRAME_MIN, UINT32_MAX,
	    "4KiB to 4294967295 (4GiB - 1)", NULL, D(max_frame), 64 * MiB,
	    RL_APPLY, NULL },
	{ "idle_close", SEC_DAEMON, KT_DURATION, 10, WEEK_MS,
	    "10ms to 7 days (168h)", "30s", D(idle_close_ms), 30 * 1000,
	    RL_APPLY, NULL },
	/* Its default depends on the host: default_io_threads(). */
	{ "io_threads", SEC_DAEMON, KT_UINT, 1, 64, NULL, NULL,
	    D(io_threads), 0, RL_RESTART, NULL },
	{ "writer_threads", SEC_DAEMON, KT_UINT, 1, 256, NULL, NULL,
	    D(writer_threads), 4, RL_RESTART, NULL },
	{ "max_envs", SEC_DAEMON, KT_UINT, 1, 1000000, NULL, NULL,
	    D(max_envs), 1024, RL_APPLY, NULL },
	/* 0 (its default): three quarters of the address space, which
	 * depends on the host (registry.c). */
	{ "map_budget", SEC_DAEMON, KT_SIZE, 64 * MiB, UINT64_C(1) << 60,
	    "64MiB to 1EiB", NULL, D(map_budget), 0, RL_APPLY, NULL },
	{ "max_batch", SEC_DAEMON, KT_SIZE, MiB, 64 * GiB, "1MiB to 64GiB",
	    NULL, D(max_batch), 256 * MiB, RL_APPLY, NULL },
	{ "scan_page", SEC_DAEMON, KT_UINT, 1, 100000, NULL, NULL,
	    D(scan_page), 1000, RL_APPLY, NULL },
	{ "max_connections", SEC_DAEMON, KT_UINT, 1, 1000000, NULL, NULL,
	    D(max_connections), 1024, RL_APPLY, NULL },
	{ "max_inflight", SEC_DAEMON, KT_UINT, 1, 1000000, NULL, NULL,
	    D(max_inflight), 1024, RL_APPLY, NULL },
	{ "max_output", SEC_DAEMON, KT_SIZE, 64 * KiB, 64 * GiB,
	    "64KiB to 64GiB", NULL, D(max_output), 64 * MiB, RL_APPLY, NULL },
	{ "max_requests_per_turn", SEC_DAEMON, KT_UINT, 1, 65536, NULL, NULL,
	    D(max_per_turn), 64, RL_APPLY, NULL },
	{ "stop_timeout", SEC_DAEMON, KT_DURATION, 10, HOUR_MS, "10ms to 1h",
	    "30s", D(stop_timeout_ms), 30 * 1000, RL_APPLY, NULL },
	{ "max_input", SEC_DAEMON, KT_SIZE, MiB, TiB, "1MiB to 1TiB", NULL,
	    D(max_input), 512 * MiB, RL_APPLY, NULL },
	{ "frame_timeout", SEC_DAEMON, KT_DURATION, 100, HOUR_MS,
	    "100ms to 1h", "30s", D(frame_timeout_ms), 30 * 1000, RL_APPLY,
	    NULL },
	/* A running snapshot keeps the values it started with (snap.c). */
	{ "snapshot_max", SEC_DAEMON, KT_UINT, 1, 1024, NULL, NULL,
	    D(snapshot_max), 8, RL_APPLY, NULL },
	{ "snapshot_timeout", SEC_DAEMON, KT_DURATION, 10, HOUR_MS,
	    "10ms to 1h", "30s", D(snapshot_timeout_ms), 30 * 1000, RL_APPLY,
	    NULL },
	{ "snapshot_max_time", SEC_DAEMON, KT_DURATION, 100, WEEK_MS,
	    "100ms to 7 days (168h)", "6h", D(snapshot_max_time_ms),
	    24 * HOUR_MS, RL_APPLY, NULL },
	/* 0 (its default): a twentieth of the data file system (store.c). */
	{ "snapshot_reserve", SEC_DAEMON, KT_SIZE, MiB, UINT64_C(1) << 60,
	    "1MiB to 1EiB", "1GiB", D(snapshot_reserve), 0, RL_APPLY, NULL },
	/* Both read per request: a reload applies to the next one. */
	{ "drop_wait", SEC_DAEMON, KT_DURATION, 0, 60 * 1000, "0 to 1m",
	    "2s", D(drop_wait_ms), 2 * 1000, RL_APPLY, NULL },
	{ "restore_timeout", SEC_DAEMON, KT_DURATION, 100, HOUR_MS,
	    "100ms to 1h", "30s", D(restore_timeout_ms), 30 * 1000, RL_APPLY,
	    NULL },
	/* Watches (watch.c). */
	{ "watch_progress", SEC_DAEMON, KT_DURATION, 10, HOUR_MS,
	    "10ms to 1h", "10s", D(watch_progress_ms), 10 * 1000, RL_APPLY,
	    NULL },
	{ "watch_buffer", SEC_DAEMON, KT_SIZE, 4 * KiB, GiB, "4KiB to 1GiB",
	    NULL, D(watch_buffer), MiB, RL_APPLY, NULL },
	{ "max_watches", SEC_DAEMON, KT_UINT, 1, 1000000, NULL, NULL,
	    D(max_watches), 64, RL_APPLY, NULL },
	/* Daemon-wide; no uid holds more than half of it (quota.h). */
	{ "max_watches_total", SEC_DAEMON, KT_UINT, 1, 100000000, NULL,
	    NULL, D(max_watches_total), 65536, RL_APPLY, NULL },

	/* A reload retunes an env whose store changed (registry.h). */
	{ "map_size", SEC_STORE, KT_SIZE, MiB, 64 * TiB, "1MiB to 64TiB",
	    NULL, S(map_size), 0, RL_APPLY, NULL },
	{ "max_dbs", SEC_STORE, KT_UINT, 0, CFG_MAX_DBS, NULL, NULL,
	    S(max_dbs), 0, RL_APPLY, NULL },
	{ "dbs", SEC_STORE, KT_OWN, 0, 0, NULL, NULL, 0, 0, RL_APPLY,
	    set_dbs },
	{ "sync", SEC_STORE, KT_OWN, 0, 0, NULL, NULL, 0, 0, RL_APPLY,
	    set_sync },
	{ "path", SEC_STORE, KT_OWN, 0, 0, NULL, NULL, 0, 0, RL_APPLY,
	    set_path },
	{ "sync_interval", SEC_STORE, KT_DURATION, 10, HOUR_MS, "10ms to 1h",
	    "1s", S(sync_interval_ms), 1000, RL_APPLY, NULL },
	{ "readers", SEC_STORE, KT_OWN, 0, 0, NULL, NULL, 0, 0, RL_APPLY,
	    set_readers },
	{ "writers", SEC_STORE, KT_OWN, 0, 0, NULL, NULL, 0, 0, RL_APPLY,
	    set_writers },
	{ "create", SEC_STORE, KT_OWN, 0, 0, NULL, NULL, 0, 0, RL_APPLY,
	    set_create },
	/* 0 (its default): no history; set, it is read when the env
	 * opens, so a change reopens the env (cfg_store_same_env()). */
	{ "history", SEC_STORE, KT_SIZE, 0, 64 * TiB, "0 (off) to 64TiB",
	    "64MiB", S(history), 0, RL_APPLY, NULL },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= NKEYS_MAX, "struct parse has NKEYS_MAX keylines");

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/*
 * Records an error on line (0: about the file as a whole) and reading
 * goes on; cfg_load() reports them all.  Returns -1.
 */
static int __attribute__((format(printf, 3, 4)))
perr(struct parse *p, unsigned line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int	 rc;

	if (p->nerrs == NERRS_MAX) {
		p->more++;
		return -1;
	}
	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	/* Without memory there is no message, but still an error. */
	p->errs[p->nerrs].line = line;
	p->errs[p->nerrs].seq = p->nerrs;
	p->errs[p->nerrs].msg = rc == -1 ? NULL : msg;
	p->nerrs++;
	return -1;
}

/* An error after which nothing more can be read. */
#define pfatal(p, ...)	((p)->stop = true, perr((p), __VA_ARGS__))

static int
err_cmp(const void *a, const void *b)
{
	const struct parse_err	*x = a, *y = b;

	/* Whole-file errors last; then by line, in the order found. */
	if (x->line != y->line)
		return x->line == 0 ? 1 : y->line == 0 ? -1 :
		    x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Writes the errors into errbuf, one "FILE:LINE: message" (or "FILE:
 * message") a line, in the order of their lines, as many as fit, then
 * how many more there were.  Frees them.
 */
static void
report_errs(struct parse *p, char *errbuf, size_t errlen)
{
	size_t		 len = 0;
	unsigned	 i, shown = 0;
	int		 n;

	/* qsort is not stable: err_cmp breaks ties by seq. */
	qsort(p->errs, p->nerrs, sizeof(p->errs[0]), err_cmp);
	for (i = 0; i < p->nerrs && errbuf != NULL && errlen > 0; i++) {
		if (p->errs[i].line > 0)
			n = snprintf(errbuf + len, errlen - len, "%s%s:%u: %s",
			    len > 0 ? "\n" : "", p->file, p->errs[i].line,
			    p->errs[i].msg ? p->errs[i].msg : "out of memory");
		else
			n = snprintf(errbuf + len, errlen - len, "%s%s: %s",
			    len > 0 ? "\n" : "", p->file,
			    p->errs[i].msg ? p->errs[i].msg : "out of memory");
		/* The first message is cut off if it must; a later one
		 * that does not fit whole is left out, and counted. */
		if (n < 0 || (size_t)n >= errlen - len) {
			if (shown > 0)
				errbuf[len] = '\0';
			else {
				shown++;
				len = strlen(errbuf);
			}
			break;
		}
		len += n;
		shown++;
	}
	if (errbuf != NULL && errlen > len + 1 &&
	    shown < p->nerrs + p->more && shown > 0)
		snprintf(errbuf + len, errlen - len, "\n%s: and %u more "
		    "errors", p->file, p->nerrs + p->more - shown);
	for (i = 0; i < p->nerrs; i++)
		free(p->errs[i].msg);
	p->nerrs = 0;
}

static struct cfg_store *
cur_store(struct parse *p)
{
	return &p->cfg->stores[p->cur];
}

/* "[daemon]" or "[store NAME]", for messages. */
static const char *
section_label(struct parse *p, char *buf, size_t n)
{
	if (p->sec == SEC_STORE)
		snprintf(buf, n, "[store %s]", cur_store(p)->name);
	else
		snprintf(buf, n, "[daemon]");
	return buf;
}

/* ------------------------------------------------------------------ */
/* Numbers, sizes, durations                                            */
/* ------------------------------------------------------------------ */

/*
 * Reads the decimal digits at s (at least one) into *v and points *end
 * past them.  Returns 0, or -1 with errno EINVAL (no digit) or ERANGE.
 */
static int
parse_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t	 n = 0;
	unsigned	 d;

	if (!isdigit((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	for (; isdigit((unsigned char)*s); s++) {
		d = *s - '0';
		if (n > (UINT64_MAX - d) / 10) {
			errno = ERANGE;
			return -1;
		}
		n = n * 10 + d;
	}
	*v = n;
	*end = s;
	return 0;
}

struct unit {
	const char	*name;
	uint64_t	 mult;
};

/*
 * A number, optional blanks, then one of units, or nothing for bare_mult.
 * Blanks with no unit after them are garbage: nothing can follow a bare
 * number.
 */
static int
parse_with_unit(const char *s, const struct unit *units, uint64_t bare_mult,
    uint64_t *out)
{
	const char	*end, *u;
	uint64_t	 v, mult = 0;

	if (s == NULL || parse_digits(s, &v, &end) == -1)
		return -1;
	for (u = end; *u == ' ' || *u == '\t'; u++)
		;
	if (*end == '\0')
		mult = bare_mult;
	else
		for (; units->name != NULL; units++)
			if (strcmp(u, units->name) == 0) {
				mult = units->mult;
				break;
			}
	if (mult == 0) {
		errno = EINVAL;
		return -1;
	}
	if (v > UINT64_MAX / mult) {
		errno = ERANGE;
		return -1;
	}
	*out = v * mult;
	return 0;
}

static const struct unit size_units[] = {
	{ "B", 1 }, { "KiB", KiB }, { "MiB", MiB }, { "GiB", GiB },
	{ "TiB", TiB }, { NULL, 0 }
};

int
cfg_parse_size(const char *s, uint64_t *out)
{
	return parse_with_unit(s, size_units, 1, out);
}

int
cfg_parse_duration(const char *s, uint64_t *out_ms)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 }, { NULL, 0 }
	};

	return parse_with_unit(s, units, 1000, out_ms);
}

void
cfg_format_size(uint64_t v, char *buf, size_t n)
{
	size_t	 i;

	/* size_units is smallest first; the largest exact unit wins. */
	for (i = sizeof(size_units) / sizeof(size_units[0]) - 2; i > 0; i--)
		if (v != 0 && v % size_units[i].mult == 0)
			break;
	snprintf(buf, n, "%" PRIu64 "%s", v / size_units[i].mult,
	    size_units[i].name);
}

void
cfg_format_duration(uint64_t ms, char *buf, size_t n)
{
	static const struct unit units[] = {
		{ "h", 60 * 60 * 1000 }, { "m", 60 * 1000 }, { "s", 1000 },
		{ "ms", 1 }
	};
	size_t	 i;

	for (i = 0; i < 3; i++)
		if (ms != 0 && ms % units[i].mult == 0)
			break;
	snprintf(buf, n, "%" PRIu64 "%s", ms / units[i].mult, units[i].name);
}

/* ------------------------------------------------------------------ */
/* Value setters: each checks one value and stores it                  */
/* ------------------------------------------------------------------ */

static int
set_uint(struct parse *p, const char *key, const char *v, uint64_t min,
    uint64_t max, uint64_t *out)
{
	const char	*end = v;
	uint64_t	 n = 0;
	int		 rc;

	rc = parse_digits(v, &n, &end);
	if ((rc == -1 && errno != ERANGE) || (rc == 0 && *end != '\0'))
		return perr(p, p->lineno, "%s = '%s' is not a whole number; "
		    "use %" PRIu64 " to %" PRIu64, key, v, min, max);
	if (rc == -1 || n < min || n > max)
		return perr(p, p->lineno, "%s = %s is out of range; "
		    "use %" PRIu64 " to %" PRIu64, key, v, min, max);
	*out = n;
	return 0;
}

/* range says the limits in words, e.g. "1MiB to 64TiB". */
static int
set_size(struct parse *p, const char *key, const char *v, uint64_t min,
    uint64_t max, const char *range, uint64_t *out)
{
	uint64_t	 n;

	if (cfg_parse_size(v, &n) == -1) {
		if (errno == ERANGE)
			return perr(p, p->lineno, "%s = %s is too large; "
			    "use %s", key, v, range);
		return perr(p, p->lineno, "%s = '%s' is not a size; write a "
		    "whole number with an optional unit B, KiB, MiB, GiB or "
		    "TiB, e.g. %s = 64MiB; the range is %s", key, v, key,
		    range);
	}
	if (n < min || n > max)
		return perr(p, p->lineno, "%s = %s is out of range; use %s",
		    key, v, range);
	*out = n;
	return 0;
}

/* A path from the file: absolute and shorter than max bytes. */
static int
set_abs_path(struct parse *p, const char *key, const char *v, size_t max,
    const char *example, char **out)
{
	char	*s;

	if (v[0] != '/')
		return perr(p, p->lineno, "%s = '%s' is not an absolute path; "
		    "write the full path, e.g. %s = %s", key, v, key, example);
	if (strlen(v) >= max)
		return perr(p, p->lineno, "%s is %zu bytes long; the limit is "
		    "%zu, choose a shorter path", key, strlen(v), max - 1);
	if ((s = strdup(v)) == NULL)
		return perr(p, p->lineno, "out of memory");
	free(*out);
	*out = s;
	return 0;
}

static int
set_mode(struct parse *p, const char *key, const char *v, unsigned max,
    const char *example, mode_t *out)
{
	const char	*s;
	unsigned	 mode = 0;

	for (s = v; *s >= '0' && *s <= '7' && mode <= max; s++)
		mode = mode * 8 + (*s - '0');
	if (s == v || *s != '\0' || mode > max)
		return perr(p, p->lineno, "%s = '%s' is not an octal mode up "
		    "to %04o; write e.g. %s = %s", key, v, max, key, example);
	*out = mode;
	return 0;
}

/* range says the limits in words, e.g. "10ms to 7 days (168h)". */
static int
set_duration(struct parse *p, const char *key, const char *v, uint64_t min,
    uint64_t max, const char *range, const char *example, uint64_t *out)
{
	uint64_t	 ms;

	if (cfg_parse_duration(v, &ms) == -1) {
		if (errno == ERANGE)
			return perr(p, p->lineno, "%s = %s is too large; use "
			    "%s", key, v, range);
		return perr(p, p->lineno, "%s = '%s' is not a duration; write "
		    "a whole number with ms, s, m or h (bare: seconds), e.g. "
		    "%s = %s", key, v, key, example);
	}
	if (ms < min || ms > max)
		return perr(p, p->lineno, "%s = %s is out of range; use %s",
		    key, v, range);
	*out = ms;
	return 0;
}

/* The field k sets: in the config, or in the store being read. */
static void *
key_field(struct parse *p, const struct keydef *k)
{
	char	*base = k->sec == SEC_DAEMON ? (char *)p->cfg :
		    (char *)cur_store(p);

	return base + k->off;
}

/* Checks v for k, then stores it.  Returns 0 or -1. */
static int
set_value(struct parse *p, const struct keydef *k, const char *v)
{
	void		*f = key_field(p, k);
	uint64_t	 n = 0;

	switch (k->type) {
	case KT_UINT:
		if (set_uint(p, k->name, v, k->min, k->max, &n) == -1)
			return -1;
		*(unsigned *)f = n;
		return 0;
	case KT_SIZE:
		return set_size(p, k->name, v, k->min, k->max, k->range, f);
	case KT_DURATION:
		return set_duration(p, k->name, v, k->min, k->max, k->range,
		    k->example, f);
	case KT_PATH:
		return set_abs_path(p, k->name, v, k->max, k->example, f);
	case KT_MODE:
		return set_mode(p, k->name, v, k->max, k->example, f);
	case KT_OWN:
		break;
	}
	return k->set(p, v);
}

/* Sets the defaults of sec's keys in base (a config or a store). */
static void
set_defaults(enum section sec, void *base)
{
	const struct keydef	*k;
	char			*f;

	for (k = keys; k < keys + NKEYS; k++) {
		if (k->sec != sec || k->def == 0)
			continue;
		f = (char *)base + k->off;
		if (k->type == KT_UINT)
			*(unsigned *)f = k->def;
		else if (k->type == KT_MODE)
			*(mode_t *)f = k->def;
		else
			*(uint64_t *)f = k->def;
	}
}

/* Adds the db named by the n bytes at s to the current store. */
static int
add_db(struct parse *p, const char *list, const char *s, size_t n)
{
	struct cfg_store	*st = cur_store(p);
	struct sp_bytes		 name = { s, n };
	unsigned		 i;

	if (n == 0)
		return perr(p, p->lineno, "dbs = '%s' has an empty name; "
		    "separate names with single commas, e.g. dbs = a, b",
		    list);
	if (sp_name_check(name) == -1)
		return perr(p, p->lineno, "db name '%.*s' is not valid; "
		    NAME_RULE, (int)n, s);
	for (i = 0; i < st->ndbs; i++)
		if (sp_bytes_eq(name, st->dbs[i]))
			return perr(p, p->lineno, "db '%.*s' is listed twice "
			    "in dbs; list each db once", (int)n, s);
	if (st->ndbs == CFG_MAX_DBS)
		return perr(p, p->lineno, "dbs lists more than %d dbs; "
		    "split them over several stores", CFG_MAX_DBS);
	memcpy(st->dbs[st->ndbs], s, n);
	st->dbs[st->ndbs][n] = '\0';
	st->ndbs++;
	return 0;
}

/* Calls add() for each comma-separated item of v, without the blanks
 * around it.  Returns 0 or -1. */
static int
split_list(struct parse *p, const char *v,
    int (*add)(struct parse *, const char *, const char *, size_t))
{
	const char	*s = v, *e, *end;

	for (;;) {
		if ((e = strchr(s, ',')) == NULL)
			e = s + strlen(s);
		for (end = e; end > s && isspace((unsigned char)end[-1]);
		    end--)
			;
		while (s < end && isspace((unsigned char)*s))
			s++;
		if (add(p, v, s, end - s) == -1)
			return -1;
		if (*e == '\0')
			return 0;
		s = e + 1;
	}
}

static int
set_dbs(struct parse *p, const char *v)
{
	if (*v == '\0')
		return perr(p, p->lineno, "dbs is empty; list at least one "
		    "db, e.g. dbs = %s", cur_store(p)->name);
	return split_list(p, v, add_db);
}

/* A whole number (an id), or -1 when s is not one. */
static long long
numeric_id(const char *s)
{
	char		*end;
	long long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end != '\0' || v > INT32_MAX ? -1 : v;
}

/*
 * Adds a user ("name" or a numeric uid) or a group ("@name" or "@gid") to
 * the acl being read.  Names are looked up now, so a typo is an error at
 * load time, not a door that silently stays shut.
 */
static int
add_principal(struct parse *p, struct cfg_acl *acl, const char *key,
    const char *s, size_t n)
{
	char		 name[256];
	struct passwd	 pw, *pwp = NULL;
	struct group	 gr, *grp = NULL;
	char		 buf[4096];
	long long	 id;
	void		*v;
	bool		 group = n > 0 && s[0] == '@';

	if (group) {
		s++;
		n--;
	}
	if (n == 0 || n >= sizeof(name))
		return perr(p, p->lineno, "%s has an empty or overlong entry; "
		    "write user names and @group names, separated by commas",
		    key);
	memcpy(name, s, n);
	name[n] = '\0';
	if ((id = numeric_id(name)) == -1) {
		if (group)
			getgrnam_r(name, &gr, buf, sizeof(buf), &grp);
		else
			getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);
		if ((group && grp == NULL) || (!group && pwp == NULL))
			return perr(p, p->lineno, "%s: no %s named '%s' on this "
			    "host; write an existing %s name, or a numeric id",
			    key, group ? "group" : "user", name,
			    group ? "group" : "user");
		id = group ? (long long)grp->gr_gid : (long long)pwp->pw_uid;
	}
	if (group) {
		if ((v = reallocarray(acl->gids, acl->ngids + 1,
		    sizeof(*acl->gids))) == NULL)
			return perr(p, p->lineno, "out of memory");
		acl->gids = v;
		acl->gids[acl->ngids++] = (gid_t)id;
	} else {
		if ((v = reallocarray(acl->uids, acl->nuids + 1,
		    sizeof(*acl->uids))) == NULL)
			return perr(p, p->lineno, "out of memory");
		acl->uids = v;
		acl->uids[acl->nuids++] = (uid_t)id;
	}
	return 0;
}

static int
add_reader(struct parse *p, const char *list, const char *s, size_t n)
{
	(void)list;
	return add_principal(p, &cur_store(p)->readers, "readers", s, n);
}

static int
add_writer(struct parse *p, const char *list, const char *s, size_t n)
{
	(void)list;
	return add_principal(p, &cur_store(p)->writers, "writers", s, n);
}

static int
set_readers(struct parse *p, const char *v)
{
	cur_store(p)->readers.set = true;
	return *v == '\0' ? 0 : split_list(p, v, add_reader);
}

static int
set_writers(struct parse *p, const char *v)
{
	cur_store(p)->writers.set = true;
	return *v == '\0' ? 0 : split_list(p, v, add_writer);
}

static int
set_sync(struct parse *p, const char *v)
{
	struct cfg_store	*st = cur_store(p);

	if (strcmp(v, "full") == 0)
		st->sync = CFG_SYNC_FULL;
	else if (strcmp(v, "nometa") == 0)
		st->sync = CFG_SYNC_NOMETA;
	else if (strcmp(v, "none") == 0)
		st->sync = CFG_SYNC_NONE;
	else
		return perr(p, p->lineno, "sync = '%s' is not known; write "
		    "sync = full, nometa or none", v);
	return 0;
}

/* create = auto (a repo's first write makes its env) or explicit (only
 * `create` and `restore` do; a write without an env is NO_REPO). */
static int
set_create(struct parse *p, const char *v)
{
	struct cfg_store	*st = cur_store(p);

	if (strcmp(v, "auto") == 0)
		st->create_explicit = false;
	else if (strcmp(v, "explicit") == 0)
		st->create_explicit = true;
	else
		return perr(p, p->lineno, "create = '%s' is not known; write "
		    "create = auto or explicit", v);
	return 0;
}

static int
set_path(struct parse *p, const char *v)
{
	struct cfg_store	*st = cur_store(p);
	struct stat		 sb;
	char			*real;

	if (v[0] != '/')
		return perr(p, p->lineno, "path = '%s' is not an absolute "
		    "path; write the full path of the env's directory", v);
	/* Canonical, so two spellings of one directory compare equal. */
	if ((real = realpath(v, NULL)) == NULL)
		return perr(p, p->lineno, "path = %s: %s; create the "
		    "directory first or fix the path", v, strerror(errno));
	if (stat(real, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		free(real);
		return perr(p, p->lineno, "path = %s is not a directory; an "
		    "LMDB env lives in a directory of its own", v);
	}
	free(st->path);
	st->path = real;
	p->path_line[p->cur] = p->lineno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sections                                                             */
/* ------------------------------------------------------------------ */

/* The line of the current section that set key name, or 0. */
static unsigned
key_line(const struct parse *p, const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].sec == p->sec && strcmp(keys[i].name, name) == 0)
			return p->keyline[i];
	return 0;
}

/* The checks that need the whole section, and its defaults. */
static int
finish_store(struct parse *p)
{
	struct cfg_store	*st = cur_store(p);
	unsigned		 line = key_line(p, "max_dbs");

	/* An error in the section is reported already: a bad line may be
	 * the map_size or dbs these checks would miss.  No echo of it. */
	if (p->nerrs + p->more > p->sec_errs)
		return -1;
	if (key_line(p, "map_size") == 0)
		return perr(p, st->line, "[store %s] has no map_size; every "
		    "store names its own, e.g. map_size = 1GiB", st->name);
	if (st->ndbs == 0) {
		memcpy(st->dbs[0], st->name, sizeof(st->dbs[0]));
		st->ndbs = 1;
	}
	if (line == 0)
		st->max_dbs = st->ndbs;
	else if (st->max_dbs == 0 && st->ndbs > 1)
		return perr(p, line, "max_dbs = 0 means one unnamed db, but "
		    "dbs lists %u; set max_dbs = %u or list one db", st->ndbs,
		    st->ndbs);
	else if (st->max_dbs > 0 && st->max_dbs < st->ndbs)
		return perr(p, line, "max_dbs = %u is less than the %u dbs "
		    "listed; set max_dbs = %u or more", st->max_dbs, st->ndbs,
		    st->ndbs);
	return 0;
}

static int
end_section(struct parse *p)
{
	int	 rc = 0;

	if (p->sec == SEC_STORE && !p->skip)
		rc = finish_store(p);
	p->sec = SEC_NONE;
	p->skip = false;
	memset(p->keyline, 0, sizeof(p->keyline));
	return rc;
}

static int
begin_daemon(struct parse *p)
{
	if (p->daemon_line != 0)
		return perr(p, p->lineno, "[daemon] is declared twice (first "
		    "on line %u); merge the two sections", p->daemon_line);
	p->daemon_line = p->lineno;
	p->sec = SEC_DAEMON;
	p->skip = false;
	return 0;
}

static int
begin_store(struct parse *p, const char *s, size_t n)
{
	struct config		*cfg = p->cfg;
	struct cfg_store	*st;
	struct sp_bytes		 name = { s, n };
	unsigned		 i, cap;

	if (n == 0)
		return perr(p, p->lineno, "[store] needs a name; write e.g. "
		    "[store refs]");
	if (sp_name_check(name) == -1)
		return perr(p, p->lineno, "store name '%.*s' is not valid; "
		    NAME_RULE, (int)n, s);
	for (i = 0; i < cfg->nstores; i++)
		if (sp_bytes_eq(name, cfg->stores[i].name))
			return perr(p, p->lineno, "[store %s] is declared "
			    "twice (first on line %u); merge the two sections",
			    cfg->stores[i].name, cfg->stores[i].line);
	if (cfg->nstores == CFG_MAX_STORES)
		return perr(p, p->lineno, "more than %d stores; merge some "
		    "of them (a store may hold up to %d dbs)", CFG_MAX_STORES,
		    CFG_MAX_DBS);
	if (cfg->nstores == p->stores_cap) {
		cap = p->stores_cap ? p->stores_cap * 2 : 4;
		if ((st = reallocarray(cfg->stores, cap, sizeof(*st))) == NULL)
			return perr(p, p->lineno, "out of memory");
		cfg->stores = st;
		p->stores_cap = cap;
	}
	st = &cfg->stores[cfg->nstores];
	memset(st, 0, sizeof(*st));
	memcpy(st->name, s, n);
	st->sync = CFG_SYNC_FULL;
	set_defaults(SEC_STORE, st);
	st->line = p->lineno;
	p->cur = cfg->nstores++;
	p->sec = SEC_STORE;
	p->skip = false;
	return 0;
}

/*
 * A header line: s starts with '[', n bytes without the line's end.
 * Ends the current section, then starts the one named.
 */
static int
begin_section(struct parse *p, const char *s, size_t n)
{
	const char	*close, *rest, *in, *in_end;

	/* The section before ends here, even when this header is bad;
	 * its keys are skipped until the next good one. */
	(void)end_section(p);
	p->skip = true;
	p->sec_errs = p->nerrs + p->more;
	if ((close = memchr(s, ']', n)) == NULL)
		return perr(p, p->lineno, "syntax error: '[' without a "
		    "closing ']'; write [daemon] or [store NAME]");
	for (rest = close + 1; rest < s + n && isspace((unsigned char)*rest);
	    rest++)
		;
	if (rest < s + n && *rest != ';' && *rest != '#')
		return perr(p, p->lineno, "syntax error: text after ']'; "
		    "put a comment after ';'");

	in = s + 1;
	in_end = close;
	while (in < in_end && isspace((unsigned char)*in))
		in++;
	while (in_end > in && isspace((unsigned char)in_end[-1]))
		in_end--;
	if (in_end - in == 6 && memcmp(in, "daemon", 6) == 0)
		return begin_daemon(p);
	if (in_end - in >= 5 && memcmp(in, "store", 5) == 0 &&
	    (in_end - in == 5 || isspace((unsigned char)in[5]))) {
		for (in += 5; in < in_end && isspace((unsigned char)*in); in++)
			;
		return begin_store(p, in, in_end - in);
	}
	return perr(p, p->lineno, "unknown section [%.*s]; the sections are "
	    "[daemon] and [store NAME]", (int)(close - s - 1), s + 1);
}

/* ------------------------------------------------------------------ */
/* The reader and the handler inih calls                                */
/* ------------------------------------------------------------------ */

/*
 * The next physical line, its end included.  Returns 1, 0 at the end,
 * or -1 on a read error.
 */
static int
next_line(struct parse *p, const char **line, size_t *len)
{
	const char	*s, *nl;
	ssize_t		 n;

	if (p->fp == NULL) {
		s = p->text + p->off;
		if (*s == '\0')
			return 0;
		nl = strchr(s, '\n');
		*len = nl != NULL ? (size_t)(nl - s + 1) : strlen(s);
		*line = s;
		p->off += *len;
		return 1;
	}
	if ((n = getline(&p->buf, &p->bufsize, p->fp)) == -1)
		return ferror(p->fp) ? -1 : 0;
	*line = p->buf;
	*len = n;
	return 1;
}

/*
 * Mirrors inih's rule for a key line: a '=' or ':' before any inline
 * comment (a ';' after a blank).  inih would reject the line too, but
 * only tell us its number after the whole file is read.
 */
static bool
is_key_line(const char *s, size_t n)
{
	bool	 was_space = false;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (s[i] == '=' || s[i] == ':')
			return true;
		if (was_space && s[i] == ';')
			return false;
		was_space = isspace((unsigned char)s[i]);
	}
	return false;
}

/* What inih reads instead of a line found bad: nothing to say more. */
static char *
empty_line(char *str)
{
	str[0] = '\n';
	str[1] = '\0';
	return str;
}

/*
 * inih's fgets-like reader.  It hands inih one physical line per call so
 * inih's line count and ours agree, without leading blanks (which would
 * make inih glue the line onto the previous value as a continuation).
 */
static char *
read_line(char *str, int num, void *arg)
{
	struct parse	*p = arg;
	const char	*s;
	size_t		 n;
	int		 r;

	if (p->stop || p->eof)
		return NULL;
	if ((r = next_line(p, &s, &n)) == 0) {
		p->eof = true;
		end_section(p);
		return NULL;
	}
	if (r == -1) {
		pfatal(p, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	p->lineno++;
	if (memchr(s, '\0', n) != NULL) {
		perr(p, p->lineno, "the line holds a NUL byte; a "
		    "configuration file is text");
		return empty_line(str);
	}
	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	/* inih wants room for "\r\n" and the NUL; never let it split. */
	if (num < 4 || n > (size_t)num - 3) {
		perr(p, p->lineno, "line too long (%zu bytes, the limit is "
		    "%d); shorten it", n, num < 4 ? 0 : num - 3);
		return num < 2 ? NULL : empty_line(str);
	}
	if (p->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		n -= 3;
	}
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	if (n > 0 && *s == '[') {
		if (begin_section(p, s, n) == -1)
			return empty_line(str);
	} else if (n > 0 && *s != ';' && *s != '#' && !is_key_line(s, n)) {
		perr(p, p->lineno, SYNTAX_ERROR);
		return empty_line(str);
	}
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* "a, b, c": the keys of section sec, for messages. */
static const char *
key_list(enum section sec, char *buf, size_t n)
{
	size_t	 i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < NKEYS && len < n; i++)
		if (keys[i].sec == sec)
			len += snprintf(buf + len, n - len, "%s%s",
			    len > 0 ? ", " : "", keys[i].name);
	return buf;
}

static int
set_key(struct parse *p, const char *name, const char *value)
{
	char	 label[SP_NAME_MAX + 16], known[512];
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].sec == p->sec && strcmp(keys[i].name, name) == 0)
			break;
	if (i == NKEYS)
		return perr(p, p->lineno, "unknown key '%s' in %s; known "
		    "keys: %s", name, section_label(p, label, sizeof(label)),
		    key_list(p->sec, known, sizeof(known)));
	if (p->keyline[i] != 0)
		return perr(p, p->lineno, "%s is set twice in %s (first on "
		    "line %u); keep one", name,
		    section_label(p, label, sizeof(label)), p->keyline[i]);
	p->keyline[i] = p->lineno;
	return set_value(p, &keys[i], value);
}

/* Ignores inih's section: see the comment at the top. */
static int
handle_kv(void *arg, const char *section, const char *name,
    const char *value)
{
	struct parse	*p = arg;

	(void)section;
	if (p->skip)
		return 1;
	if (*name == '\0')
		perr(p, p->lineno, SYNTAX_ERROR);
	else if (p->sec == SEC_DAEMON || p->sec == SEC_STORE)
		set_key(p, name, value);
	else
		perr(p, p->lineno, "'%s' is outside any section; put it "
		    "under [daemon] or a [store NAME]", name);
	return 1;
}

static int
parse(struct parse *p)
{
	unsigned	 i;
	int		 ret;

	ret = ini_parse_stream(read_line, p, handle_kv, p);
	if (ret == -2)
		return pfatal(p, 0, "out of memory");
	/* A line inih rejected that our reader let through (inih tells
	 * only the first). */
	for (i = 0; ret > 0 && i < p->nerrs; i++)
		if (p->errs[i].line == (unsigned)ret)
			ret = 0;
	if (ret > 0)
		perr(p, ret, SYNTAX_ERROR);
	return p->stop ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* After the file: overrides, defaults, checks across stores           */
/* ------------------------------------------------------------------ */

/* path made absolute against the current directory, or NULL. */
static char *
absolute(const char *path)
{
	char	*cwd, *s;
	size_t	 n;

	if (path[0] == '/')
		return strdup(path);
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	n = strlen(cwd);
	if (asprintf(&s, "%s%s%s", cwd, n > 0 && cwd[n - 1] == '/' ? "" : "/",
	    path) == -1)
		s = NULL;
	free(cwd);
	return s;
}

/*
 * Replaces *out with path (from the command line or a default) made
 * absolute; what names where it came from, for messages.
 */
static int
set_outside_path(struct parse *p, const char *key, const char *path,
    const char *what, size_t max, char **out)
{
	char	*s;

	if (*path == '\0')
		return perr(p, 0, "the %s %s is empty; give a path", key, what);
	if ((s = absolute(path)) == NULL)
		return perr(p, 0, "cannot make the %s %s '%s' absolute: %s; "
		    "give an absolute path", key, what, path, strerror(errno));
	if (strlen(s) >= max) {
		perr(p, 0, "the %s %s '%s' is %zu bytes long; the limit is "
		    "%zu, choose a shorter path", key, what, s, strlen(s),
		    max - 1);
		free(s);
		return -1;
	}
	free(*out);
	*out = s;
	return 0;
}

static int
resolve_socket(struct parse *p, const char *override)
{
	char	 def[SUN_PATH_SIZE];

	if (override != NULL)
		return set_outside_path(p, "socket", override,
		    "given on the command line", SUN_PATH_SIZE,
		    &p->cfg->socket);
	if (p->cfg->socket != NULL)
		return 0;
	if (sp_default_socket(def, sizeof(def)) == -1)
		return perr(p, 0, "the default socket path is longer than %zu "
		    "bytes; set socket = /a/shorter/path in [daemon]",
		    sizeof(def) - 1);
	return set_outside_path(p, "socket", def, "by default",
	    SUN_PATH_SIZE, &p->cfg->socket);
}

static int
resolve_data_dir(struct parse *p, const char *override)
{
	char	 def[PATH_MAX];

	if (override != NULL)
		return set_outside_path(p, "data_dir", override,
		    "given on the command line", PATH_MAX, &p->cfg->data_dir);
	if (p->cfg->data_dir != NULL)
		return 0;
	if (sp_default_data_dir(def, sizeof(def)) == -1)
		return perr(p, 0, "no default data_dir (not root, and "
		    "$XDG_DATA_HOME and $HOME are unset or too long); set "
		    "data_dir = /path in [daemon]");
	return set_outside_path(p, "data_dir", def, "by default", PATH_MAX,
	    &p->cfg->data_dir);
}

/* True when path is dir or below it, on whole components. */
static bool
is_inside(const char *path, const char *dir)
{
	size_t	 n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/*
 * data_dir may not exist yet: then it is compared as given, less any
 * trailing slashes.  Returns NULL when out of memory.
 */
static char *
canonical_data_dir(const char *data_dir)
{
	char	*s;
	size_t	 n;

	if ((s = realpath(data_dir, NULL)) != NULL)
		return s;
	if ((s = strdup(data_dir)) == NULL)
		return NULL;
	for (n = strlen(s); n > 1 && s[n - 1] == '/'; n--)
		s[n - 1] = '\0';
	return s;
}

/*
 * A fixed path may neither be shared (two stores would open one env with
 * different map sizes and dbs) nor sit among the per-repo envs.
 */
static int
check_paths(struct parse *p)
{
	struct config		*cfg = p->cfg;
	struct cfg_store	*a, *b;
	char			*dir;
	unsigned		 i, j;

	if ((dir = canonical_data_dir(cfg->data_dir)) == NULL)
		return perr(p, 0, "out of memory");
	for (i = 0; i < cfg->nstores; i++) {
		b = &cfg->stores[i];
		if (b->path == NULL)
			continue;
		for (j = 0; j < i; j++) {
			a = &cfg->stores[j];
			if (a->path != NULL && strcmp(a->path, b->path) == 0)
				perr(p, p->path_line[i], "stores %s (path on "
				    "line %u) and %s (path on line %u) are the "
				    "same directory %s; give each store a "
				    "directory of its own", a->name,
				    p->path_line[j], b->name, p->path_line[i],
				    b->path);
		}
		if (is_inside(b->path, dir))
			perr(p, p->path_line[i], "store %s's path %s is "
			    "inside data_dir %s; the per-repo envs live there "
			    "\xE2\x80\x94 move it out", b->name, b->path, dir);
	}
	free(dir);
	return 0;
}

static int
finish(struct parse *p, const char *socket, const char *data_dir)
{
	/* Unless its one store's header was bad: no echo of that. */
	if (p->cfg->nstores == 0 && p->nerrs + p->more == 0)
		return perr(p, 0, "no store is declared; add one, e.g. "
		    "[store refs] with map_size = 256MiB");
	if (resolve_socket(p, socket) == -1 ||
	    resolve_data_dir(p, data_dir) == -1)
		return -1;
	return check_paths(p);
}

/*
 * Half the CPUs: storesd's clients are on the same host (a Unix socket)
 * and need CPU too.  Measured on 2 CPUs with 16 clients: one I/O thread
 * served 25% more gets than two, which fought the clients for the cores.
 */
static unsigned
default_io_threads(void)
{
	long	 n;

	n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
	if (n < 1)
		return 1;
	return n > IO_THREADS_CAP ? IO_THREADS_CAP : n;
}

static struct config *
config_new(const char *file)
{
	struct config	*cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	if ((cfg->file = strdup(file)) == NULL) {
		free(cfg);
		return NULL;
	}
	set_defaults(SEC_DAEMON, cfg);
	cfg->io_threads = default_io_threads();
	return cfg;
}

/* Puts oc's value of k back into nc; says whether it differed.  0 or -1. */
static int
keep_key(const struct keydef *k, struct config *nc, const struct config *oc,
    bool *differed)
{
	char		*nf = (char *)nc + k->off;
	const char	*of = (const char *)oc + k->off;
	char		*s;

	if (k->type != KT_PATH) {
		/* Numbers: their field's size is their type's. */
		size_t	 n = k->type == KT_UINT ? sizeof(unsigned) :
			    k->type == KT_MODE ? sizeof(mode_t) :
			    sizeof(uint64_t);

		*differed = memcmp(nf, of, n) != 0;
		memcpy(nf, of, n);
		return 0;
	}
	*differed = strcmp(*(char **)nf, *(char *const *)of) != 0;
	if (!*differed)
		return 0;
	if ((s = strdup(*(char *const *)of)) == NULL)
		return -1;
	free(*(char **)nf);
	*(char **)nf = s;
	return 0;
}

int
cfg_keep_restart_keys(struct config *nc, const struct config *oc,
    void (*changed)(void *arg, const char *key), void *arg)
{
	const struct keydef	*k;
	bool			 differed;

	for (k = keys; k < keys + NKEYS; k++) {
		if (k->reload != RL_RESTART)
			continue;
		if (keep_key(k, nc, oc, &differed) == -1)
			return -1;
		if (differed)
			changed(arg, k->name);
	}
	return 0;
}

struct config *
cfg_load(const char *file, const char *socket, const char *data_dir,
    char *errbuf, size_t errlen)
{
	struct parse	 p;
	struct config	*cfg = NULL;

	memset(&p, 0, sizeof(p));
	p.file = file != NULL ? file : CFG_BUILTIN;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if ((p.cfg = config_new(p.file)) == NULL) {
		perr(&p, 0, "out of memory");
		goto done;
	}
	if (file == NULL)
		p.text = builtin_conf;
	else if ((p.fp = fopen(file, "r")) == NULL) {
		perr(&p, 0, "cannot open: %s; give an existing file, or none "
		    "for the built-in default", strerror(errno));
		goto done;
	}
	if (parse(&p) == -1 || finish(&p, socket, data_dir) == -1 ||
	    p.nerrs + p.more > 0)
		goto done;
	cfg = p.cfg;
	p.cfg = NULL;
	cfg_stamp(cfg, 1);

done:
	if (cfg == NULL && p.nerrs + p.more == 0)
		perr(&p, 0, "out of memory");
	report_errs(&p, errbuf, errlen);
	if (p.fp != NULL)
		fclose(p.fp);
	free(p.buf);
	cfg_free(p.cfg);
	return cfg;
}

void
cfg_free(struct config *cfg)
{
	unsigned	 i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nstores; i++) {
		free(cfg->stores[i].path);
		free(cfg->stores[i].readers.uids);
		free(cfg->stores[i].readers.gids);
		free(cfg->stores[i].writers.uids);
		free(cfg->stores[i].writers.gids);
	}
	free(cfg->stores);
	free(cfg->socket);
	free(cfg->data_dir);
	free(cfg->file);
	free(cfg);
}

void
cfg_stamp(struct config *cfg, uint64_t gen)
{
	unsigned	 i;

	cfg->gen = gen;
	for (i = 0; i < cfg->nstores; i++) {
		cfg->stores[i].gen = gen;
		cfg->stores[i].owner = cfg;
	}
}

void
cfg_hold(const struct cfg_store *st)
{
	if (st == NULL || st->owner == NULL)
		return;
	atomic_fetch_add(&st->owner->holds, 1);
	atomic_fetch_add(&st->owner->refs, 1);
}

void
cfg_drop(const struct cfg_store *st)
{
	if (st != NULL && st->owner != NULL)
		atomic_fetch_sub(&st->owner->refs, 1);
}

bool
cfg_store_same_env(const struct cfg_store *a, const struct cfg_store *b)
{
	unsigned	 i;

	if (strcmp(a->name, b->name) != 0 || a->max_dbs != b->max_dbs ||
	    a->ndbs != b->ndbs || a->sync != b->sync ||
	    a->sync_interval_ms != b->sync_interval_ms ||
	    a->history != b->history ||
	    (a->path == NULL) != (b->path == NULL) ||
	    (a->path != NULL && strcmp(a->path, b->path) != 0))
		return false;
	for (i = 0; i < a->ndbs; i++)
		if (strcmp(a->dbs[i], b->dbs[i]) != 0)
			return false;
	return true;
}

const struct cfg_store *
cfg_store_find(const struct config *cfg, struct sp_bytes name)
{
	unsigned	 i;

	for (i = 0; i < cfg->nstores; i++)
		if (sp_bytes_eq(name, cfg->stores[i].name))
			return &cfg->stores[i];
	return NULL;
}

int
cfg_db_index(const struct cfg_store *st, struct sp_bytes db)
{
	unsigned	 i;

	if (db.p == NULL)
		return 0;
	for (i = 0; i < st->ndbs; i++)
		if (sp_bytes_eq(db, st->dbs[i]))
			return i;
	return -1;
}
