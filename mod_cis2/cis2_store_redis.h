/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_store_redis — the Redis backend of cis2_store, for clusters of
 * httpd nodes behind a load balancer: any node can finish a login another
 * began, use a session another made, and end it on a back-channel logout.
 * Values are sealed with cis2_crypto (AES-256-GCM, the entry's name and
 * login time as associated data); entry names are keyed hashes, so Redis
 * never holds a session id, a state or a user id in clear. Expiry is
 * Redis's own (PEXPIRE, relative, so node clocks need not agree with
 * Redis's). Built only with hiredis (configure --with-hiredis), which is
 * used for the RESP protocol only: sockets, timeouts and TLS are ours
 * (poll + OpenSSL), so rediss:// works with Debian 12's hiredis 0.14.
 *
 * Neighbours: cis2_store_backend.h (the operations table), cis2_crypto
 * (keys), mod_cis2_store.c (the glue that creates one store per child).
 */
#ifndef CIS2_STORE_REDIS_H
#define CIS2_STORE_REDIS_H

#include "cis2_store.h"
#include "cis2_crypto.h"

#define CIS2_REDIS_DEFAULT_PORT 6379
#define CIS2_REDIS_DEFAULT_CONNECT_TIMEOUT apr_time_from_msec(1000)
#define CIS2_REDIS_DEFAULT_TIMEOUT apr_time_from_msec(1000)
#define CIS2_REDIS_DEFAULT_MAX_IDLE 64   /* when pool= is not set and the
                                           caller gives no thread count */
#define CIS2_REDIS_DEFAULT_PREFIX "cis2:"

typedef struct cis2_redis_conf_t {
    const char *url;            /* as configured, password removed */
    const char *host;
    int port;
    int db;
    const char *user;           /* Redis 6 ACL user; NULL = default */
    const char *password;       /* NULL = no AUTH */
    int tls;                    /* rediss:// */
    const char *ca_file;        /* ca=; NULL = the system's store */
    const char *cert_file;      /* cert= (client certificate) */
    const char *key_file;       /* key= (its private key) */
    apr_interval_time_t connect_timeout; /* connect_timeout= (TCP + TLS) */
    apr_interval_time_t timeout;         /* timeout= (one command) */
    int max_idle;               /* pool= idle connections kept per process;
                                   -1 = not set (the caller picks: one per
                                   thread of the process avoids reconnects) */
    const char *prefix;         /* prefix= of every Redis key */
    void *tls_ctx;              /* SSL_CTX from cis2_redis_conf_load_tls;
                                   NULL = each store makes its own */
} cis2_redis_conf_t;

/** Parse redis://[user:password@]host[:port][/db] or rediss://... into a
 *  configuration with defaults. CIS2_E_INVALID with a detail that never
 *  repeats the password. */
apr_status_t cis2_redis_conf_parse(cis2_redis_conf_t **pconf, const char *url,
                                   const cis2_err_t **perr, apr_pool_t *p);

/** Apply one name=value option (ca, cert, key, connect_timeout, timeout,
 *  pool, prefix, password). CIS2_E_INVALID for an unknown name or bad
 *  value. */
apr_status_t cis2_redis_conf_set(cis2_redis_conf_t *conf, const char *name,
                                 const char *value,
                                 const cis2_err_t **perr, apr_pool_t *p);

/** For rediss://: read the CA, certificate and key files now (say, as
 *  root in httpd's parent, before children drop privileges) into a TLS
 *  context kept in conf and freed with p; stores made from conf (in
 *  forked children) share it. Nothing to do for redis://. CIS2_E_CONFIG
 *  naming the file that failed. */
apr_status_t cis2_redis_conf_load_tls(cis2_redis_conf_t *conf,
                                      const cis2_err_t **perr, apr_pool_t *p);

/** A store over Redis for this process (threads share a small pool of
 *  connections, opened lazily, so create it after fork). `crypto` must
 *  outlive the store. Connections close when p is cleared. Fails only on
 *  bad TLS files (CIS2_E_CONFIG) or out of memory; an unreachable Redis is
 *  found on use: operations then fail fast with CIS2_E_STORE_DOWN, with
 *  reconnects backing off from 50 ms to 2 s, until it answers again. */
apr_status_t cis2_store_redis_create(cis2_store_t **pst,
                                     const cis2_redis_conf_t *conf,
                                     const cis2_crypto_t *crypto,
                                     const cis2_err_t **perr, apr_pool_t *p);

/** The Redis key under which `key` of `ns` is kept with key `i` of the
 *  ring (for tests and admins: `redis-cli HGETALL <name>`). */
const char *cis2_store_redis_name(const cis2_redis_conf_t *conf,
                                  const cis2_crypto_t *crypto, int i,
                                  cis2_store_ns ns, const char *key,
                                  apr_pool_t *p);

/* ---- the near-cache and its invalidation subscriber (cis2_nearcache.h) --- */

typedef struct cis2_nearcache_t cis2_nearcache_t;
typedef struct cis2_redis_sub_t cis2_redis_sub_t;

/** Serve this store's session reads from `nc` when it has them (NULL:
 *  never). Writes still go to Redis, and drop this host's copy at once;
 *  Redis publishes the names of deleted or replaced sessions on
 *  <prefix>inval whether or not a near-cache is used. */
void cis2_store_redis_use_nearcache(cis2_store_t *st, cis2_nearcache_t *nc);

/** Called by the subscriber thread when its connection comes up (up = 1,
 *  why NULL) or goes down (up = 0, why says why; reported once per
 *  outage). Must be thread-safe. */
typedef void cis2_redis_sub_notify_fn(void *baton, int up, const char *why);

/** Start this process's subscriber: a thread with its own connection to
 *  the store's Redis (same TLS, AUTH and timeouts as the command
 *  connections) that SUBSCRIBEs to <prefix>inval, removes the named
 *  entries from `nc`, PINGs every second and, on a lost connection or no
 *  PONG within 2 s, bumps nc's epoch and stops it serving until it is
 *  back (reconnecting with a 50 ms - 2 s backoff). Stopped and joined when
 *  p is cleared. CIS2_E_CONFIG if st is not a Redis store or no thread can
 *  be made. */
apr_status_t cis2_redis_subscriber_start(cis2_redis_sub_t **psub,
                                         cis2_store_t *st,
                                         cis2_nearcache_t *nc,
                                         cis2_redis_sub_notify_fn *notify,
                                         void *baton,
                                         const cis2_err_t **perr,
                                         apr_pool_t *p);

/** 1 while the subscriber is subscribed. */
int cis2_redis_subscriber_up(const cis2_redis_sub_t *sb);

#endif /* CIS2_STORE_REDIS_H */
