/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_authn — check_authn for `AuthType cis2`: the hot path. A valid
 * session cookie is one store lookup and one decode of a pre-rendered
 * record (no JSON, no crypto); the claims become environment variables or
 * headers. Without a session, a browser navigation starts a sign-in (302 to
 * CIS2) and anything else (XHR, fetch, POST, JSON clients) gets 401, so
 * scripts never loop through CIS2. Client-sent headers that look like ours
 * are removed from every request of a server that uses mod_cis2, before
 * any other module reads them (post_read_request).
 */
#include <apr_strings.h>
#include <apr_lib.h>
#include <http_core.h>

#include "mod_cis2_config.h"
#include "mod_cis2_store.h"
#include "cis2_util.h"
#include "cis2_cookie.h"
#include "cis2_session.h"
#include "cis2_sesscache.h"
#include "cis2_store.h"
#include "mod_cis2_private.h"

/* a state: 32 random bytes in base64url */
#define STATE_LEN 43

/* Decoded sessions remembered per child process (cis2_sesscache): a
 * returning browser's record is not decompressed and decoded again. Each
 * slot holds one decoded session (12-17 KB for a few roles, at most 32 KB
 * plus a pool's slack: CIS2_SESSCACHE_MAX_DECODED), so 256 full slots cost
 * a child ~4 MB, ~10 MB at worst. */
#define MEMO_SLOTS 256

static cis2_sesscache_t *memo;     /* this child's; NULL: decode each time */

void cis2_authn_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_pool_t *mp;
    apr_status_t rv;

    /* The memo lives in a pool of its own that is never destroyed, not in
     * pchild: when the child exits, a request still finishing in another
     * thread may release its pin after pchild's cleanups, and nothing of
     * the memo (entries, allocator, mutexes) may be gone by then. The
     * process's exit returns the memory. */
    rv = apr_pool_create_unmanaged_ex(&mp, NULL, NULL);
    if (rv == APR_SUCCESS) {
        rv = cis2_sesscache_create(&memo, MEMO_SLOTS, mp);
    }
    if (rv != APR_SUCCESS) {
        memo = NULL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, CIS2_LOGNO(00207)
                     "cannot keep decoded sessions in this process; each "
                     "request decodes its session");
    }
}

int cis2_authn_memo_stats(cis2_sesscache_stats_t *st)
{
    if (memo == NULL) {
        return 0;
    }
    cis2_sesscache_stats(memo, st);
    return 1;
}

/* ---- forged identity headers ------------------------------------------- */

/* A header is ours if, upper-cased with '-' read as '_', it starts with
 * CIS2_ or is REMOTE_USER: CGI and proxies may map either spelling onto
 * the names the application trusts (PEER.md §6, CVE-2017-6062). */
static int looks_like_ours(const char *name)
{
    char norm[16];
    apr_size_t i;

    for (i = 0; i < sizeof(norm) - 1 && name[i] != '\0'; i++) {
        norm[i] = name[i] == '-' ? '_' : (char)apr_toupper(name[i]);
    }
    norm[i] = '\0';
    return strncmp(norm, "CIS2_", 5) == 0
           || (name[i] == '\0' && strcmp(norm, "REMOTE_USER") == 0);
}

static void scrub_headers(request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key != NULL && looks_like_ours(e[i].key)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00200)
                          "removed a client-sent identity header");
            /* apr_table_unset compacts the array: rescan from the start */
            apr_table_unset(r->headers_in, e[i].key);
            arr = apr_table_elts(r->headers_in);
            e = (const apr_table_entry_t *)arr->elts;
            i = -1;
        }
    }
}

/* ---- exporting the session --------------------------------------------- */

static const char *header_name(apr_pool_t *p, const char *env)
{
    char *h = apr_pstrdup(p, env), *c;

    for (c = h; *c; c++) {
        if (*c == '_') {
            *c = '-';
        }
    }
    return h;
}

/* Does the table hold a variable or header of ours already? Normally not:
 * post_read_request removed what the client sent. A sub-request starts
 * with its parent's, and an admin's SetEnvIf may have set one. */
static int holds_ours(const apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key != NULL && looks_like_ours(e[i].key)) {
            return 1;
        }
    }
    return 0;
}

/* apr_table_setn first looks for an entry of the same name, comparing
 * (strcasecmp) against every entry whose name starts like it: ~30 names
 * all starting "CIS2" made that most of an authenticated request's cost
 * (t/bench/hotpath). The session's names are unique (cis2_claims renders
 * each once), so when the table holds nothing of ours they are added
 * without looking; otherwise each replaces what is there. */
static void export_session(request_rec *r, const cis2_session_t *s,
                           int pass_as)
{
    const cis2_kv_t *kv = s->env ? (const cis2_kv_t *)s->env->elts : NULL;
    int env = pass_as & CIS2_PASS_ENV, hdr = pass_as & CIS2_PASS_HEADERS;
    int env_new = env && !holds_ours(r->subprocess_env);
    int hdr_new = hdr && !holds_ours(r->headers_in);
    int i;

    /* s may be shared (the memo): the variables' values point into it,
     * and it stays pinned until this request's pool is cleaned up; r->user
     * is the request's own copy, as other modules may read it from their
     * own cleanups of that pool, which may run after the pin's */
    r->user = apr_pstrdup(r->pool, s->remote_user);
    r->ap_auth_type = (char *)CIS2_AUTH_TYPE;
    for (i = 0; s->env != NULL && i < s->env->nelts; i++) {
        if (kv[i].name == NULL || kv[i].value == NULL) {
            continue;          /* only a forged or corrupt record has them */
        }
        if (env_new) {
            apr_table_addn(r->subprocess_env, kv[i].name, kv[i].value);
        }
        else if (env) {
            apr_table_setn(r->subprocess_env, kv[i].name, kv[i].value);
        }
        if (hdr) {
            const char *h = header_name(r->pool, kv[i].name);

            if (hdr_new) {
                apr_table_addn(r->headers_in, h, kv[i].value);
            }
            else {
                apr_table_setn(r->headers_in, h, kv[i].value);
            }
        }
    }
    if (hdr) {
        apr_table_setn(r->headers_in, "CIS2-REMOTE-USER", s->remote_user);
    }
}

/* ---- session lookup ------------------------------------------------------ */

/* find_session's *psid when the store is down and the 503 page is sent */
static const char STORE_DOWN[] = "";

/* The session for this request's cookie, or NULL.
 *
 * Timeouts without a store write per request. The store entry of a session
 * expires `store_idle` after the session was last seen (store_idle = the
 * longest inactivity timeout of the server and of its locations, so the
 * store never drops a session a more lenient location still accepts).
 * Hence  last_seen = entry expiry - store_idle  is known from the lookup
 * alone, and each location applies its own timeout to it. A request
 * anywhere moves last_seen forward (one cis2_store_touch, no value rewrite)
 * only when it is a tenth of the shortest timeout of the server old: a busy
 * user costs one small store write every ~90 s (15 min default), not one
 * per request, and a session may end up to that tenth early, never late.
 * The absolute limit is counted from the login time kept in the record.
 *
 * The session returned may be shared with other requests (the memo of
 * decoded sessions, cis2_sesscache): read it, never change it. */
static cis2_session_t *find_session(request_rec *r, cis2_srv_conf *sc,
                                    const char **psid)
{
    cis2_store_t *st = cis2_glue_store_get();
    const char *cookie = apr_table_get(r->headers_in, "Cookie");
    const char *sid = NULL, *val;
    apr_size_t len;
    apr_time_t now, expires, last_seen;
    const cis2_err_t *err = NULL;
    cis2_session_t *s;
    const cis2_dir_conf *dc = cis2_dir(r);
    apr_interval_time_t store_idle = cis2_srv_store_idle(sc);
    apr_interval_time_t idle = cis2_req_inactivity(sc, dc);

    *psid = NULL;
    if (cookie == NULL || st == NULL) {
        return NULL;
    }
    if (cis2_cookie_get(&sid, cookie, cis2_srv_cookie_name(sc), 128, &err,
                        r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00201)
                      "session cookie ignored: %s", err->detail);
        return NULL;
    }
    if (sid == NULL || *sid == '\0') {
        /* "cis2_session=" is no session, not a store error (issue #7) */
        return NULL;
    }
    now = apr_time_now();
    if (cis2_store_get(st, CIS2_NS_SESSION, sid, now, &val, &len, &expires,
                       &err, r->pool) != APR_SUCCESS) {
        if (err->code == CIS2_E_STORE_DOWN) {   /* 503, not a login loop */
            cis2_glue_store_unavailable(r, err, "session lookup");
            *psid = STORE_DOWN;
            return NULL;
        }
        if (err->code != CIS2_E_NOT_FOUND) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00202)
                          "session store lookup failed: %s", err->detail);
        }
        return NULL;
    }
    /* from the child's memo when this browser's record was decoded a
     * moment ago; else lazily: the authorization view is read only if a
     * Require cis2-* rule asks for it (mod_cis2_authz.c) */
    if ((memo != NULL
         ? cis2_sesscache_decode(memo, &s, NULL, sid, val, len, &err,
                                 r->pool)
         : cis2_session_decode_lazy(&s, val, len, &err, r->pool))
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00203)
                      "unreadable session record dropped: %s", err->detail);
        cis2_store_delete(st, CIS2_NS_SESSION, sid, &err, r->pool);
        return NULL;
    }
    /* a session made for another client (another vhost) is not ours, and
     * a record without a user is no session */
    if (s->client_id == NULL || s->remote_user == NULL
        || strcmp(s->client_id, sc->client_id) != 0) {
        return NULL;
    }
    if (now >= s->expires) {
        /* past the longest life any location allows: gone for good */
        cis2_store_delete(st, CIS2_NS_SESSION, sid, &err, r->pool);
        return NULL;
    }
    if (now >= s->created + cis2_req_max_duration(sc, dc)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CIS2_LOGNO(00400)
                      "session past its maximum duration here");
        return NULL;
    }
    last_seen = expires - store_idle;
    if (now - last_seen >= idle) {
        /* idle too long for this location; a more lenient one may still
         * accept it, and a new login replaces it anyway */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CIS2_LOGNO(00401)
                      "session idle for %" APR_TIME_T_FMT " s: expired here",
                      apr_time_sec(now - last_seen));
        return NULL;
    }
    if (now - last_seen >= cis2_srv_touch_interval(sc)) {
        cis2_store_touch(st, CIS2_NS_SESSION, sid, now, now + store_idle,
                         &err, r->pool);
    }
    *psid = sid;
    return s;
}

cis2_session_t *cis2_authn_find_session(request_rec *r, cis2_srv_conf *sc,
                                        const char **psid)
{
    return find_session(r, sc, psid);
}

/* ---- no session ---------------------------------------------------------- */

static int header_has(const char *h, const char *token)
{
    return h != NULL && ap_strcasestr(h, token) != NULL;
}

/* A top-level browser navigation may be sent to CIS2; anything else would
 * only loop (an XHR cannot follow a cross-site login). Fetch metadata
 * headers decide when present; Accept and X-Requested-With otherwise. */
static int is_navigation(request_rec *r)
{
    const char *mode = apr_table_get(r->headers_in, "Sec-Fetch-Mode");
    const char *dest = apr_table_get(r->headers_in, "Sec-Fetch-Dest");
    const char *accept = apr_table_get(r->headers_in, "Accept");
    const char *xrw = apr_table_get(r->headers_in, "X-Requested-With");

    if (r->method_number != M_GET || r->header_only) {
        return 0;
    }
    if (xrw != NULL && strcasecmp(xrw, "XMLHttpRequest") == 0) {
        return 0;
    }
    if (mode != NULL && strcasecmp(mode, "navigate") != 0) {
        return 0;
    }
    if (dest != NULL && strcasecmp(dest, "document") != 0) {
        return 0;
    }
    if (accept != NULL && !header_has(accept, "text/html")
        && !header_has(accept, "application/xhtml+xml")
        && !header_has(accept, "*/*")) {
        return 0;
    }
    return 1;
}

static int deny_script(request_rec *r, cis2_srv_conf *sc)
{
    cis2_status_count(CIS2_STAT_SCRIPT_401, 1);
    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   "CIS2 realm=\"NHS CIS2\"");
    cis2_page_send_json(r, HTTP_UNAUTHORIZED,
                        "{\"error\":\"login_required\",\"error_description\":"
                        "\"Sign in with NHS CIS2 in the browser, then "
                        "retry.\"}\n");
    return DONE;
}

/* The original URL to come back to: our own path and query only. */
static const char *return_url(request_rec *r, cis2_srv_conf *sc)
{
    const char *target, *out;
    const cis2_err_t *err = NULL;

    target = r->parsed_uri.query
             ? apr_pstrcat(r->pool, r->parsed_uri.path, "?",
                           r->parsed_uri.query, NULL)
             : r->parsed_uri.path;
    if (target == NULL || strlen(target) > CIS2_MAX_URL
        || cis2_url_check_redirect(&out, target, sc->redirect->origin, NULL,
                                   &err, r->pool) != APR_SUCCESS) {
        return cis2_srv_default_url(sc);
    }
    return out;
}

/* At most CIS2MaxPendingLogins sign-ins in progress per browser (DESIGN.md
 * §4). The states a browser started are listed under "b.<binding>" in the
 * pending namespace (a state has no '.', so the keys cannot meet), newest
 * last; the oldest beyond the cap are deleted, so abandoned attempts never
 * pile up and the user never gets an error for them: the newest always
 * works. Two tabs racing here may each write the list without the other's
 * state; that state still works and simply expires with CIS2StateTimeout,
 * and the pending namespace's own quota bounds the store whatever a client
 * does (the cap keeps one browser tidy; it is not the flood defence). */
static void track_pending(request_rec *r, cis2_srv_conf *sc,
                          cis2_store_t *st, const char *binding,
                          const char *state, apr_time_t now,
                          apr_interval_time_t ttl)
{
    const char *key = apr_pstrcat(r->pool, "b.", binding, NULL);
    int max = cis2_srv_max_pending(sc), n = 0, first = 0, i;
    const char **states = apr_pcalloc(r->pool, sizeof(char *) * (max + 1));
    const cis2_err_t *err = NULL;
    const char *val, *list;
    apr_size_t len;
    char *copy, *tok, *last;

    if (cis2_store_get(st, CIS2_NS_PENDING, key, now, &val, &len, NULL, &err,
                       r->pool) == APR_SUCCESS
        && len <= (apr_size_t)(max + 1) * (STATE_LEN + 1)) {
        copy = apr_pstrmemdup(r->pool, val, len);
        for (tok = apr_strtok(copy, " ", &last); tok != NULL;
             tok = apr_strtok(NULL, " ", &last)) {
            /* keep the newest `max` (room for the new one is made below) */
            if (n == max) {
                memmove(states, states + 1, sizeof(char *) * (max - 1));
                n--;
            }
            states[n++] = tok;
        }
    }
    states[n++] = state;
    if (n > max) {
        first = n - max;
        for (i = 0; i < first; i++) {
            cis2_store_delete(st, CIS2_NS_PENDING, states[i], &err, r->pool);
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CIS2_LOGNO(00402)
                      "%d older sign-in(s) of this browser dropped "
                      "(CIS2MaxPendingLogins %d)", first, max);
    }
    list = states[first];
    for (i = first + 1; i < n; i++) {
        list = apr_pstrcat(r->pool, list, " ", states[i], NULL);
    }
    cis2_store_put(st, CIS2_NS_PENDING, key, list, strlen(list), now + ttl,
                   &err, r->pool);
}

static int start_login(request_rec *r, cis2_srv_conf *sc)
{
    return cis2_authn_start_login(r, sc, NULL, return_url(r, sc));
}

/* A sign-in that asks for more than the configuration (step-up, change
 * role: o != NULL), coming back to `back` (already validated). */
int cis2_authn_start_login(request_rec *r, cis2_srv_conf *sc,
                           const cis2_login_opts_t *o, const char *back)
{
    cis2_store_t *st = cis2_glue_store_get();
    const char *cookie = apr_table_get(r->headers_in, "Cookie");
    const char *binding = NULL, *state, *url, *buf, *ref;
    cis2_pending_t *pl;
    apr_size_t len;
    apr_time_t now = apr_time_now();
    apr_interval_time_t ttl = cis2_srv_state_timeout(sc);
    const cis2_err_t *err = NULL;
    cis2_cookie_attrs_t ca;

    /* ONE binding cookie per browser, reused by every login attempt */
    if (cookie != NULL
        && (cis2_cookie_get(&binding, cookie, cis2_srv_binding_cookie(sc), 64,
                            &err, r->pool) != APR_SUCCESS
            || (binding != NULL && strlen(binding) != 43))) {
        binding = NULL;
    }
    /* without a binding, the sign-in draws one with its own values */
    if (cis2_login_begin_opts(&state, &pl, &url, sc->login, o, binding,
                              back, now, &err, r->pool) != APR_SUCCESS
        || cis2_pending_encode(&buf, &len, pl, &err, r->pool) != APR_SUCCESS
        || cis2_store_put(st, CIS2_NS_PENDING, state, buf, len, now + ttl,
                          &err, r->pool) != APR_SUCCESS) {
        if (err != NULL && err->code == CIS2_E_STORE_DOWN) {
            cis2_glue_store_unavailable(r, err, "sign-in start");
            return DONE;
        }
        ref = cis2_random_ref(r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00204)
                      "cannot start a sign-in (ref=%s): %s (%s)", ref,
                      err ? err->detail : "random generator failed",
                      err ? cis2_err_name(err->code) : "crypto");
        cis2_status_refused(err ? err->code : CIS2_E_CRYPTO, "CIS2-00204",
                            ref);
        cis2_page_send(r, HTTP_BAD_GATEWAY, "NHS CIS2 sign-in is unavailable",
                       "This service could not reach NHS CIS2 to sign you "
                       "in. Please try again in a few minutes.", ref,
                       NULL, NULL);
        return DONE;
    }
    binding = pl->binding;
    track_pending(r, sc, st, binding, state, now, ttl);
    memset(&ca, 0, sizeof(ca));
    ca.path = "/";
    ca.same_site = "Lax";    /* sent on the top-level GET back from CIS2 */
    ca.secure = cis2_srv_secure(sc);
    ca.max_age = apr_time_sec(ttl);
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   cis2_cookie_make(r->pool, cis2_srv_binding_cookie(sc),
                                    binding, &ca));
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "Location", url);
    cis2_status_count(CIS2_STAT_LOGINS_STARTED, 1);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CIS2_LOGNO(00205)
                  "no session: sign-in started, redirecting to CIS2");
    ap_discard_request_body(r);
    return HTTP_MOVED_TEMPORARILY;
}

/* A navigation without a good enough session: a plain sign-in, or a
 * step-up when this location needs a higher AAL than the site's sign-in
 * asks for (the callback then checks that level). A lower session `s` is
 * kept until the new sign-in replaces it. */
static int start_login_for(request_rec *r, cis2_srv_conf *sc, int need,
                           const cis2_session_t *s)
{
    cis2_login_opts_t o;

    if (need <= sc->login->required_aal) {
        return start_login(r, sc);
    }
    memset(&o, 0, sizeof(o));
    o.acr_values = cis2_login_acr_for_aal(need);
    o.required_aal = need;
    o.flags = CIS2_PENDING_STEP_UP;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00503)
                  "step-up: %s needs AAL%d, session %s; signing in again",
                  r->uri, need, s ? apr_psprintf(r->pool, "has AAL%d", s->aal)
                                  : "absent");
    return cis2_authn_start_login(r, sc, &o, return_url(r, sc));
}

/* ---- the hooks ------------------------------------------------------------- */

/* Forged identity headers go before anything else sees the request, on
 * every path of a server that uses mod_cis2 — protected, `Require all
 * granted` inside a cis2 location, or not protected at all — so a backend
 * can never mistake them for ours (DESIGN.md §5). Subrequests and internal
 * redirects share the already scrubbed headers. */
int cis2_hook_post_read_request(request_rec *r)
{
    if (cis2_srv(r->server)->login != NULL) {
        scrub_headers(r);
    }
    return DECLINED;
}

int cis2_hook_check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    cis2_srv_conf *sc;
    cis2_session_t *s;
    const char *sid;
    int need;

    if (type == NULL || strcasecmp(type, CIS2_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    sc = cis2_srv(r->server);
    if (sc->login == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00206)
                      "AuthType cis2 is used for %s but this server has no "
                      "CIS2ClientID/CIS2RedirectURI", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* subrequests and internal redirects reuse the main request's answer */
    if (r->main != NULL && r->main->user != NULL) {
        r->user = r->main->user;
        r->ap_auth_type = (char *)CIS2_AUTH_TYPE;
        return OK;
    }
    need = cis2_dir_required_aal(cis2_dir(r), sc);
    s = find_session(r, sc, &sid);
    if (sid == STORE_DOWN) {
        return DONE;                    /* the 503 page is sent */
    }
    if (s != NULL && (need < 0 || s->aal >= need)) {
        export_session(r, s, cis2_dir_pass_as(cis2_dir(r)));
        cis2_authz_set_session(r, s);
        return OK;
    }
    if (s != NULL) {
        /* a session below this location's AAL: step up (CIS2.md §8) */
        if (r->main != NULL) {
            return HTTP_UNAUTHORIZED;
        }
        if (!is_navigation(r)) {
            /* a script cannot follow a sign-in */
            cis2_page_send_json(r, HTTP_FORBIDDEN,
                                "{\"error\":\"insufficient_aal\","
                                "\"error_description\":\"This needs a "
                                "stronger NHS CIS2 sign-in; open the page "
                                "in the browser.\"}\n");
            return DONE;
        }
        return start_login_for(r, sc, need, s);
    }
    switch (cis2_dir_unauth_action(cis2_dir(r))) {
    case CIS2_UNAUTH_PASS:
        /* no identity at all: the (already scrubbed) request goes on, and
         * `Require valid-user` lets an empty user through as
         * mod_auth_openidc's "pass" does; the application decides */
        r->user = "";
        r->ap_auth_type = (char *)CIS2_AUTH_TYPE;
        return OK;
    case CIS2_UNAUTH_401:
        if (r->main == NULL && is_navigation(r)) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CIS2_LOGNO(00403)
                          "no session: 401 (CIS2UnauthAction 401)");
            apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                           "CIS2 realm=\"NHS CIS2\"");
            cis2_page_send(r, HTTP_UNAUTHORIZED, "Sign-in required",
                           "You need to be signed in with NHS CIS2 to use "
                           "this page.", NULL, NULL, NULL);
            return DONE;
        }
        break;
    default:
        if (r->main == NULL && is_navigation(r)) {
            return start_login_for(r, sc, need, NULL);
        }
        break;
    }
    return r->main != NULL ? HTTP_UNAUTHORIZED : deny_script(r, sc);
}

int cis2_hook_note_auth_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, CIS2_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    /* authz refused a signed-in user: a 403 page naming the requirement */
    if (r->user != NULL) {
        cis2_authz_denied(r);
    }
    return OK;
}
