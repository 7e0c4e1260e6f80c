/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_provider — cis2_provider.c against the loopback server: the
 * discovery document is cached for its TTL and refetched after it, a
 * stale document is served when a refresh fails, the JWKS is fetched once
 * and refetched on an unknown kid at most once per jwks_min_refetch (also
 * under many threads), and a generation handed to a caller survives a
 * refresh in the meantime. Tokens are signed here with cjose keys made
 * once per test case.
 */
#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <cjose/cjose.h>

#include "testmain.h"
#include "loopsrv.h"
#include "cis2_provider.h"

#define DISCO "/i/.well-known/openid-configuration"
#define NKEYS 3

static cjose_jwk_t *keys[NKEYS];
static const char *const kids[NKEYS] = {
    "b/O6OvVv1+y+WgrH5Ui9WTioLt0=", "Qm9sbG92ZXIvS2V5Kz0yMDI2+w==", "k3"
};
static char *pubjwk[NKEYS];      /* public JWK JSON of each key */

static void keys_setup(void)
{
    cjose_err cerr;
    int i;

    for (i = 0; i < NKEYS; i++) {
        keys[i] = cjose_jwk_create_RSA_random(2048, NULL, 0, &cerr);
        ck_assert_ptr_nonnull(keys[i]);
        ck_assert(cjose_jwk_set_kid(keys[i], kids[i], strlen(kids[i]),
                                    &cerr));
        pubjwk[i] = cjose_jwk_to_json(keys[i], false, &cerr);
        ck_assert_ptr_nonnull(pubjwk[i]);
    }
}

static void keys_teardown(void)
{
    int i;

    for (i = 0; i < NKEYS; i++) {
        cjose_jwk_release(keys[i]);
        free(pubjwk[i]);
        keys[i] = NULL;
        pubjwk[i] = NULL;
    }
}

/* {"keys":[...]} with the keys whose bit is set in mask */
static const char *jwks_of(int mask)
{
    const char *s = "{\"keys\":[";
    int i, first = 1;

    for (i = 0; i < NKEYS; i++) {
        if (mask & (1 << i)) {
            s = apr_pstrcat(g_pool, s, first ? "" : ",", pubjwk[i], NULL);
            first = 0;
        }
    }
    return apr_pstrcat(g_pool, s, "]}", NULL);
}

/* A compact RS256 JWS signed with key k, header kid = kid. */
static cis2_jws_t *token(int k, const char *kid, apr_pool_t *p)
{
    static const char payload[] = "{\"iss\":\"x\",\"sub\":\"555012345678\"}";
    cjose_err cerr;
    cjose_header_t *h = cjose_header_new(&cerr);
    cjose_jws_t *cj;
    const char *compact = NULL;
    cis2_jws_t *jws = NULL;
    const cis2_err_t *err = NULL;
    char *copy;

    ck_assert(cjose_header_set(h, CJOSE_HDR_ALG, "RS256", &cerr));
    ck_assert(cjose_header_set(h, CJOSE_HDR_KID, kid, &cerr));
    cj = cjose_jws_sign(keys[k], h, (const uint8_t *)payload,
                        strlen(payload), &cerr);
    ck_assert_ptr_nonnull(cj);
    ck_assert(cjose_jws_export(cj, &compact, &cerr));
    copy = apr_pstrdup(p, compact);
    cjose_jws_release(cj);
    cjose_header_release(h);
    ck_assert_int_eq(cis2_jws_parse(&jws, copy, strlen(copy), 0, &err, p),
                     APR_SUCCESS);
    return jws;
}

/* ---- the loopback OP --------------------------------------------------- */

typedef struct op_t {
    loopsrv_t *srv;
    const char *issuer;
    cis2_provider_t *prov;
} op_t;

static const char *disco_doc(op_t *op, const char *issuer, const char *jwks)
{
    return apr_psprintf(g_pool,
        "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
        "\"token_endpoint\":\"%s/access_token\","
        "\"userinfo_endpoint\":\"%s/userinfo\",\"jwks_uri\":\"%s\"}",
        issuer, op->issuer, op->issuer, op->issuer,
        loopsrv_url(op->srv, jwks));
}

static void op_setup(op_t *op, const char *conf_issuer,
                     apr_interval_time_t ttl, apr_interval_time_t refetch)
{
    cis2_provider_conf_t c;

    op->srv = loopsrv_start(g_pool);
    ck_assert_ptr_nonnull(op->srv);
    op->issuer = loopsrv_url(op->srv, "/i");
    loopsrv_set_json(op->srv, DISCO, 200,
                     disco_doc(op, op->issuer, "/i/connect/jwk_uri"));
    loopsrv_set_json(op->srv, "/i/connect/jwk_uri", 200, jwks_of(1));
    memset(&c, 0, sizeof(c));
    c.metadata_url = loopsrv_url(op->srv, DISCO);
    c.issuer = conf_issuer;
    c.metadata_ttl = ttl;
    c.jwks_min_refetch = refetch;
    c.http.timeout = apr_time_from_sec(5);
    ck_assert_int_eq(cis2_provider_create(&op->prov, &c, g_pool),
                     APR_SUCCESS);
}

static apr_uint64_t meta_fetches(op_t *op)
{
    cis2_provider_info_t info;

    cis2_provider_get_info(&info, op->prov);
    return info.meta_fetches;
}

/* ---- metadata ---------------------------------------------------------- */

START_TEST(meta_is_fetched_once_and_cached)
{
    op_t op;
    const cis2_provider_meta_t *m1 = NULL, *m2 = NULL;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;

    op_setup(&op, NULL, 0, 0);
    cis2_provider_get_info(&info, op.prov);
    ck_assert(info.meta_fetched == 0 && info.meta_fetches == 0);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 0); /* lazy */

    ck_assert_int_eq(cis2_provider_meta(&m1, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(m1->issuer, op.issuer);
    ck_assert_int_eq(cis2_provider_meta(&m2, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_eq(m1, m2);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 1);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_uint_eq(info.meta_fetches, 1);
    ck_assert(info.meta_fetched != 0);
}
END_TEST

START_TEST(meta_ttl_expiry_refetches)
{
    op_t op;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    op_setup(&op, NULL, apr_time_from_msec(200), 0);
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 1);
    apr_sleep(apr_time_from_msec(300));
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 2);
    ck_assert_uint_eq(meta_fetches(&op), 2);
}
END_TEST

START_TEST(meta_ttl_is_capped_at_one_hour)
{
    /* a TTL of a day behaves as 1 h: observable only as "still cached",
     * so check that creation accepts it and caching works */
    op_t op;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    op_setup(&op, NULL, apr_time_from_sec(86400), 0);
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 1);
}
END_TEST

START_TEST(meta_stale_is_served_when_refresh_fails)
{
    op_t op;
    const cis2_provider_meta_t *m1 = NULL, *m2 = NULL;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;
    loopsrv_route_t down = { .status = 503, .content_type = "text/html",
                             .body = "<html>down</html>" };

    op_setup(&op, NULL, apr_time_from_msec(200), 0);
    ck_assert_int_eq(cis2_provider_meta(&m1, op.prov, &err, g_pool),
                     APR_SUCCESS);
    loopsrv_set(op.srv, DISCO, &down);
    apr_sleep(apr_time_from_msec(300));
    ck_assert_int_eq(cis2_provider_meta(&m2, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_eq(m1, m2);
    ck_assert_str_eq(m2->issuer, op.issuer);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 2);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_int_eq(info.last_error, CIS2_E_HTTP_STATUS);
    ck_assert(info.last_error_time != 0);
    /* inside the backoff after the failure: no new attempt */
    ck_assert_int_eq(cis2_provider_meta(&m2, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 2);
    /* after it, the OP is back: a fresh document */
    loopsrv_set_json(op.srv, DISCO, 200,
                     disco_doc(&op, op.issuer, "/i/jwks2"));
    apr_sleep(apr_time_from_msec(300));
    ck_assert_int_eq(cis2_provider_meta(&m2, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 3);
    ck_assert_str_eq(m2->jwks_uri, loopsrv_url(op.srv, "/i/jwks2"));
    /* the first generation is still readable (held by g_pool) */
    ck_assert_str_eq(m1->jwks_uri, loopsrv_url(op.srv, "/i/connect/jwk_uri"));
}
END_TEST

START_TEST(meta_stale_is_served_when_op_unreachable_or_garbage)
{
    op_t op;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;

    op_setup(&op, NULL, apr_time_from_msec(100), 0);
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    loopsrv_set_json(op.srv, DISCO, 200, "{\"issuer\":");
    apr_sleep(apr_time_from_msec(150));
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_int_eq(info.last_error, CIS2_E_JSON);
    ck_assert_str_eq(m->issuer, op.issuer);
}
END_TEST

START_TEST(meta_nothing_cached_returns_the_error)
{
    op_t op;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    loopsrv_route_t down = { .status = 500, .body = "oops" };

    op_setup(&op, NULL, 0, 0);
    loopsrv_set(op.srv, DISCO, &down);
    ck_assert_int_ne(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
    ck_assert_ptr_null(m);
    /* no backoff while nothing is cached: the next call tries again */
    loopsrv_set_json(op.srv, DISCO, 200, "<html>");
    ck_assert_int_ne(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 2);
    ck_assert_int_ne(cis2_provider_meta(&m, op.prov, NULL, g_pool),
                     APR_SUCCESS);  /* perr may be NULL */
}
END_TEST

START_TEST(meta_unreachable)
{
    cis2_provider_t *prov;
    cis2_provider_conf_t c;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    memset(&c, 0, sizeof(c));
    c.metadata_url = apr_psprintf(g_pool, "http://127.0.0.1:%d/x",
                                  loopsrv_unused_port());
    ck_assert_int_eq(cis2_provider_create(&prov, &c, g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_provider_meta(&m, prov, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
}
END_TEST

START_TEST(meta_issuer_mismatch)
{
    op_t op;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    op_setup(&op, "https://am.example:443/realms/Healthcare", 0, 0);
    ck_assert_int_ne(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_ISSUER_MISMATCH);
}
END_TEST

START_TEST(meta_learned_issuer_is_pinned)
{
    op_t op;
    const cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;

    op_setup(&op, NULL, apr_time_from_msec(100), 0);
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    loopsrv_set_json(op.srv, DISCO, 200,
                     disco_doc(&op, "https://evil.example/i",
                               "/i/connect/jwk_uri"));
    apr_sleep(apr_time_from_msec(150));
    ck_assert_int_eq(cis2_provider_meta(&m, op.prov, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(m->issuer, op.issuer);    /* stale, not switched */
    cis2_provider_get_info(&info, op.prov);
    ck_assert_int_eq(info.last_error, CIS2_E_ISSUER_MISMATCH);
}
END_TEST

START_TEST(meta_generation_outlives_refresh_and_caller_pools)
{
    op_t op;
    const cis2_provider_meta_t *old = NULL, *cur = NULL;
    const cis2_err_t *err = NULL;
    apr_pool_t *req1, *req2;
    int i;

    op_setup(&op, NULL, apr_time_from_msec(50), 0);
    apr_pool_create(&req1, g_pool);
    ck_assert_int_eq(cis2_provider_meta(&old, op.prov, &err, req1),
                     APR_SUCCESS);
    for (i = 0; i < 3; i++) {
        loopsrv_set_json(op.srv, DISCO, 200,
                         disco_doc(&op, op.issuer,
                                   apr_psprintf(g_pool, "/i/jwks%d", i)));
        apr_sleep(apr_time_from_msec(80));
        apr_pool_create(&req2, g_pool);
        ck_assert_int_eq(cis2_provider_meta(&cur, op.prov, &err, req2),
                         APR_SUCCESS);
        ck_assert_str_eq(cur->jwks_uri,
                         loopsrv_url(op.srv, apr_psprintf(g_pool,
                                                          "/i/jwks%d", i)));
        apr_pool_destroy(req2);     /* frees that generation (superseded) */
    }
    /* req1 still holds the first generation: readable (valgrind checks) */
    ck_assert_str_eq(old->jwks_uri, loopsrv_url(op.srv, "/i/connect/jwk_uri"));
    ck_assert_str_eq(old->token_endpoint,
                     apr_pstrcat(g_pool, op.issuer, "/access_token", NULL));
    apr_pool_destroy(req1);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 4);
}
END_TEST

/* ---- JWKS and verification --------------------------------------------- */

static int jwks_hits(op_t *op)
{
    return loopsrv_hits(op->srv, "/i/connect/jwk_uri");
}

static apr_status_t verify(op_t *op, int k, const char *kid,
                           const cis2_err_t **perr)
{
    return cis2_provider_verify(op->prov, token(k, kid, g_pool), NULL, perr,
                                g_pool);
}

/* verify a token minted beforehand (timed sections stay fast, even under
 * valgrind, where RSA signing is slow) */
static apr_status_t verify_tok(op_t *op, const cis2_jws_t *jws,
                               const cis2_err_t **perr)
{
    return cis2_provider_verify(op->prov, jws, NULL, perr, g_pool);
}

START_TEST(verify_fetches_jwks_once)
{
    op_t op;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;

    op_setup(&op, NULL, 0, apr_time_from_msec(300));
    ck_assert_int_eq(verify(&op, 0, kids[0], &err), APR_SUCCESS);
    ck_assert_int_eq(verify(&op, 0, kids[0], &err), APR_SUCCESS);
    ck_assert_int_eq(jwks_hits(&op), 1);
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 1);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_uint_eq(info.jwks_fetches, 1);
    ck_assert_int_eq(info.jwks_keys, 1);
    ck_assert(info.jwks_fetched != 0);
}
END_TEST

START_TEST(bad_signature_does_not_refetch)
{
    op_t op;
    const cis2_err_t *err = NULL;

    op_setup(&op, NULL, 0, apr_time_from_msec(1));
    /* signed with key 1 but naming key 0's kid */
    ck_assert_int_ne(verify(&op, 1, kids[0], &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_SIGNATURE);
    apr_sleep(apr_time_from_msec(5));
    ck_assert_int_ne(verify(&op, 1, kids[0], &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_SIGNATURE);
    ck_assert_int_eq(jwks_hits(&op), 1);
}
END_TEST

START_TEST(unknown_kid_refetches_once_within_the_rate_limit)
{
    op_t op;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;
    cis2_jws_t *t0 = token(0, kids[0], g_pool);
    cis2_jws_t *t1 = token(1, kids[1], g_pool);
    cis2_jws_t *t2 = token(2, kids[2], g_pool);
    cis2_jws_t *tr = token(2, "random-kid", g_pool);

    op_setup(&op, NULL, 0, apr_time_from_msec(700));
    ck_assert_int_eq(verify_tok(&op, t0, &err), APR_SUCCESS);
    ck_assert_int_eq(jwks_hits(&op), 1);

    /* the OP rotates in key 1; past the window a token with its kid
     * triggers exactly one refetch and verifies */
    loopsrv_set_json(op.srv, "/i/connect/jwk_uri", 200, jwks_of(1 | 2));
    apr_sleep(apr_time_from_msec(750));
    ck_assert_int_eq(verify_tok(&op, t1, &err), APR_SUCCESS);
    ck_assert_int_eq(jwks_hits(&op), 2);
    ck_assert_int_eq(verify_tok(&op, t0, &err), APR_SUCCESS);
    ck_assert_int_eq(verify_tok(&op, t1, &err), APR_SUCCESS);
    ck_assert_int_eq(jwks_hits(&op), 2);

    /* a second unknown kid inside the window: no fetch */
    ck_assert_int_ne(verify_tok(&op, t2, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_ne(verify_tok(&op, tr, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_eq(jwks_hits(&op), 2);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_uint_eq(info.jwks_fetches, 2);
    ck_assert_uint_eq(info.jwks_refetch_refused, 2);

    /* after the window: one more refetch, still unknown */
    apr_sleep(apr_time_from_msec(750));
    ck_assert_int_ne(verify_tok(&op, t2, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_eq(jwks_hits(&op), 3);
}
END_TEST

START_TEST(unknown_kid_right_after_first_fetch_is_refused)
{
    op_t op;
    const cis2_err_t *err = NULL;

    op_setup(&op, NULL, 0, apr_time_from_sec(60));
    loopsrv_set_json(op.srv, "/i/connect/jwk_uri", 200, jwks_of(1));
    ck_assert_int_ne(verify(&op, 1, kids[1], &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_eq(jwks_hits(&op), 1);
}
END_TEST

START_TEST(failed_refetch_keeps_the_set_and_the_verdict)
{
    op_t op;
    const cis2_err_t *err = NULL;
    cis2_provider_info_t info;

    cis2_jws_t *t0 = token(0, kids[0], g_pool);
    cis2_jws_t *t1 = token(1, kids[1], g_pool);

    op_setup(&op, NULL, 0, apr_time_from_msec(100));
    ck_assert_int_eq(verify_tok(&op, t0, &err), APR_SUCCESS);
    loopsrv_set_json(op.srv, "/i/connect/jwk_uri", 500, "{}");
    apr_sleep(apr_time_from_msec(150));
    ck_assert_int_ne(verify_tok(&op, t1, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_eq(jwks_hits(&op), 2);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_int_eq(info.last_error, CIS2_E_HTTP_STATUS);
    /* the old set still verifies */
    ck_assert_int_eq(verify_tok(&op, t0, &err), APR_SUCCESS);
    ck_assert_int_eq(jwks_hits(&op), 2);
}
END_TEST

START_TEST(jwks_failure_with_nothing_cached_fails_closed)
{
    op_t op;
    const cis2_err_t *err = NULL;
    cis2_jws_t *t0 = token(0, kids[0], g_pool);
    const char *good = jwks_of(1);

    op_setup(&op, NULL, 0, apr_time_from_msec(700));
    loopsrv_set_json(op.srv, "/i/connect/jwk_uri", 200, "{\"keys\":[]}");
    ck_assert_int_ne(verify_tok(&op, t0, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JWKS);
    ck_assert_int_eq(jwks_hits(&op), 1);
    /* inside the window: no new fetch, same failure */
    loopsrv_set_json(op.srv, "/i/connect/jwk_uri", 200, good);
    ck_assert_int_ne(verify_tok(&op, t0, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JWKS);
    ck_assert_int_eq(jwks_hits(&op), 1);
    /* after it: recovered */
    apr_sleep(apr_time_from_msec(750));
    ck_assert_int_eq(verify_tok(&op, t0, &err), APR_SUCCESS);
    ck_assert_int_eq(jwks_hits(&op), 2);
}
END_TEST

START_TEST(metadata_failure_fails_verify)
{
    op_t op;
    const cis2_err_t *err = NULL;

    op_setup(&op, NULL, 0, 0);
    loopsrv_set_json(op.srv, DISCO, 404, "{}");
    ck_assert_int_ne(verify(&op, 0, kids[0], &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
    ck_assert_int_eq(jwks_hits(&op), 0);
}
END_TEST

START_TEST(moved_jwks_uri_is_fetched)
{
    op_t op;
    const cis2_err_t *err = NULL;

    op_setup(&op, NULL, apr_time_from_msec(100), apr_time_from_sec(60));
    ck_assert_int_eq(verify(&op, 0, kids[0], &err), APR_SUCCESS);
    loopsrv_set_json(op.srv, "/i/jwks-new", 200, jwks_of(2));
    loopsrv_set_json(op.srv, DISCO, 200,
                     disco_doc(&op, op.issuer, "/i/jwks-new"));
    apr_sleep(apr_time_from_msec(150));
    /* new metadata names a new JWKS: fetched despite the rate limit */
    ck_assert_int_eq(verify(&op, 1, kids[1], &err), APR_SUCCESS);
    ck_assert_int_eq(loopsrv_hits(op.srv, "/i/jwks-new"), 1);
    ck_assert_int_eq(jwks_hits(&op), 1);
}
END_TEST

START_TEST(disallowed_alg_passes_through)
{
    op_t op;
    const cis2_err_t *err = NULL;
    apr_array_header_t *algs = apr_array_make(g_pool, 1, sizeof(char *));

    APR_ARRAY_PUSH(algs, const char *) = "RS512";
    op_setup(&op, NULL, 0, 0);
    ck_assert_int_ne(cis2_provider_verify(op.prov, token(0, kids[0], g_pool),
                                          algs, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_ALG);
}
END_TEST

/* ---- many threads ------------------------------------------------------ */

#define NTHREADS 8

typedef struct worker_t {
    op_t *op;
    cis2_jws_t *jws;
    apr_pool_t *pool;
    apr_status_t rv;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *arg)
{
    worker_t *w = arg;
    const cis2_err_t *err = NULL;

    w->rv = cis2_provider_verify(w->op->prov, w->jws, NULL, &err, w->pool);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(unknown_kid_under_many_threads_fetches_once)
{
    op_t op;
    const cis2_err_t *err = NULL;
    worker_t w[NTHREADS];
    apr_thread_t *th[NTHREADS];
    loopsrv_route_t slow = { .status = 200,
                             .content_type = "application/json",
                             .delay_ms = 300 };
    cis2_provider_info_t info;
    int i;

    op_setup(&op, NULL, 0, apr_time_from_msec(100));
    ck_assert_int_eq(verify(&op, 0, kids[0], &err), APR_SUCCESS);
    slow.body = jwks_of(1 | 2);
    loopsrv_set(op.srv, "/i/connect/jwk_uri", &slow);
    apr_sleep(apr_time_from_msec(150));
    for (i = 0; i < NTHREADS; i++) {
        w[i].op = &op;
        apr_pool_create(&w[i].pool, g_pool);  /* made here: one thread */
        w[i].jws = token(1, kids[1], w[i].pool);
        w[i].rv = -1;
    }
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, worker, &w[i],
                                           g_pool), APR_SUCCESS);
    }
    for (i = 0; i < NTHREADS; i++) {
        apr_status_t trv;

        apr_thread_join(&trv, th[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(w[i].rv, APR_SUCCESS);
        apr_pool_destroy(w[i].pool);
    }
    ck_assert_int_eq(jwks_hits(&op), 2);
    cis2_provider_get_info(&info, op.prov);
    ck_assert_uint_eq(info.jwks_fetches, 2);
    ck_assert_int_eq(info.jwks_keys, 2);
}
END_TEST

START_TEST(cold_start_under_many_threads_fetches_once)
{
    op_t op;
    worker_t w[NTHREADS];
    apr_thread_t *th[NTHREADS];
    loopsrv_route_t slow = { .status = 200,
                             .content_type = "application/json",
                             .delay_ms = 200 };
    int i;

    op_setup(&op, NULL, 0, apr_time_from_sec(60));
    slow.body = disco_doc(&op, op.issuer, "/i/connect/jwk_uri");
    loopsrv_set(op.srv, DISCO, &slow);
    for (i = 0; i < NTHREADS; i++) {
        w[i].op = &op;
        apr_pool_create(&w[i].pool, g_pool);
        w[i].jws = token(0, kids[0], w[i].pool);
        w[i].rv = -1;
    }
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, worker, &w[i],
                                           g_pool), APR_SUCCESS);
    }
    for (i = 0; i < NTHREADS; i++) {
        apr_status_t trv;

        apr_thread_join(&trv, th[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(w[i].rv, APR_SUCCESS);
        apr_pool_destroy(w[i].pool);
    }
    ck_assert_int_eq(loopsrv_hits(op.srv, DISCO), 1);
    ck_assert_int_eq(jwks_hits(&op), 1);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("provider");
    TCase *meta = tcase_create("meta");
    TCase *jwks = tcase_create("jwks");

    cis2_test_fixture(meta);
    cis2_test_fixture(jwks);
    tcase_add_unchecked_fixture(jwks, keys_setup, keys_teardown);
    tcase_set_timeout(meta, 30);
    tcase_set_timeout(jwks, 60);
    tcase_add_test(meta, meta_is_fetched_once_and_cached);
    tcase_add_test(meta, meta_ttl_expiry_refetches);
    tcase_add_test(meta, meta_ttl_is_capped_at_one_hour);
    tcase_add_test(meta, meta_stale_is_served_when_refresh_fails);
    tcase_add_test(meta, meta_stale_is_served_when_op_unreachable_or_garbage);
    tcase_add_test(meta, meta_nothing_cached_returns_the_error);
    tcase_add_test(meta, meta_unreachable);
    tcase_add_test(meta, meta_issuer_mismatch);
    tcase_add_test(meta, meta_learned_issuer_is_pinned);
    tcase_add_test(meta, meta_generation_outlives_refresh_and_caller_pools);
    tcase_add_test(jwks, verify_fetches_jwks_once);
    tcase_add_test(jwks, bad_signature_does_not_refetch);
    tcase_add_test(jwks, unknown_kid_refetches_once_within_the_rate_limit);
    tcase_add_test(jwks, unknown_kid_right_after_first_fetch_is_refused);
    tcase_add_test(jwks, failed_refetch_keeps_the_set_and_the_verdict);
    tcase_add_test(jwks, jwks_failure_with_nothing_cached_fails_closed);
    tcase_add_test(jwks, metadata_failure_fails_verify);
    tcase_add_test(jwks, moved_jwks_uri_is_fetched);
    tcase_add_test(jwks, disallowed_alg_passes_through);
    tcase_add_test(jwks, unknown_kid_under_many_threads_fetches_once);
    tcase_add_test(jwks, cold_start_under_many_threads_fetches_once);
    suite_add_tcase(s, meta);
    suite_add_tcase(s, jwks);
    return s;
}
