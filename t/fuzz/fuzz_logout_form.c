/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_logout_form — the body of a back-channel logout POST
 * (application/x-www-form-urlencoded, OIDC Back-Channel Logout §2.5):
 * cis2_form_parse with the form limits, the single logout_token (a
 * duplicate is refused), that token through cis2_jws_parse, and its
 * payload through the logout-token claim checks (BCL §2.6): whatever they
 * accept names a sub or a sid without control characters.
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
            if (cis2_jws_parse(&jws, tok, strlen(tok), 0, &err, p)
                == APR_SUCCESS) {
                cis2_logout_expect_t ex;
                cis2_logout_claims_t *lc;

                memset(&ex, 0, sizeof(ex));
                ex.issuer = "https://am.nhsint.auth-ptl.cis2.spineservices."
                            "nhs.uk:443/openam/oauth2/realms/root/realms/"
                            "NHSIdentity/realms/Healthcare";
                ex.client_id = "fuzz-client";
                ex.now = apr_time_from_sec(1700000000);
                ex.skew = apr_time_from_sec(60);
                ex.max_age = apr_time_from_sec(300);
                if (cis2_jwt_check_logout_token(&lc, jws->payload, &ex, &err,
                                                p) == APR_SUCCESS) {
                    FUZZ_ASSERT(lc->sub != NULL || lc->sid != NULL);
                    FUZZ_ASSERT(lc->sub == NULL
                                || !cis2_has_ctl(lc->sub, strlen(lc->sub)));
                    FUZZ_ASSERT(lc->sid == NULL
                                || !cis2_has_ctl(lc->sid, strlen(lc->sid)));
                }
            }
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
