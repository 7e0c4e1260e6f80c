/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_json — the bounded JSON object parser under every JSON document
 * from the OP (cis2_json_parse_object: depth, duplicate keys, NUL in
 * strings) and the typed getters the protocol code relies on: NumericDate
 * (exp:1e300, negative, fractional) and CIS2's "string or integer" levels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "cis2_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    json_t *j;
    apr_int64_t v;
    static const char *const names[] = { "exp", "iat", "nbf", "auth_time",
        "authentication_assurance_level", "id_assurance_level", "" };
    int i;

    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                             NULL);
    apr_status_t rv;

    rv = cis2_json_parse_object(&j, (const char *)data, size, 65536, &err, p);
    /* our parser against jansson's: the same verdict and the same values
     * in the same order (beyond our depth and size limits, and jansson's
     * skipping of a NUL after a number or literal, which we refuse) */
    if (ref != NULL && json_is_object(ref) && size <= 65536
        && memchr(data, '\0', size) == NULL
        && (rv == APR_SUCCESS || strstr(err->detail, "nested") == NULL)) {
        FUZZ_ASSERT(rv == APR_SUCCESS);
        FUZZ_ASSERT(json_equal(j, ref));
        FUZZ_ASSERT(strcmp(cis2_json_dump(p, j), cis2_json_dump(p, ref))
                    == 0);
    }
    if (ref == NULL || !json_is_object(ref)) {
        FUZZ_ASSERT(rv != APR_SUCCESS);
    }
    json_decref(ref);
    if (rv == APR_SUCCESS) {
        FUZZ_ASSERT(json_is_object(j));
        for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
            if (cis2_json_numeric_date(j, names[i], &v)) {
                FUZZ_ASSERT(v >= 0 && v < ((apr_int64_t)1 << 40));
            }
            (void)cis2_json_int(j, names[i], &v);
            (void)cis2_json_str(j, names[i]);
        }
        (void)cis2_json_dump(p, j);
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
