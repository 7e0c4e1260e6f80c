/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_shm — cis2_shm, the hash table in a memory block: SipHash vectors,
 * format/attach, every operation, expiry, LRU eviction order, quotas,
 * store-full and oversize values, a 40 KB value, persistence across
 * re-attach at another address, hash-flooding resistance, bytes per entry,
 * a randomised comparison against a model, and recovery after a process
 * dies in the middle of an update; then the secondary indexes by sid and
 * sub (every way an entry goes, a model, chain length). Single process, no
 * lock (test_store covers locking and several processes).
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_shm.h>

#include "testmain.h"
#include "cis2_shm.h"

#define SEC(n)   apr_time_from_sec(n)
#define NOW      SEC(1000000)
#define LATER    SEC(2000000)

enum { NS_S = 0, NS_P = 1, NS_R = 2 };

/* ---- helpers ------------------------------------------------------------- */

static cis2_shm_t *fresh_base(apr_size_t size, const unsigned *shares,
                              void **pbase)
{
    cis2_shm_t *shm = NULL;
    const cis2_err_t *err = NULL;
    void *base = apr_palloc(g_pool, size);

    ck_assert_msg(cis2_shm_format(&shm, base, size, shares, &err, g_pool)
                  == APR_SUCCESS, "format: %s", err ? err->detail : "?");
    if (pbase != NULL) {
        *pbase = base;
    }
    return shm;
}

static cis2_shm_t *fresh_with(apr_size_t size, const unsigned *shares)
{
    return fresh_base(size, shares, NULL);
}

static cis2_shm_t *fresh(apr_size_t size)
{
    return fresh_with(size, NULL);
}

static void audit_ok(cis2_shm_t *shm, cis2_shm_audit_t *pa)
{
    cis2_shm_audit_t a;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_shm_check(shm, &a, &err, g_pool) == APR_SUCCESS,
                  "audit: %s", err ? err->detail : "?");
    if (pa != NULL) {
        *pa = a;
    }
}

static apr_status_t put(cis2_shm_t *shm, unsigned ns, const char *key,
                        const char *val, apr_size_t len, apr_time_t expires)
{
    return cis2_shm_put(shm, ns, key, strlen(key), val, len, expires, NOW,
                        NULL, g_pool);
}

static apr_status_t put_s(cis2_shm_t *shm, unsigned ns, const char *key,
                          const char *val)
{
    return put(shm, ns, key, val, strlen(val), LATER);
}

/* The value of key at `now`, or NULL. */
static const char *get_at(cis2_shm_t *shm, unsigned ns, const char *key,
                          apr_time_t now, apr_size_t *plen)
{
    const char *val = NULL;
    const cis2_err_t *err = NULL;

    if (cis2_shm_get(shm, ns, key, strlen(key), now, &val, plen, NULL,
                     &err, g_pool) != APR_SUCCESS) {
        ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
        return NULL;
    }
    return val;
}

static const char *get(cis2_shm_t *shm, unsigned ns, const char *key)
{
    return get_at(shm, ns, key, NOW, NULL);
}

static char *filled(apr_size_t len, int seed)
{
    char *v = apr_palloc(g_pool, len + 1);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        v[i] = (char)('A' + (i * 7 + (apr_size_t)seed) % 26);
    }
    v[len] = '\0';
    return v;
}

static apr_uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static apr_uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- SipHash ------------------------------------------------------------- */

START_TEST(siphash_reference_vectors)
{
    /* From the SipHash paper's test vectors (key 00..0f, message 00..n-1),
     * cross-checked with `openssl mac ... SIPHASH`. */
    static const struct {
        apr_size_t len;
        apr_uint64_t out;
    } v[] = {
        { 0, 0x726fdb47dd0e0e31ULL },
        { 1, 0x74f839c593dc67fdULL },
        { 8, 0x93f5f5799a932462ULL },
        { 15, 0xa129ca6149be45e5ULL },
        { 63, 0x958a324ceb064572ULL },
    };
    unsigned char key[16], msg[64];
    unsigned i;

    for (i = 0; i < 16; i++) {
        key[i] = (unsigned char)i;
    }
    for (i = 0; i < 64; i++) {
        msg[i] = (unsigned char)i;
    }
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ck_assert_msg(cis2_shm_siphash24(key, msg, v[i].len) == v[i].out,
                      "vector %u", (unsigned)v[i].len);
    }
}
END_TEST

/* ---- format and attach --------------------------------------------------- */

START_TEST(format_rejects_bad_blocks)
{
    cis2_shm_t *shm;
    const cis2_err_t *err = NULL;
    char *base = apr_palloc(g_pool, 1 << 20);
    unsigned bad_sum[3] = { 80, 10, 5 }, zero[3] = { 90, 10, 0 };

    ck_assert_int_ne(cis2_shm_format(&shm, base, 1024, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_shm_format(&shm, base + 4, 65536, NULL, &err,
                                     g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_shm_format(&shm, base, 65536, bad_sum, &err,
                                     g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_shm_format(&shm, base, 65536, zero, NULL, g_pool),
                     APR_SUCCESS);
}
END_TEST

START_TEST(geometry_is_sane)
{
    cis2_shm_t *shm = fresh(1 << 20);
    cis2_shm_geometry_t g;
    cis2_shm_stats_t st;

    cis2_shm_get_geometry(shm, &g);
    ck_assert_uint_eq(g.size, 1 << 20);
    ck_assert_uint_eq(g.nbuckets, 4096);
    ck_assert_uint_eq(g.header_bytes + g.bucket_bytes + g.heap_bytes, g.size);
    ck_assert_uint_le(g.quota[NS_S] + g.quota[NS_P] + g.quota[NS_R],
                      g.heap_bytes);
    ck_assert_uint_gt(g.quota[NS_S], 8 * g.quota[NS_P]);
    ck_assert_uint_eq(g.max_entry[NS_S], (g.quota[NS_S] / 8) & ~15u);
    ck_assert_int_ne(g.formatted, 0);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.used_bytes, 0);
    ck_assert_uint_eq(st.free_bytes, g.heap_bytes);
    audit_ok(shm, NULL);
}
END_TEST

/* ---- operations ---------------------------------------------------------- */

START_TEST(put_then_get)
{
    cis2_shm_t *shm = fresh(65536);
    const char *val = NULL;
    apr_size_t len = 0;
    apr_time_t exp = 0;
    cis2_shm_stats_t st;

    ck_assert_int_eq(put(shm, NS_S, "k1", "hello\0world", 11, LATER),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_shm_get(shm, NS_S, "k1", 2, NOW, &val, &len, &exp,
                                  NULL, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(len, 11);
    ck_assert_int_eq(memcmp(val, "hello\0world", 11), 0);
    ck_assert_int_eq(val[11], '\0');
    ck_assert_int_eq(exp, LATER);
    ck_assert_ptr_null(get(shm, NS_S, "k2"));
    ck_assert_ptr_null(get(shm, NS_P, "k1"));     /* namespaces are apart */
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.entries[NS_S], 1);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.puts, 1);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(empty_value_and_bad_args)
{
    cis2_shm_t *shm = fresh(65536);
    const cis2_err_t *err = NULL;
    apr_size_t len = 99;
    char longkey[CIS2_SHM_MAX_KEY + 2];

    ck_assert_int_eq(put(shm, NS_S, "e", "", 0, LATER), APR_SUCCESS);
    ck_assert_str_eq(get_at(shm, NS_S, "e", NOW, &len), "");
    ck_assert_uint_eq(len, 0);
    ck_assert_int_ne(cis2_shm_put(shm, 3, "k", 1, "v", 1, LATER, NOW, &err,
                                  g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_shm_put(shm, NS_S, "", 0, "v", 1, LATER, NOW, &err,
                                  g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    memset(longkey, 'k', sizeof(longkey));
    ck_assert_int_ne(cis2_shm_put(shm, NS_S, longkey, CIS2_SHM_MAX_KEY + 1,
                                  "v", 1, LATER, NOW, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert_int_eq(cis2_shm_put(shm, NS_S, longkey, CIS2_SHM_MAX_KEY,
                                  "v", 1, LATER, NOW, &err, g_pool),
                     APR_SUCCESS);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(overwrite_replaces)
{
    cis2_shm_t *shm = fresh(65536);
    cis2_shm_stats_t st;
    char *big = filled(3000, 1);

    ck_assert_int_eq(put_s(shm, NS_S, "k", "first"), APR_SUCCESS);
    ck_assert_int_eq(put_s(shm, NS_S, "k", big), APR_SUCCESS);
    ck_assert_str_eq(get(shm, NS_S, "k"), big);
    ck_assert_int_eq(put_s(shm, NS_S, "k", "third"), APR_SUCCESS);
    ck_assert_str_eq(get(shm, NS_S, "k"), "third");
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.entries[NS_S], 1);
    ck_assert_uint_eq(st.bytes[NS_S], 48);     /* 40 + 1 + 5, in units */
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(delete_removes)
{
    cis2_shm_t *shm = fresh(65536);
    int found = -1;
    cis2_shm_stats_t st;

    ck_assert_int_eq(put_s(shm, NS_S, "k", "v"), APR_SUCCESS);
    ck_assert_int_eq(cis2_shm_delete(shm, NS_S, "k", 1, &found, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(found, 1);
    ck_assert_ptr_null(get(shm, NS_S, "k"));
    ck_assert_int_eq(cis2_shm_delete(shm, NS_S, "k", 1, &found, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(found, 0);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.entries[NS_S], 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(take_is_single_use)
{
    cis2_shm_t *shm = fresh(65536);
    const char *val = NULL;
    apr_size_t len = 0;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(put_s(shm, NS_P, "state", "pending-login"), APR_SUCCESS);
    ck_assert_int_eq(cis2_shm_take(shm, NS_P, "state", 5, NOW, &val, &len,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(val, "pending-login");
    ck_assert_uint_eq(len, 13);
    ck_assert_int_ne(cis2_shm_take(shm, NS_P, "state", 5, NOW, &val, &len,
                                   &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(take_refuses_expired)
{
    cis2_shm_t *shm = fresh(65536);
    const char *val = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(put(shm, NS_P, "state", "v", 1, NOW + SEC(600)),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_shm_take(shm, NS_P, "state", 5, NOW + SEC(600),
                                   &val, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
}
END_TEST

START_TEST(touch_moves_expiry)
{
    cis2_shm_t *shm = fresh(65536);
    const cis2_err_t *err = NULL;
    apr_time_t exp = 0;
    const char *val;

    ck_assert_int_eq(put(shm, NS_S, "s", "v", 1, NOW + SEC(900)), APR_SUCCESS);
    ck_assert_int_eq(cis2_shm_touch(shm, NS_S, "s", 1, NOW + SEC(800),
                                    NOW + SEC(1700), &err, g_pool),
                     APR_SUCCESS);
    /* alive past the first expiry */
    ck_assert_int_eq(cis2_shm_get(shm, NS_S, "s", 1, NOW + SEC(1000), &val,
                                  NULL, &exp, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(exp, NOW + SEC(1700));
    /* too late to touch: gone */
    ck_assert_int_ne(cis2_shm_touch(shm, NS_S, "s", 1, NOW + SEC(1700),
                                    NOW + SEC(9000), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    ck_assert_int_ne(cis2_shm_touch(shm, NS_S, "none", 4, NOW, LATER, &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(add_once_detects_replay)
{
    cis2_shm_t *shm = fresh(65536);
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_shm_add_once(shm, NS_R, "jti-1", 5, NOW,
                                       NOW + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_shm_add_once(shm, NS_R, "jti-1", 5, NOW + SEC(59),
                                       NOW + SEC(120), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DUPLICATE);
    /* once expired, the marker may be set again */
    ck_assert_int_eq(cis2_shm_add_once(shm, NS_R, "jti-1", 5, NOW + SEC(60),
                                       NOW + SEC(120), &err, g_pool),
                     APR_SUCCESS);
    /* the same key in another namespace is another marker */
    ck_assert_int_eq(cis2_shm_add_once(shm, NS_P, "jti-1", 5, NOW,
                                       NOW + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(expired_entries_are_not_returned_and_reclaimed)
{
    cis2_shm_t *shm = fresh(65536);
    cis2_shm_stats_t st;

    ck_assert_int_eq(put(shm, NS_S, "a", "v", 1, NOW + SEC(10)), APR_SUCCESS);
    ck_assert_str_eq(get_at(shm, NS_S, "a", NOW + SEC(9), NULL), "v");
    ck_assert_ptr_null(get_at(shm, NS_S, "a", NOW + SEC(10), NULL));
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.expired, 1);
    ck_assert_uint_eq(st.entries[NS_S], 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    audit_ok(shm, NULL);
}
END_TEST

/* ---- eviction and quotas ------------------------------------------------- */

/* Entries of exactly 1056 bytes (66 units): key "e%05d", 1002-byte value. */
#define LRU_VLEN 1002
#define LRU_BYTES 1056

static const char *ekey(int i)
{
    return apr_psprintf(g_pool, "e%05d", i);
}

START_TEST(eviction_takes_least_recently_used)
{
    cis2_shm_t *shm = fresh(65536);
    cis2_shm_geometry_t g;
    cis2_shm_stats_t st;
    char *v = filled(LRU_VLEN, 3);
    int i, n;

    cis2_shm_get_geometry(shm, &g);
    n = (int)(g.quota[NS_S] / LRU_BYTES);
    ck_assert_int_ge(n, 10);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(put(shm, NS_S, ekey(i), v, LRU_VLEN, LATER),
                         APR_SUCCESS);
    }
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.evictions, 0);
    ck_assert_uint_eq(st.entries[NS_S], (unsigned)n);

    ck_assert_ptr_nonnull(get(shm, NS_S, ekey(0)));   /* e0 is now recent */
    ck_assert_int_eq(put(shm, NS_S, ekey(n), v, LRU_VLEN, LATER), APR_SUCCESS);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_ptr_null(get(shm, NS_S, ekey(1)));      /* the LRU one went */
    ck_assert_ptr_nonnull(get(shm, NS_S, ekey(0)));
    ck_assert_ptr_nonnull(get(shm, NS_S, ekey(2)));   /* e2 now recent too */
    ck_assert_int_eq(put(shm, NS_S, ekey(n + 1), v, LRU_VLEN, LATER),
                     APR_SUCCESS);
    ck_assert_ptr_null(get(shm, NS_S, ekey(3)));
    ck_assert_ptr_nonnull(get(shm, NS_S, ekey(2)));
    ck_assert_ptr_nonnull(get(shm, NS_S, ekey(4)));
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.evictions, 2);
    ck_assert_uint_eq(st.entries[NS_S], (unsigned)n);
    audit_ok(shm, NULL);
}
END_TEST

/* The lock-free read marks what it found (CLOCK bit): the same order. */
START_TEST(lock_free_reads_count_for_eviction)
{
    cis2_shm_t *shm = fresh(65536);
    cis2_shm_geometry_t g;
    cis2_shm_stats_t st;
    char *v = filled(LRU_VLEN, 3);
    const char *val = NULL;
    apr_size_t len = 0;
    apr_time_t exp = 0;
    int i, n;

    cis2_shm_get_geometry(shm, &g);
    n = (int)(g.quota[NS_S] / LRU_BYTES);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(put(shm, NS_S, ekey(i), v, LRU_VLEN, LATER),
                         APR_SUCCESS);
    }
    ck_assert_int_eq(cis2_shm_read(shm, NS_S, ekey(0), strlen(ekey(0)), NOW,
                                   &val, &len, &exp, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_uint_eq(len, LRU_VLEN);
    ck_assert_int_eq(memcmp(val, v, LRU_VLEN), 0);
    ck_assert_int_eq(exp, LATER);
    ck_assert_int_eq(put(shm, NS_S, ekey(n), v, LRU_VLEN, LATER), APR_SUCCESS);
    ck_assert_int_ne(cis2_shm_read(shm, NS_S, ekey(1), strlen(ekey(1)), NOW,
                                   &val, &len, NULL, NULL, g_pool),
                     APR_SUCCESS);                 /* the unread one went */
    ck_assert_int_eq(cis2_shm_read(shm, NS_S, ekey(0), strlen(ekey(0)), NOW,
                                   &val, &len, NULL, NULL, g_pool),
                     APR_SUCCESS);
    /* expired: not returned, and not reclaimed by a read */
    ck_assert_int_ne(cis2_shm_read(shm, NS_S, ekey(0), strlen(ekey(0)),
                                   LATER, &val, &len, NULL, NULL, g_pool),
                     APR_SUCCESS);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.entries[NS_S], (unsigned)n);
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.read_retries, 0);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(eviction_prefers_expired)
{
    cis2_shm_t *shm = fresh(65536);
    cis2_shm_geometry_t g;
    cis2_shm_stats_t st;
    char *v = filled(LRU_VLEN, 4);
    int i, n;

    cis2_shm_get_geometry(shm, &g);
    n = (int)(g.quota[NS_S] / LRU_BYTES);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(put(shm, NS_S, ekey(i), v, LRU_VLEN,
                             i == 3 ? NOW + SEC(1) : LATER), APR_SUCCESS);
    }
    /* at NOW + 5s, e3 has expired: it goes instead of e0, the LRU entry */
    ck_assert_int_eq(cis2_shm_put(shm, NS_S, "new", 3, v, LRU_VLEN, LATER,
                                  NOW + SEC(5), NULL, g_pool), APR_SUCCESS);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.evictions, 0);
    ck_assert_uint_eq(st.expired, 1);
    ck_assert_ptr_nonnull(get(shm, NS_S, ekey(0)));
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(pending_flood_does_not_evict_sessions)
{
    cis2_shm_t *shm = fresh(1 << 20);
    cis2_shm_stats_t st;
    char *sess = filled(2048, 5), *pend = filled(300, 6);
    int i;

    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(put_s(shm, NS_S, apr_psprintf(g_pool, "s%d", i),
                               sess), APR_SUCCESS);
    }
    for (i = 0; i < 20000; i++) {
        ck_assert_int_eq(put_s(shm, NS_P, apr_psprintf(g_pool, "p%d", i),
                               pend), APR_SUCCESS);
        if (i % 4 == 0) {
            const char *r = apr_psprintf(g_pool, "r%d", i);

            ck_assert_int_eq(cis2_shm_add_once(shm, NS_R, r, strlen(r), NOW,
                                               LATER, NULL, g_pool),
                             APR_SUCCESS);
        }
    }
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.entries[NS_S], 100);
    ck_assert_uint_gt(st.evictions, 19000);
    for (i = 0; i < 100; i++) {
        ck_assert_ptr_nonnull(get(shm, NS_S, apr_psprintf(g_pool, "s%d", i)));
    }
    /* the newest pending logins are there */
    ck_assert_ptr_nonnull(get(shm, NS_P, "p19999"));
    ck_assert_ptr_null(get(shm, NS_P, "p0"));
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(sessions_full_do_not_block_logins)
{
    cis2_shm_t *shm = fresh(1 << 20);
    cis2_shm_stats_t st;
    char *sess = filled(4000, 7);
    int i;

    for (i = 0; i < 1000; i++) {              /* far more than fits */
        ck_assert_int_eq(put_s(shm, NS_S, apr_psprintf(g_pool, "s%d", i),
                               sess), APR_SUCCESS);
    }
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_gt(st.evictions, 700);
    i = (int)st.entries[NS_S];
    ck_assert_int_eq(put_s(shm, NS_P, "state", "pending"), APR_SUCCESS);
    ck_assert_int_eq(cis2_shm_add_once(shm, NS_R, "jti", 3, NOW, LATER, NULL,
                                       g_pool), APR_SUCCESS);
    cis2_shm_get_stats(shm, &st);
    ck_assert_int_eq((int)st.entries[NS_S], i);  /* no session paid for it */
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(oversize_value_is_too_large)
{
    cis2_shm_t *shm = fresh(65536);
    cis2_shm_geometry_t g;
    cis2_shm_stats_t st;
    const cis2_err_t *err = NULL;
    apr_size_t fits;

    cis2_shm_get_geometry(shm, &g);
    fits = g.max_entry[NS_S] - 40 - 1;
    ck_assert_int_eq(put(shm, NS_S, "k", filled(fits, 1), fits, LATER),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_shm_put(shm, NS_S, "k", 1, filled(fits + 1, 1),
                                  fits + 1, LATER, NOW, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    /* a huge length is refused without any arithmetic overflow */
    ck_assert_int_ne(cis2_shm_put(shm, NS_S, "k", 1, "x", (apr_size_t)-1,
                                  LATER, NOW, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.put_failures, 2);
    /* the refused put left the old value alone */
    ck_assert_uint_eq(strlen(get(shm, NS_S, "k")), fits);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(forty_kb_value_fits)
{
    cis2_shm_t *shm = fresh(1 << 20);
    char *big = filled(40 * 1024, 9);
    const char *val;
    apr_size_t len = 0;
    cis2_shm_stats_t st;

    ck_assert_int_eq(put(shm, NS_S, "big", big, 40 * 1024, LATER),
                     APR_SUCCESS);
    val = get_at(shm, NS_S, "big", NOW, &len);
    ck_assert_ptr_nonnull(val);
    ck_assert_uint_eq(len, 40 * 1024);
    ck_assert_int_eq(memcmp(val, big, len), 0);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_le(st.bytes[NS_S], 40 * 1024 + 40 + 3 + 15);
    audit_ok(shm, NULL);
}
END_TEST

/* Fill the heap with session and pending entries in turn, so every hole a
 * session leaves sits between two live pending logins; a session bigger
 * than any hole then cannot be placed, whatever is evicted: STORE_FULL. */
START_TEST(fragmented_store_is_full)
{
    unsigned shares[3] = { 49, 50, 1 };
    cis2_shm_t *shm = fresh_with(65536, shares);
    cis2_shm_geometry_t g;
    cis2_shm_stats_t st;
    cis2_shm_audit_t a;
    const cis2_err_t *err = NULL;
    char *v = filled(436, 2);           /* 40 + 4 + 436 = 480 bytes */
    apr_size_t big;
    int i;

    cis2_shm_get_geometry(shm, &g);
    for (i = 0; (i + 1) * 480 <= (int)g.quota[NS_S]
                && (i + 1) * 480 <= (int)g.quota[NS_P]; i++) {
        ck_assert_int_eq(put(shm, NS_S, apr_psprintf(g_pool, "s%03d", i), v,
                             436, LATER), APR_SUCCESS);
        ck_assert_int_eq(put(shm, NS_P, apr_psprintf(g_pool, "p%03d", i), v,
                             436, LATER), APR_SUCCESS);
    }
    audit_ok(shm, &a);
    big = g.max_entry[NS_S] - 48;
    ck_assert_uint_lt(a.largest_free, big);
    ck_assert_int_ne(cis2_shm_put(shm, NS_S, "huge", 4, filled(big, 1), big,
                                  LATER, NOW, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STORE_FULL);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.put_failures, 1);
    ck_assert_uint_eq(st.entries[NS_P], (unsigned)i);  /* never touched */
    audit_ok(shm, NULL);
    /* still usable */
    ck_assert_int_eq(put_s(shm, NS_S, "small", "ok"), APR_SUCCESS);
    ck_assert_str_eq(get(shm, NS_S, "small"), "ok");
}
END_TEST

/* ---- persistence --------------------------------------------------------- */

START_TEST(reattach_keeps_contents)
{
    apr_size_t size = 256 * 1024;
    void *base = NULL;
    cis2_shm_t *a = fresh_base(size, NULL, &base), *b = NULL;
    char *copy = apr_palloc(g_pool, size), *zero = apr_pcalloc(g_pool, size);
    const cis2_err_t *err = NULL;
    cis2_shm_stats_t sa, sb;
    cis2_shm_geometry_t ga, gb;
    char *big = filled(20000, 4);
    int i;

    for (i = 0; i < 50; i++) {
        ck_assert_int_eq(put_s(a, NS_S, apr_psprintf(g_pool, "s%d", i),
                               apr_psprintf(g_pool, "value-%d", i)),
                         APR_SUCCESS);
    }
    ck_assert_int_eq(put_s(a, NS_S, "big", big), APR_SUCCESS);
    ck_assert_int_eq(put_s(a, NS_P, "state", "p"), APR_SUCCESS);
    ck_assert_ptr_null(get(a, NS_S, "missing"));

    /* after a restart another process may map the block elsewhere */
    memcpy(copy, base, size);
    ck_assert_msg(cis2_shm_attach(&b, copy, size, &err, g_pool)
                  == APR_SUCCESS, "attach: %s", err ? err->detail : "?");
    cis2_shm_get_geometry(a, &ga);
    cis2_shm_get_geometry(b, &gb);
    ck_assert_int_eq(memcmp(&ga, &gb, sizeof(ga)), 0);
    cis2_shm_get_stats(a, &sa);
    cis2_shm_get_stats(b, &sb);
    ck_assert_int_eq(memcmp(&sa, &sb, sizeof(sa)), 0);
    audit_ok(b, NULL);
    for (i = 0; i < 50; i++) {
        ck_assert_str_eq(get(b, NS_S, apr_psprintf(g_pool, "s%d", i)),
                         apr_psprintf(g_pool, "value-%d", i));
    }
    ck_assert_str_eq(get(b, NS_S, "big"), big);
    ck_assert_str_eq(get(b, NS_P, "state"), "p");
    /* the same hash secret came along: new keys work alike in both */
    ck_assert_int_eq(put_s(b, NS_S, "new", "n"), APR_SUCCESS);
    ck_assert_str_eq(get(b, NS_S, "new"), "n");
    audit_ok(b, NULL);

    /* a block of another size, a damaged or an empty one is refused */
    err = NULL;
    ck_assert_int_ne(cis2_shm_attach(&b, copy, size - 4096, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    copy[0] ^= 1;
    ck_assert_int_ne(cis2_shm_attach(&b, copy, size, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_shm_attach(&b, zero, size, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
}
END_TEST

/* ---- hash flooding ------------------------------------------------------- */

static apr_uint32_t fnv1a(const char *s, apr_size_t len)
{
    apr_uint32_t h = 2166136261u;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

START_TEST(colliding_keys_stay_spread)
{
    cis2_shm_t *shm = fresh(1 << 20);
    cis2_shm_geometry_t g;
    cis2_shm_audit_t a;
    apr_uint32_t mask;
    char key[32];
    unsigned found = 0, tries = 0;

    cis2_shm_get_geometry(shm, &g);
    mask = g.nbuckets - 1;
    /* 1500 keys an attacker would pick against an unkeyed FNV-1a table:
     * all in bucket 0 there, a chain of 1500 walked by every lookup. */
    while (found < 1500) {
        int n = snprintf(key, sizeof(key), "flood-%08x", tries++);

        if ((fnv1a(key, (apr_size_t)n) & mask) != 0) {
            continue;
        }
        ck_assert_int_eq(cis2_shm_put(shm, NS_S, key, (apr_size_t)n, "x", 1,
                                      LATER, NOW, NULL, g_pool), APR_SUCCESS);
        found++;
    }
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.entries, 1500);
    /* With the keyed hash they spread like random keys: load 0.37, the
     * longest chain is a handful (expected ~5). */
    ck_assert_uint_le(a.max_chain, 10);
    ck_assert_uint_ge(a.used_buckets, 1000);
}
END_TEST

/* ---- memory efficiency --------------------------------------------------- */

START_TEST(bytes_per_entry_close_to_payload)
{
    cis2_shm_t *shm = fresh(4 << 20);
    cis2_shm_stats_t st;
    cis2_shm_geometry_t g;
    char *v = filled(2048, 8);
    char key[64];
    apr_uint64_t payload = 43 + 2048;
    int i;

    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "%043d", i);   /* a session id's length */
        ck_assert_int_eq(put(shm, NS_S, key, v, 2048, LATER), APR_SUCCESS);
    }
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.entries[NS_S], 1000);
    /* overhead <= 25 % of a 2 KB value (it is 40 header + pad: ~2.5 %) */
    ck_assert_uint_le(st.bytes[NS_S] / 1000, payload * 125 / 100);
    ck_assert_uint_le(st.bytes[NS_S] / 1000, payload + 40 + 15);
    /* and the namespace really fills up before anything is evicted */
    for (; st.evictions == 0; i++) {
        snprintf(key, sizeof(key), "%043d", i);
        ck_assert_int_eq(put(shm, NS_S, key, v, 2048, LATER), APR_SUCCESS);
        cis2_shm_get_stats(shm, &st);
    }
    cis2_shm_get_geometry(shm, &g);
    ck_assert_uint_ge(st.entries[NS_S] * payload, g.quota[NS_S] * 95 / 100);
    audit_ok(shm, NULL);
}
END_TEST

/* ---- randomised comparison with a model ---------------------------------- */

typedef struct model_t {
    char *val;
    apr_size_t len;
    apr_time_t expires;
} model_t;

START_TEST(random_operations_match_a_model)
{
    cis2_shm_t *shm = fresh(4 << 20);
    apr_hash_t *model[3];
    apr_time_t now = NOW;
    cis2_shm_stats_t st;
    int op, ns;

    for (ns = 0; ns < 3; ns++) {
        model[ns] = apr_hash_make(g_pool);
    }
    for (op = 0; op < 40000; op++) {
        unsigned k = (unsigned)(rnd() % 400);
        char *key = apr_psprintf(g_pool, "key-%u", k);
        apr_size_t klen = strlen(key);
        model_t *m;
        const char *val = NULL;
        apr_size_t len = 0;
        const cis2_err_t *err = NULL;
        apr_status_t rv;
        int what = (int)(rnd() % 6);

        ns = (int)(rnd() % 3);
        now += SEC(1);
        m = apr_hash_get(model[ns], key, APR_HASH_KEY_STRING);
        if (m != NULL && m->expires <= now) {
            apr_hash_set(model[ns], key, APR_HASH_KEY_STRING, NULL);
            m = NULL;
        }
        switch (what) {
        case 0:                                          /* put */
        case 1:
            m = apr_pcalloc(g_pool, sizeof(*m));
            m->len = (apr_size_t)(rnd() % (ns == NS_S ? 3000 : 400));
            m->val = filled(m->len, (int)op);
            m->expires = now + SEC((apr_int64_t)(rnd() % 3000) + 1);
            ck_assert_int_eq(cis2_shm_put(shm, (unsigned)ns, key, klen,
                                          m->val, m->len, m->expires, now,
                                          NULL, g_pool), APR_SUCCESS);
            apr_hash_set(model[ns], key, APR_HASH_KEY_STRING, m);
            break;
        case 2:                                          /* get */
            rv = cis2_shm_get(shm, (unsigned)ns, key, klen, now, &val, &len,
                              NULL, &err, g_pool);
            if (m == NULL) {
                ck_assert_int_ne(rv, APR_SUCCESS);
            }
            else {
                ck_assert_int_eq(rv, APR_SUCCESS);
                ck_assert_uint_eq(len, m->len);
                ck_assert_int_eq(memcmp(val, m->val, len), 0);
            }
            break;
        case 3:                                          /* take */
            rv = cis2_shm_take(shm, (unsigned)ns, key, klen, now, &val, &len,
                               &err, g_pool);
            ck_assert_int_eq(rv == APR_SUCCESS, m != NULL);
            if (m != NULL) {
                ck_assert_uint_eq(len, m->len);
                ck_assert_int_eq(memcmp(val, m->val, len), 0);
                apr_hash_set(model[ns], key, APR_HASH_KEY_STRING, NULL);
            }
            break;
        case 4:                                          /* touch */
            rv = cis2_shm_touch(shm, (unsigned)ns, key, klen, now,
                                now + SEC(100), &err, g_pool);
            ck_assert_int_eq(rv == APR_SUCCESS, m != NULL);
            if (m != NULL) {
                m->expires = now + SEC(100);
            }
            break;
        default:                                         /* delete/add_once */
            if (rnd() % 2) {
                ck_assert_int_eq(cis2_shm_delete(shm, (unsigned)ns, key, klen,
                                                 NULL, NULL, g_pool),
                                 APR_SUCCESS);
                apr_hash_set(model[ns], key, APR_HASH_KEY_STRING, NULL);
            }
            else {
                rv = cis2_shm_add_once(shm, (unsigned)ns, key, klen, now,
                                       now + SEC(50), &err, g_pool);
                ck_assert_int_eq(rv == APR_SUCCESS, m == NULL);
                if (m == NULL) {
                    m = apr_pcalloc(g_pool, sizeof(*m));
                    m->val = "";
                    m->expires = now + SEC(50);
                    apr_hash_set(model[ns], key, APR_HASH_KEY_STRING, m);
                }
                else {
                    ck_assert_int_eq(err->code, CIS2_E_DUPLICATE);
                }
            }
            break;
        }
        if (op % 5000 == 0) {
            audit_ok(shm, NULL);
        }
    }
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.evictions, 0);     /* sized so the model is exact */
    audit_ok(shm, NULL);
}
END_TEST

/* ---- crash recovery ------------------------------------------------------ */

START_TEST(died_mid_update_is_recovered)
{
    apr_shm_t *seg = NULL;
    cis2_shm_t *shm = NULL;
    cis2_shm_stats_t st;
    const char *val = NULL;
    void *bad;
    pid_t pid;
    int status = 0;

    ck_assert_int_eq(apr_shm_create(&seg, 256 * 1024, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_shm_format(&shm, apr_shm_baseaddr_get(seg),
                                     256 * 1024, NULL, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(put_s(shm, NS_S, "before", "v"), APR_SUCCESS);
    /* A child puts a value read from an unreadable page: it dies inside
     * the put, after the block was allocated and before it was linked. */
    bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(bad, MAP_FAILED);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);      /* die quietly, even under ASan */
        put(shm, NS_S, "doomed", bad, 1000, LATER);
        _exit(0);                      /* not reached */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
    /* a lock-free read cannot trust the table: it sends the caller to the
     * lock */
    ck_assert_int_eq(cis2_shm_read(shm, NS_S, "before", 6, NOW, &val, NULL,
                                   NULL, NULL, g_pool), APR_EAGAIN);
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.read_fallbacks, 1);
    /* the next operation finds the table mid-update and empties it */
    ck_assert_ptr_null(get(shm, NS_S, "before"));
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_eq(st.resets, 1);
    ck_assert_uint_eq(st.entries[NS_S], 0);
    audit_ok(shm, NULL);
    ck_assert_int_eq(put_s(shm, NS_S, "after", "v"), APR_SUCCESS);
    ck_assert_str_eq(get(shm, NS_S, "after"), "v");
    munmap(bad, 4096);
}
END_TEST

/* ---- secondary indexes --------------------------------------------------- */

enum { IX_SID = CIS2_SHM_IX_SID, IX_SUB = CIS2_SHM_IX_SUB };

static apr_status_t put_ix(cis2_shm_t *shm, unsigned ns, const char *key,
                           const char *sid, const char *sub,
                           apr_time_t created, apr_time_t expires)
{
    const char *val = apr_psprintf(g_pool, "value of %s", key);

    return cis2_shm_put_indexed(shm, ns, key, strlen(key), val, strlen(val),
                                expires, NOW, sid, sub, created, NULL,
                                g_pool);
}

/* How many live entries delete_indexed ended. */
static int del_ix_at(cis2_shm_t *shm, unsigned ns, unsigned kind,
                     const char *value, apr_time_t not_after, apr_time_t now)
{
    int count = -1;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_shm_delete_indexed(shm, ns, kind, value, strlen(value),
                                          not_after, now, &count, &err,
                                          g_pool) == APR_SUCCESS,
                  "delete_indexed: %s", err ? err->detail : "?");
    return count;
}

static int del_ix(cis2_shm_t *shm, unsigned ns, unsigned kind,
                  const char *value)
{
    return del_ix_at(shm, ns, kind, value, LATER, NOW);
}

START_TEST(index_deletes_by_sid_and_by_sub)
{
    cis2_shm_t *shm = fresh(1 << 20);
    cis2_shm_audit_t a;

    /* alice: two sessions in CIS2 session s1 (two apps' cookies), one in
     * s2; bob: one in s3; a pending login and a plain session untouched */
    ck_assert_int_eq(put_ix(shm, NS_S, "k1", "s1", "alice", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "k2", "s1", "alice", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "k3", "s2", "alice", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "k4", "s3", "bob", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_P, "k5", "s1", "alice", NOW, LATER), 0);
    ck_assert_int_eq(put_s(shm, NS_S, "k6", "plain"), 0);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SID], 5);
    ck_assert_uint_eq(a.indexed[IX_SUB], 5);

    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "s1"), 2);
    ck_assert_ptr_null(get(shm, NS_S, "k1"));
    ck_assert_ptr_null(get(shm, NS_S, "k2"));
    ck_assert_ptr_nonnull(get(shm, NS_S, "k3"));
    ck_assert_ptr_nonnull(get(shm, NS_P, "k5"));  /* other namespace */
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "s1"), 0);
    /* a sid is not a sub, and values are compared whole */
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "s2"), 0);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "alic"), 0);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "alice"), 1);
    ck_assert_ptr_null(get(shm, NS_S, "k3"));
    ck_assert_ptr_nonnull(get(shm, NS_S, "k4"));
    ck_assert_ptr_nonnull(get(shm, NS_S, "k6"));
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SID], 2);
    ck_assert_uint_eq(a.entries, 3);
    ck_assert_int_eq(del_ix(shm, NS_P, IX_SUB, "alice"), 1);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "bob"), 1);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SID], 0);
    ck_assert_uint_eq(a.indexed[IX_SUB], 0);
    ck_assert_uint_eq(a.entries, 1);
}
END_TEST

START_TEST(index_spares_sessions_begun_after_not_after)
{
    cis2_shm_t *shm = fresh(1 << 20);

    ck_assert_int_eq(put_ix(shm, NS_S, "old", "s1", "u", NOW - SEC(60),
                            LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "edge", "s1", "u", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "new", "s1", "u", NOW + SEC(1),
                            LATER), 0);
    ck_assert_int_eq(del_ix_at(shm, NS_S, IX_SID, "s1", NOW - SEC(61), NOW),
                     0);
    ck_assert_int_eq(del_ix_at(shm, NS_S, IX_SID, "s1", NOW, NOW), 2);
    ck_assert_ptr_null(get(shm, NS_S, "old"));
    ck_assert_ptr_null(get(shm, NS_S, "edge"));
    ck_assert_ptr_nonnull(get(shm, NS_S, "new"));
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(index_follows_every_way_an_entry_goes)
{
    cis2_shm_t *shm = fresh(1 << 20);
    const char *val;
    apr_size_t len;
    cis2_shm_audit_t a;

    /* replaced with other index values: only the new ones find it */
    ck_assert_int_eq(put_ix(shm, NS_S, "k", "s1", "u1", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "k", "s2", "u2", NOW, LATER), 0);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "s1"), 0);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "u1"), 0);
    ck_assert_ptr_nonnull(get(shm, NS_S, "k"));
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "u2"), 1);
    /* replaced by a plain put: not indexed any more */
    ck_assert_int_eq(put_ix(shm, NS_S, "k", "s1", "u1", NOW, LATER), 0);
    ck_assert_int_eq(put_s(shm, NS_S, "k", "plain"), 0);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "s1"), 0);
    ck_assert_str_eq(get(shm, NS_S, "k"), "plain");
    /* only one index of the two */
    ck_assert_int_eq(put_ix(shm, NS_S, "k", NULL, "u1", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "j", "s9", "", NOW, LATER), 0);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SID], 1);
    ck_assert_uint_eq(a.indexed[IX_SUB], 1);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "u1"), 1);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "s9"), 1);
    /* delete and take */
    ck_assert_int_eq(put_ix(shm, NS_S, "d", "s1", "u1", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "t", "s1", "u1", NOW, LATER), 0);
    ck_assert_int_eq(cis2_shm_delete(shm, NS_S, "d", 1, NULL, NULL, g_pool),
                     0);
    ck_assert_int_eq(cis2_shm_take(shm, NS_S, "t", 1, NOW, &val, &len, NULL,
                                   g_pool), 0);
    ck_assert_str_eq(val, "value of t");
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "s1"), 0);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.entries, 0);
    /* expired: reclaimed by delete_indexed but not counted as ended */
    ck_assert_int_eq(put_ix(shm, NS_S, "e", "s1", "u1", NOW, NOW + SEC(5)),
                     0);
    ck_assert_int_eq(put_ix(shm, NS_S, "f", "s1", "u1", NOW, LATER), 0);
    ck_assert_int_eq(del_ix_at(shm, NS_S, IX_SID, "s1", LATER,
                               NOW + SEC(10)), 1);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.entries, 0);
    /* expired and reclaimed by a lookup: gone from the index too */
    ck_assert_int_eq(put_ix(shm, NS_S, "e", "s1", "u1", NOW, NOW + SEC(5)),
                     0);
    ck_assert_ptr_null(get_at(shm, NS_S, "e", NOW + SEC(10), NULL));
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SID], 0);
}
END_TEST

START_TEST(index_survives_eviction_pressure)
{
    cis2_shm_t *shm = fresh(CIS2_SHM_MIN_SIZE * 4);
    cis2_shm_stats_t st;
    cis2_shm_audit_t a;
    int i, live = 0, ended = 0;

    /* far more 1 KB sessions than fit: the old ones are evicted, and must
     * leave the indexes as they go */
    for (i = 0; i < 2000; i++) {
        const char *key = apr_psprintf(g_pool, "k%d", i);
        const char *val = filled(1000, i);

        ck_assert_int_eq(cis2_shm_put_indexed(shm, NS_S, key, strlen(key),
                                              val, 1000, LATER, NOW,
                                              apr_psprintf(g_pool, "s%d",
                                                           i % 7),
                                              apr_psprintf(g_pool, "u%d",
                                                           i % 13),
                                              NOW, NULL, g_pool), 0);
        if (i % 100 == 0) {
            audit_ok(shm, NULL);
        }
    }
    cis2_shm_get_stats(shm, &st);
    ck_assert_uint_gt(st.evictions, 1000);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SID], a.entries);
    for (i = 0; i < 2000; i++) {
        live += get(shm, NS_S, apr_psprintf(g_pool, "k%d", i)) != NULL;
    }
    ck_assert_uint_eq(live, st.entries[NS_S]);
    for (i = 0; i < 13; i++) {
        ended += del_ix(shm, NS_S, IX_SUB, apr_psprintf(g_pool, "u%d", i));
    }
    ck_assert_int_eq(ended, live);
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.entries, 0);
}
END_TEST

START_TEST(index_chains_stay_short)
{
    cis2_shm_t *shm = fresh(16 << 20);
    cis2_shm_audit_t a;
    int i;

    /* 20 000 users, one session each, plus one user with 50 sessions: the
     * chain delete_indexed walks holds that user's entries and a few more,
     * not the store */
    for (i = 0; i < 20000; i++) {
        ck_assert_int_eq(put_ix(shm, NS_S, apr_psprintf(g_pool, "k%d", i),
                                apr_psprintf(g_pool, "sid-%d", i),
                                apr_psprintf(g_pool, "user-%d", i), NOW,
                                LATER), 0);
    }
    for (i = 0; i < 50; i++) {
        ck_assert_int_eq(put_ix(shm, NS_S, apr_psprintf(g_pool, "m%d", i),
                                apr_psprintf(g_pool, "msid-%d", i),
                                "many", NOW, LATER), 0);
    }
    audit_ok(shm, &a);
    ck_assert_uint_eq(a.indexed[IX_SUB], 20050);
    ck_assert_uint_le(a.max_ix_chain, 50 + 12);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, "many"), 50);
    audit_ok(shm, &a);
    ck_assert_uint_le(a.max_ix_chain, 12);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SID, "sid-12345"), 1);
    ck_assert_ptr_null(get(shm, NS_S, "k12345"));
}
END_TEST

START_TEST(index_bad_calls)
{
    cis2_shm_t *shm = fresh(1 << 20);
    const cis2_err_t *err = NULL;
    char *big = filled(CIS2_SHM_MAX_INDEX + 1, 3);
    int count = 7;

    ck_assert_int_ne(cis2_shm_put_indexed(shm, NS_S, "k", 1, "v", 1, LATER,
                                          NOW, big, "u", NOW, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert_ptr_null(get(shm, NS_S, "k"));
    big[CIS2_SHM_MAX_INDEX] = '\0';              /* exactly the limit */
    ck_assert_int_eq(put_ix(shm, NS_S, "k", big, big, NOW, LATER), 0);
    ck_assert_int_eq(del_ix(shm, NS_S, IX_SUB, big), 1);
    ck_assert_int_ne(cis2_shm_delete_indexed(shm, NS_S, IX_SID, "", 0, LATER,
                                             NOW, &count, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_eq(count, 0);
    ck_assert_int_ne(cis2_shm_delete_indexed(shm, NS_S, 2, "x", 1, LATER,
                                             NOW, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_shm_delete_indexed(shm, 9, IX_SID, "x", 1, LATER,
                                             NOW, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    audit_ok(shm, NULL);
}
END_TEST

START_TEST(index_survives_reattach_elsewhere)
{
    void *base, *copy;
    cis2_shm_t *shm = fresh_base(1 << 20, NULL, &base), *again = NULL;

    ck_assert_int_eq(put_ix(shm, NS_S, "k1", "s1", "u", NOW, LATER), 0);
    ck_assert_int_eq(put_ix(shm, NS_S, "k2", "s2", "u", NOW, LATER), 0);
    copy = apr_palloc(g_pool, 1 << 20);
    memcpy(copy, base, 1 << 20);
    ck_assert_int_eq(cis2_shm_attach(&again, copy, 1 << 20, NULL, g_pool), 0);
    audit_ok(again, NULL);
    ck_assert_int_eq(del_ix(again, NS_S, IX_SUB, "u"), 2);
    audit_ok(again, NULL);
    ck_assert_ptr_nonnull(get(shm, NS_S, "k1"));   /* the original is apart */
}
END_TEST

/* Random puts (plain and indexed), deletes, takes and index deletes against
 * a model, with a full audit along the way. */
#define IXM_KEYS 64
START_TEST(index_random_operations_match_a_model)
{
    cis2_shm_t *shm = fresh(4 << 20);
    struct {
        int present, sid, sub;      /* sid/sub -1: not indexed */
        apr_time_t created, expires;
    } m[IXM_KEYS];
    int n, i;

    memset(m, 0, sizeof(m));
    for (n = 0; n < 8000; n++) {
        int k = (int)(rnd() % IXM_KEYS), op = (int)(rnd() % 10);
        const char *key = apr_psprintf(g_pool, "key-%d", k);
        apr_time_t now = NOW + SEC(n / 100);

        if (op < 5) {
            int sid = (int)(rnd() % 9) - 1, sub = (int)(rnd() % 6) - 1;
            apr_time_t created = now - SEC((int)(rnd() % 50));
            apr_time_t expires = now + SEC((int)(rnd() % 300));
            const char *val = filled((apr_size_t)(rnd() % 3000), k);

            ck_assert_int_eq(cis2_shm_put_indexed(
                shm, NS_S, key, strlen(key), val, strlen(val), expires, now,
                sid < 0 ? NULL : apr_psprintf(g_pool, "sid%d", sid),
                sub < 0 ? NULL : apr_psprintf(g_pool, "sub%d", sub),
                created, NULL, g_pool), 0);
            m[k].present = 1;
            m[k].sid = sid;
            m[k].sub = sub;
            m[k].created = created;
            m[k].expires = expires;
        }
        else if (op == 5) {
            ck_assert_int_eq(cis2_shm_delete(shm, NS_S, key, strlen(key),
                                             NULL, NULL, g_pool), 0);
            m[k].present = 0;
        }
        else if (op == 6) {
            const char *val = NULL;
            int live = m[k].present && m[k].expires > now;

            ck_assert_int_eq(cis2_shm_take(shm, NS_S, key, strlen(key), now,
                                           &val, NULL, NULL, g_pool)
                             == APR_SUCCESS, live);
            m[k].present = 0;
        }
        else if (op == 7) {
            int live = m[k].present && m[k].expires > now;

            ck_assert_int_eq(get_at(shm, NS_S, key, now, NULL) != NULL, live);
        }
        else {
            unsigned kind = op == 8 ? IX_SID : IX_SUB;
            int v = (int)(rnd() % (kind == IX_SID ? 8 : 5));
            apr_time_t not_after = now - SEC((int)(rnd() % 60));
            const char *value = apr_psprintf(g_pool, "%s%d",
                                             kind == IX_SID ? "sid" : "sub",
                                             v);
            int expect = 0;

            for (i = 0; i < IXM_KEYS; i++) {
                int mv = kind == IX_SID ? m[i].sid : m[i].sub;

                if (!m[i].present || mv != v) {
                    continue;
                }
                if (m[i].expires <= now) {
                    m[i].present = 0;           /* reclaimed on the way */
                }
                else if (m[i].created <= not_after) {
                    m[i].present = 0;
                    expect++;
                }
            }
            ck_assert_int_eq(del_ix_at(shm, NS_S, kind, value, not_after,
                                       now), expect);
        }
        if (n % 250 == 0) {
            audit_ok(shm, NULL);
        }
    }
    audit_ok(shm, NULL);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc;

    tc = tcase_create("hash");
    cis2_test_fixture(tc);
    tcase_add_test(tc, siphash_reference_vectors);
    tcase_add_test(tc, colliding_keys_stay_spread);
    suite_add_tcase(s, tc);

    tc = tcase_create("layout");
    cis2_test_fixture(tc);
    tcase_add_test(tc, format_rejects_bad_blocks);
    tcase_add_test(tc, geometry_is_sane);
    tcase_add_test(tc, reattach_keeps_contents);
    tcase_add_test(tc, bytes_per_entry_close_to_payload);
    suite_add_tcase(s, tc);

    tc = tcase_create("operations");
    cis2_test_fixture(tc);
    tcase_add_test(tc, put_then_get);
    tcase_add_test(tc, empty_value_and_bad_args);
    tcase_add_test(tc, overwrite_replaces);
    tcase_add_test(tc, delete_removes);
    tcase_add_test(tc, take_is_single_use);
    tcase_add_test(tc, take_refuses_expired);
    tcase_add_test(tc, touch_moves_expiry);
    tcase_add_test(tc, add_once_detects_replay);
    tcase_add_test(tc, expired_entries_are_not_returned_and_reclaimed);
    tcase_add_test(tc, forty_kb_value_fits);
    suite_add_tcase(s, tc);

    tc = tcase_create("eviction");
    cis2_test_fixture(tc);
    tcase_add_test(tc, eviction_takes_least_recently_used);
    tcase_add_test(tc, lock_free_reads_count_for_eviction);
    tcase_add_test(tc, eviction_prefers_expired);
    tcase_add_test(tc, pending_flood_does_not_evict_sessions);
    tcase_add_test(tc, sessions_full_do_not_block_logins);
    tcase_add_test(tc, oversize_value_is_too_large);
    tcase_add_test(tc, fragmented_store_is_full);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, random_operations_match_a_model);
    tcase_add_test(tc, died_mid_update_is_recovered);
    suite_add_tcase(s, tc);

    tc = tcase_create("indexes");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, index_deletes_by_sid_and_by_sub);
    tcase_add_test(tc, index_spares_sessions_begun_after_not_after);
    tcase_add_test(tc, index_follows_every_way_an_entry_goes);
    tcase_add_test(tc, index_survives_eviction_pressure);
    tcase_add_test(tc, index_chains_stay_short);
    tcase_add_test(tc, index_bad_calls);
    tcase_add_test(tc, index_survives_reattach_elsewhere);
    tcase_add_test(tc, index_random_operations_match_a_model);
    suite_add_tcase(s, tc);
    return s;
}
