/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_authz — authorization providers for `Require` on national RBAC
 * data (DESIGN.md §5, CIS2.md §7-§8):
 *
 *   Require cis2-role     <role code | person_roleid> ...
 *   Require cis2-activity <activity code> ...
 *   Require cis2-org      <ODS code> ...
 *   Require cis2-aal      <1|2|3>
 *   Require cis2-claim    <claim> <value | ~regex>
 *
 * Arguments are parsed once, at configuration time (a typo stops
 * configtest); a request only compares strings against the session's
 * pre-rendered authorization view (cis2_session_t roles/claims, decoded by
 * check_authn and left in r->request_config: no second store lookup, no
 * JSON). Role rules look at the selected role (selected_roleid) unless
 * `CIS2AuthzRoles any`. They combine with RequireAll/RequireAny/
 * RequireNone like any provider. A refused, signed-in user gets a 403 page
 * naming what the location requires (the configured rule, never a claim
 * value) instead of httpd's bare 401.
 */
#include <apr_strings.h>
#include <ap_provider.h>
#include <ap_regex.h>
#include <mod_auth.h>
#include <http_core.h>

#include "mod_cis2_config.h"
#include "cis2_session.h"

#define DENIED_NOTE "cis2-authz-denied"

typedef enum rule_kind {
    RULE_ROLE, RULE_ACTIVITY, RULE_ORG, RULE_AAL, RULE_CLAIM
} rule_kind;

typedef struct cis2_rule {
    rule_kind kind;
    const char *text;               /* the rule as configured, for the page */
    apr_array_header_t *values;     /* const char *: any may match */
    int aal;                        /* RULE_AAL */
    const char *claim;              /* RULE_CLAIM: name */
    ap_regex_t *re;                 /* RULE_CLAIM: ~regex, else NULL */
} cis2_rule;

/* ---- the session of this request (set by check_authn) -------------------- */

void cis2_authz_set_session(request_rec *r, cis2_session_t *s)
{
    ap_set_module_config(r->request_config, &cis2_module, s);
}

static cis2_session_t *request_session(request_rec *r)
{
    for (; r != NULL; r = r->main) {
        cis2_session_t *s = ap_get_module_config(r->request_config,
                                                 &cis2_module);

        if (s != NULL) {
            return s;
        }
    }
    return NULL;
}

/* ---- parsing (configuration time) ---------------------------------------- */

static const char *parse_rule(cmd_parms *cmd, const char *line,
                              const void **parsed, rule_kind kind)
{
    cis2_rule *rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    const char *w, *name = "Require";
    static const char *const kinds[] = {
        "cis2-role", "cis2-activity", "cis2-org", "cis2-aal", "cis2-claim"
    };

    rule->kind = kind;
    rule->values = apr_array_make(cmd->pool, 2, sizeof(const char *));
    while (*line && *(w = ap_getword_conf(cmd->pool, &line)) != '\0') {
        APR_ARRAY_PUSH(rule->values, const char *) = w;
    }
    rule->text = apr_pstrcat(cmd->pool, kinds[kind], " ",
                             apr_array_pstrcat(cmd->pool, rule->values, ' '),
                             NULL);
    switch (kind) {
    case RULE_AAL:
        w = rule->values->nelts == 1
            ? APR_ARRAY_IDX(rule->values, 0, const char *) : "";
        if (strlen(w) != 1 || w[0] < '1' || w[0] > '3') {
            return apr_psprintf(cmd->pool, "CIS2-00154: %s cis2-aal: needs "
                                "one level, 1, 2 or 3", name);
        }
        rule->aal = w[0] - '0';
        break;
    case RULE_CLAIM:
        if (rule->values->nelts != 2) {
            return apr_psprintf(cmd->pool, "CIS2-00155: %s cis2-claim: needs "
                                "a claim name and a value (or ~regex)", name);
        }
        rule->claim = APR_ARRAY_IDX(rule->values, 0, const char *);
        w = APR_ARRAY_IDX(rule->values, 1, const char *);
        if (w[0] == '~') {
            rule->re = ap_pregcomp(cmd->pool, w + 1, AP_REG_NOSUB);
            if (rule->re == NULL) {
                return apr_psprintf(cmd->pool, "CIS2-00156: %s cis2-claim: "
                                    "'%s' is not a valid regular expression",
                                    name, w + 1);
            }
        }
        break;
    default:
        if (rule->values->nelts == 0) {
            return apr_psprintf(cmd->pool, "CIS2-00157: %s %s: needs at "
                                "least one value", name, kinds[kind]);
        }
    }
    *parsed = rule;
    return NULL;
}

#define PARSER(fn, kind) \
    static const char *fn(cmd_parms *cmd, const char *line, \
                          const void **parsed) \
    { \
        return parse_rule(cmd, line, parsed, kind); \
    }
PARSER(parse_role, RULE_ROLE)
PARSER(parse_activity, RULE_ACTIVITY)
PARSER(parse_org, RULE_ORG)
PARSER(parse_aal, RULE_AAL)
PARSER(parse_claim, RULE_CLAIM)

/* ---- evaluation (request time) ------------------------------------------- */

static int in_values(const cis2_rule *rule, const char *v)
{
    int i;

    if (v == NULL) {
        return 0;
    }
    for (i = 0; i < rule->values->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(rule->values, i, const char *), v) == 0) {
            return 1;
        }
    }
    return 0;
}

static int role_matches(const cis2_rule *rule, const cis2_role_t *role)
{
    int i;

    switch (rule->kind) {
    case RULE_ROLE:
        return in_values(rule, role->code) || in_values(rule, role->id);
    case RULE_ORG:
        return in_values(rule, role->org);
    case RULE_ACTIVITY:
        for (i = 0; role->activities && i < role->activities->nelts; i++) {
            if (in_values(rule, APR_ARRAY_IDX(role->activities, i,
                                              const char *))) {
                return 1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

/* the session's roles and claims are there (check() has finished a
 * lazily decoded session) */
static int evaluate(request_rec *r, const cis2_rule *rule,
                    const cis2_session_t *s)
{
    int i;

    switch (rule->kind) {
    case RULE_AAL:
        return s->aal >= rule->aal;
    case RULE_CLAIM:
        for (i = 0; s->claims && i < s->claims->nelts; i++) {
            const cis2_kv_t *kv = &APR_ARRAY_IDX(s->claims, i, cis2_kv_t);

            if (kv->name != NULL && strcmp(kv->name, rule->claim) == 0) {
                return rule->re
                       ? ap_regexec(rule->re, kv->value, 0, NULL, 0) == 0
                       : strcmp(kv->value,
                                APR_ARRAY_IDX(rule->values, 1,
                                              const char *)) == 0;
            }
        }
        return 0;
    default:
        break;
    }
    if (s->roles == NULL) {
        return 0;              /* no roles (or a record from before roles) */
    }
    if (cis2_dir_authz_roles(cis2_dir(r)) == CIS2_AUTHZ_ANY) {
        for (i = 0; i < s->roles->nelts; i++) {
            if (role_matches(rule, &APR_ARRAY_IDX(s->roles, i, cis2_role_t))) {
                return 1;
            }
        }
        return 0;
    }
    if (s->selected_role < 0 || s->selected_role >= s->roles->nelts) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CIS2_LOGNO(00501)
                      "%s: no role selected (add the selectedrole scope, or "
                      "CIS2AuthzRoles any)", rule->text);
        return 0;
    }
    return role_matches(rule, &APR_ARRAY_IDX(s->roles, s->selected_role,
                                             cis2_role_t));
}

static authz_status check(request_rec *r, const char *line,
                          const void *parsed)
{
    const cis2_rule *rule = parsed;
    cis2_session_t *s;
    const cis2_err_t *err = NULL;
    const char *prev;

    if (r->user == NULL) {
        return AUTHZ_DENIED_NO_USER;
    }
    s = request_session(r);
    if (s == NULL || rule == NULL) {
        /* the user was authenticated by something other than a CIS2
         * session: these rules cannot hold */
        return AUTHZ_DENIED;
    }
    /* the roles and claims of a lazily decoded session are read now. If
     * they cannot be, the answer is an error (500), not a denial: under
     * <RequireNone> or `Require not` a denial would count as a grant */
    if (rule->kind != RULE_AAL
        && cis2_session_finish(s, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(00507)
                      "'Require %s': the session's roles and claims are "
                      "unreadable (%s)", rule->text, err->detail);
        return AUTHZ_GENERAL_ERROR;
    }
    if (evaluate(r, rule, s)) {
        return AUTHZ_GRANTED;
    }
    /* remember what was required, for the 403 page (RequireAny may collect
     * several; RequireNone's granted rules do not come here) */
    prev = apr_table_get(r->notes, DENIED_NOTE);
    if (prev == NULL || strlen(prev) < 1024) {
        apr_table_setn(r->notes, DENIED_NOTE,
                       prev ? apr_pstrcat(r->pool, prev, "; ", rule->text,
                                          NULL) : rule->text);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, CIS2_LOGNO(00502)
                  "user %s does not meet 'Require %s' for %s", r->user,
                  rule->text, r->uri);
    return AUTHZ_DENIED;
}

static const authz_provider role_provider = { check, parse_role };
static const authz_provider activity_provider = { check, parse_activity };
static const authz_provider org_provider = { check, parse_org };
static const authz_provider aal_provider = { check, parse_aal };
static const authz_provider claim_provider = { check, parse_claim };

/* ---- the 403 page --------------------------------------------------------- */

/* note_auth_failure for a signed-in user refused by authz: httpd answers
 * 401 (AH01631); we give the body and, in insert_error_filter, the status
 * a browser user understands: 403 with what the page needs. */
void cis2_authz_denied(request_rec *r)
{
    const char *req = apr_table_get(r->notes, DENIED_NOTE);
    const char *msg;

    apr_table_setn(r->notes, DENIED_NOTE "-page", "1");
    msg = apr_pstrcat(r->pool, "You are signed in, but this page needs ",
                      req ? "the following, which your current NHS CIS2 "
                      "sign-in and role do not give: " : "access that your "
                      "current NHS CIS2 sign-in and role do not give.",
                      req ? req : "", req ? ". " : " ",
                      "If you hold another role that allows it, change role; "
                      "otherwise ask your registration authority.", NULL);
    ap_custom_response(r, HTTP_UNAUTHORIZED,
                       cis2_page_html(r, "Access not allowed", msg, NULL,
                                      cis2_srv(r->server)->change_role_path,
                                      "Change role"));
}

static void insert_error_filter(request_rec *r)
{
    if (r->status == HTTP_UNAUTHORIZED && r->user != NULL
        && apr_table_get(r->notes, DENIED_NOTE "-page") != NULL) {
        r->status = HTTP_FORBIDDEN;
    }
}

void cis2_authz_register(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "cis2-role",
                              AUTHZ_PROVIDER_VERSION, &role_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "cis2-activity",
                              AUTHZ_PROVIDER_VERSION, &activity_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "cis2-org",
                              AUTHZ_PROVIDER_VERSION, &org_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "cis2-aal",
                              AUTHZ_PROVIDER_VERSION, &aal_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "cis2-claim",
                              AUTHZ_PROVIDER_VERSION, &claim_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
}
