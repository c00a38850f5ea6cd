/*
 * clock: the daemon's one clock.
 *
 * Owns: nothing but the choice of clock: CLOCK_MONOTONIC, so that idle
 * times, stop timeouts, commit ages and uptime never jump with the wall
 * clock.  A leaf: calls nothing of the daemon.
 *
 * Threads: every function is thread-safe.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

/* Monotonic micro- and milliseconds, from an arbitrary start. */
uint64_t	 clock_now_us(void);
uint64_t	 clock_now_ms(void);

#endif
