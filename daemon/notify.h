/*
 * notify: telling the service manager how storesd is doing.
 *
 * Owns: the sd_notify datagram protocol, spoken directly: one datagram
 * of "VAR=value" lines to the socket named by $NOTIFY_SOCKET (a path,
 * or '@' for the abstract namespace).  Without $NOTIFY_SOCKET nothing is
 * sent.  Tests listen on a socket of their own to learn when storesd is
 * ready, so nothing ever sleeps waiting for it.
 *
 * Nothing here ever blocks on the socket: when its reader does not read
 * and its queue is full, a notification is dropped, counted, and said so
 * in the log at most once a minute.  Safe from any thread.
 *
 * Why not libsystemd: these three messages are the whole of what storesd
 * needs, the protocol is documented and stable (sd_notify(3)), and
 * speaking it directly keeps storesd free of a dependency that would
 * pull systemd's library into every build, container and non-systemd
 * host for a sendto().
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdint.h>

/*
 * Sends msg ("WATCHDOG=1") at once or drops it; returns 0 (also when
 * there is nobody) or -1 (dropped).
 */
int	notify_send(const char *msg);
/*
 * The same for a state systemd waits for (READY=1): waits up to a second
 * for room when the reader's queue is full, then drops it.
 */
int	notify_state(const char *msg);
/* RELOADING=1 with the MONOTONIC_USEC that Type=notify-reload wants. */
int	notify_reloading(void);
/*
 * The watchdog interval the service manager asks for ($WATCHDOG_USEC,
 * when $WATCHDOG_PID is unset or ours), or 0 for none.  WATCHDOG=1 is to
 * be sent at least every half of it.
 */
uint64_t notify_watchdog_usec(void);

#endif
