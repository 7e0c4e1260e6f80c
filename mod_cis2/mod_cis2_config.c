/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_config — directives, config records and their merging, the
 * completeness check that makes `apachectl configtest` refuse a broken
 * setup, and the per-server runtime login configuration. Setters validate
 * and convert through core parsers; requests only read prepared values.
 */
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <http_core.h>

#include "mod_cis2_config.h"
#include "cis2_util.h"
#include "cis2_crypto.h"
#include "cis2_store_redis.h"

/* ---- CIS2 environments (CIS2.md §1): issuer strings kept byte for byte,
 *      ":443" included; discovery works without the port ---- */

typedef struct {
    const char *name;
    const char *issuer;
    const char *metadata_url;
} cis2_environment;

#define CIS2_REALM "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"

static const cis2_environment environments[] = {
    { "integration",
      "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443" CIS2_REALM,
      "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk" CIS2_REALM
      "/.well-known/openid-configuration" },
    { "deployment",
      "https://am.nhsdep.auth-ptl.cis2.spineservices.nhs.uk:443" CIS2_REALM,
      "https://am.nhsdep.auth-ptl.cis2.spineservices.nhs.uk" CIS2_REALM
      "/.well-known/openid-configuration" },
    { "live",
      "https://am.nhsidentity.spineservices.nhs.uk:443" CIS2_REALM,
      "https://am.nhsidentity.spineservices.nhs.uk" CIS2_REALM
      "/.well-known/openid-configuration" },
    { NULL, NULL, NULL }
};

static const cis2_environment *find_environment(const char *name)
{
    const cis2_environment *e;

    for (e = environments; e->name != NULL; e++) {
        if (strcasecmp(e->name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

/* ---- create / merge ------------------------------------------------------ */

void *cis2_srv_conf_create(apr_pool_t *p, server_rec *s)
{
    cis2_srv_conf *sc = apr_pcalloc(p, sizeof(*sc)); /* pointers: NULL */

    sc->auth_method = CIS2_UNSET;
    sc->max_age = CIS2_UNSET;
    sc->max_auth_age = CIS2_UNSET;
    sc->required_aal = CIS2_UNSET;
    sc->required_ial = CIS2_UNSET;
    sc->skew = CIS2_UNSET;
    sc->connect_timeout = CIS2_UNSET;
    sc->timeout = CIS2_UNSET;
    sc->userinfo = CIS2_UNSET;
    sc->inactivity = CIS2_UNSET;
    sc->max_duration = CIS2_UNSET;
    sc->state_timeout = CIS2_UNSET;
    sc->max_pending = CIS2_UNSET;
    sc->rp_logout = CIS2_UNSET;
    sc->store_cache_ttl = CIS2_UNSET;
    return sc;
}

void *cis2_srv_conf_merge(apr_pool_t *p, void *basev, void *addv)
{
    const cis2_srv_conf *base = basev, *add = addv;
    cis2_srv_conf *sc = apr_pcalloc(p, sizeof(*sc)); /* never edit inputs */

    sc->environment = CIS2_PICK_PTR(add, base, environment);
    sc->metadata_url = CIS2_PICK_PTR(add, base, metadata_url);
    sc->issuer = CIS2_PICK_PTR(add, base, issuer);
    sc->client_id = CIS2_PICK_PTR(add, base, client_id);
    sc->client_secret = CIS2_PICK_PTR(add, base, client_secret);
    sc->client_secret_src = CIS2_PICK_PTR(add, base, client_secret_src);
    sc->auth_method = CIS2_PICK_INT(add, base, auth_method);
    sc->redirect_uri = CIS2_PICK_PTR(add, base, redirect_uri);
    sc->redirect = CIS2_PICK_PTR(add, base, redirect);
    sc->scope = CIS2_PICK_PTR(add, base, scope);
    sc->acr_values = CIS2_PICK_PTR(add, base, acr_values);
    sc->prompt = CIS2_PICK_PTR(add, base, prompt);
    sc->max_age = CIS2_PICK_INT(add, base, max_age);
    sc->max_auth_age = CIS2_PICK_INT(add, base, max_auth_age);
    sc->required_aal = CIS2_PICK_INT(add, base, required_aal);
    sc->required_ial = CIS2_PICK_INT(add, base, required_ial);
    sc->id_token_algs = CIS2_PICK_PTR(add, base, id_token_algs);
    sc->skew = CIS2_PICK_INT(add, base, skew);
    sc->connect_timeout = CIS2_PICK_INT(add, base, connect_timeout);
    sc->timeout = CIS2_PICK_INT(add, base, timeout);
    sc->ca_file = CIS2_PICK_PTR(add, base, ca_file);
    sc->userinfo = CIS2_PICK_INT(add, base, userinfo);
    sc->remote_user_claim = CIS2_PICK_PTR(add, base, remote_user_claim);
    sc->cookie_name = CIS2_PICK_PTR(add, base, cookie_name);
    sc->cookie_path = CIS2_PICK_PTR(add, base, cookie_path);
    sc->inactivity = CIS2_PICK_INT(add, base, inactivity);
    sc->max_duration = CIS2_PICK_INT(add, base, max_duration);
    sc->state_timeout = CIS2_PICK_INT(add, base, state_timeout);
    sc->default_url = CIS2_PICK_PTR(add, base, default_url);
    sc->cookie_domain = CIS2_PICK_PTR(add, base, cookie_domain);
    sc->cookie_same_site = CIS2_PICK_PTR(add, base, cookie_same_site);
    sc->max_pending = CIS2_PICK_INT(add, base, max_pending);
    sc->redirect_allow = CIS2_PICK_PTR(add, base, redirect_allow);
    sc->rp_logout = CIS2_PICK_INT(add, base, rp_logout);
    sc->post_logout_uri = CIS2_PICK_PTR(add, base, post_logout_uri);
    /* the main server's <Location>s apply to a vhost too: keep the larger */
    sc->dir_inactivity_max = add->dir_inactivity_max > base->dir_inactivity_max
                             ? add->dir_inactivity_max
                             : base->dir_inactivity_max;
    sc->dir_inactivity_min =
        add->dir_inactivity_min == 0 ? base->dir_inactivity_min
        : base->dir_inactivity_min == 0 ? add->dir_inactivity_min
        : add->dir_inactivity_min < base->dir_inactivity_min
        ? add->dir_inactivity_min : base->dir_inactivity_min;
    sc->dir_max_duration_max =
        add->dir_max_duration_max > base->dir_max_duration_max
        ? add->dir_max_duration_max : base->dir_max_duration_max;
    sc->assertion_key = CIS2_PICK_PTR(add, base, assertion_key);
    sc->previous_key = CIS2_PICK_PTR(add, base, previous_key);
    sc->assertion_alg = CIS2_PICK_PTR(add, base, assertion_alg);
    sc->status_path = CIS2_PICK_PTR(add, base, status_path);
    /* store_size is global: only the main server's value counts */
    sc->store_size = base->store_size;
    sc->redis = base->redis;
    sc->passphrases = base->passphrases;
    sc->store_cache_ttl = base->store_cache_ttl;
    return sc;
}

void *cis2_dir_conf_create(apr_pool_t *p, char *dir)
{
    cis2_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->pass_as = CIS2_UNSET;
    dc->inactivity = CIS2_UNSET;
    dc->max_duration = CIS2_UNSET;
    dc->unauth_action = CIS2_UNSET;
    dc->required_aal = CIS2_UNSET;
    dc->authz_roles = CIS2_UNSET;
    return dc;
}

void *cis2_dir_conf_merge(apr_pool_t *p, void *basev, void *addv)
{
    const cis2_dir_conf *base = basev, *add = addv;
    cis2_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->pass_as = CIS2_PICK_INT(add, base, pass_as);
    dc->inactivity = CIS2_PICK_INT(add, base, inactivity);
    dc->max_duration = CIS2_PICK_INT(add, base, max_duration);
    dc->unauth_action = CIS2_PICK_INT(add, base, unauth_action);
    dc->required_aal = CIS2_PICK_INT(add, base, required_aal);
    dc->authz_roles = CIS2_PICK_INT(add, base, authz_roles);
    return dc;
}

/* ---- accessors (defaults live here) -------------------------------------- */

int cis2_srv_secure(const cis2_srv_conf *sc)
{
    return sc->redirect != NULL && strcmp(sc->redirect->scheme, "https") == 0;
}

const char *cis2_srv_cookie_path(const cis2_srv_conf *sc)
{
    return sc->cookie_path ? sc->cookie_path : "/";
}

/* The __Host- prefix (RFC 6265bis §4.1.3.2) pins a cookie to our host,
 * https and Path=/: used by default whenever it is allowed. */
static int host_prefix_ok(const cis2_srv_conf *sc)
{
    return cis2_srv_secure(sc) && strcmp(cis2_srv_cookie_path(sc), "/") == 0
           && sc->cookie_domain == NULL;
}

const char *cis2_srv_cookie_name(const cis2_srv_conf *sc)
{
    if (sc->cookie_name) {
        return sc->cookie_name;
    }
    return host_prefix_ok(sc) ? CIS2_DEFAULT_COOKIE_HOST : CIS2_DEFAULT_COOKIE;
}

const char *cis2_srv_binding_cookie(const cis2_srv_conf *sc)
{
    return host_prefix_ok(sc) ? CIS2_BINDING_COOKIE_HOST : CIS2_BINDING_COOKIE;
}

apr_interval_time_t cis2_srv_inactivity(const cis2_srv_conf *sc)
{
    return sc->inactivity != CIS2_UNSET ? sc->inactivity
                                        : CIS2_DEFAULT_INACTIVITY;
}

apr_interval_time_t cis2_srv_max_duration(const cis2_srv_conf *sc)
{
    return sc->max_duration != CIS2_UNSET ? sc->max_duration
                                          : CIS2_DEFAULT_MAX_DURATION;
}

apr_interval_time_t cis2_srv_state_timeout(const cis2_srv_conf *sc)
{
    return sc->state_timeout != CIS2_UNSET ? sc->state_timeout
                                           : CIS2_DEFAULT_STATE_TIMEOUT;
}

const char *cis2_srv_default_url(const cis2_srv_conf *sc)
{
    return sc->default_url ? sc->default_url : CIS2_DEFAULT_DEFAULT_URL;
}

apr_size_t cis2_srv_store_size(const cis2_srv_conf *sc)
{
    return sc->store_size ? sc->store_size : CIS2_DEFAULT_STORE_SIZE;
}

apr_interval_time_t cis2_srv_store_cache_ttl(const cis2_srv_conf *sc)
{
    return sc->store_cache_ttl != CIS2_UNSET ? sc->store_cache_ttl
                                             : CIS2_DEFAULT_STORE_CACHE_TTL;
}

const char *cis2_srv_metadata_url(const cis2_srv_conf *sc)
{
    const cis2_environment *env = sc->environment
                                  ? find_environment(sc->environment) : NULL;

    return sc->metadata_url ? sc->metadata_url
                            : env ? env->metadata_url : NULL;
}

int cis2_dir_pass_as(const cis2_dir_conf *dc)
{
    return dc->pass_as != CIS2_UNSET ? dc->pass_as : CIS2_PASS_ENV;
}

const char *cis2_srv_cookie_domain(const cis2_srv_conf *sc)
{
    return sc->cookie_domain;
}

const char *cis2_srv_same_site(const cis2_srv_conf *sc)
{
    return sc->cookie_same_site ? sc->cookie_same_site
                                : CIS2_DEFAULT_SAME_SITE;
}

int cis2_srv_max_pending(const cis2_srv_conf *sc)
{
    return sc->max_pending != CIS2_UNSET ? sc->max_pending
                                         : CIS2_DEFAULT_MAX_PENDING;
}

apr_interval_time_t cis2_srv_store_idle(const cis2_srv_conf *sc)
{
    apr_interval_time_t t = cis2_srv_inactivity(sc);

    return sc->dir_inactivity_max > t ? sc->dir_inactivity_max : t;
}

apr_interval_time_t cis2_srv_touch_interval(const cis2_srv_conf *sc)
{
    apr_interval_time_t t = cis2_srv_inactivity(sc);

    if (sc->dir_inactivity_min > 0 && sc->dir_inactivity_min < t) {
        t = sc->dir_inactivity_min;
    }
    return t / 10;
}

apr_interval_time_t cis2_srv_store_max(const cis2_srv_conf *sc)
{
    apr_interval_time_t t = cis2_srv_max_duration(sc);

    return sc->dir_max_duration_max > t ? sc->dir_max_duration_max : t;
}

apr_interval_time_t cis2_req_inactivity(const cis2_srv_conf *sc,
                                        const cis2_dir_conf *dc)
{
    return dc->inactivity != CIS2_UNSET ? dc->inactivity
                                        : cis2_srv_inactivity(sc);
}

apr_interval_time_t cis2_req_max_duration(const cis2_srv_conf *sc,
                                          const cis2_dir_conf *dc)
{
    return dc->max_duration != CIS2_UNSET ? dc->max_duration
                                          : cis2_srv_max_duration(sc);
}

int cis2_dir_unauth_action(const cis2_dir_conf *dc)
{
    return dc->unauth_action != CIS2_UNSET ? dc->unauth_action
                                           : CIS2_UNAUTH_AUTH;
}

int cis2_dir_authz_roles(const cis2_dir_conf *dc)
{
    return dc->authz_roles != CIS2_UNSET ? dc->authz_roles
                                         : CIS2_AUTHZ_SELECTED;
}

int cis2_dir_required_aal(const cis2_dir_conf *dc, const cis2_srv_conf *sc)
{
    if (dc != NULL && dc->required_aal != CIS2_UNSET) {
        return dc->required_aal == CIS2_OFF ? -1 : dc->required_aal;
    }
    return sc->login != NULL ? sc->login->required_aal : -1;
}

/* ---- directive setters --------------------------------------------------- */

#define SRV(cmd) ((cis2_srv_conf *)ap_get_module_config( \
                      (cmd)->server->module_config, &cis2_module))

static const char *set_environment(cmd_parms *cmd, void *dc, const char *v)
{
    if (find_environment(v) == NULL) {
        return apr_psprintf(cmd->pool, "CIS2-00100: %s: unknown environment "
                            "'%s'; use integration, deployment or live "
                            "(or CIS2ProviderMetadataURL for another realm)",
                            cmd->cmd->name, v);
    }
    SRV(cmd)->environment = v;
    return NULL;
}

static const char *set_url(cmd_parms *cmd, void *dc, const char *v)
{
    cis2_url_t *u;
    const cis2_err_t *err = NULL;
    const char **field = (const char **)((char *)SRV(cmd)
                                         + (apr_size_t)cmd->info);

    if (cis2_url_parse_absolute(&u, v, &err, cmd->pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "CIS2-00101: %s: '%s' is not an "
                            "absolute http(s) URL (%s)", cmd->cmd->name, v,
                            err ? err->detail : "invalid");
    }
    *field = v;
    return NULL;
}

static const char *set_string(cmd_parms *cmd, void *dc, const char *v)
{
    const char **field = (const char **)((char *)SRV(cmd)
                                         + (apr_size_t)cmd->info);

    if (*v == '\0' || cis2_has_ctl(v, strlen(v))) {
        return apr_psprintf(cmd->pool, "CIS2-00102: %s: needs a non-empty "
                            "value without control characters",
                            cmd->cmd->name);
    }
    *field = v;
    return NULL;
}

/* "off" switches an optional request parameter off (stored as ""). */
static const char *set_string_or_off(cmd_parms *cmd, void *dc, const char *v)
{
    if (strcasecmp(v, "off") == 0) {
        const char **field = (const char **)((char *)SRV(cmd)
                                             + (apr_size_t)cmd->info);
        *field = "";
        return NULL;
    }
    return set_string(cmd, dc, v);
}

/* CIS2 uses plain http only on this machine (the simulator, a demo). */
static int is_loopback_host(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0
           || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

static const char *set_redirect_uri(cmd_parms *cmd, void *dc, const char *v)
{
    cis2_srv_conf *sc = SRV(cmd);
    const cis2_err_t *err = NULL;

    if (cis2_url_parse_absolute(&sc->redirect, v, &err, cmd->pool)
        != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "CIS2-00103: %s: '%s' is not an "
                            "absolute http(s) URL (%s); it must be the "
                            "exact callback URL registered with CIS2, e.g. "
                            "https://app.example.nhs.uk/cis2/callback",
                            cmd->cmd->name, v,
                            err ? err->detail : "invalid");
    }
    if (sc->redirect->query != NULL
        || strcmp(sc->redirect->path, "/") == 0) {
        return apr_psprintf(cmd->pool, "CIS2-00104: %s: '%s' must name a "
                            "path of its own (like /cis2/callback) without "
                            "a query", cmd->cmd->name, v);
    }
    if (strcmp(sc->redirect->scheme, "https") != 0
        && !is_loopback_host(sc->redirect->host)) {
        return apr_psprintf(cmd->pool, "CIS2-00171: %s: '%s' must use "
                            "https (plain http is only for localhost "
                            "tests): CIS2 sends the sign-in code to it and "
                            "the session cookie must be Secure",
                            cmd->cmd->name, v);
    }
    sc->redirect_uri = v;
    return NULL;
}

const char *cis2_check_secret_file(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;
    apr_status_t rv;

    rv = apr_stat(&fi, path, APR_FINFO_TYPE | APR_FINFO_PROT, p);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        char ebuf[120];

        return apr_psprintf(p, "cannot read %s (%s)", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (fi.filetype != APR_REG) {
        return apr_psprintf(p, "%s is not a regular file", path);
    }
    if (fi.protection & (APR_WREAD | APR_WWRITE)) {
        return apr_psprintf(p, "%s can be read or written by every user on "
                            "this machine: make it readable by root only "
                            "(chown root: %s && chmod 600 %s)", path, path,
                            path);
    }
    return NULL;
}

/* Trailing CR/LF/space are not part of a secret kept in a file. */
static const char *read_secret_file(cmd_parms *cmd, const char *path,
                                    const char **psecret)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char *buf;
    apr_size_t n;

    path = ap_server_root_relative(cmd->pool, path);
    if (path == NULL) {
        return "invalid path";
    }
    rv = apr_file_open(&f, path, APR_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    }
    if (rv != APR_SUCCESS) {
        char ebuf[120];

        return apr_psprintf(cmd->pool, "cannot read %s (%s)", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (fi.size <= 0 || fi.size > 4096) {
        apr_file_close(f);
        return apr_psprintf(cmd->pool, "%s is empty or larger than 4 KB",
                            path);
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(cmd->pool, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "cannot read %s", path);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' ')) {
        n--;
    }
    buf[n] = '\0';
    if (n == 0 || cis2_has_ctl(buf, n)) {
        return apr_psprintf(cmd->pool, "%s holds no usable secret", path);
    }
    *psecret = buf;
    return NULL;
}

static const char *set_client_secret(cmd_parms *cmd, void *dc, const char *v)
{
    cis2_srv_conf *sc = SRV(cmd);

    if (strncmp(v, "file:", 5) == 0) {
        const char *path = ap_server_root_relative(cmd->pool, v + 5);
        const char *msg;
        apr_finfo_t fi;

        /* an existing file must be private; a missing one is 00105's */
        if (path != NULL
            && apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool)
               == APR_SUCCESS
            && (msg = cis2_check_secret_file(cmd->pool, path)) != NULL) {
            return apr_psprintf(cmd->pool, "CIS2-00170: %s: %s",
                                cmd->cmd->name, msg);
        }
        msg = read_secret_file(cmd, v + 5, &sc->client_secret);
        if (msg != NULL) {
            return apr_psprintf(cmd->pool, "CIS2-00105: %s: %s",
                                cmd->cmd->name, msg);
        }
        sc->client_secret_src = v + 5;
        return NULL;
    }
    if (*v == '\0' || cis2_has_ctl(v, strlen(v))) {
        return apr_psprintf(cmd->pool, "CIS2-00106: %s: the secret is empty "
                            "or holds control characters", cmd->cmd->name);
    }
    sc->client_secret = v;
    sc->client_secret_src = "inline";
    return NULL;
}

static const char *set_auth_method(cmd_parms *cmd, void *dc, const char *v)
{
    cis2_srv_conf *sc = SRV(cmd);

    if (strcmp(v, "client_secret_post") == 0) {
        sc->auth_method = CIS2_AUTH_SECRET_POST;
    }
    else if (strcmp(v, "client_secret_basic") == 0) {
        sc->auth_method = CIS2_AUTH_SECRET_BASIC;
    }
    else if (strcmp(v, "private_key_jwt") == 0) {
        sc->auth_method = CIS2_AUTH_PRIVATE_KEY_JWT;
    }
    else {
        return apr_psprintf(cmd->pool, "CIS2-00107: %s: '%s' is not "
                            "supported; use client_secret_post, "
                            "client_secret_basic or private_key_jwt",
                            cmd->cmd->name, v);
    }
    return NULL;
}

static const char *set_duration(cmd_parms *cmd, void *dc, const char *v)
{
    apr_interval_time_t *field = (apr_interval_time_t *)
        ((char *)SRV(cmd) + (apr_size_t)cmd->info);

    if (cis2_parse_duration(field, v) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "CIS2-00108: %s: '%s' is not a "
                            "duration (e.g. 300, 90s, 15m, 12h)",
                            cmd->cmd->name, v);
    }
    return NULL;
}

static const char *set_duration_or_off(cmd_parms *cmd, void *dc,
                                       const char *v)
{
    if (strcasecmp(v, "off") == 0) {
        apr_interval_time_t *field = (apr_interval_time_t *)
            ((char *)SRV(cmd) + (apr_size_t)cmd->info);
        *field = 0;
        return NULL;
    }
    return set_duration(cmd, dc, v);
}

static const char *set_max_age(cmd_parms *cmd, void *dc, const char *v)
{
    apr_interval_time_t t;

    if (strcasecmp(v, "off") == 0) {
        SRV(cmd)->max_age = CIS2_OFF;
        return NULL;
    }
    if (cis2_parse_duration(&t, v) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "CIS2-00109: %s: '%s' is neither "
                            "'off' nor a duration", cmd->cmd->name, v);
    }
    SRV(cmd)->max_age = apr_time_sec(t);
    return NULL;
}

static const char *set_level(cmd_parms *cmd, void *dc, const char *v)
{
    int *field = (int *)((char *)SRV(cmd) + (apr_size_t)cmd->info);

    if (strcasecmp(v, "off") == 0) {
        *field = CIS2_OFF;
        return NULL;
    }
    /* "3" or, as CIS2 names the levels, "AAL3" / "IAL3" */
    {
        const char *d = v;

        if (strncasecmp(v, "AAL", 3) == 0 || strncasecmp(v, "IAL", 3) == 0) {
            d = v + 3;
        }
        if (strlen(d) != 1 || d[0] < '1' || d[0] > '3') {
            return apr_psprintf(cmd->pool, "CIS2-00111: %s: '%s' is not a "
                                "level (1, 2, 3) or 'off'", cmd->cmd->name,
                                v);
        }
        *field = d[0] - '0';
    }
    return NULL;
}

static const char *set_algs(cmd_parms *cmd, void *dc, const char *v)
{
    cis2_srv_conf *sc = SRV(cmd);

    if (!cis2_jwt_alg_supported(v)) {
        return apr_psprintf(cmd->pool, "CIS2-00112: %s: '%s' is not an "
                            "accepted algorithm (RS256, RS384, RS512, PS256, "
                            "PS384, PS512; never none or HS*)",
                            cmd->cmd->name, v);
    }
    if (sc->id_token_algs == NULL) {
        sc->id_token_algs = apr_array_make(cmd->pool, 2, sizeof(char *));
    }
    APR_ARRAY_PUSH(sc->id_token_algs, const char *) = v;
    return NULL;
}

static const char *set_http_timeout(cmd_parms *cmd, void *dc, const char *c,
                                    const char *t)
{
    cis2_srv_conf *sc = SRV(cmd);

    if (cis2_parse_duration(&sc->connect_timeout, c) != APR_SUCCESS
        || cis2_parse_duration(&sc->timeout, t ? t : c) != APR_SUCCESS
        || sc->connect_timeout <= 0 || sc->timeout <= 0) {
        return apr_psprintf(cmd->pool, "CIS2-00113: %s: expects a connect "
                            "timeout and a total timeout (e.g. 5s 10s)",
                            cmd->cmd->name);
    }
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dc, int on)
{
    int *field = (int *)((char *)SRV(cmd) + (apr_size_t)cmd->info);

    *field = on ? 1 : 0;
    return NULL;
}

static const char *set_local_path(cmd_parms *cmd, void *dc, const char *v)
{
    const char **field = (const char **)((char *)SRV(cmd)
                                         + (apr_size_t)cmd->info);

    if (v[0] != '/' || v[1] == '/' || v[1] == '\\' || strchr(v, '\\')
        || cis2_has_ctl(v, strlen(v))) {
        return apr_psprintf(cmd->pool, "CIS2-00114: %s: '%s' must be a local "
                            "path starting with a single '/'",
                            cmd->cmd->name, v);
    }
    *field = v;
    return NULL;
}

static const char *set_store_size(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_size_t size;

    if (err != NULL) {
        return err;
    }
    if (cis2_parse_size(&size, v) != APR_SUCCESS
        || size < (apr_size_t)1024 * 1024) {
        return apr_psprintf(cmd->pool, "CIS2-00115: %s: '%s' is not a size "
                            "of at least 1M (e.g. 64M, 1G)", cmd->cmd->name,
                            v);
    }
    SRV(cmd)->store_size = size;
    return NULL;
}

/* CIS2SessionStoreCacheTTL off | 0 | duration up to 60s (issue #6) */
static const char *set_store_cache_ttl(cmd_parms *cmd, void *dc,
                                       const char *v)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_interval_time_t t;

    if (err != NULL) {
        return err;
    }
    if (strcasecmp(v, "off") == 0) {
        SRV(cmd)->store_cache_ttl = 0;
        return NULL;
    }
    if (cis2_parse_duration(&t, v) != APR_SUCCESS || t < 0
        || t > apr_time_from_sec(60)) {
        return apr_psprintf(cmd->pool, "CIS2-10115: %s: '%s' is not 'off' "
                            "nor a duration up to 60s (e.g. 5s, 500ms)",
                            cmd->cmd->name, v);
    }
    SRV(cmd)->store_cache_ttl = t;
    return NULL;
}

static const char *set_pass_as(cmd_parms *cmd, void *dcv, const char *v)
{
    cis2_dir_conf *dc = dcv;

    if (strcasecmp(v, "environment") == 0) {
        dc->pass_as = CIS2_PASS_ENV;
    }
    else if (strcasecmp(v, "headers") == 0) {
        dc->pass_as = CIS2_PASS_HEADERS;
    }
    else if (strcasecmp(v, "both") == 0) {
        dc->pass_as = CIS2_PASS_BOTH;
    }
    else {
        return apr_psprintf(cmd->pool, "CIS2-00116: %s: use environment, "
                            "headers or both", cmd->cmd->name);
    }
    return NULL;
}

/* CIS2SessionStore shm | redis[s]://... [name=value ...] (issue #6) */
static const char *set_session_store(cmd_parms *cmd, void *dc,
                                     const char *args)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *url = ap_getword_conf(cmd->temp_pool, &args);

    if (err != NULL) {
        return err;
    }
    if (strcasecmp(url, "shm") == 0 && *args == '\0') {
        SRV(cmd)->redis = NULL;
        return NULL;
    }
    if (strncasecmp(url, "redis://", 8) != 0
        && strncasecmp(url, "rediss://", 9) != 0) {
        return apr_psprintf(cmd->pool, "CIS2-10100: %s: use shm, or a "
                            "redis:// or rediss:// URL followed by options",
                            cmd->cmd->name);
    }
#ifdef CIS2_WITH_REDIS
    {
        cis2_redis_conf_t *rc = NULL;
        const cis2_err_t *e = NULL;

        if (cis2_redis_conf_parse(&rc, apr_pstrdup(cmd->pool, url), &e,
                                  cmd->pool) != APR_SUCCESS) {
            return apr_psprintf(cmd->pool, "CIS2-10101: %s: %s",
                                cmd->cmd->name, e->detail);
        }
        while (*args != '\0') {
            char *opt = ap_getword_conf(cmd->pool, &args);
            char *eq = strchr(opt, '=');
            const char *val;

            if (*opt == '\0') {
                break;
            }
            if (eq != NULL) {
                *eq++ = '\0';
            }
            val = eq;
            if (eq != NULL && strcmp(opt, "password") == 0
                && strncmp(eq, "file:", 5) == 0) {
                const char *msg = read_secret_file(cmd, eq + 5, &val);

                if (msg != NULL) {
                    return apr_psprintf(cmd->pool, "CIS2-10102: %s: "
                                        "password: %s", cmd->cmd->name, msg);
                }
            }
            if (cis2_redis_conf_set(rc, opt, val, &e, cmd->pool)
                != APR_SUCCESS) {
                return apr_psprintf(cmd->pool, "CIS2-10103: %s: %s",
                                    cmd->cmd->name, e->detail);
            }
        }
        SRV(cmd)->redis = rc;
        return NULL;
    }
#else
    return apr_psprintf(cmd->pool, "CIS2-10104: %s: this mod_cis2 was built "
                        "without hiredis, so it has no Redis store (install "
                        "libhiredis-dev and build again)", cmd->cmd->name);
#endif
}

/* CIS2CryptoPassphrase <new> [<old> ...]: each inline or file:/path */
static const char *set_passphrase(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    cis2_srv_conf *sc = SRV(cmd);
    const char *pw = v;

    if (err != NULL) {
        return err;
    }
    if (strncmp(v, "file:", 5) == 0) {
        const char *msg = read_secret_file(cmd, v + 5, &pw);

        if (msg != NULL) {
            return apr_psprintf(cmd->pool, "CIS2-10105: %s: %s",
                                cmd->cmd->name, msg);
        }
    }
    if (strlen(pw) < CIS2_CRYPTO_MIN_PASSPHRASE
        || cis2_has_ctl(pw, strlen(pw))) {
        return apr_psprintf(cmd->pool, "CIS2-10106: %s: a passphrase needs "
                            "at least %d characters and no control "
                            "characters", cmd->cmd->name,
                            CIS2_CRYPTO_MIN_PASSPHRASE);
    }
    if (sc->passphrases == NULL) {
        sc->passphrases = apr_array_make(cmd->pool, 2, sizeof(char *));
    }
    APR_ARRAY_PUSH(sc->passphrases, const char *) = pw;
    return NULL;
}

/* CIS2SessionInactivityTimeout and CIS2SessionMaxDuration: server-wide,
 * or for one <Location>/<Directory> (cmd->path set). A location's value is
 * also remembered as the server's largest, so the store keeps a session
 * as long as the most lenient location of the server needs it. */
static const char *set_session_time(cmd_parms *cmd, void *dcv, const char *v)
{
    cis2_dir_conf *dc = dcv;
    cis2_srv_conf *sc = SRV(cmd);
    int idle = cmd->info != NULL;
    apr_interval_time_t t;

    if (cis2_parse_duration(&t, v) != APR_SUCCESS || t <= 0) {
        return apr_psprintf(cmd->pool, "CIS2-00136: %s: '%s' is not a "
                            "positive duration (e.g. 90s, 15m, 12h)",
                            cmd->cmd->name, v);
    }
    if (cmd->path == NULL) {
        if (idle) {
            sc->inactivity = t;
        }
        else {
            sc->max_duration = t;
        }
        return NULL;
    }
    if (idle) {
        dc->inactivity = t;
        if (t > sc->dir_inactivity_max) {
            sc->dir_inactivity_max = t;
        }
        if (sc->dir_inactivity_min == 0 || t < sc->dir_inactivity_min) {
            sc->dir_inactivity_min = t;
        }
    }
    else {
        dc->max_duration = t;
        if (t > sc->dir_max_duration_max) {
            sc->dir_max_duration_max = t;
        }
    }
    return NULL;
}

static const char *set_unauth_action(cmd_parms *cmd, void *dcv, const char *v)
{
    cis2_dir_conf *dc = dcv;

    if (strcasecmp(v, "auth") == 0) {
        dc->unauth_action = CIS2_UNAUTH_AUTH;
    }
    else if (strcmp(v, "401") == 0) {
        dc->unauth_action = CIS2_UNAUTH_401;
    }
    else if (strcasecmp(v, "pass") == 0) {
        dc->unauth_action = CIS2_UNAUTH_PASS;
    }
    else {
        return apr_psprintf(cmd->pool, "CIS2-00130: %s: use auth, 401 or "
                            "pass", cmd->cmd->name);
    }
    return NULL;
}

static const char *set_max_pending(cmd_parms *cmd, void *dc, const char *v)
{
    char *end;
    apr_int64_t n = apr_strtoi64(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < 1 || n > 50) {
        return apr_psprintf(cmd->pool, "CIS2-00131: %s: '%s' is not a "
                            "number from 1 to 50", cmd->cmd->name, v);
    }
    SRV(cmd)->max_pending = (int)n;
    return NULL;
}

static const char *set_same_site(cmd_parms *cmd, void *dc, const char *v)
{
    static const char *const values[] = { "Lax", "Strict", "None", NULL };
    int i;

    for (i = 0; values[i] != NULL; i++) {
        if (strcasecmp(v, values[i]) == 0) {
            SRV(cmd)->cookie_same_site = values[i];
            return NULL;
        }
    }
    return apr_psprintf(cmd->pool, "CIS2-00132: %s: use Lax, Strict or None",
                        cmd->cmd->name);
}

/* A cookie Domain: a host name (letters, digits, '-', '.'), no leading
 * dot needed (RFC 6265 §5.2.3 ignores it). */
static const char *set_cookie_domain(cmd_parms *cmd, void *dc, const char *v)
{
    const char *c;

    if (*v == '.') {
        v++;
    }
    for (c = v; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '.') {
            break;
        }
    }
    if (*v == '\0' || *c != '\0' || strlen(v) > 253) {
        return apr_psprintf(cmd->pool, "CIS2-00133: %s: '%s' is not a host "
                            "name", cmd->cmd->name, v);
    }
    SRV(cmd)->cookie_domain = apr_pstrdup(cmd->pool, v);
    return NULL;
}

/* An extra origin redirect targets may go to (after login, logout): the
 * absolute URL's origin only, path "/" and nothing else. */
static const char *set_redirect_allow(cmd_parms *cmd, void *dc, const char *v)
{
    cis2_srv_conf *sc = SRV(cmd);
    cis2_url_t *u;
    const cis2_err_t *err = NULL;

    if (cis2_url_parse_absolute(&u, v, &err, cmd->pool) != APR_SUCCESS
        || strcmp(u->path, "/") != 0 || u->query != NULL
        || v[strlen(v) - 1] == '?') {
        return apr_psprintf(cmd->pool, "CIS2-00134: %s: '%s' is not an "
                            "origin such as https://portal.example.nhs.uk",
                            cmd->cmd->name, v);
    }
    if (sc->redirect_allow == NULL) {
        sc->redirect_allow = apr_array_make(cmd->pool, 2, sizeof(char *));
    }
    APR_ARRAY_PUSH(sc->redirect_allow, const char *) = u->origin;
    return NULL;
}

static const char *set_post_logout_uri(cmd_parms *cmd, void *dc,
                                       const char *v)
{
    cis2_url_t *u;
    const cis2_err_t *err = NULL;

    if (cis2_url_parse_absolute(&u, v, &err, cmd->pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "CIS2-00135: %s: '%s' is not an "
                            "absolute http(s) URL (%s)", cmd->cmd->name, v,
                            err ? err->detail : "invalid");
    }
    SRV(cmd)->post_logout_uri = v;
    return NULL;
}

/* CIS2PrivateKeyFile / CIS2PreviousKeyFile path [kid]: loaded now, so
 * configtest catches a wrong path or key (issue #3, CIS2.md §9). */
static const char *set_key_file(cmd_parms *cmd, void *dc, const char *path,
                                const char *kid)
{
    cis2_srv_conf *sc = SRV(cmd);
    int previous = cmd->info != NULL;
    const cis2_err_t *err = NULL;
    cis2_rp_key_t *key;
    const char *msg;
    const char *full = ap_server_root_relative(cmd->pool, path);

    if (full == NULL || cis2_rp_key_load_file(&key, full, kid, &err,
                                              cmd->pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "CIS2-00150: %s: %s", cmd->cmd->name,
                            err ? err->detail : "invalid path");
    }
    /* a private key is a secret: like CIS2ClientSecret file:, it must not
     * be readable by every user on the machine */
    if (cis2_rp_key_can_sign(key)
        && (msg = cis2_check_secret_file(cmd->pool, full)) != NULL) {
        return apr_psprintf(cmd->pool, "CIS2-00158: %s: %s", cmd->cmd->name,
                            msg);
    }
    if (!previous && !cis2_rp_key_can_sign(key)) {
        return apr_psprintf(cmd->pool, "CIS2-00151: %s: %s holds a public "
                            "key; the current key must be the private key "
                            "(PEM, unencrypted)", cmd->cmd->name, full);
    }
    if (previous) {
        sc->previous_key = key;
    }
    else {
        sc->assertion_key = key;
    }
    return NULL;
}

static const char *set_assertion_alg(cmd_parms *cmd, void *dc, const char *v)
{
    if (!cis2_assertion_alg_ok(v)) {
        return apr_psprintf(cmd->pool, "CIS2-00152: %s: '%s' is not RS256 or "
                            "RS512 (the algorithms CIS2 registers)",
                            cmd->cmd->name, v);
    }
    SRV(cmd)->assertion_alg = v;
    return NULL;
}

/* CIS2RequiredAAL: at server level the sign-in requirement; inside a
 * <Location>/<Directory> a step-up requirement for that part of the site. */
static const char *set_required_aal(cmd_parms *cmd, void *dcv, const char *v)
{
    cis2_dir_conf *dc = dcv;
    const char *msg;
    int saved;

    if (cmd->path == NULL) {
        return set_level(cmd, dcv, v);
    }
    /* parse with the server setter's rules, then move the value */
    saved = SRV(cmd)->required_aal;
    msg = set_level(cmd, dcv, v);
    if (msg == NULL) {
        dc->required_aal = SRV(cmd)->required_aal;
    }
    SRV(cmd)->required_aal = saved;
    return msg;
}

static const char *set_authz_roles(cmd_parms *cmd, void *dcv, const char *v)
{
    cis2_dir_conf *dc = dcv;

    if (strcasecmp(v, "selected") == 0) {
        dc->authz_roles = CIS2_AUTHZ_SELECTED;
    }
    else if (strcasecmp(v, "any") == 0) {
        dc->authz_roles = CIS2_AUTHZ_ANY;
    }
    else {
        return apr_psprintf(cmd->pool, "CIS2-00153: %s: use selected or any",
                            cmd->cmd->name);
    }
    return NULL;
}

#define OFFSET(f) ((void *)APR_OFFSETOF(cis2_srv_conf, f))

const command_rec cis2_cmds[] = {
    /* provider and client (server/vhost only: secrets stay out of .htaccess) */
    AP_INIT_TAKE1("CIS2Environment", set_environment, NULL, RSRC_CONF,
                  "CIS2 environment: integration, deployment or live"),
    AP_INIT_TAKE1("CIS2ProviderMetadataURL", set_url, OFFSET(metadata_url),
                  RSRC_CONF, "OpenID discovery document URL"),
    AP_INIT_TAKE1("CIS2Issuer", set_string, OFFSET(issuer), RSRC_CONF,
                  "Expected issuer, compared byte for byte"),
    AP_INIT_TAKE1("CIS2ClientID", set_string, OFFSET(client_id), RSRC_CONF,
                  "Client id registered with CIS2"),
    AP_INIT_TAKE1("CIS2ClientSecret", set_client_secret, NULL, RSRC_CONF,
                  "Client secret, or file:/path/to/secret"),
    AP_INIT_TAKE1("CIS2TokenEndpointAuth", set_auth_method, NULL, RSRC_CONF,
                  "client_secret_post (default) or client_secret_basic"),
    AP_INIT_TAKE1("CIS2RedirectURI", set_redirect_uri, NULL, RSRC_CONF,
                  "Absolute callback URL registered with CIS2"),
    AP_INIT_TAKE1("CIS2Scope", set_string, OFFSET(scope), RSRC_CONF,
                  "Scopes to request; default " CIS2_DEFAULT_SCOPE),
    AP_INIT_TAKE1("CIS2ACRValues", set_string_or_off, OFFSET(acr_values),
                  RSRC_CONF, "acr_values to request, or off; default "
                  CIS2_DEFAULT_ACR),
    AP_INIT_TAKE1("CIS2Prompt", set_string_or_off, OFFSET(prompt), RSRC_CONF,
                  "prompt to send, or off; default login"),
    AP_INIT_TAKE1("CIS2MaxAge", set_max_age, NULL, RSRC_CONF,
                  "max_age to send (seconds), or off (default)"),
    AP_INIT_TAKE1("CIS2MaxAuthAge", set_duration_or_off,
                  OFFSET(max_auth_age), RSRC_CONF,
                  "Oldest auth_time accepted at the callback; default 300s"),
    AP_INIT_TAKE1("CIS2RequiredAAL", set_required_aal, OFFSET(required_aal),
                  RSRC_CONF | ACCESS_CONF, "Lowest authentication assurance "
                  "level; default 3 (in a <Location>: step-up)"),
    AP_INIT_TAKE1("CIS2RequiredIAL", set_level, OFFSET(required_ial),
                  RSRC_CONF, "Lowest identity assurance level; default 3"),
    AP_INIT_ITERATE("CIS2IDTokenAlgs", set_algs, NULL, RSRC_CONF,
                    "Accepted ID token algorithms; default RS256 RS512"),
    AP_INIT_TAKE1("CIS2ClockSkew", set_duration, OFFSET(skew), RSRC_CONF,
                  "Clock skew allowed on token times; default 60s"),
    AP_INIT_TAKE12("CIS2HTTPTimeout", set_http_timeout, NULL, RSRC_CONF,
                   "Connect and total timeout of calls to CIS2; "
                   "default 5s 10s"),
    AP_INIT_TAKE1("CIS2CAFile", set_string, OFFSET(ca_file), RSRC_CONF,
                  "CA bundle for TLS to CIS2; default the system store"),
    AP_INIT_FLAG("CIS2UserInfo", set_flag, OFFSET(userinfo), RSRC_CONF,
                 "Fetch UserInfo at login; default on"),
    AP_INIT_TAKE1("CIS2RemoteUserClaim", set_string, OFFSET(remote_user_claim),
                  RSRC_CONF, "Claim that becomes REMOTE_USER; default sub"),
    /* sessions and cookies */
    AP_INIT_TAKE1("CIS2CookieName", set_string, OFFSET(cookie_name),
                  RSRC_CONF, "Session cookie name; default "
                  "__Host-cis2_session on https, cis2_session on http"),
    AP_INIT_TAKE1("CIS2CookiePath", set_local_path, OFFSET(cookie_path),
                  RSRC_CONF, "Session cookie path; default /"),
    AP_INIT_TAKE1("CIS2SessionInactivityTimeout", set_session_time,
                  (void *)1, RSRC_CONF | ACCESS_CONF,
                  "Idle time that ends a session; default 15m"),
    AP_INIT_TAKE1("CIS2SessionMaxDuration", set_session_time, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Longest life of a session; default 12h"),
    AP_INIT_TAKE1("CIS2StateTimeout", set_duration, OFFSET(state_timeout),
                  RSRC_CONF, "Life of a pending login; default 10m"),
    AP_INIT_TAKE1("CIS2DefaultURL", set_local_path, OFFSET(default_url),
                  RSRC_CONF, "Local page for 'sign in again' links and "
                  "after logout; default /"),
    AP_INIT_TAKE1("CIS2SessionStoreSize", set_store_size, NULL, RSRC_CONF,
                  "Shared memory for sessions (global); default 64M"),
    AP_INIT_RAW_ARGS("CIS2SessionStore", set_session_store, NULL, RSRC_CONF,
                     "shm (default) or redis[s]://[user:pass@]host:port/db "
                     "[options] (global)"),
    AP_INIT_TAKE1("CIS2SessionStoreCacheTTL", set_store_cache_ttl, NULL,
                  RSRC_CONF, "Redis store: longest a session read is served "
                  "from this host's near-cache (0 or off = none; global); "
                  "default 5s"),
    AP_INIT_ITERATE("CIS2CryptoPassphrase", set_passphrase, NULL, RSRC_CONF,
                    "Passphrases (or file:/path) for data kept outside "
                    "httpd: the first encrypts, all decrypt (global)"),
    AP_INIT_TAKE1("CIS2CookieDomain", set_cookie_domain, NULL, RSRC_CONF,
                  "Domain attribute of the session cookie; default none "
                  "(host-only)"),
    AP_INIT_TAKE1("CIS2CookieSameSite", set_same_site, NULL, RSRC_CONF,
                  "SameSite of the session cookie: Lax (default), Strict "
                  "or None"),
    AP_INIT_TAKE1("CIS2MaxPendingLogins", set_max_pending, NULL, RSRC_CONF,
                  "Sign-ins in progress kept per browser; default 5"),
    AP_INIT_ITERATE("CIS2RedirectAllowOrigin", set_redirect_allow, NULL,
                    RSRC_CONF, "Other origins redirect targets may go to "
                    "(return URLs); default none"),
    AP_INIT_FLAG("CIS2RPInitiatedLogout", set_flag, OFFSET(rp_logout),
                 RSRC_CONF, "Logout also ends the CIS2 session "
                 "(end_session_endpoint); default off"),
    AP_INIT_TAKE1("CIS2PostLogoutRedirectURI", set_post_logout_uri, NULL,
                  RSRC_CONF, "post_logout_redirect_uri sent with "
                  "RP-initiated logout (registered with CIS2); default none"),
    AP_INIT_TAKE1("CIS2StatusPath", set_local_path, OFFSET(status_path),
                  RSRC_CONF, "Local path of the status page (protect it "
                  "with Require); default none"),
    /* per directory */
    AP_INIT_TAKE1("CIS2PassClaimsAs", set_pass_as, NULL, OR_AUTHCFG,
                  "environment (default), headers or both"),
    AP_INIT_TAKE1("CIS2UnauthAction", set_unauth_action, NULL,
                  RSRC_CONF | ACCESS_CONF, "Without a session: auth "
                  "(default: browsers sign in, scripts get 401), 401, pass"),
    /* private_key_jwt and national RBAC authorization (issue #3) */
    AP_INIT_TAKE12("CIS2PrivateKeyFile", set_key_file, NULL, RSRC_CONF,
                   "PEM private key for private_key_jwt [kid]; default kid "
                   "the RFC 7638 thumbprint"),
    AP_INIT_TAKE12("CIS2PreviousKeyFile", set_key_file, (void *)1, RSRC_CONF,
                   "PEM key (private or public) still published in the JWKS "
                   "during a rollover [kid]"),
    AP_INIT_TAKE1("CIS2ClientAssertionAlg", set_assertion_alg, NULL,
                  RSRC_CONF, "RS256 or RS512; default "
                  CIS2_DEFAULT_ASSERTION_ALG),
    AP_INIT_TAKE1("CIS2AuthzRoles", set_authz_roles, NULL, OR_AUTHCFG,
                  "Require cis2-* rules look at the selected role (default) "
                  "or any role"),
    { NULL }
};

/* ---- completeness check (check_config: configtest refuses) -------------- */

int cis2_srv_configured(const cis2_srv_conf *sc)
{
    return sc->client_id != NULL || sc->redirect_uri != NULL
           || sc->metadata_url != NULL || sc->environment != NULL
           || sc->client_secret != NULL;
}

int cis2_srv_check(server_rec *s, apr_pool_t *ptemp)
{
    cis2_srv_conf *sc = cis2_srv(s);
    const char *where = apr_psprintf(ptemp, "%s:%u",
                                     s->server_hostname
                                     ? s->server_hostname : "(main)",
                                     (unsigned)s->port);
    int problems = 0;

    if (!cis2_srv_configured(sc)) {
        return 0;
    }
    if (sc->client_id == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00120)
                     "CIS2ClientID is missing for server %s: set it to the "
                     "client id registered with CIS2", where);
        problems++;
    }
    if (sc->auth_method == CIS2_AUTH_PRIVATE_KEY_JWT) {
        if (sc->assertion_key == NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00500)
                         "CIS2TokenEndpointAuth private_key_jwt needs "
                         "CIS2PrivateKeyFile for server %s", where);
            problems++;
        }
    }
    else if (sc->client_secret == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00121)
                     "CIS2ClientSecret is missing for server %s: set it "
                     "(preferably as file:/path readable only by root)",
                     where);
        problems++;
    }
    if (sc->redirect_uri == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00122)
                     "CIS2RedirectURI is missing for server %s: set it to "
                     "the callback URL registered with CIS2", where);
        problems++;
    }
    if (sc->metadata_url == NULL && sc->environment == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00123)
                     "no provider for server %s: set CIS2Environment "
                     "(integration, deployment, live) or "
                     "CIS2ProviderMetadataURL", where);
        problems++;
    }
    if (strcmp(cis2_srv_same_site(sc), "None") == 0
        && sc->redirect != NULL && !cis2_srv_secure(sc)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00137)
                     "CIS2CookieSameSite None needs an https CIS2RedirectURI "
                     "(browsers drop SameSite=None cookies without Secure) "
                     "for server %s", where);
        problems++;
    }
    return problems;
}

/* Does a request for `host` name this server (ServerName, ServerAlias)? */
static int names_server(const server_rec *s, const char *host)
{
    int i;

    if (s->server_hostname && strcasecmp(s->server_hostname, host) == 0) {
        return 1;
    }
    for (i = 0; s->names && i < s->names->nelts; i++) {
        if (strcasecmp(APR_ARRAY_IDX(s->names, i, char *), host) == 0) {
            return 1;
        }
    }
    for (i = 0; s->wild_names && i < s->wild_names->nelts; i++) {
        if (ap_strcasecmp_match(host, APR_ARRAY_IDX(s->wild_names, i,
                                                    char *)) == 0) {
            return 1;
        }
    }
    return 0;
}

static int listens_on(const server_rec *s, int port)
{
    const server_addr_rec *a;

    for (a = s->addrs; a != NULL; a = a->next) {
        if (a->host_port == 0 || a->host_port == port) {
            return 1;
        }
    }
    return s->addrs == NULL;
}

int cis2_srv_check_routing(server_rec *main_s, server_rec *s,
                           apr_pool_t *ptemp)
{
    cis2_srv_conf *sc = cis2_srv(s);
    const char *host;
    server_rec *t;
    int problems = 0;

    if (!cis2_srv_configured(sc) || sc->redirect == NULL) {
        return 0;
    }
    /* The callback is answered by the virtual host the request reaches.
     * If the redirect URI's host name belongs to ANOTHER virtual host,
     * CIS2's redirect lands there and no sign-in can ever complete. */
    host = sc->redirect->host;
    if (!names_server(s, host)) {
        for (t = main_s; t != NULL; t = t->next) {
            const cis2_srv_conf *tc = cis2_srv(t);

            /* fine if that host answers this same callback itself (a
             * virtual host inheriting the main server's settings) */
            if (t != s && t->is_virtual && names_server(t, host)
                && listens_on(t, sc->redirect->port)
                && (tc->redirect_uri == NULL
                    || strcmp(tc->redirect_uri, sc->redirect_uri) != 0
                    || tc->client_id == NULL || sc->client_id == NULL
                    || strcmp(tc->client_id, sc->client_id) != 0)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00702)
                             "CIS2RedirectURI %s names host %s, which is the "
                             "ServerName/ServerAlias of another virtual host "
                             "(%s, line %u of %s): CIS2's redirect would "
                             "reach that host, not this one. Put the CIS2 "
                             "directives in that virtual host, or move "
                             "the name here", sc->redirect_uri, host,
                             t->server_hostname ? t->server_hostname : "?",
                             (unsigned)t->defn_line_number,
                             t->defn_name ? t->defn_name : "?");
                problems++;
                break;
            }
        }
    }
    /* the status page must not hide an endpoint (or be hidden by one) */
    if (sc->status_path != NULL) {
        const char *dir = apr_pstrndup(ptemp, sc->redirect->path,
                                       (apr_size_t)(strrchr(
                                           sc->redirect->path, '/')
                                           - sc->redirect->path));

        if (strcmp(sc->status_path, sc->redirect->path) == 0
            || strcmp(sc->status_path,
                      apr_pstrcat(ptemp, dir, "/logout", NULL)) == 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(00703)
                         "CIS2StatusPath %s is the path of one of mod_cis2's "
                         "endpoints (CIS2RedirectURI %s and its /logout): "
                         "choose another path, e.g. /cis2-status",
                         sc->status_path, sc->redirect_uri);
            problems++;
        }
    }
    return problems;
}

/* ---- runtime login configuration ----------------------------------------- */

static cis2_login_conf_t *make_login_conf(server_rec *s, apr_hash_t *providers,
                                          apr_pool_t *p, apr_status_t *prv)
{
    cis2_srv_conf *sc = cis2_srv(s);
    cis2_login_conf_t *c = apr_pcalloc(p, sizeof(*c));
    const cis2_environment *env = sc->environment
                                  ? find_environment(sc->environment) : NULL;
    cis2_provider_conf_t pc;
    const char *key;

    memset(&pc, 0, sizeof(pc));
    pc.metadata_url = sc->metadata_url ? sc->metadata_url
                                       : env ? env->metadata_url : NULL;
    pc.issuer = sc->issuer ? sc->issuer : env ? env->issuer : NULL;
    c->http.connect_timeout = sc->connect_timeout != CIS2_UNSET
                              ? sc->connect_timeout
                              : CIS2_DEFAULT_CONNECT_TIMEOUT;
    c->http.timeout = sc->timeout != CIS2_UNSET ? sc->timeout
                                                 : CIS2_DEFAULT_TIMEOUT;
    c->http.ca_file = sc->ca_file;
    pc.http = c->http;

    /* vhosts that talk to the same OP share one cache of its keys */
    key = apr_pstrcat(p, pc.metadata_url, "|", pc.issuer ? pc.issuer : "",
                      "|", sc->ca_file ? sc->ca_file : "", NULL);
    c->provider = apr_hash_get(providers, key, APR_HASH_KEY_STRING);
    if (c->provider == NULL) {
        *prv = cis2_provider_create(&c->provider, &pc, p);
        if (*prv != APR_SUCCESS) {
            return NULL;
        }
        apr_hash_set(providers, key, APR_HASH_KEY_STRING, c->provider);
    }
    c->client_id = sc->client_id;
    c->client_secret = sc->client_secret;
    c->auth_method = sc->auth_method != CIS2_UNSET ? sc->auth_method
                                                   : CIS2_AUTH_SECRET_POST;
    c->assertion_key = sc->assertion_key;
    c->assertion_alg = sc->assertion_alg ? sc->assertion_alg
                                         : CIS2_DEFAULT_ASSERTION_ALG;
    c->redirect_uri = sc->redirect_uri;
    c->scope = sc->scope ? sc->scope : CIS2_DEFAULT_SCOPE;
    /* default acr_values follow the site's AAL (CIS2.md §8): AAL3_ANY,
     * or AAL2_OR_AAL3_ANY for a site that accepts AAL2 */
    c->acr_values = sc->acr_values != NULL
                    ? (*sc->acr_values ? sc->acr_values : NULL)
                    : (sc->required_aal == 1 || sc->required_aal == 2)
                      ? cis2_login_acr_for_aal(2) : CIS2_DEFAULT_ACR;
    c->prompt = sc->prompt == NULL ? CIS2_DEFAULT_PROMPT
                : *sc->prompt ? sc->prompt : NULL;
    c->max_age = sc->max_age >= 0 ? sc->max_age : -1;
    c->id_token_algs = sc->id_token_algs;
    c->skew = sc->skew != CIS2_UNSET ? sc->skew : CIS2_DEFAULT_SKEW;
    c->max_auth_age = sc->max_auth_age != CIS2_UNSET
                      ? sc->max_auth_age : CIS2_DEFAULT_MAX_AUTH_AGE;
    c->session_max = cis2_srv_store_max(sc);
    c->required_aal = sc->required_aal == CIS2_UNSET ? CIS2_DEFAULT_AAL
                      : sc->required_aal == CIS2_OFF ? -1 : sc->required_aal;
    c->required_ial = sc->required_ial == CIS2_UNSET ? CIS2_DEFAULT_IAL
                      : sc->required_ial == CIS2_OFF ? -1 : sc->required_ial;
    c->userinfo = sc->userinfo != CIS2_UNSET ? sc->userinfo : 1;
    c->keep_id_token = sc->rp_logout == 1;   /* only logout reads it */
    c->claims.remote_user_claim = sc->remote_user_claim;
    c->claims.export_claims_json = 1;
    *prv = APR_SUCCESS;
    return c;
}

apr_status_t cis2_srv_prepare(server_rec *main_s, apr_pool_t *pconf)
{
    apr_hash_t *providers = apr_hash_make(pconf);
    server_rec *s;

    for (s = main_s; s != NULL; s = s->next) {
        cis2_srv_conf *sc = cis2_srv(s);
        apr_status_t rv;
        const char *dir;

        if (!cis2_srv_configured(sc) || sc->redirect == NULL) {
            continue;
        }
        sc->login = make_login_conf(s, providers, pconf, &rv);
        if (sc->login == NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, CIS2_LOGNO(00124)
                         "cannot set up the provider cache");
            return rv;
        }
        /* module endpoints live next to the callback */
        dir = apr_pstrndup(pconf, sc->redirect->path,
                           (apr_size_t)(strrchr(sc->redirect->path, '/')
                                        - sc->redirect->path));
        sc->logout_path = apr_pstrcat(pconf, dir, "/logout", NULL);
        sc->bcl_path = apr_pstrcat(pconf, dir, "/backchannel-logout", NULL);
        sc->change_role_path = apr_pstrcat(pconf, dir, "/change-role", NULL);
        if (sc->assertion_key != NULL || sc->previous_key != NULL) {
            sc->jwks_path = apr_pstrcat(pconf, dir, "/jwks", NULL);
            sc->jwks_json = cis2_assertion_jwks(pconf, sc->assertion_key,
                                                sc->previous_key,
                                                sc->login->assertion_alg);
        }
    }
    return APR_SUCCESS;
}
