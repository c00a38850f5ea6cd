/*
 * reload: SIGHUP, a new configuration without a restart.
 *
 * Owns: reading the configuration file again off the event loops (on
 * the pool: it is file I/O, and user and group names may need NSS),
 * refusing it whole when it has any error, carrying over the [daemon]
 * keys only a restart can change, publishing it, and telling the
 * registry so open envs follow their stores (resized, or reopened).
 *
 * Replaced configs are kept, chained from the current one, until exit:
 * requests in flight, open envs and streamed batches may still point
 * into them, and reloads are rare enough that keeping a few KiB each is
 * the simplest way that is always safe.
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

#endif
