/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_cookie — see cis2_cookie.h. The Cookie-header reader is the first
 * code to see client bytes on every protected request, so it works on
 * (pointer, length) spans inside the header, never writes into it, never
 * reads past its terminator or the scan limit, and allocates only for the
 * value it returns (PEER.md §6: CVE-2023-28625, CVE-2026-54789).
 */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "cis2_cookie.h"

/* Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.6.1); we cap
 * Max-Age there too, which also keeps the Expires arithmetic from
 * overflowing apr_time_t. */
#define MAX_COOKIE_AGE ((apr_int64_t)400 * 24 * 3600)

/* RFC 6265 §4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B /
 * %x5D-7E (no CTLs, whitespace, DQUOTE, comma, semicolon or backslash). */
static int is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a)
           || (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

apr_status_t cis2_cookie_get(const char **pval, const char *header,
                             const char *name, apr_size_t max_len,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    apr_size_t name_len, hlen, i;
    const char *s, *end, *found = NULL;
    apr_size_t found_len = 0;
    int pairs = 0;

    if (name == NULL || *name == '\0') {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no cookie name");
    }
    *pval = NULL;
    if (header == NULL) {
        return APR_SUCCESS;
    }
    name_len = strlen(name);

    /* Scan at most CIS2_MAX_COOKIE_HEADER bytes. When the header is longer,
     * the pair cut by the limit is dropped, never read as a shorter value. */
    hlen = strnlen(header, CIS2_MAX_COOKIE_HEADER + 1);
    if (hlen > CIS2_MAX_COOKIE_HEADER) {
        hlen = CIS2_MAX_COOKIE_HEADER;
        while (hlen > 0 && header[hlen - 1] != ';') {
            hlen--;
        }
    }
    s = header;
    end = header + hlen;

    /* RFC 6265 §5.4 / §5.2: pairs split on ';', optional whitespace */
    while (s < end && pairs < CIS2_MAX_COOKIES) {
        const char *semi = memchr(s, ';', (apr_size_t)(end - s));
        const char *pend = semi != NULL ? semi : end;
        const char *eq, *n0, *n1, *v0, *v1;

        pairs++;
        eq = memchr(s, '=', (apr_size_t)(pend - s));
        if (eq != NULL) {
            /* name: trimmed; pairs without '=' or with an empty name are
             * skipped (§5.2 steps 2-3) */
            n0 = s;
            n1 = eq;
            while (n0 < n1 && is_ows(*n0)) {
                n0++;
            }
            while (n1 > n0 && is_ows(n1[-1])) {
                n1--;
            }
            if ((apr_size_t)(n1 - n0) == name_len
                && memcmp(n0, name, name_len) == 0) {
                v0 = eq + 1;
                v1 = pend;
                while (v0 < v1 && is_ows(*v0)) {
                    v0++;
                }
                while (v1 > v0 && is_ows(v1[-1])) {
                    v1--;
                }
                /* cookie-value = *cookie-octet / ( DQUOTE *cookie-octet
                 * DQUOTE ) (§4.1.1) */
                if (v1 - v0 >= 2 && *v0 == '"' && v1[-1] == '"') {
                    v0++;
                    v1--;
                }
                if ((apr_size_t)(v1 - v0) > max_len) {
                    return cis2_err_set(perr, p, CIS2_E_INVALID,
                                        "cookie value over %" APR_SIZE_T_FMT
                                        " bytes", max_len);
                }
                for (i = 0; i < (apr_size_t)(v1 - v0); i++) {
                    if (!is_cookie_octet((unsigned char)v0[i])) {
                        return cis2_err_set(perr, p, CIS2_E_INVALID,
                                            "cookie value holds a byte "
                                            "outside cookie-octet");
                    }
                }
                if (found != NULL) {
                    if (found_len != (apr_size_t)(v1 - v0)
                        || memcmp(found, v0, found_len) != 0) {
                        /* cookie tossing: a second cookie of our name set
                         * for another path or a parent domain */
                        return cis2_err_set(perr, p, CIS2_E_DUPLICATE,
                                            "cookie sent twice with "
                                            "different values");
                    }
                }
                else {
                    found = v0;
                    found_len = (apr_size_t)(v1 - v0);
                }
            }
        }
        if (semi == NULL) {
            break;
        }
        s = semi + 1;
    }
    if (found != NULL) {
        *pval = apr_pstrmemdup(p, found, found_len);
    }
    return APR_SUCCESS;
}

static const char *same_site_value(const char *s)
{
    if (s != NULL) {
        if (strcasecmp(s, "Strict") == 0) {
            return "Strict";
        }
        if (strcasecmp(s, "None") == 0) {
            return "None";
        }
    }
    return "Lax";
}

const char *cis2_cookie_make(apr_pool_t *p, const char *name,
                             const char *value,
                             const cis2_cookie_attrs_t *attrs)
{
    const char *path = "/", *domain = NULL, *same_site = NULL;
    const char *age = "";
    apr_int64_t max_age = -1;
    int secure = 0;

    if (attrs != NULL) {
        if (attrs->path != NULL) {
            path = attrs->path;
        }
        domain = attrs->domain;
        same_site = attrs->same_site;
        secure = attrs->secure;
        max_age = attrs->max_age;
    }
    if (max_age >= 0) {
        char date[APR_RFC822_DATE_LEN];
        apr_time_t expires = 0;  /* deleting: 1 Jan 1970, in the past */

        if (max_age > MAX_COOKIE_AGE) {
            max_age = MAX_COOKIE_AGE;
        }
        if (max_age > 0) {
            expires = apr_time_now() + apr_time_from_sec(max_age);
        }
        apr_rfc822_date(date, expires);
        /* Max-Age wins where understood (RFC 6265 §5.3 step 3); Expires is
         * for the clients that only know that */
        age = apr_psprintf(p, "; Max-Age=%" APR_INT64_T_FMT "; Expires=%s",
                           max_age, date);
    }
    return apr_pstrcat(p, name, "=", value != NULL ? value : "",
                       "; Path=", path,
                       domain != NULL ? "; Domain=" : "",
                       domain != NULL ? domain : "",
                       age, "; HttpOnly",
                       secure ? "; Secure" : "",
                       "; SameSite=", same_site_value(same_site), NULL);
}
