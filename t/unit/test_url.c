/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_url — the redirect validator against the open-redirect corpus
 * (t/redirect-corpus.txt, format described at its top), a list of good
 * targets that must pass, the allow-list, and the config URL parser.
 */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "testmain.h"
#include "cis2_url.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- corpus -------------------------------------------------------------- */

typedef struct self_t {
    const char *origin;        /* http://host:port */
    const char *name;          /* host */
    const char *port;          /* port */
} self_t;

static const self_t selves[] = {
    { "http://127.0.0.1:8080", "127.0.0.1", "8080" },
    { "http://127.0.0.1:41234", "127.0.0.1", "41234" },
    { "http://rp.example.com:8443", "rp.example.com", "8443" },
};

/* t/redirect-corpus.txt sits two levels above the fixture dir
 * (t/unit/data); CIS2_REDIRECT_CORPUS overrides. */
static const char *corpus_path(void)
{
    const char *env = getenv("CIS2_REDIRECT_CORPUS");
    const char *dir = getenv("CIS2_TEST_DATA");
    apr_size_t n;

    if (env != NULL) {
        return env;
    }
    if (dir == NULL) {
        return "t/redirect-corpus.txt";
    }
    n = strlen(dir);
    if (n >= 10 && strcmp(dir + n - 10, "/unit/data") == 0) {
        return apr_pstrcat(g_pool, apr_pstrndup(g_pool, dir, n - 10),
                           "/redirect-corpus.txt", NULL);
    }
    return apr_pstrcat(g_pool, dir, "/../../redirect-corpus.txt", NULL);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Expand {HH} and the {SELF_*} placeholders of one corpus line. */
static char *expand(const char *line, apr_size_t len, const self_t *self)
{
    const char *host = apr_pstrcat(g_pool, self->name, ":", self->port, NULL);
    char *out = apr_palloc(g_pool, len * 2 + 256);
    apr_size_t i, o = 0;

    for (i = 0; i < len; i++) {
        const char *rep = NULL;
        apr_size_t skip = 0;

        if (line[i] == '{') {
            if (len - i >= 4 && line[i + 3] == '}' && hexv(line[i + 1]) >= 0
                && hexv(line[i + 2]) >= 0) {
                out[o++] = (char)(hexv(line[i + 1]) * 16 + hexv(line[i + 2]));
                i += 3;
                continue;
            }
            if (strncmp(line + i, "{SELF_HOST}", 11) == 0) {
                rep = host;
                skip = 11;
            }
            else if (strncmp(line + i, "{SELF_NAME}", 11) == 0) {
                rep = self->name;
                skip = 11;
            }
            else if (strncmp(line + i, "{SELF_PORT}", 11) == 0) {
                rep = self->port;
                skip = 11;
            }
        }
        if (rep != NULL) {
            memcpy(out + o, rep, strlen(rep));
            o += strlen(rep);
            i += skip - 1;
        }
        else {
            out[o++] = line[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* The corpus as raw lines (comments and empty lines dropped). */
static apr_array_header_t *corpus_lines(void)
{
    apr_array_header_t *lines = apr_array_make(g_pool, 400, sizeof(char *));
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf, *s, *nl;
    apr_size_t n;
    const char *path = corpus_path();

    ck_assert_msg(apr_file_open(&f, path, APR_READ | APR_BINARY, 0, g_pool)
                  == APR_SUCCESS, "cannot open %s", path);
    ck_assert_int_eq(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    n = (apr_size_t)fi.size;
    buf = apr_palloc(g_pool, n + 1);
    ck_assert_int_eq(apr_file_read_full(f, buf, n, &n), APR_SUCCESS);
    buf[n] = '\0';
    apr_file_close(f);
    for (s = buf; s != NULL && *s != '\0'; s = nl != NULL ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        if (*s != '\0' && *s != '#') {
            APR_ARRAY_PUSH(lines, char *) = s;
        }
    }
    return lines;
}

START_TEST(corpus_has_enough_payloads)
{
    ck_assert_int_ge(corpus_lines()->nelts, 250);
}
END_TEST

START_TEST(every_corpus_line_is_refused)
{
    apr_array_header_t *lines = corpus_lines();
    apr_array_header_t *allowed = apr_array_make(g_pool, 2, sizeof(char *));
    const self_t *self = &selves[_i];
    int i;

    APR_ARRAY_PUSH(allowed, const char *) = "https://partner.example.org";
    for (i = 0; i < lines->nelts; i++) {
        const char *raw = APR_ARRAY_IDX(lines, i, const char *);
        /* a malloc'd copy of its own, so valgrind/ASan see any overread */
        char *t = strdup(expand(raw, strlen(raw), self));
        const char *out = NULL;
        const cis2_err_t *err = NULL;
        apr_status_t rv;

        rv = cis2_url_check_redirect(&out, t, self->origin, allowed, &err,
                                     g_pool);
        if (rv == APR_SUCCESS) {
            free(t);
        }
        ck_assert_msg(rv != APR_SUCCESS, "corpus payload %d accepted: %s "
                      "(self %s)", i + 1, raw, self->origin);
        ck_assert_ptr_null(out);
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(err->code, CIS2_E_INVALID);
        /* the detail names a rule, never the input */
        ck_assert_ptr_null(strstr(err->detail, "evil"));
        ck_assert_ptr_null(strstr(err->detail, self->name));
        ck_assert_ptr_nonnull(strstr(err->detail, "refused: "));
        /* also refused with no allow-list */
        ck_assert_int_ne(cis2_url_check_redirect(&out, t, self->origin, NULL,
                                                 NULL, g_pool), APR_SUCCESS);
        free(t);
    }
}
END_TEST

/* ---- good targets -------------------------------------------------------- */

static const char *const good_local[] = {
    "/",
    "/index.html",
    "/a/b/c?x=1&y=2",
    "/app/page?next=//evil.com",
    "/app?return=http://evil.com/",
    "/p#frag",
    "/p#//evil.com",
    "/caf%C3%A9",
    "/my%20document.pdf",
    "/a%2Fb",
    "/%7Euser/",
    "/x?y=%0a",
    "/x?q=a\\b",
    "/x?q=%2f%2fevil.com",
    "/.well-known/openid-configuration",
    "/..foo",
    "/x.",
    "/x..y/",
    "/a//b",
    "/a/b/",
    "/search?q=a+b&lang=en-GB",
    "/path;jsessionid=1",
    "/~user/file.txt",
    "/@me",
    "/:colon",
    "/?",
    "/x?",
    "/x/%2e%2e.txt",
    "/%e2%82%ac",
    "/100%25",
    "/a%2525b",
    "/a%252Fb",
};

START_TEST(good_local_targets_are_accepted)
{
    const char *t = good_local[_i];
    const char *out = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_url_check_redirect(&out, t, "http://127.0.0.1:8080",
                                          NULL, &err, g_pool) == APR_SUCCESS,
                  "refused %s: %s", t, err ? err->detail : "?");
    ck_assert_ptr_eq(out, t);
    /* a local path needs no origin at all */
    ck_assert_int_eq(cis2_url_check_redirect(&out, t, NULL, NULL, NULL,
                                             g_pool), APR_SUCCESS);
}
END_TEST

static const char *const good_absolute[] = {
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8080/app/x?y=1",
    "HTTP://127.0.0.1:8080/x",
    "http://127.0.0.1:08080/x",
    "http://127.0.0.1:8080?x=1",
    "http://127.0.0.1:8080#frag",
    "http://127.0.0.1:8080/#@evil.com",
    "http://127.0.0.1:8080/?@evil.com",
    "https://partner.example.org/cb",
    "https://PARTNER.Example.ORG:443/cb",
    "https://partner.example.org",
    "http://[::1]:9000/x",
};

START_TEST(good_absolute_targets_are_accepted)
{
    apr_array_header_t *allowed = apr_array_make(g_pool, 2, sizeof(char *));
    const char *t = good_absolute[_i];
    const char *out = NULL;
    const cis2_err_t *err = NULL;

    APR_ARRAY_PUSH(allowed, const char *) = "https://partner.example.org/";
    APR_ARRAY_PUSH(allowed, const char *) = "http://[::1]:9000";
    ck_assert_msg(cis2_url_check_redirect(&out, t, "http://127.0.0.1:8080",
                                          allowed, &err, g_pool)
                  == APR_SUCCESS, "refused %s: %s", t,
                  err ? err->detail : "?");
    ck_assert_ptr_eq(out, t);
}
END_TEST

static int accepted(const char *t, const char *self, const char *allow1)
{
    apr_array_header_t *allowed = NULL;
    const char *out;

    if (allow1 != NULL) {
        allowed = apr_array_make(g_pool, 1, sizeof(char *));
        APR_ARRAY_PUSH(allowed, const char *) = allow1;
    }
    return cis2_url_check_redirect(&out, t, self, allowed, NULL, g_pool)
           == APR_SUCCESS;
}

START_TEST(origins_match_exactly)
{
    const char *self = "https://example.com";

    ck_assert(accepted("https://example.com/x", self, NULL));
    ck_assert(accepted("https://EXAMPLE.com:443/x", self, NULL));
    ck_assert(!accepted("https://evil-example.com/", self, NULL));
    ck_assert(!accepted("https://evilexample.com/", self, NULL));
    ck_assert(!accepted("https://example.com.evil.com/", self, NULL));
    ck_assert(!accepted("https://sub.example.com/", self, NULL));
    ck_assert(!accepted("https://example.co/", self, NULL));
    ck_assert(!accepted("https://example.comm/", self, NULL));
    ck_assert(!accepted("http://example.com/", self, NULL));
    ck_assert(!accepted("https://example.com:8443/", self, NULL));
    ck_assert(!accepted("https://example.com./", self, NULL));
    /* default ports are equivalent, both ways */
    ck_assert(accepted("http://h/x", "http://h:80", NULL));
    ck_assert(accepted("http://h:80/x", "http://h", NULL));
    ck_assert(!accepted("http://h:8080/x", "http://h", NULL));
    /* an origin with a trailing slash is still an origin */
    ck_assert(accepted("https://example.com/x", "https://example.com/",
                       NULL));
}
END_TEST

START_TEST(allow_list)
{
    const char *self = "https://rp.example.com";

    ck_assert(accepted("https://portal.example.org/a", self,
                       "https://portal.example.org"));
    ck_assert(!accepted("https://portal.example.org.evil.com/", self,
                        "https://portal.example.org"));
    ck_assert(!accepted("https://evil.portal.example.org/", self,
                        "https://portal.example.org"));
    ck_assert(!accepted("http://portal.example.org/", self,
                        "https://portal.example.org"));
    ck_assert(!accepted("https://portal.example.org:444/", self,
                        "https://portal.example.org"));
    ck_assert(accepted("https://portal.example.org:444/", self,
                       "https://portal.example.org:444"));
    /* malformed allow-list entries match nothing */
    ck_assert(!accepted("https://portal.example.org/", self,
                        "portal.example.org"));
    ck_assert(!accepted("https://portal.example.org/", self,
                        "https://portal.example.org/path"));
    ck_assert(!accepted("https://portal.example.org/", self,
                        "https://x@portal.example.org"));
    ck_assert(!accepted("https://portal.example.org/", self,
                        "javascript://portal.example.org"));
    ck_assert(!accepted("https://portal.example.org/", self, ""));
    /* NULL entries and a bad self origin: absolute targets refused, local
     * paths still fine */
    ck_assert(!accepted("https://rp.example.com/", "rp.example.com", NULL));
    ck_assert(!accepted("https://rp.example.com/", NULL, NULL));
    ck_assert(accepted("/x", "not an origin", NULL));
}
END_TEST

START_TEST(edge_inputs)
{
    const char *out = "unchanged";
    const cis2_err_t *err = NULL;
    char *big = apr_palloc(g_pool, CIS2_MAX_URL + 2);

    ck_assert_int_ne(cis2_url_check_redirect(&out, NULL, "http://h", NULL,
                                             &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_url_check_redirect(&out, "", "http://h", NULL,
                                             &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(out, "unchanged");
    /* CIS2_MAX_URL is fine, one more byte is not */
    big[0] = '/';
    memset(big + 1, 'a', CIS2_MAX_URL - 1);
    big[CIS2_MAX_URL] = '\0';
    ck_assert_int_eq(cis2_url_check_redirect(&out, big, "http://h", NULL,
                                             &err, g_pool), APR_SUCCESS);
    big[CIS2_MAX_URL] = 'a';
    big[CIS2_MAX_URL + 1] = '\0';
    ck_assert_int_ne(cis2_url_check_redirect(&out, big, "http://h", NULL,
                                             &err, g_pool), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err->detail, "too long"));
    /* perr may be NULL */
    ck_assert_int_ne(cis2_url_check_redirect(&out, "//x", "http://h", NULL,
                                             NULL, g_pool), APR_SUCCESS);
}
END_TEST

START_TEST(details_name_the_rule)
{
    static const struct {
        const char *target, *rule;
    } cases[] = {
        { "//evil.com", "'//'" },
        { "/\\evil.com", "backslash" },
        { "\\evil.com", "backslash" },
        { "/\t/evil.com", "control character" },
        { "/%0a/x", "control character" },
        { "/%2f%2fevil.com", "percent-encoded '//'" },
        { "javascript:alert(1)", "scheme" },
        { "https:evil.com", "'//'" },
        { "http://127.0.0.1:8080@evil.com", "userinfo" },
        { "http://evil.com", "origin" },
        { "evil.com", "neither" },
        { "/x/../y", "dot segment" },
        { "/%zz", "malformed percent" },
        { "/\xc3\xa9", "non-ASCII" },
        { "/%c0%af", "overlong" },
        { "/%252525252fx", "too many times" },
        { "http://evil%2ecom", "percent-encoded host" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *out;
        const cis2_err_t *err = NULL;

        ck_assert_int_ne(cis2_url_check_redirect(&out, cases[i].target,
                                                 "http://127.0.0.1:8080",
                                                 NULL, &err, g_pool),
                         APR_SUCCESS);
        ck_assert_msg(strstr(err->detail, cases[i].rule) != NULL,
                      "case %d: detail '%s' lacks '%s'", (int)i, err->detail,
                      cases[i].rule);
    }
}
END_TEST

/* ---- configuration URLs -------------------------------------------------- */

START_TEST(parse_absolute_good)
{
    cis2_url_t *u = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_url_parse_absolute(&u,
                     "http://127.0.0.1:8080/cis2/callback", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(u->scheme, "http");
    ck_assert_str_eq(u->host, "127.0.0.1");
    ck_assert_int_eq(u->port, 8080);
    ck_assert_str_eq(u->path, "/cis2/callback");
    ck_assert_ptr_null(u->query);
    ck_assert_str_eq(u->origin, "http://127.0.0.1:8080");

    ck_assert_int_eq(cis2_url_parse_absolute(&u,
                     "HTTPS://RP.Example.COM/cb?x=1&y=%2F", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(u->scheme, "https");
    ck_assert_str_eq(u->host, "rp.example.com");
    ck_assert_int_eq(u->port, 443);
    ck_assert_str_eq(u->path, "/cb");
    ck_assert_str_eq(u->query, "x=1&y=%2F");
    ck_assert_str_eq(u->origin, "https://rp.example.com");

    ck_assert_int_eq(cis2_url_parse_absolute(&u, "https://rp.example.com:443",
                                             &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(u->path, "/");
    ck_assert_str_eq(u->origin, "https://rp.example.com");

    ck_assert_int_eq(cis2_url_parse_absolute(&u, "http://h:443/", &err,
                                             g_pool), APR_SUCCESS);
    ck_assert_str_eq(u->origin, "http://h:443");

    ck_assert_int_eq(cis2_url_parse_absolute(&u, "http://[::1]:8080/x", &err,
                                             g_pool), APR_SUCCESS);
    ck_assert_str_eq(u->host, "[::1]");
    ck_assert_int_eq(u->port, 8080);
    ck_assert_str_eq(u->origin, "http://[::1]:8080");

    ck_assert_int_eq(cis2_url_parse_absolute(&u, "https://h/?", &err,
                                             g_pool), APR_SUCCESS);
    ck_assert_str_eq(u->path, "/");
    ck_assert_str_eq(u->query, "");

    ck_assert_int_eq(cis2_url_parse_absolute(&u, "https://h?a=b", &err,
                                             g_pool), APR_SUCCESS);
    ck_assert_str_eq(u->path, "/");
    ck_assert_str_eq(u->query, "a=b");
}
END_TEST

static const char *const bad_config_urls[] = {
    "",
    "ftp://h/",
    "javascript://h/",
    "http://u@h/",
    "http://u:p@h/",
    "http://h/#frag",
    "http://h/ x",
    "http://h/\\x",
    "http://h\\x/",
    "http://h\t/",
    "http://h/\n",
    "//h/",
    "/x",
    "h/x",
    "http:/h",
    "http:h",
    "http:///x",
    "http://",
    "http://:80/",
    "http://h:0/",
    "http://h:65536/",
    "http://h:/",
    "http://h:8o/",
    "http://h%2e/",
    "http://\xc3\xa9.example/",
    "http://h/\xc3\xa9",
    "http://h/%",
    "http://[::1/",
    "http://[]/",
    "http://h h/",
};

START_TEST(parse_absolute_bad)
{
    cis2_url_t *u = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_url_parse_absolute(&u, bad_config_urls[_i], &err,
                                          g_pool) != APR_SUCCESS,
                  "accepted %s", bad_config_urls[_i]);
    ck_assert_ptr_null(u);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
}
END_TEST

START_TEST(parse_absolute_null_and_long)
{
    cis2_url_t *u = NULL;
    const cis2_err_t *err = NULL;
    char *big = apr_palloc(g_pool, CIS2_MAX_URL + 64);

    ck_assert_int_ne(cis2_url_parse_absolute(&u, NULL, &err, g_pool),
                     APR_SUCCESS);
    memcpy(big, "http://h/", 9);
    memset(big + 9, 'a', CIS2_MAX_URL);
    big[CIS2_MAX_URL + 9] = '\0';
    ck_assert_int_ne(cis2_url_parse_absolute(&u, big, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(u);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("url");
    TCase *tc;

    tc = tcase_create("corpus");
    cis2_test_fixture(tc);
    tcase_add_test(tc, corpus_has_enough_payloads);
    tcase_add_loop_test(tc, every_corpus_line_is_refused, 0,
                        (int)N_ELEMS(selves));
    suite_add_tcase(s, tc);

    tc = tcase_create("redirect");
    cis2_test_fixture(tc);
    tcase_add_loop_test(tc, good_local_targets_are_accepted, 0,
                        (int)N_ELEMS(good_local));
    tcase_add_loop_test(tc, good_absolute_targets_are_accepted, 0,
                        (int)N_ELEMS(good_absolute));
    tcase_add_test(tc, origins_match_exactly);
    tcase_add_test(tc, allow_list);
    tcase_add_test(tc, edge_inputs);
    tcase_add_test(tc, details_name_the_rule);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    cis2_test_fixture(tc);
    tcase_add_test(tc, parse_absolute_good);
    tcase_add_loop_test(tc, parse_absolute_bad, 0,
                        (int)N_ELEMS(bad_config_urls));
    tcase_add_test(tc, parse_absolute_null_and_long);
    suite_add_tcase(s, tc);
    return s;
}
