/*
 * ctl: storectl, storesd's command-line client.
 *
 *	storectl [-s SOCKET] [-r REPO] [-d DB] [-x] COMMAND ARGS
 *
 * Owns: the parsed command line (struct ctl: the options given, the
 * command and its operands), the one connection to storesd, and the exit
 * status.  storectl uses only the public API of libstoreclient
 * (storeclient.h) and libc.  It is split by concern, as lldpd splits
 * lldpcli:
 *
 *	ctl.c		main, the option table and getopt, checking a
 *			command line against its command, dispatch,
 *			connecting, and reporting failures
 *	ctl_cmds.c	the command table and every command but batch, help
 *	ctl_batch.c	batch: its input language, line by line, to sc_batch
 *	ctl_help.c	usage lines, --help and help COMMAND, from the tables
 *	ctl_input.c	operands and stdin as bytes (-x hex, keys, values)
 *	ctl_fmt.c	bytes as text and text as bytes, and stats' output
 *	ctl_repos.c	repos, create, drop, restore: a repository's life
 *	ctl_progress.c	snapshot and restore through a pipe of storectl's,
 *			to show their progress on a terminal
 *
 * Who calls whom (as nm of the objects shows): ctl_fmt.c calls none of
 * the others (it is unit tested alone); ctl_input.c only ctl_fail();
 * ctl_help.c reads the two tables and calls ctl_vwarn(); the commands
 * (ctl_cmds.c, ctl_batch.c) use ctl_input.c, ctl_fmt.c, usage errors
 * and ctl.c's failures and connection; ctl.c's dispatch finds a command
 * in the table and runs it, or prints help through ctl_help.c.
 *
 * A new command, or a new option of one, is a table entry and a
 * function; parsing, checking and help text follow from the tables.
 * Exit statuses are part of the interface (scripts test them): see
 * enum ctl_exit.
 */
#ifndef CTL_H
#define CTL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storeclient.h"

enum ctl_exit {
	CTL_EXIT_OK		= 0,
	CTL_EXIT_NOT_FOUND	= 1,	/* no such key or env; mget: one
					 * absent; live: none */
	CTL_EXIT_COND		= 1,	/* COND_FAILED: a condition did not
					 * hold, so nothing was written */
	CTL_EXIT_USAGE		= 2,	/* bad arguments, or a local failure */
	CTL_EXIT_DAEMON		= 3,	/* storesd reported an error */
	CTL_EXIT_BATCH		= 3,	/* batch: any failure but a condition
					 * (issue's rule: its input too) */
	CTL_EXIT_CONNECT	= 4,	/* no (working) connection */
};

/* ------------------------------------------------------------ options */


/*
 * Every option but --help and --version.  A short letter of 0 makes a
 * long-only option, which getopt_long reports as LONG_ONLY + its id.
 * Options that take a value keep it in ctl->val[id]; flags get "".
 */
enum opt_id {
	OPT_SOCKET,
	OPT_REPO,
	OPT_DB,
	OPT_HEX,
	OPT_COMPACT,
	OPT_JSON,
	OPT_IF_ABSENT,
	OPT_IF_EQUALS,
	OPT_PREFIX,
	OPT_START,
	OPT_END,
	OPT_LIMIT,
	OPT_REVERSE,
	OPT_KEYS_ONLY,
	OPT_REPLACE,
	OPT_AFTER,
	OPT_PROMETHEUS,
	OPT_FROM,
	OPT_COUNT,
	NOPTS
};

#define O(id)		(1u << (id))

struct ctl_opt {
	int		 letter;
	const char	*name;
	const char	*arg;		/* in usage text; NULL: a flag */
	const char	*help;
};

extern const struct ctl_opt ctl_opts[NOPTS];

/* -s is taken by every command, so an alias with -s works for all. */
#define OPTS_ALWAYS	O(OPT_SOCKET)

/* ----------------------------------------------------------- commands */

struct ctl;

struct ctl_cmd {
	const char	*name;
	int		 min_args;	/* operands after the name */
	int		 max_args;
	unsigned	 opts;		/* O(id) of the options it takes */
	const char	*operands;	/* for the usage line */
	const char	*summary;	/* for the command list */
	const char	*help;		/* for help COMMAND */
	int		(*run)(struct ctl *);	/* returns 0 or -1 */
};

struct ctl {
	const char		*val[NOPTS];	/* the options given */
	unsigned		 given;		/* O(id) of those */
	int			 help;
	int			 version;
	char			 bad[160];	/* the first parse error */
	char			**args;		/* the command and operands */
	int			 nargs;
	const struct ctl_cmd	*cmd;
	char			**av;		/* the operands */
	int			 ac;
	sc_conn			*conn;
	int			 status;	/* enum ctl_exit */
};

#define HAS(ctl, id)	(((ctl)->given & O(id)) != 0)
#define REPO(ctl)	((ctl)->val[OPT_REPO])
#define DB(ctl)		((ctl)->val[OPT_DB])

extern const struct ctl_cmd	ctl_cmds[];
extern const size_t	ctl_ncmds;

/* ctl_cmds.c: the command named name, or NULL. */
const struct ctl_cmd	*ctl_cmd_find(const char *name);

/* ------------------------------------------------- ctl.c: failures */

/* Prints "storectl: ", the message and a newline to stderr. */
void	ctl_vwarn(const char *fmt, va_list ap)
	    __attribute__((format(printf, 1, 0)));
/* ctl_vwarn(), and sets the exit status.  Returns -1. */
int	ctl_fail(struct ctl *ctl, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * Reports the last failure on ctl->conn and sets the exit status its
 * code calls for.  Returns -1.
 */
int	ctl_fail_sc(struct ctl *ctl);
/*
 * ctl_fail_sc() for a request of many elements: names the one
 * sc_errindex() points at, if any, as what and its number counted from 1
 * ("line 3"), the way the user counts them.  Returns -1.
 */
int	ctl_fail_sc_index(struct ctl *ctl, const char *what);
/* Connects ctl->conn to the socket -s names (else the default). */
int	ctl_connect(struct ctl *ctl);

/* --------------------------------------------------- ctl_help.c */

/* A usage error about c (NULL: none known yet): the message, c's usage
 * line, where to look.  Sets CTL_EXIT_USAGE; returns -1. */
int	ctl_usage_error(struct ctl *ctl, const struct ctl_cmd *c,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void	ctl_help_all(FILE *f);
void	ctl_help_cmd(FILE *f, const struct ctl_cmd *c);
int	ctl_help_run(struct ctl *ctl);		/* help [COMMAND] */

/* ---------------------------------------------------- ctl_repos.c */

int	ctl_repos_list(struct ctl *ctl);	/* repos [STORE] */
int	ctl_repos_create(struct ctl *ctl);	/* create [STORE] */
int	ctl_repos_drop(struct ctl *ctl);	/* drop [STORE] */
int	ctl_repos_restore(struct ctl *ctl);	/* restore STORE FILE|- */

/* ------------------------------------------------- ctl_progress.c */

/* sc_restore() from fd (sc_snapshot() into fd) for ctl's store, with its
 * progress on stderr when stderr is a terminal.  0, or -1 reported. */
int	ctl_progress_restore(struct ctl *ctl, int fd, uint64_t *size);
int	ctl_progress_snapshot(struct ctl *ctl, int fd, uint64_t *size);

/* ---------------------------------------------------- ctl_batch.c */

int	ctl_batch_run(struct ctl *ctl);		/* batch STORE */

/* ---------------------------------------------------- ctl_input.c */

/* An operand as bytes: as given, or decoded from hex with -x. */
struct ctl_blob {
	const void	*p;
	size_t		 n;
	unsigned char	*own;		/* the decoded bytes, if any */
};

/* The n bytes at s as a blob (what names it in messages). */
int	ctl_blob_get(struct ctl *ctl, const char *what, const char *s,
	    size_t n, struct ctl_blob *b);
/* The value of option id as a blob, or an empty blob if not given. */
int	ctl_blob_opt(struct ctl *ctl, int id, const char *what,
	    struct ctl_blob *b);
void	ctl_blob_free(struct ctl_blob *b);

/* Keys for mget and missing, from the operands or from stdin. */
struct ctl_keys {
	sc_bytes	*v;
	size_t		 n;
	unsigned char	*buf;		/* the bytes they point into */
	const char	*what;		/* "KEY" or "line": for messages */
	int		 from_stdin;
};

int	ctl_keys_from_args(struct ctl *ctl, char **av, int ac,
	    struct ctl_keys *ks);
int	ctl_keys_from_stdin(struct ctl *ctl, struct ctl_keys *ks);
void	ctl_keys_free(struct ctl_keys *ks);

/*
 * Says into buf why the n characters given are not hex, bad being where
 * ctl_fmt_unhex() stopped.  Returns buf.
 */
const char *ctl_hex_problem(char *buf, size_t size, size_t n, size_t bad);
/* Someone at a terminal should know that storectl waits for stdin. */
void	ctl_tty_hint(const char *what, const char *instead);
/*
 * Reads all of stdin into *out (of *len bytes, and a NUL not counted;
 * freed by the caller).  what names the data for messages.
 */
int	ctl_read_stdin(struct ctl *ctl, const char *what, unsigned char **out,
	    size_t *len);

#endif
