/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_json — bounded parsing of untrusted JSON (depth bombs, duplicate
 * keys, NUL in strings, non-objects, size cap), NumericDate (1e300,
 * negatives, 2^40), CIS2's string-or-integer members, dumping, and the pool
 * ownership of jansson values.
 */
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "cis2_json.h"

/* error code of parsing text, CIS2_E_NONE on success */
static int parse_code(const char *text, apr_size_t len, apr_size_t max)
{
    json_t *j = NULL;
    const cis2_err_t *err = NULL;

    if (cis2_json_parse_object(&j, text, len, max, &err, g_pool)
        == APR_SUCCESS) {
        ck_assert(json_is_object(j));
        return CIS2_E_NONE;
    }
    ck_assert_ptr_null(j);
    ck_assert_ptr_nonnull(err);
    return err->code;
}

static int pc(const char *text)
{
    return parse_code(text, strlen(text), CIS2_MAX_HTTP_BODY);
}

static json_t *obj(const char *text)
{
    json_t *j = NULL;

    ck_assert_int_eq(cis2_json_parse_object(&j, text, strlen(text),
                                            CIS2_MAX_HTTP_BODY, NULL, g_pool),
                     APR_SUCCESS);
    return j;
}

/* {"a": [[[...]]]} with `depth` levels in total (the object counts) */
static const char *nested(int depth, char open, char close)
{
    /* per level: an opener, a closer and, for objects, "\"a\":" */
    char *s = apr_palloc(g_pool, (apr_size_t)depth * 6 + 16);
    char *o = s;
    int i;

    memcpy(o, "{\"a\":", 5);
    o += 5;
    for (i = 1; i < depth; i++) {
        *o++ = open;
        if (open == '{') {
            /* objects need keys: {"a":{"a":...}} */
            memcpy(o, "\"a\":", 4);
            o += 4;
        }
    }
    *o++ = '1';
    for (i = 1; i < depth; i++) {
        *o++ = close;
    }
    *o++ = '}';
    *o = '\0';
    return s;
}

START_TEST(depth_bombs)
{
    char *bomb;

    ck_assert_int_eq(pc(nested(CIS2_MAX_JSON_DEPTH, '[', ']')), CIS2_E_NONE);
    ck_assert_int_eq(pc(nested(CIS2_MAX_JSON_DEPTH + 1, '[', ']')),
                     CIS2_E_JSON);
    ck_assert_int_eq(pc(nested(CIS2_MAX_JSON_DEPTH + 1, '{', '}')),
                     CIS2_E_JSON);
    /* 1 MB of '[' is refused by the pre-scan before jansson recurses */
    bomb = apr_palloc(g_pool, 1024 * 1024 + 1);
    bomb[0] = '{';
    memset(bomb + 1, '[', 1024 * 1024 - 1);
    bomb[1024 * 1024] = '\0';
    ck_assert_int_eq(pc(bomb), CIS2_E_JSON);
    /* brackets inside strings (and after escaped quotes) do not count */
    ck_assert_int_eq(pc(apr_pstrcat(g_pool, "{\"a\":\"",
                                    nested(100, '[', ']') + 5, "\"}", NULL)),
                     CIS2_E_NONE);
    ck_assert_int_eq(pc("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}"),
                     CIS2_E_NONE);
    ck_assert_int_eq(pc("{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}"),
                     CIS2_E_NONE);
    ck_assert_int_eq(pc("{\"a\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\":1}"),
                     CIS2_E_NONE);
}
END_TEST

START_TEST(duplicates_nul_shapes)
{
    ck_assert_int_eq(pc("{\"a\":1,\"a\":2}"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{\"a\":{\"b\":1,\"b\":1}}"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{\"a\":1,\"A\":2}"), CIS2_E_NONE);
    /* NUL: escaped and raw */
    ck_assert_int_eq(pc("{\"a\":\"x\\u0000y\"}"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{\"a\\u0000\":1}"), CIS2_E_JSON);
    ck_assert_int_eq(parse_code("{\"a\":\"x\0y\"}", 11, 100), CIS2_E_JSON);
    ck_assert_int_eq(parse_code("{\"a\":1}\0", 8, 100), CIS2_E_JSON);
    /* raw control character inside a string */
    ck_assert_int_eq(pc("{\"a\":\"x\ny\"}"), CIS2_E_JSON);
    /* not an object */
    ck_assert_int_eq(pc("[1,2]"), CIS2_E_JSON);
    ck_assert_int_eq(pc("\"x\""), CIS2_E_JSON);
    ck_assert_int_eq(pc("1"), CIS2_E_JSON);
    ck_assert_int_eq(pc("null"), CIS2_E_JSON);
    ck_assert_int_eq(pc("true"), CIS2_E_JSON);
    /* not JSON */
    ck_assert_int_eq(pc(""), CIS2_E_JSON);
    ck_assert_int_eq(pc("{"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{} x"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{}{}"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{'a':1}"), CIS2_E_JSON);
    ck_assert_int_eq(pc("{\"a\":\"\xff\"}"), CIS2_E_JSON);
    ck_assert_int_eq(pc("]]]]]]]]]]{}"), CIS2_E_JSON);
    ck_assert_int_eq(parse_code(NULL, 0, 100), CIS2_E_JSON);
    /* size cap, and a length that stops short of the NUL */
    ck_assert_int_eq(parse_code("{\"a\":1}", 7, 7), CIS2_E_NONE);
    ck_assert_int_eq(parse_code("{\"a\":1}", 7, 6), CIS2_E_TOO_LARGE);
    ck_assert_int_eq(parse_code("{\"a\":1}garbage", 7, 100), CIS2_E_NONE);
    ck_assert_int_eq(pc(" \n{ \"a\" : 1 }\n "), CIS2_E_NONE);
}
END_TEST

START_TEST(numeric_dates)
{
    json_t *j = obj("{\"i\":1750528600,\"r\":1750528600.9,\"big\":1e300,"
                    "\"neg\":-1,\"negr\":-1.5,\"zero\":0,"
                    "\"edge\":1099511627775,\"over\":1099511627776,"
                    "\"overr\":1099511627776.0,\"s\":\"1750528600\","
                    "\"b\":true,\"n\":null,\"huge\":9223372036854775807}");
    apr_int64_t v = 42;

    ck_assert(cis2_json_numeric_date(j, "i", &v));
    ck_assert_int_eq(v, 1750528600);
    ck_assert(cis2_json_numeric_date(j, "r", &v));
    ck_assert_int_eq(v, 1750528600);
    ck_assert(cis2_json_numeric_date(j, "zero", &v));
    ck_assert_int_eq(v, 0);
    ck_assert(cis2_json_numeric_date(j, "edge", &v));
    ck_assert_int_eq(v, 1099511627775LL);
    v = 42;
    ck_assert(!cis2_json_numeric_date(j, "big", &v));
    ck_assert(!cis2_json_numeric_date(j, "neg", &v));
    ck_assert(!cis2_json_numeric_date(j, "negr", &v));
    ck_assert(!cis2_json_numeric_date(j, "over", &v));
    ck_assert(!cis2_json_numeric_date(j, "overr", &v));
    ck_assert(!cis2_json_numeric_date(j, "s", &v));
    ck_assert(!cis2_json_numeric_date(j, "b", &v));
    ck_assert(!cis2_json_numeric_date(j, "n", &v));
    ck_assert(!cis2_json_numeric_date(j, "huge", &v));
    ck_assert(!cis2_json_numeric_date(j, "missing", &v));
    ck_assert_int_eq(v, 42);
}
END_TEST

START_TEST(string_or_int)
{
    json_t *j = obj("{\"s\":\"3\",\"i\":3,\"neg\":\"-3\",\"negi\":-3,"
                    "\"plus\":\"+3\",\"frac\":\"3.0\",\"real\":3.0,"
                    "\"empty\":\"\",\"dash\":\"-\",\"sp\":\" 3\","
                    "\"trail\":\"3a\",\"long\":\"12345678901234567890\","
                    "\"max18\":\"999999999999999999\",\"zeros\":\"007\","
                    "\"b\":true,\"arr\":[3],\"hex\":\"0x3\"}");
    apr_int64_t v = 42;

    ck_assert(cis2_json_int(j, "s", &v));
    ck_assert_int_eq(v, 3);
    ck_assert(cis2_json_int(j, "i", &v));
    ck_assert_int_eq(v, 3);
    ck_assert(cis2_json_int(j, "neg", &v));
    ck_assert_int_eq(v, -3);
    ck_assert(cis2_json_int(j, "negi", &v));
    ck_assert_int_eq(v, -3);
    ck_assert(cis2_json_int(j, "max18", &v));
    ck_assert_int_eq(v, 999999999999999999LL);
    ck_assert(cis2_json_int(j, "zeros", &v));
    ck_assert_int_eq(v, 7);
    v = 42;
    ck_assert(!cis2_json_int(j, "plus", &v));
    ck_assert(!cis2_json_int(j, "frac", &v));
    ck_assert(!cis2_json_int(j, "real", &v));
    ck_assert(!cis2_json_int(j, "empty", &v));
    ck_assert(!cis2_json_int(j, "dash", &v));
    ck_assert(!cis2_json_int(j, "sp", &v));
    ck_assert(!cis2_json_int(j, "trail", &v));
    ck_assert(!cis2_json_int(j, "long", &v));
    ck_assert(!cis2_json_int(j, "b", &v));
    ck_assert(!cis2_json_int(j, "arr", &v));
    ck_assert(!cis2_json_int(j, "hex", &v));
    ck_assert(!cis2_json_int(j, "missing", &v));
    ck_assert(!cis2_json_int(NULL, "s", &v));
    ck_assert_int_eq(v, 42);
}
END_TEST

START_TEST(str_and_dump)
{
    json_t *j = obj("{\"a\":\"x\",\"n\":1,\"u\":\"\\u00e9\\n\"}");

    ck_assert_str_eq(cis2_json_str(j, "a"), "x");
    ck_assert_ptr_null(cis2_json_str(j, "n"));
    ck_assert_ptr_null(cis2_json_str(j, "missing"));
    ck_assert_ptr_null(cis2_json_str(NULL, "a"));
    /* compact, insertion order, UTF-8 kept, controls escaped */
    ck_assert_str_eq(cis2_json_dump(g_pool, j),
                     "{\"a\":\"x\",\"n\":1,\"u\":\"\xc3\xa9\\n\"}");
    ck_assert_str_eq(cis2_json_dump(g_pool, json_object_get(j, "n")), "1");
}
END_TEST

START_TEST(pool_owns_references)
{
    json_t *j = json_object();
    apr_pool_t *sub;

    apr_pool_create(&sub, g_pool);
    json_incref(j);                       /* our own reference */
    ck_assert_ptr_eq(cis2_json_own(sub, j), j);
    ck_assert_int_eq((int)j->refcount, 2);
    apr_pool_clear(sub);                  /* the pool's reference is dropped */
    ck_assert_int_eq((int)j->refcount, 1);
    json_decref(j);
    ck_assert_ptr_null(cis2_json_own(sub, NULL));
    apr_pool_destroy(sub);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc;

    tc = tcase_create("parse");
    cis2_test_fixture(tc);
    tcase_add_test(tc, depth_bombs);
    tcase_add_test(tc, duplicates_nul_shapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("getters");
    cis2_test_fixture(tc);
    tcase_add_test(tc, numeric_dates);
    tcase_add_test(tc, string_or_int);
    tcase_add_test(tc, str_and_dump);
    tcase_add_test(tc, pool_owns_references);
    suite_add_tcase(s, tc);
    return s;
}
