/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_cookie — read one cookie out of an untrusted Cookie header (RFC 6265
 * §5.4 syntax, bounded, no allocation per cookie scanned) and build
 * Set-Cookie values with the attributes mod_cis2 always sets.
 */
#ifndef CIS2_COOKIE_H
#define CIS2_COOKIE_H

#include "cis2.h"

/** Find cookie `name` in a Cookie header. *pval = NULL when absent.
 *  The header is scanned up to CIS2_MAX_COOKIE_HEADER bytes and
 *  CIS2_MAX_COOKIES pairs; pairs without '=' or with an empty name are
 *  skipped. A name present twice with different values is CIS2_E_DUPLICATE
 *  (cookie tossing: the caller treats it as no cookie). Values longer than
 *  max_len, or holding bytes outside RFC 6265 cookie-octets, are
 *  CIS2_E_INVALID. Surrounding double quotes are removed. */
apr_status_t cis2_cookie_get(const char **pval, const char *header,
                             const char *name, apr_size_t max_len,
                             const cis2_err_t **perr, apr_pool_t *p);

typedef struct cis2_cookie_attrs_t {
    const char *path;          /* NULL = "/" */
    const char *domain;        /* NULL = host-only */
    const char *same_site;     /* "Lax" (default), "Strict", "None" */
    int secure;                /* add Secure */
    apr_int64_t max_age;       /* seconds; < 0 = session cookie;
                                  0 = delete (Max-Age=0 + past Expires) */
} cis2_cookie_attrs_t;

/** name=value; Path; [Domain]; [Max-Age; Expires]; HttpOnly; [Secure];
 *  SameSite. */
const char *cis2_cookie_make(apr_pool_t *p, const char *name,
                             const char *value,
                             const cis2_cookie_attrs_t *attrs);

#endif /* CIS2_COOKIE_H */
