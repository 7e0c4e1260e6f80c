/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_discovery — an OpenID Provider metadata document (OIDC Discovery
 * §3): cis2_discovery_parse with and without an expected issuer. Whatever
 * it accepts must have the required endpoints and no control character.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include "fuzz.h"
#include "cis2_discovery.h"
#include "cis2_util.h"

static void check_url(const char *u, int required)
{
    if (u == NULL) {
        FUZZ_ASSERT(!required);
        return;
    }
    FUZZ_ASSERT(!cis2_has_ctl(u, strlen(u)));
    /* the scheme is case-insensitive (RFC 3986 §3.1) */
    FUZZ_ASSERT(strncasecmp(u, "http://", 7) == 0
                || strncasecmp(u, "https://", 8) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    cis2_provider_meta_t *m;
    const char *iss = "https://op.example:443/r";

    if (cis2_discovery_parse(&m, (const char *)data, size, NULL, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(m->issuer != NULL && *m->issuer != '\0');
        check_url(m->authorization_endpoint, 1);
        check_url(m->token_endpoint, 1);
        check_url(m->jwks_uri, 1);
        check_url(m->userinfo_endpoint, 0);
        check_url(m->end_session_endpoint, 0);
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    if (cis2_discovery_parse(&m, (const char *)data, size, iss, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(strcmp(m->issuer, iss) == 0);
    }
    apr_pool_destroy(p);
    return 0;
}
