/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_sesscache — a per-process memo of decoded session records, so an
 * authenticated request does not decompress and decode the same record
 * again and again (t/bench/hotpath: that was ~23k of the ~33k
 * instructions mod_cis2 added to a request).
 *
 * It memoizes a pure function: the decoded session for exact record
 * bytes. The caller still reads the store on every request (so a deleted,
 * expired or replaced session is never served from here) and passes the
 * bytes it got; a hit needs the same session id AND byte-for-byte the same
 * record. Nothing here decides whether a session is valid.
 *
 * Slots are direct-mapped by a hash of the session id (a new record for a
 * slot replaces the old one). A decoded session lives in its own pool and
 * is shared read-only by the requests using it: each use holds a reference
 * until the caller's pool is cleaned up, and a replaced entry is freed
 * when its last user is done. Thread-safe (one mutex, held only to find,
 * pin or replace an entry; never while decoding).
 */
#ifndef CIS2_SESSCACHE_H
#define CIS2_SESSCACHE_H

#include "cis2.h"
#include "cis2_session.h"

typedef struct cis2_sesscache_t cis2_sesscache_t;

/** Records longer than this are decoded every time (a record this large
 *  is a user with dozens of roles; its decoded form is ~100 KB). */
#define CIS2_SESSCACHE_MAX_RECORD 8192

typedef struct cis2_sesscache_stats_t {
    apr_uint64_t hits, misses, replaced;
    int slots, used;
} cis2_sesscache_stats_t;

/** A memo of `slots` entries (a power of two is not required) whose
 *  lifetime is p's (the child's pool). */
apr_status_t cis2_sesscache_create(cis2_sesscache_t **pc, int slots,
                                   apr_pool_t *p);

/** The decoded session of record (buf, len) stored under session id sid:
 *  from the memo, or decoded now (and remembered). The session is shared:
 *  read it, never change it; it stays valid until `hold` is cleaned up.
 *  Errors are cis2_session_decode's (nothing is remembered then). */
apr_status_t cis2_sesscache_decode(cis2_sesscache_t *c,
                                   const cis2_session_t **ps,
                                   const char *sid, const char *buf,
                                   apr_size_t len, const cis2_err_t **perr,
                                   apr_pool_t *hold);

void cis2_sesscache_stats(cis2_sesscache_t *c, cis2_sesscache_stats_t *st);

#endif /* CIS2_SESSCACHE_H */
