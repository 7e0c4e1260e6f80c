/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_oidc — the wire format of the Authorization Code Flow: PKCE (RFC
 * 7636), the authorization request URL (OIDC Core §3.1.2.1), the callback
 * (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 iss), the token request body (RFC
 * 6749 §4.1.3, RFC 7523 client assertions) and the judgement of the token
 * (RFC 6749 §5.1, §5.2) and UserInfo (OIDC Core §5.3) responses. No I/O:
 * cis2_login makes the calls through cis2_http and hands the bytes here.
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "cis2.h"
#include "cis2_oidc.h"
#include "cis2_json.h"
#include "cis2_util.h"

#define MAX_ERROR_CODE 64
#define CLIENT_ASSERTION_TYPE \
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* ---- PKCE -------------------------------------------------------------- */

const char *cis2_oidc_pkce_challenge(apr_pool_t *p, const char *verifier)
{
    unsigned char md[32];

    /* RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) */
    cis2_sha256(md, verifier, strlen(verifier));
    return cis2_b64url_encode(p, md, sizeof(md));
}

apr_status_t cis2_oidc_pkce(const char **pverifier, const char **pchallenge,
                            apr_pool_t *p)
{
    /* RFC 7636 §4.1: 32 random octets, base64url: 43 characters */
    const char *v = cis2_random_token(p, 32);

    if (v == NULL) {
        return APR_EGENERAL;
    }
    *pverifier = v;
    *pchallenge = cis2_oidc_pkce_challenge(p, v);
    return APR_SUCCESS;
}

/* ---- authorization request --------------------------------------------- */

/* parameters this file sets itself; an `extra` entry cannot repeat them */
static const char *const core_params[] = {
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "acr_values", "prompt",
    "max_age", NULL
};

static int is_core_param(const char *name)
{
    int i;

    for (i = 0; core_params[i] != NULL; i++) {
        if (strcmp(name, core_params[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static void add_param(apr_array_header_t *parts, apr_pool_t *p,
                      const char *name, const char *value)
{
    if (value == NULL) {
        return;
    }
    APR_ARRAY_PUSH(parts, const char *) =
        apr_pstrcat(p, cis2_url_encode(p, name), "=",
                    cis2_url_encode(p, value), NULL);
}

typedef struct extra_ctx {
    apr_array_header_t *parts;
    apr_pool_t *p;
} extra_ctx;

static int add_extra(void *baton, const char *key, const char *value)
{
    extra_ctx *x = baton;

    if (key != NULL && *key != '\0' && !is_core_param(key)) {
        add_param(x->parts, x->p, key, value ? value : "");
    }
    return 1;
}

/* RFC 6749 §3.1: an endpoint's own query is kept; ours is appended */
static const char *join_query(apr_pool_t *p, const char *ep,
                              const apr_array_header_t *parts)
{
    apr_size_t eplen = strlen(ep);
    const char *sep;

    if (parts->nelts == 0) {
        return ep;
    }
    if (strchr(ep, '?') == NULL) {
        sep = "?";
    }
    else if (eplen > 0 && (ep[eplen - 1] == '?' || ep[eplen - 1] == '&')) {
        sep = "";
    }
    else {
        sep = "&";
    }
    return apr_pstrcat(p, ep, sep, apr_array_pstrcat(p, parts, '&'), NULL);
}

const char *cis2_oidc_auth_url(apr_pool_t *p, const cis2_auth_request_t *req)
{
    apr_array_header_t *parts = apr_array_make(p, 16, sizeof(const char *));
    const char *ep = req->authorization_endpoint;

    add_param(parts, p, "response_type", "code");
    add_param(parts, p, "client_id", req->client_id);
    add_param(parts, p, "redirect_uri", req->redirect_uri);
    add_param(parts, p, "scope", req->scope);
    add_param(parts, p, "state", req->state);
    add_param(parts, p, "nonce", req->nonce);
    if (req->code_challenge != NULL) {
        add_param(parts, p, "code_challenge", req->code_challenge);
        add_param(parts, p, "code_challenge_method", "S256");
    }
    add_param(parts, p, "acr_values", req->acr_values);
    add_param(parts, p, "prompt", req->prompt);
    if (req->max_age >= 0) {
        add_param(parts, p, "max_age",
                  apr_psprintf(p, "%" APR_INT64_T_FMT, req->max_age));
    }
    if (req->extra != NULL) {
        extra_ctx x = { parts, p };

        apr_table_do(add_extra, &x, req->extra, NULL);
    }

    return join_query(p, ep, parts);
}

const char *cis2_oidc_end_session_url(apr_pool_t *p, const char *endpoint,
                                      const char *id_token_hint,
                                      const char *client_id,
                                      const char *post_logout_redirect_uri)
{
    apr_array_header_t *parts = apr_array_make(p, 4, sizeof(const char *));

    add_param(parts, p, "id_token_hint", id_token_hint);
    add_param(parts, p, "client_id", client_id);
    add_param(parts, p, "post_logout_redirect_uri", post_logout_redirect_uri);
    return join_query(p, endpoint, parts);
}

/* ---- callback ---------------------------------------------------------- */

/* RFC 6749 §4.1.2.1: error is %x20-21 / %x23-5B / %x5D-7E; we also refuse
 * space and keep it short, so it can be logged and compared safely. */
static int is_error_token(const char *s)
{
    apr_size_t n = 0;

    for (; *s; s++, n++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\'
            || n >= MAX_ERROR_CODE) {
            return 0;
        }
    }
    return n > 0;
}

static const char *nonempty(const char *s)
{
    return (s != NULL && *s != '\0') ? s : NULL;
}

apr_status_t cis2_oidc_parse_callback(cis2_callback_t **pcb, const char *query,
                                      const cis2_err_t **perr, apr_pool_t *p)
{
    static const char *const unique[] = { "code", "state", "error", "iss" };
    const char *vals[4];
    apr_table_t *t;
    cis2_callback_t *cb;
    apr_size_t len = query ? strlen(query) : 0;
    int i;

    if (len > CIS2_MAX_QUERY) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "callback query of %" APR_SIZE_T_FMT " bytes is "
                            "over the limit of %d", len, CIS2_MAX_QUERY);
    }
    if (cis2_form_parse(&t, query ? query : "", CIS2_MAX_QUERY,
                        CIS2_MAX_FORM_FIELDS, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    /* RFC 6749 §3.1: parameters must not be included more than once; a
     * repeated code or state is how parameter pollution gets in. */
    for (i = 0; i < 4; i++) {
        if (cis2_form_get_unique(&vals[i], t, unique[i], perr, p)
            != APR_SUCCESS) {
            return APR_EGENERAL;
        }
    }

    cb = apr_pcalloc(p, sizeof(*cb));
    cb->code = nonempty(vals[0]);
    cb->state = nonempty(vals[1]);
    cb->error = nonempty(vals[2]);
    cb->iss = nonempty(vals[3]);
    cb->error_description = apr_table_get(t, "error_description");

    if (cb->state == NULL) {
        return cis2_err_set(perr, p, CIS2_E_STATE, "callback without state");
    }
    if (cb->error != NULL) {
        if (!is_error_token(cb->error)) {
            return cis2_err_set(perr, p, CIS2_E_INVALID,
                                "callback error is not a short printable "
                                "token");
        }
        *pcb = cb;
        return APR_SUCCESS;
    }
    if (cb->code == NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "callback with neither code nor error");
    }
    *pcb = cb;
    return APR_SUCCESS;
}

/* ---- token request ----------------------------------------------------- */

const char *cis2_oidc_token_body(apr_pool_t *p, cis2_client_auth method,
                                 const char *code, const char *redirect_uri,
                                 const char *client_id,
                                 const char *client_secret,
                                 const char *code_verifier,
                                 const char *assertion)
{
    apr_array_header_t *parts = apr_array_make(p, 8, sizeof(const char *));

    add_param(parts, p, "grant_type", "authorization_code");
    add_param(parts, p, "code", code);
    add_param(parts, p, "redirect_uri", redirect_uri);
    add_param(parts, p, "client_id", client_id);
    add_param(parts, p, "code_verifier", code_verifier);
    switch (method) {
    case CIS2_AUTH_SECRET_POST:
        /* CIS2.md §4: the secret in the form body */
        add_param(parts, p, "client_secret", client_secret ? client_secret
                                                           : "");
        break;
    case CIS2_AUTH_PRIVATE_KEY_JWT:
        /* RFC 7523 §2.2, OIDC Core §9 */
        add_param(parts, p, "client_assertion_type", CLIENT_ASSERTION_TYPE);
        add_param(parts, p, "client_assertion", assertion);
        break;
    case CIS2_AUTH_SECRET_BASIC:
        /* the caller sends the secret in an Authorization header */
        break;
    }
    return apr_array_pstrcat(p, parts, '&');
}

/* ---- token response ---------------------------------------------------- */

/* An OAuth error code fit for a log line: printable, bounded; else a
 * placeholder (the value came from the network). */
static const char *safe_error_code(apr_pool_t *p, const char *e)
{
    return is_error_token(e) ? apr_pstrdup(p, e) : "(malformed error code)";
}

apr_status_t cis2_oidc_parse_token_response(cis2_token_response_t **ptok,
                                            int status, const char *body,
                                            apr_size_t len,
                                            const cis2_err_t **perr,
                                            apr_pool_t *p)
{
    const cis2_err_t *jerr = NULL;
    cis2_token_response_t *tok;
    json_t *j = NULL, *v;
    const char *err;
    apr_status_t jrv;

    jrv = cis2_json_parse_object(&j, body, len, CIS2_MAX_HTTP_BODY, &jerr, p);

    /* RFC 6749 §5.2: an error is a JSON object with a string `error`
     * (normally 400/401; some servers use other codes, even 200). Only
     * the code goes in the detail: error_description is OP-controlled
     * prose and never logged. */
    if (jrv == APR_SUCCESS && json_object_get(j, "error") != NULL) {
        err = cis2_json_str(j, "error");
        return cis2_err_set(perr, p, CIS2_E_OP_ERROR, "%s",
                            err ? safe_error_code(p, err)
                                : "(malformed error code)");
    }
    if (status != 200) {
        return cis2_err_set(perr, p, CIS2_E_HTTP_STATUS,
                            "token endpoint answered HTTP %d", status);
    }
    if (jrv != APR_SUCCESS) {
        return cis2_err_set(perr, p, jerr ? jerr->code : CIS2_E_JSON,
                            "token response: %s",
                            jerr ? jerr->detail : "not JSON");
    }

    tok = apr_pcalloc(p, sizeof(*tok));
    tok->access_token = nonempty(cis2_json_str(j, "access_token"));
    tok->id_token = nonempty(cis2_json_str(j, "id_token"));
    tok->token_type = cis2_json_str(j, "token_type");
    tok->scope = cis2_json_str(j, "scope");
    tok->expires_in = -1;
    if (tok->access_token == NULL) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "token response without access_token");
    }
    if (tok->id_token == NULL) {
        /* OIDC Core §3.1.3.3: an id_token is required in this flow */
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "token response without id_token");
    }
    /* OIDC Core §3.1.3.3: token_type Bearer, case insensitive (RFC 6749
     * §5.1 names it so, and some OPs answer "bearer"). */
    if (tok->token_type == NULL) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "token response without token_type");
    }
    if (strcasecmp(tok->token_type, "Bearer") != 0) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "token_type is not Bearer");
    }
    v = json_object_get(j, "expires_in");
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        tok->expires_in = (apr_int64_t)json_integer_value(v);
    }
    *ptok = tok;
    return APR_SUCCESS;
}

/* ---- UserInfo ---------------------------------------------------------- */

apr_status_t cis2_oidc_check_userinfo(json_t **pclaims, int status,
                                      const char *body, apr_size_t len,
                                      const char *expected_sub,
                                      const cis2_err_t **perr,
                                      apr_pool_t *p)
{
    json_t *j, *sub;

    if (status != 200) {
        return cis2_err_set(perr, p, CIS2_E_HTTP_STATUS,
                            "UserInfo endpoint answered HTTP %d", status);
    }
    if (cis2_json_parse_object(&j, body, len, CIS2_MAX_HTTP_BODY, perr, p)
        != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    sub = json_object_get(j, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING,
                            "UserInfo response without sub");
    }
    /* OIDC Core §5.3.2: the sub must exactly match the ID token's, else
     * the response must not be used (token substitution). */
    if (expected_sub == NULL
        || json_string_length(sub) != strlen(expected_sub)
        || memcmp(json_string_value(sub), expected_sub,
                  json_string_length(sub)) != 0) {
        return cis2_err_set(perr, p, CIS2_E_SUB_MISMATCH,
                            "UserInfo sub differs from the ID token sub");
    }
    *pclaims = j;
    return APR_SUCCESS;
}
