/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * testmain — the shared harness of the Check unit tests. Each test_<x>.c
 * defines `Suite *cis2_test_suite(void)` and uses the per-test pool
 * `g_pool` (created by the fixture, destroyed after each test, so every
 * pool cleanup — jansson, cjose, OpenSSL, curl — runs in every test).
 */
#ifndef CIS2_TESTMAIN_H
#define CIS2_TESTMAIN_H

#include <check.h>
#include <apr_pools.h>

extern apr_pool_t *g_pool;

/** The suite under test; defined by each test file. */
Suite *cis2_test_suite(void);

/** Add the pool fixture to a test case (call for every TCase). */
void cis2_test_fixture(TCase *tc);

/** Path of a fixture file in t/unit/data (from $CIS2_TEST_DATA). */
const char *cis2_test_data(const char *name);

/** Read a whole fixture file into g_pool (NUL-terminated); fails the test
 *  if it cannot be read. */
const char *cis2_test_slurp(const char *name, apr_size_t *plen);

#endif
