/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_jws — compact JWS/JWT as an ID token arrives from the token endpoint:
 * cis2_jws_parse, then (when it parses) signature verification against a
 * fixed JWKS and the ID token claim checks. The alg allow-list and the
 * kid lookup run on fuzzed headers; the claim checks on fuzzed payloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_jwt.h"
#include "cis2_jwks.h"

/* t/unit/data/jwks.json's first key (kid in CIS2's base64 style) */
static const char jwks_json[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b/O6OvVv1+y+WgrH5Ui9WTioLt0=\","
    "\"use\":\"sig\",\"n\":\"ubfmg-N0dVdI-508V772mzUGcKNi2veCNCUO47ElXGmQjU"
    "m3VXpiqXRAIXW4eaIxRLO9p4tPGsAZZhIu7CPx49BCy-AzWR8E_EHpPRAiWoxNplh9kXZS"
    "eNdOjBNdyxaQ_fOkyALjf_MMNcUBhwq_w3BJnyHJ5rtNoH09RHyU4GGG796AUISdvPxGC2"
    "gv3jjo01n0NmYxWwe26v5B3yzXmi_QtVpAx-9NffiMd4ainKMPh-57g0Al7ohkW10QX5M7"
    "qTCIHuYpfkXNCKHRdn1LvmRlXDnjMICN23rb82yBni087oC9RjNEpKMLrrIEFAS7pnKJxH"
    "-fK-44rZ6XN19k4w\",\"e\":\"AQAB\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws;
    cis2_jwks_t *jwks;
    cis2_id_token_expect_t ex;

    if (cis2_jws_parse(&jws, (const char *)data, size, 0, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(jws->alg != NULL && jws->payload != NULL);
        FUZZ_ASSERT(json_is_object(jws->payload));
        if (cis2_jwks_parse(&jwks, jwks_json, sizeof(jwks_json) - 1, &err, p)
            != APR_SUCCESS) {
            abort();
        }
        /* the seeds' good tokens verify (signed with key1), mutations
         * must not, except through an allow-listed RSA algorithm; every
         * path to the key lookup and to cjose runs on hostile headers */
        if (cis2_jws_verify(jws, jwks, NULL, &err, p) == APR_SUCCESS) {
            FUZZ_ASSERT(strcmp(jws->alg, "RS256") == 0
                        || strcmp(jws->alg, "RS512") == 0);
        }
        memset(&ex, 0, sizeof(ex));
        ex.issuer = "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443"
                    "/openam/oauth2/realms/root/realms/NHSIdentity/realms/"
                    "Healthcare";
        ex.client_id = "fuzz-client";
        ex.nonce = "n-0S6_WzA2Mj";
        ex.now = apr_time_from_sec(1700000000);
        ex.skew = apr_time_from_sec(60);
        ex.max_iat_age = apr_time_from_sec(300);
        if (cis2_jwt_check_id_token(jws->payload, &ex, &err, p)
            == APR_SUCCESS) {
            const char *sub = json_string_value(json_object_get(jws->payload,
                                                                "sub"));

            FUZZ_ASSERT(sub != NULL && *sub != '\0');
        }
        else {
            FUZZ_ASSERT(err != NULL && err->detail != NULL);
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
