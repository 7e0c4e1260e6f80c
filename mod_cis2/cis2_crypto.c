/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_crypto — passphrase key ring, AES-256-GCM seal/open and keyed names
 * (contract in cis2_crypto.h). All OpenSSL objects live only inside one
 * call; derived keys live in the caller's pool and are wiped by a pool
 * cleanup (OPENSSL_cleanse).
 *
 * Keyed names are computed on every Redis-store request (the near-cache is
 * keyed by them), so they do not go through EVP: OpenSSL 3's EVP_MAC
 * duplicates provider contexts (allocations) for each call and cost ~10k
 * instructions per name. HMAC-SHA256 is instead run on SHA-256 states
 * prepared once per key (after the K^ipad and K^opad blocks, RFC 2104):
 * a name is two copies of those states and two SHA-256 blocks, no
 * allocation (OpenSSL's own SHA256 block code; its low-level API is
 * deprecated in 3.0 but is exactly the "midstate" interface this needs).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "cis2_crypto.h"
#include "cis2_util.h"

/* Public and fixed: all nodes must derive the same keys from the same
 * passphrase without talking to each other. Changing it changes every key. */
#define KDF_SALT "mod_cis2 key ring v1"

typedef struct crypto_key_t {
    unsigned char enc[32];     /* AES-256-GCM */
    unsigned char name[32];    /* HMAC-SHA256 for entry names */
    unsigned char kid[CIS2_CRYPTO_KID_LEN];
    /* HMAC-SHA256 under `name`, its two padded key blocks absorbed; read
     * only after create, copied per call, so threads may share them */
    SHA256_CTX name_in, name_out;
} crypto_key_t;

struct cis2_crypto_t {
    int n;
    crypto_key_t *keys;
    EVP_CIPHER *gcm;           /* fetched once: a fetch per call is slow */
};

static apr_status_t wipe_keys(void *data)
{
    cis2_crypto_t *c = data;

    OPENSSL_cleanse(c->keys, sizeof(*c->keys) * (apr_size_t)c->n);
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

/* RFC 2104 with a 32-byte key (shorter than SHA-256's 64-byte block, so
 * used as is, zero-padded): the states after K^ipad and after K^opad. */
static int name_states(crypto_key_t *k)
{
    unsigned char pad[SHA256_CBLOCK];
    int i, ok;

    memset(pad, 0, sizeof(pad));
    memcpy(pad, k->name, sizeof(k->name));
    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] ^= 0x36;
    }
    ok = SHA256_Init(&k->name_in) == 1
         && SHA256_Update(&k->name_in, pad, sizeof(pad)) == 1;
    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] ^= 0x36 ^ 0x5c;
    }
    ok = ok && SHA256_Init(&k->name_out) == 1
         && SHA256_Update(&k->name_out, pad, sizeof(pad)) == 1;
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
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
    c->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (c->gcm == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "no AES-GCM in "
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
        if (!name_states(&c->keys[i])) {
            return cis2_err_set(perr, p, CIS2_E_CRYPTO, "HMAC set-up "
                                "failed");
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
    unsigned char inner[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx;
    int ok;

    if (i < 0 || i >= c->n) {
        return NULL;
    }
    /* HMAC = H(K^opad || H(K^ipad || domain || 0x00 || data)) */
    ctx = c->keys[i].name_in;
    ok = SHA256_Update(&ctx, domain, strlen(domain) + 1) == 1
         && SHA256_Update(&ctx, data, len) == 1
         && SHA256_Final(inner, &ctx) == 1;
    ctx = c->keys[i].name_out;
    ok = ok && SHA256_Update(&ctx, inner, sizeof(inner)) == 1
         && SHA256_Final(mac, &ctx) == 1;
    /* a copy of a keyed state is as good as the key */
    OPENSSL_cleanse(&ctx, sizeof(ctx));
    return ok ? cis2_b64url_encode(p, mac, sizeof(mac)) : NULL;
}
