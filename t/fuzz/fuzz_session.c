/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_session — a session or pending-login record as read back from the
 * store (shm, or Redis, where another host or an attacker with access to
 * the Redis may have written it): cis2_session_decode and
 * cis2_pending_decode must refuse anything malformed without reading past
 * the buffer; what decodes must re-encode. The request path's lazy decode
 * (cis2_session_decode_lazy + cis2_session_finish) must accept exactly
 * what the whole decode accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    cis2_session_t *s;
    cis2_pending_t *pl;
    const char *buf;
    apr_size_t len;

    if (cis2_session_decode(&s, (const char *)data, size, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(cis2_session_encode(&buf, &len, s, &err, p)
                    == APR_SUCCESS);
    }
    /* the request path's lazy decode: the head alone may pass, but the
     * record as a whole passes exactly when the eager decode does */
    if (cis2_session_decode_lazy(&s, (const char *)data, size, &err, p)
        == APR_SUCCESS) {
        apr_status_t whole = cis2_session_finish(s, &err);
        cis2_session_t *eager;

        FUZZ_ASSERT((whole == APR_SUCCESS)
                    == (cis2_session_decode(&eager, (const char *)data, size,
                                            &err, p) == APR_SUCCESS));
        if (whole == APR_SUCCESS) {
            FUZZ_ASSERT(cis2_session_encode(&buf, &len, s, &err, p)
                        == APR_SUCCESS);
        }
    }
    if (cis2_pending_decode(&pl, (const char *)data, size, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(cis2_pending_encode(&buf, &len, pl, &err, p)
                    == APR_SUCCESS);
    }
    apr_pool_destroy(p);
    return 0;
}
