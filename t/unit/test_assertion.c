/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_assertion — the RP's private_key_jwt keys: the RFC 7638 thumbprint
 * (the RFC's own example), loading private and public PEM keys (and
 * refusing EC, short and garbage keys), a signed client assertion verified
 * against the published JWKS with the core's own JWS code (RS256 and
 * RS512), its claims (iss = sub = client_id, aud verbatim with ":443",
 * fresh jti, exp at most 5 minutes ahead), and the current + previous JWKS.
 */
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "cis2_assertion.h"
#include "cis2_jwks.h"
#include "cis2_jwt.h"
#include "cis2_json.h"

#define TOKEN_EP "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443" \
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare" \
    "/access_token"
#define CLIENT "123456789012.apps.national"

static cis2_rp_key_t *load(const char *name, const char *kid)
{
    cis2_rp_key_t *k = NULL;
    const cis2_err_t *err = NULL;
    apr_status_t rv = cis2_rp_key_load_file(&k, cis2_test_data(name), kid,
                                            &err, g_pool);

    ck_assert_msg(rv == APR_SUCCESS, "%s: %s", name, err ? err->detail : "?");
    return k;
}

START_TEST(rfc7638_example)
{
    /* RFC 7638 §3.1 */
    const char *n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfA"
        "AtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
        "5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicA"
        "taSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWh"
        "AI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
        "awapJzKnqDKgw";

    ck_assert_str_eq(cis2_jwk_thumbprint_rsa(g_pool, n, "AQAB"),
                     "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}
END_TEST

START_TEST(load_private_and_public)
{
    cis2_rp_key_t *priv = load("key1.pem", NULL);
    cis2_rp_key_t *pub = load("key1.pub.pem", NULL);
    cis2_rp_key_t *named = load("key1.pem", "my/kid+1=");

    ck_assert(cis2_rp_key_can_sign(priv));
    ck_assert(!cis2_rp_key_can_sign(pub));
    /* the thumbprint depends on the public key only */
    ck_assert_str_eq(cis2_rp_key_kid(priv), cis2_rp_key_kid(pub));
    ck_assert_int_eq(strlen(cis2_rp_key_kid(priv)), 43);
    ck_assert_str_eq(cis2_rp_key_kid(named), "my/kid+1=");
}
END_TEST

START_TEST(bad_keys_refused)
{
    static const char *const names[] = { "ec.pem", "weak.pem", "jwks.json" };
    cis2_rp_key_t *k;
    const cis2_err_t *err;
    apr_size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        err = NULL;
        ck_assert_int_ne(cis2_rp_key_load_file(&k, cis2_test_data(names[i]),
                                               NULL, &err, g_pool),
                         APR_SUCCESS);
        ck_assert_int_eq(err->code, CIS2_E_CONFIG);
    }
    err = NULL;
    ck_assert_int_ne(cis2_rp_key_load_file(&k, "/nonexistent/key.pem", NULL,
                                           &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CONFIG);
    err = NULL;
    ck_assert_int_ne(cis2_rp_key_load(&k, "x", 1, NULL, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

static void sign_and_verify(const char *alg)
{
    cis2_rp_key_t *key = load("key1.pem", NULL);
    cis2_rp_key_t *old = load("key2.pem", NULL);
    const char *jwt, *jwt2, *jwks_json;
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws;
    cis2_jwks_t *jwks;
    apr_array_header_t *algs = apr_array_make(g_pool, 1, sizeof(char *));
    apr_time_t now = apr_time_from_sec(1750525280);
    apr_int64_t iat, exp;

    ck_assert_int_eq(cis2_assertion_sign(&jwt, key, alg, CLIENT, TOKEN_EP,
                                         now, apr_time_from_sec(3600), &err,
                                         g_pool), APR_SUCCESS);
    jwks_json = cis2_assertion_jwks(g_pool, key, old, alg);
    ck_assert_ptr_nonnull(jwks_json);
    ck_assert_int_eq(cis2_jwks_parse(&jwks, jwks_json, strlen(jwks_json),
                                     &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_jwks_count(jwks), 2);
    ck_assert_int_eq(cis2_jws_parse(&jws, jwt, strlen(jwt), 0, &err, g_pool),
                     APR_SUCCESS);
    APR_ARRAY_PUSH(algs, const char *) = alg;
    ck_assert_msg(cis2_jws_verify(jws, jwks, algs, &err, g_pool)
                  == APR_SUCCESS, "%s", err ? err->detail : "");
    ck_assert_str_eq(jws->alg, alg);
    ck_assert_str_eq(jws->kid, cis2_rp_key_kid(key));
    ck_assert_str_eq(jws->typ, "JWT");
    ck_assert_str_eq(cis2_json_str(jws->payload, "iss"), CLIENT);
    ck_assert_str_eq(cis2_json_str(jws->payload, "sub"), CLIENT);
    ck_assert_str_eq(cis2_json_str(jws->payload, "aud"), TOKEN_EP);
    ck_assert(cis2_json_numeric_date(jws->payload, "iat", &iat));
    ck_assert(cis2_json_numeric_date(jws->payload, "exp", &exp));
    ck_assert_int_eq(iat, 1750525280);
    /* asked for an hour: capped at five minutes */
    ck_assert_int_eq(exp - iat, 300);
    ck_assert_int_ge(strlen(cis2_json_str(jws->payload, "jti")), 22);

    /* a second assertion has a fresh jti */
    ck_assert_int_eq(cis2_assertion_sign(&jwt2, key, alg, CLIENT, TOKEN_EP,
                                         now, apr_time_from_sec(120), &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_jws_parse(&jws, jwt2, strlen(jwt2), 0, &err,
                                    g_pool), APR_SUCCESS);
    ck_assert(cis2_json_numeric_date(jws->payload, "exp", &exp));
    ck_assert_int_eq(exp - 1750525280, 120);
    ck_assert_str_ne(jwt, jwt2);
}

START_TEST(sign_rs256)
{
    sign_and_verify("RS256");
}
END_TEST

START_TEST(sign_rs512)
{
    sign_and_verify("RS512");
}
END_TEST

START_TEST(sign_refusals)
{
    cis2_rp_key_t *pub = load("key1.pub.pem", NULL);
    cis2_rp_key_t *key = load("key1.pem", NULL);
    const char *jwt;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_assertion_sign(&jwt, pub, "RS256", CLIENT,
                                         TOKEN_EP, apr_time_now(), 0, &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CONFIG);
    err = NULL;
    ck_assert_int_ne(cis2_assertion_sign(&jwt, key, "HS256", CLIENT,
                                         TOKEN_EP, apr_time_now(), 0, &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CONFIG);
    ck_assert(!cis2_assertion_alg_ok("none"));
    ck_assert(!cis2_assertion_alg_ok("PS256"));
    ck_assert(cis2_assertion_alg_ok("RS512"));
}
END_TEST

START_TEST(jwks_current_first_previous_second)
{
    cis2_rp_key_t *cur = load("key2.pem", NULL);
    cis2_rp_key_t *prev = load("key1.pub.pem", NULL);
    const char *s = cis2_assertion_jwks(g_pool, cur, prev, "RS512");
    json_t *j;
    const cis2_err_t *err = NULL;
    json_t *keys;

    ck_assert_int_eq(cis2_json_parse_object(&j, s, strlen(s), 65536, &err,
                                            g_pool), APR_SUCCESS);
    keys = json_object_get(j, "keys");
    ck_assert_int_eq(json_array_size(keys), 2);
    ck_assert_str_eq(cis2_json_str(json_array_get(keys, 0), "kid"),
                     cis2_rp_key_kid(cur));
    ck_assert_str_eq(cis2_json_str(json_array_get(keys, 1), "kid"),
                     cis2_rp_key_kid(prev));
    ck_assert_str_eq(cis2_json_str(json_array_get(keys, 0), "use"), "sig");
    ck_assert_str_eq(cis2_json_str(json_array_get(keys, 0), "alg"), "RS512");
    /* never any private member */
    ck_assert_ptr_null(strstr(s, "\"d\""));
    ck_assert_ptr_null(strstr(s, "\"p\""));
    /* the same key twice is listed once */
    s = cis2_assertion_jwks(g_pool, cur, cur, "RS256");
    ck_assert_int_eq(cis2_json_parse_object(&j, s, strlen(s), 65536, &err,
                                            g_pool), APR_SUCCESS);
    ck_assert_int_eq(json_array_size(json_object_get(j, "keys")), 1);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("assertion");
    TCase *tc = tcase_create("core");

    cis2_test_fixture(tc);
    tcase_add_test(tc, rfc7638_example);
    tcase_add_test(tc, load_private_and_public);
    tcase_add_test(tc, bad_keys_refused);
    tcase_add_test(tc, sign_rs256);
    tcase_add_test(tc, sign_rs512);
    tcase_add_test(tc, sign_refusals);
    tcase_add_test(tc, jwks_current_first_previous_second);
    suite_add_tcase(s, tc);
    return s;
}
