/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_json — jansson values owned by an APR pool (a pool cleanup drops the
 * reference), bounded parsing of untrusted JSON, and the typed getters the
 * protocol code needs, including CIS2's "string or integer" assurance claims.
 */
#ifndef CIS2_JSON_H
#define CIS2_JSON_H

#include <jansson.h>
#include "cis2.h"

/** Hand a new reference of j to pool p: json_decref runs when p is cleared.
 *  Returns j. NULL-safe. */
json_t *cis2_json_own(apr_pool_t *p, json_t *j);

/** Parse untrusted JSON text of len bytes (no NUL needed). Rejects input
 *  over max_len (CIS2_E_TOO_LARGE), nesting deeper than CIS2_MAX_JSON_DEPTH,
 *  duplicate object keys, embedded NUL in strings, and a top level that is
 *  not an object (CIS2_E_JSON). The result is owned by p. */
apr_status_t cis2_json_parse_object(json_t **pj, const char *text,
                                    apr_size_t len, apr_size_t max_len,
                                    const cis2_err_t **perr, apr_pool_t *p);

/** String member or NULL (absent or not a string). Borrowed pointer. */
const char *cis2_json_str(const json_t *obj, const char *name);

/** Integer member accepting a JSON integer or a string of decimal digits
 *  (CIS2 sends assurance levels both ways). 1 and *pout set on success,
 *  0 if absent or not an integer. Rejects fractions, signs other than a
 *  leading '-', and values beyond int64. */
int cis2_json_int(const json_t *obj, const char *name, apr_int64_t *pout);

/** A NumericDate (RFC 7519 §2) member: a JSON integer, or a real with no
 *  fractional overflow, in [0, 2^40). 1 and *pout (seconds) set on success,
 *  0 if absent/invalid (exp:1e300 and negative values are invalid). */
int cis2_json_numeric_date(const json_t *obj, const char *name,
                           apr_int64_t *pout);

/** Serialise compactly (sorted keys off, ensure_ascii off); owned by p. */
const char *cis2_json_dump(apr_pool_t *p, const json_t *j);

#endif /* CIS2_JSON_H */
