/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2 — the module record and the hooks: configuration checks (so
 * `apachectl configtest` refuses a broken setup), the per-server runtime
 * state built after configuration, the bridge that carries core log lines
 * into httpd's error log, and the request hooks implemented in
 * mod_cis2_authn.c (check_authn) and mod_cis2_handler.c (endpoints).
 */
#include <apr_strings.h>
#include <http_core.h>
#include <http_main.h>
#include <ap_mpm.h>

#include "mod_cis2_config.h"
#include "mod_cis2_store.h"
#include "cis2_log.h"
#include "cis2_http.h"

/* ---- core log bridge --------------------------------------------------- */

static int core_log_enabled(void *baton, cis2_log_level level)
{
    return APLOG_IS_LEVEL(ap_server_conf, (int)level);
}

static void core_log(void *baton, const char *file, int line,
                     cis2_log_level level, apr_status_t rv, apr_pool_t *p,
                     const char *msg)
{
    /* the core's own lines share this one number; a request's outcome has
     * its own numbered line from the glue */
    ap_log_error(file, line, APLOG_MODULE_INDEX, (int)level, rv,
                 ap_server_conf, CIS2_LOGNO(00003) "%s", msg);
}

/* ---- configuration phase ----------------------------------------------- */

static int cis2_hook_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp)
{
    return cis2_glue_store_pre_config(pconf) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

/* Runs for `apachectl configtest` too, before "Syntax OK": every problem
 * found here stops the server with a numbered line naming the directive. */
static int cis2_hook_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    server_rec *main_s = s;
    int problems = cis2_glue_store_check(s);

    for (; s != NULL; s = s->next) {
        problems += cis2_srv_check(s, ptemp);
        problems += cis2_srv_check_routing(main_s, s, ptemp);
    }
    return problems == 0 ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

static int any_configured(server_rec *s)
{
    for (; s != NULL; s = s->next) {
        if (cis2_srv_configured(cis2_srv(s))) {
            return 1;
        }
    }
    return 0;
}

static int cis2_hook_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s)
{
    apr_status_t rv;

    /* the first of httpd's two config passes only checks syntax */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    cis2_log_set_sink(core_log, core_log_enabled, NULL);
    if (!any_configured(s)) {
        return OK;
    }
    rv = cis2_http_global_init();
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, CIS2_LOGNO(00001)
                     "cannot initialise libcurl");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = cis2_glue_store_post_config(pconf, s,
                                     cis2_srv_store_size(cis2_srv(s)));
    if (rv != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR; /* the store logged why */
    }
    if (cis2_srv_prepare(s, pconf) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (cis2_status_post_config(pconf, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(00002)
                 "mod_cis2 %s ready", CIS2_VERSION);
    return OK;
}

/* Idle libcurl handles kept per child (issue #4): one per thread that
 * may be calling the provider at once, at most HTTP_MAX_IDLE. */
#define HTTP_MAX_IDLE 16

static void cis2_hook_child_init(apr_pool_t *pchild, server_rec *s)
{
    int threads = 1;
    apr_status_t rv;

    if (any_configured(s)) {
        cis2_glue_store_child_init(pchild, s);
        cis2_authn_child_init(pchild, s);
        if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
            || threads < 1) {
            threads = 1;
        }
        rv = cis2_http_reuse_init(pchild, threads < HTTP_MAX_IDLE
                                          ? threads : HTTP_MAX_IDLE);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, CIS2_LOGNO(00308)
                         "cannot keep connections to the provider; every "
                         "call opens a new one");
        }
    }
}

/* ---- registration ----------------------------------------------------------- */

static void cis2_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(cis2_hook_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(cis2_hook_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(cis2_hook_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(cis2_hook_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* forged identity headers go first, before any module reads them */
    ap_hook_post_read_request(cis2_hook_post_read_request, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    /* endpoints before any other module sees the request (mod_cache too) */
    ap_hook_quick_handler(cis2_hook_quick_handler, NULL, NULL,
                          APR_HOOK_FIRST);
    ap_hook_check_authn(cis2_hook_check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(cis2_hook_note_auth_failure, NULL, NULL,
                              APR_HOOK_MIDDLE);
    /* Require cis2-role/-activity/-org/-aal/-claim (issue #3) */
    cis2_authz_register(p);
    /* the status page: routed after authz (so Require protects it) */
    ap_hook_fixups(cis2_hook_status_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(cis2_hook_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

/* not AP_DECLARE_MODULE: mod_cis2_private.h already says APLOG_USE_MODULE */
module AP_MODULE_DECLARE_DATA cis2_module = {
    STANDARD20_MODULE_STUFF,
    cis2_dir_conf_create,
    cis2_dir_conf_merge,
    cis2_srv_conf_create,
    cis2_srv_conf_merge,
    cis2_cmds,
    cis2_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
