/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_shm — the session store's hash table inside one shared memory block
 * (see cis2_shm.h for the contract; cis2_store.c adds the lock, and
 * mod_cis2_store.c owns the segment across restarts).
 *
 * THE CALLER HOLDS THE LOCK for every operation. Nothing in the block is a
 * pointer: each process may map it at a different address, so every link
 * is a "ref", a 32-bit offset from the start of the block counted in 16-byte
 * units (ref 0 is the header, so 0 also means "none"; 2^32 units would
 * reach 64 GiB, the size cap is 16 GiB).
 *
 *   0      hdr_bytes                                    heap_ref*16     size
 *   +------+-----------+----------------+------------+------------------+
 *   |header| buckets   | ix_buckets     | clock bits | entry heap:      |
 *   |      | [nbuckets]| [2][nix]       | 1/unit     | blocks in a row  |
 *   +------+-----------+----------------+------------+------------------+
 *
 *   header (struct shm_hdr, padded to 64 bytes)
 *     magic, version, hdr_bytes   what this is; attach refuses anything else
 *     size                        bytes of the block when it was formatted
 *     nbuckets, bucket_ref        the bucket array (power of two, refs)
 *     nix, ix_ref                 the index bucket arrays, one per index
 *                                 kind (sid, sub), nix each (power of two)
 *     heap_ref, heap_units        where the heap starts, and its length
 *     sip_key[16]                 SipHash-2-4 secret, random at format time
 *     formatted                   apr_time_t of format (shown to the admin)
 *     quota[ns]                   heap bytes each namespace may hold
 *     clock_ref                   the CLOCK bitmap (a bit per heap unit)
 *     --- everything below changes (writers hold the lock) ---
 *     seq (own cache line)        sequence word, odd while an operation
 *                                 changes the table. A lock holder that
 *                                 finds it odd knows the last holder died
 *                                 mid-update: the table is re-initialised
 *                                 (emptied), never trusted
 *     hits, misses (own line)     counted by lock-free readers, atomically
 *     ns_bytes[ns], ns_entries[ns]  what each namespace holds now
 *     lru_head[ns], lru_tail[ns]  each namespace's LRU list (head = newest)
 *     free_units                  heap units in free blocks
 *     hits .. resets              counters (cis2_shm_stats_t)
 *     fl_bitmap, sl_bitmap[FL]    which free lists are non-empty
 *     free_head[FL][SL]           the segregated free lists
 *
 *   bucket: ref of the first entry whose hash & (nbuckets - 1) is its index
 *
 *   heap block, at a whole number of units from the start of the block:
 *     +-----------+-----------+   size: units including this tag, with the
 *     | size|FREE | prev_phys |   FREE bit; prev_phys: ref of the block just
 *     +-----------+-----------+   before it in the heap (0 for the first)
 *     free block  then fprev, fnext: links in its size-class free list
 *     entry       then hnext (bucket chain), lprev/lnext (LRU list),
 *                 hash (low 32 bits of SipHash(ns || key)), expires,
 *                 vlen, klen, ns, mark; then key[klen] value[vlen] and up
 *                 to 15 bytes of padding. 40 bytes of header per entry.
 *     indexed entry (mark ENTRY_MARK_IX) has, between header and key, an
 *                 ix_t: created, and per kind (sid, sub) ixnext/ixprev (its
 *                 index chain), hash, len; the sid and sub strings follow
 *                 the value. 40 more bytes plus the two strings.
 *
 * Secondary indexes (back-channel logout ends "every session of this sid",
 * or "of this sub"). Each kind has its own bucket array; an indexed entry
 * sits in one doubly-linked chain per kind, chosen by SipHash(ns, kind,
 * value). delete_indexed walks one chain: O(entries in that bucket), which
 * is the entries matched plus about one other at the load the geometry
 * gives. drop() unlinks an entry from its chains in O(1), so replace,
 * delete, take, eviction and expiry all keep the indexes exact; there are
 * no separate index records to leak or to go stale.
 *
 * Allocator. Two-level segregated fit (TLSF, Masmano et al., 2004): free
 * blocks sit in FL x SL lists by size (first level: the power of two;
 * second level: 16 equal steps inside it); two bitmaps and two find-first-
 * set instructions give the smallest non-empty list whose blocks are all
 * big enough, so allocation and free are O(1) whatever the heap holds. A
 * block is split to exactly the request, and a freed block merges at once
 * with free neighbours (boundary tags), so an entry costs its key + value
 * + 40 bytes + < 16 bytes of padding, and fragmentation stays low. Not
 * chosen: power-of-two classes (a 2.1 KB session would take 4 KB); slab
 * size classes (memory held by one class cannot follow the mix of session
 * sizes as users gain roles); fixed slots (the incumbent's 16.9 KB: waste
 * for small entries, failure for big ones); a best-fit walk (O(blocks)).
 *
 * Eviction. CLOCK over an intrusive doubly-linked list per namespace: new
 * entries and touch go to the head, gets set the entry's clock bit,
 * eviction takes from the tail after giving entries with their bit set a
 * second chance; all O(1) (bounded). Expired entries are preferred: the victim search looks at up
 * to EXPIRED_SCAN entries from the tail and takes the first expired one
 * (the tail holds the least recently used entries, the likeliest to have
 * expired; pending logins and replay markers have one fixed lifetime, so
 * their LRU order is their expiry order). There is no sweeper: an expired
 * entry is also reclaimed when a lookup walks past it in its bucket chain.
 *
 * Quotas. Each namespace may hold at most quota[ns] bytes of heap (shares
 * of the heap, default 85/10/5 % for sessions/pending logins/replay
 * markers; they sum to the heap). A put evicts only its own namespace's
 * entries (plus expired ones of others), so a flood of pending logins
 * evicts pending logins, never a live session, and sessions cannot starve
 * logins. One entry may take at most 1/CIS2_SHM_ENTRY_SHARE of its quota:
 * a bigger one would push out a large part of its namespace by itself and
 * could fail to place for fragmentation after evicting many; such a value
 * is refused up front (CIS2_E_TOO_LARGE) and the admin should grow the
 * store.
 *
 * Locking: a seqlock for reads, the global mutex for writes. Writers
 * (put, take, delete, touch, add_once, delete_indexed, and the rare
 * fallback get) hold the mutex (cis2_store.c) and make the sequence word
 * odd while they change anything (enter/leave). A get (cis2_shm_read)
 * takes no lock and writes nothing in the table: it loads the word, walks
 * the chain and copies the value out with every ref and length
 * bounds-checked, loads the word again, and keeps the result only if it
 * was even and unchanged; otherwise it tries again (READ_TRIES, waiting
 * out an odd word for up to READ_SPINS pauses), then falls back to the
 * mutex. So readers never block each other, and a reader waits for at
 * most one write. Recency is a CLOCK bit per heap unit (a separate bitmap
 * a reader may set at any time, since a stray bit is harmless) instead of
 * moving the entry to the head of its list on every read; eviction gives
 * a tail entry with its bit set a second chance (back to the head, bit
 * cleared, up to CLOCK_SCAN times per eviction). Gets do not reclaim
 * expired entries (they just miss); writers and eviction do.
 *
 * Measured (t/bench/store_bench: 100 000 sessions of 2000 bytes, random
 * gets, 2 s, 2 shared cores with a load average of ~5 from other work, so
 * the absolute numbers are noisy; the shape is what matters):
 *
 *   readers   global mutex + get     seqlock read
 *      1          409 000/s            540 000/s
 *      2          549 000/s            742 000/s
 *      4          127 000/s            798 000/s   (mutex: a preempted
 *                                                   holder stalls everyone)
 *      2 + 500 puts/s  546 000/s      1 050 000/s  (~800 retries, no
 *                                                   fallback to the lock)
 *
 * Not chosen: striped mutexes by bucket range (the TLSF heap, the LRU
 * lists and the indexes are shared by all buckets, so every writer would
 * take every stripe anyway, and readers would still pay a lock round-trip
 * and cache-line bounce per get); a process-shared pthread rwlock (readers
 * all write its counter line: it bounces between cores on every get, and
 * glibc's rwlock is not robust if a holder dies).
 */
#include <stddef.h>
#include <string.h>
#include <apr_strings.h>

#include "cis2_shm.h"
#include "cis2_util.h"
#include "cis2_log.h"

/* ---- layout constants ---------------------------------------------------- */

#define UNIT_SHIFT       4
#define UNIT             ((apr_size_t)1 << UNIT_SHIFT)
#define ALIGN64(n)       (((n) + 63) & ~(apr_size_t)63)

#define SL_LOG2          4                  /* 16 second-level lists */
#define SL_COUNT         (1u << SL_LOG2)
#define FL_COUNT         28                 /* sizes < 2^31 units */
#define BLK_FREE         0x80000000u

#define ENTRY_MARK       0xE5               /* sanity byte in every entry */
#define ENTRY_MARK_IX    0xE6               /* ... of an indexed entry */
#define SHM_VERSION      2
#define IX_KINDS         2                  /* sid, sub */
#define BYTES_PER_BUCKET 256                /* a bucket per 256 bytes of block:
                                               load <= 1 with 256-byte entries,
                                               ~4 with the smallest ones */
#define EXPIRED_SCAN     8                  /* tail entries tried for expiry */
#define CLOCK_SCAN       32                 /* second chances per eviction */
#define READ_TRIES       8                  /* optimistic reads before the
                                               lock (see cis2_shm_read) */
#define READ_SPINS       2000               /* pauses waiting for a writer
                                               (~10-100 us) before the lock */
#define READ_MAX_CHAIN   4096               /* a longer chain is a torn read */
#define FREE_LIST_SCAN   16                 /* see find_free() */
#define MAX_FRAG_EVICT   256                /* evictions a put may make for
                                               fragmentation, bounding the
                                               time the lock is held */

static const char shm_magic[8] = { 'C', 'I', 'S', '2', 'S', 'H', 'M', '\n' };

typedef apr_uint32_t ref_t;

typedef struct shm_hdr {
    /* fixed at format */
    char magic[8];
    apr_uint32_t version;
    apr_uint32_t hdr_bytes;
    apr_uint64_t size;
    apr_uint32_t nbuckets;
    ref_t bucket_ref;
    apr_uint32_t nix;
    ref_t ix_ref;
    ref_t clock_ref;                        /* clock bits, one per heap unit */
    ref_t heap_ref;
    apr_uint32_t heap_units;
    unsigned char sip_key[16];
    apr_int64_t formatted;
    apr_uint64_t quota[CIS2_SHM_NS_COUNT];
    char pad1[24];
    /* the sequence word, alone on its cache line (offset 128; the block is
     * page-aligned in httpd): readers load it twice per lookup, writers
     * bump it twice per operation. (Explicit padding, not _Alignas: the
     * unit tests' blocks are only 8-byte aligned.) */
    volatile apr_uint32_t seq;
    char pad2[60];
    /* counted by lock-free readers (atomic adds), on a line of their own
     * so they do not bounce the sequence word's line */
    apr_uint64_t hits, misses;
    char pad3[48];
    /* changed under the lock */
    apr_uint64_t ns_bytes[CIS2_SHM_NS_COUNT];
    apr_uint64_t ns_entries[CIS2_SHM_NS_COUNT];
    apr_uint64_t ns_payload[CIS2_SHM_NS_COUNT];  /* key + value bytes */
    ref_t lru_head[CIS2_SHM_NS_COUNT];
    ref_t lru_tail[CIS2_SHM_NS_COUNT];
    apr_uint64_t free_units;
    apr_uint64_t expired, evictions, puts, put_failures, lock_waits, resets,
                 read_retries, read_fallbacks;
    apr_uint32_t fl_bitmap;
    apr_uint32_t sl_bitmap[FL_COUNT];
    ref_t free_head[FL_COUNT][SL_COUNT];
} shm_hdr;

typedef struct blk_t {
    apr_uint32_t size;                      /* units | BLK_FREE */
    ref_t prev;                             /* physical predecessor */
} blk_t;

typedef struct fblk_t {
    blk_t tag;
    ref_t fprev, fnext;
} fblk_t;

typedef struct entry_t {
    blk_t tag;
    ref_t hnext;
    ref_t lprev, lnext;
    apr_uint32_t hash;
    apr_int64_t expires;
    apr_uint32_t vlen;
    apr_uint16_t klen;
    apr_byte_t ns;
    apr_byte_t mark;
    /* key[klen], value[vlen] follow */
} entry_t;

_Static_assert(offsetof(shm_hdr, seq) == 128, "seq on its own line");
_Static_assert(offsetof(shm_hdr, hits) == 192, "reader counters apart");
_Static_assert(offsetof(shm_hdr, ns_bytes) == 256, "writer fields apart");

/* After the header of an indexed entry. */
typedef struct ix_t {
    apr_int64_t created;
    struct {
        ref_t next, prev;                   /* index chain (prev 0 = head) */
        apr_uint32_t hash;                  /* SipHash(ns, kind, value) */
        apr_uint16_t len;                   /* value bytes; 0 = not indexed */
        apr_uint16_t pad;
    } k[IX_KINDS];
} ix_t;

_Static_assert(sizeof(entry_t) == 40, "entry header is 40 bytes");
_Static_assert(sizeof(ix_t) == 40, "index record is 40 bytes");
_Static_assert(sizeof(fblk_t) <= UNIT, "a free block fits in one unit");

/* The per-process handle: where this process sees the block, and copies of
 * the fixed geometry (it never changes after format). */
struct cis2_shm_t {
    char *base;
    shm_hdr *h;
    ref_t *buckets;
    apr_uint32_t mask;
    ref_t *ix_buckets[IX_KINDS];
    apr_uint32_t ix_mask;
    unsigned char *clock;                   /* bit per heap unit */
    ref_t heap_ref, heap_end;               /* heap is [heap_ref, heap_end) */
    apr_uint64_t k0, k1;                    /* SipHash key words */
    apr_size_t max_entry[CIS2_SHM_NS_COUNT];
};

typedef struct geometry_t {
    apr_size_t hdr_bytes, bucket_bytes;
    apr_uint32_t nbuckets, nix, heap_units;
    ref_t bucket_ref, ix_ref, clock_ref, heap_ref;
} geometry_t;

/* ---- SipHash-2-4 --------------------------------------------------------- */

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
    do {                                                                \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);   \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                        \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                        \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);   \
    } while (0)

static apr_uint64_t load_le64(const unsigned char *p)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static apr_uint64_t siphash24(apr_uint64_t k0, apr_uint64_t k1,
                              const unsigned char *in, apr_size_t len)
{
    apr_uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    apr_uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    apr_uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    apr_uint64_t v3 = 0x7465646279746573ULL ^ k1;
    apr_uint64_t b = (apr_uint64_t)len << 56, m;
    const unsigned char *end = in + (len & ~(apr_size_t)7);
    apr_size_t i;

    for (; in != end; in += 8) {
        m = load_le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < (len & 7); i++) {
        b |= (apr_uint64_t)in[i] << (8 * i);
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

apr_uint64_t cis2_shm_siphash24(const unsigned char key[16], const void *in,
                                apr_size_t len)
{
    return siphash24(load_le64(key), load_le64(key + 8), in, len);
}

/* The namespace is hashed with the key, so equal keys of two namespaces
 * land in unrelated buckets. Only the low 32 bits are kept: they pick the
 * bucket (at most 2^26 of them) and pre-screen key comparisons. */
static apr_uint32_t key_hash(const cis2_shm_t *shm, unsigned ns,
                             const char *key, apr_size_t klen)
{
    unsigned char buf[1 + CIS2_SHM_MAX_KEY];

    buf[0] = (unsigned char)ns;
    memcpy(buf + 1, key, klen);
    return (apr_uint32_t)siphash24(shm->k0, shm->k1, buf, klen + 1);
}

/* Index values hash with their namespace and kind: a sub and a sid that
 * happen to be equal strings land in unrelated chains. */
static apr_uint32_t ix_hash(const cis2_shm_t *shm, unsigned ns, unsigned kind,
                            const char *val, apr_size_t len)
{
    unsigned char buf[2 + CIS2_SHM_MAX_INDEX];

    buf[0] = (unsigned char)(0x80 | ns);
    buf[1] = (unsigned char)kind;
    memcpy(buf + 2, val, len);
    return (apr_uint32_t)siphash24(shm->k0, shm->k1, buf, len + 2);
}

/* ---- refs ---------------------------------------------------------------- */

static APR_INLINE void *at(const cis2_shm_t *shm, ref_t ref)
{
    return shm->base + ((apr_size_t)ref << UNIT_SHIFT);
}

static APR_INLINE blk_t *blk(const cis2_shm_t *shm, ref_t ref)
{
    return at(shm, ref);
}

static APR_INLINE fblk_t *fblk(const cis2_shm_t *shm, ref_t ref)
{
    return at(shm, ref);
}

static APR_INLINE entry_t *ent(const cis2_shm_t *shm, ref_t ref)
{
    return at(shm, ref);
}

static APR_INLINE apr_uint32_t blk_units(const blk_t *b)
{
    return b->size & ~BLK_FREE;
}

static APR_INLINE int entry_indexed(const entry_t *e)
{
    return e->mark == ENTRY_MARK_IX;
}

static APR_INLINE ix_t *entry_ix(entry_t *e)
{
    return (ix_t *)(e + 1);                 /* only if entry_indexed(e) */
}

static APR_INLINE char *entry_key(entry_t *e)
{
    return (char *)(e + 1) + (entry_indexed(e) ? sizeof(ix_t) : 0);
}

/* An indexed entry's value of index `kind` (after key and value). */
static APR_INLINE char *entry_ixval(entry_t *e, unsigned kind)
{
    ix_t *x = entry_ix(e);

    return entry_key(e) + e->klen + e->vlen + (kind == 0 ? 0 : x->k[0].len);
}

static APR_INLINE char *entry_val(entry_t *e)
{
    return entry_key(e) + e->klen;
}

/* Units for an entry; the caller has bounded klen and vlen. `extra` is 0
 * for a plain entry, sizeof(ix_t) plus the index values for an indexed one. */
static APR_INLINE apr_uint32_t entry_units(apr_size_t klen, apr_size_t vlen,
                                           apr_size_t extra)
{
    return (apr_uint32_t)((sizeof(entry_t) + extra + klen + vlen + UNIT - 1)
                          >> UNIT_SHIFT);
}

static APR_INLINE apr_size_t entry_extra(entry_t *e)
{
    if (!entry_indexed(e)) {
        return 0;
    }
    return sizeof(ix_t) + entry_ix(e)->k[0].len + entry_ix(e)->k[1].len;
}

/* ---- TLSF heap ----------------------------------------------------------- */

static APR_INLINE unsigned fls32(apr_uint32_t x)
{
    return 31u - (unsigned)__builtin_clz(x);    /* x != 0 */
}

static APR_INLINE unsigned ffs32(apr_uint32_t x)
{
    return (unsigned)__builtin_ctz(x);          /* x != 0 */
}

/* The list (fl, sl) holding blocks of `units` units. */
static void mapping(apr_uint32_t units, unsigned *fl, unsigned *sl)
{
    if (units < SL_COUNT) {
        *fl = 0;
        *sl = units;
    }
    else {
        unsigned f = fls32(units);

        *fl = f - SL_LOG2 + 1;
        *sl = (units >> (f - SL_LOG2)) - SL_COUNT;
    }
}

static void free_insert(cis2_shm_t *shm, ref_t ref)
{
    shm_hdr *h = shm->h;
    fblk_t *b = fblk(shm, ref);
    unsigned fl, sl;

    mapping(blk_units(&b->tag), &fl, &sl);
    b->fprev = 0;
    b->fnext = h->free_head[fl][sl];
    if (b->fnext != 0) {
        fblk(shm, b->fnext)->fprev = ref;
    }
    h->free_head[fl][sl] = ref;
    h->fl_bitmap |= 1u << fl;
    h->sl_bitmap[fl] |= 1u << sl;
}

static void free_remove(cis2_shm_t *shm, ref_t ref)
{
    shm_hdr *h = shm->h;
    fblk_t *b = fblk(shm, ref);
    unsigned fl, sl;

    mapping(blk_units(&b->tag), &fl, &sl);
    if (b->fprev != 0) {
        fblk(shm, b->fprev)->fnext = b->fnext;
    }
    else {
        h->free_head[fl][sl] = b->fnext;
    }
    if (b->fnext != 0) {
        fblk(shm, b->fnext)->fprev = b->fprev;
    }
    if (h->free_head[fl][sl] == 0) {
        h->sl_bitmap[fl] &= ~(1u << sl);
        if (h->sl_bitmap[fl] == 0) {
            h->fl_bitmap &= ~(1u << fl);
        }
    }
}

/* A free block of at least `units` units, or 0. Good fit: the request is
 * rounded up to the next list boundary so that every block of the first
 * non-empty list at or above it is big enough (two bitmap look-ups). That
 * misses a block of the request's own list that happens to be big enough;
 * a short walk of that list catches it when the heap is nearly full. */
static ref_t find_free(const cis2_shm_t *shm, apr_uint32_t units)
{
    const shm_hdr *h = shm->h;
    apr_uint32_t rounded = units, map;
    unsigned fl, sl;
    ref_t ref;
    int n;

    if (rounded >= SL_COUNT) {
        rounded += (1u << (fls32(rounded) - SL_LOG2)) - 1;
    }
    mapping(rounded, &fl, &sl);
    if (fl < FL_COUNT) {
        map = h->sl_bitmap[fl] & (~0u << sl);
        if (map == 0) {
            map = h->fl_bitmap & (~0u << (fl + 1));
            if (map != 0) {
                fl = ffs32(map);
                map = h->sl_bitmap[fl];
            }
        }
        if (map != 0) {
            return h->free_head[fl][ffs32(map)];
        }
    }
    mapping(units, &fl, &sl);
    for (ref = h->free_head[fl][sl], n = 0; ref != 0 && n < FREE_LIST_SCAN;
         ref = fblk(shm, ref)->fnext, n++) {
        if (blk_units(blk(shm, ref)) >= units) {
            return ref;
        }
    }
    return 0;
}

/* Allocate exactly `units` units (splitting a bigger block); 0 if no free
 * block is big enough. */
static ref_t heap_alloc(cis2_shm_t *shm, apr_uint32_t units)
{
    ref_t ref = find_free(shm, units), rest, next;
    blk_t *b;
    apr_uint32_t size;

    if (ref == 0) {
        return 0;
    }
    b = blk(shm, ref);
    size = blk_units(b);
    free_remove(shm, ref);
    if (size > units) {
        blk_t *rb;

        rest = ref + units;
        rb = blk(shm, rest);
        rb->size = (size - units) | BLK_FREE;
        rb->prev = ref;
        next = rest + (size - units);
        if (next < shm->heap_end) {
            blk(shm, next)->prev = rest;
        }
        /* The block after a free block is never free (frees coalesce), so
         * the remainder needs no merge. */
        free_insert(shm, rest);
    }
    b->size = units;
    shm->h->free_units -= units;
    return ref;
}

/* Free a block, merging it with free neighbours. */
static void heap_free(cis2_shm_t *shm, ref_t ref)
{
    blk_t *b = blk(shm, ref), *nb;
    apr_uint32_t size = blk_units(b);
    ref_t next = ref + size;

    shm->h->free_units += size;
    if (next < shm->heap_end) {
        nb = blk(shm, next);
        if (nb->size & BLK_FREE) {
            free_remove(shm, next);
            size += blk_units(nb);
        }
    }
    if (b->prev != 0 && (blk(shm, b->prev)->size & BLK_FREE)) {
        ref = b->prev;
        b = blk(shm, ref);
        free_remove(shm, ref);
        size += blk_units(b);
    }
    b->size = size | BLK_FREE;
    next = ref + size;
    if (next < shm->heap_end) {
        blk(shm, next)->prev = ref;
    }
    free_insert(shm, ref);
}

/* ---- LRU lists ----------------------------------------------------------- */

static void lru_unlink(cis2_shm_t *shm, entry_t *e)
{
    shm_hdr *h = shm->h;

    if (e->lprev != 0) {
        ent(shm, e->lprev)->lnext = e->lnext;
    }
    else {
        h->lru_head[e->ns] = e->lnext;
    }
    if (e->lnext != 0) {
        ent(shm, e->lnext)->lprev = e->lprev;
    }
    else {
        h->lru_tail[e->ns] = e->lprev;
    }
    e->lprev = e->lnext = 0;
}

static void lru_push(cis2_shm_t *shm, ref_t ref, entry_t *e)
{
    shm_hdr *h = shm->h;

    e->lprev = 0;
    e->lnext = h->lru_head[e->ns];
    if (e->lnext != 0) {
        ent(shm, e->lnext)->lprev = ref;
    }
    else {
        h->lru_tail[e->ns] = ref;
    }
    h->lru_head[e->ns] = ref;
}

static void lru_bump(cis2_shm_t *shm, ref_t ref, entry_t *e)
{
    if (shm->h->lru_head[e->ns] != ref) {
        lru_unlink(shm, e);
        lru_push(shm, ref, e);
    }
}

/* ---- clock bits ---------------------------------------------------------- */

/* A bit per heap unit, set by a reader that found the entry starting at
 * that unit (lock-free readers never touch the entries themselves: a bit
 * set for a block that was just freed or reused is harmless, a write into
 * it would not be). Eviction gives an entry whose bit is set a second
 * chance (CLOCK): it goes back to the head of its list, bit cleared. */
static APR_INLINE void clock_set(cis2_shm_t *shm, ref_t ref)
{
    apr_uint32_t i = ref - shm->heap_ref;
    unsigned char bit = (unsigned char)(1u << (i & 7));

    if ((__atomic_load_n(&shm->clock[i >> 3], __ATOMIC_RELAXED) & bit) == 0) {
        __atomic_fetch_or(&shm->clock[i >> 3], bit, __ATOMIC_RELAXED);
    }
}

static APR_INLINE int clock_test_clear(cis2_shm_t *shm, ref_t ref)
{
    apr_uint32_t i = ref - shm->heap_ref;
    unsigned char bit = (unsigned char)(1u << (i & 7));

    if ((__atomic_load_n(&shm->clock[i >> 3], __ATOMIC_RELAXED) & bit) == 0) {
        return 0;
    }
    __atomic_fetch_and(&shm->clock[i >> 3], (unsigned char)~bit,
                       __ATOMIC_RELAXED);
    return 1;
}

/* ---- secondary indexes --------------------------------------------------- */

static void ix_link(cis2_shm_t *shm, ref_t ref, entry_t *e)
{
    ix_t *x = entry_ix(e);
    unsigned kind;

    for (kind = 0; kind < IX_KINDS; kind++) {
        ref_t *head;

        if (x->k[kind].len == 0) {
            continue;
        }
        head = &shm->ix_buckets[kind][x->k[kind].hash & shm->ix_mask];
        x->k[kind].prev = 0;
        x->k[kind].next = *head;
        if (*head != 0) {
            entry_ix(ent(shm, *head))->k[kind].prev = ref;
        }
        *head = ref;
    }
}

static void ix_unlink(cis2_shm_t *shm, entry_t *e)
{
    ix_t *x = entry_ix(e);
    unsigned kind;

    for (kind = 0; kind < IX_KINDS; kind++) {
        if (x->k[kind].len == 0) {
            continue;
        }
        if (x->k[kind].prev != 0) {
            entry_ix(ent(shm, x->k[kind].prev))->k[kind].next
                = x->k[kind].next;
        }
        else {
            shm->ix_buckets[kind][x->k[kind].hash & shm->ix_mask]
                = x->k[kind].next;
        }
        if (x->k[kind].next != 0) {
            entry_ix(ent(shm, x->k[kind].next))->k[kind].prev
                = x->k[kind].prev;
        }
        x->k[kind].prev = x->k[kind].next = 0;
    }
}

/* ---- entries ------------------------------------------------------------- */

/* Remove the entry `ref`, which *link points to (a bucket or the hnext of
 * the entry before it in the chain). Its bytes are wiped before the block
 * is freed: session contents must not linger in free memory. */
static void drop(cis2_shm_t *shm, ref_t *link, ref_t ref)
{
    shm_hdr *h = shm->h;
    entry_t *e = ent(shm, ref);
    apr_uint32_t units = blk_units(&e->tag);

    *link = e->hnext;
    lru_unlink(shm, e);
    if (entry_indexed(e)) {
        ix_unlink(shm, e);
    }
    h->ns_bytes[e->ns] -= (apr_uint64_t)units << UNIT_SHIFT;
    h->ns_entries[e->ns]--;
    h->ns_payload[e->ns] -= (apr_uint64_t)e->klen + e->vlen;
    memset((char *)e + sizeof(blk_t), 0,
           ((apr_size_t)units << UNIT_SHIFT) - sizeof(blk_t));
    heap_free(shm, ref);
}

/* The link that points to `ref` (for an entry found through its LRU list). */
static ref_t *link_of(cis2_shm_t *shm, ref_t ref)
{
    ref_t *link = &shm->buckets[ent(shm, ref)->hash & shm->mask];

    while (*link != ref) {
        link = &ent(shm, *link)->hnext;
    }
    return link;
}

/* Find a live (ns, key). With now != 0, expired entries met on the way,
 * of any namespace, are reclaimed. *plink (may be NULL) gets the link to
 * the entry found. */
static ref_t find(cis2_shm_t *shm, unsigned ns, const char *key,
                  apr_size_t klen, apr_uint32_t hash, apr_time_t now,
                  ref_t **plink)
{
    ref_t *link = &shm->buckets[hash & shm->mask];
    ref_t ref;

    while ((ref = *link) != 0) {
        entry_t *e = ent(shm, ref);

        if (now != 0 && e->expires <= now) {
            drop(shm, link, ref);
            shm->h->expired++;
            continue;
        }
        if (e->hash == hash && e->ns == ns && e->klen == klen
            && memcmp(entry_key(e), key, klen) == 0) {
            if (plink != NULL) {
                *plink = link;
            }
            return ref;
        }
        link = &e->hnext;
    }
    return 0;
}

/* An expired entry of `ns` among the EXPIRED_SCAN least recently used, or
 * 0. */
static ref_t pick_expired(const cis2_shm_t *shm, unsigned ns, apr_time_t now)
{
    ref_t ref = shm->h->lru_tail[ns];
    int n;

    for (n = 0; ref != 0 && n < EXPIRED_SCAN; n++) {
        entry_t *e = ent(shm, ref);

        if (e->expires <= now) {
            return ref;
        }
        ref = e->lprev;
    }
    return 0;
}

/* The entry of `ns` to evict: an expired one near the tail if there is
 * one; else the tail after up to CLOCK_SCAN second chances (a tail entry
 * read since it was last looked at goes back to the head); 0 if the
 * namespace is empty. */
static ref_t pick_victim(cis2_shm_t *shm, unsigned ns, apr_time_t now,
                         int *pexpired)
{
    ref_t ref = pick_expired(shm, ns, now);
    int n;

    *pexpired = ref != 0;
    if (ref != 0) {
        return ref;
    }
    for (n = 0; n < CLOCK_SCAN; n++) {
        ref = shm->h->lru_tail[ns];
        if (ref == 0 || !clock_test_clear(shm, ref)) {
            break;
        }
        lru_bump(shm, ref, ent(shm, ref));
    }
    return shm->h->lru_tail[ns];
}

/* An expired entry near the LRU tail of a namespace other than `ns`, or 0. */
static ref_t pick_expired_elsewhere(const cis2_shm_t *shm, unsigned ns,
                                    apr_time_t now)
{
    unsigned other;

    for (other = 0; other < CIS2_SHM_NS_COUNT; other++) {
        ref_t ref;

        if (other != ns && (ref = pick_expired(shm, other, now)) != 0) {
            return ref;
        }
    }
    return 0;
}

static void evict(cis2_shm_t *shm, ref_t ref, int expired)
{
    drop(shm, link_of(shm, ref), ref);
    if (expired) {
        shm->h->expired++;
    }
    else {
        shm->h->evictions++;
    }
}

/* ---- recovery ------------------------------------------------------------ */

static void heap_init(cis2_shm_t *shm)
{
    shm_hdr *h = shm->h;
    blk_t *b = blk(shm, shm->heap_ref);

    h->fl_bitmap = 0;
    memset(h->sl_bitmap, 0, sizeof(h->sl_bitmap));
    memset(h->free_head, 0, sizeof(h->free_head));
    b->size = h->heap_units | BLK_FREE;
    b->prev = 0;
    free_insert(shm, shm->heap_ref);
    h->free_units = h->heap_units;
}

/* Empty the table, keeping geometry, secret and counters. */
static void reinit(cis2_shm_t *shm)
{
    shm_hdr *h = shm->h;

    memset(shm->buckets, 0, (apr_size_t)h->nbuckets * sizeof(ref_t));
    memset(shm->ix_buckets[0], 0,
           (apr_size_t)h->nix * IX_KINDS * sizeof(ref_t));
    memset(shm->clock, 0, ((apr_size_t)h->heap_units + 7) / 8);
    memset(h->ns_bytes, 0, sizeof(h->ns_bytes));
    memset(h->ns_entries, 0, sizeof(h->ns_entries));
    memset(h->ns_payload, 0, sizeof(h->ns_payload));
    memset(h->lru_head, 0, sizeof(h->lru_head));
    memset(h->lru_tail, 0, sizeof(h->lru_tail));
    heap_init(shm);
}

/* Every operation runs between enter() and leave(), which make the
 * sequence word odd, then even again (a seqlock: cis2_shm_read retries if
 * it changed under it). The fences keep the compiler and CPU from moving
 * table writes outside that window, so a process that dies inside it
 * always leaves the word odd: the next lock holder finds it so and
 * empties the table rather than trust it. */
static void enter(cis2_shm_t *shm)
{
    shm_hdr *h = shm->h;
    apr_uint32_t seq = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);

    if (seq & 1) {
        cis2_log(CIS2_LOG_MARK, CIS2_LOG_ERR, 0, NULL,
                 "session store: a process died while changing the table; "
                 "emptying it (all sessions are lost, users sign in again)");
        reinit(shm);
        h->resets++;
    }
    else {
        __atomic_store_n(&h->seq, seq + 1, __ATOMIC_RELAXED);
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void leave(cis2_shm_t *shm)
{
    shm_hdr *h = shm->h;

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&h->seq, __atomic_load_n(&h->seq, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELEASE);
}

/* ---- format and attach --------------------------------------------------- */

static void compute_geometry(geometry_t *g, apr_uint64_t size)
{
    apr_uint64_t nb = 16, clock_bytes;

    g->hdr_bytes = ALIGN64(sizeof(shm_hdr));
    while (nb * 2 * BYTES_PER_BUCKET <= size) {
        nb *= 2;
    }
    g->nbuckets = (apr_uint32_t)nb;
    /* Index chains: only sessions are indexed, and a session is several
     * times the smallest entry, so half as many index buckets per kind. */
    g->nix = (apr_uint32_t)(nb >= 32 ? nb / 2 : 16);
    g->bucket_bytes = ALIGN64((apr_size_t)nb * sizeof(ref_t))
                      + ALIGN64((apr_size_t)g->nix * IX_KINDS * sizeof(ref_t));
    g->bucket_ref = (ref_t)(g->hdr_bytes >> UNIT_SHIFT);
    g->ix_ref = (ref_t)((g->hdr_bytes + ALIGN64((apr_size_t)nb
                                                * sizeof(ref_t)))
                        >> UNIT_SHIFT);
    g->clock_ref = (ref_t)((g->hdr_bytes + g->bucket_bytes) >> UNIT_SHIFT);
    /* a clock bit per 16-byte unit of what is left: 1/128 of it */
    clock_bytes = ALIGN64((size - g->hdr_bytes - g->bucket_bytes) / 128 + 1);
    g->heap_ref = (ref_t)((g->hdr_bytes + g->bucket_bytes + clock_bytes)
                          >> UNIT_SHIFT);
    g->heap_units = (apr_uint32_t)((size >> UNIT_SHIFT) - g->heap_ref);
}

static apr_status_t check_block(void *base, apr_size_t size,
                                const cis2_err_t **perr, apr_pool_t *p)
{
    if (base == NULL || ((apr_uintptr_t)base & 7) != 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "store block not 8-byte aligned");
    }
    if (size < CIS2_SHM_MIN_SIZE || (apr_uint64_t)size > CIS2_SHM_MAX_SIZE) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "store size %" APR_SIZE_T_FMT " outside %"
                            APR_SIZE_T_FMT " bytes .. 16 GiB",
                            size, CIS2_SHM_MIN_SIZE);
    }
    return APR_SUCCESS;
}

/* Fill the per-process handle from a header already known to be valid. */
static cis2_shm_t *make_handle(void *base, apr_pool_t *p)
{
    cis2_shm_t *shm = apr_pcalloc(p, sizeof(*shm));
    shm_hdr *h = base;
    unsigned ns;

    shm->base = base;
    shm->h = h;
    shm->buckets = at(shm, h->bucket_ref);
    shm->mask = h->nbuckets - 1;
    shm->ix_buckets[0] = at(shm, h->ix_ref);
    shm->ix_buckets[1] = shm->ix_buckets[0] + h->nix;
    shm->ix_mask = h->nix - 1;
    shm->clock = at(shm, h->clock_ref);
    shm->heap_ref = h->heap_ref;
    shm->heap_end = h->heap_ref + h->heap_units;
    shm->k0 = load_le64(h->sip_key);
    shm->k1 = load_le64(h->sip_key + 8);
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        shm->max_entry[ns] = (apr_size_t)(h->quota[ns] / CIS2_SHM_ENTRY_SHARE)
                             & ~(UNIT - 1);
    }
    return shm;
}

apr_status_t cis2_shm_format(cis2_shm_t **pshm, void *base, apr_size_t size,
                             const unsigned *shares,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    static const unsigned default_shares[CIS2_SHM_NS_COUNT] = {
        CIS2_SHM_SHARE_SESSION, CIS2_SHM_SHARE_PENDING, CIS2_SHM_SHARE_REPLAY
    };
    shm_hdr *h = base;
    geometry_t g;
    cis2_shm_t *shm;
    apr_uint64_t heap_bytes;
    unsigned ns, total = 0;
    apr_status_t rv;

    if ((rv = check_block(base, size, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    if (shares == NULL) {
        shares = default_shares;
    }
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        if (shares[ns] < 1 || shares[ns] > 100) {
            return cis2_err_set(perr, p, CIS2_E_INVALID,
                                "store share %u%% out of range", shares[ns]);
        }
        total += shares[ns];
    }
    if (total != 100) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "store shares sum to %u%%, not 100%%", total);
    }
    compute_geometry(&g, size);

    /* Until the magic is written last, an attach sees no valid block. */
    memset(h, 0, g.hdr_bytes);
    if (cis2_random_bytes(h->sip_key, sizeof(h->sip_key)) != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO,
                            "no randomness for the store's hash secret");
    }
    h->version = SHM_VERSION;
    h->hdr_bytes = (apr_uint32_t)sizeof(shm_hdr);
    h->size = size;
    h->nbuckets = g.nbuckets;
    h->bucket_ref = g.bucket_ref;
    h->nix = g.nix;
    h->ix_ref = g.ix_ref;
    h->clock_ref = g.clock_ref;
    h->heap_ref = g.heap_ref;
    h->heap_units = g.heap_units;
    h->formatted = apr_time_now();
    heap_bytes = (apr_uint64_t)g.heap_units << UNIT_SHIFT;
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        h->quota[ns] = (heap_bytes * shares[ns] / 100)
                       & ~(apr_uint64_t)(UNIT - 1);
    }
    shm = make_handle(base, p);
    reinit(shm);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(h->magic, shm_magic, sizeof(shm_magic));
    *pshm = shm;
    return APR_SUCCESS;
}

apr_status_t cis2_shm_attach(cis2_shm_t **pshm, void *base, apr_size_t size,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    const shm_hdr *h = base;
    geometry_t g;
    apr_uint64_t heap_bytes, total = 0;
    unsigned ns;
    apr_status_t rv;

    if ((rv = check_block(base, size, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    if (memcmp(h->magic, shm_magic, sizeof(shm_magic)) != 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "no session store in this block (bad magic)");
    }
    if (h->version != SHM_VERSION || h->hdr_bytes != sizeof(shm_hdr)) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "session store layout version %u, expected %u",
                            (unsigned)h->version, SHM_VERSION);
    }
    compute_geometry(&g, size);
    if (h->size != size || h->nbuckets != g.nbuckets
        || h->bucket_ref != g.bucket_ref || h->nix != g.nix
        || h->ix_ref != g.ix_ref || h->clock_ref != g.clock_ref
        || h->heap_ref != g.heap_ref
        || h->heap_units != g.heap_units) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "session store geometry does not match a block "
                            "of %" APR_SIZE_T_FMT " bytes", size);
    }
    heap_bytes = (apr_uint64_t)g.heap_units << UNIT_SHIFT;
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        total += h->quota[ns];
    }
    if (total > heap_bytes) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "session store quotas exceed its heap");
    }
    *pshm = make_handle(base, p);
    return APR_SUCCESS;
}

void cis2_shm_get_geometry(const cis2_shm_t *shm, cis2_shm_geometry_t *geo)
{
    const shm_hdr *h = shm->h;
    unsigned ns;

    memset(geo, 0, sizeof(*geo));
    geo->version = h->version;
    geo->size = (apr_size_t)h->size;
    geo->header_bytes = (apr_size_t)h->bucket_ref << UNIT_SHIFT;
    geo->nbuckets = h->nbuckets;
    geo->nix_buckets = h->nix;
    geo->bucket_bytes = ((apr_size_t)(h->heap_ref - h->bucket_ref))
                        << UNIT_SHIFT;
    geo->heap_bytes = (apr_size_t)h->heap_units << UNIT_SHIFT;
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        geo->quota[ns] = (apr_size_t)h->quota[ns];
        geo->max_entry[ns] = shm->max_entry[ns];
    }
    geo->formatted = h->formatted;
}

/* ---- operations ---------------------------------------------------------- */

static apr_status_t check_args(unsigned ns, const char *key, apr_size_t klen,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    if (ns >= CIS2_SHM_NS_COUNT) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no store namespace %u",
                            ns);
    }
    if (key == NULL || klen == 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "empty store key");
    }
    if (klen > CIS2_SHM_MAX_KEY) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "store key of %" APR_SIZE_T_FMT " bytes", klen);
    }
    return APR_SUCCESS;
}

static void copy_out(entry_t *e, const char **pval, apr_size_t *plen,
                     apr_pool_t *p)
{
    char *v = apr_palloc(p, (apr_size_t)e->vlen + 1);

    memcpy(v, entry_val(e), e->vlen);
    v[e->vlen] = '\0';
    *pval = v;
    if (plen != NULL) {
        *plen = e->vlen;
    }
}

apr_status_t cis2_shm_get(cis2_shm_t *shm, unsigned ns,
                          const char *key, apr_size_t klen, apr_time_t now,
                          const char **pval, apr_size_t *plen,
                          apr_time_t *pexpires,
                          const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    ref_t ref;
    entry_t *e;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    enter(shm);
    ref = find(shm, ns, key, klen, key_hash(shm, ns, key, klen), now, NULL);
    if (ref == 0) {
        __atomic_fetch_add(&shm->h->misses, 1, __ATOMIC_RELAXED);
        leave(shm);
        return cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
    }
    e = ent(shm, ref);
    copy_out(e, pval, plen, p);
    if (pexpires != NULL) {
        *pexpires = e->expires;
    }
    clock_set(shm, ref);
    __atomic_fetch_add(&shm->h->hits, 1, __ATOMIC_RELAXED);
    leave(shm);
    return APR_SUCCESS;
}

/* ---- the lock-free read path --------------------------------------------- */

#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static APR_INLINE void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* One optimistic lookup, racing with writers: every ref and length read is
 * checked before it is followed, so a torn view can only give a wrong
 * answer, which the sequence check then throws away — never a read outside
 * the block or an endless walk. 1: found, value copied into p; 0: not
 * there (or expired); -1: what was read cannot be a consistent table. */
static int read_pass(cis2_shm_t *shm, unsigned ns, const char *key,
                     apr_size_t klen, apr_uint32_t hash, apr_time_t now,
                     const char **pval, apr_size_t *plen,
                     apr_time_t *pexpires, ref_t *pref, apr_pool_t *p)
{
    ref_t ref = RD(shm->buckets[hash & shm->mask]);
    unsigned steps = 0;

    while (ref != 0) {
        entry_t *e;
        apr_size_t extra = 0;
        apr_uint32_t vlen;
        const char *k;
        char *v;
        apr_time_t expires;

        if (ref < shm->heap_ref || ref >= shm->heap_end
            || shm->heap_end - ref < 3 || ++steps > READ_MAX_CHAIN) {
            return -1;
        }
        e = ent(shm, ref);
        if (RD(e->hash) != hash || RD(e->ns) != ns || RD(e->klen) != klen) {
            ref = RD(e->hnext);
            continue;
        }
        if (RD(e->mark) == ENTRY_MARK_IX) {
            if (shm->heap_end - ref < 6) {
                return -1;
            }
            extra = sizeof(ix_t) + RD(entry_ix(e)->k[0].len)
                    + RD(entry_ix(e)->k[1].len);
        }
        else if (RD(e->mark) != ENTRY_MARK) {
            return -1;
        }
        vlen = RD(e->vlen);
        if (vlen > shm->max_entry[ns]
            || entry_units(klen, vlen, extra) > shm->heap_end - ref) {
            return -1;
        }
        k = (const char *)(e + 1) + (extra > 0 ? sizeof(ix_t) : 0);
        if (memcmp(k, key, klen) != 0) {
            ref = RD(e->hnext);
            continue;
        }
        expires = RD(e->expires);
        if (expires <= now) {
            return 0;
        }
        v = apr_palloc(p, (apr_size_t)vlen + 1);
        memcpy(v, k + klen, vlen);
        v[vlen] = '\0';
        *pval = v;
        *plen = vlen;
        *pexpires = expires;
        *pref = ref;
        return 1;
    }
    return 0;
}

apr_status_t cis2_shm_read(cis2_shm_t *shm, unsigned ns,
                           const char *key, apr_size_t klen, apr_time_t now,
                           const char **pval, apr_size_t *plen,
                           apr_time_t *pexpires,
                           const cis2_err_t **perr, apr_pool_t *p)
{
    shm_hdr *h = shm->h;
    apr_uint32_t hash, s1, s2;
    const char *val = NULL;
    apr_size_t len = 0;
    apr_time_t expires = 0;
    ref_t ref = 0;
    apr_status_t rv;
    int tries, spins, found;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    hash = key_hash(shm, ns, key, klen);
    for (tries = 0, spins = 0; tries < READ_TRIES; ) {
        s1 = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            /* a write in progress: wait a little for it (a put is a few
             * microseconds), then let the lock do the waiting */
            if (++spins > READ_SPINS) {
                break;
            }
            cpu_relax();
            continue;
        }
        tries++;
        found = read_pass(shm, ns, key, klen, hash, now, &val, &len,
                          &expires, &ref, p);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);
        if (s1 != s2 || found < 0) {
            __atomic_fetch_add(&h->read_retries, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (found == 0) {
            __atomic_fetch_add(&h->misses, 1, __ATOMIC_RELAXED);
            return cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
        }
        clock_set(shm, ref);
        __atomic_fetch_add(&h->hits, 1, __ATOMIC_RELAXED);
        *pval = val;
        if (plen != NULL) {
            *plen = len;
        }
        if (pexpires != NULL) {
            *pexpires = expires;
        }
        return APR_SUCCESS;
    }
    __atomic_fetch_add(&h->read_fallbacks, 1, __ATOMIC_RELAXED);
    return APR_EAGAIN;
}

apr_status_t cis2_shm_take(cis2_shm_t *shm, unsigned ns,
                           const char *key, apr_size_t klen, apr_time_t now,
                           const char **pval, apr_size_t *plen,
                           const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    ref_t ref, *link;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    enter(shm);
    ref = find(shm, ns, key, klen, key_hash(shm, ns, key, klen), now, &link);
    if (ref == 0) {
        __atomic_fetch_add(&shm->h->misses, 1, __ATOMIC_RELAXED);
        leave(shm);
        return cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
    }
    copy_out(ent(shm, ref), pval, plen, p);
    drop(shm, link, ref);
    __atomic_fetch_add(&shm->h->hits, 1, __ATOMIC_RELAXED);
    leave(shm);
    return APR_SUCCESS;
}

/* What an indexed put asks for (NULL or all-zero: a plain entry). */
typedef struct ixreq_t {
    const char *val[IX_KINDS];
    apr_size_t len[IX_KINDS];
    apr_time_t created;
} ixreq_t;

static apr_size_t ixreq_extra(const ixreq_t *ix)
{
    if (ix == NULL || (ix->len[0] == 0 && ix->len[1] == 0)) {
        return 0;
    }
    return sizeof(ix_t) + ix->len[0] + ix->len[1];
}

/* The body of put and add_once: enter() done, arguments and size checked. */
static apr_status_t put_locked(cis2_shm_t *shm, unsigned ns,
                               const char *key, apr_size_t klen,
                               apr_uint32_t hash,
                               const void *val, apr_size_t vlen,
                               apr_time_t expires, apr_time_t now,
                               const ixreq_t *ix,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    shm_hdr *h = shm->h;
    apr_size_t extra = ixreq_extra(ix);
    apr_uint32_t units = entry_units(klen, vlen, extra);
    apr_uint64_t bytes = (apr_uint64_t)units << UNIT_SHIFT;
    ref_t ref, *link, *head;
    entry_t *e;
    int expired, evicted = 0;

    /* Replace: the old entry goes first, so its room can be reused (drop()
     * takes it out of its index chains too). */
    ref = find(shm, ns, key, klen, hash, now, &link);
    if (ref != 0) {
        drop(shm, link, ref);
    }
    /* Quota: evict from this namespace only (bytes <= quota / 8, so this
     * ends with room while entries remain). */
    while (h->ns_bytes[ns] + bytes > h->quota[ns]
           && (ref = pick_victim(shm, ns, now, &expired)) != 0) {
        evict(shm, ref, expired);
    }
    /* Fragmentation: the quota has room but no free block is big enough.
     * Freeing our own LRU entries merges holes; others' live entries stay. */
    while ((ref = heap_alloc(shm, units)) == 0) {
        ref_t victim = pick_victim(shm, ns, now, &expired);

        if (victim == 0) {
            victim = pick_expired_elsewhere(shm, ns, now);
            expired = 1;
        }
        if (victim == 0 || evicted++ >= MAX_FRAG_EVICT) {
            h->put_failures++;
            return cis2_err_set(perr, p, CIS2_E_STORE_FULL,
                                "no room for a store entry of %"
                                APR_UINT64_T_FMT " bytes", bytes);
        }
        evict(shm, victim, expired);
    }
    clock_test_clear(shm, ref);
    e = ent(shm, ref);
    e->hash = hash;
    e->expires = expires;
    e->vlen = (apr_uint32_t)vlen;
    e->klen = (apr_uint16_t)klen;
    e->ns = (apr_byte_t)ns;
    e->mark = extra > 0 ? ENTRY_MARK_IX : ENTRY_MARK;
    if (extra > 0) {
        ix_t *x = entry_ix(e);
        unsigned kind;

        memset(x, 0, sizeof(*x));
        x->created = ix->created;
        for (kind = 0; kind < IX_KINDS; kind++) {
            x->k[kind].len = (apr_uint16_t)ix->len[kind];
            if (ix->len[kind] > 0) {
                x->k[kind].hash = ix_hash(shm, ns, kind, ix->val[kind],
                                          ix->len[kind]);
            }
        }
    }
    memcpy(entry_key(e), key, klen);
    if (vlen > 0) {
        memcpy(entry_val(e), val, vlen);
    }
    if (extra > 0) {
        unsigned kind;

        for (kind = 0; kind < IX_KINDS; kind++) {
            if (ix->len[kind] > 0) {
                memcpy(entry_ixval(e, kind), ix->val[kind], ix->len[kind]);
            }
        }
        ix_link(shm, ref, e);
    }
    head = &shm->buckets[hash & shm->mask];
    e->hnext = *head;
    *head = ref;
    lru_push(shm, ref, e);
    h->ns_bytes[ns] += bytes;
    h->ns_entries[ns]++;
    h->ns_payload[ns] += (apr_uint64_t)klen + vlen;
    h->puts++;
    return APR_SUCCESS;
}

static apr_status_t check_size(cis2_shm_t *shm, unsigned ns, apr_size_t klen,
                               apr_size_t vlen, apr_size_t extra,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    /* vlen is compared alone first, so the sum below cannot overflow. */
    if (vlen > shm->max_entry[ns]
        || ((apr_size_t)entry_units(klen, vlen, extra) << UNIT_SHIFT)
           > shm->max_entry[ns]) {
        shm->h->put_failures++;
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "store value of %" APR_SIZE_T_FMT " bytes is over "
                            "the %" APR_SIZE_T_FMT "-byte limit of its "
                            "namespace", vlen, shm->max_entry[ns]);
    }
    return APR_SUCCESS;
}

apr_status_t cis2_shm_put(cis2_shm_t *shm, unsigned ns,
                          const char *key, apr_size_t klen,
                          const void *val, apr_size_t vlen,
                          apr_time_t expires, apr_time_t now,
                          const cis2_err_t **perr, apr_pool_t *p)
{
    return cis2_shm_put_indexed(shm, ns, key, klen, val, vlen, expires, now,
                                NULL, NULL, 0, perr, p);
}

apr_status_t cis2_shm_put_indexed(cis2_shm_t *shm, unsigned ns,
                                  const char *key, apr_size_t klen,
                                  const void *val, apr_size_t vlen,
                                  apr_time_t expires, apr_time_t now,
                                  const char *sid, const char *sub,
                                  apr_time_t created,
                                  const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    ixreq_t ix;
    unsigned kind;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    if (val == NULL && vlen > 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no store value");
    }
    ix.val[CIS2_SHM_IX_SID] = sid;
    ix.val[CIS2_SHM_IX_SUB] = sub;
    ix.created = created;
    for (kind = 0; kind < IX_KINDS; kind++) {
        ix.len[kind] = ix.val[kind] != NULL ? strlen(ix.val[kind]) : 0;
        if (ix.len[kind] > CIS2_SHM_MAX_INDEX) {
            return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                                "store index value of %" APR_SIZE_T_FMT
                                " bytes", ix.len[kind]);
        }
    }
    enter(shm);
    rv = check_size(shm, ns, klen, vlen, ixreq_extra(&ix), perr, p);
    if (rv == APR_SUCCESS) {
        rv = put_locked(shm, ns, key, klen, key_hash(shm, ns, key, klen),
                        val, vlen, expires, now, &ix, perr, p);
    }
    leave(shm);
    return rv;
}

apr_status_t cis2_shm_delete_indexed(cis2_shm_t *shm, unsigned ns,
                                     unsigned kind, const char *value,
                                     apr_size_t len, apr_time_t not_after,
                                     apr_time_t now, int *pcount,
                                     const cis2_err_t **perr, apr_pool_t *p)
{
    apr_uint32_t hash;
    ref_t ref, next;
    int count = 0;

    if (pcount != NULL) {
        *pcount = 0;
    }
    if (ns >= CIS2_SHM_NS_COUNT || kind >= IX_KINDS) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "no store namespace %u or index %u", ns, kind);
    }
    if (value == NULL || len == 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "empty index value");
    }
    if (len > CIS2_SHM_MAX_INDEX) {
        return APR_SUCCESS;             /* nothing can be indexed under it */
    }
    enter(shm);
    hash = ix_hash(shm, ns, kind, value, len);
    for (ref = shm->ix_buckets[kind][hash & shm->ix_mask]; ref != 0;
         ref = next) {
        entry_t *e = ent(shm, ref);
        ix_t *x = entry_ix(e);

        next = x->k[kind].next;
        if (x->k[kind].hash != hash || e->ns != ns || x->k[kind].len != len
            || memcmp(entry_ixval(e, kind), value, len) != 0) {
            continue;
        }
        if (now != 0 && e->expires <= now) {
            drop(shm, link_of(shm, ref), ref);  /* reclaimed, not counted */
            shm->h->expired++;
        }
        else if (x->created <= not_after) {
            drop(shm, link_of(shm, ref), ref);
            count++;
        }
    }
    leave(shm);
    if (pcount != NULL) {
        *pcount = count;
    }
    return APR_SUCCESS;
}

apr_status_t cis2_shm_delete(cis2_shm_t *shm, unsigned ns,
                             const char *key, apr_size_t klen, int *pfound,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    ref_t ref, *link;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    enter(shm);
    ref = find(shm, ns, key, klen, key_hash(shm, ns, key, klen), 0, &link);
    if (ref != 0) {
        drop(shm, link, ref);
    }
    leave(shm);
    if (pfound != NULL) {
        *pfound = ref != 0;
    }
    return APR_SUCCESS;
}

apr_status_t cis2_shm_touch(cis2_shm_t *shm, unsigned ns,
                            const char *key, apr_size_t klen, apr_time_t now,
                            apr_time_t expires,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    ref_t ref;
    entry_t *e;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    enter(shm);
    ref = find(shm, ns, key, klen, key_hash(shm, ns, key, klen), now, NULL);
    if (ref == 0) {
        leave(shm);
        return cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
    }
    e = ent(shm, ref);
    e->expires = expires;
    lru_bump(shm, ref, e);
    leave(shm);
    return APR_SUCCESS;
}

apr_status_t cis2_shm_add_once(cis2_shm_t *shm, unsigned ns,
                               const char *key, apr_size_t klen,
                               apr_time_t now, apr_time_t expires,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv;
    apr_uint32_t hash;

    if ((rv = check_args(ns, key, klen, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    enter(shm);
    hash = key_hash(shm, ns, key, klen);
    if (find(shm, ns, key, klen, hash, now, NULL) != 0) {
        rv = cis2_err_set(perr, p, CIS2_E_DUPLICATE, "marker already present");
    }
    else if ((rv = check_size(shm, ns, klen, 0, 0, perr, p)) == APR_SUCCESS) {
        rv = put_locked(shm, ns, key, klen, hash, NULL, 0, expires, now,
                        NULL, perr, p);
    }
    leave(shm);
    return rv;
}

void cis2_shm_get_stats(cis2_shm_t *shm, cis2_shm_stats_t *st)
{
    const shm_hdr *h = shm->h;
    unsigned ns;

    memset(st, 0, sizeof(*st));
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        st->entries[ns] = h->ns_entries[ns];
        st->bytes[ns] = h->ns_bytes[ns];
        st->payload[ns] = h->ns_payload[ns];
        st->used_bytes += h->ns_bytes[ns];
    }
    st->free_bytes = h->free_units << UNIT_SHIFT;
    st->hits = h->hits;
    st->misses = h->misses;
    st->expired = h->expired;
    st->evictions = h->evictions;
    st->puts = h->puts;
    st->put_failures = h->put_failures;
    st->lock_waits = h->lock_waits;
    st->resets = h->resets;
    st->read_retries = h->read_retries;
    st->read_fallbacks = h->read_fallbacks;
}

void cis2_shm_note_lock_wait(cis2_shm_t *shm)
{
    shm->h->lock_waits++;
}

/* ---- audit --------------------------------------------------------------- */

#define AUDIT_FAIL(...) \
    do { rv = cis2_err_set(perr, p, CIS2_E_INVALID, __VA_ARGS__); \
         goto done; } while (0)

apr_status_t cis2_shm_check(cis2_shm_t *shm, cis2_shm_audit_t *audit,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    const shm_hdr *h = shm->h;
    apr_uint64_t free_units = 0, listed = 0, chained = 0;
    apr_uint64_t ns_bytes[CIS2_SHM_NS_COUNT] = { 0 };
    apr_uint64_t ns_entries[CIS2_SHM_NS_COUNT] = { 0 };
    apr_uint64_t ix_entries[IX_KINDS] = { 0 }, ix_chained;
    ref_t ref, prev = 0;
    int prev_free = 0;
    unsigned fl, sl, ns;
    apr_uint32_t b;
    apr_status_t rv = APR_SUCCESS;

    memset(audit, 0, sizeof(*audit));
    if (h->seq & 1) {
        AUDIT_FAIL("sequence odd (busy) outside an operation");
    }
    /* 1. the heap, block by block */
    for (ref = shm->heap_ref; ref < shm->heap_end;
         ref += blk_units(blk(shm, ref))) {
        const blk_t *bk = blk(shm, ref);
        apr_uint32_t units = blk_units(bk);

        if (units == 0 || units > shm->heap_end - ref) {
            AUDIT_FAIL("block %u: size %u runs off the heap", ref, units);
        }
        if (bk->prev != prev) {
            AUDIT_FAIL("block %u: prev %u, expected %u", ref, bk->prev, prev);
        }
        audit->blocks++;
        if (bk->size & BLK_FREE) {
            if (prev_free) {
                AUDIT_FAIL("block %u: two free blocks in a row", ref);
            }
            audit->free_blocks++;
            free_units += units;
            if (((apr_uint64_t)units << UNIT_SHIFT) > audit->largest_free) {
                audit->largest_free = (apr_uint64_t)units << UNIT_SHIFT;
            }
        }
        else {
            const entry_t *e = (const entry_t *)bk;

            if ((e->mark != ENTRY_MARK && e->mark != ENTRY_MARK_IX)
                || e->ns >= CIS2_SHM_NS_COUNT
                || entry_units(e->klen, e->vlen, entry_extra((entry_t *)e))
                   != units) {
                AUDIT_FAIL("block %u: not a well-formed entry", ref);
            }
            if (entry_indexed(e)) {
                const ix_t *x = entry_ix((entry_t *)e);
                unsigned kind;

                for (kind = 0; kind < IX_KINDS; kind++) {
                    if (x->k[kind].len == 0) {
                        continue;
                    }
                    if (x->k[kind].hash
                        != ix_hash(shm, e->ns, kind,
                                   entry_ixval((entry_t *)e, kind),
                                   x->k[kind].len)) {
                        AUDIT_FAIL("block %u: index hash wrong", ref);
                    }
                    ix_entries[kind]++;
                }
            }
            audit->entries++;
            ns_entries[e->ns]++;
            ns_bytes[e->ns] += (apr_uint64_t)units << UNIT_SHIFT;
        }
        prev_free = (bk->size & BLK_FREE) != 0;
        prev = ref;
    }
    if (ref != shm->heap_end) {
        AUDIT_FAIL("heap walk ended at %u, not %u", ref, shm->heap_end);
    }
    if (free_units != h->free_units) {
        AUDIT_FAIL("free units %" APR_UINT64_T_FMT ", header says %"
                   APR_UINT64_T_FMT, free_units, h->free_units);
    }
    /* 2. free lists and their bitmaps */
    for (fl = 0; fl < FL_COUNT; fl++) {
        if (((h->fl_bitmap >> fl) & 1) != (h->sl_bitmap[fl] != 0)) {
            AUDIT_FAIL("first-level bitmap wrong at %u", fl);
        }
        for (sl = 0; sl < SL_COUNT; sl++) {
            ref_t fprev = 0;

            if (((h->sl_bitmap[fl] >> sl) & 1) != (h->free_head[fl][sl] != 0)) {
                AUDIT_FAIL("second-level bitmap wrong at %u/%u", fl, sl);
            }
            for (ref = h->free_head[fl][sl]; ref != 0;
                 ref = fblk(shm, ref)->fnext) {
                const fblk_t *fb = fblk(shm, ref);
                unsigned f, s;

                if (ref < shm->heap_ref || ref >= shm->heap_end
                    || !(fb->tag.size & BLK_FREE) || fb->fprev != fprev
                    || ++listed > audit->free_blocks) {
                    AUDIT_FAIL("free list %u/%u broken at %u", fl, sl, ref);
                }
                mapping(blk_units(&fb->tag), &f, &s);
                if (f != fl || s != sl) {
                    AUDIT_FAIL("free block %u in the wrong list", ref);
                }
                fprev = ref;
            }
        }
    }
    if (listed != audit->free_blocks) {
        AUDIT_FAIL("%" APR_UINT64_T_FMT " free blocks listed of %"
                   APR_UINT64_T_FMT, listed, audit->free_blocks);
    }
    /* 3. hash chains */
    for (b = 0; b < h->nbuckets; b++) {
        apr_uint32_t len = 0;

        for (ref = shm->buckets[b]; ref != 0; ref = ent(shm, ref)->hnext) {
            const entry_t *e = ent(shm, ref);

            if (ref < shm->heap_ref || ref >= shm->heap_end
                || (e->tag.size & BLK_FREE)
                || (e->mark != ENTRY_MARK && e->mark != ENTRY_MARK_IX)
                || (e->hash & shm->mask) != b || ++chained > audit->entries) {
                AUDIT_FAIL("bucket %u: chain broken at %u", b, ref);
            }
            len++;
        }
        if (len > 0) {
            audit->used_buckets++;
        }
        if (len > audit->max_chain) {
            audit->max_chain = len;
        }
    }
    if (chained != audit->entries) {
        AUDIT_FAIL("%" APR_UINT64_T_FMT " entries in chains, %" APR_UINT64_T_FMT
                   " in the heap", chained, audit->entries);
    }
    /* 3b. index chains: every indexed entry in exactly the right one */
    for (fl = 0; fl < IX_KINDS; fl++) {
        ix_chained = 0;
        for (b = 0; b < h->nix; b++) {
            ref_t iprev = 0;
            apr_uint32_t len = 0;

            for (ref = shm->ix_buckets[fl][b]; ref != 0;
                 ref = entry_ix(ent(shm, ref))->k[fl].next) {
                entry_t *e = ent(shm, ref);
                const ix_t *x;

                if (ref < shm->heap_ref || ref >= shm->heap_end
                    || (e->tag.size & BLK_FREE) || !entry_indexed(e)) {
                    AUDIT_FAIL("index %u bucket %u: chain broken at %u",
                               fl, b, ref);
                }
                x = entry_ix(e);
                if (x->k[fl].len == 0 || (x->k[fl].hash & shm->ix_mask) != b
                    || x->k[fl].prev != iprev
                    || ++ix_chained > ix_entries[fl]) {
                    AUDIT_FAIL("index %u bucket %u: bad entry %u", fl, b,
                               ref);
                }
                iprev = ref;
                len++;
            }
            if (len > audit->max_ix_chain) {
                audit->max_ix_chain = len;
            }
        }
        if (ix_chained != ix_entries[fl]) {
            AUDIT_FAIL("index %u: %" APR_UINT64_T_FMT " entries chained, %"
                       APR_UINT64_T_FMT " indexed", fl, ix_chained,
                       ix_entries[fl]);
        }
        audit->indexed[fl] = ix_entries[fl];
    }
    /* 4. LRU lists and per-namespace counters */
    for (ns = 0; ns < CIS2_SHM_NS_COUNT; ns++) {
        apr_uint64_t n = 0;
        ref_t lprev = 0;

        for (ref = h->lru_head[ns]; ref != 0; ref = ent(shm, ref)->lnext) {
            const entry_t *e = ent(shm, ref);

            if (ref < shm->heap_ref || ref >= shm->heap_end
                || e->ns != ns || e->lprev != lprev
                || ++n > ns_entries[ns]) {
                AUDIT_FAIL("LRU list %u broken at %u", ns, ref);
            }
            lprev = ref;
        }
        if (lprev != h->lru_tail[ns] || n != ns_entries[ns]
            || n != h->ns_entries[ns] || ns_bytes[ns] != h->ns_bytes[ns]) {
            AUDIT_FAIL("namespace %u: counts or LRU tail disagree", ns);
        }
        if (ns_bytes[ns] > h->quota[ns]) {
            AUDIT_FAIL("namespace %u over its quota", ns);
        }
    }
done:
    return rv;
}
