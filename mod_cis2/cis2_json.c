/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_json — see cis2_json.h.
 */
#include <errno.h>
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

/* ---- parsing ------------------------------------------------------------- *
 *
 * A strict RFC 8259 parser building jansson values, accepting exactly what
 * json_loadb(text, len, JSON_REJECT_DUPLICATES) accepts (an object or array
 * at the top, whitespace only after it; strings of valid UTF-8 without raw
 * control bytes, escapes as RFC 8259 §7 with surrogate pairs, no \u0000;
 * integers within int64; reals through jansson itself; duplicate keys
 * refused) and giving the same values in the same member order. jansson's
 * own parser reads a byte at a time through a stream with a UTF-8 check
 * and a buffer append per byte; this one scans each string once and copies
 * it once, about a third of the instructions for a CIS2 UserInfo (issue #4).
 * fuzz_json and test_json compare the two on every input they see.
 */

typedef struct jparser {
    const unsigned char *pos, *end;
    char *scratch;          /* decoded strings with escapes, bump-allocated:
                               never longer than their source text */
    apr_size_t scratch_used, scratch_cap;
    apr_pool_t *p;
} jparser;

static json_t *parse_value(jparser *ps, int depth);

static void skip_ws(jparser *ps)
{
    while (ps->pos < ps->end && (*ps->pos == ' ' || *ps->pos == '\n'
                                 || *ps->pos == '\r' || *ps->pos == '\t')) {
        ps->pos++;
    }
}

static int hex4(const unsigned char *s, apr_uint32_t *pv)
{
    apr_uint32_t v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned char c = s[i];

        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (apr_uint32_t)(c - '0');
        }
        else if (c >= 'a' && c <= 'f') {
            v |= (apr_uint32_t)(c - 'a' + 10);
        }
        else if (c >= 'A' && c <= 'F') {
            v |= (apr_uint32_t)(c - 'A' + 10);
        }
        else {
            return 0;
        }
    }
    *pv = v;
    return 1;
}

static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n);

/* The string at ps->pos (its opening quote): 1, *pstr and *plen (in the
 * input when it has no escape, else in the scratch area), or 0. */
static int parse_string(jparser *ps, const char **pstr, apr_size_t *plen)
{
    const unsigned char *s = ps->pos + 1, *end = ps->end, *run;
    char *out;
    apr_size_t k;

    /* the common case: no escape */
    for (run = s; s < end; ) {
        unsigned char c = *s;

        if (c == '"') {
            *pstr = (const char *)run;
            *plen = (apr_size_t)(s - run);
            ps->pos = s + 1;
            return 1;
        }
        if (c == '\\') {
            break;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c >= 0x80) {
            if ((k = utf8_seq(s, (apr_size_t)(end - s))) == 0) {
                return 0;
            }
            s += k;
        }
        else {
            s++;
        }
    }
    if (s >= end) {
        return 0;
    }
    /* escapes: decode the rest into the scratch area */
    if (ps->scratch == NULL) {
        ps->scratch_cap = (apr_size_t)(end - ps->pos);
        ps->scratch = apr_palloc(ps->p, ps->scratch_cap);
        ps->scratch_used = 0;
    }
    out = ps->scratch + ps->scratch_used;
    memcpy(out, run, (apr_size_t)(s - run));
    k = (apr_size_t)(s - run);
    while (s < end) {
        unsigned char c = *s;
        apr_uint32_t cp, lo;

        if (c == '"') {
            *pstr = out;
            *plen = k;
            ps->scratch_used += k;
            ps->pos = s + 1;
            return 1;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c >= 0x80) {
            apr_size_t n = utf8_seq(s, (apr_size_t)(end - s));

            if (n == 0) {
                return 0;
            }
            memcpy(out + k, s, n);
            k += n;
            s += n;
            continue;
        }
        if (c != '\\') {
            out[k++] = (char)c;
            s++;
            continue;
        }
        if (end - s < 2) {
            return 0;
        }
        switch (s[1]) {
        case '"':  out[k++] = '"'; s += 2; continue;
        case '\\': out[k++] = '\\'; s += 2; continue;
        case '/':  out[k++] = '/'; s += 2; continue;
        case 'b':  out[k++] = '\b'; s += 2; continue;
        case 'f':  out[k++] = '\f'; s += 2; continue;
        case 'n':  out[k++] = '\n'; s += 2; continue;
        case 'r':  out[k++] = '\r'; s += 2; continue;
        case 't':  out[k++] = '\t'; s += 2; continue;
        case 'u':  break;
        default:   return 0;
        }
        if (end - s < 6 || !hex4(s + 2, &cp)) {
            return 0;
        }
        s += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            /* a high surrogate needs its low half right after it */
            if (end - s < 6 || s[0] != '\\' || s[1] != 'u'
                || !hex4(s + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                return 0;
            }
            s += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
            return 0;           /* lone low surrogate; NUL (no ALLOW_NUL) */
        }
        /* at most 4 bytes out for at least 6 in: stays within the source
         * length the scratch area was sized by */
        if (cp < 0x80) {
            out[k++] = (char)cp;
        }
        else if (cp < 0x800) {
            out[k++] = (char)(0xc0 | (cp >> 6));
            out[k++] = (char)(0x80 | (cp & 0x3f));
        }
        else if (cp < 0x10000) {
            out[k++] = (char)(0xe0 | (cp >> 12));
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[k++] = (char)(0x80 | (cp & 0x3f));
        }
        else {
            out[k++] = (char)(0xf0 | (cp >> 18));
            out[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[k++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return 0;
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static json_t *parse_number(jparser *ps)
{
    const unsigned char *start = ps->pos, *s = ps->pos, *end = ps->end;
    int real = 0;
    char buf[32];
    char *endp;
    long long v;

    if (s < end && *s == '-') {
        s++;
    }
    if (s >= end || !(*s >= '0' && *s <= '9')) {
        return NULL;
    }
    if (*s == '0') {
        s++;
    }
    else {
        while (s < end && *s >= '0' && *s <= '9') {
            s++;
        }
    }
    if (s < end && *s == '.') {
        real = 1;
        s++;
        if (s >= end || !(*s >= '0' && *s <= '9')) {
            return NULL;
        }
        while (s < end && *s >= '0' && *s <= '9') {
            s++;
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        real = 1;
        s++;
        if (s < end && (*s == '+' || *s == '-')) {
            s++;
        }
        if (s >= end || !(*s >= '0' && *s <= '9')) {
            return NULL;
        }
        while (s < end && *s >= '0' && *s <= '9') {
            s++;
        }
    }
    ps->pos = s;
    if (real) {
        /* jansson's own conversion (locale-proof, overflow refused): reals
         * are rare in claims, so exactness wins over speed here */
        return json_loadb((const char *)start, (size_t)(s - start),
                          JSON_DECODE_ANY, NULL);
    }
    if ((apr_size_t)(s - start) >= sizeof(buf)) {
        return NULL;            /* more digits than any int64 has */
    }
    memcpy(buf, start, (apr_size_t)(s - start));
    buf[s - start] = '\0';
    errno = 0;
    v = strtoll(buf, &endp, 10);
    if (errno == ERANGE || *endp != '\0') {
        return NULL;            /* jansson: "too big integer" */
    }
    return json_integer((json_int_t)v);
}

static json_t *parse_object(jparser *ps, int depth)
{
    json_t *obj = json_object(), *v;
    const char *key;
    apr_size_t klen;

    if (obj == NULL) {
        return NULL;
    }
    ps->pos++;
    skip_ws(ps);
    if (ps->pos < ps->end && *ps->pos == '}') {
        ps->pos++;
        return obj;
    }
    for (;;) {
        if (ps->pos >= ps->end || *ps->pos != '"'
            || !parse_string(ps, &key, &klen)
            || memchr(key, '\0', klen) != NULL
            || json_object_getn(obj, key, klen) != NULL) {
            break;              /* JSON_REJECT_DUPLICATES */
        }
        skip_ws(ps);
        if (ps->pos >= ps->end || *ps->pos != ':') {
            break;
        }
        ps->pos++;
        skip_ws(ps);
        if ((v = parse_value(ps, depth + 1)) == NULL) {
            break;
        }
        if (json_object_setn_new_nocheck(obj, key, klen, v) != 0) {
            break;
        }
        skip_ws(ps);
        if (ps->pos < ps->end && *ps->pos == ',') {
            ps->pos++;
            skip_ws(ps);
            continue;
        }
        if (ps->pos < ps->end && *ps->pos == '}') {
            ps->pos++;
            return obj;
        }
        break;
    }
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(jparser *ps, int depth)
{
    json_t *arr = json_array(), *v;

    if (arr == NULL) {
        return NULL;
    }
    ps->pos++;
    skip_ws(ps);
    if (ps->pos < ps->end && *ps->pos == ']') {
        ps->pos++;
        return arr;
    }
    for (;;) {
        if ((v = parse_value(ps, depth + 1)) == NULL
            || json_array_append_new(arr, v) != 0) {
            break;
        }
        skip_ws(ps);
        if (ps->pos < ps->end && *ps->pos == ',') {
            ps->pos++;
            skip_ws(ps);
            continue;
        }
        if (ps->pos < ps->end && *ps->pos == ']') {
            ps->pos++;
            return arr;
        }
        break;
    }
    json_decref(arr);
    return NULL;
}

static int literal(jparser *ps, const char *word, apr_size_t n)
{
    if ((apr_size_t)(ps->end - ps->pos) < n
        || memcmp(ps->pos, word, n) != 0) {
        return 0;
    }
    ps->pos += n;
    return 1;
}

static json_t *parse_value(jparser *ps, int depth)
{
    const char *str;
    apr_size_t len;

    if (depth > CIS2_MAX_JSON_DEPTH + 1 || ps->pos >= ps->end) {
        return NULL;
    }
    switch (*ps->pos) {
    case '{':
        return parse_object(ps, depth);
    case '[':
        return parse_array(ps, depth);
    case '"':
        if (!parse_string(ps, &str, &len) || memchr(str, '\0', len) != NULL) {
            return NULL;
        }
        return json_stringn_nocheck(str, len);
    case 't':
        return literal(ps, "true", 4) ? json_true() : NULL;
    case 'f':
        return literal(ps, "false", 5) ? json_false() : NULL;
    case 'n':
        return literal(ps, "null", 4) ? json_null() : NULL;
    default:
        return parse_number(ps);
    }
}

/* 1-based line and column of byte offset off, for the error message */
static void position(const char *text, apr_size_t off, int *pline,
                     int *pcol)
{
    apr_size_t i;
    int line = 1, col = 0;

    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 0;
        }
        else {
            col++;
        }
    }
    *pline = line;
    *pcol = col + 1;
}

/* The object in text, or NULL and *perr_off where parsing stopped. */
static json_t *parse_text(const char *text, apr_size_t len,
                          apr_size_t *perr_off, apr_pool_t *p)
{
    jparser ps;
    json_t *j = NULL;

    memset(&ps, 0, sizeof(ps));
    ps.pos = (const unsigned char *)text;
    ps.end = ps.pos + len;
    ps.p = p;
    skip_ws(&ps);
    /* jansson without JSON_DECODE_ANY: an object or an array at the top */
    if (ps.pos < ps.end && (*ps.pos == '{' || *ps.pos == '[')) {
        j = parse_value(&ps, 0);
    }
    if (j != NULL) {
        skip_ws(&ps);
        if (ps.pos == ps.end) {
            return j;
        }
        json_decref(j);
    }
    *perr_off = (apr_size_t)(ps.pos - (const unsigned char *)text);
    return NULL;
}

apr_status_t cis2_json_parse_object(json_t **pj, const char *text,
                                    apr_size_t len, apr_size_t max_len,
                                    const cis2_err_t **perr, apr_pool_t *p)
{
    apr_size_t err_off = 0;
    int line, col;
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
    j = parse_text(text, len, &err_off, p);
    if (j == NULL) {
        /* only the position: never the text, which may hold a token or a
         * nonce */
        position(text, err_off, &line, &col);
        return cis2_err_set(perr, p, CIS2_E_JSON, "not valid JSON (line %d, "
                            "column %d)", line, col);
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
