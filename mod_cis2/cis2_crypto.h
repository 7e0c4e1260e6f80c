/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_crypto — keys for data mod_cis2 keeps outside httpd (the Redis
 * session store): a passphrase (CIS2CryptoPassphrase) is stretched with
 * PBKDF2-HMAC-SHA256 into a master key, from which an AES-256-GCM key, an
 * HMAC-SHA256 key for naming entries, and a 4-byte key id are expanded
 * (HKDF-Expand, RFC 5869 §2.3). Several passphrases make a key ring: the
 * first seals, any opens (rotation). Every node of a cluster given the same
 * passphrase derives the same keys, so the salt is fixed and public; the
 * iteration count is what makes guessing a weak passphrase slow.
 *
 * Sealed format: [key id 4][IV 12][ciphertext n][GCM tag 16]; the IV is
 * random per message and the caller's associated data (say, the entry's
 * name) is authenticated, so a value cannot be moved to another name.
 */
#ifndef CIS2_CRYPTO_H
#define CIS2_CRYPTO_H

#include "cis2.h"

#define CIS2_CRYPTO_KID_LEN   4
#define CIS2_CRYPTO_IV_LEN    12
#define CIS2_CRYPTO_TAG_LEN   16
#define CIS2_CRYPTO_OVERHEAD  (CIS2_CRYPTO_KID_LEN + CIS2_CRYPTO_IV_LEN \
                               + CIS2_CRYPTO_TAG_LEN)
/* PBKDF2-HMAC-SHA256 rounds for passphrases (OWASP 2023: 600,000) */
#define CIS2_CRYPTO_KDF_ITERATIONS 600000
/* a passphrase shorter than this is refused */
#define CIS2_CRYPTO_MIN_PASSPHRASE 16

typedef struct cis2_crypto_t cis2_crypto_t;

/** Derive a key ring from `n` passphrases (the first seals, all open).
 *  `iterations` is the PBKDF2 count (CIS2_CRYPTO_KDF_ITERATIONS; tests may
 *  pass fewer). CIS2_E_INVALID for no passphrase, one shorter than
 *  CIS2_CRYPTO_MIN_PASSPHRASE, or two that give the same key id;
 *  CIS2_E_CRYPTO if OpenSSL fails. Key material is wiped when p is
 *  cleared. */
apr_status_t cis2_crypto_create(cis2_crypto_t **pc,
                                const char *const *passphrases, int n,
                                unsigned iterations,
                                const cis2_err_t **perr, apr_pool_t *p);

/** Number of keys in the ring. */
int cis2_crypto_nkeys(const cis2_crypto_t *c);

/** Key id of key `i` as 8 hex characters (safe to log). */
const char *cis2_crypto_kid(const cis2_crypto_t *c, int i, apr_pool_t *p);

/** Seal `len` bytes with key `i` (0 = the current key), authenticating
 *  `aad` (may be NULL with aadlen 0). *pout (from p) is
 *  len + CIS2_CRYPTO_OVERHEAD bytes. CIS2_E_CRYPTO on failure. */
apr_status_t cis2_crypto_seal(const char **pout, apr_size_t *poutlen,
                              const cis2_crypto_t *c, int i,
                              const void *aad, apr_size_t aadlen,
                              const void *in, apr_size_t len,
                              const cis2_err_t **perr, apr_pool_t *p);

/** Open a sealed value with whichever key of the ring its key id names.
 *  *pout (from p) is NUL-terminated (not counted in *poutlen); *pkey (may
 *  be NULL) receives the key's index. CIS2_E_CRYPTO if the key id is
 *  unknown, the value is short, or it fails authentication (tampered,
 *  wrong aad, wrong key). */
apr_status_t cis2_crypto_open(const char **pout, apr_size_t *poutlen,
                              int *pkey, const cis2_crypto_t *c,
                              const void *aad, apr_size_t aadlen,
                              const void *in, apr_size_t len,
                              const cis2_err_t **perr, apr_pool_t *p);

/** A keyed name for `data` under key `i`: base64url of
 *  HMAC-SHA256(name key, domain || 0x00 || data), 43 characters. Reveals
 *  nothing of data without the key; `domain` separates uses. */
const char *cis2_crypto_name(const cis2_crypto_t *c, int i,
                             const char *domain, const void *data,
                             apr_size_t len, apr_pool_t *p);

#endif /* CIS2_CRYPTO_H */
