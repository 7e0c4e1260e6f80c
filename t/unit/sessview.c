/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * sessview — see sessview.h.
 */
#include <check.h>

#include "sessview.h"

static void str_eq(const char *want, const char *got)
{
    if (want == NULL || got == NULL) {
        ck_assert_ptr_eq(got, want);
    }
    else {
        ck_assert_str_eq(got, want);
    }
}

void cis2_test_assert_view_eq(const cis2_session_t *want,
                              const cis2_session_t *got)
{
    int i, j;

    ck_assert_int_eq(got->selected_role, want->selected_role);
    ck_assert_int_eq(got->roles->nelts, want->roles->nelts);
    for (i = 0; i < want->roles->nelts; i++) {
        const cis2_role_t *a = &APR_ARRAY_IDX(want->roles, i, cis2_role_t);
        const cis2_role_t *b = &APR_ARRAY_IDX(got->roles, i, cis2_role_t);
        int na = a->activities ? a->activities->nelts : 0;

        str_eq(a->id, b->id);
        str_eq(a->code, b->code);
        str_eq(a->org, b->org);
        ck_assert_int_eq(b->activities ? b->activities->nelts : 0, na);
        for (j = 0; j < na; j++) {
            str_eq(APR_ARRAY_IDX(a->activities, j, const char *),
                   APR_ARRAY_IDX(b->activities, j, const char *));
        }
    }
    ck_assert_int_eq(got->claims->nelts, want->claims->nelts);
    for (i = 0; i < want->claims->nelts; i++) {
        str_eq(APR_ARRAY_IDX(want->claims, i, cis2_kv_t).name,
               APR_ARRAY_IDX(got->claims, i, cis2_kv_t).name);
        str_eq(APR_ARRAY_IDX(want->claims, i, cis2_kv_t).value,
               APR_ARRAY_IDX(got->claims, i, cis2_kv_t).value);
    }
}
