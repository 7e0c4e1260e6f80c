/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_util — base64url (RFC 4648 vectors, alphabet, padding, trailing
 * bits), constant-time comparison, form parsing (empty pairs, no '=',
 * duplicates, encoded NUL, size and field caps), durations and sizes
 * (overflow), HTML escaping, random tokens, error records.
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>

#include "testmain.h"
#include "cis2_util.h"

/* ---- base64url ----------------------------------------------------------- */

static const char *b64(const char *s)
{
    return cis2_b64url_encode(g_pool, (const unsigned char *)s, strlen(s));
}

/* decoded text, or NULL when refused */
static const char *unb64(const char *s)
{
    unsigned char *out = NULL;
    apr_size_t n = 0;
    const cis2_err_t *err = NULL;

    if (cis2_b64url_decode(&out, &n, s, strlen(s), &err, g_pool)
        != APR_SUCCESS) {
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(err->code, CIS2_E_INVALID);
        return NULL;
    }
    ck_assert_int_eq(out[n], '\0');
    return (const char *)out;
}

START_TEST(b64url_rfc4648_vectors)
{
    /* RFC 4648 §10, without padding on output */
    ck_assert_str_eq(b64(""), "");
    ck_assert_str_eq(b64("f"), "Zg");
    ck_assert_str_eq(b64("fo"), "Zm8");
    ck_assert_str_eq(b64("foo"), "Zm9v");
    ck_assert_str_eq(b64("foob"), "Zm9vYg");
    ck_assert_str_eq(b64("fooba"), "Zm9vYmE");
    ck_assert_str_eq(b64("foobar"), "Zm9vYmFy");
    ck_assert_str_eq(unb64(""), "");
    ck_assert_str_eq(unb64("Zg"), "f");
    ck_assert_str_eq(unb64("Zg=="), "f");
    ck_assert_str_eq(unb64("Zm8"), "fo");
    ck_assert_str_eq(unb64("Zm8="), "fo");
    ck_assert_str_eq(unb64("Zm9v"), "foo");
    ck_assert_str_eq(unb64("Zm9vYg"), "foob");
    ck_assert_str_eq(unb64("Zm9vYmE="), "fooba");
    ck_assert_str_eq(unb64("Zm9vYmFy"), "foobar");
    /* the URL-safe alphabet: 0xfb 0xff -> "-_8" */
    ck_assert_str_eq(b64("\xfb\xff"), "-_8");
    ck_assert_str_eq(unb64("-_8"), "\xfb\xff");
}
END_TEST

START_TEST(b64url_refusals)
{
    /* standard-alphabet and foreign characters */
    ck_assert_ptr_null(unb64("+/8"));
    ck_assert_ptr_null(unb64("Zm9v+g"));
    ck_assert_ptr_null(unb64("Zm9v/g"));
    ck_assert_ptr_null(unb64("Zm 9v"));
    ck_assert_ptr_null(unb64("Zm9v\n"));
    ck_assert_ptr_null(unb64("Zm.v"));
    ck_assert_ptr_null(unb64("Zm9v\xc3\xa9"));
    /* padding in the wrong place or amount */
    ck_assert_ptr_null(unb64("Zg="));
    ck_assert_ptr_null(unb64("Zg==="));
    ck_assert_ptr_null(unb64("Z==="));
    ck_assert_ptr_null(unb64("="));
    ck_assert_ptr_null(unb64("=="));
    ck_assert_ptr_null(unb64("===="));
    ck_assert_ptr_null(unb64("Zg==Zg=="));
    ck_assert_ptr_null(unb64("Zm9v="));
    ck_assert_ptr_null(unb64("Z=g="));
    /* impossible lengths */
    ck_assert_ptr_null(unb64("Z"));
    ck_assert_ptr_null(unb64("Zm9vY"));
    /* non-zero trailing bits (non-canonical) */
    ck_assert_ptr_null(unb64("Zh"));
    ck_assert_ptr_null(unb64("Zm9"));
    ck_assert_ptr_null(unb64("Zh=="));
    ck_assert_str_eq(unb64("Zm8"), "fo");
}
END_TEST

START_TEST(b64url_binary_round_trip)
{
    unsigned char buf[300];
    apr_size_t n, i;

    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(i * 7 + 3);
    }
    for (n = 0; n <= sizeof(buf); n++) {
        const char *e = cis2_b64url_encode(g_pool, buf, n);
        unsigned char *d;
        apr_size_t dn;

        ck_assert_int_eq(strlen(e), (n * 4 + 2) / 3);
        ck_assert_int_eq(cis2_b64url_decode(&d, &dn, e, strlen(e), NULL,
                                            g_pool), APR_SUCCESS);
        ck_assert_int_eq(dn, n);
        ck_assert(memcmp(d, buf, n) == 0);
    }
}
END_TEST

/* ---- comparison, hashing ------------------------------------------------- */

START_TEST(ct_compare)
{
    ck_assert(cis2_ct_equal("abc", 3, "abc", 3));
    ck_assert(!cis2_ct_equal("abc", 3, "abd", 3));
    ck_assert(!cis2_ct_equal("abc", 3, "abcd", 4));
    ck_assert(cis2_ct_equal("", 0, "", 0));
    ck_assert(cis2_ct_equal("a\0b", 3, "a\0b", 3));
    ck_assert(!cis2_ct_equal("a\0b", 3, "a\0c", 3));
    ck_assert(cis2_ct_streq("state", "state"));
    ck_assert(!cis2_ct_streq("state", "statf"));
    ck_assert(!cis2_ct_streq("state", "stat"));
    ck_assert(cis2_ct_streq("", ""));
    ck_assert(!cis2_ct_streq(NULL, "a"));
    ck_assert(!cis2_ct_streq("a", NULL));
    ck_assert(!cis2_ct_streq(NULL, NULL));
}
END_TEST

START_TEST(sha256_vector)
{
    unsigned char h[32];

    cis2_sha256(h, "abc", 3);
    ck_assert_str_eq(cis2_b64url_encode(g_pool, h, 32),
                     "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}
END_TEST

/* ---- forms --------------------------------------------------------------- */

static apr_table_t *form(const char *s)
{
    apr_table_t *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_form_parse(&t, s, CIS2_MAX_QUERY, CIS2_MAX_FORM_FIELDS,
                                  &err, g_pool) == APR_SUCCESS,
                  "form refused: %s", err ? err->detail : "?");
    return t;
}

static int form_code(const char *s, apr_size_t max_len, int max_fields)
{
    apr_table_t *t = NULL;
    const cis2_err_t *err = NULL;

    if (cis2_form_parse(&t, s, max_len, max_fields, &err, g_pool)
        == APR_SUCCESS) {
        return CIS2_E_NONE;
    }
    ck_assert_ptr_null(t);
    return err->code;
}

START_TEST(form_parse_basic)
{
    apr_table_t *t = form("code=abc&state=x%2Fy&scope=openid+profile");

    ck_assert_int_eq(apr_table_elts(t)->nelts, 3);
    ck_assert_str_eq(apr_table_get(t, "code"), "abc");
    ck_assert_str_eq(apr_table_get(t, "state"), "x/y");
    ck_assert_str_eq(apr_table_get(t, "scope"), "openid profile");
    t = form("a%3Db=c%26d");
    ck_assert_str_eq(apr_table_get(t, "a=b"), "c&d");
    t = form("a==b");
    ck_assert_str_eq(apr_table_get(t, "a"), "=b");
}
END_TEST

START_TEST(form_parse_empty_pairs)
{
    ck_assert_int_eq(apr_table_elts(form(""))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(form(NULL))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(form("&"))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(form("&&"))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(form("&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&"
                                         "&&&&&&&&&&&&&&&&&&&&&&&&&"))->nelts,
                     0);
    ck_assert_int_eq(apr_table_elts(form("&&a=1&&"))->nelts, 1);
    /* no '=' is a key with an empty value */
    ck_assert_str_eq(apr_table_get(form("a"), "a"), "");
    ck_assert_str_eq(apr_table_get(form("a&b=2"), "a"), "");
    ck_assert_str_eq(apr_table_get(form("=v"), ""), "v");
    ck_assert_str_eq(apr_table_get(form("a="), "a"), "");
}
END_TEST

START_TEST(form_duplicates)
{
    apr_table_t *t = form("state=a&code=c&state=b");
    const char *v = "unchanged";
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_form_get_unique(&v, t, "state", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DUPLICATE);
    ck_assert_str_eq(v, "unchanged");
    ck_assert_int_eq(cis2_form_get_unique(&v, t, "code", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(v, "c");
    ck_assert_int_eq(cis2_form_get_unique(&v, t, "missing", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(v);
    /* same value twice is still a duplicate (RFC 6749 §3.1) */
    t = form("code=c&code=c");
    ck_assert_int_ne(cis2_form_get_unique(&v, t, "code", &err, g_pool),
                     APR_SUCCESS);
    /* parameter names are case-sensitive (RFC 6749 §3.1): Code != code */
    t = form("code=c&Code=d");
    ck_assert_int_eq(cis2_form_get_unique(&v, t, "code", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(v, "c");
    ck_assert_int_eq(cis2_form_get_unique(&v, t, "CODE", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(form_bad_escapes)
{
    ck_assert_int_eq(form_code("a=%00", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("%00=a", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("a=x%00y", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("a=%zz", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("a=%4", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("a=%", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("a=%%41", 100, 10), CIS2_E_INVALID);
    ck_assert_int_eq(form_code("a=%41", 100, 10), CIS2_E_NONE);
    ck_assert_int_eq(form_code("a=%4a%4A", 100, 10), CIS2_E_NONE);
}
END_TEST

START_TEST(form_caps)
{
    char *s = apr_palloc(g_pool, 200);
    int i;

    ck_assert_int_eq(form_code("a=1234567", 9, 10), CIS2_E_NONE);
    ck_assert_int_eq(form_code("a=12345678", 9, 10), CIS2_E_TOO_LARGE);
    s[0] = '\0';
    for (i = 0; i < CIS2_MAX_FORM_FIELDS; i++) {
        s = apr_pstrcat(g_pool, s, i ? "&" : "", "k=v", NULL);
    }
    ck_assert_int_eq(form_code(s, CIS2_MAX_QUERY, CIS2_MAX_FORM_FIELDS),
                     CIS2_E_NONE);
    s = apr_pstrcat(g_pool, s, "&k=v", NULL);
    ck_assert_int_eq(form_code(s, CIS2_MAX_QUERY, CIS2_MAX_FORM_FIELDS),
                     CIS2_E_TOO_LARGE);
    /* empty pairs do not count as fields */
    s = apr_pstrcat(g_pool, "&&&&&&&&&&", s, NULL);
    ck_assert_int_eq(form_code(s, CIS2_MAX_QUERY, CIS2_MAX_FORM_FIELDS + 1),
                     CIS2_E_NONE);
}
END_TEST

START_TEST(form_decode_and_url_encode)
{
    char *out;

    ck_assert_int_eq(cis2_form_decode(&out, "a+b%20c%2B", 10, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "a b c+");
    /* length-bounded: a NUL byte inside the span is refused */
    ck_assert_int_ne(cis2_form_decode(&out, "a\0b", 3, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_form_decode(&out, "abc", 2, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "ab");
    ck_assert_str_eq(cis2_url_encode(g_pool, "a b&c/~-._\xc3\xa9"),
                     "a%20b%26c%2F~-._%C3%A9");
    ck_assert_str_eq(cis2_url_encode(g_pool, ""), "");
}
END_TEST

/* ---- configuration values ------------------------------------------------ */

START_TEST(durations)
{
    static const struct {
        const char *s;
        apr_int64_t sec;
    } good[] = {
        { "900", 900 }, { "90s", 90 }, { "15m", 900 }, { "15min", 900 },
        { "12h", 43200 }, { "1d", 86400 }, { "0", 0 }, { "36500d", 3153600000 },
    };
    static const char *const bad[] = {
        "", "-5", "5x", " 5", "5 ", "1.5h", "h", "5mm", "5H",
        "99999999999999999999", "18446744073709551616", "36501d",
        "3153600001", "+5", "0x10", "5s5",
    };
    apr_interval_time_t t;
    apr_size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(cis2_parse_duration(&t, good[i].s) == APR_SUCCESS,
                      "refused %s", good[i].s);
        ck_assert_int_eq(t, apr_time_from_sec(good[i].sec));
    }
    ck_assert_int_eq(cis2_parse_duration(&t, "250ms"), APR_SUCCESS);
    ck_assert_int_eq(t, 250000);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(cis2_parse_duration(&t, bad[i]) != APR_SUCCESS,
                      "accepted %s", bad[i]);
    }
    ck_assert_int_ne(cis2_parse_duration(&t, NULL), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_duration(&t, "9223372036854775807ms"),
                     APR_SUCCESS);
}
END_TEST

START_TEST(sizes)
{
    apr_size_t n;

    ck_assert_int_eq(cis2_parse_size(&n, "65536"), APR_SUCCESS);
    ck_assert_int_eq(n, 65536);
    ck_assert_int_eq(cis2_parse_size(&n, "512K"), APR_SUCCESS);
    ck_assert_int_eq(n, 512 * 1024);
    ck_assert_int_eq(cis2_parse_size(&n, "64M"), APR_SUCCESS);
    ck_assert_int_eq(n, 64 * 1024 * 1024);
    ck_assert_int_eq(cis2_parse_size(&n, "1G"), APR_SUCCESS);
    ck_assert_int_eq(n, 1024 * 1024 * 1024);
    ck_assert_int_eq(cis2_parse_size(&n, "2g"), APR_SUCCESS);
    ck_assert_int_eq(n, (apr_size_t)2 * 1024 * 1024 * 1024);
    ck_assert_int_ne(cis2_parse_size(&n, ""), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, NULL), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "1T"), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "-1"), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "1KB"), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "1 K"), APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "18446744073709551616"),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "18446744073709551615G"),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_parse_size(&n, "17179869184G"), APR_SUCCESS);
}
END_TEST

/* ---- html, ctl, random, errors ------------------------------------------- */

START_TEST(html_escape)
{
    ck_assert_str_eq(cis2_html_escape(g_pool, "<a href=\"x\">'&'</a>"),
                     "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    ck_assert_str_eq(cis2_html_escape(g_pool, "plain text"), "plain text");
    ck_assert_str_eq(cis2_html_escape(g_pool, ""), "");
    ck_assert_str_eq(cis2_html_escape(g_pool, NULL), "");
    ck_assert_str_eq(cis2_html_escape(g_pool, "&amp;"), "&amp;amp;");
}
END_TEST

START_TEST(has_ctl)
{
    ck_assert(!cis2_has_ctl("abc ~", 5));
    ck_assert(cis2_has_ctl("a\tb", 3));
    ck_assert(cis2_has_ctl("a\nb", 3));
    ck_assert(cis2_has_ctl("a\0b", 3));
    ck_assert(cis2_has_ctl("a\x7f", 2));
    ck_assert(!cis2_has_ctl("\xc3\xa9", 2));
    ck_assert(!cis2_has_ctl("a\nb", 1));
}
END_TEST

START_TEST(random_tokens)
{
    apr_hash_t *seen = apr_hash_make(g_pool);
    const char *t, *c;
    int i;

    for (i = 0; i < 2000; i++) {
        t = cis2_random_token(g_pool, CIS2_RANDOM_BYTES);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(strlen(t), 43);
        for (c = t; *c; c++) {
            ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                             "wxyz0123456789-_", *c) != NULL);
        }
        ck_assert_ptr_null(apr_hash_get(seen, t, APR_HASH_KEY_STRING));
        apr_hash_set(seen, t, APR_HASH_KEY_STRING, t);
    }
    ck_assert_int_eq(strlen(cis2_random_token(g_pool, 1)), 2);
    ck_assert_int_eq(strlen(cis2_random_token(g_pool, 64)), 86);
    ck_assert_ptr_null(cis2_random_token(g_pool, 0));
    ck_assert_ptr_null(cis2_random_token(g_pool, 65));
    /* several from one draw: each its own, none repeated */
    for (i = 0; i < 500; i++) {
        const char *four[4];
        int j;

        ck_assert_int_eq(cis2_random_tokens(four, 4, CIS2_RANDOM_BYTES,
                                            g_pool), APR_SUCCESS);
        for (j = 0; j < 4; j++) {
            ck_assert_int_eq(strlen(four[j]), 43);
            ck_assert_ptr_null(apr_hash_get(seen, four[j],
                                            APR_HASH_KEY_STRING));
            apr_hash_set(seen, four[j], APR_HASH_KEY_STRING, four[j]);
        }
    }
    {
        const char *one[9];

        ck_assert_int_eq(cis2_random_tokens(one, 8, 32, g_pool), APR_SUCCESS);
        ck_assert_int_eq(cis2_random_tokens(one, 9, 32, g_pool), APR_EINVAL);
        ck_assert_int_eq(cis2_random_tokens(one, 0, 32, g_pool), APR_EINVAL);
        ck_assert_int_eq(cis2_random_tokens(one, 1, 0, g_pool), APR_EINVAL);
        ck_assert_int_eq(cis2_random_tokens(one, 1, 257, g_pool),
                         APR_EINVAL);
    }
    for (i = 0; i < 200; i++) {
        t = cis2_random_ref(g_pool);
        ck_assert_int_eq(strlen(t), 8);
        for (c = t; *c; c++) {
            ck_assert(strchr("23456789ABCDEFGHJKLMNPQRSTUVWXYZ", *c) != NULL);
        }
    }
}
END_TEST

START_TEST(error_records)
{
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_err_set(&err, g_pool, CIS2_E_EXPIRED, "x=%d", 5),
                     APR_EGENERAL);
    ck_assert_int_eq(err->code, CIS2_E_EXPIRED);
    ck_assert_str_eq(err->detail, "x=5");
    ck_assert_int_eq(cis2_err_set(NULL, g_pool, CIS2_E_EXPIRED, "x"),
                     APR_EGENERAL);
    ck_assert_str_eq(cis2_err_name(CIS2_E_EXPIRED), "expired");
    ck_assert_str_eq(cis2_err_name(CIS2_E_DUPLICATE), "duplicate");
    ck_assert_str_eq(cis2_err_name(-1), "unknown");
    ck_assert_str_eq(cis2_err_name(CIS2_E__COUNT), "unknown");
    {
        int i;

        for (i = 0; i < CIS2_E__COUNT; i++) {
            ck_assert_str_ne(cis2_err_name(i), "unknown");
        }
    }
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc;

    tc = tcase_create("b64url");
    cis2_test_fixture(tc);
    tcase_add_test(tc, b64url_rfc4648_vectors);
    tcase_add_test(tc, b64url_refusals);
    tcase_add_test(tc, b64url_binary_round_trip);
    tcase_add_test(tc, ct_compare);
    tcase_add_test(tc, sha256_vector);
    suite_add_tcase(s, tc);

    tc = tcase_create("forms");
    cis2_test_fixture(tc);
    tcase_add_test(tc, form_parse_basic);
    tcase_add_test(tc, form_parse_empty_pairs);
    tcase_add_test(tc, form_duplicates);
    tcase_add_test(tc, form_bad_escapes);
    tcase_add_test(tc, form_caps);
    tcase_add_test(tc, form_decode_and_url_encode);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    cis2_test_fixture(tc);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, sizes);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    cis2_test_fixture(tc);
    tcase_add_test(tc, html_escape);
    tcase_add_test(tc, has_ctl);
    tcase_add_test(tc, random_tokens);
    tcase_add_test(tc, error_records);
    suite_add_tcase(s, tc);
    return s;
}
