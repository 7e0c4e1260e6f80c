/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_claims — turn a user's verified claims (ID token + UserInfo) into
 * the variables the application sees (DESIGN.md §5), once, at login: the
 * result is stored in the session pre-rendered, so an authenticated request
 * does no JSON work. Knows CIS2's claim shapes (CIS2.md §5-§7): both
 * spellings of the identity assurance level, assurance levels as strings
 * or integers, nhsid_nrbac_roles objects, nhsid_user_orgs, optional arrays.
 * No value containing a control character is ever exported.
 */
#ifndef CIS2_CLAIMS_H
#define CIS2_CLAIMS_H

#include <jansson.h>
#include "cis2.h"

/** One exported variable. `name` is the environment name (CIS2_UID);
 *  the glue derives header names (CIS2-UID) from it. */
typedef struct cis2_kv_t {
    const char *name;
    const char *value;
} cis2_kv_t;

/** One national RBAC role as authorization needs it (CIS2.md §7), kept in
 *  the session so `Require cis2-*` never parses JSON per request. */
typedef struct cis2_role_t {
    const char *id;                  /* person_roleid */
    const char *code;                /* role_code (S....:G....:R....); may be NULL */
    const char *org;                 /* org_code; may be NULL */
    apr_array_header_t *activities;  /* const char *: activity_codes */
} cis2_role_t;

/** The authorization view of the claims: every role (array of cis2_role_t,
 *  CIS2's order; empty for a user with none), the index of the role named
 *  by selected_roleid (-1 when none was selected or it maps to no role),
 *  and every top-level string/number/boolean claim by its raw name
 *  (cis2_kv_t) except the single-use and secret ones (nonce, hashes, sid,
 *  tokens). Values with control characters are left out. */
void cis2_claims_authz(apr_array_header_t **proles, int *pselected,
                       apr_array_header_t **pscalars, const json_t *claims,
                       apr_pool_t *p);

/** Merge ID-token claims and UserInfo claims into one object owned by p:
 *  UserInfo members first, then ID-token members override (the ID token is
 *  the signed authority for sub, iss, aud, acr, amr, auth_time, sid and the
 *  assurance levels). userinfo may be NULL. */
json_t *cis2_claims_merge(apr_pool_t *p, const json_t *id_claims,
                          const json_t *userinfo);

/** The user's assurance: AAL from authentication_assurance_level, IAL from
 *  id_assurance_level or idassurancelevel; -1 when absent/invalid. */
void cis2_claims_assurance(const json_t *claims, int *paal, int *pial);

typedef struct cis2_claims_opts_t {
    const char *remote_user_claim;  /* NULL = "sub" */
    int export_claims_json;         /* CIS2_CLAIMS_JSON (default on) */
} cis2_claims_opts_t;

/** Render the variables (array of cis2_kv_t, in a stable order) and the
 *  REMOTE_USER value. Fixed names: CIS2_UID, CIS2_NAME, CIS2_GIVEN_NAME,
 *  CIS2_FAMILY_NAME, CIS2_EMAIL, CIS2_AAL, CIS2_IAL, CIS2_ACR, CIS2_AMR,
 *  CIS2_AUTH_TIME, CIS2_ROLES,
 *  CIS2_ORGS, CIS2_ROLES_JSON, CIS2_CLAIMS_JSON; with a selected_roleid
 *  that maps to a role: CIS2_ROLE_ID, CIS2_ROLE_CODE, CIS2_ROLE_NAME,
 *  CIS2_ORG_CODE, CIS2_ORG_NAME, CIS2_ACTIVITY_CODES,
 *  CIS2_WORKGROUP_CODES, CIS2_AOW_CODES; then CIS2_CLAIM_<NAME> for every
 *  other top-level string/number/boolean claim (name upper-cased, each
 *  byte outside [A-Z0-9] becomes '_'). Values with control characters or
 *  over CIS2_MAX_CLAIM_VALUE are left out (logged at info, never the value).
 *  CIS2_E_CLAIM_INVALID when the REMOTE_USER claim is missing, not a
 *  string, empty, or holds a control character. */
apr_status_t cis2_claims_render(apr_array_header_t **penv,
                                const char **premote_user,
                                const json_t *claims,
                                const cis2_claims_opts_t *opts,
                                const cis2_err_t **perr, apr_pool_t *p);

#endif /* CIS2_CLAIMS_H */
