/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_store_backend — what a store backend implements: the operations
 * table behind cis2_store.h. cis2_store.c checks arguments and dispatches;
 * a backend (cis2_store.c's shared memory, cis2_store_redis.c) fills in the
 * table and hands its state to cis2_store_make(). Only backends include it.
 */
#ifndef CIS2_STORE_BACKEND_H
#define CIS2_STORE_BACKEND_H

#include "cis2_store.h"

/* Every backend implements all of these; the public functions below have
 * already checked st, ns and key. */
typedef struct cis2_store_ops_t {
    const char *name;
    apr_status_t (*get)(void *ctx, cis2_store_ns ns, const char *key,
                        apr_time_t now, const char **pval, apr_size_t *plen,
                        apr_time_t *pexpires, const cis2_err_t **perr,
                        apr_pool_t *p);
    apr_status_t (*put)(void *ctx, cis2_store_ns ns, const char *key,
                        const char *val, apr_size_t len, apr_time_t expires,
                        const cis2_err_t **perr, apr_pool_t *p);
    apr_status_t (*take)(void *ctx, cis2_store_ns ns, const char *key,
                         apr_time_t now, const char **pval, apr_size_t *plen,
                         const cis2_err_t **perr, apr_pool_t *p);
    apr_status_t (*del)(void *ctx, cis2_store_ns ns, const char *key,
                        const cis2_err_t **perr, apr_pool_t *p);
    apr_status_t (*touch)(void *ctx, cis2_store_ns ns, const char *key,
                          apr_time_t now, apr_time_t expires,
                          const cis2_err_t **perr, apr_pool_t *p);
    apr_status_t (*add_once)(void *ctx, cis2_store_ns ns, const char *key,
                             apr_time_t now, apr_time_t expires,
                             const cis2_err_t **perr, apr_pool_t *p);
    apr_status_t (*put_indexed)(void *ctx, cis2_store_ns ns, const char *key,
                                const char *val, apr_size_t len,
                                apr_time_t expires,
                                const cis2_store_index_t *ix,
                                const cis2_err_t **perr, apr_pool_t *p);
    apr_status_t (*delete_indexed)(void *ctx, cis2_store_ns ns,
                                   cis2_store_index_kind kind,
                                   const char *value, apr_time_t not_after,
                                   int *pcount, const cis2_err_t **perr,
                                   apr_pool_t *p);
    void (*stats)(void *ctx, cis2_store_stats_t *stats);
} cis2_store_ops_t;

struct cis2_store_t {
    const cis2_store_ops_t *ops;
    void *ctx;                  /* the backend's state */
};


/** Wrap a backend's table and state as a cis2_store_t (from p). */
cis2_store_t *cis2_store_make(const cis2_store_ops_t *ops, void *ctx,
                              apr_pool_t *p);

#endif /* CIS2_STORE_BACKEND_H */
