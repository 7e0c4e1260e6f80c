/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_jwt — see cis2_jwt.h. Three steps, each refusing early: a strict
 * parse of the compact serialisation (RFC 7515 §7.1) into pool-owned JSON;
 * signature verification, where the algorithm is checked against our
 * allow-list before any key is looked at (so `none` and HS* never reach a
 * key, PEER.md §6) and OpenSSL then verifies the signature bytes decoded
 * by the parse with the key cis2_jwks.c picked (an EVP_PKEY built once per
 * JWKS: no second parse of the token, no key import per login); and the ID
 * token claim checks of OIDC Core §3.1.3.7.
 */
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "cis2_jwt.h"
#include "cis2_json.h"
#include "cis2_util.h"

#define SUB_MAX_LEN 255

/* ---- compact JWS parsing ------------------------------------------------- */

static int is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static apr_status_t decode_part(unsigned char **pout, apr_size_t *plen,
                                const char *s, apr_size_t n, const char *what,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    if (cis2_b64url_decode(pout, plen, s, n, NULL, p) != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS %s is not canonical base64url", what);
    }
    return APR_SUCCESS;
}

apr_status_t cis2_jws_parse(cis2_jws_t **pjws, const char *compact,
                            apr_size_t len, apr_size_t max_len,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    apr_size_t dot[2], ndots = 0, i, hlen, plen, slen;
    unsigned char *hdr, *pl, *sig;
    cis2_jws_t *jws;
    json_t *v;

    if (max_len == 0) {
        max_len = CIS2_MAX_JWT;
    }
    if (compact == NULL || len == 0) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT, "no JWS");
    }
    if (len > max_len) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "JWS of %" APR_SIZE_T_FMT " bytes is over the "
                            "limit of %" APR_SIZE_T_FMT, len, max_len);
    }
    /* RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.'
     * BASE64URL(signature), unpadded (§2), so '=', whitespace, NUL and any
     * fourth part are all malformed */
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)compact[i];

        if (c == '.') {
            if (ndots == 2) {
                return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                                    "JWS has more than three parts");
            }
            dot[ndots++] = i;
        }
        else if (!is_b64url(c)) {
            return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                                "JWS has a character outside base64url");
        }
    }
    if (ndots != 2) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS does not have three parts");
    }
    if (dot[0] == 0 || dot[1] == dot[0] + 1 || dot[1] == len - 1) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS has an empty part");
    }
    /* the signature is decoded once, here: verification uses these bytes */
    if (decode_part(&hdr, &hlen, compact, dot[0], "header", perr, p)
        != APR_SUCCESS
        || decode_part(&pl, &plen, compact + dot[0] + 1, dot[1] - dot[0] - 1,
                       "payload", perr, p) != APR_SUCCESS
        || decode_part(&sig, &slen, compact + dot[1] + 1, len - dot[1] - 1,
                       "signature", perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }

    /* jansson's error text quotes the input ("invalid token near '...'"),
     * and the payload holds claims: say only which part is bad */
    jws = apr_pcalloc(p, sizeof(*jws));
    if (cis2_json_parse_object(&jws->header, (const char *)hdr, hlen, hlen,
                               NULL, p) != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "JWS header is not a JSON object (or has "
                            "duplicate members, NUL or deep nesting)");
    }
    jws->alg = cis2_json_str(jws->header, "alg");
    if (jws->alg == NULL) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS header has no string alg");
    }
    /* RFC 7515 §4.1.11: we implement no extension, so any crit is one we
     * do not understand (this also refuses RFC 7797 unencoded payloads) */
    if (json_object_get(jws->header, "crit") != NULL) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS header has crit");
    }
    v = json_object_get(jws->header, "kid");
    if (v != NULL && !json_is_string(v)) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS header kid is not a string");
    }
    jws->kid = json_string_value(v);
    v = json_object_get(jws->header, "typ");
    if (v != NULL && !json_is_string(v)) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                            "JWS header typ is not a string");
    }
    jws->typ = json_string_value(v);

    if (cis2_json_parse_object(&jws->payload, (const char *)pl, plen, plen,
                               NULL, p) != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "JWS payload is not a JSON object (or has "
                            "duplicate members, NUL or deep nesting)");
    }
    jws->compact = apr_pstrmemdup(p, compact, len);
    jws->compact_len = len;
    jws->signed_len = dot[1];
    jws->sig = sig;
    jws->sig_len = slen;
    *pjws = jws;
    return APR_SUCCESS;
}

/* ---- algorithms ---------------------------------------------------------- */

int cis2_jwt_alg_supported(const char *alg)
{
    static const char *const algs[] = {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"
    };
    apr_size_t i;

    if (alg == NULL) {
        return 0;
    }
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strcmp(alg, algs[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int alg_allowed(const char *alg, const apr_array_header_t *allowed)
{
    int i;

    if (!cis2_jwt_alg_supported(alg)) {
        return 0;
    }
    if (allowed == NULL) {
        return strcmp(alg, "RS256") == 0 || strcmp(alg, "RS512") == 0;
    }
    for (i = 0; i < allowed->nelts; i++) {
        const char *a = APR_ARRAY_IDX(allowed, i, const char *);

        if (a != NULL && strcmp(alg, a) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- signature ----------------------------------------------------------- */

/* The header alg is attacker-chosen: name it in a log only when it looks
 * like a JOSE algorithm name ("none", "HS256"), never echo anything else. */
static const char *alg_for_log(const char *alg)
{
    apr_size_t i, n = strlen(alg);

    if (n == 0 || n > 12) {
        return "(unrecognised)";
    }
    for (i = 0; i < n; i++) {
        if (!apr_isalnum(alg[i])) {
            return "(unrecognised)";
        }
    }
    return alg;
}

apr_status_t cis2_jws_verify(const cis2_jws_t *jws, const cis2_jwks_t *jwks,
                             const apr_array_header_t *allowed_algs,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *mctx = NULL;
    const EVP_MD_CTX *tmpl = NULL;
    const unsigned char *sig;
    apr_size_t sig_len, mod_len, signed_len;
    unsigned char *dec;
    const char *dot;
    apr_status_t rv;

    if (jws == NULL || jws->alg == NULL || jws->compact == NULL) {
        return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT, "no parsed JWS");
    }
    /* the allow-list decides before any key is chosen: "none" and HS*
     * (e.g. HMAC keyed with the client secret or an RSA public key PEM)
     * never reach a key */
    if (!alg_allowed(jws->alg, allowed_algs)) {
        return cis2_err_set(perr, p, CIS2_E_ALG,
                            "JWS alg %s is not allowed",
                            alg_for_log(jws->alg));
    }
    /* a key of the JWKS: RSA, for signatures, of at least 2048 bits, its
     * own alg (if any) this one (cis2_jwks.c); the OpenSSL key was built
     * when the JWKS was parsed, not per token */
    rv = cis2_jwks_find_pkey(&key, &mod_len, &tmpl, jwks, jws->kid, jws->alg,
                             perr, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    sig = jws->sig;
    sig_len = jws->sig_len;
    signed_len = jws->signed_len;
    if (sig == NULL) {
        /* a cis2_jws_t not made by cis2_jws_parse: find the parts */
        dot = strrchr(jws->compact, '.');
        if (dot == NULL
            || cis2_b64url_decode(&dec, &sig_len, dot + 1,
                                  (apr_size_t)(jws->compact
                                               + jws->compact_len - dot - 1),
                                  NULL, p) != APR_SUCCESS) {
            return cis2_err_set(perr, p, CIS2_E_JWS_FORMAT,
                                "JWS signature is not canonical base64url");
        }
        sig = dec;
        signed_len = (apr_size_t)(dot - jws->compact);
    }
    /* RFC 7518 §3.3/§3.5: an RSA signature is exactly as long as the
     * modulus */
    if (sig_len != mod_len) {
        return cis2_err_set(perr, p, CIS2_E_SIGNATURE,
                            "signature length does not match the key");
    }
    /* the key's context made ready when the JWKS was parsed (RS256,
     * PS256), copied; else, or if the copy fails (OpenSSL 3.0.0 could not
     * copy such a context), one set up now */
    if (tmpl != NULL) {
        mctx = EVP_MD_CTX_new();
        if (mctx != NULL && EVP_MD_CTX_copy_ex(mctx, tmpl) != 1) {
            EVP_MD_CTX_free(mctx);
            mctx = NULL;
            ERR_clear_error();
        }
    }
    if (mctx == NULL) {
        mctx = cis2_jwks_verify_ctx(key, jws->alg);
    }
    if (mctx == NULL) {
        rv = cis2_err_set(perr, p, CIS2_E_CRYPTO,
                          "cannot set up the signature check");
        goto done;
    }
    /* used once: the final step need not keep the context reusable */
    EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
    if (EVP_DigestVerifyUpdate(mctx, jws->compact, signed_len) != 1
        || EVP_DigestVerifyFinal(mctx, sig, sig_len) != 1) {
        rv = cis2_err_set(perr, p, CIS2_E_SIGNATURE,
                          "JWS signature does not verify");
        goto done;
    }
    rv = APR_SUCCESS;

done:
    EVP_MD_CTX_free(mctx);
    if (rv != APR_SUCCESS) {
        /* a failed verify leaves OpenSSL errors behind on this thread;
         * they must not surface in a later, unrelated TLS call */
        ERR_clear_error();
    }
    return rv;
}

/* ---- ID token claims (OIDC Core §3.1.3.7) -------------------------------- */

static int str_eq(const json_t *v, const char *s)
{
    size_t n = strlen(s);

    return json_is_string(v) && json_string_length(v) == n
           && memcmp(json_string_value(v), s, n) == 0;
}

/* A NumericDate claim: 1 and *pt (apr_time_t) when present and valid; 0 when
 * absent; -1 when present but not a usable date (exp:1e300, "123", -1). */
static int get_date(const json_t *c, const char *name, apr_time_t *pt)
{
    apr_int64_t sec;

    if (json_object_get(c, name) == NULL) {
        return 0;
    }
    if (!cis2_json_numeric_date(c, name, &sec)) {
        return -1;
    }
    *pt = apr_time_from_sec(sec);
    return 1;
}

static apr_status_t check_aud(const json_t *c, const char *client_id,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    const json_t *aud = json_object_get(c, "aud");
    const json_t *azp = json_object_get(c, "azp");
    size_t i, n;
    int found = 0;

    /* step 3: aud contains our client_id */
    if (aud == NULL) {
        return cis2_err_set(perr, p, CIS2_E_AUD, "no aud claim");
    }
    if (json_is_string(aud)) {
        if (!str_eq(aud, client_id)) {
            return cis2_err_set(perr, p, CIS2_E_AUD,
                                "aud is not our client_id");
        }
    }
    else if (json_is_array(aud)) {
        n = json_array_size(aud);
        for (i = 0; i < n; i++) {
            const json_t *a = json_array_get(aud, i);

            if (!json_is_string(a)) {
                return cis2_err_set(perr, p, CIS2_E_AUD,
                                    "aud array holds a non-string");
            }
            found |= str_eq(a, client_id);
        }
        if (!found) {
            return cis2_err_set(perr, p, CIS2_E_AUD,
                                "aud does not contain our client_id");
        }
        /* step 4: several audiences need an azp naming us */
        if (n > 1 && azp == NULL) {
            return cis2_err_set(perr, p, CIS2_E_AZP,
                                "aud has several audiences and no azp");
        }
    }
    else {
        return cis2_err_set(perr, p, CIS2_E_AUD,
                            "aud is neither a string nor an array");
    }
    /* step 5: azp, when present, is us */
    if (azp != NULL && !str_eq(azp, client_id)) {
        return cis2_err_set(perr, p, CIS2_E_AZP, "azp is not our client_id");
    }
    return APR_SUCCESS;
}

static apr_status_t check_times(const json_t *c,
                                const cis2_id_token_expect_t *ex,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    apr_time_t exp = 0, iat = 0, nbf = 0;
    int r;

    /* step 9: exp is required; now - skew must be before it */
    r = get_date(c, "exp", &exp);
    if (r == 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING, "no exp claim");
    }
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "exp is not a NumericDate");
    }
    if (ex->now - ex->skew >= exp) {
        return cis2_err_set(perr, p, CIS2_E_EXPIRED, "token expired");
    }
    /* step 10: iat is required; refuse it from the future, and (when a
     * limit is set) from too long ago */
    r = get_date(c, "iat", &iat);
    if (r == 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING, "no iat claim");
    }
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "iat is not a NumericDate");
    }
    if (iat > ex->now + ex->skew) {
        return cis2_err_set(perr, p, CIS2_E_IAT_FUTURE, "iat in the future");
    }
    if (ex->max_iat_age > 0 && iat < ex->now - ex->max_iat_age - ex->skew) {
        return cis2_err_set(perr, p, CIS2_E_EXPIRED,
                            "iat older than %" APR_TIME_T_FMT " seconds",
                            (apr_time_t)apr_time_sec(ex->max_iat_age));
    }
    /* RFC 7519 §4.1.5 */
    r = get_date(c, "nbf", &nbf);
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "nbf is not a NumericDate");
    }
    if (r > 0 && ex->now + ex->skew < nbf) {
        return cis2_err_set(perr, p, CIS2_E_NOT_YET_VALID,
                            "nbf in the future");
    }
    return APR_SUCCESS;
}

apr_status_t cis2_jwt_check_id_token(const json_t *claims,
                                     const cis2_id_token_expect_t *ex,
                                     const cis2_err_t **perr, apr_pool_t *p)
{
    const json_t *v;
    apr_status_t rv;
    const char *sub;
    size_t n;

    if (ex == NULL || ex->issuer == NULL || ex->client_id == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG,
                            "no issuer or client_id to check the ID token "
                            "against");
    }
    if (!json_is_object(claims)) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "ID token claims are not an object");
    }
    /* step 2: iss exactly equals the issuer, byte for byte (no
     * normalisation of ports, trailing slashes or case) */
    v = json_object_get(claims, "iss");
    if (v == NULL) {
        return cis2_err_set(perr, p, CIS2_E_ISS, "no iss claim");
    }
    if (!str_eq(v, ex->issuer)) {
        return cis2_err_set(perr, p, CIS2_E_ISS,
                            "iss does not match the configured issuer");
    }
    rv = check_aud(claims, ex->client_id, perr, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = check_times(claims, ex, perr, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* step 11: the nonce we sent comes back, compared in constant time */
    if (ex->nonce != NULL) {
        v = json_object_get(claims, "nonce");
        if (v == NULL) {
            return cis2_err_set(perr, p, CIS2_E_NONCE, "no nonce claim");
        }
        if (!json_is_string(v)
            || !cis2_ct_equal(json_string_value(v), json_string_length(v),
                              ex->nonce, strlen(ex->nonce))) {
            return cis2_err_set(perr, p, CIS2_E_NONCE,
                                "nonce does not match");
        }
    }
    /* sub (OIDC Core §2): becomes REMOTE_USER, so it must be a short,
     * printable, non-empty string */
    v = json_object_get(claims, "sub");
    if (v == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING, "no sub claim");
    }
    if (!json_is_string(v)) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "sub is not a string");
    }
    sub = json_string_value(v);
    n = json_string_length(v);
    if (n == 0 || n > SUB_MAX_LEN) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "sub is empty or longer than %d bytes",
                            SUB_MAX_LEN);
    }
    if (cis2_has_ctl(sub, n)) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "sub holds control characters");
    }
    return APR_SUCCESS;
}

/* ---- logout tokens (Back-Channel Logout 1.0 §2.6) ---------------------- */

/* An optional short printable string claim: 1 and *pv when present and
 * valid, 0 when absent, -1 when present but unusable. */
static int get_short_str(const json_t *c, const char *name, const char **pv,
                         apr_pool_t *p)
{
    const json_t *v = json_object_get(c, name);
    size_t n;

    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    n = json_string_length(v);
    if (n == 0 || n > SUB_MAX_LEN
        || cis2_has_ctl(json_string_value(v), n)
        || strlen(json_string_value(v)) != n) {
        return -1;
    }
    *pv = apr_pstrmemdup(p, json_string_value(v), n);
    return 1;
}

apr_status_t cis2_jwt_check_logout_token(cis2_logout_claims_t **plc,
                                         const json_t *claims,
                                         const cis2_logout_expect_t *ex,
                                         const cis2_err_t **perr,
                                         apr_pool_t *p)
{
    cis2_logout_claims_t *lc;
    const json_t *v, *ev;
    apr_status_t rv;
    int r;

    if (ex == NULL || ex->issuer == NULL || ex->client_id == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG,
                            "no issuer or client_id to check the logout "
                            "token against");
    }
    if (!json_is_object(claims)) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "logout token claims are not an object");
    }
    lc = apr_pcalloc(p, sizeof(*lc));
    /* step 3 (as OIDC Core §3.1.3.7 steps 2-3): iss byte for byte, aud */
    v = json_object_get(claims, "iss");
    if (v == NULL || !str_eq(v, ex->issuer)) {
        return cis2_err_set(perr, p, CIS2_E_ISS, v == NULL ? "no iss claim"
                            : "iss does not match the configured issuer");
    }
    rv = check_aud(claims, ex->client_id, perr, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* iat: required (§2.4); not from the future; not older than the
     * window NHS RPs use (CIS2.md §11: 5 min) */
    r = get_date(claims, "iat", &lc->iat);
    if (r == 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING, "no iat claim");
    }
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "iat is not a NumericDate");
    }
    if (lc->iat > ex->now + ex->skew) {
        return cis2_err_set(perr, p, CIS2_E_IAT_FUTURE, "iat in the future");
    }
    if (ex->max_age > 0 && lc->iat < ex->now - ex->max_age - ex->skew) {
        return cis2_err_set(perr, p, CIS2_E_EXPIRED,
                            "logout token iat older than %" APR_TIME_T_FMT
                            " seconds", (apr_time_t)apr_time_sec(ex->max_age));
    }
    /* exp is optional here (CIS2.md §11), checked when present */
    r = get_date(claims, "exp", &lc->exp);
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "exp is not a NumericDate");
    }
    if (r > 0 && ex->now - ex->skew >= lc->exp) {
        return cis2_err_set(perr, p, CIS2_E_EXPIRED, "logout token expired");
    }
    /* step 4: events holds the back-channel logout member, an object */
    v = json_object_get(claims, "events");
    if (v == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING, "no events claim");
    }
    ev = json_is_object(v) ? json_object_get(v, CIS2_BCL_EVENT) : NULL;
    if (!json_is_object(ev)) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "events has no back-channel logout event object");
    }
    /* step 6: a nonce would make it an ID token in disguise */
    if (json_object_get(claims, "nonce") != NULL) {
        return cis2_err_set(perr, p, CIS2_E_NONCE,
                            "logout token carries a nonce");
    }
    /* step 5: sub and/or sid */
    r = get_short_str(claims, "sub", &lc->sub, p);
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "sub is not a short printable string");
    }
    r = get_short_str(claims, "sid", &lc->sid, p);
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "sid is not a short printable string");
    }
    if (lc->sub == NULL && lc->sid == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_MISSING,
                            "logout token has neither sub nor sid");
    }
    r = get_short_str(claims, "jti", &lc->jti, p);
    if (r < 0) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "jti is not a short printable string");
    }
    *plc = lc;
    return APR_SUCCESS;
}
