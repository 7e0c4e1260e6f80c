/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_oidc — cis2_oidc.c: PKCE against RFC 7636 Appendix B, the
 * authorization URL (every parameter, percent-encoded, '&' after an
 * endpoint query), the callback (duplicates, oversize, OP errors), the
 * token request body for each client authentication method, the token
 * response verdicts, and the UserInfo sub check.
 */
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "cis2_oidc.h"
#include "cis2_util.h"

/* Decode a query into a table, asserting no parameter repeats. */
static apr_table_t *query_of(const char *url)
{
    const char *q = strchr(url, '?');
    apr_table_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(cis2_form_parse(&t, q + 1, 100000, 100, &err, g_pool),
                     APR_SUCCESS);
    return t;
}

static int count(const apr_table_t *t, const char *key)
{
    const apr_array_header_t *a = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;
    int i, n = 0;

    for (i = 0; i < a->nelts; i++) {
        if (strcmp(e[i].key, key) == 0) {
            n++;
        }
    }
    return n;
}

/* ---- PKCE -------------------------------------------------------------- */

START_TEST(pkce_rfc7636_appendix_b)
{
    ck_assert_str_eq(cis2_oidc_pkce_challenge(g_pool,
                     "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}
END_TEST

START_TEST(pkce_fresh_pair)
{
    const char *v1, *c1, *v2, *c2;
    const char *p;

    ck_assert_int_eq(cis2_oidc_pkce(&v1, &c1, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_oidc_pkce(&v2, &c2, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(strlen(v1), 43);
    ck_assert_uint_eq(strlen(c1), 43);
    ck_assert_str_ne(v1, v2);
    ck_assert_str_eq(c1, cis2_oidc_pkce_challenge(g_pool, v1));
    /* RFC 7636 §4.1: unreserved characters only */
    for (p = v1; *p; p++) {
        ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-._~", *p) != NULL);
    }
}
END_TEST

/* ---- authorization URL ------------------------------------------------- */

static cis2_auth_request_t base_req(void)
{
    cis2_auth_request_t r;

    memset(&r, 0, sizeof(r));
    r.authorization_endpoint = "https://am.nhsint.auth-ptl.cis2."
        "spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/"
        "NHSIdentity/realms/Healthcare/authorize";
    r.client_id = "999999999999.apps.national";
    r.redirect_uri = "https://rp.example/cis2/callback?a=1&b=2";
    r.scope = "openid profile nationalrbacaccess";
    r.state = "st-ATE_1.2~3";
    r.nonce = "n+o/n=ce";
    r.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    r.acr_values = "AAL3_ANY";
    r.prompt = "login";
    r.max_age = 300;
    return r;
}

START_TEST(auth_url_has_every_parameter_encoded)
{
    cis2_auth_request_t r = base_req();
    const char *url = cis2_oidc_auth_url(g_pool, &r);
    apr_table_t *q;

    ck_assert_msg(strncmp(url, "https://am.nhsint.auth-ptl.cis2.spineservices"
                          ".nhs.uk:443/openam/oauth2/realms/root/realms/"
                          "NHSIdentity/realms/Healthcare/authorize?", 114)
                  == 0, "endpoint kept verbatim: %s", url);
    /* exact encodings on the wire */
    ck_assert_ptr_nonnull(strstr(url, "?response_type=code&"));
    ck_assert_ptr_nonnull(strstr(url, "&client_id=999999999999.apps."
                                 "national&"));
    ck_assert_ptr_nonnull(strstr(url, "&redirect_uri=https%3A%2F%2Frp.example"
                                 "%2Fcis2%2Fcallback%3Fa%3D1%26b%3D2&"));
    ck_assert_ptr_nonnull(strstr(url, "&scope=openid%20profile%20"
                                 "nationalrbacaccess&"));
    ck_assert_ptr_nonnull(strstr(url, "&state=st-ATE_1.2~3&"));
    ck_assert_ptr_nonnull(strstr(url, "&nonce=n%2Bo%2Fn%3Dce&"));
    ck_assert_ptr_nonnull(strstr(url, "&code_challenge=E9Melhoa2OwvFrEMTJgu"
                                 "CHaoeK1t8URWbuGJSstw-cM&"));
    ck_assert_ptr_nonnull(strstr(url, "&code_challenge_method=S256&"));
    ck_assert_ptr_nonnull(strstr(url, "&acr_values=AAL3_ANY&"));
    ck_assert_ptr_nonnull(strstr(url, "&prompt=login&"));
    ck_assert_ptr_nonnull(strstr(url, "&max_age=300"));
    ck_assert_ptr_null(strchr(url, ' '));
    ck_assert_ptr_null(strchr(url, '#'));

    /* and decoded back, each once */
    q = query_of(url);
    ck_assert_int_eq(apr_table_elts(q)->nelts, 11);
    ck_assert_str_eq(apr_table_get(q, "redirect_uri"),
                     "https://rp.example/cis2/callback?a=1&b=2");
    ck_assert_str_eq(apr_table_get(q, "scope"),
                     "openid profile nationalrbacaccess");
    ck_assert_str_eq(apr_table_get(q, "nonce"), "n+o/n=ce");
    ck_assert_str_eq(apr_table_get(q, "state"), "st-ATE_1.2~3");
}
END_TEST

START_TEST(auth_url_omits_unset_parameters)
{
    cis2_auth_request_t r = base_req();
    apr_table_t *q;

    r.acr_values = NULL;
    r.prompt = NULL;
    r.max_age = -1;
    r.code_challenge = NULL;
    q = query_of(cis2_oidc_auth_url(g_pool, &r));
    ck_assert_int_eq(apr_table_elts(q)->nelts, 6);
    ck_assert_ptr_null(apr_table_get(q, "acr_values"));
    ck_assert_ptr_null(apr_table_get(q, "prompt"));
    ck_assert_ptr_null(apr_table_get(q, "max_age"));
    ck_assert_ptr_null(apr_table_get(q, "code_challenge"));
    ck_assert_ptr_null(apr_table_get(q, "code_challenge_method"));
}
END_TEST

START_TEST(auth_url_max_age_zero_is_sent)
{
    cis2_auth_request_t r = base_req();

    r.max_age = 0;
    ck_assert_str_eq(apr_table_get(query_of(cis2_oidc_auth_url(g_pool, &r)),
                                   "max_age"), "0");
}
END_TEST

START_TEST(auth_url_appends_to_endpoint_query)
{
    cis2_auth_request_t r = base_req();
    const char *url;

    r.authorization_endpoint = "https://op.example/authorize?realm=x%20y";
    url = cis2_oidc_auth_url(g_pool, &r);
    ck_assert_msg(strncmp(url, "https://op.example/authorize?realm=x%20y"
                          "&response_type=code&", 60) == 0, "%s", url);
    ck_assert_int_eq(count(query_of(url), "realm"), 1);

    r.authorization_endpoint = "https://op.example/authorize?";
    url = cis2_oidc_auth_url(g_pool, &r);
    ck_assert_msg(strncmp(url, "https://op.example/authorize?response_type="
                          "code&", 47) == 0, "%s", url);

    r.authorization_endpoint = "https://op.example/authorize?a=1&";
    url = cis2_oidc_auth_url(g_pool, &r);
    ck_assert_msg(strncmp(url, "https://op.example/authorize?a=1&"
                          "response_type=code&", 51) == 0, "%s", url);
}
END_TEST

START_TEST(auth_url_extra_parameters)
{
    cis2_auth_request_t r = base_req();
    apr_table_t *extra = apr_table_make(g_pool, 4);
    apr_table_t *q;

    apr_table_set(extra, "ui_locales", "en-GB cy");
    apr_table_set(extra, "login_hint", "a&b=c");
    apr_table_set(extra, "state", "attacker");      /* cannot override */
    apr_table_set(extra, "response_type", "token"); /* cannot override */
    r.extra = extra;
    q = query_of(cis2_oidc_auth_url(g_pool, &r));
    ck_assert_str_eq(apr_table_get(q, "ui_locales"), "en-GB cy");
    ck_assert_str_eq(apr_table_get(q, "login_hint"), "a&b=c");
    ck_assert_int_eq(count(q, "state"), 1);
    ck_assert_str_eq(apr_table_get(q, "state"), "st-ATE_1.2~3");
    ck_assert_int_eq(count(q, "response_type"), 1);
    ck_assert_str_eq(apr_table_get(q, "response_type"), "code");
}
END_TEST

START_TEST(auth_url_encodes_non_ascii_and_reserved)
{
    cis2_auth_request_t r = base_req();
    const char *url;

    r.state = "\xc3\xa9#?& <>\"'%";
    url = cis2_oidc_auth_url(g_pool, &r);
    ck_assert_ptr_nonnull(strstr(url, "&state=%C3%A9%23%3F%26%20%3C%3E%22"
                                 "%27%25&"));
    ck_assert_str_eq(apr_table_get(query_of(url), "state"),
                     "\xc3\xa9#?& <>\"'%");
}
END_TEST

/* ---- callback ---------------------------------------------------------- */

START_TEST(callback_code_and_state)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_oidc_parse_callback(&cb, "code=abc%2Bdef&state=s1"
                                              "&session_state=x.y&iss=https"
                                              "%3A%2F%2Fop%3A443%2Fr",
                                              &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(cb->code, "abc+def");
    ck_assert_str_eq(cb->state, "s1");
    ck_assert_str_eq(cb->iss, "https://op:443/r");
    ck_assert_ptr_null(cb->error);
}
END_TEST

START_TEST(callback_error)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_oidc_parse_callback(&cb, "error=access_denied&"
                                              "error_description=User+said+no"
                                              "&state=s1", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(cb->error, "access_denied");
    ck_assert_str_eq(cb->error_description, "User said no");
    ck_assert_str_eq(cb->state, "s1");
    ck_assert_ptr_null(cb->code);
}
END_TEST

static const char *const bad_errors[] = {
    "error=%3Cscript%3E&state=s",            /* '<' is fine RFC-wise... */
    "error=a%20b&state=s",
    "error=a%0Ab&state=s",
    "error=%22x&state=s",
    "error=%C3%A9&state=s",
    "error=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "&state=s",                               /* 65 characters */
};

START_TEST(callback_error_must_be_a_short_printable_token)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;
    apr_status_t rv;

    rv = cis2_oidc_parse_callback(&cb, bad_errors[_i], &err, g_pool);
    if (_i == 0) {
        /* '<' and '>' are in RFC 6749's error charset: accepted (the
         * glue never reflects it) */
        ck_assert_int_eq(rv, APR_SUCCESS);
        ck_assert_str_eq(cb->error, "<script>");
        return;
    }
    ck_assert_int_ne(rv, APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
}
END_TEST

static const char *const duplicates[] = {
    "code=a&code=b&state=s",
    "code=a&state=s&state=t",
    "code=a&state=s&state=s",
    "error=x&error=y&state=s",
    "code=a&state=s&iss=https%3A%2F%2Fa&iss=https%3A%2F%2Fb",
    "code=a&state=s&code=",
    "code=a&st%61te=s&state=t",
};

START_TEST(callback_duplicates)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, duplicates[_i], &err,
                                              g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DUPLICATE);
    ck_assert_ptr_null(cb);
}
END_TEST

START_TEST(callback_oversize)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;
    char *q = apr_palloc(g_pool, CIS2_MAX_QUERY + 2);

    memcpy(q, "state=s&code=", 13);
    memset(q + 13, 'c', CIS2_MAX_QUERY + 1 - 13);
    q[CIS2_MAX_QUERY + 1] = '\0';
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, q, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);

    /* exactly at the limit is fine */
    q[CIS2_MAX_QUERY] = '\0';
    ck_assert_int_eq(cis2_oidc_parse_callback(&cb, q, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_uint_eq(strlen(cb->code), CIS2_MAX_QUERY - 13);
}
END_TEST

START_TEST(callback_too_many_fields)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;
    const char *q = "code=a&state=s";
    int i;

    for (i = 0; i < CIS2_MAX_FORM_FIELDS; i++) {
        q = apr_psprintf(g_pool, "%s&x%d=1", q, i);
    }
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, q, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
}
END_TEST

START_TEST(callback_missing_pieces)
{
    cis2_callback_t *cb = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "code=a", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STATE);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "code=a&state=", &err,
                                              g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STATE);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STATE);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STATE);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "&&&", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STATE);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "state=s", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "state=s&code=", &err,
                                              g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "state=s&code=%zz", &err,
                                              g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_oidc_parse_callback(&cb, "state=s&code=a%00b",
                                              &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
}
END_TEST

/* ---- token request body ------------------------------------------------ */

START_TEST(token_body_secret_post)
{
    const char *b = cis2_oidc_token_body(g_pool, CIS2_AUTH_SECRET_POST,
                                         "c0de+/=", "https://rp/cb?x=1",
                                         "id 1", "s&e=c r%et", "ver", NULL);
    apr_table_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_str_eq(b, "grant_type=authorization_code&code=c0de%2B%2F%3D"
                     "&redirect_uri=https%3A%2F%2Frp%2Fcb%3Fx%3D1"
                     "&client_id=id%201&code_verifier=ver"
                     "&client_secret=s%26e%3Dc%20r%25et");
    ck_assert_int_eq(cis2_form_parse(&t, b, 10000, 20, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(t, "client_secret"), "s&e=c r%et");
    ck_assert_str_eq(apr_table_get(t, "code"), "c0de+/=");
}
END_TEST

START_TEST(token_body_secret_basic_has_no_secret)
{
    const char *b = cis2_oidc_token_body(g_pool, CIS2_AUTH_SECRET_BASIC,
                                         "code", "https://rp/cb", "id",
                                         "secret", "ver", NULL);

    ck_assert_str_eq(b, "grant_type=authorization_code&code=code"
                     "&redirect_uri=https%3A%2F%2Frp%2Fcb&client_id=id"
                     "&code_verifier=ver");
    ck_assert_ptr_null(strstr(b, "secret"));
}
END_TEST

START_TEST(token_body_private_key_jwt)
{
    const char *b = cis2_oidc_token_body(g_pool, CIS2_AUTH_PRIVATE_KEY_JWT,
                                         "code", "https://rp/cb", "id",
                                         "ignored", NULL, "h.p.s");

    ck_assert_str_eq(b, "grant_type=authorization_code&code=code"
                     "&redirect_uri=https%3A%2F%2Frp%2Fcb&client_id=id"
                     "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
                     "client-assertion-type%3Ajwt-bearer"
                     "&client_assertion=h.p.s");
    ck_assert_ptr_null(strstr(b, "ignored"));
    ck_assert_ptr_null(strstr(b, "code_verifier"));
}
END_TEST

/* ---- token response ---------------------------------------------------- */

static apr_status_t tokresp(cis2_token_response_t **pt, int status,
                            const char *body, const cis2_err_t **perr)
{
    return cis2_oidc_parse_token_response(pt, status, body, strlen(body),
                                          perr, g_pool);
}

START_TEST(token_response_good)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(tokresp(&t, 200, "{\"access_token\":\"at\",\"id_token\":"
                             "\"h.p.s\",\"token_type\":\"Bearer\","
                             "\"expires_in\":3599,\"scope\":\"openid "
                             "profile nationalrbacaccess\"}", &err),
                     APR_SUCCESS);
    ck_assert_str_eq(t->access_token, "at");
    ck_assert_str_eq(t->id_token, "h.p.s");
    ck_assert_str_eq(t->token_type, "Bearer");
    ck_assert_int_eq(t->expires_in, 3599);
    ck_assert_str_eq(t->scope, "openid profile nationalrbacaccess");
}
END_TEST

START_TEST(token_response_bearer_any_case_optional_members)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(tokresp(&t, 200, "{\"access_token\":\"at\",\"id_token\":"
                             "\"h.p.s\",\"token_type\":\"bEARER\"}", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(t->expires_in, -1);
    ck_assert_ptr_null(t->scope);
    ck_assert_int_eq(tokresp(&t, 200, "{\"access_token\":\"at\",\"id_token\":"
                             "\"h.p.s\",\"token_type\":\"bearer\","
                             "\"expires_in\":\"3600\"}", &err), APR_SUCCESS);
    ck_assert_int_eq(t->expires_in, -1);
}
END_TEST

START_TEST(token_response_invalid_grant)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(tokresp(&t, 400, "{\"error\":\"invalid_grant\","
                             "\"error_description\":\"The provided access "
                             "grant is invalid, expired, or revoked.\"}",
                             &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_OP_ERROR);
    ck_assert_str_eq(err->detail, "invalid_grant");
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(token_response_invalid_client_description_not_in_detail)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(tokresp(&t, 401, "{\"error\":\"invalid_client\","
                             "\"error_description\":\"JWT is not valid "
                             "<script>SECRET\"}", &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_OP_ERROR);
    ck_assert_str_eq(err->detail, "invalid_client");
    ck_assert_ptr_null(strstr(err->detail, "JWT"));
}
END_TEST

START_TEST(token_response_hostile_error_code_is_bounded)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;
    const char *long_code = apr_psprintf(g_pool, "{\"error\":\"%0200d\"}", 1);

    ck_assert_int_ne(tokresp(&t, 400, "{\"error\":\"bad\\r\\nX-Injected: 1\"}",
                             &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_OP_ERROR);
    ck_assert_int_eq(cis2_has_ctl(err->detail, strlen(err->detail)), 0);
    ck_assert_ptr_null(strstr(err->detail, "Injected"));
    ck_assert_int_ne(tokresp(&t, 400, long_code, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_OP_ERROR);
    ck_assert_uint_le(strlen(err->detail), 64);
    ck_assert_int_ne(tokresp(&t, 400, "{\"error\":42}", &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_OP_ERROR);
    /* an OAuth error even with status 200 */
    ck_assert_int_ne(tokresp(&t, 200, "{\"error\":\"server_error\"}", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_OP_ERROR);
    ck_assert_str_eq(err->detail, "server_error");
}
END_TEST

START_TEST(token_response_html)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(tokresp(&t, 200, "<html><body>Sign in</body></html>",
                             &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
    ck_assert_int_ne(tokresp(&t, 200, "", &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
    ck_assert_int_ne(tokresp(&t, 200, "[\"access_token\"]", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
    ck_assert_int_ne(tokresp(&t, 502, "<html>Bad gateway</html>", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
}
END_TEST

START_TEST(token_response_500_text)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(tokresp(&t, 500, "Internal Server Error", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
    ck_assert_ptr_nonnull(strstr(err->detail, "500"));
    /* JSON without error and a non-200 status */
    ck_assert_int_ne(tokresp(&t, 503, "{\"message\":\"busy\"}", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
    /* a good-looking body with a non-200 status is still refused */
    ck_assert_int_ne(tokresp(&t, 201, "{\"access_token\":\"at\",\"id_token\":"
                             "\"h.p.s\",\"token_type\":\"Bearer\"}", &err),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
}
END_TEST

static const char *const incomplete[] = {
    "{\"access_token\":\"at\",\"token_type\":\"Bearer\"}",
    "{\"access_token\":\"at\",\"id_token\":\"\",\"token_type\":\"Bearer\"}",
    "{\"access_token\":\"at\",\"id_token\":42,\"token_type\":\"Bearer\"}",
    "{\"id_token\":\"h.p.s\",\"token_type\":\"Bearer\"}",
    "{\"access_token\":\"at\",\"id_token\":\"h.p.s\"}",
    "{\"access_token\":\"at\",\"id_token\":\"h.p.s\",\"token_type\":\"mac\"}",
    "{\"access_token\":\"at\",\"id_token\":\"h.p.s\",\"token_type\":\"DPoP\"}",
    "{\"access_token\":\"at\",\"id_token\":\"h.p.s\",\"token_type\":"
    "\"Bearer \"}",
};

START_TEST(token_response_incomplete_or_not_bearer)
{
    cis2_token_response_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(tokresp(&t, 200, incomplete[_i], &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
    ck_assert_ptr_null(t);
}
END_TEST

/* ---- UserInfo ---------------------------------------------------------- */

START_TEST(userinfo_good)
{
    json_t *j = NULL;
    const cis2_err_t *err = NULL;
    const char *b = "{\"sub\":\"555012345678\",\"uid\":\"555012345678\","
                    "\"nhsid_nrbac_roles\":[]}";

    ck_assert_int_eq(cis2_oidc_check_userinfo(&j, 200, b, strlen(b),
                                              "555012345678", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "uid")),
                     "555012345678");
}
END_TEST

START_TEST(userinfo_sub_mismatch)
{
    json_t *j = NULL;
    const cis2_err_t *err = NULL;
    static const char *const subs[] = {
        "{\"sub\":\"555012345679\"}",
        "{\"sub\":\"555012345678 \"}",
        "{\"sub\":\"55501234567\"}",
    };
    int i;

    for (i = 0; i < 3; i++) {
        err = NULL;
        ck_assert_int_ne(cis2_oidc_check_userinfo(&j, 200, subs[i],
                                                  strlen(subs[i]),
                                                  "555012345678", &err,
                                                  g_pool), APR_SUCCESS);
        ck_assert_int_eq(err->code, CIS2_E_SUB_MISMATCH);
    }
    ck_assert_int_ne(cis2_oidc_check_userinfo(&j, 200, subs[0],
                                              strlen(subs[0]), NULL, &err,
                                              g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_SUB_MISMATCH);
    ck_assert_ptr_null(j);
}
END_TEST

START_TEST(userinfo_other_failures)
{
    json_t *j = NULL;
    const cis2_err_t *err = NULL;
    const char *b;

    b = "{\"sub\":\"1\"}";
    ck_assert_int_ne(cis2_oidc_check_userinfo(&j, 401, b, strlen(b), "1",
                                              &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP_STATUS);
    b = "<html>login</html>";
    ck_assert_int_ne(cis2_oidc_check_userinfo(&j, 200, b, strlen(b), "1",
                                              &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JSON);
    b = "{\"uid\":\"1\"}";
    ck_assert_int_ne(cis2_oidc_check_userinfo(&j, 200, b, strlen(b), "1",
                                              &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CLAIM_MISSING);
    b = "{\"sub\":1}";
    ck_assert_int_ne(cis2_oidc_check_userinfo(&j, 200, b, strlen(b), "1",
                                              &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CLAIM_MISSING);
    ck_assert_ptr_null(j);
}
END_TEST

/* ---- RP-initiated logout ---- */

START_TEST(end_session_url_parameters)
{
    const char *u = cis2_oidc_end_session_url(
        g_pool, "https://am.example:443/r/connect/endSession", "a.b.c",
        "123456789012.apps.national", "https://rp.example/bye?x=1&y=2");

    ck_assert_str_eq(u, "https://am.example:443/r/connect/endSession"
                     "?id_token_hint=a.b.c"
                     "&client_id=123456789012.apps.national"
                     "&post_logout_redirect_uri=https%3A%2F%2Frp.example"
                     "%2Fbye%3Fx%3D1%26y%3D2");
}
END_TEST

START_TEST(end_session_url_omits_unset_and_keeps_query)
{
    ck_assert_str_eq(cis2_oidc_end_session_url(g_pool, "https://op/end?a=b",
                                               "t", NULL, NULL),
                     "https://op/end?a=b&id_token_hint=t");
    ck_assert_str_eq(cis2_oidc_end_session_url(g_pool, "https://op/end",
                                               NULL, NULL, NULL),
                     "https://op/end");
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("oidc");
    TCase *pk = tcase_create("pkce");
    TCase *au = tcase_create("auth_url");
    TCase *cb = tcase_create("callback");
    TCase *tk = tcase_create("token");
    TCase *ui = tcase_create("userinfo");

    cis2_test_fixture(pk);
    cis2_test_fixture(au);
    cis2_test_fixture(cb);
    cis2_test_fixture(tk);
    cis2_test_fixture(ui);
    tcase_add_test(pk, pkce_rfc7636_appendix_b);
    tcase_add_test(pk, pkce_fresh_pair);
    tcase_add_test(au, auth_url_has_every_parameter_encoded);
    tcase_add_test(au, auth_url_omits_unset_parameters);
    tcase_add_test(au, auth_url_max_age_zero_is_sent);
    tcase_add_test(au, auth_url_appends_to_endpoint_query);
    tcase_add_test(au, auth_url_extra_parameters);
    tcase_add_test(au, auth_url_encodes_non_ascii_and_reserved);
    tcase_add_test(au, end_session_url_parameters);
    tcase_add_test(au, end_session_url_omits_unset_and_keeps_query);
    tcase_add_test(cb, callback_code_and_state);
    tcase_add_test(cb, callback_error);
    tcase_add_loop_test(cb, callback_error_must_be_a_short_printable_token,
                        0, (int)(sizeof(bad_errors) / sizeof(*bad_errors)));
    tcase_add_loop_test(cb, callback_duplicates, 0,
                        (int)(sizeof(duplicates) / sizeof(*duplicates)));
    tcase_add_test(cb, callback_oversize);
    tcase_add_test(cb, callback_too_many_fields);
    tcase_add_test(cb, callback_missing_pieces);
    tcase_add_test(tk, token_body_secret_post);
    tcase_add_test(tk, token_body_secret_basic_has_no_secret);
    tcase_add_test(tk, token_body_private_key_jwt);
    tcase_add_test(tk, token_response_good);
    tcase_add_test(tk, token_response_bearer_any_case_optional_members);
    tcase_add_test(tk, token_response_invalid_grant);
    tcase_add_test(tk, token_response_invalid_client_description_not_in_detail);
    tcase_add_test(tk, token_response_hostile_error_code_is_bounded);
    tcase_add_test(tk, token_response_html);
    tcase_add_test(tk, token_response_500_text);
    tcase_add_loop_test(tk, token_response_incomplete_or_not_bearer, 0,
                        (int)(sizeof(incomplete) / sizeof(*incomplete)));
    tcase_add_test(ui, userinfo_good);
    tcase_add_test(ui, userinfo_sub_mismatch);
    tcase_add_test(ui, userinfo_other_failures);
    suite_add_tcase(s, pk);
    suite_add_tcase(s, au);
    suite_add_tcase(s, cb);
    suite_add_tcase(s, tk);
    suite_add_tcase(s, ui);
    return s;
}
