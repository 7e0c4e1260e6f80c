/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_jwks — see cis2_jwks.h. A JWKS (RFC 7517 §5) becomes an array of
 * cjose RSA keys, each released by a cleanup of the pool that owns the set,
 * so replacing a cached JWKS is destroying its subpool. Only keys that can
 * verify a JWS are kept: RSA, `use` absent or "sig", `key_ops` absent or
 * containing "verify", an `alg` (if any) that we implement, and a modulus of
 * at least 2048 bits. Kids are opaque (CIS2 uses standard base64 with '/',
 * '+', '='): compared byte for byte, never decoded. cis2_jwt.c verifies with
 * the key chosen here, as an OpenSSL key made once when the set is parsed
 * (cjose still imports and checks each key; it no longer verifies).
 */
#include <string.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "cis2_jwks.h"
#include "cis2_jwt.h"
#include "cis2_json.h"
#include "cis2_log.h"
#include "cis2_util.h"

#define JWKS_MAX_KEYS     64
#define JWKS_MIN_RSA_BITS 2048

typedef struct jwk_entry {
    cjose_jwk_t *jwk;
    EVP_PKEY *pkey;     /* the same public key for OpenSSL, built once */
    EVP_MD_CTX *tmpl[2];/* verification set up for RS256, PS256 (or NULL) */
    apr_size_t mod_len; /* its modulus in bytes */
    const char *kid;    /* the key's kid, or NULL */
    const char *alg;    /* the key's own alg member, or NULL */
} jwk_entry;

struct cis2_jwks_t {
    apr_array_header_t *keys;   /* jwk_entry, usable keys only */
};

static apr_status_t jwk_release(void *data)
{
    cjose_jwk_release((cjose_jwk_t *)data);
    return APR_SUCCESS;
}

static apr_status_t pkey_release(void *data)
{
    EVP_PKEY_free((EVP_PKEY *)data);
    return APR_SUCCESS;
}

static apr_status_t mdctx_release(void *data)
{
    EVP_MD_CTX_free((EVP_MD_CTX *)data);
    return APR_SUCCESS;
}

/* the algs a key keeps a ready verification context for (jwk_entry.tmpl) */
static const char *const tmpl_algs[2] = {"RS256", "PS256"};

/* The digest of a JWS alg (RFC 7518 §3.1): the number after RS/PS. */
static const EVP_MD *alg_md(const char *alg)
{
    if ((alg[0] != 'R' && alg[0] != 'P') || alg[1] != 'S') {
        return NULL;
    }
    if (strcmp(alg + 2, "256") == 0) {
        return EVP_sha256();
    }
    if (strcmp(alg + 2, "384") == 0) {
        return EVP_sha384();
    }
    if (strcmp(alg + 2, "512") == 0) {
        return EVP_sha512();
    }
    return NULL;
}

EVP_MD_CTX *cis2_jwks_verify_ctx(EVP_PKEY *key, const char *alg)
{
    const EVP_MD *md = alg != NULL ? alg_md(alg) : NULL;
    EVP_MD_CTX *mctx;
    EVP_PKEY_CTX *pctx = NULL;

    if (md == NULL || key == NULL || (mctx = EVP_MD_CTX_new()) == NULL) {
        return NULL;
    }
    if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key) != 1
        || (alg[0] == 'P'
            && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING)
                != 1
                || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_DIGEST)
                   != 1))) {
        EVP_MD_CTX_free(mctx);      /* frees pctx with it */
        ERR_clear_error();          /* not left for a later TLS call */
        return NULL;
    }
    return mctx;
}

/* The RSA public key (n, e: members bad_rsa_members has already proven
 * canonical base64url) as an OpenSSL key, made once per JWKS so a login's
 * verification neither imports the key nor goes through cjose. NULL on
 * failure. */
static EVP_PKEY *rsa_pkey(const json_t *k, apr_pool_t *p)
{
    unsigned char *nbin, *ebin;
    apr_size_t nlen, elen;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    const json_t *jn = json_object_get(k, "n"), *je = json_object_get(k, "e");

    if (cis2_b64url_decode(&nbin, &nlen, json_string_value(jn),
                           json_string_length(jn), NULL, p) != APR_SUCCESS
        || cis2_b64url_decode(&ebin, &elen, json_string_value(je),
                              json_string_length(je), NULL, p)
           != APR_SUCCESS) {
        return NULL;
    }
    n = BN_bin2bn(nbin, (int)nlen, NULL);
    e = BN_bin2bn(ebin, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    /* a public exponent must be odd and at least 3 (e = 1 would make
     * every "signature" its own message) */
    if (n == NULL || e == NULL || bld == NULL
        || !BN_is_odd(e) || BN_is_one(e)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* ---- parsing ------------------------------------------------------------- */

static int ops_allow_verify(const json_t *ops)
{
    size_t i;

    for (i = 0; i < json_array_size(ops); i++) {
        const char *op = json_string_value(json_array_get(ops, i));

        if (op != NULL && strcmp(op, "verify") == 0) {
            return 1;
        }
    }
    return 0;
}

/* cjose's own base64url decoder asserts (abort()) on impossible lengths
 * such as "r=" (fuzz_jwks, docs/security.md F-1): a hostile JWKS must never
 * reach it with one. Every RSA member cjose decodes is first checked with
 * our strict decoder: n and e required, private members optional. */
static const char *bad_rsa_members(const json_t *k, apr_pool_t *p)
{
    static const char *const members[] = { "n", "e", "d", "p", "q", "dp",
                                           "dq", "qi" };
    const char *why = NULL;
    size_t i;

    /* the decoded bytes (at most 3/4 of the bounded document) go to p: no
     * subpool, as p may be a provider generation's unmanaged pool */
    for (i = 0; why == NULL && i < sizeof(members) / sizeof(members[0]);
         i++) {
        const json_t *v = json_object_get(k, members[i]);
        unsigned char *bin;
        apr_size_t binlen;

        if (v == NULL) {
            if (i < 2) {
                why = "RSA key without n or e";
            }
        }
        else if (!json_is_string(v)
                 || cis2_b64url_decode(&bin, &binlen, json_string_value(v),
                                       json_string_length(v), NULL, p)
                    != APR_SUCCESS
                 || binlen == 0) {
            why = "RSA key member is not canonical base64url";
        }
    }
    return why;
}

/* Why key i cannot be used, or NULL when its members qualify it. */
static const char *unusable_reason(const json_t *k, apr_pool_t *p)
{
    const char *kty, *use, *why;
    json_t *v;

    if (!json_is_object(k)) {
        return "not a JSON object";
    }
    kty = cis2_json_str(k, "kty");
    if (kty == NULL) {
        return "no kty";
    }
    if (strcmp(kty, "RSA") != 0) {
        return "kty is not RSA";
    }
    v = json_object_get(k, "use");
    if (v != NULL) {
        use = json_string_value(v);
        if (use == NULL || strcmp(use, "sig") != 0) {
            return "use is not sig";
        }
    }
    v = json_object_get(k, "key_ops");
    if (v != NULL && (!json_is_array(v) || !ops_allow_verify(v))) {
        return "key_ops does not allow verify";
    }
    if ((why = bad_rsa_members(k, p)) != NULL) {
        return why;
    }
    v = json_object_get(k, "kid");
    if (v != NULL && !json_is_string(v)) {
        return "kid is not a string";
    }
    v = json_object_get(k, "alg");
    if (v != NULL && (!json_is_string(v)
                      || !cis2_jwt_alg_supported(json_string_value(v)))) {
        return "alg is not an RSA signature algorithm we implement";
    }
    return NULL;
}

static void add_key(cis2_jwks_t *jwks, json_t *k, size_t idx, apr_pool_t *p)
{
    const char *why = unusable_reason(k, p);
    const char *kid = json_is_object(k) ? cis2_json_str(k, "kid") : NULL;
    cjose_jwk_t *jwk;
    EVP_PKEY *pkey = NULL;
    cjose_err cerr;
    jwk_entry *e;
    int i;

    if (why == NULL) {
        /* a json_t is what cjose keeps behind cjose_header_t */
        jwk = cjose_jwk_import_json((cjose_header_t *)k, &cerr);
        if (jwk == NULL) {
            why = "malformed RSA key";
        }
        else if (cjose_jwk_get_kty(jwk, &cerr) != CJOSE_JWK_KTY_RSA) {
            cjose_jwk_release(jwk);
            why = "not an RSA key after import";
        }
        else if (cjose_jwk_get_keysize(jwk, &cerr) < JWKS_MIN_RSA_BITS) {
            cjose_jwk_release(jwk);
            why = "RSA modulus shorter than 2048 bits";
        }
        else if ((pkey = rsa_pkey(k, p)) == NULL
                 || EVP_PKEY_get_bits(pkey)
                    != (int)cjose_jwk_get_keysize(jwk, &cerr)) {
            /* cannot happen for a key cjose took; refuse rather than
             * verify with a key other than the one checked above */
            EVP_PKEY_free(pkey);
            cjose_jwk_release(jwk);
            why = "RSA key not usable by OpenSSL";
        }
        else {
            apr_pool_cleanup_register(p, jwk, jwk_release,
                                      apr_pool_cleanup_null);
            apr_pool_cleanup_register(p, pkey, pkey_release,
                                      apr_pool_cleanup_null);
            e = apr_array_push(jwks->keys);
            e->jwk = jwk;
            e->pkey = pkey;
            e->mod_len = (apr_size_t)(EVP_PKEY_get_bits(pkey) + 7) / 8;
            e->alg = cis2_json_str(k, "alg");
            for (i = 0; i < 2; i++) {
                /* a failure only means the slower path per token; none
                 * for an alg the key's own `alg` rules out */
                e->tmpl[i] = e->alg == NULL
                             || strcmp(e->alg, tmpl_algs[i]) == 0
                             ? cis2_jwks_verify_ctx(pkey, tmpl_algs[i])
                             : NULL;
                if (e->tmpl[i] != NULL) {
                    apr_pool_cleanup_register(p, e->tmpl[i], mdctx_release,
                                              apr_pool_cleanup_null);
                }
            }
            e->kid = kid ? apr_pstrdup(p, kid) : NULL;
            e->alg = e->alg ? apr_pstrdup(p, e->alg) : NULL;
            return;
        }
    }
    cis2_log(CIS2_LOG_MARK, CIS2_LOG_DEBUG, APR_SUCCESS, p,
             "JWKS: skipping key %" APR_SIZE_T_FMT " (kid %.100s): %s",
             (apr_size_t)idx, kid ? kid : "(none)", why);
}

apr_status_t cis2_jwks_parse(cis2_jwks_t **pjwks, const char *json,
                             apr_size_t len, const cis2_err_t **perr,
                             apr_pool_t *p)
{
    const cis2_err_t *jerr = NULL;
    cis2_jwks_t *jwks;
    json_t *doc, *keys;
    size_t i, n;

    if (json == NULL) {
        return cis2_err_set(perr, p, CIS2_E_JWKS, "no JWKS document");
    }
    if (len > CIS2_MAX_HTTP_BODY) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "JWKS of %" APR_SIZE_T_FMT " bytes is over the "
                            "limit of %d", len, CIS2_MAX_HTTP_BODY);
    }
    if (cis2_json_parse_object(&doc, json, len, CIS2_MAX_HTTP_BODY, &jerr, p)
        != APR_SUCCESS) {
        return cis2_err_set(perr, p, jerr->code == CIS2_E_TOO_LARGE
                                     ? CIS2_E_TOO_LARGE : CIS2_E_JWKS,
                            "JWKS: %s", jerr->detail);
    }
    keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        return cis2_err_set(perr, p, CIS2_E_JWKS,
                            "JWKS has no \"keys\" array");
    }
    n = json_array_size(keys);
    if (n > JWKS_MAX_KEYS) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "JWKS has %" APR_SIZE_T_FMT " keys, more than "
                            "%d", (apr_size_t)n, JWKS_MAX_KEYS);
    }
    jwks = apr_pcalloc(p, sizeof(*jwks));
    jwks->keys = apr_array_make(p, n > 0 ? (int)n : 1, sizeof(jwk_entry));
    for (i = 0; i < n; i++) {
        add_key(jwks, json_array_get(keys, i), i, p);
    }
    if (jwks->keys->nelts == 0) {
        /* keys already imported are none: every skipped key was released */
        return cis2_err_set(perr, p, CIS2_E_JWKS,
                            "JWKS has no usable RSA signing key (%"
                            APR_SIZE_T_FMT " keys skipped)", (apr_size_t)n);
    }
    *pjwks = jwks;
    return APR_SUCCESS;
}

int cis2_jwks_count(const cis2_jwks_t *jwks)
{
    return jwks != NULL ? jwks->keys->nelts : 0;
}

/* ---- selection ----------------------------------------------------------- */

/* A key whose own alg member is set may only verify that algorithm
 * (RFC 7517 §4.4); one without may verify any RSA algorithm, all of which
 * the parser's filter already guarantees the key can serve. */
static int alg_fits(const jwk_entry *e, const char *alg)
{
    if (e->alg == NULL) {
        return 1;
    }
    return alg != NULL && strcmp(e->alg, alg) == 0;
}

static apr_status_t find_entry(const jwk_entry **pkey,
                               const cis2_jwks_t *jwks, const char *kid,
                               const char *alg, const cis2_err_t **perr,
                               apr_pool_t *p)
{
    const jwk_entry *keys;
    int i, kid_seen = 0;

    if (jwks == NULL || jwks->keys->nelts == 0) {
        return cis2_err_set(perr, p, CIS2_E_KID_UNKNOWN, "no JWKS keys");
    }
    keys = (const jwk_entry *)jwks->keys->elts;
    if (kid == NULL) {
        /* without a kid only an unambiguous set may answer */
        if (jwks->keys->nelts != 1) {
            return cis2_err_set(perr, p, CIS2_E_KID_UNKNOWN,
                                "token has no kid and the JWKS holds %d "
                                "keys", jwks->keys->nelts);
        }
        if (!alg_fits(&keys[0], alg)) {
            return cis2_err_set(perr, p, CIS2_E_KID_UNKNOWN,
                                "the only JWKS key is for another alg");
        }
        *pkey = &keys[0];
        return APR_SUCCESS;
    }
    for (i = 0; i < jwks->keys->nelts; i++) {
        /* byte for byte: kids are opaque, never decoded or case-folded */
        if (keys[i].kid == NULL || strcmp(keys[i].kid, kid) != 0) {
            continue;
        }
        kid_seen = 1;
        if (alg_fits(&keys[i], alg)) {
            *pkey = &keys[i];
            return APR_SUCCESS;
        }
    }
    if (kid_seen) {
        return cis2_err_set(perr, p, CIS2_E_KID_UNKNOWN,
                            "the JWKS key with the token's kid is for "
                            "another alg");
    }
    return cis2_err_set(perr, p, CIS2_E_KID_UNKNOWN,
                        "no JWKS key has the token's kid");
}

apr_status_t cis2_jwks_find(const cjose_jwk_t **pkey, const cis2_jwks_t *jwks,
                            const char *kid, const char *alg,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    const jwk_entry *e;

    if (find_entry(&e, jwks, kid, alg, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    *pkey = e->jwk;
    return APR_SUCCESS;
}

apr_status_t cis2_jwks_find_pkey(EVP_PKEY **ppkey, apr_size_t *pmod_len,
                                 const EVP_MD_CTX **ptmpl,
                                 const cis2_jwks_t *jwks, const char *kid,
                                 const char *alg, const cis2_err_t **perr,
                                 apr_pool_t *p)
{
    const jwk_entry *e;
    int i;

    if (find_entry(&e, jwks, kid, alg, perr, p) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    *ppkey = e->pkey;
    *pmod_len = e->mod_len;
    if (ptmpl != NULL) {
        *ptmpl = NULL;
        for (i = 0; i < 2 && alg != NULL; i++) {
            if (strcmp(alg, tmpl_algs[i]) == 0) {
                *ptmpl = e->tmpl[i];
            }
        }
    }
    return APR_SUCCESS;
}
