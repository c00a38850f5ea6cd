/*
 * ctl_help.c: storectl's usage lines, --help and help COMMAND, all made
 * from the option and command tables, and usage errors, which end with
 * the usage line of the command at fault.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define LIST_WIDTH	34		/* the command column in --help */
#define LINE_WIDTH	79		/* where usage lines are broken */

static const char usage_all[] =
    "usage: storectl [-s SOCKET] [-r REPO] [-d DB] [-x] COMMAND [ARGS]\n";

static void
put_cmd_names(FILE *f)
{
	size_t	 i;

	fputs("commands:", f);
	for (i = 0; i < ctl_ncmds; i++)
		fprintf(f, "%s %s", i ? "," : "", ctl_cmds[i].name);
	fputc('\n', f);
}

/* Writes "NAME OPERANDS [--long]..." of c into buf. */
static const char *
synopsis(const struct ctl_cmd *c, char *buf, size_t n)
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
put_usage(FILE *f, const struct ctl_cmd *c)
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
int
ctl_usage_error(struct ctl *ctl, const struct ctl_cmd *c, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	ctl_vwarn(fmt, ap);
	va_end(ap);
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

void
ctl_help_all(FILE *f)
{
	char	 buf[256];
	size_t	 i;

	fputs(usage_all, f);
	fputs("\n"
	    "storectl reads and writes the stores of storesd, the daemon that\n"
	    "owns the LMDB envs of this host.\n"
	    "\n"
	    "Commands:\n", f);
	for (i = 0; i < ctl_ncmds; i++) {
		synopsis(&ctl_cmds[i], buf, sizeof(buf));
		if (strlen(buf) < LIST_WIDTH) {
			fprintf(f, "  %-*s %s\n", LIST_WIDTH, buf,
			    ctl_cmds[i].summary);
			continue;
		}
		fputs("  ", f);
		put_wrapped(f, buf, 2, 6);
		fprintf(f, "\n  %-*s %s\n", LIST_WIDTH, "",
		    ctl_cmds[i].summary);
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
	    "     creating FILE or writing the snapshot into it: FD_ERROR)\n"
	    "  3  storesd reported an error; its code and message are "
	    "printed;\n"
	    "     for batch: any failure but COND_FAILED, a line that does not\n"
	    "     parse included\n"
	    "  4  no connection to storesd; the socket tried is printed\n", f);
}

void
ctl_help_cmd(FILE *f, const struct ctl_cmd *c)
{
	put_usage(f, c);
	fprintf(f, "\n%s", c->help);
	if (c->opts != 0) {
		fputs("\nOptions:\n", f);
		put_opts_help(f, c->opts);
	}
}

int
ctl_help_run(struct ctl *ctl)
{
	const struct ctl_cmd	*c;

	if (ctl->ac == 0) {
		ctl_help_all(stdout);
		return 0;
	}
	if ((c = ctl_cmd_find(ctl->av[0])) == NULL)
		return ctl_usage_error(ctl, NULL, "no command named '%s'",
		    ctl->av[0]);
	ctl_help_cmd(stdout, c);
	return 0;
}

