/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * sessview — a Check assertion shared by the session codec tests.
 */
#ifndef CIS2_TEST_SESSVIEW_H
#define CIS2_TEST_SESSVIEW_H

#include "cis2_session.h"

/** Fails the test unless got's authorization view (roles with their
 *  activities, selected role, claims) equals want's, string by string. */
void cis2_test_assert_view_eq(const cis2_session_t *want,
                              const cis2_session_t *got);

#endif
