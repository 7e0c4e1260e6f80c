/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_claims — see cis2_claims.h. Runs once per login: merges the ID-token
 * and UserInfo claims, reads the assurance levels, maps the selected role
 * (CIS2.md §7) and renders every exported variable as a checked string, so
 * the session (cis2_session) can store them and the authn hook can copy
 * them into r->subprocess_env without touching JSON again.
 */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>

#include "cis2_claims.h"
#include "cis2_json.h"
#include "cis2_log.h"
#include "cis2_util.h"

/* Longest claim name turned into CIS2_CLAIM_<NAME>; longer names are not
 * exported (an environment name that long is an attack, not a claim). */
#define MAX_CLAIM_NAME 128

/* Assurance levels are small integers (NIST SP 800-63: 1-3; IAL 0-3);
 * anything outside [0, MAX_LEVEL] is treated as invalid (-1). */
#define MAX_LEVEL 9

/* ---- claims never exported as CIS2_CLAIM_<NAME> --------------------------
 *
 * 1. Claims already exported under a fixed name (DESIGN.md §5):
 *      uid, name, given_name, family_name, email, acr, auth_time,
 *      authentication_assurance_level, id_assurance_level, idassurancelevel
 *    and selected_roleid when it maps to a role (then it is CIS2_ROLE_ID).
 *    `sub` is kept (CIS2_CLAIM_SUB) whatever CIS2RemoteUserClaim says; `iss`
 *    is kept (CIS2_CLAIM_ISS). Arrays and objects (amr, roles, orgs) are never
 *    CIS2_CLAIM_ variables: they are in the fixed lists and the JSON values.
 * 2. Protocol claims with no meaning to the application:
 *      aud, azp, exp, iat, nbf, jti
 * 3. Secret-ish claims: single-use values, token hashes and OP session
 *    handles. These are also removed from CIS2_CLAIMS_JSON:
 *      nonce, at_hash, c_hash, s_hash, sid, org.forgerock.openidconnect.ops
 *      (ForgeRock's ops-token id), access_token, refresh_token, id_token
 */
static const char *const fixed_claims[] = {
    "uid", "name", "given_name", "family_name", "email", "acr", "auth_time",
    "authentication_assurance_level", "id_assurance_level",
    "idassurancelevel", NULL
};
static const char *const protocol_claims[] = {
    "aud", "azp", "exp", "iat", "nbf", "jti", NULL
};
static const char *const secret_claims[] = {
    "nonce", "at_hash", "c_hash", "s_hash", "sid",
    "org.forgerock.openidconnect.ops", "access_token", "refresh_token",
    "id_token", NULL
};

static int in_list(const char *const *list, const char *s)
{
    for (; *list != NULL; list++) {
        if (strcmp(*list, s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- merge and assurance ------------------------------------------------- */

json_t *cis2_claims_merge(apr_pool_t *p, const json_t *id_claims,
                          const json_t *userinfo)
{
    json_t *m = cis2_json_own(p, json_object());

    if (m == NULL) {
        return NULL;
    }
    /* UserInfo first, then the ID token overrides: it is the signed
     * authority for sub, iss, aud, acr, amr, auth_time, sid and the
     * assurance levels (OIDC Core 5.3.2). Values are shared, not copied. */
    if (json_is_object(userinfo)) {
        json_object_update(m, (json_t *)userinfo);
    }
    if (json_is_object(id_claims)) {
        json_object_update(m, (json_t *)id_claims);
    }
    return m;
}

static int level(const json_t *claims, const char *name)
{
    apr_int64_t v;

    if (!cis2_json_int(claims, name, &v) || v < 0 || v > MAX_LEVEL) {
        return -1;
    }
    return (int)v;
}

void cis2_claims_assurance(const json_t *claims, int *paal, int *pial)
{
    int ial;

    if (paal != NULL) {
        *paal = json_is_object(claims)
                ? level(claims, "authentication_assurance_level") : -1;
    }
    if (pial != NULL) {
        /* ID token spelling first (signed), UserInfo spelling second
         * (CIS2.md §5 naming trap) */
        ial = -1;
        if (json_is_object(claims)) {
            ial = level(claims, "id_assurance_level");
            if (ial < 0) {
                ial = level(claims, "idassurancelevel");
            }
        }
        *pial = ial;
    }
}

/* ---- rendering helpers --------------------------------------------------- */

typedef struct render_ctx {
    apr_pool_t *p;
    apr_array_header_t *env;
    apr_hash_t *names;         /* names pushed so far (CIS2_CLAIM_ clashes) */
} render_ctx;

/* Push one variable if its value is safe to export: bounded and free of
 * control characters (a CR/LF in a header-mode value would be a header
 * injection; a NUL would silently truncate). Logs only the name. */
static void push_checked(render_ctx *ctx, const char *name,
                         const char *value, apr_size_t len, int scan_ctl)
{
    cis2_kv_t *kv;

    if (value == NULL) {
        return;
    }
    if (len > CIS2_MAX_CLAIM_VALUE) {
        cis2_log(CIS2_LOG_MARK, CIS2_LOG_INFO, APR_SUCCESS, ctx->p,
                 "claims: %s not exported: value of %" APR_SIZE_T_FMT
                 " bytes is over %d", name, len, CIS2_MAX_CLAIM_VALUE);
        return;
    }
    if (scan_ctl && cis2_has_ctl(value, len)) {
        cis2_log(CIS2_LOG_MARK, CIS2_LOG_INFO, APR_SUCCESS, ctx->p,
                 "claims: %s not exported: value holds a control character",
                 name);
        return;
    }
    kv = apr_array_push(ctx->env);
    kv->name = name;
    kv->value = value;
    apr_hash_set(ctx->names, name, APR_HASH_KEY_STRING, name);
}

static void push(render_ctx *ctx, const char *name, const char *value,
                 apr_size_t len)
{
    push_checked(ctx, name, value, len, 1);
}

/* Compact JSON text (cis2_json_write or json_text) escapes every control
 * byte, so only its size is checked: no scan of ~10 KB per login. */
static void push_json_text(render_ctx *ctx, const char *name,
                           const char *text)
{
    if (text != NULL) {
        push_checked(ctx, name, text, strlen(text), 0);
    }
}

static void push_str(render_ctx *ctx, const char *name, const char *value)
{
    if (value != NULL) {
        push(ctx, name, value, strlen(value));
    }
}

/* A JSON string member, length included (jansson strings may hold NUL when
 * built by code, so strlen is not the length). */
static void push_json_str(render_ctx *ctx, const char *name,
                          const json_t *obj, const char *member)
{
    json_t *v = json_object_get(obj, member);

    if (json_is_string(v)) {
        push(ctx, name, json_string_value(v), json_string_length(v));
    }
}

/* A scalar as text: strings as they are, integers and reals in decimal
 * (reals via jansson: 15 significant digits, "1.5", "1e300"), booleans as
 * "true"/"false". NULL for null, arrays and objects. */
static const char *scalar_str(apr_pool_t *p, const json_t *v,
                              apr_size_t *plen)
{
    const char *s;

    switch (json_typeof(v)) {
    case JSON_STRING:
        *plen = json_string_length(v);
        return json_string_value(v);
    case JSON_INTEGER:
        s = apr_psprintf(p, "%" APR_INT64_T_FMT,
                         (apr_int64_t)json_integer_value(v));
        break;
    case JSON_REAL: {
        char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

        if (d == NULL) {
            return NULL;
        }
        s = apr_pstrdup(p, d);
        free(d);
        break;
    }
    case JSON_TRUE:
        s = "true";
        break;
    case JSON_FALSE:
        s = "false";
        break;
    default:
        return NULL;
    }
    *plen = strlen(s);
    return s;
}

/* An identifier that CIS2 sends as a string but might send as an integer
 * (person_roleid, selected_roleid, org_code); NULL otherwise. */
static const char *id_str(apr_pool_t *p, const json_t *v)
{
    apr_size_t len;

    if (!json_is_string(v) && !json_is_integer(v)) {
        return NULL;
    }
    return scalar_str(p, v, &len);
}

/* Is s fit to be one element of a comma-joined list? A comma inside an
 * element would forge an extra element (a role the user does not hold). */
static int list_item_ok(const char *s)
{
    return s != NULL && *s != '\0' && strchr(s, ',') == NULL
           && !cis2_has_ctl(s, strlen(s));
}

static void list_add(apr_array_header_t *items, const char *s, int dedupe)
{
    int i;

    if (!list_item_ok(s)) {
        return;
    }
    if (dedupe) {
        for (i = 0; i < items->nelts; i++) {
            if (strcmp(APR_ARRAY_IDX(items, i, const char *), s) == 0) {
                return;
            }
        }
    }
    APR_ARRAY_PUSH(items, const char *) = s;
}

/* Comma-join an array of strings/integers; a lone string counts as a list of
 * one (some OPs send amr that way). Missing or empty gives "". */
static const char *join_array(apr_pool_t *p, const json_t *v)
{
    apr_array_header_t *items = apr_array_make(p, 8, sizeof(const char *));
    size_t i;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            list_add(items, id_str(p, json_array_get(v, i)), 0);
        }
    }
    else if (json_is_string(v)) {
        list_add(items, json_string_value(v), 0);
    }
    return apr_array_pstrcat(p, items, ',');
}

/* Compact JSON text with no raw control byte: jansson escapes U+0000-U+001F
 * inside strings but writes DEL (0x7f) raw, so escape it here (outside
 * strings JSON text never holds a DEL, so this cannot change the value). */
static const char *json_text(apr_pool_t *p, const json_t *j)
{
    const char *s = cis2_json_dump(p, j);
    apr_size_t n = 0, len = strlen(s);
    const char *c;
    char *out, *o;

    for (c = s; *c; c++) {
        n += (*c == 0x7f);
    }
    if (n == 0) {
        return s;
    }
    out = o = apr_palloc(p, len + n * 5 + 1);
    for (c = s; *c; c++) {
        if (*c == 0x7f) {
            memcpy(o, "\\u007f", 6);
            o += 6;
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

/* Compact JSON text of j as json_text gives it, written by cis2_json_write
 * (a tenth of jansson's cost; byte for byte the same text, which
 * test_claims checks against json_text). json_text only for what the
 * writer refuses: a string that is not UTF-8 or excessive nesting. */
static const char *json_text_fast(apr_pool_t *p, const json_t *j)
{
    const char *s;

    if (cis2_json_write(&s, NULL, NULL, j, NULL, NULL, p) != APR_SUCCESS) {
        s = json_text(p, j);
    }
    return s;
}

static void push_json(render_ctx *ctx, const char *name, const json_t *j)
{
    push_json_text(ctx, name, json_text_fast(ctx->p, j));
}

static void push_int(render_ctx *ctx, const char *name, apr_int64_t v)
{
    push_str(ctx, name, apr_psprintf(ctx->p, "%" APR_INT64_T_FMT, v));
}

/* ---- roles and organisations (CIS2.md §6-§7) ----------------------------- */

static const json_t *find_role(apr_pool_t *p, const json_t *roles,
                               const char *roleid)
{
    size_t i;

    for (i = 0; i < json_array_size(roles); i++) {
        const json_t *r = json_array_get(roles, i);
        const char *id = id_str(p, json_object_get(r, "person_roleid"));

        if (json_is_object(r) && id != NULL && strcmp(id, roleid) == 0) {
            return r;
        }
    }
    return NULL;
}

static const char *org_name(apr_pool_t *p, const json_t *orgs,
                            const char *code)
{
    size_t i;

    for (i = 0; i < json_array_size(orgs); i++) {
        const json_t *o = json_array_get(orgs, i);
        const char *c = id_str(p, json_object_get(o, "org_code"));

        if (c != NULL && strcmp(c, code) == 0) {
            return cis2_json_str(o, "org_name");
        }
    }
    return NULL;
}

/* CIS2_ROLES, CIS2_ORGS, CIS2_ROLES_JSON: always exported ("" / "[]" for a
 * user with no roles, who may sign in: CIS2.md §7). roles_text: the roles'
 * JSON text already written inside CIS2_CLAIMS_JSON, or NULL. */
static void render_role_lists(render_ctx *ctx, const json_t *roles,
                              const json_t *orgs, const char *roles_text)
{
    apr_array_header_t *ids = apr_array_make(ctx->p, 8, sizeof(char *));
    apr_array_header_t *codes = apr_array_make(ctx->p, 8, sizeof(char *));
    size_t i;

    for (i = 0; i < json_array_size(roles); i++) {
        list_add(ids, id_str(ctx->p, json_object_get(
                     json_array_get(roles, i), "person_roleid")), 0);
    }
    for (i = 0; i < json_array_size(orgs); i++) {
        list_add(codes, id_str(ctx->p, json_object_get(
                     json_array_get(orgs, i), "org_code")), 1);
    }
    if (codes->nelts == 0) {
        /* no associatedorgs scope: the roles name their organisations */
        for (i = 0; i < json_array_size(roles); i++) {
            list_add(codes, id_str(ctx->p, json_object_get(
                         json_array_get(roles, i), "org_code")), 1);
        }
    }
    push_str(ctx, "CIS2_ROLES", apr_array_pstrcat(ctx->p, ids, ','));
    push_str(ctx, "CIS2_ORGS", apr_array_pstrcat(ctx->p, codes, ','));
    if (json_is_array(roles) && roles_text != NULL) {
        push_json_text(ctx, "CIS2_ROLES_JSON", roles_text);
    }
    else if (json_is_array(roles)) {
        push_json(ctx, "CIS2_ROLES_JSON", roles);
    }
    else {
        push_str(ctx, "CIS2_ROLES_JSON", "[]");
    }
}

/* The selected role's variables; returns 1 when selected_roleid mapped. */
static int render_selected_role(render_ctx *ctx, const json_t *claims,
                                const json_t *roles, const json_t *orgs)
{
    const char *sel = id_str(ctx->p,
                             json_object_get(claims, "selected_roleid"));
    const json_t *role;
    const char *code, *oname;

    if (sel == NULL || *sel == '\0'
        || (role = find_role(ctx->p, roles, sel)) == NULL) {
        return 0;
    }
    push_str(ctx, "CIS2_ROLE_ID", sel);
    push_json_str(ctx, "CIS2_ROLE_CODE", role, "role_code");
    push_json_str(ctx, "CIS2_ROLE_NAME", role, "role_name");
    code = id_str(ctx->p, json_object_get(role, "org_code"));
    push_str(ctx, "CIS2_ORG_CODE", code);
    oname = code != NULL ? org_name(ctx->p, orgs, code) : NULL;
    if (oname == NULL) {
        oname = cis2_json_str(role, "org_name");
    }
    push_str(ctx, "CIS2_ORG_NAME", oname);
    /* optional arrays: absent or empty gives "" (CIS2.md §7) */
    push_str(ctx, "CIS2_ACTIVITY_CODES",
             join_array(ctx->p, json_object_get(role, "activity_codes")));
    push_str(ctx, "CIS2_WORKGROUP_CODES",
             join_array(ctx->p, json_object_get(role, "workgroups_codes")));
    push_str(ctx, "CIS2_AOW_CODES",
             join_array(ctx->p, json_object_get(role, "aow_codes")));
    return 1;
}

/* ---- CIS2_CLAIMS_JSON and CIS2_CLAIM_<NAME> ------------------------------ */

/* The text of CIS2_CLAIMS_JSON: the claims without the secret ones, in
 * jansson's member order; *proles_text is the roles' value inside it (the
 * same bytes CIS2_ROLES_JSON holds), or NULL. One pass over the claims
 * writes both (the roles are most of the text). */
static const char *claims_json_text(render_ctx *ctx, const json_t *claims,
                                    const char **proles_text)
{
    json_t *copy;
    const char *const *k;
    const char *s;
    cis2_json_span_t span;

    *proles_text = NULL;
    if (cis2_json_write(&s, NULL, &span, claims, secret_claims,
                        "nhsid_nrbac_roles", ctx->p) == APR_SUCCESS) {
        if (span.len > 0) {
            *proles_text = apr_pstrmemdup(ctx->p, s + span.off, span.len);
        }
        return s;
    }
    /* what the writer refuses (see json_text_fast), jansson renders */
    copy = json_copy((json_t *)claims);
    if (copy == NULL) {
        return NULL;
    }
    for (k = secret_claims; *k != NULL; k++) {
        json_object_del(copy, *k);
    }
    s = json_text(ctx->p, copy);
    json_decref(copy);
    return s;
}

/* CIS2_CLAIM_ + name upper-cased, each byte outside [A-Z0-9] as '_'. */
static const char *claim_env_name(apr_pool_t *p, const char *claim)
{
    apr_size_t n = strlen(claim), i;
    char *s;

    if (n == 0 || n > MAX_CLAIM_NAME) {
        return NULL;
    }
    s = apr_palloc(p, sizeof("CIS2_CLAIM_") - 1 + n + 1);
    memcpy(s, "CIS2_CLAIM_", sizeof("CIS2_CLAIM_") - 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)claim[i];

        if (c >= 'a' && c <= 'z') {
            c = (unsigned char)(c - 'a' + 'A');
        }
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            c = '_';
        }
        s[sizeof("CIS2_CLAIM_") - 1 + i] = (char)c;
    }
    s[sizeof("CIS2_CLAIM_") - 1 + n] = '\0';
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void render_other_claims(render_ctx *ctx, const json_t *claims,
                                int role_mapped)
{
    apr_array_header_t *keys;
    const char *key;
    json_t *v;
    int i;

    /* sorted by claim name: the order must not depend on which of the ID
     * token and UserInfo supplied a claim */
    keys = apr_array_make(ctx->p, (int)json_object_size(claims) + 1,
                          sizeof(const char *));
    json_object_foreach((json_t *)claims, key, v) {
        APR_ARRAY_PUSH(keys, const char *) = key;
    }
    qsort(keys->elts, (size_t)keys->nelts, sizeof(const char *), cmp_str);

    for (i = 0; i < keys->nelts; i++) {
        const char *name, *val;
        apr_size_t len;

        key = APR_ARRAY_IDX(keys, i, const char *);
        v = json_object_get(claims, key);
        if (in_list(fixed_claims, key) || in_list(protocol_claims, key)
            || in_list(secret_claims, key)
            || (role_mapped && strcmp(key, "selected_roleid") == 0)) {
            continue;
        }
        if ((val = scalar_str(ctx->p, v, &len)) == NULL) {
            continue;          /* null, arrays, objects */
        }
        if ((name = claim_env_name(ctx->p, key)) == NULL) {
            cis2_log(CIS2_LOG_MARK, CIS2_LOG_INFO, APR_SUCCESS, ctx->p,
                     "claims: a claim with an empty name or a name over %d "
                     "bytes not exported", MAX_CLAIM_NAME);
            continue;
        }
        if (apr_hash_get(ctx->names, name, APR_HASH_KEY_STRING) != NULL) {
            /* "a-b" and "a_b" both map to CIS2_CLAIM_A_B: first one wins */
            cis2_log(CIS2_LOG_MARK, CIS2_LOG_INFO, APR_SUCCESS, ctx->p,
                     "claims: %s not exported again: two claims share the "
                     "name", name);
            continue;
        }
        push(ctx, name, val, len);
    }
}

/* ---- render -------------------------------------------------------------- */

apr_status_t cis2_claims_render(apr_array_header_t **penv,
                                const char **premote_user,
                                const json_t *claims,
                                const cis2_claims_opts_t *opts,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    const char *ru_claim = "sub";
    int export_json = 1;
    const json_t *ru, *roles, *orgs;
    const char *ru_val, *claims_text, *roles_text = NULL;
    render_ctx ctx;
    apr_int64_t t;
    int aal, ial, mapped;

    if (opts != NULL) {
        if (opts->remote_user_claim != NULL) {
            ru_claim = opts->remote_user_claim;
        }
        export_json = opts->export_claims_json;
    }
    if (!json_is_object(claims)) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "claims are not a JSON object");
    }

    /* REMOTE_USER: a non-empty string with no control character, or the
     * login fails (an empty or odd user name must never authenticate) */
    ru = json_object_get(claims, ru_claim);
    if (!json_is_string(ru)) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "remote user claim is missing or not a string");
    }
    if (json_string_length(ru) == 0
        || json_string_length(ru) > CIS2_MAX_CLAIM_VALUE
        || cis2_has_ctl(json_string_value(ru), json_string_length(ru))) {
        return cis2_err_set(perr, p, CIS2_E_CLAIM_INVALID,
                            "remote user claim is empty, too long or holds "
                            "a control character");
    }
    ru_val = apr_pstrmemdup(p, json_string_value(ru), json_string_length(ru));

    ctx.p = p;
    ctx.env = apr_array_make(p, 32, sizeof(cis2_kv_t));
    ctx.names = apr_hash_make(p);

    /* identity (profile, email scopes; CIS2.md §6) */
    if (json_is_string(json_object_get(claims, "uid"))) {
        push_json_str(&ctx, "CIS2_UID", claims, "uid");
    }
    else if (json_is_string(json_object_get(claims, "nhsid_useruid"))) {
        push_json_str(&ctx, "CIS2_UID", claims, "nhsid_useruid");
    }
    else {
        push_json_str(&ctx, "CIS2_UID", claims, "sub");
    }
    push_json_str(&ctx, "CIS2_NAME", claims, "name");
    push_json_str(&ctx, "CIS2_GIVEN_NAME", claims, "given_name");
    push_json_str(&ctx, "CIS2_FAMILY_NAME", claims, "family_name");
    push_json_str(&ctx, "CIS2_EMAIL", claims, "email");

    /* assurance and authentication (CIS2.md §8) */
    cis2_claims_assurance(claims, &aal, &ial);
    if (aal >= 0) {
        push_int(&ctx, "CIS2_AAL", aal);
    }
    if (ial >= 0) {
        push_int(&ctx, "CIS2_IAL", ial);
    }
    push_json_str(&ctx, "CIS2_ACR", claims, "acr");
    if (json_object_get(claims, "amr") != NULL) {
        push_str(&ctx, "CIS2_AMR",
                 join_array(p, json_object_get(claims, "amr")));
    }
    if (cis2_json_numeric_date(claims, "auth_time", &t)) {
        push_int(&ctx, "CIS2_AUTH_TIME", t);
    }

    /* roles (CIS2.md §7); anything but an array counts as no roles */
    roles = json_object_get(claims, "nhsid_nrbac_roles");
    if (!json_is_array(roles)) {
        roles = NULL;
    }
    orgs = json_object_get(claims, "nhsid_user_orgs");
    if (!json_is_array(orgs)) {
        orgs = NULL;
    }
    claims_text = export_json ? claims_json_text(&ctx, claims, &roles_text)
                              : NULL;
    render_role_lists(&ctx, roles, orgs, roles_text);
    if (export_json) {
        push_json_text(&ctx, "CIS2_CLAIMS_JSON", claims_text);
    }
    mapped = render_selected_role(&ctx, claims, roles, orgs);

    render_other_claims(&ctx, claims, mapped);

    *penv = ctx.env;
    *premote_user = ru_val;
    return APR_SUCCESS;
}

/* ---- authorization view (Require cis2-*) --------------------------------- */

void cis2_claims_authz(apr_array_header_t **proles, int *pselected,
                       apr_array_header_t **pscalars, const json_t *claims,
                       apr_pool_t *p)
{
    const json_t *roles = json_object_get(claims, "nhsid_nrbac_roles");
    const char *sel = id_str(p, json_object_get(claims, "selected_roleid"));
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(cis2_role_t));
    apr_array_header_t *kv = apr_array_make(p, 16, sizeof(cis2_kv_t));
    const char *key;
    json_t *v;
    size_t i, j;

    *pselected = -1;
    for (i = 0; json_is_array(roles) && i < json_array_size(roles); i++) {
        const json_t *r = json_array_get(roles, i);
        const json_t *acts = json_object_get(r, "activity_codes");
        const char *id = id_str(p, json_object_get(r, "person_roleid"));
        cis2_role_t *role;

        if (!json_is_object(r) || !list_item_ok(id)) {
            continue;          /* a role without a usable id grants nothing */
        }
        role = apr_array_push(out);
        role->id = id;
        role->code = cis2_json_str(r, "role_code");
        role->org = id_str(p, json_object_get(r, "org_code"));
        if (role->code != NULL && cis2_has_ctl(role->code,
                                               strlen(role->code))) {
            role->code = NULL;
        }
        if (role->org != NULL && cis2_has_ctl(role->org, strlen(role->org))) {
            role->org = NULL;
        }
        role->activities = apr_array_make(p, 4, sizeof(const char *));
        for (j = 0; json_is_array(acts) && j < json_array_size(acts); j++) {
            list_add(role->activities, id_str(p, json_array_get(acts, j)), 1);
        }
        if (sel != NULL && *pselected < 0 && strcmp(sel, id) == 0) {
            *pselected = out->nelts - 1;
        }
    }
    json_object_foreach((json_t *)claims, key, v) {
        const char *val;
        apr_size_t len;
        cis2_kv_t *e;

        if (in_list(secret_claims, key)
            || (val = scalar_str(p, v, &len)) == NULL
            || len > CIS2_MAX_CLAIM_VALUE || cis2_has_ctl(val, len)
            || strlen(key) > MAX_CLAIM_NAME) {
            continue;
        }
        e = apr_array_push(kv);
        e->name = key;
        e->value = val;
    }
    *proles = out;
    *pscalars = kv;
}
