/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_provider — the per-process cache of one OP's discovery document and
 * JWKS, and the refresh policy: discovery is refetched when older than its
 * TTL (at most 1 h, CIS2.md §1), the JWKS is kept until a token names a kid
 * it lacks, and such refetches are rate-limited (a flood of tokens with
 * random kids cannot make us hammer the OP). Thread-safe: lookups take a
 * thread mutex only to copy two pointers; fetches happen outside it and
 * publish a new snapshot (old snapshots live in their own pools until no
 * caller holds them — callers hold a reference for the request).
 */
#ifndef CIS2_PROVIDER_H
#define CIS2_PROVIDER_H

#include "cis2.h"
#include "cis2_http.h"
#include "cis2_discovery.h"
#include "cis2_jwks.h"
#include "cis2_jwt.h"

typedef struct cis2_provider_t cis2_provider_t;

typedef struct cis2_provider_conf_t {
    const char *metadata_url;          /* discovery URL */
    const char *issuer;                /* expected issuer; NULL = take the
                                          discovery document's */
    apr_interval_time_t metadata_ttl;  /* 0 = 1 h; capped at 1 h */
    apr_interval_time_t jwks_min_refetch; /* min gap between refetches
                                             on unknown kid; 0 = 60 s */
    cis2_http_opts_t http;
} cis2_provider_conf_t;

/** Create an empty cache in pool p (p lives as long as the process: pconf
 *  or a child pool). Nothing is fetched yet. */
apr_status_t cis2_provider_create(cis2_provider_t **pprov,
                                  const cis2_provider_conf_t *conf,
                                  apr_pool_t *p);


/** Current metadata, fetching or refreshing it when missing or stale.
 *  On a failed refresh of a stale (but present) document the stale one is
 *  returned and the failure logged (the OP's blip does not break logins);
 *  with nothing cached the error is returned (CIS2_E_HTTP, _TIMEOUT,
 *  _HTTP_STATUS, _DISCOVERY, _ISSUER_MISMATCH). The returned pointer stays
 *  valid while the pool `p` of the caller lives (the snapshot is
 *  reference-counted and released by a cleanup on p). */
apr_status_t cis2_provider_meta(const cis2_provider_meta_t **pmeta,
                                cis2_provider_t *prov,
                                const cis2_err_t **perr, apr_pool_t *p);

/** Verify a JWS against the OP's JWKS, fetching the JWKS if none is cached
 *  and refetching once (rate-limited) on CIS2_E_KID_UNKNOWN. Same errors
 *  as cis2_jws_verify plus the fetch errors. */
apr_status_t cis2_provider_verify(cis2_provider_t *prov, const cis2_jws_t *jws,
                                  const apr_array_header_t *allowed_algs,
                                  const cis2_err_t **perr, apr_pool_t *p);

/** Introspection for the status page and tests. Times are 0 when never. */
typedef struct cis2_provider_info_t {
    apr_time_t meta_fetched, jwks_fetched;
    int jwks_keys;
    apr_uint64_t meta_fetches, jwks_fetches, jwks_refetch_refused;
    int last_error;            /* cis2_err_code of the last failed fetch */
    apr_time_t last_error_time;
} cis2_provider_info_t;
void cis2_provider_get_info(cis2_provider_info_t *info, cis2_provider_t *prov);

#endif /* CIS2_PROVIDER_H */
