/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_profile — the CIS2-profile endpoints next to the callback,
 * answered in the quick handler (dispatch in mod_cis2_handler.c):
 *   <dir>/jwks          GET   the RP's public JWKS (private_key_jwt): the
 *                             jwks_uri to give CIS2's Connection Manager
 *   <dir>/change-role   GET   sign in again to pick another national RBAC
 *                             role (prompt=login + changedrole)
 * and the step-up sign-in started from check_authn when a <Location> needs
 * a higher AAL than the session has.
 */
#include <apr_strings.h>

#include "mod_cis2_config.h"
#include "cis2_util.h"
#include "cis2_session.h"

/* ---- JWKS (CIS2.md §9: current and previous key, for rollover) ------------ */

int cis2_profile_jwks(request_rec *r, cis2_srv_conf *sc)
{
    apr_size_t len = strlen(sc->jwks_json);

    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_discard_request_body(r);
    /* public data; short caching so a rollover is seen within minutes */
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=300");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(sc->jwks_json, (int)len, r);
    }
    return OK;
}

/* ---- change role (CIS2.md §7) --------------------------------------------- */

/* GET <dir>/change-role[?return=/local/path]: a signed-in user signs in
 * again with prompt=login and the changedrole scope, picks another role,
 * and comes back to `return` (same origin only; default CIS2DefaultURL).
 * The callback (cis2_profile_after_login) carries the session's other
 * state over. */
int cis2_profile_change_role(request_rec *r, cis2_srv_conf *sc)
{
    const cis2_session_t *s;
    const char *sid, *back = NULL, *target;
    apr_table_t *q;
    const cis2_err_t *err = NULL;
    cis2_login_opts_t o;

    if (r->method_number != M_GET || r->header_only) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }
    s = cis2_authn_find_session(r, sc, &sid);
    if (s == NULL) {
        return cis2_page_send(r, HTTP_UNAUTHORIZED, "You are not signed in",
                              "Sign in first; you can then change role.",
                              NULL, cis2_srv_default_url(sc), "Sign in");
    }
    if (r->args != NULL
        && cis2_form_parse(&q, r->args, CIS2_MAX_QUERY, 8, &err, r->pool)
           == APR_SUCCESS
        && cis2_form_get_unique(&target, q, "return", &err, r->pool)
           == APR_SUCCESS
        && target != NULL && strlen(target) <= CIS2_MAX_URL) {
        if (cis2_url_check_redirect(&back, target, sc->redirect->origin,
                                    NULL, &err, r->pool) != APR_SUCCESS) {
            back = NULL;
        }
    }
    memset(&o, 0, sizeof(o));
    o.required_aal = -1;
    o.flags = CIS2_PENDING_CHANGE_ROLE;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00504)
                  "change of role requested by %s", s->sub);
    return cis2_authn_start_login(r, sc, &o,
                                  back ? back : cis2_srv_default_url(sc));
}

/* After a successful sign-in, before the new session is stored: a role
 * change by the same user keeps the session's sign-in time and absolute
 * end (a role change never extends the 12-hour limit, NHS CIA Ses Req 007);
 * everything else (role, claims, CIS2 sid, assurance) comes from the new
 * sign-in, under a new session id. Another user is a plain new sign-in. */
void cis2_profile_after_login(request_rec *r, cis2_srv_conf *sc,
                              const cis2_pending_t *pl, cis2_session_t *s)
{
    const cis2_session_t *old;
    const char *sid;

    if (!(pl->flags & CIS2_PENDING_CHANGE_ROLE)) {
        return;
    }
    old = cis2_authn_find_session(r, sc, &sid);
    if (old == NULL || old->sub == NULL || strcmp(old->sub, s->sub) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00505)
                      "change of role ended in a sign-in as another user "
                      "or without a session: treated as a new sign-in");
        return;
    }
    s->created = old->created;
    if (old->expires < s->expires) {
        s->expires = old->expires;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00506)
                  "role changed for %s", s->sub);
}
