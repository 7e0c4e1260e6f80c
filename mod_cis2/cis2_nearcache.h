/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_nearcache — a host-local cache of session records read from Redis
 * (issue #6: the per-request round trip is what costs), kept in one shared
 * memory block that every httpd child of the host maps. Redis stays the
 * authority: only session READS are answered here, and only while the
 * cache knows that invalidations are flowing.
 *
 * Three rules make it fail safe:
 *  - liveness: an entry is served only while a subscriber (one thread per
 *    child, cis2_store_redis) has heard from Redis on its SUBSCRIBE
 *    connection within CIS2_NEARCACHE_LIVE (a PONG or a message); a
 *    subscriber that loses its connection calls cis2_nearcache_down, which
 *    also ends liveness at once;
 *  - epoch: every entry records the host-wide epoch it was cached under;
 *    cis2_nearcache_bump (subscriber up or down) makes every entry a miss;
 *  - age: an entry is never older than the configured TTL, nor served past
 *    the authority's own expiry.
 * A read that missed takes a mark (epoch and invalidation sequence) before
 * asking Redis; its answer is cached only if no invalidation and no bump
 * happened meanwhile, so a logout racing with that read cannot leave a
 * stale copy behind.
 *
 * Layout of the block:
 *     [ header (128 bytes): magic, epoch, invalidation sequence, last
 *       beat, counters | cis2_shm table (its own drawing in cis2_shm.c) ]
 * Entries of the table's session namespace hold
 *     epoch:u32 pad:u32 expires:i64 (the authority's) | record bytes
 * keyed by the Redis entry name (a keyed hash, never a session id), so the
 * names Redis publishes on deletion address them directly.
 *
 * Writes (put, invalidate, bump) take the mutex given at creation; get is
 * lock-free (cis2_shm_read). Neighbours: cis2_shm (the table),
 * cis2_store_redis (fills, invalidates and runs the subscriber),
 * mod_cis2_store.c (owns the segment and the mutex).
 */
#ifndef CIS2_NEARCACHE_H
#define CIS2_NEARCACHE_H

#include <apr_global_mutex.h>
#include "cis2.h"

/** How long after the last word from Redis on the subscribe connection the
 *  cache still serves (the subscriber PINGs every second). */
#define CIS2_NEARCACHE_LIVE apr_time_from_msec(2000)

/** Room the header takes before the table. */
#define CIS2_NEARCACHE_HEADER 128

typedef struct cis2_nearcache_t cis2_nearcache_t;

/** A snapshot taken before an authoritative read (cis2_nearcache_mark). */
typedef struct cis2_nearcache_mark_t {
    apr_uint32_t epoch, seq;
    int live;
} cis2_nearcache_mark_t;

typedef struct cis2_nearcache_stats_t {
    apr_uint64_t hits, misses;     /* session reads answered here / not */
    apr_uint64_t stores;           /* records cached */
    apr_uint64_t invalidations;    /* entries named by Redis or by us */
    apr_uint64_t bumps;            /* epoch bumps (subscriber up/down) */
    apr_uint64_t entries;          /* now in the table */
    apr_uint32_t epoch;
    int live;                      /* invalidations known to be flowing */
    apr_interval_time_t ttl;
} cis2_nearcache_stats_t;

/** Lay out (format) or attach to a near-cache in [base, base+size).
 *  @param ttl hard bound on an entry's age (> 0)
 *  @param mutex guards writers (NULL only in single-threaded tests)
 *  CIS2_E_INVALID for a block that is too small or not a near-cache. */
apr_status_t cis2_nearcache_create(cis2_nearcache_t **pnc, void *base,
                                   apr_size_t size, int format,
                                   apr_interval_time_t ttl,
                                   apr_global_mutex_t *mutex,
                                   const cis2_err_t **perr, apr_pool_t *p);

/** The cached record under `name` (copied into p), if the cache is live,
 *  the entry was cached in the current epoch, is younger than the TTL and
 *  the authority's expiry (*pexpires, may be NULL) is after `now`.
 *  APR_SUCCESS or APR_NOTFOUND (a miss: normal, no error). */
apr_status_t cis2_nearcache_get(cis2_nearcache_t *nc, const char *name,
                                apr_time_t now, const char **pval,
                                apr_size_t *plen, apr_time_t *pexpires,
                                apr_pool_t *p);

/** Before asking the authority: remember the epoch and the invalidation
 *  sequence (and whether the cache is live at all). */
void cis2_nearcache_mark(cis2_nearcache_t *nc, apr_time_t now,
                         cis2_nearcache_mark_t *m);

/** 1 if no invalidation and no bump happened since the mark. */
int cis2_nearcache_unchanged(cis2_nearcache_t *nc,
                             const cis2_nearcache_mark_t *m);

/** Cache what the authority answered, unless the cache was not live at
 *  the mark or is not now, or an invalidation or a bump happened since
 *  the mark. A record too large for the table is simply not cached.
 *  Returns 1 if cached. */
int cis2_nearcache_put(cis2_nearcache_t *nc, const cis2_nearcache_mark_t *m,
                       const char *name, const char *val, apr_size_t len,
                       apr_time_t expires, apr_time_t now, apr_pool_t *p);

/** Drop the entry under `name` (whether cached or not, the invalidation
 *  sequence moves, so a read in flight does not cache it again). */
void cis2_nearcache_invalidate(cis2_nearcache_t *nc, const char *name,
                               apr_pool_t *p);

/** The subscriber heard from Redis at `now`: invalidations are flowing. */
void cis2_nearcache_beat(cis2_nearcache_t *nc, apr_time_t now);

/** A new epoch: every entry cached so far becomes a miss (a subscriber
 *  came up, so what was cached before may have missed invalidations). */
void cis2_nearcache_bump(cis2_nearcache_t *nc);

/** A subscriber lost Redis: bump, and stop serving until a subscriber
 *  beats again. */
void cis2_nearcache_down(cis2_nearcache_t *nc);

void cis2_nearcache_get_stats(cis2_nearcache_t *nc, apr_time_t now,
                              cis2_nearcache_stats_t *st);

#endif /* CIS2_NEARCACHE_H */
