/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_login — a whole sign-in through the core, against a loopback OP
 * (loopsrv) serving discovery, JWKS, a token endpoint whose ID token is
 * minted by jwtmint with the fixture keys, and UserInfo. Checks what we
 * send (PKCE verifier, client authentication) and every refusal the
 * callback can meet after the code exchange.
 */
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "loopsrv.h"
#include "jwtmint.h"
#include "cis2_login.h"
#include "cis2_util.h"
#include "cis2_json.h"
#include "cis2_jwt.h"
#include <stdlib.h>

#define CLIENT "123456789012.apps.national"
#define SECRET "s3cr3t-for-tests"
#define KID1 "b/O6OvVv1+y+WgrH5Ui9WTioLt0="
#define KID2 "Qm9sbG92ZXIvS2V5Kz0yMDI2+w=="
#define SUB "555012345678"

static loopsrv_t *srv;
static cis2_login_conf_t conf;
static const char *issuer;
static apr_time_t now;

/* ---- the loopback OP --------------------------------------------------- */

static void serve_discovery(void)
{
    /* an issuer with an explicit port, kept byte for byte */
    issuer = apr_psprintf(g_pool, "http://127.0.0.1:%d/openam/oauth2/realms/"
                          "root/realms/NHSIdentity/realms/Healthcare",
                          loopsrv_port(srv));
    loopsrv_set_json(srv, "/disc", 200, apr_psprintf(g_pool,
        "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
        "\"token_endpoint\":\"%s\",\"userinfo_endpoint\":\"%s\","
        "\"jwks_uri\":\"%s\",\"response_types_supported\":[\"code\"],"
        "\"subject_types_supported\":[\"public\"],"
        "\"id_token_signing_alg_values_supported\":[\"RS256\",\"RS512\"]}",
        issuer, issuer, loopsrv_url(srv, "/access_token"),
        loopsrv_url(srv, "/userinfo"), loopsrv_url(srv, "/jwk_uri")));
    loopsrv_set_json(srv, "/jwk_uri", 200, cis2_test_slurp("jwks.json", NULL));
}

static const char *claims_json(const char *nonce, const char *extra)
{
    apr_int64_t t = apr_time_sec(now);

    return apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"aud\":\"" CLIENT "\","
        "\"azp\":\"" CLIENT "\",\"iat\":%" APR_INT64_T_FMT ",\"exp\":%"
        APR_INT64_T_FMT ",\"auth_time\":%" APR_INT64_T_FMT ","
        "\"nonce\":\"%s\",\"acr\":\"AAL3_ANY\",\"amr\":[\"N3_SMARTCARD\"],"
        "\"id_assurance_level\":\"3\",\"authentication_assurance_level\":"
        "\"3\",\"sid\":\"sid-1\"%s}",
        issuer, t, t + 3600, t - 5, nonce, extra ? extra : "");
}

static void serve_token(const char *id_token)
{
    loopsrv_set_json(srv, "/access_token", 200, apr_psprintf(g_pool,
        "{\"access_token\":\"at-123\",\"id_token\":\"%s\",\"token_type\":"
        "\"Bearer\",\"expires_in\":3599}", id_token));
}

static const char *mint(const char *kid, const char *key, const char *json)
{
    jwtmint_opts_t o;

    memset(&o, 0, sizeof(o));
    o.alg = "RS256";
    o.kid = kid;
    o.key_file = cis2_test_data(key);
    return jwtmint(g_pool, &o, json);
}

static void serve_userinfo(const char *sub, const char *extra)
{
    loopsrv_set_json(srv, "/userinfo", 200, apr_psprintf(g_pool,
        "{\"sub\":\"%s\",\"uid\":\"%s\",\"name\":\"SMITH Jane Mrs\","
        "\"given_name\":\"Jane\",\"family_name\":\"Smith\","
        "\"idassurancelevel\":\"3\",\"nhsid_user_orgs\":[{\"org_code\":"
        "\"RBA\",\"org_name\":\"EXAMPLE TRUST\"}],\"nhsid_nrbac_roles\":[{"
        "\"person_orgid\":\"1\",\"person_roleid\":\"555254240100\","
        "\"org_code\":\"RBA\",\"role_code\":\"S8000:G8000:R8001\","
        "\"role_name\":\"Nurse\",\"activity_codes\":[\"B0401\"]}]%s}",
        sub, sub, extra ? extra : ""));
}

static void setup(void)
{
    cis2_provider_conf_t pc;

    now = apr_time_now();
    srv = loopsrv_start(g_pool);
    ck_assert_ptr_nonnull(srv);
    serve_discovery();
    memset(&pc, 0, sizeof(pc));
    pc.metadata_url = loopsrv_url(srv, "/disc");
    pc.issuer = issuer;
    pc.jwks_min_refetch = 1;   /* no rate limit in these tests */
    ck_assert_int_eq(cis2_provider_create(&conf.provider, &pc, g_pool),
                     APR_SUCCESS);
    conf.client_id = CLIENT;
    conf.keep_id_token = 0;
    conf.client_secret = SECRET;
    conf.auth_method = CIS2_AUTH_SECRET_POST;
    conf.redirect_uri = "https://rp.example/cis2/callback";
    conf.scope = "openid profile nationalrbacaccess";
    conf.acr_values = "AAL3_ANY";
    conf.prompt = "login";
    conf.max_age = -1;
    conf.skew = apr_time_from_sec(60);
    conf.max_auth_age = apr_time_from_sec(300);
    conf.session_max = apr_time_from_sec(12 * 3600);
    conf.required_aal = 3;
    conf.required_ial = 3;
    conf.userinfo = 1;
    conf.claims.export_claims_json = 1;
}

/* Begin a sign-in; returns its pending record (the nonce is in it). */
static cis2_pending_t *begin(const char **purl)
{
    const char *state, *url;
    cis2_pending_t *pl;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_login_begin(&state, &pl, &url, &conf, "binding-1",
                                      "/app/?x=1", now, &err, g_pool),
                     APR_SUCCESS);
    if (purl) {
        *purl = url;
    }
    return pl;
}

static const char *env_get(const cis2_session_t *s, const char *name)
{
    const cis2_kv_t *kv = (const cis2_kv_t *)s->env->elts;
    int i;

    for (i = 0; i < s->env->nelts; i++) {
        if (strcmp(kv[i].name, name) == 0) {
            return kv[i].value;
        }
    }
    return NULL;
}

static int complete_code(const cis2_pending_t *pl, cis2_session_t **ps);

/* One good sign-in, so discovery and JWKS are cached and the next
 * request the OP sees is the token request. */
static void warm_up(void)
{
    cis2_pending_t *pl = begin(NULL);

    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    serve_userinfo(SUB, NULL);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONE);
    loopsrv_reset(srv);
}

static int complete_code(const cis2_pending_t *pl, cis2_session_t **ps)
{
    const cis2_err_t *err = NULL;
    cis2_session_t *s = NULL;

    if (cis2_login_complete(&s, &conf, pl, "code-abc", now, &err, g_pool)
        == APR_SUCCESS) {
        if (ps) {
            *ps = s;
        }
        return CIS2_E_NONE;
    }
    ck_assert_ptr_nonnull(err);
    return err->code;
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(begin_builds_the_authorization_request)
{
    const char *url;
    cis2_pending_t *pl = begin(&url);

    ck_assert_ptr_nonnull(strstr(url, "/authorize?response_type=code&"));
    ck_assert_ptr_nonnull(strstr(url, "client_id=123456789012.apps.national"));
    ck_assert_ptr_nonnull(strstr(url, "code_challenge_method=S256"));
    ck_assert_ptr_nonnull(strstr(url, "prompt=login"));
    ck_assert_ptr_nonnull(strstr(url, "acr_values=AAL3_ANY"));
    ck_assert_ptr_nonnull(strstr(url, apr_pstrcat(g_pool, "nonce=",
                                                  pl->nonce, NULL)));
    ck_assert_ptr_nonnull(strstr(url, apr_pstrcat(g_pool, "code_challenge=",
        cis2_oidc_pkce_challenge(g_pool, pl->code_verifier), NULL)));
    ck_assert_int_eq(strlen(pl->nonce), 43);
    ck_assert_str_eq(pl->return_url, "/app/?x=1");
    ck_assert_str_eq(pl->binding, "binding-1");
}
END_TEST

/* A browser without a binding cookie gets one drawn with the sign-in's
 * own values (one call to the generator): 43 characters, none of them
 * shared with the state, the nonce or the verifier, a new one each time;
 * a browser's own binding is kept as it is. */
START_TEST(begin_draws_a_binding_for_a_new_browser)
{
    const cis2_err_t *err = NULL;
    const char *state, *state2, *url;
    cis2_pending_t *pl, *pl2;

    ck_assert_int_eq(cis2_login_begin(&state, &pl, &url, &conf, NULL,
                                      "/app/", now, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(pl->binding);
    ck_assert_int_eq(strlen(pl->binding), 43);
    ck_assert_int_eq(strlen(state), 43);
    ck_assert_int_eq(strlen(pl->code_verifier), 43);
    ck_assert_str_ne(pl->binding, state);
    ck_assert_str_ne(pl->binding, pl->nonce);
    ck_assert_str_ne(pl->binding, pl->code_verifier);
    ck_assert_str_ne(state, pl->nonce);
    ck_assert_str_ne(pl->nonce, pl->code_verifier);
    ck_assert_int_eq(cis2_login_begin(&state2, &pl2, &url, &conf, NULL,
                                      "/app/", now, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_ne(pl2->binding, pl->binding);
    ck_assert_str_ne(state2, state);
    ck_assert_int_eq(cis2_login_begin(&state2, &pl2, &url, &conf, "kept",
                                      "/app/", now, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(pl2->binding, "kept");
}
END_TEST

START_TEST(good_login_with_secret_post)
{
    cis2_pending_t *pl = begin(NULL);
    cis2_session_t *s;

    conf.keep_id_token = 1;    /* CIS2RPInitiatedLogout on */
    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    serve_userinfo(SUB, NULL);
    ck_assert_int_eq(complete_code(pl, &s), CIS2_E_NONE);
    ck_assert_str_eq(s->sub, SUB);
    ck_assert_str_eq(s->remote_user, SUB);
    ck_assert_str_eq(s->sid, "sid-1");
    ck_assert_str_eq(s->client_id, CLIENT);
    ck_assert_int_eq(s->aal, 3);
    ck_assert_int_eq(s->ial, 3);
    ck_assert(s->expires == now + conf.session_max);
    ck_assert_str_eq(env_get(s, "CIS2_SESSION_EXPIRES"),
                     apr_psprintf(g_pool, "%" APR_INT64_T_FMT,
                                  (apr_int64_t)apr_time_sec(s->expires)));
    ck_assert_str_eq(env_get(s, "CIS2_NAME"), "SMITH Jane Mrs");
    ck_assert_str_eq(env_get(s, "CIS2_ROLES"), "555254240100");
    ck_assert_str_eq(env_get(s, "CIS2_ORGS"), "RBA");
    ck_assert_ptr_nonnull(s->id_token);
    ck_assert_int_eq(strncmp(s->id_token, "eyJ", 3), 0);

    ck_assert_int_eq(loopsrv_hits(srv, "/access_token"), 1);
    ck_assert_int_eq(loopsrv_hits(srv, "/userinfo"), 1);
}
END_TEST

START_TEST(token_request_carries_verifier_and_secret)
{
    cis2_pending_t *pl;
    const loopsrv_req_t *req;

    warm_up();
    pl = begin(NULL);
    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    /* no UserInfo: the last request seen is the token request */
    conf.userinfo = 0;
    {
        cis2_session_t *s;

        ck_assert_int_eq(complete_code(pl, &s), CIS2_E_NONE);
        /* CIS2RPInitiatedLogout off (the default): the ID token is not
         * kept, nothing would ever read it */
        ck_assert_ptr_null(s->id_token);
    }
    req = loopsrv_last(srv, g_pool);
    ck_assert_str_eq(req->method, "POST");
    ck_assert_str_eq(req->path, "/access_token");
    ck_assert_ptr_nonnull(strstr(req->body, "grant_type=authorization_code"));
    ck_assert_ptr_nonnull(strstr(req->body, "code=code-abc"));
    ck_assert_ptr_nonnull(strstr(req->body, apr_pstrcat(g_pool,
        "code_verifier=", pl->code_verifier, NULL)));
    ck_assert_ptr_nonnull(strstr(req->body, "client_secret=" SECRET));
    ck_assert_ptr_null(apr_table_get(req->headers, "Authorization"));
}
END_TEST

START_TEST(secret_basic_sends_credentials_in_the_header)
{
    cis2_pending_t *pl;
    const loopsrv_req_t *req;

    warm_up();
    pl = begin(NULL);
    conf.auth_method = CIS2_AUTH_SECRET_BASIC;
    conf.userinfo = 0;
    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONE);
    req = loopsrv_last(srv, g_pool);
    ck_assert_ptr_null(strstr(req->body, "client_secret"));
    ck_assert_ptr_nonnull(apr_table_get(req->headers, "Authorization"));
    ck_assert_ptr_nonnull(strstr(apr_table_get(req->headers, "Authorization"),
                                 "Basic "));
}
END_TEST

START_TEST(wrong_nonce_is_refused)
{
    cis2_pending_t *pl = begin(NULL);

    serve_token(mint(KID1, "key1.pem", claims_json("another-nonce", NULL)));
    serve_userinfo(SUB, NULL);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONCE);
    ck_assert_int_eq(loopsrv_hits(srv, "/userinfo"), 0);
}
END_TEST

START_TEST(stale_auth_time_is_refused)
{
    cis2_pending_t *pl = begin(NULL);
    apr_int64_t t = apr_time_sec(now);
    const char *json = apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"aud\":\"" CLIENT "\","
        "\"iat\":%" APR_INT64_T_FMT ",\"exp\":%" APR_INT64_T_FMT
        ",\"auth_time\":%" APR_INT64_T_FMT ",\"nonce\":\"%s\","
        "\"id_assurance_level\":3,\"authentication_assurance_level\":3}",
        issuer, t, t + 3600, t - 900, pl->nonce);

    serve_token(mint(KID1, "key1.pem", json));
    serve_userinfo(SUB, NULL);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_AUTH_TIME);
}
END_TEST

START_TEST(missing_auth_time_is_refused_when_freshness_is_required)
{
    cis2_pending_t *pl = begin(NULL);
    apr_int64_t t = apr_time_sec(now);
    const char *json = apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"aud\":\"" CLIENT "\","
        "\"iat\":%" APR_INT64_T_FMT ",\"exp\":%" APR_INT64_T_FMT
        ",\"nonce\":\"%s\"}", issuer, t, t + 3600, pl->nonce);

    serve_token(mint(KID1, "key1.pem", json));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_CLAIM_MISSING);
}
END_TEST

START_TEST(low_aal_and_low_ial_are_refused)
{
    cis2_pending_t *pl = begin(NULL);

    /* AAL2 as a string where AAL3 is required */
    serve_userinfo(SUB, NULL);
    serve_token(mint(KID1, "key1.pem", apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"aud\":\"" CLIENT "\","
        "\"iat\":%" APR_INT64_T_FMT ",\"exp\":%" APR_INT64_T_FMT
        ",\"auth_time\":%" APR_INT64_T_FMT ",\"nonce\":\"%s\","
        "\"authentication_assurance_level\":\"2\"}", issuer,
        apr_time_sec(now), apr_time_sec(now) + 3600, apr_time_sec(now),
        pl->nonce)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_AAL);

    /* IAL only in UserInfo, spelt idassurancelevel, as a string */
    pl = begin(NULL);
    serve_token(mint(KID1, "key1.pem", apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"aud\":\"" CLIENT "\","
        "\"iat\":%" APR_INT64_T_FMT ",\"exp\":%" APR_INT64_T_FMT
        ",\"auth_time\":%" APR_INT64_T_FMT ",\"nonce\":\"%s\","
        "\"authentication_assurance_level\":3}", issuer,
        apr_time_sec(now), apr_time_sec(now) + 3600, apr_time_sec(now),
        pl->nonce)));
    loopsrv_set_json(srv, "/userinfo", 200,
                     "{\"sub\":\"" SUB "\",\"idassurancelevel\":\"2\"}");
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_IAL);
}
END_TEST

START_TEST(userinfo_for_another_user_is_refused)
{
    cis2_pending_t *pl = begin(NULL);

    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    serve_userinfo("999999999999", NULL);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_SUB_MISMATCH);
}
END_TEST

START_TEST(token_endpoint_errors_are_op_errors)
{
    cis2_pending_t *pl = begin(NULL);

    loopsrv_set_json(srv, "/access_token", 400,
                     "{\"error\":\"invalid_grant\",\"error_description\":"
                     "\"The provided access grant is invalid, expired, or "
                     "revoked.\"}");
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_OP_ERROR);

    loopsrv_set(srv, "/access_token", &(loopsrv_route_t){
        .status = 200, .content_type = "text/html",
        .body = "<html>maintenance</html>" });
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_JSON);
}
END_TEST

START_TEST(token_signed_by_an_unpublished_key_is_refused)
{
    cis2_pending_t *pl = begin(NULL);

    /* key2's signature under key1's kid */
    serve_token(mint(KID1, "key2.pem", claims_json(pl->nonce, NULL)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_SIGNATURE);
}
END_TEST

START_TEST(rotated_key_is_found_by_refetching_the_jwks)
{
    cis2_pending_t *pl = begin(NULL);

    /* the first JWKS fetched lacks key2; CIS2 then publishes it */
    loopsrv_set_json(srv, "/jwk_uri", 200,
                     cis2_test_slurp("jwks-key1.json", NULL));
    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    serve_userinfo(SUB, NULL);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONE);
    ck_assert_int_eq(loopsrv_hits(srv, "/jwk_uri"), 1);

    loopsrv_set_json(srv, "/jwk_uri", 200, cis2_test_slurp("jwks.json", NULL));
    pl = begin(NULL);
    serve_token(mint(KID2, "key2.pem", claims_json(pl->nonce, NULL)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONE);
    ck_assert_int_eq(loopsrv_hits(srv, "/jwk_uri"), 2);
}
END_TEST

START_TEST(id_token_older_than_the_login_is_refused)
{
    cis2_pending_t *pl = begin(NULL);
    apr_int64_t t = apr_time_sec(now) - 3600;   /* minted an hour ago */

    serve_token(mint(KID1, "key1.pem", apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"aud\":\"" CLIENT "\","
        "\"iat\":%" APR_INT64_T_FMT ",\"exp\":%" APR_INT64_T_FMT
        ",\"auth_time\":%" APR_INT64_T_FMT ",\"nonce\":\"%s\","
        "\"id_assurance_level\":3,\"authentication_assurance_level\":3}",
        issuer, t, t + 7200, apr_time_sec(now), pl->nonce)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_EXPIRED);
}
END_TEST

START_TEST(op_down_is_a_transport_error)
{
    cis2_pending_t *pl = begin(NULL);

    loopsrv_stop(srv);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_HTTP);
}
END_TEST

/* ---- back-channel logout tokens ---------------------------------------- */

static const char *logout_json(const char *extra)
{
    apr_int64_t t = apr_time_sec(now);

    return apr_psprintf(g_pool,
        "{\"iss\":\"%s\",\"aud\":\"" CLIENT "\",\"sub\":\"" SUB "\","
        "\"sid\":\"sid-1\",\"iat\":%" APR_INT64_T_FMT ",\"exp\":%"
        APR_INT64_T_FMT ",\"jti\":\"j-1\",\"events\":{\"" CIS2_BCL_EVENT
        "\":{}}%s}", issuer, t, t + 120, extra ? extra : "");
}

static int verify_logout(const char *token, cis2_logout_claims_t **plc)
{
    const cis2_err_t *err = NULL;

    ck_assert_ptr_nonnull(token);
    if (cis2_login_verify_logout(plc, &conf, token, strlen(token), now,
                                 apr_time_from_sec(300), &err, g_pool)
        == APR_SUCCESS) {
        return CIS2_E_NONE;
    }
    ck_assert_ptr_nonnull(err);
    return err->code;
}

START_TEST(logout_token_verified_against_the_op)
{
    cis2_logout_claims_t *lc = NULL;

    ck_assert_int_eq(verify_logout(mint(KID1, "key1.pem", logout_json(NULL)),
                                   &lc), CIS2_E_NONE);
    ck_assert_str_eq(lc->sid, "sid-1");
    ck_assert_str_eq(lc->sub, SUB);
    ck_assert_str_eq(lc->jti, "j-1");
}
END_TEST

START_TEST(logout_token_refusals)
{
    cis2_logout_claims_t *lc = NULL;
    jwtmint_opts_t o;

    /* signed by a key the OP does not publish (right kid) */
    ck_assert_int_eq(verify_logout(mint(KID1, "key2.pem", logout_json(NULL)),
                                   &lc), CIS2_E_SIGNATURE);
    /* an ID token is not a logout token, even well signed: no event; and
     * with one added, its nonce gives it away */
    ck_assert_int_eq(verify_logout(mint(KID1, "key1.pem",
                                        claims_json("n", NULL)), &lc),
                     CIS2_E_CLAIM_MISSING);
    ck_assert_int_eq(verify_logout(mint(KID1, "key1.pem", claims_json("n",
        ",\"events\":{\"" CIS2_BCL_EVENT "\":{}}")), &lc), CIS2_E_NONCE);
    /* HS256 keyed with the client secret */
    memset(&o, 0, sizeof(o));
    o.alg = "HS256";
    o.kid = KID1;
    o.hmac_key = SECRET;
    o.hmac_key_len = strlen(SECRET);
    ck_assert_int_eq(verify_logout(jwtmint(g_pool, &o, logout_json(NULL)),
                                   &lc), CIS2_E_ALG);
    /* over 16 KB */
    ck_assert_int_eq(verify_logout(mint(KID1, "key1.pem", logout_json(
        apr_psprintf(g_pool, ",\"pad\":\"%0*d\"", 17000, 0))), &lc),
        CIS2_E_TOO_LARGE);
    ck_assert_ptr_null(lc);
}
END_TEST

START_TEST(private_key_jwt_sends_a_signed_assertion)
{
    cis2_pending_t *pl;
    const loopsrv_req_t *req;
    cis2_rp_key_t *key;
    cis2_jws_t *jws;
    const cis2_err_t *err = NULL;
    apr_table_t *form;
    const char *assertion;
    apr_int64_t iat, exp;

    ck_assert_int_eq(cis2_rp_key_load_file(&key, cis2_test_data("key2.pem"),
                                           NULL, &err, g_pool), APR_SUCCESS);
    warm_up();
    pl = begin(NULL);
    conf.auth_method = CIS2_AUTH_PRIVATE_KEY_JWT;
    conf.assertion_key = key;
    conf.assertion_alg = "RS512";
    conf.userinfo = 0;
    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce, NULL)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONE);
    req = loopsrv_last(srv, g_pool);
    ck_assert_ptr_null(strstr(req->body, "client_secret"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Authorization"));
    ck_assert_int_eq(cis2_form_parse(&form, req->body, 65536, 32, &err,
                                     g_pool), APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(form, "client_assertion_type"),
                     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    assertion = apr_table_get(form, "client_assertion");
    ck_assert_ptr_nonnull(assertion);
    ck_assert_int_eq(cis2_jws_parse(&jws, assertion, strlen(assertion), 0,
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(jws->alg, "RS512");
    ck_assert_str_eq(jws->kid, cis2_rp_key_kid(key));
    ck_assert_str_eq(cis2_json_str(jws->payload, "iss"), CLIENT);
    ck_assert_str_eq(cis2_json_str(jws->payload, "sub"), CLIENT);
    /* aud: the discovered token endpoint, byte for byte */
    ck_assert_str_eq(cis2_json_str(jws->payload, "aud"),
                     loopsrv_url(srv, "/access_token"));
    ck_assert(cis2_json_numeric_date(jws->payload, "iat", &iat));
    ck_assert(cis2_json_numeric_date(jws->payload, "exp", &exp));
    ck_assert_int_le(exp - iat, 300);
    ck_assert_int_le(labs((long)(iat - apr_time_sec(apr_time_now()))), 5);

    /* without a key that can sign, the exchange is not even attempted */
    conf.assertion_key = NULL;
    pl = begin(NULL);
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_CONFIG);
}
END_TEST

/* The standard claims with authentication_assurance_level "2". */
static const char *aal2_claims(const char *nonce)
{
    char *j = apr_pstrdup(g_pool, claims_json(nonce, NULL));
    char *at = strstr(j, "\"authentication_assurance_level\":\"3\"");

    ck_assert_ptr_nonnull(at);
    at[sizeof("\"authentication_assurance_level\":\"") - 1] = '2';
    return j;
}

START_TEST(step_up_requirement_is_checked_at_the_callback)
{
    cis2_pending_t *pl;
    cis2_login_opts_t o = { "AAL3_ANY", 3, CIS2_PENDING_STEP_UP };
    const char *state, *url;
    const cis2_err_t *err = NULL;

    /* an AAL2 site; the pending sign-in asked for AAL3 */
    conf.required_aal = 2;
    conf.acr_values = "AAL2_OR_AAL3_ANY";
    conf.userinfo = 0;
    ck_assert_int_eq(cis2_login_begin_opts(&state, &pl, &url, &conf, &o,
                                           "binding-1", "/", now, &err,
                                           g_pool), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(url, "acr_values=AAL3_ANY"));
    ck_assert_int_eq(pl->required_aal, 3);
    serve_token(mint(KID1, "key1.pem", aal2_claims(pl->nonce)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_AAL);
    /* the same AAL2 answer to an ordinary sign-in of the AAL2 site is fine */
    pl = begin(NULL);
    serve_token(mint(KID1, "key1.pem", aal2_claims(pl->nonce)));
    ck_assert_int_eq(complete_code(pl, NULL), CIS2_E_NONE);
}
END_TEST

START_TEST(session_carries_the_roles_for_authorization)
{
    cis2_session_t *s = NULL;
    cis2_pending_t *pl;
    const cis2_role_t *r;

    conf.scope = "openid profile nationalrbacaccess selectedrole";
    pl = begin(NULL);
    serve_token(mint(KID1, "key1.pem", claims_json(pl->nonce,
        ",\"selected_roleid\":\"555254240100\"")));
    serve_userinfo(SUB, NULL);
    ck_assert_int_eq(complete_code(pl, &s), CIS2_E_NONE);
    ck_assert_int_eq(s->roles->nelts, 1);
    ck_assert_int_eq(s->selected_role, 0);
    r = &APR_ARRAY_IDX(s->roles, 0, cis2_role_t);
    ck_assert_str_eq(r->code, "S8000:G8000:R8001");
    ck_assert_str_eq(APR_ARRAY_IDX(r->activities, 0, const char *), "B0401");
}
END_TEST

START_TEST(change_role_scope)
{
    ck_assert_str_eq(cis2_login_change_role_scope(g_pool,
                     "openid profile selectedrole nationalrbacaccess"),
                     "openid profile nationalrbacaccess changedrole");
    ck_assert_str_eq(cis2_login_change_role_scope(g_pool, "openid"),
                     "openid changedrole");
    ck_assert_str_eq(cis2_login_change_role_scope(g_pool,
                     "openid changedrole"), "openid changedrole");
    ck_assert_str_eq(cis2_login_acr_for_aal(3), "AAL3_ANY");
    ck_assert_str_eq(cis2_login_acr_for_aal(2), "AAL2_OR_AAL3_ANY");
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("login");
    TCase *tc = tcase_create("login");

    cis2_test_fixture(tc);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, change_role_scope);
    tcase_add_test(tc, private_key_jwt_sends_a_signed_assertion);
    tcase_add_test(tc, step_up_requirement_is_checked_at_the_callback);
    tcase_add_test(tc, session_carries_the_roles_for_authorization);
    tcase_add_test(tc, begin_builds_the_authorization_request);
    tcase_add_test(tc, begin_draws_a_binding_for_a_new_browser);
    tcase_add_test(tc, good_login_with_secret_post);
    tcase_add_test(tc, token_request_carries_verifier_and_secret);
    tcase_add_test(tc, secret_basic_sends_credentials_in_the_header);
    tcase_add_test(tc, wrong_nonce_is_refused);
    tcase_add_test(tc, stale_auth_time_is_refused);
    tcase_add_test(tc, missing_auth_time_is_refused_when_freshness_is_required);
    tcase_add_test(tc, low_aal_and_low_ial_are_refused);
    tcase_add_test(tc, userinfo_for_another_user_is_refused);
    tcase_add_test(tc, token_endpoint_errors_are_op_errors);
    tcase_add_test(tc, token_signed_by_an_unpublished_key_is_refused);
    tcase_add_test(tc, rotated_key_is_found_by_refetching_the_jwks);
    tcase_add_test(tc, id_token_older_than_the_login_is_refused);
    tcase_add_test(tc, op_down_is_a_transport_error);
    tcase_add_test(tc, logout_token_verified_against_the_op);
    tcase_add_test(tc, logout_token_refusals);
    suite_add_tcase(s, tc);
    return s;
}
