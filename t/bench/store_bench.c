/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * store_bench — the session store's read path under several processes, to
 * choose (and keep honest) its locking. Not a test: `make t/bench/store_bench`
 * then e.g.
 *
 *     t/bench/store_bench -p 2 -n 100000 -s 2000 -t 3 -m seqlock -w 200
 *
 * forks -p reader processes that get random keys among -n sessions of -s
 * bytes for -t seconds from one anonymous shared segment, while one writer
 * process puts -w sessions per second (0 = none), and prints gets per
 * second in total. -m mutex reads the way the store did before the seqlock
 * (take the global mutex, cis2_shm_get, release); -m seqlock uses
 * cis2_store_get (lock-free, validated by the sequence word). Every value
 * read is checked (key and length), so a torn read would be counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_shm.h>
#include <apr_global_mutex.h>

#include "cis2_store.h"
#include "cis2_shm.h"

static long opt(int argc, char **argv, const char *flag, long dflt)
{
    int i;

    for (i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], flag) == 0) {
            return strtol(argv[i + 1], NULL, 10);
        }
    }
    return dflt;
}

static const char *sopt(int argc, char **argv, const char *flag,
                        const char *dflt)
{
    int i;

    for (i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], flag) == 0) {
            return argv[i + 1];
        }
    }
    return dflt;
}

static char *value_for(apr_pool_t *p, long i, long size)
{
    char *v = apr_palloc(p, (apr_size_t)size);

    memset(v, 'a' + (int)(i % 26), (apr_size_t)size);
    snprintf(v, (size_t)size, "s%ld|", i);
    return v;
}

int main(int argc, char **argv)
{
    long procs = opt(argc, argv, "-p", 2), n = opt(argc, argv, "-n", 10000);
    long size = opt(argc, argv, "-s", 2000), secs = opt(argc, argv, "-t", 3);
    long wrate = opt(argc, argv, "-w", 0);
    int use_mutex = strcmp(sopt(argc, argv, "-m", "seqlock"), "mutex") == 0;
    apr_size_t seg_size = (apr_size_t)((n * (size + 120)) * 100 / 80
                                       + (4 << 20));
    apr_pool_t *pool;
    apr_shm_t *seg, *cseg;
    apr_global_mutex_t *mutex;
    cis2_store_t *st;
    cis2_shm_t *shm;
    cis2_shm_stats_t ss;
    const cis2_err_t *err = NULL;
    volatile long *counts;
    const char *lockfile;
    long i, total = 0, bad = 0;
    pid_t writer = 0;
    pid_t *pids;

    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    apr_pool_create(&pool, NULL);
    if (apr_shm_create(&seg, seg_size, NULL, pool) != APR_SUCCESS
        || apr_shm_create(&cseg, 2 * sizeof(long) * (size_t)(procs + 1),
                          NULL, pool) != APR_SUCCESS) {
        fprintf(stderr, "no shared memory\n");
        return 1;
    }
    counts = apr_shm_baseaddr_get(cseg);
    memset((void *)counts, 0, 2 * sizeof(long) * (size_t)(procs + 1));
    lockfile = apr_psprintf(pool, "/tmp/cis2-store-bench.%ld", (long)getpid());
    if (apr_global_mutex_create(&mutex, lockfile, APR_LOCK_DEFAULT, pool)
        != APR_SUCCESS
        || cis2_store_shm_create(&st, apr_shm_baseaddr_get(seg), seg_size, 1,
                                 mutex, &err, pool) != APR_SUCCESS
        || cis2_shm_attach(&shm, apr_shm_baseaddr_get(seg), seg_size, &err,
                           pool) != APR_SUCCESS) {
        fprintf(stderr, "store: %s\n", err ? err->detail : "mutex");
        return 1;
    }
    for (i = 0; i < n; i++) {
        apr_pool_t *p;

        apr_pool_create(&p, pool);
        if (cis2_store_put(st, CIS2_NS_SESSION, apr_psprintf(p, "s%ld", i),
                           value_for(p, i, size), (apr_size_t)size,
                           apr_time_now() + apr_time_from_sec(3600), &err, p)
            != APR_SUCCESS) {
            fprintf(stderr, "fill: %s\n", err->detail);
            return 1;
        }
        apr_pool_destroy(p);
    }
    if (wrate > 0 && (writer = fork()) == 0) {
        apr_pool_t *p;
        apr_time_t end = apr_time_now() + apr_time_from_sec(secs);
        long k = 0;

        apr_global_mutex_child_init(&mutex, lockfile, pool);
        apr_pool_create(&p, pool);
        while (apr_time_now() < end) {
            long j = (k++ * 7919) % n;

            cis2_store_put(st, CIS2_NS_SESSION, apr_psprintf(p, "s%ld", j),
                           value_for(p, j, size), (apr_size_t)size,
                           apr_time_now() + apr_time_from_sec(3600), NULL, p);
            apr_pool_clear(p);
            usleep((useconds_t)(1000000 / wrate));
        }
        _exit(0);
    }
    pids = apr_pcalloc(pool, sizeof(pid_t) * (size_t)procs);
    for (i = 0; i < procs; i++) {
        if ((pids[i] = fork()) == 0) {
            apr_pool_t *p;
            apr_time_t end = apr_time_now() + apr_time_from_sec(secs);
            apr_uint64_t x = 88172645463325252ULL + (apr_uint64_t)i;
            long ops = 0, errs = 0;

            apr_global_mutex_child_init(&mutex, lockfile, pool);
            apr_pool_create(&p, pool);
            while ((ops & 255) != 0 || apr_time_now() < end) {
                const char *key, *val = NULL;
                apr_size_t len = 0;
                apr_status_t rv;
                long j;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                j = (long)(x % (apr_uint64_t)n);
                key = apr_psprintf(p, "s%ld", j);
                if (use_mutex) {
                    apr_global_mutex_lock(mutex);
                    rv = cis2_shm_get(shm, CIS2_NS_SESSION, key, strlen(key),
                                      apr_time_now(), &val, &len, NULL, NULL,
                                      p);
                    apr_global_mutex_unlock(mutex);
                }
                else {
                    rv = cis2_store_get(st, CIS2_NS_SESSION, key,
                                        apr_time_now(), &val, &len, NULL,
                                        NULL, p);
                }
                if (rv != APR_SUCCESS || len != (apr_size_t)size
                    || strncmp(val, apr_psprintf(p, "s%ld|", j),
                               strlen(key) + 1) != 0) {
                    errs++;
                }
                ops++;
                apr_pool_clear(p);
            }
            counts[2 * i] = ops;
            counts[2 * i + 1] = errs;
            _exit(0);
        }
    }
    for (i = 0; i < procs; i++) {
        waitpid(pids[i], NULL, 0);
        total += counts[2 * i];
        bad += counts[2 * i + 1];
    }
    if (writer > 0) {
        waitpid(writer, NULL, 0);
    }
    cis2_shm_get_stats(shm, &ss);
    printf("mode=%s procs=%ld sessions=%ld size=%ld writes/s=%ld: "
           "%.0f gets/s, %ld bad, lock waits %" APR_UINT64_T_FMT
           ", read retries %" APR_UINT64_T_FMT ", fallbacks %"
           APR_UINT64_T_FMT "\n",
           use_mutex ? "mutex" : "seqlock", procs, n, size, wrate,
           (double)total / (double)secs, bad, ss.lock_waits, ss.read_retries,
           ss.read_fallbacks);
    apr_global_mutex_destroy(mutex);
    return bad != 0;
}
