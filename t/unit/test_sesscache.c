/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_sesscache — the per-process memo of decoded sessions: a session is
 * remembered on the second request in a row for it in its slot, whole,
 * and shared; a hit needs the same id and the same record bytes; traffic
 * rotating over more sessions than slots remembers nothing; another record
 * for the slot replaces the entry, but a session in use stays readable
 * until its holder's pool is cleaned up (valgrind, in t/run-sanitizers,
 * checks that nothing is read after it is freed and nothing leaks); a bad
 * record is an error and is not remembered; big records are not
 * remembered; many threads reading and replacing at once always get the
 * session of the bytes they passed.
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
    s->selected_role = 0;
    s->roles = apr_array_make(g_pool, 1, sizeof(cis2_role_t));
    {
        cis2_role_t *role = apr_array_push(s->roles);

        memset(role, 0, sizeof(*role));
        role->id = "555254240100";
        role->code = user;
        role->activities = apr_array_make(g_pool, 1, sizeof(const char *));
    }
    s->claims = apr_array_make(g_pool, 1, sizeof(cis2_kv_t));
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

/* one decode through the memo, checked: the session of these bytes */
static cis2_session_t *get(cis2_sesscache_t *c, const char *sid,
                           const char *rec, apr_size_t len, const char *user,
                           apr_pool_t *hold, int want_shared)
{
    cis2_session_t *s = NULL;
    int shared = -1;

    ck_assert_int_eq(cis2_sesscache_decode(c, &s, &shared, sid, rec, len,
                                           NULL, hold), APR_SUCCESS);
    ck_assert_int_eq(shared, want_shared);
    ck_assert_str_eq(s->remote_user, user);
    if (shared) {
        /* remembered whole: nothing left to decode, roles there */
        ck_assert_ptr_null(s->rest);
        ck_assert_int_eq(s->roles->nelts, 1);
        ck_assert_str_eq(APR_ARRAY_IDX(s->roles, 0, cis2_role_t).code, user);
    }
    else {
        /* the caller's own, lazily decoded (version 4 record) */
        ck_assert_ptr_nonnull(s->rest);
        ck_assert_int_eq(cis2_session_finish(s, NULL), APR_SUCCESS);
        ck_assert_str_eq(APR_ARRAY_IDX(s->roles, 0, cis2_role_t).code, user);
    }
    return s;
}

START_TEST(second_sighting_then_hits)
{
    cis2_sesscache_t *c;
    cis2_session_t *a, *b, *d;
    const char *ra, *rb;
    apr_size_t la, lb;
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;

    ck_assert_int_eq(cis2_sesscache_create(&c, 8, g_pool), APR_SUCCESS);
    apr_pool_create(&hold, g_pool);
    ra = record("alice", &la, 0);
    rb = record("bob", &lb, 0);
    a = get(c, "id-1", ra, la, "alice", hold, 0);      /* first: own */
    b = get(c, "id-1", ra, la, "alice", hold, 1);      /* second: kept */
    ck_assert_ptr_ne(a, b);
    d = get(c, "id-1", ra, la, "alice", hold, 1);      /* then: hits */
    ck_assert_ptr_eq(b, d);
    /* same id, other bytes (a replaced record): not the memo's */
    d = get(c, "id-1", rb, lb, "bob", hold, 0);
    /* same bytes under another id: not a hit either */
    d = get(c, "id-2", ra, la, "alice", hold, 0);
    ck_assert_ptr_ne(b, d);
    cis2_sesscache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 4);
    apr_pool_destroy(hold);
}
END_TEST

START_TEST(rotating_sessions_are_not_remembered)
{
    cis2_sesscache_t *c;
    const char *rec[64];
    apr_size_t len[64];
    char sid[64][8];
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;
    int i, round;

    ck_assert_int_eq(cis2_sesscache_create(&c, 8, g_pool), APR_SUCCESS);
    for (i = 0; i < 64; i++) {
        apr_snprintf(sid[i], sizeof(sid[i]), "r%d", i);
        rec[i] = record(apr_psprintf(g_pool, "u%d", i), &len[i], 0);
    }
    apr_pool_create(&hold, g_pool);
    /* 64 sessions in turn through 8 slots (several ids in each): no slot
     * sees one id twice in a row */
    for (round = 0; round < 5; round++) {
        for (i = 0; i < 64; i++) {
            cis2_session_t *s;

            ck_assert_int_eq(cis2_sesscache_decode(c, &s, NULL, sid[i],
                                                   rec[i], len[i], NULL,
                                                   hold), APR_SUCCESS);
        }
    }
    cis2_sesscache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 0);
    ck_assert_uint_eq(st.misses, 5 * 64);
    ck_assert_int_eq(st.used, 0);
    apr_pool_destroy(hold);
}
END_TEST

START_TEST(replaced_entry_lives_until_released)
{
    cis2_sesscache_t *c;
    cis2_session_t *a, *b;
    const char *ra, *rb;
    apr_size_t la, lb;
    apr_pool_t *h1, *h2;

    ck_assert_int_eq(cis2_sesscache_create(&c, 1, g_pool), APR_SUCCESS);
    apr_pool_create(&h1, g_pool);
    apr_pool_create(&h2, g_pool);
    ra = record("alice", &la, 0);
    rb = record("bob", &lb, 0);
    get(c, "a", ra, la, "alice", h2, 0);
    a = get(c, "a", ra, la, "alice", h1, 1);
    /* one slot: bob replaces alice while h1 still uses her session */
    get(c, "b", rb, lb, "bob", h2, 0);
    b = get(c, "b", rb, lb, "bob", h2, 1);
    ck_assert_str_eq(a->remote_user, "alice");
    ck_assert_str_eq(APR_ARRAY_IDX(a->env, 0, cis2_kv_t).value, "alice");
    apr_pool_destroy(h1);                     /* alice's entry freed now */
    ck_assert_str_eq(b->remote_user, "bob");
    apr_pool_destroy(h2);                     /* bob stays in the slot */
    apr_pool_create(&h1, g_pool);
    a = get(c, "b", rb, lb, "bob", h1, 1);
    ck_assert_ptr_eq(a, b);
    apr_pool_destroy(h1);
}
END_TEST

START_TEST(bad_record_is_an_error_and_not_remembered)
{
    cis2_sesscache_t *c;
    cis2_session_t *a = NULL;
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
    ck_assert_int_ne(cis2_sesscache_decode(c, &a, NULL, "x", bad, la, &err,
                                           hold), APR_SUCCESS);
    err = NULL;
    ck_assert_int_ne(cis2_sesscache_decode(c, &a, NULL, "x", bad, la, &err,
                                           hold), APR_SUCCESS);
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
    cis2_session_t *a, *b;
    const char *r;
    apr_size_t l;
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;

    ck_assert_int_eq(cis2_sesscache_create(&c, 4, g_pool), APR_SUCCESS);
    apr_pool_create(&hold, g_pool);
    r = record("carol", &l, CIS2_SESSCACHE_MAX_RECORD + 100);
    ck_assert_uint_gt(l, CIS2_SESSCACHE_MAX_RECORD);
    ck_assert_int_eq(cis2_sesscache_decode(c, &a, NULL, "c", r, l, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_int_eq(cis2_sesscache_decode(c, &b, NULL, "c", r, l, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_int_eq(cis2_sesscache_decode(c, &b, NULL, "c", r, l, NULL,
                                           hold), APR_SUCCESS);
    ck_assert_ptr_ne(a, b);
    ck_assert_str_eq(b->remote_user, "carol");
    cis2_sesscache_stats(c, &st);
    ck_assert_int_eq(st.used, 0);
    apr_pool_destroy(hold);
}
END_TEST

/* a small record can decode large: 3000 variables that are references to
 * one name and one value compress to well under the record limit, but
 * their array alone is ~48 KB */
START_TEST(big_decoded_sessions_are_not_remembered)
{
    cis2_sesscache_t *c;
    cis2_session_t *s = apr_pcalloc(g_pool, sizeof(*s)), *a;
    const char *r;
    apr_size_t l;
    apr_pool_t *hold;
    cis2_sesscache_stats_t st;
    int i, shared = -1;

    s->client_id = "client";
    s->sub = s->remote_user = "many";
    s->created = apr_time_from_sec(1000);
    s->expires = apr_time_from_sec(2000);
    s->selected_role = -1;
    s->env = apr_array_make(g_pool, 3000, sizeof(cis2_kv_t));
    for (i = 0; i < 3000; i++) {
        cis2_kv_t *kv = apr_array_push(s->env);

        kv->name = "CIS2_UID";
        kv->value = "many";
    }
    ck_assert_int_eq(cis2_session_encode(&r, &l, s, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_uint_le(l, CIS2_SESSCACHE_MAX_RECORD);
    ck_assert_int_eq(cis2_session_decode(&a, r, l, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_uint_gt(a->mem, CIS2_SESSCACHE_MAX_DECODED);
    ck_assert_int_eq(cis2_sesscache_create(&c, 4, g_pool), APR_SUCCESS);
    apr_pool_create(&hold, g_pool);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(cis2_sesscache_decode(c, &a, &shared, "m", r, l,
                                               NULL, hold), APR_SUCCESS);
        ck_assert_int_eq(shared, 0);
        ck_assert_int_eq(a->env->nelts, 3000);
    }
    cis2_sesscache_stats(c, &st);
    ck_assert_int_eq(st.used, 0);
    /* while a user with a few roles is well under the bound */
    r = record("alice", &l, 0);
    ck_assert_int_eq(cis2_session_decode(&a, r, l, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_uint_lt(a->mem, CIS2_SESSCACHE_MAX_DECODED / 4);
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
        cis2_session_t *s;
        int u = (int)((x->seed = x->seed * 1103515245u + 12345u) >> 16)
                % NUSERS;
        char sid[8];

        apr_pool_create(&hold, p);
        /* two ids per slot of a 3-slot memo: constant replacement */
        apr_snprintf(sid, sizeof(sid), "s%d", u);
        if (cis2_sesscache_decode(x->c, &s, NULL, sid, x->rec[u], x->len[u],
                                  NULL, hold) != APR_SUCCESS
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
    tcase_add_test(tc, second_sighting_then_hits);
    tcase_add_test(tc, rotating_sessions_are_not_remembered);
    tcase_add_test(tc, replaced_entry_lives_until_released);
    tcase_add_test(tc, bad_record_is_an_error_and_not_remembered);
    tcase_add_test(tc, big_records_are_not_remembered);
    tcase_add_test(tc, big_decoded_sessions_are_not_remembered);
    tcase_add_test(tc, threads_get_the_session_of_their_bytes);
    suite_add_tcase(s, tc);
    return s;
}
