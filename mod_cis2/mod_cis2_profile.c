/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_profile — the CIS2-profile endpoints next to the callback,
 * answered in the quick handler (dispatch in mod_cis2_handler.c):
 *   <dir>/jwks          GET   the RP's public JWKS (private_key_jwt): the
 *                             jwks_uri to give CIS2's Connection Manager
 *   <dir>/change-role   GET   sign in again to pick another national RBAC
 *                             role (prompt=login + changedrole)
 * and the step-up sign-in started from check_authn when a <Location> needs
 * a higher AAL than the session has.
 */
#include <apr_strings.h>

#include "mod_cis2_config.h"

/* ---- JWKS (CIS2.md §9: current and previous key, for rollover) ------------ */

int cis2_profile_jwks(request_rec *r, cis2_srv_conf *sc)
{
    apr_size_t len = strlen(sc->jwks_json);

    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_discard_request_body(r);
    /* public data; short caching so a rollover is seen within minutes */
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=300");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(sc->jwks_json, (int)len, r);
    }
    return OK;
}
