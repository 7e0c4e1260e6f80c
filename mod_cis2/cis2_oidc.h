/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_oidc — the wire format of the Authorization Code Flow (OIDC Core §3.1,
 * RFC 6749 §4.1, RFC 7636): the authorization request URL, PKCE, the
 * callback's parameters, the token request body and the token and UserInfo
 * responses. Pure functions: no I/O (cis2_login does the calls).
 */
#ifndef CIS2_OIDC_H
#define CIS2_OIDC_H

#include <jansson.h>
#include "cis2.h"

/* ---- PKCE (RFC 7636) ---- */

/** A fresh code_verifier (43 base64url chars from 32 random bytes) and its
 *  S256 code_challenge. */
apr_status_t cis2_oidc_pkce(const char **pverifier, const char **pchallenge,
                            apr_pool_t *p);

/** S256 challenge of a verifier: BASE64URL(SHA256(ASCII(verifier))). */
const char *cis2_oidc_pkce_challenge(apr_pool_t *p, const char *verifier);

/* ---- authorization request ---- */

typedef struct cis2_auth_request_t {
    const char *authorization_endpoint; /* may already carry a query */
    const char *client_id;
    const char *redirect_uri;
    const char *scope;            /* space separated, must contain openid */
    const char *state;
    const char *nonce;
    const char *code_challenge;   /* S256 */
    const char *acr_values;       /* NULL = not sent */
    const char *prompt;           /* NULL = not sent ("login") */
    apr_int64_t max_age;          /* < 0 = not sent; seconds */
    const apr_table_t *extra;     /* more parameters, or NULL */
} cis2_auth_request_t;

/** The URL to redirect the browser to: response_type=code plus every set
 *  field, percent-encoded; '&' appended when the endpoint has a query. */
const char *cis2_oidc_auth_url(apr_pool_t *p, const cis2_auth_request_t *req);

/* ---- the callback (authorization response, RFC 6749 §4.1.2) ---- */

typedef struct cis2_callback_t {
    const char *code;
    const char *state;
    const char *error;             /* OAuth error code, if the OP sent one */
    const char *error_description; /* never logged or shown raw */
    const char *iss;               /* RFC 9207, when sent */
} cis2_callback_t;

/** Parse the callback query (at most CIS2_MAX_QUERY bytes). Each of code,
 *  state, error, iss given twice is CIS2_E_DUPLICATE; no state is
 *  CIS2_E_STATE; neither code nor error is CIS2_E_INVALID. An `error` is
 *  returned as success with cb->error set (and must be a short token of
 *  printable ASCII, else CIS2_E_INVALID). */
apr_status_t cis2_oidc_parse_callback(cis2_callback_t **pcb, const char *query,
                                      const cis2_err_t **perr, apr_pool_t *p);

/* ---- token request (RFC 6749 §4.1.3) ---- */

typedef enum cis2_client_auth {
    CIS2_AUTH_SECRET_POST = 0,   /* client_secret_post: CIS2's secret method */
    CIS2_AUTH_SECRET_BASIC,      /* client_secret_basic */
    CIS2_AUTH_PRIVATE_KEY_JWT    /* private_key_jwt (client_assertion) */
} cis2_client_auth;

/** The urlencoded form body: grant_type, code, redirect_uri, client_id,
 *  code_verifier, plus client_secret (secret_post) or client_assertion_type
 *  and client_assertion (private_key_jwt; `assertion` non-NULL). For
 *  secret_basic the secret is not in the body (the caller sends Basic). */
const char *cis2_oidc_token_body(apr_pool_t *p, cis2_client_auth method,
                                 const char *code, const char *redirect_uri,
                                 const char *client_id,
                                 const char *client_secret,
                                 const char *code_verifier,
                                 const char *assertion);

typedef struct cis2_token_response_t {
    const char *access_token;
    const char *id_token;
    const char *token_type;     /* "Bearer" (checked case-insensitively) */
    apr_int64_t expires_in;     /* -1 when absent */
    const char *scope;          /* may be NULL */
} cis2_token_response_t;

/** Judge a token endpoint response. 200 + JSON object with string
 *  access_token, id_token and token_type Bearer is success. A JSON OAuth
 *  error (any 4xx/5xx with {"error": ...}) is CIS2_E_OP_ERROR with detail
 *  = the error code only (bounded, printable); other non-200 is
 *  CIS2_E_HTTP_STATUS; garbage is CIS2_E_JSON. */
apr_status_t cis2_oidc_parse_token_response(cis2_token_response_t **ptok,
                                            int status, const char *body,
                                            apr_size_t len,
                                            const cis2_err_t **perr,
                                            apr_pool_t *p);

/* ---- UserInfo (OIDC Core §5.3) ---- */

/** Judge a JSON UserInfo response: 200, JSON object, string `sub` equal to
 *  expected_sub (CIS2_E_SUB_MISMATCH otherwise; OIDC Core §5.3.2).
 *  The object is owned by p. (Signed UserInfo, application/jwt, is verified
 *  by cis2_login, then passed here as the decoded payload.) */
apr_status_t cis2_oidc_check_userinfo(json_t **pclaims, int status,
                                      const char *body, apr_size_t len,
                                      const char *expected_sub,
                                      const cis2_err_t **perr,
                                      apr_pool_t *p);

/* ---- RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2) ---- */

/** The end_session_endpoint URL with id_token_hint, client_id and
 *  post_logout_redirect_uri (each NULL = not sent), appended to the
 *  endpoint's own query if it has one. */
const char *cis2_oidc_end_session_url(apr_pool_t *p, const char *endpoint,
                                      const char *id_token_hint,
                                      const char *client_id,
                                      const char *post_logout_redirect_uri);

#endif /* CIS2_OIDC_H */
