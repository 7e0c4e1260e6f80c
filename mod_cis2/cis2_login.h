/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_login — the two halves of a sign-in, as pure core logic that the glue
 * calls: starting one (a pending-login record and the authorization URL)
 * and completing one from the callback (code exchange, ID token
 * verification, assurance and freshness checks, UserInfo, claims rendering,
 * the new session record). Every refusal comes back as a cis2_err_t the
 * glue maps to a page, a status and one numbered log line.
 */
#ifndef CIS2_LOGIN_H
#define CIS2_LOGIN_H

#include "cis2.h"
#include "cis2_provider.h"
#include "cis2_oidc.h"
#include "cis2_session.h"
#include "cis2_claims.h"
#include "cis2_assertion.h"

typedef struct cis2_login_conf_t {
    cis2_provider_t *provider;
    const char *client_id;
    const char *client_secret;           /* secret methods */
    cis2_client_auth auth_method;
    const cis2_rp_key_t *assertion_key;  /* private_key_jwt: signing key */
    const char *assertion_alg;           /* private_key_jwt: RS256|RS512 */
    const char *redirect_uri;
    const char *scope;
    const char *acr_values;              /* NULL = not sent */
    const char *prompt;                  /* NULL = not sent */
    apr_int64_t max_age;                 /* < 0 = not sent */
    const apr_array_header_t *id_token_algs; /* NULL = RS256, RS512 */
    apr_interval_time_t skew;
    apr_interval_time_t max_auth_age;    /* auth_time freshness; 0 = off */
    apr_interval_time_t session_max;     /* absolute session length */
    int required_aal;                    /* -1 = none */
    int required_ial;                    /* -1 = none */
    int userinfo;                        /* fetch UserInfo (default 1) */
    int keep_id_token;                   /* store the ID token in the
                                            session (id_token_hint for
                                            CIS2RPInitiatedLogout) */
    cis2_claims_opts_t claims;
    cis2_http_opts_t http;
} cis2_login_conf_t;

/** Begin a sign-in: fresh state, nonce and PKCE verifier; the pending
 *  record (to store under *pstate) and the authorization URL. `binding` is
 *  the browser's login-binding cookie value, or NULL for a browser without
 *  one: a fresh one is drawn then, in (*ppl)->binding, for the caller's
 *  cookie. `return_url` must already be validated. Fails only if the
 *  provider metadata is unavailable (fetch errors) or randomness fails. */
apr_status_t cis2_login_begin(const char **pstate, cis2_pending_t **ppl,
                              const char **pauth_url,
                              const cis2_login_conf_t *c, const char *binding,
                              const char *return_url, apr_time_t now,
                              const cis2_err_t **perr, apr_pool_t *p);

/** What a sign-in asks beyond the configuration (step-up, change role). */
typedef struct cis2_login_opts_t {
    const char *acr_values;    /* replaces the configured acr_values */
    int required_aal;          /* the callback also requires this (-1 none) */
    int flags;                 /* CIS2_PENDING_*; CHANGE_ROLE forces
                                  prompt=login and the changedrole scope */
} cis2_login_opts_t;

/** cis2_login_begin with options (o may be NULL). */
apr_status_t cis2_login_begin_opts(const char **pstate, cis2_pending_t **ppl,
                                   const char **pauth_url,
                                   const cis2_login_conf_t *c,
                                   const cis2_login_opts_t *o,
                                   const char *binding,
                                   const char *return_url, apr_time_t now,
                                   const cis2_err_t **perr, apr_pool_t *p);

/** The scope of a change-role sign-in: the configured scope with
 *  `selectedrole` replaced by `changedrole` (added when absent). */
const char *cis2_login_change_role_scope(apr_pool_t *p, const char *scope);

/** The acr_values to ask for when a sign-in must reach `aal`. */
const char *cis2_login_acr_for_aal(int aal);

/** The session of a verified sign-in, as cis2_login_complete builds it:
 *  id_claims are the ID token's (verified) claims, claims the merged ID
 *  token + UserInfo claims (cis2_claims_merge), id_token the token's text
 *  (kept in the session only when c->keep_id_token). */
apr_status_t cis2_login_session(cis2_session_t **psess,
                                const cis2_login_conf_t *c,
                                const json_t *id_claims,
                                const json_t *claims,
                                const char *id_token, apr_time_t now,
                                const cis2_err_t **perr, apr_pool_t *p);

/** Complete a sign-in for a pending record already taken from the store
 *  and checked against the browser binding: exchange `code`, verify the ID
 *  token (signature by kid, iss, aud/azp, exp/iat with skew, nonce),
 *  check auth_time and assurance, fetch UserInfo (same sub) and build the
 *  session (without an id: the caller makes a new one). */
apr_status_t cis2_login_complete(cis2_session_t **psess,
                                 const cis2_login_conf_t *c,
                                 const cis2_pending_t *pl, const char *code,
                                 apr_time_t now, const cis2_err_t **perr,
                                 apr_pool_t *p);

/** Verify a back-channel logout token (CIS2.md §11, BCL 1.0 §2.6): at
 *  most 16 KB, signature by the OP's JWKS (kid, allow-listed RSA alg),
 *  then cis2_jwt_check_logout_token against the OP's issuer, our client
 *  id, `max_age` for iat and the configured skew. The caller still has to
 *  refuse replays (jti) and end the sessions. */
apr_status_t cis2_login_verify_logout(cis2_logout_claims_t **plc,
                                      const cis2_login_conf_t *c,
                                      const char *token, apr_size_t len,
                                      apr_time_t now,
                                      apr_interval_time_t max_age,
                                      const cis2_err_t **perr,
                                      apr_pool_t *p);

#endif /* CIS2_LOGIN_H */
