/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_claims — CIS2 claim shapes to exported variables: a nurse (one
 * role), a doctor (several roles and organisations), a user with no roles,
 * one with 50 roles, both IAL spellings, assurance as strings and integers,
 * selected-role mapping, missing optional arrays, control characters and
 * oversized values dropped (and logged by name only), the REMOTE_USER claim,
 * and CIS2_CLAIM_<NAME> naming.
 */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "cis2_claims.h"
#include "cis2_json.h"
#include "cis2_log.h"

/* ---- fixtures (shapes from CIS2.md §5-§7, values invented) --------------- */

static const char id_token_json[] =
    "{\"iss\":\"https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/"
    "openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare\","
    "\"sub\":\"555012345678\",\"aud\":\"123456789012.apps.national\","
    "\"azp\":\"123456789012.apps.national\",\"iat\":1750525000,"
    "\"exp\":1750528600,\"auth_time\":1750524990,\"nonce\":\"n-0S6_WzA2Mj\","
    "\"acr\":\"AAL3_ANY\",\"amr\":[\"N3_SMARTCARD\"],"
    "\"id_assurance_level\":\"3\",\"authentication_assurance_level\":\"3\","
    "\"sid\":\"f2b1c7e0-9c1e-4a5d-9b2e-2d7c3a1f0e11\","
    "\"selected_roleid\":\"555254240100\",\"at_hash\":\"Qm9vbGVhbkF0SGFzaA\","
    "\"c_hash\":\"Q29kZUhhc2hFeGFtcGxl\",\"tokenName\":\"id_token\","
    "\"tokenType\":\"JWTToken\",\"realm\":\"/NHSIdentity/Healthcare\","
    "\"org.forgerock.openidconnect.ops\":\"secret-ops-handle\","
    "\"auditTrackingId\":\"0a1b2c3d-123456\"}";

static const char nurse_userinfo_json[] =
    "{\"sub\":\"555012345678\",\"uid\":\"555012345678\","
    "\"nhsid_useruid\":\"555012345678\",\"name\":\"SMITH JANE Mrs\","
    "\"given_name\":\"Jane\",\"family_name\":\"Smith\",\"title\":\"Mrs\","
    "\"idassurancelevel\":\"3\",\"email\":\"jane.smith@nhs.net\","
    "\"gmc_id\":\"1234567\","
    "\"nhsid_user_orgs\":[{\"org_code\":\"RBA\",\"org_name\":\"EXAMPLE NHS "
    "FOUNDATION TRUST\"}],"
    "\"nhsid_nrbac_roles\":[{\"person_orgid\":\"555254239107\","
    "\"person_roleid\":\"555254240100\",\"org_code\":\"RBA\","
    "\"role_name\":\"\\\"Clinical\\\":\\\"Clinical Provision\\\":\\\"Nurse "
    "Access Role\\\"\",\"role_code\":\"S8000:G8000:R8001\","
    "\"activities\":[\"View Patient Medication\",\"Amend Patient "
    "Demographics\"],\"activity_codes\":[\"B0401\",\"B0825\"],"
    "\"workgroups\":[\"Ward 7 Team\"],\"workgroups_codes\":[\"555653110100\"],"
    "\"aow\":[\"x\"],\"aow_codes\":[\"P0010:Q0050:T0210\"]}]}";

static const char doctor_userinfo_json[] =
    "{\"sub\":\"555012345679\",\"uid\":\"555012345679\","
    "\"name\":\"JONES BOB Dr\",\"given_name\":\"Bob\",\"family_name\":"
    "\"Jones\",\"idassurancelevel\":3,"
    "\"nhsid_user_orgs\":[{\"org_code\":\"RBA\",\"org_name\":\"TRUST A\"},"
    "{\"org_code\":\"X26\",\"org_name\":\"NHS DIGITAL\"},"
    "{\"org_code\":\"RBA\",\"org_name\":\"TRUST A AGAIN\"}],"
    "\"nhsid_nrbac_roles\":["
    "{\"person_roleid\":\"100000000001\",\"org_code\":\"RBA\","
    "\"role_code\":\"S8000:G8000:R8000\",\"role_name\":\"Clinical "
    "Practitioner\",\"activity_codes\":[\"B0420\",\"B0360\"]},"
    "{\"person_roleid\":\"100000000002\",\"org_code\":\"X26\","
    "\"role_code\":\"S8001:G8005:R8015\",\"role_name\":\"Support\","
    "\"activity_codes\":[\"B0062\"],\"workgroups_codes\":[],"
    "\"aow_codes\":[\"P1:Q1:T1\",\"P2:Q2:T2\"]},"
    "{\"person_roleid\":\"100000000003\",\"org_code\":\"RBA\","
    "\"role_code\":\"S8000:G8000:R8003\",\"role_name\":\"HP\"}]}";

static json_t *parse(const char *text)
{
    json_t *j = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_json_parse_object(&j, text, strlen(text),
                                         CIS2_MAX_HTTP_BODY, &err, g_pool)
                  == APR_SUCCESS, "fixture: %s", err ? err->detail : "?");
    return j;
}

/* ---- log capture --------------------------------------------------------- */

static char log_buf[16384];

static void capture(void *baton, const char *file, int line,
                    cis2_log_level level, apr_status_t rv, apr_pool_t *p,
                    const char *msg)
{
    apr_size_t n = strlen(log_buf);

    apr_snprintf(log_buf + n, sizeof(log_buf) - n, "%d:%s\n", (int)level,
                 msg);
}

static void log_setup(void)
{
    log_buf[0] = '\0';
    cis2_log_set_sink(capture, NULL, NULL);
}

static void log_teardown(void)
{
    cis2_log_set_sink(NULL, NULL, NULL);
}

/* ---- helpers ------------------------------------------------------------- */

static apr_array_header_t *render_ok(const json_t *claims,
                                     const cis2_claims_opts_t *opts,
                                     const char **pru)
{
    apr_array_header_t *env = NULL;
    const char *ru = NULL;
    const cis2_err_t *err = NULL;
    int i;

    ck_assert_msg(cis2_claims_render(&env, &ru, claims, opts, &err, g_pool)
                  == APR_SUCCESS, "render: %s", err ? err->detail : "?");
    ck_assert_ptr_nonnull(env);
    ck_assert_ptr_nonnull(ru);
    /* the invariant: nothing exported holds a control byte or is over size */
    for (i = 0; i < env->nelts; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(env, i, cis2_kv_t);
        const unsigned char *c;

        ck_assert_ptr_nonnull(kv->name);
        ck_assert_ptr_nonnull(kv->value);
        ck_assert_int_le(strlen(kv->value), CIS2_MAX_CLAIM_VALUE);
        for (c = (const unsigned char *)kv->value; *c; c++) {
            ck_assert_msg(*c >= 0x20 && *c != 0x7f, "control byte in %s",
                          kv->name);
        }
    }
    if (pru != NULL) {
        *pru = ru;
    }
    return env;
}

static const char *var(const apr_array_header_t *env, const char *name)
{
    const char *found = NULL;
    int i;

    for (i = 0; i < env->nelts; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(env, i, cis2_kv_t);

        if (strcmp(kv->name, name) == 0) {
            ck_assert_msg(found == NULL, "%s exported twice", name);
            found = kv->value;
        }
    }
    return found;
}

#define ck_var(env, name, val) do { \
        const char *v_ = var((env), (name)); \
        ck_assert_msg(v_ != NULL, "%s not exported", (name)); \
        ck_assert_str_eq(v_, (val)); \
    } while (0)
#define ck_novar(env, name) \
    ck_assert_msg(var((env), (name)) == NULL, "%s exported", (name))

static json_t *nurse(void)
{
    return cis2_claims_merge(g_pool, parse(id_token_json),
                             parse(nurse_userinfo_json));
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(nurse_one_role)
{
    const char *ru;
    apr_array_header_t *env = render_ok(nurse(), NULL, &ru);
    json_t *cj;

    ck_assert_str_eq(ru, "555012345678");
    ck_var(env, "CIS2_UID", "555012345678");
    ck_var(env, "CIS2_NAME", "SMITH JANE Mrs");
    ck_var(env, "CIS2_GIVEN_NAME", "Jane");
    ck_var(env, "CIS2_FAMILY_NAME", "Smith");
    ck_var(env, "CIS2_EMAIL", "jane.smith@nhs.net");
    ck_var(env, "CIS2_AAL", "3");
    ck_var(env, "CIS2_IAL", "3");
    ck_var(env, "CIS2_ACR", "AAL3_ANY");
    ck_var(env, "CIS2_AMR", "N3_SMARTCARD");
    ck_var(env, "CIS2_AUTH_TIME", "1750524990");
    ck_var(env, "CIS2_ROLES", "555254240100");
    ck_var(env, "CIS2_ORGS", "RBA");
    ck_var(env, "CIS2_ROLE_ID", "555254240100");
    ck_var(env, "CIS2_ROLE_CODE", "S8000:G8000:R8001");
    ck_var(env, "CIS2_ROLE_NAME",
           "\"Clinical\":\"Clinical Provision\":\"Nurse Access Role\"");
    ck_var(env, "CIS2_ORG_CODE", "RBA");
    ck_var(env, "CIS2_ORG_NAME", "EXAMPLE NHS FOUNDATION TRUST");
    ck_var(env, "CIS2_ACTIVITY_CODES", "B0401,B0825");
    ck_var(env, "CIS2_WORKGROUP_CODES", "555653110100");
    ck_var(env, "CIS2_AOW_CODES", "P0010:Q0050:T0210");
    /* other scalars */
    ck_var(env, "CIS2_CLAIM_SUB", "555012345678");
    ck_var(env, "CIS2_CLAIM_ISS", "https://am.nhsint.auth-ptl.cis2."
           "spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/"
           "NHSIdentity/realms/Healthcare");
    ck_var(env, "CIS2_CLAIM_GMC_ID", "1234567");
    ck_var(env, "CIS2_CLAIM_TITLE", "Mrs");
    ck_var(env, "CIS2_CLAIM_NHSID_USERUID", "555012345678");
    ck_var(env, "CIS2_CLAIM_TOKENNAME", "id_token");
    ck_var(env, "CIS2_CLAIM_AUDITTRACKINGID", "0a1b2c3d-123456");
    /* fixed names are not repeated; protocol and secret-ish claims never */
    ck_novar(env, "CIS2_CLAIM_NAME");
    ck_novar(env, "CIS2_CLAIM_UID");
    ck_novar(env, "CIS2_CLAIM_EMAIL");
    ck_novar(env, "CIS2_CLAIM_ACR");
    ck_novar(env, "CIS2_CLAIM_AUTH_TIME");
    ck_novar(env, "CIS2_CLAIM_ID_ASSURANCE_LEVEL");
    ck_novar(env, "CIS2_CLAIM_IDASSURANCELEVEL");
    ck_novar(env, "CIS2_CLAIM_AUTHENTICATION_ASSURANCE_LEVEL");
    ck_novar(env, "CIS2_CLAIM_SELECTED_ROLEID");
    ck_novar(env, "CIS2_CLAIM_NONCE");
    ck_novar(env, "CIS2_CLAIM_AT_HASH");
    ck_novar(env, "CIS2_CLAIM_C_HASH");
    ck_novar(env, "CIS2_CLAIM_SID");
    ck_novar(env, "CIS2_CLAIM_AUD");
    ck_novar(env, "CIS2_CLAIM_AZP");
    ck_novar(env, "CIS2_CLAIM_EXP");
    ck_novar(env, "CIS2_CLAIM_IAT");
    ck_novar(env, "CIS2_CLAIM_ORG_FORGEROCK_OPENIDCONNECT_OPS");
    ck_novar(env, "CIS2_CLAIM_AMR");
    ck_novar(env, "CIS2_CLAIM_NHSID_NRBAC_ROLES");
    /* the JSON values parse back; CLAIMS_JSON lacks the secret-ish claims */
    cj = parse(var(env, "CIS2_CLAIMS_JSON"));
    ck_assert_ptr_null(json_object_get(cj, "nonce"));
    ck_assert_ptr_null(json_object_get(cj, "at_hash"));
    ck_assert_ptr_null(json_object_get(cj, "sid"));
    ck_assert_ptr_null(json_object_get(cj, "org.forgerock.openidconnect.ops"));
    ck_assert_str_eq(cis2_json_str(cj, "sub"), "555012345678");
    ck_assert(json_is_array(json_object_get(cj, "nhsid_nrbac_roles")));
    ck_assert_ptr_null(strstr(var(env, "CIS2_CLAIMS_JSON"), "secret-ops"));
    ck_assert_int_eq(var(env, "CIS2_ROLES_JSON")[0], '[');
    ck_assert_ptr_nonnull(strstr(var(env, "CIS2_ROLES_JSON"),
                                 "\"person_roleid\":\"555254240100\""));
}
END_TEST

START_TEST(doctor_several_roles)
{
    json_t *c = cis2_claims_merge(g_pool, parse(id_token_json),
                                  parse(doctor_userinfo_json));
    apr_array_header_t *env;

    /* the ID token's sub wins over UserInfo's (they differ on purpose) */
    json_object_set_new(c, "selected_roleid", json_string("100000000002"));
    env = render_ok(c, NULL, NULL);
    ck_var(env, "CIS2_UID", "555012345679");
    ck_var(env, "CIS2_CLAIM_SUB", "555012345678");
    ck_var(env, "CIS2_ROLES", "100000000001,100000000002,100000000003");
    ck_var(env, "CIS2_ORGS", "RBA,X26");
    ck_var(env, "CIS2_ROLE_ID", "100000000002");
    ck_var(env, "CIS2_ROLE_CODE", "S8001:G8005:R8015");
    ck_var(env, "CIS2_ROLE_NAME", "Support");
    ck_var(env, "CIS2_ORG_CODE", "X26");
    ck_var(env, "CIS2_ORG_NAME", "NHS DIGITAL");
    ck_var(env, "CIS2_ACTIVITY_CODES", "B0062");
    ck_var(env, "CIS2_WORKGROUP_CODES", "");
    ck_var(env, "CIS2_AOW_CODES", "P1:Q1:T1,P2:Q2:T2");

    /* the first org of a code names it */
    json_object_set_new(c, "selected_roleid", json_string("100000000003"));
    env = render_ok(c, NULL, NULL);
    ck_var(env, "CIS2_ORG_NAME", "TRUST A");
    /* missing optional arrays: present and empty */
    ck_var(env, "CIS2_ACTIVITY_CODES", "");
    ck_var(env, "CIS2_WORKGROUP_CODES", "");
    ck_var(env, "CIS2_AOW_CODES", "");
}
END_TEST

START_TEST(no_roles)
{
    json_t *c = parse("{\"sub\":\"1\",\"name\":\"A B\"}");
    apr_array_header_t *env = render_ok(c, NULL, NULL);

    ck_var(env, "CIS2_ROLES", "");
    ck_var(env, "CIS2_ORGS", "");
    ck_var(env, "CIS2_ROLES_JSON", "[]");
    ck_var(env, "CIS2_UID", "1");
    ck_novar(env, "CIS2_ROLE_ID");
    ck_novar(env, "CIS2_ORG_NAME");
    ck_novar(env, "CIS2_AAL");
    ck_novar(env, "CIS2_IAL");
    ck_novar(env, "CIS2_AMR");
    ck_novar(env, "CIS2_AUTH_TIME");

    /* an empty array, and a role list that is not an array */
    c = parse("{\"sub\":\"1\",\"nhsid_nrbac_roles\":[],"
              "\"selected_roleid\":\"9\"}");
    env = render_ok(c, NULL, NULL);
    ck_var(env, "CIS2_ROLES_JSON", "[]");
    ck_novar(env, "CIS2_ROLE_ID");
    /* unmapped selected_roleid is still visible as a plain claim */
    ck_var(env, "CIS2_CLAIM_SELECTED_ROLEID", "9");
    c = parse("{\"sub\":\"1\",\"nhsid_nrbac_roles\":{\"a\":1},"
              "\"nhsid_user_orgs\":\"RBA\"}");
    env = render_ok(c, NULL, NULL);
    ck_var(env, "CIS2_ROLES_JSON", "[]");
    ck_var(env, "CIS2_ORGS", "");
}
END_TEST

START_TEST(fifty_roles)
{
    json_t *c = json_object(), *roles = json_array(), *back;
    apr_array_header_t *env;
    const char *list;
    int i;

    cis2_json_own(g_pool, c);
    json_object_set_new(c, "sub", json_string("555000000001"));
    for (i = 0; i < 50; i++) {
        json_t *r = json_object(), *acts = json_array();

        json_object_set_new(r, "person_roleid", json_string(
                                apr_psprintf(g_pool, "5552542%05d", i)));
        json_object_set_new(r, "org_code", json_string(
                                apr_psprintf(g_pool, "O%02d", i % 7)));
        json_object_set_new(r, "role_code", json_string("S8000:G8000:R8001"));
        json_object_set_new(r, "role_name", json_string(
                                apr_psprintf(g_pool, "Role %d", i)));
        json_array_append_new(acts, json_string("B0401"));
        json_array_append_new(acts, json_string(
                                  apr_psprintf(g_pool, "B%04d", i)));
        json_object_set_new(r, "activity_codes", acts);
        json_array_append_new(roles, r);
    }
    json_object_set_new(c, "nhsid_nrbac_roles", roles);
    json_object_set_new(c, "selected_roleid", json_string("555254200036"));
    env = render_ok(c, NULL, NULL);

    list = var(env, "CIS2_ROLES");
    ck_assert_int_eq(strlen(list), 50 * 12 + 49);
    ck_assert(strncmp(list, "555254200000,555254200001,", 26) == 0);
    ck_var(env, "CIS2_ORGS", "O00,O01,O02,O03,O04,O05,O06");
    ck_var(env, "CIS2_ROLE_ID", "555254200036");
    ck_var(env, "CIS2_ROLE_NAME", "Role 36");
    ck_var(env, "CIS2_ORG_CODE", "O01");
    ck_novar(env, "CIS2_ORG_NAME");
    ck_var(env, "CIS2_ACTIVITY_CODES", "B0401,B0036");
    back = parse(apr_pstrcat(g_pool, "{\"r\":", var(env, "CIS2_ROLES_JSON"),
                             "}", NULL));
    ck_assert_int_eq(json_array_size(json_object_get(back, "r")), 50);
}
END_TEST

START_TEST(assurance_shapes)
{
    static const struct {
        const char *json;
        int aal, ial;
    } cases[] = {
        { "{\"authentication_assurance_level\":\"3\","
          "\"id_assurance_level\":\"3\"}", 3, 3 },
        { "{\"authentication_assurance_level\":2,"
          "\"id_assurance_level\":3}", 2, 3 },
        { "{\"idassurancelevel\":\"3\"}", -1, 3 },
        { "{\"idassurancelevel\":1}", -1, 1 },
        /* the ID-token spelling wins */
        { "{\"id_assurance_level\":\"3\",\"idassurancelevel\":\"1\"}", -1, 3 },
        /* an invalid ID-token value falls back to the other spelling */
        { "{\"id_assurance_level\":\"x\",\"idassurancelevel\":\"2\"}", -1, 2 },
        { "{\"authentication_assurance_level\":\"three\"}", -1, -1 },
        { "{\"authentication_assurance_level\":\"3.0\"}", -1, -1 },
        { "{\"authentication_assurance_level\":3.0}", -1, -1 },
        { "{\"authentication_assurance_level\":\"\"}", -1, -1 },
        { "{\"authentication_assurance_level\":-1}", -1, -1 },
        { "{\"authentication_assurance_level\":\"-3\"}", -1, -1 },
        { "{\"authentication_assurance_level\":42}", -1, -1 },
        { "{\"authentication_assurance_level\":true}", -1, -1 },
        { "{\"authentication_assurance_level\":null}", -1, -1 },
        { "{\"authentication_assurance_level\":[3]}", -1, -1 },
        { "{\"authentication_assurance_level\":\"0\"}", 0, -1 },
        { "{}", -1, -1 },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int aal = 99, ial = 99;

        cis2_claims_assurance(parse(cases[i].json), &aal, &ial);
        ck_assert_msg(aal == cases[i].aal && ial == cases[i].ial,
                      "case %d: aal %d ial %d", (int)i, aal, ial);
    }
    {
        int aal = 99;

        cis2_claims_assurance(NULL, &aal, NULL);
        ck_assert_int_eq(aal, -1);
    }
}
END_TEST

START_TEST(assurance_rendered)
{
    json_t *c = parse("{\"sub\":\"1\",\"authentication_assurance_level\":2,"
                      "\"idassurancelevel\":\"3\"}");
    apr_array_header_t *env = render_ok(c, NULL, NULL);

    ck_var(env, "CIS2_AAL", "2");
    ck_var(env, "CIS2_IAL", "3");
}
END_TEST

START_TEST(merge_precedence)
{
    json_t *id = parse("{\"sub\":\"A\",\"acr\":\"AAL3_ANY\","
                       "\"id_assurance_level\":\"3\"}");
    json_t *ui = parse("{\"sub\":\"B\",\"acr\":\"AAL1\",\"email\":\"e@x\","
                       "\"idassurancelevel\":\"1\"}");
    json_t *m = cis2_claims_merge(g_pool, id, ui);
    int ial;

    ck_assert_str_eq(cis2_json_str(m, "sub"), "A");
    ck_assert_str_eq(cis2_json_str(m, "acr"), "AAL3_ANY");
    ck_assert_str_eq(cis2_json_str(m, "email"), "e@x");
    cis2_claims_assurance(m, NULL, &ial);
    ck_assert_int_eq(ial, 3);
    /* inputs are untouched */
    ck_assert_str_eq(cis2_json_str(ui, "sub"), "B");
    ck_assert_int_eq(json_object_size(id), 3);

    m = cis2_claims_merge(g_pool, id, NULL);
    ck_assert_int_eq(json_object_size(m), 3);
    m = cis2_claims_merge(g_pool, NULL, ui);
    ck_assert_str_eq(cis2_json_str(m, "sub"), "B");
}
END_TEST

START_TEST(orgs_fallback_to_roles)
{
    json_t *c = parse("{\"sub\":\"1\",\"selected_roleid\":\"r2\","
                      "\"nhsid_nrbac_roles\":["
                      "{\"person_roleid\":\"r1\",\"org_code\":\"B\"},"
                      "{\"person_roleid\":\"r2\",\"org_code\":\"A\","
                      "\"org_name\":\"ORG A\"},"
                      "{\"person_roleid\":\"r3\",\"org_code\":\"B\"},"
                      "\"junk\",7,{\"org_code\":\"C\"}]}");
    apr_array_header_t *env = render_ok(c, NULL, NULL);

    ck_var(env, "CIS2_ROLES", "r1,r2,r3");
    ck_var(env, "CIS2_ORGS", "B,A,C");
    ck_var(env, "CIS2_ROLE_ID", "r2");
    ck_var(env, "CIS2_ORG_NAME", "ORG A");
    ck_novar(env, "CIS2_ROLE_CODE");
}
END_TEST

/* The JSON variables are jansson's compact dump, byte for byte (as they
 * were when jansson wrote them): CIS2_ROLES_JSON the roles, also when it
 * is cut out of CIS2_CLAIMS_JSON, and CIS2_CLAIMS_JSON the merged claims
 * without the secret ones, in the merge's member order. */
static const char *jansson_text(const json_t *j)
{
    char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *out = apr_pstrdup(g_pool, d);

    free(d);
    return out;
}

START_TEST(json_variables_are_jansson_dumps)
{
    static const char *const users[] = { "doctor", "fiveroles", "manyroles" };
    static const char *const secret[] = {
        "nonce", "at_hash", "c_hash", "s_hash", "sid",
        "org.forgerock.openidconnect.ops", "access_token", "refresh_token",
        "id_token"
    };
    cis2_claims_opts_t off = { NULL, 0 };
    apr_size_t i, k, len;

    for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        const char *it = cis2_test_slurp(apr_psprintf(g_pool,
                             "claims-%s-idtoken.json", users[i]), &len);
        const char *ui = cis2_test_slurp(apr_psprintf(g_pool,
                             "claims-%s-userinfo.json", users[i]), &len);
        json_t *claims = cis2_claims_merge(g_pool, parse(it), parse(ui));
        json_t *copy = cis2_json_own(g_pool, json_copy(claims));
        const char *roles = jansson_text(json_object_get(claims,
                                                 "nhsid_nrbac_roles"));
        apr_array_header_t *env = render_ok(claims, NULL, NULL);

        for (k = 0; k < sizeof(secret) / sizeof(secret[0]); k++) {
            json_object_del(copy, secret[k]);
        }
        ck_assert_str_eq(var(env, "CIS2_ROLES_JSON"), roles);
        ck_assert_str_eq(var(env, "CIS2_CLAIMS_JSON"), jansson_text(copy));
        /* without CIS2_CLAIMS_JSON the roles are written on their own */
        env = render_ok(claims, &off, NULL);
        ck_assert_str_eq(var(env, "CIS2_ROLES_JSON"), roles);
        ck_assert_ptr_null(var(env, "CIS2_CLAIMS_JSON"));
    }
}
END_TEST

START_TEST(control_chars_dropped)
{
    json_t *c = parse("{\"sub\":\"1\",\"name\":\"Jane\\nSmith\","
                      "\"given_name\":\"J\\r\",\"family_name\":\"S\\t\","
                      "\"email\":\"a\\u007fb@x\",\"foo\":\"a\\u0001b\","
                      "\"bar\":\"ok\",\"selected_roleid\":\"r1\","
                      "\"nhsid_nrbac_roles\":[{\"person_roleid\":\"r1\","
                      "\"role_name\":\"Evil\\r\\nX-Injected: 1\","
                      "\"org_code\":\"A\",\"activity_codes\":"
                      "[\"B1\",\"B\\n2\",\"B3,B4\",\"B5\"]},"
                      "{\"person_roleid\":\"r\\n9\"},"
                      "{\"person_roleid\":\"r7,r8\"}]}");
    apr_array_header_t *env;
    const char *cj, *rj;

    log_setup();
    env = render_ok(c, NULL, NULL);
    ck_novar(env, "CIS2_NAME");
    ck_novar(env, "CIS2_GIVEN_NAME");
    ck_novar(env, "CIS2_FAMILY_NAME");
    ck_novar(env, "CIS2_EMAIL");
    ck_novar(env, "CIS2_CLAIM_FOO");
    ck_novar(env, "CIS2_ROLE_NAME");
    ck_var(env, "CIS2_CLAIM_BAR", "ok");
    /* list elements with a control character or a comma are left out */
    ck_var(env, "CIS2_ROLES", "r1");
    ck_var(env, "CIS2_ACTIVITY_CODES", "B1,B5");
    /* the JSON values keep them, escaped: no raw control byte (checked in
     * render_ok), DEL included */
    cj = var(env, "CIS2_CLAIMS_JSON");
    rj = var(env, "CIS2_ROLES_JSON");
    ck_assert_ptr_nonnull(cj);
    ck_assert_ptr_nonnull(strstr(cj, "Jane\\nSmith"));
    ck_assert_ptr_nonnull(strstr(cj, "a\\u007fb@x"));
    ck_assert_ptr_nonnull(strstr(rj, "Evil\\r\\nX-Injected: 1"));
    ck_assert_str_eq(cis2_json_str(parse(cj), "email"), "a\x7f" "b@x");
    /* logged at INFO by name, never the value */
    ck_assert_ptr_nonnull(strstr(log_buf, "CIS2_NAME"));
    ck_assert_ptr_nonnull(strstr(log_buf, "CIS2_CLAIM_FOO"));
    ck_assert_ptr_nonnull(strstr(log_buf, "6:"));
    ck_assert_ptr_null(strstr(log_buf, "Jane"));
    ck_assert_ptr_null(strstr(log_buf, "Injected"));
    log_teardown();
}
END_TEST

START_TEST(oversized_values_dropped)
{
    json_t *c = parse("{\"sub\":\"1\"}");
    char *big = apr_palloc(g_pool, CIS2_MAX_CLAIM_VALUE + 2);
    apr_array_header_t *env;

    memset(big, 'q', CIS2_MAX_CLAIM_VALUE + 1);
    big[CIS2_MAX_CLAIM_VALUE + 1] = '\0';
    json_object_set_new(c, "huge", json_string(big));
    big[CIS2_MAX_CLAIM_VALUE] = '\0';
    json_object_set_new(c, "edge", json_string(big));
    log_setup();
    env = render_ok(c, NULL, NULL);
    ck_novar(env, "CIS2_CLAIM_HUGE");
    ck_assert_int_eq(strlen(var(env, "CIS2_CLAIM_EDGE")),
                     CIS2_MAX_CLAIM_VALUE);
    /* the whole-claims JSON is over the cap too: left out, not cut */
    ck_novar(env, "CIS2_CLAIMS_JSON");
    ck_assert_ptr_nonnull(strstr(log_buf, "CIS2_CLAIM_HUGE"));
    ck_assert_ptr_nonnull(strstr(log_buf, "CIS2_CLAIMS_JSON"));
    ck_assert_ptr_null(strstr(log_buf, "qqqq"));
    log_teardown();
}
END_TEST

START_TEST(remote_user_claim)
{
    static const char *const bad[] = {
        "{\"name\":\"x\"}",
        "{\"sub\":12345}",
        "{\"sub\":\"\"}",
        "{\"sub\":null}",
        "{\"sub\":[\"a\"]}",
        "{\"sub\":\"a\\nb\"}",
        "{\"sub\":\"a\\u007f\"}",
    };
    cis2_claims_opts_t opts = { "uid", 0 };
    apr_array_header_t *env = NULL;
    const char *ru = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        ck_assert_msg(cis2_claims_render(&env, &ru, parse(bad[i]), NULL, &err,
                                         g_pool) != APR_SUCCESS,
                      "accepted %s", bad[i]);
        ck_assert_int_eq(err->code, CIS2_E_CLAIM_INVALID);
        ck_assert_ptr_null(env);
        ck_assert_ptr_null(ru);
    }
    ck_assert_int_ne(cis2_claims_render(&env, &ru, NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CLAIM_INVALID);

    /* CIS2RemoteUserClaim uid; CIS2_CLAIMS_JSON off */
    env = render_ok(nurse(), &opts, &ru);
    ck_assert_str_eq(ru, "555012345678");
    ck_novar(env, "CIS2_CLAIMS_JSON");
    ck_assert_ptr_nonnull(var(env, "CIS2_ROLES_JSON"));
    opts.remote_user_claim = "email";
    render_ok(nurse(), &opts, &ru);
    ck_assert_str_eq(ru, "jane.smith@nhs.net");
    opts.remote_user_claim = "nhsid_missing";
    ck_assert_int_ne(cis2_claims_render(&env, &ru, nurse(), &opts, &err,
                                        g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_CLAIM_INVALID);
}
END_TEST

START_TEST(claim_naming)
{
    json_t *c = parse("{\"sub\":\"1\",\"foo-bar\":\"fb\","
                      "\"org.example.x\":\"oe\",\"MiXed\":\"m\","
                      "\"\\u00fcn\":\"u\",\"int\":42,\"neg\":-7,"
                      "\"real\":1.5,\"whole\":3.0,\"big\":1e300,"
                      "\"yes\":true,\"no\":false,\"nothing\":null,"
                      "\"arr\":[1],\"obj\":{\"a\":1},\"\":\"empty\","
                      "\"a-b\":\"first\",\"a_b\":\"second\","
                      "\"9lives\":\"n\"}");
    apr_array_header_t *env;
    char *longname = apr_palloc(g_pool, 200);

    memset(longname, 'k', 129);
    longname[129] = '\0';
    json_object_set_new(c, longname, json_string("long"));
    longname[128] = '\0';
    json_object_set_new(c, longname, json_string("max"));
    env = render_ok(c, NULL, NULL);
    ck_var(env, "CIS2_CLAIM_FOO_BAR", "fb");
    ck_var(env, "CIS2_CLAIM_ORG_EXAMPLE_X", "oe");
    ck_var(env, "CIS2_CLAIM_MIXED", "m");
    ck_var(env, "CIS2_CLAIM___N", "u");
    ck_var(env, "CIS2_CLAIM_INT", "42");
    ck_var(env, "CIS2_CLAIM_NEG", "-7");
    ck_var(env, "CIS2_CLAIM_REAL", "1.5");
    ck_var(env, "CIS2_CLAIM_WHOLE", "3.0");
    ck_var(env, "CIS2_CLAIM_BIG", "1e300");
    ck_var(env, "CIS2_CLAIM_YES", "true");
    ck_var(env, "CIS2_CLAIM_NO", "false");
    ck_var(env, "CIS2_CLAIM_9LIVES", "n");
    ck_novar(env, "CIS2_CLAIM_NOTHING");
    ck_novar(env, "CIS2_CLAIM_ARR");
    ck_novar(env, "CIS2_CLAIM_OBJ");
    ck_novar(env, "CIS2_CLAIM_");
    /* "a-b" and "a_b" clash: the first in byte order wins, once */
    ck_var(env, "CIS2_CLAIM_A_B", "first");
    memset(longname, 'K', 128);
    ck_var(env, apr_pstrcat(g_pool, "CIS2_CLAIM_", longname, NULL), "max");
}
END_TEST

START_TEST(stable_order)
{
    json_t *a = parse("{\"sub\":\"1\",\"zeta\":\"z\",\"alpha\":\"a\","
                      "\"mid\":\"m\"}");
    json_t *b = parse("{\"mid\":\"m\",\"alpha\":\"a\",\"zeta\":\"z\","
                      "\"sub\":\"1\"}");
    apr_array_header_t *ea, *eb;
    cis2_claims_opts_t opts = { NULL, 0 };
    int i;

    ea = render_ok(a, &opts, NULL);
    eb = render_ok(b, &opts, NULL);
    ck_assert_int_eq(ea->nelts, eb->nelts);
    for (i = 0; i < ea->nelts; i++) {
        ck_assert_str_eq(APR_ARRAY_IDX(ea, i, cis2_kv_t).name,
                         APR_ARRAY_IDX(eb, i, cis2_kv_t).name);
    }
    /* fixed names first, in the documented order, then claims sorted */
    ck_assert_str_eq(APR_ARRAY_IDX(ea, 0, cis2_kv_t).name, "CIS2_UID");
    ck_assert_str_eq(APR_ARRAY_IDX(ea, ea->nelts - 1, cis2_kv_t).name,
                     "CIS2_CLAIM_ZETA");
}
END_TEST

START_TEST(amr_and_auth_time_shapes)
{
    apr_array_header_t *env;

    env = render_ok(parse("{\"sub\":\"1\",\"amr\":\"N3_SMARTCARD\","
                          "\"auth_time\":1e300}"), NULL, NULL);
    ck_var(env, "CIS2_AMR", "N3_SMARTCARD");
    ck_novar(env, "CIS2_AUTH_TIME");
    env = render_ok(parse("{\"sub\":\"1\",\"amr\":[\"pwd\",\"otp\",5],"
                          "\"auth_time\":-5}"), NULL, NULL);
    ck_var(env, "CIS2_AMR", "pwd,otp,5");
    ck_novar(env, "CIS2_AUTH_TIME");
    env = render_ok(parse("{\"sub\":\"1\",\"amr\":[],"
                          "\"auth_time\":\"1750524990\"}"), NULL, NULL);
    ck_var(env, "CIS2_AMR", "");
    ck_novar(env, "CIS2_AUTH_TIME");
    env = render_ok(parse("{\"sub\":\"1\",\"auth_time\":1750524990.0}"),
                    NULL, NULL);
    ck_var(env, "CIS2_AUTH_TIME", "1750524990");
}
END_TEST

START_TEST(authz_view)
{
    apr_array_header_t *roles, *scalars;
    int sel, i, have_nonce = 0, have_sid = 0;
    const char *gmc = NULL;
    const cis2_role_t *r;
    json_t *none = cis2_claims_merge(g_pool, parse(id_token_json), NULL);

    cis2_claims_authz(&roles, &sel, &scalars, nurse(), g_pool);
    ck_assert_int_eq(roles->nelts, 1);
    ck_assert_int_eq(sel, 0);
    r = &APR_ARRAY_IDX(roles, 0, cis2_role_t);
    ck_assert_str_eq(r->id, "555254240100");
    ck_assert_str_eq(r->code, "S8000:G8000:R8001");
    ck_assert_str_eq(r->org, "RBA");
    ck_assert_int_eq(r->activities->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(r->activities, 1, const char *), "B0825");
    for (i = 0; i < scalars->nelts; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(scalars, i, cis2_kv_t);

        have_nonce |= strcmp(kv->name, "nonce") == 0;
        have_sid |= strcmp(kv->name, "sid") == 0;
        if (strcmp(kv->name, "gmc_id") == 0) {
            gmc = kv->value;
        }
    }
    ck_assert(!have_nonce && !have_sid);
    ck_assert_str_eq(gmc, "1234567");

    /* no roles at all (CIS2.md §7): empty, nothing selected */
    cis2_claims_authz(&roles, &sel, &scalars, none, g_pool);
    ck_assert_int_eq(roles->nelts, 0);
    ck_assert_int_eq(sel, -1);
}
END_TEST

START_TEST(uid_fallbacks)
{
    apr_array_header_t *env;

    env = render_ok(parse("{\"sub\":\"S\",\"nhsid_useruid\":\"N\"}"), NULL,
                    NULL);
    ck_var(env, "CIS2_UID", "N");
    env = render_ok(parse("{\"sub\":\"S\",\"uid\":\"U\","
                          "\"nhsid_useruid\":\"N\"}"), NULL, NULL);
    ck_var(env, "CIS2_UID", "U");
    env = render_ok(parse("{\"sub\":\"S\"}"), NULL, NULL);
    ck_var(env, "CIS2_UID", "S");
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("claims");
    TCase *tc;

    tc = tcase_create("render");
    cis2_test_fixture(tc);
    tcase_add_test(tc, nurse_one_role);
    tcase_add_test(tc, authz_view);
    tcase_add_test(tc, doctor_several_roles);
    tcase_add_test(tc, no_roles);
    tcase_add_test(tc, fifty_roles);
    tcase_add_test(tc, orgs_fallback_to_roles);
    tcase_add_test(tc, uid_fallbacks);
    tcase_add_test(tc, amr_and_auth_time_shapes);
    tcase_add_test(tc, stable_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("assurance");
    cis2_test_fixture(tc);
    tcase_add_test(tc, assurance_shapes);
    tcase_add_test(tc, assurance_rendered);
    tcase_add_test(tc, merge_precedence);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    cis2_test_fixture(tc);
    tcase_add_test(tc, control_chars_dropped);
    tcase_add_test(tc, json_variables_are_jansson_dumps);
    tcase_add_test(tc, oversized_values_dropped);
    tcase_add_test(tc, remote_user_claim);
    tcase_add_test(tc, claim_naming);
    suite_add_tcase(s, tc);
    return s;
}
