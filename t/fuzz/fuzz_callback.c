/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_callback — the query string of the redirect-URI callback (RFC 6749
 * §4.1.2): cis2_oidc_parse_callback. Accepted results carry a state and a
 * code or a short printable error code.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_oidc.h"
#include "cis2_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    cis2_callback_t *cb;

    if (cis2_oidc_parse_callback(&cb, fuzz_cstr(p, data, size), &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(cb->state != NULL);
        FUZZ_ASSERT(cb->code != NULL || cb->error != NULL);
        if (cb->error != NULL) {
            FUZZ_ASSERT(!cis2_has_ctl(cb->error, strlen(cb->error)));
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
