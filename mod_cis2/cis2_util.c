/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_util — see cis2_util.h. Also home of the error record helpers
 * declared in cis2.h.
 */
#include <stdarg.h>
#include <limits.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "cis2.h"
#include "cis2_util.h"

/* ---- error record ------------------------------------------------------- */

apr_status_t cis2_err_set(const cis2_err_t **perr, apr_pool_t *p, int code,
                          const char *fmt, ...)
{
    if (perr != NULL && p != NULL) {
        cis2_err_t *e = apr_palloc(p, sizeof(*e));
        va_list ap;

        va_start(ap, fmt);
        e->code = code;
        e->detail = apr_pvsprintf(p, fmt, ap);
        va_end(ap);
        *perr = e;
    }
    return APR_EGENERAL;
}

const char *cis2_err_name(int code)
{
    static const char *const names[CIS2_E__COUNT] = {
        [CIS2_E_NONE] = "none",
        [CIS2_E_INVALID] = "invalid",
        [CIS2_E_TOO_LARGE] = "too_large",
        [CIS2_E_DUPLICATE] = "duplicate",
        [CIS2_E_JSON] = "bad_json",
        [CIS2_E_CONFIG] = "config",
        [CIS2_E_HTTP] = "http_transport",
        [CIS2_E_TIMEOUT] = "timeout",
        [CIS2_E_HTTP_STATUS] = "http_status",
        [CIS2_E_REDIRECTED] = "redirected",
        [CIS2_E_DISCOVERY] = "discovery",
        [CIS2_E_ISSUER_MISMATCH] = "issuer_mismatch",
        [CIS2_E_JWKS] = "jwks",
        [CIS2_E_JWS_FORMAT] = "jws_format",
        [CIS2_E_ALG] = "bad_alg",
        [CIS2_E_KID_UNKNOWN] = "unknown_kid",
        [CIS2_E_SIGNATURE] = "bad_signature",
        [CIS2_E_ISS] = "bad_iss",
        [CIS2_E_AUD] = "bad_aud",
        [CIS2_E_AZP] = "bad_azp",
        [CIS2_E_EXPIRED] = "expired",
        [CIS2_E_IAT_FUTURE] = "iat_future",
        [CIS2_E_NOT_YET_VALID] = "not_yet_valid",
        [CIS2_E_NONCE] = "bad_nonce",
        [CIS2_E_CLAIM_MISSING] = "claim_missing",
        [CIS2_E_CLAIM_INVALID] = "claim_invalid",
        [CIS2_E_SUB_MISMATCH] = "sub_mismatch",
        [CIS2_E_AUTH_TIME] = "auth_time_stale",
        [CIS2_E_AAL] = "aal_too_low",
        [CIS2_E_IAL] = "ial_too_low",
        [CIS2_E_OP_ERROR] = "op_error",
        [CIS2_E_STATE] = "bad_state",
        [CIS2_E_NOT_FOUND] = "not_found",
        [CIS2_E_STORE_FULL] = "store_full",
        [CIS2_E_STORE_DOWN] = "store_down",
        [CIS2_E_CRYPTO] = "crypto",
    };

    if (code < 0 || code >= CIS2_E__COUNT || names[code] == NULL) {
        return "unknown";
    }
    return names[code];
}

/* ---- randomness ----------------------------------------------------------- */

apr_status_t cis2_random_bytes(unsigned char *buf, apr_size_t len)
{
    if (len > (apr_size_t)INT_MAX || RAND_bytes(buf, (int)len) != 1) {
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

const char *cis2_random_token(apr_pool_t *p, apr_size_t nbytes)
{
    unsigned char buf[64];
    const char *s;

    if (nbytes == 0 || nbytes > sizeof(buf)
        || cis2_random_bytes(buf, nbytes) != APR_SUCCESS) {
        return NULL;
    }
    s = cis2_b64url_encode(p, buf, nbytes);
    OPENSSL_cleanse(buf, sizeof(buf));
    return s;
}

apr_status_t cis2_random_tokens(const char **out, int n, apr_size_t nbytes,
                                apr_pool_t *p)
{
    unsigned char buf[256];
    apr_size_t total;
    int i;

    if (n <= 0 || nbytes == 0 || nbytes > sizeof(buf)
        || (apr_size_t)n > sizeof(buf) / nbytes) {
        return APR_EINVAL;
    }
    total = (apr_size_t)n * nbytes;
    if (cis2_random_bytes(buf, total) != APR_SUCCESS) {
        OPENSSL_cleanse(buf, total);    /* whatever part was written */
        return APR_EGENERAL;
    }
    for (i = 0; i < n; i++) {
        out[i] = cis2_b64url_encode(p, buf + (apr_size_t)i * nbytes, nbytes);
    }
    OPENSSL_cleanse(buf, total);
    return APR_SUCCESS;
}

const char *cis2_random_ref(apr_pool_t *p)
{
    /* 32 symbols, no 0/O/1/l/I: easy to read out over the phone */
    static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    unsigned char buf[8];
    char *out = apr_palloc(p, sizeof(buf) + 1);
    apr_size_t i;

    if (cis2_random_bytes(buf, sizeof(buf)) != APR_SUCCESS) {
        return "00000000";
    }
    for (i = 0; i < sizeof(buf); i++) {
        out[i] = alphabet[buf[i] & 31];
    }
    out[sizeof(buf)] = '\0';
    return out;
}

/* ---- comparison ----------------------------------------------------------- */

int cis2_ct_equal(const void *a, apr_size_t alen, const void *b,
                  apr_size_t blen)
{
    if (alen != blen) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, alen) == 0;
}

int cis2_ct_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    return cis2_ct_equal(a, strlen(a), b, strlen(b));
}

/* ---- base64url ------------------------------------------------------------ */

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const char *cis2_b64url_encode(apr_pool_t *p, const unsigned char *data,
                               apr_size_t len)
{
    apr_size_t outlen = (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
    char *out = apr_palloc(p, outlen + 1);
    char *o = out;
    apr_size_t i = 0;

    while (i + 3 <= len) {
        apr_uint32_t v = ((apr_uint32_t)data[i] << 16)
                         | ((apr_uint32_t)data[i + 1] << 8) | data[i + 2];
        *o++ = b64url_chars[(v >> 18) & 63];
        *o++ = b64url_chars[(v >> 12) & 63];
        *o++ = b64url_chars[(v >> 6) & 63];
        *o++ = b64url_chars[v & 63];
        i += 3;
    }
    if (len - i == 1) {
        apr_uint32_t v = (apr_uint32_t)data[i] << 16;
        *o++ = b64url_chars[(v >> 18) & 63];
        *o++ = b64url_chars[(v >> 12) & 63];
    }
    else if (len - i == 2) {
        apr_uint32_t v = ((apr_uint32_t)data[i] << 16)
                         | ((apr_uint32_t)data[i + 1] << 8);
        *o++ = b64url_chars[(v >> 18) & 63];
        *o++ = b64url_chars[(v >> 12) & 63];
        *o++ = b64url_chars[(v >> 6) & 63];
    }
    *o = '\0';
    return out;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

apr_status_t cis2_b64url_decode(unsigned char **pout, apr_size_t *poutlen,
                                const char *in, apr_size_t inlen,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    unsigned char *out, *o;
    apr_uint32_t acc = 0;
    int bits = 0;
    apr_size_t i;

    /* strip at most two '=' of padding; padding must complete a quantum */
    if (inlen > 0 && in[inlen - 1] == '=') {
        apr_size_t pad = (inlen > 1 && in[inlen - 2] == '=') ? 2 : 1;

        if (inlen % 4 != 0) {
            return cis2_err_set(perr, p, CIS2_E_INVALID,
                                "base64url: bad padding");
        }
        inlen -= pad;
    }
    if (inlen % 4 == 1) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "base64url: impossible length");
    }
    out = o = apr_palloc(p, (inlen / 4) * 3 + 3);
    for (i = 0; i < inlen; i++) {
        int v = b64url_value((unsigned char)in[i]);

        if (v < 0) {
            return cis2_err_set(perr, p, CIS2_E_INVALID,
                                "base64url: character outside the alphabet");
        }
        acc = (acc << 6) | (apr_uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* leftover bits must be zero (canonical encoding, RFC 4648 §3.5) */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "base64url: non-zero trailing bits");
    }
    *o = '\0';
    *pout = out;
    *poutlen = (apr_size_t)(o - out);
    return APR_SUCCESS;
}

/* ---- hashing -------------------------------------------------------------- */

void cis2_sha256(unsigned char out[32], const void *data, apr_size_t len)
{
    unsigned int n = 32;

    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* ---- percent coding and forms ------------------------------------------- */

static int is_unreserved(unsigned char c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

const char *cis2_url_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = 0;
    const unsigned char *c;
    char *out, *o;

    for (c = (const unsigned char *)s; *c; c++) {
        n += is_unreserved(*c) ? 1 : 3;
    }
    out = o = apr_palloc(p, n + 1);
    for (c = (const unsigned char *)s; *c; c++) {
        if (is_unreserved(*c)) {
            *o++ = (char)*c;
        }
        else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

apr_status_t cis2_form_decode(char **pout, const char *in, apr_size_t inlen,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    char *out = apr_palloc(p, inlen + 1);
    apr_size_t i, o = 0;

    for (i = 0; i < inlen; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == '+') {
            out[o++] = ' ';
        }
        else if (c == '%') {
            int hi, lo;

            if (i + 2 >= inlen) {
                return cis2_err_set(perr, p, CIS2_E_INVALID,
                                    "truncated percent escape");
            }
            hi = hexval((unsigned char)in[i + 1]);
            lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) {
                return cis2_err_set(perr, p, CIS2_E_INVALID,
                                    "malformed percent escape");
            }
            if (hi == 0 && lo == 0) {
                return cis2_err_set(perr, p, CIS2_E_INVALID,
                                    "encoded NUL");
            }
            out[o++] = (char)((hi << 4) | lo);
            i += 2;
        }
        else if (c == '\0') {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "NUL in form");
        }
        else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    *pout = out;
    return APR_SUCCESS;
}

apr_status_t cis2_form_parse(apr_table_t **pt, const char *in,
                             apr_size_t max_len, int max_fields,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    apr_table_t *t;
    apr_size_t len;
    const char *s, *end;
    int fields = 0;

    if (in == NULL) {
        in = "";               /* NULL + 0 below would be undefined */
    }
    len = strlen(in);
    if (len > max_len) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "form of %" APR_SIZE_T_FMT " bytes is over the "
                            "limit of %" APR_SIZE_T_FMT, len, max_len);
    }
    t = apr_table_make(p, 8);
    s = in;
    end = in + len;
    while (s != NULL && s < end) {
        const char *amp = memchr(s, '&', (apr_size_t)(end - s));
        const char *pair_end = amp ? amp : end;
        const char *eq;
        char *key, *val;

        if (pair_end > s) {
            if (++fields > max_fields) {
                return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                                    "more than %d form fields", max_fields);
            }
            eq = memchr(s, '=', (apr_size_t)(pair_end - s));
            if (cis2_form_decode(&key, s,
                                 (apr_size_t)((eq ? eq : pair_end) - s),
                                 perr, p) != APR_SUCCESS) {
                return APR_EGENERAL;
            }
            if (eq) {
                if (cis2_form_decode(&val, eq + 1,
                                     (apr_size_t)(pair_end - eq - 1),
                                     perr, p) != APR_SUCCESS) {
                    return APR_EGENERAL;
                }
            }
            else {
                val = "";
            }
            apr_table_addn(t, key, val);
        }
        s = amp ? amp + 1 : NULL;
    }
    *pt = t;
    return APR_SUCCESS;
}

/* OAuth parameter names are case-sensitive (RFC 6749 §3.1), but APR tables
 * compare keys case-insensitively: scan the entries ourselves. */
apr_status_t cis2_form_get_unique(const char **pval, const apr_table_t *t,
                                  const char *name,
                                  const cis2_err_t **perr, apr_pool_t *p)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    const char *first = NULL;
    int i, count = 0;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key != NULL && strcmp(e[i].key, name) == 0
            && count++ == 0) {
            first = e[i].val;
        }
    }
    if (count > 1) {
        return cis2_err_set(perr, p, CIS2_E_DUPLICATE,
                            "parameter '%s' given %d times", name, count);
    }
    *pval = first;
    return APR_SUCCESS;
}

const char *cis2_html_escape(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    if (s == NULL) {
        return "";
    }
    for (c = s; *c; c++) {
        switch (*c) {
        case '&': n += 5; break;
        case '<': case '>': n += 4; break;
        case '"': case '\'': n += 6; break;
        default: n++;
        }
    }
    out = o = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        switch (*c) {
        case '&': memcpy(o, "&amp;", 5); o += 5; break;
        case '<': memcpy(o, "&lt;", 4); o += 4; break;
        case '>': memcpy(o, "&gt;", 4); o += 4; break;
        case '"': memcpy(o, "&quot;", 6); o += 6; break;
        case '\'': memcpy(o, "&#x27;", 6); o += 6; break;
        default: *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

/* ---- configuration values ---------------------------------------------- */

/* Parse leading decimal digits into *pv; returns the first non-digit or
 * NULL on overflow / no digits. */
static const char *parse_u64(const char *s, apr_uint64_t *pv)
{
    apr_uint64_t v = 0;
    const char *c = s;

    while (*c >= '0' && *c <= '9') {
        unsigned d = (unsigned)(*c - '0');

        if (v > (APR_UINT64_MAX - d) / 10) {
            return NULL;
        }
        v = v * 10 + d;
        c++;
    }
    if (c == s) {
        return NULL;
    }
    *pv = v;
    return c;
}

apr_status_t cis2_parse_duration(apr_interval_time_t *pout, const char *s)
{
    apr_uint64_t v, mult;
    const char *rest;

    if (s == NULL || (rest = parse_u64(s, &v)) == NULL) {
        return APR_EINVAL;
    }
    if (*rest == '\0' || strcmp(rest, "s") == 0) {
        mult = 1;
    }
    else if (strcmp(rest, "m") == 0 || strcmp(rest, "min") == 0) {
        mult = 60;
    }
    else if (strcmp(rest, "h") == 0) {
        mult = 3600;
    }
    else if (strcmp(rest, "d") == 0) {
        mult = 86400;
    }
    else if (strcmp(rest, "ms") == 0) {
        if (v > APR_INT64_MAX / 1000) {
            return APR_EINVAL;
        }
        *pout = (apr_interval_time_t)(v * 1000);
        return APR_SUCCESS;
    }
    else {
        return APR_EINVAL;
    }
    /* keep far away from apr_time_t overflow: at most ~100 years */
    if (v > (apr_uint64_t)3153600000u / mult) {
        return APR_EINVAL;
    }
    *pout = apr_time_from_sec((apr_time_t)(v * mult));
    return APR_SUCCESS;
}

apr_status_t cis2_parse_size(apr_size_t *pout, const char *s)
{
    apr_uint64_t v, mult = 1;
    const char *rest;

    if (s == NULL || (rest = parse_u64(s, &v)) == NULL) {
        return APR_EINVAL;
    }
    if (*rest == '\0') {
        mult = 1;
    }
    else if ((rest[0] == 'K' || rest[0] == 'k') && rest[1] == '\0') {
        mult = 1024;
    }
    else if ((rest[0] == 'M' || rest[0] == 'm') && rest[1] == '\0') {
        mult = 1024 * 1024;
    }
    else if ((rest[0] == 'G' || rest[0] == 'g') && rest[1] == '\0') {
        mult = 1024 * 1024 * 1024;
    }
    else {
        return APR_EINVAL;
    }
    if (v > APR_SIZE_MAX / mult) {
        return APR_EINVAL;
    }
    *pout = (apr_size_t)(v * mult);
    return APR_SUCCESS;
}

int cis2_has_ctl(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            return 1;
        }
    }
    return 0;
}
