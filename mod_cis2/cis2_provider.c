/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_provider — the per-process cache of one OP's discovery document and
 * JWKS (fetched with cis2_http, parsed with cis2_discovery and cis2_jwks)
 * and the policy for refreshing them; cis2_login asks it for endpoints and
 * for signature verification (cis2_jws_verify).
 *
 * Each fetched document is a "generation": its own unmanaged pool holding
 * the parsed result, kept alive by a reference count. The cache holds one
 * reference to the current generation of each kind; every caller that is
 * handed a generation takes another and releases it by a cleanup on its own
 * pool. Publishing a new generation drops only the cache's reference, so a
 * refresh in one thread never frees what a request in another is using.
 *
 * Locking: one thread mutex guards the pointers, counters and reference
 * counts; it is never held across I/O or parsing. At most one thread
 * fetches each kind at a time; while it does, the others use the current
 * generation (or, when there is none yet, wait on a condition variable for
 * the fetcher's outcome). Unmanaged pools are used for generations because
 * creating or destroying a child of a shared parent from several threads
 * would race on the parent's list of children. Callers' pools must not
 * outlive the provider's pool (request pools never outlive pchild/pconf).
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "cis2.h"
#include "cis2_provider.h"
#include "cis2_log.h"

#define MAX_META_TTL     apr_time_from_sec(3600) /* CIS2.md §1 */
#define DEFAULT_REFETCH  apr_time_from_sec(60)
#define MAX_META_BACKOFF apr_time_from_sec(60)

typedef struct gen_t {
    apr_pool_t *pool;               /* owns this struct and the data */
    cis2_provider_t *prov;
    int refs;                       /* under prov->mutex */
    const cis2_provider_meta_t *meta;  /* metadata generation */
    cis2_jwks_t *jwks;              /* JWKS generation */
    const char *jwks_uri;           /* where the JWKS came from */
} gen_t;

struct cis2_provider_t {
    apr_pool_t *pool;
    cis2_provider_conf_t conf;
    apr_interval_time_t ttl, min_refetch;
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;        /* a fetch finished */

    /* everything below: under mutex */
    const char *pinned_issuer;      /* conf.issuer, or learned at 1st fetch */
    /* storage for a learned issuer: no allocation from the shared
     * process pool at request time */
    char learned_issuer[CIS2_MAX_URL + 1];
    gen_t *meta;
    apr_time_t meta_fetched;
    apr_time_t meta_retry_after;    /* backoff after a failed refresh */
    int meta_fetching;
    gen_t *jwks;
    apr_time_t jwks_fetched;
    apr_time_t jwks_last_attempt;   /* any fetch, good or bad */
    int jwks_fetching;
    int last_error_jwks;            /* code of the last failed JWKS fetch */
    cis2_provider_info_t info;
};

/* ---- generations ------------------------------------------------------- */

static apr_status_t gen_new(gen_t **pg, cis2_provider_t *prov)
{
    apr_pool_t *gp;
    gen_t *g;

    if (apr_pool_create_unmanaged_ex(&gp, NULL, NULL) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    g = apr_pcalloc(gp, sizeof(*g));
    g->pool = gp;
    g->prov = prov;
    g->refs = 1;
    *pg = g;
    return APR_SUCCESS;
}

/* Drop one reference; the caller holds prov->mutex. Returns the pool to
 * destroy (after unlocking) or NULL. */
static apr_pool_t *gen_unref_locked(gen_t *g)
{
    if (g != NULL && --g->refs == 0) {
        return g->pool;
    }
    return NULL;
}

static apr_status_t gen_release(void *data)
{
    gen_t *g = data;
    cis2_provider_t *prov = g->prov;
    apr_pool_t *dead;

    apr_thread_mutex_lock(prov->mutex);
    dead = gen_unref_locked(g);
    apr_thread_mutex_unlock(prov->mutex);
    if (dead != NULL) {
        apr_pool_destroy(dead);
    }
    return APR_SUCCESS;
}

/* Give the caller's pool a reference; the caller holds prov->mutex. The
 * cleanup is registered after unlocking (hold_register). */
static gen_t *gen_ref_locked(gen_t *g)
{
    g->refs++;
    return g;
}

static void hold_register(apr_pool_t *p, gen_t *g)
{
    apr_pool_cleanup_register(p, g, gen_release, apr_pool_cleanup_null);
}

/* The cache's own references, dropped when the provider's pool goes (the
 * process is ending: request pools are gone by then). */
static apr_status_t provider_release(void *data)
{
    cis2_provider_t *prov = data;
    apr_pool_t *dead_meta, *dead_jwks;

    apr_thread_mutex_lock(prov->mutex);
    dead_meta = gen_unref_locked(prov->meta);
    dead_jwks = gen_unref_locked(prov->jwks);
    prov->meta = prov->jwks = NULL;
    apr_thread_mutex_unlock(prov->mutex);
    if (dead_meta != NULL) {
        apr_pool_destroy(dead_meta);
    }
    if (dead_jwks != NULL) {
        apr_pool_destroy(dead_jwks);
    }
    return APR_SUCCESS;
}

apr_status_t cis2_provider_create(cis2_provider_t **pprov,
                                  const cis2_provider_conf_t *conf,
                                  apr_pool_t *p)
{
    cis2_provider_t *prov = apr_pcalloc(p, sizeof(*prov));
    apr_status_t rv;

    prov->pool = p;
    prov->conf = *conf;
    prov->conf.metadata_url = apr_pstrdup(p, conf->metadata_url);
    prov->conf.issuer = conf->issuer ? apr_pstrdup(p, conf->issuer) : NULL;
    prov->conf.http.ca_file = conf->http.ca_file
                              ? apr_pstrdup(p, conf->http.ca_file) : NULL;
    prov->conf.http.user_agent = conf->http.user_agent
                                 ? apr_pstrdup(p, conf->http.user_agent)
                                 : NULL;
    prov->pinned_issuer = prov->conf.issuer;
    prov->ttl = conf->metadata_ttl;
    if (prov->ttl <= 0 || prov->ttl > MAX_META_TTL) {
        prov->ttl = MAX_META_TTL;
    }
    prov->min_refetch = conf->jwks_min_refetch > 0 ? conf->jwks_min_refetch
                                                   : DEFAULT_REFETCH;
    rv = apr_thread_mutex_create(&prov->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_thread_cond_create(&prov->cond, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* registered after the mutex: cleanups run in reverse order, so this
     * runs while the mutex still exists */
    apr_pool_cleanup_register(p, prov, provider_release,
                              apr_pool_cleanup_null);
    *pprov = prov;
    return APR_SUCCESS;
}

/* Copy an error record from a scratch pool into the caller's pool. */
static apr_status_t copy_err(const cis2_err_t **perr, apr_pool_t *p,
                             const cis2_err_t *e, const char *what)
{
    return cis2_err_set(perr, p, e ? e->code : CIS2_E_HTTP, "%s: %s", what,
                        e ? e->detail : "failed");
}

/* ---- fetching (no lock held) ------------------------------------------- */

/* GET url into a scratch pool; 200 required. */
static apr_status_t fetch_body(cis2_http_response_t **presp,
                               cis2_provider_t *prov, const char *url,
                               const cis2_err_t **perr, apr_pool_t *scratch)
{
    if (cis2_http_get(presp, &prov->conf.http, url, NULL, perr, scratch)
        != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if ((*presp)->status != 200) {
        return cis2_err_set(perr, scratch, CIS2_E_HTTP_STATUS, "HTTP %d",
                            (*presp)->status);
    }
    return APR_SUCCESS;
}

static apr_status_t fetch_meta(gen_t **pg, cis2_provider_t *prov,
                               const char *expected_issuer,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_http_response_t *resp;
    cis2_provider_meta_t *meta;
    const cis2_err_t *e = NULL;
    apr_pool_t *scratch;
    gen_t *g = NULL;
    apr_status_t rv;

    apr_pool_create(&scratch, p);
    rv = fetch_body(&resp, prov, prov->conf.metadata_url, &e, scratch);
    if (rv == APR_SUCCESS) {
        rv = gen_new(&g, prov);
        if (rv != APR_SUCCESS) {
            cis2_err_set(&e, scratch, CIS2_E_DISCOVERY, "out of memory");
        }
    }
    if (rv == APR_SUCCESS) {
        rv = cis2_discovery_parse(&meta, resp->body, resp->body_len,
                                  expected_issuer, &e, g->pool);
        if (rv == APR_SUCCESS) {
            g->meta = meta;
        }
    }
    if (rv != APR_SUCCESS) {
        copy_err(perr, p, e, "provider metadata");
        if (g != NULL) {
            apr_pool_destroy(g->pool);
        }
    }
    else {
        *pg = g;
    }
    apr_pool_destroy(scratch);
    return rv;
}

static apr_status_t fetch_jwks(gen_t **pg, cis2_provider_t *prov,
                               const char *uri, const cis2_err_t **perr,
                               apr_pool_t *p)
{
    cis2_http_response_t *resp;
    cis2_jwks_t *jwks;
    const cis2_err_t *e = NULL;
    apr_pool_t *scratch;
    gen_t *g = NULL;
    apr_status_t rv;

    apr_pool_create(&scratch, p);
    rv = fetch_body(&resp, prov, uri, &e, scratch);
    if (rv == APR_SUCCESS) {
        rv = gen_new(&g, prov);
        if (rv != APR_SUCCESS) {
            cis2_err_set(&e, scratch, CIS2_E_JWKS, "out of memory");
        }
    }
    if (rv == APR_SUCCESS) {
        rv = cis2_jwks_parse(&jwks, resp->body, resp->body_len, &e, g->pool);
        if (rv == APR_SUCCESS) {
            g->jwks = jwks;
            g->jwks_uri = apr_pstrdup(g->pool, uri);
        }
    }
    if (rv != APR_SUCCESS) {
        copy_err(perr, p, e, "JWKS");
        if (g != NULL) {
            apr_pool_destroy(g->pool);
        }
    }
    else {
        *pg = g;
    }
    apr_pool_destroy(scratch);
    return rv;
}

/* ---- metadata ---------------------------------------------------------- */

apr_status_t cis2_provider_meta(const cis2_provider_meta_t **pmeta,
                                cis2_provider_t *prov,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    const cis2_err_t *e = NULL;
    gen_t *cur, *fresh = NULL, *use = NULL;
    const char *expected;
    apr_pool_t *dead = NULL;
    apr_time_t now = apr_time_now();
    apr_status_t rv;

    apr_thread_mutex_lock(prov->mutex);
    for (;;) {
        cur = prov->meta;
        if (cur != NULL
            && (now - prov->meta_fetched < prov->ttl || prov->meta_fetching
                || now < prov->meta_retry_after)) {
            /* fresh; or stale while another thread refreshes it, or
             * inside the backoff after a failed refresh */
            use = gen_ref_locked(cur);
            apr_thread_mutex_unlock(prov->mutex);
            hold_register(p, use);
            *pmeta = use->meta;
            return APR_SUCCESS;
        }
        if (cur == NULL && prov->meta_fetching) {
            /* first fetch in flight elsewhere: wait for its outcome */
            apr_thread_cond_wait(prov->cond, prov->mutex);
            if (prov->meta == NULL && !prov->meta_fetching) {
                /* it failed: report that rather than hammer the OP */
                apr_thread_mutex_unlock(prov->mutex);
                return cis2_err_set(perr, p, prov->info.last_error
                                    ? prov->info.last_error
                                    : CIS2_E_DISCOVERY,
                                    "provider metadata unavailable (fetch "
                                    "failed in another thread)");
            }
            now = apr_time_now();
            continue;
        }
        break;
    }
    prov->meta_fetching = 1;
    prov->info.meta_fetches++;
    expected = prov->pinned_issuer;
    apr_thread_mutex_unlock(prov->mutex);

    cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, 0, p,
             "fetching provider metadata from %s", prov->conf.metadata_url);
    rv = fetch_meta(&fresh, prov, expected, &e, p);

    apr_thread_mutex_lock(prov->mutex);
    prov->meta_fetching = 0;
    now = apr_time_now();
    if (rv == APR_SUCCESS) {
        if (prov->pinned_issuer == NULL) {
            /* no configured issuer: the first document's issuer becomes
             * the expected one, so a later document cannot switch it
             * (cis2_discovery bounds it to CIS2_MAX_URL bytes) */
            apr_cpystrn(prov->learned_issuer, fresh->meta->issuer,
                        sizeof(prov->learned_issuer));
            prov->pinned_issuer = prov->learned_issuer;
        }
        dead = gen_unref_locked(prov->meta);
        prov->meta = fresh;             /* the cache's reference */
        prov->meta_fetched = now;
        prov->meta_retry_after = 0;
        prov->info.meta_fetched = now;
        use = gen_ref_locked(fresh);
    }
    else {
        prov->info.last_error = e->code;
        prov->info.last_error_time = now;
        if (prov->meta != NULL) {
            /* serve the stale document; retry after a short backoff */
            apr_interval_time_t backoff = prov->ttl < MAX_META_BACKOFF
                                          ? prov->ttl : MAX_META_BACKOFF;

            prov->meta_retry_after = now + backoff;
            use = gen_ref_locked(prov->meta);
        }
    }
    apr_thread_cond_broadcast(prov->cond);
    apr_thread_mutex_unlock(prov->mutex);
    if (dead != NULL) {
        apr_pool_destroy(dead);
    }

    if (rv != APR_SUCCESS) {
        /* with nothing cached the caller reports the failure in its own
         * line; a stale document served is only visible here */
        cis2_log(CIS2_LOG_MARK, use ? CIS2_LOG_WARNING : CIS2_LOG_DEBUG, rv,
                 p, "provider metadata fetch from %s failed (%s): %s%s",
                 prov->conf.metadata_url, cis2_err_name(e->code), e->detail,
                 use ? "; serving the cached document" : "");
        if (use == NULL) {
            if (perr != NULL) {
                *perr = e;
            }
            return rv;
        }
    }
    else {
        cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, 0, p,
                 "provider metadata fetched: issuer %s",
                 use->meta->issuer);
    }
    hold_register(p, use);
    *pmeta = use->meta;
    return APR_SUCCESS;
}

/* ---- JWKS -------------------------------------------------------------- */

/* Get a JWKS generation from `uri` for the caller (a reference on p).
 *
 * lacking == NULL: use the cached set, fetching it if there is none (or
 * it came from another jwks_uri). lacking != NULL: the caller found no
 * key for its kid in `lacking`; refetch, unless another thread already
 * published a newer set (use that; a fetch in flight is waited for) or
 * the last attempt was less than min_refetch ago (refused: *pg = NULL and
 * APR_SUCCESS, so the caller's CIS2_E_KID_UNKNOWN stands). A failed
 * refetch is also *pg = NULL. */
static apr_status_t jwks_get(gen_t **pg, cis2_provider_t *prov,
                             const char *uri, gen_t *lacking,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    const cis2_err_t *e = NULL;
    gen_t *cur, *fresh = NULL, *use = NULL;
    apr_pool_t *dead = NULL;
    apr_time_t now;
    apr_status_t rv;
    int moved;

    *pg = NULL;
    apr_thread_mutex_lock(prov->mutex);
    for (;;) {
        now = apr_time_now();
        cur = prov->jwks;
        moved = 0;
        if (cur != NULL && strcmp(cur->jwks_uri, uri) != 0) {
            cur = NULL;     /* the metadata moved the JWKS elsewhere */
            moved = 1;
        }
        if (cur != NULL && cur != lacking) {
            use = gen_ref_locked(cur);
            apr_thread_mutex_unlock(prov->mutex);
            hold_register(p, use);
            *pg = use;
            return APR_SUCCESS;
        }
        if (prov->jwks_fetching) {
            /* another thread is fetching: wait for its set (bounded by
             * the HTTP timeout) instead of fetching too */
            apr_thread_cond_wait(prov->cond, prov->mutex);
            continue;
        }
        if (!moved && prov->jwks_last_attempt != 0
            && now - prov->jwks_last_attempt < prov->min_refetch) {
            if (cur != NULL) {
                prov->info.jwks_refetch_refused++;
                apr_thread_mutex_unlock(prov->mutex);
                cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, 0, p,
                         "JWKS refetch refused: last fetch too recent");
                return APR_SUCCESS;
            }
            else {
                /* nothing usable and the last attempt failed: fail
                 * closed rather than let a flood of requests hammer the
                 * OP */
                int code = prov->last_error_jwks ? prov->last_error_jwks
                                                 : CIS2_E_JWKS;

                apr_thread_mutex_unlock(prov->mutex);
                return cis2_err_set(perr, p, code, "JWKS unavailable (last "
                                    "fetch failed less than %" APR_TIME_T_FMT
                                    " ms ago)",
                                    apr_time_as_msec(prov->min_refetch));
            }
        }
        break;
    }
    prov->jwks_fetching = 1;
    prov->jwks_last_attempt = now;
    prov->info.jwks_fetches++;
    apr_thread_mutex_unlock(prov->mutex);

    cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, 0, p, "fetching JWKS from %s%s",
             uri, lacking ? " (unknown kid)" : "");
    rv = fetch_jwks(&fresh, prov, uri, &e, p);

    apr_thread_mutex_lock(prov->mutex);
    prov->jwks_fetching = 0;
    now = apr_time_now();
    if (rv == APR_SUCCESS) {
        dead = gen_unref_locked(prov->jwks);
        prov->jwks = fresh;
        prov->jwks_fetched = now;
        prov->info.jwks_fetched = now;
        prov->info.jwks_keys = cis2_jwks_count(fresh->jwks);
        use = gen_ref_locked(fresh);
    }
    else {
        prov->info.last_error = e->code;
        prov->info.last_error_time = now;
        prov->last_error_jwks = prov->info.last_error;
    }
    apr_thread_cond_broadcast(prov->cond);
    apr_thread_mutex_unlock(prov->mutex);
    if (dead != NULL) {
        apr_pool_destroy(dead);
    }

    if (rv != APR_SUCCESS) {
        /* the caller's verdict carries on in its own log line */
        cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, rv, p,
                 "JWKS fetch from %s failed (%s): %s", uri,
                 cis2_err_name(e->code), e->detail);
        if (lacking != NULL) {
            /* keep the caller's verdict (unknown kid) */
            return APR_SUCCESS;
        }
        if (perr != NULL) {
            *perr = e;
        }
        return rv;
    }
    cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, 0, p, "JWKS fetched: %d keys",
             cis2_jwks_count(use->jwks));
    hold_register(p, use);
    *pg = use;
    return APR_SUCCESS;
}

apr_status_t cis2_provider_verify(cis2_provider_t *prov, const cis2_jws_t *jws,
                                  const apr_array_header_t *allowed_algs,
                                  const cis2_err_t **perr, apr_pool_t *p)
{
    const cis2_provider_meta_t *meta;
    const cis2_err_t *e = NULL, *fe = NULL;
    gen_t *g, *g2;
    apr_status_t rv;

    if (cis2_provider_meta(&meta, prov, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (jwks_get(&g, prov, meta->jwks_uri, NULL, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    rv = cis2_jws_verify(jws, g->jwks, allowed_algs, &e, p);
    if (rv != APR_SUCCESS && e == NULL) {
        cis2_err_set(&e, p, CIS2_E_SIGNATURE, "JWS not verified");
    }
    if (rv == APR_SUCCESS || e->code != CIS2_E_KID_UNKNOWN) {
        apr_pool_cleanup_run(p, g, gen_release);
        if (rv != APR_SUCCESS && perr != NULL) {
            *perr = e;
        }
        return rv;
    }

    /* unknown kid: the OP may have rotated its keys; refetch once (rate
     * limited), then verify against whatever set is current */
    (void)jwks_get(&g2, prov, meta->jwks_uri, g, &fe, p);
    apr_pool_cleanup_run(p, g, gen_release);
    if (g2 == NULL) {
        if (perr != NULL) {
            *perr = e;
        }
        return rv;
    }
    rv = cis2_jws_verify(jws, g2->jwks, allowed_algs, perr, p);
    apr_pool_cleanup_run(p, g2, gen_release);
    return rv;
}

/* ---- introspection ----------------------------------------------------- */

void cis2_provider_get_info(cis2_provider_info_t *info, cis2_provider_t *prov)
{
    apr_thread_mutex_lock(prov->mutex);
    *info = prov->info;
    info->jwks_fetched = prov->jwks_fetched;
    info->meta_fetched = prov->meta_fetched;
    apr_thread_mutex_unlock(prov->mutex);
}
