/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_assertion — the RP's own keys for private_key_jwt (RFC 7523, OIDC
 * Core §9; CIS2.md §4 and §9): loading RSA keys from PEM files, the RFC
 * 7638 thumbprint used as the default `kid`, signing the client assertion
 * sent to the token endpoint (RS256 or RS512), and the public JWKS the RP
 * publishes at its jwks_uri (current key first, then the previous one, so
 * a key can roll over without re-registration at CIS2). cis2_login signs;
 * the glue serves the JWKS. Private key material never leaves OpenSSL.
 */
#ifndef CIS2_ASSERTION_H
#define CIS2_ASSERTION_H

#include "cis2.h"

typedef struct cis2_rp_key_t cis2_rp_key_t;

/** Load an RSA key (at least 2048 bits) from PEM text: a private key
 *  (PKCS#8 or PKCS#1; it can sign) or, for a previous key that is only
 *  published, a public key. `kid` NULL means the RFC 7638 thumbprint.
 *  The key is freed when p is cleared. Errors: CIS2_E_CONFIG (not an RSA
 *  key, too short, unreadable PEM). */
apr_status_t cis2_rp_key_load(cis2_rp_key_t **pkey, const char *pem,
                              apr_size_t len, const char *kid,
                              const cis2_err_t **perr, apr_pool_t *p);

/** The same, from a file (at most 64 KB). */
apr_status_t cis2_rp_key_load_file(cis2_rp_key_t **pkey, const char *path,
                                   const char *kid, const cis2_err_t **perr,
                                   apr_pool_t *p);

/** The key's kid (configured, or the thumbprint). */
const char *cis2_rp_key_kid(const cis2_rp_key_t *key);

/** 1 if the key holds a private part (can sign). */
int cis2_rp_key_can_sign(const cis2_rp_key_t *key);

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key given
 *  as its base64url `n` and `e` members. */
const char *cis2_jwk_thumbprint_rsa(apr_pool_t *p, const char *n,
                                    const char *e);

/** 1 if alg is a client-assertion algorithm we sign with (RS256, RS512). */
int cis2_assertion_alg_ok(const char *alg);

/** Sign a client assertion: header {alg, kid, typ: JWT}; payload
 *  {iss = sub = client_id, aud = token_endpoint (byte for byte), jti (fresh,
 *  128 random bits), iat = now, exp = now + lifetime}. lifetime is capped at
 *  300 s (CIS2.md §4). CIS2_E_CONFIG for a key that cannot sign or a bad
 *  alg; CIS2_E_CRYPTO when OpenSSL fails. */
apr_status_t cis2_assertion_sign(const char **pjwt, const cis2_rp_key_t *key,
                                 const char *alg, const char *client_id,
                                 const char *token_endpoint, apr_time_t now,
                                 apr_interval_time_t lifetime,
                                 const cis2_err_t **perr, apr_pool_t *p);

/** The public JWKS: {"keys":[current, previous]} with kty, use "sig", alg,
 *  kid, n, e; previous may be NULL (and is left out if it has the same kid
 *  as current). */
const char *cis2_assertion_jwks(apr_pool_t *p, const cis2_rp_key_t *current,
                                const cis2_rp_key_t *previous,
                                const char *alg);

#endif /* CIS2_ASSERTION_H */
