/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_handler — the module's own endpoints, answered in the quick
 * handler (before authentication, so they never trigger a sign-in):
 *   <CIS2RedirectURI path>     GET   the callback from CIS2
 *   <same directory>/logout    GET   local logout
 * Dispatch is by exact path match on the raw request path, with the method
 * checked; each endpoint has its own function.
 */
#include <apr_strings.h>

#include "mod_cis2_config.h"
#include "mod_cis2_store.h"
#include "cis2_util.h"
#include "cis2_cookie.h"
#include "cis2_oidc.h"
#include "cis2_session.h"
#include "cis2_store.h"

/* ---- helpers --------------------------------------------------------------- */

static void set_cookie(request_rec *r, cis2_srv_conf *sc, const char *name,
                       const char *value, const char *path,
                       apr_int64_t max_age)
{
    cis2_cookie_attrs_t ca;

    memset(&ca, 0, sizeof(ca));
    ca.path = path;
    ca.same_site = "Lax";
    ca.secure = cis2_srv_secure(sc);
    ca.max_age = max_age;
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   cis2_cookie_make(r->pool, name, value, &ca));
}

static const char *get_cookie(request_rec *r, const char *name,
                              apr_size_t max)
{
    const char *header = apr_table_get(r->headers_in, "Cookie");
    const char *val = NULL;
    const cis2_err_t *err = NULL;

    if (header == NULL
        || cis2_cookie_get(&val, header, name, max, &err, r->pool)
           != APR_SUCCESS) {
        return NULL;
    }
    return val;
}

static int bad_callback(request_rec *r, cis2_srv_conf *sc, const char *ref,
                        const char *message)
{
    return cis2_page_send(r, HTTP_BAD_REQUEST, "Sign-in could not be completed",
                          message, ref, cis2_srv_default_url(sc),
                          "Sign in again");
}

/* How a refused login maps to what the user is told (DESIGN.md §6). */
static int login_failed(request_rec *r, cis2_srv_conf *sc, const char *ref,
                        const cis2_err_t *err)
{
    switch (err->code) {
    case CIS2_E_AAL:
        return cis2_page_send(r, HTTP_FORBIDDEN, "A stronger sign-in is needed",
                              "This service needs you to sign in with an "
                              "authenticator of a higher assurance level "
                              "(AAL3: smartcard, NHS CIS2 iPad app or "
                              "security key).", ref,
                              cis2_srv_default_url(sc), "Sign in again");
    case CIS2_E_IAL:
        return cis2_page_send(r, HTTP_FORBIDDEN, "Access not allowed",
                              "Your NHS identity has not been verified to the "
                              "level this service requires. Contact your "
                              "registration authority.", ref, NULL, NULL);
    case CIS2_E_AUTH_TIME:
        return cis2_page_send(r, HTTP_FORBIDDEN, "Please sign in again",
                              "NHS CIS2 reported an earlier sign-in, but this "
                              "service needs a fresh one.", ref,
                              cis2_srv_default_url(sc), "Sign in again");
    case CIS2_E_JWS_FORMAT: case CIS2_E_ALG: case CIS2_E_KID_UNKNOWN:
    case CIS2_E_SIGNATURE: case CIS2_E_ISS: case CIS2_E_AUD: case CIS2_E_AZP:
    case CIS2_E_EXPIRED: case CIS2_E_IAT_FUTURE: case CIS2_E_NOT_YET_VALID:
    case CIS2_E_NONCE: case CIS2_E_CLAIM_MISSING: case CIS2_E_CLAIM_INVALID:
    case CIS2_E_SUB_MISMATCH:
        return cis2_page_send(r, HTTP_UNAUTHORIZED, "Sign-in refused",
                              "The answer from NHS CIS2 could not be "
                              "verified, so you have not been signed in.",
                              ref, cis2_srv_default_url(sc), "Sign in again");
    case CIS2_E_CONFIG: case CIS2_E_CRYPTO:
        return cis2_page_send(r, HTTP_INTERNAL_SERVER_ERROR,
                              "Sign-in is not working",
                              "This service is not set up correctly for NHS "
                              "CIS2 sign-in.", ref, NULL, NULL);
    default: /* the OP was unreachable, slow, broken or said no */
        return cis2_page_send(r, HTTP_BAD_GATEWAY,
                              "NHS CIS2 sign-in is unavailable",
                              "This service could not complete your sign-in "
                              "with NHS CIS2. Please try again in a few "
                              "minutes.", ref, cis2_srv_default_url(sc),
                              "Try again");
    }
}

/* ---- the callback (OIDC Core §3.1.2.5 onwards) ------------------------------ */

static int handle_callback(request_rec *r, cis2_srv_conf *sc)
{
    cis2_store_t *st = cis2_glue_store_get();
    const char *ref = cis2_random_ref(r->pool);
    const cis2_err_t *err = NULL;
    cis2_callback_t *cb;
    const char *binding, *val, *old_sid, *sid, *buf, *target;
    apr_size_t len;
    cis2_pending_t *pl;
    cis2_session_t *s;
    apr_time_t now = apr_time_now(), expires;

    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (cis2_oidc_parse_callback(&cb, r->args ? r->args : "", &err, r->pool)
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00300)
                      "bad callback request (ref=%s): %s (%s)", ref,
                      err->detail, cis2_err_name(err->code));
        return bad_callback(r, sc, ref, "The sign-in response was not valid. "
                            "Please sign in again.");
    }
    /* single use: the pending login is gone from the store from here on,
     * whatever happens next (a replayed callback finds nothing) */
    if (cis2_store_take(st, CIS2_NS_PENDING, cb->state, now, &val, &len, &err,
                        r->pool) != APR_SUCCESS) {
        if (err->code == CIS2_E_STORE_DOWN) {
            return cis2_glue_store_unavailable(r, err, "callback");
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00301)
                      "callback for an unknown, expired or used sign-in "
                      "(ref=%s): %s", ref, cis2_err_name(err->code));
        return bad_callback(r, sc, ref, "This sign-in link has expired or has "
                            "already been used (for example after using the "
                            "back button). Please sign in again.");
    }
    binding = get_cookie(r, cis2_srv_binding_cookie(sc), 64);
    if (cis2_pending_decode(&pl, val, len, &err, r->pool) != APR_SUCCESS
        || pl->client_id == NULL || strcmp(pl->client_id, sc->client_id) != 0
        || !cis2_ct_streq(binding, pl->binding)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00302)
                      "callback not bound to this browser (ref=%s)", ref);
        return bad_callback(r, sc, ref, "This sign-in was started in another "
                            "browser or has expired. Please sign in again.");
    }
    if (cb->error != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00303)
                      "CIS2 returned error '%s' to the callback (ref=%s)",
                      cb->error, ref);
        return bad_callback(r, sc, ref, "NHS CIS2 did not sign you in. You may "
                            "have cancelled, or your account may not be "
                            "allowed to use this service.");
    }
    if (cis2_login_complete(&s, sc->login, pl, cb->code, now, &err, r->pool)
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, err->code == CIS2_E_AAL
                      || err->code == CIS2_E_IAL
                      || err->code == CIS2_E_AUTH_TIME ? APLOG_INFO
                      : APLOG_ERR, 0, r, CIS2_LOGNO(00304)
                      "sign-in refused (ref=%s): %s (%s)", ref, err->detail,
                      cis2_err_name(err->code));
        return login_failed(r, sc, ref, err);
    }

    /* a NEW session id on every login (no fixation); the old one ends */
    sid = cis2_random_token(r->pool, CIS2_RANDOM_BYTES);
    expires = now + cis2_srv_inactivity(sc);
    if (expires > s->expires) {
        expires = s->expires;
    }
    if (sid == NULL
        || cis2_session_encode(&buf, &len, s, &err, r->pool) != APR_SUCCESS
        || cis2_store_put(st, CIS2_NS_SESSION, sid, buf, len, expires, &err,
                          r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00305)
                      "cannot store the new session (ref=%s): %s", ref,
                      err ? err->detail : "random generator failed");
        return cis2_page_send(r, HTTP_SERVICE_UNAVAILABLE,
                              "Sign-in could not be completed",
                              "Your sign-in worked, but this service could "
                              "not keep it. Please try again later.", ref,
                              NULL, NULL);
    }
    old_sid = get_cookie(r, cis2_srv_cookie_name(sc), 128);
    if (old_sid != NULL) {
        cis2_store_delete(st, CIS2_NS_SESSION, old_sid, &err, r->pool);
    }
    set_cookie(r, sc, cis2_srv_cookie_name(sc), sid, cis2_srv_cookie_path(sc),
               -1);
    if (cis2_url_check_redirect(&target, pl->return_url, sc->redirect->origin,
                                NULL, &err, r->pool) != APR_SUCCESS) {
        target = cis2_srv_default_url(sc);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00306)
                  "signed in sub=%s aal=%d ial=%d%s", s->sub, s->aal,
                  s->ial, s->sid ? "" : " (no CIS2 sid)");
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Location", target);
    return HTTP_MOVED_TEMPORARILY;
}

/* ---- local logout --------------------------------------------------------- */

static int handle_logout(request_rec *r, cis2_srv_conf *sc)
{
    cis2_store_t *st = cis2_glue_store_get();
    const char *sid = get_cookie(r, cis2_srv_cookie_name(sc), 128);
    const cis2_err_t *err = NULL;

    if (r->method_number != M_GET && r->method_number != M_POST) {
        r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (sid != NULL) {
        cis2_store_delete(st, CIS2_NS_SESSION, sid, &err, r->pool);
    }
    set_cookie(r, sc, cis2_srv_cookie_name(sc), "", cis2_srv_cookie_path(sc),
               0);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00307)
                  "local logout%s", sid ? "" : " (no session)");
    return cis2_page_send(r, HTTP_OK, "You have signed out",
                          "You have signed out of this service.", NULL,
                          cis2_srv_default_url(sc), "Sign in again");
}

/* ---- dispatch --------------------------------------------------------------- */

int cis2_hook_quick_handler(request_rec *r, int lookup_uri)
{
    cis2_srv_conf *sc;
    const char *path = r->parsed_uri.path;

    if (lookup_uri || path == NULL) {
        return DECLINED;
    }
    sc = cis2_srv(r->server);
    if (sc->login == NULL) {
        return DECLINED;
    }
    if (strcmp(path, sc->redirect->path) == 0) {
        return handle_callback(r, sc);
    }
    if (strcmp(path, sc->logout_path) == 0) {
        return handle_logout(r, sc);
    }
    return DECLINED;
}
