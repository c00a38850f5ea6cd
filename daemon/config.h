/*
 * config: storesd's configuration.
 *
 * Owns: parsing the INI file (with libinih) or the built-in default,
 * checking every value, applying defaults and command-line overrides,
 * and the rules that keep two stores from sharing a directory.  A loaded
 * struct config is immutable; the daemon swaps whole configs on reload.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sp_msg.h"

#define CFG_BUILTIN	"<built-in>"
#define CFG_MAX_DBS	64	/* named dbs per env we accept */
#define CFG_MAX_STORES	256
#define CFG_ERRBUF	8192	/* room for cfg_load()'s errors */

enum cfg_sync {
	CFG_SYNC_FULL,		/* fsync per commit */
	CFG_SYNC_NOMETA,	/* MDB_NOMETASYNC */
	CFG_SYNC_NONE,		/* MDB_NOSYNC */
};

/* Who may: user and group ids; unset means anyone who can connect. */
struct cfg_acl {
	bool		 set;
	uid_t		*uids;
	unsigned	 nuids;
	gid_t		*gids;
	unsigned	 ngids;
};

struct cfg_store {
	char		 name[SP_NAME_MAX + 1];
	uint64_t	 map_size;	/* bytes; required */
	unsigned	 max_dbs;	/* 0: the one db is LMDB's unnamed db */
	char		 dbs[CFG_MAX_DBS][SP_NAME_MAX + 1];
	unsigned	 ndbs;		/* dbs[0] is the primary */
	enum cfg_sync	 sync;
	uint64_t	 sync_interval_ms; /* sync = none: flush this often */
	char		*path;		/* canonical; NULL: an env per repo */
	struct cfg_acl	 readers;	/* readers = (writers may read too) */
	struct cfg_acl	 writers;	/* writers = */
	bool		 create_explicit; /* create = explicit: NO_REPO */
	uint64_t	 history;	/* bytes of history kept; 0: none */
	unsigned	 line;		/* of its [store NAME] header */
	uint64_t	 gen;		/* its config's generation */
	struct config	*owner;		/* that config (cfg_stamp()) */
};

struct config {
	char		*file;		/* the file read, or CFG_BUILTIN */
	char		*socket;
	mode_t		 socket_mode;
	char		*data_dir;	/* absolute */
	uint64_t	 max_frame;	/* bytes */
	uint64_t	 idle_close_ms;
	uint64_t	 stop_timeout_ms; /* then SIGTERM cuts connections */
	unsigned	 io_threads;
	unsigned	 writer_threads;
	unsigned	 max_envs;	/* open at once */
	uint64_t	 map_budget;	/* bytes of maps open at once; 0:
					 * 3/4 of the address space */
	uint64_t	 max_batch;	/* bytes of streamed batches per conn */
	unsigned	 scan_page;	/* entries per scan reply, at most */
	unsigned	 max_connections;
	unsigned	 max_inflight;	/* per conn: requests not answered */
	unsigned	 max_per_turn;	/* per conn: requests per loop turn */
	uint64_t	 max_output;	/* per conn: reply bytes not sent */
	uint64_t	 max_input;	/* all conns: bytes of frames being
					 * received, past each one's share */
	uint64_t	 frame_timeout_ms; /* to finish a frame once begun */
	unsigned	 snapshot_max;	/* running at once, daemon-wide */
	uint64_t	 snapshot_timeout_ms; /* to take SNAP_PROGRESS bytes */
	uint64_t	 snapshot_max_time_ms; /* to take the whole snapshot */
	uint64_t	 snapshot_reserve; /* bytes a compacting one leaves
					 * free on the data disk; 0: 5% */
	uint64_t	 drop_wait_ms;	/* drop, restore: for the env in use */
	uint64_t	 restore_timeout_ms; /* restore: for the next bytes */
	uint64_t	 watch_progress_ms; /* idle watches: a progress frame */
	uint64_t	 watch_buffer;	/* per watch, stores without history */
	unsigned	 max_watches;	/* per conn */
	unsigned	 max_watches_total; /* daemon-wide */
	struct cfg_store *stores;
	unsigned	 nstores;
	uint64_t	 gen;		/* 1, then one more per reload */
	/* Holders of its stores that outlive a loop turn (open envs,
	 * streamed batches): a replaced config is freed once it has none
	 * (reload.c).  holds only grows, so a hold taken and dropped in
	 * between two looks is seen. */
	_Atomic unsigned refs;
	_Atomic uint64_t holds;
};

/*
 * Loads file (NULL: the built-in default) and applies the overrides
 * (each may be NULL): socket and data_dir replace the file's values;
 * when still unset they come from sp_default_socket() and
 * sp_default_data_dir().  Checks everything it can without creating a
 * file: sizes, names, duplicate stores, two stores resolving to one
 * directory, a fixed path inside data_dir.
 *
 * Returns the config, or NULL with every error found in errbuf, one a
 * line (joined by '\n', in the order of their lines), each of the form
 * "FILE:LINE: what is wrong and what to write instead" (no LINE when the
 * error is about the file as a whole); what does not fit in errlen is
 * counted on a last line "FILE: and N more errors".
 */
struct config	*cfg_load(const char *file, const char *socket,
		    const char *data_dir, char *errbuf, size_t errlen);
/* Frees cfg.  NULL-safe. */
void		 cfg_free(struct config *cfg);

/*
 * For a reload: the keys set up once, at start (the listening socket,
 * the data directory, the threads), keep their old values until a
 * restart.  Puts oc's values of them back into nc, a configuration just
 * loaded, and calls changed(arg, key) for each whose value differed.
 * Returns 0, or -1 when out of memory.
 */
int	cfg_keep_restart_keys(struct config *nc, const struct config *oc,
	    void (*changed)(void *arg, const char *key), void *arg);

/* Sets the generation of cfg and its stores, before it is published. */
void	cfg_stamp(struct config *cfg, uint64_t gen);
/*
 * Keeps st's config from being freed once a reload has replaced it, for
 * a holder that outlives the loop turn it got st in; cfg_drop() ends
 * that.  Thread-safe; both NULL-safe and no-ops for a store of no
 * stamped config.
 */
void	cfg_hold(const struct cfg_store *st);
void	cfg_drop(const struct cfg_store *st);

/*
 * True when an env opened for store a serves b as it is: same dbs,
 * max_dbs, sync mode and interval, history, and path.  map_size and the access
 * lists are not compared: a map is resized in place, and access is
 * checked per request.
 */
bool	cfg_store_same_env(const struct cfg_store *a,
	    const struct cfg_store *b);

/* The store named name, or NULL. */
const struct cfg_store	*cfg_store_find(const struct config *cfg,
			    struct sp_bytes name);
/* The index of db in st->dbs (absent db: 0, the primary), or -1. */
int			 cfg_db_index(const struct cfg_store *st,
			    struct sp_bytes db);

/* "256MiB", "4096", "1GiB"... into bytes.  Returns 0 or -1. */
int	cfg_parse_size(const char *s, uint64_t *out);
/* "30s", "500ms", "5m", "1h", "10" (seconds) into ms.  Returns 0 or -1. */
int	cfg_parse_duration(const char *s, uint64_t *out_ms);
/* Writes a size as the largest exact unit ("256MiB", "1000B"). */
void	cfg_format_size(uint64_t v, char *buf, size_t n);
/* Writes ms as the largest exact unit ("30s", "1500ms", "2m"). */
void	cfg_format_duration(uint64_t ms, char *buf, size_t n);

#endif
