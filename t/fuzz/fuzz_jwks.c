/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_jwks — a JWKS document as the OP's jwks_uri serves it:
 * cis2_jwks_parse, then key selection by a CIS2-style kid, by no kid, and
 * by a kid taken from the document itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    cis2_jwks_t *jwks;
    const cjose_jwk_t *key;

    if (cis2_jwks_parse(&jwks, (const char *)data, size, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(cis2_jwks_count(jwks) > 0);
        FUZZ_ASSERT(cis2_jwks_count(jwks) <= 64);
        (void)cis2_jwks_find(&key, jwks, "b/O6OvVv1+y+WgrH5Ui9WTioLt0=",
                             "RS256", &err, p);
        (void)cis2_jwks_find(&key, jwks, "1", "RS512", &err, p);
        if (cis2_jwks_find(&key, jwks, NULL, "RS256", &err, p)
            == APR_SUCCESS) {
            FUZZ_ASSERT(key != NULL);
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
