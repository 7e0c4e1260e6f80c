/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_sesscache — see cis2_sesscache.h.
 *
 *   slots[hash(sid) % n] -> entry { sid, record bytes, pool, session,
 *                                   refs, dead }
 *
 * An entry is pinned (refs) by every request using its session; replacing
 * it only unhooks it (dead) and the last user's cleanup frees its pool.
 * The lock covers the slot table and the refs/dead fields; decoding runs
 * outside it, into a pool of its own (unmanaged: no parent to lock).
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "cis2_sesscache.h"

typedef struct entry {
    const char *sid;
    const char *rec;
    apr_size_t len;
    apr_pool_t *pool;          /* holds the entry itself and its session */
    const cis2_session_t *s;
    apr_uint32_t refs;         /* requests using s (+1 while in a slot) */
} entry;

struct cis2_sesscache_t {
    apr_thread_mutex_t *mutex;
    entry **slots;
    int n;
    apr_uint64_t hits, misses, replaced;
};

typedef struct pin {
    cis2_sesscache_t *c;
    entry *e;
} pin;

/* FNV-1a: the id is random (256 bits, from the cookie); any mix will do */
static apr_uint32_t sid_hash(const char *sid)
{
    apr_uint32_t h = 2166136261u;

    for (; *sid; sid++) {
        h = (h ^ (unsigned char)*sid) * 16777619u;
    }
    return h;
}

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
static const cis2_session_t *pin_locked(cis2_sesscache_t *c, entry *e,
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

apr_status_t cis2_sesscache_create(cis2_sesscache_t **pc, int slots,
                                   apr_pool_t *p)
{
    cis2_sesscache_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv;

    if (slots < 1) {
        return APR_EINVAL;
    }
    rv = apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c->n = slots;
    c->slots = apr_pcalloc(p, sizeof(entry *) * (apr_size_t)slots);
    /* registered after the mutex, so it runs before the mutex is gone */
    apr_pool_cleanup_register(p, c, destroy, apr_pool_cleanup_null);
    *pc = c;
    return APR_SUCCESS;
}

apr_status_t cis2_sesscache_decode(cis2_sesscache_t *c,
                                   const cis2_session_t **ps,
                                   const char *sid, const char *buf,
                                   apr_size_t len, const cis2_err_t **perr,
                                   apr_pool_t *hold)
{
    entry *e, *old;
    apr_pool_t *ep;
    cis2_session_t *s;
    apr_status_t rv;
    int i;

    if (len > CIS2_SESSCACHE_MAX_RECORD) {
        rv = cis2_session_decode(&s, buf, len, perr, hold);
        *ps = s;
        return rv;
    }
    i = (int)(sid_hash(sid) % (apr_uint32_t)c->n);
    apr_thread_mutex_lock(c->mutex);
    e = c->slots[i];
    if (e != NULL && e->len == len && strcmp(e->sid, sid) == 0
        && memcmp(e->rec, buf, len) == 0) {
        c->hits++;
        *ps = pin_locked(c, e, hold);
        apr_thread_mutex_unlock(c->mutex);
        return APR_SUCCESS;
    }
    c->misses++;
    apr_thread_mutex_unlock(c->mutex);

    if (apr_pool_create_unmanaged_ex(&ep, NULL, NULL) != APR_SUCCESS) {
        rv = cis2_session_decode(&s, buf, len, perr, hold);
        *ps = s;
        return rv;
    }
    if ((rv = cis2_session_decode(&s, buf, len, perr, ep)) != APR_SUCCESS) {
        /* the error was made in ep: keep a copy the caller can read */
        if (perr != NULL && *perr != NULL) {
            cis2_err_t *copy = apr_pmemdup(hold, *perr, sizeof(**perr));

            copy->detail = apr_pstrdup(hold, (*perr)->detail);
            *perr = copy;
        }
        apr_pool_destroy(ep);
        return rv;
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
    if (old != NULL) {
        c->replaced++;
        unref_locked(old);
    }
    *ps = pin_locked(c, e, hold);
    apr_thread_mutex_unlock(c->mutex);
    return APR_SUCCESS;
}

void cis2_sesscache_stats(cis2_sesscache_t *c, cis2_sesscache_stats_t *st)
{
    int i;

    apr_thread_mutex_lock(c->mutex);
    st->hits = c->hits;
    st->misses = c->misses;
    st->replaced = c->replaced;
    st->slots = c->n;
    st->used = 0;
    for (i = 0; i < c->n; i++) {
        st->used += c->slots[i] != NULL;
    }
    apr_thread_mutex_unlock(c->mutex);
}
