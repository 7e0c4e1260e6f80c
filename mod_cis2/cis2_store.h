/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_store — the one interface every layer above uses to keep server-side
 * state, whatever the backend: APR shared memory (cis2_shm, the default) and
 * later Redis. Values are opaque bytes (cis2_session encodes them); keys are
 * strings chosen by mod_cis2 (random ids, never client-chosen structure);
 * every entry has an absolute expiry and is never returned after it.
 * Namespaces keep kinds apart and give each its own quota, so a flood of
 * unauthenticated requests (pending logins) cannot evict live sessions.
 */
#ifndef CIS2_STORE_H
#define CIS2_STORE_H

#include <apr_global_mutex.h>
#include "cis2.h"

typedef enum cis2_store_ns {
    CIS2_NS_SESSION = 0,   /* session id -> cis2_session record */
    CIS2_NS_PENDING,       /* state -> cis2_pending record */
    CIS2_NS_REPLAY,        /* single-use markers (logout jti, ...) */
    CIS2_NS__COUNT
} cis2_store_ns;

typedef struct cis2_store_t cis2_store_t;

typedef struct cis2_store_stats_t {
    apr_size_t size_bytes, used_bytes;
    apr_uint64_t entries[CIS2_NS__COUNT];
    apr_uint64_t bytes[CIS2_NS__COUNT];    /* store bytes held, per ns */
    apr_uint64_t payload[CIS2_NS__COUNT];  /* key + value bytes, per ns */
    apr_uint64_t hits, misses, expired, evictions, puts, put_failures,
                 lock_waits;
    apr_uint64_t read_retries, read_fallbacks;  /* lock-free gets redone,
                                                   and sent to the lock */
} cis2_store_stats_t;

/** Copy out the value for key, if present and not expired at `now`.
 *  CIS2_E_NOT_FOUND when absent or expired (not logged: it is normal).
 *  *pexpires receives the entry's expiry (may be NULL). */
apr_status_t cis2_store_get(cis2_store_t *st, cis2_store_ns ns,
                            const char *key, apr_time_t now,
                            const char **pval, apr_size_t *plen,
                            apr_time_t *pexpires,
                            const cis2_err_t **perr, apr_pool_t *p);

/** Insert or replace. May evict the least recently used entries of the
 *  same namespace when its quota is reached; CIS2_E_TOO_LARGE for a value
 *  that could never fit, CIS2_E_STORE_FULL if no room can be made. */
apr_status_t cis2_store_put(cis2_store_t *st, cis2_store_ns ns,
                            const char *key, const char *val, apr_size_t len,
                            apr_time_t expires,
                            const cis2_err_t **perr, apr_pool_t *p);

/** Atomically get and delete (single-use records: pending logins, codes). */
apr_status_t cis2_store_take(cis2_store_t *st, cis2_store_ns ns,
                             const char *key, apr_time_t now,
                             const char **pval, apr_size_t *plen,
                             const cis2_err_t **perr, apr_pool_t *p);

/** Delete; APR_SUCCESS whether or not it existed. */
apr_status_t cis2_store_delete(cis2_store_t *st, cis2_store_ns ns,
                               const char *key,
                               const cis2_err_t **perr, apr_pool_t *p);

/** Move an existing entry's expiry (sliding inactivity) without rewriting
 *  its value. CIS2_E_NOT_FOUND if it is gone. */
apr_status_t cis2_store_touch(cis2_store_t *st, cis2_store_ns ns,
                              const char *key, apr_time_t now,
                              apr_time_t expires,
                              const cis2_err_t **perr, apr_pool_t *p);

/** Add a single-use marker: APR_SUCCESS if it was new, CIS2_E_DUPLICATE
 *  if it already existed and has not expired (replay). */
apr_status_t cis2_store_add_once(cis2_store_t *st, cis2_store_ns ns,
                                 const char *key, apr_time_t now,
                                 apr_time_t expires,
                                 const cis2_err_t **perr, apr_pool_t *p);

/* ---- secondary indexes (back-channel logout, DESIGN.md §4) ---- */

/** What a session entry is indexed under: CIS2's `sid` and the user's
 *  `sub`, and the login time, so that a logout token can end exactly the
 *  sessions it names and none started after it was issued. */
typedef struct cis2_store_index_t {
    const char *sid;          /* CIS2 session id; NULL = not indexed */
    const char *sub;          /* user; NULL = not indexed */
    apr_time_t created;       /* login time of the entry */
} cis2_store_index_t;

typedef enum cis2_store_index_kind {
    CIS2_INDEX_SID = 0,
    CIS2_INDEX_SUB
} cis2_store_index_kind;

/** cis2_store_put plus index entries (replacing any the key had). */
apr_status_t cis2_store_put_indexed(cis2_store_t *st, cis2_store_ns ns,
                                    const char *key, const char *val,
                                    apr_size_t len, apr_time_t expires,
                                    const cis2_store_index_t *ix,
                                    const cis2_err_t **perr, apr_pool_t *p);

/** Delete every live entry of `ns` whose index `kind` equals `value` and
 *  whose `created` is at or before `not_after` (a logout token's iat plus
 *  skew: a token cannot end a session begun after it was issued).
 *  *pcount (may be NULL) receives how many were deleted; none is success. */
apr_status_t cis2_store_delete_indexed(cis2_store_t *st, cis2_store_ns ns,
                                       cis2_store_index_kind kind,
                                       const char *value,
                                       apr_time_t not_after, int *pcount,
                                       const cis2_err_t **perr,
                                       apr_pool_t *p);

void cis2_store_get_stats(cis2_store_t *st, cis2_store_stats_t *stats);

/* ---- the shared-memory backend ---- */

/** Create a store over a shared memory block [base, base+size).
 *  With `format` set, the block is initialised (fresh segment); otherwise
 *  an existing layout is attached (after a graceful restart) and validated.
 *  `mutex` (may be NULL in single-threaded tests) guards all operations.
 *  The store object itself is allocated from p (per process). */
apr_status_t cis2_store_shm_create(cis2_store_t **pst, void *base,
                                   apr_size_t size, int format,
                                   apr_global_mutex_t *mutex,
                                   const cis2_err_t **perr, apr_pool_t *p);

#endif /* CIS2_STORE_H */
