/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_json — see cis2_json.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "cis2_json.h"

static apr_status_t json_release(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *cis2_json_own(apr_pool_t *p, json_t *j)
{
    if (j != NULL) {
        apr_pool_cleanup_register(p, j, json_release, apr_pool_cleanup_null);
    }
    return j;
}

/* Nesting depth of JSON text, scanned before jansson sees it, so hostile
 * input cannot drive the parser's recursion deep. Strings are skipped with
 * their escapes; returns the maximum depth. */
static int json_depth(const char *s, apr_size_t len)
{
    int depth = 0, max = 0, in_str = 0;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\') {
                i++;
            }
            else if (c == '"') {
                in_str = 0;
            }
        }
        else if (c == '"') {
            in_str = 1;
        }
        else if (c == '{' || c == '[') {
            if (++depth > max) {
                max = depth;
            }
        }
        else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

apr_status_t cis2_json_parse_object(json_t **pj, const char *text,
                                    apr_size_t len, apr_size_t max_len,
                                    const cis2_err_t **perr, apr_pool_t *p)
{
    json_error_t jerr;
    json_t *j;

    if (text == NULL) {
        return cis2_err_set(perr, p, CIS2_E_JSON, "no JSON text");
    }
    if (len > max_len) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "JSON of %" APR_SIZE_T_FMT " bytes is over the "
                            "limit of %" APR_SIZE_T_FMT, len, max_len);
    }
    if (json_depth(text, len) > CIS2_MAX_JSON_DEPTH) {
        return cis2_err_set(perr, p, CIS2_E_JSON,
                            "JSON nested deeper than %d", CIS2_MAX_JSON_DEPTH);
    }
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        /* only the position: jansson's own text quotes the input ("near
         * '...'"), which may hold a token or a nonce */
        return cis2_err_set(perr, p, CIS2_E_JSON, "not valid JSON (line %d, "
                            "column %d)", jerr.line, jerr.column);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return cis2_err_set(perr, p, CIS2_E_JSON, "JSON is not an object");
    }
    *pj = cis2_json_own(p, j);
    return APR_SUCCESS;
}

const char *cis2_json_str(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cis2_json_int(const json_t *obj, const char *name, apr_int64_t *pout)
{
    json_t *v = json_object_get(obj, name);

    if (json_is_integer(v)) {
        *pout = (apr_int64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        apr_size_t n = json_string_length(v);
        apr_int64_t acc = 0;
        apr_size_t i = 0;
        int neg = 0;

        if (n > 0 && s[0] == '-') {
            neg = 1;
            i = 1;
        }
        if (i == n || n - i > 18) {
            return 0;
        }
        for (; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return 0;
            }
            acc = acc * 10 + (s[i] - '0');
        }
        *pout = neg ? -acc : acc;
        return 1;
    }
    return 0;
}

#define NUMERIC_DATE_MAX ((apr_int64_t)1 << 40)

int cis2_json_numeric_date(const json_t *obj, const char *name,
                           apr_int64_t *pout)
{
    json_t *v = json_object_get(obj, name);

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);

        if (i < 0 || i >= NUMERIC_DATE_MAX) {
            return 0;
        }
        *pout = (apr_int64_t)i;
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);

        if (!isfinite(d) || d < 0 || d >= (double)NUMERIC_DATE_MAX) {
            return 0;
        }
        *pout = (apr_int64_t)d;
        return 1;
    }
    return 0;
}

const char *cis2_json_dump(apr_pool_t *p, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *out;

    if (s == NULL) {
        return "null";
    }
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

/* ---- writing ------------------------------------------------------------- */

/* cis2_json_write's output: one pool buffer, doubled when full (the old
 * one stays in the pool: a login's pool is short-lived). */
typedef struct wbuf {
    char *s;
    apr_size_t len, cap;
    apr_pool_t *p;
} wbuf;

static void wb_reserve(wbuf *b, apr_size_t need)
{
    apr_size_t cap;
    char *n;

    if (b->cap - b->len > need) {           /* room for need + NUL */
        return;
    }
    cap = b->cap * 2;
    if (cap < b->len + need + 1) {
        cap = b->len + need + 1;
    }
    n = apr_palloc(b->p, cap);
    memcpy(n, b->s, b->len);
    b->s = n;
    b->cap = cap;
}

static void wb_put(wbuf *b, const char *s, apr_size_t n)
{
    wb_reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
}

static void wb_ch(wbuf *b, char c)
{
    wb_reserve(b, 1);
    b->s[b->len++] = c;
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if it is not
 * one jansson accepts (utf8_check_full: no overlong forms, no surrogates,
 * nothing above U+10FFFF). s[0] is >= 0x80. */
static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n)
{
    apr_size_t len, i;
    apr_uint32_t cp;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
        || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        return 0;
    }
    return len;
}

/* A JSON string with jansson's escapes (dump.c: \\ \" \b \f \n \r \t, other
 * controls as \u00XX in upper case; '/' and non-ASCII as they are), plus
 * DEL as \u007f. Runs of plain bytes are copied at once. */
static int write_string(wbuf *b, const char *str, apr_size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0, run = 0, k;

    wb_reserve(b, n + 2);
    b->s[b->len++] = '"';
    while (i < n) {
        unsigned char c = s[i];
        char esc[6];
        apr_size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            if ((k = utf8_seq(s + i, n - i)) == 0) {
                return 0;
            }
            i += k;
            continue;
        }
        /* flush the plain run before the byte that needs an escape */
        wb_put(b, str + run, i - run);
        esc[0] = '\\';
        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (c == 0x7f) {
                /* not a jansson escape: cis2 text carries no control byte */
                memcpy(esc, "\\u007f", 6);
            }
            else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xf];
            }
            elen = 6;
            break;
        }
        wb_put(b, esc, elen);
        run = ++i;
    }
    wb_put(b, str + run, n - run);
    wb_ch(b, '"');
    return 1;
}

static int in_skip(const char *const *skip, const char *key)
{
    for (; skip != NULL && *skip != NULL; skip++) {
        if (strcmp(*skip, key) == 0) {
            return 1;
        }
    }
    return 0;
}

static int write_value(wbuf *b, const json_t *j, int depth,
                       const char *const *skip, const char *span_key,
                       cis2_json_span_t *span)
{
    char num[32];
    size_t i, n;
    int first;

    if (depth > CIS2_MAX_JSON_DEPTH + 1) {
        return 0;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;

        wb_ch(b, '{');
        first = 1;
        json_object_foreach((json_t *)j, key, v) {
            apr_size_t start;

            if (depth == 0 && in_skip(skip, key)) {
                continue;
            }
            if (!first) {
                wb_ch(b, ',');
            }
            first = 0;
            if (!write_string(b, key, strlen(key))) {
                return 0;
            }
            wb_ch(b, ':');
            start = b->len;
            if (!write_value(b, v, depth + 1, NULL, NULL, NULL)) {
                return 0;
            }
            if (depth == 0 && span != NULL && span_key != NULL
                && strcmp(key, span_key) == 0) {
                span->off = start;
                span->len = b->len - start;
            }
        }
        wb_ch(b, '}');
        return 1;
    }
    case JSON_ARRAY:
        wb_ch(b, '[');
        n = json_array_size(j);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                wb_ch(b, ',');
            }
            if (!write_value(b, json_array_get(j, i), depth + 1, NULL, NULL,
                             NULL)) {
                return 0;
            }
        }
        wb_ch(b, ']');
        return 1;
    case JSON_STRING:
        return write_string(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        n = (size_t)apr_snprintf(num, sizeof(num), "%" APR_INT64_T_FMT,
                                 (apr_int64_t)json_integer_value(j));
        wb_put(b, num, n);
        return 1;
    case JSON_REAL: {
        /* jansson's own digits (precision 17, ".0" added), rare in claims */
        char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

        if (d == NULL) {
            return 0;
        }
        wb_put(b, d, strlen(d));
        free(d);
        return 1;
    }
    case JSON_TRUE:
        wb_put(b, "true", 4);
        return 1;
    case JSON_FALSE:
        wb_put(b, "false", 5);
        return 1;
    case JSON_NULL:
        wb_put(b, "null", 4);
        return 1;
    }
    return 0;
}

apr_status_t cis2_json_write(const char **ptext, apr_size_t *plen,
                             cis2_json_span_t *pspan, const json_t *j,
                             const char *const *skip, const char *span_key,
                             apr_pool_t *p)
{
    cis2_json_span_t span = { 0, 0 };
    wbuf b;

    if (j == NULL) {
        return APR_EINVAL;
    }
    b.p = p;
    b.len = 0;
    b.cap = 4096;
    b.s = apr_palloc(p, b.cap);
    if (!write_value(&b, j, 0, skip, span_key, &span)) {
        return APR_EINVAL;
    }
    b.s[b.len] = '\0';
    *ptext = b.s;
    if (plen != NULL) {
        *plen = b.len;
    }
    if (pspan != NULL) {
        *pspan = span;
    }
    return APR_SUCCESS;
}
