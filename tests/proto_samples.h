/*
 * proto_samples: valid requests of every op, with all the fields each may
 * carry and with only those it needs, built with proto/'s own encoders.
 *
 * Owns: the one list of sample requests that tests/check_proto.c round-
 * trips and truncates at every length, and that tests/fuzz_seeds.c
 * writes as the fuzzer's seed corpus.  A new op or field gets its sample
 * here, and both see it.
 */
#ifndef PROTO_SAMPLES_H
#define PROTO_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>

#include "sp_msg.h"

/* s as bytes, without its NUL; NULL gives { NULL, 0 }. */
struct sp_bytes	ps_str(const char *s);
/* n bytes at p, NULs and all. */
struct sp_bytes	ps_raw(const char *p, size_t n);

/*
 * Fills rq with the i-th sample request (from 0).  Its byte strings
 * point into static storage; arrays of batch ops and keys are encoded on
 * the first call (exits on failure).  Returns false past the last.
 */
bool		ps_request(int i, struct sp_req *rq);
/* How many samples ps_request() has. */
int		ps_nrequests(void);
/* Frees what the samples point into; ps_request() encodes it again. */
void		ps_free(void);

#endif
