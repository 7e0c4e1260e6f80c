/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2.h — types shared by the whole core: the error record every core
 * function may fill in, the error codes tests assert on, and the size limits
 * applied to everything that comes from the network or the client before it is
 * parsed. No httpd header may be included by any cis2_* file.
 */
#ifndef CIS2_H
#define CIS2_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_time.h>
#include <apr_tables.h>

/* ---- error record ---------------------------------------------------------- */

/** Why a core function failed. `code` is a cis2_err_code; `detail` is a short
 *  human sentence safe to log: it never holds tokens, codes, secrets or cookie
 *  values, and never more than a bounded excerpt of untrusted input. */
typedef struct cis2_err_t {
    int code;
    const char *detail;
} cis2_err_t;

typedef enum cis2_err_code {
    CIS2_E_NONE = 0,
    CIS2_E_INVALID,        /* malformed input (generic) */
    CIS2_E_TOO_LARGE,      /* input over a size or count limit */
    CIS2_E_DUPLICATE,      /* a parameter given more than once */
    CIS2_E_JSON,           /* not JSON, or not the JSON shape expected */
    CIS2_E_CONFIG,         /* our own configuration is wrong */
    /* outbound HTTP */
    CIS2_E_HTTP,           /* transport failure: DNS, connect, TLS, reset */
    CIS2_E_TIMEOUT,        /* connect or total timeout */
    CIS2_E_HTTP_STATUS,    /* unexpected HTTP status */
    CIS2_E_REDIRECTED,     /* the server answered with a redirect: refused */
    /* provider metadata and keys */
    CIS2_E_DISCOVERY,      /* discovery document unusable */
    CIS2_E_ISSUER_MISMATCH,/* discovery issuer != configured issuer */
    CIS2_E_JWKS,           /* JWKS unusable */
    /* JWS / JWT */
    CIS2_E_JWS_FORMAT,     /* not a compact JWS */
    CIS2_E_ALG,            /* alg none, HS*, or not in the allow-list */
    CIS2_E_KID_UNKNOWN,    /* no key with this kid (after refetch) */
    CIS2_E_SIGNATURE,      /* signature does not verify */
    CIS2_E_ISS,            /* iss != expected, byte for byte */
    CIS2_E_AUD,            /* aud does not contain our client_id */
    CIS2_E_AZP,            /* azp present and != client_id, or needed and absent */
    CIS2_E_EXPIRED,        /* exp in the past (beyond skew) */
    CIS2_E_IAT_FUTURE,     /* iat in the future (beyond skew) */
    CIS2_E_NOT_YET_VALID,  /* nbf in the future */
    CIS2_E_NONCE,          /* nonce missing or mismatched */
    CIS2_E_CLAIM_MISSING,  /* a required claim is absent */
    CIS2_E_CLAIM_INVALID,  /* a claim has the wrong type or a forbidden value */
    CIS2_E_SUB_MISMATCH,   /* UserInfo sub != ID token sub */
    CIS2_E_AUTH_TIME,      /* auth_time older than the re-authentication window */
    CIS2_E_AAL,            /* authentication assurance level too low */
    CIS2_E_IAL,            /* identity assurance level too low */
    /* OAuth / OIDC protocol */
    CIS2_E_OP_ERROR,       /* the OP answered with an OAuth error (detail: the code) */
    CIS2_E_STATE,          /* state missing, unknown, expired or not bound to us */
    /* store */
    CIS2_E_NOT_FOUND,      /* no such entry */
    CIS2_E_STORE_FULL,     /* no room even after eviction */
    CIS2_E_STORE_DOWN,     /* backend unreachable */
    CIS2_E_CRYPTO,         /* an OpenSSL/cjose call failed */
    CIS2_E__COUNT
} cis2_err_code;

/** Set *perr (if perr is not NULL) from pool p and return APR_EGENERAL.
 *  The format is printf-like; callers must never pass secrets. */
apr_status_t cis2_err_set(const cis2_err_t **perr, apr_pool_t *p, int code,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** A stable lower-case name for an error code ("expired", "bad_signature"),
 *  for logs, the status page and tests. */
const char *cis2_err_name(int code);

/* ---- limits on untrusted input (bytes unless noted) ------------------------ */

#define CIS2_MAX_HTTP_BODY     (1024 * 1024)  /* default cap on an OP response */
#define CIS2_MAX_JWT           (256 * 1024)   /* a compact JWS/JWT */
#define CIS2_MAX_JSON_DEPTH    32             /* nesting of any JSON we parse */
#define CIS2_MAX_COOKIE_HEADER (16 * 1024)    /* a Cookie header we will scan */
#define CIS2_MAX_COOKIES       100            /* cookies in one header */
#define CIS2_MAX_QUERY         (8 * 1024)     /* a callback query string */
#define CIS2_MAX_FORM          (64 * 1024)    /* a POSTed form (logout_token) */
#define CIS2_MAX_FORM_FIELDS   32
#define CIS2_MAX_URL           (4 * 1024)     /* a return URL we will redirect to */
#define CIS2_MAX_CLAIM_VALUE   (64 * 1024)    /* one exported claim value */
#define CIS2_MAX_SESSION       (512 * 1024)   /* one encoded session record */

/* Session ids, state, nonce: 256 bits of randomness, base64url (43 chars). */
#define CIS2_RANDOM_BYTES      32

#endif /* CIS2_H */
