/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_jwks — cis2_jwks: which keys of a JWKS are kept, key selection by
 * opaque kid and alg, limits, and that every cjose key goes with its pool.
 * Fixtures from t/unit/data/make-fixtures.sh.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/pem.h>
#include <apr_strings.h>
#include <jansson.h>

#include "testmain.h"
#include "cis2_jwks.h"

/* the kids in jwks.json: CIS2-style standard base64 with '/', '+', '=' */
#define KID1 "b/O6OvVv1+y+WgrH5Ui9WTioLt0="
#define KID2 "Qm9sbG92ZXIvS2V5Kz0yMDI2+w=="

static cis2_jwks_t *load(const char *name)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t len;
    const char *json = cis2_test_slurp(name, &len);

    ck_assert_msg(cis2_jwks_parse(&jwks, json, len, &err, g_pool)
                  == APR_SUCCESS, "%s: %s", name, err ? err->detail : "?");
    return jwks;
}

static const char *kid_of(const cjose_jwk_t *k)
{
    cjose_err cerr;

    return cjose_jwk_get_kid(k, &cerr);
}

/* ---- parsing ------------------------------------------------------------- */

START_TEST(parse_two_keys)
{
    cis2_jwks_t *jwks = load("jwks.json");

    ck_assert_int_eq(cis2_jwks_count(jwks), 2);
}
END_TEST

START_TEST(mixed_set_keeps_only_rsa_signing_keys)
{
    /* EC, use=enc, 1024-bit, kty-less, non-object, key_ops [sign]: all
     * skipped; key1 with key_ops [verify] and no use is kept */
    cis2_jwks_t *jwks = load("jwks-mixed.json");
    const cjose_jwk_t *k = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_jwks_count(jwks), 1);
    ck_assert_int_eq(cis2_jwks_find(&k, jwks, KID1, "RS256", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(kid_of(k), KID1);
}
END_TEST

static const struct {
    const char *kid;
} mixed_skipped[] = {
    { "ec/P-256+test=" },       /* EC */
    { KID2 },                   /* use enc */
    { "weak/1024+key=" },       /* RSA 1024 */
    { "no-kty" },
    { "ops-sign-only" },        /* key_ops without verify */
};

START_TEST(mixed_set_skipped_kids_are_unknown)
{
    cis2_jwks_t *jwks = load("jwks-mixed.json");
    const cjose_jwk_t *k = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_jwks_find(&k, jwks, mixed_skipped[_i].kid, "RS256",
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_ptr_null(k);
}
END_TEST

static const struct {
    const char *file;
    int code;
} bad_docs[] = {
    { "jwks-ec-only.json", CIS2_E_JWKS },
    { "jwks-enc-only.json", CIS2_E_JWKS },
    { "jwks-empty.json", CIS2_E_JWKS },
    { "jwks-nokeys.json", CIS2_E_JWKS },
    { "jwks-keys-object.json", CIS2_E_JWKS },
    { "jwks-bad.json", CIS2_E_JWKS },
    { "jwks-array.json", CIS2_E_JWKS },
};

START_TEST(unusable_documents_are_refused)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t len;
    const char *json = cis2_test_slurp(bad_docs[_i].file, &len);

    ck_assert_int_ne(cis2_jwks_parse(&jwks, json, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_msg(err->code == bad_docs[_i].code, "%s: code %d (%s)",
                  bad_docs[_i].file, err->code, err->detail);
    ck_assert_ptr_null(jwks);
}
END_TEST

/* Inline documents: key1's public members with one member changed. */
static const char *key1_members(void)
{
    apr_size_t len;
    json_t *doc = json_loads(cis2_test_slurp("jwks-key1.json", &len), 0,
                             NULL);
    json_t *k = json_array_get(json_object_get(doc, "keys"), 0);
    const char *out = apr_psprintf(g_pool, "\"kty\":\"RSA\",\"n\":\"%s\","
                                   "\"e\":\"AQAB\"",
                                   json_string_value(json_object_get(k, "n")));

    json_decref(doc);
    return out;
}

static const struct {
    const char *name;
    const char *extra;  /* members appended to key1's kty/n/e */
} skipped_keys[] = {
    { "kid not a string", ",\"kid\":5" },
    { "use not a string", ",\"kid\":\"x\",\"use\":true" },
    { "use enc", ",\"kid\":\"x\",\"use\":\"enc\"" },
    { "key_ops not an array", ",\"kid\":\"x\",\"key_ops\":\"verify\"" },
    { "key_ops empty", ",\"kid\":\"x\",\"key_ops\":[]" },
    { "alg HS256 on an RSA key", ",\"kid\":\"x\",\"alg\":\"HS256\"" },
    { "alg RSA-OAEP", ",\"kid\":\"x\",\"alg\":\"RSA-OAEP\"" },
    { "alg not a string", ",\"kid\":\"x\",\"alg\":[\"RS256\"]" },
};

START_TEST(odd_keys_are_skipped)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = apr_psprintf(g_pool, "{\"keys\":[{%s%s}]}",
                                   key1_members(), skipped_keys[_i].extra);

    ck_assert_int_ne(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_msg(err->code == CIS2_E_JWKS, "%s", skipped_keys[_i].name);
}
END_TEST

START_TEST(malformed_rsa_key_is_skipped_not_fatal)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = apr_psprintf(g_pool,
        "{\"keys\":["
        "{\"kty\":\"RSA\",\"kid\":\"bad-n\",\"n\":\"!!!\",\"e\":\"AQAB\"},"
        "{\"kty\":\"RSA\",\"kid\":\"no-e\",\"n\":\"AQAB\"},"
        "{\"kty\":\"RSA\",\"kid\":\"tiny\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
        "{%s,\"kid\":\"good\",\"alg\":\"RS256\",\"use\":\"sig\"}]}",
        key1_members());

    ck_assert_int_eq(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_jwks_count(jwks), 1);
}
END_TEST

/* a public exponent of 1 makes every message its own signature; an even
 * one is no RSA key: both are skipped (the 2048-bit modulus is fine) */
START_TEST(weak_public_exponents_are_skipped)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const char *good = key1_members();
    const char *e1 = apr_pstrdup(g_pool, good), *e2;
    char *at;
    const char *doc;

    at = strstr(e1, "\"e\":\"AQAB\"");
    ck_assert_ptr_nonnull(at);
    e2 = apr_pstrcat(g_pool, apr_pstrmemdup(g_pool, e1, (apr_size_t)(at - e1)),
                     "\"e\":\"Ag\"", NULL);
    e1 = apr_pstrcat(g_pool, apr_pstrmemdup(g_pool, e1, (apr_size_t)(at - e1)),
                     "\"e\":\"AQ\"", NULL);
    doc = apr_psprintf(g_pool, "{\"keys\":[{%s,\"kid\":\"one\"},"
                       "{%s,\"kid\":\"two\"},{%s,\"kid\":\"good\"}]}",
                       e1, e2, good);
    ck_assert_int_eq(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_jwks_count(jwks), 1);
}
END_TEST

/* fuzz_jwks finding F-1 (docs/security.md): cjose's base64url decoder
 * asserts, aborting the httpd child, on impossible lengths such as "r=".
 * Each such member must make the key unusable before cjose sees it. */
static const char *const cjose_abort_members[] = {
    "\"n\":\"r=\",\"e\":\"AQAB\"",
    "\"n\":\"r\",\"e\":\"AQAB\"",
    "\"n\":\"AQAB\",\"e\":\"A=\"",
    "\"n\":\"AQABr\",\"e\":\"AQAB\"",
    "\"n\":\"AQAB\",\"e\":\"AQAB\",\"d\":\"r=\"",
    "\"n\":\"AQAB\",\"e\":\"AQAB\",\"qi\":\"xxxxx\"",
    "\"n\":\"AQAB\",\"e\":\"\"",
    "\"n\":7,\"e\":\"AQAB\"",
};

START_TEST(impossible_base64_members_never_reach_cjose)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = apr_psprintf(g_pool,
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"bad\",%s},"
        "{%s,\"kid\":\"good\"}]}", cjose_abort_members[_i],
        key1_members());
    const char *alone = apr_psprintf(g_pool,
        "{\"keys\":[{\"kty\":\"RSA\",%s}]}", cjose_abort_members[_i]);

    ck_assert_int_eq(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_jwks_count(jwks), 1);
    ck_assert_int_ne(cis2_jwks_parse(&jwks, alone, strlen(alone), &err,
                                     g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JWKS);
}
END_TEST

static const char *n_keys(int n)
{
    const char *one = apr_psprintf(g_pool, "{%s}", key1_members());
    const char *s = "{\"keys\":[";
    int i;

    for (i = 0; i < n; i++) {
        s = apr_pstrcat(g_pool, s, i ? "," : "", one, NULL);
    }
    return apr_pstrcat(g_pool, s, "]}", NULL);
}

START_TEST(sixty_four_keys_are_accepted)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = n_keys(64);

    ck_assert_int_eq(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_jwks_count(jwks), 64);
}
END_TEST

START_TEST(sixty_five_keys_are_too_many)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const char *doc = n_keys(65);

    ck_assert_int_ne(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
}
END_TEST

START_TEST(oversized_document_is_refused)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t n = CIS2_MAX_HTTP_BODY + 1;
    char *doc = apr_palloc(g_pool, n + 1);

    memset(doc, ' ', n);
    doc[0] = '{';
    doc[n - 1] = '}';
    doc[n] = '\0';
    ck_assert_int_ne(cis2_jwks_parse(&jwks, doc, n, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
}
END_TEST

START_TEST(null_document_is_refused)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_jwks_parse(&jwks, NULL, 0, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_JWKS);
    ck_assert_int_eq(cis2_jwks_count(NULL), 0);
}
END_TEST

/* ---- selection ----------------------------------------------------------- */

START_TEST(find_by_kid_byte_for_byte)
{
    cis2_jwks_t *jwks = load("jwks.json");
    const cjose_jwk_t *k = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_jwks_find(&k, jwks, KID1, "RS256", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(kid_of(k), KID1);
    ck_assert_int_eq(cis2_jwks_find(&k, jwks, KID2, "RS512", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(kid_of(k), KID2);
}
END_TEST

/* The OpenSSL key built at parse is the cjose key that was checked: same
 * selection, same modulus (compared with the PEM of key1). */
START_TEST(pkey_is_the_selected_key)
{
    cis2_jwks_t *jwks = load("jwks.json");
    EVP_PKEY *k1 = NULL, *k2 = NULL, *pem;
    apr_size_t mod_len = 0;
    const cis2_err_t *err = NULL;
    FILE *f = fopen(cis2_test_data("key1.pub.pem"), "r");

    ck_assert_ptr_nonnull(f);
    pem = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(pem);
    ck_assert_int_eq(cis2_jwks_find_pkey(&k1, &mod_len, NULL, jwks, KID1,
                                         "RS256", &err, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(mod_len, 256);
    ck_assert_int_eq(EVP_PKEY_eq(k1, pem), 1);
    ck_assert_int_eq(cis2_jwks_find_pkey(&k2, &mod_len, NULL, jwks, KID2,
                                         "RS512", &err, g_pool), APR_SUCCESS);
    ck_assert_int_ne(EVP_PKEY_eq(k2, pem), 1);
    /* ready verification contexts for RS256 and PS256 only */
    {
        const EVP_MD_CTX *t = NULL;
        const char *with[] = {"RS256", "PS256"}, *without[] = {"RS384",
                                                              "PS512"};
        int i;

        for (i = 0; i < 2; i++) {
            ck_assert_int_eq(cis2_jwks_find_pkey(&k1, &mod_len, &t, jwks,
                                                 KID1, with[i], &err,
                                                 g_pool), APR_SUCCESS);
            ck_assert_ptr_nonnull(t);
            ck_assert_int_eq(cis2_jwks_find_pkey(&k1, &mod_len, &t, jwks,
                                                 KID1, without[i], &err,
                                                 g_pool), APR_SUCCESS);
            ck_assert_ptr_null(t);
        }
    }
    /* what cis2_jwks_find refuses, so does this */
    ck_assert_int_ne(cis2_jwks_find_pkey(&k1, &mod_len, NULL, jwks, "nope",
                                         "RS256", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_ne(cis2_jwks_find_pkey(&k1, &mod_len, NULL, jwks, NULL,
                                         "RS256", &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    EVP_PKEY_free(pem);
}
END_TEST

/* Near misses of KID1: decoding, re-encoding or folding would match. */
static const char *const kid_misses[] = {
    "b/O6OvVv1+y+WgrH5Ui9WTioLt0",              /* padding dropped */
    "b_O6OvVv1-y-WgrH5Ui9WTioLt0=",             /* base64url alphabet */
    "b_O6OvVv1-y-WgrH5Ui9WTioLt0",
    "b%2FO6OvVv1%2By%2BWgrH5Ui9WTioLt0%3D",     /* percent-encoded */
    "b/O6OvVv1 y WgrH5Ui9WTioLt0=",             /* '+' form-decoded */
    "B/O6OvVv1+y+WgrH5Ui9WTioLt0=",             /* case */
    "b/O6OvVv1+y+WgrH5Ui9WTioLt0= ",            /* trailing space */
    "b/O6OvVv1+y+WgrH5Ui9WTioLt0==",
    "b/O6OvVv1+y+WgrH5Ui9WTioLt",               /* prefix */
    "",
    "unknown-kid",
};

START_TEST(kid_near_misses_are_unknown)
{
    cis2_jwks_t *jwks = load("jwks.json");
    const cjose_jwk_t *k = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_jwks_find(&k, jwks, kid_misses[_i], "RS256", &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_ptr_null(k);
}
END_TEST

START_TEST(no_kid_needs_exactly_one_key)
{
    cis2_jwks_t *two = load("jwks.json");
    cis2_jwks_t *one = load("jwks-key1.json");
    const cjose_jwk_t *k = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_jwks_find(&k, two, NULL, "RS256", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    ck_assert_int_eq(cis2_jwks_find(&k, one, NULL, "RS256", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(kid_of(k), KID1);
}
END_TEST

static const struct {
    const char *kid;
    const char *alg;
    int ok;
} alg_cases[] = {
    { KID1, "RS512", 1 },
    { KID1, "RS256", 0 },       /* the key says RS512 */
    { KID1, "PS512", 0 },
    { KID1, NULL, 0 },
    { NULL, "RS512", 1 },
    { NULL, "RS256", 0 },
};

START_TEST(key_alg_member_must_match)
{
    cis2_jwks_t *jwks = load("jwks-key1-rs512.json");
    const cjose_jwk_t *k = NULL;
    const cis2_err_t *err = NULL;
    apr_status_t rv = cis2_jwks_find(&k, jwks, alg_cases[_i].kid,
                                     alg_cases[_i].alg, &err, g_pool);

    if (alg_cases[_i].ok) {
        ck_assert_int_eq(rv, APR_SUCCESS);
        ck_assert_str_eq(kid_of(k), KID1);
    }
    else {
        ck_assert_int_ne(rv, APR_SUCCESS);
        ck_assert_int_eq(err->code, CIS2_E_KID_UNKNOWN);
    }
}
END_TEST

START_TEST(duplicate_kid_picks_the_key_that_fits_the_alg)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    const cjose_jwk_t *k = NULL;
    const char *m = key1_members();
    const char *doc = apr_psprintf(g_pool,
        "{\"keys\":[{%s,\"kid\":\"same\",\"alg\":\"RS512\"},"
        "{%s,\"kid\":\"same\",\"alg\":\"RS256\"}]}", m, m);
    cjose_err cerr;

    ck_assert_int_eq(cis2_jwks_parse(&jwks, doc, strlen(doc), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_jwks_find(&k, jwks, "same", "RS256", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(cjose_jwk_get_kty(k, &cerr), CJOSE_JWK_KTY_RSA);
}
END_TEST

/* ---- memory -------------------------------------------------------------- */

START_TEST(thousand_parses_in_a_subpool)
{
    apr_size_t len;
    const char *json = cis2_test_slurp("jwks-mixed.json", &len);
    apr_pool_t *sub;
    int i;

    apr_pool_create(&sub, g_pool);
    for (i = 0; i < 1000; i++) {
        cis2_jwks_t *jwks = NULL;
        const cjose_jwk_t *k = NULL;
        const cis2_err_t *err = NULL;

        ck_assert_int_eq(cis2_jwks_parse(&jwks, json, len, &err, sub),
                         APR_SUCCESS);
        ck_assert_int_eq(cis2_jwks_find(&k, jwks, KID1, "RS256", &err, sub),
                         APR_SUCCESS);
    }
    apr_pool_destroy(sub);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("jwks");
    TCase *tc;

    tc = tcase_create("parse");
    cis2_test_fixture(tc);
    tcase_add_test(tc, parse_two_keys);
    tcase_add_test(tc, mixed_set_keeps_only_rsa_signing_keys);
    tcase_add_loop_test(tc, mixed_set_skipped_kids_are_unknown, 0,
                        sizeof(mixed_skipped) / sizeof(mixed_skipped[0]));
    tcase_add_loop_test(tc, unusable_documents_are_refused, 0,
                        sizeof(bad_docs) / sizeof(bad_docs[0]));
    tcase_add_loop_test(tc, odd_keys_are_skipped, 0,
                        sizeof(skipped_keys) / sizeof(skipped_keys[0]));
    tcase_add_test(tc, malformed_rsa_key_is_skipped_not_fatal);
    tcase_add_test(tc, weak_public_exponents_are_skipped);
    tcase_add_loop_test(tc, impossible_base64_members_never_reach_cjose, 0,
                        sizeof(cjose_abort_members)
                        / sizeof(cjose_abort_members[0]));
    tcase_add_test(tc, sixty_four_keys_are_accepted);
    tcase_add_test(tc, sixty_five_keys_are_too_many);
    tcase_add_test(tc, oversized_document_is_refused);
    tcase_add_test(tc, null_document_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("find");
    cis2_test_fixture(tc);
    tcase_add_test(tc, find_by_kid_byte_for_byte);
    tcase_add_test(tc, pkey_is_the_selected_key);
    tcase_add_loop_test(tc, kid_near_misses_are_unknown, 0,
                        sizeof(kid_misses) / sizeof(kid_misses[0]));
    tcase_add_test(tc, no_kid_needs_exactly_one_key);
    tcase_add_loop_test(tc, key_alg_member_must_match, 0,
                        sizeof(alg_cases) / sizeof(alg_cases[0]));
    tcase_add_test(tc, duplicate_kid_picks_the_key_that_fits_the_alg);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, thousand_parses_in_a_subpool);
    suite_add_tcase(s, tc);
    return s;
}
