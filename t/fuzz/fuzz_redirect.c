/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz_redirect — the one redirect validator (cis2_url_check_redirect), the
 * bug class of five open-redirect CVEs in the incumbent, and the absolute
 * URL parser. The oracle: anything accepted is either a local path that
 * no browser reads as another host ("/" not followed by '/' or '\\') or an
 * absolute URL on our origin or the allow-listed one, and holds no
 * control character or space, nor a backslash before its query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include "fuzz.h"
#include "cis2_url.h"
#include "cis2_util.h"

#define SELF "https://rp.example"
#define ALLOWED "https://portal.example:8443"

/* An independent reading of an absolute target's origin: "https://",
 * then a host up to ':', '/', '?' or '#' (case-insensitive) and an
 * optional all-digit port whose value equals `port`. */
static int on_origin(const char *s, const char *host, long port)
{
    size_t hl = strlen(host);
    const char *c;
    long v = 0;

    if (strncasecmp(s, "https://", 8) != 0) {
        return 0;
    }
    s += 8;
    if (strncasecmp(s, host, hl) != 0) {
        return 0;
    }
    s += hl;
    if (*s == ':') {
        for (c = s + 1; *c >= '0' && *c <= '9'; c++) {
            if (v < 100000) {
                v = v * 10 + (*c - '0');
            }
        }
        if (c == s + 1 || v != port) {
            return 0;
        }
        s = c;
    }
    else if (port != 443) {
        return 0;
    }
    return *s == '\0' || *s == '/' || *s == '?' || *s == '#';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const cis2_err_t *err = NULL;
    const char *in = fuzz_cstr(p, data, size), *out;
    apr_array_header_t *allowed = apr_array_make(p, 1, sizeof(const char *));
    cis2_url_t *u;

    APR_ARRAY_PUSH(allowed, const char *) = ALLOWED;
    if (cis2_url_check_redirect(&out, in, SELF, allowed, &err, p)
        == APR_SUCCESS) {
        FUZZ_ASSERT(out != NULL);
        FUZZ_ASSERT(!cis2_has_ctl(out, strlen(out)));
        FUZZ_ASSERT(strchr(out, ' ') == NULL);
        /* a '\\' is read as '/' by browsers: none before the query */
        FUZZ_ASSERT(memchr(out, '\\', strcspn(out, "?#")) == NULL);
        if (out[0] == '/') {
            FUZZ_ASSERT(out[1] != '/' && out[1] != '\\');
        }
        else {
            FUZZ_ASSERT(on_origin(out, "rp.example", 443)
                        || on_origin(out, "portal.example", 8443));
        }
    }
    else {
        FUZZ_ASSERT(err != NULL && err->detail != NULL);
    }
    if (cis2_url_parse_absolute(&u, in, &err, p) == APR_SUCCESS) {
        FUZZ_ASSERT(u->host != NULL && u->path != NULL && u->path[0] == '/');
        FUZZ_ASSERT(strcmp(u->scheme, "http") == 0
                    || strcmp(u->scheme, "https") == 0);
        FUZZ_ASSERT(u->port > 0 && u->port < 65536);
    }
    apr_pool_destroy(p);
    return 0;
}
