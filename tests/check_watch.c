/*
 * Revisions and watches against a real storesd: writers and watchers at
 * once, each watcher's events checked against what the writers were
 * told was committed; resuming after a disconnect, a restart and a
 * kill -9; COMPACTED; a watcher that does not read; WATCH_OVERFLOW;
 * RESYNC; FORBIDDEN.  Every wait is bounded by an event or a generous
 * timeout, never a guess.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "itest.h"

static int	 bad_stops;

static const char conf[] =
    "[daemon]\nsocket_mode = 0666\nwatch_progress = 100ms\n"
    "watch_buffer = 4KiB\nmax_watches = 8\n"
    "[store kv]\nmap_size = 256MiB\nhistory = 64MiB\n"
    "[store small]\nmap_size = 16MiB\nhistory = 2KiB\n"
    "[store nh]\nmap_size = 64MiB\n"
    "[store closed]\nmap_size = 16MiB\nreaders = root\nwriters = root\n";
/* A path = env, whose directory must exist before storesd starts. */
static const char conf_ext[] =
    "[store ext]\nmap_size = 16MiB\npath = @DIR@/ext\n";

static void
down(struct hs_daemon *d)
{
	it_down(d, &bad_stops);
}

/* Waits (timeout ms) for w's next event that is not progress. */
static int
next_event(sc_watch *w, sc_event *ev, int timeout)
{
	int	 rc;

	for (;;) {
		rc = sc_watch_next(w, ev, timeout);
		if (rc != 1 || ev->op != SC_EV_PROGRESS)
			return rc;
	}
}

static sc_watch *
watch_prefix(sc_conn *c, const char *repo, const char *store,
    const char *prefix, uint64_t from, uint64_t *rev)
{
	sc_watch_opts	*o = sc_watch_opts_new();
	sc_watch	*w;

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(sc_watch_opts_set_prefix(o, prefix, strlen(prefix)),
	    0);
	if (from > 0)
		ck_assert_int_eq(sc_watch_opts_set_from(o, from), 0);
	w = sc_watch_begin(c, repo, store, NULL, o, rev);
	sc_watch_opts_free(o);
	return w;
}

/* ------------------------------------------------------- revisions */

START_TEST(revisions_are_in_replies_and_survive_restart)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	uint64_t		 rev, n;
	void			*v;
	size_t			 vn, nmiss, *miss;
	static sc_bytes		 keys[1500];
	sc_bytes		*vals;
	int			 i;

	it_up(&d, conf);
	c = it_conn(&d);
	ck_assert_int_eq(sc_rev(c, "r", "kv", &rev), 0);
	ck_assert_uint_eq(rev, 0);		/* no env yet */
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "a", 1, "1", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 1);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "b", 1, "2", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 2);
	/* A write that changed nothing made no revision. */
	EXPECT_ERR(c, sc_del(c, "r", "kv", NULL, "zz", 2), SC_ERR_NOT_FOUND);
	EXPECT_ERR(c, sc_put_if_absent(c, "r", "kv", NULL, "a", 1, "x", 1),
	    SC_ERR_COND_FAILED);
	ck_assert_int_eq(sc_del(c, "r", "kv", NULL, "a", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 3);
	/* Reads say the revision they saw. */
	ck_assert_int_eq(sc_put(c, "r2", "kv", NULL, "x", 1, "1", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 1);
	ck_assert_int_eq(sc_get(c, "r", "kv", NULL, "b", 1, &v, &vn), 0);
	sc_free(v);
	ck_assert_uint_eq(sc_last_rev(c), 3);
	ck_assert_int_eq(sc_put(c, "r2", "kv", NULL, "y", 1, "1", 1), 0);
	ck_assert_int_eq(sc_count(c, "r", "kv", NULL, &n), 0);
	ck_assert_uint_eq(sc_last_rev(c), 3);
	ck_assert_int_eq(sc_rev(c, "r", "kv", &rev), 0);
	ck_assert_uint_eq(rev, 3);
	/* mget and missing too, inline and on the readers' pool (more than
	 * 1,000 keys), from the snapshot that read the keys. */
	for (i = 0; i < 1500; i++)
		keys[i] = (sc_bytes){ (void *)"b", 1 };
	/* r2's revisions are past 3 now: a reply with none would leave
	 * sc_last_rev() at r2's. */
	ck_assert_int_eq(sc_put(c, "r2", "kv", NULL, "z", 1, "1", 1), 0);
	ck_assert_int_eq(sc_put(c, "r2", "kv", NULL, "z", 1, "1", 1), 0);
	ck_assert_uint_gt(sc_last_rev(c), 3);
	ck_assert_int_eq(sc_mget(c, "r", "kv", NULL, keys, 2, &vals), 0);
	sc_free(vals);
	ck_assert_uint_eq(sc_last_rev(c), 3);
	ck_assert_int_eq(sc_put(c, "r2", "kv", NULL, "z", 1, "1", 1), 0);
	ck_assert_int_eq(sc_mget(c, "r", "kv", NULL, keys, 1500, &vals), 0);
	sc_free(vals);
	ck_assert_uint_eq(sc_last_rev(c), 3);
	ck_assert_int_eq(sc_put(c, "r2", "kv", NULL, "z", 1, "1", 1), 0);
	ck_assert_int_eq(sc_missing(c, "r", "kv", NULL, keys, 1500, &miss,
	    &nmiss), 0);
	sc_free(miss);
	ck_assert_uint_eq(sc_last_rev(c), 3);
	sc_close(c);

	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_rev(c, "r", "kv", &rev), 0);
	ck_assert_uint_eq(rev, 3);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "c", 1, "3", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 4);
	sc_close(c);
	down(&d);
}
END_TEST

/* The env id of repo's kv env, through a raw rev request. */
static void
env_id(const struct hs_daemon *d, const char *repo, unsigned char *id)
{
	static const unsigned char	 zero[SC_ENV_ID_LEN];
	sc_conn				*c = it_conn(d);
	uint64_t			 rev;

	ck_assert_int_eq(sc_rev_id(c, repo, "kv", &rev, id), 0);
	ck_assert(memcmp(id, zero, SC_ENV_ID_LEN) != 0);
	ck_assert_uint_eq(rev, sc_last_rev(c));
	sc_close(c);
}

START_TEST(env_id_is_new_for_a_fork_and_a_restore)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	unsigned char		 a[16], a2[16], f[16], r[16];
	uint64_t		 rev;
	char			 path[256];
	int			 fd;

	it_up(&d, conf);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "a", 1, "1", 1), 0);
	env_id(&d, "r", a);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "b", 1, "2", 1), 0);
	env_id(&d, "r", a2);
	ck_assert(memcmp(a, a2, 16) == 0);	/* writes keep it */
	ck_assert_int_eq(sc_fork(c, "r", "kv", "f"), 0);
	env_id(&d, "f", f);
	ck_assert(memcmp(a, f, 16) != 0);
	ck_assert_int_eq(sc_rev(c, "f", "kv", &rev), 0);
	ck_assert_uint_eq(rev, 2);		/* the copy's revision */
	snprintf(path, sizeof(path), "%s/snap", d.dir);
	ck_assert_int_ge(fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600),
	    0);
	ck_assert_int_eq(sc_snapshot(c, "r", "kv", fd, 0, NULL), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(sc_restore(c, "s", "kv", fd, 0, NULL), 0);
	env_id(&d, "s", r);
	ck_assert(memcmp(a, r, 16) != 0);
	ck_assert(memcmp(f, r, 16) != 0);
	ck_assert_int_eq(sc_rev(c, "s", "kv", &rev), 0);
	ck_assert_uint_eq(rev, 2);
	/* A watch on an env a restore replaces ends: its revisions are
	 * another env's from then on. */
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "s", "kv", "", 0, NULL));
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(sc_restore(c, "s", "kv", fd, 1, NULL), 0);
	EXPECT_ERR(wc, next_event(w, &ev, 30000), SC_ERR_RESYNC);
	sc_watch_end(w);
	sc_close(wc);
	close(fd);
	sc_close(c);
	down(&d);
}
END_TEST

/* repo's env of store nh, made by a batch that failed: never written. */
static void
make_unwritten(sc_conn *c, const char *repo)
{
	sc_batch	*b;

	ck_assert_ptr_nonnull(b = sc_batch_begin(c, repo, "nh", NULL));
	ck_assert_int_eq(sc_batch_expect(b, NULL, "k", 1, "x", 1), 0);
	ck_assert_int_eq(sc_batch_put(b, NULL, "k", 1, "v", 1), 0);
	EXPECT_ERR(c, sc_batch_commit(b), SC_ERR_COND_FAILED);
}

/*
 * An env no write has made a revision in yet is at revision 0 and has no
 * id, as one that does not exist, across a restart too: its id comes
 * with its first revision, in the same commit.  A watch begun on it is
 * not cut off (RESYNC) by that id, and the id stays across a restart.
 * On disk, a store without history keeps no db of storesd's own.
 */
START_TEST(a_never_written_env_has_rev_0_and_no_id)
{
	static const unsigned char	 zero[SC_ENV_ID_LEN];
	struct hs_daemon		 d;
	sc_conn				*c, *wc;
	sc_watch			*w;
	sc_event			 ev;
	unsigned char			 id[SC_ENV_ID_LEN], id2[SC_ENV_ID_LEN];
	uint64_t			 rev;

	it_up(&d, conf);
	c = it_conn(&d);
	make_unwritten(c, "n");
	ck_assert_int_eq(it_run("test -f %s/n/@nh/data.mdb", d.data), 0);
	memset(id, 1, sizeof(id));
	ck_assert_int_eq(sc_rev_id(c, "n", "nh", &rev, id), 0);
	ck_assert_uint_eq(rev, 0);
	ck_assert(memcmp(id, zero, sizeof(id)) == 0);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(it_run("mdb_stat -e %s/n/@nh | grep -q "
	    "'Last transaction ID: 0$'", d.data), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);

	c = it_conn(&d);
	memset(id, 1, sizeof(id));
	ck_assert_int_eq(sc_rev_id(c, "n", "nh", &rev, id), 0);
	ck_assert_uint_eq(rev, 0);
	ck_assert(memcmp(id, zero, sizeof(id)) == 0);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "n", "nh", "", 0, &rev));
	ck_assert_uint_eq(rev, 0);
	ck_assert_int_eq(sc_put(c, "n", "nh", NULL, "k", 1, "v", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 1);
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_int_eq(ev.op, SC_EV_PUT);
	ck_assert_uint_eq(ev.rev, 1);
	sc_watch_end(w);
	sc_close(wc);
	ck_assert_int_eq(sc_rev_id(c, "n", "nh", &rev, id), 0);
	ck_assert_uint_eq(rev, 1);
	ck_assert(memcmp(id, zero, sizeof(id)) != 0);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	/* One commit made it, and no db of storesd's: the revision and the
	 * id are keys of the main db. */
	ck_assert_int_eq(it_run("mdb_stat -e %s/n/@nh | grep -q "
	    "'Last transaction ID: 1$'", d.data), 0);
	ck_assert_int_ne(it_run("mdb_stat -a %s/n/@nh | grep -q "
	    "'Status of @'", d.data), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);

	c = it_conn(&d);
	ck_assert_int_eq(sc_rev_id(c, "n", "nh", &rev, id2), 0);
	ck_assert_uint_eq(rev, 1);
	ck_assert(memcmp(id, id2, sizeof(id)) == 0);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * An env made by a build that kept revisions in a db @storesd (made here
 * with mdb_load: revision 5, a known id) keeps them there: its revision
 * and id are read from it, and writes go on from them.
 */
START_TEST(an_env_with_a_db_storesd_keeps_its_revisions)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	unsigned char		 id[SC_ENV_ID_LEN];
	uint64_t		 rev;
	void			*v;
	size_t			 vn;

	it_up(&d, conf);
	ck_assert_int_eq(it_run("d=%s/x/@nh; mkdir -p $d && "
	    "printf 'k\\nv\\n' | mdb_load -T -s nh $d && "
	    "printf 'rev\\n\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\05"
	    "\\nid\\n0123456789abcdef\\n' | "
	    "mdb_load -T -s @storesd $d", d.data), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_rev_id(c, "x", "nh", &rev, id), 0);
	ck_assert_uint_eq(rev, 5);
	ck_assert(memcmp(id, "0123456789abcdef", SC_ENV_ID_LEN) == 0);
	ck_assert_int_eq(sc_get(c, "x", "nh", NULL, "k", 1, &v, &vn), 0);
	sc_free(v);
	ck_assert_uint_eq(sc_last_rev(c), 5);
	ck_assert_int_eq(sc_put(c, "x", "nh", NULL, "a", 1, "b", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 6);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_rev_id(c, "x", "nh", &rev, id), 0);
	ck_assert_uint_eq(rev, 6);
	ck_assert(memcmp(id, "0123456789abcdef", SC_ENV_ID_LEN) == 0);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * A history entry that another program made malformed (here with
 * mdb_load: revision 2 of 3 is not msgpack) ends a watch reading it with
 * CORRUPT, naming the revision, not INTERNAL "out of memory" as it did;
 * the entries after it are read.
 */
START_TEST(a_malformed_history_entry_is_corrupt)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_watch		*w;
	sc_event		 ev;

	it_up(&d, conf);
	ck_assert_int_eq(it_run("d=%s/x/@kv; mkdir -p $d && "
	    "printf 'a\\n1\\nb\\n2\\n' | mdb_load -T -s kv $d && "
	    "printf '@storesd:rev\\n\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00"
	    "\\\\03\\n@storesd:oldest\\n\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00"
	    "\\\\00\\\\01\\n' | mdb_load -T $d && "
	    "printf '\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\01\\n"
	    "\\\\91\\\\94\\\\00\\\\00\\\\c4\\\\01a\\\\c4\\\\011\\n"
	    "\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\02\\n\\\\dd\\\\ff\\n"
	    "\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\00\\\\03\\n"
	    "\\\\91\\\\94\\\\00\\\\00\\\\c4\\\\01b\\\\c4\\\\012\\n' | "
	    "mdb_load -T -s @storesd.hist $d", d.data), 0);
	c = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(c, "x", "kv", "", 1, NULL));
	/* Revision 1's event, read in the same turn, may go with it. */
	while (next_event(w, &ev, 30000) == 1)
		ck_assert_uint_eq(ev.rev, 1);
	ck_assert_msg(sc_errcode(c) == SC_ERR_CORRUPT &&
	    strstr(sc_errmsg(c), "revision 2") != NULL, "%d: %s",
	    sc_errcode(c), sc_errmsg(c));
	sc_watch_end(w);
	ck_assert_ptr_nonnull(w = watch_prefix(c, "x", "kv", "", 3, NULL));
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 3);
	ck_assert(ev.klen == 1 && memcmp(ev.key, "b", 1) == 0);
	sc_watch_end(w);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * An env whose revision another program set to the last there is
 * (mdb_load: 2^64 - 1) is CORRUPT: its next write used to be revision
 * 0, going back past every watcher's.
 */
START_TEST(an_env_at_the_last_revision_is_corrupt)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	uint64_t		 rev;

	it_up(&d, conf);
	ck_assert_int_eq(it_run("d=%s/x/@kv; mkdir -p $d && "
	    "printf 'a\\n1\\n' | mdb_load -T -s kv $d && "
	    "printf '@storesd:rev\\n\\\\ff\\\\ff\\\\ff\\\\ff\\\\ff\\\\ff\\\\ff"
	    "\\\\ff\\n' | mdb_load -T $d", d.data), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "x", "kv", NULL, "b", 1, "2", 1), -1);
	ck_assert_msg(sc_errcode(c) == SC_ERR_CORRUPT, "%d: %s",
	    sc_errcode(c), sc_errmsg(c));
	sc_close(c);
	c = it_conn(&d);
	ck_assert_int_eq(sc_rev(c, "x", "kv", &rev), -1);
	ck_assert_int_eq(sc_errcode(c), SC_ERR_CORRUPT);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * A store with history makes @storesd.hist with its first write that
 * keeps history, and history read back from it after a restart feeds a
 * watch from revision 1.
 */
START_TEST(history_is_made_by_the_first_write)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;

	it_up(&d, conf);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "h", "kv", NULL, "a", 1, "1", 1), 0);
	ck_assert_int_eq(sc_put(c, "h", "kv", NULL, "b", 1, "2", 1), 0);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(it_run("mdb_stat -a %s/h/@kv | grep -q "
	    "'Status of @storesd.hist$'", d.data), 0);
	ck_assert_int_ne(it_run("mdb_stat -a %s/h/@kv | grep -q "
	    "'Status of @storesd$'", d.data), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "h", "kv", "", 1, NULL));
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 1);
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 2);
	sc_watch_end(w);
	sc_close(wc);
	down(&d);
}
END_TEST

/*
 * A watcher resumes from its last revision + 1 after a disconnect; in
 * between, a restore put back an older snapshot (its revision is lower,
 * its env id new) and a write followed.  The resumed watch sees none of
 * it: from 4 on an env now at 2, it waits for revision 4 while the data
 * it mirrors lost b and c and gained d.  The env id changed, but the
 * watch request cannot name the one the watcher knew, nor does its reply
 * give the env's, so nothing tells the watcher (sc_rev() beside it is a
 * race).  Not fixed: it needs the watch request to carry the env id it
 * resumes (RESYNC when it differs) or the reply to give it, a protocol
 * and libstoreclient API change.  Skipped until then.
 */
START_TEST(a_resume_across_a_restore_to_an_older_revision_is_resync)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	char			 path[256];
	int			 fd, i, rc = 0;

	if (getenv("CHECK_WATCH_KNOWN_GAPS") == NULL) {
		fprintf(stderr, "a_resume_across_a_restore_to_an_older_"
		    "revision_is_resync: skipped (the watch request cannot "
		    "name an env id; set CHECK_WATCH_KNOWN_GAPS to run it)\n");
		return;
	}
	it_up(&d, conf);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "a", 1, "1", 1), 0);
	snprintf(path, sizeof(path), "%s/snap", d.dir);
	ck_assert_int_ge(fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600),
	    0);
	ck_assert_int_eq(sc_snapshot(c, "r", "kv", fd, 0, NULL), 0);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "b", 1, "2", 1), 0);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "c", 1, "3", 1), 0);
	/* The watcher saw up to 3, and is away while this happens: */
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(sc_restore(c, "r", "kv", fd, 1, NULL), 0);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "d", 1, "4", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 2);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "kv", "", 4, NULL));
	/* Progress frames (every 100ms) for a while, or the end. */
	for (i = 0; i < 30; i++)
		if ((rc = sc_watch_next(w, &ev, 3000)) != 1 ||
		    ev.op != SC_EV_PROGRESS)
			break;
	ck_assert_msg(rc == -1 && sc_errcode(wc) == SC_ERR_RESYNC,
	    "a resume from 4 on a restored env at 2: rc %d, no RESYNC "
	    "(last frame: op %d rev %llu)", rc, ev.op,
	    (unsigned long long)ev.rev);
	sc_watch_end(w);
	sc_close(wc);
	close(fd);
	sc_close(c);
	down(&d);
}
END_TEST

/* --------------------------------------------- writers and watchers */

#define NWRITERS	8
#define NWATCHERS	4
#define ITERS		120
#define MAXOPS		(NWRITERS * ITERS * 3)

/* A change a writer was told was committed. */
struct change {
	uint64_t	 rev;
	uint64_t	 seq;		/* order within the log */
	int		 op;		/* SC_EV_PUT or SC_EV_DEL */
	char		 key[24];
	char		 val[24];
};

struct world {
	struct hs_daemon	*d;
	pthread_mutex_t		 mtx;
	struct change		 log[MAXOPS];
	size_t			 n;
	atomic_bool		 go;
	_Atomic uint64_t	 last;		/* 0 until the writers end */
};

static void
note(struct world *wd, uint64_t rev, int op, const char *key,
    const char *val)
{
	struct change	*ch;

	ck_assert_uint_gt(rev, 0);
	pthread_mutex_lock(&wd->mtx);
	ck_assert_uint_lt(wd->n, MAXOPS);
	ch = &wd->log[wd->n];
	ch->rev = rev;
	ch->seq = wd->n++;
	ch->op = op;
	snprintf(ch->key, sizeof(ch->key), "%s", key);
	snprintf(ch->val, sizeof(ch->val), "%s", val ? val : "");
	pthread_mutex_unlock(&wd->mtx);
}

struct writer {
	pthread_t	 t;
	struct world	*wd;
	int		 id;
	char		 vals[10][24];	/* what each of its keys holds */
	int		 fails;
};

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	struct world	*wd = w->wd;
	sc_conn		*c = sc_connect(w->wd->d->sock);
	char		 k[24], k2[24], v[24], v2[24];
	sc_batch	*b;
	int		 i, j, rc;

	while (!atomic_load(&wd->go))
		usleep(1000);
	for (i = 0; i < ITERS; i++) {
		j = i % 10;
		snprintf(k, sizeof(k), "w%d/k%d", w->id, j);
		snprintf(v, sizeof(v), "v%d.%d", w->id, i);
		switch (i % 5) {
		case 0:		/* a batch: one revision, three changes */
			snprintf(k2, sizeof(k2), "w%d/k%d", w->id, (j + 1) % 10);
			snprintf(v2, sizeof(v2), "b%d.%d", w->id, i);
			b = sc_batch_begin(c, "r", "kv", NULL);
			sc_batch_put(b, NULL, k, strlen(k), v, strlen(v));
			sc_batch_del(b, NULL, k2, strlen(k2));
			sc_batch_put(b, NULL, k2, strlen(k2), v2, strlen(v2));
			if (sc_batch_commit(b) == -1) {
				w->fails++;
				break;
			}
			note(wd, sc_last_rev(c), SC_EV_PUT, k, v);
			note(wd, sc_last_rev(c), SC_EV_DEL, k2, NULL);
			note(wd, sc_last_rev(c), SC_EV_PUT, k2, v2);
			snprintf(w->vals[j], sizeof(w->vals[j]), "%s", v);
			snprintf(w->vals[(j + 1) % 10], sizeof(w->vals[0]),
			    "%s", v2);
			break;
		case 1:		/* applies only when the key is absent */
			rc = sc_put_if_absent(c, "r", "kv", NULL, k, strlen(k),
			    v, strlen(v));
			if (rc == 0) {
				note(wd, sc_last_rev(c), SC_EV_PUT, k, v);
				snprintf(w->vals[j], sizeof(w->vals[j]), "%s",
				    v);
			} else if (sc_errcode(c) != SC_ERR_COND_FAILED)
				w->fails++;
			break;
		case 2:		/* absent keys: NOT_FOUND, no revision */
			rc = sc_del(c, "r", "kv", NULL, k, strlen(k));
			if (rc == 0) {
				note(wd, sc_last_rev(c), SC_EV_DEL, k, NULL);
				w->vals[j][0] = '\0';
			} else if (sc_errcode(c) != SC_ERR_NOT_FOUND)
				w->fails++;
			break;
		case 3:		/* a condition that holds when the key does */
			if (w->vals[j][0] == '\0')
				break;
			if (sc_put_if_equals(c, "r", "kv", NULL, k, strlen(k),
			    w->vals[j], strlen(w->vals[j]), v,
			    strlen(v)) == 0) {
				note(wd, sc_last_rev(c), SC_EV_PUT, k, v);
				snprintf(w->vals[j], sizeof(w->vals[j]), "%s",
				    v);
			} else
				w->fails++;
			break;
		default:
			if (sc_put(c, "r", "kv", NULL, k, strlen(k), v,
			    strlen(v)) == 0) {
				note(wd, sc_last_rev(c), SC_EV_PUT, k, v);
				snprintf(w->vals[j], sizeof(w->vals[j]), "%s",
				    v);
			} else
				w->fails++;
		}
	}
	sc_close(c);
	return NULL;
}

struct watcher {
	pthread_t	 t;
	struct world	*wd;
	const char	*prefix;
	struct change	*got;
	size_t		 n;
	uint64_t	 seen;		/* every revision up to it came */
	char		 err[320];
	atomic_bool	 ready;
};

static void *
watcher_main(void *arg)
{
	struct watcher	*w = arg;
	sc_conn		*c = sc_connect(w->wd->d->sock);
	sc_watch	*wt;
	sc_event	 ev;
	uint64_t	 last;
	int		 rc;

	w->got = calloc(MAXOPS, sizeof(*w->got));
	wt = watch_prefix(c, "r", "kv", w->prefix, 0, NULL);
	atomic_store(&w->ready, true);
	if (wt == NULL) {
		snprintf(w->err, sizeof(w->err), "begin: %s", sc_errmsg(c));
		goto done;
	}
	for (;;) {
		last = atomic_load(&w->wd->last);
		if (last > 0 && w->seen >= last)
			break;
		if ((rc = sc_watch_next(wt, &ev, 30000)) != 1) {
			snprintf(w->err, sizeof(w->err), "next: %d %s: %s",
			    rc, sc_errname(sc_errcode(c)), sc_errmsg(c));
			break;
		}
		if (ev.rev < w->seen) {
			snprintf(w->err, sizeof(w->err), "revision %llu "
			    "after %llu", (unsigned long long)ev.rev,
			    (unsigned long long)w->seen);
			break;
		}
		w->seen = ev.rev;
		if (ev.op == SC_EV_PROGRESS)
			continue;
		if (w->n == MAXOPS) {
			snprintf(w->err, sizeof(w->err), "too many events");
			break;
		}
		w->got[w->n].rev = ev.rev;
		w->got[w->n].op = ev.op;
		snprintf(w->got[w->n].key, sizeof(w->got[0].key), "%.*s",
		    (int)ev.klen, (const char *)ev.key);
		snprintf(w->got[w->n].val, sizeof(w->got[0].val), "%.*s",
		    (int)ev.vlen, ev.val ? (const char *)ev.val : "");
		w->n++;
	}
	sc_watch_end(wt);
done:
	sc_close(c);
	return NULL;
}

static int
by_rev(const void *a, const void *b)
{
	const struct change	*x = a, *y = b;

	if (x->rev != y->rev)
		return x->rev < y->rev ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Each watcher got exactly the logged changes its prefix matches. */
static void
check_watcher(struct world *wd, struct watcher *w)
{
	size_t	 i, k = 0, plen = strlen(w->prefix);

	ck_assert_msg(w->err[0] == '\0', "watcher '%s': %s", w->prefix,
	    w->err);
	for (i = 0; i < wd->n; i++) {
		const struct change *ch = &wd->log[i];

		if (strncmp(ch->key, w->prefix, plen) != 0)
			continue;
		ck_assert_msg(k < w->n, "watcher '%s' missed revision %llu "
		    "(%s)", w->prefix, (unsigned long long)ch->rev, ch->key);
		ck_assert_msg(w->got[k].rev == ch->rev &&
		    w->got[k].op == ch->op &&
		    strcmp(w->got[k].key, ch->key) == 0 &&
		    strcmp(w->got[k].val, ch->val) == 0,
		    "watcher '%s' event %zu: got %llu %d %s=%s, want %llu "
		    "%d %s=%s", w->prefix, k,
		    (unsigned long long)w->got[k].rev, w->got[k].op,
		    w->got[k].key, w->got[k].val,
		    (unsigned long long)ch->rev, ch->op, ch->key, ch->val);
		k++;
	}
	ck_assert_msg(k == w->n, "watcher '%s' got %zu events, %zu were "
	    "committed", w->prefix, w->n, k);
}

START_TEST(watchers_see_every_committed_change_once_in_order)
{
	static const char *const prefixes[NWATCHERS] = {
		"", "w1/", "w2/k1", "w3",
	};
	struct hs_daemon	 d;
	struct world		*wd = calloc(1, sizeof(*wd));
	struct writer		 wr[NWRITERS];
	struct watcher		 wa[NWATCHERS];
	sc_conn			*c;
	uint64_t		 rev;
	int			 i;

	ck_assert_ptr_nonnull(wd);
	it_up(&d, conf);
	wd->d = &d;
	pthread_mutex_init(&wd->mtx, NULL);
	memset(wa, 0, sizeof(wa));
	memset(wr, 0, sizeof(wr));
	for (i = 0; i < NWATCHERS; i++) {
		wa[i].wd = wd;
		wa[i].prefix = prefixes[i];
		ck_assert_int_eq(pthread_create(&wa[i].t, NULL, watcher_main,
		    &wa[i]), 0);
	}
	for (i = 0; i < NWATCHERS; i++)
		while (!atomic_load(&wa[i].ready))
			usleep(1000);
	for (i = 0; i < NWRITERS; i++) {
		wr[i].wd = wd;
		wr[i].id = i;
		ck_assert_int_eq(pthread_create(&wr[i].t, NULL, writer_main,
		    &wr[i]), 0);
	}
	atomic_store(&wd->go, true);
	for (i = 0; i < NWRITERS; i++) {
		pthread_join(wr[i].t, NULL);
		ck_assert_int_eq(wr[i].fails, 0);
	}
	c = it_conn(&d);
	ck_assert_int_eq(sc_rev(c, "r", "kv", &rev), 0);
	sc_close(c);
	qsort(wd->log, wd->n, sizeof(wd->log[0]), by_rev);
	ck_assert_uint_eq(rev, wd->log[wd->n - 1].rev);
	atomic_store(&wd->last, rev);
	for (i = 0; i < NWATCHERS; i++) {
		pthread_join(wa[i].t, NULL);
		check_watcher(wd, &wa[i]);
		free(wa[i].got);
	}
	down(&d);
	free(wd);
}
END_TEST

/* ------------------------------------------------------------ resume */

static void
put_n(sc_conn *c, const char *store, int from, int n)
{
	char	 k[24];
	int	 i;

	for (i = from; i < from + n; i++) {
		snprintf(k, sizeof(k), "k%05d", i);
		ck_assert_msg(sc_put(c, "r", store, NULL, k, strlen(k), k,
		    strlen(k)) == 0, "%s", sc_errmsg(c));
	}
}

/* Reads n events from rev first on: each the put of key number rev. */
static uint64_t
read_puts(sc_watch *w, uint64_t first, int n)
{
	sc_event	 ev;
	char		 k[24];
	int		 i;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(next_event(w, &ev, 30000), 1);
		ck_assert_uint_eq(ev.rev, first + (uint64_t)i);
		snprintf(k, sizeof(k), "k%05d", (int)ev.rev);
		ck_assert_int_eq(ev.op, SC_EV_PUT);
		ck_assert_uint_eq(ev.klen, strlen(k));
		ck_assert(memcmp(ev.key, k, ev.klen) == 0);
	}
	return first + (uint64_t)n;
}

START_TEST(resume_after_disconnect_and_restart)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	uint64_t		 next, rev;

	it_up(&d, conf);
	c = it_conn(&d);
	put_n(c, "kv", 1, 100);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "kv", "", 1, &rev));
	ck_assert_uint_eq(rev, 100);
	next = read_puts(w, 1, 40);
	sc_close(wc);		/* gone without a word */
	sc_watch_end(w);
	put_n(c, "kv", 101, 60);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "kv", "", next,
	    NULL));
	next = read_puts(w, next, 120);		/* 41..160, then live */
	put_n(c, "kv", 161, 5);
	next = read_puts(w, next, 5);
	sc_watch_end(w);
	sc_close(wc);
	sc_close(c);

	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	put_n(c, "kv", 166, 10);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "kv", "", next,
	    NULL));
	read_puts(w, next, 10);
	sc_watch_end(w);
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

struct loader {
	pthread_t		 t;
	const char		*sock;
	_Atomic uint64_t	 acked;	/* the last revision acknowledged */
};

static void *
loader_main(void *arg)
{
	struct loader	*l = arg;
	sc_conn		*c = sc_connect(l->sock);
	char		 k[24];
	int		 i;

	for (i = 1;; i++) {
		snprintf(k, sizeof(k), "k%05d", i);
		if (sc_put(c, "r", "kv", NULL, k, strlen(k), k,
		    strlen(k)) == -1)
			break;
		atomic_store(&l->acked, sc_last_rev(c));
	}
	sc_close(c);
	return NULL;
}

START_TEST(every_acknowledged_write_is_delivered_after_kill_9)
{
	struct hs_daemon	 d;
	struct loader		 l = { .sock = NULL };
	sc_conn			*c;
	sc_watch		*w;
	uint64_t		 acked, rev;
	int			 i;

	it_up(&d, conf);
	l.sock = d.sock;
	ck_assert_int_eq(pthread_create(&l.t, NULL, loader_main, &l), 0);
	for (i = 0; i < hs_tries(10) && atomic_load(&l.acked) < 300; i++)
		usleep(10000);
	ck_assert_uint_ge(atomic_load(&l.acked), 300);
	hs_kill9(&d);
	pthread_join(l.t, NULL);
	acked = atomic_load(&l.acked);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(c, "r", "kv", "", 1, &rev));
	/* Every acknowledged write is there; one committed as the daemon
	 * died may be there without its acknowledgement. */
	ck_assert_uint_ge(rev, acked);
	read_puts(w, 1, (int)rev);
	sc_watch_end(w);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * A watch on a key nobody writes, in an env written busily: commits
 * with nothing for it are not read back from history for it (watch.c),
 * yet it keeps up with them: its progress frames reach the current
 * revision, history trimmed far past where it began is no COMPACTED,
 * and the write of its key comes as its next event.  Likewise for a
 * store without history.
 */
START_TEST(a_quiet_watch_keeps_up_with_a_busy_env)
{
	static const char *const stores[] = { "small", "nh" };
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch_opts		*o;
	sc_watch		*w;
	sc_event		 ev;
	size_t			 i;

	it_up(&d, conf);
	c = it_conn(&d);
	wc = it_conn(&d);
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		ck_assert_ptr_nonnull(o = sc_watch_opts_new());
		ck_assert_int_eq(sc_watch_opts_set_key(o, "quiet", 5), 0);
		ck_assert_ptr_nonnull(w = sc_watch_begin(wc, "r", stores[i],
		    NULL, o, NULL));
		sc_watch_opts_free(o);
		put_n(c, stores[i], 1, 400);	/* far past 2 KiB of history */
		do {
			ck_assert_msg(sc_watch_next(w, &ev, 30000) == 1,
			    "%s: %s", stores[i], sc_errmsg(wc));
			ck_assert_msg(ev.op == SC_EV_PROGRESS, "%s: an event "
			    "of rev %llu for a key nobody wrote", stores[i],
			    (unsigned long long)ev.rev);
		} while (ev.rev < 400);
		ck_assert_uint_eq(ev.rev, 400);
		ck_assert_int_eq(sc_put(c, "r", stores[i], NULL, "quiet", 5,
		    "q", 1), 0);
		ck_assert_msg(next_event(w, &ev, 30000) == 1, "%s: %s",
		    stores[i], sc_errmsg(wc));
		ck_assert_int_eq(ev.op, SC_EV_PUT);
		ck_assert_uint_eq(ev.rev, 401);
		ck_assert_uint_eq(ev.klen, 5);
		ck_assert_int_eq(memcmp(ev.key, "quiet", 5), 0);
		sc_watch_end(w);
	}
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * How many descriptors storesd's epoll instances watch for EPOLLOUT
 * (0x4 in the "events:" of /proc/PID/fdinfo of each), or -1.  A loop
 * asks for writability only while replies wait for the socket.
 */
static int
epollout_interest(pid_t pid)
{
	char		 path[64], link[64], line[256];
	unsigned	 ev;
	int		 fd, n = 0;
	ssize_t		 len;
	FILE		*f;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
		if ((len = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fdinfo/%d", (long)pid,
		    fd);
		if ((f = fopen(path, "r")) == NULL)
			return -1;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "tfd: %*d events: %x", &ev) == 1 &&
			    (ev & 0x4))
				n++;
		fclose(f);
	}
	return n;
}

/*
 * Once a watch's events are out, its connection's loop stops asking
 * whether the socket is writable.  It did not: the events of a watch go
 * out from the socket's write event, which was added and never removed,
 * and a socket with room is always writable, so each loop holding a
 * watch that had sent anything turned without end: a core per loop
 * spent while nothing happened, and workload 11's CPU per event.
 */
START_TEST(a_watch_that_sent_its_events_leaves_its_loop_idle)
{
	static const char *const stores[] = { "kv", "nh" };
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	size_t			 i;
	int			 n, tries;

	it_up(&d, conf);
	c = it_conn(&d);
	wc = it_conn(&d);
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		ck_assert_int_eq(sc_put(c, "idle", stores[i], NULL, "k0", 2,
		    "v", 1), 0);
		ck_assert_ptr_nonnull(w = watch_prefix(wc, "idle", stores[i],
		    "k", 0, NULL));
		ck_assert_int_eq(sc_put(c, "idle", stores[i], NULL, "k1", 2,
		    "v", 1), 0);
		ck_assert_msg(next_event(w, &ev, 30000) == 1, "%s: %s",
		    stores[i], sc_errmsg(wc));
		ck_assert_int_eq(ev.op, SC_EV_PUT);
		/* Nothing waits to be sent now; progress events (100 ms)
		 * add some for a moment. */
		for (tries = 0; tries < hs_tries(10) &&
		    (n = epollout_interest(d.pid)) != 0; tries++)
			usleep(10000);
		ck_assert_msg(n == 0, "%s: %d sockets still watched for "
		    "writability with nothing to send", stores[i], n);
		sc_watch_end(w);
	}
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

/* --------------------------------------------------------- COMPACTED */

START_TEST(from_before_history_is_compacted)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_watch		*w;
	sc_event		 ev;
	uint64_t		 oldest, current;

	it_up(&d, conf);
	c = it_conn(&d);
	put_n(c, "small", 1, 400);	/* far more than 2 KiB of history */
	ck_assert_ptr_nonnull(w = watch_prefix(c, "r", "small", "", 1, NULL));
	EXPECT_ERR(c, next_event(w, &ev, 30000), SC_ERR_COMPACTED);
	ck_assert_int_eq(sc_watch_compacted(w, &oldest, &current), 0);
	ck_assert_uint_gt(oldest, 1);
	ck_assert_uint_le(oldest, 400);
	ck_assert_uint_eq(current, 400);
	sc_watch_end(w);
	/* From the oldest kept, all of it comes. */
	ck_assert_ptr_nonnull(w = watch_prefix(c, "r", "small", "", oldest,
	    NULL));
	read_puts(w, oldest, (int)(400 - oldest + 1));
	ck_assert_int_eq(sc_watch_compacted(w, NULL, NULL), -1);
	sc_watch_end(w);
	/* No history: only from the current revision + 1. */
	put_n(c, "nh", 1, 3);
	ck_assert_ptr_nonnull(w = watch_prefix(c, "r", "nh", "", 2, NULL));
	EXPECT_ERR(c, next_event(w, &ev, 30000), SC_ERR_COMPACTED);
	ck_assert_int_eq(sc_watch_compacted(w, &oldest, &current), 0);
	ck_assert_uint_eq(oldest, 4);
	ck_assert_uint_eq(current, 3);
	sc_watch_end(w);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * A store without history keeps no "oldest" record in its env (an absent
 * one reads as the next revision), and one left by history turned off
 * since goes with the next write: each commit wrote it, and the unchanged
 * "hist_bytes", beside the revision, two puts more than it needs.  Before:
 * mdb_dump found @storesd:oldest in both envs.  What a watch learns of
 * the oldest revision is the same, across a restart too.
 */
START_TEST(a_store_without_history_writes_no_oldest)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_watch		*w;
	sc_event		 ev;
	char			 conf2[1024], reload[256];
	const char		*p;
	uint64_t		 oldest, current;

	ck_assert_ptr_nonnull(p = strstr(conf, "history = 64MiB"));
	snprintf(conf2, sizeof(conf2), "%.*shistory = 0%s", (int)(p - conf),
	    conf, p + strlen("history = 64MiB"));
	it_up(&d, conf);
	c = it_conn(&d);
	put_n(c, "nh", 1, 3);
	put_n(c, "kv", 1, 3);
	ck_assert_int_eq(hs_reload(&d, conf2, reload, sizeof(reload)), 0);
	put_n(c, "kv", 4, 2);
	sc_close(c);
	ck_assert_int_eq(hs_stop(&d), 0);
	ck_assert_int_ne(it_run("mdb_dump -p %s/r/@nh | grep -q "
	    "'@storesd:oldest'", d.data), 0);
	ck_assert_int_ne(it_run("mdb_dump -p %s/r/@kv | grep -q "
	    "'@storesd:oldest'", d.data), 0);
	ck_assert_int_eq(it_run("mdb_dump -p %s/r/@kv | grep -q "
	    "'@storesd:rev'", d.data), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(c, "r", "nh", "", 2, NULL));
	EXPECT_ERR(c, next_event(w, &ev, 30000), SC_ERR_COMPACTED);
	ck_assert_int_eq(sc_watch_compacted(w, &oldest, &current), 0);
	ck_assert_uint_eq(oldest, 4);
	ck_assert_uint_eq(current, 3);
	sc_watch_end(w);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * A watch that began before its env existed, on a store without
 * history: a fork (or a restore) then makes the env with revisions the
 * watch was never told of.  Their changes cannot be sent, so the watch
 * must end saying so, not go on with the fork's next write as if the
 * revisions between its reply's and that write's had not happened.
 */
START_TEST(a_fork_into_a_watched_repo_is_no_silent_gap)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	uint64_t		 rev, oldest, current;
	int			 rc;

	it_up(&d, conf);
	c = it_conn(&d);
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "g", "nh", "", 0, &rev));
	ck_assert_uint_eq(rev, 0);
	put_n(c, "nh", 1, 3);
	ck_assert_int_eq(sc_fork(c, "r", "nh", "g"), 0);
	ck_assert_int_eq(sc_put(c, "g", "nh", NULL, "k", 1, "v", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 4);
	rc = next_event(w, &ev, 30000);
	ck_assert_msg(rc == -1, "event rev %llu after a reply of rev 0",
	    (unsigned long long)ev.rev);
	ck_assert_int_eq(sc_errcode(wc), SC_ERR_COMPACTED);
	ck_assert_int_eq(sc_watch_compacted(w, &oldest, &current), 0);
	ck_assert_uint_eq(current, 4);
	ck_assert_uint_eq(oldest, 5);
	sc_watch_end(w);
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

/* --------------------------------------------------- slow watchers */

START_TEST(a_watcher_that_does_not_read_costs_no_memory)
{
	static char		 val[16 * 1024];
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	char			 k[24];
	long			 before, after;
	int			 i;

	it_up(&d, conf);
	c = it_conn(&d);
	memset(val, 'v', sizeof(val));
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "kv", "", 0, NULL));
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "warm", 4, val,
	    sizeof(val)), 0);
	ck_assert_int_gt(before = hs_status_kib(d.pid, "RssAnon"), 0);
	/* 48 MiB of events nobody reads. */
	for (i = 0; i < 3072; i++) {
		snprintf(k, sizeof(k), "big%05d", i);
		ck_assert_int_eq(sc_put(c, "r", "kv", NULL, k, strlen(k), val,
		    sizeof(val)), 0);
	}
	after = hs_status_kib(d.pid, "RssAnon");
	/* 48 MiB kept for the watcher would show; LMDB's dirty pages and
	 * malloc's arenas are well under the bound. */
	if (!hs_sanitized())
		ck_assert_msg(after - before < 24 * 1024, "storesd's "
		    "anonymous memory grew by %ld KiB for a watcher that "
		    "does not read", after - before);
	/* It catches up, from history, missing nothing. */
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 1);
	for (i = 0; i < 3072; i++) {
		ck_assert_int_eq(next_event(w, &ev, 30000), 1);
		ck_assert_uint_eq(ev.rev, (uint64_t)i + 2);
		ck_assert_uint_eq(ev.vlen, sizeof(val));
	}
	sc_watch_end(w);
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

/*
 * One revision whose events are larger than what a connection may leave
 * unsent (max_output; here 64 KiB beside a 64 KiB max_frame): a batch
 * of 60,000 small puts.  A watcher that reads as fast as it can must
 * still get every event of it, with history (read a bounded amount per
 * turn, within a revision too) and with a watch_buffer that holds it
 * all: storesd must not append it to the output at once, which cuts
 * the connection off, again at every resume.
 */
static const char conf_out[] =
    "[daemon]\nsocket_mode = 0666\nwatch_progress = 100ms\n"
    "max_output = 64KiB\nmax_frame = 64KiB\nmax_batch = 64MiB\n"
    "watch_buffer = 64MiB\n"
    "[store kv]\nmap_size = 256MiB\nhistory = 64MiB\n"
    "[store nh]\nmap_size = 256MiB\n";

START_TEST(a_revision_larger_than_max_output_reaches_its_watcher)
{
	static const char *const stores[] = { "kv", "nh" };
	enum { NOPS = 60000 };
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_batch		*b;
	sc_event		 ev;
	char			 k[24];
	uint64_t		 rev;
	size_t			 s;
	int			 i;

	it_up(&d, conf_out);
	c = it_conn(&d);
	for (s = 0; s < sizeof(stores) / sizeof(stores[0]); s++) {
		wc = it_conn(&d);
		ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", stores[s], "",
		    0, &rev));
		ck_assert_ptr_nonnull(b = sc_batch_begin(c, "r", stores[s],
		    NULL));
		for (i = 0; i < NOPS; i++) {
			snprintf(k, sizeof(k), "k%d", i);
			ck_assert_int_eq(sc_batch_put(b, NULL, k, strlen(k),
			    "v", 1), 0);
		}
		ck_assert_msg(sc_batch_commit(b) == 0, "%s", sc_errmsg(c));
		ck_assert_uint_eq(sc_last_rev(c), rev + 1);
		for (i = 0; i < NOPS; i++) {
			ck_assert_msg(next_event(w, &ev, 30000) == 1, "%s: "
			    "event %d of %d: %s", stores[s], i, NOPS,
			    sc_errmsg(wc));
			ck_assert_uint_eq(ev.rev, rev + 1);
			snprintf(k, sizeof(k), "k%d", i);
			ck_assert_uint_eq(ev.klen, strlen(k));
			ck_assert(memcmp(ev.key, k, ev.klen) == 0);
		}
		/* Then progress, not another copy of any of it. */
		ck_assert_int_eq(sc_watch_next(w, &ev, 30000), 1);
		ck_assert_int_eq(ev.op, SC_EV_PROGRESS);
		ck_assert_uint_eq(ev.rev, rev + 1);
		sc_watch_end(w);
		sc_close(wc);
	}
	sc_close(c);
	down(&d);
}
END_TEST

START_TEST(no_history_overflow_ends_the_watch)
{
	static char		 val[1024];
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_batch		*b;
	sc_event		 ev;
	char			 k[24];
	uint64_t		 last = 0;
	int			 i, j, rc;

	it_up(&d, conf);
	c = it_conn(&d);
	memset(val, 'v', sizeof(val));
	wc = it_conn(&d);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "nh", "", 0, NULL));
	/* 8 MiB of events: past the socket, the output and 4 KiB more. */
	for (i = 0; i < 80; i++) {
		ck_assert_ptr_nonnull(b = sc_batch_begin(c, "r", "nh", NULL));
		for (j = 0; j < 100; j++) {
			snprintf(k, sizeof(k), "k%d.%d", i, j);
			sc_batch_put(b, NULL, k, strlen(k), val, sizeof(val));
		}
		ck_assert_int_eq(sc_batch_commit(b), 0);
	}
	/* What came is in order, then the end says so: never a gap. */
	while ((rc = next_event(w, &ev, 30000)) == 1) {
		ck_assert_uint_ge(ev.rev, last);
		last = ev.rev;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(sc_errcode(wc), SC_ERR_WATCH_OVERFLOW);
	ck_assert_uint_lt(last, 80);
	sc_watch_end(w);
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

/* ------------------------------------------------------------ RESYNC */

/* ------------------------------------------------------- durability */

static uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A put made on a connection of its own, answered when it is durable. */
struct gated_put {
	const struct hs_daemon	*d;
	const char		*store;
	atomic_int		 rc;		/* 1 until answered */
	_Atomic uint64_t	 rev;
};

static void *
gated_put_main(void *arg)
{
	struct gated_put	*p = arg;
	sc_conn			*c = sc_connect(p->d->sock);
	int			 rc;

	rc = sc_put(c, "r", p->store, NULL, "k", 1, "2", 1);
	atomic_store(&p->rev, sc_last_rev(c));
	atomic_store(&p->rc, rc);
	sc_close(c);
	return NULL;
}

/*
 * Under sync = full a commit is durable only once the next commit or a
 * sync of its own makes it so, and its writer is answered only then: its
 * watchers must not hear of it sooner, from history or from a buffer.
 * syncgate (an LD_PRELOAD) lets the commit's own data sync pass and
 * holds back the one that would make it durable, while reads see it.
 */
START_TEST(events_wait_until_their_write_is_durable)
{
	static const char *const stores[] = { "kv", "nh" };
	struct hs_daemon	 d;
	struct gated_put	 p;
	pthread_t		 t;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	char			 dir[] = "/tmp/check_watch.XXXXXX";
	char			 gatef[64], lib[4096], wrap[4200];
	void			*v;
	size_t			 vn, i;
	uint64_t		 start, rev, t0;
	bool			 seen;
	int			 fd, rc;

	if (hs_sanitized())
		return;		/* no LD_PRELOAD under ASan or valgrind */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(gatef, sizeof(gatef), "%s/gate", dir);
	snprintf(wrap, sizeof(wrap), "%s/tests/syncgate.so", hs_build());
	ck_assert_ptr_nonnull(realpath(wrap, lib));
	snprintf(wrap, sizeof(wrap), "/usr/bin/env LD_PRELOAD=%s", lib);
	setenv("SYNC_GATE", gatef, 1);
	setenv("STORESD_WRAPPER", wrap, 1);
	it_up(&d, conf);
	unsetenv("STORESD_WRAPPER");
	unsetenv("SYNC_GATE");
	c = it_conn(&d);
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		ck_assert_int_eq(sc_put(c, "r", stores[i], NULL, "k", 1, "1",
		    1), 0);
		start = sc_last_rev(c);
		wc = it_conn(&d);
		ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", stores[i], "k",
		    0, &rev));
		ck_assert_uint_eq(rev, start);

		ck_assert_int_ge(fd = open(gatef, O_WRONLY | O_CREAT, 0600),
		    0);
		close(fd);
		p = (struct gated_put){ &d, stores[i], 1, 0 };
		ck_assert_int_eq(pthread_create(&t, NULL, gated_put_main, &p),
		    0);
		/* Committed: reads see it, while its sync waits. */
		t0 = mono_ms();
		do {
			ck_assert_uint_lt(mono_ms() - t0, 30000);
			ck_assert_int_eq(sc_get(c, "r", stores[i], NULL, "k", 1,
			    &v, &vn), 0);
			seen = vn == 1 && memcmp(v, "2", 1) == 0;
			sc_free(v);
			if (!seen)
				usleep(1000);
		} while (!seen);
		/* Neither its writer nor its watcher hears of it meanwhile;
		 * progress frames say no more than the revision before. */
		t0 = mono_ms();
		while ((rc = sc_watch_next(w, &ev, 300)) == 1 &&
		    mono_ms() - t0 < 300) {
			ck_assert_int_eq(ev.op, SC_EV_PROGRESS);
			ck_assert_uint_le(ev.rev, start);
		}
		ck_assert_int_ge(rc, 0);
		if (rc == 1) {
			ck_assert_int_eq(ev.op, SC_EV_PROGRESS);
			ck_assert_uint_le(ev.rev, start);
		}
		ck_assert_int_eq(atomic_load(&p.rc), 1);

		ck_assert_int_eq(unlink(gatef), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_int_eq(atomic_load(&p.rc), 0);
		ck_assert_uint_eq(atomic_load(&p.rev), start + 1);
		ck_assert_int_eq(next_event(w, &ev, 30000), 1);
		ck_assert_int_eq(ev.op, SC_EV_PUT);
		ck_assert_uint_eq(ev.rev, start + 1);
		sc_watch_end(w);
		sc_close(wc);
	}
	sc_close(c);
	down(&d);
	rmdir(dir);
}
END_TEST

START_TEST(another_program_writing_a_path_env_is_resync)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_watch		*w;
	sc_event		 ev;
	char			 dir[160];

	ck_assert_int_eq(hs_prepare(&d, conf_ext), 0);
	snprintf(dir, sizeof(dir), "%s/ext", d.dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	c = it_conn(&d);
	ck_assert_int_eq(sc_put(c, NULL, "ext", NULL, "a", 1, "1", 1), 0);
	ck_assert_ptr_nonnull(w = watch_prefix(c, NULL, "ext", "", 0, NULL));
	ck_assert_int_eq(sc_put(c, NULL, "ext", NULL, "b", 1, "2", 1), 0);
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 2);
	ck_assert_int_eq(it_run("%s/tests/lmdb-writer %s %d 1", hs_build(),
	    dir, 16 << 20), 0);
	EXPECT_ERR(c, next_event(w, &ev, 30000), SC_ERR_RESYNC);
	sc_watch_end(w);
	sc_close(c);
	down(&d);
}
END_TEST

/* --------------------------------------------------------- FORBIDDEN */

#define NOBODY	65534

START_TEST(watch_needs_read_access)
{
	struct hs_daemon	 d;
	sc_conn			*c;
	sc_watch		*w;
	sc_event		 ev;
	pid_t			 pid;
	char			 open_conf[1024], closed_conf[1024], reload[256];
	char			 ch;
	int			 status, p[2];

	if (geteuid() != 0) {
		fprintf(stderr, "watch_needs_read_access: needs root to act "
		    "as another user; skipped\n");
		return;
	}
	snprintf(open_conf, sizeof(open_conf), "%s[store pub]\n"
	    "map_size = 16MiB\n", conf);
	snprintf(closed_conf, sizeof(closed_conf), "%s[store pub]\n"
	    "map_size = 16MiB\nreaders = root\n", conf);
	ck_assert_int_eq(hs_prepare(&d, open_conf), 0);
	ck_assert_int_eq(chmod(d.dir, 0755), 0);	/* nobody may reach it */
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (setgroups(0, NULL) == -1 || setgid(NOBODY) == -1 ||
		    setuid(NOBODY) == -1)
			_exit(100);
		c = sc_connect(d.sock);
		/* A watch it may open, until a reload takes access away. */
		if ((w = sc_watch_begin(c, NULL, "pub", NULL, NULL, NULL)) ==
		    NULL)
			_exit(3);
		if (write(p[1], "w", 1) != 1)
			_exit(4);
		close(p[1]);
		if (next_event(w, &ev, 30000) != -1 ||
		    sc_errcode(c) != SC_ERR_FORBIDDEN) {
			fprintf(stderr, "as nobody: after the reload: %s: "
			    "%s\n", sc_errname(sc_errcode(c)), sc_errmsg(c));
			_exit(5);
		}
		sc_watch_end(w);
		if (sc_watch_begin(c, NULL, "closed", NULL, NULL, NULL) !=
		    NULL || sc_errcode(c) != SC_ERR_FORBIDDEN) {
			fprintf(stderr, "as nobody: watch: %s: %s\n",
			    sc_errname(sc_errcode(c)), sc_errmsg(c));
			_exit(1);
		}
		if (sc_rev(c, NULL, "closed", NULL) != -1 ||
		    sc_errcode(c) != SC_ERR_FORBIDDEN)
			_exit(2);
		sc_close(c);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &ch, 1), 1);	/* its watch is open */
	close(p[0]);
	ck_assert_int_eq(hs_reload(&d, closed_conf, reload, sizeof(reload)),
	    0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "as nobody: status %d", WEXITSTATUS(status));
	down(&d);
}
END_TEST

/*
 * max_watches bounded a connection, not a user: one user's connections
 * could open watches without end, each one memory and work for every
 * commit.  Daemon-wide there are max_watches_total, no uid holding more
 * than half: root's fifth of 8 is BUSY naming its share (with no retry
 * hint: it frees up when root unwatches), while nobody opens its own;
 * root may watch again once it ended one.
 */
START_TEST(one_uid_cannot_take_every_watch)
{
	struct hs_daemon	 d;
	sc_conn			*c[2], *nc;
	sc_watch		*w[4];
	char			 shared[1024];
	pid_t			 pid;
	int			 i, status;

	if (geteuid() != 0) {
		fprintf(stderr, "one_uid_cannot_take_every_watch: needs root "
		    "to act as another user; skipped\n");
		return;
	}
	ck_assert(strncmp(conf, "[daemon]\n", 9) == 0);
	snprintf(shared, sizeof(shared), "[daemon]\nmax_watches_total = 8\n%s",
	    conf + 9);
	ck_assert_int_eq(hs_prepare(&d, shared), 0);
	ck_assert_int_eq(chmod(d.dir, 0755), 0);	/* nobody may reach it */
	ck_assert_int_eq(hs_start(&d, NULL), 0);
	/* Four, over two connections: each under max_watches (8). */
	c[0] = it_conn(&d);
	c[1] = it_conn(&d);
	for (i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(w[i] = watch_prefix(c[i % 2], "r", "kv",
		    "x", 0, NULL));
	ck_assert_ptr_null(watch_prefix(c[0], "r", "kv", "x", 0, NULL));
	ck_assert_msg(sc_errcode(c[0]) == SC_ERR_BUSY, "%s: %s",
	    sc_errname(sc_errcode(c[0])), sc_errmsg(c[0]));
	ck_assert_msg(strstr(sc_errmsg(c[0]), "its share (4) of "
	    "max_watches_total (8)") != NULL, "%s", sc_errmsg(c[0]));
	ck_assert_int_eq(sc_errretry_ms(c[0]), -1);
	/* Another user's watches are admitted meanwhile: its own four. */
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) == -1 || setgid(NOBODY) == -1 ||
		    setuid(NOBODY) == -1)
			_exit(100);
		nc = sc_connect(d.sock);
		for (i = 0; i < 4; i++)
			if (sc_watch_begin(nc, "r", "kv", NULL, NULL,
			    NULL) == NULL) {
				fprintf(stderr, "as nobody: watch %d: %s: %s\n",
				    i, sc_errname(sc_errcode(nc)),
				    sc_errmsg(nc));
				_exit(1 + i);
			}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "as nobody: status %d", WEXITSTATUS(status));
	/* Root's watches end: it may watch again. */
	sc_watch_end(w[0]);
	ck_assert_ptr_nonnull(w[0] = watch_prefix(c[0], "r", "kv", "y", 0,
	    NULL));
	for (i = 0; i < 4; i++)
		sc_watch_end(w[i]);
	sc_close(c[0]);
	sc_close(c[1]);
	down(&d);
}
END_TEST

/*
 * A reload that changes how a watched store's env is opened (here its
 * history bound) reopens the env for the new configuration; a watch
 * begun under the old one must go on, not wait forever for an env that
 * no longer fits the configuration it was resolved against.
 */
START_TEST(a_reload_that_reopens_the_env_leaves_its_watches_going)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w;
	sc_event		 ev;
	char			 conf2[1024], reload[256];
	char			*p;
	uint64_t		 rev;

	snprintf(conf2, sizeof(conf2), "%s", conf);
	ck_assert_ptr_nonnull(p = strstr(conf2, "history = 64MiB"));
	memcpy(p, "history = 32MiB", 15);
	it_up(&d, conf);
	c = it_conn(&d);
	wc = it_conn(&d);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "a", 1, "1", 1), 0);
	ck_assert_ptr_nonnull(w = watch_prefix(wc, "r", "kv", "", 0, &rev));
	ck_assert_uint_eq(rev, 1);
	ck_assert_int_eq(hs_reload(&d, conf2, reload, sizeof(reload)), 0);
	/* The put resolves against the new configuration: the env is
	 * reopened for it. */
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "b", 1, "2", 1), 0);
	ck_assert_uint_eq(sc_last_rev(c), 2);
	ck_assert_msg(next_event(w, &ev, 30000) == 1, "no event: %s",
	    sc_errmsg(wc));
	ck_assert_int_eq(ev.op, SC_EV_PUT);
	ck_assert_uint_eq(ev.rev, 2);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "c", 1, "3", 1), 0);
	ck_assert_int_eq(next_event(w, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 3);
	sc_watch_end(w);
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

/* ---------------------------------------------------------- the rest */

START_TEST(unwatch_and_other_requests_meanwhile)
{
	struct hs_daemon	 d;
	sc_conn			*c, *wc;
	sc_watch		*w1, *w2;
	sc_watch_opts		*o = sc_watch_opts_new();
	sc_watch		*more[6];
	sc_event		 ev;
	void			*v;
	size_t			 vn;
	int			 i;

	it_up(&d, conf);
	c = it_conn(&d);
	wc = it_conn(&d);
	ck_assert_int_eq(sc_watch_opts_set_key(o, "one", 3), 0);
	ck_assert_ptr_nonnull(w1 = sc_watch_begin(wc, "r", "kv", NULL, o,
	    NULL));
	sc_watch_opts_free(o);
	ck_assert_ptr_nonnull(w2 = watch_prefix(wc, "r", "kv", "t", 0, NULL));
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "one", 3, "1", 1), 0);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "oneone", 6, "x", 1), 0);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "two", 3, "2", 1), 0);
	/* A get on the watching connection: the events wait on their
	 * watches meanwhile. */
	ck_assert_int_eq(sc_get(wc, "r", "kv", NULL, "one", 3, &v, &vn), 0);
	sc_free(v);
	ck_assert_int_eq(next_event(w1, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 1);
	ck_assert_int_eq(next_event(w2, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 3);
	ck_assert_int_eq(sc_del(c, "r", "kv", NULL, "one", 3), 0);
	ck_assert_int_eq(next_event(w1, &ev, 30000), 1);
	ck_assert_int_eq(ev.op, SC_EV_DEL);
	ck_assert_ptr_null(ev.val);
	/* Idle: progress frames say how far it is up to date (one may
	 * have gone out before the del). */
	do {
		ck_assert_int_eq(sc_watch_next(w2, &ev, 30000), 1);
		ck_assert_int_eq(ev.op, SC_EV_PROGRESS);
		ck_assert_uint_le(ev.rev, 4);
	} while (ev.rev < 4);
	/* max_watches (8) per connection: the 9th is BUSY. */
	for (i = 0; i < 6; i++)
		ck_assert_ptr_nonnull(more[i] = watch_prefix(wc, "r", "kv",
		    "x", 0, NULL));
	ck_assert_ptr_null(watch_prefix(wc, "r", "kv", "x", 0, NULL));
	ck_assert_int_eq(sc_errcode(wc), SC_ERR_BUSY);
	for (i = 0; i < 6; i++)
		sc_watch_end(more[i]);
	sc_watch_end(w1);
	ck_assert_int_eq(sc_put(c, "r", "kv", NULL, "three", 5, "3", 1), 0);
	ck_assert_int_eq(next_event(w2, &ev, 30000), 1);
	ck_assert_uint_eq(ev.rev, 5);
	sc_watch_end(w2);
	sc_watch_end(NULL);
	sc_close(wc);
	sc_close(c);
	down(&d);
}
END_TEST

static Suite *
watch_suite(void)
{
	Suite	*s = suite_create("watch");
	TCase	*tc;

	tc = tcase_create("watch");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, revisions_are_in_replies_and_survive_restart);
	tcase_add_test(tc, env_id_is_new_for_a_fork_and_a_restore);
	tcase_add_test(tc, a_never_written_env_has_rev_0_and_no_id);
	tcase_add_test(tc, history_is_made_by_the_first_write);
	tcase_add_test(tc, an_env_with_a_db_storesd_keeps_its_revisions);
	tcase_add_test(tc, a_malformed_history_entry_is_corrupt);
	tcase_add_test(tc, an_env_at_the_last_revision_is_corrupt);
	tcase_add_test(tc, a_resume_across_a_restore_to_an_older_revision_is_resync);
	tcase_add_test(tc, watchers_see_every_committed_change_once_in_order);
	tcase_add_test(tc, resume_after_disconnect_and_restart);
	tcase_add_test(tc, every_acknowledged_write_is_delivered_after_kill_9);
	tcase_add_test(tc, from_before_history_is_compacted);
	tcase_add_test(tc, a_store_without_history_writes_no_oldest);
	tcase_add_test(tc, a_fork_into_a_watched_repo_is_no_silent_gap);
	tcase_add_test(tc, a_watcher_that_does_not_read_costs_no_memory);
	tcase_add_test(tc, no_history_overflow_ends_the_watch);
	tcase_add_test(tc, a_revision_larger_than_max_output_reaches_its_watcher);
	tcase_add_test(tc, events_wait_until_their_write_is_durable);
	tcase_add_test(tc, another_program_writing_a_path_env_is_resync);
	tcase_add_test(tc, watch_needs_read_access);
	tcase_add_test(tc, one_uid_cannot_take_every_watch);
	tcase_add_test(tc, a_quiet_watch_keeps_up_with_a_busy_env);
	tcase_add_test(tc, a_watch_that_sent_its_events_leaves_its_loop_idle);
	tcase_add_test(tc, a_reload_that_reopens_the_env_leaves_its_watches_going);
	tcase_add_test(tc, unwatch_and_other_requests_meanwhile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = check_run(watch_suite());

	return failed || bad_stops ? 1 : 0;
}
