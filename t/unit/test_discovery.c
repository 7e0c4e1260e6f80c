/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_discovery — cis2_discovery_parse: a CIS2-shaped document is kept
 * byte for byte (":443" in the issuer and every endpoint), the issuer must
 * match exactly (no ":443" stripping, no trailing-slash or case folding),
 * required endpoints must be there and be absolute http(s) URLs, and
 * anything that is not a JSON object is refused.
 */
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "cis2_discovery.h"

#define INT_ISSUER "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443" \
                   "/openam/oauth2/realms/root/realms/NHSIdentity/realms/" \
                   "Healthcare"

/* CIS2 INT shaped (CIS2.md §1, §2) */
static const char cis2_doc[] =
    "{"
    "\"issuer\":\"" INT_ISSUER "\","
    "\"authorization_endpoint\":\"" INT_ISSUER "/authorize\","
    "\"token_endpoint\":\"" INT_ISSUER "/access_token\","
    "\"userinfo_endpoint\":\"" INT_ISSUER "/userinfo\","
    "\"jwks_uri\":\"" INT_ISSUER "/connect/jwk_uri\","
    "\"end_session_endpoint\":\"" INT_ISSUER "/connect/endSession\","
    "\"backchannel_logout_supported\":true,"
    "\"scopes_supported\":[\"openid\",\"profile\",\"email\","
    "\"nationalrbacaccess\",\"associatedorgs\",\"selectedrole\"],"
    "\"acr_values_supported\":[\"AAL3_ANY\",\"AAL2_OR_AAL3_ANY\"],"
    "\"response_types_supported\":[\"code\"],"
    "\"subject_types_supported\":[\"public\"],"
    "\"token_endpoint_auth_methods_supported\":[\"client_secret_post\","
    "\"private_key_jwt\",\"client_secret_basic\"],"
    "\"id_token_signing_alg_values_supported\":[\"PS384\",\"ES384\","
    "\"RS384\",\"HS256\",\"HS512\",\"ES256\",\"RS256\",\"HS384\",\"ES512\","
    "\"PS256\",\"PS512\",\"RS512\"],"
    "\"code_challenge_methods_supported\":[\"plain\",\"S256\"],"
    "\"claims_parameter_supported\":true"
    "}";

static apr_status_t parse(cis2_provider_meta_t **pm, const char *doc,
                          const char *expected, const cis2_err_t **perr)
{
    return cis2_discovery_parse(pm, doc, strlen(doc), expected, perr, g_pool);
}

static const char *item(const apr_array_header_t *a, int i)
{
    return APR_ARRAY_IDX(a, i, const char *);
}

/* A minimal document with one member replaced (member == NULL: none). */
static const char *doc_with(const char *issuer, const char *member,
                            const char *value_json)
{
    const char *base_iss = issuer ? issuer : "https://op.example:443/r";
    const char *members[] = { "authorization_endpoint", "token_endpoint",
                              "jwks_uri", "userinfo_endpoint" };
    const char *paths[] = { "/authorize", "/access_token", "/connect/jwk_uri",
                            "/userinfo" };
    const char *s = apr_psprintf(g_pool, "{\"issuer\":\"%s\"", base_iss);
    int i;

    for (i = 0; i < 4; i++) {
        if (member != NULL && strcmp(member, members[i]) == 0) {
            if (value_json != NULL) {
                s = apr_psprintf(g_pool, "%s,\"%s\":%s", s, members[i],
                                 value_json);
            }
        }
        else {
            s = apr_psprintf(g_pool, "%s,\"%s\":\"https://op.example:443/r%s\"",
                             s, members[i], paths[i]);
        }
    }
    return apr_pstrcat(g_pool, s, "}", NULL);
}

/* ---- good -------------------------------------------------------------- */

START_TEST(cis2_document_is_kept_byte_for_byte)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(parse(&m, cis2_doc, INT_ISSUER, &err), APR_SUCCESS);
    ck_assert_str_eq(m->issuer, INT_ISSUER);
    ck_assert_str_eq(m->authorization_endpoint, INT_ISSUER "/authorize");
    ck_assert_str_eq(m->token_endpoint, INT_ISSUER "/access_token");
    ck_assert_str_eq(m->userinfo_endpoint, INT_ISSUER "/userinfo");
    ck_assert_str_eq(m->jwks_uri, INT_ISSUER "/connect/jwk_uri");
    ck_assert_str_eq(m->end_session_endpoint, INT_ISSUER "/connect/endSession");
    ck_assert_int_eq(m->backchannel_logout_supported, 1);
    ck_assert_int_eq(m->scopes->nelts, 6);
    ck_assert_str_eq(item(m->scopes, 3), "nationalrbacaccess");
    ck_assert_int_eq(m->acr_values->nelts, 2);
    ck_assert_str_eq(item(m->acr_values, 0), "AAL3_ANY");
    ck_assert_int_eq(m->token_endpoint_auth_methods->nelts, 3);
    ck_assert_str_eq(item(m->token_endpoint_auth_methods, 0),
                     "client_secret_post");
    ck_assert_int_eq(m->id_token_signing_algs->nelts, 12);
    ck_assert_str_eq(item(m->id_token_signing_algs, 11), "RS512");
    ck_assert_int_eq(m->code_challenge_methods->nelts, 2);
    ck_assert_str_eq(item(m->code_challenge_methods, 1), "S256");
}
END_TEST

START_TEST(no_expected_issuer_takes_the_document_s)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(parse(&m, cis2_doc, NULL, &err), APR_SUCCESS);
    ck_assert_str_eq(m->issuer, INT_ISSUER);
}
END_TEST

START_TEST(optional_members_absent)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = "{\"issuer\":\"http://127.0.0.1:8080/i\","
        "\"authorization_endpoint\":\"http://127.0.0.1:8080/i/authorize\","
        "\"token_endpoint\":\"http://127.0.0.1:8080/i/access_token\","
        "\"jwks_uri\":\"http://127.0.0.1:8080/i/jwks\","
        "\"backchannel_logout_supported\":\"yes\","
        "\"scopes_supported\":\"openid\","
        "\"acr_values_supported\":[1,\"AAL3_ANY\",null]}";

    ck_assert_int_eq(parse(&m, doc, "http://127.0.0.1:8080/i", &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(m->userinfo_endpoint);
    ck_assert_ptr_null(m->end_session_endpoint);
    ck_assert_int_eq(m->backchannel_logout_supported, 0);
    ck_assert_ptr_nonnull(m->scopes);
    ck_assert_int_eq(m->scopes->nelts, 0);
    ck_assert_int_eq(m->token_endpoint_auth_methods->nelts, 0);
    ck_assert_int_eq(m->id_token_signing_algs->nelts, 0);
    ck_assert_int_eq(m->code_challenge_methods->nelts, 0);
    ck_assert_int_eq(m->acr_values->nelts, 1);
    ck_assert_str_eq(item(m->acr_values, 0), "AAL3_ANY");
}
END_TEST

START_TEST(endpoint_with_query_is_kept)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = doc_with(NULL, "authorization_endpoint",
                               "\"https://op.example:443/r/authorize?x=1\"");

    ck_assert_int_eq(parse(&m, doc, "https://op.example:443/r", &err),
                     APR_SUCCESS);
    ck_assert_str_eq(m->authorization_endpoint,
                     "https://op.example:443/r/authorize?x=1");
}
END_TEST

/* ---- issuer ------------------------------------------------------------ */

static const char *const wrong_issuers[] = {
    /* the same issuer as the document's, "normalised" in the usual ways */
    "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk"
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
    INT_ISSUER "/",
    "https://AM.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443"
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
    "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443"
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/healthcare",
    "HTTPS://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443"
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
    "http://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443"
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
    INT_ISSUER " ",
    "",
    "https://am.nhsidentity.spineservices.nhs.uk:443"
    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
};

START_TEST(issuer_mismatch)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(parse(&m, cis2_doc, wrong_issuers[_i], &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_ISSUER_MISMATCH);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(issuer_without_443_does_not_match_one_with)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = doc_with("https://op.example/r", NULL, NULL);

    ck_assert_int_ne(parse(&m, doc, "https://op.example:443/r", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_ISSUER_MISMATCH);
}
END_TEST

static const char *const bad_issuer_docs[] = {
    "{\"authorization_endpoint\":\"https://a/x\",\"token_endpoint\":"
    "\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
    "{\"issuer\":42,\"authorization_endpoint\":\"https://a/x\","
    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
    "{\"issuer\":\"\",\"authorization_endpoint\":\"https://a/x\","
    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
    "{\"issuer\":\"op.example\",\"authorization_endpoint\":\"https://a/x\","
    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
    "{\"issuer\":\"https://a/r?x=1\","
    "\"authorization_endpoint\":\"https://a/x\","
    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
    "{\"issuer\":\"https://a/r#f\",\"authorization_endpoint\":\"https://a/x\","
    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
};

START_TEST(bad_issuer_is_discovery_error)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(parse(&m, bad_issuer_docs[_i], NULL, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DISCOVERY);
}
END_TEST

/* ---- endpoints --------------------------------------------------------- */

static const char *const required[] = {
    "authorization_endpoint", "token_endpoint", "jwks_uri"
};

START_TEST(missing_required_endpoint)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(parse(&m, doc_with(NULL, required[_i], NULL),
                           "https://op.example:443/r", &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DISCOVERY);
    ck_assert_ptr_nonnull(strstr(err->detail, required[_i]));
}
END_TEST

static const char *const bad_values[] = {
    "42",
    "null",
    "[\"https://op.example/x\"]",
    "\"\"",
    "\"/relative/path\"",
    "\"op.example/x\"",
    "\"javascript:alert(1)\"",
    "\"ftp://op.example/x\"",
    "\"file:///etc/passwd\"",
    "\"https://\"",
    "\"https:///path\"",
    "\"https://op.example/x#frag\"",
    "\"https://user:pw@op.example/x\"",
    "\"https://op.example/a b\"",
    "\"https://op.example/a\\nb\"",
    "\"https://op.example/a\\\\b\"",
    "\"https://op.example/\\u00e9\"",
};

START_TEST(non_url_endpoints_are_refused)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    int k;

    /* each bad value in each URL member (userinfo is optional: null and
     * absent are fine there, anything else bad is not) */
    for (k = 0; k < 4; k++) {
        const char *member = k < 3 ? required[k] : "userinfo_endpoint";
        apr_status_t rv;

        if (k == 3 && strcmp(bad_values[_i], "null") == 0) {
            continue;
        }
        err = NULL;
        rv = parse(&m, doc_with(NULL, member, bad_values[_i]),
                   "https://op.example:443/r", &err);
        ck_assert_msg(rv != APR_SUCCESS, "%s = %s accepted", member,
                      bad_values[_i]);
        ck_assert_int_eq(err->code, CIS2_E_DISCOVERY);
    }
}
END_TEST

START_TEST(overlong_endpoint_is_refused)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    char *longpath = apr_palloc(g_pool, CIS2_MAX_URL + 1);
    const char *value;

    memset(longpath, 'a', CIS2_MAX_URL);
    longpath[CIS2_MAX_URL] = '\0';
    value = apr_psprintf(g_pool, "\"https://op.example/%s\"", longpath);
    ck_assert_int_ne(parse(&m, doc_with(NULL, "token_endpoint", value), NULL,
                           &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DISCOVERY);
}
END_TEST

/* ---- not JSON ---------------------------------------------------------- */

static const char *const garbage[] = {
    "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
    "",
    "null",
    "[]",
    "\"issuer\"",
    "{\"issuer\":\"https://a\",",
    "{\"issuer\":\"https://a/r\",\"issuer\":\"https://b/r\"}",
};

START_TEST(garbage_is_json_error)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(parse(&m, garbage[_i], NULL, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
}
END_TEST

START_TEST(oversized_document)
{
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t n = CIS2_MAX_HTTP_BODY + 1;
    char *big = apr_palloc(g_pool, n + 1);

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    ck_assert_int_ne(cis2_discovery_parse(&m, big, n, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
}
END_TEST

START_TEST(length_is_honoured_not_nul)
{
    /* only len bytes are parsed: a valid document followed by junk that
     * is outside len parses */
    cis2_provider_meta_t *m = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = apr_pstrcat(g_pool, cis2_doc, "<html>", NULL);

    ck_assert_int_eq(cis2_discovery_parse(&m, doc, strlen(cis2_doc),
                                          INT_ISSUER, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("discovery");
    TCase *good = tcase_create("good");
    TCase *iss = tcase_create("issuer");
    TCase *ep = tcase_create("endpoints");
    TCase *bad = tcase_create("garbage");

    cis2_test_fixture(good);
    cis2_test_fixture(iss);
    cis2_test_fixture(ep);
    cis2_test_fixture(bad);
    tcase_add_test(good, cis2_document_is_kept_byte_for_byte);
    tcase_add_test(good, no_expected_issuer_takes_the_document_s);
    tcase_add_test(good, optional_members_absent);
    tcase_add_test(good, endpoint_with_query_is_kept);
    tcase_add_test(good, length_is_honoured_not_nul);
    tcase_add_loop_test(iss, issuer_mismatch, 0,
                        (int)(sizeof(wrong_issuers) / sizeof(*wrong_issuers)));
    tcase_add_test(iss, issuer_without_443_does_not_match_one_with);
    tcase_add_loop_test(iss, bad_issuer_is_discovery_error, 0,
                        (int)(sizeof(bad_issuer_docs)
                              / sizeof(*bad_issuer_docs)));
    tcase_add_loop_test(ep, missing_required_endpoint, 0,
                        (int)(sizeof(required) / sizeof(*required)));
    tcase_add_loop_test(ep, non_url_endpoints_are_refused, 0,
                        (int)(sizeof(bad_values) / sizeof(*bad_values)));
    tcase_add_test(ep, overlong_endpoint_is_refused);
    tcase_add_loop_test(bad, garbage_is_json_error, 0,
                        (int)(sizeof(garbage) / sizeof(*garbage)));
    tcase_add_test(bad, oversized_document);
    suite_add_tcase(s, good);
    suite_add_tcase(s, iss);
    suite_add_tcase(s, ep);
    suite_add_tcase(s, bad);
    return s;
}
