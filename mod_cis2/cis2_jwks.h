/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_jwks — a JSON Web Key Set (RFC 7517) parsed into cjose keys owned by
 * a pool, and key selection for JWS verification: by `kid`, usable for
 * signatures, of a type that fits the algorithm. CIS2 kids are standard
 * base64 with '/', '+' and '=' (CIS2.md §9): they are opaque strings,
 * compared byte for byte, never decoded.
 */
#ifndef CIS2_JWKS_H
#define CIS2_JWKS_H

#include <cjose/cjose.h>
#include <openssl/evp.h>
#include "cis2.h"

typedef struct cis2_jwks_t cis2_jwks_t;

/** Parse a JWKS document. Keys that are not RSA, or whose `use` is present
 *  and not "sig", are skipped (kept out of selection); malformed RSA keys
 *  are skipped with a debug log line. A document with no usable key,
 *  over CIS2_MAX_HTTP_BODY, or more than 64 keys is CIS2_E_JWKS /
 *  CIS2_E_TOO_LARGE. Keys are released when p is cleared. */
apr_status_t cis2_jwks_parse(cis2_jwks_t **pjwks, const char *json,
                             apr_size_t len, const cis2_err_t **perr,
                             apr_pool_t *p);

/** Number of usable signing keys. */
int cis2_jwks_count(const cis2_jwks_t *jwks);

/** Select the key for a JWS header: the key whose kid equals `kid` (byte
 *  for byte); if kid is NULL, the only usable key when there is exactly
 *  one. A key whose own `alg` member is set must equal `alg`.
 *  CIS2_E_KID_UNKNOWN when no key fits (the caller may refetch). */
apr_status_t cis2_jwks_find(const cjose_jwk_t **pkey, const cis2_jwks_t *jwks,
                            const char *kid, const char *alg,
                            const cis2_err_t **perr, apr_pool_t *p);

/** The same selection as cis2_jwks_find, giving the key as an OpenSSL
 *  public key built once when the set was parsed (per process, per JWKS
 *  generation; safe to use from several threads at once) and its modulus
 *  length in bytes. With ptmpl, also the key's verification context made
 *  ready for `alg` when the set was parsed (RS256 and PS256, the algs an
 *  OP uses; NULL for the others): copy it (EVP_MD_CTX_copy_ex) rather than
 *  set one up per token, which looks up the digest and signature methods
 *  each time. Copies from several threads at once: in OpenSSL 3.x the copy
 *  only reads the template and takes references atomically (digest.c,
 *  EVP_PKEY_CTX_dup); OpenSSL does not promise this in its documentation,
 *  and test_jwt's threaded test exercises it. All
 *  belong to the set: valid while the set's pool lives; the caller must
 *  not free them. */
apr_status_t cis2_jwks_find_pkey(EVP_PKEY **ppkey, apr_size_t *pmod_len,
                                 const EVP_MD_CTX **ptmpl,
                                 const cis2_jwks_t *jwks, const char *kid,
                                 const char *alg, const cis2_err_t **perr,
                                 apr_pool_t *p);

/** A new digest-verify context for an RSA key and a JWS alg: PKCS #1 v1.5
 *  for RS256/384/512 (RFC 7518 §3.3), PSS with MGF1 on the same hash and a
 *  salt as long as the hash for PS256/384/512 (§3.5). NULL for another alg
 *  or on failure. The caller frees it (EVP_MD_CTX_free). */
EVP_MD_CTX *cis2_jwks_verify_ctx(EVP_PKEY *key, const char *alg);

#endif /* CIS2_JWKS_H */
