/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_payload — how big a real user's session is in the store (issue #4:
 * 100k sessions of a 5-role user in a 256 MB store). Realistic claims of
 * the simulator's users (t/unit/data/claims-*, written by make-claims.py
 * from t/cis2-sim/users.json) go through the real path: cis2_claims_merge,
 * cis2_login_session (render, authz view), cis2_session_encode; the record
 * must stay under a budget, decode to exactly what was rendered, and the
 * test prints the size of each part (see the test's .log):
 *     make t/unit/test_payload
 *     CIS2_TEST_DATA=t/unit/data t/unit/test_payload
 */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "sessview.h"
#include "cis2_claims.h"
#include "cis2_json.h"
#include "cis2_login.h"
#include "cis2_session.h"
#include "cis2_sesscache.h"

/* A store key (the session id: 32 random bytes, base64url). */
#define KEY_LEN 43

/* Budgets of key + encoded record, in bytes. 256 MB x 85 % for 100k
 * sessions leaves ~2230 bytes an entry, of which the shm store's entry
 * header and indexes take 40-100: 2000 for key + value keeps the 5-role
 * user inside with room. */
#define BUDGET_FIVEROLES 2000
#define BUDGET_DOCTOR    2000

static json_t *fixture_json(const char *name)
{
    apr_size_t len;
    const char *text = cis2_test_slurp(name, &len);
    const cis2_err_t *err = NULL;
    json_t *j = NULL;

    ck_assert_msg(cis2_json_parse_object(&j, text, len, 1024 * 1024, &err,
                                         g_pool) == APR_SUCCESS,
                  "%s: %s", name, err ? err->detail : "?");
    return j;
}

/* The session a sign-in of `user` makes (default scope + selectedrole). */
static cis2_session_t *user_session(const char *user, int keep_id_token)
{
    cis2_login_conf_t c;
    json_t *idt, *ui, *claims;
    cis2_session_t *s = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t len;
    char *jwt;

    idt = fixture_json(apr_psprintf(g_pool, "claims-%s-idtoken.json", user));
    ui = fixture_json(apr_psprintf(g_pool, "claims-%s-userinfo.json", user));
    jwt = (char *)cis2_test_slurp(apr_psprintf(g_pool, "claims-%s.jwt", user),
                                  &len);
    while (len > 0 && (jwt[len - 1] == '\n' || jwt[len - 1] == '\r')) {
        jwt[--len] = '\0';
    }
    memset(&c, 0, sizeof(c));
    c.client_id = "123456789012.apps.national";
    c.session_max = apr_time_from_sec(12 * 3600);
    c.claims.export_claims_json = 1;
    c.keep_id_token = keep_id_token;
    claims = cis2_claims_merge(g_pool, idt, ui);
    ck_assert_int_eq(cis2_login_session(&s, &c, idt, claims, jwt,
                                        apr_time_from_sec(1750525000), &err,
                                        g_pool), APR_SUCCESS);
    return s;
}

static apr_size_t encoded_len(const cis2_session_t *s)
{
    const char *buf;
    apr_size_t len;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_session_encode(&buf, &len, s, &err, g_pool)
                  == APR_SUCCESS, "encode: %s", err ? err->detail : "?");
    return len;
}

/* Print what each part of a user's session costs in the record. */
static apr_size_t report(const char *user, int keep_id_token)
{
    cis2_session_t *s = user_session(user, keep_id_token), t;
    apr_size_t total = encoded_len(s), raw = 0, part;
    int i;

    printf("%s (%d roles%s): key %d + record %" APR_SIZE_T_FMT " = %"
           APR_SIZE_T_FMT " bytes\n", user, s->roles->nelts,
           keep_id_token ? ", ID token kept" : "", KEY_LEN, total,
           total + KEY_LEN);
    t = *s;
    t.id_token = NULL;
    part = total - encoded_len(&t);
    printf("  id_token            %6" APR_SIZE_T_FMT " (text %"
           APR_SIZE_T_FMT ")\n", part, s->id_token ? strlen(s->id_token) : 0);
    t = *s;
    t.roles = NULL;
    t.claims = NULL;
    part = total - encoded_len(&t);
    printf("  authz roles+claims  %6" APR_SIZE_T_FMT
           " (%d roles, %d claims)\n", part, s->roles->nelts,
           s->claims->nelts);
    t = *s;
    t.env = NULL;
    part = total - encoded_len(&t);
    for (i = 0; i < s->env->nelts; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(s->env, i, cis2_kv_t);

        raw += strlen(kv->name) + strlen(kv->value);
    }
    printf("  env                 %6" APR_SIZE_T_FMT " (%d variables, %"
           APR_SIZE_T_FMT " bytes of names and values)\n", part,
           s->env->nelts, raw);
    for (i = 0; i < s->env->nelts; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(s->env, i, cis2_kv_t);

        if (strlen(kv->value) >= 200) {
            printf("    %-22s value %6" APR_SIZE_T_FMT "\n", kv->name,
                   strlen(kv->value));
        }
    }
    fflush(stdout);
    return total + KEY_LEN;
}

/* decode(encode(s)) is s: every variable, in order, byte for byte */
static void assert_round_trip(const cis2_session_t *s)
{
    const char *buf;
    apr_size_t len;
    const cis2_err_t *err = NULL;
    cis2_session_t *d;
    int i;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, s, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_msg(cis2_session_decode(&d, buf, len, &err, g_pool)
                  == APR_SUCCESS, "decode: %s", err ? err->detail : "?");
    /* a record the child's memo may keep decodes within its bound */
    if (len <= CIS2_SESSCACHE_MAX_RECORD) {
        ck_assert_uint_le(d->mem, CIS2_SESSCACHE_MAX_DECODED);
    }
    ck_assert_str_eq(d->remote_user, s->remote_user);
    ck_assert_str_eq(d->sub, s->sub);
    ck_assert_str_eq(d->client_id, s->client_id);
    ck_assert(d->created == s->created && d->expires == s->expires
              && d->auth_time == s->auth_time);
    ck_assert_int_eq(d->aal, s->aal);
    ck_assert_int_eq(d->ial, s->ial);
    if (s->id_token == NULL) {
        ck_assert_ptr_null(cis2_session_id_token(d, g_pool));
    }
    else {
        /* kept as its decoded parts, rebuilt byte for byte */
        ck_assert_ptr_null(d->id_token);
        ck_assert_str_eq(cis2_session_id_token(d, g_pool), s->id_token);
    }
    ck_assert_int_eq(d->env->nelts, s->env->nelts);
    for (i = 0; i < s->env->nelts; i++) {
        const cis2_kv_t *a = &APR_ARRAY_IDX(s->env, i, cis2_kv_t);
        const cis2_kv_t *b = &APR_ARRAY_IDX(d->env, i, cis2_kv_t);

        ck_assert_str_eq(b->name, a->name);
        ck_assert_str_eq(b->value, a->value);
    }
    cis2_test_assert_view_eq(s, d);
}

static const char *env_get(const cis2_session_t *s, const char *name)
{
    int i;

    for (i = 0; i < s->env->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(s->env, i, cis2_kv_t).name, name) == 0) {
            return APR_ARRAY_IDX(s->env, i, cis2_kv_t).value;
        }
    }
    return NULL;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(fiveroles_fits_the_budget)
{
    cis2_session_t *s = user_session("fiveroles", 0);
    apr_size_t n = report("fiveroles", 0);

    /* the fixture is what it claims to be */
    ck_assert_int_eq(s->roles->nelts, 5);
    ck_assert_int_eq(s->selected_role, 0);
    ck_assert_ptr_null(s->id_token);
    ck_assert_msg(n <= BUDGET_FIVEROLES, "fiveroles: key + record %"
                  APR_SIZE_T_FMT " bytes, over the %d-byte budget", n,
                  BUDGET_FIVEROLES);
    assert_round_trip(s);
    /* with CIS2RPInitiatedLogout the ID token is kept, as its decoded
     * parts: it fits too */
    n = report("fiveroles", 1);
    ck_assert_msg(n <= BUDGET_FIVEROLES, "fiveroles with its ID token: key + "
                  "record %" APR_SIZE_T_FMT " bytes, over the %d-byte budget",
                  n, BUDGET_FIVEROLES);
    assert_round_trip(user_session("fiveroles", 1));
}
END_TEST

START_TEST(doctor_fits_the_budget)
{
    cis2_session_t *s = user_session("doctor", 0);
    apr_size_t n = report("doctor", 0);

    ck_assert_int_eq(s->roles->nelts, 4);
    ck_assert_msg(n <= BUDGET_DOCTOR, "doctor: key + record %" APR_SIZE_T_FMT
                  " bytes, over the %d-byte budget", n, BUDGET_DOCTOR);
    assert_round_trip(s);
}
END_TEST

START_TEST(manyroles_round_trips)
{
    cis2_session_t *s = user_session("manyroles", 1);

    (void)report("manyroles", 1);
    ck_assert_int_eq(s->roles->nelts, 45);
    /* tens of KB of JSON, all of it exported */
    ck_assert_uint_gt(strlen(env_get(s, "CIS2_ROLES_JSON")), 30000);
    ck_assert_uint_gt(strlen(env_get(s, "CIS2_CLAIMS_JSON")), 30000);
    assert_round_trip(s);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("payload");
    TCase *tc = tcase_create("size");

    cis2_test_fixture(tc);
    tcase_add_test(tc, fiveroles_fits_the_budget);
    tcase_add_test(tc, doctor_fits_the_budget);
    tcase_add_test(tc, manyroles_round_trips);
    suite_add_tcase(s, tc);
    return s;
}
