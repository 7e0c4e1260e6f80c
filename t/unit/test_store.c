/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_store — cis2_store over the shared-memory backend: the interface's
 * contract (codes, copies, stats, attach), then several processes on one
 * anonymous apr_shm segment under one apr_global_mutex, as httpd's children
 * use it: writers and readers with self-checking values, eviction under
 * pressure, and races on take (single use) and add_once (replay) that must
 * each have exactly one winner per key.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <apr_strings.h>
#include <apr_shm.h>
#include <apr_global_mutex.h>

#include "testmain.h"
#include "cis2_store.h"
#include "cis2_shm.h"

#define SEC(n)   apr_time_from_sec(n)
#define NOW      (t0())
#define LATER    (t0() + SEC(86400))

/* cis2_store_put reads the real clock (to reclaim expired entries it meets),
 * so times here are relative to the real start of the test process. */
static apr_time_t t0(void)
{
    static apr_time_t start;

    if (start == 0) {
        start = apr_time_now();
    }
    return start;
}

/* ---- helpers ------------------------------------------------------------- */

static cis2_store_t *fresh_store(apr_size_t size, void **pbase)
{
    cis2_store_t *st = NULL;
    const cis2_err_t *err = NULL;
    void *base = apr_palloc(g_pool, size);

    ck_assert_msg(cis2_store_shm_create(&st, base, size, 1, NULL, &err,
                                        g_pool) == APR_SUCCESS,
                  "create: %s", err ? err->detail : "?");
    if (pbase != NULL) {
        *pbase = base;
    }
    return st;
}

static int err_code(const cis2_err_t *err)
{
    return err != NULL ? err->code : CIS2_E_NONE;
}

/* ---- the interface ------------------------------------------------------- */

START_TEST(put_get_roundtrip)
{
    cis2_store_t *st = fresh_store(65536, NULL);
    const cis2_err_t *err = NULL;
    const char *val = NULL;
    apr_size_t len = 0;
    apr_time_t exp = 0;

    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "sid", "rec", 3,
                                    LATER, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "sid", NOW, &val,
                                    &len, &exp, &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(val, "rec");
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(exp, LATER);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "sid", NOW, &val,
                                    NULL, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "sid", LATER, &val,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_NOT_FOUND);
}
END_TEST

START_TEST(every_operation_has_its_code)
{
    cis2_store_t *st = fresh_store(65536, NULL);
    const cis2_err_t *err = NULL;
    const char *val = NULL;
    apr_size_t len = 0;

    /* take: single use */
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_PENDING, "state", "p", 1,
                                    LATER, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_take(st, CIS2_NS_PENDING, "state", NOW, &val,
                                     &len, &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(val, "p");
    err = NULL;
    ck_assert_int_ne(cis2_store_take(st, CIS2_NS_PENDING, "state", NOW, &val,
                                     &len, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_NOT_FOUND);
    /* delete: success either way */
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "s", "v", 1, LATER,
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_delete(st, CIS2_NS_SESSION, "s", &err,
                                       g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_delete(st, CIS2_NS_SESSION, "s", &err,
                                       g_pool), APR_SUCCESS);
    err = NULL;
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "s", NOW, &val,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_NOT_FOUND);
    /* touch: slides expiry; NOT_FOUND when gone */
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "t", "v", 1,
                                    NOW + SEC(10), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_touch(st, CIS2_NS_SESSION, "t", NOW + SEC(5),
                                      NOW + SEC(20), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "t", NOW + SEC(15),
                                    &val, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    err = NULL;
    ck_assert_int_ne(cis2_store_touch(st, CIS2_NS_SESSION, "t", NOW + SEC(20),
                                      NOW + SEC(30), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_NOT_FOUND);
    /* add_once: replay */
    ck_assert_int_eq(cis2_store_add_once(st, CIS2_NS_REPLAY, "jti", NOW,
                                         NOW + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    err = NULL;
    ck_assert_int_ne(cis2_store_add_once(st, CIS2_NS_REPLAY, "jti", NOW,
                                         NOW + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_DUPLICATE);
}
END_TEST

START_TEST(indexes_through_the_store)
{
    cis2_store_t *st = fresh_store(1 << 20, NULL);
    const cis2_err_t *err = NULL;
    cis2_store_index_t a = { "sid-1", "alice", NOW - SEC(10) };
    cis2_store_index_t b = { "sid-2", "alice", NOW + SEC(10) };
    const char *val = NULL;
    apr_size_t len = 0;
    int count = -1;

    ck_assert_int_eq(cis2_store_put_indexed(st, CIS2_NS_SESSION, "k1", "v1",
                                            2, LATER, &a, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_put_indexed(st, CIS2_NS_SESSION, "k2", "v2",
                                            2, LATER, &b, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k1", NOW, &val,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(val, "v1");
    /* a logout token issued at NOW ends alice's session begun before it,
     * not the one begun after */
    ck_assert_int_eq(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                               CIS2_INDEX_SUB, "alice", NOW,
                                               &count, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(count, 1);
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "k1", NOW, &val,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k2", NOW, &val,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                               CIS2_INDEX_SID, "sid-2",
                                               LATER, &count, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                               CIS2_INDEX_SID, "sid-2",
                                               LATER, NULL, &err, g_pool),
                     APR_SUCCESS);
    /* NULL index: a plain put */
    ck_assert_int_eq(cis2_store_put_indexed(st, CIS2_NS_SESSION, "k3", "v3",
                                            2, LATER, NULL, &err, g_pool),
                     APR_SUCCESS);
    /* bad calls */
    err = NULL;
    ck_assert_int_ne(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                               (cis2_store_index_kind)7, "x",
                                               LATER, &count, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                               CIS2_INDEX_SUB, "", LATER,
                                               &count, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_store_put_indexed(st, CIS2_NS_SESSION, "k4", NULL,
                                            3, LATER, &a, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
}
END_TEST

START_TEST(bad_calls_are_refused)
{
    cis2_store_t *st = fresh_store(65536, NULL);
    const cis2_err_t *err = NULL;
    const char *val = NULL;
    cis2_store_stats_t stats;

    ck_assert_int_ne(cis2_store_get(NULL, CIS2_NS_SESSION, "k", NOW, &val,
                                    NULL, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_STORE_DOWN);
    err = NULL;
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS__COUNT, "k", "v", 1, LATER,
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS_SESSION, "", "v", 1, LATER,
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS_SESSION, NULL, "v", 1, LATER,
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    err = NULL;
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS_SESSION, "k", NULL, 5, LATER,
                                    &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    /* perr may be NULL */
    ck_assert_int_ne(cis2_store_take(st, CIS2_NS_PENDING, "none", NOW, &val,
                                     NULL, NULL, g_pool), APR_SUCCESS);
    cis2_store_get_stats(NULL, &stats);
    ck_assert_uint_eq(stats.size_bytes, 0);
}
END_TEST

START_TEST(values_are_copies)
{
    void *base = NULL;
    apr_size_t size = 65536;
    cis2_store_t *st = fresh_store(size, &base);
    const char *val = NULL, *val2 = NULL;
    apr_size_t len = 0;

    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "k", "original", 8,
                                    LATER, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k", NOW, &val, &len,
                                    NULL, NULL, g_pool), APR_SUCCESS);
    /* not a pointer into shared memory */
    ck_assert(val < (const char *)base || val >= (const char *)base + size);
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "k", "CHANGED!", 8,
                                    LATER, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_take(st, CIS2_NS_SESSION, "k", NOW, &val2,
                                     &len, NULL, g_pool), APR_SUCCESS);
    ck_assert(val2 < (const char *)base || val2 >= (const char *)base + size);
    ck_assert_str_eq(val, "original");
    ck_assert_str_eq(val2, "CHANGED!");
}
END_TEST

START_TEST(stats_count_what_happened)
{
    cis2_store_t *st = fresh_store(1 << 20, NULL);
    cis2_store_stats_t s;
    const char *val;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "a", "1", 1, LATER,
                                    NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_PENDING, "b", "2", 1,
                                    NOW + SEC(1), NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_add_once(st, CIS2_NS_REPLAY, "c", NOW, LATER,
                                         NULL, g_pool), APR_SUCCESS);
    cis2_store_get(st, CIS2_NS_SESSION, "a", NOW, &val, NULL, NULL, NULL,
                   g_pool);
    cis2_store_get(st, CIS2_NS_SESSION, "x", NOW, &val, NULL, NULL, NULL,
                   g_pool);
    cis2_store_get(st, CIS2_NS_PENDING, "b", NOW + SEC(2), &val, NULL, NULL,
                   NULL, g_pool);
    /* gets never write (lock-free): the expired entry is still held, not
     * returned; the next writer that meets it reclaims it */
    cis2_store_get_stats(st, &s);
    ck_assert_uint_eq(s.entries[CIS2_NS_PENDING], 1);
    ck_assert_uint_eq(s.expired, 0);
    ck_assert_int_ne(cis2_store_take(st, CIS2_NS_PENDING, "b", NOW + SEC(2),
                                     &val, NULL, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS_REPLAY, "big",
                                    apr_pcalloc(g_pool, 1 << 20), 1 << 20,
                                    LATER, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_TOO_LARGE);
    cis2_store_get_stats(st, &s);
    ck_assert_uint_eq(s.size_bytes, 1 << 20);
    ck_assert_uint_eq(s.entries[CIS2_NS_SESSION], 1);
    ck_assert_uint_eq(s.entries[CIS2_NS_PENDING], 0);
    ck_assert_uint_eq(s.entries[CIS2_NS_REPLAY], 1);
    ck_assert_uint_eq(s.used_bytes, 96);         /* two 48-byte entries */
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_uint_eq(s.misses, 3);              /* two gets, one take */
    ck_assert_uint_eq(s.expired, 1);
    ck_assert_uint_eq(s.puts, 3);
    ck_assert_uint_eq(s.put_failures, 1);
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_eq(s.lock_waits, 0);
}
END_TEST

START_TEST(forty_kb_session_through_the_store)
{
    cis2_store_t *st = fresh_store(1 << 20, NULL);
    char *big = apr_palloc(g_pool, 40 * 1024);
    const char *val = NULL;
    apr_size_t len = 0;

    memset(big, 'r', 40 * 1024);
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "sid", big,
                                    40 * 1024, LATER, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "sid", NOW, &val,
                                    &len, NULL, NULL, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(len, 40 * 1024);
    ck_assert_int_eq(memcmp(val, big, len), 0);
}
END_TEST

START_TEST(attach_keeps_and_validates)
{
    void *base = NULL;
    apr_size_t size = 128 * 1024;
    cis2_store_t *st = fresh_store(size, &base), *again = NULL;
    const cis2_err_t *err = NULL;
    const char *val = NULL;

    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "kept", "yes", 3,
                                    LATER, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_shm_create(&again, base, size, 0, NULL, &err,
                                           g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(again, CIS2_NS_SESSION, "kept", NOW, &val,
                                    NULL, NULL, NULL, g_pool), APR_SUCCESS);
    ck_assert_str_eq(val, "yes");
    ck_assert_int_ne(cis2_store_shm_create(&again, base, size / 2, 0, NULL,
                                           &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
    ck_assert_int_ne(cis2_store_shm_create(&again, apr_pcalloc(g_pool, size),
                                           size, 0, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err_code(err), CIS2_E_INVALID);
}
END_TEST

/* ---- several processes --------------------------------------------------- */

typedef struct rig_t {
    apr_shm_t *seg;             /* the store */
    void *base;
    apr_size_t size;
    apr_shm_t *cseg;            /* counters shared with the children */
    apr_uint32_t *counters;
    apr_global_mutex_t *mutex;
    const char *lockfile;
} rig_t;

static void rig_make(rig_t *r, apr_size_t size, apr_size_t ncounters)
{
    cis2_store_t *st = NULL;
    const cis2_err_t *err = NULL;

    memset(r, 0, sizeof(*r));
    r->size = size;
    ck_assert_int_eq(apr_shm_create(&r->seg, size, NULL, g_pool),
                     APR_SUCCESS);
    r->base = apr_shm_baseaddr_get(r->seg);
    ck_assert_int_eq(apr_shm_create(&r->cseg, (ncounters + 1)
                                    * sizeof(apr_uint32_t), NULL, g_pool),
                     APR_SUCCESS);
    r->counters = apr_shm_baseaddr_get(r->cseg);
    memset(r->counters, 0, (ncounters + 1) * sizeof(apr_uint32_t));
    r->lockfile = apr_psprintf(g_pool, "/tmp/cis2-test-store.%ld.lock",
                               (long)getpid());
    ck_assert_int_eq(apr_global_mutex_create(&r->mutex, r->lockfile,
                                             APR_LOCK_DEFAULT, g_pool),
                     APR_SUCCESS);
    ck_assert_msg(cis2_store_shm_create(&st, r->base, size, 1, r->mutex,
                                        &err, g_pool) == APR_SUCCESS,
                  "create: %s", err ? err->detail : "?");
}

/* What an httpd child does in child_init: re-open the mutex, attach. */
static cis2_store_t *rig_child(rig_t *r, apr_pool_t *p)
{
    cis2_store_t *st = NULL;
    apr_global_mutex_t *m = r->mutex;

    if (apr_global_mutex_child_init(&m, r->lockfile, p) != APR_SUCCESS
        || cis2_store_shm_create(&st, r->base, r->size, 0, m, NULL, p)
           != APR_SUCCESS) {
        return NULL;
    }
    return st;
}

/* The parent's view, for verification after the children are gone. */
static cis2_store_t *rig_store(rig_t *r)
{
    cis2_store_t *st = NULL;

    ck_assert_int_eq(cis2_store_shm_create(&st, r->base, r->size, 0,
                                           r->mutex, NULL, g_pool),
                     APR_SUCCESS);
    return st;
}

static void rig_audit(rig_t *r)
{
    cis2_shm_t *shm = NULL;
    cis2_shm_audit_t a;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_shm_attach(&shm, r->base, r->size, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_msg(cis2_shm_check(shm, &a, &err, g_pool) == APR_SUCCESS,
                  "audit: %s", err ? err->detail : "?");
}

typedef int worker_fn(rig_t *r, cis2_store_t *st, int id, apr_pool_t *p);

/* Fork n workers; each returns its error count, which becomes its exit
 * status. Returns the number of workers that failed. */
static int run_workers(rig_t *r, int n, worker_fn *const *fns)
{
    pid_t pids[16];
    int i, failed = 0;

    for (i = 0; i < n; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            apr_pool_t *p;
            cis2_store_t *st;
            int errors;

            apr_pool_create(&p, NULL);
            st = rig_child(r, p);
            errors = st == NULL ? 1 : fns[i](r, st, i, p);
            _exit(errors == 0 ? 0 : 1);
        }
    }
    for (i = 0; i < n; i++) {
        int status = 0;

        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
        }
    }
    return failed;
}

/* Self-checking values: "key|version|" + bytes from a generator seeded by
 * both + an 8-byte FNV-1a checksum of all that. A value read back must
 * carry the key it was read under and regenerate exactly. */
static apr_uint64_t fnv64(const void *data, apr_size_t len, apr_uint64_t h)
{
    const unsigned char *s = data;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ s[i]) * 0x100000001b3ULL;
    }
    return h;
}

static char *make_value(apr_pool_t *p, const char *key, unsigned version,
                        apr_size_t body, apr_size_t *plen)
{
    const char *head = apr_psprintf(p, "%s|%u|", key, version);
    apr_size_t hl = strlen(head), i;
    char *v = apr_palloc(p, hl + body + 8);
    apr_uint64_t x = fnv64(head, hl, 0xcbf29ce484222325ULL), sum;

    memcpy(v, head, hl);
    for (i = 0; i < body; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[hl + i] = (char)(x & 0xff);
    }
    sum = fnv64(v, hl + body, 0xcbf29ce484222325ULL);
    memcpy(v + hl + body, &sum, 8);
    *plen = hl + body + 8;
    return v;
}

/* 1 if val is a value make_value() made for key; *pversion gets its
 * version. */
static int value_ok(apr_pool_t *p, const char *key, const char *val,
                    apr_size_t len, unsigned *pversion)
{
    apr_size_t kl = strlen(key), exp_len;
    unsigned version;
    char *endp, *again;

    if (len < kl + 12 || memcmp(val, key, kl) != 0 || val[kl] != '|') {
        return 0;
    }
    version = (unsigned)strtoul(val + kl + 1, &endp, 10);
    if (endp >= val + len || *endp != '|') {
        return 0;
    }
    again = make_value(p, key, version,
                       len - (apr_size_t)(endp + 1 - val) - 8, &exp_len);
    if (exp_len != len || memcmp(again, val, len) != 0) {
        return 0;
    }
    *pversion = version;
    return 1;
}

static apr_uint64_t seed_of(const char *key, unsigned version)
{
    return fnv64(key, strlen(key), 0xcbf29ce484222325ULL) + version;
}

#define W_KEYS   500
#define W_ROUNDS 4
#define WRITERS  3

static const char *wkey(apr_pool_t *p, int w, int i)
{
    return apr_psprintf(p, "w%d-%d", w, i);
}

/* Writer: W_ROUNDS rounds of puts over its W_KEYS keys (version = round),
 * plus a pending login put and taken back each time (nobody else touches
 * those keys, so the take must return exactly what was put). */
static int writer(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    int round, i, errors = 0;
    apr_pool_t *p;

    apr_pool_create(&p, pp);
    for (round = 0; round < W_ROUNDS; round++) {
        for (i = 0; i < W_KEYS; i++) {
            const char *key = wkey(p, id, i), *pkey, *got = NULL;
            apr_size_t len, glen = 0;
            apr_size_t body = 64 + seed_of(key, (unsigned)round) % 3000;
            char *v = make_value(p, key, (unsigned)round, body, &len);
            unsigned ver;

            if (cis2_store_put(st, CIS2_NS_SESSION, key, v, len, LATER, NULL,
                               p) != APR_SUCCESS) {
                errors++;
            }
            pkey = apr_psprintf(p, "p%s", key);
            v = make_value(p, pkey, (unsigned)round, 200, &len);
            if (cis2_store_put(st, CIS2_NS_PENDING, pkey, v, len, LATER, NULL,
                               p) != APR_SUCCESS
                || cis2_store_take(st, CIS2_NS_PENDING, pkey, NOW, &got,
                                   &glen, NULL, p) != APR_SUCCESS
                || !value_ok(p, pkey, got, glen, &ver)
                || ver != (unsigned)round) {
                errors++;
            }
            apr_pool_clear(p);
        }
    }
    __atomic_fetch_add(&r->counters[0], (apr_uint32_t)errors,
                       __ATOMIC_SEQ_CST);          /* diagnostics only */
    return errors;
}

/* Reader: random gets (and some touches) of the writers' keys; whatever is
 * found must be a well-formed value of that key. */
static int reader(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    apr_uint64_t x = 0x1234567ULL + (apr_uint64_t)id * 7919;
    int n, errors = 0;
    apr_pool_t *p;

    apr_pool_create(&p, pp);
    for (n = 0; n < 15000; n++) {
        const char *key, *val = NULL;
        apr_size_t len = 0;
        unsigned ver;
        apr_status_t rv;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        key = wkey(p, (int)(x % WRITERS), (int)((x >> 8) % W_KEYS));
        rv = cis2_store_get(st, CIS2_NS_SESSION, key, NOW, &val, &len, NULL,
                            NULL, p);
        if (rv == APR_SUCCESS
            && (!value_ok(p, key, val, len, &ver) || ver >= W_ROUNDS)) {
            errors++;
        }
        if (n % 16 == 0) {
            cis2_store_touch(st, CIS2_NS_SESSION, key, NOW, LATER, NULL, p);
        }
        apr_pool_clear(p);
    }
    return errors;
}

START_TEST(processes_share_one_store)
{
    static worker_fn *const fns[] = { writer, writer, writer, reader,
                                      reader };
    rig_t r;
    cis2_store_t *st;
    cis2_store_stats_t s;
    int w, i;

    rig_make(&r, 8 << 20, 1);                  /* room for everything */
    ck_assert_int_eq(run_workers(&r, 5, fns), 0);
    ck_assert_uint_eq(r.counters[0], 0);
    rig_audit(&r);
    /* nothing that should be there is lost, and it is the last version */
    st = rig_store(&r);
    for (w = 0; w < WRITERS; w++) {
        for (i = 0; i < W_KEYS; i++) {
            const char *key = wkey(g_pool, w, i), *val = NULL;
            apr_size_t len = 0;
            unsigned ver = 0;

            ck_assert_msg(cis2_store_get(st, CIS2_NS_SESSION, key, NOW, &val,
                                         &len, NULL, NULL, g_pool)
                          == APR_SUCCESS, "%s lost", key);
            ck_assert_msg(value_ok(g_pool, key, val, len, &ver), "%s bad",
                          key);
            ck_assert_uint_eq(ver, W_ROUNDS - 1);
        }
    }
    cis2_store_get_stats(st, &s);
    ck_assert_uint_eq(s.entries[CIS2_NS_SESSION], WRITERS * W_KEYS);
    ck_assert_uint_eq(s.entries[CIS2_NS_PENDING], 0);
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_eq(s.put_failures, 0);
    ck_assert_uint_eq(s.puts, 2 * WRITERS * W_KEYS * W_ROUNDS);
}
END_TEST

/* Back-channel logout across processes: writers put indexed sessions (20
 * users, a sid per session) while a logout worker ends users by sub and
 * sessions by sid, and a reader checks values. Afterwards the indexes must
 * hold exactly the sessions still there. */
#define IX_USERS 20

static const char *ix_sub(apr_pool_t *p, int i)
{
    return apr_psprintf(p, "user-%d", i % IX_USERS);
}

static int ix_writer(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    int round, i, errors = 0;
    apr_pool_t *p;

    (void)r;
    apr_pool_create(&p, pp);
    for (round = 0; round < W_ROUNDS; round++) {
        for (i = 0; i < W_KEYS; i++) {
            const char *key = wkey(p, id, i);
            apr_size_t len;
            char *v = make_value(p, key, (unsigned)round,
                                 64 + seed_of(key, (unsigned)round) % 2000,
                                 &len);
            cis2_store_index_t ix;

            ix.sid = apr_psprintf(p, "sid-%s", key);
            ix.sub = ix_sub(p, i);
            ix.created = NOW;
            if (cis2_store_put_indexed(st, CIS2_NS_SESSION, key, v, len,
                                       LATER, &ix, NULL, p) != APR_SUCCESS) {
                errors++;
            }
            apr_pool_clear(p);
        }
    }
    return errors;
}

static int ix_logout(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    int n, errors = 0, count;
    apr_pool_t *p;

    (void)id;
    apr_pool_create(&p, pp);
    for (n = 0; n < 600; n++) {
        count = -1;
        if (n % 2 == 0) {
            if (cis2_store_delete_indexed(st, CIS2_NS_SESSION, CIS2_INDEX_SUB,
                                          ix_sub(p, n / 2), LATER, &count,
                                          NULL, p) != APR_SUCCESS
                || count < 0) {
                errors++;
            }
        }
        else if (cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                           CIS2_INDEX_SID,
                                           apr_psprintf(p, "sid-%s",
                                                        wkey(p, n % WRITERS,
                                                             n % W_KEYS)),
                                           LATER, &count, NULL, p)
                 != APR_SUCCESS || count < 0 || count > 1) {
            errors++;
        }
        if (count > 0) {
            __atomic_fetch_add(&r->counters[1], (apr_uint32_t)count,
                               __ATOMIC_SEQ_CST);
        }
        apr_pool_clear(p);
    }
    return errors;
}

START_TEST(processes_share_the_indexes)
{
    static worker_fn *const fns[] = { ix_writer, ix_writer, ix_writer,
                                      ix_logout, reader };
    rig_t r;
    cis2_store_t *st;
    cis2_store_stats_t s;
    cis2_shm_t *shm = NULL;
    cis2_shm_audit_t a;
    int w, i, present = 0, ended = 0, count;

    rig_make(&r, 8 << 20, 2);
    ck_assert_int_eq(run_workers(&r, 5, fns), 0);
    rig_audit(&r);
    ck_assert_int_eq(cis2_shm_attach(&shm, r.base, r.size, NULL, g_pool), 0);
    ck_assert_int_eq(cis2_shm_check(shm, &a, NULL, g_pool), 0);
    st = rig_store(&r);
    cis2_store_get_stats(st, &s);
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_gt(r.counters[1], 0);          /* logouts ended some */
    /* every session still there is in both indexes, and nothing else is */
    for (w = 0; w < WRITERS; w++) {
        for (i = 0; i < W_KEYS; i++) {
            const char *val;
            apr_size_t len;

            present += cis2_store_get(st, CIS2_NS_SESSION, wkey(g_pool, w, i),
                                      NOW, &val, &len, NULL, NULL, g_pool)
                       == APR_SUCCESS;
        }
    }
    ck_assert_uint_eq(present, s.entries[CIS2_NS_SESSION]);
    ck_assert_uint_eq(a.indexed[CIS2_SHM_IX_SID], present);
    ck_assert_uint_eq(a.indexed[CIS2_SHM_IX_SUB], present);
    for (i = 0; i < IX_USERS; i++) {
        ck_assert_int_eq(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                                   CIS2_INDEX_SUB,
                                                   ix_sub(g_pool, i), LATER,
                                                   &count, NULL, g_pool),
                         APR_SUCCESS);
        ended += count;
    }
    ck_assert_int_eq(ended, present);
    cis2_store_get_stats(st, &s);
    ck_assert_uint_eq(s.entries[CIS2_NS_SESSION], 0);
    rig_audit(&r);
}
END_TEST

/* Under eviction: a store far too small for the writers. Values found must
 * still be whole; pending logins and markers keep working. */
static int replay_worker(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    int n, errors = 0;
    apr_pool_t *p;

    apr_pool_create(&p, pp);
    for (n = 0; n < 4000; n++) {
        const char *key = apr_psprintf(p, "jti-%d-%d", id, n);

        if (cis2_store_add_once(st, CIS2_NS_REPLAY, key, NOW, LATER, NULL, p)
            != APR_SUCCESS) {
            errors++;
        }
        if (n % 3 == 0
            && cis2_store_add_once(st, CIS2_NS_REPLAY, key, NOW, LATER, NULL,
                                   p) == APR_SUCCESS) {
            errors++;                           /* a replay got through */
        }
        apr_pool_clear(p);
    }
    return errors;
}

START_TEST(processes_under_eviction_pressure)
{
    static worker_fn *const fns[] = { writer, writer, writer, reader,
                                      reader, replay_worker };
    rig_t r;
    cis2_store_t *st;
    cis2_store_stats_t s;

    rig_make(&r, 512 * 1024, 1);
    ck_assert_int_eq(run_workers(&r, 6, fns), 0);
    rig_audit(&r);
    st = rig_store(&r);
    cis2_store_get_stats(st, &s);
    ck_assert_uint_gt(s.evictions, 1000);
    ck_assert_uint_eq(s.put_failures, 0);
}
END_TEST

#define RACE_KEYS 2000
#define RACERS    4

static int taker(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    int n, errors = 0;
    apr_pool_t *p;

    apr_pool_create(&p, pp);
    for (n = 0; n < RACE_KEYS; n++) {
        int k = (n + id * RACE_KEYS / RACERS) % RACE_KEYS;
        const char *key = apr_psprintf(p, "state-%d", k), *val = NULL;
        const cis2_err_t *err = NULL;
        apr_size_t len = 0;
        unsigned ver;

        if (cis2_store_take(st, CIS2_NS_PENDING, key, NOW, &val, &len, &err,
                            p) == APR_SUCCESS) {
            __atomic_fetch_add(&r->counters[k], 1, __ATOMIC_SEQ_CST);
            if (!value_ok(p, key, val, len, &ver)) {
                errors++;
            }
        }
        else if (err == NULL || err->code != CIS2_E_NOT_FOUND) {
            errors++;
        }
        apr_pool_clear(p);
    }
    return errors;
}

START_TEST(take_has_one_winner_per_key)
{
    static worker_fn *const fns[] = { taker, taker, taker, taker };
    rig_t r;
    cis2_store_t *st;
    cis2_store_stats_t s;
    int k;

    rig_make(&r, 8 << 20, RACE_KEYS);         /* all fit in the pending quota */
    st = rig_store(&r);
    for (k = 0; k < RACE_KEYS; k++) {
        const char *key = apr_psprintf(g_pool, "state-%d", k);
        apr_size_t len;
        char *v = make_value(g_pool, key, 0, 150, &len);

        ck_assert_int_eq(cis2_store_put(st, CIS2_NS_PENDING, key, v, len,
                                        LATER, NULL, g_pool), APR_SUCCESS);
    }
    ck_assert_int_eq(run_workers(&r, RACERS, fns), 0);
    for (k = 0; k < RACE_KEYS; k++) {
        ck_assert_msg(r.counters[k] == 1, "state-%d taken %u times", k,
                      r.counters[k]);
    }
    cis2_store_get_stats(st, &s);
    ck_assert_uint_eq(s.entries[CIS2_NS_PENDING], 0);
    rig_audit(&r);
}
END_TEST

static int marker(rig_t *r, cis2_store_t *st, int id, apr_pool_t *pp)
{
    int n, errors = 0;
    apr_pool_t *p;

    apr_pool_create(&p, pp);
    for (n = 0; n < RACE_KEYS; n++) {
        int k = (RACE_KEYS - 1 - n + id * 97) % RACE_KEYS;
        const char *key = apr_psprintf(p, "jti-%d", k);
        const cis2_err_t *err = NULL;

        if (cis2_store_add_once(st, CIS2_NS_REPLAY, key, NOW, LATER, &err, p)
            == APR_SUCCESS) {
            __atomic_fetch_add(&r->counters[k], 1, __ATOMIC_SEQ_CST);
        }
        else if (err == NULL || err->code != CIS2_E_DUPLICATE) {
            errors++;
        }
        apr_pool_clear(p);
    }
    return errors;
}

START_TEST(add_once_has_one_winner_per_key)
{
    static worker_fn *const fns[] = { marker, marker, marker, marker };
    rig_t r;
    int k;

    rig_make(&r, 4 << 20, RACE_KEYS);
    ck_assert_int_eq(run_workers(&r, RACERS, fns), 0);
    for (k = 0; k < RACE_KEYS; k++) {
        ck_assert_msg(r.counters[k] == 1, "jti-%d added %u times", k,
                      r.counters[k]);
    }
    rig_audit(&r);
}
END_TEST

START_TEST(mutex_is_released_after_each_call)
{
    rig_t r;
    cis2_store_t *st;
    const char *val = NULL;

    rig_make(&r, 65536, 1);
    st = rig_store(&r);
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "k", "v", 1, LATER,
                                    NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k", NOW, &val,
                                    NULL, NULL, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "x", NOW, &val,
                                    NULL, NULL, NULL, g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS_SESSION, "big",
                                    apr_pcalloc(g_pool, 65536), 65536, LATER,
                                    NULL, g_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_global_mutex_trylock(r.mutex), APR_SUCCESS);
    ck_assert_int_eq(apr_global_mutex_unlock(r.mutex), APR_SUCCESS);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("interface");
    cis2_test_fixture(tc);
    tcase_add_test(tc, put_get_roundtrip);
    tcase_add_test(tc, every_operation_has_its_code);
    tcase_add_test(tc, bad_calls_are_refused);
    tcase_add_test(tc, values_are_copies);
    tcase_add_test(tc, stats_count_what_happened);
    tcase_add_test(tc, forty_kb_session_through_the_store);
    tcase_add_test(tc, attach_keeps_and_validates);
    tcase_add_test(tc, indexes_through_the_store);
    tcase_add_test(tc, mutex_is_released_after_each_call);
    suite_add_tcase(s, tc);

    tc = tcase_create("processes");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, processes_share_one_store);
    tcase_add_test(tc, processes_under_eviction_pressure);
    tcase_add_test(tc, processes_share_the_indexes);
    tcase_add_test(tc, take_has_one_winner_per_key);
    tcase_add_test(tc, add_once_has_one_winner_per_key);
    suite_add_tcase(s, tc);
    return s;
}
