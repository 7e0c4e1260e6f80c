/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_discovery — parse and validate an OpenID Provider configuration
 * document (OpenID Connect Discovery 1.0 §3, §4.3). cis2_provider fetches
 * the document and caches the result; cis2_login and the glue read the
 * endpoints. Every string is kept byte for byte: CIS2 issuers and endpoints
 * carry ":443" (CIS2.md §1, §12) and a normalised copy would no longer
 * match the `iss` of ID tokens or the `aud` of client assertions.
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "cis2.h"
#include "cis2_discovery.h"
#include "cis2_json.h"
#include "cis2_util.h"

#define MAX_LIST_ITEMS 256

/* An absolute http(s) URL with a non-empty host, no fragment, no
 * userinfo, no white space, backslash or control characters. The scheme
 * may be in any case; nothing is rewritten. */
static int is_endpoint_url(const char *s, apr_size_t len)
{
    const char *auth;
    apr_size_t alen, i;

    if (len == 0 || len > CIS2_MAX_URL || cis2_has_ctl(s, len)) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == ' ' || s[i] == '\\' || s[i] == '#'
            || (unsigned char)s[i] >= 0x80) {
            return 0;
        }
    }
    if (strncasecmp(s, "https://", 8) == 0) {
        auth = s + 8;
    }
    else if (strncasecmp(s, "http://", 7) == 0) {
        auth = s + 7;
    }
    else {
        return 0;
    }
    alen = strcspn(auth, "/?");
    if (alen == 0 || memchr(auth, '@', alen) != NULL || auth[0] == ':') {
        return 0;
    }
    return 1;
}

/* A required or optional URL member. Absent: *pout = NULL and success
 * unless required. Present but not a valid URL: CIS2_E_DISCOVERY. */
static apr_status_t get_url(const char **pout, const json_t *doc,
                            const char *name, int required,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    json_t *v = json_object_get(doc, name);

    *pout = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return cis2_err_set(perr, p, CIS2_E_DISCOVERY,
                                "discovery document has no %s", name);
        }
        return APR_SUCCESS;
    }
    if (!json_is_string(v)
        || !is_endpoint_url(json_string_value(v), json_string_length(v))) {
        return cis2_err_set(perr, p, CIS2_E_DISCOVERY,
                            "discovery document: %s is not an absolute "
                            "http(s) URL", name);
    }
    *pout = apr_pstrmemdup(p, json_string_value(v), json_string_length(v));
    return APR_SUCCESS;
}

/* A list of strings as advertised; members that are not strings are
 * skipped, a member that is not an array gives an empty list. */
static apr_array_header_t *get_list(const json_t *doc, const char *name,
                                    apr_pool_t *p)
{
    json_t *v = json_object_get(doc, name);
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(const char *));
    size_t i;

    if (!json_is_array(v)) {
        return a;
    }
    for (i = 0; i < json_array_size(v) && i < MAX_LIST_ITEMS; i++) {
        json_t *s = json_array_get(v, i);

        if (json_is_string(s)) {
            APR_ARRAY_PUSH(a, const char *) =
                apr_pstrmemdup(p, json_string_value(s), json_string_length(s));
        }
    }
    return a;
}

apr_status_t cis2_discovery_parse(cis2_provider_meta_t **pmeta,
                                  const char *json, apr_size_t len,
                                  const char *expected_issuer,
                                  const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_provider_meta_t *m;
    json_t *doc, *iss, *bcl;
    const char *issuer;
    apr_size_t issuer_len;

    if (cis2_json_parse_object(&doc, json, len, CIS2_MAX_HTTP_BODY, perr, p)
        != APR_SUCCESS) {
        return APR_EGENERAL; /* CIS2_E_JSON or CIS2_E_TOO_LARGE */
    }

    iss = json_object_get(doc, "issuer");
    if (!json_is_string(iss) || json_string_length(iss) == 0) {
        return cis2_err_set(perr, p, CIS2_E_DISCOVERY,
                            "discovery document has no issuer");
    }
    issuer = json_string_value(iss);
    issuer_len = json_string_length(iss);
    /* OIDC Discovery §4.3: exactly identical, no normalisation at all
     * (CIS2's ":443" must stay; no case folding, no trailing '/'). */
    if (expected_issuer != NULL
        && (issuer_len != strlen(expected_issuer)
            || memcmp(issuer, expected_issuer, issuer_len) != 0)) {
        if (cis2_has_ctl(issuer, issuer_len)) {
            return cis2_err_set(perr, p, CIS2_E_ISSUER_MISMATCH,
                                "discovery issuer does not match '%.200s'",
                                expected_issuer);
        }
        return cis2_err_set(perr, p, CIS2_E_ISSUER_MISMATCH,
                            "discovery issuer '%.200s' does not match "
                            "'%.200s'", issuer, expected_issuer);
    }
    /* OIDC Discovery §3: a URL using the https scheme with no query or
     * fragment (http is accepted for loopback test providers). */
    if (!is_endpoint_url(issuer, issuer_len)
        || memchr(issuer, '?', issuer_len) != NULL) {
        return cis2_err_set(perr, p, CIS2_E_DISCOVERY,
                            "discovery issuer is not an http(s) URL without "
                            "query or fragment");
    }

    m = apr_pcalloc(p, sizeof(*m));
    m->issuer = apr_pstrmemdup(p, issuer, issuer_len);
    if (get_url(&m->authorization_endpoint, doc, "authorization_endpoint", 1,
                perr, p) != APR_SUCCESS
        || get_url(&m->token_endpoint, doc, "token_endpoint", 1, perr, p)
           != APR_SUCCESS
        || get_url(&m->jwks_uri, doc, "jwks_uri", 1, perr, p) != APR_SUCCESS
        || get_url(&m->userinfo_endpoint, doc, "userinfo_endpoint", 0, perr,
                   p) != APR_SUCCESS
        || get_url(&m->end_session_endpoint, doc, "end_session_endpoint", 0,
                   perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }

    bcl = json_object_get(doc, "backchannel_logout_supported");
    m->backchannel_logout_supported = json_is_true(bcl) ? 1 : 0;
    m->token_endpoint_auth_methods =
        get_list(doc, "token_endpoint_auth_methods_supported", p);
    m->id_token_signing_algs =
        get_list(doc, "id_token_signing_alg_values_supported", p);
    m->code_challenge_methods =
        get_list(doc, "code_challenge_methods_supported", p);
    m->scopes = get_list(doc, "scopes_supported", p);
    m->acr_values = get_list(doc, "acr_values_supported", p);

    *pmeta = m;
    return APR_SUCCESS;
}
