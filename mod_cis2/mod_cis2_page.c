/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_page — the few pages mod_cis2 writes itself: sign-in errors and
 * the 401 answer to scripts. They reflect no request data (PEER.md §6,
 * CVE-2017-6059): every text is fixed by the caller, every interpolated
 * value is HTML-escaped anyway, and the reference id ties the page a user
 * reports to the one numbered log line the admin finds.
 */
#include <apr_strings.h>

#include "mod_cis2_private.h"
#include "cis2_util.h"

static void no_store(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
}

static int send_body(request_rec *r, int status, const char *type,
                     const char *body)
{
    apr_size_t len = strlen(body);

    /* a request body (POST to a protected page) is never read by anyone */
    ap_discard_request_body(r);
    r->status = status;
    no_store(r);
    ap_set_content_type(r, type);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int cis2_page_send(request_rec *r, int status, const char *title,
                   const char *message, const char *ref,
                   const char *link_url, const char *link_text)
{
    return send_body(r, status, "text/html; charset=utf-8",
                     cis2_page_html(r, title, message, ref, link_url,
                                    link_text));
}

const char *cis2_page_html(request_rec *r, const char *title,
                           const char *message, const char *ref,
                           const char *link_url, const char *link_text)
{
    apr_pool_t *p = r->pool;
    const char *body;

    apr_table_setn(r->err_headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'");
    apr_table_setn(r->err_headers_out, "X-Frame-Options", "DENY");
    no_store(r);
    body = apr_pstrcat(p,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        "<title>", cis2_html_escape(p, title), "</title>"
        "<style>body{font-family:Arial,sans-serif;max-width:40em;"
        "margin:3em auto;padding:0 1em;color:#212b32}"
        "h1{color:#005eb8;font-size:1.6em}.ref{color:#4c6272}"
        "a{color:#005eb8}</style></head><body>"
        "<h1>", cis2_html_escape(p, title), "</h1>"
        "<p>", cis2_html_escape(p, message), "</p>",
        link_url ? apr_pstrcat(p, "<p><a href=\"",
                               cis2_html_escape(p, link_url), "\">",
                               cis2_html_escape(p, link_text ? link_text
                                                : "Continue"),
                               "</a></p>", NULL) : "",
        ref ? apr_pstrcat(p, "<p class=\"ref\">If this keeps happening, "
                          "give your IT service desk this reference: <b>",
                          cis2_html_escape(p, ref), "</b></p>", NULL) : "",
        "</body></html>\n", NULL);
    return body;
}

int cis2_page_send_json(request_rec *r, int status, const char *json)
{
    return send_body(r, status, "application/json", json);
}
