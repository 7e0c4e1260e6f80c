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
