/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_cookie — the Cookie-header reader against hostile headers (the
 * CVE-2023-28625 / CVE-2026-54789 class: no '=', empty names, lone ';',
 * huge counts, very long headers, duplicates, quotes) and the Set-Cookie
 * builder's attributes.
 */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_date.h>

#include "testmain.h"
#include "cis2_cookie.h"

#define NAME "cis2_session"

/* value of NAME in header, "<absent>" when absent, "<err:CODE>" on error */
static const char *get(const char *header, apr_size_t max_len)
{
    const char *v = "sentinel";
    const cis2_err_t *err = NULL;
    /* a malloc'd copy of its own, so valgrind/ASan see any overread */
    char *h = header != NULL ? strdup(header) : NULL;
    apr_status_t rv;

    rv = cis2_cookie_get(&v, h, NAME, max_len, &err, g_pool);
    free(h);
    if (rv != APR_SUCCESS) {
        ck_assert_ptr_nonnull(err);
        return apr_psprintf(g_pool, "<err:%s>", cis2_err_name(err->code));
    }
    return v == NULL ? "<absent>" : v;
}

START_TEST(plain_headers)
{
    ck_assert_str_eq(get(NAME "=abc", 100), "abc");
    ck_assert_str_eq(get("a=1; " NAME "=abc; b=2", 100), "abc");
    ck_assert_str_eq(get("a=1;" NAME "=abc;b=2", 100), "abc");
    ck_assert_str_eq(get("a=1; b=2", 100), "<absent>");
    ck_assert_str_eq(get("", 100), "<absent>");
    ck_assert_str_eq(get(NULL, 100), "<absent>");
    ck_assert_str_eq(get(NAME "=", 100), "");
    ck_assert_str_eq(get(NAME "=a=b", 100), "a=b");
    ck_assert_str_eq(get("  " NAME "  =  abc  ", 100), "abc");
    ck_assert_str_eq(get("\t" NAME "\t=\tabc\t;x=1", 100), "abc");
    /* names are case-sensitive and compared whole */
    ck_assert_str_eq(get("CIS2_SESSION=1", 100), "<absent>");
    ck_assert_str_eq(get("x" NAME "=1; " NAME "_x=2; " NAME "x=3", 100),
                     "<absent>");
    ck_assert_str_eq(get("x" NAME "=1; " NAME "=ok", 100), "ok");
}
END_TEST

START_TEST(pairs_without_equals_or_name)
{
    ck_assert_str_eq(get(NAME, 100), "<absent>");
    ck_assert_str_eq(get(NAME "; " NAME "=abc", 100), "abc");
    ck_assert_str_eq(get("foo", 100), "<absent>");
    ck_assert_str_eq(get("foo; bar; baz", 100), "<absent>");
    ck_assert_str_eq(get("=abc", 100), "<absent>");
    ck_assert_str_eq(get("=abc; =; " NAME "=x", 100), "x");
    ck_assert_str_eq(get(" = ; =" NAME "; " NAME "=x", 100), "x");
    ck_assert_str_eq(get("==", 100), "<absent>");
    ck_assert_str_eq(get("=", 100), "<absent>");
}
END_TEST

START_TEST(lone_semicolons)
{
    ck_assert_str_eq(get(";", 100), "<absent>");
    ck_assert_str_eq(get(";;;;", 100), "<absent>");
    ck_assert_str_eq(get(" ; ; ; ", 100), "<absent>");
    ck_assert_str_eq(get("; " NAME "=x;", 100), "x");
    ck_assert_str_eq(get(";;" NAME "=x;;", 100), "x");
    ck_assert_str_eq(get(NAME "=x;", 100), "x");
    ck_assert_str_eq(get(NAME "=;", 100), "");
}
END_TEST

START_TEST(huge_counts)
{
    apr_size_t n = CIS2_MAX_COOKIES - 1, i;
    char *h, *o;

    /* CIS2_MAX_COOKIES - 1 other pairs, then ours: found */
    h = o = apr_palloc(g_pool, (n + 1) * 8 + 32);
    for (i = 0; i < n; i++) {
        memcpy(o, "a=1; ", 5);
        o += 5;
    }
    memcpy(o, NAME "=x", sizeof(NAME "=x"));
    ck_assert_str_eq(get(h, 100), "x");

    /* one more pair in front: ours is past the pair cap, so not seen */
    h = apr_pstrcat(g_pool, "b=2; ", h, NULL);
    ck_assert_str_eq(get(h, 100), "<absent>");

    /* 100000 empty pairs: bounded by the header cap, no error */
    h = apr_palloc(g_pool, 100001);
    memset(h, ';', 100000);
    h[100000] = '\0';
    ck_assert_str_eq(get(h, 100), "<absent>");

    /* many pairs without '=' */
    for (i = 0; i < 100000; i++) {
        h[i] = (i % 2) ? ';' : 'a';
    }
    ck_assert_str_eq(get(h, 100), "<absent>");
}
END_TEST

START_TEST(very_long_headers)
{
    apr_size_t big = 4 * 1024 * 1024;
    char *h = apr_palloc(g_pool, big + 64);

    /* 4 MB of one giant value, no ';' at all */
    memcpy(h, "a=", 2);
    memset(h + 2, 'x', big);
    h[big + 2] = '\0';
    ck_assert_str_eq(get(h, 100), "<absent>");

    /* our cookie straddles the scan limit: dropped, never cut short */
    memset(h, 'x', CIS2_MAX_COOKIE_HEADER);
    memcpy(h, "a=", 2);
    h[CIS2_MAX_COOKIE_HEADER - 20] = ';';
    memcpy(h + CIS2_MAX_COOKIE_HEADER - 19, NAME "=", sizeof(NAME));
    memset(h + CIS2_MAX_COOKIE_HEADER - 19 + sizeof(NAME), 'v', 64);
    h[CIS2_MAX_COOKIE_HEADER + 64] = '\0';
    ck_assert_str_eq(get(h, 100), "<absent>");

    /* our cookie early in a long header: found */
    h = apr_pstrcat(g_pool, NAME "=early; ", h, NULL);
    ck_assert_str_eq(get(h, 100), "early");

    /* exactly at the limit and ending with our cookie: found whole */
    memset(h, 'x', CIS2_MAX_COOKIE_HEADER);
    memcpy(h, "a=", 2);
    h[CIS2_MAX_COOKIE_HEADER - 20] = ';';
    memcpy(h + CIS2_MAX_COOKIE_HEADER - 19, NAME "=", sizeof(NAME));
    memset(h + CIS2_MAX_COOKIE_HEADER - 19 + sizeof(NAME), 'v',
           19 - sizeof(NAME));
    h[CIS2_MAX_COOKIE_HEADER] = '\0';
    ck_assert_int_eq(strlen(get(h, 100)), 19 - sizeof(NAME));
}
END_TEST

START_TEST(duplicates)
{
    ck_assert_str_eq(get(NAME "=x; " NAME "=x", 100), "x");
    ck_assert_str_eq(get(NAME "=x; " NAME "=\"x\"", 100), "x");
    ck_assert_str_eq(get(NAME "=x; " NAME "=y", 100), "<err:duplicate>");
    ck_assert_str_eq(get(NAME "=x; a=1; " NAME "=", 100), "<err:duplicate>");
    ck_assert_str_eq(get(NAME "=x;" NAME "=x;" NAME "=z", 100),
                     "<err:duplicate>");
    ck_assert_str_eq(get(NAME "=x; " NAME "=xx", 100), "<err:duplicate>");
}
END_TEST

START_TEST(quoted_values)
{
    ck_assert_str_eq(get(NAME "=\"abc\"", 100), "abc");
    ck_assert_str_eq(get(NAME "= \"abc\" ", 100), "abc");
    ck_assert_str_eq(get(NAME "=\"\"", 100), "");
    ck_assert_str_eq(get(NAME "=\"", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=\"abc", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=abc\"", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=\"a b\"", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=a\"b", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=\"\"abc\"\"", 100), "<err:invalid>");
    /* a ';' inside quotes still ends the pair (RFC 6265 has no escapes) */
    ck_assert_str_eq(get(NAME "=\"a;b\"", 100), "<err:invalid>");
}
END_TEST

START_TEST(value_octets_and_length)
{
    char *v = apr_palloc(g_pool, 200);

    ck_assert_str_eq(get(NAME "=a,b", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=a\\b", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=a b", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=a\x01" "b", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=a\x7f" "b", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=\xc3\xa9", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=a\rb", 100), "<err:invalid>");
    ck_assert_str_eq(get(NAME "=Az09-_.~!#$%&'()*+/:<=>?@[]^`{|}", 100),
                     "Az09-_.~!#$%&'()*+/:<=>?@[]^`{|}");
    /* other cookies may hold anything: only ours is validated */
    ck_assert_str_eq(get("junk=\x01\x02\xff \"; " NAME "=ok", 100), "ok");

    memset(v, 'a', 50);
    v[50] = '\0';
    ck_assert_str_eq(get(apr_pstrcat(g_pool, NAME "=", v, NULL), 50), v);
    ck_assert_str_eq(get(apr_pstrcat(g_pool, NAME "=\"", v, "\"", NULL), 50),
                     v);
    v[50] = 'a';
    v[51] = '\0';
    ck_assert_str_eq(get(apr_pstrcat(g_pool, NAME "=", v, NULL), 50),
                     "<err:invalid>");
}
END_TEST

START_TEST(bad_name_argument)
{
    const char *v;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_cookie_get(&v, "a=1", NULL, 10, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_cookie_get(&v, "=1", "", 10, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

/* ---- Set-Cookie ---------------------------------------------------------- */

START_TEST(make_defaults)
{
    ck_assert_str_eq(cis2_cookie_make(g_pool, "n", "v", NULL),
                     "n=v; Path=/; HttpOnly; SameSite=Lax");
    {
        cis2_cookie_attrs_t a = { NULL, NULL, NULL, 0, -1 };

        ck_assert_str_eq(cis2_cookie_make(g_pool, "n", "v", &a),
                         "n=v; Path=/; HttpOnly; SameSite=Lax");
    }
}
END_TEST

START_TEST(make_all_attributes)
{
    cis2_cookie_attrs_t a = { "/app", "example.com", "Strict", 1, 3600 };
    const char *c = cis2_cookie_make(g_pool, "cis2_session", "abc", &a);
    const char *exp;
    apr_time_t t;

    ck_assert_msg(strncmp(c, "cis2_session=abc; Path=/app; Domain=example.com; "
                          "Max-Age=3600; Expires=", 70) == 0, "%s", c);
    ck_assert_ptr_nonnull(strstr(c, "; HttpOnly; Secure; SameSite=Strict"));
    exp = strstr(c, "Expires=") + 8;
    exp = apr_pstrndup(g_pool, exp, (apr_size_t)(strchr(exp, ';') - exp));
    ck_assert_int_eq(strlen(exp), APR_RFC822_DATE_LEN - 1);
    ck_assert_ptr_nonnull(strstr(exp, " GMT"));
    t = apr_date_parse_rfc(exp);
    ck_assert_int_ne(t, APR_DATE_BAD);
    ck_assert_int_le(llabs((long long)(apr_time_sec(t) - apr_time_sec(
                     apr_time_now()) - 3600)), 5);
}
END_TEST

START_TEST(make_delete_and_caps)
{
    cis2_cookie_attrs_t a = { NULL, NULL, "none", 1, 0 };
    const char *c = cis2_cookie_make(g_pool, "n", "", &a);

    ck_assert_str_eq(c, "n=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                     "00:00:00 GMT; HttpOnly; Secure; SameSite=None");
    a.same_site = "bogus";
    a.max_age = APR_INT64_MAX;
    c = cis2_cookie_make(g_pool, "n", "v", &a);
    ck_assert_ptr_nonnull(strstr(c, "Max-Age=34560000;"));
    ck_assert_ptr_nonnull(strstr(c, "SameSite=Lax"));
    a.same_site = "strict";
    a.max_age = -5;
    a.secure = 0;
    c = cis2_cookie_make(g_pool, "n", "v", &a);
    ck_assert_str_eq(c, "n=v; Path=/; HttpOnly; SameSite=Strict");
    ck_assert_str_eq(cis2_cookie_make(g_pool, "n", NULL, NULL),
                     "n=; Path=/; HttpOnly; SameSite=Lax");
}
END_TEST

START_TEST(made_cookie_reads_back)
{
    const char *c = cis2_cookie_make(g_pool, NAME, "tok-EN_123", NULL);
    const char *v;
    char *hdr = apr_pstrndup(g_pool, c, (apr_size_t)(strchr(c, ';') - c));

    ck_assert_int_eq(cis2_cookie_get(&v, hdr, NAME, 64, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(v, "tok-EN_123");
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("cookie");
    TCase *tc;

    tc = tcase_create("get");
    cis2_test_fixture(tc);
    tcase_add_test(tc, plain_headers);
    tcase_add_test(tc, pairs_without_equals_or_name);
    tcase_add_test(tc, lone_semicolons);
    tcase_add_test(tc, huge_counts);
    tcase_add_test(tc, very_long_headers);
    tcase_add_test(tc, duplicates);
    tcase_add_test(tc, quoted_values);
    tcase_add_test(tc, value_octets_and_length);
    tcase_add_test(tc, bad_name_argument);
    suite_add_tcase(s, tc);

    tc = tcase_create("make");
    cis2_test_fixture(tc);
    tcase_add_test(tc, make_defaults);
    tcase_add_test(tc, make_all_attributes);
    tcase_add_test(tc, make_delete_and_caps);
    tcase_add_test(tc, made_cookie_reads_back);
    suite_add_tcase(s, tc);
    return s;
}
