/*
 * notify: telling the service manager how storesd is doing.
 *
 * Owns: the sd_notify datagram protocol, spoken directly: one datagram
 * of "VAR=value" lines to the socket named by $NOTIFY_SOCKET (a path,
 * or '@' for the abstract namespace).  Without $NOTIFY_SOCKET nothing is
 * sent.  Tests listen on a socket of their own to learn when storesd is
 * ready, so nothing ever sleeps waiting for it.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/* Sends msg ("READY=1"); returns 0 (also when there is nobody) or -1. */
int	notify_send(const char *msg);

#endif
