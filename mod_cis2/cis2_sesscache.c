/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_sesscache — see cis2_sesscache.h.
 *
 *   slots[hash(sid) % n] -> entry { sid, record bytes, pool, session,
 *                                   refs }
 *   held[i]  =  hash of the id of slots[i]'s entry (0: none)
 *   seen[i]  =  hash of the last id that missed in slot i (0: none)
 *
 * An entry is pinned (refs) by every request using its session; replacing
 * it only unhooks it and the last user's cleanup frees its pool. The lock
 * covers slots[], the refs and held[]'s writes; decoding runs outside it,
 * into a pool of its own (unmanaged: no parent to lock; its blocks come
 * from the memo's own allocator and go back to it).
 *
 * A miss takes no lock: held[] and seen[] are words read and written
 * atomically (relaxed), so a request whose id is not the slot's (a busy
 * site's rotating users) pays a hash and two loads, and every thread of
 * the child is not serialised on one mutex. held[] only says whether
 * taking the lock may find a hit (the lock then checks the id and the
 * bytes); seen[] only decides when to keep a session, and a race on it
 * costs at most one decode too many or one too few.
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_allocator.h>
#include <apr_thread_mutex.h>

#include "cis2_sesscache.h"

typedef struct entry {
    const char *sid;
    const char *rec;
    apr_size_t len;
    apr_pool_t *pool;          /* holds the entry itself and its session */
    cis2_session_t *s;         /* complete (decoded whole): shared */
    apr_uint32_t refs;         /* requests using s (+1 while in a slot) */
} entry;

struct cis2_sesscache_t {
    apr_thread_mutex_t *mutex;
    /* the entries' pools take their blocks from this allocator (its own
     * mutex): a replaced entry's blocks go back to its free list for the
     * next, instead of an allocator, and mmap/munmap calls (and the other
     * CPUs' TLB flushes they cost a threaded process) for each entry */
    apr_allocator_t *allocator;
    apr_thread_mutex_t *amutex;
    entry **slots;
    apr_uint64_t *held;        /* 0 = empty slot */
    apr_uint64_t *seen;        /* 0 = nothing missed here yet */
    int n;
    apr_uint64_t hits, misses, replaced;   /* atomic (relaxed) */
};

typedef struct pin {
    cis2_sesscache_t *c;
    entry *e;
} pin;

/* FNV-1a: the id is random (256 bits, from the cookie); any mix will do,
 * and one chosen by a client only moves its own sessions (the store found
 * them before the memo is asked). */
static apr_uint64_t sid_hash(const char *sid)
{
    apr_uint64_t h = 14695981039346656037u;

    for (; *sid; sid++) {
        h = (h ^ (unsigned char)*sid) * 1099511628211u;
    }
    return h;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define COUNT(x) ((void)__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED))

/* under the lock: drop one reference; the last one frees the entry */
static void unref_locked(entry *e)
{
    if (--e->refs == 0) {
        apr_pool_destroy(e->pool);
    }
}

static apr_status_t release(void *data)
{
    pin *pn = data;

    apr_thread_mutex_lock(pn->c->mutex);
    unref_locked(pn->e);
    apr_thread_mutex_unlock(pn->c->mutex);
    return APR_SUCCESS;
}

/* under the lock: one more user, released with `hold` */
static cis2_session_t *pin_locked(cis2_sesscache_t *c, entry *e,
                                  apr_pool_t *hold)
{
    pin *pn = apr_palloc(hold, sizeof(*pn));

    e->refs++;
    pn->c = c;
    pn->e = e;
    apr_pool_cleanup_register(hold, pn, release, apr_pool_cleanup_null);
    return e->s;
}

static apr_status_t destroy(void *data)
{
    cis2_sesscache_t *c = data;
    int i;

    /* the child is exiting: its requests are done */
    for (i = 0; i < c->n; i++) {
        if (c->slots[i] != NULL) {
            unref_locked(c->slots[i]);
            c->slots[i] = NULL;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t destroy_allocator(void *data)
{
    apr_allocator_destroy(data);
    return APR_SUCCESS;
}

apr_status_t cis2_sesscache_create(cis2_sesscache_t **pc, int slots,
                                   apr_pool_t *p)
{
    cis2_sesscache_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv;

    if (slots < 1) {
        return APR_EINVAL;
    }
    rv = apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_mutex_create(&c->amutex, APR_THREAD_MUTEX_DEFAULT, p);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_allocator_create(&c->allocator);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_allocator_mutex_set(c->allocator, c->amutex);
    /* free blocks kept for new entries: a full memo's worth of the
     * usual entry (16 KB) is plenty; beyond it blocks go back to the OS */
    apr_allocator_max_free_set(c->allocator, (apr_size_t)slots * 16 * 1024);
    /* the cleanups run in reverse: entries first, then the allocator,
     * then the mutexes made above */
    apr_pool_cleanup_register(p, c->allocator, destroy_allocator,
                              apr_pool_cleanup_null);
    c->n = slots;
    c->slots = apr_pcalloc(p, sizeof(entry *) * (apr_size_t)slots);
    c->held = apr_pcalloc(p, sizeof(apr_uint64_t) * (apr_size_t)slots);
    c->seen = apr_pcalloc(p, sizeof(apr_uint64_t) * (apr_size_t)slots);
    apr_pool_cleanup_register(p, c, destroy, apr_pool_cleanup_null);
    *pc = c;
    return APR_SUCCESS;
}

/* the caller's own session: decoded lazily into hold */
static apr_status_t own(cis2_session_t **ps, int *pshared, const char *buf,
                        apr_size_t len, const cis2_err_t **perr,
                        apr_pool_t *hold)
{
    if (pshared != NULL) {
        *pshared = 0;
    }
    return cis2_session_decode_lazy(ps, buf, len, perr, hold);
}

apr_status_t cis2_sesscache_decode(cis2_sesscache_t *c, cis2_session_t **ps,
                                   int *pshared, const char *sid,
                                   const char *buf, apr_size_t len,
                                   const cis2_err_t **perr, apr_pool_t *hold)
{
    entry *e, *old;
    apr_pool_t *ep;
    cis2_session_t *s;
    apr_uint64_t h;
    int i;

    if (len > CIS2_SESSCACHE_MAX_RECORD) {
        return own(ps, pshared, buf, len, perr, hold);
    }
    h = sid_hash(sid);
    /* the slot from the high bits; the tag kept in held[] and seen[] is
     * never 0 (their "none"), so its low bit is forced, not the slot's */
    i = (int)((h >> 32) % (apr_uint64_t)c->n);
    h |= 1;
    if (LOAD(c->held[i]) == h) {
        apr_thread_mutex_lock(c->mutex);
        e = c->slots[i];
        if (e != NULL && e->len == len && strcmp(e->sid, sid) == 0
            && memcmp(e->rec, buf, len) == 0) {
            *ps = pin_locked(c, e, hold);
            apr_thread_mutex_unlock(c->mutex);
            COUNT(c->hits);
            if (pshared != NULL) {
                *pshared = 1;
            }
            return APR_SUCCESS;
        }
        apr_thread_mutex_unlock(c->mutex);
    }
    COUNT(c->misses);
    if (LOAD(c->seen[i]) != h) {
        /* first sighting in a row: remember the id only */
        STORE(c->seen[i], h);
        return own(ps, pshared, buf, len, perr, hold);
    }
    STORE(c->seen[i], 0);

    /* second sighting: decode whole into an entry of its own */
    if (apr_pool_create_unmanaged_ex(&ep, NULL, c->allocator)
            != APR_SUCCESS) {
        return own(ps, pshared, buf, len, perr, hold);
    }
    if (cis2_session_decode(&s, buf, len, NULL, ep) != APR_SUCCESS
        || s->mem > CIS2_SESSCACHE_MAX_DECODED) {
        /* unreadable (the error again, made in hold where the caller can
         * read it), or too big to keep: the caller's own */
        apr_pool_destroy(ep);
        return own(ps, pshared, buf, len, perr, hold);
    }
    e = apr_palloc(ep, sizeof(*e));
    e->sid = apr_pstrdup(ep, sid);
    e->rec = apr_pmemdup(ep, buf, len);
    e->len = len;
    e->pool = ep;
    e->s = s;
    e->refs = 1;                          /* the slot's */

    apr_thread_mutex_lock(c->mutex);
    old = c->slots[i];
    c->slots[i] = e;
    STORE(c->held[i], h);
    if (old != NULL) {
        c->replaced++;
        unref_locked(old);
    }
    *ps = pin_locked(c, e, hold);
    apr_thread_mutex_unlock(c->mutex);
    if (pshared != NULL) {
        *pshared = 1;
    }
    return APR_SUCCESS;
}

void cis2_sesscache_stats(cis2_sesscache_t *c, cis2_sesscache_stats_t *st)
{
    int i;

    apr_thread_mutex_lock(c->mutex);
    st->hits = LOAD(c->hits);
    st->misses = LOAD(c->misses);
    st->replaced = c->replaced;
    st->slots = c->n;
    st->used = 0;
    for (i = 0; i < c->n; i++) {
        st->used += c->slots[i] != NULL;
    }
    apr_thread_mutex_unlock(c->mutex);
}
