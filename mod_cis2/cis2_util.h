/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_util — small pure helpers used everywhere in the core: the error
 * record, randomness, constant-time comparison, base64url, percent coding,
 * HTML escaping, form/query parsing with duplicate detection, and parsing of
 * durations and sizes from configuration. Nothing here allocates outside the
 * caller's pool.
 */
#ifndef CIS2_UTIL_H
#define CIS2_UTIL_H

#include "cis2.h"

/* ---- randomness ---- */

/** Fill buf with len cryptographically random bytes (OpenSSL RAND_bytes).
 *  Returns APR_EGENERAL if the generator fails (never falls back). */
apr_status_t cis2_random_bytes(unsigned char *buf, apr_size_t len);

/** A fresh random token: nbytes random bytes, base64url without padding.
 *  NULL on generator failure. */
const char *cis2_random_token(apr_pool_t *p, apr_size_t nbytes);

/** n fresh random tokens of nbytes each (n * nbytes <= 256), drawn with
 *  one call to the generator: out[0..n-1], each as cis2_random_token's.
 *  A sign-in needs four (state, nonce, PKCE verifier, binding); each draw
 *  costs the generator's per-call work (locks, a fork check, a reseed
 *  test), so one draw for all is cheaper, and no less random. */
apr_status_t cis2_random_tokens(const char **out, int n, apr_size_t nbytes,
                                apr_pool_t *p);

/** A short reference id for error pages and the matching log line:
 *  8 characters from an unambiguous alphabet (no 0/O/1/l). */
const char *cis2_random_ref(apr_pool_t *p);

/* ---- comparison ---- */

/** Constant-time equality of two byte strings (time depends only on the
 *  lengths). 1 if equal, else 0. */
int cis2_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen);
/** The same for NUL-terminated strings; NULL equals nothing. */
int cis2_ct_streq(const char *a, const char *b);

/* ---- base64url (RFC 4648 §5, no padding on output) ---- */

/** Encode len bytes. Never fails. */
const char *cis2_b64url_encode(apr_pool_t *p, const unsigned char *data,
                               apr_size_t len);
/** Decode; accepts only the base64url alphabet, with or without '='
 *  padding, and rejects impossible lengths (len % 4 == 1) and non-zero
 *  trailing bits. *pout is NUL-terminated for convenience (not counted in
 *  *poutlen). */
apr_status_t cis2_b64url_decode(unsigned char **pout, apr_size_t *poutlen,
                                const char *in, apr_size_t inlen,
                                const cis2_err_t **perr, apr_pool_t *p);

/* ---- hashing ---- */

/** SHA-256 of data into out[32]. */
void cis2_sha256(unsigned char out[32], const void *data, apr_size_t len);

/* ---- percent coding and forms ---- */

/** Percent-encode everything but RFC 3986 unreserved characters. */
const char *cis2_url_encode(apr_pool_t *p, const char *s);

/** Decode application/x-www-form-urlencoded text ('+' is space). Rejects
 *  malformed escapes and encoded NUL. */
apr_status_t cis2_form_decode(char **pout, const char *in, apr_size_t inlen,
                              const cis2_err_t **perr, apr_pool_t *p);

/** Parse a query string or urlencoded form body into a table (keys and
 *  values decoded; repeated keys kept as repeated entries). At most
 *  max_fields pairs and max_len bytes, else CIS2_E_TOO_LARGE. An empty
 *  string or one of only '&' gives an empty table. */
apr_status_t cis2_form_parse(apr_table_t **pt, const char *in,
                             apr_size_t max_len, int max_fields,
                             const cis2_err_t **perr, apr_pool_t *p);

/** The single value of `name` in a parsed form: *pval = NULL when absent;
 *  CIS2_E_DUPLICATE when it occurs more than once (RFC 6749 §3.1). */
apr_status_t cis2_form_get_unique(const char **pval, const apr_table_t *t,
                                  const char *name,
                                  const cis2_err_t **perr, apr_pool_t *p);

/** Escape &, <, >, ", ' for HTML text and attribute values. */
const char *cis2_html_escape(apr_pool_t *p, const char *s);

/* ---- configuration values ---- */

/** Parse a duration: "900" (seconds), "90s", "15m", "12h", "1d". Rejects
 *  negatives, overflow and junk. */
apr_status_t cis2_parse_duration(apr_interval_time_t *pout, const char *s);

/** Parse a byte size: "65536", "512K", "64M", "1G". Rejects overflow/junk. */
apr_status_t cis2_parse_size(apr_size_t *pout, const char *s);

/** 1 if s contains a byte < 0x20 or 0x7f (control characters). */
int cis2_has_ctl(const char *s, apr_size_t len);

#endif /* CIS2_UTIL_H */
