/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_stats — the shared counters block: format and attach (a foreign or
 * resized block is refused), counters and refusals by reason, the last
 * error (newest wins, bounded copies), and counting from several processes
 * at once into one anonymous shared segment (no update lost).
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <apr_shm.h>

#include "testmain.h"
#include "cis2_stats.h"

static cis2_stats_t *fresh(void **pbase)
{
    cis2_stats_t *st = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t n = cis2_stats_block_size();
    void *base = apr_pcalloc(g_pool, n);

    ck_assert_int_eq(cis2_stats_attach(&st, base, n, 1, apr_time_from_sec(7),
                                       &err, g_pool), APR_SUCCESS);
    if (pbase) {
        *pbase = base;
    }
    return st;
}

START_TEST(format_then_attach_keeps_counts)
{
    void *base;
    cis2_stats_t *st = fresh(&base), *again = NULL;
    cis2_stats_snapshot_t snap;
    const cis2_err_t *err = NULL;

    cis2_stats_add(st, CIS2_STAT_LOGINS, 3);
    ck_assert_int_eq(cis2_stats_attach(&again, base, cis2_stats_block_size(),
                                       0, 0, &err, g_pool), APR_SUCCESS);
    cis2_stats_new_generation(again);
    cis2_stats_snapshot(again, &snap);
    ck_assert_uint_eq(snap.counters[CIS2_STAT_LOGINS], 3);
    ck_assert_uint_eq(snap.generation, 2);
    ck_assert_int_eq(snap.created, apr_time_from_sec(7));
    ck_assert_int_eq(snap.last_error.time, 0);
}
END_TEST

START_TEST(attach_refuses_foreign_or_small_block)
{
    cis2_stats_t *st = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t n = cis2_stats_block_size();
    void *base = apr_pcalloc(g_pool, n);

    ck_assert_int_ne(cis2_stats_attach(&st, base, n, 0, 0, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_ptr_null(st);
    err = NULL;
    ck_assert_int_ne(cis2_stats_attach(&st, base, n - 1, 1, 0, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    memset(base, 0x5a, n);
    ck_assert_int_ne(cis2_stats_attach(&st, base, n, 0, 0, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

START_TEST(refusals_by_reason_and_last_error)
{
    cis2_stats_t *st = fresh(NULL);
    cis2_stats_snapshot_t snap;
    char longref[100];

    memset(longref, 'r', sizeof(longref) - 1);
    longref[sizeof(longref) - 1] = '\0';
    cis2_stats_refused(st, CIS2_E_SIGNATURE, "CIS2-00304", "AAAA1111",
                       apr_time_from_sec(100));
    cis2_stats_refused(st, CIS2_E_SIGNATURE, "CIS2-00304", "BBBB2222",
                       apr_time_from_sec(101));
    cis2_stats_refused(st, CIS2_E_TIMEOUT, "CIS2-00304", "CCCC3333",
                       apr_time_from_sec(102));
    cis2_stats_snapshot(st, &snap);
    ck_assert_uint_eq(snap.counters[CIS2_STAT_REFUSALS], 3);
    ck_assert_uint_eq(snap.refusals[CIS2_E_SIGNATURE], 2);
    ck_assert_uint_eq(snap.refusals[CIS2_E_TIMEOUT], 1);
    ck_assert_str_eq(snap.last_error.ref, "CCCC3333");
    ck_assert_str_eq(snap.last_error.logno, "CIS2-00304");
    ck_assert_int_eq(snap.last_error.code, CIS2_E_TIMEOUT);
    ck_assert_int_eq(snap.last_error.time, apr_time_from_sec(102));

    /* out-of-range reasons count as "none"; long strings are cut, not
     * overrun; NULL strings are empty */
    cis2_stats_refused(st, 9999, NULL, longref, apr_time_from_sec(103));
    cis2_stats_refused(st, -1, "CIS2-00301", NULL, apr_time_from_sec(104));
    cis2_stats_snapshot(st, &snap);
    ck_assert_uint_eq(snap.refusals[CIS2_E_NONE], 2);
    ck_assert_str_eq(snap.last_error.ref, "");
    ck_assert_str_eq(snap.last_error.logno, "CIS2-00301");
    ck_assert_uint_eq(snap.counters[CIS2_STAT_REFUSALS], 5);
}
END_TEST

START_TEST(ring_wraps_and_newest_wins)
{
    cis2_stats_t *st = fresh(NULL);
    cis2_stats_snapshot_t snap;
    int i;

    for (i = 0; i < 11; i++) {
        char ref[8];

        ref[0] = (char)('a' + i);
        ref[1] = '\0';
        cis2_stats_refused(st, CIS2_E_STATE, "CIS2-00301", ref,
                           apr_time_from_sec(i + 1));
    }
    cis2_stats_snapshot(st, &snap);
    ck_assert_str_eq(snap.last_error.ref, "k");
    ck_assert_uint_eq(snap.refusals[CIS2_E_STATE], 11);
}
END_TEST

START_TEST(null_and_bad_counter_are_harmless)
{
    cis2_stats_t *st = fresh(NULL);
    cis2_stats_snapshot_t snap;

    cis2_stats_add(NULL, CIS2_STAT_LOGINS, 1);
    cis2_stats_refused(NULL, CIS2_E_AUD, "x", "y", 1);
    cis2_stats_add(st, CIS2_STAT__COUNT, 1);
    cis2_stats_add(st, (cis2_stat_counter)-1, 1);
    cis2_stats_snapshot(NULL, &snap);
    ck_assert_uint_eq(snap.counters[CIS2_STAT_LOGINS], 0);
    cis2_stats_snapshot(st, &snap);
    for (int i = 0; i < CIS2_STAT__COUNT; i++) {
        ck_assert_uint_eq(snap.counters[i], 0);
    }
}
END_TEST

/* httpd's children: separate processes counting into one segment */
START_TEST(processes_lose_no_update)
{
    apr_shm_t *shm = NULL;
    cis2_stats_t *st = NULL;
    const cis2_err_t *err = NULL;
    cis2_stats_snapshot_t snap;
    enum { KIDS = 4, EACH = 20000 };
    pid_t pids[KIDS];
    int i, status;

    ck_assert_int_eq(apr_shm_create(&shm, cis2_stats_block_size(), NULL,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_stats_attach(&st, apr_shm_baseaddr_get(shm),
                                       apr_shm_size_get(shm), 1, 0, &err,
                                       g_pool), APR_SUCCESS);
    for (i = 0; i < KIDS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            int j;

            for (j = 0; j < EACH; j++) {
                cis2_stats_add(st, CIS2_STAT_LOGINS, 1);
                if (j % 100 == 0) {
                    cis2_stats_refused(st, CIS2_E_AAL, "CIS2-00304", "ref",
                                       apr_time_from_sec(j + 1));
                }
            }
            _exit(0);
        }
    }
    for (i = 0; i < KIDS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    cis2_stats_snapshot(st, &snap);
    ck_assert_uint_eq(snap.counters[CIS2_STAT_LOGINS], KIDS * EACH);
    ck_assert_uint_eq(snap.refusals[CIS2_E_AAL], KIDS * (EACH / 100));
    ck_assert_str_eq(snap.last_error.ref, "ref");
    apr_shm_destroy(shm);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");

    cis2_test_fixture(tc);
    tcase_add_test(tc, format_then_attach_keeps_counts);
    tcase_add_test(tc, attach_refuses_foreign_or_small_block);
    tcase_add_test(tc, refusals_by_reason_and_last_error);
    tcase_add_test(tc, ring_wraps_and_newest_wins);
    tcase_add_test(tc, null_and_bad_counter_are_harmless);
    tcase_add_test(tc, processes_lose_no_update);
    suite_add_tcase(s, tc);
    return s;
}
