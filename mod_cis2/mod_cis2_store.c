/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_store — the session store's shared memory segment and global
 * mutex over httpd's process lifecycle (contract in mod_cis2_store.h). The
 * table lives in cis2_shm, the locking and copying in cis2_store; this file
 * only decides which memory and which mutex they get, and logs.
 *
 * Why sessions survive restarts. On a restart (graceful or not) httpd's
 * parent process keeps running: it clears pconf, unloads and reloads the
 * modules, and reads the configuration again. An anonymous apr_shm segment
 * (mmap MAP_SHARED|MAP_ANONYMOUS) stays mapped in the parent as long as
 * the pool it came from lives, and every child forked later inherits the
 * mapping. So the segment is allocated from the process pool (s->process->
 * pool, destroyed only when httpd exits) and its apr_shm_t * and base
 * address are kept in httpd's retained data ("mod_cis2-store"); the next
 * generation finds them there, checks the layout (cis2_shm_attach) and goes
 * on with the same sessions. A segment that fails the check (say, a newer
 * mod_cis2 with another layout) is dropped by the parent and replaced by an
 * empty one, with a warning; old-generation children keep their own
 * mapping of it until they exit.
 *
 * The mutex is kept the same way, for correctness, not speed: during a
 * graceful restart old-generation children still serve requests on the
 * segment while new children start, and both must take the SAME lock. (A
 * `Mutex ... cis2-store` change therefore also waits for a stop/start.)
 *
 * What is kept must stay valid after our DSO is unloaded: the retained
 * record holds only APR objects from the process pool (their cleanups live
 * in libapr), never a pointer to our own code or statics. The store handle
 * (cis2_store_t, which holds a vtable in this module) is therefore made
 * again in every generation, from pconf in the parent and from pchild in
 * each child (after apr_global_mutex_child_init).
 */
#include <apr_shm.h>
#include <apr_strings.h>
#include <util_mutex.h>
#include <ap_mpm.h>

#include "mod_cis2_private.h"
#include "mod_cis2_config.h"
#include "mod_cis2_store.h"
#include "cis2_store.h"
#include "cis2_shm.h"
#include "cis2_util.h"
#include "cis2_crypto.h"
#include "cis2_store_redis.h"
#include "cis2_nearcache.h"

#define STORE_MUTEX_TYPE  "cis2-store"
#define STORE_RETAIN_KEY  "mod_cis2-store"
#define STORE_SHM_FILE    "cis2-store.shm"  /* only without anonymous shm */

/* Kept by httpd across restarts (ap_retained_data_*): APR objects only. */
typedef struct store_retained_t {
    apr_shm_t *shm;             /* the segment, from the process pool */
    void *base;                 /* its address in the parent (and children) */
    apr_size_t size;            /* its size */
    apr_size_t wanted;          /* CIS2SessionStoreSize when it was made */
    apr_global_mutex_t *mutex;  /* from the process pool */
    const char *lockfile;       /* for child_init; NULL if the mechanism
                                   has no file */
    unsigned generation;        /* configurations that used this segment */
} store_retained_t;

/* This process's handle: the parent's for this generation (reset in
 * pre_config), then each child's own after child_init. */
static cis2_store_t *store;

cis2_store_t *cis2_glue_store_get(void)
{
    return store;
}

int cis2_glue_store_geometry(cis2_shm_geometry_t *geo, apr_pool_t *p)
{
    store_retained_t *ret = ap_retained_data_get(STORE_RETAIN_KEY);
    cis2_shm_t *shm = NULL;

    if (store == NULL || ret == NULL || ret->base == NULL
        || cis2_shm_attach(&shm, ret->base, ret->size, NULL, p)
           != APR_SUCCESS) {
        return 0;
    }
    cis2_shm_get_geometry(shm, geo);
    return 1;
}

/* ---- the Redis store (CIS2SessionStore redis://, issue #6) ----------------
 * The parent derives the keys once per configuration (PBKDF2 is slow on
 * purpose) into pconf; each child inherits them and makes its own store
 * (own connection pool, opened lazily) in child_init. The parent itself
 * never talks to Redis. */

static const cis2_redis_conf_t *redis_conf;    /* this generation's */
static const cis2_crypto_t *redis_keys;

/* The near-cache (CIS2SessionStoreCacheTTL > 0): a segment and a mutex of
 * this generation, made from pconf in the parent (a cache need not survive
 * a restart; old-generation children keep their own mapping until they
 * exit), attached in each child, which also runs one subscriber thread. */
#ifdef CIS2_WITH_REDIS
static void *nc_base;
static apr_size_t nc_size;
static apr_interval_time_t nc_ttl;
static apr_global_mutex_t *nc_mutex;
static const char *nc_lockfile;
static cis2_nearcache_t *nearcache;            /* this child's handle */
static cis2_redis_sub_t *subscriber;
#endif

int cis2_glue_store_nearcache_stats(cis2_nearcache_stats_t *st, int *psub_up)
{
#ifdef CIS2_WITH_REDIS
    if (nearcache != NULL) {
        cis2_nearcache_get_stats(nearcache, apr_time_now(), st);
        *psub_up = cis2_redis_subscriber_up(subscriber);
        return 1;
    }
#endif
    return 0;
}

#ifdef CIS2_WITH_REDIS
static apr_status_t nearcache_post_config(apr_pool_t *pconf, server_rec *s)
{
    cis2_srv_conf *sc = cis2_srv(s);
    const cis2_err_t *err = NULL;
    cis2_nearcache_t *nc = NULL;
    apr_shm_t *shm = NULL;
    apr_size_t size = cis2_srv_store_size(sc);
    apr_status_t rv;

    nc_base = NULL;
    nc_ttl = cis2_srv_store_cache_ttl(sc);
    if (nc_ttl <= 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(10120)
                     "session store: no near-cache "
                     "(CIS2SessionStoreCacheTTL 0): every session read "
                     "goes to Redis");
        return APR_SUCCESS;
    }
    rv = ap_global_mutex_create(&nc_mutex, &nc_lockfile, STORE_MUTEX_TYPE,
                                "nearcache", s, pconf, 0);
    if (rv == APR_SUCCESS) {
        rv = apr_shm_create(&shm, size, NULL, pconf);
        if (APR_STATUS_IS_ENOTIMPL(rv)) {
            const char *fname = ap_runtime_dir_relative(pconf,
                                                        "cis2-nearcache.shm");

            apr_shm_remove(fname, pconf);
            rv = apr_shm_create(&shm, size, fname, pconf);
        }
    }
    if (rv == APR_SUCCESS) {
        rv = cis2_nearcache_create(&nc, apr_shm_baseaddr_get(shm),
                                   apr_shm_size_get(shm), 1, nc_ttl, nc_mutex,
                                   &err, pconf);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, CIS2_LOGNO(10117)
                     "cannot set up the session near-cache of %"
                     APR_SIZE_T_FMT " bytes (CIS2SessionStoreSize): %s; "
                     "lower it, or set CIS2SessionStoreCacheTTL 0", size,
                     err ? err->detail : "no shared memory or mutex");
        return rv;
    }
    nc_base = apr_shm_baseaddr_get(shm);
    nc_size = apr_shm_size_get(shm);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(10116)
                 "session store: near-cache of %" APR_SIZE_T_FMT "K, entries "
                 "served for at most %" APR_TIME_T_FMT " ms and only while "
                 "invalidations flow; mutex %s", nc_size / 1024,
                 apr_time_as_msec(nc_ttl), apr_global_mutex_name(nc_mutex));
    return APR_SUCCESS;
}

static void subscriber_notify(void *baton, int up, const char *why)
{
    server_rec *s = baton;

    if (up) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(10113)
                     "session near-cache: invalidation subscriber connected "
                     "to Redis at %s; serving from the near-cache",
                     redis_conf ? redis_conf->url : "?");
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, CIS2_LOGNO(10114)
                     "session near-cache: invalidation subscriber down (%s): "
                     "every session read goes to Redis until it is back",
                     why ? why : "unknown");
    }
}

static void nearcache_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_global_mutex_t *mutex = nc_mutex;
    const cis2_err_t *err = NULL;
    cis2_nearcache_t *nc = NULL;
    apr_status_t rv;

    nearcache = NULL;
    subscriber = NULL;
    if (nc_base == NULL || store == NULL) {
        return;
    }
    rv = apr_global_mutex_child_init(&mutex, nc_lockfile, pchild);
    if (rv == APR_SUCCESS) {
        rv = cis2_nearcache_create(&nc, nc_base, nc_size, 0, nc_ttl, mutex,
                                   &err, pchild);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, CIS2_LOGNO(10118)
                     "cannot attach to the session near-cache in this "
                     "child (%s): its session reads all go to Redis",
                     err ? err->detail : "mutex");
        return;
    }
    rv = cis2_redis_subscriber_start(&subscriber, store, nc,
                                     subscriber_notify, s, &err, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, CIS2_LOGNO(10119)
                     "cannot start the near-cache's invalidation "
                     "subscriber in this child (%s): its session reads all "
                     "go to Redis", err ? err->detail : "unknown");
        return;
    }
    nearcache = nc;
    cis2_store_redis_use_nearcache(store, nc);
}
#endif

int cis2_glue_store_check(server_rec *main_s)
{
    cis2_srv_conf *sc = cis2_srv(main_s);

    if (sc->redis != NULL && sc->passphrases == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, CIS2_LOGNO(10107)
                     "CIS2SessionStore %s needs CIS2CryptoPassphrase (the "
                     "same on every node) to encrypt what Redis holds",
                     sc->redis->url);
        return 1;
    }
    return 0;
}

static apr_status_t redis_post_config(apr_pool_t *pconf, server_rec *s)
{
#ifdef CIS2_WITH_REDIS
    cis2_srv_conf *sc = cis2_srv(s);
    const cis2_err_t *err = NULL;
    cis2_crypto_t *keys = NULL;
    apr_status_t rv;
    const char *kids = "";
    int i;

    rv = cis2_crypto_create(&keys, (const char *const *)
                            sc->passphrases->elts, sc->passphrases->nelts,
                            CIS2_CRYPTO_KDF_ITERATIONS, &err, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(10108)
                     "CIS2CryptoPassphrase: cannot derive the keys: %s",
                     err ? err->detail : "unknown error");
        return rv;
    }
    for (i = 0; i < cis2_crypto_nkeys(keys); i++) {
        kids = apr_pstrcat(pconf, kids, i ? ", " : "",
                           cis2_crypto_kid(keys, i, pconf),
                           i ? "" : " (writes)", NULL);
    }
    /* TLS files are read now, as root: children run as the User */
    rv = cis2_redis_conf_load_tls(sc->redis, &err, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(10112)
                     "CIS2SessionStore %s: %s", sc->redis->url,
                     err ? err->detail : "TLS set-up failed");
        return rv;
    }
    redis_conf = sc->redis;
    redis_keys = keys;
    if ((rv = nearcache_post_config(pconf, s)) != APR_SUCCESS) {
        return rv;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(10109)
                 "session store: Redis at %s, key ids %s, timeouts %"
                 APR_TIME_T_FMT " ms connect / %" APR_TIME_T_FMT " ms "
                 "command, %s idle connections per process",
                 redis_conf->url, kids,
                 apr_time_as_msec(redis_conf->connect_timeout),
                 apr_time_as_msec(redis_conf->timeout),
                 redis_conf->max_idle < 0 ? "one per thread of"
                 : apr_psprintf(pconf, "up to %d", redis_conf->max_idle));
    return APR_SUCCESS;
#else
    return APR_ENOTIMPL;        /* the setter refused it already */
#endif
}

static apr_status_t redis_child_init(apr_pool_t *pchild, server_rec *s)
{
#ifdef CIS2_WITH_REDIS
    const cis2_err_t *err = NULL;
    cis2_store_t *st = NULL;
    const cis2_redis_conf_t *conf = redis_conf;
    int threads = 0;

    /* pool= not set: one idle connection per worker thread, so a busy
     * child never closes and reopens connections */
    if (conf->max_idle < 0) {
        cis2_redis_conf_t *c = apr_pmemdup(pchild, conf, sizeof(*c));

        if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
            || threads < 1) {
            threads = 1;
        }
        c->max_idle = threads;
        conf = c;
    }
    if (cis2_store_redis_create(&st, conf, redis_keys, &err, pchild)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, CIS2_LOGNO(10110)
                     "cannot set up the Redis session store in this child: "
                     "%s", err ? err->detail : "unknown error");
        return APR_EGENERAL;
    }
    store = st;
    nearcache_child_init(pchild, s);
#endif
    return APR_SUCCESS;
}

int cis2_glue_store_unavailable(request_rec *r, const cis2_err_t *err,
                                const char *during)
{
    const char *ref = cis2_random_ref(r->pool);

    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CIS2_LOGNO(10111)
                  "session store unavailable during %s (ref=%s): %s", during,
                  ref, err && err->detail ? err->detail : "no store");
    apr_table_setn(r->err_headers_out, "Retry-After", "10");
    return cis2_page_send(r, HTTP_SERVICE_UNAVAILABLE,
                          "Service temporarily unavailable",
                          "This service cannot check sign-ins at the moment. "
                          "Please try again in a minute.", ref, NULL, NULL);
}

apr_status_t cis2_glue_store_pre_config(apr_pool_t *pconf)
{
    apr_status_t rv;

    store = NULL;
    rv = ap_mutex_register(pconf, STORE_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT,
                           0);
    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_EMERG, rv, pconf, CIS2_LOGNO(10000)
                      "cannot register the %s mutex type", STORE_MUTEX_TYPE);
    }
    return rv;
}

/* ---- post_config helpers ------------------------------------------------- */

static const char *kib(apr_pool_t *p, apr_size_t bytes)
{
    return apr_psprintf(p, "%" APR_SIZE_T_FMT "K", bytes / 1024);
}

/* One line describing the segment, for the numbered log lines. */
static const char *describe(apr_pool_t *p, const store_retained_t *ret)
{
    cis2_shm_t *shm = NULL;
    cis2_shm_geometry_t g;

    if (cis2_shm_attach(&shm, ret->base, ret->size, NULL, p) != APR_SUCCESS) {
        return "(unreadable)";
    }
    cis2_shm_get_geometry(shm, &g);
    return apr_psprintf(p, "%s, layout v%u, %u buckets + 2 x %u index "
                        "buckets, heap %s "
                        "(sessions %s, pending logins %s, replay markers "
                        "%s; largest session %s), writers' mutex %s%s%s",
                        kib(p, g.size), (unsigned)g.version,
                        (unsigned)g.nbuckets, (unsigned)g.nix_buckets,
                        kib(p, g.heap_bytes),
                        kib(p, g.quota[CIS2_NS_SESSION]),
                        kib(p, g.quota[CIS2_NS_PENDING]),
                        kib(p, g.quota[CIS2_NS_REPLAY]),
                        kib(p, g.max_entry[CIS2_NS_SESSION]),
                        apr_global_mutex_name(ret->mutex),
                        ret->lockfile ? " " : "",
                        ret->lockfile ? ret->lockfile : "");
}

/* The counters, at every restart (the status page shows them live). */
static void log_counters(server_rec *s, const cis2_store_stats_t *st)
{
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(10011)
                 "session store: %" APR_UINT64_T_FMT " sessions in %"
                 APR_UINT64_T_FMT " bytes (%" APR_UINT64_T_FMT " bytes of "
                 "keys and values), %" APR_UINT64_T_FMT " pending logins, %"
                 APR_UINT64_T_FMT " replay markers; %" APR_SIZE_T_FMT " of %"
                 APR_SIZE_T_FMT " bytes used; hits %" APR_UINT64_T_FMT
                 ", misses %" APR_UINT64_T_FMT ", expired %" APR_UINT64_T_FMT
                 ", evictions %" APR_UINT64_T_FMT ", puts %" APR_UINT64_T_FMT
                 " (%" APR_UINT64_T_FMT " failed), lock waits %"
                 APR_UINT64_T_FMT ", read retries %" APR_UINT64_T_FMT
                 " (%" APR_UINT64_T_FMT " sent to the lock)",
                 st->entries[CIS2_NS_SESSION], st->bytes[CIS2_NS_SESSION],
                 st->payload[CIS2_NS_SESSION], st->entries[CIS2_NS_PENDING],
                 st->entries[CIS2_NS_REPLAY], st->used_bytes, st->size_bytes,
                 st->hits, st->misses, st->expired, st->evictions, st->puts,
                 st->put_failures, st->lock_waits, st->read_retries,
                 st->read_fallbacks);
}

/* A new segment of `size` bytes from the process pool: anonymous where APR
 * can (no file, nothing to clean up after a crash), else a named one under
 * DefaultRuntimeDir. */
static apr_status_t create_segment(apr_shm_t **pshm, apr_size_t size,
                                   server_rec *s, apr_pool_t *pconf)
{
    apr_pool_t *pproc = s->process->pool;
    const char *fname;
    apr_status_t rv;

    rv = apr_shm_create(pshm, size, NULL, pproc);
    if (!APR_STATUS_IS_ENOTIMPL(rv)) {
        return rv;
    }
    fname = ap_runtime_dir_relative(pconf, STORE_SHM_FILE);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, CIS2_LOGNO(10010)
                 "no anonymous shared memory here; using %s", fname);
    apr_shm_remove(fname, pconf);           /* a leftover of a crash */
    return apr_shm_create(pshm, size, fname, pproc);
}

apr_status_t cis2_glue_store_post_config(apr_pool_t *pconf, server_rec *s,
                                         apr_size_t size)
{
    store_retained_t *ret = ap_retained_data_get(STORE_RETAIN_KEY);
    const cis2_err_t *err = NULL;
    cis2_store_t *st = NULL;
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    redis_conf = NULL;
    redis_keys = NULL;
    if (cis2_srv(s)->redis != NULL) {
        return redis_post_config(pconf, s);
    }
    if (ret == NULL) {
        ret = ap_retained_data_create(STORE_RETAIN_KEY, sizeof(*ret));
    }

    /* The mutex, once per httpd process lifetime (see the file comment). */
    if (ret->mutex == NULL) {
        rv = ap_global_mutex_create(&ret->mutex, &ret->lockfile,
                                    STORE_MUTEX_TYPE, NULL, s,
                                    s->process->pool, 0);
        if (rv != APR_SUCCESS) {
            ret->mutex = NULL;
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, CIS2_LOGNO(10001)
                         "cannot create the session store mutex; check the "
                         "`Mutex ... %s` directive and DefaultRuntimeDir",
                         STORE_MUTEX_TYPE);
            return rv;
        }
    }

    /* A restart: keep the live segment and its sessions. */
    if (ret->shm != NULL) {
        if (size != ret->wanted) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, CIS2_LOGNO(10006)
                         "CIS2SessionStoreSize changed from %" APR_SIZE_T_FMT
                         " to %" APR_SIZE_T_FMT " bytes: the live session "
                         "store keeps its size (and its sessions) until "
                         "httpd is stopped and started", ret->wanted, size);
        }
        rv = cis2_store_shm_create(&st, ret->base, ret->size, 0, ret->mutex,
                                   &err, pconf);
        if (rv == APR_SUCCESS) {
            cis2_store_stats_t stats;

            ret->generation++;
            cis2_store_get_stats(st, &stats);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, CIS2_LOGNO(10005)
                         "session store kept across restart (generation "
                         "%u, %" APR_UINT64_T_FMT " sessions): %s",
                         ret->generation, stats.entries[CIS2_NS_SESSION],
                         describe(pconf, ret));
            log_counters(s, &stats);
            store = st;
            return APR_SUCCESS;
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, CIS2_LOGNO(10007)
                     "the session store kept from before the restart cannot "
                     "be used (%s); starting an empty one: users must sign "
                     "in again", err ? err->detail : "invalid");
        /* Only the parent's mapping goes; old-generation children keep
         * theirs (and the same mutex) until they exit. */
        apr_shm_destroy(ret->shm);
        ret->shm = NULL;
        ret->base = NULL;
    }

    /* First start (or an unusable segment): a fresh, empty store. */
    rv = create_segment(&shm, size, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, CIS2_LOGNO(10002)
                     "cannot create the session store's shared memory of %"
                     APR_SIZE_T_FMT " bytes; lower CIS2SessionStoreSize or "
                     "raise the system's shared memory limits", size);
        return rv;
    }
    rv = cis2_store_shm_create(&st, apr_shm_baseaddr_get(shm),
                               apr_shm_size_get(shm), 1, ret->mutex, &err,
                               pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, CIS2_LOGNO(10003)
                     "cannot set up the session store in %" APR_SIZE_T_FMT
                     " bytes (CIS2SessionStoreSize): %s", size,
                     err ? err->detail : "unknown error");
        apr_shm_destroy(shm);
        return rv;
    }
    ret->shm = shm;
    ret->base = apr_shm_baseaddr_get(shm);
    ret->size = apr_shm_size_get(shm);
    ret->wanted = size;
    ret->generation = 1;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, CIS2_LOGNO(10004)
                 "session store created: %s", describe(pconf, ret));
    store = st;
    return APR_SUCCESS;
}

apr_status_t cis2_glue_store_child_init(apr_pool_t *pchild, server_rec *s)
{
    store_retained_t *ret = ap_retained_data_get(STORE_RETAIN_KEY);
    apr_global_mutex_t *mutex;
    const cis2_err_t *err = NULL;
    cis2_store_t *st = NULL;
    apr_status_t rv;

    if (redis_conf != NULL) {
        return redis_child_init(pchild, s);
    }
    if (store == NULL || ret == NULL || ret->shm == NULL) {
        return APR_SUCCESS;             /* post_config set up no store */
    }
    store = NULL;                       /* until this child has its own */
    /* child_init may hand back another object (file-based mechanisms open
     * their file again): keep it per child, never in the retained record */
    mutex = ret->mutex;
    rv = apr_global_mutex_child_init(&mutex, ret->lockfile, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, CIS2_LOGNO(10008)
                     "cannot open the session store mutex (%s) in this "
                     "child: no sessions here", ret->lockfile
                     ? ret->lockfile : apr_global_mutex_name(ret->mutex));
        return rv;
    }
    rv = cis2_store_shm_create(&st, ret->base, ret->size, 0, mutex, &err,
                               pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, CIS2_LOGNO(10009)
                     "cannot attach to the session store in this child: %s",
                     err ? err->detail : "unknown error");
        return rv;
    }
    store = st;
    return APR_SUCCESS;
}
