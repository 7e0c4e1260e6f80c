/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_json — bounded parsing of untrusted JSON (depth bombs, duplicate
 * keys, NUL in strings, non-objects, size cap), NumericDate (1e300,
 * negatives, 2^40), CIS2's string-or-integer members, dumping, and the pool
 * ownership of jansson values.
 */
#include <stdio.h>
#include <stdlib.h>
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


/* ---- cis2_json_write: byte for byte jansson's compact dump ---------------- */

/* what cis2_claims used before the writer: json_dumps, then DEL escaped */
static const char *reference_text(const json_t *j)
{
    char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    apr_size_t i, n;
    char *out, *o;

    ck_assert_ptr_nonnull(d);
    n = strlen(d);
    out = o = apr_palloc(g_pool, n * 6 + 1);
    for (i = 0; i < n; i++) {
        if (d[i] == 0x7f) {
            memcpy(o, "\\u007f", 6);
            o += 6;
        }
        else {
            *o++ = d[i];
        }
    }
    *o = '\0';
    free(d);
    return out;
}

static void same_as_jansson(const json_t *j)
{
    const char *s;
    apr_size_t len;

    ck_assert_int_eq(cis2_json_write(&s, &len, NULL, j, NULL, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(s, reference_text(j));
    ck_assert_uint_eq(len, strlen(s));
}

START_TEST(write_matches_jansson)
{
    static const char *const docs[] = {
        "{}",
        "{\"a\":[],\"b\":{},\"c\":[{}],\"d\":null,\"t\":true,\"f\":false}",
        "{\"n\":-9223372036854775808,\"m\":9223372036854775807,\"z\":0}",
        "{\"r\":1.5,\"e\":1e300,\"w\":2.0,\"s\":-0.0,\"p\":0.1,\"q\":3e-7}",
        /* every control, quote, backslash, slash, DEL, non-ASCII */
        "{\"c\":\"\\u0001\\u0008\\t\\n\\u000b\\f\\r\\u001f \\\" \\\\ / "
        "\\u007f\\u0080\\u00e9\\u20ac\\ud83d\\ude00\"}",
        "{\"k\\n\\u007f\\\"\":\"key escapes\",\"\\u00e9\":1}",
        "{\"deep\":[[[[[[[[[[\"x\"]]]]]]]]]],\"o\":{\"a\":{\"b\":{\"c\":1}}}}",
        "{\"plain\":\"abcdefghijklmnopqrstuvwxyz0123456789 -_.~!@#$%^&*()\"}",
    };
    static const char *const fixtures[] = {
        "claims-doctor-userinfo.json", "claims-fiveroles-userinfo.json",
        "claims-manyroles-userinfo.json", "claims-doctor-idtoken.json",
        "jwks.json"
    };
    json_t *j, *m;
    apr_size_t i, len;
    const char *text;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        j = obj(docs[i]);
        same_as_jansson(j);
        if (json_object_size(j) > 0) {
            same_as_jansson(json_object_iter_value(json_object_iter(j)));
        }
    }
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        text = cis2_test_slurp(fixtures[i], &len);
        j = obj(text);
        same_as_jansson(j);
    }
    /* member order after an update that replaces and appends (the claims
     * merge), and after deletion from a copy */
    j = obj("{\"b\":1,\"a\":2,\"c\":3}");
    m = cis2_json_own(g_pool, json_object());
    json_object_update(m, j);
    json_object_update(m, obj("{\"a\":\"new\",\"d\":4,\"b\":[1]}"));
    same_as_jansson(m);
    /* scalars at the top level (JSON_ENCODE_ANY) */
    same_as_jansson(cis2_json_own(g_pool, json_string("x\x7fy")));
    same_as_jansson(cis2_json_own(g_pool, json_integer(-42)));
    same_as_jansson(cis2_json_own(g_pool, json_real(123456789.125)));
    same_as_jansson(json_null());
}
END_TEST

/* random trees of every type, compared with jansson's own dump */
static json_t *random_value(unsigned *seed, int depth)
{
    static const char *const strs[] = {
        "", "a", "\x7f", "\n", "\xc3\xa9", "\xe2\x82\xac x", "\\\"/",
        "\xf0\x9f\x98\x80", "role \x01\x1f end", "NHS \xc2\x80"
    };
    int kind = (int)(rand_r(seed) % (depth > 4 ? 6 : 8));
    json_t *v;
    int i, n;

    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(rand_r(seed) % 2);
    case 2: return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
    case 3: return json_real((double)rand_r(seed) / 7.0);
    case 4:
    case 5:
        return json_string(strs[rand_r(seed) % (sizeof(strs)
                                                / sizeof(strs[0]))]);
    case 6:
        v = json_array();
        n = (int)(rand_r(seed) % 5);
        for (i = 0; i < n; i++) {
            json_array_append_new(v, random_value(seed, depth + 1));
        }
        return v;
    default:
        v = json_object();
        n = (int)(rand_r(seed) % 5);
        for (i = 0; i < n; i++) {
            char key[16];

            snprintf(key, sizeof(key), "k%u\x7f", rand_r(seed) % 9);
            json_object_set_new(v, key, random_value(seed, depth + 1));
        }
        return v;
    }
}

START_TEST(write_matches_jansson_random)
{
    unsigned seed = 4;
    int i;

    for (i = 0; i < 2000; i++) {
        json_t *j = cis2_json_own(g_pool, random_value(&seed, 0));

        same_as_jansson(j);
    }
}
END_TEST

START_TEST(write_skip_and_span)
{
    static const char *const skip[] = { "nonce", "sid", NULL };
    json_t *j = obj("{\"nonce\":\"n\",\"sub\":\"1\",\"roles\":[{\"a\":\"b"
                    "\"}],\"sid\":\"s\",\"x\":{\"nonce\":1}}");
    cis2_json_span_t span;
    const char *s;
    apr_size_t len;

    ck_assert_int_eq(cis2_json_write(&s, &len, &span, j, skip, "roles",
                                     g_pool), APR_SUCCESS);
    /* skipped at the top level only, as deleting them from a copy */
    ck_assert_str_eq(s, "{\"sub\":\"1\",\"roles\":[{\"a\":\"b\"}],"
                        "\"x\":{\"nonce\":1}}");
    ck_assert_str_eq(apr_pstrmemdup(g_pool, s + span.off, span.len),
                     cis2_json_dump(g_pool, json_object_get(j, "roles")));
    /* absent member: no span */
    ck_assert_int_eq(cis2_json_write(&s, NULL, &span, j, NULL, "none",
                                     g_pool), APR_SUCCESS);
    ck_assert_uint_eq(span.len, 0);
    /* a non-object has no members */
    ck_assert_int_eq(cis2_json_write(&s, NULL, &span,
                                     json_object_get(j, "roles"), skip,
                                     "roles", g_pool), APR_SUCCESS);
    ck_assert_uint_eq(span.len, 0);
}
END_TEST

START_TEST(write_refuses_what_jansson_cannot_dump)
{
    json_t *j = cis2_json_own(g_pool, json_object());
    json_t *deep = cis2_json_own(g_pool, json_array()), *a = deep;
    const char *s = "untouched";
    int i;

    /* built by code, not parsed: strings jansson would not dump */
    json_object_set_new(j, "bad", json_stringn_nocheck("\xc3(", 2));
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, j, NULL, NULL, g_pool),
                     APR_EINVAL);
    ck_assert_str_eq(s, "untouched");
    ck_assert_ptr_null(json_dumps(j, JSON_COMPACT));
    json_object_set_new(j, "bad", json_stringn_nocheck("\xed\xa0\x80", 3));
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, j, NULL, NULL, g_pool),
                     APR_EINVAL);
    json_object_set_new(j, "bad", json_stringn_nocheck("\xe0\x80\x80", 3));
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, j, NULL, NULL, g_pool),
                     APR_EINVAL);
    json_object_set_new(j, "bad", json_stringn_nocheck("\xf4\x90\x80\x80", 4));
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, j, NULL, NULL, g_pool),
                     APR_EINVAL);
    json_object_set_new(j, "bad", json_stringn_nocheck("\xe2\x82", 2));
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, j, NULL, NULL, g_pool),
                     APR_EINVAL);
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, NULL, NULL, NULL,
                                     g_pool), APR_EINVAL);
    /* deeper than any parsed value can be */
    for (i = 0; i < CIS2_MAX_JSON_DEPTH + 4; i++) {
        json_t *n = json_array();

        json_array_append_new(a, n);
        a = n;
    }
    ck_assert_int_eq(cis2_json_write(&s, NULL, NULL, deep, NULL, NULL,
                                     g_pool), APR_EINVAL);
}
END_TEST


/* ---- the parser against jansson's ------------------------------------------ */

/* cis2_json_parse_object as it was: json_loadb with JSON_REJECT_DUPLICATES
 * behind the same size and depth checks; NULL when refused */
static json_t *reference_parse(const char *text, apr_size_t len)
{
    json_t *j;

    if (parse_code(text, len, CIS2_MAX_HTTP_BODY) == CIS2_E_TOO_LARGE) {
        return NULL;
    }
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Both parsers accept or refuse text alike, and accepted values are the
 * same values in the same order. */
static void parses_like_jansson(const char *text, apr_size_t len)
{
    json_t *mine = NULL, *ref;
    const cis2_err_t *err = NULL;
    apr_status_t rv;
    int depth_ok;

    rv = cis2_json_parse_object(&mine, text, len, CIS2_MAX_HTTP_BODY, &err,
                                g_pool);
    ref = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    /* the depth pre-scan refuses before either parser runs */
    depth_ok = rv == APR_SUCCESS || err->detail == NULL
               || strstr(err->detail, "nested deeper") == NULL;
    if (!depth_ok) {
        json_decref(ref);
        return;
    }
    if (ref == NULL || !json_is_object(ref)) {
        if (rv == APR_SUCCESS) {
            ck_abort_msg("accepted what jansson refuses: %.*s", (int)len,
                         text);
        }
        ck_assert_int_eq(err->code, CIS2_E_JSON);
        json_decref(ref);
        return;
    }
    if (rv != APR_SUCCESS && memchr(text, '\0', len) != NULL) {
        /* jansson's one laxity: a NUL byte right after a number or a
         * literal is skipped ({"a":1<NUL>} parses: its stream takes an
         * unread NUL for an empty buffer); we refuse any raw NUL */
        json_decref(ref);
        return;
    }
    if (rv != APR_SUCCESS) {
        ck_abort_msg("refused what jansson accepts (%s): %.*s", err->detail,
                     (int)len, text);
    }
    ck_assert(json_equal(mine, ref));
    ck_assert_str_eq(cis2_json_dump(g_pool, mine),
                     cis2_json_dump(g_pool, ref));
    json_decref(ref);
}

static const char *const parse_cases[] = {
    "{\"a\":1}", "[]", "[1]", "\"s\"", "1", "true", "null", "", " ", "{",
    "}", "{}", " {} ", "{}\n\t\r ", "{} x", "{}{}", "{},",
    "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}",
    "{\"a\":1e5}", "{\"a\":1E+5}", "{\"a\":1e-5}", "{\"a\":1e}",
    "{\"a\":1e+}", "{\"a\":-0}", "{\"a\":-0.0}", "{\"a\":0.1e2}",
    "{\"a\":9223372036854775807}", "{\"a\":9223372036854775808}",
    "{\"a\":-9223372036854775808}", "{\"a\":-9223372036854775809}",
    "{\"a\":123456789012345678901234567890}", "{\"a\":1e400}",
    "{\"a\":-1e400}", "{\"a\":1e-400}", "{\"a\":1.7976931348623157e308}",
    "{\"a\":0x10}", "{\"a\":1_0}", "{\"a\":--1}", "{\"a\":-a}",
    "{\"a\":NaN}", "{\"a\":Infinity}",
    "{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\ud83d\"}",
    "{\"a\":\"\\ude00\"}", "{\"a\":\"\\ud83dx\"}",
    "{\"a\":\"\\ud83d\\u0041\"}", "{\"a\":\"\\ud83d\\\\\"}",
    "{\"a\":\"\\u0000\"}", "{\"a\":\"\\u00\"}", "{\"a\":\"\\u12g4\"}",
    "{\"a\":\"\\u00E9\\u00e9\\u20AC\"}", "{\"a\":\"\\x\"}",
    "{\"a\":\"\\'\"}", "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
    "{\"a\":\"\x01\"}", "{\"a\":\"\t\"}", "{\"a\":\"\x7f\"}",
    "{\"a\":\"\xc3\xa9\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xc3(\"}",
    "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xe0\x80\x80\"}",
    "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xf0\x9f\x98\x80\"}",
    "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\x80\"}",
    "{\"\xc3\xa9\":1}", "{\"\xc3\":1}", "\xef\xbb\xbf{\"a\":1}",
    "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{\"a\" 1}", "{a:1}", "{'a':1}",
    "{\"a\":tru}", "{\"a\":truex}", "{\"a\":true}x", "{\"a\":nul}",
    "{\"a\":falsey}", "{\"a\":[true,false,null]}",
    "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1,\"b\":2}}", "{\"\":1}",
    "{\"\":1,\"\":2}", "{\"a\\u0000b\":1}", "{\"\\u00e9\":1,\"\xc3\xa9\":2}",
    "{\"a\\/b\":1,\"a/b\":2}", "{\"a\":[1,2,]}", "{\"a\":[,1]}",
    "{\"a\":[1 2]}", "{\"a\":[[[]]]}", "{\"a\":[{}]}", "{\"a\":[{\"b\":[]}]}",
    "{\"a\":\"unterminated}", "{\"a\":\"x\\", "{\"a\":1", "{\"a\":",
    "{\"a\"", "{\"a", "{\"a\":[1", "{\"a\":[", "{\"a\":\"\\u",
    "{\"a\":\"\\ud83d\\u", "{\"a\" : 1 , \"b\" :\n[ 1 , 2 ] }",
};

START_TEST(parser_matches_jansson_cases)
{
    apr_size_t i;

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        parses_like_jansson(parse_cases[i], strlen(parse_cases[i]));
    }
    /* a NUL byte inside and after the text */
    parses_like_jansson("{\"a\":\"x\0y\"}", 11);
    parses_like_jansson("{\"a\":1}\0", 8);
    parses_like_jansson("{\"a\":1\0}", 8);
    ck_assert_int_eq(parse_code("{\"a\":1\0}", 8, 100), CIS2_E_JSON);
    ck_assert_int_eq(parse_code("{\"a\":true\0}", 11, 100), CIS2_E_JSON);
    ck_assert_ptr_null(reference_parse("[]", 2));
}
END_TEST

/* every fixture, and each one cut short and with single bytes changed */
START_TEST(parser_matches_jansson_mutations)
{
    static const char *const fixtures[] = {
        "claims-doctor-userinfo.json", "claims-fiveroles-userinfo.json",
        "claims-doctor-idtoken.json", "jwks.json", "jwks-mixed.json"
    };
    static const char bytes[] = "\"\\{}[],:0-.eEu \x01\x7f\xc3\xa9\x80x";
    unsigned seed = 7;
    apr_size_t i, len, k;
    const char *text;
    char *m;

    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        text = cis2_test_slurp(fixtures[i], &len);
        parses_like_jansson(text, len);
        for (k = 0; k < len; k += 1 + len / 97) {
            parses_like_jansson(text, k);
        }
        m = apr_pmemdup(g_pool, text, len);
        for (k = 0; k < 600; k++) {
            apr_size_t at = (apr_size_t)rand_r(&seed) % len;
            char old = m[at];

            m[at] = bytes[(apr_size_t)rand_r(&seed) % (sizeof(bytes) - 1)];
            parses_like_jansson(m, len);
            m[at] = old;
        }
    }
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc;

    tc = tcase_create("parse");
    cis2_test_fixture(tc);
    tcase_add_test(tc, depth_bombs);
    tcase_add_test(tc, parser_matches_jansson_cases);
    tcase_add_test(tc, parser_matches_jansson_mutations);
    tcase_add_test(tc, duplicates_nul_shapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("getters");
    cis2_test_fixture(tc);
    tcase_add_test(tc, numeric_dates);
    tcase_add_test(tc, string_or_int);
    tcase_add_test(tc, str_and_dump);
    tcase_add_test(tc, pool_owns_references);
    suite_add_tcase(s, tc);

    tc = tcase_create("write");
    cis2_test_fixture(tc);
    tcase_add_test(tc, write_matches_jansson);
    tcase_add_test(tc, write_matches_jansson_random);
    tcase_add_test(tc, write_skip_and_span);
    tcase_add_test(tc, write_refuses_what_jansson_cannot_dump);
    suite_add_tcase(s, tc);
    return s;
}
