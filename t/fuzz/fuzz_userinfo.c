/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_userinfo — a UserInfo response, JSON (OIDC Core §5.3.2) or signed
 * (application/jwt, whose payload is decoded by cis2_jws_parse), and what
 * becomes of its claims: merged with an ID token and rendered into the
 * variables the application sees. The invariant that matters: no rendered
 * name or value ever holds a control character (CR, LF, NUL...), so none
 * can reach an environment variable or a header.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_oidc.h"
#include "cis2_jwt.h"
#include "cis2_json.h"
#include "cis2_claims.h"
#include "cis2_util.h"

static void render(const json_t *ui, apr_pool_t *p)
{
    const cis2_err_t *err = NULL;
    json_t *id = json_pack("{s:s, s:s, s:s, s:i, s:s}", "sub", "555012345678",
                           "iss", "https://op.example:443/r", "aud",
                           "fuzz-client", "auth_time", 1700000000, "acr",
                           "AAL3_ANY");
    apr_array_header_t *env;
    const char *ru;
    json_t *claims;
    int i;

    cis2_json_own(p, id);    /* the pool now holds the reference */
    claims = cis2_claims_merge(p, id, ui);
    if (cis2_claims_render(&env, &ru, claims, NULL, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(ru != NULL && !cis2_has_ctl(ru, strlen(ru)));
        for (i = 0; i < env->nelts; i++) {
            const cis2_kv_t *kv = &APR_ARRAY_IDX(env, i, cis2_kv_t);
            const char *c;

            FUZZ_ASSERT(kv->name != NULL && kv->value != NULL);
            FUZZ_ASSERT(!cis2_has_ctl(kv->value, strlen(kv->value)));
            FUZZ_ASSERT(strlen(kv->value) <= CIS2_MAX_CLAIM_VALUE);
            for (c = kv->name; *c; c++) {
                FUZZ_ASSERT((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                            || *c == '_');
            }
        }
    }
    /* and the claims alone, as if UserInfo were the only source */
    if (cis2_claims_render(&env, &ru, ui, NULL, &err, p) == APR_SUCCESS) {
        FUZZ_ASSERT(!cis2_has_ctl(ru, strlen(ru)));
        for (i = 0; i < env->nelts; i++) {
            const cis2_kv_t *kv = &APR_ARRAY_IDX(env, i, cis2_kv_t);

            FUZZ_ASSERT(!cis2_has_ctl(kv->value, strlen(kv->value)));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    json_t *ui;
    cis2_jws_t *jws;

    if (cis2_oidc_check_userinfo(&ui, 200, (const char *)data, size,
                                 "555012345678", &err, p) == APR_SUCCESS) {
        FUZZ_ASSERT(json_is_object(ui));
        render(ui, p);
    }
    if (cis2_jws_parse(&jws, (const char *)data, size, 0, &err, p)
        == APR_SUCCESS) {
        render(jws->payload, p);
    }
    apr_pool_destroy(p);
    return 0;
}
