/*
 * sp_names: names that reach the filesystem, and default locations.
 *
 * Owns: the rules for repo, store and db names, and the rule that picks
 * the default socket and data dir.  storesd, storectl and libstoreclient
 * all use these, so a name or a path means the same thing everywhere.
 */
#ifndef SP_NAMES_H
#define SP_NAMES_H

#include <stddef.h>

#include "sp_error.h"
#include "sp_mp.h"

#define SP_DEFAULT_REPO	"default"

/*
 * A repo name is one or more '/'-separated components of [A-Za-z0-9._-],
 * none empty, none "." or "..", at most SP_REPO_MAX bytes in all.
 * Returns 0, or -1 with err set to BAD_REPO and a message that says which
 * rule the name breaks.
 */
int	sp_repo_check(struct sp_bytes repo, struct sp_error *err);

/*
 * A store or db name is 1 to SP_NAME_MAX bytes of [A-Za-z0-9._-], not
 * starting with '.' or '-'.  Returns 0 or -1.
 */
int	sp_name_check(struct sp_bytes name);

/*
 * The default socket: $STORESD_SOCKET, else /run/storesd/storesd.sock for
 * root, else $XDG_RUNTIME_DIR/storesd/storesd.sock, else
 * /tmp/storesd-$UID/storesd.sock.  Returns 0, or -1 when it does not fit
 * in buf (ENAMETOOLONG).
 */
int	sp_default_socket(char *buf, size_t n);

/*
 * The default data dir: /var/lib/storesd for root, else
 * $XDG_DATA_HOME/storesd, else $HOME/.local/share/storesd.  Returns 0, or
 * -1 (ENAMETOOLONG, or ENOENT when not root and neither variable is set).
 */
int	sp_default_data_dir(char *buf, size_t n);

#endif
