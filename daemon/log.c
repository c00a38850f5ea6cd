#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	verbose;
static bool	journal;

/*
 * True when stderr is journald's stream: systemd then sets
 * $JOURNAL_STREAM to its "DEVICE:INODE" (systemd.exec(5)).  Compared
 * with stderr itself, since a child of such a service inherits the
 * variable but may have its stderr elsewhere.
 */
static bool
stderr_is_journal(void)
{
	struct stat	 sb;
	const char	*v = getenv("JOURNAL_STREAM");
	uintmax_t	 dev, ino;
	int		 n = 0;

	if (v == NULL || fstat(STDERR_FILENO, &sb) == -1)
		return false;
	if (sscanf(v, "%ju:%ju%n", &dev, &ino, &n) != 2 ||
	    v[n] != '\0')
		return false;
	return dev == (uintmax_t)sb.st_dev && ino == (uintmax_t)sb.st_ino;
}

void
log_init(int verbosity)
{
	verbose = verbosity;
	journal = stderr_is_journal();
}

/*
 * "2026-12-02T11:40:00.123Z ": the time in UTC, to the millisecond, so
 * that lines from hosts in different zones sort and compare.  Returns
 * its length.
 */
static int
timestamp(char *buf, size_t n)
{
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 len;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    (len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm)) == 0)
		return 0;
	return len + snprintf(buf + len, n - len, ".%03ldZ ",
	    ts.tv_nsec / 1000000);
}

int
log_verbosity(void)
{
	return verbose;
}

/*
 * Copies src to dst with control bytes as \xNN: a newline from a client
 * (its name, say) would otherwise start a line of its own, with a <N>
 * priority of the client's choosing, in the journal.  Returns the length.
 */
static int
escape(char *dst, size_t dstlen, const char *src, int n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 ch;
	size_t		 o = 0;
	int		 i;

	for (i = 0; i < n && o + 4 < dstlen; i++) {
		ch = (unsigned char)src[i];
		if (ch >= 0x20 && ch != 0x7f) {
			dst[o++] = (char)ch;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[ch >> 4];
		dst[o++] = hex[ch & 0xf];
	}
	return (int)o;
}

static void
vlog(int pri, int with_errno, const char *fmt, va_list ap)
{
	static const char *const words[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug"
	};
	char	 line[1024], msg[1024];
	int	 saved = errno, n, m;

	if ((pri == LOG_INFO && verbose < 1) || (pri == LOG_DEBUG &&
	    verbose < 2))
		return;
	/* journald dates each line itself, and reads the level from a
	 * "<N>" prefix; anywhere else a line says when, and its level. */
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>", pri);
	else {
		n = timestamp(line, sizeof(line));
		n += snprintf(line + n, sizeof(line) - n, "storesd: %s: ",
		    words[pri]);
	}
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	if (m > (int)sizeof(msg) - 1)
		m = sizeof(msg) - 1;
	n += escape(line + n, sizeof(line) - n, msg, m);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (with_errno)
		n += snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(saved));
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line, so lines from threads never interleave. */
	(void)!write(STDERR_FILENO, line, n);
	errno = saved;
}

#define LOGFN(name, pri, e)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	 ap;					\
							\
	va_start(ap, fmt);				\
	vlog(pri, e, fmt, ap);				\
	va_end(ap);					\
}

LOGFN(log_warn, LOG_WARNING, 1)
LOGFN(log_warnx, LOG_WARNING, 0)
LOGFN(log_errx, LOG_ERR, 0)
LOGFN(log_notice, LOG_NOTICE, 0)
LOGFN(log_info, LOG_INFO, 0)
LOGFN(log_debug, LOG_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
