/*
 * reload: SIGHUP, a new configuration without a restart.
 *
 * Owns: reading the configuration file again off the event loops (on
 * the pool: it is file I/O, and user and group names may need NSS),
 * refusing it whole when it has any error, carrying over the [daemon]
 * keys only a restart can change, publishing it, and telling the
 * registry so open envs follow their stores (resized, or reopened).
 *
 * A replaced config is freed once nothing can point into it: no open
 * env and no streamed batch holds it (cfg_hold()), none did since this
 * was last looked at, and every I/O loop has ended a turn since (the
 * loops read the current config afresh in each turn and keep no pointer
 * into it past the turn's end).  Looked at on each reload and by
 * housekeeping; a loop idle meanwhile is woken for a turn.  So reloads
 * do not grow memory: an old config lives only while an env or batch
 * that began with it does.
 */
#ifndef RELOAD_H
#define RELOAD_H

struct daemon;

/*
 * Remembers how the first configuration was loaded: file (NULL: the
 * built-in one) and the command line's socket and data_dir overrides.
 */
void	reload_init(struct daemon *d, const char *file, const char *socket,
	    const char *data_dir);
/*
 * Asks for a reload; returns at once.  A request made while one runs
 * makes it run once more afterwards, so the last file written is the
 * one loaded.
 */
void	reload_request(struct daemon *d);
/* Frees the replaced configs nothing can point into any more.  Any
 * thread but an I/O loop's (it may wait for the loops' turns). */
void	reload_reap(struct daemon *d);
/* At exit, loops and pool stopped: frees every replaced config. */
void	reload_fini(void);

#endif
