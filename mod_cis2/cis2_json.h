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
 *  not an object (CIS2_E_JSON). The result is owned by p. Our own strict
 *  parser builds the jansson values: it accepts exactly what json_loadb
 *  with JSON_REJECT_DUPLICATES accepts (except a raw NUL byte after a
 *  number or literal, which jansson skips), with the same values in the
 *  same member order, at a fraction of jansson's cost. */
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

/** Where a member's value sits in a text written by cis2_json_write. */
typedef struct cis2_json_span_t {
    apr_size_t off;     /* first byte of the value */
    apr_size_t len;     /* 0: the member was not written */
} cis2_json_span_t;

/** Write j as compact JSON text into one pool buffer: byte for byte what
 *  json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) writes (members in
 *  jansson's order, jansson's escapes, reals through jansson), except that
 *  DEL (0x7f) is written as \u007f, so the text holds no control byte.
 *  Faster than json_dumps: no cycle-check table, no per-byte callback.
 *  @param ptext    the NUL-terminated text, owned by p
 *  @param plen     its length (may be NULL)
 *  @param pspan    where the value of top-level member span_key is (may be
 *                  NULL; len 0 when j is not an object or has no such
 *                  member)
 *  @param skip     NULL-terminated names of top-level members left out
 *                  (may be NULL), as if deleted from a copy of j
 *  @return APR_SUCCESS; APR_EINVAL when a string is not valid UTF-8 or j
 *          nests deeper than CIS2_MAX_JSON_DEPTH + 1 (jansson's dump would
 *          fail or the value did not come from cis2_json_parse_object);
 *          nothing is set then. */
apr_status_t cis2_json_write(const char **ptext, apr_size_t *plen,
                             cis2_json_span_t *pspan, const json_t *j,
                             const char *const *skip, const char *span_key,
                             apr_pool_t *p);

#endif /* CIS2_JSON_H */
