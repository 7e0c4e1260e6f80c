/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_stats — shared operating counters (contract in cis2_stats.h).
 *
 *   [ header | counters[32] | refusals[64] | last-error slots[4] ]
 *
 *   header    magic, layout version, block size, creation time, generation,
 *             and `error_seq`: how many errors were ever recorded.
 *   counters  apr_uint64_t, updated with apr_atomic_add64 only.
 *   refusals  apr_uint64_t per cis2_err_code, same.
 *   slots     the last errors, a ring of 4. A writer takes a sequence
 *             number n (atomic increment of error_seq), marks slot n % 4
 *             as being written (seq = 0), fills it, then publishes seq = n.
 *             A reader takes the newest n, copies slot n % 4 and keeps the
 *             copy only if the slot's seq was n before AND after the copy;
 *             else it tries the previous one. Writers racing on one slot
 *             (4 errors recorded during one copy) only cost the reader a
 *             retry: no lock, no torn record shown.
 *
 * Offsets only, no pointers: the block is mapped at the same address in
 * every process today, but need not be.
 */
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>

#include "cis2_stats.h"

#define STATS_MAGIC   0x43325354u   /* "C2ST" */
#define STATS_VERSION 1u
#define ERROR_SLOTS   4

typedef struct stats_slot {
    volatile apr_uint64_t seq;        /* 0 = being written / never */
    apr_time_t time;
    apr_int32_t code;
    char logno[CIS2_STATS_LOGNO_LEN];
    char ref[CIS2_STATS_REF_LEN];
} stats_slot;

typedef struct stats_block {
    apr_uint32_t magic;
    apr_uint32_t version;
    apr_uint64_t size;
    apr_time_t created;
    volatile apr_uint32_t generation;
    apr_uint32_t pad;
    volatile apr_uint64_t error_seq;
    volatile apr_uint64_t counters[CIS2_STATS_MAX_COUNTERS];
    volatile apr_uint64_t refusals[CIS2_STATS_MAX_REASONS];
    stats_slot slots[ERROR_SLOTS];
} stats_block;

/* the layout reserves room; a code or counter beyond it must not compile */
typedef char reasons_fit[CIS2_E__COUNT <= CIS2_STATS_MAX_REASONS ? 1 : -1];
typedef char counters_fit[CIS2_STAT__COUNT <= CIS2_STATS_MAX_COUNTERS ? 1 : -1];

struct cis2_stats_t {
    stats_block *b;
};

apr_size_t cis2_stats_block_size(void)
{
    return sizeof(stats_block);
}

apr_status_t cis2_stats_attach(cis2_stats_t **pst, void *base,
                               apr_size_t size, int format, apr_time_t now,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    stats_block *b = base;
    cis2_stats_t *st;

    if (base == NULL || size < sizeof(*b)) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "stats block too small (%lu < %lu bytes)",
                            (unsigned long)size, (unsigned long)sizeof(*b));
    }
    if (format) {
        memset(b, 0, sizeof(*b));
        b->magic = STATS_MAGIC;
        b->version = STATS_VERSION;
        b->size = sizeof(*b);
        b->created = now;
        b->generation = 1;
    }
    else if (b->magic != STATS_MAGIC || b->version != STATS_VERSION
             || b->size != sizeof(*b)) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "not a stats block of layout v%u", STATS_VERSION);
    }
    st = apr_palloc(p, sizeof(*st));
    st->b = b;
    *pst = st;
    return APR_SUCCESS;
}

void cis2_stats_new_generation(cis2_stats_t *st)
{
    if (st != NULL) {
        apr_atomic_inc32(&st->b->generation);
    }
}

void cis2_stats_add(cis2_stats_t *st, cis2_stat_counter c, apr_uint64_t n)
{
    if (st != NULL && (int)c >= 0 && c < CIS2_STAT__COUNT) {
        apr_atomic_add64(&st->b->counters[c], n);
    }
}

/* bounded copy that always terminates (strlcpy semantics) */
static void copy_str(char *dst, apr_size_t cap, const char *src)
{
    apr_size_t n = src ? strlen(src) : 0;

    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

void cis2_stats_refused(cis2_stats_t *st, int code, const char *logno,
                        const char *ref, apr_time_t now)
{
    stats_slot *s;
    apr_uint64_t n;

    if (st == NULL) {
        return;
    }
    if (code < 0 || code >= CIS2_STATS_MAX_REASONS) {
        code = CIS2_E_NONE;
    }
    apr_atomic_inc64(&st->b->counters[CIS2_STAT_REFUSALS]);
    apr_atomic_inc64(&st->b->refusals[code]);

    n = apr_atomic_inc64(&st->b->error_seq) + 1;
    s = &st->b->slots[n % ERROR_SLOTS];
    apr_atomic_set64(&s->seq, 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    s->time = now;
    s->code = code;
    copy_str(s->logno, sizeof(s->logno), logno);
    copy_str(s->ref, sizeof(s->ref), ref);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    apr_atomic_set64(&s->seq, n);
}

static int read_error(const stats_block *b, apr_uint64_t n,
                      cis2_stats_error_t *out)
{
    const stats_slot *s = &b->slots[n % ERROR_SLOTS];
    stats_slot copy;

    if (apr_atomic_read64((volatile apr_uint64_t *)&s->seq) != n) {
        return 0;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(&copy, (const void *)s, sizeof(copy));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (apr_atomic_read64((volatile apr_uint64_t *)&s->seq) != n) {
        return 0;
    }
    out->time = copy.time;
    out->code = copy.code;
    copy_str(out->logno, sizeof(out->logno), copy.logno);
    copy_str(out->ref, sizeof(out->ref), copy.ref);
    return 1;
}

void cis2_stats_snapshot(cis2_stats_t *st, cis2_stats_snapshot_t *snap)
{
    stats_block *b;
    apr_uint64_t n;
    int i;

    memset(snap, 0, sizeof(*snap));
    if (st == NULL) {
        return;
    }
    b = st->b;
    snap->created = b->created;
    snap->generation = apr_atomic_read32(&b->generation);
    for (i = 0; i < CIS2_STAT__COUNT; i++) {
        snap->counters[i] = apr_atomic_read64(&b->counters[i]);
    }
    for (i = 0; i < CIS2_STATS_MAX_REASONS; i++) {
        snap->refusals[i] = apr_atomic_read64(&b->refusals[i]);
    }
    /* the newest fully written error; older ones if writers are racing */
    for (n = apr_atomic_read64(&b->error_seq);
         n > 0 && n + ERROR_SLOTS > apr_atomic_read64(&b->error_seq); n--) {
        if (read_error(b, n, &snap->last_error)) {
            break;
        }
    }
}
