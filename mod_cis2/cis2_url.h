/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_url — the one validator for every redirect target mod_cis2 emits
 * (the original URL after login, logout return URLs, change-role returns)
 * and the parser for the absolute URLs in our configuration. A target is
 * accepted only when it stays on our own origin (or an allow-listed one)
 * under both RFC 3986 and WHATWG URL parsing: backslashes, "//", control
 * characters and whitespace, percent-encoded tricks, userinfo and other
 * schemes are refused (PEER.md §6: five open-redirect CVEs).
 */
#ifndef CIS2_URL_H
#define CIS2_URL_H

#include "cis2.h"

typedef struct cis2_url_t {
    const char *scheme;   /* "http" or "https", lower-case */
    const char *host;     /* lower-case, no brackets stripping for IPv6 */
    int port;             /* explicit or the scheme's default */
    const char *path;     /* starts with '/' ("/" when empty) */
    const char *query;    /* without '?', NULL if none */
    const char *origin;   /* scheme://host[:port] (port only if not default) */
} cis2_url_t;

/** Parse an absolute http(s) URL from our own configuration (redirect URI,
 *  logout URL). Refuses userinfo, fragments, control characters, spaces
 *  and backslashes. */
apr_status_t cis2_url_parse_absolute(cis2_url_t **purl, const char *s,
                                     const cis2_err_t **perr, apr_pool_t *p);

/** Validate a redirect target. `self_origin` is our origin
 *  ("https://host[:port]"); `allowed` is an array of extra origins
 *  (const char *, may be NULL). Accepts a local path ("/x?y") or an
 *  absolute http(s) URL whose origin is self or allowed. On success
 *  *pout is the target to put in Location (a local path is returned as
 *  is). Refusals are CIS2_E_INVALID with a detail naming the rule broken
 *  (never echoing the input). */
apr_status_t cis2_url_check_redirect(const char **pout, const char *target,
                                     const char *self_origin,
                                     const apr_array_header_t *allowed,
                                     const cis2_err_t **perr, apr_pool_t *p);

#endif /* CIS2_URL_H */
