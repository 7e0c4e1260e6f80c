/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * testmain — main() and the pool fixture shared by every unit test binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "testmain.h"
#include "cis2_http.h"

apr_pool_t *g_pool;

static void pool_setup(void)
{
    apr_pool_create(&g_pool, NULL);
}

static void pool_teardown(void)
{
    apr_pool_destroy(g_pool);
    g_pool = NULL;
}

void cis2_test_fixture(TCase *tc)
{
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
}

const char *cis2_test_data(const char *name)
{
    const char *dir = getenv("CIS2_TEST_DATA");

    if (dir == NULL) {
        dir = "t/unit/data";
    }
    return apr_pstrcat(g_pool, dir, "/", name, NULL);
}

const char *cis2_test_slurp(const char *name, apr_size_t *plen)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;
    apr_size_t n;
    const char *path = cis2_test_data(name);

    ck_assert_msg(apr_file_open(&f, path, APR_READ | APR_BINARY, 0, g_pool)
                  == APR_SUCCESS, "cannot open fixture %s", path);
    ck_assert_int_eq(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    n = (apr_size_t)fi.size;
    buf = apr_palloc(g_pool, n + 1);
    ck_assert_int_eq(apr_file_read_full(f, buf, n, &n), APR_SUCCESS);
    buf[n] = '\0';
    apr_file_close(f);
    if (plen) {
        *plen = n;
    }
    return buf;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    atexit(apr_terminate);
    cis2_http_global_init();
    sr = srunner_create(cis2_test_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
