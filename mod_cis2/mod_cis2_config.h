/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_config — the per-server and per-directory configuration records,
 * their create/merge functions, the directive table, and accessors that
 * apply defaults at read time (an unset value is a sentinel, never a copy of
 * the default, so a child scope can set a value back to the default).
 * Directive documentation lives in docs/directives.md; keep them in step.
 */
#ifndef MOD_CIS2_CONFIG_H
#define MOD_CIS2_CONFIG_H

#include "mod_cis2_private.h"
#include "cis2_login.h"
#include "cis2_url.h"

#define CIS2_UNSET (-1)
#define CIS2_OFF   (-2)   /* explicitly switched off ("off") */

#define CIS2_PICK_INT(a, b, f) ((a)->f != CIS2_UNSET ? (a)->f : (b)->f)
#define CIS2_PICK_PTR(a, b, f) ((a)->f != NULL ? (a)->f : (b)->f)

/* defaults: one place for each (docs/directives.md repeats them) */
#define CIS2_DEFAULT_SCOPE "openid profile email nationalrbacaccess associatedorgs"
#define CIS2_DEFAULT_ACR "AAL3_ANY"
#define CIS2_DEFAULT_PROMPT "login"
#define CIS2_DEFAULT_MAX_AUTH_AGE apr_time_from_sec(300)
#define CIS2_DEFAULT_AAL 3
#define CIS2_DEFAULT_IAL 3
#define CIS2_DEFAULT_SKEW apr_time_from_sec(60)
#define CIS2_DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(5)
#define CIS2_DEFAULT_TIMEOUT apr_time_from_sec(10)
#define CIS2_DEFAULT_COOKIE "cis2_session"
#define CIS2_DEFAULT_COOKIE_HOST "__Host-cis2_session"
#define CIS2_BINDING_COOKIE "cis2_login"
#define CIS2_BINDING_COOKIE_HOST "__Host-cis2_login"
#define CIS2_DEFAULT_INACTIVITY apr_time_from_sec(15 * 60)
#define CIS2_DEFAULT_MAX_DURATION apr_time_from_sec(12 * 3600)
#define CIS2_DEFAULT_STATE_TIMEOUT apr_time_from_sec(10 * 60)
#define CIS2_DEFAULT_STORE_SIZE ((apr_size_t)64 * 1024 * 1024)
#define CIS2_DEFAULT_DEFAULT_URL "/"
#define CIS2_DEFAULT_MAX_PENDING 5
#define CIS2_DEFAULT_SAME_SITE "Lax"
/* a logout token's iat may be this old (plus CIS2ClockSkew): CIS2.md §11 */
#define CIS2_LOGOUT_TOKEN_MAX_AGE apr_time_from_sec(300)
#define CIS2_DEFAULT_ASSERTION_ALG "RS512"

typedef enum cis2_pass_as {
    CIS2_PASS_ENV = 1,
    CIS2_PASS_HEADERS = 2,
    CIS2_PASS_BOTH = 3
} cis2_pass_as;

typedef enum cis2_unauth_action {
    CIS2_UNAUTH_AUTH = 1,           /* navigation: sign in; scripts: 401 */
    CIS2_UNAUTH_401,                /* always 401, never a sign-in */
    CIS2_UNAUTH_PASS                /* let it through without identity */
} cis2_unauth_action;

typedef struct cis2_srv_conf {
    /* provider */
    const char *environment;        /* CIS2Environment name, for messages */
    const char *metadata_url;       /* CIS2ProviderMetadataURL */
    const char *issuer;             /* CIS2Issuer */
    /* client */
    const char *client_id;          /* CIS2ClientID */
    const char *client_secret;      /* CIS2ClientSecret (value, or file's) */
    const char *client_secret_src;  /* "inline" or the file path, for msgs */
    int auth_method;                /* CIS2TokenEndpointAuth */
    const char *redirect_uri;       /* CIS2RedirectURI */
    cis2_url_t *redirect;           /* its parsed form */
    const char *scope;              /* CIS2Scope */
    const char *acr_values;         /* CIS2ACRValues; "" = off */
    const char *prompt;             /* CIS2Prompt; "" = off */
    apr_int64_t max_age;            /* CIS2MaxAge; UNSET, OFF or seconds */
    apr_interval_time_t max_auth_age; /* CIS2MaxAuthAge; UNSET, 0 = off */
    int required_aal;               /* CIS2RequiredAAL; UNSET, OFF, n */
    int required_ial;               /* CIS2RequiredIAL */
    apr_array_header_t *id_token_algs; /* CIS2IDTokenAlgs */
    apr_interval_time_t skew;       /* CIS2ClockSkew */
    apr_interval_time_t connect_timeout, timeout; /* CIS2HTTPTimeout */
    const char *ca_file;            /* CIS2CAFile */
    int userinfo;                   /* CIS2UserInfo */
    const char *remote_user_claim;  /* CIS2RemoteUserClaim */
    /* sessions and cookies */
    const char *cookie_name;        /* CIS2CookieName */
    const char *cookie_path;        /* CIS2CookiePath */
    apr_interval_time_t inactivity; /* CIS2SessionInactivityTimeout */
    apr_interval_time_t max_duration; /* CIS2SessionMaxDuration */
    apr_interval_time_t state_timeout; /* CIS2StateTimeout */
    const char *default_url;        /* CIS2DefaultURL */
    apr_size_t store_size;          /* CIS2SessionStoreSize (main server) */
    struct cis2_redis_conf_t *redis; /* CIS2SessionStore redis://; NULL =
                                       shm (main server) */
    apr_array_header_t *passphrases; /* CIS2CryptoPassphrase (main server) */
    apr_interval_time_t store_cache_ttl; /* CIS2SessionStoreCacheTTL (main
                                           server); UNSET = default, 0 = off */
    const char *cookie_domain;      /* CIS2CookieDomain */
    const char *cookie_same_site;   /* CIS2CookieSameSite */
    int max_pending;                /* CIS2MaxPendingLogins */
    apr_array_header_t *redirect_allow; /* CIS2RedirectAllowOrigin */
    int rp_logout;                  /* CIS2RPInitiatedLogout */
    const char *post_logout_uri;    /* CIS2PostLogoutRedirectURI */
    /* the longest CIS2SessionInactivityTimeout / CIS2SessionMaxDuration set
     * in any <Location>/<Directory> of this server (0 = none): the store
     * keeps a session as long as the most lenient place needs it */
    apr_interval_time_t dir_inactivity_max, dir_max_duration_max;
    /* and the shortest location inactivity timeout (0 = none) */
    apr_interval_time_t dir_inactivity_min;
    /* private_key_jwt (issue #3) */
    cis2_rp_key_t *assertion_key;   /* CIS2PrivateKeyFile */
    cis2_rp_key_t *previous_key;    /* CIS2PreviousKeyFile */
    const char *assertion_alg;      /* CIS2ClientAssertionAlg */
    const char *status_path;        /* CIS2StatusPath; NULL = no page */

    /* derived in post_config, per process after fork: */
    cis2_login_conf_t *login;
    const char *logout_path;        /* <dir of redirect path>/logout */
    const char *bcl_path;           /* <dir>/backchannel-logout */
    const char *jwks_path;          /* <dir>/jwks (private_key_jwt keys) */
    const char *jwks_json;          /* the public JWKS served there */
    const char *change_role_path;   /* <dir>/change-role */
} cis2_srv_conf;

typedef enum cis2_authz_roles {
    CIS2_AUTHZ_SELECTED = 1,        /* Require cis2-*: the selected role */
    CIS2_AUTHZ_ANY = 2              /* ... any of the user's roles */
} cis2_authz_roles;

typedef struct cis2_dir_conf {
    int pass_as;                    /* CIS2PassClaimsAs */
    apr_interval_time_t inactivity; /* CIS2SessionInactivityTimeout here */
    apr_interval_time_t max_duration; /* CIS2SessionMaxDuration here */
    int unauth_action;              /* CIS2UnauthAction */
    int required_aal;               /* CIS2RequiredAAL in a <Location>:
                                       step-up; UNSET = the server's */
    int authz_roles;                /* CIS2AuthzRoles */
} cis2_dir_conf;

extern const command_rec cis2_cmds[];

void *cis2_srv_conf_create(apr_pool_t *p, server_rec *s);
void *cis2_srv_conf_merge(apr_pool_t *p, void *basev, void *addv);
void *cis2_dir_conf_create(apr_pool_t *p, char *dir);
void *cis2_dir_conf_merge(apr_pool_t *p, void *basev, void *addv);

static APR_INLINE cis2_srv_conf *cis2_srv(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &cis2_module);
}

static APR_INLINE cis2_dir_conf *cis2_dir(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &cis2_module);
}

/** 1 if this server has mod_cis2 settings (and so must be complete). */
int cis2_srv_configured(const cis2_srv_conf *sc);

/** Check a server's configuration is complete and coherent; logs one
 *  numbered line per problem (naming the directive) and returns the
 *  number of problems. Used by check_config, so configtest refuses it. */
int cis2_srv_check(server_rec *s, apr_pool_t *ptemp);

/** Checks that need every server: the redirect URI's host must not be the
 *  name of ANOTHER virtual host (the callback would land there), and
 *  CIS2StatusPath must not be an endpoint's path. Logs one numbered line
 *  per problem; returns the count. */
int cis2_srv_check_routing(server_rec *main_s, server_rec *s,
                           apr_pool_t *ptemp);

/** NULL if `path` (absolute) may hold a secret or a private key: a regular
 *  file no "other" user can read or write. Else a message for the
 *  directive's error (without a number or the directive's name). Use it
 *  for every file that holds a secret (CIS2ClientSecret file:, keys). */
const char *cis2_check_secret_file(apr_pool_t *p, const char *path);

/** Build the runtime login configuration of every configured server
 *  (sharing one provider cache per metadata URL + issuer). */
apr_status_t cis2_srv_prepare(server_rec *main_s, apr_pool_t *pconf);

/* accessors applying defaults */
const char *cis2_srv_cookie_name(const cis2_srv_conf *sc);
const char *cis2_srv_binding_cookie(const cis2_srv_conf *sc);
const char *cis2_srv_cookie_path(const cis2_srv_conf *sc);
int cis2_srv_secure(const cis2_srv_conf *sc);
apr_interval_time_t cis2_srv_inactivity(const cis2_srv_conf *sc);
apr_interval_time_t cis2_srv_max_duration(const cis2_srv_conf *sc);
apr_interval_time_t cis2_srv_state_timeout(const cis2_srv_conf *sc);
const char *cis2_srv_default_url(const cis2_srv_conf *sc);
apr_size_t cis2_srv_store_size(const cis2_srv_conf *sc);

/** CIS2SessionStoreCacheTTL: the Redis near-cache's bound on an entry's
 *  age; 0 = no near-cache. */
#define CIS2_DEFAULT_STORE_CACHE_TTL apr_time_from_sec(5)
apr_interval_time_t cis2_srv_store_cache_ttl(const cis2_srv_conf *sc);
int cis2_dir_pass_as(const cis2_dir_conf *dc);
const char *cis2_srv_cookie_domain(const cis2_srv_conf *sc);
const char *cis2_srv_same_site(const cis2_srv_conf *sc);
int cis2_srv_max_pending(const cis2_srv_conf *sc);
/** How long the store keeps an unused session: the longest inactivity
 *  timeout of the server and of any of its locations. */
apr_interval_time_t cis2_srv_store_idle(const cis2_srv_conf *sc);
/** How stale the "last seen" time of a session may get before a request
 *  refreshes it: a tenth of the shortest inactivity timeout of the server
 *  and its locations. */
apr_interval_time_t cis2_srv_touch_interval(const cis2_srv_conf *sc);
/** The longest session life of the server and any of its locations. */
apr_interval_time_t cis2_srv_store_max(const cis2_srv_conf *sc);
/** The inactivity timeout / maximum duration that apply to a request:
 *  its <Location>'s if set, else its server's, else the default. */
apr_interval_time_t cis2_req_inactivity(const cis2_srv_conf *sc,
                                        const cis2_dir_conf *dc);
apr_interval_time_t cis2_req_max_duration(const cis2_srv_conf *sc,
                                          const cis2_dir_conf *dc);
int cis2_dir_unauth_action(const cis2_dir_conf *dc);
int cis2_dir_authz_roles(const cis2_dir_conf *dc);
/** The AAL a request needs: the <Location>'s CIS2RequiredAAL if set, else
 *  the server's (-1 = none). */
int cis2_dir_required_aal(const cis2_dir_conf *dc, const cis2_srv_conf *sc);
/** The discovery URL in force (CIS2ProviderMetadataURL, else the
 *  environment's), or NULL. */
const char *cis2_srv_metadata_url(const cis2_srv_conf *sc);

#endif /* MOD_CIS2_CONFIG_H */
