/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_logout_form — the body of a back-channel logout POST
 * (application/x-www-form-urlencoded, OIDC Back-Channel Logout §2.5):
 * cis2_form_parse with the form limits, the single logout_token (a
 * duplicate is refused), and that token through cis2_jws_parse.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_util.h"
#include "cis2_jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    apr_table_t *t;
    const char *tok;
    cis2_jws_t *jws;

    if (cis2_form_parse(&t, fuzz_cstr(p, data, size), CIS2_MAX_FORM,
                        CIS2_MAX_FORM_FIELDS, &err, p) == APR_SUCCESS) {
        FUZZ_ASSERT(apr_table_elts(t)->nelts <= CIS2_MAX_FORM_FIELDS);
        if (cis2_form_get_unique(&tok, t, "logout_token", &err, p)
            == APR_SUCCESS && tok != NULL) {
            (void)cis2_jws_parse(&jws, tok, strlen(tok), 0, &err, p);
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
