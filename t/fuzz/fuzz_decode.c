/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_decode — the base64url and percent decoders every other parser
 * stands on, and the HTML escaper of the error pages. Oracles: base64url
 * round-trips byte for byte (decode then encode gives the input minus
 * padding), form-decoding never yields a NUL, escaped HTML holds none of
 * < > " ' and no bare '&'.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"
#include "cis2_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    unsigned char *bin;
    apr_size_t binlen, inlen = size;
    char *dec;
    const char *s = fuzz_cstr(p, data, size), *e;

    if (cis2_b64url_decode(&bin, &binlen, (const char *)data, size, &err, p)
        == APR_SUCCESS) {
        const char *again = cis2_b64url_encode(p, bin, binlen);

        while (inlen > 0 && data[inlen - 1] == '=') {
            inlen--;
        }
        FUZZ_ASSERT(strlen(again) == inlen);
        FUZZ_ASSERT(memcmp(again, data, inlen) == 0);
    }
    if (cis2_form_decode(&dec, (const char *)data, size, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(dec != NULL);
        FUZZ_ASSERT(memchr(dec, '\0', strlen(dec) + 1)
                    == dec + strlen(dec));
    }
    e = cis2_html_escape(p, s);
    FUZZ_ASSERT(strpbrk(e, "<>\"'") == NULL);
    (void)cis2_url_encode(p, s);
    apr_pool_destroy(p);
    return 0;
}
