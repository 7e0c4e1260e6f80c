/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_store — the backend-blind front of the session store (contract in
 * cis2_store.h). A store is a small vtable plus the backend's own state, so
 * a Redis backend can plug in beside the shared-memory one without any
 * caller noticing. The shared-memory backend here wraps every cis2_shm
 * operation in the global mutex and copies values into the caller's pool
 * while it holds the lock: no pointer into shared memory ever leaves this
 * file (the incumbent returned one and copied after unlocking — a torn
 * read). Gets take no lock at all: cis2_shm_read copies optimistically and
 * throws the copy away if a writer ran meanwhile.
 */
#include <string.h>
#include <apr_strings.h>

#include "cis2_store.h"
#include "cis2_shm.h"

/* ---- the backend interface ----------------------------------------------- */

#include "cis2_store_backend.h"

/* ---- public entry points: check, then dispatch --------------------------- */

static apr_status_t check_call(const cis2_store_t *st, cis2_store_ns ns,
                               const char *key,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    if (st == NULL) {
        return cis2_err_set(perr, p, CIS2_E_STORE_DOWN,
                            "no session store configured");
    }
    if ((unsigned)ns >= CIS2_NS__COUNT) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no store namespace %d",
                            (int)ns);
    }
    if (key == NULL || *key == '\0') {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "empty store key");
    }
    return APR_SUCCESS;
}

apr_status_t cis2_store_get(cis2_store_t *st, cis2_store_ns ns,
                            const char *key, apr_time_t now,
                            const char **pval, apr_size_t *plen,
                            apr_time_t *pexpires,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    return rv != APR_SUCCESS ? rv
        : st->ops->get(st->ctx, ns, key, now, pval, plen, pexpires, perr, p);
}

apr_status_t cis2_store_put(cis2_store_t *st, cis2_store_ns ns,
                            const char *key, const char *val, apr_size_t len,
                            apr_time_t expires,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    if (rv == APR_SUCCESS && val == NULL && len > 0) {
        rv = cis2_err_set(perr, p, CIS2_E_INVALID, "no store value");
    }
    return rv != APR_SUCCESS ? rv
        : st->ops->put(st->ctx, ns, key, val, len, expires, perr, p);
}

apr_status_t cis2_store_take(cis2_store_t *st, cis2_store_ns ns,
                             const char *key, apr_time_t now,
                             const char **pval, apr_size_t *plen,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    return rv != APR_SUCCESS ? rv
        : st->ops->take(st->ctx, ns, key, now, pval, plen, perr, p);
}

apr_status_t cis2_store_delete(cis2_store_t *st, cis2_store_ns ns,
                               const char *key,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    return rv != APR_SUCCESS ? rv : st->ops->del(st->ctx, ns, key, perr, p);
}

apr_status_t cis2_store_touch(cis2_store_t *st, cis2_store_ns ns,
                              const char *key, apr_time_t now,
                              apr_time_t expires,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    return rv != APR_SUCCESS ? rv
        : st->ops->touch(st->ctx, ns, key, now, expires, perr, p);
}

apr_status_t cis2_store_add_once(cis2_store_t *st, cis2_store_ns ns,
                                 const char *key, apr_time_t now,
                                 apr_time_t expires,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    return rv != APR_SUCCESS ? rv
        : st->ops->add_once(st->ctx, ns, key, now, expires, perr, p);
}

apr_status_t cis2_store_put_indexed(cis2_store_t *st, cis2_store_ns ns,
                                    const char *key, const char *val,
                                    apr_size_t len, apr_time_t expires,
                                    const cis2_store_index_t *ix,
                                    const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, key, perr, p);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (st->ops->put_indexed == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "the %s store has no "
                            "secondary indexes", st->ops->name);
    }
    return st->ops->put_indexed(st->ctx, ns, key, val, len, expires, ix,
                                perr, p);
}

apr_status_t cis2_store_delete_indexed(cis2_store_t *st, cis2_store_ns ns,
                                       cis2_store_index_kind kind,
                                       const char *value,
                                       apr_time_t not_after, int *pcount,
                                       const cis2_err_t **perr,
                                       apr_pool_t *p)
{
    apr_status_t rv = check_call(st, ns, value, perr, p);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (kind != CIS2_INDEX_SID && kind != CIS2_INDEX_SUB) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no store index %d",
                            (int)kind);
    }
    if (st->ops->delete_indexed == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "the %s store has no "
                            "secondary indexes", st->ops->name);
    }
    return st->ops->delete_indexed(st->ctx, ns, kind, value, not_after,
                                   pcount, perr, p);
}

cis2_store_t *cis2_store_make(const cis2_store_ops_t *ops, void *ctx,
                              apr_pool_t *p)
{
    cis2_store_t *st = apr_pcalloc(p, sizeof(*st));

    st->ops = ops;
    st->ctx = ctx;
    return st;
}

void cis2_store_get_stats(cis2_store_t *st, cis2_store_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    if (st != NULL) {
        st->ops->stats(st->ctx, stats);
    }
}

/* ---- shared-memory backend ----------------------------------------------- */

/* Per process: the table handle (this process's view of the block) and the
 * mutex (as child-initialised in this process). */
typedef struct shm_ctx_t {
    cis2_shm_t *shm;
    apr_size_t size;
    apr_global_mutex_t *mutex;
} shm_ctx_t;

/* One global mutex for the writers; gets read lock-free under the table's
 * sequence word and come here only to fall back (see "Locking" in
 * cis2_shm.c for the design and the measurements). */
static apr_status_t lock(shm_ctx_t *c, const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    int waited = 0;

    if (c->mutex == NULL) {
        return APR_SUCCESS;
    }
    /* Try first, to count contention (lock_waits) at no extra cost when the
     * lock is free; mechanisms without trylock just block. */
    rv = apr_global_mutex_trylock(c->mutex);
    if (rv != APR_SUCCESS) {
        waited = APR_STATUS_IS_EBUSY(rv);
        rv = apr_global_mutex_lock(c->mutex);
    }
    if (rv != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_STORE_DOWN,
                            "cannot lock the session store (%d)", rv);
    }
    if (waited) {
        cis2_shm_note_lock_wait(c->shm);
    }
    return APR_SUCCESS;
}

static void unlock(shm_ctx_t *c)
{
    if (c->mutex != NULL) {
        apr_global_mutex_unlock(c->mutex);
    }
}

static apr_status_t shm_get(void *ctx, cis2_store_ns ns, const char *key,
                            apr_time_t now, const char **pval,
                            apr_size_t *plen, apr_time_t *pexpires,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_size_t klen = strlen(key);
    apr_status_t rv;

    /* Lock-free first (see "Locking" in cis2_shm.c); the lock only when
     * writers kept the table changing, or one died mid-update. */
    rv = cis2_shm_read(c->shm, ns, key, klen, now, pval, plen, pexpires,
                       perr, p);
    if (rv != APR_EAGAIN) {
        return rv;
    }
    if ((rv = lock(c, perr, p)) == APR_SUCCESS) {
        rv = cis2_shm_get(c->shm, ns, key, klen, now, pval, plen, pexpires,
                          perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_put(void *ctx, cis2_store_ns ns, const char *key,
                            const char *val, apr_size_t len,
                            apr_time_t expires,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_time_t now = apr_time_now();   /* read before taking the lock */
    apr_status_t rv = lock(c, perr, p);

    if (rv == APR_SUCCESS) {
        rv = cis2_shm_put(c->shm, ns, key, strlen(key), val, len, expires,
                          now, perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_take(void *ctx, cis2_store_ns ns, const char *key,
                             apr_time_t now, const char **pval,
                             apr_size_t *plen,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_status_t rv = lock(c, perr, p);

    if (rv == APR_SUCCESS) {
        rv = cis2_shm_take(c->shm, ns, key, strlen(key), now, pval, plen,
                           perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_del(void *ctx, cis2_store_ns ns, const char *key,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_status_t rv = lock(c, perr, p);

    if (rv == APR_SUCCESS) {
        rv = cis2_shm_delete(c->shm, ns, key, strlen(key), NULL, perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_touch(void *ctx, cis2_store_ns ns, const char *key,
                              apr_time_t now, apr_time_t expires,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_status_t rv = lock(c, perr, p);

    if (rv == APR_SUCCESS) {
        rv = cis2_shm_touch(c->shm, ns, key, strlen(key), now, expires,
                            perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_add_once(void *ctx, cis2_store_ns ns,
                                 const char *key, apr_time_t now,
                                 apr_time_t expires,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_status_t rv = lock(c, perr, p);

    if (rv == APR_SUCCESS) {
        rv = cis2_shm_add_once(c->shm, ns, key, strlen(key), now, expires,
                               perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_put_indexed(void *ctx, cis2_store_ns ns,
                                    const char *key, const char *val,
                                    apr_size_t len, apr_time_t expires,
                                    const cis2_store_index_t *ix,
                                    const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_time_t now = apr_time_now();   /* read before taking the lock */
    apr_status_t rv;

    if (val == NULL && len > 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no store value");
    }
    if ((rv = lock(c, perr, p)) == APR_SUCCESS) {
        rv = cis2_shm_put_indexed(c->shm, ns, key, strlen(key), val, len,
                                  expires, now,
                                  ix != NULL ? ix->sid : NULL,
                                  ix != NULL ? ix->sub : NULL,
                                  ix != NULL ? ix->created : 0, perr, p);
        unlock(c);
    }
    return rv;
}

static apr_status_t shm_delete_indexed(void *ctx, cis2_store_ns ns,
                                       cis2_store_index_kind kind,
                                       const char *value,
                                       apr_time_t not_after, int *pcount,
                                       const cis2_err_t **perr,
                                       apr_pool_t *p)
{
    shm_ctx_t *c = ctx;
    apr_time_t now = apr_time_now();
    apr_status_t rv = lock(c, perr, p);

    if (rv == APR_SUCCESS) {
        rv = cis2_shm_delete_indexed(c->shm, ns,
                                     kind == CIS2_INDEX_SID
                                     ? CIS2_SHM_IX_SID : CIS2_SHM_IX_SUB,
                                     value, strlen(value), not_after, now,
                                     pcount, perr, p);
        unlock(c);
    }
    return rv;
}

static void shm_stats(void *ctx, cis2_store_stats_t *stats)
{
    shm_ctx_t *c = ctx;
    cis2_shm_stats_t s;
    int locked = lock(c, NULL, NULL) == APR_SUCCESS;
    unsigned ns;

    /* Without the lock (it failed) the counters may be a little torn; they
     * are only shown, never acted on. */
    cis2_shm_get_stats(c->shm, &s);
    if (locked) {
        unlock(c);
    }
    stats->size_bytes = c->size;
    stats->used_bytes = (apr_size_t)s.used_bytes;
    for (ns = 0; ns < CIS2_NS__COUNT; ns++) {
        stats->entries[ns] = s.entries[ns];
        stats->bytes[ns] = s.bytes[ns];
        stats->payload[ns] = s.payload[ns];
    }
    stats->hits = s.hits;
    stats->misses = s.misses;
    stats->expired = s.expired;
    stats->evictions = s.evictions;
    stats->puts = s.puts;
    stats->put_failures = s.put_failures;
    stats->lock_waits = s.lock_waits;
    stats->read_retries = s.read_retries;
    stats->read_fallbacks = s.read_fallbacks;
}

static const cis2_store_ops_t shm_ops = {
    .name = "shm",
    .get = shm_get,
    .put = shm_put,
    .take = shm_take,
    .del = shm_del,
    .touch = shm_touch,
    .add_once = shm_add_once,
    .put_indexed = shm_put_indexed,
    .delete_indexed = shm_delete_indexed,
    .stats = shm_stats,
};

_Static_assert((int)CIS2_NS__COUNT == CIS2_SHM_NS_COUNT,
               "cis2_store_ns and cis2_shm namespaces disagree");

apr_status_t cis2_store_shm_create(cis2_store_t **pst, void *base,
                                   apr_size_t size, int format,
                                   apr_global_mutex_t *mutex,
                                   const cis2_err_t **perr, apr_pool_t *p)
{
    shm_ctx_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv;

    rv = format ? cis2_shm_format(&c->shm, base, size, NULL, perr, p)
                : cis2_shm_attach(&c->shm, base, size, perr, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c->size = size;
    c->mutex = mutex;
    *pst = cis2_store_make(&shm_ops, c, p);
    return APR_SUCCESS;
}
