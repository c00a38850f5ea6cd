#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int	verbose;
static int	tty;

void
log_init(int verbosity)
{
	verbose = verbosity;
	tty = isatty(STDERR_FILENO);
}

int
log_verbosity(void)
{
	return verbose;
}

static void
vlog(int pri, int with_errno, const char *fmt, va_list ap)
{
	static const char *const words[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug"
	};
	char	 line[1024];
	int	 saved = errno, n, m;

	if ((pri == LOG_INFO && verbose < 1) || (pri == LOG_DEBUG &&
	    verbose < 2))
		return;
	if (tty)
		n = snprintf(line, sizeof(line), "storesd: %s: ", words[pri]);
	else
		n = snprintf(line, sizeof(line), "<%d>", pri);
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
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
