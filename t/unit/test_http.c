/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_http — cis2_curl.c (the cis2_http.h contract) against the loopback
 * server: what we send (method, headers, Basic credentials per RFC 6749
 * §2.3.1, bearer, form body), what we accept (any status, content type cut
 * to the media type), and every bound (connect refused, total timeout,
 * body cap with and without Content-Length, redirects, schemes). The
 * "ok" and "fail" cases run with handle reuse on (as httpd children do);
 * "reuse" proves connections are reused and that no option, header,
 * credential or limit of one call leaks into the next on a reused handle.
 */
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>
#include <apr_strings.h>
#include <apr_base64.h>
#include <apr_time.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <apr_network_io.h>

#include "testmain.h"
#include "loopsrv.h"
#include "cis2_http.h"

static loopsrv_t *start(void)
{
    loopsrv_t *srv = loopsrv_start(g_pool);

    ck_assert_ptr_nonnull(srv);
    return srv;
}

/* checked fixture, after the pool's: reuse handles as httpd children do */
static void reuse_setup(void)
{
    ck_assert_int_eq(cis2_http_reuse_init(g_pool, 4), APR_SUCCESS);
}

static void reuse_fixture(TCase *tc)
{
    cis2_test_fixture(tc);
    tcase_add_checked_fixture(tc, reuse_setup, NULL);
}

static cis2_http_reuse_stats_t reuse_stats(void)
{
    cis2_http_reuse_stats_t st;

    cis2_http_reuse_stats(&st);
    return st;
}

static const char *basic_decoded(const loopsrv_req_t *req)
{
    const char *h = apr_table_get(req->headers, "Authorization");
    char *out;
    int n;

    ck_assert_ptr_nonnull(h);
    ck_assert_msg(strncmp(h, "Basic ", 6) == 0, "not Basic: %s", h);
    out = apr_palloc(g_pool, apr_base64_decode_len(h + 6) + 1);
    n = apr_base64_decode(out, h + 6);
    out[n] = '\0';
    return out;
}

/* ---- success paths ----------------------------------------------------- */

START_TEST(get_ok_and_what_we_send)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 200,
                          .content_type = "Application/JSON ; charset=UTF-8",
                          .body = "{\"ok\":true}" };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    const loopsrv_req_t *req;

    loopsrv_set(srv, "/doc", &r);
    ck_assert_int_eq(cis2_http_get(&resp, NULL, loopsrv_url(srv, "/doc"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_str_eq(resp->content_type, "application/json");
    ck_assert_str_eq(resp->body, "{\"ok\":true}");
    ck_assert_uint_eq(resp->body_len, 11);

    req = loopsrv_last(srv, g_pool);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(req->method, "GET");
    ck_assert_str_eq(req->path, "/doc");
    ck_assert_str_eq(apr_table_get(req->headers, "User-Agent"),
                     "mod_cis2/0.1.0");
    ck_assert_str_eq(apr_table_get(req->headers, "Accept"),
                     "application/json");
    ck_assert_ptr_null(apr_table_get(req->headers, "Authorization"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Accept-Encoding"));
}
END_TEST

START_TEST(get_custom_user_agent_and_no_content_type)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 200, .body = "plain" };
    cis2_http_opts_t o = { .user_agent = "test-agent/1" };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set(srv, "/x", &r);
    ck_assert_int_eq(cis2_http_get(&resp, &o, loopsrv_url(srv, "/x"), NULL,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(resp->content_type, "");
    ck_assert_str_eq(apr_table_get(loopsrv_last(srv, g_pool)->headers,
                                   "User-Agent"), "test-agent/1");
}
END_TEST

START_TEST(get_empty_body_is_empty_string)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 204 };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set(srv, "/e", &r);
    ck_assert_int_eq(cis2_http_get(&resp, NULL, loopsrv_url(srv, "/e"), NULL,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 204);
    ck_assert_ptr_nonnull(resp->body);
    ck_assert_str_eq(resp->body, "");
    ck_assert_uint_eq(resp->body_len, 0);
}
END_TEST

START_TEST(get_sends_bearer)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set_json(srv, "/userinfo", 200, "{\"sub\":\"1\"}");
    ck_assert_int_eq(cis2_http_get(&resp, NULL,
                                   loopsrv_url(srv, "/userinfo"),
                                   "at-123.xyz_~", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(apr_table_get(loopsrv_last(srv, g_pool)->headers,
                                   "Authorization"), "Bearer at-123.xyz_~");
}
END_TEST

START_TEST(bearer_with_crlf_is_refused)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set_json(srv, "/userinfo", 200, "{}");
    ck_assert_int_ne(cis2_http_get(&resp, NULL,
                                   loopsrv_url(srv, "/userinfo"),
                                   "tok\r\nX-Evil: 1", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_eq(loopsrv_hits(srv, NULL), 0);
}
END_TEST

START_TEST(post_form_ok)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    const loopsrv_req_t *req;
    /* over 1024 bytes: curl would add "Expect: 100-continue" by default */
    const char *body = apr_pstrcat(g_pool, "grant_type=authorization_code"
                                   "&code=abc&client_assertion=",
                                   apr_psprintf(g_pool, "%02000d", 7), NULL);

    loopsrv_set_json(srv, "/access_token", 200, "{\"access_token\":\"a\"}");
    ck_assert_int_eq(cis2_http_post_form(&resp, NULL,
                                         loopsrv_url(srv, "/access_token"),
                                         body, NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    req = loopsrv_last(srv, g_pool);
    ck_assert_str_eq(req->method, "POST");
    ck_assert_str_eq(apr_table_get(req->headers, "Content-Type"),
                     "application/x-www-form-urlencoded");
    ck_assert_ptr_null(apr_table_get(req->headers, "Expect"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Authorization"));
    ck_assert_str_eq(req->body, body);
}
END_TEST

START_TEST(post_basic_credentials_are_form_urlencoded)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set_json(srv, "/t", 200, "{}");
    /* RFC 6749 §2.3.1 + Appendix B: encode, then "id:secret" in Basic */
    ck_assert_int_eq(cis2_http_post_form(&resp, NULL, loopsrv_url(srv, "/t"),
                                         "a=b", "my client:1",
                                         "p@ss w/rd+%\xc3\xa9~", &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_str_eq(basic_decoded(loopsrv_last(srv, g_pool)),
                     "my+client%3A1:p%40ss+w%2Frd%2B%25%C3%A9%7E");
}
END_TEST

START_TEST(post_basic_plain_credentials)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set_json(srv, "/t", 200, "{}");
    ck_assert_int_eq(cis2_http_post_form(&resp, NULL, loopsrv_url(srv, "/t"),
                                         "a=b", "999999999999.apps.national",
                                         "s3cr3t", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(basic_decoded(loopsrv_last(srv, g_pool)),
                     "999999999999.apps.national:s3cr3t");
}
END_TEST

START_TEST(status_500_is_passed_to_the_caller)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 500, .content_type = "text/plain",
                          .body = "oops" };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set(srv, "/t", &r);
    ck_assert_int_eq(cis2_http_post_form(&resp, NULL, loopsrv_url(srv, "/t"),
                                         "x=1", NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 500);
    ck_assert_str_eq(resp->content_type, "text/plain");
    ck_assert_str_eq(resp->body, "oops");
}
END_TEST

START_TEST(status_404_is_passed_to_the_caller)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_http_get(&resp, NULL, loopsrv_url(srv, "/nope"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 404);
}
END_TEST

/* ---- TLS: a real handshake against `openssl s_server` ------------------
 * The openssl CLI makes a throw-away self-signed certificate (with the
 * given subjectAltName) and serves "-www" status pages on an ephemeral
 * loopback port. Without the CLI the TLS tests pass vacuously. */

typedef struct tls_srv_t {
    const char *cert;      /* PEM certificate: also usable as the CA file */
    int port;
} tls_srv_t;

static apr_status_t run_wait(apr_pool_t *p, const char *const *argv)
{
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    int code;

    apr_procattr_create(&attr, p);
    apr_procattr_cmdtype_set(attr, APR_PROGRAM_PATH);
    apr_procattr_io_set(attr, APR_NO_PIPE, APR_NO_FILE, APR_NO_FILE);
    if (apr_proc_create(&proc, argv[0], argv, NULL, attr, p) != APR_SUCCESS
        || apr_proc_wait(&proc, &code, &why, APR_WAIT) != APR_CHILD_DONE
        || why != APR_PROC_EXIT || code != 0) {
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static int tls_server_opts(tls_srv_t *t, const char *san,
                           const char *opt1, const char *opt2,
                           const char *opt3);

static int tls_server(tls_srv_t *t, const char *san)
{
    return tls_server_opts(t, san, NULL, NULL, NULL);
}

/* opt1..opt3: extra s_server options (NULL-terminated early) */
static int tls_server_opts(tls_srv_t *t, const char *san,
                           const char *opt1, const char *opt2,
                           const char *opt3)
{
    const char *tmp, *dir, *key;
    apr_procattr_t *attr;
    apr_proc_t *proc = apr_pcalloc(g_pool, sizeof(*proc));
    int i;

    ck_assert_int_eq(apr_temp_dir_get(&tmp, g_pool), APR_SUCCESS);
    dir = apr_psprintf(g_pool, "%s/cis2-tls-%" APR_PID_T_FMT "-%"
                       APR_TIME_T_FMT, tmp, getpid(), apr_time_now());
    ck_assert_int_eq(apr_dir_make(dir, APR_FPROT_OS_DEFAULT, g_pool),
                     APR_SUCCESS);
    t->cert = apr_pstrcat(g_pool, dir, "/cert.pem", NULL);
    key = apr_pstrcat(g_pool, dir, "/key.pem", NULL);
    {
        const char *const req[] = {
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-subj", "/CN=cis2-test", "-addext",
            apr_pstrcat(g_pool, "subjectAltName=", san, NULL),
            "-days", "1", "-keyout", key, "-out", t->cert, NULL
        };

        if (run_wait(g_pool, req) != APR_SUCCESS) {
            apr_dir_remove(dir, g_pool);
            return 0;    /* no openssl CLI */
        }
    }
    /* s_server's stdout is block-buffered on a pipe, so its "ACCEPT"
     * line cannot tell us the port: pick one, then wait until it listens */
    t->port = loopsrv_unused_port();
    ck_assert_int_ne(t->port, 0);
    {
        const char *const srv[] = {
            "openssl", "s_server", "-accept",
            apr_psprintf(g_pool, "127.0.0.1:%d", t->port), "-cert", t->cert,
            "-key", key, "-www", "-quiet", opt1, opt2, opt3, NULL
        };

        apr_procattr_create(&attr, g_pool);
        apr_procattr_cmdtype_set(attr, APR_PROGRAM_PATH);
        apr_procattr_io_set(attr, APR_NO_PIPE, APR_NO_FILE, APR_NO_FILE);
        ck_assert_int_eq(apr_proc_create(proc, "openssl", srv, NULL, attr,
                                         g_pool), APR_SUCCESS);
        apr_pool_note_subprocess(g_pool, proc, APR_KILL_ALWAYS);
    }
    for (i = 0; i < 100; i++) {
        apr_sockaddr_t *sa;
        apr_socket_t *sock;
        apr_status_t rv;

        apr_sleep(apr_time_from_msec(50));
        apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, (apr_port_t)t->port,
                              0, g_pool);
        apr_socket_create(&sock, APR_INET, SOCK_STREAM, APR_PROTO_TCP,
                          g_pool);
        rv = apr_socket_connect(sock, sa);
        apr_socket_close(sock);
        if (rv == APR_SUCCESS) {
            break;
        }
    }
    ck_assert_int_lt(i, 100);
    /* read at start-up: the key can go now (the certificate is the CA
     * file curl reads, so it stays until the test ends) */
    apr_file_remove(key, g_pool);
    return 1;
}

static void tls_cleanup_files(tls_srv_t *t)
{
    char *dir = apr_pstrdup(g_pool, t->cert);

    apr_file_remove(t->cert, g_pool);
    *strrchr(dir, '/') = '\0';
    apr_dir_remove(dir, g_pool);
}

START_TEST(tls_self_signed_is_refused_without_ca_file)
{
    tls_srv_t t;
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_opts_t o = { .timeout = apr_time_from_sec(5) };

    if (!tls_server(&t, "IP:127.0.0.1")) {
        return;
    }
    ck_assert_int_ne(cis2_http_get(&resp, &o,
                                   apr_psprintf(g_pool, "https://127.0.0.1:"
                                                "%d/", t.port),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
    tls_cleanup_files(&t);
}
END_TEST

START_TEST(tls_with_ca_file_is_accepted)
{
    tls_srv_t t;
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_opts_t o = { .timeout = apr_time_from_sec(5) };

    if (!tls_server(&t, "IP:127.0.0.1")) {
        return;
    }
    o.ca_file = t.cert;
    ck_assert_msg(cis2_http_get(&resp, &o,
                                apr_psprintf(g_pool, "https://127.0.0.1:%d/",
                                             t.port),
                                NULL, &err, g_pool) == APR_SUCCESS,
                  "%s", err ? err->detail : "");
    ck_assert_int_eq(resp->status, 200);
    ck_assert_str_eq(resp->content_type, "text/html");
    tls_cleanup_files(&t);
}
END_TEST

START_TEST(tls_host_name_mismatch_is_refused)
{
    tls_srv_t t;
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_opts_t o = { .timeout = apr_time_from_sec(5) };

    /* trusted certificate, but for another name than the one dialled */
    if (!tls_server(&t, "DNS:op.example")) {
        return;
    }
    o.ca_file = t.cert;
    ck_assert_int_ne(cis2_http_get(&resp, &o,
                                   apr_psprintf(g_pool, "https://127.0.0.1:"
                                                "%d/", t.port),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
    tls_cleanup_files(&t);
}
END_TEST

/* NHS CIA Sec Req 003 (CIS2.md §2): nothing below TLS 1.2 towards CIS2.
 * The server speaks only TLS 1.1 (proved by a TLS 1.1 s_client handshake),
 * the certificate is trusted: the only reason left to fail is the version. */
START_TEST(tls_1_1_server_is_refused)
{
    tls_srv_t t;
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_opts_t o = { .timeout = apr_time_from_sec(5) };

    if (!tls_server_opts(&t, "IP:127.0.0.1", "-tls1_1", "-cipher",
                         "DEFAULT@SECLEVEL=0")) {
        return;
    }
    {
        const char *const cli[] = {
            "openssl", "s_client", "-connect",
            apr_psprintf(g_pool, "127.0.0.1:%d", t.port), "-tls1_1",
            "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", t.cert, NULL
        };

        int tries;

        /* s_server serves one connection at a time (and had the probe of
         * tls_server_opts to drop first): allow a few attempts */
        for (tries = 0; tries < 10; tries++) {
            if (run_wait(g_pool, cli) == APR_SUCCESS) {
                break;
            }
            apr_sleep(apr_time_from_msec(100));
        }
        ck_assert_msg(tries < 10,
                      "control: a TLS 1.1 client cannot reach the server");
    }
    o.ca_file = t.cert;
    ck_assert_int_ne(cis2_http_get(&resp, &o,
                                   apr_psprintf(g_pool, "https://127.0.0.1:"
                                                "%d/", t.port),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
    tls_cleanup_files(&t);
}
END_TEST

START_TEST(tls_verification_holds_on_a_reused_handle)
{
    tls_srv_t t;
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_opts_t with_ca = { .timeout = apr_time_from_sec(5) };
    cis2_http_opts_t without = { .timeout = apr_time_from_sec(5) };
    const char *url;

    ck_assert_int_eq(cis2_http_reuse_init(g_pool, 4), APR_SUCCESS);
    if (!tls_server(&t, "IP:127.0.0.1")) {
        return;
    }
    with_ca.ca_file = t.cert;
    url = apr_psprintf(g_pool, "https://127.0.0.1:%d/", t.port);
    ck_assert_msg(cis2_http_get(&resp, &with_ca, url, NULL, &err, g_pool)
                  == APR_SUCCESS, "%s", err ? err->detail : "");
    ck_assert_int_eq(resp->status, 200);
    /* the same handle (with that server's TLS session) and no CA file:
     * the self-signed server must be refused all the same */
    ck_assert_int_eq(reuse_stats().idle, 1);
    ck_assert_int_ne(cis2_http_get(&resp, &without, url, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
    ck_assert_uint_eq(reuse_stats().reused, 1);
    err = NULL;
    ck_assert_msg(cis2_http_get(&resp, &with_ca, url, NULL, &err, g_pool)
                  == APR_SUCCESS, "%s", err ? err->detail : "");
    tls_cleanup_files(&t);
}
END_TEST

START_TEST(missing_ca_file_is_refused)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_opts_t o = { .ca_file = "/nonexistent/ca.pem" };
    const char *url = apr_psprintf(g_pool, "https://127.0.0.1:%d/x",
                                   loopsrv_port(srv));

    ck_assert_int_ne(cis2_http_get(&resp, &o, url, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
}
END_TEST

/* ---- failures ---------------------------------------------------------- */

START_TEST(connect_refused_is_http_error)
{
    int port = loopsrv_unused_port();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    const char *url = apr_psprintf(g_pool, "http://127.0.0.1:%d/x", port);

    ck_assert_int_ne(port, 0);
    ck_assert_int_ne(cis2_http_get(&resp, NULL, url, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
    ck_assert_ptr_null(resp);
    ck_assert_msg(strstr(err->detail, apr_psprintf(g_pool, "127.0.0.1:%d",
                                                   port)) != NULL,
                  "detail names the host: %s", err->detail);
}
END_TEST

START_TEST(error_detail_hides_query_and_credentials)
{
    int port = loopsrv_unused_port();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    const char *url = apr_psprintf(g_pool, "http://alice:hunter2@127.0.0.1:"
                                   "%d/cb?code=SECRETCODE&x=1", port);

    ck_assert_int_ne(cis2_http_post_form(&resp, NULL, url, "a=1", "id",
                                         "pw-secret", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_HTTP);
    ck_assert_ptr_null(strstr(err->detail, "SECRETCODE"));
    ck_assert_ptr_null(strstr(err->detail, "hunter2"));
    ck_assert_ptr_null(strstr(err->detail, "alice"));
    ck_assert_ptr_null(strstr(err->detail, "pw-secret"));
    ck_assert_ptr_nonnull(strstr(err->detail, "127.0.0.1"));
}
END_TEST

START_TEST(slow_server_times_out_in_time)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 200, .body = "late", .delay_ms = 5000 };
    cis2_http_opts_t o = { .connect_timeout = apr_time_from_msec(200),
                           .timeout = apr_time_from_msec(400) };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    apr_time_t t0, dt;

    loopsrv_set(srv, "/slow", &r);
    t0 = apr_time_now();
    ck_assert_int_ne(cis2_http_get(&resp, &o, loopsrv_url(srv, "/slow"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    dt = apr_time_now() - t0;
    ck_assert_int_eq(err->code, CIS2_E_TIMEOUT);
    ck_assert_msg(dt >= apr_time_from_msec(350), "too early: %" APR_TIME_T_FMT
                  " us", dt);
    ck_assert_msg(dt < apr_time_from_msec(400 + 600), "too late: %"
                  APR_TIME_T_FMT " us", dt);
}
END_TEST

START_TEST(slow_post_times_out_in_time)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 200, .body = "late", .delay_ms = 5000 };
    cis2_http_opts_t o = { .timeout = apr_time_from_msec(300) };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    apr_time_t t0 = apr_time_now();

    loopsrv_set(srv, "/slow", &r);
    ck_assert_int_ne(cis2_http_post_form(&resp, &o,
                                         loopsrv_url(srv, "/slow"), "a=1",
                                         NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TIMEOUT);
    ck_assert(apr_time_now() - t0 < apr_time_from_msec(300 + 600));
}
END_TEST

START_TEST(huge_body_with_length_is_too_large)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 200, .huge_len = 50 * 1024 * 1024 };
    cis2_http_opts_t o = { .max_body = 64 * 1024 };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    apr_time_t t0 = apr_time_now();

    loopsrv_set(srv, "/huge", &r);
    ck_assert_int_ne(cis2_http_get(&resp, &o, loopsrv_url(srv, "/huge"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert(apr_time_now() - t0 < apr_time_from_sec(2));
}
END_TEST

START_TEST(endless_body_is_cut_at_the_default_cap)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = 200, .endless = 1 };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    apr_time_t t0 = apr_time_now();

    loopsrv_set(srv, "/endless", &r);
    ck_assert_int_ne(cis2_http_get(&resp, NULL,
                                   loopsrv_url(srv, "/endless"), NULL, &err,
                                   g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert(apr_time_now() - t0 < apr_time_from_sec(3));
}
END_TEST

START_TEST(body_at_the_cap_is_accepted_one_more_is_not)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r100 = { .status = 200, .huge_len = 100 };
    loopsrv_route_t r101 = { .status = 200, .huge_len = 101 };
    loopsrv_route_t e101 = { .status = 200, .endless = 1 };
    cis2_http_opts_t o = { .max_body = 100 };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_set(srv, "/100", &r100);
    loopsrv_set(srv, "/101", &r101);
    loopsrv_set(srv, "/e", &e101);
    ck_assert_int_eq(cis2_http_get(&resp, &o, loopsrv_url(srv, "/100"), NULL,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(resp->body_len, 100);
    ck_assert_uint_eq(strlen(resp->body), 100);
    ck_assert_int_ne(cis2_http_get(&resp, &o, loopsrv_url(srv, "/101"), NULL,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert_int_ne(cis2_http_get(&resp, &o, loopsrv_url(srv, "/e"), NULL,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
}
END_TEST

static const int redirect_codes[] = { 301, 302, 303, 307, 308 };

START_TEST(redirect_is_refused_not_followed)
{
    loopsrv_t *srv = start();
    loopsrv_route_t r = { .status = redirect_codes[_i],
                          .content_type = "text/html", .body = "moved" };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    r.location = loopsrv_url(srv, "/elsewhere?code=LEAK");
    loopsrv_set(srv, "/r", &r);
    loopsrv_set_json(srv, "/elsewhere", 200, "{}");
    ck_assert_int_ne(cis2_http_get(&resp, NULL, loopsrv_url(srv, "/r"), NULL,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_REDIRECTED);
    ck_assert_ptr_null(strstr(err->detail, "LEAK"));
    ck_assert_int_eq(loopsrv_hits(srv, "/elsewhere"), 0);
    ck_assert_int_ne(cis2_http_post_form(&resp, NULL, loopsrv_url(srv, "/r"),
                                         "a=1", NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_REDIRECTED);
    ck_assert_int_eq(loopsrv_hits(srv, "/elsewhere"), 0);
}
END_TEST

static const char *const bad_urls[] = {
    "ftp://127.0.0.1/x",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "dict://127.0.0.1:11211/stat",
    "ldap://127.0.0.1/",
    "127.0.0.1/x",
    "//127.0.0.1/x",
    "",
    "http://127.0.0.1/a b",
    "http://127.0.0.1/a\r\nHost: evil",
};

START_TEST(non_http_urls_are_refused)
{
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_http_get(&resp, NULL, bad_urls[_i], NULL, &err,
                                   g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_http_post_form(&resp, NULL, bad_urls[_i], "a=1",
                                         NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_ptr_null(resp);
}
END_TEST

START_TEST(null_url_is_refused)
{
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_http_get(&resp, NULL, NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
}
END_TEST

START_TEST(https_to_plain_server_is_transport_error)
{
    /* TLS handshake against a plain HTTP listener fails: a transport
     * error, never a silent downgrade */
    loopsrv_t *srv = start();
    cis2_http_opts_t o = { .timeout = apr_time_from_msec(800) };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    const char *url = apr_psprintf(g_pool, "https://127.0.0.1:%d/x",
                                   loopsrv_port(srv));

    loopsrv_set_json(srv, "/x", 200, "{}");
    ck_assert_int_ne(cis2_http_get(&resp, &o, url, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert(err->code == CIS2_E_HTTP || err->code == CIS2_E_TIMEOUT);
}
END_TEST

START_TEST(many_calls_in_subpools)
{
    /* every curl object is released per call or, kept for reuse, with
     * the pool (valgrind checks leaks) */
    loopsrv_t *srv = start();
    int i;

    loopsrv_set_json(srv, "/j", 200, "{\"a\":1}");
    for (i = 0; i < 20; i++) {
        apr_pool_t *sp;
        cis2_http_response_t *resp = NULL;
        const cis2_err_t *err = NULL;

        apr_pool_create(&sp, g_pool);
        ck_assert_int_eq(cis2_http_get(&resp, NULL, loopsrv_url(srv, "/j"),
                                       "tok", &err, sp), APR_SUCCESS);
        ck_assert_int_eq(resp->status, 200);
        apr_pool_destroy(sp);
    }
    ck_assert_int_eq(loopsrv_hits(srv, "/j"), 20);
}
END_TEST

/* ---- handle and connection reuse (issue #4) ---------------------------- */

static void get_ok(loopsrv_t *srv, const char *path,
                   const cis2_http_opts_t *o, const char *bearer)
{
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_http_get(&resp, o, loopsrv_url(srv, path), bearer,
                                &err, g_pool) == APR_SUCCESS,
                  "GET %s: %s", path, err ? err->detail : "");
    ck_assert_int_eq(resp->status, 200);
}

START_TEST(connection_is_reused_across_calls)
{
    loopsrv_t *srv = start();
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    cis2_http_reuse_stats_t st;

    loopsrv_keepalive(srv, 1);
    loopsrv_set_json(srv, "/token", 200, "{\"access_token\":\"a\"}");
    loopsrv_set_json(srv, "/userinfo", 200, "{\"sub\":\"1\"}");
    /* three logins' worth: token POST (Basic), UserInfo GET (bearer) */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(cis2_http_post_form(&resp, NULL,
                                             loopsrv_url(srv, "/token"),
                                             "code=c", "client", "secret",
                                             &err, g_pool), APR_SUCCESS);
        ck_assert_int_eq(resp->status, 200);
        get_ok(srv, "/userinfo", NULL, "tok");
    }
    ck_assert_int_eq(loopsrv_hits(srv, NULL), 6);
    ck_assert_int_eq(loopsrv_connections(srv), 1);
    st = reuse_stats();
    ck_assert_uint_eq(st.created, 1);
    ck_assert_uint_eq(st.reused, 5);
    ck_assert_int_eq(st.idle, 1);
}
END_TEST

START_TEST(nothing_of_a_call_is_left_on_the_reused_handle)
{
    loopsrv_t *srv = start();
    loopsrv_route_t cookie = { .status = 200,
                               .content_type = "application/json",
                               .body = "{}",
                               .headers = "Set-Cookie: op=abc; Path=/\r\n" };
    cis2_http_opts_t ua = { .user_agent = "custom-agent/1" };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    const loopsrv_req_t *req;

    loopsrv_keepalive(srv, 1);
    loopsrv_set(srv, "/c", &cookie);
    loopsrv_set_json(srv, "/t", 200, "{}");
    /* a POST with Basic credentials, a body, a custom agent and a cookie
     * set by the server ... */
    ck_assert_int_eq(cis2_http_post_form(&resp, &ua, loopsrv_url(srv, "/c"),
                                         "code=SECRETCODE", "client", "pw",
                                         &err, g_pool), APR_SUCCESS);
    req = loopsrv_last(srv, g_pool);
    ck_assert_str_eq(req->method, "POST");
    ck_assert_ptr_nonnull(apr_table_get(req->headers, "Authorization"));
    /* ... then a plain GET on the same connection carries none of it */
    get_ok(srv, "/t", NULL, NULL);
    req = loopsrv_last(srv, g_pool);
    ck_assert_str_eq(req->method, "GET");
    ck_assert_uint_eq(req->body_len, 0);
    ck_assert_ptr_null(apr_table_get(req->headers, "Authorization"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Cookie"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Content-Type"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Content-Length"));
    ck_assert_str_eq(apr_table_get(req->headers, "User-Agent"),
                     "mod_cis2/0.1.0");
    ck_assert_str_eq(apr_table_get(req->headers, "Accept"),
                     "application/json");
    /* a bearer is sent once, not again */
    get_ok(srv, "/t", NULL, "tok-1");
    ck_assert_str_eq(apr_table_get(loopsrv_last(srv, g_pool)->headers,
                                   "Authorization"), "Bearer tok-1");
    get_ok(srv, "/t", NULL, NULL);
    ck_assert_ptr_null(apr_table_get(loopsrv_last(srv, g_pool)->headers,
                                     "Authorization"));
    /* and a POST without credentials sends none, with its own body */
    ck_assert_int_eq(cis2_http_post_form(&resp, NULL, loopsrv_url(srv, "/t"),
                                         "a=1", NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    req = loopsrv_last(srv, g_pool);
    ck_assert_str_eq(req->body, "a=1");
    ck_assert_ptr_null(apr_table_get(req->headers, "Authorization"));
    ck_assert_ptr_null(apr_table_get(req->headers, "Cookie"));
    /* all of it on one connection and one handle */
    ck_assert_int_eq(loopsrv_connections(srv), 1);
    ck_assert_uint_eq(reuse_stats().created, 1);
}
END_TEST

START_TEST(limits_hold_on_a_reused_handle)
{
    loopsrv_t *srv = start();
    loopsrv_route_t big = { .status = 200, .huge_len = 101 };
    loopsrv_route_t endless = { .status = 200, .endless = 1 };
    loopsrv_route_t moved = { .status = 302, .content_type = "text/html",
                              .body = "moved" };
    loopsrv_route_t slow = { .status = 200, .body = "late",
                             .delay_ms = 3000 };
    loopsrv_route_t late_ok = { .status = 200, .body = "ok",
                                .delay_ms = 700 };
    cis2_http_opts_t cap = { .max_body = 100 };
    cis2_http_opts_t quick = { .timeout = apr_time_from_msec(400) };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;
    apr_time_t t0, dt;

    loopsrv_keepalive(srv, 1);
    loopsrv_set_json(srv, "/ok", 200, "{}");
    loopsrv_set(srv, "/big", &big);
    loopsrv_set(srv, "/endless", &endless);
    moved.location = loopsrv_url(srv, "/elsewhere");
    loopsrv_set(srv, "/moved", &moved);
    loopsrv_set_json(srv, "/elsewhere", 200, "{}");
    loopsrv_set(srv, "/slow", &slow);
    loopsrv_set(srv, "/late", &late_ok);

    /* each refusal comes right after a good call on the same handle */
    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_int_ne(cis2_http_get(&resp, &cap, loopsrv_url(srv, "/big"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);

    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_uint_ge(reuse_stats().reused, 1);
    t0 = apr_time_now();
    ck_assert_int_ne(cis2_http_get(&resp, NULL,
                                   loopsrv_url(srv, "/endless"), NULL, &err,
                                   g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert(apr_time_now() - t0 < apr_time_from_sec(3));

    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_int_ne(cis2_http_get(&resp, NULL, loopsrv_url(srv, "/moved"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_REDIRECTED);
    /* a refused redirect is a complete exchange: the handle stays, and
     * the next call on it follows nothing either */
    ck_assert_int_ne(cis2_http_post_form(&resp, NULL,
                                         loopsrv_url(srv, "/moved"), "a=1",
                                         NULL, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_REDIRECTED);
    ck_assert_int_eq(loopsrv_hits(srv, "/elsewhere"), 0);

    get_ok(srv, "/ok", NULL, NULL);
    t0 = apr_time_now();
    ck_assert_int_ne(cis2_http_get(&resp, &quick, loopsrv_url(srv, "/slow"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    dt = apr_time_now() - t0;
    ck_assert_int_eq(err->code, CIS2_E_TIMEOUT);
    ck_assert_msg(dt >= apr_time_from_msec(350) && dt < apr_time_from_sec(1),
                  "timeout after %" APR_TIME_T_FMT " us", dt);

    /* and the short timeout of that call does not stay on the handle */
    get_ok(srv, "/ok", &quick, NULL);
    get_ok(srv, "/late", NULL, NULL);
    /* nor the cap: 101 bytes are fine with the default cap */
    get_ok(srv, "/big", NULL, NULL);
}
END_TEST

START_TEST(failed_call_closes_its_handle)
{
    loopsrv_t *srv = start();
    loopsrv_route_t slow = { .status = 200, .body = "late",
                             .delay_ms = 3000 };
    cis2_http_opts_t quick = { .timeout = apr_time_from_msec(300) };
    cis2_http_response_t *resp = NULL;
    const cis2_err_t *err = NULL;

    loopsrv_keepalive(srv, 1);
    loopsrv_set_json(srv, "/ok", 200, "{}");
    loopsrv_set(srv, "/slow", &slow);
    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_int_eq(reuse_stats().idle, 1);
    ck_assert_int_ne(cis2_http_get(&resp, &quick, loopsrv_url(srv, "/slow"),
                                   NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(reuse_stats().idle, 0);
    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_uint_eq(reuse_stats().created, 2);
    ck_assert_int_eq(loopsrv_connections(srv), 2);
}
END_TEST

START_TEST(provider_closing_between_calls_still_works)
{
    loopsrv_t *srv = start();
    loopsrv_route_t silent = { .status = 200,
                               .content_type = "application/json",
                               .body = "{\"n\":1}", .close_after = 1 };
    int i;

    /* "Connection: close" on every answer (keep-alive off) */
    loopsrv_set_json(srv, "/ok", 200, "{}");
    for (i = 0; i < 3; i++) {
        get_ok(srv, "/ok", NULL, NULL);
    }
    ck_assert_int_eq(loopsrv_connections(srv), 3);
    /* a kept connection the provider closes without a word */
    loopsrv_keepalive(srv, 1);
    loopsrv_reset(srv);
    loopsrv_set(srv, "/silent", &silent);
    for (i = 0; i < 3; i++) {
        get_ok(srv, "/silent", NULL, NULL);
        apr_sleep(apr_time_from_msec(50)); /* its FIN arrives */
    }
    ck_assert_int_eq(loopsrv_hits(srv, "/silent"), 3);
    ck_assert_int_eq(loopsrv_connections(srv), 3);
    /* a POST too (the token call) */
    silent.body = "{\"access_token\":\"a\"}";
    loopsrv_set(srv, "/silent", &silent);
    for (i = 0; i < 2; i++) {
        cis2_http_response_t *resp = NULL;
        const cis2_err_t *err = NULL;

        ck_assert_int_eq(cis2_http_post_form(&resp, NULL,
                                             loopsrv_url(srv, "/silent"),
                                             "code=c", NULL, NULL, &err,
                                             g_pool), APR_SUCCESS);
        ck_assert_int_eq(resp->status, 200);
    }
    ck_assert_int_eq(loopsrv_hits(srv, "/silent"), 5);
    /* one handle did it all */
    ck_assert_uint_eq(reuse_stats().created, 1);
}
END_TEST

typedef struct worker_arg {
    const char *url;           /* made before the threads: pools are not
                                  thread-safe */
    apr_pool_t *pool;
    int ok;
    const char *err;           /* the first failure */
} worker_arg;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *data)
{
    worker_arg *w = data;
    int i;

    for (i = 0; i < 25; i++) {
        cis2_http_response_t *resp = NULL;
        const cis2_err_t *err = NULL;
        const char *tok = apr_psprintf(w->pool, "tok-%d", i);

        if (cis2_http_get(&resp, NULL, w->url, tok, &err, w->pool)
                == APR_SUCCESS && resp->status == 200) {
            w->ok++;
        }
        else if (w->err == NULL) {
            w->err = err ? err->detail : "not 200";
        }
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(threads_share_the_cache_safely)
{
    enum { N = 8 };
    loopsrv_t *srv = start();
    apr_thread_t *th[N];
    worker_arg w[N];
    cis2_http_reuse_stats_t st;
    int i;

    loopsrv_keepalive(srv, 1);
    loopsrv_set_json(srv, "/ui", 200, "{\"sub\":\"1\"}");
    for (i = 0; i < N; i++) {
        w[i].url = loopsrv_url(srv, "/ui");
        w[i].ok = 0;
        w[i].err = NULL;
        ck_assert_int_eq(apr_pool_create(&w[i].pool, NULL), APR_SUCCESS);
    }
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, worker, &w[i],
                                           g_pool), APR_SUCCESS);
    }
    for (i = 0; i < N; i++) {
        apr_status_t trv;

        apr_thread_join(&trv, th[i]);
        ck_assert_msg(w[i].ok == 25, "thread %d: %d of 25: %s", i, w[i].ok,
                      w[i].err);
        apr_pool_destroy(w[i].pool);
    }
    st = reuse_stats();
    /* never more handles than calls in flight; at most 4 kept idle */
    ck_assert_uint_le(st.created, N);
    ck_assert_uint_eq(st.created + st.reused, (apr_uint64_t)N * 25);
    ck_assert_int_le(st.idle, 4);
    ck_assert_int_le(loopsrv_connections(srv), (int)st.created);
}
END_TEST

START_TEST(a_forked_process_does_not_share_connections)
{
    loopsrv_t *srv = start();
    int fds[2];
    char verdict = 'x';
    pid_t pid;
    int status;

    loopsrv_keepalive(srv, 1);
    loopsrv_set_json(srv, "/ok", 200, "{}");
    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_int_eq(loopsrv_connections(srv), 1);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* the parent's cache (and its open connection) is not ours */
        apr_pool_t *p;
        cis2_http_reuse_stats_t st;
        cis2_http_response_t *resp = NULL;
        const cis2_err_t *err = NULL;
        int bad;

        apr_pool_create(&p, NULL);
        cis2_http_reuse_stats(&st);
        bad = st.created != 0 || st.idle != 0
              || cis2_http_get(&resp, NULL, loopsrv_url(srv, "/ok"), NULL,
                               &err, p) != APR_SUCCESS
              || resp->status != 200;
        cis2_http_reuse_stats(&st);
        bad = bad || st.created != 0;
        verdict = bad ? 'F' : 'P';
        /* the verdict goes through the pipe; then end without exit-time
         * checks (under valgrind, the parent's threads' memory looks
         * lost in this copy of the process) */
        if (write(fds[1], &verdict, 1) != 1) {
            _exit(1);
        }
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &verdict, 1), 1);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(verdict == 'P', "the forked process: %c", verdict);
    ck_assert_int_eq(loopsrv_connections(srv), 2);
    /* and the parent still has its own */
    get_ok(srv, "/ok", NULL, NULL);
    ck_assert_int_eq(loopsrv_connections(srv), 2);
}
END_TEST

START_TEST(reuse_init_refuses_zero)
{
    ck_assert_int_eq(cis2_http_reuse_init(g_pool, 0), APR_EINVAL);
}
END_TEST

START_TEST(global_init_is_idempotent)
{
    ck_assert_int_eq(cis2_http_global_init(), APR_SUCCESS);
    ck_assert_int_eq(cis2_http_global_init(), APR_SUCCESS);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("http");
    TCase *ok = tcase_create("ok");
    TCase *fail = tcase_create("fail");
    TCase *tls = tcase_create("tls");
    TCase *reuse = tcase_create("reuse");

    reuse_fixture(ok);
    reuse_fixture(fail);
    tcase_set_timeout(fail, 30);
    tcase_add_test(ok, get_ok_and_what_we_send);
    tcase_add_test(ok, get_custom_user_agent_and_no_content_type);
    tcase_add_test(ok, get_empty_body_is_empty_string);
    tcase_add_test(ok, get_sends_bearer);
    tcase_add_test(ok, post_form_ok);
    tcase_add_test(ok, post_basic_credentials_are_form_urlencoded);
    tcase_add_test(ok, post_basic_plain_credentials);
    tcase_add_test(ok, status_500_is_passed_to_the_caller);
    tcase_add_test(ok, status_404_is_passed_to_the_caller);
    tcase_add_test(ok, many_calls_in_subpools);
    tcase_add_test(ok, global_init_is_idempotent);
    tcase_add_test(fail, bearer_with_crlf_is_refused);
    tcase_add_test(fail, connect_refused_is_http_error);
    tcase_add_test(fail, error_detail_hides_query_and_credentials);
    tcase_add_test(fail, slow_server_times_out_in_time);
    tcase_add_test(fail, slow_post_times_out_in_time);
    tcase_add_test(fail, huge_body_with_length_is_too_large);
    tcase_add_test(fail, endless_body_is_cut_at_the_default_cap);
    tcase_add_test(fail, body_at_the_cap_is_accepted_one_more_is_not);
    tcase_add_loop_test(fail, redirect_is_refused_not_followed, 0,
                        (int)(sizeof(redirect_codes)
                              / sizeof(redirect_codes[0])));
    tcase_add_loop_test(fail, non_http_urls_are_refused, 0,
                        (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
    tcase_add_test(fail, null_url_is_refused);
    tcase_add_test(fail, https_to_plain_server_is_transport_error);
    cis2_test_fixture(tls);
    tcase_set_timeout(tls, 60);
    tcase_add_test(tls, tls_self_signed_is_refused_without_ca_file);
    tcase_add_test(tls, tls_with_ca_file_is_accepted);
    tcase_add_test(tls, tls_host_name_mismatch_is_refused);
    tcase_add_test(tls, tls_1_1_server_is_refused);
    tcase_add_test(tls, missing_ca_file_is_refused);
    tcase_add_test(tls, tls_verification_holds_on_a_reused_handle);
    reuse_fixture(reuse);
    tcase_set_timeout(reuse, 30);
    tcase_add_test(reuse, connection_is_reused_across_calls);
    tcase_add_test(reuse, nothing_of_a_call_is_left_on_the_reused_handle);
    tcase_add_test(reuse, limits_hold_on_a_reused_handle);
    tcase_add_test(reuse, failed_call_closes_its_handle);
    tcase_add_test(reuse, provider_closing_between_calls_still_works);
    tcase_add_test(reuse, threads_share_the_cache_safely);
    tcase_add_test(reuse, a_forked_process_does_not_share_connections);
    tcase_add_test(reuse, reuse_init_refuses_zero);
    suite_add_tcase(s, ok);
    suite_add_tcase(s, fail);
    suite_add_tcase(s, tls);
    suite_add_tcase(s, reuse);
    return s;
}
