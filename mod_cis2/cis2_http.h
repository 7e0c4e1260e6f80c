/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_http — the core's outbound HTTP interface (discovery, JWKS, token,
 * UserInfo). One implementation, cis2_curl.c, uses libcurl; callers see only
 * this header. Every call is bounded: connect timeout, total timeout, body
 * size cap. Redirects are never followed (an OP endpoint that redirects is
 * refused with CIS2_E_REDIRECTED), only http and https are allowed, and TLS
 * peer and host verification are always on (CA file configurable).
 * Connections are kept and reused across calls (cis2_http_reuse_init).
 */
#ifndef CIS2_HTTP_H
#define CIS2_HTTP_H

#include "cis2.h"

typedef struct cis2_http_opts_t {
    apr_interval_time_t connect_timeout; /* 0 = default 5 s */
    apr_interval_time_t timeout;         /* total; 0 = default 10 s */
    apr_size_t max_body;                 /* 0 = CIS2_MAX_HTTP_BODY */
    const char *ca_file;                 /* NULL = system CA store */
    const char *user_agent;              /* NULL = "mod_cis2/<version>" */
} cis2_http_opts_t;

typedef struct cis2_http_response_t {
    int status;                /* HTTP status code */
    const char *content_type;  /* media type, lower-cased, parameters cut;
                                  "" when absent */
    const char *body;          /* NUL-terminated copy, in the pool */
    apr_size_t body_len;
} cis2_http_response_t;

/** Once per process, before threads (child_init / test main). */
apr_status_t cis2_http_global_init(void);

/** Reuse handles in this process: after a call completes, its libcurl
 *  handle (reset to libcurl's defaults, so nothing of that call is left
 *  in it) is kept with its open connections, DNS entries and TLS sessions
 *  for a later call of any thread; at most max_idle are kept idle. A
 *  failed call's handle is closed. Call once per process, after fork and
 *  before threads (child_init); the handles are closed when p is
 *  destroyed (no call may run then). Without it, or in another process
 *  than the caller's (a fork), every call uses a new handle and
 *  connection. APR_EINVAL if max_idle < 1. */
apr_status_t cis2_http_reuse_init(apr_pool_t *p, int max_idle);

typedef struct cis2_http_reuse_stats_t {
    apr_uint64_t created;      /* handles made since cis2_http_reuse_init */
    apr_uint64_t reused;       /* calls that took an idle handle */
    int idle;                  /* idle handles now */
} cis2_http_reuse_stats_t;

/** This process's handle counters (all 0 without cis2_http_reuse_init). */
void cis2_http_reuse_stats(cis2_http_reuse_stats_t *st);

/** GET url. With bearer != NULL, sends "Authorization: Bearer <bearer>".
 *  Any HTTP status is a success of the transport: *presp is set and the
 *  caller judges the status. Failures: CIS2_E_HTTP, CIS2_E_TIMEOUT,
 *  CIS2_E_TOO_LARGE (body over the cap; the transfer is aborted early),
 *  CIS2_E_REDIRECTED (3xx), CIS2_E_INVALID (URL not http/https). */
apr_status_t cis2_http_get(cis2_http_response_t **presp,
                           const cis2_http_opts_t *opts, const char *url,
                           const char *bearer,
                           const cis2_err_t **perr, apr_pool_t *p);

/** POST an application/x-www-form-urlencoded body. With basic_user != NULL,
 *  sends HTTP Basic credentials; user and password are form-urlencoded first
 *  as RFC 6749 §2.3.1 requires. Same outcomes as cis2_http_get. */
apr_status_t cis2_http_post_form(cis2_http_response_t **presp,
                                 const cis2_http_opts_t *opts,
                                 const char *url, const char *form_body,
                                 const char *basic_user,
                                 const char *basic_pass,
                                 const cis2_err_t **perr, apr_pool_t *p);

#endif /* CIS2_HTTP_H */
