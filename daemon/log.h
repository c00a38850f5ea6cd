/*
 * log: storesd's logging.
 *
 * Owns: every line storesd writes to stderr.  One line per event: under
 * journald (stderr is $JOURNAL_STREAM), with a syslog priority prefix
 * ("<3>") that journald turns into a level; anywhere else with the time
 * (ISO 8601, UTC, milliseconds) and a level word.  Safe from any thread:
 * a line is one write(2).  Messages start with the function that logs
 * them.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

/* verbosity: 0 logs notices and worse, 1 adds info, 2 adds debug. */
void	log_init(int verbosity);
int	log_verbosity(void);

/* log_warn appends ": strerror(errno)"; the x forms do not. */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at LOG_CRIT and exit(1). */
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
