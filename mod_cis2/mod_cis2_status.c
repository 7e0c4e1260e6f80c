/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_status — the shared operating counters over httpd's process
 * lifecycle, and the status page.
 *
 * Counters (cis2_stats) live in a small anonymous shared memory segment
 * made from the process pool in the first real post_config and kept in
 * httpd's retained data, exactly as the session store's segment is (see
 * mod_cis2_store.c for why that survives restarts): children inherit the
 * mapping when they fork, updates are atomic, so there is no mutex and no
 * child_init step. A graceful restart keeps the counts and bumps the
 * generation; a stop/start zeroes them.
 *
 * Other glue files count through cis2_status_count() and
 * cis2_status_refused() (mod_cis2_private.h); both are no-ops before the
 * segment exists, so a caller needs no check.
 *
 * The page: `CIS2StatusPath /path` (or `SetHandler cis2-status` in a
 * <Location>) is served by an ordinary content handler, so it passes
 * through authentication and authorisation like any other URL: the admin
 * protects it with `Require ip ...` or `AuthType cis2` + `Require ...`.
 * HTML by default, JSON with `?json`. It shows store geometry and use,
 * each provider's discovery/JWKS age and last refresh result (as seen by
 * the process that serves the page: each child keeps its own cache), the
 * counters, and the last sign-in error with its reference id. Nothing
 * secret and nothing about a user: no sub, no name, no token, no secret.
 */
#include <unistd.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_core.h>
#include <http_main.h>
#include <jansson.h>

#include "mod_cis2_config.h"
#include "mod_cis2_private.h"
#include "mod_cis2_store.h"
#include "cis2_json.h"
#include "cis2_provider.h"
#include "cis2_sesscache.h"
#include "cis2_store.h"
#include "cis2_util.h"

#define STATS_RETAIN_KEY "mod_cis2-stats"
#define STATUS_HANDLER   "cis2-status"

typedef struct stats_retained_t {
    apr_shm_t *shm;            /* from the process pool */
    void *base;
    apr_size_t size;
} stats_retained_t;

/* this process's handle (inherited by the children) */
static cis2_stats_t *stats;

/* ---- counting (for every glue file) -------------------------------------- */

void cis2_status_count(cis2_stat_counter c, apr_uint64_t n)
{
    cis2_stats_add(stats, c, n);
}

void cis2_status_refused(int code, const char *logno, const char *ref)
{
    cis2_stats_refused(stats, code, logno, ref, apr_time_now());
}

/* ---- lifecycle ----------------------------------------------------------- */

apr_status_t cis2_status_post_config(apr_pool_t *pconf, server_rec *s)
{
    stats_retained_t *ret = ap_retained_data_get(STATS_RETAIN_KEY);
    const cis2_err_t *err = NULL;
    apr_size_t need = cis2_stats_block_size();
    apr_status_t rv;

    stats = NULL;
    if (ret == NULL) {
        ret = ap_retained_data_create(STATS_RETAIN_KEY, sizeof(*ret));
    }
    if (ret->shm != NULL) {
        if (cis2_stats_attach(&stats, ret->base, ret->size, 0, 0, &err,
                              pconf) == APR_SUCCESS) {
            cis2_stats_new_generation(stats);
            return APR_SUCCESS;
        }
        /* another layout (module upgraded): start counting afresh; old
         * children keep their own mapping until they exit */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, CIS2_LOGNO(00700)
                     "status counters kept from before the restart have "
                     "another layout (%s); counting starts again from zero",
                     err ? err->detail : "invalid");
        apr_shm_destroy(ret->shm);
        ret->shm = NULL;
    }
    rv = apr_shm_create(&ret->shm, need, NULL, s->process->pool);
    if (APR_STATUS_IS_ENOTIMPL(rv)) {
        const char *fname = ap_runtime_dir_relative(pconf, "cis2-stats.shm");

        apr_shm_remove(fname, pconf);
        rv = apr_shm_create(&ret->shm, need, fname, s->process->pool);
    }
    if (rv != APR_SUCCESS) {
        ret->shm = NULL;
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, CIS2_LOGNO(00701)
                     "cannot create the shared memory for mod_cis2's status "
                     "counters (%" APR_SIZE_T_FMT " bytes)", need);
        return rv;
    }
    ret->base = apr_shm_baseaddr_get(ret->shm);
    ret->size = apr_shm_size_get(ret->shm);
    return cis2_stats_attach(&stats, ret->base, ret->size, 1, apr_time_now(),
                             &err, pconf);
}

/* ---- routing: CIS2StatusPath -> our handler, after authz ----------------- */

int cis2_hook_status_fixups(request_rec *r)
{
    cis2_srv_conf *sc = cis2_srv(r->server);

    if (sc->status_path != NULL && r->uri != NULL
        && strcmp(r->uri, sc->status_path) == 0) {
        r->handler = STATUS_HANDLER;
    }
    return DECLINED;
}

/* ---- the report ---------------------------------------------------------- */

static json_t *jint(apr_uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *jtime(apr_time_t t)
{
    return t ? json_integer((json_int_t)apr_time_sec(t)) : json_null();
}

static json_t *jage(apr_time_t t, apr_time_t now)
{
    return t ? json_integer((json_int_t)apr_time_sec(now - t)) : json_null();
}

/* The Redis store's host-local near-cache (counters shared by the host's
 * children; `subscriber_up` is this child's own subscriber). */
static json_t *nearcache_report(json_t *o)
{
    cis2_nearcache_stats_t ns;
    json_t *nc;
    int up = 0;

    if (!cis2_glue_store_nearcache_stats(&ns, &up)) {
        return o;
    }
    nc = json_object();
    json_object_set_new(nc, "ttl_ms", jint(apr_time_as_msec(ns.ttl)));
    json_object_set_new(nc, "serving", json_boolean(ns.live));
    json_object_set_new(nc, "subscriber_up", json_boolean(up));
    json_object_set_new(nc, "entries", jint(ns.entries));
    json_object_set_new(nc, "hits", jint(ns.hits));
    json_object_set_new(nc, "misses", jint(ns.misses));
    json_object_set_new(nc, "stores", jint(ns.stores));
    json_object_set_new(nc, "invalidations", jint(ns.invalidations));
    json_object_set_new(nc, "epoch_bumps", jint(ns.bumps));
    json_object_set_new(nc, "epoch", jint(ns.epoch));
    json_object_set_new(o, "near_cache", nc);
    return o;
}

/* The memo of decoded sessions (cis2_sesscache) of the child that answers
 * this request: its own counters, not the host's (each child has its own
 * memo; summing them would put an atomic on every request's path). */
static json_t *memo_report(json_t *o)
{
    cis2_sesscache_stats_t ms;
    json_t *m;

    if (!cis2_authn_memo_stats(&ms)) {
        return o;
    }
    m = json_object();
    json_object_set_new(m, "process", json_integer((json_int_t)getpid()));
    json_object_set_new(m, "slots", json_integer(ms.slots));
    json_object_set_new(m, "used", json_integer(ms.used));
    json_object_set_new(m, "hits", jint(ms.hits));
    json_object_set_new(m, "misses", jint(ms.misses));
    json_object_set_new(m, "replaced", jint(ms.replaced));
    json_object_set_new(o, "memo", m);
    return o;
}

static json_t *store_report(apr_pool_t *p)
{
    cis2_store_t *st = cis2_glue_store_get();
    cis2_store_stats_t ss;
    cis2_shm_geometry_t g;
    json_t *o, *geo;

    if (st == NULL) {
        return json_null();
    }
    memset(&ss, 0, sizeof(ss));
    cis2_store_get_stats(st, &ss);
    o = json_object();
    json_object_set_new(o, "size_bytes", jint(ss.size_bytes));
    json_object_set_new(o, "used_bytes", jint(ss.used_bytes));
    json_object_set_new(o, "sessions", jint(ss.entries[CIS2_NS_SESSION]));
    json_object_set_new(o, "pending_logins",
                        jint(ss.entries[CIS2_NS_PENDING]));
    json_object_set_new(o, "replay_markers",
                        jint(ss.entries[CIS2_NS_REPLAY]));
    json_object_set_new(o, "hits", jint(ss.hits));
    json_object_set_new(o, "misses", jint(ss.misses));
    json_object_set_new(o, "expired", jint(ss.expired));
    json_object_set_new(o, "evictions", jint(ss.evictions));
    json_object_set_new(o, "puts", jint(ss.puts));
    json_object_set_new(o, "put_failures", jint(ss.put_failures));
    json_object_set_new(o, "lock_waits", jint(ss.lock_waits));
    if (cis2_glue_store_geometry(&g, p)) {
        geo = json_object();
        json_object_set_new(geo, "backend", json_string("shared memory"));
        json_object_set_new(geo, "layout_version", jint(g.version));
        json_object_set_new(geo, "buckets", jint(g.nbuckets));
        json_object_set_new(geo, "heap_bytes", jint(g.heap_bytes));
        json_object_set_new(geo, "session_quota_bytes",
                            jint(g.quota[CIS2_NS_SESSION]));
        json_object_set_new(geo, "pending_quota_bytes",
                            jint(g.quota[CIS2_NS_PENDING]));
        json_object_set_new(geo, "replay_quota_bytes",
                            jint(g.quota[CIS2_NS_REPLAY]));
        json_object_set_new(geo, "session_max_bytes",
                            jint(g.max_entry[CIS2_NS_SESSION]));
        json_object_set_new(geo, "formatted", jtime(g.formatted));
        json_object_set_new(o, "geometry", geo);
    }
    o = nearcache_report(o);
    o = memo_report(o);
    return o;
}

static json_t *provider_report(server_rec *s, cis2_srv_conf *sc,
                               apr_time_t now, apr_pool_t *p)
{
    cis2_provider_info_t in;
    json_t *o = json_object();
    apr_time_t last_ok;
    const char *result;

    memset(&in, 0, sizeof(in));
    cis2_provider_get_info(&in, sc->login->provider);
    last_ok = in.meta_fetched > in.jwks_fetched ? in.meta_fetched
                                                : in.jwks_fetched;
    if (in.last_error != 0 && in.last_error_time >= last_ok) {
        result = apr_pstrcat(p, "failed: ", cis2_err_name(in.last_error),
                             NULL);
    }
    else if (last_ok != 0) {
        result = "ok";
    }
    else {
        result = "not fetched yet by this process";
    }
    json_object_set_new(o, "server", json_string(s->port
                        ? apr_psprintf(p, "%s:%u", s->server_hostname
                                       ? s->server_hostname : "",
                                       (unsigned)s->port)
                        : s->server_hostname ? s->server_hostname : ""));
    json_object_set_new(o, "metadata_url",
                        json_string(cis2_srv_metadata_url(sc)));
    json_object_set_new(o, "discovery_age_s", jage(in.meta_fetched, now));
    json_object_set_new(o, "jwks_age_s", jage(in.jwks_fetched, now));
    json_object_set_new(o, "jwks_keys", json_integer(in.jwks_keys));
    json_object_set_new(o, "discovery_fetches", jint(in.meta_fetches));
    json_object_set_new(o, "jwks_fetches", jint(in.jwks_fetches));
    json_object_set_new(o, "jwks_refetches_refused",
                        jint(in.jwks_refetch_refused));
    json_object_set_new(o, "last_refresh", json_string(result));
    json_object_set_new(o, "last_refresh_error",
                        in.last_error ? json_string(cis2_err_name(
                                                        in.last_error))
                                      : json_null());
    json_object_set_new(o, "last_refresh_error_time",
                        jtime(in.last_error_time));
    return o;
}

static json_t *build_report(request_rec *r)
{
    apr_time_t now = apr_time_now();
    cis2_stats_snapshot_t snap;
    json_t *o = json_object(), *providers = json_array(), *reasons,
           *logins, *logouts, *last;
    apr_hash_t *seen = apr_hash_make(r->pool);
    server_rec *s;
    int i;

    cis2_stats_snapshot(stats, &snap);
    json_object_set_new(o, "module", json_string("mod_cis2 " CIS2_VERSION));
    json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(o, "time", jtime(now));
    json_object_set_new(o, "counters_since", jtime(snap.created));
    json_object_set_new(o, "restarts", json_integer(snap.generation
                                                    ? snap.generation - 1
                                                    : 0));
    json_object_set_new(o, "store", store_report(r->pool));

    /* one entry per provider cache (vhosts of one OP share one) */
    for (s = ap_server_conf; s != NULL; s = s->next) {
        cis2_srv_conf *sc = cis2_srv(s);

        if (sc->login == NULL || sc->login->provider == NULL
            || apr_hash_get(seen, &sc->login->provider, sizeof(void *))) {
            continue;
        }
        apr_hash_set(seen, apr_pmemdup(r->pool, &sc->login->provider,
                                       sizeof(void *)), sizeof(void *), "");
        json_array_append_new(providers,
                              provider_report(s, sc, now, r->pool));
    }
    json_object_set_new(o, "providers", providers);

    logins = json_object();
    reasons = json_object();
    json_object_set_new(logins, "started",
                        jint(snap.counters[CIS2_STAT_LOGINS_STARTED]));
    json_object_set_new(logins, "completed",
                        jint(snap.counters[CIS2_STAT_LOGINS]));
    json_object_set_new(logins, "refused",
                        jint(snap.counters[CIS2_STAT_REFUSALS]));
    for (i = 0; i < CIS2_E__COUNT; i++) {
        if (snap.refusals[i] != 0) {
            json_object_set_new(reasons, cis2_err_name(i),
                                jint(snap.refusals[i]));
        }
    }
    json_object_set_new(logins, "refused_by_reason", reasons);
    json_object_set_new(logins, "unauthenticated_script_401",
                        jint(snap.counters[CIS2_STAT_SCRIPT_401]));
    json_object_set_new(o, "logins", logins);

    logouts = json_object();
    json_object_set_new(logouts, "local",
                        jint(snap.counters[CIS2_STAT_LOGOUTS]));
    json_object_set_new(logouts, "backchannel",
                        jint(snap.counters[CIS2_STAT_BCL_RECEIVED]));
    json_object_set_new(logouts, "backchannel_refused",
                        jint(snap.counters[CIS2_STAT_BCL_REFUSED]));
    json_object_set_new(logouts, "backchannel_sessions_ended",
                        jint(snap.counters[CIS2_STAT_BCL_SESSIONS_ENDED]));
    json_object_set_new(o, "logouts", logouts);

    if (snap.last_error.time != 0) {
        last = json_object();
        json_object_set_new(last, "time", jtime(snap.last_error.time));
        json_object_set_new(last, "log", json_string(snap.last_error.logno));
        json_object_set_new(last, "reason",
                            json_string(cis2_err_name(snap.last_error.code)));
        json_object_set_new(last, "ref", json_string(snap.last_error.ref));
    }
    else {
        last = json_null();
    }
    json_object_set_new(o, "last_error", last);
    return cis2_json_own(r->pool, o);
}

/* ---- HTML rendering of the same report ----------------------------------- */

static const char *esc(apr_pool_t *p, const json_t *v)
{
    if (v == NULL || json_is_null(v)) {
        return "&mdash;";
    }
    if (json_is_integer(v)) {
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(v));
    }
    if (json_is_string(v)) {
        return cis2_html_escape(p, json_string_value(v));
    }
    return cis2_html_escape(p, cis2_json_dump(p, v));
}

static const char *when(apr_pool_t *p, const json_t *v)
{
    char buf[APR_RFC822_DATE_LEN];

    if (!json_is_integer(v)) {
        return "&mdash;";
    }
    apr_rfc822_date(buf, apr_time_from_sec(json_integer_value(v)));
    return apr_pstrdup(p, buf);
}

static const char *rows(apr_pool_t *p, const json_t *obj, const char *skip)
{
    const char *k, *out = "";
    json_t *v;

    json_object_foreach((json_t *)obj, k, v) {
        if (skip && strcmp(k, skip) == 0) {
            continue;
        }
        out = apr_pstrcat(p, out, "<tr><th>", cis2_html_escape(p, k),
                          "</th><td>", esc(p, v), "</td></tr>", NULL);
    }
    return out;
}

static const char *render_html(apr_pool_t *p, json_t *rep)
{
    json_t *st = json_object_get(rep, "store"),
           *logins = json_object_get(rep, "logins"),
           *last = json_object_get(rep, "last_error"), *pv;
    const char *provs = "", *body;
    size_t i;

    json_array_foreach(json_object_get(rep, "providers"), i, pv) {
        provs = apr_pstrcat(p, provs, "<h3>",
                            esc(p, json_object_get(pv, "metadata_url")),
                            "</h3><table>", rows(p, pv, "metadata_url"),
                            "</table>", NULL);
    }
    body = apr_pstrcat(p,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>mod_cis2 status</title><style>"
        "body{font-family:Arial,sans-serif;max-width:60em;margin:2em auto;"
        "padding:0 1em;color:#212b32}h1,h2{color:#005eb8}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #d8dde0;padding:.25em .6em;text-align:left}"
        "th{font-weight:normal;color:#4c6272}</style></head><body>"
        "<h1>mod_cis2 status</h1><p>",
        esc(p, json_object_get(rep, "module")), ", served by process ",
        esc(p, json_object_get(rep, "pid")), " at ",
        when(p, json_object_get(rep, "time")), "; counters since ",
        when(p, json_object_get(rep, "counters_since")), " (",
        esc(p, json_object_get(rep, "restarts")), " graceful restarts). "
        "Machine-readable: <a href=\"?json\">?json</a>.</p>"
        "<h2>Last sign-in error</h2>",
        json_is_null(last) ? "<p>None since the counters started.</p>"
        : apr_pstrcat(p, "<table><tr><th>time</th><td>",
                      when(p, json_object_get(last, "time")),
                      "</td></tr>", rows(p, last, "time"), "</table>"
                      "<p>Search the error log for the reference.</p>",
                      NULL),
        "<h2>Sign-ins</h2><table>", rows(p, logins, "refused_by_reason"),
        "</table><h3>Refused, by reason</h3><table>",
        rows(p, json_object_get(logins, "refused_by_reason"), NULL),
        "</table><h2>Logouts</h2><table>",
        rows(p, json_object_get(rep, "logouts"), NULL),
        "</table><h2>Session store</h2>",
        json_is_null(st) ? "<p>No store in this process.</p>"
        : apr_pstrcat(p, "<table>", rows(p, st, "geometry"), "</table>",
                      json_object_get(st, "geometry")
                      ? apr_pstrcat(p, "<h3>Geometry</h3><table>",
                                    rows(p, json_object_get(st, "geometry"),
                                         "formatted"), "</table>", NULL)
                      : "", NULL),
        "<h2>CIS2 providers</h2><p>Discovery and keys are cached by each "
        "httpd process; this is the view of the process that served this "
        "page.</p>", provs, "</body></html>\n", NULL);
    return body;
}

int cis2_hook_status_handler(request_rec *r)
{
    json_t *rep;
    const char *body, *type;

    if (r->handler == NULL || strcmp(r->handler, STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    rep = build_report(r);
    /* ?json (or ?json=1, as some monitoring tools insist on a value) */
    if (r->args != NULL && strncmp(r->args, "json", 4) == 0
        && (r->args[4] == '\0' || r->args[4] == '=')) {
        body = apr_pstrcat(r->pool, cis2_json_dump(r->pool, rep), "\n", NULL);
        type = "application/json";
    }
    else {
        body = render_html(r->pool, rep);
        type = "text/html; charset=utf-8";
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'");
    ap_set_content_type(r, type);
    ap_set_content_length(r, (apr_off_t)strlen(body));
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    return OK;
}
