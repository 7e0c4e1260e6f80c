/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_nearcache — cis2_nearcache, the host-local cache of Redis session
 * records: served only while live (a recent beat), only in the epoch it
 * was cached under, never past the TTL or the authority's expiry; a read
 * that raced with an invalidation or a bump does not cache; down stops
 * serving until the next beat; attach sees what format made (another
 * process's view); a forked process's invalidation is seen here.
 * Time is passed in, so no test sleeps.
 */
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <apr_strings.h>

#include "testmain.h"
#include "cis2_nearcache.h"

#define MS(n)    apr_time_from_msec(n)
#define SEC(n)   apr_time_from_sec(n)
#define NOW      SEC(1800000000)
#define SIZE     ((apr_size_t)256 * 1024)
#define NAME     "cis2:s:0123456789abcdef"
#define REC      "a session record"

static cis2_nearcache_t *fresh(void **pbase, apr_interval_time_t ttl)
{
    cis2_nearcache_t *nc = NULL;
    const cis2_err_t *err = NULL;
    void *base = apr_palloc(g_pool, SIZE);

    ck_assert_msg(cis2_nearcache_create(&nc, base, SIZE, 1, ttl, NULL, &err,
                                        g_pool) == APR_SUCCESS,
                  "create: %s", err ? err->detail : "?");
    if (pbase != NULL) {
        *pbase = base;
    }
    return nc;
}

/* Cache REC under NAME at `now` (live from a beat at now). */
static int cache(cis2_nearcache_t *nc, const char *name, apr_time_t now,
                 apr_time_t expires)
{
    cis2_nearcache_mark_t m;

    cis2_nearcache_beat(nc, now);
    cis2_nearcache_mark(nc, now, &m);
    return cis2_nearcache_put(nc, &m, name, REC, strlen(REC), expires, now,
                              g_pool);
}

static int hit(cis2_nearcache_t *nc, const char *name, apr_time_t now)
{
    const char *v = NULL;
    apr_size_t len = 0;
    apr_time_t exp = 0;

    if (cis2_nearcache_get(nc, name, now, &v, &len, &exp, g_pool)
        != APR_SUCCESS) {
        return 0;
    }
    ck_assert_uint_eq(len, strlen(REC));
    ck_assert_mem_eq(v, REC, len);
    return 1;
}

START_TEST(cached_record_is_served_with_its_expiry)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(5));
    const char *v = NULL;
    apr_size_t len = 0;
    apr_time_t exp = 0;
    cis2_nearcache_stats_t st;

    ck_assert_int_eq(hit(nc, NAME, NOW), 0);          /* not live yet */
    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    ck_assert_int_eq(cis2_nearcache_get(nc, NAME, NOW + MS(10), &v, &len,
                                        &exp, g_pool), APR_SUCCESS);
    ck_assert_int_eq(exp, NOW + SEC(900));
    ck_assert_int_eq(hit(nc, "cis2:s:other", NOW), 0);
    cis2_nearcache_get_stats(nc, NOW, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.stores, 1);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_int_eq(st.live, 1);
}
END_TEST

START_TEST(ttl_and_authority_expiry_bound_the_age)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(5));

    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    cis2_nearcache_beat(nc, NOW + SEC(5));
    ck_assert_int_eq(hit(nc, NAME, NOW + SEC(5) - 1), 1);
    ck_assert_int_eq(hit(nc, NAME, NOW + SEC(5)), 0);     /* TTL */
    /* an entry whose session ends before the TTL: gone with it */
    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(2)), 1);
    ck_assert_int_eq(hit(nc, NAME, NOW + SEC(2) - 1), 1);
    ck_assert_int_eq(hit(nc, NAME, NOW + SEC(2)), 0);
    /* already expired at the authority: not cached at all */
    ck_assert_int_eq(cache(nc, NAME, NOW, NOW), 0);
}
END_TEST

START_TEST(serves_only_while_beats_arrive)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(30));

    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    ck_assert_int_eq(hit(nc, NAME, NOW + CIS2_NEARCACHE_LIVE - 1), 1);
    /* no word from Redis for the live window: not served (still held) */
    ck_assert_int_eq(hit(nc, NAME, NOW + CIS2_NEARCACHE_LIVE), 0);
    /* a late beat alone does not bring it back... unless nothing bumped:
     * the subscriber that beats again without a reconnect never lost it */
    cis2_nearcache_beat(nc, NOW + CIS2_NEARCACHE_LIVE);
    ck_assert_int_eq(hit(nc, NAME, NOW + CIS2_NEARCACHE_LIVE), 1);
}
END_TEST

START_TEST(down_drops_everything_and_stops_serving)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(30));
    cis2_nearcache_stats_t st;

    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    cis2_nearcache_down(nc);
    ck_assert_int_eq(hit(nc, NAME, NOW), 0);              /* not live */
    cis2_nearcache_beat(nc, NOW);                         /* back up */
    ck_assert_int_eq(hit(nc, NAME, NOW), 0);              /* old epoch */
    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    ck_assert_int_eq(hit(nc, NAME, NOW), 1);
    cis2_nearcache_bump(nc);                              /* reconnect */
    ck_assert_int_eq(hit(nc, NAME, NOW), 0);
    cis2_nearcache_get_stats(nc, NOW, &st);
    ck_assert_uint_eq(st.bumps, 2);
    ck_assert_uint_eq(st.epoch, 3);
}
END_TEST

START_TEST(invalidate_removes_the_named_entry_only)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(30));
    cis2_nearcache_stats_t st;

    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    ck_assert_int_eq(cache(nc, "cis2:s:second", NOW, NOW + SEC(900)), 1);
    cis2_nearcache_invalidate(nc, NAME, g_pool);
    ck_assert_int_eq(hit(nc, NAME, NOW), 0);
    ck_assert_int_eq(hit(nc, "cis2:s:second", NOW), 1);
    cis2_nearcache_invalidate(nc, "cis2:s:never-cached", g_pool);
    cis2_nearcache_invalidate(nc, "", g_pool);            /* ignored */
    cis2_nearcache_get_stats(nc, NOW, &st);
    ck_assert_uint_eq(st.invalidations, 2);
    ck_assert_uint_eq(st.entries, 1);
}
END_TEST

/* The race the mark exists for: a read misses, asks Redis; the session is
 * deleted and its invalidation applied (nothing to delete yet); then the
 * read's answer arrives. It must not be cached. */
START_TEST(read_racing_an_invalidation_is_not_cached)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(30));
    cis2_nearcache_mark_t m;

    cis2_nearcache_beat(nc, NOW);
    cis2_nearcache_mark(nc, NOW, &m);
    ck_assert_int_eq(cis2_nearcache_unchanged(nc, &m), 1);
    cis2_nearcache_invalidate(nc, NAME, g_pool);          /* logout */
    ck_assert_int_eq(cis2_nearcache_unchanged(nc, &m), 0);
    ck_assert_int_eq(cis2_nearcache_put(nc, &m, NAME, REC, strlen(REC),
                                        NOW + SEC(900), NOW, g_pool), 0);
    ck_assert_int_eq(hit(nc, NAME, NOW), 0);
    /* the same for a bump (subscriber lost) */
    cis2_nearcache_mark(nc, NOW, &m);
    cis2_nearcache_bump(nc);
    ck_assert_int_eq(cis2_nearcache_put(nc, &m, NAME, REC, strlen(REC),
                                        NOW + SEC(900), NOW, g_pool), 0);
    /* and a mark taken while not live never caches */
    cis2_nearcache_down(nc);
    cis2_nearcache_mark(nc, NOW, &m);
    cis2_nearcache_beat(nc, NOW);
    ck_assert_int_eq(cis2_nearcache_put(nc, &m, NAME, REC, strlen(REC),
                                        NOW + SEC(900), NOW, g_pool), 0);
}
END_TEST

START_TEST(too_large_is_not_cached)
{
    cis2_nearcache_t *nc = fresh(NULL, SEC(30));
    cis2_nearcache_mark_t m;
    apr_size_t big = SIZE / 4;
    char *v = apr_pcalloc(g_pool, big);

    cis2_nearcache_beat(nc, NOW);
    cis2_nearcache_mark(nc, NOW, &m);
    ck_assert_int_eq(cis2_nearcache_put(nc, &m, NAME, v, big, NOW + SEC(9),
                                        NOW, g_pool), 0);
    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
}
END_TEST

START_TEST(create_refuses_bad_blocks)
{
    cis2_nearcache_t *nc = NULL;
    const cis2_err_t *err = NULL;
    void *base = apr_pcalloc(g_pool, SIZE);

    ck_assert_int_ne(cis2_nearcache_create(&nc, base, 1024, 1, SEC(5), NULL,
                                           &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_int_ne(cis2_nearcache_create(&nc, base, SIZE, 1, 0, NULL,
                                           &err, g_pool), APR_SUCCESS);
    /* attach to a block never formatted */
    ck_assert_int_ne(cis2_nearcache_create(&nc, base, SIZE, 0, SEC(5), NULL,
                                           &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
}
END_TEST

/* Two processes on one shared block (as two httpd children): what one
 * caches the other serves; what the other invalidates is gone here. */
START_TEST(processes_share_one_cache)
{
    void *base = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cis2_nearcache_t *nc = NULL, *other = NULL;
    const cis2_err_t *err = NULL;
    pid_t pid;
    int status = 0;

    ck_assert_ptr_ne(base, MAP_FAILED);
    ck_assert_int_eq(cis2_nearcache_create(&nc, base, SIZE, 1, SEC(30), NULL,
                                           &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cache(nc, NAME, NOW, NOW + SEC(900)), 1);
    pid = fork();
    if (pid == 0) {
        int ok = cis2_nearcache_create(&other, base, SIZE, 0, SEC(30), NULL,
                                       NULL, g_pool) == APR_SUCCESS
                 && hit(other, NAME, NOW);

        if (ok) {
            cis2_nearcache_invalidate(other, NAME, g_pool);
        }
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(hit(nc, NAME, NOW), 0);
    munmap(base, SIZE);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("nearcache");
    TCase *tc = tcase_create("nearcache");

    cis2_test_fixture(tc);
    tcase_add_test(tc, cached_record_is_served_with_its_expiry);
    tcase_add_test(tc, ttl_and_authority_expiry_bound_the_age);
    tcase_add_test(tc, serves_only_while_beats_arrive);
    tcase_add_test(tc, down_drops_everything_and_stops_serving);
    tcase_add_test(tc, invalidate_removes_the_named_entry_only);
    tcase_add_test(tc, read_racing_an_invalidation_is_not_cached);
    tcase_add_test(tc, too_large_is_not_cached);
    tcase_add_test(tc, create_refuses_bad_blocks);
    tcase_add_test(tc, processes_share_one_cache);
    suite_add_tcase(s, tc);
    return s;
}
