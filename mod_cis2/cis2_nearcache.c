/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_nearcache — the host-local near-cache of Redis session records
 * (contract, layout and the fail-safe rules in cis2_nearcache.h).
 *
 * Why a mark and a sequence. A read that misses asks Redis, then caches the
 * answer. If a logout deletes the session in Redis between those two steps,
 * its invalidation reaches this host before the answer is cached and finds
 * nothing to delete; without more, the stale copy would then live until
 * the TTL. So every invalidation moves `seq` (under the mutex) and put
 * compares it (under the same mutex) with the value read before Redis was
 * asked: any invalidation in between, of any key, means "do not cache".
 * The epoch works the same way for a subscriber that came up or went down.
 *
 * Header fields are apr_atomic words: gets read them without the lock.
 */
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>

#include "cis2_nearcache.h"
#include "cis2_shm.h"

#define NC_MAGIC 0x43324e43u            /* "C2NC" */
#define NS 0                            /* the table's session namespace */
#define VHDR 16                         /* epoch, pad, expires */

/* The block's first CIS2_NEARCACHE_HEADER bytes. */
typedef struct nc_header_t {
    apr_uint32_t magic;
    volatile apr_uint32_t epoch;        /* bumped on subscriber up/down */
    volatile apr_uint32_t seq;          /* moved by every invalidation */
    apr_uint32_t pad;
    volatile apr_uint64_t beat;         /* apr_time_t of the last word from
                                           Redis; 0 = down */
    /* the counters that every read writes sit on their own cache line, so
     * the fields every read only reads (above) stay shared between cores */
    char pad2[64 - 4 * sizeof(apr_uint32_t) - sizeof(apr_uint64_t)];
    volatile apr_uint64_t hits, misses, stores, invalidations, bumps;
} nc_header_t;

_Static_assert(sizeof(nc_header_t) <= CIS2_NEARCACHE_HEADER,
               "near-cache header too large");

struct cis2_nearcache_t {
    nc_header_t *h;
    cis2_shm_t *shm;
    apr_global_mutex_t *mutex;
    apr_interval_time_t ttl;
};

apr_status_t cis2_nearcache_create(cis2_nearcache_t **pnc, void *base,
                                   apr_size_t size, int format,
                                   apr_interval_time_t ttl,
                                   apr_global_mutex_t *mutex,
                                   const cis2_err_t **perr, apr_pool_t *p)
{
    /* sessions take nearly all; the table insists on a share for each */
    static const unsigned shares[CIS2_SHM_NS_COUNT] = { 98, 1, 1 };
    cis2_nearcache_t *nc;
    char *table = (char *)base + CIS2_NEARCACHE_HEADER;
    apr_status_t rv;

    if (base == NULL || ttl <= 0
        || size < CIS2_NEARCACHE_HEADER + CIS2_SHM_MIN_SIZE) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "near-cache: no block, "
                            "no TTL, or under %" APR_SIZE_T_FMT " bytes",
                            (apr_size_t)(CIS2_NEARCACHE_HEADER
                                         + CIS2_SHM_MIN_SIZE));
    }
    nc = apr_pcalloc(p, sizeof(*nc));
    nc->h = base;
    nc->mutex = mutex;
    nc->ttl = ttl;
    if (format) {
        memset(base, 0, CIS2_NEARCACHE_HEADER);
        rv = cis2_shm_format(&nc->shm, table, size - CIS2_NEARCACHE_HEADER,
                             shares, perr, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        nc->h->epoch = 1;
        nc->h->magic = NC_MAGIC;
    }
    else {
        if (nc->h->magic != NC_MAGIC) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "not a near-cache "
                                "block");
        }
        rv = cis2_shm_attach(&nc->shm, table, size - CIS2_NEARCACHE_HEADER,
                             perr, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    *pnc = nc;
    return APR_SUCCESS;
}

static int lock(cis2_nearcache_t *nc)
{
    return nc->mutex == NULL
           || apr_global_mutex_lock(nc->mutex) == APR_SUCCESS;
}

static void unlock(cis2_nearcache_t *nc)
{
    if (nc->mutex != NULL) {
        apr_global_mutex_unlock(nc->mutex);
    }
}

static int is_live(cis2_nearcache_t *nc, apr_time_t now)
{
    apr_time_t beat = (apr_time_t)apr_atomic_read64(&nc->h->beat);

    /* a beat "from the future" (clock stepped back) counts as live only
     * within the same window */
    return beat != 0 && now - beat < CIS2_NEARCACHE_LIVE
           && beat - now < CIS2_NEARCACHE_LIVE;
}

static apr_uint32_t rd32(const char *b)
{
    apr_uint32_t v;

    memcpy(&v, b, sizeof(v));
    return v;
}

static apr_time_t rdtime(const char *b)
{
    apr_int64_t v;

    memcpy(&v, b, sizeof(v));
    return (apr_time_t)v;
}

apr_status_t cis2_nearcache_get(cis2_nearcache_t *nc, const char *name,
                                apr_time_t now, const char **pval,
                                apr_size_t *plen, apr_time_t *pexpires,
                                apr_pool_t *p)
{
    const char *val = NULL;
    apr_size_t len = 0, klen = strlen(name);
    apr_status_t rv;

    if (!is_live(nc, now)) {
        apr_atomic_inc64(&nc->h->misses);
        return APR_NOTFOUND;
    }
    rv = cis2_shm_read(nc->shm, NS, name, klen, now, &val, &len, NULL, NULL,
                       p);
    if (rv == APR_EAGAIN) {             /* writers kept at it: the lock */
        if (lock(nc)) {
            rv = cis2_shm_get(nc->shm, NS, name, klen, now, &val, &len, NULL,
                              NULL, p);
            unlock(nc);
        }
    }
    /* the epoch is read after the entry: a bump that lands in between
     * counts as having happened before this read */
    if (rv != APR_SUCCESS || len < VHDR
        || rd32(val) != apr_atomic_read32(&nc->h->epoch)
        || rdtime(val + 8) <= now) {
        apr_atomic_inc64(&nc->h->misses);
        return APR_NOTFOUND;
    }
    apr_atomic_inc64(&nc->h->hits);
    *pval = val + VHDR;
    *plen = len - VHDR;
    if (pexpires != NULL) {
        *pexpires = rdtime(val + 8);
    }
    return APR_SUCCESS;
}

void cis2_nearcache_mark(cis2_nearcache_t *nc, apr_time_t now,
                         cis2_nearcache_mark_t *m)
{
    m->epoch = apr_atomic_read32(&nc->h->epoch);
    m->seq = apr_atomic_read32(&nc->h->seq);
    m->live = is_live(nc, now);
}

int cis2_nearcache_unchanged(cis2_nearcache_t *nc,
                             const cis2_nearcache_mark_t *m)
{
    return apr_atomic_read32(&nc->h->epoch) == m->epoch
           && apr_atomic_read32(&nc->h->seq) == m->seq;
}

int cis2_nearcache_put(cis2_nearcache_t *nc, const cis2_nearcache_mark_t *m,
                       const char *name, const char *val, apr_size_t len,
                       apr_time_t expires, apr_time_t now, apr_pool_t *p)
{
    apr_time_t until = now + nc->ttl < expires ? now + nc->ttl : expires;
    apr_int64_t e64 = (apr_int64_t)expires;
    apr_uint32_t pad = 0;
    char *buf;
    int cached = 0;

    if (!m->live || !is_live(nc, now) || until <= now
        || len > CIS2_MAX_SESSION) {
        return 0;
    }
    buf = apr_palloc(p, VHDR + len);
    memcpy(buf, &m->epoch, 4);
    memcpy(buf + 4, &pad, 4);
    memcpy(buf + 8, &e64, 8);
    memcpy(buf + VHDR, val, len);
    if (!lock(nc)) {
        return 0;
    }
    if (apr_atomic_read32(&nc->h->epoch) == m->epoch
        && apr_atomic_read32(&nc->h->seq) == m->seq) {
        cached = cis2_shm_put(nc->shm, NS, name, strlen(name), buf,
                              VHDR + len, until, now, NULL, p)
                 == APR_SUCCESS;
    }
    unlock(nc);
    if (cached) {
        apr_atomic_inc64(&nc->h->stores);
    }
    return cached;
}

void cis2_nearcache_invalidate(cis2_nearcache_t *nc, const char *name,
                               apr_pool_t *p)
{
    apr_size_t klen = strlen(name);

    if (klen == 0 || klen > CIS2_SHM_MAX_KEY) {
        return;
    }
    if (!lock(nc)) {
        /* cannot delete: make every entry a miss instead */
        apr_atomic_inc32(&nc->h->epoch);
        apr_atomic_inc64(&nc->h->bumps);
        return;
    }
    apr_atomic_inc32(&nc->h->seq);
    cis2_shm_delete(nc->shm, NS, name, klen, NULL, NULL, p);
    unlock(nc);
    apr_atomic_inc64(&nc->h->invalidations);
}

void cis2_nearcache_beat(cis2_nearcache_t *nc, apr_time_t now)
{
    apr_atomic_set64(&nc->h->beat, (apr_uint64_t)now);
}

void cis2_nearcache_bump(cis2_nearcache_t *nc)
{
    int locked = lock(nc);

    /* even without the lock: the epoch is what gets and puts compare */
    apr_atomic_inc32(&nc->h->epoch);
    if (locked) {
        unlock(nc);
    }
    apr_atomic_inc64(&nc->h->bumps);
}

void cis2_nearcache_down(cis2_nearcache_t *nc)
{
    apr_atomic_set64(&nc->h->beat, 0);
    cis2_nearcache_bump(nc);
}

void cis2_nearcache_get_stats(cis2_nearcache_t *nc, apr_time_t now,
                              cis2_nearcache_stats_t *st)
{
    cis2_shm_stats_t s;

    memset(st, 0, sizeof(*st));
    st->hits = apr_atomic_read64(&nc->h->hits);
    st->misses = apr_atomic_read64(&nc->h->misses);
    st->stores = apr_atomic_read64(&nc->h->stores);
    st->invalidations = apr_atomic_read64(&nc->h->invalidations);
    st->bumps = apr_atomic_read64(&nc->h->bumps);
    st->epoch = apr_atomic_read32(&nc->h->epoch);
    st->live = is_live(nc, now);
    st->ttl = nc->ttl;
    /* counters only (shown, never acted on): no lock */
    cis2_shm_get_stats(nc->shm, &s);
    st->entries = s.entries[NS];
}
