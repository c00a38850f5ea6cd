/*
 * storectl: storesd's command-line client.
 *
 *	storectl [-s SOCKET] [-r REPO] [-d DB] [-x] COMMAND ARGS
 *
 * Each command is one entry of the command table: its operands, the
 * options it takes, its help and its handler.  A new command, or a new
 * option of one, is a table entry and a function; parsing, checking and
 * help text follow from the tables.  storectl uses only the public API
 * of libstoreclient (storeclient.h) and libc.
 *
 * Exit statuses are part of the interface (scripts test them): see
 * enum ctl_exit.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_fmt.h"
#include "storeclient.h"

#define STDIN_CHUNK	(64 * 1024)	/* first read buffer for a value */
#define LIST_WIDTH	34		/* the command column in --help */
#define LINE_WIDTH	79		/* where usage lines are broken */
#define COUNTER_COLUMN	26		/* where stats' names end */

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
	NOPTS
};

#define O(id)		(1u << (id))
#define LONG_ONLY	256
#define OPT_VERSION	(LONG_ONLY + NOPTS)

static const struct ctl_opt {
	int		 letter;
	const char	*name;
	const char	*arg;		/* its value in usage text; NULL: a flag */
	const char	*help;
} ctl_opts[NOPTS] = {
	[OPT_SOCKET] = { 's', "socket", "SOCKET",
	    "storesd's socket (default: $STORESD_SOCKET, else\n"
	    "storesd's own default, here %s)" },
	[OPT_REPO] = { 'r', "repo", "REPO",
	    "the repository, e.g. ox/mnist (default: \"default\")" },
	[OPT_DB] = { 'd', "db", "DB",
	    "a named db of the store (default: its primary db)" },
	[OPT_HEX] = { 'x', "hex", NULL,
	    "keys and values are given and printed in hex" },
	[OPT_COMPACT] = { 0, "compact", NULL,
	    "snapshot: leave out free pages while copying" },
	[OPT_JSON] = { 0, "json", NULL,
	    "stats: print one JSON object" },
	[OPT_IF_ABSENT] = { 0, "if-absent", NULL,
	    "put: only if KEY is absent" },
	[OPT_IF_EQUALS] = { 0, "if-equals", "OLD",
	    "put, del: only if KEY holds exactly OLD" },
	[OPT_PREFIX] = { 0, "prefix", "P",
	    "scan: only keys that start with P" },
	[OPT_START] = { 0, "start", "K",
	    "scan: from key K on (K included)" },
	[OPT_END] = { 0, "end", "K",
	    "scan: up to key K (K left out)" },
	[OPT_LIMIT] = { 0, "limit", "N",
	    "scan: at most N entries (0: none)" },
	[OPT_REVERSE] = { 0, "reverse", NULL,
	    "scan: the last key first" },
	[OPT_KEYS_ONLY] = { 0, "keys-only", NULL,
	    "scan: print keys only, not values" },
};

/* -s is taken by every command, so an alias with -s works for all. */
#define OPTS_ALWAYS	O(OPT_SOCKET)
#define OPTS_DB		(O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_DB))
#define OPTS_KEY	(OPTS_DB | O(OPT_HEX))
#define OPTS_SCAN	(O(OPT_PREFIX) | O(OPT_START) | O(OPT_END) | \
			 O(OPT_LIMIT) | O(OPT_REVERSE) | O(OPT_KEYS_ONLY))

/* ----------------------------------------------------------- commands */

struct ctl;

struct cmd {
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
	const struct cmd	*cmd;
	char			**av;		/* the operands */
	int			 ac;
	sc_conn			*conn;
	int			 status;	/* enum ctl_exit */
};

#define HAS(ctl, id)	(((ctl)->given & O(id)) != 0)
#define REPO(ctl)	((ctl)->val[OPT_REPO])
#define DB(ctl)		((ctl)->val[OPT_DB])

static int	cmd_get(struct ctl *);
static int	cmd_put(struct ctl *);
static int	cmd_del(struct ctl *);
static int	cmd_batch(struct ctl *);
static int	cmd_mget(struct ctl *);
static int	cmd_missing(struct ctl *);
static int	cmd_count(struct ctl *);
static int	cmd_scan(struct ctl *);
static int	cmd_snapshot(struct ctl *);
static int	cmd_fork(struct ctl *);
static int	cmd_stats(struct ctl *);
static int	cmd_live(struct ctl *);
static int	cmd_ping(struct ctl *);
static int	cmd_help(struct ctl *);

static const struct cmd cmds[] = {
	{ "get", 2, 2, OPTS_KEY, "STORE KEY", "print a value",
	    "Writes the value of KEY in STORE to stdout byte for byte, with\n"
	    "nothing added.  With -x, KEY is hex and the value is printed as\n"
	    "lowercase hex and a newline.  Exit 1 when there is no such key.\n",
	    cmd_get },
	{ "put", 2, 3, OPTS_KEY | O(OPT_IF_ABSENT) | O(OPT_IF_EQUALS),
	    "STORE KEY [VALUE]", "set a value (from stdin without VALUE)",
	    "Sets KEY in STORE to VALUE, or to all of stdin up to EOF when\n"
	    "VALUE is left out, in one durable commit; the env is created by\n"
	    "its first write.  With -x, KEY and VALUE are hex (hex on stdin\n"
	    "may have whitespace around it).  Put a VALUE that starts with\n"
	    "'-' after --, e.g. storectl put refs k -- -1\n"
	    "--if-absent writes only when KEY is absent; --if-equals OLD only\n"
	    "when KEY holds exactly OLD (an absent KEY fails), like git\n"
	    "update-ref NEW OLD; OLD is hex with -x.  Not both at once.\n"
	    "exit 1: the condition did not hold (COND_FAILED); nothing\n"
	    "changed.\n",
	    cmd_put },
	{ "del", 2, 2, OPTS_KEY | O(OPT_IF_EQUALS), "STORE KEY",
	    "delete a key",
	    "Deletes KEY from STORE.  With -x, KEY is hex.  --if-equals OLD\n"
	    "deletes it only when it holds exactly OLD (hex with -x).\n"
	    "exit 1: there is no such key (NOT_FOUND), or with --if-equals\n"
	    "KEY is absent or holds another value (COND_FAILED); nothing\n"
	    "changes then.\n",
	    cmd_del },
	{ "batch", 1, 1, OPTS_KEY, "STORE",
	    "apply ops from stdin atomically",
	    "Applies the ops read from stdin, one a line, to STORE in one\n"
	    "atomic commit: all of them, or on any failure none.  Fields are\n"
	    "separated by single spaces:\n"
	    "  [@DB ]put KEY VALUE            set KEY to VALUE\n"
	    "  [@DB ]del KEY                  delete KEY (absent: no error)\n"
	    "  [@DB ]put-if-absent KEY VALUE  set KEY; fail if it exists\n"
	    "  [@DB ]expect KEY VALUE         fail unless KEY holds VALUE\n"
	    "  [@DB ]expect-absent KEY        fail if KEY exists\n"
	    "  [@DB ]clear                    delete every key of the db\n"
	    "@DB names the db of one op (default: -d DB, else the primary\n"
	    "db).  VALUE is the rest of the line after the space that ends\n"
	    "KEY: it may hold spaces, or be empty (\"put k \" sets k to the\n"
	    "empty value).  A KEY holds no space.  A line ends at a newline;\n"
	    "every other byte is kept, a carriage return too.  With -x, KEY\n"
	    "and VALUE are hex, so they may hold any byte.  Ops go to storesd\n"
	    "as they are read, so the input may be of any size; nothing is\n"
	    "applied before the end of stdin.  Prints nothing on success.\n"
	    "exit 1: an expect, expect-absent or put-if-absent did not hold\n"
	    "(COND_FAILED); its line number is printed.\n"
	    "exit 3: any other failure: a line does not parse (its number is\n"
	    "printed), stdin cannot be read, or storesd refused the batch (the\n"
	    "code is printed, and the line number when one op is at fault,\n"
	    "e.g. BAD_KEY).  Nothing is applied.  Exit 4: no connection.\n",
	    cmd_batch },
	{ "mget", 2, INT_MAX, OPTS_KEY, "STORE KEY...",
	    "print the values of many keys",
	    "Reads every KEY from one snapshot and prints those present, in\n"
	    "the order given, one a line: KEY<TAB>VALUE.  Absent keys are left\n"
	    "out.  Bytes outside printable ASCII, and tab, newline and\n"
	    "backslash, are written as \\t \\n \\\\ and \\xNN; with -x keys and\n"
	    "values are hex.  All keys go in one request, which must fit in\n"
	    "storesd's max_frame (else TOO_LARGE).\n"
	    "exit 0: every key is present.\n"
	    "exit 1: at least one is absent.\n",
	    cmd_mget },
	{ "missing", 1, INT_MAX, OPTS_KEY, "STORE [KEY...]",
	    "print the keys that are absent",
	    "Prints the KEYs that are absent from STORE, one a line, in the\n"
	    "order given, escaped as by mget (hex with -x).  Without KEY\n"
	    "arguments the keys are read from stdin, one a line (hex with\n"
	    "-x), as many as there are.\n"
	    "exit 0: whether or not any key is missing; the output says\n"
	    "which.\n",
	    cmd_missing },
	{ "count", 1, 1, OPTS_DB, "STORE", "print the number of entries",
	    "Prints the number of entries in the db of STORE and a newline;\n"
	    "0 when its env does not exist.\n",
	    cmd_count },
	{ "scan", 1, 1, OPTS_KEY | OPTS_SCAN, "STORE", "print entries in order",
	    "Prints the entries of the db of STORE in key (byte) order, one a\n"
	    "line: KEY<TAB>VALUE, or KEY with --keys-only; escaped as by mget,\n"
	    "or hex with -x.  --prefix P keeps the keys that start with P;\n"
	    "--start K and --end K the keys from K (included) up to K (left\n"
	    "out); --reverse starts from the last key; --limit N stops after\n"
	    "N entries.  With -x, P and K are hex.  Entries come a page at a\n"
	    "time, each page its own snapshot: a long scan holds nothing open\n"
	    "in storesd, and sees the writes made while it runs.\n",
	    cmd_scan },
	{ "snapshot", 2, 2, O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_COMPACT),
	    "STORE FILE", "copy an env into a new file",
	    "Writes a consistent point-in-time copy of the env of STORE to\n"
	    "FILE, which storectl creates (mode 0600) and never overwrites;\n"
	    "storesd writes through the descriptor and never opens the path.\n"
	    "The copy is an LMDB data file: mdb_dump -n FILE reads it.\n"
	    "Exit 1 when the env does not exist.  On any failure FILE is\n"
	    "removed.\n",
	    cmd_snapshot },
	{ "fork", 2, 2, O(OPT_SOCKET) | O(OPT_REPO), "STORE DST_REPO",
	    "copy the env of STORE to DST_REPO",
	    "Makes a point-in-time copy of the env of STORE in REPO (-r,\n"
	    "default \"default\") the env of STORE in DST_REPO.  Refused\n"
	    "when DST_REPO's env exists (EXISTS) or is open (BUSY), and for\n"
	    "a store with a fixed path.  Exit 1 when there is no source env.\n",
	    cmd_fork },
	{ "stats", 0, 1, O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_JSON),
	    "[STORE]", "print counters",
	    "Prints storesd's counters and those of the env of STORE (opened\n"
	    "if it exists; exit 1 if it does not), or without STORE those of\n"
	    "every open env (of REPO only with -r).  --json prints one JSON\n"
	    "object: {\"daemon\":{NAME:VALUE,...},\"envs\":[{\"repo\":R|null,\n"
	    "\"store\":S,\"dir\":D,\"counters\":{...},\"dbs\":[{\"name\":N,\n"
	    "\"counters\":{...}}]}]}; repo is null for a fixed-path store.\n",
	    cmd_stats },
	{ "live", 0, 1, O(OPT_SOCKET) | O(OPT_REPO), "[STORE]",
	    "list the open envs",
	    "Lists the envs storesd has open, of STORE only when given and of\n"
	    "REPO only with -r (else of every repo), one a line:\n"
	    "REPO<TAB>STORE<TAB>DIR<TAB>INFLIGHT<TAB>IDLE_MS\n"
	    "REPO is - for a store with a fixed path; bytes outside\n"
	    "printable ASCII, and backslash, are written as \\t \\n \\\\ and\n"
	    "\\xNN.  An env not listed is closed.\n"
	    "exit 0: at least one is open.\n"
	    "exit 1: none open, so the directories may be moved (as long as\n"
	    "no request opens them meanwhile).\n",
	    cmd_live },
	{ "ping", 0, 0, O(OPT_SOCKET), "", "print storesd's version",
	    "Asks storesd to answer and prints its name and version.\n",
	    cmd_ping },
	{ "help", 0, 1, 0, "[COMMAND]", "print a command's usage",
	    "Prints the usage of COMMAND, or of storectl.  COMMAND --help\n"
	    "does the same.\n",
	    cmd_help },
};

#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static const char usage_all[] =
    "usage: storectl [-s SOCKET] [-r REPO] [-d DB] [-x] COMMAND [ARGS]\n";

/* ------------------------------------------------------------ failure */

static int __attribute__((format(printf, 3, 4)))
fail(struct ctl *ctl, int status, const char *fmt, ...)
{
	va_list	 ap;

	fputs("storectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ctl->status = status;
	return -1;
}

static void
put_cmd_names(FILE *f)
{
	size_t	 i;

	fputs("commands:", f);
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "%s %s", i ? "," : "", cmds[i].name);
	fputc('\n', f);
}

/* Writes "NAME OPERANDS [--long]..." of c into buf. */
static const char *
synopsis(const struct cmd *c, char *buf, size_t n)
{
	size_t	 len;
	int	 id;

	len = (size_t)snprintf(buf, n, "%s%s%s", c->name,
	    *c->operands ? " " : "", c->operands);
	for (id = 0; id < NOPTS && len < n; id++) {
		if (!(c->opts & O(id)) || ctl_opts[id].letter != 0)
			continue;
		if (ctl_opts[id].arg != NULL)
			len += (size_t)snprintf(buf + len, n - len,
			    " [--%s %s]", ctl_opts[id].name, ctl_opts[id].arg);
		else
			len += (size_t)snprintf(buf + len, n - len, " [--%s]",
			    ctl_opts[id].name);
	}
	return buf;
}

/*
 * Writes s to f, col columns into a line, breaking before a " [" so that
 * no line runs past LINE_WIDTH; continuation lines start with indent
 * spaces.
 */
static void
put_wrapped(FILE *f, const char *s, size_t col, size_t indent)
{
	const char	*next;
	size_t		 len;

	while (*s != '\0') {
		next = strstr(s + 1, " [");
		len = next ? (size_t)(next - s) : strlen(s);
		if (*s == ' ' && col > indent && col + len > LINE_WIDTH) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
			s++;
			len--;
		}
		fwrite(s, 1, len, f);
		col += len;
		s += len;
	}
}

static void
put_usage(FILE *f, const struct cmd *c)
{
	char	 buf[512], syn[256];
	size_t	 len;
	int	 id;

	len = (size_t)snprintf(buf, sizeof(buf), "usage: storectl");
	for (id = 0; id < NOPTS && len < sizeof(buf); id++) {
		if (!(c->opts & O(id)) || ctl_opts[id].letter == 0)
			continue;
		if (ctl_opts[id].arg != NULL)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    " [-%c %s]", ctl_opts[id].letter,
			    ctl_opts[id].arg);
		else
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    " [-%c]", ctl_opts[id].letter);
	}
	if (len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, " %s",
		    synopsis(c, syn, sizeof(syn)));
	put_wrapped(f, buf, 0, strlen("usage: storectl "));
	putc('\n', f);
}

/* A usage error about c: the message, c's usage line, where to look. */
static int __attribute__((format(printf, 3, 4)))
usage_error(struct ctl *ctl, const struct cmd *c, const char *fmt, ...)
{
	va_list	 ap;

	fputs("storectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL) {
		put_usage(stderr, c);
		fprintf(stderr, "run 'storectl help %s' for more\n", c->name);
	} else {
		fputs(usage_all, stderr);
		put_cmd_names(stderr);
		fputs("run 'storectl --help' for more\n", stderr);
	}
	ctl->status = CTL_EXIT_USAGE;
	return -1;
}

/*
 * Reports the last failure on ctl->conn and sets the exit status its
 * code calls for; at, when not NULL, says where ("line 3") after the
 * code's name.  Returns -1.
 */
static int
fail_sc_at(struct ctl *ctl, const char *at)
{
	int		 code = sc_errcode(ctl->conn);
	const char	*name = sc_errname(code), *msg = sc_errmsg(ctl->conn);
	const char	*path = sc_socket_path(ctl->conn);
	const char	*sep = at ? ": " : "";

	if (at == NULL)
		at = "";
	switch (code) {
	case SC_ERR_NOT_FOUND:
		return fail(ctl, CTL_EXIT_NOT_FOUND, "%s: %s%s%s", name, at,
		    sep, msg);
	case SC_ERR_COND_FAILED:
		return fail(ctl, CTL_EXIT_COND, "%s: %s%s%s", name, at, sep,
		    msg);
	case SC_ERR_CONNECT:
		/* The library's message names the path and asks whether
		 * storesd runs; add the path when it did not get that far. */
		if (strstr(msg, path) != NULL)
			return fail(ctl, CTL_EXIT_CONNECT, "%s: %s", name, msg);
		return fail(ctl, CTL_EXIT_CONNECT, "%s: %s (socket %s; is "
		    "storesd running?)", name, msg, path);
	case SC_ERR_IO:
	case SC_ERR_TIMEOUT:
	case SC_ERR_PROTOCOL:
		return fail(ctl, CTL_EXIT_CONNECT, "%s: %s (storesd at %s "
		    "answered, then the exchange failed: check that it still "
		    "runs and read its log)", name, msg, path);
	case SC_ERR_NOMEM:
	case SC_ERR_INVALID:
		return fail(ctl, CTL_EXIT_USAGE, "%s: %s%s%s", name, at, sep,
		    msg);
	default:
		return fail(ctl, CTL_EXIT_DAEMON, "%s: %s%s%s", name, at, sep,
		    msg);
	}
}

static int
fail_sc(struct ctl *ctl)
{
	return fail_sc_at(ctl, NULL);
}

/*
 * fail_sc() for a request of many elements: names the one sc_errindex()
 * points at, if any, as what and its number counted from 1 ("line 3"),
 * the way the user counts them.
 */
static int
fail_sc_index(struct ctl *ctl, const char *what)
{
	char	 at[64];
	size_t	 i = sc_errindex(ctl->conn);

	if (i == SC_NOINDEX)
		return fail_sc_at(ctl, NULL);
	snprintf(at, sizeof(at), "%s %zu", what, i + 1);
	return fail_sc_at(ctl, at);
}

/* ------------------------------------------------------------- helpers */

static int
ctl_connect(struct ctl *ctl)
{
	struct sc_options	 o;

	memset(&o, 0, sizeof(o));
	o.path = ctl->val[OPT_SOCKET];		/* NULL: the default rule */
	o.client_name = "storectl";
	if ((ctl->conn = sc_connect_opts(&o)) == NULL)
		return fail(ctl, CTL_EXIT_USAGE, "out of memory");
	if (sc_errcode(ctl->conn) != SC_OK)
		return fail_sc(ctl);
	return 0;
}

/*
 * Says into buf why the n characters given are not hex, bad being where
 * fmt_unhex() stopped.  Returns buf.
 */
static const char *
hex_problem(char *buf, size_t size, size_t n, size_t bad)
{
	if (bad == n)
		snprintf(buf, size, "it has an odd number of digits (%zu); "
		    "write two digits per byte, e.g. 0a", n);
	else
		snprintf(buf, size, "character %zu is not a hex digit; write "
		    "two digits 0-9a-f per byte, e.g. 0a", bad + 1);
	return buf;
}

/* An operand as bytes: as given, or decoded from hex with -x. */
struct blob {
	const void	*p;
	size_t		 n;
	unsigned char	*own;		/* the decoded bytes, if any */
};

static int
get_blob(struct ctl *ctl, const char *what, const char *s, size_t n,
    struct blob *b)
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
		return fail(ctl, CTL_EXIT_USAGE, "out of memory for %s", what);
	if (fmt_unhex(s, n, b->own, &bad) == -1)
		return fail(ctl, CTL_EXIT_USAGE, "%s is not valid hex: %s", what,
		    hex_problem(why, sizeof(why), n, bad));
	b->p = b->own;
	b->n = n / 2;
	return 0;
}

static void
blob_free(struct blob *b)
{
	free(b->own);
	memset(b, 0, sizeof(*b));
}

/* Someone at a terminal should know that storectl waits for stdin. */
static void
tty_hint(const char *what, const char *instead)
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
static int
read_stdin(struct ctl *ctl, const char *what, unsigned char **out,
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
				fail(ctl, CTL_EXIT_USAGE, "stdin is too large");
				goto done;
			}
			cap = cap ? cap * 2 : STDIN_CHUNK;
			if ((nb = realloc(buf, cap)) == NULL) {
				fail(ctl, CTL_EXIT_USAGE, "out of memory for "
				    "%s of over %zu bytes", what, n);
				goto done;
			}
			buf = nb;
		}
		r = read(STDIN_FILENO, buf + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fail(ctl, CTL_EXIT_USAGE, "cannot read %s from stdin: "
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

/* Writes a key or value as a field: escaped, or hex with -x. */
static int
put_field(struct ctl *ctl, const void *p, size_t n)
{
	if (HAS(ctl, OPT_HEX))
		return fmt_put_hex(stdout, p, n);
	return fmt_put_cescape(stdout, p, n);
}

/* Keys for mget and missing, from the operands or from stdin. */
struct keys {
	sc_bytes	*v;
	size_t		 n;
	unsigned char	*buf;		/* the bytes they point into */
	const char	*what;		/* "KEY" or "line": for messages */
	int		 from_stdin;
};

/* Decodes the n hex digits at s in place, as the i-th (from 1) key. */
static int
unhex_key(struct ctl *ctl, const struct keys *ks, size_t i, char *s,
    size_t n)
{
	char	 why[128];
	size_t	 bad;

	if (fmt_unhex(s, n, (unsigned char *)s, &bad) == -1)
		return fail(ctl, CTL_EXIT_USAGE, "%s %zu%s is not valid hex: "
		    "%s", ks->what, i, ks->from_stdin ? ": KEY" : "",
		    hex_problem(why, sizeof(why), n, bad));
	return 0;
}

/* The keys given as operands, decoded from hex with -x. */
static int
keys_from_args(struct ctl *ctl, char **av, int ac, struct keys *ks)
{
	size_t	 i, len, total = 0;
	char	*p;

	memset(ks, 0, sizeof(*ks));
	ks->what = "KEY";
	ks->n = (size_t)ac;
	if ((ks->v = calloc(ks->n ? ks->n : 1, sizeof(*ks->v))) == NULL)
		return fail(ctl, CTL_EXIT_USAGE, "out of memory for %zu keys",
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
		return fail(ctl, CTL_EXIT_USAGE, "out of memory for %zu keys",
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
static int
keys_from_stdin(struct ctl *ctl, struct keys *ks)
{
	unsigned char	*p, *end, *nl;
	size_t		 len, lines = 0, i;

	memset(ks, 0, sizeof(*ks));
	ks->what = "line";
	ks->from_stdin = 1;
	tty_hint("keys, one a line,", "give them as arguments");
	if (read_stdin(ctl, "the keys", &ks->buf, &len) == -1)
		return -1;
	end = ks->buf + len;
	for (p = ks->buf; p < end; p = nl + 1, lines++)
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
	if ((ks->v = calloc(lines ? lines : 1, sizeof(*ks->v))) == NULL)
		return fail(ctl, CTL_EXIT_USAGE, "out of memory for %zu keys",
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

static void
keys_free(struct keys *ks)
{
	free(ks->v);
	free(ks->buf);
	memset(ks, 0, sizeof(*ks));
}

/* ----------------------------------------------------------- commands */

static int
cmd_get(struct ctl *ctl)
{
	struct blob	 key;
	void		*val = NULL;
	size_t		 vlen;
	int		 ret = -1;

	if (get_blob(ctl, "KEY", ctl->av[1], strlen(ctl->av[1]), &key) == -1 ||
	    ctl_connect(ctl) == -1)
		goto done;
	if (sc_get(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), key.p, key.n,
	    &val, &vlen) == -1) {
		fail_sc(ctl);
		goto done;
	}
	if (HAS(ctl, OPT_HEX)) {
		if (fmt_put_hex(stdout, val, vlen) == -1 ||
		    putchar('\n') == EOF)
			goto done;	/* main reports stdout's error */
	} else if (fwrite(val, 1, vlen, stdout) != vlen)
		goto done;
	ret = 0;
done:
	sc_free(val);
	blob_free(&key);
	return ret;
}

static int
cmd_put(struct ctl *ctl)
{
	struct blob	 key, val, old;
	unsigned char	*in = NULL;
	const char	*s;
	size_t		 n;
	int		 rc, ret = -1;

	if (HAS(ctl, OPT_IF_ABSENT) && HAS(ctl, OPT_IF_EQUALS))
		return usage_error(ctl, ctl->cmd, "--if-absent and --if-equals "
		    "do not go together: an absent key holds no OLD value");
	memset(&val, 0, sizeof(val));
	memset(&old, 0, sizeof(old));
	if (get_blob(ctl, "KEY", ctl->av[1], strlen(ctl->av[1]), &key) == -1)
		goto done;
	if (HAS(ctl, OPT_IF_EQUALS) && get_blob(ctl, "OLD",
	    ctl->val[OPT_IF_EQUALS], strlen(ctl->val[OPT_IF_EQUALS]),
	    &old) == -1)
		goto done;
	if (ctl->ac == 3) {
		s = ctl->av[2];
		n = strlen(s);
	} else {
		tty_hint("the value", "give it as an argument");
		if (read_stdin(ctl, "the value", &in, &n) == -1)
			goto done;
		s = (const char *)in;
		/* echo adds a newline; hex never means it. */
		if (HAS(ctl, OPT_HEX))
			fmt_trim(&s, &n);
	}
	if (get_blob(ctl, "VALUE", s, n, &val) == -1 ||
	    ctl_connect(ctl) == -1)
		goto done;
	if (HAS(ctl, OPT_IF_ABSENT))
		rc = sc_put_if_absent(ctl->conn, REPO(ctl), ctl->av[0],
		    DB(ctl), key.p, key.n, val.p, val.n);
	else if (HAS(ctl, OPT_IF_EQUALS))
		rc = sc_put_if_equals(ctl->conn, REPO(ctl), ctl->av[0],
		    DB(ctl), key.p, key.n, old.p, old.n, val.p, val.n);
	else
		rc = sc_put(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), key.p,
		    key.n, val.p, val.n);
	if (rc == -1) {
		fail_sc(ctl);
		goto done;
	}
	ret = 0;
done:
	blob_free(&old);
	blob_free(&val);
	blob_free(&key);
	free(in);
	return ret;
}

static int
cmd_del(struct ctl *ctl)
{
	struct blob	 key, old;
	int		 rc, ret = -1;

	memset(&old, 0, sizeof(old));
	if (get_blob(ctl, "KEY", ctl->av[1], strlen(ctl->av[1]), &key) == -1)
		goto done;
	if (HAS(ctl, OPT_IF_EQUALS) && get_blob(ctl, "OLD",
	    ctl->val[OPT_IF_EQUALS], strlen(ctl->val[OPT_IF_EQUALS]),
	    &old) == -1)
		goto done;
	if (ctl_connect(ctl) == -1)
		goto done;
	if (HAS(ctl, OPT_IF_EQUALS))
		rc = sc_del_if_equals(ctl->conn, REPO(ctl), ctl->av[0],
		    DB(ctl), key.p, key.n, old.p, old.n);
	else
		rc = sc_del(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), key.p,
		    key.n);
	if (rc == -1) {
		fail_sc(ctl);
		goto done;
	}
	ret = 0;
done:
	blob_free(&old);
	blob_free(&key);
	return ret;
}

/*
 * Unlinks path if it still is the file we created (sb), so that cleaning
 * up never removes a file someone else put there meanwhile.
 */
static void
remove_created(const char *path, const struct stat *sb)
{
	struct stat	 now;

	if (lstat(path, &now) == -1 || now.st_dev != sb->st_dev ||
	    now.st_ino != sb->st_ino)
		return;
	if (unlink(path) == -1)
		fprintf(stderr, "storectl: cannot remove the incomplete %s: "
		    "%s; remove it by hand\n", path, strerror(errno));
}

static int
cmd_snapshot(struct ctl *ctl)
{
	const char	*file = ctl->av[1];
	struct stat	 sb;
	int		 fd, ret = -1;

	/* O_EXCL: never truncate a file, nor follow a symlink to one. */
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST)
		return fail(ctl, CTL_EXIT_USAGE, "%s exists; snapshot never "
		    "overwrites a file: remove it or choose a new name", file);
	if (fd == -1)
		return fail(ctl, CTL_EXIT_USAGE, "cannot create %s: %s", file,
		    strerror(errno));
	if (fstat(fd, &sb) == -1) {
		fail(ctl, CTL_EXIT_USAGE, "%s: %s", file, strerror(errno));
		close(fd);
		unlink(file);
		return -1;
	}
	if (ctl_connect(ctl) == -1)
		goto done;
	if (sc_snapshot(ctl->conn, REPO(ctl), ctl->av[0], fd,
	    HAS(ctl, OPT_COMPACT), NULL) == -1) {
		fail_sc(ctl);
		goto done;
	}
	/* A snapshot is a backup: on disk before we say it is done. */
	if (fsync(fd) == -1) {
		fail(ctl, CTL_EXIT_USAGE, "cannot sync %s: %s", file,
		    strerror(errno));
		goto done;
	}
	ret = 0;
done:
	if (close(fd) == -1 && ret == 0)
		ret = fail(ctl, CTL_EXIT_USAGE, "cannot write %s: %s", file,
		    strerror(errno));
	if (ret == -1)
		remove_created(file, &sb);
	return ret;
}

static int
cmd_fork(struct ctl *ctl)
{
	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_fork(ctl->conn, REPO(ctl), ctl->av[0], ctl->av[1]) == -1)
		return fail_sc(ctl);
	return 0;
}

/* ------------------------------------------------------------- batch */

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
	return fail(ctl, CTL_EXIT_BATCH, "line %zu: %s%s; nothing was applied",
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
	if (fmt_unhex(p, *n, (unsigned char *)p, &bad) == -1)
		return line_error(ctl, l, "%s is not valid hex: %s", what,
		    hex_problem(why, sizeof(why), *n, bad));
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
		if (fmt_cescape(shown, sizeof(shown) - 3, name, len) < len)
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
static int
cmd_batch(struct ctl *ctl)
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
		fail_sc(ctl);
		goto done;
	}
	tty_hint("ops, one a line,", NULL);
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
			fail_sc_index(ctl, "line");
			goto done;
		}
	}
	if (!feof(stdin)) {
		fail(ctl, CTL_EXIT_BATCH, "cannot read line %zu of stdin: %s; "
		    "nothing was applied", no + 1, strerror(errno));
		goto done;
	}
	rc = sc_batch_commit(b);
	b = NULL;
	if (rc == -1) {
		fail_sc_index(ctl, "line");
		goto done;
	}
	ret = 0;
done:
	sc_batch_abort(b);
	free(line);
	return ret;
}

/* ------------------------------------------------------ many keys, scan */

static int
cmd_mget(struct ctl *ctl)
{
	struct keys	 ks;
	sc_bytes	*vals = NULL;
	size_t		 i;
	int		 absent = 0, ret = -1;

	if (keys_from_args(ctl, ctl->av + 1, ctl->ac - 1, &ks) == -1 ||
	    ctl_connect(ctl) == -1)
		goto done;
	if (sc_mget(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), ks.v, ks.n,
	    &vals) == -1) {
		fail_sc_index(ctl, ks.what);
		goto done;
	}
	for (i = 0; i < ks.n; i++) {
		if (vals[i].p == NULL) {
			absent = 1;
			continue;
		}
		if (put_field(ctl, ks.v[i].p, ks.v[i].n) == -1 ||
		    putchar('\t') == EOF ||
		    put_field(ctl, vals[i].p, vals[i].n) == -1 ||
		    putchar('\n') == EOF)
			goto done;	/* main reports stdout's error */
	}
	/* Not a failure: scripts ask whether all were there. */
	if (absent)
		ctl->status = CTL_EXIT_NOT_FOUND;
	ret = 0;
done:
	sc_free(vals);
	keys_free(&ks);
	return ret;
}

static int
cmd_missing(struct ctl *ctl)
{
	struct keys	 ks;
	size_t		*miss = NULL, nmiss = 0, i;
	const sc_bytes	*k;
	int		 ret = -1;

	if ((ctl->ac > 1 ? keys_from_args(ctl, ctl->av + 1, ctl->ac - 1,
	    &ks) : keys_from_stdin(ctl, &ks)) == -1 || ctl_connect(ctl) == -1)
		goto done;
	if (sc_missing(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), ks.v, ks.n,
	    &miss, &nmiss) == -1) {
		fail_sc_index(ctl, ks.what);
		goto done;
	}
	for (i = 0; i < nmiss; i++) {
		k = &ks.v[miss[i]];
		if (put_field(ctl, k->p, k->n) == -1 || putchar('\n') == EOF)
			goto done;
	}
	ret = 0;
done:
	sc_free(miss);
	keys_free(&ks);
	return ret;
}

static int
cmd_count(struct ctl *ctl)
{
	uint64_t	 n;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_count(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), &n) == -1)
		return fail_sc(ctl);
	printf("%" PRIu64 "\n", n);
	return 0;
}

/* --limit N: a decimal count, nothing else (no sign, no space). */
static int
get_limit(struct ctl *ctl, uint64_t *limit)
{
	const char		*s = ctl->val[OPT_LIMIT];
	char			*end;
	unsigned long long	 v;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		goto bad;
	if (errno == ERANGE || v > UINT64_MAX)
		return usage_error(ctl, ctl->cmd, "--limit %s is too large",
		    s);
	*limit = v;
	return 0;
bad:
	return usage_error(ctl, ctl->cmd, "--limit needs a decimal number of "
	    "entries, not '%s'", s);
}

/* Pages are fetched as the loop goes: never all entries at once. */
static int
cmd_scan(struct ctl *ctl)
{
	struct sc_scan_opts	 o;
	struct blob		 prefix, start, end;
	sc_scan			*sc = NULL;
	const void		*k, *v;
	size_t			 kl, vl;
	int			 rc, ret = -1;

	memset(&o, 0, sizeof(o));
	memset(&prefix, 0, sizeof(prefix));
	memset(&start, 0, sizeof(start));
	memset(&end, 0, sizeof(end));
	if (HAS(ctl, OPT_LIMIT)) {
		if (get_limit(ctl, &o.limit) == -1)
			goto done;
		o.has_limit = 1;
	}
	if ((HAS(ctl, OPT_PREFIX) && get_blob(ctl, "--prefix P",
	    ctl->val[OPT_PREFIX], strlen(ctl->val[OPT_PREFIX]), &prefix) == -1) ||
	    (HAS(ctl, OPT_START) && get_blob(ctl, "--start K",
	    ctl->val[OPT_START], strlen(ctl->val[OPT_START]), &start) == -1) ||
	    (HAS(ctl, OPT_END) && get_blob(ctl, "--end K", ctl->val[OPT_END],
	    strlen(ctl->val[OPT_END]), &end) == -1))
		goto done;
	o.prefix = prefix.p;
	o.prefix_len = prefix.n;
	o.start = start.p;
	o.start_len = start.n;
	o.end = end.p;
	o.end_len = end.n;
	o.reverse = HAS(ctl, OPT_REVERSE);
	o.keys_only = HAS(ctl, OPT_KEYS_ONLY);
	if (ctl_connect(ctl) == -1)
		goto done;
	if ((sc = sc_scan_begin(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl),
	    &o)) == NULL) {
		fail_sc(ctl);
		goto done;
	}
	while ((rc = sc_scan_next(sc, &k, &kl, &v, &vl)) == 1) {
		if (put_field(ctl, k, kl) == -1 ||
		    (!o.keys_only && (putchar('\t') == EOF ||
		    put_field(ctl, v, vl) == -1)) ||
		    putchar('\n') == EOF)
			goto done;	/* main reports stdout's error */
	}
	if (rc == -1) {
		fail_sc(ctl);
		goto done;
	}
	ret = 0;
done:
	sc_scan_end(sc);
	blob_free(&end);
	blob_free(&start);
	blob_free(&prefix);
	return ret;
}

/* ------------------------------------------------------------- stats */

/* Values line up in one column whatever the indent. */
static void
put_counters_text(const char *indent, const sc_counter *c, size_t n)
{
	int	 width = COUNTER_COLUMN - (int)strlen(indent);
	size_t	 i;

	for (i = 0; i < n; i++)
		printf("%s%-*s %" PRIu64 "\n", indent, width, c[i].name,
		    c[i].value);
}

static void
put_stats_text(const sc_stats *s)
{
	const sc_stats_env	*e;
	size_t			 i, j;

	printf("daemon\n");
	put_counters_text("  ", s->daemon, s->ndaemon);
	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		fputs("env ", stdout);
		fmt_put_cescape(stdout, e->store, strlen(e->store));
		if (e->repo != NULL) {
			fputs(" (repo ", stdout);
			fmt_put_cescape(stdout, e->repo, strlen(e->repo));
			fputs(")\n", stdout);
		} else
			fputs(" (fixed path)\n", stdout);
		printf("  %-*s ", COUNTER_COLUMN - 2, "dir");
		fmt_put_cescape(stdout, e->dir, strlen(e->dir));
		putchar('\n');
		put_counters_text("  ", e->counters, e->ncounters);
		for (j = 0; j < e->ndbs; j++) {
			fputs("  db ", stdout);
			fmt_put_cescape(stdout, e->dbs[j].name,
			    strlen(e->dbs[j].name));
			putchar('\n');
			put_counters_text("    ", e->dbs[j].counters,
			    e->dbs[j].ncounters);
		}
	}
}

static void
put_json_str(const char *s)
{
	if (s == NULL)
		fputs("null", stdout);
	else
		fmt_put_json_str(stdout, s, strlen(s));
}

static void
put_counters_json(const sc_counter *c, size_t n)
{
	size_t	 i;

	putchar('{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			putchar(',');
		put_json_str(c[i].name);
		printf(":%" PRIu64, c[i].value);
	}
	putchar('}');
}

static void
put_stats_json(const sc_stats *s)
{
	const sc_stats_env	*e;
	size_t			 i, j;

	fputs("{\"daemon\":", stdout);
	put_counters_json(s->daemon, s->ndaemon);
	fputs(",\"envs\":[", stdout);
	for (i = 0; i < s->nenvs; i++) {
		e = &s->envs[i];
		fputs(i > 0 ? ",{\"repo\":" : "{\"repo\":", stdout);
		put_json_str(e->repo);
		fputs(",\"store\":", stdout);
		put_json_str(e->store);
		fputs(",\"dir\":", stdout);
		put_json_str(e->dir);
		fputs(",\"counters\":", stdout);
		put_counters_json(e->counters, e->ncounters);
		fputs(",\"dbs\":[", stdout);
		for (j = 0; j < e->ndbs; j++) {
			fputs(j > 0 ? ",{\"name\":" : "{\"name\":", stdout);
			put_json_str(e->dbs[j].name);
			fputs(",\"counters\":", stdout);
			put_counters_json(e->dbs[j].counters,
			    e->dbs[j].ncounters);
			putchar('}');
		}
		fputs("]}", stdout);
	}
	fputs("]}\n", stdout);
}

/* Write errors on stdout are reported once, by main. */
static int
cmd_stats(struct ctl *ctl)
{
	sc_stats	*s = NULL;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_get_stats(ctl->conn, REPO(ctl), ctl->ac ? ctl->av[0] : NULL,
	    &s) == -1)
		return fail_sc(ctl);
	if (HAS(ctl, OPT_JSON))
		put_stats_json(s);
	else
		put_stats_text(s);
	sc_stats_free(s);
	return 0;
}

/* -------------------------------------------------------------- live */

static int
cmd_live(struct ctl *ctl)
{
	const sc_live_env	*e;
	sc_live			*l = NULL;
	size_t			 i;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_get_live(ctl->conn, REPO(ctl), ctl->ac ? ctl->av[0] : NULL,
	    &l) == -1)
		return fail_sc(ctl);
	for (i = 0; i < l->n; i++) {
		e = &l->envs[i];
		if (e->repo != NULL)
			fmt_put_cescape(stdout, e->repo, strlen(e->repo));
		else
			putchar('-');
		putchar('\t');
		fmt_put_cescape(stdout, e->store, strlen(e->store));
		putchar('\t');
		fmt_put_cescape(stdout, e->dir, strlen(e->dir));
		printf("\t%" PRIu64 "\t%" PRIu64 "\n", e->inflight,
		    e->idle_ms);
	}
	/* Not a failure: scripts ask whether the dirs may be moved. */
	if (l->n == 0)
		ctl->status = CTL_EXIT_NOT_FOUND;
	sc_live_free(l);
	return 0;
}

static int
cmd_ping(struct ctl *ctl)
{
	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_ping(ctl->conn) == -1)
		return fail_sc(ctl);
	printf("%s\n", sc_server_version(ctl->conn));
	return 0;
}

/* -------------------------------------------------------------- help */

static const struct cmd *
find_cmd(const char *name)
{
	size_t	 i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/* Writes the lines describing the options in mask. */
static void
put_opts_help(FILE *f, unsigned mask)
{
	char		 left[64], sock[256], text[512];
	const char	*help;
	int		 id;

	for (id = 0; id < NOPTS; id++) {
		if (!(mask & O(id)))
			continue;
		if (ctl_opts[id].letter != 0)
			snprintf(left, sizeof(left), "-%c, --%s%s%s",
			    ctl_opts[id].letter, ctl_opts[id].name,
			    ctl_opts[id].arg ? " " : "",
			    ctl_opts[id].arg ? ctl_opts[id].arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s",
			    ctl_opts[id].name, ctl_opts[id].arg ? " " : "",
			    ctl_opts[id].arg ? ctl_opts[id].arg : "");
		help = ctl_opts[id].help;
		if (id == OPT_SOCKET) {
			if (sc_default_socket(sock, sizeof(sock)) == -1)
				strcpy(sock, "(too long)");
			snprintf(text, sizeof(text), help, sock);
			help = text;
		}
		fprintf(f, "  %-22s ", left);
		/* Continuation lines line up under the first. */
		for (; *help != '\0'; help++) {
			putc(*help, f);
			if (*help == '\n')
				fprintf(f, "  %-22s ", "");
		}
		putc('\n', f);
	}
}

static void
put_help_all(FILE *f)
{
	char	 buf[256];
	size_t	 i;

	fputs(usage_all, f);
	fputs("\n"
	    "storectl reads and writes the stores of storesd, the daemon that\n"
	    "owns the LMDB envs of this host.\n"
	    "\n"
	    "Commands:\n", f);
	for (i = 0; i < NCMDS; i++) {
		synopsis(&cmds[i], buf, sizeof(buf));
		if (strlen(buf) < LIST_WIDTH) {
			fprintf(f, "  %-*s %s\n", LIST_WIDTH, buf,
			    cmds[i].summary);
			continue;
		}
		fputs("  ", f);
		put_wrapped(f, buf, 2, 6);
		fprintf(f, "\n  %-*s %s\n", LIST_WIDTH, "", cmds[i].summary);
	}
	fputs("\nOptions (before or after the command; -- ends them):\n", f);
	put_opts_help(f, (1u << NOPTS) - 1);
	fputs("  -h, --help             this text; with a COMMAND, its usage\n"
	    "      --version          print storectl's version\n"
	    "\n"
	    "Exit status (help COMMAND tells where a command differs):\n"
	    "  0  success; for missing, whether or not a key is missing\n"
	    "  1  not found: no such key or env; a condition did not hold\n"
	    "     (COND_FAILED: put, del, batch); for mget: a key is absent;\n"
	    "     for live: none open, so the directories may be moved\n"
	    "  2  usage error (bad arguments, bad hex, unknown command, an\n"
	    "     existing snapshot FILE), or a local failure (stdin, stdout,\n"
	    "     creating FILE)\n"
	    "  3  storesd reported an error; its code and message are "
	    "printed;\n"
	    "     for batch: any failure but COND_FAILED, a line that does not\n"
	    "     parse included\n"
	    "  4  no connection to storesd; the socket tried is printed\n", f);
}

static void
put_help_cmd(FILE *f, const struct cmd *c)
{
	put_usage(f, c);
	fprintf(f, "\n%s", c->help);
	if (c->opts != 0) {
		fputs("\nOptions:\n", f);
		put_opts_help(f, c->opts);
	}
}

static int
cmd_help(struct ctl *ctl)
{
	const struct cmd	*c;

	if (ctl->ac == 0) {
		put_help_all(stdout);
		return 0;
	}
	if ((c = find_cmd(ctl->av[0])) == NULL)
		return usage_error(ctl, NULL, "no command named '%s'",
		    ctl->av[0]);
	put_help_cmd(stdout, c);
	return 0;
}

/* ------------------------------------------------------------ parsing */

/* getopt_long's tables, from ctl_opts. */
static void
getopt_tables(char *shortopts, size_t n, struct option *longopts)
{
	size_t	 len;
	int	 id;

	/* "-": operands come back as 1, in order, whatever POSIXLY_CORRECT
	 * says; ":": we word the errors ourselves. */
	len = (size_t)snprintf(shortopts, n, "-:h");
	for (id = 0; id < NOPTS; id++) {
		longopts[id].name = ctl_opts[id].name;
		longopts[id].has_arg = ctl_opts[id].arg ? required_argument :
		    no_argument;
		longopts[id].flag = NULL;
		longopts[id].val = ctl_opts[id].letter ? ctl_opts[id].letter :
		    LONG_ONLY + id;
		if (ctl_opts[id].letter != 0 && len + 3 <= n)
			len += (size_t)snprintf(shortopts + len, n - len,
			    "%c%s", ctl_opts[id].letter,
			    ctl_opts[id].arg ? ":" : "");
	}
	longopts[NOPTS] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[NOPTS + 1] = (struct option){ "version", no_argument, NULL,
	    OPT_VERSION };
	longopts[NOPTS + 2] = (struct option){ NULL, 0, NULL, 0 };
}

/* The id of the option getopt_long returned as ch, or -1. */
static int
opt_id(int ch)
{
	int	 id;

	for (id = 0; id < NOPTS; id++)
		if (ch == (ctl_opts[id].letter ? ctl_opts[id].letter :
		    LONG_ONLY + id))
			return id;
	return -1;
}

/* Words a getopt error; only the first is kept. */
static void
parse_error(struct ctl *ctl, int ch, const char *arg)
{
	int	 id = opt_id(optopt);

	if (ctl->bad[0] != '\0')
		return;
	if (ch == ':' && id >= 0 && ctl_opts[id].letter != 0)
		snprintf(ctl->bad, sizeof(ctl->bad), "option -%c (--%s) needs "
		    "a value", ctl_opts[id].letter, ctl_opts[id].name);
	else if (ch == ':' && id >= 0)
		snprintf(ctl->bad, sizeof(ctl->bad), "option --%s needs a "
		    "value", ctl_opts[id].name);
	else if (id >= 0)
		snprintf(ctl->bad, sizeof(ctl->bad), "option --%s takes no "
		    "value", ctl_opts[id].name);
	else if (optopt > 0 && optopt < LONG_ONLY)
		snprintf(ctl->bad, sizeof(ctl->bad), "unknown option -%c (an "
		    "argument starting with '-' goes after --)", optopt);
	else
		snprintf(ctl->bad, sizeof(ctl->bad), "unknown option %s (an "
		    "argument starting with '-' goes after --)", arg);
}

/*
 * Collects the options into ctl and the command and its operands, in
 * order, into ctl->args.  Errors are kept in ctl->bad, to be reported
 * once the command is known.  Returns 0, or -1 when out of memory.
 */
static int
parse_args(struct ctl *ctl, int argc, char **argv)
{
	char		 shortopts[4 + 2 * NOPTS];
	struct option	 longopts[NOPTS + 3];
	int		 ch, id;

	if ((ctl->args = calloc((size_t)argc + 1, sizeof(*ctl->args))) == NULL)
		return -1;
	getopt_tables(shortopts, sizeof(shortopts), longopts);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts,
	    NULL)) != -1) {
		if (ch == 1)
			ctl->args[ctl->nargs++] = optarg;
		else if (ch == 'h')
			ctl->help = 1;
		else if (ch == OPT_VERSION)
			ctl->version = 1;
		else if ((id = opt_id(ch)) >= 0) {
			ctl->given |= O(id);
			ctl->val[id] = optarg ? optarg : "";
		} else
			parse_error(ctl, ch, argv[optind - 1]);
	}
	while (optind < argc)
		ctl->args[ctl->nargs++] = argv[optind++];
	return 0;
}

/* Checks the command line against the command's entry. */
static int
check_cmd(struct ctl *ctl)
{
	const struct cmd	*c = ctl->cmd;
	unsigned		 extra;
	int			 id;

	if (ctl->bad[0] != '\0')
		return usage_error(ctl, c, "%s", ctl->bad);
	if ((extra = ctl->given & ~(c->opts | OPTS_ALWAYS)) != 0) {
		for (id = 0; !(extra & O(id)); id++)
			;
		if (ctl_opts[id].letter != 0)
			return usage_error(ctl, c, "%s takes no -%c (--%s) "
			    "option", c->name, ctl_opts[id].letter,
			    ctl_opts[id].name);
		return usage_error(ctl, c, "%s takes no --%s option", c->name,
		    ctl_opts[id].name);
	}
	if (ctl->ac < c->min_args)
		return usage_error(ctl, c, "%s needs %s", c->name,
		    c->operands);
	if (ctl->ac > c->max_args)
		return usage_error(ctl, c, "too many arguments for %s",
		    c->name);
	return 0;
}

/* Runs what the command line asks for; returns the exit status. */
static int
dispatch(struct ctl *ctl)
{
	if (ctl->version) {
		printf("storectl %s (libstoreclient %d.%d.%d)\n",
		    STORESD_VERSION, SC_VERSION_MAJOR, SC_VERSION_MINOR,
		    SC_VERSION_PATCH);
		return CTL_EXIT_OK;
	}
	if (ctl->nargs == 0) {
		if (ctl->help) {
			put_help_all(stdout);
			return CTL_EXIT_OK;
		}
		usage_error(ctl, NULL, "%s", ctl->bad[0] ? ctl->bad :
		    "no command given");
		return ctl->status;
	}
	if ((ctl->cmd = find_cmd(ctl->args[0])) == NULL) {
		usage_error(ctl, NULL, "unknown command '%s'", ctl->args[0]);
		return ctl->status;
	}
	if (ctl->help) {
		put_help_cmd(stdout, ctl->cmd);
		return CTL_EXIT_OK;
	}
	ctl->av = ctl->args + 1;
	ctl->ac = ctl->nargs - 1;
	if (check_cmd(ctl) == -1)
		return ctl->status;
	if (ctl->cmd->run(ctl) == -1 && ctl->status == CTL_EXIT_OK)
		ctl->status = CTL_EXIT_USAGE;	/* stdout failed: main says */
	return ctl->status;
}

int
main(int argc, char **argv)
{
	struct ctl	 ctl;
	int		 status;

	memset(&ctl, 0, sizeof(ctl));
	if (parse_args(&ctl, argc, argv) == -1) {
		fputs("storectl: out of memory\n", stderr);
		return CTL_EXIT_USAGE;
	}
	status = dispatch(&ctl);
	sc_close(ctl.conn);
	free(ctl.args);
	/* Output is the point of most commands: a lost write is failure. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "storectl: cannot write to stdout: %s\n",
		    strerror(errno));
		if (status == CTL_EXIT_OK || status == CTL_EXIT_NOT_FOUND)
			status = CTL_EXIT_USAGE;
	}
	return status;
}
