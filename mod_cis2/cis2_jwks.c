/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_jwks — see cis2_jwks.h. A JWKS (RFC 7517 §5) becomes an array of
 * cjose RSA keys, each released by a cleanup of the pool that owns the set,
 * so replacing a cached JWKS is destroying its subpool. Only keys that can
 * verify a JWS are kept: RSA, `use` absent or "sig", `key_ops` absent or
 * containing "verify", an `alg` (if any) that we implement, and a modulus of
 * at least 2048 bits. Kids are opaque (CIS2 uses standard base64 with '/',
 * '+', '='): compared byte for byte, never decoded. cis2_jwt.c verifies with
 * the key chosen here.
 */
#include <string.h>
#include <apr_strings.h>

#include "cis2_jwks.h"
#include "cis2_jwt.h"
#include "cis2_json.h"
#include "cis2_log.h"
#include "cis2_util.h"

#define JWKS_MAX_KEYS     64
#define JWKS_MIN_RSA_BITS 2048

typedef struct jwk_entry {
    cjose_jwk_t *jwk;
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

/* An RSA public exponent (big-endian) that is odd and at least 3. */
static int exponent_ok(const unsigned char *e, apr_size_t n)
{
    apr_size_t i;

    if (!(e[n - 1] & 1)) {
        return 0;
    }
    for (i = 0; i + 1 < n; i++) {
        if (e[i] != 0) {
            return 1;
        }
    }
    return e[n - 1] > 1;
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
        else if (i == 1 && !exponent_ok(bin, binlen)) {
            /* a public exponent must be odd and at least 3 (e = 1 would
             * make every "signature" its own message) */
            why = "RSA public exponent is even or 1";
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
    cjose_err cerr;
    jwk_entry *e;

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
        else {
            apr_pool_cleanup_register(p, jwk, jwk_release,
                                      apr_pool_cleanup_null);
            e = apr_array_push(jwks->keys);
            e->jwk = jwk;
            e->kid = kid ? apr_pstrdup(p, kid) : NULL;
            e->alg = cis2_json_str(k, "alg");
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

apr_status_t cis2_jwks_find(const cjose_jwk_t **pkey, const cis2_jwks_t *jwks,
                            const char *kid, const char *alg,
                            const cis2_err_t **perr, apr_pool_t *p)
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
        *pkey = keys[0].jwk;
        return APR_SUCCESS;
    }
    for (i = 0; i < jwks->keys->nelts; i++) {
        /* byte for byte: kids are opaque, never decoded or case-folded */
        if (keys[i].kid == NULL || strcmp(keys[i].kid, kid) != 0) {
            continue;
        }
        kid_seen = 1;
        if (alg_fits(&keys[i], alg)) {
            *pkey = keys[i].jwk;
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
