/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_crypto — the key ring for data kept outside httpd: derivation is
 * deterministic across "nodes" and matches PBKDF2/HKDF computed here
 * independently; seal/open round-trips with a fresh IV every time; any
 * change to the value, the IV, the tag, the key id or the associated data
 * is refused; rotation seals with the first key and opens with any; keyed
 * names are stable per key and differ across keys and domains.
 */
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testmain.h"
#include "cis2_crypto.h"
#include "cis2_util.h"

#define PW1 "correct horse battery staple 1"
#define PW2 "another passphrase, the new one"
#define ITER 1000          /* fast for tests; the glue uses 600,000 */

static cis2_crypto_t *ring(const char *a, const char *b)
{
    const char *pws[2] = { a, b };
    cis2_crypto_t *c = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_crypto_create(&c, pws, b ? 2 : 1, ITER, &err, g_pool)
                  == APR_SUCCESS, "create: %s", err ? err->detail : "?");
    return c;
}

/* HKDF-Expand(PBKDF2(pw, salt), label), one block, with plain OpenSSL
 * calls: what cis2_crypto derives each key as */
static void derive(unsigned char out[32], const char *pw, const char *label)
{
    unsigned char prk[32], info[64];
    unsigned int len = 0;
    const char *salt = "mod_cis2 key ring v1";

    ck_assert_int_eq(PKCS5_PBKDF2_HMAC(pw, strlen(pw),
                                       (const unsigned char *)salt,
                                       strlen(salt), ITER, EVP_sha256(), 32,
                                       prk), 1);
    memcpy(info, label, strlen(label));
    info[strlen(label)] = 1;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), prk, 32, info,
                               strlen(label) + 1, out, &len));
}

START_TEST(derivation_matches_pbkdf2_hkdf)
{
    /* the key id is HKDF-Expand(PBKDF2(pw, salt), "mod_cis2 key id")[0..4]:
     * recompute it here with plain OpenSSL calls */
    unsigned char kid[32];
    cis2_crypto_t *c = ring(PW1, NULL);

    derive(kid, PW1, "mod_cis2 key id");
    ck_assert_str_eq(cis2_crypto_kid(c, 0, g_pool),
                     apr_psprintf(g_pool, "%02x%02x%02x%02x", kid[0], kid[1],
                                  kid[2], kid[3]));
    /* another "node" with the same passphrase has the same keys */
    ck_assert_str_eq(cis2_crypto_kid(ring(PW1, NULL), 0, g_pool),
                     cis2_crypto_kid(c, 0, g_pool));
    ck_assert_str_ne(cis2_crypto_kid(ring(PW2, NULL), 0, g_pool),
                     cis2_crypto_kid(c, 0, g_pool));
}
END_TEST

START_TEST(refusals_at_create)
{
    const char *shortpw[1] = { "too short" };
    const char *same[2] = { PW1, PW1 };
    cis2_crypto_t *c = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_crypto_create(&c, shortpw, 1, ITER, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_crypto_create(&c, same, 2, ITER, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_crypto_create(&c, same, 0, ITER, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(seal_open_round_trip)
{
    cis2_crypto_t *c = ring(PW1, NULL);
    const char *msg = "session record \0 with a NUL and claims";
    apr_size_t mlen = 38, slen, olen;
    const char *s1, *s2, *o;
    int key = -1;

    ck_assert_int_eq(cis2_crypto_seal(&s1, &slen, c, 0, "name", 4, msg, mlen,
                                      NULL, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(slen, mlen + CIS2_CRYPTO_OVERHEAD);
    /* the plaintext does not appear in the sealed bytes */
    ck_assert_ptr_null(memmem(s1, slen, "session record", 14));
    ck_assert_int_eq(cis2_crypto_open(&o, &olen, &key, c, "name", 4, s1, slen,
                                      NULL, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(olen, mlen);
    ck_assert_int_eq(memcmp(o, msg, mlen), 0);
    ck_assert_int_eq(key, 0);
    /* a fresh IV each time: the same message seals differently */
    ck_assert_int_eq(cis2_crypto_seal(&s2, &slen, c, 0, "name", 4, msg, mlen,
                                      NULL, g_pool), APR_SUCCESS);
    ck_assert_int_ne(memcmp(s1 + CIS2_CRYPTO_KID_LEN, s2 + CIS2_CRYPTO_KID_LEN,
                            CIS2_CRYPTO_IV_LEN), 0);
    ck_assert_int_ne(memcmp(s1, s2, slen), 0);
    /* empty values are fine */
    ck_assert_int_eq(cis2_crypto_seal(&s2, &slen, c, 0, NULL, 0, "", 0, NULL,
                                      g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_crypto_open(&o, &olen, NULL, c, NULL, 0, s2, slen,
                                      NULL, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(olen, 0);
}
END_TEST

START_TEST(tampering_is_refused)
{
    cis2_crypto_t *c = ring(PW1, NULL);
    const char *s, *o;
    char *t;
    apr_size_t slen, olen, i;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_crypto_seal(&s, &slen, c, 0, "k1", 2, "hello world",
                                      11, NULL, g_pool), APR_SUCCESS);
    /* every single bit flip anywhere is caught */
    for (i = 0; i < slen * 8; i++) {
        t = apr_pmemdup(g_pool, s, slen);
        t[i / 8] ^= (char)(1 << (i % 8));
        err = NULL;
        ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, c, "k1", 2, t, slen,
                                          &err, g_pool), APR_SUCCESS);
        ck_assert_int_eq(err->code, CIS2_E_CRYPTO);
    }
    /* moved to another name (aad) */
    ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, c, "k2", 2, s, slen,
                                      NULL, g_pool), APR_SUCCESS);
    /* truncated */
    ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, c, "k1", 2, s,
                                      CIS2_CRYPTO_OVERHEAD - 1, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, c, "k1", 2, s,
                                      slen - 1, NULL, g_pool), APR_SUCCESS);
    /* another passphrase */
    ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, ring(PW2, NULL), "k1",
                                      2, s, slen, NULL, g_pool), APR_SUCCESS);
}
END_TEST

START_TEST(rotation)
{
    cis2_crypto_t *old = ring(PW1, NULL), *both = ring(PW2, PW1);
    cis2_crypto_t *newonly = ring(PW2, NULL);
    const char *s_old, *s_new, *o;
    apr_size_t l_old, l_new, olen;
    int key = -1;

    ck_assert_int_eq(cis2_crypto_nkeys(both), 2);
    ck_assert_int_eq(cis2_crypto_seal(&s_old, &l_old, old, 0, "a", 1, "v1", 2,
                                      NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_crypto_seal(&s_new, &l_new, both, 0, "a", 1, "v2",
                                      2, NULL, g_pool), APR_SUCCESS);
    /* the ring reads both; it wrote with the new (first) key */
    ck_assert_int_eq(cis2_crypto_open(&o, &olen, &key, both, "a", 1, s_old,
                                      l_old, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(key, 1);
    ck_assert_int_eq(cis2_crypto_open(&o, &olen, &key, both, "a", 1, s_new,
                                      l_new, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(key, 0);
    ck_assert_int_eq(cis2_crypto_open(&o, &olen, NULL, newonly, "a", 1, s_new,
                                      l_new, NULL, g_pool), APR_SUCCESS);
    /* once the old passphrase is dropped, its values are unreadable */
    ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, newonly, "a", 1, s_old,
                                      l_old, NULL, g_pool), APR_SUCCESS);
    /* an old-only node cannot read the new values */
    ck_assert_int_ne(cis2_crypto_open(&o, &olen, NULL, old, "a", 1, s_new,
                                      l_new, NULL, g_pool), APR_SUCCESS);
}
END_TEST

START_TEST(keyed_names)
{
    cis2_crypto_t *c = ring(PW1, PW2), *c1 = ring(PW1, NULL);
    const char *sid = "Vx3kq0N0yq1wW4Yb8HqQ2d3sdf8s7d6f5g4h3j2k1l0";
    const char *n0 = cis2_crypto_name(c, 0, "s", sid, strlen(sid), g_pool);
    const char *n1 = cis2_crypto_name(c, 1, "s", sid, strlen(sid), g_pool);

    ck_assert_ptr_nonnull(n0);
    ck_assert_uint_eq(strlen(n0), 43);
    ck_assert_ptr_null(strstr(n0, sid));
    ck_assert_str_ne(n0, n1);
    /* stable, and the same on another node with the same passphrase */
    ck_assert_str_eq(n0, cis2_crypto_name(c1, 0, "s", sid, strlen(sid),
                                          g_pool));
    /* domains separate uses: "s"+"x" differs from "sx"+"" */
    ck_assert_str_ne(n0, cis2_crypto_name(c, 0, "p", sid, strlen(sid),
                                          g_pool));
    ck_assert_str_ne(cis2_crypto_name(c, 0, "s", "xab", 3, g_pool),
                     cis2_crypto_name(c, 0, "sx", "ab", 2, g_pool));
}
END_TEST

START_TEST(names_are_hmac_sha256_of_domain_and_data)
{
    /* the names Redis holds must not change with the implementation: one
     * pinned answer (Python's hmac/hashlib), and OpenSSL's one-shot HMAC
     * for every length across the block boundaries of SHA-256 */
    unsigned char nkey[32], mac[32], buf[300];
    unsigned int mlen = 0;
    const char *sid = "Vx3kq0N0yq1wW4Yb8HqQ2d3sdf8s7d6f5g4h3j2k1l0";
    cis2_crypto_t *c = ring(PW1, PW2);
    apr_size_t len;

    ck_assert_str_eq(cis2_crypto_name(c, 0, "s", sid, strlen(sid), g_pool),
                     "H7Br5e_BTAw--Vp-lt5HfQSml08i2lWQkkHyE27eqKc");
    derive(nkey, PW1, "mod_cis2 entry names");
    for (len = 0; len < 200; len++) {
        memcpy(buf, "ix-sid", 7);          /* domain and its NUL */
        memset(buf + 7, 'a' + (int)(len % 26), len);
        ck_assert_ptr_nonnull(HMAC(EVP_sha256(), nkey, 32, buf, 7 + len, mac,
                                   &mlen));
        ck_assert_str_eq(cis2_crypto_name(c, 0, "ix-sid", buf + 7, len,
                                          g_pool),
                         cis2_b64url_encode(g_pool, mac, sizeof(mac)));
    }
    ck_assert_ptr_null(cis2_crypto_name(c, 2, "s", sid, strlen(sid), g_pool));
}
END_TEST

START_TEST(glue_iteration_count_is_applied)
{
    /* the real count: slow enough to matter to a guesser (measured, not
     * asserted against a clock: just that it completes and differs) */
    const char *pws[1] = { PW1 };
    cis2_crypto_t *c = NULL;

    ck_assert_int_eq(cis2_crypto_create(&c, pws, 1,
                                        CIS2_CRYPTO_KDF_ITERATIONS, NULL,
                                        g_pool), APR_SUCCESS);
    ck_assert_str_ne(cis2_crypto_kid(c, 0, g_pool),
                     cis2_crypto_kid(ring(PW1, NULL), 0, g_pool));
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("crypto");

    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, derivation_matches_pbkdf2_hkdf);
    tcase_add_test(tc, refusals_at_create);
    tcase_add_test(tc, seal_open_round_trip);
    tcase_add_test(tc, tampering_is_refused);
    tcase_add_test(tc, rotation);
    tcase_add_test(tc, keyed_names);
    tcase_add_test(tc, names_are_hmac_sha256_of_domain_and_data);
    tcase_add_test(tc, glue_iteration_count_is_applied);
    suite_add_tcase(s, tc);
    return s;
}
