/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_session — the two records mod_cis2 keeps server-side, and their
 * compact binary encoding for the store: a session (one signed-in browser)
 * and a pending login (one authorization request in flight, keyed by
 * `state`). The encoding is length-prefixed, versioned and decoded with a
 * bounds check on every field, so a corrupt or hostile store value is an
 * error, never an overread. Cookies never hold any of this: only ids.
 */
#ifndef CIS2_SESSION_H
#define CIS2_SESSION_H

#include "cis2.h"
#include "cis2_claims.h"

typedef struct cis2_session_t {
    const char *client_id;     /* the RP this session belongs to */
    const char *sub;
    const char *sid;           /* CIS2 session id (may be NULL) */
    const char *remote_user;
    apr_time_t created;        /* our login time */
    apr_time_t auth_time;      /* the OP's auth_time (0 if absent) */
    apr_time_t expires;        /* absolute end (created + max duration) */
    int aal, ial;              /* -1 when unknown */
    const char *acr;           /* may be NULL */
    const char *id_token;      /* for id_token_hint at logout; may be NULL;
                                  read it with cis2_session_id_token() */
    apr_array_header_t *env;   /* cis2_kv_t, pre-rendered (cis2_claims) */
    /* authorization view (record v2; cis2_claims_authz), NULL in v1: */
    apr_array_header_t *roles; /* cis2_role_t, every national RBAC role */
    int selected_role;         /* index into roles; -1 = none selected */
    apr_array_header_t *claims;/* cis2_kv_t, top-level scalar claims */
    /* the ID token as a decoded record keeps it: its three parts
     * base64url-decoded (id_token is then NULL; the text is rebuilt only
     * when asked for, at logout) */
    const unsigned char *id_token_part[3];
    apr_size_t id_token_part_len[3];
    /* set by cis2_session_decode_lazy: the authorization view (roles,
     * selected_role, claims) is not read yet; cis2_session_finish reads
     * it. NULL when the session is complete. */
    struct cis2_session_rest *rest;
    /* set by cis2_session_decode: about how many bytes of its pool the
     * decoded session takes (body, strings, arrays); APR_SIZE_MAX for a
     * record older than version 3 */
    apr_size_t mem;
} cis2_session_t;

/** The session's ID token text (id_token_hint), or NULL when it has none;
 *  built in p from the stored parts when the record held it decoded. */
const char *cis2_session_id_token(const cis2_session_t *s, apr_pool_t *p);

/** Encode to one buffer allocated from p. */
apr_status_t cis2_session_encode(const char **pbuf, apr_size_t *plen,
                                 const cis2_session_t *s,
                                 const cis2_err_t **perr, apr_pool_t *p);
/** Decode a buffer produced by cis2_session_encode (copies into p). */
apr_status_t cis2_session_decode(cis2_session_t **ps, const char *buf,
                                 apr_size_t len, const cis2_err_t **perr,
                                 apr_pool_t *p);

/** The same, for the request path: everything up to the environment is
 *  decoded now (identity, times, assurance, ID token, env), the
 *  authorization view only when cis2_session_finish asks for it (a
 *  Require cis2-* rule): most requests never read it, and it is about
 *  half of a record's strings. The trailing-bytes check runs with it, so
 *  a record corrupt only there is found then. Records older than
 *  version 4 are decoded whole. */
apr_status_t cis2_session_decode_lazy(cis2_session_t **ps, const char *buf,
                                      apr_size_t len, const cis2_err_t **perr,
                                      apr_pool_t *p);

/** Complete a lazily decoded session: s->roles, s->selected_role and
 *  s->claims are valid after APR_SUCCESS. A no-op for a complete session.
 *  On error (a corrupt record) the view is left empty (no roles, no
 *  claims) and every later call gives the same error. Not thread-safe on
 *  one session: a session belongs to one request. */
apr_status_t cis2_session_finish(cis2_session_t *s, const cis2_err_t **perr);

typedef struct cis2_pending_t {
    const char *client_id;
    const char *binding;       /* the browser's login-binding cookie value */
    const char *nonce;
    const char *code_verifier;
    const char *return_url;    /* validated original URL (path+query) */
    const char *acr_values;    /* what we asked for (may be NULL) */
    apr_time_t created;
    /* record v2: */
    int required_aal;          /* step-up: AAL the sign-in must reach
                                  (-1 = the server's CIS2RequiredAAL only) */
    int flags;                 /* CIS2_PENDING_* */
} cis2_pending_t;

#define CIS2_PENDING_CHANGE_ROLE 1  /* started at <dir>/change-role */
#define CIS2_PENDING_STEP_UP     2  /* started by a <Location> needing a
                                       higher AAL than the session had */

apr_status_t cis2_pending_encode(const char **pbuf, apr_size_t *plen,
                                 const cis2_pending_t *pl,
                                 const cis2_err_t **perr, apr_pool_t *p);
apr_status_t cis2_pending_decode(cis2_pending_t **ppl, const char *buf,
                                 apr_size_t len, const cis2_err_t **perr,
                                 apr_pool_t *p);

#endif /* CIS2_SESSION_H */
