/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * jwtmint — see jwtmint.h. Signs with OpenSSL EVP directly (not cjose), so
 * the module's verifier is tested against an independent signer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwtmint.h"
#include "cis2_util.h"

const char *jwtmint_b64url(apr_pool_t *p, const void *data, size_t len)
{
    return cis2_b64url_encode(p, (const unsigned char *)data, len);
}

static const EVP_MD *md_for(const char *alg)
{
    const char *bits = alg + strlen(alg) - 3;

    if (strlen(alg) != 5) {
        return NULL;
    }
    if (strcmp(bits, "256") == 0) {
        return EVP_sha256();
    }
    if (strcmp(bits, "384") == 0) {
        return EVP_sha384();
    }
    if (strcmp(bits, "512") == 0) {
        return EVP_sha512();
    }
    return NULL;
}

static const char *make_header(apr_pool_t *p, const jwtmint_opts_t *o)
{
    json_t *h = json_object();
    char *s;
    const char *out;

    if (!(o->flags & JWTMINT_NO_ALG)) {
        json_object_set_new(h, "alg", json_string(o->alg ? o->alg : "RS256"));
    }
    if (o->kid != NULL) {
        json_object_set_new(h, "kid", json_string(o->kid));
    }
    if (o->typ != NULL) {
        json_object_set_new(h, "typ", json_string(o->typ));
    }
    if (o->header_extra != NULL) {
        json_t *x = json_loads(o->header_extra, 0, NULL);

        if (!json_is_object(x)) {
            fprintf(stderr, "jwtmint: header_extra is not a JSON object\n");
            json_decref(x);
            json_decref(h);
            return NULL;
        }
        json_object_update(h, x);
        json_decref(x);
    }
    s = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

/* Sign `input` with an RS* or PS* algorithm and the PEM key in `file`. */
static unsigned char *sign_rsa(apr_pool_t *p, size_t *plen, const char *alg,
                               const char *file, const char *input, int flags)
{
    const EVP_MD *md = md_for(alg);
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t len = 0;
    FILE *f;

    if (md == NULL || file == NULL) {
        fprintf(stderr, "jwtmint: %s needs a digest and a key file\n", alg);
        return NULL;
    }
    f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "jwtmint: cannot open %s\n", file);
        return NULL;
    }
    pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ctx = EVP_MD_CTX_new();
    if (pk == NULL || ctx == NULL
        || EVP_DigestSignInit(ctx, &pctx, md, NULL, pk) != 1) {
        fprintf(stderr, "jwtmint: cannot sign with %s\n", file);
        goto done;
    }
    if (alg[0] == 'P'
        && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                   (flags & JWTMINT_PSS_SALT_MAX) ? RSA_PSS_SALTLEN_MAX
                                                  : RSA_PSS_SALTLEN_DIGEST)
               != 1)) {
        goto done;
    }
    if (EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input,
                       strlen(input)) != 1) {
        goto done;
    }
    sig = apr_palloc(p, len);
    if (EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input,
                       strlen(input)) != 1) {
        sig = NULL;
        goto done;
    }
    *plen = len;

done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return sig;
}

const char *jwtmint(apr_pool_t *p, const jwtmint_opts_t *o,
                    const char *payload_json)
{
    const char *alg = o->alg ? o->alg : "RS256";
    const char *salg = o->sign_alg ? o->sign_alg : alg;
    const char *hdr, *input;
    unsigned char *sig = NULL;
    size_t siglen = 0;

    hdr = o->header_raw ? o->header_raw : make_header(p, o);
    if (hdr == NULL) {
        return NULL;
    }
    input = apr_pstrcat(p, jwtmint_b64url(p, hdr, strlen(hdr)), ".",
                        jwtmint_b64url(p, payload_json, strlen(payload_json)),
                        NULL);
    if (strcmp(salg, "none") == 0 || (o->flags & JWTMINT_NO_SIG)) {
        sig = NULL;
    }
    else if (strncmp(salg, "HS", 2) == 0) {
        unsigned int n = EVP_MAX_MD_SIZE;

        if (md_for(salg) == NULL) {
            fprintf(stderr, "jwtmint: unknown alg %s\n", salg);
            return NULL;
        }
        sig = apr_palloc(p, EVP_MAX_MD_SIZE);
        if (HMAC(md_for(salg), o->hmac_key, (int)o->hmac_key_len,
                 (const unsigned char *)input, strlen(input), sig, &n)
            == NULL) {
            return NULL;
        }
        siglen = n;
    }
    else if (strncmp(salg, "RS", 2) == 0 || strncmp(salg, "PS", 2) == 0) {
        sig = sign_rsa(p, &siglen, salg, o->key_file, input, o->flags);
        if (sig == NULL) {
            return NULL;
        }
    }
    else {
        fprintf(stderr, "jwtmint: cannot sign with alg %s\n", salg);
        return NULL;
    }
    if ((o->flags & JWTMINT_TAMPER) && siglen > 0) {
        sig[siglen / 2] ^= 0x01;
    }
    return apr_pstrcat(p, input, ".", jwtmint_b64url(p, sig, siglen), NULL);
}
