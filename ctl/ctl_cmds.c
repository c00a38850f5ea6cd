/*
 * ctl_cmds.c: storectl's commands: the command table (operands, options,
 * help text and handler of each) and the handler of every command but
 * batch (ctl_batch.c) and help (ctl_help.c).  A handler checks its
 * operands, connects, makes its one library call and prints the result.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_fmt.h"

#define OPTS_DB		(O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_DB))
#define OPTS_KEY	(OPTS_DB | O(OPT_HEX))
#define OPTS_SCAN	(O(OPT_PREFIX) | O(OPT_START) | O(OPT_END) | \
			 O(OPT_LIMIT) | O(OPT_REVERSE) | O(OPT_KEYS_ONLY) | \
			 O(OPT_AFTER) | O(OPT_JSON))

static int	cmd_get(struct ctl *);
static int	cmd_put(struct ctl *);
static int	cmd_del(struct ctl *);
static int	cmd_mget(struct ctl *);
static int	cmd_missing(struct ctl *);
static int	cmd_count(struct ctl *);
static int	cmd_scan(struct ctl *);
static int	cmd_snapshot(struct ctl *);
static int	cmd_fork(struct ctl *);
static int	cmd_stats(struct ctl *);
static int	cmd_live(struct ctl *);
static void	live_json(const sc_live *);
static int	cmd_ping(struct ctl *);
static int	cmd_watch(struct ctl *);
static int	cmd_rev(struct ctl *);

const struct ctl_cmd ctl_cmds[] = {
	{ "get", 2, 2, OPTS_KEY | O(OPT_JSON), "STORE KEY", "print a value",
	    "Writes the value of KEY in STORE to stdout byte for byte, with\n"
	    "nothing added.  With -x, KEY is hex and the value is printed as\n"
	    "lowercase hex and a newline.  --json prints {\"key\":K,\n"
	    "\"value\":V} and a newline (see JSON below).  Exit 1 when there\n"
	    "is no such key.\n",
	    cmd_get },
	{ "put", 2, 3, OPTS_KEY | O(OPT_IF_ABSENT) | O(OPT_IF_EQUALS),
	    "STORE KEY VALUE|-", "set a value (from stdin with -)",
	    "Sets KEY in STORE to VALUE, or with - to all of stdin up to EOF,\n"
	    "in one durable commit; the env is created by its first write\n"
	    "(unless the store has create = explicit).  A missing VALUE is a\n"
	    "usage error: stdin is read only when asked.  With -x, KEY and\n"
	    "VALUE are hex (hex on stdin may have whitespace around it).  Put\n"
	    "a VALUE that starts with '-' after --, e.g. storectl put refs k\n"
	    "-- -1; the value - itself is -x 2d.\n"
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
	    "as they are read, and storesd holds them until the end of stdin:\n"
	    "up to its max_batch (default 256MiB) per connection; more fails\n"
	    "with TOO_LARGE.  Nothing is applied before the end of stdin.\n"
	    "Prints nothing on success.\n"
	    "exit 1: an expect, expect-absent or put-if-absent did not hold\n"
	    "(COND_FAILED); its line number is printed.\n"
	    "exit 3: any other failure: a line does not parse (its number is\n"
	    "printed), stdin cannot be read, or storesd refused the batch (the\n"
	    "code is printed, and the line number when one op is at fault,\n"
	    "e.g. BAD_KEY).  Nothing is applied.  Exit 4: no connection.\n",
	    ctl_batch_run },
	{ "mget", 2, INT_MAX, OPTS_KEY | O(OPT_JSON), "STORE KEY...",
	    "print the values of many keys",
	    "Reads every KEY from one snapshot and prints those present, in\n"
	    "the order given, one a line: KEY<TAB>VALUE.  Absent keys are left\n"
	    "out.  Bytes outside printable ASCII, and tab, newline and\n"
	    "backslash, are written as \\t \\n \\\\ and \\xNN; with -x keys and\n"
	    "values are hex.  All keys go in one request, which must fit in\n"
	    "storesd's max_frame (else TOO_LARGE).  --json prints\n"
	    "{\"entries\":[{\"key\":K,\"value\":V|null}...]} with every KEY in\n"
	    "order, null for an absent one.\n"
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
	    "out); --after K the keys after K (K left out; before K with\n"
	    "--reverse), so a scan continues where the last one stopped;\n"
	    "--reverse starts from the last key; --limit N stops after N\n"
	    "entries.  With -x, P and K are hex.  --json prints\n"
	    "{\"entries\":[{\"key\":K,\"value\":V}...]} (no value with\n"
	    "--keys-only).  Entries come a page at a time, each page its own\n"
	    "snapshot: a long scan holds nothing open in storesd, and sees the\n"
	    "writes made while it runs.  Pages of N:\n"
	    "  storectl scan S --limit N --after \"$(last key printed)\"\n",
	    cmd_scan },
	{ "snapshot", 2, 2, O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_COMPACT),
	    "STORE FILE", "copy an env into a new file",
	    "Writes a consistent point-in-time copy of the env of STORE to\n"
	    "FILE, which storectl creates (mode 0600) and never overwrites;\n"
	    "storesd writes through the descriptor and never opens the path.\n"
	    "The copy is an LMDB data file: mdb_dump -n -a -p FILE prints\n"
	    "every db of it (-s DB one db).\n"
	    "FILE - is standard output (not a terminal), to stream the copy\n"
	    "through a pipe: storectl snapshot refs - | ssh host 'cat >x'.\n"
	    "A reader that takes less than 64 KiB per snapshot_timeout (30s),\n"
	    "or not all of it within snapshot_max_time (24h), is cut off\n"
	    "(FD_ERROR, exit 2).  Exit 1 when the env does not exist.\n"
	    "--compact first copies the env beside it on storesd's disk:\n"
	    "refused (NO_ROOM) when that would leave less than\n"
	    "snapshot_reserve free there; a plain snapshot needs no room.\n"
	    "On any failure FILE is removed.\n",
	    cmd_snapshot },
	{ "fork", 2, 2, O(OPT_SOCKET) | O(OPT_REPO), "STORE DST_REPO",
	    "copy the env of STORE to DST_REPO",
	    "Makes a point-in-time copy of the env of STORE in REPO (-r,\n"
	    "default \"default\") the env of STORE in DST_REPO.  Refused\n"
	    "when DST_REPO's env exists (EXISTS) or is open (BUSY), and for\n"
	    "a store with a fixed path.  Exit 1 when there is no source env.\n",
	    cmd_fork },
	{ "stats", 0, 1, O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_JSON) |
	    O(OPT_PROMETHEUS),
	    "[STORE]", "print counters",
	    "Prints storesd's counters and those of the env of STORE (opened\n"
	    "if it exists; exit 1 if it does not), or without STORE those of\n"
	    "every open env (of REPO only with -r).  --json prints one JSON\n"
	    "object: {\"daemon\":{NAME:VALUE,...},\"envs\":[{\"repo\":R|null,\n"
	    "\"store\":S,\"dir\":D,\"counters\":{...},\"dbs\":[{\"name\":N,\n"
	    "\"counters\":{...}}]}]}; repo is null for a fixed-path store.\n"
	    "--prometheus prints the Prometheus text format, for\n"
	    "node_exporter's textfile collector: storesd_NAME,\n"
	    "storesd_env_NAME{repo,store}, storesd_db_NAME{repo,store,db},\n"
	    "with # HELP and # TYPE lines; counters that only grow end in\n"
	    "_total.  E.g. from cron: storectl stats --prometheus >\n"
	    "/var/lib/node_exporter/storesd.prom.$$ && mv ... storesd.prom\n",
	    cmd_stats },
	{ "live", 0, 1, O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_JSON), "[STORE]",
	    "list the open envs",
	    "Lists the envs storesd has open, of STORE only when given and of\n"
	    "REPO only with -r (else of every repo), one a line:\n"
	    "REPO<TAB>STORE<TAB>DIR<TAB>INFLIGHT<TAB>IDLE_MS\n"
	    "REPO is - for a store with a fixed path; bytes outside\n"
	    "printable ASCII, and backslash, are written as \\t \\n \\\\ and\n"
	    "\\xNN.  An env not listed is closed.  --json prints\n"
	    "{\"envs\":[{\"repo\":R|null,\"store\":S,\"dir\":D,\n"
	    "\"inflight\":N,\"idle_ms\":N}]}.\n"
	    "exit 0: at least one is open.\n"
	    "exit 1: none open, so the directories may be moved (as long as\n"
	    "no request opens them meanwhile).\n",
	    cmd_live },
	{ "repos", 0, 1, O(OPT_SOCKET) | O(OPT_PREFIX) | O(OPT_JSON),
	    "[STORE]", "list the envs on disk",
	    "Lists every env storesd has on disk, open or not, of STORE only\n"
	    "when given and of the repos that start with P with --prefix P,\n"
	    "one a line, sorted: REPO<TAB>STORE<TAB>SIZE<TAB>open|closed\n"
	    "SIZE is the bytes of its data file; REPO is - for a store with a\n"
	    "fixed path.  Envs of stores you may not read are left out.\n"
	    "--json prints {\"repos\":[{\"repo\":R|null,\"store\":S,\n"
	    "\"size\":N,\"open\":true|false}]}.\n"
	    "exit 0: at least one is listed.  exit 1: none.\n",
	    ctl_repos_list },
	{ "create", 0, 1, O(OPT_SOCKET) | O(OPT_REPO), "[STORE]",
	    "create a repo's empty envs",
	    "Creates the empty env of STORE in REPO (-r, default \"default\"),\n"
	    "or without STORE its env of every store that has one per repo;\n"
	    "envs that exist are left alone.  With create = explicit in a\n"
	    "store's configuration, writes to a repo without an env fail with\n"
	    "NO_REPO instead of creating it: create (or restore) makes it.\n"
	    "exit 3: they all exist already (EXISTS).\n",
	    ctl_repos_create },
	{ "drop", 0, 1, O(OPT_SOCKET) | O(OPT_REPO), "[STORE]",
	    "delete a repo's envs",
	    "Deletes the env of STORE in REPO (-r, default \"default\"), or\n"
	    "without STORE all of REPO's envs.  Each env is moved out of\n"
	    "place in one step, then removed: no request sees half of it, and\n"
	    "a crash leaves it whole or gone.  An idle open env is closed\n"
	    "first; one in use (a request, a snapshot, a fork) fails the drop\n"
	    "with BUSY and nothing is dropped.\n"
	    "exit 1: there was nothing to drop.\n",
	    ctl_repos_drop },
	{ "restore", 2, 2, O(OPT_SOCKET) | O(OPT_REPO) | O(OPT_REPLACE),
	    "STORE FILE|-", "make a snapshot a repo's env",
	    "Makes FILE (a snapshot from storectl snapshot, mdb_copy, or any\n"
	    "LMDB data file), or stdin with -, the env of STORE in REPO.\n"
	    "storectl opens FILE and passes the descriptor; storesd never\n"
	    "opens the path.  storesd checks that it is a sound LMDB env that\n"
	    "fits the store (its dbs, its map_size) before putting it in\n"
	    "place in one step.  Refused with EXISTS when the env exists,\n"
	    "unless --replace, which swaps it (BUSY while it is in use).\n"
	    "With stderr a terminal, progress is shown there.  To move a repo\n"
	    "between hosts:\n"
	    "  storectl -r R snapshot STORE - | ssh B storectl -r R restore STORE -\n",
	    ctl_repos_restore },
	{ "watch", 1, 2, OPTS_KEY | O(OPT_PREFIX) | O(OPT_FROM) |
	    O(OPT_COUNT) | O(OPT_JSON), "STORE [KEY]",
	    "print changes as they are committed",
	    "Prints each change committed to KEY of the db of STORE (with\n"
	    "--prefix P, to the keys starting with P; with neither, to every\n"
	    "key), in revision order, one a line as it comes:\n"
	    "  REV put KEY VALUE\n"
	    "  REV del KEY\n"
	    "escaped as by mget, or hex with -x; --json prints\n"
	    "{\"rev\":N,\"op\":\"put\",\"key\":K,\"value\":V} lines.  It starts\n"
	    "after the current revision, or with --from REV replays the\n"
	    "changes from REV on (from the store's history) first.  It runs\n"
	    "until interrupted, or with --count N exits 0 after N events.\n"
	    "Exit 3 with the error's name when the watch ends: COMPACTED\n"
	    "(REV is older than the history kept: read the data, then watch\n"
	    "--from the current revision + 1), RESYNC (another program wrote\n"
	    "a path = env), WATCH_OVERFLOW (a store without history, and\n"
	    "storectl fell behind).\n",
	    cmd_watch },
	{ "rev", 1, 1, O(OPT_SOCKET) | O(OPT_REPO), "STORE",
	    "print the env's current revision",
	    "Prints the revision of the env of STORE and a newline: the\n"
	    "number of write requests committed to it through storesd, 0 when\n"
	    "it does not exist yet.\n",
	    cmd_rev },
	{ "ping", 0, 0, O(OPT_SOCKET), "", "print storesd's version",
	    "Asks storesd to answer and prints its name and version.\n",
	    cmd_ping },
	{ "help", 0, 1, 0, "[COMMAND]", "print a command's usage",
	    "Prints the usage of COMMAND, or of storectl.  COMMAND --help\n"
	    "does the same.\n",
	    ctl_help_run },
};

const size_t ctl_ncmds = sizeof(ctl_cmds) / sizeof(ctl_cmds[0]);

const struct ctl_cmd *
ctl_cmd_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < ctl_ncmds; i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

/* Writes a key or value as a field: escaped, or hex with -x. */
static int
put_field(struct ctl *ctl, const void *p, size_t n)
{
	if (HAS(ctl, OPT_HEX))
		return ctl_fmt_put_hex(stdout, p, n);
	return ctl_fmt_put_cescape(stdout, p, n);
}

/*
 * Writes prefix, then p as a JSON string: hex with -x (exact), else the
 * bytes as UTF-8 text (ctl_fmt_put_json_str: invalid bytes become
 * U+FFFD).  p NULL is null.  Returns 0 or -1.
 */
static int
put_json_kv(struct ctl *ctl, const char *prefix, const void *p, size_t n)
{
	if (fputs(prefix, stdout) == EOF)
		return -1;
	if (p == NULL)
		return fputs("null", stdout) == EOF ? -1 : 0;
	if (!HAS(ctl, OPT_HEX))
		return ctl_fmt_put_json_str(stdout, p, n);
	if (putchar('"') == EOF || ctl_fmt_put_hex(stdout, p, n) == -1)
		return -1;
	return putchar('"') == EOF ? -1 : 0;
}

/* KEY (the second operand) and, with --if-equals, OLD as bytes. */
static int
get_key_old(struct ctl *ctl, struct ctl_blob *key,
    struct ctl_blob *old)
{
	memset(old, 0, sizeof(*old));
	if (ctl_blob_get(ctl, "KEY", ctl->av[1], strlen(ctl->av[1]), key) == -1)
		return -1;
	return ctl_blob_opt(ctl, OPT_IF_EQUALS, "OLD", old);
}

/* ----------------------------------------------------------- commands */

static int
cmd_get(struct ctl *ctl)
{
	struct ctl_blob	 key;
	void		*val = NULL;
	size_t		 vlen;
	int		 ret = -1;

	if (ctl_blob_get(ctl, "KEY", ctl->av[1], strlen(ctl->av[1]),
	    &key) == -1 || ctl_connect(ctl) == -1)
		goto done;
	if (sc_get(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), key.p, key.n,
	    &val, &vlen) == -1) {
		ctl_fail_sc(ctl);
		goto done;
	}
	if (HAS(ctl, OPT_JSON)) {
		if (put_json_kv(ctl, "{\"key\":", key.p, key.n) == -1 ||
		    put_json_kv(ctl, ",\"value\":", val, vlen) == -1 ||
		    fputs("}\n", stdout) == EOF)
			goto done;	/* main reports stdout's error */
	} else if (HAS(ctl, OPT_HEX)) {
		if (ctl_fmt_put_hex(stdout, val, vlen) == -1 ||
		    putchar('\n') == EOF)
			goto done;	/* main reports stdout's error */
	} else if (fwrite(val, 1, vlen, stdout) != vlen)
		goto done;
	ret = 0;
done:
	sc_free(val);
	ctl_blob_free(&key);
	return ret;
}

static int
cmd_put(struct ctl *ctl)
{
	struct ctl_blob	 key, val, old;
	unsigned char	*in = NULL;
	const char	*s;
	size_t		 n;
	int		 rc, ret = -1;

	if (HAS(ctl, OPT_IF_ABSENT) && HAS(ctl, OPT_IF_EQUALS))
		return ctl_usage_error(ctl, ctl->cmd,
		    "--if-absent and --if-equals "
		    "do not go together: an absent key holds no OLD value");
	memset(&val, 0, sizeof(val));
	if (get_key_old(ctl, &key, &old) == -1)
		goto done;
	/* Never stdin by default: an empty shell variable, or a put inside
	 * a while-read loop, would silently read it (issue 14, edge 3). */
	if (ctl->ac < 3)
		return ctl_usage_error(ctl, ctl->cmd, "VALUE is missing; give "
		    "it, or - to read it from stdin");
	if (strcmp(ctl->av[2], "-") != 0) {
		s = ctl->av[2];
		n = strlen(s);
	} else {
		ctl_tty_hint("the value", "give it as an argument");
		if (ctl_read_stdin(ctl, "the value", &in, &n) == -1)
			goto done;
		s = (const char *)in;
		/* echo adds a newline; hex never means it. */
		if (HAS(ctl, OPT_HEX))
			ctl_fmt_trim(&s, &n);
	}
	if (ctl_blob_get(ctl, "VALUE", s, n, &val) == -1 ||
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
	ret = rc == -1 ? ctl_fail_sc(ctl) : 0;
done:
	ctl_blob_free(&old);
	ctl_blob_free(&val);
	ctl_blob_free(&key);
	free(in);
	return ret;
}

static int
cmd_del(struct ctl *ctl)
{
	struct ctl_blob	 key, old;
	int		 rc, ret = -1;

	if (get_key_old(ctl, &key, &old) == -1 || ctl_connect(ctl) == -1)
		goto done;
	if (HAS(ctl, OPT_IF_EQUALS))
		rc = sc_del_if_equals(ctl->conn, REPO(ctl), ctl->av[0],
		    DB(ctl), key.p, key.n, old.p, old.n);
	else
		rc = sc_del(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), key.p,
		    key.n);
	ret = rc == -1 ? ctl_fail_sc(ctl) : 0;
done:
	ctl_blob_free(&old);
	ctl_blob_free(&key);
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

/* Snapshot to standard output: a pipe, a socket or a redirected file,
 * never a terminal; nothing to create or remove. */
static int
snapshot_stdout(struct ctl *ctl)
{
	if (isatty(STDOUT_FILENO))
		return ctl_fail(ctl, CTL_EXIT_USAGE, "standard output is a "
		    "terminal; pipe the snapshot somewhere or name a FILE");
	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_snapshot(ctl->conn, REPO(ctl), ctl->av[0], STDOUT_FILENO,
	    HAS(ctl, OPT_COMPACT), NULL) == -1)
		return ctl_fail_sc(ctl);
	/* A file is made durable; a pipe or socket cannot be (EINVAL). */
	if (fsync(STDOUT_FILENO) == -1 && errno != EINVAL && errno != EROFS)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "cannot sync standard "
		    "output: %s", strerror(errno));
	return 0;
}

static int
cmd_snapshot(struct ctl *ctl)
{
	const char	*file = ctl->av[1];
	struct stat	 sb;
	int		 fd, ret = -1;

	if (strcmp(file, "-") == 0)
		return snapshot_stdout(ctl);
	/* O_EXCL: never truncate a file, nor follow a symlink to one. */
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST)
		return ctl_fail(ctl, CTL_EXIT_USAGE,
		    "%s exists; snapshot never "
		    "overwrites a file: remove it or choose a new name", file);
	if (fd == -1)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "cannot create %s: %s",
		    file,
		    strerror(errno));
	if (fstat(fd, &sb) == -1) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "%s: %s", file, strerror(errno));
		close(fd);
		unlink(file);
		return -1;
	}
	if (ctl_connect(ctl) == -1)
		goto done;
	if (ctl_progress_snapshot(ctl, fd, NULL) == -1)
		goto done;
	/* A snapshot is a backup: on disk before we say it is done. */
	if (fsync(fd) == -1) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "cannot sync %s: %s", file,
		    strerror(errno));
		goto done;
	}
	ret = 0;
done:
	if (close(fd) == -1 && ret == 0)
		ret = ctl_fail(ctl, CTL_EXIT_USAGE, "cannot write %s: %s", file,
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
		return ctl_fail_sc(ctl);
	return 0;
}

/* ------------------------------------------------------ many keys, scan */

static int
cmd_mget(struct ctl *ctl)
{
	struct ctl_keys	 ks;
	sc_bytes	*vals = NULL;
	size_t		 i;
	int		 absent = 0, ret = -1;

	if (ctl_keys_from_args(ctl, ctl->av + 1, ctl->ac - 1, &ks) == -1 ||
	    ctl_connect(ctl) == -1)
		goto done;
	if (sc_mget(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), ks.v, ks.n,
	    &vals) == -1) {
		ctl_fail_sc_index(ctl, ks.what);
		goto done;
	}
	if (HAS(ctl, OPT_JSON) && fputs("{\"entries\":[", stdout) == EOF)
		goto done;
	for (i = 0; i < ks.n; i++) {
		if (vals[i].p == NULL)
			absent = 1;
		if (HAS(ctl, OPT_JSON)) {
			if (put_json_kv(ctl, i ? ",{\"key\":" : "{\"key\":",
			    ks.v[i].p, ks.v[i].n) == -1 ||
			    put_json_kv(ctl, ",\"value\":", vals[i].p,
			    vals[i].n) == -1 || putchar('}') == EOF)
				goto done;
			continue;
		}
		if (vals[i].p == NULL)
			continue;
		if (put_field(ctl, ks.v[i].p, ks.v[i].n) == -1 ||
		    putchar('\t') == EOF ||
		    put_field(ctl, vals[i].p, vals[i].n) == -1 ||
		    putchar('\n') == EOF)
			goto done;	/* main reports stdout's error */
	}
	if (HAS(ctl, OPT_JSON) && fputs("]}\n", stdout) == EOF)
		goto done;
	/* Not a failure: scripts ask whether all were there. */
	if (absent)
		ctl->status = CTL_EXIT_NOT_FOUND;
	ret = 0;
done:
	sc_free(vals);
	ctl_keys_free(&ks);
	return ret;
}

static int
cmd_missing(struct ctl *ctl)
{
	struct ctl_keys	 ks;
	size_t		*miss = NULL, nmiss = 0, i;
	const sc_bytes	*k;
	int		 ret = -1;

	if ((ctl->ac > 1 ? ctl_keys_from_args(ctl, ctl->av + 1, ctl->ac - 1,
	    &ks) : ctl_keys_from_stdin(ctl, &ks)) == -1 ||
	    ctl_connect(ctl) == -1)
		goto done;
	if (sc_missing(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), ks.v, ks.n,
	    &miss, &nmiss) == -1) {
		ctl_fail_sc_index(ctl, ks.what);
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
	ctl_keys_free(&ks);
	return ret;
}

static int
cmd_count(struct ctl *ctl)
{
	uint64_t	 n;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_count(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), &n) == -1)
		return ctl_fail_sc(ctl);
	printf("%" PRIu64 "\n", n);
	return 0;
}

static int
cmd_rev(struct ctl *ctl)
{
	uint64_t	 rev;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_rev(ctl->conn, REPO(ctl), ctl->av[0], &rev) == -1)
		return ctl_fail_sc(ctl);
	printf("%" PRIu64 "\n", rev);
	return 0;
}

/* A decimal number option (no sign, no space), 1 or more. */
static int
get_number(struct ctl *ctl, int id, const char *what, uint64_t *out)
{
	const char		*s = ctl->val[id];
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v == 0)
		return ctl_usage_error(ctl, ctl->cmd, "%s must be a number "
		    "from 1 up, not '%s'", what, s);
	*out = v;
	return 0;
}

/* Prints one event as watch's help says.  0, or -1 (stdout failed). */
static int
put_event(struct ctl *ctl, const sc_event *ev)
{
	const char	*op = ev->op == SC_EV_PUT ? "put" : "del";

	if (HAS(ctl, OPT_JSON)) {
		if (printf("{\"rev\":%" PRIu64 ",\"op\":\"%s\"", ev->rev,
		    op) < 0 ||
		    put_json_kv(ctl, ",\"key\":", ev->key, ev->klen) == -1 ||
		    (ev->op == SC_EV_PUT && put_json_kv(ctl, ",\"value\":",
		    ev->val, ev->vlen) == -1) ||
		    fputs("}\n", stdout) == EOF)
			return -1;
	} else {
		if (printf("%" PRIu64 " %s ", ev->rev, op) < 0 ||
		    put_field(ctl, ev->key, ev->klen) == -1 ||
		    (ev->op == SC_EV_PUT && (putchar(' ') == EOF ||
		    put_field(ctl, ev->val, ev->vlen) == -1)) ||
		    putchar('\n') == EOF)
			return -1;
	}
	/* A pipe's reader wants each change as it comes. */
	return fflush(stdout) == EOF ? -1 : 0;
}

static int
cmd_watch(struct ctl *ctl)
{
	struct ctl_blob	 key = { NULL, 0, NULL }, prefix = { NULL, 0, NULL };
	sc_watch_opts	*o = NULL;
	sc_watch	*w = NULL;
	sc_event	 ev;
	uint64_t	 from = 0, count = 0, seen = 0;
	int		 rc, ret = -1;

	if (ctl->ac == 2 && HAS(ctl, OPT_PREFIX))
		return ctl_usage_error(ctl, ctl->cmd, "give KEY or --prefix, "
		    "not both");
	if ((HAS(ctl, OPT_FROM) &&
	    get_number(ctl, OPT_FROM, "--from", &from) == -1) ||
	    (HAS(ctl, OPT_COUNT) &&
	    get_number(ctl, OPT_COUNT, "--count", &count) == -1))
		return -1;
	if ((o = sc_watch_opts_new()) == NULL) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
		goto done;
	}
	if (ctl->ac == 2) {
		if (ctl_blob_get(ctl, "KEY", ctl->av[1], strlen(ctl->av[1]),
		    &key) == -1)
			goto done;
		rc = sc_watch_opts_set_key(o, key.p, key.n);
	} else {
		if (ctl_blob_opt(ctl, OPT_PREFIX, "P", &prefix) == -1)
			goto done;
		rc = sc_watch_opts_set_prefix(o, prefix.p, prefix.n);
	}
	if (rc == -1 || (from > 0 && sc_watch_opts_set_from(o, from) == -1)) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
		goto done;
	}
	if (ctl_connect(ctl) == -1)
		goto done;
	if ((w = sc_watch_begin(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl), o,
	    NULL)) == NULL) {
		ctl_fail_sc(ctl);
		goto done;
	}
	while (count == 0 || seen < count) {
		if ((rc = sc_watch_next(w, &ev, -1)) == -1) {
			ctl_fail_sc(ctl);
			goto done;
		}
		if (rc == 0 || ev.op == SC_EV_PROGRESS)
			continue;
		if (put_event(ctl, &ev) == -1)
			goto done;	/* main reports stdout's error */
		seen++;
	}
	ret = 0;
done:
	sc_watch_end(w);
	sc_watch_opts_free(o);
	ctl_blob_free(&key);
	ctl_blob_free(&prefix);
	return ret;
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
		return ctl_usage_error(ctl, ctl->cmd, "--limit %s is too large",
		    s);
	*limit = v;
	return 0;
bad:
	return ctl_usage_error(ctl, ctl->cmd,
	    "--limit needs a decimal number of "
	    "entries, not '%s'", s);
}

/* Pages are fetched as the loop goes: never all entries at once. */
static int
cmd_scan(struct ctl *ctl)
{
	sc_scan_opts		*o;
	struct ctl_blob		 prefix, start, end, after;
	sc_scan			*sc = NULL;
	const void		*k, *v;
	size_t			 kl, vl, n = 0;
	uint64_t		 limit = 0, printed = 0;
	bool			 json = HAS(ctl, OPT_JSON);
	bool			 rev = HAS(ctl, OPT_REVERSE);
	bool			 skip = HAS(ctl, OPT_AFTER) && !rev;
	int			 rc, ret = -1;

	/* --after K is the exclusive bound on the side the scan starts. */
	if (HAS(ctl, OPT_AFTER) && HAS(ctl, rev ? OPT_END : OPT_START))
		return ctl_usage_error(ctl, ctl->cmd, "--after and %s do not "
		    "go together: both say where the scan starts",
		    rev ? "--end (with --reverse)" : "--start");
	if ((o = sc_scan_opts_new()) == NULL)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
	memset(&prefix, 0, sizeof(prefix));
	memset(&start, 0, sizeof(start));
	memset(&end, 0, sizeof(end));
	memset(&after, 0, sizeof(after));
	if (HAS(ctl, OPT_LIMIT)) {
		if (get_limit(ctl, &limit) == -1)
			goto done;
		/* Forward, K itself may come first and is not to count: one
		 * more is asked for, and the output stops at the limit. */
		sc_scan_opts_set_limit(o, skip && limit < UINT64_MAX ?
		    limit + 1 : limit);
	}
	if (ctl_blob_opt(ctl, OPT_PREFIX, "--prefix P", &prefix) == -1 ||
	    ctl_blob_opt(ctl, OPT_START, "--start K", &start) == -1 ||
	    ctl_blob_opt(ctl, OPT_END, "--end K", &end) == -1 ||
	    ctl_blob_opt(ctl, OPT_AFTER, "--after K", &after) == -1)
		goto done;
	/* Reversed, the end bound is already exclusive; forward, the scan
	 * starts at K and K itself is left out below. */
	if (sc_scan_opts_set_prefix(o, prefix.p, prefix.n) == -1 ||
	    (HAS(ctl, OPT_AFTER) && !rev ?
	    sc_scan_opts_set_start(o, after.p, after.n) :
	    sc_scan_opts_set_start(o, start.p, start.n)) == -1 ||
	    (HAS(ctl, OPT_AFTER) && rev ?
	    sc_scan_opts_set_end(o, after.p, after.n) :
	    sc_scan_opts_set_end(o, end.p, end.n)) == -1) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
		goto done;
	}
	sc_scan_opts_set_reverse(o, rev);
	sc_scan_opts_set_keys_only(o, HAS(ctl, OPT_KEYS_ONLY));
	if (ctl_connect(ctl) == -1)
		goto done;
	if ((sc = sc_scan_begin(ctl->conn, REPO(ctl), ctl->av[0], DB(ctl),
	    o)) == NULL) {
		ctl_fail_sc(ctl);
		goto done;
	}
	if (json && fputs("{\"entries\":[", stdout) == EOF)
		goto done;
	while ((rc = sc_scan_next(sc, &k, &kl, &v, &vl)) == 1) {
		if (skip && kl == after.n && memcmp(k, after.p, kl) == 0)
			continue;
		if (HAS(ctl, OPT_LIMIT) && printed++ == limit)
			break;
		if (json) {
			if (put_json_kv(ctl, n++ ? ",{\"key\":" : "{\"key\":",
			    k, kl) == -1 || (!HAS(ctl, OPT_KEYS_ONLY) &&
			    put_json_kv(ctl, ",\"value\":", v, vl) == -1) ||
			    putchar('}') == EOF)
				goto done;	/* main reports stdout's error */
			continue;
		}
		if (put_field(ctl, k, kl) == -1 ||
		    (!HAS(ctl, OPT_KEYS_ONLY) && (putchar('\t') == EOF ||
		    put_field(ctl, v, vl) == -1)) ||
		    putchar('\n') == EOF)
			goto done;	/* main reports stdout's error */
	}
	if (rc == -1) {
		ctl_fail_sc(ctl);
		goto done;
	}
	if (json && fputs("]}\n", stdout) == EOF)
		goto done;
	ret = 0;
done:
	sc_scan_end(sc);
	sc_scan_opts_free(o);
	ctl_blob_free(&after);
	ctl_blob_free(&end);
	ctl_blob_free(&start);
	ctl_blob_free(&prefix);
	return ret;
}

/* ------------------------------------------------------- stats, live */

/* Write errors on stdout are reported once, by main. */
static int
cmd_stats(struct ctl *ctl)
{
	sc_stats	*s = NULL;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_get_stats(ctl->conn, REPO(ctl), ctl->ac ? ctl->av[0] : NULL,
	    &s) == -1)
		return ctl_fail_sc(ctl);
	if (HAS(ctl, OPT_JSON) && HAS(ctl, OPT_PROMETHEUS)) {
		sc_stats_free(s);
		return ctl_usage_error(ctl, ctl->cmd, "--json and "
		    "--prometheus do not go together: choose one format");
	}
	if (HAS(ctl, OPT_JSON))
		ctl_fmt_stats_json(stdout, s);
	else if (HAS(ctl, OPT_PROMETHEUS) &&
	    ctl_fmt_stats_prom(stdout, s) == -1) {
		sc_stats_free(s);
		return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
	} else if (!HAS(ctl, OPT_PROMETHEUS))
		ctl_fmt_stats_text(stdout, s);
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
		return ctl_fail_sc(ctl);
	if (HAS(ctl, OPT_JSON))
		live_json(l);
	for (i = 0; !HAS(ctl, OPT_JSON) && i < l->n; i++) {
		e = &l->envs[i];
		if (e->repo != NULL)
			ctl_fmt_put_cescape(stdout, e->repo, strlen(e->repo));
		else
			putchar('-');
		putchar('\t');
		ctl_fmt_put_cescape(stdout, e->store, strlen(e->store));
		putchar('\t');
		ctl_fmt_put_cescape(stdout, e->dir, strlen(e->dir));
		printf("\t%" PRIu64 "\t%" PRIu64 "\n", e->inflight,
		    e->idle_ms);
	}
	/* Not a failure: scripts ask whether the dirs may be moved. */
	if (l->n == 0)
		ctl->status = CTL_EXIT_NOT_FOUND;
	sc_live_free(l);
	return 0;
}

static void
live_json(const sc_live *l)
{
	const sc_live_env	*e;
	size_t			 i;

	fputs("{\"envs\":[", stdout);
	for (i = 0; i < l->n; i++) {
		e = &l->envs[i];
		fputs(i ? ",{\"repo\":" : "{\"repo\":", stdout);
		ctl_fmt_put_json_cstr(stdout, e->repo);
		fputs(",\"store\":", stdout);
		ctl_fmt_put_json_cstr(stdout, e->store);
		fputs(",\"dir\":", stdout);
		ctl_fmt_put_json_cstr(stdout, e->dir);
		printf(",\"inflight\":%" PRIu64 ",\"idle_ms\":%" PRIu64 "}",
		    e->inflight, e->idle_ms);
	}
	fputs("]}\n", stdout);
}

static int
cmd_ping(struct ctl *ctl)
{
	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_ping(ctl->conn) == -1)
		return ctl_fail_sc(ctl);
	printf("%s\n", sc_server_version(ctl->conn));
	return 0;
}

