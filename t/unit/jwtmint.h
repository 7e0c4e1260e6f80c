/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * jwtmint — a test helper that mints compact JWS tokens with OpenSSL, good
 * ones and deliberately bad ones: any header alg and kid, a signature made
 * with another algorithm or key than the header claims, HMAC keyed with any
 * bytes (the client secret, an RSA public key PEM), alg "none" with or
 * without a signature part, a flipped signature bit, a raw header. Used by
 * test_jwt.c and test_login.c; never part of the module.
 */
#ifndef CIS2_JWTMINT_H
#define CIS2_JWTMINT_H

#include <stddef.h>
#include <apr_pools.h>

#define JWTMINT_TAMPER  0x01    /* flip a bit in the middle of the signature */
#define JWTMINT_NO_SIG  0x02    /* emit "h.p." whatever the algorithm */
#define JWTMINT_NO_ALG  0x04    /* leave alg out of the header */
#define JWTMINT_PSS_SALT_MAX 0x08   /* PS*: longest salt, not the hash's
                                       length RFC 7518 §3.5 requires */

typedef struct jwtmint_opts_t {
    const char *alg;            /* header alg; NULL = "RS256" */
    const char *kid;            /* header kid; NULL = no kid member */
    const char *typ;            /* header typ; NULL = no typ member */
    const char *header_extra;   /* JSON object text merged into the header
                                   (e.g. "{\"crit\":[\"exp\"]}"), or NULL */
    const char *header_raw;     /* header bytes used verbatim (may be any
                                   text, even non-JSON), or NULL */
    const char *sign_alg;       /* algorithm really used to sign (RS*, PS*,
                                   HS*, "none"); NULL = alg */
    const char *key_file;       /* PEM private key file for RS* and PS* */
    const void *hmac_key;       /* HS* key bytes */
    size_t hmac_key_len;
    int flags;                  /* JWTMINT_* */
} jwtmint_opts_t;

/** Mint BASE64URL(header).BASE64URL(payload_json).BASE64URL(signature).
 *  payload_json is used verbatim (it may be a JSON array or not JSON at
 *  all). Returns a string from p, or NULL (with a line on stderr) when the
 *  key cannot be read or the algorithm is unknown. */
const char *jwtmint(apr_pool_t *p, const jwtmint_opts_t *o,
                    const char *payload_json);

/** base64url without padding of len bytes, from p. */
const char *jwtmint_b64url(apr_pool_t *p, const void *data, size_t len);

#endif /* CIS2_JWTMINT_H */
