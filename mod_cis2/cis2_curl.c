/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_curl — the libcurl implementation of cis2_http.h, the only file in the
 * core that talks to libcurl. Callers (cis2_provider for discovery and JWKS,
 * cis2_login for the token and UserInfo calls) see only cis2_http.h. Every
 * call is bounded (connect and total timeouts, a body cap enforced while
 * the body arrives), never follows a redirect, speaks only http/https, and
 * verifies TLS peers and host names with TLS 1.2 as the floor (CIS2 "NHS
 * CIA Sec Req 003", CIS2.md §2).
 *
 * Handles are reused (issue #4): after cis2_http_reuse_init() a process
 * keeps idle easy handles, so a login's token and UserInfo calls find the
 * provider's connection (and DNS entry, TLS session) still open. A handle
 * is curl_easy_reset() before it goes back to the cache, so every call
 * starts from libcurl's defaults and sets every option again: nothing of
 * the previous call (URL, headers, bearer, Basic credentials, POST body,
 * pointers to its memory) survives; only the connection cache does, and
 * libcurl reuses a connection only for the same host, port and TLS
 * settings (CA file, verification). A handle whose call failed is closed,
 * not kept. Measured (issue #4): a call on a kept connection costs ~40 us
 * of CPU against ~150 us with a new one over http, ~270 us against
 * ~2.1 ms over https (no handshake, no CA file load). One caveat: a server
 * that writes a response's head and body as two small TCP segments with
 * Nagle on (Python's http.server) holds the body until our delayed ACK,
 * ~40 ms per call on a kept connection; production servers and load
 * balancers send both together.
 */
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_thread_mutex.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "cis2.h"
#include "cis2_http.h"
#include "cis2_util.h"

#define DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(5)
#define DEFAULT_TIMEOUT         apr_time_from_sec(10)
#define DEFAULT_USER_AGENT      "mod_cis2/0.1.0"
#define INITIAL_BODY_BUFFER     8192
/* Close a kept connection idle this long: below the 60 s idle timeout of
 * common load balancers, so a connection they dropped without a FIN is
 * not the one a login waits on. */
#define MAX_IDLE_CONN_SECS      50L

/* ---- process-wide init ------------------------------------------------- */

static int global_done;

apr_status_t cis2_http_global_init(void)
{
    /* Called once per process before any thread exists (child_init, test
     * main), so a plain flag is enough: curl_global_init is not
     * thread-safe on older libcurl versions. */
    if (global_done) {
        return APR_SUCCESS;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return APR_EGENERAL;
    }
    global_done = 1;
    return APR_SUCCESS;
}

/* ---- helpers ----------------------------------------------------------- */

/* The host[:port] of an http(s) URL, for error details: never the path,
 * query or userinfo, which may carry credentials. */
static const char *url_host(apr_pool_t *p, const char *url)
{
    const char *a = strstr(url, "://");
    const char *end, *at;
    apr_size_t n;

    if (a == NULL) {
        return "(no host)";
    }
    a += 3;
    n = strcspn(a, "/?#");
    end = a + n;
    /* strip userinfo: everything up to the last '@' of the authority */
    for (at = end; at > a; at--) {
        if (at[-1] == '@') {
            a = at;
            break;
        }
    }
    if (end == a) {
        return "(no host)";
    }
    return apr_pstrmemdup(p, a, (apr_size_t)(end - a));
}

static int is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0
           || strncasecmp(url, "https://", 8) == 0;
}

/* application/x-www-form-urlencoded as RFC 6749 Appendix B defines it (and
 * §2.3.1 requires before Basic): '*', '-', '.', '_' and alphanumerics stay,
 * space becomes '+', every other octet becomes %HH. */
static char *form_urlencode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = 0;
    const unsigned char *c;
    char *out, *o;

    for (c = (const unsigned char *)s; *c; c++) {
        n += (apr_isalnum(*c) || strchr("*-._ ", *c)) ? 1 : 3;
    }
    out = o = apr_palloc(p, n + 1);
    for (c = (const unsigned char *)s; *c; c++) {
        if (*c == ' ') {
            *o++ = '+';
        }
        else if (apr_isalnum(*c) || strchr("*-._", *c)) {
            *o++ = (char)*c;
        }
        else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

static long to_ms(apr_interval_time_t t, apr_interval_time_t dflt)
{
    apr_int64_t ms;

    if (t <= 0) {
        t = dflt;
    }
    ms = (t + 999) / 1000;
    if (ms > LONG_MAX) {
        ms = LONG_MAX;
    }
    return (long)(ms < 1 ? 1 : ms);
}

/* media type of a Content-Type value: lower-cased, parameters and
 * surrounding white space cut. */
static const char *media_type(apr_pool_t *p, const char *ct)
{
    apr_size_t n;
    char *s, *c;

    if (ct == NULL) {
        return "";
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
        n--;
    }
    s = apr_pstrmemdup(p, ct, n);
    for (c = s; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return s;
}

/* ---- the body sink ----------------------------------------------------- */

typedef struct body_ctx {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap, max;
    int too_large;
} body_ctx;

static size_t write_cb(char *data, size_t size, size_t nmemb, void *baton)
{
    body_ctx *b = baton;
    apr_size_t n = size * nmemb;

    /* Enforce the cap as bytes arrive; returning less than n makes curl
     * abort the transfer at once with CURLE_WRITE_ERROR. */
    if (n > b->max - b->len) {
        b->too_large = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap : INITIAL_BODY_BUFFER;
        char *nb;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        if (cap > b->max + 1) {
            cap = b->max + 1;
        }
        nb = apr_palloc(b->p, cap);
        if (b->len) {
            memcpy(nb, b->buf, b->len);
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return n;
}

/* ---- the handle cache --------------------------------------------------
 * A LIFO stack of idle easy handles under a thread mutex, per process.
 * The lock is held only to push or pop; transfers run unlocked, each on a
 * handle no other thread holds. The cache belongs to the process that made
 * it: a forked process (pid differs) ignores it and uses fresh handles, so
 * no connection is ever shared across processes. Cleared with its pool
 * (pchild), after httpd has joined the worker threads. */

typedef struct handle_cache {
#if APR_HAS_THREADS
    apr_thread_mutex_t *mu;
#endif
    CURL **idle;
    int nidle, max;
    pid_t pid;
    apr_uint64_t created, reused;
} handle_cache;

static handle_cache *cache;

static void cache_lock(handle_cache *c)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(c->mu);
#endif
}

static void cache_unlock(handle_cache *c)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(c->mu);
#endif
}

static handle_cache *my_cache(void)
{
    handle_cache *c = cache;

    return c != NULL && c->pid == getpid() ? c : NULL;
}

static apr_status_t cache_cleanup(void *data)
{
    handle_cache *c = data;
    int i;

    cache_lock(c);
    if (cache == c) {
        cache = NULL;
    }
    for (i = 0; i < c->nidle; i++) {
        curl_easy_cleanup(c->idle[i]);
    }
    c->nidle = 0;
    cache_unlock(c);
    return APR_SUCCESS;
}

apr_status_t cis2_http_reuse_init(apr_pool_t *p, int max_idle)
{
    handle_cache *c;

    if (max_idle < 1) {
        return APR_EINVAL;
    }
    c = apr_pcalloc(p, sizeof(*c));
#if APR_HAS_THREADS
    if (apr_thread_mutex_create(&c->mu, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return APR_EGENERAL;
    }
#endif
    c->idle = apr_pcalloc(p, sizeof(CURL *) * (apr_size_t)max_idle);
    c->max = max_idle;
    c->pid = getpid();
    /* registered after the mutex: runs before the mutex is destroyed */
    apr_pool_cleanup_register(p, c, cache_cleanup, apr_pool_cleanup_null);
    cache = c;
    return APR_SUCCESS;
}

void cis2_http_reuse_stats(cis2_http_reuse_stats_t *st)
{
    handle_cache *c = my_cache();

    memset(st, 0, sizeof(*st));
    if (c != NULL) {
        cache_lock(c);
        st->created = c->created;
        st->reused = c->reused;
        st->idle = c->nidle;
        cache_unlock(c);
    }
}

/* An easy handle with libcurl's default options: an idle one (reset when
 * it was put back) or a new one. */
static CURL *handle_get(void)
{
    handle_cache *c = my_cache();
    CURL *h = NULL;

    if (c != NULL) {
        cache_lock(c);
        if (c->nidle > 0) {
            h = c->idle[--c->nidle];
            c->reused++;
        }
        cache_unlock(c);
        if (h != NULL) {
            return h;
        }
    }
    h = curl_easy_init();
    if (h != NULL && c != NULL) {
        cache_lock(c);
        c->created++;
        cache_unlock(c);
    }
    return h;
}

typedef struct handle_hold {
    CURL *h;
    int keep;      /* the transfer completed: the handle may be reused */
} handle_hold;

/* Pool cleanup and explicit release: keep a handle whose transfer
 * completed (reset first, so it holds nothing of this call: no option,
 * header list, credentials or pointer into this call's memory), close
 * any other, or any when the cache is full or absent. */
static apr_status_t handle_release(void *data)
{
    handle_hold *hold = data;
    handle_cache *c = hold->keep ? my_cache() : NULL;
    CURL *h = hold->h;

    hold->h = NULL;
    if (h == NULL) {
        return APR_SUCCESS;
    }
    if (c != NULL) {
        curl_easy_reset(h);
        cache_lock(c);
        if (c->nidle < c->max) {
            c->idle[c->nidle++] = h;
            h = NULL;
        }
        cache_unlock(c);
    }
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
    return APR_SUCCESS;
}

/* ---- other curl objects -------------------------------------------------
 * Each is registered on the caller's pool as well as released explicitly
 * (apr_pool_cleanup_run) on every path out of perform(), so nothing of a
 * call survives it and nothing leaks if a path is missed. */

static apr_status_t slist_release(void *data)
{
    curl_slist_free_all((struct curl_slist *)data);
    return APR_SUCCESS;
}

typedef struct wipe_ctx {
    char *s;
} wipe_ctx;

static apr_status_t wipe_release(void *data)
{
    wipe_ctx *w = data;

    OPENSSL_cleanse(w->s, strlen(w->s));
    return APR_SUCCESS;
}

/* Append a header line; 0 on allocation failure. The list is owned by
 * *phead; a fresh list is registered on p by the caller. */
static int add_header(struct curl_slist **phead, const char *line)
{
    struct curl_slist *n = curl_slist_append(*phead, line);

    if (n == NULL) {
        return 0;
    }
    *phead = n;
    return 1;
}

/* A safe excerpt of curl's error buffer for the detail: curl messages name
 * hosts and ports; drop any message that could carry a query or userinfo. */
static const char *safe_errbuf(const char *errbuf)
{
    if (errbuf[0] == '\0' || strpbrk(errbuf, "?@") != NULL
        || cis2_has_ctl(errbuf, strlen(errbuf))) {
        return "";
    }
    return errbuf;
}

/* ---- the transfer ------------------------------------------------------ */

static apr_status_t perform(cis2_http_response_t **presp,
                            const cis2_http_opts_t *opts, const char *url,
                            const char *form_body, const char *bearer,
                            const char *basic_user, const char *basic_pass,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    static const cis2_http_opts_t no_opts;
    const char *method = form_body ? "POST" : "GET";
    const char *host;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    body_ctx body;
    cis2_http_response_t *resp;
    wipe_ctx wipe = { NULL };
    handle_hold hold = { NULL, 0 };
    CURL *h;
    CURLcode cc;
    long status = 0;
    char *ct = NULL;
    apr_status_t rv = APR_SUCCESS;

    if (opts == NULL) {
        opts = &no_opts;
    }
    if (url == NULL || !is_http_url(url)) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "%s refused: not an http or https URL", method);
    }
    host = url_host(p, url);
    if (cis2_has_ctl(url, strlen(url)) || strchr(url, ' ') != NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "%s to %s refused: control character or space "
                            "in the URL", method, host);
    }
    if (bearer != NULL && cis2_has_ctl(bearer, strlen(bearer))) {
        /* a CR/LF in a token would inject headers */
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "%s to %s refused: control character in the "
                            "bearer token", method, host);
    }

    memset(&body, 0, sizeof(body));
    body.p = p;
    body.max = opts->max_body ? opts->max_body : CIS2_MAX_HTTP_BODY;
    errbuf[0] = '\0';

    h = handle_get();
    if (h == NULL) {
        return cis2_err_set(perr, p, CIS2_E_HTTP,
                            "%s to %s: cannot create a curl handle", method,
                            host);
    }
    hold.h = h;
    apr_pool_cleanup_register(p, &hold, handle_release,
                              apr_pool_cleanup_null);

    /* Headers: Accept JSON, no "Expect: 100-continue" on POST (a round
     * trip the token endpoint does not need), and the bearer token. */
    if (!add_header(&headers, "Accept: application/json")
        || (form_body != NULL
            && (!add_header(&headers, "Content-Type: "
                            "application/x-www-form-urlencoded")
                || !add_header(&headers, "Expect:")))
        || (bearer != NULL
            && !add_header(&headers, apr_pstrcat(p, "Authorization: Bearer ",
                                                 bearer, NULL)))) {
        curl_slist_free_all(headers); /* NULL-safe; never registered */
        headers = NULL;
        rv = cis2_err_set(perr, p, CIS2_E_HTTP,
                          "%s to %s: out of memory for headers", method, host);
        goto done;
    }
    apr_pool_cleanup_register(p, headers, slist_release,
                              apr_pool_cleanup_null);

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    /* threaded MPMs: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    /* kept connections: probed by TCP keepalive, dropped when idle long */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x074100 /* 7.65.0 */
    curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, MAX_IDLE_CONN_SECS);
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     to_ms(opts->connect_timeout, DEFAULT_CONNECT_TIMEOUT));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     to_ms(opts->timeout, DEFAULT_TIMEOUT));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (opts->ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, opts->ca_file);
    }
    curl_easy_setopt(h, CURLOPT_USERAGENT,
                     opts->user_agent ? opts->user_agent : DEFAULT_USER_AGENT);
    /* No CURLOPT_ACCEPT_ENCODING: a compressed body would be inflated
     * past the cap before our write callback could count it. */
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)body.max);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (form_body != NULL) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form_body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(form_body));
    }
    if (basic_user != NULL) {
        /* RFC 6749 §2.3.1: form-urlencode id and secret, then Basic */
        char *u = form_urlencode(p, basic_user);

        wipe.s = form_urlencode(p, basic_pass ? basic_pass : "");
        apr_pool_cleanup_register(p, &wipe, wipe_release,
                                  apr_pool_cleanup_null);
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, u);
        curl_easy_setopt(h, CURLOPT_PASSWORD, wipe.s);
    }

    cc = curl_easy_perform(h);
    /* a completed exchange leaves the connection in a known state */
    hold.keep = cc == CURLE_OK;
    if (cc != CURLE_OK) {
        if (body.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
            rv = cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                              "%s to %s: response body over %" APR_SIZE_T_FMT
                              " bytes", method, host, body.max);
        }
        else if (cc == CURLE_OPERATION_TIMEDOUT) {
            rv = cis2_err_set(perr, p, CIS2_E_TIMEOUT, "%s to %s: %s%s%s",
                              method, host, curl_easy_strerror(cc),
                              *safe_errbuf(errbuf) ? ": " : "",
                              safe_errbuf(errbuf));
        }
        else if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
            rv = cis2_err_set(perr, p, CIS2_E_INVALID,
                              "%s to %s refused: %s", method, host,
                              curl_easy_strerror(cc));
        }
        else {
            rv = cis2_err_set(perr, p, CIS2_E_HTTP, "%s to %s: %s%s%s",
                              method, host, curl_easy_strerror(cc),
                              *safe_errbuf(errbuf) ? ": " : "",
                              safe_errbuf(errbuf));
        }
        goto done;
    }

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300 && status < 400) {
        /* Never followed: an OP endpoint that redirects is misconfigured
         * or hostile (the Location is not echoed: it may carry a query). */
        rv = cis2_err_set(perr, p, CIS2_E_REDIRECTED,
                          "%s to %s: redirect (HTTP %ld) refused", method,
                          host, status);
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);

    resp = apr_pcalloc(p, sizeof(*resp));
    resp->status = (int)status;
    resp->content_type = media_type(p, ct);
    if (body.buf == NULL) {
        body.buf = apr_pcalloc(p, 1);
    }
    body.buf[body.len] = '\0';
    resp->body = body.buf;
    resp->body_len = body.len;
    *presp = resp;

done:
    if (wipe.s != NULL) {
        apr_pool_cleanup_run(p, &wipe, wipe_release);
    }
    /* the easy handle first (reset or closed): it may still reference
     * the header list and the credentials */
    apr_pool_cleanup_run(p, &hold, handle_release);
    if (headers != NULL) {
        apr_pool_cleanup_run(p, headers, slist_release);
    }
    return rv;
}

/* ---- public calls ------------------------------------------------------ */

apr_status_t cis2_http_get(cis2_http_response_t **presp,
                           const cis2_http_opts_t *opts, const char *url,
                           const char *bearer,
                           const cis2_err_t **perr, apr_pool_t *p)
{
    return perform(presp, opts, url, NULL, bearer, NULL, NULL, perr, p);
}

apr_status_t cis2_http_post_form(cis2_http_response_t **presp,
                                 const cis2_http_opts_t *opts,
                                 const char *url, const char *form_body,
                                 const char *basic_user,
                                 const char *basic_pass,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    return perform(presp, opts, url, form_body ? form_body : "", NULL,
                   basic_user, basic_pass, perr, p);
}
