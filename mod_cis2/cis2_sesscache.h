/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_sesscache — a per-process memo of decoded session records, so a
 * browser that keeps coming back (a page and its sub-resources, an app
 * polling) does not have its record decompressed and decoded on every
 * request (t/bench/hotpath: that is most of what mod_cis2 adds to one).
 *
 * It memoizes a pure function: the decoded session for exact record
 * bytes. The caller still reads the store on every request (so a deleted,
 * expired or replaced session is never served from here) and passes the
 * bytes it got; a hit needs the same session id AND byte-for-byte the same
 * record. Nothing here decides whether a session is valid.
 *
 * Slots are direct-mapped by a hash of the session id. A session is
 * remembered the second time in a row its slot sees its id: traffic that
 * rotates over more sessions than there are slots (a busy site's many
 * users, each seen now and then) then costs a compare per request and
 * never a pool per record; a returning browser's second request fills the
 * slot and later ones hit. A remembered session is decoded whole (its
 * authorization view too: cis2_session_finish is a no-op on it), lives in
 * a pool of its own, and is shared read-only by the requests using it:
 * each use holds a reference until the caller's pool is cleaned up, and a
 * replaced entry is freed when its last user is done. Any other request
 * gets its own lazily decoded session in its own pool. Thread-safe (one
 * mutex, held only to look at a slot, pin or replace an entry; never
 * while decoding).
 */
#ifndef CIS2_SESSCACHE_H
#define CIS2_SESSCACHE_H

#include "cis2.h"
#include "cis2_session.h"

typedef struct cis2_sesscache_t cis2_sesscache_t;

/** Records longer than this are decoded every time: a record this large
 *  is a user with a dozen roles or more (45 roles: a 5.4 KB record, 100 KB
 *  decoded). Users with a few roles: a 1.4 KB record, 12-17 KB a slot
 *  (measured with 1000 decoded pools' RSS). */
#define CIS2_SESSCACHE_MAX_RECORD 4096

/** Nor is a session kept whose decoded form (cis2_session_t.mem: body,
 *  strings, arrays) is over this: a small record can still decode large
 *  (references to earlier strings cost a byte each), and this is what
 *  bounds a child's memo: at most slots x (this + a pool's slack). */
#define CIS2_SESSCACHE_MAX_DECODED (32 * 1024)

typedef struct cis2_sesscache_stats_t {
    apr_uint64_t hits, misses, replaced;
    int slots, used;
} cis2_sesscache_stats_t;

/** A memo of `slots` entries whose lifetime is p's (the child's pool). */
apr_status_t cis2_sesscache_create(cis2_sesscache_t **pc, int slots,
                                   apr_pool_t *p);

/** The decoded session of record (buf, len) stored under session id sid:
 *  from the memo (*pshared = 1: read it, never change it; it stays valid
 *  until `hold` is cleaned up), or decoded now into `hold` with
 *  cis2_session_decode_lazy (*pshared = 0: the caller's own; pshared may
 *  be NULL). Errors are
 *  the decoder's, allocated in `hold`; nothing is remembered then. */
apr_status_t cis2_sesscache_decode(cis2_sesscache_t *c, cis2_session_t **ps,
                                   int *pshared, const char *sid,
                                   const char *buf, apr_size_t len,
                                   const cis2_err_t **perr, apr_pool_t *hold);

void cis2_sesscache_stats(cis2_sesscache_t *c, cis2_sesscache_stats_t *st);

#endif /* CIS2_SESSCACHE_H */
