/*
 * client_int: libstoreclient's connection internals.
 *
 * Owns: struct sc_conn, the transport (one request out, its reply
 * back) and error recording.  api.c builds the requests; proto/ encodes
 * and decodes them.
 */
#ifndef CLIENT_INT_H
#define CLIENT_INT_H

#include <stdint.h>
#include <sys/un.h>

#include "sp_buf.h"
#include "sp_error.h"
#include "sp_msg.h"
#include "storeclient.h"

struct sc_conn {
	int		 fd;		/* -1 once dead */
	int		 err;
	char		 errmsg[SP_ERRMSG_MAX + 160];
	int		 dead_err;	/* why it died, for later calls */
	char		 dead_msg[SP_ERRMSG_MAX + 160];
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 server[64];
	int		 timeout_ms;
	uint64_t	 next_id;
	uint64_t	 max_frame;	/* the daemon's, from hello */
	struct sp_buf	 out;		/* the request being sent */
	struct sp_buf	 in;		/* bytes received */
	size_t		 in_off;	/* start of the unread bytes */
	size_t		 in_done;	/* end of the last reply handed out */
};

/* Records a failure on c; returns -1. */
int	sc__fail(sc_conn *c, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Records a failure that kills the connection; returns -1. */
int	sc__die(sc_conn *c, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Sends rq (its id is assigned here) and waits for its reply, which is
 * valid until the next call on c.  pass_fd >= 0 travels with the
 * request (SCM_RIGHTS).  Returns 0 when storesd reports success, or -1
 * with c's error set (storesd's code and message, or a connection
 * error).
 */
int	sc__call(sc_conn *c, struct sp_req *rq, int pass_fd,
	    struct sp_reply *rep);

#endif
