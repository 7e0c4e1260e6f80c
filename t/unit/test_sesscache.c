/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_sesscache — the per-process memo of decoded sessions: a hit needs
 * the same id and the same record bytes; another record for the slot
 * replaces the entry, but a session in use stays readable until its
 * holder's pool is cleaned up (valgrind, in t/run-sanitizers, checks that
 * nothing is read after it is freed and nothing leaks); a bad record is
 * an error and is not remembered; big records are not remembered; many
 * threads reading and replacing at once always get the session of the
 * bytes they passed.
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "testmain.h"
#include "cis2_sesscache.h"

/* an encoded session whose remote_user is `user` */
static const char *record(const char *user, apr_size_t *plen,
                          apr_size_t pad)
{
    cis2_session_t *s = apr_pcalloc(g_pool, sizeof(*s));
    cis2_kv_t *kv;
    const char *buf;

    s->client_id = "client";
    s->sub = user;
    s->remote_user = user;
    s->created = apr_time_from_sec(1000);
    s->expires = apr_time_from_sec(2000);
    s->selected_role = -1;
    s->env = apr_array_make(g_pool, 2, sizeof(cis2_kv_t));
    kv = apr_array_push(s->env);
    kv->name = "CIS2_UID";
    kv->value = user;
    if (pad > 0) {
        /* noise does not compress: a record of about pad bytes */
        char *big = apr_palloc(g_pool, pad + 1);
        unsigned x = 12345;
        apr_size_t i;

        for (i = 0; i < pad; i++) {
            x = x * 1103515245u + 12345u;
            big[i] = (char)('!' + (x >> 16) % 90);
        }
        big[pad] = '\0';
        kv = apr_array_push(s->env);
        kv->name = "CIS2_CLAIM_BIG";
        kv->value = big;
    }
    ck_assert_int_eq(cis2_session_encode(&buf, plen, s, NULL, g_pool),
                     APR_SUCCESS);
    return buf;
}

START_TEST(hit_needs_same_id_and_bytes)
{
    cis2_sesscache_t *c;
    const cis2_session_t *a, *b, *d;
    const char *ra, *rb;
    apr_size_t la, lb;
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;

    ck_assert_int_eq(cis2_sesscache_create(&c, 8, g_pool), APR_SUCCESS);
    apr_pool_create(&hold, g_pool);
    ra = record("alice", &la, 0);
    rb = record("bob", &lb, 0);
    ck_assert_int_eq(cis2_sesscache_decode(c, &a, "id-1", ra, la, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_str_eq(a->remote_user, "alice");
    ck_assert_int_eq(cis2_sesscache_decode(c, &b, "id-1", ra, la, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_ptr_eq(a, b);                              /* remembered */
    /* same id, other bytes (a replaced record): decoded, not the memo's */
    ck_assert_int_eq(cis2_sesscache_decode(c, &d, "id-1", rb, lb, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_str_eq(d->remote_user, "bob");
    /* same bytes under another id: not a hit either */
    ck_assert_int_eq(cis2_sesscache_decode(c, &b, "id-2", rb, lb, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_ptr_ne(b, d);
    ck_assert_str_eq(b->remote_user, "bob");
    /* the first session is still readable: its holder is alive */
    ck_assert_str_eq(a->remote_user, "alice");
    cis2_sesscache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 3);
    apr_pool_destroy(hold);
}
END_TEST

START_TEST(replaced_entry_lives_until_released)
{
    cis2_sesscache_t *c;
    const cis2_session_t *a, *b;
    const char *ra, *rb;
    apr_size_t la, lb;
    apr_pool_t *h1, *h2;

    ck_assert_int_eq(cis2_sesscache_create(&c, 1, g_pool), APR_SUCCESS);
    apr_pool_create(&h1, g_pool);
    apr_pool_create(&h2, g_pool);
    ra = record("alice", &la, 0);
    rb = record("bob", &lb, 0);
    ck_assert_int_eq(cis2_sesscache_decode(c, &a, "a", ra, la, NULL, h1),
                     APR_SUCCESS);
    /* one slot: bob replaces alice while h1 still uses her session */
    ck_assert_int_eq(cis2_sesscache_decode(c, &b, "b", rb, lb, NULL, h2),
                     APR_SUCCESS);
    ck_assert_str_eq(a->remote_user, "alice");
    ck_assert_str_eq(APR_ARRAY_IDX(a->env, 0, cis2_kv_t).value, "alice");
    apr_pool_destroy(h1);                     /* alice's entry freed now */
    ck_assert_str_eq(b->remote_user, "bob");
    apr_pool_destroy(h2);                     /* bob stays in the slot */
    apr_pool_create(&h1, g_pool);
    ck_assert_int_eq(cis2_sesscache_decode(c, &a, "b", rb, lb, NULL, h1),
                     APR_SUCCESS);
    ck_assert_ptr_eq(a, b);
    apr_pool_destroy(h1);
}
END_TEST

START_TEST(bad_record_is_an_error_and_not_remembered)
{
    cis2_sesscache_t *c;
    const cis2_session_t *a = NULL;
    const cis2_err_t *err = NULL;
    const char *ra;
    char *bad;
    apr_size_t la;
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;

    ck_assert_int_eq(cis2_sesscache_create(&c, 4, g_pool), APR_SUCCESS);
    apr_pool_create(&hold, g_pool);
    ra = record("alice", &la, 0);
    bad = apr_pmemdup(g_pool, ra, la);
    bad[la - 1] ^= 0x55;
    bad[5] = (char)0xff;
    ck_assert_int_ne(cis2_sesscache_decode(c, &a, "x", bad, la, &err, hold),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_ptr_nonnull(err->detail);          /* readable: in hold */
    ck_assert_uint_gt(strlen(err->detail), 0);
    cis2_sesscache_stats(c, &st);
    ck_assert_int_eq(st.used, 0);
    apr_pool_destroy(hold);
}
END_TEST

START_TEST(big_records_are_not_remembered)
{
    cis2_sesscache_t *c;
    const cis2_session_t *a, *b;
    const char *r;
    apr_size_t l;
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;

    ck_assert_int_eq(cis2_sesscache_create(&c, 4, g_pool), APR_SUCCESS);
    apr_pool_create(&hold, g_pool);
    r = record("carol", &l, CIS2_SESSCACHE_MAX_RECORD + 100);
    ck_assert_uint_gt(l, CIS2_SESSCACHE_MAX_RECORD);
    ck_assert_int_eq(cis2_sesscache_decode(c, &a, "c", r, l, NULL, hold),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_sesscache_decode(c, &b, "c", r, l, NULL, hold),
                     APR_SUCCESS);
    ck_assert_ptr_ne(a, b);
    ck_assert_str_eq(b->remote_user, "carol");
    cis2_sesscache_stats(c, &st);
    ck_assert_int_eq(st.used, 0);
    apr_pool_destroy(hold);
}
END_TEST

/* ---- threads ------------------------------------------------------------ */

#define NTHREADS 8
#define NUSERS 6
#define ROUNDS 3000

typedef struct tctx {
    cis2_sesscache_t *c;
    const char *rec[NUSERS];
    apr_size_t len[NUSERS];
    unsigned seed;
    int wrong;
} tctx;

static const char *const users[NUSERS] = {
    "u0", "u1", "u2", "u3", "u4", "u5"
};

static void *APR_THREAD_FUNC reader(apr_thread_t *t, void *data)
{
    tctx *x = data;
    apr_pool_t *p;
    int i;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    for (i = 0; i < ROUNDS; i++) {
        apr_pool_t *hold;
        const cis2_session_t *s;
        int u = (int)((x->seed = x->seed * 1103515245u + 12345u) >> 16)
                % NUSERS;
        char sid[8];

        apr_pool_create(&hold, p);
        /* two ids per slot of a 3-slot memo: constant replacement */
        apr_snprintf(sid, sizeof(sid), "s%d", u);
        if (cis2_sesscache_decode(x->c, &s, sid, x->rec[u], x->len[u], NULL,
                                  hold) != APR_SUCCESS
            || strcmp(s->remote_user, users[u]) != 0
            || strcmp(APR_ARRAY_IDX(s->env, 0, cis2_kv_t).value,
                      users[u]) != 0) {
            x->wrong++;
        }
        apr_pool_destroy(hold);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(threads_get_the_session_of_their_bytes)
{
    cis2_sesscache_t *c;
    apr_thread_t *th[NTHREADS];
    tctx ctx[NTHREADS];
    apr_status_t rv;
    cis2_sesscache_stats_t st;
    int i, u;

    ck_assert_int_eq(cis2_sesscache_create(&c, 3, g_pool), APR_SUCCESS);
    for (i = 0; i < NTHREADS; i++) {
        ctx[i].c = c;
        ctx[i].seed = (unsigned)i * 7919u + 1u;
        ctx[i].wrong = 0;
        for (u = 0; u < NUSERS; u++) {
            ctx[i].rec[u] = record(users[u], &ctx[i].len[u], 0);
        }
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, reader, &ctx[i],
                                           g_pool), APR_SUCCESS);
    }
    for (i = 0; i < NTHREADS; i++) {
        apr_thread_join(&rv, th[i]);
        ck_assert_int_eq(ctx[i].wrong, 0);
    }
    cis2_sesscache_stats(c, &st);
    ck_assert_uint_eq(st.hits + st.misses, (apr_uint64_t)NTHREADS * ROUNDS);
    ck_assert_uint_gt(st.hits, 0);
    ck_assert_uint_gt(st.replaced, 0);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("sesscache");
    TCase *tc = tcase_create("sesscache");

    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hit_needs_same_id_and_bytes);
    tcase_add_test(tc, replaced_entry_lives_until_released);
    tcase_add_test(tc, bad_record_is_an_error_and_not_remembered);
    tcase_add_test(tc, big_records_are_not_remembered);
    tcase_add_test(tc, threads_get_the_session_of_their_bytes);
    suite_add_tcase(s, tc);
    return s;
}
