/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_shm — a hash table laid out inside one memory block that several
 * processes map (an anonymous apr_shm segment in httpd; a plain buffer in
 * the unit tests). It knows no lock and nothing of httpd: cis2_store wraps
 * every write in the global mutex (gets use the lock-free cis2_shm_read),
 * and mod_cis2_store.c owns the segment. Keys are hashed with SipHash-2-4 under
 * a secret made when the block is formatted; entries are sized to their
 * content; each namespace has a byte quota and its own CLOCK list, so get,
 * put, delete and eviction are all O(1). The layout is drawn at the top of
 * cis2_shm.c.
 *
 * THE CALLER HOLDS THE LOCK around every function below except
 * cis2_shm_read (lock-free, a seqlock reader), cis2_shm_format (before
 * anyone else can see the block), cis2_shm_attach and cis2_shm_get_geometry
 * (they read only fields that never change after format) and
 * cis2_shm_siphash24.
 */
#ifndef CIS2_SHM_H
#define CIS2_SHM_H

#include "cis2.h"

/** Namespaces (cis2_store_ns maps onto these one to one). */
#define CIS2_SHM_NS_COUNT   3

/** Longest key accepted, in bytes. */
#define CIS2_SHM_MAX_KEY    512

/** Secondary index kinds (cis2_store_index_kind maps onto these), and the
 *  longest value an entry may be indexed under. */
#define CIS2_SHM_IX_SID     0
#define CIS2_SHM_IX_SUB     1
#define CIS2_SHM_MAX_INDEX  1024

/** Smallest and largest block cis2_shm_format accepts. */
#define CIS2_SHM_MIN_SIZE   ((apr_size_t)32 * 1024)
#define CIS2_SHM_MAX_SIZE   ((apr_uint64_t)16 * 1024 * 1024 * 1024)

/** One entry may use at most 1/CIS2_SHM_ENTRY_SHARE of its namespace's
 *  quota; a bigger value is refused with CIS2_E_TOO_LARGE (see cis2_shm.c,
 *  "quotas"). */
#define CIS2_SHM_ENTRY_SHARE 8

/** Default quota shares, in percent of the entry heap, by namespace
 *  (session, pending login, replay marker). */
#define CIS2_SHM_SHARE_SESSION 85
#define CIS2_SHM_SHARE_PENDING 10
#define CIS2_SHM_SHARE_REPLAY   5

typedef struct cis2_shm_t cis2_shm_t;

/** The fixed shape of a formatted block (never changes until re-format). */
typedef struct cis2_shm_geometry_t {
    apr_uint32_t version;              /* layout version */
    apr_size_t size;                   /* the whole block, bytes */
    apr_size_t header_bytes;
    apr_uint32_t nbuckets;             /* hash buckets (power of two) */
    apr_uint32_t nix_buckets;          /* index buckets per index kind */
    apr_size_t bucket_bytes;
    apr_size_t heap_bytes;             /* room for entries */
    apr_size_t quota[CIS2_SHM_NS_COUNT];     /* bytes per namespace */
    apr_size_t max_entry[CIS2_SHM_NS_COUNT]; /* largest entry, bytes */
    apr_time_t formatted;              /* when the block was formatted */
} cis2_shm_geometry_t;

/** Counters, kept in the block (so they are global and survive restarts). */
typedef struct cis2_shm_stats_t {
    apr_uint64_t entries[CIS2_SHM_NS_COUNT];
    apr_uint64_t bytes[CIS2_SHM_NS_COUNT]; /* heap bytes held, per ns */
    apr_uint64_t payload[CIS2_SHM_NS_COUNT]; /* key + value bytes, per ns */
    apr_uint64_t used_bytes, free_bytes;   /* heap */
    apr_uint64_t hits, misses, expired, evictions, puts, put_failures,
                 lock_waits, resets;
    apr_uint64_t read_retries;             /* lock-free reads tried again */
    apr_uint64_t read_fallbacks;           /* ... that fell back to the lock */
} cis2_shm_stats_t;

/** A full structural check (cis2_shm_check): what it counted. */
typedef struct cis2_shm_audit_t {
    apr_uint64_t blocks, free_blocks, entries;
    apr_uint64_t largest_free;         /* bytes */
    apr_uint32_t used_buckets;
    apr_uint32_t max_chain;            /* longest bucket chain */
    apr_uint64_t indexed[2];           /* entries in the sid, sub indexes */
    apr_uint32_t max_ix_chain;         /* longest index chain */
} cis2_shm_audit_t;

/** Lay out a fresh table in [base, base+size): header, buckets, one free
 *  heap block, and a new 128-bit hash secret from cis2_random_bytes.
 *  @param shares percent of the heap per namespace (each >= 1, sum 100), or
 *         NULL for the defaults above
 *  @return CIS2_E_INVALID (size out of range, base not 8-byte aligned, bad
 *          shares) or CIS2_E_CRYPTO (no randomness). The handle (per
 *          process) comes from p. */
apr_status_t cis2_shm_format(cis2_shm_t **pshm, void *base, apr_size_t size,
                             const unsigned *shares,
                             const cis2_err_t **perr, apr_pool_t *p);

/** Attach to a block formatted earlier, possibly by another process and at
 *  another address: checks magic, layout version and that the geometry is
 *  exactly what `size` implies. CIS2_E_INVALID if not. Contents are kept. */
apr_status_t cis2_shm_attach(cis2_shm_t **pshm, void *base, apr_size_t size,
                             const cis2_err_t **perr, apr_pool_t *p);

void cis2_shm_get_geometry(const cis2_shm_t *shm, cis2_shm_geometry_t *geo);

/* ---- operations: the caller holds the lock ------------------------------- */

/** Copy the value of (ns, key) into p (NUL-terminated, not counted in
 *  *plen) if present and not expired at `now`; sets its clock bit (a
 *  second chance at eviction). CIS2_E_NOT_FOUND otherwise (an expired entry is
 *  reclaimed on the way). pexpires may be NULL. */
apr_status_t cis2_shm_get(cis2_shm_t *shm, unsigned ns,
                          const char *key, apr_size_t klen, apr_time_t now,
                          const char **pval, apr_size_t *plen,
                          apr_time_t *pexpires,
                          const cis2_err_t **perr, apr_pool_t *p);

/** cis2_shm_get WITHOUT the lock (the one exception to the rule above):
 *  an optimistic read validated by the table's sequence word (a seqlock).
 *  Sets the entry's clock bit instead of moving it in its LRU list, and
 *  never reclaims anything. APR_SUCCESS or CIS2_E_NOT_FOUND as
 *  cis2_shm_get; APR_EAGAIN (no error set) if writers kept changing the
 *  table during READ_TRIES attempts, or one died mid-update: the caller
 *  then takes the lock and calls cis2_shm_get. */
apr_status_t cis2_shm_read(cis2_shm_t *shm, unsigned ns,
                           const char *key, apr_size_t klen, apr_time_t now,
                           const char **pval, apr_size_t *plen,
                           apr_time_t *pexpires,
                           const cis2_err_t **perr, apr_pool_t *p);

/** Like cis2_shm_get, then delete the entry: single use. */
apr_status_t cis2_shm_take(cis2_shm_t *shm, unsigned ns,
                           const char *key, apr_size_t klen, apr_time_t now,
                           const char **pval, apr_size_t *plen,
                           const cis2_err_t **perr, apr_pool_t *p);

/** Insert or replace. Makes room by evicting this namespace's own entries
 *  (expired ones first, then least recently used); never evicts a live
 *  entry of another namespace. CIS2_E_INVALID (bad ns or key),
 *  CIS2_E_TOO_LARGE (bigger than the namespace's max_entry), or
 *  CIS2_E_STORE_FULL (no room could be made; a replaced entry is gone). */
apr_status_t cis2_shm_put(cis2_shm_t *shm, unsigned ns,
                          const char *key, apr_size_t klen,
                          const void *val, apr_size_t vlen,
                          apr_time_t expires, apr_time_t now,
                          const cis2_err_t **perr, apr_pool_t *p);

/** cis2_shm_put, and index the entry under `sid` and `sub` (NUL-terminated;
 *  NULL or "" = not under that index) with login time `created`. A replaced
 *  entry leaves its old index chains. CIS2_E_TOO_LARGE for an index value
 *  over CIS2_SHM_MAX_INDEX bytes. */
apr_status_t cis2_shm_put_indexed(cis2_shm_t *shm, unsigned ns,
                                  const char *key, apr_size_t klen,
                                  const void *val, apr_size_t vlen,
                                  apr_time_t expires, apr_time_t now,
                                  const char *sid, const char *sub,
                                  apr_time_t created,
                                  const cis2_err_t **perr, apr_pool_t *p);

/** Delete every entry of `ns` indexed under (kind, value[len]) whose
 *  `created` is <= not_after; O(entries in that index bucket). Entries
 *  already expired at `now` (0: none counts as expired) are reclaimed but
 *  not counted. *pcount (may be NULL) gets how many live entries went. */
apr_status_t cis2_shm_delete_indexed(cis2_shm_t *shm, unsigned ns,
                                     unsigned kind, const char *value,
                                     apr_size_t len, apr_time_t not_after,
                                     apr_time_t now, int *pcount,
                                     const cis2_err_t **perr, apr_pool_t *p);

/** Delete (ns, key); APR_SUCCESS whether or not it existed. *pfound (may
 *  be NULL) tells which. */
apr_status_t cis2_shm_delete(cis2_shm_t *shm, unsigned ns,
                             const char *key, apr_size_t klen, int *pfound,
                             const cis2_err_t **perr, apr_pool_t *p);

/** Set a live entry's expiry and move it to the LRU front.
 *  CIS2_E_NOT_FOUND if absent or expired at `now`. */
apr_status_t cis2_shm_touch(cis2_shm_t *shm, unsigned ns,
                            const char *key, apr_size_t klen, apr_time_t now,
                            apr_time_t expires,
                            const cis2_err_t **perr, apr_pool_t *p);

/** Insert an empty-valued marker unless a live one exists:
 *  CIS2_E_DUPLICATE if it does (a replay), put errors otherwise. */
apr_status_t cis2_shm_add_once(cis2_shm_t *shm, unsigned ns,
                               const char *key, apr_size_t klen,
                               apr_time_t now, apr_time_t expires,
                               const cis2_err_t **perr, apr_pool_t *p);

void cis2_shm_get_stats(cis2_shm_t *shm, cis2_shm_stats_t *st);

/** Count one contended lock acquisition (the store measures it). */
void cis2_shm_note_lock_wait(cis2_shm_t *shm);

/** Walk the whole structure (O(entries + buckets); for tests, the status
 *  page and diagnosis, not the request path) and verify every invariant:
 *  block chain, free lists and bitmaps, hash chains, LRU lists, counters.
 *  CIS2_E_INVALID with the first broken invariant in the detail. */
apr_status_t cis2_shm_check(cis2_shm_t *shm, cis2_shm_audit_t *audit,
                            const cis2_err_t **perr, apr_pool_t *p);

/* ---- hashing ------------------------------------------------------------- */

/** SipHash-2-4 (Aumasson & Bernstein, 2012) of len bytes under a 128-bit
 *  key, 64-bit output. Exposed for the reference test vectors. */
apr_uint64_t cis2_shm_siphash24(const unsigned char key[16], const void *in,
                                apr_size_t len);

#endif /* CIS2_SHM_H */
