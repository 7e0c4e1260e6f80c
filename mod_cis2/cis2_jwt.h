/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_jwt — compact JWS parsing (RFC 7515), signature verification against
 * a JWKS (RFC 7517/7518; RS256 and RS512 for CIS2, an allow-list decides),
 * and ID token validation (OIDC Core §3.1.3.7). Parsing never trusts the
 * header: `alg: none` and every HS* algorithm are refused before any key is
 * looked at, so a token "signed" with the client secret never verifies.
 */
#ifndef CIS2_JWT_H
#define CIS2_JWT_H

#include <jansson.h>
#include <cjose/cjose.h>
#include "cis2.h"
#include "cis2_jwks.h"

typedef struct cis2_jws_t {
    const char *alg;        /* header alg (never NULL after parse) */
    const char *kid;        /* header kid or NULL */
    const char *typ;        /* header typ or NULL */
    json_t *header;         /* owned by the pool */
    json_t *payload;        /* owned by the pool; always a JSON object */
    const char *compact;    /* the input */
    apr_size_t compact_len;
    apr_size_t signed_len;  /* bytes of compact that are signed (header
                               '.' payload: RFC 7515 §5.2 step 8) */
    const unsigned char *sig;   /* the decoded signature */
    apr_size_t sig_len;
} cis2_jws_t;

/** Split and decode a compact JWS of at most max_len bytes (0 =
 *  CIS2_MAX_JWT): exactly three base64url parts, a JSON object header with
 *  a string `alg`, no `crit` we do not understand, a JSON object payload.
 *  Does NOT verify the signature. Errors: CIS2_E_JWS_FORMAT,
 *  CIS2_E_TOO_LARGE, CIS2_E_JSON. */
apr_status_t cis2_jws_parse(cis2_jws_t **pjws, const char *compact,
                            apr_size_t len, apr_size_t max_len,
                            const cis2_err_t **perr, apr_pool_t *p);

/** 1 if alg is an asymmetric RSA JWS algorithm we implement (RS256, RS384,
 *  RS512, PS256, PS384, PS512); "none" and HS* are never supported. */
int cis2_jwt_alg_supported(const char *alg);

/** Verify the signature: alg must be in `allowed_algs` (const char *
 *  array; NULL means {"RS256","RS512"}) and supported, else CIS2_E_ALG;
 *  key chosen with cis2_jwks_find (CIS2_E_KID_UNKNOWN passes through so
 *  the caller can refetch the JWKS once); bad signature CIS2_E_SIGNATURE. */
apr_status_t cis2_jws_verify(const cis2_jws_t *jws, const cis2_jwks_t *jwks,
                             const apr_array_header_t *allowed_algs,
                             const cis2_err_t **perr, apr_pool_t *p);

/** What an ID token must satisfy. Times are apr_time_t (microseconds). */
typedef struct cis2_id_token_expect_t {
    const char *issuer;          /* exact, byte for byte */
    const char *client_id;       /* must be in aud; azp must equal it */
    const char *nonce;           /* exact (constant time); NULL = not checked */
    apr_time_t now;
    apr_interval_time_t skew;    /* allowed clock skew for exp/iat/nbf */
    apr_interval_time_t max_iat_age; /* iat older than now-age-skew refused;
                                        0 = no limit */
} cis2_id_token_expect_t;

/** Validate the claims of a verified ID token (OIDC Core §3.1.3.7 steps
 *  2-3, 9-11): iss, aud (string or array containing client_id; an array
 *  with other audiences needs azp == client_id), azp, exp (required),
 *  iat (required, not in the future beyond skew), nbf, nonce, sub
 *  (required, non-empty string, at most 255 bytes, no control characters).
 *  Errors: CIS2_E_ISS, CIS2_E_AUD, CIS2_E_AZP, CIS2_E_EXPIRED,
 *  CIS2_E_IAT_FUTURE, CIS2_E_NOT_YET_VALID, CIS2_E_NONCE,
 *  CIS2_E_CLAIM_MISSING, CIS2_E_CLAIM_INVALID. */
apr_status_t cis2_jwt_check_id_token(const json_t *claims,
                                     const cis2_id_token_expect_t *ex,
                                     const cis2_err_t **perr, apr_pool_t *p);

/* ---- logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6) */

#define CIS2_BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"

/** What a valid logout token says. Strings point into the pool. */
typedef struct cis2_logout_claims_t {
    const char *sub;          /* NULL when absent */
    const char *sid;          /* NULL when absent (then sub is set) */
    const char *jti;          /* NULL when absent */
    apr_time_t iat;
    apr_time_t exp;           /* 0 when absent */
} cis2_logout_claims_t;

typedef struct cis2_logout_expect_t {
    const char *issuer;             /* exact, byte for byte */
    const char *client_id;          /* must be in aud */
    apr_time_t now;
    apr_interval_time_t skew;
    apr_interval_time_t max_age;    /* iat older than now-age-skew refused */
} cis2_logout_expect_t;

/** Validate the claims of a logout token whose signature the caller has
 *  verified (BCL §2.6 steps 3-6, CIS2.md §11): iss exact; aud contains
 *  client_id (azp, if present, is us); iat required, not in the future
 *  beyond skew, not older than max_age + skew; exp, if present, not
 *  passed; `events` an object with the back-channel-logout member, itself
 *  an object; sub and/or sid (strings, short, printable; at least one);
 *  NO nonce; jti a short printable string when present. On success
 *  *plc holds sub, sid, jti, iat, exp. Errors: CIS2_E_ISS, CIS2_E_AUD,
 *  CIS2_E_AZP, CIS2_E_IAT_FUTURE, CIS2_E_EXPIRED, CIS2_E_CLAIM_MISSING,
 *  CIS2_E_CLAIM_INVALID, CIS2_E_NONCE, CIS2_E_JSON, CIS2_E_CONFIG. */
apr_status_t cis2_jwt_check_logout_token(cis2_logout_claims_t **plc,
                                         const json_t *claims,
                                         const cis2_logout_expect_t *ex,
                                         const cis2_err_t **perr,
                                         apr_pool_t *p);

#endif /* CIS2_JWT_H */
