/*
 * ctl.c: storectl's main: the option table and getopt, checking a command
 * line against its command's entry, dispatch, the connection to storesd,
 * and how failures are reported (message and exit status).  See ctl.h
 * for the other files.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define LONG_ONLY	256
#define OPT_VERSION	(LONG_ONLY + NOPTS)

const struct ctl_opt ctl_opts[NOPTS] = {
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
	    "get, mget, scan, stats, live, repos: print JSON" },
	[OPT_IF_ABSENT] = { 0, "if-absent", NULL,
	    "put: only if KEY is absent" },
	[OPT_IF_EQUALS] = { 0, "if-equals", "OLD",
	    "put, del: only if KEY holds exactly OLD" },
	[OPT_PREFIX] = { 0, "prefix", "P",
	    "scan, watch: keys that start with P; repos: only repos" },
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
	[OPT_REPLACE] = { 0, "replace", NULL,
	    "restore: swap out the env if it exists" },
	[OPT_PROMETHEUS] = { 0, "prometheus", NULL,
	    "stats: print the Prometheus text format" },
	[OPT_AFTER] = { 0, "after", "K",
	    "scan: the keys after K (K left out): the next page" },
	[OPT_FROM] = { 0, "from", "REV",
	    "watch: the changes from revision REV on" },
	[OPT_COUNT] = { 0, "count", "N",
	    "watch: exit after N events" },
};

/* ------------------------------------------------------------ failure */

void
ctl_vwarn(const char *fmt, va_list ap)
{
	fputs("storectl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int
ctl_fail(struct ctl *ctl, int status, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	ctl_vwarn(fmt, ap);
	va_end(ap);
	ctl->status = status;
	return -1;
}

/* The exit status a library error code calls for. */
static int
sc_status(int code)
{
	switch (code) {
	case SC_ERR_NOT_FOUND:
		return CTL_EXIT_NOT_FOUND;
	case SC_ERR_COND_FAILED:
		return CTL_EXIT_COND;
	case SC_ERR_CONNECT:
	case SC_ERR_IO:
	case SC_ERR_TIMEOUT:
	case SC_ERR_PROTOCOL:
		return CTL_EXIT_CONNECT;
	case SC_ERR_NOMEM:
	case SC_ERR_INVALID:
	case SC_ERR_FD_ERROR:	/* our own file or pipe failed */
		return CTL_EXIT_USAGE;
	default:
		return CTL_EXIT_DAEMON;
	}
}

/*
 * Reports the last failure on ctl->conn and sets the exit status its
 * code calls for; at, when not NULL, says where ("line 3") after the
 * code's name.  Returns -1.
 */
static int
fail_sc_at(struct ctl *ctl, const char *at)
{
	int		 code = sc_errcode(ctl->conn), status = sc_status(code);
	const char	*name = sc_errname(code), *msg = sc_errmsg(ctl->conn);
	const char	*path = sc_socket_path(ctl->conn);

	switch (code) {
	case SC_ERR_CONNECT:
		/* The library's message names the path and asks whether
		 * storesd runs; add the path when it did not get that far. */
		if (strstr(msg, path) != NULL)
			return ctl_fail(ctl, status, "%s: %s", name, msg);
		return ctl_fail(ctl, status, "%s: %s (socket %s; is storesd "
		    "running?)", name, msg, path);
	case SC_ERR_IO:
	case SC_ERR_TIMEOUT:
	case SC_ERR_PROTOCOL:
		return ctl_fail(ctl, status, "%s: %s (storesd at %s "
		    "answered, then the exchange failed: check that it still "
		    "runs and read its log)", name, msg, path);
	default:
		/* storesd's hint says when a retry may succeed: a script
		 * retrying in a loop needs it as much as a human does. */
		if (code == SC_ERR_BUSY && sc_errretry_ms(ctl->conn) > 0)
			return ctl_fail(ctl, status, "%s: %s%s%s (retry in "
			    "%lld ms)", name, at ? at : "", at ? ": " : "",
			    msg, (long long)sc_errretry_ms(ctl->conn));
		return ctl_fail(ctl, status, "%s: %s%s%s", name, at ? at : "",
		    at ? ": " : "", msg);
	}
}

int
ctl_fail_sc(struct ctl *ctl)
{
	return fail_sc_at(ctl, NULL);
}

int
ctl_fail_sc_index(struct ctl *ctl, const char *what)
{
	char	 at[64];
	size_t	 i = sc_errindex(ctl->conn);

	if (i == SC_NOINDEX)
		return fail_sc_at(ctl, NULL);
	snprintf(at, sizeof(at), "%s %zu", what, i + 1);
	return fail_sc_at(ctl, at);
}

/* --------------------------------------------------------- connecting */

int
ctl_connect(struct ctl *ctl)
{
	sc_options	*o;

	/* Socket NULL: the default rule. */
	if ((o = sc_options_new()) == NULL ||
	    sc_options_set_path(o, ctl->val[OPT_SOCKET]) == -1 ||
	    sc_options_set_client_name(o, "storectl") == -1 ||
	    (ctl->conn = sc_connect_opts(o)) == NULL) {
		sc_options_free(o);
		return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
	}
	sc_options_free(o);
	if (sc_errcode(ctl->conn) != SC_OK)
		return ctl_fail_sc(ctl);
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
	const struct ctl_cmd	*c = ctl->cmd;
	unsigned		 extra;
	int			 id;

	if (ctl->bad[0] != '\0')
		return ctl_usage_error(ctl, c, "%s", ctl->bad);
	if ((extra = ctl->given & ~(c->opts | OPTS_ALWAYS)) != 0) {
		for (id = 0; !(extra & O(id)); id++)
			;
		if (ctl_opts[id].letter != 0)
			return ctl_usage_error(ctl, c, "%s takes no -%c (--%s) "
			    "option", c->name, ctl_opts[id].letter,
			    ctl_opts[id].name);
		return ctl_usage_error(ctl, c, "%s takes no --%s option",
		    c->name, ctl_opts[id].name);
	}
	if (ctl->ac < c->min_args)
		return ctl_usage_error(ctl, c, "%s needs %s", c->name,
		    c->operands);
	if (ctl->ac > c->max_args)
		return ctl_usage_error(ctl, c, "too many arguments for %s",
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
			ctl_help_all(stdout);
			return CTL_EXIT_OK;
		}
		ctl_usage_error(ctl, NULL, "%s", ctl->bad[0] ? ctl->bad :
		    "no command given");
		return ctl->status;
	}
	if ((ctl->cmd = ctl_cmd_find(ctl->args[0])) == NULL) {
		ctl_usage_error(ctl, NULL, "unknown command '%s'",
		    ctl->args[0]);
		return ctl->status;
	}
	if (ctl->help) {
		ctl_help_cmd(stdout, ctl->cmd);
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
