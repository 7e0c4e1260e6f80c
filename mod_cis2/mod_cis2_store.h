/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * mod_cis2_store — the glue that gives the session store its shared memory
 * segment and global mutex over httpd's process lifecycle (pre_config,
 * post_config, child_init) and keeps both across restarts in httpd's
 * retained data, so signed-in users stay signed in. The store itself is
 * cis2_store (interface) over cis2_shm (table); see mod_cis2_store.c.
 */
#ifndef MOD_CIS2_STORE_H
#define MOD_CIS2_STORE_H

#include <httpd.h>
#include "cis2_store.h"
#include "cis2_shm.h"
#include "cis2_nearcache.h"

/** pre_config: register the "cis2-store" mutex type, so the admin can pick
 *  its mechanism with `Mutex <mech> cis2-store`. */
apr_status_t cis2_glue_store_pre_config(apr_pool_t *pconf);

/** post_config (the real pass only; skipping the first, config-check pass
 *  is the caller's job): create the anonymous segment of `size` bytes and
 *  the global mutex, or re-use those kept from the previous generation
 *  (a changed size takes effect only when httpd is stopped and started,
 *  and says so in the log). Logs its own failures; the caller returns
 *  HTTP_INTERNAL_SERVER_ERROR. */
apr_status_t cis2_glue_store_post_config(apr_pool_t *pconf, server_rec *s,
                                         apr_size_t size);

/** child_init: re-open the mutex in this child and attach to the segment.
 *  On failure the store is unavailable in this child (requests get
 *  CIS2_E_STORE_DOWN) and the reason is logged. */
apr_status_t cis2_glue_store_child_init(apr_pool_t *pchild, server_rec *s);

/** The shared memory segment's geometry (for the status page): 1 and *geo
 *  filled when this process has a shm store, else 0. Reads only fields
 *  fixed at format time, so it takes no lock. */
int cis2_glue_store_geometry(cis2_shm_geometry_t *geo, apr_pool_t *p);
/** check_config: a Redis store needs CIS2CryptoPassphrase. Logs and
 *  returns the number of problems (configtest refuses them). */
int cis2_glue_store_check(server_rec *main_s);

/** The store cannot be reached (CIS2_E_STORE_DOWN): one numbered log line
 *  with a reference and `during` (what was being done), and a 503 page
 *  with Retry-After. Returns what cis2_page_send returns (OK). */
int cis2_glue_store_unavailable(request_rec *r, const cis2_err_t *err,
                                const char *during);

/** The Redis near-cache's counters (for the status page): 1 and *st and
 *  *psub_up (this child's subscriber is connected) filled when this
 *  process has one, else 0. */
int cis2_glue_store_nearcache_stats(cis2_nearcache_stats_t *st,
                                    int *psub_up);

/** This process's store, or NULL if none was set up. */
cis2_store_t *cis2_glue_store_get(void);

#endif /* MOD_CIS2_STORE_H */
