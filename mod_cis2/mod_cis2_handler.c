/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_handler — the module's own endpoints, answered in the quick
 * handler (before authentication, so they never trigger a sign-in):
 *   <CIS2RedirectURI path>                GET   the callback from CIS2
 *   <same directory>/logout               GET, POST  logout (local, and
 *                                         RP-initiated at CIS2 if enabled)
 *   <same directory>/backchannel-logout   POST  CIS2's logout tokens
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
#include "cis2_jwt.h"

/* ---- helpers --------------------------------------------------------------- */

/* The session cookie: the admin's Path, Domain and SameSite; never more
 * than the random id (claims stay on the server). */
static void set_session_cookie(request_rec *r, cis2_srv_conf *sc,
                               const char *value, apr_int64_t max_age)
{
    cis2_cookie_attrs_t ca;

    memset(&ca, 0, sizeof(ca));
    ca.path = cis2_srv_cookie_path(sc);
    ca.domain = cis2_srv_cookie_domain(sc);
    ca.same_site = cis2_srv_same_site(sc);
    ca.secure = cis2_srv_secure(sc);
    ca.max_age = max_age;
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   cis2_cookie_make(r->pool, cis2_srv_cookie_name(sc), value,
                                    &ca));
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

/* The index value of a session under CIS2's sid or the user's sub: scoped
 * to our client id, so a token for one vhost's client never ends the
 * sessions of another client kept in the same store (CIS2 gives one sid to
 * every client of a CIS2 session). */
static const char *index_value(apr_pool_t *p, const char *client_id,
                                  const char *v)
{
    return v ? apr_pstrcat(p, client_id, " ", v, NULL) : NULL;
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
    /* the error page's reference, drawn on a failure path only: a
     * random-generator call less per login (issue #4) */
    const char *ref = NULL;
    const cis2_err_t *err = NULL;
    cis2_callback_t *cb;
    const char *binding, *val, *old_sid, *sid, *buf, *target;
    apr_size_t len;
    cis2_pending_t *pl;
    cis2_session_t *s;
    cis2_store_index_t ix;
    apr_time_t now = apr_time_now(), expires;

    if (r->method_number != M_GET) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (cis2_oidc_parse_callback(&cb, r->args ? r->args : "", &err, r->pool)
        != APR_SUCCESS) {
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00300)
                      "bad callback request (ref=%s): %s (%s)", ref,
                      err->detail, cis2_err_name(err->code));
        cis2_status_refused(err->code, "CIS2-00300", ref);
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
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00301)
                      "callback for an unknown, expired or used sign-in "
                      "(ref=%s): %s", ref, cis2_err_name(err->code));
        cis2_status_refused(CIS2_E_STATE, "CIS2-00301", ref);
        return bad_callback(r, sc, ref, "This sign-in link has expired or has "
                            "already been used (for example after using the "
                            "back button). Please sign in again.");
    }
    binding = get_cookie(r, cis2_srv_binding_cookie(sc), 64);
    if (cis2_pending_decode(&pl, val, len, &err, r->pool) != APR_SUCCESS
        || pl->client_id == NULL || strcmp(pl->client_id, sc->client_id) != 0
        || !cis2_ct_streq(binding, pl->binding)) {
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00302)
                      "callback not bound to this browser (ref=%s)", ref);
        cis2_status_refused(CIS2_E_STATE, "CIS2-00302", ref);
        return bad_callback(r, sc, ref, "This sign-in was started in another "
                            "browser or has expired. Please sign in again.");
    }
    if (cb->error != NULL) {
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00303)
                      "CIS2 returned error '%s' to the callback (ref=%s)",
                      cb->error, ref);
        cis2_status_refused(CIS2_E_OP_ERROR, "CIS2-00303", ref);
        return bad_callback(r, sc, ref, "NHS CIS2 did not sign you in. You may "
                            "have cancelled, or your account may not be "
                            "allowed to use this service.");
    }
    if (cis2_login_complete(&s, sc->login, pl, cb->code, now, &err, r->pool)
        != APR_SUCCESS) {
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, err->code == CIS2_E_AAL
                      || err->code == CIS2_E_IAL
                      || err->code == CIS2_E_AUTH_TIME ? APLOG_INFO
                      : APLOG_ERR, 0, r, CIS2_LOGNO(00304)
                      "sign-in refused (ref=%s): %s (%s)", ref, err->detail,
                      cis2_err_name(err->code));
        cis2_status_refused(err->code, "CIS2-00304", ref);
        return login_failed(r, sc, ref, err);
    }
    cis2_profile_after_login(r, sc, pl, s);   /* change role: keep state */

    /* a NEW session id on every login (no fixation); the old one ends */
    sid = cis2_random_token(r->pool, CIS2_RANDOM_BYTES);
    /* the store entry's expiry tells when the session was last seen
     * (mod_cis2_authn.c, find_session): always now + the store's idle */
    expires = now + cis2_srv_store_idle(sc);
    /* indexed by CIS2's sid and the user's sub (scoped to our client), so
     * a back-channel logout token finds exactly its sessions */
    ix.sid = index_value(r->pool, sc->client_id, s->sid);
    ix.sub = index_value(r->pool, sc->client_id, s->sub);
    ix.created = s->created;
    if (sid == NULL
        || cis2_session_encode(&buf, &len, s, &err, r->pool) != APR_SUCCESS
        || cis2_store_put_indexed(st, CIS2_NS_SESSION, sid, buf, len, expires,
                                  &ix, &err, r->pool) != APR_SUCCESS) {
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00305)
                      "cannot store the new session (ref=%s): %s", ref,
                      err ? err->detail : "random generator failed");
        cis2_status_refused(err ? err->code : CIS2_E_CRYPTO, "CIS2-00305",
                            ref);
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
    set_session_cookie(r, sc, sid, -1);
    if (cis2_url_check_redirect(&target, pl->return_url, sc->redirect->origin,
                                sc->redirect_allow, &err, r->pool)
        != APR_SUCCESS) {
        target = cis2_srv_default_url(sc);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00306)
                  "signed in sub=%s aal=%d ial=%d%s", s->sub, s->aal,
                  s->ial, s->sid ? "" : " (no CIS2 sid)");
    cis2_status_count(CIS2_STAT_LOGINS, 1);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Location", target);
    return HTTP_MOVED_TEMPORARILY;
}

/* ---- logout ------------------------------------------------------------- */

/* The `return` parameter of the logout endpoint, validated by THE redirect
 * validator (cis2_url.h): our origin or CIS2RedirectAllowOrigin only. NULL
 * when absent or refused (then the signed-out page is shown). */
static const char *logout_return(request_rec *r, cis2_srv_conf *sc)
{
    apr_table_t *form;
    const char *ret = NULL, *out;
    const cis2_err_t *err = NULL;

    if (r->args == NULL
        || cis2_form_parse(&form, r->args, CIS2_MAX_QUERY,
                           CIS2_MAX_FORM_FIELDS, &err, r->pool) != APR_SUCCESS
        || cis2_form_get_unique(&ret, form, "return", &err, r->pool)
           != APR_SUCCESS
        || ret == NULL) {
        return NULL;
    }
    if (strlen(ret) > CIS2_MAX_URL
        || cis2_url_check_redirect(&out, ret, sc->redirect->origin,
                                   sc->redirect_allow, &err, r->pool)
           != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00404)
                      "logout return URL refused: %s",
                      err ? err->detail : "too long");
        return NULL;
    }
    return out;
}

/* The ID token of the session being ended, for id_token_hint. */
static const char *session_id_token(request_rec *r, cis2_srv_conf *sc,
                                    cis2_store_t *st, const char *sid)
{
    const char *val;
    apr_size_t len;
    cis2_session_t *s;
    const cis2_err_t *err = NULL;

    if (cis2_store_get(st, CIS2_NS_SESSION, sid, apr_time_now(), &val, &len,
                       NULL, &err, r->pool) != APR_SUCCESS
        || cis2_session_decode(&s, val, len, &err, r->pool) != APR_SUCCESS
        || s->client_id == NULL || strcmp(s->client_id, sc->client_id) != 0) {
        return NULL;
    }
    return cis2_session_id_token(s, r->pool);
}

/* End this browser's session and clear both cookies; then either send the
 * browser to CIS2's end_session_endpoint (CIS2RPInitiatedLogout on, and a
 * session to name with id_token_hint), or to the validated `return` URL,
 * or show the signed-out page. */
static int handle_logout(request_rec *r, cis2_srv_conf *sc)
{
    cis2_store_t *st = cis2_glue_store_get();
    const char *sid = get_cookie(r, cis2_srv_cookie_name(sc), 128);
    const char *id_token = NULL, *target, *url;
    const cis2_provider_meta_t *meta;
    const cis2_err_t *err = NULL;
    cis2_cookie_attrs_t ca;

    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "POST", NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    target = logout_return(r, sc);
    if (sid != NULL) {
        if (sc->rp_logout == 1) {
            id_token = session_id_token(r, sc, st, sid);
        }
        cis2_store_delete(st, CIS2_NS_SESSION, sid, &err, r->pool);
    }
    set_session_cookie(r, sc, "", 0);
    memset(&ca, 0, sizeof(ca));
    ca.path = "/";
    ca.same_site = "Lax";
    ca.secure = cis2_srv_secure(sc);
    ca.max_age = 0;
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   cis2_cookie_make(r->pool, cis2_srv_binding_cookie(sc), "",
                                    &ca));
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    ap_discard_request_body(r);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00307)
                  "local logout%s", sid ? "" : " (no session)");
    cis2_status_count(CIS2_STAT_LOGOUTS, 1);

    if (id_token != NULL) {
        if (cis2_provider_meta(&meta, sc->login->provider, &err, r->pool)
                != APR_SUCCESS
            || meta->end_session_endpoint == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00405)
                          "RP-initiated logout impossible: %s; the user is "
                          "signed out here only",
                          err ? err->detail
                          : "CIS2 advertises no end_session_endpoint");
        }
        else {
            url = cis2_oidc_end_session_url(r->pool,
                                            meta->end_session_endpoint,
                                            id_token, sc->client_id,
                                            sc->post_logout_uri);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00406)
                          "RP-initiated logout: sending the browser to "
                          "CIS2's end_session_endpoint");
            apr_table_setn(r->err_headers_out, "Location", url);
            return HTTP_MOVED_TEMPORARILY;
        }
    }
    if (target != NULL) {
        apr_table_setn(r->err_headers_out, "Location", target);
        return HTTP_SEE_OTHER;
    }
    return cis2_page_send(r, HTTP_OK, "You have signed out",
                          "You have signed out of this service.", NULL,
                          cis2_srv_default_url(sc), "Sign in again");
}

/* ---- back-channel logout (CIS2.md §11, OIDC Back-Channel Logout 1.0) -- */

/* Read a form body of at most CIS2_MAX_FORM bytes. */
static apr_status_t read_form_body(request_rec *r, const char **pbody)
{
    apr_size_t total = 0;
    char *buf;
    long n;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK
        || !ap_should_client_block(r)) {
        *pbody = "";
        return r->remaining == 0 && r->read_chunked == 0 ? APR_SUCCESS
                                                         : APR_EGENERAL;
    }
    if (r->remaining > CIS2_MAX_FORM) {
        return APR_ENOSPC;
    }
    buf = apr_palloc(r->pool, CIS2_MAX_FORM + 1);
    while ((n = ap_get_client_block(r, buf + total,
                                    CIS2_MAX_FORM + 1 - total)) > 0) {
        total += (apr_size_t)n;
        if (total > CIS2_MAX_FORM) {
            return APR_ENOSPC;
        }
    }
    if (n < 0) {
        return APR_EGENERAL;
    }
    buf[total] = '\0';
    *pbody = buf;
    return APR_SUCCESS;
}

static int bcl_answer(request_rec *r, int status)
{
    /* BCL 1.0 §2.8: no caching; the body does not matter */
    cis2_status_count(CIS2_STAT_BCL_RECEIVED, 1);
    if (status != HTTP_OK) {
        cis2_status_count(CIS2_STAT_BCL_REFUSED, 1);
    }
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    ap_discard_request_body(r);
    if (status == HTTP_OK) {
        r->status = HTTP_OK;
        ap_set_content_type(r, "text/plain");
        ap_set_content_length(r, 0);
        return OK;
    }
    return cis2_page_send_json(r, status,
                               "{\"error\":\"invalid_request\"}\n");
}

static int handle_backchannel_logout(request_rec *r, cis2_srv_conf *sc)
{
    cis2_store_t *st = cis2_glue_store_get();
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    const char *body = NULL, *token = NULL, *marker;
    apr_table_t *form;
    cis2_logout_claims_t *lc;
    const cis2_err_t *err = NULL;
    apr_time_t now = apr_time_now(), marker_exp;
    apr_interval_time_t skew = sc->login->skew;
    unsigned char h[32];
    int count = 0;
    apr_status_t rv;

    if (r->method_number != M_POST) {
        /* make_allow() reads the method list, not r->allowed */
        ap_allow_methods(r, REPLACE_ALLOW, "POST", NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (ctype == NULL
        || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0
        || (ctype[33] != '\0' && ctype[33] != ';' && ctype[33] != ' ')) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00412)
                      "back-channel logout refused: not a form POST");
        return bcl_answer(r, HTTP_BAD_REQUEST);
    }
    rv = read_form_body(r, &body);
    if (rv != APR_SUCCESS
        || cis2_form_parse(&form, body, CIS2_MAX_FORM, CIS2_MAX_FORM_FIELDS,
                           &err, r->pool) != APR_SUCCESS
        || cis2_form_get_unique(&token, form, "logout_token", &err, r->pool)
           != APR_SUCCESS
        || token == NULL || *token == '\0') {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00407)
                      "back-channel logout refused: %s",
                      rv == APR_ENOSPC ? "body too large"
                      : err ? err->detail : "no logout_token");
        return bcl_answer(r, HTTP_BAD_REQUEST);
    }
    if (cis2_login_verify_logout(&lc, sc->login, token, strlen(token), now,
                                 CIS2_LOGOUT_TOKEN_MAX_AGE, &err, r->pool)
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, err->code == CIS2_E_HTTP
                      || err->code == CIS2_E_TIMEOUT
                      || err->code == CIS2_E_HTTP_STATUS
                      || err->code == CIS2_E_DISCOVERY
                      || err->code == CIS2_E_JWKS ? APLOG_ERR : APLOG_INFO,
                      0, r, CIS2_LOGNO(00408)
                      "back-channel logout token refused: %s (%s)",
                      err->detail, cis2_err_name(err->code));
        return bcl_answer(r, HTTP_BAD_REQUEST);
    }
    /* single use: the jti, or (CIS2 may omit it) the token itself */
    if (lc->jti != NULL) {
        cis2_sha256(h, lc->jti, strlen(lc->jti));
    }
    else {
        cis2_sha256(h, token, strlen(token));
    }
    marker = apr_pstrcat(r->pool, "bcl.", cis2_b64url_encode(r->pool, h, 32),
                         NULL);
    marker_exp = lc->iat + CIS2_LOGOUT_TOKEN_MAX_AGE;
    if (lc->exp > marker_exp) {
        marker_exp = lc->exp;
    }
    marker_exp += 2 * skew;
    if (cis2_store_add_once(st, CIS2_NS_REPLAY, marker, now, marker_exp, &err,
                            r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, err->code == CIS2_E_DUPLICATE ? APLOG_INFO
                      : APLOG_ERR, 0, r, CIS2_LOGNO(00409)
                      "back-channel logout refused: %s",
                      err->code == CIS2_E_DUPLICATE ? "token replayed"
                      : err->detail);
        return bcl_answer(r, HTTP_BAD_REQUEST);
    }
    /* end the session(s): by sid when given, else every session of sub;
     * never one that began after the token was issued */
    if (cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                  lc->sid ? CIS2_INDEX_SID : CIS2_INDEX_SUB,
                                  index_value(r->pool, sc->client_id,
                                              lc->sid ? lc->sid : lc->sub),
                                  lc->iat + skew, &count, &err, r->pool)
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00410)
                      "back-channel logout failed: %s (%s)", err->detail,
                      cis2_err_name(err->code));
        return bcl_answer(r, HTTP_BAD_REQUEST);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00411)
                  "back-channel logout: %d session(s) ended (%s%s)", count,
                  lc->sid ? "by sid" : "by sub=",
                  lc->sid ? "" : lc->sub);
    cis2_status_count(CIS2_STAT_BCL_SESSIONS_ENDED, (apr_uint64_t)count);
    return bcl_answer(r, HTTP_OK);
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
    if (strcmp(path, sc->bcl_path) == 0) {
        return handle_backchannel_logout(r, sc);
    }
    if (sc->jwks_path != NULL && strcmp(path, sc->jwks_path) == 0) {
        return cis2_profile_jwks(r, sc);
    }
    if (strcmp(path, sc->change_role_path) == 0) {
        return cis2_profile_change_role(r, sc);
    }
    return DECLINED;
}
