/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_cookie — the Cookie request header (RFC 6265 §5.4), the bug class of
 * CVE-2023-28625 and CVE-2026-54789 in the incumbent: cis2_cookie_get for
 * the session and login-binding cookie names (with and without __Host-)
 * and the bounds the glue uses. A value found is within bounds and made
 * of cookie-octets only.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_cookie.h"

static void get(const char *hdr, const char *name, apr_size_t max,
                apr_pool_t *p)
{
    const cis2_err_t *err = NULL;
    const char *v;
    const unsigned char *c;

    if (cis2_cookie_get(&v, hdr, name, max, &err, p) == APR_SUCCESS) {
        if (v != NULL) {
            FUZZ_ASSERT(strlen(v) <= max);
            for (c = (const unsigned char *)v; *c; c++) {
                /* RFC 6265 cookie-octet */
                FUZZ_ASSERT(*c == 0x21 || (*c >= 0x23 && *c <= 0x2b)
                            || (*c >= 0x2d && *c <= 0x3a)
                            || (*c >= 0x3c && *c <= 0x5b)
                            || (*c >= 0x5d && *c <= 0x7e));
            }
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *hdr = fuzz_cstr(p, data, size);

    get(hdr, "cis2_session", 128, p);
    get(hdr, "__Host-cis2_session", 128, p);
    get(hdr, "cis2_login", 64, p);
    get(hdr, "__Host-cis2_login", 64, p);
    apr_pool_destroy(p);
    return 0;
}
