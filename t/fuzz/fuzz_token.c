/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_token — a token endpoint response (RFC 6749 §5.1/§5.2): the first
 * byte picks the HTTP status (200, 400, 401, 500, 302 or another), the
 * rest is the body. cis2_oidc_parse_token_response must accept only a 200
 * with the three members, and report OP errors as a bounded printable code.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_oidc.h"
#include "cis2_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = { 200, 400, 401, 500, 302, 200, 403, 503 };
    apr_pool_t *p;
    const cis2_err_t *err = NULL;
    cis2_token_response_t *tok;
    int status;

    if (size < 1) {
        return 0;
    }
    p = fuzz_pool();
    status = statuses[data[0] % 8];
    if (cis2_oidc_parse_token_response(&tok, status, (const char *)data + 1,
                                       size - 1, &err, p) == APR_SUCCESS) {
        FUZZ_ASSERT(status == 200);
        FUZZ_ASSERT(tok->access_token != NULL && tok->id_token != NULL);
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
        FUZZ_ASSERT(!cis2_has_ctl(err->detail, strlen(err->detail)));
    }
    apr_pool_destroy(p);
    return 0;
}
