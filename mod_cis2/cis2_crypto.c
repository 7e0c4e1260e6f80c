/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_crypto — passphrase key ring, AES-256-GCM seal/open and keyed names
 * (contract in cis2_crypto.h). All OpenSSL objects live only inside one
 * call; derived keys live in the caller's pool and are wiped by a pool
 * cleanup (OPENSSL_cleanse).
 */
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <limits.h>
#include <openssl/crypto.h>

#include "cis2_crypto.h"
#include "cis2_util.h"

/* Public and fixed: all nodes must derive the same keys from the same
 * passphrase without talking to each other. Changing it changes every key. */
#define KDF_SALT "mod_cis2 key ring v1"

typedef struct crypto_key_t {
    unsigned char enc[32];     /* AES-256-GCM */
    unsigned char name[32];    /* HMAC-SHA256 for entry names */
    unsigned char kid[CIS2_CRYPTO_KID_LEN];
} crypto_key_t;

struct cis2_crypto_t {
    int n;
    crypto_key_t *keys;
    EVP_MAC *hmac;             /* fetched once: a fetch per call is slow */
    EVP_CIPHER *gcm;           /* likewise */
    EVP_MAC_CTX **names;       /* per key, keyed once; duplicated per call
                                  (read-only here, so threads may share) */
};

static apr_status_t wipe_keys(void *data)
{
    cis2_crypto_t *c = data;

    int i;

    OPENSSL_cleanse(c->keys, sizeof(*c->keys) * (apr_size_t)c->n);
    for (i = 0; c->names != NULL && i < c->n; i++) {
        EVP_MAC_CTX_free(c->names[i]);
        c->names[i] = NULL;
    }
    EVP_MAC_free(c->hmac);
    c->hmac = NULL;
    EVP_CIPHER_free(c->gcm);
    c->gcm = NULL;
    return APR_SUCCESS;
}

/* HKDF-Expand (RFC 5869 §2.3) for one block: T(1) = HMAC(PRK, info|0x01).
 * The PBKDF2 output is already a uniformly random PRK. */
static int expand(unsigned char out[32], const unsigned char prk[32],
                  const char *info)
{
    unsigned char buf[64];
    unsigned int outlen = 0;
    apr_size_t ilen = strlen(info);

    if (ilen + 1 > sizeof(buf)) {
        return 0;
    }
    memcpy(buf, info, ilen);
    buf[ilen] = 0x01;
    return HMAC(EVP_sha256(), prk, 32, buf, ilen + 1, out, &outlen) != NULL
           && outlen == 32;
}

apr_status_t cis2_crypto_create(cis2_crypto_t **pc,
                                const char *const *passphrases, int n,
                                unsigned iterations,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_crypto_t *c;
    unsigned char prk[32], kid[32];
    int i, j;

    if (n <= 0 || passphrases == NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no passphrase");
    }
    if (iterations == 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no KDF iterations");
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->keys = apr_pcalloc(p, sizeof(*c->keys) * (apr_size_t)n);
    c->n = n;
    apr_pool_cleanup_register(p, c, wipe_keys, apr_pool_cleanup_null);
    c->names = apr_pcalloc(p, sizeof(*c->names) * (apr_size_t)n);
    c->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    c->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (c->hmac == NULL || c->gcm == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "no HMAC or AES-GCM in "
                            "OpenSSL");
    }
    for (i = 0; i < n; i++) {
        const char *pw = passphrases[i];
        int ok;

        if (pw == NULL || strlen(pw) < CIS2_CRYPTO_MIN_PASSPHRASE) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "passphrase %d is "
                                "shorter than %d characters", i + 1,
                                CIS2_CRYPTO_MIN_PASSPHRASE);
        }
        ok = PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw),
                               (const unsigned char *)KDF_SALT,
                               (int)strlen(KDF_SALT), (int)iterations,
                               EVP_sha256(), sizeof(prk), prk) == 1
             && expand(c->keys[i].enc, prk, "mod_cis2 aes-256-gcm")
             && expand(c->keys[i].name, prk, "mod_cis2 entry names")
             && expand(kid, prk, "mod_cis2 key id");
        OPENSSL_cleanse(prk, sizeof(prk));
        if (!ok) {
            return cis2_err_set(perr, p, CIS2_E_CRYPTO, "key derivation "
                                "failed");
        }
        memcpy(c->keys[i].kid, kid, CIS2_CRYPTO_KID_LEN);
        {
            OSSL_PARAM params[2];

            params[0] = OSSL_PARAM_construct_utf8_string("digest",
                                                         (char *)"SHA256", 0);
            params[1] = OSSL_PARAM_construct_end();
            c->names[i] = EVP_MAC_CTX_new(c->hmac);
            if (c->names[i] == NULL
                || EVP_MAC_init(c->names[i], c->keys[i].name, 32, params)
                   != 1) {
                return cis2_err_set(perr, p, CIS2_E_CRYPTO, "HMAC set-up "
                                    "failed");
            }
        }
        for (j = 0; j < i; j++) {
            if (memcmp(c->keys[j].kid, kid, CIS2_CRYPTO_KID_LEN) == 0) {
                return cis2_err_set(perr, p, CIS2_E_INVALID, "passphrases "
                                    "%d and %d give the same key", j + 1,
                                    i + 1);
            }
        }
    }
    *pc = c;
    return APR_SUCCESS;
}

int cis2_crypto_nkeys(const cis2_crypto_t *c)
{
    return c->n;
}

const char *cis2_crypto_kid(const cis2_crypto_t *c, int i, apr_pool_t *p)
{
    const unsigned char *k = c->keys[i].kid;

    return apr_psprintf(p, "%02x%02x%02x%02x", k[0], k[1], k[2], k[3]);
}

/* ---- AES-256-GCM ---------------------------------------------------------- */

apr_status_t cis2_crypto_seal(const char **pout, apr_size_t *poutlen,
                              const cis2_crypto_t *c, int i,
                              const void *aad, apr_size_t aadlen,
                              const void *in, apr_size_t len,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    EVP_CIPHER_CTX *ctx;
    unsigned char *out, *iv, *ct;
    int n = 0, fin = 0, ok;

    if (i < 0 || i >= c->n || len > (apr_size_t)INT_MAX - 64
        || aadlen > (apr_size_t)INT_MAX) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "cannot seal this");
    }
    out = apr_palloc(p, len + CIS2_CRYPTO_OVERHEAD);
    memcpy(out, c->keys[i].kid, CIS2_CRYPTO_KID_LEN);
    iv = out + CIS2_CRYPTO_KID_LEN;
    ct = iv + CIS2_CRYPTO_IV_LEN;
    if (cis2_random_bytes(iv, CIS2_CRYPTO_IV_LEN) != APR_SUCCESS
        || (ctx = EVP_CIPHER_CTX_new()) == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "no random IV");
    }
    ok = EVP_EncryptInit_ex2(ctx, c->gcm, c->keys[i].enc, iv, NULL) == 1
         && (aadlen == 0
             || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1)
         && EVP_EncryptUpdate(ctx, ct, &n, in, (int)len) == 1
         && EVP_EncryptFinal_ex(ctx, ct + n, &fin) == 1
         && (apr_size_t)(n + fin) == len
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                                CIS2_CRYPTO_TAG_LEN, ct + len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "AES-GCM seal failed");
    }
    *pout = (const char *)out;
    *poutlen = len + CIS2_CRYPTO_OVERHEAD;
    return APR_SUCCESS;
}

apr_status_t cis2_crypto_open(const char **pout, apr_size_t *poutlen,
                              int *pkey, const cis2_crypto_t *c,
                              const void *aad, apr_size_t aadlen,
                              const void *in, apr_size_t len,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    const unsigned char *b = in, *iv, *ct, *tag;
    EVP_CIPHER_CTX *ctx;
    unsigned char *out;
    apr_size_t ctlen;
    int i, n = 0, fin = 0, ok;

    if (len < CIS2_CRYPTO_OVERHEAD || len > (apr_size_t)INT_MAX
        || aadlen > (apr_size_t)INT_MAX) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "sealed value too short");
    }
    for (i = 0; i < c->n; i++) {
        if (memcmp(b, c->keys[i].kid, CIS2_CRYPTO_KID_LEN) == 0) {
            break;
        }
    }
    if (i == c->n) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "sealed with an unknown "
                            "key (%02x%02x%02x%02x)", b[0], b[1], b[2], b[3]);
    }
    iv = b + CIS2_CRYPTO_KID_LEN;
    ct = iv + CIS2_CRYPTO_IV_LEN;
    ctlen = len - CIS2_CRYPTO_OVERHEAD;
    tag = ct + ctlen;
    out = apr_palloc(p, ctlen + 1);
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "out of memory");
    }
    ok = EVP_DecryptInit_ex2(ctx, c->gcm, c->keys[i].enc, iv, NULL) == 1
         && (aadlen == 0
             || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1)
         && EVP_DecryptUpdate(ctx, out, &n, ct, (int)ctlen) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                CIS2_CRYPTO_TAG_LEN, (void *)tag) == 1
         && EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1
         && (apr_size_t)(n + fin) == ctlen;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, ctlen);
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "sealed value fails "
                            "authentication");
    }
    out[ctlen] = '\0';
    *pout = (const char *)out;
    *poutlen = ctlen;
    if (pkey != NULL) {
        *pkey = i;
    }
    return APR_SUCCESS;
}

/* ---- keyed names ----------------------------------------------------------- */

const char *cis2_crypto_name(const cis2_crypto_t *c, int i,
                             const char *domain, const void *data,
                             apr_size_t len, apr_pool_t *p)
{
    unsigned char mac[32];
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(c->names[i]);
    size_t outl = 0;
    int ok;

    ok = ctx != NULL
         && EVP_MAC_update(ctx, (const unsigned char *)domain,
                           strlen(domain) + 1) == 1
         && EVP_MAC_update(ctx, data, len) == 1
         && EVP_MAC_final(ctx, mac, &outl, sizeof(mac)) == 1 && outl == 32;
    EVP_MAC_CTX_free(ctx);
    return ok ? cis2_b64url_encode(p, mac, sizeof(mac)) : NULL;
}
