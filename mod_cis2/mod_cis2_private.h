/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_private.h — what every glue file shares: the module record, the
 * log-number macro and the functions one glue file offers another. Only
 * mod_cis2*.c include this (and so httpd's headers).
 */
#ifndef MOD_CIS2_PRIVATE_H
#define MOD_CIS2_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_request.h>
#include <http_protocol.h>

#include "cis2_stats.h"

extern module AP_MODULE_DECLARE_DATA cis2_module;
APLOG_USE_MODULE(cis2);

/* AH numbers belong to httpd itself; ours are CIS2-nnnnn, five digits, one
 * per call site, never reused. Every number is explained in
 * docs/log-messages.md (a test checks both stay in step). */
#define CIS2_LOGNO(n) "CIS2-" #n ": "

/* the AuthType this module answers */
#define CIS2_AUTH_TYPE "cis2"

struct cis2_session_t;

/* ---- mod_cis2_authn.c ---- */
int cis2_hook_post_read_request(request_rec *r);
int cis2_hook_check_authn(request_rec *r);
/** child_init: the per-process memo of decoded sessions. */
void cis2_authn_child_init(apr_pool_t *pchild, server_rec *s);
struct cis2_sesscache_stats_t;
/** This process's memo counters (for the status page): 1 and *st filled,
 *  or 0 when the process has no memo (the parent; a failed child_init). */
int cis2_authn_memo_stats(struct cis2_sesscache_stats_t *st);
int cis2_hook_note_auth_failure(request_rec *r, const char *auth_type);
struct cis2_srv_conf;
struct cis2_login_opts_t;
/** The session of this request's cookie (or NULL); *psid its id. */
struct cis2_session_t *cis2_authn_find_session(request_rec *r,
                                               struct cis2_srv_conf *sc,
                                               const char **psid);
int cis2_authn_start_login(request_rec *r, struct cis2_srv_conf *sc,
                           const struct cis2_login_opts_t *o,
                           const char *back);

/* ---- mod_cis2_handler.c: module endpoints, answered before auth ---- */
int cis2_hook_quick_handler(request_rec *r, int lookup_uri);

/* ---- mod_cis2_profile.c: CIS2-profile endpoints (JWKS, change role) ---- */
struct cis2_pending_t;
int cis2_profile_jwks(request_rec *r, struct cis2_srv_conf *sc);
int cis2_profile_change_role(request_rec *r, struct cis2_srv_conf *sc);
void cis2_profile_after_login(request_rec *r, struct cis2_srv_conf *sc,
                              const struct cis2_pending_t *pl,
                              struct cis2_session_t *s);

/* ---- mod_cis2_authz.c: Require cis2-* providers ---- */
struct cis2_session_t;
void cis2_authz_register(apr_pool_t *p);
/** Leave the request's session for the authz providers (check_authn). */
void cis2_authz_set_session(request_rec *r, struct cis2_session_t *s);
/** note_auth_failure for a signed-in user: the 403 page naming the rule. */
void cis2_authz_denied(request_rec *r);
/* ---- mod_cis2_status.c: shared counters and the status page ---- */

/** Add n to a shared counter (any process, lock-free; a no-op before
 *  post_config made the counters). Back-channel logout uses
 *  CIS2_STAT_BCL_RECEIVED / _BCL_REFUSED / _BCL_SESSIONS_ENDED. */
void cis2_status_count(cis2_stat_counter c, apr_uint64_t n);

/** A refused or failed sign-in, from the path that logged it: counts it
 *  by reason (a cis2_err_code) and makes it the status page's "last
 *  error" with its log number ("CIS2-00304") and the reference id the
 *  user was shown. */
void cis2_status_refused(int code, const char *logno, const char *ref);

/** post_config: make (or keep, across restarts) the counters' segment. */
apr_status_t cis2_status_post_config(apr_pool_t *pconf, server_rec *s);

/** fixups: CIS2StatusPath -> the cis2-status handler (after authz). */
int cis2_hook_status_fixups(request_rec *r);

/** The cis2-status content handler (HTML, or JSON with ?json). */
int cis2_hook_status_handler(request_rec *r);

/* ---- mod_cis2_page.c: the pages mod_cis2 sends itself ---- */

/** Send a complete HTML page with `status` (never reflecting request data:
 *  title and message are fixed text chosen by the caller; `ref` is the
 *  reference id also written to the log line, NULL for none; `link_url` and
 *  `link_text` an optional "sign in again"-style link to a local URL from
 *  configuration). Returns OK (the caller returns it from a handler). */
int cis2_page_send(request_rec *r, int status, const char *title,
                   const char *message, const char *ref,
                   const char *link_url, const char *link_text);

/** The same page as HTML text (headers set as for cis2_page_send), for
 *  ap_custom_response on httpd's own error path. */
const char *cis2_page_html(request_rec *r, const char *title,
                           const char *message, const char *ref,
                           const char *link_url, const char *link_text);

/** Send a small JSON body (401 to XHR/fetch); returns OK. */
int cis2_page_send_json(request_rec *r, int status, const char *json);

#endif /* MOD_CIS2_PRIVATE_H */
