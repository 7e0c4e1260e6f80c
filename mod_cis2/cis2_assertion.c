/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_assertion — see cis2_assertion.h. OpenSSL 3 EVP keys held by a pool
 * cleanup; the JOSE text is built with jansson so every value is escaped;
 * signatures are RSASSA-PKCS1-v1_5 (RFC 7518 §3.3).
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cis2_assertion.h"
#include "cis2_json.h"
#include "cis2_util.h"

#define MIN_RSA_BITS 2048
#define MAX_PEM (64 * 1024)
#define MAX_LIFETIME apr_time_from_sec(300)

struct cis2_rp_key_t {
    EVP_PKEY *pkey;
    int can_sign;
    const char *kid;
    const char *n, *e;         /* base64url public members */
};

static apr_status_t free_pkey(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

static const char *bn_param_b64(apr_pool_t *p, const EVP_PKEY *pkey,
                                const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    const char *out;
    int n;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) {
        return NULL;
    }
    n = BN_num_bytes(bn);
    buf = apr_palloc(p, n > 0 ? (apr_size_t)n : 1);
    BN_bn2bin(bn, buf);
    BN_free(bn);
    out = cis2_b64url_encode(p, buf, (apr_size_t)n);
    return out;
}

const char *cis2_jwk_thumbprint_rsa(apr_pool_t *p, const char *n,
                                    const char *e)
{
    unsigned char h[32];
    /* RFC 7638 §3.2: required members only, lexicographic order, no
     * whitespace; n and e are base64url, so no escaping is needed */
    const char *canon = apr_pstrcat(p, "{\"e\":\"", e, "\",\"kty\":\"RSA\","
                                    "\"n\":\"", n, "\"}", NULL);

    cis2_sha256(h, canon, strlen(canon));
    return cis2_b64url_encode(p, h, sizeof(h));
}

apr_status_t cis2_rp_key_load(cis2_rp_key_t **pkey, const char *pem,
                              apr_size_t len, const char *kid,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_rp_key_t *k;
    BIO *bio;
    EVP_PKEY *pk;
    int can_sign = 1;

    if (pem == NULL || len == 0 || len > MAX_PEM) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "no PEM key, or over "
                            "64 KB");
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "out of memory");
    }
    pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    if (pk == NULL) {
        (void)BIO_reset(bio);
        pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        can_sign = 0;
    }
    BIO_free(bio);
    if (pk == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "not a PEM private or "
                            "public key (encrypted keys are not supported)");
    }
    apr_pool_cleanup_register(p, pk, free_pkey, apr_pool_cleanup_null);
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "not an RSA key (CIS2 "
                            "takes RS256 or RS512)");
    }
    if (EVP_PKEY_get_bits(pk) < MIN_RSA_BITS) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "RSA key of %d bits is "
                            "shorter than %d", EVP_PKEY_get_bits(pk),
                            MIN_RSA_BITS);
    }
    k = apr_pcalloc(p, sizeof(*k));
    k->pkey = pk;
    k->can_sign = can_sign;
    k->n = bn_param_b64(p, pk, OSSL_PKEY_PARAM_RSA_N);
    k->e = bn_param_b64(p, pk, OSSL_PKEY_PARAM_RSA_E);
    if (k->n == NULL || k->e == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "cannot read the RSA "
                            "public key");
    }
    if (kid != NULL && (*kid == '\0' || cis2_has_ctl(kid, strlen(kid)))) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "empty kid or kid with "
                            "control characters");
    }
    k->kid = kid ? apr_pstrdup(p, kid) : cis2_jwk_thumbprint_rsa(p, k->n,
                                                                 k->e);
    *pkey = k;
    return APR_SUCCESS;
}

apr_status_t cis2_rp_key_load_file(cis2_rp_key_t **pkey, const char *path,
                                   const char *kid, const cis2_err_t **perr,
                                   apr_pool_t *p)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;
    apr_status_t rv;
    char ebuf[120];

    rv = apr_file_open(&f, path, APR_READ, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        if (rv != APR_SUCCESS) {
            apr_file_close(f);
        }
    }
    if (rv != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "cannot read %s (%s)",
                            path, apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (fi.size <= 0 || fi.size > MAX_PEM) {
        apr_file_close(f);
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "%s is empty or over "
                            "64 KB", path);
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "cannot read %s", path);
    }
    buf[n] = '\0';
    rv = cis2_rp_key_load(pkey, buf, n, kid, perr, p);
    /* the pool copy of a private key is not needed any more */
    memset(buf, 0, n);
    return rv;
}

const char *cis2_rp_key_kid(const cis2_rp_key_t *key)
{
    return key->kid;
}

int cis2_rp_key_can_sign(const cis2_rp_key_t *key)
{
    return key->can_sign;
}

int cis2_assertion_alg_ok(const char *alg)
{
    return alg != NULL && (strcmp(alg, "RS256") == 0
                           || strcmp(alg, "RS512") == 0);
}

/* Compact JSON of a jansson object built here, or NULL. */
static const char *b64_json(apr_pool_t *p, json_t *j)
{
    const char *s;

    if (j == NULL) {
        return NULL;
    }
    cis2_json_own(p, j);       /* the pool now holds the reference */
    s = cis2_json_dump(p, j);
    return s ? cis2_b64url_encode(p, (const unsigned char *)s, strlen(s))
             : NULL;
}

apr_status_t cis2_assertion_sign(const char **pjwt, const cis2_rp_key_t *key,
                                 const char *alg, const char *client_id,
                                 const char *token_endpoint, apr_time_t now,
                                 apr_interval_time_t lifetime,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    const char *h, *b, *input, *jti;
    apr_int64_t iat = apr_time_sec(now);
    EVP_MD_CTX *ctx;
    unsigned char *sig;
    size_t siglen = 0;
    int ok;

    if (key == NULL || !key->can_sign) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "no private key to sign "
                            "the client assertion with");
    }
    if (!cis2_assertion_alg_ok(alg)) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "client assertion "
                            "algorithm must be RS256 or RS512");
    }
    if (client_id == NULL || token_endpoint == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "client id or token "
                            "endpoint missing");
    }
    if (lifetime <= 0 || lifetime > MAX_LIFETIME) {
        lifetime = MAX_LIFETIME;
    }
    jti = cis2_random_token(p, 16);
    if (jti == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "random generator "
                            "failed");
    }
    h = b64_json(p, json_pack("{s:s, s:s, s:s}", "alg", alg, "kid", key->kid,
                              "typ", "JWT"));
    /* aud is the discovered token endpoint verbatim (":443" kept):
     * CIS2.md §4, §12 */
    b = b64_json(p, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}",
                              "iss", client_id, "sub", client_id,
                              "aud", token_endpoint, "jti", jti,
                              "iat", (json_int_t)iat,
                              "exp", (json_int_t)(iat
                                                  + apr_time_sec(lifetime))));
    if (h == NULL || b == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "cannot build the client "
                            "assertion");
    }
    input = apr_pstrcat(p, h, ".", b, NULL);

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "out of memory");
    }
    ok = EVP_DigestSignInit(ctx, NULL, strcmp(alg, "RS512") == 0
                            ? EVP_sha512() : EVP_sha256(), NULL,
                            key->pkey) == 1
         && EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input,
                           strlen(input)) == 1;
    sig = ok ? apr_palloc(p, siglen) : NULL;
    ok = ok && EVP_DigestSign(ctx, sig, &siglen,
                              (const unsigned char *)input,
                              strlen(input)) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "signing the client "
                            "assertion failed");
    }
    *pjwt = apr_pstrcat(p, input, ".", cis2_b64url_encode(p, sig, siglen),
                        NULL);
    return APR_SUCCESS;
}

static json_t *public_jwk(const cis2_rp_key_t *k, const char *alg)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
                     "use", "sig", "alg", alg, "kid", k->kid, "n", k->n,
                     "e", k->e);
}

const char *cis2_assertion_jwks(apr_pool_t *p, const cis2_rp_key_t *current,
                                const cis2_rp_key_t *previous,
                                const char *alg)
{
    json_t *keys = json_array(), *jwks;

    if (current != NULL) {
        json_array_append_new(keys, public_jwk(current, alg));
    }
    if (previous != NULL
        && (current == NULL || strcmp(previous->kid, current->kid) != 0)) {
        json_array_append_new(keys, public_jwk(previous, alg));
    }
    jwks = json_pack("{s:o}", "keys", keys);
    if (jwks == NULL) {
        return NULL;
    }
    cis2_json_own(p, jwks);
    return cis2_json_dump(p, jwks);
}
