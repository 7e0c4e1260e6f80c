/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_discovery — parse and validate OpenID Provider metadata (OpenID
 * Connect Discovery 1.0 §3, §4.3). Strings are kept byte for byte: CIS2's
 * issuer and endpoints carry ":443" and must never be normalised.
 */
#ifndef CIS2_DISCOVERY_H
#define CIS2_DISCOVERY_H

#include "cis2.h"

typedef struct cis2_provider_meta_t {
    const char *issuer;
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *userinfo_endpoint;     /* may be NULL */
    const char *jwks_uri;
    const char *end_session_endpoint;  /* may be NULL */
    int backchannel_logout_supported;  /* 0/1 */
    /* lists as advertised (arrays of const char *); empty when absent */
    apr_array_header_t *token_endpoint_auth_methods;
    apr_array_header_t *id_token_signing_algs;
    apr_array_header_t *code_challenge_methods;
    apr_array_header_t *scopes;
    apr_array_header_t *acr_values;
} cis2_provider_meta_t;

/** Parse a discovery document of len bytes. Requires issuer,
 *  authorization_endpoint, token_endpoint and jwks_uri; every endpoint must
 *  be an absolute http(s) URL without a fragment or control characters.
 *  If expected_issuer is not NULL, issuer must equal it byte for byte
 *  (OIDC Discovery §4.3), else CIS2_E_ISSUER_MISMATCH. Other failures:
 *  CIS2_E_JSON, CIS2_E_DISCOVERY, CIS2_E_TOO_LARGE. */
apr_status_t cis2_discovery_parse(cis2_provider_meta_t **pmeta,
                                  const char *json, apr_size_t len,
                                  const char *expected_issuer,
                                  const cis2_err_t **perr, apr_pool_t *p);

#endif /* CIS2_DISCOVERY_H */
