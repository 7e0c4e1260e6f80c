/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_login — see cis2_login.h. The order of checks follows OIDC Core
 * §3.1.3.5-§3.1.3.7 and §5.3.2; the CIS2 additions (auth_time freshness,
 * assurance levels) follow CIS2.md §8 and §10 (NHS CIA Ses Req 003,
 * ACR Req 001, SC Req 002).
 */
#include <string.h>
#include <apr_strings.h>

#include "cis2_login.h"
#include "cis2_util.h"
#include "cis2_json.h"
#include "cis2_jwt.h"
#include "cis2_log.h"

apr_status_t cis2_login_begin(const char **pstate, cis2_pending_t **ppl,
                              const char **pauth_url,
                              const cis2_login_conf_t *c, const char *binding,
                              const char *return_url, apr_time_t now,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    return cis2_login_begin_opts(pstate, ppl, pauth_url, c, NULL, binding,
                                 return_url, now, perr, p);
}

const char *cis2_login_change_role_scope(apr_pool_t *p, const char *scope)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(const char *));
    char *copy = apr_pstrdup(p, scope ? scope : "openid"), *last, *tok;
    int have = 0;

    /* CIS2.md §7: a role change is a new sign-in with prompt=login and a
     * role scope; `changedrole` (as NHS RPs send it) instead of
     * `selectedrole`, so HSCN Identity Agent users get the picker too */
    for (tok = apr_strtok(copy, " ", &last); tok != NULL;
         tok = apr_strtok(NULL, " ", &last)) {
        if (strcmp(tok, "selectedrole") == 0) {
            continue;
        }
        have |= strcmp(tok, "changedrole") == 0;
        APR_ARRAY_PUSH(out, const char *) = tok;
    }
    if (!have) {
        APR_ARRAY_PUSH(out, const char *) = "changedrole";
    }
    return apr_array_pstrcat(p, out, ' ');
}

const char *cis2_login_acr_for_aal(int aal)
{
    /* CIS2.md §8: AAL3_ANY admits only AAL3 authenticators */
    return aal >= 3 ? "AAL3_ANY" : "AAL2_OR_AAL3_ANY";
}

apr_status_t cis2_login_begin_opts(const char **pstate, cis2_pending_t **ppl,
                                   const char **pauth_url,
                                   const cis2_login_conf_t *c,
                                   const cis2_login_opts_t *o,
                                   const char *binding,
                                   const char *return_url, apr_time_t now,
                                   const cis2_err_t **perr, apr_pool_t *p)
{
    const cis2_provider_meta_t *meta;
    cis2_auth_request_t req;
    cis2_pending_t *pl;
    const char *state, *challenge, *fresh[4];

    if (cis2_provider_meta(&meta, c->provider, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    pl = apr_pcalloc(p, sizeof(*pl));
    /* state, nonce, PKCE verifier (RFC 7636 §4.1: 32 octets, 43
     * characters) and, for a new browser, its binding: one draw */
    if (cis2_random_tokens(fresh, binding == NULL ? 4 : 3, CIS2_RANDOM_BYTES,
                           p) != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO,
                            "random generator failed");
    }
    state = fresh[0];
    pl->nonce = fresh[1];
    pl->code_verifier = fresh[2];
    challenge = cis2_oidc_pkce_challenge(p, pl->code_verifier);
    pl->client_id = c->client_id;
    pl->binding = binding != NULL ? binding : fresh[3];
    pl->return_url = return_url;
    pl->acr_values = o && o->acr_values ? o->acr_values : c->acr_values;
    pl->created = now;
    pl->required_aal = o ? o->required_aal : -1;
    pl->flags = o ? o->flags : 0;

    memset(&req, 0, sizeof(req));
    req.authorization_endpoint = meta->authorization_endpoint;
    req.client_id = c->client_id;
    req.redirect_uri = c->redirect_uri;
    req.scope = c->scope;
    req.state = state;
    req.nonce = pl->nonce;
    req.code_challenge = challenge;
    req.acr_values = pl->acr_values;
    req.prompt = c->prompt;
    req.max_age = c->max_age;
    if (pl->flags & CIS2_PENDING_CHANGE_ROLE) {
        req.scope = cis2_login_change_role_scope(p, c->scope);
        req.prompt = "login";
    }

    *pstate = state;
    *ppl = pl;
    *pauth_url = cis2_oidc_auth_url(p, &req);
    return APR_SUCCESS;
}

/* Exchange the code at the token endpoint (RFC 6749 §4.1.3). */
static apr_status_t exchange_code(cis2_token_response_t **ptok,
                                  const cis2_login_conf_t *c,
                                  const cis2_provider_meta_t *meta,
                                  const cis2_pending_t *pl, const char *code,
                                  const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_http_response_t *resp;
    const char *body, *assertion = NULL;
    int basic = c->auth_method == CIS2_AUTH_SECRET_BASIC;

    if (c->auth_method == CIS2_AUTH_PRIVATE_KEY_JWT
        && cis2_assertion_sign(&assertion, c->assertion_key,
                               c->assertion_alg, c->client_id,
                               meta->token_endpoint, apr_time_now(),
                               apr_time_from_sec(300), perr, p)
           != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    body = cis2_oidc_token_body(p, c->auth_method, code, c->redirect_uri,
                                c->client_id, c->client_secret,
                                pl->code_verifier, assertion);
    if (cis2_http_post_form(&resp, &c->http, meta->token_endpoint, body,
                            basic ? c->client_id : NULL,
                            basic ? c->client_secret : NULL,
                            perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    return cis2_oidc_parse_token_response(ptok, resp->status, resp->body,
                                          resp->body_len, perr, p);
}

/* Re-authentication freshness (NHS CIA Ses Req 003): a user who strips
 * prompt/max_age from the redirect gains nothing, because the signed
 * auth_time must be recent whatever was asked for. */
static apr_status_t check_auth_time(const json_t *claims,
                                    const cis2_login_conf_t *c,
                                    apr_time_t now,
                                    const cis2_err_t **perr, apr_pool_t *p)
{
    apr_int64_t auth_time;

    if (c->max_auth_age > 0) {
        if (!cis2_json_numeric_date(claims, "auth_time", &auth_time)) {
            return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING,
                                "ID token has no valid auth_time");
        }
        if (apr_time_from_sec(auth_time) + c->max_auth_age + c->skew < now) {
            return cis2_err_set(perr, p, CIS2_E_AUTH_TIME,
                                "user authenticated %" APR_INT64_T_FMT
                                " s ago, longer than the allowed %"
                                APR_INT64_T_FMT " s",
                                (apr_int64_t)apr_time_sec(now) - auth_time,
                                (apr_int64_t)apr_time_sec(c->max_auth_age));
        }
        if (apr_time_from_sec(auth_time) > now + c->skew) {
            return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                                "auth_time is in the future");
        }
    }
    return APR_SUCCESS;
}

/* Assurance levels (ACR Req 001, SC Req 002), read from the merged claims:
 * strings or integers, and both spellings of the identity level. */
static apr_status_t check_assurance(const json_t *claims,
                                    const cis2_login_conf_t *c,
                                    const cis2_pending_t *pl,
                                    const cis2_err_t **perr, apr_pool_t *p)
{
    int aal, ial, need = c->required_aal;

    /* a step-up sign-in must also reach what the location asked for */
    if (pl->required_aal > need) {
        need = pl->required_aal;
    }
    cis2_claims_assurance(claims, &aal, &ial);
    if (need >= 0 && aal < need) {
        return cis2_err_set(perr, p, CIS2_E_AAL,
                            "authentication assurance level %d is below "
                            "the required %d", aal, need);
    }
    if (c->required_ial >= 0 && ial < c->required_ial) {
        return cis2_err_set(perr, p, CIS2_E_IAL,
                            "identity assurance level %d is below "
                            "the required %d", ial, c->required_ial);
    }
    return APR_SUCCESS;
}

static apr_status_t fetch_userinfo(json_t **pui, const cis2_login_conf_t *c,
                                   const cis2_provider_meta_t *meta,
                                   const cis2_token_response_t *tok,
                                   const char *sub,
                                   const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_http_response_t *resp;

    *pui = NULL;
    if (!c->userinfo || meta->userinfo_endpoint == NULL) {
        return APR_SUCCESS;
    }
    if (cis2_http_get(&resp, &c->http, meta->userinfo_endpoint,
                      tok->access_token, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (resp->status == 200 && strcmp(resp->content_type, "application/jwt")
        == 0) {
        /* Signed UserInfo (CIS2.md §6): verify like an ID token before
         * trusting a single claim; CIS2 currently omits aud, so only the
         * signature, iss and sub bind it. */
        cis2_jws_t *jws;
        const char *iss;

        if (cis2_jws_parse(&jws, resp->body, resp->body_len, 0, perr, p)
                != APR_SUCCESS
            || cis2_provider_verify(c->provider, jws, c->id_token_algs, perr,
                                    p) != APR_SUCCESS) {
            return APR_EGENERAL;
        }
        iss = cis2_json_str(jws->payload, "iss");
        if (iss != NULL && strcmp(iss, meta->issuer) != 0) {
            return cis2_err_set(perr, p, CIS2_E_ISS,
                                "signed UserInfo iss does not match the "
                                "issuer");
        }
        if (!cis2_ct_streq(cis2_json_str(jws->payload, "sub"), sub)) {
            return cis2_err_set(perr, p, CIS2_E_SUB_MISMATCH,
                                "UserInfo sub differs from the ID token sub");
        }
        *pui = jws->payload;
        return APR_SUCCESS;
    }
    return cis2_oidc_check_userinfo(pui, resp->status, resp->body,
                                    resp->body_len, sub, perr, p);
}

apr_status_t cis2_login_session(cis2_session_t **psess,
                                const cis2_login_conf_t *c,
                                const json_t *id_claims,
                                const json_t *claims,
                                const char *id_token, apr_time_t now,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_session_t *s;
    apr_int64_t auth_time;

    s = apr_pcalloc(p, sizeof(*s));
    if (cis2_claims_render(&s->env, &s->remote_user, claims, &c->claims,
                           perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    s->client_id = c->client_id;
    s->sub = cis2_json_str(id_claims, "sub");
    s->sid = cis2_json_str(id_claims, "sid");
    s->created = now;
    s->expires = now + c->session_max;
    /* the app may show when the session ends at the latest (the idle
     * deadline moves with use and is not exported) */
    {
        cis2_kv_t *kv = apr_array_push(s->env);

        kv->name = "CIS2_SESSION_EXPIRES";
        kv->value = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                 (apr_int64_t)apr_time_sec(s->expires));
    }
    s->auth_time = cis2_json_numeric_date(id_claims, "auth_time",
                                          &auth_time)
                   ? apr_time_from_sec(auth_time) : 0;
    cis2_claims_assurance(claims, &s->aal, &s->ial);
    s->acr = cis2_json_str(id_claims, "acr");
    /* kept only where logout will send it as id_token_hint: ~1.5 KB
     * of every session otherwise (docs/performance.md) */
    s->id_token = c->keep_id_token ? id_token : NULL;
    cis2_claims_authz(&s->roles, &s->selected_role, &s->claims, claims, p);
    *psess = s;
    return APR_SUCCESS;
}

apr_status_t cis2_login_complete(cis2_session_t **psess,
                                 const cis2_login_conf_t *c,
                                 const cis2_pending_t *pl, const char *code,
                                 apr_time_t now, const cis2_err_t **perr,
                                 apr_pool_t *p)
{
    const cis2_provider_meta_t *meta;
    cis2_token_response_t *tok;
    cis2_id_token_expect_t ex;
    cis2_jws_t *jws;
    json_t *userinfo, *claims;
    const char *sub;

    if (cis2_provider_meta(&meta, c->provider, perr, p) != APR_SUCCESS
        || exchange_code(&tok, c, meta, pl, code, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }

    /* ID token: signature first (by kid, allow-listed alg), then claims */
    if (cis2_jws_parse(&jws, tok->id_token, strlen(tok->id_token), 0, perr, p)
            != APR_SUCCESS
        || cis2_provider_verify(c->provider, jws, c->id_token_algs, perr, p)
            != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    memset(&ex, 0, sizeof(ex));
    ex.issuer = meta->issuer;
    ex.client_id = c->client_id;
    ex.nonce = pl->nonce;
    ex.now = now;
    ex.skew = c->skew;
    /* the token was just minted for this exchange: an iat older than the
     * pending login itself cannot belong to it */
    ex.max_iat_age = now > pl->created ? now - pl->created : 1; /* 0: off */
    if (cis2_jwt_check_id_token(jws->payload, &ex, perr, p) != APR_SUCCESS
        || check_auth_time(jws->payload, c, now, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    sub = cis2_json_str(jws->payload, "sub");

    if (fetch_userinfo(&userinfo, c, meta, tok, sub, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    claims = cis2_claims_merge(p, jws->payload, userinfo);
    if (check_assurance(claims, c, pl, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }

    return cis2_login_session(psess, c, jws->payload, claims, tok->id_token,
                              now, perr, p);
}

/* ---- back-channel logout ------------------------------------------------- */

#define LOGOUT_TOKEN_MAX (16 * 1024)

apr_status_t cis2_login_verify_logout(cis2_logout_claims_t **plc,
                                      const cis2_login_conf_t *c,
                                      const char *token, apr_size_t len,
                                      apr_time_t now,
                                      apr_interval_time_t max_age,
                                      const cis2_err_t **perr,
                                      apr_pool_t *p)
{
    const cis2_provider_meta_t *meta;
    cis2_logout_expect_t ex;
    cis2_jws_t *jws;

    /* signature first: nothing in an unverified token is looked at */
    if (cis2_jws_parse(&jws, token, len, LOGOUT_TOKEN_MAX, perr, p)
            != APR_SUCCESS
        || cis2_provider_meta(&meta, c->provider, perr, p) != APR_SUCCESS
        || cis2_provider_verify(c->provider, jws, c->id_token_algs, perr, p)
            != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    memset(&ex, 0, sizeof(ex));
    ex.issuer = meta->issuer;
    ex.client_id = c->client_id;
    ex.now = now;
    ex.skew = c->skew;
    ex.max_age = max_age;
    return cis2_jwt_check_logout_token(plc, jws->payload, &ex, perr, p);
}
